//! Room modes in the client: announcement rooms and the rooms pane's
//! categories, folded and unfolded.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use natter_shared::{Event, Request, Role, SessionInfo};

use super::modes::{DIRECT, PaneRow};
use super::tests::{key, requests, room_state, type_text};
use super::*;

fn categorised(name: &str, category: Option<&str>, unread: u32) -> natter_shared::RoomState {
    let mut s = room_state(name, unread, 0);
    s.category = category.map(Into::into);
    s
}

/// alice in #general and #zed (no category), #ci and #deploys in "Ops",
/// #books in "fun", and a conversation with bob.
fn grouped_app() -> App {
    let mut app = App::new("chat:7878", "alice", Settings::default());
    app.on_online(&SessionInfo {
        user: "alice".into(),
        admin: false,
        token: None,
        rooms: vec![
            categorised("#general", None, 0),
            categorised("#deploys", Some("Ops"), 3),
            categorised("#books", Some("fun"), 0),
            categorised("#ci", Some("Ops"), 1),
            categorised("#zed", None, 0),
            categorised("@bob", None, 0),
        ],
        blocked: Vec::new(),
        invitations: Vec::new(),
    });
    app
}

fn names(app: &App) -> Vec<String> {
    app.pane_rows()
        .into_iter()
        .map(|row| match row {
            PaneRow::Header {
                key,
                folded,
                unread,
                ..
            } => format!("[{}{}{}]", if folded { "+" } else { "-" }, key, unread),
            PaneRow::Room(i) => app.rooms.get(i).unwrap().name.clone(),
        })
        .collect()
}

fn run(app: &mut App, line: &str) -> Vec<Effect> {
    let now = Instant::now();
    type_text(app, line, now);
    app.on_key(key(KeyCode::Enter), now, 0)
}

#[test]
fn rooms_without_categories_show_as_a_plain_list() {
    let app = super::tests::online_app();
    assert_eq!(names(&app), ["#general", "#rust"]);
}

#[test]
fn categories_group_the_rooms_pane_and_fold_with_their_counts() {
    let mut app = grouped_app();
    assert_eq!(
        names(&app),
        [
            "#general", "#zed", "[-fun0]", "#books", "[-Ops4]", "#ci", "#deploys", "[-0]", "@bob"
        ]
    );
    // Folding hides the group's rooms, keeps its counts, and is kept.
    let effects = run(&mut app, "/fold ops");
    assert!(matches!(&effects[..], [Effect::SavePrefs(p)] if p.folded.contains("Ops")));
    assert_eq!(
        names(&app),
        [
            "#general", "#zed", "[-fun0]", "#books", "[+Ops4]", "[-0]", "@bob"
        ]
    );
    // Next room skips the folded ones: #books, then the conversation.
    let now = Instant::now();
    let ctrl_n = KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL);
    app.switch_to(app.rooms.index_of("#books").unwrap());
    app.on_key(ctrl_n, now, 0);
    assert_eq!(app.room().unwrap().name, "@bob");
    // The room on screen shows even when its group is folded.
    app.switch_to(app.rooms.index_of("#ci").unwrap());
    assert_eq!(
        names(&app),
        [
            "#general", "#zed", "[-fun0]", "#books", "[+Ops4]", "#ci", "[-0]", "@bob"
        ]
    );
    // /fold alone folds the group of the room on screen; again unfolds.
    run(&mut app, "/fold");
    assert!(!app.settings.prefs.folded.contains("Ops"));
    run(&mut app, "/fold direct");
    assert!(app.settings.prefs.folded.contains(DIRECT));
    let effects = run(&mut app, "/fold nope");
    assert!(effects.is_empty());
}

#[test]
fn a_click_on_a_header_folds_it_and_a_click_on_a_room_opens_it() {
    let mut app = grouped_app();
    app.settings.mouse = true;
    let area = text::rooms_area(&app);
    let click = |row: usize| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: area.x + 1,
        row: area.y + 1 + u16::try_from(row).unwrap(),
        modifiers: KeyModifiers::NONE,
    };
    // Row 4 is the Ops header.
    let effects = app.on_mouse(click(4));
    assert!(matches!(&effects[..], [Effect::SavePrefs(_)]));
    assert!(app.settings.prefs.folded.contains("Ops"));
    // Row 5 is now the conversations' header, row 6 @bob.
    app.on_mouse(click(6));
    assert_eq!(app.room().unwrap().name, "@bob");
}

#[test]
fn mode_events_regroup_the_pane_and_say_what_changed() {
    let mut app = super::tests::online_app();
    app.on_event(
        Event::Mode {
            room: "#rust".into(),
            announce: true,
            category: Some("Lang".into()),
            by: "bob".into(),
        },
        Instant::now(),
    );
    let rust = app.rooms.by_name("#rust").unwrap();
    assert!(rust.announce);
    assert_eq!(rust.category.as_deref(), Some("Lang"));
    let notices: Vec<String> = rust
        .entries
        .iter()
        .filter_map(|e| match &e.kind {
            timeline::EntryKind::Notice(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        notices,
        [
            "bob made #rust an announcement room: only moderators post",
            "bob put #rust in the category Lang"
        ]
    );
    assert_eq!(names(&app), ["#general", "[-Lang2]", "#rust"]);
    // The input says a plain member may not post there; a moderator may.
    app.switch_to(app.rooms.index_of("#rust").unwrap());
    assert!(app.read_only_here());
    app.rooms.by_name_mut("#rust").unwrap().role = Role::Moderator;
    assert!(!app.read_only_here());
}

#[test]
fn mode_and_category_commands_ask_the_server() {
    let mut app = super::tests::online_app();
    let effects = run(&mut app, "/mode +announce");
    assert_eq!(
        requests(&effects),
        [&Request::SetMode {
            room: "#general".into(),
            announce: Some(true),
            category: None
        }]
    );
    let effects = run(&mut app, "/category Team A");
    assert_eq!(
        requests(&effects),
        [&Request::SetMode {
            room: "#general".into(),
            announce: None,
            category: Some("Team A".into())
        }]
    );
    let effects = run(&mut app, "/category");
    assert_eq!(
        requests(&effects),
        [&Request::SetMode {
            room: "#general".into(),
            announce: None,
            category: Some(String::new())
        }]
    );
    assert!(requests(&run(&mut app, "/mode")).is_empty());
    assert!(requests(&run(&mut app, "/mode +loud")).is_empty());
}
