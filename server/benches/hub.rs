//! The server's fan-out path, through natter-server's public API only:
//!
//! - `fanout`: one message event encoded once and queued on 1000
//!   connection outboxes (`Outbox::push`), with empty queues (the writer
//!   keeps up, so every push wakes it) and with queues already holding a
//!   backlog.
//! - `hub_deliver`: `Hub::deliver` of one committed message into a room of
//!   1000 members, each with a session: ring append, unread counts, the
//!   sender's acknowledgement, one encode and 1000 pushes.
//! - `hub_ring`: the per-room history ring, as far as it is reachable:
//!   delivering into a full ring of a room nobody is connected to (append,
//!   evict, counts, encode) and answering history pages from it
//!   (`Hub::plan_history`).
//!
//! Outboxes have no public way to be drained without a socket, so state
//! whose queues fill up is rebuilt every few iterations outside the timed
//! part (`iter_custom`).
//!
//! Run: `cargo bench -p natter-server --bench hub -- --warm-up-time 1
//! --measurement-time 3`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use natter_server::Config;
use natter_server::hub::{HistoryPlan, Hub};
use natter_server::outbox::Outbox;
use natter_server::store::{Committed, MemberRow, RoomRow, StoredMessage, UserRow};
use natter_server::store::{Origin, RoomSnapshot};
use natter_shared::{
    Event, HistoryQuery, Message, MessageId, Response, Role, RoomKind, ServerFrame,
};

/// Members of the big room, and outboxes in the fan-out case.
const MEMBERS: u16 = 1000;
/// A 48-character chat line.
const BODY: &str = "did the deploy finish? the dashboard looks green";
const ROOM_ID: i64 = 1;
const T0: i64 = 1_763_800_000_000;

/// Runs `routine` `iters` times, timing only it, with fresh state from
/// `setup` before every `chunk` runs (untimed).
fn chunked<S>(
    iters: u64,
    chunk: u64,
    mut setup: impl FnMut() -> S,
    mut routine: impl FnMut(&mut S),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(chunk);
        let mut state = setup();
        let start = Instant::now();
        for _ in 0..n {
            routine(&mut state);
        }
        total += start.elapsed();
        // Dropping the queued frames is not part of the work measured.
        drop(state);
        left -= n;
    }
    total
}

fn message_frame(id: MessageId) -> ServerFrame {
    ServerFrame::Event(Event::Message(Message {
        id,
        ts: T0,
        room: "#general".into(),
        from: "user0".into(),
        body: BODY.into(),
        action: false,
        nonce: None,
        ..Default::default()
    }))
}

fn outboxes(limit: usize) -> Vec<Arc<Outbox>> {
    (0..MEMBERS).map(|_| Arc::new(Outbox::new(limit))).collect()
}

fn fanout(c: &mut Criterion) {
    let limit = Config::default().limits.outbound_queue_bytes;
    let frame = message_frame(1);
    let mut g = c.benchmark_group("fanout");
    g.throughput(Throughput::Elements(u64::from(MEMBERS)));
    g.bench_function("encode_once_push_1000/empty_queues", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                1,
                || outboxes(limit),
                |boxes| {
                    let bytes: Bytes = natter_shared::encode(black_box(&frame)).unwrap();
                    for o in boxes.iter() {
                        assert!(o.push(bytes.clone()));
                    }
                },
            )
        });
    });
    g.bench_function("encode_once_push_1000/backlogged_queues", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                256,
                || outboxes(limit),
                |boxes| {
                    let bytes: Bytes = natter_shared::encode(black_box(&frame)).unwrap();
                    for o in boxes.iter() {
                        assert!(o.push(bytes.clone()));
                    }
                },
            )
        });
    });
    g.finish();
}

fn user(id: i64) -> UserRow {
    UserRow {
        id,
        name: format!("user{id}"),
        pw_hash: String::new(),
        admin: false,
        suspended: false,
    }
}

fn stored(id: MessageId, author: &Arc<str>) -> StoredMessage {
    StoredMessage {
        id,
        room_id: ROOM_ID,
        author: Arc::clone(author),
        body: BODY.into(),
        action: false,
        ts: T0 + i64::try_from(id).unwrap_or(0),
        rev: id,
        ..StoredMessage::default()
    }
}

/// A hub holding `#general` with `members` members (user ids 0..) whose
/// ring is full, everyone having read it all; the first `sessions` members
/// are connected, session id = user id. Returns the next message id.
fn room_hub(members: u16, sessions: u16) -> (Hub, Vec<Arc<Outbox>>, MessageId) {
    let config = Arc::new(Config::default());
    let ring = natter_server::hub::ring_cap(&config);
    let limit = config.limits.outbound_queue_bytes;
    let mut hub = Hub::new(Arc::clone(&config), 0, Arc::default());
    let mut boxes = Vec::with_capacity(usize::from(sessions));
    // Sessions first: before the room exists nobody has co-members to tell
    // about the new presence, so the queues start empty.
    for id in 0..sessions {
        let outbox = Arc::new(Outbox::new(limit));
        hub.add_session(
            u64::from(id),
            &user(i64::from(id)),
            natter_server::front::Protocol::Natter,
            Arc::clone(&outbox),
            None,
            None,
            0,
        );
        boxes.push(outbox);
    }
    let author: Arc<str> = "user0".into();
    let last = ring as MessageId;
    let recent = (1..=last).map(|id| stored(id, &author)).collect();
    let members = (0..i64::from(members))
        .map(|id| MemberRow {
            room_id: ROOM_ID,
            user_id: id,
            user_name: format!("user{id}"),
            admin: false,
            role: if id == 0 { Role::Owner } else { Role::Member },
            last_read: last,
            delivered: 0,
        })
        .collect();
    hub.install_room(RoomSnapshot {
        row: RoomRow {
            id: ROOM_ID,
            name: "general".into(),
            kind: RoomKind::Public,
            topic: String::new(),
            announce: false,
            category: None,
        },
        members,
        bans: Vec::new(),
        recent,
        floor: 0,
        far_counts: HashMap::new(),
        last_rev: last,
    });
    (hub, boxes, last + 1)
}

/// The acknowledgement a send from session 0 expects.
fn origin(request: u64) -> Origin {
    Origin {
        session: 0,
        request,
        nonce: None,
        received: std::time::Instant::now(),
    }
}

fn hub_deliver(c: &mut Criterion) {
    let author: Arc<str> = "user0".into();
    let mut g = c.benchmark_group("hub_deliver");
    g.throughput(Throughput::Elements(u64::from(MEMBERS)));
    g.bench_function("room_1000_members_1000_sessions", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                64,
                || room_hub(MEMBERS, MEMBERS),
                |(hub, _boxes, next)| {
                    let batch: Committed = vec![(stored(*next, &author), Some(origin(*next)))];
                    *next += 1;
                    hub.deliver(black_box(batch));
                },
            )
        });
    });
    g.finish();
    // The fan-out really reached everyone, acknowledgement included.
    let (mut hub, boxes, next) = room_hub(MEMBERS, MEMBERS);
    hub.deliver(vec![(stored(next, &author), Some(origin(next)))]);
    assert!(boxes.iter().all(|o| !o.is_closed()));
}

fn hub_ring(c: &mut Criterion) {
    let author: Arc<str> = "user0".into();
    let mut g = c.benchmark_group("hub_ring");
    g.throughput(Throughput::Elements(1));
    // Nobody connected: what is left is the ring (append, evict the
    // oldest), one member's unread count and the one encode.
    g.bench_function("deliver_full_ring_no_sessions", |b| {
        let (mut hub, _, mut next) = room_hub(2, 0);
        b.iter(|| {
            let batch: Committed = vec![(stored(next, &author), None)];
            next += 1;
            hub.deliver(black_box(batch));
        });
    });
    let (hub, _boxes, next) = room_hub(2, 1);
    let page = |before: Option<MessageId>, limit: u32| HistoryQuery {
        before,
        after: None,
        limit,
        ..Default::default()
    };
    let check = |plan: HistoryPlan| match plan {
        HistoryPlan::Ready(Response::Messages { messages, .. }) => messages.len(),
        other => panic!("expected a page from memory, got {other:?}"),
    };
    assert_eq!(
        check(hub.plan_history(0, "#general", page(None, 50)).unwrap()),
        50
    );
    g.bench_function("history_newest_50", |b| {
        b.iter(|| {
            check(
                hub.plan_history(0, "#general", black_box(page(None, 50)))
                    .unwrap(),
            )
        });
    });
    let middle = Some(next / 2);
    g.bench_function("history_50_before_middle", |b| {
        b.iter(|| {
            check(
                hub.plan_history(0, "#general", black_box(page(middle, 50)))
                    .unwrap(),
            )
        });
    });
    g.finish();
}

criterion_group!(benches, fanout, hub_deliver, hub_ring);
criterion_main!(benches);
