//! Files' metadata: which blobs are stored ([`super::blobs`] holds their
//! bytes), each upload of one (a *file*: a name, an owner, an id), and
//! which messages carry which files.
//!
//! - `blobs`: one row per stored content hash, with its size, sniffed type,
//!   image size and thumbnail size.
//! - `files`: one row per upload that completed; several may share a blob
//!   (the same content uploaded twice is stored once).
//! - `message_files`: the attachments of each message, in order. Triggers
//!   drop a message's rows when it is deleted (tombstoned) or removed by
//!   retention, so nothing else has to remember to.
//!
//! A blob is reference-counted by its files, and a file by the messages
//! that carry it: [`collect_garbage`] removes files no message carries
//! (at once once they were attached, after a grace period for uploads
//! not attached yet), then blobs no file names, bytes included. It runs on
//! the writer thread, like every change to these tables and every blob
//! that appears or goes, so an upload of the same content can never race
//! a removal: one of them comes first.

use natter_shared::{Attachment, FileId};
use rusqlite::{Connection, OptionalExtension, params};

use super::blobs::PartialKey;
use super::{Store, StoreError, StoredMessage, from_sql, now_ms, to_sql};

/// The tables of files (see the module doc).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS blobs (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mime TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    -- Bytes of its thumbnail, 0 for none.
    thumb INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL REFERENCES blobs(hash),
    owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- Once carried by a message, a file goes as soon as none does.
    attached INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS files_hash ON files(hash);
CREATE INDEX IF NOT EXISTS files_owner ON files(owner_id);
CREATE INDEX IF NOT EXISTS files_unattached ON files(created_at) WHERE attached = 0;
-- Files a message stopped carrying, for the next collection to look at.
CREATE TABLE IF NOT EXISTS file_orphans (file_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS message_files (
    message_id INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    file_id INTEGER NOT NULL REFERENCES files(id),
    PRIMARY KEY (message_id, pos)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS message_files_file ON message_files(file_id);
CREATE TRIGGER IF NOT EXISTS message_files_removed AFTER DELETE ON messages BEGIN
    INSERT OR IGNORE INTO file_orphans (file_id)
        SELECT file_id FROM message_files WHERE message_id = old.id;
    DELETE FROM message_files WHERE message_id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS message_files_deleted AFTER UPDATE OF deleted ON messages
WHEN new.deleted BEGIN
    INSERT OR IGNORE INTO file_orphans (file_id)
        SELECT file_id FROM message_files WHERE message_id = old.id;
    DELETE FROM message_files WHERE message_id = old.id;
END;
";

/// What the server learnt of a new blob on its way in.
#[derive(Debug, Clone)]
pub struct BlobMeta {
    pub mime: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// A PNG of at most 320 px on a side.
    pub thumb: Option<Vec<u8>>,
}

/// Why files named in a send cannot be attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachRefusal {
    /// Not a file of the sender's (or gone).
    NotYours(FileId),
}

const ATTACHMENT_COLUMNS: &str = "f.id, f.name, b.size, b.mime, b.hash, b.width, b.height, b.thumb";

fn attachment_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Attachment> {
    Ok(Attachment {
        file: from_sql(r.get(at)?),
        name: r.get(at + 1)?,
        size: from_sql(r.get(at + 2)?),
        mime: r.get(at + 3)?,
        sha256: r.get(at + 4)?,
        width: r.get(at + 5)?,
        height: r.get(at + 6)?,
        thumb: from_sql(r.get(at + 7)?),
    })
}

/// Whether a blob is stored, and its size.
pub fn blob_size(conn: &Connection, hash: &str) -> Result<Option<u64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT size FROM blobs WHERE hash = ?1")?
        .query_row([hash], |r| r.get::<_, i64>(0))
        .optional()?
        .map(from_sql))
}

/// Records an upload as a file of `owner`. The blob is either stored
/// already (`meta` unused, the upload's bytes dropped) or made from the
/// upload now. `None` when neither: the blob went meanwhile and the
/// caller has no bytes to make it from.
fn add_file(
    conn: &Connection,
    blobs: &dyn super::blobs::BlobStore,
    owner: i64,
    name: &str,
    key: &PartialKey,
    meta: Option<BlobMeta>,
) -> Result<Option<Attachment>, StoreError> {
    let now = now_ms();
    if blob_size(conn, &key.sha256)?.is_none() {
        let Some(meta) = meta else {
            return Ok(None);
        };
        conn.prepare_cached(
            "INSERT INTO blobs (hash, size, mime, width, height, thumb, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            key.sha256,
            to_sql(key.size),
            meta.mime,
            meta.width,
            meta.height,
            meta.thumb
                .as_ref()
                .map_or(0, |t| i64::try_from(t.len()).unwrap_or(i64::MAX)),
            now
        ])?;
        // The bytes move into place inside the transaction's job: if the
        // batch then rolls back, the blob is on disk without its row, and
        // the next upload of it finds it there (`promote` keeps one copy).
        blobs
            .promote(key, meta.thumb.as_deref())
            .map_err(|e| StoreError::Blob(e.to_string()))?;
    } else {
        blobs
            .drop_partial(key)
            .map_err(|e| StoreError::Blob(e.to_string()))?;
    }
    conn.prepare_cached(
        "INSERT INTO files (hash, owner_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![key.sha256, owner, name, now])?;
    let id = conn.last_insert_rowid();
    file(conn, from_sql(id))
}

/// File `id`, as an attachment.
pub fn file(conn: &Connection, id: FileId) -> Result<Option<Attachment>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM files f JOIN blobs b ON b.hash = f.hash WHERE f.id = ?1"
        ))?
        .query_row([to_sql(id)], |r| attachment_row(r, 0))
        .optional()?)
}

/// The files of `owner` named by `ids`, in that order, for a send to
/// carry.
pub fn own_files(
    conn: &Connection,
    owner: i64,
    ids: &[FileId],
) -> Result<Result<Vec<Attachment>, AttachRefusal>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM files f JOIN blobs b ON b.hash = f.hash
         WHERE f.id = ?1 AND f.owner_id = ?2"
    ))?;
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        match stmt
            .query_row(params![to_sql(id), owner], |r| attachment_row(r, 0))
            .optional()?
        {
            Some(a) => out.push(a),
            None => return Ok(Err(AttachRefusal::NotYours(id))),
        }
    }
    Ok(Ok(out))
}

/// File `id` if `user` may fetch it: an admin, its uploader, or a member of
/// a room where a message carries it.
pub fn readable_file(
    conn: &Connection,
    id: FileId,
    user: i64,
    admin: bool,
) -> Result<Option<Attachment>, StoreError> {
    let may = admin
        || conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM files WHERE id = ?1 AND owner_id = ?2)
                 OR EXISTS (SELECT 1 FROM message_files mf
                     JOIN messages m ON m.id = mf.message_id
                     JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = ?2
                     WHERE mf.file_id = ?1)",
            )?
            .query_row(params![to_sql(id), user], |r| r.get::<_, bool>(0))?;
    if !may {
        return Ok(None);
    }
    file(conn, id)
}

/// File `id` if a message carries it: what a file link may serve (see
/// [`crate::file_links`]).
pub fn attached_file(conn: &Connection, id: FileId) -> Result<Option<Attachment>, StoreError> {
    let attached: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM message_files WHERE file_id = ?1)")?
        .query_row([to_sql(id)], |r| r.get(0))?;
    if !attached {
        return Ok(None);
    }
    file(conn, id)
}

/// Bytes of files `owner` keeps: each upload counts, shared content too
/// (it is theirs to delete).
pub fn usage(conn: &Connection, owner: i64) -> Result<u64, StoreError> {
    Ok(from_sql(
        conn.prepare_cached(
            "SELECT COALESCE(SUM(b.size), 0) FROM files f JOIN blobs b ON b.hash = f.hash
             WHERE f.owner_id = ?1",
        )?
        .query_row([owner], |r| r.get(0))?,
    ))
}

/// Stored blobs, and their bytes with thumbnails.
pub fn blob_usage(conn: &Connection) -> Result<(u64, u64), StoreError> {
    let (n, bytes): (i64, i64) = conn
        .prepare_cached("SELECT COUNT(*), COALESCE(SUM(size + thumb), 0) FROM blobs")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((from_sql(n), from_sql(bytes)))
}

/// Every stored blob's hash (for a backup).
pub fn blob_hashes(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT hash FROM blobs ORDER BY hash")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records what a new message carries (on the commit path, beside its
/// insert).
pub(super) fn attach(
    conn: &Connection,
    message: i64,
    files: &[Attachment],
) -> rusqlite::Result<()> {
    let mut add = conn.prepare_cached(
        "INSERT INTO message_files (message_id, pos, file_id) VALUES (?1, ?2, ?3)",
    )?;
    let mut mark = conn.prepare_cached("UPDATE files SET attached = 1 WHERE id = ?1")?;
    for (pos, a) in files.iter().enumerate() {
        add.execute(params![
            message,
            i64::try_from(pos).unwrap_or(i64::MAX),
            to_sql(a.file)
        ])?;
        mark.execute([to_sql(a.file)])?;
    }
    Ok(())
}

/// Fills in the attachments of messages (any rooms, in id order), with
/// one query over their id range.
pub fn add_attachments(
    conn: &Connection,
    messages: &mut [StoredMessage],
) -> Result<(), StoreError> {
    let (Some(low), Some(high)) = (
        messages.iter().map(|m| m.id).min(),
        messages.iter().map(|m| m.id).max(),
    ) else {
        return Ok(());
    };
    let sorted = messages.is_sorted_by_key(|m| m.id);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT mf.message_id, {ATTACHMENT_COLUMNS} FROM message_files mf
         JOIN files f ON f.id = mf.file_id JOIN blobs b ON b.hash = f.hash
         WHERE mf.message_id BETWEEN ?1 AND ?2 ORDER BY mf.message_id, mf.pos"
    ))?;
    let mut rows = stmt.query(params![to_sql(low), to_sql(high)])?;
    for m in messages.iter_mut() {
        m.attachments.clear();
    }
    while let Some(row) = rows.next()? {
        let id: u64 = from_sql(row.get(0)?);
        let at = if sorted {
            messages.binary_search_by_key(&id, |m| m.id).ok()
        } else {
            messages.iter().position(|m| m.id == id)
        };
        if let Some(i) = at {
            messages[i].attachments.push(attachment_row(row, 1)?);
        }
    }
    Ok(())
}

/// Removes files no message carries any more (those a delete or
/// retention left behind, and uploads never attached from before
/// `unattached_before`, ms), then blobs no file names, with their bytes.
/// Looks only at candidates, not at every file. Returns how many blobs
/// went.
pub(super) fn collect_garbage(
    conn: &Connection,
    blobs: &dyn super::blobs::BlobStore,
    unattached_before: i64,
) -> Result<usize, StoreError> {
    let mut hashes: Vec<String> = Vec::new();
    {
        let mut orphans = conn.prepare_cached(
            "DELETE FROM files WHERE id IN (SELECT file_id FROM file_orphans)
             AND NOT EXISTS (SELECT 1 FROM message_files mf WHERE mf.file_id = files.id)
             RETURNING hash",
        )?;
        let rows = orphans.query_map([], |r| r.get(0))?;
        for h in rows {
            hashes.push(h?);
        }
    }
    conn.prepare_cached("DELETE FROM file_orphans")?
        .execute([])?;
    {
        let mut stale = conn.prepare_cached(
            "DELETE FROM files WHERE attached = 0 AND created_at < ?1 RETURNING hash",
        )?;
        let rows = stale.query_map([unattached_before], |r| r.get(0))?;
        for h in rows {
            hashes.push(h?);
        }
    }
    hashes.sort();
    hashes.dedup();
    let mut unused = conn.prepare_cached(
        "DELETE FROM blobs WHERE hash = ?1 AND NOT EXISTS (SELECT 1 FROM files WHERE hash = ?1)",
    )?;
    let mut gone = 0;
    for hash in &hashes {
        if unused.execute([hash])? == 0 {
            continue;
        }
        gone += 1;
        // Inside the job: nothing can store this hash again until the
        // batch is over. Should the batch roll back, a row is left whose
        // bytes are gone, which a download reports as `no_such_file`.
        if let Err(e) = blobs.remove(hash) {
            tracing::warn!(error = %e, hash, "cannot remove a blob");
        }
    }
    Ok(gone)
}

impl Store {
    /// Where file bytes live.
    #[must_use]
    pub fn blobs(&self) -> &std::sync::Arc<dyn super::blobs::BlobStore> {
        &self.blobs
    }

    /// The size of a stored blob, if it is stored.
    pub async fn blob_size(&self, hash: String) -> Result<Option<u64>, StoreError> {
        self.read(move |c| blob_size(c, &hash)).await
    }

    /// Bytes of files `owner` keeps.
    pub async fn file_usage(&self, owner: i64) -> Result<u64, StoreError> {
        self.read(move |c| usage(c, owner)).await
    }

    /// Stored blobs and their bytes.
    pub async fn blob_usage(&self) -> Result<(u64, u64), StoreError> {
        self.read(blob_usage).await
    }

    /// Records a completed upload (see [`add_file`]); `None` when the blob
    /// it counted on went meanwhile.
    pub async fn add_file(
        &self,
        owner: i64,
        name: String,
        key: PartialKey,
        meta: Option<BlobMeta>,
    ) -> Result<Option<Attachment>, StoreError> {
        let blobs = std::sync::Arc::clone(&self.blobs);
        self.write(move |c| add_file(c, &*blobs, owner, &name, &key, meta))
            .await
    }

    /// The caller's files for a send to carry.
    pub async fn own_files(
        &self,
        owner: i64,
        ids: Vec<FileId>,
    ) -> Result<Result<Vec<Attachment>, AttachRefusal>, StoreError> {
        self.read(move |c| own_files(c, owner, &ids)).await
    }

    /// A file `user` may fetch.
    pub async fn readable_file(
        &self,
        id: FileId,
        user: i64,
        admin: bool,
    ) -> Result<Option<Attachment>, StoreError> {
        self.read(move |c| readable_file(c, id, user, admin)).await
    }

    /// A file a message carries (see [`attached_file`]).
    pub async fn attached_file(&self, id: FileId) -> Result<Option<Attachment>, StoreError> {
        self.read(move |c| attached_file(c, id)).await
    }

    /// Removes what nothing refers to any more (see [`collect_garbage`]).
    pub async fn collect_garbage(&self, unattached_before: i64) -> Result<usize, StoreError> {
        let blobs = std::sync::Arc::clone(&self.blobs);
        self.write(move |c| collect_garbage(c, &*blobs, unattached_before))
            .await
    }
}
