//! Sending: a message is checked (length, membership, nonce) and prepared
//! for the store; it is delivered by [`super::fanout`] once committed.

use std::time::Instant;

use super::{
    Arc, ErrorCode, ErrorReply, Hub, MAX_NONCE_LEN, NewMessage, Origin, SendPlan, err, no_such_room,
};

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

    /// Validates a send and prepares the message for the store.
    pub fn plan_send(
        &mut self,
        session: u64,
        request: u64,
        target: &str,
        body: String,
        action: bool,
        nonce: Option<&str>,
    ) -> Result<SendPlan, ErrorReply> {
        let user = self.logged_in(session)?;
        if nonce.is_some_and(|n| n.len() > MAX_NONCE_LEN) {
            return Err(err(
                ErrorCode::Invalid,
                format!("a nonce is at most {MAX_NONCE_LEN} bytes"),
            ));
        }
        self.check_body(&body)?;
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
        if let Some((a, b)) = room.direct {
            let other = if a == user { b } else { a };
            let name = self.user_name(other);
            self.check_direct(user, other, &name)?;
        }
        self.stop_typing(room_id, user);
        // The idle time `whois` shows: one stamp, on the hot path.
        if let Some(u) = self.users.get_mut(&user) {
            u.last_sent = Some(Instant::now());
        }
        Ok(SendPlan::Ready(NewMessage {
            room_id,
            author: self.user_name(user),
            body,
            action,
            ts: crate::store::now_ms(),
            reply_to: None,
            thread: None,
            origin: Some(Origin {
                session,
                request,
                nonce: nonce.map(Arc::from),
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
            hub.plan_send(10, 1, "#general", body.into(), false, nonce)
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
