//! Durable storage in SQLite (WAL), in `natter.db` in the data dir. Nothing
//! outside this module names SQLite: the rest of the server reaches the
//! database through [`Store`]'s operations and the typed rows they return.
//!
//! # Layout
//! - `mod.rs` (here): the [`Store`] handle, the typed [`StoreError`], and the
//!   values that cross the seam (a [`NewMessage`] in, a [`Committed`] batch
//!   out).
//! - [`schema`]: the tables and opening the file with them (and migrating an
//!   older file).
//! - [`writer`]: the commit path that group-commits every change in one
//!   order, each job in its own savepoint; and the checkpoint thread.
//! - [`operations`]: the named operations the rest of the server calls
//!   (methods of [`Store`]); nothing outside this module sees a database
//!   connection.
//! - [`profile`]: display names (the SQL of the one column).
//! - [`rich`]: replies, threads, edits, deletes, reactions and revisions
//!   (the SQL of each, run as jobs on the commit path or as reads).
//! - [`operator`]: the admin CLI's named operations on the file itself
//!   ([`OperatorStore`]), each audited and followed by a running server.
//! - [`files`]: files' metadata (blobs, uploads, attachments) and their
//!   garbage collection; [`blobs`]: their bytes, behind the [`BlobStore`]
//!   seam.
//! - [`guests`]: IRC guests, accounts that live as long as their
//!   connection.
//! - [`search`]: full-text search ([`Store::search`]) on its own
//!   connection.
//! - [`sql`]: one named function per query.
//! - [`changes`]: the plain values that cross the seam: changes to persist
//!   in order ([`StoreChange`]) and rooms as loaded ([`RoomSnapshot`]).
//!
//! # The ordered commit path
//! Every write goes through one dedicated thread that group-commits: it
//! takes every operation waiting in its queue, runs them in one
//! transaction, commits once, and only then reports back. A message's id
//! comes from that insert, so ids are assigned in commit order and a crash
//! can never hand out an id twice. Whatever must stay in order with the
//! messages (memberships, read markers, later edits and reactions) is a job
//! on the same path.
//!
//! The store never calls into the rest of the server. [`Store::open`]
//! returns the commit path as an iterator of outcomes ([`Commits`]); the
//! server drives it on its own thread and applies each outcome there:
//! committed messages first, then the completions of the batch's jobs, in
//! the order they were queued. So once a write returns, every message
//! queued before it has been handed over, and committed work reaches the
//! hub with no hand-off between threads.
//!
//! Reads that must not wait behind writes (logins, old history) use a
//! second connection, and searches a third (a long search must not hold
//! back a login either).

pub mod account_data;
pub mod blobs;
pub mod changes;
pub mod files;
pub mod guests;
pub mod hooks;
pub mod operations;
pub mod operator;
pub mod profile;
pub mod receipts;
pub mod rich;
pub mod safety;
pub mod schema;
pub mod search;
pub mod sql;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};

use natter_shared::{Message, MessageId, Reaction, Rev, ThreadSummary};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::config::SyncMode;

pub use blobs::{BlobStore, FsBlobs, PartialKey};
pub use changes::{Applied, ChangeKind, MessageChange, RoomSnapshot, StoreChange, load_room};
pub use files::{AttachRefusal, BlobMeta};
pub use guests::{GuestRefused, guest_author};
pub use hooks::{ApiToken, Delivery, HookRow, HookTarget, NewOutgoing, OutgoingRow, QueuedMessage};
pub use operations::{Missing, Startup};
pub use operator::OperatorStore;
pub use rich::Refusal;
pub use safety::ReportRow;
pub use schema::{DB_FILE, open_db};
pub use search::{SearchRow, SearchSpec};
pub use sql::*;

/// Session tokens kept per user; older ones are revoked.
pub const MAX_TOKENS_PER_USER: i64 = 20;

/// The public room every account is a member of.
pub const GENERAL: &str = "general";

/// Why the store failed. Each cause a caller must tell apart has its own
/// variant: nothing is read out of a message string.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create data directory {path}: {error}")]
    DataDir {
        path: PathBuf,
        error: std::io::Error,
    },
    /// `insert_user` found the name taken.
    #[error("user {0} already exists")]
    UserExists(String),
    /// `insert_user` found the name kept from a deleted account.
    #[error("the name {0} belonged to a deleted account and is reserved")]
    NameReserved(String),
    /// `insert_room` found the name taken.
    #[error("room #{0} already exists")]
    RoomExists(String),
    /// A backup copy did not pass SQLite's integrity check.
    #[error("the backup failed its integrity check: {0}")]
    Integrity(String),
    /// A store thread could not be started.
    #[error("cannot start the {name} thread: {error}")]
    Thread {
        name: &'static str,
        error: std::io::Error,
    },
    /// The job failed or panicked, or its batch could not commit: nothing
    /// it wrote was kept.
    /// The blob store failed (a disk error).
    #[error("blob store: {0}")]
    Blob(String),
    #[error("the write was rolled back")]
    RolledBack,
    #[error("the store has shut down")]
    Closed,
}

/// Who sent a message, so the server can acknowledge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The sending session.
    pub session: u64,
    /// The `Send` request's id.
    pub request: u64,
    /// The `Send` request's nonce, echoed to the sender's sessions.
    pub nonce: Option<Arc<str>>,
    /// When the request was read: its `Sent` reports the latency
    /// (`natterd_send_to_sent_seconds`).
    pub received: std::time::Instant,
}

/// A message on its way to the store.
#[derive(Debug)]
pub struct NewMessage {
    pub room_id: i64,
    pub author: Arc<str>,
    pub body: String,
    pub action: bool,
    pub ts: i64,
    /// The message this one replies to (checked by the caller: same room).
    pub reply_to: Option<MessageId>,
    /// The thread root this one is posted in (checked by the caller: same
    /// room, itself no thread reply).
    pub thread: Option<MessageId>,
    /// It calls the whole room (checked by the hub: a moderator's, in a
    /// room, within the room's rate).
    pub attention: bool,
    /// Files it carries (checked by the caller: the sender's own).
    pub attachments: Vec<natter_shared::Attachment>,
    /// Who to acknowledge.
    pub origin: Option<Origin>,
}

/// A message the store has committed, as it is now: its current body,
/// whether it was edited or deleted, its reactions and, for a thread root,
/// its thread's summary.
#[derive(Debug, Clone, Default)]
pub struct StoredMessage {
    pub id: MessageId,
    pub room_id: i64,
    pub author: Arc<str>,
    /// Empty once deleted.
    pub body: Arc<str>,
    pub action: bool,
    pub ts: i64,
    pub reply_to: Option<MessageId>,
    pub thread: Option<MessageId>,
    pub edited_at: Option<i64>,
    pub deleted: bool,
    /// In the order their keys were first used.
    pub reactions: Vec<Reaction>,
    pub replies: Option<ThreadSummary>,
    /// Its revision: that of the message itself or of its last change. A
    /// reply posted in a thread takes two: `rev` for itself and `rev + 1`
    /// for its root, whose summary it changes.
    pub rev: Rev,
    /// It called the whole room (`@room`, see `names::mentions_room`).
    pub attention: bool,
    /// Files it carries (none once deleted).
    pub attachments: Vec<natter_shared::Attachment>,
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
            nonce: None,
            reply_to: self.reply_to,
            thread: self.thread,
            edited_at: self.edited_at,
            deleted: self.deleted,
            reactions: self.reactions.clone(),
            replies: self.replies.clone(),
            rev: self.rev,
            attention: self.attention,
            attachments: self.attachments.clone(),
        }
    }
}

/// A change queued on the commit path, its result to wait for.
#[derive(Debug)]
pub struct Queued<T>(oneshot::Receiver<Result<T, StoreError>>);

impl<T> Queued<T> {
    /// The result, once the batch that held the change has committed.
    ///
    /// # Errors
    /// What the change failed with; `RolledBack` when its batch was.
    pub async fn wait(self) -> Result<T, StoreError> {
        self.0.await.map_err(|_| StoreError::RolledBack)?
    }
}

/// A committed batch, in commit order, with each message's origin.
pub type Committed = Vec<(StoredMessage, Option<Origin>)>;

/// Runs on the server's side of the [`Commits`] channel once the batch that
/// held its job has committed (or been rolled back: then the job's result
/// was dropped and its waiter sees [`StoreError::RolledBack`]).
pub type Completion = Box<dyn FnOnce() + Send>;

/// What the writer thread reports, in commit order.
pub enum Outcome {
    /// These messages are durably stored, in this order.
    Committed(Committed),
    /// These senders' messages were not stored.
    Failed(Vec<Origin>),
    /// A batch that also changed messages (edits, deletes, reactions):
    /// its messages and changes in commit order, which is revision order.
    /// Applied as one step, so nobody sees the batch half applied.
    Applied(Vec<Applied>),
    /// Jobs of the batch just reported: run them after its messages.
    Done(Vec<Completion>),
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Committed(c) => write!(f, "Committed({} messages)", c.len()),
            Outcome::Failed(o) => write!(f, "Failed({o:?})"),
            Outcome::Applied(a) => write!(f, "Applied({} steps)", a.len()),
            Outcome::Done(d) => write!(f, "Done({} jobs)", d.len()),
        }
    }
}

pub use writer::Commits;

/// The handle the server holds. Cloning shares the same writer thread.
#[derive(Clone)]
pub struct Store {
    tx: std_mpsc::Sender<writer::Op>,
    reader: Arc<Mutex<Connection>>,
    searcher: Arc<search::Searcher>,
    /// Disconnected once [`Commits`] has ended (see [`Store::close`]).
    ended: Arc<Mutex<Option<std_mpsc::Receiver<()>>>>,
    checkpointer: Arc<Mutex<Option<writer::Checkpointer>>>,
    /// File bytes (see [`blobs`]).
    blobs: Arc<dyn BlobStore>,
    /// The database file, whose size (with its log) the metrics report.
    db_path: Arc<std::path::Path>,
}

impl Store {
    /// Opens the store. The returned [`Commits`] is the ordered commit path:
    /// the caller runs it on a thread of its own and applies each outcome.
    pub fn open(
        data_dir: &Path,
        sync: SyncMode,
        retention: u64,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<(Self, Commits), StoreError> {
        let writer_conn = open_db(data_dir)?;
        let swept = guests::sweep(&writer_conn)?;
        if swept > 0 {
            tracing::info!(guests = swept, "guests left by the last run removed");
        }
        writer_conn.pragma_update(
            None,
            "synchronous",
            match sync {
                SyncMode::Normal => "NORMAL",
                SyncMode::Full => "FULL",
            },
        )?;
        // Checkpoints run on their own thread (see `writer::checkpoint_loop`);
        // the log is cut back to this size whenever it starts over.
        writer_conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer_conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        let reader = Connection::open(data_dir.join(DB_FILE))?;
        reader.busy_timeout(std::time::Duration::from_secs(10))?;
        let searcher = search::Searcher::new(Connection::open(data_dir.join(DB_FILE))?)?;
        let checkpointer = writer::Checkpointer::start(
            Connection::open(data_dir.join(DB_FILE))?,
            Arc::clone(&metrics),
        )?;
        let blobs = FsBlobs::open(data_dir).map_err(|error| StoreError::DataDir {
            path: data_dir.join(blobs::BLOBS_DIR),
            error,
        })?;
        let (tx, rx) = std_mpsc::channel();
        let (done, ended) = std_mpsc::channel();
        let commits = Commits::new(writer_conn, rx, retention, done, metrics);
        Ok((
            Self {
                tx,
                reader: Arc::new(Mutex::new(reader)),
                searcher: Arc::new(searcher),
                ended: Arc::new(Mutex::new(Some(ended))),
                checkpointer: Arc::new(Mutex::new(Some(checkpointer))),
                blobs: Arc::new(blobs),
                db_path: Arc::from(data_dir.join(DB_FILE)),
            },
            commits,
        ))
    }

    /// The database's bytes on disk, with its write-ahead log.
    #[must_use]
    pub fn size_on_disk(&self) -> u64 {
        let size = |suffix: &str| {
            let mut path = self.db_path.as_os_str().to_owned();
            path.push(suffix);
            std::fs::metadata(path).map_or(0, |m| m.len())
        };
        size("") + size("-wal")
    }

    /// Queues a message; it is reported on the [`Commits`] channel once
    /// stored.
    pub fn submit(&self, msg: NewMessage) -> Result<(), StoreError> {
        self.tx
            .send(writer::Op::Message(msg))
            .map_err(|_| StoreError::Closed)
    }

    /// Runs `f` on the writer thread inside the next group transaction, in a
    /// savepoint of its own, and returns its result once that transaction
    /// has committed. When `f` fails or panics, what it wrote is rolled
    /// back and the rest of the batch commits as usual.
    pub(in crate::store) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, wait) = oneshot::channel();
        // The result is only handed over after the commit; if the batch
        // rolls back, `done` is dropped and the caller sees an error.
        let job: writer::Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let completion: Completion = Box::new(move || {
                let _ = done.send(result);
            });
            (ok, completion, None)
        });
        self.tx
            .send(writer::Op::Job(job))
            .map_err(|_| StoreError::Closed)?;
        wait.await.map_err(|_| StoreError::RolledBack)?
    }

    /// Queues a write whose outcome nobody waits for (membership changes,
    /// read markers): it still commits in order with everything else, in a
    /// savepoint of its own. A failure is logged.
    pub(in crate::store) fn write_detached<F>(
        &self,
        what: &'static str,
        f: F,
    ) -> Result<(), StoreError>
    where
        F: FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
    {
        let job: writer::Job = Box::new(move |conn| {
            let result = f(conn);
            if let Err(e) = &result {
                tracing::error!(error = %e, what, "store write failed; rolled back");
            }
            (result.is_ok(), Box::new(|| {}), None)
        });
        self.tx
            .send(writer::Op::Job(job))
            .map_err(|_| StoreError::Closed)
    }

    /// Like [`Store::write`], for a job that may change a message: the
    /// change is reported on the [`Commits`] channel in commit order with
    /// the messages around it (so the hub applies it in revision order)
    /// before `f`'s result reaches the caller.
    pub(in crate::store) async fn write_change<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<(T, Option<MessageChange>), StoreError> + Send + 'static,
    {
        self.queue_change(f)?.wait().await
    }

    /// [`Store::write_change`], queued at once (in order with whatever is
    /// queued next) and waited for later: a request answered once stored,
    /// while the connection goes on with the next, as a send is.
    pub(in crate::store) fn queue_change<T, F>(&self, f: F) -> Result<Queued<T>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<(T, Option<MessageChange>), StoreError> + Send + 'static,
    {
        let (done, wait) = oneshot::channel();
        let job: writer::Job = Box::new(move |conn| match f(conn) {
            Ok((value, change)) => {
                let completion: Completion = Box::new(move || {
                    let _ = done.send(Ok(value));
                });
                (true, completion, change)
            }
            Err(e) => {
                let completion: Completion = Box::new(move || {
                    let _ = done.send(Err(e));
                });
                (false, completion, None)
            }
        });
        self.tx
            .send(writer::Op::Job(job))
            .map_err(|_| StoreError::Closed)?;
        Ok(Queued(wait))
    }

    /// Persists a change the hub made, in order with the messages.
    pub fn persist(&self, change: StoreChange) -> Result<(), StoreError> {
        self.write_detached("change", move |c| change.apply(c))
    }

    /// Appends to the audit log, in order with everything else.
    pub fn audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        self.write_detached("audit", move |c| insert_audit(c, &entry))
    }

    /// Deletes audit entries older than `before` (ms since the epoch), in
    /// order with everything else; returns how many went.
    pub async fn prune_audit(&self, before: i64) -> Result<usize, StoreError> {
        self.write(move |c| prune_audit(c, before)).await
    }

    /// Waits until everything queued before this call has committed and been
    /// handed over on the [`Commits`] channel.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.write(|_| Ok(())).await
    }

    /// Runs a read on the reader connection, off the async threads.
    pub(in crate::store) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
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
    pub(in crate::store) fn read_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&conn)
    }

    /// Commits everything queued so far, ends the commit path and waits for
    /// it (its final checkpoint included). Writes queued afterwards (by any
    /// clone) fail with `Closed`.
    pub fn close(&self) {
        // The checkpointer first: the writer ends with a full checkpoint
        // of its own.
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(c) = checkpointer {
            c.stop();
        }
        let _ = self.tx.send(writer::Op::Shutdown);
        let ended = self
            .ended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(ended) = ended {
            // Returns once `Commits` is dropped.
            let _ = ended.recv();
        }
    }
}

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose outcomes are applied on a thread of the test's own, as
    /// the server's deliver thread does; committed messages are collected.
    fn open(dir: &Path) -> (Store, Arc<Mutex<Vec<StoredMessage>>>) {
        let (store, commits) = Store::open(dir, SyncMode::Normal, 0, Arc::default()).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            // The server's store thread, in miniature.
            for outcome in commits {
                match outcome {
                    Outcome::Committed(batch) => {
                        sink.lock()
                            .unwrap()
                            .extend(batch.into_iter().map(|(m, _)| m));
                    }
                    Outcome::Done(jobs) => jobs.into_iter().for_each(|done| done()),
                    Outcome::Applied(steps) => {
                        for step in steps {
                            if let Applied::Messages(batch) = step {
                                sink.lock()
                                    .unwrap()
                                    .extend(batch.into_iter().map(|(m, _)| m));
                            }
                        }
                    }
                    Outcome::Failed(_) => {}
                }
            }
        });
        (store, seen)
    }

    /// A message by ann in room 1, in the thread of `thread` if given.
    fn message(body: &str, thread: Option<MessageId>) -> NewMessage {
        NewMessage {
            room_id: 1,
            author: "ann".into(),
            body: body.into(),
            action: false,
            ts: 1,
            reply_to: None,
            thread,
            attention: false,
            attachments: Vec::new(),
            origin: None,
        }
    }

    fn rooms(conn: &Connection) -> Vec<String> {
        all_rooms(conn)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect()
    }

    #[tokio::test]
    async fn a_job_that_fails_halfway_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path());
        let failed = store
            .write(|c| {
                insert_room(c, "half", natter_shared::RoomKind::Public)?;
                // The second half fails: the name is taken.
                insert_room(c, "general", natter_shared::RoomKind::Public)
            })
            .await;
        assert!(matches!(failed, Err(StoreError::RoomExists(name)) if name == "general"));
        // Queued with the failing job, in the same batch: still committed.
        let kept = store.write(|c| insert_room(c, "kept", natter_shared::RoomKind::Public));
        assert!(kept.await.is_ok());
        let names = store.read(|c| Ok(rooms(c))).await.unwrap();
        assert!(!names.contains(&"half".to_owned()), "{names:?}");
        assert!(names.contains(&"kept".to_owned()), "{names:?}");
        store.close();
    }

    /// The batch counts revisions in memory and hands the count to jobs:
    /// messages, jobs, a rolled-back job and a thread reply (two
    /// revisions) still take each revision once, in order.
    #[tokio::test]
    async fn revisions_stay_unique_across_messages_jobs_and_rollbacks() {
        use futures_util::FutureExt as _;
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path());
        store.submit(message("root", None)).unwrap();
        // A write queues its job when first polled: poll each once, so the
        // jobs sit between the messages.
        let mut job = Box::pin(store.write(|c| Ok(rich::next_rev(c)?)));
        let job_early = (&mut job).now_or_never();
        let mut failed = Box::pin(store.write(|c| -> Result<Rev, StoreError> {
            rich::next_rev(c)?;
            Err(StoreError::RoomExists("taken".into()))
        }));
        let failed_early = (&mut failed).now_or_never();
        store.submit(message("plain", None)).unwrap();
        store.submit(message("reply", Some(1))).unwrap();
        let job = match job_early {
            Some(done) => done,
            None => job.await,
        };
        assert_eq!(job.unwrap(), 2);
        let failed = match failed_early {
            Some(done) => done,
            None => failed.await,
        };
        assert!(failed.is_err());
        store.flush().await.unwrap();
        let revs: Vec<(String, Rev)> = store
            .read(|c| messages_before(c, 1, None, 10, true))
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.body.to_string(), m.rev))
            .collect();
        // The root's summary changed with the reply, at the revision after it.
        assert_eq!(
            revs,
            [("root".into(), 5), ("plain".into(), 3), ("reply".into(), 4)]
        );
        // The counter was written back: the next revision follows them.
        let next = store.write(|c| Ok(rich::next_rev(c)?)).await.unwrap();
        assert_eq!(next, 6);
        store.close();
    }

    /// Another connection holding the write lock (the operator's CLI, the
    /// checkpointer) makes a batch wait, never fail: a batch that read
    /// before taking the lock rolled back with `database is locked`.
    #[tokio::test]
    async fn a_batch_waits_for_another_writer_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, seen) = open(dir.path());
        let other = Connection::open(dir.path().join("natter.db")).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; UPDATE revision SET last = last;")
            .unwrap();
        store.submit(message("while locked", None)).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        other.execute_batch("COMMIT").unwrap();
        store.flush().await.unwrap();
        let bodies: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.body.to_string())
            .collect();
        assert_eq!(bodies, ["while locked"]);
        store.close();
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_writer_carries_on() {
        let dir = tempfile::tempdir().unwrap();
        let (store, seen) = open(dir.path());
        // Queue a message, a job that writes then panics, and another
        // message, so all three can land in one batch.
        store.submit(message("before", None)).unwrap();
        let panicked = store.write(|c| -> Result<(), StoreError> {
            insert_room(c, "doomed", natter_shared::RoomKind::Public)?;
            panic!("a bug in a job");
        });
        store.submit(message("after", None)).unwrap();
        assert!(matches!(panicked.await, Err(StoreError::RolledBack)));
        // Later writes work, and the messages around the panic are stored.
        store.flush().await.unwrap();
        assert!(
            store
                .write(|c| insert_room(c, "later", natter_shared::RoomKind::Public))
                .await
                .is_ok()
        );
        let names = store.read(|c| Ok(rooms(c))).await.unwrap();
        assert!(!names.contains(&"doomed".to_owned()), "{names:?}");
        assert!(names.contains(&"later".to_owned()), "{names:?}");
        let bodies: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.body.to_string())
            .collect();
        assert_eq!(bodies, ["before", "after"]);
        let stored = store
            .read(|c| messages_before(c, 1, None, 10, true))
            .await
            .unwrap();
        assert_eq!(stored.len(), 2);
        store.close();
    }

    #[tokio::test]
    async fn completions_run_after_the_messages_committed_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let (store, seen) = open(dir.path());
        for i in 0..50 {
            store.submit(message(&format!("m{i}"), None)).unwrap();
        }
        // Once a write returns, every message queued before it was handed
        // over: the server relies on this at shutdown.
        store.flush().await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 50);
        store.close();
        assert!(matches!(store.flush().await, Err(StoreError::Closed)));
    }
}
