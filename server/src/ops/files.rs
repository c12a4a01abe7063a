//! Files: tickets for transfer connections, uploads (limits first, then
//! chunks, then the checks a complete file passes before anyone sees it),
//! downloads (for those who may see the file only), and what a send
//! attaches.
//!
//! A transfer connection belongs to the chat session that asked for its
//! ticket, and lives as long as it does: a logout, a kick off the server,
//! a suspension or a password change ends its transfers too. Every
//! refusal leaves nothing behind: the partial upload is dropped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use natter_shared::text::human_size;
use natter_shared::{Attachment, ByteBuf, ErrorCode, ErrorReply, FileId, Response, Secret};
use sha2::{Digest, Sha256};

use super::{Caller, OpResult, internal};
use crate::Shared;
use crate::store::{BlobMeta, PartialKey};
use crate::uploads::{content, scan, thumbnail};

/// An upload is flushed to disk every this many bytes: a large file
/// written at full speed would otherwise fill the page cache with dirty
/// pages, and the kernel then throttles every writer of the process, the
/// store's commit path too (chat latency). Flushing as it goes keeps the
/// dirty share small; the flush runs on the upload's blocking thread.
const FLUSH_EVERY: u64 = 8 * 1024 * 1024;

/// How long a download may rely on an access check it already made.
const ACCESS_FOR: Duration = Duration::from_secs(10);

/// One transfer connection's state.
#[derive(Debug)]
pub struct Transfer {
    /// The chat session the ticket came from.
    pub session: u64,
    pub user: i64,
    uploads: HashMap<u64, Upload>,
    next_upload: u64,
    /// Files this connection was allowed to read, and when it checked.
    readable: HashMap<FileId, (Attachment, Instant)>,
}

#[derive(Debug)]
struct Upload {
    key: PartialKey,
    name: String,
    offset: u64,
    /// Of every byte up to `offset`, carried from chunk to chunk.
    hasher: Sha256,
    claim: u64,
}

fn no_such_file() -> ErrorReply {
    ErrorReply::new(ErrorCode::NoSuchFile, "no such file")
}

fn blob_error(e: &std::io::Error) -> ErrorReply {
    tracing::error!(error = %e, "blob store error");
    ErrorReply::new(ErrorCode::Internal, "the file store failed; try again")
}

fn files_off() -> ErrorReply {
    ErrorReply::new(ErrorCode::Forbidden, "this server takes no files")
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ErrorReply> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ErrorReply::new(ErrorCode::Internal, "the file store failed; try again"))
}

/// Issues a ticket for a transfer connection of this session.
pub fn open_transfer(shared: &Shared, caller: Caller) -> OpResult {
    if !shared.config().files.enabled {
        return Err(files_off());
    }
    let user = shared
        .hub()
        .session_user(caller.session)
        .ok_or_else(|| ErrorReply::new(ErrorCode::NotLoggedIn, "log in first"))?;
    let ticket = shared.uploads.issue_ticket(user, caller.session);
    Ok(Response::Ticket {
        ticket: Secret(ticket),
        expires_ms: crate::uploads::TICKET_LIFETIME.as_millis() as u64,
    })
}

/// Logs a transfer connection in with its ticket.
///
/// # Errors
/// `auth_failed` for a ticket that is unknown, used or expired.
pub fn transfer_login(shared: &Shared, ticket: &Secret) -> OpResult<Transfer> {
    let refused = || {
        ErrorReply::new(
            ErrorCode::AuthFailed,
            "this transfer ticket is unknown, used or expired; ask for a new one",
        )
    };
    let (user, session) = shared
        .uploads
        .redeem_ticket(ticket.expose())
        .ok_or_else(refused)?;
    if shared.hub().session_user(session) != Some(user) {
        return Err(refused());
    }
    Ok(Transfer {
        session,
        user,
        uploads: HashMap::new(),
        next_upload: 1,
        readable: HashMap::new(),
    })
}

impl Transfer {
    /// Checks that the chat session this connection belongs to goes on.
    ///
    /// # Errors
    /// `not_logged_in` once it has ended.
    pub fn check_session(&self, shared: &Shared) -> OpResult<()> {
        if shared.hub().session_user(self.session) == Some(self.user) {
            Ok(())
        } else {
            Err(ErrorReply::new(
                ErrorCode::NotLoggedIn,
                "the session this transfer belonged to has ended",
            ))
        }
    }

    /// Gives up every upload this connection owns (it is ending); their
    /// bytes stay, to resume from.
    pub fn release_all(&mut self, shared: &Shared) {
        for u in self.uploads.values() {
            shared.uploads.release(&u.key, u.claim);
        }
        self.uploads.clear();
    }

    fn admin(&self, shared: &Shared) -> bool {
        shared.hub().is_admin(self.user)
    }

    /// Begins or resumes an upload: every limit is checked before a byte
    /// is stored.
    pub async fn upload_start(
        &mut self,
        shared: &Shared,
        name: &str,
        size: u64,
        sha256: String,
    ) -> OpResult {
        let config = shared.config();
        let files = &config.files;
        if !files.enabled {
            return Err(files_off());
        }
        let name =
            content::sanitize_name(name).map_err(|m| ErrorReply::new(ErrorCode::Invalid, m))?;
        let sha256 = sha256.to_ascii_lowercase();
        if !content::is_sha256(&sha256) {
            return Err(ErrorReply::new(
                ErrorCode::Invalid,
                "sha256 must be the file's SHA-256 in 64 hex digits",
            ));
        }
        if size > files.max_file_bytes {
            return Err(ErrorReply::new(
                ErrorCode::TooLarge,
                format!(
                    "{name} is {}; the largest file this server takes is {}",
                    human_size(size),
                    human_size(files.max_file_bytes)
                ),
            ));
        }
        let key = PartialKey {
            owner: self.user,
            sha256,
            size,
        };
        let store = &shared.store;
        let known = store
            .blob_size(key.sha256.clone())
            .await
            .map_err(|e| internal(&e))?;
        if known.is_some_and(|k| k != size) {
            return Err(ErrorReply::new(
                ErrorCode::Invalid,
                "that SHA-256 belongs to a file of another size",
            ));
        }
        let blobs = std::sync::Arc::clone(store.blobs());
        let k = key.clone();
        let stored = blocking(move || blobs.partial_len(&k))
            .await?
            .map_err(|e| blob_error(&e))?;
        if stored.is_none() {
            // Resuming is free; a new upload (or a known file) takes one.
            shared
                .uploads
                .take_upload(self.user, files.uploads_per_minute)
                .map_err(|wait| {
                    let ms = wait.as_millis().max(1) as u64;
                    ErrorReply {
                        code: ErrorCode::RateLimited,
                        message: format!(
                            "at most {} uploads a minute; retry in {:.0} s",
                            files.uploads_per_minute,
                            (ms as f64 / 1000.0).ceil()
                        ),
                        retry_after_ms: Some(ms),
                    }
                })?;
        }
        self.check_quota(shared, size).await?;
        if known.is_some() {
            // Stored already: this upload is complete at once.
            if let Some(file) = store
                .add_file(self.user, name.clone(), key.clone(), None)
                .await
                .map_err(|e| internal(&e))?
            {
                return Ok(Response::Uploaded(file));
            }
            // It went meanwhile: upload it after all.
        }
        let remaining = size - stored.unwrap_or(0).min(size);
        Self::check_disk(shared, remaining)?;
        let offset = stored.unwrap_or(0).min(size);
        let mut hasher = Sha256::new();
        if offset > 0 {
            // Resuming: what is stored goes into the hash once, here.
            let blobs = std::sync::Arc::clone(store.blobs());
            let k = key.clone();
            hasher = blocking(move || -> std::io::Result<Sha256> {
                let mut r = std::io::Read::take(blobs.read_partial(&k)?, offset);
                std::io::copy(&mut r, &mut hasher)?;
                Ok(hasher)
            })
            .await?
            .map_err(|e| blob_error(&e))?;
        }
        // One connection per upload: a second start (this client again,
        // after a cut) takes it over.
        if let Some((old, u)) = self
            .uploads
            .iter()
            .find(|(_, u)| u.key == key)
            .map(|(id, u)| (*id, u.claim))
        {
            self.uploads.remove(&old);
            shared.uploads.release(&key, u);
        }
        let claim = shared.uploads.claim(&key);
        let upload = self.next_upload;
        self.next_upload += 1;
        self.uploads.insert(
            upload,
            Upload {
                key,
                name,
                offset,
                hasher,
                claim,
            },
        );
        if offset == size {
            // Everything was there (or the file is empty): finish now.
            return self.finish(shared, upload).await;
        }
        Ok(Response::Upload { upload, offset })
    }

    async fn check_quota(&self, shared: &Shared, size: u64) -> OpResult<()> {
        let quota = shared.config().files.user_quota_bytes;
        if quota == 0 {
            return Ok(());
        }
        let used = shared
            .store
            .file_usage(self.user)
            .await
            .map_err(|e| internal(&e))?;
        if used.saturating_add(size) > quota {
            return Err(ErrorReply::new(
                ErrorCode::Quota,
                format!(
                    "this file ({}) would take you past your quota: you keep {} of {}; \
                     delete messages with files to make room",
                    human_size(size),
                    human_size(used),
                    human_size(quota)
                ),
            ));
        }
        Ok(())
    }

    fn check_disk(shared: &Shared, more: u64) -> OpResult<()> {
        let floor = shared.config().files.min_free_bytes;
        let free = shared
            .store
            .blobs()
            .free_bytes()
            .map_err(|e| blob_error(&e))?;
        if free < more.saturating_add(floor) {
            tracing::warn!(free, floor, "refusing an upload: the disk is nearly full");
            return Err(ErrorReply::new(
                ErrorCode::StorageFull,
                "the server is short of disk space and takes no uploads now; tell an operator",
            ));
        }
        Ok(())
    }

    /// Stores a chunk of an upload; the last one finishes it.
    pub async fn upload_chunk(
        &mut self,
        shared: &Shared,
        upload: u64,
        offset: u64,
        data: ByteBuf,
    ) -> OpResult {
        let Some(u) = self.uploads.get(&upload) else {
            return Err(ErrorReply::new(
                ErrorCode::Invalid,
                format!(
                    "no upload {upload} on this connection; start it (again) with upload_start"
                ),
            ));
        };
        if !shared.uploads.holds(&u.key, u.claim) {
            self.uploads.remove(&upload);
            return Err(ErrorReply::new(
                ErrorCode::Invalid,
                "this upload was taken over by another connection",
            ));
        }
        if offset != u.offset {
            return Err(ErrorReply::new(
                ErrorCode::Invalid,
                format!("the upload stands at {}, not {offset}", u.offset),
            ));
        }
        let data = data.into_vec();
        let len = data.len() as u64;
        if len == 0 || u.offset + len > u.key.size {
            return Err(ErrorReply::new(
                ErrorCode::Invalid,
                format!(
                    "a chunk of {len} bytes at {offset} does not fit a file of {} bytes",
                    u.key.size
                ),
            ));
        }
        if offset == 0 {
            // The type is known from the first bytes: a refused one is
            // refused before anything is stored.
            let mime = content::sniff(&data[..data.len().min(content::SNIFF_BYTES)]);
            if let Err(e) = check_type(shared, &mime) {
                self.drop_upload(shared, upload).await;
                return Err(e);
            }
        }
        if let Err(e) = Self::check_disk(shared, len) {
            self.drop_upload(shared, upload).await;
            return Err(e);
        }
        let Some(u) = self.uploads.get_mut(&upload) else {
            return Err(no_such_file());
        };
        let blobs = std::sync::Arc::clone(shared.store.blobs());
        let key = u.key.clone();
        let mut hasher = std::mem::take(&mut u.hasher);
        let flush = (offset + len) / FLUSH_EVERY > offset / FLUSH_EVERY;
        let (hasher, written) = blocking(move || {
            let mut r = blobs.write_partial(&key, offset, &data);
            hasher.update(&data);
            if flush && r.is_ok() {
                r = blobs.settle(&key);
            }
            (hasher, r)
        })
        .await?;
        u.hasher = hasher;
        written.map_err(|e| blob_error(&e))?;
        u.offset += len;
        if u.offset < u.key.size {
            return Ok(Response::Stored { offset: u.offset });
        }
        self.finish(shared, upload).await
    }

    /// Drops an upload and its bytes.
    pub async fn cancel(&mut self, shared: &Shared, upload: u64) -> OpResult {
        if !self.uploads.contains_key(&upload) {
            return Err(ErrorReply::new(
                ErrorCode::Invalid,
                format!("no upload {upload} on this connection"),
            ));
        }
        self.drop_upload(shared, upload).await;
        Ok(Response::Done)
    }

    async fn drop_upload(&mut self, shared: &Shared, upload: u64) {
        let Some(u) = self.uploads.remove(&upload) else {
            return;
        };
        shared.uploads.release(&u.key, u.claim);
        let blobs = std::sync::Arc::clone(shared.store.blobs());
        let key = u.key;
        if let Ok(Err(e)) = blocking(move || blobs.drop_partial(&key)).await {
            tracing::warn!(error = %e, "cannot remove a refused upload");
        }
    }

    /// Checks a complete upload (hash, type, scan), makes its thumbnail
    /// and records it.
    async fn finish(&mut self, shared: &Shared, upload: u64) -> OpResult {
        let result = self.check_complete(shared, upload).await;
        match result {
            Ok(file) => {
                if let Some(u) = self.uploads.remove(&upload) {
                    shared.uploads.release(&u.key, u.claim);
                }
                tracing::info!(user = self.user, file = file.file, size = file.size, mime = %file.mime, "file uploaded");
                Ok(Response::Uploaded(file))
            }
            Err(e) => {
                self.drop_upload(shared, upload).await;
                Err(e)
            }
        }
    }

    async fn check_complete(&mut self, shared: &Shared, upload: u64) -> OpResult<Attachment> {
        let config = shared.config();
        let Some(u) = self.uploads.get_mut(&upload) else {
            return Err(no_such_file());
        };
        let digest = hex::encode(std::mem::take(&mut u.hasher).finalize());
        if digest != u.key.sha256 {
            return Err(ErrorReply::new(
                ErrorCode::Invalid,
                format!(
                    "the file's SHA-256 is {digest}, not the {} announced; nothing was kept",
                    u.key.sha256
                ),
            ));
        }
        let (key, name) = (u.key.clone(), u.name.clone());
        let blobs = std::sync::Arc::clone(shared.store.blobs());
        let k = key.clone();
        let thumbnails = config.files.thumbnails;
        // Read once: the head for the type, the whole of an image for its
        // thumbnail.
        let (mime, thumb) = blocking(move || -> std::io::Result<_> {
            // On disk before the store names it, and off the commit path.
            blobs.settle(&k)?;
            let mut head = Vec::with_capacity(content::SNIFF_BYTES);
            std::io::Read::read_to_end(
                &mut std::io::Read::take(blobs.read_partial(&k)?, content::SNIFF_BYTES as u64),
                &mut head,
            )?;
            let mime = content::sniff(&head);
            let thumb = if thumbnails && thumbnail::IMAGE_TYPES.contains(&mime.as_str()) {
                let mut all = Vec::new();
                std::io::Read::read_to_end(&mut blobs.read_partial(&k)?, &mut all)?;
                thumbnail::make(&all, &mime)
            } else {
                None
            };
            Ok((mime, thumb))
        })
        .await?
        .map_err(|e| blob_error(&e))?;
        check_type(shared, &mime)?;
        if let Some(command) = &config.files.scan_command {
            let path = shared.store.blobs().partial_path(&key);
            let timeout = Duration::from_secs(config.files.scan_timeout_secs);
            if let Err(e) = scan::scan(command, &path, timeout).await {
                tracing::warn!(user = self.user, name, error = %e, "upload refused by the scan");
                return Err(ErrorReply::new(
                    ErrorCode::Rejected,
                    format!("{name} was refused: {e}"),
                ));
            }
        }
        self.check_quota(shared, key.size).await?;
        let meta = BlobMeta {
            mime,
            width: thumb.as_ref().map(|t| t.width),
            height: thumb.as_ref().map(|t| t.height),
            thumb: thumb.map(|t| t.png),
        };
        shared
            .store
            .add_file(self.user, name, key, Some(meta))
            .await
            .map_err(|e| internal(&e))?
            .ok_or_else(|| ErrorReply::new(ErrorCode::Internal, "the file went missing; try again"))
    }

    /// A file this connection's user may see.
    pub async fn file(&mut self, shared: &Shared, file: FileId) -> OpResult<Attachment> {
        if let Some((a, at)) = self.readable.get(&file)
            && at.elapsed() < ACCESS_FOR
        {
            return Ok(a.clone());
        }
        let admin = self.admin(shared);
        let a = readable(shared, self.user, admin, file).await?;
        if self.readable.len() > 64 {
            self.readable.clear();
        }
        self.readable.insert(file, (a.clone(), Instant::now()));
        Ok(a)
    }

    /// Bytes of a file (or its thumbnail).
    pub async fn download(
        &mut self,
        shared: &Shared,
        file: FileId,
        offset: u64,
        len: u32,
        thumb: bool,
    ) -> OpResult {
        let a = self.file(shared, file).await?;
        let size = if thumb { a.thumb } else { a.size };
        if thumb && size == 0 {
            return Err(ErrorReply::new(
                ErrorCode::NoSuchFile,
                "that file has no thumbnail",
            ));
        }
        if offset > size {
            return Err(ErrorReply::new(
                ErrorCode::Invalid,
                format!("offset {offset} is past the end ({size} bytes)"),
            ));
        }
        // Room for the reply's framing within a frame.
        let most = shared.config().limits.max_frame.saturating_sub(256).max(1) as u64;
        let want = u64::from(len).min(most).min(size - offset);
        let blobs = std::sync::Arc::clone(shared.store.blobs());
        let data = blocking(move || -> std::io::Result<Vec<u8>> {
            let mut buf = vec![0u8; usize::try_from(want).unwrap_or(0)];
            let n = blobs.read_at(&a.sha256, thumb, offset, &mut buf)?;
            buf.truncate(n);
            Ok(buf)
        })
        .await?
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                no_such_file()
            } else {
                blob_error(&e)
            }
        })?;
        let eof = offset + data.len() as u64 >= size;
        Ok(Response::Chunk {
            offset,
            data: ByteBuf::from(data),
            eof,
        })
    }
}

/// A file `user` may see, or `no_such_file` (the same for a file that does
/// not exist and one in rooms they are not in).
async fn readable(shared: &Shared, user: i64, admin: bool, file: FileId) -> OpResult<Attachment> {
    shared
        .store
        .readable_file(file, user, admin)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(no_such_file)
}

/// `FileInfo` on a chat connection.
pub async fn info(shared: &Shared, caller: Caller, file: FileId) -> OpResult {
    let user = shared
        .hub()
        .session_user(caller.session)
        .ok_or_else(|| ErrorReply::new(ErrorCode::NotLoggedIn, "log in first"))?;
    let admin = shared.hub().is_admin(user);
    readable(shared, user, admin, file)
        .await
        .map(Response::File)
}

/// The attachments a send carries: the sender's own files, at most
/// [`natter_shared::MAX_ATTACHMENTS`].
pub async fn attachments(
    shared: &Shared,
    user: i64,
    files: Vec<FileId>,
) -> OpResult<Vec<Attachment>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    if files.len() > natter_shared::MAX_ATTACHMENTS {
        return Err(ErrorReply::new(
            ErrorCode::Invalid,
            format!(
                "a message carries at most {} files",
                natter_shared::MAX_ATTACHMENTS
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if !files.iter().all(|f| seen.insert(*f)) {
        return Err(ErrorReply::new(
            ErrorCode::Invalid,
            "the same file twice in one message",
        ));
    }
    match shared
        .store
        .own_files(user, files)
        .await
        .map_err(|e| internal(&e))?
    {
        Ok(a) => Ok(a),
        Err(crate::store::AttachRefusal::NotYours(id)) => Err(ErrorReply::new(
            ErrorCode::NoSuchFile,
            format!("no file {id} of yours to attach; upload it first"),
        )),
    }
}

fn check_type(shared: &Shared, mime: &str) -> OpResult<()> {
    if shared.config().files.takes_type(mime) {
        Ok(())
    } else {
        Err(ErrorReply::new(
            ErrorCode::Rejected,
            format!("this server does not take files of type {mime}"),
        ))
    }
}

/// Collects files and blobs nothing refers to (see
/// `store::files::collect_garbage`); returns how many blobs went.
///
/// # Errors
/// The store failed.
pub async fn collect(shared: &Shared) -> Result<usize, crate::store::StoreError> {
    let hours = shared.config().files.unattached_hours;
    let before =
        crate::store::now_ms() - i64::try_from(hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    shared.store.collect_garbage(before).await
}
