//! Replays the `frame_decode` fuzz corpus and every saved finding through
//! the fuzz target's own checks, so a fixed decoding bug stays fixed.
//!
//! The checks live once, in `server/fuzz/src/frame_checks.rs`, shared with
//! the fuzz target; the inputs are `server/fuzz/corpus/frame_decode/` (the
//! committed seeds) and `server/fuzz/regressions/frame_decode/` (findings,
//! when there are any). See `server/fuzz/README.md`.

#[path = "../../server/fuzz/src/frame_checks.rs"]
mod frame_checks;

#[path = "../../server/fuzz/src/inputs.rs"]
mod inputs;

use inputs::inputs;
use std::path::{Path, PathBuf};

/// The stack each input is checked on: a tokio worker's default, which is
/// where the server decodes frames.
const STACK: usize = 2 * 1024 * 1024;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/fuzz")
}

/// Runs the checks on every input; returns the failures. Each input runs on
/// a thread named after its file, so a stack overflow (which aborts the
/// whole test binary) still says which input did it.
fn replay(files: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let data = std::fs::read(file).expect("read input");
        let name = file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let checked = std::thread::Builder::new()
            .name(format!("frame_decode input {name}"))
            .stack_size(STACK)
            .spawn(move || frame_checks::check(&data))
            .expect("spawn a checking thread")
            .join();
        if checked.is_err() {
            failures.push(file.display().to_string());
        }
    }
    failures
}

#[test]
fn corpus_passes_the_fuzz_checks() {
    let dir = fuzz_dir().join("corpus/frame_decode");
    let files = inputs(&dir);
    assert!(
        files.len() >= 10,
        "the frame_decode corpus in {} is missing or nearly empty ({} files)",
        dir.display(),
        files.len()
    );
    let failures = replay(&files);
    assert!(
        failures.is_empty(),
        "inputs failing the frame_decode checks (see the panics above):\n{}",
        failures.join("\n")
    );
}

#[test]
fn saved_findings_pass_the_fuzz_checks() {
    let dir = fuzz_dir().join("regressions/frame_decode");
    if !dir.exists() {
        return;
    }
    let failures = replay(&inputs(&dir));
    assert!(
        failures.is_empty(),
        "saved frame_decode findings failing again (see the panics above):\n{}",
        failures.join("\n")
    );
}

/// The checks can fail: a stream whose reference split is known.
#[test]
fn the_checks_see_frames_and_oversized_prefixes() {
    let mut stream = vec![0, 0, 0, 1, 0xc0];
    stream.extend_from_slice(&[0, 0, 1, 0]);
    let split = frame_checks::reference_split(&stream, frame_checks::SMALL_MAX);
    assert_eq!(split.payloads, vec![vec![0xc0]]);
    assert_eq!(split.end, frame_checks::End::TooLarge { len: 256 });
    for chunk in [1, 3, usize::MAX] {
        assert_eq!(
            frame_checks::decode_stream(&stream, frame_checks::SMALL_MAX, chunk),
            split
        );
    }
    frame_checks::check(&stream);
}
