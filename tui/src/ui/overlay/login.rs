//! The login screen: server, user and a masked password, the active field
//! reversed, and why the last attempt failed.

use ratatui::Frame;

use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::centered;
use crate::app::LoginForm;
use crate::ui::Theme;

pub(super) fn draw(frame: &mut Frame<'_>, theme: &Theme, form: &LoginForm) {
    let field = |label: &str, value: String, active: bool| {
        let style = if active {
            theme.bar(theme.selected, theme.selected_bg)
        } else {
            theme.fg(theme.input)
        };
        Line::from(vec![
            Span::raw(format!("  {label:<10}")),
            Span::styled(format!("{value:<30}"), style),
        ])
    };
    let mut lines = vec![
        Line::from(""),
        field("server", form.server.clone(), form.field == 0),
        field("user", form.user.clone(), form.field == 1),
        field(
            "password",
            "•".repeat(form.password.chars().count()),
            form.field == 2,
        ),
        Line::from(""),
        Line::styled("  Enter logs in · Tab next field · Esc quits", theme.dim()),
    ];
    if let Some(e) = &form.error {
        lines.push(Line::styled(format!("  {e}"), theme.fg(theme.error)));
    }
    let area = centered(frame, 48, 10);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" log in to natter ")),
        area,
    );
    let (row, value) = match form.field {
        0 => (1, form.server.width()),
        1 => (2, form.user.width()),
        _ => (3, form.password.chars().count()),
    };
    frame.set_cursor_position((
        area.x + 13 + u16::try_from(value).unwrap_or(0),
        area.y + 1 + row,
    ));
}
