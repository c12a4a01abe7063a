//! Profiles: setting a display name (checked here, since only the store
//! knows every account it might impersonate) and `whois`. What a display
//! name reaches, and what `whois` shows whom, is the hub's (`profile.rs`).

use std::time::Instant;

use natter_shared::names::{normalize_display_name, normalize_user};
use natter_shared::{ErrorCode, ErrorReply};

use super::{Caller, OpResult, changed, internal, quotas, resolve_user, user_of};
use crate::{Quota, Shared};

/// Sets the caller's display name, or clears it (`None` or blank).
///
/// A display name that reads as another account's name (`Bob`, `@bob`
/// for the account `bob`) is refused: shown beside a message, it would
/// pass for them. The caller's own account name is fine. Each change
/// takes a unit of `limits.profile_changes_per_user_per_hour`, since it is
/// announced to everyone who shares a room.
pub async fn set_profile(
    shared: &Shared,
    caller: Caller,
    display_name: Option<String>,
) -> OpResult {
    let me = user_of(shared, caller)?;
    let display_name = normalize_display_name(display_name.as_deref())
        .map_err(|e| ErrorReply::new(ErrorCode::Invalid, e.to_string()))?;
    quotas::take(shared, me, Quota::Profiles)?;
    let result = set_checked(shared, caller, me, display_name).await;
    if result.is_err() {
        quotas::refund(shared, me, Quota::Profiles);
    }
    result
}

/// The change after the quota.
async fn set_checked(
    shared: &Shared,
    caller: Caller,
    me: i64,
    display_name: Option<String>,
) -> OpResult {
    if let Some(name) = &display_name
        && let Ok(account) = normalize_user(name)
        && account != shared.hub().user_name_of(me)
    {
        let known = shared.hub().user_id(&account).is_some();
        let taken = known
            || shared
                .store
                .name_taken(&account)
                .await
                .map_err(|e| internal(&e))?;
        if taken {
            return Err(ErrorReply::new(
                ErrorCode::Invalid,
                format!(
                    "{name:?} is the account name of someone else; a display name cannot pass for another user"
                ),
            ));
        }
    }
    let r = shared.hub().set_display_name(caller.session, display_name);
    changed(shared, r)
}

/// What the caller may know of `user` (see the hub's `whois`). A name no
/// account has gets the same `no_such_user` as a deleted account's.
pub async fn whois(shared: &Shared, caller: Caller, user: &str) -> OpResult {
    user_of(shared, caller)?;
    let target = resolve_user(shared, user).await?;
    shared.hub().whois(caller.session, target, Instant::now())
}
