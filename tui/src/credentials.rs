//! Which credential logs in, in which order, and what is remembered.
//!
//! Every mode tries, in order:
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

use std::future::Future;
use std::process::Stdio;

use natter_shared::{Credential, SessionInfo};

use crate::error::ClientError;
use crate::keyring::Keyring;

/// Where a credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Environment,
    Keyring,
    PasswordCommand,
    Prompt,
}

/// The credential sources of one run.
#[derive(Clone)]
pub struct Sources {
    /// `NATTER_PASSWORD`.
    pub env_password: Option<String>,
    /// The keyring holding session tokens.
    pub keyring: Keyring,
    /// `password_command` from the config.
    pub password_command: Option<String>,
    /// Whether a prompt is possible (stdin is a terminal).
    pub interactive: bool,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("env_password", &self.env_password.is_some())
            .field("keyring", &self.keyring)
            .field("password_command", &self.password_command)
            .field("interactive", &self.interactive)
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
/// pass a fake server). `account` names the keyring entry (`user@server`).
///
/// # Errors
/// The server's refusal of a password, [`ClientError::NoCredential`] when no
/// source had anything, or a connection error from `attempt`.
pub async fn log_in<F, Fut>(
    sources: &Sources,
    account: &str,
    user: &str,
    mut attempt: F,
) -> Result<LoggedIn, ClientError>
where
    F: FnMut(Credential) -> Fut,
    Fut: Future<Output = Result<SessionInfo, ClientError>>,
{
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
    if sources.interactive {
        let pw = prompt_password(&format!("Password for {account}: ")).await?;
        return with_password(sources, account, Source::Prompt, &pw, &mut attempt).await;
    }
    Err(ClientError::NoCredential {
        user: user.to_owned(),
    })
}

async fn with_password<F, Fut>(
    sources: &Sources,
    account: &str,
    source: Source,
    password: &str,
    attempt: &mut F,
) -> Result<LoggedIn, ClientError>
where
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

/// The full-screen client's credential, from the same sources in the same
/// order as the scripting modes, and where it came from (for `/help`).
/// `None` when no source had one: the client then shows its login screen.
///
/// # Errors
/// A failing `password_command`.
pub async fn tui_credential(
    ctx: &crate::script::Context,
    keyring: &Keyring,
) -> Result<(Option<Credential>, String), ClientError> {
    let account = ctx.settings.keyring_account();
    if let Some(pw) = &ctx.env_password {
        return Ok((
            Some(Credential::PasswordOnly(pw.clone())),
            "NATTER_PASSWORD".to_owned(),
        ));
    }
    if let Some(token) = keyring.token(&account).await {
        return Ok((
            Some(Credential::Token(token)),
            format!("session token in the {} keyring", keyring.name()),
        ));
    }
    if let Some(cmd) = &ctx.settings.password_command {
        let pw = run_password_command(cmd).await?;
        return Ok((
            Some(Credential::PasswordOnly(pw)),
            format!("password_command ({cmd})"),
        ));
    }
    Ok((None, "the login screen".to_owned()))
}

/// How long `password_command` may take.
const PASSWORD_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(1);

/// Stores a new session token if a keyring is available; a failure only
/// costs a password next time, so it is logged, not returned.
pub async fn remember_token(keyring: &Keyring, account: &str, token: &str) {
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

/// Asks for a password on the terminal without echo.
///
/// # Errors
/// [`ClientError::Io`] when the terminal cannot be read.
pub async fn prompt_password(prompt: &str) -> Result<String, ClientError> {
    let prompt = prompt.to_owned();
    tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt))
        .await
        .map_err(|e| ClientError::Io {
            context: "password prompt",
            source: std::io::Error::other(e),
        })?
        .map_err(|source| ClientError::Io {
            context: "cannot read the password",
            source,
        })
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

    fn keyring() -> Keyring {
        // In-memory mock store: the test must not touch the real keyring.
        Keyring::from_store(keyring_core::mock::Store::new().unwrap(), "mock")
    }

    fn sources(env: Option<&str>, cmd: Option<&str>) -> Sources {
        Sources {
            env_password: env.map(str::to_owned),
            keyring: keyring(),
            password_command: cmd.map(str::to_owned),
            interactive: false,
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
