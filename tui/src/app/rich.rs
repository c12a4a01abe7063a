//! Rich messages: edits, deletes, reactions and thread summaries applied
//! to every timeline that holds the message (the room's, and the open
//! thread's), the `since` catch-up after a reconnect, and the replies to
//! the requests that change messages.
//!
//! The catch-up: each room keeps the highest revision it has seen
//! ([`Room::rev`](super::Room::rev)), from pages, messages and events.
//! After a reconnect to a server with `changes`, a room that has seen one
//! asks for everything changed since (`HistoryQuery::since`) instead of
//! what came after its newest message, and applies each message returned:
//! replaced if held, inserted if newer than the oldest held, ignored if
//! older (that part of history is not loaded; scrolling up fetches it as
//! it is now). A thread reply goes to its thread (when open), never to
//! the main timeline; its root comes in the same catch-up with its
//! current summary.

use natter_shared::{
    ErrorCode, ErrorReply, HistoryQuery, Message, MessageId, Request, Response, Rev, SearchQuery,
    features,
};

use super::overlay::{SearchView, ThreadView};
use super::rooms::{self, PAGE};
use super::timeline::{Entry, EntryKind};
use super::{App, Effect, Overlay, Then};

/// How many search results a page asks for.
pub const SEARCH_PAGE: u32 = 20;

/// What a rich request's reply is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// A `since` catch-up of `room`.
    Since { room: String },
    /// The page of the thread rooted at `root`.
    Thread { room: String, root: MessageId },
    /// The page around message `id`, to show it (a search result, a
    /// reply's parent not loaded).
    Around { room: String, id: MessageId },
    /// A search; `next` for a further page of the same query.
    Search { next: bool },
    /// An edit, a delete or a reaction: errors go to `room`.
    Change { room: String },
}

/// The text a request's error shows.
#[must_use]
pub fn error_text(e: &ErrorReply) -> String {
    if e.code == ErrorCode::NoSuchMessage {
        "that message is gone or not visible".to_owned()
    } else {
        e.message.clone()
    }
}

/// The feature's name as the notices say it.
#[must_use]
pub fn feature_label(feature: &str) -> &str {
    match feature {
        features::REPLIES => "replies",
        features::THREADS => "threads",
        features::EDITS => "editing messages",
        features::DELETES => "deleting messages",
        features::REACTIONS => "reactions",
        features::SEARCH => "search",
        features::AROUND => "jumping to older messages",
        other => other,
    }
}

/// Applies `f` to message `id` in the timelines of `room` that hold it.
fn each_copy(app: &mut App, room: &str, id: MessageId, rev: Rev, mut f: impl FnMut(&mut Entry)) {
    if let Some(r) = app.rooms.by_name_mut(room) {
        r.rev = r.rev.max(rev);
        if let Some(e) = r.entries.message_mut(id) {
            f(e);
            e.rich.rev = e.rich.rev.max(rev);
        }
    }
    if let Overlay::Thread(t) = &mut app.overlay
        && t.room == room
        && let Some(e) = t.entries.message_mut(id)
    {
        f(e);
    }
}

/// Adds (`on`) or removes `user`'s reaction `key`.
pub(crate) fn react(e: &mut Entry, key: &str, user: &str, on: bool) {
    let list = &mut e.rich.reactions;
    match list.iter_mut().position(|r| r.key == key) {
        Some(i) => {
            let users = &mut list[i].users;
            if on {
                if !users.iter().any(|u| u == user) {
                    users.push(user.to_owned());
                }
            } else {
                users.retain(|u| u != user);
                if users.is_empty() {
                    list.remove(i);
                }
            }
        }
        None if on => list.push(natter_shared::Reaction {
            key: key.to_owned(),
            users: vec![user.to_owned()],
        }),
        None => {}
    }
}

/// Fetches what changed in `room` since revision `since`.
pub(crate) fn since_page(room: &str, since: Rev) -> Effect {
    Effect::Request {
        req: Request::History {
            room: room.to_owned(),
            query: HistoryQuery {
                limit: PAGE,
                since: Some(since),
                ..Default::default()
            },
        },
        then: Then::Rich(Pending::Since {
            room: room.to_owned(),
        }),
    }
}

impl App {
    /// Whether the server lists `feature` (before any welcome: assumed).
    #[must_use]
    pub fn has(&self, feature: &str) -> bool {
        self.features
            .as_ref()
            .is_none_or(|list| list.iter().any(|f| f == feature))
    }

    /// Says "the server does not support X" unless it does.
    pub(crate) fn require(&mut self, feature: &str, now_ms: i64) -> bool {
        if self.has(feature) {
            return true;
        }
        let text = format!("the server does not support {}", feature_label(feature));
        self.error(now_ms, text);
        false
    }

    /// `Event::Edited`.
    pub(super) fn on_edited(&mut self, room: &str, id: MessageId, body: &str, rev: Rev) {
        each_copy(self, room, id, rev, |e| {
            if let EntryKind::Msg { body: b, .. } = &mut e.kind {
                body.clone_into(b);
            }
            e.rich.edited = true;
        });
    }

    /// `Event::Deleted`: a tombstone keeps the place.
    pub(super) fn on_deleted(&mut self, room: &str, id: MessageId, rev: Rev) {
        each_copy(self, room, id, rev, |e| {
            if let EntryKind::Msg { body, .. } = &mut e.kind {
                body.clear();
            }
            e.rich.deleted = true;
            e.rich.reactions.clear();
            e.rich.attachments.clear();
        });
    }

    /// `Event::Reaction`.
    pub(super) fn on_reaction(
        &mut self,
        room: &str,
        id: MessageId,
        key: &str,
        user: &str,
        on: bool,
        rev: Rev,
    ) {
        each_copy(self, room, id, rev, |e| react(e, key, user, on));
    }

    /// A live message inside a thread: the open thread shows it.
    pub(super) fn thread_message(&mut self, m: &Message) {
        if let Overlay::Thread(t) = &mut self.overlay
            && t.room == m.room
            && m.thread == Some(t.root)
        {
            t.entries.insert(m, &self.user, &self.nonces, true);
        }
    }

    /// After a login: rooms that have seen a revision catch up with
    /// `since` (servers with `changes`) instead of `after`, which would
    /// miss edits, deletes and reactions to what is held.
    pub(super) fn since_catch_ups(&self, effects: &mut Vec<Effect>) {
        if !self
            .features
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == features::CHANGES))
        {
            return;
        }
        let by_rev: Vec<(String, Rev)> = self
            .rooms
            .iter()
            .filter(|r| r.rev > 0)
            .map(|r| (r.name.clone(), r.rev))
            .collect();
        effects.retain(|e| {
            !matches!(e, Effect::Request { then: Then::CatchUp { room }, .. }
                if by_rev.iter().any(|(n, _)| n == room))
        });
        effects.extend(by_rev.iter().map(|(room, rev)| since_page(room, *rev)));
    }

    /// Applies a `since` page to `room`.
    fn apply_changes(
        &mut self,
        room: &str,
        messages: &[Message],
        more: bool,
        rev: Rev,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        for m in messages {
            if m.thread.is_some() {
                if let Overlay::Thread(t) = &mut self.overlay
                    && t.room == room
                    && m.thread == Some(t.root)
                    && !t.entries.replace(m)
                {
                    t.entries.insert(m, &self.user, &self.nonces, false);
                }
                if let Some(r) = self.rooms.by_name_mut(room) {
                    r.rev = r.rev.max(m.rev);
                }
                continue;
            }
            if let Overlay::Thread(t) = &mut self.overlay
                && t.room == room
            {
                t.entries.replace(m);
            }
            let hidden = self.safety.is_blocked(&m.from);
            let Some(r) = self.rooms.by_name_mut(room) else {
                continue;
            };
            r.rev = r.rev.max(m.rev);
            if r.entries.replace(m) {
                continue;
            }
            let inside = match r.entries.oldest_id() {
                Some(oldest) => m.id > oldest,
                None => r.loaded,
            };
            if inside {
                r.insert_message(m, &self.user, &self.nonces, hidden, false);
            }
        }
        if let Some(r) = self.rooms.by_name_mut(room) {
            if more {
                let next = messages.iter().map(|m| m.rev).max().unwrap_or(r.rev);
                effects.push(since_page(room, next.max(r.rev)));
            } else {
                r.rev = r.rev.max(rev);
            }
        }
        effects
    }

    /// The reply to a rich request.
    pub(super) fn on_rich_reply(
        &mut self,
        pending: Pending,
        result: Result<Response, ErrorReply>,
        now_ms: i64,
    ) -> Vec<Effect> {
        match (pending, result) {
            (
                Pending::Since { room },
                Ok(Response::Messages {
                    messages,
                    more,
                    rev,
                    ..
                }),
            ) => {
                let mut effects = self.apply_changes(&room, &messages, more, rev);
                effects.extend(self.mark_read_if_viewing());
                effects
            }
            (Pending::Thread { room, root }, Ok(Response::Messages { messages, more, .. })) => {
                if let Overlay::Thread(t) = &mut self.overlay
                    && t.room == room
                    && t.root == root
                {
                    for m in &messages {
                        if !t.entries.replace(m) {
                            t.entries.insert(m, &self.user, &self.nonces, false);
                        }
                    }
                    t.loaded = true;
                    t.more = more;
                }
                Vec::new()
            }
            (
                Pending::Around { room, id },
                Ok(Response::Messages {
                    messages,
                    more,
                    rev,
                    ..
                }),
            ) => self.show_around(&room, id, &messages, more, rev),
            (Pending::Search { next }, Ok(Response::Found { hits, more })) => {
                if let Overlay::Search(s) = &mut self.overlay {
                    s.found(hits, more, next);
                }
                Vec::new()
            }
            (Pending::Change { .. }, Ok(_)) => Vec::new(),
            (Pending::Search { .. }, Err(e)) => {
                if let Overlay::Search(s) = &mut self.overlay {
                    s.loading = false;
                    s.error = Some(error_text(&e));
                } else {
                    self.error(now_ms, format!("search: {}", error_text(&e)));
                }
                Vec::new()
            }
            (
                Pending::Since { room }
                | Pending::Thread { room, .. }
                | Pending::Around { room, .. }
                | Pending::Change { room },
                Err(e),
            ) => {
                let text = error_text(&e);
                if let Overlay::Thread(t) = &mut self.overlay
                    && t.room == room
                {
                    t.error = Some(text.clone());
                }
                self.notice(Some(&room), now_ms, EntryKind::Error(text));
                Vec::new()
            }
            (pending, Ok(other)) => {
                tracing::warn!(?pending, ?other, "unexpected reply");
                Vec::new()
            }
        }
    }

    /// A rich request lost with the link: a catch-up runs again at the
    /// next login; what you asked for says it failed.
    pub(super) fn on_rich_lost(&mut self, pending: Pending, now_ms: i64) {
        match pending {
            Pending::Since { .. } => {}
            Pending::Search { .. } => {
                if let Overlay::Search(s) = &mut self.overlay {
                    s.loading = false;
                    s.error = Some("offline; try again once connected".into());
                }
            }
            Pending::Thread { room, .. }
            | Pending::Around { room, .. }
            | Pending::Change { room } => {
                self.notice(
                    Some(&room),
                    now_ms,
                    EntryKind::Error("offline; try again once connected".into()),
                );
            }
        }
    }

    /// The page around message `id` of `room`: merged when it overlaps
    /// what is held, else the room starts over from it (and catches up
    /// forward from its newest, so no gap opens). Then the room is shown
    /// with the message selected.
    fn show_around(
        &mut self,
        room: &str,
        id: MessageId,
        messages: &[Message],
        more: bool,
        rev: Rev,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let blocked: Vec<bool> = messages
            .iter()
            .map(|m| self.safety.is_blocked(&m.from))
            .collect();
        let Some(r) = self.rooms.by_name_mut(room) else {
            return effects;
        };
        let overlaps = r.entries.oldest_id().is_some_and(|oldest| {
            messages.iter().any(|m| m.id >= oldest) || r.entries.position(id).is_some()
        });
        if !overlaps {
            r.entries.reset();
            r.scroll = None;
            r.has_older = more || messages.first().is_some_and(|m| m.id > 1);
        }
        r.loaded = true;
        r.rev = r.rev.max(rev);
        for (m, hidden) in messages.iter().zip(blocked) {
            r.insert_message(m, &self.user, &self.nonces, hidden, false);
        }
        let newest = r.entries.newest();
        if !overlaps && newest < r.last_id {
            effects.push(rooms::catch_up(room, newest));
        }
        if let Some(i) = self.rooms.index_of(room) {
            if self.rooms.current_index() != i {
                effects.extend(self.switch_to(i));
            }
            self.select_message(id);
        }
        effects
    }

    /// Shows message `id` of `room`: scrolled to and selected if loaded,
    /// else fetched with the page around it.
    pub(crate) fn jump_to(&mut self, room: &str, id: MessageId, now_ms: i64) -> Vec<Effect> {
        let Some(i) = self.rooms.index_of(room) else {
            self.error(now_ms, format!("you are not in {room}"));
            return Vec::new();
        };
        if self.rooms[i].entries.position(id).is_some() {
            let mut effects = Vec::new();
            if self.rooms.current_index() != i {
                effects.extend(self.switch_to(i));
            }
            self.select_message(id);
            return effects;
        }
        if !self.require(features::AROUND, now_ms) {
            return Vec::new();
        }
        vec![Effect::Request {
            req: Request::History {
                room: room.to_owned(),
                query: HistoryQuery {
                    limit: PAGE,
                    around: Some(id),
                    ..Default::default()
                },
            },
            then: Then::Rich(Pending::Around {
                room: room.to_owned(),
                id,
            }),
        }]
    }

    /// Opens the thread rooted at `root` of `room`, fetching its page.
    pub(crate) fn open_thread(
        &mut self,
        room: &str,
        root_id: MessageId,
        now_ms: i64,
    ) -> Vec<Effect> {
        if !self.require(features::THREADS, now_ms) {
            return Vec::new();
        }
        let mut view = ThreadView::new(room, root_id);
        // The root at once, if held; the page brings it again.
        if let Some(r) = self.rooms.by_name(room)
            && let Some(e) = r.entries.message(root_id)
        {
            view.entries.push_copy(e);
        }
        self.select = None;
        self.overlay = Overlay::Thread(Box::new(view));
        vec![Effect::Request {
            req: Request::History {
                room: room.to_owned(),
                query: HistoryQuery {
                    limit: PAGE,
                    thread: Some(root_id),
                    ..Default::default()
                },
            },
            then: Then::Rich(Pending::Thread {
                room: room.to_owned(),
                root: root_id,
            }),
        }]
    }

    /// Opens the search overlay; with a query, runs it at once.
    pub(crate) fn open_search(&mut self, query: Option<String>, now_ms: i64) -> Vec<Effect> {
        if !self.require(features::SEARCH, now_ms) {
            return Vec::new();
        }
        self.select = None;
        let mut view = SearchView::default();
        let run = query.is_some();
        if let Some(q) = query {
            view.query = q;
        }
        self.overlay = Overlay::Search(Box::new(view));
        if run {
            self.run_search(false)
        } else {
            Vec::new()
        }
    }

    /// Runs the search overlay's query: afresh, or its `next` page.
    pub(crate) fn run_search(&mut self, next: bool) -> Vec<Effect> {
        let Overlay::Search(s) = &mut self.overlay else {
            return Vec::new();
        };
        let query = s.query.trim().to_owned();
        if query.is_empty() || s.loading {
            return Vec::new();
        }
        let before = if next {
            match s.hits.last() {
                Some(h) if s.more => Some(h.message.id),
                _ => return Vec::new(),
            }
        } else {
            None
        };
        s.loading = true;
        s.error = None;
        s.ran = Some(query.clone());
        vec![Effect::Request {
            req: Request::Search(SearchQuery {
                query,
                room: None,
                before,
                limit: SEARCH_PAGE,
            }),
            then: Then::Rich(Pending::Search { next }),
        }]
    }

    /// An edit, delete or reaction request for `room`.
    pub(crate) fn change(room: &str, req: Request) -> Effect {
        Effect::Request {
            req,
            then: Then::Rich(Pending::Change {
                room: room.to_owned(),
            }),
        }
    }
}

/// The commands that act on messages: `/reply`, `/edit`, `/delete`,
/// `/react`, `/thread`, `/search`.
impl App {
    /// Runs one of them in the room on screen.
    pub(super) fn run_rich(&mut self, cmd: super::command::Command, now_ms: i64) -> Vec<Effect> {
        use super::command::Command;
        let Some(here) = self.room().map(|r| r.name.clone()) else {
            self.error(now_ms, "join a room first: /join #room");
            return Vec::new();
        };
        match cmd {
            Command::Reply { what, text } => {
                if !self.require(features::REPLIES, now_ms) {
                    return Vec::new();
                }
                match self.message_id(&here, what, now_ms) {
                    Some(id) => self.send_rich(&here, text, false, Some(id), None, now_ms),
                    None => Vec::new(),
                }
            }
            Command::Edit { id, text } => {
                if !self.require(features::EDITS, now_ms) {
                    return Vec::new();
                }
                self.edit_command(&here, id, text, now_ms)
            }
            Command::Delete(what) => {
                if !self.require(features::DELETES, now_ms) {
                    return Vec::new();
                }
                match self.message_id(&here, what, now_ms) {
                    Some(id) => vec![App::change(
                        &here,
                        Request::Delete {
                            room: here.clone(),
                            id,
                        },
                    )],
                    None => Vec::new(),
                }
            }
            Command::React { what, key } => {
                if !self.require(features::REACTIONS, now_ms) {
                    return Vec::new();
                }
                let key = match super::emoji::key_of(&key) {
                    Ok(key) => key,
                    Err(why) => {
                        self.error(now_ms, why);
                        return Vec::new();
                    }
                };
                match self.message_id(&here, what, now_ms) {
                    Some(id) => self.react_to(&here, id, key),
                    None => Vec::new(),
                }
            }
            Command::Thread(what) => match self.message_id(&here, what, now_ms) {
                Some(id) => {
                    let root = self
                        .room()
                        .and_then(|r| r.entries.message(id))
                        .and_then(|e| e.rich.thread)
                        .unwrap_or(id);
                    self.open_thread(&here, root, now_ms)
                }
                None => Vec::new(),
            },
            Command::Search(query) => self.open_search(Some(query), now_ms),
            _ => Vec::new(),
        }
    }

    /// The id a command names in `here`: as given, or `@user`'s newest
    /// message loaded there (as `/report` takes it).
    fn message_id(
        &mut self,
        here: &str,
        what: super::command::Reported,
        now_ms: i64,
    ) -> Option<MessageId> {
        use super::command::Reported;
        match what {
            Reported::Id(id) => Some(id),
            Reported::Newest(user) => {
                let newest = self.rooms.by_name(here).and_then(|r| newest_from(r, &user));
                if newest.is_none() {
                    self.error(
                        now_ms,
                        format!("no message from {user} is loaded in {here}; scroll up to load older ones"),
                    );
                }
                newest
            }
        }
    }

    /// `/edit [id] text`.
    fn edit_command(
        &mut self,
        here: &str,
        id: Option<MessageId>,
        text: String,
        now_ms: i64,
    ) -> Vec<Effect> {
        let me = self.user.clone();
        let Some(id) = id.or_else(|| self.rooms.by_name(here).and_then(|r| newest_from(r, &me)))
        else {
            self.error(now_ms, format!("no message of yours is loaded in {here}"));
            return Vec::new();
        };
        let not_own = self
            .rooms
            .by_name(here)
            .and_then(|r| r.entries.message(id))
            .is_some_and(|e| !matches!(&e.kind, EntryKind::Msg { from, .. } if *from == me));
        if not_own {
            self.error(now_ms, "you can only edit your own messages");
            return Vec::new();
        }
        if text.trim().is_empty() {
            // `/edit` alone: the text goes into the input to change.
            let body = self
                .rooms
                .by_name(here)
                .and_then(|r| r.entries.message(id))
                .and_then(|e| match &e.kind {
                    EntryKind::Msg { body, .. } => Some(body.clone()),
                    _ => None,
                });
            match body {
                Some(body) => self.begin_edit(here.to_owned(), id, &body),
                None => self.error(now_ms, "usage: /edit [id] text"),
            }
            return Vec::new();
        }
        vec![App::change(
            here,
            Request::Edit {
                room: here.to_owned(),
                id,
                body: text,
            },
        )]
    }
}

/// `user`'s newest message (not deleted) held in `room`.
fn newest_from(room: &super::Room, user: &str) -> Option<MessageId> {
    room.entries
        .iter()
        .rev()
        .find_map(|e| match (&e.kind, e.id) {
            (EntryKind::Msg { from, .. }, Some(id)) if from == user && !e.rich.deleted => Some(id),
            _ => None,
        })
}
