//! The `natter` client: everything but argument parsing. The full-screen
//! client and the scripting modes share the connection layer of
//! [`natter_client`] (re-exported here as [`conn`], [`supervisor`],
//! [`transport`], [`backoff`] and [`error`]), credentials and config.
//!
//! # Layout
//! - [`cli`]: the command line's definition, also the source of `natter
//!   completions` and `natter man`.
//! - [`credentials`]: the client library's credential order, plus the
//!   terminal prompt and the keyring as its token store.
//! - [`keyring`]: session tokens in the Secret Service or kernel keyring.
//! - [`config`]: the config file, environment and flags, resolved to
//!   [`config::Settings`].
//! - [`script`]: the non-interactive modes (`--send`, `tail`, `login`,
//!   `logout`, `passwd`, `block`, `unblock`).
//! - [`format`]: message lines as `tail` prints them (plain and JSON).
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
//!   - `app/safety.rs`: blocking, reports and invitations: who you block
//!     (their messages hidden, uncounted, unnotified), invitations
//!     waiting, and the notices both write;
//!   - `app/text.rs`: wrapping and layout arithmetic shared with drawing.
//! - [`ui`]: drawing, a pure function of `&App`: `ui/mod.rs` (the theme
//!   and the frame), `rooms.rs`, `timeline.rs`, `users.rs`, `status.rs`
//!   (typing and status lines), `composer.rs` (the input line), and
//!   `overlay/` with one file per overlay.
//! - [`tui`]: the full-screen client's event loop, generic over ratatui's
//!   `Backend` so tests drive it on a `TestBackend`; [`notify`]: its desktop
//!   notifications; [`local`]: the in-process server of `natter --local`;
//!   [`chatlog`]: its optional chat logs, written on a thread of their own.

pub mod app;
pub mod chatlog;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod format;
pub mod keyring;
pub mod local;
pub mod notify;
pub mod prefs;
pub mod script;
pub mod transfers;
pub mod tui;
pub mod ui;

// The connection layer is the client library's; these paths stay for the
// TUI's own modules and tests.
pub use natter_client::{
    Backoff, ClientError, ConnectOptions, Connection, Disconnect, Events, Incoming, Status,
    Supervisor, SupervisorConfig, Update, Welcome,
};
pub use natter_client::{backoff, conn, error, supervisor, transfer, transport};
