//! A thread, open over the main screen: its root and replies (fetched
//! with `HistoryQuery::thread`), live replies as they come, and its own
//! input line, whose Enter posts inside the thread.

use crossterm::event::KeyEvent;
use natter_shared::MessageId;

use crate::app::keys::Action;
use crate::app::timeline::Timeline;

/// The open thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadView {
    pub room: String,
    pub root: MessageId,
    /// The root first, then its replies.
    pub entries: Timeline,
    /// What is being written in the thread.
    pub input: String,
    /// Its page has arrived.
    pub loaded: bool,
    /// Older replies exist beyond the page.
    pub more: bool,
    /// The last request's error, shown at the bottom.
    pub error: Option<String>,
}

/// What a key did to the thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Open,
    Closed,
    /// Enter with this text: post it in the thread.
    Send(String),
}

impl ThreadView {
    /// The thread rooted at `root` of `room`, nothing loaded.
    #[must_use]
    pub fn new(room: &str, root_id: MessageId) -> Self {
        Self {
            room: room.to_owned(),
            root: root_id,
            entries: Timeline::default(),
            input: String::new(),
            loaded: false,
            more: false,
            error: None,
        }
    }

    /// A key, with what the key map made of it.
    pub fn on_key(&mut self, key: KeyEvent, action: Option<Action>) -> Outcome {
        match action {
            Some(Action::Close) => return Outcome::Closed,
            Some(Action::Confirm) => {
                let text = std::mem::take(&mut self.input);
                if text.trim().is_empty() {
                    return Outcome::Open;
                }
                return Outcome::Send(text);
            }
            _ => {}
        }
        super::edit_line(&mut self.input, &key);
        Outcome::Open
    }

    /// The thread as a room of its own, for the layout that draws rooms.
    #[must_use]
    pub fn as_room(&self) -> crate::app::Room {
        let mut room = crate::app::Room::new(&crate::app::rooms::direct_state(&self.room, 0));
        room.entries = self.entries.clone();
        room.has_older = false;
        room
    }

    /// A paste goes into the thread's input, as one line.
    pub fn paste(&mut self, text: &str) {
        self.input.push_str(&text.replace(['\r', '\n'], " "));
    }
}
