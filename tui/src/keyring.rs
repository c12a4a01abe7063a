//! Session tokens in the OS keyring.
//!
//! The store is chosen once per run: the Secret Service (GNOME Keyring,
//! `KWallet`) when a provider answers, else the Linux kernel keyring
//! (keyutils), else none. Each candidate is probed with a set/get/delete of
//! a throwaway entry, because a store can exist and still be unusable (a
//! locked collection, a kernel keyring the process may not write).
//! `NATTER_KEYRING=secret-service|keyutils|none` skips the probing and forces
//! one; a forced store that fails is treated as none.
//!
//! Entries are named service `natter`, user `USER@SERVER`, so that accounts
//! on different servers do not collide.
//!
//! A keyring must never hang or crash the client: every call runs on its
//! own thread with a deadline, and any failure is logged at debug level and
//! reported as "no token" so the caller falls through to the next credential
//! source.

use std::sync::Arc;
use std::time::Duration;

use keyring_core::{CredentialStore, Entry};

use crate::error::ClientError;

/// The keyring service name of natter's entries.
pub const SERVICE: &str = "natter";

/// How long any one keyring operation may take. D-Bus calls to a provider
/// that never answers would otherwise block forever.
const DEADLINE: Duration = Duration::from_secs(5);

/// Which store to use, from `NATTER_KEYRING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringChoice {
    /// Probe: Secret Service, then keyutils, then none.
    Auto,
    SecretService,
    Keyutils,
    None,
}

impl KeyringChoice {
    /// Parses the value of `NATTER_KEYRING` (unset: `Auto`).
    ///
    /// # Errors
    /// [`ClientError::Usage`] for an unknown value.
    pub fn parse(value: Option<&str>) -> Result<Self, ClientError> {
        match value.map(str::trim) {
            None | Some("" | "auto") => Ok(Self::Auto),
            Some("secret-service") => Ok(Self::SecretService),
            Some("keyutils") => Ok(Self::Keyutils),
            Some("none") => Ok(Self::None),
            Some(other) => Err(ClientError::Usage(format!(
                "NATTER_KEYRING={other:?} is not one of secret-service, keyutils, none"
            ))),
        }
    }
}

/// A handle to the chosen keyring (or to none). Cheap to clone.
#[derive(Clone)]
pub struct Keyring {
    store: Option<Arc<CredentialStore>>,
    name: &'static str,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Keyring {
    /// No keyring: lookups find nothing, stores fail.
    #[must_use]
    pub fn none() -> Self {
        Self {
            store: None,
            name: "none",
        }
    }

    /// A keyring backed by a given store (tests use
    /// `keyring_core::mock::Store`).
    #[must_use]
    pub fn from_store(store: Arc<CredentialStore>, name: &'static str) -> Self {
        Self {
            store: Some(store),
            name,
        }
    }

    /// Picks and probes a store as described in the module docs. Never
    /// fails: the worst outcome is [`Keyring::none`].
    pub async fn open(choice: KeyringChoice) -> Self {
        let candidates: &[KeyringChoice] = match choice {
            KeyringChoice::Auto => &[KeyringChoice::SecretService, KeyringChoice::Keyutils],
            KeyringChoice::None => &[],
            KeyringChoice::SecretService => &[KeyringChoice::SecretService],
            KeyringChoice::Keyutils => &[KeyringChoice::Keyutils],
        };
        for &c in candidates {
            match off_thread(move || probe(c)).await {
                Ok(keyring) => {
                    tracing::debug!("using keyring {}", keyring.name);
                    return keyring;
                }
                Err(e) => tracing::debug!("keyring {c:?} unusable: {e}"),
            }
        }
        Self::none()
    }

    /// Whether a store is in use.
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.store.is_some()
    }

    /// The store's name, for messages: `secret-service`, `keyutils`,
    /// `none`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The stored token for `account` (`user@server`), if any. A keyring
    /// failure counts as "none".
    pub async fn token(&self, account: &str) -> Option<String> {
        let store = self.store.clone()?;
        let account = account.to_owned();
        match off_thread(move || entry(&store, &account)?.get_password()).await {
            Ok(t) => Some(t),
            Err(KeyringFailure::Store(keyring_core::Error::NoEntry)) => None,
            Err(e) => {
                tracing::debug!("keyring {}: cannot read the token: {e}", self.name);
                None
            }
        }
    }

    /// Stores `token` for `account`, replacing any earlier one.
    ///
    /// # Errors
    /// [`ClientError::Keyring`] when there is no store or it fails.
    pub async fn set_token(&self, account: &str, token: &str) -> Result<(), ClientError> {
        let store = self.store.clone().ok_or_else(|| {
            ClientError::Keyring(
                "no keyring available (no Secret Service provider, no kernel keyring, or NATTER_KEYRING=none)".into(),
            )
        })?;
        let (account, token) = (account.to_owned(), token.to_owned());
        off_thread(move || entry(&store, &account)?.set_password(&token))
            .await
            .map_err(|e| {
                ClientError::Keyring(format!("{}: cannot store the token: {e}", self.name))
            })
    }

    /// Removes the token for `account`; `Ok(false)` when there was none.
    ///
    /// # Errors
    /// [`ClientError::Keyring`] when the store fails.
    pub async fn delete_token(&self, account: &str) -> Result<bool, ClientError> {
        let Some(store) = self.store.clone() else {
            return Ok(false);
        };
        let account = account.to_owned();
        match off_thread(move || entry(&store, &account)?.delete_credential()).await {
            Ok(()) => Ok(true),
            Err(KeyringFailure::Store(keyring_core::Error::NoEntry)) => Ok(false),
            Err(e) => Err(ClientError::Keyring(format!(
                "{}: cannot delete the token: {e}",
                self.name
            ))),
        }
    }
}

fn entry(store: &Arc<CredentialStore>, account: &str) -> keyring_core::Result<Entry> {
    store.build(SERVICE, account, None)
}

/// Builds a store and checks that it really stores.
fn probe(choice: KeyringChoice) -> keyring_core::Result<Keyring> {
    let (store, name): (Arc<CredentialStore>, _) = match choice {
        KeyringChoice::SecretService => (
            zbus_secret_service_keyring_store::Store::new()?,
            "secret-service",
        ),
        KeyringChoice::Keyutils => (linux_keyutils_keyring_store::Store::new()?, "keyutils"),
        KeyringChoice::Auto | KeyringChoice::None => {
            return Err(keyring_core::Error::NoDefaultStore);
        }
    };
    let probe = entry(&store, &format!("probe-{}", std::process::id()))?;
    probe.set_password("probe")?;
    let read = probe.get_password();
    let deleted = probe.delete_credential();
    if read? != "probe" {
        return Err(keyring_core::Error::Invalid(
            "probe".into(),
            "read back a different value".into(),
        ));
    }
    deleted?;
    Ok(Keyring::from_store(store, name))
}

/// Why an off-thread keyring call failed.
#[derive(Debug, thiserror::Error)]
enum KeyringFailure {
    #[error(transparent)]
    Store(#[from] keyring_core::Error),
    #[error("no answer within {} s", DEADLINE.as_secs())]
    Deadline,
    #[error("the keyring call panicked")]
    Panicked,
}

/// Runs a blocking keyring call on a plain thread with a deadline. A thread
/// that never returns is abandoned (it dies with the process) rather than
/// tying up the async runtime, whose shutdown would wait for it.
async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> keyring_core::Result<T> + Send + 'static,
) -> Result<T, KeyringFailure> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("natter-keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if spawned.is_err() {
        return Err(KeyringFailure::Panicked);
    }
    match tokio::time::timeout(DEADLINE, rx).await {
        Err(_) => Err(KeyringFailure::Deadline),
        Ok(Err(_)) => Err(KeyringFailure::Panicked),
        Ok(Ok(r)) => r.map_err(KeyringFailure::Store),
    }
}

#[cfg(test)]
mod tests {
    use keyring_core::mock;

    use super::*;

    /// The mock store keeps entries in memory: the test must not touch the
    /// keyring of whoever runs it.
    fn mock_keyring() -> Keyring {
        let store: Arc<CredentialStore> = mock::Store::new().unwrap();
        Keyring::from_store(store, "mock")
    }

    #[tokio::test]
    async fn token_round_trip_per_account() {
        let k = mock_keyring();
        assert_eq!(k.token("alice@h:1").await, None);
        k.set_token("alice@h:1", "t1").await.unwrap();
        k.set_token("alice@h:2", "t2").await.unwrap();
        assert_eq!(k.token("alice@h:1").await.as_deref(), Some("t1"));
        k.set_token("alice@h:1", "t1b").await.unwrap();
        assert_eq!(k.token("alice@h:1").await.as_deref(), Some("t1b"));
        assert!(k.delete_token("alice@h:1").await.unwrap());
        assert!(!k.delete_token("alice@h:1").await.unwrap());
        assert_eq!(k.token("alice@h:1").await, None);
        assert_eq!(k.token("alice@h:2").await.as_deref(), Some("t2"));
    }

    #[tokio::test]
    async fn a_failing_store_reads_as_no_token() {
        let store = mock::Store::new().unwrap();
        let k = Keyring::from_store(store.clone(), "mock");
        k.set_token("a@h", "tok").await.unwrap();
        let e = entry(&(store as Arc<CredentialStore>), "a@h").unwrap();
        let cred: &mock::Cred = e.as_any().downcast_ref().unwrap();
        cred.set_error(keyring_core::Error::NoStorageAccess(Box::new(
            std::io::Error::other("locked"),
        )));
        assert_eq!(k.token("a@h").await, None, "failure falls through");
        assert_eq!(k.token("a@h").await.as_deref(), Some("tok"));
    }

    #[tokio::test]
    async fn no_keyring_finds_nothing_and_refuses_to_store() {
        let k = Keyring::none();
        assert_eq!(k.token("a@h").await, None);
        assert!(!k.delete_token("a@h").await.unwrap());
        let err = k.set_token("a@h", "t").await.unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(!k.is_available());
        assert!(Keyring::open(KeyringChoice::None).await.name() == "none");
    }

    #[test]
    fn choice_parsing() {
        assert_eq!(KeyringChoice::parse(None).unwrap(), KeyringChoice::Auto);
        assert_eq!(
            KeyringChoice::parse(Some("keyutils")).unwrap(),
            KeyringChoice::Keyutils
        );
        assert_eq!(
            KeyringChoice::parse(Some("secret-service")).unwrap(),
            KeyringChoice::SecretService
        );
        assert_eq!(
            KeyringChoice::parse(Some("none")).unwrap(),
            KeyringChoice::None
        );
        assert_eq!(
            KeyringChoice::parse(Some("kwallet"))
                .unwrap_err()
                .exit_code(),
            2
        );
    }
}
