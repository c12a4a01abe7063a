//! A client given several servers (`a:7878,b:7878`, a cluster's nodes)
//! moves to another when its own is gone, against real natterd servers on
//! loopback.
//!
//! The two servers here are single-box natterds, the second started from a
//! copy of the first's data dir once the first has stopped, so both know
//! the account and the session token the client holds: what these tests
//! check is the client's side of failover (which node it tries, when, and
//! that its session carries on), not a shared cluster store.

use std::path::Path;
use std::time::Duration;

use natter_client::{
    Backoff, ConnectOptions, Connection, Incoming, Status, Supervisor, SupervisorConfig, Update,
};
use natter_server::testing::{PASSWORD, TestServer, WAIT, free_port};

use natter_shared::{Credential, Event};
use tokio::sync::{mpsc, watch};

fn supervisor(addr: String) -> (Supervisor, mpsc::Receiver<Update>) {
    Supervisor::spawn(SupervisorConfig {
        addr,
        user: "alice".into(),
        credential: Credential::Password(PASSWORD.into()),
        presence: watch::channel(None).1,
        connect: ConnectOptions::default(),
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
        stable_link: Duration::from_secs(10),
    })
}

/// Statuses until the next `Online`, within [`WAIT`]; panics on
/// `Stopped`, or with the statuses seen when it does not come.
async fn online(rx: &mut mpsc::Receiver<Update>) -> (Connection, Vec<String>) {
    let mut before = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await.expect("supervisor running") {
                Update::Status(Status::Online { conn, .. }) => return conn,
                Update::Status(Status::Stopped { reason, .. }) => {
                    panic!("supervisor stopped: {reason}")
                }
                Update::Status(Status::Connecting { attempt }) => {
                    before.push(format!("connecting {attempt}"));
                }
                Update::Status(Status::Offline { reason, .. }) => {
                    before.push(format!("offline: {reason}"));
                }
                Update::Event(_) => {}
            }
        }
    })
    .await;
    let Ok(conn) = found else {
        panic!("not online within {WAIT:?}: {before:?}")
    };
    (conn, before)
}

/// An address nobody listens on.
fn dead_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_server_is_passed_over_within_the_same_attempt() {
    let live = TestServer::start(&["alice"], |_| {}).await;
    let dead = dead_addr();
    let (_sup, mut rx) = supervisor(format!("{dead},{}", live.addr));
    let (conn, before) = online(&mut rx).await;
    // No wait, no second attempt: the dead node cost one refused connect.
    assert_eq!(before, ["connecting 1"]);
    assert_eq!(conn.addr(), live.addr.to_string());
    assert_eq!(conn.node(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_its_node_stops_the_client_carries_on_from_the_other() {
    let mut a = TestServer::start(&["alice", "bob"], |_| {}).await;
    let b_port = free_port();
    let b_addr = format!("127.0.0.1:{b_port}");
    let (_sup, mut rx) = supervisor(format!("{},{b_addr}", a.addr));
    let (conn, _) = online(&mut rx).await;
    assert_eq!((conn.addr(), conn.node()), (a.addr.to_string().as_str(), 0));

    a.stop().await;
    let b_dir = tempfile::tempdir().unwrap();
    copy_dir(&a.data_dir, b_dir.path());
    // b on the port the client was given for it (TestServer picks its own).
    let listener = tokio::net::TcpListener::bind(&b_addr).await.unwrap();
    let mut b = natter_server::embedded::Running::start_on(
        natter_server::Listeners {
            plain: Some(listener),
            ..natter_server::Listeners::default()
        },
        natter_server::testing::config(b_dir.path()),
    )
    .unwrap();

    // Back online on b, with the session token minted on a (the password
    // was used once, at the first login).
    let (conn, before) = online(&mut rx).await;
    assert!(
        before.iter().any(|s| s.starts_with("offline")),
        "{before:?}"
    );
    assert_eq!((conn.addr(), conn.node()), (b_addr.as_str(), 1));

    // And the session works there: bob's message on b reaches alice.
    let (bob, _bob_events) = Connection::connect(&b_addr, &ConnectOptions::default())
        .await
        .unwrap();
    bob.login("bob", Credential::PasswordOnly(PASSWORD.into()))
        .await
        .unwrap();
    bob.send_message("#general", "still here?", false)
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(Update::Event(Event::Message(m))) = rx.recv().await
                && m.body == "still here?"
            {
                return m.from;
            }
        }
    })
    .await
    .expect("bob's message reaches alice on b");
    assert_eq!(got, "bob");
    b.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_connection_takes_the_first_server_that_answers() {
    let live = TestServer::start(&["alice"], |_| {}).await;
    let list = format!("{},{}", dead_addr(), live.addr);
    let (conn, mut events) = Connection::connect(&list, &ConnectOptions::default())
        .await
        .unwrap();
    conn.login("alice", Credential::PasswordOnly(PASSWORD.into()))
        .await
        .unwrap();
    assert_eq!(conn.node(), 1);
    drop(conn);
    while let Some(incoming) = events.recv().await {
        if matches!(incoming, Incoming::Closed(_)) {
            break;
        }
    }

    // None answering: each one's error, in the order tried.
    let (d1, d2) = (dead_addr(), dead_addr());
    let err = Connection::connect(&format!("{d1},{d2}"), &ConnectOptions::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("no server answered: ")
            && text.find(&d1).unwrap() < text.find(&d2).unwrap(),
        "{text}"
    );
    assert_eq!(err.exit_code(), 3);
    // A list with a bad entry is a usage error, naming it.
    let err = Connection::connect(
        &format!("{},nowhere", live.addr),
        &ConnectOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("nowhere"), "{err}");
}
