//! TLS end to end: natterd serving TLS in-process with certificates made in
//! the test (rcgen), and the built `natter` binary connecting to
//! `tls://` addresses: a good handshake, a wrong host name, an unknown CA,
//! a certificate reload under an open connection, and a client pointed at
//! the wrong kind of port. Never a silent fallback to plain text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use natter::conn::ConnectOptions;
use natter::{ClientError, Connection};
use natter_shared::{Credential, HistoryQuery};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::sync::oneshot;

use natter_server::embedded::Running;
use natter_server::testing::{self, PASSWORD};
const WAIT: Duration = Duration::from_secs(30);

/// A private CA that signs server certificates.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn write_pem(&self, path: &Path) {
        std::fs::write(path, self.issuer.as_ref().pem()).unwrap();
    }

    /// Writes a certificate for `names` and its key.
    fn issue(&self, names: &[&str], cert: &Path, key: &Path) {
        let k = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        let c = params.signed_by(&k, &self.issuer).unwrap();
        std::fs::write(cert, c.pem()).unwrap();
        std::fs::write(key, k.serialize_pem()).unwrap();
    }
}

struct Server {
    rt: tokio::runtime::Runtime,
    tls_port: u16,
    plain: String,
    running: Running,
    config: natter_server::Config,
    tmp: tempfile::TempDir,
}

impl Server {
    /// natterd with TLS on a certificate for `localhost` from `ca`.
    fn start(ca: &Ca) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        natter_server::admin::add_user(&data, "alice", PASSWORD, false).unwrap();
        let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
        ca.issue(&["localhost"], &cert, &key);
        let mut config = testing::config(&data);
        config.tls.cert = Some(cert);
        config.tls.key = Some(key);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (plain, tls, irc_tls) = rt.block_on(async {
            (
                tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
                tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
                tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            )
        });
        let listeners = natter_server::Listeners {
            plain: Some(plain),
            tls: Some(tls),
            irc_tls: Some(irc_tls),
            ..natter_server::Listeners::default()
        };
        let running = {
            let _in = rt.enter();
            Running::start_on(listeners, config.clone()).expect("natterd starts")
        };
        Self {
            tls_port: running.tls_addr.expect("a TLS listener").port(),
            plain: running.addr.to_string(),
            rt,
            running,
            config,
            tmp,
        }
    }

    fn tls(&self, host: &str) -> String {
        format!("tls://{host}:{}", self.tls_port)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `natter --send` to `server` trusting `ca_file`.
    fn send(&self, server: &str, ca_file: Option<&Path>, body: &str) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_natter"));
        cmd.args(["--send", "#general", body])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.tmp.path())
            .env("XDG_CONFIG_HOME", self.tmp.path().join("config"))
            // No system roots can vouch for a test CA.
            .env("SSL_CERT_FILE", "/dev/null")
            .env("SSL_CERT_DIR", "/nonexistent")
            .env("NATTER_SERVER", server)
            .env("NATTER_USER", "alice")
            .env("NATTER_PASSWORD", PASSWORD)
            .env("NATTER_KEYRING", "none")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ca) = ca_file {
            cmd.arg("--ca-file").arg(ca);
        }
        let child = cmd.spawn().unwrap();
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        rx.recv_timeout(WAIT).map_or_else(
            |_| {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("natter did not finish");
            },
            Result::unwrap,
        )
    }

    fn bodies(&self) -> Vec<String> {
        self.rt.block_on(async {
            let (conn, _e) = Connection::connect(&self.plain, &ConnectOptions::default())
                .await
                .unwrap();
            conn.login("alice", Credential::PasswordOnly(PASSWORD.into()))
                .await
                .unwrap();
            let q = HistoryQuery {
                before: None,
                after: None,
                limit: 100,
                ..Default::default()
            };
            let msgs = conn.history("#general", q).await.unwrap().0;
            msgs.into_iter().map(|m| m.body).collect()
        })
    }

    fn reload(&self) -> Result<Vec<String>, String> {
        self.rt.block_on(async {
            let (done, outcome) = oneshot::channel();
            self.running
                .reloads()
                .send((self.config.clone(), done))
                .await
                .unwrap();
            outcome.await.unwrap()
        })
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(out));
}

#[test]
fn a_good_handshake_with_a_private_ca_sends_and_stores() {
    let ca = Ca::new("natter test CA");
    let server = Server::start(&ca);
    let ca_file = server.path("ca.pem");
    ca.write_pem(&ca_file);
    let out = server.send(&server.tls("localhost"), Some(&ca_file), "over tls");
    assert_exit(&out, 0);
    assert_eq!(server.bodies(), ["over tls"]);
}

#[test]
fn a_wrong_host_name_or_an_unknown_ca_is_a_clear_error_and_exit_3() {
    let ca = Ca::new("natter test CA");
    let server = Server::start(&ca);
    let ca_file = server.path("ca.pem");
    ca.write_pem(&ca_file);

    // The certificate names localhost, not 127.0.0.1.
    let out = server.send(&server.tls("127.0.0.1"), Some(&ca_file), "wrong name");
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("not valid for the name 127.0.0.1"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    // Another CA.
    let other = Ca::new("someone else");
    let other_file = server.path("other.pem");
    other.write_pem(&other_file);
    let out = server.send(&server.tls("localhost"), Some(&other_file), "unknown ca");
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("not signed by the CA in"),
        "{}",
        stderr(&out)
    );

    // No CA file and no system roots that know it.
    let out = server.send(&server.tls("localhost"), None, "no roots");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("TLS"), "{}", stderr(&out));

    // None of these reached the server.
    assert!(server.bodies().is_empty());
}

#[test]
fn the_wrong_kind_of_port_fails_instead_of_falling_back() {
    let ca = Ca::new("natter test CA");
    let server = Server::start(&ca);
    let ca_file = server.path("ca.pem");
    ca.write_pem(&ca_file);
    // TLS to the plain port.
    let plain_port = server.plain.rsplit_once(':').unwrap().1;
    let out = server.send(
        &format!("tls://localhost:{plain_port}"),
        Some(&ca_file),
        "x",
    );
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("did not answer with TLS"),
        "{}",
        stderr(&out)
    );
    // Plain text to the TLS port.
    let out = server.send(&format!("127.0.0.1:{}", server.tls_port), None, "x");
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("the server answered with TLS; use tls://"),
        "{}",
        stderr(&out)
    );
    assert!(server.bodies().is_empty());
}

#[test]
fn a_certificate_reload_serves_new_handshakes_and_keeps_open_connections() {
    let ca = Ca::new("first CA");
    let server = Server::start(&ca);
    let first = server.path("first.pem");
    ca.write_pem(&first);
    let opts = ConnectOptions {
        ca_file: Some(first.clone()),
        ..ConnectOptions::default()
    };
    let open = server.rt.block_on(async {
        let (conn, _events) = Connection::connect(&server.tls("localhost"), &opts)
            .await
            .unwrap();
        conn.login("alice", Credential::PasswordOnly(PASSWORD.into()))
            .await
            .unwrap();
        conn
    });

    // A renewed certificate from a new CA, written over the old files.
    let next = Ca::new("second CA");
    let second = server.path("second.pem");
    next.write_pem(&second);
    next.issue(
        &["localhost"],
        &server.path("cert.pem"),
        &server.path("key.pem"),
    );
    let changes = server.reload().unwrap();
    assert!(changes.is_empty(), "same config, new files: {changes:?}");

    // New handshakes get the new certificate...
    assert_exit(
        &server.send(&server.tls("localhost"), Some(&second), "after reload"),
        0,
    );
    let out = server.send(&server.tls("localhost"), Some(&first), "old ca");
    assert_exit(&out, 3);
    // ...while the connection made before keeps working.
    server.rt.block_on(async {
        open.send_message("#general", "still here", false)
            .await
            .unwrap();
    });
    assert_eq!(server.bodies(), ["after reload", "still here"]);

    // A broken certificate file is refused and the running one stays.
    std::fs::write(server.path("cert.pem"), "not a certificate").unwrap();
    let err = server.reload().unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    assert_exit(
        &server.send(&server.tls("localhost"), Some(&second), "kept"),
        0,
    );
}

#[test]
fn the_library_reports_certificate_errors_as_tls_errors() {
    let ca = Ca::new("natter test CA");
    let server = Server::start(&ca);
    let other = Ca::new("other");
    let other_file = server.path("other.pem");
    other.write_pem(&other_file);
    let opts = ConnectOptions {
        ca_file: Some(other_file),
        ..ConnectOptions::default()
    };
    let err = server
        .rt
        .block_on(Connection::connect(&server.tls("localhost"), &opts))
        .unwrap_err();
    assert!(matches!(err, ClientError::Tls { .. }), "{err}");
    assert_eq!(err.exit_code(), 3);
}

/// IRC over TLS (`[irc] tls_listen`) with the server's certificate, through
/// a real TLS client (`openssl s_client`, verifying against the test CA):
/// PASS registration gets the welcome, and a message reaches natter.
#[test]
fn irc_over_tls_uses_the_servers_certificate() {
    use std::io::{BufRead, BufReader, Write};
    if !testing::have_tool("openssl", &["version"], "openssl") {
        return;
    }
    let ca = Ca::new("natter test CA");
    let server = Server::start(&ca);
    let ca_file = server.path("ca.pem");
    ca.write_pem(&ca_file);
    let port = server
        .running
        .irc_tls_addr
        .expect("an IRC TLS listener")
        .port();
    let mut client = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-servername",
            "localhost",
        ])
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(&ca_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = client.stdin.take().unwrap();
    write!(
        input,
        "PASS alice:{PASSWORD}\r\nNICK alice\r\nUSER alice 0 * :Alice\r\n"
    )
    .unwrap();
    input.flush().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = client.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = std::time::Instant::now() + WAIT;
    let until = |want: &str| loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_else(|_| panic!("no {want:?} over IRC/TLS"));
        if line.contains(want) {
            return line;
        }
    };
    until(" 001 alice ");
    until(" 366 alice #general ");
    write!(input, "PRIVMSG #general :hello over TLS\r\n").unwrap();
    input.flush().unwrap();
    let history = server.rt.block_on(async {
        let (conn, _events) =
            natter::Connection::connect(&server.plain, &natter::conn::ConnectOptions::default())
                .await
                .unwrap();
        conn.login(
            "alice",
            natter_shared::Credential::Password(PASSWORD.into()),
        )
        .await
        .unwrap();
        let mut found = false;
        for _ in 0..50 {
            let (messages, _) = conn
                .history(
                    "#general",
                    natter_shared::HistoryQuery {
                        limit: 10,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            if messages.iter().any(|m| m.body == "hello over TLS") {
                found = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        found
    });
    assert!(history, "the message sent over IRC/TLS is in #general");
    write!(input, "QUIT :done\r\n").unwrap();
    drop(input);
    let _ = client.wait();
}
