//! The `natter` client: everything but argument parsing. The full-screen
//! client and the scripting modes share the connection layer of
//! [`natter_client`] (re-exported here as [`conn`], [`supervisor`],
//! [`transport`], [`backoff`] and [`error`]), credentials and config.
//!
//! # Layout
//! - [`credentials`]: the client library's credential order, plus the
//!   terminal prompt and the keyring as its token store.
//! - [`keyring`]: session tokens in the Secret Service or kernel keyring.
//! - [`config`]: the config file, environment and flags, resolved to
//!   [`config::Settings`].
//! - [`script`]: the non-interactive modes (`--send`, `tail`, `login`,
//!   `logout`).
//! - [`format`]: message lines as `tail` prints them (plain and JSON).
//! - [`app`], [`ui`], [`tui`]: the full-screen client's state, drawing and
//!   event loop; [`notify`]: its desktop notifications; [`local`]: the
//!   in-process server of `natter --local`.

pub mod app;
pub mod config;
pub mod credentials;
pub mod format;
pub mod keyring;
pub mod local;
pub mod notify;
pub mod script;
pub mod tui;
pub mod ui;

// The connection layer is the client library's; these paths stay for the
// TUI's own modules and tests.
pub use natter_client::{
    Backoff, ClientError, ConnectOptions, Connection, Disconnect, Events, Incoming, Status,
    Supervisor, SupervisorConfig, Update, Welcome,
};
pub use natter_client::{backoff, conn, error, supervisor, transport};
