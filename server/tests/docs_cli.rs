//! `natterd completions` and `natterd man`: generated from the command
//! line the binary parses, without a config or data dir.

use std::process::Command;

use natter_server::testing;

fn natterd(args: &[&str]) -> std::process::Output {
    let tmp = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_natterd"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // No data dir is created or needed.
        .env("HOME", tmp.path().join("nowhere"))
        .output()
        .unwrap()
}

#[test]
fn bash_completion_names_the_subcommands_and_parses() {
    let out = natterd(&["completions", "bash"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = String::from_utf8(out.stdout).unwrap();
    for sub in ["run", "user", "room", "audit", "backup", "reports", "man"] {
        assert!(script.contains(sub), "{sub}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("natterd.bash");
    std::fs::write(&file, script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn the_man_page_is_roff_that_man_renders() {
    let out = natterd(&["man"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH natterd 1"), "{page}");
    let tmp = tempfile::tempdir().unwrap();
    let out = natterd(&["man", "--out", tmp.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = tmp.path().join("natterd.1");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), page);
    if testing::have_tool("man", &["--version"], "man-db") {
        let shown = Command::new("man")
            .args(["-P", "cat", "-l"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            shown.status.success(),
            "{}",
            String::from_utf8_lossy(&shown.stderr)
        );
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(text.contains("NAME") && text.contains("backup"), "{text}");
    }
}
