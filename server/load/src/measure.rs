//! What a run measures: end-to-end latency histograms (one per receiver,
//! merged at the end, so receivers never contend on shared counters), and
//! the server process's CPU time and memory from `/proc`, plus the kernel's
//! TCP socket memory from `/proc/net/sockstat`.

use std::time::Duration;

/// Sub-buckets per power of two: values are kept to within 1/32 (about 3%).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Powers of two covered above the linear range: up to 2^(5+28) µs, hours.
const GROUPS: usize = 28;
const BUCKETS: usize = (SUB as usize) * (GROUPS + 1);

/// A log-linear latency histogram in microseconds: exact below 32 µs, then
/// 32 buckets per power of two. Small enough (3.7 KB) that every receiver
/// of a 10,000-connection run keeps its own.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u32; BUCKETS]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count())
            .finish_non_exhaustive()
    }
}

fn bucket(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    // The highest set bit picks the group, the next SUB_BITS bits the
    // sub-bucket.
    let high = us.ilog2();
    let group = (high + 1 - SUB_BITS) as usize;
    let sub = (us >> (high - SUB_BITS)) & (SUB - 1);
    (group * SUB as usize + sub as usize).min(BUCKETS - 1)
}

/// The largest value that falls in bucket `i`.
fn upper_edge(i: usize) -> u64 {
    let (group, sub) = ((i as u64) / SUB, (i as u64) % SUB);
    if group == 0 {
        return sub;
    }
    let shift = group - 1;
    ((SUB + sub + 1) << shift) - 1
}

impl Histogram {
    /// Records one latency, in microseconds.
    pub fn record(&mut self, us: u64) {
        let b = &mut self.counts[bucket(us)];
        *b = b.saturating_add(1);
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// How many were recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// The latency below which `q` (0..1) of the samples fall, as the upper
    /// edge of its bucket (so never an underestimate); `None` when empty.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // q is clamped to 0..=1, so the product is a non-negative count.
        #[allow(clippy::cast_sign_loss)]
        let rank = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Some(Duration::from_micros(upper_edge(i)));
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

/// Memory the kernel holds for all TCP sockets on the machine, in bytes
/// (the `mem` pages of the `TCP:` line of `/proc/net/sockstat`). Socket
/// buffers are the kernel's, not the server's, so runs report them apart
/// from RSS.
pub fn tcp_socket_memory() -> std::io::Result<u64> {
    let text = std::fs::read_to_string("/proc/net/sockstat")?;
    let pages = text
        .lines()
        .find_map(|l| l.strip_prefix("TCP:"))
        .and_then(|l| {
            let mut it = l.split_whitespace();
            while let Some(k) = it.next() {
                if k == "mem" {
                    return it.next()?.parse::<u64>().ok();
                }
            }
            None
        })
        .ok_or_else(|| std::io::Error::other("no TCP mem in /proc/net/sockstat"))?;
    Ok(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for us in [0u64, 1, 31, 32, 33, 63, 64, 100, 1000, 12_345, 1 << 30] {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            last = b;
            let edge = upper_edge(b);
            assert!(edge >= us, "{us} above its bucket edge {edge}");
            // Within about 3% above.
            assert!(edge as f64 <= us as f64 * 1.04 + 1.0, "{us} -> {edge}");
        }
    }

    #[test]
    fn quantiles_merge_and_never_underestimate() {
        let mut a = Histogram::default();
        assert_eq!(a.quantile(0.5), None);
        let mut b = Histogram::default();
        for us in 1..=100 {
            a.record(us * 10);
            b.record(us * 10);
        }
        a.merge(&b);
        assert_eq!(a.count(), 200);
        let p50 = a.quantile(0.5).unwrap().as_micros();
        assert!((500..=520).contains(&p50), "{p50}");
        let p99 = a.quantile(0.99).unwrap().as_micros();
        assert!((990..=1030).contains(&p99), "{p99}");
        a.record(10_000_000);
        assert!(a.quantile(1.0).unwrap() >= Duration::from_secs(10));
    }

    #[test]
    fn this_process_and_the_kernel_can_be_sampled() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss > 0);
        tcp_socket_memory().unwrap();
    }
}
