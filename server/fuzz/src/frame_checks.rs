//! What the `frame_decode` fuzz target checks for one input.
//!
//! Shared, file for file, by the fuzz target (through the `natter_fuzz`
//! library) and by `shared/tests/fuzz_regressions.rs` (through
//! `#[path = ...] mod frame_checks;`), so every finding replays through
//! exactly the same checks. It may therefore only use what natter-shared's
//! tests can: `natter_shared`, `bytes`, `serde`, `tokio_util` and `std`.
//!
//! One input is read two ways, with no header bytes, so that a seed is both
//! a payload and a stream:
//! - as a frame payload: `decode_client`, `decode_server` and
//!   `peek_request_id` must not panic, and whatever decodes must survive
//!   `encode` -> decode unchanged;
//! - as a byte stream through [`FrameCodec`]'s `Decoder`, fed whole, byte by
//!   byte and in odd-sized chunks, with the default cap and a small one: the
//!   frames (and the error, if any) must not depend on how the bytes arrive,
//!   must match a straightforward reference split, and the buffer must not
//!   grow beyond what the cap allows. Each payload the stream yields is then
//!   checked as a payload too.

use bytes::BytesMut;
use natter_shared::codec::{PREFIX_LEN, peek_request_id};
use natter_shared::{
    CodecError, FrameCodec, MAX_FRAME_LEN, ServerFrame, decode_client, decode_server, encode,
};
use tokio_util::codec::Decoder;

/// A small cap, so the fuzzer reaches `TooLarge` with short inputs.
pub const SMALL_MAX: usize = 64;

/// Chunk sizes the stream is fed in (`usize::MAX`: all at once).
const CHUNKS: [usize; 3] = [usize::MAX, 1, 7];

/// Runs every check on one input; panics on a violated property.
pub fn check(data: &[u8]) {
    check_payload(data);
    for max in [MAX_FRAME_LEN, SMALL_MAX] {
        let expected = reference_split(data, max);
        for chunk in CHUNKS {
            let got = decode_stream(data, max, chunk);
            assert_eq!(
                got, expected,
                "FrameCodec::new({max}) fed in chunks of {chunk} disagrees with the reference split"
            );
        }
        if max == MAX_FRAME_LEN {
            for payload in &expected.payloads {
                check_payload(payload);
            }
        }
    }
}

/// Payload checks: the decoders must not panic, and a decoded frame must
/// survive a round trip through `encode`. A frame this build does not know
/// (`Unknown`) is never encoded: it must carry the id the peek finds.
pub fn check_payload(payload: &[u8]) {
    let peeked = peek_request_id(payload);
    if let Ok(frame) = decode_client(payload) {
        if let natter_shared::Request::Unknown(name) = &frame.req {
            assert_eq!(
                peeked,
                Some(frame.id),
                "unknown request {name} without its id"
            );
            assert!(
                !natter_shared::Request::KINDS.contains(&name.as_str()),
                "a known request name decoded as unknown: {name}"
            );
            return;
        }
        let again = roundtrip(&frame, decode_client);
        assert_eq!(
            again, frame,
            "ClientFrame changed in an encode/decode round trip"
        );
        // The server answers an undecodable frame with the id it peeks; for
        // one that decodes, the peeked id (when there is one) must agree.
        if let Some(id) = peeked {
            assert_eq!(id, frame.id, "peek_request_id disagrees with decode_client");
        }
    }
    if let Ok(frame) = decode_server(payload) {
        if matches!(
            frame,
            ServerFrame::Ok {
                res: natter_shared::Response::Unknown(_),
                ..
            } | ServerFrame::Event(natter_shared::Event::Unknown(_))
        ) {
            return;
        }
        let again = roundtrip(&frame, decode_server);
        assert_eq!(
            again, frame,
            "ServerFrame changed in an encode/decode round trip"
        );
    }
}

/// Encodes `frame` (which must work: it came from a decoder) and decodes it
/// again; checks the length prefix on the way.
fn roundtrip<T: serde::Serialize + std::fmt::Debug>(
    frame: &T,
    decode: impl Fn(&[u8]) -> Result<T, CodecError>,
) -> T {
    let bytes = match encode(frame) {
        Ok(b) => b,
        Err(e) => panic!("cannot encode a frame that decoded: {e}: {frame:?}"),
    };
    assert!(bytes.len() >= PREFIX_LEN, "encode wrote no length prefix");
    let (prefix, payload) = bytes.split_at(PREFIX_LEN);
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    assert_eq!(len, payload.len(), "encode's length prefix is wrong");
    match decode(payload) {
        Ok(f) => f,
        Err(e) => panic!("an encoded frame does not decode: {e}: {frame:?}"),
    }
}

/// What a stream splits into.
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    /// The payloads, in order.
    pub payloads: Vec<Vec<u8>>,
    /// How the stream ended.
    pub end: End,
}

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// Every byte belonged to a whole frame.
    Clean,
    /// This many bytes of an incomplete frame were left over.
    Partial(usize),
    /// A length prefix announced `len` bytes, over the cap.
    TooLarge { len: usize },
}

/// The obvious way to split a stream: a u32 BE length, then that many bytes.
#[must_use]
pub fn reference_split(data: &[u8], max: usize) -> Split {
    let max = max.min(MAX_FRAME_LEN);
    let mut payloads = Vec::new();
    let mut rest = data;
    let end = loop {
        if rest.is_empty() {
            break End::Clean;
        }
        if rest.len() < PREFIX_LEN {
            break End::Partial(rest.len());
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len > max {
            break End::TooLarge { len };
        }
        if rest.len() < PREFIX_LEN + len {
            break End::Partial(rest.len());
        }
        payloads.push(rest[PREFIX_LEN..PREFIX_LEN + len].to_vec());
        rest = &rest[PREFIX_LEN + len..];
    };
    Split { payloads, end }
}

/// Feeds `data` to a `FrameCodec::new(max)` `chunk` bytes at a time,
/// decoding after each chunk until it yields nothing or fails.
#[must_use]
pub fn decode_stream(data: &[u8], max: usize, chunk: usize) -> Split {
    let mut codec = FrameCodec::new(max);
    assert_eq!(codec.max_frame(), max.min(MAX_FRAME_LEN));
    let mut buf = BytesMut::new();
    let mut payloads = Vec::new();
    // However the bytes arrive, the buffer never needs more than one whole
    // frame (or the input itself); allow for the allocator's doubling.
    let bound = 4 * (PREFIX_LEN + codec.max_frame()).max(data.len()) + 64 * 1024;
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(payload)) => {
                    assert!(
                        payload.len() <= codec.max_frame(),
                        "decoded a payload of {} bytes over the cap of {}",
                        payload.len(),
                        codec.max_frame()
                    );
                    payloads.push(payload.to_vec());
                }
                Ok(None) => break,
                Err(CodecError::TooLarge { len, max: reported }) => {
                    assert_eq!(
                        reported,
                        codec.max_frame(),
                        "TooLarge reports the wrong cap"
                    );
                    assert!(len > reported, "TooLarge for {len} bytes under the cap");
                    return Split {
                        payloads,
                        end: End::TooLarge { len },
                    };
                }
                Err(e) => panic!("FrameCodec::decode failed other than TooLarge: {e}"),
            }
            assert!(
                buf.capacity() <= bound,
                "the decode buffer grew to {} bytes (bound {bound})",
                buf.capacity()
            );
        }
        assert!(
            buf.capacity() <= bound,
            "the decode buffer grew to {} bytes (bound {bound})",
            buf.capacity()
        );
    }
    // At the end of the stream, leftover bytes are an error, none is a clean
    // end (tokio-util's default decode_eof on top of decode).
    let left = buf.len();
    match codec.decode_eof(&mut buf) {
        Ok(None) if left == 0 => {}
        Err(CodecError::Io(_)) if left > 0 => {}
        other => panic!("decode_eof with {left} bytes left returned {other:?}"),
    }
    Split {
        payloads,
        end: if left == 0 {
            End::Clean
        } else {
            End::Partial(left)
        },
    }
}
