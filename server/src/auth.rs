//! Passwords, session tokens and login throttling.
//!
//! Passwords are stored as argon2id PHC strings. Session tokens are 256
//! random bits, handed to the client once and stored only as their SHA-256:
//! a token is already high-entropy, so a slow hash would add cost, not
//! safety, and a leaked database does not yield usable tokens.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Hashes a password with argon2id and a random salt.
///
/// # Errors
/// Only if argon2 rejects its own parameters (a bug).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a stored hash. An unreadable hash never
/// matches.
#[must_use]
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash to verify against when the user does not exist, so that a login
/// for an unknown name costs as much as one for a known name.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("natter-dummy-password").unwrap_or_default())
}

/// A new session token (64 hex chars) and the hash to store.
#[must_use]
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

/// The stored form of a token.
#[must_use]
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Password rules, checked before hashing.
///
/// # Errors
/// A human-readable reason.
pub fn check_password_rules(password: &str) -> Result<(), String> {
    if password.chars().count() < 8 {
        return Err("password must be at least 8 characters".into());
    }
    if password.len() > 1024 {
        return Err("password must be at most 1024 bytes".into());
    }
    Ok(())
}

/// Counts failed logins per key (an account name or an IP address) over a
/// sliding window. A key over its limit is refused until its oldest failure
/// leaves the window; success does not reset an IP's count, only the
/// account's, so guessing across accounts stays throttled.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: HashMap<String, Vec<Instant>>,
}

impl Throttle {
    /// `Err(retry_after)` when `key` has `limit` failures within `window`.
    pub fn check(&mut self, key: &str, limit: u32, window: Duration) -> Result<(), Duration> {
        let now = Instant::now();
        let Some(list) = self.failures.get_mut(key) else {
            return Ok(());
        };
        list.retain(|t| now.duration_since(*t) < window);
        if let Some(oldest) = list.first().copied()
            && list.len() >= limit as usize
        {
            return Err(window.saturating_sub(now.duration_since(oldest)));
        }
        if list.is_empty() {
            self.failures.remove(key);
        }
        Ok(())
    }

    /// Starts an attempt: refused when any key is over its limit, otherwise
    /// counted as a failure for every key up front, so that many attempts
    /// racing in parallel cannot all slip under the limit. A success then
    /// calls [`Throttle::forgive`].
    pub fn begin(&mut self, keys: &[(&str, u32)], window: Duration) -> Result<(), Duration> {
        for (key, limit) in keys {
            self.check(key, *limit, window)?;
        }
        for (key, _) in keys {
            self.fail(key);
        }
        Ok(())
    }

    /// Takes back the failure [`Throttle::begin`] counted for `key`.
    pub fn forgive(&mut self, key: &str) {
        if let Some(list) = self.failures.get_mut(key) {
            list.pop();
            if list.is_empty() {
                self.failures.remove(key);
            }
        }
    }

    /// Records a failed attempt.
    pub fn fail(&mut self, key: &str) {
        self.failures
            .entry(key.to_owned())
            .or_default()
            .push(Instant::now());
        // Bound memory under a spray of distinct keys: forget the stalest.
        if self.failures.len() > 100_000 {
            self.failures.retain(|_, v| v.len() > 1);
        }
    }

    /// Forgets a key's failures (after a successful account login).
    pub fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }
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

    /// Gives back a token taken for something that then did not happen.
    pub fn refund(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong horse"));
        assert!(!verify_password("garbage", "correct horse"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(hash_token(&a), ha);
        assert_ne!(a, ha);
    }

    #[test]
    fn throttle_limits_and_clears() {
        let mut t = Throttle::default();
        let w = Duration::from_mins(1);
        for _ in 0..3 {
            assert!(t.check("alice", 3, w).is_ok());
            t.fail("alice");
        }
        let wait = t.check("alice", 3, w).unwrap_err();
        assert!(wait > Duration::from_secs(50));
        assert!(t.check("bob", 3, w).is_ok());
        t.clear("alice");
        assert!(t.check("alice", 3, w).is_ok());
    }

    #[test]
    fn begin_counts_up_front_and_forgive_takes_it_back() {
        let mut t = Throttle::default();
        let w = Duration::from_mins(1);
        // Three attempts in flight at once: the third is already refused.
        assert!(t.begin(&[("ip", 2), ("user:a", 5)], w).is_ok());
        assert!(t.begin(&[("ip", 2), ("user:a", 5)], w).is_ok());
        assert!(t.begin(&[("ip", 2), ("user:a", 5)], w).is_err());
        t.forgive("ip");
        assert!(t.begin(&[("ip", 2)], w).is_ok());
        // A limit of zero refuses without panicking.
        assert!(t.check("fresh", 0, w).is_ok());
        t.fail("fresh");
        assert!(t.check("fresh", 0, w).is_err());
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
