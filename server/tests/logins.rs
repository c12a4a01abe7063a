//! Logins under attack, on a real server over loopback, from several client
//! addresses (127.0.0.x): a stranger's wrong passwords lock nobody out,
//! honest logins at once from one address all get in, registration costs
//! an address its share, and a deleted account's name cannot be taken over.

mod common;

use common::{Client, PASSWORD, ServerExt, TestServer, code};
use natter_server::admin;
use natter_shared::{Credential, ErrorCode, HistoryQuery, Request, Response};

const OWNER: [u8; 4] = [127, 0, 0, 1];
const STRANGER: [u8; 4] = [127, 0, 0, 2];
const ELSEWHERE: [u8; 4] = [127, 0, 0, 3];

/// A login from `source` with `credential`: the client, or the refusal.
async fn login_from(
    addr: std::net::SocketAddr,
    source: [u8; 4],
    user: &str,
    credential: Credential,
) -> Result<(Client, natter_shared::SessionInfo), ErrorCode> {
    Client::try_login(addr, Some(source), user, credential).await
}

fn password(p: &str) -> Credential {
    Credential::PasswordOnly(p.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_wrong_passwords_lock_out_neither_token_nor_owner() {
    // The defaults: five failures per account and address.
    let server = TestServer::start(&["alice"], |_| {}).await;
    let (_first, info) = login_from(
        server.addr,
        OWNER,
        "alice",
        Credential::Password(PASSWORD.into()),
    )
    .await
    .expect("alice logs in and gets a token");
    let token = info.token.expect("a token");

    // The stranger guesses five times, then is refused from their address.
    for _ in 0..5 {
        let r = login_from(server.addr, STRANGER, "alice", password("guess")).await;
        assert_eq!(r.err(), Some(ErrorCode::AuthFailed));
    }
    let r = login_from(server.addr, STRANGER, "alice", password(PASSWORD)).await;
    assert_eq!(r.err(), Some(ErrorCode::Throttled), "the stranger is held");

    // Alice is not: her token, her password from her own address, and her
    // password from a third address all work.
    login_from(
        server.addr,
        OWNER,
        "alice",
        Credential::Token(token.clone()),
    )
    .await
    .expect("the token still works");
    login_from(server.addr, OWNER, "alice", password(PASSWORD))
        .await
        .expect("the password from alice's address still works");
    login_from(server.addr, ELSEWHERE, "alice", password(PASSWORD))
        .await
        .expect("the password from elsewhere still works");

    // Wrong tokens are counted apart: they never hold passwords back.
    for _ in 0..3 {
        let r = login_from(
            server.addr,
            OWNER,
            "alice",
            Credential::Token("0".repeat(64)),
        )
        .await;
        assert_eq!(r.err(), Some(ErrorCode::AuthFailed));
    }
    login_from(server.addr, OWNER, "alice", Credential::Token(token))
        .await
        .expect("a right token after wrong ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_correct_logins_at_once_from_one_address_all_get_in() {
    let names: Vec<String> = (0..60).map(|i| format!("office{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    // The defaults: twenty failures per address, far fewer than sixty.
    let server = TestServer::start(&refs, |_| {}).await;
    let logins = names.iter().map(|name| {
        let addr = server.addr;
        let name = name.clone();
        tokio::spawn(async move { login_from(addr, OWNER, &name, password(PASSWORD)).await })
    });
    let results = futures_util::future::join_all(logins).await;
    let refused: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("login task"))
        .filter_map(Result::err)
        .collect();
    assert!(refused.is_empty(), "refused: {refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_in_flight_does_not_refuse_the_right_ones_beside_it() {
    let server = TestServer::start(&["alice", "bob", "carol"], |c| {
        c.limits.login_failures_per_ip = 2;
        c.limits.hash_threads = 1;
    })
    .await;
    // Four at once from one address against a limit of two failures: one
    // wrong, three right. Only real failures refuse.
    let attempts = [
        ("alice", "wrong"),
        ("alice", PASSWORD),
        ("bob", PASSWORD),
        ("carol", PASSWORD),
    ]
    .map(|(user, pw)| {
        let addr = server.addr;
        tokio::spawn(async move { login_from(addr, OWNER, user, password(pw)).await })
    });
    let results: Vec<_> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("login task").map(|_| ()))
        .collect();
    assert_eq!(
        results,
        [Err(ErrorCode::AuthFailed), Ok(()), Ok(()), Ok(())],
        "{results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_count_against_the_address_and_taken_names_cost_nothing() {
    let server = TestServer::start(&["alice"], |c| {
        c.open_registration = true;
        c.limits.login_failures_per_ip = 3;
    })
    .await;
    let register = |source: [u8; 4], user: &'static str| async move {
        let mut c = Client::connect_from(server.addr, source).await;
        c.hello().await;
        c.request(Request::Register {
            user: user.into(),
            password: PASSWORD.into(),
        })
        .await
    };
    assert_eq!(
        code(register(STRANGER, "alice").await),
        ErrorCode::AlreadyExists
    );
    assert!(matches!(
        register(STRANGER, "newcomer").await,
        Ok(Response::Session(_))
    ));
    assert_eq!(
        code(register(STRANGER, "alice").await),
        ErrorCode::AlreadyExists
    );
    // Three from this address in the window: the fourth waits its turn.
    assert_eq!(
        code(register(STRANGER, "another").await),
        ErrorCode::Throttled
    );
    // Another address is untouched, and so is logging in elsewhere.
    assert!(matches!(
        register(ELSEWHERE, "another").await,
        Ok(Response::Session(_))
    ));
    login_from(server.addr, OWNER, "alice", password(PASSWORD))
        .await
        .expect("alice logs in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_name_stays_reserved_until_the_operator_frees_it() {
    let server = TestServer::start(&["alice", "bob"], |c| c.open_registration = true).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    alice.send_text("#general", "hello bob").await.unwrap();
    bob.send_text("#general", "old bob here").await.unwrap();
    alice.send_text("@bob", "for the old bob").await.unwrap();

    let dir = server.data_dir.clone();
    tokio::task::spawn_blocking(move || admin::delete_user(&dir, "bob", false))
        .await
        .unwrap()
        .unwrap();
    assert!(bob.closing().await.is_some(), "bob's session ends");

    // Nobody can take the name: not by registering, not even the operator
    // by mistake.
    let mut c = Client::connect_from(server.addr, STRANGER).await;
    c.hello().await;
    let r = c
        .request(Request::Register {
            user: "bob".into(),
            password: PASSWORD.into(),
        })
        .await;
    assert_eq!(code(r), ErrorCode::AlreadyExists);
    let dir = server.data_dir.clone();
    let again = tokio::task::spawn_blocking(move || admin::add_user(&dir, "bob", PASSWORD, false))
        .await
        .unwrap();
    assert!(
        again.unwrap_err().to_string().contains("reserved"),
        "the CLI says why"
    );

    // The operator frees it: a newcomer may be bob now, but the old bob's
    // messages are not theirs, and alice's old conversation is not with
    // them.
    let dir = server.data_dir.clone();
    tokio::task::spawn_blocking(move || admin::release_name(&dir, "bob"))
        .await
        .unwrap()
        .unwrap();
    let mut c = Client::connect_from(server.addr, STRANGER).await;
    c.hello().await;
    let Ok(Response::Session(newbob)) = c
        .request(Request::Register {
            user: "bob".into(),
            password: PASSWORD.into(),
        })
        .await
    else {
        panic!("the freed name can be registered");
    };
    assert!(
        newbob.rooms.iter().all(|r| !r.name.starts_with('@')),
        "the new bob inherits no direct conversation: {:?}",
        newbob.rooms
    );
    // The release reaches the running server within its polling interval:
    // in #general the old bob's message is not the newcomer's, and alice's
    // list has one `@bob`, the new one, beside the old conversation.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let Ok(Response::Messages { messages, .. }) = alice
            .request(Request::History {
                room: "#general".into(),
                query: HistoryQuery {
                    before: None,
                    after: None,
                    limit: 50,
                    ..Default::default()
                },
            })
            .await
        else {
            panic!("history of #general");
        };
        let authors: Vec<String> = messages.iter().map(|m| m.from.clone()).collect();
        if authors == ["alice", "bob (deleted)"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old messages keep the bare name: {authors:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    alice.send_text("@bob", "for the new bob").await.unwrap();
    let Ok(Response::Rooms(rooms)) = alice.request(Request::Rooms).await else {
        panic!("rooms");
    };
    let mut directs: Vec<String> = rooms
        .into_iter()
        .map(|r| r.name)
        .filter(|n| n.starts_with('@'))
        .collect();
    directs.sort();
    assert_eq!(directs, ["@bob", "@bob (deleted)"]);
}

#[test]
fn names_of_accounts_deleted_before_the_upgrade_are_reserved_by_it() {
    let dir = tempfile::tempdir().unwrap();
    drop(natter_server::store::open_db(dir.path()).unwrap());
    {
        // As an older natterd left it: no invitation policy yet, and the
        // messages of an account deleted back then.
        let db = rusqlite::Connection::open(dir.path().join("natter.db")).unwrap();
        db.execute_batch(
            "ALTER TABLE users DROP COLUMN invites;
             INSERT INTO messages (room_id, author, ts, body) VALUES (1, 'ghost', 0, 'boo');",
        )
        .unwrap();
    }
    drop(natter_server::store::open_db(dir.path()).unwrap());
    let err = admin::add_user(dir.path(), "ghost", PASSWORD, false).unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
}
