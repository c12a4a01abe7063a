//! Passwords, session tokens and login throttling.
//! - here: password rules, argon2 helpers for the admin CLI, tokens;
//! - [`hasher`]: the fixed pool of hashing threads the server uses;
//! - [`throttle`]: failed-login counting and token buckets.
//!
//! Passwords are stored as argon2id PHC strings. Session tokens are 256
//! random bits, handed to the client once and stored only as their SHA-256:
//! a token is already high-entropy, so a slow hash would add cost, not
//! safety, and a leaked database does not yield usable tokens.

pub mod hasher;
pub mod throttle;

pub use hasher::{HashError, Hasher};
pub use throttle::{Admission, Throttle, TokenBucket};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The address a client is counted under by the login throttle and the
/// hashing pool: an IPv4 address as it is, an IPv6 address by its /64 (one
/// host usually holds a whole /64, so per-address limits would otherwise
/// be per random suffix).
#[must_use]
pub fn client_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V4(v4) => std::net::IpAddr::V4(v4),
        std::net::IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                std::net::IpAddr::V4(v4)
            } else {
                let s = v6.segments();
                std::net::IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        }
    }
}

/// Hashes a password with argon2id and a random salt, on the calling
/// thread. For the admin CLI and tests; the server hashes on its
/// [`Hasher`] pool, which keeps its memory bounded.
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
pub fn check_password_rules(password: &str, min_len: usize) -> Result<(), String> {
    if password.chars().count() < min_len {
        return Err(format!("password must be at least {min_len} characters"));
    }
    if password.len() > 1024 {
        return Err("password must be at most 1024 bytes".into());
    }
    Ok(())
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
    fn ipv6_clients_count_by_their_64() {
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let v4: std::net::IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(
            client_key(v4),
            "10.0.0.1".parse::<std::net::IpAddr>().unwrap()
        );
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
}
