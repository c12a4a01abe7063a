//! natter and natterd across a bad network of the test's own making: the
//! server in one network namespace, the clients in another, joined by a
//! link that delays, loses and reorders packets, or drops every one of
//! them (a cut: a silent black hole, no RST, no ICMP).
//!
//! - `--send` and `tail` over 300 ms of round trip with 5% loss each way
//!   and reordering: every message arrives once and in order, and the
//!   heartbeat (2 s here) never gives up on the link;
//! - the full-screen client (tmux) over the same link: what it sends is
//!   acknowledged, another user's messages arrive, it stays connected;
//! - the link cut for 90 s: the client notices by its heartbeat, queues
//!   what is written, reconnects by itself once the link is back, sends
//!   the queue once and catches up on what was said meanwhile.
//!
//! # The link
//! `tc netem` would be the natural tool, but this kernel (and CI's, the
//! same kind of machine) is built without it (`CONFIG_NET_SCH_NETEM` is
//! unset). So the link's packets pass through this process instead. Each
//! namespace has a veth uplink into the root namespace, and a VXLAN device
//! over it that carries the natter traffic (10.77.K.1 the server, 10.77.K.2
//! the client). The VXLAN's UDP goes to a relay here, which forwards each
//! Ethernet frame to the other namespace after the link's delay (plus
//! jitter, which reorders frames close together), loses some at random, or
//! drops all while the link is cut. TCP between natter and natterd sees a
//! real lossy, slow, reordering path.
//!
//! Needs root (network namespaces), `ip` and `bridge` (Debian package
//! iproute2), `ethtool` (the VXLAN devices must checksum in software: with
//! checksums left to an offload, frames copied through user space would
//! arrive with the TCP checksum never filled in) and, for the full-screen
//! tests, tmux. Without them each test says why it skips, unless
//! `NATTER_REQUIRE_E2E=1`, where that fails it. natterd is the binary cargo
//! built next to natter (`cargo test --workspace` builds both).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

mod support;
use natter_server::testing::{self, PASSWORD};
use support::{Tmux, have_tmux, signal};

/// natterd's `limits.heartbeat_ms`: short, so a test lives through many.
/// The client declares the link dead when a ping is unanswered for two
/// intervals; natterd drops a client silent for three.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long anything that should happen over the bad link may take.
const WAIT: Duration = Duration::from_mins(1);

/// The impairment of the lossy tests: 150 ms ± 40 ms each way (300 ms of
/// round trip; frames less than 80 ms apart may swap), 5% lost each way.
const LOSSY: Shape = Shape {
    delay: Duration::from_millis(150),
    jitter: Duration::from_millis(40),
    loss: 0.05,
};

/// Skips (or, with `NATTER_REQUIRE_E2E=1`, fails) a test that cannot run
/// here, saying why.
fn skip(why: &str) {
    let _ = testing::skip_unless(false, why);
}

/// Runs `cmd` to completion; its stdout, or what failed.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<String, String> {
    run(Command::new("ip").args(args))
}

/// What the link does to each frame.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// One way.
    delay: Duration,
    /// Each frame's delay is `delay` ± up to this much, uniformly.
    jitter: Duration,
    /// The chance that a frame is lost, one way.
    loss: f64,
}

/// What the relay has done, both ways together.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    forwarded: u64,
    /// Lost to [`Shape::loss`].
    lost: u64,
    /// Dropped while the link was cut.
    cut: u64,
    /// Forwarded before a frame that had arrived ahead of it.
    reordered: u64,
}

/// What the link does now, and what it has done.
#[derive(Debug)]
struct Conditions {
    shape: Shape,
    cut: bool,
    counts: Counts,
}

/// The relay's two threads, one per direction, and what stops them.
#[derive(Debug)]
struct Relay {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// How often a relay thread with nothing queued looks at its stop flag.
const TICK: Duration = Duration::from_millis(50);

/// One direction of the link: frames arriving on `from` go out on `to`
/// to `dest` when their delay is over, unless lost or cut.
fn forward(
    from: &UdpSocket,
    to: &UdpSocket,
    dest: SocketAddr,
    conditions: &Mutex<Conditions>,
    stop: &AtomicBool,
    seed: u64,
) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // (due, arrival number, frame), soonest first.
    let mut queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>> = BinaryHeap::new();
    let mut arrivals = 0;
    // Frames received while the link was up, and lost of them: a lossy
    // link loses at least one of its first 20, whatever the dice say (at
    // 5%, 100 frames pass untouched about once in 170 runs, and then the
    // test would not be testing loss).
    let (mut received, mut lost_here) = (0_u64, 0_u64);
    let mut newest_sent = None;
    let mut buf = vec![0; 65536];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while queue.peek().is_some_and(|Reverse((due, ..))| *due <= now) {
            let Some(Reverse((_, seq, frame))) = queue.pop() else {
                break;
            };
            let overtaken = newest_sent.is_some_and(|n| seq < n);
            if !overtaken {
                newest_sent = Some(seq);
            }
            // A frame the kernel refuses is a lost frame, as on a wire.
            let _ = to.send_to(&frame, dest);
            let mut c = conditions.lock().unwrap();
            c.counts.forwarded += 1;
            c.counts.reordered += u64::from(overtaken);
        }
        let wait = queue.peek().map_or(TICK, |Reverse((due, ..))| {
            due.saturating_duration_since(now)
                .clamp(Duration::from_millis(1), TICK)
        });
        from.set_read_timeout(Some(wait)).unwrap();
        match from.recv_from(&mut buf) {
            Ok((n, _)) => {
                let mut c = conditions.lock().unwrap();
                let lossy = c.shape.loss > 0.0;
                if c.cut {
                    c.counts.cut += 1;
                } else if rng.random_bool(c.shape.loss)
                    || (lossy && lost_here == 0 && received >= 19)
                {
                    received += 1;
                    lost_here += 1;
                    c.counts.lost += 1;
                } else {
                    received += 1;
                    let Shape { delay, jitter, .. } = c.shape;
                    let delay =
                        delay.saturating_sub(jitter) + jitter.mul_f64(2.0 * rng.random::<f64>());
                    queue.push(Reverse((
                        Instant::now() + delay,
                        arrivals,
                        buf[..n].to_vec(),
                    )));
                    arrivals += 1;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => panic!("the relay cannot read: {e}"),
        }
    }
}

/// Two network namespaces, the server's and the client's, joined by a
/// link whose frames pass through this process (see the module doc).
/// Dropping it deletes both namespaces, with their devices.
#[derive(Debug)]
struct Link {
    server_ns: String,
    client_ns: String,
    /// The server's address on the link.
    server_ip: Ipv4Addr,
    conditions: Arc<Mutex<Conditions>>,
    relay: Option<Relay>,
}

/// Numbers the links of this process.
static LINKS: AtomicU8 = AtomicU8::new(0);

/// The VXLAN port inside each namespace.
const VXLAN_PORT: u16 = 4789;

impl Link {
    /// A link with `shape`, or `None` (after saying why) where one cannot
    /// be made.
    fn new(shape: Shape) -> Option<Link> {
        for (tool, flag, package) in [
            ("ip", "-V", "iproute2"),
            ("bridge", "-V", "iproute2"),
            ("ethtool", "--version", "ethtool"),
        ] {
            if !testing::have_tool(tool, &[flag], package) {
                return None;
            }
        }
        sweep_stale();
        let k = LINKS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let mut link = Link {
            server_ns: format!("nt{pid}-{k}s"),
            client_ns: format!("nt{pid}-{k}c"),
            server_ip: Ipv4Addr::new(10, 77, k, 1),
            conditions: Arc::new(Mutex::new(Conditions {
                shape,
                cut: false,
                counts: Counts::default(),
            })),
            relay: None,
        };
        if let Err(e) = ip(&["netns", "add", &link.server_ns]) {
            skip(&format!(
                "cannot create a network namespace (needs root): {e}"
            ));
            return None;
        }
        if let Err(e) = link.build(k) {
            skip(&format!("cannot build the link between namespaces: {e}"));
            return None;
        }
        Some(link)
    }

    fn build(&mut self, number: u8) -> Result<(), String> {
        ip(&["netns", "add", &self.client_ns])?;
        let block = u32::from(free_uplinks(number)?);
        let at = |i: u32| Ipv4Addr::from(block + i);
        let client_ip = Ipv4Addr::new(10, 77, number, 2);
        let mut ends = Vec::new();
        for (ns, inner, outer, on_link) in [
            (&self.server_ns, at(1), at(2), self.server_ip),
            (&self.client_ns, at(5), at(6), client_ip),
        ] {
            let (inner_s, outer_s) = (inner.to_string(), outer.to_string());
            // The uplink: `uplink` inside, named as the namespace outside.
            ip(&[
                "link", "add", ns, "type", "veth", "peer", "name", "uplink", "netns", ns,
            ])?;
            ip(&["addr", "add", &format!("{outer}/30"), "dev", ns])?;
            ip(&["link", "set", "dev", ns, "up"])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{inner}/30"),
                "dev",
                "uplink",
            ])?;
            ip(&["-n", ns, "link", "set", "dev", "uplink", "up"])?;
            ip(&["-n", ns, "link", "set", "dev", "lo", "up"])?;
            // The link itself, a VXLAN whose every frame goes to the relay.
            let port = VXLAN_PORT.to_string();
            ip(&[
                "-n",
                ns,
                "link",
                "add",
                "link0",
                "type",
                "vxlan",
                "id",
                "77",
                "local",
                &inner_s,
                "dstport",
                &port,
                "dev",
                "uplink",
                "nolearning",
            ])?;
            run(Command::new("ip")
                .args(["netns", "exec", ns, "ethtool", "-K", "link0", "tx", "off"]))?;
            let socket = UdpSocket::bind((outer, 0)).map_err(|e| format!("bind {outer}: {e}"))?;
            let relay_port = socket
                .local_addr()
                .map_err(|e| e.to_string())?
                .port()
                .to_string();
            run(Command::new("bridge").args([
                "-n",
                ns,
                "fdb",
                "append",
                "00:00:00:00:00:00",
                "dev",
                "link0",
                "dst",
                &outer_s,
                "port",
                &relay_port,
            ]))?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{on_link}/24"),
                "dev",
                "link0",
            ])?;
            ip(&["-n", ns, "link", "set", "dev", "link0", "up"])?;
            ends.push((socket, SocketAddr::from((inner, VXLAN_PORT))));
        }
        let seed = testing::seed();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (i, (from, to)) in [(0, 1), (1, 0)].into_iter().enumerate() {
            let from = ends[from].0.try_clone().map_err(|e| e.to_string())?;
            let (to, dest) = (
                ends[to].0.try_clone().map_err(|e| e.to_string())?,
                ends[to].1,
            );
            let (conditions, stop) = (Arc::clone(&self.conditions), Arc::clone(&stop));
            threads.push(std::thread::spawn(move || {
                forward(&from, &to, dest, &conditions, &stop, seed + i as u64);
            }));
        }
        self.relay = Some(Relay { stop, threads });
        Ok(())
    }

    /// `program` run inside the server's namespace.
    fn in_server(&self, program: &Path) -> Command {
        in_ns(&self.server_ns, program)
    }

    /// `program` run inside the client's namespace.
    fn in_client(&self, program: &Path) -> Command {
        in_ns(&self.client_ns, program)
    }

    /// Drops every frame, both ways, until [`Link::restore`].
    fn cut(&self) {
        self.conditions.lock().unwrap().cut = true;
    }

    fn restore(&self) {
        self.conditions.lock().unwrap().cut = false;
    }

    fn counts(&self) -> Counts {
        self.conditions.lock().unwrap().counts
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.stop.store(true, Ordering::Relaxed);
            for t in relay.threads {
                let _ = t.join();
            }
        }
        for ns in [&self.server_ns, &self.client_ns] {
            // A process of this test still inside would keep the namespace,
            // and its uplink, alive.
            if let Ok(pids) = ip(&["netns", "pids", ns]) {
                for pid in pids.split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            // The namespace itself may outlive this while the kernel gives
            // up on sockets left mid-close; its uplink goes now.
            let _ = ip(&["link", "del", "dev", ns]);
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

fn in_ns(ns: &str, program: &Path) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(program);
    cmd
}

/// Deletes what earlier runs of these tests left when they died before
/// cleaning up: namespaces and uplinks named `nt{pid}-{k}{s,c}` whose
/// process is gone.
fn sweep_stale() {
    let stale = |name: &str| {
        let Some((pid, rest)) = name.strip_prefix("nt").and_then(|r| r.split_once('-')) else {
            return false;
        };
        let ours = pid.parse::<u32>().is_ok()
            && rest.len() > 1
            && rest[..rest.len() - 1].parse::<u8>().is_ok()
            && (rest.ends_with('s') || rest.ends_with('c'));
        ours && !Path::new("/proc").join(pid).exists()
    };
    let namespaces = ip(&["netns", "list"]).unwrap_or_default();
    for name in namespaces
        .lines()
        .filter_map(|l| l.split_whitespace().next())
    {
        if stale(name) {
            let _ = ip(&["netns", "del", name]);
        }
    }
    // `7: nt123-0s@if2: <...`
    let links = ip(&["-o", "link", "show"]).unwrap_or_default();
    for name in links
        .lines()
        .filter_map(|l| l.split(": ").nth(1)?.split('@').next())
    {
        if stale(name) {
            let _ = ip(&["link", "del", "dev", name]);
        }
    }
}

/// A 10.78.x.y/29 that no address in the root namespace is in, for the two
/// uplinks (.1/.2 the server's, .5/.6 the client's).
fn free_uplinks(k: u8) -> Result<Ipv4Addr, String> {
    let used = ip(&["-o", "-4", "addr", "show"])?;
    let start = std::process::id()
        .wrapping_mul(31)
        .wrapping_add(u32::from(k))
        % 8192;
    (0..8192)
        .map(|i| (start + i) % 8192)
        .map(|i| Ipv4Addr::new(10, 78, (i / 32) as u8, ((i % 32) * 8) as u8))
        .find(|block| {
            let [_, _, c, d] = block.octets();
            !(0..8).any(|i| used.contains(&format!(" 10.78.{c}.{}/", d + i)))
        })
        .ok_or_else(|| "no free /29 in 10.78.0.0/16 for the uplinks".to_owned())
}

fn natterd_bin() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_natter")).with_file_name("natterd");
    assert!(
        path.exists(),
        "{} is missing: run the suite with `cargo test --workspace`, which builds natterd too",
        path.display()
    );
    path
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// natterd in the server's namespace, a link to it, and a temp dir for the
/// data and the clients' homes. Fields drop in order: natterd, then the
/// link.
struct Rig {
    _natterd: Proc,
    log: PathBuf,
    data: PathBuf,
    /// natterd's address on the link.
    addr: String,
    link: Link,
    tmp: tempfile::TempDir,
}

impl Rig {
    /// natterd with accounts `users`, over a link with `shape`; `None` where
    /// the link cannot be made.
    fn start(users: &[&str], shape: Shape) -> Option<Rig> {
        let natterd = natterd_bin();
        let link = Link::new(shape)?;
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        testing::add_users(&data, users);
        let addr = format!("{}:7878", link.server_ip);
        let config = tmp.path().join("natterd.toml");
        fs::write(
            &config,
            format!(
                "listen = \"{addr}\"\n[log]\nlevel = \"info\"\n[limits]\nheartbeat_ms = {}\nrequests_per_sec = 100000.0\nrequest_burst = 100000.0\n",
                HEARTBEAT.as_millis()
            ),
        )
        .unwrap();
        let log = tmp.path().join("natterd.log");
        let child = link
            .in_server(&natterd)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .env_clear()
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("ip netns exec natterd starts");
        let mut natterd = Proc(child);
        let started = Instant::now();
        while !fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("natterd listening")
        {
            if let Ok(Some(status)) = natterd.0.try_wait() {
                panic!(
                    "natterd exited at start: {status}\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(started.elapsed() < WAIT, "natterd did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Rig {
            _natterd: natterd,
            log,
            data,
            addr,
            link,
            tmp,
        })
    }

    fn home(&self, user: &str) -> PathBuf {
        let home = self.tmp.path().join("home").join(user);
        fs::create_dir_all(home.join("config")).unwrap();
        home
    }

    /// `natter ARGS` as `user`, on the client's side of the link.
    fn client(&self, user: &str, args: &[&str]) -> Command {
        let cmd = self.link.in_client(Path::new(env!("CARGO_BIN_EXE_natter")));
        self.natter(cmd, user, args)
    }

    /// `natter ARGS` as `user`, on the server's side of the link (no loss).
    fn server_side(&self, user: &str, args: &[&str]) -> Command {
        let cmd = self.link.in_server(Path::new(env!("CARGO_BIN_EXE_natter")));
        self.natter(cmd, user, args)
    }

    fn natter(&self, mut cmd: Command, user: &str, args: &[&str]) -> Command {
        let home = self.home(user);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("HOME", home)
            .env("NATTER_SERVER", &self.addr)
            .env("NATTER_USER", user)
            .env("NATTER_PASSWORD", PASSWORD)
            .env("NATTER_KEYRING", "none")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// `natter --send ROOM BODY` as `user`, from `side` ([`Rig::client`] or
    /// [`Rig::server_side`]); the body goes on stdin when it has several
    /// lines. Panics unless it exits 0.
    fn send(&self, side: fn(&Rig, &str, &[&str]) -> Command, user: &str, room: &str, body: &str) {
        let out = if body.contains('\n') {
            finish(side(self, user, &["--send", room]), Some(body))
        } else {
            finish(side(self, user, &["--send", room, body]), None)
        };
        assert_eq!(
            out.status.code(),
            Some(0),
            "natter --send {room} {body:?} as {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The room's messages in the store, `(author, body)` oldest first.
    fn stored(&self, room: &str) -> Vec<(String, String)> {
        let db = rusqlite::Connection::open(self.data.join("natter.db")).unwrap();
        let mut stmt = db
            .prepare(
                "SELECT m.author, m.body FROM messages m JOIN rooms r ON r.id = m.room_id \
                 WHERE r.name = ?1 ORDER BY m.id",
            )
            .unwrap();
        stmt.query_map([room.trim_start_matches('#')], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// natterd's log so far.
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap()
    }

    /// How often natterd logged `user` in: once per connection.
    fn logins(&self, user: &str) -> usize {
        let needle = format!("user=\"{user}\"");
        self.log()
            .lines()
            .filter(|l| l.contains("logged in") && l.contains(&needle))
            .count()
    }

    /// Prints what the link did and how long the test took, then returns
    /// the counts.
    fn report(&self, started: Instant) -> Counts {
        let c = self.link.counts();
        println!(
            "{:.1} s; link: {} frames forwarded, {} lost, {} reordered, {} dropped by the cut",
            started.elapsed().as_secs_f64(),
            c.forwarded,
            c.lost,
            c.reordered,
            c.cut
        );
        c
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // A failure is easier to read with the server's side of it.
        if std::thread::panicking() {
            eprintln!(
                "natterd's log:\n{}\nthe link: {:?}",
                fs::read_to_string(&self.log).unwrap_or_default(),
                self.link.counts()
            );
        }
    }
}

/// Runs a command to completion (with `stdin` fed to it), killing it after
/// [`WAIT`].
fn finish(cmd: Command, stdin: Option<&str>) -> Output {
    support::run_within(cmd, stdin, WAIT)
}

/// Lines of a running child's stdout, read on a thread.
struct Lines {
    rx: mpsc::Receiver<String>,
}

impl Lines {
    fn of(child: &mut Child) -> Self {
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { rx }
    }

    /// The next line, or `None` if none comes by `deadline`.
    fn next_by(&self, deadline: Instant) -> Option<String> {
        self.rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .ok()
    }
}

/// One line of `natter tail --json`: `(from, body)`.
fn message(line: &str) -> (String, String) {
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"));
    let field = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {line}"))
            .to_owned()
    };
    (field("from"), field("body"))
}

/// How a child ended, with its stderr, for a failure message.
fn ended(child: &mut Proc) -> String {
    match child.0.try_wait() {
        Ok(Some(status)) => {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.0.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            format!("it exited {status}: {stderr}")
        }
        _ => "it is still running".to_owned(),
    }
}

#[test]
fn lossy_link_send_and_tail() {
    let started = Instant::now();
    let Some(rig) = Rig::start(&["alice", "bob", "carol"], LOSSY) else {
        return;
    };
    // Something for bob's tail to print first: once it has, tail is logged
    // in and subscribed, so nothing sent after can pass it by.
    rig.send(Rig::server_side, "carol", "#general", "before the tail");
    let mut tail = Proc(
        rig.client("bob", &["tail", "#general", "--last", "1", "--json"])
            .spawn()
            .expect("natter tail starts"),
    );
    let lines = Lines::of(&mut tail.0);
    let first = lines
        .next_by(Instant::now() + WAIT)
        .expect("tail prints the history");
    assert_eq!(message(&first), ("carol".into(), "before the tail".into()));

    // Two senders at once over the lossy link, ten messages each, one
    // `natter --send` per message; every fifth comes from stdin, two lines.
    let bodies = |user: &str| -> Vec<String> {
        (1..=10)
            .map(|i| {
                if i % 5 == 0 {
                    format!("{user} {i}\nits second line")
                } else {
                    format!("{user} {i}")
                }
            })
            .collect()
    };
    std::thread::scope(|s| {
        for user in ["alice", "carol"] {
            let (rig, bodies) = (&rig, bodies(user));
            s.spawn(move || {
                for body in &bodies {
                    rig.send(Rig::client, user, "#general", body);
                }
            });
        }
    });

    let deadline = Instant::now() + WAIT;
    let mut received = Vec::new();
    while received.len() < 20 {
        let Some(line) = lines.next_by(deadline) else {
            panic!("tail printed only {received:?}; {}", ended(&mut tail));
        };
        received.push(message(&line));
    }
    // A few heartbeats more: nothing else comes (no duplicate), and tail,
    // which ends when its connection does, is still on its first one.
    let quiet = Instant::now() + HEARTBEAT * 4;
    let extra: Vec<_> = std::iter::from_fn(|| lines.next_by(quiet)).collect();
    assert!(extra.is_empty(), "tail printed more: {extra:?}");
    assert!(
        tail.0.try_wait().unwrap().is_none(),
        "tail ended: {}",
        ended(&mut tail)
    );
    signal(tail.0.id(), "INT");
    let status = tail.0.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut tail.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        status.success() && stderr.is_empty(),
        "tail: {status}: {stderr}"
    );

    // Each message stored once, printed once, in the store's order; each
    // sender's in the order sent.
    let stored = rig.stored("#general");
    assert_eq!(stored[0].1, "before the tail");
    assert_eq!(received, stored[1..], "tail and the store disagree");
    for user in ["alice", "carol"] {
        let theirs: Vec<_> = stored[1..]
            .iter()
            .filter(|(from, _)| from == user)
            .map(|(_, body)| body.clone())
            .collect();
        let want = bodies(user);
        assert_eq!(theirs, want, "{user}'s messages in the store");
    }
    assert_eq!(rig.logins("bob"), 1, "tail logged in once:\n{}", rig.log());
    assert_eq!(
        rig.logins("alice"),
        10,
        "one login per --send:\n{}",
        rig.log()
    );
    let counts = rig.report(started);
    assert!(
        counts.lost > 0 && counts.reordered > 0,
        "the link lost or reordered nothing: {counts:?}"
    );
}

/// The full-screen client as `user` in a tmux of its own (a private `-L`
/// socket, killed on drop), on the client's side of the link.
fn open_tui(rig: &Rig, user: &str) -> Tmux {
    let command = format!(
        "ip netns exec {ns} {natter}",
        ns = rig.link.client_ns,
        natter = support::natter_command(&rig.home(user), user, &rig.addr),
    );
    Tmux::start(
        format!("natter-bn-{}", rig.link.client_ns),
        120,
        40,
        &command,
    )
}

/// Waits up to `limit` until the screen shows `text`; the screen.
fn wait_for(tmux: &Tmux, text: &str, limit: Duration) -> String {
    tmux.wait_until(limit, &format!("{text:?}"), |s| s.contains(text))
}

/// Watches the status line for `period`: it must say connected
/// throughout.
fn stays_connected(tmux: &Tmux, user: &str, period: Duration) {
    let until = Instant::now() + period;
    let online = format!("connected as {user}@");
    while Instant::now() < until {
        let screen = tmux.capture();
        assert!(screen.contains(&online), "the link flapped:\n{screen}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How many lines of `screen` show `user`'s message `body` (after the
/// time: `12:34 alice hello`).
fn shown(screen: &str, user: &str, body: &str) -> usize {
    let needle = format!(" {user} {body}");
    screen.lines().filter(|l| l.contains(&needle)).count()
}

#[test]
fn tui_over_a_lossy_link() {
    let started = Instant::now();
    if !have_tmux() {
        return;
    }
    let Some(rig) = Rig::start(&["alice", "bob"], LOSSY) else {
        return;
    };
    let tmux = open_tui(&rig, "alice");
    wait_for(&tmux, "connected as alice@", WAIT);
    wait_for(&tmux, "│ #general", WAIT);

    // Written one after another, faster than the link acknowledges: each
    // is sent once, in order, and shows as delivered.
    let lines = [
        "over a bad link 1",
        "over a bad link 2",
        "over a bad link 3",
        "over a bad link 4",
    ];
    for line in lines {
        tmux.enter(line);
    }
    tmux.wait_until(WAIT, "every line delivered", |s| {
        lines.iter().all(|l| shown(s, "alice", l) == 1) && !s.contains('⋯')
    });

    // Another user, on the server's side, writes: it arrives.
    for i in 1..=2 {
        rig.send(
            Rig::server_side,
            "bob",
            "#general",
            &format!("bob here {i}"),
        );
    }
    let screen = tmux.wait_until(WAIT, "bob's messages", |s| {
        (1..=2).all(|i| shown(s, "bob", &format!("bob here {i}")) == 1)
    });
    assert!(
        lines.iter().all(|l| shown(&screen, "alice", l) == 1),
        "each line once:\n{screen}"
    );

    // Several heartbeats on the lossy link: no flapping.
    stays_connected(&tmux, "alice", HEARTBEAT * 5);
    let stored = rig.stored("#general");
    let want: Vec<(String, String)> = lines
        .iter()
        .map(|l| ("alice".to_owned(), (*l).to_owned()))
        .chain((1..=2).map(|i| ("bob".to_owned(), format!("bob here {i}"))))
        .collect();
    assert_eq!(stored, want, "the store");
    assert_eq!(
        rig.logins("alice"),
        1,
        "the client logged in once:\n{}",
        rig.log()
    );
    let counts = rig.report(started);
    assert!(
        counts.lost > 0 && counts.reordered > 0,
        "the link lost or reordered nothing: {counts:?}"
    );
}

/// How long the link stays cut.
const CUT: Duration = Duration::from_secs(90);

#[test]
fn link_cut_for_90_s_then_restored() {
    let started = Instant::now();
    if !have_tmux() {
        return;
    }
    let Some(rig) = Rig::start(&["alice", "bob"], LOSSY) else {
        return;
    };
    let tmux = open_tui(&rig, "alice");
    wait_for(&tmux, "connected as alice@", WAIT);
    tmux.enter("before the cut");
    tmux.wait_until(WAIT, "the first line delivered", |s| {
        shown(s, "alice", "before the cut") == 1 && !s.contains('⋯')
    });

    // The link goes silent: no RST, no ICMP. The heartbeat notices.
    rig.link.cut();
    let cut_at = Instant::now();
    wait_for(&tmux, "reconnecting in", WAIT);
    println!("offline after {:.1} s", cut_at.elapsed().as_secs_f64());

    // Written meanwhile: queued, pending.
    let queued = [
        "written in the cut 1",
        "written in the cut 2",
        "written in the cut 3",
    ];
    for line in queued {
        tmux.enter(line);
    }
    tmux.wait_until(WAIT, "the queue pending", |s| {
        queued
            .iter()
            .all(|l| s.lines().any(|row| row.contains(l) && row.contains('⋯')))
    });
    // bob, by the server, talks on.
    let said: Vec<String> = (1..=5).map(|i| format!("said in the cut {i}")).collect();
    for body in &said {
        rig.send(Rig::server_side, "bob", "#general", body);
    }
    std::thread::sleep(CUT.saturating_sub(cut_at.elapsed()));
    let screen = tmux.capture();
    assert!(
        !screen.contains("connected as alice@"),
        "online through a cut link?\n{screen}"
    );

    // The link comes back; the client reconnects by itself (its backoff
    // is at most 30 s, plus a connect attempt), sends the queue once and
    // catches up.
    rig.link.restore();
    let restored_at = Instant::now();
    wait_for(&tmux, "connected as alice@", WAIT + Duration::from_secs(30));
    println!(
        "online {:.1} s after the link came back",
        restored_at.elapsed().as_secs_f64()
    );
    let screen = tmux.wait_until(WAIT, "the queue delivered and the catch-up", |s| {
        !s.contains('⋯')
            && queued.iter().all(|l| shown(s, "alice", l) == 1)
            && said.iter().all(|b| shown(s, "bob", b) == 1)
    });
    // In order: the catch-up, then the queue, as stored.
    let position = |user: &str, body: &str| {
        screen
            .lines()
            .position(|l| l.contains(&format!(" {user} {body}")))
    };
    let order: Vec<_> = said
        .iter()
        .map(|b| position("bob", b))
        .chain(queued.iter().map(|l| position("alice", l)))
        .collect();
    assert!(order.is_sorted(), "out of order:\n{screen}");
    println!("{screen}");
    stays_connected(&tmux, "alice", HEARTBEAT * 3);

    let stored = rig.stored("#general");
    let want: Vec<(String, String)> =
        std::iter::once(("alice".to_owned(), "before the cut".to_owned()))
            .chain(said.iter().map(|b| ("bob".to_owned(), b.clone())))
            .chain(queued.iter().map(|l| ("alice".to_owned(), (*l).to_owned())))
            .collect();
    assert_eq!(stored, want, "the store: each message once");
    assert_eq!(
        rig.logins("alice"),
        2,
        "one login before the cut, one after:\n{}",
        rig.log()
    );
    let counts = rig.report(started);
    assert!(counts.cut > 0, "the cut dropped nothing: {counts:?}");
}
