//! The reaction prompt: the shortcode typed, what Tab would complete it
//! to, and your last used reactions numbered 1-9.

use ratatui::Frame;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use crate::app::overlay::ReactPrompt;
use crate::app::{App, emoji, text};
use crate::ui::Theme;

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, prompt: &ReactPrompt) {
    let input = text::input_text(&prompt.input).into_owned();
    let mut lines = vec![Line::from(vec![
        Span::styled("> ", theme.fg(theme.prompt).add_modifier(Modifier::BOLD)),
        Span::styled(input.clone(), theme.fg(theme.input)),
    ])];
    let matches: Vec<String> = emoji::complete(&prompt.input)
        .into_iter()
        .take(4)
        .map(|code| format!("{} {code}", emoji::emoji(code).unwrap_or_default()))
        .collect();
    lines.push(Line::styled(
        if prompt.input.is_empty() {
            "type :shortcode:, Tab completes".to_owned()
        } else {
            matches.join("  ")
        },
        theme.dim(),
    ));
    let recent: Vec<String> = app
        .recent_reactions
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{} {}", i + 1, text::display_text(k)))
        .collect();
    if !recent.is_empty() {
        lines.push(Line::styled(recent.join("  "), theme.fg(theme.accent)));
    }
    let area = super::centered(frame, 48, 5);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" react · Enter · Esc ")),
        area,
    );
    frame.set_cursor_position((
        area.x + 3 + u16::try_from(input.width()).unwrap_or(0),
        area.y + 1,
    ));
}
