//! Each connection's outbound queue and the task that drains it.
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
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use natter_shared::{ErrorCode, Event, ServerFrame};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

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
    data: Notify,
    /// Woken when the writer takes what is queued (see
    /// [`Outbox::wait_room`]), but only while someone waits for it: chat
    /// connections never do, and waking nobody still costs a lock on
    /// every write.
    room: Notify,
    room_wanted: std::sync::atomic::AtomicBool,
    /// Cancelled when the connection must end (overflow, kick, goodbye), so
    /// the session's read loop and a blocked write both notice at once.
    closed: CancellationToken,
    limit: usize,
}

#[derive(Debug, Default)]
struct Inner {
    frames: VecDeque<Bytes>,
    bytes: usize,
    end: Option<End>,
    /// The writer has taken the end: nothing is written any more.
    finished: bool,
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
            data: Notify::new(),
            room: Notify::new(),
            room_wanted: std::sync::atomic::AtomicBool::new(false),
            closed: CancellationToken::new(),
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
            drop(inner);
            self.closed.cancel();
            self.data.notify_one();
            return false;
        }
        let was_empty = inner.frames.is_empty();
        inner.bytes += size;
        add(&mut inner.frames);
        let now_empty = inner.frames.is_empty();
        drop(inner);
        // The writer drains everything it finds, so only the first frames
        // of a burst need to wake it.
        if was_empty && !now_empty {
            self.data.notify_one();
        }
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
        let mut inner = self.lock();
        if inner.end.is_none() {
            inner.end = Some(End::Goodbye(bytes));
        }
        drop(inner);
        self.closed.cancel();
        self.data.notify_one();
    }

    /// Ends the connection after what is queued, without a goodbye (the
    /// peer went away).
    pub fn finish(&self) {
        let mut inner = self.lock();
        if inner.end.is_none() {
            inner.end = Some(End::Goodbye(Bytes::new()));
        }
        drop(inner);
        self.closed.cancel();
        self.data.notify_one();
    }

    /// Waits until `need` more bytes fit in the queue, or the connection
    /// ends. A transfer connection calls this before it reads its next
    /// request: its replies are large, so instead of the slow-consumer rule
    /// it has flow control, and a client that does not read stops being
    /// read, which TCP passes back to it.
    pub async fn wait_room(&self, need: usize) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Set under the queue's lock, which `take` holds when it
            // empties the queue: it either sees the flag or left room that
            // the check below sees.
            {
                let inner = self.lock();
                if inner.end.is_some() || inner.finished || inner.bytes + need <= self.limit {
                    return;
                }
                self.room_wanted
                    .store(true, std::sync::atomic::Ordering::Release);
            }
            tokio::select! {
                () = notified => {}
                () = self.closed.cancelled() => return,
            }
        }
    }

    /// Whether the connection is ending.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    #[must_use]
    pub fn is_overflowed(&self) -> bool {
        matches!(self.lock().end, Some(End::Overflow))
    }

    /// Resolves when the connection starts ending.
    pub async fn closed(&self) {
        self.closed.cancelled().await;
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
        loop {
            {
                let mut inner = self.lock();
                if !inner.frames.is_empty() || inner.end.is_some() {
                    inner.bytes = 0;
                    let frames = std::mem::take(&mut inner.frames);
                    let end = inner.end.take();
                    inner.finished |= end.is_some();
                    drop(inner);
                    if self.room_wanted.load(std::sync::atomic::Ordering::Acquire) {
                        self.room.notify_waiters();
                    }
                    return (frames, end);
                }
            }
            self.data.notified().await;
        }
    }
}

/// How a connection's queued frames become its bytes on the wire: as they
/// are for natter, translated into lines for IRC (see
/// `front::irc::translate`).
pub trait Wire: Send {
    /// The bytes to write for `frames`, in order.
    fn translate(&mut self, frames: Vec<Bytes>) -> impl Future<Output = Vec<Bytes>> + Send;
}

/// natter's frames go as they are.
struct AsIs;

impl Wire for AsIs {
    async fn translate(&mut self, frames: Vec<Bytes>) -> Vec<Bytes> {
        frames
    }
}

/// Drains `outbox` into the socket until the connection ends.
pub async fn write_loop<W: AsyncWrite + Unpin>(outbox: std::sync::Arc<Outbox>, sock: W) {
    write_loop_with(outbox, sock, AsIs).await;
}

/// Drains `outbox` into the socket through `wire` until the connection
/// ends; the goodbye is translated too.
pub async fn write_loop_with<W: AsyncWrite + Unpin, T: Wire>(
    outbox: std::sync::Arc<Outbox>,
    mut sock: W,
    mut wire: T,
) {
    let goodbye = async |wire: &mut T, bye: Option<Bytes>| -> Option<Bytes> {
        let bye = bye.filter(|b| !b.is_empty())?;
        Some(wire.translate(vec![bye]).await.concat().into())
    };
    loop {
        let (frames, end) = outbox.take().await;
        let overflow = matches!(end, Some(End::Overflow));
        // The queue overflowed while a write was blocked on the socket.
        let mut overflowed_mid_write = false;
        if !overflow {
            let frames = wire.translate(Vec::from(frames)).await;
            for chunk in chunks(&frames) {
                // TLS buffers inside the stream: flush so each batch leaves
                // now (a no-op on plain TCP).
                let write = async {
                    write_all_vectored(&mut sock, chunk).await?;
                    sock.flush().await
                };
                let ok = if end.is_some() {
                    // Closing: the goodbye path must not hang on a dead peer.
                    matches!(
                        tokio::time::timeout(GOODBYE_TIMEOUT, write).await,
                        Ok(Ok(()))
                    )
                } else {
                    tokio::pin!(write);
                    tokio::select! {
                        r = &mut write => r.is_ok(),
                        () = outbox.closed.cancelled() => {
                            // Ending while blocked. The frame on the wire
                            // must be whole before a goodbye can follow, so
                            // this write gets GOODBYE_TIMEOUT to finish: a
                            // peer that reads again in time learns why it is
                            // dropped; one that does not, does not.
                            let done = matches!(
                                tokio::time::timeout(GOODBYE_TIMEOUT, write).await,
                                Ok(Ok(()))
                            );
                            overflowed_mid_write = done && outbox.is_overflowed();
                            done
                        }
                    }
                };
                if !ok {
                    return finish(sock, &outbox, None).await;
                }
                if overflowed_mid_write {
                    break;
                }
            }
        }
        if overflowed_mid_write {
            let bye = goodbye(&mut wire, slow_consumer_goodbye()).await;
            return finish(sock, &outbox, bye).await;
        }
        match end {
            None => {}
            Some(End::Goodbye(bye)) => {
                let bye = goodbye(&mut wire, Some(bye)).await;
                return finish(sock, &outbox, bye).await;
            }
            Some(End::Overflow) => {
                let bye = goodbye(&mut wire, slow_consumer_goodbye()).await;
                return finish(sock, &outbox, bye).await;
            }
        }
    }
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

/// Writes every frame of `frames`, with vectored writes where the stream
/// supports them (plain TCP: one `writev`), else one copy into a buffer
/// that is dropped afterwards.
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    sock: &mut W,
    frames: &[Bytes],
) -> std::io::Result<()> {
    if let [one] = frames {
        return sock.write_all(one).await;
    }
    if !sock.is_write_vectored() {
        return sock.write_all(&frames.concat()).await;
    }
    let mut slices: Vec<IoSlice<'_>> = frames.iter().map(|f| IoSlice::new(f)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = sock.write_vectored(rest).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}

/// Groups frames so one write carries up to [`WRITE_CHUNK`] bytes and
/// [`WRITE_FRAMES`] frames.
fn chunks(frames: &[Bytes]) -> Vec<&[Bytes]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, f) in frames.iter().enumerate() {
        if size > 0 && (size + f.len() > WRITE_CHUNK || i - start == WRITE_FRAMES) {
            out.push(&frames[start..i]);
            start = i;
            size = 0;
        }
        size += f.len();
    }
    if start < frames.len() {
        out.push(&frames[start..]);
    }
    out
}

async fn finish<W: AsyncWrite + Unpin>(mut sock: W, outbox: &Outbox, bye: Option<Bytes>) {
    outbox.closed.cancel();
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
        let c = chunks(&frames);
        assert_eq!(c.iter().map(|c| c.len()).collect::<Vec<_>>(), [3, 2]);
        for chunk in c {
            assert!(chunk.iter().map(Bytes::len).sum::<usize>() <= WRITE_CHUNK);
        }
        let many = vec![small; WRITE_FRAMES * 2 + 1];
        let c = chunks(&many);
        assert_eq!(
            c.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [WRITE_FRAMES, WRITE_FRAMES, 1]
        );
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
        let outbox = std::sync::Arc::new(Outbox::new(256 * 1024));
        let writer = tokio::spawn(write_loop(std::sync::Arc::clone(&outbox), server_side));
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
        rt.block_on(write_all_vectored(&mut out, &frames)).unwrap();
        assert_eq!(out.0, b"abcdefghijklmnopq");
    }
}
