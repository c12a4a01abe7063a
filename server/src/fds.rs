//! File descriptors: every connection holds one, and the process has a
//! limit. Many systems start processes with a soft limit of 1024 while
//! `max_connections` defaults to 10,000, so idle sockets used to exhaust
//! the descriptors before any connection limit applied: `accept` failed and
//! honest clients timed out. At start natterd raises its soft limit to the
//! hard one, and caps connections below what remains, keeping room for the
//! store, the log files and the listeners.

/// The connection cap the descriptor limit allows: `limit` less some
/// headroom (64, or 5% of a large limit).
#[must_use]
pub fn connection_cap(limit: u64) -> usize {
    let headroom = (limit / 20).max(64);
    usize::try_from(limit.saturating_sub(headroom))
        .unwrap_or(usize::MAX)
        .max(1)
}

/// Raises the soft open-file limit to the hard limit, and returns the
/// connection cap it allows, or `None` where the limit cannot be read (then
/// only `max_connections` applies).
#[must_use]
pub fn raise_limit() -> Option<usize> {
    let before = rlimit::Resource::NOFILE.get().ok();
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => soft,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            before?.0
        }
    };
    if let Some((old, hard)) = before
        && old != soft
    {
        tracing::info!(from = old, to = soft, hard, "raised the open-file limit");
    }
    Some(connection_cap(soft))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_headroom() {
        assert_eq!(connection_cap(1024), 960);
        assert_eq!(connection_cap(20_000), 19_000);
        assert_eq!(connection_cap(10), 1);
    }
}
