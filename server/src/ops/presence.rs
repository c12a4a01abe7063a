//! Presence (per session; others see the most available), typing (relayed
//! at most once per throttle interval, expiring on its own), and server
//! statistics.

use natter_shared::PresenceState;

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
pub fn stats(shared: &Shared, caller: Caller) -> OpResult {
    shared.hub().stats(caller.session)
}
