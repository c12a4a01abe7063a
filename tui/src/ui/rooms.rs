//! The rooms pane: every room in order, the first nine numbered for
//! Alt+1..9, the current one in the selected colours (reversed by
//! default), unread and mention counts on the right; rooms with a category
//! under a header per category, which folds (see `app::modes`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Borders;
use unicode_width::UnicodeWidthStr;

use super::{Theme, side_pane, truncate};
use crate::app::App;
use crate::app::modes::{self, PaneRow};

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
    for row in app.pane_rows() {
        let i = match row {
            PaneRow::Room(i) => i,
            PaneRow::Header {
                key,
                folded,
                unread,
                mentions,
            } => {
                lines.push(header(theme, width, &key, folded, unread, mentions));
                continue;
            }
        };
        let Some(r) = app.rooms.get(i) else { continue };
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
        let mut badge_style = badge_style(theme, r.mentions);
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

fn badge_style(theme: &Theme, mentions: u32) -> Style {
    if mentions > 0 {
        theme.fg(theme.mention).add_modifier(Modifier::BOLD)
    } else {
        theme.fg(theme.unread).add_modifier(Modifier::BOLD)
    }
}

/// A group's header: `▾ ops`, or folded `▸ ops` with its rooms' counts.
fn header(
    theme: &Theme,
    width: usize,
    key: &str,
    folded: bool,
    unread: u32,
    mentions: u32,
) -> Line<'static> {
    let mark = if folded { "▸ " } else { "▾ " };
    let badge = if folded {
        counts(unread, mentions)
    } else {
        String::new()
    };
    let name_w = width.saturating_sub(badge.width() + mark.width() + 2);
    let name = truncate(modes::title(key), name_w);
    let pad = width.saturating_sub(1 + mark.width() + name.width() + badge.width());
    Line::from(vec![
        Span::styled(format!(" {mark}{name}{}", " ".repeat(pad)), theme.dim()),
        Span::styled(badge, badge_style(theme, mentions)),
    ])
}
