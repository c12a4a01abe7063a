//! Search (Ctrl+F or `/search`): the query on top, the results newest
//! first below it. Enter runs a changed query, or jumps to the result
//! chosen; PgDn on the last result fetches the next page.

use crossterm::event::{KeyCode, KeyEvent};
use natter_shared::SearchHit;

use crate::app::keys::Action;

/// The search overlay's state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchView {
    pub query: String,
    /// The query the results are for (`None`: not run yet).
    pub ran: Option<String>,
    pub hits: Vec<SearchHit>,
    /// An older page exists.
    pub more: bool,
    pub selected: usize,
    /// A request is out.
    pub loading: bool,
    pub error: Option<String>,
}

/// What a key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Open,
    Closed,
    /// Run the query afresh.
    Run,
    /// Fetch the next page.
    More,
    /// Jump to the chosen result.
    Chosen,
}

impl SearchView {
    /// A key, with what the key map made of it.
    pub fn on_key(&mut self, key: KeyEvent, action: Option<Action>) -> Outcome {
        match action {
            Some(Action::Close) => return Outcome::Closed,
            Some(Action::Confirm) => {
                let fresh = self.ran.as_deref() != Some(self.query.trim());
                return if fresh || self.hits.is_empty() {
                    Outcome::Run
                } else {
                    Outcome::Chosen
                };
            }
            Some(Action::Up) => {
                self.selected = self.selected.saturating_sub(1);
                return Outcome::Open;
            }
            Some(Action::Down) => {
                self.selected = (self.selected + 1).min(self.hits.len().saturating_sub(1));
                return Outcome::Open;
            }
            _ => {}
        }
        match key.code {
            KeyCode::PageDown => {
                let last = self.hits.len().saturating_sub(1);
                if self.selected >= last && self.more {
                    return Outcome::More;
                }
                self.selected = (self.selected + 10).min(last);
            }
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            _ => {
                super::edit_line(&mut self.query, &key);
            }
        }
        Outcome::Open
    }

    /// Results came: a first page replaces, a `next` one adds.
    pub fn found(&mut self, hits: Vec<SearchHit>, more: bool, next: bool) {
        self.loading = false;
        if next {
            self.hits.extend(hits);
        } else {
            self.hits = hits;
            self.selected = 0;
        }
        self.more = more;
    }

    /// The result chosen.
    #[must_use]
    pub fn chosen(&self) -> Option<&SearchHit> {
        self.hits.get(self.selected)
    }
}
