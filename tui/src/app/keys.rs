//! Key bindings as data: a [`KeyMap`] from keys to [`Action`]s, per
//! [`Context`] (the main screen, each overlay). Handlers match on the
//! action, never on the key, so the bindings can come from the config file
//! without touching them: [`KeyMap::default`] is natter's keys, and
//! [`KeyMap::with_config`] puts the config's `[keys]` over them.
//!
//! A binding names a key and the modifiers that must be held; others held
//! as well do not stop it (Ctrl+Shift+Home is still Ctrl+Home), and of two
//! bindings of one key the one asking for more modifiers wins (Alt+Enter
//! over Enter; Ctrl+Q quitting over the help's Q closing), the context's
//! own over [`Context::Anywhere`]'s when they ask for as many (so the
//! config can take Ctrl+Q for something else). Keys the input line also
//! uses, like Home or Up, are bound [`When`] the line has no use for them.
//! Keys bound to nothing are the input's (or the overlay's text field's).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

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
    /// Selection mode: a highlight over the messages, to act on one.
    Select,
    /// Open the search overlay.
    Search,
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
/// [`Context::Anywhere`]'s apply in all of them.
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
    /// `None`: unbound on purpose, so that the key is left to the text
    /// (and [`Context::Anywhere`]'s binding of it does not apply).
    action: Option<Action>,
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
        self.put(context, code, modifiers, when, Some(action));
    }

    /// Takes `code` with `modifiers` away from whatever it did in
    /// `context` (and from [`Context::Anywhere`]'s binding of it there),
    /// leaving it to the text being edited.
    pub fn unbind(&mut self, context: Context, code: KeyCode, modifiers: KeyModifiers) {
        if let Some(list) = self.bindings.get_mut(&(context, code)) {
            list.retain(|b| b.modifiers != modifiers);
        }
        self.put(context, code, modifiers, When::Always, None);
    }

    fn put(
        &mut self,
        context: Context,
        code: KeyCode,
        modifiers: KeyModifiers,
        when: When,
        action: Option<Action>,
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
        // `max_by_key` keeps the last of equals: the context's own.
        [Context::Anywhere, context]
            .into_iter()
            .filter_map(|c| {
                self.bindings
                    .get(&(c, key.code))?
                    .iter()
                    .find(|b| key.modifiers.contains(b.modifiers) && b.when.holds(input))
            })
            .max_by_key(|b| b.modifiers.bits().count_ones())
            .and_then(|b| b.action)
    }

    /// natter's keys with the config's `[keys]` table over them: key
    /// names to action names, for the main screen. A binding replaces
    /// whatever the key did there; `"none"` unbinds the key.
    ///
    /// # Errors
    /// A key or action name that does not parse, with the entry it is in.
    pub fn with_config(table: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut map = Self::default();
        for (key, action) in table {
            let (code, modifiers) = parse_key(key).map_err(|e| format!("keys.{key:?}: {e}"))?;
            if action == "none" {
                map.unbind(Context::Main, code, modifiers);
                continue;
            }
            let action = Action::from_name(action).ok_or_else(|| {
                format!(
                    "keys.{key:?}: unknown action {action:?} (one of {}, room_1..room_9, none)",
                    NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                )
            })?;
            if let Some(list) = map.bindings.get_mut(&(Context::Main, code)) {
                list.retain(|b| b.modifiers != modifiers);
            }
            map.bind(Context::Main, code, modifiers, action);
        }
        Ok(map)
    }

    /// How the keys bound to `action` on the main screen (or anywhere)
    /// are written, for the help: fewest modifiers first, leaving out the
    /// ones that only apply while the input is empty (Home and End, which
    /// Ctrl+Home and Ctrl+End do always); empty if none is.
    #[must_use]
    pub fn keys_for(&self, action: Action) -> Vec<String> {
        let mut keys: Vec<(u32, String)> = self
            .bindings
            .iter()
            .filter(|((c, _), _)| matches!(c, Context::Main | Context::Anywhere))
            .flat_map(|((c, code), list)| {
                list.iter()
                    .filter(|b| b.when != When::InputEmpty && b.action == Some(action))
                    .filter(|b| *c == Context::Main || self.reaches_main(*code, b.modifiers))
                    .map(|b| {
                        (
                            b.modifiers.bits().count_ones(),
                            key_name(*code, b.modifiers),
                        )
                    })
            })
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// Whether an [`Context::Anywhere`] binding is not taken over on the
    /// main screen.
    fn reaches_main(&self, code: KeyCode, modifiers: KeyModifiers) -> bool {
        self.bindings
            .get(&(Context::Main, code))
            .is_none_or(|list| list.iter().all(|b| b.modifiers != modifiers))
    }
}

/// The main screen's actions by the names the config gives them: the
/// variant in snake case. [`Action::Room`] is `room_1` to `room_9`.
const NAMES: &[(&str, Action)] = &[
    ("quit", Action::Quit),
    ("help", Action::Help),
    ("toggle_rooms", Action::ToggleRooms),
    ("toggle_users", Action::ToggleUsers),
    ("next_room", Action::NextRoom),
    ("prev_room", Action::PrevRoom),
    ("switcher", Action::Switcher),
    ("reconnect", Action::Reconnect),
    ("new_line", Action::NewLine),
    ("send", Action::Send),
    ("page_up", Action::PageUp),
    ("page_down", Action::PageDown),
    ("oldest", Action::Oldest),
    ("newest", Action::Newest),
    ("first_unread", Action::FirstUnread),
    ("recall_older", Action::RecallOlder),
    ("recall_newer", Action::RecallNewer),
    ("complete", Action::Complete),
    ("clear_input", Action::ClearInput),
    ("select", Action::Select),
    ("search", Action::Search),
];

impl Action {
    /// The action a config names, if it is one of the main screen's.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        if let Some(n) = name.strip_prefix("room_") {
            return match n.as_bytes() {
                [d @ b'1'..=b'9'] => Some(Action::Room(usize::from(d - b'1'))),
                _ => None,
            };
        }
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
    }
}

/// Parses a key as the config writes it: modifiers (`ctrl`, `alt`,
/// `shift`) and a key joined by `+`, any case: `ctrl+j`, `alt+enter`,
/// `f5`, `shift+tab`, `pagedown`. The key is a single character or one of
/// `enter`, `tab`, `backtab`, `esc`, `space`, `backspace`, `delete`,
/// `insert`, `home`, `end`, `pageup`, `pagedown`, `up`, `down`, `left`,
/// `right`, `f1`..`f12`; `plus` is `+`.
///
/// # Errors
/// What is wrong with it, for the config error.
pub fn parse_key(text: &str) -> Result<(KeyCode, KeyModifiers), String> {
    let mut parts: Vec<&str> = text.split('+').collect();
    let key = parts.pop().unwrap_or_default();
    let mut modifiers = KeyModifiers::NONE;
    for m in parts {
        modifiers |= match m.to_ascii_lowercase().as_str() {
            "ctrl" | "control" => KeyModifiers::CONTROL,
            "alt" | "meta" => KeyModifiers::ALT,
            "shift" => KeyModifiers::SHIFT,
            _ => return Err(format!("unknown modifier {m:?} (ctrl, alt or shift)")),
        };
    }
    let mut chars = key.chars();
    let code = match (chars.next(), chars.next()) {
        (Some(c), None) => KeyCode::Char(c),
        _ => match key.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "tab" if modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "esc" | "escape" => KeyCode::Esc,
            "space" => KeyCode::Char(' '),
            "plus" => KeyCode::Char('+'),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" | "ins" => KeyCode::Insert,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            k => match k.strip_prefix('f').map(str::parse::<u8>) {
                Some(Ok(n @ 1..=12)) => KeyCode::F(n),
                _ => return Err(format!("unknown key {key:?}")),
            },
        },
    };
    Ok(match code {
        // Terminals report Shift+a as `A` with Shift held, and Ctrl+a as
        // `a`: a binding is written as they report it.
        KeyCode::Char(c) if c.is_alphabetic() && modifiers.contains(KeyModifiers::SHIFT) => (
            KeyCode::Char(c.to_uppercase().next().unwrap_or(c)),
            modifiers,
        ),
        // `Ctrl+J` is written as the help writes it, and means Ctrl+j.
        KeyCode::Char(c) if modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => (
            KeyCode::Char(c.to_lowercase().next().unwrap_or(c)),
            modifiers,
        ),
        KeyCode::Char(c) if c.is_uppercase() => (KeyCode::Char(c), modifiers | KeyModifiers::SHIFT),
        // Shift+Tab arrives as BackTab, with or without Shift.
        KeyCode::BackTab => (code, modifiers - KeyModifiers::SHIFT),
        _ => (code, modifiers),
    })
}

/// A key as the help writes it: `Ctrl+N`, `Alt+Enter`, `PgUp`.
#[must_use]
pub fn key_name(code: KeyCode, modifiers: KeyModifiers) -> String {
    let mut name = String::new();
    for (m, label) in [
        (KeyModifiers::CONTROL, "Ctrl+"),
        (KeyModifiers::ALT, "Alt+"),
        (KeyModifiers::SHIFT, "Shift+"),
    ] {
        if modifiers.contains(m) {
            name.push_str(label);
        }
    }
    let key = match code {
        KeyCode::Char(' ') => "Space".to_owned(),
        KeyCode::Char(c) => c.to_uppercase().collect(),
        KeyCode::F(n) => format!("F{n}"),
        KeyCode::PageUp => "PgUp".to_owned(),
        KeyCode::PageDown => "PgDn".to_owned(),
        KeyCode::BackTab => "Shift+Tab".to_owned(),
        other => format!("{other:?}"),
    };
    name.push_str(&key);
    name
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
        // Selection mode starts only from an empty input (`App::enter_select`);
        // bound always so that the help lists it.
        map.bind(C::Main, K::Up, alt, A::Select);
        map.bind(C::Main, K::Char('f'), ctrl, A::Search);
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

/// A line of the keys in the help: the keys bound to actions (as the key
/// map has them, so rebinding shows), or keys the input line handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpKeys {
    /// The keys of each action, the actions separated by ` / `.
    Bound(&'static [Action]),
    /// Keys that are not in the key map.
    Fixed(&'static str),
}

impl HelpKeys {
    /// How the help writes these keys with `keys` the bindings in use.
    #[must_use]
    pub fn label(self, keys: &KeyMap) -> String {
        let actions = match self {
            HelpKeys::Fixed(text) => return text.to_owned(),
            // Alt+1 to Alt+9 as one, unless they were rebound.
            HelpKeys::Bound([Action::Room(_)]) => {
                let all: Vec<Vec<String>> =
                    (0..9).map(|i| keys.keys_for(Action::Room(i))).collect();
                let alt = (0..9).all(|i| all[i] == [format!("Alt+{}", i + 1)]);
                return if alt {
                    "Alt+1..9".to_owned()
                } else {
                    none_if_empty(all.concat().join(", "))
                };
            }
            HelpKeys::Bound(actions) => actions,
        };
        actions
            .iter()
            .map(|a| none_if_empty(keys.keys_for(*a).join(", ")))
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

fn none_if_empty(label: String) -> String {
    if label.is_empty() {
        "(unbound)".to_owned()
    } else {
        label
    }
}

/// The keys, for the help overlay and the README.
pub const KEYS: &[(HelpKeys, &str)] = &[
    (HelpKeys::Bound(&[Action::Send]), "send"),
    (HelpKeys::Bound(&[Action::NewLine]), "new line"),
    (
        HelpKeys::Bound(&[Action::RecallOlder, Action::RecallNewer]),
        "recall what you sent",
    ),
    (
        HelpKeys::Bound(&[Action::Complete]),
        "complete nick, #room, /command",
    ),
    (
        HelpKeys::Bound(&[Action::NextRoom, Action::PrevRoom]),
        "next / previous room",
    ),
    (HelpKeys::Bound(&[Action::Room(0)]), "room by number"),
    (HelpKeys::Bound(&[Action::Switcher]), "quick switcher"),
    (
        HelpKeys::Bound(&[Action::PageUp, Action::PageDown]),
        "scroll",
    ),
    (
        HelpKeys::Bound(&[Action::Oldest, Action::Newest]),
        "oldest / newest",
    ),
    (HelpKeys::Bound(&[Action::FirstUnread]), "first unread"),
    (
        HelpKeys::Bound(&[Action::ToggleRooms, Action::ToggleUsers]),
        "toggle rooms / users pane",
    ),
    (HelpKeys::Bound(&[Action::Reconnect]), "reconnect now"),
    (HelpKeys::Bound(&[Action::ClearInput]), "clear the input"),
    (
        HelpKeys::Bound(&[Action::Select]),
        "select a message (empty input)",
    ),
    (
        HelpKeys::Fixed("r t e d + y Enter"),
        "then reply/thread/edit/delete/react/copy/go",
    ),
    (HelpKeys::Bound(&[Action::Search]), "search messages"),
    (
        HelpKeys::Fixed("Ctrl+A / Ctrl+E"),
        "start / end of the line",
    ),
    (HelpKeys::Fixed("Alt+B / Alt+F"), "word back / forward"),
    (
        HelpKeys::Fixed("Ctrl+W / Alt+D"),
        "delete word back / forward",
    ),
    (HelpKeys::Fixed("Ctrl+U"), "delete to the start of the line"),
    (HelpKeys::Bound(&[Action::Help]), "this help"),
    (HelpKeys::Bound(&[Action::Quit]), "quit"),
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
    fn key_names_parse_as_terminals_report_the_keys() {
        let (none, ctrl, alt, shift) = (
            KeyModifiers::NONE,
            KeyModifiers::CONTROL,
            KeyModifiers::ALT,
            KeyModifiers::SHIFT,
        );
        let cases = [
            ("ctrl+j", KeyCode::Char('j'), ctrl),
            ("Ctrl+J", KeyCode::Char('j'), ctrl),
            ("alt+enter", KeyCode::Enter, alt),
            ("ctrl+alt+x", KeyCode::Char('x'), ctrl | alt),
            ("shift+a", KeyCode::Char('A'), shift),
            ("A", KeyCode::Char('A'), shift),
            ("shift+tab", KeyCode::BackTab, none),
            ("f5", KeyCode::F(5), none),
            ("F12", KeyCode::F(12), none),
            ("pagedown", KeyCode::PageDown, none),
            ("pgup", KeyCode::PageUp, none),
            ("esc", KeyCode::Esc, none),
            ("home", KeyCode::Home, none),
            ("ctrl+end", KeyCode::End, ctrl),
            ("up", KeyCode::Up, none),
            ("alt+space", KeyCode::Char(' '), alt),
            ("ctrl+plus", KeyCode::Char('+'), ctrl),
            ("/", KeyCode::Char('/'), none),
        ];
        for (text, code, modifiers) in cases {
            assert_eq!(parse_key(text), Ok((code, modifiers)), "{text}");
        }
        for bad in ["", "ctrl+", "f0", "f13", "hyper+x", "enterr", "ctrl+jj"] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
        assert_eq!(key_name(KeyCode::Char('n'), ctrl), "Ctrl+N");
        assert_eq!(key_name(KeyCode::Enter, alt), "Alt+Enter");
        assert_eq!(key_name(KeyCode::PageDown, none), "PgDn");
    }

    #[test]
    fn action_names_are_the_variants_in_snake_case() {
        assert_eq!(Action::from_name("next_room"), Some(Action::NextRoom));
        assert_eq!(Action::from_name("clear_input"), Some(Action::ClearInput));
        assert_eq!(Action::from_name("room_1"), Some(Action::Room(0)));
        assert_eq!(Action::from_name("room_9"), Some(Action::Room(8)));
        for bad in [
            "room_0", "room_10", "room_01", "NextRoom", "close", "confirm",
        ] {
            assert_eq!(Action::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_config_unbinds_and_rebinds_keys_of_the_main_screen_only() {
        let table: BTreeMap<String, String> =
            [("ctrl+n", "none"), ("home", "help"), ("ctrl+q", "none")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let keys = KeyMap::with_config(&table).unwrap();
        let ctrl = KeyModifiers::CONTROL;
        let none = KeyModifiers::NONE;
        let main = |code, m, input| keys.action(Context::Main, &key(code, m), input);
        assert_eq!(main(KeyCode::Char('n'), ctrl, ""), None);
        // Home now always opens the help, with text in the input or not.
        assert_eq!(main(KeyCode::Home, none, "draft"), Some(Action::Help));
        assert_eq!(main(KeyCode::Home, none, ""), Some(Action::Help));
        assert_eq!(main(KeyCode::Home, ctrl, ""), Some(Action::Oldest));
        // Ctrl+Q is the input's on the main screen, still quits elsewhere.
        assert_eq!(main(KeyCode::Char('q'), ctrl, ""), None);
        assert_eq!(
            keys.action(Context::Help, &key(KeyCode::Char('q'), ctrl), ""),
            Some(Action::Quit)
        );
        assert_eq!(
            keys.action(Context::Switcher, &key(KeyCode::Home, none), ""),
            None
        );
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
