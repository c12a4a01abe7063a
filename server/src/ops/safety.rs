//! What users do to keep themselves safe: blocking, reporting messages, and
//! consent for invitations (accept, decline, and the policy that decides
//! whether an invitation needs consent at all). The rules a block brings
//! live in [`crate::hub`]'s `blocks.rs`; the durable state in
//! [`crate::store::safety`].

use natter_shared::{ErrorCode, ErrorReply, Invitation, InvitePolicy, MessageId, Report, Response};

use super::{Caller, OpResult, audit, changed, internal, quotas, resolve_user, user_of};
use crate::hub::consent::InviteCheck;
use crate::{Quota, Shared};

/// The longest report reason kept, in characters.
const MAX_REASON_CHARS: usize = super::moderation::MAX_REASON_CHARS;

/// How much of a reported message moderators see, in characters.
const EXCERPT_CHARS: usize = 200;

/// The caller blocks `user`.
pub async fn block(shared: &Shared, caller: Caller, user: &str) -> OpResult {
    let me = user_of(shared, caller)?;
    let other = resolve_user(shared, user).await?;
    if other == me {
        return Err(ErrorReply::new(
            ErrorCode::Invalid,
            "you cannot block yourself",
        ));
    }
    shared
        .store
        .set_block(me, other, true)
        .await
        .map_err(|e| internal(&e))?;
    shared.hub().block(me, other);
    Ok(Response::Done)
}

/// The caller stops blocking `user`.
pub async fn unblock(shared: &Shared, caller: Caller, user: &str) -> OpResult {
    let me = user_of(shared, caller)?;
    let other = resolve_user(shared, user).await?;
    shared
        .store
        .set_block(me, other, false)
        .await
        .map_err(|e| internal(&e))?;
    shared.hub().unblock(me, other);
    Ok(Response::Done)
}

/// Whom the caller blocks.
pub async fn blocked(shared: &Shared, caller: Caller) -> OpResult {
    let me = user_of(shared, caller)?;
    let names = shared
        .store
        .blocked_names(me)
        .await
        .map_err(|e| internal(&e))?;
    Ok(Response::Blocked(names))
}

/// Invites `user` to a room: at once when their policy lets the caller add
/// them, else as an invitation waiting for their answer. The caller gets
/// the same `done` either way (and when the invitee blocks them, in which
/// case nothing happens), so an invitation tells the inviter nothing of the
/// invitee's settings.
pub async fn invite(shared: &Shared, caller: Caller, room: &str, user: &str) -> OpResult {
    let invitee = resolve_user(shared, user).await?;
    let me = user_of(shared, caller)?;
    // A guest sees public rooms only, and invites no one anywhere.
    super::not_for_guests(shared, caller)?;
    if shared.hub().is_guest(invitee) {
        return Err(super::guests_public_only());
    }
    quotas::take(shared, me, Quota::Invites)?;
    let result = invite_checked(shared, caller, room, invitee).await;
    if result.is_err() {
        quotas::refund(shared, me, Quota::Invites);
    }
    let detail = result?;
    audit(shared, caller, "invite", user, room, detail);
    Ok(Response::Done)
}

/// The invitation after the quota: what the audit log says of it.
async fn invite_checked(
    shared: &Shared,
    caller: Caller,
    room: &str,
    invitee: i64,
) -> OpResult<&'static str> {
    let check = shared.hub().check_invite(caller.session, room, invitee)?;
    let InviteCheck::Allowed {
        room: room_id,
        name,
        inviter,
    } = check
    else {
        return Ok("already a member");
    };
    if shared.hub().blocks(invitee, inviter) {
        return Ok("blocked by the invitee");
    }
    let policy = shared
        .store
        .invite_policy(invitee)
        .await
        .map_err(|e| internal(&e))?;
    let direct = match policy {
        InvitePolicy::Anyone => true,
        InvitePolicy::Shared => shared.hub().share_a_room(inviter, invitee),
        InvitePolicy::Nobody | InvitePolicy::Unknown => false,
    };
    if direct {
        let change = shared.hub().add_invited(room_id, invitee);
        changed(shared, Ok((Response::Done, change)))?;
        return Ok("");
    }
    let by = shared.hub().user_name_of(inviter);
    let new = shared
        .store
        .add_invitation(room_id, invitee, &by)
        .await
        .map_err(|e| internal(&e))?;
    if new {
        shared.hub().tell_invited(
            invitee,
            Invitation {
                room: name,
                by,
                at: crate::store::now_ms(),
            },
        );
    }
    Ok("waiting for consent")
}

/// The refusal for an answer to an invitation that does not exist: the
/// same whether the room exists or not, so it tells nobody anything.
fn no_invitation(room: &str) -> ErrorReply {
    ErrorReply::new(
        ErrorCode::Invalid,
        format!("you have no invitation to {}", room.trim()),
    )
}

/// The caller's invitation to `room`, if one waits: looked up by name in
/// one read whether the room exists or not, so neither the answer nor its
/// timing tells an outsider anything.
async fn pending(shared: &Shared, caller: Caller, room: &str) -> OpResult<(i64, String)> {
    let me = user_of(shared, caller)?;
    let name = natter_shared::names::normalize_room(room.trim().trim_start_matches('#'))
        .map_err(|_| no_invitation(room))?;
    shared
        .store
        .invitation_named(me, &name)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| no_invitation(room))
}

/// The caller accepts their invitation to `room` and joins it.
pub async fn accept(shared: &Shared, caller: Caller, room: &str) -> OpResult {
    let me = user_of(shared, caller)?;
    let (room_id, _) = pending(shared, caller, room).await?;
    let inviter = shared
        .store
        .take_invitation(room_id, me)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| no_invitation(room))?;
    let r = shared.hub().accept_invitation(caller.session, room_id);
    let res = changed(shared, r)?;
    audit(shared, caller, "invite.accept", &inviter, room, "");
    Ok(res)
}

/// The caller declines their invitation to `room`.
pub async fn decline(shared: &Shared, caller: Caller, room: &str) -> OpResult {
    let me = user_of(shared, caller)?;
    let (room_id, _) = pending(shared, caller, room).await?;
    shared
        .store
        .take_invitation(room_id, me)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| no_invitation(room))?;
    Ok(Response::Done)
}

/// The caller's pending invitations.
pub async fn invitations(shared: &Shared, caller: Caller) -> OpResult {
    let me = user_of(shared, caller)?;
    let list = shared
        .store
        .invitations(me)
        .await
        .map_err(|e| internal(&e))?;
    Ok(Response::Invitations(list))
}

/// Sets who may add the caller to rooms without asking.
pub async fn set_invites(shared: &Shared, caller: Caller, policy: InvitePolicy) -> OpResult {
    let me = user_of(shared, caller)?;
    if policy == InvitePolicy::Unknown {
        return Err(ErrorReply::new(
            ErrorCode::Invalid,
            "no such invitation policy; use anyone, shared or nobody",
        ));
    }
    shared
        .store
        .set_invite_policy(me, policy)
        .await
        .map_err(|e| internal(&e))?;
    Ok(Response::Done)
}

/// Reports message `id` of `room` to the server's admins and the room's
/// moderators (counted against the caller's hourly quota), and keeps the
/// report for `natterd reports`.
pub async fn report(
    shared: &Shared,
    caller: Caller,
    room: &str,
    id: MessageId,
    reason: &str,
) -> OpResult {
    let reason: String = reason.trim().chars().take(MAX_REASON_CHARS).collect();
    if reason.is_empty() {
        return Err(ErrorReply::new(ErrorCode::Invalid, "say why you report it"));
    }
    let me = user_of(shared, caller)?;
    let target = shared.hub().reportable(caller.session, room, id)?;
    let found = match target.found {
        Some(found) => Some(found),
        None => shared
            .store
            .message_in(target.room, id)
            .await
            .map_err(|e| internal(&e))?,
    };
    let Some((author, body)) = found else {
        return Err(ErrorReply::new(
            ErrorCode::Invalid,
            format!("there is no message {id} in {}", room.trim()),
        ));
    };
    quotas::take(shared, me, Quota::Reports)?;
    let report = Report {
        id: 0,
        room: target.name,
        message: id,
        author,
        excerpt: body.chars().take(EXCERPT_CHARS).collect(),
        by: target.reporter,
        reason,
        at: crate::store::now_ms(),
    };
    let report = match shared.store.add_report(report).await {
        Ok(r) => r,
        Err(e) => {
            quotas::refund(shared, me, Quota::Reports);
            return Err(internal(&e));
        }
    };
    tracing::info!(report = report.id, room = %report.room, "message reported");
    shared.hub().tell_moderators(target.room, report);
    Ok(Response::Done)
}
