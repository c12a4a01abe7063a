//! Drawing: a pure function of the [`App`] state. Nothing here changes
//! state or does I/O, so any screen can be drawn on a `TestBackend`.
//!
//! The layout comes from `app::text::areas`, shared with scrolling. One
//! file per area of the screen:
//!
//! - `rooms.rs`: the rooms pane on the left, with unread and mention
//!   counts;
//! - `timeline.rs`: the messages pane: title, the room's rows, the
//!   "loading" and "scrolled up" bars;
//! - `users.rs`: the users pane on the right, with presence and roles;
//! - `status.rs`: the typing line and the status line (connection, room,
//!   unread total);
//! - `composer.rs`: the input line and the cursor;
//! - `overlay/`: the help, the quick switcher and the login screen, drawn
//!   over the rest.
//!
//! This file holds the [`Theme`] and the helpers the areas share.

mod composer;
mod overlay;
mod rooms;
mod status;
mod timeline;
mod users;

use std::hash::{Hash, Hasher};
use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::UnicodeWidthStr;

use crate::app::App;
use crate::app::text;

pub use crate::app::keys::KEYS;
pub use status::conn_text;

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
        rooms::draw(frame, app, theme, a.rooms);
    }
    timeline::draw(frame, app, theme, a.messages);
    if app.users_pane() {
        users::draw(frame, app, theme, a.users);
    }
    status::draw_typing(frame, app, theme, a.typing);
    status::draw(frame, app, theme, a.status, now);
    composer::draw(frame, app, a.input);
    overlay::draw(frame, app, theme);
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

/// `s` cut to `width` columns, with an ellipsis if it was cut.
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
