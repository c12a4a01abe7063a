//! Abuse from logged-in users and half-open peers: a message flood is
//! rate-limited without slowing anyone else's delivery, typing and invite
//! spam are bounded, room creation has a per-user quota, and a peer that
//! half-closes still reads every reply it asked for.

mod common;

use std::time::Duration;

use common::{Client, ServerExt, TestServer, code};
use natter_shared::{ErrorCode, Event, Request, Response, ServerFrame};
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_is_rate_limited_while_others_get_every_message_in_order() {
    let server = TestServer::start(&["flood", "alice", "bob"], |c| {
        c.limits.requests_per_sec = 50.0;
        c.limits.request_burst = 50.0;
    })
    .await;
    let mut flood = server.login("flood").await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;

    // The flooder pipelines 2000 sends without waiting for replies.
    let flooder = tokio::spawn(async move {
        let mut ids = Vec::new();
        for i in 0..2000 {
            ids.push(
                flood
                    .send_req(Request::Send {
                        room: "#general".into(),
                        body: format!("spam {i}"),
                        action: false,
                        nonce: None,
                        reply_to: None,
                        thread: None,
                        attention: false,
                        files: Vec::new(),
                    })
                    .await,
            );
        }
        // Refusals come at once, acknowledgements after the commit: replies
        // match their requests by id, not by order.
        let mut waiting: std::collections::HashSet<u64> = ids.into_iter().collect();
        let (mut sent, mut limited) = (0, 0);
        while !waiting.is_empty() {
            match flood.next_frame().await.expect("connection open") {
                ServerFrame::Ok {
                    id,
                    res: Response::Sent { .. },
                } => {
                    assert!(waiting.remove(&id));
                    sent += 1;
                }
                ServerFrame::Err { id, err } if err.code == ErrorCode::RateLimited => {
                    assert!(err.retry_after_ms.is_some());
                    assert!(waiting.remove(&id));
                    limited += 1;
                }
                ServerFrame::Event(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        (sent, limited)
    });
    // Meanwhile alice talks to bob, one acknowledged message at a time.
    for i in 0..40 {
        alice
            .send_text("#general", &format!("real {i}"))
            .await
            .unwrap();
    }
    let (sent, limited) = flooder.await.unwrap();
    assert!(
        limited >= 1800,
        "most of the flood was refused: {sent} sent, {limited} limited"
    );
    assert!(sent >= 50, "the burst went through: {sent}");
    // Bob got every one of alice's messages, in order, among the spam that
    // was let through.
    let mut real = Vec::new();
    while real.len() < 40 {
        if let Event::Message(m) = bob.event().await
            && m.from == "alice"
        {
            real.push(m.body);
        }
    }
    let want: Vec<String> = (0..40).map(|i| format!("real {i}")).collect();
    assert_eq!(real, want);
}

#[tokio::test]
async fn typing_spam_is_relayed_at_most_once_per_throttle_window() {
    let server = TestServer::start(&["alice", "bob"], |c| {
        c.limits.typing_throttle_ms = 60_000;
    })
    .await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    for _ in 0..200 {
        alice
            .request(Request::Typing {
                room: "#general".into(),
                active: true,
            })
            .await
            .unwrap();
    }
    let events = bob.drain(Duration::from_millis(300)).await;
    let typing = events
        .iter()
        .filter(|e| matches!(e, Event::Typing { active: true, .. }))
        .count();
    assert_eq!(typing, 1, "{events:?}");
}

#[tokio::test]
async fn room_creation_and_invitations_have_per_user_quotas() {
    let server = TestServer::start(&["alice", "bob"], |c| {
        c.limits.rooms_per_user_per_hour = 3;
        c.limits.invites_per_user_per_minute = 2;
    })
    .await;
    natter_server::admin::add_user(&server.data_dir, "root", common::PASSWORD, true).unwrap();
    let mut alice = server.login("alice").await;
    let create = |name: String| Request::Create {
        room: name,
        private: false,
    };
    for i in 0..3 {
        alice.request(create(format!("#r{i}"))).await.unwrap();
    }
    // A failed creation does not use the quota up...
    let taken = alice.request(create("#general".into())).await;
    assert_eq!(code(taken), ErrorCode::AlreadyExists);
    // ...but the fourth room within the hour is refused, with a hint.
    let err = alice.request(create("#r3".into())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Quota);
    let wait = err.retry_after_ms.unwrap();
    assert!(wait > 60_000 && wait <= 1_200_000, "{wait}");
    assert!(err.message.contains("at most 3"), "{err}");

    for room in ["#r0", "#r1"] {
        alice
            .request(Request::Invite {
                room: room.into(),
                user: "bob".into(),
            })
            .await
            .unwrap();
    }
    let err = alice
        .request(Request::Invite {
            room: "#r2".into(),
            user: "bob".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Quota);

    // Admins are exempt, and one user's quota is not another's.
    let mut root = server.login("root").await;
    for i in 0..5 {
        root.request(create(format!("#admin{i}"))).await.unwrap();
    }
    let mut bob = server.login("bob").await;
    bob.request(create("#bobs".into())).await.unwrap();
}

#[tokio::test]
async fn a_half_closed_peer_still_reads_every_reply_then_a_goodbye() {
    let server = TestServer::start(&["alice"], |_| {}).await;
    let (mut c, _) = Client::login(server.addr, "alice", common::PASSWORD).await;
    // Pipeline requests, then close the write side (FIN) without reading.
    let mut ids = Vec::new();
    for req in [Request::Ping, Request::Stats, Request::Rooms, Request::Ping] {
        ids.push(c.send_req(req).await);
    }
    c.framed.get_mut().shutdown().await.unwrap();
    let mut answered = Vec::new();
    let mut closing = None;
    while let Some(frame) = c.next_frame().await {
        match frame {
            ServerFrame::Ok { id, .. } | ServerFrame::Err { id, .. } => answered.push(id),
            ServerFrame::Event(Event::Closing { code, .. }) => closing = Some(code),
            ServerFrame::Event(_) => {}
            ServerFrame::Compressed(_) => panic!("never asked for"),
        }
    }
    assert_eq!(answered, ids);
    assert!(closing.is_some(), "told why the connection ends");
    // The server is fine.
    let mut other = server.login("alice").await;
    assert_eq!(other.request(Request::Ping).await.unwrap(), Response::Pong);
}

#[tokio::test]
async fn a_vanished_peer_is_dropped_at_its_heartbeat_deadline() {
    let server = TestServer::start(&["alice", "bob"], |c| {
        c.limits.heartbeat_ms = 100;
        // Her going offline is told at once, not a throttle interval later:
        // bob's own 300 ms deadline is short.
        c.limits.presence_throttle_ms = 0;
    })
    .await;
    let mut bob = server.login("bob").await;
    // Alice logs in, then goes silent without closing: to the server that
    // is a half-open connection (a vanished laptop, a dead NAT entry).
    let (alice, _) = Client::login(server.addr, "alice", common::PASSWORD).await;
    let offline = |e: &Event| {
        matches!(e, Event::Presence { user, state, .. }
            if user == "alice" && *state == natter_shared::PresenceState::Offline)
    };
    let started = std::time::Instant::now();
    // Bob keeps his own session alive meanwhile.
    while !bob.events.iter().any(offline) {
        assert!(started.elapsed() < common::WAIT, "alice was never dropped");
        assert_eq!(bob.request(Request::Ping).await.unwrap(), Response::Pong);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    drop(alice);
}
