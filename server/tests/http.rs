//! The HTTP listener of the built natterd, driven by a real HTTP client
//! (curl): health and readiness, the Prometheus metrics, incoming webhooks
//! created with `natterd hook add`, and what is refused (bad bodies, wrong
//! tokens, too large, too fast), which never reaches a room.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::Client;
use natter_server::testing::{NatterdProcess, free_port, have_tool};
use natter_shared::{Event, HistoryQuery, Request, Response};

fn natterd(dir: &Path, config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    common::natterd_cli(dir, Some(config), args, stdin)
}

fn ok(out: &Output) -> String {
    common::cli_ok(out)
}

/// A curl answer: status, content type and body.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// Runs curl with `args` against `url`, and returns the answer.
fn curl(url: &str, args: &[&str]) -> Answer {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-o",
            "-",
            "-w",
            "\n%{http_code} %{content_type}",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, tail) = text.rsplit_once('\n').unwrap();
    let (status, content_type) = tail.split_once(' ').unwrap_or((tail, ""));
    Answer {
        status: status.parse().unwrap(),
        content_type: content_type.to_owned(),
        body: body.to_owned(),
    }
}

/// A data dir with alice, and a config serving HTTP on a free port with
/// `http_extra` added to its `[http]` section.
fn setup(http_extra: &str) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = tmp.path().join("natterd.toml");
    std::fs::write(
        &config,
        format!("[http]\nlisten = \"127.0.0.1:{port}\"\n{http_extra}\n"),
    )
    .unwrap();
    let data = tmp.path().join("data");
    ok(&natterd(
        &data,
        &config,
        &["user", "add", "alice"],
        Some("alice password\n"),
    ));
    (tmp, config, format!("http://127.0.0.1:{port}"))
}

fn start(tmp: &tempfile::TempDir, config: &Path) -> NatterdProcess {
    let data = tmp.path().join("data");
    let config = config.to_str().unwrap();
    NatterdProcess::start(
        Path::new(env!("CARGO_BIN_EXE_natterd")),
        &data,
        &["--config", config],
    )
}

/// Waits until the HTTP listener answers (it binds before the natter one
/// is reported up, but be sure).
fn wait_http(base: &str) {
    for _ in 0..100 {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", &format!("{base}/healthz")])
            .status()
            .unwrap();
        if out.success() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the HTTP listener did not come up");
}

#[tokio::test]
async fn health_readiness_and_metrics_over_http() {
    if !have_tool("curl", &["--version"], "curl") {
        return;
    }
    let (tmp, config, base) = setup("");
    let server = start(&tmp, &config);
    wait_http(&base);

    let health = curl(&format!("{base}/healthz"), &[]);
    assert_eq!(health.status, 200);
    assert!(health.content_type.starts_with("application/json"));
    assert_eq!(health.body, r#"{"status":"ok"}"#);
    let ready = curl(&format!("{base}/readyz"), &[]);
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (200, r#"{"status":"ready"}"#)
    );

    // Some traffic for the counters: a login, a message, a failed login,
    // a history page.
    let (mut alice, _) = Client::login(server.addr, "alice", "alice password").await;
    alice.send_text("#general", "hello metrics").await.unwrap();
    alice
        .request(Request::History {
            room: "#general".into(),
            query: HistoryQuery::default(),
        })
        .await
        .unwrap();
    let bad = Client::try_login(
        server.addr,
        None,
        "alice",
        natter_shared::Credential::Password("wrong password".into()),
    )
    .await;
    assert!(bad.is_err());

    let metrics = curl(&format!("{base}/metrics"), &[]);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .content_type
            .starts_with("text/plain; version=0.0.4"),
        "{}",
        metrics.content_type
    );
    let m = &metrics.body;
    let value = |name: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in\n{m}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("natterd_messages_total"), 1);
    assert!(value("natterd_deliveries_total") >= 1);
    assert_eq!(value("natterd_logins_total"), 1);
    assert!(value("natterd_login_failures_total") >= 1);
    assert_eq!(value("natterd_sessions"), 1);
    assert_eq!(value("natterd_send_to_sent_seconds_count"), 1);
    assert_eq!(value("natterd_history_seconds_count"), 1);
    assert!(value("natterd_commit_seconds_count") >= 1);
    assert!(value("natterd_commit_batch_ops_count") >= 1);
    assert!(value("natterd_store_bytes") > 0);
    assert!(value("natterd_connections_accepted_total") >= 2);
    assert_eq!(
        value("natterd_connections{protocol=\"natter\",state=\"logged_in\"}"),
        1
    );
    assert!(m.contains("natterd_fanout_members_bucket"), "{m}");
    assert!(m.contains("natterd_wal_checkpoint_seconds"), "{m}");
    assert!(m.contains("natterd_errors_total{code="), "{m}");
    assert!(
        m.contains("natterd_http_requests_total{endpoint=\"healthz\",status=\"200\"}"),
        "{m}"
    );

    // Unknown paths and methods are JSON errors.
    let missing = curl(&format!("{base}/nope"), &[]);
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains(r#""error":"not_found""#),
        "{}",
        missing.body
    );
    let wrong_method = curl(&format!("{base}/metrics"), &["-X", "DELETE"]);
    assert_eq!(wrong_method.status, 405);
    assert!(
        wrong_method
            .body
            .contains(r#""error":"method_not_allowed""#),
        "{}",
        wrong_method.body
    );
    drop(server);
}

#[tokio::test]
async fn an_incoming_webhook_posts_as_its_bot_once_stored() {
    if !have_tool("curl", &["--version"], "curl") {
        return;
    }
    let (tmp, config, base) = setup("");
    let data = tmp.path().join("data");
    ok(&natterd(&data, &config, &["room", "add", "deploys"], None));
    ok(&natterd(
        &data,
        &config,
        &["room", "invite", "deploys", "alice"],
        None,
    ));
    let server = start(&tmp, &config);
    wait_http(&base);
    let (mut alice, _) = Client::login(server.addr, "alice", "alice password").await;

    // The hook is added while the server runs; its URL carries the token.
    let url = ok(&natterd(
        &data,
        &config,
        &["hook", "add", "#deploys", "--name", "ci"],
        None,
    ));
    let url = url.trim();
    assert!(url.starts_with(&format!("{base}/hooks/")), "{url}");
    let listed = ok(&natterd(&data, &config, &["hook", "list"], None));
    assert!(listed.contains("#deploys\tas ci"), "{listed}");
    let users = ok(&natterd(&data, &config, &["user", "list"], None));
    assert!(users.lines().any(|l| l == "ci [bot]"), "{users}");

    // JSON, as Slack and Mattermost tools send it.
    let posted = curl(
        url,
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"text":"build 812 passed"}"#,
        ],
    );
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert!(posted.body.contains(r#""ok":true"#), "{}", posted.body);
    let msg = alice
        .event_where(|e| matches!(e, Event::Message(m) if m.room == "#deploys"))
        .await;
    let Event::Message(m) = msg else {
        unreachable!()
    };
    assert_eq!(
        (m.from.as_str(), m.body.as_str()),
        ("ci", "build 812 passed")
    );
    // The reply came after the store had it: its id is the message's.
    assert!(
        posted.body.contains(&format!(r#""id":{}"#, m.id)),
        "{}",
        posted.body
    );

    // The bot is marked as one wherever it is shown.
    let members = alice
        .request(Request::Members {
            room: "#deploys".into(),
        })
        .await
        .unwrap();
    let Response::Members { members, .. } = members else {
        panic!()
    };
    let ci = members
        .iter()
        .find(|m| m.name == "ci")
        .expect("ci is a member");
    assert!(ci.bot);
    assert!(!members.iter().find(|m| m.name == "alice").unwrap().bot);
    let Response::Whois(info) = alice
        .request(Request::Whois { user: "ci".into() })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(info.bot);

    // Plain text works too.
    let plain = curl(
        url,
        &[
            "-H",
            "Content-Type: text/plain",
            "--data-binary",
            "deployed to prod\n",
        ],
    );
    assert_eq!(plain.status, 200, "{}", plain.body);
    let msg = alice
        .event_where(|e| matches!(e, Event::Message(m) if m.room == "#deploys"))
        .await;
    assert!(matches!(msg, Event::Message(m) if m.body == "deployed to prod"));

    // Refusals: JSON errors, and nothing reaches the room.
    let bad_json = curl(
        url,
        &["-H", "Content-Type: application/json", "-d", "{not json"],
    );
    assert_eq!(bad_json.status, 400);
    assert!(
        bad_json.body.contains(r#""error":"invalid""#),
        "{}",
        bad_json.body
    );
    let no_text = curl(
        url,
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"msg":"x"}"#,
        ],
    );
    assert_eq!(no_text.status, 400);
    let empty = curl(url, &["--data-binary", "   "]);
    assert_eq!(empty.status, 400);
    let wrong = curl(&format!("{base}/hooks/{}", "0".repeat(64)), &["-d", "x"]);
    assert_eq!(wrong.status, 404);
    let short = curl(&format!("{base}/hooks/abc"), &["-d", "x"]);
    assert_eq!(short.status, 404);
    let huge = "x".repeat(70 * 1024);
    let too_large = curl(
        url,
        &["-H", "Content-Type: text/plain", "--data-binary", &huge],
    );
    assert_eq!(too_large.status, 413);
    assert!(
        too_large.body.contains(r#""error":"too_large""#),
        "{}",
        too_large.body
    );
    let too_long = "y".repeat(5000);
    let refused = curl(
        url,
        &["-H", "Content-Type: text/plain", "--data-binary", &too_long],
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    let history = alice
        .request(Request::History {
            room: "#deploys".into(),
            query: HistoryQuery::default(),
        })
        .await
        .unwrap();
    let Response::Messages { messages, .. } = history else {
        panic!("{history:?}")
    };
    let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["build 812 passed", "deployed to prod"]);

    // Deleted: the URL stops working at once.
    let id = listed.split('\t').next().unwrap();
    ok(&natterd(&data, &config, &["hook", "del", id], None));
    let gone = curl(url, &["-d", "x"]);
    assert_eq!(gone.status, 404);
    // A person's account cannot be taken over as a hook's bot.
    let out = natterd(
        &data,
        &config,
        &["hook", "add", "#deploys", "--name", "alice"],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a bot"));
    // The bot has no password that logs in.
    let login = Client::try_login(
        server.addr,
        None,
        "ci",
        natter_shared::Credential::Password("!bot".into()),
    )
    .await;
    assert!(login.is_err());
    drop(server);
}

#[tokio::test]
async fn every_endpoint_is_rate_limited_per_address() {
    if !have_tool("curl", &["--version"], "curl") {
        return;
    }
    let (tmp, config, base) = setup("requests_per_sec = 0.5\nburst = 3");
    let server = start(&tmp, &config);
    wait_http(&base);
    // wait_http used some of the burst; what is left goes, then 429.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(curl(&format!("{base}/healthz"), &[]).status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let limited = curl(&format!("{base}/metrics"), &["-i"]);
    assert!(limited.body.contains("retry-after"), "{}", limited.body);
    assert!(
        limited.body.contains(r#""error":"rate_limited""#),
        "{}",
        limited.body
    );
    drop(server);
}

/// What the test's HTTP receiver got: each request's headers and body.
#[derive(Default)]
struct Received {
    posts: Vec<(axum::http::HeaderMap, String, String)>,
    /// Answer 503 while set.
    down: bool,
}

type Inbox = std::sync::Arc<std::sync::Mutex<Received>>;

/// A real HTTP server on loopback standing in for a CI system or a bot:
/// it records what it is sent and, for `!deploy X`, answers
/// `{"text": "deploying X"}`.
async fn receiver() -> (String, Inbox) {
    use axum::extract::{Path as UrlPath, State};
    async fn hook(
        State(inbox): State<Inbox>,
        UrlPath(path): UrlPath<String>,
        headers: axum::http::HeaderMap,
        body: String,
    ) -> (axum::http::StatusCode, String) {
        let mut got = inbox.lock().unwrap();
        got.posts.push((headers, path, body.clone()));
        if got.down {
            return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down".into());
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let text = v["body"].as_str().unwrap();
        let reply = text.strip_prefix("!deploy ").map_or_else(
            || serde_json::json!({}),
            |what| serde_json::json!({ "text": format!("deploying {what}") }),
        );
        (axum::http::StatusCode::OK, reply.to_string())
    }
    let inbox: Inbox = std::sync::Arc::default();
    let app = axum::Router::new()
        .route("/{path}", axum::routing::post(hook))
        .with_state(std::sync::Arc::clone(&inbox));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, inbox)
}

/// Waits until the receiver holds `n` posts.
async fn posts(inbox: &Inbox, n: usize) -> Vec<(axum::http::HeaderMap, String, String)> {
    for _ in 0..400 {
        {
            let got = inbox.lock().unwrap();
            if got.posts.len() >= n {
                return got.posts.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the receiver did not get {n} posts: {}",
        inbox.lock().unwrap().posts.len()
    );
}

#[tokio::test]
async fn outgoing_webhooks_post_signed_json_retry_and_survive_a_restart() {
    let (tmp, config, _) = setup("outgoing_retry_ms = 100");
    let data = tmp.path().join("data");
    ok(&natterd(&data, &config, &["room", "add", "ops"], None));
    ok(&natterd(
        &data,
        &config,
        &["room", "invite", "ops", "alice"],
        None,
    ));
    let (base, inbox) = receiver().await;
    let secret = ok(&natterd(
        &data,
        &config,
        &[
            "hook",
            "add-outgoing",
            "#ops",
            "--url",
            &format!("{base}/deploy"),
            "--trigger",
            "!deploy",
            "--name",
            "deploybot",
        ],
        None,
    ));
    let secret = secret.trim().to_owned();
    ok(&natterd(
        &data,
        &config,
        &[
            "hook",
            "add-outgoing",
            "#ops",
            "--url",
            &format!("{base}/pager"),
            "--mentions",
            "--name",
            "pager",
        ],
        None,
    ));
    let bad = natterd(
        &data,
        &config,
        &["hook", "add-outgoing", "#ops", "--url", "ftp://x/y"],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an http"));

    let mut server = start(&tmp, &config);
    let (mut alice, _) = Client::login(server.addr, "alice", "alice password").await;
    alice.send_text("#ops", "just chatting").await.unwrap();
    alice
        .send_text("#ops", "pagerduty is a word, not a mention")
        .await
        .unwrap();
    alice.send_text("#ops", "!deploy prod").await.unwrap();
    let got = posts(&inbox, 1).await;
    let (headers, path, body) = &got[0];
    assert_eq!(path, "deploy");
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["room"], "#ops");
    assert_eq!(v["from"], "alice");
    assert_eq!(v["body"], "!deploy prod");
    assert!(v["id"].as_u64().unwrap() > 0 && v["ts"].as_i64().unwrap() > 0);
    // The signature is the HMAC of "timestamp.body" under the secret.
    let ts: u64 = headers["x-natter-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        headers["x-natter-signature"].to_str().unwrap(),
        natter_server::webhooks::signature(&secret, ts, body)
    );
    assert_ne!(
        headers["x-natter-signature"].to_str().unwrap(),
        natter_server::webhooks::signature("wrong secret", ts, body)
    );
    // The reply is posted back into the room, as the hook's bot.
    let reply = alice
        .event_where(|e| matches!(e, Event::Message(m) if m.from == "deploybot"))
        .await;
    assert!(matches!(reply, Event::Message(m) if m.body == "deploying prod" && m.room == "#ops"));

    // A mention goes to the mentions hook; the bot's own replies never
    // trigger anything.
    alice.send_text("#ops", "hey @pager, look").await.unwrap();
    let got = posts(&inbox, 2).await;
    assert_eq!(got[1].1, "pager");
    assert!(got[1].2.contains("hey @pager, look"));

    // The receiver is down: the message waits and is retried.
    inbox.lock().unwrap().down = true;
    alice.send_text("#ops", "!deploy staging").await.unwrap();
    let got = posts(&inbox, 4).await;
    assert!(
        got[2..]
            .iter()
            .all(|(_, p, b)| p == "deploy" && b.contains("staging"))
    );
    // natterd is killed (no goodbye, no flush) while it waits to retry,
    // and comes back; the receiver too.
    server.kill();
    inbox.lock().unwrap().down = false;
    let before = inbox.lock().unwrap().posts.len();
    let server = start(&tmp, &config);
    let got = posts(&inbox, before + 1).await;
    let (_, path, body) = got.last().unwrap();
    assert_eq!(path, "deploy");
    assert!(body.contains("!deploy staging"), "{body}");
    let (mut alice, _) = Client::login(server.addr, "alice", "alice password").await;
    alice
        .request(Request::Join {
            room: "#ops".into(),
        })
        .await
        .ok();
    // Delivered once it was taken: nothing is pending, nothing failed.
    for _ in 0..100 {
        let listed = ok(&natterd(&data, &config, &["hook", "list"], None));
        if listed.contains("trigger !deploy\t0 pending, 0 failed") {
            let history = alice
                .request(Request::History {
                    room: "#ops".into(),
                    query: HistoryQuery::default(),
                })
                .await
                .unwrap();
            let Response::Messages { messages, .. } = history else {
                panic!()
            };
            assert!(
                messages
                    .iter()
                    .any(|m| m.from == "deploybot" && m.body == "deploying staging"),
                "{messages:?}"
            );
            // Exactly the messages that matched were sent: nothing twice
            // once taken, nothing that did not match.
            let bodies: Vec<String> = inbox
                .lock()
                .unwrap()
                .posts
                .iter()
                .map(|p| p.2.clone())
                .collect();
            assert!(
                !bodies
                    .iter()
                    .any(|b| b.contains("just chatting") || b.contains("pagerduty"))
            );
            assert_eq!(
                bodies.iter().filter(|b| b.contains("!deploy prod")).count(),
                1
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the queue did not empty");
}

#[tokio::test]
async fn the_listener_serves_https_with_the_servers_certificate() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    if !have_tool("curl", &["--version"], "curl") {
        return;
    }
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Its own name: with the leaf's (rcgen's default), OpenSSL takes the
    // leaf for self-signed.
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "natter test CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let (tmp, config, _) = setup("");
    let dir = tmp.path();
    std::fs::write(dir.join("ca.pem"), ca.as_ref().pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let port = free_port();
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\ntls = true\n[tls]\nlisten = \"127.0.0.1:{}\"\ncert = {:?}\nkey = {:?}\n",
            free_port(),
            dir.join("cert.pem"),
            dir.join("key.pem"),
        ),
    )
    .unwrap();
    let _server = start(&tmp, &config);
    let url = format!("https://localhost:{port}/healthz");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let cacert = dir.join("ca.pem");
    let cacert = cacert.to_str().unwrap();
    let mut health = None;
    let mut why = String::new();
    for _ in 0..100 {
        let out = Command::new("curl")
            .args(["-sS", "--cacert", cacert, "--resolve", &resolve, &url])
            .output()
            .unwrap();
        if out.status.success() {
            health = Some(String::from_utf8(out.stdout).unwrap());
            break;
        }
        why = String::from_utf8_lossy(&out.stderr).into_owned();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(health.as_deref(), Some(r#"{"status":"ok"}"#), "{why}");
    // Plain HTTP on the HTTPS port gets nowhere.
    let plain = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{port}/healthz"),
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("ok"));
}
