//! One IRC connection, from the first line to `QUIT`: registration (CAP
//! negotiation, SASL PLAIN or `PASS`, `NICK`, `USER`), its deadlines, and
//! reading lines under the same rate limit as natter's requests, with a
//! fakelag instead of an error: a client over its rate is read more
//! slowly, as IRC servers do. What each registered command does is in
//! [`super::commands`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use natter_shared::names::normalize_user;
use natter_shared::{Credential, ErrorCode};
use tokio::io::AsyncRead;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use super::caps::{self, Enabled};
use super::line::{Line, LineCodec, Out, Read};
use super::reply::{self, numeric};
use super::translate::{View, welcome_marker};
use crate::Shared;
use crate::auth::TokenBucket;
use crate::front::Protocol;
use crate::ops::{self, Caller};
use crate::outbox::Outbox;

/// A working connection's read buffer (see natter's connection): most
/// lines fit, and an idle connection frees it after [`IDLE_SHRINK`].
const READ_BUFFER: usize = 1024;
const IDLE_SHRINK: Duration = Duration::from_millis(250);

/// Wrong passwords before a connection is closed.
const MAX_PASS_FAILURES: u32 = 3;

/// The longest SASL payload taken, in bytes of base64.
const MAX_SASL: usize = 4096;

/// Registration in progress: what the client has said so far.
#[derive(Default)]
pub(super) struct Registration {
    nick: Option<String>,
    user: bool,
    pass: Option<String>,
    /// `CAP LS` or `CAP REQ` came and `CAP END` has not.
    negotiating: bool,
    /// `AUTHENTICATE PLAIN` started: the payload gathered so far.
    sasl: Option<String>,
    verified: Option<ops::auth::Verified>,
    failures: u32,
}

/// A registered connection's session.
pub(super) struct Session {
    pub(super) caller: Caller,
    pub(super) nick: String,
    pub(super) user: i64,
    /// An IRC guest (`[irc] guests`): its account ends with the connection.
    pub(super) guest: bool,
}

pub(super) struct Conn {
    pub(super) shared: Arc<Shared>,
    pub(super) peer: SocketAddr,
    pub(super) outbox: Arc<Outbox>,
    pub(super) view: Arc<Mutex<View>>,
    pub(super) caps: Arc<Enabled>,
    /// Boxed, and gone once registered: most of a connection's life has
    /// no use for it (memory per idle connection, S4).
    pub(super) reg: Option<Box<Registration>>,
    pub(super) session: Option<Session>,
    pub(super) bucket: TokenBucket,
    pub(super) pre_login: Option<crate::admission::PreLogin>,
    pub(super) account_rate: Option<ops::quotas::AccountRate>,
    pub(super) next_request: u64,
    pub(super) span: tracing::Span,
}

impl Conn {
    pub(super) fn server(&self) -> String {
        self.shared.config().irc.server_name.clone()
    }

    pub(super) fn nick(&self) -> String {
        match &self.session {
            Some(s) => s.nick.clone(),
            None => self
                .reg
                .as_ref()
                .and_then(|r| r.nick.clone())
                .unwrap_or_default(),
        }
    }

    /// Registration's state, made again if a command needs it after.
    fn reg(&mut self) -> &mut Registration {
        self.reg.get_or_insert_with(Box::default)
    }

    pub(super) fn lock_view(&self) -> std::sync::MutexGuard<'_, View> {
        self.view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues lines, in order with every event.
    #[allow(clippy::needless_pass_by_value)] // callers build the lines for it
    pub(super) fn push(&self, lines: Vec<Bytes>) {
        if !lines.is_empty() {
            self.outbox.push_many(&lines);
        }
    }

    /// Queues the answer to a command that carried `label`.
    pub(super) fn answer(&self, label: Option<&str>, lines: Vec<Bytes>) {
        let lines = reply::labeled(&self.server(), label, lines, self.caps.get());
        self.push(lines);
    }

    pub(super) async fn run<R: AsyncRead + Unpin>(&mut self, lines: &mut FramedRead<R, LineCodec>) {
        let (login_timeout, heartbeat) = {
            let limits = &self.shared.config().limits;
            (
                Duration::from_millis(limits.login_timeout_ms),
                Duration::from_millis(limits.heartbeat_ms),
            )
        };
        let opened = Instant::now();
        let mut last_line = opened;
        let mut pinged = false;
        let mut draining = false;
        let mut shrink_at: Option<Instant> = None;
        loop {
            let deadline = if self.session.is_none() {
                opened + login_timeout
            } else if pinged {
                last_line + heartbeat * 3
            } else {
                last_line + heartbeat
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
                        shrink_at = None;
                        let buffer = lines.read_buffer_mut();
                        if buffer.is_empty() {
                            *buffer = bytes::BytesMut::new();
                        }
                        continue;
                    }
                    if self.session.is_none() {
                        self.outbox.close(ErrorCode::Timeout, "registration timed out", None);
                        return;
                    }
                    if pinged {
                        self.outbox.close(ErrorCode::Timeout, "Ping timeout", None);
                        return;
                    }
                    pinged = true;
                    let server = self.server();
                    self.push(vec![Out::bare("PING").trailing(&server).bytes()]);
                }
                next = lines.next(), if !draining => match next {
                    None => return,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "read failed");
                        return;
                    }
                    Some(Ok(Read::TooLong)) => {
                        last_line = Instant::now();
                        let nick = self.nick();
                        self.push(vec![numeric(&self.server(), &nick, "417")
                            .trailing("Input line was too long")
                            .bytes()]);
                    }
                    Some(Ok(Read::Line(raw))) => {
                        last_line = Instant::now();
                        pinged = false;
                        // Evicted just now: the outbox says why, and
                        // nothing more is handled.
                        if let Some(p) = &self.pre_login
                            && !p.claim()
                        {
                            return;
                        }
                        let line = Line::parse(&raw);
                        if !Box::pin(self.handle(line)).await {
                            return;
                        }
                        if let Some(p) = &self.pre_login {
                            p.release();
                        }
                        let buffer = lines.read_buffer_mut();
                        if buffer.is_empty() && self.session.is_some() {
                            if !(READ_BUFFER..=4 * READ_BUFFER).contains(&buffer.capacity()) {
                                *buffer = bytes::BytesMut::with_capacity(READ_BUFFER);
                            }
                            shrink_at = Some(Instant::now() + IDLE_SHRINK);
                        }
                        if self.pre_login.is_some() && self.session.is_some() {
                            self.pre_login = None;
                        }
                    }
                },
            }
        }
    }

    /// Handles one line; false ends the connection.
    async fn handle(&mut self, line: Line) -> bool {
        if line.command.is_empty() {
            return true;
        }
        if !matches!(line.command.as_str(), "PING" | "PONG") && !self.pace().await {
            return false;
        }
        let span = tracing::info_span!(
            "request",
            rid = self.shared.new_request_id(),
            kind = line.command.as_str(),
        );
        if self.session.is_some() {
            return tracing::Instrument::instrument(self.command(line), span).await;
        }
        tracing::Instrument::instrument(self.register(line), span).await
    }

    /// The fakelag: a line over the connection's rate (or its account's)
    /// waits until the rate allows it, instead of being refused.
    async fn pace(&mut self) -> bool {
        loop {
            match self.bucket.take() {
                Ok(()) => break,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
        if let Some(rate) = &self.account_rate {
            while let Err(e) = ops::quotas::take_request(rate) {
                let ms = e.retry_after_ms.unwrap_or(100).clamp(10, 5000);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
        !self.outbox.is_closed()
    }

    /// A line before registration ends.
    async fn register(&mut self, line: Line) -> bool {
        let server = self.server();
        let nick = self.nick();
        match line.command.as_str() {
            "CAP" => {
                self.cap(&line);
                if line.param(0).eq_ignore_ascii_case("END") {
                    self.reg().negotiating = false;
                    return self.try_register().await;
                }
                true
            }
            "PASS" => {
                if line.params.is_empty() {
                    self.need_more(&line.command);
                } else {
                    // A password with spaces, sent without a `:`, is
                    // still the whole password.
                    self.reg().pass = Some(line.params.join(" "));
                }
                true
            }
            "NICK" => {
                let wanted = line.param(0);
                if wanted.is_empty() {
                    self.push(vec![
                        numeric(&server, &nick, "431")
                            .trailing("No nickname given")
                            .bytes(),
                    ]);
                    return true;
                }
                if normalize_user(wanted).is_err() {
                    self.push(vec![
                        numeric(&server, &nick, "432")
                            .arg(wanted)
                            .trailing("Erroneous nickname: a nick is an account name")
                            .bytes(),
                    ]);
                    return true;
                }
                self.reg().nick = Some(wanted.to_owned());
                self.try_register().await
            }
            "USER" => {
                if line.params.len() < 4 {
                    self.need_more("USER");
                    return true;
                }
                self.reg().user = true;
                self.try_register().await
            }
            "AUTHENTICATE" => {
                self.authenticate(line.param(0)).await;
                true
            }
            "PING" => {
                self.push(vec![
                    Out::new(&server, "PONG")
                        .arg(&server)
                        .trailing(line.param(0))
                        .bytes(),
                ]);
                true
            }
            "PONG" => true,
            "QUIT" => {
                self.outbox.close(ErrorCode::Timeout, "Quit", None);
                false
            }
            _ => {
                self.push(vec![
                    numeric(&server, &nick, "451")
                        .trailing("You have not registered")
                        .bytes(),
                ]);
                true
            }
        }
    }

    pub(super) fn need_more(&self, command: &str) {
        let nick = self.nick();
        self.push(vec![
            numeric(&self.server(), &nick, "461")
                .arg(command)
                .trailing("Not enough parameters")
                .bytes(),
        ]);
    }

    /// `CAP LS|LIST|REQ|END`, before or after registration.
    pub(super) fn cap(&mut self, line: &Line) {
        let server = self.server();
        let nick = self.nick();
        let nick = if nick.is_empty() {
            "*".to_owned()
        } else {
            nick
        };
        let sub = line.param(0).to_ascii_uppercase();
        match sub.as_str() {
            "LS" => {
                if self.session.is_none() {
                    self.reg().negotiating = true;
                }
                let v302 = line.param(1).parse::<u32>().is_ok_and(|v| v >= 302);
                let words = caps::ls(v302);
                // Split so that no line passes 512 bytes.
                let mut chunks: Vec<String> = vec![String::new()];
                for w in words {
                    let last = chunks.last_mut().expect("one chunk");
                    if last.len() + w.len() > 380 {
                        chunks.push(w);
                    } else {
                        if !last.is_empty() {
                            last.push(' ');
                        }
                        last.push_str(&w);
                    }
                }
                let n = chunks.len();
                let lines = chunks
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let out = Out::new(&server, "CAP").arg(&nick).arg("LS");
                        let out = if i + 1 < n && v302 { out.arg("*") } else { out };
                        out.trailing(&c).bytes()
                    })
                    .collect();
                self.push(lines);
            }
            "LIST" => {
                let names = caps::names(self.caps.get()).join(" ");
                self.push(vec![
                    Out::new(&server, "CAP")
                        .arg(&nick)
                        .arg("LIST")
                        .trailing(&names)
                        .bytes(),
                ]);
            }
            "REQ" => {
                if self.session.is_none() {
                    self.reg().negotiating = true;
                }
                let words = line.param(1);
                let verb = match caps::request(words) {
                    Some((add, remove)) => {
                        let before = self.caps.get();
                        let now = (before | add) & !remove;
                        self.caps.set(now);
                        if caps::wants_tags(before) != caps::wants_tags(now)
                            && let Some(s) = &self.session
                        {
                            self.shared.hub().set_protocol(
                                s.caller.session,
                                Protocol::Irc {
                                    tags: caps::wants_tags(now),
                                },
                            );
                        }
                        "ACK"
                    }
                    None => "NAK",
                };
                self.push(vec![
                    Out::new(&server, "CAP")
                        .arg(&nick)
                        .arg(verb)
                        .trailing(words)
                        .bytes(),
                ]);
            }
            "END" => {}
            _ => {
                self.push(vec![
                    numeric(&server, &nick, "410")
                        .arg(line.param(0))
                        .trailing("Invalid CAP command")
                        .bytes(),
                ]);
            }
        }
    }

    /// `AUTHENTICATE`: `PLAIN`, then the base64 payload (in 400-byte
    /// pieces, `+` for none), or `*` to abort.
    async fn authenticate(&mut self, arg: &str) {
        let server = self.server();
        let nick = self.nick();
        let fail = |code: &str, text: &str| numeric(&server, &nick, code).trailing(text).bytes();
        if arg == "*" {
            self.reg().sasl = None;
            self.push(vec![fail("906", "SASL authentication aborted")]);
            return;
        }
        if self.reg().verified.is_some() {
            self.push(vec![fail(
                "907",
                "You have already authenticated using SASL",
            )]);
            return;
        }
        let Some(mut gathered) = self.reg().sasl.take() else {
            if arg.eq_ignore_ascii_case("PLAIN") {
                self.reg().sasl = Some(String::new());
                self.push(vec![Out::bare("AUTHENTICATE").arg("+").bytes()]);
            } else {
                self.push(vec![
                    numeric(&server, &nick, "908")
                        .arg("PLAIN")
                        .trailing("are available SASL mechanisms")
                        .bytes(),
                    fail("904", "SASL authentication failed: only PLAIN is offered"),
                ]);
            }
            return;
        };
        if arg != "+" {
            gathered.push_str(arg);
        }
        if gathered.len() > MAX_SASL {
            self.push(vec![fail("905", "SASL message too long")]);
            return;
        }
        if arg.len() == 400 {
            // More pieces follow.
            self.reg().sasl = Some(gathered);
            return;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(gathered.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some(decoded) = decoded else {
            self.push(vec![fail(
                "904",
                "SASL authentication failed: bad PLAIN payload",
            )]);
            return;
        };
        let mut parts = decoded.split('\0');
        let (authorize, login, secret) = (parts.next(), parts.next(), parts.next());
        let (Some(authorize), Some(login), Some(secret)) = (authorize, login, secret) else {
            self.push(vec![fail(
                "904",
                "SASL authentication failed: bad PLAIN payload",
            )]);
            return;
        };
        let account = if login.is_empty() { authorize } else { login };
        match ops::auth::verify(&self.shared, self.peer, account, credential(secret)).await {
            Ok(v) => {
                let name = v.row.name.clone();
                let n = if nick.is_empty() { "*" } else { nick.as_str() };
                self.push(vec![
                    numeric(&server, n, "900")
                        .arg(&super::translate::source(&name))
                        .arg(&name)
                        .trailing(&format!("You are now logged in as {name}"))
                        .bytes(),
                    fail("903", "SASL authentication successful"),
                ]);
                self.reg().verified = Some(v);
            }
            Err(e) => {
                self.shared.metrics.login_failures.inc();
                let text = if e.code == ErrorCode::AuthFailed {
                    "SASL authentication failed".to_owned()
                } else {
                    format!("SASL authentication failed: {}", e.message)
                };
                self.push(vec![fail("904", &text)]);
            }
        }
    }

    /// Ends registration once NICK, USER and a credential are in and
    /// capability negotiation is over; false ends the connection.
    #[allow(clippy::single_match_else)] // the three credential paths read best side by side
    async fn try_register(&mut self) -> bool {
        let Some(nick) = self.reg().nick.clone() else {
            return true;
        };
        if !self.reg().user || self.reg().negotiating {
            return true;
        }
        let server = self.server();
        let verified = match self.reg().verified.take() {
            Some(v) => v,
            None => match self.reg().pass.take() {
                Some(pass) => {
                    let (account, secret) = match pass.split_once(':') {
                        Some((a, s)) if normalize_user(a).is_ok() => (a.to_owned(), s.to_owned()),
                        _ => (nick.clone(), pass),
                    };
                    match ops::auth::verify(&self.shared, self.peer, &account, credential(&secret))
                        .await
                    {
                        Ok(v) => v,
                        Err(e) => {
                            self.shared.metrics.login_failures.inc();
                            self.reg().failures += 1;
                            let text = if e.code == ErrorCode::AuthFailed {
                                "Password incorrect".to_owned()
                            } else {
                                e.message
                            };
                            self.push(vec![numeric(&server, &nick, "464").trailing(&text).bytes()]);
                            if self.reg().failures >= MAX_PASS_FAILURES {
                                self.outbox.close(
                                    ErrorCode::AuthFailed,
                                    "too many wrong passwords",
                                    None,
                                );
                                return false;
                            }
                            return true;
                        }
                    }
                }
                None if self.shared.config().irc.guests => {
                    match ops::auth::guest(&self.shared, self.peer, &nick).await {
                        Ok(v) => v,
                        // Taken (433) or no valid nick (432): another NICK
                        // may follow.
                        Err(e)
                            if matches!(e.code, ErrorCode::AlreadyExists | ErrorCode::Invalid) =>
                        {
                            let code = if e.code == ErrorCode::Invalid {
                                "432"
                            } else {
                                "433"
                            };
                            self.reg().nick = None;
                            self.push(vec![
                                numeric(&server, &nick, code)
                                    .arg(&nick)
                                    .trailing(&e.message)
                                    .bytes(),
                            ]);
                            return true;
                        }
                        Err(e) => {
                            self.outbox.close(e.code, &e.message, None);
                            return false;
                        }
                    }
                }
                None => {
                    self.push(vec![
                        Out::new(&server, "NOTICE")
                            .arg(&nick)
                            .trailing(
                                "This server needs an account. Log in with SASL PLAIN, or send \
                                 PASS account:password (then NICK and USER again if your \
                                 client needs to).",
                            )
                            .bytes(),
                        numeric(&server, &nick, "464")
                            .trailing("Password required: PASS account:password, or SASL PLAIN")
                            .bytes(),
                    ]);
                    return true;
                }
            },
        };
        if normalize_user(&nick).ok().as_deref() != Some(verified.row.name.as_str()) {
            let name = verified.row.name.clone();
            self.reg().verified = Some(verified);
            self.reg().nick = None;
            self.push(vec![
                numeric(&server, &nick, "433")
                    .arg(&nick)
                    .trailing(&format!(
                        "Nickname is reserved: your nick is your account name, {name}"
                    ))
                    .bytes(),
            ]);
            return true;
        }
        self.start(verified).await
    }

    /// Starts the session and writes the welcome.
    async fn start(&mut self, verified: ops::auth::Verified) -> bool {
        let protocol = Protocol::Irc {
            tags: caps::wants_tags(self.caps.get()),
        };
        let user = verified.row.id;
        let r = ops::auth::open_session(
            &self.shared,
            self.peer,
            &self.outbox,
            protocol,
            verified,
            None,
        )
        .await;
        let logged = match r {
            Ok(l) => l,
            Err(e) => {
                // A guest made for this session goes with it.
                if self.shared.hub().is_guest(user) {
                    ops::auth::end_guest(&self.shared, user).await;
                }
                let nick = self.nick();
                self.push(vec![
                    numeric(&self.server(), &nick, "464")
                        .trailing(&e.message)
                        .bytes(),
                ]);
                return true;
            }
        };
        self.shared.metrics.logins.inc();
        self.span.record("session", logged.session);
        self.span.record("user_id", logged.user);
        let caller = Caller {
            session: logged.session,
            peer: self.peer,
        };
        let nick = logged.info.user.clone();
        {
            let mut v = self.lock_view();
            v.nick.clone_from(&nick);
            v.nonce_prefix = format!("i{}.", logged.session);
            v.caller = Some(caller);
        }
        self.account_rate = Some(ops::quotas::account_rate(&self.shared, logged.user));
        let guest = self.shared.hub().is_guest(logged.user);
        if guest {
            // Guests are read more slowly than accounts (see `pace`).
            let irc = &self.shared.config().irc;
            self.bucket = TokenBucket::new(irc.guest_lines_per_sec, irc.guest_line_burst);
        }
        self.reg = None;
        self.session = Some(Session {
            caller,
            nick: nick.clone(),
            user: logged.user,
            guest,
        });
        let mut lines = super::welcome::burst(&self.shared, caller, &nick);
        for room in &logged.info.rooms {
            if room.name.starts_with('#') {
                lines.extend(reply::arrival(
                    &self.shared,
                    caller,
                    &nick,
                    &room.name,
                    &room.topic,
                    self.caps.get(),
                ));
            }
        }
        lines.push(welcome_marker());
        self.push(lines);
        true
    }
}

/// A SASL or `PASS` secret as a credential: a session token (64 hex
/// digits, as natter issues them) or a password. IRC clients keep their
/// own password, so a password login issues no token.
fn credential(secret: &str) -> Credential {
    if secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        Credential::Token(secret.to_ascii_lowercase())
    } else {
        Credential::PasswordOnly(secret.to_owned())
    }
}
