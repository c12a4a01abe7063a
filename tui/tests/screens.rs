//! Whole screens drawn on ratatui's `TestBackend`, pinned as insta
//! snapshots at 120x40 and 60x20. After an intended change to the look, run
//! `INSTA_UPDATE=always cargo test -p natter --test screens` and review the
//! `.snap` diffs. Times are UTC and fixed, so the snapshots are stable.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use natter::app::{App, ConnState, Settings, Then};
use natter::ui::{self, Theme};
use natter_shared::{
    Event, Invitation, Member, Message, PresenceState, Report, Response, Role, RoomKind, RoomState,
    SessionInfo,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const T0: i64 = 1_763_800_000_000; // Sat 22 Nov 2025 08:26:40 UTC

fn room(name: &str, unread: u32, mentions: u32, topic: &str) -> RoomState {
    RoomState {
        name: name.into(),
        kind: if name.starts_with('@') {
            RoomKind::Direct
        } else {
            RoomKind::Public
        },
        topic: topic.into(),
        role: Role::Member,
        unread,
        mentions,
        last_read: 0,
        last_id: 50,
        members: 4,
        announce: false,
        category: None,
    }
}

fn msg(id: u64, from: &str, body: &str) -> Message {
    Message {
        id,
        ts: T0 + i64::try_from(id).unwrap() * 47_000,
        room: "#general".into(),
        from: from.into(),
        body: body.into(),
        action: false,
        nonce: None,
        ..Default::default()
    }
}

fn member(name: &str, presence: PresenceState, role: Role, status: Option<&str>) -> Member {
    Member {
        bot: false,
        guest: false,
        name: name.into(),
        role,
        presence,
        status: status.map(Into::into),
        display_name: None,
    }
}

/// A connected client in #general with history, members and unread rooms.
fn connected(width: u16, height: u16) -> App {
    connected_blocking(width, height, &[])
}

/// [`connected`], blocking `blocked`.
fn connected_blocking(width: u16, height: u16, blocked: &[&str]) -> App {
    let mut app = App::new("chat.example.org:7878", "alice", Settings::default());
    let features: Vec<String> = natter_shared::features::ALL
        .iter()
        .map(|f| (*f).to_owned())
        .collect();
    app.on_welcome(&features);
    app.on_resize(width, height);
    app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![
            room("#general", 0, 0, "all things natter"),
            room("#rust", 12, 2, "borrowck support group"),
            room("#deploys", 3, 0, ""),
            room("@bob", 1, 0, ""),
        ],
        blocked: blocked.iter().map(|b| (*b).to_owned()).collect(),
        invitations: Vec::new(),
    });
    app.on_rtt(Duration::from_millis(3));
    let mut history = vec![
        msg(1, "bob", "morning all"),
        msg(
            2,
            "carol",
            "has anyone tried the new release? the reconnect logic is much better now, it counts down in the status line and catches up without gaps",
        ),
        msg(3, "alice", "yes, works well here"),
        msg(4, "dave", "日本語のメッセージも幅が正しく折り返されます 👍"),
    ];
    history.push(Message {
        action: true,
        ..msg(5, "bob", "waves")
    });
    history.push(msg(6, "carol", "@alice can you review #142?"));
    app.on_reply(
        Then::History {
            room: "#general".into(),
            older: true,
        },
        Ok(Response::Messages {
            room: "#general".into(),
            messages: history,
            more: false,
            rev: 0,
        }),
        T0,
    );
    app.on_reply(
        Then::Members {
            room: "#general".into(),
        },
        Ok(Response::Members {
            room: "#general".into(),
            members: vec![
                member("alice", PresenceState::Online, Role::Member, None),
                member("bob", PresenceState::Online, Role::Owner, None),
                member("carol", PresenceState::Away, Role::Moderator, Some("lunch")),
                member(
                    "dave",
                    PresenceState::Busy,
                    Role::Member,
                    Some("in a meeting"),
                ),
                member("erin", PresenceState::Offline, Role::Member, None),
            ],
        }),
        T0,
    );
    app
}

fn screen(app: &App, now: Instant) -> String {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal
        .draw(|f| ui::draw(f, app, &Theme::default(), now))
        .unwrap();
    format!("{}", terminal.backend())
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[test]
fn connected_with_unread_and_mention_counts() {
    let now = Instant::now();
    insta::assert_snapshot!("connected_120x40", screen(&connected(120, 40), now));
    insta::assert_snapshot!("connected_60x20", screen(&connected(60, 20), now));
}

#[test]
fn typing_line() {
    let now = Instant::now();
    for (w, h) in [(120, 40), (60, 20)] {
        let mut app = connected(w, h);
        for user in ["bob", "carol"] {
            app.on_event(
                Event::Typing {
                    room: "#general".into(),
                    user: user.into(),
                    active: true,
                },
                now,
            );
        }
        for c in "I'll look at it".chars() {
            app.on_key(key(KeyCode::Char(c)), now, T0);
        }
        insta::assert_snapshot!(format!("typing_{w}x{h}"), screen(&app, now));
    }
}

#[test]
fn reconnecting_status() {
    let now = Instant::now();
    for (w, h) in [(120, 40), (60, 20)] {
        let mut app = connected(w, h);
        // The link went down a minute after the last message: one notice.
        app.on_conn_at(
            ConnState::Waiting {
                until: now + Duration::from_millis(7400),
                attempt: 3,
                reason: "connection refused".into(),
            },
            T0 + 60 * 60_000,
        );
        insta::assert_snapshot!(format!("reconnecting_{w}x{h}"), screen(&app, now));
    }
}

#[test]
fn help_overlay() {
    let now = Instant::now();
    for (w, h) in [(120, 40), (60, 20)] {
        let mut app = connected(w, h);
        app.credential_source = "session token in the keyutils keyring".into();
        app.on_key(key(KeyCode::F(1)), now, T0);
        insta::assert_snapshot!(format!("help_{w}x{h}"), screen(&app, now));
        // Longer than the screen: End shows the last commands.
        app.on_key(key(KeyCode::End), now, T0);
        insta::assert_snapshot!(format!("help_end_{w}x{h}"), screen(&app, now));
    }
}

#[test]
fn login_screen() {
    let now = Instant::now();
    for (w, h) in [(120, 40), (60, 20)] {
        let mut app = App::new("chat.example.org:7878", "alice", Settings::default());
        app.on_resize(w, h);
        app.on_conn(ConnState::Stopped("not logged in".into()));
        app.ask_login(Some(
            "wrong user name, password or token (auth_failed)".into(),
        ));
        for c in "hunter2".chars() {
            app.on_key(key(KeyCode::Char(c)), now, T0);
        }
        let s = screen(&app, now);
        assert!(!s.contains("hunter2"), "the password is never shown");
        insta::assert_snapshot!(format!("login_{w}x{h}"), s);
    }
}

#[test]
fn scrolled_up_with_new_below() {
    let now = Instant::now();
    for (w, h) in [(120, 40), (60, 20)] {
        let mut app = connected(w, h);
        let more: Vec<_> = (7..=60)
            .map(|i| msg(i, "bob", &format!("line {i} of a long discussion")))
            .collect();
        app.on_reply(
            Then::CatchUp {
                room: "#general".into(),
            },
            Ok(Response::Messages {
                room: "#general".into(),
                messages: more,
                more: false,
                rev: 0,
            }),
            T0,
        );
        app.on_key(key(KeyCode::PageUp), now, T0);
        for i in 61..=63 {
            app.on_event(
                Event::Message(msg(i, "carol", "arrived while you read")),
                now,
            );
        }
        insta::assert_snapshot!(format!("scrolled_{w}x{h}"), screen(&app, now));
    }
}

#[test]
fn pending_and_failed_messages() {
    let now = Instant::now();
    for (w, h) in [(120, 40), (60, 20)] {
        let mut app = connected(w, h);
        let mut locals = Vec::new();
        for text in ["this one is on its way", "this one was refused"] {
            for c in text.chars() {
                app.on_key(key(KeyCode::Char(c)), now, T0);
            }
            for e in app.on_key(key(KeyCode::Enter), now, T0 + 400_000) {
                if let natter::app::Effect::Send { local, .. } = e {
                    locals.push(local);
                }
            }
        }
        app.on_sent(
            locals[1],
            Err("message is 5000 bytes; the limit is 4000".into()),
        );
        insta::assert_snapshot!(format!("pending_failed_{w}x{h}"), screen(&app, now));
    }
}

#[test]
fn blocked_run_invitation_and_report() {
    let now = Instant::now();
    for (w, h) in [(120, 40), (60, 20)] {
        let mut app = connected_blocking(w, h, &["mallory"]);
        let more = vec![
            msg(7, "mallory", "BUY CHEAP WATCHES"),
            msg(8, "mallory", "limited offer, click here"),
            msg(9, "bob", "thanks carol, looking"),
            msg(10, "mallory", "are you ignoring me?"),
        ];
        app.on_reply(
            Then::CatchUp {
                room: "#general".into(),
            },
            Ok(Response::Messages {
                room: "#general".into(),
                messages: more,
                more: false,
                rev: 0,
            }),
            T0,
        );
        app.on_event(
            Event::Invited(Invitation {
                room: "#ops".into(),
                by: "bob".into(),
                at: T0 + 11 * 47_000,
            }),
            now,
        );
        app.on_event(
            Event::Reported(Report {
                id: 1,
                room: "#general".into(),
                message: 8,
                author: "mallory".into(),
                excerpt: "limited offer, click here".into(),
                by: "carol".into(),
                reason: "spam".into(),
                at: T0 + 12 * 47_000,
            }),
            now,
        );
        let s = screen(&app, now);
        assert!(!s.contains("WATCHES"), "a blocked user's text never shows");
        insta::assert_snapshot!(format!("safety_{w}x{h}"), s);
    }
}

#[test]
fn no_color_draws_without_colours() {
    let app = connected(120, 40);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal
        .draw(|f| ui::draw(f, &app, &Theme::plain(), Instant::now()))
        .unwrap();
    let buffer = terminal.backend().buffer();
    for cell in &buffer.content {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
    }
}

/// However long the reason (a server's own words), the room on screen
/// keeps its place on the status line, down to 60 columns.
#[test]
fn a_long_reconnect_reason_leaves_the_room_visible() {
    let now = Instant::now();
    for (w, h) in [(120, 40), (80, 24), (60, 20)] {
        let mut app = connected(w, h);
        app.on_conn_at(
            ConnState::Waiting {
                until: now + Duration::from_millis(2400),
                attempt: 2,
                reason: "the server is restarting for maintenance, back in a few minutes".into(),
            },
            T0 + 60 * 60_000,
        );
        let text = screen(&app, now);
        let status = text.lines().rev().nth(1).unwrap_or_default();
        assert!(status.contains("#general"), "{w}x{h}:\n{status}");
        insta::assert_snapshot!(format!("long_reason_{w}x{h}"), text);
    }
}

// ---- themes and highlights ------------------------------------------------

/// The screen as text, each row followed by its styled runs (columns,
/// colours, modifiers) where they differ from the terminal's defaults: the
/// plain snapshots cannot show colours, and these are about colours.
fn styled_screen(app: &App, theme: &Theme) -> String {
    use ratatui::style::{Color, Modifier};
    use std::fmt::Write as _;
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal
        .draw(|f| ui::draw(f, app, theme, Instant::now()))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let cells: Vec<_> = (0..w).map(|x| &buffer[(x, y)]).collect();
        let text: String = cells.iter().map(|c| c.symbol()).collect();
        let _ = writeln!(out, "{:?}", text.trim_end());
        let mut x = 0;
        while x < cells.len() {
            let style = |c: &ratatui::buffer::Cell| (c.fg, c.bg, c.modifier);
            let run = cells[x..]
                .iter()
                .take_while(|c| style(c) == style(cells[x]))
                .count();
            let (fg, bg, modifier) = style(cells[x]);
            // Spaces show no colour but their background or reverse.
            let invisible = cells[x..x + run].iter().all(|c| c.symbol() == " ")
                && bg == Color::Reset
                && !modifier.contains(Modifier::REVERSED);
            let plain = fg == Color::Reset && bg == Color::Reset && modifier.is_empty();
            if !(plain || invisible) {
                let _ = writeln!(out, "    {x}..{}: {fg:?} on {bg:?} {modifier:?}", x + run);
            }
            x += run;
        }
    }
    out
}

#[test]
fn light_theme_with_a_mention_and_a_highlight_word() {
    let mut app = connected(60, 20);
    app.settings.highlights = vec!["release".into()];
    insta::assert_snapshot!(
        "light_highlights_60x20",
        styled_screen(&app, &Theme::light())
    );
}

#[test]
fn mentions_stand_out_without_colours() {
    let mut app = connected(60, 20);
    app.settings.highlights = vec!["release".into()];
    insta::assert_snapshot!(
        "no_color_highlights_60x20",
        styled_screen(&app, &Theme::plain())
    );
}

/// A flag typed in the input line shows as its letters, in the cells it
/// was measured in: nothing is left behind when it is sent.
#[test]
fn a_flag_in_the_input_line_leaves_no_stray_cells() {
    let now = Instant::now();
    let mut app = connected(60, 20);
    app.on_paste("vive la 🇫🇷", now);
    let typing = screen(&app, now);
    let input = typing.lines().next_back().unwrap_or_default();
    assert!(input.contains("> vive la FR"), "{input}");
    assert!(!input.contains('\u{1f1eb}'), "{input}");
    app.on_key(key(KeyCode::Enter), now, T0);
    let sent = screen(&app, now);
    let input = sent.lines().next_back().unwrap_or_default();
    assert_eq!(input.trim_matches('"').trim_end(), ">", "{sent}");
    assert!(sent.contains("vive la [FR]"), "{sent}");
}

/// Display names beside account names in the users pane, cut to fit, and
/// nowhere else (the timeline keeps account names).
#[test]
fn display_names_show_beside_account_names_where_there_is_room() {
    let now = Instant::now();
    for (w, h) in [(120, 40), (80, 24)] {
        let mut app = connected(w, h);
        for (user, name) in [
            ("bob", "Robert Paulson"),
            ("carol", "Carol, head of everything that matters"),
            ("erin", "Erin"),
        ] {
            app.on_event(
                Event::Profile {
                    user: user.into(),
                    display_name: Some(name.into()),
                },
                now,
            );
        }
        let s = screen(&app, now);
        // At 80 columns there is no users pane at all.
        assert_eq!(s.contains("~bob · Robert P…"), w == 120, "{w}x{h}:\n{s}");
        insta::assert_snapshot!(format!("display_names_{w}x{h}"), s);
    }
}

/// [`connected`] with rich messages: a reply, a thread root with its
/// summary, an edit, a delete and reactions (one of them yours).
fn rich(width: u16, height: u16) -> App {
    use natter_shared::ThreadSummary;
    let mut app = connected(width, height);
    let now = Instant::now();
    let mut root = msg(1, "bob", "morning all");
    root.replies = Some(ThreadSummary {
        count: 3,
        last_from: "carol".into(),
        last_ts: T0 + 600_000,
    });
    app.on_reply(
        Then::CatchUp {
            room: "#general".into(),
        },
        Ok(Response::Messages {
            room: "#general".into(),
            messages: vec![
                root,
                Message {
                    reply_to: Some(2),
                    ..msg(7, "dave", "same here, no gaps since")
                },
            ],
            more: false,
            rev: 0,
        }),
        T0,
    );
    // `root` was held: the catch-up above only adds 7; the summary comes
    // with a `since` page or live replies. One live reply here:
    app.on_event(
        Event::Message(Message {
            thread: Some(1),
            ..msg(8, "carol", "in the thread")
        }),
        now,
    );
    app.on_event(
        Event::Edited {
            room: "#general".into(),
            id: 3,
            body: "yes, works well here (after the fix)".into(),
            edited_at: T0,
            rev: 9,
        },
        now,
    );
    app.on_event(
        Event::Deleted {
            room: "#general".into(),
            id: 5,
            by: "bob".into(),
            rev: 10,
        },
        now,
    );
    for (key, user) in [("👍", "alice"), ("👍", "bob"), ("🎉", "bob")] {
        app.on_event(
            Event::Reaction {
                room: "#general".into(),
                id: 6,
                key: key.into(),
                user: user.into(),
                on: true,
                rev: 11,
            },
            now,
        );
    }
    app
}

#[test]
fn rich_messages_reply_summary_edited_deleted_reactions() {
    let app = rich(100, 30);
    insta::assert_snapshot!("rich_100x30", screen(&app, Instant::now()));
    // Your reaction stands out: bold (and coloured with colours).
    insta::assert_snapshot!("rich_plain_100x30", styled_screen(&app, &Theme::plain()));
}

fn alt_up() -> KeyEvent {
    KeyEvent::new(KeyCode::Up, KeyModifiers::ALT)
}

#[test]
fn selection_highlight_and_the_reply_line() {
    let mut app = rich(100, 30);
    let now = Instant::now();
    app.on_key(alt_up(), now, T0);
    app.on_key(key(KeyCode::Up), now, T0);
    insta::assert_snapshot!("selected_100x30", styled_screen(&app, &Theme::default()));
    app.on_key(key(KeyCode::Char('r')), now, T0);
    for c in "agreed".chars() {
        app.on_key(key(KeyCode::Char(c)), now, T0);
    }
    insta::assert_snapshot!("replying_100x30", screen(&app, now));
}

#[test]
fn thread_overlay() {
    use natter::app::rich::Pending;
    let mut app = rich(100, 30);
    let now = Instant::now();
    app.on_key(alt_up(), now, T0);
    for _ in 0..6 {
        app.on_key(key(KeyCode::Up), now, T0);
    }
    assert_eq!(app.select, Some(1));
    app.on_key(key(KeyCode::Char('t')), now, T0);
    app.on_reply(
        Then::Rich(Pending::Thread {
            room: "#general".into(),
            root: 1,
        }),
        Ok(Response::Messages {
            room: "#general".into(),
            messages: vec![
                msg(1, "bob", "morning all"),
                Message {
                    thread: Some(1),
                    ..msg(8, "carol", "in the thread")
                },
                Message {
                    thread: Some(1),
                    ..msg(9, "dave", "me too, and a longer reply that wraps onto a second line of the overlay so we see it")
                },
            ],
            more: false,
            rev: 12,
        }),
        T0,
    );
    for c in "hi thread".chars() {
        app.on_key(key(KeyCode::Char(c)), now, T0);
    }
    insta::assert_snapshot!("thread_100x30", screen(&app, now));
}

#[test]
fn search_overlay() {
    use natter::app::rich::Pending;
    use natter_shared::{SearchHit, SnippetPart};
    let mut app = rich(100, 30);
    let now = Instant::now();
    app.on_key(
        KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL),
        now,
        T0,
    );
    for c in "release".chars() {
        app.on_key(key(KeyCode::Char(c)), now, T0);
    }
    app.on_key(key(KeyCode::Enter), now, T0);
    let part = |text: &str, hit: bool| SnippetPart {
        text: text.into(),
        hit,
    };
    app.on_reply(
        Then::Rich(Pending::Search { next: false }),
        Ok(Response::Found {
            hits: vec![
                SearchHit {
                    message: Message {
                        room: "#rust".into(),
                        ..msg(40, "erin", "the release notes are up")
                    },
                    snippet: vec![
                        part("the ", false),
                        part("release", true),
                        part(" notes are up", false),
                    ],
                },
                SearchHit {
                    message: msg(2, "carol", "has anyone tried the new release?"),
                    snippet: vec![
                        part("…tried the new ", false),
                        part("release", true),
                        part("? the reconnect…", false),
                    ],
                },
            ],
            more: true,
        }),
        T0,
    );
    insta::assert_snapshot!("search_100x30", screen(&app, now));
    insta::assert_snapshot!("search_plain_100x30", styled_screen(&app, &Theme::plain()));
}

#[test]
fn reaction_prompt() {
    let mut app = rich(100, 30);
    let now = Instant::now();
    app.on_key(alt_up(), now, T0);
    app.on_key(key(KeyCode::Char('+')), now, T0);
    for c in ":ro".chars() {
        app.on_key(key(KeyCode::Char(c)), now, T0);
    }
    insta::assert_snapshot!("react_100x30", screen(&app, now));
}

/// Rooms grouped by category, one group folded with its counts, and an
/// announcement room's input line for a plain member.
#[test]
fn categories_fold_and_an_announcement_room_says_who_posts() {
    let now = Instant::now();
    for (w, h) in [(120, 40), (60, 20)] {
        let mut app = connected(w, h);
        // The modes as a login (or a reconnect) lists them.
        let mut rust = room("#rust", 12, 2, "borrowck support group");
        rust.category = Some("Lang".into());
        let mut deploys = room("#deploys", 3, 0, "");
        deploys.category = Some("Ops".into());
        deploys.announce = true;
        app.on_online(&SessionInfo {
            user: "alice".into(),
            admin: false,
            token: None,
            rooms: vec![
                room("#general", 0, 0, "all things natter"),
                rust,
                deploys,
                room("@bob", 1, 0, ""),
            ],
            blocked: Vec::new(),
            invitations: Vec::new(),
        });
        for c in "/fold lang".chars() {
            app.on_key(key(KeyCode::Char(c)), now, T0);
        }
        app.on_key(key(KeyCode::Enter), now, T0);
        let deploys = app.rooms.index_of("#deploys").unwrap();
        app.switch_to(deploys);
        insta::assert_snapshot!(format!("categories_{w}x{h}"), screen(&app, now));
    }
}

/// Your messages of a direct conversation as sent, delivered and seen,
/// and who has read a room's newest message.
#[test]
fn receipts_in_a_conversation_and_a_room() {
    use natter::app::receipts::ReadersFor;
    use natter_shared::Reader;
    let now = Instant::now();
    for (w, h) in [(120, 40), (60, 20)] {
        let mut app = connected(w, h);
        app.on_reply(
            Then::Readers {
                room: "#general".into(),
                what: ReadersFor::Fill,
            },
            Ok(Response::Readers {
                room: "#general".into(),
                readers: vec![
                    Reader {
                        user: "bob".into(),
                        read: 6,
                    },
                    Reader {
                        user: "dave".into(),
                        read: 6,
                    },
                ],
                delivered: None,
            }),
            T0,
        );
        insta::assert_snapshot!(format!("receipts_room_{w}x{h}"), screen(&app, now));
        let bob = app.rooms.index_of("@bob").unwrap();
        app.switch_to(bob);
        let dm = |id: u64, from: &str, body: &str| Message {
            room: "@bob".into(),
            ..msg(id, from, body)
        };
        app.on_reply(
            Then::History {
                room: "@bob".into(),
                older: true,
            },
            Ok(Response::Messages {
                room: "@bob".into(),
                messages: vec![
                    dm(20, "bob", "are you around?"),
                    dm(21, "alice", "yes"),
                    dm(22, "alice", "give me five minutes"),
                    dm(23, "alice", "ok, ready"),
                ],
                more: false,
                rev: 0,
            }),
            T0,
        );
        app.on_reply(
            Then::Readers {
                room: "@bob".into(),
                what: ReadersFor::Fill,
            },
            Ok(Response::Readers {
                room: "@bob".into(),
                readers: vec![Reader {
                    user: "bob".into(),
                    read: 21,
                }],
                delivered: Some(23),
            }),
            T0,
        );
        // Your last message: delivered, not read yet.
        insta::assert_snapshot!(format!("receipts_direct_{w}x{h}"), screen(&app, now));
        app.on_event(
            Event::Receipt {
                room: "@bob".into(),
                user: "bob".into(),
                id: 23,
            },
            now,
        );
        insta::assert_snapshot!(format!("receipts_seen_{w}x{h}"), screen(&app, now));
    }
}

/// A message with a log and an image (its preview drawn from the
/// thumbnail), and an upload under way in the status line.
#[test]
fn attachments_previews_and_a_transfer_in_the_status_line() {
    use natter::app::files::{Thumb, TransferEvent};
    use natter_shared::Attachment;
    for (w, h) in [(100, 30), (60, 20)] {
        let mut app = connected(w, h);
        let now = Instant::now();
        let log = Attachment {
            file: 7,
            name: "build.log".into(),
            size: 12_700,
            mime: "text/plain".into(),
            sha256: "ab".repeat(32),
            ..Attachment::default()
        };
        let shot = Attachment {
            file: 8,
            name: "screenshot.png".into(),
            size: 2_400_000,
            mime: "image/png".into(),
            sha256: "cd".repeat(32),
            width: Some(1600),
            height: Some(800),
            thumb: 3_000,
        };
        app.on_event(
            Event::Message(Message {
                attachments: vec![log, shot],
                ..msg(9, "bob", "the failing build")
            }),
            now,
        );
        // The thumbnail is asked for once, and drawn when it arrives.
        let asked = app.wanted_thumbs();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert!(app.wanted_thumbs().is_empty());
        let (tw, th) = (32u32, 16u32);
        let rgb = (0..tw * th)
            .map(|i| {
                if (i % tw) < tw / 2 {
                    [200, 40, 40]
                } else {
                    [40, 40, 200]
                }
            })
            .collect();
        app.on_thumb(
            8,
            Some(Thumb {
                width: tw,
                height: th,
                rgb,
            }),
        );
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("dump.sql");
        std::fs::write(&path, vec![b'x'; 1000]).unwrap();
        let mut effects = Vec::new();
        for c in format!("/upload {} nightly dump", path.display()).chars() {
            effects = app.on_key(key(KeyCode::Char(c)), now, T0);
        }
        effects.extend(app.on_key(key(KeyCode::Enter), now, T0));
        let Some(natter::app::Effect::Upload { id, .. }) = effects
            .iter()
            .find(|e| matches!(e, natter::app::Effect::Upload { .. }))
        else {
            panic!("no upload in {effects:?}");
        };
        let id = *id;
        app.on_transfer(
            id,
            TransferEvent::Progress {
                done: 0,
                total: 100 * 1024 * 1024,
            },
            T0,
        );
        app.on_transfer(
            id,
            TransferEvent::Progress {
                done: 45 * 1024 * 1024,
                total: 100 * 1024 * 1024,
            },
            T0,
        );
        app.files.transfers[0].started = now;
        let later = now + Duration::from_secs(3);
        insta::assert_snapshot!(format!("files_{w}x{h}"), screen(&app, later));
        // Esc stops it; its failure is told in the room.
        let effects = app.on_key(key(KeyCode::Esc), now, T0);
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, natter::app::Effect::CancelTransfer { id: i } if *i == id)),
            "{effects:?}"
        );
        app.on_transfer(id, TransferEvent::Failed("cancelled".into()), T0);
        assert!(app.files.transfers.is_empty());
    }
}

/// In a terminal with graphics (kitty's protocol here; sixel and iTerm2
/// alike), a preview whole on screen is drawn as the image itself, over
/// its half blocks, in the box they take.
#[test]
fn a_preview_in_the_terminals_own_graphics() {
    use natter::app::files::Thumb;
    use natter_shared::Attachment;
    let mut app = connected(100, 30);
    let now = Instant::now();
    app.on_event(
        Event::Message(Message {
            attachments: vec![Attachment {
                file: 8,
                name: "shot.png".into(),
                size: 2_400,
                mime: "image/png".into(),
                sha256: "cd".repeat(32),
                width: Some(64),
                height: Some(32),
                thumb: 300,
            }],
            ..msg(9, "bob", "")
        }),
        now,
    );
    let thumb = Thumb {
        width: 64,
        height: 32,
        rgb: vec![[10, 200, 30]; 64 * 32],
    };
    #[allow(deprecated)] // the query needs a real terminal; a test names the font
    let mut picker = ratatui_image::picker::Picker::from_fontsize((8, 16).into());
    picker.set_protocol_type(ratatui_image::picker::ProtocolType::Kitty);
    let graphic = natter::transfers::graphic(&picker, &thumb).expect("a kitty image");
    assert_eq!((graphic.cols, graphic.rows), (32, 8));
    app.on_graphic(8, graphic);
    app.on_thumb(8, Some(thumb));
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal
        .draw(|f| ui::draw(f, &app, &Theme::default(), now))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let kitty = buffer
        .content()
        .iter()
        .filter(|c| c.symbol().contains("\u{1b}_G"))
        .count();
    assert!(kitty > 0, "no kitty graphics in the buffer");
    // Without graphics the same preview is half blocks.
    app.files.graphics.clear();
    insta::assert_snapshot!("graphics_fallback_100x30", screen(&app, now));
}

#[test]
fn bots_and_irc_guests_are_marked_in_the_members_pane() {
    let mut app = connected(120, 30);
    let mut ci = member("ci", PresenceState::Online, Role::Member, None);
    ci.bot = true;
    let mut visitor = member("visitor", PresenceState::Online, Role::Member, None);
    visitor.guest = true;
    app.on_reply(
        Then::Members {
            room: "#general".into(),
        },
        Ok(Response::Members {
            room: "#general".into(),
            members: vec![
                member("alice", PresenceState::Online, Role::Member, None),
                ci,
                visitor,
            ],
        }),
        T0,
    );
    let text = screen(&app, Instant::now());
    let row = text
        .lines()
        .find(|l| l.contains(" ci"))
        .expect("ci in the members pane");
    assert!(row.contains("ci [bot]"), "{row}");
    let alice = text.lines().find(|l| l.contains("alice")).unwrap();
    assert!(!alice.contains("[bot]"), "{alice}");
    assert!(!alice.contains("(guest)"), "{alice}");
    let guest = text.lines().find(|l| l.contains("visitor")).unwrap();
    assert!(guest.contains("visitor (guest)"), "{guest}");
    // Its messages are marked the same way, while it is in the room.
    app.on_event(
        Event::Message(msg(90, "visitor", "hello from weechat")),
        Instant::now(),
    );
    app.on_event(Event::Message(msg(91, "alice", "welcome")), Instant::now());
    let text = screen(&app, Instant::now());
    let said = text
        .lines()
        .find(|l| l.contains("hello from weechat"))
        .expect("the guest's message");
    assert!(
        said.contains("visitor (guest) hello from weechat"),
        "{said}"
    );
    let reply = text.lines().find(|l| l.contains("welcome")).unwrap();
    assert!(!reply.contains("(guest)"), "{reply}");
}
