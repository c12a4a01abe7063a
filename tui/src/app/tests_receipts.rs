//! Read receipts and delivery in the client.

use std::time::Instant;

use crossterm::event::KeyCode;
use natter_shared::{
    ErrorCode, ErrorReply, Event, Reader, Request, Response, SessionInfo, features,
};

use super::receipts::{ReadersFor, seen_by};
use super::tests::{key, msg, requests, room_state, type_text};
use super::*;

/// alice, on a server with receipts, in #general and a conversation with
/// bob.
fn app() -> App {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    let all: Vec<String> = features::ALL.iter().map(|f| (*f).to_owned()).collect();
    app.on_welcome(&all);
    app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![room_state("#general", 0, 0), room_state("@bob", 0, 0)],
        blocked: Vec::new(),
        invitations: Vec::new(),
    });
    app
}

fn readers_asked(effects: &[Effect]) -> Vec<String> {
    requests(effects)
        .into_iter()
        .filter_map(|r| match r {
            Request::Readers { room, id: None } => Some(room.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn opening_a_room_asks_for_its_readers_once_per_connection() {
    let mut app = app();
    let bob = app.rooms.index_of("@bob").unwrap();
    assert_eq!(readers_asked(&app.switch_to(bob)), ["@bob"]);
    let general = app.rooms.index_of("#general").unwrap();
    app.switch_to(general);
    assert!(readers_asked(&app.switch_to(bob)).is_empty());
    app.on_reply(
        Then::Readers {
            room: "@bob".into(),
            what: ReadersFor::Fill,
        },
        Ok(Response::Readers {
            room: "@bob".into(),
            readers: vec![Reader {
                user: "bob".into(),
                read: 5,
            }],
            delivered: Some(7),
        }),
        0,
    );
    let r = app.rooms.by_name("@bob").unwrap();
    assert_eq!(
        (r.readers.get("bob"), r.delivered, r.receipts_shown),
        (Some(&5), 7, true)
    );
    // Events keep them; markers only move forward.
    app.on_event(
        Event::Receipt {
            room: "@bob".into(),
            user: "bob".into(),
            id: 9,
        },
        Instant::now(),
    );
    app.on_event(
        Event::Receipt {
            room: "@bob".into(),
            user: "bob".into(),
            id: 3,
        },
        Instant::now(),
    );
    app.on_event(
        Event::Delivered {
            room: "@bob".into(),
            id: 10,
        },
        Instant::now(),
    );
    let r = app.rooms.by_name("@bob").unwrap();
    assert_eq!((r.readers.get("bob"), r.delivered), (Some(&9), 10));
}

#[test]
fn what_arrives_in_a_conversation_is_acknowledged_and_rooms_are_not() {
    let mut app = app();
    let effects = app.on_event(Event::Message(msg(11, "@bob", "bob", "hi")), Instant::now());
    assert!(
        requests(&effects).contains(&&Request::Received {
            room: "@bob".into(),
            id: 11
        }),
        "{effects:?}"
    );
    let effects = app.on_event(
        Event::Message(msg(12, "#general", "bob", "hi")),
        Instant::now(),
    );
    assert!(
        !requests(&effects)
            .iter()
            .any(|r| matches!(r, Request::Received { .. }))
    );
    // Your own echo is not acknowledged.
    let effects = app.on_event(
        Event::Message(msg(13, "@bob", "alice", "yo")),
        Instant::now(),
    );
    assert!(
        !requests(&effects)
            .iter()
            .any(|r| matches!(r, Request::Received { .. }))
    );
}

#[test]
fn seen_and_receipts_commands_ask_and_say_what_they_heard() {
    let mut app = app();
    let now = Instant::now();
    type_text(&mut app, "/seen 42", now);
    let effects = app.on_key(key(KeyCode::Enter), now, 0);
    assert_eq!(
        requests(&effects),
        [&Request::Readers {
            room: "#general".into(),
            id: Some(42)
        }]
    );
    app.on_reply(
        Then::Readers {
            room: "#general".into(),
            what: ReadersFor::Seen(Some(42)),
        },
        Ok(Response::Readers {
            room: "#general".into(),
            readers: vec![
                Reader {
                    user: "bob".into(),
                    read: 50,
                },
                Reader {
                    user: "carol".into(),
                    read: 42,
                },
            ],
            delivered: None,
        }),
        0,
    );
    let last = |app: &App| match &app
        .rooms
        .by_name("#general")
        .unwrap()
        .entries
        .iter()
        .last()
        .unwrap()
        .kind
    {
        timeline::EntryKind::Notice(t) | timeline::EntryKind::Error(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(last(&app), "#42 seen by bob, carol");
    type_text(&mut app, "/receipts off", now);
    let effects = app.on_key(key(KeyCode::Enter), now, 0);
    assert_eq!(
        requests(&effects),
        [&Request::ShareReceipts { share: Some(false) }]
    );
    app.on_reply(
        Then::Sharing {
            room: "#general".into(),
        },
        Ok(Response::SharingReceipts { share: false }),
        0,
    );
    assert!(last(&app).starts_with("you do not share read receipts"));
    // Off, the server refuses /seen; the reason shows.
    app.on_reply(
        Then::Readers {
            room: "#general".into(),
            what: ReadersFor::Seen(None),
        },
        Err(ErrorReply::new(
            ErrorCode::Forbidden,
            "you do not share read receipts",
        )),
        0,
    );
    assert_eq!(last(&app), "you do not share read receipts");
}

#[test]
fn seen_by_lists_a_few_names_and_counts_the_rest() {
    let readers: std::collections::HashMap<String, u64> =
        ["bob", "carol", "dave", "erin", "fay", "gus"]
            .iter()
            .map(|n| ((*n).to_owned(), 10))
            .chain([("old".to_owned(), 3)])
            .collect();
    assert_eq!(
        seen_by(readers.iter(), "bob", 10).as_deref(),
        Some("seen by carol, dave, erin, fay and 1 more")
    );
    assert_eq!(seen_by(readers.iter(), "x", 11), None);
}
