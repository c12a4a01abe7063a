//! IRC: weechat, irssi, senpai and IRC bots onto natter's accounts, rooms,
//! history and rules (RFC 1459/2812 with IRCv3).
//!
//! # Layout
//! - `mod.rs` (here): serving one accepted stream, plain or TLS.
//! - [`line`]: reading, parsing and writing lines and their tags.
//! - [`caps`]: the IRCv3 capabilities offered and enabled.
//! - [`connection`]: registration (CAP, SASL, PASS, NICK, USER), deadlines,
//!   the fakelag.
//! - [`commands`]: each registered command mapped to its operation.
//! - [`history`]: `CHATHISTORY`, `MARKREAD`, `SEARCH`.
//! - [`welcome`]: 001-005, LUSERS, MOTD.
//! - [`reply`]: numerics, natter's errors as numerics or standard
//!   replies, labeled responses and batches, names.
//! - [`translate`]: natter's events as IRC lines: once per encoding for a
//!   room's message, per connection (by its writer) for everything else.
//!
//! Every rule is natter's: a command is the same operation in
//! [`crate::ops`] that the natter request is, so nothing one protocol may
//! not do can be done through the other.

mod commands;
mod connection;
mod history;
pub mod line;
mod reply;
mod welcome;

pub mod caps;
pub mod translate;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natter_shared::ErrorCode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;

use crate::Shared;
use crate::admission::PreLogin;
use crate::auth::TokenBucket;
use crate::outbox;
use connection::Conn;
use translate::{Translator, View};

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

/// Tells a refused IRC connection why (`ERROR`), then closes it.
pub async fn refuse(mut stream: TcpStream, message: &str) {
    use tokio::io::AsyncWriteExt;
    let line = line::Out::bare("ERROR")
        .trailing(&format!("Closing link: {message}"))
        .bytes();
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&line)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
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
    let view = Arc::new(Mutex::new(View::default()));
    let caps = Arc::new(caps::Enabled::default());
    let translator = Translator {
        shared: Arc::clone(&shared),
        view: Arc::clone(&view),
        caps: Arc::clone(&caps),
    };
    let writer = outbox::Writer::new(Arc::clone(&outbox), write, translator);
    // No buffer until there is something to read (see natter's front).
    let mut lines = FramedRead::with_capacity(read, line::LineCodec::default(), 0);
    let mut conn = Conn {
        bucket: TokenBucket::new(limits.requests_per_sec, limits.request_burst),
        shared,
        peer,
        outbox,
        view,
        caps,
        reg: Some(Box::default()),
        session: None,
        pre_login: Some(pre_login),
        account_rate: None,
        next_request: 0,
        span: tracing::info_span!(
            "conn",
            %peer,
            protocol = "irc",
            session = tracing::field::Empty,
            user_id = tracing::field::Empty
        ),
    };
    let span = conn.span.clone();
    let session = async move {
        tracing::debug!("IRC connection opened");
        conn.run(&mut lines).await;
        if let Some(s) = &conn.session {
            conn.shared.hub().remove_session(s.caller.session);
            if s.guest {
                crate::ops::auth::end_guest(&conn.shared, s.user).await;
            }
        }
        if conn.outbox.is_overflowed() {
            conn.shared.metrics.slow_consumers.inc();
            tracing::info!("dropped as a slow consumer");
        }
        // The writer (beside this in the task) flushes what is queued and ends.
        conn.outbox
            .close(ErrorCode::Timeout, "connection ended", None);
        tracing::debug!("IRC connection closed");
    };
    tracing::Instrument::instrument(crate::front::task::Connection::new(session, writer), span)
}
