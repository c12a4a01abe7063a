//! The bot from the crate docs, run for real: against an in-process natterd
//! on loopback, a bot joins `#bots` and answers `!ping`.

use natter_client::{ConnectOptions, Connection, Incoming};
use natter_server::testing::{PASSWORD, TestServer, WAIT};
use natter_shared::{Credential, Event, HistoryQuery};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_bot_answers_ping() {
    let server = TestServer::start(&["pingbot", "alice"], |_| {}).await;
    natter_server::admin::add_room(&server.data_dir, "#bots", false, None).unwrap();
    let addr = server.addr.to_string();
    // Give the running server a moment to follow the operator's new room.
    let bot_addr = addr.clone();
    let bot = tokio::spawn(async move {
        let (conn, mut events) = Connection::connect(&bot_addr, &ConnectOptions::default()).await?;
        conn.login("pingbot", Credential::PasswordOnly(PASSWORD.into()))
            .await?;
        let mut joined = conn.join("#bots").await;
        while joined.is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            joined = conn.join("#bots").await;
        }
        while let Some(incoming) = events.recv().await {
            if let Incoming::Event(Event::Message(m)) = incoming
                && m.body.trim() == "!ping"
            {
                conn.send_message(&m.room, &format!("pong, {}", m.from), false)
                    .await?;
            }
        }
        Ok::<_, natter_client::ClientError>(())
    });
    let (alice, _events) = Connection::connect(&addr, &ConnectOptions::default())
        .await
        .unwrap();
    alice
        .login("alice", Credential::PasswordOnly(PASSWORD.into()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while alice.join("#bots").await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "#bots never appeared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The bot may still be joining: ping until it answers.
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bot never answered"
        );
        alice.send_message("#bots", "!ping", false).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (messages, _) = alice
            .history(
                "#bots",
                HistoryQuery {
                    before: None,
                    after: None,
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        if messages
            .iter()
            .any(|m| m.from == "pingbot" && m.body == "pong, alice")
        {
            break;
        }
    }
    bot.abort();
}

#[path = "../examples/pingbot.rs"]
mod pingbot;

#[test]
fn the_example_bot_answers_ping_and_rolls_dice() {
    let mut fours = |_| 4;
    assert_eq!(
        pingbot::answer("!ping", "alice", &mut fours).as_deref(),
        Some("pong, alice")
    );
    assert_eq!(
        pingbot::answer("!roll 3d6", "bob", &mut fours).as_deref(),
        Some("bob rolled 3d6: 4 + 4 + 4 = 12")
    );
    assert_eq!(
        pingbot::answer("!roll", "bob", &mut fours).as_deref(),
        Some("bob rolled 1d6: 4 = 4")
    );
    assert!(
        pingbot::answer("!roll 99d6", "bob", &mut fours)
            .unwrap()
            .contains("1 to 20 dice")
    );
    assert_eq!(pingbot::answer("hello !ping", "bob", &mut fours), None);
    assert_eq!(pingbot::answer("", "bob", &mut fours), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_bot_runs_on_an_api_token_against_a_real_server() {
    let server = TestServer::start(&["alice"], |_| {}).await;
    natter_server::admin::add_bot(&server.data_dir, "pingbot").unwrap();
    natter_server::admin::invite(&server.data_dir, "#general", "pingbot").unwrap();
    let token =
        natter_server::admin::create_token(&server.data_dir, "pingbot", "bot", None).unwrap();
    let addr = server.addr.to_string();
    let bot_addr = addr.clone();
    let bot = tokio::spawn(async move { pingbot::run(&bot_addr, "pingbot", token).await });
    let (alice, _events) = Connection::connect(&addr, &ConnectOptions::default())
        .await
        .unwrap();
    alice
        .login("alice", Credential::PasswordOnly(PASSWORD.into()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    // The bot may still be connecting: ask until it answers.
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bot never answered"
        );
        alice
            .send_message("#general", "!ping", false)
            .await
            .unwrap();
        alice
            .send_message("#general", "!roll 2d6", false)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (messages, _) = alice
            .history(
                "#general",
                HistoryQuery {
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let from_bot: Vec<&str> = messages
            .iter()
            .filter(|m| m.from == "pingbot")
            .map(|m| m.body.as_str())
            .collect();
        if from_bot.contains(&"pong, alice")
            && from_bot.iter().any(|b| b.starts_with("alice rolled 2d6: "))
        {
            break;
        }
    }
    bot.abort();
}
