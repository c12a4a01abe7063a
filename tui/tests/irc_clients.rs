//! Real IRC clients and the built `natter` binary in one room: Debian's
//! weechat-headless (SASL) and irssi in tmux (PASS) connect to natterd's
//! IRC front end on loopback, see the room's topic and names, and chat
//! both ways with a natter user who reads with `natter tail` and writes
//! with `natter --send`. Skipped with a reason when a client is missing,
//! failed under NATTER_REQUIRE_E2E=1.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::server::{Lines, Server, WAIT};
use support::signal;

use natter::Connection;
use natter::conn::ConnectOptions;
use natter_server::testing::tmux::Tmux;
use natter_server::testing::{PASSWORD, have_tool};
use natter_shared::{Credential, Request};

/// A server with IRC on, root (an admin) and carol (a password without
/// spaces, which irssi's command line needs) besides alice and bob, and
/// `#general`'s topic set by root.
fn server() -> Server {
    let server = Server::start_with(|c| {
        c.irc.listen = "127.0.0.1:0".into();
        let data = c.data_dir.clone().expect("a data dir");
        natter_server::admin::add_user(&data, "root", PASSWORD, true).unwrap();
        natter_server::admin::add_user(&data, "carol", "irssi-pass-1", false).unwrap();
    });
    server.rt().block_on(async {
        let (conn, _events) = Connection::connect(&server.addr, &ConnectOptions::default())
            .await
            .unwrap();
        conn.login("root", Credential::Password(PASSWORD.into()))
            .await
            .unwrap();
        conn.request(Request::Topic {
            room: "#general".into(),
            topic: "release day".into(),
        })
        .await
        .expect("an admin sets the topic");
    });
    server
}

fn irc_port(server: &Server) -> u16 {
    server
        .running
        .as_ref()
        .and_then(|r| r.irc_addr)
        .expect("an IRC listener")
        .port()
}

/// `natter tail #general --json` as bob, ready to read.
fn tail(server: &Server) -> (Child, Lines) {
    let mut child = server
        .natter_as("bob", &["tail", "#general", "--json"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    (child, lines)
}

/// Reads `natter tail --json` until a message with `body`; its sender.
fn wait_for(lines: &Lines, body: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let line = lines
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("{body:?} never reached natter tail"));
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        if v["body"] == body {
            assert_eq!(v["room"], "#general", "{line}");
            return v["from"].as_str().unwrap_or_default().to_owned();
        }
    }
}

/// `natter --send '#general' TEXT` as bob, acknowledged.
fn send(server: &Server, text: &str) {
    let out = server
        .natter_as("bob", &["--send", "#general", text])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "natter --send: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stop(mut tail: Child) {
    signal(tail.id(), "INT");
    let _ = tail.wait();
}

#[test]
fn weechat_joins_with_sasl_and_chats_with_natter_tail_and_send() {
    if !have_tool("weechat-headless", &["--version"], "weechat-headless") {
        return;
    }
    let server = server();
    let port = irc_port(&server);
    let (natter_tail, lines) = tail(&server);
    let home = tempfile::tempdir().unwrap();
    let commands = [
        format!("/server add natter 127.0.0.1/{port} -notls"),
        "/set irc.server.natter.nicks alice".into(),
        "/set irc.server.natter.sasl_username alice".into(),
        format!("/set irc.server.natter.sasl_password \"{PASSWORD}\""),
        "/set irc.server.natter.anti_flood_prio_high 0".into(),
        "/connect natter".into(),
        "/wait 3 /command -buffer irc.server.natter irc /msg #general hello from weechat".into(),
        "/wait 12 /quit".into(),
    ]
    .join(";");
    let mut weechat = std::process::Command::new("weechat-headless")
        .arg("--dir")
        .arg(home.path())
        .arg("-r")
        .arg(&commands)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(wait_for(&lines, "hello from weechat"), "alice");
    send(&server, "hello weechat, from natter");
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = weechat.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "weechat did not quit");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
    stop(natter_tail);
    let log = std::fs::read_to_string(home.path().join("logs/irc.natter.#general.weechatlog"))
        .expect("weechat logged the room");
    for want in [
        "alice (alice@natter) has joined #general",
        "release day",
        "hello from weechat",
        "bob\thello weechat, from natter",
    ] {
        assert!(log.contains(want), "{want:?} in weechat's log:\n{log}");
    }
    // Everyone in #general, by name, in weechat's count.
    assert!(log.contains("nicks"), "the names in weechat's log:\n{log}");
}

#[test]
fn irssi_joins_with_pass_and_chats_with_natter_tail_and_send() {
    if !have_tool("irssi", &["--version"], "irssi") || !have_tool("tmux", &["-V"], "tmux") {
        return;
    }
    let server = server();
    let port = irc_port(&server);
    let (natter_tail, lines) = tail(&server);
    let home = tempfile::tempdir().unwrap();
    let command = format!(
        "irssi --home={} -c 127.0.0.1 -p {port} -n carol -w carol:irssi-pass-1",
        home.path().display()
    );
    let tmux = Tmux::start(
        format!("natter-irssi-cli-{}", std::process::id()),
        120,
        40,
        &command,
    );
    tmux.wait_until(Duration::from_secs(20), "the welcome", |s| {
        s.contains("Welcome to the natter IRC network, carol")
    });
    // The room's window, which the auto-join opened.
    tmux.enter("/window 2");
    let screen = tmux.wait_until(Duration::from_secs(20), "the room's topic", |s| {
        s.contains("release day")
    });
    assert!(screen.contains("#general"), "{screen}");
    tmux.enter("/names #general");
    tmux.wait_until(Duration::from_secs(10), "the names", |s| {
        s.contains("+carol") && s.contains("+bob") && s.contains("+root")
    });
    tmux.enter("/msg #general hello from irssi");
    assert_eq!(wait_for(&lines, "hello from irssi"), "carol");
    send(&server, "hello irssi, from natter");
    tmux.wait_until(Duration::from_secs(10), "natter's message", |s| {
        s.contains("hello irssi, from natter")
    });
    tmux.enter("/quit");
    stop(natter_tail);
}
