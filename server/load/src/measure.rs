//! What a run measures: end-to-end latency (a histogram shared by every
//! receiver), and the server process's CPU time and memory from `/proc`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency buckets: 10 µs wide up to 100 ms, then one overflow bucket.
const BUCKET_US: u64 = 10;
const BUCKETS: usize = 10_000;

/// A lock-free latency histogram.
pub struct Histogram {
    buckets: Vec<AtomicU64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..=BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    /// Records one latency.
    pub fn record(&self, us: u64) {
        let i = ((us / BUCKET_US) as usize).min(BUCKETS);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// How many were recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The latency below which `q` (0..1) of the samples fall, at bucket
    /// resolution (the bucket's upper edge); `None` when empty.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // q is within 0..=1, so the product is a non-negative count.
        #[allow(clippy::cast_sign_loss)]
        let rank = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(Duration::from_micros((i as u64 + 1) * BUCKET_US));
            }
        }
        None
    }
}

/// A process's CPU time and resident memory at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    /// User + system CPU time.
    pub cpu: Duration,
    /// Resident set size, bytes.
    pub rss: u64,
}

/// Reads `/proc/<pid>/stat` (utime, stime in clock ticks of 1/100 s, the
/// value of USER_HZ on Linux) and `/proc/<pid>/status` (VmRSS).
pub fn sample(pid: u32) -> std::io::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count from its ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line; after the
    // ')' the state is field 3, so they are at index 11 and 12.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let cpu = Duration::from_millis((ticks(11) + ticks(12)) * 10);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    Ok(ProcSample { cpu, rss })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_bucket_edges() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for us in 1..=100 {
            h.record(us * 10);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), Some(Duration::from_micros(510)));
        assert_eq!(h.quantile(0.99), Some(Duration::from_millis(1)));
        h.record(10_000_000);
        assert_eq!(h.quantile(1.0), Some(Duration::from_micros(100_010)));
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss > 0);
    }
}
