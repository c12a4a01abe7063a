//! Read markers: moving yours forward, and recounting unread messages from
//! the store when the marker is older than the in-memory ring; and what
//! others see of them (read receipts, delivery; see `hub::receipts`).

use std::sync::Arc;

use natter_shared::MessageId;

use super::{Caller, OpResult, persist};
use crate::Shared;
use crate::store::StoreChange;

/// Moves the caller's read marker in a room forward to `id`.
pub fn mark_read(shared: &Arc<Shared>, caller: Caller, room: &str, id: MessageId) -> OpResult {
    let (res, change, recount_needed) = shared.hub().mark_read(caller.session, room, id)?;
    if recount_needed && let Some(StoreChange::Read { room, user, .. }) = &change {
        recount(shared, *room, *user);
    }
    persist(shared, change);
    Ok(res)
}

/// Who has read how far in a room (`Readers`).
pub fn readers(shared: &Shared, caller: Caller, room: &str, id: Option<MessageId>) -> OpResult {
    shared.hub().readers(caller.session, room, id)
}

/// The caller's client received a direct conversation up to `id`.
pub fn received(shared: &Shared, caller: Caller, room: &str, id: MessageId) -> OpResult {
    let r = shared.hub().received(caller.session, room, id);
    super::changed(shared, r)
}

/// Turns sharing the caller's read receipts on or off, or asks.
pub fn share_receipts(shared: &Shared, caller: Caller, share: Option<bool>) -> OpResult {
    let r = shared.hub().share_receipts(caller.session, share);
    super::changed(shared, r)
}

/// Recounts unread messages from the store for a marker older than the
/// in-memory ring, then updates the hub. At most one recount runs per
/// (room, user); it repeats until its count matches the marker it read, so
/// a burst of `MarkRead`s costs one scan at a time, not one each.
fn recount(shared: &Arc<Shared>, room: i64, user: i64) {
    let fresh = shared
        .recounts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert((room, user));
    if !fresh {
        return;
    }
    let task = Arc::clone(shared);
    // Tracked: shutdown waits for it rather than closing the store under it.
    shared.tasks.spawn(async move {
        let shared = task;
        loop {
            let target = shared.hub().marker_of(room, user);
            let counted = match target {
                Some((name, marker)) => shared
                    .store
                    .unread_counts(room, &name, marker)
                    .await
                    .ok()
                    .map(|counts| (marker, counts)),
                None => None,
            };
            // Free the slot under the hub lock, so a MarkRead that moves the
            // marker after this sees it free and starts a recount.
            let mut hub = shared.hub();
            let done = match counted {
                Some((marker, counts)) => hub.set_counts(room, user, marker, counts),
                None => true,
            };
            if done {
                shared
                    .recounts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&(room, user));
                return;
            }
        }
    });
}
