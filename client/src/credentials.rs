//! Which credential logs in, in which order, and what is remembered:
//! the resolution every natter client shares, without any UI. Where tokens
//! are kept is a [`TokenStore`] (the TUI's OS keyring, [`MemoryTokens`], or
//! [`NoTokens`] for a bot); how a password is asked for is a [`Prompt`] (the
//! TUI's terminal prompt), if there is one.
//!
//! Every mode tries, in order:
//! 0. `NATTER_TOKEN`, an API token from `natterd token create`: for scripts
//!    and bots that should hold no password. A token the server rejects
//!    (expired, revoked) ends the search;
//! 1. `NATTER_PASSWORD` from the environment;
//! 2. the session token stored in the keyring by an earlier login. A token
//!    the server rejects (`auth_failed`, e.g. after a logout elsewhere) is
//!    deleted from the keyring and the next source is tried;
//! 3. `password_command` from the config (`sh -c`, first line of stdout);
//! 4. a prompt without echo, only when stdin is a terminal.
//!
//! A password the server rejects ends the search: trying a different secret
//! than the one the user gave would be surprising. A typed password asks the
//! server for a session token, stored in the keyring so later runs need no
//! password; a password the client can find again by itself (environment,
//! `password_command`) logs in for the run only (`PasswordOnly`), so scripts
//! do not pile up tokens on the server. `natter login` always stores one. A password is never taken from the command line, where other
//! users could read it in the process list.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use natter_shared::{Credential, SessionInfo};

use crate::error::ClientError;

/// Where session tokens are kept between runs, per account
/// (`user@server`). Failures are [`ClientError::Keyring`].
pub trait TokenStore: Clone + Send + Sync {
    /// For messages: "Secret Service", "kernel", "none".
    fn name(&self) -> &'static str;
    /// Whether tokens can be kept at all (a password is then worth trading
    /// for a token).
    fn is_available(&self) -> bool;
    /// The stored token, if any.
    fn token(&self, account: &str) -> impl Future<Output = Option<String>> + Send;
    /// Stores a token, replacing any.
    fn set_token(
        &self,
        account: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;
    /// Forgets the token; true if there was one.
    fn delete_token(&self, account: &str)
    -> impl Future<Output = Result<bool, ClientError>> + Send;
}

/// Keeps no tokens: every run logs in with its password.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTokens;

impl TokenStore for NoTokens {
    fn name(&self) -> &'static str {
        "none"
    }
    fn is_available(&self) -> bool {
        false
    }
    async fn token(&self, _: &str) -> Option<String> {
        None
    }
    async fn set_token(&self, _: &str, _: &str) -> Result<(), ClientError> {
        Err(ClientError::Keyring("no token store".into()))
    }
    async fn delete_token(&self, _: &str) -> Result<bool, ClientError> {
        Ok(false)
    }
}

/// Tokens in memory, for one process's lifetime (a long-running bot that
/// reconnects, and tests).
#[derive(Debug, Clone, Default)]
pub struct MemoryTokens(Arc<Mutex<HashMap<String, String>>>);

impl MemoryTokens {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TokenStore for MemoryTokens {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn is_available(&self) -> bool {
        true
    }
    async fn token(&self, account: &str) -> Option<String> {
        self.map().get(account).cloned()
    }
    async fn set_token(&self, account: &str, token: &str) -> Result<(), ClientError> {
        self.map().insert(account.to_owned(), token.to_owned());
        Ok(())
    }
    async fn delete_token(&self, account: &str) -> Result<bool, ClientError> {
        Ok(self.map().remove(account).is_some())
    }
}

/// Asks a person for a password (the TUI: a terminal prompt without echo).
pub type Prompt = fn(String) -> Pin<Box<dyn Future<Output = Result<String, ClientError>> + Send>>;

/// Where a credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `NATTER_TOKEN`.
    EnvironmentToken,
    Environment,
    Keyring,
    PasswordCommand,
    Prompt,
}

/// The credential sources of one run.
#[derive(Clone)]
pub struct Sources<K: TokenStore> {
    /// `NATTER_TOKEN`: an API token.
    pub env_token: Option<String>,
    /// `NATTER_PASSWORD`.
    pub env_password: Option<String>,
    /// Where session tokens are kept.
    pub keyring: K,
    /// `password_command` from the config.
    pub password_command: Option<String>,
    /// How to ask for a password, when a person can be asked (stdin is a
    /// terminal).
    pub prompt: Option<Prompt>,
}

impl<K: TokenStore + std::fmt::Debug> std::fmt::Debug for Sources<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("env_token", &self.env_token.is_some())
            .field("env_password", &self.env_password.is_some())
            .field("keyring", &self.keyring)
            .field("password_command", &self.password_command)
            .field("interactive", &self.prompt.is_some())
            .finish()
    }
}

/// A successful login: the session and what provided the credential.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub session: SessionInfo,
    pub source: Source,
}

/// Logs in `account`'s user with the first credential that works, using
/// `attempt` to try one (normally [`crate::conn::Connection::login`]; tests
/// pass a fake server). `account` names the token entry (`user@server`).
///
/// # Errors
/// The server's refusal of a password, [`ClientError::NoCredential`] when no
/// source had anything, or a connection error from `attempt`.
pub async fn log_in<K, F, Fut>(
    sources: &Sources<K>,
    account: &str,
    user: &str,
    mut attempt: F,
) -> Result<LoggedIn, ClientError>
where
    K: TokenStore,
    F: FnMut(Credential) -> Fut,
    Fut: Future<Output = Result<SessionInfo, ClientError>>,
{
    if let Some(token) = &sources.env_token {
        return match attempt(Credential::Token(token.clone())).await {
            Ok(session) => Ok(LoggedIn {
                session,
                source: Source::EnvironmentToken,
            }),
            Err(e) if e.is_auth_failure() => Err(ClientError::TokenRefused {
                user: user.to_owned(),
            }),
            Err(e) => Err(e),
        };
    }
    if let Some(pw) = &sources.env_password {
        return with_password(sources, account, Source::Environment, pw, &mut attempt).await;
    }
    if let Some(token) = sources.keyring.token(account).await {
        match attempt(Credential::Token(token)).await {
            Ok(session) => {
                return Ok(LoggedIn {
                    session,
                    source: Source::Keyring,
                });
            }
            Err(e) if e.is_auth_failure() => {
                tracing::debug!("the stored token for {account} was rejected; forgetting it");
                if let Err(e) = sources.keyring.delete_token(account).await {
                    tracing::debug!("{e}");
                }
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(cmd) = &sources.password_command {
        let pw = run_password_command(cmd).await?;
        return with_password(sources, account, Source::PasswordCommand, &pw, &mut attempt).await;
    }
    if let Some(prompt) = sources.prompt {
        let pw = prompt(format!("Password for {account}: ")).await?;
        return with_password(sources, account, Source::Prompt, &pw, &mut attempt).await;
    }
    Err(ClientError::NoCredential {
        user: user.to_owned(),
    })
}

async fn with_password<K, F, Fut>(
    sources: &Sources<K>,
    account: &str,
    source: Source,
    password: &str,
    attempt: &mut F,
) -> Result<LoggedIn, ClientError>
where
    K: TokenStore,
    F: FnMut(Credential) -> Fut,
    Fut: Future<Output = Result<SessionInfo, ClientError>>,
{
    // A password the client can find again by itself (the environment, a
    // password manager) logs in for this run only; a typed one asks for a
    // session token so it need not be typed again.
    let credential = match source {
        Source::Prompt if sources.keyring.is_available() => {
            Credential::Password(password.to_owned())
        }
        _ => Credential::PasswordOnly(password.to_owned()),
    };
    let session = attempt(credential).await?;
    if let Some(token) = &session.token {
        remember_token(&sources.keyring, account, token).await;
    }
    Ok(LoggedIn { session, source })
}

/// How long `password_command` may take.
const PASSWORD_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(1);

/// Stores a new session token if a keyring is available; a failure only
/// costs a password next time, so it is logged, not returned.
pub async fn remember_token(keyring: &impl TokenStore, account: &str, token: &str) {
    if !keyring.is_available() {
        return;
    }
    match keyring.set_token(account, token).await {
        Ok(()) => tracing::debug!("stored a session token for {account} in {}", keyring.name()),
        Err(e) => tracing::debug!("{e}"),
    }
}

/// Runs `password_command` with `sh -c` and returns the first line of its
/// output. stdin and stderr are the user's, so the command may ask for a
/// passphrase of its own.
///
/// # Errors
/// [`ClientError::PasswordCommand`] when it cannot run, exits non-zero or
/// prints nothing.
pub async fn run_password_command(cmd: &str) -> Result<String, ClientError> {
    // A password manager waiting for a PIN nobody will type (under cron)
    // must not hang natter: give it a minute, then kill it.
    let run = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PASSWORD_COMMAND_TIMEOUT, run)
        .await
        .map_err(|_| {
            ClientError::PasswordCommand(format!(
                "`{cmd}` gave no password within {} s",
                PASSWORD_COMMAND_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| ClientError::PasswordCommand(format!("cannot run sh: {e}")))?;
    if !out.status.success() {
        return Err(ClientError::PasswordCommand(format!(
            "`{cmd}` exited with {}",
            out.status
        )));
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|_| ClientError::PasswordCommand(format!("`{cmd}` printed non-UTF-8 output")))?;
    let first = text.lines().next().unwrap_or_default();
    if first.is_empty() {
        return Err(ClientError::PasswordCommand(format!(
            "`{cmd}` printed no password"
        )));
    }
    Ok(first.to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use natter_shared::{ErrorCode, ErrorReply};

    use super::*;

    const ACCOUNT: &str = "alice@h:1";

    fn session(token: Option<&str>) -> SessionInfo {
        SessionInfo {
            user: "alice".into(),
            admin: false,
            token: token.map(str::to_owned),
            rooms: Vec::new(),
            blocked: Vec::new(),
            invitations: Vec::new(),
        }
    }

    /// A fake server: accepts `password` and `token`, issues `new-token`
    /// for a password, and records every credential it was offered.
    #[derive(Clone, Default)]
    struct FakeServer {
        tried: Arc<Mutex<Vec<Credential>>>,
    }

    impl FakeServer {
        fn attempt(
            &self,
        ) -> impl FnMut(Credential) -> std::future::Ready<Result<SessionInfo, ClientError>>
        {
            let tried = Arc::clone(&self.tried);
            move |c: Credential| {
                tried.lock().unwrap().push(c.clone());
                std::future::ready(match c {
                    Credential::Password(p) if p == "password" => Ok(session(Some("new-token"))),
                    Credential::PasswordOnly(p) if p == "password" => Ok(session(None)),
                    Credential::Token(t) if t == "token" => Ok(session(None)),
                    _ => Err(ClientError::Server(ErrorReply::new(
                        ErrorCode::AuthFailed,
                        "wrong",
                    ))),
                })
            }
        }

        fn tried(&self) -> Vec<Credential> {
            self.tried.lock().unwrap().clone()
        }
    }

    fn sources(env: Option<&str>, cmd: Option<&str>) -> Sources<MemoryTokens> {
        // In memory: the test must not touch the real keyring.
        Sources {
            env_token: None,
            env_password: env.map(str::to_owned),
            keyring: MemoryTokens::default(),
            password_command: cmd.map(str::to_owned),
            prompt: None,
        }
    }

    #[tokio::test]
    async fn environment_password_comes_first_and_mints_no_token() {
        let s = sources(Some("password"), Some("echo other"));
        s.keyring.set_token(ACCOUNT, "token").await.unwrap();
        let fake = FakeServer::default();
        let got = log_in(&s, ACCOUNT, "alice", fake.attempt()).await.unwrap();
        assert_eq!(got.source, Source::Environment);
        assert_eq!(fake.tried(), [Credential::PasswordOnly("password".into())]);
        assert!(got.session.token.is_none());
        assert_eq!(s.keyring.token(ACCOUNT).await.as_deref(), Some("token"));
    }

    #[tokio::test]
    async fn an_environment_token_comes_first_and_its_refusal_is_final() {
        let mut s = sources(Some("password"), Some("echo other"));
        s.env_token = Some("api-token".into());
        let fake = FakeServer::default();
        let err = log_in(&s, ACCOUNT, "alice", fake.attempt())
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::TokenRefused { .. }), "{err}");
        assert_eq!(err.exit_code(), 4);
        assert_eq!(fake.tried(), [Credential::Token("api-token".into())]);
        s.env_token = Some("token".into());
        let got = log_in(&s, ACCOUNT, "alice", fake.attempt()).await.unwrap();
        assert_eq!(got.source, Source::EnvironmentToken);
    }

    #[tokio::test]
    async fn a_wrong_environment_password_is_final() {
        let s = sources(Some("nope"), Some("echo password"));
        let fake = FakeServer::default();
        let err = log_in(&s, ACCOUNT, "alice", fake.attempt())
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert_eq!(fake.tried().len(), 1);
    }

    #[tokio::test]
    async fn keyring_token_is_used_without_a_password() {
        let s = sources(None, Some("echo password"));
        s.keyring.set_token(ACCOUNT, "token").await.unwrap();
        let fake = FakeServer::default();
        let got = log_in(&s, ACCOUNT, "alice", fake.attempt()).await.unwrap();
        assert_eq!(got.source, Source::Keyring);
        assert_eq!(fake.tried(), [Credential::Token("token".into())]);
        assert_eq!(s.keyring.token(ACCOUNT).await.as_deref(), Some("token"));
    }

    #[tokio::test]
    async fn a_rejected_token_is_forgotten_and_the_command_is_next() {
        let s = sources(None, Some("printf 'password\\nsecond line\\n'"));
        s.keyring.set_token(ACCOUNT, "revoked").await.unwrap();
        let fake = FakeServer::default();
        let got = log_in(&s, ACCOUNT, "alice", fake.attempt()).await.unwrap();
        assert_eq!(got.source, Source::PasswordCommand);
        assert_eq!(
            fake.tried(),
            [
                Credential::Token("revoked".into()),
                Credential::PasswordOnly("password".into())
            ]
        );
        assert_eq!(s.keyring.token(ACCOUNT).await, None);
    }

    #[tokio::test]
    async fn nothing_to_try_is_an_auth_error_without_contacting_the_server() {
        let s = sources(None, None);
        let fake = FakeServer::default();
        let err = log_in(&s, ACCOUNT, "alice", fake.attempt())
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::NoCredential { .. }), "{err}");
        assert_eq!(err.exit_code(), 4);
        assert!(fake.tried().is_empty());
    }

    #[tokio::test]
    async fn a_connection_error_with_the_token_is_not_an_auth_failure() {
        let s = sources(None, Some("echo password"));
        s.keyring.set_token(ACCOUNT, "token").await.unwrap();
        let err = log_in(&s, ACCOUNT, "alice", |_| {
            std::future::ready(Err(ClientError::Disconnected("eof".into())))
        })
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert_eq!(
            s.keyring.token(ACCOUNT).await.as_deref(),
            Some("token"),
            "kept"
        );
    }

    #[tokio::test]
    async fn password_command_failures() {
        assert_eq!(run_password_command("echo pw; echo x").await.unwrap(), "pw");
        let err = run_password_command("exit 3").await.unwrap_err();
        assert!(err.to_string().contains("exit"), "{err}");
        assert_eq!(err.exit_code(), 4);
        let err = run_password_command("true").await.unwrap_err();
        assert!(err.to_string().contains("no password"), "{err}");
    }
}
