//! The full-screen client's state and everything that changes it.
//!
//! [`App`] knows nothing of the terminal or the network: key presses,
//! server events and replies come in through its `on_*` methods, which
//! change the state synchronously and return [`Effect`]s (requests to
//! make, messages to send, notifications to show) for the event loop in
//! `crate::tui` to perform. Rendering (`crate::ui`) reads the state and
//! never changes it.
//!
//! `App` itself only routes: each concern lives in a file named for it.
//!
//! - `rooms.rs`: the rooms list ([`Rooms`]): order, the room on screen,
//!   unread and mention counts, members, typing, and each [`Room`]'s
//!   view (scrolling, the "new" line).
//! - `timeline.rs`: one room's messages ([`Timeline`]), indexed by id;
//!   local notices; your pending messages, matched by [`Nonces`].
//! - `composer.rs`: the input line ([`Composer`]): recall, completion,
//!   the typing throttle, the offline queue.
//! - `keys.rs`: key bindings ([`KeyMap`]): keys to [`Action`]s.
//! - `overlay/`: the help, the quick switcher and the login screen.
//! - `command.rs`: slash commands, parsed and run.
//! - `safety.rs`: blocking, reports and invitations ([`Safety`]): who
//!   you block (hidden, not counted, not notified), invitations waiting
//!   for an answer, and their notices.
//! - `rich.rs`: edits, deletes, reactions and thread summaries applied
//!   to what is held, the `since` catch-up, threads, jumps and search.
//! - `select.rs`: selection mode and the replies and edits it starts.
//! - `emoji.rs`: the reaction shortcodes.
//! - `files.rs`: uploads, downloads and opening files, the transfers under
//!   way, pasted paths, thumbnails for previews.
//! - `text.rs`: display-width wrapping and layout arithmetic shared with
//!   rendering, so scrolling and drawing agree on what a row is.

pub mod command;
pub mod composer;
pub mod controls;
pub mod emoji;
pub mod files;
pub mod keys;
pub mod modes;
pub mod overlay;
pub mod profile;
pub mod receipts;
pub mod rich;
pub mod rooms;
pub mod safety;
pub mod select;
pub mod text;
pub mod timeline;

pub use composer::{Composer, Outgoing, TYPING_RESEND};
pub use keys::{Action, KeyMap};
pub use overlay::{Help, LoginForm, Overlay, SWITCHER_ROWS, Switcher};
pub use rooms::{PAGE, Room, Rooms, Scroll, TYPING_SHOWN};
pub use safety::Safety;
pub use select::Compose;
pub use timeline::{Delivery, Entry, EntryKind, Nonces, Rich, Timeline};

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossterm::event::{KeyEvent, MouseEvent, MouseEventKind};
use natter_shared::names::{contains_word, mentions_user};
use natter_shared::{
    ErrorReply, Event, LeaveKind, Message, MessageId, PresenceState, Request, Response, RoomKind,
    SessionInfo,
};

use crate::notify::NotifyLevel;
use overlay::{login, switcher};

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
        /// `Send.reply_to`: the message it quotes.
        reply_to: Option<MessageId>,
        /// `Send.thread`: the thread it goes in.
        thread: Option<MessageId>,
        /// `Send.files`: uploads it carries.
        files: Vec<natter_shared::Attachment>,
    },
    /// Put this text on the terminal's clipboard (OSC 52: works over SSH
    /// and in tmux with `set-clipboard`).
    Copy {
        text: String,
    },
    /// Show a notification.
    Notify {
        title: String,
        body: String,
    },
    /// Cut the reconnect wait short.
    RetryNow,
    /// Keep these per-room choices for the next start (`prefs.rs`).
    SavePrefs(crate::prefs::RoomPrefs),
    /// Log in with this presence from now on: the choice survives every
    /// reconnect and server restart.
    LoginPresence(natter_shared::PresenceChoice),
    /// Log in with what the login screen collected.
    Login {
        server: String,
        user: String,
        password: String,
    },
    /// Keep the session token of a login-screen login in the keyring (off
    /// the UI task: a keyring may take seconds), under `account`
    /// (`user@server`).
    StoreToken {
        account: String,
        token: String,
    },
    /// The server refused the stored token: remove it from the keyring.
    ForgetToken {
        account: String,
    },
    /// `/open N`: open this URL with `open_command`, or copy it to the
    /// clipboard over SSH (see `crate::tui`).
    Open {
        url: String,
    },
    /// Upload the file at `path` (transfer `id`), reporting with
    /// [`App::on_transfer`].
    Upload {
        id: u64,
        path: std::path::PathBuf,
        name: String,
    },
    /// Download `file` (transfer `id`): into `dir`, or the download dir;
    /// with `open`, into the cache, to open.
    Download {
        id: u64,
        file: natter_shared::Attachment,
        dir: Option<std::path::PathBuf>,
        open: bool,
    },
    /// Stop transfer `id`.
    CancelTransfer {
        id: u64,
    },
    /// Fetch `file`'s thumbnail for its preview ([`App::on_thumb`]).
    Thumb {
        file: natter_shared::Attachment,
    },
    /// Open a downloaded file with `open_command`.
    OpenPath {
        path: std::path::PathBuf,
    },
    Quit,
}

/// How this session logs in, which decides what the keyring keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LoginBy {
    /// A credential the keyring has no part in (a password from the
    /// environment or a command), or none yet.
    #[default]
    Other,
    /// The token stored for `account` (`user@server`): forgotten if the
    /// server refuses it.
    StoredToken { account: String },
    /// A password typed on the login screen: the new session token is
    /// kept, once.
    TypedPassword,
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
    /// A blocking, report or invitation request typed in `room`: its
    /// notice goes there.
    Safety {
        room: String,
        op: safety::Op,
    },
    /// `/whois` typed in `room`: its notice goes there.
    Whois {
        room: String,
    },
    /// Threads, jumps, search, edits, deletes, reactions, catch-ups
    /// (`rich.rs`).
    Rich(rich::Pending),
    /// Read markers of `room` (`receipts.rs`).
    Readers {
        room: String,
        what: receipts::ReadersFor,
    },
    /// `/receipts`, typed in `room`.
    Sharing {
        room: String,
    },
    /// Nothing to show, success or not (a delivery acknowledgement).
    Silent,
}

/// What `/open` runs when the config names nothing.
pub const DEFAULT_OPEN_COMMAND: &str = "xdg-open";

/// Colours and panes the user chose.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Notification level per room name; the default is mentions (and DMs).
    pub notify: HashMap<String, NotifyLevel>,
    pub notify_default: NotifyLevel,
    pub mouse: bool,
    /// Local time's offset from UTC, in seconds (fixed in tests).
    pub utc_offset: i32,
    /// For the event loop: where chat logs go (`None`: not logged), and
    /// what `/open` runs.
    pub chat_log: Option<std::path::PathBuf>,
    pub open_command: String,
    /// `/notify`, `/mute` and `/close` as chosen so far (see `prefs.rs`).
    pub prefs: crate::prefs::RoomPrefs,
    /// Words that count as mentions of you (whole words, any case).
    pub highlights: Vec<String>,
    /// The key bindings: natter's, with the config's `[keys]` over them.
    pub keys: KeyMap,
    /// How image previews are drawn (`images` in the config).
    pub images: files::ImageMode,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            notify: HashMap::new(),
            notify_default: NotifyLevel::Mentions,
            mouse: false,
            utc_offset: 0,
            chat_log: None,
            open_command: DEFAULT_OPEN_COMMAND.to_owned(),
            prefs: crate::prefs::RoomPrefs::default(),
            highlights: Vec::new(),
            keys: KeyMap::default(),
            images: files::ImageMode::default(),
        }
    }
}

/// The whole client state.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)] // independent facts: admin, focus, quitting, ...
pub struct App {
    /// The server as configured: one address, or a cluster's nodes
    /// (`a:7878,b:7878`). Names the keyring entry and the chat logs.
    pub server: String,
    /// The one of them this session reached (the status line's).
    pub node: String,
    pub user: String,
    pub admin: bool,
    pub conn: ConnState,
    pub rooms: Rooms,
    pub composer: Composer,
    pub overlay: Overlay,
    pub keys: KeyMap,
    /// Terminal size, for layout.
    pub size: (u16, u16),
    /// `None`: automatic by width; `Some`: the user toggled it.
    pub show_rooms: Option<bool>,
    pub show_users: Option<bool>,
    pub focused: bool,
    pub settings: Settings,
    /// Where credentials come from, for `/help`.
    pub credential_source: String,
    /// How this session logs in, for the keyring.
    pub login_by: LoginBy,
    /// How sends are named, to know them when they come back: the
    /// composer names them, the timelines match them.
    pub nonces: Nonces,
    /// What the server's welcome lists (`natter_shared::features`);
    /// `None` before the first welcome.
    pub features: Option<Vec<String>>,
    /// Who you block and the invitations waiting for you.
    pub safety: Safety,
    own_presence: PresenceState,
    /// When the link was lost (ms), while it is down after having been up:
    /// one notice when it goes, one when it is back.
    outage: Option<i64>,
    /// Logged in at least once: failing to connect at start is not an
    /// outage.
    was_online: bool,
    /// The message of the day, waiting for a room to show it in.
    motd: Option<String>,
    motd_shown: bool,
    /// Quitting waits for a "y": messages are not sent yet.
    pub confirm_quit: bool,
    /// The last notice when there is no room to show it in.
    pub loose: Option<String>,
    /// The longest body the server takes, in bytes (its welcome's
    /// `max_message_len`), and a message over it waiting for "split? y/n".
    pub max_body: Option<usize>,
    pub split: Option<command::Split>,
    /// The largest file the server takes (its welcome's `max_file_bytes`).
    pub max_file: Option<u64>,
    /// Transfers under way, thumbnails, a pasted path offered for upload.
    pub files: files::Files,
    /// Selection mode: the message highlighted in the room on screen.
    pub select: Option<MessageId>,
    /// A reply or an edit being written in the input.
    pub compose: Option<Compose>,
    /// A delete waiting for "y/n".
    pub confirm_delete: Option<(String, MessageId)>,
    /// Your last used reactions, newest first (1-9 in the prompt).
    pub recent_reactions: Vec<String>,
    pub quit: bool,
}

impl App {
    /// A client about to connect to `server` as `user`.
    #[must_use]
    pub fn new(server: &str, user: &str, settings: Settings) -> Self {
        Self {
            server: server.to_owned(),
            node: server.to_owned(),
            user: user.to_owned(),
            admin: false,
            conn: ConnState::Connecting { attempt: 1 },
            rooms: Rooms::default(),
            composer: Composer::default(),
            overlay: Overlay::None,
            keys: settings.keys.clone(),
            size: (120, 40),
            show_rooms: None,
            show_users: None,
            focused: true,
            settings,
            credential_source: String::new(),
            login_by: LoginBy::Other,
            nonces: Nonces::new(),
            features: None,
            safety: Safety::default(),
            own_presence: PresenceState::Online,
            outage: None,
            was_online: false,
            confirm_quit: false,
            motd: None,
            motd_shown: false,
            loose: None,
            max_body: None,
            max_file: None,
            files: files::Files::default(),
            split: None,
            select: None,
            compose: None,
            confirm_delete: None,
            recent_reactions: Vec::new(),
            quit: false,
        }
    }

    /// The room on screen.
    #[must_use]
    pub fn room(&self) -> Option<&Room> {
        self.rooms.current()
    }

    /// Unread messages in all rooms.
    #[must_use]
    pub fn total_unread(&self) -> u32 {
        self.rooms
            .iter()
            .filter(|r| !self.muted(&r.name))
            .map(|r| r.unread)
            .sum()
    }

    /// The terminal title.
    #[must_use]
    pub fn title(&self) -> String {
        match self.total_unread() {
            0 => "natter".to_owned(),
            n => format!("natter ({n})"),
        }
    }

    /// Whether a message body mentions you: `@you`, `you:` at the start
    /// of a line, or one of your highlight words.
    #[must_use]
    pub fn mentions_me(&self, body: &str) -> bool {
        mentions_user(body, &self.user)
            || self
                .settings
                .highlights
                .iter()
                .any(|word| contains_word(body, word))
    }

    /// Your presence as you set it.
    #[must_use]
    pub fn own_presence(&self) -> PresenceState {
        self.own_presence
    }

    /// You chose a presence (`/away`, `/busy`, `/invisible`, `/back`): it
    /// holds at once, and the next logins restore it. Going invisible
    /// first withdraws a "typing" already shown.
    pub(crate) fn choose_presence(
        &mut self,
        state: PresenceState,
        status: Option<String>,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        if state == PresenceState::Invisible {
            effects.extend(self.composer.stop_typing(self.online()));
        }
        self.own_presence = state;
        effects.push(Effect::LoginPresence(natter_shared::PresenceChoice {
            state,
            status,
        }));
        effects
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

    /// Who is typing in the current room, as the typing line says it.
    #[must_use]
    pub fn typing_line(&self) -> Option<String> {
        self.room()?.typing_line()
    }

    /// The switcher's entries for a filter: rooms, then people to message,
    /// best match first.
    #[must_use]
    pub fn switcher_items(&self, filter: &str) -> Vec<String> {
        switcher::items(&self.rooms, &self.user, filter)
    }

    fn online(&self) -> bool {
        matches!(self.conn, ConnState::Online { .. })
    }

    fn notice(&mut self, room: Option<&str>, now_ms: i64, kind: EntryKind) {
        let index = room
            .and_then(|r| self.rooms.index_of(r))
            .unwrap_or(self.rooms.current_index());
        if index < self.rooms.len() {
            self.rooms[index].push_local(now_ms, kind);
        } else {
            // No room to show it in: the empty screen shows it instead.
            self.loose = Some(match kind {
                EntryKind::Error(t) | EntryKind::Notice(t) | EntryKind::Motd(t) => t,
                EntryKind::Msg { body, .. } => body,
            });
        }
    }

    /// Shows a one-line error in the current room.
    pub fn error(&mut self, now_ms: i64, text: impl Into<String>) {
        self.notice(None, now_ms, EntryKind::Error(text.into()));
    }

    // ---- connection -------------------------------------------------------

    /// The server's message of the day, to show once, when the first
    /// login has put a room on screen.
    pub fn on_motd(&mut self, motd: Option<&str>) {
        if !self.motd_shown
            && let Some(text) = motd.map(str::trim).filter(|t| !t.is_empty())
        {
            self.motd = Some(text.to_owned());
        }
    }

    /// The server's welcome, before each login: what it supports.
    pub fn on_welcome(&mut self, features: &[String]) {
        self.nonces.server_echoes = features.iter().any(|f| f == natter_shared::features::NONCE);
        self.features = Some(features.to_vec());
    }

    /// Logged in (first time or after a reconnect): merge the server's view
    /// and fetch what was missed. Queued messages go out in order.
    pub fn on_online(&mut self, session: &SessionInfo) -> Vec<Effect> {
        self.conn = ConnState::Online { rtt: None };
        self.was_online = true;
        self.user.clone_from(&session.user);
        self.admin = session.admin;
        let mut effects = Vec::new();
        if self.login_by == LoginBy::TypedPassword
            && let Some(token) = &session.token
        {
            self.login_by = LoginBy::Other;
            effects.push(Effect::StoreToken {
                account: format!("{}@{}", session.user, self.server),
                token: token.clone(),
            });
        }
        effects.extend(self.rooms.merge(&session.rooms));
        self.since_catch_ups(&mut effects);
        effects.extend(self.hide_closed(&session.rooms));
        if let Some(since) = self.outage.take() {
            let now = text::now_ms();
            let secs = u64::try_from((now - since).max(0) / 1000).unwrap_or(0);
            let down = text::duration(secs);
            self.notice(
                None,
                now,
                EntryKind::Notice(format!("connected again (down for {down})")),
            );
        }
        if let Some(motd) = self.motd.take() {
            self.motd_shown = true;
            self.notice(None, text::now_ms(), EntryKind::Motd(motd));
        }
        effects.extend(self.open_current());
        effects.extend(self.seek_first_unread());
        for invitation in self.safety.on_login(&session.blocked, &session.invitations) {
            let text = safety::invitation_text(&invitation);
            self.notice(None, text::now_ms(), EntryKind::Notice(text));
        }
        for message in self.composer.drain_queue() {
            effects.push(message.into_effect(&self.nonces));
        }
        effects
    }

    /// Fetches the current room's first page if needed and notes its marker.
    fn open_current(&mut self) -> Vec<Effect> {
        let online = self.online();
        let mut effects = self
            .rooms
            .current_mut()
            .map(|r| r.open(online))
            .unwrap_or_default();
        effects.extend(self.fetch_readers());
        effects
    }

    /// The connection stopped for good (no more retries). If the server
    /// refused the credential, the login screen asks for another, and a
    /// stored token that was refused is forgotten.
    pub fn on_stopped(&mut self, reason: String, credential_refused: bool) -> Vec<Effect> {
        let mut effects = Vec::new();
        if credential_refused {
            if let LoginBy::StoredToken { account } = std::mem::take(&mut self.login_by) {
                effects.push(Effect::ForgetToken { account });
            }
            self.ask_login(Some(reason.clone()));
        }
        self.on_conn(ConnState::Stopped(reason));
        effects
    }

    /// The connection changed state (not online). The first change after
    /// being online starts an outage and says so, once, however many
    /// attempts follow.
    pub fn on_conn(&mut self, state: ConnState) {
        self.on_conn_at(state, text::now_ms());
    }

    /// [`App::on_conn`] at a given time (ms since the epoch), for the
    /// outage notice.
    pub fn on_conn_at(&mut self, state: ConnState, now_ms: i64) {
        if self.was_online && self.outage.is_none() {
            let why = match &state {
                ConnState::Waiting { reason, .. } | ConnState::Stopped(reason) => reason.as_str(),
                ConnState::Connecting { .. } | ConnState::Online { .. } => "connection lost",
            };
            self.outage = Some(now_ms);
            let text = format!("disconnected: {why}; reconnecting (Ctrl+R to retry now)");
            self.notice(None, now_ms, EntryKind::Error(text));
        }
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
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    r.unread = unread;
                    r.mentions = mentions;
                }
            }
            Event::Read { room, id } => {
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    r.last_read = r.last_read.max(id);
                }
            }
            Event::Typing { room, user, active } => {
                if user != self.user
                    && !self.safety.is_blocked(&user)
                    && let Some(r) = self.rooms.by_name_mut(&room)
                {
                    r.set_typing(user, active, now);
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
                    r.set_presence(&user, state, status.as_deref());
                }
            }
            Event::Joined { room, user } => {
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    r.push_local(text::now_ms(), EntryKind::Notice(format!("{user} joined")));
                    if r.members_loaded {
                        effects.push(rooms::members(&room));
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
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    let text = leave_text(&user, kind, by.as_deref(), reason.as_deref());
                    r.push_local(text::now_ms(), EntryKind::Notice(text));
                    r.members.retain(|m| m.name != user);
                    r.typing.remove(&user);
                }
            }
            Event::Topic { room, topic, by } => {
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    r.topic.clone_from(&topic);
                    r.push_local(
                        text::now_ms(),
                        EntryKind::Notice(format!("{by} set the topic: {topic}")),
                    );
                }
            }
            Event::Mode {
                room,
                announce,
                category,
                by,
            } => {
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    let mut said = Vec::new();
                    if r.announce != announce {
                        said.push(if announce {
                            format!("{by} made {room} an announcement room: only moderators post")
                        } else {
                            format!("{by} opened {room} to every member's posts")
                        });
                    }
                    if r.category != category {
                        said.push(match &category {
                            Some(c) => format!("{by} put {room} in the category {c}"),
                            None => format!("{by} took {room} out of its category"),
                        });
                    }
                    r.announce = announce;
                    r.category = category;
                    for text in said {
                        r.push_local(text::now_ms(), EntryKind::Notice(text));
                    }
                    self.rooms.sort();
                }
            }
            Event::Receipt { room, user, id } => self.on_receipt(&room, &user, id),
            Event::Delivered { room, id } => self.on_delivered(&room, id),
            Event::Role { room, user, role } => {
                if let Some(r) = self.rooms.by_name_mut(&room)
                    && let Some(m) = r.members.iter_mut().find(|m| m.name == user)
                {
                    m.role = role;
                }
            }
            Event::RoomAdded(state) => {
                self.rooms.add(&state);
                if self.safety.joined(&state.name)
                    && let Some(i) = self.rooms.index_of(&state.name)
                {
                    effects.extend(self.switch_to(i));
                }
            }
            Event::RoomRemoved {
                room,
                kind,
                by,
                reason,
            } => {
                if self.rooms.remove(&room) {
                    if kind != LeaveKind::Left {
                        let text = leave_text("you", kind, by.as_deref(), reason.as_deref());
                        self.error(text::now_ms(), format!("{room}: {text}"));
                    }
                    effects.extend(self.open_current());
                }
            }
            Event::Profile { user, display_name } => {
                self.on_profile(&user, display_name.as_deref());
            }
            Event::Invited(invitation) => self.on_invited(&invitation),
            Event::Reported(report) => self.on_reported(&report),
            // Events from a newer server: nothing to show.
            Event::Closing { .. } | Event::Unknown(_) => {}
            Event::Edited {
                room,
                id,
                body,
                rev,
                ..
            } => self.on_edited(&room, id, &body, rev),
            Event::Deleted { room, id, rev, .. } => self.on_deleted(&room, id, rev),
            Event::Reaction {
                room,
                id,
                key,
                user,
                on,
                rev,
            } => self.on_reaction(&room, id, &key, &user, on, rev),
        }
        effects
    }

    /// A new message: into its room's timeline, counted unread unless you
    /// are looking at it, notified as the settings say. A blocked user's
    /// message is kept but hidden: neither counted nor notified.
    fn on_message(&mut self, m: &Message) -> Vec<Effect> {
        // A conversation `/close` hid comes back with its next message.
        let mut effects: Vec<Effect> = self.reopen_closed(&m.room, m.id).into_iter().collect();
        let current = self.rooms.current_index();
        let focused = self.focused;
        let Some(index) = self.rooms.index_of(&m.room) else {
            return effects;
        };
        let level = self.notify_level(&m.room);
        if m.thread.is_some() {
            self.thread_message(m);
        }
        let room = &mut self.rooms[index];
        room.typing.remove(&m.from);
        let own = m.from == self.user;
        let hidden = !own && self.safety.is_blocked(&m.from);
        // A thread reply is not in the timeline, but it counts and
        // notifies in its room as the server counts it.
        if !room.insert_message(m, &self.user, &self.nonces, hidden, true) && m.thread.is_none() {
            return effects;
        }
        if hidden {
            effects.extend(self.mark_read_if_viewing());
            return effects;
        }
        if !own {
            effects.extend(self.ack_direct(&m.room, m.id));
        }
        let mentioned = m.attention || self.mentions_me(&m.body);
        let room = &mut self.rooms[index];
        let at_bottom = room.scroll.is_none();
        let on_screen = index == current && at_bottom && focused;
        if !own && !on_screen {
            room.unread += 1;
            if mentioned {
                room.mentions += 1;
            }
        }
        let direct = room.kind == RoomKind::Direct;
        if crate::notify::should_notify(level, direct, mentioned, own)
            && !crate::notify::visible_to_user(focused, index == current && at_bottom)
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
        if !self.online() || !self.focused {
            return Vec::new();
        }
        let Some(room) = self.rooms.current_mut() else {
            return Vec::new();
        };
        let shown = text::Layout::newest_shown(room);
        room.mark_read(shown).into_iter().collect()
    }

    /// Expires others' typing; returns when the next one expires.
    pub fn on_tick(&mut self, now: Instant) -> Option<Instant> {
        self.rooms
            .iter_mut()
            .filter_map(|r| r.expire_typing(now))
            .min()
    }

    // ---- replies ----------------------------------------------------------

    /// A reply to a request made for `then`.
    pub fn on_reply(
        &mut self,
        then: Then,
        result: Result<Response, ErrorReply>,
        now_ms: i64,
    ) -> Vec<Effect> {
        match (then, result) {
            (Then::Readers { room, what }, result) => {
                self.on_readers(&room, &what, result, now_ms);
                Vec::new()
            }
            (Then::Sharing { room }, result) => {
                self.on_sharing(&room, result, now_ms);
                Vec::new()
            }
            (
                Then::History { room, older },
                Ok(Response::Messages {
                    messages,
                    more,
                    rev,
                    ..
                }),
            ) => {
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    r.rev = r.rev.max(rev);
                    r.loading_older = false;
                    r.loaded = true;
                    if older {
                        r.has_older = more;
                    }
                    for m in &messages {
                        let hidden = self.safety.is_blocked(&m.from);
                        r.insert_message(m, &self.user, &self.nonces, hidden, false);
                    }
                }
                let mut effects = if self.room().is_some_and(|r| r.name == room) {
                    self.seek_first_unread()
                } else {
                    Vec::new()
                };
                // What a page of a conversation holds was received here.
                if let Some(newest) = messages.iter().map(|m| m.id).max() {
                    effects.extend(self.ack_direct(&room, newest));
                }
                effects.extend(self.mark_read_if_viewing());
                effects
            }
            (
                Then::CatchUp { room },
                Ok(Response::Messages {
                    messages,
                    more,
                    rev,
                    ..
                }),
            ) => {
                let mut effects = Vec::new();
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    r.rev = r.rev.max(rev);
                    for m in &messages {
                        let hidden = self.safety.is_blocked(&m.from);
                        r.insert_message(m, &self.user, &self.nonces, hidden, false);
                    }
                    if more {
                        effects.push(rooms::catch_up(&room, r.entries.newest()));
                    }
                }
                effects.extend(self.mark_read_if_viewing());
                effects
            }
            (Then::History { room, .. } | Then::CatchUp { room }, Err(e)) => {
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    r.loading_older = false;
                }
                self.notice(
                    Some(&room),
                    now_ms,
                    EntryKind::Error(format!("history: {}", e.message)),
                );
                Vec::new()
            }
            (Then::Members { room }, Ok(Response::Members { members, .. })) => {
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    r.set_members(members);
                }
                Vec::new()
            }
            (Then::Joined, Ok(Response::Room(state))) => {
                self.rooms.add(&state);
                match self.rooms.index_of(&state.name) {
                    Some(i) => self.switch_to(i),
                    None => Vec::new(),
                }
            }
            (Then::Directory, Ok(Response::Directory(list))) => {
                let mut text = match list.len() {
                    1 => "1 public room:".to_owned(),
                    n => format!("{n} public rooms:"),
                };
                for r in &list {
                    use std::fmt::Write as _;
                    let _ = write!(
                        text,
                        "\n  {} ({}) {}",
                        r.name,
                        text::count(u64::from(r.members), "member", "members"),
                        r.topic
                    );
                }
                self.notice(None, now_ms, EntryKind::Notice(text));
                Vec::new()
            }
            (Then::Stats, Ok(Response::Stats(s))) => {
                let text = format!(
                    "server: {} online, {}, {}, {}, up {}",
                    text::count(u64::from(s.users_online), "user", "users"),
                    text::count(u64::from(s.sessions), "session", "sessions"),
                    text::count(u64::from(s.rooms), "room", "rooms"),
                    text::count(s.messages, "message", "messages"),
                    text::duration(s.uptime_secs)
                );
                self.notice(None, now_ms, EntryKind::Notice(text));
                Vec::new()
            }
            (Then::Report { room, ok }, Ok(_)) => {
                self.notice(Some(&room), now_ms, EntryKind::Notice(ok));
                Vec::new()
            }
            (Then::Quiet { .. }, Ok(_)) | (Then::Silent, _) => Vec::new(),
            (Then::Safety { room, op }, result) => self.on_safety_reply(&room, op, result, now_ms),
            (Then::Whois { room }, result) => self.on_whois_reply(&room, result, now_ms),
            (Then::Rich(pending), result) => self.on_rich_reply(pending, result, now_ms),
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

    /// A request the link took down with it (or that could not go out):
    /// what the next login fetches again is dropped quietly, since the
    /// outage already has its notice; what you asked for says it failed.
    pub fn on_lost(&mut self, then: Then, now_ms: i64) {
        match then {
            Then::History { room, .. } | Then::CatchUp { room } => {
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    r.loading_older = false;
                }
            }
            Then::Members { .. } | Then::Quiet { .. } | Then::Silent => {}
            // Asked again at the next login.
            Then::Readers {
                room,
                what: receipts::ReadersFor::Fill,
            } => {
                if let Some(r) = self.rooms.by_name_mut(&room) {
                    r.readers_asked = false;
                }
            }
            Then::Report { room, .. }
            | Then::Safety { room, .. }
            | Then::Whois { room }
            | Then::Sharing { room }
            | Then::Readers { room, .. } => self.notice(
                Some(&room),
                now_ms,
                EntryKind::Error("offline; try again once connected".into()),
            ),
            Then::Joined | Then::Directory | Then::Stats => {
                self.error(now_ms, "offline; try again once connected");
            }
            Then::Rich(pending) => self.on_rich_lost(pending, now_ms),
        }
    }

    /// A send's outcome: the server stored it (`Ok(id)`) or refused it.
    pub fn on_sent(&mut self, local: u64, result: Result<(MessageId, i64), String>) {
        if let Some(room) = self
            .rooms
            .iter_mut()
            .find(|r| r.entries.local_position(local).is_some())
        {
            room.entries.confirm(local, result);
        } else if let Err(why) = result {
            // A thread reply has no pending entry: its failure is said
            // in the thread, and in the room.
            let text = format!("✗ not sent: {why}");
            if let Overlay::Thread(t) = &mut self.overlay {
                t.error = Some(text.clone());
            }
            self.error(text::now_ms(), text);
        }
    }

    /// A send could not even be attempted (the link dropped first): queue it
    /// again for the next connection.
    pub fn requeue(&mut self, message: Outgoing) {
        self.composer.queue(message);
    }

    // ---- terminal input ---------------------------------------------------

    /// Text pasted into the terminal: inserted as-is, never sent.
    pub fn on_paste(&mut self, text: &str, now: Instant) -> Vec<Effect> {
        match &mut self.overlay {
            Overlay::Login(form) => {
                form.paste(text);
                return Vec::new();
            }
            Overlay::Thread(t) => {
                t.paste(text);
                return Vec::new();
            }
            Overlay::Search(s) => {
                s.query.push_str(&text.replace(['\r', '\n'], " "));
                return Vec::new();
            }
            _ => {}
        }
        if self.offer_paste(text) {
            return Vec::new();
        }
        self.composer.paste(text);
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
                    let row = usize::from(m.row - area.y - 1);
                    match self.pane_rows().get(row) {
                        Some(modes::PaneRow::Room(index)) => return self.switch_to(*index),
                        Some(modes::PaneRow::Header { key, .. }) => {
                            let key = key.clone();
                            self.toggle_fold(&key);
                            return vec![Effect::SavePrefs(self.settings.prefs.clone())];
                        }
                        None => {}
                    }
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// A key press: what the key map makes of it, handled by the overlay
    /// open or the main screen.
    pub fn on_key(&mut self, key: KeyEvent, now: Instant, now_ms: i64) -> Vec<Effect> {
        if self.confirm_quit {
            return self.answer_quit(key, now_ms);
        }
        let action = self
            .keys
            .action(self.overlay.context(), &key, self.composer.value());
        if action == Some(Action::Quit) {
            return self.ask_quit(now_ms);
        }
        if let Some(effects) = self.answer_split(&key, now_ms) {
            return effects;
        }
        if self.confirm_delete.is_some() {
            return self.answer_delete(key, now_ms);
        }
        if self.files.offered.is_some() {
            let yes = matches!(key.code, crossterm::event::KeyCode::Char('y' | 'Y'));
            return self.answer_offer(yes, now_ms);
        }
        match &mut self.overlay {
            Overlay::None if self.select.is_some() => self.on_select_key(key, now_ms),
            Overlay::None => self.on_main_key(key, action, now, now_ms),
            Overlay::React(_) => self.on_react_key(key, action, now_ms),
            Overlay::Thread(t) => match t.on_key(key, action) {
                overlay::thread::Outcome::Open => Vec::new(),
                overlay::thread::Outcome::Closed => {
                    self.overlay = Overlay::None;
                    Vec::new()
                }
                overlay::thread::Outcome::Send(text) => {
                    let (room, thread) = (t.room.clone(), t.root);
                    self.send_rich(&room, text, false, None, Some(thread), now_ms)
                }
            },
            Overlay::Search(s) => match s.on_key(key, action) {
                overlay::search::Outcome::Open => Vec::new(),
                overlay::search::Outcome::Closed => {
                    self.overlay = Overlay::None;
                    Vec::new()
                }
                overlay::search::Outcome::Run => self.run_search(false),
                overlay::search::Outcome::More => self.run_search(true),
                overlay::search::Outcome::Chosen => {
                    let Some((room, id)) =
                        s.chosen().map(|h| (h.message.room.clone(), h.message.id))
                    else {
                        return Vec::new();
                    };
                    self.overlay = Overlay::None;
                    self.jump_to(&room, id, now_ms)
                }
            },
            Overlay::Help(h) => {
                if h.on_key(action, self.size, self.features.as_deref()) {
                    self.overlay = Overlay::None;
                }
                Vec::new()
            }
            Overlay::Switcher(s) => match s.on_key(key, action) {
                switcher::Outcome::Open => Vec::new(),
                switcher::Outcome::Closed => {
                    self.overlay = Overlay::None;
                    Vec::new()
                }
                switcher::Outcome::Chosen => {
                    let choice = s.choice(&self.rooms, &self.user);
                    self.overlay = Overlay::None;
                    let Some(choice) = choice else {
                        return Vec::new();
                    };
                    if let Some(i) = self.rooms.index_of(&choice) {
                        return self.switch_to(i);
                    }
                    vec![Effect::Request {
                        req: Request::Join { room: choice },
                        then: Then::Joined,
                    }]
                }
            },
            Overlay::Login(form) => match form.on_key(key, action) {
                login::Outcome::Open => Vec::new(),
                login::Outcome::Submit {
                    server,
                    user,
                    password,
                } => {
                    self.server.clone_from(&server);
                    self.node.clone_from(&server);
                    self.user.clone_from(&user);
                    self.overlay = Overlay::None;
                    "typed password".clone_into(&mut self.credential_source);
                    self.login_by = LoginBy::TypedPassword;
                    vec![Effect::Login {
                        server,
                        user,
                        password,
                    }]
                }
            },
        }
    }

    /// A key on the main screen; `action` is what it is bound to, if
    /// anything. Unbound keys edit the input line.
    fn on_main_key(
        &mut self,
        key: KeyEvent,
        action: Option<Action>,
        now: Instant,
        now_ms: i64,
    ) -> Vec<Effect> {
        if action != Some(Action::Complete) {
            self.composer.end_completion();
        }
        let Some(action) = action else {
            if self.composer.edit(key) {
                return self.typing_effects(now);
            }
            return Vec::new();
        };
        match action {
            Action::Help => self.overlay = Overlay::Help(Help::default()),
            Action::ToggleRooms => self.show_rooms = Some(!self.rooms_pane()),
            Action::ToggleUsers => self.show_users = Some(!self.users_pane()),
            Action::NextRoom => return self.switch_by(1),
            Action::PrevRoom => return self.switch_by(-1),
            Action::Switcher => self.overlay = Overlay::Switcher(Switcher::default()),
            Action::Reconnect => {
                if matches!(self.conn, ConnState::Waiting { .. }) {
                    return vec![Effect::RetryNow];
                }
            }
            Action::Room(index) => {
                if index < self.rooms.len() {
                    return self.switch_to(index);
                }
            }
            Action::NewLine => self.composer.newline(),
            Action::Send => return self.submit(now_ms),
            Action::PageUp => return self.scroll_by(self.page_rows(), true),
            Action::PageDown => return self.scroll_by(self.page_rows(), false),
            Action::Oldest => return self.scroll_by(usize::MAX, true),
            Action::Newest => return self.scroll_to_bottom(),
            Action::FirstUnread => {
                if let Some(r) = self.rooms.current_mut() {
                    r.seeking = r.marker.is_some();
                    r.seek_pages = 0;
                }
                let mut effects = self.seek_first_unread();
                effects.extend(self.mark_read_if_viewing());
                return effects;
            }
            Action::RecallOlder => self.composer.recall_by(-1),
            Action::RecallNewer => self.composer.recall_by(1),
            Action::Complete => {
                self.composer
                    .complete(&self.rooms, &self.user, self.features.as_deref());
            }
            Action::Select => {
                if self.composer.value().is_empty() {
                    self.enter_select(now_ms);
                }
            }
            Action::Search => return self.open_search(None, now_ms),
            Action::ClearInput => {
                // Esc with nothing to clear stops the newest transfer.
                if self.compose.is_none()
                    && self.composer.value().is_empty()
                    && let Some(effects) = self.cancel_transfer()
                {
                    return effects;
                }
                self.compose = None;
                self.composer.clear();
                return self.typing_effects(now);
            }
            // Overlays' actions; Quit was handled before.
            Action::Quit
            | Action::Close
            | Action::Confirm
            | Action::Up
            | Action::Down
            | Action::NextField
            | Action::PrevField => {}
        }
        Vec::new()
    }

    /// Your messages the server has not stored yet: pending on screen or
    /// queued for the next connection.
    #[must_use]
    pub fn unsent(&self) -> usize {
        self.rooms
            .iter()
            .flat_map(|r| r.entries.iter())
            .filter(|e| {
                matches!(
                    e.kind,
                    EntryKind::Msg {
                        delivery: Delivery::Pending,
                        ..
                    }
                )
            })
            .count()
    }

    /// Ctrl+C or `/quit`: leaves at once, unless messages would be lost;
    /// then asks first.
    pub(crate) fn ask_quit(&mut self, now_ms: i64) -> Vec<Effect> {
        let unsent = self.unsent();
        if unsent == 0 {
            self.quit = true;
            return vec![Effect::Quit];
        }
        self.confirm_quit = true;
        let what = if unsent == 1 {
            "1 message not sent yet".to_owned()
        } else {
            format!("{unsent} messages not sent yet")
        };
        self.error(now_ms, format!("{what}: quit anyway? y/n"));
        Vec::new()
    }

    /// The key after "quit anyway?": `y` quits, anything else stays.
    fn answer_quit(&mut self, key: KeyEvent, now_ms: i64) -> Vec<Effect> {
        self.confirm_quit = false;
        if matches!(key.code, crossterm::event::KeyCode::Char('y' | 'Y'))
            && !key
                .modifiers
                .contains(crossterm::event::KeyModifiers::CONTROL)
        {
            self.quit = true;
            return vec![Effect::Quit];
        }
        self.notice(
            None,
            now_ms,
            EntryKind::Notice("not quitting: your messages go out once connected".into()),
        );
        Vec::new()
    }

    /// Shows the login screen (no credential source had anything).
    pub fn ask_login(&mut self, error: Option<String>) {
        self.overlay = Overlay::Login(LoginForm::new(&self.server, &self.user, error));
    }

    // ---- rooms and scrolling ----------------------------------------------

    /// The next (or previous) room the rooms pane shows: rooms of folded
    /// groups are passed over.
    fn switch_by(&mut self, delta: isize) -> Vec<Effect> {
        let step = delta.signum();
        let mut by = delta;
        for _ in 0..self.rooms.len() {
            match self.rooms.index_by(by) {
                Some(i) if self.room_shown(i) => return self.switch_to(i),
                Some(_) => by += step,
                None => break,
            }
        }
        Vec::new()
    }

    /// Shows another room.
    pub fn switch_to(&mut self, index: usize) -> Vec<Effect> {
        if index >= self.rooms.len() {
            return Vec::new();
        }
        let mut effects = self.composer.stop_typing(self.online());
        self.select = None;
        self.compose = None;
        self.rooms.select(index);
        self.composer.end_completion();
        effects.extend(self.open_current());
        effects.extend(self.seek_first_unread());
        effects.extend(self.mark_read_if_viewing());
        effects
    }

    /// Takes the room on screen to its first unread message when it was
    /// opened with some (or Alt+U asked): older pages come first until
    /// that message is loaded, then the view puts it at the top. Until
    /// then nothing is marked read: only what has been shown is.
    fn seek_first_unread(&mut self) -> Vec<Effect> {
        let height = usize::from(text::messages_area(self).height);
        let layout = text::Layout {
            width: text::messages_area(self).width as usize,
            utc_offset: self.settings.utc_offset,
            me: &self.user,
            blocked: self.safety.blocked(),
            thumbs: files::previews(&self.settings, &self.files),
        };
        let Some(room) = self.rooms.current_mut() else {
            return Vec::new();
        };
        if !room.seeking || !room.loaded {
            return Vec::new();
        }
        let Some(marker) = room.marker else {
            room.seeking = false;
            return Vec::new();
        };
        let reached = !room.has_older
            || room.seek_pages >= rooms::SEEK_PAGES
            || room.entries.oldest_id().is_some_and(|id| id <= marker);
        if !reached {
            if room.loading_older {
                return Vec::new();
            }
            room.loading_older = true;
            room.seek_pages += 1;
            return vec![rooms::history_page(&room.name, room.entries.oldest_id())];
        }
        room.seeking = false;
        if let Some(first) = layout.marker_index(room) {
            room.scroll = layout.position_at(room, first, height);
        }
        Vec::new()
    }

    fn page_rows(&self) -> usize {
        usize::from(text::messages_area(self).height.saturating_sub(1)).max(1)
    }

    fn scroll_to_bottom(&mut self) -> Vec<Effect> {
        if let Some(r) = self.rooms.current_mut() {
            r.scroll_to_bottom();
        }
        self.mark_read_if_viewing()
    }

    /// Scrolls the messages view by `rows`; reaching the top fetches the
    /// previous page.
    fn scroll_by(&mut self, rows: usize, up: bool) -> Vec<Effect> {
        let width = self.messages_width();
        let height = usize::from(text::messages_area(self).height);
        let layout = text::Layout {
            width,
            utc_offset: self.settings.utc_offset,
            me: &self.user,
            blocked: self.safety.blocked(),
            thumbs: files::previews(&self.settings, &self.files),
        };
        let Some(room) = self.rooms.current_mut() else {
            return Vec::new();
        };
        let mut effects: Vec<Effect> = room
            .scroll_by(&layout, rows, up, height)
            .into_iter()
            .collect();
        effects.extend(self.mark_read_if_viewing());
        effects
    }

    // ---- sending ----------------------------------------------------------

    /// Sends "typing" for the current room as the composer decides.
    fn typing_effects(&mut self, now: Instant) -> Vec<Effect> {
        // Invisible means no trace at all: not even "typing".
        if self.own_presence == PresenceState::Invisible {
            return Vec::new();
        }
        let online = self.online();
        let room = self.rooms.current().map(|r| r.name.as_str());
        self.composer.typing(room, online, now)
    }

    /// Enter: runs the line as a command, or sends it (`//` sends a line
    /// starting with `/`).
    fn submit(&mut self, now_ms: i64) -> Vec<Effect> {
        let Some(line) = self.composer.take_line() else {
            return Vec::new();
        };
        let mut effects = self.composer.stop_typing(self.online());
        if let Some(more) = self.submit_compose(&line, now_ms) {
            effects.extend(more);
            return effects;
        }
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
        if self.ask_split(&room, body, false, &line, now_ms) {
            return effects;
        }
        effects.extend(self.send_text(&room, body.to_owned(), false, now_ms));
        effects
    }

    /// Shows your message as pending in `room` and sends it, or holds it
    /// until the next login while offline.
    fn send_text(&mut self, room: &str, body: String, action: bool, now_ms: i64) -> Vec<Effect> {
        self.send_rich(room, body, action, None, None, now_ms)
    }

    /// [`App::send_text`] as a reply to `reply_to` or inside `thread`. A
    /// thread reply is not pending in the room's timeline (it does not
    /// belong there): the thread shows it when the server sends it back.
    pub(crate) fn send_rich(
        &mut self,
        room: &str,
        body: String,
        action: bool,
        reply_to: Option<MessageId>,
        thread: Option<MessageId>,
        now_ms: i64,
    ) -> Vec<Effect> {
        let local = self.composer.next_local();
        if thread.is_none()
            && let Some(r) = self.rooms.by_name_mut(room)
        {
            r.push_pending(local, now_ms, self.user.clone(), body.clone(), action);
            if let Some(parent) = reply_to {
                r.entries.set_pending_reply(local, parent);
            }
        }
        let message = Outgoing {
            local,
            room: room.to_owned(),
            body,
            action,
            reply_to,
            thread,
            files: Vec::new(),
        };
        if self.online() {
            vec![message.into_effect(&self.nonces)]
        } else {
            self.composer.queue(message);
            Vec::new()
        }
    }
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
#[cfg(test)]
mod tests_daily;
#[cfg(test)]
mod tests_modes;
#[cfg(test)]
mod tests_profile;
#[cfg(test)]
mod tests_receipts;
#[cfg(test)]
mod tests_rich;
