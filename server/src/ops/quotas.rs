//! Per-user quotas on actions that cost others: rooms created
//! (`limits.rooms_per_user_per_hour`), invitations sent
//! (`limits.invites_per_user_per_minute`) and direct conversations opened
//! (`limits.directs_per_user_per_hour`), reports made
//! (`limits.reports_per_user_per_hour`) and display names set
//! (`limits.profile_changes_per_user_per_hour`), and reactions
//! (`limits.reactions_per_user_per_minute`, refused as `rate_limited`).
//! Admins have none. A unit taken for
//! an action that then fails is refunded.
//!
//! Searches have a rate of their own (`limits.searches_per_sec`), refused
//! with `rate_limited` like the request rate.
//!
//! And each account's request rate, shared by all its connections
//! (`limits.account_requests_per_sec`): ten connections of one account get
//! the rate of one account, not ten.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use natter_shared::{ErrorCode, ErrorReply};

use crate::auth::TokenBucket;
use crate::{Quota, Shared};

/// One account's request bucket, held by each of its connections.
pub type AccountRate = Arc<Mutex<TokenBucket>>;

/// The request bucket of `user`, shared with the account's other
/// connections (a new one when it has none).
pub fn account_rate(shared: &Shared, user: i64) -> AccountRate {
    let mut rates = shared
        .account_rates
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(rate) = rates.get(&user).and_then(Weak::upgrade) {
        return rate;
    }
    let limits = &shared.config().limits;
    let rate = Arc::new(Mutex::new(TokenBucket::new(
        limits.account_requests_per_sec,
        limits.account_request_burst,
    )));
    // Forget accounts with no connection left, now and then.
    if rates.len() >= 1024 && rates.len().is_power_of_two() {
        rates.retain(|_, w| w.strong_count() > 0);
    }
    rates.insert(user, Arc::downgrade(&rate));
    rate
}

/// Takes one request from an account's bucket.
///
/// # Errors
/// `rate_limited`, with how long to wait.
pub fn take_request(rate: &AccountRate) -> Result<(), ErrorReply> {
    rate.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .map_err(|wait| {
            let ms = wait.as_millis().max(1) as u64;
            ErrorReply {
                code: ErrorCode::RateLimited,
                message: format!(
                    "too many requests from your account's connections; retry in {ms} ms"
                ),
                retry_after_ms: Some(ms),
            }
        })
}

/// Takes one search from a user's search bucket
/// (`limits.searches_per_sec`, bursts of `limits.search_burst`), shared by
/// all their connections. Searches cost the server far more than most
/// requests, so they have a bucket of their own; admins too.
///
/// # Errors
/// `rate_limited`, with how long to wait.
pub fn take_search(shared: &Shared, user: i64) -> Result<(), ErrorReply> {
    let (rate, burst) = {
        let limits = &shared.config().limits;
        (limits.searches_per_sec, limits.search_burst)
    };
    let mut quotas = shared
        .quotas
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let bucket = quotas
        .entry((user, Quota::Searches))
        .or_insert_with(|| TokenBucket::new(rate, burst));
    bucket.take().map_err(|wait| {
        let ms = wait.as_millis().max(1) as u64;
        ErrorReply {
            code: ErrorCode::RateLimited,
            message: format!("too many searches; retry in {ms} ms"),
            retry_after_ms: Some(ms),
        }
    })
}

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
        Quota::Directs => (
            config.limits.directs_per_user_per_hour,
            3600.0,
            "new direct conversations this hour",
        ),
        Quota::Reports => (
            config.limits.reports_per_user_per_hour,
            3600.0,
            "reports this hour",
        ),
        Quota::Profiles => (
            config.limits.profile_changes_per_user_per_hour,
            3600.0,
            "display name changes this hour",
        ),
        // A rate, not a quota: its own bucket and error code.
        Quota::Searches => return take_search(shared, user),
        Quota::Reactions => (
            config.limits.reactions_per_user_per_minute,
            60.0,
            "reactions this minute",
        ),
    };
    // A rate rather than an allowance: reactions come back within seconds.
    let code = if quota == Quota::Reactions {
        ErrorCode::RateLimited
    } else {
        ErrorCode::Quota
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
            code,
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
