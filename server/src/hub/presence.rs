//! Presence: each session sets its own; others see the most available
//! state over a user's sessions, and an invisible user as offline. What
//! others see changes at most once per `limits.presence_throttle_ms` per
//! user: changes in between are coalesced, and where they ended is
//! announced when the interval ends (by [`Hub::flush_presence`]), even if
//! that is where they started (someone may have looked in between), so a
//! client
//! flipping states on ten connections costs its co-members one event a
//! second, not hundreds.

use std::time::{Duration, Instant};

use natter_shared::ErrorReply;

use super::{
    Announced, ErrorCode, Event, Hub, IdSet, PresenceState, Reply, Response, err, event, rank,
};

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
        settable(state)?;
        let before = self.visible_presence(user);
        self.presence_stamp += 1;
        let stamp = self.presence_stamp;
        if let Some(s) = self.sessions.get_mut(&session) {
            s.presence = state;
            s.status = clean_status(status);
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

    /// The presence and status of the user's most recently changed
    /// session: what a new session of theirs starts with.
    pub(super) fn latest_presence(&self, user: i64) -> (PresenceState, Option<String>) {
        self.users
            .get(&user)
            .and_then(|u| {
                u.sessions
                    .iter()
                    .filter_map(|s| self.sessions.get(s))
                    .max_by_key(|s| s.stamp)
            })
            .map_or((PresenceState::Online, None), |s| {
                (s.presence, s.status.clone())
            })
    }

    /// Tells the user's co-members what they now see of the user, if it
    /// differs from what they were last told: at once, or when the
    /// throttle interval since the last announcement ends.
    pub(super) fn announce_presence_if_changed(
        &mut self,
        user: i64,
        before: &(PresenceState, Option<String>),
    ) {
        let state = self.visible_presence(user);
        let now = Instant::now();
        let throttle = Duration::from_millis(self.config.limits.presence_throttle_ms);
        let last = self.announced.entry(user).or_insert_with(|| Announced {
            state: before.clone(),
            at: now.checked_sub(throttle).unwrap_or(now),
            pending: false,
        });
        if last.state == state && !last.pending {
            return;
        }
        if now.duration_since(last.at) < throttle {
            // Even back where it was last announced, it stays pending:
            // someone may have read the state in between (`members`), and
            // the flush tells everyone where it ended.
            last.pending = true;
            return;
        }
        *last = Announced {
            state: state.clone(),
            at: now,
            pending: false,
        };
        self.broadcast_presence(user, state);
    }

    /// Announces the changes held back by the throttle whose interval is
    /// over, and forgets users whose last announcement is old news.
    pub fn flush_presence(&mut self, now: Instant) {
        let throttle = Duration::from_millis(self.config.limits.presence_throttle_ms);
        let due: Vec<i64> = self
            .announced
            .iter()
            .filter(|(_, a)| a.pending && now.duration_since(a.at) >= throttle)
            .map(|(u, _)| *u)
            .collect();
        for user in due {
            let state = self.visible_presence(user);
            if let Some(a) = self.announced.get_mut(&user) {
                a.pending = false;
                a.state = state.clone();
                a.at = now;
            }
            self.broadcast_presence(user, state);
        }
        self.announced
            .retain(|_, a| a.pending || now.duration_since(a.at) < throttle);
    }

    fn broadcast_presence(&self, user: i64, state: (PresenceState, Option<String>)) {
        let Some(f) = event(Event::Presence {
            user: self.user_name(user).to_string(),
            state: state.0,
            status: state.1,
        }) else {
            return;
        };
        self.send_co_members(user, &f);
    }

    /// An event about `user` to everyone who shares a room with them, once
    /// each, except those who block `user`: they hear nothing of them.
    pub(super) fn send_co_members(&self, user: i64, f: &super::Outgoing) {
        let mut seen = IdSet::default();
        if let Some(blockers) = self.blockers_of(user) {
            seen.extend(blockers.iter().copied());
        }
        if let Some(u) = self.users.get(&user) {
            for r in &u.rooms {
                if let Some(room) = self.rooms.get(r) {
                    for m in room.members.keys() {
                        if *m != user && seen.insert(*m) {
                            self.send_user(*m, f);
                        }
                    }
                }
            }
        }
    }
}

/// Whether a client may choose `state` (with `Presence` or at login).
///
/// # Errors
/// `invalid` for `offline` (use `invisible`) and for states this build
/// does not know.
pub fn settable(state: PresenceState) -> Result<(), ErrorReply> {
    match state {
        PresenceState::Unknown => Err(err(ErrorCode::Invalid, "no such presence state")),
        PresenceState::Offline => Err(err(
            ErrorCode::Invalid,
            "offline is not a state you can set; use invisible",
        )),
        _ => Ok(()),
    }
}

/// A status text as it is kept: at most 200 characters, none if blank.
pub(super) fn clean_status(status: Option<String>) -> Option<String> {
    status
        .map(|t| t.chars().take(200).collect::<String>())
        .filter(|t| !t.trim().is_empty())
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
        // Ann herself knows she is invisible; bob was told she went offline
        // (once the throttle interval since her login was over).
        assert_eq!(hub.own_presence(1).0, PresenceState::Invisible);
        hub.flush_presence(std::time::Instant::now() + std::time::Duration::from_mins(1));
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

    fn seen_of_ann(events: Vec<Event>) -> Vec<PresenceState> {
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Presence { user, state, .. } if user == "ann" => Some(state),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn changes_are_coalesced_to_one_per_interval_and_the_last_wins() {
        let mut hub = hub(100);
        ann_and_bob(&mut hub);
        let bob = login(&mut hub, 20, 2, "bob");
        login(&mut hub, 10, 1, "ann");
        // Her coming online is old news.
        hub.flush_presence(std::time::Instant::now() + std::time::Duration::from_mins(1));
        events(&bob);
        // A flood of changes: bob hears the first at once, then nothing.
        for n in 0..100 {
            let state = if n % 2 == 0 {
                PresenceState::Away
            } else {
                PresenceState::Busy
            };
            hub.set_presence(10, state, None).unwrap();
        }
        assert_eq!(seen_of_ann(events(&bob)), [PresenceState::Away]);
        // When the interval ends, only the latest state follows.
        hub.flush_presence(std::time::Instant::now() + std::time::Duration::from_mins(1));
        assert_eq!(seen_of_ann(events(&bob)), [PresenceState::Busy]);
        hub.flush_presence(std::time::Instant::now() + std::time::Duration::from_mins(2));
        assert!(seen_of_ann(events(&bob)).is_empty());
    }

    #[test]
    fn a_new_session_of_an_invisible_user_stays_invisible() {
        let mut hub = hub(100);
        ann_and_bob(&mut hub);
        let bob = login(&mut hub, 20, 2, "bob");
        login(&mut hub, 10, 1, "ann");
        hub.set_presence(10, PresenceState::Invisible, None)
            .unwrap();
        hub.flush_presence(std::time::Instant::now() + std::time::Duration::from_mins(1));
        events(&bob);
        login(&mut hub, 11, 1, "ann");
        hub.flush_presence(std::time::Instant::now() + std::time::Duration::from_mins(2));
        assert!(
            !seen_of_ann(events(&bob)).contains(&PresenceState::Online),
            "a second session never shows ann online"
        );
        assert_eq!(hub.visible_presence(1).0, PresenceState::Offline);
    }
}
