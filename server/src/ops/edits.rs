//! Edits and deletes: a message's author replaces its body; its author, or
//! a moderator of the room, deletes it. Both go through the ordered commit
//! path; the hub applies and fans out the change (`Edited`, `Deleted`) in
//! commit order with the messages around it, before the caller's reply.

use natter_shared::{ErrorCode, ErrorReply, MessageId, Response};

use super::{Caller, OpResult, internal};
use crate::Shared;
use crate::hub::no_such_message;
use crate::store::Refusal;

/// The room a request about message `id` is about: `room` as given, or,
/// when it is empty, the message's own room as the caller names it. A
/// message in no room of theirs, or none at all, gets the one
/// `no_such_message` answer.
///
/// # Errors
/// `not_logged_in`, `no_such_message`, or a store failure.
pub async fn room_of(
    shared: &Shared,
    caller: Caller,
    room: String,
    id: MessageId,
) -> Result<String, ErrorReply> {
    if !room.is_empty() {
        return Ok(room);
    }
    let room_id = shared
        .store
        .message_room(id)
        .await
        .map_err(|e| internal(&e))?;
    shared
        .hub()
        .member_room_name(caller.session, room_id)?
        .ok_or_else(no_such_message)
}

/// Replaces the body of the caller's own message `id` in `room`. Body
/// limits are those of a send; earlier versions are not kept.
///
/// # Errors
/// The room errors, `invalid` or `too_long` for the body,
/// `no_such_message` for an id the caller may not see or a deleted
/// message, `forbidden` for someone else's message.
pub async fn edit(
    shared: &Shared,
    caller: Caller,
    room: &str,
    id: MessageId,
    body: String,
) -> OpResult {
    let scope = {
        let hub = shared.hub();
        let scope = hub.message_scope(caller.session, room)?;
        hub.check_body(&body)?;
        scope
    };
    let verdict = shared
        .store
        .edit_message(scope.room_id, id, scope.name, body)
        .await
        .map_err(|e| internal(&e))?;
    match verdict {
        Ok(_) => Ok(Response::Done),
        Err(Refusal::NotAuthor) => Err(ErrorReply::new(
            ErrorCode::Forbidden,
            "you can only edit your own messages",
        )),
        Err(_) => Err(no_such_message()),
    }
}

/// Deletes message `id` in `room`: the caller's own, or anyone's in a room
/// they moderate (server admins too). The body is erased and the reactions
/// go; a tombstone keeps the message's place.
///
/// # Errors
/// The room errors, `no_such_message` for an id the caller may not see or
/// a message already deleted, `forbidden` for someone else's message in a
/// room the caller does not moderate.
pub async fn delete(shared: &Shared, caller: Caller, room: &str, id: MessageId) -> OpResult {
    let scope = shared.hub().message_scope(caller.session, room)?;
    let verdict = shared
        .store
        .delete_message(scope.room_id, id, scope.name, scope.moderator)
        .await
        .map_err(|e| internal(&e))?;
    match verdict {
        Ok(()) => {
            // A deleted message's files go with it, now: a user who deletes
            // a file they posted by mistake expects it gone.
            if let Err(e) = super::files::collect(shared).await {
                tracing::warn!(error = %e, "cannot collect a deleted message's files");
            }
            Ok(Response::Done)
        }
        Err(Refusal::NotAuthor) => Err(ErrorReply::new(
            ErrorCode::Forbidden,
            "only its author or a moderator can delete a message",
        )),
        Err(_) => Err(no_such_message()),
    }
}
