//! Rich messages: edits, deletes, reactions, replies, threads, the
//! `since` catch-up, selection mode, the message commands and search.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use natter_shared::{
    ErrorCode, ErrorReply, Event, HistoryQuery, Message, ReactOp, Reaction, Request, Response,
    SearchHit, SessionInfo, SnippetPart, ThreadSummary, features,
};

use super::rich::Pending;
use super::tests::{enter, key, msg, room_state, the_request, type_text};
use super::*;

/// Online with every feature, `#general` loaded with messages 1 to 4
/// (bob, carol, alice, bob), revisions 1 to 4.
fn rich_app() -> App {
    rich_app_with(natter_shared::features::ALL)
}

fn rich_app_with(list: &[&str]) -> App {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    let list: Vec<String> = list.iter().map(|f| (*f).to_owned()).collect();
    app.on_welcome(&list);
    app.on_online(&session());
    let page: Vec<Message> = [
        (1, "bob", "first words here"),
        (2, "carol", "hello"),
        (3, "alice", "mine"),
        (4, "bob", "last"),
    ]
    .iter()
    .map(|(id, from, body)| with_rev(msg(*id, "#general", from, body), *id))
    .collect();
    app.on_reply(
        Then::History {
            room: "#general".into(),
            older: true,
        },
        Ok(Response::Messages {
            room: "#general".into(),
            messages: page,
            more: false,
            rev: 4,
        }),
        0,
    );
    app
}

fn session() -> SessionInfo {
    let mut general = room_state("#general", 0, 0);
    general.last_id = 4;
    SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![general, room_state("#rust", 0, 0)],
        blocked: Vec::new(),
        invitations: Vec::new(),
    }
}

fn with_rev(mut m: Message, rev: u64) -> Message {
    m.rev = rev;
    m
}

/// Every row of the room on screen as text, the meta rows too.
fn rows(app: &App) -> Vec<String> {
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
            text::Row::Meta { parts, .. } => Some(format!(
                "  {}",
                parts
                    .iter()
                    .map(|(t, tone)| match tone {
                        text::Tone::Mine => format!("[{t}]"),
                        text::Tone::Dim | text::Tone::File => t.clone(),
                    })
                    .collect::<String>()
            )),
            text::Row::Note { text, .. } => Some(format!("-- {text}")),
            _ => None,
        })
        .collect()
}

/// The effects without the typing notices.
fn no_typing(effects: Vec<Effect>) -> Vec<Effect> {
    effects
        .into_iter()
        .filter(|e| {
            !matches!(
                e,
                Effect::Request {
                    req: Request::Typing { .. },
                    ..
                }
            )
        })
        .collect()
}

fn alt(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::ALT)
}

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.on_key(key(code), Instant::now(), 0)
}

fn last_error(app: &App) -> String {
    match app
        .room()
        .and_then(|r| r.entries.back())
        .map(|e| e.kind.clone())
    {
        Some(EntryKind::Error(t) | EntryKind::Notice(t)) => t,
        other => panic!("no notice: {other:?}"),
    }
}

#[test]
fn edits_deletes_and_reactions_apply_live() {
    let mut app = rich_app();
    let now = Instant::now();
    app.on_event(
        Event::Edited {
            room: "#general".into(),
            id: 2,
            body: "hello there".into(),
            edited_at: 5,
            rev: 5,
        },
        now,
    );
    for (user, on, rev) in [("alice", true, 6), ("bob", true, 7), ("bob", false, 8)] {
        app.on_event(
            Event::Reaction {
                room: "#general".into(),
                id: 1,
                key: "👍".into(),
                user: user.into(),
                on,
                rev,
            },
            now,
        );
    }
    app.on_event(
        Event::Reaction {
            room: "#general".into(),
            id: 1,
            key: "🎉".into(),
            user: "carol".into(),
            on: true,
            rev: 9,
        },
        now,
    );
    app.on_event(
        Event::Deleted {
            room: "#general".into(),
            id: 4,
            by: "bob".into(),
            rev: 10,
        },
        now,
    );
    assert_eq!(
        rows(&app),
        [
            "<bob> first words here",
            "  [👍 1]  🎉 1",
            "<carol> hello there (edited)",
            "<alice> mine",
            "<bob> message deleted",
        ]
    );
    assert_eq!(app.room().unwrap().rev, 10);
}

#[test]
fn a_since_catch_up_leaves_no_stale_body_no_ghost_and_no_missing_reaction() {
    let mut app = rich_app();
    app.on_conn(ConnState::Connecting { attempt: 1 });
    let mut s = session();
    s.rooms[0].last_id = 12;
    let effects = app.on_online(&s);
    // `since` instead of `after` for the room that has seen revisions.
    let (req, then) = the_request(
        &effects
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Effect::Request {
                        req: Request::History { .. },
                        ..
                    }
                )
            })
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        req,
        Request::History {
            room: "#general".into(),
            query: HistoryQuery {
                limit: rooms::PAGE,
                since: Some(4),
                ..Default::default()
            },
        }
    );
    let mut edited = with_rev(msg(2, "#general", "carol", "hello, fixed"), 5);
    edited.edited_at = Some(1);
    let mut gone = with_rev(msg(4, "#general", "bob", ""), 6);
    gone.deleted = true;
    let mut reacted = with_rev(msg(1, "#general", "bob", "first words here"), 9);
    reacted.reactions = vec![Reaction {
        key: "🚀".into(),
        users: vec!["alice".into(), "carol".into()],
    }];
    reacted.replies = Some(ThreadSummary {
        count: 1,
        last_from: "carol".into(),
        last_ts: 1_700_000_000_000,
    });
    let mut in_thread = with_rev(msg(11, "#general", "carol", "in the thread"), 8);
    in_thread.thread = Some(1);
    let new = with_rev(msg(12, "#general", "bob", "new one"), 10);
    app.on_reply(
        then,
        Ok(Response::Messages {
            room: "#general".into(),
            messages: vec![edited, gone, in_thread, reacted, new],
            more: false,
            rev: 11,
        }),
        0,
    );
    let shown: Vec<String> = rows(&app)
        .into_iter()
        .filter(|r| !r.starts_with("--"))
        .collect();
    assert_eq!(
        shown,
        [
            "<bob> first words here",
            "  1 reply, last by carol 22:13",
            "  [🚀 2]",
            "<carol> hello, fixed (edited)",
            "<alice> mine",
            "<bob> message deleted",
            "<bob> new one",
        ]
    );
    assert_eq!(app.room().unwrap().rev, 11);
}

#[test]
fn thread_replies_stay_out_of_the_timeline_and_count_on_the_root() {
    let mut app = rich_app();
    let mut reply = with_rev(msg(5, "#general", "bob", "a reply"), 5);
    reply.thread = Some(1);
    app.on_event(Event::Message(reply), Instant::now());
    assert_eq!(rows(&app)[1], "  1 reply, last by bob 22:18");
    assert!(!rows(&app).iter().any(|r| r.contains("a reply")));
    assert!(app.room().unwrap().entries.message(5).is_none());
}

#[test]
fn thread_replies_count_and_notify_in_their_room_and_viewing_reads_them() {
    let mut app = rich_app();
    // #general is on screen at its bottom: a reply in one of its threads
    // is read at once, with its own id, as the server counts it.
    let mut reply = with_rev(msg(5, "#general", "bob", "a reply"), 5);
    reply.thread = Some(1);
    let effects = app.on_event(Event::Message(reply), Instant::now());
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Request {
            req: Request::MarkRead { room, id: 5 }, ..
        } if room == "#general")),
        "{effects:?}"
    );
    // Elsewhere it counts, and a mention in a thread notifies.
    let mut elsewhere = with_rev(msg(6, "#rust", "bob", "@alice look"), 6);
    elsewhere.thread = Some(2);
    let effects = app.on_event(Event::Message(elsewhere), Instant::now());
    let rust = app.rooms.by_name("#rust").unwrap();
    assert_eq!((rust.unread, rust.mentions), (1, 1));
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Notify { .. })),
        "{effects:?}"
    );
}

#[test]
fn a_thread_opens_shows_its_replies_and_sends_inside_it() {
    let mut app = rich_app();
    app.on_key(alt(KeyCode::Up), Instant::now(), 0);
    for _ in 0..3 {
        press(&mut app, KeyCode::Up);
    }
    assert_eq!(app.select, Some(1));
    let (req, then) = the_request(&press(&mut app, KeyCode::Char('t')));
    assert!(matches!(
        req,
        Request::History {
            query: HistoryQuery {
                thread: Some(1),
                ..
            },
            ..
        }
    ));
    let mut r1 = msg(6, "#general", "carol", "in thread");
    r1.thread = Some(1);
    app.on_reply(
        then,
        Ok(Response::Messages {
            room: "#general".into(),
            messages: vec![msg(1, "#general", "bob", "first words here"), r1],
            more: false,
            rev: 6,
        }),
        0,
    );
    let Overlay::Thread(t) = &app.overlay else {
        panic!("no thread");
    };
    assert_eq!(t.entries.len(), 2);
    // A live reply appears; one elsewhere does not.
    let mut live = msg(7, "#general", "bob", "live one");
    live.thread = Some(1);
    app.on_event(Event::Message(live), Instant::now());
    let mut other = msg(8, "#general", "bob", "other thread");
    other.thread = Some(2);
    app.on_event(Event::Message(other), Instant::now());
    let Overlay::Thread(t) = &app.overlay else {
        panic!("no thread");
    };
    assert_eq!(t.entries.len(), 3);
    type_text(&mut app, "me too", Instant::now());
    let effects = press(&mut app, KeyCode::Enter);
    assert!(effects.iter().any(|e| matches!(e,
        Effect::Send { body, thread: Some(1), reply_to: None, .. } if body == "me too")));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn selection_mode_replies_with_a_quote_and_esc_cancels() {
    let mut app = rich_app();
    // Plain Up on an empty input is still recall; Alt+Up selects.
    assert_eq!(app.select, None);
    app.on_key(alt(KeyCode::Up), Instant::now(), 0);
    assert_eq!(app.select, Some(4));
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.select, Some(1), "stops at the oldest");
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Char('r'));
    assert_eq!(app.select, None);
    assert_eq!(
        app.compose.as_ref().map(Compose::label).unwrap(),
        "replying to bob: first words here  (Esc cancels)"
    );
    type_text(&mut app, "yes", Instant::now());
    let effects = press(&mut app, KeyCode::Enter);
    assert!(effects.iter().any(|e| matches!(e,
        Effect::Send { body, reply_to: Some(1), thread: None, .. } if body == "yes")));
    assert_eq!(app.compose, None);
    // The pending reply shows its quote at once.
    let shown = rows(&app);
    assert_eq!(shown[shown.len() - 2], "  ↳ bob: first words here");
    // Esc cancels a reply.
    app.on_key(alt(KeyCode::Up), Instant::now(), 0);
    press(&mut app, KeyCode::Char('r'));
    assert!(app.compose.is_some());
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.compose, None);
    // Esc leaves selection mode.
    app.on_key(alt(KeyCode::Up), Instant::now(), 0);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.select, None);
}

#[test]
fn selection_mode_edits_only_your_own() {
    let mut app = rich_app();
    app.on_key(alt(KeyCode::Up), Instant::now(), 0);
    press(&mut app, KeyCode::Char('e'));
    assert_eq!(last_error(&app), "you can only edit your own messages");
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Char('e'));
    assert_eq!(app.composer.value(), "mine");
    assert_eq!(
        app.compose.as_ref().map(Compose::label).unwrap(),
        "editing your message  (Esc cancels)"
    );
    type_text(&mut app, "!", Instant::now());
    let (req, _) = the_request(&no_typing(press(&mut app, KeyCode::Enter)));
    assert_eq!(
        req,
        Request::Edit {
            room: "#general".into(),
            id: 3,
            body: "mine!".into()
        }
    );
}

#[test]
fn selection_mode_deletes_after_yes() {
    let mut app = rich_app();
    app.on_key(alt(KeyCode::Up), Instant::now(), 0);
    press(&mut app, KeyCode::Char('d'));
    assert_eq!(
        last_error(&app),
        "you can only delete your own messages here"
    );
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Char('d'));
    assert_eq!(last_error(&app), "delete this message? y/n");
    assert!(press(&mut app, KeyCode::Char('n')).is_empty());
    press(&mut app, KeyCode::Char('d'));
    let (req, _) = the_request(&press(&mut app, KeyCode::Char('y')));
    assert_eq!(
        req,
        Request::Delete {
            room: "#general".into(),
            id: 3
        }
    );
    // A moderator may delete anyone's.
    let mut app = rich_app();
    app.rooms.current_mut().unwrap().role = natter_shared::Role::Moderator;
    app.on_key(alt(KeyCode::Up), Instant::now(), 0);
    press(&mut app, KeyCode::Char('d'));
    let (req, _) = the_request(&press(&mut app, KeyCode::Char('y')));
    assert!(matches!(req, Request::Delete { id: 4, .. }));
}

#[test]
fn selection_mode_reacts_with_completion_and_recent_picks() {
    let mut app = rich_app();
    app.on_key(alt(KeyCode::Up), Instant::now(), 0);
    press(&mut app, KeyCode::Char('+'));
    assert!(matches!(app.overlay, Overlay::React(_)));
    type_text(&mut app, ":ta", Instant::now());
    press(&mut app, KeyCode::Tab);
    let (req, _) = the_request(&press(&mut app, KeyCode::Enter));
    assert_eq!(
        req,
        Request::React {
            room: "#general".into(),
            id: 4,
            key: "🎉".into(),
            op: ReactOp::Toggle
        }
    );
    assert_eq!(app.overlay, Overlay::None);
    // Still selecting: the next message, and a recent pick.
    assert_eq!(app.select, Some(4));
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Char('+'));
    let (req, _) = the_request(&press(&mut app, KeyCode::Char('1')));
    assert!(matches!(req, Request::React { id: 3, ref key, .. } if key == "🎉"));
    // Not a reaction: said so.
    press(&mut app, KeyCode::Char('+'));
    type_text(&mut app, "not one", Instant::now());
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert!(last_error(&app).contains("reaction"));
}

#[test]
fn y_copies_the_text_with_osc_52() {
    let mut app = rich_app();
    app.on_key(alt(KeyCode::Up), Instant::now(), 0);
    let effects = press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        effects,
        [Effect::Copy {
            text: "last".into()
        }]
    );
    assert_eq!(crate::tui::osc52("last"), "\x1b]52;c;bGFzdA==\x1b\\");
}

#[test]
fn enter_on_a_reply_goes_to_its_parent_or_fetches_around_it() {
    let mut app = rich_app();
    let mut reply = with_rev(msg(5, "#general", "bob", "re"), 5);
    reply.reply_to = Some(2);
    let mut far = with_rev(msg(6, "#general", "bob", "re old"), 6);
    far.reply_to = Some(100);
    app.on_event(Event::Message(reply), Instant::now());
    app.on_event(Event::Message(far.clone()), Instant::now());
    // Not loaded: the quote says so.
    assert!(rows(&app).contains(&"  ↳ a message".to_owned()));
    assert!(rows(&app).contains(&"  ↳ carol: hello".to_owned()));
    app.on_key(alt(KeyCode::Up), Instant::now(), 0);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.select, Some(5));
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert_eq!(app.select, Some(2), "the parent, highlighted");
    // A parent outside what is loaded: the page around it.
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.select, Some(6));
    let (req, _) = the_request(&press(&mut app, KeyCode::Enter));
    assert!(matches!(
        req,
        Request::History {
            query: HistoryQuery {
                around: Some(100),
                ..
            },
            ..
        }
    ));
}

#[test]
fn message_commands_parse_and_address_messages_like_report() {
    use super::command::{Command, Reported, parse};
    assert_eq!(
        parse("/reply 12 sure thing"),
        Ok(Command::Reply {
            what: Reported::Id(12),
            text: "sure thing".into()
        })
    );
    assert_eq!(
        parse("/reply @Bob ok"),
        Ok(Command::Reply {
            what: Reported::Newest("bob".into()),
            text: "ok".into()
        })
    );
    assert_eq!(
        parse("/edit 7 fixed it"),
        Ok(Command::Edit {
            id: Some(7),
            text: "fixed it".into()
        })
    );
    assert_eq!(
        parse("/edit fixed it"),
        Ok(Command::Edit {
            id: None,
            text: "fixed it".into()
        })
    );
    assert_eq!(parse("/delete 3"), Ok(Command::Delete(Reported::Id(3))));
    assert_eq!(
        parse("/react @bob :+1:"),
        Ok(Command::React {
            what: Reported::Newest("bob".into()),
            key: ":+1:".into()
        })
    );
    assert_eq!(parse("/thread 1"), Ok(Command::Thread(Reported::Id(1))));
    assert_eq!(
        parse("/search rust async"),
        Ok(Command::Search("rust async".into()))
    );
    assert_eq!(parse("/reply 3"), Err("usage: /reply id|@user text".into()));
    for name in ["/reply", "/edit", "/delete", "/react", "/thread", "/search"] {
        assert!(command::COMMANDS.iter().any(|(n, ..)| *n == name), "{name}");
    }
}

#[test]
fn message_commands_run() {
    let mut app = rich_app();
    let effects = enter(&mut app, "/reply @bob right");
    assert!(effects.iter().any(|e| matches!(e,
        Effect::Send { body, reply_to: Some(4), .. } if body == "right")));
    let (req, _) = the_request(&enter(&mut app, "/edit better"));
    assert_eq!(
        req,
        Request::Edit {
            room: "#general".into(),
            id: 3,
            body: "better".into()
        }
    );
    enter(&mut app, "/edit 2 hijack");
    assert_eq!(last_error(&app), "you can only edit your own messages");
    let (req, _) = the_request(&enter(&mut app, "/delete 3"));
    assert_eq!(
        req,
        Request::Delete {
            room: "#general".into(),
            id: 3
        }
    );
    let (req, _) = the_request(&enter(&mut app, "/react 2 :+1:"));
    assert!(matches!(req, Request::React { id: 2, ref key, .. } if key == "👍"));
    let (req, _) = the_request(&enter(&mut app, "/thread @carol"));
    assert!(matches!(
        req,
        Request::History {
            query: HistoryQuery {
                thread: Some(2),
                ..
            },
            ..
        }
    ));
    app.overlay = Overlay::None;
    let (req, _) = the_request(&enter(&mut app, "/search hello"));
    assert!(matches!(req, Request::Search(q) if q.query == "hello" && q.before.is_none()));
}

fn hit(id: u64, room: &str) -> SearchHit {
    SearchHit {
        message: msg(id, room, "bob", "the hello word"),
        snippet: vec![
            SnippetPart {
                text: "the ".into(),
                hit: false,
            },
            SnippetPart {
                text: "hello".into(),
                hit: true,
            },
        ],
    }
}

#[test]
fn search_runs_pages_and_jumps_to_a_result_in_its_room() {
    let mut app = rich_app();
    app.on_key(
        KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL),
        Instant::now(),
        0,
    );
    assert!(matches!(app.overlay, Overlay::Search(_)));
    type_text(&mut app, "hello", Instant::now());
    let (req, then) = the_request(&press(&mut app, KeyCode::Enter));
    assert!(matches!(req, Request::Search(ref q) if q.query == "hello"));
    app.on_reply(
        then,
        Ok(Response::Found {
            hits: vec![hit(40, "#rust"), hit(30, "#rust")],
            more: true,
        }),
        0,
    );
    press(&mut app, KeyCode::Down);
    let (req, then) = the_request(&press(&mut app, KeyCode::PageDown));
    assert!(matches!(req, Request::Search(ref q) if q.before == Some(30)));
    app.on_reply(
        then,
        Ok(Response::Found {
            hits: vec![hit(20, "#rust")],
            more: false,
        }),
        0,
    );
    let Overlay::Search(s) = &app.overlay else {
        panic!("closed");
    };
    assert_eq!(s.hits.len(), 3);
    // Enter on the first: #rust, fetched around it.
    press(&mut app, KeyCode::Up);
    let (req, then) = the_request(&press(&mut app, KeyCode::Enter));
    assert_eq!(app.overlay, Overlay::None);
    assert!(matches!(
        req,
        Request::History { ref room, query: HistoryQuery { around: Some(40), .. } } if room == "#rust"
    ));
    app.on_reply(
        then,
        Ok(Response::Messages {
            room: "#rust".into(),
            messages: vec![
                msg(39, "#rust", "carol", "before"),
                msg(40, "#rust", "bob", "the hello word"),
            ],
            more: true,
            rev: 50,
        }),
        0,
    );
    assert_eq!(app.room().unwrap().name, "#rust");
    assert_eq!(app.select, Some(40));
    // Esc closes a search.
    app.on_key(
        KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL),
        Instant::now(),
        0,
    );
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn what_the_server_lacks_is_refused_with_a_notice() {
    let basic: Vec<&str> = features::ALL
        .iter()
        .copied()
        .filter(|f| {
            !matches!(
                *f,
                "replies" | "threads" | "edits" | "deletes" | "reactions" | "search" | "around"
            )
        })
        .collect();
    let mut app = rich_app_with(&basic);
    for (line, what) in [
        ("/reply 1 hi", "replies"),
        ("/edit again", "editing messages"),
        ("/delete 3", "deleting messages"),
        ("/react 1 :+1:", "reactions"),
        ("/thread 1", "threads"),
        ("/search x", "search"),
    ] {
        assert!(enter(&mut app, line).is_empty(), "{line}");
        assert_eq!(
            last_error(&app),
            format!("the server does not support {what}")
        );
    }
    app.on_key(
        KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL),
        Instant::now(),
        0,
    );
    assert_eq!(app.overlay, Overlay::None);
    app.on_key(alt(KeyCode::Up), Instant::now(), 0);
    for c in ['r', 't', 'e', 'd', '+'] {
        assert!(press(&mut app, KeyCode::Char(c)).is_empty());
        assert!(
            last_error(&app).starts_with("the server does not support"),
            "{c}"
        );
    }
    assert_eq!(app.compose, None);
}

#[test]
fn a_gone_message_says_so() {
    let mut app = rich_app();
    let (_, then) = the_request(&enter(&mut app, "/delete 3"));
    app.on_reply(
        then,
        Err(ErrorReply::new(ErrorCode::NoSuchMessage, "no such message")),
        0,
    );
    assert_eq!(last_error(&app), "that message is gone or not visible");
    app.on_lost(
        Then::Rich(Pending::Change {
            room: "#general".into(),
        }),
        0,
    );
    assert_eq!(last_error(&app), "offline; try again once connected");
}

#[test]
fn a_since_catch_up_fills_inside_what_is_held_and_ignores_what_is_older() {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    let all: Vec<String> = features::ALL.iter().map(|f| (*f).to_owned()).collect();
    app.on_welcome(&all);
    app.on_online(&session());
    let page: Vec<Message> = [5, 6, 8]
        .iter()
        .map(|id| with_rev(msg(*id, "#general", "bob", "x"), *id))
        .collect();
    app.on_reply(
        Then::History {
            room: "#general".into(),
            older: true,
        },
        Ok(Response::Messages {
            room: "#general".into(),
            messages: page,
            more: true,
            rev: 8,
        }),
        0,
    );
    let old = with_rev(msg(2, "#general", "bob", "old, edited"), 9);
    let gap = with_rev(msg(7, "#general", "carol", "in between"), 10);
    let effects = app.on_reply(
        Then::Rich(Pending::Since {
            room: "#general".into(),
        }),
        Ok(Response::Messages {
            room: "#general".into(),
            messages: vec![old, gap],
            more: true,
            rev: 12,
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
    assert_eq!(ids, [5, 6, 7, 8], "no ghost of 2, 7 in its place");
    // More to come: the next page starts after the last revision applied.
    let (req, _) = the_request(&effects);
    assert!(matches!(
        req,
        Request::History {
            query: HistoryQuery {
                since: Some(10),
                ..
            },
            ..
        }
    ));
}

#[test]
fn a_failed_thread_reply_says_so() {
    let mut app = rich_app();
    app.open_thread("#general", 1, 0);
    type_text(&mut app, "lost", Instant::now());
    let effects = press(&mut app, KeyCode::Enter);
    let local = effects
        .iter()
        .find_map(|e| match e {
            Effect::Send { local, .. } => Some(*local),
            _ => None,
        })
        .unwrap();
    app.on_sent(local, Err("too fast".into()));
    let Overlay::Thread(t) = &app.overlay else {
        panic!("closed");
    };
    assert_eq!(t.error.as_deref(), Some("✗ not sent: too fast"));
}
