//! The composer: the input line and what helps you write in it.
//!
//! - the text itself (tui-input: cursor, words, multi-line with Alt+Enter,
//!   pastes inserted as-is), with bash's readline keys for words and
//!   lines where tui-input's differ;
//! - Up/Down recall of what you sent, keeping the draft you were writing;
//! - Tab completion of nicks, `#rooms` and `/commands`;
//! - the typing throttle: "typing" goes out at most every
//!   [`TYPING_RESEND`], "stopped" when the line is cleared or sent;
//! - the offline queue: messages written while disconnected, sent in
//!   order at the next login.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use crossterm::event::KeyEvent;
use natter_shared::Request;
use tui_input::backend::crossterm::EventHandler;
use tui_input::{Input, InputRequest};

use super::command;
use super::rooms::Rooms;
use super::timeline::Nonces;
use super::{Effect, Then};

/// How often at most a typing "start" is sent.
pub const TYPING_RESEND: Duration = Duration::from_secs(3);

/// A message on its way out: queued while offline, or handed to the event
/// loop as an [`Effect::Send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Names the pending entry the reply confirms.
    pub local: u64,
    pub room: String,
    pub body: String,
    pub action: bool,
    /// The message it quotes (`Send.reply_to`).
    pub reply_to: Option<natter_shared::MessageId>,
    /// The thread it goes in (`Send.thread`).
    pub thread: Option<natter_shared::MessageId>,
    /// Uploaded files it carries (`Send.files`).
    pub files: Vec<natter_shared::Attachment>,
}

impl Outgoing {
    /// The send, named so that it is known when it comes back.
    #[must_use]
    pub fn into_effect(self, nonces: &Nonces) -> Effect {
        Effect::Send {
            local: self.local,
            nonce: nonces.of(self.local),
            room: self.room,
            body: self.body,
            action: self.action,
            reply_to: self.reply_to,
            thread: self.thread,
            files: self.files,
        }
    }
}

/// The input line and its helpers.
#[derive(Debug)]
pub struct Composer {
    input: Input,
    /// Sent lines, oldest first, and the recall position.
    sent: Vec<String>,
    recall: Option<usize>,
    /// What was being typed when recall started, restored past the newest.
    draft: String,
    /// Tab pressed again cycles through the same candidates.
    completion: Option<Completion>,
    /// The room a "typing" went to, and when.
    typing_sent: Option<(String, Instant)>,
    /// The local id of the next message written.
    next_local: u64,
    /// Messages written while offline, in order.
    queue: VecDeque<Outgoing>,
}

#[derive(Debug, Clone)]
struct Completion {
    start: usize,
    candidates: Vec<String>,
    index: usize,
}

impl Default for Composer {
    fn default() -> Self {
        Self {
            input: Input::default(),
            sent: Vec::new(),
            recall: None,
            draft: String::new(),
            completion: None,
            typing_sent: None,
            next_local: 1,
            queue: VecDeque::new(),
        }
    }
}

impl Composer {
    /// The text being written.
    #[must_use]
    pub fn value(&self) -> &str {
        self.input.value()
    }

    /// The cursor, in characters from the start.
    #[must_use]
    pub fn cursor(&self) -> usize {
        self.input.cursor()
    }

    /// A key the bindings left to the text: editing, cursor movement.
    /// True if the text changed.
    pub(crate) fn edit(&mut self, key: KeyEvent) -> bool {
        let before = self.input.value().to_owned();
        if !self.readline(key) {
            self.input.handle_event(&crossterm::event::Event::Key(key));
        }
        if self.input.value() == before {
            return false;
        }
        self.recall = None;
        true
    }

    /// The keys that move and delete by words and lines as bash's do,
    /// where tui-input differs: it reads Alt+B, Alt+F and Alt+D only from
    /// terminals that report Meta (most report Alt), deletes backwards on
    /// Alt+D, empties the whole input on Ctrl+U, and goes to the start
    /// and end of everything rather than of the line on Ctrl+A and
    /// Ctrl+E. True if the key was one of them.
    ///
    /// Words (Alt+B, Alt+F, Alt+D) are runs of letters and digits; Ctrl+W
    /// deletes back to a blank. Lines are those of the message, so in a
    /// message of several lines Ctrl+A, Ctrl+E and Ctrl+U stay on the
    /// cursor's line.
    fn readline(&mut self, key: KeyEvent) -> bool {
        use crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};
        if key.kind == KeyEventKind::Release {
            return false;
        }
        let chars: Vec<char> = self.input.value().chars().collect();
        let at = self.input.cursor().min(chars.len());
        let alt = key.modifiers == KeyModifiers::ALT || key.modifiers == KeyModifiers::META;
        let ctrl = key.modifiers == KeyModifiers::CONTROL;
        let word = |c: &char| c.is_alphanumeric();
        let word_back = || {
            let gap = chars[..at].iter().rev().take_while(|c| !word(c)).count();
            let run = chars[..at - gap]
                .iter()
                .rev()
                .take_while(|c| word(c))
                .count();
            at - gap - run
        };
        let word_forward = || {
            let gap = chars[at..].iter().take_while(|c| !word(c)).count();
            let run = chars[at + gap..].iter().take_while(|c| word(c)).count();
            at + gap + run
        };
        let line_start = chars[..at]
            .iter()
            .rposition(|c| *c == '\n')
            .map_or(0, |i| i + 1);
        let line_end = chars[at..]
            .iter()
            .position(|c| *c == '\n')
            .map_or(chars.len(), |i| at + i);
        // The characters to delete, and where the cursor goes.
        let (delete, cursor) = match key.code {
            KeyCode::Char('b') if alt => (at..at, word_back()),
            KeyCode::Char('f') if alt => (at..at, word_forward()),
            KeyCode::Char('d') if alt => (at..word_forward(), at),
            KeyCode::Char('w') if ctrl => {
                let gap = chars[..at]
                    .iter()
                    .rev()
                    .take_while(|c| c.is_whitespace())
                    .count();
                let run = chars[..at - gap]
                    .iter()
                    .rev()
                    .take_while(|c| !c.is_whitespace())
                    .count();
                (at - gap - run..at, at - gap - run)
            }
            KeyCode::Char('a') if ctrl => (at..at, line_start),
            KeyCode::Char('e') if ctrl => (at..at, line_end),
            KeyCode::Char('u') if ctrl => (line_start..at, line_start),
            _ => return false,
        };
        if !delete.is_empty() {
            let value: String = chars[..delete.start]
                .iter()
                .chain(&chars[delete.end..])
                .collect();
            self.input = Input::new(value);
        }
        self.input = std::mem::take(&mut self.input).with_cursor(cursor);
        true
    }

    /// Starts a new line in the message (Alt+Enter).
    pub(crate) fn newline(&mut self) {
        self.input.handle(InputRequest::InsertChar('\n'));
    }

    /// Empties the line (Esc).
    pub(crate) fn clear(&mut self) {
        self.input.reset();
    }

    /// Pasted text goes in at the cursor as it is, newlines included; it
    /// is never sent by itself.
    /// Inserts `text` at the cursor, as typed.
    pub(crate) fn insert_str(&mut self, text: &str) {
        self.paste(text);
    }

    pub(crate) fn paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let value = self.input.value();
        let cursor = self.input.cursor();
        let byte = value
            .char_indices()
            .nth(cursor)
            .map_or(value.len(), |(i, _)| i);
        let mut new = String::with_capacity(value.len() + text.len());
        new.push_str(&value[..byte]);
        new.push_str(&text);
        new.push_str(&value[byte..]);
        let cursor = cursor + text.chars().count();
        self.input = Input::new(new).with_cursor(cursor);
    }

    /// Takes the line to send or run (Enter), remembering it for recall;
    /// `None` if there is nothing but blanks.
    pub(crate) fn take_line(&mut self) -> Option<String> {
        let line = self.input.value().to_owned();
        if line.trim().is_empty() {
            return None;
        }
        self.input.reset();
        self.recall = None;
        if self.sent.last() != Some(&line) {
            self.sent.push(line.clone());
        }
        Some(line)
    }

    /// Up (`delta < 0`) or Down: in a message of several lines, moves
    /// the cursor to the line above or below; from its first line (Up) or
    /// its last (Down), and in a one-line message, recalls an older or
    /// newer line instead. Past the newest, the draft comes back. So a
    /// recalled three-line message is never a dead end.
    pub(crate) fn recall_by(&mut self, delta: isize) {
        if self.move_line(delta < 0) {
            return;
        }
        if self.sent.is_empty() {
            return;
        }
        let len = self.sent.len();
        if self.recall.is_none() {
            self.draft = self.input.value().to_owned();
        }
        let next = match (self.recall, delta < 0) {
            (None, true) => Some(len - 1),
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < len => Some(i + 1),
            (_, false) => None,
        };
        self.recall = next;
        let text = next.map_or_else(|| std::mem::take(&mut self.draft), |i| self.sent[i].clone());
        self.input = Input::new(text);
    }

    /// Moves the cursor one line up or down in a message of several
    /// lines, keeping its column where the line is long enough. False at
    /// the first (or last) line: there is nowhere to go.
    fn move_line(&mut self, up: bool) -> bool {
        let chars: Vec<char> = self.input.value().chars().collect();
        let cursor = self.input.cursor().min(chars.len());
        // Starts of lines, in characters.
        let starts: Vec<usize> = std::iter::once(0)
            .chain(
                chars
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c == '\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        let line = starts.iter().rposition(|s| *s <= cursor).unwrap_or(0);
        let target = if up {
            match line.checked_sub(1) {
                Some(l) => l,
                None => return false,
            }
        } else if line + 1 < starts.len() {
            line + 1
        } else {
            return false;
        };
        let column = cursor - starts[line];
        let end = starts.get(target + 1).map_or(chars.len(), |next| next - 1);
        let at = (starts[target] + column).min(end);
        let value = self.input.value().to_owned();
        self.input = Input::new(value).with_cursor(at);
        true
    }

    /// Any key but Tab ends a completion: the next Tab starts afresh.
    pub(crate) fn end_completion(&mut self) {
        self.completion = None;
    }

    /// Completes the word before the cursor (Tab), or cycles to the next
    /// candidate: `/commands` at the start, `#rooms`, and otherwise the
    /// current room's people, recent speakers first (`nick: ` at the
    /// start of the line). Never yourself.
    /// `features`: the server's, so only commands it supports are offered
    /// (all of them before its welcome).
    pub(crate) fn complete(&mut self, rooms: &Rooms, me: &str, features: Option<&[String]>) {
        let value = self.input.value().to_owned();
        let cursor = self.input.cursor();
        let chars: Vec<char> = value.chars().collect();
        if let Some(c) = &mut self.completion {
            c.index = (c.index + 1) % c.candidates.len();
            let word = c.candidates[c.index].clone();
            let start = c.start;
            self.replace_word(start, &word);
            return;
        }
        let start = chars[..cursor]
            .iter()
            .rposition(|c| c.is_whitespace())
            .map_or(0, |i| i + 1);
        let prefix: String = chars[start..cursor].iter().collect();
        let lower = prefix.to_lowercase();
        let candidates: Vec<String> = if start == 0 && prefix.starts_with('/') {
            command::offered(features)
                .map(|(c, _, _)| (*c).to_owned())
                .filter(|c| c.starts_with(&lower))
                .map(|c| c + " ")
                .collect()
        } else if value.starts_with("/upload ") && start == "/upload ".len() {
            path_candidates(&prefix)
        } else if prefix.starts_with('#') {
            rooms
                .iter()
                .map(|r| r.name.clone())
                .filter(|n| n.starts_with(&lower))
                .map(|n| n + " ")
                .collect()
        } else {
            let bare = lower.trim_start_matches('@');
            let at = if prefix.starts_with('@') { "@" } else { "" };
            let suffix = if start == 0 && at.is_empty() {
                ": "
            } else {
                " "
            };
            let mut names: Vec<String> = Vec::new();
            if let Some(room) = rooms.current() {
                for n in room.recent.iter().rev() {
                    names.push(n.clone());
                }
                for m in &room.members {
                    names.push(m.name.clone());
                }
            }
            let mut seen = HashSet::new();
            names
                .into_iter()
                .filter(|n| *n != me && n.starts_with(bare) && seen.insert(n.clone()))
                .map(|n| format!("{at}{n}{suffix}"))
                .collect()
        };
        if candidates.is_empty() {
            return;
        }
        let word = candidates[0].clone();
        self.completion = Some(Completion {
            start,
            candidates,
            index: 0,
        });
        self.replace_word(start, &word);
    }

    fn replace_word(&mut self, start: usize, word: &str) {
        let value = self.input.value();
        let cursor = self.input.cursor();
        let chars: Vec<char> = value.chars().collect();
        let before: String = chars[..start].iter().collect();
        let after: String = chars[cursor..].iter().collect();
        let new = format!("{before}{word}{after}");
        let cursor = start + word.chars().count();
        self.input = Input::new(new).with_cursor(cursor);
    }

    /// Sends "start" while typing in `room` at most every few seconds,
    /// "stop" when the line is cleared. Commands are not typing; offline,
    /// nothing is said.
    pub(crate) fn typing(&mut self, room: Option<&str>, online: bool, now: Instant) -> Vec<Effect> {
        let Some(room) = room else {
            return Vec::new();
        };
        if !online {
            return Vec::new();
        }
        let value = self.input.value();
        let typing = !value.trim().is_empty() && !value.starts_with('/');
        match (&self.typing_sent, typing) {
            (Some((r, at)), true) if r == room && now.duration_since(*at) < TYPING_RESEND => {
                Vec::new()
            }
            (_, true) => {
                self.typing_sent = Some((room.to_owned(), now));
                vec![typing_request(room, true)]
            }
            (Some((r, _)), false) => {
                let r = r.clone();
                self.typing_sent = None;
                vec![typing_request(&r, false)]
            }
            (None, false) => Vec::new(),
        }
    }

    /// Says "stopped" where "typing" was last said (on sending, or leaving
    /// the room for another).
    pub(crate) fn stop_typing(&mut self, online: bool) -> Vec<Effect> {
        match self.typing_sent.take() {
            Some((room, _)) if online => vec![typing_request(&room, false)],
            _ => Vec::new(),
        }
    }

    /// Names a new message: the local id its pending entry, its send and
    /// the reply share.
    pub(crate) fn next_local(&mut self) -> u64 {
        let local = self.next_local;
        self.next_local += 1;
        local
    }

    /// Holds a message until the next login.
    pub(crate) fn queue(&mut self, message: Outgoing) {
        self.queue.push_back(message);
    }

    /// The message held last, to add to it.
    pub(crate) fn last_queued_mut(&mut self) -> Option<&mut Outgoing> {
        self.queue.back_mut()
    }

    /// The held messages, oldest first, to send now.
    pub(crate) fn drain_queue(&mut self) -> impl Iterator<Item = Outgoing> + '_ {
        self.queue.drain(..)
    }
}

fn typing_request(room: &str, active: bool) -> Effect {
    Effect::Request {
        req: Request::Typing {
            room: room.to_owned(),
            active,
        },
        then: Then::Quiet {
            room: room.to_owned(),
        },
    }
}
/// Local paths that complete `prefix` (`/upload ~/Pic` → `~/Pictures/`):
/// directories end in `/` to go on from, files in a space. Hidden entries
/// only when the prefix asks for them with a dot.
fn path_candidates(prefix: &str) -> Vec<String> {
    let (dir_text, stem) = match prefix.rfind('/') {
        Some(i) => (&prefix[..=i], &prefix[i + 1..]),
        None => ("", prefix),
    };
    let dir = if dir_text.is_empty() {
        std::path::PathBuf::from(".")
    } else {
        super::files::expand_home(dir_text)
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(stem) || (name.starts_with('.') && !stem.starts_with('.')) {
                return None;
            }
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            Some(format!(
                "{dir_text}{name}{}",
                if is_dir { "/" } else { " " }
            ))
        })
        .collect();
    out.sort();
    out.truncate(200);
    out
}
