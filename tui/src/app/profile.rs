//! Display names and `/whois` as the client sees them. The account name
//! stays the identity (mentions, completion and blocks use it); a display
//! name only shows beside it, in the users pane and in `/whois`.

use std::fmt::Write as _;

use natter_shared::text::escape;
use natter_shared::{ErrorReply, PresenceState, Response, UserInfo};

use super::timeline::EntryKind;
use super::{App, Effect, text};

impl App {
    /// Someone (perhaps you) set or cleared their display name.
    pub(super) fn on_profile(&mut self, user: &str, display_name: Option<&str>) {
        for r in &mut self.rooms {
            if let Some(m) = r.members.iter_mut().find(|m| m.name == user) {
                m.display_name = display_name.map(str::to_owned);
            }
        }
    }

    /// The reply to `/whois`, as a notice in `room`.
    pub(super) fn on_whois_reply(
        &mut self,
        room: &str,
        result: Result<Response, ErrorReply>,
        now_ms: i64,
    ) -> Vec<Effect> {
        let kind = match result {
            Ok(Response::Whois(info)) => EntryKind::Notice(whois_text(&info)),
            Ok(other) => {
                tracing::warn!(?other, "unexpected reply to whois");
                return Vec::new();
            }
            Err(e) => EntryKind::Error(format!("whois: {}", e.message)),
        };
        self.notice(Some(room), now_ms, kind);
        Vec::new()
    }
}

/// `alice (Alice Liddell): away — "at lunch"; idle 5m 3s; rooms in common:
/// #general, #rust`. Peers' text is escaped: it is theirs to write.
#[must_use]
pub fn whois_text(info: &UserInfo) -> String {
    let mut out = info.name.clone();
    if let Some(d) = &info.display_name {
        let _ = write!(out, " ({})", escape(d));
    }
    if info.bot {
        out.push_str(" [bot]");
    }
    if info.guest {
        out.push_str(" (guest)");
    }
    let state = match info.presence {
        PresenceState::Online => "online",
        PresenceState::Away => "away",
        PresenceState::Busy => "busy",
        PresenceState::Invisible => "invisible",
        PresenceState::Offline | PresenceState::Unknown => "offline",
    };
    out.push_str(": ");
    out.push_str(state);
    if let Some(s) = &info.status {
        let _ = write!(out, " — \"{}\"", escape(s));
    }
    if let Some(idle) = info.idle_secs {
        let _ = write!(out, "; idle {}", text::duration(idle));
    }
    if info.rooms.is_empty() {
        out.push_str("; no rooms in common");
    } else {
        let _ = write!(out, "; rooms in common: {}", info.rooms.join(", "));
    }
    out
}
