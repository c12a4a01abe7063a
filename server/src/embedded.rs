//! natterd inside another process: `natter --local`, the test harness
//! ([`crate::testing`]), the load generator's tests and the fuzzers all run
//! the real server this way, on listeners they bound themselves (port 0),
//! and stop it gracefully.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::{Config, Listeners, ReloadRequest, ServerError};

/// A server running on the current tokio runtime. Dropping it without
/// [`Running::stop`] stops it too, but without waiting for the flush.
#[derive(Debug)]
pub struct Running {
    /// The plain listener's address.
    pub addr: SocketAddr,
    /// The TLS listener's address, when it has one.
    pub tls_addr: Option<SocketAddr>,
    /// The HTTP listener's address, when it has one.
    pub http_addr: Option<SocketAddr>,
    /// The IRC listener's address, when it has one.
    pub irc_addr: Option<SocketAddr>,
    /// The IRC-over-TLS listener's address, when it has one.
    pub irc_tls_addr: Option<SocketAddr>,
    reloads: mpsc::Sender<ReloadRequest>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
}

/// How long [`Running::stop`] waits for the goodbye and the flush.
const STOP_WAIT: Duration = Duration::from_secs(10);

impl Running {
    /// Binds `127.0.0.1:0` and serves `config` there (its `listen` is
    /// ignored); with `irc.listen` set, IRC on another `127.0.0.1:0`; with
    /// `http.listen` set, HTTP on that address.
    ///
    /// # Errors
    /// When the port cannot be bound; a config or store that does not open
    /// ends the server task, which [`Running::stop`] reports.
    pub async fn start(config: Config) -> Result<Self, ServerError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let irc = if config.irc.listen.is_empty() {
            None
        } else {
            Some(tokio::net::TcpListener::bind("127.0.0.1:0").await?)
        };
        // HTTP on the address asked for: the links it serves name it.
        let http = if config.http.listen.is_empty() {
            None
        } else {
            Some(tokio::net::TcpListener::bind(config.http.listen.as_str()).await?)
        };
        Self::start_on(
            Listeners {
                plain: Some(listener),
                irc,
                http,
                ..Listeners::default()
            },
            config,
        )
    }

    /// Serves `config` on listeners bound by the caller. Must be called
    /// within a tokio runtime, which the server then runs on.
    ///
    /// # Errors
    /// When a listener has no address.
    pub fn start_on(listeners: Listeners, config: Config) -> Result<Self, ServerError> {
        let addr = match (&listeners.plain, &listeners.tls) {
            (Some(l), _) | (None, Some(l)) => l.local_addr()?,
            (None, None) => {
                return Err(crate::config::ConfigError::Invalid("no listener".into()).into());
            }
        };
        let tls_addr = listeners
            .tls
            .as_ref()
            .map(tokio::net::TcpListener::local_addr)
            .transpose()?;
        let http_addr = listeners
            .http
            .as_ref()
            .map(tokio::net::TcpListener::local_addr)
            .transpose()?;
        let irc_addr = listeners
            .irc
            .as_ref()
            .map(tokio::net::TcpListener::local_addr)
            .transpose()?;
        let irc_tls_addr = listeners
            .irc_tls
            .as_ref()
            .map(tokio::net::TcpListener::local_addr)
            .transpose()?;
        let (reloads, reload_rx) = mpsc::channel(4);
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(crate::serve(listeners, config, Some(reload_rx), async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            tls_addr,
            http_addr,
            irc_addr,
            irc_tls_addr,
            reloads,
            stop: Some(stop),
            handle: Some(handle),
        })
    }

    /// Where a new config goes, as SIGHUP sends it in natterd.
    #[must_use]
    pub fn reloads(&self) -> mpsc::Sender<ReloadRequest> {
        self.reloads.clone()
    }

    /// Shuts down gracefully (clients are told, the store is flushed) and
    /// waits for it.
    ///
    /// # Errors
    /// The server's own error, if it failed; [`ServerError::Io`] when it
    /// did not stop in time.
    pub async fn stop(&mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(handle) = self.handle.take() else {
            return Ok(());
        };
        match tokio::time::timeout(STOP_WAIT, handle).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(std::io::Error::other(format!("natterd panicked: {join}")).into()),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "natterd did not stop in time",
            )
            .into()),
        }
    }

    /// Ends the server's task at once, without a goodbye: sockets close as
    /// when natterd crashes (for tests of what clients do then).
    pub fn abort(&mut self) {
        self.stop = None;
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }

    /// Whether the server task has ended (it failed, or was stopped).
    #[must_use]
    pub fn has_ended(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }
}
