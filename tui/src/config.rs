//! Where the client's settings come from: command-line flags, environment
//! variables, the config file and defaults, in that order of precedence.
//!
//! The config file is `config.toml` in the platform config directory
//! (`~/.config/natter/config.toml` on Linux, honouring `XDG_CONFIG_HOME`) or
//! the file given with `--config`. Its keys:
//!
//! ```toml
//! server = "chat.example.org:7878"   # host:port of natterd
//! # or a cluster's nodes, tried in turn: ["a.example.org:7878", "b.example.org:7878"]
//! user = "alice"                     # default: $USER
//! password_command = "pass show natter"  # run with `sh -c`; first line of stdout
//! ca_file = "/etc/natter/ca.pem"     # private CA for tls:// servers
//! open_command = "firefox"           # what /open N runs (default xdg-open)
//! images = "auto"                    # image previews: "halfblocks" or "off"
//!
//! [log]
//! chat = true                        # chat logs in ~/.local/share/natter/logs
//! theme = "light"                    # or "dark" (the default)
//! highlights = ["deploy", "natter"]  # words that count as mentions
//!
//! [colors]                           # any element's colour, over the theme
//! mention = "lightred"
//!
//! [keys]                             # key = action, over natter's keys
//! "ctrl+j" = "next_room"
//! "ctrl+n" = "none"                  # unbound: left to the input line
//! ```
//!
//! The process environment is read once, into [`Env`], by the binary; the
//! library only ever sees that value, so tests pass a fake one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use natter_shared::names;
use serde::Deserialize;

use crate::error::ClientError;

/// The server used when none is configured.
pub const DEFAULT_SERVER: &str = "127.0.0.1:7878";

/// The contents of the config file. Every key is optional; unknown keys are
/// an error, so a typo does not silently do nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `host:port` of the server, or several (a cluster's nodes) as an
    /// array, kept here as the list `a:7878,b:7878` that flags and
    /// `NATTER_SERVER` take.
    #[serde(default, deserialize_with = "server_list")]
    pub server: Option<String>,
    /// The account name.
    pub user: Option<String>,
    /// A shell command printing the password on its first line of output.
    pub password_command: Option<String>,
    /// For `tls://` servers signed by a private CA: its certificate (PEM),
    /// trusted instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Notification levels: a default and per-room overrides.
    #[serde(default)]
    pub notify: crate::notify::NotifyLevels,
    /// Mouse support in the full-screen client (wheel scrolls, a click
    /// selects a room). Off by default: it takes over the terminal's own
    /// text selection.
    #[serde(default)]
    pub mouse: bool,
    /// The colour preset of the full-screen client, which `colors`
    /// overrides element by element.
    #[serde(default)]
    pub theme: ThemeName,
    /// Colours of the full-screen client, by name (`cyan`, `lightred`),
    /// index (`208`), `#rrggbb` or `reset` (the terminal's own).
    #[serde(default)]
    pub colors: Colors,
    /// Words that count as mentions of you in the full-screen client
    /// (whole words, any case): counted, notified and highlighted like
    /// `@you`.
    #[serde(default)]
    pub highlights: Vec<String>,
    /// Key bindings over natter's, key name to action name (`"none"`
    /// unbinds); see [`crate::app::keys::KeyMap::with_config`].
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    // -- chat logs and `/open` --
    /// Chat logs, off by default (`crate::chatlog`).
    #[serde(default)]
    pub log: LogConfig,
    /// What `/open N` runs, the URL added as its last argument; split at
    /// spaces, not run by a shell. Default `xdg-open`.
    pub open_command: Option<String>,
    /// How image previews are drawn: `auto`, `halfblocks` or `off`.
    #[serde(default)]
    pub images: crate::app::files::ImageMode,
}

/// `server = "a:7878"` or `server = ["a:7878", "b:7878"]`, as one
/// comma-separated list.
fn server_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let list = match OneOrMany::deserialize(d).map_err(|_| {
        serde::de::Error::custom("expected a \"host:port\" string or an array of them")
    })? {
        OneOrMany::One(one) => one,
        OneOrMany::Many(many) => {
            if let Some(bad) = many.iter().find(|a| a.contains(',') || a.trim().is_empty()) {
                return Err(serde::de::Error::custom(format!(
                    "{bad:?} is not one host:port"
                )));
            }
            many.join(",")
        }
    };
    Ok(Some(list))
}

/// The `[log]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Write each room's messages to `<dir>/<server>/<room>/<day>.log`.
    pub chat: bool,
    /// Where [default: `logs` in the user data dir,
    /// `~/.local/share/natter/logs`].
    pub dir: Option<PathBuf>,
}

impl LogConfig {
    /// The directory to log into, or `None` when logging is off.
    #[must_use]
    pub fn chat_dir(&self) -> Option<PathBuf> {
        if !self.chat {
            return None;
        }
        self.dir.clone().or_else(crate::chatlog::default_dir)
    }
}

/// The colour presets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeName {
    /// For dark terminals, in the terminal's own 16 colours.
    #[default]
    Dark,
    /// For light terminals (a white background).
    Light,
}

/// Colour overrides, one per element the client draws; unset keys keep
/// the theme's. See [`crate::ui::Theme`] for what each one colours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Colors {
    pub accent: Option<String>,
    pub unread: Option<String>,
    pub mention: Option<String>,
    pub error: Option<String>,
    pub dim: Option<String>,
    pub border: Option<String>,
    pub title: Option<String>,
    pub topic: Option<String>,
    pub time: Option<String>,
    pub own_nick: Option<String>,
    /// Other people's nicks: a list, each nick given one of them.
    pub nicks: Option<Vec<String>>,
    pub text: Option<String>,
    pub notice: Option<String>,
    pub status: Option<String>,
    pub status_bg: Option<String>,
    pub selected: Option<String>,
    pub selected_bg: Option<String>,
    pub input: Option<String>,
    pub prompt: Option<String>,
    pub highlight: Option<String>,
    pub reaction: Option<String>,
    pub select_bg: Option<String>,
    pub online: Option<String>,
    pub away: Option<String>,
    pub busy: Option<String>,
}

/// A colour as the config writes it.
fn color(key: &str, value: &str) -> Result<ratatui::style::Color, String> {
    use std::str::FromStr;
    ratatui::style::Color::from_str(value)
        .map_err(|_| format!("colors.{key}: unknown colour {value:?}"))
}

impl Colors {
    /// The theme with these overrides applied.
    ///
    /// # Errors
    /// A colour name that does not parse, named with its key.
    pub fn apply(&self, mut theme: crate::ui::Theme) -> Result<crate::ui::Theme, String> {
        let t = &mut theme;
        for (key, value, slot) in [
            ("accent", &self.accent, &mut t.accent),
            ("unread", &self.unread, &mut t.unread),
            ("mention", &self.mention, &mut t.mention),
            ("error", &self.error, &mut t.error),
            ("dim", &self.dim, &mut t.dim),
            ("border", &self.border, &mut t.border),
            ("title", &self.title, &mut t.title),
            ("topic", &self.topic, &mut t.topic),
            ("time", &self.time, &mut t.time),
            ("own_nick", &self.own_nick, &mut t.own_nick),
            ("text", &self.text, &mut t.text),
            ("notice", &self.notice, &mut t.notice),
            ("status", &self.status, &mut t.status),
            ("status_bg", &self.status_bg, &mut t.status_bg),
            ("selected", &self.selected, &mut t.selected),
            ("selected_bg", &self.selected_bg, &mut t.selected_bg),
            ("input", &self.input, &mut t.input),
            ("prompt", &self.prompt, &mut t.prompt),
            ("highlight", &self.highlight, &mut t.highlight),
            ("reaction", &self.reaction, &mut t.reaction),
            ("select_bg", &self.select_bg, &mut t.select_bg),
            ("online", &self.online, &mut t.online),
            ("away", &self.away, &mut t.away),
            ("busy", &self.busy, &mut t.busy),
        ] {
            if let Some(v) = value {
                *slot = color(key, v)?;
            }
        }
        if let Some(list) = &self.nicks {
            if list.is_empty() {
                return Err("colors.nicks: give at least one colour".to_owned());
            }
            let list = list
                .iter()
                .map(|v| color("nicks", v))
                .collect::<Result<Vec<_>, _>>()?;
            // Fewer than the palette's places: repeated to fill them.
            for (slot, c) in theme.nicks.iter_mut().zip(list.iter().cycle()) {
                *slot = *c;
            }
        }
        Ok(theme)
    }
}

impl FileConfig {
    /// Parses config text.
    ///
    /// # Errors
    /// TOML's message (with line and column) for bad syntax, unknown keys or
    /// wrong types.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        // Checked here, so that a bad colour or key is reported as the
        // file's error, with its path, before anything starts.
        config.theme()?;
        config.keymap()?;
        Ok(config)
    }

    /// The full-screen client's colours: the preset, then `[colors]`.
    /// (`NO_COLOR` is the binary's to apply: it is the environment's.)
    ///
    /// # Errors
    /// A colour that does not parse, named with its key.
    pub fn theme(&self) -> Result<crate::ui::Theme, String> {
        let preset = match self.theme {
            ThemeName::Dark => crate::ui::Theme::dark(),
            ThemeName::Light => crate::ui::Theme::light(),
        };
        self.colors.apply(preset)
    }

    /// The full-screen client's key bindings: natter's, with `[keys]`
    /// over them.
    ///
    /// # Errors
    /// A key or action name that does not parse, with its entry.
    pub fn keymap(&self) -> Result<crate::app::KeyMap, String> {
        crate::app::KeyMap::with_config(&self.keys)
    }

    /// Loads `explicit` (which must exist) or, without it, the default file
    /// (which may be missing: then every key is unset).
    ///
    /// # Errors
    /// [`ClientError::Config`] when the file cannot be read or parsed.
    pub fn load(explicit: Option<&Path>) -> Result<Self, ClientError> {
        let (path, required) = match explicit {
            Some(p) => (p.to_owned(), true),
            None => match default_path() {
                Some(p) => (p, false),
                None => return Ok(Self::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(e) => {
                return Err(ClientError::Config {
                    path,
                    message: e.to_string(),
                });
            }
        };
        Self::parse(&text).map_err(|message| ClientError::Config { path, message })
    }
}

/// The default config file path, if the platform has a config directory.
#[must_use]
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "natter").map(|d| d.config_dir().join("config.toml"))
}

/// The environment variables natter reads, captured once.
///
/// | variable          | meaning                                              |
/// |-------------------|------------------------------------------------------|
/// | `NATTER_SERVER`   | server address (below `--server`, above the config)  |
/// | `NATTER_USER`     | account name (below `--user`, above the config)      |
/// | `NATTER_TOKEN`    | an API token (`natterd token create`); tried first   |
/// | `NATTER_PASSWORD` | the password; first among password sources          |
/// | `NATTER_KEYRING`  | `secret-service`, `keyutils` or `none`: force a keyring |
/// | `USER`, `LOGNAME` | the default account name                             |
#[derive(Clone, Default)]
pub struct Env {
    pub server: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// `NATTER_TOKEN`.
    pub token: Option<String>,
    pub keyring: Option<String>,
    pub login_name: Option<String>,
    /// Whether stdin is a terminal (a password may be prompted for).
    pub stdin_is_terminal: bool,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("keyring", &self.keyring)
            .field("login_name", &self.login_name)
            .field("stdin_is_terminal", &self.stdin_is_terminal)
            .finish()
    }
}

impl Env {
    /// Reads the process environment. Empty variables count as unset.
    #[must_use]
    pub fn from_process() -> Self {
        use std::io::IsTerminal;
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            server: var("NATTER_SERVER"),
            user: var("NATTER_USER"),
            password: var("NATTER_PASSWORD"),
            token: var("NATTER_TOKEN"),
            keyring: var("NATTER_KEYRING"),
            login_name: var("USER").or_else(|| var("LOGNAME")),
            stdin_is_terminal: std::io::stdin().is_terminal(),
        }
    }
}

/// Values given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub server: Option<String>,
    pub user: Option<String>,
    pub ca_file: Option<PathBuf>,
}

/// The resolved settings every mode runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `host:port`, or several written `a:7878,b:7878` (tried in turn).
    pub server: String,
    /// The normalised account name.
    pub user: String,
    pub password_command: Option<String>,
    /// The private CA for TLS (flag, then config file).
    pub ca_file: Option<PathBuf>,
}

impl Settings {
    /// Resolves each setting: flag, then environment, then config file, then
    /// default.
    ///
    /// # Errors
    /// [`ClientError::Usage`] when no user name can be found or it is not a
    /// valid name.
    pub fn resolve(flags: &Flags, env: &Env, file: &FileConfig) -> Result<Self, ClientError> {
        let server = flags
            .server
            .clone()
            .or_else(|| env.server.clone())
            .or_else(|| file.server.clone())
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        // The list is parsed whole before the first connection (so a typo
        // in any of it is reported before the nodes ahead of it are
        // tried), but not here: `--local` replaces it, and must work
        // whatever the config file says.
        if server.trim().is_empty() {
            return Err(ClientError::Usage("the server address is empty".into()));
        }
        let user = flags
            .user
            .clone()
            .or_else(|| env.user.clone())
            .or_else(|| file.user.clone())
            .or_else(|| env.login_name.clone())
            .ok_or_else(|| {
                ClientError::Usage(
                    "no user name: pass --user, set NATTER_USER or `user` in the config".into(),
                )
            })?;
        let user = names::normalize_user(&user).map_err(|e| ClientError::Usage(e.to_string()))?;
        Ok(Self {
            server,
            user,
            password_command: file
                .password_command
                .clone()
                .filter(|c| !c.trim().is_empty()),
            ca_file: flags.ca_file.clone().or_else(|| file.ca_file.clone()),
        })
    }

    /// How the keyring entry for this account is named: `user@server`.
    #[must_use]
    pub fn keyring_account(&self) -> String {
        format!("{}@{}", self.user, self.server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_keys_and_refuses_unknown_ones() {
        let c = FileConfig::parse(
            "server = \"chat:1\"\nuser = \"bob\"\npassword_command = \"echo pw\"\n",
        )
        .unwrap();
        assert_eq!(c.server.as_deref(), Some("chat:1"));
        assert_eq!(c.user.as_deref(), Some("bob"));
        let list = FileConfig::parse("server = [\"a:1\", \"tls://b:2\"]\n").unwrap();
        assert_eq!(list.server.as_deref(), Some("a:1,tls://b:2"));
        for bad in [
            "server = [\"a:1,b:2\"]\n",
            "server = [\"\"]\n",
            "server = [1]\n",
        ] {
            let err = FileConfig::parse(bad).unwrap_err();
            assert!(
                err.contains("server") || err.contains("host:port"),
                "{bad}: {err}"
            );
        }
        assert_eq!(c.password_command.as_deref(), Some("echo pw"));
        assert_eq!(FileConfig::parse("").unwrap(), FileConfig::default());

        let err = FileConfig::parse("server = \"x\"\npasword_command = \"y\"\n").unwrap_err();
        assert!(err.contains("pasword_command"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = FileConfig::parse("server = 7\n").unwrap_err();
        assert!(err.contains("server"), "{err}");
    }

    #[test]
    fn explicit_file_must_exist_and_errors_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let err = FileConfig::load(Some(&missing)).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("nope.toml"), "{err}");

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "colour = \"red\"\n").unwrap();
        let err = FileConfig::load(Some(&bad)).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn tui_keys_parse_and_bad_colours_are_named() {
        let c = FileConfig::parse(
            "mouse = true\n[notify]\ndefault = \"all\"\nrooms = { \"#random\" = \"none\" }\n[colors]\naccent = \"lightmagenta\"\n",
        )
        .unwrap();
        assert!(c.mouse);
        assert_eq!(
            c.notify.level_for("#random"),
            crate::notify::NotifyLevel::None
        );
        assert_eq!(c.notify.level_for("#x"), crate::notify::NotifyLevel::All);
        let theme = c.colors.apply(crate::ui::Theme::default()).unwrap();
        assert_eq!(theme.accent, ratatui::style::Color::LightMagenta);
        // A bad colour is the file's error, found when it is read.
        let err = FileConfig::parse("[colors]\nerror = \"blurple\"\n").unwrap_err();
        assert!(
            err.contains("colors.error") && err.contains("blurple"),
            "{err}"
        );
    }

    #[test]
    fn the_theme_is_a_preset_with_any_element_overridden() {
        use crate::ui::Theme;
        use ratatui::style::Color;
        let c = FileConfig::parse("").unwrap();
        assert_eq!(c.theme().unwrap(), Theme::dark());
        let c = FileConfig::parse("theme = \"light\"\n").unwrap();
        assert_eq!(c.theme().unwrap(), Theme::light());
        let c = FileConfig::parse(
            "theme = \"light\"\n[colors]\nborder = \"blue\"\nown_nick = \"#ff8800\"\nstatus_bg = \"reset\"\nhighlight = \"208\"\nnicks = [\"red\", \"green\"]\n",
        )
        .unwrap();
        let theme = c.theme().unwrap();
        assert_eq!(theme.border, Color::Blue);
        assert_eq!(theme.own_nick, Color::Rgb(0xff, 0x88, 0x00));
        assert_eq!(theme.status_bg, Color::Reset);
        assert_eq!(theme.highlight, Color::Indexed(208));
        assert_eq!(
            theme.nicks[..4],
            [Color::Red, Color::Green, Color::Red, Color::Green]
        );
        // What was not overridden is the preset's.
        assert_eq!(theme.time, Theme::light().time);

        let err = FileConfig::parse("theme = \"solarized\"\n").unwrap_err();
        assert!(err.contains("theme") && err.contains("solarized"), "{err}");
        let err = FileConfig::parse("[colors]\nnicks = [\"red\", \"mauve\"]\n").unwrap_err();
        assert!(
            err.contains("colors.nicks") && err.contains("mauve"),
            "{err}"
        );
        let err = FileConfig::parse("[colors]\nnicks = []\n").unwrap_err();
        assert!(err.contains("colors.nicks"), "{err}");
        let err = FileConfig::parse("[colors]\nborders = \"red\"\n").unwrap_err();
        assert!(err.contains("borders"), "{err}");
    }

    #[test]
    fn highlights_and_keys_parse_and_bad_keys_are_named() {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let c = FileConfig::parse(
            "highlights = [\"deploy\", \"natter\"]\n[keys]\n\"ctrl+j\" = \"next_room\"\n\"f5\" = \"reconnect\"\n\"ctrl+n\" = \"none\"\n",
        )
        .unwrap();
        assert_eq!(c.highlights, ["deploy", "natter"]);
        let keys = c.keymap().unwrap();
        let main =
            |code, m| keys.action(crate::app::keys::Context::Main, &KeyEvent::new(code, m), "");
        assert_eq!(
            main(KeyCode::Char('j'), KeyModifiers::CONTROL),
            Some(crate::app::Action::NextRoom)
        );
        assert_eq!(
            main(KeyCode::F(5), KeyModifiers::NONE),
            Some(crate::app::Action::Reconnect)
        );
        assert_eq!(main(KeyCode::Char('n'), KeyModifiers::CONTROL), None);

        let err = FileConfig::parse("[keys]\n\"ctrl+j\" = \"nxt_room\"\n").unwrap_err();
        assert!(
            err.contains("keys.\"ctrl+j\"") && err.contains("unknown action \"nxt_room\""),
            "{err}"
        );
        assert!(err.contains("next_room"), "lists the actions: {err}");
        let err = FileConfig::parse("[keys]\n\"hyper+j\" = \"help\"\n").unwrap_err();
        assert!(
            err.contains("keys.\"hyper+j\"") && err.contains("hyper"),
            "{err}"
        );
        let err = FileConfig::parse("[keys]\n\"f13\" = \"help\"\n").unwrap_err();
        assert!(err.contains("unknown key \"f13\""), "{err}");
        // An overlay's action is not the main screen's.
        let err = FileConfig::parse("[keys]\n\"f6\" = \"confirm\"\n").unwrap_err();
        assert!(err.contains("confirm"), "{err}");
        // And through the loader, the error names the file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(&path, "[keys]\n\"ctrl+j\" = \"jump\"\n").unwrap();
        let err = FileConfig::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("keys.toml") && err.contains("jump"), "{err}");
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let file = FileConfig {
            server: Some("file:1".into()),
            user: Some("fileuser".into()),
            password_command: Some("echo x".into()),
            ..FileConfig::default()
        };
        let env = Env {
            server: Some("env:1".into()),
            user: Some("envuser".into()),
            login_name: Some("login".into()),
            ..Env::default()
        };
        let flags = Flags {
            server: Some("flag:1".into()),
            user: Some("FlagUser".into()),
            ca_file: None,
        };
        let s = Settings::resolve(&flags, &env, &file).unwrap();
        assert_eq!((s.server.as_str(), s.user.as_str()), ("flag:1", "flaguser"));
        assert_eq!(s.keyring_account(), "flaguser@flag:1");

        let s = Settings::resolve(&Flags::default(), &env, &file).unwrap();
        assert_eq!((s.server.as_str(), s.user.as_str()), ("env:1", "envuser"));

        let only_login = Env {
            login_name: Some("login".into()),
            ..Env::default()
        };
        let s = Settings::resolve(&Flags::default(), &only_login, &file).unwrap();
        assert_eq!((s.server.as_str(), s.user.as_str()), ("file:1", "fileuser"));

        let s = Settings::resolve(&Flags::default(), &only_login, &FileConfig::default()).unwrap();
        assert_eq!(
            (s.server.as_str(), s.user.as_str()),
            (DEFAULT_SERVER, "login")
        );
        assert_eq!(s.password_command, None);
    }

    #[test]
    fn missing_or_invalid_user_is_a_usage_error() {
        let err = Settings::resolve(&Flags::default(), &Env::default(), &FileConfig::default())
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let flags = Flags {
            user: Some("no spaces".into()),
            ..Flags::default()
        };
        let err = Settings::resolve(&flags, &Env::default(), &FileConfig::default()).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn debug_output_hides_the_password() {
        let env = Env {
            password: Some("hunter2".into()),
            ..Env::default()
        };
        assert!(!format!("{env:?}").contains("hunter2"));
    }
}
