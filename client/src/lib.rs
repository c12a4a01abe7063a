//! natter's client library, shared by the TUI, its scripting modes, the load
//! generator, the tests and bots. It speaks natter's protocol to natterd and
//! has no UI: no ratatui, no crossterm, no keyring.
//!
//! # Layout
//! - [`transport`]: the byte stream: plain TCP, or TLS for `tls://` servers.
//! - [`conn`]: one connection to natterd: framing, hello, request/reply
//!   matching by id, the event stream, heartbeats with round-trip time.
//! - [`supervisor`]: a connection that comes back, re-dialling with
//!   [`backoff`] and re-logging-in with the session token, reporting status
//!   changes.
//! - [`transfer`]: uploads and downloads on a transfer connection, with
//!   resume and checksums.
//! - [`backoff`]: exponential backoff with jitter (1 s doubling to 30 s).
//! - [`credentials`]: the order in which passwords and tokens are tried, and
//!   what is stored, behind a [`credentials::TokenStore`].
//! - [`error`]: [`ClientError`] and the exit code of each failure.
//!
//! # A bot in ten lines
//! Joins `#bots` and answers `!ping`:
//! ```no_run
//! use natter_client::{ConnectOptions, Connection, Incoming};
//! use natter_shared::{Credential, Event};
//!
//! # async fn bot() -> Result<(), natter_client::ClientError> {
//! let (conn, mut events) = Connection::connect("127.0.0.1:7878", &ConnectOptions::default()).await?;
//! conn.login("pingbot", Credential::PasswordOnly(std::env::var("BOT_PASSWORD").unwrap_or_default())).await?;
//! conn.join("#bots").await?;
//! while let Some(incoming) = events.recv().await {
//!     if let Incoming::Event(Event::Message(m)) = incoming && m.body.trim() == "!ping" {
//!         conn.send_message(&m.room, &format!("pong, {}", m.from), false).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//! A bot that must survive restarts of the server uses a [`Supervisor`]
//! instead, which reconnects with backoff and hands out the events of each
//! new connection.

pub mod backoff;
pub mod conn;
pub mod credentials;
pub mod error;
pub mod supervisor;
pub mod transfer;
pub mod transport;

pub use backoff::Backoff;
pub use conn::{ConnectOptions, Connection, Disconnect, Events, Incoming, Placement, Welcome};
pub use error::ClientError;
pub use supervisor::{Status, Supervisor, SupervisorConfig, Update};
