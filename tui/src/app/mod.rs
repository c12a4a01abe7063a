//! The full-screen client's state and everything that changes it.
//!
//! [`App`] knows nothing of the terminal or the network: key presses,
//! server events and replies come in through `on_*` methods, which change
//! the state synchronously and return [`Effect`]s (requests to make,
//! notifications to show) for the event loop in `crate::tui` to perform.
//! Rendering (`crate::ui`) reads the state and never changes it.
//!
//! - `command.rs`: slash commands.
//! - `text.rs`: display-width wrapping and layout arithmetic shared with
//!   rendering, so scrolling and drawing agree on what a row is.

pub mod command;
pub mod text;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use natter_shared::names::mentions_user;
use natter_shared::{
    ErrorReply, Event, HistoryQuery, LeaveKind, Member, Message, MessageId, PresenceState, Request,
    Response, RoomKind, RoomState, SessionInfo,
};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use crate::notify::NotifyLevel;
use command::Command;

/// How often at most a typing "start" is sent.
pub const TYPING_RESEND: Duration = Duration::from_secs(3);
/// How long someone's typing shows without news.
pub const TYPING_SHOWN: Duration = Duration::from_secs(6);
/// Entries the quick switcher shows.
pub const SWITCHER_ROWS: usize = 12;
/// Messages fetched per history page.
pub const PAGE: u32 = 100;

/// The connection as the status line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    Connecting {
        attempt: u32,
    },
    Online {
        rtt: Option<Duration>,
    },
    Waiting {
        until: Instant,
        attempt: u32,
        reason: String,
    },
    Stopped(String),
}

/// How this client names its sends (`Send.nonce`), so that it knows its
/// own messages when they come back, and no other session's.
#[derive(Debug, Clone)]
pub struct Nonces {
    /// Random per client: two sessions of one user never share a nonce.
    prefix: String,
    /// The server echoes nonces (its welcome lists `nonce`). Without it,
    /// own messages are matched by their text, the only thing left.
    pub server_echoes: bool,
}

impl Nonces {
    fn new() -> Self {
        Self {
            prefix: format!("{:016x}", rand::random::<u64>()),
            server_echoes: true,
        }
    }

    /// The nonce of the send with this local id.
    #[must_use]
    pub fn of(&self, local: u64) -> String {
        format!("{}-{local}", self.prefix)
    }

    /// The local id of one of this client's nonces; `None` for another
    /// session's.
    fn local_of(&self, nonce: &str) -> Option<u64> {
        nonce
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('-')?
            .parse()
            .ok()
    }
}

/// A message's delivery, for your own messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Written, not yet acknowledged (possibly queued while offline).
    Pending,
    /// Stored by the server.
    Sent,
    /// Refused; the reason and how to retry.
    Failed(String),
}

/// One line-producing item of a room's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Msg {
        from: String,
        body: String,
        action: bool,
        delivery: Delivery,
    },
    /// Joins, leaves, topics and command output.
    Notice(String),
    /// A command's error: one line.
    Error(String),
}

/// An item in a room's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: Option<MessageId>,
    /// Your unacknowledged message's local id.
    pub local: Option<u64>,
    pub ts: i64,
    pub kind: EntryKind,
}

/// Where the messages view is scrolled to: `None` follows the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scroll {
    /// The entry at the bottom of the view, counted from the newest (0).
    pub anchor: usize,
    /// Rows of that entry hidden below the view.
    pub skip: usize,
}

/// A room as the client sees it.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // independent flags of one room's view
pub struct Room {
    pub name: String,
    pub kind: RoomKind,
    pub topic: String,
    pub unread: u32,
    pub mentions: u32,
    pub last_read: MessageId,
    pub entries: VecDeque<Entry>,
    ids: HashSet<MessageId>,
    pub members: Vec<Member>,
    pub members_loaded: bool,
    /// Who is typing, until when.
    pub typing: HashMap<String, Instant>,
    pub scroll: Option<Scroll>,
    /// Messages that arrived while scrolled up.
    pub new_below: u32,
    /// A page of older history is on its way.
    pub loading_older: bool,
    /// Older messages exist on the server (unknown until the first page).
    pub has_older: bool,
    /// The first page was fetched.
    pub loaded: bool,
    /// The read marker when the room was last opened: the "new" line.
    pub marker: Option<MessageId>,
    /// The newest message id seen (for catch-up after a reconnect).
    pub newest: MessageId,
    /// Speakers, most recent last (for nick completion).
    pub recent: Vec<String>,
}

impl Room {
    fn new(state: &RoomState) -> Self {
        Self {
            name: state.name.clone(),
            kind: state.kind,
            topic: state.topic.clone(),
            unread: state.unread,
            mentions: state.mentions,
            last_read: state.last_read,
            entries: VecDeque::new(),
            ids: HashSet::new(),
            members: Vec::new(),
            members_loaded: false,
            typing: HashMap::new(),
            scroll: None,
            new_below: 0,
            loading_older: false,
            has_older: state.last_id > 0,
            loaded: false,
            marker: None,
            newest: 0,
            recent: Vec::new(),
        }
    }

    /// The oldest message id loaded.
    fn oldest_id(&self) -> Option<MessageId> {
        self.entries.iter().find_map(|e| e.id)
    }

    fn note_speaker(&mut self, who: &str) {
        self.recent.retain(|n| n != who);
        self.recent.push(who.to_owned());
        if self.recent.len() > 50 {
            self.recent.remove(0);
        }
    }

    /// Gives your own message from the server to the pending entry it
    /// confirms: the one whose nonce it carries (the send's reply and the
    /// message can arrive in either order). Only against a server without
    /// nonces (`by_text`) is the oldest pending entry with the same text
    /// taken instead.
    fn attach_own(&mut self, m: &Message, nonces: &Nonces, by_text: bool) -> bool {
        let wanted = m.nonce.as_deref().and_then(|n| nonces.local_of(n));
        let Some(e) = self.entries.iter_mut().find(|e| {
            e.id.is_none()
                && e.local.is_some()
                && match wanted {
                    Some(local) => e.local == Some(local),
                    None => {
                        by_text
                            && matches!(&e.kind, EntryKind::Msg { body, delivery: Delivery::Pending, .. } if *body == m.body)
                    }
                }
        }) else {
            return false;
        };
        e.id = Some(m.id);
        e.ts = m.ts;
        if let EntryKind::Msg { delivery, .. } = &mut e.kind {
            *delivery = Delivery::Sent;
        }
        self.ids.insert(m.id);
        self.newest = self.newest.max(m.id);
        true
    }

    /// Adds a message from the server in id order; false if already there.
    fn insert_message(&mut self, m: &Message, me: &str, nonces: &Nonces) -> bool {
        if self.ids.contains(&m.id) {
            return false;
        }
        if m.from == me && self.attach_own(m, nonces, !nonces.server_echoes) {
            return false;
        }
        self.ids.insert(m.id);
        self.newest = self.newest.max(m.id);
        self.note_speaker(&m.from);
        let entry = Entry {
            id: Some(m.id),
            local: None,
            ts: m.ts,
            kind: EntryKind::Msg {
                from: m.from.clone(),
                body: m.body.clone(),
                action: m.action,
                delivery: Delivery::Sent,
            },
        };
        // Usually newest: append, but keep order when pages overlap, and
        // keep pending messages last.
        let pos = self
            .entries
            .iter()
            .rposition(|e| e.id.is_some_and(|id| id < m.id))
            .map_or(0, |i| i + 1);
        let mut pos = if pos == 0 && self.entries.iter().all(|e| e.id.is_none()) {
            self.entries
                .iter()
                .position(|e| e.local.is_some())
                .unwrap_or(self.entries.len())
        } else {
            pos
        };
        // Above notices written after it (a topic change seen before the
        // room's history was loaded).
        while pos > 0
            && self.entries[pos - 1].id.is_none()
            && self.entries[pos - 1].local.is_none()
            && self.entries[pos - 1].ts > m.ts
        {
            pos -= 1;
        }
        self.entries.insert(pos, entry);
        if self.scroll.is_some() && pos + 1 >= self.entries.len() {
            self.new_below += 1;
        }
        if let Some(s) = &mut self.scroll {
            // The anchor counts from the newest: keep the view still.
            if self.entries.len() - pos <= s.anchor + 1 {
                s.anchor += 1;
            }
        }
        true
    }

    fn push_local(&mut self, ts: i64, kind: EntryKind) {
        self.entries.push_back(Entry {
            id: None,
            local: None,
            ts,
            kind,
        });
        if let Some(s) = &mut self.scroll {
            s.anchor += 1;
        }
    }
}

/// Overlays drawn over the main screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    /// Ctrl+K: a fuzzy filter over rooms and users.
    Switcher {
        filter: String,
        selected: usize,
    },
    /// Asked for credentials when no source had any.
    Login(LoginForm),
}

/// The login screen's fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoginForm {
    pub server: String,
    pub user: String,
    pub password: String,
    /// 0 server, 1 user, 2 password.
    pub field: usize,
    pub error: Option<String>,
}

/// What the event loop must do for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Make a request; hand the reply to [`App::on_reply`] with `then`.
    Request {
        req: Request,
        then: Then,
    },
    /// Send a message, in order with the other sends.
    Send {
        local: u64,
        /// Comes back with the message, to tell it from other sessions'.
        nonce: String,
        room: String,
        body: String,
        action: bool,
    },
    /// Show a notification.
    Notify {
        title: String,
        body: String,
    },
    /// Cut the reconnect wait short.
    RetryNow,
    /// Log in with what the login screen collected.
    Login {
        server: String,
        user: String,
        password: String,
    },
    Quit,
}

/// What a reply is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    History {
        room: String,
        older: bool,
    },
    CatchUp {
        room: String,
    },
    Members {
        room: String,
    },
    Joined,
    Directory,
    Stats,
    /// Show this text when it succeeds (or the error when it fails).
    Report {
        room: String,
        ok: String,
    },
    /// Nothing to show on success; errors go to this room.
    Quiet {
        room: String,
    },
}

/// Colours and panes the user chose.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Notification level per room name; the default is mentions (and DMs).
    pub notify: HashMap<String, NotifyLevel>,
    pub notify_default: NotifyLevel,
    pub mouse: bool,
    /// Local time's offset from UTC, in seconds (fixed in tests).
    pub utc_offset: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            notify: HashMap::new(),
            notify_default: NotifyLevel::Mentions,
            mouse: false,
            utc_offset: 0,
        }
    }
}

/// The whole client state.
#[derive(Debug)]
pub struct App {
    pub server: String,
    pub user: String,
    pub admin: bool,
    pub conn: ConnState,
    pub rooms: Vec<Room>,
    pub current: usize,
    pub input: Input,
    pub overlay: Overlay,
    /// Terminal size, for layout.
    pub size: (u16, u16),
    /// `None`: automatic by width; `Some`: the user toggled it.
    pub show_rooms: Option<bool>,
    pub show_users: Option<bool>,
    pub focused: bool,
    pub settings: Settings,
    /// Where credentials come from, for `/help`.
    pub credential_source: String,
    /// Sent lines, oldest first, and the recall position.
    sent: Vec<String>,
    recall: Option<usize>,
    /// What was being typed when recall started, restored past the newest.
    draft: String,
    next_local: u64,
    /// How sends are named, to know them when they come back.
    pub nonces: Nonces,
    /// Messages written while offline, in order.
    queue: VecDeque<(u64, String, String, bool)>,
    typing_sent: Option<(String, Instant)>,
    completion: Option<Completion>,
    own_presence: PresenceState,
    /// The last notice when there is no room to show it in.
    pub loose: Option<String>,
    pub quit: bool,
}

#[derive(Debug, Clone)]
struct Completion {
    start: usize,
    candidates: Vec<String>,
    index: usize,
}

impl App {
    /// A client about to connect to `server` as `user`.
    #[must_use]
    pub fn new(server: &str, user: &str, settings: Settings) -> Self {
        Self {
            server: server.to_owned(),
            user: user.to_owned(),
            admin: false,
            conn: ConnState::Connecting { attempt: 1 },
            rooms: Vec::new(),
            current: 0,
            input: Input::default(),
            overlay: Overlay::None,
            size: (120, 40),
            show_rooms: None,
            show_users: None,
            focused: true,
            settings,
            credential_source: String::new(),
            sent: Vec::new(),
            recall: None,
            draft: String::new(),
            next_local: 1,
            nonces: Nonces::new(),
            queue: VecDeque::new(),
            typing_sent: None,
            completion: None,
            own_presence: PresenceState::Online,
            loose: None,
            quit: false,
        }
    }

    /// The room on screen.
    #[must_use]
    pub fn room(&self) -> Option<&Room> {
        self.rooms.get(self.current)
    }

    fn room_mut(&mut self) -> Option<&mut Room> {
        self.rooms.get_mut(self.current)
    }

    fn room_by_name(&mut self, name: &str) -> Option<&mut Room> {
        self.rooms.iter_mut().find(|r| r.name == name)
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.rooms.iter().position(|r| r.name == name)
    }

    /// Unread messages in all rooms.
    #[must_use]
    pub fn total_unread(&self) -> u32 {
        self.rooms.iter().map(|r| r.unread).sum()
    }

    /// The terminal title.
    #[must_use]
    pub fn title(&self) -> String {
        match self.total_unread() {
            0 => "natter".to_owned(),
            n => format!("natter ({n})"),
        }
    }

    /// Your presence as you set it.
    #[must_use]
    pub fn own_presence(&self) -> PresenceState {
        self.own_presence
    }

    /// Whether the rooms pane shows (and in full).
    #[must_use]
    pub fn rooms_pane(&self) -> bool {
        self.show_rooms.unwrap_or(self.size.0 >= 60)
    }

    /// Whether the users pane shows.
    #[must_use]
    pub fn users_pane(&self) -> bool {
        self.show_users.unwrap_or(self.size.0 >= 100)
    }

    /// Width of the messages pane, as the layout gives it.
    #[must_use]
    pub fn messages_width(&self) -> usize {
        text::messages_area(self).width as usize
    }

    fn sort_rooms(&mut self) {
        let current = self.room().map(|r| r.name.clone());
        self.rooms.sort_by(|a, b| {
            (a.kind == RoomKind::Direct, &a.name).cmp(&(b.kind == RoomKind::Direct, &b.name))
        });
        if let Some(name) = current
            && let Some(i) = self.index_of(&name)
        {
            self.current = i;
        }
        self.current = self.current.min(self.rooms.len().saturating_sub(1));
    }

    fn notice(&mut self, room: Option<&str>, now_ms: i64, kind: EntryKind) {
        let index = room.and_then(|r| self.index_of(r)).unwrap_or(self.current);
        if let Some(r) = self.rooms.get_mut(index) {
            r.push_local(now_ms, kind);
        } else {
            // No room to show it in: the empty screen shows it instead.
            self.loose = Some(match kind {
                EntryKind::Error(t) | EntryKind::Notice(t) => t,
                EntryKind::Msg { body, .. } => body,
            });
        }
    }

    /// Shows a one-line error in the current room.
    pub fn error(&mut self, now_ms: i64, text: impl Into<String>) {
        self.notice(None, now_ms, EntryKind::Error(text.into()));
    }

    // ---- connection -------------------------------------------------------

    /// Logged in (first time or after a reconnect): merge the server's view
    /// and fetch what was missed. Queued messages go out in order.
    pub fn on_online(&mut self, session: &SessionInfo) -> Vec<Effect> {
        self.conn = ConnState::Online { rtt: None };
        self.user.clone_from(&session.user);
        self.admin = session.admin;
        let mut effects = Vec::new();
        for state in &session.rooms {
            if let Some(room) = self.room_by_name(&state.name) {
                room.topic.clone_from(&state.topic);
                room.unread = state.unread;
                room.mentions = state.mentions;
                room.last_read = state.last_read;
                // Any room holding messages (opened or not) fetches what came
                // after its newest, so no gap opens.
                if room.newest > 0 && state.last_id > room.newest {
                    effects.push(catch_up(&room.name, room.newest));
                }
            } else {
                self.rooms.push(Room::new(state));
            }
        }
        // Rooms the server no longer lists for us (kicked while away); the
        // room on screen stays on screen if it is still there.
        let current = self.room().map(|r| r.name.clone());
        self.rooms
            .retain(|r| session.rooms.iter().any(|s| s.name == r.name));
        if let Some(i) = current.and_then(|name| self.index_of(&name)) {
            self.current = i;
        }
        self.sort_rooms();
        if self.room().is_none() {
            self.current = 0;
        }
        if let Some(general) = self.index_of("#general")
            && !self.rooms.get(self.current).is_some_and(|r| r.loaded)
            && self.rooms.iter().all(|r| !r.loaded)
        {
            self.current = general;
        }
        // Presence may have changed while away: members are fetched again
        // as rooms are opened.
        for room in &mut self.rooms {
            room.members_loaded = false;
        }
        effects.extend(self.open_current());
        while let Some((local, room, body, action)) = self.queue.pop_front() {
            effects.push(Effect::Send {
                local,
                nonce: self.nonces.of(local),
                room,
                body,
                action,
            });
        }
        effects
    }

    /// Fetches the current room's first page if needed and notes its marker.
    fn open_current(&mut self) -> Vec<Effect> {
        let Some(room) = self.rooms.get_mut(self.current) else {
            return Vec::new();
        };
        // The "new" line goes above the first unread message, if any.
        room.marker = (room.unread > 0).then_some(room.last_read);
        if room.scroll.is_none() {
            room.new_below = 0;
        }
        let mut effects = Vec::new();
        let online = matches!(self.conn, ConnState::Online { .. });
        // Offline, the first page waits: `on_online` opens the room again.
        if online && !room.loaded && !room.loading_older {
            room.loading_older = true;
            effects.push(Effect::Request {
                req: Request::History {
                    room: room.name.clone(),
                    query: HistoryQuery {
                        before: None,
                        after: None,
                        limit: PAGE,
                    },
                },
                then: Then::History {
                    room: room.name.clone(),
                    older: true,
                },
            });
        }
        if online && !room.members_loaded {
            effects.push(members(&room.name));
        }
        effects
    }

    /// The connection changed state (not online).
    pub fn on_conn(&mut self, state: ConnState) {
        self.conn = state;
        for room in &mut self.rooms {
            room.typing.clear();
            room.loading_older = false;
        }
    }

    /// A new round-trip time from the heartbeat.
    pub fn on_rtt(&mut self, rtt: Duration) {
        if let ConnState::Online { rtt: r } = &mut self.conn {
            *r = Some(rtt);
        }
    }

    // ---- server events ----------------------------------------------------

    /// A server event. `now` is for typing expiry.
    pub fn on_event(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        match event {
            Event::Message(m) => effects.extend(self.on_message(&m)),
            Event::Unread {
                room,
                unread,
                mentions,
            } => {
                if let Some(r) = self.room_by_name(&room) {
                    r.unread = unread;
                    r.mentions = mentions;
                }
            }
            Event::Read { room, id } => {
                if let Some(r) = self.room_by_name(&room) {
                    r.last_read = r.last_read.max(id);
                }
            }
            Event::Typing { room, user, active } => {
                if user != self.user
                    && let Some(r) = self.room_by_name(&room)
                {
                    if active {
                        r.typing.insert(user, now + TYPING_SHOWN);
                    } else {
                        r.typing.remove(&user);
                    }
                }
            }
            Event::Presence {
                user,
                state,
                status,
            } => {
                if user == self.user {
                    self.own_presence = state;
                }
                for r in &mut self.rooms {
                    if let Some(m) = r.members.iter_mut().find(|m| m.name == user) {
                        m.presence = state;
                        m.status.clone_from(&status);
                    }
                    sort_members(&mut r.members);
                }
            }
            Event::Joined { room, user } => {
                if let Some(r) = self.room_by_name(&room) {
                    r.push_local(
                        crate::app::text::now_ms(),
                        EntryKind::Notice(format!("{user} joined")),
                    );
                    if r.members_loaded {
                        effects.push(members(&room));
                    }
                }
            }
            Event::Left {
                room,
                user,
                kind,
                by,
                reason,
            } => {
                if let Some(r) = self.room_by_name(&room) {
                    let text = leave_text(&user, kind, by.as_deref(), reason.as_deref());
                    r.push_local(crate::app::text::now_ms(), EntryKind::Notice(text));
                    r.members.retain(|m| m.name != user);
                    r.typing.remove(&user);
                }
            }
            Event::Topic { room, topic, by } => {
                if let Some(r) = self.room_by_name(&room) {
                    r.topic.clone_from(&topic);
                    r.push_local(
                        crate::app::text::now_ms(),
                        EntryKind::Notice(format!("{by} set the topic: {topic}")),
                    );
                }
            }
            Event::Role { room, user, role } => {
                if let Some(r) = self.room_by_name(&room)
                    && let Some(m) = r.members.iter_mut().find(|m| m.name == user)
                {
                    m.role = role;
                }
            }
            Event::RoomAdded(state) => {
                if self.index_of(&state.name).is_none() {
                    self.rooms.push(Room::new(&state));
                    self.sort_rooms();
                }
            }
            Event::RoomRemoved {
                room,
                kind,
                by,
                reason,
            } => {
                if let Some(i) = self.index_of(&room) {
                    self.rooms.remove(i);
                    if self.current >= i && self.current > 0 {
                        self.current -= 1;
                    }
                    if kind != LeaveKind::Left {
                        let text = leave_text("you", kind, by.as_deref(), reason.as_deref());
                        self.error(crate::app::text::now_ms(), format!("{room}: {text}"));
                    }
                    effects.extend(self.open_current());
                }
            }
            // Events from a newer server: nothing to show.
            Event::Closing { .. } | Event::Unknown(_) => {}
        }
        effects
    }

    fn on_message(&mut self, m: &Message) -> Vec<Effect> {
        let me = self.user.clone();
        let nonces = self.nonces.clone();
        let current = self.current;
        let focused = self.focused;
        let Some(index) = self.index_of(&m.room) else {
            return Vec::new();
        };
        let room = &mut self.rooms[index];
        room.typing.remove(&m.from);
        let own = m.from == me;
        if !room.insert_message(m, &me, &nonces) {
            return Vec::new();
        }
        let mentioned = mentions_user(&m.body, &me);
        let on_screen = index == current && room.scroll.is_none() && focused;
        if !own && !on_screen {
            room.unread += 1;
            if mentioned {
                room.mentions += 1;
            }
        }
        let mut effects = Vec::new();
        let level = self
            .settings
            .notify
            .get(&m.room)
            .copied()
            .unwrap_or(self.settings.notify_default);
        let direct = self.rooms[index].kind == RoomKind::Direct;
        if crate::notify::should_notify(level, direct, mentioned, own)
            && !crate::notify::visible_to_user(
                focused,
                index == current && self.rooms[index].scroll.is_none(),
            )
        {
            let title = if direct {
                m.from.clone()
            } else {
                format!("{} in {}", m.from, m.room)
            };
            effects.push(Effect::Notify {
                title,
                body: m.body.clone(),
            });
        }
        effects.extend(self.mark_read_if_viewing());
        effects
    }

    /// Moves the read marker when the current room is viewed at its bottom.
    fn mark_read_if_viewing(&mut self) -> Vec<Effect> {
        let online = matches!(self.conn, ConnState::Online { .. });
        let focused = self.focused;
        let Some(room) = self.rooms.get_mut(self.current) else {
            return Vec::new();
        };
        if room.scroll.is_some() || !online || !focused || room.newest <= room.last_read {
            return Vec::new();
        }
        room.last_read = room.newest;
        room.unread = 0;
        room.mentions = 0;
        vec![Effect::Request {
            req: Request::MarkRead {
                room: room.name.clone(),
                id: room.newest,
            },
            then: Then::Quiet {
                room: room.name.clone(),
            },
        }]
    }

    /// Expires others' typing; returns when the next one expires.
    pub fn on_tick(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for r in &mut self.rooms {
            r.typing.retain(|_, until| *until > now);
            for until in r.typing.values() {
                next = Some(next.map_or(*until, |n| n.min(*until)));
            }
        }
        next
    }

    // ---- replies ----------------------------------------------------------

    /// A reply to a request made for `then`.
    pub fn on_reply(
        &mut self,
        then: Then,
        result: Result<Response, ErrorReply>,
        now_ms: i64,
    ) -> Vec<Effect> {
        let me = self.user.clone();
        let nonces = self.nonces.clone();
        match (then, result) {
            (Then::History { room, older }, Ok(Response::Messages { messages, more, .. })) => {
                if let Some(r) = self.room_by_name(&room) {
                    r.loading_older = false;
                    r.loaded = true;
                    if older {
                        r.has_older = more;
                    }
                    for m in &messages {
                        r.insert_message(m, &me, &nonces);
                    }
                }
                self.mark_read_if_viewing()
            }
            (Then::CatchUp { room }, Ok(Response::Messages { messages, more, .. })) => {
                let mut effects = Vec::new();
                if let Some(r) = self.room_by_name(&room) {
                    for m in &messages {
                        r.insert_message(m, &me, &nonces);
                    }
                    if more {
                        effects.push(catch_up(&room, r.newest));
                    }
                }
                effects.extend(self.mark_read_if_viewing());
                effects
            }
            (Then::History { room, .. } | Then::CatchUp { room }, Err(e)) => {
                if let Some(r) = self.room_by_name(&room) {
                    r.loading_older = false;
                }
                self.notice(
                    Some(&room),
                    now_ms,
                    EntryKind::Error(format!("history: {}", e.message)),
                );
                Vec::new()
            }
            (Then::Members { room }, Ok(Response::Members { mut members, .. })) => {
                if let Some(r) = self.room_by_name(&room) {
                    sort_members(&mut members);
                    r.members = members;
                    r.members_loaded = true;
                }
                Vec::new()
            }
            (Then::Joined, Ok(Response::Room(state))) => {
                if self.index_of(&state.name).is_none() {
                    self.rooms.push(Room::new(&state));
                    self.sort_rooms();
                }
                self.switch_to_name(&state.name)
            }
            (Then::Directory, Ok(Response::Directory(list))) => {
                let mut text = format!("{} public rooms:", list.len());
                for r in &list {
                    use std::fmt::Write as _;
                    let _ = write!(
                        text,
                        "
  {} ({} members) {}",
                        r.name, r.members, r.topic
                    );
                }
                self.notice(None, now_ms, EntryKind::Notice(text));
                Vec::new()
            }
            (Then::Stats, Ok(Response::Stats(s))) => {
                let text = format!(
                    "server: {} users online, {} sessions, {} rooms, {} messages, up {}",
                    s.users_online,
                    s.sessions,
                    s.rooms,
                    s.messages,
                    text::duration(s.uptime_secs)
                );
                self.notice(None, now_ms, EntryKind::Notice(text));
                Vec::new()
            }
            (Then::Report { room, ok }, Ok(_)) => {
                self.notice(Some(&room), now_ms, EntryKind::Notice(ok));
                Vec::new()
            }
            (Then::Quiet { .. }, Ok(_)) => Vec::new(),
            (Then::Members { room } | Then::Report { room, .. } | Then::Quiet { room }, Err(e)) => {
                self.notice(Some(&room), now_ms, EntryKind::Error(e.message));
                Vec::new()
            }
            (Then::Joined | Then::Directory | Then::Stats, Err(e)) => {
                self.error(now_ms, e.message);
                Vec::new()
            }
            (then, Ok(other)) => {
                tracing::warn!(?then, ?other, "unexpected reply");
                Vec::new()
            }
        }
    }

    /// A send's outcome: the server stored it (`Ok(id)`) or refused it.
    pub fn on_sent(&mut self, local: u64, result: Result<(MessageId, i64), String>) {
        for room in &mut self.rooms {
            if let Some(pos) = room.entries.iter().position(|e| e.local == Some(local)) {
                let e = &mut room.entries[pos];
                match result {
                    Ok((id, ts)) => {
                        if e.id.is_none() && room.ids.contains(&id) {
                            // A history page already brought it: one copy.
                            room.entries.remove(pos);
                            return;
                        }
                        if e.id.is_none() {
                            e.id = Some(id);
                            e.ts = ts;
                            room.ids.insert(id);
                            room.newest = room.newest.max(id);
                        }
                        if let EntryKind::Msg { delivery, .. } = &mut e.kind {
                            *delivery = Delivery::Sent;
                        }
                    }
                    Err(why) => {
                        if let EntryKind::Msg { delivery, .. } = &mut e.kind {
                            *delivery = Delivery::Failed(why);
                        }
                    }
                }
                return;
            }
        }
    }

    /// A send could not even be attempted (the link dropped first): queue it
    /// again for the next connection.
    pub fn requeue(&mut self, local: u64, room: String, body: String, action: bool) {
        self.queue.push_back((local, room, body, action));
    }

    // ---- input ------------------------------------------------------------

    /// Text pasted into the terminal: inserted as-is, never sent.
    pub fn on_paste(&mut self, text: &str, now: Instant) -> Vec<Effect> {
        if let Overlay::Login(form) = &mut self.overlay {
            let field = match form.field {
                0 => &mut form.server,
                1 => &mut form.user,
                _ => &mut form.password,
            };
            field.push_str(text.trim_end_matches(['\r', '\n']));
            return Vec::new();
        }
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let value = self.input.value();
        let cursor = self.input.cursor();
        let byte = value
            .char_indices()
            .nth(cursor)
            .map_or(value.len(), |(i, _)| i);
        let mut new = String::with_capacity(value.len() + text.len());
        new.push_str(&value[..byte]);
        new.push_str(&text);
        new.push_str(&value[byte..]);
        let cursor = cursor + text.chars().count();
        self.input = Input::new(new).with_cursor(cursor);
        self.typing_effects(now)
    }

    /// The terminal gained or lost focus.
    pub fn on_focus(&mut self, focused: bool) -> Vec<Effect> {
        self.focused = focused;
        if focused {
            self.mark_read_if_viewing()
        } else {
            Vec::new()
        }
    }

    /// The terminal was resized.
    pub fn on_resize(&mut self, width: u16, height: u16) {
        self.size = (width, height);
    }

    /// A mouse event (when enabled).
    pub fn on_mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        match m.kind {
            MouseEventKind::ScrollUp => self.scroll_by(3, true),
            MouseEventKind::ScrollDown => self.scroll_by(3, false),
            MouseEventKind::Down(_) => {
                let area = text::rooms_area(self);
                if self.rooms_pane()
                    && m.column >= area.x
                    && m.column < area.x + area.width
                    && m.row > area.y
                    && m.row < area.bottom()
                {
                    let index = usize::from(m.row - area.y - 1);
                    if index < self.rooms.len() {
                        return self.switch_to(index);
                    }
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// A key press.
    pub fn on_key(&mut self, key: KeyEvent, now: Instant, now_ms: i64) -> Vec<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        if ctrl && matches!(key.code, KeyCode::Char('c' | 'q')) {
            self.quit = true;
            return vec![Effect::Quit];
        }
        match &self.overlay {
            Overlay::Help => {
                if matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::F(1) | KeyCode::Char('q') | KeyCode::Enter
                ) {
                    self.overlay = Overlay::None;
                }
                return Vec::new();
            }
            Overlay::Switcher { .. } => return self.switcher_key(key),
            Overlay::Login(_) => return self.login_key(key),
            Overlay::None => {}
        }
        if key.code != KeyCode::Tab {
            self.completion = None;
        }
        match key.code {
            KeyCode::F(1) => self.overlay = Overlay::Help,
            KeyCode::F(2) => self.show_rooms = Some(!self.rooms_pane()),
            KeyCode::F(3) => self.show_users = Some(!self.users_pane()),
            KeyCode::Char('n') if ctrl => return self.switch_by(1),
            KeyCode::Char('p') if ctrl => return self.switch_by(-1),
            KeyCode::Char('k') if ctrl => {
                self.overlay = Overlay::Switcher {
                    filter: String::new(),
                    selected: 0,
                };
            }
            KeyCode::Char('r') if ctrl => {
                if matches!(self.conn, ConnState::Waiting { .. }) {
                    return vec![Effect::RetryNow];
                }
            }
            KeyCode::Char(c @ '1'..='9') if alt => {
                let index = usize::from(c as u8 - b'1');
                if index < self.rooms.len() {
                    return self.switch_to(index);
                }
            }
            KeyCode::Enter if alt => {
                self.input.handle(tui_input::InputRequest::InsertChar('\n'));
            }
            KeyCode::Enter => return self.submit(now, now_ms),
            KeyCode::PageUp => return self.scroll_by(self.page_rows(), true),
            KeyCode::PageDown => return self.scroll_by(self.page_rows(), false),
            KeyCode::Home if ctrl || self.input.value().is_empty() => {
                return self.scroll_by(usize::MAX, true);
            }
            KeyCode::End if ctrl || self.input.value().is_empty() => {
                return self.scroll_to_bottom();
            }
            KeyCode::Up if !self.input.value().contains('\n') => self.recall_by(-1),
            KeyCode::Down if !self.input.value().contains('\n') => self.recall_by(1),
            KeyCode::Tab => self.complete(),
            KeyCode::Esc => {
                self.input.reset();
                return self.typing_effects(now);
            }
            _ => {
                let before = self.input.value().to_owned();
                self.input.handle_event(&crossterm::event::Event::Key(key));
                if self.input.value() != before {
                    self.recall = None;
                    return self.typing_effects(now);
                }
            }
        }
        Vec::new()
    }

    fn page_rows(&self) -> usize {
        usize::from(text::messages_area(self).height.saturating_sub(1)).max(1)
    }

    fn recall_by(&mut self, delta: isize) {
        if self.sent.is_empty() {
            return;
        }
        let len = self.sent.len();
        if self.recall.is_none() {
            self.draft = self.input.value().to_owned();
        }
        let next = match (self.recall, delta < 0) {
            (None, true) => Some(len - 1),
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < len => Some(i + 1),
            (_, false) => None,
        };
        self.recall = next;
        let text = next.map_or_else(|| std::mem::take(&mut self.draft), |i| self.sent[i].clone());
        self.input = Input::new(text);
    }

    /// Sends "start" while typing at most every few seconds, "stop" when the
    /// line is cleared.
    fn typing_effects(&mut self, now: Instant) -> Vec<Effect> {
        let Some(room) = self.room().map(|r| r.name.clone()) else {
            return Vec::new();
        };
        if !matches!(self.conn, ConnState::Online { .. }) {
            return Vec::new();
        }
        let value = self.input.value();
        let typing = !value.trim().is_empty() && !value.starts_with('/');
        match (&self.typing_sent, typing) {
            (Some((r, at)), true) if *r == room && now.duration_since(*at) < TYPING_RESEND => {
                Vec::new()
            }
            (_, true) => {
                self.typing_sent = Some((room.clone(), now));
                vec![typing_request(&room, true)]
            }
            (Some((r, _)), false) => {
                let r = r.clone();
                self.typing_sent = None;
                vec![typing_request(&r, false)]
            }
            (None, false) => Vec::new(),
        }
    }

    fn stop_typing(&mut self) -> Vec<Effect> {
        match self.typing_sent.take() {
            Some((room, _)) if matches!(self.conn, ConnState::Online { .. }) => {
                vec![typing_request(&room, false)]
            }
            _ => Vec::new(),
        }
    }

    fn submit(&mut self, _now: Instant, now_ms: i64) -> Vec<Effect> {
        let line = self.input.value().to_owned();
        if line.trim().is_empty() {
            return Vec::new();
        }
        self.input.reset();
        self.recall = None;
        if self.sent.last() != Some(&line) {
            self.sent.push(line.clone());
        }
        let mut effects = self.stop_typing();
        if line.starts_with('/') && !line.starts_with("//") {
            match command::parse(&line) {
                Ok(cmd) => effects.extend(self.run_command(cmd, now_ms)),
                Err(e) => self.error(now_ms, e),
            }
            return effects;
        }
        let body = line
            .strip_prefix('/')
            .filter(|_| line.starts_with("//"))
            .unwrap_or(&line);
        let Some(room) = self.room().map(|r| r.name.clone()) else {
            self.error(now_ms, "join a room first: /join #room");
            return effects;
        };
        effects.extend(self.send_text(&room, body.to_owned(), false, now_ms));
        effects
    }

    fn send_text(&mut self, room: &str, body: String, action: bool, now_ms: i64) -> Vec<Effect> {
        let local = self.next_local;
        self.next_local += 1;
        let me = self.user.clone();
        if let Some(r) = self.room_by_name(room) {
            r.entries.push_back(Entry {
                id: None,
                local: Some(local),
                ts: now_ms,
                kind: EntryKind::Msg {
                    from: me,
                    body: body.clone(),
                    action,
                    delivery: Delivery::Pending,
                },
            });
            // Sending returns to the bottom.
            r.scroll = None;
            r.new_below = 0;
        }
        if matches!(self.conn, ConnState::Online { .. }) {
            vec![Effect::Send {
                local,
                nonce: self.nonces.of(local),
                room: room.to_owned(),
                body,
                action,
            }]
        } else {
            self.queue.push_back((local, room.to_owned(), body, action));
            Vec::new()
        }
    }

    fn run_command(&mut self, cmd: Command, now_ms: i64) -> Vec<Effect> {
        let here = self.room().map(|r| r.name.clone()).unwrap_or_default();
        let request = |req: Request, then: Then| vec![Effect::Request { req, then }];
        let report = |room: &str, ok: String| Then::Report {
            room: room.to_owned(),
            ok,
        };
        match cmd {
            Command::Join(room) => {
                if let Some(i) = self.index_of(&room) {
                    return self.switch_to(i);
                }
                request(Request::Join { room }, Then::Joined)
            }
            Command::Leave(room) => {
                let room = room.unwrap_or(here);
                request(Request::Leave { room: room.clone() }, Then::Quiet { room })
            }
            Command::Create { room, private } => {
                request(Request::Create { room, private }, Then::Joined)
            }
            Command::Invite { user, room } => {
                let room = room.unwrap_or(here);
                let ok = format!("invited {user} to {room}");
                request(
                    Request::Invite {
                        room: room.clone(),
                        user,
                    },
                    report(&room, ok),
                )
            }
            Command::Kick { user, reason } => {
                let ok = format!("kicked {user}");
                request(
                    Request::Kick {
                        room: here.clone(),
                        user,
                        reason,
                    },
                    report(&here, ok),
                )
            }
            Command::Ban { user, reason } => {
                let ok = format!("banned {user}");
                request(
                    Request::Ban {
                        room: here.clone(),
                        user,
                        reason,
                    },
                    report(&here, ok),
                )
            }
            Command::Unban(user) => {
                let ok = format!("unbanned {user}");
                request(
                    Request::Unban {
                        room: here.clone(),
                        user,
                    },
                    report(&here, ok),
                )
            }
            Command::Topic(topic) => request(
                Request::Topic {
                    room: here.clone(),
                    topic,
                },
                Then::Quiet { room: here },
            ),
            Command::Msg { user, text } => {
                let room = format!("@{user}");
                let mut effects = Vec::new();
                if let Some(i) = self.index_of(&room) {
                    effects.extend(self.switch_to(i));
                } else {
                    effects.push(Effect::Request {
                        req: Request::Join { room: room.clone() },
                        then: Then::Joined,
                    });
                }
                if let Some(text) = text {
                    if self.index_of(&room).is_none() {
                        // Not listed yet: the send itself opens it.
                        self.rooms.push(Room::new(&RoomState {
                            name: room.clone(),
                            kind: RoomKind::Direct,
                            topic: String::new(),
                            role: natter_shared::Role::Member,
                            unread: 0,
                            mentions: 0,
                            last_read: 0,
                            last_id: 0,
                            members: 2,
                        }));
                        self.sort_rooms();
                    }
                    effects.extend(self.send_text(&room, text, false, now_ms));
                }
                effects
            }
            Command::Me(text) => {
                if here.is_empty() {
                    self.error(now_ms, "join a room first: /join #room");
                    return Vec::new();
                }
                self.send_text(&here, text, true, now_ms)
            }
            Command::Presence { state, status } => {
                let ok = match state {
                    PresenceState::Away => "you are away",
                    PresenceState::Busy => "you are busy",
                    PresenceState::Invisible => "you are invisible",
                    _ => "you are online",
                };
                request(
                    Request::Presence { state, status },
                    report(&here, ok.into()),
                )
            }
            Command::Role { user, role } => {
                let ok = format!("{user} is now {role:?}").to_lowercase();
                request(
                    Request::SetRole {
                        room: here.clone(),
                        user,
                        role,
                    },
                    report(&here, ok),
                )
            }
            Command::Users => {
                let list = self
                    .room()
                    .map(|r| {
                        r.members
                            .iter()
                            .map(|m| m.name.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                self.notice(None, now_ms, EntryKind::Notice(format!("members: {list}")));
                Vec::new()
            }
            Command::Rooms => request(Request::Directory, Then::Directory),
            Command::Stats => request(Request::Stats, Then::Stats),
            Command::Help => {
                self.overlay = Overlay::Help;
                Vec::new()
            }
            Command::Quit => {
                self.quit = true;
                vec![Effect::Quit]
            }
        }
    }

    // ---- rooms and scrolling ---------------------------------------------

    fn switch_by(&mut self, delta: isize) -> Vec<Effect> {
        if self.rooms.is_empty() {
            return Vec::new();
        }
        let len = self.rooms.len();
        let step = delta.unsigned_abs() % len;
        let next = if delta < 0 {
            (self.current + len - step) % len
        } else {
            (self.current + step) % len
        };
        self.switch_to(next)
    }

    fn switch_to_name(&mut self, name: &str) -> Vec<Effect> {
        match self.index_of(name) {
            Some(i) => self.switch_to(i),
            None => Vec::new(),
        }
    }

    /// Shows another room.
    pub fn switch_to(&mut self, index: usize) -> Vec<Effect> {
        if index >= self.rooms.len() {
            return Vec::new();
        }
        let mut effects = self.stop_typing();
        self.current = index;
        self.completion = None;
        effects.extend(self.open_current());
        effects.extend(self.mark_read_if_viewing());
        effects
    }

    fn scroll_to_bottom(&mut self) -> Vec<Effect> {
        if let Some(r) = self.room_mut() {
            r.scroll = None;
            r.new_below = 0;
        }
        self.mark_read_if_viewing()
    }

    /// Scrolls the messages view by `rows`; reaching the top fetches the
    /// previous page.
    fn scroll_by(&mut self, rows: usize, up: bool) -> Vec<Effect> {
        let width = self.messages_width();
        let height = usize::from(text::messages_area(self).height);
        let offset = self.settings.utc_offset;
        let me = self.user.clone();
        let Some(room) = self.rooms.get_mut(self.current) else {
            return Vec::new();
        };
        let layout = text::Layout {
            width,
            utc_offset: offset,
            me: &me,
        };
        let (scroll, at_top) = layout.scroll(room, rows, up, height);
        room.scroll = scroll;
        if scroll.is_none() {
            room.new_below = 0;
        }
        let mut effects = Vec::new();
        if at_top && room.has_older && !room.loading_older {
            room.loading_older = true;
            effects.push(Effect::Request {
                req: Request::History {
                    room: room.name.clone(),
                    query: HistoryQuery {
                        before: room.oldest_id(),
                        after: None,
                        limit: PAGE,
                    },
                },
                then: Then::History {
                    room: room.name.clone(),
                    older: true,
                },
            });
        }
        effects.extend(self.mark_read_if_viewing());
        effects
    }

    // ---- completion -------------------------------------------------------

    fn complete(&mut self) {
        let value = self.input.value().to_owned();
        let cursor = self.input.cursor();
        let chars: Vec<char> = value.chars().collect();
        if let Some(c) = &mut self.completion {
            c.index = (c.index + 1) % c.candidates.len();
            let word = c.candidates[c.index].clone();
            let start = c.start;
            self.replace_word(start, &word);
            return;
        }
        let start = chars[..cursor]
            .iter()
            .rposition(|c| c.is_whitespace())
            .map_or(0, |i| i + 1);
        let prefix: String = chars[start..cursor].iter().collect();
        let lower = prefix.to_lowercase();
        let candidates: Vec<String> = if start == 0 && prefix.starts_with('/') {
            command::COMMANDS
                .iter()
                .map(|(c, _, _)| (*c).to_owned())
                .filter(|c| c.starts_with(&lower))
                .map(|c| c + " ")
                .collect()
        } else if prefix.starts_with('#') {
            self.rooms
                .iter()
                .map(|r| r.name.clone())
                .filter(|n| n.starts_with(&lower))
                .map(|n| n + " ")
                .collect()
        } else {
            let bare = lower.trim_start_matches('@');
            let at = if prefix.starts_with('@') { "@" } else { "" };
            let suffix = if start == 0 && at.is_empty() {
                ": "
            } else {
                " "
            };
            let mut names: Vec<String> = Vec::new();
            if let Some(room) = self.room() {
                for n in room.recent.iter().rev() {
                    names.push(n.clone());
                }
                for m in &room.members {
                    names.push(m.name.clone());
                }
            }
            let mut seen = HashSet::new();
            names
                .into_iter()
                .filter(|n| *n != self.user && n.starts_with(bare) && seen.insert(n.clone()))
                .map(|n| format!("{at}{n}{suffix}"))
                .collect()
        };
        if candidates.is_empty() {
            return;
        }
        let word = candidates[0].clone();
        self.completion = Some(Completion {
            start,
            candidates,
            index: 0,
        });
        self.replace_word(start, &word);
    }

    fn replace_word(&mut self, start: usize, word: &str) {
        let value = self.input.value();
        let cursor = self.input.cursor();
        let chars: Vec<char> = value.chars().collect();
        let before: String = chars[..start].iter().collect();
        let after: String = chars[cursor..].iter().collect();
        let new = format!("{before}{word}{after}");
        let cursor = start + word.chars().count();
        self.input = Input::new(new).with_cursor(cursor);
    }

    // ---- overlays ---------------------------------------------------------

    /// The switcher's entries for a filter: rooms, then people to message,
    /// best match first.
    #[must_use]
    pub fn switcher_items(&self, filter: &str) -> Vec<String> {
        let mut items: Vec<String> = self.rooms.iter().map(|r| r.name.clone()).collect();
        let mut people: Vec<String> = self
            .rooms
            .iter()
            .flat_map(|r| r.members.iter().map(|m| format!("@{}", m.name)))
            .filter(|n| *n != format!("@{}", self.user))
            .collect();
        people.sort();
        people.dedup();
        for p in people {
            if !items.contains(&p) {
                items.push(p);
            }
        }
        let mut scored: Vec<(usize, String)> = items
            .into_iter()
            .filter_map(|i| text::fuzzy_score(filter, &i).map(|s| (s, i)))
            .collect();
        scored.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, i)| i).collect()
    }

    fn switcher_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Overlay::Switcher { filter, selected } = &mut self.overlay else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Esc => self.overlay = Overlay::None,
            KeyCode::Backspace => {
                filter.pop();
                *selected = 0;
            }
            KeyCode::Up => *selected = selected.saturating_sub(1),
            KeyCode::Down => *selected = (*selected + 1).min(SWITCHER_ROWS - 1),
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                filter.push(c);
                *selected = 0;
            }
            KeyCode::Enter => {
                let (filter, selected) = (filter.clone(), *selected);
                self.overlay = Overlay::None;
                let items = self.switcher_items(&filter);
                let shown = items.len().min(SWITCHER_ROWS);
                let Some(choice) = items.get(selected.min(shown.saturating_sub(1))) else {
                    return Vec::new();
                };
                if let Some(i) = self.index_of(choice) {
                    return self.switch_to(i);
                }
                return vec![Effect::Request {
                    req: Request::Join {
                        room: choice.clone(),
                    },
                    then: Then::Joined,
                }];
            }
            _ => {}
        }
        Vec::new()
    }

    /// Shows the login screen (no credential source had anything).
    pub fn ask_login(&mut self, error: Option<String>) {
        self.overlay = Overlay::Login(LoginForm {
            server: self.server.clone(),
            user: self.user.clone(),
            password: String::new(),
            field: if self.user.is_empty() { 1 } else { 2 },
            error,
        });
    }

    fn login_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Overlay::Login(form) = &mut self.overlay else {
            return Vec::new();
        };
        let field = match form.field {
            0 => &mut form.server,
            1 => &mut form.user,
            _ => &mut form.password,
        };
        match key.code {
            KeyCode::Tab | KeyCode::Down => form.field = (form.field + 1) % 3,
            KeyCode::BackTab | KeyCode::Up => form.field = (form.field + 2) % 3,
            KeyCode::Backspace => {
                field.pop();
            }
            KeyCode::Char(c) => field.push(c),
            KeyCode::Esc => {
                self.quit = true;
                return vec![Effect::Quit];
            }
            KeyCode::Enter => {
                if form.field < 2 {
                    form.field += 1;
                    return Vec::new();
                }
                if form.server.trim().is_empty()
                    || form.user.trim().is_empty()
                    || form.password.is_empty()
                {
                    form.error = Some("server, user and password are all needed".into());
                    return Vec::new();
                }
                let effect = Effect::Login {
                    server: form.server.trim().to_owned(),
                    user: form.user.trim().to_owned(),
                    password: std::mem::take(&mut form.password),
                };
                self.server = form.server.trim().to_owned();
                self.user = form.user.trim().to_owned();
                self.overlay = Overlay::None;
                return vec![effect];
            }
            _ => {}
        }
        Vec::new()
    }

    /// Who is typing in the current room, as the typing line says it.
    #[must_use]
    pub fn typing_line(&self) -> Option<String> {
        let room = self.room()?;
        let mut names: Vec<&str> = room.typing.keys().map(String::as_str).collect();
        names.sort_unstable();
        match names.as_slice() {
            [] => None,
            [a] => Some(format!("{a} is typing...")),
            [a, b] => Some(format!("{a} and {b} are typing...")),
            _ => Some("several people are typing...".to_owned()),
        }
    }
}

fn members(room: &str) -> Effect {
    Effect::Request {
        req: Request::Members {
            room: room.to_owned(),
        },
        then: Then::Members {
            room: room.to_owned(),
        },
    }
}

fn catch_up(room: &str, after: MessageId) -> Effect {
    Effect::Request {
        req: Request::History {
            room: room.to_owned(),
            query: HistoryQuery {
                before: None,
                after: Some(after),
                limit: PAGE,
            },
        },
        then: Then::CatchUp {
            room: room.to_owned(),
        },
    }
}

fn typing_request(room: &str, active: bool) -> Effect {
    Effect::Request {
        req: Request::Typing {
            room: room.to_owned(),
            active,
        },
        then: Then::Quiet {
            room: room.to_owned(),
        },
    }
}

/// Most available first, then by name.
fn sort_members(members: &mut [Member]) {
    members.sort_by(|a, b| {
        b.presence
            .availability()
            .cmp(&a.presence.availability())
            .then(a.name.cmp(&b.name))
    });
}

fn leave_text(user: &str, kind: LeaveKind, by: Option<&str>, reason: Option<&str>) -> String {
    use std::fmt::Write as _;
    let verb = match (user, kind) {
        (_, LeaveKind::Left | LeaveKind::Unknown) => "left",
        ("you", LeaveKind::Kicked) => "were kicked",
        ("you", LeaveKind::Banned) => "were banned",
        (_, LeaveKind::Kicked) => "was kicked",
        (_, LeaveKind::Banned) => "was banned",
    };
    let mut text = format!("{user} {verb}");
    if let Some(by) = by {
        let _ = write!(text, " by {by}");
    }
    if let Some(reason) = reason {
        let _ = write!(text, " ({reason})");
    }
    text
}

#[cfg(test)]
mod tests;
