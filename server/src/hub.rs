//! The hub: everything the server knows in memory, behind one
//! `std::sync::Mutex` (see [`crate::Shared`]).
//!
//! Rooms with their members, bans, read markers, unread counts and the ring
//! of newest messages; users with their sessions and presence; typing state.
//! Every method is synchronous and short: it changes state and queues frames
//! on outboxes, never waits for I/O, so the lock is never held across an
//! `.await`. Anything that must touch the store first (creating a room,
//! paging old history, logging in) does so in `session.rs` before or after
//! taking the lock.
//!
//! Privacy rule: a room-scoped request from someone who may not see a
//! private room fails exactly as for a room that does not exist.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use natter_shared::names::{self, Target};
use natter_shared::{
    ErrorCode, ErrorReply, Event, HistoryQuery, LeaveKind, Member, MessageId, PresenceState,
    Response, Role, RoomKind, RoomListing, RoomState, ServerFrame, SessionInfo, Stats,
};

use crate::config::Config;
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
    /// The newest messages, oldest first.
    ring: VecDeque<StoredMessage>,
    /// Every message with an id above this is in `ring`; 0 when the ring
    /// holds the room's whole history.
    floor: MessageId,
    last_id: MessageId,
    /// The two users of a direct conversation.
    direct: Option<(i64, i64)>,
}

/// A user known in memory.
#[derive(Debug)]
struct User {
    name: Arc<str>,
    admin: bool,
    sessions: Vec<u64>,
    rooms: IdSet<i64>,
}

/// A logged-in connection.
#[derive(Debug)]
struct Session {
    user: i64,
    outbox: Arc<Outbox>,
    presence: PresenceState,
    status: Option<String>,
    /// Monotonic stamp of the last presence change, to pick whose status
    /// text shows when several sessions share the top state.
    stamp: u64,
}

/// Typing state of one user in one room.
#[derive(Debug)]
struct Typing {
    last_relay: Instant,
    expires: Instant,
}

/// Where the answer to a history request comes from.
#[derive(Debug)]
pub enum HistoryPlan {
    Ready(Response),
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
    messages_stored: u64,
    presence_stamp: u64,
    ring_cap: usize,
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

fn encode(frame: &ServerFrame) -> Option<Bytes> {
    match natter_shared::encode(frame) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode frame");
            None
        }
    }
}

fn event(ev: Event) -> Option<Bytes> {
    encode(&ServerFrame::Event(ev))
}

fn rank(p: PresenceState) -> u8 {
    p.availability()
}

impl Hub {
    /// An empty hub; rooms are added with [`Hub::install_room`].
    #[must_use]
    pub fn new(config: Arc<Config>, messages_stored: u64) -> Self {
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
            messages_stored,
            presence_stamp: 0,
            ring_cap,
        }
    }

    /// Takes a reloaded configuration (the ring size stays: it only
    /// changes with a restart).
    pub fn set_config(&mut self, config: Arc<Config>) {
        self.config = config;
    }

    // ---- users and rooms in memory ---------------------------------------

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
        } = snap;
        let mut room = Room {
            id: row.id,
            name: row.name.clone(),
            kind: row.kind,
            topic: row.topic,
            members: IdMap::default(),
            bans: bans.into_iter().collect(),
            last_id: recent.last().map_or(floor, |m| m.id),
            ring: recent.into(),
            floor,
            direct: None,
        };
        for m in &members {
            self.ensure_user(m.user_id, &m.user_name, m.admin);
            let (unread, mentions) = far_counts
                .get(&m.user_id)
                .copied()
                .unwrap_or_else(|| ring_counts(&room, m.last_read, &m.user_name));
            room.members.insert(
                m.user_id,
                Membership {
                    role: m.role,
                    last_read: m.last_read,
                    unread,
                    mentions,
                },
            );
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
        room.members.entry(m.user_id).or_insert(Membership {
            role: m.role,
            last_read: m.last_read,
            unread: counts.0,
            mentions: counts.1,
        });
        if let Some(u) = self.users.get_mut(&m.user_id) {
            u.rooms.insert(m.room_id);
        }
    }

    // ---- sessions ---------------------------------------------------------

    /// Registers a logged-in session and returns what the client needs.
    pub fn add_session(
        &mut self,
        session: u64,
        user: &UserRow,
        outbox: Arc<Outbox>,
        token: Option<String>,
    ) -> SessionInfo {
        self.ensure_user(user.id, &user.name, user.admin);
        let before = self.visible_presence(user.id);
        self.presence_stamp += 1;
        self.sessions.insert(
            session,
            Session {
                user: user.id,
                outbox,
                presence: PresenceState::Online,
                status: None,
                stamp: self.presence_stamp,
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
    /// how many. The sessions deregister themselves as they close.
    pub fn end_sessions(
        &mut self,
        user: i64,
        code: &ErrorCode,
        message: &str,
        spare: Option<u64>,
    ) -> usize {
        let Some(u) = self.users.get(&user) else {
            return 0;
        };
        let mut ended = 0;
        for sid in &u.sessions {
            if Some(*sid) == spare {
                continue;
            }
            if let Some(s) = self.sessions.get(sid) {
                s.outbox.close(code.clone(), message, None);
                ended += 1;
            }
        }
        ended
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
            let name = Arc::clone(&u.name);
            if self.user_ids.get(&name) == Some(&user) {
                self.user_ids.remove(&name);
            }
        }
    }

    // ---- fan-out helpers --------------------------------------------------

    fn send_user(&self, user: i64, frame: &Bytes) {
        if let Some(u) = self.users.get(&user) {
            for sid in &u.sessions {
                if let Some(s) = self.sessions.get(sid) {
                    s.outbox.push(frame.clone());
                }
            }
        }
    }

    fn send_room(&self, room: &Room, frame: &Bytes, except: Option<i64>) {
        for user in room.members.keys() {
            if Some(*user) != except {
                self.send_user(*user, frame);
            }
        }
    }

    fn send_session(&self, session: u64, frame: &ServerFrame) {
        if let Some(s) = self.sessions.get(&session) {
            s.outbox.send(frame);
        }
    }

    // ---- naming and access ------------------------------------------------

    fn user_name(&self, id: i64) -> Arc<str> {
        self.users
            .get(&id)
            .map_or_else(|| Arc::from("?"), |u| Arc::clone(&u.name))
    }

    /// Whether a user is a server admin.
    #[must_use]
    pub fn is_admin(&self, user: i64) -> bool {
        self.users.get(&user).is_some_and(|u| u.admin)
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

    /// Finds the room `target` names for `viewer`, if `viewer` may know it
    /// exists. `Ok(None)` is a direct conversation not yet started.
    fn find(&self, viewer: i64, target: &str) -> Result<Option<i64>, ErrorReply> {
        let parsed = Target::parse(target).map_err(|e| err(ErrorCode::Invalid, e.to_string()))?;
        match parsed {
            Target::Room(name) => {
                let Some(id) = self.room_ids.get(&name).copied() else {
                    return Err(no_such_room(target));
                };
                let room = &self.rooms[&id];
                let visible = room.kind == RoomKind::Public
                    || room.members.contains_key(&viewer)
                    || (room.kind == RoomKind::Private && self.is_admin(viewer));
                if room.kind == RoomKind::Direct || !visible {
                    return Err(no_such_room(target));
                }
                Ok(Some(id))
            }
            Target::Direct(name) => {
                let other = self.peer(viewer, &name)?;
                Ok(self.directs.get(&direct_key(viewer, other)).copied())
            }
        }
    }

    /// The other user of a direct conversation `viewer` names `@name`.
    fn peer(&self, viewer: i64, name: &str) -> Result<i64, ErrorReply> {
        let other = self
            .user_ids
            .get(name)
            .copied()
            .ok_or_else(|| err(ErrorCode::NoSuchUser, format!("no such user: {name}")))?;
        if other == viewer {
            return Err(err(ErrorCode::Invalid, "you cannot message yourself"));
        }
        Ok(other)
    }

    /// The room, which `viewer` must be a member of.
    fn member_room(&self, viewer: i64, target: &str) -> Result<&Room, ErrorReply> {
        let id = self
            .find(viewer, target)?
            .ok_or_else(|| no_such_room(target))?;
        let room = &self.rooms[&id];
        if room.members.contains_key(&viewer) {
            Ok(room)
        } else if room.kind == RoomKind::Public || self.is_admin(viewer) {
            Err(err(
                ErrorCode::NotMember,
                format!("you are not in {target}; join it first"),
            ))
        } else {
            Err(no_such_room(target))
        }
    }

    /// The other user of a `@user` target (for creating a conversation).
    pub fn direct_peer(&self, viewer: i64, target: &str) -> Result<Option<i64>, ErrorReply> {
        match Target::parse(target) {
            Ok(Target::Direct(name)) => self.peer(viewer, &name).map(Some),
            _ => Ok(None),
        }
    }

    /// For `Join @user`: the peer, when the conversation does not exist yet.
    pub fn direct_peer_id(&self, session: u64, target: &str) -> Result<Option<i64>, ErrorReply> {
        let user = self.logged_in(session)?;
        match self.direct_peer(user, target)? {
            Some(peer) if !self.directs.contains_key(&direct_key(user, peer)) => Ok(Some(peer)),
            _ => Ok(None),
        }
    }

    /// Whether a user is a member of a loaded room.
    #[must_use]
    pub fn is_member(&self, room: i64, user: i64) -> bool {
        self.rooms
            .get(&room)
            .is_some_and(|r| r.members.contains_key(&user))
    }

    /// A user's name.
    #[must_use]
    pub fn user_name_of(&self, user: i64) -> String {
        self.user_name(user).to_string()
    }

    /// Installs a newly created direct conversation and tells both users.
    pub fn add_direct(&mut self, room_id: i64, name: String, a: i64, b: i64) {
        if self.directs.contains_key(&direct_key(a, b)) {
            return;
        }
        let member = || Membership {
            role: Role::Member,
            last_read: 0,
            unread: 0,
            mentions: 0,
        };
        let room = Room {
            id: room_id,
            name: name.clone(),
            kind: RoomKind::Direct,
            topic: String::new(),
            members: [(a, member()), (b, member())].into_iter().collect(),
            bans: IdSet::default(),
            ring: VecDeque::new(),
            floor: 0,
            last_id: 0,
            direct: Some(direct_key(a, b)),
        };
        self.room_ids.insert(name, room_id);
        self.directs.insert(direct_key(a, b), room_id);
        for u in [a, b] {
            if let Some(user) = self.users.get_mut(&u) {
                user.rooms.insert(room_id);
            }
        }
        self.rooms.insert(room_id, room);
        for u in [a, b] {
            let state = self.room_state(&self.rooms[&room_id], u);
            if let Some(f) = event(Event::RoomAdded(state)) {
                self.send_user(u, &f);
            }
        }
    }

    /// Installs a newly created room with its owner.
    pub fn add_created_room(
        &mut self,
        room_id: i64,
        name: String,
        kind: RoomKind,
        owner: i64,
    ) -> RoomState {
        let room = Room {
            id: room_id,
            name: name.clone(),
            kind,
            topic: String::new(),
            members: [(
                owner,
                Membership {
                    role: Role::Owner,
                    last_read: 0,
                    unread: 0,
                    mentions: 0,
                },
            )]
            .into_iter()
            .collect(),
            bans: IdSet::default(),
            ring: VecDeque::new(),
            floor: 0,
            last_id: 0,
            direct: None,
        };
        self.room_ids.insert(name, room_id);
        if let Some(u) = self.users.get_mut(&owner) {
            u.rooms.insert(room_id);
        }
        self.rooms.insert(room_id, room);
        let state = self.room_state(&self.rooms[&room_id], owner);
        if let Some(f) = event(Event::RoomAdded(state.clone())) {
            self.send_user(owner, &f);
        }
        state
    }

    /// Checks that `room` may be created.
    pub fn check_create(&self, room: &str) -> Result<String, ErrorReply> {
        let name = match Target::parse(room) {
            Ok(Target::Room(name)) => name,
            Ok(Target::Direct(_)) => {
                return Err(err(ErrorCode::Invalid, "room names start with #, not @"));
            }
            Err(e) => return Err(err(ErrorCode::Invalid, e.to_string())),
        };
        if self.room_ids.contains_key(&name) {
            return Err(err(
                ErrorCode::AlreadyExists,
                format!("#{name} already exists"),
            ));
        }
        Ok(name)
    }

    // ---- messages ---------------------------------------------------------

    /// Validates a send and prepares the message for the store.
    pub fn plan_send(
        &mut self,
        session: u64,
        request: u64,
        target: &str,
        body: String,
        action: bool,
        nonce: Option<&str>,
    ) -> Result<SendPlan, ErrorReply> {
        let user = self.logged_in(session)?;
        if nonce.is_some_and(|n| n.len() > MAX_NONCE_LEN) {
            return Err(err(
                ErrorCode::Invalid,
                format!("a nonce is at most {MAX_NONCE_LEN} bytes"),
            ));
        }
        if body.trim().is_empty() {
            return Err(err(ErrorCode::Invalid, "empty messages are not sent"));
        }
        let max = self.config.limits.max_message_len;
        if body.len() > max {
            return Err(err(
                ErrorCode::TooLong,
                format!("message is {} bytes; the limit is {max}", body.len()),
            ));
        }
        let Some(room_id) = self.find(user, target)? else {
            let peer = self
                .direct_peer(user, target)?
                .ok_or_else(|| no_such_room(target))?;
            return Ok(SendPlan::NeedDirect(peer));
        };
        let room = self.member_room(user, target)?;
        debug_assert_eq!(room.id, room_id);
        self.stop_typing(room_id, user);
        Ok(SendPlan::Ready(NewMessage {
            room_id,
            author: self.user_name(user),
            body,
            action,
            ts: crate::store::now_ms(),
            origin: Some(Origin {
                session,
                request,
                nonce: nonce.map(Arc::from),
            }),
        }))
    }

    /// Delivers a committed batch: appends to rings, counts unread,
    /// acknowledges senders and fans out. Each message is encoded once (once
    /// per participant for a direct conversation, whose name differs).
    pub fn deliver(&mut self, batch: Committed) {
        let mut batch = batch.into_iter().peekable();
        while let Some(first) = batch.next() {
            let room_id = first.0.room_id;
            let mut run = vec![first];
            while let Some(next) = batch.next_if(|(m, _)| m.room_id == room_id) {
                run.push(next);
            }
            self.deliver_run(room_id, &run);
        }
    }

    /// Delivers consecutive committed messages of one room. A busy room
    /// commits many messages per group transaction, and fanning them out
    /// together costs one lookup and one queue lock per recipient for the
    /// whole run instead of one per message (the fan-out is natterd's hot
    /// path). Order holds: every recipient gets the run in id order, and on
    /// the sending connection each `Sent` still precedes its `Message`.
    ///
    /// A message sent with a nonce is encoded a second time, with the
    /// nonce, for the sender's own sessions only: everyone else shares the
    /// one frame without it.
    fn deliver_run(&mut self, room_id: i64, run: &[(StoredMessage, Option<Origin>)]) {
        self.messages_stored += run.len() as u64;
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let mut authors = Vec::with_capacity(run.len());
        for (msg, _) in run {
            room.last_id = room.last_id.max(msg.id);
            room.ring.push_back(msg.clone());
            while room.ring.len() > self.ring_cap {
                if let Some(old) = room.ring.pop_front() {
                    room.floor = old.id;
                }
            }
            let mentioned: Vec<String> = names::mentions(&msg.body).collect();
            let author_id = self.user_ids.get(&*msg.author).copied();
            for (uid, m) in &mut room.members {
                if Some(*uid) == author_id || msg.id <= m.last_read {
                    continue;
                }
                m.unread += 1;
                if !mentioned.is_empty()
                    && let Some(u) = self.users.get(uid)
                    && mentioned.iter().any(|n| **n == *u.name)
                {
                    m.mentions += 1;
                }
            }
            authors.push(author_id);
        }
        let room = &self.rooms[&room_id];
        for ((msg, origin), author) in run.iter().zip(&authors) {
            if let Some(origin) = origin
                && let Some(author) = author
            {
                self.send_session(
                    origin.session,
                    &ServerFrame::Ok {
                        id: origin.request,
                        res: Response::Sent {
                            room: self.display(room, *author),
                            id: msg.id,
                            ts: msg.ts,
                            nonce: origin.nonce.as_deref().map(str::to_owned),
                        },
                    },
                );
            }
        }
        let nonce_of = |(_, origin): &(StoredMessage, Option<Origin>)| {
            origin
                .as_ref()
                .and_then(|o| o.nonce.as_deref())
                .map(str::to_owned)
        };
        if let Some((a, b)) = room.direct {
            for (item, author) in run.iter().zip(&authors) {
                for viewer in [a, b] {
                    let mut wire = item.0.to_wire(self.display(room, viewer));
                    if *author == Some(viewer) {
                        wire.nonce = nonce_of(item);
                    }
                    if let Some(f) = event(Event::Message(wire)) {
                        self.send_user(viewer, &f);
                    }
                }
            }
        } else {
            let name = format!("#{}", room.name);
            let frames: Vec<Bytes> = run
                .iter()
                .filter_map(|(msg, _)| event(Event::Message(msg.to_wire(name.clone()))))
                .collect();
            // The senders' own copies, for messages sent with a nonce.
            let mut own: IdMap<i64, Vec<Bytes>> = IdMap::default();
            for (i, (item, author)) in run.iter().zip(&authors).enumerate() {
                if let (Some(nonce), Some(author)) = (nonce_of(item), author)
                    && i < frames.len()
                {
                    let mut wire = item.0.to_wire(name.clone());
                    wire.nonce = Some(nonce);
                    if let Some(f) = event(Event::Message(wire)) {
                        own.entry(*author).or_insert_with(|| frames.clone())[i] = f;
                    }
                }
            }
            for user in room.members.keys() {
                let frames = own.get(user).unwrap_or(&frames);
                if let Some(u) = self.users.get(user) {
                    for sid in &u.sessions {
                        if let Some(s) = self.sessions.get(sid) {
                            s.outbox.push_many(frames);
                        }
                    }
                }
            }
        }
    }

    /// Tells senders whose messages the store could not commit.
    pub fn fail_sends(&self, origins: &[Origin]) {
        for origin in origins {
            self.send_session(
                origin.session,
                &ServerFrame::Err {
                    id: origin.request,
                    err: err(
                        ErrorCode::Internal,
                        "the message could not be stored; send it again",
                    ),
                },
            );
        }
    }

    /// Answers a history request from memory when the ring covers it.
    pub fn plan_history(
        &self,
        session: u64,
        target: &str,
        q: HistoryQuery,
    ) -> Result<HistoryPlan, ErrorReply> {
        let user = self.logged_in(session)?;
        if q.before.is_some() && q.after.is_some() {
            return Err(err(ErrorCode::Invalid, "give before or after, not both"));
        }
        let max = self.config.history.max_page as usize;
        let limit = match q.limit as usize {
            0 => max,
            n => n.min(max),
        };
        if self.find(user, target)?.is_none() {
            // A direct conversation not started yet has no history.
            let room = Target::parse(target)
                .map(|t| t.display())
                .unwrap_or_default();
            return Ok(HistoryPlan::Ready(Response::Messages {
                room,
                messages: Vec::new(),
                more: false,
            }));
        }
        let room = self.member_room(user, target)?;
        let name = self.display(room, user);
        let wire = |m: &StoredMessage| m.to_wire(name.clone());
        if let Some(after) = q.after {
            if after >= room.floor {
                let newer: Vec<&StoredMessage> =
                    room.ring.iter().filter(|m| m.id > after).collect();
                let more = newer.len() > limit;
                let messages = newer.into_iter().take(limit).map(wire).collect();
                return Ok(HistoryPlan::Ready(Response::Messages {
                    room: name.clone(),
                    messages,
                    more,
                }));
            }
            return Ok(HistoryPlan::Disk {
                room_id: room.id,
                room: name.clone(),
                before: None,
                after: Some(after),
                limit,
            });
        }
        let before = q.before.unwrap_or(MessageId::MAX);
        let older: Vec<&StoredMessage> = room.ring.iter().filter(|m| m.id < before).collect();
        if older.len() >= limit || room.floor == 0 {
            let more = older.len() > limit || room.floor > 0;
            let skip = older.len().saturating_sub(limit);
            let messages = older.into_iter().skip(skip).map(wire).collect();
            return Ok(HistoryPlan::Ready(Response::Messages {
                room: name.clone(),
                messages,
                more,
            }));
        }
        Ok(HistoryPlan::Disk {
            room_id: room.id,
            room: name.clone(),
            before: q.before,
            after: None,
            limit,
        })
    }

    // ---- rooms ------------------------------------------------------------

    /// Handles the synchronous room-scoped and informational requests.
    pub fn rooms_reply(&self, session: u64) -> Reply {
        let user = self.logged_in(session)?;
        Ok(Response::Rooms(self.room_states(user)))
    }

    fn logged_in(&self, session: u64) -> Result<i64, ErrorReply> {
        self.session_user(session)
            .ok_or_else(|| err(ErrorCode::NotLoggedIn, "log in first"))
    }

    /// Public rooms.
    pub fn directory(&self, session: u64) -> Reply {
        self.logged_in(session)?;
        let mut list: Vec<RoomListing> = self
            .rooms
            .values()
            .filter(|r| r.kind == RoomKind::Public)
            .map(|r| RoomListing {
                name: format!("#{}", r.name),
                topic: r.topic.clone(),
                members: r.members.len() as u32,
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Response::Directory(list))
    }

    /// Joins a room (a no-op returning its state when already in it).
    pub fn join(
        &mut self,
        session: u64,
        target: &str,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let id = self
            .find(user, target)?
            .ok_or_else(|| no_such_room(target))?;
        let room = &self.rooms[&id];
        if room.members.contains_key(&user) {
            return Ok((Response::Room(self.room_state(room, user)), None));
        }
        if room.bans.contains(&user) {
            return Err(if room.kind == RoomKind::Public {
                err(ErrorCode::Banned, format!("you are banned from {target}"))
            } else {
                no_such_room(target)
            });
        }
        if room.kind != RoomKind::Public && !self.is_admin(user) {
            return Err(no_such_room(target));
        }
        let change = self.add_member(id, user, Role::Member);
        let state = self.room_state(&self.rooms[&id], user);
        Ok((Response::Room(state), Some(change)))
    }

    /// Adds a member, counting existing messages as read, and announces it.
    /// Returns the change to persist (the membership with its marker).
    fn add_member(&mut self, room_id: i64, user: i64, role: Role) -> StoreChange {
        let change = StoreChange::Join {
            room: room_id,
            user,
            role,
            last_read: self.rooms.get(&room_id).map_or(0, |r| r.last_id),
        };
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return change;
        };
        let last_id = room.last_id;
        room.members.insert(
            user,
            Membership {
                role,
                last_read: last_id,
                unread: 0,
                mentions: 0,
            },
        );
        if let Some(u) = self.users.get_mut(&user) {
            u.rooms.insert(room_id);
        }
        self.announce_join(room_id, user);
        change
    }

    /// Tells a new member the room is theirs, and the other members who
    /// came and how available they are.
    fn announce_join(&self, room_id: i64, user: i64) {
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };
        if let Some(f) = event(Event::RoomAdded(self.room_state(room, user))) {
            self.send_user(user, &f);
        }
        let joined = Event::Joined {
            room: format!("#{}", room.name),
            user: self.user_name(user).to_string(),
        };
        if let Some(f) = event(joined) {
            self.send_room(room, &f, Some(user));
        }
        // The members learn the newcomer's presence; the newcomer learns
        // theirs from the member list (`Members`), in one reply.
        let (state, status) = self.visible_presence(user);
        if state != PresenceState::Offline
            && let Some(f) = event(Event::Presence {
                user: self.user_name(user).to_string(),
                state,
                status,
            })
        {
            self.send_room(room, &f, Some(user));
        }
    }

    // ---- changes made outside the server (the admin CLI) -----------------

    /// Follows a membership that another process stored (an operator's
    /// invite, or a new account's `#general`): the member is added and
    /// announced as by a join. False when the room is not loaded (load it
    /// with [`Hub::add_loaded_room`]); a membership already known changes
    /// nothing.
    pub fn admit_member(&mut self, m: &MemberRow) -> bool {
        self.ensure_user(m.user_id, &m.user_name, m.admin);
        let Some(room) = self.rooms.get_mut(&m.room_id) else {
            return false;
        };
        if room.members.contains_key(&m.user_id) {
            return true;
        }
        room.bans.remove(&m.user_id);
        let (unread, mentions) = ring_counts(room, m.last_read, &m.user_name);
        room.members.insert(
            m.user_id,
            Membership {
                role: m.role,
                last_read: m.last_read,
                unread,
                mentions,
            },
        );
        if let Some(u) = self.users.get_mut(&m.user_id) {
            u.rooms.insert(m.room_id);
        }
        self.announce_join(m.room_id, m.user_id);
        true
    }

    /// Follows a room that another process created: it is installed, and
    /// each of its members (its owner, if it has one) sees it appear.
    pub fn add_loaded_room(&mut self, snap: RoomSnapshot) {
        let room_id = snap.row.id;
        if self.rooms.contains_key(&room_id) {
            return;
        }
        let members: Vec<i64> = snap.members.iter().map(|m| m.user_id).collect();
        self.install_room(snap);
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };
        for user in members {
            if let Some(f) = event(Event::RoomAdded(self.room_state(room, user))) {
                self.send_user(user, &f);
            }
        }
    }

    /// Removes a member and announces it.
    fn remove_member(
        &mut self,
        room_id: i64,
        user: i64,
        kind: LeaveKind,
        by: Option<i64>,
        reason: Option<String>,
    ) {
        self.stop_typing(room_id, user);
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        room.members.remove(&user);
        if let Some(u) = self.users.get_mut(&user) {
            u.rooms.remove(&room_id);
        }
        let room = &self.rooms[&room_id];
        let by = by.map(|b| self.user_name(b).to_string());
        let name = format!("#{}", room.name);
        if let Some(f) = event(Event::RoomRemoved {
            room: name.clone(),
            kind,
            by: by.clone(),
            reason: reason.clone(),
        }) {
            self.send_user(user, &f);
        }
        if let Some(f) = event(Event::Left {
            room: name,
            user: self.user_name(user).to_string(),
            kind,
            by,
            reason,
        }) {
            self.send_room(room, &f, None);
        }
    }

    /// Leaves a room.
    pub fn leave(
        &mut self,
        session: u64,
        target: &str,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let room = self.member_room(user, target)?;
        if room.kind == RoomKind::Direct {
            return Err(err(
                ErrorCode::Invalid,
                "a direct conversation cannot be left",
            ));
        }
        let id = room.id;
        self.remove_member(id, user, LeaveKind::Left, None, None);
        Ok((
            Response::Done,
            Some(StoreChange::Unmember { room: id, user }),
        ))
    }

    /// The acting user's authority in a room: their role, or `None` if they
    /// are an admin without membership. Fails if they may not moderate.
    fn moderator(&self, user: i64, target: &str) -> Result<(i64, Option<Role>), ErrorReply> {
        let id = self
            .find(user, target)?
            .ok_or_else(|| no_such_room(target))?;
        let room = &self.rooms[&id];
        if room.kind == RoomKind::Direct {
            return Err(err(
                ErrorCode::Invalid,
                "direct conversations have no moderation",
            ));
        }
        if self.is_admin(user) {
            return Ok((id, room.members.get(&user).map(|m| m.role)));
        }
        let room = self.member_room(user, target)?;
        let role = room.members[&user].role;
        if role < Role::Moderator {
            return Err(err(
                ErrorCode::Forbidden,
                format!("only moderators and owners of {target} can do that"),
            ));
        }
        Ok((id, Some(role)))
    }

    /// Whether `actor` outranks `target` in a room (admins outrank all).
    fn outranks(&self, room: i64, actor: i64, target: i64) -> bool {
        if self.is_admin(actor) {
            return true;
        }
        if self.is_admin(target) {
            return false;
        }
        let r = &self.rooms[&room];
        let a = r.members.get(&actor).map_or(Role::Member, |m| m.role);
        let t = r.members.get(&target).map_or(Role::Member, |m| m.role);
        a > t
    }

    /// Adds a user to a room.
    pub fn invite(
        &mut self,
        session: u64,
        target: &str,
        invitee: i64,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let id = self
            .find(user, target)?
            .ok_or_else(|| no_such_room(target))?;
        let room = &self.rooms[&id];
        match room.kind {
            RoomKind::Direct | RoomKind::Unknown => {
                return Err(err(ErrorCode::Invalid, "direct conversations are for two"));
            }
            RoomKind::Private => {
                self.moderator(user, target)?;
            }
            RoomKind::Public => {
                if !self.is_admin(user) {
                    self.member_room(user, target)?;
                }
            }
        }
        let room = &self.rooms[&id];
        let name = self.user_name(invitee);
        if room.bans.contains(&invitee) {
            return Err(err(
                ErrorCode::Banned,
                format!("{name} is banned from {target}; unban them first"),
            ));
        }
        if room.members.contains_key(&invitee) {
            return Ok((Response::Done, None));
        }
        let change = self.add_member(id, invitee, Role::Member);
        Ok((Response::Done, Some(change)))
    }

    /// Kicks or bans a user.
    pub fn remove(
        &mut self,
        session: u64,
        target: &str,
        victim: i64,
        ban: bool,
        reason: Option<String>,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let (id, _) = self.moderator(user, target)?;
        let name = self.user_name(victim);
        if victim == user {
            return Err(err(
                ErrorCode::Invalid,
                "you cannot do that to yourself; use leave",
            ));
        }
        if !self.outranks(id, user, victim) {
            return Err(err(
                ErrorCode::Forbidden,
                format!("{name} has a role at least as high as yours"),
            ));
        }
        let member = self.rooms[&id].members.contains_key(&victim);
        if !member && !ban {
            return Err(err(
                ErrorCode::Invalid,
                format!("{name} is not in {target}"),
            ));
        }
        let reason = reason.map(|r| r.chars().take(300).collect::<String>());
        if ban && let Some(room) = self.rooms.get_mut(&id) {
            room.bans.insert(victim);
        }
        if member {
            let kind = if ban {
                LeaveKind::Banned
            } else {
                LeaveKind::Kicked
            };
            self.remove_member(id, victim, kind, Some(user), reason);
        }
        Ok((
            Response::Done,
            Some(StoreChange::Remove {
                room: id,
                user: victim,
                ban,
            }),
        ))
    }

    /// Lifts a ban.
    pub fn unban(
        &mut self,
        session: u64,
        target: &str,
        victim: i64,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let (id, _) = self.moderator(user, target)?;
        let removed = self
            .rooms
            .get_mut(&id)
            .is_some_and(|r| r.bans.remove(&victim));
        if !removed {
            return Err(err(
                ErrorCode::Invalid,
                format!("{} is not banned from {target}", self.user_name(victim)),
            ));
        }
        Ok((
            Response::Done,
            Some(StoreChange::Unban {
                room: id,
                user: victim,
            }),
        ))
    }

    /// Changes a member's role (owners and admins).
    pub fn set_role(
        &mut self,
        session: u64,
        target: &str,
        member: i64,
        role: Role,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        if role == Role::Unknown {
            // What a role name this server does not know decodes as.
            return Err(err(ErrorCode::Invalid, "no such role"));
        }
        let (id, actor_role) = self.moderator(user, target)?;
        if !self.is_admin(user) && actor_role != Some(Role::Owner) {
            return Err(err(
                ErrorCode::Forbidden,
                format!("only owners of {target} can change roles"),
            ));
        }
        if member == user && !self.is_admin(user) {
            return Err(err(
                ErrorCode::Invalid,
                "you cannot change your own role; make someone else owner first",
            ));
        }
        let name = self.user_name(member);
        let room = self
            .rooms
            .get_mut(&id)
            .ok_or_else(|| no_such_room(target))?;
        let Some(m) = room.members.get_mut(&member) else {
            return Err(err(
                ErrorCode::Invalid,
                format!("{name} is not in {target}"),
            ));
        };
        m.role = role;
        let room = &self.rooms[&id];
        if let Some(f) = event(Event::Role {
            room: format!("#{}", room.name),
            user: name.to_string(),
            role,
        }) {
            self.send_room(room, &f, None);
        }
        Ok((
            Response::Done,
            Some(StoreChange::Member {
                room: id,
                user: member,
                role,
            }),
        ))
    }

    /// Sets the topic.
    pub fn topic(
        &mut self,
        session: u64,
        target: &str,
        topic: &str,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let (id, _) = self.moderator(user, target)?;
        if topic.len() > 500 {
            return Err(err(ErrorCode::TooLong, "topics are at most 500 bytes"));
        }
        let topic = topic.trim().to_owned();
        if let Some(room) = self.rooms.get_mut(&id) {
            room.topic.clone_from(&topic);
        }
        let room = &self.rooms[&id];
        if let Some(f) = event(Event::Topic {
            room: format!("#{}", room.name),
            topic: topic.clone(),
            by: self.user_name(user).to_string(),
        }) {
            self.send_room(room, &f, None);
        }
        Ok((Response::Done, Some(StoreChange::Topic { room: id, topic })))
    }

    /// A room's members, most available first.
    pub fn members(&self, session: u64, target: &str) -> Reply {
        let user = self.logged_in(session)?;
        let room = self.member_room(user, target)?;
        let mut members: Vec<Member> = room
            .members
            .iter()
            .map(|(uid, m)| {
                let (presence, status) = if *uid == user {
                    self.own_presence(user)
                } else {
                    self.visible_presence(*uid)
                };
                Member {
                    name: self.user_name(*uid).to_string(),
                    role: m.role,
                    presence,
                    status,
                }
            })
            .collect();
        members.sort_by(|a, b| {
            rank(b.presence)
                .cmp(&rank(a.presence))
                .then(b.role.cmp(&a.role))
                .then(a.name.cmp(&b.name))
        });
        Ok(Response::Members {
            room: self.display(room, user),
            members,
        })
    }

    /// Moves a read marker forward. Returns the new marker when it moved and
    /// its counts could not be computed in memory (the caller recounts from
    /// the store and calls [`Hub::set_counts`]).
    pub fn mark_read(
        &mut self,
        session: u64,
        target: &str,
        id: MessageId,
    ) -> Result<(Response, Option<StoreChange>, bool), ErrorReply> {
        let user = self.logged_in(session)?;
        let room = self.member_room(user, target)?;
        let room_id = room.id;
        let id = id.min(room.last_id);
        let name = self.user_name(user);
        let in_memory = (id >= room.floor).then(|| ring_counts(room, id, &name));
        let Some(m) = self
            .rooms
            .get_mut(&room_id)
            .and_then(|r| r.members.get_mut(&user))
        else {
            return Err(no_such_room(target));
        };
        if id <= m.last_read {
            return Ok((Response::Done, None, false));
        }
        m.last_read = id;
        if let Some((unread, mentions)) = in_memory {
            m.unread = unread;
            m.mentions = mentions;
        }
        let display = self.display(&self.rooms[&room_id], user);
        if let Some(f) = event(Event::Read { room: display, id }) {
            self.send_user(user, &f);
        }
        if in_memory.is_some() {
            self.announce_counts(room_id, user);
        }
        Ok((
            Response::Done,
            Some(StoreChange::Read {
                room: room_id,
                user,
                id,
            }),
            in_memory.is_none(),
        ))
    }

    /// A member's name and read marker, for a recount.
    #[must_use]
    pub fn marker_of(&self, room: i64, user: i64) -> Option<(String, MessageId)> {
        let m = self.rooms.get(&room)?.members.get(&user)?;
        Some((self.user_name(user).to_string(), m.last_read))
    }

    /// Sets counts computed from the store for `marker` and tells the
    /// user's sessions. False when the marker has moved since (the counts
    /// are stale and were not applied).
    pub fn set_counts(
        &mut self,
        room_id: i64,
        user: i64,
        marker: MessageId,
        counts: (u32, u32),
    ) -> bool {
        let Some(m) = self
            .rooms
            .get_mut(&room_id)
            .and_then(|r| r.members.get_mut(&user))
        else {
            return true;
        };
        if m.last_read != marker {
            return false;
        }
        m.unread = counts.0;
        m.mentions = counts.1;
        self.announce_counts(room_id, user);
        true
    }

    fn announce_counts(&self, room_id: i64, user: i64) {
        let room = &self.rooms[&room_id];
        if let Some(m) = room.members.get(&user)
            && let Some(f) = event(Event::Unread {
                room: self.display(room, user),
                unread: m.unread,
                mentions: m.mentions,
            })
        {
            self.send_user(user, &f);
        }
    }

    // ---- typing -----------------------------------------------------------

    /// Relays typing to the other members, at most one start per throttle
    /// interval; a start is remembered and expires on its own.
    pub fn typing(&mut self, session: u64, target: &str, active: bool) -> Reply {
        let user = self.logged_in(session)?;
        let room_id = self.member_room(user, target)?.id;
        let now = Instant::now();
        let throttle = Duration::from_millis(self.config.limits.typing_throttle_ms);
        let expiry = Duration::from_millis(self.config.limits.typing_expiry_ms);
        if active {
            if let Some(t) = self.typing.get_mut(&(room_id, user)) {
                t.expires = now + expiry;
                if now.duration_since(t.last_relay) < throttle {
                    return Ok(Response::Done);
                }
                t.last_relay = now;
            } else {
                self.typing.insert(
                    (room_id, user),
                    Typing {
                        last_relay: now,
                        expires: now + expiry,
                    },
                );
            }
            self.relay_typing(room_id, user, true);
        } else {
            self.stop_typing(room_id, user);
        }
        Ok(Response::Done)
    }

    fn stop_typing(&mut self, room_id: i64, user: i64) {
        if self.typing.remove(&(room_id, user)).is_some() {
            self.relay_typing(room_id, user, false);
        }
    }

    fn relay_typing(&self, room_id: i64, user: i64, active: bool) {
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };
        let name = self.user_name(user).to_string();
        match room.direct {
            Some((a, b)) => {
                let other = if a == user { b } else { a };
                if let Some(f) = event(Event::Typing {
                    room: self.display(room, other),
                    user: name,
                    active,
                }) {
                    self.send_user(other, &f);
                }
            }
            None => {
                if let Some(f) = event(Event::Typing {
                    room: format!("#{}", room.name),
                    user: name,
                    active,
                }) {
                    self.send_room(room, &f, Some(user));
                }
            }
        }
    }

    /// Expires typing starts that saw no news; returns how many.
    pub fn expire_typing(&mut self, now: Instant) -> usize {
        let expired: Vec<(i64, i64)> = self
            .typing
            .iter()
            .filter(|(_, t)| t.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        for (room, user) in &expired {
            self.stop_typing(*room, *user);
        }
        expired.len()
    }

    // ---- presence ---------------------------------------------------------

    /// What others see of a user: the most available state over their
    /// sessions; invisible and absent users are offline.
    fn visible_presence(&self, user: i64) -> (PresenceState, Option<String>) {
        let Some(u) = self.users.get(&user) else {
            return (PresenceState::Offline, None);
        };
        let best = u
            .sessions
            .iter()
            .filter_map(|s| self.sessions.get(s))
            .filter(|s| rank(s.presence) > 0)
            .max_by_key(|s| (rank(s.presence), s.stamp));
        match best {
            Some(s) => (s.presence, s.status.clone()),
            None => (PresenceState::Offline, None),
        }
    }

    /// Sets a session's presence.
    pub fn set_presence(
        &mut self,
        session: u64,
        state: PresenceState,
        status: Option<String>,
    ) -> Reply {
        let user = self.logged_in(session)?;
        if state == PresenceState::Unknown {
            return Err(err(ErrorCode::Invalid, "no such presence state"));
        }
        if state == PresenceState::Offline {
            return Err(err(
                ErrorCode::Invalid,
                "offline is not a state you can set; use invisible",
            ));
        }
        let before = self.visible_presence(user);
        self.presence_stamp += 1;
        let stamp = self.presence_stamp;
        if let Some(s) = self.sessions.get_mut(&session) {
            s.presence = state;
            s.status = status
                .map(|t| t.chars().take(200).collect::<String>())
                .filter(|t| !t.trim().is_empty());
            s.stamp = stamp;
        }
        self.announce_presence_if_changed(user, &before);
        // The user's own sessions always learn their own state, including
        // invisible, which others never see.
        let own = self.own_presence(user);
        if let Some(f) = event(Event::Presence {
            user: self.user_name(user).to_string(),
            state: own.0,
            status: own.1,
        }) {
            self.send_user(user, &f);
        }
        Ok(Response::Done)
    }

    fn own_presence(&self, user: i64) -> (PresenceState, Option<String>) {
        let visible = self.visible_presence(user);
        let has_sessions = self
            .users
            .get(&user)
            .is_some_and(|u| !u.sessions.is_empty());
        if visible.0 == PresenceState::Offline && has_sessions {
            (PresenceState::Invisible, None)
        } else {
            visible
        }
    }

    fn announce_presence_if_changed(&self, user: i64, before: &(PresenceState, Option<String>)) {
        let now = self.visible_presence(user);
        if now == *before {
            return;
        }
        let Some(f) = event(Event::Presence {
            user: self.user_name(user).to_string(),
            state: now.0,
            status: now.1,
        }) else {
            return;
        };
        let mut seen = IdSet::default();
        if let Some(u) = self.users.get(&user) {
            for r in &u.rooms {
                if let Some(room) = self.rooms.get(r) {
                    for m in room.members.keys() {
                        if *m != user && seen.insert(*m) {
                            self.send_user(*m, &f);
                        }
                    }
                }
            }
        }
    }

    // ---- stats ------------------------------------------------------------

    /// Server statistics.
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
        }))
    }
}

/// Unread and mention counts after `last_read`, from the ring.
fn ring_counts(room: &Room, last_read: MessageId, user: &str) -> (u32, u32) {
    let mut unread = 0;
    let mut mentions = 0;
    for m in room.ring.iter().rev().take_while(|m| m.id > last_read) {
        if &*m.author != user {
            unread += 1;
            if names::mentions_user(&m.body, user) {
                mentions += 1;
            }
        }
    }
    (unread, mentions)
}
