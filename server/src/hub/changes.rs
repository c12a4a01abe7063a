//! Changes to messages: who may change a message in which room, and the
//! committed changes (edits, deletes, reactions) applied to the ring of
//! newest messages and fanned out to the room, in commit order with the
//! messages around them.
//!
//! The ring holds each message as it is now, so history pages served from
//! memory never show a body that was edited or deleted. Each kind of change
//! touches its own fields, and changes arrive in revision order, so the
//! ring ends where the store does.

use std::sync::Arc;

use super::{ErrorCode, ErrorReply, Event, Hub, Role, RoomKind, err, event};
use crate::front::Outgoing;
use crate::store::{Applied, ChangeKind, MessageChange};

/// The one answer for a message id the caller may not see: in another
/// room, in a conversation of others, deleted, or never there. The same
/// text every time, so an id reveals nothing.
#[must_use]
pub fn no_such_message() -> ErrorReply {
    err(ErrorCode::NoSuchMessage, "no such message")
}

/// Where and as whom a request changes a message: the caller is a member
/// of the room.
#[derive(Debug, Clone)]
pub struct MessageScope {
    pub room_id: i64,
    pub user: i64,
    pub name: Arc<str>,
    /// Whether the caller may delete others' messages there: a moderator
    /// or owner of a group room, or a server admin.
    pub moderator: bool,
}

impl Hub {
    /// How the caller names room `room_id`, if they are a member of it:
    /// for a request that names a message by id alone.
    ///
    /// # Errors
    /// `not_logged_in`.
    pub fn member_room_name(
        &self,
        session: u64,
        room_id: Option<i64>,
    ) -> Result<Option<String>, ErrorReply> {
        let user = self.logged_in(session)?;
        Ok(room_id
            .and_then(|id| self.rooms.get(&id))
            .filter(|r| r.members.contains_key(&user))
            .map(|r| self.display(r, user)))
    }

    /// The room `target` names for a request about one of its messages.
    /// The room rule first (a room the caller may not see is missing);
    /// a direct conversation not started yet has no messages.
    ///
    /// # Errors
    /// `not_logged_in`, the room errors of [`Hub::member_room`], or
    /// `no_such_message`.
    pub fn message_scope(&self, session: u64, target: &str) -> Result<MessageScope, ErrorReply> {
        let user = self.logged_in(session)?;
        if self.find(user, target)?.is_none() {
            return Err(no_such_message());
        }
        let room = self.member_room(user, target)?;
        let moderator = room.kind != RoomKind::Direct
            && (self.is_admin(user)
                || room
                    .members
                    .get(&user)
                    .is_some_and(|m| m.role >= Role::Moderator));
        Ok(MessageScope {
            room_id: room.id,
            user,
            name: self.user_name(user),
            moderator,
        })
    }

    /// Whether the ring holds message `id` of a room, and if so whether it
    /// can be replied to (`Some(false)`: it is itself in a thread).
    #[must_use]
    pub fn held_message(&self, room_id: i64, id: u64) -> Option<bool> {
        let room = self.rooms.get(&room_id)?;
        let i = room.ring.binary_search_by_key(&id, |m| m.id).ok()?;
        Some(room.ring[i].thread.is_none())
    }

    /// The oldest message id a room's in-memory ring may hold: what is
    /// older is read from the store.
    #[must_use]
    pub fn ring_floor(&self, room_id: i64) -> Option<u64> {
        self.rooms.get(&room_id).map(|r| r.floor)
    }

    /// Applies a committed batch that changed messages: its new messages
    /// and its changes, in commit order. Consecutive changes in one room
    /// go out as one run, as a batch's messages do: a busy room's reactions
    /// would otherwise cost a hand-over (and a wake-up) per member each.
    pub fn apply(&mut self, steps: Vec<Applied>) {
        let mut run: Option<(i64, Vec<Outgoing>)> = None;
        for step in steps {
            match step {
                Applied::Messages(batch) => {
                    self.send_changes(run.take());
                    self.deliver(batch);
                }
                Applied::Change(change) => {
                    let room_id = change.message.room_id;
                    if run.as_ref().is_some_and(|(r, _)| *r != room_id) {
                        self.send_changes(run.take());
                    }
                    if let Some(out) = self.apply_change(*change) {
                        run.get_or_insert_with(|| (room_id, Vec::new())).1.push(out);
                    }
                }
            }
        }
        self.send_changes(run);
    }

    /// A run of changes to one room's members.
    fn send_changes(&self, run: Option<(i64, Vec<Outgoing>)>) {
        if let Some((room_id, outgoing)) = run
            && let Some(room) = self.rooms.get(&room_id)
        {
            self.send_room_run(room, &super::fanout::Run::new(outgoing));
        }
    }

    /// One committed change: into the ring if it holds the message; then
    /// to every member (blocks hold nothing back: clients hide what they
    /// hide): at once in a direct conversation, whose name differs per
    /// participant, else returned for the run of the room's changes.
    fn apply_change(&mut self, change: MessageChange) -> Option<Outgoing> {
        let MessageChange { message: m, kind } = change;
        let room = self.rooms.get_mut(&m.room_id)?;
        room.last_rev = room.last_rev.max(m.rev);
        if let Ok(i) = room.ring.binary_search_by_key(&m.id, |r| r.id) {
            let held = &mut room.ring[i];
            match &kind {
                ChangeKind::Edited => {
                    held.body = Arc::clone(&m.body);
                    held.edited_at = m.edited_at;
                }
                ChangeKind::Deleted { .. } => {
                    held.body = Arc::from("");
                    held.deleted = true;
                    held.reactions.clear();
                    // Its files go with it (the store lets them go too):
                    // a tombstone names none.
                    held.attachments.clear();
                }
                ChangeKind::Reaction { .. } => held.reactions.clone_from(&m.reactions),
            }
            held.rev = held.rev.max(m.rev);
        }
        let room = &self.rooms[&m.room_id];
        let make = |name| match &kind {
            ChangeKind::Edited => Event::Edited {
                room: name,
                id: m.id,
                body: m.body.to_string(),
                edited_at: m.edited_at.unwrap_or(m.ts),
                rev: m.rev,
            },
            ChangeKind::Deleted { by } => Event::Deleted {
                room: name,
                id: m.id,
                by: by.to_string(),
                rev: m.rev,
            },
            ChangeKind::Reaction { key, user, on } => Event::Reaction {
                room: name,
                id: m.id,
                key: key.clone(),
                user: user.to_string(),
                on: *on,
                rev: m.rev,
            },
        };
        if let Some((a, b)) = room.direct {
            for viewer in [a, b] {
                if let Some(f) = event(make(self.display(room, viewer))) {
                    self.send_user(viewer, &f);
                }
            }
            return None;
        }
        Some(Outgoing::new(make(format!("#{}", room.name))))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use natter_shared::{Event, HistoryQuery, Response};

    use crate::hub::HistoryPlan;
    use crate::hub::testkit::*;
    use crate::store::{Applied, ChangeKind, MessageChange};

    #[test]
    fn the_ring_never_serves_a_body_that_was_edited_or_deleted() {
        let mut hub = hub(100);
        ann_and_bob(&mut hub);
        let bob = login(&mut hub, 20, 2, "bob");
        for id in 1..=3 {
            deliver(&mut hub, stored(id, GENERAL, "ann", "first"), 20, None);
        }
        frames(&bob);
        let mut edited = stored(2, GENERAL, "ann", "second");
        edited.edited_at = Some(5);
        edited.rev = 4;
        let mut gone = stored(3, GENERAL, "ann", "");
        gone.deleted = true;
        gone.rev = 5;
        hub.apply(vec![
            Applied::Change(Box::new(MessageChange {
                message: edited,
                kind: ChangeKind::Edited,
            })),
            Applied::Change(Box::new(MessageChange {
                message: gone,
                kind: ChangeKind::Deleted {
                    by: Arc::from("ann"),
                },
            })),
        ]);
        let page = hub
            .plan_history(20, "#general", HistoryQuery::default())
            .unwrap();
        let HistoryPlan::Ready(Response::Messages { messages, rev, .. }) = page else {
            panic!("{page:?}");
        };
        assert_eq!(rev, 5);
        let bodies: Vec<(&str, bool)> = messages
            .iter()
            .map(|m| (m.body.as_str(), m.deleted))
            .collect();
        assert_eq!(bodies, [("first", false), ("second", false), ("", true)]);
        assert!(matches!(
            &events(&bob)[..],
            [
                Event::Edited { id: 2, rev: 4, .. },
                Event::Deleted { id: 3, rev: 5, .. }
            ]
        ));
    }

    #[test]
    fn a_thread_reply_updates_its_root_in_the_ring_and_stays_off_the_room_page() {
        let mut hub = hub(100);
        ann_and_bob(&mut hub);
        login(&mut hub, 20, 2, "bob");
        deliver(&mut hub, stored(1, GENERAL, "ann", "root"), 20, None);
        let mut reply = stored(2, GENERAL, "bob", "reply");
        reply.thread = Some(1);
        deliver(&mut hub, reply, 20, None);
        let page = hub
            .plan_history(20, "#general", HistoryQuery::default())
            .unwrap();
        let HistoryPlan::Ready(Response::Messages { messages, rev, .. }) = page else {
            panic!("{page:?}");
        };
        // The reply took revision 2, its root 3.
        assert_eq!(rev, 3);
        assert_eq!(messages.len(), 1);
        let root = &messages[0];
        assert_eq!(root.rev, 3);
        let summary = root.replies.as_ref().unwrap();
        assert_eq!((summary.count, summary.last_from.as_str()), (1, "bob"));
        assert_eq!(hub.held_message(GENERAL, 2), Some(false));
        assert_eq!(hub.held_message(GENERAL, 1), Some(true));
    }
}
