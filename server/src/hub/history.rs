//! History: pages answered from each room's ring of newest messages when
//! it covers them; otherwise a plan for the store to read.

use super::{
    ErrorCode, ErrorReply, HistoryPlan, HistoryQuery, Hub, MessageId, Response, StoredMessage,
    Target, changes::no_such_message, err,
};
use crate::store::rich::RichPage;

impl Hub {
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
        let page = match (q.since, q.around, q.thread) {
            (None, None, None) => None,
            (Some(rev), None, None) if q.before.is_none() && q.after.is_none() => {
                Some(RichPage::Since(rev))
            }
            (None, Some(id), None) if q.before.is_none() && q.after.is_none() => {
                Some(RichPage::Around(id))
            }
            (None, None, Some(root)) => Some(RichPage::Thread {
                root,
                before: q.before,
                after: q.after,
            }),
            _ => {
                return Err(err(
                    ErrorCode::Invalid,
                    "give one of since, around and thread (only thread pages take before or after)",
                ));
            }
        };
        let max = self.config.history.max_page as usize;
        let limit = match q.limit as usize {
            0 => max,
            n => n.min(max),
        };
        if self.find(user, target)?.is_none() {
            if matches!(page, Some(RichPage::Around(_) | RichPage::Thread { .. })) {
                return Err(no_such_message());
            }
            // A direct conversation not started yet has no history.
            let room = Target::parse(target)
                .map(|t| t.display())
                .unwrap_or_default();
            return Ok(HistoryPlan::Ready(Response::Messages {
                room,
                messages: Vec::new(),
                more: false,
                rev: 0,
            }));
        }
        let room = self.member_room(user, target)?;
        let name = self.display(room, user);
        if let Some(page) = page {
            return Ok(HistoryPlan::Rich {
                room_id: room.id,
                room: name,
                page,
                limit,
            });
        }
        let wire = |m: &StoredMessage| m.to_wire(name.clone());
        // Pages of the room leave thread replies to their thread's page.
        let top = |m: &&StoredMessage| m.thread.is_none();
        if let Some(after) = q.after {
            if after >= room.floor {
                let newer: Vec<&StoredMessage> = room
                    .ring
                    .iter()
                    .filter(|m| m.id > after)
                    .filter(top)
                    .collect();
                let more = newer.len() > limit;
                let messages = newer.into_iter().take(limit).map(wire).collect();
                return Ok(HistoryPlan::Ready(Response::Messages {
                    room: name.clone(),
                    messages,
                    more,
                    rev: room.last_rev,
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
        let older: Vec<&StoredMessage> = room
            .ring
            .iter()
            .filter(|m| m.id < before)
            .filter(top)
            .collect();
        if older.len() >= limit || room.floor == 0 {
            let more = older.len() > limit || room.floor > 0;
            let skip = older.len().saturating_sub(limit);
            let messages = older.into_iter().skip(skip).map(wire).collect();
            return Ok(HistoryPlan::Ready(Response::Messages {
                room: name.clone(),
                messages,
                more,
                rev: room.last_rev,
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
}

#[cfg(test)]
mod tests {
    use natter_shared::{HistoryQuery, Response, Role, RoomKind};

    use crate::hub::HistoryPlan;
    use crate::hub::testkit::*;

    fn ids(plan: HistoryPlan) -> (Vec<u64>, bool) {
        match plan {
            HistoryPlan::Ready(Response::Messages { messages, more, .. }) => {
                (messages.iter().map(|m| m.id).collect(), more)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pages_come_from_the_ring_until_it_runs_out_then_from_the_store() {
        let mut hub = hub(5);
        room(
            &mut hub,
            GENERAL,
            "general",
            RoomKind::Public,
            &[(1, "ann", Role::Member)],
        );
        login(&mut hub, 10, 1, "ann");
        for id in 1..=8 {
            deliver(&mut hub, stored(id, GENERAL, "ann", "x"), 10, None);
        }
        let q = |before, after, limit| HistoryQuery {
            before,
            after,
            limit,
            ..Default::default()
        };
        // The ring keeps the newest five: 4..=8.
        assert_eq!(
            ids(hub.plan_history(10, "#general", q(None, None, 3)).unwrap()),
            (vec![6, 7, 8], true)
        );
        assert_eq!(
            ids(hub
                .plan_history(10, "#general", q(None, Some(6), 10))
                .unwrap()),
            (vec![7, 8], false)
        );
        // Older than the ring: the store answers.
        assert!(matches!(
            hub.plan_history(10, "#general", q(Some(5), None, 3))
                .unwrap(),
            HistoryPlan::Disk {
                before: Some(5),
                limit: 3,
                ..
            }
        ));
        assert!(matches!(
            hub.plan_history(10, "#general", q(None, Some(1), 3))
                .unwrap(),
            HistoryPlan::Disk { after: Some(1), .. }
        ));
        assert!(
            hub.plan_history(10, "#general", q(Some(5), Some(1), 3))
                .is_err()
        );
    }
}
