//! Fixtures the client's black-box tests share: a private tmux server to
//! run the full-screen client in, and running a command with a deadline.
//! Each test binary uses its own share of them.

#![allow(dead_code)]

pub mod server;

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Whether tmux is here (see `natter_server::testing::have_tool`).
pub fn have_tmux() -> bool {
    natter_server::testing::have_tool("tmux", &["-V"], "tmux")
}

#[allow(unused_imports)] // not every test binary runs tmux
pub use natter_server::testing::tmux::Tmux;

/// Runs `cmd` to completion (with `stdin` fed to it), killing it after
/// `limit`.
///
/// # Panics
/// When it does not finish in time.
pub fn run_within(mut cmd: Command, stdin: Option<&str>, limit: Duration) -> Output {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("the command starts");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).unwrap();
    }
    wait_output(child, limit)
}

/// Waits for `child` to exit, killing it after `limit`.
///
/// # Panics
/// When it does not finish in time.
pub fn wait_output(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    if let Ok(out) = rx.recv_timeout(limit) {
        out.unwrap()
    } else {
        signal(pid, "KILL");
        panic!("the command did not finish within {limit:?}");
    }
}

/// Sends `sig` (`"TERM"`, `"INT"`, `"KILL"`) to `pid`.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// The shell command that runs the built `natter` as `user` against
/// `server` with nothing of this machine's: a clean environment, `home`
/// for every XDG dir, the password of the test accounts, no keyring.
pub fn natter_command(home: &std::path::Path, user: &str, server: &str) -> String {
    format!(
        "env -i PATH=/usr/bin:/bin HOME={home} XDG_CONFIG_HOME={home}/config XDG_DATA_HOME={home}/data XDG_STATE_HOME={home}/state LANG=C.UTF-8 TERM=xterm-256color NATTER_USER={user} NATTER_PASSWORD='{password}' NATTER_SERVER={server} NATTER_KEYRING=none {natter}",
        home = home.display(),
        password = natter_server::testing::PASSWORD,
        natter = env!("CARGO_BIN_EXE_natter"),
    )
}

/// A natterd in this process on a data dir in `tmp` holding alice and bob
/// (the test password), and bob logged in to it through the client
/// library: the other side of the tmux tests.
pub async fn server_and_bob(
    tmp: &std::path::Path,
) -> (
    natter_server::embedded::Running,
    String,
    natter::conn::Connection,
    natter::conn::Events,
) {
    use natter_server::testing::{self, PASSWORD};
    let data = tmp.join("server");
    for user in ["alice", "bob"] {
        natter_server::admin::add_user(&data, user, PASSWORD, false).unwrap();
    }
    let server = natter_server::embedded::Running::start(testing::config(&data))
        .await
        .expect("natterd starts");
    let addr = server.addr.to_string();
    let (bob, events) =
        natter::conn::Connection::connect(&addr, &natter::conn::ConnectOptions::default())
            .await
            .unwrap();
    bob.login(
        "bob",
        natter_shared::Credential::PasswordOnly(PASSWORD.into()),
    )
    .await
    .unwrap();
    (server, addr, bob, events)
}
