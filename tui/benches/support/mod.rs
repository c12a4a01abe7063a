//! A client holding a big room, loaded through the app's network entry
//! points with history pages of [`PAGE`] messages, each decoded from its
//! wire encoding as `conn.rs` hands it over. Shared by `benches/render.rs`
//! and `examples/rss_100k.rs`.

use natter::app::{App, PAGE, Settings, Then};
use natter_shared::{
    Member, Message, MessageId, PresenceState, Response, Role, RoomKind, RoomState, ServerFrame,
    SessionInfo,
};

/// Sat 22 Nov 2025 08:26:40 UTC.
pub const T0: i64 = 1_763_800_000_000;
/// Terminal size of the measurements.
pub const SIZE: (u16, u16) = (120, 40);
/// The user the client is logged in as.
pub const ME: &str = "alice";
/// Bodies: mostly one line, some that wrap, a mention and a wide one.
const BODIES: [&str; 8] = [
    "did the deploy finish? the dashboard looks green",
    "yes, it went out at ten; the canary is still fine",
    "has anyone tried the new release? the reconnect logic is much better now, it counts down in the status line and catches up without gaps, and the scrollback keeps its place when new messages arrive below",
    "@alice can you review #142 when you have a moment?",
    "lunch?",
    "日本語のメッセージも幅が正しく折り返されます 👍",
    "the migration took 41 s on staging; production has about ten times the rows, so expect a few minutes of read-only mode",
    "ok",
];

/// Message `id` of a room of `#general`, from one of 25 speakers (you
/// among them), 20 s apart.
#[must_use]
pub fn message(id: MessageId) -> Message {
    let k = id as usize;
    let from = if k.is_multiple_of(25) {
        ME.to_owned()
    } else {
        format!("user{:02}", k % 25)
    };
    Message {
        id,
        ts: T0 + i64::try_from(id).unwrap_or(0) * 20_000,
        room: "#general".into(),
        from,
        body: BODIES[k % BODIES.len()].to_owned(),
        action: k.is_multiple_of(31),
        nonce: None,
        ..Message::default()
    }
}

/// One history page as the client receives it: encoded by the server,
/// decoded by the client.
fn page(ids: std::ops::RangeInclusive<MessageId>, more: bool) -> Response {
    let frame = ServerFrame::Ok {
        id: 1,
        res: Response::Messages {
            room: "#general".into(),
            messages: ids.map(message).collect(),
            more,
            rev: 0,
        },
    };
    let bytes = natter_shared::encode(&frame).expect("a page encodes");
    match natter_shared::decode_server(&bytes[natter_shared::codec::PREFIX_LEN..]) {
        Ok(ServerFrame::Ok { res, .. }) => res,
        other => panic!("a page decodes: {other:?}"),
    }
}

fn room(name: &str, unread: u32, last_id: MessageId) -> RoomState {
    RoomState {
        name: name.into(),
        kind: if name.starts_with('@') {
            RoomKind::Direct
        } else {
            RoomKind::Public
        },
        topic: if name == "#general" {
            "all things natter".into()
        } else {
            String::new()
        },
        role: Role::Member,
        unread,
        mentions: 0,
        last_read: 0,
        last_id,
        members: 25,
        announce: false,
        category: None,
    }
}

/// The order pages arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// The oldest page first, then catch-up pages after it (what a
    /// reconnect fetches): every message lands at the newest end.
    CatchUp,
    /// The newest page first, then older pages before it (what scrolling
    /// up fetches): every message lands at the oldest end.
    Older,
}

/// A client at [`SIZE`] in `#general` with `n` messages loaded and 25
/// members. With `unread`, the room was opened with everything unread, so
/// the "new" marker sits above the oldest loaded message.
#[must_use]
pub fn loaded_app(n: u64, unread: bool, load: Load) -> App {
    let mut app = App::new("chat.example.org:7878", ME, Settings::default());
    app.on_resize(SIZE.0, SIZE.1);
    let unread_count = if unread {
        u32::try_from(n).unwrap_or(u32::MAX)
    } else {
        0
    };
    app.on_online(&SessionInfo {
        user: ME.into(),
        admin: false,
        token: None,
        rooms: vec![
            room("#general", unread_count, n),
            room("#rust", 12, 50),
            room("#deploys", 3, 50),
            room("@bob", 1, 5),
        ],
        blocked: Vec::new(),
        invitations: Vec::new(),
    });
    let page_len = MessageId::from(PAGE);
    let history = |older: bool| Then::History {
        room: "#general".into(),
        older,
    };
    match load {
        Load::CatchUp => {
            let first = n.min(page_len);
            app.on_reply(history(true), Ok(page(1..=first, false)), T0);
            let mut low = first + 1;
            while low <= n {
                let high = (low + page_len - 1).min(n);
                let then = Then::CatchUp {
                    room: "#general".into(),
                };
                app.on_reply(then, Ok(page(low..=high, high < n)), T0);
                low = high + 1;
            }
        }
        Load::Older => {
            let mut high = n;
            while high > 0 {
                let low = high.saturating_sub(page_len - 1).max(1);
                app.on_reply(history(true), Ok(page(low..=high, low > 1)), T0);
                high = low - 1;
            }
        }
    }
    let members = (0..25)
        .map(|k| Member {
            bot: false,
            guest: false,
            name: if k == 0 {
                ME.into()
            } else {
                format!("user{k:02}")
            },
            role: if k == 1 { Role::Owner } else { Role::Member },
            presence: match k % 4 {
                0 | 1 => PresenceState::Online,
                2 => PresenceState::Away,
                _ => PresenceState::Offline,
            },
            status: (k % 5 == 2).then(|| "in a meeting".to_owned()),
            display_name: None,
        })
        .collect();
    app.on_reply(
        Then::Members {
            room: "#general".into(),
        },
        Ok(Response::Members {
            room: "#general".into(),
            members,
        }),
        T0,
    );
    let loaded = app.room().map_or(0, |r| r.entries.len());
    assert_eq!(loaded as u64, n, "every message is loaded");
    app
}
