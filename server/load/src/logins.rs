//! S7, password logins: what a login storm costs the server in memory, and
//! what a hashing flood does to an honest login from elsewhere.
//!
//! - **Memory.** `accounts` accounts log in by password all at once,
//!   `rounds` times, each on a new connection (`PasswordOnly`, so no tokens
//!   pile up). The server's RSS is sampled idle, after each round and after
//!   a short rest: argon2 needs 19 MiB per hash, and the target is that the
//!   growth stays within (hash threads x 19 MiB) + 50 MB, whatever the storm.
//! - **Fairness.** `flood` connections, half from 127.0.0.2 and half from
//!   127.0.0.3, log into one account by password over and over. Meanwhile
//!   one honest client from 127.0.0.4 logs into another account every
//!   200 ms; its latencies are the figure (target: under 100 ms).
//!
//! Bench accounts have no password until `natter-load provision
//! --passwords N` gives the first N the password [`PASSWORD`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use natter_shared::{
    ClientFrame, Credential, FrameCodec, PROTOCOL_VERSION, Request, ServerFrame, decode_server,
};
use tokio::net::TcpSocket;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::measure::{Histogram, ProcSample, sample};
use crate::provision::user;

/// The password `provision --passwords` gives bench accounts.
pub const PASSWORD: &str = "natter-load password";

/// What S7 measured.
#[derive(Debug, Clone)]
pub struct LoginReport {
    pub idle: Option<ProcSample>,
    /// After each storm round.
    pub rounds: Vec<Option<ProcSample>>,
    /// After the rounds and a rest.
    pub rested: Option<ProcSample>,
    pub storm_failures: usize,
    /// The honest client's login latencies during the flood.
    pub honest: Histogram,
    pub honest_failures: usize,
    /// Logins the flood completed.
    pub flood_logins: usize,
    pub flood_secs: f64,
}

/// One password login on a fresh connection from `source`, closed at once.
async fn login(addr: SocketAddr, source: Option<IpAddr>, name: &str) -> anyhow::Result<()> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("binding {ip}"))?;
    }
    let stream = socket.connect(addr).await?;
    let mut framed = Framed::new(stream, FrameCodec::default());
    let requests = [
        Request::Hello {
            compression: Vec::new(),
            protocol: PROTOCOL_VERSION,
            client: "natter-load".into(),
            client_version: env!("CARGO_PKG_VERSION").into(),
        },
        Request::Login {
            user: name.into(),
            credential: Credential::PasswordOnly(PASSWORD.into()),
            presence: None,
        },
    ];
    for (id, req) in (1..).zip(requests) {
        framed.send(&ClientFrame { id, req }).await?;
        loop {
            let payload = framed
                .next()
                .await
                .context("the server closed the connection")??;
            match decode_server(&payload)? {
                ServerFrame::Ok { id: got, .. } if got == id => break,
                ServerFrame::Err { id: got, err } if got == id => {
                    bail!("{:?}: {}", err.code, err.message)
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Runs S7 against the natterd at `addr` (pid `pid` for its RSS).
///
/// # Errors
/// When `addr` is not an IP address and port.
pub async fn run(
    addr: &str,
    pid: Option<u32>,
    accounts: usize,
    rounds: usize,
    flood: usize,
    flood_for: Duration,
) -> anyhow::Result<LoginReport> {
    let addr: SocketAddr = addr.parse().context("--server must be IP:PORT for S7")?;
    let idle = pid.and_then(|p| sample(p).ok());
    let mut samples = Vec::new();
    let mut storm_failures = 0;
    for _ in 0..rounds {
        let all = (0..accounts).map(|u| async move { login(addr, None, &user(u)).await });
        for r in futures_util::future::join_all(all).await {
            if let Err(e) = r {
                storm_failures += 1;
                if storm_failures <= 3 {
                    eprintln!("natter-load: a storm login failed: {e:#}");
                }
            }
        }
        samples.push(pid.and_then(|p| sample(p).ok()));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rested = pid.and_then(|p| sample(p).ok());

    let stop = CancellationToken::new();
    let done = Arc::new(AtomicUsize::new(0));
    let flooders: Vec<_> = (0..flood)
        .map(|i| {
            let (stop, done) = (stop.clone(), Arc::clone(&done));
            let source = IpAddr::from([127, 0, 0, 2 + u8::from(i % 2 == 1)]);
            tokio::spawn(async move {
                let target = user(0);
                while !stop.is_cancelled() {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        r = login(addr, Some(source), &target) => {
                            if r.is_ok() {
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    // Let the flood fill the queue before the honest client starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flood_started = Instant::now();
    let flooded_before = done.load(Ordering::Relaxed);
    let mut honest = Histogram::default();
    let mut honest_failures = 0;
    let honest_name = user(1);
    while flood_started.elapsed() < flood_for {
        let t = Instant::now();
        match login(addr, Some(IpAddr::from([127, 0, 0, 4])), &honest_name).await {
            Ok(()) => honest.record(t.elapsed().as_micros() as u64),
            Err(e) => {
                honest_failures += 1;
                eprintln!("natter-load: the honest login failed: {e:#}");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let flood_secs = flood_started.elapsed().as_secs_f64();
    let flood_logins = done.load(Ordering::Relaxed) - flooded_before;
    stop.cancel();
    for f in flooders {
        let _ = f.await;
    }
    Ok(LoginReport {
        idle,
        rounds: samples,
        rested,
        storm_failures,
        honest,
        honest_failures,
        flood_logins,
        flood_secs,
    })
}
