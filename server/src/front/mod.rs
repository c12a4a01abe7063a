//! The wire protocols natterd speaks, one module each. A front end decodes
//! its protocol, runs its connection's state machine, maps each request to
//! an operation in [`crate::ops`] and each result back to its own reply.
//! natter's own protocol is [`natter`]; [`irc`] serves IRC clients onto
//! the same accounts, rooms and rules. [`task`] runs a connection of
//! either in one task.

pub mod irc;
pub mod natter;
pub mod task;

use std::sync::OnceLock;

use bytes::Bytes;
use natter_shared::{Event, ServerFrame};

/// The wire protocol of a connection. The hub keeps it per session and asks
/// an [`Outgoing`] for that protocol's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// natter's MessagePack frames ([`natter`]).
    Natter,
    /// IRC lines ([`irc`]), with or without message tags: the two ways
    /// the fan-out writes a message for IRC clients.
    Irc { tags: bool },
}

/// An event on its way to many connections. The hub's fan-out hands out
/// events, not bytes: each protocol's encoding is made once, when the first
/// recipient speaking that protocol needs it, and shared by every other.
#[derive(Debug)]
pub struct Outgoing {
    event: Event,
    natter: OnceLock<Option<Bytes>>,
    /// A room message as IRC lines, without and with tags.
    irc: [OnceLock<Option<Bytes>>; 2],
}

impl Outgoing {
    #[must_use]
    pub fn new(event: Event) -> Self {
        Self {
            event,
            natter: OnceLock::new(),
            irc: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The event as `protocol` writes it; `None` when it cannot be encoded
    /// (logged; it is skipped, as a frame too large to send would be).
    ///
    /// For IRC, a room's message (the fan-out's hot path) is written here
    /// once for every recipient; any other event reads differently for each
    /// connection (its nick, its capabilities), so it goes as natter's frame
    /// and the connection's writer translates it ([`irc::translate`]).
    #[must_use]
    pub fn frame(&self, protocol: Protocol) -> Option<&Bytes> {
        match protocol {
            Protocol::Irc { tags } => {
                if let Event::Message(m) = &self.event
                    && irc::translate::shared_form(m)
                {
                    return self.irc[usize::from(tags)]
                        .get_or_init(|| Some(irc::translate::room_message(m, tags)))
                        .as_ref();
                }
                self.natter_frame()
            }
            Protocol::Natter => self.natter_frame(),
        }
    }

    fn natter_frame(&self) -> Option<&Bytes> {
        self.natter
            .get_or_init(|| natter::encode(&ServerFrame::Event(self.event.clone())))
            .as_ref()
    }
}
