//! The privacy and authority matrix: every request type, made by
//! (a) a connection that has not logged in, (b) a user outside a private
//! room, (c) a member without the role the request needs, and (d) a user
//! banned from the room. Each cell names the expected outcome; outsiders
//! and banned users must get exactly the answer a nonexistent room gets,
//! and nothing about the room (messages, members, typing, presence, topic)
//! may reach them through any reply or event.
//!
//! `kind_of` matches every `Request` variant without a wildcard, and the
//! test checks that each kind has exactly one row: a new request type does
//! not compile here until it has a row.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Client, PASSWORD, ServerExt, TestServer};
use natter_shared::{
    Credential, ErrorCode, HistoryQuery, PresenceState, Request, Response, Role, ServerFrame,
};

/// The private room under test, and a room that does not exist.
const ROOM: &str = "#vault";
const MISSING: &str = "#nowhere";
/// Strings only someone allowed in the room can know: a message body, the
/// topic, and a user who is in no other room.
const SECRETS: &[&str] = &["classified-marker", "topic-marker", "ghost", "secret-plan"];

/// The file olive posted in the vault (set once it is uploaded): rows
/// about files ask for it in the room, and for a file that never was
/// outside it.
static VAULT_FILE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The file a row asks about: the vault's, or one that does not exist.
fn file_in(room: &str) -> u64 {
    if room == ROOM {
        VAULT_FILE.load(std::sync::atomic::Ordering::Relaxed)
    } else {
        u64::MAX >> 2
    }
}

fn kind_of(r: &Request) -> &'static str {
    match r {
        Request::Hello { .. } => "hello",
        Request::Login { .. } => "login",
        Request::Register { .. } => "register",
        Request::ChangePassword { .. } => "change_password",
        Request::Logout => "logout",
        Request::Ping => "ping",
        Request::Send { .. } => "send",
        Request::History { .. } => "history",
        Request::Join { .. } => "join",
        Request::Leave { .. } => "leave",
        Request::Create { .. } => "create",
        Request::Invite { .. } => "invite",
        Request::Kick { .. } => "kick",
        Request::Ban { .. } => "ban",
        Request::Unban { .. } => "unban",
        Request::SetRole { .. } => "set_role",
        Request::Topic { .. } => "topic",
        Request::SetMode { .. } => "set_mode",
        Request::Readers { .. } => "readers",
        Request::Received { .. } => "received",
        Request::ShareReceipts { .. } => "share_receipts",
        Request::Members { .. } => "members",
        Request::Rooms => "rooms",
        Request::Directory => "directory",
        Request::MarkRead { .. } => "mark_read",
        Request::Typing { .. } => "typing",
        Request::Presence { .. } => "presence",
        Request::Stats => "stats",
        Request::Block { .. } => "block",
        Request::Unblock { .. } => "unblock",
        Request::Blocked => "blocked",
        Request::Report { .. } => "report",
        Request::Accept { .. } => "accept",
        Request::Decline { .. } => "decline",
        Request::Invitations => "invitations",
        Request::SetInvites { .. } => "set_invites",
        Request::SetProfile { .. } => "set_profile",
        Request::Whois { .. } => "whois",
        Request::Edit { .. } => "edit",
        Request::Delete { .. } => "delete",
        Request::React { .. } => "react",
        Request::Search(_) => "search",
        Request::OpenTransfer => "open_transfer",
        Request::TransferLogin { .. } => "transfer_login",
        Request::UploadStart { .. } => "upload_start",
        Request::UploadChunk { .. } => "upload_chunk",
        Request::CancelUpload { .. } => "cancel_upload",
        Request::FileInfo { .. } => "file_info",
        Request::Download { .. } => "download",
        // Cannot be encoded; `connection.rs` sends raw frames of unknown requests.
        Request::Unknown(_) => "unknown",
    }
}

/// What a cell expects.
#[derive(Debug, Clone)]
enum Want {
    /// Success.
    Ok,
    /// This error code.
    Code(ErrorCode),
    /// Exactly the reply the same request about a nonexistent room gets
    /// (code and message, the room's name aside).
    AsMissing,
}

use Want::{AsMissing, Code, Ok as Allowed};

struct Row {
    make: fn(&str) -> Request,
    anon: Want,
    outsider: Want,
    member: Want,
    banned: Want,
}

fn row(make: fn(&str) -> Request, anon: Want, outsider: Want, member: Want, banned: Want) -> Row {
    Row {
        make,
        anon,
        outsider,
        member,
        banned,
    }
}

/// Every request type. Rows that end a session (leave, logout) come last.
fn rows() -> Vec<Row> {
    let nli = || Code(ErrorCode::NotLoggedIn);
    let forbidden = || Code(ErrorCode::Forbidden);
    vec![
        row(
            |_| Request::Hello {
                compression: Vec::new(),
                protocol: natter_shared::PROTOCOL_VERSION,
                client: "matrix".into(),
                client_version: "0".into(),
            },
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
        ),
        row(
            |_| Request::Login {
                user: "olive".into(),
                credential: Credential::Password("not the password".into()),
                presence: None,
            },
            Code(ErrorCode::AuthFailed),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
        ),
        row(
            |_| Request::Register {
                user: "newcomer".into(),
                password: "long enough password".into(),
            },
            Code(ErrorCode::RegistrationClosed),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
        ),
        row(
            |_| Request::ChangePassword {
                old: "not the password".into(),
                new: "another long password".into(),
            },
            nli(),
            Code(ErrorCode::AuthFailed),
            Code(ErrorCode::AuthFailed),
            Code(ErrorCode::AuthFailed),
        ),
        row(|_| Request::Ping, Allowed, Allowed, Allowed, Allowed),
        // Files. A ticket is anyone's for their own session; a transfer
        // login on a chat connection is refused, and so are the requests
        // of transfer connections. A file is seen only by those in a room
        // where it was posted: to anyone else it is a file that never was.
        row(|_| Request::OpenTransfer, nli(), Allowed, Allowed, Allowed),
        row(
            |_| Request::TransferLogin {
                ticket: "not a ticket".into(),
            },
            Code(ErrorCode::AuthFailed),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
        ),
        row(
            |_| Request::UploadStart {
                name: "x.txt".into(),
                size: 1,
                sha256: "00".repeat(32),
            },
            nli(),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
        ),
        row(
            |_| Request::UploadChunk {
                upload: 1,
                offset: 0,
                data: natter_shared::ByteBuf::from(vec![1]),
            },
            nli(),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
        ),
        row(
            |_| Request::CancelUpload { upload: 1 },
            nli(),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
        ),
        row(
            |room| Request::Download {
                file: file_in(room),
                offset: 0,
                len: 100,
                thumb: false,
            },
            nli(),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
            Code(ErrorCode::Invalid),
        ),
        row(
            |room| Request::FileInfo {
                file: file_in(room),
            },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        // Rich messaging. Message 1 is olive's, in the room: a plain
        // member may react to it, but neither edit nor delete it.
        row(
            |room| Request::Edit {
                room: room.into(),
                id: 1,
                body: "changed".into(),
            },
            nli(),
            AsMissing,
            forbidden(),
            AsMissing,
        ),
        row(
            |room| Request::Delete {
                room: room.into(),
                id: 1,
            },
            nli(),
            AsMissing,
            forbidden(),
            AsMissing,
        ),
        row(
            |room| Request::React {
                room: room.into(),
                id: 1,
                key: "👍".into(),
                op: natter_shared::ReactOp::Toggle,
            },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        // Not served yet.
        row(
            |room| {
                Request::Search(natter_shared::SearchQuery {
                    query: "classified".into(),
                    room: Some(room.into()),
                    before: None,
                    limit: 20,
                })
            },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        row(
            |room| Request::Send {
                room: room.into(),
                body: "hello".into(),
                action: false,
                nonce: None,
                reply_to: None,
                thread: None,
                attention: false,
                files: Vec::new(),
            },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        row(
            |room| Request::History {
                room: room.into(),
                query: HistoryQuery {
                    before: None,
                    after: None,
                    limit: 50,
                    ..Default::default()
                },
            },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        row(
            |room| Request::Join { room: room.into() },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        // Room names are unique: creating a taken name says so, whoever
        // holds it (the same answer as for a taken public name).
        row(
            |room| Request::Create {
                room: room.into(),
                private: true,
            },
            nli(),
            Code(ErrorCode::AlreadyExists),
            Code(ErrorCode::AlreadyExists),
            Code(ErrorCode::AlreadyExists),
        ),
        row(
            |room| Request::Invite {
                room: room.into(),
                user: "otto".into(),
            },
            nli(),
            AsMissing,
            forbidden(),
            AsMissing,
        ),
        row(
            |room| Request::Kick {
                room: room.into(),
                user: "ghost".into(),
                reason: None,
            },
            nli(),
            AsMissing,
            forbidden(),
            AsMissing,
        ),
        row(
            |room| Request::Ban {
                room: room.into(),
                user: "ghost".into(),
                reason: None,
            },
            nli(),
            AsMissing,
            forbidden(),
            AsMissing,
        ),
        row(
            |room| Request::Unban {
                room: room.into(),
                user: "ben".into(),
            },
            nli(),
            AsMissing,
            forbidden(),
            AsMissing,
        ),
        row(
            |room| Request::SetRole {
                room: room.into(),
                user: "mia".into(),
                role: Role::Owner,
            },
            nli(),
            AsMissing,
            forbidden(),
            AsMissing,
        ),
        row(
            |room| Request::Topic {
                room: room.into(),
                topic: "mine now".into(),
            },
            nli(),
            AsMissing,
            forbidden(),
            AsMissing,
        ),
        row(
            |room| Request::Readers {
                room: room.into(),
                id: None,
            },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        row(
            |room| Request::Received {
                room: room.into(),
                id: 1,
            },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        row(
            |_| Request::ShareReceipts { share: None },
            nli(),
            Allowed,
            Allowed,
            Allowed,
        ),
        row(
            |room| Request::SetMode {
                room: room.into(),
                announce: Some(true),
                category: Some("mine".into()),
            },
            nli(),
            AsMissing,
            forbidden(),
            AsMissing,
        ),
        row(
            |room| Request::Members { room: room.into() },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        row(|_| Request::Rooms, nli(), Allowed, Allowed, Allowed),
        row(|_| Request::Directory, nli(), Allowed, Allowed, Allowed),
        row(
            |room| Request::MarkRead {
                room: room.into(),
                id: 1,
            },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        row(
            |room| Request::Typing {
                room: room.into(),
                active: true,
            },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        row(
            |_| Request::Presence {
                state: PresenceState::Away,
                status: Some("lunch".into()),
            },
            nli(),
            Allowed,
            Allowed,
            Allowed,
        ),
        row(|_| Request::Stats, nli(), Allowed, Allowed, Allowed),
        // Blocking is about users, not rooms: anyone logged in may.
        row(
            |_| Request::Block {
                user: "olive".into(),
            },
            nli(),
            Allowed,
            Allowed,
            Allowed,
        ),
        row(|_| Request::Blocked, nli(), Allowed, Allowed, Allowed),
        row(
            |_| Request::Unblock {
                user: "olive".into(),
            },
            nli(),
            Allowed,
            Allowed,
            Allowed,
        ),
        // A report needs the room: outsiders learn nothing from one. The
        // member asks about a message id that is nowhere.
        row(
            |room| Request::Report {
                room: room.into(),
                id: u64::MAX >> 2,
                reason: "spam".into(),
            },
            nli(),
            AsMissing,
            Code(ErrorCode::Invalid),
            AsMissing,
        ),
        // Without an invitation, the answer is the same whether the room
        // exists or not.
        row(
            |room| Request::Accept { room: room.into() },
            nli(),
            AsMissing,
            Code(ErrorCode::Invalid),
            AsMissing,
        ),
        row(
            |room| Request::Decline { room: room.into() },
            nli(),
            AsMissing,
            Code(ErrorCode::Invalid),
            AsMissing,
        ),
        row(|_| Request::Invitations, nli(), Allowed, Allowed, Allowed),
        row(
            |_| Request::SetInvites {
                policy: natter_shared::InvitePolicy::Nobody,
            },
            nli(),
            Allowed,
            Allowed,
            Allowed,
        ),
        row(
            |_| Request::SetProfile {
                display_name: Some("Someone Else".into()),
            },
            nli(),
            Allowed,
            Allowed,
            Allowed,
        ),
        // Whois of the vault's owner: allowed, and (tests/profiles.rs)
        // never naming a room the asker is not in.
        row(
            |_| Request::Whois {
                user: "olive".into(),
            },
            nli(),
            Allowed,
            Allowed,
            Allowed,
        ),
        row(
            |room| Request::Leave { room: room.into() },
            nli(),
            AsMissing,
            Allowed,
            AsMissing,
        ),
        row(|_| Request::Logout, nli(), Allowed, Allowed, Allowed),
    ]
}

/// Every frame a client received, for the leak check.
fn leaks(frames: &[String]) -> Vec<&String> {
    frames
        .iter()
        .filter(|f| SECRETS.iter().any(|s| f.contains(s)))
        .collect()
}

/// Sends `req` and returns its reply, recording every frame seen.
async fn ask(
    c: &mut Client,
    req: Request,
    seen: &mut Vec<String>,
) -> Result<Response, natter_shared::ErrorReply> {
    let id = c.send_req(req).await;
    loop {
        let frame = c.next_frame().await.expect("connection open");
        seen.push(format!("{frame:?}"));
        match frame {
            ServerFrame::Ok { id: rid, res } if rid == id => return Ok(res),
            ServerFrame::Err { id: rid, err } if rid == id => return Err(err),
            _ => {}
        }
    }
}

#[tokio::test]
async fn every_request_by_every_outsider_is_refused_without_a_leak() {
    let server = TestServer::start(&["olive", "mia", "otto", "ben", "ghost"], |_| {}).await;
    let mut olive = server.login("olive").await;
    let mut ghost = server.login("ghost").await;
    // Ghost is in no room the others can see.
    ghost
        .request(Request::Leave {
            room: "#general".into(),
        })
        .await
        .unwrap();
    olive
        .request(Request::Create {
            room: ROOM.into(),
            private: true,
        })
        .await
        .unwrap();
    for user in ["mia", "ben", "ghost"] {
        olive
            .request(Request::Invite {
                room: ROOM.into(),
                user: user.into(),
            })
            .await
            .unwrap();
        // They share only #general with olive: the invitation waits for
        // their consent.
        let mut invitee = if user == "ghost" {
            None
        } else {
            Some(server.login(user).await)
        };
        let c = invitee.as_mut().unwrap_or(&mut ghost);
        c.request(Request::Accept { room: ROOM.into() })
            .await
            .unwrap();
    }
    olive
        .request(Request::Topic {
            room: ROOM.into(),
            topic: "topic-marker".into(),
        })
        .await
        .unwrap();
    olive.send_text(ROOM, "classified-marker").await.unwrap();
    let file = common::upload(server.addr, &mut olive, "secret-plan.txt", b"the plan")
        .await
        .unwrap();
    VAULT_FILE.store(file.file, std::sync::atomic::Ordering::Relaxed);
    olive.send_files(ROOM, "", vec![file.file]).await.unwrap();
    olive
        .request(Request::Ban {
            room: ROOM.into(),
            user: "ben".into(),
            reason: None,
        })
        .await
        .unwrap();

    let rows = rows();
    // One row per request type, no more, no less.
    let kinds: Vec<&str> = rows
        .iter()
        .map(|r| {
            let req = (r.make)(ROOM);
            // The guard's names are the protocol's own.
            assert_eq!(kind_of(&req), req.kind());
            kind_of(&req)
        })
        .collect();
    let unique: BTreeSet<&str> = kinds.iter().copied().collect();
    assert_eq!(
        unique.len(),
        kinds.len(),
        "a request type has two rows: {kinds:?}"
    );
    assert_eq!(unique.len(), 49, "every request type has a row: {kinds:?}");

    for actor in ["anon", "otto", "mia", "ben"] {
        let mut seen = Vec::new();
        let mut client = if actor == "anon" {
            let mut c = Client::connect(server.addr).await;
            c.hello().await;
            c
        } else {
            Client::login(server.addr, actor, PASSWORD).await.0
        };
        for r in &rows {
            let want = match actor {
                "anon" => &r.anon,
                "otto" => &r.outsider,
                "mia" => &r.member,
                _ => &r.banned,
            };
            let req = (r.make)(ROOM);
            let kind = kind_of(&req);
            if kind == "leave" && actor != "mia" {
                // A message while they are still connected: the rows
                // left read every frame that arrives meanwhile.
                olive
                    .send_text(ROOM, "classified-marker again")
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let got = ask(&mut client, req, &mut seen).await;
            match want {
                Allowed => assert!(got.is_ok(), "{actor} {kind}: {got:?}"),
                Code(code) => match &got {
                    Err(e) => assert_eq!(&e.code, code, "{actor} {kind}: {e}"),
                    Ok(res) => panic!("{actor} {kind}: expected {code}, got {res:?}"),
                },
                AsMissing => {
                    let got = got.expect_err(&format!("{actor} {kind} must be refused"));
                    let missing = ask(&mut client, (r.make)(MISSING), &mut seen)
                        .await
                        .expect_err("a missing room is refused");
                    assert_eq!(got.code, missing.code, "{actor} {kind}: {got} vs {missing}");
                    assert_eq!(
                        got.message.replace("vault", "X"),
                        missing.message.replace("nowhere", "X"),
                        "{actor} {kind}"
                    );
                }
            }
            // While they poke, the room is busy.
            if actor != "mia" {
                ghost
                    .request(Request::Typing {
                        room: ROOM.into(),
                        active: true,
                    })
                    .await
                    .ok();
                ghost
                    .request(Request::Presence {
                        state: PresenceState::Busy,
                        status: Some("ghost status".into()),
                    })
                    .await
                    .ok();
            }
        }
        if actor != "mia" {
            for e in client.drain(Duration::from_millis(300)).await {
                seen.push(format!("{e:?}"));
            }
            assert!(
                leaks(&seen).is_empty(),
                "{actor} learned: {:?}",
                leaks(&seen)
            );
        }
    }
}

/// A user banned from a public room: the room is no secret, but the ban
/// holds for every way back in.
#[tokio::test]
async fn a_public_room_ban_holds() {
    let server = TestServer::start(&["olive", "ben"], |_| {}).await;
    let mut olive = server.login("olive").await;
    let mut ben = server.login("ben").await;
    olive
        .request(Request::Create {
            room: "#lobby".into(),
            private: false,
        })
        .await
        .unwrap();
    ben.request(Request::Join {
        room: "#lobby".into(),
    })
    .await
    .unwrap();
    olive
        .request(Request::Ban {
            room: "#lobby".into(),
            user: "ben".into(),
            reason: Some("spam".into()),
        })
        .await
        .unwrap();
    let join = ben
        .request(Request::Join {
            room: "#lobby".into(),
        })
        .await;
    assert_eq!(common::code(join), ErrorCode::Banned);
    let send = ben.send_text("#lobby", "let me in").await;
    assert!(send.is_err());
    // Nobody but a moderator can let them back: a plain invite is refused.
    let invite = ben
        .request(Request::Invite {
            room: "#lobby".into(),
            user: "ben".into(),
        })
        .await;
    assert!(invite.is_err());
}
