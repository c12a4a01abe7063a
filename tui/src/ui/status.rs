//! The two rows between the messages and the input: the typing line (who
//! is typing in this room) and the status line (the connection, the room
//! and its topic, the unread total).

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use super::{Theme, truncate};
use crate::app::files::{Purpose, Transfer};
use crate::app::{App, ConnState};

/// "bob is typing...", dim and italic, when anyone is.
pub(super) fn draw_typing(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    // Selection mode: its keys, only those the server supports.
    if let Some(hint) = app.select_hint() {
        frame.render_widget(
            Paragraph::new(Line::styled(hint, theme.fg(theme.accent))),
            area,
        );
        return;
    }
    if let Some(line) = app.typing_line() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                line,
                theme.dim().add_modifier(Modifier::ITALIC),
            )),
            area,
        );
    }
}

/// The connection part of the status line; `compact` for narrow screens.
#[must_use]
pub fn conn_text(app: &App, now: Instant, compact: bool) -> String {
    let rtt = |rtt: Option<std::time::Duration>| {
        rtt.map(|d| format!(" · {} ms", d.as_millis()))
            .unwrap_or_default()
    };
    let secs = |until: &Instant| until.saturating_duration_since(now).as_secs_f64().ceil();
    match (&app.conn, compact) {
        (ConnState::Connecting { attempt: 1 }, false) => format!("connecting to {}…", app.server),
        (ConnState::Connecting { attempt }, false) => {
            format!("connecting to {} (attempt {attempt})…", app.server)
        }
        (ConnState::Connecting { attempt }, true) => format!("connecting… ({attempt})"),
        (ConnState::Online { rtt: r }, false) => {
            format!("connected as {}@{}{}", app.user, app.node, rtt(*r))
        }
        (ConnState::Online { rtt: r }, true) => format!("{}{}", app.user, rtt(*r)),
        (
            ConnState::Waiting {
                until,
                attempt,
                reason,
            },
            false,
        ) => format!(
            "reconnecting in {:.0} s (attempt {attempt}; {reason}) — Ctrl+R now",
            secs(until)
        ),
        (ConnState::Waiting { until, attempt, .. }, true) => {
            format!("reconnecting in {:.0} s ({attempt}) ^R", secs(until))
        }
        (ConnState::Stopped(why), _) => format!("offline: {why}"),
    }
}

/// A transfer in `width` columns, as much as fits of: `↑ build.log
/// ▕████░░░░▏ 45% 12.3 MiB/s 0:04 left · Esc cancels (+1 more)`.
#[must_use]
pub fn transfer_text(t: &Transfer, more: usize, now: Instant, width: usize) -> String {
    use natter_shared::text::human_size;
    const BAR: usize = 10;
    let arrow = match t.purpose {
        Purpose::Upload { .. } => '↑',
        Purpose::Save | Purpose::Open => '↓',
    };
    let filled = usize::try_from(t.percent()).unwrap_or(0) * BAR / 100;
    let bar = format!("▕{}{}▏", "█".repeat(filled), "░".repeat(BAR - filled));
    let rate = t.rate(now);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a rate for people
    let rate = if rate > 0.0 {
        format!(" {}/s", human_size(rate as u64))
    } else {
        String::new()
    };
    let eta = t
        .eta(now)
        .map(|s| format!(" {}:{:02} left", s / 60, s % 60))
        .unwrap_or_default();
    let more = if more > 0 {
        format!(" (+{more} more)")
    } else {
        String::new()
    };
    let name = crate::app::text::display_text(&t.name).into_owned();
    let full = format!(
        "{arrow} {name} {bar} {}%{rate}{eta} · Esc cancels{more} ",
        t.percent()
    );
    if full.width() <= width {
        return full;
    }
    let pct = t.percent();
    for short in [
        format!("{arrow} {bar} {pct}%{eta} Esc "),
        format!("{arrow} {pct}%{eta} Esc "),
    ] {
        if short.width() <= width {
            return short;
        }
    }
    truncate(&format!("{arrow} {pct}% "), width)
}

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect, now: Instant) {
    let conn_style = match app.conn {
        ConnState::Online { .. } => theme.fg(theme.online),
        ConnState::Stopped(_) => theme.fg(theme.error),
        _ => theme.fg(theme.away),
    };
    let width = usize::from(area.width);
    let total = app.total_unread();
    let right = if total > 0 {
        format!(" {total} unread ")
    } else {
        String::new()
    };
    // The room's name always shows: the connection's text gives way to
    // it, then the topic gets what is left.
    // "│ " before, " " after, and a column for the "…" of a topic.
    let room_name_w = app.room().map_or(0, |r| r.name.width().min(width / 3) + 4);
    let conn_room = width.saturating_sub(room_name_w + right.width()).max(1);
    let transfer = app.files.transfers.last();
    // A transfer needs the room: the connection says less meanwhile.
    let conn = format!(
        " {} ",
        conn_text(app, now, width < 100 || transfer.is_some())
    );
    let conn = if conn.width() > conn_room {
        format!("{} ", truncate(&conn, conn_room.saturating_sub(1)))
    } else {
        conn
    };
    let mut spans = vec![Span::styled(
        conn.clone(),
        conn_style.add_modifier(Modifier::BOLD),
    )];
    // A transfer under way takes the topic's place: the room's name stays.
    if let Some(room) = app.room() {
        let topic = if room.topic.is_empty() || transfer.is_some() {
            String::new()
        } else {
            format!(": {}", room.topic)
        };
        let room_w = width.saturating_sub(conn.width() + right.width() + 3);
        let text = truncate(&format!("{}{topic}", room.name), room_w);
        spans.push(Span::raw(format!("│ {text} ")));
    }
    if let Some(t) = transfer {
        let used: usize = spans.iter().map(|s| s.content.width()).sum();
        let room_left = width.saturating_sub(used + right.width());
        let more = app.files.transfers.len() - 1;
        let text = transfer_text(t, more, now, room_left);
        spans.push(Span::styled(text, theme.fg(theme.accent)));
    }
    let used: usize = spans.iter().map(|s| s.content.width()).sum();
    if used + right.width() <= width {
        spans.push(Span::raw(" ".repeat(width - used - right.width())));
        spans.push(Span::styled(
            right,
            theme.fg(theme.mention).add_modifier(Modifier::BOLD),
        ));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(theme.bar(theme.status, theme.status_bg)),
        area,
    );
}
