//! The help overlay (F1, `/help`): the keys, the commands and where the
//! credentials came from. It has no state of its own; what it shows is
//! [`crate::app::keys::KEYS`], [`crate::app::command::COMMANDS`] and
//! `App::credential_source`, drawn by `crate::ui::overlay::help`.

use crate::app::keys::Action;

/// Whether a key bound to `action` closes the help (every other key is
/// swallowed while it is open).
#[must_use]
pub fn closes(action: Option<Action>) -> bool {
    action == Some(Action::Close)
}
