//! Overlays: what is drawn over the main screen and takes the keys while
//! it is open. One file each:
//!
//! - `help.rs`: F1's keys and commands, scrolled;
//! - `switcher.rs`: Ctrl+K's fuzzy filter over rooms and people;
//! - `login.rs`: the login screen, when no source had credentials;
//! - `thread.rs`: a thread, with its own input line;
//! - `search.rs`: search results, newest first;
//! - `react.rs`: the reaction prompt.
//!
//! The last three use the switcher's bindings (Esc closes, Enter
//! chooses, Up and Down move); the rest of their keys edit their text.

pub mod help;
pub mod login;
pub mod react;
pub mod search;
pub mod switcher;
pub mod thread;

pub use help::Help;
pub use login::LoginForm;
pub use react::ReactPrompt;
pub use search::SearchView;
pub use switcher::{SWITCHER_ROWS, Switcher};
pub use thread::ThreadView;

use super::keys::Context;

/// A key typed into an overlay's one-line input: Backspace deletes the
/// last character, a plain character (no Ctrl or Alt) is added. Whether
/// `input` changed.
pub(crate) fn edit_line(input: &mut String, key: &crossterm::event::KeyEvent) -> bool {
    use crossterm::event::{KeyCode, KeyModifiers};
    match key.code {
        KeyCode::Backspace => input.pop().is_some(),
        KeyCode::Char(c)
            if !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            input.push(c);
            true
        }
        _ => false,
    }
}

/// The overlay open, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help(Help),
    /// Ctrl+K: a fuzzy filter over rooms and users.
    Switcher(Switcher),
    /// Asked for credentials when no source had any.
    Login(LoginForm),
    /// A thread and its input line.
    Thread(Box<ThreadView>),
    /// Search results.
    Search(Box<SearchView>),
    /// Which reaction to add.
    React(ReactPrompt),
}

impl Overlay {
    /// Whose bindings the keys go through.
    #[must_use]
    pub fn context(&self) -> Context {
        match self {
            Overlay::None => Context::Main,
            Overlay::Help(_) => Context::Help,
            Overlay::Switcher(_) | Overlay::Thread(_) | Overlay::Search(_) | Overlay::React(_) => {
                Context::Switcher
            }
            Overlay::Login(_) => Context::Login,
        }
    }
}
