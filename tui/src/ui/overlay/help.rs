//! The help overlay: where the credentials came from, the keys, the
//! commands.

use ratatui::Frame;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::centered;
use crate::app::App;
use crate::app::command::COMMANDS;
use crate::app::keys::KEYS;
use crate::ui::Theme;

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme) {
    let mut lines = vec![
        Line::styled(
            format!("Credentials: {}", app.credential_source),
            theme.dim(),
        ),
        Line::styled("Esc closes", theme.dim()),
        Line::from(""),
        Line::styled("Keys", Style::default().add_modifier(Modifier::BOLD)),
    ];
    for (k, v) in KEYS {
        lines.push(Line::from(vec![
            Span::styled(format!("  {k:<21}"), theme.fg(theme.accent)),
            Span::raw(*v),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        "Commands",
        Style::default().add_modifier(Modifier::BOLD),
    ));
    for (c, args, v) in COMMANDS {
        lines.push(Line::from(vec![
            Span::styled(format!("  {c:<11}"), theme.fg(theme.accent)),
            Span::raw(format!("{args:<19}")),
            Span::styled(*v, theme.dim()),
        ]));
    }
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let area = centered(frame, 72, height);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" natter help ")),
        area,
    );
}
