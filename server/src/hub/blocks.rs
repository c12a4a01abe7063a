//! Blocking: who blocks whom, held for every user (so that a message to
//! someone offline is refused too), and the rules it brings. A blocked
//! user's direct messages are refused as if the blocker did not exist,
//! and their typing and presence no longer reach the blocker. Their
//! messages in shared rooms still arrive: clients hide them, so that a
//! conversation stays readable around the gap. The blocked user is never
//! told. Their messages do not count as unread for the blocker either.

use super::{ErrorCode, ErrorReply, Hub, IdSet, err};

impl Hub {
    /// Installs the blocks read at start-up, before the rooms: the blocked
    /// accounts become known first, so their messages are left out of the
    /// blockers' unread counts whichever room loads first.
    pub fn load_blocks(
        &mut self,
        blocks: impl IntoIterator<Item = crate::store::safety::BlockRow>,
    ) {
        for b in blocks {
            self.ensure_user(b.blocked, &b.blocked_name, b.blocked_admin);
            self.block(b.user, b.blocked);
        }
    }

    /// `user` now blocks `other`.
    pub fn block(&mut self, user: i64, other: i64) {
        self.blocking.entry(user).or_default().insert(other);
        self.blocked_by.entry(other).or_default().insert(user);
    }

    /// `user` no longer blocks `other`.
    pub fn unblock(&mut self, user: i64, other: i64) {
        if let Some(set) = self.blocking.get_mut(&user) {
            set.remove(&other);
            if set.is_empty() {
                self.blocking.remove(&user);
            }
        }
        if let Some(set) = self.blocked_by.get_mut(&other) {
            set.remove(&user);
            if set.is_empty() {
                self.blocked_by.remove(&other);
            }
        }
    }

    /// Whether `user` blocks `other`.
    #[must_use]
    pub fn blocks(&self, user: i64, other: i64) -> bool {
        self.blocking.get(&user).is_some_and(|s| s.contains(&other))
    }

    /// The names of the users `user` blocks (those the hub knows): their
    /// messages do not count as unread for `user`.
    pub(super) fn blocked_names(&self, user: i64) -> Vec<std::sync::Arc<str>> {
        self.blocking.get(&user).map_or_else(Vec::new, |set| {
            set.iter()
                .filter_map(|id| self.users.get(id).map(|u| std::sync::Arc::clone(&u.name)))
                .collect()
        })
    }

    /// The users who block `user`: they get none of `user`'s typing or
    /// presence.
    pub(super) fn blockers_of(&self, user: i64) -> Option<&IdSet<i64>> {
        self.blocked_by.get(&user)
    }

    /// Refuses a direct message or conversation between `user` and
    /// `other` when either blocks the other: to the blocked one exactly as
    /// for a name nobody has, to the blocker with the reason.
    pub(super) fn check_direct(&self, user: i64, other: i64, name: &str) -> Result<(), ErrorReply> {
        if self.blocks(other, user) {
            return Err(err(ErrorCode::NoSuchUser, format!("no such user: {name}")));
        }
        if self.blocks(user, other) {
            return Err(err(
                ErrorCode::Invalid,
                format!("you block {name}; unblock them first"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use natter_shared::{ErrorCode, Event, PresenceState};

    use crate::hub::testkit::*;

    #[test]
    fn a_blocked_user_cannot_write_and_is_not_seen_typing_or_changing_presence() {
        let mut hub = hub(100);
        ann_and_bob(&mut hub);
        let ann = login(&mut hub, 10, 1, "ann");
        login(&mut hub, 20, 2, "bob");
        hub.block(1, 2);
        // Bob's direct message fails as for a name nobody has.
        let e = hub
            .plan_send(20, 1, "@ann", "hi".into(), false, None, false)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::NoSuchUser);
        assert_eq!(e.message, "no such user: ann");
        // Ann is told why she cannot write to him.
        let e = hub
            .plan_send(10, 1, "@bob", "hi".into(), false, None, false)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Invalid);
        events(&ann);
        hub.typing(20, "#general", true).unwrap();
        hub.flush_presence(std::time::Instant::now() + std::time::Duration::from_mins(1));
        hub.set_presence(20, PresenceState::Away, None).unwrap();
        let seen = events(&ann);
        assert!(
            !seen
                .iter()
                .any(|e| matches!(e, Event::Typing { .. } | Event::Presence { .. })),
            "{seen:?}"
        );
        // Opening a conversation with him would tell him: refused.
        let e = hub.direct_peer_id(10, "@bob").unwrap_err();
        assert_eq!(e.code, ErrorCode::Invalid);
        // Unblocked, all is as before.
        hub.unblock(1, 2);
        hub.plan_send(20, 2, "@ann", "hi".into(), false, None, false)
            .unwrap();
    }
}
