//! One room's timeline: its messages in order, each found by id, the
//! notices written locally between them, and your own messages waiting
//! for the server.
//!
//! Messages do not arrive in order: pages of older history land at the
//! front, catch-up pages and live messages at the back, a send's reply
//! races its echo, and another session's message can come in between. So
//! a message's position changes as others arrive, and [`Timeline`] keeps
//! an index from [`MessageId`] to position true through every insertion:
//! an edit, a delete or a reaction finds its message without a scan.
//!
//! Your own messages are told from other sessions' by [`Nonces`]: each
//! send carries one, the server echoes it on the message, and only this
//! client's nonces confirm its pending entries.

use std::collections::{HashMap, VecDeque};
use std::ops::Index;

use natter_shared::{Message, MessageId, Reaction, Rev, ThreadSummary};

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
    /// A fresh, random prefix: one per client process.
    pub(crate) fn new() -> Self {
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
    /// Only in laid-out rows (never held): a stored message of a direct
    /// conversation, as the receipts show it.
    Receipt(Mark),
}

/// How far your message in a direct conversation got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Stored by the server: ✓.
    Sent,
    /// The other person's client received it: ✓✓.
    Delivered,
    /// They have read it: `seen`.
    Seen,
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
    /// The server's message of the day: shown once, dimmed.
    Motd(String),
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
    /// What a message carries beyond its text (replies, edits, reactions);
    /// empty for notices.
    pub rich: Rich,
}

/// A message's state beyond its text, as the server last told it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rich {
    /// The message this one quotes.
    pub reply_to: Option<MessageId>,
    /// The thread it is in (only in a thread's own timeline).
    pub thread: Option<MessageId>,
    /// Edited at least once: shown `(edited)`.
    pub edited: bool,
    /// A tombstone: shown `message deleted`, body empty.
    pub deleted: bool,
    pub reactions: Vec<Reaction>,
    /// For a thread root: its replies at a glance.
    pub replies: Option<ThreadSummary>,
    /// The revision of its last change.
    pub rev: Rev,
    /// A moderator called the whole room with it (`@room`): it counts,
    /// shows and notifies as a mention of you.
    pub attention: bool,
    /// The files it carries (none once deleted).
    pub attachments: Vec<natter_shared::Attachment>,
}

impl Rich {
    /// What `m` carries.
    #[must_use]
    pub fn of(m: &Message) -> Self {
        Self {
            reply_to: m.reply_to,
            thread: m.thread,
            edited: m.edited_at.is_some(),
            deleted: m.deleted,
            reactions: m.reactions.clone(),
            replies: m.replies.clone(),
            rev: m.rev,
            attention: m.attention,
            attachments: m.attachments.clone(),
        }
    }
}

/// A room's entries, oldest first, with every message indexed by id.
///
/// Read it like a slice (`len`, `iter`, `[i]`); it changes only through
/// the methods that keep the index true.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    entries: VecDeque<Entry>,
    /// Each message's slot: its position is `slot - front`. An insertion
    /// moves the entries on one side of it by one, and only that side's
    /// slots change: the shorter side, as `VecDeque` itself moves, so
    /// pages landing at either end cost what they cost without an index.
    slots: HashMap<MessageId, isize>,
    /// The slot of position 0.
    front: isize,
    /// The newest message id seen (for catch-up after a reconnect).
    newest: MessageId,
}

/// Two timelines are equal when they show the same entries; where the
/// index's slots start depends on the order pages arrived in.
impl PartialEq for Timeline {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Timeline {}

impl Index<usize> for Timeline {
    type Output = Entry;

    fn index(&self, i: usize) -> &Entry {
        &self.entries[i]
    }
}

impl<'a> IntoIterator for &'a Timeline {
    type Item = &'a Entry;
    type IntoIter = std::collections::vec_deque::Iter<'a, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl Timeline {
    /// Entries, messages and notices alike.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing loaded or written yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Oldest first.
    #[must_use]
    pub fn iter(&self) -> std::collections::vec_deque::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// Entry `i`, counted from the oldest.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&Entry> {
        self.entries.get(i)
    }

    /// The newest entry.
    #[must_use]
    pub fn back(&self) -> Option<&Entry> {
        self.entries.back()
    }

    /// Where message `id` is, without a scan.
    #[must_use]
    pub fn position(&self, id: MessageId) -> Option<usize> {
        self.slots
            .get(&id)
            .map(|slot| (slot - self.front).cast_unsigned())
    }

    /// Message `id`'s entry, if loaded.
    #[must_use]
    pub fn message(&self, id: MessageId) -> Option<&Entry> {
        self.position(id).map(|i| &self.entries[i])
    }

    /// The newest message id seen; 0 before any.
    #[must_use]
    pub fn newest(&self) -> MessageId {
        self.newest
    }

    /// The oldest message id loaded.
    #[must_use]
    pub fn oldest_id(&self) -> Option<MessageId> {
        self.entries.iter().find_map(|e| e.id)
    }

    /// Adds a message from the server in id order. `None` if it was
    /// already there or confirmed one of your pending entries; otherwise
    /// where it went.
    ///
    /// Local notices have no id, so they are ordered with messages by
    /// time: a message from a page (history, catch-up) goes after the
    /// notices written before it was sent. A `live` message newer than all
    /// others is the newest line whatever the clocks say: it goes below
    /// every notice (only your pending messages stay below it), so a
    /// server clock a little behind this one cannot hide it above
    /// `/rooms` output.
    pub(crate) fn insert(
        &mut self,
        m: &Message,
        me: &str,
        nonces: &Nonces,
        live: bool,
    ) -> Option<usize> {
        if self.slots.contains_key(&m.id) {
            return None;
        }
        if m.from == me && self.attach_own(m, nonces, !nonces.server_echoes) {
            return None;
        }
        let newest = m.id > self.newest;
        self.newest = self.newest.max(m.id);
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
            rich: Rich::of(m),
        };
        let pending = self
            .entries
            .iter()
            .rposition(|e| e.id.is_some() || e.local.is_none())
            .map_or(0, |i| i + 1);
        if live && newest {
            self.insert_at(pending, entry);
            return Some(pending);
        }
        // After the newest message older than it (pending messages stay
        // last), then among the notices around that place by time.
        let mut pos = self
            .entries
            .iter()
            .rposition(|e| e.id.is_some_and(|id| id < m.id))
            .map_or(0, |i| i + 1)
            .min(pending);
        let is_notice = |e: &Entry| e.id.is_none() && e.local.is_none();
        while pos < pending && is_notice(&self.entries[pos]) && self.entries[pos].ts <= m.ts {
            pos += 1;
        }
        while pos > 0 && is_notice(&self.entries[pos - 1]) && self.entries[pos - 1].ts > m.ts {
            pos -= 1;
        }
        self.insert_at(pos, entry);
        Some(pos)
    }

    /// Gives your own message from the server to the pending entry it
    /// confirms: the one whose nonce it carries (the send's reply and the
    /// message can arrive in either order). Only against a server without
    /// nonces (`by_text`) is the oldest pending entry with the same text
    /// taken instead.
    fn attach_own(&mut self, m: &Message, nonces: &Nonces, by_text: bool) -> bool {
        let wanted = m.nonce.as_deref().and_then(|n| nonces.local_of(n));
        let Some(pos) = self.entries.iter().position(|e| {
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
        let e = &mut self.entries[pos];
        e.id = Some(m.id);
        e.ts = m.ts;
        e.rich = Rich::of(m);
        if let EntryKind::Msg { delivery, .. } = &mut e.kind {
            *delivery = Delivery::Sent;
        }
        self.assign(pos, m.id);
        self.newest = self.newest.max(m.id);
        true
    }

    /// Where your message `local` is. Local ids are unique, and pending
    /// messages stay at the newest end: the search starts there.
    #[must_use]
    pub fn local_position(&self, local: u64) -> Option<usize> {
        self.entries.iter().rposition(|e| e.local == Some(local))
    }

    /// A send's outcome for your entry `local`: stored as `Ok((id, ts))`,
    /// or refused with the reason. False if no entry here is `local`.
    pub(crate) fn confirm(&mut self, local: u64, result: Result<(MessageId, i64), String>) -> bool {
        let Some(pos) = self.local_position(local) else {
            return false;
        };
        let e = &mut self.entries[pos];
        match result {
            Ok((id, ts)) => {
                if e.id.is_none() && self.slots.contains_key(&id) {
                    // A history page already brought it: one copy.
                    self.remove_at(pos);
                    return true;
                }
                if e.id.is_none() {
                    e.id = Some(id);
                    e.ts = ts;
                    self.assign(pos, id);
                    self.newest = self.newest.max(id);
                }
                if let EntryKind::Msg { delivery, .. } = &mut self.entries[pos].kind {
                    *delivery = Delivery::Sent;
                }
            }
            Err(why) => {
                if let EntryKind::Msg { delivery, .. } = &mut e.kind {
                    *delivery = Delivery::Failed(why);
                }
            }
        }
        true
    }

    /// A notice or error written here, at the newest end.
    pub(crate) fn push_local(&mut self, ts: i64, kind: EntryKind) {
        self.entries.push_back(Entry {
            id: None,
            local: None,
            ts,
            kind,
            rich: Rich::default(),
        });
    }

    /// Your message `local`, written and not yet acknowledged.
    pub(crate) fn push_pending(
        &mut self,
        local: u64,
        ts: i64,
        from: String,
        body: String,
        action: bool,
    ) {
        self.entries.push_back(Entry {
            id: None,
            local: Some(local),
            ts,
            kind: EntryKind::Msg {
                from,
                body,
                action,
                delivery: Delivery::Pending,
            },
            rich: Rich::default(),
        });
    }

    /// Your pending reply to `parent`: shown with its quote at once.
    pub(crate) fn set_pending_reply(&mut self, local: u64, parent: MessageId) {
        if let Some(pos) = self.local_position(local) {
            self.entries[pos].rich.reply_to = Some(parent);
        }
    }

    /// Your pending message `local` carries these files.
    pub(crate) fn set_pending_files(&mut self, local: u64, files: Vec<natter_shared::Attachment>) {
        if let Some(pos) = self.local_position(local) {
            self.entries[pos].rich.attachments = files;
        }
    }

    /// Message `id`'s entry, to change in place (edits, deletes,
    /// reactions): its position and id stay.
    pub(crate) fn message_mut(&mut self, id: MessageId) -> Option<&mut Entry> {
        let i = self.position(id)?;
        self.entries.get_mut(i)
    }

    /// A live reply `m` in the thread rooted at `root`: the root's
    /// summary counts it.
    pub(crate) fn count_reply(&mut self, root: MessageId, m: &Message) {
        if let Some(e) = self.message_mut(root) {
            let s = e.rich.replies.get_or_insert(ThreadSummary {
                count: 0,
                last_from: String::new(),
                last_ts: 0,
            });
            s.count += 1;
            s.last_from.clone_from(&m.from);
            s.last_ts = m.ts;
            e.rich.rev = e.rich.rev.max(m.rev);
        }
    }

    /// A copy of an entry held elsewhere (a thread's root, shown before
    /// its page arrives), at the newest end.
    pub(crate) fn push_copy(&mut self, e: &Entry) {
        let pos = self.entries.len();
        self.entries.push_back(e.clone());
        if let Some(id) = e.id {
            self.assign(pos, id);
            self.newest = self.newest.max(id);
        }
    }

    /// Forgets every entry and the newest id too: a page around an old
    /// message starts the timeline over (see `app::rich`).
    pub(crate) fn reset(&mut self) {
        self.clear();
        self.newest = 0;
    }

    /// Takes `m` as the current state of a message held here: body,
    /// tombstone, reactions, summary. False if it is not held.
    pub(crate) fn replace(&mut self, m: &Message) -> bool {
        let Some(e) = self.message_mut(m.id) else {
            return false;
        };
        if let EntryKind::Msg { body, .. } = &mut e.kind {
            body.clone_from(&m.body);
        }
        e.rich = Rich::of(m);
        true
    }

    /// Forgets every entry (`/clear`); the newest id seen stays, so a
    /// reconnect catches up from there and nothing cleared comes back.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.slots.clear();
        self.front = 0;
    }

    /// Keeps the oldest `len` entries (tests cut rooms to size).
    #[cfg(test)]
    pub(crate) fn truncate(&mut self, len: usize) {
        while self.entries.len() > len {
            if let Some(id) = self.entries.pop_back().and_then(|e| e.id) {
                self.slots.remove(&id);
            }
        }
    }

    /// Indexes the entry at `pos` under `id`.
    fn assign(&mut self, pos: usize, id: MessageId) {
        self.slots.insert(id, self.front + pos.cast_signed());
    }

    fn insert_at(&mut self, pos: usize, entry: Entry) {
        let n = self.entries.len();
        if pos < n - pos {
            // The older side is shorter: it moves down a slot, and the
            // front with it, so everything after `pos` is one further on.
            for e in self.entries.range(..pos) {
                if let Some(slot) = e.id.and_then(|id| self.slots.get_mut(&id)) {
                    *slot -= 1;
                }
            }
            self.front -= 1;
        } else {
            for e in self.entries.range(pos..) {
                if let Some(slot) = e.id.and_then(|id| self.slots.get_mut(&id)) {
                    *slot += 1;
                }
            }
        }
        let id = entry.id;
        self.entries.insert(pos, entry);
        if let Some(id) = id {
            self.assign(pos, id);
        }
    }

    fn remove_at(&mut self, pos: usize) {
        let Some(entry) = self.entries.remove(pos) else {
            return;
        };
        if let Some(id) = entry.id {
            self.slots.remove(&id);
        }
        let n = self.entries.len();
        if pos < n - pos {
            for e in self.entries.range(..pos) {
                if let Some(slot) = e.id.and_then(|id| self.slots.get_mut(&id)) {
                    *slot += 1;
                }
            }
            self.front += 1;
        } else {
            for e in self.entries.range(pos..) {
                if let Some(slot) = e.id.and_then(|id| self.slots.get_mut(&id)) {
                    *slot -= 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: MessageId, from: &str, body: &str) -> Message {
        Message {
            id,
            ts: i64::try_from(id).unwrap() * 1000,
            room: "#general".into(),
            from: from.into(),
            body: body.into(),
            action: false,
            nonce: None,
            ..Default::default()
        }
    }

    /// Every message's indexed position is where a scan finds it.
    fn assert_indexed(t: &Timeline) {
        let mut ids = 0;
        for (i, e) in t.iter().enumerate() {
            if let Some(id) = e.id {
                ids += 1;
                assert_eq!(t.position(id), Some(i), "message {id}");
            }
        }
        assert_eq!(t.slots.len(), ids, "no stale ids");
    }

    #[test]
    fn the_index_follows_pages_at_both_ends_and_in_the_middle() {
        let nonces = Nonces::new();
        let mut t = Timeline::default();
        // A first page, then older pages in front (newest first, as
        // scrolling up fetches them), a catch-up page behind, and a gap
        // filled in the middle.
        for id in (50..60).step_by(2) {
            t.insert(&msg(id, "bob", "x"), "alice", &nonces, false);
        }
        for page in [40..50, 20..30] {
            for id in page.step_by(2) {
                t.insert(&msg(id, "bob", "x"), "alice", &nonces, false);
            }
            assert_indexed(&t);
        }
        t.push_local(59_500, EntryKind::Notice("bob joined".into()));
        for id in [60, 61, 35, 31, 57, 21] {
            t.insert(&msg(id, "bob", "x"), "alice", &nonces, false);
            assert_indexed(&t);
        }
        let ids: Vec<_> = t.iter().filter_map(|e| e.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "in id order");
        assert_eq!(t.message(35).map(|e| e.ts), Some(35_000));
        assert_eq!(t.newest(), 61);
        assert_eq!(t.oldest_id(), Some(20));
        assert!(
            t.insert(&msg(35, "bob", "x"), "alice", &nonces, false)
                .is_none()
        );
    }

    #[test]
    fn confirmed_and_removed_sends_keep_the_index() {
        let nonces = Nonces::new();
        let mut t = Timeline::default();
        for id in 1..=5 {
            t.insert(&msg(id, "bob", "x"), "alice", &nonces, false);
        }
        t.push_pending(1, 0, "alice".into(), "one".into(), false);
        t.push_pending(2, 0, "alice".into(), "two".into(), false);
        // Another session's message lands above the pending ones.
        t.insert(&msg(6, "carol", "y"), "alice", &nonces, false);
        assert!(t.confirm(1, Ok((7, 7000))));
        assert_indexed(&t);
        assert_eq!(t.position(7), Some(6));
        // A page brought message 8 before the reply to send 2: one copy.
        t.insert(&msg(8, "alice", "two"), "alice", &nonces, false);
        assert!(t.confirm(2, Ok((8, 8000))));
        assert_indexed(&t);
        assert_eq!(t.len(), 8);
        assert!(!t.confirm(3, Ok((9, 9000))), "no such send");
        // Removing near the front moves the front instead.
        let mut front = Timeline::default();
        front.insert(&msg(1, "bob", "x"), "alice", &nonces, false);
        front.push_pending(1, 0, "alice".into(), "a".into(), false);
        for _ in 0..10 {
            front.push_local(0, EntryKind::Notice("n".into()));
        }
        front.insert(&msg(2, "bob", "x"), "alice", &nonces, false);
        assert_eq!(front.position(2), Some(1));
        assert!(front.confirm(1, Ok((2, 0))));
        assert_eq!(front.len(), 12);
        assert_indexed(&front);
    }
}
