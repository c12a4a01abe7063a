//! The built `natterd` binary as an operator runs it: the admin commands on a
//! data dir, config errors, and a signal-driven shutdown.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::Client;
use natter_server::testing::NatterdProcess;
use natter_shared::{ErrorCode, Response};

fn natterd(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    common::natterd_cli(dir, None, args, stdin)
}

fn ok(out: &Output) -> String {
    common::cli_ok(out)
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
    let err = fails(&natterd(
        dir,
        &["user", "add", "room"],
        Some("long enough\n"),
    ));
    assert!(err.contains("reserved"), "{err}");
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
    // Announcement rooms and categories, at creation and later.
    ok(&natterd(
        dir,
        &["room", "add", "#news", "--announce", "--category", "Team"],
        None,
    ));
    ok(&natterd(
        dir,
        &["room", "set", "lobby", "--category", "Team"],
        None,
    ));
    ok(&natterd(
        dir,
        &["room", "set", "#news", "--announce", "off"],
        None,
    ));
    ok(&natterd(
        dir,
        &["room", "set", "#ops", "--announce", "on"],
        None,
    ));
    let rooms = ok(&natterd(dir, &["room", "list"], None));
    assert_eq!(
        rooms,
        "#general\tpublic\t2 members\t\n#lobby\tpublic\t0 members\t\tcategory=Team\n\
         #news\tpublic\t0 members\t\tcategory=Team\n#ops\tprivate\t2 members\t\tannounce\n"
    );
    let err = fails(&natterd(dir, &["room", "set", "#news"], None));
    assert!(err.contains("nothing to set"), "{err}");
    let err = fails(&natterd(
        dir,
        &["room", "set", "#nope", "--announce", "on"],
        None,
    ));
    assert!(err.contains("no such room"), "{err}");
    ok(&natterd(
        dir,
        &["room", "set", "#ops", "--announce", "off"],
        None,
    ));
    ok(&natterd(
        dir,
        &["room", "set", "lobby", "--category", ""],
        None,
    ));
    ok(&natterd(
        dir,
        &["room", "set", "news", "--category", ""],
        None,
    ));
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
    let logs = dir.join("logs");
    let cfg = dir.join("natterd.toml");
    std::fs::write(
        &cfg,
        format!("[log]\nlevel = \"debug\"\ndir = \"{}\"\n", logs.display()),
    )
    .unwrap();
    let (data, config) = (dir.to_owned(), cfg.clone());
    let mut natterd = tokio::task::spawn_blocking(move || {
        NatterdProcess::start(
            env!("CARGO_BIN_EXE_natterd").as_ref(),
            &data,
            &["--config", config.to_str().unwrap()],
        )
    })
    .await
    .unwrap();
    let mut client = Client::login(natterd.addr, "alice", common::PASSWORD)
        .await
        .0;
    assert!(matches!(
        client.send_text("#general", "durable").await,
        Ok(Response::Sent { .. })
    ));
    natterd.signal("TERM");
    let (code, reconnect) = client.closing().await.expect("a goodbye");
    assert_eq!(code, ErrorCode::ShuttingDown);
    assert!(reconnect.is_some());
    let exit = tokio::task::spawn_blocking(move || {
        let status = natterd.child.wait().unwrap();
        drop(natterd);
        status
    })
    .await
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

    let copy = tmp.path().join("backup");
    let out = ok(&natterd(&dir, &["backup", copy.to_str().unwrap()], None));
    assert!(out.contains("backed up to"), "{out}");
    let db = rusqlite::Connection::open(copy.join("natter.db")).unwrap();
    let users: i64 = db
        .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 1);
    // A second backup to the same directory is refused, leaving it alone.
    let err = fails(&natterd(&dir, &["backup", copy.to_str().unwrap()], None));
    assert!(err.contains("already exists"), "{err}");
    // The backup is a data dir to start from.
    let list = ok(&natterd(&copy, &["user", "list"], None));
    assert_eq!(list.trim(), "alice (suspended)");
}

/// A certificate for `localhost` signed by a new CA: (CA PEM, cert PEM, key
/// PEM).
fn issue_cert(ca_name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca.as_ref().pem(), cert.pem(), key.serialize_pem())
}

/// Whether a TLS handshake with `port` succeeds trusting only `ca_pem`.
async fn tls_handshake(port: u16, ca_pem: &str) -> Result<(), String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    connector
        .connect(name, tcp)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// SIGHUP re-reads the config: a new message of the day and limits apply
/// to new connections, an open connection stays, a renewed certificate is
/// served to new handshakes, an invalid file is refused with a log line and
/// changes nothing, and a restart-only key is reported as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_config_and_certificates_and_refuses_a_bad_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(&natterd(
        &dir.join("data"),
        &["user", "add", "alice"],
        Some(&format!("{}\n", common::PASSWORD)),
    ));
    let (plain, tls) = (common::free_port(), common::free_port());
    let (ca1, cert1, key1) = issue_cert("first CA");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, cert1).unwrap();
    std::fs::write(&key, key1).unwrap();
    let cfg = dir.join("natterd.toml");
    let write_config = |motd: &str, extra: &str| {
        std::fs::write(
            &cfg,
            format!(
                "listen = \"127.0.0.1:{plain}\"\nmotd = \"{motd}\"\n{extra}\n[log]\ndir = \"{}\"\n[tls]\nlisten = \"127.0.0.1:{tls}\"\ncert = \"{}\"\nkey = \"{}\"\n",
                dir.join("logs").display(),
                cert.display(),
                key.display()
            ),
        )
        .unwrap();
    };
    write_config("first", "");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_natterd"))
        .args(["--config", cfg.to_str().unwrap(), "--data-dir"])
        .arg(dir.join("data"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{plain}").parse().unwrap();
    let motd = |mut c: Client| async move {
        match c.hello().await {
            Response::Welcome { motd, .. } => motd,
            other => panic!("{other:?}"),
        }
    };
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "natterd came up");
    assert_eq!(
        motd(Client::connect(addr).await).await.as_deref(),
        Some("first")
    );
    tls_handshake(tls, &ca1).await.unwrap();
    let (mut open, _) = Client::login(addr, "alice", common::PASSWORD).await;

    let hup = |pid: u32| {
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    let pid = child.id().unwrap();
    // A new motd and limit, a new certificate, a restart-only change.
    let (ca2, cert2, key2) = issue_cert("second CA");
    std::fs::write(&cert, cert2).unwrap();
    std::fs::write(&key, key2).unwrap();
    write_config(
        "second",
        "[history]\nin_memory = 5\n[limits]\nmax_message_len = 100",
    );
    hup(pid);
    let mut reloaded = false;
    for _ in 0..100 {
        if motd(Client::connect(addr).await).await.as_deref() == Some("second") {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "the new motd is served after SIGHUP");
    tls_handshake(tls, &ca2).await.unwrap();
    assert!(tls_handshake(tls, &ca1).await.is_err());
    // The open connection stayed, and the new message limit applies to it.
    let r = open.send_text("#general", &"x".repeat(200)).await;
    assert_eq!(common::code(r), ErrorCode::TooLong);
    assert!(open.send_text("#general", "short").await.is_ok());

    // A file that does not parse changes nothing.
    std::fs::write(&cfg, "motd = \"third\"\nbogus = 1\n").unwrap();
    hup(pid);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        motd(Client::connect(addr).await).await.as_deref(),
        Some("second")
    );
    assert!(open.request(natter_shared::Request::Ping).await.is_ok());

    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    let log: String = std::fs::read_dir(dir.join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(log.contains("motd: \"first\" -> \"second\""), "{log}");
    assert!(log.contains("limits.max_message_len: 4000 -> 100"), "{log}");
    assert!(
        log.contains("history.in_memory: 1000 -> 5 needs a restart; keeping 1000"),
        "{log}"
    );
    assert!(log.contains("config reload refused"), "{log}");
    assert!(log.contains("bogus"), "{log}");
}

#[test]
fn a_new_data_dir_and_database_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fresh");
    ok(&natterd(
        &dir,
        &["user", "add", "alice"],
        Some("first password\n"),
    ));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("natter.db")), 0o600);
}

/// Starts the natterd binary on `dir` (off the async threads: it waits
/// until the server accepts connections).
async fn start_natterd(dir: &std::path::Path) -> NatterdProcess {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        NatterdProcess::start(env!("CARGO_BIN_EXE_natterd").as_ref(), &dir, &[])
    })
    .await
    .unwrap()
}

/// Runs an admin command off the async threads (it waits for its child).
async fn natterd_cmd(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        natterd(&dir, &args, stdin.as_deref())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_take_effect_on_a_running_server_at_once() {
    use natter_shared::{Event, Request};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let password = format!("{}\n", common::PASSWORD);
    for user in ["alice", "bob"] {
        ok(&natterd(dir, &["user", "add", user], Some(&password)));
    }
    let natterd = start_natterd(dir).await;
    let addr = natterd.addr;
    let mut alice = Client::login(addr, "alice", common::PASSWORD).await.0;
    let mut bob = Client::login(addr, "bob", common::PASSWORD).await.0;
    // Within a second of each command (the server polls every 250 ms).
    let soon = Duration::from_secs(1);

    // A new public room can be joined by a user already connected.
    ok(&natterd_cmd(dir, &["room", "add", "#fresh"], None).await);
    let mut joined = None;
    let until = tokio::time::Instant::now() + soon;
    while tokio::time::Instant::now() < until {
        let r = alice
            .request(Request::Join {
                room: "#fresh".into(),
            })
            .await;
        if r.is_ok() {
            joined = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        matches!(joined, Some(Ok(Response::Room(_)))),
        "#fresh was not joinable within a second: {joined:?}"
    );

    // A private room with an owner appears for the owner; an invited user
    // sees it appear, and the owner sees them join.
    ok(&natterd_cmd(
        dir,
        &["room", "add", "#hidden", "--private", "--owner", "alice"],
        None,
    )
    .await);
    let added = tokio::time::timeout(
        soon,
        alice.event_where(|e| matches!(e, Event::RoomAdded(r) if r.name == "#hidden")),
    )
    .await;
    assert!(added.is_ok(), "the owner did not see #hidden appear");
    ok(&natterd_cmd(dir, &["room", "invite", "#hidden", "bob"], None).await);
    let added = tokio::time::timeout(
        soon,
        bob.event_where(|e| matches!(e, Event::RoomAdded(r) if r.name == "#hidden")),
    )
    .await;
    assert!(added.is_ok(), "the invited user did not see #hidden appear");
    let joined = tokio::time::timeout(
        soon,
        alice.event_where(
            |e| matches!(e, Event::Joined { room, user } if room == "#hidden" && user == "bob"),
        ),
    )
    .await;
    assert!(joined.is_ok(), "the owner did not see bob join #hidden");
    assert!(bob.send_text("#hidden", "made it").await.is_ok());

    // A new account appears in #general's member list for everyone there.
    ok(&natterd_cmd(dir, &["user", "add", "carol"], Some(&password)).await);
    let joined = tokio::time::timeout(
        soon,
        bob.event_where(
            |e| matches!(e, Event::Joined { room, user } if room == "#general" && user == "carol"),
        ),
    )
    .await;
    assert!(joined.is_ok(), "bob did not see carol arrive in #general");
    match alice
        .request(Request::Members {
            room: "#general".into(),
        })
        .await
        .unwrap()
    {
        Response::Members { members, .. } => {
            assert!(members.iter().any(|m| m.name == "carol"), "{members:?}");
        }
        other => panic!("{other:?}"),
    }
    // And she can be messaged directly by a user who was already online.
    assert!(alice.send_text("@carol", "welcome").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_output_shows_hostile_text_escaped_never_raw() {
    let server = common::TestServer::start(&["mallory"], |_| {}).await;
    let mut mallory = common::ServerExt::login(&server, "mallory").await;
    mallory
        .request(natter_shared::Request::Create {
            room: "#lobby".into(),
            private: false,
        })
        .await
        .unwrap();
    // A forged audit line, a clipboard write (OSC 52) and a bidi override.
    let hostile = "hi\n2026-12-01 00:00:00 UTC  operator:root  user.add  mallory  (admin)\
                   \u{1b}]52;c;aGVsbG8=\u{7}\u{202e}txt.exe";
    mallory
        .request(natter_shared::Request::Topic {
            room: "#lobby".into(),
            topic: hostile.into(),
        })
        .await
        .unwrap();
    mallory.send_text("#lobby", "sync").await.unwrap();
    let dir = server.data_dir.clone();
    let audit = tokio::task::spawn_blocking(move || ok(&natterd(&dir, &["audit"], None)))
        .await
        .unwrap();
    let dir = server.data_dir.clone();
    let rooms = tokio::task::spawn_blocking(move || ok(&natterd(&dir, &["room", "list"], None)))
        .await
        .unwrap();
    for out in [&audit, &rooms] {
        assert!(
            !out.chars()
                .any(|c| c == '\u{1b}' || c == '\u{7}' || c == '\u{202e}'),
            "raw control text reached the terminal: {out:?}"
        );
        assert!(out.contains("hi\\n2026-12-01"), "{out}");
        assert!(
            out.contains("\\u{1b}]52;c;aGVsbG8=\\u{7}\\u{202e}txt.exe"),
            "{out}"
        );
    }
    // One topic change, one line: the forged entry is not a line of its own.
    assert!(
        !audit
            .lines()
            .any(|l| l.contains("operator:root") && !l.contains("mallory  topic")),
        "{audit}"
    );
    assert_eq!(rooms.lines().filter(|l| l.starts_with("#lobby")).count(), 1);
}

#[tokio::test]
async fn api_tokens_are_created_listed_and_revoked_and_log_a_bot_in() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(&natterd(dir, &["user", "add", "--bot", "deploybot"], None));
    let users = ok(&natterd(dir, &["user", "list"], None));
    assert!(users.lines().any(|l| l == "deploybot [bot]"), "{users}");
    let out = natterd(
        dir,
        &["token", "create", "deploybot", "--expires", "30d"],
        None,
    );
    let token = ok(&out).trim().to_owned();
    assert_eq!(token.len(), 64, "{token}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("expires"));
    let listed = ok(&natterd(dir, &["token", "list"], None));
    assert!(listed.contains("deploybot\tapi\tcreated"), "{listed}");
    assert!(listed.contains("expires 20"), "{listed}");
    // A bad duration is a usage error that names the units.
    let bad = natterd(
        dir,
        &["token", "create", "deploybot", "--expires", "soon"],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("d, h, m or s"));
    // The bot logs in with its token, never with a password.
    let server = NatterdProcess::start(Path::new(env!("CARGO_BIN_EXE_natterd")), dir, &[]);
    let login = Client::try_login(
        server.addr,
        None,
        "deploybot",
        natter_shared::Credential::Token(token.clone()),
    )
    .await;
    let (mut bot, _) = login.expect("the bot logs in with its token");
    // A session of a password login, which the revocation must not touch.
    ok(&natterd(
        dir,
        &["user", "add", "carol"],
        Some("carol password\n"),
    ));
    let (mut carol, _) = Client::login(server.addr, "carol", "carol password").await;
    let id = listed.split('\t').next().unwrap();
    ok(&natterd(dir, &["token", "revoke", id], None));
    // The session the token opened ends at once, saying why.
    let (code, _) = bot.closing().await.expect("the bot's session is told");
    assert_eq!(code, ErrorCode::Revoked);
    assert!(carol.request(natter_shared::Request::Ping).await.is_ok());
    assert_eq!(
        ok(&natterd(dir, &["token", "list"], None)).trim(),
        "no API tokens"
    );
    let login = Client::try_login(
        server.addr,
        None,
        "deploybot",
        natter_shared::Credential::Token(token),
    )
    .await;
    assert_eq!(login.err(), Some(ErrorCode::AuthFailed));
}

#[tokio::test]
async fn json_logs_carry_the_connection_and_the_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let logs = tmp.path().join("logs");
    let config = tmp.path().join("natterd.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nformat = \"json\"\ndir = {:?}\n",
            logs.to_str().unwrap()
        ),
    )
    .unwrap();
    ok(&natterd(
        &dir,
        &["user", "add", "alice"],
        Some("alice password\n"),
    ));
    let mut server = NatterdProcess::start(
        Path::new(env!("CARGO_BIN_EXE_natterd")),
        &dir,
        &["--config", config.to_str().unwrap()],
    );
    let (mut alice, _) = Client::login(server.addr, "alice", "alice password").await;
    alice.send_text("#general", "hi").await.unwrap();
    drop(alice);
    let refused = Client::try_login(
        server.addr,
        None,
        "alice",
        natter_shared::Credential::Password("not it".into()),
    )
    .await;
    assert!(refused.is_err());
    server.signal("TERM");
    let _ = server.child.wait();
    let file = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .expect("a log file")
        .unwrap()
        .path();
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let find = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} in\n{text}"))
    };
    // The failed login names the peer and the request, so it can be
    // followed; its request id is the server's, not the client's.
    let failed = find("failed login");
    assert_eq!(failed["level"], "INFO");
    let spans = failed["spans"].as_array().unwrap();
    assert_eq!(spans[0]["name"], "conn");
    assert!(spans[0]["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(spans[1]["name"], "request");
    assert_eq!(spans[1]["kind"], "login");
    assert!(spans[1]["rid"].as_u64().unwrap() > 0);
    let logged_in = find("logged in");
    assert_eq!(logged_in["user"], "alice");
    let rids: std::collections::HashSet<u64> = lines
        .iter()
        .filter_map(|l| l["span"]["rid"].as_u64())
        .collect();
    assert!(rids.len() >= 2, "each request its own id: {rids:?}");
    find("natterd stopped");
}

#[tokio::test]
async fn an_export_holds_what_a_user_wrote_and_a_purge_erases_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(&natterd(
        dir,
        &["user", "add", "alice"],
        Some("alice password\n"),
    ));
    ok(&natterd(
        dir,
        &["user", "add", "bob"],
        Some("bob password\n"),
    ));
    let server = NatterdProcess::start(Path::new(env!("CARGO_BIN_EXE_natterd")), dir, &[]);
    let (mut alice, _) = Client::login(server.addr, "alice", "alice password").await;
    let (mut bob, _) = Client::login(server.addr, "bob", "bob password").await;
    let Ok(Response::Sent { id: bobs, .. }) = bob.send_text("#general", "bob here").await else {
        panic!()
    };
    let file = common::upload(server.addr, &mut alice, "notes.txt", b"alice's notes\n")
        .await
        .unwrap();
    let Ok(Response::Sent { id: first, .. }) = alice
        .send_files("#general", "my notes", vec![file.file])
        .await
    else {
        panic!()
    };
    alice.send_text("#general", "second thought").await.unwrap();
    alice
        .request(natter_shared::Request::React {
            room: "#general".into(),
            id: bobs,
            key: "👍".into(),
            op: natter_shared::ReactOp::default(),
        })
        .await
        .unwrap();
    alice
        .request(natter_shared::Request::MarkRead {
            room: "#general".into(),
            id: bobs,
        })
        .await
        .unwrap();

    let export: serde_json::Value =
        serde_json::from_str(&ok(&natterd(dir, &["user", "export", "alice"], None))).unwrap();
    assert_eq!(export["format"], "natter-export");
    assert_eq!(export["version"], 1);
    assert_eq!(export["user"]["name"], "alice");
    let messages = export["messages"].as_array().unwrap();
    let bodies: Vec<&str> = messages
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["my notes", "second thought"]);
    assert_eq!(messages[0]["room"], "#general");
    assert_eq!(messages[0]["attachments"][0]["name"], "notes.txt");
    assert_eq!(messages[0]["attachments"][0]["sha256"], file.sha256);
    assert_eq!(export["reactions"][0]["key"], "👍");
    assert_eq!(export["reactions"][0]["message"], bobs);
    assert_eq!(export["files"][0]["name"], "notes.txt");
    let general = export["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["room"] == "#general")
        .unwrap();
    assert_eq!(general["last_read"], bobs);
    assert!(!export.to_string().contains("argon2"), "no password hash");

    // The purge, with the server running: bob sees alice's messages go.
    bob.drain(Duration::from_millis(200)).await;
    let out = ok(&natterd(dir, &["user", "del", "--purge", "alice"], None));
    assert!(out.contains("erased 2 messages and 1 files"), "{out}");
    let mut deleted = Vec::new();
    while deleted.len() < 2 {
        if let natter_shared::Event::Deleted { id, by, .. } = bob
            .event_where(|e| matches!(e, natter_shared::Event::Deleted { .. }))
            .await
        {
            assert_eq!(by, "operator");
            deleted.push(id);
        }
    }
    assert!(deleted.contains(&first));
    // The account's deletion follows its purge within a moment; then its
    // reaction is gone too.
    let mut messages = Vec::new();
    for _ in 0..100 {
        let history = bob
            .request(natter_shared::Request::History {
                room: "#general".into(),
                query: natter_shared::HistoryQuery::default(),
            })
            .await
            .unwrap();
        let Response::Messages { messages: page, .. } = history else {
            panic!()
        };
        messages = page;
        if messages.iter().all(|m| m.reactions.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for m in &messages {
        if m.from == "alice" {
            assert!(
                m.deleted && m.body.is_empty() && m.attachments.is_empty(),
                "{m:?}"
            );
        }
    }
    let kept = messages.iter().find(|m| m.id == bobs).unwrap();
    assert_eq!(kept.body, "bob here");
    assert!(kept.reactions.is_empty(), "alice's reaction went with her");
    // The file's bytes are gone from the data dir.
    let stored = dir.join("blobs").join(&file.sha256[..2]).join(&file.sha256);
    assert!(!stored.exists(), "{}", stored.display());
    let out = natterd(dir, &["user", "export", "alice"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user"));
}
