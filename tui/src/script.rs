//! The non-interactive modes: `--send`, `tail`, `login`, `logout`,
//! `passwd`, `block` and `unblock`; `edit`, `delete`, `react` and `search`
//! are in [`changes`]; `--send --file` and `download` in [`files`].
//!
//! Each is one function over a [`Context`] (resolved settings plus the
//! credential environment), returning a value or a [`ClientError`] whose
//! [`ClientError::exit_code`] the binary exits with.

pub mod changes;
pub mod files;

use std::future::Future;
use std::io::{self, Read, Write};

use natter_shared::names::{Target, normalize_user};
use natter_shared::{
    Credential, ErrorCode, ErrorReply, HistoryQuery, Message, MessageId, Request, Response,
    features,
};

use crate::config::{Env, Settings};
use crate::conn::{ConnectOptions, Connection, Disconnect, Events, Incoming};
use crate::credentials::{self, LoggedIn, Sources};
use crate::error::ClientError;
use crate::format;
use crate::keyring::{Keyring, KeyringChoice};

/// Everything a mode needs besides its own arguments.
#[derive(Clone)]
pub struct Context {
    pub settings: Settings,
    /// `NATTER_TOKEN`: an API token, tried before anything else.
    pub env_token: Option<String>,
    /// `NATTER_PASSWORD`.
    pub env_password: Option<String>,
    pub keyring: KeyringChoice,
    /// Whether a password may be prompted for.
    pub interactive: bool,
    pub connect: ConnectOptions,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .field("env_token", &self.env_token.as_ref().map(|_| "<redacted>"))
            .field(
                "env_password",
                &self.env_password.as_ref().map(|_| "<redacted>"),
            )
            .field("keyring", &self.keyring)
            .field("interactive", &self.interactive)
            .field("connect", &self.connect)
            .finish()
    }
}

impl Context {
    /// Builds a context from resolved settings and the environment.
    ///
    /// # Errors
    /// [`ClientError::Usage`] for a bad `NATTER_KEYRING`.
    pub fn new(settings: Settings, env: &Env) -> Result<Self, ClientError> {
        Ok(Self {
            env_token: env.token.clone(),
            env_password: env.password.clone(),
            keyring: KeyringChoice::parse(env.keyring.as_deref())?,
            interactive: env.stdin_is_terminal,
            connect: ConnectOptions {
                ca_file: settings.ca_file.clone(),
                ..ConnectOptions::default()
            },
            settings,
        })
    }

    fn account(&self) -> String {
        self.settings.keyring_account()
    }
}

/// Connects and logs in with the first credential that works (see
/// [`crate::credentials`]). The TUI uses this for its first connection and
/// hands the resulting token to a [`crate::supervisor::Supervisor`].
///
/// # Errors
/// Connection, authentication or credential errors.
pub async fn connect_and_log_in(
    ctx: &Context,
) -> Result<(Connection, Events, LoggedIn), ClientError> {
    connect_and_log_in_from(ctx, 0).await
}

/// [`connect_and_log_in`] to one of several servers, trying them in turn
/// from the one at `start` (see [`Connection::connect_from`]).
///
/// # Errors
/// As [`connect_and_log_in`].
pub async fn connect_and_log_in_from(
    ctx: &Context,
    start: usize,
) -> Result<(Connection, Events, LoggedIn), ClientError> {
    // With NATTER_PASSWORD the keyring is neither read nor written (the
    // password comes first and logs in for this run only): do not probe it,
    // which can cost seconds or an unlock prompt.
    let keyring = if ctx.env_password.is_some() || ctx.env_token.is_some() {
        Keyring::none()
    } else {
        Keyring::open(ctx.keyring).await
    };
    let sources = Sources {
        env_token: ctx.env_token.clone(),
        env_password: ctx.env_password.clone(),
        keyring,
        password_command: ctx.settings.password_command.clone(),
        prompt: ctx
            .interactive
            .then_some(credentials::terminal_prompt as credentials::Prompt),
    };
    let (conn, events) =
        Connection::connect_from(&ctx.settings.server, start, &ctx.connect).await?;
    let user = ctx.settings.user.clone();
    let logged_in = credentials::log_in(&sources, &ctx.account(), &user, |credential| {
        let (conn, user) = (conn.clone(), user.clone());
        async move { conn.login(&user, credential).await }
    })
    .await?;
    tracing::debug!(source = ?logged_in.source, "logged in as {user}");
    Ok((conn, events, logged_in))
}

/// Parses a room argument (`#room`, `room` or `@user`) into its wire form.
///
/// # Errors
/// [`ClientError::Usage`] for an invalid name.
pub fn parse_room(arg: &str) -> Result<String, ClientError> {
    Target::parse(arg)
        .map(|t| t.display())
        .map_err(|e| ClientError::Usage(e.to_string()))
}

/// The body of `--send`: the words of `text` joined by spaces or, with no
/// words, all of `stdin` minus one trailing newline.
///
/// # Errors
/// [`ClientError::Usage`] for an empty message, [`ClientError::Io`] when
/// stdin cannot be read or is not UTF-8.
pub fn message_body(text: &[String], stdin: impl Read) -> Result<String, ClientError> {
    let body = if text.is_empty() {
        let mut raw = String::new();
        let mut stdin = stdin;
        stdin
            .read_to_string(&mut raw)
            .map_err(|source| ClientError::Io {
                context: "cannot read the message from stdin",
                source,
            })?;
        match raw.strip_suffix("\r\n").or_else(|| raw.strip_suffix('\n')) {
            Some(trimmed) => trimmed.to_owned(),
            None => raw,
        }
    } else {
        text.join(" ")
    };
    if body.trim().is_empty() {
        return Err(ClientError::Usage("empty message: nothing to send".into()));
    }
    Ok(body)
}

/// Runs `op`; when the server answers `not_member` (a public room we are
/// not in), joins `room` and runs it once more.
async fn joining<T, F, Fut>(conn: &Connection, room: &str, mut op: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    match op().await {
        Err(e) if e.server_code() == Some(&ErrorCode::NotMember) => {
            tracing::debug!("joining {room}");
            conn.join(room).await?;
            op().await
        }
        other => other,
    }
}

/// Where a `--send` goes besides its room (`--reply-to`, `--thread`,
/// `--priority high`).
pub use natter_client::Placement;

/// `natter --send ROOM`: posts `body` to `room` (joining a public room if
/// needed) and returns once the server acknowledges it as stored.
///
/// # Errors
/// [`ClientError::Usage`] for a bad room or empty body; an `unsupported`
/// [`ClientError::Server`] for a reply or thread the server cannot
/// carry; connection, authentication and server errors otherwise.
pub async fn send(
    ctx: &Context,
    room: &str,
    body: &str,
    place: Placement,
) -> Result<(MessageId, i64), ClientError> {
    let room = parse_room(room)?;
    if body.trim().is_empty() {
        return Err(ClientError::Usage("empty message: nothing to send".into()));
    }
    let (conn, events, _) = connect_and_log_in(ctx).await?;
    // Nobody reads events here; dropping the receiver lets the reader skip
    // them instead of queueing.
    drop(events);
    let lacks = |feature: &str| !conn.welcome().features.iter().any(|f| f == feature);
    let missing = if place.reply_to.is_some() && lacks(features::REPLIES) {
        Some("replies")
    } else if place.thread.is_some() && lacks(features::THREADS) {
        Some("threads")
    } else if place.attention && lacks(features::ATTENTION) {
        Some("room-wide attention (--priority high)")
    } else {
        None
    };
    if let Some(what) = missing {
        conn.close();
        return Err(ClientError::Server(ErrorReply::new(
            ErrorCode::Unsupported,
            format!("this server does not support {what}"),
        )));
    }
    let sent = joining(&conn, &room, || conn.send_placed(&room, body, place)).await?;
    conn.close();
    Ok(sent)
}

/// `tail`'s options.
#[derive(Debug, Clone)]
pub struct TailOptions {
    pub room: String,
    /// Messages of history to print first.
    pub last: u32,
    pub json: bool,
}

/// How `tail` ended without an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailEnd {
    /// The `stop` future fired (SIGINT, SIGTERM).
    Interrupted,
    /// The server announced it was closing the connection (say, shutting
    /// down); the message is for a one-line note.
    ServerClosed(String),
    /// stdout was closed (`natter tail ... | head`).
    OutputClosed,
}

/// `natter tail ROOM`: prints the last messages, then new ones as they
/// arrive, one line each, flushing after every line.
///
/// Given several servers (a cluster's nodes), a node that goes away
/// (shutting down, or lost) is left for the next one that answers, and
/// what was sent meanwhile is fetched and printed first, each message
/// once: a stream that outlives any one node. With one server, its end is
/// the tail's.
///
/// # Errors
/// [`ClientError::Disconnected`] when the connection is lost without notice
/// (and no other server answers); connection, authentication and server
/// errors on the way in.
pub async fn tail(
    ctx: &Context,
    opts: &TailOptions,
    out: &mut impl Write,
    stop: impl Future<Output = ()>,
) -> Result<TailEnd, ClientError> {
    let room = parse_room(&opts.room)?;
    let nodes = crate::transport::targets(&ctx.settings.server)?.len();
    let several = nodes > 1;
    // Nodes that went away before their stream started, in a row: a round
    // of every node twice is enough to say none can serve.
    let mut failed_starts = 0;
    tokio::pin!(stop);
    let mut newest: Option<MessageId> = None;
    let mut start = 0;
    loop {
        let (conn, mut events, _) = connect_and_log_in_from(ctx, start).await?;
        // Where this connection's stream starts: after the last message
        // printed, or, the first time, after the room's newest (one more
        // than `--last` is fetched, so that this is known even with
        // `--last 0`, and a move to another node fetches only what came
        // after).
        let fetched = match newest {
            None => joining(&conn, &room, || {
                last_messages(&conn, &room, opts.last.saturating_add(1))
            })
            .await
            .map(|mut last| {
                let start_at = last.last().map_or(0, |m| m.id);
                let shown = last.len().min(opts.last as usize);
                last.drain(..last.len() - shown);
                (last, start_at)
            }),
            Some(after) => joining(&conn, &room, || messages_after(&conn, &room, after))
                .await
                .map(|missed| (missed, after)),
        };
        let (backlog, start_at) = match fetched {
            Ok(fetched) => fetched,
            // The node went away before the stream started: the next one
            // starts it.
            Err(e)
                if several
                    && failed_starts < 2 * nodes
                    && e.exit_code() == crate::error::exit::CONNECTION =>
            {
                failed_starts += 1;
                eprintln!(
                    "natter: {}: {}; carrying on from the next server",
                    conn.addr(),
                    e.brief()
                );
                start = conn.node() + 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        failed_starts = 0;
        let mut guests = Guests::load(&conn, &room).await;
        let mut seen = newest.unwrap_or(0);
        for mut msg in backlog {
            if msg.id > seen {
                seen = msg.id;
                guests.mark(&conn, &mut msg).await;
                if let Err(end) = print(out, &msg, opts.json) {
                    return end;
                }
            }
        }
        seen = seen.max(start_at);
        let tailing = Tailing {
            conn: &conn,
            room: &room,
            json: opts.json,
            guests: &mut guests,
        };
        let ended = tailing.follow(&mut events, out, &mut seen, &mut stop).await;
        newest = Some(seen);
        match ended {
            Followed::Done(end) => return end,
            Followed::NodeGone(why) if several => {
                eprintln!(
                    "natter: {}: {}; carrying on from the next server",
                    conn.addr(),
                    why.brief()
                );
                start = conn.node() + 1;
            }
            Followed::NodeGone(why) => return why.into_end(),
        }
    }
}

/// How following one connection ended.
enum Followed {
    /// For good: interrupted, the output closed, or refused.
    Done(Result<TailEnd, ClientError>),
    /// The node went away: another may carry on.
    NodeGone(NodeGone),
}

/// Why a node went away under a tail.
enum NodeGone {
    /// It said it was shutting down.
    ShuttingDown(String),
    /// The connection was lost without notice.
    Lost(String),
}

impl NodeGone {
    fn brief(&self) -> &str {
        match self {
            NodeGone::ShuttingDown(_) => "shutting down",
            NodeGone::Lost(_) => "connection lost",
        }
    }

    /// What it means when there is no other node: the server going down
    /// ends a tail cleanly; a lost link means messages were missed.
    fn into_end(self) -> Result<TailEnd, ClientError> {
        match self {
            NodeGone::ShuttingDown(why) => Ok(TailEnd::ServerClosed(why)),
            NodeGone::Lost(why) => Err(ClientError::Disconnected(why)),
        }
    }
}

/// Who in a tailed room is an IRC guest, so that a live guest's lines
/// read `nick (guest)`: as the full-screen client shows them, and as the
/// room's history will once the guest has gone.
struct Guests {
    /// Each member seen, and whether a guest; `None` when the room's
    /// members cannot be listed (nothing is marked then).
    known: Option<std::collections::HashMap<String, bool>>,
}

impl Guests {
    async fn load(conn: &Connection, room: &str) -> Self {
        let known = match conn
            .request(natter_shared::Request::Members {
                room: room.to_owned(),
            })
            .await
        {
            Ok(natter_shared::Response::Members { members, .. }) => {
                Some(members.into_iter().map(|m| (m.name, m.guest)).collect())
            }
            Ok(_) | Err(_) => None,
        };
        Self { known }
    }

    /// Marks `msg` as a guest's when it is. Someone not seen before (who
    /// joined since) has the list fetched again, once: a name still not in
    /// it (someone who has left) is remembered as no guest.
    async fn mark(&mut self, conn: &Connection, msg: &mut Message) {
        let Some(known) = &self.known else { return };
        if !known.contains_key(&msg.from) {
            *self = Self::load(conn, &msg.room).await;
        }
        let Some(known) = &mut self.known else { return };
        if *known.entry(msg.from.clone()).or_insert(false) {
            msg.from.push_str(crate::app::text::GUEST);
        }
    }

    /// `user` left: a guest's nick may be someone else's next time.
    fn left(&mut self, user: &str) {
        if let Some(known) = &mut self.known {
            known.remove(user);
        }
    }
}

/// One connection of a tail: where it reads and how it prints.
struct Tailing<'a> {
    conn: &'a Connection,
    room: &'a str,
    json: bool,
    guests: &'a mut Guests,
}

impl Tailing<'_> {
    /// Prints the room's new messages and changes from `events` until the
    /// connection ends or `stop` fires; `newest` is the last id printed.
    async fn follow(
        self,
        events: &mut Events,
        out: &mut impl Write,
        newest: &mut MessageId,
        stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Followed {
        let Tailing {
            conn,
            room,
            json,
            guests,
        } = self;
        loop {
            let incoming = tokio::select! {
                () = stop.as_mut() => return Followed::Done(Ok(TailEnd::Interrupted)),
                i = events.recv() => i,
            };
            match incoming {
                Some(Incoming::Event(natter_shared::Event::Message(mut msg))) => {
                    // Messages stored while the history request was in
                    // flight arrive both ways: print each once.
                    if msg.room == room && msg.id > *newest {
                        *newest = msg.id;
                        guests.mark(conn, &mut msg).await;
                        if let Err(end) = print(out, &msg, json) {
                            return Followed::Done(end);
                        }
                    }
                }
                Some(Incoming::Event(event)) => {
                    if let natter_shared::Event::Left { room: r, user, .. } = &event
                        && r == room
                    {
                        guests.left(user);
                    }
                    // Edits, deletes and reactions in the room, as they
                    // happen.
                    if let Some(line) = format::change_line(&event, room, json, &chrono::Local)
                        && let Err(end) = write_line(out, &line)
                    {
                        return Followed::Done(end);
                    }
                }
                Some(Incoming::Closed(Disconnect::Notice { code, message, .. }))
                    if code == natter_shared::ErrorCode::ShuttingDown =>
                {
                    return Followed::NodeGone(NodeGone::ShuttingDown(format!(
                        "{message} ({code})"
                    )));
                }
                // Dropped as a slow reader or for silence: refused, not gone.
                Some(Incoming::Closed(Disconnect::Notice { code, message, .. })) => {
                    return Followed::Done(Err(ClientError::Server(
                        natter_shared::ErrorReply::new(code, message),
                    )));
                }
                Some(Incoming::Closed(Disconnect::Local)) => {
                    return Followed::Done(Ok(TailEnd::Interrupted));
                }
                Some(Incoming::Closed(Disconnect::Lost(why))) => {
                    return Followed::NodeGone(NodeGone::Lost(why));
                }
                None => return Followed::NodeGone(NodeGone::Lost("connection closed".into())),
            }
        }
    }
}

/// Every message of `room` after `after`, oldest first, paging forward: what
/// a tail missed while it moved from one node to another.
async fn messages_after(
    conn: &Connection,
    room: &str,
    after: MessageId,
) -> Result<Vec<Message>, ClientError> {
    let mut all: Vec<Message> = Vec::new();
    let mut from = after;
    loop {
        let query = HistoryQuery {
            before: None,
            after: Some(from),
            limit: 500,
            ..Default::default()
        };
        let (page, more) = conn.history(room, query).await?;
        let Some(last) = page.last() else { break };
        from = last.id;
        all.extend(page);
        if !more {
            break;
        }
    }
    Ok(all)
}

/// The newest `n` messages of `room`, oldest first, paging back when the
/// server's page limit is smaller than `n`.
async fn last_messages(conn: &Connection, room: &str, n: u32) -> Result<Vec<Message>, ClientError> {
    let mut all: Vec<Message> = Vec::new();
    let mut before = None;
    while (all.len() as u64) < u64::from(n) {
        let want = n - all.len() as u32;
        let query = HistoryQuery {
            before,
            after: None,
            limit: want,
            ..Default::default()
        };
        let (mut page, more) = conn.history(room, query).await?;
        if page.len() > want as usize {
            page.drain(..page.len() - want as usize);
        }
        let Some(first) = page.first() else { break };
        before = Some(first.id);
        page.append(&mut all);
        all = page;
        if !more {
            break;
        }
    }
    Ok(all)
}

/// Writes one message line and flushes. `Err(Ok(OutputClosed))` for a
/// broken pipe, `Err(Err(..))` for other write errors.
fn print(
    out: &mut impl Write,
    msg: &Message,
    json: bool,
) -> Result<(), Result<TailEnd, ClientError>> {
    let line = if json {
        format::json_line(msg)
    } else {
        format::plain_line(msg, &chrono::Local)
    };
    write_line(out, &line)
}

/// Writes `line` and flushes, as [`print`] does.
fn write_line(out: &mut impl Write, line: &str) -> Result<(), Result<TailEnd, ClientError>> {
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Ok(TailEnd::OutputClosed)),
        Err(source) => Err(Err(ClientError::Io {
            context: "cannot write to stdout",
            source,
        })),
    }
}

/// What `natter login` did.
#[derive(Debug, Clone)]
pub struct LoginReport {
    pub user: String,
    pub server: String,
    /// The keyring the token went to.
    pub keyring: &'static str,
}

/// The first line of `input` without its line ending: a password a script
/// pipes in (`natter login`, like `natterd user add`).
///
/// # Errors
/// [`ClientError::Io`] when it cannot be read, [`ClientError::Usage`] when
/// it is empty.
pub fn password_line(mut input: impl io::BufRead) -> Result<String, ClientError> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|source| ClientError::Io {
            context: "cannot read the password from stdin",
            source,
        })?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(ClientError::Usage("no password on stdin".into()));
    }
    Ok(password.to_owned())
}

/// `natter login`: checks the password (`NATTER_PASSWORD`, else `piped`,
/// the line a script gave on stdin, else a prompt) with the server and
/// stores the new session token in the keyring.
///
/// # Errors
/// [`ClientError::Keyring`] when no keyring is usable (checked first, so no
/// token is minted for nothing), [`ClientError::LoginNeedsPassword`]
/// without a password source, authentication and connection errors.
pub async fn login(ctx: &Context, piped: Option<String>) -> Result<LoginReport, ClientError> {
    let keyring = Keyring::open(ctx.keyring).await;
    if !keyring.is_available() {
        return Err(ClientError::Keyring(
            "no keyring available to store the session token (no Secret Service provider, no usable kernel keyring, or NATTER_KEYRING=none)".into(),
        ));
    }
    let account = ctx.account();
    let password = match (&ctx.env_password, piped) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => p,
        (None, None) if ctx.interactive => {
            credentials::prompt_password(&format!("Password for {account}: ")).await?
        }
        (None, None) => return Err(ClientError::LoginNeedsPassword),
    };
    let (conn, events) = Connection::connect(&ctx.settings.server, &ctx.connect).await?;
    drop(events);
    let session = conn
        .login(&ctx.settings.user, Credential::Password(password))
        .await?;
    let Some(token) = session.token else {
        return Err(ClientError::Protocol(
            "the server accepted the password but issued no session token".into(),
        ));
    };
    if let Err(e) = keyring.set_token(&account, &token).await {
        // Do not leave a valid token nobody knows about.
        if let Err(e) = conn.logout().await {
            tracing::debug!("could not revoke the unstored token: {e}");
        }
        return Err(e);
    }
    conn.close();
    Ok(LoginReport {
        user: session.user,
        server: ctx.settings.server.clone(),
        keyring: keyring.name(),
    })
}

/// What `natter passwd` did.
#[derive(Debug, Clone)]
pub struct PasswdReport {
    pub user: String,
    /// The keyring that now holds the new session token, if any did.
    pub keyring: Option<&'static str>,
}

/// `natter passwd`: changes the account's password. The server revokes
/// every session token and closes the account's other sessions; when a
/// keyring is usable the fresh token it returns replaces the stored one, so
/// this machine stays logged in.
///
/// `current` comes from `NATTER_PASSWORD` or a prompt; `new` from the
/// caller (a prompt asked twice, or stdin for scripts).
///
/// # Errors
/// [`ClientError::LoginNeedsPassword`] without a current password,
/// authentication (a wrong current password), refusal (a new password
/// that breaks the rules) and connection errors.
pub async fn passwd(
    ctx: &Context,
    current: String,
    new: String,
) -> Result<PasswdReport, ClientError> {
    let keyring = Keyring::open(ctx.keyring).await;
    let (conn, events) = Connection::connect(&ctx.settings.server, &ctx.connect).await?;
    drop(events);
    // Only ask for a token when it can be kept.
    let credential = if keyring.is_available() {
        Credential::Password(current.clone())
    } else {
        Credential::PasswordOnly(current.clone())
    };
    let session = conn.login(&ctx.settings.user, credential).await?;
    let res = conn
        .request(Request::ChangePassword {
            old: current.into(),
            new: new.into(),
        })
        .await?;
    let Response::PasswordChanged { token } = res else {
        return Err(ClientError::Protocol(format!(
            "unexpected reply to change_password: {res:?}"
        )));
    };
    let mut stored = None;
    if let Some(token) = token {
        match keyring.set_token(&ctx.account(), token.expose()).await {
            Ok(()) => stored = Some(keyring.name()),
            Err(e) => tracing::warn!("the new session token could not be stored: {e}"),
        }
    }
    conn.close();
    Ok(PasswdReport {
        user: session.user,
        keyring: stored,
    })
}

/// What `natter block` or `natter unblock` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockReport {
    /// Who is logged in.
    pub user: String,
    /// Who is (no longer) blocked, as the server names them.
    pub other: String,
}

/// `natter block USER` (`block`) and `natter unblock USER`: logs in and
/// blocks or unblocks `other`. Blocking someone already blocked, or
/// unblocking someone who is not, succeeds as well.
///
/// # Errors
/// [`ClientError::Usage`] for an invalid name or yourself; an
/// `unsupported` [`ClientError::Server`] when the server does not list the
/// `blocking` feature; connection, authentication and server errors (an
/// unknown user) otherwise.
pub async fn block(ctx: &Context, other: &str, block: bool) -> Result<BlockReport, ClientError> {
    let other = normalize_user(other).map_err(|e| ClientError::Usage(e.to_string()))?;
    let (conn, events, logged_in) = connect_and_log_in(ctx).await?;
    drop(events);
    let user = logged_in.session.user;
    if block && other == user {
        conn.close();
        return Err(ClientError::Usage("you cannot block yourself".into()));
    }
    if !conn
        .welcome()
        .features
        .iter()
        .any(|f| f == features::BLOCKING)
    {
        conn.close();
        return Err(ClientError::Server(ErrorReply::new(
            ErrorCode::Unsupported,
            "this server does not support blocking",
        )));
    }
    let req = if block {
        Request::Block {
            user: other.clone(),
        }
    } else {
        Request::Unblock {
            user: other.clone(),
        }
    };
    let res = conn.request(req).await?;
    conn.close();
    match res {
        Response::Done => Ok(BlockReport { user, other }),
        res => Err(ClientError::Protocol(format!(
            "unexpected reply to {}: {res:?}",
            if block { "block" } else { "unblock" }
        ))),
    }
}

/// What `natter logout` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutReport {
    /// The token was revoked on the server and removed from the keyring.
    Revoked,
    /// The server no longer accepted the token; it was removed.
    AlreadyInvalid,
    /// There was no stored token.
    NoToken,
}

/// `natter logout`: revokes the stored token on the server (a `Logout`
/// request) and removes it from the keyring. When the server cannot be
/// reached the token is kept, so that a later `natter logout` can still
/// revoke it.
///
/// # Errors
/// Connection errors (the token is kept), keyring errors.
pub async fn logout(ctx: &Context) -> Result<LogoutReport, ClientError> {
    let keyring = Keyring::open(ctx.keyring).await;
    let account = ctx.account();
    let Some(token) = keyring.token(&account).await else {
        return Ok(LogoutReport::NoToken);
    };
    let (conn, events) = Connection::connect(&ctx.settings.server, &ctx.connect).await?;
    drop(events);
    let report = match conn
        .login(&ctx.settings.user, Credential::Token(token))
        .await
    {
        Ok(_) => {
            conn.logout().await?;
            LogoutReport::Revoked
        }
        Err(e) if e.is_auth_failure() => LogoutReport::AlreadyInvalid,
        Err(e) => return Err(e),
    };
    conn.close();
    keyring.delete_token(&account).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_from_words_or_stdin() {
        let words = ["hello".to_owned(), "big".to_owned(), "world".to_owned()];
        assert_eq!(
            message_body(&words, io::empty()).unwrap(),
            "hello big world"
        );
        let stdin = "line one\nline two\n\n".as_bytes();
        assert_eq!(message_body(&[], stdin).unwrap(), "line one\nline two\n");
        assert_eq!(message_body(&[], "x\r\n".as_bytes()).unwrap(), "x");
        assert_eq!(message_body(&[], "x".as_bytes()).unwrap(), "x");
    }

    #[test]
    fn empty_messages_are_usage_errors() {
        for input in ["", "\n", "  \n"] {
            let err = message_body(&[], input.as_bytes()).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{input:?}");
        }
        assert_eq!(
            message_body(&[" ".into()], io::empty())
                .unwrap_err()
                .exit_code(),
            2
        );
        let err = message_body(&[], &[0xff, 0xfe][..]).unwrap_err();
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn a_piped_password_is_its_first_line() {
        assert_eq!(
            password_line("s3cret\nrest\n".as_bytes()).unwrap(),
            "s3cret"
        );
        assert_eq!(password_line("s3cret\r\n".as_bytes()).unwrap(), "s3cret");
        assert_eq!(password_line(" sp ace".as_bytes()).unwrap(), " sp ace");
        assert_eq!(password_line("\n".as_bytes()).unwrap_err().exit_code(), 2);
        assert_eq!(password_line(io::empty()).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn room_arguments() {
        assert_eq!(parse_room("General").unwrap(), "#general");
        assert_eq!(parse_room("#dev").unwrap(), "#dev");
        assert_eq!(parse_room("@Bob").unwrap(), "@bob");
        assert_eq!(parse_room("#no way").unwrap_err().exit_code(), 2);
    }
}
