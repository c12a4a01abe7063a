//! An account's data, for its owner's rights: the export
//! (`natterd user export NAME`), and the purge that erases what they
//! wrote (`natterd user del --purge NAME`).
//!
//! # The export format (`natter-export`, version 1)
//! One JSON object:
//! - `format`: `"natter-export"`, `version`: 1, `exported_at` (ms);
//! - `user`: `name`, `display_name`, `admin`, `bot`, `suspended`,
//!   `created_at`, `invites` (who may invite them), `receipts` (whether
//!   they share read receipts);
//! - `memberships`: each room with `room`, `kind`, `role`, `last_read`
//!   (their read marker: a message id) and `delivered`;
//! - `messages`: every message they wrote, oldest first: `id`, `room`,
//!   `ts`, `body`, `action`, `reply_to`, `thread`, `edited_at`, `deleted`,
//!   and `attachments` (file `id`, `name`, `size`, `mime`, `sha256`);
//! - `reactions`: `message`, `room`, `key`, `at`;
//! - `files`: the files they uploaded: `id`, `name`, `size`, `mime`,
//!   `sha256`, `created_at`, `attached`;
//! - `blocked`: the names they block;
//! - `api_tokens`: `label`, `created_at`, `expires_at` (never a token).
//!
//! Direct conversations are named `@other` from the account's side. Times
//! are milliseconds since the Unix epoch.

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use super::operator::OperatorStore;
use super::sql::{self, AccountEventKind, UserRow};
use super::{StoreError, now_ms};

/// The export's format name and version.
pub const FORMAT: &str = "natter-export";
pub const VERSION: u32 = 1;

/// A room's name as `user_id` sees it: `#room`, or `@other` for a direct
/// conversation (stored as `@a+b`, by user ids).
fn room_name(conn: &Connection, user_id: i64, stored: &str) -> Result<String, StoreError> {
    let Some(pair) = stored.strip_prefix('@') else {
        return Ok(format!("#{stored}"));
    };
    let other = pair
        .split('+')
        .filter_map(|id| id.parse::<i64>().ok())
        .find(|id| *id != user_id);
    let name = match other {
        Some(id) => sql::user_by_id(conn, id)?.map(|u| u.name),
        None => None,
    };
    Ok(format!("@{}", name.unwrap_or_else(|| "(deleted)".into())))
}

fn rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let out = stmt.query_map(params, f)?.collect::<Result<_, _>>()?;
    Ok(out)
}

fn export(conn: &Connection, user: &UserRow) -> Result<Value, StoreError> {
    let id = user.id;
    let profile: (Option<String>, bool, i64, String, bool) = conn.query_row(
        "SELECT display_name, bot, created_at, invites, receipts FROM users WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    let memberships = rows(
        conn,
        "SELECT r.name, r.kind, m.role, m.last_read, m.delivered FROM members m
         JOIN rooms r ON r.id = m.room_id WHERE m.user_id = ?1 ORDER BY r.name",
        [id],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        },
    )?
    .into_iter()
    .map(|(room, kind, role, last_read, delivered)| {
        Ok(json!({
            "room": room_name(conn, id, &room)?,
            "kind": kind,
            "role": role,
            "last_read": last_read,
            "delivered": delivered,
        }))
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    let attachments = |message: i64| -> Result<Vec<Value>, StoreError> {
        rows(
            conn,
            "SELECT f.id, f.name, b.size, b.mime, b.hash FROM message_files mf
             JOIN files f ON f.id = mf.file_id JOIN blobs b ON b.hash = f.hash
             WHERE mf.message_id = ?1 ORDER BY mf.pos",
            [message],
            |r| {
                Ok(json!({
                    "id": r.get::<_, i64>(0)?,
                    "name": r.get::<_, String>(1)?,
                    "size": r.get::<_, i64>(2)?,
                    "mime": r.get::<_, String>(3)?,
                    "sha256": r.get::<_, String>(4)?,
                }))
            },
        )
    };
    let messages = rows(
        conn,
        "SELECT m.id, r.name, m.ts, m.body, m.action, m.reply_to, m.thread, m.edited_at, m.deleted
         FROM messages m JOIN rooms r ON r.id = m.room_id WHERE m.author = ?1 ORDER BY m.id",
        [&user.name],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, bool>(8)?,
            ))
        },
    )?
    .into_iter()
    .map(
        |(mid, room, ts, body, action, reply_to, thread, edited_at, deleted)| {
            Ok(json!({
                "id": mid,
                "room": room_name(conn, id, &room)?,
                "ts": ts,
                "body": body,
                "action": action,
                "reply_to": reply_to,
                "thread": thread,
                "edited_at": edited_at,
                "deleted": deleted,
                "attachments": attachments(mid)?,
            }))
        },
    )
    .collect::<Result<Vec<_>, StoreError>>()?;
    let reactions = rows(
        conn,
        "SELECT x.message_id, r.name, x.key, x.at FROM reactions x
         JOIN messages m ON m.id = x.message_id JOIN rooms r ON r.id = m.room_id
         WHERE x.user_id = ?1 ORDER BY x.id",
        [id],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        },
    )?
    .into_iter()
    .map(|(message, room, key, at)| {
        Ok(json!({
            "message": message,
            "room": room_name(conn, id, &room)?,
            "key": key,
            "at": at,
        }))
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    let files = rows(
        conn,
        "SELECT f.id, f.name, b.size, b.mime, b.hash, f.created_at, f.attached FROM files f
         JOIN blobs b ON b.hash = f.hash WHERE f.owner_id = ?1 ORDER BY f.id",
        [id],
        |r| {
            Ok(json!({
                "id": r.get::<_, i64>(0)?,
                "name": r.get::<_, String>(1)?,
                "size": r.get::<_, i64>(2)?,
                "mime": r.get::<_, String>(3)?,
                "sha256": r.get::<_, String>(4)?,
                "created_at": r.get::<_, i64>(5)?,
                "attached": r.get::<_, bool>(6)?,
            }))
        },
    )?;
    let blocked = rows(
        conn,
        "SELECT u.name FROM blocks b JOIN users u ON u.id = b.blocked_id
         WHERE b.user_id = ?1 ORDER BY u.name",
        [id],
        |r| r.get::<_, String>(0),
    )?;
    let api_tokens = rows(
        conn,
        "SELECT label, created_at, expires_at FROM tokens
         WHERE user_id = ?1 AND label IS NOT NULL ORDER BY rowid",
        [id],
        |r| {
            Ok(json!({
                "label": r.get::<_, String>(0)?,
                "created_at": r.get::<_, i64>(1)?,
                "expires_at": r.get::<_, Option<i64>>(2)?,
            }))
        },
    )?;
    let (display_name, bot, created_at, invites, receipts) = profile;
    Ok(json!({
        "format": FORMAT,
        "version": VERSION,
        "exported_at": now_ms(),
        "user": {
            "name": user.name,
            "display_name": display_name,
            "admin": user.admin,
            "bot": bot,
            "suspended": user.suspended,
            "created_at": created_at,
            "invites": invites,
            "receipts": receipts,
        },
        "memberships": memberships,
        "messages": messages,
        "reactions": reactions,
        "files": files,
        "blocked": blocked,
        "api_tokens": api_tokens,
    }))
}

/// What a purge erased.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Messages whose bodies were erased (tombstones stay).
    pub messages: usize,
    /// Files they uploaded, now gone.
    pub files: usize,
}

/// Erases every message `user` wrote (body, reactions on it, its files),
/// leaving tombstones, and the files they uploaded; then records, per
/// room, an event a running server follows.
fn purge(conn: &Connection, user: &UserRow) -> Result<Purged, StoreError> {
    let live: Vec<(i64, i64)> = rows(
        conn,
        "SELECT id, room_id FROM messages WHERE author = ?1 AND deleted = 0 ORDER BY id",
        [&user.name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (id, _) in &live {
        let rev = super::rich::next_rev(conn)?;
        conn.prepare_cached("UPDATE messages SET body = '', deleted = 1, rev = ?2 WHERE id = ?1")?
            .execute(params![id, super::to_sql(rev)])?;
        conn.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")?
            .execute([id])?;
    }
    // Every file they uploaded goes to the collection: those their
    // messages carried were let go by the tombstones (a trigger), and no
    // one else's message can carry them.
    conn.execute(
        "INSERT OR IGNORE INTO file_orphans (file_id) SELECT id FROM files WHERE owner_id = ?1",
        [user.id],
    )?;
    let files: i64 = conn.query_row(
        "SELECT COUNT(*) FROM files WHERE owner_id = ?1",
        [user.id],
        |r| r.get(0),
    )?;
    let mut rooms: Vec<i64> = live.iter().map(|(_, room)| *room).collect();
    rooms.sort_unstable();
    rooms.dedup();
    for room in rooms {
        sql::insert_account_event(conn, user.id, AccountEventKind::Purged, None, Some(room))?;
    }
    Ok(Purged {
        messages: live.len(),
        files: usize::try_from(files).unwrap_or(0),
    })
}

impl super::Store {
    /// The messages account `user_id` wrote in a room after `after` that
    /// are tombstones now: what a running server tells the room after a
    /// purge. The account may be deleted by then: its name is kept
    /// reserved.
    pub async fn purged_messages(
        &self,
        room_id: i64,
        user_id: i64,
        after: u64,
    ) -> Result<Vec<super::StoredMessage>, StoreError> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {} FROM messages WHERE room_id = ?1 AND id > ?3 AND deleted = 1
                 AND author = COALESCE((SELECT name FROM users WHERE id = ?2),
                                       (SELECT name FROM reserved_names WHERE user_id = ?2))
                 ORDER BY id",
                sql::MESSAGE_COLUMNS
            );
            rows(
                c,
                &sql,
                params![room_id, user_id, super::to_sql(after)],
                sql::stored_row,
            )
        })
        .await
    }
}

impl OperatorStore {
    /// Everything stored about `user`, in the documented format.
    pub fn export_user(&self, user: &UserRow) -> Result<Value, StoreError> {
        export(&self.conn, user)
    }

    /// Erases what `user` wrote and uploaded (see the module doc), in one
    /// audited transaction. The account itself stays: delete it after.
    pub fn purge_user(&mut self, user: &UserRow) -> Result<Purged, StoreError> {
        self.audited("user.purge", &user.name, "", "", |c| purge(c, user))
    }

    /// Removes the files and blobs nothing refers to any more (after a
    /// purge), as a running server's sweep would; uploads not attached yet
    /// are left to the server. Returns the blobs removed.
    pub fn collect_files(&mut self, data_dir: &std::path::Path) -> Result<usize, StoreError> {
        let blobs = super::FsBlobs::open(data_dir).map_err(|error| StoreError::DataDir {
            path: data_dir.join(super::blobs::BLOBS_DIR),
            error,
        })?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let gone = super::files::collect_garbage(&tx, &blobs, i64::MIN)?;
        tx.commit()?;
        Ok(gone)
    }
}
