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

/// Polls `check` until it holds or [`WAIT`] passes.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_in_from_the_login_screen_keeps_the_token_sends_and_quits() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let addr = server.addr.to_string();
    let store: Arc<CredentialStore> = keyring_core::mock::Store::new().expect("a mock store");
    let keyring = Keyring::from_store(store, "mock");

    // Bob watches #general through the library.
    let (bob, mut bob_events) = Connection::connect(&addr, &ConnectOptions::default())
        .await
        .expect("bob connects");
    bob.login("bob", Credential::Password(PASSWORD.into()))
        .await
        .expect("bob logs in");

    let (keys, key_rx) = mpsc::unbounded_channel();
    let mut key_rx = key_rx;
    let events = futures_util::stream::poll_fn(move |cx| key_rx.poll_recv(cx));
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("a test terminal");
    let mut out = Vec::new();
    let options = Options {
        server: addr.clone(),
        user: "alice".into(),
        // No credential anywhere: the login screen asks.
        credential: None,
        source: String::new(),
        keyring: keyring.clone(),
        settings: Settings::default(),
        theme: Theme::plain(),
        connect: ConnectOptions::default(),
    };
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
        press(&keys, KeyCode::Char('c'), KeyModifiers::CONTROL);
    };
    let (result, ()) = tokio::join!(client, driver);
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
