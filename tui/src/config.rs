//! Where the client's settings come from: command-line flags, environment
//! variables, the config file and defaults, in that order of precedence.
//!
//! The config file is `config.toml` in the platform config directory
//! (`~/.config/natter/config.toml` on Linux, honouring `XDG_CONFIG_HOME`) or
//! the file given with `--config`. Its keys:
//!
//! ```toml
//! server = "chat.example.org:7878"   # host:port of natterd
//! user = "alice"                     # default: $USER
//! password_command = "pass show natter"  # run with `sh -c`; first line of stdout
//! ca_file = "/etc/natter/ca.pem"     # private CA for tls:// servers
//! open_command = "firefox"           # what /open N runs (default xdg-open)
//!
//! [log]
//! chat = true                        # chat logs in ~/.local/share/natter/logs
//! ```
//!
//! The process environment is read once, into [`Env`], by the binary; the
//! library only ever sees that value, so tests pass a fake one.

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
    /// `host:port` of the server.
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
    /// Colours of the full-screen client, by name (`cyan`, `lightred`),
    /// index (`208`) or `#rrggbb`.
    #[serde(default)]
    pub colors: Colors,
    // -- chat logs and `/open` --
    /// Chat logs, off by default (`crate::chatlog`).
    #[serde(default)]
    pub log: LogConfig,
    /// What `/open N` runs, the URL added as its last argument; split at
    /// spaces, not run by a shell. Default `xdg-open`.
    pub open_command: Option<String>,
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

/// Colour overrides; unset keys keep the default theme.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Colors {
    pub accent: Option<String>,
    pub unread: Option<String>,
    pub mention: Option<String>,
    pub error: Option<String>,
    pub dim: Option<String>,
}

impl Colors {
    /// The theme with these overrides applied.
    ///
    /// # Errors
    /// A colour name that does not parse, named with its key.
    pub fn apply(&self, mut theme: crate::ui::Theme) -> Result<crate::ui::Theme, String> {
        use std::str::FromStr;
        let pick = |key: &str, value: &Option<String>, slot: &mut ratatui::style::Color| {
            if let Some(v) = value {
                *slot = ratatui::style::Color::from_str(v)
                    .map_err(|_| format!("colors.{key}: unknown colour {v:?}"))?;
            }
            Ok::<(), String>(())
        };
        pick("accent", &self.accent, &mut theme.accent)?;
        pick("unread", &self.unread, &mut theme.unread)?;
        pick("mention", &self.mention, &mut theme.mention)?;
        pick("error", &self.error, &mut theme.error)?;
        pick("dim", &self.dim, &mut theme.dim)?;
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
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
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
/// | `NATTER_PASSWORD` | the password; first among credential sources        |
/// | `NATTER_KEYRING`  | `secret-service`, `keyutils` or `none`: force a keyring |
/// | `USER`, `LOGNAME` | the default account name                             |
#[derive(Clone, Default)]
pub struct Env {
    pub server: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
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
    /// `host:port`.
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
        let bad = FileConfig::parse("[colors]\nerror = \"blurple\"\n").unwrap();
        let err = bad.colors.apply(crate::ui::Theme::default()).unwrap_err();
        assert!(
            err.contains("colors.error") && err.contains("blurple"),
            "{err}"
        );
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
