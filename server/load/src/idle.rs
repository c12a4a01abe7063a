//! S4, idle memory: many connections logged in and joined, then nothing;
//! what each costs the server in RSS, with the kernel's socket memory
//! reported apart. The cost is marginal: the server is sampled with half
//! the members in and again with all of them, so start-up, caches warming
//! and allocator arenas (fixed costs) do not count per connection. And the connect storm: many clients connecting and
//! logging in at once.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::measure::{Histogram, ProcSample, sample, tcp_socket_memory};
use crate::proto::{self, Target};
use crate::rooms::{RoomPlan, connect_each};

/// What S4 measured.
#[derive(Debug, Clone)]
pub struct IdleReport {
    pub connections: usize,
    /// Connections made between the two samples.
    pub measured: usize,
    pub before: Option<ProcSample>,
    pub after: Option<ProcSample>,
    /// Kernel TCP memory before and after, bytes.
    pub sockets_before: Option<u64>,
    pub sockets_after: Option<u64>,
    /// How long connecting everyone took.
    pub connecting: Duration,
}

impl IdleReport {
    /// Server RSS per idle connection, bytes.
    #[must_use]
    pub fn rss_per_connection(&self) -> Option<f64> {
        let grown = self.after?.rss.checked_sub(self.before?.rss)?;
        Some(grown as f64 / self.measured.max(1) as f64)
    }

    /// Kernel socket memory per connection (both ends on loopback), bytes.
    #[must_use]
    pub fn sockets_per_connection(&self) -> Option<f64> {
        let grown = self.sockets_after?.saturating_sub(self.sockets_before?);
        Some(grown as f64 / self.measured.max(1) as f64)
    }
}

/// Connects every member of `rooms`, lets the presence traffic settle for
/// `settle`, and samples the server.
pub async fn idle(
    target: &Target,
    rooms: &[RoomPlan],
    pid: Option<u32>,
    settle: Duration,
) -> anyhow::Result<IdleReport> {
    let who: Vec<_> = rooms
        .iter()
        .flat_map(|r| r.users.iter().map(|&u| (u, vec![r.name.clone()], false)))
        .collect();
    let (first, second) = who.split_at(who.len() / 2);
    // Members read (and discard) from the moment they are in, so that
    // presence events do not pile up in the server while others log in.
    let stop = CancellationToken::new();
    let started = Instant::now();
    let reading = |_, m: proto::Member| {
        let (mut reader, stop) = (m.reader, stop.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    more = reader.fill() => {
                        if !matches!(more, Ok(true)) || reader.drain(|_| {}).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        (m.writer, task)
    };
    let mut members = connect_each(target, first, &reading).await?;
    tokio::time::sleep(settle).await;
    let before = pid.and_then(|p| sample(p).ok());
    let sockets_before = tcp_socket_memory().ok();
    members.extend(connect_each(target, second, &reading).await?);
    let connecting = started.elapsed();
    tokio::time::sleep(settle).await;
    let after = pid.and_then(|p| sample(p).ok());
    let sockets_after = tcp_socket_memory().ok();
    stop.cancel();
    let (keep, readers): (Vec<_>, Vec<_>) = members.into_iter().unzip();
    for r in readers {
        r.await?;
    }
    drop(keep);
    Ok(IdleReport {
        connections: who.len(),
        measured: second.len(),
        before,
        after,
        sockets_before,
        sockets_after,
        connecting,
    })
}

/// What the connect storm measured.
#[derive(Debug, Clone)]
pub struct StormReport {
    pub clients: usize,
    pub failed: usize,
    /// From the first connect to the last login.
    pub elapsed: Duration,
    /// Each client's connect-to-logged-in time.
    pub latency: Histogram,
    pub server_before: Option<ProcSample>,
    pub server_after: Option<ProcSample>,
}

impl StormReport {
    /// Logins per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        (self.clients - self.failed) as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU microseconds per login.
    #[must_use]
    pub fn cpu_us_per_login(&self) -> Option<f64> {
        let cpu = self
            .server_after?
            .cpu
            .checked_sub(self.server_before?.cpu)?;
        Some(cpu.as_secs_f64() * 1e6 / (self.clients - self.failed).max(1) as f64)
    }
}

/// Users `0..clients` connect and log in all at once.
pub async fn storm(
    target: &Target,
    clients: usize,
    pid: Option<u32>,
) -> anyhow::Result<StormReport> {
    let server_before = pid.and_then(|p| sample(p).ok());
    let started = Instant::now();
    let attempts = (0..clients).map(|u| async move {
        let t = Instant::now();
        let r = proto::connect(target, u, &[], false).await;
        (r, t.elapsed())
    });
    let results = futures_util::future::join_all(attempts).await;
    let elapsed = started.elapsed();
    let server_after = pid.and_then(|p| sample(p).ok());
    let mut latency = Histogram::default();
    let mut failed = 0;
    let mut keep = Vec::new();
    for (r, took) in results {
        match r {
            Ok(m) => {
                latency.record(took.as_micros() as u64);
                keep.push(m);
            }
            Err(e) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("natter-load: a login failed: {e:#}");
                }
            }
        }
    }
    drop(keep);
    Ok(StormReport {
        clients,
        failed,
        elapsed,
        latency,
        server_before,
        server_after,
    })
}

/// What S8 measured.
#[derive(Debug, Clone)]
pub struct IdleFloodReport {
    /// Idle sockets opened (connected), and those the connect failed for.
    pub opened: usize,
    pub connect_failed: usize,
    /// Of the opened ones, those the server had closed (or told to go) by
    /// the end.
    pub closed_by_server: usize,
    /// The honest token logins made meanwhile, one after another.
    pub logins: Histogram,
    pub login_failures: usize,
}

/// S8, idle sockets: `idle` connections that never say hello, from
/// loopback addresses 127.1.x.y (100 per address, the default per-address
/// limit), then `logins` honest token logins one after another while they
/// sit there. Run natterd under a low open-file limit (`prlimit
/// --nofile=1024:1024 natterd ...`) to see the descriptors hold.
///
/// # Errors
/// When the server address is not an IP address and port.
pub async fn idle_flood(
    target: &Target,
    idle: usize,
    logins: usize,
) -> anyhow::Result<IdleFloodReport> {
    let addr: std::net::SocketAddr = target.addr.parse()?;
    let mut sockets = Vec::with_capacity(idle);
    let mut connect_failed = 0;
    for i in 0..idle {
        let group = i / 100;
        let source = std::net::Ipv4Addr::new(
            127,
            1,
            u8::try_from(group / 250).unwrap_or(u8::MAX),
            u8::try_from(group % 250 + 1).unwrap_or(u8::MAX),
        );
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::from((source, 0)))?;
        match tokio::time::timeout(Duration::from_secs(2), socket.connect(addr)).await {
            Ok(Ok(s)) => sockets.push(s),
            _ => connect_failed += 1,
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut latency = Histogram::default();
    let mut login_failures = 0;
    for u in 0..logins {
        let t = Instant::now();
        match tokio::time::timeout(
            Duration::from_secs(10),
            proto::connect(target, u, &[], false),
        )
        .await
        {
            Ok(Ok(_member)) => latency.record(t.elapsed().as_micros() as u64),
            Ok(Err(e)) => {
                login_failures += 1;
                eprintln!("natter-load: an honest login failed: {e:#}");
            }
            Err(_) => {
                login_failures += 1;
                eprintln!("natter-load: an honest login timed out");
            }
        }
    }
    let mut closed_by_server = 0;
    let mut buf = [0u8; 256];
    for s in &sockets {
        match s.try_read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => closed_by_server += 1,
        }
    }
    Ok(IdleFloodReport {
        opened: sockets.len(),
        connect_failed,
        closed_by_server,
        logins: latency,
        login_failures,
    })
}
