//! `natter-load`: parses the command line and prints a scenario's report.
//! The work is in the `natter_load` library.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Parser, Subcommand};
use natter_load::{provision, s1};

#[derive(Parser)]
#[command(name = "natter-load", version, about = "load generator for natterd")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create bench users u0..uN (token logins) in #bench, and bench.toml
    /// (limits lifted) in the data dir. Run natterd with
    /// `--data-dir DIR --config DIR/bench.toml`.
    Provision {
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 1000)]
        users: usize,
    },
    /// S1, one big room: members, senders with a bounded window, at full
    /// speed.
    S1 {
        #[arg(long, default_value = "127.0.0.1:7878")]
        server: String,
        /// natterd's pid, for its CPU time and RSS.
        #[arg(long)]
        pid: Option<u32>,
        #[arg(long, default_value_t = 1000)]
        members: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Unacknowledged sends in flight per sender.
        #[arg(long, default_value_t = 16)]
        window: usize,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Message body size, bytes.
        #[arg(long, default_value_t = 48)]
        payload: usize,
    },
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".into(),
        |d| format!("{:.2} ms", d.as_secs_f64() * 1e3),
    )
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Provision { data_dir, users } => {
            provision::provision(&data_dir, users)?;
            println!(
                "provisioned {users} users in {}; run natterd --data-dir {0} --config {0}/bench.toml",
                data_dir.display()
            );
            Ok(())
        }
        Command::S1 {
            server,
            pid,
            members,
            senders,
            window,
            secs,
            payload,
        } => {
            let params = s1::Params {
                server,
                members,
                senders,
                window,
                duration: Duration::from_secs_f64(secs),
                payload,
                pid,
            };
            let runtime = tokio::runtime::Runtime::new()?;
            let r = runtime.block_on(s1::run(&params))?;
            println!("S1 {members} members, {senders} senders, window {window}, {secs} s");
            println!(
                "sent {}  deliveries {} of {}",
                r.sent, r.deliveries, r.expected
            );
            println!("deliveries/s {:.0}", r.rate());
            if let Some(cpu) = r.cpu_us_per_delivery() {
                println!("server cpu/delivery {cpu:.3} us");
            }
            if let Some(a) = r.server_after {
                println!("server rss {:.1} MB", a.rss as f64 / 1e6);
            }
            println!(
                "latency p50 {}  p99 {}  p99.9 {}",
                ms(r.p50),
                ms(r.p99),
                ms(r.p999)
            );
            if !r.complete() {
                bail!(
                    "incomplete: {} missing, {} out of order",
                    r.missing,
                    r.reordered
                );
            }
            println!("complete and in order");
            Ok(())
        }
    }
}
