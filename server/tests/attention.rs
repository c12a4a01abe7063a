//! Room-wide attention against a real natterd over TCP, on real SQLite
//! files: a moderator's `@room` (or a `Send` with `attention`) counts as a
//! mention for every member, live, at login and after a restart; everyone
//! else is refused, a direct conversation has none, and each room has a
//! rate.

mod common;

use common::{Client, ServerExt, TestServer, code};
use natter_shared::{ErrorCode, ErrorReply, Event, Message, Request, Response, features};

fn send(room: &str, body: &str, attention: bool) -> Request {
    Request::Send {
        room: room.into(),
        body: body.into(),
        action: false,
        nonce: None,
        reply_to: None,
        thread: None,
        attention,
        files: Vec::new(),
    }
}

async fn post(c: &mut Client, room: &str, body: &str, attention: bool) -> Result<u64, ErrorReply> {
    match c.request(send(room, body, attention)).await? {
        Response::Sent { id, .. } => Ok(id),
        other => panic!("{other:?}"),
    }
}

async fn arrived(c: &mut Client, id: u64) -> Message {
    match c
        .event_where(|e| matches!(e, Event::Message(m) if m.id == id))
        .await
    {
        Event::Message(m) => m,
        _ => unreachable!(),
    }
}

/// `user`'s (unread, mentions) in `room` as a fresh login reports them.
async fn counts(server: &TestServer, user: &str, room: &str) -> (u32, u32) {
    let (_, info) = Client::login(server.addr, user, common::PASSWORD).await;
    let r = info.rooms.iter().find(|r| r.name == room).expect("member");
    (r.unread, r.mentions)
}

async fn join_ops(owner: &mut Client, others: &mut [&mut Client]) {
    owner
        .request(Request::Create {
            room: "#ops".into(),
            private: false,
        })
        .await
        .unwrap();
    for c in others {
        c.request(Request::Join {
            room: "#ops".into(),
        })
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderators_at_room_is_a_mention_for_everyone_and_others_are_refused() {
    // A ring of one message: the counts at login come from the store.
    let mut server = TestServer::start(&["alice", "bob", "carol"], |c| {
        c.history.in_memory = 1;
    })
    .await;
    let mut alice = server.login("alice").await;
    let Response::Welcome { features, .. } = Client::connect(server.addr).await.hello().await
    else {
        panic!("welcome");
    };
    assert!(features.iter().any(|f| f == features::ATTENTION));
    let mut bob = server.login("bob").await;
    let mut carol = server.login("carol").await;
    join_ops(&mut alice, &mut [&mut bob, &mut carol]).await;

    // A plain member may not call the room, by @room or by asking.
    for (body, ask) in [("@room look", false), ("look", true)] {
        let e = bob.request(send("#ops", body, ask)).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden, "{e:?}");
        assert!(e.message.contains("moderators"), "{}", e.message);
    }
    // Not `@room`: `room:` addresses someone, `@roomy` is someone else.
    let plain = post(&mut bob, "#ops", "room: @roomy", false).await.unwrap();
    assert!(!arrived(&mut carol, plain).await.attention);

    // The owner may, both ways; carol is mentioned by each.
    let by_text = post(&mut alice, "#ops", "@room deploy 812 failed", false)
        .await
        .unwrap();
    let by_flag = post(&mut alice, "#ops", "disk 95% on db1", true)
        .await
        .unwrap();
    assert!(arrived(&mut carol, by_text).await.attention);
    assert!(arrived(&mut carol, by_flag).await.attention);
    // Counted live by the fan-out: three unread, two of them mentions;
    // none for the author.
    assert_eq!(counts(&server, "carol", "#ops").await, (3, 2));
    assert_eq!(counts(&server, "bob", "#ops").await, (2, 2));
    assert_eq!(counts(&server, "alice", "#ops").await, (1, 0));

    // A moderator may too; history carries the flag.
    alice
        .request(Request::SetRole {
            room: "#ops".into(),
            user: "bob".into(),
            role: natter_shared::Role::Moderator,
        })
        .await
        .unwrap();
    let by_bob = post(&mut bob, "#ops", "@ROOM standup now", false)
        .await
        .unwrap();
    let Response::Messages { messages, .. } = carol
        .request(Request::History {
            room: "#ops".into(),
            query: natter_shared::HistoryQuery {
                limit: 10,
                ..Default::default()
            },
        })
        .await
        .unwrap()
    else {
        panic!("messages");
    };
    let flags: Vec<(u64, bool)> = messages.iter().map(|m| (m.id, m.attention)).collect();
    assert_eq!(
        flags,
        [
            (plain, false),
            (by_text, true),
            (by_flag, true),
            (by_bob, true)
        ]
    );

    // After a restart the store counts the same.
    drop((alice, bob, carol));
    server.stop().await;
    let server = TestServer::start_in(&server.data_dir.clone(), |c| c.history.in_memory = 1).await;
    assert_eq!(counts(&server, "carol", "#ops").await, (4, 3));
    assert_eq!(counts(&server, "bob", "#ops").await, (2, 2));
    // Reading part of it recounts from the store too.
    let mut carol = server.login("carol").await;
    carol
        .request(Request::MarkRead {
            room: "#ops".into(),
            id: by_text,
        })
        .await
        .unwrap();
    let e = carol
        .event_where(|e| matches!(e, Event::Unread { room, .. } if room == "#ops"))
        .await;
    assert_eq!(
        e,
        Event::Unread {
            room: "#ops".into(),
            unread: 2,
            mentions: 2
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_room_has_a_rate_and_a_direct_conversation_has_no_attention() {
    let server = TestServer::start(&["alice", "bob"], |c| {
        c.limits.attention_per_room_per_hour = 2;
    })
    .await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    join_ops(&mut alice, &mut [&mut bob]).await;
    alice
        .request(Request::Create {
            room: "#alerts".into(),
            private: false,
        })
        .await
        .unwrap();
    post(&mut alice, "#ops", "@room one", false).await.unwrap();
    post(&mut alice, "#ops", "two", true).await.unwrap();
    let e = alice
        .request(send("#ops", "@room three", false))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited, "{e:?}");
    assert!(e.retry_after_ms.is_some_and(|ms| ms > 60_000), "{e:?}");
    // The message is refused whole, not sent quietly; plain text still goes.
    post(&mut alice, "#ops", "three, without the call", false)
        .await
        .unwrap();
    // Another room has its own rate.
    post(&mut alice, "#alerts", "@room fine here", false)
        .await
        .unwrap();

    // In a direct conversation `@room` is text, and asking is refused.
    let id = post(&mut alice, "@bob", "@room is what I type in #ops", false)
        .await
        .unwrap();
    assert!(!arrived(&mut bob, id).await.attention);
    assert_eq!(
        code(alice.request(send("@bob", "psst", true)).await),
        ErrorCode::Invalid
    );
}
