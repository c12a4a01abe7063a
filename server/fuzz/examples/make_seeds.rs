//! Writes the committed seed corpus: `corpus/frame_decode/` and
//! `corpus/server_requests/`. Run from server/fuzz with
//! `cargo run --example make_seeds` (a plain build: no fuzzing flags needed).
//! Existing files of the same name are overwritten; others are left alone.
//!
//! Seeds use alice (admin, the fuzzed connection), bob (the observer),
//! `#general` (everyone's) and `#fuzz` (created by the seeds).

use std::path::{Path, PathBuf};

use natter_fuzz::server_checks::{
    PASSWORD, RAW_AFTER_LOGIN, RAW_BEFORE_HELLO, chunk_input, payload,
};
use natter_shared::{
    ClientFrame, Credential, ErrorCode, ErrorReply, Event, HistoryQuery, LeaveKind, Limits,
    Message, PROTOCOL_VERSION, PresenceState, ReactOp, Request, Response, Role, RoomKind, RoomState,
    ServerFrame, SessionInfo, encode,
};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let n = frame_decode(&root.join("frame_decode"));
    println!("frame_decode: {n} seeds");
    let n = server_requests(&root.join("server_requests"));
    println!("server_requests: {n} seeds");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    assert!(bytes.len() < 4096, "seed {name} is {} bytes", bytes.len());
    std::fs::create_dir_all(dir).expect("corpus dir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

/// A whole frame, length prefix included.
fn framed<T: serde::Serialize>(item: &T) -> Vec<u8> {
    encode(item).expect("encodes").to_vec()
}

fn hello() -> Request {
    Request::Hello {
        protocol: PROTOCOL_VERSION,
        client: "natter".into(),
        client_version: "0.1.0".into(),
        compression: vec!["zstd".into()],
    }
}

fn send(room: &str, body: &str) -> Request {
    Request::Send {
        room: room.into(),
        body: body.into(),
        action: false,
        nonce: None,
        reply_to: None,
        thread: None,
        attention: false,
        files: Vec::new(),
    }
}

/// `send` carrying `files`.
fn with_files(mut req: Request, ids: Vec<u64>) -> Request {
    if let Request::Send { files, .. } = &mut req {
        *files = ids;
    }
    req
}

fn history(room: &str, before: Option<u64>, after: Option<u64>, limit: u32) -> Request {
    Request::History {
        room: room.into(),
        query: HistoryQuery {
            before,
            after,
            limit,
            ..Default::default()
        },
    }
}

/// A history query of rich messaging: a catch-up, a page around a message
/// or a thread's page.
fn rich_history(room: &str, query: HistoryQuery) -> Request {
    Request::History {
        room: room.into(),
        query,
    }
}

/// One of every request, named by its kind.
fn every_request() -> Vec<Request> {
    vec![
        hello(),
        Request::Login {
            user: "alice".into(),
            credential: Credential::Password(PASSWORD.into()), presence: None, },
        Request::Register {
            user: "carol".into(),
            password: "hunter2hunter2".into(),
        },
        Request::Logout,
        Request::Ping,
        send("#general", "hello @bob"),
        history("#general", None, None, 50),
        Request::Join {
            room: "#general".into(),
        },
        Request::Leave {
            room: "#fuzz".into(),
        },
        Request::Create {
            room: "#fuzz".into(),
            private: true,
        },
        Request::Invite {
            room: "#fuzz".into(),
            user: "bob".into(),
        },
        Request::Kick {
            room: "#fuzz".into(),
            user: "bob".into(),
            reason: Some("spam".into()),
        },
        Request::Ban {
            room: "#fuzz".into(),
            user: "bob".into(),
            reason: None,
        },
        Request::Unban {
            room: "#fuzz".into(),
            user: "bob".into(),
        },
        Request::SetRole {
            room: "#general".into(),
            user: "bob".into(),
            role: Role::Moderator,
        },
        Request::Topic {
            room: "#general".into(),
            topic: "fuzzing".into(),
        },
        Request::Members {
            room: "#general".into(),
        },
        Request::Rooms,
        Request::Directory,
        Request::MarkRead {
            room: "#general".into(),
            id: 1,
        },
        Request::Typing {
            room: "#general".into(),
            active: true,
        },
        Request::Presence {
            state: PresenceState::Away,
            status: Some("lunch".into()),
        },
        Request::Stats,
        Request::Edit {
            room: "#general".into(),
            id: 1,
            body: "hello @bob (edited)".into(),
        },
        Request::Delete {
            room: "#general".into(),
            id: 1,
        },
        Request::React {
            room: "#general".into(),
            id: 1,
            key: "👍".into(),
            op: ReactOp::Toggle,
        },
        Request::Send {
            room: "#general".into(),
            body: "@room deploy failed".into(),
            action: false,
            nonce: None,
            reply_to: None,
            thread: None,
            attention: true,
            files: Vec::new(),
        },
        Request::SetMode {
            room: "#general".into(),
            announce: Some(true),
            category: Some("Ops".into()),
        },
        Request::Readers {
            room: "#general".into(),
            id: Some(1),
        },
        Request::Received {
            room: "@bob".into(),
            id: 1,
        },
        Request::ShareReceipts { share: Some(false) },
        Request::OpenTransfer,
        Request::TransferLogin {
            ticket: "not a ticket".into(),
        },
        Request::FileInfo { file: 1 },
        Request::Download {
            file: 1,
            offset: 0,
            len: 100,
            thumb: false,
        },
    ]
}

/// Inputs for a transfer connection ([`TRANSFER`]): an upload and its
/// download, and what such a connection must refuse.
fn transfer_seeds(dir: &Path) -> usize {
    use natter_fuzz::server_checks::TRANSFER;
    let sha = |b: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b))
    };
    let put = |name: &str, reqs: Vec<Request>| {
        let payloads: Vec<Vec<u8>> = reqs
            .into_iter()
            .enumerate()
            .map(|(i, r)| payload(i as u64 + 1, r))
            .collect();
        let mut input = vec![TRANSFER];
        input.extend(chunk_input(&payloads));
        write(dir, name, &input);
    };
    let chunk = |upload, offset, data: &[u8]| Request::UploadChunk {
        upload,
        offset,
        data: natter_shared::ByteBuf::from(data.to_vec()),
    };
    put(
        "transfer_upload_download",
        vec![
            Request::UploadStart {
                name: "../notes.txt".into(),
                size: 11,
                sha256: sha(b"hello world"),
            },
            chunk(1, 0, b"hello"),
            chunk(1, 5, b" world"),
            Request::FileInfo { file: 1 },
            Request::Download {
                file: 1,
                offset: 0,
                len: 64,
                thumb: false,
            },
            Request::Download {
                file: 1,
                offset: 6,
                len: 3,
                thumb: true,
            },
            Request::UploadStart {
                name: "again.txt".into(),
                size: 11,
                sha256: sha(b"hello world"),
            },
        ],
    );
    put(
        "transfer_refusals",
        vec![
            Request::UploadStart {
                name: "bad.bin".into(),
                size: 4,
                sha256: "XYZ".into(),
            },
            Request::UploadStart {
                name: String::new(),
                size: 4,
                sha256: sha(b"abcd"),
            },
            Request::UploadStart {
                name: "huge.bin".into(),
                size: u64::MAX,
                sha256: sha(b"abcd"),
            },
            Request::UploadStart {
                name: "liar.txt".into(),
                size: 4,
                sha256: sha(b"abcd"),
            },
            chunk(1, 2, b"ab"),
            chunk(1, 0, b"abcdefgh"),
            chunk(1, 0, b"wxyz"),
            chunk(7, 0, b"abcd"),
            Request::CancelUpload { upload: 9 },
            Request::Download {
                file: u64::MAX,
                offset: u64::MAX,
                len: u32::MAX,
                thumb: true,
            },
            send("#general", "chat does not go here"),
            Request::OpenTransfer,
        ],
    );
    put(
        "transfer_cancel",
        vec![
            Request::UploadStart {
                name: "c.txt".into(),
                size: 8,
                sha256: sha(b"cancel!!"),
            },
            chunk(1, 0, b"canc"),
            Request::CancelUpload { upload: 1 },
            chunk(1, 4, b"el!!"),
        ],
    );
    3
}

// A few hand-written MessagePack payloads, for shapes the types do not
// produce (and requests newer than this build's `Request`).
fn mp_map(out: &mut Vec<u8>, len: u8) {
    assert!(len < 16);
    out.push(0x80 | len);
}
fn mp_str(out: &mut Vec<u8>, s: &str) {
    assert!(s.len() < 32);
    out.push(0xa0 | s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}
fn mp_uint(out: &mut Vec<u8>, n: u8) {
    assert!(n < 128);
    out.push(n);
}

/// `{"id": id, "req": {name: {k: v, ...}}}`
fn hand_request(id: u8, name: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut p = Vec::new();
    mp_map(&mut p, 2);
    mp_str(&mut p, "id");
    mp_uint(&mut p, id);
    mp_str(&mut p, "req");
    mp_map(&mut p, 1);
    mp_str(&mut p, name);
    mp_map(&mut p, fields.len() as u8);
    for (k, v) in fields {
        mp_str(&mut p, k);
        mp_str(&mut p, v);
    }
    p
}

/// `{"id": id, "req": "ping", "x": [[[...nil...]]]}` nested `depth` deep:
/// an unknown field the decoder must skip.
fn deep_nesting(id: u8, depth: usize) -> Vec<u8> {
    let mut p = Vec::new();
    mp_map(&mut p, 3);
    mp_str(&mut p, "id");
    mp_uint(&mut p, id);
    mp_str(&mut p, "req");
    mp_str(&mut p, "ping");
    mp_str(&mut p, "x");
    p.extend(std::iter::repeat_n(0x91, depth));
    p.push(0xc0);
    p
}

/// `{"id": 9, "req": "frobnicate"}`: a request from a newer client.
fn unknown_request() -> Vec<u8> {
    let mut p = Vec::new();
    mp_map(&mut p, 2);
    mp_str(&mut p, "id");
    mp_uint(&mut p, 9);
    mp_str(&mut p, "req");
    mp_str(&mut p, "frobnicate");
    p
}

/// `[7, "ping"]`: a frame as an array instead of a map.
fn array_form() -> Vec<u8> {
    let mut p = vec![0x92];
    mp_uint(&mut p, 7);
    mp_str(&mut p, "ping");
    p
}

fn change_password() -> Vec<u8> {
    // Changes the password to itself: it revokes every token all the same.
    hand_request(
        3,
        "change_password",
        &[("old", PASSWORD), ("new", PASSWORD)],
    )
}

fn room_state(name: &str) -> RoomState {
    RoomState {
        name: name.into(),
        kind: RoomKind::Public,
        topic: "welcome".into(),
        role: Role::Owner,
        unread: 2,
        mentions: 1,
        last_read: 3,
        last_id: 5,
        members: 2,
        announce: false,
        category: None,
    }
}

fn frame_decode(dir: &Path) -> usize {
    let mut n = 0;
    let mut put = |name: &str, bytes: &[u8]| {
        write(dir, name, bytes);
        n += 1;
    };
    // Client payloads (no prefix), one per request.
    for (i, req) in every_request().into_iter().enumerate() {
        let name = format!("client_{}", req.kind());
        put(&name, &payload(i as u64 + 1, req));
    }
    put("client_change_password", &change_password());
    put("client_unknown_request", &unknown_request());
    put("client_array_form", &array_form());
    put("client_deep_nesting_30", &deep_nesting(4, 30));
    put("client_deep_nesting_1000", &deep_nesting(4, 1000));
    put("client_deep_nesting_1100", &deep_nesting(4, 1100));
    let mut trailing = payload(5, Request::Ping);
    trailing.extend_from_slice(b"\xc1garbage");
    put("client_trailing_garbage", &trailing);

    // Server payloads.
    let server = |f: &ServerFrame| framed(f)[4..].to_vec();
    put(
        "server_welcome",
        &server(&ServerFrame::Ok {
            id: 1,
            res: Response::Welcome {
                protocol: PROTOCOL_VERSION,
                server_version: "0.1.0".into(),
                limits: Limits {
                    max_frame: 65536,
                    max_message_len: 4000,
                    max_history_page: 200,
                    heartbeat_ms: 30_000,
                    max_reaction_keys: 20,
                    max_file_bytes: 104_857_600,
                    user_quota_bytes: 0,
                    uploads_per_minute: 20,
                    file_types: vec!["image/*".into()],
                    refused_file_types: Vec::new(),
                },
                features: vec!["direct".into(), "typing".into()],
                motd: Some("hi".into()),
            },
        }),
    );
    put(
        "server_session",
        &server(&ServerFrame::Ok {
            id: 2,
            res: Response::Session(SessionInfo {
                user: "alice".into(),
                admin: true,
                token: Some("00ff".into()),
                rooms: vec![room_state("#general")], blocked: Vec::new(), invitations: Vec::new(),
}),
        }),
    );
    put(
        "server_messages",
        &server(&ServerFrame::Ok {
            id: 3,
            res: Response::Messages {
                room: "#general".into(),
                messages: vec![Message {
                    id: 4,
                    ts: 1_700_000_000_000,
                    room: "#general".into(),
                    from: "bob".into(),
                    body: "hi @alice".into(),
                    action: true,
                    ..Message::default()
                }],
                more: false,
                rev: 0,
            },
        }),
    );
    put(
        "server_err_rate_limited",
        &server(&ServerFrame::Err {
            id: 4,
            err: ErrorReply {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                retry_after_ms: Some(250),
            },
        }),
    );
    put(
        "server_err_unknown_code",
        &server(&ServerFrame::Err {
            id: 0,
            err: ErrorReply::new(ErrorCode::Other("from_the_future".into()), "?"),
        }),
    );
    put(
        "server_event_left",
        &server(&ServerFrame::Event(Event::Left {
            room: "#fuzz".into(),
            user: "bob".into(),
            kind: LeaveKind::Banned,
            by: Some("alice".into()),
            reason: Some("spam".into()),
        })),
    );
    put(
        "server_event_closing",
        &server(&ServerFrame::Event(Event::Closing {
            code: ErrorCode::ShuttingDown,
            message: "bye".into(),
            reconnect_after_ms: Some(3000),
        })),
    );
    put(
        "server_event_room_added",
        &server(&ServerFrame::Event(Event::RoomAdded(room_state("@bob")))),
    );

    // Streams: length-prefixed frames back to back.
    let mut stream = Vec::new();
    for (i, req) in [
        hello(),
        Request::Login {
            user: "alice".into(),
            credential: Credential::Token("0123abcd".into()), presence: None, },
        send("#general", "hi"),
        Request::Ping,
    ]
    .into_iter()
    .enumerate()
    {
        stream.extend(framed(&ClientFrame {
            id: i as u64 + 1,
            req,
        }));
    }
    put("stream_session", &stream);
    let mut partial = stream.clone();
    partial.truncate(stream.len() - 3);
    put("stream_partial_frame", &partial);
    let mut too_large = framed(&ClientFrame {
        id: 1,
        req: Request::Ping,
    });
    too_large.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x00]);
    put("stream_too_large_prefix", &too_large);
    // One frame over the small cap (64 bytes), one under it.
    let mut over_small = framed(&ClientFrame {
        id: 1,
        req: send("#general", &"x".repeat(80)),
    });
    over_small.extend(framed(&ClientFrame {
        id: 2,
        req: Request::Ping,
    }));
    put("stream_over_small_cap", &over_small);
    put("stream_empty_frames", &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    n
}

fn server_requests(dir: &Path) -> usize {
    let mut n = 0;
    let mut put = |name: &str, payloads: &[Vec<u8>]| {
        write(dir, name, &chunk_input(payloads));
        n += 1;
    };
    let p = |id: u64, req: Request| payload(id, req);

    // Every request alone.
    for req in every_request() {
        let name = format!("single_{}", req.kind());
        put(&name, &[p(1, req)]);
    }
    put("single_change_password", &[change_password()]);
    put(
        "send_files_refused",
        &[
            p(
                1,
                with_files(send("#general", ""), vec![1, 1]),
            ),
            p(
                2,
                with_files(send("@bob", ""), vec![u64::MAX]),
            ),
            p(
                3,
                with_files(send("#general", "many"), (0..20).collect()),
            ),
        ],
    );

    put(
        "send_general",
        &[
            p(1, send("#general", "hello everyone")),
            p(
                2,
                Request::Send {
                    room: "#general".into(),
                    body: "waves".into(),
                    action: true,
                    nonce: Some("n-1".into()),
                    reply_to: None,
                    thread: None,
                    attention: false,
                    files: Vec::new(),
                },
            ),
            p(3, send("#general", "@bob ping")),
        ],
    );
    put(
        "create_invite_kick",
        &[
            p(
                1,
                Request::Create {
                    room: "#fuzz".into(),
                    private: true,
                },
            ),
            p(
                2,
                Request::Invite {
                    room: "#fuzz".into(),
                    user: "bob".into(),
                },
            ),
            p(3, send("#fuzz", "welcome bob")),
            p(4, history("#fuzz", None, None, 10)),
            p(
                5,
                Request::SetRole {
                    room: "#fuzz".into(),
                    user: "bob".into(),
                    role: Role::Moderator,
                },
            ),
            p(
                6,
                Request::Kick {
                    room: "#fuzz".into(),
                    user: "bob".into(),
                    reason: Some("testing".into()),
                },
            ),
            p(
                7,
                Request::Members {
                    room: "#fuzz".into(),
                },
            ),
        ],
    );
    put(
        "create_public_ban_unban",
        &[
            p(
                1,
                Request::Create {
                    room: "#fuzz-public".into(),
                    private: false,
                },
            ),
            p(
                2,
                Request::Topic {
                    room: "#fuzz-public".into(),
                    topic: "open to all".into(),
                },
            ),
            p(
                3,
                Request::Ban {
                    room: "#fuzz-public".into(),
                    user: "bob".into(),
                    reason: Some("no reason".into()),
                },
            ),
            p(
                4,
                Request::Unban {
                    room: "#fuzz-public".into(),
                    user: "bob".into(),
                },
            ),
            p(5, Request::Directory),
            p(
                6,
                Request::Leave {
                    room: "#fuzz-public".into(),
                },
            ),
        ],
    );
    put(
        "general_moderation",
        &[
            p(
                1,
                Request::Topic {
                    room: "#general".into(),
                    topic: "be nice".into(),
                },
            ),
            p(
                2,
                Request::SetRole {
                    room: "#general".into(),
                    user: "bob".into(),
                    role: Role::Owner,
                },
            ),
            p(
                3,
                Request::SetRole {
                    room: "#general".into(),
                    user: "bob".into(),
                    role: Role::Member,
                },
            ),
            p(
                4,
                Request::Kick {
                    room: "#general".into(),
                    user: "bob".into(),
                    reason: None,
                },
            ),
            p(
                5,
                Request::Invite {
                    room: "#general".into(),
                    user: "bob".into(),
                },
            ),
            p(
                6,
                Request::Members {
                    room: "#general".into(),
                },
            ),
        ],
    );
    put(
        "direct_bob",
        &[
            p(1, send("@bob", "psst")),
            p(2, history("@bob", None, None, 5)),
            p(
                3,
                Request::Join {
                    room: "@bob".into(),
                },
            ),
            p(
                4,
                Request::MarkRead {
                    room: "@bob".into(),
                    id: 1_000_000,
                },
            ),
            p(
                5,
                Request::Typing {
                    room: "@bob".into(),
                    active: true,
                },
            ),
            p(
                6,
                Request::Leave {
                    room: "@bob".into(),
                },
            ),
        ],
    );
    put(
        "history_paging",
        &[
            p(1, send("#general", "one")),
            p(2, send("#general", "two")),
            p(3, send("#general", "three")),
            p(4, history("#general", Some(3), None, 1)),
            p(5, history("#general", None, Some(1), 2)),
            p(6, history("#general", Some(1), Some(1), 0)),
            p(7, history("#general", None, None, u32::MAX)),
            p(
                8,
                Request::MarkRead {
                    room: "#general".into(),
                    id: 2,
                },
            ),
            p(
                9,
                Request::MarkRead {
                    room: "#general".into(),
                    id: u64::MAX,
                },
            ),
        ],
    );
    put(
        "rich_messaging",
        &[
            p(1, send("#general", "a root")),
            p(
                2,
                Request::Send {
                    room: "#general".into(),
                    body: "a reply".into(),
                    action: false,
                    nonce: None,
                    reply_to: Some(1),
                    thread: None,
                    attention: false,
                    files: Vec::new(),
                },
            ),
            p(
                3,
                Request::Send {
                    room: "#general".into(),
                    body: "in the thread".into(),
                    action: false,
                    nonce: None,
                    reply_to: None,
                    thread: Some(1),
                    attention: false,
                    files: Vec::new(),
                },
            ),
            p(
                4,
                Request::Edit {
                    room: "#general".into(),
                    id: 1,
                    body: "a root, edited".into(),
                },
            ),
            p(
                5,
                Request::React {
                    room: "#general".into(),
                    id: 1,
                    key: ":tada:".into(),
                    op: ReactOp::Add,
                },
            ),
            p(
                6,
                rich_history(
                    "#general",
                    HistoryQuery {
                        since: Some(0),
                        limit: 50,
                        ..Default::default()
                    },
                ),
            ),
            p(
                7,
                rich_history(
                    "#general",
                    HistoryQuery {
                        around: Some(1),
                        limit: 5,
                        ..Default::default()
                    },
                ),
            ),
            p(
                8,
                rich_history(
                    "#general",
                    HistoryQuery {
                        thread: Some(1),
                        limit: 5,
                        ..Default::default()
                    },
                ),
            ),
            p(
                9,
                Request::Delete {
                    room: "#general".into(),
                    id: 1,
                },
            ),
            p(
                10,
                Request::React {
                    room: "#general".into(),
                    id: u64::MAX,
                    key: "not a key".into(),
                    op: ReactOp::Unknown,
                },
            ),
        ],
    );
    put(
        "leave_rejoin_general",
        &[
            p(
                1,
                Request::Leave {
                    room: "#general".into(),
                },
            ),
            p(2, send("#general", "am I here?")),
            p(
                3,
                Request::Join {
                    room: "general".into(),
                },
            ),
            p(4, Request::Rooms),
        ],
    );
    put(
        "presence_typing",
        &[
            p(
                1,
                Request::Presence {
                    state: PresenceState::Busy,
                    status: Some("in a meeting".into()),
                },
            ),
            p(
                2,
                Request::Typing {
                    room: "#general".into(),
                    active: true,
                },
            ),
            p(
                3,
                Request::Typing {
                    room: "#general".into(),
                    active: false,
                },
            ),
            p(
                4,
                Request::Presence {
                    state: PresenceState::Invisible,
                    status: None,
                },
            ),
            p(
                5,
                Request::Presence {
                    state: PresenceState::Offline,
                    status: None,
                },
            ),
            p(6, Request::Stats),
        ],
    );
    put(
        "odd_names",
        &[
            p(
                1,
                Request::Join {
                    room: "#Gen\u{e9}ral".into(),
                },
            ),
            p(2, send("  #GENERAL  ", "caps")),
            p(3, send("@", "nobody")),
            p(4, send("#", "")),
            p(
                5,
                Request::Invite {
                    room: "#general".into(),
                    user: "@Bob".into(),
                },
            ),
            p(
                6,
                Request::Create {
                    room: format!("#{}", "a".repeat(51)),
                    private: false,
                },
            ),
            p(
                7,
                Request::Members {
                    room: "@alice".into(),
                },
            ),
        ],
    );
    put(
        "logout_then_more",
        &[
            p(1, Request::Logout),
            p(2, send("#general", "after logout")),
        ],
    );
    put(
        "already_logged_in",
        &[
            p(1, hello()),
            p(
                2,
                Request::Login {
                    user: "bob".into(),
                    credential: Credential::Password(PASSWORD.into()), presence: None, },
            ),
            p(3, Request::Ping),
        ],
    );
    put(
        "bad_frames",
        &[
            vec![0xc1],
            unknown_request(),
            array_form(),
            deep_nesting(4, 1100),
            vec![0x81, 0xa2, b'i', b'd'],
            vec![],
        ],
    );
    put("deep_nesting_30", &[deep_nesting(4, 30)]);
    put("deep_nesting_1000", &[deep_nesting(4, 1000)]);

    // Raw after login: frames with a bad length and a frame cut short.
    let mut raw = vec![RAW_AFTER_LOGIN];
    raw.extend(framed(&ClientFrame {
        id: 1,
        req: send("#general", "raw"),
    }));
    raw.extend_from_slice(&[0, 0, 0, 3, 0x91, 0x91]);
    raw.extend(framed(&ClientFrame {
        id: 2,
        req: Request::Ping,
    }));
    raw.extend_from_slice(&[0, 0, 1, 0, 0x82]);
    write(dir, "raw_after_login_cut_frame", &raw);
    let mut raw = vec![RAW_AFTER_LOGIN];
    raw.extend_from_slice(&[0x00, 0x10, 0x00, 0x01]);
    write(dir, "raw_after_login_too_large", &raw);

    // Raw before hello: the handshake and login states.
    let session = |reqs: Vec<Request>| {
        let mut raw = vec![RAW_BEFORE_HELLO];
        for (i, req) in reqs.into_iter().enumerate() {
            raw.extend(framed(&ClientFrame {
                id: i as u64 + 1,
                req,
            }));
        }
        raw
    };
    write(
        dir,
        "raw_before_hello_password_login_logout",
        &session(vec![
            hello(),
            Request::Ping,
            Request::Login {
                user: "alice".into(),
                credential: Credential::Password("wrong horse".into()), presence: None, },
            Request::Login {
                user: "bob".into(),
                credential: Credential::PasswordOnly(PASSWORD.into()), presence: None, },
            send("#general", "bob was here"),
            Request::Logout,
        ]),
    );
    write(
        dir,
        "raw_before_hello_register",
        &session(vec![
            hello(),
            Request::Register {
                user: "mallory".into(),
                password: "short".into(),
            },
            Request::Rooms,
        ]),
    );
    write(
        dir,
        "raw_before_hello_version_mismatch",
        &session(vec![Request::Hello {
            protocol: PROTOCOL_VERSION + 1,
            client: "future".into(),
            client_version: "9".into(),
            compression: Vec::new(),
        }]),
    );
    write(
        dir,
        "raw_before_hello_no_hello",
        &session(vec![Request::Ping, Request::Stats]),
    );
    let mut raw = vec![RAW_BEFORE_HELLO];
    raw.extend(framed(&ClientFrame {
        id: 1,
        req: hello(),
    }));
    raw.extend_from_slice(&[0, 0, 0, 1, 0xc1]);
    write(dir, "raw_before_hello_garbage", &raw);
    n + 7 + transfer_seeds(dir)
}
