//! Fan-out: committed messages appended to their rooms, counted, and
//! handed to every member's sessions; acknowledgements to senders. The hot
//! path of natterd. The hub hands out events ([`Outgoing`]), and each is
//! encoded once per protocol, by the first recipient speaking it, never once
//! per recipient (once per viewer only where the event differs: a direct
//! conversation's name, the sender's own nonce).

use std::cell::OnceCell;

use super::{
    Bytes, Committed, ErrorCode, Event, Hub, IdMap, Origin, Response, Room, ServerFrame,
    StoredMessage, err, event, names,
};
use crate::front::{Outgoing, Protocol};

/// A run of events for one room (messages, or changes to them), encoded
/// per protocol when the first recipient speaking it needs them.
pub(super) struct Run {
    outgoing: Vec<Outgoing>,
    natter: OnceCell<Vec<Bytes>>,
    irc: [OnceCell<Vec<Bytes>>; 2],
}

impl Run {
    pub(super) fn new(outgoing: Vec<Outgoing>) -> Self {
        Self {
            outgoing,
            natter: OnceCell::new(),
            irc: [OnceCell::new(), OnceCell::new()],
        }
    }

    fn frames(&self, protocol: Protocol) -> &[Bytes] {
        let cell = match protocol {
            Protocol::Natter => &self.natter,
            Protocol::Irc { tags } => &self.irc[usize::from(tags)],
        };
        cell.get_or_init(|| {
            self.outgoing
                .iter()
                .filter_map(|o| o.frame(protocol).cloned())
                .collect()
        })
    }
}

impl Hub {
    pub(super) fn send_user(&self, user: i64, frame: &Outgoing) {
        if let Some(u) = self.users.get(&user) {
            for sid in &u.sessions {
                if let Some(s) = self.sessions.get(sid)
                    && let Some(bytes) = frame.frame(s.protocol)
                {
                    s.outbox.push(bytes.clone());
                }
            }
        }
    }

    /// A run of events to every member of `room`: one hand-over per
    /// session for the whole run, as the messages of a batch go.
    pub(super) fn send_room_run(&self, room: &Room, run: &Run) {
        for user in room.members.keys() {
            if let Some(u) = self.users.get(user) {
                for sid in &u.sessions {
                    if let Some(s) = self.sessions.get(sid) {
                        s.outbox.push_many(run.frames(s.protocol));
                    }
                }
            }
        }
    }

    pub(super) fn send_room(&self, room: &Room, frame: &Outgoing, except: Option<i64>) {
        for user in room.members.keys() {
            if Some(*user) != except {
                self.send_user(*user, frame);
            }
        }
    }

    /// An event about `user` (typing, presence) to the room's other
    /// members, except those who block `user`.
    pub(super) fn send_room_about(&self, room: &Room, frame: &Outgoing, user: i64) {
        match self.blockers_of(user) {
            None => self.send_room(room, frame, Some(user)),
            Some(blockers) => {
                for m in room.members.keys() {
                    if *m != user && !blockers.contains(m) {
                        self.send_user(*m, frame);
                    }
                }
            }
        }
    }

    /// A reply to one session. It goes as natter's frame whatever the
    /// protocol: an IRC connection's writer translates it with what only
    /// that connection knows (the label its request carried).
    pub(super) fn send_session(&self, session: u64, frame: &ServerFrame) {
        if let Some(s) = self.sessions.get(&session) {
            s.outbox.send(frame);
        }
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
    pub(super) fn deliver_run(&mut self, room_id: i64, run: &[(StoredMessage, Option<Origin>)]) {
        self.messages_stored += run.len() as u64;
        self.metrics.messages.inc_by(run.len() as u64);
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        room.posted += run.len() as u64;
        let mut authors = Vec::with_capacity(run.len());
        for (msg, _) in run {
            room.last_id = room.last_id.max(msg.id);
            room.last_rev = room.last_rev.max(msg.rev);
            if let Some(root) = msg.thread {
                // The reply changed its root's summary, at the next revision
                // (see `StoredMessage::rev`).
                room.last_rev = room.last_rev.max(msg.rev + 1);
                if let Ok(i) = room.ring.binary_search_by_key(&root, |m| m.id) {
                    let held = &mut room.ring[i];
                    let count = held.replies.as_ref().map_or(0, |s| s.count);
                    held.replies = Some(natter_shared::ThreadSummary {
                        count: count + 1,
                        last_from: msg.author.to_string(),
                        last_ts: msg.ts,
                    });
                    held.rev = held.rev.max(msg.rev + 1);
                }
            }
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
                if msg.attention
                    || (!mentioned.is_empty()
                        && self
                            .users
                            .get(uid)
                            .is_some_and(|u| mentioned.iter().any(|n| **n == *u.name)))
                {
                    m.mentions += 1;
                }
            }
            // Members who block the author see the message hidden: it is
            // not unread for them. Taken back here, apart from the loop
            // above, which is the hot path and almost never has blockers.
            if let Some(blockers) = author_id.and_then(|a| self.blocked_by.get(&a)) {
                for uid in blockers {
                    if let Some(m) = room.members.get_mut(uid)
                        && msg.id > m.last_read
                    {
                        m.unread = m.unread.saturating_sub(1);
                        if msg.attention
                            || self
                                .users
                                .get(uid)
                                .is_some_and(|u| mentioned.iter().any(|n| **n == *u.name))
                        {
                            m.mentions = m.mentions.saturating_sub(1);
                        }
                    }
                }
            }
            authors.push(author_id);
        }
        let room = &self.rooms[&room_id];
        for ((msg, origin), author) in run.iter().zip(&authors) {
            if let Some(origin) = origin
                && let Some(author) = author
            {
                self.metrics
                    .send_seconds
                    .observe(origin.received.elapsed().as_secs_f64());
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
            let wire = |item: &(StoredMessage, Option<Origin>), nonce| {
                let mut m = item.0.to_wire(name.clone());
                m.nonce = nonce;
                Outgoing::new(Event::Message(m))
            };
            let everyone = Run::new(run.iter().map(|item| wire(item, None)).collect());
            // The senders' own copies, for messages sent with a nonce: the
            // same run with their messages carrying it.
            let mut own: IdMap<i64, Run> = IdMap::default();
            for (i, (item, author)) in run.iter().zip(&authors).enumerate() {
                if let (Some(nonce), Some(author)) = (nonce_of(item), author) {
                    let mine = own.entry(*author).or_insert_with(|| {
                        Run::new(run.iter().map(|item| wire(item, None)).collect())
                    });
                    mine.outgoing[i] = wire(item, Some(nonce));
                }
            }
            let mut reached = 0u64;
            for user in room.members.keys() {
                let frames = own.get(user).unwrap_or(&everyone);
                if let Some(u) = self.users.get(user) {
                    for sid in &u.sessions {
                        if let Some(s) = self.sessions.get(sid) {
                            s.outbox.push_many(frames.frames(s.protocol));
                            reached += 1;
                        }
                    }
                }
            }
            // Counted once per run, not per delivery: the loop above is
            // the hot path.
            self.metrics.deliveries.inc_by(reached * run.len() as u64);
            #[allow(clippy::cast_precision_loss)] // member counts are small
            self.metrics.fanout.observe(room.members.len() as f64);
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
}

#[cfg(test)]
mod tests {
    use natter_shared::{Event, Response, ServerFrame};

    use crate::hub::testkit::*;

    #[test]
    fn every_session_of_every_member_gets_the_message_and_only_the_sender_its_nonce() {
        let mut hub = hub(100);
        ann_and_bob(&mut hub);
        let ann1 = login(&mut hub, 10, 1, "ann");
        let ann2 = login(&mut hub, 11, 1, "ann");
        let bob = login(&mut hub, 20, 2, "bob");
        for o in [&ann1, &ann2, &bob] {
            frames(o);
        }
        deliver(&mut hub, stored(5, GENERAL, "ann", "hi"), 10, Some("n-1"));
        // The sending session: Sent (with the nonce) before the message.
        match &frames(&ann1)[..] {
            [
                ServerFrame::Ok {
                    res: Response::Sent { id: 5, nonce, .. },
                    ..
                },
                ServerFrame::Event(Event::Message(m)),
            ] => {
                assert_eq!(nonce.as_deref(), Some("n-1"));
                assert_eq!(m.nonce.as_deref(), Some("n-1"));
            }
            other => panic!("{other:?}"),
        }
        // The sender's other session: the message with the nonce, no Sent.
        match &events(&ann2)[..] {
            [Event::Message(m)] => assert_eq!(m.nonce.as_deref(), Some("n-1")),
            other => panic!("{other:?}"),
        }
        // Everyone else: no nonce.
        match &events(&bob)[..] {
            [Event::Message(m)] => {
                assert_eq!((m.id, m.nonce.as_deref()), (5, None));
                assert_eq!(m.room, "#general");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_batch_tells_each_sender() {
        let mut hub = hub(100);
        let ann = login(&mut hub, 10, 1, "ann");
        frames(&ann);
        hub.fail_sends(&[crate::store::Origin {
            session: 10,
            request: 7,
            nonce: None,
            received: std::time::Instant::now(),
        }]);
        assert!(matches!(
            &frames(&ann)[..],
            [ServerFrame::Err { id: 7, err }] if err.code == natter_shared::ErrorCode::Internal
        ));
    }
}
