//! Crash safety of the real `natterd` binary: several clients send as fast
//! as their window allows while natterd is killed with SIGKILL at random
//! moments, 20 times, restarted each time. Every acknowledged message must
//! be in the store exactly once, with the id it was acknowledged with, in
//! each sender's order; unacknowledged ones may be lost but never stored
//! twice or half; SQLite's integrity check passes.
//!
//! The random seed is printed; `NATTER_CRASH_SEED=N` replays a run.

mod common;

use natter_server::testing::NatterdProcess;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use natter_shared::{
    ClientFrame, Credential, FrameCodec, PROTOCOL_VERSION, Request, Response, ServerFrame,
    decode_server,
};
use rand::{Rng, SeedableRng};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const SENDERS: usize = 4;
const ROUNDS: usize = 20;
/// Sends in flight per sender.
const WINDOW: usize = 16;

/// One frame, or `None` once the connection is gone.
async fn next(framed: &mut Framed<TcpStream, FrameCodec>) -> Option<ServerFrame> {
    let got = tokio::time::timeout(common::WAIT, framed.next())
        .await
        .expect("natterd neither answered nor closed in time");
    match got {
        Some(Ok(payload)) => Some(decode_server(&payload).expect("server frames decode")),
        _ => None,
    }
}

async fn request(
    framed: &mut Framed<TcpStream, FrameCodec>,
    id: u64,
    req: Request,
) -> Option<Response> {
    framed.send(&ClientFrame { id, req }).await.ok()?;
    loop {
        match next(framed).await? {
            ServerFrame::Ok { id: r, res } if r == id => return Some(res),
            ServerFrame::Err { id: r, err } if r == id => panic!("request refused: {err}"),
            _ => {}
        }
    }
}

/// Sends `w{sender}-{seq}` messages from `first_seq` on until the
/// connection dies; returns (seq, id) of each acknowledged one.
async fn sender(addr: SocketAddr, sender: usize, first_seq: u64) -> Vec<(u64, u64)> {
    let mut acked = Vec::new();
    let Ok(stream) = TcpStream::connect(addr).await else {
        return acked;
    };
    let mut framed = Framed::new(stream, FrameCodec::default());
    let hello = Request::Hello {
        compression: Vec::new(),
        protocol: PROTOCOL_VERSION,
        client: "crash".into(),
        client_version: "0".into(),
    };
    if request(&mut framed, 1, hello).await.is_none() {
        return acked;
    }
    let login = Request::Login {
        user: format!("w{sender}"),
        credential: Credential::PasswordOnly(common::PASSWORD.into()),
        presence: None,
    };
    if request(&mut framed, 2, login).await.is_none() {
        return acked;
    }
    let mut in_flight: HashMap<u64, u64> = HashMap::new();
    let mut next_id = 3;
    let mut seq = first_seq;
    loop {
        while in_flight.len() < WINDOW {
            let req = Request::Send {
                room: "#general".into(),
                body: format!("w{sender}-{seq}"),
                action: false,
                nonce: None,
                reply_to: None,
                thread: None,
                attention: false,
                files: Vec::new(),
            };
            if framed
                .send(&ClientFrame { id: next_id, req })
                .await
                .is_err()
            {
                return acked;
            }
            in_flight.insert(next_id, seq);
            next_id += 1;
            seq += 1;
        }
        match next(&mut framed).await {
            None => return acked,
            Some(ServerFrame::Ok {
                id,
                res: Response::Sent { id: msg, .. },
            }) => {
                let s = in_flight.remove(&id).expect("an ack for a send in flight");
                acked.push((s, msg));
            }
            Some(ServerFrame::Err { id, err }) => panic!("send {id} refused: {err}"),
            Some(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_acknowledged_message() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(natter_server::testing::seed());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    for s in 0..SENDERS {
        natter_server::admin::add_user(&dir, &format!("w{s}"), common::PASSWORD, false).unwrap();
    }
    // Senders go as fast as their window allows, not as a person would.
    let config = dir.join("natterd.toml");
    std::fs::write(
        &config,
        "[log]\nlevel = \"error\"\n[limits]\nrequests_per_sec = 1000000.0\nrequest_burst = 1000000.0\naccount_requests_per_sec = 1000000.0\naccount_request_burst = 1000000.0\n",
    )
    .unwrap();
    // (sender, seq) -> acknowledged id
    let mut acked: HashMap<(usize, u64), u64> = HashMap::new();
    // Sequence numbers never repeat across rounds, so a message stored by
    // a killed round cannot be mistaken for a later one.
    let mut next_seq = [0u64; SENDERS];
    let mut total_acked_per_round = Vec::new();
    for _ in 0..ROUNDS {
        let (bin, data, config) = (
            std::path::PathBuf::from(env!("CARGO_BIN_EXE_natterd")),
            dir.clone(),
            config.clone(),
        );
        let mut natterd = tokio::task::spawn_blocking(move || {
            NatterdProcess::start(&bin, &data, &["--config", config.to_str().unwrap()])
        })
        .await
        .unwrap();
        let addr = natterd.addr;
        let tasks: Vec<_> = (0..SENDERS)
            .map(|s| {
                let first = next_seq[s];
                next_seq[s] += 1_000_000;
                tokio::spawn(sender(addr, s, first))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..600))).await;
        natterd.kill();
        let mut this_round = 0;
        for (s, t) in tasks.into_iter().enumerate() {
            for (seq, id) in t.await.unwrap() {
                assert!(acked.insert((s, seq), id).is_none());
                this_round += 1;
            }
        }
        total_acked_per_round.push(this_round);
    }
    println!("acknowledged per round: {total_acked_per_round:?}");
    assert!(
        total_acked_per_round.iter().filter(|n| **n > 0).count() >= ROUNDS / 2,
        "most rounds got messages through: {total_acked_per_round:?}"
    );

    let db = rusqlite::Connection::open(dir.join("natter.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = db
        .prepare("SELECT id, body FROM messages ORDER BY id")
        .unwrap();
    let rows: Vec<(u64, String)> = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?.cast_unsigned(), r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut stored: HashMap<(usize, u64), u64> = HashMap::new();
    let mut last_seq: Vec<Option<u64>> = vec![None; SENDERS];
    for (id, body) in &rows {
        // Whole messages only: nothing torn, nothing foreign.
        let (s, seq) = body
            .strip_prefix('w')
            .and_then(|b| b.split_once('-'))
            .and_then(|(s, q)| Some((s.parse::<usize>().ok()?, q.parse::<u64>().ok()?)))
            .unwrap_or_else(|| panic!("a torn or foreign row: {id} {body:?}"));
        assert!(
            stored.insert((s, seq), *id).is_none(),
            "{body} is stored twice"
        );
        // Each sender's messages are stored in the order they were sent.
        if let Some(prev) = last_seq[s] {
            assert!(seq > prev, "w{s}: {seq} stored after {prev}");
        }
        last_seq[s] = Some(seq);
    }
    let mut missing = HashSet::new();
    for (key, id) in &acked {
        match stored.get(key) {
            Some(got) => assert_eq!(
                got, id,
                "w{}-{} has another id than acknowledged",
                key.0, key.1
            ),
            None => {
                missing.insert(*key);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} acknowledged messages were lost: {missing:?}",
        missing.len()
    );
    println!(
        "{} acknowledged, {} stored (the rest were in flight at a kill)",
        acked.len(),
        rows.len()
    );
}
