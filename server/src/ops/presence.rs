//! Presence (per session; others see the most available), typing (relayed
//! at most once per throttle interval, expiring on its own), and server
//! statistics.

use natter_shared::{PresenceState, Response};

use super::{Caller, OpResult};
use crate::Shared;

/// Sets the caller's presence and status text.
pub fn set(
    shared: &Shared,
    caller: Caller,
    state: PresenceState,
    status: Option<String>,
) -> OpResult {
    shared.hub().set_presence(caller.session, state, status)
}

/// The caller started or stopped typing in a room.
pub fn typing(shared: &Shared, caller: Caller, room: &str, active: bool) -> OpResult {
    shared.hub().typing(caller.session, room, active)
}

/// Server statistics.
pub async fn stats(shared: &Shared, caller: Caller) -> OpResult {
    let mut reply = shared.hub().stats(caller.session)?;
    if let Response::Stats(stats) = &mut reply {
        let (blobs, bytes) = shared
            .store
            .blob_usage()
            .await
            .map_err(|e| super::internal(&e))?;
        stats.blobs = blobs;
        stats.blob_bytes = bytes;
    }
    Ok(reply)
}
