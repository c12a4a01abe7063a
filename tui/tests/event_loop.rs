//! The full-screen client's whole event loop, driven on ratatui's
//! `TestBackend` with key events from the test, against an in-process
//! natterd and an in-memory keyring: no terminal, no tmux.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use keyring_core::CredentialStore;
use natter::app::Settings;
use natter::conn::{ConnectOptions, Connection, Incoming};
use natter::keyring::Keyring;
use natter::tui::{Options, run_main_loop};
use natter::ui::Theme;
use natter_server::testing::{PASSWORD, TestServer, WAIT};
use natter_shared::{Credential, Event};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

type Keys = mpsc::UnboundedSender<std::io::Result<TermEvent>>;

fn press(keys: &Keys, code: KeyCode, modifiers: KeyModifiers) {
    keys.send(Ok(TermEvent::Key(KeyEvent::new(code, modifiers))))
        .expect("the loop is running");
}

fn type_text(keys: &Keys, text: &str) {
    for c in text.chars() {
        press(keys, KeyCode::Char(c), KeyModifiers::NONE);
    }
}

/// Ctrl+C, and `y` in case the loop asks "quit anyway?": a message whose
/// `Sent` has not reached the client yet counts as unsent even when others
/// already see it, so whether the question comes is a race the test must
/// not depend on. A `y` the loop never reads is harmless.
fn quit(keys: &Keys) {
    press(keys, KeyCode::Char('c'), KeyModifiers::CONTROL);
    let _ = keys.send(Ok(TermEvent::Key(KeyEvent::new(
        KeyCode::Char('y'),
        KeyModifiers::NONE,
    ))));
}

/// Runs the loop and the test's driver together, with a deadline on both:
/// a loop that never ends fails the test instead of hanging the suite.
async fn together<A: std::future::Future, B: std::future::Future>(
    client: A,
    driver: B,
) -> (A::Output, B::Output) {
    tokio::time::timeout(WAIT * 4, async { tokio::join!(client, driver) })
        .await
        .expect("the loop and the test finish in time")
}

/// Polls `check` until it holds or [`WAIT`] passes.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The terminal's key events, as the test sends them.
type KeyPoll = Box<
    dyn FnMut(&mut std::task::Context<'_>) -> std::task::Poll<Option<std::io::Result<TermEvent>>>
        + Unpin,
>;
type KeyStream = futures_util::stream::PollFn<KeyPoll>;

/// What drives one run of the loop: its keys, a mock keyring, and alice's
/// options against `addr` with no credential (the tests set one).
struct Rig {
    keys: Keys,
    events: KeyStream,
    keyring: Keyring,
    options: Options,
}

fn rig(addr: &str) -> Rig {
    let store: Arc<CredentialStore> = keyring_core::mock::Store::new().expect("a mock store");
    let keyring = Keyring::from_store(store, "mock");
    let (keys, mut key_rx) = mpsc::unbounded_channel();
    let poll: KeyPoll = Box::new(move |cx| key_rx.poll_recv(cx));
    let options = Options {
        server: addr.to_owned(),
        user: "alice".into(),
        credential: None,
        source: String::new(),
        keyring: keyring.clone(),
        settings: Settings::default(),
        theme: Theme::plain(),
        connect: ConnectOptions::default(),
        prefs_path: None,
        picker: None,
    };
    Rig {
        keys,
        events: futures_util::stream::poll_fn(poll),
        keyring,
        options,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_in_from_the_login_screen_keeps_the_token_sends_and_quits() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let addr = server.addr.to_string();
    let Rig {
        keys,
        events,
        keyring,
        options,
    } = rig(&addr);

    // Bob watches #general through the library.
    let (bob, mut bob_events) = Connection::connect(&addr, &ConnectOptions::default())
        .await
        .expect("bob connects");
    bob.login("bob", Credential::Password(PASSWORD.into()))
        .await
        .expect("bob logs in");

    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("a test terminal");
    let mut out = Vec::new();
    // No credential anywhere: the login screen asks.
    let account = format!("alice@{addr}");

    let client = run_main_loop(&mut terminal, events, &mut out, options);
    let driver = async {
        // The login screen starts at the password: the user is known.
        type_text(&keys, PASSWORD);
        press(&keys, KeyCode::Enter, KeyModifiers::NONE);
        // Logged in: the session token lands in the keyring.
        eventually("the session token in the keyring", || async {
            keyring.token(&account).await.is_some()
        })
        .await;
        type_text(&keys, "hello from the loop");
        press(&keys, KeyCode::Enter, KeyModifiers::NONE);
        let seen = tokio::time::timeout(WAIT, async {
            while let Some(incoming) = bob_events.recv().await {
                if let Incoming::Event(Event::Message(m)) = incoming
                    && m.from == "alice"
                {
                    return Some(m);
                }
            }
            None
        })
        .await
        .expect("bob sees alice's message in time")
        .expect("bob's connection stays up");
        assert_eq!(
            (seen.room.as_str(), seen.body.as_str()),
            ("#general", "hello from the loop")
        );
        quit(&keys);
    };
    let (result, ()) = together(client, driver).await;
    result.expect("the loop ends cleanly on Ctrl+C");

    let screen = format!("{}", terminal.backend());
    assert!(screen.contains("hello from the loop"), "{screen}");
    assert!(screen.contains("connected as alice@"), "{screen}");
    assert!(!screen.contains(PASSWORD), "the password is never shown");
    let title = String::from_utf8_lossy(&out);
    assert!(
        title.contains("natter"),
        "the window title went to `out`: {title:?}"
    );
}

/// natterd on a fixed address (so a restart comes back where the client
/// expects it), on `dir`.
fn serve_on(dir: &std::path::Path, addr: std::net::SocketAddr) -> natter_server::embedded::Running {
    let listener = std::net::TcpListener::bind(addr).expect("the address is free");
    listener.set_nonblocking(true).unwrap();
    let listeners = natter_server::Listeners {
        plain: Some(tokio::net::TcpListener::from_std(listener).unwrap()),
        ..natter_server::Listeners::default()
    };
    natter_server::embedded::Running::start_on(listeners, natter_server::testing::config(dir))
        .expect("natterd starts")
}

/// Bodies of `#general`, read by bob with a fresh connection.
async fn general_bodies(addr: &str) -> Vec<String> {
    let (conn, _events) = Connection::connect(addr, &ConnectOptions::default())
        .await
        .expect("bob connects");
    conn.login("bob", Credential::PasswordOnly(PASSWORD.into()))
        .await
        .expect("bob logs in");
    let (messages, _) = conn
        .history(
            "#general",
            natter_shared::HistoryQuery {
                before: None,
                after: None,
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .expect("a history page");
    messages.into_iter().map(|m| m.body).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comes_back_after_a_server_restart_with_its_stored_token() {
    let tmp = tempfile::tempdir().unwrap();
    natter_server::testing::add_users(tmp.path(), &["alice", "bob"]);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], natter_server::testing::free_port()));
    let mut server = serve_on(tmp.path(), addr);
    let Rig {
        keys,
        events,
        keyring,
        options,
    } = rig(&addr.to_string());
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("a test terminal");
    let mut out = Vec::new();
    let account = format!("alice@{addr}");
    // Alice's token, from an earlier login, is in the keyring: the client
    // logs in with it, and again with it after the restart.
    let (first, _) = Connection::connect(&addr.to_string(), &ConnectOptions::default())
        .await
        .expect("alice connects");
    let token = first
        .login("alice", Credential::Password(PASSWORD.into()))
        .await
        .expect("alice logs in")
        .token
        .expect("a password login issues a token");
    drop(first);
    keyring.set_token(&account, &token).await.expect("stored");
    let options = Options {
        credential: Some(Credential::Token(token)),
        ..options
    };
    // Bob sees alice come online: the client is ready for input then.
    let (bob, mut bob_events) = Connection::connect(&addr.to_string(), &ConnectOptions::default())
        .await
        .expect("bob connects");
    bob.login("bob", Credential::PasswordOnly(PASSWORD.into()))
        .await
        .expect("bob logs in");
    let client = run_main_loop(&mut terminal, events, &mut out, options);
    let driver = async {
        let addr = addr.to_string();
        tokio::time::timeout(WAIT, async {
            while let Some(incoming) = bob_events.recv().await {
                if let Incoming::Event(Event::Presence { user, state, .. }) = incoming
                    && user == "alice"
                    && state == natter_shared::PresenceState::Online
                {
                    return;
                }
            }
        })
        .await
        .expect("alice comes online");
        type_text(&keys, "before the restart");
        press(&keys, KeyCode::Enter, KeyModifiers::NONE);
        eventually("the first message stored", || async {
            general_bodies(&addr)
                .await
                .contains(&"before the restart".to_owned())
        })
        .await;
        server.stop().await.expect("natterd stopped");
        // Written while the server is down: queued, sent after the reconnect.
        type_text(&keys, "during the outage");
        press(&keys, KeyCode::Enter, KeyModifiers::NONE);
        let server = serve_on(tmp.path(), addr.parse().unwrap());
        eventually("the queued message sent after the reconnect", || async {
            general_bodies(&addr)
                .await
                .contains(&"during the outage".to_owned())
        })
        .await;
        assert!(keyring.token(&account).await.is_some(), "the token is kept");
        quit(&keys);
        server
    };
    let (result, mut server) = together(client, driver).await;
    result.expect("the loop ends cleanly on Ctrl+C");
    server.stop().await.expect("natterd stopped");
    let screen = format!("{}", terminal.backend());
    assert!(screen.contains("during the outage"), "{screen}");
    assert!(screen.contains("connected as alice@"), "{screen}");
}

/// Blocking, reports and invitations from the keyboard, against a real
/// server: a blocked user's messages collapse into one line, a report of
/// theirs reaches the store, and an invitation waiting at login is shown
/// and accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_reports_and_invitations_from_the_keyboard() {
    let server = TestServer::start(&["alice", "bob", "mallory"], |_| {}).await;
    let addr = server.addr.to_string();
    let login = |user: &'static str| {
        let addr = addr.clone();
        async move {
            let (conn, events) = Connection::connect(&addr, &ConnectOptions::default())
                .await
                .expect("connects");
            conn.login(user, Credential::PasswordOnly(PASSWORD.into()))
                .await
                .expect("logs in");
            (conn, events)
        }
    };
    let (bob, _bob_events) = login("bob").await;
    let (mallory, _mallory_events) = login("mallory").await;
    let alice = |rig: Rig| {
        (
            rig.keys,
            rig.events,
            Options {
                credential: Some(Credential::PasswordOnly(PASSWORD.into())),
                ..rig.options
            },
        )
    };

    // First run: block mallory, watch her spam collapse, report it.
    let (keys, events, options) = alice(rig(&addr));
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("a test terminal");
    let mut out = Vec::new();
    let client = run_main_loop(&mut terminal, events, &mut out, options);
    let driver = async {
        eventually("alice online", || async {
            matches!(
                bob.request(natter_shared::Request::Members {
                    room: "#general".into()
                })
                .await,
                Ok(natter_shared::Response::Members { members, .. })
                    if members.iter().any(|m| m.name == "alice"
                        && m.presence == natter_shared::PresenceState::Online)
            )
        })
        .await;
        type_text(&keys, "/block mallory");
        press(&keys, KeyCode::Enter, KeyModifiers::NONE);
        tokio::time::sleep(Duration::from_millis(300)).await;
        for body in ["buy now", "buy more"] {
            mallory
                .send_message("#general", body, false)
                .await
                .expect("mallory posts");
        }
        bob.send_message("#general", "after the spam", false)
            .await
            .expect("bob posts");
        tokio::time::sleep(Duration::from_millis(300)).await;
        type_text(&keys, "/report @mallory selling things");
        press(&keys, KeyCode::Enter, KeyModifiers::NONE);
        eventually("the report is stored", || async {
            natter_server::admin::reports(&server.data_dir, true).is_ok_and(|r| r.len() == 1)
        })
        .await;
        quit(&keys);
    };
    let (result, ()) = together(client, driver).await;
    result.expect("the loop ends cleanly");
    let shown = format!("{}", terminal.backend());
    assert!(shown.contains("2 messages from blocked users"), "{shown}");
    assert!(!shown.contains("buy now"), "{shown}");
    assert!(shown.contains("after the spam"), "{shown}");
    let reports = natter_server::admin::reports(&server.data_dir, true).expect("reports");
    assert_eq!(
        (
            reports[0].report.author.as_str(),
            reports[0].report.reason.as_str()
        ),
        ("mallory", "selling things")
    );
    assert_eq!(reports[0].report.excerpt, "buy more");

    // While alice is away, bob (only #general in common) invites her: the
    // invitation waits, is shown at her next login, and she accepts it.
    bob.create("#team", true).await.expect("bob creates #team");
    bob.request(natter_shared::Request::Invite {
        room: "#team".into(),
        user: "alice".into(),
    })
    .await
    .expect("bob invites alice");
    let (keys, events, options) = alice(rig(&addr));
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("a test terminal");
    let client = run_main_loop(&mut terminal, events, &mut out, options);
    let member_of = |room: &'static str| {
        let bob = &bob;
        async move {
            matches!(
                bob.request(natter_shared::Request::Members { room: room.into() })
                    .await,
                Ok(natter_shared::Response::Members { members, .. })
                    if members.iter().any(|m| m.name == "alice"
                        && m.presence == natter_shared::PresenceState::Online)
            )
        }
    };
    let driver = async {
        eventually("alice online again", || member_of("#general")).await;
        type_text(&keys, "/accept #team");
        press(&keys, KeyCode::Enter, KeyModifiers::NONE);
        eventually("alice in #team", || member_of("#team")).await;
        bob.send_message("#team", "welcome aboard", false)
            .await
            .expect("bob posts in #team");
        tokio::time::sleep(Duration::from_millis(500)).await;
        quit(&keys);
    };
    let (result, ()) = together(client, driver).await;
    result.expect("the loop ends cleanly");
    let shown = format!("{}", terminal.backend());
    assert!(shown.contains("#team"), "{shown}");
    assert!(
        shown.contains("welcome aboard"),
        "accepted and switched: {shown}"
    );
}
