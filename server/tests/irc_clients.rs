//! Real IRC clients against natterd's IRC front end on loopback: Debian's
//! weechat-headless (SASL) and irssi in tmux (PASS). Each sees the room's
//! topic and names, and exchanges messages both ways with a natter user
//! (natter's own protocol, the test client of `common`). Skipped with a
//! reason when the client is missing, failed under NATTER_REQUIRE_E2E=1.

mod common;

use std::time::Duration;

use common::{ServerExt, TestServer};
use natter_server::testing::tmux::Tmux;
use natter_server::testing::{PASSWORD, have_tool};
use natter_shared::{Event, Request};

async fn server() -> TestServer {
    TestServer::start(&["alice", "bob"], |c| {
        c.irc.listen = "127.0.0.1:0".into();
    })
    .await
}

/// An admin sets #general's topic, which the IRC client must then see.
async fn topic(s: &TestServer) {
    natter_server::admin::add_user(&s.data_dir, "root", PASSWORD, true).unwrap();
    let mut root = s.login("root").await;
    root.request(Request::Topic {
        room: "#general".into(),
        topic: "release day".into(),
    })
    .await
    .expect("an admin sets the topic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weechat_joins_with_sasl_and_chats_with_a_natter_user() {
    if !have_tool("weechat-headless", &["--version"], "weechat-headless") {
        return;
    }
    let s = server().await;
    let port = s.running.irc_addr.unwrap().port();
    let mut bob = s.login("bob").await;
    topic(&s).await;
    let home = tempfile::tempdir().unwrap();
    let commands = [
        format!("/server add natter 127.0.0.1/{port} -notls"),
        "/set irc.server.natter.nicks alice".into(),
        "/set irc.server.natter.sasl_username alice".into(),
        format!("/set irc.server.natter.sasl_password \"{PASSWORD}\""),
        "/set irc.server.natter.anti_flood_prio_high 0".into(),
        "/connect natter".into(),
        "/wait 3 /command -buffer irc.server.natter irc /msg #general hello from weechat".into(),
        "/wait 10 /quit".into(),
    ]
    .join(";");
    let mut weechat = tokio::process::Command::new("weechat-headless")
        .arg("--dir")
        .arg(home.path())
        .arg("-r")
        .arg(&commands)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let got = tokio::time::timeout(
        Duration::from_secs(20),
        bob.event_where(|e| matches!(e, Event::Message(m) if m.body == "hello from weechat")),
    )
    .await
    .expect("weechat's message reaches natter");
    let Event::Message(m) = got else {
        unreachable!()
    };
    assert_eq!((m.from.as_str(), m.room.as_str()), ("alice", "#general"));
    bob.send_text("#general", "hello weechat, from natter")
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), weechat.wait())
        .await
        .expect("weechat quits")
        .unwrap();
    assert!(status.success());
    let log = std::fs::read_to_string(home.path().join("logs/irc.natter.#general.weechatlog"))
        .expect("weechat logged the room");
    for want in [
        "alice (alice@natter) has joined #general",
        "release day",
        "3 nicks",
        "hello from weechat",
        "bob\thello weechat, from natter",
    ] {
        assert!(log.contains(want), "{want:?} in weechat's log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irssi_joins_with_pass_and_chats_with_a_natter_user() {
    if !have_tool("irssi", &["--version"], "irssi") || !have_tool("tmux", &["-V"], "tmux") {
        return;
    }
    let s = server().await;
    let port = s.running.irc_addr.unwrap().port();
    let mut bob = s.login("bob").await;
    topic(&s).await;
    let home = tempfile::tempdir().unwrap();
    // irssi splits a password with spaces on its command line; carol's
    // has none.
    natter_server::admin::add_user(&s.data_dir, "carol", "irssi-pass-1", false).unwrap();
    let command = format!(
        "irssi --home={} -c 127.0.0.1 -p {port} -n carol -w carol:irssi-pass-1",
        home.path().display()
    );
    let tmux = std::sync::Arc::new(Tmux::start(
        format!("natter-irssi-{}", std::process::id()),
        120,
        40,
        &command,
    ));
    let t = std::sync::Arc::clone(&tmux);
    let screen = tokio::task::spawn_blocking(move || {
        t.wait_until(Duration::from_secs(20), "the welcome", |s| {
            s.contains("Welcome to the natter IRC network, carol")
        });
        // The room's window, which the auto-join opened.
        t.enter("/window 2");
        t.wait_until(Duration::from_secs(20), "the room's topic", |s| {
            s.contains("release day")
        })
    })
    .await
    .unwrap();
    assert!(screen.contains("#general"), "{screen}");
    let t = std::sync::Arc::clone(&tmux);
    tokio::task::spawn_blocking(move || {
        t.enter("/names #general");
        t.wait_until(Duration::from_secs(10), "the names", |s| {
            s.contains("+carol") && s.contains("+bob") && s.contains("+root")
        });
        t.enter("/msg #general hello from irssi");
    })
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(20),
        bob.event_where(|e| matches!(e, Event::Message(m) if m.body == "hello from irssi")),
    )
    .await
    .expect("irssi's message reaches natter");
    bob.send_text("#general", "hello irssi, from natter")
        .await
        .unwrap();
    let t = std::sync::Arc::clone(&tmux);
    tokio::task::spawn_blocking(move || {
        t.wait_until(Duration::from_secs(10), "natter's message", |s| {
            s.contains("hello irssi, from natter")
        });
        t.enter("/quit");
    })
    .await
    .unwrap();
}
