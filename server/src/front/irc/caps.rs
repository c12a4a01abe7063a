//! IRCv3 capabilities: which natterd offers (`CAP LS`), and the set a
//! connection has enabled, as bits both its reader and its writer see.

use std::sync::atomic::{AtomicU32, Ordering};

/// A capability natterd offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub name: &'static str,
    pub bit: u32,
}

pub const MESSAGE_TAGS: u32 = 1 << 0;
pub const SERVER_TIME: u32 = 1 << 1;
pub const ECHO_MESSAGE: u32 = 1 << 2;
pub const BATCH: u32 = 1 << 3;
pub const LABELED_RESPONSE: u32 = 1 << 4;
pub const ACCOUNT_TAG: u32 = 1 << 5;
pub const AWAY_NOTIFY: u32 = 1 << 6;
pub const STANDARD_REPLIES: u32 = 1 << 7;
pub const CHATHISTORY: u32 = 1 << 8;
pub const READ_MARKER: u32 = 1 << 9;
pub const SASL: u32 = 1 << 10;
pub const REDACTION: u32 = 1 << 12;
pub const SEARCH: u32 = 1 << 13;
pub const INVITE_NOTIFY: u32 = 1 << 14;
pub const USERHOST_IN_NAMES: u32 = 1 << 15;

/// Every capability offered, in the order `CAP LS` lists them.
pub const ALL: &[Cap] = &[
    Cap {
        name: "message-tags",
        bit: MESSAGE_TAGS,
    },
    Cap {
        name: "server-time",
        bit: SERVER_TIME,
    },
    Cap {
        name: "echo-message",
        bit: ECHO_MESSAGE,
    },
    Cap {
        name: "batch",
        bit: BATCH,
    },
    Cap {
        name: "labeled-response",
        bit: LABELED_RESPONSE,
    },
    Cap {
        name: "account-tag",
        bit: ACCOUNT_TAG,
    },
    Cap {
        name: "away-notify",
        bit: AWAY_NOTIFY,
    },
    Cap {
        name: "standard-replies",
        bit: STANDARD_REPLIES,
    },
    Cap {
        name: "draft/chathistory",
        bit: CHATHISTORY,
    },
    Cap {
        name: "draft/read-marker",
        bit: READ_MARKER,
    },
    Cap {
        name: "sasl",
        bit: SASL,
    },
    Cap {
        name: "draft/message-redaction",
        bit: REDACTION,
    },
    Cap {
        name: "soju.im/search",
        bit: SEARCH,
    },
    Cap {
        name: "invite-notify",
        bit: INVITE_NOTIFY,
    },
    Cap {
        name: "userhost-in-names",
        bit: USERHOST_IN_NAMES,
    },
];

/// The value `CAP LS 302` gives a capability, if any.
fn value(cap: &Cap) -> Option<&'static str> {
    match cap.bit {
        SASL => Some("PLAIN"),
        _ => None,
    }
}

/// The `CAP LS` words: `name` or, for version 302, `name=value`.
#[must_use]
pub fn ls(v302: bool) -> Vec<String> {
    ALL.iter()
        .map(|c| match value(c) {
            Some(v) if v302 => format!("{}={v}", c.name),
            _ => c.name.to_owned(),
        })
        .collect()
}

/// The bit of a capability by name.
#[must_use]
pub fn bit(name: &str) -> Option<u32> {
    ALL.iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .map(|c| c.bit)
}

/// The names of the capabilities in `bits`.
#[must_use]
pub fn names(bits: u32) -> Vec<&'static str> {
    ALL.iter()
        .filter(|c| bits & c.bit != 0)
        .map(|c| c.name)
        .collect()
}

/// A connection's enabled capabilities, read by its writer as events are
/// written and changed by its reader on `CAP REQ`.
#[derive(Debug, Default)]
pub struct Enabled(AtomicU32);

impl Enabled {
    #[must_use]
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }

    #[must_use]
    pub fn has(&self, bit: u32) -> bool {
        self.get() & bit != 0
    }

    pub fn set(&self, bits: u32) {
        self.0.store(bits, Ordering::Release);
    }
}

/// Whether a connection with `bits` reads tagged lines: the tags the
/// fan-out writes (`time`, `msgid`, `account`) are written for a client
/// that enabled any capability that adds one of them, so the fan-out needs
/// only two encodings of a message.
#[must_use]
pub fn wants_tags(bits: u32) -> bool {
    bits & (MESSAGE_TAGS | SERVER_TIME | ACCOUNT_TAG) != 0
}

/// Parses `CAP REQ` words: the bits to add and to remove, or `None` when
/// any is unknown (the whole request is refused, as the spec says).
#[must_use]
pub fn request(words: &str) -> Option<(u32, u32)> {
    let mut add = 0;
    let mut remove = 0;
    for word in words.split_ascii_whitespace() {
        match word.strip_prefix('-') {
            Some(name) => remove |= bit(name)?,
            None => add |= bit(word)?,
        }
    }
    Some((add, remove))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_all_or_nothing() {
        assert_eq!(
            request("message-tags -echo-message"),
            Some((MESSAGE_TAGS, ECHO_MESSAGE))
        );
        assert_eq!(request("message-tags bogus"), None);
        assert_eq!(request(""), Some((0, 0)));
    }

    #[test]
    fn ls_gives_values_to_302_only() {
        assert!(ls(true).contains(&"sasl=PLAIN".to_owned()));
        assert!(ls(false).contains(&"sasl".to_owned()));
        assert_eq!(names(SASL | BATCH), vec!["batch", "sasl"]);
    }
}
