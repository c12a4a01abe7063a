//! The rooms list: which rooms you are in, in what order, which one is on
//! screen, and each one's counts, members, typing and view.
//!
//! [`Rooms`] keeps the order (rooms by name, then conversations) and the
//! current room together, so that adding, removing or re-listing rooms
//! never moves you to another room by accident. Each [`Room`] holds its
//! [`Timeline`] and where the view of it is scrolled to.

use std::collections::HashMap;
use std::ops::{Index, IndexMut};
use std::time::{Duration, Instant};

use natter_shared::{
    HistoryQuery, Member, Message, MessageId, PresenceState, Request, RoomKind, RoomState,
};

use super::text::Layout;
use super::timeline::{EntryKind, Nonces, Timeline};
use super::{Effect, Then};

/// How long someone's typing shows without news.
pub const TYPING_SHOWN: Duration = Duration::from_secs(6);
/// Messages fetched per history page.
pub const PAGE: u32 = 100;
/// Older pages fetched at most to reach the first unread message of a
/// room opened with many: past 1,000 the view opens at the oldest
/// loaded, still above the rest.
pub const SEEK_PAGES: u32 = 10;

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
    /// The newest message id the server knows of, loaded or not.
    pub last_id: MessageId,
    /// Messages and notices, indexed by message id.
    pub entries: Timeline,
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
    /// Opened with unread messages: the view goes to the first of them
    /// once it is loaded (older pages are fetched until it is), and
    /// nothing is marked read until then.
    pub seeking: bool,
    /// Older pages fetched while seeking, to bound the walk.
    pub seek_pages: u32,
    /// Speakers, most recent last (for nick completion).
    pub recent: Vec<String>,
    /// The highest revision seen here (pages, messages, events): where a
    /// `since` catch-up starts after a reconnect. 0: none seen.
    pub rev: natter_shared::Rev,
    /// Your role here (who may delete others' messages).
    pub role: natter_shared::Role,
    /// Only moderators post (`/mode +announce`).
    pub announce: bool,
    /// The group of the rooms pane it is in (`/category`).
    pub category: Option<String>,
    /// The others' read markers you may see, by name (`receipts.rs`).
    pub readers: HashMap<String, MessageId>,
    /// A direct conversation: the other person's client received it up to
    /// here.
    pub delivered: MessageId,
    /// `Readers` was asked on this connection.
    pub readers_asked: bool,
    /// The server answered it: receipts are drawn.
    pub receipts_shown: bool,
    /// The newest thread reply seen live: replies stay out of the
    /// timeline, but the server counts them unread in the room, so viewing
    /// the room at its bottom (where their roots' summaries show) reads
    /// them too.
    pub thread_newest: MessageId,
}

impl Room {
    /// A room the server listed, nothing loaded yet.
    #[must_use]
    pub fn new(state: &RoomState) -> Self {
        Self {
            name: state.name.clone(),
            kind: state.kind,
            topic: state.topic.clone(),
            unread: state.unread,
            mentions: state.mentions,
            last_read: state.last_read,
            last_id: state.last_id,
            entries: Timeline::default(),
            members: Vec::new(),
            members_loaded: false,
            typing: HashMap::new(),
            scroll: None,
            new_below: 0,
            loading_older: false,
            has_older: state.last_id > 0,
            loaded: false,
            marker: None,
            seeking: false,
            seek_pages: 0,
            recent: Vec::new(),
            rev: 0,
            role: state.role,
            thread_newest: 0,
            announce: state.announce,
            category: state.category.clone(),
            readers: HashMap::new(),
            delivered: 0,
            readers_asked: false,
            receipts_shown: false,
        }
    }

    fn note_speaker(&mut self, who: &str) {
        self.recent.retain(|n| n != who);
        self.recent.push(who.to_owned());
        if self.recent.len() > 50 {
            self.recent.remove(0);
        }
    }

    /// Adds a message from the server; false if already there (or it
    /// confirmed your pending entry). A scrolled-up view stays still. A
    /// `hidden` one (its author is blocked) is kept but neither counts as
    /// new below nor makes its author a recent speaker. A `live` one came
    /// as an event, not in a page (see [`Timeline::insert`]).
    pub(crate) fn insert_message(
        &mut self,
        m: &Message,
        me: &str,
        nonces: &Nonces,
        hidden: bool,
        live: bool,
    ) -> bool {
        self.rev = self.rev.max(m.rev);
        if let Some(root) = m.thread {
            // A reply in a thread belongs to the thread's page, not the
            // room's: only the root's summary shows it. A page's root
            // comes with its summary as it is; a live reply counts.
            if live {
                self.entries.count_reply(root, m);
                self.thread_newest = self.thread_newest.max(m.id);
            }
            return false;
        }
        self.last_id = self.last_id.max(m.id);
        let Some(pos) = self.entries.insert(m, me, nonces, live) else {
            return false;
        };
        if !hidden {
            self.note_speaker(&m.from);
            if self.scroll.is_some() && pos + 1 >= self.entries.len() {
                self.new_below += 1;
            }
        }
        if let Some(s) = &mut self.scroll {
            // The anchor counts from the newest: keep the view still.
            if self.entries.len() - pos <= s.anchor + 1 {
                s.anchor += 1;
            }
        }
        true
    }

    /// A notice or error at the newest end; a scrolled-up view stays still.
    pub(crate) fn push_local(&mut self, ts: i64, kind: EntryKind) {
        self.entries.push_local(ts, kind);
        if let Some(s) = &mut self.scroll {
            s.anchor += 1;
        }
    }

    /// Your message `local`, just written: the view returns to the bottom.
    pub(crate) fn push_pending(
        &mut self,
        local: u64,
        ts: i64,
        from: String,
        body: String,
        action: bool,
    ) {
        self.entries.push_pending(local, ts, from, body, action);
        self.scroll = None;
        self.new_below = 0;
    }

    /// Opened (switched to, or on screen at login): notes the "new" line
    /// and fetches the first page and the members if not yet. Offline, the
    /// first page waits: the next login opens the room again.
    pub(crate) fn open(&mut self, online: bool) -> Vec<Effect> {
        // The "new" line goes above the first unread message, if any, and
        // the view opens there.
        self.marker = (self.unread > 0).then_some(self.last_read);
        self.seeking = self.unread > 0;
        self.seek_pages = 0;
        if self.scroll.is_none() {
            self.new_below = 0;
        }
        let mut effects = Vec::new();
        if online && !self.loaded && !self.loading_older {
            self.loading_older = true;
            effects.push(history_page(&self.name, None));
        }
        if online && !self.members_loaded {
            effects.push(members(&self.name));
        }
        effects
    }

    /// Moves the read marker up to `shown`, the newest message the view
    /// has shown, if that is news; the request tells the server, whose
    /// `Unread` answer has the exact counts.
    pub(crate) fn mark_read(&mut self, shown: MessageId) -> Option<Effect> {
        if self.seeking || shown <= self.last_read {
            return None;
        }
        self.last_read = shown;
        let left = self
            .entries
            .iter()
            .filter(|e| e.id.is_some_and(|id| id > shown) && e.local.is_none())
            .count();
        self.unread = self.unread.min(u32::try_from(left).unwrap_or(u32::MAX));
        if self.unread == 0 {
            self.mentions = 0;
        }
        Some(Effect::Request {
            req: Request::MarkRead {
                room: self.name.clone(),
                id: shown,
            },
            then: Then::Quiet {
                room: self.name.clone(),
            },
        })
    }

    /// Scrolls the view by `rows` in a pane `height` rows high; reaching
    /// the top of what is loaded fetches the previous page.
    pub(crate) fn scroll_by(
        &mut self,
        layout: &Layout<'_>,
        rows: usize,
        up: bool,
        height: usize,
    ) -> Option<Effect> {
        // Scrolling by hand ends a walk to the first unread.
        self.seeking = false;
        let (scroll, at_top) = layout.scroll(self, rows, up, height);
        self.scroll = scroll;
        if scroll.is_none() {
            self.new_below = 0;
        }
        if at_top && self.has_older && !self.loading_older {
            self.loading_older = true;
            return Some(history_page(&self.name, self.entries.oldest_id()));
        }
        None
    }

    /// Back to following the newest message.
    pub(crate) fn scroll_to_bottom(&mut self) {
        self.seeking = false;
        self.scroll = None;
        self.new_below = 0;
    }

    /// Someone else started or stopped typing here.
    pub(crate) fn set_typing(&mut self, user: String, active: bool, now: Instant) {
        if active {
            self.typing.insert(user, now + TYPING_SHOWN);
        } else {
            self.typing.remove(&user);
        }
    }

    /// Forgets typing that has not been renewed; returns when the next one
    /// here expires.
    pub(crate) fn expire_typing(&mut self, now: Instant) -> Option<Instant> {
        self.typing.retain(|_, until| *until > now);
        self.typing.values().min().copied()
    }

    /// Who is typing, as the typing line says it.
    #[must_use]
    pub fn typing_line(&self) -> Option<String> {
        let mut names: Vec<&str> = self.typing.keys().map(String::as_str).collect();
        names.sort_unstable();
        match names.as_slice() {
            [] => None,
            [a] => Some(format!("{a} is typing...")),
            [a, b] => Some(format!("{a} and {b} are typing...")),
            _ => Some("several people are typing...".to_owned()),
        }
    }

    /// The server's member list; most available first.
    pub(crate) fn set_members(&mut self, mut members: Vec<Member>) {
        sort_members(&mut members);
        self.members = members;
        self.members_loaded = true;
    }

    /// Someone's presence changed (a no-op if they are not a member).
    pub(crate) fn set_presence(&mut self, user: &str, state: PresenceState, status: Option<&str>) {
        if let Some(m) = self.members.iter_mut().find(|m| m.name == user) {
            m.presence = state;
            m.status = status.map(str::to_owned);
        }
        sort_members(&mut self.members);
    }
}

/// The rooms you are in, in the order the rooms pane shows them, and the
/// one on screen.
#[derive(Debug, Clone, Default)]
pub struct Rooms {
    list: Vec<Room>,
    /// Always a valid index while `list` is not empty.
    current: usize,
}

impl Index<usize> for Rooms {
    type Output = Room;

    fn index(&self, i: usize) -> &Room {
        &self.list[i]
    }
}

impl IndexMut<usize> for Rooms {
    fn index_mut(&mut self, i: usize) -> &mut Room {
        &mut self.list[i]
    }
}

impl<'a> IntoIterator for &'a Rooms {
    type Item = &'a Room;
    type IntoIter = std::slice::Iter<'a, Room>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl<'a> IntoIterator for &'a mut Rooms {
    type Item = &'a mut Room;
    type IntoIter = std::slice::IterMut<'a, Room>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter_mut()
    }
}

impl Rooms {
    /// The room on screen.
    #[must_use]
    pub fn current(&self) -> Option<&Room> {
        self.list.get(self.current)
    }

    /// The room on screen, to change.
    pub fn current_mut(&mut self) -> Option<&mut Room> {
        self.list.get_mut(self.current)
    }

    /// The position of the room on screen in the rooms pane.
    #[must_use]
    pub fn current_index(&self) -> usize {
        self.current
    }

    /// The room at `index` in the rooms pane.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<&Room> {
        self.list.get(index)
    }

    /// The room called `name` (`#room` or `@user`).
    #[must_use]
    pub fn by_name(&self, name: &str) -> Option<&Room> {
        self.list.iter().find(|r| r.name == name)
    }

    /// The room called `name`, to change.
    pub fn by_name_mut(&mut self, name: &str) -> Option<&mut Room> {
        self.list.iter_mut().find(|r| r.name == name)
    }

    /// Where the room called `name` is in the rooms pane.
    #[must_use]
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|r| r.name == name)
    }

    /// In the rooms pane's order.
    pub fn iter(&self) -> std::slice::Iter<'_, Room> {
        self.list.iter()
    }

    /// In the rooms pane's order, to change.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Room> {
        self.list.iter_mut()
    }

    /// How many rooms you are in.
    #[must_use]
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// In no room at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Unread messages in all rooms.
    #[must_use]
    pub fn total_unread(&self) -> u32 {
        self.list.iter().map(|r| r.unread).sum()
    }

    /// Adds a room not listed yet, in its place in the order.
    pub(crate) fn add(&mut self, state: &RoomState) {
        if self.index_of(&state.name).is_none() {
            self.list.push(Room::new(state));
            self.sort();
        }
    }

    /// Removes a room; the view moves to the room before it if it was on
    /// screen or above. False if not listed.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        let Some(i) = self.index_of(name) else {
            return false;
        };
        self.list.remove(i);
        if self.current >= i && self.current > 0 {
            self.current -= 1;
        }
        true
    }

    /// Puts room `index` on screen; false if there is no such room.
    pub(crate) fn select(&mut self, index: usize) -> bool {
        if index >= self.list.len() {
            return false;
        }
        self.current = index;
        true
    }

    /// The room `delta` places from the current one, wrapping around.
    #[must_use]
    pub(crate) fn index_by(&self, delta: isize) -> Option<usize> {
        if self.list.is_empty() {
            return None;
        }
        let len = self.list.len();
        let step = delta.unsigned_abs() % len;
        Some(if delta < 0 {
            (self.current + len - step) % len
        } else {
            (self.current + step) % len
        })
    }

    /// Takes the server's list at login (first time or after a reconnect):
    /// updates the rooms known, adds new ones, drops the ones no longer
    /// listed (kicked while away) and keeps the room on screen if it is
    /// still there. Returns the catch-up fetches for rooms that missed
    /// messages.
    pub(crate) fn merge(&mut self, states: &[RoomState]) -> Vec<Effect> {
        let mut effects = Vec::new();
        for state in states {
            if let Some(room) = self.by_name_mut(&state.name) {
                room.topic.clone_from(&state.topic);
                room.unread = state.unread;
                room.mentions = state.mentions;
                room.last_read = state.last_read;
                room.last_id = state.last_id;
                room.role = state.role;
                room.announce = state.announce;
                room.category.clone_from(&state.category);
                // Any room holding messages (opened or not), or loaded while
                // still empty, fetches what came after its newest, so no
                // gap opens.
                let newest = room.entries.newest();
                if (newest > 0 || room.loaded) && state.last_id > newest {
                    effects.push(catch_up(&room.name, newest));
                }
            } else {
                self.list.push(Room::new(state));
            }
        }
        // The room on screen stays on screen if it is still there.
        let current = self.current().map(|r| r.name.clone());
        self.list
            .retain(|r| states.iter().any(|s| s.name == r.name));
        if let Some(i) = current.and_then(|name| self.index_of(&name)) {
            self.current = i;
        }
        self.sort();
        if self.current().is_none() {
            self.current = 0;
        }
        if let Some(general) = self.index_of("#general")
            && !self.list.get(self.current).is_some_and(|r| r.loaded)
            && self.list.iter().all(|r| !r.loaded)
        {
            self.current = general;
        }
        // Presence may have changed while away: members are fetched again
        // as rooms are opened.
        for room in &mut self.list {
            room.members_loaded = false;
            room.readers_asked = false;
        }
        effects
    }

    /// Rooms by name (those without a category first, then each category
    /// in turn, by name), then conversations; the current room stays
    /// current.
    pub(crate) fn sort(&mut self) {
        let current = self.current().map(|r| r.name.clone());
        self.list.sort_by_cached_key(|r| {
            (
                r.kind == RoomKind::Direct,
                r.category.as_ref().map(|c| c.to_lowercase()),
                r.name.clone(),
            )
        });
        if let Some(name) = current
            && let Some(i) = self.index_of(&name)
        {
            self.current = i;
        }
        self.current = self.current.min(self.list.len().saturating_sub(1));
    }
}

/// A direct conversation not listed yet (opened by your first message,
/// or back after `/close`), its newest message `last_id`.
pub(crate) fn direct_state(name: &str, last_id: MessageId) -> RoomState {
    RoomState {
        name: name.to_owned(),
        kind: RoomKind::Direct,
        topic: String::new(),
        role: natter_shared::Role::Member,
        unread: 0,
        mentions: 0,
        last_read: last_id,
        last_id,
        members: 2,
        announce: false,
        category: None,
    }
}

/// Fetches `room`'s members.
pub(crate) fn members(room: &str) -> Effect {
    Effect::Request {
        req: Request::Members {
            room: room.to_owned(),
        },
        then: Then::Members {
            room: room.to_owned(),
        },
    }
}

/// Fetches the page of `room`'s history before `before` (the newest page
/// without it).
pub(crate) fn history_page(room: &str, before: Option<MessageId>) -> Effect {
    Effect::Request {
        req: Request::History {
            room: room.to_owned(),
            query: HistoryQuery {
                before,
                after: None,
                limit: PAGE,
                ..Default::default()
            },
        },
        then: Then::History {
            room: room.to_owned(),
            older: true,
        },
    }
}

/// Fetches what `room` received after message `after`.
pub(crate) fn catch_up(room: &str, after: MessageId) -> Effect {
    Effect::Request {
        req: Request::History {
            room: room.to_owned(),
            query: HistoryQuery {
                before: None,
                after: Some(after),
                limit: PAGE,
                ..Default::default()
            },
        },
        then: Then::CatchUp {
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
