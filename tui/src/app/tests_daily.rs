//! The defects a day of real use found (the daily-driver issue), each
//! pinned where a user sees it: what the room shows, what it counts, what
//! goes to the server.

use std::time::{Duration, Instant};

use natter_shared::{Event, Request, Response, SessionInfo};

use super::tests::{fill, msg, online_app, requests, room_state, shown};
use super::*;

/// A message from the server, with its own clock.
fn at(mut m: Message, ts: i64) -> Message {
    m.ts = ts;
    m
}

#[test]
fn new_messages_land_below_local_notices_whatever_the_clocks() {
    let mut app = online_app();
    fill(&mut app, 3);
    let notice_ms = 1_700_000_900_000;
    app.on_reply(
        Then::Stats,
        Ok(Response::Stats(natter_shared::Stats {
            users_online: 2,
            sessions: 2,
            rooms: 1,
            messages: 3,
            uptime_secs: 60,
        })),
        notice_ms,
    );
    app.error(notice_ms, "no such command: /bogus");
    // The server's clock is behind this one: the message is still the
    // newest line, and being on screen it is read at once.
    let late = at(
        msg(4, "#general", "bob", "after the notices"),
        notice_ms - 5_000,
    );
    let effects = app.on_event(Event::Message(late), Instant::now());
    let lines = shown(&app);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("<bob> after the notices"),
        "{lines:#?}"
    );
    assert!(super::tests::marks_read(&effects, 4));
    assert_eq!(app.room().unwrap().unread, 0);
}

#[test]
fn pages_put_messages_between_notices_by_time() {
    let mut app = online_app();
    fill(&mut app, 2);
    let t = |id: u64| msg(id, "#general", "bob", "x").ts;
    // A notice written between message 3 and 4 of a catch-up page.
    app.error(t(3) + 1, "between");
    app.on_reply(
        Then::CatchUp {
            room: "#general".into(),
        },
        Ok(Response::Messages {
            room: "#general".into(),
            messages: vec![
                msg(3, "#general", "bob", "three"),
                msg(4, "#general", "bob", "four"),
            ],
            more: false,
        }),
        0,
    );
    let lines = shown(&app);
    assert_eq!(
        &lines[lines.len() - 3..],
        ["<bob> three", "!! between", "<bob> four"],
        "{lines:#?}"
    );
}

/// A reconnect to a server whose list says `#general` has `unread`
/// messages after `last_id`.
fn reconnect(app: &mut App, unread: u32, last_id: u64) -> Vec<Effect> {
    app.on_conn(ConnState::Waiting {
        until: Instant::now() + Duration::from_secs(1),
        attempt: 1,
        reason: "connection lost".into(),
    });
    let mut general = room_state("#general", unread, 0);
    general.last_id = last_id;
    app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![general, room_state("#rust", 0, 0)],
        blocked: Vec::new(),
        invitations: Vec::new(),
    })
}

#[test]
fn a_caught_up_room_on_screen_is_read() {
    let mut app = online_app();
    fill(&mut app, 3);
    let effects = reconnect(&mut app, 3, 6);
    assert!(requests(&effects).iter().any(|r| matches!(
        r,
        Request::History { room, query } if room == "#general" && query.after == Some(3)
    )));
    let effects = app.on_reply(
        Then::CatchUp {
            room: "#general".into(),
        },
        Ok(Response::Messages {
            room: "#general".into(),
            messages: (4..=6)
                .map(|i| msg(i, "#general", "bob", "missed"))
                .collect(),
            more: false,
        }),
        0,
    );
    assert!(super::tests::marks_read(&effects, 6), "{effects:#?}");
    assert_eq!(app.room().unwrap().unread, 0);
    assert_eq!(app.total_unread(), 0);
}

#[test]
fn up_and_down_pass_through_a_recalled_message_of_several_lines() {
    use super::tests::{enter, key};
    use crossterm::event::KeyCode;
    let mut app = online_app();
    let now = Instant::now();
    enter(&mut app, "first");
    app.on_paste("one\ntwo\nthree", now);
    app.on_key(key(KeyCode::Enter), now, 0);
    let up = |app: &mut App| {
        app.on_key(key(KeyCode::Up), now, 0);
        app.composer.value().to_owned()
    };
    let down = |app: &mut App| {
        app.on_key(key(KeyCode::Down), now, 0);
        app.composer.value().to_owned()
    };
    assert_eq!(up(&mut app), "one\ntwo\nthree");
    // The cursor climbs the three lines, then the older line comes.
    assert_eq!(up(&mut app), "one\ntwo\nthree");
    assert_eq!(up(&mut app), "one\ntwo\nthree");
    assert_eq!(app.composer.cursor(), 3, "on the first line");
    assert_eq!(up(&mut app), "first");
    assert_eq!(up(&mut app), "first", "nothing older");
    assert_eq!(down(&mut app), "one\ntwo\nthree");
    assert_eq!(down(&mut app), "", "past the newest: the empty draft");
}

fn typing_requests(effects: &[Effect]) -> usize {
    requests(effects)
        .iter()
        .filter(|r| matches!(r, Request::Typing { .. }))
        .count()
}

#[test]
fn invisible_sends_no_typing_at_all_and_the_choice_outlives_the_link() {
    use super::tests::{enter, type_text};
    let mut app = online_app();
    let t0 = Instant::now();
    // Typing, then going invisible: the "typing" already shown is
    // withdrawn before the presence changes; after that, nothing.
    assert_eq!(typing_requests(&type_text(&mut app, "dra", t0)), 1);
    app.composer.clear();
    let mut effects = type_text(&mut app, "/invisible", t0);
    effects.extend(app.on_key(super::tests::key(crossterm::event::KeyCode::Enter), t0, 0));
    let kinds: Vec<_> = requests(&effects)
        .iter()
        .map(|r| match r {
            Request::Typing { active: false, .. } => "stop typing",
            other => other.kind(),
        })
        .collect::<Vec<_>>();
    assert_eq!(kinds, ["stop typing", "presence"], "{effects:#?}");
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::LoginPresence(natter_shared::PresenceChoice {
            state: PresenceState::Invisible,
            ..
        })
    )));
    for (i, word) in ["secret ", "plans ", "here"].iter().enumerate() {
        let later = t0 + Duration::from_secs(10 * (i as u64 + 1));
        assert_eq!(typing_requests(&type_text(&mut app, word, later)), 0);
    }
    assert_eq!(typing_requests(&enter(&mut app, "")), 0);
    // A reconnect keeps it: still invisible, still no typing.
    reconnect(&mut app, 0, 10);
    assert_eq!(app.own_presence(), PresenceState::Invisible);
    assert_eq!(
        typing_requests(&type_text(&mut app, "x", t0 + Duration::from_secs(60))),
        0
    );
    // Back online, typing goes out again.
    app.composer.clear();
    enter(&mut app, "/back");
    assert_eq!(
        typing_requests(&type_text(&mut app, "y", t0 + Duration::from_secs(90))),
        1
    );
}

#[test]
fn away_chosen_while_offline_is_kept_for_the_next_login() {
    use super::tests::enter;
    let mut app = online_app();
    app.on_conn(ConnState::Waiting {
        until: Instant::now() + Duration::from_secs(5),
        attempt: 1,
        reason: "connection refused".into(),
    });
    let effects = enter(&mut app, "/away lunch");
    assert!(requests(&effects).is_empty(), "nothing to send it on");
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::LoginPresence(natter_shared::PresenceChoice { state: PresenceState::Away, status })
            if status.as_deref() == Some("lunch")
    )));
    assert_eq!(app.own_presence(), PresenceState::Away);
}

#[test]
fn quitting_with_messages_unsent_asks_first() {
    use super::tests::{ctrl, enter, key};
    use crossterm::event::KeyCode;
    let mut app = online_app();
    app.on_conn(ConnState::Waiting {
        until: Instant::now() + Duration::from_secs(5),
        attempt: 1,
        reason: "connection refused".into(),
    });
    enter(&mut app, "one");
    enter(&mut app, "two");
    let now = Instant::now();
    assert!(app.on_key(ctrl('c'), now, 0).is_empty(), "asked, not quit");
    assert!(!app.quit);
    assert!(
        shown(&app)
            .last()
            .is_some_and(|l| l.ends_with("2 messages not sent yet: quit anyway? y/n")),
        "{:#?}",
        shown(&app)
    );
    // Anything but y stays, and the messages stay queued.
    assert!(app.on_key(key(KeyCode::Char('n')), now, 0).is_empty());
    assert!(!app.quit);
    assert_eq!(app.unsent(), 2);
    enter(&mut app, "/quit");
    assert!(!app.quit, "asks again");
    assert_eq!(app.on_key(key(KeyCode::Char('y')), now, 0), [Effect::Quit]);
    assert!(app.quit);
    // With nothing pending, Ctrl+C quits at once.
    let mut idle = online_app();
    assert_eq!(idle.on_key(ctrl('c'), now, 0), [Effect::Quit]);
}

#[test]
fn one_notice_per_outage_and_one_when_it_is_over() {
    let mut app = online_app();
    fill(&mut app, 2);
    for attempt in 1..=3 {
        app.on_conn(ConnState::Connecting { attempt });
        app.on_conn(ConnState::Waiting {
            until: Instant::now() + Duration::from_secs(2),
            attempt,
            reason: "connection refused".into(),
        });
    }
    // Requests the outage took down say nothing more.
    app.on_lost(
        Then::Members {
            room: "#general".into(),
        },
        0,
    );
    app.on_lost(
        Then::Quiet {
            room: "#general".into(),
        },
        0,
    );
    reconnect(&mut app, 0, 2);
    let notes: Vec<String> = shown(&app)
        .into_iter()
        .filter(|l| !l.starts_with('<'))
        .collect();
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(
        notes[0].contains("disconnected: connection lost"),
        "{notes:#?}"
    );
    assert!(
        notes[1].contains("connected again (down for 0s)"),
        "{notes:#?}"
    );
    // The next outage has its own pair.
    app.on_conn(ConnState::Waiting {
        until: Instant::now(),
        attempt: 1,
        reason: "connection refused".into(),
    });
    assert_eq!(
        shown(&app).last().map(String::as_str),
        Some("!! disconnected: connection refused; reconnecting (Ctrl+R to retry now)")
    );
}

#[test]
fn the_message_of_the_day_shows_once_dimmed_in_the_first_room() {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    app.on_welcome(&[]);
    app.on_motd(Some("Welcome to the team server.\nBe kind."));
    app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![room_state("#general", 0, 0)],
        blocked: Vec::new(),
        invitations: Vec::new(),
    });
    let motd = |app: &App| {
        app.room()
            .unwrap()
            .entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Motd(_)))
            .count()
    };
    assert_eq!(motd(&app), 1);
    // Not again at a reconnect.
    app.on_motd(Some("Welcome to the team server.\nBe kind."));
    reconnect(&mut app, 0, 10);
    assert_eq!(motd(&app), 1);
}

#[test]
fn tabs_show_as_spaces_and_flags_as_their_letters() {
    assert_eq!(text::display_text("a\tb\tc"), "a   b   c");
    assert_eq!(text::display_text("ab\tc"), "ab  c");
    assert_eq!(text::display_text("x\n\ty"), "x\n    y");
    assert_eq!(text::display_text("vive la 🇫🇷 !"), "vive la [FR] !");
    assert_eq!(text::display_text("\u{202e}evil"), "\u{fffd}evil");
    assert!(matches!(
        text::display_text("plain 日本語"),
        std::borrow::Cow::Borrowed(_)
    ));
    let mut app = online_app();
    app.on_event(
        Event::Message(msg(11, "#general", "bob", "col1\tcol2 🇫🇷")),
        Instant::now(),
    );
    assert_eq!(
        shown(&app).last().map(String::as_str),
        Some("<bob> col1    col2 [FR]")
    );
}

#[test]
fn kicks_and_bans_of_members_are_told_once() {
    use super::tests::enter;
    let mut app = online_app();
    app.on_reply(
        Then::Members {
            room: "#general".into(),
        },
        Ok(Response::Members {
            room: "#general".into(),
            members: vec![natter_shared::Member {
                name: "mallory".into(),
                role: natter_shared::Role::Member,
                presence: PresenceState::Online,
                status: None,
                display_name: None,
            }],
        }),
        0,
    );
    let (_, then) = super::tests::the_request(&enter(&mut app, "/ban mallory spam"));
    // The room's "was banned" event is the one line.
    app.on_reply(then, Ok(Response::Done), 0);
    app.on_event(
        Event::Left {
            room: "#general".into(),
            user: "mallory".into(),
            kind: natter_shared::LeaveKind::Banned,
            by: Some("alice".into()),
            reason: Some("spam".into()),
        },
        Instant::now(),
    );
    let lines = shown(&app);
    assert_eq!(
        lines.iter().filter(|l| l.contains("banned")).count(),
        1,
        "{lines:#?}"
    );
}

#[test]
fn the_directory_counts_in_words_and_wrapped_notices_mark_only_their_first_line() {
    let mut app = online_app();
    app.on_reply(
        Then::Directory,
        Ok(Response::Directory(vec![natter_shared::RoomListing {
            name: "#quiet".into(),
            topic: "shh".into(),
            members: 1,
        }])),
        0,
    );
    let layout = text::Layout {
        width: 80,
        utc_offset: 0,
        me: "alice",
        blocked: app.safety.blocked(),
    };
    let notes: Vec<(bool, String)> = layout
        .visible(app.room().unwrap(), 100)
        .into_iter()
        .filter_map(|row| match row {
            text::Row::Note { time, text, .. } => Some((!time.is_empty(), text)),
            _ => None,
        })
        .collect();
    assert_eq!(
        notes,
        [
            (true, "1 public room:".to_owned()),
            (false, "  #quiet (1 member) shh".to_owned())
        ]
    );
}
