//! Reconnect delays: exponential backoff with jitter.
//!
//! After the n-th consecutive failure the nominal delay is
//! `min(max, base * 2^n)`: 1 s, 2 s, 4 s, ... up to 30 s by default. The
//! actual delay is drawn uniformly from the upper half of that,
//! `[nominal / 2, nominal]` ("equal jitter"), so that a thousand clients
//! dropped by the same server restart do not all come back in the same
//! millisecond, while each still waits at least half the nominal delay.

use std::time::Duration;

use rand::Rng;

/// A backoff schedule and its position. Call [`Backoff::next_delay`] after
/// each failure and [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Default for Backoff {
    /// 1 s doubling up to 30 s.
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(30))
    }
}

impl Backoff {
    /// A schedule starting at `base` and doubling up to `max` (tests use
    /// milliseconds; the client uses the default).
    #[must_use]
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            failures: 0,
        }
    }

    /// The delay before the next attempt, without jitter. Grows with each
    /// call to [`Backoff::next_delay`].
    #[must_use]
    pub fn nominal(&self) -> Duration {
        // 2^20 s is far beyond any sane cap; stop doubling there so the
        // shift cannot overflow.
        let factor = 1u32 << self.failures.min(20);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The jittered delay to wait now; advances the schedule.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(&mut rand::rng())
    }

    /// [`Backoff::next_delay`] with a caller-chosen random source, so tests
    /// can be deterministic.
    pub fn next_delay_with(&mut self, rng: &mut impl Rng) -> Duration {
        let nominal = self.nominal();
        self.failures = self.failures.saturating_add(1);
        let half = nominal / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rng.random_range(0..=nanos))
    }

    /// Consecutive failures so far.
    #[must_use]
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to the first step, after a connection that worked.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn doubles_from_one_second_up_to_thirty() {
        let mut b = Backoff::default();
        let mut nominal = Vec::new();
        for _ in 0..8 {
            nominal.push(b.nominal().as_secs());
            b.next_delay();
        }
        assert_eq!(nominal, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(b.failures(), 8);
        b.reset();
        assert_eq!(b.nominal(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_the_upper_half_and_varies() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut b = Backoff::default();
            for step in 0..10 {
                let nominal = b.nominal();
                let d = b.next_delay_with(&mut rng);
                assert!(
                    d >= nominal / 2 && d <= nominal,
                    "step {step}: {d:?} vs {nominal:?}"
                );
                seen.insert(d);
            }
        }
        assert!(
            seen.len() > 1000,
            "jitter should spread delays, got {}",
            seen.len()
        );
    }

    #[test]
    fn never_overflows() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..1000 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
    }
}
