//! Room modes against a real natterd over TCP, on real SQLite files:
//! announcement rooms (only moderators post) and categories, set by a
//! moderator or by the operator's CLI beside the running server, announced
//! to members, kept across a restart.

mod common;

use common::{Client, ServerExt, TestServer, code};
use natter_shared::{ErrorCode, Event, ReactOp, Request, Response, Role, RoomState, features};

fn set_mode(room: &str, announce: Option<bool>, category: Option<&str>) -> Request {
    Request::SetMode {
        room: room.into(),
        announce,
        category: category.map(Into::into),
    }
}

async fn state(c: &mut Client, room: &str) -> RoomState {
    match c.request(Request::Rooms).await.unwrap() {
        Response::Rooms(rooms) => rooms.into_iter().find(|r| r.name == room).expect("listed"),
        other => panic!("{other:?}"),
    }
}

async fn mode_event(c: &mut Client) -> Event {
    c.event_where(|e| matches!(e, Event::Mode { .. })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_moderators_post_in_an_announcement_room_and_members_still_react() {
    let mut server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let Response::Welcome { features, .. } = Client::connect(server.addr).await.hello().await
    else {
        panic!("welcome");
    };
    assert!(features.iter().any(|f| f == features::ROOM_MODES));
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    alice
        .request(Request::Create {
            room: "#deploys".into(),
            private: false,
        })
        .await
        .unwrap();
    bob.request(Request::Join {
        room: "#deploys".into(),
    })
    .await
    .unwrap();

    // A plain member may change nothing.
    assert_eq!(
        code(bob.request(set_mode("#deploys", Some(true), None)).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        alice
            .request(set_mode("#deploys", Some(true), Some("  Ops ")))
            .await,
        Ok(Response::Done)
    );
    assert_eq!(
        mode_event(&mut bob).await,
        Event::Mode {
            room: "#deploys".into(),
            announce: true,
            category: Some("Ops".into()),
            by: "alice".into(),
        }
    );
    let s = state(&mut bob, "#deploys").await;
    assert!(s.announce);
    assert_eq!(s.category.as_deref(), Some("Ops"));

    // Bob may not post, in the room or in a thread, but may react.
    let id = match alice.send_text("#deploys", "build 812 passed").await {
        Ok(Response::Sent { id, .. }) => id,
        other => panic!("{other:?}"),
    };
    let e = bob.send_text("#deploys", "nice").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    assert!(e.message.contains("announcement room"), "{}", e.message);
    let in_thread = bob
        .request(Request::Send {
            room: "#deploys".into(),
            body: "nice".into(),
            action: false,
            nonce: None,
            reply_to: None,
            thread: Some(id),
            attention: false,
            files: Vec::new(),
        })
        .await;
    assert_eq!(code(in_thread), ErrorCode::Forbidden);
    assert!(matches!(
        bob.request(Request::React {
            room: "#deploys".into(),
            id,
            key: "🎉".into(),
            op: ReactOp::Add,
        })
        .await,
        Ok(Response::Reacted { .. })
    ));
    // A moderator posts.
    alice
        .request(Request::SetRole {
            room: "#deploys".into(),
            user: "bob".into(),
            role: Role::Moderator,
        })
        .await
        .unwrap();
    assert!(bob.send_text("#deploys", "rolling out").await.is_ok());

    // Bad categories are refused; an empty one clears it; a no-op is quiet.
    assert_eq!(
        code(
            alice
                .request(set_mode("#deploys", None, Some(&"x".repeat(33))))
                .await
        ),
        ErrorCode::Invalid
    );
    assert_eq!(
        code(
            alice
                .request(set_mode("#deploys", None, Some("a\u{202e}b")))
                .await
        ),
        ErrorCode::Invalid
    );
    alice
        .request(set_mode("#deploys", None, Some("Ops")))
        .await
        .unwrap();
    alice
        .request(set_mode("#deploys", None, Some("")))
        .await
        .unwrap();
    assert_eq!(
        mode_event(&mut bob).await,
        Event::Mode {
            room: "#deploys".into(),
            announce: true,
            category: None,
            by: "alice".into(),
        }
    );
    // Direct conversations have no modes.
    alice.send_text("@bob", "hi").await.unwrap();
    assert_eq!(
        code(alice.request(set_mode("@bob", Some(true), None)).await),
        ErrorCode::Invalid
    );

    // Kept across a restart.
    alice
        .request(set_mode("#deploys", None, Some("Ops")))
        .await
        .unwrap();
    drop((alice, bob));
    server.stop().await;
    let server = TestServer::start_in(&server.data_dir.clone(), |_| {}).await;
    let mut carol_less = server.login("bob").await;
    let s = state(&mut carol_less, "#deploys").await;
    assert!(s.announce);
    assert_eq!(s.category.as_deref(), Some("Ops"));
    match carol_less.request(Request::Directory).await.unwrap() {
        Response::Directory(list) => {
            let d = list.iter().find(|r| r.name == "#deploys").unwrap();
            assert_eq!(d.category.as_deref(), Some("Ops"));
        }
        other => panic!("{other:?}"),
    }
}

/// `natterd room set` (the admin library the CLI calls) beside a running
/// server: members hear of it at once, and the rule holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_room_set_reaches_a_running_server() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut bob = server.login("bob").await;
    natter_server::admin::set_room_mode(&server.data_dir, "#general", Some(true), Some("Team"))
        .unwrap();
    assert_eq!(
        mode_event(&mut bob).await,
        Event::Mode {
            room: "#general".into(),
            announce: true,
            category: Some("Team".into()),
            by: "operator".into(),
        }
    );
    assert_eq!(
        code(bob.send_text("#general", "hello?").await),
        ErrorCode::Forbidden
    );
    natter_server::admin::set_room_mode(&server.data_dir, "#general", Some(false), None).unwrap();
    let e = mode_event(&mut bob).await;
    assert!(matches!(e, Event::Mode { announce: false, category: Some(c), .. } if c == "Team"));
    assert!(bob.send_text("#general", "hello!").await.is_ok());
    assert!(
        natter_server::admin::set_room_mode(&server.data_dir, "#nowhere", Some(true), None)
            .is_err()
    );
}
