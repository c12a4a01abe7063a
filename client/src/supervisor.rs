//! A connection that comes back: dial, hello, log in, forward events, and
//! when the link drops wait (exponential backoff with jitter) and do it all
//! again, logging in with the session token.
//!
//! Given several servers (`a:7878,b:7878`, the nodes of one cluster), each
//! attempt tries them all in turn, starting after the one last used: a node
//! that died, or that refused the login for a reason another node may not
//! have (full, shutting down), is the last to be tried again, and the
//! backoff waits only once every node has failed.
//!
//! The TUI runs one [`Supervisor`] and reads [`Update`]s in its event loop:
//! status changes for the status line, and the server's events. On each
//! [`Status::Online`] it gets a fresh [`Connection`] to make requests with
//! (and should fetch what it missed with `History { after }`).

use std::time::Duration;

use natter_shared::{Credential, Event, PresenceChoice, SessionInfo};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::conn::{ConnectOptions, Connection, Disconnect, Incoming};
use crate::error::ClientError;

/// What a supervisor needs to (re)connect.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// `host:port`, or several written `a:7878,b:7878`.
    pub addr: String,
    pub user: String,
    /// How to log in. A password is used once: the token of the resulting
    /// session replaces it, so reconnects do not mint a token each.
    pub credential: Credential,
    /// The presence to log in with, as the user last chose it: every
    /// reconnect restores it before anyone can see the session (see
    /// [`Connection::login_as`]). `None` takes the server's default.
    pub presence: watch::Receiver<Option<PresenceChoice>>,
    pub connect: ConnectOptions,
    pub backoff: Backoff,
    /// How long a link must hold for the backoff to start over (10 s is a
    /// good value): a server that accepts and drops at once keeps backing
    /// off instead of being hammered.
    pub stable_link: Duration,
}

/// The connection's state, as a status line shows it.
#[derive(Debug, Clone)]
pub enum Status {
    /// Dialling; `attempt` counts from 1 since the last success.
    Connecting { attempt: u32 },
    /// Logged in. Use `conn` for requests until the next status change.
    Online {
        conn: Connection,
        session: SessionInfo,
    },
    /// Waiting `retry_in` before the next attempt. `reason` is a few
    /// words for a status line (`connection refused`); `detail` the whole
    /// message, for the log.
    Offline {
        reason: String,
        detail: String,
        retry_in: Duration,
    },
    /// Given up: the credential was rejected (retrying cannot help), or the
    /// handle was dropped.
    Stopped {
        reason: String,
        /// The server refused the credential (`auth_failed`): ask for
        /// another. Decided by the error code, never by the text.
        credential_refused: bool,
    },
}

/// What a supervisor reports.
#[derive(Debug, Clone)]
pub enum Update {
    Status(Status),
    Event(Event),
}

/// Owns the reconnect loop; dropping it stops the loop (and closes the
/// connection).
#[derive(Debug)]
pub struct Supervisor {
    stop: CancellationToken,
    retry: std::sync::Arc<tokio::sync::Notify>,
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Supervisor {
    /// Starts connecting at once. Updates arrive on the returned channel;
    /// the loop also ends when that receiver is dropped.
    #[must_use]
    pub fn spawn(config: SupervisorConfig) -> (Supervisor, mpsc::Receiver<Update>) {
        let (tx, rx) = mpsc::channel(256);
        let stop = CancellationToken::new();
        let child = stop.clone();
        let retry = std::sync::Arc::new(tokio::sync::Notify::new());
        let wake = std::sync::Arc::clone(&retry);
        tokio::spawn(async move {
            tokio::select! {
                () = child.cancelled() => {}
                () = run(config, &tx, &wake) => {}
            }
        });
        (Supervisor { stop, retry }, rx)
    }

    /// Ends the wait before the next attempt now (the user pressed a key).
    pub fn retry_now(&self) {
        // Only wakes a wait in progress: a press while connecting must not
        // skip the wait after the next failure.
        self.retry.notify_waiters();
    }
}

/// Failures that retrying cannot mend: the credential was refused, or the
/// two sides speak different protocols. Everything else (a full server, an
/// internal error, a throttle) is retried.
fn is_final(e: &ClientError) -> bool {
    e.is_auth_failure()
        || matches!(
            e.server_code(),
            Some(natter_shared::ErrorCode::VersionMismatch | natter_shared::ErrorCode::Suspended)
        )
}

/// Why one connected session ended, and how soon to come back.
struct Ended {
    /// A few words, and the whole message.
    reason: String,
    detail: String,
    /// The server asked for at least this long.
    not_before: Option<Duration>,
}

async fn run(mut config: SupervisorConfig, tx: &mpsc::Sender<Update>, retry: &tokio::sync::Notify) {
    let mut backoff = config.backoff.clone();
    let mut attempt = 1;
    // Where the next attempt starts in the list of servers.
    let mut start = 0;
    loop {
        if tx
            .send(Update::Status(Status::Connecting { attempt }))
            .await
            .is_err()
        {
            return;
        }
        let started = tokio::time::Instant::now();
        let (outcome, reached) = session(&mut config, start, tx).await;
        if let Some(node) = reached {
            start = node + 1;
        }
        let ended = match outcome {
            Outcome::ReceiverGone => return,
            Outcome::Ended(ended) => {
                // A link that held starts the next outage on a fresh
                // schedule; one dropped at once (a server that accepts and
                // then fails) keeps backing off.
                if started.elapsed() >= config.stable_link {
                    backoff.reset();
                    attempt = 1;
                } else {
                    attempt += 1;
                }
                ended
            }
            Outcome::Failed(e) if is_final(&e) => {
                let _ = tx
                    .send(Update::Status(Status::Stopped {
                        reason: e.to_string(),
                        credential_refused: e.is_auth_failure(),
                    }))
                    .await;
                return;
            }
            Outcome::Failed(e) => {
                attempt += 1;
                // A throttled or rate-limited login says when to come back.
                let not_before = match &e {
                    ClientError::Server(reply) => reply.retry_after_ms.map(Duration::from_millis),
                    _ => None,
                };
                Ended {
                    reason: e.brief(),
                    detail: e.to_string(),
                    not_before,
                }
            }
        };
        // What the server asks for is honoured, up to an hour.
        let retry_in = backoff.next_delay().max(
            ended
                .not_before
                .unwrap_or_default()
                .min(Duration::from_hours(1)),
        );
        tracing::info!(reason = %ended.detail, ?retry_in, "offline");
        let status = Status::Offline {
            reason: ended.reason,
            detail: ended.detail,
            retry_in,
        };
        if tx.send(Update::Status(status)).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(retry_in) => {}
            () = retry.notified() => {}
        }
    }
}

enum Outcome {
    /// Nobody listens any more: stop.
    ReceiverGone,
    /// Was online, then the connection ended.
    Ended(Ended),
    /// Could not get online.
    Failed(ClientError),
}

/// One connection's life, and which server it reached, if any.
async fn session(
    config: &mut SupervisorConfig,
    start: usize,
    tx: &mpsc::Sender<Update>,
) -> (Outcome, Option<usize>) {
    let (conn, events) = match Connection::connect_from(&config.addr, start, &config.connect).await
    {
        Ok(c) => c,
        Err(e) => return (Outcome::Failed(e), None),
    };
    let node = conn.node();
    (online(config, conn, events, tx).await, Some(node))
}

/// Logged in on `conn`, forwarding its events until it ends.
async fn online(
    config: &mut SupervisorConfig,
    conn: Connection,
    mut events: crate::conn::Events,
    tx: &mpsc::Sender<Update>,
) -> Outcome {
    let presence = config.presence.borrow().clone();
    let session = match conn
        .login_as(&config.user, config.credential.clone(), presence)
        .await
    {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e),
    };
    if let Some(token) = &session.token {
        config.credential = Credential::Token(token.clone());
    }
    let online = Status::Online {
        conn: conn.clone(),
        session,
    };
    if tx.send(Update::Status(online)).await.is_err() {
        return Outcome::ReceiverGone;
    }
    while let Some(incoming) = events.recv().await {
        match incoming {
            Incoming::Event(ev) => {
                if tx.send(Update::Event(ev)).await.is_err() {
                    return Outcome::ReceiverGone;
                }
            }
            Incoming::Closed(why) => return Outcome::Ended(ended(&why)),
        }
    }
    Outcome::Ended(Ended {
        reason: "connection closed".into(),
        detail: "connection closed".into(),
        not_before: None,
    })
}

fn ended(why: &Disconnect) -> Ended {
    let not_before = match why {
        Disconnect::Notice {
            reconnect_after, ..
        } => *reconnect_after,
        Disconnect::Lost(_) | Disconnect::Local => None,
    };
    Ended {
        reason: why.brief(),
        detail: why.to_string(),
        not_before,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use natter_shared::{
        ClientFrame, ErrorCode, FrameCodec, Request, Response, ServerFrame, decode_client,
    };
    use tokio::net::TcpListener;
    use tokio_util::codec::Framed;

    use super::*;

    fn config(addr: String) -> SupervisorConfig {
        SupervisorConfig {
            addr,
            user: "alice".into(),
            credential: Credential::Password("pw".into()),
            presence: watch::channel(None).1,
            connect: ConnectOptions::default(),
            backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(80)),
            stable_link: Duration::ZERO,
        }
    }

    /// An address nobody listens on.
    async fn dead_addr() -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().to_string()
    }

    async fn next_status(rx: &mut mpsc::Receiver<Update>) -> Status {
        loop {
            let u = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("an update in time")
                .expect("supervisor alive");
            if let Update::Status(s) = u {
                return s;
            }
        }
    }

    #[tokio::test]
    async fn retries_with_doubling_jittered_delays_up_to_the_cap() {
        let (_sup, mut rx) = Supervisor::spawn(config(dead_addr().await));
        let mut delays = Vec::new();
        while delays.len() < 6 {
            match next_status(&mut rx).await {
                Status::Connecting { attempt } => assert_eq!(attempt as usize, delays.len() + 1),
                Status::Offline {
                    retry_in,
                    reason,
                    detail,
                } => {
                    assert_eq!(reason, "connection refused");
                    assert!(detail.contains("cannot connect"), "{detail}");
                    delays.push(retry_in);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        for (d, nominal_ms) in delays.iter().zip([20u64, 40, 80, 80, 80, 80]) {
            let nominal = Duration::from_millis(nominal_ms);
            assert!(*d >= nominal / 2 && *d <= nominal, "{delays:?}");
        }
    }

    /// A minimal natterd stand-in: welcomes, accepts any login (issuing a
    /// token for a password), records the credentials, then closes each
    /// connection with a notice after `close_after`.
    async fn flaky_server(
        listener: TcpListener,
        close_after: Duration,
        seen: mpsc::UnboundedSender<Credential>,
    ) {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut framed = Framed::new(sock, FrameCodec::default());
                while let Some(Ok(payload)) = framed.next().await {
                    let ClientFrame { id, req } = decode_client(&payload).unwrap();
                    let res = match req {
                        Request::Hello { .. } => crate::conn::test_welcome(10_000),
                        Request::Login {
                            user, credential, ..
                        } => {
                            let token = matches!(credential, Credential::Password(_))
                                .then(|| "tok".to_owned());
                            seen.send(credential).unwrap();
                            framed
                                .send(&ServerFrame::Ok {
                                    id,
                                    res: Response::Session(SessionInfo {
                                        user,
                                        admin: false,
                                        token,
                                        rooms: Vec::new(),
                                        blocked: Vec::new(),
                                        invitations: Vec::new(),
                                    }),
                                })
                                .await
                                .unwrap();
                            tokio::time::sleep(close_after).await;
                            let _ = framed
                                .send(&ServerFrame::Event(Event::Closing {
                                    code: ErrorCode::ShuttingDown,
                                    message: "restarting".into(),
                                    reconnect_after_ms: Some(30),
                                }))
                                .await;
                            return;
                        }
                        _ => Response::Pong,
                    };
                    framed.send(&ServerFrame::Ok { id, res }).await.unwrap();
                }
            });
        }
    }

    #[tokio::test]
    async fn reconnects_with_the_token_and_resets_the_backoff() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        tokio::spawn(flaky_server(listener, Duration::from_millis(50), seen_tx));
        let (_sup, mut rx) = Supervisor::spawn(config(addr));
        for round in 0..3 {
            assert!(matches!(
                next_status(&mut rx).await,
                Status::Connecting { attempt: 1 }
            ));
            match next_status(&mut rx).await {
                Status::Online { session, conn } => {
                    assert_eq!(session.user, "alice");
                    assert!(!conn.is_closed());
                }
                other => panic!("round {round}: {other:?}"),
            }
            match next_status(&mut rx).await {
                Status::Offline {
                    reason, retry_in, ..
                } => {
                    assert!(reason.contains("restarting"), "{reason}");
                    // Every session got online, so the backoff stays at its
                    // first step (10-20 ms) and the server's 30 ms hint wins.
                    assert_eq!(retry_in, Duration::from_millis(30));
                }
                other => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!(seen.recv().await, Some(Credential::Password("pw".into())));
        assert_eq!(seen.recv().await, Some(Credential::Token("tok".into())));
        assert_eq!(seen.recv().await, Some(Credential::Token("tok".into())));
    }

    #[tokio::test]
    async fn a_link_that_drops_at_once_keeps_backing_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (seen_tx, _seen) = mpsc::unbounded_channel();
        tokio::spawn(flaky_server(listener, Duration::from_millis(5), seen_tx));
        let mut config = config(addr);
        config.stable_link = Duration::from_mins(1);
        let (_sup, mut rx) = Supervisor::spawn(config);
        let mut attempts = Vec::new();
        while attempts.len() < 3 {
            if let Status::Connecting { attempt } = next_status(&mut rx).await {
                attempts.push(attempt);
            }
        }
        assert_eq!(attempts, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_rejected_credential_stops_the_supervisor() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            let mut framed = Framed::new(sock, FrameCodec::default());
            while let Some(Ok(payload)) = framed.next().await {
                let ClientFrame { id, req } = decode_client(&payload).unwrap();
                let frame = match req {
                    Request::Hello { .. } => ServerFrame::Ok {
                        id,
                        res: crate::conn::test_welcome(10_000),
                    },
                    _ => ServerFrame::Err {
                        id,
                        err: natter_shared::ErrorReply::new(ErrorCode::AuthFailed, "bad token"),
                    },
                };
                framed.send(&frame).await.unwrap();
            }
        });
        let (_sup, mut rx) = Supervisor::spawn(config(addr));
        assert!(matches!(
            next_status(&mut rx).await,
            Status::Connecting { .. }
        ));
        match next_status(&mut rx).await {
            Status::Stopped {
                reason,
                credential_refused,
            } => {
                assert!(reason.contains("authentication failed"), "{reason}");
                assert!(credential_refused);
            }
            other => panic!("{other:?}"),
        }
        assert!(rx.recv().await.is_none(), "the loop has ended");
    }
}
