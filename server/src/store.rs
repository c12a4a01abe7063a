//! Durable storage in SQLite (WAL), in `natter.db` in the data dir.
//!
//! All writes go through one dedicated thread that group-commits: it takes
//! every operation waiting in its queue, runs them in one transaction, commits
//! once, and only then reports back. A message's id comes from that insert,
//! so ids are assigned in commit order and a crash can never hand out an id
//! twice. Reads that must not wait behind writes (logins, old history) use a
//! second connection.
//!
//! The SQL helpers at the bottom are shared by the server and the admin CLI
//! (`natterd user ...`, `natterd room ...`), which works on the same file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::thread::JoinHandle;

use natter_shared::{Message, MessageId, Role, RoomKind};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::config::SyncMode;

/// The database file inside the data dir.
pub const DB_FILE: &str = "natter.db";

/// Session tokens kept per user; older ones are revoked.
pub const MAX_TOKENS_PER_USER: i64 = 20;

/// The public room every account is a member of.
pub const GENERAL: &str = "general";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create data directory {path}: {error}")]
    DataDir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("the store has shut down")]
    Closed,
}

/// A message on its way to the store.
#[derive(Debug)]
pub struct NewMessage {
    pub room_id: i64,
    pub author: Arc<str>,
    pub body: String,
    pub action: bool,
    pub ts: i64,
    /// Who to acknowledge: (session id, request id).
    pub origin: Option<(u64, u64)>,
}

/// A message the store has committed.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: MessageId,
    pub room_id: i64,
    pub author: Arc<str>,
    pub body: Arc<str>,
    pub action: bool,
    pub ts: i64,
}

impl StoredMessage {
    /// The wire form, with the room named as its recipient sees it.
    #[must_use]
    pub fn to_wire(&self, room: String) -> Message {
        Message {
            id: self.id,
            ts: self.ts,
            room,
            from: self.author.to_string(),
            body: self.body.to_string(),
            action: self.action,
        }
    }
}

/// A committed batch, in commit order, with each message's origin.
pub type Committed = Vec<(StoredMessage, Option<(u64, u64)>)>;

/// What the writer thread reports about messages.
#[derive(Debug)]
pub enum Outcome {
    /// These messages are durably stored, in this order.
    Committed(Committed),
    /// These (session, request) origins' messages were not stored.
    Failed(Vec<(u64, u64)>),
}

/// Called on the writer thread with each batch's outcome.
pub type OnCommit = Box<dyn Fn(Outcome) + Send + Sync>;

type Completion = Box<dyn FnOnce() + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Completion + Send>;

enum Op {
    Message(NewMessage),
    Job(Job),
    /// Commit what came before, then stop.
    Shutdown,
}

/// The handle the server holds. Cloning shares the same writer thread.
#[derive(Clone)]
pub struct Store {
    tx: std_mpsc::Sender<Op>,
    reader: Arc<Mutex<Connection>>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
    checkpointer: Arc<Mutex<Option<Checkpointer>>>,
}

/// The checkpoint thread; dropping `stop` ends it.
struct Checkpointer {
    stop: std_mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

/// How often the checkpointer copies the write-ahead log into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Copies committed pages from the write-ahead log into the database on a
/// thread of its own. SQLite's automatic checkpoint runs inside whichever
/// commit crosses 1000 pages, which held that commit, and every message
/// behind it, for several milliseconds every few seconds (S3: p99 3.9 ms
/// with it, 1.0 ms without). A passive checkpoint on another connection
/// never blocks the writer.
///
/// The log only starts over once a checkpoint has caught up with it, which
/// a steady stream of commits never allows: new frames land while the
/// passive checkpoint copies. So once the log passes
/// [`WAL_RESTART_FRAMES`], a `RESTART` checkpoint follows at once: it
/// waits for the writer, but only to copy the few frames committed since
/// the passive one, and then the next commit starts the log over.
fn checkpoint_loop(conn: &Connection, stop: &std_mpsc::Receiver<()>) {
    let checkpoint = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(1)
        })
    };
    while let Err(std_mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let done = match checkpoint("PASSIVE") {
            Ok(frames) if frames > WAL_RESTART_FRAMES => checkpoint("RESTART").map(|_| ()),
            other => other.map(|_| ()),
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "checkpoint failed");
        }
    }
}

/// Log frames (pages) past which the log is made to start over: 16,384
/// frames of 4 KiB, 64 MiB. The restart holds the writer for its fsync, so
/// it should be rare: at 1000 messages a second, once every 10 s or so.
const WAL_RESTART_FRAMES: i64 = 16_384;

/// Opens (creating if needed) the database in `data_dir` and applies the
/// schema.
pub fn open_db(data_dir: &Path) -> Result<Connection, StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let fresh = !data_dir.exists();
    std::fs::create_dir_all(data_dir).map_err(|error| StoreError::DataDir {
        path: data_dir.to_owned(),
        error,
    })?;
    // Messages and token hashes are nobody else's business: a new data dir
    // is private to natterd's user (an existing one keeps the operator's
    // choice).
    if fresh {
        let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
    }
    let path = data_dir.join(DB_FILE);
    let conn = Connection::open(&path)?;
    // SQLite gives the -wal and -shm files the database file's mode.
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.execute_batch(SCHEMA)?;
    ensure_general(&conn)?;
    Ok(conn)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    pw_hash TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    last_read INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_user ON members(user_id);
CREATE TABLE IF NOT EXISTS bans (
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id INTEGER NOT NULL,
    author TEXT NOT NULL,
    ts INTEGER NOT NULL,
    body TEXT NOT NULL,
    action INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_room ON messages(room_id, id);
CREATE TABLE IF NOT EXISTS server_bans (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    at INTEGER NOT NULL
);
-- Changes to accounts that end their sessions (password, deleted,
-- suspended). A running server polls this table, so the admin CLI's
-- changes reach it within a fraction of a second. Rows are never reused.
CREATE TABLE IF NOT EXISTS account_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    -- A session of the server that made the change, left open (the one
    -- that changed its own password).
    spare_session INTEGER,
    at INTEGER NOT NULL
);
-- Moderation and admin actions: who did what to whom, and when.
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    room TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
";

impl Store {
    /// Opens the store and starts its writer thread. Each committed batch of
    /// messages is handed to `on_commit` on that thread, in commit order,
    /// before any later write's result is reported: so once a
    /// [`Store::write`] returns, every message queued before it has been
    /// delivered.
    pub fn open(
        data_dir: &Path,
        sync: SyncMode,
        retention: u64,
        on_commit: OnCommit,
    ) -> Result<Self, StoreError> {
        let writer_conn = open_db(data_dir)?;
        writer_conn.pragma_update(
            None,
            "synchronous",
            match sync {
                SyncMode::Normal => "NORMAL",
                SyncMode::Full => "FULL",
            },
        )?;
        // Checkpoints run on their own thread (see `checkpoint_loop`); the
        // log is cut back to this size whenever it starts over.
        writer_conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer_conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        let reader = Connection::open(data_dir.join(DB_FILE))?;
        reader.busy_timeout(std::time::Duration::from_secs(10))?;
        let checkpoint_conn = Connection::open(data_dir.join(DB_FILE))?;
        checkpoint_conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let (stop_checkpoints, stop) = std_mpsc::channel();
        let checkpointer = std::thread::Builder::new()
            .name("natterd-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpoint_conn, &stop))
            .map_err(|e| StoreError::Invalid(format!("cannot start checkpoint thread: {e}")))?;
        let (tx, rx) = std_mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("natterd-store".into())
            .spawn(move || writer_loop(&writer_conn, &rx, retention, &*on_commit))
            .map_err(|e| StoreError::Invalid(format!("cannot start store thread: {e}")))?;
        Ok(Self {
            tx,
            reader: Arc::new(Mutex::new(reader)),
            writer: Arc::new(Mutex::new(Some(handle))),
            checkpointer: Arc::new(Mutex::new(Some(Checkpointer {
                stop: stop_checkpoints,
                thread: checkpointer,
            }))),
        })
    }

    /// Queues a message; it is reported on the committed channel once stored.
    pub fn submit(&self, msg: NewMessage) -> Result<(), StoreError> {
        self.tx
            .send(Op::Message(msg))
            .map_err(|_| StoreError::Closed)
    }

    /// Runs `f` on the writer thread inside the next group transaction and
    /// returns its result once that transaction has committed.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, wait) = oneshot::channel();
        // The result is only handed over after the commit; if the batch
        // rolls back, `done` is dropped and the caller sees an error.
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            Box::new(move || {
                let _ = done.send(result);
            })
        });
        self.tx.send(Op::Job(job)).map_err(|_| StoreError::Closed)?;
        wait.await
            .map_err(|_| StoreError::Invalid("the write was rolled back".into()))?
    }

    /// Queues a write whose outcome nobody waits for (membership changes,
    /// read markers): it still commits in order with everything else.
    pub fn write_detached<F>(&self, f: F) -> Result<(), StoreError>
    where
        F: FnOnce(&Connection) + Send + 'static,
    {
        // The closure runs inside the transaction; the no-op completion runs
        // after the commit.
        let job: Job = Box::new(move |conn| {
            f(conn);
            Box::new(|| {})
        });
        self.tx.send(Op::Job(job)).map_err(|_| StoreError::Closed)
    }

    /// Runs a read on the reader connection, off the async threads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let conn = reader
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&conn)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Runs a read on the reader connection on this thread (start-up only).
    pub fn read_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&conn)
    }

    /// Commits everything queued so far, stops the writer thread and waits
    /// for it. Writes queued afterwards (by any clone) fail with `Closed`.
    pub fn close(&self) {
        // The checkpointer first: the writer ends with a full checkpoint
        // of its own.
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(Checkpointer { stop, thread }) = checkpointer {
            drop(stop);
            let _ = thread.join();
        }
        let _ = self.tx.send(Op::Shutdown);
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

/// Most operations in one transaction.
const BATCH_MAX: usize = 4096;

fn writer_loop(
    conn: &Connection,
    rx: &std_mpsc::Receiver<Op>,
    retention: u64,
    on_commit: &(dyn Fn(Outcome) + Send + Sync),
) {
    let mut batch = Vec::with_capacity(256);
    let mut stop = false;
    while !stop {
        let Ok(first) = rx.recv() else { break };
        let mut next = Some(first);
        while let Some(op) = next {
            if matches!(op, Op::Shutdown) {
                stop = true;
                break;
            }
            batch.push(op);
            next = if batch.len() < BATCH_MAX {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if batch.is_empty() {
            continue;
        }
        let origins: Vec<(u64, u64)> = batch
            .iter()
            .filter_map(|op| match op {
                Op::Message(m) => m.origin,
                _ => None,
            })
            .collect();
        match run_batch(conn, &mut batch, retention) {
            Ok((stored, completions)) => {
                if !stored.is_empty() {
                    on_commit(Outcome::Committed(stored));
                }
                for c in completions {
                    c();
                }
            }
            Err(e) => {
                // The whole batch rolled back: nothing was acknowledged, so
                // nothing is lost that a client believes stored; each sender
                // is told, and waiting writers see their channel close.
                tracing::error!(error = %e, "store batch failed and was rolled back");
                on_commit(Outcome::Failed(origins));
            }
        }
        batch.clear();
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::warn!(error = %e, "final checkpoint failed");
    }
}

type BatchOutcome = (Committed, Vec<Completion>);

fn run_batch(
    conn: &Connection,
    batch: &mut Vec<Op>,
    retention: u64,
) -> Result<BatchOutcome, rusqlite::Error> {
    let tx = conn.unchecked_transaction()?;
    let mut stored = Vec::new();
    let mut completions = Vec::new();
    let mut touched = HashSet::new();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO messages (room_id, author, ts, body, action) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for op in batch.drain(..) {
            match op {
                Op::Message(m) => {
                    insert.execute(params![m.room_id, &*m.author, m.ts, m.body, m.action])?;
                    let id = u64::try_from(tx.last_insert_rowid()).unwrap_or_default();
                    touched.insert(m.room_id);
                    stored.push((
                        StoredMessage {
                            id,
                            room_id: m.room_id,
                            author: m.author,
                            body: m.body.into(),
                            action: m.action,
                            ts: m.ts,
                        },
                        m.origin,
                    ));
                }
                Op::Job(job) => completions.push(job(&tx)),
                Op::Shutdown => {}
            }
        }
    }
    if retention > 0 {
        let mut trim = tx.prepare_cached(
            "DELETE FROM messages WHERE room_id = ?1 AND id <= \
             (SELECT id FROM messages WHERE room_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        )?;
        for room in touched {
            trim.execute(params![room, i64::try_from(retention).unwrap_or(i64::MAX)])?;
        }
    }
    tx.commit()?;
    Ok((stored, completions))
}

// ---- SQL helpers shared by the server and the admin CLI -------------------

/// SQLite integers are signed; ids and counts never reach 2^63.
fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A user row.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub pw_hash: String,
    pub admin: bool,
    /// Suspended by an operator: may not log in.
    pub suspended: bool,
}

/// A room row.
#[derive(Debug, Clone)]
pub struct RoomRow {
    pub id: i64,
    pub name: String,
    pub kind: RoomKind,
    pub topic: String,
}

pub(crate) fn kind_str(kind: RoomKind) -> &'static str {
    match kind {
        RoomKind::Public => "public",
        RoomKind::Private => "private",
        RoomKind::Direct => "direct",
    }
}

fn parse_kind(s: &str) -> RoomKind {
    match s {
        "private" => RoomKind::Private,
        "direct" => RoomKind::Direct,
        _ => RoomKind::Public,
    }
}

pub(crate) fn role_str(role: Role) -> &'static str {
    match role {
        Role::Member => "member",
        Role::Moderator => "moderator",
        Role::Owner => "owner",
    }
}

fn parse_role(s: &str) -> Role {
    match s {
        "owner" => Role::Owner,
        "moderator" => Role::Moderator,
        _ => Role::Member,
    }
}

fn ensure_general(conn: &Connection) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO rooms (name, kind, topic, created_at) VALUES (?1, 'public', '', ?2)",
        params![GENERAL, now_ms()],
    )?;
    Ok(())
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        name: r.get(1)?,
        pw_hash: r.get(2)?,
        admin: r.get(3)?,
        suspended: r.get(4)?,
    })
}

fn room_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RoomRow> {
    Ok(RoomRow {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: parse_kind(&r.get::<_, String>(2)?),
        topic: r.get(3)?,
    })
}

/// Looks a user up by (normalised) name.
pub fn user_by_name(conn: &Connection, name: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id, name, pw_hash, admin, EXISTS(SELECT 1 FROM server_bans WHERE user_id = id)
             FROM users WHERE name = ?1",
            [name],
            user_row,
        )
        .optional()?)
}

/// Every user, by name.
pub fn all_users(conn: &Connection) -> Result<Vec<UserRow>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, name, pw_hash, admin, EXISTS(SELECT 1 FROM server_bans WHERE user_id = id)
         FROM users ORDER BY name",
    )?;
    let rows = stmt.query_map([], user_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Creates a user (a member of `#general`) and returns its id.
pub fn insert_user(
    conn: &Connection,
    name: &str,
    pw_hash: &str,
    admin: bool,
) -> Result<i64, StoreError> {
    if user_by_name(conn, name)?.is_some() {
        return Err(StoreError::Invalid(format!("user {name} already exists")));
    }
    conn.execute(
        "INSERT INTO users (name, pw_hash, admin, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, pw_hash, admin, now_ms()],
    )?;
    let id = conn.last_insert_rowid();
    let general: i64 = conn.query_row("SELECT id FROM rooms WHERE name = ?1", [GENERAL], |r| {
        r.get(0)
    })?;
    // A newcomer starts with #general read up to now, as with any join:
    // years of history are not "unread" to someone who just arrived.
    conn.execute(
        "INSERT INTO members (room_id, user_id, role, last_read)
         VALUES (?1, ?2, 'member', (SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?1))",
        params![general, id],
    )?;
    Ok(id)
}

/// Replaces a user's password hash, revokes all their tokens and ends
/// their sessions on a running server, except `spare_session` (of the
/// server making the change).
pub fn set_password(
    conn: &Connection,
    user_id: i64,
    pw_hash: &str,
    spare_session: Option<u64>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET pw_hash = ?1 WHERE id = ?2",
        params![pw_hash, user_id],
    )?;
    conn.execute("DELETE FROM tokens WHERE user_id = ?1", [user_id])?;
    insert_account_event(conn, user_id, AccountEventKind::Password, spare_session)
}

/// Deletes a user, their tokens and memberships (their messages stay), and
/// ends their sessions on a running server.
pub fn delete_user(conn: &Connection, user_id: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM users WHERE id = ?1", [user_id])?;
    insert_account_event(conn, user_id, AccountEventKind::Deleted, None)
}

/// Suspends an account (its sessions end and it cannot log in) or lifts
/// the suspension. Tokens stay, so a lifted suspension needs no new login.
pub fn set_suspended(conn: &Connection, user_id: i64, suspended: bool) -> Result<(), StoreError> {
    if suspended {
        conn.execute(
            "INSERT OR IGNORE INTO server_bans (user_id, at) VALUES (?1, ?2)",
            params![user_id, now_ms()],
        )?;
        insert_account_event(conn, user_id, AccountEventKind::Suspended, None)
    } else {
        conn.execute("DELETE FROM server_bans WHERE user_id = ?1", [user_id])?;
        Ok(())
    }
}

/// What happened to an account that ends its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountEventKind {
    Password,
    Deleted,
    Suspended,
}

impl AccountEventKind {
    fn as_str(self) -> &'static str {
        match self {
            AccountEventKind::Password => "password",
            AccountEventKind::Deleted => "deleted",
            AccountEventKind::Suspended => "suspended",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "password" => Some(AccountEventKind::Password),
            "deleted" => Some(AccountEventKind::Deleted),
            "suspended" => Some(AccountEventKind::Suspended),
            _ => None,
        }
    }
}

/// One row of `account_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEvent {
    pub id: i64,
    pub user_id: i64,
    pub kind: AccountEventKind,
    pub spare_session: Option<u64>,
}

fn insert_account_event(
    conn: &Connection,
    user_id: i64,
    kind: AccountEventKind,
    spare_session: Option<u64>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO account_events (user_id, kind, spare_session, at) VALUES (?1, ?2, ?3, ?4)",
        params![user_id, kind.as_str(), spare_session.map(to_sql), now_ms()],
    )?;
    Ok(())
}

/// The newest account event's id (0 when there is none).
pub fn last_account_event(conn: &Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT COALESCE(MAX(id), 0) FROM account_events", [], |r| {
            r.get(0)
        })?,
    )
}

/// Account events after `after`, oldest first.
pub fn account_events_after(
    conn: &Connection,
    after: i64,
) -> Result<Vec<AccountEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, user_id, kind, spare_session FROM account_events WHERE id > ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([after], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, user_id, kind, spare) = row?;
        if let Some(kind) = AccountEventKind::parse(&kind) {
            out.push(AccountEvent {
                id,
                user_id,
                kind,
                spare_session: spare.map(from_sql),
            });
        }
    }
    Ok(out)
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// The user who acted, or `operator:<login>` for the admin CLI.
    pub actor: String,
    /// What they did: `kick`, `ban`, `user.delete`, ...
    pub action: String,
    /// On whom (a user name), if anyone.
    pub target: String,
    /// Where (`#room`), if anywhere.
    pub room: String,
    /// A reason, a new role or topic.
    pub detail: String,
}

/// Appends to the audit log.
pub fn insert_audit(conn: &Connection, e: &AuditEntry) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO audit (at, actor, action, target, room, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![e.at, e.actor, e.action, e.target, e.room, e.detail],
    )?;
    Ok(())
}

/// The newest `limit` audit entries, oldest first.
pub fn recent_audit(conn: &Connection, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT at, actor, action, target, room, detail FROM
         (SELECT * FROM audit ORDER BY id DESC LIMIT ?1) ORDER BY id",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok(AuditEntry {
            at: r.get(0)?,
            actor: r.get(1)?,
            action: r.get(2)?,
            target: r.get(3)?,
            room: r.get(4)?,
            detail: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Copies the database to `dest` with SQLite's online backup, page by page,
/// so a running server keeps writing meanwhile and the copy is consistent.
pub fn backup(conn: &Connection, dest: &Path) -> Result<(), StoreError> {
    use rusqlite::backup::Backup;
    use std::os::unix::fs::PermissionsExt;
    let mut out = Connection::open(dest)?;
    // As private as the database it copies.
    let _ = std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o600));
    {
        let backup = Backup::new(conn, &mut out)?;
        // Small steps with pauses let the server's writer in between.
        backup.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
    }
    let ok: String = out.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        return Err(StoreError::Invalid(format!(
            "the backup failed its integrity check: {ok}"
        )));
    }
    Ok(())
}

/// Stores a token hash for a user.
pub fn insert_token(conn: &Connection, user_id: i64, hash: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO tokens (hash, user_id, created_at) VALUES (?1, ?2, ?3)",
        params![hash, user_id, now_ms()],
    )?;
    // Each password login (a new device, a new `natter login`) adds one;
    // only the newest are kept, so forgotten ones do not stay valid forever.
    conn.execute(
        "DELETE FROM tokens WHERE user_id = ?1 AND rowid NOT IN
         (SELECT rowid FROM tokens WHERE user_id = ?1 ORDER BY rowid DESC LIMIT ?2)",
        params![user_id, MAX_TOKENS_PER_USER],
    )?;
    Ok(())
}

/// The user a token hash belongs to.
pub fn token_user(conn: &Connection, hash: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row("SELECT user_id FROM tokens WHERE hash = ?1", [hash], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Revokes a token.
pub fn delete_token(conn: &Connection, hash: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM tokens WHERE hash = ?1", [hash])?;
    Ok(())
}

/// Creates a room and returns its id.
pub fn insert_room(conn: &Connection, name: &str, kind: RoomKind) -> Result<i64, StoreError> {
    let exists: Option<i64> = conn
        .query_row("SELECT id FROM rooms WHERE name = ?1", [name], |r| r.get(0))
        .optional()?;
    if exists.is_some() {
        return Err(StoreError::Invalid(format!("room {name} already exists")));
    }
    conn.execute(
        "INSERT INTO rooms (name, kind, topic, created_at) VALUES (?1, ?2, '', ?3)",
        params![name, kind_str(kind), now_ms()],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Every room.
pub fn all_rooms(conn: &Connection) -> Result<Vec<RoomRow>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, name, kind, topic FROM rooms ORDER BY name")?;
    let rows = stmt.query_map([], room_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One room by id.
pub fn room_by_id(conn: &Connection, id: i64) -> Result<Option<RoomRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id, name, kind, topic FROM rooms WHERE id = ?1",
            [id],
            room_row,
        )
        .optional()?)
}

/// One room by name (as stored: without `#`).
pub fn room_by_name(conn: &Connection, name: &str) -> Result<Option<RoomRow>, StoreError> {
    let id: Option<i64> = conn
        .query_row("SELECT id FROM rooms WHERE name = ?1", [name], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => room_by_id(conn, id),
        None => Ok(None),
    }
}

/// Adds or updates a membership (keeps the read marker).
pub fn upsert_member(
    conn: &Connection,
    room_id: i64,
    user_id: i64,
    role: Role,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO members (room_id, user_id, role) VALUES (?1, ?2, ?3)
         ON CONFLICT (room_id, user_id) DO UPDATE SET role = excluded.role",
        params![room_id, user_id, role_str(role)],
    )?;
    Ok(())
}

/// Removes a membership.
pub fn delete_member(conn: &Connection, room_id: i64, user_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM members WHERE room_id = ?1 AND user_id = ?2",
        params![room_id, user_id],
    )?;
    Ok(())
}

/// Moves a read marker (forward only).
pub fn set_last_read(
    conn: &Connection,
    room_id: i64,
    user_id: i64,
    id: MessageId,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE members SET last_read = MAX(last_read, ?3) WHERE room_id = ?1 AND user_id = ?2",
        params![room_id, user_id, to_sql(id)],
    )?;
    Ok(())
}

/// Sets a room's topic.
pub fn set_topic(conn: &Connection, room_id: i64, topic: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE rooms SET topic = ?2 WHERE id = ?1",
        params![room_id, topic],
    )?;
    Ok(())
}

/// Bans or unbans a user.
pub fn set_ban(
    conn: &Connection,
    room_id: i64,
    user_id: i64,
    banned: bool,
) -> Result<(), StoreError> {
    if banned {
        conn.execute(
            "INSERT OR IGNORE INTO bans (room_id, user_id) VALUES (?1, ?2)",
            params![room_id, user_id],
        )?;
    } else {
        conn.execute(
            "DELETE FROM bans WHERE room_id = ?1 AND user_id = ?2",
            params![room_id, user_id],
        )?;
    }
    Ok(())
}

/// A membership as loaded from the store.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub room_id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub admin: bool,
    pub role: Role,
    pub last_read: MessageId,
}

/// The members of a room.
pub fn room_members(conn: &Connection, room_id: i64) -> Result<Vec<MemberRow>, StoreError> {
    members_where(conn, "m.room_id", room_id)
}

/// The memberships of a user.
pub fn user_memberships(conn: &Connection, user_id: i64) -> Result<Vec<MemberRow>, StoreError> {
    members_where(conn, "m.user_id", user_id)
}

/// Memberships whose `column` (one of the two above, never input) is `id`.
fn members_where(conn: &Connection, column: &str, id: i64) -> Result<Vec<MemberRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT m.room_id, m.user_id, u.name, u.admin, m.role, m.last_read
         FROM members m JOIN users u ON u.id = m.user_id WHERE {column} = ?1"
    ))?;
    let rows = stmt.query_map([id], member_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn member_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MemberRow> {
    Ok(MemberRow {
        room_id: r.get(0)?,
        user_id: r.get(1)?,
        user_name: r.get(2)?,
        admin: r.get(3)?,
        role: parse_role(&r.get::<_, String>(4)?),
        last_read: from_sql(r.get(5)?),
    })
}

/// The users banned from a room.
pub fn room_bans(conn: &Connection, room_id: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT user_id FROM bans WHERE room_id = ?1")?;
    let rows = stmt.query_map([room_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn stored_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        id: from_sql(r.get(0)?),
        room_id: r.get(1)?,
        author: r.get::<_, String>(2)?.into(),
        ts: r.get(3)?,
        body: r.get::<_, String>(4)?.into(),
        action: r.get(5)?,
    })
}

/// Up to `limit` messages of a room below `before` (or the newest when
/// `None`), returned oldest first.
pub fn messages_before(
    conn: &Connection,
    room_id: i64,
    before: Option<MessageId>,
    limit: usize,
) -> Result<Vec<StoredMessage>, StoreError> {
    let before = before.map_or(i64::MAX, to_sql);
    let mut stmt = conn.prepare_cached(
        "SELECT id, room_id, author, ts, body, action FROM messages
         WHERE room_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    )?;
    let mut rows: Vec<StoredMessage> = stmt
        .query_map(params![room_id, before, to_sql(limit as u64)], stored_row)?
        .collect::<Result<_, _>>()?;
    rows.reverse();
    Ok(rows)
}

/// Up to `limit` messages of a room above `after`, oldest first.
pub fn messages_after(
    conn: &Connection,
    room_id: i64,
    after: MessageId,
    limit: usize,
) -> Result<Vec<StoredMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, room_id, author, ts, body, action FROM messages
         WHERE room_id = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(
            params![room_id, to_sql(after), to_sql(limit as u64)],
            stored_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Unread and mention counts for `user` after `after` in a room.
pub fn unread_counts(
    conn: &Connection,
    room_id: i64,
    user: &str,
    after: MessageId,
) -> Result<(u32, u32), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT body FROM messages WHERE room_id = ?1 AND id > ?2 AND author != ?3",
    )?;
    let mut unread = 0u32;
    let mut mentions = 0u32;
    let mut rows = stmt.query(params![room_id, to_sql(after), user])?;
    while let Some(row) = rows.next()? {
        unread += 1;
        let body: String = row.get(0)?;
        if natter_shared::names::mentions_user(&body, user) {
            mentions += 1;
        }
    }
    Ok((unread, mentions))
}

/// Unread and mention counts for many members of one room, in one pass
/// over the room's messages after the lowest of their markers. Loading a
/// room at start-up needs this for every member whose marker is below the
/// in-memory history; counting each member separately would read the
/// room's messages once per member, which on a busy room takes minutes.
pub fn room_unread_counts(
    conn: &Connection,
    room_id: i64,
    members: &[(i64, &str, MessageId)],
) -> Result<HashMap<i64, (u32, u32)>, StoreError> {
    let Some(lowest) = members.iter().map(|m| m.2).min() else {
        return Ok(HashMap::new());
    };
    // Per author and per mentioned name, the ids that count against them,
    // ascending; a member's count is then a binary search away.
    let mut all: Vec<MessageId> = Vec::new();
    let mut by_author: HashMap<String, Vec<MessageId>> = HashMap::new();
    let mut mentioning: HashMap<String, Vec<MessageId>> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT id, author, body FROM messages WHERE room_id = ?1 AND id > ?2 ORDER BY id",
    )?;
    let mut rows = stmt.query(params![room_id, to_sql(lowest)])?;
    while let Some(row) = rows.next()? {
        let id = from_sql(row.get(0)?);
        let author: String = row.get(1)?;
        let body = row.get_ref(2)?.as_str().unwrap_or_default();
        all.push(id);
        let mut seen: Vec<String> = natter_shared::names::mentions(body).collect();
        seen.sort_unstable();
        seen.dedup();
        for name in seen {
            if name != author {
                mentioning.entry(name).or_default().push(id);
            }
        }
        by_author.entry(author).or_default().push(id);
    }
    let after = |ids: Option<&Vec<MessageId>>, marker: MessageId| {
        ids.map_or(0, |ids| ids.len() - ids.partition_point(|&id| id <= marker))
    };
    Ok(members
        .iter()
        .map(|&(user, name, marker)| {
            let unread = after(Some(&all), marker) - after(by_author.get(name), marker);
            let mentions = after(mentioning.get(name), marker);
            (user, (unread as u32, mentions as u32))
        })
        .collect())
}

/// Messages stored in all rooms.
pub fn message_count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
    Ok(from_sql(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_counts_match_counting_each_member() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path()).unwrap();
        let room = insert_room(&conn, "busy", RoomKind::Public).unwrap();
        let other = insert_room(&conn, "other", RoomKind::Public).unwrap();
        let authors = ["ann", "bob", "cy"];
        for i in 0..60 {
            let author = authors[i % 3];
            let body = match i % 4 {
                0 => "@bob look".to_owned(),
                1 => format!("@ann @ann and @{author}"),
                _ => format!("plain {i}"),
            };
            for r in [room, other] {
                conn.execute(
                    "INSERT INTO messages (room_id, author, ts, body, action) VALUES (?1, ?2, 0, ?3, 0)",
                    params![r, author, body],
                )
                .unwrap();
            }
        }
        let members = [(1, "ann", 0), (2, "bob", 40), (3, "cy", 119), (4, "dee", 7)];
        let together = room_unread_counts(&conn, room, &members).unwrap();
        for (user, name, marker) in members {
            let alone = unread_counts(&conn, room, name, marker).unwrap();
            assert_eq!(together[&user], alone, "{name} after {marker}");
        }
        assert!(together[&1].1 > 0 && together[&2].1 > 0);
        assert!(room_unread_counts(&conn, room, &[]).unwrap().is_empty());
    }
}
