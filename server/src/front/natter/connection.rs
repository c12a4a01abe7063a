//! One natter connection, from the first byte to the goodbye: the state
//! machine, its deadlines, reading frames and queueing replies. What each
//! request does is in [`super::dispatch`] and [`crate::ops`].
//!
//! A connection moves through three states: waiting for `Hello` (handshake
//! deadline), waiting for a login (login deadline), and logged in (dropped
//! when silent for three heartbeat intervals). Every request gets exactly one
//! reply, queued on the connection's [`Outbox`] like every event, so replies
//! and events keep the order in which the server produced them. Requests are
//! read and handled one at a time; the only waits are on the store (login,
//! room creation, old history), never on another connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use natter_shared::codec::peek_request_id;
use natter_shared::{
    ClientFrame, CodecError, ErrorCode, ErrorReply, FrameCodec, Limits, PROTOCOL_VERSION, Request,
    Response, ServerFrame, decode_client,
};
use tokio::io::AsyncRead;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use crate::Shared;
use crate::auth::TokenBucket;
use crate::ops;
use crate::outbox::Outbox;

/// A working connection's read buffer. Requests are small and idle
/// connections many: most requests fit in one read of this size, bigger
/// ones grow the buffer only while they are read, and an idle connection
/// frees it (see `IDLE_SHRINK`).
const READ_BUFFER: usize = 1024;

/// How long a connection reads nothing before its read buffer is freed.
const IDLE_SHRINK: Duration = Duration::from_millis(250);

/// The longest error message sent, in bytes.
const MAX_ERROR_MESSAGE: usize = 300;

/// Features announced in the welcome.
fn features(shared: &Shared) -> Vec<String> {
    use natter_shared::features as f;
    let registration = shared.config().open_registration;
    f::ALL
        .iter()
        .filter(|name| **name != f::REGISTRATION || registration)
        .map(|name| (*name).to_owned())
        .collect()
}

pub(super) enum State {
    Hello,
    Login,
    /// `token_hash`: the token this session logged in with or was issued,
    /// which logout revokes (none after a `PasswordOnly` login).
    Ready {
        session: u64,
        token_hash: Option<String>,
    },
    /// A transfer connection of a chat session (see `transfer.rs`).
    Transfer(Box<ops::files::Transfer>),
}

impl State {
    /// Logged in, as a chat or a transfer connection.
    fn is_in(&self) -> bool {
        matches!(self, State::Ready { .. } | State::Transfer(_))
    }
}

pub(super) struct Conn {
    pub(super) shared: Arc<Shared>,
    pub(super) peer: SocketAddr,
    pub(super) outbox: Arc<Outbox>,
    pub(super) state: State,
    pub(super) bucket: TokenBucket,
    pub(super) bad_frames: u32,
    /// Held until login: this connection's place in the smaller share of
    /// connections not logged in yet.
    pub(super) pre_login: Option<crate::admission::PreLogin>,
    /// The account's request rate, shared with its other connections; set
    /// at login.
    pub(super) account_rate: Option<ops::quotas::AccountRate>,
    /// The connection's span (`conn`, with the peer; the session and
    /// user id once logged in): every log line of the connection carries it.
    pub(super) span: tracing::Span,
    /// The client reads zstd-compressed frames (`Hello.compression`):
    /// large replies go compressed.
    pub(super) compress: bool,
}

impl Conn {
    pub(super) async fn run<R: AsyncRead + Unpin>(
        &mut self,
        frames: &mut FramedRead<R, FrameCodec>,
    ) {
        // Only what the loop needs, not the whole config: this future lives
        // as long as the connection.
        let (handshake, login_timeout, heartbeat) = {
            let limits = &self.shared.config().limits;
            (
                Duration::from_millis(limits.handshake_timeout_ms),
                Duration::from_millis(limits.login_timeout_ms),
                Duration::from_millis(limits.heartbeat_ms * 3),
            )
        };
        let opened = Instant::now();
        let mut login_deadline = opened + login_timeout;
        let mut last_frame = opened;
        let mut draining = false;
        // When to give an idle connection's read buffer back.
        let mut shrink_at: Option<Instant> = None;
        loop {
            let (deadline, why) = match self.state {
                State::Hello => (opened + handshake, "no hello in time"),
                State::Login => (login_deadline, "no login in time"),
                State::Ready { .. } | State::Transfer(_) => {
                    (last_frame + heartbeat, "no heartbeat in time")
                }
            };
            let wake = shrink_at.map_or(deadline, |s| s.min(deadline));
            tokio::select! {
                () = self.outbox.closed() => return,
                // Shutting down: stop reading, but stay registered until the
                // server has delivered pending acknowledgements and said
                // goodbye (which closes the outbox). One wait for both
                // steps, the second after the first.
                () = (if draining { &self.shared.shutdown } else { &self.shared.draining }).cancelled() => {
                    if !draining {
                        draining = true;
                        continue;
                    }
                    self.outbox.close(
                        ErrorCode::ShuttingDown,
                        "the server is shutting down",
                        Some(crate::RECONNECT_AFTER_SHUTDOWN_MS),
                    );
                    return;
                }
                () = tokio::time::sleep_until(wake), if !draining => {
                    if wake < deadline {
                        // Idle a while: most connections are, most of the
                        // time, and each would otherwise hold a buffer.
                        shrink_at = None;
                        let buffer = frames.read_buffer_mut();
                        if buffer.is_empty() {
                            *buffer = bytes::BytesMut::new();
                        }
                        continue;
                    }
                    tracing::debug!(peer = %self.peer, why, "deadline passed");
                    self.outbox.close(ErrorCode::Timeout, why, None);
                    return;
                }
                next = frames.next(), if !draining => match next {
                    None => return,
                    Some(Err(CodecError::TooLarge { len, max })) => {
                        self.reply_err(0, ErrorReply::new(
                            ErrorCode::FrameTooLarge,
                            format!("frame of {len} bytes exceeds the limit of {max} bytes"),
                        ));
                        self.outbox.close(ErrorCode::FrameTooLarge, "frame too large", None);
                        return;
                    }
                    Some(Err(e)) => {
                        tracing::debug!(peer = %self.peer, error = %e, "read failed");
                        return;
                    }
                    Some(Ok(payload)) => {
                        last_frame = Instant::now();
                        let was_login = matches!(self.state, State::Hello);
                        // Boxed: request handling (logins, hashing) makes by
                        // far the largest future, and every idle connection
                        // would otherwise carry room for it.
                        // Evicted just now: the outbox says why, and
                        // nothing more is handled.
                        if let Some(p) = &self.pre_login
                            && !p.claim()
                        {
                            return;
                        }
                        if !Box::pin(self.handle_payload(&payload)).await {
                            return;
                        }
                        if matches!(self.state, State::Transfer(_)) {
                            // Flow control: the next request is read once
                            // a full reply fits behind what is queued.
                            let frame = self.shared.config().limits.max_frame;
                            self.outbox.wait_room(frame + 1024).await;
                        }
                        if let Some(p) = &self.pre_login {
                            p.release();
                        }
                        // A working size once logged in (clients send right
                        // away, and reads of a few bytes would cost a
                        // syscall each), and the memory back after a large
                        // frame rather than kept for the connection's
                        // lifetime.
                        let buffer = frames.read_buffer_mut();
                        if buffer.is_empty() && self.state.is_in() {
                            if !(READ_BUFFER..=4 * READ_BUFFER).contains(&buffer.capacity()) {
                                *buffer = bytes::BytesMut::with_capacity(READ_BUFFER);
                            }
                            shrink_at = Some(Instant::now() + IDLE_SHRINK);
                        }
                        if was_login && matches!(self.state, State::Login) {
                            login_deadline = Instant::now() + login_timeout;
                        }
                        if self.pre_login.is_some() && self.state.is_in() {
                            // Logged in: full-size frames, and out of the
                            // pre-login share.
                            self.pre_login = None;
                            let max = self.shared.config().limits.max_frame;
                            frames.decoder_mut().set_max_frame(max);
                        }
                    }
                },
            }
        }
    }

    /// Queues a reply. One that cannot be encoded (larger than a frame may
    /// be) still answers its request, with an error.
    pub(super) fn reply(&self, id: u64, res: Response) {
        match natter_shared::encode(&ServerFrame::Ok { id, res }) {
            Ok(bytes) => {
                let bytes = if self.compress && bytes.len() >= natter_shared::codec::COMPRESS_AT {
                    match natter_shared::compress_frame(&bytes) {
                        Some(packed) => {
                            let m = &self.shared.metrics;
                            m.compressed_frames.inc();
                            m.compression_saved_bytes
                                .inc_by((bytes.len() - packed.len()) as u64);
                            packed
                        }
                        None => bytes,
                    }
                } else {
                    bytes
                };
                self.outbox.push(bytes);
            }
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "reply too large");
                self.reply_err(
                    id,
                    ErrorReply::new(
                        ErrorCode::Internal,
                        format!("the reply is too large to send: {e}"),
                    ),
                );
            }
        }
    }

    /// Queues an error reply. Its message is cut to [`MAX_ERROR_MESSAGE`]:
    /// messages quote the input they refuse, and a peer's 16,000-byte room
    /// name must not come back as an 80 KB reply.
    pub(super) fn reply_err(&self, id: u64, mut err: ErrorReply) {
        if err.message.len() > MAX_ERROR_MESSAGE {
            let mut end = MAX_ERROR_MESSAGE;
            while !err.message.is_char_boundary(end) {
                end -= 1;
            }
            err.message.truncate(end);
            err.message.push('…');
        }
        self.shared.metrics.error(&err.code);
        self.outbox.send(&ServerFrame::Err { id, err });
    }

    /// Answers a request this server does not know (from a newer client).
    /// The connection stays: this is no malformed frame.
    pub(super) fn unsupported(&self, id: u64, name: &str) {
        tracing::debug!(peer = %self.peer, request = name, "unsupported request");
        self.reply_err(
            id,
            ErrorReply::new(
                ErrorCode::Unsupported,
                format!("this server does not support the request {name:?}"),
            ),
        );
    }

    pub(super) fn answer(&self, id: u64, result: Result<Response, ErrorReply>) {
        match result {
            Ok(res) => self.reply(id, res),
            Err(err) => self.reply_err(id, err),
        }
    }

    /// Handles one payload; false ends the connection.
    async fn handle_payload(&mut self, payload: &[u8]) -> bool {
        match decode_client(payload) {
            Ok(frame) => {
                self.bad_frames = 0;
                // Every request gets a server-wide id, so one request can
                // be followed through the log.
                let span = tracing::info_span!(
                    "request",
                    rid = self.shared.new_request_id(),
                    id = frame.id,
                    kind = frame.req.kind(),
                );
                tracing::Instrument::instrument(self.handle(frame), span).await
            }
            Err(e) => {
                let id = peek_request_id(payload).unwrap_or(0);
                self.reply_err(id, ErrorReply::new(ErrorCode::BadFrame, e.to_string()));
                self.bad_frames += 1;
                if matches!(self.state, State::Hello)
                    || self.bad_frames >= self.shared.config().limits.max_bad_frames
                {
                    self.outbox
                        .close(ErrorCode::BadFrame, "too many malformed frames", None);
                    return false;
                }
                true
            }
        }
    }

    async fn handle(&mut self, frame: ClientFrame) -> bool {
        let ClientFrame { id, req } = frame;
        // The bytes of a transfer are paced by its flow control and the
        // file limits, not by the request rate meant for chat.
        let paced = matches!(self.state, State::Transfer(_))
            && matches!(req, Request::UploadChunk { .. } | Request::Download { .. });
        if !matches!(req, Request::Ping)
            && !paced
            && let Err(wait) = self.bucket.take()
        {
            let ms = wait.as_millis().max(1) as u64;
            self.reply_err(
                id,
                ErrorReply {
                    code: ErrorCode::RateLimited,
                    message: format!("too many requests; retry in {ms} ms"),
                    retry_after_ms: Some(ms),
                },
            );
            return true;
        }
        if !matches!(req, Request::Ping)
            && !paced
            && let Some(rate) = &self.account_rate
            && let Err(e) = ops::quotas::take_request(rate)
        {
            self.reply_err(id, e);
            return true;
        }
        match self.state {
            State::Hello => self.hello(id, req),
            State::Login => {
                match req {
                    Request::Login {
                        user,
                        credential,
                        presence,
                    } => {
                        let r = ops::auth::login(
                            &self.shared,
                            self.peer,
                            &self.outbox,
                            &user,
                            credential,
                            presence,
                        )
                        .await;
                        self.logged_in(id, r);
                    }
                    Request::Register { user, password } => {
                        let r = ops::auth::register(
                            &self.shared,
                            self.peer,
                            &self.outbox,
                            &user,
                            password.0,
                        )
                        .await;
                        self.logged_in(id, r);
                    }
                    Request::TransferLogin { ticket } => {
                        match ops::files::transfer_login(&self.shared, &ticket) {
                            Ok(t) => {
                                self.reply(id, Response::Done);
                                self.state = State::Transfer(Box::new(t));
                                self.shared.metrics.transfers.inc();
                            }
                            Err(e) => self.reply_err(id, e),
                        }
                    }
                    Request::Ping => self.reply(id, Response::Pong),
                    Request::Unknown(name) => self.unsupported(id, &name),
                    Request::Hello { .. } => self.reply_err(
                        id,
                        ErrorReply::new(ErrorCode::Invalid, "hello was already said"),
                    ),
                    _ => {
                        self.reply_err(id, ErrorReply::new(ErrorCode::NotLoggedIn, "log in first"));
                    }
                }
                true
            }
            State::Ready { session, .. } => self.dispatch(session, id, req).await,
            State::Transfer(_) => self.transfer(id, req).await,
        }
    }

    fn hello(&mut self, id: u64, req: Request) -> bool {
        let Request::Hello {
            protocol,
            client,
            client_version,
            compression,
        } = req
        else {
            self.reply_err(
                id,
                ErrorReply::new(ErrorCode::HelloRequired, "the first request must be hello"),
            );
            self.outbox
                .close(ErrorCode::HelloRequired, "no hello", None);
            return false;
        };
        if protocol != PROTOCOL_VERSION {
            let message = format!(
                "protocol version mismatch: the server speaks {PROTOCOL_VERSION}, the client {protocol}"
            );
            self.reply_err(
                id,
                ErrorReply::new(ErrorCode::VersionMismatch, message.clone()),
            );
            self.outbox
                .close(ErrorCode::VersionMismatch, &message, None);
            return false;
        }
        tracing::debug!(peer = %self.peer, client, client_version, "hello");
        self.compress = compression
            .iter()
            .any(|c| c == natter_shared::features::ZSTD);
        let c = self.shared.config();
        self.reply(
            id,
            Response::Welcome {
                protocol: PROTOCOL_VERSION,
                server_version: env!("CARGO_PKG_VERSION").to_owned(),
                limits: Limits {
                    max_frame: c.limits.max_frame as u32,
                    max_message_len: c.limits.max_message_len as u32,
                    max_history_page: c.history.max_page,
                    heartbeat_ms: c.limits.heartbeat_ms,
                    max_reaction_keys: c.limits.max_reaction_keys,
                    max_file_bytes: if c.files.enabled {
                        c.files.max_file_bytes
                    } else {
                        0
                    },
                    user_quota_bytes: c.files.user_quota_bytes,
                    uploads_per_minute: u64::from(c.files.uploads_per_minute),
                    file_types: c.files.allowed_types.clone(),
                    refused_file_types: c.files.refused_types.clone(),
                },
                features: features(&self.shared),
                motd: c.motd.clone(),
            },
        );
        self.state = State::Login;
        true
    }

    /// Answers a login or registration; a session that logged in is ready.
    fn logged_in(&mut self, id: u64, result: ops::OpResult<ops::auth::LoggedIn>) {
        match result {
            Ok(ops::auth::LoggedIn {
                session,
                user,
                info,
                token_hash,
            }) => {
                let frame = ServerFrame::Ok {
                    id,
                    res: Response::Session(info),
                };
                match natter_shared::encode(&frame) {
                    Ok(bytes) => {
                        self.outbox.push(bytes);
                        self.shared.metrics.logins.inc();
                        self.span.record("session", session);
                        self.span.record("user_id", user);
                        self.account_rate = Some(ops::quotas::account_rate(&self.shared, user));
                        self.state = State::Ready {
                            session,
                            token_hash,
                        };
                    }
                    Err(e) => {
                        // A reply too large for a frame: the client never
                        // learns it is logged in, so it is not.
                        tracing::warn!(peer = %self.peer, error = %e, "login reply too large");
                        self.shared.hub().remove_session(session);
                        self.reply_err(
                            id,
                            ErrorReply::new(
                                ErrorCode::Internal,
                                "your login reply is too large to send; ask an operator",
                            ),
                        );
                    }
                }
            }
            Err(e) => {
                self.shared.metrics.login_failures.inc();
                self.reply_err(id, e);
            }
        }
    }
}
