//! The hub: everything the server knows in memory, behind one
//! `std::sync::Mutex` (see [`crate::Shared`]).
//!
//! Rooms with their members, bans, read markers, unread counts and the ring
//! of newest messages; users with their sessions and presence; typing state.
//! Every method is synchronous and short: it changes state and queues frames
//! on outboxes, never waits for I/O, so the lock is never held across an
//! `.await`. Anything that must touch the store first (creating a room,
//! paging old history, logging in) does so in [`crate::ops`] before or
//! after taking the lock.
//!
//! # Layout
//! One `impl Hub` block per concern:
//! - `mod.rs` (here): the state itself, users and sessions, naming, stats.
//! - [`access`]: which room a name means for whom; the privacy rule (a
//!   room-scoped request from someone who may not see a private room fails
//!   exactly as for a room that does not exist) and roles.
//! - [`rooms`]: membership and moderation, and following the admin CLI.
//! - [`messages`]: checking a send and preparing it for the store.
//! - [`fanout`]: committed messages to every member, acknowledgements.
//! - [`history`]: the ring of newest messages and history pages.
//! - [`changes`]: edits, deletes and reactions applied to the ring and
//!   fanned out; who may change which message.
//! - [`unread`]: unread and mention counts, read markers.
//! - [`presence`]: per-session presence and what others see.
//! - [`typing`]: typing relays and their expiry.
//! - [`blocks`]: who blocks whom, and what a block holds back.
//! - [`profile`]: display names, and `whois`.
//! - [`consent`]: invitations checked, accepted, announced; reports to
//!   moderators.

mod access;
mod blocks;
mod changes;
pub mod consent;
mod fanout;
mod history;
mod messages;
mod presence;
mod profile;
mod receipts;

pub use changes::{MessageScope, no_such_message};
pub use presence::settable;
mod rooms;
mod typing;
mod unread;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use natter_shared::names::{self, Target};
use natter_shared::{
    ErrorCode, ErrorReply, Event, HistoryQuery, LeaveKind, Member, MessageId, PresenceChoice,
    PresenceState, Response, Rev, Role, RoomKind, RoomListing, RoomState, ServerFrame, SessionInfo,
    Stats,
};

use crate::config::Config;
use crate::front::{Outgoing, Protocol};
use crate::outbox::Outbox;
use crate::store::{
    Committed, MemberRow, NewMessage, Origin, RoomSnapshot, StoreChange, StoredMessage, UserRow,
};

/// The result of a request handled by the hub.
pub type Reply = Result<Response, ErrorReply>;

fn err(code: ErrorCode, message: impl Into<String>) -> ErrorReply {
    ErrorReply::new(code, message)
}

fn no_such_room(target: &str) -> ErrorReply {
    err(ErrorCode::NoSuchRoom, format!("no such room: {target}"))
}

/// The longest nonce a `Send` may carry: enough for a UUID or a counter
/// with a prefix, too short to smuggle a payload.
pub const MAX_NONCE_LEN: usize = 64;

/// Maps and sets keyed by ids the server assigns (users, rooms, sessions).
/// FxHash rather than SipHash: peers cannot choose these keys, so hash
/// flooding is moot, and a message fan-out looks up two of them per
/// recipient. Maps keyed by names that peers choose keep the default.
type IdMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;
type IdSet<K> = HashSet<K, rustc_hash::FxBuildHasher>;

/// A user's membership of a room.
#[derive(Debug, Clone)]
struct Membership {
    role: Role,
    last_read: MessageId,
    unread: u32,
    mentions: u32,
    /// In a direct conversation: this member's client received it up to
    /// here (see `receipts.rs`).
    delivered: MessageId,
}

impl Membership {
    /// A membership as stored, with its counts.
    fn of(m: &MemberRow, (unread, mentions): (u32, u32)) -> Self {
        Self {
            role: m.role,
            last_read: m.last_read,
            unread,
            mentions,
            delivered: m.delivered,
        }
    }
}

/// A room in memory.
#[derive(Debug)]
struct Room {
    id: i64,
    /// As stored: `general`, or `alice+bob` for a direct conversation.
    name: String,
    kind: RoomKind,
    topic: String,
    members: IdMap<i64, Membership>,
    bans: IdSet<i64>,
    /// The newest messages, oldest first, as they are now (edits, deletes,
    /// reactions and thread summaries applied: see `changes.rs`).
    ring: VecDeque<StoredMessage>,
    /// Every message with an id above this is in `ring`; 0 when the ring
    /// holds the room's whole history.
    floor: MessageId,
    last_id: MessageId,
    /// The highest revision of the room's messages applied here.
    last_rev: Rev,
    /// The two users of a direct conversation.
    direct: Option<(i64, i64)>,
    /// Only moderators post (`/mode +announce`).
    announce: bool,
    /// The group clients show it in.
    category: Option<String>,
    /// Messages committed here since the server started (`natterd top`'s
    /// busiest rooms).
    posted: u64,
}

/// A user known in memory.
#[derive(Debug)]
struct User {
    name: Arc<str>,
    admin: bool,
    sessions: Vec<u64>,
    rooms: IdSet<i64>,
    /// Shown beside `name` (see `profile.rs`).
    display_name: Option<Arc<str>>,
    /// When their last message was accepted, for `whois`'s idle time. In
    /// memory only: after a restart nobody has an idle time until they
    /// write.
    last_sent: Option<Instant>,
}

/// A logged-in connection.
#[derive(Debug)]
struct Session {
    user: i64,
    /// How this session's connection writes frames.
    protocol: Protocol,
    outbox: Arc<Outbox>,
    presence: PresenceState,
    status: Option<String>,
    /// Monotonic stamp of the last presence change, to pick whose status
    /// text shows when several sessions share the top state.
    stamp: u64,
    /// The hash of the token it logged in with or was issued (none after
    /// a password-only login): revoking that token ends it.
    token_hash: Option<Arc<str>>,
    /// The newest account event when its login checked the credential:
    /// only later ones end it (`end_sessions`), so a session that logged
    /// in with the new password is not ended by the change it came after.
    events_seen: i64,
}

/// Typing state of one user in one room.
#[derive(Debug)]
struct Typing {
    /// The last start relayed. Kept after a stop, so that start, stop,
    /// start cannot get around the throttle.
    last_relay: Instant,
    expires: Instant,
    /// Whether the room was last told "typing" (a stop is owed).
    shown: bool,
}

/// The presence the others were last told of a user, and when.
#[derive(Debug)]
struct Announced {
    state: (PresenceState, Option<String>),
    at: Instant,
    /// A change is waiting for the throttle interval to end.
    pending: bool,
}

/// Where the answer to a history request comes from.
#[derive(Debug)]
pub enum HistoryPlan {
    Ready(Response),
    /// A catch-up, a page around a message or a thread's page: always read
    /// from the store.
    Rich {
        room_id: i64,
        room: String,
        page: crate::store::rich::RichPage,
        limit: usize,
    },
    /// Read from the store: room id, room as named for the requester,
    /// before, after, limit.
    Disk {
        room_id: i64,
        room: String,
        before: Option<MessageId>,
        after: Option<MessageId>,
        limit: usize,
    },
}

/// What a send needs before it can be stored.
#[derive(Debug)]
pub enum SendPlan {
    Ready(NewMessage),
    /// A direct conversation with this user does not exist yet.
    NeedDirect(i64),
}

/// All in-memory state.
pub struct Hub {
    config: Arc<Config>,
    started: Instant,
    users: IdMap<i64, User>,
    user_ids: HashMap<Arc<str>, i64>,
    rooms: IdMap<i64, Room>,
    room_ids: HashMap<String, i64>,
    directs: IdMap<(i64, i64), i64>,
    sessions: IdMap<u64, Session>,
    typing: IdMap<(i64, i64), Typing>,
    /// Who each user blocks, and who blocks each user (see `blocks.rs`).
    blocking: IdMap<i64, IdSet<i64>>,
    blocked_by: IdMap<i64, IdSet<i64>>,
    /// Presence changes are announced at most once per
    /// `limits.presence_throttle_ms` per user; see `presence.rs`.
    announced: IdMap<i64, Announced>,
    messages_stored: u64,
    presence_stamp: u64,
    ring_cap: usize,
    /// The users who do not share read receipts (see `receipts.rs`).
    receipts_off: IdSet<i64>,
    /// The bot accounts (`natterd user add --bot`, webhooks' bots).
    bots: IdSet<i64>,
    /// The IRC guests connected now (`[irc] guests`).
    guests: IdSet<i64>,
    /// Each room's rate of room-wide attention
    /// (`limits.attention_per_room_per_hour`; see `messages.rs`).
    attention: IdMap<i64, crate::auth::TokenBucket>,
    /// The server's metrics: fan-out and deliveries are counted here.
    metrics: Arc<crate::metrics::Metrics>,
}

/// The hub's levels, for the metrics (see [`Hub::levels`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Levels {
    pub sessions: usize,
    pub users_online: usize,
    pub users_logged_in: usize,
    pub outbound_bytes: usize,
}

/// How many newest messages each room keeps in memory: never more than the
/// store retains, so memory and disk agree.
#[must_use]
pub fn ring_cap(config: &Config) -> usize {
    match config.history.retention {
        0 => config.history.in_memory,
        r => config
            .history
            .in_memory
            .min(usize::try_from(r).unwrap_or(usize::MAX)),
    }
}

fn direct_key(a: i64, b: i64) -> (i64, i64) {
    if a < b { (a, b) } else { (b, a) }
}

/// The stored name of a direct conversation: by user ids, so a deleted and
/// re-created account never inherits a conversation, and starting with `@`,
/// which no `#room` name can.
#[must_use]
pub fn direct_name(a: i64, b: i64) -> String {
    let (a, b) = direct_key(a, b);
    format!("@{a}+{b}")
}

/// An event for the fan-out, encoded per protocol when first needed. An
/// `Option` so that call sites read `if let Some(f) = event(..)`: none is
/// ever `None`.
#[allow(clippy::unnecessary_wraps)]
fn event(ev: Event) -> Option<Outgoing> {
    Some(Outgoing::new(ev))
}

fn rank(p: PresenceState) -> u8 {
    p.availability()
}

impl Hub {
    /// An empty hub; rooms are added with [`Hub::install_room`].
    #[must_use]
    pub fn new(
        config: Arc<Config>,
        messages_stored: u64,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let ring_cap = ring_cap(&config);
        Self {
            config,
            started: Instant::now(),
            users: IdMap::default(),
            user_ids: HashMap::new(),
            rooms: IdMap::default(),
            room_ids: HashMap::new(),
            directs: IdMap::default(),
            sessions: IdMap::default(),
            typing: IdMap::default(),
            announced: IdMap::default(),
            blocking: IdMap::default(),
            blocked_by: IdMap::default(),
            messages_stored,
            presence_stamp: 0,
            ring_cap,
            attention: IdMap::default(),
            receipts_off: IdSet::default(),
            bots: IdSet::default(),
            guests: IdSet::default(),
            metrics,
        }
    }

    /// Takes a reloaded configuration (the ring size stays: it only
    /// changes with a restart).
    pub fn set_config(&mut self, config: Arc<Config>) {
        self.config = config;
    }

    /// Makes a user known (or refreshes its admin flag).
    pub fn ensure_user(&mut self, id: i64, name: &str, admin: bool) {
        if let Some(u) = self.users.get_mut(&id) {
            u.admin = admin;
            return;
        }
        let name: Arc<str> = name.into();
        self.user_ids.insert(Arc::clone(&name), id);
        self.users.insert(
            id,
            User {
                name,
                admin,
                sessions: Vec::new(),
                rooms: IdSet::default(),
                display_name: None,
                last_sent: None,
            },
        );
    }

    /// The id of a user known in memory.
    #[must_use]
    pub fn user_id(&self, name: &str) -> Option<i64> {
        self.user_ids.get(name).copied()
    }

    /// Whether a room is loaded.
    #[must_use]
    pub fn has_room(&self, id: i64) -> bool {
        self.rooms.contains_key(&id)
    }

    /// The id of a loaded room by its stored name.
    #[must_use]
    pub fn room_id(&self, name: &str) -> Option<i64> {
        self.room_ids.get(name).copied()
    }

    /// Adds a room loaded from the store. A direct conversation that lost
    /// one of its two users (a deleted account) is left out.
    pub fn install_room(&mut self, snap: RoomSnapshot) {
        if snap.row.kind == RoomKind::Direct && snap.members.len() != 2 {
            return;
        }
        let RoomSnapshot {
            row,
            members,
            bans,
            recent,
            floor,
            far_counts,
            last_rev,
        } = snap;
        let mut room = Room {
            posted: 0,
            id: row.id,
            name: row.name.clone(),
            kind: row.kind,
            topic: row.topic,
            members: IdMap::default(),
            bans: bans.into_iter().collect(),
            last_id: recent.last().map_or(floor, |m| m.id),
            ring: recent.into(),
            floor,
            last_rev,
            direct: None,
            announce: row.announce,
            category: row.category,
        };
        for m in &members {
            self.ensure_user(m.user_id, &m.user_name, m.admin);
            let blocked = self.blocked_names(m.user_id);
            let counts = far_counts
                .get(&m.user_id)
                .copied()
                .unwrap_or_else(|| ring_counts(&room, m.last_read, &m.user_name, &blocked));
            room.members.insert(m.user_id, Membership::of(m, counts));
            if let Some(u) = self.users.get_mut(&m.user_id) {
                u.rooms.insert(room.id);
            }
        }
        if room.kind == RoomKind::Direct {
            let mut ids = members.iter().map(|m| m.user_id);
            if let (Some(a), Some(b)) = (ids.next(), ids.next()) {
                room.direct = Some(direct_key(a, b));
                self.directs.insert(direct_key(a, b), room.id);
            }
        }
        self.room_ids.insert(row.name, room.id);
        self.rooms.insert(room.id, room);
    }

    /// Adds a membership loaded from the store for a room already in memory
    /// (an account changed by the admin CLI while the server ran).
    pub fn merge_membership(&mut self, m: &MemberRow, counts: (u32, u32)) {
        self.ensure_user(m.user_id, &m.user_name, m.admin);
        let Some(room) = self.rooms.get_mut(&m.room_id) else {
            return;
        };
        if room.bans.contains(&m.user_id) {
            return;
        }
        room.members
            .entry(m.user_id)
            .or_insert_with(|| Membership::of(m, counts));
        if let Some(u) = self.users.get_mut(&m.user_id) {
            u.rooms.insert(m.room_id);
        }
    }

    /// Changes how a session's events are written (an IRC client enabled
    /// or disabled the capabilities that add tags).
    pub fn set_protocol(&mut self, session: u64, protocol: Protocol) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.protocol = protocol;
        }
    }

    /// Registers a logged-in session and returns what the client needs.
    #[allow(clippy::too_many_arguments)] // each is one part of a login
    pub fn add_session(
        &mut self,
        session: u64,
        user: &UserRow,
        protocol: Protocol,
        outbox: Arc<Outbox>,
        token: Option<String>,
        chosen: Option<PresenceChoice>,
        events_seen: i64,
    ) -> SessionInfo {
        self.ensure_user(user.id, &user.name, user.admin);
        let before = self.visible_presence(user.id);
        // A new session starts as the client asks (it is restoring its
        // choice after a reconnect), or else as the user's latest choice on
        // their other sessions: an invisible user logging in again stays
        // invisible.
        let (presence, status) = match chosen {
            Some(c) => (c.state, presence::clean_status(c.status)),
            None => self.latest_presence(user.id),
        };
        self.presence_stamp += 1;
        self.sessions.insert(
            session,
            Session {
                user: user.id,
                protocol,
                outbox,
                presence,
                status,
                stamp: self.presence_stamp,
                token_hash: None,
                events_seen,
            },
        );
        if let Some(u) = self.users.get_mut(&user.id) {
            u.sessions.push(session);
        }
        self.announce_presence_if_changed(user.id, &before);
        SessionInfo {
            user: user.name.clone(),
            admin: user.admin,
            token,
            rooms: self.room_states(user.id),
            blocked: Vec::new(),
            invitations: Vec::new(),
        }
    }

    /// Forgets a session (its connection ended).
    pub fn remove_session(&mut self, session: u64) {
        let Some(s) = self.sessions.get(&session) else {
            return;
        };
        let user = s.user;
        let before = self.visible_presence(user);
        self.sessions.remove(&session);
        let last = if let Some(u) = self.users.get_mut(&user) {
            u.sessions.retain(|s| *s != session);
            u.sessions.is_empty()
        } else {
            true
        };
        if last {
            let rooms: Vec<i64> = self
                .typing
                .keys()
                .filter(|(_, u)| *u == user)
                .map(|(r, _)| *r)
                .collect();
            for room in rooms {
                self.stop_typing(room, user);
            }
        }
        self.announce_presence_if_changed(user, &before);
    }

    /// The user id of a session.
    #[must_use]
    pub fn session_user(&self, session: u64) -> Option<i64> {
        self.sessions.get(&session).map(|s| s.user)
    }

    /// Tells every session the server is going down and closes them.
    pub fn close_all(&mut self, code: &ErrorCode, message: &str, reconnect_after_ms: Option<u64>) {
        for s in self.sessions.values() {
            s.outbox.close(code.clone(), message, reconnect_after_ms);
        }
    }

    /// Ends every session of `user` but `spare`, telling each why; returns
    /// how many. The sessions deregister themselves as they close. With
    /// `event`, the account event being followed, sessions whose login
    /// already saw it (they proved the new password, or logged in after
    /// the change some other way) are left alone.
    pub fn end_sessions(
        &mut self,
        user: i64,
        code: &ErrorCode,
        message: &str,
        spare: Option<u64>,
        event: Option<i64>,
    ) -> usize {
        let Some(u) = self.users.get(&user) else {
            return 0;
        };
        let mut ended = 0;
        for sid in &u.sessions {
            if Some(*sid) == spare {
                continue;
            }
            if let Some(s) = self.sessions.get(sid)
                && event.is_none_or(|e| s.events_seen < e)
            {
                s.outbox.close(code.clone(), message, None);
                ended += 1;
            }
        }
        ended
    }

    /// Remembers the token a session holds (see `Session::token_hash`).
    pub fn set_session_token(&mut self, session: u64, token_hash: Option<&str>) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.token_hash = token_hash.map(Arc::from);
        }
    }

    /// `user`'s sessions that hold a token, with its hash: a revocation
    /// checks which of them still hold a valid one.
    #[must_use]
    pub fn token_sessions(&self, user: i64) -> Vec<(u64, Arc<str>)> {
        let Some(u) = self.users.get(&user) else {
            return Vec::new();
        };
        u.sessions
            .iter()
            .filter_map(|sid| {
                let s = self.sessions.get(sid)?;
                Some((*sid, Arc::clone(s.token_hash.as_ref()?)))
            })
            .collect()
    }

    /// Ends one session, telling it why.
    pub fn end_session(&mut self, session: u64, code: &ErrorCode, message: &str) {
        if let Some(s) = self.sessions.get(&session) {
            s.outbox.close(code.clone(), message, None);
        }
    }

    /// Forgets a deleted account: it leaves every group room (members see
    /// it go) and its name no longer resolves, so a new account may take
    /// it. Its name stays known by id for the direct conversations it had.
    pub fn forget_user(&mut self, user: i64) {
        let rooms: Vec<i64> = self
            .users
            .get(&user)
            .map(|u| u.rooms.iter().copied().collect())
            .unwrap_or_default();
        for room in rooms {
            if self.rooms.get(&room).is_some_and(|r| r.direct.is_none()) {
                self.remove_member(
                    room,
                    user,
                    LeaveKind::Left,
                    None,
                    Some("account deleted".into()),
                );
            }
            if let Some(r) = self.rooms.get_mut(&room) {
                r.bans.remove(&user);
            }
        }
        if let Some(u) = self.users.get_mut(&user) {
            u.admin = false;
            u.display_name = None;
            let name = Arc::clone(&u.name);
            if self.user_ids.get(&name) == Some(&user) {
                self.user_ids.remove(&name);
            }
            // The store dropped their reactions with the account; so does
            // memory (clients see it on their next page).
            for room in self.rooms.values_mut() {
                for m in &mut room.ring {
                    if m.reactions.is_empty() {
                        continue;
                    }
                    for r in &mut m.reactions {
                        r.users.retain(|u| **u != *name);
                    }
                    m.reactions.retain(|r| !r.users.is_empty());
                }
            }
        }
    }

    /// A deleted account's name was freed for reuse: its messages in memory,
    /// and its side of old direct conversations, now show as
    /// [`crate::store::released_author`], as the store already does.
    pub fn release_name(&mut self, user: i64) {
        let Some(u) = self.users.get_mut(&user) else {
            return;
        };
        let old = Arc::clone(&u.name);
        // Released already (a name with a space is no account's): a
        // guest's end is applied once directly and once more from the
        // store's account events.
        if old.contains(' ') {
            return;
        }
        // A guest's name was freed as it left (see `store::guests`).
        let renamed: Arc<str> = Arc::from(if self.guests.remove(&user) {
            crate::store::guest_author(&old)
        } else {
            crate::store::released_author(&old)
        });
        u.name = Arc::clone(&renamed);
        for room in self.rooms.values_mut() {
            for m in &mut room.ring {
                if m.author == old {
                    m.author = Arc::clone(&renamed);
                }
                if let Some(s) = &mut m.replies
                    && *s.last_from == *old
                {
                    s.last_from = renamed.to_string();
                }
                for r in &mut m.reactions {
                    for u in &mut r.users {
                        if **u == *old {
                            *u = renamed.to_string();
                        }
                    }
                }
            }
        }
    }

    fn user_name(&self, id: i64) -> Arc<str> {
        self.users
            .get(&id)
            .map_or_else(|| Arc::from("?"), |u| Arc::clone(&u.name))
    }

    /// The room as `viewer` names it.
    fn display(&self, room: &Room, viewer: i64) -> String {
        match room.direct {
            Some((a, b)) => {
                let other = if a == viewer { b } else { a };
                format!("@{}", self.user_name(other))
            }
            None => format!("#{}", room.name),
        }
    }

    fn room_state(&self, room: &Room, viewer: i64) -> RoomState {
        let m = room.members.get(&viewer);
        RoomState {
            name: self.display(room, viewer),
            kind: room.kind,
            topic: room.topic.clone(),
            role: m.map_or(Role::Member, |m| m.role),
            unread: m.map_or(0, |m| m.unread),
            mentions: m.map_or(0, |m| m.mentions),
            last_read: m.map_or(0, |m| m.last_read),
            last_id: room.last_id,
            members: room.members.len() as u32,
            announce: room.announce,
            category: room.category.clone(),
        }
    }

    fn room_states(&self, user: i64) -> Vec<RoomState> {
        let mut out: Vec<RoomState> = self
            .users
            .get(&user)
            .map(|u| {
                u.rooms
                    .iter()
                    .filter_map(|r| self.rooms.get(r))
                    .map(|r| self.room_state(r, user))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// A user's name.
    #[must_use]
    pub fn user_name_of(&self, user: i64) -> String {
        self.user_name(user).to_string()
    }

    /// Server statistics.
    /// Marks accounts as bots.
    pub fn load_bots(&mut self, bots: impl IntoIterator<Item = i64>) {
        self.bots.extend(bots);
    }

    /// Marks an account as an IRC guest, for as long as it is connected.
    pub fn add_guest(&mut self, user: i64) {
        self.guests.insert(user);
    }

    /// Whether an account is an IRC guest.
    #[must_use]
    pub fn is_guest(&self, user: i64) -> bool {
        self.guests.contains(&user)
    }

    /// Whether the session is an IRC guest's.
    #[must_use]
    pub fn session_is_guest(&self, session: u64) -> bool {
        self.session_user(session).is_some_and(|u| self.is_guest(u))
    }

    /// Whether an account is a bot.
    #[must_use]
    pub fn is_bot(&self, user: i64) -> bool {
        self.bots.contains(&user)
    }

    /// Each named room's messages since the server started, for those
    /// that had any: `natterd top` ranks them by their growth.
    #[must_use]
    pub fn room_activity(&self) -> Vec<(String, u64)> {
        self.rooms
            .values()
            .filter(|r| r.direct.is_none() && r.posted > 0)
            .map(|r| (format!("#{}", r.name), r.posted))
            .collect()
    }

    /// What the metrics read when scraped: sessions, users online, and
    /// the bytes waiting in outbound queues.
    #[must_use]
    pub fn levels(&self) -> Levels {
        Levels {
            sessions: self.sessions.len(),
            users_online: self
                .users
                .keys()
                .filter(|u| self.visible_presence(**u).0 != PresenceState::Offline)
                .count(),
            users_logged_in: self
                .users
                .values()
                .filter(|u| !u.sessions.is_empty())
                .count(),
            outbound_bytes: self.sessions.values().map(|s| s.outbox.queued()).sum(),
        }
    }

    pub fn stats(&self, session: u64) -> Reply {
        self.logged_in(session)?;
        let users_online = self
            .users
            .keys()
            .filter(|u| self.visible_presence(**u).0 != PresenceState::Offline)
            .count() as u32;
        Ok(Response::Stats(Stats {
            users_online,
            sessions: self.sessions.len() as u32,
            rooms: self
                .rooms
                .values()
                .filter(|r| r.kind != RoomKind::Direct)
                .count() as u32,
            messages: self.messages_stored,
            uptime_secs: self.started.elapsed().as_secs(),
            // Filled in from the store by `ops::presence::stats`.
            blobs: 0,
            blob_bytes: 0,
        }))
    }
}

/// `user`'s unread and mention counts from the ring, after `last_read`,
/// not counting their own messages nor those of the authors in `blocked`.
fn ring_counts(room: &Room, last_read: MessageId, user: &str, blocked: &[Arc<str>]) -> (u32, u32) {
    let mut unread = 0;
    let mut mentions = 0;
    for m in room.ring.iter().rev().take_while(|m| m.id > last_read) {
        if &*m.author != user && !blocked.contains(&m.author) {
            unread += 1;
            if m.attention || names::mentions_user(&m.body, user) {
                mentions += 1;
            }
        }
    }
    (unread, mentions)
}

/// Building blocks for the hub's unit tests: a hub with rooms, users and
/// sessions whose outboxes the test reads.
#[cfg(test)]
pub(crate) mod testkit {
    use std::collections::HashMap;
    use std::sync::Arc;

    use natter_shared::{Event, MessageId, Role, RoomKind, ServerFrame};

    use super::Hub;
    use crate::config::Config;
    use crate::outbox::Outbox;
    use crate::store::{MemberRow, Origin, RoomRow, RoomSnapshot, StoredMessage, UserRow};

    pub const GENERAL: i64 = 1;

    /// A hub with default limits and a ring of `ring` messages per room.
    pub fn hub(ring: usize) -> Hub {
        let mut config = Config::default();
        config.history.in_memory = ring;
        Hub::new(Arc::new(config), 0, Arc::default())
    }

    pub fn user(id: i64, name: &str) -> UserRow {
        UserRow {
            id,
            name: name.into(),
            pw_hash: String::new(),
            admin: false,
            suspended: false,
        }
    }

    /// Installs room `id` named `name` with `members` (id, name, role),
    /// everything read.
    pub fn room(hub: &mut Hub, id: i64, name: &str, kind: RoomKind, members: &[(i64, &str, Role)]) {
        hub.install_room(RoomSnapshot {
            row: RoomRow {
                id,
                name: name.into(),
                kind,
                topic: String::new(),
                announce: false,
                category: None,
            },
            members: members
                .iter()
                .map(|(uid, uname, role)| MemberRow {
                    room_id: id,
                    user_id: *uid,
                    user_name: (*uname).into(),
                    admin: false,
                    role: *role,
                    last_read: 0,
                    delivered: 0,
                })
                .collect(),
            bans: Vec::new(),
            recent: Vec::new(),
            floor: 0,
            far_counts: HashMap::new(),
            last_rev: 0,
        });
    }

    /// `#general` with ann (1) and bob (2), the cast of most tests.
    pub fn ann_and_bob(hub: &mut Hub) {
        room(
            hub,
            GENERAL,
            "general",
            RoomKind::Public,
            &[(1, "ann", Role::Member), (2, "bob", Role::Member)],
        );
    }

    /// Logs `user` in as `session`; returns its outbox.
    pub fn login(hub: &mut Hub, session: u64, id: i64, name: &str) -> Arc<Outbox> {
        let outbox = Arc::new(Outbox::new(1 << 20));
        hub.add_session(
            session,
            &user(id, name),
            crate::front::Protocol::Natter,
            Arc::clone(&outbox),
            None,
            None,
            0,
        );
        outbox
    }

    /// A committed message.
    pub fn stored(id: MessageId, room: i64, author: &str, body: &str) -> StoredMessage {
        StoredMessage {
            id,
            room_id: room,
            author: author.into(),
            body: body.into(),
            action: false,
            ts: 1,
            rev: id,
            ..StoredMessage::default()
        }
    }

    /// Delivers one committed message, sent by `session` with `nonce`.
    pub fn deliver(hub: &mut Hub, msg: StoredMessage, session: u64, nonce: Option<&str>) {
        let origin = Origin {
            session,
            request: msg.id,
            nonce: nonce.map(Arc::from),
            received: std::time::Instant::now(),
        };
        hub.deliver(vec![(msg, Some(origin))]);
    }

    /// Every frame queued on `outbox` since the last call.
    pub fn frames(outbox: &Outbox) -> Vec<ServerFrame> {
        outbox
            .drain()
            .iter()
            .map(|b| natter_shared::decode_server(&b[4..]).expect("frames decode"))
            .collect()
    }

    /// The events among them.
    pub fn events(outbox: &Outbox) -> Vec<Event> {
        frames(outbox)
            .into_iter()
            .filter_map(|f| match f {
                ServerFrame::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }
}
