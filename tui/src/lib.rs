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
//! - [`app`]: the full-screen client's state, changed only by its `on_*`
//!   entry points, which return [`app::Effect`]s:
//!   - `app/mod.rs`: [`app::App`] itself, routing events, replies and keys
//!     to the pieces below;
//!   - `app/rooms.rs`: the rooms list: order, the room on screen, unread
//!     and mention counts, members, typing, switching, each room's scroll;
//!   - `app/timeline.rs`: one room's messages, indexed by id; local
//!     notices; your pending messages, matched by nonce;
//!   - `app/composer.rs`: the input line, recall, completion, the typing
//!     throttle, the offline queue;
//!   - `app/keys.rs`: the key map: keys to actions, per context;
//!   - `app/overlay/`: `help.rs`, `switcher.rs` (Ctrl+K), `login.rs`;
//!   - `app/command.rs`: slash commands, parsed and run;
//!   - `app/text.rs`: wrapping and layout arithmetic shared with drawing.
//! - [`ui`]: drawing, a pure function of `&App`: `ui/mod.rs` (the theme
//!   and the frame), `rooms.rs`, `timeline.rs`, `users.rs`, `status.rs`
//!   (typing and status lines), `composer.rs` (the input line), and
//!   `overlay/` with one file per overlay.
//! - [`tui`]: the full-screen client's event loop, generic over ratatui's
//!   `Backend` so tests drive it on a `TestBackend`; [`notify`]: its desktop
//!   notifications; [`local`]: the in-process server of `natter --local`.

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
