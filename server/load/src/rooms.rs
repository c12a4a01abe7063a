//! The engine behind the traffic scenarios (S1 one big room, S2 many rooms,
//! S3 latency at moderate load, S5 slow consumer): rooms of members, the
//! first few of each room sending, every member checking what it receives.
//!
//! Two ways to load the server:
//! - [`Load::Window`], closed loop at full speed: each sender keeps at most
//!   `n` unacknowledged messages in flight.
//! - [`Load::Rate`], open loop: each sender's messages are due on a fixed
//!   schedule, sent by one thread with precise sleeps, and each payload
//!   carries its *due* time, not the time it finally left. A server that
//!   stalls therefore shows its stall in every message that queued behind
//!   it (no coordinated omission).
//!
//! Each receiver keeps its own histogram and per-sender sequence check, so
//! the hot path touches no shared state but a per-receiver counter.
//!
//! With [`Params::react_to`] the senders react instead of posting (S10):
//! the same fan-out, measured the same way, so the two compare directly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::measure::{Histogram, ProcSample, sample};
use crate::proto::{self, Incoming, Member, Reader, Target};

/// A room and the bench users in it, in order; the first `senders` send.
#[derive(Debug, Clone)]
pub struct RoomPlan {
    pub name: String,
    pub users: Vec<usize>,
}

/// How senders load the server.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// Closed loop: at most this many unacknowledged messages per sender.
    Window(usize),
    /// Open loop: this many messages per second per sender.
    Rate(f64),
}

/// A traffic run's parameters.
#[derive(Debug, Clone)]
pub struct Params {
    pub target: Target,
    pub rooms: Vec<RoomPlan>,
    /// Senders per room: each room's first members.
    pub senders: usize,
    pub load: Load,
    pub duration: Duration,
    /// Message body size, bytes.
    pub payload: usize,
    /// The server's pid, for its CPU time and memory.
    pub pid: Option<u32>,
    /// S5: the first non-sender of the first room never reads.
    pub slow_member: bool,
    /// S10: instead of messages, each sender puts its own reaction key
    /// (`:rS:`) on this message and takes it off again, in turn (closed
    /// loop only). Receivers check each sender's on/off alternation.
    pub react_to: Option<u64>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub connections: usize,
    pub sent: u64,
    /// Sends the server acknowledged (natter `Sent`; IRC `PONG`s).
    pub acked: u64,
    pub refused: u64,
    pub deliveries: u64,
    pub expected: u64,
    pub missing: u64,
    pub reordered: u64,
    /// From the first send to the last delivery.
    pub elapsed: Duration,
    /// How long senders sent.
    pub sending: Duration,
    pub latency: Histogram,
    pub server_before: Option<ProcSample>,
    pub server_after: Option<ProcSample>,
    /// Server RSS every 250 ms over the run: (seconds, bytes).
    pub rss_series: Vec<(f64, u64)>,
}

impl Report {
    /// Deliveries per second over the run.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.deliveries as f64 / self.elapsed.as_secs_f64()
    }

    /// Acknowledged sends per second while sending.
    #[must_use]
    pub fn acked_rate(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU microseconds per delivery.
    #[must_use]
    pub fn cpu_us_per_delivery(&self) -> Option<f64> {
        let (a, b) = (self.server_before?, self.server_after?);
        let cpu = b.cpu.checked_sub(a.cpu)?;
        (self.deliveries > 0).then(|| cpu.as_secs_f64() * 1e6 / self.deliveries as f64)
    }

    /// The largest server RSS seen.
    #[must_use]
    pub fn peak_rss(&self) -> Option<u64> {
        self.rss_series.iter().map(|&(_, r)| r).max()
    }

    /// Whether everything arrived, in order, and nothing was refused.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.missing == 0
            && self.reordered == 0
            && self.refused == 0
            && self.deliveries == self.expected
    }
}

/// One receiver's findings.
struct View {
    /// Per global sender: the next sequence number expected.
    next: Vec<u64>,
    reordered: u64,
    deliveries: u64,
    acked: u64,
    refused: u64,
    latency: Histogram,
}

/// Who a connection is.
struct Slot {
    room: usize,
    user: usize,
    /// Global sender index.
    sender: Option<usize>,
    slow: bool,
}

/// Connects every member. natterd: 64 at a time, each logged in before the
/// next starts, so the figures after it measure members, not a storm of
/// logins in flight (the connect storm is a scenario of its own). ngircd:
/// TCP connections 16 at a time (its listen backlog is 10, and a dropped
/// SYN costs a second of retransmission), then every registration at once,
/// since it holds each new connection's commands back for 4 s. Each member
/// is handed to `ready` as soon as it is set up, so it can start reading
/// before the others are in: a member that does not read while hundreds of
/// others log in leaves their presence events queued in the server, and
/// the server's memory then measures the generator.
pub async fn connect_each<T>(
    target: &Target,
    who: &[(usize, Vec<String>, bool)],
    ready: impl Fn(usize, Member) -> T,
) -> anyhow::Result<Vec<T>> {
    let ready = &ready;
    let setup = |i: usize, mut m: Member| async move {
        let (user, rooms, sender) = &who[i];
        m.setup(target, *user, rooms, *sender)
            .await
            .with_context(|| format!("setting up u{user}"))?;
        anyhow::Ok(ready(i, m))
    };
    // natterd (either protocol) admits only so many connections that have
    // not logged in yet: 64 at a time, each logged in as soon as it is
    // open. ngircd holds each new connection back for seconds, so there
    // they are all opened first, then registered together.
    let natterd = target.proto == proto::Proto::Natter || target.irc_token;
    if natterd {
        let at_once = Semaphore::new(64);
        let at_once = &at_once;
        futures_util::future::try_join_all((0..who.len()).map(|i| async move {
            let _permit = at_once.acquire().await?;
            setup(i, proto::open(target).await?).await
        }))
        .await
    } else {
        let mut open = Vec::with_capacity(who.len());
        for chunk in who.chunks(16) {
            let batch =
                futures_util::future::try_join_all(chunk.iter().map(|_| proto::open(target)))
                    .await?;
            open.extend(batch);
        }
        futures_util::future::try_join_all(open.into_iter().enumerate().map(|(i, m)| setup(i, m)))
            .await
    }
}

/// Runs one traffic scenario.
pub async fn run(p: &Params) -> anyhow::Result<Report> {
    if p.senders == 0 || p.rooms.iter().any(|r| r.users.len() < p.senders) {
        bail!("every room needs at least {} members", p.senders.max(1));
    }
    if p.slow_member && p.rooms[0].users.len() <= p.senders {
        bail!("a slow member needs a room with more members than senders");
    }
    let proto = p.target.proto;
    let mut slots = Vec::new();
    for (r, room) in p.rooms.iter().enumerate() {
        for (j, &user) in room.users.iter().enumerate() {
            slots.push(Slot {
                room: r,
                user,
                sender: (j < p.senders).then_some(r * p.senders + j),
                slow: p.slow_member && r == 0 && j == p.senders,
            });
        }
    }
    let total_senders = p.rooms.len() * p.senders;
    let who: Vec<_> = slots
        .iter()
        .map(|s| {
            (
                s.user,
                vec![p.rooms[s.room].name.clone()],
                s.sender.is_some(),
            )
        })
        .collect();
    let stop = CancellationToken::new();
    // Each member starts receiving as soon as it is in.
    let joined = connect_each(&p.target, &who, |i, member| {
        join(&slots[i], member, p.load, total_senders, &stop)
    })
    .await?;
    let mut counts = Vec::new();
    let mut acks = Vec::new();
    let mut receivers = Vec::new();
    let mut closed_loop = Vec::new();
    let mut open_loop = Vec::new();
    // Kept open to the end: closing a write half ends the session.
    let mut keep = Vec::new();
    let mut slow_socket = None;
    for (slot, joined) in slots.iter().zip(joined) {
        let Joined { receiver, out } = joined?;
        if let Some((count, acked, task)) = receiver {
            counts.push(count);
            acks.push(acked);
            receivers.push(task);
        }
        match (out, slot.sender) {
            (Out::Closed(writer, window), Some(s)) => {
                closed_loop.push((s, slot.room, writer, window));
            }
            (Out::Open(blocking, w), Some(s)) => {
                keep.push(w);
                open_loop.push((s, slot.room, blocking));
            }
            (Out::Open(_, w) | Out::Idle(w), _) => keep.push(w),
            (Out::Closed(writer, _), None) => keep.push(writer.sock),
            (Out::Slow(m), _) => slow_socket = Some(m),
        }
    }

    let rss_series = p.pid.map(|pid| tokio::spawn(watch_rss(pid, stop.clone())));
    let before = p.pid.and_then(|pid| sample(pid).ok());
    let started = Instant::now();
    let sending = Arc::new(AtomicBool::new(true));
    let stop_sending = CancellationToken::new();
    let mut tasks = Vec::new();
    for (s, room, writer, window) in closed_loop {
        let room = p.rooms[room].name.clone();
        tasks.push(tokio::spawn(send_closed(
            Sender {
                s,
                room,
                len: p.payload,
                react_to: p.react_to,
            },
            writer,
            window,
            Arc::clone(&sending),
            stop_sending.clone(),
        )));
    }
    let thread = match p.load {
        Load::Rate(rate) if !open_loop.is_empty() => {
            let names: Vec<String> = p.rooms.iter().map(|r| r.name.clone()).collect();
            let (duration, len) = (p.duration, p.payload);
            Some(std::thread::spawn(move || {
                send_open(proto, open_loop, &names, rate, duration, len, total_senders)
            }))
        }
        _ => None,
    };
    tokio::time::sleep(p.duration).await;
    sending.store(false, Ordering::Relaxed);
    let mut sent_per_sender = vec![0u64; total_senders];
    if let Some(t) = thread {
        let sent = tokio::task::spawn_blocking(move || t.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the open-loop sender panicked"))??;
        sent_per_sender = sent;
    }
    // A closed-loop sender waiting for acks that never come gives up after
    // the drain window.
    let give_up = {
        let stop_sending = stop_sending.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            stop_sending.cancel();
        })
    };
    for t in tasks {
        let (s, seq, writer) = t.await?;
        sent_per_sender[s] = seq;
        keep.push(writer.sock);
    }
    give_up.abort();
    let sending_for = started.elapsed();

    let mut expected = 0u64;
    for slot in slots.iter().filter(|s| !s.slow) {
        for k in 0..p.senders {
            let s = slot.room * p.senders + k;
            if proto.echoes_own() || slot.sender != Some(s) {
                expected += sent_per_sender[s];
            }
        }
    }
    // Drain: until everything arrived and every send was acknowledged
    // (an IRC server's PONG may trail the last delivery), or 5 s without
    // progress.
    let sent_total: u64 = sent_per_sender.iter().sum();
    let closed = matches!(p.load, Load::Window(_));
    let mut last = (0, 0);
    let mut still = Instant::now();
    let mut elapsed = started.elapsed();
    loop {
        let now: u64 = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        let acked: u64 = acks.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        if (now, acked) != last {
            if now != last.0 {
                elapsed = started.elapsed();
            }
            last = (now, acked);
            still = Instant::now();
        }
        let acks_done = !closed || acked >= sent_total;
        if (now >= expected && acks_done) || still.elapsed() > Duration::from_secs(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let after = p.pid.and_then(|pid| sample(pid).ok());
    stop.cancel();
    let mut report = Report {
        connections: slots.len(),
        sent: sent_per_sender.iter().sum(),
        acked: 0,
        refused: 0,
        deliveries: 0,
        expected,
        missing: 0,
        reordered: 0,
        elapsed,
        sending: sending_for,
        latency: Histogram::default(),
        server_before: before,
        server_after: after,
        rss_series: Vec::new(),
    };
    let live = slots.iter().filter(|s| !s.slow);
    for (slot, r) in live.zip(receivers) {
        let view = r.await?;
        report.reordered += view.reordered;
        report.deliveries += view.deliveries;
        report.acked += view.acked;
        report.refused += view.refused;
        report.latency.merge(&view.latency);
        for k in 0..p.senders {
            let s = slot.room * p.senders + k;
            if proto.echoes_own() || slot.sender != Some(s) {
                report.missing += sent_per_sender[s].saturating_sub(view.next[s]);
            }
        }
    }
    if let Some(t) = rss_series {
        report.rss_series = t.await?;
    }
    drop(keep);
    drop(slow_socket);
    Ok(report)
}

/// Posts the message S10's senders react to, as `u0` in `#bench`, and
/// returns its id.
///
/// # Errors
/// When `u0` cannot log in or the server refuses the message.
pub async fn reaction_target(target: &Target) -> anyhow::Result<u64> {
    let room = crate::provision::bench_room(1).name;
    let mut m = proto::connect(target, 0, std::slice::from_ref(&room), true).await?;
    let req = natter_shared::Request::Send {
        room,
        body: "react to me".into(),
        action: false,
        nonce: None,
        reply_to: None,
        thread: None,
        attention: false,
        files: Vec::new(),
    };
    match proto::ask(&mut m, 3, req).await? {
        natter_shared::Response::Sent { id, .. } => Ok(id),
        other => bail!("unexpected reply to the S10 message: {other:?}"),
    }
}

/// What a member becomes once it is in: its receiver (with the counters of
/// deliveries and acknowledgements the drain loop watches) and what it
/// writes with.
struct Joined {
    receiver: Option<(
        Arc<AtomicU64>,
        Arc<AtomicU64>,
        tokio::task::JoinHandle<View>,
    )>,
    out: Out,
}

enum Out {
    /// A closed-loop sender's writer and window.
    Closed(proto::Writer, Arc<Semaphore>),
    /// An open-loop sender's blocking socket, and the async write half to
    /// keep open.
    Open(std::net::TcpStream, tokio::net::tcp::OwnedWriteHalf),
    /// A receiver's write half, kept open.
    Idle(tokio::net::tcp::OwnedWriteHalf),
    /// S5's member that never reads.
    Slow(Member),
}

fn join(
    slot: &Slot,
    member: Member,
    load: Load,
    total_senders: usize,
    stop: &CancellationToken,
) -> anyhow::Result<Joined> {
    if slot.slow {
        return Ok(Joined {
            receiver: None,
            out: Out::Slow(member),
        });
    }
    let (reader, window, out) = match (slot.sender, load) {
        (Some(_), Load::Rate(_)) => {
            let (reader, w, blocking) = member.split_for_thread()?;
            (reader, None, Out::Open(blocking, w))
        }
        (Some(_), Load::Window(n)) => {
            let window = Arc::new(Semaphore::new(n));
            let out = Out::Closed(member.writer, Arc::clone(&window));
            (member.reader, Some(window), out)
        }
        (None, _) => (member.reader, None, Out::Idle(member.writer.sock)),
    };
    let count = Arc::new(AtomicU64::new(0));
    let acks = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(receive(
        reader,
        total_senders,
        window,
        Arc::clone(&count),
        Arc::clone(&acks),
        stop.clone(),
    ));
    Ok(Joined {
        receiver: Some((count, acks, task)),
        out,
    })
}

async fn receive(
    mut reader: Reader,
    senders: usize,
    window: Option<Arc<Semaphore>>,
    count: Arc<AtomicU64>,
    acks: Arc<AtomicU64>,
    stop: CancellationToken,
) -> View {
    let mut view = View {
        next: vec![0; senders],
        reordered: 0,
        deliveries: 0,
        acked: 0,
        refused: 0,
        latency: Histogram::default(),
    };
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let more = tokio::select! {
            () = &mut stopped => break,
            more = reader.fill() => more,
        };
        if !matches!(more, Ok(true)) {
            break;
        }
        // Everything in one read arrived at the same moment.
        let now = crate::now_us();
        let drained = reader.drain(|incoming| match incoming {
            Incoming::Message(body) => {
                let Some((s, seq, ts)) = crate::parse_payload(body) else {
                    return;
                };
                view.latency.record(now.saturating_sub(ts));
                if let Some(next) = view.next.get_mut(s) {
                    if seq == *next {
                        *next += 1;
                    } else {
                        view.reordered += 1;
                        *next = (*next).max(seq + 1);
                    }
                }
                view.deliveries += 1;
            }
            Incoming::Reaction { key, on } => {
                // `:rS:`: sender S's k-th reaction is on for even k.
                let s = key
                    .strip_prefix(":r")
                    .and_then(|k| k.strip_suffix(':'))
                    .and_then(|k| k.parse::<usize>().ok());
                if let Some(next) = s.and_then(|s| view.next.get_mut(s)) {
                    if on != next.is_multiple_of(2) {
                        view.reordered += 1;
                    }
                    *next += 1;
                }
                view.deliveries += 1;
            }
            Incoming::Acked(n) => {
                view.acked += n as u64;
                if let Some(w) = &window {
                    w.add_permits(n);
                }
            }
            Incoming::Refused(why) => {
                view.refused += 1;
                if view.refused <= 3 {
                    eprintln!("natter-load: the server refused: {why}");
                }
                if let Some(w) = &window {
                    w.add_permits(1);
                }
            }
            Incoming::Other => {}
        });
        count.store(view.deliveries, Ordering::Relaxed);
        acks.store(view.acked, Ordering::Relaxed);
        if let Err(e) = drained {
            eprintln!("natter-load: unreadable input: {e}");
            break;
        }
    }
    view
}

/// Who a closed-loop sender is and what it sends.
struct Sender {
    s: usize,
    room: String,
    /// Message body size.
    len: usize,
    /// React to this message instead of posting (see [`Params::react_to`]).
    react_to: Option<u64>,
}

/// A closed-loop sender: waits for window space, then writes every message
/// the window allows in one write. Returns its index, how many it sent and
/// its writer (to keep the connection open).
async fn send_closed(
    sender: Sender,
    mut writer: proto::Writer,
    window: Arc<Semaphore>,
    sending: Arc<AtomicBool>,
    stop: CancellationToken,
) -> (usize, u64, proto::Writer) {
    let Sender {
        s,
        room,
        len,
        react_to,
    } = sender;
    let key = format!(":r{s}:");
    let mut seq = 0u64;
    while sending.load(Ordering::Relaxed) {
        let permit = tokio::select! {
            p = window.acquire() => p,
            () = stop.cancelled() => break,
        };
        let Ok(permit) = permit else { break };
        permit.forget();
        let mut n = 1;
        while let Ok(p) = window.try_acquire() {
            p.forget();
            n += 1;
        }
        let now = crate::now_us();
        let proto = writer.proto;
        for _ in 0..n {
            if let Some(message) = react_to {
                proto.encode_react(
                    &mut writer.buf,
                    10 + seq,
                    &room,
                    message,
                    &key,
                    seq.is_multiple_of(2),
                );
            } else {
                let body = crate::payload(s, seq, now, len);
                proto.encode_send(&mut writer.buf, 10 + seq, &room, &body);
            }
            seq += 1;
        }
        proto.encode_ack_marker(&mut writer.buf, n);
        if writer.flush().await.is_err() {
            break;
        }
    }
    (s, seq, writer)
}

/// The open-loop senders, all on this thread: each sender's k-th message is
/// due `k / rate` seconds after the start (senders staggered evenly), and
/// carries its due time.
fn send_open(
    proto: proto::Proto,
    senders: Vec<(usize, usize, std::net::TcpStream)>,
    rooms: &[String],
    rate: f64,
    duration: Duration,
    len: usize,
    total: usize,
) -> anyhow::Result<Vec<u64>> {
    if rate <= 0.0 {
        bail!("the rate must be above zero");
    }
    let interval = Duration::from_secs_f64(1.0 / rate);
    let n = senders.len() as u32;
    let mut socks: Vec<_> = senders
        .into_iter()
        .map(|(s, r, sock)| (s, r, sock, 0u64))
        .collect();
    let mut due: BinaryHeap<Reverse<(Duration, usize)>> = (0..socks.len())
        .map(|i| Reverse((interval / n * i as u32, i)))
        .collect();
    let start = Instant::now();
    let start_us = crate::now_us();
    let mut buf = BytesMut::new();
    while let Some(Reverse((at, i))) = due.pop() {
        if at >= duration {
            break;
        }
        if let Some(wait) = at.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let (s, room, sock, seq) = &mut socks[i];
        let body = crate::payload(*s, *seq, start_us + at.as_micros() as u64, len);
        buf.clear();
        proto.encode_send(&mut buf, 10 + *seq, &rooms[*room], &body);
        write_blocking(sock, &buf).context("an open-loop send failed")?;
        *seq += 1;
        due.push(Reverse((at + interval, i)));
    }
    let mut sent = vec![0; total];
    for (s, _, _, seq) in socks {
        sent[s] = seq;
    }
    Ok(sent)
}

/// Writes all of `buf` to a socket that may be non-blocking.
fn write_blocking(sock: &mut std::net::TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match sock.write(buf) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(20));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Samples the server's RSS every 250 ms until `stop`.
async fn watch_rss(pid: u32, stop: CancellationToken) -> Vec<(f64, u64)> {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                if let Ok(s) = sample(pid) {
                    out.push((start.elapsed().as_secs_f64(), s.rss));
                }
            }
        }
    }
    out
}
