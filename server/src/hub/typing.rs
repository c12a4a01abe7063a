//! Typing: relayed to the room at most once per throttle interval, whatever
//! mix of starts and stops a client sends; a start expires on its own when
//! no news follows.

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
                t.shown = true;
            } else {
                self.typing.insert(
                    (room_id, user),
                    Typing {
                        last_relay: now,
                        expires: now + expiry,
                        shown: true,
                    },
                );
            }
            self.relay_typing(room_id, user, true);
        } else {
            self.stop_typing(room_id, user);
        }
        Ok(Response::Done)
    }

    /// Relays a stop if the room was told of a start. The entry stays until
    /// its throttle interval is over (see [`Hub::expire_typing`]), so a new
    /// start right after is still throttled.
    pub(super) fn stop_typing(&mut self, room_id: i64, user: i64) {
        if let Some(t) = self.typing.get_mut(&(room_id, user))
            && std::mem::replace(&mut t.shown, false)
        {
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
                if self.blocks(other, user) {
                    return;
                }
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
                    self.send_room_about(room, &f, user);
                }
            }
        }
    }

    /// Expires typing starts that saw no news, and forgets stopped ones
    /// whose throttle interval is over; returns how many expired.
    pub fn expire_typing(&mut self, now: Instant) -> usize {
        let expired: Vec<(i64, i64)> = self
            .typing
            .iter()
            .filter(|(_, t)| t.shown && t.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        for (room, user) in &expired {
            self.stop_typing(*room, *user);
        }
        let throttle = Duration::from_millis(self.config.limits.typing_throttle_ms);
        self.typing
            .retain(|_, t| t.shown || now.duration_since(t.last_relay) < throttle);
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

    #[test]
    fn stops_do_not_reset_the_throttle() {
        let mut hub = hub(100);
        ann_and_bob(&mut hub);
        login(&mut hub, 10, 1, "ann");
        let bob = login(&mut hub, 20, 2, "bob");
        // The bypass found from outside: start, start, stop, over and over.
        for _ in 0..20 {
            hub.typing(10, "#general", true).unwrap();
            hub.typing(10, "#general", true).unwrap();
            hub.typing(10, "#general", false).unwrap();
        }
        assert_eq!(
            typing(events(&bob)),
            [true, false],
            "one start and its stop per throttle interval"
        );
        // Once the interval is over, the next start is relayed again.
        hub.expire_typing(Instant::now() + Duration::from_mins(1));
        hub.typing(10, "#general", true).unwrap();
        assert_eq!(typing(events(&bob)), [true]);
    }
}
