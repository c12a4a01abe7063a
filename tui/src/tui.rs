//! The full-screen client's event loop: one `tokio::select!` over terminal
//! events, the connection supervisor's updates, replies to requests and the
//! next deadline (typing expiry, the reconnect countdown). It draws only
//! when something changed and sleeps otherwise: no polling.
//!
//! The [`App`] decides; this loop performs its [`Effect`]s: requests run on
//! their own tasks, sends go through one task so they stay in order,
//! notifications leave the UI task at once, and the keyring is written off
//! it. Received messages go to the chat log's own thread (when logging is
//! on), and `/open` starts its command detached.
//!
//! [`run`] owns the real terminal; [`run_main_loop`] is the loop itself,
//! generic over ratatui's `Backend`, the terminal's event stream and where
//! raw escapes (the title, terminal notifications) go, so tests drive the
//! whole client on a `TestBackend` with events of their own.

use std::io::Write;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::{Stream, StreamExt};
use natter_shared::{Credential, ErrorCode, ErrorReply, PresenceChoice, Request, Response};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use crate::app::text::now_ms;
use crate::app::{App, ConnState, Effect, LoginBy, Settings, Then};
use crate::conn::Connection;
use crate::error::ClientError;
use crate::keyring::Keyring;
use crate::notify::{Notifier, RouteEnv};
use crate::supervisor::{Status, Supervisor, SupervisorConfig, Update};
use crate::ui::{self, Theme};

/// Everything the client needs to start.
#[derive(Debug)]
pub struct Options {
    pub server: String,
    pub user: String,
    /// How to log in; `None` shows the login screen.
    pub credential: Option<Credential>,
    /// Where the credential came from, for `/help`.
    pub source: String,
    pub keyring: Keyring,
    pub settings: Settings,
    pub theme: Theme,
    pub connect: crate::conn::ConnectOptions,
    /// Where `/notify`, `/mute` and `/close` are kept (`None`: not kept).
    pub prefs_path: Option<std::path::PathBuf>,
    /// The terminal's graphics for image previews (kitty, iTerm2, sixel),
    /// as [`run`] finds them; `None` draws previews in half blocks.
    pub picker: Option<ratatui_image::picker::Picker>,
}

/// What comes back from work the loop started.
enum Done {
    Reply(Then, Result<Response, ErrorReply>),
    /// The request was never answered: the link was down or dropped.
    Lost(Then),
    Sent(u64, Result<(u64, i64), String>),
    /// The link dropped before a send was answered: queue it again.
    Unsent(crate::app::Outgoing),
    /// A token from a login-screen login was stored (or not).
    Stored(String),
}

struct Job {
    local: u64,
    nonce: String,
    room: String,
    body: String,
    action: bool,
    reply_to: Option<natter_shared::MessageId>,
    thread: Option<natter_shared::MessageId>,
    files: Vec<natter_shared::Attachment>,
}

impl Job {
    /// The message again, to queue for the next connection.
    fn into_outgoing(self) -> crate::app::Outgoing {
        crate::app::Outgoing {
            local: self.local,
            room: self.room,
            body: self.body,
            action: self.action,
            reply_to: self.reply_to,
            thread: self.thread,
            files: self.files,
        }
    }
}

fn as_reply(e: ClientError) -> ErrorReply {
    match e {
        ClientError::Server(reply) => reply,
        other => ErrorReply::new(ErrorCode::Internal, other.to_string()),
    }
}

/// Sends messages one at a time, in order, on one connection.
fn spawn_sender(conn: Connection, done: mpsc::UnboundedSender<Done>) -> mpsc::UnboundedSender<Job> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            let req = Request::Send {
                room: job.room.clone(),
                body: job.body.clone(),
                action: job.action,
                nonce: Some(job.nonce.clone()),
                reply_to: job.reply_to,
                thread: job.thread,
                attention: false,
                files: job.files.iter().map(|f| f.file).collect(),
            };
            let result = match conn.request(req).await {
                Ok(Response::Sent { id, ts, .. }) => Done::Sent(job.local, Ok((id, ts))),
                Ok(other) => Done::Sent(job.local, Err(format!("unexpected reply {other:?}"))),
                Err(ClientError::Server(e)) => Done::Sent(job.local, Err(e.message)),
                // The link dropped before the request went out: queue it for the
                // next connection. Anything else is final for this message.
                Err(ClientError::Disconnected(_)) => Done::Unsent(job.into_outgoing()),
                Err(ClientError::Timeout { .. }) => Done::Sent(
                    job.local,
                    Err(
                        "no answer in time; it may have been stored, check before resending".into(),
                    ),
                ),
                Err(e) => Done::Sent(job.local, Err(e.to_string())),
            };
            if done.send(result).is_err() {
                return;
            }
        }
    });
    tx
}

/// Runs the client until the user quits. Restores the terminal on the way
/// out, including after a panic (ratatui's hook).
pub async fn run(options: Options) -> Result<(), ClientError> {
    // Installs a panic hook that restores the terminal before the message.
    let mut terminal = ratatui::try_init().map_err(|e| ClientError::Io {
        context: "cannot set up the terminal",
        source: e,
    })?;
    // Runs before ratatui's restoring hook: also switch off what we switched
    // on, or the shell gets mouse and focus escapes after a panic.
    let restore = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(
            std::io::stdout(),
            crossterm::event::DisableBracketedPaste,
            crossterm::event::DisableFocusChange,
            crossterm::event::DisableMouseCapture
        );
        restore(info);
    }));
    let mut options = options;
    if options.settings.images == crate::app::files::ImageMode::Auto {
        // Asked before the event stream reads the terminal: the answers
        // come on stdin. Under tmux only what passes through counts, which
        // the query finds out; no answer means half blocks.
        options.picker = ratatui_image::picker::Picker::from_query_stdio()
            .ok()
            .filter(|p| p.protocol_type() != ratatui_image::picker::ProtocolType::Halfblocks);
        tracing::debug!(graphics = ?options.picker.as_ref().map(ratatui_image::picker::Picker::protocol_type), "image previews");
    }
    let mouse = options.settings.mouse;
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        crossterm::event::EnableBracketedPaste,
        crossterm::event::EnableFocusChange
    );
    if mouse {
        let _ = crossterm::execute!(out, crossterm::event::EnableMouseCapture);
    }
    let result = run_main_loop(
        &mut terminal,
        EventStream::new(),
        &mut std::io::stdout(),
        options,
    )
    .await;
    let _ = crossterm::execute!(
        out,
        crossterm::event::DisableBracketedPaste,
        crossterm::event::DisableFocusChange,
        crossterm::event::DisableMouseCapture,
        crossterm::terminal::SetTitle("")
    );
    ratatui::restore();
    result
}

fn supervise(
    options: &Options,
    credential: Credential,
    presence: &tokio::sync::watch::Sender<Option<PresenceChoice>>,
) -> (Supervisor, mpsc::Receiver<Update>) {
    Supervisor::spawn(SupervisorConfig {
        addr: options.server.clone(),
        user: options.user.clone(),
        credential,
        presence: presence.subscribe(),
        connect: options.connect.clone(),
        backoff: crate::backoff::Backoff::default(),
        stable_link: Duration::from_secs(10),
    })
}

/// The client's event loop, until the user quits or `events` ends: draws on
/// `terminal`, reads terminal events from `events` and writes raw escapes
/// (the window title, terminal notifications) to `out`. [`run`] hands in
/// the real terminal, crossterm's `EventStream` and stdout.
pub async fn run_main_loop<B, E, W>(
    terminal: &mut Terminal<B>,
    mut events: E,
    out: &mut W,
    mut options: Options,
) -> Result<(), ClientError>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    E: Stream<Item = std::io::Result<TermEvent>> + Unpin,
    W: Write,
{
    // Boxed: the state is large, and the loop's future holds it.
    let mut app = Box::new(App::new(
        &options.server,
        &options.user,
        options.settings.clone(),
    ));
    app.credential_source.clone_from(&options.source);
    if let Ok(size) = terminal.size() {
        app.on_resize(size.width, size.height);
    }
    let theme = options.theme;
    let notifier = Notifier::from_env(&RouteEnv::from_process());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let (files_tx, mut files_rx) = mpsc::unbounded_channel::<crate::transfers::Report>();
    let mut transfers = crate::transfers::Running::default();
    let mut supervisor: Option<Supervisor> = None;
    let mut updates: Option<mpsc::Receiver<Update>> = None;
    // The presence the user chose, restored at every login.
    let presence = tokio::sync::watch::Sender::new(None);
    if let Some(Credential::Token(_)) = options.credential {
        app.login_by = LoginBy::StoredToken {
            account: format!("{}@{}", options.user, options.server),
        };
    }
    if let Some(c) = options.credential.take() {
        let (s, u) = supervise(&options, c, &presence);
        supervisor = Some(s);
        updates = Some(u);
    } else {
        app.on_conn(ConnState::Stopped("not logged in".into()));
        app.ask_login(None);
    }
    let mut conn: Option<Connection> = None;
    let mut sender: Option<mpsc::UnboundedSender<Job>> = None;
    let mut rtt: Option<tokio::sync::watch::Receiver<Option<Duration>>> = None;
    let mut title = String::new();
    let mut dirty = true;
    // Over SSH, `/open` copies instead: SSH sets these for the session.
    let over_ssh = ["SSH_CONNECTION", "SSH_TTY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    let chat_log = options.settings.chat_log.clone().map(|dir| {
        crate::chatlog::spawn(crate::chatlog::ChatLog::new(
            dir,
            options.settings.utc_offset,
        ))
    });
    loop {
        if dirty {
            let now = Instant::now();
            terminal
                .draw(|f| ui::draw(f, &app, &theme, now))
                .map_err(|e| ClientError::Io {
                    context: "cannot draw",
                    source: std::io::Error::other(e),
                })?;
            let t = app.title();
            if t != title {
                let _ = crossterm::execute!(out, crossterm::terminal::SetTitle(&t));
                title = t;
            }
            dirty = false;
        }
        // The next moment something changes by itself.
        let now = Instant::now();
        let typing_before = app.typing_line();
        let mut deadline = app.on_tick(now);
        if app.typing_line() != typing_before {
            // An indicator expired since the last draw.
            dirty = true;
            continue;
        }
        if let ConnState::Waiting { until, .. } = app.conn {
            // Count down the status line once a second.
            let left = until.saturating_duration_since(now);
            let frac = Duration::from_nanos((left.as_nanos() % 1_000_000_000) as u64);
            let tick = now
                + if frac.is_zero() {
                    Duration::from_secs(1)
                } else {
                    frac
                };
            deadline = Some(deadline.map_or(tick, |d| d.min(tick)));
        }
        let mut effects = Vec::new();
        tokio::select! {
            ev = events.next() => {
                let Some(Ok(ev)) = ev else { break };
                let (now, ms) = (Instant::now(), now_ms());
                effects = match ev {
                    TermEvent::Key(k) if k.kind != KeyEventKind::Release => app.on_key(k, now, ms),
                    TermEvent::Paste(text) => app.on_paste(&text, now),
                    TermEvent::FocusGained => app.on_focus(true),
                    TermEvent::FocusLost => app.on_focus(false),
                    TermEvent::Resize(w, h) => {
                        app.on_resize(w, h);
                        Vec::new()
                    }
                    TermEvent::Mouse(m) => app.on_mouse(m),
                    TermEvent::Key(_) => Vec::new(),
                };
                dirty = true;
            }
            update = async { updates.as_mut()?.recv().await }, if updates.is_some() => {
                dirty = true;
                match update {
                    Some(Update::Status(Status::Online { conn: c, session })) => {
                        rtt = Some(c.rtt());
                        c.addr().clone_into(&mut app.node);
                        sender = Some(spawn_sender(c.clone(), done_tx.clone()));
                        app.on_welcome(&c.welcome().features);
                        app.on_motd(c.welcome().motd.as_deref());
                        app.max_body = Some(c.welcome().limits.max_message_len as usize);
                        let max_file = c.welcome().limits.max_file_bytes;
                        app.max_file = (max_file > 0).then_some(max_file);
                        conn = Some(c);
                        effects = app.on_online(&session);
                    }
                    Some(Update::Status(Status::Connecting { attempt })) => {
                        app.on_conn(ConnState::Connecting { attempt });
                    }
                    Some(Update::Status(Status::Offline { reason, retry_in, .. })) => {
                        conn = None;
                        sender = None;
                        rtt = None;
                        app.on_conn(ConnState::Waiting {
                            // A server-suggested wait is capped: an absurd one must not
                            // overflow the clock.
                            until: Instant::now() + retry_in.min(Duration::from_hours(1)),
                            attempt: match app.conn { ConnState::Connecting { attempt } => attempt, _ => 1 },
                            reason,
                        });
                    }
                    Some(Update::Status(Status::Stopped { reason: why, credential_refused })) => {
                        conn = None;
                        sender = None;
                        supervisor = None;
                        updates = None;
                        effects = app.on_stopped(why, credential_refused);
                    }
                    Some(Update::Event(e)) => {
                        if let (Some(log), natter_shared::Event::Message(m)) = (&chat_log, &e) {
                            log_messages(log, &app, std::slice::from_ref(m));
                        }
                        effects = app.on_event(e, Instant::now());
                    }
                    None => {
                        updates = None;
                    }
                }
            }
            done = done_rx.recv() => {
                dirty = true;
                match done {
                    Some(Done::Lost(then)) => app.on_lost(then, now_ms()),
                    Some(Done::Reply(then, result)) => {
                        if let (Some(log), Then::History { .. } | Then::CatchUp { .. }, Ok(Response::Messages { messages, .. })) = (&chat_log, &then, &result) {
                            log_messages(log, &app, messages);
                        }
                        effects = app.on_reply(then, result, now_ms());
                    }
                    Some(Done::Sent(local, result)) => app.on_sent(local, result),
                    Some(Done::Unsent(message)) => app.requeue(message),
                    Some(Done::Stored(what)) => app.credential_source = what,
                    None => {}
                }
            }
            Some(report) = files_rx.recv() => {
                dirty = true;
                match report {
                    crate::transfers::Report::Transfer(id, event) => {
                        if !matches!(event, crate::app::files::TransferEvent::Progress { .. }) {
                            transfers.ended(id);
                        }
                        effects = app.on_transfer(id, event, now_ms());
                    }
                    crate::transfers::Report::Thumb(file, thumb) => {
                        if let (Some(picker), Some(t)) = (&options.picker, &thumb)
                            && let Some(g) = crate::transfers::graphic(picker, t)
                        {
                            app.on_graphic(file, g);
                        }
                        app.on_thumb(file, thumb);
                    }
                }
            }
            changed = async { rtt.as_mut()?.changed().await.ok() }, if rtt.is_some() => {
                match changed {
                    Some(()) => {
                        let value = rtt.as_ref().and_then(|r| *r.borrow());
                        if let Some(d) = value {
                            app.on_rtt(d);
                            dirty = true;
                        }
                    }
                    None => rtt = None,
                }
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                app.on_tick(Instant::now());
                dirty = true;
            }
        }
        let link = |conn: &Option<Connection>| {
            conn.as_ref().map(|c| crate::transfers::Link {
                conn: c.clone(),
                opts: options.connect.clone(),
                out: files_tx.clone(),
            })
        };
        // Previews of what came in or came on screen.
        if !effects.iter().any(|e| matches!(e, Effect::Quit)) && conn.is_some() {
            effects.extend(app.wanted_thumbs());
        }
        for effect in effects {
            match effect {
                Effect::Quit => return Ok(()),
                Effect::Upload { id, path, name } => {
                    if let Some(link) = link(&conn) {
                        transfers.upload(&link, id, path, name);
                    } else {
                        let failed = crate::app::files::TransferEvent::Failed("offline".into());
                        let _ = app.on_transfer(id, failed, now_ms());
                    }
                }
                Effect::Download {
                    id,
                    file,
                    dir,
                    open,
                } => {
                    if let Some(link) = link(&conn) {
                        transfers.download(&link, id, file, dir, open);
                    } else {
                        let failed = crate::app::files::TransferEvent::Failed("offline".into());
                        let _ = app.on_transfer(id, failed, now_ms());
                    }
                }
                Effect::CancelTransfer { id } => transfers.cancel(id),
                Effect::Thumb { file } => {
                    if let Some(link) = link(&conn) {
                        crate::transfers::Running::thumbnail(&link, file);
                    }
                }
                Effect::OpenPath { path } => {
                    let shown = path.display().to_string();
                    if over_ssh {
                        app.note(format!(
                            "saved to {shown} on this machine (over SSH there is nothing to open it with here)"
                        ));
                    } else {
                        match open_url(&options.settings.open_command, &shown) {
                            Ok(()) => app.note(format!("opening {shown}")),
                            Err(e) => app.error(now_ms(), e),
                        }
                    }
                }
                Effect::Request { req, then } => {
                    if let Some(c) = &conn {
                        let c = c.clone();
                        let done = done_tx.clone();
                        tokio::spawn(async move {
                            let outcome = match c.request(req).await {
                                Err(ClientError::Disconnected(_)) => Done::Lost(then),
                                result => Done::Reply(then, result.map_err(as_reply)),
                            };
                            let _ = done.send(outcome);
                        });
                    } else {
                        let _ = done_tx.send(Done::Lost(then));
                    }
                }
                Effect::Send {
                    local,
                    nonce,
                    room,
                    body,
                    action,
                    reply_to,
                    thread,
                    files,
                } => {
                    let job = Job {
                        local,
                        nonce,
                        room,
                        body,
                        action,
                        reply_to,
                        thread,
                        files,
                    };
                    match &sender {
                        Some(s) => {
                            if let Err(e) = s.send(job) {
                                app.requeue(e.0.into_outgoing());
                            }
                        }
                        None => app.requeue(job.into_outgoing()),
                    }
                }
                Effect::Copy { text } => {
                    let _ = out.write_all(osc52(&text).as_bytes());
                    let _ = out.flush();
                    app.note("copied to the clipboard (OSC 52; if your terminal allows it)");
                }
                Effect::Notify { title, body } => {
                    if let Some(bytes) = notifier.notify(&title, &body) {
                        let _ = out.write_all(&bytes);
                        let _ = out.flush();
                    }
                }
                // Off the UI task: a keyring may take seconds.
                Effect::StoreToken { account, token } => {
                    let keyring = options.keyring.clone();
                    let done = done_tx.clone();
                    tokio::spawn(async move {
                        let what = match keyring.set_token(&account, &token).await {
                            Ok(()) => format!("session token in {}", keyring.name()),
                            Err(e) => format!("typed password (no keyring: {e})"),
                        };
                        let _ = done.send(Done::Stored(what));
                    });
                }
                Effect::ForgetToken { account } => {
                    let keyring = options.keyring.clone();
                    tokio::spawn(async move {
                        let _ = keyring.delete_token(&account).await;
                    });
                }
                Effect::SavePrefs(prefs) => {
                    if let Some(path) = options.prefs_path.clone() {
                        // Off the UI task; a failure costs only the choice.
                        tokio::task::spawn_blocking(move || {
                            if let Err(e) = prefs.save(&path) {
                                tracing::warn!(path = %path.display(), error = %e, "room preferences not saved");
                            }
                        });
                    }
                }
                Effect::LoginPresence(choice) => {
                    presence.send_replace(Some(choice));
                }
                Effect::Open { url } => {
                    if over_ssh {
                        // The browser would open on the far machine: hand
                        // the link to this terminal's clipboard instead.
                        let _ = out.write_all(osc52(&url).as_bytes());
                        let _ = out.flush();
                        app.note(format!(
                            "over SSH: copied {url} to the clipboard (OSC 52; if your terminal allows it)"
                        ));
                    } else {
                        match open_url(&options.settings.open_command, &url) {
                            Ok(()) => app.note(format!("opening {url}")),
                            Err(e) => app.error(now_ms(), e),
                        }
                    }
                }
                Effect::RetryNow => {
                    if let Some(s) = &supervisor {
                        s.retry_now();
                    }
                }
                Effect::Login {
                    server,
                    user,
                    password,
                } => {
                    options.server = server;
                    options.user = user;
                    // With a keyring, ask for a session token to keep
                    // (`Effect::StoreToken` once logged in).
                    let credential = if options.keyring.is_available() {
                        Credential::Password(password)
                    } else {
                        Credential::PasswordOnly(password)
                    };
                    let (s, u) = supervise(&options, credential, &presence);
                    supervisor = Some(s);
                    updates = Some(u);
                    app.on_conn(ConnState::Connecting { attempt: 1 });
                }
            }
        }
        if app.quit {
            break;
        }
    }
    drop(supervisor);
    Ok(())
}

/// Starts `command` (split at spaces, no shell) with `url` as its last
/// argument, detached from the terminal: no stdin, its output discarded so
/// it cannot scribble over the screen, and reaped on a task of its own so
/// the UI never waits for it.
///
/// # Errors
/// An empty command, or one that cannot be started, as a line to show.
pub fn open_url(command: &str, url: &str) -> Result<(), String> {
    let mut words = command.split_whitespace();
    let Some(program) = words.next() else {
        return Err("open_command is empty".into());
    };
    let mut child = tokio::process::Command::new(program)
        .args(words)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(())
}

/// The OSC 52 escape that asks the terminal to put `text` on the
/// clipboard.
#[must_use]
pub fn osc52(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(text.len().div_ceil(3) * 4);
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    format!("\x1b]52;c;{b64}\x1b\\")
}

/// Hands received messages to the chat log, less those of people you
/// block: the log shows what the screen shows.
fn log_messages(log: &crate::chatlog::Logger, app: &App, messages: &[natter_shared::Message]) {
    let shown = messages
        .iter()
        .filter(|m| m.from == app.user || !app.safety.is_blocked(&m.from))
        .cloned()
        .collect();
    log.log(&app.server, shown);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_is_base64_in_the_clipboard_escape() {
        assert_eq!(osc52("hi"), "\x1b]52;c;aGk=\x1b\\");
        assert_eq!(osc52("abc"), "\x1b]52;c;YWJj\x1b\\");
        assert_eq!(osc52("abcd"), "\x1b]52;c;YWJjZA==\x1b\\");
        assert_eq!(
            osc52("https://x.io/?q=1"),
            "\x1b]52;c;aHR0cHM6Ly94LmlvLz9xPTE=\x1b\\"
        );
    }

    /// The configured command gets the URL as its last argument, without
    /// the caller waiting for it.
    #[tokio::test]
    async fn open_url_runs_the_command_with_the_url() {
        let tmp = tempfile::tempdir().unwrap();
        let script = tmp.path().join("opener");
        let seen = tmp.path().join("seen");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s|%s' \"$1\" \"$2\" > {}.tmp && mv {0}.tmp {0}\necho noise\n",
                seen.display()
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let command = format!("{} --new-tab", script.display());
        open_url(&command, "https://example.org/a?b=c").unwrap();
        let start = Instant::now();
        while !seen.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the opener never ran"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            std::fs::read_to_string(&seen).unwrap(),
            "--new-tab|https://example.org/a?b=c"
        );
        assert!(open_url("", "https://x").is_err());
        assert!(
            open_url("/nonexistent/opener", "https://x")
                .unwrap_err()
                .contains("cannot run")
        );
    }
}
