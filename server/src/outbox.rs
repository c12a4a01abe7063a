//! Each connection's outbound queue and the writer that drains it.
//!
//! Frames are pre-encoded [`Bytes`], so a broadcast encodes a message once and
//! every recipient's queue holds a cheap clone. The queue is bounded in bytes:
//! a push that would overflow it drops the queue and marks the connection a
//! slow consumer instead of waiting, so one stalled reader never slows the
//! sender or anyone else. The writer takes everything queued at once and
//! writes it with as few `write` calls as possible: vectored writes straight
//! from the shared frames, so nothing is copied and an idle connection holds
//! no buffer at all (idle memory per connection is a design target).

use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use natter_shared::{ErrorCode, Event, ServerFrame};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// How long a final frame (a goodbye) may take to write.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// Most bytes gathered into one write.
const WRITE_CHUNK: usize = 64 * 1024;

/// Most frames gathered into one write (the kernel's `IOV_MAX` is 1024).
const WRITE_FRAMES: usize = 512;

/// A connection's outbound queue.
#[derive(Debug)]
pub struct Outbox {
    inner: Mutex<Inner>,
    /// The reader wants to know when the writer takes what is queued (see
    /// [`Outbox::wait_room`]): chat connections never do, and waking nobody
    /// still costs a lock on every write.
    room_wanted: AtomicBool,
    /// Set when the connection must end (overflow, kick, goodbye), under
    /// the lock, so the session's read loop and a blocked write both
    /// notice at once.
    closed: AtomicBool,
    limit: usize,
}

#[derive(Debug, Default)]
struct Inner {
    frames: VecDeque<Bytes>,
    bytes: usize,
    end: Option<End>,
    /// The writer has taken the end: nothing is written any more.
    finished: bool,
    /// The writer, waiting for frames or for the end (one waker, not a
    /// `Notify`: a queue has one writer, and this is smaller and cheaper).
    writer: Option<Waker>,
    /// The reader, waiting for the end ([`Outbox::closed`]) or for room
    /// ([`Outbox::wait_room`]): one reader, one waker.
    reader: Option<Waker>,
}

#[derive(Debug)]
enum End {
    /// Write what is queued, then this frame, then close.
    Goodbye(Bytes),
    /// The peer is not reading: drop the queue, try to say why, close.
    Overflow,
}

impl Outbox {
    /// A queue holding at most `limit` bytes.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            room_wanted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // (every update is a single push or take), so poisoning is ignored.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a frame. Returns false when the connection is closing or the
    /// frame overflowed the queue (which closes it).
    pub fn push(&self, frame: Bytes) -> bool {
        self.queue(frame.len(), |q| q.push_back(frame))
    }

    /// The bytes waiting to be written.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.lock().bytes
    }

    /// Queues several frames under one lock, in order: all of them, or
    /// none, as [`Outbox::push`] does for one.
    pub fn push_many(&self, frames: &[Bytes]) -> bool {
        let size = frames.iter().map(Bytes::len).sum();
        self.queue(size, |q| q.extend(frames.iter().cloned()))
    }

    /// Adds `size` bytes of frames with `add`, or overflows.
    fn queue(&self, size: usize, add: impl FnOnce(&mut VecDeque<Bytes>)) -> bool {
        let mut inner = self.lock();
        if inner.end.is_some() || inner.finished {
            return false;
        }
        if inner.bytes + size > self.limit {
            inner.frames.clear();
            inner.bytes = 0;
            inner.end = Some(End::Overflow);
            self.close_locked(inner);
            return false;
        }
        let was_empty = inner.frames.is_empty();
        inner.bytes += size;
        add(&mut inner.frames);
        // The writer drains everything it finds, so only the first frames
        // of a burst need to wake it.
        let writer = if was_empty && !inner.frames.is_empty() {
            inner.writer.take()
        } else {
            None
        };
        drop(inner);
        wake(writer);
        true
    }

    /// Takes every queued frame (the hub's unit tests read what a
    /// connection would have been sent).
    #[cfg(test)]
    pub(crate) fn drain(&self) -> Vec<Bytes> {
        let mut inner = self.lock();
        inner.bytes = 0;
        inner.frames.drain(..).collect()
    }

    /// Encodes and queues a frame.
    pub fn send(&self, frame: &ServerFrame) -> bool {
        match natter_shared::encode(frame) {
            Ok(bytes) => self.push(bytes),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode frame");
                false
            }
        }
    }

    /// Ends the connection after what is queued, with a `Closing` event.
    pub fn close(&self, code: ErrorCode, message: &str, reconnect_after_ms: Option<u64>) {
        let frame = ServerFrame::Event(Event::Closing {
            code,
            message: message.to_owned(),
            reconnect_after_ms,
        });
        let bytes = natter_shared::encode(&frame).unwrap_or_default();
        self.end(End::Goodbye(bytes));
    }

    /// Ends the connection after what is queued, without a goodbye (the
    /// peer went away).
    pub fn finish(&self) {
        self.end(End::Goodbye(Bytes::new()));
    }

    /// Sets the end (the first one stays) and wakes the writer.
    fn end(&self, end: End) {
        let mut inner = self.lock();
        if inner.end.is_none() {
            inner.end = Some(end);
        }
        self.close_locked(inner);
    }

    /// Marks the connection closed and wakes its reader and its writer.
    fn close_locked(&self, mut inner: std::sync::MutexGuard<'_, Inner>) {
        self.closed.store(true, Ordering::Release);
        let (writer, reader) = (inner.writer.take(), inner.reader.take());
        drop(inner);
        wake(writer);
        wake(reader);
    }

    /// Waits until `need` more bytes fit in the queue, or the connection
    /// ends. A transfer connection calls this before it reads its next
    /// request: its replies are large, so instead of the slow-consumer rule
    /// it has flow control, and a client that does not read stops being
    /// read, which TCP passes back to it.
    pub async fn wait_room(&self, need: usize) {
        std::future::poll_fn(|cx| {
            // Checked and registered under the queue's lock, which `take`
            // holds when it empties the queue: it either sees the flag or
            // left room that this check sees.
            let mut inner = self.lock();
            // Closed covers an end set or already taken.
            if self.is_closed() || inner.bytes + need <= self.limit {
                return Poll::Ready(());
            }
            register(&mut inner.reader, cx);
            self.room_wanted.store(true, Ordering::Release);
            Poll::Pending
        })
        .await;
    }

    /// Whether the connection is ending.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    #[must_use]
    pub fn is_overflowed(&self) -> bool {
        matches!(self.lock().end, Some(End::Overflow))
    }

    /// Resolves when the connection starts ending. For the connection's
    /// reader: a queue has one.
    pub async fn closed(&self) {
        std::future::poll_fn(|cx| {
            if self.is_closed() {
                return Poll::Ready(());
            }
            let mut inner = self.lock();
            if self.is_closed() {
                return Poll::Ready(());
            }
            register(&mut inner.reader, cx);
            Poll::Pending
        })
        .await;
    }

    /// Marks the connection closed once its writer is done.
    fn mark_closed(&self) {
        let inner = self.lock();
        self.close_locked(inner);
    }

    /// Waits for frames, and takes them, for a session the server itself
    /// reads (see `ops::post`); true once the queue has ended.
    pub(crate) async fn take_frames(&self) -> (Vec<Bytes>, bool) {
        let (frames, end) = self.take().await;
        (Vec::from(frames), end.is_some())
    }

    /// Waits for frames or an end, and takes them. The queue is taken
    /// whole, so an idle connection's queue holds no capacity.
    async fn take(&self) -> (VecDeque<Bytes>, Option<End>) {
        std::future::poll_fn(|cx| self.poll_take(cx)).await
    }

    /// Takes the frames and the end, if any; otherwise the writer is woken
    /// when some come.
    fn poll_take(&self, cx: &Context<'_>) -> Poll<(VecDeque<Bytes>, Option<End>)> {
        let mut inner = self.lock();
        if inner.frames.is_empty() && inner.end.is_none() {
            register(&mut inner.writer, cx);
            return Poll::Pending;
        }
        inner.bytes = 0;
        let frames = std::mem::take(&mut inner.frames);
        let end = inner.end.take();
        inner.finished |= end.is_some();
        let reader = if self.room_wanted.swap(false, Ordering::AcqRel) {
            inner.reader.take()
        } else {
            None
        };
        drop(inner);
        wake(reader);
        Poll::Ready((frames, end))
    }

    /// Whether the connection is ending; if not, the writer (blocked on its
    /// socket) is woken when it starts to.
    fn poll_closed(&self, cx: &Context<'_>) -> bool {
        let mut inner = self.lock();
        if self.is_closed() {
            return true;
        }
        register(&mut inner.writer, cx);
        false
    }
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

fn wake(writer: Option<Waker>) {
    if let Some(w) = writer {
        w.wake();
    }
}

/// How a connection's queued frames become its bytes on the wire: as they
/// are for natter, translated into lines for IRC (see
/// `front::irc::translate`).
pub trait Wire: Send + Unpin + 'static {
    /// Whether `frames` go as they are, with nothing to translate: the
    /// fan-out's hot path, which the writer takes without a future.
    fn passes(&self, frames: &[Bytes]) -> bool;

    /// The bytes to write for `frames`, in order.
    fn translate(&mut self, frames: Vec<Bytes>) -> impl Future<Output = Vec<Bytes>> + Send;
}

/// natter's frames go as they are.
pub struct AsIs;

impl Wire for AsIs {
    fn passes(&self, _: &[Bytes]) -> bool {
        true
    }

    async fn translate(&mut self, frames: Vec<Bytes>) -> Vec<Bytes> {
        frames
    }
}

/// A boxed phase of the writer: rare (translating events, saying goodbye),
/// so an idle writer holds none of its state.
type Phase<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Drains an outbox into its socket through a [`Wire`] until the
/// connection ends; the goodbye is translated too.
///
/// A hand-written future, not an `async fn`: idle, it is a few words (the
/// queue, the socket, the wire), where an `async fn` would hold the state
/// of its largest `await` all the time (memory per idle connection, S4).
/// It runs in its connection's one task (see `front::task`).
pub struct Writer<W, T> {
    outbox: Arc<Outbox>,
    /// The socket and the wire, unless a boxed phase holds them.
    io: Option<(W, T)>,
    state: WriterState<W, T>,
}

enum WriterState<W, T> {
    /// Waiting for frames.
    Idle,
    /// Translating frames that need it.
    Translating(Phase<(W, T, Vec<Bytes>)>),
    /// Writing a batch: `at` frames and `off` bytes of the next are out.
    Writing {
        frames: Vec<Bytes>,
        at: usize,
        off: usize,
    },
    /// The connection is ending: the rest, the goodbye, the shutdown.
    Ending(Phase<()>),
    Done,
}

impl<W, T> Writer<W, T>
where
    W: AsyncWrite + Unpin + Send + 'static,
    T: Wire,
{
    #[must_use]
    pub fn new(outbox: Arc<Outbox>, sock: W, wire: T) -> Self {
        Self {
            outbox,
            io: Some((sock, wire)),
            state: WriterState::Idle,
        }
    }

    fn end_with(&mut self, ending: impl Future<Output = ()> + Send + 'static) {
        self.state = WriterState::Ending(Box::pin(ending));
    }
}

impl<W, T> Future for Writer<W, T>
where
    W: AsyncWrite + Unpin + Send + 'static,
    T: Wire,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                WriterState::Idle => {
                    let (frames, end) = std::task::ready!(this.outbox.poll_take(cx));
                    let frames = Vec::from(frames);
                    let Some((sock, wire)) = this.io.take() else {
                        this.state = WriterState::Done;
                        continue;
                    };
                    if end.is_some() {
                        this.end_with(ending(Arc::clone(&this.outbox), sock, wire, frames, end));
                    } else if wire.passes(&frames) {
                        this.io = Some((sock, wire));
                        this.state = WriterState::Writing {
                            frames,
                            at: 0,
                            off: 0,
                        };
                    } else {
                        this.state = WriterState::Translating(Box::pin(async move {
                            let mut wire = wire;
                            let frames = wire.translate(frames).await;
                            (sock, wire, frames)
                        }));
                    }
                }
                WriterState::Translating(phase) => {
                    let (sock, wire, frames) = std::task::ready!(phase.as_mut().poll(cx));
                    this.io = Some((sock, wire));
                    this.state = WriterState::Writing {
                        frames,
                        at: 0,
                        off: 0,
                    };
                }
                WriterState::Writing { frames, at, off } => {
                    let Some((sock, _)) = this.io.as_mut() else {
                        this.state = WriterState::Done;
                        continue;
                    };
                    match poll_write_frames(sock, frames, at, off, cx) {
                        Poll::Ready(Ok(())) => this.state = WriterState::Idle,
                        Poll::Ready(Err(_)) => {
                            let (sock, _) = this.io.take().expect("held while writing");
                            this.end_with(finish(sock, Arc::clone(&this.outbox), None));
                        }
                        Poll::Pending => {
                            if !this.outbox.poll_closed(cx) {
                                return Poll::Pending;
                            }
                            let rest = rest_of(std::mem::take(frames), *at, *off);
                            let (sock, wire) = this.io.take().expect("held while writing");
                            this.end_with(closed_mid_write(
                                Arc::clone(&this.outbox),
                                sock,
                                wire,
                                rest,
                            ));
                        }
                    }
                }
                WriterState::Ending(phase) => {
                    std::task::ready!(phase.as_mut().poll(cx));
                    this.state = WriterState::Done;
                }
                WriterState::Done => return Poll::Ready(()),
            }
        }
    }
}

/// The frames of a batch not yet written, the first one cut where the
/// socket stopped.
fn rest_of(mut frames: Vec<Bytes>, at: usize, off: usize) -> Vec<Bytes> {
    frames.drain(..at.min(frames.len()));
    if let Some(first) = frames.first_mut() {
        *first = first.slice(off..);
    }
    frames
}

/// The connection ended while a write was blocked. The frame on the wire
/// must be whole before a goodbye can follow, so the batch gets
/// [`GOODBYE_TIMEOUT`] to finish: a peer that reads again in time learns
/// why it is dropped; one that does not, does not.
async fn closed_mid_write<W: AsyncWrite + Unpin + Send + 'static, T: Wire>(
    outbox: Arc<Outbox>,
    mut sock: W,
    wire: T,
    mut rest: Vec<Bytes>,
) {
    if outbox.is_overflowed() {
        // The peer stopped reading: only the frame cut on the wire is
        // finished, and the rest goes with the queue it overflowed.
        rest.truncate(1);
    }
    if !write_within(&mut sock, rest).await {
        return finish(sock, outbox, None).await;
    }
    let (frames, end) = outbox.take().await;
    ending(outbox, sock, wire, Vec::from(frames), end).await;
}

/// The end taken from the queue: what was queued before it, then the
/// goodbye, then the shutdown. A queue that overflowed says only why.
async fn ending<W: AsyncWrite + Unpin + Send + 'static, T: Wire>(
    outbox: Arc<Outbox>,
    mut sock: W,
    mut wire: T,
    frames: Vec<Bytes>,
    end: Option<End>,
) {
    let bye = match end {
        Some(End::Goodbye(bye)) => {
            let frames = wire.translate(frames).await;
            if !write_within(&mut sock, frames).await {
                return finish(sock, outbox, None).await;
            }
            Some(bye)
        }
        Some(End::Overflow) => slow_consumer_goodbye(),
        None => None,
    };
    let bye = match bye.filter(|b| !b.is_empty()) {
        Some(bye) => Some(wire.translate(vec![bye]).await.concat().into()),
        None => None,
    };
    finish(sock, outbox, bye).await;
}

/// The goodbye to a peer that stopped reading. Best effort: its socket is
/// full by then, so it arrives only if the peer reads again within
/// [`GOODBYE_TIMEOUT`]; otherwise the connection just ends.
fn slow_consumer_goodbye() -> Option<Bytes> {
    natter_shared::encode(&ServerFrame::Event(Event::Closing {
        code: ErrorCode::SlowConsumer,
        message: "you stopped reading and your queue overflowed".into(),
        reconnect_after_ms: Some(1000),
    }))
    .ok()
}

/// Writes `frames` whole on the way out, or gives up: the goodbye path
/// must not hang on a dead peer. Each write's worth (a [`next_chunk`]) has
/// [`GOODBYE_TIMEOUT`], so a peer that reads gets what was queued before
/// the end, and one that stops costs a bounded wait.
async fn write_within<W: AsyncWrite + Unpin>(sock: &mut W, frames: Vec<Bytes>) -> bool {
    let mut chunks: u32 = 0;
    let mut at = 0;
    while at < frames.len() {
        at += next_chunk(&frames, at, 0).len();
        chunks += 1;
    }
    let limit = GOODBYE_TIMEOUT * chunks.max(1);
    matches!(
        tokio::time::timeout(limit, write_all(sock, frames)).await,
        Ok(Ok(()))
    )
}

/// Writes `frames` whole.
async fn write_all<W: AsyncWrite + Unpin>(sock: &mut W, frames: Vec<Bytes>) -> std::io::Result<()> {
    let (mut at, mut off) = (0, 0);
    std::future::poll_fn(|cx| poll_write_frames(sock, &frames, &mut at, &mut off, cx)).await
}

/// Writes frames from `at` (`off` bytes into it) with as few calls as it
/// can: vectored straight from the shared frames where the socket takes
/// that, one gathered buffer where it does not (TLS), each call up to
/// [`WRITE_CHUNK`] bytes and [`WRITE_FRAMES`] frames; then flushes, so each
/// batch leaves now (a no-op on plain TCP). `at` and `off` say how far it
/// got when the socket is full.
fn poll_write_frames<W: AsyncWrite + Unpin>(
    sock: &mut W,
    frames: &[Bytes],
    at: &mut usize,
    off: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<()>> {
    loop {
        while frames.get(*at).is_some_and(|f| f.len() <= *off) {
            *at += 1;
            *off = 0;
        }
        if *at >= frames.len() {
            return Pin::new(&mut *sock).poll_flush(cx);
        }
        let chunk = next_chunk(frames, *at, *off);
        let n = if chunk.len() == 1 {
            std::task::ready!(Pin::new(&mut *sock).poll_write(cx, &chunk[0]))?
        } else if sock.is_write_vectored() {
            std::task::ready!(Pin::new(&mut *sock).poll_write_vectored(cx, &chunk))?
        } else {
            let mut gathered = Vec::with_capacity(chunk.iter().map(|s| s.len()).sum());
            for s in &chunk {
                gathered.extend_from_slice(s);
            }
            std::task::ready!(Pin::new(&mut *sock).poll_write(cx, &gathered))?
        };
        if n == 0 {
            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
        }
        advance(frames, at, off, n);
    }
}

/// The next write's slices: from frame `at` (`off` bytes in), up to
/// [`WRITE_CHUNK`] bytes and [`WRITE_FRAMES`] frames, and at least one.
fn next_chunk(frames: &[Bytes], at: usize, off: usize) -> Vec<IoSlice<'_>> {
    let mut out = Vec::with_capacity((frames.len() - at).min(WRITE_FRAMES));
    let mut size = 0;
    for (i, f) in frames[at..].iter().enumerate() {
        let s = if i == 0 { &f[off..] } else { &f[..] };
        if i > 0 && (size + s.len() > WRITE_CHUNK || i == WRITE_FRAMES) {
            break;
        }
        size += s.len();
        out.push(IoSlice::new(s));
    }
    out
}

/// Moves `at`/`off` past `n` written bytes.
fn advance(frames: &[Bytes], at: &mut usize, off: &mut usize, mut n: usize) {
    while n > 0 {
        let left = frames[*at].len() - *off;
        if n >= left {
            n -= left;
            *at += 1;
            *off = 0;
        } else {
            *off += n;
            n = 0;
        }
    }
}

async fn finish<W: AsyncWrite + Unpin>(mut sock: W, outbox: Arc<Outbox>, bye: Option<Bytes>) {
    outbox.mark_closed();
    if let Some(bye) = bye.filter(|b| !b.is_empty()) {
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
            sock.write_all(&bye).await?;
            sock.flush().await
        })
        .await;
    }
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, sock.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_queued_once_the_writer_has_finished() {
        let o = Outbox::new(100);
        o.finish();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (_, end) = rt.block_on(o.take());
        assert!(end.is_some());
        assert!(!o.push(Bytes::from_static(b"late")));
    }

    #[test]
    fn overflow_closes_and_refuses() {
        let o = Outbox::new(10);
        assert!(o.push(Bytes::from_static(b"12345")));
        assert!(!o.push(Bytes::from_static(b"1234567")));
        assert!(o.is_closed());
        assert!(!o.push(Bytes::from_static(b"1")));
    }

    #[test]
    fn chunking_respects_the_cap() {
        let big = Bytes::from(vec![0u8; WRITE_CHUNK - 40]);
        let small = Bytes::from_static(b"0123456789abcdef");
        let frames = vec![
            small.clone(),
            big,
            small.clone(),
            small.clone(),
            small.clone(),
        ];
        let sizes = |frames: &[Bytes]| {
            let (mut at, mut out) = (0, Vec::new());
            while at < frames.len() {
                let c = next_chunk(frames, at, 0);
                assert!(c.iter().map(|s| s.len()).sum::<usize>() <= WRITE_CHUNK);
                at += c.len();
                out.push(c.len());
            }
            out
        };
        assert_eq!(sizes(&frames), [3, 2]);
        let many = vec![small; WRITE_FRAMES * 2 + 1];
        assert_eq!(sizes(&many), [WRITE_FRAMES, WRITE_FRAMES, 1]);
        // A frame bigger than a chunk still goes, alone.
        let huge = vec![Bytes::from(vec![1u8; WRITE_CHUNK * 2])];
        assert_eq!(next_chunk(&huge, 0, 5)[0].len(), WRITE_CHUNK * 2 - 5);
    }

    /// A writer that takes at most a few bytes per call, so vectored writes
    /// must resume mid-frame.
    struct Trickle(Vec<u8>);

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            // Up to 5 bytes across slices.
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(5 - n);
                self.0.extend_from_slice(&b[..take]);
                n += take;
                if n == 5 {
                    break;
                }
            }
            std::task::Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// A peer stops reading until the writer is blocked on a full socket,
    /// its queue overflows, and it reads again at once: every frame it gets
    /// is whole, and the last one says why it was dropped.
    #[tokio::test]
    async fn a_slow_consumer_that_reads_again_in_time_is_told_why() {
        use futures_util::StreamExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        let outbox = Arc::new(Outbox::new(256 * 1024));
        let writer = tokio::spawn(Writer::new(Arc::clone(&outbox), server_side, AsIs));
        let frame = natter_shared::encode(&ServerFrame::Event(Event::Typing {
            room: "#r".into(),
            user: "u".repeat(4000),
            active: true,
        }))
        .unwrap();
        // Fill the kernel's buffers and then the queue, until it overflows.
        let mut pushed = 0;
        while outbox.push(frame.clone()) {
            pushed += 1;
            if pushed % 64 == 0 {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        assert!(outbox.is_closed());
        let mut frames =
            tokio_util::codec::FramedRead::new(peer, natter_shared::FrameCodec::default());
        let mut last = None;
        while let Some(payload) = frames.next().await {
            let payload = payload.expect("only whole frames");
            last = Some(natter_shared::decode_server(&payload).expect("frames decode"));
        }
        assert!(
            matches!(
                last,
                Some(ServerFrame::Event(Event::Closing {
                    code: ErrorCode::SlowConsumer,
                    ..
                }))
            ),
            "{last:?}"
        );
        writer.await.unwrap();
    }

    #[test]
    fn vectored_writes_resume_mid_frame_in_order() {
        let frames: Vec<Bytes> = ["ab", "cdefg", "", "hijklmnop", "q"]
            .into_iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut out = Trickle(Vec::new());
        rt.block_on(write_all(&mut out, frames)).unwrap();
        assert_eq!(out.0, b"abcdefghijklmnopq");
    }
}
