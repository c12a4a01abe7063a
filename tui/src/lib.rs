//! The `natter` client library: everything but argument parsing. The
//! full-screen client and the scripting modes share the connection layer,
//! credentials and config.
//!
//! # Layout
//! - [`transport`]: the byte stream: plain TCP, or TLS for `tls://` servers.
//! - [`conn`]: one connection to natterd: framing, hello, request/reply
//!   matching by id, the event stream, heartbeats with round-trip time.
//! - [`supervisor`]: a connection that comes back, re-dialling with
//!   [`backoff`] and re-logging-in with the session token, reporting status
//!   changes.
//! - [`backoff`]: exponential backoff with jitter (1 s doubling to 30 s).
//! - [`credentials`]: the order in which passwords and tokens are tried, and
//!   what is stored.
//! - [`keyring`]: session tokens in the Secret Service or kernel keyring.
//! - [`config`]: the config file, environment and flags, resolved to
//!   [`config::Settings`].
//! - [`script`]: the non-interactive modes (`--send`, `tail`, `login`,
//!   `logout`).
//! - [`format`]: message lines as `tail` prints them (plain and JSON).
//! - [`error`]: [`ClientError`] and the exit code of each failure.
//! - [`app`], [`ui`], [`tui`]: the full-screen client's state, drawing and
//!   event loop; [`notify`]: its desktop notifications; [`local`]: the
//!   in-process server of `natter --local`.

pub mod app;
pub mod backoff;
pub mod config;
pub mod conn;
pub mod credentials;
pub mod error;
pub mod format;
pub mod keyring;
pub mod local;
pub mod notify;
pub mod script;
pub mod supervisor;
pub mod transport;
pub mod tui;
pub mod ui;

pub use backoff::Backoff;
pub use conn::{ConnectOptions, Connection, Disconnect, Events, Incoming, Welcome};
pub use error::ClientError;
pub use supervisor::{Status, Supervisor, SupervisorConfig, Update};
