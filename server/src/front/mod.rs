//! The wire protocols natterd speaks, one module each. A front end decodes
//! its protocol, runs its connection's state machine, maps each request to
//! an operation in [`crate::ops`] and each result back to its own reply.
//! Today that is only natter's own protocol ([`natter`]); an IRC front end
//! goes beside it.

pub mod natter;

use std::sync::OnceLock;

use bytes::Bytes;
use natter_shared::{Event, ServerFrame};

/// The wire protocol of a connection. The hub keeps it per session and asks
/// an [`Outgoing`] for that protocol's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// natter's MessagePack frames ([`natter`]).
    Natter,
}

/// An event on its way to many connections. The hub's fan-out hands out
/// events, not bytes: each protocol's encoding is made once, when the first
/// recipient speaking that protocol needs it, and shared by every other.
#[derive(Debug)]
pub struct Outgoing {
    event: Event,
    natter: OnceLock<Option<Bytes>>,
}

impl Outgoing {
    #[must_use]
    pub fn new(event: Event) -> Self {
        Self {
            event,
            natter: OnceLock::new(),
        }
    }

    /// The event as `protocol` writes it; `None` when it cannot be encoded
    /// (logged; it is skipped, as a frame too large to send would be).
    #[must_use]
    pub fn frame(&self, protocol: Protocol) -> Option<&Bytes> {
        match protocol {
            Protocol::Natter => self
                .natter
                .get_or_init(|| natter::encode(&ServerFrame::Event(self.event.clone())))
                .as_ref(),
        }
    }
}
