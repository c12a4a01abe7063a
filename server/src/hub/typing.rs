//! Typing: relayed to the room at most once per throttle interval; a start
//! expires on its own when no news follows.

use super::{Duration, Event, Hub, Instant, Reply, Response, Typing, event};

impl Hub {
    /// Relays typing to the other members, at most one start per throttle
    /// interval; a start is remembered and expires on its own.
    pub fn typing(&mut self, session: u64, target: &str, active: bool) -> Reply {
        let user = self.logged_in(session)?;
        let room_id = self.member_room(user, target)?.id;
        let now = Instant::now();
        let throttle = Duration::from_millis(self.config.limits.typing_throttle_ms);
        let expiry = Duration::from_millis(self.config.limits.typing_expiry_ms);
        if active {
            if let Some(t) = self.typing.get_mut(&(room_id, user)) {
                t.expires = now + expiry;
                if now.duration_since(t.last_relay) < throttle {
                    return Ok(Response::Done);
                }
                t.last_relay = now;
            } else {
                self.typing.insert(
                    (room_id, user),
                    Typing {
                        last_relay: now,
                        expires: now + expiry,
                    },
                );
            }
            self.relay_typing(room_id, user, true);
        } else {
            self.stop_typing(room_id, user);
        }
        Ok(Response::Done)
    }

    pub(super) fn stop_typing(&mut self, room_id: i64, user: i64) {
        if self.typing.remove(&(room_id, user)).is_some() {
            self.relay_typing(room_id, user, false);
        }
    }

    pub(super) fn relay_typing(&self, room_id: i64, user: i64, active: bool) {
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };
        let name = self.user_name(user).to_string();
        match room.direct {
            Some((a, b)) => {
                let other = if a == user { b } else { a };
                if let Some(f) = event(Event::Typing {
                    room: self.display(room, other),
                    user: name,
                    active,
                }) {
                    self.send_user(other, &f);
                }
            }
            None => {
                if let Some(f) = event(Event::Typing {
                    room: format!("#{}", room.name),
                    user: name,
                    active,
                }) {
                    self.send_room(room, &f, Some(user));
                }
            }
        }
    }

    /// Expires typing starts that saw no news; returns how many.
    pub fn expire_typing(&mut self, now: Instant) -> usize {
        let expired: Vec<(i64, i64)> = self
            .typing
            .iter()
            .filter(|(_, t)| t.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        for (room, user) in &expired {
            self.stop_typing(*room, *user);
        }
        expired.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use natter_shared::Event;

    use crate::hub::testkit::*;

    fn typing(events: Vec<Event>) -> Vec<bool> {
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Typing { active, .. } => Some(active),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn starts_are_throttled_and_expire_with_a_stop() {
        let mut hub = hub(100);
        ann_and_bob(&mut hub);
        let ann = login(&mut hub, 10, 1, "ann");
        let bob = login(&mut hub, 20, 2, "bob");
        for _ in 0..5 {
            hub.typing(10, "#general", true).unwrap();
        }
        assert_eq!(
            typing(events(&bob)),
            [true],
            "one relay per throttle interval"
        );
        assert!(typing(events(&ann)).is_empty(), "not to the typist");
        assert_eq!(hub.expire_typing(Instant::now()), 0);
        let later = Instant::now() + Duration::from_mins(1);
        assert_eq!(hub.expire_typing(later), 1);
        assert_eq!(typing(events(&bob)), [false]);
    }
}
