//! Room modes as the client shows them: announcement rooms (only
//! moderators post: the input line says so) and categories.
//!
//! The rooms pane's groups: rooms with a category (set by the room's
//! moderators, `/category`) are listed under a header per category, and a
//! header folds (`/fold`, or a click on it) to hide its rooms. Which
//! categories are folded is the user's choice, kept in the room
//! preferences.
//!
//! Without any category the pane is the plain list it always was: no
//! headers. With some, rooms without one come first, then each category,
//! then direct conversations under a header of their own. The room on
//! screen always shows, even in a folded group.

use natter_shared::RoomKind;

use super::rooms::Room;
use super::timeline::EntryKind;
use super::{App, Effect};

/// The fold key of the direct conversations' group (no category can be
/// empty, so no category can take it).
pub const DIRECT: &str = "";

/// One row of the rooms pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaneRow {
    /// A group's header, with its rooms' counts (shown when folded).
    Header {
        /// The fold key: the category, or [`DIRECT`].
        key: String,
        folded: bool,
        unread: u32,
        mentions: u32,
    },
    /// The room at this index of [`super::rooms::Rooms`].
    Room(usize),
}

/// The fold key of the group `room` is listed in; `None` for rooms
/// without a category (they have no header).
fn group_of(room: &Room) -> Option<String> {
    if room.kind == RoomKind::Direct {
        Some(DIRECT.to_owned())
    } else {
        room.category.clone()
    }
}

/// How a header names its group.
#[must_use]
pub fn title(key: &str) -> &str {
    if key == DIRECT { "direct" } else { key }
}

impl App {
    /// The rooms pane, row by row (below its title).
    #[must_use]
    pub fn pane_rows(&self) -> Vec<PaneRow> {
        let grouped = self
            .rooms
            .iter()
            .any(|r| r.kind != RoomKind::Direct && r.category.is_some());
        let current = self.rooms.current_index();
        let mut rows = Vec::with_capacity(self.rooms.len() + 4);
        let mut group: Option<String> = None;
        for (i, room) in self.rooms.iter().enumerate() {
            let here = if grouped { group_of(room) } else { None };
            let folded = here
                .as_ref()
                .is_some_and(|k| self.settings.prefs.folded.contains(k));
            if here != group {
                if let Some(key) = &here {
                    let (unread, mentions) = self
                        .rooms
                        .iter()
                        .filter(|r| group_of(r).as_ref() == Some(key) && !self.muted(&r.name))
                        .fold((0, 0), |(u, m), r| (u + r.unread, m + r.mentions));
                    rows.push(PaneRow::Header {
                        key: key.clone(),
                        folded,
                        unread,
                        mentions,
                    });
                }
                group.clone_from(&here);
            }
            if !folded || i == current {
                rows.push(PaneRow::Room(i));
            }
        }
        rows
    }

    /// Whether the room on screen is an announcement room you may not post
    /// in (you are no moderator there, nor an admin).
    #[must_use]
    pub fn read_only_here(&self) -> bool {
        self.room()
            .is_some_and(|r| r.announce && r.role < natter_shared::Role::Moderator && !self.admin)
    }

    /// Whether room `index` shows in the rooms pane (not folded away).
    #[must_use]
    pub fn room_shown(&self, index: usize) -> bool {
        self.pane_rows().contains(&PaneRow::Room(index))
    }

    /// Folds or unfolds a group (`key` as [`PaneRow::Header`] has it);
    /// returns whether it is folded now.
    pub(crate) fn toggle_fold(&mut self, key: &str) -> bool {
        let folded = &mut self.settings.prefs.folded;
        if folded.remove(key) {
            false
        } else {
            folded.insert(key.to_owned());
            true
        }
    }

    /// `/fold [category]`: folds or unfolds a group, and keeps the choice.
    pub(crate) fn fold(&mut self, here: &str, name: Option<&str>, now_ms: i64) -> Vec<Effect> {
        let Some(key) = self.fold_key(name) else {
            let text = match name {
                Some(n) => format!("no room of yours is in a category {n:?}"),
                None => format!("{here} is in no category: /fold NAME folds one"),
            };
            self.notice(Some(here), now_ms, EntryKind::Notice(text));
            return Vec::new();
        };
        let folded = self.toggle_fold(&key);
        let text = format!(
            "{} {}",
            title(&key),
            if folded { "folded" } else { "unfolded" }
        );
        self.notice(Some(here), now_ms, EntryKind::Notice(text));
        vec![Effect::SavePrefs(self.settings.prefs.clone())]
    }

    /// The fold key for `/fold NAME`: a category of a room you are in (any
    /// case), `direct`, or without a name the group of the room on screen.
    #[must_use]
    pub fn fold_key(&self, name: Option<&str>) -> Option<String> {
        match name.map(str::trim) {
            None | Some("") => self.rooms.current().and_then(group_of),
            Some(n) if n.eq_ignore_ascii_case("direct") => Some(DIRECT.to_owned()),
            Some(n) => self
                .rooms
                .iter()
                .filter_map(|r| r.category.as_ref())
                .find(|c| c.eq_ignore_ascii_case(n))
                .cloned(),
        }
    }
}
