//! Counting failed logins, and token buckets for every other rate.
//!
//! The login rules, and why:
//! - Failures are counted per (account, address) and per address, and only
//!   those refuse. A stranger guessing alice's password from elsewhere
//!   fills their own counts, never alice's: she still logs in from her own
//!   address, and with her token always (tokens are not counted with
//!   passwords at all).
//! - Failures per account from every address only slow password logins
//!   down, with a delay that grows with each failure, and never from an
//!   address that logged into that account successfully before.
//! - An attempt in flight is not a failure. It is *pending*: when pending and
//!   past failures together reach a limit, a new attempt waits for the
//!   pending ones to settle instead of being refused, so sixty honest
//!   logins at once from one office's address all get in, while a burst of
//!   guesses still cannot race past the limit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long an address that logged into an account stays exempt from that
/// account's slow-down.
const TRUSTED_FOR: Duration = Duration::from_hours(24 * 30);

/// The most keys of each kind remembered; past it the stalest are dropped,
/// so a spray of distinct keys cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

/// What an attempt may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; the attempt is now pending under every key, and must be
    /// settled with [`Throttle::settle`].
    Go,
    /// Attempts in flight might yet reach the limit: wait for them to settle
    /// and ask again.
    Wait,
    /// Real failures reached a limit; the oldest leaves the window after
    /// this long.
    Refused(Duration),
}

/// Failed and pending login attempts per key, over a sliding window.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: HashMap<String, Vec<Instant>>,
    /// The window the last admission was judged by: failures older than
    /// it count for nothing and may be forgotten.
    window: Duration,
    pending: HashMap<String, u32>,
    /// `account@address` pairs that logged in, and when.
    trusted: HashMap<String, Instant>,
}

impl Throttle {
    fn recent(&mut self, key: &str, window: Duration) -> Option<&Vec<Instant>> {
        let now = Instant::now();
        let list = self.failures.get_mut(key)?;
        list.retain(|t| now.duration_since(*t) < window);
        if list.is_empty() {
            self.failures.remove(key);
            return None;
        }
        self.failures.get(key)
    }

    /// Failures of `key` within `window`.
    pub fn failures(&mut self, key: &str, window: Duration) -> usize {
        self.recent(key, window).map_or(0, Vec::len)
    }

    /// Admits an attempt under `keys`, each with its limit of failures per
    /// `window` (a limit of 0 counts as 1).
    pub fn admit(&mut self, keys: &[(&str, u32)], window: Duration) -> Admission {
        self.window = window;
        let now = Instant::now();
        let mut must_wait = false;
        for (key, limit) in keys {
            let limit = (*limit).max(1) as usize;
            let (count, oldest) = self
                .recent(key, window)
                .map_or((0, None), |l| (l.len(), l.first().copied()));
            if count >= limit {
                let oldest = oldest.unwrap_or(now);
                return Admission::Refused(window.saturating_sub(now.duration_since(oldest)));
            }
            let pending = self.pending.get(*key).copied().unwrap_or(0) as usize;
            if count + pending >= limit {
                must_wait = true;
            }
        }
        if must_wait {
            return Admission::Wait;
        }
        for (key, _) in keys {
            *self.pending.entry((*key).to_owned()).or_default() += 1;
        }
        Admission::Go
    }

    /// Ends an attempt [`Throttle::admit`] let in under `keys`: no longer
    /// pending, and a failure under each of `failed`. (A key that never
    /// records failures is a pure concurrency limit: at most its limit of
    /// attempts in flight at once.)
    pub fn settle(&mut self, keys: &[&str], failed: &[&str]) {
        for key in keys {
            if let Some(n) = self.pending.get_mut(*key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.pending.remove(*key);
                }
            }
        }
        for key in failed {
            self.fail(key);
        }
    }

    /// Records a failure under `key`. Past [`MAX_KEYS`] keys, those whose
    /// failures have all left the window are forgotten, then, if need be,
    /// those whose latest failure is oldest: never the key just recorded,
    /// so a spray of distinct names can fill memory no further and cannot
    /// switch the counting off.
    pub fn fail(&mut self, key: &str) {
        let now = Instant::now();
        self.failures.entry(key.to_owned()).or_default().push(now);
        if self.failures.len() > MAX_KEYS {
            let window = self.window.max(Duration::from_secs(1));
            self.failures
                .retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < window));
            evict_oldest(&mut self.failures, |v| v.last().copied());
        }
    }

    /// Forgets a key's failures (after a success under it).
    pub fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }

    /// Remembers that `pair` (`account@address`) logged in.
    pub fn trust(&mut self, pair: &str) {
        let now = Instant::now();
        self.trusted.insert(pair.to_owned(), now);
        if self.trusted.len() > MAX_KEYS {
            self.trusted
                .retain(|_, at| now.duration_since(*at) < TRUSTED_FOR);
            evict_oldest(&mut self.trusted, |at| Some(*at));
        }
    }

    /// Whether `pair` logged in within [`TRUSTED_FOR`].
    #[must_use]
    pub fn trusted(&self, pair: &str) -> bool {
        self.trusted
            .get(pair)
            .is_some_and(|at| at.elapsed() < TRUSTED_FOR)
    }

    /// The slow-down for a password attempt on an account with `failures`
    /// failures from every address in the window, once there are more than
    /// `free` of them: 100 ms doubling with each further failure, at most
    /// 5 s.
    #[must_use]
    pub fn slowdown(failures: usize, free: u32) -> Duration {
        let Some(excess) = failures.checked_sub(free as usize + 1) else {
            return Duration::ZERO;
        };
        let doublings = u32::try_from(excess.min(6)).unwrap_or(6);
        Duration::from_millis(100 << doublings).min(Duration::from_secs(5))
    }
}

/// When `map` still holds more than [`MAX_KEYS`], drops the entries whose
/// time (`at`) is oldest until it holds three quarters of that.
fn evict_oldest<V>(map: &mut HashMap<String, V>, at: impl Fn(&V) -> Option<Instant>) {
    if map.len() <= MAX_KEYS {
        return;
    }
    let mut times: Vec<Instant> = map.values().filter_map(&at).collect();
    if times.is_empty() {
        return;
    }
    let nth = (map.len() - MAX_KEYS * 3 / 4).min(times.len() - 1);
    let cutoff = *times.select_nth_unstable(nth).1;
    map.retain(|_, v| at(v).is_some_and(|t| t > cutoff));
}

/// A token bucket: `rate` tokens per second, up to `burst`.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    #[must_use]
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// Whether the bucket has refilled (forgetting it loses nothing).
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.tokens + self.last.elapsed().as_secs_f64() * self.rate >= self.burst
    }

    /// Gives back a token taken for something that then did not happen.
    pub fn refund(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_mins(1);

    #[test]
    fn failures_refuse_and_clear() {
        let mut t = Throttle::default();
        for _ in 0..3 {
            assert_eq!(t.admit(&[("alice", 3)], W), Admission::Go);
            t.settle(&["alice"], &["alice"]);
        }
        let Admission::Refused(wait) = t.admit(&[("alice", 3)], W) else {
            panic!("three failures refuse");
        };
        assert!(wait > Duration::from_secs(50));
        assert_eq!(t.admit(&[("bob", 3)], W), Admission::Go);
        t.clear("alice");
        assert_eq!(t.admit(&[("alice", 3)], W), Admission::Go);
    }

    #[test]
    fn pending_attempts_wait_instead_of_failing() {
        let mut t = Throttle::default();
        // Two in flight against a limit of two: a third waits, not refused.
        assert_eq!(t.admit(&[("ip", 2)], W), Admission::Go);
        assert_eq!(t.admit(&[("ip", 2)], W), Admission::Go);
        assert_eq!(t.admit(&[("ip", 2)], W), Admission::Wait);
        // One succeeds: the waiting one gets in.
        t.settle(&["ip"], &[]);
        assert_eq!(t.admit(&[("ip", 2)], W), Admission::Go);
        // Both fail: now it is a refusal.
        t.settle(&["ip"], &["ip"]);
        t.settle(&["ip"], &["ip"]);
        assert!(matches!(t.admit(&[("ip", 2)], W), Admission::Refused(_)));
        // A limit of zero counts as one, and does not wait forever.
        assert_eq!(t.admit(&[("fresh", 0)], W), Admission::Go);
    }

    #[test]
    fn a_key_without_failures_limits_attempts_in_flight() {
        let mut t = Throttle::default();
        let keys = [("hashing:alice", 1), ("ip", 20)];
        assert_eq!(t.admit(&keys, W), Admission::Go);
        assert_eq!(t.admit(&keys, W), Admission::Wait);
        t.settle(&["hashing:alice", "ip"], &["ip"]);
        assert_eq!(t.admit(&keys, W), Admission::Go);
    }

    #[test]
    fn slowdown_grows_and_is_capped() {
        assert_eq!(Throttle::slowdown(5, 5), Duration::ZERO);
        assert_eq!(Throttle::slowdown(6, 5), Duration::from_millis(100));
        assert_eq!(Throttle::slowdown(8, 5), Duration::from_millis(400));
        assert_eq!(Throttle::slowdown(500, 5), Duration::from_secs(5));
    }

    #[test]
    fn a_spray_of_names_cannot_switch_the_counting_off() {
        let mut t = Throttle::default();
        assert_eq!(t.admit(&[("x", 3)], W), Admission::Go);
        for n in 0..=MAX_KEYS {
            t.fail(&format!("spray{n}"));
            t.fail(&format!("spray{n}"));
        }
        assert!(t.failures.len() <= MAX_KEYS);
        // A new failure still counts.
        t.fail("ip:1");
        assert_eq!(t.failures("ip:1", W), 1);
        t.fail("ip:1");
        t.fail("ip:1");
        assert!(matches!(t.admit(&[("ip:1", 3)], W), Admission::Refused(_)));
    }

    #[test]
    fn trust_is_per_pair() {
        let mut t = Throttle::default();
        t.trust("alice@10.0.0.1");
        assert!(t.trusted("alice@10.0.0.1"));
        assert!(!t.trusted("alice@10.0.0.2"));
    }

    #[test]
    fn bucket_refuses_past_burst_with_a_wait() {
        let mut b = TokenBucket::new(10.0, 3.0);
        for _ in 0..3 {
            b.take().unwrap();
        }
        let wait = b.take().unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
    }
}
