//! The users pane: how many of the room's members are here, then each
//! member with a presence symbol, a role mark (`~` owner, `@` moderator)
//! and their display name and status text if they fit.

use natter_shared::text::escape;
use natter_shared::{PresenceState, Role};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Borders;
use unicode_width::UnicodeWidthStr;

use super::{Theme, side_pane, truncate};
use crate::app::App;
use crate::app::text::GUEST;

fn presence_symbol(p: PresenceState) -> &'static str {
    match p {
        PresenceState::Online => "●",
        PresenceState::Away => "◐",
        PresenceState::Busy => "⊘",
        PresenceState::Invisible | PresenceState::Offline | PresenceState::Unknown => "○",
    }
}

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let Some(room) = app.room() else { return };
    let width = usize::from(area.width.saturating_sub(1));
    let online = room
        .members
        .iter()
        .filter(|m| {
            !matches!(
                m.presence,
                PresenceState::Offline | PresenceState::Invisible
            )
        })
        .count();
    let mut lines = vec![Line::styled(
        format!(" {online}/{} here", room.members.len()),
        theme.dim(),
    )];
    for m in &room.members {
        let symbol_style = match m.presence {
            PresenceState::Online => theme.fg(theme.online),
            PresenceState::Away => theme.fg(theme.away),
            PresenceState::Busy => theme.fg(theme.busy),
            _ => theme.dim(),
        };
        let role = match m.role {
            Role::Owner => "~",
            Role::Moderator => "@",
            Role::Member | Role::Unknown => "",
        };
        let name = truncate(&format!("{role}{}", m.name), width.saturating_sub(3));
        let mut spans = vec![
            Span::styled(format!(" {} ", presence_symbol(m.presence)), symbol_style),
            Span::styled(
                name.clone(),
                if m.presence == PresenceState::Offline {
                    theme.dim()
                } else {
                    theme.fg(theme.text)
                },
            ),
        ];
        let mut used = 3 + name.width();
        // Bots are marked wherever they are shown.
        if m.bot && width > used + 6 {
            spans.push(Span::styled(" [bot]", theme.dim()));
            used += 6;
        }
        // An IRC guest: no account behind the name, and gone when it leaves.
        if m.guest && width > used + GUEST.width() {
            spans.push(Span::styled(GUEST, theme.dim()));
            used += GUEST.width();
        }
        // `alice · Alice Liddell`: the account name first, since it is
        // what mentions and commands take.
        if let Some(display) = &m.display_name {
            let room_left = width.saturating_sub(used + 3);
            if room_left > 2 {
                let display = truncate(&escape(display), room_left);
                used += 3 + display.width();
                spans.push(Span::styled(" · ", theme.dim()));
                spans.push(Span::raw(display));
            }
        }
        if let Some(status) = &m.status {
            let room_left = width.saturating_sub(used + 1);
            if room_left > 2 {
                spans.push(Span::styled(
                    format!(" {}", truncate(status, room_left)),
                    theme.dim(),
                ));
            }
        }
        lines.push(Line::from(spans));
    }
    side_pane(frame, theme, lines, Borders::LEFT, area);
}
