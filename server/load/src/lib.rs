//! natter-load: drives natterd with many real protocol connections on
//! loopback and measures what it delivers.
//!
//! # Layout
//! - [`provision`]: a bench data dir with users `u0..uN` that log in by
//!   token (no argon2 hash per connection), and a config with limits lifted.
//! - [`measure`]: latency histogram, server CPU and RSS from `/proc`.
//! - [`s1`]: scenario S1, one big room: members join, senders post with a
//!   bounded window, every member checks completeness and per-sender order
//!   and records end-to-end latency from the send timestamp in the payload.
//!
//! Payloads are `L <sender> <seq> <send time, µs since the epoch> <padding>`
//! so that any receiver can check order and latency without shared state.

pub mod measure;
pub mod provision;
pub mod s1;

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch: the clock payload timestamps use.
#[must_use]
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The bench room.
pub const ROOM: &str = "#bench";

/// A message payload for `sender`'s message `seq`, padded to `len` bytes.
#[must_use]
pub fn payload(sender: usize, seq: u64, len: usize) -> String {
    let mut p = format!("L {sender} {seq} {}", now_us());
    if p.len() < len {
        p.push(' ');
        p.extend(std::iter::repeat_n('x', len - p.len()));
    }
    p
}

/// Reads `(sender, seq, sent_us)` back from a payload.
#[must_use]
pub fn parse_payload(body: &str) -> Option<(usize, u64, u64)> {
    let mut it = body.strip_prefix("L ")?.split(' ');
    let sender = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    let ts = it.next()?.parse().ok()?;
    Some((sender, seq, ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_pad() {
        let p = payload(7, 42, 64);
        assert_eq!(p.len(), 64);
        let (s, q, ts) = parse_payload(&p).unwrap();
        assert_eq!((s, q), (7, 42));
        assert!(ts > 0);
        assert!(parse_payload("hello").is_none());
    }
}
