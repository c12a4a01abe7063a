//! Selection mode (Alt+Up on an empty input): a highlight over the
//! messages of the room on screen, moved with Up and Down, and the keys
//! that act on the message under it. Esc leaves.
//!
//! - `r` reply: the input shows `replying to alice: …` above it; Enter
//!   sends with `reply_to`, Esc cancels ([`Compose::Reply`]);
//! - `t` open its thread (or the thread it is in);
//! - `e` edit your own: its text goes into the input, marked `editing`;
//!   Enter sends `Edit`, Esc cancels ([`Compose::Edit`]);
//! - `d` delete (your own, or any where you moderate), after a y/n;
//! - `+` react: the reaction prompt;
//! - `y` copy its text to the clipboard (OSC 52);
//! - Enter go to the message it replies to.
//!
//! A key whose feature the server does not list says so and does nothing.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use natter_shared::{MessageId, ReactOp, Request, Role, features};

use super::overlay::{ReactPrompt, react};
use super::text;
use super::timeline::{Entry, EntryKind};
use super::{App, Effect, Overlay};

/// What the input line is writing besides a new message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compose {
    /// A reply to message `id` of `room`, by `from`; `quote` is the start
    /// of its text.
    Reply {
        room: String,
        id: MessageId,
        from: String,
        quote: String,
    },
    /// A new text for your message `id` of `room`.
    Edit { room: String, id: MessageId },
}

impl Compose {
    /// The line above the input that says so.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Compose::Reply { from, quote, .. } => {
                format!("replying to {from}: {quote}  (Esc cancels)")
            }
            Compose::Edit { .. } => "editing your message  (Esc cancels)".to_owned(),
        }
    }
}

/// How many characters of a parent's text its quote keeps.
pub const QUOTE_CHARS: usize = 40;

/// The first words of `body`, on one line, cut with `…`.
#[must_use]
pub fn quote(body: &str) -> String {
    let one: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= QUOTE_CHARS {
        return one;
    }
    let cut: String = one.chars().take(QUOTE_CHARS).collect();
    format!("{}…", cut.trim_end())
}

/// A selectable entry: a message from the server.
fn selectable(e: &Entry) -> bool {
    e.id.is_some() && matches!(e.kind, EntryKind::Msg { .. })
}

impl App {
    /// Alt+Up: selects the newest message on screen.
    pub(super) fn enter_select(&mut self, now_ms: i64) {
        let blocked = self.safety.blocked();
        let newest = self.room().and_then(|r| {
            r.entries
                .iter()
                .rev()
                .filter(|e| selectable(e))
                .find(|e| !matches!(&e.kind, EntryKind::Msg { from, .. } if blocked.contains(from)))
                .and_then(|e| e.id)
        });
        match newest {
            Some(id) => self.select_message(id),
            None => self.error(now_ms, "no message to select here"),
        }
    }

    /// The keys of selection mode, as the line under the messages lists
    /// them: only those whose feature the server lists.
    #[must_use]
    pub fn select_hint(&self) -> Option<String> {
        self.select?;
        let mut keys = vec!["↑↓ move"];
        for (feature, label) in [
            (features::REPLIES, "r reply"),
            (features::THREADS, "t thread"),
            (features::EDITS, "e edit"),
            (features::DELETES, "d delete"),
            (features::REACTIONS, "+ react"),
        ] {
            if self.has(feature) {
                keys.push(label);
            }
        }
        keys.push("y copy");
        if self
            .selected()
            .is_some_and(|(_, e)| !e.rich.attachments.is_empty())
        {
            keys.push("s save");
            keys.push("o open");
        }
        if self.has(features::REPLIES) {
            keys.push("Enter go to parent");
        }
        keys.push("Esc done");
        Some(format!(" selecting: {}", keys.join(" · ")))
    }

    /// Selects message `id` of the room on screen and scrolls it into view.
    pub(crate) fn select_message(&mut self, id: MessageId) {
        self.select = Some(id);
        let area = text::messages_area(self);
        let height = usize::from(area.height);
        let layout = text::Layout {
            width: area.width as usize,
            utc_offset: self.settings.utc_offset,
            me: &self.user,
            blocked: self.safety.blocked(),
            thumbs: super::files::previews(&self.settings, &self.files),
        };
        let Some(room) = self.rooms.current_mut() else {
            return;
        };
        let Some(index) = room.entries.position(id) else {
            return;
        };
        let shown = layout
            .visible_entries(room, height)
            .iter()
            .any(|(i, _)| *i == index);
        if !shown {
            // A few rows of context above it.
            let from = (index.saturating_sub(1)..=index)
                .find(|i| room.entries.get(*i).is_some())
                .unwrap_or(index);
            room.scroll = layout.position_at(room, from, height);
        }
    }

    /// The selected message's entry.
    fn selected(&self) -> Option<(&str, &Entry)> {
        let room = self.room()?;
        let e = room.entries.message(self.select?)?;
        Some((room.name.as_str(), e))
    }

    /// A key in selection mode.
    pub(super) fn on_select_key(&mut self, key: KeyEvent, now_ms: i64) -> Vec<Effect> {
        if key.modifiers.intersects(KeyModifiers::CONTROL) {
            return Vec::new();
        }
        match key.code {
            KeyCode::Esc => self.select = None,
            KeyCode::Up => self.select_by(true),
            KeyCode::Down => self.select_by(false),
            KeyCode::Char('r') => self.start_reply(now_ms),
            KeyCode::Char('e') => self.start_edit(now_ms),
            KeyCode::Char('d') => self.ask_delete(now_ms),
            KeyCode::Char('+') => self.start_react(now_ms),
            KeyCode::Char('y') => return self.copy_selected(),
            // The selected message's files (its first, for a message with
            // several: /download N names the others).
            KeyCode::Char(c @ ('s' | 'o')) => {
                let Some(file) = self
                    .selected()
                    .and_then(|(_, e)| e.rich.attachments.first().cloned())
                else {
                    self.error(now_ms, "this message carries no file");
                    return Vec::new();
                };
                let purpose = if c == 's' {
                    super::files::Purpose::Save
                } else {
                    super::files::Purpose::Open
                };
                return self.fetch(file, purpose, None);
            }
            KeyCode::Char('t') => {
                if let Some((room, e)) = self.selected() {
                    let room = room.to_owned();
                    let thread = e.rich.thread.or(e.id).unwrap_or_default();
                    return self.open_thread(&room, thread, now_ms);
                }
            }
            KeyCode::Enter => {
                if let Some((room, e)) = self.selected() {
                    let room = room.to_owned();
                    match e.rich.reply_to.or(e.rich.thread) {
                        Some(parent) => return self.jump_to(&room, parent, now_ms),
                        None => self.error(now_ms, "this message replies to none"),
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// Up or Down: the next selectable message that way.
    fn select_by(&mut self, up: bool) {
        let blocked = self.safety.blocked();
        let Some(room) = self.room() else {
            return;
        };
        let Some(at) = self.select.and_then(|id| room.entries.position(id)) else {
            return;
        };
        let ok = |e: &Entry| {
            selectable(e)
                && !matches!(&e.kind, EntryKind::Msg { from, .. } if blocked.contains(from))
        };
        let next = if up {
            (0..at).rev().find(|&i| ok(&room.entries[i]))
        } else {
            (at + 1..room.entries.len()).find(|&i| ok(&room.entries[i]))
        };
        if let Some(id) = next.and_then(|i| room.entries[i].id) {
            self.select_message(id);
        }
    }

    fn start_reply(&mut self, now_ms: i64) {
        if !self.require(features::REPLIES, now_ms) {
            return;
        }
        let Some((room, e)) = self.selected() else {
            return;
        };
        let EntryKind::Msg { from, body, .. } = &e.kind else {
            return;
        };
        let compose = Compose::Reply {
            room: room.to_owned(),
            id: e.id.unwrap_or_default(),
            from: from.clone(),
            quote: if e.rich.deleted {
                "message deleted".to_owned()
            } else {
                quote(&text::display_text(body))
            },
        };
        self.compose = Some(compose);
        self.select = None;
    }

    fn start_edit(&mut self, now_ms: i64) {
        if !self.require(features::EDITS, now_ms) {
            return;
        }
        let Some((room, e)) = self.selected() else {
            return;
        };
        let EntryKind::Msg { from, body, .. } = &e.kind else {
            return;
        };
        if *from != self.user || e.rich.deleted {
            self.error(now_ms, "you can only edit your own messages");
            return;
        }
        let (room, id, body) = (room.to_owned(), e.id.unwrap_or_default(), body.clone());
        self.begin_edit(room, id, &body);
    }

    /// Puts your message's text in the input to edit it.
    pub(super) fn begin_edit(&mut self, room: String, id: MessageId, body: &str) {
        self.composer.clear();
        self.composer.paste(body);
        self.compose = Some(Compose::Edit { room, id });
        self.select = None;
    }

    /// Whether you may delete `e` in the room on screen.
    fn may_delete(&self, e: &Entry) -> bool {
        let own = matches!(&e.kind, EntryKind::Msg { from, .. } if *from == self.user);
        own || self
            .room()
            .is_some_and(|r| matches!(r.role, Role::Moderator | Role::Owner))
    }

    fn ask_delete(&mut self, now_ms: i64) {
        if !self.require(features::DELETES, now_ms) {
            return;
        }
        let Some((room, e)) = self.selected() else {
            return;
        };
        if e.rich.deleted {
            return;
        }
        if !self.may_delete(e) {
            self.error(now_ms, "you can only delete your own messages here");
            return;
        }
        let target = (room.to_owned(), e.id.unwrap_or_default());
        self.confirm_delete = Some(target);
        self.notice(
            None,
            now_ms,
            EntryKind::Error("delete this message? y/n".into()),
        );
    }

    /// The key after "delete this message?": `y` deletes.
    pub(super) fn answer_delete(&mut self, key: KeyEvent, now_ms: i64) -> Vec<Effect> {
        let Some((room, id)) = self.confirm_delete.take() else {
            return Vec::new();
        };
        if matches!(key.code, KeyCode::Char('y' | 'Y')) {
            self.select = None;
            return vec![App::change(
                &room,
                Request::Delete {
                    room: room.clone(),
                    id,
                },
            )];
        }
        self.notice(None, now_ms, EntryKind::Notice("not deleted".into()));
        Vec::new()
    }

    fn start_react(&mut self, now_ms: i64) {
        if !self.require(features::REACTIONS, now_ms) {
            return;
        }
        let Some((room, e)) = self.selected() else {
            return;
        };
        if e.rich.deleted {
            return;
        }
        let prompt = ReactPrompt::new(room, e.id.unwrap_or_default());
        self.overlay = Overlay::React(prompt);
    }

    /// A key in the reaction prompt.
    pub(super) fn on_react_key(
        &mut self,
        key: KeyEvent,
        action: Option<super::Action>,
        now_ms: i64,
    ) -> Vec<Effect> {
        let Overlay::React(p) = &mut self.overlay else {
            return Vec::new();
        };
        match p.on_key(key, action, &self.recent_reactions) {
            react::Outcome::Open => Vec::new(),
            react::Outcome::Closed => {
                self.overlay = Overlay::None;
                Vec::new()
            }
            react::Outcome::Invalid(why) => {
                self.overlay = Overlay::None;
                self.error(now_ms, why);
                Vec::new()
            }
            react::Outcome::React(key) => {
                let (room, id) = (p.room.clone(), p.id);
                self.overlay = Overlay::None;
                self.react_to(&room, id, key)
            }
        }
    }

    /// Toggles your reaction `key` on message `id` of `room`.
    pub(crate) fn react_to(&mut self, room: &str, id: MessageId, key: String) -> Vec<Effect> {
        self.recent_reactions.retain(|k| *k != key);
        self.recent_reactions.insert(0, key.clone());
        self.recent_reactions.truncate(9);
        vec![App::change(
            room,
            Request::React {
                room: room.to_owned(),
                id,
                key,
                op: ReactOp::Toggle,
            },
        )]
    }

    /// `y`: the selected message's text to the clipboard.
    fn copy_selected(&mut self) -> Vec<Effect> {
        match self.selected() {
            Some((_, e)) if !e.rich.deleted => match &e.kind {
                EntryKind::Msg { body, .. } => vec![Effect::Copy { text: body.clone() }],
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Enter with a reply or an edit in the input. `None`: not composing
    /// one (or the line is a command), the line goes on as usual.
    pub(super) fn submit_compose(&mut self, line: &str, now_ms: i64) -> Option<Vec<Effect>> {
        if line.starts_with('/') && !line.starts_with("//") {
            return None;
        }
        let compose = self.compose.take()?;
        let body = line
            .strip_prefix('/')
            .filter(|_| line.starts_with("//"))
            .unwrap_or(line)
            .to_owned();
        Some(match compose {
            Compose::Reply { room, id, .. } => {
                self.send_rich(&room, body, false, Some(id), None, now_ms)
            }
            Compose::Edit { room, id } => {
                if body.trim().is_empty() {
                    self.error(
                        now_ms,
                        "an edit cannot be empty; d in selection mode deletes",
                    );
                    return Some(Vec::new());
                }
                vec![App::change(
                    &room,
                    Request::Edit {
                        room: room.clone(),
                        id,
                        body,
                    },
                )]
            }
        })
    }
}
