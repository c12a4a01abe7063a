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

/// Brings the metrics that are levels up to date before a scrape:
/// connections by state, sessions, users online, queued bytes, the store's
/// and the blob store's size.
pub async fn refresh_levels(shared: &Shared) {
    let m = &shared.metrics;
    let levels = shared.hub().levels();
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    m.sessions.set(as_i64(levels.sessions));
    m.users_online.set(as_i64(levels.users_online));
    m.users_logged_in.set(as_i64(levels.users_logged_in));
    m.outbound_bytes.set(as_i64(levels.outbound_bytes));
    let open = shared.open_connections();
    let pre_login = shared.pre_login_connections();
    let transfers = usize::try_from(m.transfers.get()).unwrap_or(0);
    for (state, n) in [
        ("logged_in", levels.sessions),
        ("pre_login", pre_login),
        ("transfer", transfers),
        ("open", open),
    ] {
        m.connections
            .get_or_create(&crate::metrics::ConnLabel {
                protocol: "natter",
                state,
            })
            .set(as_i64(n));
    }
    m.uptime
        .set(i64::try_from(shared.started.elapsed().as_secs()).unwrap_or(i64::MAX));
    if let Ok((blobs, bytes)) = shared.store.blob_usage().await {
        m.blobs.set(i64::try_from(blobs).unwrap_or(i64::MAX));
        m.blob_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
    m.store_bytes
        .set(i64::try_from(shared.store.size_on_disk()).unwrap_or(i64::MAX));
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
