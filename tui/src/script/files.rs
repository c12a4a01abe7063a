//! The scripting modes for files: `natter --send ROOM --file PATH`
//! (repeatable; `-` is stdin) and `natter download ID`. Each exits 0 only
//! once the work is done and checked: the message stored with its
//! attachments, or every file on disk with its checksum matching.
//!
//! Both resume: an interrupted `--send --file` run again continues the
//! upload where the server stopped, and an interrupted download continues
//! from its `.part` file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use natter_shared::{Attachment, HistoryQuery, MessageId, features};
use tokio_util::sync::CancellationToken;

use super::changes::with_feature;
use super::{Context, Placement, joining, parse_room};
use crate::error::ClientError;
use crate::transfer::{Source, Transfer, unique_path};

/// The name a file read from stdin gets without `--name`.
pub const STDIN_NAME: &str = "stdin.txt";

/// stdin copied to a private temporary file (removed when dropped): an
/// upload needs its size and hash before the first byte goes.
struct Spooled(PathBuf);

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spool(mut input: impl Read) -> Result<Spooled, ClientError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = std::env::temp_dir().join(format!(
        "natter-stdin-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let io = |source| ClientError::Io {
        context: "cannot keep stdin for the upload",
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    let spooled = Spooled(path);
    std::io::copy(&mut input, &mut f).map_err(io)?;
    f.flush().map_err(io)?;
    Ok(spooled)
}

/// `natter --send ROOM [TEXT] --file PATH...`: uploads each file (`-`
/// reads stdin, named `name` or [`STDIN_NAME`]) and posts one message
/// carrying them all, with `body` as its caption (which may be empty).
///
/// # Errors
/// [`ClientError::Usage`] for a bad room, a missing file or a directory;
/// the server's refusal of a file (`too_large`, `quota`, `rejected`,
/// `storage_full`) or of the message; connection and local errors.
pub async fn send_with_files(
    ctx: &Context,
    room: &str,
    body: &str,
    place: Placement,
    files: &[PathBuf],
    name: Option<&str>,
    stdin: impl Read,
) -> Result<(MessageId, i64), ClientError> {
    let room = parse_room(room)?;
    if files.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(ClientError::Usage(
            "stdin can be only one of the files (--file -)".into(),
        ));
    }
    // Everything local is read before anything is sent: a typo in the
    // third path must not leave two files uploaded for nothing.
    let mut spooled = None;
    let mut stdin = Some(stdin);
    let mut sources = Vec::with_capacity(files.len());
    for path in files {
        if path.as_os_str() == "-" {
            let s = spool(
                stdin
                    .take()
                    .ok_or_else(|| ClientError::Usage("stdin twice".into()))?,
            )?;
            sources.push(Source::from_path(&s.0, Some(name.unwrap_or(STDIN_NAME)))?);
            spooled = Some(s);
        } else {
            let named = if files.len() == 1 { name } else { None };
            sources.push(Source::from_path(path, named)?);
        }
    }
    let body = body.to_owned();
    let result = with_feature(ctx, features::FILES, "files", |conn| async move {
        let transfer = Transfer::open(&conn, &ctx.connect).await?;
        let mut ids = Vec::with_capacity(sources.len());
        for source in &sources {
            let file = transfer
                .upload(source, &CancellationToken::new(), resume_note(&source.name))
                .await?;
            tracing::debug!(name = file.name, id = file.file, "uploaded");
            ids.push(file.file);
        }
        transfer.close();
        let sent = joining(&conn, &room, || {
            conn.send_files(&room, &body, place, ids.clone())
        })
        .await;
        conn.close();
        sent
    })
    .await;
    drop(spooled);
    result
}

/// A progress callback for stderr: says once when a transfer picks up
/// where an earlier one stopped (as `curl -C -` would), and, when stderr
/// is a terminal, keeps one line of progress up to date (`natter:
/// build.log 45% 12.3 MiB/s`), cleared at the end. A script's log gets the
/// resume note only.
fn resume_note(name: &str) -> impl FnMut(crate::transfer::Progress) + use<> {
    use natter_shared::text::human_size;
    use std::io::IsTerminal;
    let name = natter_shared::text::escape(name).into_owned();
    let live = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut first: Option<u64> = None;
    let mut shown: Option<std::time::Instant> = None;
    move |p| {
        let from = *first.get_or_insert_with(|| {
            if p.done > 0 && p.done < p.total {
                eprintln!(
                    "natter: resuming {name} at {} of {}",
                    human_size(p.done),
                    human_size(p.total)
                );
            }
            p.done
        });
        if !live {
            return;
        }
        if p.done >= p.total {
            if shown.is_some() {
                eprint!("\r\x1b[K");
            }
            return;
        }
        if shown.is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(200)) {
            return;
        }
        shown = Some(std::time::Instant::now());
        let secs = started.elapsed().as_secs_f64().max(0.001);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rate = ((p.done - from) as f64 / secs) as u64;
        eprint!(
            "\r\x1b[Knatter: {name} {}% {}/s",
            (p.done * 100).checked_div(p.total).unwrap_or(100),
            human_size(rate)
        );
    }
}

/// Where `natter download` and `/download` put files by default: the XDG
/// download dir (`XDG_DOWNLOAD_DIR` in `user-dirs.dirs`), else
/// `~/Downloads`, else the current directory.
#[must_use]
pub fn download_dir() -> PathBuf {
    let dirs = directories::UserDirs::new();
    dirs.as_ref()
        .and_then(|d| d.download_dir().map(Path::to_owned))
        .or_else(|| dirs.map(|d| d.home_dir().join("Downloads")))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `natter download ID [-o PATH|DIR]`: saves every file message `id`
/// carries, checked against its SHA-256, and returns where each went.
/// Into a directory, names never overwrite (`name (1).ext`); `-o PATH`
/// names the file itself, for a message with one file, and refuses one
/// that exists.
///
/// # Errors
/// [`ClientError::Usage`] for a message without files or an `-o` that
/// cannot work; `no_such_message` for a message you may not see; a
/// checksum mismatch; connection and local errors.
pub async fn download(
    ctx: &Context,
    id: MessageId,
    out: Option<&Path>,
) -> Result<Vec<PathBuf>, ClientError> {
    with_feature(ctx, features::FILES, "files", |conn| async move {
        let (page, _) = conn
            .history(
                "",
                HistoryQuery {
                    around: Some(id),
                    limit: 1,
                    ..HistoryQuery::default()
                },
            )
            .await?;
        let files: Vec<Attachment> = page
            .into_iter()
            .find(|m| m.id == id)
            .map(|m| m.attachments)
            .unwrap_or_default();
        if files.is_empty() {
            conn.close();
            return Err(ClientError::Usage(format!("message {id} carries no files")));
        }
        let targets = targets(&files, out)?;
        let transfer = Transfer::open(&conn, &ctx.connect).await?;
        let mut saved = Vec::new();
        for (file, dest) in files.iter().zip(targets) {
            transfer
                .download(
                    file,
                    false,
                    &dest,
                    &CancellationToken::new(),
                    resume_note(&file.name),
                )
                .await?;
            saved.push(dest);
        }
        transfer.close();
        conn.close();
        Ok(saved)
    })
    .await
}

/// Where each file goes.
fn targets(files: &[Attachment], out: Option<&Path>) -> Result<Vec<PathBuf>, ClientError> {
    let dir = match out {
        Some(p) if p.is_dir() => p.to_owned(),
        Some(p) => {
            if files.len() > 1 {
                return Err(ClientError::Usage(format!(
                    "the message carries {} files: give -o a directory",
                    files.len()
                )));
            }
            if p.exists() {
                return Err(ClientError::Usage(format!(
                    "{} exists; natter never overwrites a file",
                    p.display()
                )));
            }
            return Ok(vec![p.to_owned()]);
        }
        None => download_dir(),
    };
    std::fs::create_dir_all(&dir).map_err(|source| ClientError::File {
        path: dir.clone(),
        source,
    })?;
    let mut taken: Vec<PathBuf> = Vec::new();
    Ok(files
        .iter()
        .map(|f| {
            // Two files of one name in one message: the second is (1).
            let mut p = unique_path(&dir, &f.name);
            let mut n = 1;
            while taken.contains(&p) {
                p = unique_path(&dir, &format!("{} ({n})", f.name));
                n += 1;
            }
            taken.push(p.clone());
            p
        })
        .collect())
}
