//! The quick switcher: the filter typed, then the best matches, the
//! selected one reversed, each marked room, conversation or message.

use natter_shared::RoomKind;
use ratatui::Frame;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::centered;
use crate::app::{App, SWITCHER_ROWS, Switcher};
use crate::ui::Theme;

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, switcher: &Switcher) {
    let filter = switcher.filter.as_str();
    let items = app.switcher_items(filter);
    let selected = switcher.selected.min(items.len().saturating_sub(1));
    let mut lines = vec![Line::from(vec![
        Span::styled("> ", theme.fg(theme.prompt).add_modifier(Modifier::BOLD)),
        Span::styled(filter, theme.fg(theme.input)),
    ])];
    for (i, item) in items.iter().take(SWITCHER_ROWS).enumerate() {
        let style = if i == selected {
            theme.bar(theme.selected, theme.selected_bg)
        } else {
            theme.fg(theme.text)
        };
        let kind = app.rooms.by_name(item).map_or("message", |r| {
            if r.kind == RoomKind::Direct {
                "conversation"
            } else {
                "room"
            }
        });
        lines.push(Line::from(vec![
            Span::styled(format!(" {item:<24}"), style),
            Span::styled(format!(" {kind}"), theme.dim()),
        ]));
    }
    if items.is_empty() {
        lines.push(Line::styled(" no match", theme.dim()));
    }
    let area = centered(frame, 44, 15);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" switch to ")),
        area,
    );
    frame.set_cursor_position((
        area.x + 3 + u16::try_from(filter.width()).unwrap_or(0),
        area.y + 1,
    ));
}
