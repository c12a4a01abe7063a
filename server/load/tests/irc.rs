//! The IRC side of the generator against a real ngircd (Debian package
//! `ngircd`) on a private loopback port: registration, joins, operator
//! mode for senders, the PING/PONG window, and that IRC does not echo a
//! message to its sender. Skipped with a reason when ngircd is missing,
//! unless NATTER_REQUIRE_E2E=1.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use natter_load::proto::{Proto, Target};
use natter_load::provision;
use natter_load::rooms::{self, Load};

fn ngircd() -> Option<String> {
    for p in ["/usr/sbin/ngircd", "/usr/bin/ngircd"] {
        if std::path::Path::new(p).exists() {
            return Some(p.into());
        }
    }
    None
}

struct Ngircd(Child);

impl Drop for Ngircd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_scenario_runs_against_ngircd() {
    let bin = ngircd();
    if !natter_server::testing::skip_unless(
        bin.is_some(),
        "ngircd (Debian package ngircd) is missing",
    ) {
        return;
    }
    let Some(bin) = bin else { return };
    let port = natter_server::testing::free_port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ngircd.conf");
    std::fs::write(&conf, provision::ngircd_config(port, "bench", "secret")).unwrap();
    // ngircd drops root for `nobody`, who must be able to read nothing
    // else: the config is read before that.
    let child = Command::new(bin)
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Ngircd(child);
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "ngircd did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let target = Target {
        proto: Proto::Irc,
        addr,
        oper: Some(("bench".into(), "secret".into())),
        irc_token: false,
    };
    let p = rooms::Params {
        target: target.clone(),
        rooms: vec![provision::bench_room(20)],
        senders: 2,
        load: Load::Window(8),
        duration: Duration::from_millis(300),
        payload: 64,
        pid: Some(server.0.id()),
        slow_member: false,
        react_to: None,
    };
    let r = rooms::run(&p).await.unwrap();
    assert!(
        r.sent > 0 && r.acked == r.sent,
        "PONGs acknowledge every send: {r:?}"
    );
    assert_eq!(r.expected, r.sent * 19, "IRC does not echo to the sender");
    assert!(r.complete(), "{r:?}");

    // A wrong operator password is a clear refusal, not a hang.
    let bad = Target {
        oper: Some(("bench".into(), "wrong".into())),
        ..target
    };
    let e = natter_load::proto::connect(&bad, 900, &["#x".into()], true)
        .await
        .err()
        .expect("a wrong oper password must fail");
    assert!(format!("{e:#}").contains("464"), "{e:#}");
}
