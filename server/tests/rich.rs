//! Rich messaging against a real natterd over TCP, on real SQLite files:
//! replies and threads, edits, deletes, reactions, pages around a message
//! and catch-up by revision, across reconnects and restarts.

mod common;

use std::time::Duration;

use common::{Client, ServerExt, TestServer, code};
use natter_shared::{
    ErrorCode, ErrorReply, Event, HistoryQuery, Message, MessageId, ReactOp, Reaction, Request,
    Response, Rev, Role, features,
};

async fn post(
    c: &mut Client,
    room: &str,
    body: &str,
    reply_to: Option<MessageId>,
    thread: Option<MessageId>,
) -> Result<MessageId, ErrorReply> {
    let res = c
        .request(Request::Send {
            room: room.into(),
            body: body.into(),
            action: false,
            nonce: None,
            reply_to,
            thread,
            attention: false,
            files: Vec::new(),
        })
        .await?;
    match res {
        Response::Sent { id, .. } => Ok(id),
        other => panic!("{other:?}"),
    }
}

async fn said(c: &mut Client, room: &str, body: &str) -> MessageId {
    post(c, room, body, None, None).await.expect("sent")
}

/// A page: its messages, `more` and `rev`.
async fn page(c: &mut Client, room: &str, query: HistoryQuery) -> (Vec<Message>, bool, Rev) {
    match c
        .request(Request::History {
            room: room.into(),
            query,
        })
        .await
    {
        Ok(Response::Messages {
            messages,
            more,
            rev,
            ..
        }) => (messages, more, rev),
        other => panic!("{other:?}"),
    }
}

fn newest(limit: u32) -> HistoryQuery {
    HistoryQuery {
        limit,
        ..Default::default()
    }
}

fn since(rev: Rev) -> HistoryQuery {
    HistoryQuery {
        since: Some(rev),
        limit: 100,
        ..Default::default()
    }
}

fn edit(room: &str, id: MessageId, body: &str) -> Request {
    Request::Edit {
        room: room.into(),
        id,
        body: body.into(),
    }
}

fn delete(room: &str, id: MessageId) -> Request {
    Request::Delete {
        room: room.into(),
        id,
    }
}

fn react(room: &str, id: MessageId, key: &str, op: ReactOp) -> Request {
    Request::React {
        room: room.into(),
        id,
        key: key.into(),
        op,
    }
}

fn on(r: Result<Response, ErrorReply>) -> bool {
    match r {
        Ok(Response::Reacted { on }) => on,
        other => panic!("{other:?}"),
    }
}

fn find(messages: &[Message], id: MessageId) -> &Message {
    messages
        .iter()
        .find(|m| m.id == id)
        .unwrap_or_else(|| panic!("message {id} in {messages:?}"))
}

/// `owner` creates `room`.
async fn create(owner: &mut Client, room: &str, private: bool) {
    owner
        .request(Request::Create {
            room: room.into(),
            private,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn welcome_announces_rich_messaging_search_and_the_reaction_cap() {
    let server = TestServer::start(&["alice"], |c| c.limits.max_reaction_keys = 7).await;
    let mut c = Client::connect(server.addr).await;
    let Response::Welcome {
        features, limits, ..
    } = c.hello().await
    else {
        panic!("welcome");
    };
    for f in [
        features::REPLIES,
        features::THREADS,
        features::EDITS,
        features::DELETES,
        features::REACTIONS,
        features::CHANGES,
        features::AROUND,
        features::SEARCH,
    ] {
        assert!(features.iter().any(|x| x == f), "{f} in {features:?}");
    }
    assert_eq!(limits.max_reaction_keys, 7);
}

/// A message id the caller may not see gets one answer, byte for byte,
/// whether it is in a private room they are not in, in a conversation of
/// others, or nowhere; a room they may not see keeps the room rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_ids_out_of_sight_all_get_the_same_no_such_message() {
    let server = TestServer::start(&["alice", "bob", "eve"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut eve = server.login("eve").await;
    create(&mut alice, "#secret", true).await;
    let secret = said(&mut alice, "#secret", "plans").await;
    let direct = said(&mut alice, "@bob", "just us").await;
    let general = said(&mut bob, "#general", "hello").await;
    let nowhere = general + 1000;

    let mut answers = Vec::new();
    for id in [secret, direct, nowhere] {
        for r in [
            post(&mut eve, "#general", "re", Some(id), None).await.err(),
            post(&mut eve, "#general", "re", None, Some(id)).await.err(),
            eve.request(edit("#general", id, "x")).await.err(),
            eve.request(delete("#general", id)).await.err(),
            eve.request(react("#general", id, "👍", ReactOp::Add))
                .await
                .err(),
            eve.request(Request::History {
                room: "#general".into(),
                query: HistoryQuery {
                    around: Some(id),
                    limit: 10,
                    ..Default::default()
                },
            })
            .await
            .err(),
            eve.request(Request::History {
                room: "#general".into(),
                query: HistoryQuery {
                    thread: Some(id),
                    limit: 10,
                    ..Default::default()
                },
            })
            .await
            .err(),
        ] {
            answers.push(r.expect("refused"));
        }
    }
    let first = answers[0].clone();
    assert_eq!(first.code, ErrorCode::NoSuchMessage);
    for a in &answers {
        assert_eq!(
            natter_shared::encode(&natter_shared::ServerFrame::Err {
                id: 1,
                err: a.clone()
            })
            .unwrap(),
            natter_shared::encode(&natter_shared::ServerFrame::Err {
                id: 1,
                err: first.clone()
            })
            .unwrap()
        );
    }
    // Naming the private room itself: the room rule.
    assert_eq!(
        code(eve.request(edit("#secret", secret, "x")).await),
        ErrorCode::NoSuchRoom
    );
    assert_eq!(
        code(
            eve.request(react("#secret", secret, "👍", ReactOp::Add))
                .await
        ),
        ErrorCode::NoSuchRoom
    );
    // A message of one's own room is fine.
    let reply = post(&mut eve, "#general", "re", Some(general), None)
        .await
        .unwrap();
    let m = bob
        .event_where(|e| matches!(e, Event::Message(m) if m.id == reply))
        .await;
    let Event::Message(m) = m else { unreachable!() };
    assert_eq!(m.reply_to, Some(general));
    // A thread reply is no thread root.
    let in_thread = post(&mut eve, "#general", "in", None, Some(general))
        .await
        .unwrap();
    assert_eq!(
        post(&mut eve, "#general", "deeper", None, Some(in_thread))
            .await
            .unwrap_err(),
        first
    );
    // But replying to it is.
    post(&mut eve, "#general", "re in", Some(in_thread), None)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_author_edits_and_no_page_shows_the_old_body() {
    // A ring of 3: older messages are read from SQLite.
    let server = TestServer::start(&["alice", "bob"], |c| c.history.in_memory = 3).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let old = said(&mut alice, "#general", "old news").await;
    let mut ids = vec![old];
    for i in 0..5 {
        ids.push(said(&mut alice, "#general", &format!("filler {i}")).await);
    }
    let recent = *ids.last().unwrap();
    assert_eq!(
        code(bob.request(edit("#general", old, "mine now")).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(alice.request(edit("#general", old, "  ")).await),
        ErrorCode::Invalid
    );
    assert_eq!(
        code(
            alice
                .request(edit("#general", old, &"x".repeat(5000)))
                .await
        ),
        ErrorCode::TooLong
    );
    for (id, body) in [(old, "old, corrected"), (recent, "recent, corrected")] {
        assert_eq!(
            alice.request(edit("#general", id, body)).await,
            Ok(Response::Done)
        );
        let e = bob
            .event_where(|e| matches!(e, Event::Edited { id: i, .. } if *i == id))
            .await;
        let Event::Edited { body: b, .. } = e else {
            unreachable!()
        };
        assert_eq!(b, body);
    }
    // Newest page (from memory) and an old page (from disk), and around.
    let (messages, _, _) = page(&mut bob, "#general", newest(2)).await;
    assert_eq!(find(&messages, recent).body, "recent, corrected");
    assert!(find(&messages, recent).edited_at.is_some());
    let (messages, _, _) = page(&mut bob, "#general", newest(50)).await;
    assert_eq!(find(&messages, old).body, "old, corrected");
    for id in [old, recent] {
        let (messages, _, _) = page(
            &mut bob,
            "#general",
            HistoryQuery {
                around: Some(id),
                limit: 3,
                ..Default::default()
            },
        )
        .await;
        assert!(find(&messages, id).body.ends_with("corrected"));
    }
    // A deleted message cannot be edited.
    alice.request(delete("#general", recent)).await.unwrap();
    assert_eq!(
        code(alice.request(edit("#general", recent, "back")).await),
        ErrorCode::NoSuchMessage
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authors_and_moderators_delete_and_a_tombstone_keeps_the_place() {
    let server = TestServer::start(&["alice", "bob", "carol"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut carol = server.login("carol").await;
    create(&mut alice, "#club", false).await;
    for c in [&mut bob, &mut carol] {
        c.request(Request::Join {
            room: "#club".into(),
        })
        .await
        .unwrap();
    }
    let by_bob = said(&mut bob, "#club", "bob's").await;
    let by_carol = said(&mut carol, "#club", "carol's").await;
    let by_alice = said(&mut alice, "#club", "alice's").await;
    // A plain member deletes only their own.
    assert_eq!(
        code(carol.request(delete("#club", by_bob)).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        carol.request(delete("#club", by_carol)).await,
        Ok(Response::Done)
    );
    // A moderator deletes anyone's.
    alice
        .request(Request::SetRole {
            room: "#club".into(),
            user: "carol".into(),
            role: Role::Moderator,
        })
        .await
        .unwrap();
    bob.request(react("#club", by_bob, "🎉", ReactOp::Add))
        .await
        .unwrap();
    assert_eq!(
        carol.request(delete("#club", by_bob)).await,
        Ok(Response::Done)
    );
    let e = bob
        .event_where(|e| matches!(e, Event::Deleted { id, .. } if *id == by_bob))
        .await;
    assert!(matches!(e, Event::Deleted { by, .. } if by == "carol"));
    // Twice: gone.
    assert_eq!(
        code(alice.request(delete("#club", by_bob)).await),
        ErrorCode::NoSuchMessage
    );
    assert_eq!(
        code(
            bob.request(react("#club", by_bob, "🎉", ReactOp::Add))
                .await
        ),
        ErrorCode::NoSuchMessage
    );
    let (messages, _, _) = page(&mut bob, "#club", newest(10)).await;
    let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [by_bob, by_carol, by_alice]);
    for id in [by_bob, by_carol] {
        let m = find(&messages, id);
        assert!(
            m.deleted && m.body.is_empty() && m.reactions.is_empty(),
            "{m:?}"
        );
    }
    assert_eq!(find(&messages, by_alice).body, "alice's");
    // A reply to a tombstone is allowed.
    post(&mut bob, "#club", "what was that?", Some(by_bob), None)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_toggle_add_remove_within_their_cap_and_rate() {
    let server = TestServer::start(&["alice", "bob"], |c| {
        c.limits.max_reaction_keys = 2;
        c.limits.reactions_per_user_per_minute = 8;
    })
    .await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let id = said(&mut alice, "#general", "vote").await;
    assert!(on(bob
        .request(react("#general", id, "👍", ReactOp::Toggle))
        .await));
    let e = alice
        .event_where(|e| matches!(e, Event::Reaction { .. }))
        .await;
    assert!(
        matches!(e, Event::Reaction { ref key, ref user, on: true, .. } if key == "👍" && user == "bob")
    );
    assert!(on(alice
        .request(react("#general", id, ":tada:", ReactOp::Add))
        .await));
    assert!(on(alice
        .request(react("#general", id, "👍", ReactOp::Add))
        .await));
    // Already there: still on, and nobody hears of it again.
    assert!(on(alice
        .request(react("#general", id, "👍", ReactOp::Add))
        .await));
    // A third key is over the cap; a used key is not.
    let over = bob
        .request(react("#general", id, "🎉", ReactOp::Add))
        .await
        .unwrap_err();
    assert_eq!(over.code, ErrorCode::Quota);
    let (messages, _, _) = page(&mut bob, "#general", newest(10)).await;
    assert_eq!(
        find(&messages, id).reactions,
        [
            Reaction {
                key: "👍".into(),
                users: vec!["bob".into(), "alice".into()]
            },
            Reaction {
                key: ":tada:".into(),
                users: vec!["alice".into()]
            },
        ]
    );
    assert!(!on(bob
        .request(react("#general", id, "👍", ReactOp::Toggle))
        .await));
    assert!(!on(bob
        .request(react("#general", id, "👍", ReactOp::Remove))
        .await));
    // Bad keys and operations.
    let bad = bob
        .request(react("#general", id, "hello", ReactOp::Add))
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::Invalid);
    assert_eq!(
        Err(bad.message.as_str()),
        natter_shared::names::reaction_key("hello")
    );
    assert_eq!(
        code(
            bob.request(react("#general", id, "👍", ReactOp::Unknown))
                .await
        ),
        ErrorCode::Invalid
    );
    // The rate: bob has used 4 (2 refused ones were refunded or never
    // counted); the burst is 8.
    let mut limited = None;
    for _ in 0..10 {
        match bob
            .request(react("#general", id, "👍", ReactOp::Toggle))
            .await
        {
            Ok(_) => {}
            Err(e) => {
                limited = Some(e);
                break;
            }
        }
    }
    let limited = limited.expect("rate limited");
    assert_eq!(limited.code, ErrorCode::RateLimited);
    assert!(limited.retry_after_ms.is_some_and(|ms| ms > 0));
    // Every change reached alice, in order, with increasing revisions.
    let events = alice.drain(Duration::from_millis(200)).await;
    let revs: Vec<Rev> = events
        .iter()
        .filter_map(|e| match e {
            Event::Reaction { rev, .. } => Some(*rev),
            _ => None,
        })
        .collect();
    assert!(revs.windows(2).all(|w| w[0] < w[1]), "{revs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_have_their_own_pages_and_their_roots_a_summary() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let root = said(&mut alice, "#general", "topic").await;
    let mut replies = Vec::new();
    for i in 0..3 {
        let c = if i % 2 == 0 { &mut bob } else { &mut alice };
        replies.push(
            post(c, "#general", &format!("reply {i}"), None, Some(root))
                .await
                .unwrap(),
        );
    }
    let after = said(&mut alice, "#general", "meanwhile").await;
    // The room's page leaves the replies out; the root carries the summary.
    let (messages, _, _) = page(&mut bob, "#general", newest(10)).await;
    let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [root, after]);
    let summary = find(&messages, root).replies.clone().expect("a summary");
    assert_eq!((summary.count, summary.last_from.as_str()), (3, "bob"));
    // The thread's page: root first, then the replies in order.
    let thread = |before, limit| HistoryQuery {
        thread: Some(root),
        before,
        limit,
        ..Default::default()
    };
    let (messages, more, _) = page(&mut bob, "#general", thread(None, 10)).await;
    let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [root, replies[0], replies[1], replies[2]]);
    assert!(!more);
    assert!(messages[1..].iter().all(|m| m.thread == Some(root)));
    let (messages, more, _) = page(&mut bob, "#general", thread(None, 2)).await;
    let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [root, replies[1], replies[2]]);
    assert!(more);
    let (messages, more, _) = page(&mut bob, "#general", thread(Some(replies[1]), 2)).await;
    let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [root, replies[0]]);
    assert!(!more);
    // The same summary after a restart, from disk.
    drop((alice, bob));
    let mut server = server;
    server.stop().await;
    let server = TestServer::start_in(&server.data_dir.clone(), |_| {}).await;
    let mut bob = server.login("bob").await;
    let (messages, _, _) = page(&mut bob, "#general", newest(10)).await;
    assert_eq!(find(&messages, root).replies, Some(summary));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_around_a_message_holds_it_in_the_middle() {
    let server = TestServer::start(&["alice"], |c| c.history.in_memory = 4).await;
    let mut alice = server.login("alice").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(said(&mut alice, "#general", &format!("m{i}")).await);
    }
    let (messages, more, _) = page(
        &mut alice,
        "#general",
        HistoryQuery {
            around: Some(ids[10]),
            limit: 5,
            ..Default::default()
        },
    )
    .await;
    let got: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    assert_eq!(got, ids[8..13]);
    assert!(more);
    let (messages, more, _) = page(
        &mut alice,
        "#general",
        HistoryQuery {
            around: Some(ids[0]),
            limit: 5,
            ..Default::default()
        },
    )
    .await;
    let got: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    assert_eq!(got, ids[0..3]);
    assert!(!more);
}

/// What bob should hold of `#general`: every message, replies included, as
/// it is now, by id.
async fn everything(c: &mut Client) -> Vec<Message> {
    let (mut messages, more, _) = page(c, "#general", since(0)).await;
    assert!(!more);
    messages.sort_by_key(|m| m.id);
    messages
}

/// Applies a catch-up to what a client held: each message replaces the
/// held one with its id.
fn merged(mut held: Vec<Message>, news: Vec<Message>) -> Vec<Message> {
    for m in news {
        match held.iter_mut().find(|h| h.id == m.id) {
            Some(h) => *h = m,
            None => held.push(m),
        }
    }
    held.sort_by_key(|m| m.id);
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_was_away_catches_up_exactly_across_a_reconnect_and_a_restart() {
    let mut server = TestServer::start(&["alice", "bob"], |c| c.history.in_memory = 3).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(said(&mut alice, "#general", &format!("m{i}")).await);
    }
    let held = everything(&mut bob).await;
    let (_, _, rev) = page(&mut bob, "#general", newest(10)).await;
    drop(bob);
    // While bob is away.
    alice
        .request(edit("#general", ids[0], "m0 (edited)"))
        .await
        .unwrap();
    alice.request(delete("#general", ids[1])).await.unwrap();
    alice
        .request(react("#general", ids[5], "👀", ReactOp::Add))
        .await
        .unwrap();
    let new = said(&mut alice, "#general", "new").await;
    let reply = post(&mut alice, "#general", "threaded", None, Some(ids[2]))
        .await
        .unwrap();

    let mut bob = server.login("bob").await;
    let (news, more, next) = page(&mut bob, "#general", since(rev)).await;
    assert!(!more);
    assert!(next > rev);
    let changed: Vec<MessageId> = news.iter().map(|m| m.id).collect();
    for id in [ids[0], ids[1], ids[2], ids[5], new, reply] {
        assert!(changed.contains(&id), "{id} in {changed:?}");
    }
    assert!(!changed.contains(&ids[3]) && !changed.contains(&ids[4]));
    assert!(news.windows(2).all(|w| w[0].rev < w[1].rev));
    let now = everything(&mut bob).await;
    assert_eq!(merged(held.clone(), news.clone()), now);
    assert_eq!(find(&now, ids[0]).body, "m0 (edited)");
    assert!(find(&now, ids[1]).deleted);
    assert_eq!(find(&now, ids[5]).reactions.len(), 1);
    assert_eq!(
        find(&now, ids[2]).replies.as_ref().map(|s| s.count),
        Some(1)
    );
    // Pages read from disk and around agree.
    let (messages, _, _) = page(&mut bob, "#general", newest(50)).await;
    assert_eq!(find(&messages, ids[5]).reactions.len(), 1);
    assert_eq!(find(&messages, ids[0]).body, "m0 (edited)");
    let (messages, _, _) = page(
        &mut bob,
        "#general",
        HistoryQuery {
            around: Some(ids[5]),
            limit: 3,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(find(&messages, ids[5]).reactions.len(), 1);
    // Nothing new since: an empty catch-up at the same revision.
    let (empty, _, same) = page(&mut bob, "#general", since(next)).await;
    assert!(empty.is_empty());
    assert_eq!(same, next);
    // A small page: `more`, and the reply's rev continues it.
    let (first, more, cont) = page(
        &mut bob,
        "#general",
        HistoryQuery {
            since: Some(rev),
            limit: 2,
            ..Default::default()
        },
    )
    .await;
    assert!(more);
    assert_eq!(cont, first[1].rev);
    let (rest, _, _) = page(&mut bob, "#general", since(cont)).await;
    assert_eq!([first, rest].concat(), news);

    // Across a restart: the same catch-up from the same revision, and
    // revisions keep increasing.
    drop((alice, bob));
    server.stop().await;
    let server = TestServer::start_in(&server.data_dir.clone(), |c| c.history.in_memory = 3).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let (again, _, _) = page(&mut bob, "#general", since(rev)).await;
    assert_eq!(again, news);
    assert_eq!(merged(held, again), everything(&mut bob).await);
    alice
        .request(edit("#general", new, "new (edited)"))
        .await
        .unwrap();
    let (latest, _, _) = page(&mut bob, "#general", since(next)).await;
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].body, "new (edited)");
    assert!(latest[0].rev > next);
    // The in-memory page, loaded at start-up, agrees with the store.
    let (messages, _, _) = page(&mut bob, "#general", newest(2)).await;
    assert_eq!(find(&messages, new).body, "new (edited)");
    assert_eq!(find(&messages, ids[5]).reactions.len(), 1);
}

/// In a direct conversation each side sees the change under its own name
/// for the room; a block holds no change back (clients hide what they
/// hide).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_both_sides_of_a_conversation_and_blockers_too() {
    let server = TestServer::start(&["alice", "bob", "carol"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut carol = server.login("carol").await;
    let direct = said(&mut alice, "@bob", "psst").await;
    alice.request(edit("@bob", direct, "psst!")).await.unwrap();
    let e = bob.event_where(|e| matches!(e, Event::Edited { .. })).await;
    assert!(matches!(e, Event::Edited { ref room, id, .. } if room == "@alice" && id == direct));
    let e = alice
        .event_where(|e| matches!(e, Event::Edited { .. }))
        .await;
    assert!(matches!(e, Event::Edited { ref room, .. } if room == "@bob"));
    // Only the author deletes in a conversation.
    assert_eq!(
        code(bob.request(delete("@alice", direct)).await),
        ErrorCode::Forbidden
    );
    assert!(on(bob
        .request(react("@alice", direct, "👍", ReactOp::Add))
        .await));
    // Carol, in neither, cannot name it.
    assert_eq!(
        code(
            carol
                .request(react("#general", direct, "👍", ReactOp::Add))
                .await
        ),
        ErrorCode::NoSuchMessage
    );
    // A blocker still hears of the blocked user's changes.
    carol
        .request(Request::Block {
            user: "alice".into(),
        })
        .await
        .unwrap();
    let id = said(&mut alice, "#general", "hi all").await;
    alice
        .request(edit("#general", id, "hi all!"))
        .await
        .unwrap();
    alice
        .request(react("#general", id, "🎉", ReactOp::Add))
        .await
        .unwrap();
    carol
        .event_where(|e| matches!(e, Event::Edited { id: i, .. } if *i == id))
        .await;
    carol
        .event_where(|e| matches!(e, Event::Reaction { id: i, .. } if *i == id))
        .await;
}
