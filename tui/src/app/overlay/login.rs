//! The login screen: shown when no credential source (flag, environment,
//! keyring, config) had anything, or the one used was refused. It collects
//! server, user and password; the event loop logs in with them.

use crossterm::event::{KeyCode, KeyEvent};

use crate::app::keys::Action;

/// The login screen's fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoginForm {
    pub server: String,
    pub user: String,
    pub password: String,
    /// 0 server, 1 user, 2 password.
    pub field: usize,
    pub error: Option<String>,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Open,
    /// Everything is filled in: log in with it.
    Submit {
        server: String,
        user: String,
        password: String,
    },
}

impl LoginForm {
    /// The form for `server` and `user` as known so far, at the first
    /// field still to fill; `error` says why it is asked again.
    #[must_use]
    pub fn new(server: &str, user: &str, error: Option<String>) -> Self {
        Self {
            server: server.to_owned(),
            user: user.to_owned(),
            password: String::new(),
            field: if user.is_empty() { 1 } else { 2 },
            error,
        }
    }

    fn field_mut(&mut self) -> &mut String {
        match self.field {
            0 => &mut self.server,
            1 => &mut self.user,
            _ => &mut self.password,
        }
    }

    /// A key, with what the bindings made of it; unbound keys edit the
    /// field.
    pub fn on_key(&mut self, key: KeyEvent, action: Option<Action>) -> Outcome {
        match action {
            Some(Action::NextField) => self.field = (self.field + 1) % 3,
            Some(Action::PrevField) => self.field = (self.field + 2) % 3,
            Some(Action::Confirm) => return self.confirm(),
            Some(_) => {}
            None => match key.code {
                KeyCode::Backspace => {
                    self.field_mut().pop();
                }
                KeyCode::Char(c) => self.field_mut().push(c),
                _ => {}
            },
        }
        Outcome::Open
    }

    /// Pasted text goes into the field, without a trailing newline.
    pub fn paste(&mut self, text: &str) {
        self.field_mut()
            .push_str(text.trim_end_matches(['\r', '\n']));
    }

    /// Enter: on to the next field, or log in from the last one once
    /// everything is there. The password leaves the form.
    fn confirm(&mut self) -> Outcome {
        if self.field < 2 {
            self.field += 1;
            return Outcome::Open;
        }
        if self.server.trim().is_empty() || self.user.trim().is_empty() || self.password.is_empty()
        {
            self.error = Some("server, user and password are all needed".into());
            return Outcome::Open;
        }
        Outcome::Submit {
            server: self.server.trim().to_owned(),
            user: self.user.trim().to_owned(),
            password: std::mem::take(&mut self.password),
        }
    }
}
