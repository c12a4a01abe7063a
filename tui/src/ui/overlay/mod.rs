//! Overlays, drawn last over a cleared box in the middle of the screen:
//! one file each, as in `app::overlay`.

mod help;
mod login;
mod switcher;

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
