//! Moderation: kicks, bans and unbans, roles and topics. The hub decides
//! who may (the room's roles, server admins); every action that happens is
//! written to the audit log in order with the change.

use natter_shared::Role;

use super::{Caller, OpResult, audit, changed, resolve_user};
use crate::Shared;
use crate::store;

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
    let detail = reason.clone().unwrap_or_default();
    let r = shared
        .hub()
        .remove(caller.session, room, target, ban, reason);
    let res = changed(shared, r)?;
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

/// Sets a room's topic.
pub fn topic(shared: &Shared, caller: Caller, room: &str, topic: &str) -> OpResult {
    let r = shared.hub().topic(caller.session, room, topic);
    let res = changed(shared, r)?;
    audit(shared, caller, "topic", "", room, topic);
    Ok(res)
}
