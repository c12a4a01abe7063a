//! Credentials in the TUI and the scripting modes: the shared resolution
//! order lives in [`natter_client::credentials`]; this adds what needs a
//! terminal or the OS keyring: the password prompt, the keyring as a
//! [`TokenStore`], and the full-screen client's choice of credential.

use natter_shared::Credential;

pub use natter_client::credentials::*;

use crate::error::ClientError;
use crate::keyring::Keyring;

impl TokenStore for Keyring {
    fn name(&self) -> &'static str {
        Keyring::name(self)
    }
    fn is_available(&self) -> bool {
        Keyring::is_available(self)
    }
    async fn token(&self, account: &str) -> Option<String> {
        Keyring::token(self, account).await
    }
    async fn set_token(&self, account: &str, token: &str) -> Result<(), ClientError> {
        Keyring::set_token(self, account, token).await
    }
    async fn delete_token(&self, account: &str) -> Result<bool, ClientError> {
        Keyring::delete_token(self, account).await
    }
}

/// The terminal prompt as the client library's [`Prompt`].
#[must_use]
pub fn terminal_prompt(
    prompt: String,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, ClientError>> + Send>> {
    Box::pin(async move { prompt_password(&prompt).await })
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
    if let Some(token) = &ctx.env_token {
        return Ok((
            Some(Credential::Token(token.clone())),
            "NATTER_TOKEN".to_owned(),
        ));
    }
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
