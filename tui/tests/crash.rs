//! The client side of crash safety: `natter --send` processes run back to
//! back against the real `natterd` binary while it is killed with SIGKILL
//! at random moments. Every send that exited 0 is in the store exactly
//! once; one that failed (exit 3) may or may not be there, but never twice.
//!
//! natterd is the binary cargo built next to natter (`cargo test
//! --workspace` builds both). The seed is printed; `NATTER_CRASH_SEED=N`
//! replays a run.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use natter_server::testing::{NatterdProcess, PASSWORD};
const ROUNDS: usize = 8;
const CLIENTS: usize = 3;

fn natterd() -> PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_natter")).with_file_name("natterd");
    assert!(
        path.exists(),
        "{} is missing: run the suite with `cargo test --workspace`, which builds natterd too",
        path.display()
    );
    path
}

/// Sends `body` with the natter binary; returns its exit code.
fn send(addr: &str, home: &std::path::Path, body: &str) -> i32 {
    let out = Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["--send", "#general", body])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("NATTER_SERVER", addr)
        .env("NATTER_USER", "alice")
        .env("NATTER_PASSWORD", PASSWORD)
        .env("NATTER_KEYRING", "none")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    out.status.code().unwrap_or(-1)
}

#[test]
fn send_exits_0_only_for_messages_that_survive_a_sigkill() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(natter_server::testing::seed());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    natter_server::admin::add_user(&data, "alice", PASSWORD, false).unwrap();
    let config = tmp.path().join("natterd.toml");
    std::fs::write(
        &config,
        "[log]\nlevel = \"error\"\n[limits]\nrequests_per_sec = 1000000.0\nrequest_burst = 1000000.0\naccount_requests_per_sec = 1000000.0\naccount_request_burst = 1000000.0\nlogin_failures_per_ip = 1000000\n",
    )
    .unwrap();
    // body -> exit code
    let mut outcomes: Vec<(String, i32)> = Vec::new();
    for round in 0..ROUNDS {
        let mut server =
            NatterdProcess::start(&natterd(), &data, &["--config", config.to_str().unwrap()]);
        let addr = server.addr.to_string();
        let kill_after = Duration::from_millis(rng.random_range(100..500));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (addr, home) = (addr.clone(), tmp.path().to_owned());
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    let t0 = Instant::now();
                    let mut n = 0;
                    // Keep sending until a while after the kill.
                    while t0.elapsed() < kill_after + Duration::from_millis(300) {
                        let body = format!("r{round}-c{c}-{n}");
                        let code = send(&addr, &home, &body);
                        mine.push((body, code));
                        n += 1;
                    }
                    mine
                })
            })
            .collect();
        std::thread::sleep(kill_after);
        server.kill();
        for c in clients {
            outcomes.extend(c.join().unwrap());
        }
    }

    let db = rusqlite::Connection::open(data.join("natter.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = db.prepare("SELECT body FROM messages").unwrap();
    let bodies: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let count = |b: &str| bodies.iter().filter(|x| *x == b).count();
    let (mut ok, mut failed) = (0, 0);
    for (body, code) in &outcomes {
        match code {
            0 => {
                ok += 1;
                assert_eq!(
                    count(body),
                    1,
                    "{body} exited 0 but is stored {} times",
                    count(body)
                );
            }
            3 => {
                failed += 1;
                assert!(count(body) <= 1, "{body} is stored twice");
            }
            other => panic!("{body}: unexpected exit {other}"),
        }
    }
    println!(
        "{ok} sends exited 0, {failed} exited 3, {} stored",
        bodies.len()
    );
    assert!(
        ok > 0 && failed > 0,
        "both outcomes happened: {ok} ok, {failed} failed"
    );
}
