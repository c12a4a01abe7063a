//! Memory of the client with 100,000 messages loaded: loads them into the
//! app state as history pages (as the network path does), draws one frame
//! on a 120x40 `TestBackend`, and prints the process's resident set size
//! (`VmRSS` from `/proc/self/status`) before and after. Target: at most
//! 40 MB with 100,000 messages.
//!
//! Pages arrive as catch-up pages after the oldest (the default) or, with
//! `--older`, newest first as scrolling up fetches them.
//!
//! Run: `cargo run --release -p natter --example rss_100k [-- MESSAGES]
//! [--older]`.

#[path = "../benches/support/mod.rs"]
mod support;

use std::time::Instant;

use natter::ui::{self, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// A line of `/proc/self/status`, in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let load = if args.iter().any(|a| a == "--older") {
        support::Load::Older
    } else {
        support::Load::CatchUp
    };
    let before = status_kb("VmRSS");
    let start = Instant::now();
    let app = support::loaded_app(n, false, load);
    let load_time = start.elapsed();
    let loaded = status_kb("VmRSS");
    let (w, h) = support::SIZE;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
    let start = Instant::now();
    terminal
        .draw(|f| ui::draw(f, &app, &Theme::default(), Instant::now()))
        .expect("a frame draws");
    let draw = start.elapsed();
    let after = status_kb("VmRSS");
    let entries = app.room().map_or(0, |r| r.entries.len());
    println!("messages loaded:      {entries} ({load:?} pages)");
    println!(
        "load time:            {:.1} ms",
        load_time.as_secs_f64() * 1e3
    );
    println!("first frame:          {:.3} ms", draw.as_secs_f64() * 1e3);
    println!("VmRSS at start:       {:.1} MB", mb(before));
    println!("VmRSS loaded:         {:.1} MB", mb(loaded));
    println!("VmRSS after a frame:  {:.1} MB", mb(after));
    println!("VmHWM (peak):         {:.1} MB", mb(status_kb("VmHWM")));
    println!(
        "per message:          {:.0} B",
        (after.saturating_sub(before) * 1024) as f64 / entries.max(1) as f64
    );
    // Keep the state alive until measured.
    drop(app);
}
