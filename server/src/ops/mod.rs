//! Protocol-neutral operations: what a request does, whichever wire
//! protocol it came in on. Each takes typed arguments and returns a typed
//! result or an [`ErrorReply`] (a stable [`natter_shared::ErrorCode`] plus a
//! message for people), which each front end maps to its own replies.
//! They combine the [`crate::hub`] (in-memory state and its rules) and the
//! [`crate::store`] (durable state); a front end never touches either.
//!
//! # Layout
//! - [`auth`]: login, registration, password change, logout.
//! - [`messages`]: sending (replies and thread posts too) and history.
//! - [`post`]: posting from inside the server (webhooks) as an account.
//! - [`edits`]: editing and deleting messages.
//! - [`files`]: transfer tickets, uploads, downloads, attachments.
//! - [`reactions`]: reactions on messages.
//! - [`rooms`]: joining, leaving, creating, inviting, member lists, the
//!   room list and directory.
//! - [`moderation`]: kicks, bans, roles, topics (each audited).
//! - [`markers`]: read markers and unread recounts.
//! - [`presence`]: presence, typing, server statistics.
//! - [`profile`]: display names and `whois`.
//! - [`safety`]: blocking, reports, consent for invitations.
//! - [`search`]: full-text search over the caller's rooms, and
//!   [`search_query`], its query language.
//! - [`quotas`]: per-user quotas on actions that cost others.
//! - `mod.rs` (here): [`Caller`], and what several operations share
//!   (resolving a user, opening a direct conversation, persisting a hub
//!   change, the audit log).

pub mod auth;
pub mod edits;
pub mod files;
pub mod markers;
pub mod messages;
pub mod moderation;
pub mod post;
pub mod presence;
pub mod profile;
pub mod quotas;
pub mod reactions;
pub mod rooms;
pub mod safety;
pub mod search;
pub mod search_query;

use std::net::SocketAddr;

use natter_shared::names::normalize_user;
use natter_shared::{ErrorCode, ErrorReply, Response};

use crate::Shared;
use crate::store::{self, StoreChange, StoreError};

/// Who asks: a logged-in session and where it connects from.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub session: u64,
    pub peer: SocketAddr,
}

/// The outcome of an operation.
pub type OpResult<T = Response> = Result<T, ErrorReply>;

/// A store failure as the caller sees it: logged here, reported as
/// `internal` (the request may be retried).
pub(crate) fn internal(e: &StoreError) -> ErrorReply {
    tracing::error!(error = %e, "store error");
    ErrorReply::new(ErrorCode::Internal, "internal error; try again")
}

/// Finds a user by name, loading it from the store if the hub has not seen
/// it yet (an account the admin CLI added).
pub async fn resolve_user(shared: &Shared, name: &str) -> OpResult<i64> {
    let name =
        normalize_user(name).map_err(|e| ErrorReply::new(ErrorCode::Invalid, e.to_string()))?;
    if let Some(id) = shared.hub().user_id(&name) {
        return Ok(id);
    }
    let row = shared
        .store
        .user_by_name(&name)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| ErrorReply::new(ErrorCode::NoSuchUser, format!("no such user: {name}")))?;
    shared.hub().ensure_user(row.id, &row.name, row.admin);
    Ok(row.id)
}

/// Creates the direct conversation between the caller's user and `peer` if
/// it does not exist yet.
pub async fn ensure_direct(shared: &Shared, caller: Caller, peer: i64) -> OpResult<()> {
    let me = shared
        .hub()
        .session_user(caller.session)
        .ok_or_else(|| ErrorReply::new(ErrorCode::NotLoggedIn, "log in first"))?;
    {
        let hub = shared.hub();
        if hub.is_guest(me) || hub.is_guest(peer) {
            return Err(guests_public_only());
        }
    }
    let name = crate::hub::direct_name(me, peer);
    // Each new conversation costs a unit of the hourly quota: they cannot
    // be left, so a stranger opening dozens would clutter a user's list.
    quotas::take(shared, me, crate::Quota::Directs)?;
    let room_id = match shared.store.open_direct(&name, me, peer).await {
        Ok(id) => id,
        Err(e) => {
            quotas::refund(shared, me, crate::Quota::Directs);
            return Err(internal(&e));
        }
    };
    shared.hub().add_direct(room_id, name, me, peer);
    Ok(())
}

/// What an IRC guest (or someone asking something of one) is told when
/// it reaches past public rooms.
#[must_use]
pub fn guests_public_only() -> ErrorReply {
    ErrorReply::new(
        ErrorCode::Forbidden,
        "guests may only join public rooms: log in with an account for the rest",
    )
}

/// Refuses a guest's session what only accounts may do.
pub fn not_for_guests(shared: &Shared, caller: Caller) -> OpResult<()> {
    if shared.hub().session_is_guest(caller.session) {
        return Err(guests_public_only());
    }
    Ok(())
}

/// Queues a change the hub made for the store, in order with messages.
pub fn persist(shared: &Shared, change: Option<StoreChange>) {
    if let Some(change) = change
        && let Err(e) = shared.store.persist(change)
    {
        tracing::warn!(error = %e, "store closed; change not persisted");
    }
}

/// Persists a hub change and hands back its reply.
pub fn changed(shared: &Shared, result: OpResult<(Response, Option<StoreChange>)>) -> OpResult {
    result.map(|(res, change)| {
        persist(shared, change);
        res
    })
}

/// Records a moderation action in the audit log. It commits in order with
/// the change it describes; nobody waits for it.
pub fn audit(
    shared: &Shared,
    caller: Caller,
    action: &str,
    target: &str,
    room: &str,
    detail: &str,
) {
    let actor = {
        let hub = shared.hub();
        let Some(user) = hub.session_user(caller.session) else {
            return;
        };
        hub.user_name_of(user)
    };
    let entry = store::AuditEntry {
        at: store::now_ms(),
        actor,
        action: action.to_owned(),
        target: normalize_user(target).unwrap_or_else(|_| target.trim().to_owned()),
        room: room.trim().to_owned(),
        detail: detail.to_owned(),
    };
    if let Err(e) = shared.store.audit(entry) {
        tracing::warn!(error = %e, "store closed; audit entry lost");
    }
}

/// The caller's user id.
pub(crate) fn user_of(shared: &Shared, caller: Caller) -> OpResult<i64> {
    shared
        .hub()
        .session_user(caller.session)
        .ok_or_else(|| ErrorReply::new(ErrorCode::NotLoggedIn, "log in first"))
}
