//! Presence: each session sets its own; others see the most available
//! state over a user's sessions, and an invisible user as offline.

use super::{ErrorCode, Event, Hub, IdSet, PresenceState, Reply, Response, err, event, rank};

impl Hub {
    /// What others see of a user: the most available state over their
    /// sessions; invisible and absent users are offline.
    pub(super) fn visible_presence(&self, user: i64) -> (PresenceState, Option<String>) {
        let Some(u) = self.users.get(&user) else {
            return (PresenceState::Offline, None);
        };
        let best = u
            .sessions
            .iter()
            .filter_map(|s| self.sessions.get(s))
            .filter(|s| rank(s.presence) > 0)
            .max_by_key(|s| (rank(s.presence), s.stamp));
        match best {
            Some(s) => (s.presence, s.status.clone()),
            None => (PresenceState::Offline, None),
        }
    }

    /// Sets a session's presence.
    pub fn set_presence(
        &mut self,
        session: u64,
        state: PresenceState,
        status: Option<String>,
    ) -> Reply {
        let user = self.logged_in(session)?;
        if state == PresenceState::Unknown {
            return Err(err(ErrorCode::Invalid, "no such presence state"));
        }
        if state == PresenceState::Offline {
            return Err(err(
                ErrorCode::Invalid,
                "offline is not a state you can set; use invisible",
            ));
        }
        let before = self.visible_presence(user);
        self.presence_stamp += 1;
        let stamp = self.presence_stamp;
        if let Some(s) = self.sessions.get_mut(&session) {
            s.presence = state;
            s.status = status
                .map(|t| t.chars().take(200).collect::<String>())
                .filter(|t| !t.trim().is_empty());
            s.stamp = stamp;
        }
        self.announce_presence_if_changed(user, &before);
        // The user's own sessions always learn their own state, including
        // invisible, which others never see.
        let own = self.own_presence(user);
        if let Some(f) = event(Event::Presence {
            user: self.user_name(user).to_string(),
            state: own.0,
            status: own.1,
        }) {
            self.send_user(user, &f);
        }
        Ok(Response::Done)
    }

    pub(super) fn own_presence(&self, user: i64) -> (PresenceState, Option<String>) {
        let visible = self.visible_presence(user);
        let has_sessions = self
            .users
            .get(&user)
            .is_some_and(|u| !u.sessions.is_empty());
        if visible.0 == PresenceState::Offline && has_sessions {
            (PresenceState::Invisible, None)
        } else {
            visible
        }
    }

    pub(super) fn announce_presence_if_changed(
        &self,
        user: i64,
        before: &(PresenceState, Option<String>),
    ) {
        let now = self.visible_presence(user);
        if now == *before {
            return;
        }
        let Some(f) = event(Event::Presence {
            user: self.user_name(user).to_string(),
            state: now.0,
            status: now.1,
        }) else {
            return;
        };
        let mut seen = IdSet::default();
        if let Some(u) = self.users.get(&user) {
            for r in &u.rooms {
                if let Some(room) = self.rooms.get(r) {
                    for m in room.members.keys() {
                        if *m != user && seen.insert(*m) {
                            self.send_user(*m, &f);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use natter_shared::{Event, PresenceState};

    use crate::hub::testkit::*;

    #[test]
    fn others_see_the_most_available_session_and_never_invisible() {
        let mut hub = hub(100);
        ann_and_bob(&mut hub);
        let bob = login(&mut hub, 20, 2, "bob");
        login(&mut hub, 10, 1, "ann");
        login(&mut hub, 11, 1, "ann");
        hub.set_presence(10, PresenceState::Away, Some("lunch".into()))
            .unwrap();
        assert_eq!(hub.visible_presence(1).0, PresenceState::Online);
        hub.set_presence(11, PresenceState::Invisible, None)
            .unwrap();
        assert_eq!(
            hub.visible_presence(1),
            (PresenceState::Away, Some("lunch".into()))
        );
        hub.set_presence(10, PresenceState::Invisible, None)
            .unwrap();
        assert_eq!(hub.visible_presence(1).0, PresenceState::Offline);
        // Ann herself knows she is invisible; bob was told she went offline.
        assert_eq!(hub.own_presence(1).0, PresenceState::Invisible);
        let seen: Vec<PresenceState> = events(&bob)
            .into_iter()
            .filter_map(|e| match e {
                Event::Presence { user, state, .. } if user == "ann" => Some(state),
                _ => None,
            })
            .collect();
        assert_eq!(seen.last(), Some(&PresenceState::Offline));
        assert!(!seen.contains(&PresenceState::Invisible));
        assert!(hub.set_presence(10, PresenceState::Offline, None).is_err());
    }
}
