//! Read receipts and delivery against a real natterd over TCP, on real
//! SQLite files: receipts as events in small rooms and direct
//! conversations, `Readers` on request anywhere, a direct message going
//! sent → delivered → seen, sharing turned off both ways, blocks, and all
//! of it across a restart.
//!
//! Where a test shows that an event did *not* come, it waits for a later
//! event on the same connection instead of a timeout: the server sends
//! each connection's events in order, so anything owed comes first.

mod common;

use common::{Client, ServerExt, TestServer, code};
use natter_shared::{ErrorCode, Event, MessageId, Reader, Request, Response, features};

async fn sent(c: &mut Client, room: &str, body: &str) -> MessageId {
    match c.send_text(room, body).await {
        Ok(Response::Sent { id, .. }) => id,
        other => panic!("{other:?}"),
    }
}

async fn mark(c: &mut Client, room: &str, id: MessageId) {
    c.request(Request::MarkRead {
        room: room.into(),
        id,
    })
    .await
    .unwrap();
}

async fn readers(
    c: &mut Client,
    room: &str,
    id: Option<MessageId>,
) -> (Vec<Reader>, Option<MessageId>) {
    match c
        .request(Request::Readers {
            room: room.into(),
            id,
        })
        .await
        .unwrap()
    {
        Response::Readers {
            readers, delivered, ..
        } => (readers, delivered),
        other => panic!("{other:?}"),
    }
}

async fn share(c: &mut Client, share: Option<bool>) -> bool {
    match c.request(Request::ShareReceipts { share }).await.unwrap() {
        Response::SharingReceipts { share } => share,
        other => panic!("{other:?}"),
    }
}

/// Every event up to and including the first that `last` accepts.
async fn events_until(c: &mut Client, last: impl Fn(&Event) -> bool) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let e = c.event().await;
        let done = last(&e);
        out.push(e);
        if done {
            return out;
        }
    }
}

fn receipts_in(events: &[Event]) -> Vec<(String, String, MessageId)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Receipt { room, user, id } => Some((room.clone(), user.clone(), *id)),
            _ => None,
        })
        .collect()
}

fn is_message(id: MessageId) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Message(m) if m.id == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_goes_sent_delivered_seen_and_room_receipts_reach_members() {
    let mut server = TestServer::start(&["alice", "bob", "carol"], |_| {}).await;
    let Response::Welcome { features, .. } = Client::connect(server.addr).await.hello().await
    else {
        panic!("welcome");
    };
    assert!(features.iter().any(|f| f == features::RECEIPTS));
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let mut carol = server.login("carol").await;

    // A room: bob's marker reaches alice and carol, not bob himself.
    let m1 = sent(&mut alice, "#general", "standup in 5").await;
    mark(&mut bob, "#general", m1).await;
    for c in [&mut alice, &mut carol] {
        let e = c.event_where(|e| matches!(e, Event::Receipt { .. })).await;
        assert_eq!(
            e,
            Event::Receipt {
                room: "#general".into(),
                user: "bob".into(),
                id: m1
            }
        );
    }
    let (who, delivered) = readers(&mut alice, "#general", Some(m1)).await;
    assert_eq!(
        who,
        [Reader {
            user: "bob".into(),
            read: m1
        }]
    );
    assert_eq!(delivered, None);
    let probe = sent(&mut carol, "#general", "probe").await;
    let bobs = events_until(&mut bob, is_message(probe)).await;
    assert!(
        receipts_in(&bobs).iter().all(|(_, user, _)| user != "bob"),
        "{bobs:?}"
    );

    // A direct message: delivered once bob's client says it received it,
    // seen once he reads it.
    let dm = sent(&mut alice, "@bob", "got a minute?").await;
    bob.event_where(is_message(dm)).await;
    bob.request(Request::Received {
        room: "@alice".into(),
        id: dm,
    })
    .await
    .unwrap();
    let e = alice
        .event_where(|e| matches!(e, Event::Delivered { .. }))
        .await;
    assert_eq!(
        e,
        Event::Delivered {
            room: "@bob".into(),
            id: dm
        }
    );
    mark(&mut bob, "@alice", dm).await;
    let e = alice
        .event_where(|e| matches!(e, Event::Receipt { room, .. } if room == "@bob"))
        .await;
    assert_eq!(
        e,
        Event::Receipt {
            room: "@bob".into(),
            user: "bob".into(),
            id: dm
        }
    );
    let (who, delivered) = readers(&mut alice, "@bob", None).await;
    assert_eq!((who.len(), who[0].read, delivered), (1, dm, Some(dm)));
    // Received in a room changes nothing and is no error.
    assert_eq!(
        bob.request(Request::Received {
            room: "#general".into(),
            id: m1,
        })
        .await,
        Ok(Response::Done)
    );

    // Carol blocks bob: his receipts no longer reach her, nor hers him.
    carol
        .request(Request::Block { user: "bob".into() })
        .await
        .unwrap();
    let m2 = sent(&mut alice, "#general", "lunch?").await;
    mark(&mut bob, "#general", m2).await;
    alice
        .event_where(|e| matches!(e, Event::Receipt { id, .. } if *id == m2))
        .await;
    let probe = sent(&mut alice, "#general", "probe 2").await;
    let carols = events_until(&mut carol, is_message(probe)).await;
    assert!(
        receipts_in(&carols)
            .iter()
            .all(|(_, user, _)| user != "bob"),
        "{carols:?}"
    );
    let (who, _) = readers(&mut carol, "#general", None).await;
    assert!(who.iter().all(|r| r.user != "bob"), "{who:?}");

    // Bob stops sharing: nobody sees his, he sees nobody's.
    assert!(share(&mut bob, None).await);
    assert!(!share(&mut bob, Some(false)).await);
    let m3 = sent(&mut alice, "#general", "anyone?").await;
    mark(&mut bob, "#general", m3).await;
    let probe = sent(&mut carol, "#general", "probe 3").await;
    let alices = events_until(&mut alice, is_message(probe)).await;
    assert!(
        receipts_in(&alices)
            .iter()
            .all(|(_, user, _)| user != "bob"),
        "{alices:?}"
    );
    assert_eq!(
        code(
            bob.request(Request::Readers {
                room: "#general".into(),
                id: None
            })
            .await
        ),
        ErrorCode::Forbidden
    );
    let (who, _) = readers(&mut alice, "#general", None).await;
    assert!(who.iter().all(|r| r.user != "bob"), "{who:?}");

    // Kept across a restart: the setting and the delivery marker.
    drop((alice, bob, carol));
    server.stop().await;
    let server = TestServer::start_in(&server.data_dir.clone(), |_| {}).await;
    let mut bob = server.login("bob").await;
    assert!(!share(&mut bob, None).await);
    assert!(share(&mut bob, Some(true)).await);
    let mut alice = server.login("alice").await;
    let (who, delivered) = readers(&mut alice, "@bob", None).await;
    assert_eq!((who[0].read, delivered), (dm, Some(dm)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn larger_rooms_answer_readers_on_request_only() {
    let server = TestServer::start(&["alice", "bob", "carol"], |c| {
        c.limits.receipts_max_members = 2;
    })
    .await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    let m = sent(&mut alice, "#general", "big room").await;
    mark(&mut bob, "#general", m).await;
    let probe = sent(&mut bob, "#general", "probe").await;
    let alices = events_until(&mut alice, is_message(probe)).await;
    assert!(receipts_in(&alices).is_empty(), "{alices:?}");
    let (who, _) = readers(&mut alice, "#general", Some(m)).await;
    assert_eq!(
        who.iter().map(|r| r.user.as_str()).collect::<Vec<_>>(),
        ["bob"]
    );
    // Up to a later message: bob has not read that far.
    let (who, _) = readers(&mut alice, "#general", Some(probe + 1000)).await;
    assert!(who.is_empty());
}
