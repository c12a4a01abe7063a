//! Desktop and terminal notifications for direct messages and mentions.
//!
//! # What lives where
//! - *Whether* to notify is pure and lives here: [`should_notify`] (per-room
//!   [`NotifyLevel`], direct messages, mentions, own messages) and
//!   [`visible_to_user`] (terminal focus and whether the room is on
//!   screen). The app state calls both; it knows the room, the focus (from
//!   crossterm focus events) and what is on screen.
//! - *How* to notify is chosen once at start-up: [`RouteEnv::from_process`]
//!   reads the environment (the only place this module does),
//!   [`choose_route`] turns it into a [`Route`].
//! - *Sending* is [`Notifier::notify`]. On a local desktop it hands the
//!   D-Bus call to a detached thread and returns at once. On the terminal
//!   route it returns the escape bytes from [`terminal_escape`] and the UI,
//!   which owns the terminal, writes them between frames:
//!
//!   ```no_run
//!   # use natter::notify::{Notifier, RouteEnv};
//!   # use std::io::Write;
//!   let notifier = Notifier::from_env(&RouteEnv::from_process());
//!   if let Some(bytes) = notifier.notify("alice in #general", "hello @bob") {
//!       std::io::stdout().write_all(&bytes)?;
//!   }
//!   # Ok::<(), std::io::Error>(())
//!   ```
//!
//! # Why the terminal route exists
//! Over SSH a D-Bus notification, if there is a bus at all, pops up on the
//! remote machine where nobody is looking. The terminal's own notification
//! escapes travel back through the SSH connection to the user's screen:
//! OSC 777 (foot, kitty, WezTerm, Ghostty, urxvt with the notify extension,
//! VTE-based terminals), OSC 9 (iTerm2, Windows Terminal, WezTerm, kitty) and,
//! for everything else, the bell. Terminals ignore the OSC sequences they do
//! not know. Inside tmux each OSC is wrapped in tmux's passthrough escape;
//! tmux 3.3+ forwards it only with `set -g allow-passthrough on`, and
//! otherwise the bell still gets through.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// How long a desktop notification call may go unanswered before the daemon
/// is treated as stuck and later notifications use the terminal route until
/// it answers.
pub const DESKTOP_TIMEOUT: Duration = Duration::from_secs(3);

/// At most one notification per title in this window, so a busy room (or a
/// flood of mentions) produces one popup, not fifty.
pub const RATE_LIMIT_WINDOW: Duration = Duration::from_secs(2);

/// How long the desktop shows a notification, in milliseconds. Short: chat
/// notifications are a nudge; the messages themselves are in natter.
const DESKTOP_EXPIRE_MS: u32 = 5_000;

/// Unanswered desktop calls allowed at once. Each holds a thread and a bus
/// connection; a daemon that stops answering must not collect an unbounded
/// number of them.
const MAX_PENDING_DESKTOP: usize = 4;

/// Title and body lengths, in characters, for the terminal escapes. Long
/// enough for "nick in #room" and a sentence; short enough that a pasted
/// novel does not become a 64 KiB escape sequence.
const MAX_TITLE_CHARS: usize = 100;
const MAX_BODY_CHARS: usize = 300;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;

/// Which messages in a room raise a notification; set per room in the
/// config. The default, [`NotifyLevel::Mentions`], notifies for direct
/// messages and mentions of the user, which is what people expect from a
/// chat client without drowning them in busy rooms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyLevel {
    /// Every message from someone else.
    All,
    /// Direct messages and messages that mention the user.
    #[default]
    Mentions,
    /// Nothing, not even direct messages.
    None,
}

/// Notification levels as the config file spells them: a default for every
/// room and overrides by room name.
///
/// ```toml
/// [notify]
/// default = "mentions"
/// rooms = { "#random" = "none", "#ops" = "all" }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyLevels {
    /// The level for rooms without an override.
    pub default: NotifyLevel,
    /// Overrides by room name.
    pub rooms: HashMap<String, NotifyLevel>,
}

impl NotifyLevels {
    /// The level that applies to `room`.
    #[must_use]
    pub fn level_for(&self, room: &str) -> NotifyLevel {
        self.rooms.get(room).copied().unwrap_or(self.default)
    }
}

/// Whether a message deserves a notification at `level`, before looking at
/// focus. Direct messages count as mentions. The user's own messages (sent
/// from another session, say) never notify.
#[must_use]
pub fn should_notify(
    level: NotifyLevel,
    is_direct: bool,
    mentions_me: bool,
    own_message: bool,
) -> bool {
    if own_message {
        return false;
    }
    match level {
        NotifyLevel::All => true,
        NotifyLevel::Mentions => is_direct || mentions_me,
        NotifyLevel::None => false,
    }
}

/// Whether the user can already see the message: the terminal has focus and
/// the room is on screen. Then a notification would only interrupt.
///
/// Terminals that do not report focus (crossterm's focus events need the
/// terminal's cooperation) should be treated as focused, so that the room on
/// screen still suppresses notifications.
#[must_use]
pub fn visible_to_user(focused: bool, room_on_screen: bool) -> bool {
    focused && room_on_screen
}

/// Where notifications go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The desktop's notification daemon over the D-Bus session bus
    /// (notify-rust).
    Desktop,
    /// The terminal's own notification escapes and the bell, written by the
    /// UI. `tmux` wraps the escapes in tmux's passthrough.
    Terminal {
        /// Running inside tmux.
        tmux: bool,
    },
    /// No notifications.
    Off,
}

/// The facts about the environment that decide the [`Route`]. Plain values
/// so that [`choose_route`] is a pure function tests can drive (edition 2024
/// makes writing the process environment `unsafe`, which this workspace
/// forbids).
#[expect(
    clippy::struct_excessive_bools,
    reason = "four independent facts about the environment, not a state machine"
)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteEnv {
    /// Running over SSH (`SSH_CONNECTION` or `SSH_TTY` set).
    pub ssh: bool,
    /// A session bus is reachable: `DBUS_SESSION_BUS_ADDRESS` is set, or the
    /// standard socket `$XDG_RUNTIME_DIR/bus` (`/run/user/$UID/bus`) exists.
    pub dbus: bool,
    /// Running inside tmux (`TMUX` set).
    pub tmux: bool,
    /// Notifications switched off by the user.
    pub disabled: bool,
}

impl RouteEnv {
    /// Reads the process environment. `disabled` is always false here; the
    /// caller sets it from the config.
    #[must_use]
    pub fn from_process() -> Self {
        Self {
            ssh: env_set("SSH_CONNECTION") || env_set("SSH_TTY"),
            dbus: env_set("DBUS_SESSION_BUS_ADDRESS") || session_socket_exists(),
            tmux: env_set("TMUX"),
            disabled: false,
        }
    }
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| !value.is_empty())
}

/// The socket zbus falls back to without `DBUS_SESSION_BUS_ADDRESS`.
fn session_socket_exists() -> bool {
    if let Some(runtime_dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        return Path::new(&runtime_dir).join("bus").exists();
    }
    // `/proc/self` is owned by the process's effective uid, which spares
    // a libc dependency (and `unsafe`) just to call geteuid().
    std::fs::metadata("/proc/self").is_ok_and(|meta| {
        use std::os::unix::fs::MetadataExt as _;
        Path::new(&format!("/run/user/{}/bus", meta.uid())).exists()
    })
}

/// Picks the route. Over SSH the desktop is not the user's, and without a
/// session bus there is no desktop to talk to: both use the terminal.
#[must_use]
pub fn choose_route(env: &RouteEnv) -> Route {
    if env.disabled {
        Route::Off
    } else if env.ssh || !env.dbus {
        Route::Terminal { tmux: env.tmux }
    } else {
        Route::Desktop
    }
}

/// The bytes that make the terminal notify: OSC 777
/// (`ESC ] 777 ; notify ; TITLE ; BODY BEL`), then OSC 9
/// (`ESC ] 9 ; TITLE: BODY BEL`), then a plain bell. A terminal that knows
/// both OSCs may show two notifications; most know one and ignore the other.
///
/// Title and body come from other users, so they are sanitised: control
/// characters (C0, DEL, C1) would end or extend the escape sequence and are
/// dropped (line breaks and tabs become spaces); `;` separates OSC 777's
/// fields, and `9;<digit>;` is a sub-command in ConEmu and Windows Terminal,
/// so it becomes `,` in both; lengths are capped at 100 and 300 characters.
///
/// With `tmux`, each OSC is wrapped in tmux's passthrough
/// (`ESC P tmux; ... ESC \`, with every ESC inside doubled); the bell is left
/// outside for tmux itself to pass on.
#[must_use]
pub fn terminal_escape(title: &str, body: &str, tmux: bool) -> Vec<u8> {
    let title = sanitize(title, MAX_TITLE_CHARS);
    let body = sanitize(body, MAX_BODY_CHARS);
    let osc777 = format!("\x1b]777;notify;{title};{body}\x07");
    let osc9 = if body.is_empty() {
        format!("\x1b]9;{title}\x07")
    } else {
        format!("\x1b]9;{title}: {body}\x07")
    };
    let mut out = Vec::with_capacity(osc777.len() + osc9.len() + 32);
    for osc in [osc777, osc9] {
        if tmux {
            out.extend_from_slice(b"\x1bPtmux;");
            for &byte in osc.as_bytes() {
                if byte == ESC {
                    out.push(ESC);
                }
                out.push(byte);
            }
            out.extend_from_slice(b"\x1b\\");
        } else {
            out.extend_from_slice(osc.as_bytes());
        }
    }
    out.push(BEL);
    out
}

/// Drops control characters, turns whitespace controls into spaces and `;`
/// into `,`, trims, and caps the length at `max` characters (the last being
/// an ellipsis when cut).
fn sanitize(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            ';' => Some(','),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.chars().count() <= max {
        return cleaned.to_owned();
    }
    let mut cut: String = cleaned.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The installed icon: `../share/natter/natter.svg` next to the executable
/// (so `/usr/bin/natter` finds `/usr/share/natter/natter.svg`), else the
/// source tree's `assets/natter.svg` for development builds. `None` when
/// neither exists; the desktop then shows its generic icon.
#[must_use]
pub fn icon_path() -> Option<PathBuf> {
    let installed = std::env::current_exe().ok().and_then(|exe| {
        let bin_dir = exe.parent()?;
        Some(bin_dir.join("../share/natter/natter.svg"))
    });
    let source = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/natter.svg"));
    installed
        .into_iter()
        .chain([source])
        .find(|path| path.is_file())
        // Daemons get an absolute path without `..` in it.
        .map(|path| std::fs::canonicalize(&path).unwrap_or(path))
}

/// Sends notifications along a [`Route`] without ever blocking the caller.
///
/// The desktop call (notify-rust over D-Bus) runs on its own detached
/// thread: with no bus it fails at once, but against a daemon that never
/// answers it blocks forever. A detached thread rather than tokio's
/// `spawn_blocking`, because dropping a tokio runtime waits for its blocking
/// tasks: one stuck call would hang natter on exit.
///
/// A call that fails makes the notifier fall back to the terminal route for
/// good (the bus or daemon is missing; retrying each time only adds log
/// lines). A call unanswered for [`DESKTOP_TIMEOUT`] makes it use the
/// terminal route until that call returns. The notification whose call
/// fails or stalls is lost: it has already been handed off.
#[derive(Debug)]
pub struct Notifier {
    route: Route,
    icon: Option<PathBuf>,
    fallback_tmux: bool,
    /// A std mutex: held only to look up and record a title, never across a
    /// call or an `.await`.
    limiter: Mutex<RateLimiter>,
    desktop: Arc<DesktopState>,
}

impl Notifier {
    /// A notifier for `route`, using `icon` (see [`icon_path`]) for desktop
    /// notifications. A desktop notifier that falls back to the terminal
    /// assumes no tmux; see [`Notifier::fallback_tmux`].
    #[must_use]
    pub fn new(route: Route, icon: Option<PathBuf>) -> Self {
        Self {
            route,
            icon,
            fallback_tmux: false,
            limiter: Mutex::new(RateLimiter::new(RATE_LIMIT_WINDOW)),
            desktop: Arc::new(DesktopState::default()),
        }
    }

    /// The notifier for this environment: [`choose_route`], [`icon_path`],
    /// and tmux passthrough for the desktop route's fallback when in tmux.
    #[must_use]
    pub fn from_env(env: &RouteEnv) -> Self {
        Self::new(choose_route(env), icon_path()).fallback_tmux(env.tmux)
    }

    /// Whether the terminal fallback of the desktop route wraps its escapes
    /// for tmux.
    #[must_use]
    pub fn fallback_tmux(mut self, tmux: bool) -> Self {
        self.fallback_tmux = tmux;
        self
    }

    /// The route chosen at construction (the desktop route may still fall
    /// back to the terminal per notification).
    #[must_use]
    pub fn route(&self) -> Route {
        self.route
    }

    /// Sends a notification, or returns the bytes the caller must write to
    /// the terminal to show it. Returns at once: `None` when the desktop
    /// call was handed off, when the route is off, or when the same title
    /// notified less than [`RATE_LIMIT_WINDOW`] ago.
    #[must_use = "on the terminal route the notification is these bytes; dropping them loses it"]
    pub fn notify(&self, title: &str, body: &str) -> Option<Vec<u8>> {
        self.notify_at(title, body, Instant::now())
    }

    /// [`Notifier::notify`] at a given instant, so tests control the clock.
    fn notify_at(&self, title: &str, body: &str, now: Instant) -> Option<Vec<u8>> {
        if self.route == Route::Off {
            return None;
        }
        let allowed = self
            .limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .allow(title, now);
        if !allowed {
            tracing::debug!(title, "notification rate-limited");
            return None;
        }
        match self.route {
            Route::Off => None,
            Route::Terminal { tmux } => Some(terminal_escape(title, body, tmux)),
            Route::Desktop if self.desktop.usable(now) => {
                if self.spawn_desktop(title, body, now) {
                    None
                } else {
                    Some(terminal_escape(title, body, self.fallback_tmux))
                }
            }
            Route::Desktop => Some(terminal_escape(title, body, self.fallback_tmux)),
        }
    }

    /// Starts the desktop call on a detached thread. False when the thread
    /// could not be started.
    fn spawn_desktop(&self, title: &str, body: &str, now: Instant) -> bool {
        let call = self.desktop.begin(now);
        let desktop = Arc::clone(&self.desktop);
        let (title, body, icon) = (title.to_owned(), body.to_owned(), self.icon.clone());
        let spawned = std::thread::Builder::new()
            .name("natter-notify".into())
            .spawn(move || {
                let result = show_desktop(&title, &body, icon.as_deref());
                desktop.finish(call, result);
            });
        match spawned {
            Ok(_detached) => true,
            Err(err) => {
                tracing::debug!(%err, "could not start the notification thread");
                self.desktop.finish(call, Err(err.to_string()));
                false
            }
        }
    }
}

/// The blocking notify-rust call.
fn show_desktop(title: &str, body: &str, icon: Option<&Path>) -> Result<(), String> {
    let mut notification = notify_rust::Notification::new();
    notification
        .appname("natter")
        .summary(title)
        .body(body)
        .timeout(notify_rust::Timeout::Milliseconds(DESKTOP_EXPIRE_MS));
    if let Some(icon) = icon.and_then(Path::to_str) {
        notification.icon(icon);
    }
    notification.show().map(drop).map_err(|err| err.to_string())
}

/// What the notifier knows about the desktop daemon, shared with the call
/// threads.
#[derive(Debug, Default)]
struct DesktopState {
    /// A call failed: the terminal route from now on.
    failed: AtomicBool,
    next_call: AtomicU64,
    /// Start times of unanswered calls, by call number. A std mutex: held to
    /// insert, remove or scan a handful of entries, never across a call.
    pending: Mutex<HashMap<u64, Instant>>,
}

impl DesktopState {
    /// Whether a new desktop call should be made at `now`: nothing has
    /// failed, no call has gone unanswered for [`DESKTOP_TIMEOUT`], and
    /// fewer than [`MAX_PENDING_DESKTOP`] are in flight.
    fn usable(&self, now: Instant) -> bool {
        if self.failed.load(Ordering::Relaxed) {
            return false;
        }
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest = pending
            .values()
            .map(|started| now.saturating_duration_since(*started))
            .max();
        if let Some(waited) = oldest
            && waited >= DESKTOP_TIMEOUT
        {
            tracing::debug!(
                ?waited,
                "notification daemon is not answering; using terminal escapes until it does"
            );
            return false;
        }
        pending.len() < MAX_PENDING_DESKTOP
    }

    /// Records a call starting at `now`; returns its number for
    /// [`DesktopState::finish`].
    fn begin(&self, now: Instant) -> u64 {
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(call, now);
        call
    }

    /// Records the outcome of a call.
    fn finish(&self, call: u64, result: Result<(), String>) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&call);
        if let Err(err) = result {
            tracing::debug!(%err, "desktop notification failed; using terminal escapes from now on");
            self.failed.store(true, Ordering::Relaxed);
        }
    }
}

/// At most one event per key per window.
#[derive(Debug)]
struct RateLimiter {
    window: Duration,
    last: HashMap<String, Instant>,
}

impl RateLimiter {
    /// Entries kept before expired ones are swept out.
    const SWEEP_AT: usize = 256;

    fn new(window: Duration) -> Self {
        Self {
            window,
            last: HashMap::new(),
        }
    }

    /// Whether `key` may fire at `now`; if so, records it.
    fn allow(&mut self, key: &str, now: Instant) -> bool {
        if let Some(previous) = self.last.get(key)
            && now.saturating_duration_since(*previous) < self.window
        {
            return false;
        }
        if self.last.len() >= Self::SWEEP_AT {
            let window = self.window;
            self.last
                .retain(|_, at| now.saturating_duration_since(*at) < window);
        }
        self.last.insert(key.to_owned(), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_messages_never_notify() {
        for level in [NotifyLevel::All, NotifyLevel::Mentions, NotifyLevel::None] {
            for (direct, mention) in [(false, false), (true, false), (false, true), (true, true)] {
                assert!(!should_notify(level, direct, mention, true), "{level:?}");
            }
        }
    }

    #[test]
    fn levels_decide_for_others_messages() {
        // (level, is_direct, mentions_me) -> expected
        let cases = [
            (NotifyLevel::All, false, false, true),
            (NotifyLevel::All, true, false, true),
            (NotifyLevel::All, false, true, true),
            (NotifyLevel::Mentions, false, false, false),
            (NotifyLevel::Mentions, true, false, true),
            (NotifyLevel::Mentions, false, true, true),
            (NotifyLevel::None, false, false, false),
            (NotifyLevel::None, true, false, false),
            (NotifyLevel::None, false, true, false),
            (NotifyLevel::None, true, true, false),
        ];
        for (level, direct, mention, expected) in cases {
            assert_eq!(
                should_notify(level, direct, mention, false),
                expected,
                "{level:?} direct={direct} mention={mention}"
            );
        }
    }

    #[test]
    fn default_level_is_mentions() {
        assert_eq!(NotifyLevel::default(), NotifyLevel::Mentions);
        assert_eq!(
            NotifyLevels::default().level_for("#any"),
            NotifyLevel::Mentions
        );
    }

    #[test]
    fn levels_read_from_config() {
        #[derive(Deserialize)]
        struct Config {
            notify: NotifyLevels,
        }
        let config: Config = toml::from_str(
            "[notify]\ndefault = \"all\"\nrooms = { \"#random\" = \"none\", \"#ops\" = \"mentions\" }\n",
        )
        .unwrap();
        assert_eq!(config.notify.level_for("#general"), NotifyLevel::All);
        assert_eq!(config.notify.level_for("#random"), NotifyLevel::None);
        assert_eq!(config.notify.level_for("#ops"), NotifyLevel::Mentions);

        let empty: Config = toml::from_str("[notify]\n").unwrap();
        assert_eq!(empty.notify, NotifyLevels::default());
        assert!(toml::from_str::<Config>("[notify]\ndefault = \"loud\"\n").is_err());
        assert!(toml::from_str::<Config>("[notify]\nAll = \"all\"\n").is_err());
    }

    #[test]
    fn visible_only_when_focused_and_on_screen() {
        assert!(visible_to_user(true, true));
        assert!(!visible_to_user(true, false));
        assert!(!visible_to_user(false, true));
        assert!(!visible_to_user(false, false));
    }

    #[test]
    fn route_follows_environment() {
        let desktop = RouteEnv {
            dbus: true,
            ..RouteEnv::default()
        };
        assert_eq!(choose_route(&desktop), Route::Desktop);
        // tmux on a local desktop still uses the desktop.
        assert_eq!(
            choose_route(&RouteEnv {
                tmux: true,
                ..desktop
            }),
            Route::Desktop
        );
        // SSH wins over a bus: the remote desktop is not the user's screen.
        assert_eq!(
            choose_route(&RouteEnv {
                ssh: true,
                ..desktop
            }),
            Route::Terminal { tmux: false }
        );
        assert_eq!(
            choose_route(&RouteEnv {
                ssh: true,
                tmux: true,
                ..desktop
            }),
            Route::Terminal { tmux: true }
        );
        // No bus: terminal.
        assert_eq!(
            choose_route(&RouteEnv::default()),
            Route::Terminal { tmux: false }
        );
        assert_eq!(
            choose_route(&RouteEnv {
                tmux: true,
                ..RouteEnv::default()
            }),
            Route::Terminal { tmux: true }
        );
        // Disabled beats everything.
        for ssh in [false, true] {
            for dbus in [false, true] {
                let env = RouteEnv {
                    ssh,
                    dbus,
                    tmux: true,
                    disabled: true,
                };
                assert_eq!(choose_route(&env), Route::Off);
            }
        }
    }

    #[test]
    fn escape_bytes_plain() {
        assert_eq!(
            terminal_escape("alice in #general", "hello @bob", false),
            b"\x1b]777;notify;alice in #general;hello @bob\x07\
              \x1b]9;alice in #general: hello @bob\x07\
              \x07"
                .to_vec()
        );
    }

    #[test]
    fn escape_bytes_tmux() {
        assert_eq!(
            terminal_escape("alice", "hi", true),
            b"\x1bPtmux;\x1b\x1b]777;notify;alice;hi\x07\x1b\\\
              \x1bPtmux;\x1b\x1b]9;alice: hi\x07\x1b\\\
              \x07"
                .to_vec()
        );
    }

    #[test]
    fn escape_without_body() {
        assert_eq!(
            terminal_escape("alice", "", false),
            b"\x1b]777;notify;alice;\x07\x1b]9;alice\x07\x07".to_vec()
        );
    }

    #[test]
    fn escape_sanitises_hostile_text() {
        // An attacker's message tries to end the OSC early and inject its own
        // sequences (ESC, BEL, C1 ST and CSI, DEL), plus extra 777 fields.
        let title = "mal\x1b]0;pwned\x07lory;x";
        let body = "a\x1b\\b\u{9c}c\u{9b}2Jd\x7fe;f\ng\th\r\0i";
        let bytes = terminal_escape(title, body, false);
        assert_eq!(
            bytes,
            "\x1b]777;notify;mal]0,pwnedlory,x;a\\bc2Jde,f g h i\x07\
             \x1b]9;mal]0,pwnedlory,x: a\\bc2Jde,f g h i\x07\x07"
                .as_bytes()
                .to_vec()
        );
    }

    #[test]
    fn escape_caps_lengths() {
        let title = "t".repeat(500);
        let body = "é".repeat(1000);
        let text = String::from_utf8(terminal_escape(&title, &body, false)).unwrap();
        let osc777 = text.split('\x07').next().unwrap();
        let fields: Vec<&str> = osc777.split(';').collect();
        assert_eq!(fields.len(), 4, "{fields:?}");
        assert_eq!(fields[2].chars().count(), MAX_TITLE_CHARS);
        assert!(fields[2].ends_with('…'));
        assert_eq!(fields[3].chars().count(), MAX_BODY_CHARS);
        assert!(fields[3].ends_with('…'));
        // Short text is left alone.
        assert_eq!(sanitize("  short  ", 5), "short");
        assert_eq!(sanitize("sixsix", 5), "sixs…");
    }

    #[test]
    fn terminal_route_returns_bytes_and_off_returns_none() {
        let terminal = Notifier::new(Route::Terminal { tmux: true }, None);
        assert_eq!(
            terminal.notify("alice", "hi"),
            Some(terminal_escape("alice", "hi", true))
        );
        let off = Notifier::new(Route::Off, None);
        assert_eq!(off.notify("alice", "hi"), None);
    }

    #[test]
    fn rate_limited_per_title() {
        let notifier = Notifier::new(Route::Terminal { tmux: false }, None);
        let t0 = Instant::now();
        assert!(notifier.notify_at("alice", "1", t0).is_some());
        assert!(
            notifier
                .notify_at("alice", "2", t0 + Duration::from_millis(500))
                .is_none()
        );
        // Another title is not held back.
        assert!(
            notifier
                .notify_at("bob", "3", t0 + Duration::from_millis(600))
                .is_some()
        );
        assert!(
            notifier
                .notify_at(
                    "alice",
                    "4",
                    t0 + RATE_LIMIT_WINDOW.saturating_sub(Duration::from_millis(1))
                )
                .is_none()
        );
        // The window counts from the last one shown, not the last one dropped.
        assert!(
            notifier
                .notify_at("alice", "5", t0 + RATE_LIMIT_WINDOW)
                .is_some()
        );
        assert!(
            notifier
                .notify_at(
                    "alice",
                    "6",
                    t0 + RATE_LIMIT_WINDOW + Duration::from_secs(1)
                )
                .is_none()
        );
    }

    #[test]
    fn rate_limiter_forgets_old_titles() {
        let mut limiter = RateLimiter::new(Duration::from_secs(2));
        let t0 = Instant::now();
        for i in 0..RateLimiter::SWEEP_AT {
            assert!(limiter.allow(&format!("room {i}"), t0));
        }
        assert!(limiter.allow("late", t0 + Duration::from_secs(3)));
        assert_eq!(limiter.last.len(), 1);
    }

    #[test]
    fn desktop_falls_back_after_a_failure() {
        let notifier = Notifier::new(Route::Desktop, None).fallback_tmux(true);
        let now = Instant::now();
        let call = notifier.desktop.begin(now);
        notifier.desktop.finish(
            call,
            Err("org.freedesktop.DBus.Error.ServiceUnknown".into()),
        );
        assert_eq!(
            notifier.notify_at("alice", "hi", now),
            Some(terminal_escape("alice", "hi", true))
        );
    }

    #[test]
    fn desktop_stall_uses_terminal_until_answered() {
        let state = DesktopState::default();
        let t0 = Instant::now();
        assert!(state.usable(t0));
        let call = state.begin(t0);
        assert!(state.usable(t0 + DESKTOP_TIMEOUT.saturating_sub(Duration::from_millis(1))));
        assert!(!state.usable(t0 + DESKTOP_TIMEOUT));
        // The stuck call finally answers: back to the desktop.
        state.finish(call, Ok(()));
        assert!(state.usable(t0 + DESKTOP_TIMEOUT));
        assert!(!state.failed.load(Ordering::Relaxed));
    }

    #[test]
    fn desktop_calls_in_flight_are_capped() {
        let state = DesktopState::default();
        let t0 = Instant::now();
        let calls: Vec<u64> = (0..MAX_PENDING_DESKTOP).map(|_| state.begin(t0)).collect();
        assert!(!state.usable(t0));
        state.finish(calls[0], Ok(()));
        assert!(state.usable(t0));
    }

    #[test]
    fn icon_is_found_in_the_source_tree() {
        let icon = icon_path().expect("assets/natter.svg");
        assert!(icon.is_absolute());
        assert!(icon.ends_with("assets/natter.svg"), "{}", icon.display());
        assert!(!icon.to_string_lossy().contains(".."));
    }
}
