//! The one error type of the `natter` library, and how each kind of failure
//! maps to a process exit code.
//!
//! Scripts driving `natter --send` or `natter tail` need to tell "try again
//! later" (the connection) from "fix your password" (authentication) from
//! "the server said no" (refused), so the mapping lives here, next to the
//! variants, instead of in `main`.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use natter_shared::{ErrorCode, ErrorReply};

/// Exit codes of the `natter` binary. Documented in `--help` and the README.
pub mod exit {
    /// Success (for `--send`: the server acknowledged the message as stored).
    pub const OK: i32 = 0;
    /// A local failure: reading stdin, writing output, no usable keyring for
    /// `natter login`.
    pub const LOCAL: i32 = 1;
    /// Bad command line or config file, an empty message, an invalid name.
    pub const USAGE: i32 = 2;
    /// Could not reach the server, a timeout, or the connection was lost.
    pub const CONNECTION: i32 = 3;
    /// Login failed or no password was available.
    pub const AUTH: i32 = 4;
    /// The server refused the request (its message and code are printed).
    pub const REFUSED: i32 = 5;
}

/// Everything that can go wrong in the client.
///
/// Messages are lowercase one-liners: `main` prints them after `natter: `.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The command line or its values make no sense.
    #[error("{0}")]
    Usage(String),
    /// The config file could not be read or has an unknown or mistyped key.
    #[error("config file {}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    /// The TCP connection could not be opened.
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    /// Opening the connection took too long.
    #[error("cannot connect to {addr}: timed out after {} s", after.as_secs())]
    ConnectTimeout { addr: String, after: Duration },
    /// None of several servers (`a:7878,b:7878`) could be reached: each
    /// one's error, in the order tried.
    #[error("no server answered: {}", join(.0))]
    NoServer(Vec<ClientError>),
    /// The server did not answer a request in time.
    #[error("no reply from the server to {request} within {} s", after.as_secs())]
    Timeout {
        request: &'static str,
        after: Duration,
    },
    /// The connection ended while a request was in flight (or before it was
    /// sent).
    #[error("connection to the server lost: {0}")]
    Disconnected(String),
    /// The server sent something this client cannot make sense of.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// An outgoing frame is larger than the server accepts.
    #[error("request too large: {len} bytes, the server accepts at most {max}")]
    TooLarge { len: usize, max: usize },
    /// The server answered with an error.
    #[error("{}", describe_reply(.0))]
    Server(ErrorReply),
    /// No credential source produced a password or token.
    #[error(
        "no password available for {user}: set NATTER_PASSWORD, run `natter login`, set password_command in the config, or run in a terminal"
    )]
    NoCredential { user: String },
    /// `NATTER_TOKEN` was refused: expired, revoked, or another account's.
    #[error(
        "the server refused NATTER_TOKEN for {user}: it expired, was revoked, or is another account's (natterd token list)"
    )]
    TokenRefused { user: String },
    /// `natter login` has no password to check: it reads only
    /// `NATTER_PASSWORD` or a terminal.
    #[error("natter login needs a password: set NATTER_PASSWORD or run it in a terminal")]
    LoginNeedsPassword,
    /// `password_command` failed or printed nothing.
    #[error("password_command failed: {0}")]
    PasswordCommand(String),
    /// The TLS handshake failed: an untrusted, expired or misnamed
    /// certificate, or a server not speaking TLS. Never retried as plain
    /// text.
    #[error("TLS with {addr} failed: {message}")]
    Tls { addr: String, message: String },
    /// The keyring could not be used where it was required (`natter login`).
    #[error("keyring: {0}")]
    Keyring(String),
    /// Local I/O: reading stdin, writing stdout.
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        source: io::Error,
    },
    /// Reading or writing a local file of a transfer.
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    /// A download's bytes do not have the SHA-256 the server announced;
    /// nothing was kept.
    #[error(
        "{name}: the download does not match its checksum (expected {expected}, got {got}); nothing was kept, try again"
    )]
    Checksum {
        name: String,
        expected: String,
        got: String,
    },
    /// The user stopped a transfer.
    #[error("cancelled")]
    Cancelled,
}

/// An I/O error in a few lowercase words, without "(os error 111)".
#[must_use]
pub fn io_brief(e: &io::Error) -> String {
    use io::ErrorKind as K;
    let known = match e.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset",
        K::ConnectionAborted => "connection aborted",
        K::TimedOut => "timed out",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::NetworkDown => "network down",
        K::AddrNotAvailable => "address not available",
        K::BrokenPipe | K::UnexpectedEof => "connection lost",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    // "failed to lookup address information: Name or service not known"
    let text = text.rsplit(": ").next().unwrap_or(text);
    text.to_lowercase()
}

fn join(errors: &[ClientError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_reply(reply: &ErrorReply) -> String {
    match reply.code {
        ErrorCode::AuthFailed
        | ErrorCode::Throttled
        | ErrorCode::NotLoggedIn
        | ErrorCode::Revoked
        | ErrorCode::Suspended => {
            format!("authentication failed: {reply}")
        }
        _ => format!("the server refused: {reply}"),
    }
}

impl ClientError {
    /// A few words for a status line (`connection refused`, `timed out`):
    /// the address and the OS error number are left to the full message,
    /// which the log keeps.
    #[must_use]
    pub fn brief(&self) -> String {
        match self {
            ClientError::Connect { source, .. } => io_brief(source),
            ClientError::ConnectTimeout { .. } => "timed out".to_owned(),
            ClientError::NoServer(_) => "no server answered".to_owned(),
            ClientError::Timeout { .. } => "no reply".to_owned(),
            ClientError::Disconnected(_) => "connection lost".to_owned(),
            ClientError::Tls { .. } => "TLS failed".to_owned(),
            ClientError::Protocol(_) => "protocol error".to_owned(),
            ClientError::Server(reply) => reply.message.clone(),
            other => other.to_string(),
        }
    }

    /// The process exit code for this error; see [`exit`].
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::Usage(_) | ClientError::Config { .. } | ClientError::TooLarge { .. } => {
                exit::USAGE
            }
            ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::NoServer(_)
            | ClientError::Timeout { .. }
            | ClientError::Disconnected(_)
            | ClientError::Tls { .. }
            | ClientError::Protocol(_)
            | ClientError::Checksum { .. } => exit::CONNECTION,
            ClientError::NoCredential { .. }
            | ClientError::TokenRefused { .. }
            | ClientError::LoginNeedsPassword
            | ClientError::PasswordCommand(_) => exit::AUTH,
            ClientError::Server(reply) => match reply.code {
                ErrorCode::AuthFailed
                | ErrorCode::Throttled
                | ErrorCode::NotLoggedIn
                | ErrorCode::Revoked
                | ErrorCode::Suspended => exit::AUTH,
                // The connection itself is going away: "try again later".
                ErrorCode::ShuttingDown
                | ErrorCode::ServerFull
                | ErrorCode::Timeout
                | ErrorCode::SlowConsumer => exit::CONNECTION,
                _ => exit::REFUSED,
            },
            ClientError::Keyring(_)
            | ClientError::Io { .. }
            | ClientError::File { .. }
            | ClientError::Cancelled => exit::LOCAL,
        }
    }

    /// The server's error code, when this is a server refusal.
    #[must_use]
    pub fn server_code(&self) -> Option<&ErrorCode> {
        match self {
            ClientError::Server(reply) => Some(&reply.code),
            _ => None,
        }
    }

    /// Whether the server rejected the credential (as opposed to the
    /// connection failing): the case where the next credential source is
    /// worth trying, or a stored token should be forgotten.
    #[must_use]
    pub fn is_auth_failure(&self) -> bool {
        self.server_code() == Some(&ErrorCode::AuthFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_documented_table() {
        let reply = |code| ClientError::Server(ErrorReply::new(code, "x"));
        assert_eq!(ClientError::Usage("x".into()).exit_code(), 2);
        assert_eq!(ClientError::Disconnected("eof".into()).exit_code(), 3);
        let refused = ClientError::Connect {
            addr: "127.0.0.1:7878".into(),
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(refused.brief(), "connection refused");
        let dns = ClientError::Connect {
            addr: "nowhere.invalid:7878".into(),
            source: io::Error::other(
                "failed to lookup address information: Name or service not known",
            ),
        };
        assert_eq!(dns.brief(), "name or service not known");
        assert_eq!(reply(ErrorCode::AuthFailed).exit_code(), 4);
        assert_eq!(
            ClientError::NoCredential { user: "a".into() }.exit_code(),
            4
        );
        assert_eq!(reply(ErrorCode::NoSuchRoom).exit_code(), 5);
        assert_eq!(reply(ErrorCode::Other("new".into())).exit_code(), 5);
        assert_eq!(reply(ErrorCode::ShuttingDown).exit_code(), 3);
        let none = ClientError::NoServer(vec![
            refused,
            ClientError::ConnectTimeout {
                addr: "b:1".into(),
                after: Duration::from_secs(10),
            },
        ]);
        assert_eq!(none.exit_code(), 3);
        assert_eq!(none.brief(), "no server answered");
        assert!(
            none.to_string()
                .starts_with("no server answered: cannot connect to 127.0.0.1:7878: ")
                && none
                    .to_string()
                    .ends_with("; cannot connect to b:1: timed out after 10 s"),
            "{none}"
        );
    }

    #[test]
    fn server_refusals_name_message_and_code() {
        let e = ClientError::Server(ErrorReply::new(ErrorCode::NoSuchRoom, "no such room #x"));
        assert_eq!(
            e.to_string(),
            "the server refused: no such room #x (no_such_room)"
        );
        let e = ClientError::Server(ErrorReply::new(ErrorCode::AuthFailed, "bad password"));
        assert!(e.to_string().starts_with("authentication failed"));
    }
}
