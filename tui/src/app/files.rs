//! Files in the full-screen client: `/upload`, `/download`, `/open` of an
//! attachment, the transfers under way (shown in the status line, Esc
//! cancels the newest), a pasted file path offered for upload, and the
//! thumbnails that previews are drawn from.
//!
//! The loop in `crate::tui` does the transfers (on transfer connections of
//! their own, see `natter_client::transfer`) and reports back through
//! [`App::on_transfer`]; nothing here touches a file or a socket.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use natter_shared::{Attachment, FileId};

use super::timeline::EntryKind;
use super::{App, Effect};

/// What a transfer is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// `/upload`: post it to `room` with `caption` once it is up.
    Upload { room: String, caption: String },
    /// `/download`: save it (into `dir`, or the download dir).
    Save,
    /// `/open`: save it to the cache, then open it.
    Open,
}

/// A transfer under way, as the status line shows it.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub id: u64,
    pub name: String,
    pub purpose: Purpose,
    pub done: u64,
    pub total: u64,
    pub started: Instant,
    /// Where it stood when it started (a resumed transfer), so the rate
    /// counts only what moved now: `None` until the first report.
    pub from: Option<u64>,
}

impl Transfer {
    /// Bytes per second so far.
    #[must_use]
    pub fn rate(&self, now: Instant) -> f64 {
        let secs = now.saturating_duration_since(self.started).as_secs_f64();
        if secs < 0.2 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)] // a rate for people
        let moved = self.done.saturating_sub(self.from.unwrap_or(0)) as f64;
        moved / secs
    }

    /// Seconds left at the rate so far.
    #[must_use]
    pub fn eta(&self, now: Instant) -> Option<u64> {
        let rate = self.rate(now);
        if rate < 1.0 {
            return None;
        }
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        Some((self.total.saturating_sub(self.done) as f64 / rate).ceil() as u64)
    }

    /// Done, in percent.
    #[must_use]
    pub fn percent(&self) -> u64 {
        (self.done * 100)
            .checked_div(self.total)
            .unwrap_or(100)
            .min(100)
    }
}

/// What the loop reports about a transfer.
#[derive(Debug, Clone)]
pub enum TransferEvent {
    Progress {
        done: u64,
        total: u64,
    },
    /// An upload is stored: post it.
    Uploaded(Attachment),
    /// A download is saved (and checked) here.
    Saved(PathBuf),
    /// It failed, or was cancelled; why, for a notice.
    Failed(String),
}

/// A thumbnail, decoded: RGB pixels, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumb {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<[u8; 3]>,
}

impl Thumb {
    /// The pixel at `(x, y)`, clamped to the image.
    #[must_use]
    pub fn at(&self, x: u32, y: u32) -> [u8; 3] {
        let x = x.min(self.width.saturating_sub(1));
        let y = y.min(self.height.saturating_sub(1));
        let i = (y as usize) * (self.width as usize) + x as usize;
        self.rgb.get(i).copied().unwrap_or_default()
    }
}

/// A preview in the terminal's own graphics (kitty, iTerm2, sixel), made
/// from the thumbnail for a box of `cols` x `rows` cells.
pub struct Graphic {
    pub cols: usize,
    pub rows: usize,
    pub protocol: ratatui_image::protocol::Protocol,
}

impl std::fmt::Debug for Graphic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graphic")
            .field("cols", &self.cols)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// The client's transfers and thumbnails.
#[derive(Debug, Default)]
pub struct Files {
    pub transfers: Vec<Transfer>,
    next: u64,
    /// Thumbnails fetched (or being fetched: `None`), by file.
    pub thumbs: HashMap<FileId, Option<Thumb>>,
    /// Thumbnails in the terminal's graphics, when it has them
    /// ([`ImageMode::Auto`]); drawn over the half blocks when a preview is
    /// whole on screen at the size they were made for.
    pub graphics: HashMap<FileId, Graphic>,
    /// A pasted path waiting for "upload? y/n".
    pub offered: Option<PathBuf>,
}

/// The widest a preview gets, in columns.
pub const PREVIEW_COLS: usize = 48;

/// Most rows a preview takes.
pub const PREVIEW_ROWS: usize = 8;

/// How a preview fits `cols` columns: its size in cells (each cell two
/// pixels high: the upper and lower half block).
#[must_use]
pub fn preview_cells(thumb: &Thumb, cols: usize) -> (usize, usize) {
    if thumb.width == 0 || thumb.height == 0 || cols == 0 {
        return (0, 0);
    }
    let (w, h) = (thumb.width as usize, thumb.height as usize);
    // A cell is about twice as high as wide: one cell per pixel across,
    // two pixels down.
    let mut cols = cols.min(w).min(PREVIEW_ROWS * 2 * w / h.max(1)).max(1);
    let mut rows = (cols * h).div_ceil(w * 2).max(1);
    if rows > PREVIEW_ROWS {
        rows = PREVIEW_ROWS;
        cols = (rows * 2 * w / h).max(1);
    }
    (cols, rows)
}

/// `~/x` as the home directory's `x`.
#[must_use]
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// A paste that is one local file's path (as a file manager drops it):
/// `file://` URLs and quoted paths included.
#[must_use]
pub fn pasted_path(text: &str) -> Option<PathBuf> {
    let t = text.trim();
    if t.is_empty() || t.contains('\n') {
        return None;
    }
    let t = t
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| t.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
        .unwrap_or(t);
    let t = t.strip_prefix("file://").unwrap_or(t);
    if !(t.starts_with('/') || t.starts_with("~/")) {
        return None;
    }
    let p = expand_home(t);
    p.is_file().then_some(p)
}

impl App {
    /// Whether the server takes files.
    fn files_supported(&self) -> bool {
        self.features
            .as_ref()
            .is_none_or(|f| f.iter().any(|x| x == natter_shared::features::FILES))
    }

    fn start(&mut self, name: &str, purpose: Purpose, total: u64) -> u64 {
        self.files.next += 1;
        let id = self.files.next;
        self.files.transfers.push(Transfer {
            id,
            name: name.to_owned(),
            purpose,
            done: 0,
            total,
            started: Instant::now(),
            from: None,
        });
        id
    }

    /// `/upload PATH [caption]` in the room on screen.
    pub(super) fn upload(&mut self, path: &str, caption: String, now_ms: i64) -> Vec<Effect> {
        let Some(room) = self.room().map(|r| r.name.clone()) else {
            self.error(now_ms, "join a room first: /join #room");
            return Vec::new();
        };
        if !self.files_supported() {
            self.error(now_ms, "this server takes no files");
            return Vec::new();
        }
        let path = expand_home(path);
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => {
                self.error(now_ms, format!("{} is not a file", path.display()));
                return Vec::new();
            }
            Err(e) => {
                self.error(now_ms, format!("{}: {e}", path.display()));
                return Vec::new();
            }
        };
        if let Some(max) = self.max_file
            && meta.len() > max
        {
            self.error(
                now_ms,
                format!(
                    "{} is {}; this server takes files up to {}",
                    path.display(),
                    natter_shared::text::human_size(meta.len()),
                    natter_shared::text::human_size(max)
                ),
            );
            return Vec::new();
        }
        let name = path
            .file_name()
            .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
        let id = self.start(&name, Purpose::Upload { room, caption }, meta.len());
        vec![Effect::Upload { id, path, name }]
    }

    /// The Nth newest file carried by the messages loaded in the room on
    /// screen (the last file of the newest message is 1).
    fn nth_file(&self, n: usize) -> Option<Attachment> {
        let room = self.room()?;
        room.entries
            .iter()
            .rev()
            .filter(|e| match &e.kind {
                EntryKind::Msg { from, .. } => *from == self.user || !self.safety.is_blocked(from),
                _ => false,
            })
            .flat_map(|e| e.rich.attachments.iter().rev())
            .nth(n.saturating_sub(1))
            .cloned()
    }

    /// `/download [N] [DIR]`.
    pub(super) fn download(&mut self, n: usize, dir: Option<String>, now_ms: i64) -> Vec<Effect> {
        let Some(file) = self.nth_file(n) else {
            self.error(now_ms, format!("no file {n} in this room"));
            return Vec::new();
        };
        self.fetch(file, Purpose::Save, dir.map(|d| expand_home(&d)))
    }

    /// Downloads `file` for `purpose`.
    pub(crate) fn fetch(
        &mut self,
        file: Attachment,
        purpose: Purpose,
        dir: Option<PathBuf>,
    ) -> Vec<Effect> {
        let open = purpose == Purpose::Open;
        let id = self.start(&file.name, purpose, file.size);
        vec![Effect::Download {
            id,
            file,
            dir,
            open,
        }]
    }

    /// `/open N` when the Nth newest item is a file rather than a link.
    pub(super) fn open_file(&mut self, file: Attachment) -> Vec<Effect> {
        self.fetch(file, Purpose::Open, None)
    }

    /// Esc while something moves: stops the newest transfer.
    pub(super) fn cancel_transfer(&mut self) -> Option<Vec<Effect>> {
        let t = self.files.transfers.last()?;
        Some(vec![Effect::CancelTransfer { id: t.id }])
    }

    /// What the loop reports about transfer `id`.
    pub fn on_transfer(&mut self, id: u64, event: TransferEvent, now_ms: i64) -> Vec<Effect> {
        let Some(pos) = self.files.transfers.iter().position(|t| t.id == id) else {
            return Vec::new();
        };
        match event {
            TransferEvent::Progress { done, total } => {
                let t = &mut self.files.transfers[pos];
                if t.from.is_none() {
                    // The first report says where it starts: past 0 for a
                    // resumed transfer.
                    t.from = Some(done);
                    t.started = Instant::now();
                }
                t.done = done;
                t.total = total;
                Vec::new()
            }
            TransferEvent::Uploaded(file) => {
                let t = self.files.transfers.remove(pos);
                let Purpose::Upload { room, caption } = t.purpose else {
                    return Vec::new();
                };
                self.send_files(&room, caption, vec![file], now_ms)
            }
            TransferEvent::Saved(path) => {
                let t = self.files.transfers.remove(pos);
                if t.purpose == Purpose::Save {
                    self.note(format!("saved {} to {}", t.name, path.display()));
                    Vec::new()
                } else {
                    vec![Effect::OpenPath { path }]
                }
            }
            TransferEvent::Failed(why) => {
                let t = self.files.transfers.remove(pos);
                let what = match t.purpose {
                    Purpose::Upload { .. } => "upload of",
                    Purpose::Save => "download of",
                    Purpose::Open => "opening",
                };
                self.error(now_ms, format!("{what} {} failed: {why}", t.name));
                Vec::new()
            }
        }
    }

    /// Shows a message with files as pending and sends it.
    fn send_files(
        &mut self,
        room: &str,
        caption: String,
        files: Vec<Attachment>,
        now_ms: i64,
    ) -> Vec<Effect> {
        let mut effects = self.send_rich(room, caption, false, None, None, now_ms);
        let local = match effects.iter_mut().find_map(|e| match e {
            Effect::Send {
                local, files: f, ..
            } => Some((*local, f)),
            _ => None,
        }) {
            Some((local, f)) => {
                f.clone_from(&files);
                Some(local)
            }
            // Offline: the message waits in the queue, files and all.
            None => self.composer.last_queued_mut().map(|q| {
                q.files.clone_from(&files);
                q.local
            }),
        };
        if let (Some(local), Some(r)) = (local, self.rooms.by_name_mut(room)) {
            r.entries.set_pending_files(local, files);
        }
        effects
    }

    /// The thumbnails previews are drawn from, unless previews are off.
    #[must_use]
    pub fn previews(&self) -> Option<&HashMap<FileId, Option<Thumb>>> {
        previews(&self.settings, &self.files)
    }

    /// Thumbnails to fetch for the room on screen: images whose previews
    /// would show and that are not fetched yet.
    pub fn wanted_thumbs(&mut self) -> Vec<Effect> {
        if self.settings.images == ImageMode::Off {
            return Vec::new();
        }
        let Some(room) = self.room() else {
            return Vec::new();
        };
        let want: Vec<Attachment> = room
            .entries
            .iter()
            .rev()
            .take(200)
            .flat_map(|e| e.rich.attachments.iter())
            .filter(|a| a.thumb > 0 && !self.files.thumbs.contains_key(&a.file))
            .take(8)
            .cloned()
            .collect();
        want.into_iter()
            .map(|file| {
                self.files.thumbs.insert(file.file, None);
                Effect::Thumb { file }
            })
            .collect()
    }

    /// A thumbnail arrived (or could not be had: then nothing is shown).
    pub fn on_thumb(&mut self, file: FileId, thumb: Option<Thumb>) {
        if let Some(t) = thumb {
            self.files.thumbs.insert(file, Some(t));
        }
    }

    /// The same thumbnail in the terminal's graphics (see
    /// [`crate::tui`], which has the terminal's picker).
    pub fn on_graphic(&mut self, file: FileId, graphic: Graphic) {
        self.files.graphics.insert(file, graphic);
    }

    /// A paste: a file's path is offered for upload instead of typed.
    /// Returns whether the paste was taken.
    pub(super) fn offer_paste(&mut self, text: &str) -> bool {
        if self.room().is_none() || !self.files_supported() {
            return false;
        }
        let Some(path) = pasted_path(text) else {
            return false;
        };
        self.note(format!(
            "upload {}? y/n (n pastes the path as text)",
            path.display()
        ));
        self.files.offered = Some(path);
        true
    }

    /// The answer to "upload PATH? y/n".
    pub(super) fn answer_offer(&mut self, yes: bool, now_ms: i64) -> Vec<Effect> {
        let Some(path) = self.files.offered.take() else {
            return Vec::new();
        };
        if yes {
            self.upload(&path.to_string_lossy(), String::new(), now_ms)
        } else {
            self.composer.insert_str(&path.to_string_lossy());
            Vec::new()
        }
    }
}

/// The thumbnails previews are drawn from, unless `images = "off"`.
#[must_use]
pub fn previews<'a>(
    settings: &super::Settings,
    files: &'a Files,
) -> Option<&'a HashMap<FileId, Option<Thumb>>> {
    (settings.images != ImageMode::Off).then_some(&files.thumbs)
}

/// `images` in the config: how previews are drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageMode {
    /// The terminal's graphics where they work, half blocks elsewhere.
    #[default]
    Auto,
    /// Coloured half blocks, from the thumbnail, in any terminal.
    Halfblocks,
    /// No previews: the attachment line only.
    Off,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_keep_their_shape_within_bounds() {
        let t = |w, h| Thumb {
            width: w,
            height: h,
            rgb: vec![[0, 0, 0]; (w * h) as usize],
        };
        assert_eq!(preview_cells(&t(320, 160), 40), (32, 8));
        assert_eq!(preview_cells(&t(320, 320), 40), (16, 8));
        assert_eq!(preview_cells(&t(320, 40), 40), (40, 3));
        assert_eq!(preview_cells(&t(4, 4), 40), (4, 2));
        assert_eq!(preview_cells(&t(0, 4), 40), (0, 0));
    }

    #[test]
    fn a_pasted_path_is_a_file_that_exists() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("shot one.png");
        std::fs::write(&f, "x").unwrap();
        let s = f.to_str().unwrap();
        assert_eq!(pasted_path(s), Some(f.clone()));
        assert_eq!(pasted_path(&format!("'{s}'\n")), Some(f.clone()));
        assert_eq!(pasted_path(&format!("file://{s}")), Some(f.clone()));
        assert_eq!(pasted_path("hello world"), None);
        assert_eq!(pasted_path(dir.path().to_str().unwrap()), None);
        assert_eq!(pasted_path(&format!("{s}\n{s}")), None);
    }

    #[test]
    fn rates_and_times_left() {
        let start = Instant::now();
        let t = Transfer {
            id: 1,
            name: "a".into(),
            purpose: Purpose::Save,
            done: 5_000_000,
            total: 10_000_000,
            started: start,
            from: Some(0),
        };
        let later = start + std::time::Duration::from_secs(5);
        assert!((t.rate(later) - 1_000_000.0).abs() < 1.0);
        assert_eq!(t.eta(later), Some(5));
        assert_eq!(t.percent(), 50);
    }
}
