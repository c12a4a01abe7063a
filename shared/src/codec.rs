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

use crate::{ClientFrame, MAX_FRAME_LEN, RequestId, ServerFrame};

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

/// Decodes a client frame payload (without its prefix).
///
/// # Errors
/// [`CodecError::Malformed`] for anything that is not a valid frame.
pub fn decode_client(payload: &[u8]) -> Result<ClientFrame, CodecError> {
    decode(payload)
}

/// Decodes a server frame payload (without its prefix).
///
/// # Errors
/// [`CodecError::Malformed`] for anything that is not a valid frame.
pub fn decode_server(payload: &[u8]) -> Result<ServerFrame, CodecError> {
    decode(payload)
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
    fn unknown_request_still_yields_its_id() {
        // {"id": 9, "req": "frobnicate"}
        let payload = [
            0x82, 0xa2, b'i', b'd', 0x09, 0xa3, b'r', b'e', b'q', 0xaa, b'f', b'r', b'o', b'b',
            b'n', b'i', b'c', b'a', b't', b'e',
        ];
        assert!(decode_client(&payload).is_err());
        assert_eq!(peek_request_id(&payload), Some(9));
        assert_eq!(peek_request_id(&[0xc1]), None);
    }
}
