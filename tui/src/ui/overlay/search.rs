//! The search overlay: the query on top, then one line per result,
//! newest first: room, author, time and the snippet with its hits
//! highlighted; the chosen one reversed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use crate::app::App;
use crate::app::overlay::SearchView;
use crate::app::text;
use crate::ui::Theme;

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, view: &SearchView) {
    let screen = frame.area();
    let width = screen.width.saturating_sub(8).clamp(20, 100);
    let height = screen.height.saturating_sub(4).max(6);
    let area = super::centered(frame, width, height);
    frame.render_widget(Clear, area);
    let block = Block::bordered().title(Span::styled(
        " search · Enter runs / opens · PgDn more · Esc closes ",
        theme.fg(theme.title).add_modifier(Modifier::BOLD),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 2 {
        return;
    }
    let query = text::input_text(&view.query);
    let mut lines = vec![Line::from(vec![
        Span::styled("> ", theme.fg(theme.prompt).add_modifier(Modifier::BOLD)),
        Span::styled(query.clone().into_owned(), theme.fg(theme.input)),
    ])];
    let rows = usize::from(inner.height - 2);
    let first = view.selected.saturating_sub(rows.saturating_sub(1));
    for (i, hit) in view.hits.iter().enumerate().skip(first).take(rows) {
        let m = &hit.message;
        let chosen = i == view.selected;
        let base = if chosen {
            theme.bar(theme.selected, theme.selected_bg)
        } else {
            theme.fg(theme.text)
        };
        let mut spans = vec![
            Span::styled(
                format!(" {} ", text::clock(m.ts, app.settings.utc_offset)),
                if chosen { base } else { theme.soft(theme.time) },
            ),
            Span::styled(
                format!("{} ", text::display_text(&m.room)),
                if chosen { base } else { theme.dim() },
            ),
            Span::styled(
                format!("{}: ", text::display_text(&m.from)),
                if chosen {
                    base
                } else {
                    theme.nick(&m.from, &app.user)
                },
            ),
        ];
        for part in &hit.snippet {
            let shown = text::display_text(&part.text).replace('\n', " ");
            let style = if part.hit {
                base.patch(theme.highlight())
            } else {
                base
            };
            spans.push(Span::styled(shown, style));
        }
        lines.push(Line::from(spans));
    }
    let foot = if let Some(e) = &view.error {
        Line::styled(
            format!("  {}", text::display_text(e)),
            theme.fg(theme.error),
        )
    } else if view.loading {
        Line::styled("  searching…", theme.dim())
    } else if view.ran.is_some() && view.hits.is_empty() {
        Line::styled("  no results", theme.dim())
    } else if view.more {
        Line::styled("  more: PgDn on the last result", theme.dim())
    } else if view.ran.is_some() {
        Line::styled(
            format!(
                "  {}",
                text::count(view.hits.len() as u64, "result", "results")
            ),
            theme.dim(),
        )
    } else {
        Line::styled("  type a query, Enter searches your rooms", theme.dim())
    };
    frame.render_widget(
        Paragraph::new(lines),
        Rect::new(inner.x, inner.y, inner.width, inner.height - 1),
    );
    frame.render_widget(
        Paragraph::new(foot),
        Rect::new(inner.x, inner.y + inner.height - 1, inner.width, 1),
    );
    let x = inner.x + 2 + u16::try_from(query.width()).unwrap_or(0);
    frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), inner.y));
}
