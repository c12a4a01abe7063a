//! Reactions: a user adds or removes an emoji (or `:shortcode:`) on a
//! message. Each costs the room a fan-out, like a message, so it is rate
//! limited per user (`limits.reactions_per_user_per_minute`), and a
//! message holds at most `limits.max_reaction_keys` distinct keys.

use natter_shared::{ErrorCode, ErrorReply, MessageId, ReactOp, Response, names};

use super::{Caller, OpResult, internal, quotas};
use crate::hub::no_such_message;
use crate::store::Refusal;
use crate::store::rich::React;
use crate::{Quota, Shared};

/// A reaction queued on the commit path, to answer once it is stored.
#[derive(Debug)]
pub struct Queued {
    pending: crate::store::Queued<crate::store::rich::Verdict<bool>>,
    user: i64,
    max_keys: u64,
}

/// Adds, removes or toggles the caller's reaction `key` on message `id`
/// in `room`: checks it and queues it on the commit path, in order with the
/// connection's next requests; [`Queued::finish`] answers whether it is
/// there now, once stored. A request that changes nothing (adding a
/// reaction already there) is answered and not fanned out.
/// A busy room's reactions then pipeline as its messages do, instead of
/// one commit at a time per connection.
///
/// # Errors
/// `invalid` for a bad key or an unknown operation, the room errors,
/// `rate_limited` beyond the per-user rate.
pub fn queue(
    shared: &Shared,
    caller: Caller,
    room: &str,
    id: MessageId,
    key: String,
    op: ReactOp,
) -> Result<Queued, ErrorReply> {
    names::reaction_key(&key).map_err(|why| ErrorReply::new(ErrorCode::Invalid, why))?;
    if op == ReactOp::Unknown {
        return Err(ErrorReply::new(
            ErrorCode::Invalid,
            "unknown reaction operation; use toggle, add or remove",
        ));
    }
    let scope = shared.hub().message_scope(caller.session, room)?;
    quotas::take(shared, scope.user, Quota::Reactions)?;
    let max_keys = shared.config().limits.max_reaction_keys;
    let user = scope.user;
    let request = React {
        room_id: scope.room_id,
        id,
        user_id: scope.user,
        user: scope.name,
        key,
        op,
        max_keys,
    };
    match shared.store.queue_react(request) {
        Ok(pending) => Ok(Queued {
            pending,
            user,
            max_keys,
        }),
        Err(e) => {
            quotas::refund(shared, user, Quota::Reactions);
            Err(internal(&e))
        }
    }
}

impl Queued {
    /// Waits for the store and answers: `reacted`, or why not (a refusal
    /// gives the rate back).
    ///
    /// # Errors
    /// `no_such_message` for an id the caller may not see or a deleted
    /// message, `quota` for a new key on a message with the most keys,
    /// `internal` for a store failure.
    pub async fn finish(self, shared: &Shared) -> OpResult {
        let Queued {
            pending,
            user,
            max_keys,
        } = self;
        let verdict = match pending.wait().await {
            Ok(v) => v,
            Err(e) => {
                quotas::refund(shared, user, Quota::Reactions);
                return Err(internal(&e));
            }
        };
        match verdict {
            Ok(on) => Ok(Response::Reacted { on }),
            Err(refusal) => {
                quotas::refund(shared, user, Quota::Reactions);
                Err(match refusal {
                    Refusal::TooManyKeys => ErrorReply::new(
                        ErrorCode::Quota,
                        format!("a message holds at most {max_keys} different reactions"),
                    ),
                    Refusal::NoSuchMessage | Refusal::NotAuthor => no_such_message(),
                })
            }
        }
    }
}
