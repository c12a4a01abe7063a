//! Replays the `server_requests` fuzz corpus and every saved finding
//! against an in-process natterd, the way the fuzz target does: after each
//! input, a fresh connection must get a Pong, and bob, connected and logged
//! in throughout, must still get his Pong too (undisturbed). A panic in any
//! server task fails the test.
//!
//! The driving logic lives once, in `server/fuzz/src/server_checks.rs`,
//! shared with the fuzz target; the inputs are
//! `server/fuzz/corpus/server_requests/` (the committed seeds) and
//! `server/fuzz/regressions/server_requests/` (findings, when there are
//! any). See `server/fuzz/README.md`.

#[allow(dead_code)]
#[path = "../fuzz/src/server_checks.rs"]
mod server_checks;

#[path = "../fuzz/src/inputs.rs"]
mod inputs;

use inputs::inputs;
use std::io::Write;
use std::path::{Path, PathBuf};

use server_checks::{Harness, OnPanic};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Runs every input on one server (state carries over, as in a fuzzing
/// run); returns the findings.
fn replay(files: &[PathBuf]) -> Vec<String> {
    let harness = Harness::start(OnPanic::Record);
    let mut findings = Vec::new();
    for file in files {
        let data = std::fs::read(file).expect("read input");
        // Straight to stderr, not captured: a crash of the server (a stack
        // overflow aborts the process) loses captured output, and this line
        // then names the input that did it.
        let _ = writeln!(std::io::stderr(), "replaying {}", file.display());
        if let Err(finding) = harness.run_input(&data) {
            findings.push(format!("{}: {finding}", file.display()));
        }
    }
    findings
}

#[test]
fn corpus_leaves_the_server_answering() {
    let dir = fuzz_dir().join("corpus/server_requests");
    let files = inputs(&dir);
    assert!(
        files.len() >= 10,
        "the server_requests corpus in {} is missing or nearly empty ({} files)",
        dir.display(),
        files.len()
    );
    let findings = replay(&files);
    assert!(findings.is_empty(), "findings:\n{}", findings.join("\n"));
}

#[test]
fn saved_findings_leave_the_server_answering() {
    let dir = fuzz_dir().join("regressions/server_requests");
    if !dir.exists() {
        return;
    }
    let findings = replay(&inputs(&dir));
    assert!(findings.is_empty(), "findings:\n{}", findings.join("\n"));
}
