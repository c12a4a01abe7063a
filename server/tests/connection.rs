//! Handshake, login, limits and hostile input, over real TCP against an
//! in-process natterd.

mod common;

use std::time::Duration;

use bytes::BufMut;
use common::*;
use natter_shared::{
    ClientFrame, Credential, ErrorCode, PROTOCOL_VERSION, Request, Response, ServerFrame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_announces_limits_and_refuses_other_versions() {
    let server = TestServer::start(&[], |c| c.motd = Some("be nice".into())).await;
    let mut c = Client::connect(server.addr).await;
    match c.hello().await {
        Response::Welcome {
            protocol,
            limits,
            motd,
            ..
        } => {
            assert_eq!(protocol, PROTOCOL_VERSION);
            assert_eq!(limits.max_message_len, 4000);
            assert_eq!(limits.max_history_page, 200);
            assert_eq!(motd.as_deref(), Some("be nice"));
        }
        other => panic!("{other:?}"),
    }

    let mut old = Client::connect(server.addr).await;
    let err = old
        .request(Request::Hello {
            compression: Vec::new(),
            protocol: 99,
            client: "future".into(),
            client_version: "9".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::VersionMismatch);
    assert!(err.message.contains("99") && err.message.contains(&PROTOCOL_VERSION.to_string()));
    assert_eq!(
        old.closing().await.map(|c| c.0),
        Some(ErrorCode::VersionMismatch)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_request_must_be_hello_and_login_comes_before_anything_else() {
    let server = TestServer::start(&["alice"], |_| {}).await;
    let mut c = Client::connect(server.addr).await;
    assert_eq!(
        code(c.request(Request::Stats).await),
        ErrorCode::HelloRequired
    );
    assert!(c.closing().await.is_some());

    let mut c = Client::connect(server.addr).await;
    c.hello().await;
    for req in [
        Request::Stats,
        Request::Rooms,
        Request::Send {
            room: "#general".into(),
            body: "hi".into(),
            action: false,
            nonce: None,
            reply_to: None,
            thread: None,
            attention: false,
            files: Vec::new(),
        },
        Request::History {
            room: "#general".into(),
            query: natter_shared::HistoryQuery::default(),
        },
        Request::Join {
            room: "#general".into(),
        },
        Request::Logout,
    ] {
        assert_eq!(code(c.request(req).await), ErrorCode::NotLoggedIn);
    }
    // Ping is fine before login, and the connection is still usable.
    assert_eq!(c.request(Request::Ping).await.unwrap(), Response::Pong);
    let r = c
        .request(Request::Login {
            user: "alice".into(),
            credential: Credential::Password(PASSWORD.into()),
            presence: None,
        })
        .await;
    assert!(matches!(r, Ok(Response::Session(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_password_then_token_and_logout_revokes() {
    let server = TestServer::start(&["alice"], |_| {}).await;
    let (mut c, info) = Client::login(server.addr, "Alice", PASSWORD).await;
    assert_eq!(info.user, "alice");
    assert!(info.rooms.iter().any(|r| r.name == "#general"));
    let token = info.token.expect("a token after a password login");
    assert!(token.len() >= 32);

    // The token logs in (and the reply carries no new token).
    let mut t = Client::connect(server.addr).await;
    t.hello().await;
    let r = t
        .request(Request::Login {
            user: "alice".into(),
            credential: Credential::Token(token.clone()),
            presence: None,
        })
        .await
        .unwrap();
    assert!(matches!(r, Response::Session(ref s) if s.token.is_none()));

    // Logout revokes it: the session ends and the token no longer works.
    assert_eq!(t.request(Request::Logout).await.unwrap(), Response::Done);
    assert!(t.closing().await.is_some());
    let mut again = Client::connect(server.addr).await;
    again.hello().await;
    let r = again
        .request(Request::Login {
            user: "alice".into(),
            credential: Credential::Token(token),
            presence: None,
        })
        .await;
    assert_eq!(code(r), ErrorCode::AuthFailed);
    // The other session is unaffected.
    assert_eq!(c.request(Request::Ping).await.unwrap(), Response::Pong);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_newest_session_tokens_stay_valid() {
    let server = TestServer::start(&["alice"], |_| {}).await;
    let token = |info: natter_shared::SessionInfo| info.token.expect("a token");
    let first = token(Client::login(server.addr, "alice", PASSWORD).await.1);
    let max = usize::try_from(natter_server::store::MAX_TOKENS_PER_USER).unwrap();
    let mut last = String::new();
    for _ in 0..max {
        last = token(Client::login(server.addr, "alice", PASSWORD).await.1);
    }
    let with = |t: String| Request::Login {
        user: "alice".into(),
        credential: Credential::Token(t),
        presence: None,
    };
    let mut c = Client::connect(server.addr).await;
    c.hello().await;
    assert_eq!(code(c.request(with(first)).await), ErrorCode::AuthFailed);
    assert!(matches!(
        c.request(with(last)).await,
        Ok(Response::Session(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_only_logins_mint_no_token() {
    let server = TestServer::start(&["alice"], |_| {}).await;
    let mut c = Client::connect(server.addr).await;
    c.hello().await;
    match c
        .request(Request::Login {
            user: "alice".into(),
            credential: Credential::PasswordOnly(PASSWORD.into()),
            presence: None,
        })
        .await
    {
        Ok(Response::Session(s)) => assert!(s.token.is_none()),
        other => panic!("{other:?}"),
    }
    let db = rusqlite::Connection::open(server.data_dir.join("natter.db")).unwrap();
    let tokens: i64 = db
        .query_row("SELECT COUNT(*) FROM tokens", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tokens, 0);
    assert_eq!(c.request(Request::Logout).await.unwrap(), Response::Done);
    assert!(c.closing().await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_fail_then_throttle_per_account() {
    let server = TestServer::start(&["alice", "bob"], |c| {
        c.limits.login_failures_per_account = 3;
        c.limits.login_failures_per_ip = 100;
    })
    .await;
    let mut c = Client::connect(server.addr).await;
    c.hello().await;
    let attempt = |user: &str, pw: &str| Request::Login {
        user: user.into(),
        credential: Credential::Password(pw.into()),
        presence: None,
    };
    for _ in 0..3 {
        let e = c.request(attempt("alice", "wrong")).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthFailed);
    }
    // An unknown user fails exactly like a wrong password.
    let e = c.request(attempt("nobody", "wrong")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AuthFailed);
    // Alice is now throttled, even with the right password, with a wait.
    let e = c.request(attempt("alice", PASSWORD)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Throttled);
    assert!(e.retry_after_ms.unwrap() > 1000);
    // Bob is not.
    assert!(matches!(
        c.request(attempt("bob", PASSWORD)).await,
        Ok(Response::Session(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_throttle_per_ip_across_accounts() {
    let server = TestServer::start(&["alice"], |c| {
        c.limits.login_failures_per_ip = 4;
    })
    .await;
    let mut c = Client::connect(server.addr).await;
    c.hello().await;
    for i in 0..4 {
        let r = c
            .request(Request::Login {
                user: format!("user{i}"),
                credential: Credential::Password("x".into()),
                presence: None,
            })
            .await;
        assert_eq!(code(r), ErrorCode::AuthFailed);
    }
    let r = c
        .request(Request::Login {
            user: "alice".into(),
            credential: Credential::Password(PASSWORD.into()),
            presence: None,
        })
        .await;
    assert_eq!(code(r), ErrorCode::Throttled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_off_by_default_and_works_when_on() {
    let closed = TestServer::start(&[], |_| {}).await;
    let mut c = Client::connect(closed.addr).await;
    c.hello().await;
    let r = c
        .request(Request::Register {
            user: "carol".into(),
            password: "long enough pw".into(),
        })
        .await;
    assert_eq!(code(r), ErrorCode::RegistrationClosed);

    let open = TestServer::start(&["alice"], |c| c.open_registration = true).await;
    let mut c = Client::connect(open.addr).await;
    match c.hello().await {
        Response::Welcome { features, .. } => assert!(features.contains(&"registration".into())),
        other => panic!("{other:?}"),
    }
    let short = c
        .request(Request::Register {
            user: "carol".into(),
            password: "short".into(),
        })
        .await;
    assert_eq!(code(short), ErrorCode::Invalid);
    let taken = c
        .request(Request::Register {
            user: "alice".into(),
            password: "long enough pw".into(),
        })
        .await;
    assert_eq!(code(taken), ErrorCode::AlreadyExists);
    match c
        .request(Request::Register {
            user: "carol".into(),
            password: "long enough pw".into(),
        })
        .await
    {
        Ok(Response::Session(s)) => {
            assert_eq!(s.user, "carol");
            assert!(s.token.is_some());
            assert!(s.rooms.iter().any(|r| r.name == "#general"));
        }
        other => panic!("{other:?}"),
    }
    // The new account can log in with its password afterwards.
    Client::login(open.addr, "carol", "long enough pw").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_flood_is_rate_limited_with_a_retry_hint() {
    let server = TestServer::start(&["alice"], |c| {
        c.limits.requests_per_sec = 5.0;
        c.limits.request_burst = 10.0;
    })
    .await;
    let mut c = server.login("alice").await;
    let mut limited = None;
    for _ in 0..30 {
        if let Err(e) = c.request(Request::Stats).await {
            limited = Some(e);
            break;
        }
    }
    let e = limited.expect("the flood was limited");
    assert_eq!(e.code, ErrorCode::RateLimited);
    let wait = e.retry_after_ms.expect("a retry hint");
    assert!(wait > 0 && wait <= 200, "{wait}");
    // Pings are never limited, and after the wait requests work again.
    assert_eq!(c.request(Request::Ping).await.unwrap(), Response::Pong);
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    assert!(c.request(Request::Stats).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_truncated_and_garbage_frames_harm_no_one_else() {
    let server = TestServer::start(&["alice", "bob"], |c| c.limits.max_bad_frames = 3).await;
    let mut bob = server.login("bob").await;

    // A length prefix promising more than the limit: error, goodbye, close.
    let mut big = Client::connect(server.addr).await;
    big.framed
        .get_mut()
        .write_all(&[0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    match big.next_frame().await {
        Some(ServerFrame::Err { id: 0, err }) => {
            assert_eq!(err.code, ErrorCode::FrameTooLarge);
            assert!(err.message.contains("limit"), "{}", err.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(big.closing().await.is_some());

    // Garbage as the very first frame: error and dropped.
    let mut garbage = Client::connect(server.addr).await;
    garbage
        .framed
        .get_mut()
        .write_all(&[0, 0, 0, 3, 0xc1, 0xc1, 0xc1])
        .await
        .unwrap();
    match garbage.next_frame().await {
        Some(ServerFrame::Err { err, .. }) => assert_eq!(err.code, ErrorCode::BadFrame),
        other => panic!("{other:?}"),
    }
    assert!(garbage.closing().await.is_some());

    // A logged-in client sending a malformed payload (truncated MessagePack
    // inside a valid length) gets an error naming its request id and keeps
    // its connection.
    let mut alice = server.login("alice").await;
    let whole = natter_shared::encode(&ClientFrame {
        id: 77,
        req: Request::Send {
            room: "#general".into(),
            body: "hello".into(),
            action: false,
            nonce: None,
            reply_to: None,
            thread: None,
            attention: false,
            files: Vec::new(),
        },
    })
    .unwrap();
    let payload = &whole[4..whole.len() - 3];
    let mut frame = Vec::new();
    frame.put_u32(payload.len() as u32);
    frame.extend_from_slice(payload);
    alice.framed.get_mut().write_all(&frame).await.unwrap();
    match alice.next_frame().await {
        Some(ServerFrame::Err { id, err }) => {
            assert_eq!(err.code, ErrorCode::BadFrame);
            assert!(id == 77 || id == 0);
        }
        other => panic!("{other:?}"),
    }
    assert!(alice.send_text("#general", "still here").await.is_ok());

    // A frame split byte by byte, and several frames in one write.
    let mut bytes = Vec::new();
    for id in 100..103 {
        bytes.extend_from_slice(
            &natter_shared::encode(&ClientFrame {
                id,
                req: Request::Ping,
            })
            .unwrap(),
        );
    }
    for b in &bytes[..bytes.len() / 2] {
        alice.framed.get_mut().write_all(&[*b]).await.unwrap();
        alice.framed.get_mut().flush().await.unwrap();
    }
    alice
        .framed
        .get_mut()
        .write_all(&bytes[bytes.len() / 2..])
        .await
        .unwrap();
    for id in 100..103 {
        assert_eq!(alice.reply(id).await.unwrap(), Response::Pong);
    }

    // Repeated malformed frames drop the sender.
    for _ in 0..3 {
        alice
            .framed
            .get_mut()
            .write_all(&[0, 0, 0, 1, 0xc1])
            .await
            .unwrap();
    }
    assert_eq!(
        alice.closing().await.map(|c| c.0),
        Some(ErrorCode::BadFrame)
    );

    // A peer that sends half a frame and vanishes.
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(&[0, 0, 0, 50, 1, 2, 3]).await.unwrap();
    drop(half);

    // Through all of it bob is unaffected.
    assert!(bob.request(Request::Stats).await.is_ok());
    assert!(bob.send_text("#general", "fine").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peers_hit_their_deadlines() {
    let server = TestServer::start(&["alice"], |c| {
        c.limits.handshake_timeout_ms = 300;
        c.limits.login_timeout_ms = 300;
        c.limits.heartbeat_ms = 200;
    })
    .await;
    // Never says hello.
    let mut mute = Client::connect(server.addr).await;
    assert_eq!(mute.closing().await.map(|c| c.0), Some(ErrorCode::Timeout));
    // Says hello, never logs in.
    let mut shy = Client::connect(server.addr).await;
    shy.hello().await;
    assert_eq!(shy.closing().await.map(|c| c.0), Some(ErrorCode::Timeout));
    // Logs in, then stops pinging: dropped after three heartbeats. The
    // server counts from the last frame it read, the login, which comes
    // after `started` however slowly the reply travels back.
    let started = std::time::Instant::now();
    let mut idle = server.login("alice").await;
    assert_eq!(idle.closing().await.map(|c| c.0), Some(ErrorCode::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinging_keeps_a_session_alive() {
    let server = TestServer::start(&["alice"], |c| c.limits.heartbeat_ms = 150).await;
    let mut c = server.login("alice").await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(c.request(Request::Ping).await.unwrap(), Response::Pong);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_per_ip_and_overall() {
    let server = TestServer::start(&[], |c| {
        c.limits.max_connections_per_ip = 2;
    })
    .await;
    let mut a = Client::connect(server.addr).await;
    let mut b = Client::connect(server.addr).await;
    a.hello().await;
    b.hello().await;
    let mut third = Client::connect(server.addr).await;
    assert_eq!(
        third.closing().await.map(|c| c.0),
        Some(ErrorCode::ServerFull)
    );
    // Closing one frees its slot.
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = Client::connect(server.addr).await;
    again.hello().await;

    let small = TestServer::start(&[], |c| c.limits.max_connections = 1).await;
    let mut one = Client::connect(small.addr).await;
    one.hello().await;
    let mut two = Client::connect(small.addr).await;
    assert_eq!(
        two.closing().await.map(|c| c.0),
        Some(ErrorCode::ServerFull)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_clients_with_a_reconnect_hint() {
    let mut server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    // Sends racing the shutdown: whatever is acknowledged must be stored.
    for i in 0..30 {
        alice
            .send_req(Request::Send {
                room: "#general".into(),
                body: format!("last words {i}"),
                action: false,
                nonce: None,
                reply_to: None,
                thread: None,
                attention: false,
                files: Vec::new(),
            })
            .await;
    }
    // The first acknowledgement, then the shutdown races the rest (on a
    // loaded machine the server might otherwise not have read any yet).
    let mut acked = Vec::new();
    loop {
        match alice.next_frame().await.expect("connection open") {
            ServerFrame::Ok {
                res: Response::Sent { id, .. },
                ..
            } => {
                acked.push(id);
                break;
            }
            ServerFrame::Event(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    server.stop().await;
    let mut goodbye = None;
    while let Some(frame) = alice.next_frame().await {
        match frame {
            ServerFrame::Ok {
                res: Response::Sent { id, .. },
                ..
            } => acked.push(id),
            ServerFrame::Event(natter_shared::Event::Closing {
                code,
                reconnect_after_ms,
                ..
            }) => goodbye = Some((code, reconnect_after_ms)),
            _ => {}
        }
    }
    let (code, reconnect) = goodbye.expect("alice got a goodbye");
    assert_eq!(code, ErrorCode::ShuttingDown);
    assert!(reconnect.is_some());
    let (code, reconnect) = bob.closing().await.expect("bob got a goodbye");
    assert_eq!(code, ErrorCode::ShuttingDown);
    assert!(reconnect.is_some());
    let db = rusqlite::Connection::open(server.data_dir.join("natter.db")).unwrap();
    for id in &acked {
        let n: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE id = ?1",
                [i64::try_from(*id).unwrap()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "acknowledged message {id} is stored once");
    }
    assert!(!acked.is_empty(), "some sends were acknowledged");
    // Nothing listens any more.
    assert!(TcpStream::connect(server.addr).await.is_err());
}

/// Writes a frame of another shape, as a newer client would.
async fn write_raw(c: &mut Client, value: &impl serde::Serialize) {
    let payload = rmp_serde::to_vec_named(value).unwrap();
    let mut frame = Vec::new();
    frame.put_u32(payload.len() as u32);
    frame.extend_from_slice(&payload);
    c.framed.get_mut().write_all(&frame).await.unwrap();
}

#[derive(serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum NewerRequest {
    Teleport,
    // A name this protocol does not know (`react` is known since rich
    // messaging).
    Pin { message: u64, key: String },
}

#[derive(serde::Serialize)]
struct NewerFrame {
    id: u64,
    req: NewerRequest,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_requests_get_unsupported_and_keep_the_connection() {
    #[derive(serde::Serialize)]
    struct Broken {
        id: u64,
        req: BrokenReq,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    enum BrokenReq {
        Join { room: u32 },
    }
    let server = TestServer::start(&["alice"], |_| {}).await;
    // Before login: answered, and the login still works afterwards.
    let mut c = Client::connect(server.addr).await;
    c.hello().await;
    write_raw(
        &mut c,
        &NewerFrame {
            id: 77,
            req: NewerRequest::Teleport,
        },
    )
    .await;
    let e = c.reply(77).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Unsupported, "{e}");
    assert!(e.message.contains("teleport"), "{e}");
    drop(c);
    // Logged in: more unknown requests than the bad-frame limit (5), with
    // and without content; none counts as a bad frame.
    let mut c = server.login("alice").await;
    for id in 4242..4252 {
        let req = if id % 2 == 0 {
            NewerRequest::Teleport
        } else {
            NewerRequest::Pin {
                message: 1,
                key: ":+1:".into(),
            }
        };
        write_raw(&mut c, &NewerFrame { id, req }).await;
        let e = c.reply(id).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::Unsupported, "{e}");
    }
    assert_eq!(c.request(Request::Ping).await.unwrap(), Response::Pong);
    assert!(c.send_text("#general", "still here").await.is_ok());
    // A known request with a broken field is still a bad frame.
    write_raw(
        &mut c,
        &Broken {
            id: 9,
            req: BrokenReq::Join { room: 1 },
        },
    )
    .await;
    assert_eq!(c.reply(9).await.unwrap_err().code, ErrorCode::BadFrame);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_client_speaking_the_frozen_v1_bytes_is_served() {
    // The exact bytes of protocol 1's hello, login and requests, from the
    // frozen fixture (request id 7 each; the password there is "pw").
    let fixture = include_str!("../../shared/tests/golden-v1.txt");
    let frame = |name: &str| -> Vec<u8> {
        let hex = fixture
            .lines()
            .find_map(|l| l.strip_prefix(&format!("client.{name} ")[..]))
            .unwrap_or_else(|| panic!("no {name} in the fixture"));
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    };
    let server = TestServer::start(&["alice"], |_| {}).await;
    let mut c = Client::connect(server.addr).await;
    let write = async |c: &mut Client, name: &str| {
        c.framed.get_mut().write_all(&frame(name)).await.unwrap();
        c.reply(7).await
    };
    match write(&mut c, "hello").await.unwrap() {
        Response::Welcome { features, .. } => {
            assert!(features.iter().any(|f| f == "nonce"), "{features:?}");
            assert!(features.iter().any(|f| f == "unsupported"), "{features:?}");
        }
        other => panic!("{other:?}"),
    }
    // Wrong password in the fixture: a clean auth failure, not a bad frame.
    assert_eq!(
        write(&mut c, "login_password").await.unwrap_err().code,
        ErrorCode::AuthFailed
    );
    let mut c = server.login("alice").await;
    for (name, ok) in [
        ("ping", true),
        ("join", true),
        ("send", true),
        ("history", true),
        ("members", true),
        ("rooms", true),
        ("directory", true),
        ("mark_read", true),
        ("typing", true),
        ("presence", true),
        ("stats", true),
    ] {
        let reply = write(&mut c, name).await;
        assert_eq!(reply.is_ok(), ok, "{name}: {reply:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_raw_bytes_is_refused_cleanly() {
    // An HTTP client by mistake: its first bytes read as a huge length.
    let server = TestServer::start(&[], |_| {}).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let mut codec = natter_shared::FrameCodec::default();
    let mut bytes = bytes::BytesMut::from(&buf[..]);
    let first = tokio_util::codec::Decoder::decode(&mut codec, &mut bytes)
        .unwrap()
        .unwrap();
    match natter_shared::decode_server(&first).unwrap() {
        ServerFrame::Err { err, .. } => assert_eq!(err.code, ErrorCode::FrameTooLarge),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_this_server_does_not_know_are_refused_not_stored() {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Req {
        SetRole {
            room: &'static str,
            user: &'static str,
            role: &'static str,
        },
        Presence {
            state: &'static str,
        },
    }
    #[derive(serde::Serialize)]
    struct Frame {
        id: u64,
        req: Req,
    }
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut alice = server.login("alice").await;
    assert!(
        alice
            .request(Request::Create {
                room: "#mine".into(),
                private: false,
            })
            .await
            .is_ok()
    );
    let mut bob = server.login("bob").await;
    assert!(
        bob.request(Request::Join {
            room: "#mine".into()
        })
        .await
        .is_ok()
    );
    write_raw(
        &mut alice,
        &Frame {
            id: 900,
            req: Req::SetRole {
                room: "#mine",
                user: "bob",
                role: "emperor",
            },
        },
    )
    .await;
    assert_eq!(alice.reply(900).await.unwrap_err().code, ErrorCode::Invalid);
    write_raw(
        &mut alice,
        &Frame {
            id: 901,
            req: Req::Presence { state: "dreaming" },
        },
    )
    .await;
    assert_eq!(alice.reply(901).await.unwrap_err().code, ErrorCode::Invalid);
    match alice
        .request(Request::Members {
            room: "#mine".into(),
        })
        .await
        .unwrap()
    {
        Response::Members { members, .. } => {
            let bob = members.iter().find(|m| m.name == "bob").unwrap();
            assert_eq!(bob.role, natter_shared::Role::Member);
            let me = members.iter().find(|m| m.name == "alice").unwrap();
            assert_eq!(me.presence, natter_shared::PresenceState::Online);
        }
        other => panic!("{other:?}"),
    }
}

/// Reads raw payloads until the reply to `id`, undecoded: whether it came
/// compressed, and its bytes on the wire.
async fn raw_reply(c: &mut Client, id: u64) -> (bool, usize, ServerFrame) {
    use futures_util::StreamExt;
    loop {
        let payload = c.framed.next().await.expect("open").expect("a frame");
        let outer: ServerFrame = rmp_serde::from_slice(&payload).expect("a frame");
        let compressed = matches!(outer, ServerFrame::Compressed(_));
        let frame = natter_shared::decode_server(&payload).unwrap();
        if let ServerFrame::Ok { id: got, .. } | ServerFrame::Err { id: got, .. } = &frame
            && *got == id
        {
            return (compressed, payload.len() + 4, frame);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_replies_are_compressed_only_for_clients_that_ask() {
    let server = TestServer::start(&["alice"], |_| {}).await;
    let (mut alice, _) =
        Client::login(server.addr, "alice", natter_server::testing::PASSWORD).await;
    for i in 0..200 {
        alice
            .send_text(
                "#general",
                &format!("line {i}: did the deploy finish? the dashboard looks green"),
            )
            .await
            .unwrap();
    }
    let page = || Request::History {
        room: "#general".into(),
        query: natter_shared::HistoryQuery {
            limit: 200,
            ..Default::default()
        },
    };
    let mut sizes = Vec::new();
    for zstd in [false, true] {
        let mut c = Client::connect(server.addr).await;
        let id = c
            .send_req(Request::Hello {
                protocol: PROTOCOL_VERSION,
                client: "test".into(),
                client_version: "0".into(),
                compression: if zstd {
                    vec!["zstd".into()]
                } else {
                    Vec::new()
                },
            })
            .await;
        let (_, _, welcome) = raw_reply(&mut c, id).await;
        let ServerFrame::Ok {
            res: Response::Welcome { features, .. },
            ..
        } = welcome
        else {
            panic!("{welcome:?}")
        };
        assert!(features.iter().any(|f| f == "zstd"));
        let id = c
            .send_req(Request::Login {
                user: "alice".into(),
                credential: Credential::Password(natter_server::testing::PASSWORD.into()),
                presence: None,
            })
            .await;
        raw_reply(&mut c, id).await;
        let id = c.send_req(page()).await;
        let (compressed, bytes, frame) = raw_reply(&mut c, id).await;
        assert_eq!(compressed, zstd, "compressed only when asked");
        let ServerFrame::Ok {
            res: Response::Messages { messages, .. },
            ..
        } = frame
        else {
            panic!("{frame:?}")
        };
        assert_eq!(messages.len(), 200);
        assert!(messages[199].body.starts_with("line 199:"));
        // Small replies stay plain even when asked.
        let id = c.send_req(Request::Ping).await;
        let (compressed, _, _) = raw_reply(&mut c, id).await;
        assert!(!compressed);
        sizes.push(bytes);
    }
    println!(
        "a 200-message history page: {} bytes plain, {} bytes with zstd",
        sizes[0], sizes[1]
    );
    assert!(sizes[1] * 3 < sizes[0], "{sizes:?}");
}
