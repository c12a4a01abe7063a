//! Overlays, drawn last over a cleared box in the middle of the screen:
//! one file each, as in `app::overlay`.

mod help;
mod login;
mod react;
mod search;
mod switcher;
mod thread;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::Theme;
use crate::app::{App, Overlay};

/// Draws the overlay open, if any.
pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme) {
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help(state) => help::draw(frame, app, theme, *state),
        Overlay::Switcher(s) => switcher::draw(frame, app, theme, s),
        Overlay::Login(form) => login::draw(frame, theme, form),
        Overlay::Thread(view) => thread::draw(frame, app, theme, view),
        Overlay::Search(view) => search::draw(frame, app, theme, view),
        Overlay::React(prompt) => react::draw(frame, app, theme, prompt),
    }
}

/// A box of `width` by `height` in the middle of the screen (smaller if
/// the screen is).
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
