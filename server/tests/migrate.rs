//! `natterd migrate --to postgres://...` against the real PostgreSQL on
//! 127.0.0.1:5432, each test in a database of its own (made and dropped
//! here): a store with accounts, rooms, messages and a file arrives whole,
//! counts checked; a non-empty target and a password on the command line
//! are refused. Skipped with a reason when PostgreSQL is not there, failed
//! under NATTER_REQUIRE_E2E=1.

mod common;

use common::{ServerExt, TestServer, cli_ok, natterd_cli, upload};
use natter_server::testing::skip_unless;

const ADMIN_URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";

/// A database of this test's own, dropped when it ends.
struct Database {
    name: String,
}

impl Database {
    async fn create(tag: &str) -> Option<Self> {
        let admin = admin().await?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("natter_test_{tag}_{}_{nanos}", std::process::id());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        Some(Self { name })
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port=5432 user=postgres dbname={}",
                self.name
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        client
    }

    async fn drop_it(self) {
        if let Some(admin) = admin().await {
            let _ = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}

/// The server's maintenance database, or `None` (with the skip reason
/// said) when PostgreSQL is not running here.
async fn admin() -> Option<tokio_postgres::Client> {
    let connected = tokio_postgres::connect(ADMIN_URL, tokio_postgres::NoTls).await;
    let ok = connected.is_ok();
    if !skip_unless(
        ok,
        "PostgreSQL is not reachable on 127.0.0.1:5432 as user postgres (Debian package postgresql)",
    ) {
        return None;
    }
    let (client, conn) = connected.ok()?;
    tokio::spawn(conn);
    Some(client)
}

/// The built `natterd migrate --to URL` on `dir`.
async fn migrate(dir: &std::path::Path, url: &str) -> std::process::Output {
    let (dir, url) = (dir.to_owned(), url.to_owned());
    tokio::task::spawn_blocking(move || natterd_cli(&dir, None, &["migrate", "--to", &url], None))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_arrives_whole_in_postgres_and_only_into_an_empty_database() {
    let Some(db) = Database::create("migrate").await else {
        return;
    };
    let s = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut alice = s.login("alice").await;
    for i in 0..250 {
        alice
            .send_text(
                "#general",
                &format!("message {i}\twith a tab\\ and a newline\nhere"),
            )
            .await
            .unwrap();
    }
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let file = upload(s.running.addr, &mut alice, "data.bin", &content)
        .await
        .unwrap();
    alice
        .send_files("#general", "the data", vec![file.file])
        .await
        .unwrap();
    let dir = s.data_dir.clone();

    // The server is still running: the copy is one snapshot all the same.
    let out = migrate(&dir, &db.url()).await;
    let printed = cli_ok(&out);
    assert!(printed.contains("committed"), "{printed}");

    let pg = db.client().await;
    let count = |table: &str| format!("SELECT COUNT(*) FROM \"{table}\"");
    let users: i64 = pg.query_one(&count("users"), &[]).await.unwrap().get(0);
    assert_eq!(users, 2);
    let messages: i64 = pg.query_one(&count("messages"), &[]).await.unwrap().get(0);
    assert_eq!(messages, 251);
    let body: String = pg
        .query_one(
            "SELECT body FROM messages WHERE body LIKE 'message 7\t%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(body, "message 7\twith a tab\\ and a newline\nhere");
    let (name, owner): (String, i64) = {
        let row = pg
            .query_one(
                "SELECT name, owner_id FROM files WHERE id = $1",
                &[&i64::try_from(file.file).unwrap()],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(name, "data.bin");
    assert!(owner > 0);
    let chunks = pg
        .query(
            "SELECT data FROM natter_blob_chunks WHERE hash = $1 AND NOT thumb ORDER BY seq",
            &[&file.sha256],
        )
        .await
        .unwrap();
    let copied: Vec<u8> = chunks.iter().flat_map(|r| r.get::<_, Vec<u8>>(0)).collect();
    assert!(chunks.len() >= 3, "1 MiB chunks");
    assert_eq!(copied, content);

    // Again, into the same (now full) database: refused, nothing changed.
    let out = migrate(&dir, &db.url()).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not empty"), "{err}");
    let messages: i64 = pg.query_one(&count("messages"), &[]).await.unwrap().get(0);
    assert_eq!(messages, 251);

    // A password on the command line is refused before anything connects.
    let out = natterd_cli(
        &dir,
        None,
        &[
            "migrate",
            "--to",
            "postgres://postgres:secret@127.0.0.1:5432/x",
        ],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PGPASSWORD"), "{err}");
    db.drop_it().await;
}
