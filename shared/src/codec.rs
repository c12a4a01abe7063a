//! Framing: a u32 big-endian payload length, then one MessagePack value.
//!
//! [`FrameCodec`] splits a byte stream into raw payloads and refuses a length
//! prefix above its cap before buffering anything, so a peer cannot make us
//! allocate by promising a huge frame. Payloads are decoded separately
//! ([`decode_client`], [`decode_server`]) so that a receiver can answer an
//! undecodable payload with an error and keep the connection: the stream
//! stays in sync because the length was valid.
//!
//! [`encode`] produces a complete frame (prefix included) as [`Bytes`], which
//! the server shares among all recipients of a broadcast.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder};

use crate::{ClientFrame, Event, MAX_FRAME_LEN, Request, RequestId, Response, ServerFrame};

/// Length of the frame prefix.
pub const PREFIX_LEN: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The length prefix (or an outgoing frame) exceeds the cap.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    /// The payload is not a valid frame.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A value could not be encoded (a bug, not a peer's fault).
    #[error("cannot encode frame: {0}")]
    Encode(String),
    /// The underlying stream failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Splits a byte stream into frame payloads and writes length-prefixed
/// frames. Decoding yields the raw payload; see the module docs for why.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(MAX_FRAME_LEN)
    }
}

impl FrameCodec {
    /// A codec refusing payloads longer than `max_frame` bytes (itself capped
    /// at [`MAX_FRAME_LEN`]).
    #[must_use]
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame: max_frame.min(MAX_FRAME_LEN),
        }
    }

    /// Changes the cap (itself capped at [`MAX_FRAME_LEN`]): a server raises
    /// it from [`crate::PRE_LOGIN_FRAME`] once a connection has logged in.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame.min(MAX_FRAME_LEN);
    }

    /// The cap this codec enforces.
    #[must_use]
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
        if src.len() < PREFIX_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame {
            return Err(CodecError::TooLarge {
                len,
                max: self.max_frame,
            });
        }
        if src.len() < PREFIX_LEN + len {
            // Reserve only what the (capped) frame needs.
            src.reserve(PREFIX_LEN + len - src.len());
            return Ok(None);
        }
        src.advance(PREFIX_LEN);
        Ok(Some(src.split_to(len)))
    }
}

impl<T: Serialize> Encoder<&T> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &T, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode_into(item, dst, self.max_frame)
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = CodecError;

    /// Writes an already encoded frame (prefix included) as it is.
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.extend_from_slice(&item);
        Ok(())
    }
}

fn encode_into<T: Serialize>(item: &T, dst: &mut BytesMut, max: usize) -> Result<(), CodecError> {
    let start = dst.len();
    dst.put_u32(0);
    let mut writer = dst.writer();
    rmp_serde::encode::write_named(&mut writer, item)
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    let dst = writer.into_inner();
    let len = dst.len() - start - PREFIX_LEN;
    if len > max {
        dst.truncate(start);
        return Err(CodecError::TooLarge { len, max });
    }
    dst[start..start + PREFIX_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Encodes one complete frame, length prefix included.
///
/// # Errors
/// [`CodecError::TooLarge`] when the payload exceeds [`MAX_FRAME_LEN`].
pub fn encode<T: Serialize>(item: &T) -> Result<Bytes, CodecError> {
    let mut buf = BytesMut::with_capacity(128);
    encode_into(item, &mut buf, MAX_FRAME_LEN)?;
    Ok(buf.freeze())
}

/// Deepest nesting of arrays and maps a frame may have. Real frames nest a
/// handful of levels; rmp-serde's own limit (1024) lets a small hostile
/// frame of nested arrays recurse deep enough to overflow a thread's stack
/// (found by fuzzing).
pub const MAX_DEPTH: usize = 32;

/// Decodes one payload with the depth limit.
fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, CodecError> {
    let mut de = rmp_serde::Deserializer::from_read_ref(payload);
    de.set_max_depth(MAX_DEPTH);
    T::deserialize(&mut de).map_err(|e| CodecError::Malformed(e.to_string()))
}

/// The name of an enum value on the wire, read without its content: a
/// unit variant is a string, any other a one-entry map keyed by the name.
struct Tag(String);

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Tag;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an enum variant: a name, or a map of one name to its content")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Tag, E> {
                Ok(Tag(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Tag, A::Error> {
                let Some((name, serde::de::IgnoredAny)) = map.next_entry::<String, _>()? else {
                    return Err(serde::de::Error::custom("an empty map is no variant"));
                };
                if map.next_key::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(serde::de::Error::custom("a variant map has one entry"));
                }
                Ok(Tag(name))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A client frame reduced to its id and the name of its request.
#[derive(Deserialize)]
struct ClientShape {
    id: RequestId,
    req: Tag,
}

/// A server frame reduced to its routing: the reply's id, the names of the
/// reply and the event.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ServerShape {
    Ok {
        id: RequestId,
        res: Tag,
    },
    Err {
        id: RequestId,
        #[allow(dead_code)] // read to check the shape, never used
        err: serde::de::IgnoredAny,
    },
    Event(Tag),
}

/// Decodes a client frame payload (without its prefix). A well-formed frame
/// whose request this build does not know decodes as [`Request::Unknown`],
/// so the server can answer `unsupported` instead of treating a newer
/// client as a broken one.
///
/// # Errors
/// [`CodecError::Malformed`] for anything that is not a valid frame, a
/// known request with bad fields included.
pub fn decode_client(payload: &[u8]) -> Result<ClientFrame, CodecError> {
    decode(payload).or_else(|e| match decode::<ClientShape>(payload) {
        Ok(ClientShape { id, req: Tag(name) }) if !Request::KINDS.contains(&name.as_str()) => {
            Ok(ClientFrame {
                id,
                req: Request::Unknown(name),
            })
        }
        _ => Err(e),
    })
}

/// Decodes a server frame payload (without its prefix). A well-formed frame
/// with a reply or event this build does not know decodes as
/// [`Response::Unknown`] or [`Event::Unknown`]; nested enums that will
/// grow have catch-alls of their own.
///
/// # Errors
/// [`CodecError::Malformed`] for anything that is not a valid frame, a
/// known reply or event with bad fields included; [`peek_reply_id`] then
/// still finds the request it answers.
pub fn decode_server(payload: &[u8]) -> Result<ServerFrame, CodecError> {
    match decode_server_plain(payload)? {
        ServerFrame::Compressed(data) => {
            let inner = decompress(&data)?;
            match decode_server_plain(&inner)? {
                ServerFrame::Compressed(_) => Err(CodecError::Malformed(
                    "a compressed frame inside a compressed frame".into(),
                )),
                frame => Ok(frame),
            }
        }
        frame => Ok(frame),
    }
}

/// Frames at least this large are worth compressing; smaller ones gain a
/// few bytes for the cost of a context.
pub const COMPRESS_AT: usize = 2048;

/// zstd's level for frames: fast, and still most of the gain on text.
const LEVEL: i32 = 3;

/// A complete frame (`encode`'s output, prefix included) as a
/// [`ServerFrame::Compressed`] frame, when that is smaller; else `None`.
#[must_use]
pub fn compress_frame(frame: &[u8]) -> Option<Bytes> {
    let payload = frame.get(PREFIX_LEN..)?;
    let packed = zstd::bulk::compress(payload, LEVEL).ok()?;
    if packed.len() + 16 >= payload.len() {
        return None;
    }
    encode(&ServerFrame::Compressed(serde_bytes::ByteBuf::from(packed))).ok()
}

/// Unpacks a compressed payload, which may not grow past a frame.
fn decompress(data: &[u8]) -> Result<Vec<u8>, CodecError> {
    zstd::bulk::decompress(data, MAX_FRAME_LEN)
        .map_err(|e| CodecError::Malformed(format!("bad compressed frame: {e}")))
}

/// [`decode_server`] without unwrapping compression.
fn decode_server_plain(payload: &[u8]) -> Result<ServerFrame, CodecError> {
    decode(payload).or_else(|e| match decode::<ServerShape>(payload) {
        Ok(ServerShape::Ok { id, res: Tag(name) }) if !Response::KINDS.contains(&name.as_str()) => {
            Ok(ServerFrame::Ok {
                id,
                res: Response::Unknown(name),
            })
        }
        Ok(ServerShape::Event(Tag(name))) if !Event::KINDS.contains(&name.as_str()) => {
            Ok(ServerFrame::Event(Event::Unknown(name)))
        }
        _ => Err(e),
    })
}

/// The request id of a server reply that could not be decoded, so the
/// waiter can be told instead of left hanging. `None` for events and for
/// what is no frame at all. Bound by the same depth limit as decoding.
#[must_use]
pub fn peek_reply_id(payload: &[u8]) -> Option<RequestId> {
    match decode::<ServerShape>(payload).ok()? {
        ServerShape::Ok { id, .. } | ServerShape::Err { id, .. } => Some(id),
        ServerShape::Event(_) => None,
    }
}

/// Reads just the request id of a client payload whose request could not be
/// decoded (say, an unknown request from a newer client), so the error reply
/// can still name it.
#[must_use]
pub fn peek_request_id(payload: &[u8]) -> Option<RequestId> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: RequestId,
    }
    decode::<IdOnly>(payload).ok().map(|f| f.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, Response};

    /// A history page like a busy room's: 200 chat lines.
    fn page() -> ServerFrame {
        let messages = (0..200)
            .map(|i| crate::Message {
                id: 10_000 + i,
                ts: 1_796_300_000_000 + i64::try_from(i).unwrap() * 1000,
                room: "#general".into(),
                from: ["alice", "bob", "carol"][usize::try_from(i).unwrap() % 3].into(),
                body: format!("line {i}: did the deploy finish? the dashboard looks green"),
                ..Default::default()
            })
            .collect();
        ServerFrame::Ok {
            id: 7,
            res: Response::Messages {
                room: "#general".into(),
                messages,
                more: true,
                rev: 99,
            },
        }
    }

    #[test]
    fn a_compressed_frame_decodes_as_the_frame_it_holds_and_is_smaller() {
        let frame = page();
        let plain = encode(&frame).unwrap();
        let packed = compress_frame(&plain).expect("a history page compresses");
        assert!(
            packed.len() * 3 < plain.len(),
            "{} vs {}",
            packed.len(),
            plain.len()
        );
        let decoded = decode_server(&packed[PREFIX_LEN..]).unwrap();
        assert_eq!(decoded, frame);
        // A tiny frame is not worth it.
        let small = encode(&ServerFrame::Ok {
            id: 1,
            res: Response::Pong,
        })
        .unwrap();
        assert!(compress_frame(&small).is_none());
    }

    #[test]
    fn compressed_frames_do_not_nest_grow_past_a_frame_or_hide_garbage() {
        let plain = encode(&page()).unwrap();
        let once = compress_frame(&plain).unwrap();
        let twice = encode(&ServerFrame::Compressed(serde_bytes::ByteBuf::from(
            zstd::bulk::compress(&once[PREFIX_LEN..], 3).unwrap(),
        )))
        .unwrap();
        assert!(matches!(
            decode_server(&twice[PREFIX_LEN..]),
            Err(CodecError::Malformed(m)) if m.contains("inside")
        ));
        // A bomb: 2 MiB of zeros, a few hundred bytes packed.
        let bomb = encode(&ServerFrame::Compressed(serde_bytes::ByteBuf::from(
            zstd::bulk::compress(&vec![0u8; 2 << 20], 19).unwrap(),
        )))
        .unwrap();
        assert!(bomb.len() < 4096);
        assert!(matches!(
            decode_server(&bomb[PREFIX_LEN..]),
            Err(CodecError::Malformed(_))
        ));
        let junk = encode(&ServerFrame::Compressed(serde_bytes::ByteBuf::from(vec![
            1, 2, 3,
        ])))
        .unwrap();
        assert!(decode_server(&junk[PREFIX_LEN..]).is_err());
    }

    /// A frame `{"id": 1, "zz": [[[...]]]}` whose unknown field (skipped
    /// by the decoder, which still walks it) is `depth` arrays deep.
    fn nested(depth: usize) -> Vec<u8> {
        let mut p = vec![0x82, 0xa2, b'i', b'd', 0x01, 0xa2, b'z', b'z'];
        p.extend(std::iter::repeat_n(0x91, depth));
        p.push(0xc0);
        p
    }

    #[test]
    fn deep_nesting_is_refused_without_deep_recursion() {
        // On a small stack: what overflowed before the limit must now fail
        // early with an error.
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                for depth in [33, 1000, 100_000] {
                    let err = decode_client(&nested(depth)).unwrap_err();
                    assert!(err.to_string().contains("depth"), "{err}");
                    assert!(decode_server(&nested(depth)).is_err());
                    assert_eq!(peek_request_id(&nested(depth)), None);
                }
                // Within the limit, the same shape is just a frame without a
                // request.
                let err = decode_client(&nested(20)).unwrap_err();
                assert!(err.to_string().contains("req"), "{err}");
            })
            .unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn decoder_waits_for_a_whole_frame() {
        let frame = encode(&ClientFrame {
            id: 7,
            req: Request::Ping,
        })
        .unwrap();
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        for (i, byte) in frame.iter().enumerate() {
            buf.put_u8(*byte);
            let got = codec.decode(&mut buf).unwrap();
            if i + 1 < frame.len() {
                assert!(got.is_none(), "decoded early at byte {i}");
            } else {
                let payload = got.expect("whole frame");
                assert_eq!(decode_client(&payload).unwrap().id, 7);
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn decoder_refuses_an_oversized_prefix_without_buffering() {
        let mut codec = FrameCodec::new(1000);
        let mut buf = BytesMut::from(&[0u8, 0, 0x10, 0][..]);
        match codec.decode(&mut buf) {
            Err(CodecError::TooLarge {
                len: 4096,
                max: 1000,
            }) => {}
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(buf.capacity() < 4096);
    }

    #[test]
    fn encoder_refuses_an_oversized_frame() {
        let mut codec = FrameCodec::new(64);
        let mut dst = BytesMut::new();
        let big = ServerFrame::Ok {
            id: 1,
            res: Response::Sent {
                room: "x".repeat(100),
                id: 1,
                ts: 0,
                nonce: None,
            },
        };
        assert!(matches!(
            codec.encode(&big, &mut dst),
            Err(CodecError::TooLarge { max: 64, .. })
        ));
        assert!(dst.is_empty(), "nothing half-written");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let login = format!(
            "{:?}",
            Request::Login {
                user: "alice".into(),
                credential: crate::Credential::Password("hunter2".into()),
                presence: None,
            }
        );
        assert!(
            login.contains("alice") && !login.contains("hunter2"),
            "{login}"
        );
        let session = format!(
            "{:?}",
            crate::SessionInfo {
                user: "alice".into(),
                admin: false,
                token: Some("s3cret-token".into()),
                rooms: Vec::new(),
                blocked: Vec::new(),
                invitations: Vec::new(),
            }
        );
        assert!(!session.contains("s3cret"), "{session}");
    }

    #[test]
    fn many_frames_in_one_buffer() {
        let mut buf = BytesMut::new();
        for id in 1..=5 {
            buf.extend_from_slice(
                &encode(&ClientFrame {
                    id,
                    req: Request::Ping,
                })
                .unwrap(),
            );
        }
        let mut codec = FrameCodec::default();
        let mut ids = Vec::new();
        while let Some(p) = codec.decode(&mut buf).unwrap() {
            ids.push(decode_client(&p).unwrap().id);
        }
        assert_eq!(ids, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn unknown_request_decodes_as_unknown_with_its_id() {
        // {"id": 9, "req": "frobnicate"}
        let payload = [
            0x82, 0xa2, b'i', b'd', 0x09, 0xa3, b'r', b'e', b'q', 0xaa, b'f', b'r', b'o', b'b',
            b'n', b'i', b'c', b'a', b't', b'e',
        ];
        assert_eq!(
            decode_client(&payload).unwrap(),
            ClientFrame {
                id: 9,
                req: Request::Unknown("frobnicate".into())
            }
        );
        assert_eq!(peek_request_id(&payload), Some(9));
        assert_eq!(peek_request_id(&[0xc1]), None);
    }

    /// Encodes a value of another shape, as a newer peer would.
    fn named<T: Serialize>(v: &T) -> Vec<u8> {
        rmp_serde::to_vec_named(v).unwrap()
    }

    #[test]
    fn unknown_request_with_fields_is_unknown_but_a_bad_known_one_is_malformed() {
        #[derive(Serialize)]
        struct Frame<R> {
            id: u64,
            req: R,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Newer {
            Pin { message: u64, key: String },
            Send { room: u32 },
        }
        let react = named(&Frame {
            id: 4,
            req: Newer::Pin {
                message: 1,
                key: ":+1:".into(),
            },
        });
        assert_eq!(
            decode_client(&react).unwrap().req,
            Request::Unknown("pin".into())
        );
        // A known request with a field of the wrong type stays an error.
        let bad = named(&Frame {
            id: 5,
            req: Newer::Send { room: 3 },
        });
        assert!(matches!(decode_client(&bad), Err(CodecError::Malformed(_))));
        assert_eq!(peek_request_id(&bad), Some(5));
    }

    #[test]
    fn unknown_replies_and_events_decode_as_catch_alls() {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Broken {
            Event(BrokenEv),
        }
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum BrokenEv {
            Typing { room: u8 },
        }
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Newer {
            Ok { id: u64, res: Res },
            Event(Ev),
        }
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Res {
            Poll { hits: Vec<u32> },
        }
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Ev {
            Pinned { message: u64 },
            Rebooted,
        }
        let reply = named(&Newer::Ok {
            id: 8,
            res: Res::Poll { hits: vec![1, 2] },
        });
        assert_eq!(
            decode_server(&reply).unwrap(),
            ServerFrame::Ok {
                id: 8,
                res: Response::Unknown("poll".into())
            }
        );
        for (ev, name) in [
            (Ev::Pinned { message: 3 }, "pinned"),
            (Ev::Rebooted, "rebooted"),
        ] {
            assert_eq!(
                decode_server(&named(&Newer::Event(ev))).unwrap(),
                ServerFrame::Event(Event::Unknown(name.into()))
            );
        }
        assert_eq!(peek_reply_id(&reply), Some(8));
        // A known event with broken fields is an error, not skipped silently.
        let broken = named(&Broken::Event(BrokenEv::Typing { room: 1 }));
        assert!(decode_server(&broken).is_err());
        assert_eq!(peek_reply_id(&broken), None);
    }

    #[test]
    fn reply_id_peek_has_the_depth_limit() {
        // {"ok": {"id": 1, "res": [[[...]]]}}: the reply's content is
        // skipped, but walked with the same limit.
        let mut p = vec![0x81, 0xa2, b'o', b'k', 0x82, 0xa2, b'i', b'd', 0x01];
        p.extend([0xa3, b'r', b'e', b's', 0x81, 0xa1, b'x']);
        p.extend(std::iter::repeat_n(0x91, 100_000));
        p.push(0xc0);
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || peek_reply_id(&p))
            .unwrap();
        assert_eq!(handle.join().unwrap(), None);
    }
}
