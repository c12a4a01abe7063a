//! Files through the built `natter` binary, against a real natterd in this
//! process: `--send --file` and `natter download`, a 50 MiB file from one
//! user to another byte for byte, transfers killed halfway and resumed,
//! quota and scan refusals, a non-member denied, dedup, and collection
//! after deletes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::server::*;

/// A file of `len` bytes that no two offsets confuse: a misplaced or lost
/// chunk changes it.
fn pattern_file(path: &Path, len: usize, seed: u8) {
    let mut bytes = Vec::with_capacity(len);
    let mut x: u32 = 0x1234_5678 ^ u32::from(seed);
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    std::fs::write(path, bytes).unwrap();
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The stored blobs (not thumbnails, not partial uploads).
fn blobs(server: &Server) -> Vec<PathBuf> {
    let root = server.tmp.path().join("data/blobs");
    let mut out = Vec::new();
    for d in std::fs::read_dir(root).unwrap().flatten() {
        if d.file_name() == "partial" {
            continue;
        }
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            if f.path().extension().is_none() {
                out.push(f.path());
            }
        }
    }
    out
}

fn partial_bytes(server: &Server) -> u64 {
    std::fs::read_dir(server.tmp.path().join("data/blobs/partial"))
        .unwrap()
        .flatten()
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum()
}

/// Posts `file` to `room` as `user` with `--print-id`; the message's id.
fn send_file(server: &Server, user: &str, room: &str, file: &Path) -> u64 {
    let out = run(
        server.natter_as(
            user,
            &[
                "--send",
                room,
                "--print-id",
                "--file",
                file.to_str().unwrap(),
            ],
        ),
        None,
    );
    assert_exit(&out, 0);
    stdout(&out).parse().expect("an id")
}

/// Starts `cmd`, and kills it (SIGKILL) once `halfway` says so; false if
/// the command finished first.
fn kill_when(mut cmd: Command, halfway: impl Fn() -> bool) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        if halfway() {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "the transfer never got halfway");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn fifty_mebibytes_go_from_one_user_to_another_byte_for_byte() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("build-artifact.tar");
    pattern_file(&big, 50 * 1024 * 1024, 1);
    let out = run(
        server.natter_as(
            "alice",
            &[
                "--send",
                "#general",
                "build 812",
                "--print-id",
                "--file",
                big.to_str().unwrap(),
            ],
        ),
        None,
    );
    assert_exit(&out, 0);
    let id: u64 = stdout(&out).parse().unwrap();
    let m = server
        .history("bob", "#general")
        .into_iter()
        .find(|m| m.id == id)
        .unwrap();
    assert_eq!(m.body, "build 812");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].name, "build-artifact.tar");
    assert_eq!(m.attachments[0].size, 50 * 1024 * 1024);
    // tail --json shows it.
    let mut tail = server
        .natter_as("bob", &["tail", "#general", "--last", "1", "--json"])
        .spawn()
        .unwrap();
    let line = Lines::of(&mut tail).next();
    tail.kill().unwrap();
    tail.wait().unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["attachments"][0]["name"], "build-artifact.tar");
    assert_eq!(v["attachments"][0]["size"], 50 * 1024 * 1024);
    assert_eq!(
        v["attachments"][0]["hash"],
        m.attachments[0].sha256.as_str()
    );
    // Bob saves it into a directory, then again: never over the first.
    let dir = tmp.path().join("bob");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["build-artifact.tar", "build-artifact (1).tar"] {
        let out = run(
            server.natter_as(
                "bob",
                &["download", &id.to_string(), "-o", dir.to_str().unwrap()],
            ),
            None,
        );
        assert_exit(&out, 0);
        assert_eq!(stdout(&out), dir.join(name).display().to_string());
        assert!(std::fs::read(dir.join(name)).unwrap() == std::fs::read(&big).unwrap());
    }
    // An exact path that exists is refused.
    let out = run(
        server.natter_as(
            "bob",
            &[
                "download",
                &id.to_string(),
                "-o",
                dir.join("build-artifact.tar").to_str().unwrap(),
            ],
        ),
        None,
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("never overwrites"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_upload_and_a_download_killed_halfway_resume() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("dump.sql");
    let size = 96 * 1024 * 1024;
    pattern_file(&big, size, 2);
    let args = [
        "--send",
        "#general",
        "--print-id",
        "--file",
        big.to_str().unwrap(),
    ];
    let killed = kill_when(server.natter_as("alice", &args), || {
        let n = partial_bytes(&server);
        n > 4 * 1024 * 1024 && n < size as u64 / 2
    });
    assert!(killed, "the upload finished before it could be killed");
    let stopped_at = partial_bytes(&server);
    assert!(stopped_at > 0 && stopped_at < size as u64);
    let out = run(server.natter_as("alice", &args), None);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("natter: resuming dump.sql at"),
        "{}",
        stderr(&out)
    );
    assert_eq!(partial_bytes(&server), 0);
    let id: u64 = stdout(&out).parse().unwrap();

    let dest = tmp.path().join("copy.sql");
    let part = tmp.path().join("copy.sql.part");
    let dl = ["download", &id.to_string(), "-o", dest.to_str().unwrap()];
    let killed = kill_when(server.natter_as("bob", &dl), || {
        std::fs::metadata(&part)
            .is_ok_and(|m| m.len() > 4 * 1024 * 1024 && m.len() < size as u64 / 2)
    });
    assert!(killed, "the download finished before it could be killed");
    assert!(!dest.exists());
    let out = run(server.natter_as("bob", &dl), None);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("natter: resuming dump.sql at"),
        "{}",
        stderr(&out)
    );
    assert!(!part.exists());
    assert!(std::fs::read(&dest).unwrap() == std::fs::read(&big).unwrap());
}

#[test]
fn quota_and_scan_refusals_exit_5_and_keep_nothing() {
    let scanner = tempfile::tempdir().unwrap();
    let script = scanner.path().join("scan");
    std::fs::write(
        &script,
        "#!/bin/sh\nif grep -q EICAR-TEST; then echo 'stdin: Eicar-Test-Signature FOUND'; exit 1; fi\nexit 0\n",
    )
    .unwrap();
    let command = format!("sh {}", script.display());
    let server = Server::start_with(move |c| {
        c.files.user_quota_bytes = 1024 * 1024;
        c.files.scan_command = Some(command);
    });
    let tmp = tempfile::tempdir().unwrap();
    let virus = tmp.path().join("invoice.txt");
    std::fs::write(&virus, "X5O!P%@AP EICAR-TEST payload\n").unwrap();
    let out = run(
        server.natter_as(
            "alice",
            &["--send", "#general", "--file", virus.to_str().unwrap()],
        ),
        None,
    );
    assert_exit(&out, 5);
    assert!(
        stderr(&out).contains("(rejected)") && stderr(&out).contains("FOUND"),
        "{}",
        stderr(&out)
    );
    let big = tmp.path().join("big.bin");
    pattern_file(&big, 2 * 1024 * 1024, 3);
    let out = run(
        server.natter_as(
            "alice",
            &["--send", "#general", "--file", big.to_str().unwrap()],
        ),
        None,
    );
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("(quota)"), "{}", stderr(&out));
    assert!(blobs(&server).is_empty());
    assert_eq!(partial_bytes(&server), 0);
    // Nothing was posted either.
    assert!(
        server
            .history("bob", "#general")
            .iter()
            .all(|m| m.attachments.is_empty())
    );
    // From stdin, with a name.
    let mut cmd = server.natter_as(
        "alice",
        &[
            "--send", "#general", "the log", "--file", "-", "--name", "make.log",
        ],
    );
    cmd.stdin(Stdio::piped());
    let out = support::run_within(cmd, Some("ok 1 - builds\nok 2 - tests\n"), WAIT);
    assert_exit(&out, 0);
    let m = server.history("bob", "#general").pop().unwrap();
    assert_eq!(m.body, "the log");
    assert_eq!(m.attachments[0].name, "make.log");
    assert_eq!(m.attachments[0].mime, "text/plain");
}

#[test]
fn outsiders_are_denied_and_deletes_free_what_nothing_else_carries() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let plan = tmp.path().join("plan.txt");
    std::fs::write(&plan, "the secret plan\n").unwrap();
    // Bob posts it in his private room: alice is not in it.
    let secret = send_file(&server, "bob", "#secret", &plan);
    let out = run(
        server.natter_as("alice", &["download", &secret.to_string()]),
        None,
    );
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("no_such_message"), "{}", stderr(&out));
    // The same content twice is stored once.
    let one = send_file(&server, "alice", "#general", &plan);
    let two = send_file(&server, "alice", "#general", &plan);
    assert_eq!(blobs(&server).len(), 1);
    for id in [secret, one] {
        let who = if id == secret { "bob" } else { "alice" };
        assert_exit(
            &run(server.natter_as(who, &["delete", &id.to_string()]), None),
            0,
        );
        assert_eq!(blobs(&server).len(), 1, "message {two} still carries it");
    }
    assert_exit(
        &run(
            server.natter_as("alice", &["delete", &two.to_string()]),
            None,
        ),
        0,
    );
    assert!(blobs(&server).is_empty(), "{:?}", blobs(&server));
}
