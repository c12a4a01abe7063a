//! Unread and mention counts and read markers: counted as messages are
//! delivered, recounted from the ring when a marker moves, or from the
//! store (see `ops::markers`) when the marker is older than the ring.

use super::{
    ErrorReply, Event, Hub, MessageId, Response, StoreChange, event, no_such_room, ring_counts,
};

impl Hub {
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
        let blocked = self.blocked_names(user);
        let in_memory = (id >= room.floor).then(|| ring_counts(room, id, &name, &blocked));
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
        self.announce_receipt(room_id, user, id);
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

    pub(super) fn announce_counts(&self, room_id: i64, user: i64) {
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
}

#[cfg(test)]
mod tests {
    use natter_shared::Event;

    use crate::hub::testkit::*;

    fn counts(hub: &crate::hub::Hub, user: i64) -> (u32, u32) {
        let m = &hub.rooms[&GENERAL].members[&user];
        (m.unread, m.mentions)
    }

    #[test]
    fn others_messages_count_and_mentions_count_twice_and_reading_clears() {
        let mut hub = hub(100);
        ann_and_bob(&mut hub);
        login(&mut hub, 10, 1, "ann");
        let bob = login(&mut hub, 20, 2, "bob");
        deliver(&mut hub, stored(1, GENERAL, "ann", "hello"), 10, None);
        deliver(&mut hub, stored(2, GENERAL, "ann", "@bob look"), 10, None);
        deliver(&mut hub, stored(3, GENERAL, "bob", "mine"), 20, None);
        assert_eq!(counts(&hub, 2), (2, 1));
        assert_eq!(counts(&hub, 1), (1, 0));
        events(&bob);
        // Reading up to 1 leaves the mention; the marker only moves forward.
        let (_, change, recount) = hub.mark_read(20, "#general", 1).unwrap();
        assert!(change.is_some() && !recount);
        assert_eq!(counts(&hub, 2), (1, 1));
        assert!(hub.mark_read(20, "#general", 1).unwrap().1.is_none());
        assert!(events(&bob).iter().any(|e| matches!(
            e,
            Event::Unread {
                unread: 1,
                mentions: 1,
                ..
            }
        )));
        hub.mark_read(20, "#general", 3).unwrap();
        assert_eq!(counts(&hub, 2), (0, 0));
    }
}
