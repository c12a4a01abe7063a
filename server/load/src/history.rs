//! S6, history: a fresh room is filled with `messages` messages, then
//! `clients` other users connect, join it and fetch its latest `fetch`
//! messages, all at once. Every page must be exactly the newest messages,
//! oldest first. natter only: IRC keeps no history.
//!
//! Request and reply, as any client does them: this scenario speaks through
//! the client library ([`natter_client::Connection`]), where the fan-out
//! scenarios use the generator's own lean connections (`proto`), which
//! read message bodies straight off the bytes.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use natter_client::{ConnectOptions, Connection};
use natter_shared::{Credential, HistoryQuery};

use crate::measure::{Histogram, ProcSample, sample};
use crate::proto::{Proto, Target};
use crate::provision;

/// Bench user `user`, logged in with its token.
async fn login(target: &Target, user: usize) -> anyhow::Result<Connection> {
    let name = provision::user(user);
    let (conn, _events) = Connection::connect(&target.addr, &ConnectOptions::default())
        .await
        .with_context(|| format!("cannot connect to {}", target.addr))?;
    conn.login(&name, Credential::Token(provision::token(&name)))
        .await
        .with_context(|| format!("{name} cannot log in"))?;
    Ok(conn)
}

/// What S6 measured.
#[derive(Debug, Clone)]
pub struct HistoryReport {
    pub clients: usize,
    /// Join-and-fetch time of each client.
    pub latency: Histogram,
    /// From the first join to the last page.
    pub elapsed: Duration,
    pub server_before: Option<ProcSample>,
    pub server_after: Option<ProcSample>,
}

impl HistoryReport {
    /// Join-and-fetch round trips per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.clients as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs S6 with bench users `0..=clients` (user 0 fills the room).
pub async fn run(
    target: &Target,
    messages: usize,
    clients: usize,
    fetch: u32,
    pid: Option<u32>,
) -> anyhow::Result<HistoryReport> {
    ensure!(
        target.proto == Proto::Natter,
        "S6 needs natter: IRC keeps no history"
    );
    ensure!(
        fetch as usize <= messages,
        "cannot fetch more than the room holds"
    );
    // A fresh room per run, so reruns on one data dir measure the same thing.
    let room = format!("#h{}", crate::now_us() % 1_000_000_000);
    let filler = login(target, 0).await?;
    filler
        .create(&room, false)
        .await
        .context("cannot create the history room")?;
    for seq in 0..messages {
        let body = crate::payload(0, seq as u64, crate::now_us(), 48);
        filler.send_message(&room, &body, false).await?;
    }
    let mut members = Vec::with_capacity(clients);
    for chunk in (1..=clients).collect::<Vec<_>>().chunks(250) {
        let batch =
            futures_util::future::try_join_all(chunk.iter().map(|&u| login(target, u))).await?;
        members.extend(batch);
    }
    let server_before = pid.and_then(|p| sample(p).ok());
    let started = Instant::now();
    let fetches = members.iter().map(|m| {
        let room = room.clone();
        async move {
            let t = Instant::now();
            m.join(&room).await?;
            let query = HistoryQuery {
                before: None,
                after: None,
                limit: fetch,
                ..Default::default()
            };
            let (page, _more) = m.history(&room, query).await?;
            let took = t.elapsed();
            let seqs: Vec<u64> = page
                .iter()
                .filter_map(|m| crate::parse_payload(&m.body).map(|(_, seq, _)| seq))
                .collect();
            let want: Vec<u64> = (messages as u64 - u64::from(fetch)..messages as u64).collect();
            ensure!(
                seqs == want,
                "a history page was not the latest {fetch} messages in order"
            );
            Ok(took)
        }
    });
    let results = futures_util::future::try_join_all(fetches).await?;
    let elapsed = started.elapsed();
    let server_after = pid.and_then(|p| sample(p).ok());
    let mut latency = Histogram::default();
    for took in results {
        latency.record(took.as_micros() as u64);
    }
    drop(filler);
    Ok(HistoryReport {
        clients,
        latency,
        elapsed,
        server_before,
        server_after,
    })
}
