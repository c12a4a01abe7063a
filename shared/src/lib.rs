//! natter's wire protocol, shared by the server (`natterd`) and the client
//! (`natter`).
//!
//! # Layout
//! - [`frame`]: the two frame enums, one per direction ([`ClientFrame`],
//!   [`ServerFrame`]), and every request, reply and event they carry.
//! - [`codec`]: length-prefixed MessagePack framing ([`FrameCodec`]), with the
//!   frame size cap enforced on both encode and decode, and the decoders
//!   that tell a newer peer's unknown request, reply or event from a
//!   malformed one.
//! - [`names`]: how room and user names are written and validated, so that
//!   both sides agree on what `#Rust` or `@alice` mean.
//! - [`text`]: peers' text made safe to print on a terminal (control,
//!   escape and bidi characters made visible).
//!
//! The protocol is documented for humans in `shared/PROTOCOL.md`; the
//! golden-byte tests in `tests/golden.rs` pin today's encoding of every
//! frame, and `tests/golden_v1.rs` decodes the frozen bytes of protocol 1
//! (`tests/golden-v1.txt`) forever. How the protocol grows without breaking
//! anyone (unknown requests, catch-all variants, `Welcome.features`) is in
//! [`frame`]'s module docs.

pub mod codec;
pub mod frame;
pub mod names;
pub mod text;

pub use codec::{CodecError, FrameCodec, compress_frame, decode_client, decode_server, encode};
pub use frame::*;

/// Protocol version spoken by this build. Bumped only on a change that an
/// older peer cannot read; added fields and variants do not bump it.
pub const PROTOCOL_VERSION: u32 = 1;

/// Hard cap on one frame's payload (the MessagePack value, without the 4-byte
/// length prefix). Both sides refuse larger frames; a server may announce a
/// smaller cap in [`Limits::max_frame`].
pub const MAX_FRAME_LEN: usize = 1024 * 1024;

/// Cap on a client's frames before it has logged in: `hello`, `login` and
/// `register` fit easily (a password is at most 1024 bytes), and no
/// unauthenticated peer can make a server hold a full-size frame buffer.
/// Larger frames before login get `frame_too_large` and the connection
/// closes. [`Limits::max_frame`] applies from the login on.
pub const PRE_LOGIN_FRAME: usize = 4096;
