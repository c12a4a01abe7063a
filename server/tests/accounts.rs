//! Account security on a running server: password changes revoke every
//! token and end the other sessions; an account deleted or suspended by the
//! admin CLI (another process, same data dir) loses its open sessions at
//! once; moderation lands in the audit log; a backup taken under load is
//! consistent.

mod common;

use common::{Client, PASSWORD, ServerExt, TestServer, code};
use natter_server::admin;
use natter_shared::{Credential, ErrorCode, Event, LeaveKind, Request, Response};

/// A fresh connection logging in with `credential`: the client, or the
/// refusal's code.
async fn login_with(
    addr: std::net::SocketAddr,
    user: &str,
    credential: Credential,
) -> Result<Client, ErrorCode> {
    Client::try_login(addr, None, user, credential)
        .await
        .map(|(c, _)| c)
}

async fn token_login(
    addr: std::net::SocketAddr,
    user: &str,
    token: &str,
) -> Result<Client, ErrorCode> {
    login_with(addr, user, Credential::Token(token.into())).await
}

async fn password_login(
    addr: std::net::SocketAddr,
    user: &str,
    password: &str,
) -> Result<Client, ErrorCode> {
    login_with(addr, user, Credential::PasswordOnly(password.into())).await
}

/// A password change is followed twice: at once by the session that made
/// it, and again when the account poller reads its event back from the
/// store. A session that logged in with the new password in between must
/// survive the second. (It was ended, up to 250 ms after the change; the
/// CLI's `natter passwd` test caught it on a loaded machine.) The poller
/// has surely followed the change once it ends bob's session for a later
/// event, since it reads events in order.
#[tokio::test]
async fn a_session_opened_after_a_password_change_outlives_the_change() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let (mut changer, _) = Client::login(server.addr, "alice", PASSWORD).await;
    let (mut bob, _) = Client::login(server.addr, "bob", PASSWORD).await;
    changer
        .request(Request::ChangePassword {
            old: PASSWORD.into(),
            new: "brand new secret".into(),
        })
        .await
        .unwrap();
    let mut fresh = password_login(server.addr, "alice", "brand new secret")
        .await
        .unwrap();
    admin::suspend_user(&server.data_dir, "bob", true, "a later event").unwrap();
    assert_eq!(bob.closing().await.map(|c| c.0), Some(ErrorCode::Suspended));
    assert_eq!(fresh.request(Request::Ping).await.unwrap(), Response::Pong);
    assert_eq!(
        changer.request(Request::Ping).await.unwrap(),
        Response::Pong
    );
}

#[tokio::test]
async fn a_password_change_revokes_tokens_and_ends_the_other_sessions() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let (mut a1, info1) = Client::login(server.addr, "alice", PASSWORD).await;
    let (_a2, info2) = Client::login(server.addr, "alice", PASSWORD).await;
    let old_token = info2.token.clone().unwrap();
    // A third session, by token: it is one of the "other sessions".
    let mut a3 = token_login(server.addr, "alice", &old_token).await.unwrap();

    // A wrong current password changes nothing.
    let r = a1
        .request(Request::ChangePassword {
            old: "not it at all".into(),
            new: "brand new secret".into(),
        })
        .await;
    assert_eq!(code(r), ErrorCode::AuthFailed);
    // Too short a new one is refused before anything is checked.
    let r = a1
        .request(Request::ChangePassword {
            old: PASSWORD.into(),
            new: "x".into(),
        })
        .await;
    assert_eq!(code(r), ErrorCode::Invalid);

    let r = a1
        .request(Request::ChangePassword {
            old: PASSWORD.into(),
            new: "brand new secret".into(),
        })
        .await
        .unwrap();
    let Response::PasswordChanged {
        token: Some(new_token),
    } = r
    else {
        panic!("a password-login session gets a new token: {r:?}");
    };
    // The other session goes at once, told why; this one stays.
    assert_eq!(a3.closing().await.map(|c| c.0), Some(ErrorCode::Revoked));
    assert_eq!(a1.request(Request::Ping).await.unwrap(), Response::Pong);

    // Every old token is dead; the new one and the new password work.
    for t in [&old_token, info1.token.as_ref().unwrap()] {
        assert_eq!(
            token_login(server.addr, "alice", t).await.err(),
            Some(ErrorCode::AuthFailed)
        );
    }
    assert!(
        token_login(server.addr, "alice", new_token.expose())
            .await
            .is_ok()
    );
    assert_eq!(
        password_login(server.addr, "alice", PASSWORD).await.err(),
        Some(ErrorCode::AuthFailed)
    );
    assert!(
        password_login(server.addr, "alice", "brand new secret")
            .await
            .is_ok()
    );

    let log = admin::audit_log(&server.data_dir, 10).unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "user.password" && e.actor == "alice" && e.target == "alice"),
        "{log:?}"
    );
}

#[tokio::test]
async fn an_account_deleted_by_the_cli_loses_its_sessions_at_once() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    // The CLI works on the data dir from outside the server.
    let dir = server.data_dir.clone();
    tokio::task::spawn_blocking(move || admin::delete_user(&dir, "alice", true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.closing().await.map(|c| c.0), Some(ErrorCode::Revoked));
    // Others see the account leave #general.
    let left = bob
        .event_where(|e| matches!(e, Event::Left { user, .. } if user == "alice"))
        .await;
    assert!(
        matches!(
            left,
            Event::Left {
                kind: LeaveKind::Left,
                ..
            }
        ),
        "{left:?}"
    );
    assert_eq!(
        password_login(server.addr, "alice", PASSWORD).await.err(),
        Some(ErrorCode::AuthFailed)
    );
    // Released by the operator, the name is free again, for a new account
    // with nothing of the old.
    admin::add_user(&server.data_dir, "alice", "another password", false).unwrap();
    let mut again = password_login(server.addr, "alice", "another password")
        .await
        .unwrap();
    let r = again
        .request(Request::Members {
            room: "#general".into(),
        })
        .await
        .unwrap();
    let Response::Members { members, .. } = r else {
        panic!()
    };
    assert_eq!(members.iter().filter(|m| m.name == "alice").count(), 1);
}

#[tokio::test]
async fn a_suspended_account_is_closed_at_once_and_cannot_log_in() {
    let server = TestServer::start(&["alice", "bob"], |_| {}).await;
    let (mut alice, info) = Client::login(server.addr, "alice", PASSWORD).await;
    let token = info.token.unwrap();
    let mut bob = server.login("bob").await;
    let dir = server.data_dir.clone();
    tokio::task::spawn_blocking(move || admin::suspend_user(&dir, "alice", true, "spam"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        alice.closing().await.map(|c| c.0),
        Some(ErrorCode::Suspended)
    );
    // Neither a password nor a token gets in; a wrong password still reads
    // as a wrong password (nothing is told to a guesser).
    assert_eq!(
        password_login(server.addr, "alice", PASSWORD).await.err(),
        Some(ErrorCode::Suspended)
    );
    assert_eq!(
        token_login(server.addr, "alice", &token).await.err(),
        Some(ErrorCode::Suspended)
    );
    assert_eq!(
        password_login(server.addr, "alice", "wrong password")
            .await
            .err(),
        Some(ErrorCode::AuthFailed)
    );
    // Bob was not disturbed.
    assert_eq!(bob.request(Request::Ping).await.unwrap(), Response::Pong);
    admin::suspend_user(&server.data_dir, "alice", false, "").unwrap();
    assert!(token_login(server.addr, "alice", &token).await.is_ok());
    let users = admin::list_users(&server.data_dir).unwrap();
    assert!(users.iter().all(|u| !u.suspended));

    let log = admin::audit_log(&server.data_dir, 10).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.ends_with(&["user.suspend", "user.unsuspend"]),
        "{actions:?}"
    );
    assert!(
        log.iter()
            .all(|e| e.actor.starts_with("operator:") || e.action != "user.suspend")
    );
    assert_eq!(
        log.iter()
            .find(|e| e.action == "user.suspend")
            .unwrap()
            .detail,
        "spam"
    );
}

#[tokio::test]
async fn moderation_is_audited_with_who_what_where_and_why() {
    let server = TestServer::start(&["alice", "bob", "carol"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut bob = server.login("bob").await;
    // Both may be added at once, so the invitations need no consent here.
    let mut carol = server.login("carol").await;
    for c in [&mut bob, &mut carol] {
        c.request(Request::SetInvites {
            policy: natter_shared::InvitePolicy::Anyone,
        })
        .await
        .unwrap();
    }
    let before = admin::audit_log(&server.data_dir, 1000).unwrap().len();
    alice
        .request(Request::Create {
            room: "#ops".into(),
            private: true,
        })
        .await
        .unwrap();
    for req in [
        Request::Invite {
            room: "#ops".into(),
            user: "bob".into(),
        },
        Request::Invite {
            room: "#ops".into(),
            user: "carol".into(),
        },
        Request::SetRole {
            room: "#ops".into(),
            user: "bob".into(),
            role: natter_shared::Role::Moderator,
        },
        Request::Topic {
            room: "#ops".into(),
            topic: "on call".into(),
        },
        Request::Kick {
            room: "#ops".into(),
            user: "carol".into(),
            reason: Some("testing".into()),
        },
        Request::Ban {
            room: "#ops".into(),
            user: "carol".into(),
            reason: None,
        },
        Request::Unban {
            room: "#ops".into(),
            user: "carol".into(),
        },
    ] {
        alice.request(req).await.unwrap();
    }
    // A refused action is not logged.
    let r = bob
        .request(Request::Kick {
            room: "#ops".into(),
            user: "alice".into(),
            reason: None,
        })
        .await;
    assert_eq!(code(r), ErrorCode::Forbidden);
    // Detached writes commit in order with the next write: ping the store.
    alice.send_text("#ops", "sync").await.unwrap();
    let log = admin::audit_log(&server.data_dir, 1000).unwrap();
    let got: Vec<(String, String, String, String, String)> = log[before..]
        .iter()
        .map(|e| {
            (
                e.actor.clone(),
                e.action.clone(),
                e.target.clone(),
                e.room.clone(),
                e.detail.clone(),
            )
        })
        .collect();
    let want = [
        ("alice", "room.create", "", "#ops", "private"),
        ("alice", "invite", "bob", "#ops", ""),
        ("alice", "invite", "carol", "#ops", ""),
        ("alice", "set_role", "bob", "#ops", "moderator"),
        ("alice", "topic", "", "#ops", "on call"),
        ("alice", "kick", "carol", "#ops", "testing"),
        ("alice", "ban", "carol", "#ops", ""),
        ("alice", "unban", "carol", "#ops", ""),
    ];
    let want: Vec<(String, String, String, String, String)> = want
        .iter()
        .map(|(a, b, c, d, e)| {
            (
                (*a).into(),
                (*b).into(),
                (*c).into(),
                (*d).into(),
                (*e).into(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(log[before..].iter().all(|e| e.at > 0));
}

#[tokio::test]
async fn the_audit_log_keeps_reasons_short_repeats_out_and_old_entries_not() {
    let dir = tempfile::tempdir().unwrap();
    natter_server::testing::add_users(dir.path(), &["alice", "carol"]);
    // An entry from long ago, past the default retention of 365 days.
    {
        let db = rusqlite::Connection::open(dir.path().join("natter.db")).unwrap();
        db.execute(
            "INSERT INTO audit (at, actor, action) VALUES (?1, 'operator:old', 'user.add')",
            [natter_server::store::now_ms() - 400 * 86_400_000],
        )
        .unwrap();
    }
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let mut alice = server.login("alice").await;
    let mut carol = server.login("carol").await;
    alice
        .request(Request::Create {
            room: "#ops".into(),
            private: false,
        })
        .await
        .unwrap();
    carol
        .request(Request::Join {
            room: "#ops".into(),
        })
        .await
        .unwrap();
    let huge = "x".repeat(60_000);
    alice
        .request(Request::Kick {
            room: "#ops".into(),
            user: "carol".into(),
            reason: Some(huge.clone()),
        })
        .await
        .unwrap();
    let db_size = || std::fs::metadata(dir.path().join("natter.db-wal")).map_or(0, |m| m.len());
    let size_before = db_size();
    for _ in 0..95 {
        alice
            .request(Request::Ban {
                room: "#ops".into(),
                user: "carol".into(),
                reason: Some(huge.clone()),
            })
            .await
            .unwrap();
    }
    alice.send_text("#ops", "sync").await.unwrap();
    let log = admin::audit_log(dir.path(), 1000).unwrap();
    assert!(
        log.iter().all(|e| e.actor != "operator:old"),
        "the old entry is gone"
    );
    let kick = log.iter().find(|e| e.action == "kick").unwrap();
    assert_eq!(
        kick.detail.chars().count(),
        300,
        "the reason is cut as shown"
    );
    let bans: Vec<_> = log.iter().filter(|e| e.action == "ban").collect();
    assert_eq!(bans.len(), 1, "a repeated ban is a no-op");
    assert!(bans[0].detail.chars().count() <= 300);
    let grown = db_size().saturating_sub(size_before);
    assert!(
        grown < 200_000,
        "95 repeat bans grew the store by {grown} bytes"
    );
}

#[tokio::test]
async fn a_backup_taken_under_load_is_consistent_and_complete_up_to_its_start() {
    let server = TestServer::start(&["alice"], |_| {}).await;
    let mut alice = server.login("alice").await;
    for i in 0..200 {
        alice
            .send_text("#general", &format!("before {i}"))
            .await
            .unwrap();
    }
    // Keep writing while the backup runs.
    let addr = server.addr;
    let writer = tokio::spawn(async move {
        let mut c = Client::login(addr, "alice", PASSWORD).await.0;
        for i in 0..300 {
            c.send_text("#general", &format!("during {i}"))
                .await
                .unwrap();
        }
    });
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("copy");
    let (dir, d) = (server.data_dir.clone(), dest.clone());
    tokio::task::spawn_blocking(move || admin::backup(&dir, &d))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    let copy = rusqlite::Connection::open(dest.join("natter.db")).unwrap();
    let ok: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let before: i64 = copy
        .query_row(
            "SELECT COUNT(*) FROM messages WHERE body LIKE 'before %'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(before, 200);
    // Messages are a prefix in id order: no holes from a torn copy.
    let (n, max): (i64, i64) = copy
        .query_row("SELECT COUNT(*), MAX(id) FROM messages", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(n, max);
    // It refuses to overwrite.
    let err = admin::backup(&server.data_dir, &dest).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}
