//! What the `server_requests` fuzz target does with one input, against a
//! natterd running in-process on 127.0.0.1.
//!
//! Shared, file for file, by the fuzz target (through the `natter_fuzz`
//! library) and by `server/tests/fuzz_regressions.rs` (through
//! `#[path = ...] mod server_checks;`), so every finding replays the same
//! way. It may therefore only use what natter-server's tests can:
//! `natter_server`, `natter_shared`, `tokio`, `tempfile` and `std`. It
//! speaks the protocol over blocking `std::net::TcpStream`s, so it must not
//! run on the server's runtime.
//!
//! # Input format
//! - First byte `0xFF` ([`RAW_AFTER_LOGIN`]): hello and a token login as
//!   alice, then the rest of the input written raw to the socket (the
//!   framing layer and the request handlers, with arbitrary lengths).
//! - First byte `0xFE` ([`RAW_BEFORE_HELLO`]): the rest written raw to a
//!   fresh connection (the handshake and login states).
//! - First byte `0xFD` ([`TRANSFER`]): alice logs in, asks for a transfer
//!   ticket, and a second connection logs in with it as a transfer
//!   connection; the rest of the input goes to that one as chunks, as
//!   below (uploads, downloads and everything a transfer connection must
//!   refuse).
//! - Anything else: hello and a token login as alice, then the input as
//!   chunks `[u16 BE len][len bytes]`, each written as one frame (u32 BE
//!   length prefix + the bytes as its payload), then a Ping. A short last
//!   chunk is cut to what is left; a last single byte is ignored.
//!
//! # What counts as a finding
//! Whatever [`Harness::run_input`] returns as `Err`, and any panic in the
//! server (a panic hook aborts, or records it for the tests):
//! - the server sends a frame that does not decode, or one over the cap;
//! - the server goes 10 s ([`TIMEOUT`]) without sending anything while a
//!   reply is due, or does not close a connection after the client's end
//!   of stream;
//! - after the input, a fresh connection gets no `Pong` for hello + ping;
//! - bob, logged in on a connection of its own for the whole run, gets no
//!   `Pong`, or is disconnected other than by an account-level action.
//!
//! Closing the fuzzed connection itself is not a finding: the server may
//! (logout, too many bad frames, a frame over the cap, a slow consumer).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use natter_server::{Config, admin, auth, store};
use natter_shared::{
    ClientFrame, Credential, ErrorReply, Event, MAX_FRAME_LEN, PROTOCOL_VERSION, Request, Response,
    ServerFrame, decode_server, encode,
};

/// Both accounts' password.
pub const PASSWORD: &str = "correct horse";
/// The fuzzed connection's account (an admin).
pub const ADMIN: &str = "alice";
/// The observer's account (not an admin).
pub const OTHER: &str = "bob";
/// How long the server may stay silent while a reply is due.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write may block (the server stopped reading).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The id of the Ping closing a framed input. An input may use it too; the
/// harness then just stops waiting a little early.
pub const PING_ID: u64 = 0x7fff_ffff_ffff_fff0;
/// First byte of an input written raw after logging in.
pub const RAW_AFTER_LOGIN: u8 = 0xFF;
/// First byte of an input written raw before hello.
pub const RAW_BEFORE_HELLO: u8 = 0xFE;
/// First byte of an input sent as chunks on a transfer connection.
pub const TRANSFER: u8 = 0xFD;

/// Closing codes that may legitimately end the observer's session: an
/// account-level action (a password change, a suspension), which the
/// fuzzed admin may be allowed to cause. As wire strings, so this compiles
/// whichever of them the protocol has.
const ACCOUNT_CLOSINGS: &[&str] = &[
    "not_logged_in",
    "auth_failed",
    "forbidden",
    "banned",
    "revoked",
    "suspended",
];

/// The server's configuration: no rate limits, no login throttling, no
/// heartbeat deadline (the observer is quiet between inputs).
#[must_use]
pub fn config(data_dir: &Path) -> Config {
    let mut c = natter_server::testing::config(data_dir);
    c.limits.login_failures_per_account = u32::MAX;
    c.limits.login_failures_per_ip = u32::MAX;
    c.limits.login_window_ms = 1000;
    c.limits.max_connections_per_ip = 1000;
    c.limits.heartbeat_ms = 3_600_000;
    c
}

/// Splits a framed input into its chunks' payloads.
#[must_use]
pub fn chunks(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let take = len.min(body.len());
        out.push(&body[..take]);
        rest = &body[take..];
    }
    out
}

/// The inverse of [`chunks`] (for writing seeds).
#[must_use]
pub fn chunk_input<P: AsRef<[u8]>>(payloads: &[P]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        let p = p.as_ref();
        let len = u16::try_from(p.len()).expect("a chunk fits in u16");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// A client frame's payload, without the length prefix.
#[must_use]
pub fn payload(id: u64, req: Request) -> Vec<u8> {
    let bytes = encode(&ClientFrame { id, req }).expect("a client frame encodes");
    bytes[natter_shared::codec::PREFIX_LEN..].to_vec()
}

/// What to do when any thread panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPanic {
    /// Abort the process: for the fuzzer, which must see a crash (tokio
    /// would otherwise catch a panic in a server task and carry on).
    Abort,
    /// Record it; [`Harness::run_input`] then reports it. For tests.
    Record,
}

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn install_panic_hook(on_panic: OnPanic) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            match on_panic {
                OnPanic::Abort => std::process::abort(),
                OnPanic::Record => {
                    let thread = std::thread::current();
                    let name = thread.name().unwrap_or("<unnamed>");
                    PANICS
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(format!("thread {name}: {info}"));
                }
            }
        }));
    });
}

/// A natterd on 127.0.0.1 with a temp data dir holding alice (admin) and
/// bob, and bob logged in as an observer.
pub struct Harness {
    pub addr: SocketAddr,
    tmp: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    tokens: Mutex<HashMap<&'static str, String>>,
    observer: Mutex<Option<Conn>>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// Starts the server on a runtime of its own (a background thread) and
    /// logs both users in by password once.
    ///
    /// # Panics
    /// When the server cannot start: that is a broken harness, not a
    /// finding.
    #[must_use]
    pub fn start(on_panic: OnPanic) -> Self {
        install_panic_hook(on_panic);
        let tmp = tempfile::Builder::new()
            .prefix("natter-fuzz-")
            .tempdir()
            .expect("temp data dir");
        let dir = tmp.path().to_owned();
        admin::add_user(&dir, ADMIN, PASSWORD, true).expect("add alice");
        admin::add_user(&dir, OTHER, PASSWORD, false).expect("add bob");
        let config = config(&dir);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = std::thread::Builder::new()
            .name("natterd".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let mut running = natter_server::embedded::Running::start(config)
                        .await
                        .expect("natterd starts");
                    addr_tx.send(running.addr).expect("send addr");
                    let _ = stopped.await;
                    if let Err(e) = running.stop().await {
                        panic!("natterd stopped with an error: {e}");
                    }
                });
            })
            .expect("server thread");
        let addr = addr_rx.recv().expect("the server's address");
        let harness = Self {
            addr,
            tmp: Some(tmp),
            stop: Some(stop),
            server: Some(server),
            tokens: Mutex::new(HashMap::new()),
            observer: Mutex::new(None),
        };
        // A password login each (argon2: slow, so only here); later logins
        // use the tokens.
        let (_, token) = harness
            .password_login(ADMIN)
            .unwrap_or_else(|e| panic!("password login of {ADMIN}: {e}"));
        harness.set_token(ADMIN, token);
        let (observer, token) = harness
            .password_login(OTHER)
            .unwrap_or_else(|e| panic!("password login of {OTHER}: {e}"));
        harness.set_token(OTHER, token);
        *harness.observer.lock().expect("observer lock") = Some(observer);
        harness
    }

    /// Runs one input, then checks the server is still well: `Err` is a
    /// finding.
    pub fn run_input(&self, data: &[u8]) -> Result<(), String> {
        let ran = match data.split_first() {
            Some((&RAW_AFTER_LOGIN, rest)) => self.raw(rest, true),
            Some((&RAW_BEFORE_HELLO, rest)) => self.raw(rest, false),
            Some((&TRANSFER, rest)) => self.transfer(rest),
            _ => self.framed(data),
        };
        ran.map_err(|e| format!("on the fuzzed connection: {e}"))?;
        self.check_alive()?;
        let panics: Vec<String> = std::mem::take(
            &mut *PANICS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if panics.is_empty() {
            Ok(())
        } else {
            Err(format!("panicked: {}", panics.join("; ")))
        }
    }

    /// A transfer connection of alice's session, then the chunks on it as
    /// [`Harness::framed`] sends them.
    fn transfer(&self, data: &[u8]) -> Result<(), String> {
        let mut chat = Conn::connect(self.addr)?;
        self.login(&mut chat, ADMIN)?;
        let ticket = match chat.request(Request::OpenTransfer)? {
            Some(Ok(Response::Ticket { ticket, .. })) => ticket,
            other => return Err(format!("open_transfer answered with {other:?}")),
        };
        let mut conn = Conn::connect(self.addr)?;
        conn.hello()?;
        match conn.request(Request::TransferLogin { ticket })? {
            Some(Ok(Response::Done)) => {}
            other => return Err(format!("transfer_login answered with {other:?}")),
        }
        let sent = Self::chunks_then_ping(conn, data);
        chat.finish()?;
        sent
    }

    /// Hello, token login, the chunks as frames, a Ping; waits for the Pong
    /// (or the server closing the connection), then ends the connection.
    fn framed(&self, data: &[u8]) -> Result<(), String> {
        let mut conn = Conn::connect(self.addr)?;
        self.login(&mut conn, ADMIN)?;
        Self::chunks_then_ping(conn, data)
    }

    /// The chunks of `data` as frames and a Ping; waits for the Pong (or
    /// the server closing the connection), then ends the connection.
    fn chunks_then_ping(mut conn: Conn, data: &[u8]) -> Result<(), String> {
        let mut out = Vec::with_capacity(data.len() * 2 + 64);
        for chunk in chunks(data) {
            out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(
            &encode(&ClientFrame {
                id: PING_ID,
                req: Request::Ping,
            })
            .expect("ping encodes"),
        );
        if conn.write_raw(&out)? {
            loop {
                match conn.next_frame()? {
                    None
                    | Some(ServerFrame::Ok {
                        id: PING_ID,
                        res: Response::Pong,
                    }) => break,
                    Some(_) => {}
                }
            }
        }
        conn.finish()
    }

    /// Writes `bytes` raw (after hello and login when `login`), then ends
    /// the connection and reads everything the server still sends.
    fn raw(&self, bytes: &[u8], login: bool) -> Result<(), String> {
        let mut conn = Conn::connect(self.addr)?;
        if login {
            self.login(&mut conn, ADMIN)?;
        }
        conn.write_raw(bytes)?;
        conn.finish()
    }

    /// A fresh connection gets a Pong; the observer gets a Pong.
    pub fn check_alive(&self) -> Result<(), String> {
        let mut fresh = Conn::connect(self.addr).map_err(|e| format!("liveness check: {e}"))?;
        fresh.hello().map_err(|e| format!("liveness check: {e}"))?;
        match fresh.request(Request::Ping) {
            Ok(Some(Ok(Response::Pong))) => {}
            other => return Err(format!("liveness check: ping answered with {other:?}")),
        }
        fresh.finish().map_err(|e| format!("liveness check: {e}"))?;

        let mut observer = self
            .observer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let conn = observer.as_mut().ok_or("the observer is gone")?;
        let answer = conn.request(Request::Ping);
        match answer {
            Ok(Some(Ok(Response::Pong))) => return Ok(()),
            Ok(None) => {}
            other => return Err(format!("observer {OTHER}: ping answered with {other:?}")),
        }
        // Disconnected. Only an account-level action may do that.
        let closing = conn.closing.clone();
        match &closing {
            Some((code, _)) if ACCOUNT_CLOSINGS.contains(&code.as_str()) => {
                let mut fresh = Conn::connect(self.addr)?;
                self.login(&mut fresh, OTHER)
                    .map_err(|e| format!("observer {OTHER}: logging in again: {e}"))?;
                *observer = Some(fresh);
                Ok(())
            }
            _ => Err(format!(
                "observer {OTHER} was disconnected: {}",
                closing.map_or_else(
                    || "without a Closing event".to_owned(),
                    |(code, message)| format!("{code}: {message}")
                )
            )),
        }
    }

    fn set_token(&self, user: &'static str, token: String) {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(user, token);
    }

    fn token(&self, user: &'static str) -> Option<String> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(user)
            .cloned()
    }

    /// A new session token for `user`, written to the store directly: the
    /// input may have revoked ours (logout, a password change), and a
    /// password login would cost an argon2 hash each time.
    fn mint_token(&self, user: &'static str) -> Result<String, String> {
        let dir = self.tmp.as_ref().ok_or("no data dir")?.path();
        let conn = store::open_db(dir).map_err(|e| format!("open the store: {e}"))?;
        let row = store::user_by_name(&conn, user)
            .map_err(|e| format!("look up {user}: {e}"))?
            .ok_or_else(|| format!("{user} is gone from the store"))?;
        let (token, hash) = auth::new_token();
        store::insert_token(&conn, row.id, &hash).map_err(|e| format!("insert a token: {e}"))?;
        self.set_token(user, token.clone());
        Ok(token)
    }

    /// Hello and a password login; returns the connection and the token.
    fn password_login(&self, user: &'static str) -> Result<(Conn, String), String> {
        let mut conn = Conn::connect(self.addr)?;
        conn.hello()?;
        let reply = conn.request(Request::Login {
            user: user.into(),
            credential: Credential::Password(PASSWORD.into()),
            presence: None,
        })?;
        match reply {
            Some(Ok(Response::Session(info))) => {
                let token = info.token.ok_or("a password login issued no token")?;
                Ok((conn, token))
            }
            other => Err(format!("password login answered with {other:?}")),
        }
    }

    /// Hello and a token login, minting a new token once if ours was
    /// revoked.
    fn login(&self, conn: &mut Conn, user: &'static str) -> Result<(), String> {
        conn.hello()?;
        for attempt in 0..2 {
            let token = match self.token(user) {
                Some(t) if attempt == 0 => t,
                _ => self.mint_token(user)?,
            };
            let reply = conn.request(Request::Login {
                user: user.into(),
                credential: Credential::Token(token),
                presence: None,
            })?;
            match reply {
                Some(Ok(Response::Session(info))) if info.user == user => return Ok(()),
                Some(Err(e)) if attempt == 0 && e.code.as_str() == "auth_failed" => {}
                other => return Err(format!("token login of {user} answered with {other:?}")),
            }
        }
        Err(format!("token login of {user} failed twice"))
    }
}

impl Drop for Harness {
    /// Stops the server gracefully before its data dir goes.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
        drop(self.tmp.take());
    }
}

/// One blocking protocol connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    next_id: u64,
    /// The last `Closing` event seen: (code, message).
    pub closing: Option<(natter_shared::ErrorCode, String)>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}

/// The server closed (or reset) the connection.
fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    )
}

impl Conn {
    /// Connects.
    pub fn connect(addr: SocketAddr) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_write_timeout(Some(WRITE_TIMEOUT))
            .map_err(|e| format!("set_write_timeout: {e}"))?;
        Ok(Self {
            stream,
            buf: Vec::new(),
            next_id: 1,
            closing: None,
        })
    }

    /// Writes bytes as they are. `Ok(false)`: the server had already
    /// closed the connection.
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<bool, String> {
        match self.stream.write_all(bytes) {
            Ok(()) => Ok(true),
            Err(e) if is_closed(&e) => Ok(false),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(format!(
                    "the server stopped reading: a write blocked for {WRITE_TIMEOUT:?}"
                ))
            }
            Err(e) => Err(format!("write: {e}")),
        }
    }

    /// Sends a request; returns its id.
    pub fn send(&mut self, req: Request) -> Result<u64, String> {
        let id = self.next_id;
        self.next_id += 1;
        let bytes = encode(&ClientFrame { id, req }).map_err(|e| format!("encode: {e}"))?;
        if self.write_raw(&bytes)? {
            Ok(id)
        } else {
            Err("the server closed the connection".into())
        }
    }

    /// Sends a request and waits for its reply, skipping events and other
    /// replies. `Ok(None)`: the connection closed first.
    pub fn request(
        &mut self,
        req: Request,
    ) -> Result<Option<Result<Response, ErrorReply>>, String> {
        let id = self.send(req)?;
        loop {
            match self.next_frame()? {
                None => return Ok(None),
                Some(ServerFrame::Ok { id: rid, res }) if rid == id => return Ok(Some(Ok(res))),
                Some(ServerFrame::Err { id: rid, err }) if rid == id => {
                    return Ok(Some(Err(err)));
                }
                Some(_) => {}
            }
        }
    }

    /// Hello; expects the welcome.
    pub fn hello(&mut self) -> Result<(), String> {
        match self.request(Request::Hello {
            compression: Vec::new(),
            protocol: PROTOCOL_VERSION,
            client: "natter-fuzz".into(),
            client_version: "0".into(),
        })? {
            Some(Ok(Response::Welcome { .. })) => Ok(()),
            other => Err(format!("hello answered with {other:?}")),
        }
    }

    /// The next frame; `Ok(None)` once the server has closed the
    /// connection. A frame that does not decode, one over the cap, or
    /// [`TIMEOUT`] without a frame is an `Err`.
    pub fn next_frame(&mut self) -> Result<Option<ServerFrame>, String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                if len > MAX_FRAME_LEN {
                    return Err(format!("the server sent a frame of {len} bytes"));
                }
                if self.buf.len() >= 4 + len {
                    let frame = decode_server(&self.buf[4..4 + len]).map_err(|e| {
                        format!(
                            "the server sent a frame that does not decode ({e}): {:02x?}",
                            &self.buf[4..4 + len]
                        )
                    })?;
                    self.buf.drain(..4 + len);
                    if let ServerFrame::Event(Event::Closing { code, message, .. }) = &frame {
                        self.closing = Some((code.clone(), message.clone()));
                    }
                    return Ok(Some(frame));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "the server sent nothing for {TIMEOUT:?} while a reply was due"
                ));
            }
            self.stream
                .set_read_timeout(Some(deadline - now))
                .map_err(|e| format!("set_read_timeout: {e}"))?;
            match self.stream.read(&mut chunk) {
                // A frame cut short by a reset is the reset's doing.
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_closed(&e) => return Ok(None),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Ends our side of the stream and reads until the server closes its
    /// side, which it must (a session ends at the client's end of stream).
    pub fn finish(mut self) -> Result<(), String> {
        let _ = self.stream.shutdown(Shutdown::Write);
        while self.next_frame()?.is_some() {}
        Ok(())
    }
}
