//! Read receipts and delivery in the client: the others' read markers of
//! each room (fetched with `Readers` when a room opens, then kept by
//! `Receipt` events), how far a direct conversation was delivered (kept by
//! `Delivered`), the acknowledgement this client sends for what it
//! received in a direct conversation, and `/receipts` and `/seen`.
//!
//! What is drawn from them is in `text.rs`: ✓ (sent), ✓✓ (delivered) or
//! `seen` after your last message of a direct conversation, and "seen by
//! …" under a room's newest message.

use natter_shared::{ErrorReply, MessageId, Reader, Request, Response, RoomKind, features};

use super::timeline::EntryKind;
use super::{App, Effect, Then};

/// Most names "seen by" lists before "and N more".
const SEEN_NAMES: usize = 4;

/// What a `Readers` reply is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadersFor {
    /// Filling the room's markers as it opens: quiet.
    Fill,
    /// `/seen [id]`: a notice with the names.
    Seen(Option<MessageId>),
}

impl App {
    /// Whether the server sends receipts (known only once it said so).
    fn has_receipts(&self) -> bool {
        self.features
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == features::RECEIPTS))
    }

    /// The others' read markers of the room on screen, fetched once per
    /// connection.
    pub(super) fn fetch_readers(&mut self) -> Vec<Effect> {
        if !self.online() || !self.has_receipts() {
            return Vec::new();
        }
        let Some(room) = self.rooms.current_mut() else {
            return Vec::new();
        };
        if room.readers_asked {
            return Vec::new();
        }
        room.readers_asked = true;
        vec![Effect::Request {
            req: Request::Readers {
                room: room.name.clone(),
                id: None,
            },
            then: Then::Readers {
                room: room.name.clone(),
                what: ReadersFor::Fill,
            },
        }]
    }

    /// Tells the server this client holds direct conversation `room` up
    /// to `id`, so the other person sees their messages delivered.
    pub(super) fn ack_direct(&self, room: &str, id: MessageId) -> Vec<Effect> {
        let direct = self
            .rooms
            .by_name(room)
            .is_some_and(|r| r.kind == RoomKind::Direct);
        if !direct || !self.online() || !self.has_receipts() {
            return Vec::new();
        }
        vec![Effect::Request {
            req: Request::Received {
                room: room.to_owned(),
                id,
            },
            then: Then::Silent,
        }]
    }

    /// `user` has read `room` up to `id`.
    pub(super) fn on_receipt(&mut self, room: &str, user: &str, id: MessageId) {
        if let Some(r) = self.rooms.by_name_mut(room) {
            let read = r.readers.entry(user.to_owned()).or_default();
            *read = (*read).max(id);
        }
    }

    /// The other person's client received `room` up to `id`.
    pub(super) fn on_delivered(&mut self, room: &str, id: MessageId) {
        if let Some(r) = self.rooms.by_name_mut(room) {
            r.delivered = r.delivered.max(id);
        }
    }

    /// A `Readers` reply.
    pub(super) fn on_readers(
        &mut self,
        room: &str,
        what: &ReadersFor,
        result: Result<Response, ErrorReply>,
        now_ms: i64,
    ) {
        match (what, result) {
            (
                ReadersFor::Fill,
                Ok(Response::Readers {
                    readers, delivered, ..
                }),
            ) => {
                if let Some(r) = self.rooms.by_name_mut(room) {
                    for Reader { user, read } in readers {
                        let held = r.readers.entry(user).or_default();
                        *held = (*held).max(read);
                    }
                    r.delivered = r.delivered.max(delivered.unwrap_or(0));
                    r.receipts_shown = true;
                }
            }
            (ReadersFor::Seen(id), Ok(Response::Readers { readers, .. })) => {
                let names: Vec<String> = readers.into_iter().map(|r| r.user).collect();
                let what =
                    id.map_or_else(|| "this room's newest".to_owned(), |id| format!("#{id}"));
                let text = if names.is_empty() {
                    format!("nobody you can see has read {what} yet")
                } else {
                    format!("{what} seen by {}", names.join(", "))
                };
                self.notice(Some(room), now_ms, EntryKind::Notice(text));
            }
            // Sharing off, or an older server: nothing to show; nor for
            // a reply of another kind.
            (ReadersFor::Fill, _) | (ReadersFor::Seen(_), Ok(_)) => {}
            (ReadersFor::Seen(_), Err(e)) => {
                self.notice(Some(room), now_ms, EntryKind::Error(e.message));
            }
        }
    }

    /// `/seen [id]`: who has read up to that message (the newest without
    /// one).
    pub(super) fn ask_seen(
        &mut self,
        here: &str,
        id: Option<MessageId>,
        now_ms: i64,
    ) -> Vec<Effect> {
        if !self.supports(features::RECEIPTS, here, now_ms) {
            return Vec::new();
        }
        let id = id.or_else(|| self.room().map(|r| r.entries.newest()).filter(|&n| n > 0));
        vec![Effect::Request {
            req: Request::Readers {
                room: here.to_owned(),
                id,
            },
            then: Then::Readers {
                room: here.to_owned(),
                what: ReadersFor::Seen(id),
            },
        }]
    }

    /// `/receipts [on|off]`.
    pub(super) fn set_receipts(
        &mut self,
        here: &str,
        share: Option<bool>,
        now_ms: i64,
    ) -> Vec<Effect> {
        if !self.supports(features::RECEIPTS, here, now_ms) {
            return Vec::new();
        }
        vec![Effect::Request {
            req: Request::ShareReceipts { share },
            then: Then::Sharing {
                room: here.to_owned(),
            },
        }]
    }

    /// A `ShareReceipts` reply: says where sharing stands. Turned off, the
    /// markers held are forgotten (the server sends no more).
    pub(super) fn on_sharing(
        &mut self,
        room: &str,
        result: Result<Response, ErrorReply>,
        now_ms: i64,
    ) {
        match result {
            Ok(Response::SharingReceipts { share }) => {
                if !share {
                    for r in &mut self.rooms {
                        r.readers.clear();
                        r.receipts_shown = false;
                        r.readers_asked = false;
                    }
                }
                let text = if share {
                    "you share read receipts: others see what you have read, and you see theirs"
                } else {
                    "you do not share read receipts: nobody sees what you have read, and you see nobody's"
                };
                self.notice(Some(room), now_ms, EntryKind::Notice(text.to_owned()));
            }
            Ok(_) => {}
            Err(e) => self.notice(Some(room), now_ms, EntryKind::Error(e.message)),
        }
    }
}

/// "seen by bob, carol and 3 more", for a message of `author` read by
/// `readers` (name, marker) up to `id`; `None` when nobody has.
#[must_use]
pub fn seen_by<'a>(
    readers: impl Iterator<Item = (&'a String, &'a MessageId)>,
    author: &str,
    id: MessageId,
) -> Option<String> {
    let mut names: Vec<&str> = readers
        .filter(|(name, read)| **read >= id && name.as_str() != author)
        .map(|(name, _)| name.as_str())
        .collect();
    if names.is_empty() {
        return None;
    }
    names.sort_unstable();
    let more = names.len().saturating_sub(SEEN_NAMES);
    names.truncate(SEEN_NAMES);
    let mut text = format!("seen by {}", names.join(", "));
    if more > 0 {
        text.push_str(" and ");
        text.push_str(&more.to_string());
        text.push_str(" more");
    }
    Some(text)
}
