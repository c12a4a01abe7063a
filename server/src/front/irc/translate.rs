//! What an IRC client is sent for each of natter's events and replies.
//!
//! A room's message (the fan-out's hot path) is written once per encoding
//! for every IRC recipient ([`room_message`], called by
//! [`crate::front::Outgoing`]). Everything else reaches an IRC connection's
//! queue as natter's frame and is translated by its writer
//! ([`Translator`]), which knows the connection: its nick, its
//! capabilities, the labels its pending requests carried, and whether its
//! welcome has been written yet.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use natter_shared::{
    ErrorCode, ErrorReply, Event, LeaveKind, Message, PresenceState, Response, Role, ServerFrame,
};

use super::caps::{self, Enabled};
use super::line::{self, Out};
use super::reply;
use crate::Shared;
use crate::ops::{self, Caller};
use crate::outbox::Wire;

/// The host part of every user's `nick!user@host`.
pub const HOST: &str = "natter";

/// The longest piece of a message body in one line: a line is at most 512
/// bytes without tags, and the source, command and target take the rest.
pub const MAX_PIECE: usize = 400;

/// `nick!nick@natter`.
#[must_use]
pub fn source(nick: &str) -> String {
    format!("{nick}!{nick}@{HOST}")
}

/// Whether a message reads the same for every IRC recipient: a room's
/// (not a direct conversation's, whose target is the reader), and not the
/// sender's own copy (whose echo depends on the connection).
#[must_use]
pub fn shared_form(m: &Message) -> bool {
    // A file's link is made with the server's key: per connection (files
    // are rare), where the server is at hand.
    m.room.starts_with('#') && m.nonce.is_none() && m.attachments.is_empty()
}

/// Where a message goes on IRC for reader `me`: its channel, or in a
/// direct conversation the other side's nick (IRC names a private
/// message by its sender, or by its recipient for your own).
#[must_use]
pub fn target_for(m: &Message, me: &str) -> String {
    match m.room.strip_prefix('@') {
        Some(peer) if m.from == me => peer.to_owned(),
        Some(_) => me.to_owned(),
        None => m.room.clone(),
    }
}

/// Where IRC clients fetch files: signed links to the HTTP listener, when
/// one runs ([`crate::file_links`]).
pub struct Links<'a> {
    base: String,
    keys: &'a crate::file_links::FileLinks,
}

impl<'a> Links<'a> {
    /// The server's links, or `None` without an HTTP listener.
    #[must_use]
    pub fn of(shared: &'a Shared) -> Option<Self> {
        let config = shared.config();
        (!config.http.listen.is_empty()).then(|| Links {
            base: config.http.base_url(),
            keys: &shared.file_links,
        })
    }
}

/// A message as IRC lines to `target`: one `PRIVMSG` per line of its body
/// (each piece at most [`MAX_PIECE`] bytes), and a `NOTICE` per file.
/// With `tags`: `time`, `msgid` and `account`, and the reply tags.
#[must_use]
pub fn message_lines(
    m: &Message,
    target: &str,
    tags: bool,
    extra: &[(&str, &str)],
    file_links: Option<&Links<'_>>,
) -> Vec<Bytes> {
    let from = source(&m.from);
    let time = tags.then(|| line::server_time(m.ts));
    let msgid = m.id.to_string();
    let parent = m.reply_to.or(m.thread).map(|p| p.to_string());
    let tagged = |out: Out| {
        if !tags {
            return out;
        }
        let mut out = out
            .tag_opt("time", time.as_deref())
            .tag("msgid", &msgid)
            .tag("account", &m.from)
            .tag_opt("+draft/reply", parent.as_deref())
            .tag_opt("+reply", parent.as_deref());
        for (k, v) in extra {
            out = out.tag(k, v);
        }
        out
    };
    let mut lines = Vec::new();
    if m.deleted {
        return lines;
    }
    if !m.body.is_empty() || m.attachments.is_empty() {
        for piece in line::pieces(&m.body, MAX_PIECE) {
            let text = if m.action {
                format!("\u{1}ACTION {piece}\u{1}")
            } else if piece.is_empty() {
                // IRC has no empty message; a blank line of a multi-line
                // one is kept as a space.
                " ".to_owned()
            } else {
                piece.to_owned()
            };
            lines.push(
                tagged(Out::new(&from, "PRIVMSG"))
                    .arg(target)
                    .trailing(&text)
                    .bytes(),
            );
        }
    }
    for a in &m.attachments {
        let text = match file_links {
            Some(l) => format!(
                "[file] {} ({}, {}) {}",
                a.name,
                human_size(a.size),
                a.mime,
                l.keys.url(&l.base, a.file, &a.name)
            ),
            None => format!(
                "[file] {} ({}, {}) - fetch it with: natter download {}",
                a.name,
                human_size(a.size),
                a.mime,
                a.file
            ),
        };
        lines.push(
            tagged(Out::new(&from, "NOTICE"))
                .arg(target)
                .trailing(&text)
                .bytes(),
        );
    }
    lines
}

/// A room message for every IRC recipient of one encoding, as one buffer.
#[must_use]
pub fn room_message(m: &Message, tags: bool) -> Bytes {
    let lines = message_lines(m, &m.room, tags, &[], None);
    match lines.len() {
        1 => lines.into_iter().next().unwrap_or_default(),
        _ => Bytes::from(lines.concat()),
    }
}

fn human_size(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // shown rounded
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", f / 1024.0)
    } else {
        format!("{:.1} MiB", f / (1024.0 * 1024.0))
    }
}

/// What an IRC request waits for from the server (a send's `Sent`, a
/// reaction's `Reacted`): the label to answer with, and for a send, the
/// target to name in an error.
#[derive(Debug, Clone)]
pub struct Pending {
    pub label: Option<String>,
    pub command: &'static str,
    pub target: String,
}

/// A map of the few things in flight on one connection (requests, echoes,
/// labels): a boxed vector, and nothing at all when empty. A hash map is
/// six words empty and keeps its table once used, on every idle
/// connection (memory per idle connection, S4).
#[derive(Debug)]
#[allow(clippy::box_collection)] // one word inline instead of three: the point
pub struct Few<K, V>(Option<Box<Vec<(K, V)>>>);

impl<K, V> Default for Few<K, V> {
    fn default() -> Self {
        Self(None)
    }
}

impl<K: PartialEq, V> Few<K, V> {
    /// Sets `key`'s value, returning the one it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let entries = self.0.get_or_insert_with(Box::default);
        if let Some((_, v)) = entries.iter_mut().find(|(k, _)| *k == key) {
            return Some(std::mem::replace(v, value));
        }
        entries.push((key, value));
        None
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        let entries = self.0.as_mut()?;
        let i = entries.iter().position(|(k, _)| k.borrow() == key)?;
        let (_, v) = entries.swap_remove(i);
        self.tidy();
        Some(v)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        if let Some(entries) = self.0.as_mut() {
            entries.retain_mut(|(k, v)| keep(k, v));
        }
        self.tidy();
    }

    fn entries(&self) -> &[(K, V)] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries().iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries().iter().map(|(_, v)| v)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    fn tidy(&mut self) {
        if self.0.as_ref().is_some_and(|e| e.is_empty()) {
            self.0 = None;
        }
    }
}

/// Answers held behind requests, each with the newest request it waits for.
type Barriers = VecDeque<(u64, Vec<Bytes>)>;

/// What a connection's reader and writer share.
#[derive(Debug, Default)]
pub struct View {
    /// The nick (the account name) once registered.
    pub nick: String,
    /// The nonce prefix of this connection's sends: its own messages come
    /// back with it and are echoed only with `echo-message`.
    pub nonce_prefix: String,
    /// The welcome has been written: events held before it go out.
    pub welcomed: bool,
    /// Events that came before the welcome.
    held: Vec<Bytes>,
    /// Requests waiting for their answer, by request id.
    pub pending: Few<u64, Pending>,
    /// Answers held until every request before them has its answer: a
    /// `PONG` is a client's barrier ("everything I sent before it is
    /// done"), so it waits for the sends still in the store's queue.
    /// Each with the newest request it waits for.
    #[allow(clippy::box_collection)] // one word inline instead of four
    barriers: Option<Box<Barriers>>,
    /// With `echo-message`, a send is answered by its echo, which may come
    /// after the `Sent` of later sends (a batch acknowledges before it fans
    /// out): the request each awaited echo answers, and its target, by
    /// message id.
    echoes: Few<u64, (u64, String)>,
    /// Labels for the echo of a sent message, by message id.
    echo_labels: Few<u64, String>,
    /// A `JOIN` with a label, by room: its answer is the room's arrival.
    pub join_labels: Few<String, String>,
    /// The session, once registered.
    pub caller: Option<Caller>,
}

impl View {
    /// `lines` back when nothing is pending; otherwise keeps them until
    /// every request pending now is answered.
    pub fn behind_pending(&mut self, lines: Vec<Bytes>) -> Option<Vec<Bytes>> {
        match self.pending.keys().max() {
            None => Some(lines),
            Some(&last) => {
                self.barriers
                    .get_or_insert_with(Box::default)
                    .push_back((last, lines));
                None
            }
        }
    }

    /// The held answers whose requests are all answered, in order.
    fn released(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        let Some(barriers) = self.barriers.as_mut() else {
            return out;
        };
        while let Some((last, _)) = barriers.front() {
            if self.pending.keys().any(|id| id <= last)
                || self.echoes.values().any(|(id, _)| id <= last)
            {
                break;
            }
            if let Some((_, lines)) = barriers.pop_front() {
                out.extend(lines);
            }
        }
        if barriers.is_empty() {
            // Boxed, and let go, on a connection that goes idle.
            self.barriers = None;
        }
        out
    }
}

/// The frame an IRC connection's reader queues after its welcome: the
/// writer then lets held events through. Empty, so it is never a line and
/// never a natter frame.
#[must_use]
pub fn welcome_marker() -> Bytes {
    Bytes::new()
}

/// Whether a natter frame is the connection's goodbye.
fn is_closing(frame: &[u8]) -> bool {
    matches!(
        frame.get(4..).map(natter_shared::decode_server),
        Some(Ok(ServerFrame::Event(Event::Closing { .. })))
    )
}

/// Translates a connection's queue into IRC lines as its writer takes
/// it.
pub struct Translator {
    pub shared: Arc<Shared>,
    pub view: Arc<Mutex<View>>,
    pub caps: Arc<Enabled>,
}

impl Wire for Translator {
    /// The fan-out's hot path: room messages already written as IRC lines.
    /// natter's frames start with their length's high byte (frames are far
    /// below 16 MiB), IRC lines never with NUL; an empty frame is the
    /// welcome's marker.
    fn passes(&self, frames: &[Bytes]) -> bool {
        frames.iter().all(|f| f.first().is_some_and(|&b| b != 0))
    }

    async fn translate(&mut self, frames: Vec<Bytes>) -> Vec<Bytes> {
        if self.passes(&frames) {
            return frames;
        }
        let mut out = Vec::with_capacity(frames.len());
        for frame in frames {
            match frame.first() {
                // natter's frames start with their length's high byte
                // (frames are far below 16 MiB); IRC lines never with NUL.
                Some(0) => {
                    // The goodbye is the one frame that goes before the
                    // welcome: a client refused during registration
                    // learns why.
                    if !self.lock().welcomed && !is_closing(&frame) {
                        self.lock().held.push(frame);
                        continue;
                    }
                    // Boxed: translating an event is a large future, and
                    // inline it would be part of every idle connection's
                    // writer (memory per connection, S4).
                    Box::pin(self.frame(&frame, &mut out)).await;
                }
                Some(_) => out.push(frame),
                None => {
                    let held = {
                        let mut v = self.lock();
                        v.welcomed = true;
                        std::mem::take(&mut v.held)
                    };
                    for f in held {
                        Box::pin(self.frame(&f, &mut out)).await;
                    }
                }
            }
        }
        out
    }
}

impl Translator {
    fn lock(&self) -> std::sync::MutexGuard<'_, View> {
        self.view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn caller(&self) -> Option<Caller> {
        self.lock().caller
    }

    fn server(&self) -> String {
        self.shared.config().irc.server_name.clone()
    }

    async fn frame(&mut self, bytes: &[u8], out: &mut Vec<Bytes>) {
        let Some(payload) = bytes.get(4..) else {
            return;
        };
        match natter_shared::decode_server(payload) {
            Ok(ServerFrame::Event(ev)) => self.event(ev, out).await,
            Ok(ServerFrame::Ok { id, res }) => self.answer(id, Ok(res), out),
            Ok(ServerFrame::Err { id, err }) => self.answer(id, Err(err), out),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read a frame for IRC"),
        }
    }

    /// A reply the hub sent later: a send's `Sent` or error, a
    /// reaction's result.
    fn answer(&mut self, id: u64, result: Result<Response, ErrorReply>, out: &mut Vec<Bytes>) {
        let Some(pending) = self.lock().pending.remove(&id) else {
            return;
        };
        self.answer_pending(id, pending, result, out);
        let released = self.lock().released();
        out.extend(released);
    }

    fn answer_pending(
        &mut self,
        request: u64,
        pending: Pending,
        result: Result<Response, ErrorReply>,
        out: &mut Vec<Bytes>,
    ) {
        let bits = self.caps.get();
        let labeled = bits & caps::LABELED_RESPONSE != 0;
        let label = pending.label.filter(|_| labeled);
        match result {
            Ok(Response::Sent { id: msgid, .. }) if bits & caps::ECHO_MESSAGE != 0 => {
                // The echo answers the label.
                let mut v = self.lock();
                if let Some(label) = label {
                    v.echo_labels.insert(msgid, label);
                }
                if v.barriers.as_ref().is_some_and(|b| !b.is_empty()) {
                    v.echoes
                        .insert(msgid, (request, pending.target.to_ascii_lowercase()));
                }
            }
            Ok(_) => {
                if let Some(label) = label {
                    out.push(Out::new(&self.server(), "ACK").tag("label", &label).bytes());
                }
            }
            Err(err) => {
                let nick = self.lock().nick.clone();
                let server = self.server();
                let mut lines =
                    reply::op_error(&server, &nick, pending.command, &pending.target, &err, bits);
                if pending.command == "NOTICE" {
                    // NOTICE is never answered with an error (RFC 2812).
                    lines.clear();
                }
                out.extend(reply::labeled(&server, label.as_deref(), lines, bits));
            }
        }
    }

    async fn event(&mut self, ev: Event, out: &mut Vec<Bytes>) {
        let bits = self.caps.get();
        let tags = caps::wants_tags(bits);
        let me = self.lock().nick.clone();
        let server = self.server();
        match ev {
            Event::Message(m) => {
                let own_session = m.nonce.as_deref().is_some_and(|n| {
                    let v = self.lock();
                    !v.nonce_prefix.is_empty() && n.starts_with(&v.nonce_prefix)
                });
                if own_session && bits & caps::ECHO_MESSAGE == 0 {
                    return;
                }
                let label = if own_session {
                    self.lock().echo_labels.remove(&m.id)
                } else {
                    None
                };
                let target = target_for(&m, &me);
                let extra: Vec<(&str, &str)> = label
                    .as_deref()
                    .filter(|_| bits & caps::LABELED_RESPONSE != 0)
                    .map(|l| ("label", l))
                    .into_iter()
                    .collect();
                let links = Links::of(&self.shared);
                out.extend(message_lines(&m, &target, tags, &extra, links.as_ref()));
                if own_session {
                    let mut v = self.lock();
                    if v.echoes.remove(&m.id).is_some() {
                        let released = v.released();
                        drop(v);
                        out.extend(released);
                    }
                }
            }
            Event::Joined { room, user } => {
                out.push(Out::new(&source(&user), "JOIN").arg(&room).bytes());
            }
            Event::Left {
                room,
                user,
                kind,
                by,
                reason,
            } => out.push(leave_line(&room, &user, kind, by, reason)),
            Event::RoomAdded(state) => {
                if state.name.starts_with('#') {
                    let label = self.lock().join_labels.remove(&state.name);
                    let label = label.filter(|_| bits & caps::LABELED_RESPONSE != 0);
                    let lines = self.arrival(&state.name, &state.topic);
                    out.extend(reply::labeled(&server, label.as_deref(), lines, bits));
                }
            }
            Event::RoomRemoved {
                room,
                kind,
                by,
                reason,
            } => {
                if room.starts_with('#') {
                    out.push(leave_line(&room, &me, kind, by, reason));
                }
                // Out of the room, its echoes will not come: nothing waits
                // for them.
                let mut v = self.lock();
                let before = v.echoes.len();
                v.echoes.retain(|_, (_, target)| *target != room);
                if v.echoes.len() != before {
                    let released = v.released();
                    drop(v);
                    out.extend(released);
                }
            }
            Event::Topic { room, topic, by } => {
                out.push(
                    Out::new(&source(&by), "TOPIC")
                        .arg(&room)
                        .trailing(&topic)
                        .bytes(),
                );
            }
            Event::Role { room, user, role } => {
                let modes = match role {
                    Role::Owner => "+q",
                    Role::Moderator => "-q+o",
                    _ => "-qo",
                };
                out.push(
                    Out::new(&server, "MODE")
                        .arg(&room)
                        .arg(modes)
                        .arg(&user)
                        .bytes(),
                );
            }
            Event::Mode {
                room, announce, by, ..
            } => {
                out.push(
                    Out::new(&source(&by), "MODE")
                        .arg(&room)
                        .arg(if announce { "+m" } else { "-m" })
                        .bytes(),
                );
            }
            Event::Presence {
                user,
                state,
                status,
            } => {
                if bits & caps::AWAY_NOTIFY != 0 && user != me {
                    out.push(away_line(&user, state, status.as_deref()));
                }
            }
            Event::Typing { room, user, active } => {
                if bits & caps::MESSAGE_TAGS != 0 {
                    let target = if room.starts_with('@') { me } else { room };
                    out.push(
                        Out::new(&source(&user), "TAGMSG")
                            .tag("+typing", if active { "active" } else { "done" })
                            .arg(&target)
                            .bytes(),
                    );
                }
            }
            Event::Edited { room, id, body, .. } => {
                // IRC has no edits: a new message, a reply to the old one.
                if let Some(caller) = self.caller()
                    && let Ok(Some(mut m)) =
                        ops::messages::one(&self.shared, caller, &room, id).await
                {
                    m.body = format!("[edit] {body}");
                    m.reply_to = Some(id);
                    m.thread = None;
                    m.attachments.clear();
                    let target = target_for(&m, &me);
                    out.extend(message_lines(&m, &target, tags, &[], None));
                }
            }
            Event::Deleted { room, id, by, .. } => {
                if bits & caps::REDACTION != 0 {
                    let target = if room.starts_with('@') { me } else { room };
                    out.push(
                        Out::new(&source(&by), "REDACT")
                            .arg(&target)
                            .arg(&id.to_string())
                            .bytes(),
                    );
                }
            }
            Event::Reaction {
                room,
                id,
                key,
                user,
                on,
                ..
            } => {
                if bits & caps::MESSAGE_TAGS != 0 {
                    let target = if room.starts_with('@') { me } else { room };
                    out.push(
                        Out::new(&source(&user), "TAGMSG")
                            .tag("+draft/reply", &id.to_string())
                            .tag(if on { "+draft/react" } else { "+draft/unreact" }, &key)
                            .arg(&target)
                            .bytes(),
                    );
                }
            }
            Event::Read { room, id } => {
                if bits & caps::READ_MARKER != 0
                    && let Some(caller) = self.caller()
                {
                    let ts = match ops::messages::one(&self.shared, caller, &room, id).await {
                        Ok(Some(m)) => Some(m.ts),
                        _ => None,
                    };
                    let target = if let Some(peer) = room.strip_prefix('@') {
                        peer.to_owned()
                    } else {
                        room
                    };
                    out.push(reply::markread(&server, &target, ts));
                }
            }
            Event::Invited(inv) => {
                out.push(
                    Out::new(&source(&inv.by), "INVITE")
                        .arg(&me)
                        .arg(&inv.room)
                        .bytes(),
                );
            }
            Event::Closing { message, code, .. } => {
                let why = if code == ErrorCode::SlowConsumer {
                    "Excess queue: you stopped reading".to_owned()
                } else {
                    message
                };
                out.push(
                    Out::bare("ERROR")
                        .trailing(&format!("Closing link: {why}"))
                        .bytes(),
                );
            }
            Event::Unread { .. }
            | Event::Receipt { .. }
            | Event::Delivered { .. }
            | Event::Profile { .. }
            | Event::Reported(_)
            | Event::Unknown(_) => {}
        }
    }

    /// The lines of arriving in a room: the `JOIN`, its topic, its names.
    fn arrival(&self, room: &str, topic: &str) -> Vec<Bytes> {
        let Some(caller) = self.caller() else {
            return Vec::new();
        };
        let me = self.lock().nick.clone();
        reply::arrival(&self.shared, caller, &me, room, topic, self.caps.get())
    }
}

/// `PART` or `KICK` for someone leaving a room.
#[allow(clippy::single_match_else)] // a kick and a part, side by side
fn leave_line(
    room: &str,
    user: &str,
    kind: LeaveKind,
    by: Option<String>,
    reason: Option<String>,
) -> Bytes {
    match (kind, by) {
        (LeaveKind::Kicked | LeaveKind::Banned, Some(by)) => {
            let reason = reason.unwrap_or_else(|| {
                if kind == LeaveKind::Banned {
                    "banned".into()
                } else {
                    "kicked".into()
                }
            });
            Out::new(&source(&by), "KICK")
                .arg(room)
                .arg(user)
                .trailing(&reason)
                .bytes()
        }
        _ => {
            let out = Out::new(&source(user), "PART").arg(room);
            match reason {
                Some(r) => out.trailing(&r).bytes(),
                None => out.bytes(),
            }
        }
    }
}

/// `AWAY` (away-notify) for a presence.
#[must_use]
pub fn away_line(user: &str, state: PresenceState, status: Option<&str>) -> Bytes {
    let out = Out::new(&source(user), "AWAY");
    match away_text(state, status) {
        Some(text) => out.trailing(&text).bytes(),
        None => out.bytes(),
    }
}

/// What `AWAY` says for a presence: nothing for someone online.
#[must_use]
pub fn away_text(state: PresenceState, status: Option<&str>) -> Option<String> {
    let word = match state {
        PresenceState::Online => return None,
        PresenceState::Away => "away",
        PresenceState::Busy => "busy",
        _ => "offline",
    };
    Some(match status {
        Some(s) if !s.is_empty() => format!("{word}: {s}"),
        _ => word.to_owned(),
    })
}
