//! State changes without a terminal: keys, events and replies in, state
//! and effects out.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use natter_shared::{
    Event, Member, Message, PresenceState, Request, Response, Role, RoomKind, RoomState,
    SessionInfo,
};

use super::*;

pub fn room_state(name: &str, unread: u32, mentions: u32) -> RoomState {
    RoomState {
        name: name.into(),
        kind: if name.starts_with('@') {
            RoomKind::Direct
        } else {
            RoomKind::Public
        },
        topic: String::new(),
        role: Role::Member,
        unread,
        mentions,
        last_read: 0,
        last_id: 10,
        members: 2,
        announce: false,
        category: None,
    }
}

pub fn online_app() -> App {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![room_state("#general", 0, 0), room_state("#rust", 2, 1)],
        blocked: Vec::new(),
        invitations: Vec::new(),
    });
    app
}

pub fn msg(id: u64, room: &str, from: &str, body: &str) -> Message {
    Message {
        id,
        ts: 1_700_000_000_000 + i64::try_from(id).unwrap() * 60_000,
        room: room.into(),
        from: from.into(),
        body: body.into(),
        action: false,
        nonce: None,
        ..Default::default()
    }
}

pub(super) fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub(super) fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

pub(super) fn type_text(app: &mut App, text: &str, now: Instant) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in text.chars() {
        effects.extend(app.on_key(key(KeyCode::Char(c)), now, 0));
    }
    effects
}

/// Whether the effects move the read marker to `id`.
pub(super) fn marks_read(effects: &[Effect], id: u64) -> bool {
    requests(effects)
        .iter()
        .any(|r| matches!(r, Request::MarkRead { id: i, .. } if *i == id))
}

pub(super) fn requests(effects: &[Effect]) -> Vec<&Request> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Request { req, .. } => Some(req),
            _ => None,
        })
        .collect()
}

#[test]
fn login_lists_rooms_opens_general_and_fetches_its_history() {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    let effects = app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![
            room_state("#rust", 2, 1),
            room_state("#general", 0, 0),
            room_state("@bob", 1, 0),
        ],
        blocked: Vec::new(),
        invitations: Vec::new(),
    });
    let names: Vec<_> = app.rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["#general", "#rust", "@bob"],
        "rooms first, then conversations"
    );
    assert_eq!(app.room().unwrap().name, "#general");
    assert_eq!(app.total_unread(), 3);
    assert_eq!(app.title(), "natter (3)");
    assert!(matches!(
        requests(&effects)[..],
        [Request::History { room, .. }, Request::Members { .. }] if room == "#general"
    ));
}

#[test]
fn messages_elsewhere_count_as_unread_and_viewing_clears_them() {
    let mut app = online_app();
    let now = Instant::now();
    app.on_event(Event::Message(msg(11, "#rust", "bob", "hi @alice")), now);
    let rust = &app.rooms[1];
    assert_eq!((rust.unread, rust.mentions), (3, 2));
    // Switching there moves the read marker on the server once its
    // history shows the unread messages, all on one screen.
    app.on_key(ctrl('n'), now, 0);
    assert_eq!(app.room().unwrap().name, "#rust");
    let effects = app.on_reply(
        Then::History {
            room: "#rust".into(),
            older: true,
        },
        Ok(Response::Messages {
            room: "#rust".into(),
            messages: vec![msg(9, "#rust", "bob", "a"), msg(10, "#rust", "bob", "b")],
            more: false,
            rev: 0,
        }),
        0,
    );
    assert!(
        requests(&effects)
            .iter()
            .any(|r| matches!(r, Request::MarkRead { room, id: 11 } if room == "#rust"))
    );
    assert_eq!((app.rooms[1].unread, app.rooms[1].mentions), (0, 0));
    // Messages arriving in the room on screen are read at once.
    let effects = app.on_event(Event::Message(msg(12, "#rust", "bob", "more")), now);
    assert_eq!(app.rooms[1].unread, 0);
    assert!(marks_read(&effects, 12));
}

#[test]
fn mentions_and_direct_messages_notify_unless_seen() {
    let mut app = online_app();
    let now = Instant::now();
    let notes = |e: &[Effect]| {
        e.iter()
            .filter(|e| matches!(e, Effect::Notify { .. }))
            .count()
    };
    assert_eq!(
        notes(&app.on_event(Event::Message(msg(11, "#rust", "bob", "plain")), now)),
        0
    );
    assert_eq!(
        notes(&app.on_event(Event::Message(msg(12, "#rust", "bob", "hey @alice")), now)),
        1
    );
    // On screen and focused: no notification; unfocused: yes.
    assert_eq!(
        notes(&app.on_event(
            Event::Message(msg(13, "#general", "bob", "@alice here")),
            now
        )),
        0
    );
    app.on_focus(false);
    let effects = app.on_event(
        Event::Message(msg(14, "#general", "bob", "@alice still?")),
        now,
    );
    assert!(
        matches!(&effects[0], Effect::Notify { title, body } if title == "bob in #general" && body == "@alice still?")
    );
    // Your own messages never notify.
    assert_eq!(
        notes(&app.on_event(Event::Message(msg(15, "#general", "alice", "@alice")), now)),
        0
    );
}

/// A moderator's `@room` (the server set `attention`) counts, shows and
/// notifies as a mention, whatever its text.
#[test]
fn room_wide_attention_counts_and_notifies_as_a_mention() {
    let mut app = online_app();
    let now = Instant::now();
    let before = (app.rooms[1].unread, app.rooms[1].mentions);
    let mut m = msg(11, "#rust", "bob", "deploy 812 failed");
    m.attention = true;
    let effects = app.on_event(Event::Message(m), now);
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Notify { .. })),
        "{effects:?}"
    );
    assert_eq!(
        (app.rooms[1].unread, app.rooms[1].mentions),
        (before.0 + 1, before.1 + 1)
    );
    let entry = app.rooms[1].entries.iter().last().unwrap();
    assert!(entry.rich.attention);
}

#[test]
fn sending_shows_pending_then_sent_and_the_echo_is_not_doubled() {
    let mut app = online_app();
    let now = Instant::now();
    type_text(&mut app, "hello", now);
    let effects = app.on_key(key(KeyCode::Enter), now, 1000);
    let local = match effects.iter().find(|e| matches!(e, Effect::Send { .. })) {
        Some(Effect::Send {
            local, room, body, ..
        }) => {
            assert_eq!((room.as_str(), body.as_str()), ("#general", "hello"));
            *local
        }
        other => panic!("{other:?}"),
    };
    let last = || app_last(&app);
    assert!(matches!(
        last(),
        EntryKind::Msg {
            delivery: Delivery::Pending,
            ..
        }
    ));
    // The event may overtake the reply: it attaches to the pending entry.
    app.on_event(Event::Message(msg(20, "#general", "alice", "hello")), now);
    app.on_sent(local, Ok((20, 5)));
    let room = app.room().unwrap();
    assert_eq!(room.entries.len(), 1);
    assert!(matches!(
        &room.entries[0].kind,
        EntryKind::Msg {
            delivery: Delivery::Sent,
            ..
        }
    ));
    assert_eq!(app.composer.value(), "");
}

pub(super) fn app_last(app: &App) -> EntryKind {
    app.room().unwrap().entries.back().unwrap().kind.clone()
}

#[test]
fn a_refused_message_shows_why() {
    let mut app = online_app();
    let now = Instant::now();
    type_text(&mut app, "x", now);
    let effects = app.on_key(key(KeyCode::Enter), now, 0);
    let Some(Effect::Send { local, .. }) =
        effects.iter().find(|e| matches!(e, Effect::Send { .. }))
    else {
        panic!("no send");
    };
    app.on_sent(*local, Err("message is too long".into()));
    assert!(
        matches!(app_last(&app), EntryKind::Msg { delivery: Delivery::Failed(why), .. } if why.contains("too long"))
    );
}

#[test]
fn offline_messages_queue_and_go_out_in_order_on_reconnect() {
    let mut app = online_app();
    let now = Instant::now();
    app.on_conn(ConnState::Waiting {
        until: now + Duration::from_secs(4),
        attempt: 2,
        reason: "connection lost".into(),
    });
    for text in ["one", "two"] {
        type_text(&mut app, text, now);
        let effects = app.on_key(key(KeyCode::Enter), now, 0);
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::Send { .. })),
            "nothing sent offline"
        );
    }
    let effects = app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![room_state("#general", 0, 0), room_state("#rust", 0, 0)],
        blocked: Vec::new(),
        invitations: Vec::new(),
    });
    let bodies: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { body, .. } => Some(body.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, ["one", "two"]);
}

#[test]
fn reconnecting_catches_up_after_the_last_id_seen() {
    let mut app = online_app();
    app.on_reply(
        Then::History {
            room: "#general".into(),
            older: true,
        },
        Ok(Response::Messages {
            room: "#general".into(),
            messages: vec![
                msg(5, "#general", "bob", "a"),
                msg(7, "#general", "bob", "b"),
            ],
            more: false,
            rev: 0,
        }),
        0,
    );
    let mut state = room_state("#general", 3, 0);
    state.last_id = 12;
    let effects = app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![state, room_state("#rust", 0, 0)],
        blocked: Vec::new(),
        invitations: Vec::new(),
    });
    assert!(requests(&effects).iter().any(|r| matches!(
        r,
        Request::History { room, query } if room == "#general" && query.after == Some(7)
    )));
    // The catch-up page merges without duplicates.
    app.on_reply(
        Then::CatchUp {
            room: "#general".into(),
        },
        Ok(Response::Messages {
            room: "#general".into(),
            messages: vec![
                msg(7, "#general", "bob", "b"),
                msg(9, "#general", "carol", "c"),
            ],
            more: false,
            rev: 0,
        }),
        0,
    );
    let ids: Vec<_> = app
        .room()
        .unwrap()
        .entries
        .iter()
        .filter_map(|e| e.id)
        .collect();
    assert_eq!(ids, [5, 7, 9]);
}

#[test]
fn typing_starts_at_most_every_three_seconds_and_stops_on_send() {
    let mut app = online_app();
    let t0 = Instant::now();
    let starts = |e: &[Effect]| {
        requests(e)
            .iter()
            .filter(|r| matches!(r, Request::Typing { active: true, .. }))
            .count()
    };
    assert_eq!(starts(&type_text(&mut app, "hel", t0)), 1);
    assert_eq!(
        starts(&type_text(&mut app, "lo", t0 + Duration::from_secs(2))),
        0
    );
    assert_eq!(
        starts(&type_text(&mut app, "!", t0 + Duration::from_secs(4))),
        1
    );
    let effects = app.on_key(key(KeyCode::Enter), t0 + Duration::from_secs(5), 0);
    assert!(
        requests(&effects)
            .iter()
            .any(|r| matches!(r, Request::Typing { active: false, .. }))
    );
    // Commands are not typing.
    assert_eq!(
        starts(&type_text(&mut app, "/help", t0 + Duration::from_secs(9))),
        0
    );
}

#[test]
fn others_typing_reads_naturally_and_expires() {
    let mut app = online_app();
    let t0 = Instant::now();
    let typing = |user: &str| Event::Typing {
        room: "#general".into(),
        user: user.into(),
        active: true,
    };
    app.on_event(typing("bob"), t0);
    assert_eq!(app.typing_line().as_deref(), Some("bob is typing..."));
    app.on_event(typing("alice"), t0);
    assert_eq!(
        app.typing_line().as_deref(),
        Some("bob is typing..."),
        "not yourself"
    );
    app.on_event(typing("carol"), t0);
    assert_eq!(
        app.typing_line().as_deref(),
        Some("bob and carol are typing...")
    );
    app.on_event(typing("dave"), t0);
    assert_eq!(
        app.typing_line().as_deref(),
        Some("several people are typing...")
    );
    let next = app.on_tick(t0 + Duration::from_secs(1));
    assert_eq!(next, Some(t0 + TYPING_SHOWN));
    assert_eq!(app.on_tick(t0 + TYPING_SHOWN), None);
    assert_eq!(app.typing_line(), None);
}

pub(super) fn fill(app: &mut App, n: u64) {
    let messages = (1..=n)
        .map(|i| msg(i, "#general", "bob", &format!("message {i}")))
        .collect();
    load_older(app, messages, true);
}

/// Hands `messages` to the app as a page of older #general history.
pub(super) fn load_older(app: &mut App, messages: Vec<Message>, more: bool) {
    app.on_reply(
        Then::History {
            room: "#general".into(),
            older: true,
        },
        Ok(Response::Messages {
            room: "#general".into(),
            messages,
            more,
            rev: 0,
        }),
        0,
    );
}

#[test]
fn scrolled_up_new_messages_wait_below_and_end_returns() {
    let mut app = online_app();
    let now = Instant::now();
    fill(&mut app, 100);
    app.on_key(key(KeyCode::PageUp), now, 0);
    assert!(app.room().unwrap().scroll.is_some());
    let before = app.room().unwrap().scroll;
    app.on_event(Event::Message(msg(101, "#general", "bob", "new one")), now);
    app.on_event(
        Event::Message(msg(102, "#general", "bob", "and another")),
        now,
    );
    let room = app.room().unwrap();
    assert_eq!(room.new_below, 2);
    assert_eq!(
        room.scroll.unwrap().anchor,
        before.unwrap().anchor + 2,
        "the view stays put"
    );
    assert_eq!(room.unread, 2, "not read while scrolled up");
    let effects = app.on_key(key(KeyCode::End), now, 0);
    assert!(app.room().unwrap().scroll.is_none());
    assert_eq!(app.room().unwrap().new_below, 0);
    assert!(marks_read(&effects, 102));
}

#[test]
fn scrolling_past_the_top_fetches_the_previous_page() {
    let mut app = online_app();
    let now = Instant::now();
    fill(&mut app, 30);
    let mut fetched = None;
    for _ in 0..10 {
        let effects = app.on_key(key(KeyCode::PageUp), now, 0);
        if let Some(Request::History { query, .. }) = requests(&effects).first() {
            fetched = Some(query.before);
            break;
        }
    }
    assert_eq!(
        fetched,
        Some(Some(1)),
        "asks for messages before the oldest loaded"
    );
    assert!(app.room().unwrap().loading_older);
}

#[test]
fn a_huge_room_scrolls_by_anchors() {
    let mut app = online_app();
    let now = Instant::now();
    fill(&mut app, 100_000);
    for _ in 0..50 {
        app.on_key(key(KeyCode::PageUp), now, 0);
    }
    let s = app.room().unwrap().scroll.unwrap();
    assert!(s.anchor > 1000, "{s:?}");
    for _ in 0..50 {
        app.on_key(key(KeyCode::PageDown), now, 0);
    }
    assert!(app.room().unwrap().scroll.is_none(), "back at the bottom");
}

#[test]
fn all_the_way_up_lands_where_the_long_walk_does() {
    // Ctrl+Home takes a short cut to the top; any other huge distance walks
    // there entry by entry. Both must agree, with wrapped messages, day
    // lines, the "new" marker, notices, runs of hidden messages and any
    // starting position.
    let mut app = online_app();
    let long = "a message long enough to wrap over several rows at the narrower widths";
    let messages = (1..=40)
        .map(|i| {
            let mut m = msg(
                i,
                "#general",
                if i % 3 == 0 { "alice" } else { "bob" },
                long,
            );
            m.ts += i64::try_from(i / 7).unwrap() * 86_400_000;
            if i % 2 == 0 {
                m.body = format!("short {i}");
            }
            m
        })
        .collect();
    load_older(&mut app, messages, false);
    app.error(0, "a notice at the end");
    let full = app.room().unwrap().clone();
    for len in [1, 2, 5, 17, full.entries.len()] {
        for marker in [None, Some(0), Some(20)] {
            let mut room = full.clone();
            room.entries.truncate(len);
            room.marker = marker;
            for (width, blocked) in [12, 30, 80].into_iter().flat_map(|w| {
                [
                    (w, BTreeSet::new()),
                    (w, BTreeSet::from(["bob".to_owned()])),
                ]
            }) {
                let layout = text::Layout {
                    width,
                    utc_offset: 0,
                    me: "alice",
                    blocked: &blocked,
                    thumbs: None,
                };
                for height in 2..14 {
                    for start in [
                        None,
                        Some(Scroll { anchor: 0, skip: 1 }),
                        Some(Scroll { anchor: 3, skip: 0 }),
                    ] {
                        room.scroll = start;
                        assert_eq!(
                            layout.scroll(&room, usize::MAX, true, height),
                            layout.scroll(&room, usize::MAX - 1, true, height),
                            "len {len} marker {marker:?} width {width} height {height} from {start:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn commands_errors_and_switching() {
    let mut app = online_app();
    let now = Instant::now();
    type_text(&mut app, "/bogus", now);
    app.on_key(key(KeyCode::Enter), now, 0);
    assert!(matches!(app_last(&app), EntryKind::Error(e) if e.contains("unknown command /bogus")));
    type_text(&mut app, "/join", now);
    app.on_key(key(KeyCode::Enter), now, 0);
    assert!(matches!(app_last(&app), EntryKind::Error(e) if e == "usage: /join #room"));
    // Joining a room you are in switches to it without asking the server.
    type_text(&mut app, "/join rust", now);
    let effects = app.on_key(key(KeyCode::Enter), now, 0);
    assert_eq!(app.room().unwrap().name, "#rust");
    assert!(
        !requests(&effects)
            .iter()
            .any(|r| matches!(r, Request::Join { .. }))
    );
    type_text(&mut app, "/join #new", now);
    let effects = app.on_key(key(KeyCode::Enter), now, 0);
    assert!(matches!(requests(&effects)[..], [Request::Join { room }] if room == "#new"));
    // Alt+1 goes to the first room.
    app.on_key(KeyEvent::new(KeyCode::Char('1'), KeyModifiers::ALT), now, 0);
    assert_eq!(app.room().unwrap().name, "#general");
}

#[test]
fn paste_inserts_multiple_lines_as_one_message() {
    let mut app = online_app();
    let now = Instant::now();
    let effects = app.on_paste("line one\r\nline two", now);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Send { .. })));
    assert_eq!(app.composer.value(), "line one\nline two");
    let effects = app.on_key(key(KeyCode::Enter), now, 0);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Send { body, .. } if body == "line one\nline two"))
    );
    // Alt+Enter adds a line too.
    type_text(&mut app, "a", now);
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT), now, 0);
    type_text(&mut app, "b", now);
    assert_eq!(app.composer.value(), "a\nb");
}

#[test]
fn up_and_down_recall_what_was_sent() {
    let mut app = online_app();
    let now = Instant::now();
    for t in ["first", "second"] {
        type_text(&mut app, t, now);
        app.on_key(key(KeyCode::Enter), now, 0);
    }
    app.on_key(key(KeyCode::Up), now, 0);
    assert_eq!(app.composer.value(), "second");
    app.on_key(key(KeyCode::Up), now, 0);
    assert_eq!(app.composer.value(), "first");
    app.on_key(key(KeyCode::Down), now, 0);
    assert_eq!(app.composer.value(), "second");
    app.on_key(key(KeyCode::Down), now, 0);
    assert_eq!(app.composer.value(), "");
}

#[test]
fn tab_completes_nicks_rooms_and_commands() {
    let mut app = online_app();
    let now = Instant::now();
    app.on_reply(
        Then::Members {
            room: "#general".into(),
        },
        Ok(Response::Members {
            room: "#general".into(),
            members: ["alice", "bob", "bert"]
                .iter()
                .map(|n| Member {
                    bot: false,
                    guest: false,
                    name: (*n).into(),
                    role: Role::Member,
                    presence: PresenceState::Online,
                    status: None,
                    display_name: None,
                })
                .collect(),
        }),
        0,
    );
    // Recently active first: bert spoke last.
    app.on_event(Event::Message(msg(3, "#general", "bert", "hi")), now);
    type_text(&mut app, "b", now);
    app.on_key(key(KeyCode::Tab), now, 0);
    assert_eq!(app.composer.value(), "bert: ");
    app.on_key(key(KeyCode::Tab), now, 0);
    assert_eq!(app.composer.value(), "bob: ");
    app.on_key(key(KeyCode::Esc), now, 0);
    type_text(&mut app, "see #ru", now);
    app.on_key(key(KeyCode::Tab), now, 0);
    assert_eq!(app.composer.value(), "see #rust ");
    app.on_key(key(KeyCode::Esc), now, 0);
    type_text(&mut app, "/to", now);
    app.on_key(key(KeyCode::Tab), now, 0);
    assert_eq!(app.composer.value(), "/topic ");
}

#[test]
fn tab_offers_only_the_commands_the_server_supports_and_completes_paths() {
    let mut app = online_app();
    let now = Instant::now();
    app.on_welcome(&["direct".to_owned()]);
    type_text(&mut app, "/up", now);
    app.on_key(key(KeyCode::Tab), now, 0);
    assert_eq!(app.composer.value(), "/up", "a server without files");
    app.on_key(key(KeyCode::Esc), now, 0);
    app.on_welcome(&[natter_shared::features::FILES.to_owned()]);
    type_text(&mut app, "/up", now);
    app.on_key(key(KeyCode::Tab), now, 0);
    assert_eq!(app.composer.value(), "/upload ");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("shots")).unwrap();
    std::fs::write(dir.path().join("shot.png"), "x").unwrap();
    type_text(&mut app, &format!("{}/sh", dir.path().display()), now);
    app.on_key(key(KeyCode::Tab), now, 0);
    let base = format!("/upload {}/", dir.path().display());
    assert_eq!(app.composer.value(), format!("{base}shot.png "));
    app.on_key(key(KeyCode::Tab), now, 0);
    assert_eq!(app.composer.value(), format!("{base}shots/"));
}

#[test]
fn panes_follow_the_width_and_keys_toggle_them() {
    let mut app = online_app();
    let now = Instant::now();
    app.on_resize(120, 40);
    assert!(app.rooms_pane() && app.users_pane());
    app.on_resize(90, 30);
    assert!(app.rooms_pane() && !app.users_pane());
    app.on_resize(50, 20);
    assert!(!app.rooms_pane() && !app.users_pane());
    app.on_key(key(KeyCode::F(2)), now, 0);
    assert!(app.rooms_pane());
    app.on_key(key(KeyCode::F(3)), now, 0);
    assert!(app.users_pane());
}

#[test]
fn the_switcher_filters_rooms_and_people() {
    let mut app = online_app();
    let now = Instant::now();
    app.rooms[0].members.push(Member {
        bot: false,
        guest: false,
        name: "bob".into(),
        role: Role::Member,
        presence: PresenceState::Online,
        status: None,
        display_name: None,
    });
    assert_eq!(app.switcher_items("ru"), ["#rust"]);
    assert_eq!(app.switcher_items("bo"), ["@bob"]);
    app.on_key(ctrl('k'), now, 0);
    for c in "rst".chars() {
        app.on_key(key(KeyCode::Char(c)), now, 0);
    }
    app.on_key(key(KeyCode::Enter), now, 0);
    assert_eq!(app.room().unwrap().name, "#rust");
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn the_login_screen_collects_credentials() {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    let now = Instant::now();
    app.ask_login(None);
    let Overlay::Login(form) = &app.overlay else {
        panic!()
    };
    assert_eq!(form.field, 2, "straight to the password");
    let effects = app.on_key(key(KeyCode::Enter), now, 0);
    assert!(effects.is_empty());
    assert!(matches!(&app.overlay, Overlay::Login(f) if f.error.is_some()));
    type_text(&mut app, "secret", now);
    let effects = app.on_key(key(KeyCode::Enter), now, 0);
    assert_eq!(
        effects,
        [Effect::Login {
            server: "chat:7878".into(),
            user: "alice".into(),
            password: "secret".into()
        }]
    );
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn kicked_from_a_room_says_so_and_moves_on() {
    let mut app = online_app();
    let now = Instant::now();
    app.on_key(ctrl('n'), now, 0);
    app.on_event(
        Event::RoomRemoved {
            room: "#rust".into(),
            kind: LeaveKind::Kicked,
            by: Some("bob".into()),
            reason: Some("spam".into()),
        },
        now,
    );
    assert_eq!(app.rooms.len(), 1);
    assert_eq!(app.room().unwrap().name, "#general");
    assert!(
        matches!(app_last(&app), EntryKind::Error(e) if e == "#rust: you were kicked by bob (spam)")
    );
}

#[test]
fn the_same_text_sent_twice_shows_twice_whatever_the_order() {
    let mut app = online_app();
    let now = Instant::now();
    let mut locals = Vec::new();
    for _ in 0..2 {
        type_text(&mut app, "ok", now);
        for e in app.on_key(key(KeyCode::Enter), now, 0) {
            if let Effect::Send { local, .. } = e {
                locals.push(local);
            }
        }
    }
    // The usual order on one connection: reply, then the echo.
    app.on_sent(locals[0], Ok((31, 1)));
    app.on_event(Event::Message(msg(31, "#general", "alice", "ok")), now);
    app.on_sent(locals[1], Ok((32, 2)));
    app.on_event(Event::Message(msg(32, "#general", "alice", "ok")), now);
    let ids: Vec<_> = app.room().unwrap().entries.iter().map(|e| e.id).collect();
    assert_eq!(ids, [Some(31), Some(32)]);
}

#[test]
fn a_history_page_that_brings_a_pending_message_does_not_double_it() {
    let mut app = online_app();
    let now = Instant::now();
    type_text(&mut app, "hello", now);
    let local = app
        .on_key(key(KeyCode::Enter), now, 0)
        .into_iter()
        .find_map(|e| match e {
            Effect::Send { local, .. } => Some(local),
            _ => None,
        })
        .unwrap();
    app.on_reply(
        Then::CatchUp {
            room: "#general".into(),
        },
        Ok(Response::Messages {
            room: "#general".into(),
            messages: vec![msg(40, "#general", "alice", "hello")],
            more: false,
            rev: 0,
        }),
        0,
    );
    app.on_sent(local, Ok((40, 1)));
    assert_eq!(app.room().unwrap().entries.len(), 1);
}

#[test]
fn a_reconnect_keeps_the_room_on_screen() {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    let rooms = |names: &[&str]| SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: names.iter().map(|n| room_state(n, 0, 0)).collect(),
        blocked: Vec::new(),
        invitations: Vec::new(),
    };
    app.on_online(&rooms(&["#a", "#b", "#c"]));
    app.on_key(ctrl('n'), Instant::now(), 0);
    assert_eq!(app.room().unwrap().name, "#b");
    // Kicked from #a while away.
    app.on_online(&rooms(&["#b", "#c"]));
    assert_eq!(app.room().unwrap().name, "#b");
}

#[test]
fn nothing_is_marked_read_while_the_terminal_is_unfocused() {
    let mut app = online_app();
    let now = Instant::now();
    app.on_focus(false);
    let effects = app.on_event(Event::Message(msg(11, "#general", "bob", "hi")), now);
    assert!(
        !requests(&effects)
            .iter()
            .any(|r| matches!(r, Request::MarkRead { .. }))
    );
    assert_eq!(app.room().unwrap().unread, 1);
    assert_eq!(app.title(), "natter (3)");
    let effects = app.on_focus(true);
    assert!(marks_read(&effects, 11));
    assert_eq!(app.room().unwrap().unread, 0);
}

#[test]
fn recall_keeps_the_draft() {
    let mut app = online_app();
    let now = Instant::now();
    type_text(&mut app, "sent before", now);
    app.on_key(key(KeyCode::Enter), now, 0);
    type_text(&mut app, "half written", now);
    app.on_key(key(KeyCode::Up), now, 0);
    assert_eq!(app.composer.value(), "sent before");
    app.on_key(key(KeyCode::Down), now, 0);
    assert_eq!(app.composer.value(), "half written");
}

#[test]
fn scrolling_after_a_pane_changes_the_width_is_safe() {
    let mut app = online_app();
    let now = Instant::now();
    let long = "word ".repeat(120);
    let messages = (1..=30).map(|i| msg(i, "#general", "bob", &long)).collect();
    load_older(&mut app, messages, false);
    app.on_resize(60, 12);
    app.on_key(key(KeyCode::PageUp), now, 0);
    app.on_key(key(KeyCode::PageUp), now, 0);
    app.on_resize(200, 12);
    for _ in 0..10 {
        app.on_key(key(KeyCode::PageDown), now, 0);
    }
    assert!(app.room().unwrap().scroll.is_none());
}

#[test]
fn without_a_room_errors_still_show() {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    let now = Instant::now();
    type_text(&mut app, "/frob", now);
    app.on_key(key(KeyCode::Enter), now, 0);
    assert!(
        app.loose
            .as_deref()
            .is_some_and(|t| t.contains("unknown command"))
    );
}

/// Two sessions of one user (two natter processes) each write the same
/// text in #general. The server stores both and sends each message to
/// every session of the sender, carrying the nonce of the session that
/// sent it. Each client must confirm only its own entry and show the other
/// session's message as a new one; matched by text, the first message to
/// arrive would confirm both clients' entries.
#[test]
fn two_sessions_sending_the_same_text_each_confirm_only_their_own() {
    let now = Instant::now();
    let mut sessions = [online_app(), online_app()];
    let sends: Vec<(u64, String)> = sessions
        .iter_mut()
        .map(|app| {
            type_text(app, "hello", now);
            app.on_key(key(KeyCode::Enter), now, 0)
                .into_iter()
                .find_map(|e| match e {
                    Effect::Send { local, nonce, .. } => Some((local, nonce)),
                    _ => None,
                })
                .expect("a send")
        })
        .collect();
    assert_ne!(sends[0].1, sends[1].1, "each session names its own sends");
    // As stored: the first session's message is 7, the second's 8, and
    // both sessions receive both, in that order.
    let stored: Vec<Message> = [7, 8]
        .into_iter()
        .zip(&sends)
        .map(|(id, (_, nonce))| Message {
            nonce: Some(nonce.clone()),
            ..msg(id, "#general", "alice", "hello")
        })
        .collect();
    for app in &mut sessions {
        for m in &stored {
            app.on_event(Event::Message(m.clone()), now);
        }
    }
    for (n, app) in sessions.iter().enumerate() {
        let (local, _) = &sends[n];
        let (own, other) = if n == 0 { (7, 8) } else { (8, 7) };
        let entries = &app.room().unwrap().entries;
        assert_eq!(entries.len(), 2, "session {n}: {entries:?}");
        let mine = &entries[entries.position(own).expect("own message indexed")];
        assert_eq!(
            mine.local,
            Some(*local),
            "session {n} confirmed its own entry"
        );
        assert!(matches!(
            &mine.kind,
            EntryKind::Msg {
                delivery: Delivery::Sent,
                ..
            }
        ));
        let theirs = entries.message(other).expect("the other session's message");
        assert_eq!(
            theirs.local, None,
            "session {n}: a new message, not one of ours"
        );
        assert!(matches!(
            &theirs.kind,
            EntryKind::Msg { from, body, delivery: Delivery::Sent, .. } if from == "alice" && body == "hello"
        ));
    }
    // The replies to the sends change nothing: one copy each.
    for (app, ((local, _), id)) in sessions.iter_mut().zip(sends.iter().zip([7, 8])) {
        app.on_sent(*local, Ok((id, 1)));
        let ids: Vec<_> = app.room().unwrap().entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, [Some(7), Some(8)]);
    }
}

#[test]
fn a_typed_password_login_keeps_the_session_token_once() {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    app.ask_login(None);
    type_text(&mut app, "secret", Instant::now());
    app.on_key(key(KeyCode::Enter), Instant::now(), 0);
    assert_eq!(app.login_by, LoginBy::TypedPassword);
    assert_eq!(app.credential_source, "typed password");
    let session = SessionInfo {
        user: "alice".into(),
        admin: false,
        token: Some("tok".into()),
        rooms: vec![room_state("#general", 0, 0)],
        blocked: Vec::new(),
        invitations: Vec::new(),
    };
    let stores = |effects: &[Effect]| {
        effects
            .iter()
            .filter(|e| matches!(e, Effect::StoreToken { .. }))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        stores(&app.on_online(&session)),
        [Effect::StoreToken {
            account: "alice@chat:7878".into(),
            token: "tok".into()
        }]
    );
    assert!(
        stores(&app.on_online(&session)).is_empty(),
        "a reconnect stores nothing"
    );
}

#[test]
fn a_refused_stored_token_is_forgotten_and_the_login_screen_asks() {
    let mut app = online_app();
    app.login_by = LoginBy::StoredToken {
        account: "alice@chat:7878".into(),
    };
    // Stopped for another reason: the token stays.
    assert!(app.on_stopped("server shut down".into(), false).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    let effects = app.on_stopped("token expired (auth_failed)".into(), true);
    assert_eq!(
        effects,
        [Effect::ForgetToken {
            account: "alice@chat:7878".into()
        }]
    );
    assert!(
        matches!(&app.overlay, Overlay::Login(f) if f.error.as_deref() == Some("token expired (auth_failed)"))
    );
    assert_eq!(
        app.conn,
        ConnState::Stopped("token expired (auth_failed)".into())
    );
    // A typed password that is refused forgets nothing.
    assert!(app.on_stopped("wrong password".into(), true).is_empty());
}

// ---- blocking, reports and invitations ----------------------------------

/// A client logged in to a server listing every feature, blocking
/// `blocked`, with `invitations` waiting.
fn safety_app(blocked: &[&str], invitations: Vec<natter_shared::Invitation>) -> App {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    let features: Vec<String> = natter_shared::features::ALL
        .iter()
        .map(|f| (*f).to_owned())
        .collect();
    app.on_welcome(&features);
    app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![room_state("#general", 0, 0), room_state("#rust", 2, 1)],
        blocked: blocked.iter().map(|b| (*b).to_owned()).collect(),
        invitations,
    });
    app
}

fn invitation(room: &str, by: &str) -> natter_shared::Invitation {
    natter_shared::Invitation {
        room: room.into(),
        by: by.into(),
        at: 1_700_000_000_000,
    }
}

/// The current room as the messages pane writes it (a pane tall enough
/// for everything loaded): `<nick> text`, `[collapsed]`, `-- notice`,
/// `!! error`.
pub(super) fn shown(app: &App) -> Vec<String> {
    let layout = text::Layout {
        width: 200,
        utc_offset: 0,
        me: &app.user,
        blocked: app.safety.blocked(),
        thumbs: None,
    };
    layout
        .visible(app.room().unwrap(), 10_000)
        .into_iter()
        .filter_map(|row| match row {
            text::Row::Head { nick, text, .. } => Some(format!("<{nick}> {text}")),
            text::Row::Hidden { text, .. } => Some(format!("[{text}]")),
            text::Row::Note { text, error, .. } => {
                Some(format!("{} {text}", if error { "!!" } else { "--" }))
            }
            _ => None,
        })
        .collect()
}

/// Types `line` and presses Enter.
pub(super) fn enter(app: &mut App, line: &str) -> Vec<Effect> {
    let now = Instant::now();
    type_text(app, line, now);
    app.on_key(key(KeyCode::Enter), now, 0)
}

/// The one request among `effects`, with what its reply is for.
pub(super) fn the_request(effects: &[Effect]) -> (Request, Then) {
    match effects
        .iter()
        .filter_map(|e| match e {
            Effect::Request { req, then } => Some((req.clone(), then.clone())),
            _ => None,
        })
        .collect::<Vec<_>>()
        .as_slice()
    {
        [one] => one.clone(),
        other => panic!("expected one request, got {other:?}"),
    }
}

pub(super) fn notifications(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Notify { .. }))
        .count()
}

#[test]
fn a_blocked_users_messages_collapse_and_unblocking_shows_them() {
    let mut app = safety_app(&["mallory"], Vec::new());
    load_older(
        &mut app,
        vec![
            msg(1, "#general", "bob", "morning"),
            msg(2, "#general", "mallory", "buy now"),
            msg(3, "#general", "mallory", "cheap pills"),
            msg(4, "#general", "mallory", "last chance"),
            msg(5, "#general", "bob", "anyway"),
            msg(6, "#general", "mallory", "hello?"),
        ],
        false,
    );
    assert_eq!(
        shown(&app),
        [
            "<bob> morning",
            "[3 messages from blocked users]",
            "<bob> anyway",
            "[1 message from a blocked user]",
        ]
    );
    // A live one joins the run at the end.
    app.on_event(
        Event::Message(msg(7, "#general", "mallory", "still here")),
        Instant::now(),
    );
    assert_eq!(
        shown(&app).last().unwrap(),
        "[2 messages from blocked users]"
    );

    let (req, then) = the_request(&enter(&mut app, "/unblock @Mallory"));
    assert_eq!(
        req,
        Request::Unblock {
            user: "mallory".into()
        }
    );
    app.on_reply(then, Ok(Response::Done), 0);
    assert!(!app.safety.is_blocked("mallory"));
    let lines = shown(&app);
    assert!(
        lines.contains(&"<mallory> cheap pills".to_owned()),
        "{lines:?}"
    );
    assert_eq!(
        lines.last().unwrap(),
        "-- unblocked mallory: their messages show again"
    );
    assert!(!lines.iter().any(|l| l.contains("blocked user")));
}

#[test]
fn a_blocked_users_messages_neither_count_nor_notify() {
    let mut app = safety_app(&["mallory"], Vec::new());
    let now = Instant::now();
    app.on_focus(false);
    let before = (app.rooms[1].unread, app.rooms[1].mentions);
    // Elsewhere, a mention, a direct-looking ping, on screen unfocused: no
    // count and no notification.
    for (id, room) in [(11, "#rust"), (12, "#general")] {
        let effects = app.on_event(
            Event::Message(msg(id, room, "mallory", "@alice look at this")),
            now,
        );
        assert_eq!(notifications(&effects), 0, "{room}");
    }
    assert_eq!((app.rooms[1].unread, app.rooms[1].mentions), before);
    assert_eq!(app.rooms[0].unread, 0);
    assert_eq!(app.title(), "natter (2)");
    // Someone else's mention still counts and notifies.
    let effects = app.on_event(
        Event::Message(msg(13, "#rust", "bob", "@alice real question")),
        now,
    );
    assert_eq!(notifications(&effects), 1);
    assert_eq!(app.rooms[1].mentions, before.1 + 1);
    // Scrolled up, a hidden message is not "new below".
    app.on_focus(true);
    fill(&mut app, 60);
    app.on_key(key(KeyCode::PageUp), now, 0);
    app.on_event(Event::Message(msg(70, "#general", "mallory", "x")), now);
    assert_eq!(app.room().unwrap().new_below, 0);
    // Their typing does not show either.
    app.on_event(
        Event::Typing {
            room: "#general".into(),
            user: "mallory".into(),
            active: true,
        },
        now,
    );
    assert_eq!(app.typing_line(), None);
}

#[test]
fn block_asks_the_server_and_follows_its_answer() {
    let mut app = safety_app(&[], Vec::new());
    let now = Instant::now();
    app.on_event(
        Event::Typing {
            room: "#general".into(),
            user: "mallory".into(),
            active: true,
        },
        now,
    );
    let (req, then) = the_request(&enter(&mut app, "/block mallory"));
    assert_eq!(
        req,
        Request::Block {
            user: "mallory".into()
        }
    );
    assert!(
        !app.safety.is_blocked("mallory"),
        "only once the server agrees"
    );
    app.on_reply(then, Ok(Response::Done), 0);
    assert!(app.safety.is_blocked("mallory"));
    assert_eq!(app.typing_line(), None, "their typing goes at once");
    assert_eq!(
        shown(&app).last().unwrap(),
        "-- blocked mallory: their messages are hidden and they cannot message you directly; /unblock mallory undoes it"
    );

    // Refusals say what did not happen, and why.
    let (_, then) = the_request(&enter(&mut app, "/block zed"));
    app.on_reply(
        then,
        Err(ErrorReply::new(
            natter_shared::ErrorCode::NoSuchUser,
            "no such user zed",
        )),
        0,
    );
    assert_eq!(
        shown(&app).last().unwrap(),
        "!! cannot block zed: no such user zed"
    );
    assert!(!app.safety.is_blocked("zed"));
    let (_, then) = the_request(&enter(&mut app, "/block zed"));
    app.on_reply(
        then,
        Err(ErrorReply::new(
            natter_shared::ErrorCode::Unsupported,
            "this server does not support the request \"block\"",
        )),
        0,
    );
    assert_eq!(
        shown(&app).last().unwrap(),
        "!! cannot block zed: this server does not support blocking"
    );
    assert!(requests(&enter(&mut app, "/block alice")).is_empty());
    assert_eq!(shown(&app).last().unwrap(), "!! you cannot block yourself");

    // /blocked lists who, as the server says.
    let (req, then) = the_request(&enter(&mut app, "/blocked"));
    assert_eq!(req, Request::Blocked);
    app.on_reply(
        then,
        Ok(Response::Blocked(vec!["mallory".into(), "eve".into()])),
        0,
    );
    assert_eq!(shown(&app).last().unwrap(), "-- you block 2: eve, mallory");
    assert!(app.safety.is_blocked("eve"));
}

#[test]
fn without_the_feature_in_the_welcome_nothing_is_asked() {
    let mut app = online_app();
    app.on_welcome(&["direct".to_owned(), "nonce".to_owned()]);
    for (line, error) in [
        ("/block bob", "blocking"),
        ("/unblock bob", "blocking"),
        ("/blocked", "blocking"),
        ("/report 3 spam", "reports"),
        ("/accept #ops", "invitations"),
        ("/decline #ops", "invitations"),
        ("/invites", "invitations"),
        ("/invites nobody", "invitations"),
    ] {
        assert!(requests(&enter(&mut app, line)).is_empty(), "{line}");
        assert_eq!(
            shown(&app).last().unwrap(),
            &format!("!! this server does not support {error}"),
            "{line}"
        );
    }
}

#[test]
fn report_a_message_by_id_or_a_users_newest_one() {
    let mut app = safety_app(&["mallory"], Vec::new());
    load_older(
        &mut app,
        vec![
            msg(5, "#general", "mallory", "buy now"),
            msg(6, "#general", "bob", "ugh"),
            msg(8, "#general", "mallory", "BUY NOW"),
        ],
        false,
    );
    let (req, then) = the_request(&enter(&mut app, "/report @mallory spam, twice"));
    assert_eq!(
        req,
        Request::Report {
            room: "#general".into(),
            id: 8,
            reason: "spam, twice".into()
        }
    );
    app.on_reply(then, Ok(Response::Done), 0);
    assert_eq!(
        shown(&app).last().unwrap(),
        "-- reported mallory's message 8 to the moderators"
    );
    let (req, then) = the_request(&enter(&mut app, "/report 6 rude"));
    assert!(matches!(req, Request::Report { id: 6, .. }));
    app.on_reply(then, Ok(Response::Done), 0);
    assert_eq!(
        shown(&app).last().unwrap(),
        "-- reported bob's message 6 to the moderators"
    );
    let (_, then) = the_request(&enter(&mut app, "/report 99 old"));
    app.on_reply(
        then,
        Err(ErrorReply::new(
            natter_shared::ErrorCode::Invalid,
            "no message 99 in #general",
        )),
        0,
    );
    assert_eq!(
        shown(&app).last().unwrap(),
        "!! cannot report message 99: no message 99 in #general"
    );
    assert!(requests(&enter(&mut app, "/report @carol meh")).is_empty());
    assert_eq!(
        shown(&app).last().unwrap(),
        "!! no message from carol is loaded in #general; scroll up to load older ones"
    );
    assert!(requests(&enter(&mut app, "/report @mallory")).is_empty());
    assert_eq!(
        shown(&app).last().unwrap(),
        "!! usage: /report id|@user reason"
    );
}

#[test]
fn invitations_show_once_and_accepting_opens_the_room() {
    let mut app = safety_app(&[], vec![invitation("#ops", "bob")]);
    let announced = |app: &App| {
        shown(app)
            .iter()
            .filter(|l| l.contains("invited you"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        announced(&app),
        ["-- bob invited you to #ops — /accept #ops or /decline #ops"]
    );
    // A reconnect lists it again: it is not announced again.
    app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![room_state("#general", 0, 0), room_state("#rust", 0, 0)],
        blocked: Vec::new(),
        invitations: vec![invitation("#ops", "bob")],
    });
    assert_eq!(announced(&app).len(), 1);
    app.on_event(Event::Invited(invitation("#dev", "carol")), Instant::now());
    assert_eq!(
        announced(&app).last().unwrap(),
        "-- carol invited you to #dev — /accept #dev or /decline #dev"
    );
    assert_eq!(app.safety.invitations().len(), 2);

    // Accepting: the server's RoomAdded follows, and the room opens.
    let (req, then) = the_request(&enter(&mut app, "/accept ops"));
    assert_eq!(
        req,
        Request::Accept {
            room: "#ops".into()
        }
    );
    app.on_reply(then, Ok(Response::Done), 0);
    assert_eq!(
        shown(&app).last().unwrap(),
        "-- accepted the invitation to #ops"
    );
    let effects = app.on_event(Event::RoomAdded(room_state("#ops", 0, 0)), Instant::now());
    assert_eq!(app.room().unwrap().name, "#ops");
    assert!(
        requests(&effects)
            .iter()
            .any(|r| matches!(r, Request::History { room, .. } if room == "#ops"))
    );

    let (req, then) = the_request(&enter(&mut app, "/decline #dev"));
    assert_eq!(
        req,
        Request::Decline {
            room: "#dev".into()
        }
    );
    app.on_reply(then, Ok(Response::Done), 0);
    assert_eq!(
        shown(&app).last().unwrap(),
        "-- declined the invitation to #dev"
    );
    assert!(app.safety.invitations().is_empty());

    // /invites lists what the server has; with a policy, sets it.
    let (req, then) = the_request(&enter(&mut app, "/invites"));
    assert_eq!(req, Request::Invitations);
    app.on_reply(
        then,
        Ok(Response::Invitations(vec![invitation("#sre", "dave")])),
        0,
    );
    assert_eq!(
        shown(&app)[shown(&app).len() - 2..],
        [
            "-- 1 pending invitation:",
            "--   #sre from dave — /accept #sre or /decline #sre"
        ]
    );
    assert_eq!(app.safety.invitations(), [invitation("#sre", "dave")]);
    let (req, then) = the_request(&enter(&mut app, "/invites nobody"));
    assert_eq!(
        req,
        Request::SetInvites {
            policy: natter_shared::InvitePolicy::Nobody
        }
    );
    app.on_reply(then, Ok(Response::Done), 0);
    assert_eq!(
        shown(&app).last().unwrap(),
        "-- every invitation now waits for /accept or /decline"
    );
    assert!(requests(&enter(&mut app, "/invites everyone")).is_empty());
    assert_eq!(
        shown(&app).last().unwrap(),
        "!! usage: /invites [anyone|shared|nobody]"
    );
}

#[test]
fn a_report_reaches_moderators_as_one_escaped_line() {
    let mut app = safety_app(&[], Vec::new());
    app.on_event(
        Event::Reported(natter_shared::Report {
            id: 3,
            room: "#general".into(),
            message: 42,
            author: "mallory".into(),
            excerpt: "buy now\nreally".into(),
            by: "bob".into(),
            reason: "spam".into(),
            at: 1_700_000_000_000,
        }),
        Instant::now(),
    );
    assert_eq!(
        shown(&app).last().unwrap(),
        "-- ⚑ bob reported mallory's message 42 in #general: spam — “buy now\\nreally”"
    );
}

#[test]
fn scrolling_passes_over_hidden_runs_one_row_at_a_time() {
    // Up to the top one row at a time and back down takes as many steps
    // as there are rows beyond a screenful, with runs of hidden messages
    // (and one at the very end) laid out to one row each.
    let mut app = safety_app(&["mallory"], Vec::new());
    let messages = (1..=30)
        .map(|i| {
            let from = if i % 5 < 3 || i > 27 {
                "mallory"
            } else {
                "bob"
            };
            msg(
                i,
                "#general",
                from,
                "words enough to wrap at a narrow width",
            )
        })
        .collect();
    load_older(&mut app, messages, false);
    let room = app.room().unwrap().clone();
    for width in [14, 40, 120] {
        let layout = text::Layout {
            width,
            utc_offset: 0,
            me: "alice",
            blocked: app.safety.blocked(),
            thumbs: None,
        };
        let total = layout.visible(&room, 100_000).len();
        for height in [3, 7] {
            let mut r = room.clone();
            let mut up = 0;
            loop {
                let (s, _) = layout.scroll(&r, 1, true, height);
                if s == r.scroll {
                    break;
                }
                r.scroll = s;
                up += 1;
            }
            assert_eq!(
                up,
                total.saturating_sub(height),
                "width {width} height {height}"
            );
            let mut down = 0;
            while r.scroll.is_some() {
                r.scroll = layout.scroll(&r, 1, false, height).0;
                down += 1;
                assert!(down <= up, "width {width} height {height}");
            }
            assert_eq!(down, up, "width {width} height {height}");
        }
    }
}

// ---- links and long messages (`/open`, the split prompt) ----------------
mod links_and_splits {
    use super::*;
    use crate::app::command::split_body;
    use unicode_segmentation::UnicodeSegmentation;

    fn run(app: &mut App, line: &str) -> Vec<Effect> {
        let now = Instant::now();
        app.on_paste(line, now);
        app.on_key(key(KeyCode::Enter), now, 0)
    }

    fn opened(effects: &[Effect]) -> Vec<&str> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Open { url } => Some(url.as_str()),
                _ => None,
            })
            .collect()
    }

    fn sends(effects: &[Effect]) -> Vec<(&str, &str, bool)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send {
                    room, body, action, ..
                } => Some((room.as_str(), body.as_str(), *action)),
                _ => None,
            })
            .collect()
    }

    fn last_note(app: &App) -> String {
        match app_last(app) {
            EntryKind::Notice(t) | EntryKind::Error(t) | EntryKind::Motd(t) => t,
            other @ EntryKind::Msg { .. } => panic!("not a notice: {other:?}"),
        }
    }

    #[test]
    fn open_counts_links_from_the_newest() {
        let mut app = online_app();
        let now = Instant::now();
        let first = msg(
            11,
            "#general",
            "bob",
            "a https://one.example/x and https://two.example/y.",
        );
        app.on_event(Event::Message(first), now);
        app.on_event(
            Event::Message(msg(12, "#general", "mallory", "https://blocked.example")),
            now,
        );
        app.on_event(
            Event::Message(msg(13, "#general", "carol", "see (https://three.example)")),
            now,
        );
        app.on_event(
            Event::Message(msg(14, "#rust", "bob", "https://elsewhere.example")),
            now,
        );
        let _ = app.safety.on_login(&["mallory".to_owned()], &[]);
        assert_eq!(opened(&run(&mut app, "/open")), ["https://three.example"]);
        assert_eq!(opened(&run(&mut app, "/open 1")), ["https://three.example"]);
        assert_eq!(opened(&run(&mut app, "/open 2")), ["https://two.example/y"]);
        assert_eq!(opened(&run(&mut app, "/open 3")), ["https://one.example/x"]);
        assert!(opened(&run(&mut app, "/open 4")).is_empty());
        assert_eq!(last_note(&app), "no link or file 4 in this room");
        assert!(run(&mut app, "/open zero").is_empty());
        assert!(
            last_note(&app).starts_with("usage: /open"),
            "{}",
            last_note(&app)
        );
        assert!(
            command::COMMANDS.iter().any(|(name, ..)| *name == "/open"),
            "/open is in the help and completion"
        );
    }

    #[test]
    fn a_long_paste_asks_then_goes_out_in_order() {
        let mut app = online_app();
        app.max_body = Some(40);
        let text =
            "first line of the paste\nsecond line, a bit longer than that\nthird\nfourth line here";
        let effects = run(&mut app, text);
        assert!(sends(&effects).is_empty(), "nothing sent before the answer");
        assert_eq!(
            last_note(&app),
            "This is 82 bytes, over the 40-byte limit: send as 3 messages? y/n"
        );
        assert_eq!(app.composer.value(), "");
        // Other keys wait for the answer.
        assert!(
            app.on_key(key(KeyCode::Char('x')), Instant::now(), 0)
                .is_empty()
        );
        assert!(app.split.is_some());
        let effects = app.on_key(key(KeyCode::Char('y')), Instant::now(), 0);
        let sent = sends(&effects);
        assert_eq!(
            sent,
            [
                ("#general", "first line of the paste", false),
                ("#general", "second line, a bit longer than that", false),
                ("#general", "third\nfourth line here", false),
            ]
        );
        assert!(app.split.is_none());
        // Typing goes to the input again.
        type_text(&mut app, "ok", Instant::now());
        assert_eq!(app.composer.value(), "ok");
    }

    #[test]
    fn no_keeps_the_text_and_short_messages_are_not_asked_about() {
        let mut app = online_app();
        app.max_body = Some(10);
        assert_eq!(
            sends(&run(&mut app, "short")),
            [("#general", "short", false)]
        );
        let long = "this will not fit in ten bytes";
        assert!(sends(&run(&mut app, long)).is_empty());
        assert!(
            app.on_key(key(KeyCode::Char('n')), Instant::now(), 0)
                .is_empty()
        );
        assert_eq!(app.composer.value(), long);
        assert!(app.split.is_none());
        assert_eq!(last_note(&app), "not sent; the text is back in the input");
        // /me asks too, and keeps its pieces actions.
        app.composer.clear();
        assert!(sends(&run(&mut app, "/me waves a very long wave")).is_empty());
        let effects = app.on_key(key(KeyCode::Char('y')), Instant::now(), 0);
        assert_eq!(
            sends(&effects),
            [
                ("#general", "waves a", true),
                ("#general", "very long", true),
                ("#general", "wave", true),
            ]
        );
        // Without the server's limit (before a welcome), nothing is asked.
        let mut app = online_app();
        assert_eq!(sends(&run(&mut app, long)).len(), 1);
    }

    #[test]
    fn splitting_never_cuts_a_character_or_grapheme() {
        // é as e + combining accent, a flag (two code points), CJK.
        let text = "e\u{301}e\u{301}🇫🇷🇫🇷日本語e\u{301}".repeat(7);
        for max in [1, 4, 5, 7, 9, 13] {
            let parts = split_body(&text, max);
            assert_eq!(parts.concat(), text, "max {max}");
            let mut at = 0;
            let bounds: Vec<usize> = text.grapheme_indices(true).map(|(i, _)| i).collect();
            for p in &parts {
                assert!(
                    bounds.contains(&at),
                    "max {max}: a part starts mid-grapheme"
                );
                // A grapheme wider than the limit stands alone.
                assert!(
                    p.len() <= max || p.graphemes(true).count() == 1,
                    "max {max}: {p:?}"
                );
                at += p.len();
            }
        }
        assert_eq!(
            split_body("aaaa\nbbbb\ncccc", 9),
            ["aaaa\nbbbb", "cccc"],
            "lines kept together while they fit"
        );
        assert_eq!(split_body("one two three", 8), ["one two", "three"]);
        assert_eq!(split_body("a\n\n\n\nb", 2), ["a", "b"], "no blank messages");
    }
}

// ---- highlights, readline keys, configured keys ---------------------------

mod daily_driver {
    use super::*;

    fn alt(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT)
    }

    /// `text` in the input, the cursor at `cursor` characters.
    fn input_at(text: &str, cursor: usize) -> App {
        let mut app = online_app();
        app.composer.paste(text);
        let now = Instant::now();
        for _ in 0..text.chars().count() - cursor {
            app.on_key(key(KeyCode::Left), now, 0);
        }
        assert_eq!(app.composer.cursor(), cursor);
        app
    }

    /// The input after pressing `keys`, with `|` where the cursor is.
    fn after(text: &str, cursor: usize, keys: &[KeyEvent]) -> String {
        let mut app = input_at(text, cursor);
        for k in keys {
            app.on_key(*k, Instant::now(), 0);
        }
        let mut shown: Vec<char> = app.composer.value().chars().collect();
        shown.insert(app.composer.cursor(), '|');
        shown.into_iter().collect()
    }

    #[test]
    fn nick_colon_at_the_start_counts_and_notifies_as_a_mention() {
        let mut app = online_app();
        let now = Instant::now();
        let effects = app.on_event(
            Event::Message(msg(11, "#rust", "bob", "alice: lunch?")),
            now,
        );
        assert_eq!(notifications(&effects), 1);
        assert_eq!(app.rooms.by_name("#rust").unwrap().mentions, 2);
        // Elsewhere in the line it is just a word.
        let effects = app.on_event(
            Event::Message(msg(12, "#rust", "bob", "ask alice: she knows")),
            now,
        );
        assert_eq!(notifications(&effects), 0);
        assert_eq!(app.rooms.by_name("#rust").unwrap().mentions, 2);
    }

    #[test]
    fn highlight_words_count_notify_and_match_whole_words_in_any_case() {
        let settings = Settings {
            highlights: vec!["deploy".into(), "Natter".into()],
            ..Settings::default()
        };
        let mut app = App::new("chat:7878", "alice", settings);
        app.on_online(&SessionInfo {
            user: "alice".into(),
            admin: false,
            token: None,
            rooms: vec![room_state("#general", 0, 0), room_state("#ops", 0, 0)],
            blocked: Vec::new(),
            invitations: Vec::new(),
        });
        let now = Instant::now();
        let mut send = |id, body: &str| {
            let effects = app.on_event(Event::Message(msg(id, "#ops", "bob", body)), now);
            notifications(&effects)
        };
        assert_eq!(send(11, "DEPLOY is done"), 1);
        assert_eq!(send(12, "who broke natter?"), 1);
        assert_eq!(send(13, "redeployed it"), 0);
        assert_eq!(send(14, "nothing here"), 0);
        assert_eq!(app.rooms.by_name("#ops").unwrap().mentions, 2);
        assert_eq!(app.rooms.by_name("#ops").unwrap().unread, 4);
        // Your own message with the word is not a mention of you.
        app.on_event(Event::Message(msg(15, "#ops", "alice", "deploy")), now);
        assert_eq!(app.rooms.by_name("#ops").unwrap().mentions, 2);
        assert!(app.mentions_me("a deploy!") && !app.mentions_me("deployment"));
    }

    #[test]
    fn alt_b_and_alt_f_move_by_words() {
        assert_eq!(after("one two-three", 13, &[alt('b')]), "one two-|three");
        assert_eq!(
            after("one two-three", 13, &[alt('b'), alt('b')]),
            "one |two-three"
        );
        assert_eq!(after("one two-three", 0, &[alt('f')]), "one| two-three");
        assert_eq!(
            after("one two-three", 3, &[alt('f'), alt('f')]),
            "one two-three|"
        );
        // Across the lines of a message.
        assert_eq!(after("one\ntwo", 4, &[alt('b')]), "|one\ntwo");
        assert_eq!(after("one\ntwo", 3, &[alt('f')]), "one\ntwo|");
    }

    #[test]
    fn alt_d_deletes_the_word_ahead() {
        assert_eq!(after("one two three", 3, &[alt('d')]), "one| three");
        assert_eq!(after("one two three", 5, &[alt('d')]), "one t| three");
        assert_eq!(after("one\ntwo three", 3, &[alt('d')]), "one| three");
        assert_eq!(after("end", 3, &[alt('d')]), "end|");
    }

    #[test]
    fn ctrl_w_deletes_back_to_a_blank() {
        assert_eq!(after("git push -f", 11, &[ctrl('w')]), "git push |");
        assert_eq!(after("a b-c.d  ", 9, &[ctrl('w')]), "a |");
        assert_eq!(after("one\ntwo", 7, &[ctrl('w')]), "one\n|");
        assert_eq!(after("one two", 3, &[ctrl('w')]), "| two");
    }

    #[test]
    fn ctrl_a_and_ctrl_e_go_to_the_start_and_end_of_the_line() {
        assert_eq!(after("hello world", 5, &[ctrl('a')]), "|hello world");
        assert_eq!(after("hello world", 5, &[ctrl('e')]), "hello world|");
        assert_eq!(after("one\ntwo\nsix", 5, &[ctrl('a')]), "one\n|two\nsix");
        assert_eq!(after("one\ntwo\nsix", 5, &[ctrl('e')]), "one\ntwo|\nsix");
    }

    #[test]
    fn ctrl_u_deletes_to_the_start_of_the_line() {
        assert_eq!(after("hello world", 6, &[ctrl('u')]), "|world");
        assert_eq!(after("one\ntwo three", 8, &[ctrl('u')]), "one\n|three");
        assert_eq!(after("", 0, &[ctrl('u')]), "|");
    }

    #[test]
    fn readline_deletions_send_typing_and_are_text_changes() {
        let mut app = input_at("hello world", 11);
        let effects = app.on_key(ctrl('w'), Instant::now(), 0);
        assert!(
            requests(&effects)
                .iter()
                .any(|r| matches!(r, Request::Typing { active: true, .. })),
            "{effects:?}"
        );
        assert_eq!(app.composer.value(), "hello ");
    }

    fn configured(table: &[(&str, &str)]) -> App {
        let table = table
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let settings = Settings {
            keys: KeyMap::with_config(&table).unwrap(),
            ..Settings::default()
        };
        let mut app = App::new("chat:7878", "alice", settings);
        app.on_online(&SessionInfo {
            user: "alice".into(),
            admin: false,
            token: None,
            rooms: vec![
                room_state("#a", 0, 0),
                room_state("#b", 0, 0),
                room_state("#c", 0, 0),
            ],
            blocked: Vec::new(),
            invitations: Vec::new(),
        });
        app
    }

    #[test]
    fn a_rebound_key_does_the_new_thing_and_an_unbound_one_nothing() {
        let mut app = configured(&[
            ("ctrl+j", "next_room"),
            ("ctrl+n", "none"),
            ("f5", "room_3"),
            ("ctrl+q", "toggle_users"),
        ]);
        let now = Instant::now();
        assert_eq!(app.room().unwrap().name, "#a");
        app.on_key(ctrl('j'), now, 0);
        assert_eq!(app.room().unwrap().name, "#b");
        app.on_key(ctrl('n'), now, 0);
        assert_eq!(app.room().unwrap().name, "#b", "ctrl+n is unbound");
        app.on_key(key(KeyCode::F(5)), now, 0);
        assert_eq!(app.room().unwrap().name, "#c");
        // Ctrl+Q was "quit" anywhere; on the main screen it is taken.
        let users = app.users_pane();
        assert!(!app.on_key(ctrl('q'), now, 0).contains(&Effect::Quit));
        assert_eq!(app.users_pane(), !users);
        assert!(app.on_key(ctrl('c'), now, 0).contains(&Effect::Quit));
        // The defaults that were not touched still work.
        app.on_key(ctrl('p'), now, 0);
        assert_eq!(app.room().unwrap().name, "#b");
    }

    #[test]
    fn the_help_shows_the_keys_in_use() {
        let label = |app: &App, action| {
            keys::KEYS
                .iter()
                .find(|(k, _)| *k == keys::HelpKeys::Bound(action))
                .map(|(k, _)| k.label(&app.keys))
                .unwrap()
        };
        let app = online_app();
        let rooms: &[Action] = &[Action::NextRoom, Action::PrevRoom];
        assert_eq!(label(&app, rooms), "Ctrl+N / Ctrl+P");
        assert_eq!(label(&app, &[Action::Room(0)]), "Alt+1..9");
        assert_eq!(label(&app, &[Action::Quit]), "Ctrl+C, Ctrl+Q");
        let app = configured(&[
            ("ctrl+j", "next_room"),
            ("ctrl+p", "none"),
            ("f9", "room_1"),
        ]);
        assert_eq!(label(&app, rooms), "Ctrl+J, Ctrl+N / (unbound)");
        assert_eq!(
            label(&app, &[Action::Room(0)]),
            "F9, Alt+1, Alt+2, Alt+3, Alt+4, Alt+5, Alt+6, Alt+7, Alt+8, Alt+9"
        );
    }
}

#[test]
fn a_pasted_file_path_is_offered_for_upload() {
    let mut app = online_app();
    let now = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shot.png");
    std::fs::write(&file, "png").unwrap();
    let path = file.display().to_string();
    // Yes: an upload, nothing typed.
    assert!(app.on_paste(&path, now).is_empty());
    assert!(
        matches!(app_last(&app), EntryKind::Notice(t) if t.contains("upload") && t.contains("y/n"))
    );
    let effects = app.on_key(key(KeyCode::Char('y')), now, 0);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Upload { name, .. } if name == "shot.png")),
        "{effects:?}"
    );
    assert_eq!(app.composer.value(), "");
    assert_eq!(app.files.transfers.len(), 1);
    // No: the path goes in as text.
    app.on_paste(&path, now);
    assert!(app.on_key(key(KeyCode::Char('n')), now, 0).is_empty());
    assert_eq!(app.composer.value(), path);
    // Text that is no file's path is pasted as ever.
    app.on_key(key(KeyCode::Esc), now, 0);
    app.on_paste("/usr/bin/does-not-exist", now);
    assert_eq!(app.composer.value(), "/usr/bin/does-not-exist");
}
