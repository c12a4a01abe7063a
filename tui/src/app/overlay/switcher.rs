//! The quick switcher (Ctrl+K): type a few letters of a room or a person,
//! pick with Up/Down, Enter goes there (joining, or opening a
//! conversation, if you are not in it yet).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::keys::Action;
use crate::app::rooms::Rooms;
use crate::app::text;

/// Entries the quick switcher shows.
pub const SWITCHER_ROWS: usize = 12;

/// The switcher's filter and selection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Switcher {
    pub filter: String,
    /// Among the entries shown.
    pub selected: usize,
}

/// What a key did to the switcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Open,
    Closed,
    /// Enter: go to the selected entry (see [`Switcher::choice`]).
    Chosen,
}

impl Switcher {
    /// A key, with what the bindings made of it; unbound keys edit the
    /// filter.
    pub fn on_key(&mut self, key: KeyEvent, action: Option<Action>) -> Outcome {
        match action {
            Some(Action::Close) => return Outcome::Closed,
            Some(Action::Up) => self.selected = self.selected.saturating_sub(1),
            Some(Action::Down) => self.selected = (self.selected + 1).min(SWITCHER_ROWS - 1),
            Some(Action::Confirm) => return Outcome::Chosen,
            Some(_) => {}
            None => match key.code {
                KeyCode::Backspace => {
                    self.filter.pop();
                    self.selected = 0;
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.filter.push(c);
                    self.selected = 0;
                }
                _ => {}
            },
        }
        Outcome::Open
    }

    /// The entry selected, if any matches.
    #[must_use]
    pub fn choice(&self, rooms: &Rooms, me: &str) -> Option<String> {
        let items = items(rooms, me, &self.filter);
        let shown = items.len().min(SWITCHER_ROWS);
        items
            .into_iter()
            .nth(self.selected.min(shown.saturating_sub(1)))
    }
}

/// The switcher's entries for a filter: rooms, then people to message
/// (the members of your rooms but you), best match first.
#[must_use]
pub fn items(rooms: &Rooms, me: &str, filter: &str) -> Vec<String> {
    let mut items: Vec<String> = rooms.iter().map(|r| r.name.clone()).collect();
    let mut people: Vec<String> = rooms
        .iter()
        .flat_map(|r| r.members.iter().map(|m| format!("@{}", m.name)))
        .filter(|n| *n != format!("@{me}"))
        .collect();
    people.sort();
    people.dedup();
    for p in people {
        if !items.contains(&p) {
            items.push(p);
        }
    }
    let mut scored: Vec<(usize, String)> = items
        .into_iter()
        .filter_map(|i| text::fuzzy_score(filter, &i).map(|s| (s, i)))
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, i)| i).collect()
}
