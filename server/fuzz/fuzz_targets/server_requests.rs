//! natterd's request handling: every input runs on a connection logged in
//! as an admin to one in-process server, shared by the whole fuzzing run;
//! after each, the server must still answer a fresh connection and an
//! observer connection. See `src/server_checks.rs` for the input format and
//! what counts as a finding.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use natter_fuzz::server_checks::{Harness, OnPanic};

static HARNESS: OnceLock<Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    // A panic in any server task aborts: tokio would otherwise swallow it.
    let harness = HARNESS.get_or_init(|| Harness::start(OnPanic::Abort));
    if let Err(finding) = harness.run_input(data) {
        eprintln!("server_requests finding: {finding}");
        std::process::abort();
    }
});
