//! Drawing: a pure function of the [`App`] state. Nothing here changes
//! state or does I/O, so any screen can be drawn on a `TestBackend`.
//!
//! The layout comes from `app::text::areas`, shared with scrolling. One
//! file per area of the screen:
//!
//! - `rooms.rs`: the rooms pane on the left, numbered for Alt+1..9, with
//!   unread and mention counts;
//! - `timeline.rs`: the messages pane: title, the room's rows (those
//!   that mention you highlighted), the "loading" and "scrolled up" bars;
//! - `users.rs`: the users pane on the right, with presence and roles;
//! - `status.rs`: the typing line and the status line (connection, room,
//!   unread total);
//! - `composer.rs`: the input line and the cursor;
//! - `overlay/`: the help, the quick switcher and the login screen, drawn
//!   over the rest.
//!
//! This file holds the [`Theme`] (every colour drawn, from the config's
//! `theme` and `[colors]`) and the helpers the areas share.

mod composer;
mod overlay;
mod rooms;
mod status;
pub(crate) mod timeline;
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

/// The colour of every element drawn, or no colour at all (`NO_COLOR`).
///
/// [`Theme::dark`] (the default) and [`Theme::light`] are the presets the
/// config's `theme` picks; `[colors]` then overrides single elements.
/// [`Color::Reset`] is the terminal's own colour; for the two bars that
/// have a background (the status line and the selected room) a `Reset`
/// background draws them reversed, which reads well whatever the
/// terminal's colours are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    /// The "scrolled up" bar, keys and commands in the help.
    pub accent: Color,
    /// Unread counts.
    pub unread: Color,
    /// Mention counts and the unread total.
    pub mention: Color,
    /// Errors, failed sends, the "new" line.
    pub error: Color,
    /// Secondary text: hints, headers, members' status texts.
    pub dim: Color,
    /// The lines between the panes.
    pub border: Color,
    /// The room's name above the messages, and overlay titles.
    pub title: Color,
    /// The room's topic beside its name.
    pub topic: Color,
    /// Message times.
    pub time: Color,
    /// Your own nick.
    pub own_nick: Color,
    /// Other people's nicks: each nick gets one, always the same.
    pub nicks: [Color; 12],
    /// Message text.
    pub text: Color,
    /// Notices (joins, topics, command output).
    pub notice: Color,
    /// The status line's text and background.
    pub status: Color,
    pub status_bg: Color,
    /// The room on screen in the rooms pane, and the switcher's choice.
    pub selected: Color,
    pub selected_bg: Color,
    /// The input line's text and its `> ` prompt.
    pub input: Color,
    pub prompt: Color,
    /// Lines that mention you or a highlight word.
    pub highlight: Color,
    /// Reactions you made, under a message (others' are dim).
    pub reaction: Color,
    /// The message selected in selection mode (its background; `Reset`
    /// draws it reversed, readable whatever the palette).
    pub select_bg: Color,
    /// Presence: online (also "connected"), away (also "connecting"),
    /// busy.
    pub online: Color,
    pub away: Color,
    pub busy: Color,
}

impl Default for Theme {
    fn default() -> Self {
        Self::dark()
    }
}

impl Theme {
    /// For dark terminals, in the 16 ANSI colours so that it follows the
    /// terminal's own palette.
    #[must_use]
    pub fn dark() -> Self {
        Self {
            color: true,
            accent: Color::Cyan,
            unread: Color::White,
            mention: Color::Yellow,
            error: Color::Red,
            dim: Color::DarkGray,
            border: Color::DarkGray,
            title: Color::Reset,
            topic: Color::DarkGray,
            time: Color::DarkGray,
            own_nick: Color::LightCyan,
            nicks: [
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
            ],
            text: Color::Reset,
            notice: Color::Reset,
            status: Color::Reset,
            status_bg: Color::Reset,
            selected: Color::Reset,
            selected_bg: Color::Reset,
            input: Color::Reset,
            prompt: Color::Reset,
            highlight: Color::Yellow,
            reaction: Color::LightCyan,
            select_bg: Color::Reset,
            online: Color::Green,
            away: Color::Yellow,
            busy: Color::Red,
        }
    }

    /// For light terminals: dark, saturated colours from the 256-colour
    /// palette, since ANSI yellow, white and the light colours all but
    /// vanish on white.
    #[must_use]
    pub fn light() -> Self {
        Self {
            color: true,
            accent: Color::Indexed(25),
            unread: Color::Black,
            mention: Color::Indexed(161),
            error: Color::Indexed(160),
            dim: Color::Indexed(244),
            border: Color::Indexed(248),
            title: Color::Black,
            topic: Color::Indexed(242),
            time: Color::Indexed(244),
            own_nick: Color::Indexed(24),
            nicks: [
                Color::Indexed(124),
                Color::Indexed(28),
                Color::Indexed(130),
                Color::Indexed(19),
                Color::Indexed(90),
                Color::Indexed(30),
                Color::Indexed(166),
                Color::Indexed(22),
                Color::Indexed(94),
                Color::Indexed(27),
                Color::Indexed(127),
                Color::Indexed(31),
            ],
            text: Color::Reset,
            notice: Color::Indexed(238),
            status: Color::Black,
            status_bg: Color::Indexed(252),
            selected: Color::Black,
            selected_bg: Color::Indexed(153),
            input: Color::Reset,
            prompt: Color::Indexed(25),
            highlight: Color::Indexed(161),
            reaction: Color::Indexed(25),
            select_bg: Color::Indexed(153),
            online: Color::Indexed(28),
            away: Color::Indexed(130),
            busy: Color::Indexed(160),
        }
    }

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

    /// Colour `c`, or dim without colours: for what should recede
    /// (borders, times, topics).
    fn soft(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    /// A bar with a background: `fg` on `bg`, or reversed when `bg` is
    /// the terminal's own (or there is no colour).
    fn bar(&self, fg: Color, bg: Color) -> Style {
        if self.color && bg != Color::Reset {
            Style::default().fg(fg).bg(bg)
        } else {
            self.fg(fg).add_modifier(Modifier::REVERSED)
        }
    }

    /// `style` (a span's own colour) drawn on a bar whose background is
    /// `bg`, as [`Theme::bar`] draws the bar.
    fn on_bar(&self, style: Style, bg: Color) -> Style {
        if self.color && bg != Color::Reset {
            style.bg(bg)
        } else {
            style.add_modifier(Modifier::REVERSED)
        }
    }

    /// The message selected in selection mode: its background, or
    /// reversed without colours.
    fn selection(&self) -> Style {
        if self.color && self.select_bg != Color::Reset {
            Style::default().bg(self.select_bg)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    /// A reaction you made: its colour, bold (bold alone without colours).
    fn reaction_mine(&self) -> Style {
        self.fg(self.reaction).add_modifier(Modifier::BOLD)
    }

    /// The text of a message that mentions you: the highlight colour
    /// and bold (only bold without colours).
    fn highlight(&self) -> Style {
        self.fg(self.highlight).add_modifier(Modifier::BOLD)
    }

    /// The time of a message that mentions you, its mark: like its text,
    /// and reversed without colours, so that the line stands out without
    /// a whole message in reverse.
    fn highlight_mark(&self) -> Style {
        if self.color {
            self.highlight()
        } else {
            self.highlight().add_modifier(Modifier::REVERSED)
        }
    }

    /// A stable colour per nick from [`Theme::nicks`]; yours is
    /// [`Theme::own_nick`].
    fn nick(&self, nick: &str, me: &str) -> Style {
        let color = if nick == me {
            self.own_nick
        } else {
            // FNV-1a: stable across runs and builds, unlike the std hasher.
            let mut h = Fnv(0xcbf2_9ce4_8422_2325);
            nick.hash(&mut h);
            let n = self.nicks.len() as u64;
            self.nicks[usize::try_from(h.finish() % n).unwrap_or(0)]
        };
        self.fg(color).add_modifier(Modifier::BOLD)
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
    composer::draw(frame, app, theme, a.input);
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
    let block = Block::default()
        .borders(border)
        .border_style(theme.soft(theme.border));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every foreground colour of a theme (backgrounds are bars, which
    /// carry their own text colour).
    fn foregrounds(t: &Theme) -> Vec<Color> {
        let mut all = vec![
            t.accent,
            t.unread,
            t.mention,
            t.error,
            t.dim,
            t.border,
            t.title,
            t.topic,
            t.time,
            t.own_nick,
            t.text,
            t.notice,
            t.input,
            t.prompt,
            t.highlight,
            t.online,
            t.away,
            t.busy,
        ];
        all.extend(t.nicks);
        all
    }

    #[test]
    fn the_light_theme_uses_no_colour_that_fades_on_white() {
        let faint = [
            Color::White,
            Color::Gray,
            Color::Yellow,
            Color::LightYellow,
            Color::LightCyan,
            Color::LightGreen,
            Color::LightBlue,
            Color::LightMagenta,
            Color::LightRed,
            Color::Cyan,
        ];
        for c in foregrounds(&Theme::light()) {
            assert!(!faint.contains(&c), "{c:?}");
        }
        // The dark theme does use some of them: the two differ.
        assert!(
            foregrounds(&Theme::dark())
                .iter()
                .any(|c| faint.contains(c))
        );
    }

    #[test]
    fn without_colour_a_mention_still_stands_out() {
        let plain = Theme::plain();
        assert_eq!(plain.highlight().fg, None);
        assert!(plain.highlight().add_modifier.contains(Modifier::BOLD));
        assert!(
            plain
                .highlight_mark()
                .add_modifier
                .contains(Modifier::REVERSED)
        );
        assert_eq!(
            plain.bar(Color::Black, Color::White).add_modifier,
            Modifier::REVERSED
        );
    }
}
