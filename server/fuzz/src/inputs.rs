//! Reading fuzz inputs from disk: shared by the regression tests (through
//! `#[path]`) and the `replay` example.

use std::path::{Path, PathBuf};

/// The files in `dir`, sorted; a missing directory is an error, since a
/// replay of nothing would pass without checking anything.
#[must_use]
pub fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}
