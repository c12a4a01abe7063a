//! Key bindings as data: a [`KeyMap`] from keys to [`Action`]s, per
//! [`Context`] (the main screen, each overlay). Handlers match on the
//! action, never on the key, so the bindings can come from the config file
//! later without touching them; [`KeyMap::default`] is natter's keys.
//!
//! A binding names a key and the modifiers that must be held; others held
//! as well do not stop it (Ctrl+Shift+Home is still Ctrl+Home), and of two
//! bindings of one key the one asking for more modifiers wins (Alt+Enter
//! over Enter). Keys the input line also uses, like Home or Up, are bound
//! [`When`] the line has no use for them. Keys bound to nothing are the
//! input's (or the overlay's text field's).

use std::cmp::Reverse;
use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Leave natter (anywhere).
    Quit,
    // The main screen.
    /// Open the help overlay.
    Help,
    ToggleRooms,
    ToggleUsers,
    NextRoom,
    PrevRoom,
    /// Open the quick switcher.
    Switcher,
    /// Cut the reconnect wait short.
    Reconnect,
    /// The room at this position of the rooms pane (0 is the first).
    Room(usize),
    /// A new line in the message being written.
    NewLine,
    /// Send the line (or run the command).
    Send,
    PageUp,
    PageDown,
    /// Scroll to the oldest message loaded (fetching older ones).
    Oldest,
    /// Back to the newest message.
    Newest,
    /// To the first unread message (the "new" line).
    FirstUnread,
    /// Recall what you sent before.
    RecallOlder,
    RecallNewer,
    Complete,
    ClearInput,
    // Overlays.
    Close,
    /// Choose the selected entry, or go on to the next field.
    Confirm,
    Up,
    Down,
    NextField,
    PrevField,
}

/// Where a key was pressed. Each context has its own bindings, and
/// [`Context::Anywhere`]'s come before all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Anywhere,
    /// No overlay: the input line and the messages view.
    Main,
    Help,
    Switcher,
    Login,
}

/// When a binding applies; otherwise the key goes on to the input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum When {
    Always,
    /// The input line is empty (Home and End move its cursor otherwise).
    InputEmpty,
    /// The input line is one line (Up and Down move between its lines
    /// otherwise).
    SingleLine,
}

impl When {
    fn holds(self, input: &str) -> bool {
        match self {
            When::Always => true,
            When::InputEmpty => input.is_empty(),
            When::SingleLine => !input.contains('\n'),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Binding {
    modifiers: KeyModifiers,
    when: When,
    action: Action,
}

/// Every binding, by context and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    /// Per key, the most demanding modifiers first.
    bindings: HashMap<(Context, KeyCode), Vec<Binding>>,
}

impl KeyMap {
    /// No bindings at all.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            bindings: HashMap::new(),
        }
    }

    /// Binds `code` with (at least) `modifiers` held to `action`.
    pub fn bind(
        &mut self,
        context: Context,
        code: KeyCode,
        modifiers: KeyModifiers,
        action: Action,
    ) {
        self.bind_when(context, code, modifiers, When::Always, action);
    }

    /// Binds a key only while `when` holds.
    pub fn bind_when(
        &mut self,
        context: Context,
        code: KeyCode,
        modifiers: KeyModifiers,
        when: When,
        action: Action,
    ) {
        let list = self.bindings.entry((context, code)).or_default();
        list.retain(|b| b.modifiers != modifiers || b.when != when);
        list.push(Binding {
            modifiers,
            when,
            action,
        });
        list.sort_by_key(|b| Reverse(b.modifiers.bits().count_ones()));
    }

    /// What `key` does in `context`, with `input` the text of the input
    /// line; `None` leaves it to the text being edited.
    #[must_use]
    pub fn action(&self, context: Context, key: &KeyEvent, input: &str) -> Option<Action> {
        [Context::Anywhere, context].into_iter().find_map(|c| {
            self.bindings
                .get(&(c, key.code))?
                .iter()
                .find(|b| key.modifiers.contains(b.modifiers) && b.when.holds(input))
                .map(|b| b.action)
        })
    }
}

impl Default for KeyMap {
    /// natter's keys, as [`KEYS`] lists them for the help overlay.
    fn default() -> Self {
        use Action as A;
        use Context as C;
        use KeyCode as K;
        let none = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        let alt = KeyModifiers::ALT;
        let mut map = Self::empty();
        map.bind(C::Anywhere, K::Char('c'), ctrl, A::Quit);
        map.bind(C::Anywhere, K::Char('q'), ctrl, A::Quit);

        map.bind(C::Main, K::F(1), none, A::Help);
        map.bind(C::Main, K::F(2), none, A::ToggleRooms);
        map.bind(C::Main, K::F(3), none, A::ToggleUsers);
        map.bind(C::Main, K::Char('n'), ctrl, A::NextRoom);
        map.bind(C::Main, K::Char('p'), ctrl, A::PrevRoom);
        map.bind(C::Main, K::Char('k'), ctrl, A::Switcher);
        map.bind(C::Main, K::Char('r'), ctrl, A::Reconnect);
        for (i, c) in ('1'..='9').enumerate() {
            map.bind(C::Main, K::Char(c), alt, A::Room(i));
        }
        map.bind(C::Main, K::Enter, alt, A::NewLine);
        map.bind(C::Main, K::Enter, none, A::Send);
        map.bind(C::Main, K::PageUp, none, A::PageUp);
        map.bind(C::Main, K::PageDown, none, A::PageDown);
        map.bind(C::Main, K::Home, ctrl, A::Oldest);
        map.bind_when(C::Main, K::Home, none, When::InputEmpty, A::Oldest);
        map.bind(C::Main, K::End, ctrl, A::Newest);
        map.bind(C::Main, K::Char('u'), alt, A::FirstUnread);
        map.bind_when(C::Main, K::End, none, When::InputEmpty, A::Newest);
        // Up and Down move between the lines of a long message, then
        // recall (`Composer::recall_by`).
        map.bind(C::Main, K::Up, none, A::RecallOlder);
        map.bind(C::Main, K::Down, none, A::RecallNewer);
        map.bind(C::Main, K::Tab, none, A::Complete);
        map.bind(C::Main, K::Esc, none, A::ClearInput);

        for code in [K::Esc, K::F(1), K::Char('q'), K::Enter] {
            map.bind(C::Help, code, none, A::Close);
        }
        map.bind(C::Help, K::Up, none, A::Up);
        map.bind(C::Help, K::Down, none, A::Down);
        map.bind(C::Help, K::PageUp, none, A::PageUp);
        map.bind(C::Help, K::PageDown, none, A::PageDown);
        map.bind(C::Help, K::Home, none, A::Oldest);
        map.bind(C::Help, K::End, none, A::Newest);

        map.bind(C::Switcher, K::Esc, none, A::Close);
        map.bind(C::Switcher, K::Enter, none, A::Confirm);
        map.bind(C::Switcher, K::Up, none, A::Up);
        map.bind(C::Switcher, K::Down, none, A::Down);

        // The login screen is all there is: Esc leaves natter.
        map.bind(C::Login, K::Esc, none, A::Quit);
        map.bind(C::Login, K::Enter, none, A::Confirm);
        map.bind(C::Login, K::Tab, none, A::NextField);
        map.bind(C::Login, K::Down, none, A::NextField);
        map.bind(C::Login, K::BackTab, none, A::PrevField);
        map.bind(C::Login, K::Up, none, A::PrevField);
        map
    }
}

/// The default keys, for the help overlay and the README.
pub const KEYS: &[(&str, &str)] = &[
    ("Enter", "send"),
    ("Alt+Enter", "new line"),
    ("Up / Down", "recall what you sent"),
    ("Tab", "complete nick, #room, /command"),
    ("Ctrl+N / Ctrl+P", "next / previous room"),
    ("Alt+1..9", "room by number"),
    ("Ctrl+K", "quick switcher"),
    ("PgUp / PgDn", "scroll"),
    ("Ctrl+Home / Ctrl+End", "oldest / newest"),
    ("Alt+U", "first unread"),
    ("F2 / F3", "toggle rooms / users pane"),
    ("Ctrl+R", "reconnect now"),
    ("F1", "this help"),
    ("Ctrl+C", "quit"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn the_most_specific_binding_wins_and_extra_modifiers_do_not_stop_it() {
        let keys = KeyMap::default();
        let main = |code, m, input| keys.action(Context::Main, &key(code, m), input);
        let (none, ctrl, alt, shift) = (
            KeyModifiers::NONE,
            KeyModifiers::CONTROL,
            KeyModifiers::ALT,
            KeyModifiers::SHIFT,
        );
        assert_eq!(main(KeyCode::Enter, none, ""), Some(Action::Send));
        assert_eq!(main(KeyCode::Enter, alt, ""), Some(Action::NewLine));
        assert_eq!(main(KeyCode::Home, ctrl | shift, "x"), Some(Action::Oldest));
        assert_eq!(main(KeyCode::Char('3'), alt, ""), Some(Action::Room(2)));
        assert_eq!(
            main(KeyCode::Char('n'), ctrl | alt, ""),
            Some(Action::NextRoom)
        );
        // Plain letters are text; Ctrl+C quits everywhere.
        assert_eq!(main(KeyCode::Char('n'), none, ""), None);
        assert_eq!(
            keys.action(Context::Login, &key(KeyCode::Char('c'), ctrl), ""),
            Some(Action::Quit)
        );
        assert_eq!(
            keys.action(Context::Switcher, &key(KeyCode::Char('q'), none), ""),
            None
        );
        assert_eq!(
            keys.action(Context::Help, &key(KeyCode::Char('q'), none), ""),
            Some(Action::Close)
        );
    }

    #[test]
    fn keys_the_input_uses_are_bound_only_when_it_has_no_use_for_them() {
        let keys = KeyMap::default();
        let main = |code, input| keys.action(Context::Main, &key(code, KeyModifiers::NONE), input);
        assert_eq!(main(KeyCode::Home, ""), Some(Action::Oldest));
        assert_eq!(main(KeyCode::Home, "draft"), None);
        assert_eq!(main(KeyCode::Up, "one line"), Some(Action::RecallOlder));
        assert_eq!(main(KeyCode::Up, "two\nlines"), Some(Action::RecallOlder));
    }

    #[test]
    fn a_binding_can_be_replaced() {
        let mut keys = KeyMap::default();
        keys.bind(
            Context::Main,
            KeyCode::F(1),
            KeyModifiers::NONE,
            Action::Quit,
        );
        assert_eq!(
            keys.action(Context::Main, &key(KeyCode::F(1), KeyModifiers::NONE), ""),
            Some(Action::Quit)
        );
    }
}
