//! Rich messaging in the store: revisions, thread summaries, edits,
//! deletes and reactions, and the history pages that need them (catch-up
//! by revision, a page around a message, a thread's page).
//!
//! Every write here runs as a job on the ordered commit path and reports
//! the changed message ([`MessageChange`]) in commit order with the
//! messages around it; a refusal ([`Refusal`]) writes nothing. A delete is
//! an `UPDATE` that empties the body and sets `deleted`: the row, and so
//! the message's place in its room, stays.

use std::sync::Arc;

use natter_shared::{MessageId, ReactOp, Reaction, Rev};
use rusqlite::{Connection, OptionalExtension, params};

use super::sql::{MESSAGE_COLUMNS, from_sql, messages_after, messages_before, stored_row, to_sql};
use super::{ChangeKind, MessageChange, Store, StoreError, StoredMessage, now_ms};

/// Why a change to a message was refused (nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not in that room, deleted already (for edits, deletes and
    /// reactions), or never there: one answer for all.
    NoSuchMessage,
    /// Someone else's message, and the caller may not change it.
    NotAuthor,
    /// The message has as many distinct reaction keys as allowed.
    TooManyKeys,
}

/// A refused change, or what it did.
pub type Verdict<T> = Result<T, Refusal>;

/// Which page of rich history to read.
#[derive(Debug, Clone, Copy)]
pub enum RichPage {
    /// Every message of the room with a revision above this, threads
    /// included, in revision order.
    Since(Rev),
    /// About half the page before the message, the message, and the rest
    /// after it (thread replies left out, unless it is one).
    Around(MessageId),
    /// The root, then its replies in id order, paged by `before`/`after`.
    Thread {
        root: MessageId,
        before: Option<MessageId>,
        after: Option<MessageId>,
    },
}

/// A page read: the messages, whether more lie beyond, and the revision the
/// next catch-up starts from.
#[derive(Debug)]
pub struct RichRead {
    pub messages: Vec<StoredMessage>,
    pub more: bool,
    pub rev: Rev,
}

/// Takes the next store-wide revision.
pub(super) fn next_rev(conn: &Connection) -> rusqlite::Result<Rev> {
    let mut stmt =
        conn.prepare_cached("UPDATE revision SET last = last + 1 WHERE only = 1 RETURNING last")?;
    stmt.query_row([], |r| r.get::<_, i64>(0)).map(from_sql)
}

/// The store-wide revision counter, held in memory while a batch inserts
/// messages. Every message takes a revision, and an `UPDATE … RETURNING`
/// per message was a tenth of S1's throughput; the batch now reads the
/// counter once, counts in memory, and writes it back once, before any job
/// (jobs take theirs with [`next_rev`]) and before the commit.
pub(super) struct RevCounter {
    last: i64,
    dirty: bool,
}

impl RevCounter {
    /// Reads the counter as the transaction sees it.
    pub(super) fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let last = conn
            .prepare_cached("SELECT last FROM revision WHERE only = 1")?
            .query_row([], |r| r.get::<_, i64>(0))?;
        Ok(Self { last, dirty: false })
    }

    /// Takes the next revision.
    pub(super) fn take(&mut self) -> Rev {
        self.last += 1;
        self.dirty = true;
        from_sql(self.last)
    }

    /// Writes the counter back, if a revision was taken since it was read.
    pub(super) fn save(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        if self.dirty {
            conn.prepare_cached("UPDATE revision SET last = ?1 WHERE only = 1")?
                .execute([self.last])?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// Counts a reply posted in the thread rooted at `root`: its summary
/// changes, so the root takes a new revision, `rev`.
pub(super) fn count_reply(
    conn: &Connection,
    root: MessageId,
    author: &str,
    ts: i64,
    rev: Rev,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE messages SET reply_count = reply_count + 1, last_reply_from = ?2,
         last_reply_ts = ?3, rev = ?4 WHERE id = ?1",
    )?;
    stmt.execute(params![to_sql(root), author, ts, to_sql(rev)])?;
    Ok(())
}

/// The highest revision in a room (0 when it has no messages).
pub fn room_rev(conn: &Connection, room_id: i64) -> Result<Rev, StoreError> {
    let rev: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(rev), 0) FROM messages WHERE room_id = ?1")?
        .query_row([room_id], |r| r.get(0))?;
    Ok(from_sql(rev))
}

/// Fills in each message's reactions: keys in the order they were first
/// used, users in the order they reacted.
pub fn add_reactions(conn: &Connection, messages: &mut [StoredMessage]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.key, u.name FROM reactions r JOIN users u ON u.id = r.user_id
         WHERE r.message_id = ?1 ORDER BY r.id",
    )?;
    for m in messages {
        let mut reactions: Vec<Reaction> = Vec::new();
        let mut rows = stmt.query([to_sql(m.id)])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            let user: String = row.get(1)?;
            match reactions.iter_mut().find(|r| r.key == key) {
                Some(r) => r.users.push(user),
                None => reactions.push(Reaction {
                    key,
                    users: vec![user],
                }),
            }
        }
        m.reactions = reactions;
    }
    Ok(())
}

/// Fills in the reactions of a run of one room's messages in id order (a
/// page, or the newest messages a room keeps in memory) with one query over
/// their id range, rather than one per message: loading every room's
/// newest messages at start-up does this for each room.
pub fn add_room_reactions(
    conn: &Connection,
    room_id: i64,
    messages: &mut [StoredMessage],
) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
        return Ok(());
    };
    let (low, high) = (to_sql(first.id), to_sql(last.id));
    for m in messages.iter_mut() {
        m.reactions.clear();
    }
    let mut stmt = conn.prepare_cached(
        "SELECT r.message_id, r.key, u.name FROM messages m
         JOIN reactions r ON r.message_id = m.id
         JOIN users u ON u.id = r.user_id
         WHERE m.room_id = ?1 AND m.id BETWEEN ?2 AND ?3 ORDER BY r.id",
    )?;
    let mut rows = stmt.query(params![room_id, low, high])?;
    while let Some(row) = rows.next()? {
        let id = from_sql(row.get(0)?);
        let Ok(i) = messages.binary_search_by_key(&id, |m| m.id) else {
            continue;
        };
        let key: String = row.get(1)?;
        let user: String = row.get(2)?;
        let reactions = &mut messages[i].reactions;
        match reactions.iter_mut().find(|r| r.key == key) {
            Some(r) => r.users.push(user),
            None => reactions.push(Reaction {
                key,
                users: vec![user],
            }),
        }
    }
    Ok(())
}

/// Message `id` of a room, as it is now, if it is there.
pub fn message(
    conn: &Connection,
    room_id: i64,
    id: MessageId,
) -> Result<Option<StoredMessage>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND room_id = ?2"
        ))?
        .query_row(params![to_sql(id), room_id], stored_row)
        .optional()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut one = [row];
    add_reactions(conn, &mut one)?;
    super::files::add_attachments(conn, &mut one)?;
    let [row] = one;
    Ok(Some(row))
}

/// A message of the room that is not deleted, or the refusal.
fn live(
    conn: &Connection,
    room_id: i64,
    id: MessageId,
) -> Result<Verdict<StoredMessage>, StoreError> {
    Ok(match message(conn, room_id, id)? {
        Some(m) if !m.deleted => Ok(m),
        _ => Err(Refusal::NoSuchMessage),
    })
}

/// Reads message `id` again after a change, as the change to report.
fn changed(
    conn: &Connection,
    room_id: i64,
    id: MessageId,
    kind: ChangeKind,
) -> Result<Option<MessageChange>, StoreError> {
    Ok(message(conn, room_id, id)?.map(|message| MessageChange { message, kind }))
}

/// Replaces the body of `author`'s message `id` and stamps `edited_at`;
/// returns the stamp.
fn edit(
    conn: &Connection,
    room_id: i64,
    id: MessageId,
    author: &str,
    body: &str,
) -> Result<(Verdict<i64>, Option<MessageChange>), StoreError> {
    let m = match live(conn, room_id, id)? {
        Ok(m) => m,
        Err(refusal) => return Ok((Err(refusal), None)),
    };
    if &*m.author != author {
        return Ok((Err(Refusal::NotAuthor), None));
    }
    let at = now_ms();
    let rev = next_rev(conn)?;
    conn.prepare_cached("UPDATE messages SET body = ?2, edited_at = ?3, rev = ?4 WHERE id = ?1")?
        .execute(params![to_sql(id), body, at, to_sql(rev)])?;
    Ok((Ok(at), changed(conn, room_id, id, ChangeKind::Edited)?))
}

/// Deletes message `id`: its body is erased, its reactions go, the row
/// stays as a tombstone. Someone else's only with `moderator`.
fn delete(
    conn: &Connection,
    room_id: i64,
    id: MessageId,
    by: &Arc<str>,
    moderator: bool,
) -> Result<(Verdict<()>, Option<MessageChange>), StoreError> {
    let m = match live(conn, room_id, id)? {
        Ok(m) => m,
        Err(refusal) => return Ok((Err(refusal), None)),
    };
    if m.author != *by && !moderator {
        return Ok((Err(Refusal::NotAuthor), None));
    }
    let rev = next_rev(conn)?;
    conn.prepare_cached("UPDATE messages SET body = '', deleted = 1, rev = ?2 WHERE id = ?1")?
        .execute(params![to_sql(id), to_sql(rev)])?;
    conn.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")?
        .execute([to_sql(id)])?;
    let kind = ChangeKind::Deleted { by: Arc::clone(by) };
    Ok((Ok(()), changed(conn, room_id, id, kind)?))
}

/// A reaction request, as checked by the caller.
#[derive(Debug, Clone)]
pub struct React {
    pub room_id: i64,
    pub id: MessageId,
    pub user_id: i64,
    pub user: Arc<str>,
    pub key: String,
    /// `Toggle`, `Add` or `Remove` (the caller refuses `Unknown`).
    pub op: ReactOp,
    /// Most distinct keys on one message.
    pub max_keys: u64,
}

/// Adds or removes a reaction; returns whether it is there now. A request
/// that changes nothing (adding one already there) reports no change.
fn react(
    conn: &Connection,
    r: &React,
) -> Result<(Verdict<bool>, Option<MessageChange>), StoreError> {
    if let Err(refusal) = live(conn, r.room_id, r.id)? {
        return Ok((Err(refusal), None));
    }
    let there: bool = conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM reactions
             WHERE message_id = ?1 AND user_id = ?2 AND key = ?3)",
        )?
        .query_row(params![to_sql(r.id), r.user_id, r.key], |row| row.get(0))?;
    let on = match r.op {
        ReactOp::Add => true,
        ReactOp::Remove => false,
        ReactOp::Toggle | ReactOp::Unknown => !there,
    };
    if on == there {
        return Ok((Ok(on), None));
    }
    if on {
        let (keys, known): (i64, bool) = conn
            .prepare_cached(
                "SELECT COUNT(DISTINCT key), COALESCE(MAX(key = ?2), 0)
                 FROM reactions WHERE message_id = ?1",
            )?
            .query_row(params![to_sql(r.id), r.key], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
        if !known && from_sql(keys) >= r.max_keys {
            return Ok((Err(Refusal::TooManyKeys), None));
        }
        conn.prepare_cached(
            "INSERT INTO reactions (message_id, user_id, key, at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![to_sql(r.id), r.user_id, r.key, now_ms()])?;
    } else {
        conn.prepare_cached(
            "DELETE FROM reactions WHERE message_id = ?1 AND user_id = ?2 AND key = ?3",
        )?
        .execute(params![to_sql(r.id), r.user_id, r.key])?;
    }
    let rev = next_rev(conn)?;
    conn.prepare_cached("UPDATE messages SET rev = ?2 WHERE id = ?1")?
        .execute(params![to_sql(r.id), to_sql(rev)])?;
    let kind = ChangeKind::Reaction {
        key: r.key.clone(),
        user: Arc::clone(&r.user),
        on,
    };
    Ok((Ok(on), changed(conn, r.room_id, r.id, kind)?))
}

/// Reads a page of rich history; `None` when the message it names is not
/// in the room (or, for a thread, is no thread root).
fn read_page(
    conn: &Connection,
    room_id: i64,
    page: RichPage,
    limit: usize,
) -> Result<Option<RichRead>, StoreError> {
    // The revision first: whatever the page then shows is at least as new,
    // so a catch-up from it misses nothing.
    let rev = room_rev(conn, room_id)?;
    let (mut messages, more, rev) = match page {
        RichPage::Since(since) => {
            let mut rows: Vec<StoredMessage> = conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE room_id = ?1 AND rev > ?2 ORDER BY rev LIMIT ?3"
                ))?
                .query_map(
                    params![room_id, to_sql(since), to_sql(limit as u64 + 1)],
                    stored_row,
                )?
                .collect::<Result<_, _>>()?;
            let more = rows.len() > limit;
            rows.truncate(limit);
            // With more to come, the next catch-up starts after this page.
            let rev = match rows.last() {
                Some(last) if more => last.rev,
                _ => rev.max(since),
            };
            (rows, more, rev)
        }
        RichPage::Around(id) => {
            let Some(middle) = message(conn, room_id, id)? else {
                return Ok(None);
            };
            let half = limit.saturating_sub(1) / 2;
            let mut older = messages_before(conn, room_id, Some(id), half + 1, false)?;
            let more = older.len() > half;
            if more {
                older.remove(0);
            }
            let newer = messages_after(conn, room_id, id, limit.saturating_sub(1) - half, false)?;
            older.push(middle);
            older.extend(newer);
            (older, more, rev)
        }
        RichPage::Thread {
            root,
            before,
            after,
        } => {
            let Some(root) = message(conn, room_id, root)? else {
                return Ok(None);
            };
            if root.thread.is_some() {
                return Ok(None);
            }
            let mut replies: Vec<StoredMessage> = if let Some(after) = after {
                conn.prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE thread = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
                ))?
                .query_map(
                    params![to_sql(root.id), to_sql(after), to_sql(limit as u64 + 1)],
                    stored_row,
                )?
                .collect::<Result<_, _>>()?
            } else {
                let before = before.map_or(i64::MAX, to_sql);
                let mut rows: Vec<StoredMessage> = conn
                    .prepare_cached(&format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages
                         WHERE thread = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
                    ))?
                    .query_map(
                        params![to_sql(root.id), before, to_sql(limit as u64 + 1)],
                        stored_row,
                    )?
                    .collect::<Result<_, _>>()?;
                rows.reverse();
                rows
            };
            let more = replies.len() > limit;
            if more {
                if after.is_some() {
                    replies.truncate(limit);
                } else {
                    replies.remove(0);
                }
            }
            let mut rows = vec![root];
            rows.extend(replies);
            (rows, more, rev)
        }
    };
    match page {
        RichPage::Around(_) => add_room_reactions(conn, room_id, &mut messages)?,
        RichPage::Since(_) | RichPage::Thread { .. } => add_reactions(conn, &mut messages)?,
    }
    super::files::add_attachments(conn, &mut messages)?;
    Ok(Some(RichRead {
        messages,
        more,
        rev,
    }))
}

impl Store {
    /// Replaces the body of `author`'s message `id` in a room, in order
    /// with everything else; returns when it was edited.
    ///
    /// # Errors
    /// A store failure; a refusal is the `Ok` value's `Err`.
    pub async fn edit_message(
        &self,
        room_id: i64,
        id: MessageId,
        author: Arc<str>,
        body: String,
    ) -> Result<Verdict<i64>, StoreError> {
        self.write_change(move |c| edit(c, room_id, id, &author, &body))
            .await
    }

    /// Deletes message `id` of a room: `by`'s own, or anyone's with
    /// `moderator`.
    ///
    /// # Errors
    /// A store failure; a refusal is the `Ok` value's `Err`.
    pub async fn delete_message(
        &self,
        room_id: i64,
        id: MessageId,
        by: Arc<str>,
        moderator: bool,
    ) -> Result<Verdict<()>, StoreError> {
        self.write_change(move |c| delete(c, room_id, id, &by, moderator))
            .await
    }

    /// Queues adding or removing a reaction; the result, once stored, is
    /// whether it is there now (a refusal is the `Ok` value's `Err`).
    ///
    /// # Errors
    /// `Closed`.
    pub fn queue_react(&self, r: React) -> Result<super::Queued<Verdict<bool>>, StoreError> {
        self.queue_change(move |c| react(c, &r))
    }

    /// The room message `id` is in, if it exists: for a request that names
    /// a message by id alone.
    ///
    /// # Errors
    /// A store failure.
    pub async fn message_room(&self, id: MessageId) -> Result<Option<i64>, StoreError> {
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT room_id FROM messages WHERE id = ?1")?
                    .query_row([to_sql(id)], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    /// Message `id` of a room as it is now, if it is there (to check a
    /// reply's parent or a thread's root).
    ///
    /// # Errors
    /// A store failure.
    pub async fn message(
        &self,
        room_id: i64,
        id: MessageId,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.read(move |c| message(c, room_id, id)).await
    }

    /// The newest message of a room sent at or before `ts` (ms), or with
    /// `after`, the oldest sent at or after it: IRC names history and read
    /// markers by time. Ids grow with commit time, so the walk follows the
    /// room's id index from the near end.
    ///
    /// # Errors
    /// A store failure.
    pub async fn message_at_time(
        &self,
        room_id: i64,
        ts: i64,
        after: bool,
    ) -> Result<Option<MessageId>, StoreError> {
        self.read(move |c| {
            let sql = if after {
                "SELECT id FROM messages WHERE room_id = ?1 AND ts >= ?2 ORDER BY id ASC LIMIT 1"
            } else {
                "SELECT id FROM messages WHERE room_id = ?1 AND ts <= ?2 ORDER BY id DESC LIMIT 1"
            };
            let id: Option<i64> = c
                .prepare_cached(sql)?
                .query_row(rusqlite::params![room_id, ts], |r| r.get(0))
                .optional()?;
            Ok(id.and_then(|i| MessageId::try_from(i).ok()))
        })
        .await
    }

    /// A page of rich history, or `None` when the message it names is not
    /// in the room.
    ///
    /// # Errors
    /// A store failure.
    pub async fn rich_page(
        &self,
        room_id: i64,
        page: RichPage,
        limit: usize,
    ) -> Result<Option<RichRead>, StoreError> {
        self.read(move |c| read_page(c, room_id, page, limit)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One user and `#general` in a fresh file; returns (connection, user
    /// id, room id).
    fn fresh(dir: &std::path::Path) -> (Connection, i64, i64) {
        let conn = super::super::open_db(dir).unwrap();
        conn.execute(
            "INSERT INTO users (name, pw_hash, created_at) VALUES ('ann', 'x', 0)",
            [],
        )
        .unwrap();
        let user = conn.last_insert_rowid();
        let room: i64 = conn
            .query_row("SELECT id FROM rooms WHERE name = 'general'", [], |r| {
                r.get(0)
            })
            .unwrap();
        (conn, user, room)
    }

    fn insert(conn: &Connection, room: i64, body: &str) -> MessageId {
        let rev = next_rev(conn).unwrap();
        conn.execute(
            "INSERT INTO messages (room_id, author, ts, body, rev) VALUES (?1, 'ann', 1, ?2, ?3)",
            params![room, body, to_sql(rev)],
        )
        .unwrap();
        from_sql(conn.last_insert_rowid())
    }

    #[test]
    fn an_old_file_gets_revisions_equal_to_ids_and_new_ones_above_them() {
        let dir = tempfile::tempdir().unwrap();
        {
            // The messages table as natterd made it before rich messaging.
            let conn = Connection::open(dir.path().join(super::super::DB_FILE)).unwrap();
            conn.execute_batch(
                "CREATE TABLE messages (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    room_id INTEGER NOT NULL,
                    author TEXT NOT NULL,
                    ts INTEGER NOT NULL,
                    body TEXT NOT NULL,
                    action INTEGER NOT NULL DEFAULT 0
                 );
                 INSERT INTO messages (room_id, author, ts, body) VALUES (1, 'ann', 1, 'a');
                 INSERT INTO messages (room_id, author, ts, body) VALUES (1, 'ann', 2, 'b');",
            )
            .unwrap();
        }
        let conn = super::super::open_db(dir.path()).unwrap();
        let revs: Vec<(i64, i64)> = conn
            .prepare("SELECT id, rev FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(revs, [(1, 1), (2, 2)]);
        assert_eq!(next_rev(&conn).unwrap(), 3);
        // Opening again changes nothing.
        drop(conn);
        let conn = super::super::open_db(dir.path()).unwrap();
        assert_eq!(next_rev(&conn).unwrap(), 4);
        assert_eq!(room_rev(&conn, 1).unwrap(), 2);
    }

    #[test]
    fn changes_take_fresh_revisions_and_refusals_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, user, room) = fresh(dir.path());
        let id = insert(&conn, room, "hello");
        let ann: Arc<str> = Arc::from("ann");
        let (at, change) = edit(&conn, room, id, "ann", "hello!").unwrap();
        assert!(at.is_ok());
        let edited = change.unwrap().message;
        assert_eq!((&*edited.body, edited.rev), ("hello!", 2));
        assert_eq!(
            edit(&conn, room, id, "bob", "mine").unwrap().0,
            Err(Refusal::NotAuthor)
        );
        assert_eq!(
            edit(&conn, room + 1, id, "ann", "elsewhere").unwrap().0,
            Err(Refusal::NoSuchMessage)
        );
        let r = |key: &str, op| React {
            room_id: room,
            id,
            user_id: user,
            user: Arc::clone(&ann),
            key: key.into(),
            op,
            max_keys: 1,
        };
        let (on, change) = react(&conn, &r("👍", ReactOp::Toggle)).unwrap();
        assert_eq!(on, Ok(true));
        let reacted = change.unwrap().message;
        assert_eq!(reacted.rev, 3);
        assert_eq!(reacted.reactions[0].users, ["ann"]);
        // Nothing to change: no revision, no change.
        let (on, change) = react(&conn, &r("👍", ReactOp::Add)).unwrap();
        assert_eq!(on, Ok(true));
        assert!(change.is_none());
        assert_eq!(
            react(&conn, &r(":tada:", ReactOp::Add)).unwrap().0,
            Err(Refusal::TooManyKeys)
        );
        let (done, change) = delete(&conn, room, id, &ann, false).unwrap();
        assert_eq!(done, Ok(()));
        let gone = change.unwrap().message;
        assert!(gone.deleted && gone.body.is_empty() && gone.reactions.is_empty());
        assert_eq!(gone.rev, 4);
        assert_eq!(
            delete(&conn, room, id, &ann, true).unwrap().0,
            Err(Refusal::NoSuchMessage)
        );
        assert_eq!(room_rev(&conn, room).unwrap(), 4);
    }
}
