//! Sending: a message is checked (length, membership, nonce) and prepared
//! for the store; it is delivered by [`super::fanout`] once committed.

use std::time::Instant;

use natter_shared::Role;
use natter_shared::names;

use super::{
    Arc, ErrorCode, ErrorReply, Hub, MAX_NONCE_LEN, NewMessage, Origin, SendPlan, err, no_such_room,
};
use crate::auth::TokenBucket;

impl Hub {
    /// Checks a message body, sent or edited: not blank, and within
    /// `limits.max_message_len`.
    ///
    /// # Errors
    /// `invalid` for a blank body, `too_long` beyond the limit.
    pub fn check_body(&self, body: &str) -> Result<(), ErrorReply> {
        if body.trim().is_empty() {
            return Err(err(ErrorCode::Invalid, "empty messages are not sent"));
        }
        let max = self.config.limits.max_message_len;
        if body.len() > max {
            return Err(err(
                ErrorCode::TooLong,
                format!("message is {} bytes; the limit is {max}", body.len()),
            ));
        }
        Ok(())
    }

    /// Whether a message calls the whole room to attention, and whether it
    /// may: asked for (`explicit`) or written (`@room`), by a moderator or
    /// owner of the room (or an admin), within the room's rate. A direct
    /// conversation has no room-wide attention: both people are notified
    /// anyway, so `@room` there is plain text and `explicit` is refused.
    ///
    /// # Errors
    /// `invalid` in a direct conversation, `forbidden` for a member who is
    /// no moderator, `rate_limited` past
    /// `limits.attention_per_room_per_hour`.
    pub fn check_attention(
        &mut self,
        session: u64,
        room_id: i64,
        explicit: bool,
        body: &str,
    ) -> Result<bool, ErrorReply> {
        let Some(room) = self.rooms.get(&room_id) else {
            return Ok(false);
        };
        if room.direct.is_some() {
            if explicit {
                return Err(err(
                    ErrorCode::Invalid,
                    "a direct conversation has no room-wide attention: the other person is notified anyway",
                ));
            }
            return Ok(false);
        }
        if !explicit && !names::mentions_room(body) {
            return Ok(false);
        }
        let user = self.logged_in(session)?;
        let shown = format!("#{}", room.name);
        let moderator = room
            .members
            .get(&user)
            .is_some_and(|m| m.role >= Role::Moderator);
        if !moderator && !self.is_admin(user) {
            return Err(err(
                ErrorCode::Forbidden,
                format!(
                    "only moderators and owners of {shown} may notify the whole room (@room); \
                     write it without the @ to send it as text"
                ),
            ));
        }
        let n = self.config.limits.attention_per_room_per_hour;
        if n == 0 {
            return Err(err(
                ErrorCode::Forbidden,
                "room-wide attention (@room) is turned off on this server",
            ));
        }
        let rate = self
            .attention
            .entry(room_id)
            .or_insert_with(|| TokenBucket::new(f64::from(n) / 3600.0, f64::from(n)));
        rate.take().map_err(|wait| {
            let ms = wait.as_millis().max(1) as u64;
            ErrorReply {
                code: ErrorCode::RateLimited,
                message: format!(
                    "{shown} was called to attention {n} times this hour already; \
                     try again in {} min, or send it without @room",
                    ms.div_ceil(60_000)
                ),
                retry_after_ms: Some(ms),
            }
        })?;
        Ok(true)
    }

    /// Validates a send and prepares the message for the store. With
    /// files (`with_files`) the body may be empty: the files are the
    /// message.
    #[allow(clippy::too_many_arguments)] // one per field of the request, all checked here
    pub fn plan_send(
        &mut self,
        session: u64,
        request: u64,
        target: &str,
        body: String,
        action: bool,
        nonce: Option<&str>,
        with_files: bool,
    ) -> Result<SendPlan, ErrorReply> {
        let user = self.logged_in(session)?;
        if nonce.is_some_and(|n| n.len() > MAX_NONCE_LEN) {
            return Err(err(
                ErrorCode::Invalid,
                format!("a nonce is at most {MAX_NONCE_LEN} bytes"),
            ));
        }
        // Files are a message of their own: the text may be left out.
        if !(with_files && body.trim().is_empty()) {
            self.check_body(&body)?;
        }
        let Some(room_id) = self.find(user, target)? else {
            let peer = self
                .direct_peer(user, target)?
                .ok_or_else(|| no_such_room(target))?;
            let name = self.user_name(peer);
            self.check_direct(user, peer, &name)?;
            return Ok(SendPlan::NeedDirect(peer));
        };
        let room = self.member_room(user, target)?;
        debug_assert_eq!(room.id, room_id);
        if room.announce
            && room
                .members
                .get(&user)
                .is_none_or(|m| m.role < Role::Moderator)
            && !self.is_admin(user)
        {
            return Err(err(
                ErrorCode::Forbidden,
                format!("{target} is an announcement room: only its moderators post there"),
            ));
        }
        if let Some((a, b)) = room.direct {
            let other = if a == user { b } else { a };
            let name = self.user_name(other);
            self.check_direct(user, other, &name)?;
        }
        self.stop_typing(room_id, user);
        // The idle time `whois` shows: one stamp, on the hot path.
        let now = Instant::now();
        if let Some(u) = self.users.get_mut(&user) {
            u.last_sent = Some(now);
        }
        Ok(SendPlan::Ready(NewMessage {
            room_id,
            author: self.user_name(user),
            body,
            action,
            ts: crate::store::now_ms(),
            reply_to: None,
            thread: None,
            attention: false,
            attachments: Vec::new(),
            origin: Some(Origin {
                session,
                request,
                nonce: nonce.map(Arc::from),
                received: now,
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use natter_shared::{ErrorCode, Role, RoomKind};

    use crate::hub::SendPlan;
    use crate::hub::testkit::*;

    #[test]
    fn a_send_is_checked_before_it_reaches_the_store() {
        let mut hub = hub(100);
        room(
            &mut hub,
            GENERAL,
            "general",
            RoomKind::Public,
            &[(1, "ann", Role::Member)],
        );
        login(&mut hub, 10, 1, "ann");
        let send = |hub: &mut crate::hub::Hub, body: &str, nonce: Option<&str>| {
            hub.plan_send(10, 1, "#general", body.into(), false, nonce, false)
        };
        assert_eq!(
            send(&mut hub, "  ", None).unwrap_err().code,
            ErrorCode::Invalid
        );
        let long = "x".repeat(hub.config.limits.max_message_len + 1);
        assert_eq!(
            send(&mut hub, &long, None).unwrap_err().code,
            ErrorCode::TooLong
        );
        let nonce = "n".repeat(super::super::MAX_NONCE_LEN + 1);
        assert_eq!(
            send(&mut hub, "hi", Some(&nonce)).unwrap_err().code,
            ErrorCode::Invalid
        );
        match send(&mut hub, "hi", Some("n-1")).unwrap() {
            SendPlan::Ready(m) => {
                assert_eq!(&*m.author, "ann");
                assert_eq!(m.origin.unwrap().nonce.as_deref(), Some("n-1"));
            }
            other @ SendPlan::NeedDirect(_) => panic!("{other:?}"),
        }
    }
}
