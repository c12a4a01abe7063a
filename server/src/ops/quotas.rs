//! Per-user quotas on actions that cost others: rooms created
//! (`limits.rooms_per_user_per_hour`) and invitations sent
//! (`limits.invites_per_user_per_minute`). Admins have none. A unit taken
//! for an action that then fails is refunded.

use natter_shared::{ErrorCode, ErrorReply};

use crate::auth::TokenBucket;
use crate::{Quota, Shared};

/// Takes one unit of a user's quota.
pub fn take(shared: &Shared, user: i64, quota: Quota) -> Result<(), ErrorReply> {
    if shared.hub().is_admin(user) {
        return Ok(());
    }
    let config = shared.config();
    let (n, per, what) = match quota {
        Quota::Rooms => (
            config.limits.rooms_per_user_per_hour,
            3600.0,
            "rooms created this hour",
        ),
        Quota::Invites => (
            config.limits.invites_per_user_per_minute,
            60.0,
            "invitations this minute",
        ),
    };
    let mut quotas = shared
        .quotas
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let bucket = quotas
        .entry((user, quota))
        .or_insert_with(|| TokenBucket::new(f64::from(n) / per, f64::from(n)));
    bucket.take().map_err(|wait| {
        let ms = wait.as_millis().max(1) as u64;
        ErrorReply {
            code: ErrorCode::Quota,
            message: format!(
                "too many {what} (at most {n}); try again in {} s",
                ms.div_ceil(1000)
            ),
            retry_after_ms: Some(ms),
        }
    })
}

/// Returns a unit of quota taken for an action that failed.
pub fn refund(shared: &Shared, user: i64, quota: Quota) {
    if let Some(b) = shared
        .quotas
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_mut(&(user, quota))
    {
        b.refund();
    }
}
