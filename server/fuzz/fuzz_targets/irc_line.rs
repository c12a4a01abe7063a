//! natterd's IRC line codec, parser and writer on arbitrary bytes. See
//! `src/irc_checks.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| natter_fuzz::irc_checks::check(data));
