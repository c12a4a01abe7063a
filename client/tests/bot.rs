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
