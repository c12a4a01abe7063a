//! The one ordered commit path ([`Commits`], driven by the server's store
//! thread); and the checkpoint thread that keeps the write-ahead log short
//! without holding the writer.
//!
//! A batch is one transaction. Messages are plain inserts in it; each job
//! runs inside a savepoint of its own, so a job that fails (or panics)
//! halfway is rolled back to where it began and leaves nothing behind,
//! while the rest of the batch commits. A panic fails that job only: the
//! thread and every later write carry on.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, params};

use super::{
    Applied, Committed, Completion, MessageChange, NewMessage, Origin, Outcome, StoreError,
    StoredMessage, rich,
};

/// A unit of work on the writer thread: it runs inside the batch's
/// transaction and says whether it succeeded, with what to run once the
/// batch has committed, and the message it changed, if any (reported in
/// commit order with the batch's messages).
pub(super) type Job =
    Box<dyn FnOnce(&Connection) -> (bool, Completion, Option<MessageChange>) + Send>;

pub(super) enum Op {
    Message(NewMessage),
    Job(Job),
    /// Commit what came before, then stop.
    Shutdown,
}

/// Most operations in one transaction.
const BATCH_MAX: usize = 4096;

/// How long the commit path waits for work before it indexes the messages
/// that wait for the search index (see `search.rs`).
const INDEX_WHEN_IDLE: std::time::Duration = std::time::Duration::from_millis(50);

/// The ordered commit path, as the iterator of its outcomes: each `next`
/// waits for queued writes, commits them as one batch and yields what
/// happened, in commit order. The server drives it on a thread of its own
/// and applies each outcome there, so committed work reaches the hub with
/// no hand-off between threads, and the store never calls the hub. Ends
/// (`None`) after [`Store::close`](super::Store::close), with a final
/// checkpoint.
///
/// Nothing commits while nobody drives it: whoever opens a store must run
/// this.
pub struct Commits {
    conn: Connection,
    rx: std_mpsc::Receiver<Op>,
    retention: u64,
    batch: Vec<Op>,
    /// Outcomes of the last batch not handed out yet (messages, then jobs).
    ready: std::collections::VecDeque<Outcome>,
    stopped: bool,
    /// Messages committed since the search index last caught up (a
    /// search may have indexed them since: then indexing finds nothing).
    unindexed: usize,
    /// Batch sizes and commit times are observed here.
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Dropped when the path has ended, which [`super::Store::close`] waits
    /// for.
    _done: std_mpsc::Sender<()>,
}

impl Commits {
    pub(super) fn new(
        conn: Connection,
        rx: std_mpsc::Receiver<Op>,
        retention: u64,
        done: std_mpsc::Sender<()>,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            conn,
            rx,
            retention,
            batch: Vec::with_capacity(256),
            ready: std::collections::VecDeque::new(),
            stopped: false,
            unindexed: 0,
            metrics,
            _done: done,
        }
    }

    /// Gathers what is queued (waiting for the first op), or nothing once
    /// the store shuts down.
    fn gather(&mut self) {
        let first = if self.unindexed > 0 {
            match self.rx.recv_timeout(INDEX_WHEN_IDLE) {
                Ok(op) => Ok(op),
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    self.index_now();
                    self.rx.recv()
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(std_mpsc::RecvError),
            }
        } else {
            self.rx.recv()
        };
        let Ok(first) = first else {
            self.stopped = true;
            return;
        };
        let mut next = Some(first);
        while let Some(op) = next {
            if matches!(op, Op::Shutdown) {
                self.stopped = true;
                break;
            }
            self.batch.push(op);
            next = if self.batch.len() < BATCH_MAX {
                self.rx.try_recv().ok()
            } else {
                None
            };
        }
    }

    /// Indexes what waits for the search index, in a transaction of its
    /// own. A failure is logged; the next search or idle moment tries again.
    fn index_now(&mut self) {
        let indexed = write_transaction(&self.conn).and_then(|tx| {
            let n = super::search::index_pending(&tx)?;
            tx.commit()?;
            Ok(n)
        });
        match indexed {
            Ok(_) => self.unindexed = 0,
            Err(e) => tracing::warn!(error = %e, "indexing new messages for search failed"),
        }
    }

    /// Commits the gathered batch and queues its outcomes.
    fn commit(&mut self) {
        let origins: Vec<Origin> = self
            .batch
            .iter()
            .filter_map(|op| match op {
                Op::Message(m) => m.origin.clone(),
                _ => None,
            })
            .collect();
        #[allow(clippy::cast_precision_loss)] // a batch holds at most 4096
        self.metrics.commit_batch.observe(self.batch.len() as f64);
        let started = std::time::Instant::now();
        let result = run_batch(
            &self.conn,
            &mut self.batch,
            self.retention,
            &mut self.unindexed,
        );
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok((mut steps, completions)) => {
                // A batch of messages only, the usual case, goes out as
                // before; one that changed messages too, step by step.
                match steps.as_slice() {
                    [] => {}
                    [Applied::Messages(_)] => {
                        if let Some(Applied::Messages(stored)) = steps.pop() {
                            self.ready.push_back(Outcome::Committed(stored));
                        }
                    }
                    _ => self.ready.push_back(Outcome::Applied(steps)),
                }
                if !completions.is_empty() {
                    self.ready.push_back(Outcome::Done(completions));
                }
            }
            Err(e) => {
                // The whole batch rolled back: nothing was acknowledged, so
                // nothing is lost that a client believes stored; each sender
                // is told, and waiting writers see their channel close.
                tracing::error!(error = %e, "store batch failed and was rolled back");
                self.ready.push_back(Outcome::Failed(origins));
            }
        }
        self.batch.clear();
    }
}

impl Iterator for Commits {
    type Item = Outcome;

    fn next(&mut self) -> Option<Outcome> {
        loop {
            if let Some(outcome) = self.ready.pop_front() {
                return Some(outcome);
            }
            if self.stopped {
                return None;
            }
            self.gather();
            if !self.batch.is_empty() {
                self.commit();
            }
        }
    }
}

impl Drop for Commits {
    fn drop(&mut self) {
        if let Err(e) = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
            tracing::warn!(error = %e, "final checkpoint failed");
        }
    }
}

/// A batch's messages and changes in commit order, and its completions.
type BatchOutcome = (Vec<Applied>, Vec<Completion>);

/// Runs one batch in one transaction. `unindexed` counts the messages
/// waiting for the search index across batches: past
/// [`super::search::INDEX_BATCH`] this batch indexes them too.
fn run_batch(
    conn: &Connection,
    batch: &mut Vec<Op>,
    retention: u64,
    unindexed: &mut usize,
) -> Result<BatchOutcome, rusqlite::Error> {
    let tx = write_transaction(conn)?;
    let mut steps: Vec<Applied> = Vec::new();
    let mut stored: Committed = Vec::new();
    let mut completions = Vec::new();
    let mut touched = HashSet::new();
    // Read when a message first needs one, and again only after a job
    // (which takes its own from the table): a run of jobs reads nothing.
    let mut revs: Option<rich::RevCounter> = None;
    let mut inserted = 0usize;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO messages (room_id, author, ts, body, action, reply_to, thread, rev, attention)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for op in batch.drain(..) {
            match op {
                Op::Message(m) => {
                    inserted += 1;
                    let counter = match &mut revs {
                        Some(c) => c,
                        None => revs.insert(rich::RevCounter::load(&tx)?),
                    };
                    let rev = counter.take();
                    insert.execute(params![
                        m.room_id,
                        &*m.author,
                        m.ts,
                        m.body,
                        m.action,
                        m.reply_to.map(super::to_sql),
                        m.thread.map(super::to_sql),
                        super::to_sql(rev),
                        m.attention,
                    ])?;
                    let row = tx.last_insert_rowid();
                    if !m.attachments.is_empty() {
                        super::files::attach(&tx, row, &m.attachments)?;
                    }
                    let id = u64::try_from(row).unwrap_or_default();
                    if let Some(root) = m.thread {
                        rich::count_reply(&tx, root, &m.author, m.ts, counter.take())?;
                    }
                    touched.insert(m.room_id);
                    stored.push((
                        StoredMessage {
                            id,
                            room_id: m.room_id,
                            author: m.author,
                            body: m.body.into(),
                            action: m.action,
                            ts: m.ts,
                            reply_to: m.reply_to,
                            thread: m.thread,
                            rev,
                            attention: m.attention,
                            attachments: m.attachments,
                            ..StoredMessage::default()
                        },
                        m.origin,
                    ));
                }
                Op::Job(job) => {
                    // A job takes its revisions from the table, and may
                    // roll back: hand the count over, to be read again.
                    if let Some(mut counter) = revs.take() {
                        counter.save(&tx)?;
                    }
                    let ran = run_job(&tx, job)?;
                    if let Some((done, change)) = ran {
                        completions.push(done);
                        if let Some(change) = change {
                            if !stored.is_empty() {
                                steps.push(Applied::Messages(std::mem::take(&mut stored)));
                            }
                            steps.push(Applied::Change(Box::new(change)));
                        }
                    }
                }
                Op::Shutdown => {}
            }
        }
    }
    if let Some(mut counter) = revs {
        counter.save(&tx)?;
    }
    let waiting = *unindexed + inserted;
    let indexed = waiting >= super::search::INDEX_BATCH;
    if indexed {
        super::search::index_pending(&tx)?;
    }
    if !stored.is_empty() {
        steps.push(Applied::Messages(stored));
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
    // Counted once the batch is in: a rolled-back one added nothing.
    *unindexed = if indexed { 0 } else { waiting };
    Ok((steps, completions))
}

/// Runs one statement from the statement cache: a job's savepoint
/// statements run for every job, and parsing them each time was a visible
/// share of a burst of reactions.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// A transaction that takes the write lock as it begins (`BEGIN
/// IMMEDIATE`), waiting out the busy timeout if another connection holds
/// it. A deferred one that reads first (the revision counter) and writes
/// later could not wait: SQLite fails its upgrade at once with `database is
/// locked` when the checkpointer or the operator's CLI got in between, and
/// the whole batch would roll back.
fn write_transaction(conn: &Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
}

/// Runs one job in a savepoint. A job that fails is rolled back to the
/// savepoint and its completion still runs (it carries the error to its
/// waiter); one that panics is rolled back and has no completion, so its
/// waiter sees [`StoreError::RolledBack`]. Only a failure of the savepoint
/// statements themselves fails the batch.
fn run_job(
    conn: &Connection,
    job: Job,
) -> Result<Option<(Completion, Option<MessageChange>)>, rusqlite::Error> {
    run_cached(conn, "SAVEPOINT job")?;
    match catch_unwind(AssertUnwindSafe(|| job(conn))) {
        Ok((true, done, change)) => {
            run_cached(conn, "RELEASE job")?;
            Ok(Some((done, change)))
        }
        Ok((false, done, _)) => {
            run_cached(conn, "ROLLBACK TO job")?;
            run_cached(conn, "RELEASE job")?;
            Ok(Some((done, None)))
        }
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = why, "a store job panicked; it was rolled back");
            run_cached(conn, "ROLLBACK TO job")?;
            run_cached(conn, "RELEASE job")?;
            Ok(None)
        }
    }
}

/// The checkpoint thread; [`Checkpointer::stop`] ends it.
pub(super) struct Checkpointer {
    stop: std_mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    pub(super) fn start(
        conn: Connection,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let (stop, stopped) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("natterd-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &stopped, &metrics))
            .map_err(|error| StoreError::Thread {
                name: "checkpoint",
                error,
            })?;
        Ok(Self { stop, thread })
    }

    pub(super) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
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
fn checkpoint_loop(
    conn: &Connection,
    stop: &std_mpsc::Receiver<()>,
    metrics: &crate::metrics::Metrics,
) {
    let checkpoint = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(1)
        })
    };
    while let Err(std_mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let started = std::time::Instant::now();
        let done = match checkpoint("PASSIVE") {
            Ok(frames) if frames > WAL_RESTART_FRAMES => checkpoint("RESTART").map(|_| ()),
            other => other.map(|_| ()),
        };
        metrics
            .checkpoint_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = done {
            tracing::warn!(error = %e, "checkpoint failed");
        }
    }
}

/// Log frames (pages) past which the log is made to start over: 16,384
/// frames of 4 KiB, 64 MiB. The restart holds the writer for its fsync, so
/// it should be rare: at 1000 messages a second, once every 10 s or so.
const WAL_RESTART_FRAMES: i64 = 16_384;
