//! The event loop's side of files: it runs the transfers the app asks for
//! ([`crate::app::Effect::Upload`], `Download`, `Thumb`) on tasks of their
//! own, each on a transfer connection (see `natter_client::transfer`),
//! reports their progress at most ten times a second, and cancels them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use natter_shared::{Attachment, FileId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app::files::{Thumb, TransferEvent};
use crate::conn::{ConnectOptions, Connection};
use crate::error::ClientError;
use crate::transfer::{Progress, Source, Transfer, unique_path};

/// How often a transfer's progress reaches the app.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What a transfer task reports to the loop.
#[derive(Debug)]
pub enum Report {
    Transfer(u64, TransferEvent),
    Thumb(FileId, Option<Thumb>),
}

/// Where transfers go: the chat connection whose session they belong
/// to, how to connect, and where to report.
#[derive(Debug, Clone)]
pub struct Link {
    pub conn: Connection,
    pub opts: ConnectOptions,
    pub out: mpsc::UnboundedSender<Report>,
}

/// The transfers under way, to cancel them.
#[derive(Debug, Default)]
pub struct Running {
    cancels: HashMap<u64, CancellationToken>,
}

/// Where `/open` keeps what it downloads: the cache dir.
fn open_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "natter")
        .map_or_else(std::env::temp_dir, |d| d.cache_dir().join("files"))
}

/// A progress callback that reports at most every [`PROGRESS_EVERY`], and
/// always the last step.
fn reporter(id: u64, out: mpsc::UnboundedSender<Report>) -> impl FnMut(Progress) {
    let mut last: Option<Instant> = None;
    move |p| {
        let due = last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) || p.done == p.total;
        if due {
            last = Some(Instant::now());
            let _ = out.send(Report::Transfer(
                id,
                TransferEvent::Progress {
                    done: p.done,
                    total: p.total,
                },
            ));
        }
    }
}

fn failed(e: &ClientError) -> TransferEvent {
    TransferEvent::Failed(match e {
        ClientError::Server(reply) => reply.message.clone(),
        other => other.to_string(),
    })
}

impl Running {
    /// Uploads `path` as `name` on a transfer connection of `conn`'s session.
    pub fn upload(&mut self, link: &Link, id: u64, path: PathBuf, name: String) {
        let token = CancellationToken::new();
        self.cancels.insert(id, token.clone());
        let Link { conn, opts, out } = link.clone();
        tokio::spawn(async move {
            let result = async {
                let source =
                    tokio::task::spawn_blocking(move || Source::from_path(&path, Some(&name)))
                        .await
                        .map_err(|e| ClientError::Protocol(e.to_string()))??;
                let transfer = Transfer::open(&conn, &opts).await?;
                let file = transfer
                    .upload(&source, &token, reporter(id, out.clone()))
                    .await;
                transfer.close();
                file
            }
            .await;
            let event = match result {
                Ok(file) => TransferEvent::Uploaded(file),
                Err(e) => failed(&e),
            };
            let _ = out.send(Report::Transfer(id, event));
        });
    }

    /// Downloads `file` into `dir` (the download dir without one; the
    /// cache for `open`), never over an existing file.
    pub fn download(
        &mut self,
        link: &Link,
        id: u64,
        file: Attachment,
        dir: Option<PathBuf>,
        open: bool,
    ) {
        let token = CancellationToken::new();
        self.cancels.insert(id, token.clone());
        let Link { conn, opts, out } = link.clone();
        let dir = if open {
            open_dir()
        } else {
            dir.unwrap_or_else(crate::script::files::download_dir)
        };
        tokio::spawn(async move {
            let result = async {
                std::fs::create_dir_all(&dir).map_err(|source| ClientError::File {
                    path: dir.clone(),
                    source,
                })?;
                let dest = unique_path(&dir, &file.name);
                let transfer = Transfer::open(&conn, &opts).await?;
                let done = transfer
                    .download(&file, false, &dest, &token, reporter(id, out.clone()))
                    .await;
                transfer.close();
                done.map(|()| dest)
            }
            .await;
            let event = match result {
                Ok(path) => TransferEvent::Saved(path),
                Err(e) => failed(&e),
            };
            let _ = out.send(Report::Transfer(id, event));
        });
    }

    /// Fetches and decodes `file`'s thumbnail for its preview.
    pub fn thumbnail(link: &Link, file: Attachment) {
        let Link { conn, opts, out } = link.clone();
        tokio::spawn(async move {
            let thumb = async {
                let transfer = Transfer::open(&conn, &opts).await.ok()?;
                let png = transfer.thumbnail(&file).await.ok();
                transfer.close();
                tokio::task::spawn_blocking(move || decode(&png?))
                    .await
                    .ok()
                    .flatten()
            }
            .await;
            let _ = out.send(Report::Thumb(file.file, thumb));
        });
    }

    /// Stops transfer `id`.
    pub fn cancel(&mut self, id: u64) {
        if let Some(t) = self.cancels.remove(&id) {
            t.cancel();
        }
    }

    /// Forgets a transfer that ended.
    pub fn ended(&mut self, id: u64) {
        self.cancels.remove(&id);
    }
}

/// A thumbnail in the terminal's graphics, at the size its half-block
/// preview takes ([`crate::app::files::preview_cells`]).
#[must_use]
pub fn graphic(
    picker: &ratatui_image::picker::Picker,
    t: &Thumb,
) -> Option<crate::app::files::Graphic> {
    let (cols, rows) = crate::app::files::preview_cells(t, crate::app::files::PREVIEW_COLS);
    let flat: Vec<u8> = t.rgb.iter().flatten().copied().collect();
    let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_raw(t.width, t.height, flat)?);
    let size = ratatui::layout::Size::new(u16::try_from(cols).ok()?, u16::try_from(rows).ok()?);
    let protocol = picker
        .new_protocol(image, size, ratatui_image::Resize::Fit(None))
        .ok()?;
    Some(crate::app::files::Graphic {
        cols,
        rows,
        protocol,
    })
}

/// A thumbnail's pixels, from its PNG.
fn decode(png: &[u8]) -> Option<Thumb> {
    let image = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .ok()?
        .to_rgb8();
    Some(Thumb {
        width: image.width(),
        height: image.height(),
        rgb: image.pixels().map(|p| p.0).collect(),
    })
}
