//! One connection to natterd: framed TCP, the handshake, request/reply
//! matching and the event stream.
//!
//! Three tasks serve a [`Connection`]:
//! - the **reader** decodes server frames, hands each reply to the waiter
//!   registered under its request id, and forwards events into the
//!   [`Events`] channel;
//! - the **writer** owns the socket's write half and writes the already
//!   encoded frames queued by [`Connection::request`], so that encoding errors
//!   reach the caller and a slow socket never blocks the reader;
//! - the **heartbeat** pings every `heartbeat_ms` from the server's welcome,
//!   records the round-trip time ([`Connection::rtt`]) and declares the link
//!   dead when a ping goes unanswered.
//!
//! The connection does not reconnect: [`crate::supervisor`] does that on top.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use natter_shared::{
    ClientFrame, Credential, ErrorCode, ErrorReply, Event, FrameCodec, HistoryQuery, Limits,
    MAX_FRAME_LEN, Message, MessageId, PROTOCOL_VERSION, PresenceChoice, ReactOp, Request,
    RequestId, Response, RoomState, SearchHit, SearchQuery, ServerFrame, SessionInfo,
    decode_server, encode,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use crate::error::ClientError;

/// Tunables of a connection. The defaults suit an interactive client.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// How long to wait for the TCP connection (and the welcome).
    pub connect_timeout: Duration,
    /// How long to wait for the reply to any one request.
    pub request_timeout: Duration,
    /// Events buffered before the reader stops reading the socket. A bound
    /// keeps memory in check; a consumer that falls far behind is then seen
    /// by the server as a slow consumer, which is the honest outcome.
    pub event_buffer: usize,
    /// For `tls://` servers: trust only this CA (PEM) instead of the
    /// system's roots.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(15),
            event_buffer: 1024,
            ca_file: None,
        }
    }
}

/// What the server said in its welcome.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub protocol: u32,
    pub server_version: String,
    pub limits: Limits,
    pub features: Vec<String>,
    pub motd: Option<String>,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disconnect {
    /// The server announced the close with `Event::Closing` (a shutdown, a
    /// kick of the session, a timeout). `reconnect_after` says when to come
    /// back, if at all.
    Notice {
        code: ErrorCode,
        message: String,
        reconnect_after: Option<Duration>,
    },
    /// The connection ended without notice: EOF, a socket error, an
    /// unanswered heartbeat.
    Lost(String),
    /// [`Connection::close`] was called.
    Local,
}

impl Disconnect {
    /// A few words for a status line: the server's own reason, or what
    /// happened to the link.
    #[must_use]
    pub fn brief(&self) -> String {
        match self {
            Disconnect::Notice { message, .. } => message.clone(),
            Disconnect::Lost(_) => "connection lost".to_owned(),
            Disconnect::Local => "connection closed".to_owned(),
        }
    }
}

impl std::fmt::Display for Disconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Disconnect::Notice { code, message, .. } => {
                write!(f, "the server closed the connection: {message} ({code})")
            }
            Disconnect::Lost(why) => write!(f, "connection lost: {why}"),
            Disconnect::Local => f.write_str("connection closed"),
        }
    }
}

/// What arrives on [`Events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A server event. `Event::Closing` is not passed on: it becomes the
    /// [`Disconnect::Notice`] of the final `Closed`.
    Event(Event),
    /// The connection is over; nothing follows.
    Closed(Disconnect),
}

/// The event stream of one connection; ends after [`Incoming::Closed`].
pub type Events = mpsc::Receiver<Incoming>;

type Reply = Result<Response, ErrorReply>;

/// Requests awaiting their reply, and whether more may be registered.
/// Guarded by a `std` mutex: it is held only to insert or remove one entry,
/// never across an `.await`.
struct Pending {
    waiters: HashMap<RequestId, oneshot::Sender<Reply>>,
    /// Set once the reader has stopped: no reply can come any more.
    closed: Option<Disconnect>,
}

/// State shared by the handle and the three tasks.
struct Shared {
    out: mpsc::Sender<Bytes>,
    pending: Mutex<Pending>,
    next_id: AtomicU64,
    request_timeout: Duration,
    /// The server's frame cap, known after the welcome.
    max_frame: AtomicUsize,
    rtt: watch::Sender<Option<Duration>>,
    /// Cancelled to stop the reader (local close, dead heartbeat).
    stop: CancellationToken,
    /// Why `stop` was cancelled, for the final `Closed`.
    stop_reason: Mutex<Option<Disconnect>>,
}

impl Shared {
    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A poisoned lock means a panic elsewhere while holding it; the map
        // itself is still consistent (single inserts and removes).
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn shut(&self, why: Disconnect) {
        let mut reason = self
            .stop_reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reason.get_or_insert(why);
        self.stop.cancel();
    }

    fn closed_reason(&self) -> String {
        self.lock_pending()
            .closed
            .as_ref()
            .map_or_else(|| "connection closed".to_owned(), ToString::to_string)
    }
}

/// Aborts the tasks when the last [`Connection`] handle is dropped.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Where a message goes besides its room: the message it replies to, the
/// thread it is posted in, and whether it calls the whole room to
/// attention (`--priority high`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placement {
    pub reply_to: Option<MessageId>,
    pub thread: Option<MessageId>,
    pub attention: bool,
}

/// A handle to one live connection. Cheap to clone; the connection closes
/// when the last clone is dropped or [`Connection::close`] is called.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
    welcome: Arc<Welcome>,
    /// The server that answered, as written in the list given.
    addr: Arc<str>,
    /// Its place in that list.
    node: usize,
    _tasks: Arc<Tasks>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Opens a TCP connection to `addr` (`host:port`, or several servers
    /// written `a:7878,b:7878`, tried in turn from the first), says hello and
    /// waits for the welcome. Heartbeats start at once; the caller logs in
    /// next with [`Connection::login`].
    ///
    /// # Errors
    /// [`ClientError::Connect`] / [`ClientError::ConnectTimeout`] when the
    /// server cannot be reached, [`ClientError::Server`] when it refuses the
    /// hello (version mismatch, server full).
    pub async fn connect(
        addr: &str,
        opts: &ConnectOptions,
    ) -> Result<(Connection, Events), ClientError> {
        Self::connect_from(addr, 0, opts).await
    }

    /// [`Connection::connect`] to one of several servers (`a:7878,b:7878`),
    /// trying them in turn from the one at `start`: how a reconnect moves on
    /// from a node that died. [`Connection::addr`] and
    /// [`Connection::node`] say which one answered.
    ///
    /// # Errors
    /// As [`Connection::connect`]; [`ClientError::NoServer`] when several
    /// were given and none answered.
    pub async fn connect_from(
        list: &str,
        start: usize,
        opts: &ConnectOptions,
    ) -> Result<(Connection, Events), ClientError> {
        let crate::transport::Opened {
            reader: read,
            writer: write,
            addr,
            index: node,
        } = crate::transport::open(list, start, opts.ca_file.as_deref(), opts.connect_timeout)
            .await?;
        let (out_tx, out_rx) = mpsc::channel(64);
        let (ev_tx, ev_rx) = mpsc::channel(opts.event_buffer.max(1));
        let shared = Arc::new(Shared {
            out: out_tx,
            pending: Mutex::new(Pending {
                waiters: HashMap::new(),
                closed: None,
            }),
            next_id: AtomicU64::new(1),
            request_timeout: opts.request_timeout,
            max_frame: AtomicUsize::new(MAX_FRAME_LEN),
            rtt: watch::Sender::new(None),
            stop: CancellationToken::new(),
            stop_reason: Mutex::new(None),
        });
        let reader = tokio::spawn(read_loop(
            FramedRead::new(read, FrameCodec::default()),
            Arc::clone(&shared),
            ev_tx,
        ));
        let writer = tokio::spawn(write_loop(
            FramedWrite::new(write, FrameCodec::default()),
            out_rx,
            Arc::clone(&shared),
        ));
        let mut tasks = Tasks(vec![reader, writer]);

        let hello = Request::Hello {
            compression: vec![natter_shared::features::ZSTD.into()],
            protocol: PROTOCOL_VERSION,
            client: "natter".into(),
            client_version: env!("CARGO_PKG_VERSION").into(),
        };
        let welcome = match raw_request(&shared, hello, opts.connect_timeout).await? {
            Response::Welcome {
                protocol,
                server_version,
                limits,
                features,
                motd,
            } => Welcome {
                protocol,
                server_version,
                limits,
                features,
                motd,
            },
            other => return Err(unexpected("hello", &other)),
        };
        tracing::debug!(
            server_version = %welcome.server_version,
            heartbeat_ms = welcome.limits.heartbeat_ms,
            "connected to {addr}"
        );
        // The server's frame cap applies to what we send from now on.
        shared.max_frame.store(
            (welcome.limits.max_frame as usize).min(MAX_FRAME_LEN),
            Ordering::Relaxed,
        );
        // Bounded both ways: a server's absurd value must neither spin nor
        // overflow the deadline arithmetic.
        let interval = Duration::from_millis(welcome.limits.heartbeat_ms.clamp(100, 3_600_000));
        tasks
            .0
            .push(tokio::spawn(heartbeat(Arc::clone(&shared), interval)));
        Ok((
            Connection {
                shared,
                welcome: Arc::new(welcome),
                addr: addr.into(),
                node,
                _tasks: Arc::new(tasks),
            },
            ev_rx,
        ))
    }

    /// The server's welcome (limits, version, message of the day).
    #[must_use]
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The address of the server this connection reached (one of the
    /// list, when it was given several).
    #[must_use]
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Which of the servers given (counting from 0) this connection
    /// reached.
    #[must_use]
    pub fn node(&self) -> usize {
        self.node
    }

    /// The round-trip time of the latest heartbeat, for a status line;
    /// `None` until the first pong. Watch it to be told of changes.
    #[must_use]
    pub fn rtt(&self) -> watch::Receiver<Option<Duration>> {
        self.shared.rtt.subscribe()
    }

    /// Whether the connection has ended.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.lock_pending().closed.is_some()
    }

    /// Closes the connection; the event stream ends with
    /// [`Disconnect::Local`] and requests in flight fail.
    pub fn close(&self) {
        self.shared.shut(Disconnect::Local);
    }

    /// Sends one request and waits for its reply.
    ///
    /// # Errors
    /// [`ClientError::Server`] for an error reply, [`ClientError::Timeout`]
    /// when none comes within the request timeout,
    /// [`ClientError::Disconnected`] when the connection ends first.
    pub async fn request(&self, req: Request) -> Result<Response, ClientError> {
        raw_request(&self.shared, req, self.shared.request_timeout).await
    }

    /// Logs in. After a password login the returned session carries a new
    /// token.
    ///
    /// # Errors
    /// As [`Connection::request`]; `auth_failed` is a [`ClientError::Server`].
    pub async fn login(
        &self,
        user: &str,
        credential: Credential,
    ) -> Result<SessionInfo, ClientError> {
        self.login_as(user, credential, None).await
    }

    /// Logs in with a presence from the first moment, as a client that
    /// reconnects while away or invisible must: nobody sees it online in
    /// between. A server without `login_presence` gets the presence right
    /// after the login instead, the best it can do.
    ///
    /// # Errors
    /// As [`Connection::login`]; `invalid` for a presence nobody can set
    /// (`offline`).
    pub async fn login_as(
        &self,
        user: &str,
        credential: Credential,
        presence: Option<PresenceChoice>,
    ) -> Result<SessionInfo, ClientError> {
        let at_login = self
            .welcome()
            .features
            .iter()
            .any(|f| f == natter_shared::features::LOGIN_PRESENCE);
        let (with_login, after) = if at_login {
            (presence, None)
        } else {
            (None, presence)
        };
        let session = match self
            .request(Request::Login {
                user: user.to_owned(),
                credential,
                presence: with_login,
            })
            .await?
        {
            Response::Session(s) => s,
            other => return Err(unexpected("login", &other)),
        };
        if let Some(p) = after {
            self.request(Request::Presence {
                state: p.state,
                status: p.status,
            })
            .await?;
        }
        Ok(session)
    }

    /// Posts a message; returns its id and server timestamp once the server
    /// has stored it.
    ///
    /// # Errors
    /// As [`Connection::request`]; `not_member` means join first.
    pub async fn send_message(
        &self,
        room: &str,
        body: &str,
        action: bool,
    ) -> Result<(MessageId, i64), ClientError> {
        match self
            .request(Request::Send {
                room: room.to_owned(),
                body: body.to_owned(),
                action,
                nonce: None,
                reply_to: None,
                thread: None,
                attention: false,
                files: Vec::new(),
            })
            .await?
        {
            Response::Sent { id, ts, .. } => Ok((id, ts)),
            other => Err(unexpected("send", &other)),
        }
    }

    /// Posts a message placed as `place` says: a reply to another, in a
    /// thread, calling the whole room to attention; returns its id and
    /// server timestamp once stored.
    ///
    /// # Errors
    /// As [`Connection::send_message`]; `no_such_message` when the parent
    /// or root is not a message of `room` you may see; `forbidden` for
    /// attention from someone who is no moderator of the room.
    pub async fn send_placed(
        &self,
        room: &str,
        body: &str,
        place: Placement,
    ) -> Result<(MessageId, i64), ClientError> {
        self.send_files(room, body, place, Vec::new()).await
    }

    /// Posts a message that carries files (from
    /// [`crate::transfer::Transfer::upload`]), with `body` as its caption
    /// (which may be empty); returns its id and server timestamp once
    /// stored with its attachments.
    ///
    /// # Errors
    /// As [`Connection::send_placed`]; `no_such_file` for a file that is
    /// not one of your uploads.
    pub async fn send_files(
        &self,
        room: &str,
        body: &str,
        place: Placement,
        files: Vec<natter_shared::FileId>,
    ) -> Result<(MessageId, i64), ClientError> {
        match self
            .request(Request::Send {
                room: room.to_owned(),
                body: body.to_owned(),
                action: false,
                nonce: None,
                reply_to: place.reply_to,
                thread: place.thread,
                attention: place.attention,
                files,
            })
            .await?
        {
            Response::Sent { id, ts, .. } => Ok((id, ts)),
            other => Err(unexpected("send", &other)),
        }
    }

    /// Replaces the body of your message `id`; returns once stored.
    ///
    /// # Errors
    /// As [`Connection::request`]; `forbidden` for someone else's
    /// message, `no_such_message` for one you cannot see.
    pub async fn edit(&self, room: &str, id: MessageId, body: &str) -> Result<(), ClientError> {
        self.done(
            "edit",
            Request::Edit {
                room: room.to_owned(),
                id,
                body: body.to_owned(),
            },
        )
        .await
    }

    /// Deletes message `id` (yours, or any in a room you moderate).
    ///
    /// # Errors
    /// As [`Connection::edit`].
    pub async fn delete(&self, room: &str, id: MessageId) -> Result<(), ClientError> {
        self.done(
            "delete",
            Request::Delete {
                room: room.to_owned(),
                id,
            },
        )
        .await
    }

    /// Adds, removes or toggles your reaction `key` on message `id`;
    /// returns whether it is there now.
    ///
    /// # Errors
    /// As [`Connection::request`]; `invalid` for a key that is not one
    /// emoji or a `:shortcode:`.
    pub async fn react(
        &self,
        room: &str,
        id: MessageId,
        key: &str,
        op: ReactOp,
    ) -> Result<bool, ClientError> {
        match self
            .request(Request::React {
                room: room.to_owned(),
                id,
                key: key.to_owned(),
                op,
            })
            .await?
        {
            Response::Reacted { on } => Ok(on),
            other => Err(unexpected("react", &other)),
        }
    }

    /// One page of search results, newest first, and whether older ones
    /// exist.
    ///
    /// # Errors
    /// As [`Connection::request`]; `invalid` for a query the server cannot
    /// read (its message says why).
    pub async fn search(&self, query: SearchQuery) -> Result<(Vec<SearchHit>, bool), ClientError> {
        match self.request(Request::Search(query)).await? {
            Response::Found { hits, more } => Ok((hits, more)),
            other => Err(unexpected("search", &other)),
        }
    }

    /// A request whose success is `Done`.
    async fn done(&self, what: &str, req: Request) -> Result<(), ClientError> {
        match self.request(req).await? {
            Response::Done => Ok(()),
            other => Err(unexpected(what, &other)),
        }
    }

    /// One page of a room's history, oldest first, and whether more exist.
    ///
    /// # Errors
    /// As [`Connection::request`].
    pub async fn history(
        &self,
        room: &str,
        query: HistoryQuery,
    ) -> Result<(Vec<Message>, bool), ClientError> {
        match self
            .request(Request::History {
                room: room.to_owned(),
                query,
            })
            .await?
        {
            Response::Messages { messages, more, .. } => Ok((messages, more)),
            other => Err(unexpected("history", &other)),
        }
    }

    /// Joins a public room.
    ///
    /// # Errors
    /// As [`Connection::request`]; `no_such_room` for a private or unknown
    /// room.
    pub async fn join(&self, room: &str) -> Result<RoomState, ClientError> {
        match self
            .request(Request::Join {
                room: room.to_owned(),
            })
            .await?
        {
            Response::Room(r) => Ok(r),
            other => Err(unexpected("join", &other)),
        }
    }

    /// Creates a room and becomes its owner.
    ///
    /// # Errors
    /// As [`Connection::request`]; `already_exists` when the name is taken,
    /// `quota` past the per-user limit.
    pub async fn create(&self, room: &str, private: bool) -> Result<RoomState, ClientError> {
        match self
            .request(Request::Create {
                room: room.to_owned(),
                private,
            })
            .await?
        {
            Response::Room(r) => Ok(r),
            other => Err(unexpected("create", &other)),
        }
    }

    /// Revokes this session's token and ends the session.
    ///
    /// # Errors
    /// As [`Connection::request`].
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.done("logout", Request::Logout).await
    }
}

fn unexpected(what: &str, res: &Response) -> ClientError {
    ClientError::Protocol(format!("unexpected reply to {what}: {res:?}"))
}

/// Removes a waiter when its request is abandoned (timeout, cancelled
/// future), so the map cannot grow with requests nobody awaits.
struct WaiterGuard<'a> {
    shared: &'a Shared,
    id: RequestId,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock_pending().waiters.remove(&self.id);
    }
}

/// A request encoded and registered for its reply, not sent yet.
type Prepared = (u64, &'static str, bytes::Bytes, oneshot::Receiver<Reply>);

/// Encodes a request and registers its waiter.
fn prepare(shared: &Shared, req: Request) -> Result<Prepared, ClientError> {
    let kind = req.kind();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let frame = encode(&ClientFrame { id, req }).map_err(|e| match e {
        natter_shared::CodecError::TooLarge { len, max } => ClientError::TooLarge { len, max },
        other => ClientError::Protocol(other.to_string()),
    })?;
    let len = frame.len() - natter_shared::codec::PREFIX_LEN;
    let max = shared.max_frame.load(Ordering::Relaxed);
    if len > max {
        return Err(ClientError::TooLarge { len, max });
    }
    let (tx, rx) = oneshot::channel();
    {
        let mut pending = shared.lock_pending();
        if let Some(why) = &pending.closed {
            return Err(ClientError::Disconnected(why.to_string()));
        }
        pending.waiters.insert(id, tx);
    }
    Ok((id, kind, frame, rx))
}

/// A request on its way, its reply still to come: see
/// [`Connection::queue`].
pub struct Queued {
    shared: Arc<Shared>,
    id: u64,
    kind: &'static str,
    rx: Option<oneshot::Receiver<Reply>>,
    deadline: tokio::time::Instant,
    timeout: Duration,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Queued {
    /// Waits for the reply.
    ///
    /// # Errors
    /// As [`Connection::request`].
    pub async fn reply(mut self) -> Result<Response, ClientError> {
        let Some(rx) = self.rx.take() else {
            return Err(ClientError::Disconnected(self.shared.closed_reason()));
        };
        settle(&self.shared, rx, self.kind, self.deadline, self.timeout).await
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.shared.lock_pending().waiters.remove(&self.id);
    }
}

async fn settle(
    shared: &Shared,
    rx: oneshot::Receiver<Reply>,
    kind: &'static str,
    deadline: tokio::time::Instant,
    timeout: Duration,
) -> Result<Response, ClientError> {
    match tokio::time::timeout_at(deadline, rx).await {
        Err(_) => Err(ClientError::Timeout {
            request: kind,
            after: timeout,
        }),
        Ok(Err(_)) => Err(ClientError::Disconnected(shared.closed_reason())),
        Ok(Ok(Ok(res))) => Ok(res),
        Ok(Ok(Err(reply))) => Err(ClientError::Server(reply)),
    }
}

impl Connection {
    /// Sends a request without waiting for its reply: requests queued one
    /// after another reach the server in that order, so a caller keeps
    /// several in flight (file chunks) and takes their replies in turn.
    ///
    /// # Errors
    /// As [`Connection::request`], for sending.
    pub async fn queue(&self, req: Request) -> Result<Queued, ClientError> {
        let shared = &self.shared;
        let (id, kind, frame, rx) = prepare(shared, req)?;
        let timeout = shared.request_timeout;
        let queued = Queued {
            shared: Arc::clone(shared),
            id,
            kind,
            rx: Some(rx),
            deadline: tokio::time::Instant::now() + timeout,
            timeout,
        };
        match tokio::time::timeout_at(queued.deadline, shared.out.send(frame)).await {
            Ok(Ok(())) => Ok(queued),
            Ok(Err(_)) => Err(ClientError::Disconnected(shared.closed_reason())),
            Err(_) => Err(ClientError::Timeout {
                request: kind,
                after: timeout,
            }),
        }
    }
}

async fn raw_request(
    shared: &Shared,
    req: Request,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let (id, kind, frame, rx) = prepare(shared, req)?;
    let _guard = WaiterGuard { shared, id };
    // The deadline covers queueing too: a stalled socket with a full queue
    // must time out, not hang the caller (or the heartbeat) forever.
    let deadline = tokio::time::Instant::now() + timeout;
    match tokio::time::timeout_at(deadline, shared.out.send(frame)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err(ClientError::Disconnected(shared.closed_reason())),
        Err(_) => {
            return Err(ClientError::Timeout {
                request: kind,
                after: timeout,
            });
        }
    }
    settle(shared, rx, kind, deadline, timeout).await
}

/// A read error in words. A "length" whose first bytes are a TLS record
/// header (alert or handshake, version 3.x) means a plain-text client
/// reached a TLS port.
fn describe_read_error(e: &natter_shared::CodecError) -> String {
    if let natter_shared::CodecError::TooLarge { len, .. } = e {
        let [kind, major, ..] = (*len as u32).to_be_bytes();
        if matches!(kind, 0x15 | 0x16) && major == 0x03 {
            return "the server answered with TLS; use tls://host:port".into();
        }
    }
    e.to_string()
}

async fn read_loop(
    mut frames: FramedRead<crate::transport::Reader, FrameCodec>,
    shared: Arc<Shared>,
    events: mpsc::Sender<Incoming>,
) {
    let mut notice: Option<Disconnect> = None;
    let end = loop {
        let next = tokio::select! {
            () = shared.stop.cancelled() => {
                break shared
                    .stop_reason
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
                    .unwrap_or(Disconnect::Local);
            }
            next = frames.next() => next,
        };
        let payload = match next {
            None => {
                break notice.take().unwrap_or_else(|| {
                    Disconnect::Lost("the server closed the connection".into())
                });
            }
            Some(Err(e)) => {
                break notice
                    .take()
                    .unwrap_or_else(|| Disconnect::Lost(describe_read_error(&e)));
            }
            Some(Ok(p)) => p,
        };
        match decode_server(&payload) {
            Ok(ServerFrame::Ok {
                id,
                res: Response::Unknown(name),
            }) => route(
                &shared,
                id,
                Err(ErrorReply::new(
                    ErrorCode::Other("undecodable_reply".into()),
                    format!("cannot read the server's reply: a {name:?} this client does not know"),
                )),
            ),
            Ok(ServerFrame::Ok { id, res }) => route(&shared, id, Ok(res)),
            Ok(ServerFrame::Err { id, err }) => {
                if id == 0 {
                    tracing::warn!("server reported an error about an unreadable frame: {err}");
                } else {
                    route(&shared, id, Err(err));
                }
            }
            Ok(ServerFrame::Event(Event::Closing {
                code,
                message,
                reconnect_after_ms,
            })) => {
                tracing::debug!(%code, "server is closing the connection: {message}");
                notice = Some(Disconnect::Notice {
                    code,
                    message,
                    reconnect_after: reconnect_after_ms.map(Duration::from_millis),
                });
            }
            Ok(ServerFrame::Event(Event::Unknown(name))) => {
                // An event added in a newer protocol revision.
                tracing::debug!(event = name, "skipping an event this client does not know");
            }
            // `decode_server` unwraps compressed frames; none is left.
            Ok(ServerFrame::Compressed(_)) => {}
            Ok(ServerFrame::Event(ev)) => {
                // A dropped receiver (a one-shot `--send`) just means nobody
                // wants events; replies must keep flowing.
                let _ = events.send(Incoming::Event(ev)).await;
            }
            // A reply or event this client should know but cannot read; a
            // reply still reaches its waiter (found with the codec's depth
            // limit, like every decode).
            Err(e) => {
                if let Some(id) = natter_shared::codec::peek_reply_id(&payload) {
                    route(
                        &shared,
                        id,
                        Err(ErrorReply::new(
                            ErrorCode::Other("undecodable_reply".into()),
                            format!("cannot read the server's reply: {e}"),
                        )),
                    );
                } else {
                    tracing::debug!("skipping a server frame this client cannot read: {e}");
                }
            }
        }
    };
    tracing::debug!("connection ended: {end}");
    let waiters = {
        let mut pending = shared.lock_pending();
        pending.closed = Some(end.clone());
        std::mem::take(&mut pending.waiters)
    };
    // Dropping the senders wakes every waiter with "disconnected".
    drop(waiters);
    shared.stop.cancel();
    let _ = events.send(Incoming::Closed(end)).await;
}

fn route(shared: &Shared, id: RequestId, reply: Reply) {
    let waiter = shared.lock_pending().waiters.remove(&id);
    if let Some(tx) = waiter {
        let _ = tx.send(reply);
    } else {
        tracing::debug!(id, "reply to a request nobody waits for (timed out?)");
    }
}

async fn write_loop(
    mut sink: FramedWrite<crate::transport::Writer, FrameCodec>,
    mut out: mpsc::Receiver<Bytes>,
    shared: Arc<Shared>,
) {
    loop {
        let frame = tokio::select! {
            () = shared.stop.cancelled() => break,
            f = out.recv() => match f {
                Some(f) => f,
                None => break,
            },
        };
        // `feed` then flush only when the queue is drained: a burst of
        // requests goes out in one write.
        let mut result = sink.feed(frame).await;
        while result.is_ok() {
            match out.try_recv() {
                Ok(f) => result = sink.feed(f).await,
                Err(_) => break,
            }
        }
        if let Err(e) = result.and(SinkExt::<Bytes>::flush(&mut sink).await) {
            shared.shut(Disconnect::Lost(format!("write failed: {e}")));
            break;
        }
    }
    // Half-close politely; the reader sees the server's EOF.
    let _ = SinkExt::<Bytes>::close(&mut sink).await;
}

async fn heartbeat(shared: Arc<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate
    loop {
        ticks.tick().await;
        let started = Instant::now();
        // The server drops a peer silent for three intervals; a pong later
        // than two intervals means the link is as good as dead.
        match raw_request(&shared, Request::Ping, every * 2).await {
            Ok(_) => {
                let rtt = started.elapsed();
                tracing::trace!(?rtt, "pong");
                shared.rtt.send_replace(Some(rtt));
            }
            Err(ClientError::Timeout { after, .. }) => {
                shared.shut(Disconnect::Lost(format!(
                    "no answer to a heartbeat within {} ms",
                    after.as_millis()
                )));
                return;
            }
            Err(ClientError::Disconnected(_)) => return,
            Err(e) => tracing::debug!("heartbeat failed: {e}"),
        }
    }
}

/// The welcome a fake server in the tests sends (its motd is "hi").
#[cfg(test)]
pub(crate) fn test_welcome(heartbeat_ms: u64) -> Response {
    Response::Welcome {
        protocol: 1,
        server_version: "fake".into(),
        limits: natter_shared::Limits {
            max_frame: 65536,
            max_message_len: 4000,
            max_history_page: 100,
            heartbeat_ms,
            max_reaction_keys: 0,
            ..natter_shared::Limits::default()
        },
        features: Vec::new(),
        motd: Some("hi".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use futures_util::{SinkExt, StreamExt};
    use natter_shared::{ClientFrame, decode_client};
    use serde::Serialize;
    use tokio::net::TcpListener;
    use tokio_util::codec::Framed;

    use super::*;

    type Peer = Framed<tokio::net::TcpStream, FrameCodec>;

    /// A scripted server for one connection: it answers the hello (with
    /// `heartbeat_ms`), then hands the socket to `script`.
    async fn fake_server<F, Fut>(heartbeat_ms: u64, script: F) -> String
    where
        F: FnOnce(Peer) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            let mut peer = Framed::new(sock, FrameCodec::default());
            let hello = next_req(&mut peer).await.unwrap();
            assert!(matches!(hello.req, Request::Hello { protocol: 1, .. }));
            let welcome = test_welcome(heartbeat_ms);
            reply(&mut peer, hello.id, welcome).await;
            script(peer).await;
        });
        addr
    }

    async fn next_req(peer: &mut Peer) -> Option<ClientFrame> {
        let payload = peer.next().await?.ok()?;
        Some(decode_client(&payload).unwrap())
    }

    async fn reply(peer: &mut Peer, id: RequestId, res: Response) {
        peer.send(&ServerFrame::Ok { id, res }).await.unwrap();
    }

    fn messages(room: &str) -> Response {
        Response::Messages {
            room: room.into(),
            messages: Vec::new(),
            more: false,
            rev: 0,
        }
    }

    fn quiet() -> u64 {
        // Heartbeats far in the future, so they do not interleave.
        60_000
    }

    async fn closed(events: &mut Events) -> Disconnect {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("the connection ends in time")
            {
                Some(Incoming::Closed(d)) => return d,
                Some(Incoming::Event(_)) => {}
                None => panic!("stream ended without Closed"),
            }
        }
    }

    #[tokio::test]
    async fn events_flow_between_out_of_order_replies() {
        let addr = fake_server(quiet(), |mut peer| async move {
            let a = next_req(&mut peer).await.unwrap();
            let b = next_req(&mut peer).await.unwrap();
            let room = |f: &ClientFrame| match &f.req {
                Request::History { room, .. } => room.clone(),
                other => panic!("{other:?}"),
            };
            // Answer the second first, with an event in between.
            reply(&mut peer, b.id, messages(&room(&b))).await;
            peer.send(&ServerFrame::Event(Event::Read {
                room: "#x".into(),
                id: 7,
            }))
            .await
            .unwrap();
            reply(&mut peer, a.id, messages(&room(&a))).await;
            let _ = peer.next().await;
        })
        .await;
        let (conn, mut events) = Connection::connect(&addr, &ConnectOptions::default())
            .await
            .unwrap();
        assert_eq!(conn.welcome().motd.as_deref(), Some("hi"));
        let q = HistoryQuery::default();
        let (a, b) = tokio::join!(conn.history("#a", q), conn.history("#b", q));
        assert!(a.unwrap().0.is_empty() && b.unwrap().0.is_empty());
        assert_eq!(
            events.recv().await,
            Some(Incoming::Event(Event::Read {
                room: "#x".into(),
                id: 7
            }))
        );
    }

    #[tokio::test]
    async fn each_caller_gets_its_own_reply() {
        let addr = fake_server(quiet(), |mut peer| async move {
            let mut reqs = Vec::new();
            for _ in 0..3 {
                reqs.push(next_req(&mut peer).await.unwrap());
            }
            for f in reqs.iter().rev() {
                let Request::History { room, .. } = &f.req else {
                    panic!()
                };
                reply(&mut peer, f.id, messages(room)).await;
            }
            let _ = peer.next().await;
        })
        .await;
        let (conn, _events) = Connection::connect(&addr, &ConnectOptions::default())
            .await
            .unwrap();
        let ask = |room: &'static str| {
            let conn = conn.clone();
            async move {
                match conn
                    .request(Request::History {
                        room: room.into(),
                        query: HistoryQuery::default(),
                    })
                    .await
                    .unwrap()
                {
                    Response::Messages { room, .. } => room,
                    other => panic!("{other:?}"),
                }
            }
        };
        let got = tokio::join!(ask("#a"), ask("#b"), ask("#c"));
        assert_eq!(got, ("#a".into(), "#b".into(), "#c".into()));
    }

    #[tokio::test]
    async fn requests_in_flight_fail_when_the_server_goes_away() {
        let addr = fake_server(quiet(), |mut peer| async move {
            let _ = next_req(&mut peer).await;
            drop(peer);
        })
        .await;
        let (conn, mut events) = Connection::connect(&addr, &ConnectOptions::default())
            .await
            .unwrap();
        let err = conn.request(Request::Rooms).await.unwrap_err();
        assert!(matches!(err, ClientError::Disconnected(_)), "{err}");
        assert_eq!(err.exit_code(), 3);
        assert!(matches!(closed(&mut events).await, Disconnect::Lost(_)));
        assert!(conn.is_closed());
        let err = conn.request(Request::Rooms).await.unwrap_err();
        assert!(matches!(err, ClientError::Disconnected(_)), "{err}");
    }

    #[tokio::test]
    async fn a_closing_notice_becomes_the_reason() {
        let addr = fake_server(quiet(), |mut peer| async move {
            peer.send(&ServerFrame::Event(Event::Closing {
                code: ErrorCode::ShuttingDown,
                message: "bye".into(),
                reconnect_after_ms: Some(3000),
            }))
            .await
            .unwrap();
        })
        .await;
        let (_conn, mut events) = Connection::connect(&addr, &ConnectOptions::default())
            .await
            .unwrap();
        assert_eq!(
            closed(&mut events).await,
            Disconnect::Notice {
                code: ErrorCode::ShuttingDown,
                message: "bye".into(),
                reconnect_after: Some(Duration::from_secs(3)),
            }
        );
    }

    #[tokio::test]
    async fn a_request_without_reply_times_out() {
        let addr = fake_server(quiet(), |mut peer| async move {
            while next_req(&mut peer).await.is_some() {}
        })
        .await;
        let opts = ConnectOptions {
            request_timeout: Duration::from_millis(100),
            ..ConnectOptions::default()
        };
        let (conn, _events) = Connection::connect(&addr, &opts).await.unwrap();
        let err = conn.request(Request::Rooms).await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Timeout {
                    request: "rooms",
                    ..
                }
            ),
            "{err}"
        );
        assert!(conn.shared.lock_pending().waiters.is_empty(), "cleaned up");
    }

    #[tokio::test]
    async fn heartbeats_measure_rtt_and_a_silent_server_is_declared_lost() {
        let addr = fake_server(100, |mut peer| async move {
            // Answer two pings, then go silent without closing.
            for _ in 0..2 {
                let f = next_req(&mut peer).await.unwrap();
                assert_eq!(f.req, Request::Ping);
                reply(&mut peer, f.id, Response::Pong).await;
            }
            while next_req(&mut peer).await.is_some() {}
        })
        .await;
        let (conn, mut events) = Connection::connect(&addr, &ConnectOptions::default())
            .await
            .unwrap();
        let mut rtt = conn.rtt();
        tokio::time::timeout(Duration::from_secs(5), rtt.wait_for(Option::is_some))
            .await
            .expect("a pong in time")
            .unwrap();
        match closed(&mut events).await {
            Disconnect::Lost(why) => assert!(why.contains("heartbeat"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn unknown_frames_from_a_newer_server_do_not_break_the_stream() {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Future {
            Ok { id: u64, res: FutureRes },
            Event(FutureEvent),
        }
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum FutureRes {
            Hologram { x: u32 },
        }
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum FutureEvent {
            Telepathy { strength: u32 },
        }
        let addr = fake_server(quiet(), |mut peer| async move {
            let f = next_req(&mut peer).await.unwrap();
            peer.send(&Future::Event(FutureEvent::Telepathy { strength: 9 }))
                .await
                .unwrap();
            peer.send(&Future::Ok {
                id: f.id,
                res: FutureRes::Hologram { x: 1 },
            })
            .await
            .unwrap();
            peer.send(&ServerFrame::Event(Event::Read {
                room: "#x".into(),
                id: 1,
            }))
            .await
            .unwrap();
            let g = next_req(&mut peer).await.unwrap();
            reply(&mut peer, g.id, Response::Done).await;
            let _ = peer.next().await;
        })
        .await;
        let (conn, mut events) = Connection::connect(&addr, &ConnectOptions::default())
            .await
            .unwrap();
        let err = conn.request(Request::Stats).await.unwrap_err();
        assert!(
            err.to_string().contains("cannot read the server's reply"),
            "{err}"
        );
        assert!(matches!(
            events.recv().await,
            Some(Incoming::Event(Event::Read { .. }))
        ));
        assert_eq!(conn.request(Request::Rooms).await.unwrap(), Response::Done);
    }

    #[tokio::test]
    async fn unreachable_and_silent_servers() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let err = Connection::connect(&addr, &ConnectOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
        assert_eq!(err.exit_code(), 3);

        // Accepts but never welcomes.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (_sock, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let opts = ConnectOptions {
            connect_timeout: Duration::from_millis(200),
            ..ConnectOptions::default()
        };
        let err = Connection::connect(&addr, &opts).await.unwrap_err();
        assert_eq!(err.exit_code(), 3, "{err}");
    }
}
