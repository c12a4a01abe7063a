//! Which connections are let in. Every connection counts against
//! `max_connections` (lowered to what the open-file limit allows, see
//! [`crate::fds`]) and `max_connections_per_ip`. Connections that have not
//! logged in yet also share a smaller budget, `max_unauthenticated` (a
//! quarter by default): when it is full, the *oldest* of them that is not
//! in the middle of a request (a login being checked) is closed to make
//! room for the newcomer; when every one is busy, the newcomer is refused. Idle sockets that never log in therefore
//! cannot lock honest clients out; an attacker would have to open new ones
//! faster than honest clients log in (milliseconds), from more addresses
//! than `max_connections_per_ip` allows each.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, Weak};

use natter_shared::ErrorCode;

use crate::Shared;
use crate::outbox::Outbox;

/// Connections not logged in yet, by arrival, each with the queue that
/// closes it.
#[derive(Debug, Default)]
pub struct PreLoginQueue {
    next: u64,
    waiting: BTreeMap<u64, Waiting>,
}

impl PreLoginQueue {
    /// Connections waiting to log in.
    #[must_use]
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Evicts the oldest idle connections until fewer than `max` wait.
    fn make_room(&mut self, max: usize) -> Result<(), &'static str> {
        while self.waiting.len() >= max {
            let idle = self
                .waiting
                .iter()
                .find(|(_, w)| !w.busy.load(Ordering::Relaxed))
                .map(|(seq, _)| *seq);
            let Some(oldest) = idle.and_then(|seq| self.waiting.remove(&seq)) else {
                // Every one of them is in the middle of a login.
                return Err("too many connections are logging in at once; try again shortly");
            };
            oldest
                .outbox
                .close(ErrorCode::ServerFull, EVICTED, Some(1000));
        }
        Ok(())
    }

    /// Adds a connection, with the outbox eviction closes; its number and
    /// its busy flag.
    fn enter(&mut self, outbox: &Arc<Outbox>) -> (u64, Arc<AtomicBool>) {
        let seq = self.next;
        self.next += 1;
        let busy = Arc::new(AtomicBool::new(false));
        self.waiting.insert(
            seq,
            Waiting {
                outbox: Arc::clone(outbox),
                busy: Arc::clone(&busy),
            },
        );
        (seq, busy)
    }

    /// See [`PreLogin::claim`].
    fn claim(&self, seq: u64, busy: &AtomicBool) -> bool {
        let waiting = self.waiting.contains_key(&seq);
        if waiting {
            busy.store(true, Ordering::Relaxed);
        }
        waiting
    }
}

/// One connection not logged in yet.
#[derive(Debug)]
struct Waiting {
    /// Closed to evict it: its reader already waits for that.
    outbox: Arc<Outbox>,
    /// Handling a request now: it counts, but is not evicted mid-login.
    busy: Arc<AtomicBool>,
}

/// Releases a connection slot when the connection ends.
pub struct ConnGuard {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut conns = self
            .shared
            .conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = conns.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                conns.remove(&self.ip);
            }
        }
    }
}

/// A connection's place among those not logged in yet. The front end drops
/// it at login. When a newer connection needs the place first, this one's
/// outbox is closed with [`EVICTED`].
#[derive(Debug)]
pub struct PreLogin {
    shared: Weak<Shared>,
    seq: u64,
    outbox: Arc<Outbox>,
    busy: Arc<AtomicBool>,
}

/// Why an evicted connection is closed.
pub const EVICTED: &str = "too many connections are logging in; log in sooner after connecting";

impl PreLogin {
    /// The connection's outbound queue, made here so that eviction can
    /// close it: the reader then needs no wait of its own for that.
    #[must_use]
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Marks the connection as handling a request, so eviction passes it
    /// over; `false` when it was evicted already (its outbox is closed, and
    /// the request must not be handled: a login would succeed only to be
    /// cut off). Decided under the queue's lock, as eviction is, so the two
    /// cannot cross.
    #[must_use]
    pub fn claim(&self) -> bool {
        let Some(shared) = self.shared.upgrade() else {
            return false;
        };
        shared
            .pre_login
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .claim(self.seq, &self.busy)
    }

    /// Done with the request [`PreLogin::claim`] was for: idle again, and
    /// evictable.
    pub fn release(&self) {
        self.busy.store(false, Ordering::Relaxed);
    }
}

impl Drop for PreLogin {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared
                .pre_login
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .waiting
                .remove(&self.seq);
        }
    }
}

impl Shared {
    /// The connection limit in force: `max_connections`, lowered to what
    /// the open-file limit allows.
    #[must_use]
    pub fn max_connections(&self) -> usize {
        let configured = self.config().limits.max_connections;
        self.fd_cap.map_or(configured, |cap| configured.min(cap))
    }

    /// The share of [`Shared::max_connections`] that may be connections
    /// not logged in yet: `max_unauthenticated`, or a quarter.
    #[must_use]
    pub fn max_pre_login(&self) -> usize {
        let max = self.max_connections();
        match self.config().limits.max_unauthenticated {
            0 => (max / 4).max(1),
            n => n.min(max),
        }
    }
}

/// Admits a connection from `ip`, or says why not. When the pre-login
/// share is full, the oldest connection in it is told to close instead.
///
/// # Errors
/// The refusal's message: too many connections overall or from `ip`.
pub fn admit(shared: &Arc<Shared>, ip: IpAddr) -> Result<(ConnGuard, PreLogin), &'static str> {
    let max = shared.max_connections();
    let max_pre_login = shared.max_pre_login();
    let per_ip = shared.config().limits.max_connections_per_ip;
    let mut conns = shared.conns.lock().unwrap_or_else(PoisonError::into_inner);
    let total: usize = conns.values().sum();
    if total >= max {
        return Err("the server has too many connections; try again later");
    }
    let n = conns.entry(ip).or_insert(0);
    if *n >= per_ip {
        return Err("too many connections from your address");
    }
    *n += 1;
    drop(conns);
    let guard = ConnGuard {
        shared: Arc::clone(shared),
        ip,
    };
    let mut queue = shared
        .pre_login
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    queue.make_room(max_pre_login)?;
    let outbox = Arc::new(Outbox::new(shared.config().limits.outbound_queue_bytes));
    let (seq, busy) = queue.enter(&outbox);
    drop(queue);
    Ok((
        guard,
        PreLogin {
            shared: Arc::downgrade(shared),
            seq,
            outbox,
            busy,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eviction and a connection starting a request decide under one lock:
    /// whichever comes first wins, and an evicted connection is told so
    /// instead of handling a login that would then be cut off.
    #[test]
    fn an_evicted_connection_cannot_claim_and_a_claimed_one_is_not_evicted() {
        let mut queue = PreLoginQueue::default();
        let first = Arc::new(Outbox::new(1 << 16));
        let (seq, busy) = queue.enter(&first);
        queue.make_room(1).unwrap();
        assert!(first.is_closed(), "the oldest idle one was evicted");
        assert!(!queue.claim(seq, &busy), "too late to start a request");

        let second = Arc::new(Outbox::new(1 << 16));
        let (seq, busy) = queue.enter(&second);
        assert!(queue.claim(seq, &busy));
        assert!(queue.make_room(1).is_err(), "busy ones are not evicted");
        assert!(!second.is_closed());
        busy.store(false, Ordering::Relaxed);
        queue.make_room(1).unwrap();
        assert!(second.is_closed(), "evictable once idle again");
        assert!(queue.is_empty());
    }
}
