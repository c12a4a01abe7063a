//! Per-room control while running: `/notify`, `/mute` and `/unmute`,
//! `/markread`, `/close` and `/clear`. The choices that outlive the
//! process (notification level, mute, closed conversations) are kept in
//! [`RoomPrefs`], saved by the event loop after each change.

use natter_shared::{MessageId, Request, RoomKind, RoomState};

use super::timeline::EntryKind;
use super::{App, Effect, Then};
use crate::notify::NotifyLevel;
use crate::prefs::RoomPrefs;

impl App {
    /// The notification level for `room`: `/notify` first, then the
    /// config file's `[notify]`, then its default.
    #[must_use]
    pub fn notify_level(&self, room: &str) -> NotifyLevel {
        if self.settings.prefs.muted.contains(room) {
            return NotifyLevel::None;
        }
        self.settings
            .prefs
            .notify
            .get(room)
            .or_else(|| self.settings.notify.get(room))
            .copied()
            .unwrap_or(self.settings.notify_default)
    }

    /// Whether `/mute` silenced `room`.
    #[must_use]
    pub fn muted(&self, room: &str) -> bool {
        self.settings.prefs.muted.contains(room)
    }

    fn save_prefs(&self) -> Effect {
        Effect::SavePrefs(self.settings.prefs.clone())
    }

    /// `/notify LEVEL` for the room on screen.
    pub(crate) fn set_notify(
        &mut self,
        here: &str,
        level: NotifyLevel,
        now_ms: i64,
    ) -> Vec<Effect> {
        self.settings.prefs.notify.insert(here.to_owned(), level);
        let what = match level {
            NotifyLevel::All => "every message",
            NotifyLevel::Mentions => "mentions and direct messages",
            NotifyLevel::None => "nothing",
        };
        let mut text = format!("{here}: notifications for {what}");
        if self.muted(here) {
            text.push_str(" once unmuted");
        }
        self.notice(Some(here), now_ms, EntryKind::Notice(text));
        vec![self.save_prefs()]
    }

    /// `/mute` (or `/unmute`) the room on screen.
    pub(crate) fn set_muted(&mut self, here: &str, muted: bool, now_ms: i64) -> Vec<Effect> {
        let changed = if muted {
            self.settings.prefs.muted.insert(here.to_owned())
        } else {
            self.settings.prefs.muted.remove(here)
        };
        let text = match (muted, changed) {
            (true, true) => format!("{here} muted: no notifications, not in the unread total"),
            (true, false) => format!("{here} was already muted"),
            (false, true) => format!("{here} unmuted"),
            (false, false) => format!("{here} was not muted"),
        };
        self.notice(Some(here), now_ms, EntryKind::Notice(text));
        if changed {
            vec![self.save_prefs()]
        } else {
            Vec::new()
        }
    }

    /// `/markread`: the room on screen, or with `all` every room, read up
    /// to its newest message, loaded or not.
    pub(crate) fn mark_all_read(&mut self, here: &str, all: bool) -> Vec<Effect> {
        let mut effects = Vec::new();
        for room in &mut self.rooms {
            if !(all || room.name == here) {
                continue;
            }
            let newest = room.entries.newest().max(room.last_id);
            room.seeking = false;
            if newest > room.last_read {
                room.last_read = newest;
                effects.push(Effect::Request {
                    req: Request::MarkRead {
                        room: room.name.clone(),
                        id: newest,
                    },
                    then: Then::Quiet {
                        room: room.name.clone(),
                    },
                });
            }
            room.unread = 0;
            room.mentions = 0;
        }
        effects
    }

    /// `/close`: hides the direct conversation on screen until its next
    /// message.
    pub(crate) fn close_direct(&mut self, here: &str, now_ms: i64) -> Vec<Effect> {
        let Some(room) = self.rooms.by_name(here) else {
            return Vec::new();
        };
        if room.kind != RoomKind::Direct {
            self.error(now_ms, format!("{here} is a room: /leave it instead"));
            return Vec::new();
        }
        let newest = room.entries.newest().max(room.last_id);
        self.settings.prefs.closed.insert(here.to_owned(), newest);
        let mut effects = self.mark_all_read(here, false);
        self.rooms.remove(here);
        effects.extend(self.open_current());
        effects.push(self.save_prefs());
        effects
    }

    /// A closed conversation's listing at login: still hidden when
    /// nothing came since it was closed; otherwise shown again.
    pub(crate) fn hide_closed(&mut self, states: &[RoomState]) -> Option<Effect> {
        let mut changed = false;
        for state in states {
            if let Some(&closed_at) = self.settings.prefs.closed.get(&state.name) {
                if state.last_id > closed_at {
                    self.settings.prefs.closed.remove(&state.name);
                    changed = true;
                } else {
                    self.rooms.remove(&state.name);
                }
            }
        }
        changed.then(|| self.save_prefs())
    }

    /// A message in a conversation that `/close` hid: it comes back.
    pub(crate) fn reopen_closed(&mut self, room: &str, id: MessageId) -> Option<Effect> {
        self.settings.prefs.closed.remove(room)?;
        self.rooms
            .add(&super::rooms::direct_state(room, id.saturating_sub(1)));
        Some(self.save_prefs())
    }

    /// `/clear`: empties the view of the room on screen; the messages stay
    /// on the server and new ones show as they come.
    pub(crate) fn clear_view(&mut self, here: &str) {
        if let Some(room) = self.rooms.by_name_mut(here) {
            room.entries.clear();
            room.has_older = false;
            room.scroll = None;
            room.new_below = 0;
            room.marker = None;
        }
    }

    /// The choices to start with (from the state dir).
    pub fn set_prefs(&mut self, prefs: RoomPrefs) {
        self.settings.prefs = prefs;
    }
}
