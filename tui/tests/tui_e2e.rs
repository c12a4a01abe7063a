//! The real `natter` binary in a real terminal (tmux on a private `-L`
//! socket) against a real natterd (the server library, in this process, on
//! loopback): log in, send, see another client's message and an unread
//! count, lose the server and see "reconnecting", write while offline, get
//! the server back and see the queued message delivered.
//!
//! Needs `tmux`: without it the test says why it skips, unless
//! `NATTER_REQUIRE_E2E=1`, where a missing tmux fails it.

use std::path::Path;
use std::time::{Duration, Instant};

use natter::conn::{ConnectOptions, Connection};
use natter_server::admin;
use natter_shared::{Credential, HistoryQuery};

use natter_server::embedded::Running;
use natter_server::testing::{self, PASSWORD, free_port};

mod support;
use support::{Tmux, have_tmux};

/// Waits until the screen shows `text`, without blocking the runtime the
/// in-process server runs on.
async fn wait_for(tmux: &Tmux, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let screen = tmux.capture();
        if screen.contains(text) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "the screen never showed {text:?}:\n{screen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// natterd on `addr` (fixed, so a restart comes back where the client
/// expects it).
async fn serve(dir: &Path, addr: std::net::SocketAddr) -> Running {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let listeners = natter_server::Listeners {
        plain: Some(listener),
        ..natter_server::Listeners::default()
    };
    Running::start_on(listeners, testing::config(dir)).expect("natterd starts")
}

async fn bodies(addr: &str, room: &str) -> Vec<String> {
    let (conn, _events) = Connection::connect(addr, &ConnectOptions::default())
        .await
        .unwrap();
    conn.login("bob", Credential::PasswordOnly(PASSWORD.into()))
        .await
        .unwrap();
    let (messages, _) = conn
        .history(
            room,
            HistoryQuery {
                before: None,
                after: None,
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    messages.into_iter().map(|m| m.body).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_in_a_real_terminal_through_an_outage() {
    if !have_tmux() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    for user in ["alice", "bob"] {
        admin::add_user(&data, user, PASSWORD, false).unwrap();
    }
    admin::add_room(&data, "#side", false, Some("bob")).unwrap();
    admin::add_room(&data, "#lobby", false, None).unwrap();
    admin::invite(&data, "#side", "alice").unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut server = serve(&data, addr).await;

    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let command = support::natter_command(&home, "alice", &addr.to_string());
    let tmux = Tmux::start(
        format!("natter-e2e-{}", std::process::id()),
        120,
        40,
        &command,
    );

    // Logged in, in #general.
    wait_for(&tmux, "connected as alice@").await;
    wait_for(&tmux, "#general").await;

    // Join a public room, then go back to #general with Ctrl+P.
    tmux.keys("/join #lobby");
    tmux.key("Enter");
    let screen = wait_for(&tmux, "│ #lobby").await;
    assert!(
        screen.lines().any(|l| l.starts_with(" 2 #lobby")),
        "listed:\n{screen}"
    );
    tmux.key("C-p");
    wait_for(&tmux, "│ #general").await;

    // Send from the terminal; the server stores it.
    tmux.keys("hello from a real terminal");
    tmux.key("Enter");
    let screen = wait_for(&tmux, "alice hello from a real terminal").await;
    assert!(
        !screen.contains("⋯"),
        "acknowledged, so not pending:\n{screen}"
    );
    let stored = bodies(&addr.to_string(), "#general").await;
    assert!(
        stored.contains(&"hello from a real terminal".to_owned()),
        "{stored:?}"
    );

    // A second client writes here and in another room: the message shows,
    // and the other room gets an unread count.
    let (bob, _events) = Connection::connect(&addr.to_string(), &ConnectOptions::default())
        .await
        .unwrap();
    bob.login("bob", Credential::PasswordOnly(PASSWORD.into()))
        .await
        .unwrap();
    bob.send_message("#general", "hi alice, bob here", false)
        .await
        .unwrap();
    bob.send_message("#side", "psst @alice", false)
        .await
        .unwrap();
    wait_for(&tmux, "bob hi alice, bob here").await;
    let screen = wait_for(&tmux, "1 @1").await;
    assert!(
        screen
            .lines()
            .any(|l| l.contains("#side") && l.contains("1 @1")),
        "{screen}"
    );
    drop(bob);

    // The server goes away: the status line counts down to a reconnect.
    server.stop().await.expect("natterd stopped");
    wait_for(&tmux, "reconnecting in").await;

    // Written while offline: queued, shown as pending.
    tmux.keys("written while the server was down");
    tmux.key("Enter");
    let screen = wait_for(&tmux, "written while the server was down").await;
    assert!(screen.contains("⋯"), "pending while offline:\n{screen}");

    // The server comes back (same port, same data); Ctrl+R retries now.
    let mut server = serve(&data, addr).await;
    tmux.key("C-r");
    wait_for(&tmux, "connected as alice@").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stored = bodies(&addr.to_string(), "#general").await;
        if stored.contains(&"written while the server was down".to_owned()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queued message never arrived: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let screen = tmux.capture();
        if !screen.contains("⋯") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still pending after delivery:\n{screen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // /quit leaves cleanly.
    tmux.keys("/quit");
    tmux.key("Enter");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux
        .cmd()
        .args(["has-session"])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            Instant::now() < deadline,
            "natter did not quit:\n{}",
            tmux.capture()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await.expect("natterd stopped");
}
