//! Files: uploads and downloads on a transfer connection of their own, so
//! a large file never delays a chat frame.
//!
//! A chat [`Connection`] asks for a one-time ticket (`OpenTransfer`); a
//! second connection to the same server logs in with it and carries only
//! file chunks. Chunks fit the server's `max_frame`, and a few are in
//! flight at once ([`WINDOW`]): enough to keep a fast link busy, few
//! enough that the server's flow control, not a queue, paces the rest.
//!
//! Both directions resume. An upload asks the server where it stands and
//! continues from there; a download writes `NAME.part` beside its target
//! and continues from its length. Both check the SHA-256 at the end:
//! the server refuses an upload whose bytes do not match what was
//! announced, and a download that does not match is deleted and reported
//! ([`ClientError::Checksum`]).

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use natter_shared::{Attachment, ByteBuf, FileId, Request, Response};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::conn::{ConnectOptions, Connection};
use crate::error::ClientError;

/// How long a transfer connection waits for any one reply.
pub const TRANSFER_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(5);

/// Chunks in flight at once.
pub const WINDOW: usize = 8;

/// Bytes of a frame kept for the chunk request's own fields.
const FRAME_OVERHEAD: usize = 512;

/// How far a transfer has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// A file to upload: its name, size and SHA-256, read once before the
/// upload so the server can check limits first and find known content.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    /// The name others see (the file's own unless given).
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

impl Source {
    /// Reads `path` once for its size and SHA-256.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn from_path(path: &Path, name: Option<&str>) -> Result<Self, ClientError> {
        let io = |source| ClientError::File {
            path: path.to_owned(),
            source,
        };
        let mut f = std::fs::File::open(path).map_err(io)?;
        let meta = f.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(ClientError::Usage(format!(
                "{} is a directory; upload files one by one, or an archive",
                path.display()
            )));
        }
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut f, &mut hasher).map_err(io)?;
        let name = name.map_or_else(
            || {
                path.file_name()
                    .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned())
            },
            str::to_owned,
        );
        Ok(Self {
            path: path.to_owned(),
            name,
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// A transfer connection.
#[derive(Debug, Clone)]
pub struct Transfer {
    conn: Connection,
    chunk: usize,
}

impl Transfer {
    /// Opens a transfer connection for `chat`'s session.
    ///
    /// # Errors
    /// The server takes no files (`forbidden`), or cannot be reached.
    pub async fn open(chat: &Connection, opts: &ConnectOptions) -> Result<Self, ClientError> {
        let Response::Ticket { ticket, .. } = chat.request(Request::OpenTransfer).await? else {
            return Err(ClientError::Protocol("open_transfer: no ticket".into()));
        };
        // A chunk's reply may wait behind the server's flow control, and
        // the last one behind its checks (a scan may take minutes).
        let opts = ConnectOptions {
            request_timeout: opts.request_timeout.max(TRANSFER_TIMEOUT),
            ..opts.clone()
        };
        let (conn, _events) = Connection::connect(chat.addr(), &opts).await?;
        conn.request(Request::TransferLogin { ticket }).await?;
        let max = conn.welcome().limits.max_frame as usize;
        Ok(Self {
            chunk: max.saturating_sub(FRAME_OVERHEAD).max(1024),
            conn,
        })
    }

    /// Closes the transfer connection.
    pub fn close(&self) {
        self.conn.close();
    }

    /// Uploads a file; resumes where an earlier, interrupted upload of the
    /// same content stopped. Returns the stored file, to attach to a
    /// message (`Send.files`). `progress` is called after every chunk.
    ///
    /// # Errors
    /// A refusal (`too_large`, `quota`, `rejected`, `storage_full`, ...),
    /// a lost connection (upload again to resume), a local read failure,
    /// or [`ClientError::Cancelled`] (the upload is dropped).
    pub async fn upload(
        &self,
        source: &Source,
        cancel: &CancellationToken,
        mut progress: impl FnMut(Progress),
    ) -> Result<Attachment, ClientError> {
        let start = self
            .conn
            .request(Request::UploadStart {
                name: source.name.clone(),
                size: source.size,
                sha256: source.sha256.clone(),
            })
            .await?;
        let (upload, mut offset) = match start {
            Response::Uploaded(file) => {
                progress(Progress {
                    done: source.size,
                    total: source.size,
                });
                return Ok(file);
            }
            Response::Upload { upload, offset } => (upload, offset),
            other => return Err(unexpected("upload_start", &other)),
        };
        let io = |source_err| ClientError::File {
            path: source.path.clone(),
            source: source_err,
        };
        let mut file = std::fs::File::open(&source.path).map_err(io)?;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        progress(Progress {
            done: offset,
            total: source.size,
        });
        let mut in_flight = VecDeque::new();
        let mut sent = offset;
        loop {
            while in_flight.len() < WINDOW && sent < source.size {
                let want = usize::try_from((source.size - sent).min(self.chunk as u64))
                    .unwrap_or(self.chunk);
                let mut data = vec![0u8; want];
                file.read_exact(&mut data).map_err(io)?;
                let at = sent;
                sent += want as u64;
                in_flight.push_back(
                    self.conn
                        .queue(Request::UploadChunk {
                            upload,
                            offset: at,
                            data: ByteBuf::from(data),
                        })
                        .await?,
                );
            }
            let Some(next) = in_flight.pop_front() else {
                return Err(ClientError::Protocol(
                    "the upload ended without the server confirming it".into(),
                ));
            };
            let reply = tokio::select! {
                r = next.reply() => r,
                () = cancel.cancelled() => {
                    drop(in_flight);
                    let _ = self.conn.request(Request::CancelUpload { upload }).await;
                    return Err(ClientError::Cancelled);
                }
            };
            match reply {
                Ok(Response::Stored { offset: now }) => {
                    offset = now;
                    progress(Progress {
                        done: offset,
                        total: source.size,
                    });
                }
                Ok(Response::Uploaded(file)) => {
                    progress(Progress {
                        done: source.size,
                        total: source.size,
                    });
                    return Ok(file);
                }
                Ok(other) => return Err(unexpected("upload_chunk", &other)),
                Err(e) => return Err(e),
            }
        }
    }

    /// What a file is, if you may see it.
    ///
    /// # Errors
    /// `no_such_file` for a file you may not see, or one that is gone.
    pub async fn info(&self, file: FileId) -> Result<Attachment, ClientError> {
        match self.conn.request(Request::FileInfo { file }).await? {
            Response::File(a) => Ok(a),
            other => Err(unexpected("file_info", &other)),
        }
    }

    /// Downloads a file (or its thumbnail, which has no checksum of its
    /// own) to `dest`, which must not exist: through `dest.part`, resumed
    /// from its length if an earlier download left one, and renamed into
    /// place only once the SHA-256 matches.
    ///
    /// # Errors
    /// A refusal, a lost connection (download again to resume), a local
    /// write failure, [`ClientError::Checksum`], or
    /// [`ClientError::Cancelled`] (the part stays, to resume).
    pub async fn download(
        &self,
        file: &Attachment,
        thumb: bool,
        dest: &Path,
        cancel: &CancellationToken,
        mut progress: impl FnMut(Progress),
    ) -> Result<(), ClientError> {
        let part = part_path(dest);
        let io = |source| ClientError::File {
            path: part.clone(),
            source,
        };
        let total = if thumb { file.thumb } else { file.size };
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&part)
            .map_err(io)?;
        let mut hasher = Sha256::new();
        let mut have = std::io::copy(&mut out, &mut hasher).map_err(io)?;
        if have > total {
            // Not a part of this file: start over.
            out.set_len(0).map_err(io)?;
            hasher = Sha256::new();
            have = 0;
        }
        progress(Progress { done: have, total });
        let mut asked = have;
        let mut in_flight = VecDeque::new();
        while have < total {
            while in_flight.len() < WINDOW && asked < total {
                let len = u32::try_from((total - asked).min(self.chunk as u64)).unwrap_or(u32::MAX);
                let at = asked;
                asked += u64::from(len);
                let queued = self
                    .conn
                    .queue(Request::Download {
                        file: file.file,
                        offset: at,
                        len,
                        thumb,
                    })
                    .await?;
                in_flight.push_back((u64::from(len), queued));
            }
            let Some((len, next)) = in_flight.pop_front() else {
                break;
            };
            let reply = tokio::select! {
                r = next.reply() => r,
                () = cancel.cancelled() => return Err(ClientError::Cancelled),
            };
            match reply {
                Ok(Response::Chunk { offset, data, .. }) if offset == have && !data.is_empty() => {
                    out.write_all(&data).map_err(io)?;
                    hasher.update(&data);
                    have += data.len() as u64;
                    progress(Progress { done: have, total });
                    if (data.len() as u64) < len && have < total {
                        // A short reply: what was asked after it starts
                        // at the wrong place. Ask again from here.
                        in_flight.clear();
                        asked = have;
                    }
                }
                Ok(other) => return Err(unexpected("download", &other)),
                Err(e) => return Err(e),
            }
        }
        out.sync_all().map_err(io)?;
        drop(out);
        if !thumb {
            let got = hex::encode(hasher.finalize());
            if got != file.sha256 {
                let _ = std::fs::remove_file(&part);
                return Err(ClientError::Checksum {
                    name: file.name.clone(),
                    expected: file.sha256.clone(),
                    got,
                });
            }
        }
        std::fs::rename(&part, dest).map_err(|source| ClientError::File {
            path: dest.to_owned(),
            source,
        })
    }
}

impl Transfer {
    /// A file's thumbnail (a small PNG), in memory: what a preview is drawn
    /// from, so a preview over a slow link never pulls the whole image.
    ///
    /// # Errors
    /// `no_such_file` when there is none, or the link failed.
    pub async fn thumbnail(&self, file: &Attachment) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::with_capacity(usize::try_from(file.thumb).unwrap_or(0));
        while (out.len() as u64) < file.thumb {
            let len = u32::try_from((file.thumb - out.len() as u64).min(self.chunk as u64))
                .unwrap_or(u32::MAX);
            match self
                .conn
                .request(Request::Download {
                    file: file.file,
                    offset: out.len() as u64,
                    len,
                    thumb: true,
                })
                .await?
            {
                Response::Chunk { data, .. } if !data.is_empty() => out.extend_from_slice(&data),
                other => return Err(unexpected("download", &other)),
            }
        }
        Ok(out)
    }
}

/// Where a download to `dest` keeps its bytes until they are checked.
#[must_use]
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// A path in `dir` for `name` that does not exist yet: `name`, then
/// `name (1)`, `name (2)`, ... before the extension. An unfinished
/// download of the same name (`.part`) is resumed, not skipped.
#[must_use]
pub fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
        _ => (name.to_owned(), String::new()),
    };
    let mut n = 0;
    loop {
        let candidate = if n == 0 {
            dir.join(name)
        } else {
            dir.join(format!("{stem} ({n}){ext}"))
        };
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

fn unexpected(what: &str, res: &Response) -> ClientError {
    ClientError::Protocol(format!("unexpected reply to {what}: {res:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(unique_path(d, "a.txt"), d.join("a.txt"));
        std::fs::write(d.join("a.txt"), "x").unwrap();
        assert_eq!(unique_path(d, "a.txt"), d.join("a (1).txt"));
        std::fs::write(d.join("a (1).txt"), "x").unwrap();
        assert_eq!(unique_path(d, "a.txt"), d.join("a (2).txt"));
        assert_eq!(unique_path(d, "README"), d.join("README"));
        assert_eq!(part_path(&d.join("a.txt")), d.join("a.txt.part"));
    }
}
