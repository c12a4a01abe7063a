//! natter-shared's decoders on arbitrary bytes: `decode_client`,
//! `decode_server`, `peek_request_id`, the encode/decode round trip, and
//! `FrameCodec`'s stream splitting. See `src/frame_checks.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| natter_fuzz::frame_checks::check(data));
