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

/// Adds, removes or toggles the caller's reaction `key` on message `id`
/// in `room`; replies whether it is there now. A request that changes
/// nothing (adding a reaction already there) is answered and not fanned
/// out.
///
/// # Errors
/// `invalid` for a bad key or an unknown operation, the room errors,
/// `no_such_message` for an id the caller may not see or a deleted
/// message, `quota` for a new key on a message with the most keys,
/// `rate_limited` beyond the per-user rate.
pub async fn react(
    shared: &Shared,
    caller: Caller,
    room: &str,
    id: MessageId,
    key: String,
    op: ReactOp,
) -> OpResult {
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
    let request = React {
        room_id: scope.room_id,
        id,
        user_id: scope.user,
        user: scope.name,
        key,
        op,
        max_keys,
    };
    let verdict = match shared.store.react(request).await {
        Ok(v) => v,
        Err(e) => {
            quotas::refund(shared, scope.user, Quota::Reactions);
            return Err(internal(&e));
        }
    };
    match verdict {
        Ok(on) => Ok(Response::Reacted { on }),
        Err(refusal) => {
            quotas::refund(shared, scope.user, Quota::Reactions);
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
