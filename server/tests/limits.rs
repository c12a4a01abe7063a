//! Resource limits a hostile peer probes: file descriptors, the frame size
//! before login, and the shares that keep one peer from crowding out the
//! rest. Each against a real server on loopback, the first through the
//! built binary under a low open-file limit.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Client, PASSWORD, ServerExt, TestServer, WAIT, free_port};
use natter_shared::{ErrorCode, Request, Response, ServerFrame};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_open_file_limit_caps_connections_instead_of_failing_accept() {
    if !natter_server::testing::have_tool("prlimit", &["--version"], "util-linux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    natter_server::testing::add_users(dir.path(), &["alice", "bob"]);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    // 256 descriptors, soft and hard: the default max_connections (10,000)
    // cannot be honoured.
    let mut child = Command::new("prlimit")
        .arg("--nofile=256:256")
        .arg(env!("CARGO_BIN_EXE_natterd"))
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natterd starts under prlimit");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let log = std::sync::Arc::clone(&log);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        })
    };
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(started.elapsed() < WAIT, "natterd did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut alice = Client::login(addr, "alice", PASSWORD).await.0;

    // Idle sockets that never say hello, from four addresses (100 each is
    // the per-address limit): far more than 256 descriptors.
    let mut idle = Vec::new();
    for n in 0..400u32 {
        let source = [127, 0, 0, 10 + u8::try_from(n / 100).unwrap()];
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::from((source, 0)))
            .unwrap();
        if let Ok(s) = socket.connect(addr).await {
            idle.push(s);
        }
    }
    // The logged-in user is untouched.
    assert!(matches!(
        alice.send_text("#general", "still here").await,
        Ok(Response::Sent { .. })
    ));
    // A newcomer logs in at once: the oldest idle sockets made room.
    let (_bob, _) = Client::login(addr, "bob", PASSWORD).await;
    // And the first idle socket was told why it was closed.
    let mut first = Client::from_stream(idle.remove(0));
    let told = first.next_frame().await;
    assert!(
        matches!(
            told,
            Some(ServerFrame::Event(natter_shared::Event::Closing {
                code: ErrorCode::ServerFull,
                ..
            }))
        ),
        "{told:?}"
    );
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("the open-file limit allows fewer connections"),
        "the cap is logged: {log}"
    );
    assert!(!log.contains("accept failed"), "accept never failed: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_are_small_until_login_and_full_size_after() {
    let server = TestServer::start(&["alice"], |c| {
        c.limits.max_message_len = 8000;
        c.history.max_page = 50;
    })
    .await;
    // Before login: a 5 KB login frame is refused and the connection closed.
    let mut c = Client::connect(server.addr).await;
    c.hello().await;
    c.send_req(Request::Login {
        user: "x".repeat(5000),
        credential: natter_shared::Credential::PasswordOnly(PASSWORD.into()),
        presence: None,
    })
    .await;
    // Refused from its length prefix alone, so the reply cannot name the
    // request's id.
    let Some(ServerFrame::Err { id: 0, err: e }) = c.next_frame().await else {
        panic!("a frame_too_large reply");
    };
    assert_eq!(e.code, ErrorCode::FrameTooLarge);
    assert!(e.message.contains("4096"), "{}", e.message);
    assert!(c.closing().await.is_some());
    // After login: a 6 KB message goes through.
    let mut alice = server.login("alice").await;
    assert!(matches!(
        alice.send_text("#general", &"y".repeat(6000)).await,
        Ok(Response::Sent { .. })
    ));
}

fn typing_of(events: &[natter_shared::Event], who: &str) -> Vec<bool> {
    events
        .iter()
        .filter_map(|e| match e {
            natter_shared::Event::Typing { user, active, .. } if user == who => Some(*active),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_start_stop_cannot_get_around_the_typing_throttle() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    alice.drain(Duration::from_millis(100)).await;
    bob.drain(Duration::from_millis(100)).await;
    for _ in 0..30 {
        for active in [true, true, false] {
            alice
                .request(Request::Typing {
                    room: "#general".into(),
                    active,
                })
                .await
                .unwrap();
        }
    }
    let seen = typing_of(&bob.drain(Duration::from_millis(500)).await, "alice");
    assert_eq!(seen, [true, false], "one start and one stop per interval");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_flips_on_many_connections_reach_others_coalesced() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut bob = server.login("bob").await;
    let mut alices = Vec::new();
    for _ in 0..5 {
        alices.push(server.login("alice").await);
    }
    bob.drain(Duration::from_millis(1200)).await;
    let states = [
        natter_shared::PresenceState::Away,
        natter_shared::PresenceState::Busy,
    ];
    for round in 0..40 {
        for (n, a) in alices.iter_mut().enumerate() {
            a.request(Request::Presence {
                state: states[(round + n) % 2],
                status: Some(format!("round {round}")),
            })
            .await
            .unwrap();
        }
    }
    // 200 changes; bob hears the first at once and the latest once the
    // interval ends: a handful, not hundreds.
    let events = bob.drain(Duration::from_millis(2500)).await;
    let seen: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            natter_shared::Event::Presence { user, status, .. } if user == "alice" => {
                Some(status.clone())
            }
            _ => None,
        })
        .collect();
    assert!(
        (1..=4).contains(&seen.len()),
        "{} presence events: {seen:?}",
        seen.len()
    );
    assert_eq!(
        seen.last().cloned().flatten().as_deref(),
        Some("round 39"),
        "the latest state wins"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_connections_of_one_account_share_one_rate() {
    let server = TestServer::start(&["alice"], |c| {
        c.limits.account_requests_per_sec = 1.0;
        c.limits.account_request_burst = 20.0;
    })
    .await;
    let mut conns = Vec::new();
    for _ in 0..10 {
        conns.push(server.login("alice").await);
    }
    let mut sent = 0;
    let mut limited = 0;
    for round in 0..10 {
        for c in &mut conns {
            match c.send_text("#general", &format!("r{round}")).await {
                Ok(Response::Sent { .. }) => sent += 1,
                Err(e) if e.code == ErrorCode::RateLimited => {
                    assert!(e.retry_after_ms.is_some());
                    limited += 1;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    // 100 sends against one account's burst of 20 (plus what a second of
    // refill adds), however many connections they came through.
    assert!((20..=25).contains(&sent), "sent {sent}, limited {limited}");
    assert_eq!(sent + limited, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_direct_conversations_has_an_hourly_quota() {
    let server = TestServer::start(&["alice", "b1", "b2", "b3", "b4"], |c| {
        c.limits.directs_per_user_per_hour = 3;
    })
    .await;
    let mut alice = server.login("alice").await;
    for peer in ["@b1", "@b2", "@b3"] {
        alice.send_text(peer, "hi").await.unwrap();
    }
    // Existing ones cost nothing more.
    alice.send_text("@b1", "again").await.unwrap();
    let e = alice.send_text("@b4", "hi").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Quota);
    assert!(e.message.contains("direct conversations"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_quote_only_a_little_of_bad_input() {
    let server = TestServer::start(&["alice"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let huge = format!("#{}", "é".repeat(8000));
    let e = alice
        .request(Request::Join { room: huge.clone() })
        .await
        .unwrap_err();
    assert!(
        e.message.len() <= 304,
        "a {} byte message for a {} byte name",
        e.message.len(),
        huge.len()
    );
    assert!(e.message.ends_with('…'), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invisible_user_logging_in_again_never_shows_online() {
    let server = TestServer::start(&["alice", "bob"], |c| c.limits.presence_throttle_ms = 0).await;
    let mut bob = server.login("bob").await;
    let mut first = server.login("alice").await;
    first
        .request(Request::Presence {
            state: natter_shared::PresenceState::Invisible,
            status: None,
        })
        .await
        .unwrap();
    bob.drain(Duration::from_millis(200)).await;
    // A second session (another device) logs in: it starts invisible too.
    let _second = server.login("alice").await;
    let seen = bob.drain(Duration::from_millis(300)).await;
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            natter_shared::Event::Presence { user, state, .. }
                if user == "alice" && *state != natter_shared::PresenceState::Offline
        )),
        "{seen:?}"
    );
    let Ok(Response::Members { members, .. }) = bob
        .request(Request::Members {
            room: "#general".into(),
        })
        .await
    else {
        panic!("members");
    };
    let alice = members.iter().find(|m| m.name == "alice").unwrap();
    assert_eq!(alice.presence, natter_shared::PresenceState::Offline);
}

/// With the share of connections not logged in full, each newcomer makes
/// the oldest idle one go, whichever protocol either speaks, and the one
/// that goes is told why: IRC with `ERROR`, natter with `Closing`
/// (`server_full`, try again in a second). The newest still logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_idle_connection_not_logged_in_makes_room_over_either_protocol() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let server = TestServer::start(&["alice"], |c| {
        c.limits.max_unauthenticated = 2;
        c.irc.listen = "127.0.0.1:0".into();
    })
    .await;
    let irc_addr = server.running.irc_addr.expect("an IRC listener");
    // The oldest: an IRC client that has not registered. Its PONG shows it
    // was let in before the next one connects.
    let (read, mut irc) = tokio::net::TcpStream::connect(irc_addr)
        .await
        .unwrap()
        .into_split();
    let mut irc_lines = tokio::io::BufReader::new(read).lines();
    irc.write_all(b"PING :first\r\n").await.unwrap();
    let pong = tokio::time::timeout(WAIT, irc_lines.next_line()).await;
    assert!(
        matches!(&pong, Ok(Ok(Some(l))) if l.contains("PONG") && l.contains("first")),
        "{pong:?}"
    );
    let mut second = Client::connect(server.addr).await;
    second.hello().await;
    // A third makes the IRC client go.
    let mut third = Client::connect(server.addr).await;
    third.hello().await;
    let mut said = Vec::new();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(WAIT, irc_lines.next_line()).await {
        said.push(line);
    }
    assert!(
        said.iter()
            .any(|l| l.starts_with("ERROR") && l.contains("too many connections are logging in")),
        "{said:?}"
    );
    // A fourth makes the natter one go.
    let mut fourth = Client::connect(server.addr).await;
    fourth.hello().await;
    assert_eq!(
        second.closing().await,
        Some((ErrorCode::ServerFull, Some(1000)))
    );
    // The newest logs in.
    let login = fourth
        .request(Request::Login {
            user: "alice".into(),
            credential: natter_shared::Credential::Password(PASSWORD.into()),
            presence: None,
        })
        .await;
    assert!(matches!(login, Ok(Response::Session(_))), "{login:?}");
}
