//! A day's defects, seen where a user sees them: the real `natter` binary
//! in a real terminal (tmux on a private `-L` socket) against a real
//! natterd (the server library, in this process, on loopback) that goes
//! away and comes back.
//!
//! - the message of the day shows once, in the first room;
//! - `/away` survives a server restart: the other user never sees the
//!   reconnecting user online;
//! - an outage leaves one notice, and one line when it is over;
//! - the status line keeps the room visible while reconnecting;
//! - messages caught up on after the outage, shown at the bottom, are
//!   read: no unread count is left.
//!
//! Needs `tmux`: without it the test says why it skips, unless
//! `NATTER_REQUIRE_E2E=1`, where a missing tmux fails it.

use std::path::Path;
use std::time::Duration;

use natter::conn::{ConnectOptions, Connection, Incoming};
use natter_server::admin;
use natter_server::embedded::Running;
use natter_server::testing::{self, PASSWORD, free_port};
use natter_shared::{Credential, Event, PresenceState, Request, Response};

mod support;
use support::{Tmux, have_tmux};

async fn wait_until(tmux: &Tmux, what: &str, test: impl Fn(&str) -> bool) -> String {
    tmux.screen_until(what, test).await
}

async fn wait_for(tmux: &Tmux, text: &str) -> String {
    tmux.screen_with(text).await
}

async fn serve(dir: &Path, addr: std::net::SocketAddr) -> Running {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let listeners = natter_server::Listeners {
        plain: Some(listener),
        ..natter_server::Listeners::default()
    };
    let mut config = testing::config(dir);
    config.motd = Some("Welcome to the team server. Be kind.".into());
    Running::start_on(listeners, config).expect("natterd starts")
}

async fn bob(addr: &str) -> (Connection, natter::conn::Events) {
    let (conn, events) = Connection::connect(addr, &ConnectOptions::default())
        .await
        .unwrap();
    conn.login("bob", Credential::PasswordOnly(PASSWORD.into()))
        .await
        .unwrap();
    (conn, events)
}

/// Alice's presence as bob's member list shows it.
async fn alice_seen_by(bob: &Connection) -> PresenceState {
    match bob
        .request(Request::Members {
            room: "#general".into(),
        })
        .await
        .unwrap()
    {
        Response::Members { members, .. } => {
            members
                .iter()
                .find(|m| m.name == "alice")
                .expect("alice is a member")
                .presence
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_through_a_server_restart() {
    if !have_tmux() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    for user in ["alice", "bob"] {
        admin::add_user(&data, user, PASSWORD, false).unwrap();
    }
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut server = serve(&data, addr).await;
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let command = support::natter_command(&home, "alice", &addr.to_string());
    let tmux = Tmux::start(
        format!("natter-daily-{}", std::process::id()),
        120,
        40,
        &command,
    );
    wait_for(&tmux, "connected as alice@").await;
    let screen = wait_for(&tmux, "Welcome to the team server").await;
    assert_eq!(screen.matches("Welcome to the team server").count(), 1);

    tmux.enter("/away lunch");
    wait_for(&tmux, "you are away").await;
    let (b, _events) = bob(&addr.to_string()).await;
    assert_eq!(alice_seen_by(&b).await, PresenceState::Away);
    b.send_message("#general", "before the outage", false)
        .await
        .unwrap();
    wait_for(&tmux, "bob before the outage").await;
    drop(b);

    // The server goes; alice sees one notice, and her room stays on the
    // status line whatever the reason says.
    server.stop().await.expect("natterd stopped");
    let screen = wait_for(&tmux, "reconnecting in").await;
    let status = screen
        .lines()
        .find(|l| l.contains("reconnecting in"))
        .unwrap();
    assert!(status.contains("#general"), "{status}");
    assert!(!status.contains("os error"), "a brief reason: {status}");

    // Back (same port, same data). Bob is there first and writes three
    // messages alice has not seen; he watches alice's presence.
    let mut server = serve(&data, addr).await;
    let (b, mut events) = bob(&addr.to_string()).await;
    for i in 1..=3 {
        b.send_message("#general", &format!("missed {i}"), false)
            .await
            .unwrap();
    }
    tmux.key("C-r");
    wait_for(&tmux, "connected again (down for").await;
    let screen = wait_for(&tmux, "missed 3").await;
    assert_eq!(
        screen.matches("disconnected:").count(),
        1,
        "one notice per outage:\n{screen}"
    );
    assert_eq!(screen.matches("connected again").count(), 1, "{screen}");
    // Caught up at the bottom of the room on screen: nothing unread.
    let screen = wait_until(&tmux, "no unread count", |s| {
        s.contains("missed 3") && !s.contains(" unread ")
    })
    .await;
    let general = screen
        .lines()
        .find(|l| l.starts_with(" #general") || l.starts_with("▸#general"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        !general.chars().any(|c| c.is_ascii_digit()),
        "no count beside #general: {general:?}\n{screen}"
    );
    // Alice came back away, and bob was never told she was online.
    assert_eq!(alice_seen_by(&b).await, PresenceState::Away);
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(Some(incoming)) =
        tokio::time::timeout(Duration::from_millis(50), events.recv()).await
    {
        if let Incoming::Event(Event::Presence { user, state, .. }) = incoming {
            assert!(
                !(user == "alice" && state == PresenceState::Online),
                "bob saw alice online after the restart"
            );
        }
    }

    tmux.enter("/quit");
    server.stop().await.expect("natterd stopped");
}
