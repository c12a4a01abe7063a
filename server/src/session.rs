//! One connection, from the first byte to the goodbye.
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
use natter_shared::names::normalize_user;
use natter_shared::{
    ClientFrame, CodecError, Credential, ErrorCode, ErrorReply, Event, FrameCodec, Limits,
    PROTOCOL_VERSION, Request, Response, ServerFrame, decode_client,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use crate::auth::{self, TokenBucket};
use crate::hub::{HistoryPlan, SendPlan};
use crate::outbox::{self, Outbox};
use crate::store::StoreChange;
use crate::store::load_room;
use crate::store::{self, StoreError, UserRow};
use crate::{Quota, Shared};

/// A working connection's read buffer. Requests are small and idle
/// connections many: most requests fit in one read of this size, bigger
/// ones grow the buffer only while they are read, and an idle connection
/// frees it (see `IDLE_SHRINK`).
const READ_BUFFER: usize = 1024;

/// How long a connection reads nothing before its read buffer is freed.
const IDLE_SHRINK: Duration = Duration::from_millis(250);

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

enum State {
    Hello,
    Login,
    /// `token_hash`: the token this session logged in with or was issued,
    /// which logout revokes (none after a `PasswordOnly` login).
    Ready {
        session: u64,
        token_hash: Option<String>,
    },
}

struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    outbox: Arc<Outbox>,
    state: State,
    bucket: TokenBucket,
    bad_frames: u32,
}

fn internal(e: &StoreError) -> ErrorReply {
    tracing::error!(error = %e, "store error");
    ErrorReply::new(ErrorCode::Internal, "internal error; try again")
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
pub async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let (read, write) = stream.into_split();
    serve_io(read, write, peer, shared).await;
}

/// Serves one TLS connection (handshake done) until it ends.
pub async fn serve_tls(
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    peer: SocketAddr,
    shared: Arc<Shared>,
) {
    let (read, write) = tokio::io::split(stream);
    serve_io(read, write, peer, shared).await;
}

async fn serve_io<R, W>(read: R, write: W, peer: SocketAddr, shared: Arc<Shared>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let config = shared.config();
    let limits = &config.limits;
    let outbox = Arc::new(Outbox::new(limits.outbound_queue_bytes));
    let writer = tokio::spawn(outbox::write_loop(Arc::clone(&outbox), write));
    // No buffer until there is something to read: the handshake's two
    // small frames need a few more reads this way, but a connection that
    // then stays idle never holds more than they took.
    let frames = FramedRead::with_capacity(read, FrameCodec::new(limits.max_frame), 0);
    let mut conn = Conn {
        bucket: TokenBucket::new(limits.requests_per_sec, limits.request_burst),
        shared,
        peer,
        outbox,
        state: State::Hello,
        bad_frames: 0,
    };
    tracing::debug!(%peer, "connection opened");
    conn.run(frames).await;
    if let State::Ready { session, .. } = conn.state {
        conn.shared.hub().remove_session(session);
    }
    // Wake the writer if the peer simply went away; it flushes and ends.
    conn.outbox
        .close(ErrorCode::Timeout, "connection ended", None);
    let _ = tokio::time::timeout(Duration::from_secs(3), writer).await;
    tracing::debug!(%peer, "connection closed");
}

impl Conn {
    async fn run<R: AsyncRead + Unpin>(&mut self, mut frames: FramedRead<R, FrameCodec>) {
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
                State::Ready { .. } => (last_frame + heartbeat, "no heartbeat in time"),
            };
            let wake = shrink_at.map_or(deadline, |s| s.min(deadline));
            tokio::select! {
                () = self.outbox.closed() => return,
                // Shutting down: stop reading, but stay registered until the
                // server has delivered pending acknowledgements and said
                // goodbye (which closes the outbox).
                () = self.shared.draining.cancelled(), if !draining => draining = true,
                () = self.shared.shutdown.cancelled() => {
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
                        if !Box::pin(self.handle_payload(&payload)).await {
                            return;
                        }
                        // A working size once logged in (clients send right
                        // away, and reads of a few bytes would cost a
                        // syscall each), and the memory back after a large
                        // frame rather than kept for the connection's
                        // lifetime.
                        let buffer = frames.read_buffer_mut();
                        if buffer.is_empty() && matches!(self.state, State::Ready { .. }) {
                            if !(READ_BUFFER..=4 * READ_BUFFER).contains(&buffer.capacity()) {
                                *buffer = bytes::BytesMut::with_capacity(READ_BUFFER);
                            }
                            shrink_at = Some(Instant::now() + IDLE_SHRINK);
                        }
                        if was_login && matches!(self.state, State::Login) {
                            login_deadline = Instant::now() + login_timeout;
                        }
                    }
                },
            }
        }
    }

    /// Queues a reply. One that cannot be encoded (larger than a frame may
    /// be) still answers its request, with an error.
    fn reply(&self, id: u64, res: Response) {
        match natter_shared::encode(&ServerFrame::Ok { id, res }) {
            Ok(bytes) => {
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

    fn reply_err(&self, id: u64, err: ErrorReply) {
        self.outbox.send(&ServerFrame::Err { id, err });
    }

    /// Answers a request this server does not know (from a newer client).
    /// The connection stays: this is no malformed frame.
    fn unsupported(&self, id: u64, name: &str) {
        tracing::debug!(peer = %self.peer, request = name, "unsupported request");
        self.reply_err(
            id,
            ErrorReply::new(
                ErrorCode::Unsupported,
                format!("this server does not support the request {name:?}"),
            ),
        );
    }

    fn answer(&self, id: u64, result: Result<Response, ErrorReply>) {
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
                self.handle(frame).await
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
        if !matches!(req, Request::Ping)
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
        match self.state {
            State::Hello => self.hello(id, req),
            State::Login => {
                match req {
                    Request::Login { user, credential } => self.login(id, &user, credential).await,
                    Request::Register { user, password } => {
                        self.register(id, &user, password.0).await;
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
        }
    }

    fn hello(&mut self, id: u64, req: Request) -> bool {
        let Request::Hello {
            protocol,
            client,
            client_version,
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
                },
                features: features(&self.shared),
                motd: c.motd.clone(),
            },
        );
        self.state = State::Login;
        true
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, auth::Throttle> {
        self.shared
            .throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn login(&mut self, id: u64, user: &str, credential: Credential) {
        let config = self.shared.config();
        let limits = &config.limits;
        let window = Duration::from_millis(limits.login_window_ms);
        let ip_key = format!("ip:{}", self.peer.ip());
        let name = normalize_user(user).unwrap_or_default();
        let account_key = format!("user:{name}");
        let throttled = self.throttle().begin(
            &[
                (&ip_key, limits.login_failures_per_ip),
                (&account_key, limits.login_failures_per_account),
            ],
            window,
        );
        if let Err(wait) = throttled {
            let secs = wait.as_secs().max(1);
            self.reply_err(
                id,
                ErrorReply {
                    code: ErrorCode::Throttled,
                    message: format!("too many failed logins; try again in {secs} s"),
                    retry_after_ms: Some(wait.as_millis().max(1) as u64),
                },
            );
            return;
        }
        let lookup = name.clone();
        let row = match self
            .shared
            .store
            .read(move |c| store::user_by_name(c, &lookup))
            .await
        {
            Ok(row) => row,
            Err(e) => return self.reply_err(id, internal(&e)),
        };
        let remember = matches!(credential, Credential::Password(_));
        let (ok, token) = match credential {
            Credential::Password(password) | Credential::PasswordOnly(password) => {
                let hash = row
                    .as_ref()
                    .map_or_else(|| auth::dummy_hash().to_owned(), |r| r.pw_hash.clone());
                let _permit = self.shared.hashing.acquire().await;
                let verified =
                    tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password))
                        .await
                        .unwrap_or(false);
                (verified && row.is_some(), None)
            }
            Credential::Token(token) => {
                let hash = auth::hash_token(&token);
                let owner = match self
                    .shared
                    .store
                    .read(move |c| store::token_user(c, &hash))
                    .await
                {
                    Ok(owner) => owner,
                    Err(e) => return self.reply_err(id, internal(&e)),
                };
                (
                    row.as_ref().is_some_and(|r| Some(r.id) == owner),
                    Some(token),
                )
            }
        };
        let Some(row) = row.filter(|_| ok) else {
            // Already counted by `begin`.
            tracing::info!(peer = %self.peer, user = name, "failed login");
            return self.reply_err(
                id,
                ErrorReply::new(ErrorCode::AuthFailed, "wrong user name, password or token"),
            );
        };
        {
            let mut t = self.throttle();
            t.forgive(&ip_key);
            t.clear(&account_key);
        }
        if row.suspended {
            // Said only to someone who proved the credential, so it tells a
            // guesser nothing.
            tracing::info!(peer = %self.peer, user = name, "suspended account refused");
            return self.reply_err(
                id,
                ErrorReply::new(
                    ErrorCode::Suspended,
                    "this account is suspended; ask an operator",
                ),
            );
        }
        let (new_token, token_hash) = match token {
            Some(t) => (None, Some(auth::hash_token(&t))),
            None if remember => match self.issue_token(row.id).await {
                Ok((t, h)) => (Some(t), Some(h)),
                Err(e) => return self.reply_err(id, internal(&e)),
            },
            None => (None, None),
        };
        self.finish_login(id, row, new_token, token_hash).await;
    }

    async fn issue_token(&self, user_id: i64) -> Result<(String, String), StoreError> {
        let (token, hash) = auth::new_token();
        let stored = hash.clone();
        self.shared
            .store
            .write(move |c| store::insert_token(c, user_id, &stored))
            .await?;
        Ok((token, hash))
    }

    async fn register(&mut self, id: u64, user: &str, password: String) {
        if !self.shared.config().open_registration {
            return self.reply_err(
                id,
                ErrorReply::new(
                    ErrorCode::RegistrationClosed,
                    "registration is closed on this server; ask an operator for an account",
                ),
            );
        }
        let name = match normalize_user(user) {
            Ok(n) => n,
            Err(e) => {
                return self.reply_err(id, ErrorReply::new(ErrorCode::Invalid, e.to_string()));
            }
        };
        if let Err(e) = auth::check_password_rules(&password) {
            return self.reply_err(id, ErrorReply::new(ErrorCode::Invalid, e));
        }
        let permit = self.shared.hashing.acquire().await;
        let hashed = tokio::task::spawn_blocking(move || auth::hash_password(&password)).await;
        drop(permit);
        let Ok(Ok(hash)) = hashed else {
            return self.reply_err(
                id,
                ErrorReply::new(ErrorCode::Internal, "cannot hash password"),
            );
        };
        let n = name.clone();
        let created = self
            .shared
            .store
            .write(move |c| {
                store::insert_user(c, &n, &hash, false)?;
                store::user_by_name(c, &n)
            })
            .await;
        let row = match created {
            Ok(Some(row)) => row,
            Err(StoreError::UserExists(_)) => {
                return self.reply_err(
                    id,
                    ErrorReply::new(
                        ErrorCode::AlreadyExists,
                        format!("the name {name} is taken"),
                    ),
                );
            }
            Ok(None) => {
                return self.reply_err(
                    id,
                    ErrorReply::new(
                        ErrorCode::Internal,
                        "the account was created but cannot be read back; try logging in",
                    ),
                );
            }
            Err(e) => return self.reply_err(id, internal(&e)),
        };
        tracing::info!(peer = %self.peer, user = name, "registered");
        match self.issue_token(row.id).await {
            Ok((token, hash)) => self.finish_login(id, row, Some(token), Some(hash)).await,
            Err(e) => self.reply_err(id, internal(&e)),
        }
    }

    /// Brings the user's rooms into memory (the admin CLI may have added
    /// some while the server ran) and registers the session.
    async fn finish_login(
        &mut self,
        id: u64,
        row: UserRow,
        token: Option<String>,
        token_hash: Option<String>,
    ) {
        let user_id = row.id;
        // Read through the writer so that changes queued before this login
        // (a kick, a ban) are already applied.
        let memberships = match self
            .shared
            .store
            .write(move |c| store::user_memberships(c, user_id))
            .await
        {
            Ok(m) => m,
            Err(e) => return self.reply_err(id, internal(&e)),
        };
        let missing: Vec<_> = {
            let hub = self.shared.hub();
            memberships
                .into_iter()
                .filter(|m| !hub.is_member(m.room_id, user_id))
                .map(|m| (hub.has_room(m.room_id), m))
                .collect()
        };
        if !missing.is_empty() {
            let cap = crate::hub::ring_cap(&self.shared.config());
            let loaded = self
                .shared
                .store
                .read(move |c| {
                    let mut rooms = Vec::new();
                    let mut members = Vec::new();
                    for (loaded, m) in missing {
                        if loaded {
                            let counts =
                                store::unread_counts(c, m.room_id, &m.user_name, m.last_read)?;
                            members.push((m, counts));
                        } else if let Some(room) = store::room_by_id(c, m.room_id)? {
                            rooms.push(load_room(c, room, cap)?);
                        }
                    }
                    Ok((rooms, members))
                })
                .await;
            match loaded {
                Ok((rooms, members)) => {
                    let mut hub = self.shared.hub();
                    for room in rooms {
                        if !hub.has_room(room.row.id) {
                            hub.install_room(room);
                        }
                    }
                    for (m, counts) in members {
                        hub.merge_membership(&m, counts);
                    }
                }
                Err(e) => return self.reply_err(id, internal(&e)),
            }
        }
        let session = self.shared.new_session_id();
        let info = self
            .shared
            .hub()
            .add_session(session, &row, Arc::clone(&self.outbox), token);
        tracing::info!(peer = %self.peer, user = row.name, session, "logged in");
        self.reply(id, Response::Session(info));
        self.state = State::Ready {
            session,
            token_hash,
        };
    }

    /// Finds a user by name, loading it from the store if the hub has not
    /// seen it yet.
    async fn resolve_user(&self, name: &str) -> Result<i64, ErrorReply> {
        let name =
            normalize_user(name).map_err(|e| ErrorReply::new(ErrorCode::Invalid, e.to_string()))?;
        if let Some(id) = self.shared.hub().user_id(&name) {
            return Ok(id);
        }
        let lookup = name.clone();
        let row = self
            .shared
            .store
            .read(move |c| store::user_by_name(c, &lookup))
            .await
            .map_err(|e| internal(&e))?
            .ok_or_else(|| {
                ErrorReply::new(ErrorCode::NoSuchUser, format!("no such user: {name}"))
            })?;
        self.shared.hub().ensure_user(row.id, &row.name, row.admin);
        Ok(row.id)
    }

    /// Creates the direct conversation between the session's user and
    /// `peer` if it does not exist yet.
    async fn ensure_direct(&self, session: u64, peer: i64) -> Result<(), ErrorReply> {
        let me = self
            .shared
            .hub()
            .session_user(session)
            .ok_or_else(|| ErrorReply::new(ErrorCode::NotLoggedIn, "log in first"))?;
        let name = crate::hub::direct_name(me, peer);
        let stored_name = name.clone();
        let room_id = self
            .shared
            .store
            .write(move |c| {
                if let Some(r) = store::room_by_name(c, &stored_name)? {
                    return Ok(r.id);
                }
                let id = store::insert_room(c, &stored_name, natter_shared::RoomKind::Direct)?;
                store::upsert_member(c, id, me, natter_shared::Role::Member)?;
                store::upsert_member(c, id, peer, natter_shared::Role::Member)?;
                Ok(id)
            })
            .await
            .map_err(|e| internal(&e))?;
        self.shared.hub().add_direct(room_id, name, me, peer);
        Ok(())
    }

    fn persist(&self, change: Option<StoreChange>) {
        if let Some(change) = change {
            let result = self.shared.store.persist(change);
            if let Err(e) = result {
                tracing::warn!(error = %e, "store closed; change not persisted");
            }
        }
    }

    /// Persists and answers a hub change; true when it succeeded.
    fn changed(
        &self,
        id: u64,
        result: Result<(Response, Option<StoreChange>), ErrorReply>,
    ) -> bool {
        match result {
            Ok((res, change)) => {
                self.persist(change);
                self.reply(id, res);
                true
            }
            Err(e) => {
                self.reply_err(id, e);
                false
            }
        }
    }

    /// Takes one unit of a user's quota; admins have none.
    fn take_quota(&self, user: i64, quota: Quota) -> Result<(), ErrorReply> {
        if self.shared.hub().is_admin(user) {
            return Ok(());
        }
        let config = self.shared.config();
        let (n, per, what) = match quota {
            Quota::Rooms => (
                config.limits.rooms_per_user_per_hour,
                3600.0,
                "rooms created this hour",
            ),
            Quota::Invites => (
                config.limits.invites_per_user_per_minute,
                60.0,
                "invitations this minute",
            ),
        };
        let mut quotas = self
            .shared
            .quotas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = quotas
            .entry((user, quota))
            .or_insert_with(|| TokenBucket::new(f64::from(n) / per, f64::from(n)));
        bucket.take().map_err(|wait| {
            let ms = wait.as_millis().max(1) as u64;
            ErrorReply {
                code: ErrorCode::Quota,
                message: format!(
                    "too many {what} (at most {n}); try again in {} s",
                    ms.div_ceil(1000)
                ),
                retry_after_ms: Some(ms),
            }
        })
    }

    /// Returns a unit of quota taken for an action that failed.
    fn refund_quota(&self, user: i64, quota: Quota) {
        if let Some(b) = self
            .shared
            .quotas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(&(user, quota))
        {
            b.refund();
        }
    }

    /// Records a moderation action in the audit log. It commits in order
    /// with the change it describes; nobody waits for it.
    fn audit(&self, session: u64, action: &str, target: &str, room: &str, detail: &str) {
        let actor = {
            let hub = self.shared.hub();
            let Some(user) = hub.session_user(session) else {
                return;
            };
            hub.user_name_of(user)
        };
        let entry = store::AuditEntry {
            at: store::now_ms(),
            actor,
            action: action.to_owned(),
            target: normalize_user(target).unwrap_or_else(|_| target.trim().to_owned()),
            room: room.trim().to_owned(),
            detail: detail.to_owned(),
        };
        let result = self.shared.store.audit(entry);
        if let Err(e) = result {
            tracing::warn!(error = %e, "store closed; audit entry lost");
        }
    }

    /// Changes the session user's password: checks the old one (failures
    /// count towards the login throttle), revokes every token, ends the
    /// account's other sessions, and gives this session a new token if it
    /// had one.
    async fn change_password(&mut self, session: u64, id: u64, old: String, new: String) {
        let Some(user_id) = self.shared.hub().session_user(session) else {
            return self.reply_err(id, ErrorReply::new(ErrorCode::NotLoggedIn, "log in first"));
        };
        if let Err(e) = auth::check_password_rules(&new) {
            return self.reply_err(id, ErrorReply::new(ErrorCode::Invalid, e));
        }
        let name = self.shared.hub().user_name_of(user_id);
        let config = self.shared.config();
        let limits = &config.limits;
        let account_key = format!("user:{name}");
        let throttled = self.throttle().begin(
            &[(&account_key, limits.login_failures_per_account)],
            Duration::from_millis(limits.login_window_ms),
        );
        if let Err(wait) = throttled {
            return self.reply_err(
                id,
                ErrorReply {
                    code: ErrorCode::Throttled,
                    message: format!(
                        "too many wrong passwords; try again in {} s",
                        wait.as_secs().max(1)
                    ),
                    retry_after_ms: Some(wait.as_millis().max(1) as u64),
                },
            );
        }
        let lookup = name.clone();
        let row = match self
            .shared
            .store
            .read(move |c| store::user_by_name(c, &lookup))
            .await
        {
            Ok(Some(row)) if row.id == user_id => row,
            Ok(_) => {
                return self.reply_err(
                    id,
                    ErrorReply::new(ErrorCode::Revoked, "this account no longer exists"),
                );
            }
            Err(e) => return self.reply_err(id, internal(&e)),
        };
        let permit = self.shared.hashing.acquire().await;
        let hashed = tokio::task::spawn_blocking(move || {
            if auth::verify_password(&row.pw_hash, &old) {
                auth::hash_password(&new).map(Some)
            } else {
                Ok(None)
            }
        })
        .await;
        drop(permit);
        let hash = match hashed {
            Ok(Ok(Some(hash))) => hash,
            Ok(Ok(None)) => {
                return self.reply_err(
                    id,
                    ErrorReply::new(ErrorCode::AuthFailed, "the current password is wrong"),
                );
            }
            _ => {
                return self.reply_err(
                    id,
                    ErrorReply::new(ErrorCode::Internal, "cannot hash password"),
                );
            }
        };
        self.throttle().clear(&account_key);
        let had_token = matches!(
            self.state,
            State::Ready {
                token_hash: Some(_),
                ..
            }
        );
        let fresh = had_token.then(auth::new_token);
        let stored = fresh.as_ref().map(|(_, h)| h.clone());
        let entry = store::AuditEntry {
            at: store::now_ms(),
            actor: name.clone(),
            action: "user.password".into(),
            target: name.clone(),
            room: String::new(),
            detail: String::new(),
        };
        let written = self
            .shared
            .store
            .write(move |c| {
                store::set_password(c, user_id, &hash, Some(session))?;
                if let Some(h) = &stored {
                    store::insert_token(c, user_id, h)?;
                }
                store::insert_audit(c, &entry)
            })
            .await;
        if let Err(e) = written {
            return self.reply_err(id, internal(&e));
        }
        self.shared.hub().end_sessions(
            user_id,
            &ErrorCode::Revoked,
            "your password was changed; log in again",
            Some(session),
        );
        tracing::info!(peer = %self.peer, user = name, "password changed");
        let token = fresh.map(|(t, h)| {
            self.state = State::Ready {
                session,
                token_hash: Some(h),
            };
            natter_shared::Secret(t)
        });
        self.reply(id, Response::PasswordChanged { token });
    }

    async fn dispatch(&mut self, session: u64, id: u64, req: Request) -> bool {
        if let Request::Send { room, .. } | Request::History { room, .. } | Request::Join { room } =
            &req
            && let Some(name) = room.trim().strip_prefix('@')
        {
            // The peer may be an account the hub has not loaded yet (added
            // by the admin CLI while the server runs); errors are reported
            // by the request itself.
            let _ = self.resolve_user(name).await;
        }
        match req {
            Request::Hello { .. } => self.reply_err(
                id,
                ErrorReply::new(ErrorCode::Invalid, "hello was already said"),
            ),
            Request::Login { .. } | Request::Register { .. } => {
                self.reply_err(id, ErrorReply::new(ErrorCode::Invalid, "already logged in"));
            }
            Request::Logout => {
                let State::Ready { token_hash, .. } = &self.state else {
                    return false;
                };
                if let Some(hash) = token_hash.clone() {
                    let revoked = self
                        .shared
                        .store
                        .write(move |c| store::delete_token(c, &hash))
                        .await;
                    if let Err(e) = revoked {
                        self.reply_err(id, internal(&e));
                        return true;
                    }
                }
                self.reply(id, Response::Done);
                self.outbox
                    .close(ErrorCode::NotLoggedIn, "logged out", None);
                return false;
            }
            Request::Ping => self.reply(id, Response::Pong),
            Request::ChangePassword { old, new } => {
                self.change_password(session, id, old.0, new.0).await;
            }
            Request::Send {
                room,
                body,
                action,
                nonce,
            } => {
                self.send(session, id, &room, body, action, nonce.as_deref())
                    .await;
            }
            Request::Unknown(name) => self.unsupported(id, &name),
            Request::History { room, query } => {
                let plan = self.shared.hub().plan_history(session, &room, query);
                match plan {
                    Ok(HistoryPlan::Ready(res)) => self.reply(id, res),
                    Ok(HistoryPlan::Disk {
                        room_id,
                        room,
                        before,
                        after,
                        limit,
                    }) => {
                        let result = self
                            .shared
                            .store
                            .read(move |c| match after {
                                Some(a) => store::messages_after(c, room_id, a, limit + 1),
                                None => store::messages_before(c, room_id, before, limit + 1),
                            })
                            .await;
                        match result {
                            Ok(rows) => {
                                let (rows, more) = page(rows, limit, after.is_some());
                                let messages =
                                    rows.into_iter().map(|m| m.to_wire(room.clone())).collect();
                                self.reply(
                                    id,
                                    Response::Messages {
                                        room,
                                        messages,
                                        more,
                                    },
                                );
                            }
                            Err(e) => self.reply_err(id, internal(&e)),
                        }
                    }
                    Err(e) => self.reply_err(id, e),
                }
            }
            Request::Join { room } => {
                let peer = self.shared.hub().direct_peer_id(session, &room);
                match peer {
                    Ok(Some(peer)) => {
                        if let Err(e) = self.ensure_direct(session, peer).await {
                            self.reply_err(id, e);
                            return true;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.reply_err(id, e);
                        return true;
                    }
                }
                let r = self.shared.hub().join(session, &room);
                self.changed(id, r);
            }
            Request::Leave { room } => {
                let r = self.shared.hub().leave(session, &room);
                self.changed(id, r);
            }
            Request::Create { room, private } => self.create(session, id, &room, private).await,
            Request::Invite { room, user } => match self.resolve_user(&user).await {
                Ok(u) => {
                    let me = self.shared.hub().session_user(session).unwrap_or_default();
                    if let Err(e) = self.take_quota(me, Quota::Invites) {
                        self.reply_err(id, e);
                        return true;
                    }
                    let r = self.shared.hub().invite(session, &room, u);
                    if self.changed(id, r) {
                        self.audit(session, "invite", &user, &room, "");
                    } else {
                        self.refund_quota(me, Quota::Invites);
                    }
                }
                Err(e) => self.reply_err(id, e),
            },
            Request::Kick { room, user, reason } => {
                self.remove(session, id, &room, &user, false, reason).await;
            }
            Request::Ban { room, user, reason } => {
                self.remove(session, id, &room, &user, true, reason).await;
            }
            Request::Unban { room, user } => match self.resolve_user(&user).await {
                Ok(u) => {
                    let r = self.shared.hub().unban(session, &room, u);
                    if self.changed(id, r) {
                        self.audit(session, "unban", &user, &room, "");
                    }
                }
                Err(e) => self.reply_err(id, e),
            },
            Request::SetRole { room, user, role } => match self.resolve_user(&user).await {
                Ok(u) => {
                    let r = self.shared.hub().set_role(session, &room, u, role);
                    if self.changed(id, r) {
                        self.audit(session, "set_role", &user, &room, store::role_str(role));
                    }
                }
                Err(e) => self.reply_err(id, e),
            },
            Request::Topic { room, topic } => {
                let r = self.shared.hub().topic(session, &room, &topic);
                if self.changed(id, r) {
                    self.audit(session, "topic", "", &room, &topic);
                }
            }
            Request::Members { room } => {
                let r = self.shared.hub().members(session, &room);
                self.answer(id, r);
            }
            Request::Rooms => {
                let r = self.shared.hub().rooms_reply(session);
                self.answer(id, r);
            }
            Request::Directory => {
                let r = self.shared.hub().directory(session);
                self.answer(id, r);
            }
            Request::MarkRead { room, id: marker } => {
                let r = self.shared.hub().mark_read(session, &room, marker);
                match r {
                    Ok((res, change, recount)) => {
                        if recount && let Some(StoreChange::Read { room, user, .. }) = &change {
                            self.recount(*room, *user);
                        }
                        self.persist(change);
                        self.reply(id, res);
                    }
                    Err(e) => self.reply_err(id, e),
                }
            }
            Request::Typing { room, active } => {
                let r = self.shared.hub().typing(session, &room, active);
                self.answer(id, r);
            }
            Request::Presence { state, status } => {
                let r = self.shared.hub().set_presence(session, state, status);
                self.answer(id, r);
            }
            Request::Stats => {
                let r = self.shared.hub().stats(session);
                self.answer(id, r);
            }
        }
        true
    }

    /// Recounts unread messages from the store for a marker older than the
    /// in-memory ring, then updates the hub.
    /// At most one recount runs per (room, user); it repeats until its
    /// count matches the marker it read, so a burst of `MarkRead`s costs
    /// one scan at a time, not one each.
    fn recount(&self, room: i64, user: i64) {
        let fresh = self
            .shared
            .recounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((room, user));
        if !fresh {
            return;
        }
        let shared = Arc::clone(&self.shared);
        // Tracked: shutdown waits for it rather than closing the store under
        // it.
        self.shared.tasks.spawn(async move {
            loop {
                let target = shared.hub().marker_of(room, user);
                let counted = match target {
                    Some((name, marker)) => shared
                        .store
                        .read(move |c| store::unread_counts(c, room, &name, marker))
                        .await
                        .ok()
                        .map(|counts| (marker, counts)),
                    None => None,
                };
                // Free the slot under the hub lock, so a MarkRead that moves
                // the marker after this sees it free and starts a recount.
                let mut hub = shared.hub();
                let done = match counted {
                    Some((marker, counts)) => hub.set_counts(room, user, marker, counts),
                    None => true,
                };
                if done {
                    shared
                        .recounts
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&(room, user));
                    return;
                }
            }
        });
    }

    async fn send(
        &self,
        session: u64,
        id: u64,
        room: &str,
        body: String,
        action: bool,
        nonce: Option<&str>,
    ) {
        let mut created = false;
        loop {
            let plan = self
                .shared
                .hub()
                .plan_send(session, id, room, body.clone(), action, nonce);
            match plan {
                Ok(SendPlan::Ready(msg)) => {
                    // The reply (Sent) comes from the hub once the store has
                    // committed the message.
                    if let Err(e) = self.shared.store.submit(msg) {
                        self.reply_err(id, internal(&e));
                    }
                    return;
                }
                Ok(SendPlan::NeedDirect(peer)) if !created => {
                    if let Err(e) = self.ensure_direct(session, peer).await {
                        return self.reply_err(id, e);
                    }
                    created = true;
                }
                Ok(SendPlan::NeedDirect(_)) => {
                    return self.reply_err(
                        id,
                        ErrorReply::new(ErrorCode::Internal, "cannot open the conversation"),
                    );
                }
                Err(e) => return self.reply_err(id, e),
            }
        }
    }

    async fn create(&self, session: u64, id: u64, room: &str, private: bool) {
        let checked = {
            let hub = self.shared.hub();
            hub.session_user(session)
                .ok_or_else(|| ErrorReply::new(ErrorCode::NotLoggedIn, "log in first"))
                .and_then(|user| hub.check_create(room).map(|name| (user, name)))
        };
        let (user, name) = match checked {
            Ok(x) => x,
            Err(e) => return self.reply_err(id, e),
        };
        if let Err(e) = self.take_quota(user, Quota::Rooms) {
            return self.reply_err(id, e);
        }
        let kind = if private {
            natter_shared::RoomKind::Private
        } else {
            natter_shared::RoomKind::Public
        };
        let stored = name.clone();
        let created = self
            .shared
            .store
            .write(move |c| {
                let room_id = store::insert_room(c, &stored, kind)?;
                store::upsert_member(c, room_id, user, natter_shared::Role::Owner)?;
                Ok(room_id)
            })
            .await;
        match created {
            Ok(room_id) => {
                let state = self
                    .shared
                    .hub()
                    .add_created_room(room_id, name, kind, user);
                self.reply(id, Response::Room(state));
                let kind = if private { "private" } else { "public" };
                self.audit(session, "room.create", "", room, kind);
            }
            Err(StoreError::RoomExists(_)) => {
                self.refund_quota(user, Quota::Rooms);
                self.reply_err(
                    id,
                    ErrorReply::new(ErrorCode::AlreadyExists, format!("#{name} already exists")),
                );
            }
            Err(e) => {
                self.refund_quota(user, Quota::Rooms);
                self.reply_err(id, internal(&e));
            }
        }
    }

    async fn remove(
        &self,
        session: u64,
        id: u64,
        room: &str,
        user: &str,
        ban: bool,
        reason: Option<String>,
    ) {
        match self.resolve_user(user).await {
            Ok(u) => {
                let detail = reason.clone().unwrap_or_default();
                let r = self.shared.hub().remove(session, room, u, ban, reason);
                if self.changed(id, r) {
                    self.audit(
                        session,
                        if ban { "ban" } else { "kick" },
                        user,
                        room,
                        &detail,
                    );
                }
            }
            Err(e) => self.reply_err(id, e),
        }
    }
}

/// Trims a page read from the store to `limit` and says whether more lie
/// beyond it: newer ones for an `after` query, older ones otherwise.
fn page(
    mut rows: Vec<store::StoredMessage>,
    limit: usize,
    after: bool,
) -> (Vec<store::StoredMessage>, bool) {
    let more = rows.len() > limit;
    if more {
        if after {
            rows.truncate(limit);
        } else {
            rows.drain(..rows.len() - limit);
        }
    }
    (rows, more)
}
