//! S9, search: a store seeded directly (not through the protocol, for
//! speed) with `messages` messages spread over `rooms` rooms `#s0..`, whose
//! members are the first [`SEARCHERS`] bench users; then one of them runs
//! typical searches over all its rooms, one after another, and the
//! round-trip time of each is measured (natter only).
//!
//! Bodies are 6 to 16 words from a vocabulary of [`VOCABULARY`] made-up
//! words drawn log-uniformly, so a few words are in most messages and most
//! words in few, as in real chat. One word is rare on purpose
//! ([`RARE`], about one message in 50 000) and one phrase common
//! ([`PHRASE`], one in 200).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, ensure};
use natter_client::{ConnectOptions, Connection};
use natter_server::store;
use natter_shared::{Credential, Request, Response, SearchQuery};

use crate::measure::{Histogram, ProcSample, sample};
use crate::proto::{Proto, Target};
use crate::provision;

/// Bench users in every search room.
pub const SEARCHERS: usize = 10;
/// Distinct words in the seeded bodies.
pub const VOCABULARY: usize = 2000;
/// A word in about one message in 50 000.
pub const RARE: &str = "zanzibar";
/// A phrase in about one message in 200.
pub const PHRASE: &str = "deploy failed";

/// A small deterministic generator (xorshift64*): the same seed gives the
/// same store on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0.0..1.0`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Made-up word `i`: syllables, so the tokenizer sees ordinary words.
#[must_use]
pub fn word(i: usize) -> String {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "da", "fo", "gu", "ha", "ji", "pe",
        "zo",
    ];
    let mut n = i;
    let mut w = String::new();
    loop {
        w.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
        if n == 0 {
            break;
        }
    }
    // Two syllables at least, so no word is a stop-word-like fragment.
    if w.len() < 4 {
        w.push_str("ra");
    }
    w
}

/// One body.
fn body(rng: &mut Rng) -> String {
    let words = 6 + rng.below(11);
    let mut b = Vec::with_capacity(words + 2);
    for _ in 0..words {
        // Log-uniform over the vocabulary: word 0 in most messages.
        let x = ((VOCABULARY + 1) as f64).powf(rng.unit()).floor();
        #[allow(clippy::cast_sign_loss)] // at least 1.0
        let i = (x as usize).saturating_sub(1);
        b.push(word(i.min(VOCABULARY - 1)));
    }
    if rng.below(200) == 0 {
        let at = rng.below(b.len());
        b.insert(at, PHRASE.to_owned());
    }
    if rng.below(50_000) == 0 {
        let at = rng.below(b.len());
        b.insert(at, RARE.to_owned());
    }
    b.join(" ")
}

/// Seeds `data_dir`: the bench users (see [`provision::provision`]), rooms
/// `#s0..#s{rooms-1}` with the first [`SEARCHERS`] users as members, and
/// `messages` messages among them, written in one transaction and indexed
/// for search in bulk in it, as natterd indexes. Sent over the last year.
///
/// # Errors
/// When the store cannot be opened or written.
pub fn seed(data_dir: &Path, messages: usize, rooms: usize) -> anyhow::Result<()> {
    ensure!(rooms > 0, "at least one room");
    provision::provision(data_dir, SEARCHERS, 0)?;
    let mut conn = store::open_db(data_dir)?;
    let tx = conn.transaction()?;
    let mut ids = Vec::with_capacity(rooms);
    for r in 0..rooms {
        let name = format!("s{r}");
        let id = match store::room_by_name(&tx, &name)? {
            Some(room) => room.id,
            None => store::insert_room(&tx, &name, natter_shared::RoomKind::Public)?,
        };
        for u in 0..SEARCHERS {
            let user = store::user_by_name(&tx, &provision::user(u))?
                .context("provisioned user missing")?;
            store::upsert_member(&tx, id, user.id, natter_shared::Role::Member)?;
        }
        ids.push(id);
    }
    let now = store::now_ms();
    let year = 365 * 86_400_000_i64;
    let step = year / i64::try_from(messages.max(1)).unwrap_or(i64::MAX);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    {
        let mut insert = tx.prepare(
            "INSERT INTO messages (room_id, author, ts, body, action) VALUES (?1, ?2, ?3, ?4, 0)",
        )?;
        let mut ts = now - year;
        for _ in 0..messages {
            ts += step;
            insert.execute((
                ids[rng.below(rooms)],
                provision::user(rng.below(SEARCHERS)),
                ts,
                body(&mut rng),
            ))?;
        }
    }
    store::search::index_pending(&tx)?;
    tx.commit()?;
    Ok(())
}

/// The searches S9 times, by name.
#[must_use]
pub fn queries() -> Vec<(&'static str, String)> {
    vec![
        ("common word", word(0)),
        ("rare word", RARE.to_owned()),
        ("phrase", format!("\"{PHRASE}\"")),
        (
            "from+word",
            format!("from:{} {}", provision::user(3), word(5)),
        ),
        ("in+word", format!("in:#s7 {}", word(10))),
        ("in+rare word", format!("in:#s7 {RARE}")),
        ("two words", format!("{} {}", word(2), word(40))),
        (
            "filters only",
            format!("from:{} has:link", provision::user(1)),
        ),
        ("from only", format!("from:{}", provision::user(1))),
        // The worst case: a filter no message passes, checked on every
        // message of the searcher's rooms (no index on times).
        ("no date match", "before:2000-01-01".to_owned()),
    ]
}

/// What S9 measured, per query.
#[derive(Debug, Clone)]
pub struct SearchReport {
    /// Query name, the query, hits on its first page, and its round trips.
    pub queries: Vec<(&'static str, String, usize, Histogram)>,
    /// All round trips together.
    pub all: Histogram,
    pub server_before: Option<ProcSample>,
    pub server_after: Option<ProcSample>,
}

/// Runs S9 as bench user 0: each query `rounds` times, a page of `limit`.
///
/// # Errors
/// When a connection, the login or a search fails.
pub async fn run(
    target: &Target,
    rounds: usize,
    limit: u32,
    pid: Option<u32>,
) -> anyhow::Result<SearchReport> {
    ensure!(
        target.proto == Proto::Natter,
        "S9 needs natter: IRC has no search"
    );
    let name = provision::user(0);
    let (conn, _events) = Connection::connect(&target.addr, &ConnectOptions::default())
        .await
        .with_context(|| format!("cannot connect to {}", target.addr))?;
    conn.login(&name, Credential::Token(provision::token(&name)))
        .await
        .with_context(|| format!("{name} cannot log in"))?;
    let server_before = pid.and_then(|p| sample(p).ok());
    let mut report = SearchReport {
        queries: Vec::new(),
        all: Histogram::default(),
        server_before,
        server_after: None,
    };
    for (label, query) in queries() {
        let mut h = Histogram::default();
        let mut hits = 0;
        for _ in 0..rounds {
            let start = Instant::now();
            let res = conn
                .request(Request::Search(SearchQuery {
                    query: query.clone(),
                    room: None,
                    before: None,
                    limit,
                }))
                .await
                .with_context(|| format!("search {query:?} failed"))?;
            let us = start.elapsed().as_micros() as u64;
            h.record(us);
            report.all.record(us);
            match res {
                Response::Found { hits: found, .. } => hits = found.len(),
                other => anyhow::bail!("search {query:?}: unexpected reply {other:?}"),
            }
        }
        report.queries.push((label, query, hits, h));
    }
    report.server_after = pid.and_then(|p| sample(p).ok());
    Ok(report)
}
