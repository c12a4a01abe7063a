//! Files on their way in: the server-wide state of transfers (tickets for
//! transfer connections, upload rates, which connection owns which upload),
//! and what is done to a complete upload before anyone may see it.
//!
//! # Layout
//! - `mod.rs` (here): [`Uploads`], the state shared by every connection.
//! - [`content`]: sniffing the type from the bytes, sanitising names.
//! - [`thumbnail`]: image thumbnails, made once at upload.
//! - [`scan`]: the optional `files.scan_command`.
//!
//! The requests themselves are in [`crate::ops::files`]; the bytes go to
//! the store's [`crate::store::BlobStore`], the metadata to
//! [`crate::store::files`].

pub mod content;
pub mod scan;
pub mod thumbnail;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::auth::TokenBucket;
use crate::store::PartialKey;

/// How long a transfer ticket may wait for its connection.
pub const TICKET_LIFETIME: Duration = Duration::from_mins(1);

/// State every connection shares about transfers. Each map is behind its
/// own short lock, never held across an await.
#[derive(Debug, Default)]
pub struct Uploads {
    /// Ticket hashes waiting for their transfer connection: the account,
    /// the chat session that asked, and when the ticket lapses.
    tickets: Mutex<HashMap<String, (i64, u64, Instant)>>,
    /// Uploads started per account (`files.uploads_per_minute`).
    rates: Mutex<HashMap<i64, TokenBucket>>,
    /// Which claim owns each upload in progress: a client that reconnects
    /// after a cut takes its upload over from the connection that has not
    /// noticed the cut yet.
    claims: Mutex<HashMap<PartialKey, u64>>,
    next_claim: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update is one insert or remove: a panic cannot leave a map
    // half changed, so poisoning is ignored.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Uploads {
    /// A new ticket for `user`'s chat session `session`; only its hash is
    /// kept.
    pub fn issue_ticket(&self, user: i64, session: u64) -> String {
        let (ticket, hash) = crate::auth::new_token();
        let now = Instant::now();
        let mut tickets = lock(&self.tickets);
        tickets.retain(|_, (_, _, until)| *until > now);
        tickets.insert(hash, (user, session, now + TICKET_LIFETIME));
        ticket
    }

    /// The account and session a ticket was issued to, once: a ticket
    /// works one time, within [`TICKET_LIFETIME`].
    pub fn redeem_ticket(&self, ticket: &str) -> Option<(i64, u64)> {
        let hash = crate::auth::hash_token(ticket);
        let (user, session, until) = lock(&self.tickets).remove(&hash)?;
        (until > Instant::now()).then_some((user, session))
    }

    /// Takes one upload from `user`'s rate of `per_minute`.
    ///
    /// # Errors
    /// How long until the next one may start.
    pub fn take_upload(&self, user: i64, per_minute: u32) -> Result<(), Duration> {
        if per_minute == 0 {
            return Ok(());
        }
        let n = f64::from(per_minute);
        lock(&self.rates)
            .entry(user)
            .or_insert_with(|| TokenBucket::new(n / 60.0, n))
            .take()
    }

    /// Claims an upload for a connection, taking it from any other; the
    /// returned claim is checked before each write ([`Uploads::holds`]).
    pub fn claim(&self, key: &PartialKey) -> u64 {
        let claim = self.next_claim.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.claims).insert(key.clone(), claim);
        claim
    }

    /// Whether `claim` still owns the upload.
    pub fn holds(&self, key: &PartialKey, claim: u64) -> bool {
        lock(&self.claims).get(key) == Some(&claim)
    }

    /// Gives an upload up (done, cancelled, or its connection ended).
    pub fn release(&self, key: &PartialKey, claim: u64) {
        let mut claims = lock(&self.claims);
        if claims.get(key) == Some(&claim) {
            claims.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_works_once_and_a_newer_claim_wins() {
        let u = Uploads::default();
        let t = u.issue_ticket(7, 70);
        assert_eq!(u.redeem_ticket("nope"), None);
        assert_eq!(u.redeem_ticket(&t), Some((7, 70)));
        assert_eq!(u.redeem_ticket(&t), None);
        let key = PartialKey {
            owner: 7,
            sha256: "ab".into(),
            size: 3,
        };
        let old = u.claim(&key);
        let new = u.claim(&key);
        assert!(!u.holds(&key, old) && u.holds(&key, new));
        u.release(&key, old);
        assert!(u.holds(&key, new));
        u.release(&key, new);
        assert!(!u.holds(&key, new));
        for _ in 0..3 {
            u.take_upload(7, 3).unwrap();
        }
        assert!(u.take_upload(7, 3).is_err());
        assert!(u.take_upload(8, 3).is_ok());
    }
}
