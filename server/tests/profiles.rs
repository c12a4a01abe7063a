//! Display names and `whois`, on a real server over loopback with a real
//! SQLite file: what a display name may be, whom its changes reach (not
//! those who block its owner), that it survives a restart, and what
//! `whois` tells whom: only rooms in common, idle time from the last
//! message, an invisible user as offline with no idle time.

mod common;

use std::time::Duration;

use common::{Client, ServerExt, TestServer, code};
use natter_server::admin;
use natter_shared::{ErrorCode, Event, PresenceState, Request, Response, UserInfo};

async fn ok(c: &mut Client, req: Request) -> Response {
    c.request(req).await.expect("the request succeeds")
}

fn set(name: Option<&str>) -> Request {
    Request::SetProfile {
        display_name: name.map(str::to_owned),
    }
}

async fn whois(c: &mut Client, user: &str) -> UserInfo {
    match ok(c, Request::Whois { user: user.into() }).await {
        Response::Whois(info) => info,
        other => panic!("{other:?}"),
    }
}

/// The display name `c` sees for `user` in `#general`'s member list.
async fn listed(c: &mut Client, user: &str) -> Option<String> {
    let req = Request::Members {
        room: "#general".into(),
    };
    match ok(c, req).await {
        Response::Members { members, .. } => {
            members
                .into_iter()
                .find(|m| m.name == user)
                .expect("a member")
                .display_name
        }
        other => panic!("{other:?}"),
    }
}

fn profiles(events: &[Event]) -> Vec<(String, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Profile { user, display_name } => Some((user.clone(), display_name.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_names_are_checked_announced_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    natter_server::testing::add_users(dir.path(), &["alice", "bob", "carol", "mallory"]);
    let mut server = TestServer::start_in(dir.path(), |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut alice2 = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut mallory = server.login("mallory").await;
    ok(
        &mut mallory,
        Request::Block {
            user: "alice".into(),
        },
    )
    .await;
    for c in [&mut alice, &mut alice2, &mut bob, &mut mallory] {
        c.drain(Duration::from_millis(100)).await;
    }

    // Trimmed, announced to her sessions and to bob; not to mallory, who
    // blocks her.
    assert_eq!(
        ok(&mut alice, set(Some("  Alice Liddell "))).await,
        Response::Done
    );
    let told = vec![("alice".to_owned(), Some("Alice Liddell".to_owned()))];
    assert_eq!(
        profiles(&alice2.drain(Duration::from_millis(200)).await),
        told
    );
    assert_eq!(profiles(&bob.drain(Duration::from_millis(100)).await), told);
    assert!(profiles(&mallory.drain(Duration::from_millis(100)).await).is_empty());
    assert_eq!(
        listed(&mut bob, "alice").await.as_deref(),
        Some("Alice Liddell")
    );
    assert_eq!(listed(&mut mallory, "alice").await, None);

    // What a display name may not be.
    let long = "x".repeat(65);
    let e = alice.request(set(Some(&long))).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    assert!(e.message.contains("at most 64 characters"), "{e}");
    for bad in ["Bob", "@BOB", " carol "] {
        let e = alice.request(set(Some(bad))).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::Invalid, "{bad}");
        assert!(e.message.contains("someone else"), "{bad}: {e}");
    }
    for bad in ["Alice\nroot", "evil\u{202e}txt", "bell\u{7}"] {
        let e = alice.request(set(Some(bad))).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::Invalid, "{bad:?}");
        assert!(e.message.contains("control or bidi"), "{bad:?}: {e}");
    }
    // None of those changed anything.
    assert!(profiles(&bob.drain(Duration::from_millis(100)).await).is_empty());
    // Her own account name is no impersonation; a blank name clears.
    ok(&mut alice, set(Some("ALICE"))).await;
    ok(&mut alice, set(Some("   "))).await;
    assert_eq!(
        profiles(&bob.drain(Duration::from_millis(200)).await),
        [
            ("alice".to_owned(), Some("ALICE".to_owned())),
            ("alice".to_owned(), None)
        ]
    );
    assert_eq!(listed(&mut bob, "alice").await, None);
    ok(&mut alice, set(Some("Alice Liddell"))).await;

    // Kept across a restart; a deleted account is as unknown as a name
    // nobody ever had.
    drop((alice, alice2, bob, mallory));
    server.stop().await;
    admin::delete_user(dir.path(), "carol", false).unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let mut bob = server.login("bob").await;
    assert_eq!(
        listed(&mut bob, "alice").await.as_deref(),
        Some("Alice Liddell")
    );
    assert_eq!(
        whois(&mut bob, "alice").await.display_name.as_deref(),
        Some("Alice Liddell")
    );
    let deleted = bob
        .request(Request::Whois {
            user: "carol".into(),
        })
        .await
        .unwrap_err();
    let nobody = bob
        .request(Request::Whois {
            user: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(deleted.code, ErrorCode::NoSuchUser);
    assert_eq!(
        (deleted.code, deleted.message.replace("carol", "X")),
        (nobody.code, nobody.message.replace("nobody", "X"))
    );
    let malformed = bob.request(Request::Whois { user: "a b".into() }).await;
    assert_eq!(code(malformed), ErrorCode::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_name_changes_are_rate_limited_and_refusals_cost_nothing() {
    let server = TestServer::start(&["alice", "bob"], |c| {
        c.limits.profile_changes_per_user_per_hour = 2;
    })
    .await;
    let mut alice = server.login("alice").await;
    for _ in 0..3 {
        let e = alice.request(set(Some("bob"))).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::Invalid);
    }
    ok(&mut alice, set(Some("One"))).await;
    ok(&mut alice, set(Some("Two"))).await;
    let e = alice.request(set(Some("Three"))).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Quota, "{e}");
    assert!(e.message.contains("display name changes"), "{e}");
    assert!(e.retry_after_ms.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whois_shows_rooms_in_common_idle_time_and_an_invisible_user_as_offline() {
    let server = TestServer::start(&["alice", "bob"], |c| {
        c.limits.presence_throttle_ms = 0;
    })
    .await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    for (room, private) in [("#secret", true), ("#rust", false)] {
        ok(
            &mut alice,
            Request::Create {
                room: room.into(),
                private,
            },
        )
        .await;
    }
    ok(
        &mut bob,
        Request::Join {
            room: "#rust".into(),
        },
    )
    .await;
    ok(&mut alice, set(Some("Alice Liddell"))).await;

    // Rooms in common only: never the private room bob is not in.
    let reply = ok(
        &mut bob,
        Request::Whois {
            user: "Alice".into(),
        },
    )
    .await;
    assert!(!format!("{reply:?}").contains("secret"), "{reply:?}");
    let Response::Whois(info) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(info.name, "alice");
    assert_eq!(info.display_name.as_deref(), Some("Alice Liddell"));
    assert_eq!(info.rooms, ["#general", "#rust"]);
    assert_eq!(info.presence, PresenceState::Online);
    // She has written nothing since the server started.
    assert_eq!(info.idle_secs, None);
    // Alice sees every room she has, #secret included.
    assert_eq!(
        whois(&mut alice, "alice").await.rooms,
        ["#general", "#rust", "#secret"]
    );

    // Idle time counts from her last message.
    alice.send_text("#secret", "psst").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let idle = whois(&mut bob, "alice").await.idle_secs.expect("idle time");
    assert!((1..10).contains(&idle), "{idle}");
    alice.send_text("#general", "back").await.unwrap();
    assert_eq!(whois(&mut bob, "alice").await.idle_secs, Some(0));

    // Away with a status: all of it shows.
    ok(
        &mut alice,
        Request::Presence {
            state: PresenceState::Away,
            status: Some("at lunch".into()),
        },
    )
    .await;
    let info = whois(&mut bob, "alice").await;
    assert_eq!(
        (info.presence, info.status.as_deref()),
        (PresenceState::Away, Some("at lunch"))
    );
    assert!(info.idle_secs.is_some());

    // Invisible: offline to bob, with no status and no idle time; she
    // sees herself invisible.
    ok(
        &mut alice,
        Request::Presence {
            state: PresenceState::Invisible,
            status: None,
        },
    )
    .await;
    let info = whois(&mut bob, "alice").await;
    assert_eq!(
        (info.presence, info.status, info.idle_secs),
        (PresenceState::Offline, None, None)
    );
    assert_eq!(
        whois(&mut alice, "alice").await.presence,
        PresenceState::Invisible
    );
    // Gone: offline too.
    drop(alice);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let info = whois(&mut bob, "alice").await;
    assert_eq!(
        (info.presence, info.idle_secs),
        (PresenceState::Offline, None)
    );
}
