//! natterd under systemd: the unit in `assets/` passes `systemd-analyze
//! verify`, and the built binary speaks the notify protocol (readiness,
//! reload, watchdog, stop) to a socket this test binds where systemd
//! would, as `NOTIFY_SOCKET`.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use natter_server::testing::{free_port, have_tool};

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/natterd.service");

#[test]
fn the_unit_file_verifies_cleanly() {
    if !have_tool("systemd-analyze", &["--version"], "systemd") {
        return;
    }
    // verify checks that ExecStart's program exists: point it at the
    // built binary.
    let tmp = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(UNIT)
        .unwrap()
        .replace("/usr/local/bin/natterd", env!("CARGO_BIN_EXE_natterd"));
    let path = tmp.path().join("natterd.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // A bad value is only a warning to systemd-analyze: there must be none.
    assert!(stderr.trim().is_empty(), "systemd-analyze warned: {stderr}");
    let text = std::fs::read_to_string(UNIT).unwrap();
    for needed in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=",
        "DynamicUser=yes",
        "StateDirectory=natterd",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ] {
        assert!(text.contains(needed), "the unit lacks {needed}");
    }
}

/// The next datagram within `wait`, as text.
fn next(socket: &UnixDatagram, wait: Duration) -> Option<String> {
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Waits for a datagram that starts with `prefix`, skipping others
/// (watchdog pings come in between).
fn expect(socket: &UnixDatagram, prefix: &str) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if let Some(d) = next(socket, Duration::from_secs(1))
            && d.starts_with(prefix)
        {
            return d;
        }
    }
    panic!("no {prefix} from natterd");
}

#[test]
fn natterd_says_ready_reloading_and_stopping_and_pings_the_watchdog() {
    let tmp = tempfile::tempdir().unwrap();
    let socket_path = tmp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let config = tmp.path().join("natterd.toml");
    std::fs::write(&config, "[log]\nlevel = \"warn\"\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_natterd"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "300000")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = expect(&socket, "READY=1");
    assert!(ready.contains("STATUS=serving"), "{ready}");
    // Pings at half the interval, once the hub and the store answered.
    expect(&socket, "WATCHDOG=1");
    expect(&socket, "WATCHDOG=1");
    let kill = |sig: &str| {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    kill("HUP");
    let reloading = expect(&socket, "RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    expect(&socket, "READY=1");
    kill("TERM");
    expect(&socket, "STOPPING=1");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}
