//! The thread overlay: the root and its replies laid out as the messages
//! pane lays out a room (the same rows), newest at the bottom, and the
//! thread's own input line under them.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use crate::app::App;
use crate::app::overlay::ThreadView;
use crate::app::text::{self, Layout};
use crate::ui::Theme;
use crate::ui::timeline::{dim_edited, row_line};

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, view: &ThreadView) {
    let screen = frame.area();
    let width = screen.width.saturating_sub(8).clamp(20, 100);
    let height = screen.height.saturating_sub(4).max(6);
    let area = super::centered(frame, width, height);
    frame.render_widget(Clear, area);
    let title = format!(
        " thread in {} · Esc closes ",
        text::display_text(&view.room)
    );
    let block = Block::bordered().title(Span::styled(
        title,
        theme.fg(theme.title).add_modifier(Modifier::BOLD),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 3 {
        return;
    }
    let room = view.as_room();
    let layout = Layout {
        width: usize::from(inner.width),
        utc_offset: app.settings.utc_offset,
        me: &app.user,
        blocked: app.safety.blocked(),
        thumbs: app.previews(),
    };
    let body_h = usize::from(inner.height - 2);
    let mut lines: Vec<Line<'_>> = Vec::new();
    for i in 0..room.entries.len() {
        let edited = room.entries[i].rich.edited && !room.entries[i].rich.deleted;
        for row in layout.rows(&room, i, None) {
            let line = row_line(row, theme, usize::from(inner.width), &app.user, false);
            lines.push(if edited {
                dim_edited(line, theme)
            } else {
                line
            });
        }
    }
    if !view.loaded {
        lines.push(Line::styled("  loading the thread…", theme.dim()));
    } else if room.entries.len() <= 1 {
        lines.push(Line::styled(
            "  no replies yet: write one below",
            theme.dim(),
        ));
    }
    let skip = lines.len().saturating_sub(body_h);
    let shown: Vec<Line<'_>> = lines.into_iter().skip(skip).collect();
    frame.render_widget(
        Paragraph::new(shown),
        Rect::new(inner.x, inner.y, inner.width, inner.height - 2),
    );
    let status = match &view.error {
        Some(e) => Line::styled(
            format!("  {}", text::display_text(e)),
            theme.fg(theme.error),
        ),
        None => Line::styled("  Enter replies in the thread", theme.dim()),
    };
    frame.render_widget(
        Paragraph::new(status),
        Rect::new(inner.x, inner.y + inner.height - 2, inner.width, 1),
    );
    let input = text::input_text(&view.input);
    let room_for = usize::from(inner.width.saturating_sub(2)).max(1);
    let skip_cols = input.width().saturating_sub(room_for.saturating_sub(1));
    let visible: String = {
        let mut used = 0;
        input
            .chars()
            .skip_while(|c| {
                let w = unicode_width::UnicodeWidthChar::width(*c).unwrap_or(0);
                if used + w <= skip_cols && skip_cols > 0 {
                    used += w;
                    true
                } else {
                    false
                }
            })
            .collect()
    };
    let y = inner.y + inner.height - 1;
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("> ", theme.fg(theme.prompt).add_modifier(Modifier::BOLD)),
            Span::styled(visible.clone(), theme.fg(theme.input)),
        ])),
        Rect::new(inner.x, y, inner.width, 1),
    );
    let x = inner.x + 2 + u16::try_from(visible.width()).unwrap_or(0);
    frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), y));
}
