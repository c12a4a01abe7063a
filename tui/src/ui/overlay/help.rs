//! The help overlay: where the credentials came from, the keys, the
//! commands, scrolled to where `app::overlay::Help` says. Its lines are
//! counted by `app::overlay::help::lines`, which scrolling also uses.

use ratatui::Frame;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::centered;
use crate::app::App;
use crate::app::command::offered;
use crate::app::keys::KEYS;
use crate::app::overlay::help::{self, ARGS_COLUMNS, Help, NAME_COLUMNS};
use crate::ui::Theme;

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, state: Help) {
    let size = (frame.area().width, frame.area().height);
    let features = app.features.as_deref();
    let (width, height) = help::box_size(size, features);
    let inner = usize::from(width.saturating_sub(2));
    let mut lines = vec![
        Line::styled(
            format!("Credentials: {}", app.credential_source),
            theme.dim(),
        ),
        Line::styled("Esc closes · Up/Down, PgUp/PgDn scroll", theme.dim()),
        Line::from(""),
        Line::styled("Keys", theme.fg(theme.title).add_modifier(Modifier::BOLD)),
    ];
    for (k, v) in KEYS {
        let k = k.label(&app.keys);
        lines.push(Line::from(vec![
            Span::styled(format!("  {k:<21}"), theme.fg(theme.accent)),
            Span::raw(*v),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        "Commands",
        theme.fg(theme.title).add_modifier(Modifier::BOLD),
    ));
    for (c, args, v) in offered(features) {
        let name = Span::styled(format!("  {c:<NAME_COLUMNS$}"), theme.fg(theme.accent));
        let description = Span::styled(*v, theme.dim());
        if help::description_below(v, inner) {
            lines.push(Line::from(vec![name, Span::raw(*args)]));
            lines.push(Line::from(vec![Span::raw("      "), description]));
        } else {
            lines.push(Line::from(vec![
                name,
                Span::raw(format!("{args:<ARGS_COLUMNS$}")),
                description,
            ]));
        }
    }
    debug_assert_eq!(
        lines.len(),
        help::lines(inner, features),
        "app::overlay::help counts these"
    );
    let top = state.top.min(help::max_top(size, features));
    let more_below = top < help::max_top(size, features);
    let mut block = Block::bordered().title(" natter help ");
    if more_below {
        block = block.title_bottom(Line::from(" ↓ more ").right_aligned());
    } else if top > 0 {
        block = block.title_bottom(Line::from(" ↑ more ").right_aligned());
    }
    let area = centered(frame, width, height);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((u16::try_from(top).unwrap_or(u16::MAX), 0))
            .block(block),
        area,
    );
}
