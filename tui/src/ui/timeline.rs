//! The messages pane: the room's name and topic on top, then as many of
//! the room's rows as fit, laid out by `app::text::Layout` (the same
//! arithmetic scrolling uses), with the "loading older" bar on top and the
//! "scrolled up" bar at the bottom when they apply. Without a room, a hint.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::Theme;
use crate::app::text::{self, Layout, Row};
use crate::app::{App, Delivery, EntryKind};

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let Some(room) = app.room() else {
        let mut hint = vec![
            Line::from(""),
            Line::styled("  No room yet: /join #general · F1 help", theme.dim()),
        ];
        if let Some(text) = &app.loose {
            hint.push(Line::from(""));
            hint.push(Line::styled(format!("  {text}"), theme.fg(theme.error)));
        }
        frame.render_widget(Paragraph::new(hint).wrap(Wrap { trim: false }), area);
        return;
    };
    // Title: the room and its topic (also the room's name when the rooms
    // pane is collapsed).
    let name = Span::styled(
        format!(" {}", room.name),
        theme.fg(theme.title).add_modifier(Modifier::BOLD),
    );
    let title = if room.topic.is_empty() {
        vec![name]
    } else {
        vec![
            name,
            Span::styled(format!(" │ {}", room.topic), theme.soft(theme.topic)),
        ]
    };
    frame.render_widget(
        Paragraph::new(Line::from(title)),
        Rect::new(area.x, area.y, area.width, 1),
    );
    let body = text::messages_area(app);
    let layout = Layout {
        width: usize::from(body.width),
        utc_offset: app.settings.utc_offset,
        me: &app.user,
        blocked: app.safety.blocked(),
    };
    let rows = layout.visible_entries(room, usize::from(body.height));
    let pad = usize::from(body.height).saturating_sub(rows.len());
    let mut lines: Vec<Line<'_>> = vec![Line::from(""); pad];
    lines.extend(rows.into_iter().map(|(i, r)| {
        let mention = match &room.entries[i].kind {
            EntryKind::Msg { from, body, .. } => *from != app.user && app.mentions_me(body),
            _ => false,
        };
        row_line(r, theme, usize::from(body.width), &app.user, mention)
    }));
    frame.render_widget(Paragraph::new(lines), body);
    if room.loading_older && body.height > 0 {
        frame.render_widget(
            Paragraph::new(Line::styled("  loading older messages…", theme.dim())),
            Rect::new(body.x, body.y, body.width, 1),
        );
    }
    if room.scroll.is_some() && body.height > 0 {
        let text = match room.new_below {
            0 => "  ↓ scrolled up — End returns to the bottom".to_owned(),
            n => format!("  ↓ {n} new below — End to read"),
        };
        let style = theme
            .fg(theme.accent)
            .add_modifier(Modifier::REVERSED | Modifier::BOLD);
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("{text:<width$}", width = usize::from(body.width)),
                style,
            )),
            Rect::new(body.x, body.y + body.height - 1, body.width, 1),
        );
    }
}

/// `label` centred in a horizontal rule `width` columns wide.
fn rule(label: &str, width: usize) -> String {
    let side = width.saturating_sub(label.width()) / 2;
    format!(
        "{}{label}{}",
        "─".repeat(side),
        "─".repeat(width.saturating_sub(side + label.width()))
    )
}

/// One row; `mention` when its message mentions you (or a highlight
/// word), drawn in the highlight style so that it stands out. `me` names
/// your own nick, which has its own colour.
fn row_line<'a>(row: Row, theme: &Theme, width: usize, me: &str, mention: bool) -> Line<'a> {
    let text_style = if mention {
        theme.highlight()
    } else {
        theme.fg(theme.text)
    };
    match row {
        Row::Day(day) => Line::styled(rule(&format!(" {day} "), width), theme.dim()),
        Row::New => Line::styled(
            rule(" new ", width),
            theme.fg(theme.error).add_modifier(Modifier::BOLD),
        ),
        Row::Head {
            time,
            nick,
            action,
            text,
            delivery,
        } => {
            let time_style = if mention {
                theme.highlight_mark()
            } else {
                theme.soft(theme.time)
            };
            let mut spans = vec![Span::styled(time, time_style), Span::raw(" ")];
            let name = nick.trim_start_matches("* ").to_owned();
            if action {
                spans.push(Span::styled("* ", text_style));
            }
            spans.push(Span::styled(
                name,
                theme.nick(nick.trim_start_matches("* "), me),
            ));
            spans.push(Span::raw(" "));
            let text_style = match delivery {
                Some(Delivery::Pending) => theme.dim(),
                _ => text_style,
            };
            spans.push(Span::styled(text, text_style));
            if delivery == Some(Delivery::Pending) {
                spans.push(Span::styled(" ⋯", theme.dim()));
            }
            Line::from(spans)
        }
        Row::Failed { indent, text } => Line::from(vec![
            Span::raw(" ".repeat(indent)),
            Span::styled(text, theme.fg(theme.error)),
        ]),
        Row::More { indent, text } => Line::from(vec![
            Span::raw(" ".repeat(indent)),
            Span::styled(text, text_style),
        ]),
        Row::Hidden { time, text } => Line::styled(
            format!("{time} ·· {text}"),
            theme.dim().add_modifier(Modifier::ITALIC),
        ),
        Row::Note { time, text, error } => {
            let time = if time.is_empty() {
                "      ".to_owned()
            } else {
                format!("{time} ")
            };
            let (mark, style) = if error {
                ("!! ", theme.fg(theme.error))
            } else {
                ("-- ", theme.dim())
            };
            Line::from(vec![
                Span::styled(time, theme.soft(theme.time)),
                Span::styled(mark, style),
                Span::styled(
                    text,
                    if error {
                        theme.fg(theme.error)
                    } else {
                        theme.fg(theme.notice)
                    },
                ),
            ])
        }
    }
}
