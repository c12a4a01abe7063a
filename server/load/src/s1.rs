//! Scenario S1, one big room: `members` connections log in by token (users
//! `u0..`, provisioned into `#bench`), the first `senders` of them post as
//! fast as a window of `window` unacknowledged sends allows, for
//! `duration`. Every member, senders included, receives every message: it
//! checks that each sender's sequence arrives complete and in order and
//! records the latency from the payload's send time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use natter_shared::{
    ClientFrame, Credential, Event, FrameCodec, PROTOCOL_VERSION, Request, Response, ServerFrame,
    decode_server,
};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Semaphore;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::measure::{Histogram, ProcSample, sample};
use crate::provision;

/// S1's parameters.
#[derive(Debug, Clone)]
pub struct Params {
    pub server: String,
    pub members: usize,
    pub senders: usize,
    pub window: usize,
    pub duration: Duration,
    pub payload: usize,
    /// natterd's pid, for CPU and RSS.
    pub pid: Option<u32>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub sent: u64,
    pub deliveries: u64,
    pub expected: u64,
    pub missing: u64,
    pub reordered: u64,
    pub elapsed: Duration,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    pub p999: Option<Duration>,
    pub server_before: Option<ProcSample>,
    pub server_after: Option<ProcSample>,
}

impl Report {
    /// Deliveries per second over the run.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.deliveries as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU microseconds per delivery.
    #[must_use]
    pub fn cpu_us_per_delivery(&self) -> Option<f64> {
        let (a, b) = (self.server_before?, self.server_after?);
        let cpu = b.cpu.checked_sub(a.cpu)?;
        (self.deliveries > 0).then(|| cpu.as_secs_f64() * 1e6 / self.deliveries as f64)
    }

    /// Whether everything arrived, in order.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.missing == 0 && self.reordered == 0 && self.deliveries == self.expected
    }
}

type Reader = FramedRead<OwnedReadHalf, FrameCodec>;
type Writer = FramedWrite<OwnedWriteHalf, FrameCodec>;

async fn next(reader: &mut Reader) -> anyhow::Result<ServerFrame> {
    let payload = reader
        .next()
        .await
        .context("the server closed the connection")??;
    Ok(decode_server(&payload)?)
}

async fn ask(
    reader: &mut Reader,
    writer: &mut Writer,
    id: u64,
    req: Request,
) -> anyhow::Result<Response> {
    writer.send(&ClientFrame { id, req }).await?;
    loop {
        match next(reader).await? {
            ServerFrame::Ok { id: r, res } if r == id => return Ok(res),
            ServerFrame::Err { id: r, err } if r == id => bail!("refused: {err}"),
            _ => {}
        }
    }
}

/// Connects member `i` and logs it in by token.
async fn connect(server: &str, i: usize) -> anyhow::Result<(Reader, Writer)> {
    let stream = TcpStream::connect(server)
        .await
        .with_context(|| format!("cannot connect to {server}"))?;
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    let (mut reader, mut writer) = (
        FramedRead::new(r, FrameCodec::default()),
        FramedWrite::new(w, FrameCodec::default()),
    );
    let hello = Request::Hello {
        protocol: PROTOCOL_VERSION,
        client: "natter-load".into(),
        client_version: env!("CARGO_PKG_VERSION").into(),
    };
    ask(&mut reader, &mut writer, 1, hello).await?;
    let name = provision::user(i);
    let login = Request::Login {
        credential: Credential::Token(provision::token(&name)),
        user: name,
    };
    match ask(&mut reader, &mut writer, 2, login).await? {
        Response::Session(info) if info.rooms.iter().any(|r| r.name == crate::ROOM) => {
            Ok((reader, writer))
        }
        Response::Session(_) => bail!("u{i} is not in {}: provision the data dir", crate::ROOM),
        other => bail!("unexpected login reply {other:?}"),
    }
}

/// One member's view: per sender, the next sequence number expected.
struct Receiver {
    next: Vec<u64>,
    reordered: u64,
}

/// Runs S1.
pub async fn run(p: &Params) -> anyhow::Result<Report> {
    if p.senders == 0 || p.senders > p.members {
        bail!("senders must be between 1 and members");
    }
    let hist = Arc::new(Histogram::default());
    let deliveries = Arc::new(AtomicU64::new(0));
    // Connect in batches: a connect storm is a scenario of its own.
    let mut conns = Vec::with_capacity(p.members);
    for chunk in (0..p.members).collect::<Vec<_>>().chunks(200) {
        let batch =
            futures_util::future::try_join_all(chunk.iter().map(|&i| connect(&p.server, i)))
                .await?;
        conns.extend(batch);
    }
    let mut windows = Vec::new();
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    let stop_reading = tokio_util::sync::CancellationToken::new();
    // Receivers keep their write half open: closing it ends the session.
    let mut idle_writers = Vec::new();
    for (i, (reader, writer)) in conns.into_iter().enumerate() {
        let window = (i < p.senders).then(|| Arc::new(Semaphore::new(p.window)));
        if let Some(w) = &window {
            windows.push(Arc::clone(w));
            writers.push(writer);
        } else {
            idle_writers.push(writer);
        }
        readers.push(tokio::spawn(read_member(
            reader,
            p.senders,
            window,
            Arc::clone(&hist),
            Arc::clone(&deliveries),
            stop_reading.clone(),
        )));
    }

    let before = p.pid.and_then(|pid| sample(pid).ok());
    let started = Instant::now();
    let sending = Arc::new(AtomicBool::new(true));
    let mut senders = Vec::new();
    for (s, (mut writer, window)) in writers.into_iter().zip(windows.iter().cloned()).enumerate() {
        let (sending, len) = (Arc::clone(&sending), p.payload);
        senders.push(tokio::spawn(async move {
            let mut seq = 0u64;
            while sending.load(Ordering::Relaxed) {
                let Ok(permit) = window.acquire().await else {
                    break;
                };
                permit.forget();
                let req = Request::Send {
                    room: crate::ROOM.into(),
                    body: crate::payload(s, seq, len),
                    action: false,
                };
                if writer
                    .send(&ClientFrame { id: 10 + seq, req })
                    .await
                    .is_err()
                {
                    break;
                }
                seq += 1;
            }
            (seq, writer)
        }));
    }
    tokio::time::sleep(p.duration).await;
    sending.store(false, Ordering::Relaxed);
    let mut sent_per_sender = Vec::new();
    let mut keep = Vec::new();
    for t in senders {
        let (seq, writer) = t.await?;
        sent_per_sender.push(seq);
        keep.push(writer);
    }
    let sent: u64 = sent_per_sender.iter().sum();
    let expected = sent * p.members as u64;
    // Drain: wait until every message reached every member, or 10 s of no
    // progress.
    let mut last = 0;
    let mut still = Instant::now();
    loop {
        let now = deliveries.load(Ordering::Relaxed);
        if now >= expected {
            break;
        }
        if now != last {
            last = now;
            still = Instant::now();
        } else if still.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let after = p.pid.and_then(|pid| sample(pid).ok());
    stop_reading.cancel();
    let mut missing = 0;
    let mut reordered = 0;
    for r in readers {
        let view = r.await?;
        reordered += view.reordered;
        for (s, n) in view.next.iter().enumerate() {
            missing += sent_per_sender[s].saturating_sub(*n);
        }
    }
    drop(keep);
    drop(idle_writers);
    let got = deliveries.load(Ordering::Relaxed);
    Ok(Report {
        sent,
        deliveries: got,
        expected,
        missing,
        reordered,
        elapsed,
        p50: hist.quantile(0.5),
        p99: hist.quantile(0.99),
        p999: hist.quantile(0.999),
        server_before: before,
        server_after: after,
    })
}

async fn read_member(
    mut reader: Reader,
    senders: usize,
    window: Option<Arc<Semaphore>>,
    hist: Arc<Histogram>,
    deliveries: Arc<AtomicU64>,
    stop: tokio_util::sync::CancellationToken,
) -> Receiver {
    let mut view = Receiver {
        next: vec![0; senders],
        reordered: 0,
    };
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => break,
            next = reader.next() => next,
        };
        let Some(Ok(payload)) = next else {
            break;
        };
        match decode_server(&payload) {
            Ok(ServerFrame::Event(Event::Message(m))) => {
                if let Some((s, seq, ts)) = crate::parse_payload(&m.body) {
                    hist.record(crate::now_us().saturating_sub(ts));
                    if let Some(next) = view.next.get_mut(s) {
                        if seq == *next {
                            *next += 1;
                        } else {
                            view.reordered += 1;
                            *next = (*next).max(seq + 1);
                        }
                    }
                    deliveries.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(ServerFrame::Ok {
                res: Response::Sent { .. },
                ..
            }) => {
                if let Some(w) = &window {
                    w.add_permits(1);
                }
            }
            Ok(ServerFrame::Err { err, .. }) => {
                eprintln!("natter-load: a send was refused: {err}");
                if let Some(w) = &window {
                    w.add_permits(1);
                }
            }
            _ => {}
        }
    }
    view
}
