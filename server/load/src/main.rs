//! `natter-load`: parses the command line, runs one scenario and prints its
//! report: readable lines, then one `result:` line of `key=value` pairs for
//! scripts (`server/bench/compare.sh`). Exits non-zero when a message was
//! lost or reordered. The work is in the `natter_load` library.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use natter_load::measure::Histogram;
use natter_load::proto::{Proto, Target};
use natter_load::rooms::{self, Load};
use natter_load::{history, idle, logins, provision, search};

#[derive(Parser)]
#[command(
    name = "natter-load",
    version,
    about = "load generator for natterd (and IRC servers, for comparison)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where to connect and what to watch.
#[derive(Args, Clone)]
struct ServerArgs {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:7878")]
    server: String,
    /// Which protocol it speaks.
    #[arg(long, value_enum, default_value = "natter")]
    proto: Proto,
    /// The server's pid, for its CPU time and RSS.
    #[arg(long)]
    pid: Option<u32>,
    /// IRC: operator NAME:PASSWORD for senders (so they may set +F).
    #[arg(long, value_name = "NAME:PASSWORD")]
    oper: Option<String>,
    /// IRC: log in with PASS USER:TOKEN, the bench tokens of a provisioned
    /// data dir (natterd's IRC listener).
    #[arg(long)]
    irc_token: bool,
}

impl ServerArgs {
    fn target(&self) -> anyhow::Result<Target> {
        let oper = match &self.oper {
            None => None,
            Some(s) => match s.split_once(':') {
                Some((n, p)) => Some((n.to_owned(), p.to_owned())),
                None => bail!("--oper wants NAME:PASSWORD"),
            },
        };
        Ok(Target {
            proto: self.proto,
            addr: self.server.clone(),
            oper,
            irc_token: self.irc_token,
        })
    }
}

/// How long and how big.
#[derive(Args, Clone)]
struct Traffic {
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Message body size, bytes (the header `L sender seq time` is about
    /// 30; natterd refuses bodies over its `max_message_len`).
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u16).range(1..))]
    payload: u16,
}

#[derive(Subcommand)]
enum Command {
    /// Create bench users u0..uN (token logins), #bench (the first 1000) and
    /// #g0.. (100 each), and bench.toml (limits lifted) in the data dir. Run
    /// natterd with `--data-dir DIR --config DIR/bench.toml`.
    Provision {
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Give the first N users a password, for S7.
        #[arg(long, default_value_t = 100)]
        passwords: usize,
    },
    /// Print an ngircd config for the same scenarios: 127.0.0.1:PORT only,
    /// limits lifted, and an operator NAME:PASSWORD for senders (+F).
    NgircdConfig {
        #[arg(long, default_value_t = 6667)]
        port: u16,
        #[arg(
            long,
            value_name = "NAME:PASSWORD",
            default_value = "bench:natter-load-bench"
        )]
        oper: String,
    },
    /// S1, one big room: members, senders with a bounded window, full speed.
    S1 {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        traffic: Traffic,
        #[command(flatten)]
        room: BigRoom,
    },
    /// S10, reactions in one big room: S1's room and senders, each sender
    /// putting its own reaction on one message and taking it off again.
    /// Compare its deliveries/s and CPU per delivery with S1's.
    S10 {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        traffic: Traffic,
        #[command(flatten)]
        room: BigRoom,
    },
    /// S2, many rooms, one sender each: open loop at --rate messages/s per
    /// room, or at full speed with --window.
    S2 {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        traffic: Traffic,
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// Open loop: messages per second per room.
        #[arg(long, conflicts_with = "window")]
        rate: Option<f64>,
        /// Closed loop: unacknowledged sends in flight per sender.
        #[arg(long, default_value_t = 16)]
        window: usize,
    },
    /// S3, latency at moderate load: one room, one sender, open loop.
    S3 {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        traffic: Traffic,
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// Messages per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
    },
    /// S11, chat latency beside a large upload: S3, while bench user
    /// u<members> uploads --file-mib MiB over and over on a transfer
    /// connection. Compare its latency with S3's.
    S11 {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        traffic: Traffic,
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// Messages per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// The file's size, in MiB.
        #[arg(long, default_value_t = 1024)]
        file_mib: u64,
    },
    /// Upload and download throughput of one file on loopback, with
    /// natterd's CPU per MiB (give --pid).
    Files {
        #[command(flatten)]
        server: ServerArgs,
        /// The file's size, in MiB.
        #[arg(long, default_value_t = 256)]
        mib: u64,
    },
    /// S4, idle memory: rooms x members logged in, joined and idle.
    S4 {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// Seconds idle before sampling.
        #[arg(long, default_value_t = 3.0)]
        settle: f64,
    },
    /// S5, slow consumer: S3 with one member that never reads; the others'
    /// latency and the server's memory over time.
    S5 {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        traffic: Traffic,
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// Messages per second.
        #[arg(long, default_value_t = 5000.0)]
        rate: f64,
    },
    /// S6, history: a room of --messages messages; --clients join it and
    /// fetch the latest --fetch at once (natter only).
    S6 {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 1000)]
        messages: usize,
        #[arg(long, default_value_t = 100)]
        clients: usize,
        #[arg(long, default_value_t = 100)]
        fetch: u32,
    },
    /// S7, password logins: RSS after --rounds storms of --accounts
    /// password logins at once, then an honest login's latency from a third
    /// address while --flood connections from two others log in over and
    /// over (natter only; needs `provision --passwords`).
    S7 {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 60)]
        accounts: usize,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        #[arg(long, default_value_t = 150)]
        flood: usize,
        /// Seconds of flood.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
    },
    /// S8, idle sockets: --idle connections that never say hello, then
    /// --logins honest token logins one after another (natter only).
    S8 {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 3000)]
        idle: usize,
        #[arg(long, default_value_t = 50)]
        logins: usize,
    },
    /// Seed a data dir for S9: bench users, rooms #s0.. and --messages
    /// messages written straight into the store (minutes for a million).
    SeedSearch {
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        #[arg(long, default_value_t = 100)]
        rooms: usize,
    },
    /// S9, search: typical searches over a seeded store (`seed-search`),
    /// each --rounds times, one after another; p50/p99 per query (natter
    /// only).
    S9 {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 100)]
        rounds: usize,
        /// Hits per page.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Connect storm: --clients connect and log in by token at once.
    Storm {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 1000)]
        clients: usize,
    },
}

fn us(d: Option<Duration>) -> u128 {
    d.map_or(0, |d| d.as_micros())
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".into(),
        |d| format!("{:.3} ms", d.as_secs_f64() * 1e3),
    )
}

fn latency_line(h: &Histogram) -> String {
    format!(
        "latency p50 {}  p99 {}  p99.9 {}  max {}",
        ms(h.quantile(0.5)),
        ms(h.quantile(0.99)),
        ms(h.quantile(0.999)),
        ms(h.quantile(1.0))
    )
}

fn latency_kv(h: &Histogram) -> String {
    format!(
        "p50_us={} p99_us={} p999_us={}",
        us(h.quantile(0.5)),
        us(h.quantile(0.99)),
        us(h.quantile(0.999))
    )
}

fn traffic(name: &str, server: &ServerArgs, p: &rooms::Params) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let r = runtime.block_on(rooms::run(p))?;
    report(name, server, p, &r)
}

/// Prints a traffic run's figures and its `result:` line.
fn report(
    name: &str,
    server: &ServerArgs,
    p: &rooms::Params,
    r: &rooms::Report,
) -> anyhow::Result<()> {
    println!(
        "{name} {:?}: {} rooms, {} connections, {} s",
        server.proto,
        p.rooms.len(),
        r.connections,
        p.duration.as_secs_f64()
    );
    println!(
        "sent {}  acked {}  deliveries {} of {}",
        r.sent, r.acked, r.deliveries, r.expected
    );
    println!(
        "deliveries/s {:.0}  acked sends/s {:.0}",
        r.rate(),
        r.acked_rate()
    );
    let cpu = r.cpu_us_per_delivery();
    if let Some(cpu) = cpu {
        println!("server cpu/delivery {cpu:.3} us");
    }
    if let Some(a) = r.server_after {
        println!(
            "server rss {:.1} MB (peak {:.1} MB)",
            a.rss as f64 / 1e6,
            r.peak_rss().unwrap_or(a.rss) as f64 / 1e6
        );
    }
    if p.slow_member && !r.rss_series.is_empty() {
        let series: Vec<String> = r
            .rss_series
            .iter()
            .step_by(4)
            .map(|(t, b)| format!("{t:.0}s {:.1}MB", *b as f64 / 1e6))
            .collect();
        println!("server rss over time: {}", series.join(", "));
    }
    println!("{}", latency_line(&r.latency));
    println!(
        "result: scenario={name} proto={:?} deliveries_per_s={:.0} acked_per_s={:.0} cpu_us={:.3} {} rss_kb={} peak_rss_kb={} complete={}",
        server.proto,
        r.rate(),
        r.acked_rate(),
        cpu.unwrap_or(0.0),
        latency_kv(&r.latency),
        r.server_after.map_or(0, |a| a.rss / 1024),
        r.peak_rss().unwrap_or(0) / 1024,
        u8::from(r.complete())
    );
    if !r.complete() {
        bail!(
            "incomplete: {} missing, {} out of order, {} refused, {} of {} delivered",
            r.missing,
            r.reordered,
            r.refused,
            r.deliveries,
            r.expected
        );
    }
    println!("complete and in order");
    Ok(())
}

/// S1's and S10's room: `#bench`'s first `members`, the first `senders`
/// of them sending with a bounded window.
#[derive(Args)]
struct BigRoom {
    #[arg(long, default_value_t = 1000)]
    members: usize,
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Unacknowledged sends (or reactions) in flight per sender.
    #[arg(long, default_value_t = 16)]
    window: usize,
}

/// S1 (messages) or, reacting to `react_to`, S10 (reactions).
fn big_room(
    server: &ServerArgs,
    t: &Traffic,
    room: &BigRoom,
    react_to: Option<u64>,
) -> anyhow::Result<rooms::Params> {
    Ok(rooms::Params {
        target: server.target()?,
        rooms: vec![provision::bench_room(room.members)],
        senders: room.senders,
        load: Load::Window(room.window),
        duration: Duration::from_secs_f64(t.secs),
        payload: usize::from(t.payload),
        pid: server.pid,
        slow_member: false,
        react_to,
    })
}

/// S3 and S5: `#bench`'s first `members`, one open-loop sender.
fn one_sender(
    server: &ServerArgs,
    t: &Traffic,
    members: usize,
    rate: f64,
    slow_member: bool,
) -> anyhow::Result<rooms::Params> {
    Ok(rooms::Params {
        target: server.target()?,
        rooms: vec![provision::bench_room(members)],
        senders: 1,
        load: Load::Rate(rate),
        duration: Duration::from_secs_f64(t.secs),
        payload: usize::from(t.payload),
        pid: server.pid,
        slow_member,
        react_to: None,
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = || tokio::runtime::Runtime::new();
    match cli.command {
        Command::Provision {
            data_dir,
            users,
            passwords,
        } => {
            provision::provision(&data_dir, users, passwords)?;
            println!(
                "provisioned {users} users in {}; run natterd --data-dir {0} --config {0}/bench.toml",
                data_dir.display()
            );
            Ok(())
        }
        Command::NgircdConfig { port, oper } => {
            let Some((name, password)) = oper.split_once(':') else {
                bail!("--oper wants NAME:PASSWORD");
            };
            print!("{}", provision::ngircd_config(port, name, password));
            Ok(())
        }
        Command::S1 {
            server,
            traffic: t,
            room,
        } => traffic("S1", &server, &big_room(&server, &t, &room, None)?),
        Command::S10 {
            server,
            traffic: t,
            room,
        } => {
            if server.proto != Proto::Natter {
                bail!("S10 needs natter: IRC has no reactions to compare");
            }
            let message = runtime()?.block_on(rooms::reaction_target(&server.target()?))?;
            traffic(
                "S10",
                &server,
                &big_room(&server, &t, &room, Some(message))?,
            )
        }
        Command::S2 {
            server,
            traffic: t,
            rooms: n,
            members,
            rate,
            window,
        } => {
            let p = rooms::Params {
                target: server.target()?,
                rooms: provision::group_rooms(n, members),
                senders: 1,
                load: rate.map_or(Load::Window(window), Load::Rate),
                duration: Duration::from_secs_f64(t.secs),
                payload: usize::from(t.payload),
                pid: server.pid,
                slow_member: false,
                react_to: None,
            };
            traffic("S2", &server, &p)
        }
        Command::S3 {
            server,
            traffic: t,
            members,
            rate,
        } => traffic(
            "S3",
            &server,
            &one_sender(&server, &t, members, rate, false)?,
        ),
        Command::S11 {
            server,
            traffic: t,
            members,
            rate,
            file_mib,
        } => {
            if server.proto != Proto::Natter {
                bail!("S11 needs natter: files are natter's");
            }
            let p = one_sender(&server, &t, members, rate, false)?;
            let runtime = runtime()?;
            let stop = tokio_util::sync::CancellationToken::new();
            let (going, started) = tokio::sync::oneshot::channel();
            let addr = server.server.clone();
            let upload_stop = stop.clone();
            // A thread and runtime of its own: the uploader writes and
            // hashes its file between rounds, which must not stall the
            // runtime whose clients measure the latency.
            let uploader = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(natter_load::files::upload_until(
                        &addr,
                        members,
                        file_mib,
                        upload_stop,
                        going,
                    ))
            });
            runtime
                .block_on(started)
                .map_err(|_| anyhow::anyhow!("the upload never started"))?;
            let r = runtime.block_on(rooms::run(&p))?;
            stop.cancel();
            let moved = uploader
                .join()
                .map_err(|_| anyhow::anyhow!("the uploader panicked"))??;
            println!(
                "upload beside it: {:.0} MiB in {:.1} s, {:.0} MiB/s",
                moved.bytes as f64 / 1_048_576.0,
                moved.secs,
                moved.mib_per_s()
            );
            report("S11", &server, &p, &r)
        }
        Command::Files { server, mib } => {
            if server.proto != Proto::Natter {
                bail!("files are natter's");
            }
            let (up, down) = runtime()?.block_on(natter_load::files::throughput(
                &server.server,
                mib,
                server.pid,
            ))?;
            for (what, m) in [("upload", up), ("download", down)] {
                println!(
                    "{what} {mib} MiB: {:.2} s, {:.0} MiB/s{}",
                    m.secs,
                    m.mib_per_s(),
                    m.cpu_ms_per_mib()
                        .map(|c| format!(", natterd cpu {c:.2} ms/MiB"))
                        .unwrap_or_default()
                );
            }
            println!(
                "result: scenario=files mib={mib} up_mib_s={:.0} down_mib_s={:.0} up_cpu_ms_mib={:.2} down_cpu_ms_mib={:.2}",
                up.mib_per_s(),
                down.mib_per_s(),
                up.cpu_ms_per_mib().unwrap_or(0.0),
                down.cpu_ms_per_mib().unwrap_or(0.0)
            );
            Ok(())
        }
        Command::S5 {
            server,
            traffic: t,
            members,
            rate,
        } => traffic(
            "S5",
            &server,
            &one_sender(&server, &t, members, rate, true)?,
        ),
        Command::S4 {
            server,
            rooms: n,
            members,
            settle,
        } => {
            let target = server.target()?;
            let r = runtime()?.block_on(idle::idle(
                &target,
                &provision::group_rooms(n, members),
                server.pid,
                Duration::from_secs_f64(settle),
            ))?;
            println!(
                "S4 {:?}: {} idle connections in {n} rooms, connected in {:.1} s",
                server.proto,
                r.connections,
                r.connecting.as_secs_f64()
            );
            let per = r.rss_per_connection();
            if let Some(per) = per {
                println!(
                    "server rss per connection {:.2} KB (growth over the last {})",
                    per / 1024.0,
                    r.measured
                );
            }
            if let Some(s) = r.sockets_per_connection() {
                println!(
                    "kernel socket memory per connection (both ends) {:.2} KB",
                    s / 1024.0
                );
            }
            println!(
                "result: scenario=S4 proto={:?} rss_per_conn_b={:.0} sock_per_conn_b={:.0} rss_kb={}",
                server.proto,
                per.unwrap_or(0.0),
                r.sockets_per_connection().unwrap_or(0.0),
                r.after.map_or(0, |a| a.rss / 1024)
            );
            Ok(())
        }
        Command::S6 {
            server,
            messages,
            clients,
            fetch,
        } => {
            let target = server.target()?;
            let r =
                runtime()?.block_on(history::run(&target, messages, clients, fetch, server.pid))?;
            println!(
                "S6: {clients} clients joined a room of {messages} messages and fetched the latest {fetch}: all pages exact"
            );
            println!("join+fetch/s {:.0}", r.rate());
            println!("{}", latency_line(&r.latency));
            println!(
                "result: scenario=S6 proto={:?} fetch_per_s={:.0} {}",
                server.proto,
                r.rate(),
                latency_kv(&r.latency)
            );
            Ok(())
        }
        Command::S7 {
            server,
            accounts,
            rounds,
            flood,
            secs,
        } => {
            let r = runtime()?.block_on(logins::run(
                &server.server,
                server.pid,
                accounts,
                rounds,
                flood,
                Duration::from_secs_f64(secs),
            ))?;
            let mb =
                |s: Option<natter_load::measure::ProcSample>| s.map_or(0.0, |s| s.rss as f64 / 1e6);
            let rounds: Vec<String> = r.rounds.iter().map(|s| format!("{:.1}", mb(*s))).collect();
            println!(
                "S7 memory: idle {:.1} MB; after each round of {accounts} password logins at once: {} MB; rested {:.1} MB ({} failed)",
                mb(r.idle),
                rounds.join(", "),
                mb(r.rested),
                r.storm_failures
            );
            println!(
                "S7 flood: {} logins by {flood} connections from two addresses in {:.1} s; an honest login from a third: {} ({} failed)",
                r.flood_logins,
                r.flood_secs,
                latency_line(&r.honest),
                r.honest_failures
            );
            println!(
                "result: scenario=S7 idle_kb={} rested_kb={} growth_kb={} storm_failed={} flood_logins_per_s={:.0} honest_failed={} {}",
                r.idle.map_or(0, |s| s.rss / 1024),
                r.rested.map_or(0, |s| s.rss / 1024),
                r.rested
                    .zip(r.idle)
                    .map_or(0, |(a, b)| a.rss.saturating_sub(b.rss) / 1024),
                r.storm_failures,
                r.flood_logins as f64 / r.flood_secs,
                r.honest_failures,
                latency_kv(&r.honest)
            );
            if r.storm_failures > 0 || r.honest_failures > 0 {
                bail!("some logins failed");
            }
            Ok(())
        }
        Command::S8 {
            server,
            idle,
            logins,
        } => {
            let target = server.target()?;
            let r = runtime()?.block_on(idle::idle_flood(&target, idle, logins))?;
            println!(
                "S8: {} idle sockets open ({} connects failed; the server closed {} of them to make room); {logins} honest logins: {} ({} failed)",
                r.opened,
                r.connect_failed,
                r.closed_by_server,
                latency_line(&r.logins),
                r.login_failures
            );
            println!(
                "result: scenario=S8 idle={} connect_failed={} closed_by_server={} login_failed={} {}",
                r.opened,
                r.connect_failed,
                r.closed_by_server,
                r.login_failures,
                latency_kv(&r.logins)
            );
            if r.login_failures > 0 {
                bail!("some honest logins failed");
            }
            Ok(())
        }
        Command::SeedSearch {
            data_dir,
            messages,
            rooms,
        } => {
            let start = std::time::Instant::now();
            search::seed(&data_dir, messages, rooms)?;
            println!(
                "seeded {messages} messages in {rooms} rooms in {} in {:.1} s; run natterd --data-dir {2} --config {2}/bench.toml",
                data_dir.display(),
                start.elapsed().as_secs_f64(),
                data_dir.display()
            );
            Ok(())
        }
        Command::S9 {
            server,
            rounds,
            limit,
        } => {
            let target = server.target()?;
            let r = runtime()?.block_on(search::run(&target, rounds, limit, server.pid))?;
            println!("S9: {rounds} rounds of each search, pages of {limit}");
            for (label, query, hits, h) in &r.queries {
                println!(
                    "{label:>14} {query:<28} {hits:>3} hits  p50 {}  p99 {}  max {}",
                    ms(h.quantile(0.5)),
                    ms(h.quantile(0.99)),
                    ms(h.quantile(1.0))
                );
            }
            println!("all searches: {}", latency_line(&r.all));
            if let Some(a) = r.server_after {
                println!("server rss {:.1} MB", a.rss as f64 / 1e6);
            }
            println!(
                "result: scenario=S9 proto={:?} {} rss_kb={}",
                server.proto,
                latency_kv(&r.all),
                r.server_after.map_or(0, |a| a.rss / 1024)
            );
            Ok(())
        }
        Command::Storm { server, clients } => {
            let target = server.target()?;
            let r = runtime()?.block_on(idle::storm(&target, clients, server.pid))?;
            println!(
                "storm {:?}: {} of {clients} clients logged in, in {:.3} s",
                server.proto,
                clients - r.failed,
                r.elapsed.as_secs_f64()
            );
            println!("logins/s {:.0}", r.rate());
            if let Some(cpu) = r.cpu_us_per_login() {
                println!("server cpu/login {cpu:.1} us");
            }
            println!("{}", latency_line(&r.latency));
            println!(
                "result: scenario=storm proto={:?} logins_per_s={:.0} {} failed={}",
                server.proto,
                r.rate(),
                latency_kv(&r.latency),
                r.failed
            );
            if r.failed > 0 {
                bail!("{} logins failed", r.failed);
            }
            Ok(())
        }
    }
}
