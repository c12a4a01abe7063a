//! Drawing: a pure function of the [`App`] state. Nothing here changes
//! state or does I/O, so any screen can be drawn on a `TestBackend`.
//!
//! The layout comes from `app::text::areas`, shared with scrolling.

use std::hash::{Hash, Hasher};
use std::time::Instant;

use natter_shared::{PresenceState, Role, RoomKind};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use crate::app::command::COMMANDS;
use crate::app::text::{self, Layout, Row};
use crate::app::{App, ConnState, Delivery, Overlay};

/// Colours, or none at all (`NO_COLOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    pub accent: Color,
    pub unread: Color,
    pub mention: Color,
    pub error: Color,
    pub dim: Color,
}

impl Default for Theme {
    /// Reads well on 16-colour terminals, dark or light.
    fn default() -> Self {
        Self {
            color: true,
            accent: Color::Cyan,
            unread: Color::White,
            mention: Color::Yellow,
            error: Color::Red,
            dim: Color::DarkGray,
        }
    }
}

impl Theme {
    /// No colours at all; emphasis by bold, reverse and underline only.
    #[must_use]
    pub fn plain() -> Self {
        Self {
            color: false,
            ..Self::default()
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(self.dim)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    /// A stable colour per nick, from the 12 non-grey ANSI colours.
    fn nick(&self, nick: &str) -> Style {
        const PALETTE: [Color; 12] = [
            Color::Red,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::Magenta,
            Color::Cyan,
            Color::LightRed,
            Color::LightGreen,
            Color::LightYellow,
            Color::LightBlue,
            Color::LightMagenta,
            Color::LightCyan,
        ];
        // FNV-1a: stable across runs and builds, unlike the std hasher.
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        nick.hash(&mut h);
        let style = self.fg(PALETTE[(h.finish() % 12) as usize]);
        style.add_modifier(Modifier::BOLD)
    }
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, now: Instant) {
    let a = text::areas(app);
    if app.rooms_pane() {
        draw_rooms(frame, app, theme, a.rooms);
    }
    draw_messages(frame, app, theme, a.messages);
    if app.users_pane() {
        draw_users(frame, app, theme, a.users);
    }
    if let Some(line) = app.typing_line() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                line,
                theme.dim().add_modifier(Modifier::ITALIC),
            )),
            a.typing,
        );
    }
    draw_status(frame, app, theme, a.status, now);
    draw_input(frame, app, a.input);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => draw_help(frame, app, theme),
        Overlay::Switcher(s) => draw_switcher(frame, app, theme, &s.filter, s.selected),
        Overlay::Login(form) => draw_login(frame, theme, form),
    }
}

fn counts(unread: u32, mentions: u32) -> String {
    match (unread, mentions) {
        (0, _) => String::new(),
        (u, 0) => u.to_string(),
        (u, m) => format!("{u} @{m}"),
    }
}

fn draw_rooms(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let width = usize::from(area.width.saturating_sub(1));
    let mut lines = vec![Line::styled(" rooms", theme.dim())];
    for (i, r) in app.rooms.iter().enumerate() {
        let badge = counts(r.unread, r.mentions);
        let name_w = width.saturating_sub(badge.width() + 2);
        let name = truncate(&r.name, name_w);
        let pad = width.saturating_sub(1 + name.width() + badge.width());
        let mut style = Style::default();
        if r.unread > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        let mut badge_style = if r.mentions > 0 {
            theme.fg(theme.mention).add_modifier(Modifier::BOLD)
        } else {
            theme.fg(theme.unread).add_modifier(Modifier::BOLD)
        };
        if i == app.rooms.current_index() {
            style = style.add_modifier(Modifier::REVERSED);
            badge_style = badge_style.add_modifier(Modifier::REVERSED);
        }
        lines.push(Line::from(vec![
            Span::styled(format!(" {name}{}", " ".repeat(pad)), style),
            Span::styled(badge, badge_style),
        ]));
    }
    side_pane(frame, theme, lines, Borders::RIGHT, area);
}

/// A side pane: its lines, with a dim border towards the messages.
fn side_pane(
    frame: &mut Frame<'_>,
    theme: &Theme,
    lines: Vec<Line<'_>>,
    border: Borders,
    area: Rect,
) {
    let block = Block::default().borders(border).border_style(theme.dim());
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    for c in s.chars() {
        if out.width() + 2 > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

fn draw_messages(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
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
    let title = if room.topic.is_empty() {
        vec![Span::styled(
            format!(" {}", room.name),
            Style::default().add_modifier(Modifier::BOLD),
        )]
    } else {
        vec![
            Span::styled(
                format!(" {}", room.name),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!(" │ {}", room.topic), theme.dim()),
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
    };
    let rows = layout.visible(room, usize::from(body.height));
    let pad = usize::from(body.height).saturating_sub(rows.len());
    let mut lines: Vec<Line<'_>> = vec![Line::from(""); pad];
    lines.extend(
        rows.into_iter()
            .map(|r| row_line(r, theme, usize::from(body.width))),
    );
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

fn row_line<'a>(row: Row, theme: &Theme, width: usize) -> Line<'a> {
    match row {
        Row::Day(day) => {
            let label = format!(" {day} ");
            let side = width.saturating_sub(label.width()) / 2;
            Line::styled(
                format!(
                    "{}{label}{}",
                    "─".repeat(side),
                    "─".repeat(width.saturating_sub(side + label.width()))
                ),
                theme.dim(),
            )
        }
        Row::New => {
            let label = " new ";
            let side = width.saturating_sub(label.len()) / 2;
            Line::styled(
                format!(
                    "{}{label}{}",
                    "─".repeat(side),
                    "─".repeat(width.saturating_sub(side + label.len()))
                ),
                theme.fg(theme.error).add_modifier(Modifier::BOLD),
            )
        }
        Row::Head {
            time,
            nick,
            action,
            text,
            delivery,
        } => {
            let mut spans = vec![Span::styled(format!("{time} "), theme.dim())];
            let name = nick.trim_start_matches("* ").to_owned();
            if action {
                spans.push(Span::raw("* "));
            }
            spans.push(Span::styled(
                name,
                theme.nick(nick.trim_start_matches("* ")),
            ));
            spans.push(Span::raw(" "));
            let text_style = match delivery {
                Some(Delivery::Pending) => theme.dim(),
                _ => Style::default(),
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
        Row::More { indent, text } => Line::raw(format!("{}{text}", " ".repeat(indent))),
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
                Span::styled(time, theme.dim()),
                Span::styled(mark, style),
                Span::styled(
                    text,
                    if error {
                        theme.fg(theme.error)
                    } else {
                        Style::default()
                    },
                ),
            ])
        }
    }
}

fn presence_symbol(p: PresenceState) -> &'static str {
    match p {
        PresenceState::Online => "●",
        PresenceState::Away => "◐",
        PresenceState::Busy => "⊘",
        PresenceState::Invisible | PresenceState::Offline | PresenceState::Unknown => "○",
    }
}

fn draw_users(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let Some(room) = app.room() else { return };
    let width = usize::from(area.width.saturating_sub(1));
    let online = room
        .members
        .iter()
        .filter(|m| {
            !matches!(
                m.presence,
                PresenceState::Offline | PresenceState::Invisible
            )
        })
        .count();
    let mut lines = vec![Line::styled(
        format!(" {online}/{} here", room.members.len()),
        theme.dim(),
    )];
    for m in &room.members {
        let symbol_style = match m.presence {
            PresenceState::Online => theme.fg(Color::Green),
            PresenceState::Away => theme.fg(Color::Yellow),
            PresenceState::Busy => theme.fg(Color::Red),
            _ => theme.dim(),
        };
        let role = match m.role {
            Role::Owner => "~",
            Role::Moderator => "@",
            Role::Member | Role::Unknown => "",
        };
        let name = truncate(&format!("{role}{}", m.name), width.saturating_sub(3));
        let mut spans = vec![
            Span::styled(format!(" {} ", presence_symbol(m.presence)), symbol_style),
            Span::styled(
                name.clone(),
                if m.presence == PresenceState::Offline {
                    theme.dim()
                } else {
                    Style::default()
                },
            ),
        ];
        if let Some(status) = &m.status {
            let room_left = width.saturating_sub(3 + name.width() + 1);
            if room_left > 2 {
                spans.push(Span::styled(
                    format!(" {}", truncate(status, room_left)),
                    theme.dim(),
                ));
            }
        }
        lines.push(Line::from(spans));
    }
    side_pane(frame, theme, lines, Borders::LEFT, area);
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
            format!("connected as {}@{}{}", app.user, app.server, rtt(*r))
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

fn draw_status(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect, now: Instant) {
    let conn_style = match app.conn {
        ConnState::Online { .. } => theme.fg(Color::Green),
        ConnState::Stopped(_) => theme.fg(theme.error),
        _ => theme.fg(theme.mention),
    };
    let width = usize::from(area.width);
    let total = app.total_unread();
    let right = if total > 0 {
        format!(" {total} unread ")
    } else {
        String::new()
    };
    let conn = format!(" {} ", conn_text(app, now, width < 100));
    let mut spans = vec![Span::styled(
        conn.clone(),
        conn_style.add_modifier(Modifier::BOLD),
    )];
    if let Some(room) = app.room() {
        let topic = if room.topic.is_empty() {
            String::new()
        } else {
            format!(": {}", room.topic)
        };
        // The room and topic get what the connection and the count leave.
        let room_w = width.saturating_sub(conn.width() + right.width() + 3);
        let text = truncate(&format!("{}{topic}", room.name), room_w);
        spans.push(Span::raw(format!("│ {text} ")));
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
        Paragraph::new(Line::from(spans)).style(Style::default().add_modifier(Modifier::REVERSED)),
        area,
    );
}

fn draw_input(frame: &mut Frame<'_>, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let value = app.composer.value();
    let width = usize::from(area.width.saturating_sub(2)).max(1);
    let lines: Vec<&str> = value.split('\n').collect();
    let shown = usize::from(area.height);
    let first = lines.len().saturating_sub(shown);
    // Horizontal scroll of the last line so the cursor stays visible.
    let cursor_chars = app.composer.cursor();
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
        out.push(Line::from(vec![
            Span::styled(prompt, Style::default().add_modifier(Modifier::BOLD)),
            Span::raw(text),
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

fn centered(frame: &Frame<'_>, width: u16, height: u16) -> Rect {
    let area = frame.area();
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub use crate::app::keys::KEYS;

fn draw_help(frame: &mut Frame<'_>, app: &App, theme: &Theme) {
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

fn draw_switcher(frame: &mut Frame<'_>, app: &App, theme: &Theme, filter: &str, selected: usize) {
    let items = app.switcher_items(filter);
    let selected = selected.min(items.len().saturating_sub(1));
    let mut lines = vec![Line::from(vec![
        Span::styled("> ", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(filter),
    ])];
    for (i, item) in items.iter().take(crate::app::SWITCHER_ROWS).enumerate() {
        let style = if i == selected {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        let kind = app
            .rooms
            .iter()
            .find(|r| r.name == *item)
            .map_or("message", |r| {
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

fn draw_login(frame: &mut Frame<'_>, theme: &Theme, form: &crate::app::LoginForm) {
    let field = |label: &str, value: String, active: bool| {
        let style = if active {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
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
