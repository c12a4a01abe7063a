//! natter-load: drives a chat server with many real connections on
//! loopback and measures what it delivers. It speaks natter's protocol
//! (through `natter-shared`) and IRC, so the same scenarios with the same
//! payloads run against natterd and ngircd side by side
//! (`server/bench/compare.sh`).
//!
//! # Layout
//! - [`proto`]: the two protocols behind one connection type: setup
//!   (login or registration, joins, IRC operator mode), the allocation-free
//!   receive path, and message encoding.
//! - [`rooms`]: the traffic engine behind S1 (one big room), S2 (many
//!   rooms), S3 (latency at moderate load) and S5 (slow consumer): closed
//!   loop with a window per sender, or open loop on a fixed schedule; every
//!   receiver checks completeness and per-sender order.
//! - [`idle`]: S4 (idle memory per connection), S8 (idle sockets that
//!   never log in, beside honest logins) and the connect storm.
//! - [`history`]: S6, joining a room and fetching its latest messages.
//! - [`logins`]: S7, password login storms (memory) and a hashing flood
//!   beside an honest login (fairness).
//! - [`search`]: S9, typical searches over a store seeded with a million
//!   messages.
//! - [`provision`]: a natterd data dir of bench users that log in by token
//!   (no argon2 hash per connection) and a config with limits lifted.
//! - [`measure`]: latency histograms, server CPU and RSS from `/proc`,
//!   kernel socket memory.
//!
//! Payloads are `L <sender> <seq> <send time, µs since the epoch> <padding>`
//! so that any receiver can check order and latency without shared state.

pub mod files;
pub mod history;
pub mod idle;
pub mod logins;
pub mod measure;
pub mod proto;
pub mod provision;
pub mod rooms;
pub mod search;

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch: the clock payload timestamps use.
#[must_use]
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The payload of `sender`'s message `seq`, stamped `ts_us`, padded with
/// `x` to `len` bytes.
#[must_use]
pub fn payload(sender: usize, seq: u64, ts_us: u64, len: usize) -> String {
    let mut p = format!("L {sender} {seq} {ts_us}");
    if p.len() < len {
        p.push(' ');
        p.extend(std::iter::repeat_n('x', len - p.len()));
    }
    p
}

/// Reads `(sender, seq, ts_us)` back from a payload. Digits are read by
/// hand: this runs once per delivery, millions of times a second.
#[must_use]
pub fn parse_payload(body: &str) -> Option<(usize, u64, u64)> {
    let mut rest = body.strip_prefix("L ")?.as_bytes();
    let mut number = || {
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let (digits, after) = rest.split_at(end);
        rest = after.get(1..).unwrap_or_default();
        if digits.is_empty() || digits.len() > 19 {
            return None;
        }
        digits.iter().try_fold(0u64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
        })
    };
    let sender = usize::try_from(number()?).ok()?;
    let seq = number()?;
    let ts = number()?;
    Some((sender, seq, ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_pad() {
        let p = payload(7, 42, 1234, 64);
        assert_eq!(p.len(), 64);
        assert_eq!(parse_payload(&p), Some((7, 42, 1234)));
        assert_eq!(parse_payload(&payload(1, 2, 3, 0)), Some((1, 2, 3)));
        assert!(parse_payload("hello").is_none());
        assert!(parse_payload("L 1 x 3").is_none());
        assert!(parse_payload("L 1 2").is_none());
        assert!(parse_payload("L 1  2 3").is_none());
    }
}
