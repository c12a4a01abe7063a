//! Moderation: kicks, bans and unbans, roles and topics. The hub decides
//! who may (the room's roles, server admins); every action that happens is
//! written to the audit log in order with the change. Reasons are cut to
//! [`MAX_REASON_CHARS`] before anything keeps them, and an action that
//! changes nothing (banning someone already banned) is not logged.

use natter_shared::Role;

use super::{Caller, OpResult, audit, changed, persist, resolve_user};
use crate::Shared;
use crate::store;

/// The longest reason kept or shown, in characters.
pub const MAX_REASON_CHARS: usize = 300;

/// Removes `user` from a room; with `ban`, keeps them out.
pub async fn remove(
    shared: &Shared,
    caller: Caller,
    room: &str,
    user: &str,
    ban: bool,
    reason: Option<String>,
) -> OpResult {
    let target = resolve_user(shared, user).await?;
    let reason = reason.map(|r| r.chars().take(MAX_REASON_CHARS).collect::<String>());
    let detail = reason.clone().unwrap_or_default();
    let (res, change) = shared
        .hub()
        .remove(caller.session, room, target, ban, reason)?;
    if change.is_none() {
        // Already banned: nothing happened, so nothing is logged.
        return Ok(res);
    }
    persist(shared, change);
    audit(
        shared,
        caller,
        if ban { "ban" } else { "kick" },
        user,
        room,
        &detail,
    );
    Ok(res)
}

/// Lifts a ban.
pub async fn unban(shared: &Shared, caller: Caller, room: &str, user: &str) -> OpResult {
    let target = resolve_user(shared, user).await?;
    let r = shared.hub().unban(caller.session, room, target);
    let res = changed(shared, r)?;
    audit(shared, caller, "unban", user, room, "");
    Ok(res)
}

/// Changes a member's role.
pub async fn set_role(
    shared: &Shared,
    caller: Caller,
    room: &str,
    user: &str,
    role: Role,
) -> OpResult {
    let target = resolve_user(shared, user).await?;
    let r = shared.hub().set_role(caller.session, room, target, role);
    let res = changed(shared, r)?;
    audit(
        shared,
        caller,
        "set_role",
        user,
        room,
        store::role_str(role),
    );
    Ok(res)
}

/// Changes a room's modes: announcement-only, and its category.
pub fn set_mode(
    shared: &Shared,
    caller: Caller,
    room: &str,
    announce: Option<bool>,
    category: Option<&str>,
) -> OpResult {
    let r = shared
        .hub()
        .set_mode(caller.session, room, announce, category);
    let res = changed(shared, r)?;
    let detail = match announce {
        Some(true) => "+announce",
        Some(false) => "-announce",
        None => "",
    };
    audit(shared, caller, "mode", "", room, detail);
    Ok(res)
}

/// Sets a room's topic.
pub fn topic(shared: &Shared, caller: Caller, room: &str, topic: &str) -> OpResult {
    let r = shared.hub().topic(caller.session, room, topic);
    let res = changed(shared, r)?;
    audit(shared, caller, "topic", "", room, topic);
    Ok(res)
}
