//! Profiles: display names and `whois`.
//!
//! A display name is decoration: the account name stays the identity
//! (mentions, blocks, direct messages), so a display name changes nothing
//! but what clients show beside the name. It reaches what presence reaches,
//! and is held back where presence is: the user's own sessions and everyone
//! sharing a room with them hear of a change, except those who block them,
//! who see neither their presence nor their display name.
//!
//! `whois` shows one user as the asker sees them: the visible presence, the
//! rooms both are in (never one the asker is not in), and the idle time,
//! counted from the last message the hub accepted from them.

use std::sync::Arc;
use std::time::Instant;

use natter_shared::UserInfo;

use super::{
    ErrorCode, ErrorReply, Event, Hub, PresenceState, Reply, Response, StoreChange, err, event,
};
use crate::store::profile::ProfileRow;

impl Hub {
    /// Installs the display names read at start-up, after the rooms.
    pub fn load_profiles(&mut self, profiles: impl IntoIterator<Item = ProfileRow>) {
        for p in profiles {
            self.ensure_user(p.user, &p.name, p.admin);
            if let Some(u) = self.users.get_mut(&p.user) {
                u.display_name = Some(Arc::from(p.display_name));
            }
        }
    }

    /// `user`'s display name as `viewer` may see it: none for someone
    /// `viewer` blocks, as their presence is hidden.
    pub(super) fn display_name_for(&self, viewer: i64, user: i64) -> Option<String> {
        if viewer != user && self.blocks(viewer, user) {
            return None;
        }
        self.users
            .get(&user)
            .and_then(|u| u.display_name.as_deref())
            .map(str::to_owned)
    }

    /// Sets (or clears, `None`) the session's user's display name, already
    /// checked by the caller, and tells those who may see it. Setting the
    /// name it already has changes and announces nothing.
    ///
    /// # Errors
    /// `not_logged_in`.
    pub fn set_display_name(
        &mut self,
        session: u64,
        display_name: Option<String>,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let Some(u) = self.users.get_mut(&user) else {
            return Err(err(ErrorCode::NotLoggedIn, "log in first"));
        };
        if u.display_name.as_deref() == display_name.as_deref() {
            return Ok((Response::Done, None));
        }
        u.display_name = display_name.as_deref().map(Arc::from);
        if let Some(f) = event(Event::Profile {
            user: u.name.to_string(),
            display_name: display_name.clone(),
        }) {
            self.send_user(user, &f);
            self.send_co_members(user, &f);
        }
        Ok((
            Response::Done,
            Some(StoreChange::Profile { user, display_name }),
        ))
    }

    /// `target` as the session's user sees them, at `now`.
    ///
    /// Someone the asker blocks looks offline, with no status, display
    /// name or idle time, as in `members`. Someone who blocks the asker
    /// shows no idle time; their presence shows as it does everywhere else
    /// to the asker, so the answer never tells them of the block (no idle
    /// time is also what someone has who has not written since the server
    /// started).
    ///
    /// # Errors
    /// `not_logged_in`; `no_such_user` for a user the hub does not know.
    pub fn whois(&self, session: u64, target: i64, now: Instant) -> Reply {
        let me = self.logged_in(session)?;
        let (Some(mine), Some(theirs)) = (self.users.get(&me), self.users.get(&target)) else {
            return Err(err(ErrorCode::NoSuchUser, "no such user"));
        };
        let hidden = me != target && self.blocks(me, target);
        let (presence, status) = if me == target {
            self.own_presence(me)
        } else if hidden {
            (PresenceState::Offline, None)
        } else {
            self.visible_presence(target)
        };
        let idle_secs = theirs
            .last_sent
            .filter(|_| presence.availability() > 0 && !self.blocks(target, me))
            .map(|at| now.saturating_duration_since(at).as_secs());
        let mut rooms: Vec<String> = theirs
            .rooms
            .iter()
            .filter(|r| mine.rooms.contains(r))
            .filter_map(|r| self.rooms.get(r))
            .filter(|r| r.direct.is_none() && r.members.contains_key(&me))
            .map(|r| format!("#{}", r.name))
            .collect();
        rooms.sort();
        Ok(Response::Whois(UserInfo {
            name: theirs.name.to_string(),
            display_name: self.display_name_for(me, target),
            presence,
            status,
            rooms,
            idle_secs,
            bot: self.bots.contains(&target),
            guest: self.guests.contains(&target),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use natter_shared::{Event, PresenceState, Response, Role, RoomKind, UserInfo};

    use crate::hub::testkit::*;
    use crate::store::StoreChange;

    fn whois(hub: &crate::hub::Hub, session: u64, target: i64, now: Instant) -> UserInfo {
        match hub.whois(session, target, now).unwrap() {
            Response::Whois(info) => info,
            other => panic!("{other:?}"),
        }
    }

    fn profiles(events: Vec<Event>) -> Vec<(String, Option<String>)> {
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Profile { user, display_name } => Some((user, display_name)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_display_name_reaches_co_members_but_not_blockers_and_is_persisted() {
        let mut hub = hub(100);
        room(
            &mut hub,
            GENERAL,
            "general",
            RoomKind::Public,
            &[
                (1, "ann", Role::Member),
                (2, "bob", Role::Member),
                (3, "cy", Role::Member),
            ],
        );
        room(
            &mut hub,
            2,
            "elsewhere",
            RoomKind::Public,
            &[(4, "dee", Role::Member)],
        );
        let ann = login(&mut hub, 10, 1, "ann");
        let bob = login(&mut hub, 20, 2, "bob");
        let cy = login(&mut hub, 30, 3, "cy");
        let dee = login(&mut hub, 40, 4, "dee");
        hub.block(3, 1);
        for o in [&ann, &bob, &cy, &dee] {
            events(o);
        }
        let (_, change) = hub.set_display_name(10, Some("Ann Smith".into())).unwrap();
        assert!(matches!(
            change,
            Some(StoreChange::Profile { user: 1, display_name: Some(ref n) }) if n == "Ann Smith"
        ));
        let told = vec![("ann".to_owned(), Some("Ann Smith".to_owned()))];
        assert_eq!(profiles(events(&ann)), told, "her own sessions");
        assert_eq!(profiles(events(&bob)), told, "a co-member");
        assert!(profiles(events(&cy)).is_empty(), "cy blocks her");
        assert!(profiles(events(&dee)).is_empty(), "dee shares no room");
        // The same name again is no change.
        let (_, change) = hub.set_display_name(10, Some("Ann Smith".into())).unwrap();
        assert!(change.is_none());
        assert!(profiles(events(&bob)).is_empty());
        // The member list carries it, except to cy.
        let shown = |hub: &crate::hub::Hub, session| match hub.members(session, "#general") {
            Ok(Response::Members { members, .. }) => {
                members
                    .into_iter()
                    .find(|m| m.name == "ann")
                    .unwrap()
                    .display_name
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(shown(&hub, 20).as_deref(), Some("Ann Smith"));
        assert_eq!(shown(&hub, 30), None);
        hub.set_display_name(10, None).unwrap();
        assert_eq!(profiles(events(&bob)), [("ann".to_owned(), None)]);
        assert_eq!(shown(&hub, 20), None);
    }

    #[test]
    fn idle_time_counts_from_the_last_message_and_hides_when_offline() {
        let mut hub = hub(100);
        ann_and_bob(&mut hub);
        login(&mut hub, 10, 1, "ann");
        login(&mut hub, 20, 2, "bob");
        assert_eq!(whois(&hub, 20, 1, Instant::now()).idle_secs, None);
        hub.plan_send(10, 1, "#general", "hi".into(), false, None, false)
            .unwrap();
        let later = Instant::now() + Duration::from_secs(303);
        let info = whois(&hub, 20, 1, later);
        assert_eq!(info.idle_secs, Some(303));
        assert_eq!(info.rooms, ["#general"]);
        assert_eq!(info.presence, PresenceState::Online);
        // Invisible: offline, no idle time.
        hub.set_presence(10, PresenceState::Invisible, None)
            .unwrap();
        let info = whois(&hub, 20, 1, later);
        assert_eq!(
            (info.presence, info.idle_secs),
            (PresenceState::Offline, None)
        );
        // She still sees herself.
        assert_eq!(whois(&hub, 10, 1, later).presence, PresenceState::Invisible);
        hub.set_presence(10, PresenceState::Away, Some("lunch".into()))
            .unwrap();
        assert_eq!(whois(&hub, 20, 1, later).idle_secs, Some(303));
        // Blocked by her, bob sees her away but no idle time; blocking
        // her, he sees her offline.
        hub.block(1, 2);
        let info = whois(&hub, 20, 1, later);
        assert_eq!((info.presence, info.idle_secs), (PresenceState::Away, None));
        hub.unblock(1, 2);
        hub.block(2, 1);
        let info = whois(&hub, 20, 1, later);
        assert_eq!(
            (info.presence, info.status, info.idle_secs),
            (PresenceState::Offline, None, None)
        );
    }
}
