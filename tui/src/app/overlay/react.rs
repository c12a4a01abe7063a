//! The reaction prompt (`+` in selection mode): a `:shortcode:` typed
//! with Tab completing it over `app::emoji`, or 1-9 picking one of your
//! last used reactions. Enter reacts (a toggle), Esc closes.

use crossterm::event::{KeyCode, KeyEvent};
use natter_shared::MessageId;

use crate::app::emoji;
use crate::app::keys::Action;

/// The prompt's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactPrompt {
    pub room: String,
    pub id: MessageId,
    pub input: String,
    /// Tab's candidates and the one shown, while Tab is pressed again.
    completion: Option<(Vec<&'static str>, usize)>,
}

/// What a key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Open,
    Closed,
    /// React with this key (already an emoji or a valid key).
    React(String),
    /// What was typed is no reaction.
    Invalid(String),
}

impl ReactPrompt {
    #[must_use]
    pub fn new(room: &str, id: MessageId) -> Self {
        Self {
            room: room.to_owned(),
            id,
            input: String::new(),
            completion: None,
        }
    }

    /// A key; `recent` is your last used reactions, newest first.
    pub fn on_key(&mut self, key: KeyEvent, action: Option<Action>, recent: &[String]) -> Outcome {
        if key.code != KeyCode::Tab {
            self.completion = None;
        }
        match action {
            Some(Action::Close) => return Outcome::Closed,
            Some(Action::Confirm) => {
                return match emoji::key_of(&self.input) {
                    Ok(key) => Outcome::React(key),
                    Err(why) => Outcome::Invalid(why),
                };
            }
            _ => {}
        }
        match key.code {
            KeyCode::Char(d @ '1'..='9') if self.input.is_empty() => {
                let i = usize::from(d as u8 - b'1');
                if let Some(key) = recent.get(i) {
                    return Outcome::React(key.clone());
                }
            }
            KeyCode::Tab => {
                let (list, i) = match self.completion.take() {
                    Some((list, i)) => {
                        let next = (i + 1) % list.len().max(1);
                        (list, next)
                    }
                    None => (emoji::complete(&self.input), 0),
                };
                if let Some(code) = list.get(i) {
                    (*code).clone_into(&mut self.input);
                    self.completion = Some((list, i));
                }
            }
            _ => {
                super::edit_line(&mut self.input, &key);
            }
        }
        Outcome::Open
    }
}
