//! The help overlay (F1, `/help`): the keys, the commands and where the
//! credentials came from. What it shows is [`crate::app::keys::KEYS`]
//! (labelled with the keys `App::keys` binds, so the config's `[keys]`
//! show), [`crate::app::command::COMMANDS`] and `App::credential_source`,
//! drawn by `crate::ui::overlay::help`; its only state is how far it is
//! scrolled, since it is longer than most terminals are tall.
//!
//! The line arithmetic lives here, shared with drawing, so that scrolling
//! stops exactly at the last line: one line per key, one per command, or
//! two when the description does not fit beside the arguments.

use unicode_width::UnicodeWidthStr;

use crate::app::command::offered;
use crate::app::keys::{Action, KEYS};

/// The box's width, when the terminal is wide enough.
pub const WIDTH: u16 = 72;
/// Columns of a command line before its description: a two-column indent,
/// the name, the arguments.
pub const NAME_COLUMNS: usize = 11;
pub const ARGS_COLUMNS: usize = 23;
/// Lines before the keys (credentials, "Esc closes", a blank, "Keys"),
/// and between the keys and the commands (a blank, "Commands").
const HEAD_LINES: usize = 4;
const GAP_LINES: usize = 2;

/// How far the help is scrolled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Help {
    /// The first line on screen.
    pub top: usize,
}

/// Whether a command's description goes on a line of its own, below its
/// name, in a box `inner` columns wide inside its border.
#[must_use]
pub fn description_below(description: &str, inner: usize) -> bool {
    2 + NAME_COLUMNS + ARGS_COLUMNS + description.width() > inner
}

/// The help's lines in a box `inner` columns wide, for a server with
/// `features` (see [`offered`]).
#[must_use]
pub fn lines(inner: usize, features: Option<&[String]>) -> usize {
    HEAD_LINES
        + KEYS.len()
        + GAP_LINES
        + offered(features)
            .map(|(_, _, d)| 1 + usize::from(description_below(d, inner)))
            .sum::<usize>()
}

/// The box on a terminal of `size` (columns, rows): its width and height,
/// border included.
#[must_use]
pub fn box_size(size: (u16, u16), features: Option<&[String]>) -> (u16, u16) {
    let width = WIDTH.min(size.0);
    let lines = lines(usize::from(width.saturating_sub(2)), features);
    let height = u16::try_from(lines + 2).unwrap_or(u16::MAX).min(size.1);
    (width, height)
}

/// The most the help scrolls on a terminal of `size`: its last line at the
/// bottom of the box.
#[must_use]
pub fn max_top(size: (u16, u16), features: Option<&[String]>) -> usize {
    let (width, height) = box_size(size, features);
    lines(usize::from(width.saturating_sub(2)), features)
        .saturating_sub(usize::from(height.saturating_sub(2)))
}

impl Help {
    /// A key bound to `action` while the help is open, on a terminal of
    /// `size`; true if it closes the help (every other key is swallowed).
    pub fn on_key(
        &mut self,
        action: Option<Action>,
        size: (u16, u16),
        features: Option<&[String]>,
    ) -> bool {
        let max = max_top(size, features);
        let page = usize::from(box_size(size, features).1.saturating_sub(3)).max(1);
        self.top = match action {
            Some(Action::Close) => return true,
            Some(Action::Up) => self.top.saturating_sub(1),
            Some(Action::Down) => self.top + 1,
            Some(Action::PageUp) => self.top.saturating_sub(page),
            Some(Action::PageDown) => self.top + page,
            Some(Action::Oldest) => 0,
            Some(Action::Newest) => max,
            _ => self.top,
        }
        .min(max);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::command::COMMANDS;

    impl Help {
        fn on_key_all(&mut self, action: Option<Action>, size: (u16, u16)) -> bool {
            self.on_key(action, size, None)
        }
    }

    #[test]
    fn scrolling_stops_at_the_last_line() {
        let mut help = Help::default();
        let size = (80, 24);
        let max = max_top(size, None);
        assert!(max > 0, "the help is taller than 24 rows");
        assert!(!help.on_key_all(Some(Action::Up), size));
        assert_eq!(help.top, 0);
        help.on_key_all(Some(Action::PageDown), size);
        assert_eq!(help.top, 21);
        for _ in 0..100 {
            help.on_key_all(Some(Action::Down), size);
        }
        assert_eq!(help.top, max);
        help.on_key_all(Some(Action::Oldest), size);
        assert_eq!(help.top, 0);
        help.on_key_all(Some(Action::Newest), size);
        assert_eq!(help.top, max);
        assert!(help.on_key_all(Some(Action::Close), size));
        // A terminal tall enough shows everything: nothing to scroll.
        assert_eq!(max_top((80, 200), None), 0);
    }

    #[test]
    fn every_command_fits_the_full_box_and_narrow_ones_wrap_below() {
        for (name, args, _) in COMMANDS {
            assert!(name.width() < NAME_COLUMNS, "{name}");
            assert!(args.width() < ARGS_COLUMNS, "{name} {args}");
        }
        let wide = lines(usize::from(WIDTH) - 2, None);
        assert_eq!(wide, HEAD_LINES + KEYS.len() + GAP_LINES + COMMANDS.len());
        assert!(lines(58, None) > wide);
        // A server without rich messaging: its commands are not offered.
        let old: Vec<String> = ["direct", "presence", "typing"]
            .iter()
            .map(|f| (*f).to_owned())
            .collect();
        let names: Vec<&str> = offered(Some(&old)).map(|(n, ..)| *n).collect();
        for gone in ["/react", "/search", "/mode", "/seen", "/whois", "/block"] {
            assert!(!names.contains(&gone), "{gone}");
        }
        assert!(names.contains(&"/join") && names.contains(&"/topic"));
        assert!(lines(usize::from(WIDTH) - 2, Some(&old)) < wide);
    }
}
