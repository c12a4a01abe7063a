//! Replays inputs through a target's checks without libFuzzer or nightly
//! flags (a plain build, so a finding can be debugged with ordinary tools):
//! `cargo run --example replay -- <frame_decode|server_requests> PATH...`,
//! where each PATH is an input file or a directory of them.

use std::path::{Path, PathBuf};

use natter_fuzz::server_checks::{Harness, OnPanic};

fn files(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        natter_fuzz::inputs::inputs(path)
    } else {
        vec![path.to_owned()]
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("usage: replay <target> PATH...");
    let inputs: Vec<PathBuf> = args.flat_map(|a| files(Path::new(&a))).collect();
    let harness = (target == "server_requests").then(|| Harness::start(OnPanic::Abort));
    for file in &inputs {
        let data = std::fs::read(file).expect("read input");
        let started = std::time::Instant::now();
        match (target.as_str(), &harness) {
            ("frame_decode", _) => natter_fuzz::frame_checks::check(&data),
            ("server_requests", Some(h)) => {
                if let Err(finding) = h.run_input(&data) {
                    eprintln!("{}: FINDING: {finding}", file.display());
                    std::process::exit(1);
                }
            }
            _ => panic!("unknown target {target}"),
        }
        println!("{}: ok ({:?})", file.display(), started.elapsed());
    }
    println!("{} inputs passed", inputs.len());
}
