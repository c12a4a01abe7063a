//! The input line: `> ` and what is being written, growing with its lines
//! up to a few rows, scrolled sideways so the cursor stays in view. The
//! terminal cursor is placed here unless an overlay has it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use super::Theme;
use crate::app::{App, Overlay};

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    if area.height == 0 {
        return;
    }
    // A reply or an edit: its line first, the input below it.
    let area = match &app.compose {
        Some(compose) if area.height > 1 => {
            let label = crate::app::text::display_text(&compose.label()).into_owned();
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled("  ", theme.dim()),
                    Span::styled(label, theme.fg(theme.accent)),
                ])),
                Rect::new(area.x, area.y, area.width, 1),
            );
            Rect::new(area.x, area.y + 1, area.width, area.height - 1)
        }
        _ => area,
    };
    // Measured and drawn alike: what the terminals disagree on is shown
    // as plain letters (see `text::input_text`).
    let value = &*crate::app::text::input_text(app.composer.value());
    let width = usize::from(area.width.saturating_sub(2)).max(1);
    let lines: Vec<&str> = value.split('\n').collect();
    let shown = usize::from(area.height);
    let first = lines.len().saturating_sub(shown);
    // Horizontal scroll of the last line so the cursor stays visible.
    let cursor_chars = app.composer.cursor();
    // `input_text` keeps one character per character: the cursor holds.
    let before: String = value.chars().take(cursor_chars).collect();
    let cursor_line = before.matches('\n').count();
    let cursor_col = before.rsplit('\n').next().unwrap_or("").width();
    let scroll = cursor_col.saturating_sub(width.saturating_sub(1));
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate().skip(first) {
        let prompt = if i == 0 { "> " } else { "  " };
        let text: String = if i == cursor_line {
            skip_width(l, scroll)
        } else {
            (*l).to_owned()
        };
        // An announcement room says so where you would write, before the
        // server has to refuse a message.
        let text = if value.is_empty() && app.read_only_here() {
            Span::styled(
                "only moderators post in this announcement room",
                theme.dim(),
            )
        } else {
            Span::styled(text, theme.fg(theme.input))
        };
        out.push(Line::from(vec![
            Span::styled(prompt, theme.fg(theme.prompt).add_modifier(Modifier::BOLD)),
            text,
        ]));
    }
    frame.render_widget(Paragraph::new(out), area);
    if matches!(app.overlay, Overlay::None) && cursor_line >= first {
        let x = area.x + 2 + u16::try_from(cursor_col - scroll).unwrap_or(0);
        let y = area.y + u16::try_from(cursor_line - first).unwrap_or(0);
        frame.set_cursor_position((x.min(area.right().saturating_sub(1)), y));
    }
}

fn skip_width(s: &str, cols: usize) -> String {
    let mut used = 0;
    s.chars()
        .skip_while(|c| {
            let w = unicode_width::UnicodeWidthChar::width(*c).unwrap_or(0);
            if used + w <= cols && cols > 0 {
                used += w;
                true
            } else {
                false
            }
        })
        .collect()
}
