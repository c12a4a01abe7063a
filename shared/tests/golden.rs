//! Golden bytes: the exact encoding of one sample of every frame type is
//! pinned in `tests/golden.txt` (`name hex` per line). A change to the wire
//! format fails here first. After an intended, compatible change, rewrite the
//! file with `NATTER_UPDATE_GOLDEN=1 cargo test -p natter-shared --test golden`
//! and review the diff.
//!
//! The `exhaustive_*` functions do not run; they make the compiler refuse a
//! new variant until it has a sample here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use natter_shared::*;

fn room_state() -> RoomState {
    RoomState {
        name: "#general".into(),
        kind: RoomKind::Public,
        topic: "hi".into(),
        role: Role::Member,
        unread: 2,
        mentions: 1,
        last_read: 40,
        last_id: 42,
        members: 3,
        announce: false,
        category: None,
    }
}

fn message() -> Message {
    Message {
        id: 42,
        ts: 1_700_000_000_000,
        room: "#general".into(),
        from: "alice".into(),
        body: "hello @bob".into(),
        action: false,
        nonce: None,
        ..Message::default()
    }
}

/// A message with every rich field set: a thread reply that quotes
/// another, edited, reacted to.
fn rich_message() -> Message {
    Message {
        id: 44,
        ts: 1_700_000_000_000,
        room: "#general".into(),
        from: "bob".into(),
        body: "agreed".into(),
        reply_to: Some(43),
        thread: Some(40),
        edited_at: Some(1_700_000_001_000),
        reactions: vec![Reaction {
            key: "👍".into(),
            users: vec!["alice".into(), "carol".into()],
        }],
        rev: 91,
        attachments: vec![attachment()],
        ..Message::default()
    }
}

/// An image with its thumbnail.
fn attachment() -> Attachment {
    Attachment {
        file: 7,
        name: "shot.png".into(),
        size: 12_700,
        mime: "image/png".into(),
        sha256: "ab".repeat(32),
        width: Some(800),
        height: Some(600),
        thumb: 4_100,
    }
}

fn requests() -> Vec<(&'static str, Request)> {
    let room = || "#general".to_string();
    vec![
        (
            "hello",
            Request::Hello {
                compression: Vec::new(),
                protocol: 1,
                client: "natter".into(),
                client_version: "0.1.0".into(),
            },
        ),
        (
            "hello_zstd",
            Request::Hello {
                protocol: 1,
                client: "natter".into(),
                client_version: "0.2.0".into(),
                compression: vec!["zstd".into()],
            },
        ),
        (
            "login_password",
            Request::Login {
                user: "alice".into(),
                credential: Credential::Password("pw".into()),
                presence: None,
            },
        ),
        (
            "login_token",
            Request::Login {
                user: "alice".into(),
                credential: Credential::Token("ab12".into()),
                presence: None,
            },
        ),
        (
            "register",
            Request::Register {
                user: "alice".into(),
                password: "pw".into(),
            },
        ),
        (
            "login_with_presence",
            Request::Login {
                user: "alice".into(),
                credential: Credential::Token("ab12".into()),
                presence: Some(PresenceChoice {
                    state: PresenceState::Away,
                    status: Some("lunch".into()),
                }),
            },
        ),
        (
            "login_password_only",
            Request::Login {
                user: "alice".into(),
                credential: Credential::PasswordOnly("pw".into()),
                presence: None,
            },
        ),
        (
            "change_password",
            Request::ChangePassword {
                old: "pw".into(),
                new: "new pw".into(),
            },
        ),
        ("logout", Request::Logout),
        ("ping", Request::Ping),
        (
            "send",
            Request::Send {
                room: room(),
                body: "hi".into(),
                action: false,
                nonce: None,
                reply_to: None,
                thread: None,
                attention: false,
                files: Vec::new(),
            },
        ),
        (
            "send_reply_in_thread",
            Request::Send {
                room: room(),
                body: "agreed".into(),
                action: false,
                nonce: Some("n-2".into()),
                reply_to: Some(43),
                thread: Some(40),
                attention: false,
                files: Vec::new(),
            },
        ),
        (
            "readers",
            Request::Readers {
                room: room(),
                id: Some(42),
            },
        ),
        (
            "received",
            Request::Received {
                room: "@alice".into(),
                id: 43,
            },
        ),
        (
            "share_receipts",
            Request::ShareReceipts { share: Some(false) },
        ),
        (
            "send_files",
            Request::Send {
                room: room(),
                body: String::new(),
                action: false,
                nonce: Some("n2".into()),
                reply_to: None,
                thread: None,
                attention: false,
                files: vec![7, 8],
            },
        ),
        ("open_transfer", Request::OpenTransfer),
        (
            "transfer_login",
            Request::TransferLogin {
                ticket: "ef56".into(),
            },
        ),
        (
            "upload_start",
            Request::UploadStart {
                name: "build.log".into(),
                size: 12_700,
                sha256: "ab".repeat(32),
            },
        ),
        (
            "upload_chunk",
            Request::UploadChunk {
                upload: 1,
                offset: 4096,
                data: ByteBuf::from(vec![0u8, 1, 2, 255]),
            },
        ),
        ("cancel_upload", Request::CancelUpload { upload: 1 }),
        ("file_info", Request::FileInfo { file: 7 }),
        (
            "download",
            Request::Download {
                file: 7,
                offset: 0,
                len: 65_000,
                thumb: true,
            },
        ),
        (
            "set_mode",
            Request::SetMode {
                room: room(),
                announce: Some(true),
                category: Some("Ops".into()),
            },
        ),
        (
            "send_attention",
            Request::Send {
                room: room(),
                body: "db1 is down".into(),
                action: false,
                nonce: None,
                reply_to: None,
                thread: None,
                attention: true,
                files: Vec::new(),
            },
        ),
        (
            "edit",
            Request::Edit {
                room: room(),
                id: 42,
                body: "hello @bob!".into(),
            },
        ),
        (
            "delete",
            Request::Delete {
                room: room(),
                id: 42,
            },
        ),
        (
            "react",
            Request::React {
                room: room(),
                id: 42,
                key: "🎉".into(),
                op: ReactOp::Toggle,
            },
        ),
        (
            "react_remove",
            Request::React {
                room: room(),
                id: 42,
                key: ":tada:".into(),
                op: ReactOp::Remove,
            },
        ),
        (
            "search",
            Request::Search(SearchQuery {
                query: "from:bob \"deploy failed\" -staging".into(),
                room: Some(room()),
                before: Some(900),
                limit: 20,
            }),
        ),
        (
            "history_around",
            Request::History {
                room: room(),
                query: HistoryQuery {
                    around: Some(42),
                    limit: 50,
                    ..HistoryQuery::default()
                },
            },
        ),
        (
            "history_since",
            Request::History {
                room: room(),
                query: HistoryQuery {
                    since: Some(90),
                    limit: 200,
                    ..HistoryQuery::default()
                },
            },
        ),
        (
            "history_thread",
            Request::History {
                room: room(),
                query: HistoryQuery {
                    thread: Some(40),
                    limit: 50,
                    ..HistoryQuery::default()
                },
            },
        ),
        (
            "send_nonce",
            Request::Send {
                room: room(),
                body: "hi".into(),
                action: true,
                nonce: Some("n-1".into()),
                reply_to: None,
                thread: None,
                attention: false,
                files: Vec::new(),
            },
        ),
        (
            "history",
            Request::History {
                room: room(),
                query: HistoryQuery {
                    before: Some(10),
                    after: None,
                    limit: 50,
                    ..Default::default()
                },
            },
        ),
        ("join", Request::Join { room: room() }),
        ("leave", Request::Leave { room: room() }),
        (
            "create",
            Request::Create {
                room: "#ops".into(),
                private: true,
            },
        ),
        (
            "invite",
            Request::Invite {
                room: room(),
                user: "bob".into(),
            },
        ),
        (
            "kick",
            Request::Kick {
                room: room(),
                user: "bob".into(),
                reason: Some("spam".into()),
            },
        ),
        (
            "ban",
            Request::Ban {
                room: room(),
                user: "bob".into(),
                reason: None,
            },
        ),
        (
            "unban",
            Request::Unban {
                room: room(),
                user: "bob".into(),
            },
        ),
        (
            "set_role",
            Request::SetRole {
                room: room(),
                user: "bob".into(),
                role: Role::Moderator,
            },
        ),
        (
            "topic",
            Request::Topic {
                room: room(),
                topic: "t".into(),
            },
        ),
        ("members", Request::Members { room: room() }),
        ("rooms", Request::Rooms),
        ("directory", Request::Directory),
        (
            "mark_read",
            Request::MarkRead {
                room: room(),
                id: 42,
            },
        ),
        (
            "typing",
            Request::Typing {
                room: room(),
                active: true,
            },
        ),
        (
            "presence",
            Request::Presence {
                state: PresenceState::Away,
                status: Some("lunch".into()),
            },
        ),
        ("stats", Request::Stats),
        (
            "block",
            Request::Block {
                user: "mallory".into(),
            },
        ),
        (
            "unblock",
            Request::Unblock {
                user: "mallory".into(),
            },
        ),
        ("blocked", Request::Blocked),
        (
            "report",
            Request::Report {
                room: room(),
                id: 42,
                reason: "spam".into(),
            },
        ),
        ("accept", Request::Accept { room: room() }),
        ("decline", Request::Decline { room: room() }),
        ("invitations", Request::Invitations),
        (
            "set_invites",
            Request::SetInvites {
                policy: InvitePolicy::Nobody,
            },
        ),
        (
            "set_profile",
            Request::SetProfile {
                display_name: Some("Alice Liddell".into()),
            },
        ),
        (
            "set_profile_clear",
            Request::SetProfile { display_name: None },
        ),
        ("whois", Request::Whois { user: "bob".into() }),
    ]
}

fn invitation() -> Invitation {
    Invitation {
        room: "#ops".into(),
        by: "bob".into(),
        at: 1_700_000_000_000,
    }
}

fn responses() -> Vec<(&'static str, Response)> {
    vec![
        (
            "welcome",
            Response::Welcome {
                protocol: 1,
                server_version: "0.1.0".into(),
                limits: Limits {
                    max_frame: 65536,
                    max_message_len: 4000,
                    max_history_page: 200,
                    heartbeat_ms: 30000,
                    max_reaction_keys: 0,
                    max_file_bytes: 104_857_600,
                    user_quota_bytes: 0,
                    uploads_per_minute: 20,
                    file_types: vec!["image/*".into()],
                    refused_file_types: Vec::new(),
                },
                features: vec!["registration".into()],
                motd: None,
            },
        ),
        (
            "session",
            Response::Session(SessionInfo {
                user: "alice".into(),
                admin: false,
                token: Some("ab12".into()),
                rooms: vec![room_state()],
                blocked: Vec::new(),
                invitations: Vec::new(),
            }),
        ),
        (
            "session_with_blocks_and_invitations",
            Response::Session(SessionInfo {
                user: "alice".into(),
                admin: false,
                token: None,
                rooms: vec![room_state()],
                blocked: vec!["mallory".into()],
                invitations: vec![invitation()],
            }),
        ),
        ("done", Response::Done),
        ("pong", Response::Pong),
        (
            "sent",
            Response::Sent {
                room: "#general".into(),
                id: 42,
                ts: 1_700_000_000_000,
                nonce: None,
            },
        ),
        (
            "sent_nonce",
            Response::Sent {
                room: "#general".into(),
                id: 42,
                ts: 1_700_000_000_000,
                nonce: Some("n-1".into()),
            },
        ),
        (
            "messages",
            Response::Messages {
                room: "#general".into(),
                messages: vec![message()],
                more: true,
                rev: 0,
            },
        ),
        (
            "messages_rich",
            Response::Messages {
                room: "#general".into(),
                messages: vec![
                    Message {
                        replies: Some(ThreadSummary {
                            count: 3,
                            last_from: "bob".into(),
                            last_ts: 1_700_000_002_000,
                        }),
                        rev: 90,
                        ..message()
                    },
                    rich_message(),
                    Message {
                        id: 45,
                        body: String::new(),
                        deleted: true,
                        rev: 92,
                        ..message()
                    },
                ],
                more: false,
                rev: 92,
            },
        ),
        ("room", Response::Room(room_state())),
        ("rooms", Response::Rooms(vec![room_state()])),
        (
            "directory",
            Response::Directory(vec![RoomListing {
                name: "#general".into(),
                topic: String::new(),
                members: 3,
                category: None,
            }]),
        ),
        (
            "members",
            Response::Members {
                room: "#general".into(),
                members: vec![Member {
                    bot: false,
                    guest: false,
                    name: "alice".into(),
                    role: Role::Owner,
                    presence: PresenceState::Online,
                    status: None,
                    display_name: None,
                }],
            },
        ),
        (
            "members_with_display_name",
            Response::Members {
                room: "#general".into(),
                members: vec![Member {
                    bot: false,
                    guest: false,
                    name: "alice".into(),
                    role: Role::Member,
                    presence: PresenceState::Away,
                    status: Some("lunch".into()),
                    display_name: Some("Alice Liddell".into()),
                }],
            },
        ),
        (
            "members_bot",
            Response::Members {
                room: "#deploys".into(),
                members: vec![Member {
                    name: "ci".into(),
                    role: Role::Member,
                    presence: PresenceState::Offline,
                    status: None,
                    display_name: None,
                    bot: true,
                    guest: false,
                }],
            },
        ),
        (
            "stats",
            Response::Stats(Stats {
                users_online: 1,
                sessions: 2,
                rooms: 3,
                messages: 4,
                uptime_secs: 5,
                blobs: 6,
                blob_bytes: 7,
            }),
        ),
        (
            "password_changed",
            Response::PasswordChanged {
                token: Some("cd34".into()),
            },
        ),
        ("blocked", Response::Blocked(vec!["mallory".into()])),
        ("invitations", Response::Invitations(vec![invitation()])),
        (
            "whois",
            Response::Whois(UserInfo {
                bot: false,
                guest: false,
                name: "alice".into(),
                display_name: Some("Alice Liddell".into()),
                presence: PresenceState::Away,
                status: Some("at lunch".into()),
                rooms: vec!["#general".into(), "#rust".into()],
                idle_secs: Some(303),
            }),
        ),
        (
            "whois_offline",
            Response::Whois(UserInfo {
                bot: false,
                guest: false,
                name: "bob".into(),
                display_name: None,
                presence: PresenceState::Offline,
                status: None,
                rooms: Vec::new(),
                idle_secs: None,
            }),
        ),
        ("reacted", Response::Reacted { on: true }),
        (
            "readers",
            Response::Readers {
                room: "@bob".into(),
                readers: vec![natter_shared::Reader {
                    user: "bob".into(),
                    read: 42,
                }],
                delivered: Some(43),
            },
        ),
        (
            "sharing_receipts",
            Response::SharingReceipts { share: false },
        ),
        (
            "ticket",
            Response::Ticket {
                ticket: "ef56".into(),
                expires_ms: 60_000,
            },
        ),
        (
            "upload",
            Response::Upload {
                upload: 1,
                offset: 4096,
            },
        ),
        ("stored", Response::Stored { offset: 8192 }),
        ("uploaded", Response::Uploaded(attachment())),
        ("file", Response::File(attachment())),
        (
            "chunk",
            Response::Chunk {
                offset: 65_000,
                data: ByteBuf::from(vec![9u8, 8, 7]),
                eof: true,
            },
        ),
        (
            "found",
            Response::Found {
                hits: vec![SearchHit {
                    message: message(),
                    snippet: vec![
                        SnippetPart {
                            text: "hello ".into(),
                            hit: true,
                        },
                        SnippetPart {
                            text: "@bob".into(),
                            hit: false,
                        },
                    ],
                }],
                more: true,
            },
        ),
    ]
}

fn events() -> Vec<(&'static str, Event)> {
    let room = || "#general".to_string();
    vec![
        ("message", Event::Message(message())),
        ("message_rich", Event::Message(rich_message())),
        (
            "receipt",
            Event::Receipt {
                room: room(),
                user: "bob".into(),
                id: 42,
            },
        ),
        (
            "delivered",
            Event::Delivered {
                room: "@bob".into(),
                id: 43,
            },
        ),
        (
            "mode",
            Event::Mode {
                room: "#deploys".into(),
                announce: true,
                category: Some("Ops".into()),
                by: "alice".into(),
            },
        ),
        (
            "room_added_announce",
            Event::RoomAdded(RoomState {
                name: "#deploys".into(),
                announce: true,
                category: Some("Ops".into()),
                ..room_state()
            }),
        ),
        (
            "message_attention",
            Event::Message(Message {
                body: "@room deploy 812 failed".into(),
                attention: true,
                rev: 92,
                ..message()
            }),
        ),
        (
            "edited",
            Event::Edited {
                room: room(),
                id: 42,
                body: "hello @bob!".into(),
                edited_at: 1_700_000_001_000,
                rev: 93,
            },
        ),
        (
            "deleted",
            Event::Deleted {
                room: room(),
                id: 42,
                by: "carol".into(),
                rev: 94,
            },
        ),
        (
            "reaction",
            Event::Reaction {
                room: room(),
                id: 42,
                key: "👍".into(),
                user: "bob".into(),
                on: true,
                rev: 95,
            },
        ),
        (
            "message_own",
            Event::Message(Message {
                nonce: Some("n-1".into()),
                ..message()
            }),
        ),
        (
            "unread",
            Event::Unread {
                room: room(),
                unread: 3,
                mentions: 1,
            },
        ),
        (
            "read",
            Event::Read {
                room: room(),
                id: 42,
            },
        ),
        (
            "typing",
            Event::Typing {
                room: room(),
                user: "bob".into(),
                active: true,
            },
        ),
        (
            "presence",
            Event::Presence {
                user: "bob".into(),
                state: PresenceState::Busy,
                status: None,
            },
        ),
        (
            "profile",
            Event::Profile {
                user: "alice".into(),
                display_name: Some("Alice Liddell".into()),
            },
        ),
        (
            "profile_cleared",
            Event::Profile {
                user: "alice".into(),
                display_name: None,
            },
        ),
        (
            "joined",
            Event::Joined {
                room: room(),
                user: "bob".into(),
            },
        ),
        (
            "left",
            Event::Left {
                room: room(),
                user: "bob".into(),
                kind: LeaveKind::Kicked,
                by: Some("alice".into()),
                reason: None,
            },
        ),
        (
            "topic",
            Event::Topic {
                room: room(),
                topic: "t".into(),
                by: "alice".into(),
            },
        ),
        (
            "role",
            Event::Role {
                room: room(),
                user: "bob".into(),
                role: Role::Moderator,
            },
        ),
        ("room_added", Event::RoomAdded(room_state())),
        (
            "room_removed",
            Event::RoomRemoved {
                room: room(),
                kind: LeaveKind::Banned,
                by: Some("alice".into()),
                reason: Some("spam".into()),
            },
        ),
        ("invited", Event::Invited(invitation())),
        (
            "reported",
            Event::Reported(Report {
                id: 7,
                room: "#general".into(),
                message: 42,
                author: "mallory".into(),
                excerpt: "buy now".into(),
                by: "alice".into(),
                reason: "spam".into(),
                at: 1_700_000_000_000,
            }),
        ),
        (
            "closing",
            Event::Closing {
                code: ErrorCode::ShuttingDown,
                message: "bye".into(),
                reconnect_after_ms: Some(5000),
            },
        ),
    ]
}

#[allow(dead_code)]
fn exhaustive_request(r: &Request) {
    match r {
        Request::Hello { .. }
        | Request::Login { .. }
        | Request::Register { .. }
        | Request::ChangePassword { .. }
        | Request::Logout
        | Request::Ping
        | Request::Send { .. }
        | Request::History { .. }
        | Request::Join { .. }
        | Request::Leave { .. }
        | Request::Create { .. }
        | Request::Invite { .. }
        | Request::Kick { .. }
        | Request::Ban { .. }
        | Request::Unban { .. }
        | Request::SetRole { .. }
        | Request::Topic { .. }
        | Request::Members { .. }
        | Request::Rooms
        | Request::Directory
        | Request::MarkRead { .. }
        | Request::Typing { .. }
        | Request::Presence { .. }
        | Request::Stats
        | Request::Block { .. }
        | Request::Unblock { .. }
        | Request::Blocked
        | Request::Report { .. }
        | Request::Accept { .. }
        | Request::Decline { .. }
        | Request::Invitations
        | Request::SetInvites { .. }
        | Request::SetProfile { .. }
        | Request::Whois { .. }
        | Request::Edit { .. }
        | Request::Delete { .. }
        | Request::React { .. }
        | Request::Search(_)
        | Request::SetMode { .. }
        | Request::Readers { .. }
        | Request::Received { .. }
        | Request::ShareReceipts { .. }
        | Request::OpenTransfer
        | Request::TransferLogin { .. }
        | Request::UploadStart { .. }
        | Request::UploadChunk { .. }
        | Request::CancelUpload { .. }
        | Request::FileInfo { .. }
        | Request::Download { .. }
        // Never encoded: what a newer client's request decodes as.
        | Request::Unknown(_) => {}
    }
}

#[allow(dead_code)]
fn exhaustive_response(r: &Response) {
    match r {
        Response::Welcome { .. }
        | Response::Session(_)
        | Response::Done
        | Response::Pong
        | Response::Sent { .. }
        | Response::Messages { .. }
        | Response::Room(_)
        | Response::Rooms(_)
        | Response::Directory(_)
        | Response::Members { .. }
        | Response::Stats(_)
        | Response::PasswordChanged { .. }
        | Response::Blocked(_)
        | Response::Invitations(_)
        | Response::Whois(_)
        | Response::Reacted { .. }
        | Response::Found { .. }
        | Response::Readers { .. }
        | Response::SharingReceipts { .. }
        | Response::Ticket { .. }
        | Response::Upload { .. }
        | Response::Stored { .. }
        | Response::Uploaded(_)
        | Response::File(_)
        | Response::Chunk { .. }
        | Response::Unknown(_) => {}
    }
}

#[allow(dead_code)]
fn exhaustive_event(e: &Event) {
    match e {
        Event::Message(_)
        | Event::Edited { .. }
        | Event::Deleted { .. }
        | Event::Reaction { .. }
        | Event::Unread { .. }
        | Event::Read { .. }
        | Event::Typing { .. }
        | Event::Presence { .. }
        | Event::Profile { .. }
        | Event::Joined { .. }
        | Event::Left { .. }
        | Event::Topic { .. }
        | Event::Role { .. }
        | Event::Mode { .. }
        | Event::Receipt { .. }
        | Event::Delivered { .. }
        | Event::RoomAdded(_)
        | Event::RoomRemoved { .. }
        | Event::Invited(_)
        | Event::Reported(_)
        | Event::Closing { .. }
        | Event::Unknown(_) => {}
    }
}

/// Every sample frame, named, encoded.
fn samples() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (name, req) in requests() {
        let frame = ClientFrame { id: 7, req };
        let bytes = encode(&frame).unwrap().to_vec();
        assert_eq!(decode_client(&bytes[4..]).unwrap(), frame, "{name}");
        out.insert(format!("client.{name}"), bytes);
    }
    let mut server = Vec::new();
    for (name, res) in responses() {
        server.push((format!("ok.{name}"), ServerFrame::Ok { id: 7, res }));
    }
    for (name, ev) in events() {
        server.push((format!("event.{name}"), ServerFrame::Event(ev)));
    }
    server.push((
        "err.rate_limited".into(),
        ServerFrame::Err {
            id: 7,
            err: ErrorReply {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                retry_after_ms: Some(250),
            },
        },
    ));
    for (name, frame) in server {
        let bytes = encode(&frame).unwrap().to_vec();
        assert_eq!(decode_server(&bytes[4..]).unwrap(), frame, "{name}");
        out.insert(name, bytes);
    }
    out
}

#[test]
fn golden_bytes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden.txt");
    let actual = samples();
    let mut text = String::new();
    for (name, bytes) in &actual {
        let hex: String = bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        let _ = writeln!(text, "{name} {hex}");
    }
    if std::env::var_os("NATTER_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).expect("tests/golden.txt exists");
    let expected: BTreeMap<&str, &str> =
        expected.lines().filter_map(|l| l.split_once(' ')).collect();
    let actual_lines: BTreeMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once(' ')).collect();
    for (name, hex) in &actual_lines {
        assert_eq!(
            expected.get(name),
            Some(hex),
            "encoding of {name} changed (or is new)"
        );
    }
    assert_eq!(
        expected.len(),
        actual_lines.len(),
        "golden.txt has rows for frames that no longer exist"
    );
}

#[test]
fn golden_message_is_readable_msgpack_map() {
    // The first bytes of a Message event: a 1-entry map keyed "event".
    let bytes = encode(&ServerFrame::Event(Event::Message(message()))).unwrap();
    assert_eq!(&bytes[4..11], &[0x81, 0xa5, b'e', b'v', b'e', b'n', b't']);
}

#[test]
fn unknown_error_code_survives() {
    // A code from a newer server decodes as Other and re-encodes unchanged.
    let mut frame = encode(&ServerFrame::Err {
        id: 1,
        err: ErrorReply::new(ErrorCode::Internal, "x"),
    })
    .unwrap()
    .to_vec();
    let pos = frame
        .windows(8)
        .position(|w| w == b"internal")
        .expect("code present");
    frame[pos..pos + 8].copy_from_slice(b"futurexx");
    match decode_server(&frame[4..]).unwrap() {
        ServerFrame::Err { err, .. } => {
            assert_eq!(err.code, ErrorCode::Other("futurexx".into()));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn added_field_is_ignored_by_older_reader() {
    // A newer peer adds a field to Ping's frame; this build still reads it.
    #[derive(serde::Serialize)]
    struct Newer {
        id: u64,
        req: &'static str,
        extra: u32,
    }
    let bytes = rmp_serde::to_vec_named(&Newer {
        id: 3,
        req: "ping",
        extra: 1,
    })
    .unwrap();
    assert_eq!(
        decode_client(&bytes).unwrap(),
        ClientFrame {
            id: 3,
            req: Request::Ping
        }
    );
}

#[test]
fn every_error_code_round_trips() {
    for code in ErrorCode::ALL {
        let bytes = rmp_serde::to_vec_named(code).unwrap();
        let back: ErrorCode = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(&back, code);
    }
}

#[test]
fn unknown_values_of_growing_enums_decode_as_catch_alls() {
    // A login reply from a newer server: a room of a kind, a role and a
    // presence this build does not know. The login still succeeds.
    let frame = ServerFrame::Ok {
        id: 7,
        res: Response::Session(SessionInfo {
            user: "alice".into(),
            admin: false,
            token: None,
            rooms: vec![room_state()],
            blocked: Vec::new(),
            invitations: Vec::new(),
        }),
    };
    let mut bytes = encode(&frame).unwrap().to_vec();
    let swap = |bytes: &mut Vec<u8>, from: &[u8], to: &[u8]| {
        assert_eq!(from.len(), to.len());
        let pos = bytes
            .windows(from.len())
            .position(|w| w == from)
            .expect("value present");
        bytes[pos..pos + from.len()].copy_from_slice(to);
    };
    swap(&mut bytes, b"public", b"lobby!");
    swap(&mut bytes, b"member", b"guest!");
    match decode_server(&bytes[4..]).unwrap() {
        ServerFrame::Ok {
            res: Response::Session(s),
            ..
        } => {
            assert_eq!(s.rooms[0].kind, RoomKind::Unknown);
            assert_eq!(s.rooms[0].role, Role::Unknown);
            assert!(
                Role::Unknown < Role::Member,
                "an unknown role grants nothing"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let mut presence = encode(&ServerFrame::Event(Event::Presence {
        user: "bob".into(),
        state: PresenceState::Away,
        status: None,
    }))
    .unwrap()
    .to_vec();
    swap(&mut presence, b"away", b"zzzz");
    assert_eq!(
        decode_server(&presence[4..]).unwrap(),
        ServerFrame::Event(Event::Presence {
            user: "bob".into(),
            state: PresenceState::Unknown,
            status: None,
        })
    );
    let mut left = encode(&ServerFrame::Event(Event::Left {
        room: "#general".into(),
        user: "bob".into(),
        kind: LeaveKind::Kicked,
        by: None,
        reason: None,
    }))
    .unwrap()
    .to_vec();
    swap(&mut left, b"kicked", b"zapped");
    assert!(matches!(
        decode_server(&left[4..]).unwrap(),
        ServerFrame::Event(Event::Left {
            kind: LeaveKind::Unknown,
            ..
        })
    ));
}

/// An enum value's name: a unit variant's string, or the one key of the
/// map a variant with content is.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Tagged {
    Unit(String),
    #[allow(clippy::zero_sized_map_values)] // only the one key is wanted
    Content(BTreeMap<String, serde::de::IgnoredAny>),
}

impl Tagged {
    fn name(self) -> String {
        match self {
            Tagged::Unit(s) => s,
            Tagged::Content(m) => m.into_keys().next().expect("one key"),
        }
    }
}

/// The wire names of a list of samples.
fn tags<T: serde::Serialize>(samples: impl IntoIterator<Item = T>) -> BTreeSet<String> {
    samples
        .into_iter()
        .map(|v| {
            let bytes = rmp_serde::to_vec_named(&v).unwrap();
            rmp_serde::from_slice::<Tagged>(&bytes).unwrap().name()
        })
        .collect()
}

#[test]
fn every_known_kind_is_listed() {
    // The catch-all decoders tell "unknown" from "malformed" by these
    // lists, so each must name exactly the variants this build encodes.
    let listed = |kinds: &[&str]| kinds.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(
        tags(requests().into_iter().map(|(_, r)| r)),
        listed(Request::KINDS)
    );
    assert_eq!(
        tags(responses().into_iter().map(|(_, r)| r)),
        listed(Response::KINDS)
    );
    assert_eq!(
        tags(events().into_iter().map(|(_, e)| e)),
        listed(Event::KINDS)
    );
}
