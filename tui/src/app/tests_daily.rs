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
            blobs: 0,
            blob_bytes: 0,
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
            rev: 0,
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
    general.last_read = last_id - u64::from(unread);
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
            rev: 0,
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
        typing_requests(&type_text(&mut app, "x", t0 + Duration::from_mins(1))),
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
                bot: false,
                guest: false,
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
            category: None,
        }])),
        0,
    );
    let layout = text::Layout {
        width: 80,
        utc_offset: 0,
        me: "alice",
        blocked: app.safety.blocked(),
        thumbs: None,
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

/// The reply to a page of `room`'s older history.
fn older_page(
    app: &mut App,
    room: &str,
    ids: std::ops::RangeInclusive<u64>,
    more: bool,
) -> Vec<Effect> {
    app.on_reply(
        Then::History {
            room: room.into(),
            older: true,
        },
        Ok(Response::Messages {
            room: room.into(),
            messages: ids.map(|i| msg(i, room, "bob", &format!("m{i}"))).collect(),
            more,
            rev: 0,
        }),
        0,
    )
}

/// The older-history request among `effects`: `Some(0)` for the newest
/// page, `Some(id)` for the page before `id`.
fn history_before(effects: &[Effect]) -> Option<u64> {
    requests(effects).iter().find_map(|r| match r {
        Request::History { query, .. } if query.after.is_none() => Some(query.before.unwrap_or(0)),
        _ => None,
    })
}

fn marked(effects: &[Effect]) -> Option<u64> {
    requests(effects).iter().find_map(|r| match r {
        Request::MarkRead { id, .. } => Some(*id),
        _ => None,
    })
}

#[test]
fn a_room_with_many_unread_opens_at_the_first_and_marks_only_what_was_shown() {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    app.size = (120, 40);
    let mut big = room_state("#big", 250, 0);
    big.last_read = 250;
    big.last_id = 500;
    app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![room_state("#general", 0, 0), big],
        blocked: Vec::new(),
        invitations: Vec::new(),
    });
    let effects = app.switch_to(0);
    assert_eq!(app.room().unwrap().name, "#big");
    assert_eq!(history_before(&effects), Some(0), "the newest page first");
    // Pages walk back to the first unread; nothing is read meanwhile.
    let effects = older_page(&mut app, "#big", 401..=500, true);
    assert_eq!(history_before(&effects), Some(401));
    assert_eq!(marked(&effects), None);
    let effects = older_page(&mut app, "#big", 301..=400, true);
    assert_eq!(history_before(&effects), Some(301));
    let effects = older_page(&mut app, "#big", 201..=300, true);
    assert_eq!(history_before(&effects), None, "the first unread is loaded");
    // The view opens with the "new" line and message 251 at its top; only
    // the screenful shown is read.
    let room = app.room().unwrap();
    assert!(room.scroll.is_some(), "not at the bottom");
    let rows = shown_rows(&app);
    assert_eq!(rows.first().map(String::as_str), Some("new"), "{rows:#?}");
    assert_eq!(rows.get(1).map(String::as_str), Some("<bob> m251"));
    let read = marked(&effects).expect("the screenful is read");
    assert!((251..300).contains(&read), "read up to {read}");
    assert!(app.room().unwrap().unread > 200);
    // Paging down reads on; the end reads everything.
    let effects = app.on_key(
        super::tests::key(crossterm::event::KeyCode::PageDown),
        Instant::now(),
        0,
    );
    assert!(marked(&effects).is_some_and(|id| id > read));
    let effects = app.on_key(
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::End,
            crossterm::event::KeyModifiers::CONTROL,
        ),
        Instant::now(),
        0,
    );
    assert_eq!(marked(&effects), Some(500));
    assert_eq!(app.room().unwrap().unread, 0);
    // Alt+U goes back to the first unread of this visit.
    app.on_key(
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char('u'),
            crossterm::event::KeyModifiers::ALT,
        ),
        Instant::now(),
        0,
    );
    assert_eq!(
        shown_rows(&app).get(1).map(String::as_str),
        Some("<bob> m251")
    );
}

/// The rows of the view, as `shown` names them, with the "new" line.
fn shown_rows(app: &App) -> Vec<String> {
    let layout = text::Layout {
        width: app.messages_width(),
        utc_offset: 0,
        me: &app.user,
        blocked: app.safety.blocked(),
        thumbs: None,
    };
    let height = usize::from(text::messages_area(app).height);
    layout
        .visible(app.room().unwrap(), height)
        .into_iter()
        .filter_map(|row| match row {
            text::Row::Head { nick, text, .. } => Some(format!("<{nick}> {text}")),
            text::Row::New => Some("new".into()),
            _ => None,
        })
        .collect()
}

fn saved(effects: &[Effect]) -> Option<&crate::prefs::RoomPrefs> {
    effects.iter().find_map(|e| match e {
        Effect::SavePrefs(p) => Some(p),
        _ => None,
    })
}

#[test]
fn notify_and_mute_are_per_room_and_kept() {
    use super::tests::enter;
    use crate::notify::NotifyLevel;
    let mut app = online_app();
    let now = Instant::now();
    app.on_focus(false);
    let notifies = |e: &[Effect]| {
        e.iter()
            .filter(|e| matches!(e, Effect::Notify { .. }))
            .count()
    };
    // #general, at the default (mentions): a plain message does not notify.
    assert_eq!(
        notifies(&app.on_event(Event::Message(msg(11, "#general", "bob", "hi")), now)),
        0
    );
    let effects = enter(&mut app, "/notify all");
    assert_eq!(
        saved(&effects).and_then(|p| p.notify.get("#general")),
        Some(&NotifyLevel::All)
    );
    assert_eq!(
        notifies(&app.on_event(Event::Message(msg(12, "#general", "bob", "hi")), now)),
        1
    );
    // Muted: nothing notifies, not even a mention, and the room leaves
    // the unread total.
    let effects = enter(&mut app, "/mute");
    assert!(saved(&effects).is_some_and(|p| p.muted.contains("#general")));
    let effects = app.on_event(
        Event::Message(msg(13, "#general", "bob", "@alice look")),
        now,
    );
    assert_eq!(notifies(&effects), 0);
    let general = app.rooms.by_name("#general").unwrap().unread;
    assert!(general > 0);
    assert_eq!(
        app.total_unread(),
        app.rooms.by_name("#rust").unwrap().unread
    );
    enter(&mut app, "/unmute");
    assert_eq!(
        app.total_unread(),
        general + app.rooms.by_name("#rust").unwrap().unread
    );
    // A new client starts with the choices kept.
    let prefs = app.settings.prefs.clone();
    let mut next = online_app();
    next.set_prefs(prefs);
    assert_eq!(next.notify_level("#general"), NotifyLevel::All);
    assert!(enter(&mut next, "/notify loud").is_empty());
    assert!(
        shown(&next)
            .last()
            .is_some_and(|l| l.contains("usage: /notify all|mentions|none"))
    );
}

#[test]
fn markread_reads_this_room_or_all_of_them() {
    use super::tests::enter;
    let mut app = online_app();
    let effects = enter(&mut app, "/markread --all");
    // #rust (2 unread, never opened) is read up to its newest, 10.
    assert!(requests(&effects).iter().any(|r| matches!(
        r,
        Request::MarkRead { room, id: 10 } if room == "#rust"
    )));
    assert_eq!(app.total_unread(), 0);
    app.on_event(Event::Message(msg(11, "#rust", "bob", "x")), Instant::now());
    assert_eq!(app.total_unread(), 1);
    let effects = enter(&mut app, "/markread");
    assert!(
        !requests(&effects)
            .iter()
            .any(|r| matches!(r, Request::MarkRead { room, .. } if room == "#rust")),
        "only the room on screen"
    );
}

#[test]
fn close_hides_a_conversation_until_its_next_message() {
    use super::tests::enter;
    let mut app = App::new("chat:7878", "alice", Settings::default());
    let session = |bob_last: u64| SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![room_state("#general", 0, 0), {
            let mut bob = room_state("@bob", 0, 0);
            bob.last_id = bob_last;
            bob
        }],
        blocked: Vec::new(),
        invitations: Vec::new(),
    };
    app.on_online(&session(10));
    app.switch_to(app.rooms.index_of("@bob").unwrap());
    let effects = enter(&mut app, "/close");
    assert_eq!(
        saved(&effects).and_then(|p| p.closed.get("@bob")),
        Some(&10)
    );
    assert!(app.rooms.by_name("@bob").is_none());
    assert_eq!(app.room().unwrap().name, "#general");
    // A reconnect with nothing new keeps it hidden.
    app.on_online(&session(10));
    assert!(app.rooms.by_name("@bob").is_none());
    // Bob writes: it is back, counted, and no longer closed.
    let effects = app.on_event(
        Event::Message(msg(11, "@bob", "bob", "ping")),
        Instant::now(),
    );
    assert!(saved(&effects).is_some_and(|p| p.closed.is_empty()));
    assert_eq!(app.rooms.by_name("@bob").map(|r| r.unread), Some(1));
    // Rooms are left, not closed.
    enter(&mut app, "/close");
    assert!(
        shown(&app)
            .last()
            .is_some_and(|l| l.contains("/leave it instead"))
    );
}

#[test]
fn clear_empties_the_view_and_new_messages_still_show() {
    use super::tests::enter;
    let mut app = online_app();
    fill(&mut app, 5);
    enter(&mut app, "/clear");
    assert!(shown(&app).is_empty());
    assert!(
        !app.room().unwrap().has_older,
        "scrolling up fetches nothing back"
    );
    app.on_event(
        Event::Message(msg(6, "#general", "bob", "after")),
        Instant::now(),
    );
    assert_eq!(shown(&app), ["<bob> after"]);
}
