//! natterd, natter's chat server, as a library: `main.rs` only parses the
//! command line; tests and `natter --local` call [`run`] in-process.
//!
//! # Layout
//! A request reads straight through the layers: socket -> codec ->
//! [`front`] (its protocol's connection and dispatch) -> [`ops`] (what the
//! request does) -> [`hub`] (in-memory state and rules) and [`store`]
//! (durable state) -> replies and events, fanned out by the hub.
//! - `lib.rs` (here): start-up (loading rooms from the store), the accept
//!   loop with connection limits, the store thread that applies committed
//!   work to the hub, following the admin CLI's changes, graceful shutdown.
//! - [`front`]: one module per wire protocol; today [`front::natter`]
//!   (the connection state machine and the request dispatch), and
//!   [`front::Outgoing`], an event encoded once per protocol.
//! - [`ops`]: protocol-neutral operations (auth, messages, rooms,
//!   moderation, read markers, presence, quotas, the audit log).
//! - [`hub`]: in-memory state by concern (access and the privacy rule,
//!   rooms, messages, fan-out, history, unread counts, presence, typing).
//! - [`store`]: SQLite behind named operations, one ordered commit path
//!   with a savepoint per job; the admin CLI's audited operations.
//! - [`outbox`]: each connection's bounded outbound queue and batched writer.
//! - [`config`]: the TOML configuration and its defaults.
//! - [`auth`]: password hashing, session tokens, login throttling, token
//!   buckets.
//! - [`admin`]: the operator commands (`natterd user ...`, `natterd room ...`,
//!   `audit`, `backup`), working directly on the data dir.
//! - [`tls`]: certificates for the TLS listener, replaceable at run time.
//! - [`uploads`]: files on their way in: transfer tickets, upload rates,
//!   type sniffing, thumbnails, the scan.
//! - [`http`]: the HTTP listener: health checks, `/metrics`, incoming
//!   webhooks; [`metrics`]: what it counts; [`http_client`]: the requests
//!   natterd makes itself (outgoing webhooks, `natterd top`).
//! - `top` (feature `cli`): `natterd top`, the live dashboard.
//! - [`webhooks`]: outgoing webhooks: the queue's delivery loop.
//! - [`systemd`]: readiness, reload and stop notices, the watchdog.
//! - [`fds`]: the open-file limit, raised at start, and the connection cap
//!   it implies.
//! - [`admission`]: which connections are let in: limits overall and per
//!   address, and the share of those not logged in yet.
//! - [`embedded`]: natterd running inside another process (`natter
//!   --local`, tests), started on its caller's listeners and stopped
//!   gracefully.
//! - `testing` (feature `test-util`): the one test harness: a server on
//!   port 0 with a temp data dir and limits lifted, and shared fixtures.

pub mod admin;
pub mod admission;
pub mod auth;
pub mod config;
pub mod embedded;
pub mod fds;
pub mod file_links;
pub mod front;
pub mod http;
pub mod http_client;
pub mod hub;
pub mod metrics;
pub mod migrate;
pub mod ops;
pub mod outbox;
pub mod store;
pub mod systemd;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod tls;
#[cfg(feature = "cli")]
pub mod top;
pub mod uploads;
pub mod webhooks;

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::Either;
use natter_shared::ErrorCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
use hub::Hub;
use store::Store;
pub use store::StoreError;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot start the password-hashing threads: {0}")]
    Hasher(std::io::Error),
    #[error("the file-link key: {0}")]
    FileLinks(std::io::Error),
}

/// How long clients are told to wait before reconnecting after a shutdown.
pub const RECONNECT_AFTER_SHUTDOWN_MS: u64 = 3000;

/// State shared by every connection.
pub struct Shared {
    /// Replaced whole on a reload; see [`Shared::config`].
    config: RwLock<Arc<Config>>,
    /// The TLS listener's certificates, when it runs.
    tls: Option<tls::Acceptor>,
    pub store: Store,
    /// The hub's lock is only ever held for synchronous work: see `hub.rs`.
    hub: Mutex<Hub>,
    /// Failed logins, per account and per IP.
    pub throttle: Mutex<auth::Throttle>,
    /// Open connections per IP address.
    conns: Mutex<HashMap<IpAddr, usize>>,
    /// Connections not logged in yet, oldest first: see [`admission`].
    pre_login: Mutex<admission::PreLoginQueue>,
    /// The most connections the open-file limit allows (see [`fds`]).
    fd_cap: Option<usize>,
    /// Password hashing is slow and memory-hungry (argon2, ~19 MiB each):
    /// a fixed pool of threads with one buffer each, fair between
    /// addresses, whatever the login load.
    pub hasher: auth::Hasher,
    /// Woken whenever a login attempt settles, for attempts waiting on
    /// pending ones (see [`auth::throttle`]).
    pub login_settled: tokio::sync::Notify,
    /// Per-user quotas on actions that cost others (rooms created,
    /// invitations sent): see `session.rs`.
    pub quotas: Mutex<HashMap<(i64, Quota), auth::TokenBucket>>,
    /// Each account's request rate, shared by its connections: see
    /// [`ops::quotas::account_rate`].
    pub account_rates: Mutex<HashMap<i64, std::sync::Weak<Mutex<auth::TokenBucket>>>>,
    /// Unread recounts in flight, per (room, user): see `session.rs`.
    pub recounts: Mutex<std::collections::HashSet<(i64, i64)>>,
    /// Transfers in progress: tickets, upload rates, claims.
    pub uploads: uploads::Uploads,
    /// Signs the HTTP links to files that IRC clients are shown.
    pub file_links: file_links::FileLinks,
    /// What operators see on `/metrics` and in `natterd top`.
    pub metrics: Arc<metrics::Metrics>,
    /// When the server started.
    pub started: std::time::Instant,
    next_session: AtomicU64,
    /// Numbers every request the server reads (`rid` in the logs).
    next_request: AtomicU64,
    /// The newest `account_events` row already acted on.
    account_events: std::sync::atomic::AtomicI64,
    /// Cancelled when the server starts shutting down: sessions stop
    /// reading requests but stay registered, so pending acknowledgements
    /// still reach them.
    pub draining: CancellationToken,
    /// Cancelled once everything pending was delivered: sessions end.
    pub shutdown: CancellationToken,
    /// Every task the server starts that must end before it returns:
    /// connections, and the work they leave running (unread recounts).
    /// Shutdown waits for them all.
    pub tasks: TaskTracker,
}

impl Shared {
    /// Locks the hub. A panic inside a hub method is a bug, but must not take
    /// every other connection down with a poisoned lock.
    pub fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The configuration in force. Readers take a snapshot: a reload
    /// affects what is read after it.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(
            &self
                .config
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The login throttle. Held briefly, never across an `.await`.
    pub fn throttle(&self) -> MutexGuard<'_, auth::Throttle> {
        self.throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Connections open now, of every kind.
    pub fn open_connections(&self) -> usize {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .sum()
    }

    /// Connections not logged in yet.
    pub fn pre_login_connections(&self) -> usize {
        self.pre_login
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// A fresh request id, for the logs.
    pub fn new_request_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh session id.
    pub fn new_session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }
}

/// Where natterd accepts connections.
#[derive(Debug, Default)]
pub struct Listeners {
    /// Plain TCP.
    pub plain: Option<TcpListener>,
    /// TLS, with the certificate from the config's `tls` section.
    pub tls: Option<TcpListener>,
    /// HTTP: metrics, health checks, webhooks (see [`http`]).
    pub http: Option<TcpListener>,
    /// IRC, plain (see [`front::irc`]).
    pub irc: Option<TcpListener>,
    /// IRC over TLS, with the `[tls]` certificate.
    pub irc_tls: Option<TcpListener>,
}

/// The outcome of a reload: the changes applied, as `key: old -> new`
/// lines, or why the new config was refused.
pub type ReloadResult = Result<Vec<String>, String>;

/// A request to replace the running configuration.
pub type ReloadRequest = (Config, oneshot::Sender<ReloadResult>);

/// A per-user quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quota {
    /// Rooms created (`limits.rooms_per_user_per_hour`).
    Rooms,
    /// Invitations sent (`limits.invites_per_user_per_minute`).
    Invites,
    /// Direct conversations opened (`limits.directs_per_user_per_hour`).
    Directs,
    /// Messages reported (`limits.reports_per_user_per_hour`).
    Reports,
    /// Display names set (`limits.profile_changes_per_user_per_hour`):
    /// each change is announced to everyone who shares a room.
    Profiles,
    /// Reactions added or removed (`limits.reactions_per_user_per_minute`):
    /// each is fanned out to the room. Beyond it: `rate_limited`.
    Reactions,
    /// Searches (`limits.searches_per_sec`, `limits.search_burst`): a
    /// rate, refused with `rate_limited` (see `ops::quotas::take_search`).
    Searches,
}

/// Runs the server on one plain `listener` until `shutdown` resolves; see
/// [`serve`].
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listeners = Listeners {
        plain: Some(listener),
        ..Listeners::default()
    };
    serve(listeners, config, None, shutdown).await
}

/// A TLS connection's task: the handshake, then `serve` (if it succeeded),
/// then the slot released. Chained, not an `async` block, so the task holds
/// the larger of the two futures, not both (see the plain connections).
fn after_handshake<F, S>(
    handshake: impl Future<Output = Option<tokio_rustls::server::TlsStream<TcpStream>>>,
    guard: admission::ConnGuard,
    serve: F,
) -> impl Future<Output = ()>
where
    F: FnOnce(tokio_rustls::server::TlsStream<TcpStream>) -> S,
    S: Future<Output = ()>,
{
    handshake.then(move |tls| {
        match tls {
            Some(tls) => Either::Left(serve(tls)),
            None => Either::Right(std::future::ready(())),
        }
        .map(move |()| drop(guard))
    })
}

/// A TLS handshake within the deadline; `None` (logged) when it fails.
async fn tls_handshake(
    acceptor: tls::Acceptor,
    stream: TcpStream,
    peer: std::net::SocketAddr,
    shared: Arc<Shared>,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let deadline = Duration::from_millis(shared.config().limits.handshake_timeout_ms);
    drop(shared);
    match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// Accepts on a listener, or never when there is none.
async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Runs the server until `shutdown` resolves; then stops accepting, tells
/// every client it is going down (with a reconnect hint), flushes the store
/// and returns. Configs sent on `reloads` replace the running one (see
/// [`Shared::reload`]).
pub async fn serve(
    listeners: Listeners,
    config: Config,
    mut reloads: Option<mpsc::Receiver<ReloadRequest>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let wants_tls = listeners.tls.is_some() || listeners.irc_tls.is_some();
    let acceptor = match (wants_tls, config.tls.files()) {
        (true, Some((cert, key))) => Some(tls::Acceptor::new(cert, key)?),
        (true, None) => {
            return Err(config::ConfigError::Invalid(
                "a TLS listener needs tls.cert and tls.key".into(),
            )
            .into());
        }
        (false, _) => None,
    };
    let shared = start(config, acceptor)?;
    let tracker = shared.tasks.clone();
    let ticker = tokio::spawn(hub_ticker(Arc::clone(&shared)));
    let watcher = tokio::spawn(watch_accounts(Arc::clone(&shared)));
    let pruner = tokio::spawn(prune_audit(Arc::clone(&shared)));
    let sweeper = tokio::spawn(sweep_files(Arc::clone(&shared)));
    let hooks_out = tokio::spawn(webhooks::run(Arc::clone(&shared)));
    if let Some(l) = &listeners.plain {
        tracing::info!(addr = %l.local_addr()?, "natterd listening (plain TCP)");
    }
    if let Some(l) = &listeners.tls {
        tracing::info!(addr = %l.local_addr()?, "natterd listening (TLS)");
    }
    if let Some(l) = &listeners.irc {
        tracing::info!(addr = %l.local_addr()?, "natterd listening (IRC)");
    }
    if let Some(l) = &listeners.irc_tls {
        tracing::info!(addr = %l.local_addr()?, "natterd listening (IRC over TLS)");
    }
    let http_stop = CancellationToken::new();
    let http_server = match listeners.http {
        Some(listener) => {
            let config = shared.config();
            let tls = if config.http.tls {
                shared.tls.clone()
            } else {
                None
            };
            tracing::info!(
                addr = %listener.local_addr()?,
                tls = tls.is_some(),
                "natterd listening (HTTP: metrics, health, webhooks)"
            );
            Some(tokio::spawn(http::serve(
                listener,
                Arc::clone(&shared),
                tls,
                http_stop.clone(),
            )))
        }
        None => None,
    };
    let watchdog = systemd::watchdog_interval()
        .map(|every| tokio::spawn(systemd::watchdog(Arc::clone(&shared), every)));
    systemd::ready();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            Some((config, done)) = async {
                match reloads.as_mut() {
                    Some(r) => r.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                systemd::reloading();
                let result = shared.reload(config);
                systemd::ready();
                match &result {
                    Ok(changes) if changes.is_empty() => {
                        tracing::info!("config reloaded; nothing changed");
                    }
                    Ok(changes) => {
                        for change in changes {
                            tracing::info!(change = %change, "config reloaded");
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "config reload refused; the running config stays");
                    }
                }
                let _ = done.send(result);
                continue;
            }
            a = accept(listeners.plain.as_ref()) => (a, false, false),
            a = accept(listeners.tls.as_ref()) => (a, true, false),
            a = accept(listeners.irc.as_ref()) => (a, false, true),
            a = accept(listeners.irc_tls.as_ref()) => (a, true, true),
        };
        let (accepted, is_tls, is_irc) = accepted;
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead
                // of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        shared.metrics.accepted.inc();
        let (guard, pre_login) = match admission::admit(&shared, peer.ip()) {
            Ok(admitted) => admitted,
            Err(message) => {
                tracing::warn!(%peer, message, "connection refused");
                if is_tls {
                    // A refusal the client can read needs the handshake
                    // first; without one, just close.
                    drop(stream);
                } else if is_irc {
                    tracker.spawn(front::irc::refuse(stream, message));
                } else {
                    tracker.spawn(front::natter::refuse(
                        stream,
                        ErrorCode::ServerFull,
                        message,
                    ));
                }
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        // One spawn per protocol: each task is then the size of its own
        // protocol's connection, not the larger of the two.
        match (is_tls, shared.tls.clone(), is_irc) {
            (true, Some(acceptor), true) => {
                let tls = tls_handshake(acceptor, stream, peer, Arc::clone(&shared));
                tracker.spawn(after_handshake(tls, guard, move |tls| {
                    front::irc::serve_tls(tls, peer, shared, pre_login)
                }));
            }
            (true, Some(acceptor), false) => {
                let tls = tls_handshake(acceptor, stream, peer, Arc::clone(&shared));
                tracker.spawn(after_handshake(tls, guard, move |tls| {
                    front::natter::serve_tls(tls, peer, shared, pre_login)
                }));
            }
            // `map`, not an `async move` block that awaits the future: such
            // a block keeps the future twice (once captured, once being
            // awaited), which doubled each idle connection's task (S4).
            (_, _, true) => {
                let serve = front::irc::serve(stream, peer, shared, pre_login);
                tracker.spawn(serve.map(move |()| drop(guard)));
            }
            (_, _, false) => {
                let serve = front::natter::serve(stream, peer, shared, pre_login);
                tracker.spawn(serve.map(move |()| drop(guard)));
            }
        }
    }
    drop(listeners.plain);
    drop(listeners.tls);
    drop(listeners.irc);
    drop(listeners.irc_tls);
    systemd::stopping();
    if let Some(w) = watchdog {
        w.abort();
    }
    tracing::info!("shutting down");
    // Stop reading requests, commit what is queued so its senders get their
    // acknowledgement, then say goodbye to everyone after it.
    shared.draining.cancel();
    let _ = shared.store.flush().await;
    http_stop.cancel();
    if let Some(h) = http_server {
        let _ = h.await;
    }
    shared.shutdown.cancel();
    shared.hub().close_all(
        &ErrorCode::ShuttingDown,
        "the server is shutting down",
        Some(RECONNECT_AFTER_SHUTDOWN_MS),
    );
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
    ticker.abort();
    watcher.abort();
    pruner.abort();
    sweeper.abort();
    hooks_out.abort();
    let store = shared.store.clone();
    let _ = tokio::task::spawn_blocking(move || store.close()).await;
    tracing::info!("natterd stopped");
    Ok(())
}

/// Settings that only take effect at start-up: a reload that changes them
/// keeps the running value and says so.
const RESTART_ONLY: &[&str] = &[
    "listen",
    "data_dir",
    "log.dir",
    "log.format",
    "history.in_memory",
    "history.retention",
    "history.sync",
    "tls.listen",
    "http.listen",
    "http.tls",
    "irc.listen",
    "irc.tls_listen",
    "limits.hash_threads",
];

impl Shared {
    /// Replaces the running configuration with `new`, keeping what only a
    /// restart can change, and reloads the TLS certificate from disk (so a
    /// renewed certificate at the same path is picked up). Open connections
    /// stay; limits read per request apply at once, per-connection ones
    /// (rate limit bucket, deadlines, queue size) to new connections. On
    /// any error nothing changes.
    pub fn reload(&self, new: Config) -> ReloadResult {
        let old = self.config();
        let mut applied = new;
        let mut notes = Vec::new();
        for (key, was, now) in old.diff(&applied) {
            if RESTART_ONLY.iter().any(|k| key == *k) {
                notes.push(format!(
                    "{key}: {was} -> {now} needs a restart; keeping {was}"
                ));
            }
        }
        applied.listen.clone_from(&old.listen);
        applied.data_dir.clone_from(&old.data_dir);
        applied.log.dir.clone_from(&old.log.dir);
        applied.log.format = old.log.format;
        applied.history.in_memory = old.history.in_memory;
        applied.history.retention = old.history.retention;
        applied.history.sync = old.history.sync;
        applied.tls.listen.clone_from(&old.tls.listen);
        applied.http.listen.clone_from(&old.http.listen);
        applied.http.tls = old.http.tls;
        applied.irc.listen.clone_from(&old.irc.listen);
        applied.irc.tls_listen.clone_from(&old.irc.tls_listen);
        // The hashing pool's threads are started once.
        applied.limits.hash_threads = old.limits.hash_threads;
        match (&self.tls, applied.tls.files()) {
            (Some(acceptor), Some((cert, key))) => {
                acceptor.reload(cert, key).map_err(|e| e.to_string())?;
            }
            (Some(_), None) => {
                return Err(
                    "tls.cert and tls.key were removed; turning TLS off needs a restart".into(),
                );
            }
            (None, Some(_)) => {
                notes.push("tls: turning TLS on needs a restart".into());
            }
            (None, None) => {}
        }
        applied.validate()?;
        let mut changes: Vec<String> = old
            .diff(&applied)
            .into_iter()
            .map(|(key, was, now)| format!("{key}: {was} -> {now}"))
            .collect();
        let applied = Arc::new(applied);
        *self
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&applied);
        self.hub().set_config(applied);
        changes.extend(notes);
        Ok(changes)
    }
}

/// Opens the store and loads every room into a new hub.
fn start(config: Config, tls: Option<tls::Acceptor>) -> Result<Arc<Shared>, ServerError> {
    config.validate().map_err(config::ConfigError::Invalid)?;
    let data_dir = config.resolved_data_dir()?;
    let config = Arc::new(config);
    let metrics = Arc::new(metrics::Metrics::new());
    let (store, commits) = Store::open(
        &data_dir,
        config.history.sync,
        config.history.retention,
        Arc::clone(&metrics),
    )?;
    let cap = hub::ring_cap(&config);
    let store::Startup {
        rooms,
        messages: count,
        last_account_event: account_events,
        blocks,
        profiles,
        receipts_off,
        bots,
    } = store.load_all(cap)?;
    let hasher = auth::Hasher::start(config.limits.hash_threads()).map_err(ServerError::Hasher)?;
    let file_links = file_links::FileLinks::open(&data_dir).map_err(ServerError::FileLinks)?;
    let fd_cap = fds::raise_limit();
    if let Some(cap) = fd_cap
        && cap < config.limits.max_connections
    {
        tracing::warn!(
            max_connections = config.limits.max_connections,
            cap,
            "the open-file limit allows fewer connections than max_connections: at most {cap} are accepted (raise the hard limit, e.g. LimitNOFILE= under systemd)"
        );
    }
    let mut hub = Hub::new(Arc::clone(&config), count, Arc::clone(&metrics));
    // Blocks first: a blocked author's messages are not counted unread.
    hub.load_blocks(blocks);
    for room in rooms {
        hub.install_room(room);
    }
    hub.load_profiles(profiles);
    hub.load_receipts_off(receipts_off);
    hub.load_bots(bots);
    let shared = Arc::new(Shared {
        config: RwLock::new(config),
        tls,
        store,
        hub: Mutex::new(hub),
        throttle: Mutex::new(auth::Throttle::default()),
        conns: Mutex::new(HashMap::new()),
        pre_login: Mutex::new(admission::PreLoginQueue::default()),
        fd_cap,
        hasher,
        login_settled: tokio::sync::Notify::new(),
        quotas: Mutex::new(HashMap::new()),
        account_rates: Mutex::new(HashMap::new()),
        recounts: Mutex::new(std::collections::HashSet::new()),
        uploads: uploads::Uploads::default(),
        file_links,
        metrics,
        started: std::time::Instant::now(),
        next_session: AtomicU64::new(1),
        next_request: AtomicU64::new(1),
        account_events: std::sync::atomic::AtomicI64::new(account_events),
        draining: CancellationToken::new(),
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
    });
    let weak = Arc::downgrade(&shared);
    std::thread::Builder::new()
        .name("natterd-store".into())
        .spawn(move || deliver_loop(&weak, commits))
        .map_err(|error| StoreError::Thread {
            name: "store",
            error,
        })?;
    Ok(shared)
}

/// Drives the store's commit path and applies each outcome to the hub, in
/// commit order, on the same thread: committed messages are fanned out and
/// acknowledged, failed sends are told, and the completions of write jobs
/// run after the messages committed with them. The store never calls the
/// hub; this loop, which the server owns, is the only way committed work
/// comes back. It ends when the store closes (at [`Store::close`], or once
/// the server is gone and the store with it).
fn deliver_loop(shared: &std::sync::Weak<Shared>, commits: store::Commits) {
    for outcome in commits {
        match outcome {
            store::Outcome::Done(completions) => {
                for done in completions {
                    done();
                }
            }
            store::Outcome::Committed(batch) => {
                if let Some(shared) = shared.upgrade() {
                    shared.hub().deliver(batch);
                }
            }
            store::Outcome::Applied(steps) => {
                if let Some(shared) = shared.upgrade() {
                    shared.hub().apply(steps);
                }
            }
            store::Outcome::Failed(origins) => {
                if let Some(shared) = shared.upgrade() {
                    shared.hub().fail_sends(&origins);
                }
            }
        }
    }
}

/// How often the store is polled for account changes made by the admin CLI
/// (another process): the longest a deleted or suspended account's
/// sessions outlive the command.
const ACCOUNT_POLL: Duration = Duration::from_millis(250);

/// Ends the sessions of accounts whose password changed, or that were
/// deleted or suspended, by this server or by the admin CLI.
async fn watch_accounts(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(ACCOUNT_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let after = shared.account_events.load(Ordering::Relaxed);
        let events = match shared.store.account_events_after(after).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read account events");
                continue;
            }
        };
        for e in events {
            shared.account_events.store(e.id, Ordering::Relaxed);
            apply_account_event(&shared, &e).await;
        }
    }
}

async fn apply_account_event(shared: &Shared, e: &store::AccountEvent) {
    use store::AccountEventKind as K;
    let (code, message) = match e.kind {
        K::Password => (
            ErrorCode::Revoked,
            "your password was changed; log in with the new one",
        ),
        K::Deleted => (ErrorCode::Revoked, "your account was deleted"),
        K::Suspended => (
            ErrorCode::Suspended,
            "your account was suspended by an operator",
        ),
        K::Released => {
            shared.hub().release_name(e.user_id);
            return;
        }
        K::Purged => {
            if let Err(err) = follow_purge(shared, e).await {
                tracing::warn!(error = %err, "cannot follow a purge");
            }
            return;
        }
        K::TokenRevoked => {
            end_revoked(shared, e.user_id).await;
            return;
        }
        K::RoomChanged => {
            // The store holds the new modes already: apply them as they are.
            let Some(id) = e.room_id else { return };
            match shared.store.room_row(id).await {
                Ok(Some(row)) => {
                    shared
                        .hub()
                        .apply_mode(id, Some(row.announce), Some(row.category), "operator");
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "cannot follow a room's new modes"),
            }
            return;
        }
        K::UserAdded | K::RoomAdded | K::MemberAdded => {
            if let Err(err) = follow_room_change(shared, e).await {
                tracing::warn!(error = %err, kind = ?e.kind, "cannot follow an operator change");
            }
            return;
        }
    };
    let mut hub = shared.hub();
    let ended = hub.end_sessions(e.user_id, &code, message, e.spare_session, Some(e.id));
    if e.kind == K::Deleted {
        hub.forget_user(e.user_id);
    }
    drop(hub);
    tracing::info!(user_id = e.user_id, kind = ?e.kind, sessions = ended, "account change applied");
}

/// Ends the sessions of `user` whose token is gone from the store (an
/// operator revoked it): the rest keep going.
async fn end_revoked(shared: &Shared, user: i64) {
    let held = shared.hub().token_sessions(user);
    let days = shared.config().limits.session_token_days;
    for (session, hash) in held {
        match shared.store.token_owner(&hash, days).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                shared.hub().end_session(
                    session,
                    &ErrorCode::Revoked,
                    "the token this session used was revoked",
                );
                tracing::info!(user_id = user, session, "session of a revoked token ended");
            }
            Err(e) => tracing::warn!(error = %e, "cannot check a session's token"),
        }
    }
}

/// Shows a room the erasure of an account's messages (`natterd user del
/// --purge`): the messages the ring holds are deleted for everyone
/// connected, as a moderator's delete is, and the account's files are
/// collected now. Older ones are tombstones in the store already.
async fn follow_purge(shared: &Shared, e: &store::AccountEvent) -> Result<(), StoreError> {
    let Some(room) = e.room_id else {
        return Ok(());
    };
    let Some(floor) = shared.hub().ring_floor(room) else {
        return Ok(());
    };
    let gone = shared.store.purged_messages(room, e.user_id, floor).await?;
    let n = gone.len();
    let steps = gone
        .into_iter()
        .map(|message| {
            store::Applied::Change(Box::new(store::MessageChange {
                message,
                kind: store::ChangeKind::Deleted {
                    by: std::sync::Arc::from("operator"),
                },
            }))
        })
        .collect();
    shared.hub().apply(steps);
    ops::files::collect(shared).await?;
    tracing::info!(
        user_id = e.user_id,
        room_id = room,
        messages = n,
        "purge applied"
    );
    Ok(())
}

/// Brings `user`'s membership of `room`, as the store has it, into the
/// hub now, without waiting for the account watcher to follow the admin
/// CLI's change (a webhook used the moment after `natterd hook add`).
///
/// # Errors
/// When the store cannot be read.
pub async fn follow_membership(shared: &Shared, user: i64, room: i64) -> Result<(), StoreError> {
    let e = store::AccountEvent {
        id: 0,
        user_id: user,
        kind: store::AccountEventKind::MemberAdded,
        spare_session: None,
        room_id: Some(room),
    };
    follow_room_change(shared, &e).await
}

/// Brings a new account, a new room or a new membership that the admin CLI
/// stored into the running hub, so users already connected see it at once.
async fn follow_room_change(shared: &Shared, e: &store::AccountEvent) -> Result<(), StoreError> {
    use store::AccountEventKind as K;
    let cap = hub::ring_cap(&shared.config());
    let (user, room) = (e.user_id, e.room_id);
    // The room, when the hub does not have it yet (new, or never loaded).
    let missing = room.filter(|r| !shared.hub().has_room(*r));
    let snapshot = match missing {
        Some(room) => shared.store.room(room, cap).await?,
        None => None,
    };
    let memberships = if user == 0 {
        Vec::new()
    } else {
        shared.store.memberships(user).await?
    };
    // A bot the admin CLI just made: marked as one from its first
    // appearance.
    let bot = user != 0 && !shared.hub().is_bot(user) && shared.store.is_bot(user).await?;
    let mut hub = shared.hub();
    if bot {
        hub.load_bots([user]);
    }
    if let Some(snapshot) = snapshot {
        hub.add_loaded_room(snapshot);
    }
    for m in &memberships {
        let wanted = match e.kind {
            K::UserAdded => true,
            K::MemberAdded => Some(m.room_id) == room,
            _ => false,
        };
        if wanted {
            hub.admit_member(m);
        }
    }
    drop(hub);
    tracing::info!(user_id = user, room_id = ?room, kind = ?e.kind, "operator change applied");
    Ok(())
}

/// How often old audit entries are deleted.
const AUDIT_PRUNE_EVERY: Duration = Duration::from_hours(1);

/// Deletes audit entries past `audit_retention_days`, at start and hourly.
async fn prune_audit(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(AUDIT_PRUNE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let days = shared.config().audit_retention_days;
        if days == 0 {
            continue;
        }
        let before = store::now_ms() - i64::from(days) * 86_400_000;
        match shared.store.prune_audit(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, days, "old audit entries deleted"),
            Err(e) => tracing::warn!(error = %e, "cannot prune the audit log"),
        }
    }
}

/// How often files nothing refers to are looked for.
const FILE_SWEEP_EVERY: Duration = Duration::from_mins(5);

/// Removes files and blobs nothing refers to any more (after retention, or
/// uploads never attached), and interrupted uploads never resumed, at
/// start and every few minutes. Deletes collect at once, in
/// `ops::edits::delete`.
async fn sweep_files(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(FILE_SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let hours = shared.config().files.unattached_hours;
        let grace = Duration::from_hours(hours);
        match ops::files::collect(&shared).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(blobs = n, "files nothing refers to were removed"),
            Err(e) => tracing::warn!(error = %e, "cannot collect unused files"),
        }
        let blobs = Arc::clone(shared.store.blobs());
        if let Ok(n) = tokio::task::spawn_blocking(move || blobs.sweep_partials(grace)).await
            && n > 0
        {
            tracing::info!(
                uploads = n,
                hours,
                "interrupted uploads never resumed were removed"
            );
        }
    }
}

/// Expires typing indicators that saw no news, and announces presence
/// changes the throttle held back.
async fn hub_ticker(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = std::time::Instant::now();
        let mut hub = shared.hub();
        hub.expire_typing(now);
        hub.flush_presence(now);
    }
}
