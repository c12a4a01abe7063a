//! Read receipts and delivery: who may see whose read marker, the
//! `Receipt` events a moving marker sends, `Readers` ("who has seen
//! this?"), a direct conversation's `Delivered`, and sharing turned off.
//!
//! The rule, one function ([`Hub::sees_marker`]): you see a member's marker
//! when you both share receipts and neither of you blocks the other. Events
//! go out only in direct conversations and in rooms of up to
//! `limits.receipts_max_members`; larger rooms answer `Readers` alone, so a
//! busy room does not multiply every read by its member count.

use super::{
    ErrorCode, ErrorReply, Event, Hub, MessageId, Reply, Response, StoreChange, err, event,
};
use natter_shared::Reader;

impl Hub {
    /// Remembers, at start-up, who does not share receipts.
    pub fn load_receipts_off(&mut self, users: impl IntoIterator<Item = i64>) {
        self.receipts_off.extend(users);
    }

    /// Whether `viewer` may see `member`'s read marker.
    fn sees_marker(&self, viewer: i64, member: i64) -> bool {
        viewer != member
            && !self.receipts_off.contains(&viewer)
            && !self.receipts_off.contains(&member)
            && !self.blocks(viewer, member)
            && !self.blocks(member, viewer)
    }

    /// Whether room `room_id` sends receipts as events.
    fn pushes_receipts(&self, room_id: i64) -> bool {
        self.rooms.get(&room_id).is_some_and(|r| {
            r.direct.is_some()
                || r.members.len() <= self.config.limits.receipts_max_members as usize
        })
    }

    /// Tells the members who may see it that `user` has read `room_id` up
    /// to `id` (called once the marker moved).
    pub(super) fn announce_receipt(&self, room_id: i64, user: i64, id: MessageId) {
        if self.receipts_off.contains(&user) || !self.pushes_receipts(room_id) {
            return;
        }
        let room = &self.rooms[&room_id];
        let name = self.user_name(user).to_string();
        for &viewer in room.members.keys() {
            if self.sees_marker(viewer, user)
                && let Some(f) = event(Event::Receipt {
                    room: self.display(room, viewer),
                    user: name.clone(),
                    id,
                })
            {
                self.send_user(viewer, &f);
            }
        }
    }

    /// `Readers`: the members whose markers you may see, by name, and
    /// where they are; with `id`, those who have read up to it. In a direct
    /// conversation also how far your messages were delivered.
    ///
    /// # Errors
    /// As for reading the room; `forbidden` when you do not share yours.
    pub fn readers(&self, session: u64, target: &str, id: Option<MessageId>) -> Reply {
        let user = self.logged_in(session)?;
        let room = self.member_room(user, target)?;
        if self.receipts_off.contains(&user) {
            return Err(err(
                ErrorCode::Forbidden,
                "you do not share read receipts, so you see nobody's; turn them on to see them",
            ));
        }
        let mut readers: Vec<Reader> = room
            .members
            .iter()
            .filter(|(uid, m)| {
                self.sees_marker(user, **uid) && id.is_none_or(|id| m.last_read >= id)
            })
            .map(|(uid, m)| Reader {
                user: self.user_name(*uid).to_string(),
                read: m.last_read,
            })
            .collect();
        readers.sort_by(|a, b| a.user.cmp(&b.user));
        let delivered = room.direct.and_then(|(a, b)| {
            let other = if a == user { b } else { a };
            room.members.get(&other).map(|m| m.delivered)
        });
        Ok(Response::Readers {
            room: self.display(room, user),
            readers,
            delivered,
        })
    }

    /// `Received`: your client holds a direct conversation up to `id`, so
    /// the other person sees their messages delivered. In rooms it changes
    /// nothing (delivery is shown in direct conversations only). Delivery
    /// is no read receipt: it is sent whoever shares what.
    ///
    /// # Errors
    /// As for reading the room.
    pub fn received(
        &mut self,
        session: u64,
        target: &str,
        id: MessageId,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let room = self.member_room(user, target)?;
        let Some((a, b)) = room.direct else {
            return Ok((Response::Done, None));
        };
        let room_id = room.id;
        let id = id.min(room.last_id);
        let other = if a == user { b } else { a };
        let Some(m) = self
            .rooms
            .get_mut(&room_id)
            .and_then(|r| r.members.get_mut(&user))
        else {
            return Ok((Response::Done, None));
        };
        if id <= m.delivered {
            return Ok((Response::Done, None));
        }
        m.delivered = id;
        let room = &self.rooms[&room_id];
        if let Some(f) = event(Event::Delivered {
            room: self.display(room, other),
            id,
        }) {
            self.send_user(other, &f);
        }
        Ok((
            Response::Done,
            Some(StoreChange::Delivered {
                room: room_id,
                user,
                id,
            }),
        ))
    }

    /// `ShareReceipts`: turns sharing yours on or off (`None` asks).
    ///
    /// # Errors
    /// `not_logged_in`.
    pub fn share_receipts(
        &mut self,
        session: u64,
        share: Option<bool>,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let now = !self.receipts_off.contains(&user);
        let change = match share {
            Some(share) if share != now => {
                if share {
                    self.receipts_off.remove(&user);
                } else {
                    self.receipts_off.insert(user);
                }
                Some(StoreChange::Receipts { user, share })
            }
            _ => None,
        };
        Ok((
            Response::SharingReceipts {
                share: share.unwrap_or(now),
            },
            change,
        ))
    }
}

#[cfg(test)]
mod tests {
    use natter_shared::{Event, Response, Role, RoomKind};

    use crate::hub::testkit::*;

    fn receipts(events: &[Event]) -> Vec<(String, String, u64)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Receipt { room, user, id } => Some((room.clone(), user.clone(), *id)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn markers_reach_those_who_share_in_small_rooms_only() {
        let mut hub = hub(100);
        let mut config = (*hub.config).clone();
        config.limits.receipts_max_members = 2;
        hub.config = std::sync::Arc::new(config);
        ann_and_bob(&mut hub);
        room(
            &mut hub,
            7,
            "big",
            RoomKind::Public,
            &[
                (1, "ann", Role::Member),
                (2, "bob", Role::Member),
                (3, "cy", Role::Member),
            ],
        );
        let ann = login(&mut hub, 10, 1, "ann");
        let bob = login(&mut hub, 20, 2, "bob");
        for id in 1..=3 {
            deliver(&mut hub, stored(id, GENERAL, "ann", "hi"), 10, None);
        }
        deliver(&mut hub, stored(4, 7, "ann", "hi"), 10, None);
        events(&ann);
        events(&bob);
        hub.mark_read(20, "#general", 2).unwrap();
        assert_eq!(
            receipts(&events(&ann)),
            [("#general".into(), "bob".into(), 2)]
        );
        // Bob's own sessions hear `Read`, not a receipt.
        assert!(receipts(&events(&bob)).is_empty());
        let Ok(Response::Readers {
            readers, delivered, ..
        }) = hub.readers(10, "#general", Some(2))
        else {
            panic!("readers")
        };
        assert_eq!((readers.len(), readers[0].read, delivered), (1, 2, None));
        // Too many members for events: Readers still answers.
        hub.mark_read(20, "#big", 4).unwrap();
        assert!(receipts(&events(&ann)).is_empty());
        let Ok(Response::Readers { readers, .. }) = hub.readers(10, "#big", Some(4)) else {
            panic!("readers")
        };
        assert_eq!(readers.len(), 1);
        // Ann stops sharing: she sees nobody's and nobody sees hers.
        hub.share_receipts(10, Some(false)).unwrap();
        hub.mark_read(20, "#general", 3).unwrap();
        hub.mark_read(10, "#general", 3).unwrap();
        assert!(receipts(&events(&ann)).is_empty());
        assert!(receipts(&events(&bob)).is_empty());
        assert!(hub.readers(10, "#general", None).is_err());
        let Ok(Response::Readers { readers, .. }) = hub.readers(20, "#general", None) else {
            panic!("readers")
        };
        assert!(readers.is_empty());
    }
}
