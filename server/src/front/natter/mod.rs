//! natter's own wire protocol: MessagePack frames over TCP or TLS.
//!
//! # Layout
//! - `mod.rs` (here): serving one accepted stream (plain or TLS), and
//!   refusing one politely.
//! - [`connection`]: the connection state machine (hello, login, ready),
//!   deadlines and heartbeats, reading frames, rate limiting, replies.
//! - [`dispatch`]: each logged-in request mapped to its operation in
//!   [`crate::ops`], and the result back to a reply.
//! - [`transfer`]: the requests of a transfer connection (uploads and
//!   downloads), which has flow control instead of the slow-consumer rule.

mod connection;
mod dispatch;
mod transfer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use natter_shared::{ErrorCode, Event, FrameCodec, ServerFrame};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;

use crate::Shared;
use crate::admission::PreLogin;
use crate::auth::TokenBucket;
use crate::outbox;
use connection::{Conn, State};

/// Encodes a frame for a natter connection; a frame that cannot be encoded
/// (larger than a frame may be) is logged and skipped.
#[must_use]
pub fn encode(frame: &ServerFrame) -> Option<bytes::Bytes> {
    match natter_shared::encode(frame) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode frame");
            None
        }
    }
}

/// Tells a refused connection why, then closes it.
pub async fn refuse(mut stream: TcpStream, code: ErrorCode, message: &str) {
    let frame = ServerFrame::Event(Event::Closing {
        code,
        message: message.to_owned(),
        reconnect_after_ms: Some(5000),
    });
    if let Ok(bytes) = natter_shared::encode(&frame) {
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&bytes)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
}

/// Serves one plain TCP connection until it ends.
///
/// Not `async fn`s, these three: the connection's state is set up when
/// called and moved into the one future returned, so the task holds no
/// dead copy of it (memory per idle connection, S4).
pub fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    pre_login: PreLogin,
) -> impl Future<Output = ()> + Send + 'static {
    let (read, write) = stream.into_split();
    serve_io(read, write, peer, shared, pre_login)
}

/// Serves one TLS connection (handshake done) until it ends.
pub fn serve_tls(
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    pre_login: PreLogin,
) -> impl Future<Output = ()> + Send + 'static {
    let (read, write) = tokio::io::split(stream);
    serve_io(read, write, peer, shared, pre_login)
}

fn serve_io<R, W>(
    read: R,
    write: W,
    peer: SocketAddr,
    shared: Arc<Shared>,
    pre_login: PreLogin,
) -> impl Future<Output = ()> + Send + 'static
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let config = shared.config();
    let limits = &config.limits;
    let outbox = Arc::clone(pre_login.outbox());
    let writer = outbox::Writer::new(Arc::clone(&outbox), write, outbox::AsIs);
    // No buffer until there is something to read: the handshake's two
    // small frames need a few more reads this way, but a connection that
    // then stays idle never holds more than they took. Until login, frames
    // are capped small (`PRE_LOGIN_FRAME`): nobody unauthenticated can make
    // the server hold a full-size frame buffer.
    let mut frames = FramedRead::with_capacity(
        read,
        FrameCodec::new(limits.max_frame.min(natter_shared::PRE_LOGIN_FRAME)),
        0,
    );
    let mut conn = Conn {
        bucket: TokenBucket::new(limits.requests_per_sec, limits.request_burst),
        shared,
        peer,
        outbox,
        state: State::Hello,
        bad_frames: 0,
        pre_login: Some(pre_login),
        account_rate: None,
        compress: false,
        span: tracing::info_span!(
            "conn",
            %peer,
            session = tracing::field::Empty,
            user_id = tracing::field::Empty
        ),
    };
    let span = conn.span.clone();
    let session = async move {
        tracing::debug!("connection opened");
        conn.run(&mut frames).await;
        match &mut conn.state {
            State::Ready { session, .. } => conn.shared.hub().remove_session(*session),
            State::Transfer(t) => {
                t.release_all(&conn.shared);
                conn.shared.metrics.transfers.dec();
            }
            _ => {}
        }
        if conn.outbox.is_overflowed() {
            conn.shared.metrics.slow_consumers.inc();
            tracing::info!("dropped as a slow consumer");
        }
        // Wake the writer (beside this in the task) if the peer simply went
        // away; it flushes and ends.
        conn.outbox
            .close(ErrorCode::Timeout, "connection ended", None);
        tracing::debug!("connection closed");
    };
    tracing::Instrument::instrument(crate::front::task::Connection::new(session, writer), span)
}
