//! Choices made about rooms while natter runs: `/notify`, `/mute` and
//! `/close`. They are the user's, not the server's, so they live on this
//! machine, in the state dir, one small TOML file per account
//! (`rooms-USER@SERVER.toml`), and come back at the next start. The
//! config file's `[notify]` table is the starting point; these override
//! it room by room.
//!
//! The app keeps a [`RoomPrefs`] and hands a copy to the event loop after
//! each change (`Effect::SavePrefs`), which writes it off the UI task.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use natter_shared::MessageId;
use serde::{Deserialize, Serialize};

use crate::notify::NotifyLevel;

/// Per-room choices, by room name (`#room`, `@user`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomPrefs {
    /// `/notify all|mentions|none`.
    pub notify: BTreeMap<String, NotifyLevel>,
    /// `/mute`: no notifications, and the room's unread count is left out
    /// of the total and the title.
    pub muted: BTreeSet<String>,
    /// `/close`: direct conversations hidden until a message newer than
    /// this id arrives.
    pub closed: BTreeMap<String, MessageId>,
    /// `/fold`: categories of the rooms pane shown folded (by their name;
    /// [`crate::app::modes::DIRECT`] for direct conversations).
    pub folded: BTreeSet<String>,
}

impl RoomPrefs {
    /// The file for `account` (`user@server`) in `dir`. The account is
    /// spelled so that no name can leave the directory.
    #[must_use]
    pub fn path(dir: &Path, account: &str) -> PathBuf {
        let safe: String = account
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        dir.join(format!("rooms-{safe}.toml"))
    }

    /// The default place: the state dir (or the data dir where there is
    /// none, as on macOS).
    #[must_use]
    pub fn default_path(account: &str) -> Option<PathBuf> {
        let dirs = directories::ProjectDirs::from("", "", "natter")?;
        let dir = dirs
            .state_dir()
            .map_or_else(|| dirs.data_local_dir().to_path_buf(), Path::to_path_buf);
        Some(Self::path(&dir, account))
    }

    /// What `path` holds; nothing when it is missing. A damaged file is
    /// logged and ignored: choices about rooms are not worth refusing to
    /// start over.
    #[must_use]
    pub fn load(path: &Path) -> Self {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "room preferences ignored");
                Self::default()
            }),
            Err(_) => Self::default(),
        }
    }

    /// Writes the choices to `path` (0600), atomically: a crash leaves the
    /// old file or the new one, never half of one.
    ///
    /// # Errors
    /// When the directory cannot be made or the file written.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = toml::to_string(self).map_err(io::Error::other)?;
        let tmp = path.with_extension("toml.tmp");
        {
            use std::io::Write as _;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut file = options.open(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_survive_a_save_and_a_load_and_damage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = RoomPrefs::path(dir.path(), "alice@chat:7878/../x");
        assert_eq!(path.parent(), Some(dir.path()), "{}", path.display());
        assert_eq!(RoomPrefs::load(&path), RoomPrefs::default(), "no file yet");
        let mut prefs = RoomPrefs::default();
        prefs.notify.insert("#ops".into(), NotifyLevel::All);
        prefs.muted.insert("#random".into());
        prefs.closed.insert("@bob".into(), 42);
        prefs.save(&path).unwrap();
        assert_eq!(RoomPrefs::load(&path), prefs);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "notify = 3\n").unwrap();
        assert_eq!(RoomPrefs::load(&path), RoomPrefs::default());
    }
}
