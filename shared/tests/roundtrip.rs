//! Property tests: arbitrary frames survive encode + decode unchanged, and
//! arbitrary, truncated or corrupted bytes decode to errors, never panics.

use bytes::BytesMut;
use natter_shared::*;
use proptest::prelude::*;
use tokio_util::codec::Decoder;

fn text() -> impl Strategy<Value = String> {
    ".{0,40}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Member), Just(Role::Moderator), Just(Role::Owner)]
}

fn presence() -> impl Strategy<Value = PresenceState> {
    prop_oneof![
        Just(PresenceState::Online),
        Just(PresenceState::Away),
        Just(PresenceState::Busy),
        Just(PresenceState::Invisible),
        Just(PresenceState::Offline),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (any::<u32>(), text(), text()).prop_map(|(protocol, client, client_version)| {
            Request::Hello {
                compression: Vec::new(),
                protocol,
                client,
                client_version,
            }
        }),
        (text(), text(), 0..3u8).prop_map(|(user, s, kind)| Request::Login {
            user,
            credential: match kind {
                0 => Credential::Password(s),
                1 => Credential::PasswordOnly(s),
                _ => Credential::Token(s),
            },
            presence: None,
        }),
        (text(), text()).prop_map(|(user, password)| Request::Register {
            user,
            password: password.into()
        }),
        (text(), text()).prop_map(|(old, new)| Request::ChangePassword {
            old: old.into(),
            new: new.into()
        }),
        Just(Request::Logout),
        Just(Request::Ping),
        (text(), text(), any::<bool>(), proptest::option::of(text())).prop_map(
            |(room, body, action, nonce)| Request::Send {
                room,
                body,
                action,
                nonce,
                reply_to: None,
                thread: None,
                attention: false,
                files: Vec::new(),
            }
        ),
        (
            text(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
            any::<u32>()
        )
            .prop_map(|(room, before, after, limit)| Request::History {
                room,
                query: HistoryQuery {
                    before,
                    after,
                    limit,
                    ..Default::default()
                }
            }),
        text().prop_map(|room| Request::Join { room }),
        (text(), any::<bool>()).prop_map(|(room, private)| Request::Create { room, private }),
        (text(), text(), opt_text()).prop_map(|(room, user, reason)| Request::Ban {
            room,
            user,
            reason
        }),
        (text(), text(), role()).prop_map(|(room, user, role)| Request::SetRole {
            room,
            user,
            role
        }),
        (text(), any::<u64>()).prop_map(|(room, id)| Request::MarkRead { room, id }),
        (text(), any::<bool>()).prop_map(|(room, active)| Request::Typing { room, active }),
        (presence(), opt_text()).prop_map(|(state, status)| Request::Presence { state, status }),
        Just(Request::Stats),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<u64>(),
        any::<i64>(),
        text(),
        text(),
        ".{0,300}",
        any::<bool>(),
    )
        .prop_map(|(id, ts, room, from, body, action)| Message {
            id,
            ts,
            room,
            from,
            body,
            action,
            nonce: None,
            ..Default::default()
        })
}

fn room_state() -> impl Strategy<Value = RoomState> {
    (
        text(),
        prop_oneof![
            Just(RoomKind::Public),
            Just(RoomKind::Private),
            Just(RoomKind::Direct)
        ],
        text(),
        role(),
        any::<(u32, u32, u64, u64, u32)>(),
    )
        .prop_map(
            |(name, kind, topic, role, (unread, mentions, last_read, last_id, members))| {
                RoomState {
                    name,
                    kind,
                    topic,
                    role,
                    unread,
                    mentions,
                    last_read,
                    last_id,
                    members,
                    announce: false,
                    category: None,
                }
            },
        )
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    let ok = prop_oneof![
        Just(Response::Done),
        Just(Response::Pong),
        proptest::option::of(text()).prop_map(|token| Response::PasswordChanged {
            token: token.map(Into::into)
        }),
        (
            text(),
            any::<u64>(),
            any::<i64>(),
            proptest::option::of(text())
        )
            .prop_map(|(room, id, ts, nonce)| Response::Sent {
                room,
                id,
                ts,
                nonce,
            }),
        (
            text(),
            proptest::collection::vec(message(), 0..5),
            any::<bool>()
        )
            .prop_map(|(room, messages, more)| Response::Messages {
                room,
                messages,
                more,
                rev: 0,
            }),
        (
            text(),
            any::<bool>(),
            opt_text(),
            proptest::collection::vec(room_state(), 0..4)
        )
            .prop_map(
                |(user, admin, token, rooms)| Response::Session(SessionInfo {
                    user,
                    admin,
                    token,
                    rooms,
                    blocked: Vec::new(),
                    invitations: Vec::new(),
                })
            ),
    ];
    let event = prop_oneof![
        message().prop_map(Event::Message),
        room_state().prop_map(Event::RoomAdded),
        (text(), text(), any::<bool>()).prop_map(|(room, user, active)| Event::Typing {
            room,
            user,
            active
        }),
        (text(), presence(), opt_text()).prop_map(|(user, state, status)| Event::Presence {
            user,
            state,
            status
        }),
        (text(), proptest::option::of(any::<u64>())).prop_map(|(message, reconnect_after_ms)| {
            Event::Closing {
                code: ErrorCode::ShuttingDown,
                message,
                reconnect_after_ms,
            }
        }),
    ];
    let code = prop_oneof![
        proptest::sample::select(ErrorCode::ALL.to_vec()),
        "[a-z_]{1,12}".prop_map(|s| {
            // Unknown strings decode as Other; known ones as themselves.
            let bytes = rmp_serde::to_vec(&s).unwrap();
            rmp_serde::from_slice::<ErrorCode>(&bytes).unwrap()
        }),
    ];
    prop_oneof![
        (any::<u64>(), ok).prop_map(|(id, res)| ServerFrame::Ok { id, res }),
        event.prop_map(ServerFrame::Event),
        (
            any::<u64>(),
            code,
            text(),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(id, code, message, retry_after_ms)| ServerFrame::Err {
                id,
                err: ErrorReply {
                    code,
                    message,
                    retry_after_ms
                }
            }),
    ]
}

fn decode_all(bytes: &[u8]) -> Vec<Result<ClientFrame, CodecError>> {
    let mut codec = FrameCodec::new(4096);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(payload)) => out.push(decode_client(&payload)),
            Ok(None) => break,
            Err(e) => {
                out.push(Err(e));
                break;
            }
        }
    }
    out
}

proptest! {
    #[test]
    fn client_frames_round_trip(id in any::<u64>(), req in request()) {
        let frame = ClientFrame { id, req };
        let bytes = encode(&frame).unwrap();
        let decoded = decode_all(&bytes);
        prop_assert_eq!(decoded.len(), 1);
        prop_assert_eq!(decoded[0].as_ref().unwrap(), &frame);
    }

    #[test]
    fn server_frames_round_trip(frame in server_frame()) {
        let bytes = encode(&frame).unwrap();
        prop_assert_eq!(decode_server(&bytes[4..]).unwrap(), frame);
    }

    #[test]
    fn truncated_frames_never_decode(id in any::<u64>(), req in request(), cut in 0usize..1000) {
        let bytes = encode(&ClientFrame { id, req }).unwrap();
        let cut = cut % bytes.len();
        // A cut inside the frame is "incomplete", never a panic or a frame.
        prop_assert!(decode_all(&bytes[..cut]).is_empty());
        // A payload cut short but claimed whole is an error.
        if cut > 4 {
            prop_assert!(decode_client(&bytes[4..cut]).is_err());
        }
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_all(&bytes);
        let _ = decode_client(&bytes);
        let _ = decode_server(&bytes);
        let _ = natter_shared::codec::peek_request_id(&bytes);
    }

    #[test]
    fn corrupted_frames_never_panic(id in any::<u64>(), req in request(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = encode(&ClientFrame { id, req }).unwrap().to_vec();
        let pos = 4 + pos % (bytes.len() - 4);
        bytes[pos] = byte;
        let _ = decode_all(&bytes);
    }
}
