//! Overlays: what is drawn over the main screen and takes the keys while
//! it is open. One file each:
//!
//! - `help.rs`: F1's keys and commands, scrolled;
//! - `switcher.rs`: Ctrl+K's fuzzy filter over rooms and people;
//! - `login.rs`: the login screen, when no source had credentials.

pub mod help;
pub mod login;
pub mod switcher;

pub use help::Help;
pub use login::LoginForm;
pub use switcher::{SWITCHER_ROWS, Switcher};

use super::keys::Context;

/// The overlay open, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help(Help),
    /// Ctrl+K: a fuzzy filter over rooms and users.
    Switcher(Switcher),
    /// Asked for credentials when no source had any.
    Login(LoginForm),
}

impl Overlay {
    /// Whose bindings the keys go through.
    #[must_use]
    pub fn context(&self) -> Context {
        match self {
            Overlay::None => Context::Main,
            Overlay::Help(_) => Context::Help,
            Overlay::Switcher(_) => Context::Switcher,
            Overlay::Login(_) => Context::Login,
        }
    }
}
