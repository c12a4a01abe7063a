//! Rooms, privacy, moderation, history, read markers, typing and presence,
//! over real TCP against an in-process natterd with a real SQLite file.

mod common;

use std::time::Duration;

use common::*;
use natter_shared::{
    ErrorCode, Event, HistoryQuery, LeaveKind, MessageId, PresenceState, Request, Response, Role,
    RoomKind, ServerFrame,
};

fn msg_ids(r: &Response) -> Vec<MessageId> {
    match r {
        Response::Messages { messages, .. } => messages.iter().map(|m| m.id).collect(),
        other => panic!("{other:?}"),
    }
}

fn bodies(r: &Response) -> Vec<String> {
    match r {
        Response::Messages { messages, .. } => messages.iter().map(|m| m.body.clone()).collect(),
        other => panic!("{other:?}"),
    }
}

fn more(r: &Response) -> bool {
    matches!(r, Response::Messages { more: true, .. })
}

async fn sent_id(c: &mut Client, room: &str, body: &str) -> MessageId {
    match c.send_text(room, body).await {
        Ok(Response::Sent { id, .. }) => id,
        other => panic!("send failed: {other:?}"),
    }
}

fn history(room: &str, before: Option<u64>, after: Option<u64>, limit: u32) -> Request {
    Request::History {
        room: room.into(),
        query: HistoryQuery {
            before,
            after,
            limit,
            ..Default::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_every_member_session_including_the_senders_others() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut a1 = server.login("alice").await;
    let mut a2 = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let id = sent_id(&mut a1, "#general", "hello @bob").await;
    for c in [&mut a1, &mut a2, &mut bob] {
        match c.event_where(|e| matches!(e, Event::Message(_))).await {
            Event::Message(m) => {
                assert_eq!(
                    (m.id, m.room.as_str(), m.from.as_str()),
                    (id, "#general", "alice")
                );
                assert_eq!(m.body, "hello @bob");
                assert!(m.ts > 1_600_000_000_000);
            }
            _ => unreachable!(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_to_many_clients_keeps_per_sender_order() {
    let users: Vec<String> = (0..40).map(|i| format!("user{i}")).collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    let server = TestServer::start(&names, |_| {}).await;
    let mut clients = Vec::new();
    for u in &names {
        clients.push(server.login(u).await);
    }
    // Three senders pipeline 50 messages each without waiting.
    let per_sender = 50;
    for (s, sender) in clients.iter_mut().take(3).enumerate() {
        for i in 0..per_sender {
            sender
                .send_req(Request::Send {
                    room: "#general".into(),
                    body: format!("{s}:{i}"),
                    action: false,
                    nonce: None,
                    reply_to: None,
                    thread: None,
                    attention: false,
                    files: Vec::new(),
                })
                .await;
        }
    }
    for c in &mut clients {
        let mut next = [0; 3];
        let mut last_id = 0;
        let mut got = 0;
        while got < 3 * per_sender {
            match c.next_frame().await.expect("open") {
                natter_shared::ServerFrame::Event(Event::Message(m)) => {
                    let (s, i) = m.body.split_once(':').unwrap();
                    let (s, i): (usize, usize) = (s.parse().unwrap(), i.parse().unwrap());
                    assert_eq!(i, next[s], "sender {s} out of order");
                    assert!(m.id > last_id, "ids increase");
                    next[s] += 1;
                    last_id = m.id;
                    got += 1;
                }
                natter_shared::ServerFrame::Ok { res, .. } => {
                    assert!(matches!(res, Response::Sent { .. }));
                }
                natter_shared::ServerFrame::Event(_) => {}
                natter_shared::ServerFrame::Err { err, .. } => panic!("{err}"),
                natter_shared::ServerFrame::Compressed(_) => panic!("never asked for"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_oversized_messages_are_refused() {
    let server = TestServer::start(&["alice"], |c| c.limits.max_message_len = 1000).await;
    let mut c = server.login("alice").await;
    assert_eq!(code(c.send_text("#general", "").await), ErrorCode::Invalid);
    assert_eq!(
        code(c.send_text("#general", " \n\t").await),
        ErrorCode::Invalid
    );
    let e = c
        .send_text("#general", &"x".repeat(1001))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLong);
    assert!(e.message.contains("1000"));
    assert!(c.send_text("#general", &"x".repeat(1000)).await.is_ok());
}

/// Every room-scoped request from a non-member against a private room fails
/// exactly as against a room that does not exist, and no event about the
/// room reaches the outsider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_rooms_and_direct_conversations_stay_private() {
    let server = TestServer::start(&["alice", "bob", "eve"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut eve = server.login("eve").await;
    let created = alice
        .request(Request::Create {
            room: "#secret".into(),
            private: true,
        })
        .await
        .unwrap();
    assert!(
        matches!(created, Response::Room(ref r) if r.kind == RoomKind::Private && r.role == Role::Owner)
    );
    assert_eq!(
        alice
            .request(Request::Invite {
                room: "#secret".into(),
                user: "bob".into()
            })
            .await
            .unwrap(),
        Response::Done
    );
    bob.request(Request::Accept {
        room: "#secret".into(),
    })
    .await
    .unwrap();
    sent_id(&mut alice, "#secret", "plans").await;
    sent_id(&mut alice, "@bob", "just us").await;
    // Give eve's queue time to receive anything that would leak.
    let _ = eve.drain(Duration::from_millis(200)).await;

    let requests = |room: &str| {
        vec![
            Request::Send {
                room: room.into(),
                body: "hi".into(),
                action: false,
                nonce: None,
                reply_to: None,
                thread: None,
                attention: false,
                files: Vec::new(),
            },
            history(room, None, None, 10),
            Request::Join { room: room.into() },
            Request::Leave { room: room.into() },
            Request::Invite {
                room: room.into(),
                user: "eve".into(),
            },
            Request::Kick {
                room: room.into(),
                user: "bob".into(),
                reason: None,
            },
            Request::Ban {
                room: room.into(),
                user: "bob".into(),
                reason: None,
            },
            Request::Unban {
                room: room.into(),
                user: "bob".into(),
            },
            Request::SetRole {
                room: room.into(),
                user: "bob".into(),
                role: Role::Owner,
            },
            Request::Topic {
                room: room.into(),
                topic: "mine".into(),
            },
            Request::Members { room: room.into() },
            Request::MarkRead {
                room: room.into(),
                id: 1,
            },
            Request::Typing {
                room: room.into(),
                active: true,
            },
        ]
    };
    for (real, fake) in requests("#secret")
        .into_iter()
        .zip(requests("#nonexistent"))
    {
        let kind = real.kind();
        let a = eve.request(real).await.unwrap_err();
        let b = eve.request(fake).await.unwrap_err();
        assert_eq!(a.code, b.code, "{kind}: {a} vs {b}");
        assert_eq!(
            a.message.replace("secret", "X"),
            b.message.replace("nonexistent", "X"),
            "{kind}"
        );
    }
    // The directory and stats do not show it either.
    match eve.request(Request::Directory).await.unwrap() {
        Response::Directory(list) => assert!(list.iter().all(|r| r.name != "#secret")),
        other => panic!("{other:?}"),
    }
    // Eve's own "@alice" is her own conversation, empty; the stored name of
    // alice and bob's is not addressable.
    assert!(
        msg_ids(
            &eve.request(history("@alice", None, None, 10))
                .await
                .unwrap()
        )
        .is_empty()
    );
    assert_eq!(
        code(eve.request(history("#alice+bob", None, None, 10)).await),
        ErrorCode::Invalid
    );

    // Activity in the private room and the DM while eve watches.
    alice
        .request(Request::Typing {
            room: "#secret".into(),
            active: true,
        })
        .await
        .unwrap();
    alice
        .request(Request::Topic {
            room: "#secret".into(),
            topic: "t".into(),
        })
        .await
        .unwrap();
    sent_id(&mut bob, "#secret", "more plans").await;
    sent_id(&mut bob, "@alice", "psst").await;
    let leaked = eve.drain(Duration::from_millis(300)).await;
    for e in &leaked {
        let room = match e {
            Event::Message(m) => m.room.clone(),
            Event::Typing { room, .. }
            | Event::Topic { room, .. }
            | Event::Joined { room, .. }
            | Event::Left { room, .. } => room.clone(),
            _ => continue,
        };
        panic!("eve saw an event about {room}: {e:?}");
    }
    // Bob sees the DM named after alice, alice after bob.
    let e = bob
        .event_where(|e| matches!(e, Event::Message(m) if m.body == "just us"))
        .await;
    assert!(matches!(e, Event::Message(m) if m.room == "@alice"));
    let e = alice
        .event_where(|e| matches!(e, Event::Message(m) if m.body == "psst"))
        .await;
    assert!(matches!(e, Event::Message(m) if m.room == "@bob"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_rooms_need_a_join_and_announce_members() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    alice
        .request(Request::Create {
            room: "#rust".into(),
            private: false,
        })
        .await
        .unwrap();
    assert_eq!(
        code(
            alice
                .request(Request::Create {
                    room: "#Rust".into(),
                    private: false
                })
                .await
        ),
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        code(bob.send_text("#rust", "hi").await),
        ErrorCode::NotMember
    );
    match bob.request(Request::Directory).await.unwrap() {
        Response::Directory(list) => {
            assert!(list.iter().any(|r| r.name == "#rust" && r.members == 1));
        }
        other => panic!("{other:?}"),
    }
    // "rust" without the # works too.
    assert!(matches!(
        bob.request(Request::Join { room: "rust".into() }).await.unwrap(),
        Response::Room(ref r) if r.name == "#rust" && r.members == 2
    ));
    let e = alice
        .event_where(|e| matches!(e, Event::Joined { .. }))
        .await;
    assert_eq!(
        e,
        Event::Joined {
            room: "#rust".into(),
            user: "bob".into()
        }
    );
    assert!(bob.send_text("#rust", "hi").await.is_ok());
    // Joining again just answers with the room.
    assert!(matches!(
        bob.request(Request::Join {
            room: "#rust".into()
        })
        .await
        .unwrap(),
        Response::Room(_)
    ));
    bob.request(Request::Leave {
        room: "#rust".into(),
    })
    .await
    .unwrap();
    let e = alice.event_where(|e| matches!(e, Event::Left { .. })).await;
    assert!(matches!(e, Event::Left { kind: LeaveKind::Left, ref user, .. } if user == "bob"));
    assert_eq!(
        code(bob.send_text("#rust", "hi").await),
        ErrorCode::NotMember
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_govern_moderation() {
    let server = TestServer::start(&["alice", "bob", "carol", "root"], |_| {}).await;
    natter_server::admin::add_user(&server.data_dir, "admin", PASSWORD, true).unwrap();
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut carol = server.login("carol").await;
    alice
        .request(Request::Create {
            room: "#mod".into(),
            private: false,
        })
        .await
        .unwrap();
    bob.request(Request::Join {
        room: "#mod".into(),
    })
    .await
    .unwrap();
    carol
        .request(Request::Join {
            room: "#mod".into(),
        })
        .await
        .unwrap();

    // A member cannot kick, set the topic or change roles.
    let kick = |user: &str| Request::Kick {
        room: "#mod".into(),
        user: user.into(),
        reason: Some("bye".into()),
    };
    assert_eq!(code(bob.request(kick("carol")).await), ErrorCode::Forbidden);
    assert_eq!(
        code(
            bob.request(Request::Topic {
                room: "#mod".into(),
                topic: "x".into()
            })
            .await
        ),
        ErrorCode::Forbidden
    );
    // The owner makes bob a moderator; moderators cannot change roles.
    alice
        .request(Request::SetRole {
            room: "#mod".into(),
            user: "bob".into(),
            role: Role::Moderator,
        })
        .await
        .unwrap();
    let e = carol.event_where(|e| matches!(e, Event::Role { .. })).await;
    assert!(matches!(
        e,
        Event::Role {
            role: Role::Moderator,
            ..
        }
    ));
    assert_eq!(
        code(
            bob.request(Request::SetRole {
                room: "#mod".into(),
                user: "carol".into(),
                role: Role::Moderator
            })
            .await
        ),
        ErrorCode::Forbidden
    );
    // Nobody demotes themselves into an ownerless room.
    assert_eq!(
        code(
            alice
                .request(Request::SetRole {
                    room: "#mod".into(),
                    user: "alice".into(),
                    role: Role::Member
                })
                .await
        ),
        ErrorCode::Invalid
    );
    // A moderator may set the topic and kick a member, not the owner.
    bob.request(Request::Topic {
        room: "#mod".into(),
        topic: "be kind".into(),
    })
    .await
    .unwrap();
    let e = carol
        .event_where(|e| matches!(e, Event::Topic { .. }))
        .await;
    assert_eq!(
        e,
        Event::Topic {
            room: "#mod".into(),
            topic: "be kind".into(),
            by: "bob".into()
        }
    );
    assert_eq!(code(bob.request(kick("alice")).await), ErrorCode::Forbidden);
    bob.request(kick("carol")).await.unwrap();
    let e = carol
        .event_where(|e| matches!(e, Event::RoomRemoved { .. }))
        .await;
    assert!(
        matches!(e, Event::RoomRemoved { kind: LeaveKind::Kicked, ref by, ref reason, .. }
        if by.as_deref() == Some("bob") && reason.as_deref() == Some("bye"))
    );
    assert_eq!(
        code(carol.send_text("#mod", "hey").await),
        ErrorCode::NotMember
    );
    // Kicked users may rejoin a public room; banned ones may not.
    carol
        .request(Request::Join {
            room: "#mod".into(),
        })
        .await
        .unwrap();
    bob.request(Request::Ban {
        room: "#mod".into(),
        user: "carol".into(),
        reason: None,
    })
    .await
    .unwrap();
    assert_eq!(
        code(
            carol
                .request(Request::Join {
                    room: "#mod".into()
                })
                .await
        ),
        ErrorCode::Banned
    );
    assert_eq!(
        code(
            alice
                .request(Request::Invite {
                    room: "#mod".into(),
                    user: "carol".into()
                })
                .await
        ),
        ErrorCode::Banned
    );
    bob.request(Request::Unban {
        room: "#mod".into(),
        user: "carol".into(),
    })
    .await
    .unwrap();
    carol
        .request(Request::Join {
            room: "#mod".into(),
        })
        .await
        .unwrap();
    // A server admin can moderate without being a member, and no room
    // moderator can act against an admin.
    let mut admin = server.login("admin").await;
    admin
        .request(Request::Join {
            room: "#mod".into(),
        })
        .await
        .unwrap();
    assert_eq!(code(bob.request(kick("admin")).await), ErrorCode::Forbidden);
    admin.request(kick("bob")).await.unwrap();
    let e = bob
        .event_where(|e| matches!(e, Event::RoomRemoved { .. }))
        .await;
    assert!(matches!(
        e,
        Event::RoomRemoved {
            kind: LeaveKind::Kicked,
            ..
        }
    ));
    // Unknown users are named as such.
    assert_eq!(
        code(alice.request(kick("nobody")).await),
        ErrorCode::NoSuchUser
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_room_invites_need_a_moderator() {
    let server = TestServer::start(&["alice", "bob", "carol"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    alice
        .request(Request::Create {
            room: "#ops".into(),
            private: true,
        })
        .await
        .unwrap();
    alice
        .request(Request::Invite {
            room: "#ops".into(),
            user: "bob".into(),
        })
        .await
        .unwrap();
    // Bob shares only #general with alice: he is asked first.
    let e = bob.event_where(|e| matches!(e, Event::Invited(_))).await;
    assert!(
        matches!(e, Event::Invited(ref i) if i.room == "#ops" && i.by == "alice"),
        "{e:?}"
    );
    bob.request(Request::Accept {
        room: "#ops".into(),
    })
    .await
    .unwrap();
    let e = bob.event_where(|e| matches!(e, Event::RoomAdded(_))).await;
    assert!(
        matches!(e, Event::RoomAdded(ref r) if r.name == "#ops" && r.kind == RoomKind::Private)
    );
    assert_eq!(
        code(
            bob.request(Request::Invite {
                room: "#ops".into(),
                user: "carol".into()
            })
            .await
        ),
        ErrorCode::Forbidden
    );
    let members = bob
        .request(Request::Members {
            room: "#ops".into(),
        })
        .await
        .unwrap();
    match members {
        Response::Members { members, .. } => {
            let names: Vec<_> = members.iter().map(|m| (m.name.as_str(), m.role)).collect();
            assert!(
                names.contains(&("alice", Role::Owner)) && names.contains(&("bob", Role::Member))
            );
        }
        other => panic!("{other:?}"),
    }
}

async fn check_history(c: &mut Client, ids: &[MessageId]) {
    let latest = c.request(history("#general", None, None, 3)).await.unwrap();
    assert_eq!(msg_ids(&latest), ids[9..12]);
    assert!(more(&latest));
    // Before: from the ring, then from disk.
    let page = c
        .request(history("#general", Some(ids[9]), None, 3))
        .await
        .unwrap();
    assert_eq!(msg_ids(&page), ids[6..9]);
    let page = c
        .request(history("#general", Some(ids[4]), None, 3))
        .await
        .unwrap();
    assert_eq!(msg_ids(&page), ids[1..4]);
    assert!(more(&page));
    let page = c
        .request(history("#general", Some(ids[1]), None, 3))
        .await
        .unwrap();
    assert_eq!(msg_ids(&page), ids[0..1]);
    assert!(!more(&page));
    // After: catch-up with no gap and no duplicate, from either side.
    let page = c
        .request(history("#general", None, Some(ids[2]), 4))
        .await
        .unwrap();
    assert_eq!(msg_ids(&page), ids[3..7]);
    assert!(more(&page));
    let page = c
        .request(history("#general", None, Some(ids[8]), 10))
        .await
        .unwrap();
    assert_eq!(msg_ids(&page), ids[9..12]);
    assert!(!more(&page));
    let page = c
        .request(history("#general", None, Some(ids[11]), 10))
        .await
        .unwrap();
    assert!(msg_ids(&page).is_empty());
    // Walking back page by page visits every message once.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = c
            .request(history("#general", before, None, 4))
            .await
            .unwrap();
        let mut got = msg_ids(&page);
        if got.is_empty() {
            break;
        }
        before = Some(got[0]);
        got.extend(seen);
        seen = got;
    }
    assert_eq!(seen, ids);
    let page = c.request(history("#general", None, None, 0)).await.unwrap();
    assert_eq!(bodies(&page).last().map(String::as_str), Some("m11"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_latest_before_after_from_memory_and_disk_and_across_restart() {
    // A ring of 5 in memory forces older pages to come from SQLite.
    let mut server = TestServer::start(&["alice"], |c| c.history.in_memory = 5).await;
    let mut c = server.login("alice").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(sent_id(&mut c, "#general", &format!("m{i}")).await);
    }
    check_history(&mut c, &ids).await;
    assert_eq!(
        code(c.request(history("#general", Some(5), Some(1), 3)).await),
        ErrorCode::Invalid
    );
    // The same after a restart on the same data dir.
    server.stop().await;
    let server = TestServer::start_in(&server.data_dir.clone(), |c| c.history.in_memory = 5).await;
    let mut c = server.login("alice").await;
    check_history(&mut c, &ids).await;
    // Ids keep increasing after the restart.
    let next = sent_id(&mut c, "#general", "after restart").await;
    assert!(next > ids[11]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_are_capped_by_the_server() {
    let server = TestServer::start(&["alice"], |c| c.history.max_page = 4).await;
    let mut c = server.login("alice").await;
    for i in 0..6 {
        sent_id(&mut c, "#general", &format!("m{i}")).await;
    }
    let page = c
        .request(history("#general", None, None, 100))
        .await
        .unwrap();
    assert_eq!(msg_ids(&page).len(), 4);
    assert!(more(&page));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_only_the_newest_messages() {
    let server = TestServer::start(&["alice"], |c| c.history.retention = 3).await;
    let mut c = server.login("alice").await;
    for i in 0..6 {
        sent_id(&mut c, "#general", &format!("m{i}")).await;
    }
    let page = c
        .request(history("#general", None, None, 50))
        .await
        .unwrap();
    assert_eq!(bodies(&page), ["m3", "m4", "m5"]);
    let conn = rusqlite_count(&server.data_dir);
    assert_eq!(conn, 3);
}

fn rusqlite_count(dir: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("natter.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_and_mention_counts_at_login_and_read_markers_sync() {
    let mut server = TestServer::start(&["alice", "bob"], |c| c.history.in_memory = 3).await;
    let mut alice = server.login("alice").await;
    let mut ids = Vec::new();
    for body in ["one", "hey @bob", "three", "@bob again", "five"] {
        ids.push(sent_id(&mut alice, "#general", body).await);
    }
    // Alice's own messages are never unread for her.
    let (_, info) = Client::login(server.addr, "alice", PASSWORD).await;
    let general = info.rooms.iter().find(|r| r.name == "#general").unwrap();
    assert_eq!((general.unread, general.mentions), (0, 0));

    let (mut b1, info) = Client::login(server.addr, "bob", PASSWORD).await;
    let general = info.rooms.iter().find(|r| r.name == "#general").unwrap();
    assert_eq!(
        (general.unread, general.mentions, general.last_id),
        (5, 2, ids[4])
    );
    let mut b2 = server.login("bob").await;

    // A marker older than the in-memory ring (3 messages) is recounted
    // from the store.
    b1.request(Request::MarkRead {
        room: "#general".into(),
        id: ids[0],
    })
    .await
    .unwrap();
    let e = b2.event_where(|e| matches!(e, Event::Unread { .. })).await;
    assert_eq!(
        e,
        Event::Unread {
            room: "#general".into(),
            unread: 4,
            mentions: 2
        }
    );
    b1.drain(Duration::from_millis(100)).await;
    // Marking read in one session moves the marker in both, with new counts.
    b1.request(Request::MarkRead {
        room: "#general".into(),
        id: ids[2],
    })
    .await
    .unwrap();
    for c in [&mut b1, &mut b2] {
        let e = c.event_where(|e| matches!(e, Event::Read { .. })).await;
        assert_eq!(
            e,
            Event::Read {
                room: "#general".into(),
                id: ids[2]
            }
        );
        let e = c.event_where(|e| matches!(e, Event::Unread { .. })).await;
        assert_eq!(
            e,
            Event::Unread {
                room: "#general".into(),
                unread: 2,
                mentions: 1
            }
        );
    }
    // Markers never move back; ids beyond the newest are clamped.
    b2.request(Request::MarkRead {
        room: "#general".into(),
        id: ids[0],
    })
    .await
    .unwrap();
    b2.request(Request::MarkRead {
        room: "#general".into(),
        id: u64::MAX,
    })
    .await
    .unwrap();
    let e = b1.event_where(|e| matches!(e, Event::Read { .. })).await;
    assert_eq!(
        e,
        Event::Read {
            room: "#general".into(),
            id: ids[4]
        }
    );
    // And a marker survives a restart.
    server.stop().await;
    let server = TestServer::start_in(&server.data_dir.clone(), |_| {}).await;
    let (_, info) = Client::login(server.addr, "bob", PASSWORD).await;
    let general = info.rooms.iter().find(|r| r.name == "#general").unwrap();
    assert_eq!(
        (general.last_read, general.unread, general.mentions),
        (ids[4], 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_starts_with_nothing_unread_also_after_a_restart() {
    let mut server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut alice = server.login("alice").await;
    alice
        .request(Request::Create {
            room: "#old".into(),
            private: false,
        })
        .await
        .unwrap();
    for i in 0..5 {
        sent_id(&mut alice, "#old", &format!("before bob {i} @bob")).await;
    }
    let mut bob = server.login("bob").await;
    match bob
        .request(Request::Join {
            room: "#old".into(),
        })
        .await
        .unwrap()
    {
        Response::Room(r) => assert_eq!((r.unread, r.mentions), (0, 0)),
        other => panic!("{other:?}"),
    }
    server.stop().await;
    let server = TestServer::start_in(&server.data_dir.clone(), |_| {}).await;
    let (_, info) = Client::login(server.addr, "bob", PASSWORD).await;
    let old = info.rooms.iter().find(|r| r.name == "#old").unwrap();
    assert_eq!((old.unread, old.mentions), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_is_relayed_to_others_throttled_and_expires() {
    let server = TestServer::start(&["alice", "bob"], |c| {
        c.limits.typing_throttle_ms = 400;
        c.limits.typing_expiry_ms = 700;
    })
    .await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let typing = |active| Request::Typing {
        room: "#general".into(),
        active,
    };
    // The stop comes by itself, one expiry after the start: counted from
    // before the start, so a slow machine cannot make it look early.
    let started = std::time::Instant::now();
    alice.request(typing(true)).await.unwrap();
    alice.request(typing(true)).await.unwrap();
    alice.request(typing(true)).await.unwrap();
    let events = bob.drain(Duration::from_millis(250)).await;
    let starts = events
        .iter()
        .filter(|e| matches!(e, Event::Typing { active: true, .. }))
        .count();
    assert_eq!(starts, 1, "throttled to one start: {events:?}");
    // Alice's own sessions never see her typing.
    assert!(
        alice
            .drain(Duration::from_millis(50))
            .await
            .iter()
            .all(|e| !matches!(e, Event::Typing { .. }))
    );
    // No news: the server sends the stop by itself.
    let e = bob.event_where(|e| matches!(e, Event::Typing { .. })).await;
    assert_eq!(
        e,
        Event::Typing {
            room: "#general".into(),
            user: "alice".into(),
            active: false
        }
    );
    assert!(started.elapsed() >= Duration::from_millis(700));
    // An explicit stop, and a message, both end typing.
    alice.request(typing(true)).await.unwrap();
    alice.request(typing(false)).await.unwrap();
    let e = bob
        .event_where(|e| matches!(e, Event::Typing { active: false, .. }))
        .await;
    assert!(matches!(e, Event::Typing { .. }));
    // After the throttle interval (a stop does not reset it).
    tokio::time::sleep(Duration::from_millis(450)).await;
    alice.request(typing(true)).await.unwrap();
    sent_id(&mut alice, "#general", "done typing").await;
    let events = bob.drain(Duration::from_millis(200)).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Typing { active: false, .. })),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_aggregated_over_sessions_and_invisible_looks_offline() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut bob = server.login("bob").await;
    let mut a1 = server.login("alice").await;
    let e = bob
        .event_where(|e| matches!(e, Event::Presence { .. }))
        .await;
    assert!(
        matches!(e, Event::Presence { state: PresenceState::Online, ref user, .. } if user == "alice")
    );

    a1.request(Request::Presence {
        state: PresenceState::Away,
        status: Some("lunch".into()),
    })
    .await
    .unwrap();
    let e = bob
        .event_where(|e| matches!(e, Event::Presence { .. }))
        .await;
    assert_eq!(
        e,
        Event::Presence {
            user: "alice".into(),
            state: PresenceState::Away,
            status: Some("lunch".into())
        }
    );
    // A second session starts as alice last chose (away, not online);
    // set online, it wins over the away one. Changes reach others at most
    // once per `presence_throttle_ms`.
    let mut a2 = server.login("alice").await;
    a2.request(Request::Presence {
        state: PresenceState::Online,
        status: None,
    })
    .await
    .unwrap();
    let e = bob
        .event_where(|e| matches!(e, Event::Presence { .. }))
        .await;
    assert!(matches!(
        e,
        Event::Presence {
            state: PresenceState::Online,
            ..
        }
    ));
    // Both invisible: others see offline, alice's sessions see invisible.
    a1.request(Request::Presence {
        state: PresenceState::Invisible,
        status: None,
    })
    .await
    .unwrap();
    a2.request(Request::Presence {
        state: PresenceState::Invisible,
        status: None,
    })
    .await
    .unwrap();
    let e = bob
        .event_where(|e| {
            matches!(
                e,
                Event::Presence {
                    state: PresenceState::Offline,
                    ..
                }
            )
        })
        .await;
    assert!(matches!(e, Event::Presence { .. }));
    let own = a2
        .event_where(|e| {
            matches!(
                e,
                Event::Presence {
                    state: PresenceState::Invisible,
                    ..
                }
            )
        })
        .await;
    assert!(matches!(own, Event::Presence { .. }));
    match bob
        .request(Request::Members {
            room: "#general".into(),
        })
        .await
        .unwrap()
    {
        Response::Members { members, .. } => {
            let alice = members.iter().find(|m| m.name == "alice").unwrap();
            assert_eq!(alice.presence, PresenceState::Offline);
        }
        other => panic!("{other:?}"),
    }
    match bob.request(Request::Stats).await.unwrap() {
        Response::Stats(s) => {
            assert_eq!(s.users_online, 1, "invisible alice is not counted");
            assert_eq!(s.sessions, 3);
        }
        other => panic!("{other:?}"),
    }
    // Busy shows; disconnecting everything shows offline.
    a1.request(Request::Presence {
        state: PresenceState::Busy,
        status: None,
    })
    .await
    .unwrap();
    let e = bob
        .event_where(|e| matches!(e, Event::Presence { .. }))
        .await;
    assert!(matches!(
        e,
        Event::Presence {
            state: PresenceState::Busy,
            ..
        }
    ));
    drop(a1);
    drop(a2);
    let e = bob
        .event_where(|e| matches!(e, Event::Presence { .. }))
        .await;
    assert!(matches!(
        e,
        Event::Presence {
            state: PresenceState::Offline,
            ..
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_users_rooms_messages_and_uptime() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let _bob = server.login("bob").await;
    sent_id(&mut alice, "#general", "one").await;
    sent_id(&mut alice, "#general", "two").await;
    match alice.request(Request::Stats).await.unwrap() {
        Response::Stats(s) => {
            assert_eq!(
                (s.users_online, s.sessions, s.rooms, s.messages),
                (2, 2, 1, 2)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_is_dropped_while_others_keep_receiving() {
    let server = TestServer::start(&["alice", "bob", "slow"], |c| {
        c.limits.outbound_queue_bytes = 1024 * 1024;
        c.limits.max_frame = 256 * 1024;
        c.limits.max_message_len = 100_000;
        c.history.max_page = 2;
    })
    .await;
    // The slow client has a tiny receive buffer and never reads after login.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let mut slow = Client::from_stream(stream);
    slow.hello().await;
    slow.request(Request::Login {
        user: "slow".into(),
        credential: natter_shared::Credential::Password(PASSWORD.into()),
        presence: None,
    })
    .await
    .unwrap();

    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    // 20 MB in all: far past the slow client's queue and what the kernel
    // buffers on loopback (its send buffer autotunes to a few MB).
    let body = "x".repeat(100_000);
    let n = 200;
    // Bob reports each message he reads; alice sends the next one only
    // then, so bob's queue never holds more than one and only the client
    // that does not read falls behind.
    let (progress, mut read) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut got = 0;
        while got < n {
            if let Event::Message(_) = bob.event().await {
                got += 1;
                let _ = progress.send(got);
            }
        }
        bob
    });
    for i in 0..n {
        sent_id(&mut alice, "#general", &body).await;
        alice.events.clear();
        assert_eq!(read.recv().await, Some(i + 1));
    }
    let mut bob = reader.await.expect("bob received every message");
    // The slow client was cut off: reading now ends in EOF (after whatever
    // the kernel had buffered), never in all 600 messages.
    let mut seen = 0;
    loop {
        match tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut slow.framed)).await {
            Ok(Some(Ok(_))) => seen += 1,
            Ok(Some(Err(_)) | None) => break,
            Err(elapsed) => panic!("the slow client was not disconnected: {elapsed}"),
        }
    }
    assert!(seen < n, "slow client received everything ({seen})");
    eprintln!("the slow client got {seen} of {n} frames before the cut");
    assert!(bob.request(Request::Ping).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_rooms_added_by_the_cli_while_running_are_picked_up() {
    let server = TestServer::start(&["alice"], |_| {}).await;
    let mut alice = server.login("alice").await;
    sent_id(&mut alice, "#general", "before dave").await;
    natter_server::admin::add_user(&server.data_dir, "dave", PASSWORD, false).unwrap();
    natter_server::admin::add_user(&server.data_dir, "erin", PASSWORD, false).unwrap();
    // Erin has never logged in, yet can be messaged.
    sent_id(&mut alice, "@erin", "hello erin").await;
    natter_server::admin::add_room(&server.data_dir, "#cli-room", true, Some("dave")).unwrap();
    let (mut dave, info) = Client::login(server.addr, "dave", PASSWORD).await;
    let names: Vec<_> = info.rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["#cli-room", "#general"]);
    // What was said before he arrived is not unread for him.
    assert_eq!(info.rooms[1].unread, 0);
    sent_id(&mut dave, "#general", "new here").await;
    let e = alice
        .event_where(|e| matches!(e, Event::Message(m) if m.from == "dave"))
        .await;
    assert!(matches!(e, Event::Message(m) if m.room == "#general" && m.body == "new here"));
    sent_id(&mut dave, "#cli-room", "mine").await;
    // Alice can open a conversation with dave.
    sent_id(&mut alice, "@dave", "welcome").await;
    let e = dave
        .event_where(|e| matches!(e, Event::Message(m) if m.body == "welcome"))
        .await;
    assert!(matches!(e, Event::Message(m) if m.room == "@alice"));
}

/// Pipelined sends into two rooms commit in shared group transactions and
/// fan out in runs per room: every member still gets them in id order
/// across both rooms, and the sender gets each `Sent` before its
/// `Message`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_fan_out_keeps_id_order_and_sent_first() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    alice
        .request(Request::Create {
            room: "#other".into(),
            private: false,
        })
        .await
        .unwrap();
    bob.request(Request::Join {
        room: "#other".into(),
    })
    .await
    .unwrap();
    let _ = bob.drain(Duration::from_millis(100)).await;
    let _ = alice.drain(Duration::from_millis(100)).await;
    let n = 60;
    let mut requests = Vec::new();
    for i in 0..n {
        // Runs of different lengths in each room.
        let room = if (i / 3) % 2 == 0 {
            "#general"
        } else {
            "#other"
        };
        let id = alice
            .send_req(Request::Send {
                room: room.into(),
                body: format!("m{i}"),
                action: false,
                nonce: None,
                reply_to: None,
                thread: None,
                attention: false,
                files: Vec::new(),
            })
            .await;
        requests.push(id);
    }
    // Alice: a Sent for every request, each before the Message it names.
    let mut sent = std::collections::HashMap::new();
    let mut seen = Vec::new();
    while seen.len() < n {
        match alice.next_frame().await.expect("alice's connection open") {
            ServerFrame::Ok {
                id,
                res: Response::Sent { id: msg, .. },
            } => {
                assert!(requests.contains(&id));
                sent.insert(msg, id);
            }
            ServerFrame::Event(Event::Message(m)) => {
                assert!(sent.contains_key(&m.id), "Message {} before its Sent", m.id);
                seen.push(m.id);
            }
            _ => {}
        }
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "alice: {seen:?}");
    // Bob: all of them, in id order, bodies in send order.
    let mut got = Vec::new();
    while got.len() < n {
        if let Event::Message(m) = bob.event().await {
            got.push((m.id, m.body));
        }
    }
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "bob: {got:?}");
    let bodies: Vec<String> = got.into_iter().map(|(_, b)| b).collect();
    let want: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_sending_the_same_text_at_once_each_get_their_own_nonce() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut a1 = server.login("alice").await;
    let mut a2 = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let send = |nonce: &str| Request::Send {
        room: "#general".into(),
        body: "same words".into(),
        action: false,
        nonce: Some(nonce.into()),
        reply_to: None,
        thread: None,
        attention: false,
        files: Vec::new(),
    };
    // Both in flight before either is answered: the store may commit them
    // in one batch, in either order.
    let (r1, r2) = (
        a1.send_req(send("one")).await,
        a2.send_req(send("two")).await,
    );
    let confirmed = |res: Response| match res {
        Response::Sent { id, nonce, .. } => (id, nonce),
        other => panic!("{other:?}"),
    };
    let (id1, n1) = confirmed(a1.reply(r1).await.unwrap());
    let (id2, n2) = confirmed(a2.reply(r2).await.unwrap());
    assert_eq!(n1.as_deref(), Some("one"));
    assert_eq!(n2.as_deref(), Some("two"));
    assert_ne!(id1, id2);
    let messages = |c: &mut Client| {
        let mut got: Vec<(u64, Option<String>)> = c
            .events
            .drain(..)
            .filter_map(|e| match e {
                Event::Message(m) => Some((m.id, m.nonce)),
                _ => None,
            })
            .collect();
        got.sort();
        got
    };
    // Every session of alice sees both, each with the nonce of the session
    // that sent it, so each knows exactly which one is its own.
    let want = {
        let mut w = vec![(id1, Some("one".to_owned())), (id2, Some("two".to_owned()))];
        w.sort();
        w
    };
    for c in [&mut a1, &mut a2] {
        while messages_pending(c) < 2 {
            match c.next_frame().await.expect("open") {
                ServerFrame::Event(e) => c.events.push_back(e),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(messages(c), want);
    }
    // Nobody else sees a nonce.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        if let Event::Message(m) = bob.event().await {
            seen.push(m.nonce);
        }
    }
    assert_eq!(seen, [None, None]);
    // Nor does history.
    match a1
        .request(Request::History {
            room: "#general".into(),
            query: HistoryQuery {
                before: None,
                after: None,
                limit: 10,
                ..Default::default()
            },
        })
        .await
        .unwrap()
    {
        Response::Messages { messages, .. } => {
            assert!(messages.iter().all(|m| m.nonce.is_none()));
        }
        other => panic!("{other:?}"),
    }
    // An oversized nonce is refused before anything is stored.
    let e = a1.request(send(&"n".repeat(65))).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid, "{e}");
}

fn messages_pending(c: &Client) -> usize {
    c.events
        .iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_create_or_register_reports_its_real_cause() {
    let server = TestServer::start(&["alice"], |c| c.open_registration = true).await;
    let mut alice = server.login("alice").await;
    let create = |room: &str| Request::Create {
        room: room.into(),
        private: false,
    };
    // A name that is taken is "already exists"...
    let e = alice.request(create("#general")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AlreadyExists, "{e}");
    // ...and anything else the store refuses is not. A trigger in the real
    // database file makes every new room and account fail to insert.
    let db = rusqlite::Connection::open(server.data_dir.join("natter.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER no_rooms BEFORE INSERT ON rooms BEGIN SELECT RAISE(ABORT, 'disk says no'); END;
         CREATE TRIGGER no_users BEFORE INSERT ON users BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
    )
    .unwrap();
    let e = alice.request(create("#brandnew")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Internal, "{e}");
    let mut c = Client::connect(server.addr).await;
    c.hello().await;
    let e = c
        .request(Request::Register {
            user: "dora".into(),
            password: "a fine long password".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Internal, "{e}");
    // The refused room was not half-made: once the store works again, the
    // name is free and the quota was refunded.
    db.execute_batch("DROP TRIGGER no_rooms; DROP TRIGGER no_users;")
        .unwrap();
    assert!(alice.request(create("#brandnew")).await.is_ok());
}

/// A client reconnecting while away or invisible logs in with that
/// presence (`Login.presence`): the others never see it online in between,
/// and `offline` is refused as a choice there as everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_can_start_with_its_presence() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut bob = server.login("bob").await;
    let login = |state, status: Option<&str>| Request::Login {
        user: "alice".into(),
        credential: natter_shared::Credential::PasswordOnly(PASSWORD.into()),
        presence: Some(natter_shared::PresenceChoice {
            state,
            status: status.map(str::to_owned),
        }),
    };
    let mut away = Client::connect(server.addr).await;
    away.hello().await;
    let r = away
        .request(login(PresenceState::Away, Some("lunch")))
        .await;
    assert!(matches!(r, Ok(Response::Session(_))), "{r:?}");
    let e = bob
        .event_where(|e| matches!(e, Event::Presence { user, .. } if user == "alice"))
        .await;
    assert_eq!(
        e,
        Event::Presence {
            user: "alice".into(),
            state: PresenceState::Away,
            status: Some("lunch".into())
        }
    );
    drop(away);
    bob.event_where(|e| {
        matches!(e, Event::Presence { user, state: PresenceState::Offline, .. } if user == "alice")
    })
    .await;
    // Invisible from the first moment: bob hears nothing of alice.
    let mut invisible = Client::connect(server.addr).await;
    invisible.hello().await;
    let r = invisible
        .request(login(PresenceState::Invisible, None))
        .await;
    assert!(matches!(r, Ok(Response::Session(_))), "{r:?}");
    let heard = bob.drain(Duration::from_millis(1500)).await;
    assert!(
        !heard
            .iter()
            .any(|e| matches!(e, Event::Presence { user, .. } if user == "alice")),
        "{heard:?}"
    );
    let mut offline = Client::connect(server.addr).await;
    offline.hello().await;
    let r = offline.request(login(PresenceState::Offline, None)).await;
    assert!(
        matches!(&r, Err(e) if e.code == ErrorCode::Invalid && e.message.contains("invisible")),
        "{r:?}"
    );
}
