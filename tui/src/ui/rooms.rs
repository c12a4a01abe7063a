//! The rooms pane: every room in order, the first nine numbered for
//! Alt+1..9, the current one in the selected colours (reversed by
//! default), unread and mention counts on the right.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Borders;
use unicode_width::UnicodeWidthStr;

use super::{Theme, side_pane, truncate};
use crate::app::App;

/// `12` unread, `12 @2` with mentions, nothing when all is read.
fn counts(unread: u32, mentions: u32) -> String {
    match (unread, mentions) {
        (0, _) => String::new(),
        (u, 0) => u.to_string(),
        (u, m) => format!("{u} @{m}"),
    }
}

/// The number Alt+number picks the room at `index` with, if it has one.
fn number(index: usize) -> String {
    if index < 9 {
        format!("{} ", index + 1)
    } else {
        "  ".to_owned()
    }
}

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let width = usize::from(area.width.saturating_sub(1));
    let mut lines = vec![Line::styled(" rooms", theme.dim())];
    for (i, r) in app.rooms.iter().enumerate() {
        let number = number(i);
        let badge = counts(r.unread, r.mentions);
        let name_w = width.saturating_sub(badge.width() + number.width() + 2);
        let name = truncate(&r.name, name_w);
        let pad = width.saturating_sub(1 + number.width() + name.width() + badge.width());
        let selected = i == app.rooms.current_index();
        let (number_style, mut style) = if selected {
            let bar = theme.bar(theme.selected, theme.selected_bg);
            (bar, bar)
        } else {
            (theme.dim(), theme.fg(theme.text))
        };
        if r.unread > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        let mut badge_style = if r.mentions > 0 {
            theme.fg(theme.mention).add_modifier(Modifier::BOLD)
        } else {
            theme.fg(theme.unread).add_modifier(Modifier::BOLD)
        };
        if selected {
            badge_style = theme.on_bar(badge_style, theme.selected_bg);
        }
        lines.push(Line::from(vec![
            Span::styled(" ", style),
            Span::styled(number, number_style),
            Span::styled(format!("{name}{}", " ".repeat(pad)), style),
            Span::styled(badge, badge_style),
        ]));
    }
    side_pane(frame, theme, lines, Borders::RIGHT, area);
}
