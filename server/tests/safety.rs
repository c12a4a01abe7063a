//! Blocking, reporting and consent, on a real server over loopback with a
//! real SQLite file: what a blocked user can no longer do (and that they
//! are not told), invitations that wait for an answer, and reports that
//! reach the admins and the room's moderators, the audit log and
//! `natterd reports`.

mod common;

use std::time::Duration;

use common::{Client, PASSWORD, ServerExt, TestServer, code};
use natter_server::admin;
use natter_shared::{Credential, ErrorCode, Event, InvitePolicy, PresenceState, Request, Response};

async fn ok(c: &mut Client, req: Request) -> Response {
    c.request(req).await.expect("the request succeeds")
}

fn about<'a>(events: &'a [Event], who: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| match e {
            Event::Typing { user, .. } | Event::Presence { user, .. } => user == who,
            Event::Message(m) => m.from == who,
            _ => false,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_user_is_refused_unseen_and_never_told() {
    let dir = tempfile::tempdir().unwrap();
    natter_server::testing::add_users(dir.path(), &["alice", "bob", "mallory"]);
    let mut server = TestServer::start_in(dir.path(), |c| c.limits.presence_throttle_ms = 0).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut mallory = server.login("mallory").await;
    // Before: mallory can write to alice.
    mallory.send_text("@alice", "hello?").await.unwrap();
    ok(
        &mut alice,
        Request::Block {
            user: "mallory".into(),
        },
    )
    .await;
    assert_eq!(
        ok(&mut alice, Request::Blocked).await,
        Response::Blocked(vec!["mallory".into()])
    );
    alice.drain(Duration::from_millis(100)).await;
    bob.drain(Duration::from_millis(100)).await;

    // Her direct messages fail exactly as to a name nobody has.
    let to_alice = mallory.send_text("@alice", "let me in").await.unwrap_err();
    let to_nobody = mallory.send_text("@nobody", "let me in").await.unwrap_err();
    assert_eq!(to_alice.code, ErrorCode::NoSuchUser);
    assert_eq!(
        to_alice.message.replace("alice", "X"),
        to_nobody.message.replace("nobody", "X")
    );
    // Alice is told why she cannot write to mallory.
    let e = alice.send_text("@mallory", "hi").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);

    // Typing and presence reach bob, not alice; messages in a shared room
    // reach both (alice's client hides them).
    ok(
        &mut mallory,
        Request::Typing {
            room: "#general".into(),
            active: true,
        },
    )
    .await;
    ok(
        &mut mallory,
        Request::Presence {
            state: PresenceState::Busy,
            status: Some("watching".into()),
        },
    )
    .await;
    mallory.send_text("#general", "still here").await.unwrap();
    let to_bob = bob.drain(Duration::from_millis(400)).await;
    let to_alice = alice.drain(Duration::from_millis(100)).await;
    // A start, the presence, the stop her message brings, the message.
    assert_eq!(about(&to_bob, "mallory").len(), 4, "{to_bob:?}");
    let seen = about(&to_alice, "mallory");
    assert!(
        matches!(seen[..], [Event::Message(_)]),
        "alice gets only the room message: {seen:?}"
    );
    // In the member list she looks offline to alice, busy to bob.
    let presence_of = |r: Response| match r {
        Response::Members { members, .. } => {
            members
                .into_iter()
                .find(|m| m.name == "mallory")
                .unwrap()
                .presence
        }
        other => panic!("{other:?}"),
    };
    let members = || Request::Members {
        room: "#general".into(),
    };
    assert_eq!(
        presence_of(ok(&mut alice, members()).await),
        PresenceState::Offline
    );
    assert_eq!(
        presence_of(ok(&mut bob, members()).await),
        PresenceState::Busy
    );
    // Mallory was never told.
    let hers = mallory.drain(Duration::from_millis(100)).await;
    assert!(
        hers.iter().all(|e| !format!("{e:?}").contains("block")),
        "{hers:?}"
    );

    // The block survives a restart, and comes with alice's session.
    drop((alice, bob, mallory));
    server.stop().await;
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let (mut alice, info) = Client::login(server.addr, "alice", PASSWORD).await;
    assert_eq!(info.blocked, ["mallory"]);
    let mut mallory = server.login("mallory").await;
    assert_eq!(
        code(mallory.send_text("@alice", "again").await),
        ErrorCode::NoSuchUser
    );
    ok(
        &mut alice,
        Request::Unblock {
            user: "mallory".into(),
        },
    )
    .await;
    mallory.send_text("@alice", "sorry").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_authors_messages_are_not_unread() {
    let dir = tempfile::tempdir().unwrap();
    natter_server::testing::add_users(dir.path(), &["alice", "bob", "mallory"]);
    let mut server = TestServer::start_in(dir.path(), |c| c.history.in_memory = 4).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut mallory = server.login("mallory").await;
    ok(
        &mut alice,
        Request::Block {
            user: "mallory".into(),
        },
    )
    .await;
    for n in 0..3 {
        mallory
            .send_text("#general", &format!("spam {n} @alice"))
            .await
            .unwrap();
    }
    bob.send_text("#general", "hi @alice").await.unwrap();
    let general = |r: Response| match r {
        Response::Rooms(rooms) => rooms
            .into_iter()
            .find(|r| r.name == "#general")
            .map(|r| (r.unread, r.mentions))
            .unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(general(ok(&mut alice, Request::Rooms).await), (1, 1));
    // Counted from the store too: past the in-memory history, and after a
    // restart.
    for n in 0..6 {
        mallory
            .send_text("#general", &format!("more {n}"))
            .await
            .unwrap();
    }
    drop((alice, bob, mallory));
    server.stop().await;
    let server = TestServer::start_in(dir.path(), |c| c.history.in_memory = 4).await;
    let (_, info) = Client::login(server.addr, "alice", PASSWORD).await;
    let counts = info
        .rooms
        .iter()
        .find(|r| r.name == "#general")
        .map(|r| (r.unread, r.mentions))
        .unwrap();
    assert_eq!(counts, (1, 1), "only bob's message is unread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_wait_for_consent_unless_the_policy_allows() {
    let server = TestServer::start(&["alice", "bob", "mallory"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut mallory = server.login("mallory").await;
    for (c, room) in [(&mut mallory, "#spam"), (&mut bob, "#team")] {
        ok(
            c,
            Request::Create {
                room: room.into(),
                private: true,
            },
        )
        .await;
    }
    let invite = |room: &str| Request::Invite {
        room: room.into(),
        user: "alice".into(),
    };

    // A stranger (only #general in common) has to ask.
    assert_eq!(ok(&mut mallory, invite("#spam")).await, Response::Done);
    let e = alice.event_where(|e| matches!(e, Event::Invited(_))).await;
    let Event::Invited(invitation) = e else {
        unreachable!()
    };
    assert_eq!(
        (invitation.room.as_str(), invitation.by.as_str()),
        ("#spam", "mallory")
    );
    assert!(matches!(
        ok(&mut alice, Request::Rooms).await,
        Response::Rooms(rooms) if rooms.iter().all(|r| r.name != "#spam")
    ));
    // It waits across a new session, and is listed.
    let (_, info) = Client::login(server.addr, "alice", PASSWORD).await;
    assert_eq!(info.invitations.len(), 1);
    assert!(matches!(
        ok(&mut alice, Request::Invitations).await,
        Response::Invitations(list) if list.len() == 1 && list[0].room == "#spam"
    ));
    // Declined, it is gone: a second answer is refused like any room.
    ok(
        &mut alice,
        Request::Decline {
            room: "#spam".into(),
        },
    )
    .await;
    let again = code(
        alice
            .request(Request::Accept {
                room: "#spam".into(),
            })
            .await,
    );
    assert_eq!(again, ErrorCode::Invalid);

    // Opening a direct conversation with alice, or sharing a public room
    // with her, makes nobody "shared": mallory still has to ask.
    ok(
        &mut mallory,
        Request::Join {
            room: "@alice".into(),
        },
    )
    .await;
    assert_eq!(ok(&mut mallory, invite("#spam")).await, Response::Done);
    let e = alice
        .event_where(|e| matches!(e, Event::Invited(_) | Event::RoomAdded(_)))
        .await;
    assert!(
        matches!(e, Event::RoomAdded(ref r) if r.name == "@mallory"),
        "first the conversation: {e:?}"
    );
    let e = alice
        .event_where(|e| matches!(e, Event::Invited(_) | Event::RoomAdded(_)))
        .await;
    assert!(matches!(e, Event::Invited(_)), "then an invitation: {e:?}");
    ok(
        &mut alice,
        Request::Decline {
            room: "#spam".into(),
        },
    )
    .await;

    // Bob, a friend from #team... is not one yet: he asks too. Accepted,
    // alice joins; after that, sharing #team, bob may add her directly.
    ok(&mut bob, invite("#team")).await;
    alice.event_where(|e| matches!(e, Event::Invited(_))).await;
    ok(
        &mut alice,
        Request::Accept {
            room: "#team".into(),
        },
    )
    .await;
    let e = alice
        .event_where(|e| matches!(e, Event::RoomAdded(_)))
        .await;
    assert!(matches!(e, Event::RoomAdded(ref r) if r.name == "#team"));
    ok(
        &mut bob,
        Request::Create {
            room: "#team2".into(),
            private: true,
        },
    )
    .await;
    ok(&mut bob, invite("#team2")).await;
    let e = alice
        .event_where(|e| matches!(e, Event::RoomAdded(_) | Event::Invited(_)))
        .await;
    assert!(
        matches!(e, Event::RoomAdded(ref r) if r.name == "#team2"),
        "shared: added at once: {e:?}"
    );

    // "nobody": even bob has to ask now.
    ok(
        &mut alice,
        Request::SetInvites {
            policy: InvitePolicy::Nobody,
        },
    )
    .await;
    ok(
        &mut bob,
        Request::Create {
            room: "#team3".into(),
            private: true,
        },
    )
    .await;
    ok(&mut bob, invite("#team3")).await;
    let e = alice
        .event_where(|e| matches!(e, Event::RoomAdded(_) | Event::Invited(_)))
        .await;
    assert!(matches!(e, Event::Invited(_)), "{e:?}");

    // Someone alice blocks gets `done` and alice hears nothing; their
    // invitation that was waiting is gone too.
    ok(&mut mallory, invite("#spam")).await;
    alice
        .event_where(|e| matches!(e, Event::Invited(i) if i.by == "mallory"))
        .await;
    ok(
        &mut alice,
        Request::Block {
            user: "mallory".into(),
        },
    )
    .await;
    assert!(matches!(
        ok(&mut alice, Request::Invitations).await,
        Response::Invitations(list) if list.iter().all(|i| i.by != "mallory")
    ));
    alice.drain(Duration::from_millis(100)).await;
    assert_eq!(ok(&mut mallory, invite("#spam")).await, Response::Done);
    let heard = alice.drain(Duration::from_millis(300)).await;
    assert!(
        heard.iter().all(|e| !matches!(e, Event::Invited(_))),
        "{heard:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_reach_admins_and_moderators_the_audit_log_and_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    natter_server::testing::add_users(dir, &["alice", "bob", "mallory"]);
    admin::add_user(dir, "root", PASSWORD, true).unwrap();
    let server = TestServer::start_in(dir, |_| {}).await;
    let mut root = server.login("root").await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut mallory = server.login("mallory").await;
    // Bob owns #lobby (a moderator there); alice and mallory join it.
    ok(
        &mut bob,
        Request::Create {
            room: "#lobby".into(),
            private: false,
        },
    )
    .await;
    for c in [&mut alice, &mut mallory] {
        ok(
            c,
            Request::Join {
                room: "#lobby".into(),
            },
        )
        .await;
    }
    let Ok(Response::Sent { id, .. }) = mallory
        .send_text("#lobby", "buy cheap \u{1b}]52;c;aGk=\u{7} now")
        .await
    else {
        panic!("mallory's message is sent");
    };
    root.drain(Duration::from_millis(100)).await;
    bob.drain(Duration::from_millis(100)).await;
    ok(
        &mut alice,
        Request::Report {
            room: "#lobby".into(),
            id,
            reason: "spam\nwith a forged line".into(),
        },
    )
    .await;
    for c in [&mut root, &mut bob] {
        let e = c.event_where(|e| matches!(e, Event::Reported(_))).await;
        let Event::Reported(r) = e else {
            unreachable!()
        };
        assert_eq!(
            (r.room.as_str(), r.message, r.author.as_str(), r.by.as_str()),
            ("#lobby", id, "mallory", "alice")
        );
        assert!(r.excerpt.starts_with("buy cheap"));
    }
    // Not to ordinary members, and not to the reported author.
    let heard = mallory.drain(Duration::from_millis(200)).await;
    assert!(heard.iter().all(|e| !matches!(e, Event::Reported(_))));
    // Not even when the author is the room's owner: bob's own message,
    // reported, reaches root but not bob.
    let Ok(Response::Sent { id: bobs, .. }) = bob.send_text("#lobby", "rude words").await else {
        panic!("bob's message is sent");
    };
    bob.drain(Duration::from_millis(100)).await;
    ok(
        &mut alice,
        Request::Report {
            room: "#lobby".into(),
            id: bobs,
            reason: "rude".into(),
        },
    )
    .await;
    let e = root
        .event_where(|e| matches!(e, Event::Reported(r) if r.author == "bob"))
        .await;
    assert!(matches!(e, Event::Reported(_)));
    let heard = bob.drain(Duration::from_millis(300)).await;
    assert!(
        heard.iter().all(|e| !matches!(e, Event::Reported(_))),
        "{heard:?}"
    );

    // A message that is not in the room, and an empty reason, are refused.
    let e = alice
        .request(Request::Report {
            room: "#lobby".into(),
            id: id + 1000,
            reason: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    let e = alice
        .request(Request::Report {
            room: "#lobby".into(),
            id,
            reason: "  ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);

    // The audit log and the operator's list have it, escaped.
    let log = admin::audit_log(dir, 100).unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "report" && e.target == "mallory")
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_natterd"))
        .args(["reports", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let listed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("spam\\nwith a forged line"), "{listed}");
    assert!(!listed.contains('\u{1b}'), "{listed}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_natterd"))
        .args(["reports", "close", "1", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_natterd"))
        .args(["reports", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    let left = String::from_utf8(out.stdout).unwrap();
    assert_eq!(left.lines().count(), 1, "one report left open: {left}");
    assert!(left.starts_with("#2 "), "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_brings_blocks_and_invitations_only_to_their_owner() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut alice = server.login("alice").await;
    ok(&mut alice, Request::Block { user: "bob".into() }).await;
    let mut c = Client::connect(server.addr).await;
    c.hello().await;
    let Ok(Response::Session(info)) = c
        .request(Request::Login {
            user: "bob".into(),
            credential: Credential::PasswordOnly(PASSWORD.into()),
            presence: None,
        })
        .await
    else {
        panic!("bob logs in");
    };
    assert!(info.blocked.is_empty() && info.invitations.is_empty());
}
