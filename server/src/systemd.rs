//! systemd integration: `Type=notify` readiness, reload and stop notices,
//! and the watchdog (see `assets/natterd.service`).
//!
//! The protocol is a datagram per state change to the socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace), as
//! `sd_notify(3)` describes; without that variable (not under systemd,
//! tests, `natter --local`) every call does nothing. The watchdog pings
//! only after a round trip through the hub's lock and the store's commit
//! path, so a server that is alive but stuck is restarted, not kept.

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::Duration;

use crate::Shared;

/// Sends `state` (`READY=1`, `STOPPING=1`, ...) to systemd, if natterd
/// runs under it. Failures are logged once per call and otherwise
/// ignored: systemd's bookkeeping must never stop the server.
pub fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|socket| {
        let bytes = target.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)
        } else {
            socket.send_to(state.as_bytes(), &target)
        }
    });
    if let Err(e) = sent {
        tracing::warn!(error = %e, state, "cannot notify systemd");
    }
}

/// Tells systemd a reload started (`RELOADING=1` with the monotonic
/// time, as `Type=notify-reload` wants it); follow with [`ready`].
pub fn reloading() {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let usec = u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000
        + u64::try_from(now.tv_nsec).unwrap_or(0) / 1000;
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
}

/// The server is up (or back up after a reload).
pub fn ready() {
    notify("READY=1\nSTATUS=serving");
}

/// The server is shutting down.
pub fn stopping() {
    notify("STOPPING=1\nSTATUS=shutting down");
}

/// The watchdog interval systemd asked for (`WATCHDOG_USEC`), when it
/// asked this process (`WATCHDOG_PID`, if set, is ours).
#[must_use]
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID")
        && pid.to_str().and_then(|p| p.parse::<u32>().ok()) != Some(std::process::id())
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Pings the watchdog at half its interval, each time after the hub's
/// lock was taken and the store committed a write, so a deadlock or a
/// stuck store stops the pings and systemd restarts natterd.
pub async fn watchdog(shared: Arc<Shared>, interval: Duration) {
    let every = interval / 2;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        drop(shared.hub());
        match tokio::time::timeout(every, shared.store.flush()).await {
            Ok(Ok(())) => notify("WATCHDOG=1"),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the store takes no writes; not pinging the watchdog");
            }
            Err(_) => tracing::error!("the store did not commit in time; not pinging the watchdog"),
        }
    }
}
