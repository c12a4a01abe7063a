//! The built `natterd` binary as an operator runs it: the admin commands on a
//! data dir, config errors, and a signal-driven shutdown.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::Client;
use natter_shared::{ErrorCode, Response};

fn natterd(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_natterd"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natterd starts");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "natterd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fails(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "expected exit 1");
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn admin_commands_manage_accounts_and_rooms() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(&natterd(
        dir,
        &["user", "add", "Alice", "--admin"],
        Some("first password\n"),
    ));
    // Global flags also work before the command.
    let out = Command::new(env!("CARGO_BIN_EXE_natterd"))
        .arg("--data-dir")
        .arg(dir)
        .args(["user", "add", "bob"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"bob's password\n")?;
            c.wait_with_output()
        })
        .unwrap();
    ok(&out);
    assert_eq!(
        ok(&natterd(dir, &["user", "list"], None)),
        "alice (admin)\nbob\n"
    );

    let err = fails(&natterd(
        dir,
        &["user", "add", "bob"],
        Some("another one\n"),
    ));
    assert!(err.contains("already exists"), "{err}");
    let err = fails(&natterd(
        dir,
        &["user", "add", "9lives"],
        Some("password!\n"),
    ));
    assert!(err.contains("invalid"), "{err}");
    let err = fails(&natterd(dir, &["user", "add", "carol"], Some("short\n")));
    assert!(err.contains("8 characters"), "{err}");
    let err = fails(&natterd(dir, &["user", "add", "carol"], Some("")));
    assert!(err.contains("no password"), "{err}");

    ok(&natterd(
        dir,
        &["room", "add", "#ops", "--private", "--owner", "alice"],
        None,
    ));
    ok(&natterd(dir, &["room", "add", "lobby"], None));
    ok(&natterd(dir, &["room", "invite", "ops", "bob"], None));
    let rooms = ok(&natterd(dir, &["room", "list"], None));
    assert_eq!(
        rooms,
        "#general\tpublic\t2 members\t\n#lobby\tpublic\t0 members\t\n#ops\tprivate\t2 members\t\n"
    );
    let err = fails(&natterd(dir, &["room", "add", "#ops"], None));
    assert!(err.contains("already exists"), "{err}");
    let err = fails(&natterd(dir, &["room", "invite", "#nope", "bob"], None));
    assert!(err.contains("no such room"), "{err}");

    ok(&natterd(
        dir,
        &["user", "passwd", "bob"],
        Some("new password\n"),
    ));
    ok(&natterd(dir, &["user", "del", "alice"], None));
    assert_eq!(ok(&natterd(dir, &["user", "list"], None)), "bob\n");
    let err = fails(&natterd(dir, &["user", "del", "alice"], None));
    assert!(err.contains("no such user"), "{err}");
}

#[test]
fn bad_config_is_one_clear_line_and_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("natterd.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nbogus = true\n").unwrap();
    let err = fails(&natterd(
        tmp.path(),
        &["--config", cfg.to_str().unwrap()],
        None,
    ));
    assert!(
        err.contains("bogus") && err.contains("natterd.toml"),
        "{err}"
    );
    let err = fails(&natterd(
        tmp.path(),
        &["--config", "/nonexistent.toml"],
        None,
    ));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot read config file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_says_goodbye_flushes_and_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(&natterd(
        dir,
        &["user", "add", "alice"],
        Some(&format!("{}\n", common::PASSWORD)),
    ));
    // Port 0 would hide the address; find a free one first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let logs = dir.join("logs");
    let cfg = dir.join("natterd.toml");
    std::fs::write(
        &cfg,
        format!("[log]\nlevel = \"debug\"\ndir = \"{}\"\n", logs.display()),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_natterd"))
        .args([
            "--listen",
            &addr,
            "--config",
            cfg.to_str().unwrap(),
            "--data-dir",
        ])
        .arg(dir)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let mut client = None;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            client = Some(Client::login(addr, "alice", common::PASSWORD).await.0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client = client.expect("natterd came up");
    assert!(matches!(
        client.send_text("#general", "durable").await,
        Ok(Response::Sent { .. })
    ));
    let pid = child.id().unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (code, reconnect) = client.closing().await.expect("a goodbye");
    assert_eq!(code, ErrorCode::ShuttingDown);
    assert!(reconnect.is_some());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    // The message is there for the next run, and the log file was written.
    let db = rusqlite::Connection::open(dir.join("natter.db")).unwrap();
    let body: String = db
        .query_row("SELECT body FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, "durable");
    let log: String = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        log.contains("logged in") && log.contains("natterd stopped"),
        "{log}"
    );
}

#[test]
fn suspend_audit_and_backup_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    ok(&natterd(
        &dir,
        &["user", "add", "alice"],
        Some("first password\n"),
    ));
    ok(&natterd(
        &dir,
        &["user", "suspend", "alice", "--reason", "spam"],
        None,
    ));
    let list = ok(&natterd(&dir, &["user", "list"], None));
    assert_eq!(list.trim(), "alice (suspended)");
    ok(&natterd(
        &dir,
        &["room", "add", "#ops", "--owner", "alice"],
        None,
    ));

    let audit = ok(&natterd(&dir, &["audit", "--last", "2"], None));
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), 2, "{audit}");
    assert!(lines[0].ends_with("user.suspend  alice  (spam)"), "{audit}");
    assert!(lines[0].contains(" UTC  operator:"), "{audit}");
    assert!(
        lines[1].ends_with("room.add  alice  in #ops  (public)"),
        "{audit}"
    );
    let all = ok(&natterd(&dir, &["audit"], None));
    assert!(
        all.lines().next().unwrap().contains("user.add  alice"),
        "{all}"
    );

    let copy = tmp.path().join("backup.db");
    let out = ok(&natterd(&dir, &["backup", copy.to_str().unwrap()], None));
    assert!(out.contains("backed up to"), "{out}");
    let db = rusqlite::Connection::open(&copy).unwrap();
    let users: i64 = db
        .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 1);
    // A second backup to the same file is refused, leaving it alone.
    let err = fails(&natterd(&dir, &["backup", copy.to_str().unwrap()], None));
    assert!(err.contains("already exists"), "{err}");
    // Restoring is copying the file back as natter.db.
    let restored = tmp.path().join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    std::fs::copy(&copy, restored.join("natter.db")).unwrap();
    let list = ok(&natterd(&restored, &["user", "list"], None));
    assert_eq!(list.trim(), "alice (suspended)");
}
