//! natter's fuzz checks, shared by the fuzz targets (`fuzz_targets/`) and,
//! file for file, by the regression tests in the main workspace, which
//! include these modules with `#[path = ...]` (they cannot depend on this
//! crate: it is outside the workspace and built with fuzzing flags).
//!
//! - [`frame_checks`]: the `frame_decode` target (natter-shared's decoders
//!   and framing); replayed by `shared/tests/fuzz_regressions.rs`.
//! - [`server_checks`]: the `server_requests` target (an in-process natterd
//!   driven over TCP); replayed by `server/tests/fuzz_regressions.rs`.
//! - [`irc_checks`]: the `irc_line` target (the IRC front end's line
//!   codec, parser and writer); replayed by `server/tests/irc.rs`.
//! - [`inputs`]: listing a corpus or regressions directory.

pub mod frame_checks;
pub mod inputs;
pub mod irc_checks;
pub mod server_checks;
