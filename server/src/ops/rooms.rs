//! Rooms as their members use them: joining (a direct conversation is
//! opened on first use), leaving, creating, and the lists a client shows
//! (members, your rooms, the public directory). Inviting, with consent, is
//! in [`super::safety`].

use natter_shared::{ErrorCode, ErrorReply, Response, RoomKind};

use super::{Caller, OpResult, changed, internal, quotas};
use crate::store::StoreError;
use crate::{Quota, Shared};

/// Joins a public room, or opens the direct conversation `@user` names.
pub async fn join(shared: &Shared, caller: Caller, room: &str) -> OpResult {
    let peer = shared.hub().direct_peer_id(caller.session, room)?;
    if let Some(peer) = peer {
        super::ensure_direct(shared, caller, peer).await?;
    }
    let r = shared.hub().join(caller.session, room);
    changed(shared, r)
}

/// Leaves a room.
pub fn leave(shared: &Shared, caller: Caller, room: &str) -> OpResult {
    let r = shared.hub().leave(caller.session, room);
    changed(shared, r)
}

/// Creates a room owned by the caller (counted against their quota).
pub async fn create(shared: &Shared, caller: Caller, room: &str, private: bool) -> OpResult {
    super::not_for_guests(shared, caller)?;
    let (user, name) = {
        let hub = shared.hub();
        let user = hub
            .session_user(caller.session)
            .ok_or_else(|| ErrorReply::new(ErrorCode::NotLoggedIn, "log in first"))?;
        (user, hub.check_create(room)?)
    };
    quotas::take(shared, user, Quota::Rooms)?;
    let kind = if private {
        RoomKind::Private
    } else {
        RoomKind::Public
    };
    let created = shared.store.create_room(&name, kind, user).await;
    match created {
        Ok(room_id) => {
            let state = shared.hub().add_created_room(room_id, name, kind, user);
            let kind = if private { "private" } else { "public" };
            super::audit(shared, caller, "room.create", "", room, kind);
            Ok(Response::Room(state))
        }
        Err(StoreError::RoomExists(_)) => {
            quotas::refund(shared, user, Quota::Rooms);
            Err(ErrorReply::new(
                ErrorCode::AlreadyExists,
                format!("#{name} already exists"),
            ))
        }
        Err(e) => {
            quotas::refund(shared, user, Quota::Rooms);
            Err(internal(&e))
        }
    }
}

/// A room's members, most available first.
pub fn members(shared: &Shared, caller: Caller, room: &str) -> OpResult {
    shared.hub().members(caller.session, room)
}

/// The caller's rooms, with unread counts.
pub fn list(shared: &Shared, caller: Caller) -> OpResult {
    shared.hub().rooms_reply(caller.session)
}

/// Public rooms anyone may join.
pub fn directory(shared: &Shared, caller: Caller) -> OpResult {
    shared.hub().directory(caller.session)
}
