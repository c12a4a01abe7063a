//! `natterd top` in a real terminal (tmux) against the built natterd:
//! the dashboard comes up, shows the server's sessions, its message rate
//! and the busiest room while messages flow, and quits on `q`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Client;
use natter_server::testing::tmux::Tmux;
use natter_server::testing::{NatterdProcess, free_port, have_tool};

#[tokio::test]
async fn natterd_top_shows_a_live_server_in_a_terminal() {
    if !have_tool("tmux", &["-V"], "tmux") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let config = tmp.path().join("natterd.toml");
    std::fs::write(
        &config,
        format!("[http]\nlisten = \"127.0.0.1:{port}\"\nrequests_per_sec = 100.0\n"),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_natterd");
    common::cli_ok(&common::natterd_cli(
        &data,
        None,
        &["user", "add", "alice"],
        Some("alice password\n"),
    ));
    let server = NatterdProcess::start(
        Path::new(bin),
        &data,
        &["--config", config.to_str().unwrap()],
    );
    let (mut alice, _) = Client::login(server.addr, "alice", "alice password").await;
    let tmux = Tmux::start(
        format!("natterd-top-{}", std::process::id()),
        110,
        32,
        &format!(
            "{bin} --config {} top --every 0.5; sleep 30",
            config.display()
        ),
    );
    let screen = tmux.screen_with("natterd top").await;
    assert!(screen.contains("sessions 1"), "{screen}");
    // Messages flow (from another task, all along): the rate and the
    // busiest room show.
    let sender = tokio::spawn(async move {
        for i in 0.. {
            if alice
                .send_text("#general", &format!("message {i}"))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let screen = tmux
        .screen_until("#general among the busiest rooms", |s| {
            s.lines().any(|l| l.contains("/s  #general"))
        })
        .await;
    let screen = if screen.contains("messages 0/s") {
        tmux.screen_until("a message rate", |s| {
            !s.contains("messages 0/s") && s.contains("messages ")
        })
        .await
    } else {
        screen
    };
    assert!(
        !screen.contains("commit p99 -"),
        "commits were measured: {screen}"
    );
    assert!(screen.contains("commit p99"), "{screen}");
    sender.abort();
    tmux.keys("q");
    tmux.screen_until("top to quit", |s| !s.contains("natterd top"))
        .await;
    drop(server);
}
