//! A natterd in this process for the `natter` binary's black-box tests
//! to talk to, and running the binary against it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use natter::Connection;
use natter::conn::ConnectOptions;
use natter_server::embedded::Running;
use natter_server::testing::{self, PASSWORD};
use natter_shared::{Credential, HistoryQuery, Message};
use tokio::runtime::Runtime;

/// How long anything that should happen may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// A natterd with users alice and bob (both in `#general`), a public room
/// `#ops` nobody is in, and a private room `#secret` owned by bob.
pub struct Server {
    /// `None` once [`Server::crash`] dropped it.
    pub rt: Option<Runtime>,
    pub addr: String,
    /// `None` once shut down.
    pub running: Option<Running>,
    /// Temp dir for the data dir and the clients' config/home.
    pub tmp: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// A server with a config changed by `tweak`.
    pub fn start_with(tweak: impl FnOnce(&mut natter_server::Config)) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        for user in ["alice", "bob"] {
            natter_server::admin::add_user(&data, user, PASSWORD, false).unwrap();
        }
        natter_server::admin::add_room(&data, "#ops", false, None).unwrap();
        natter_server::admin::add_room(&data, "#secret", true, Some("bob")).unwrap();
        std::fs::create_dir_all(tmp.path().join("config")).unwrap();
        Self::run_in(tmp, tweak)
    }

    /// A second node for failover tests: a server started from an online
    /// backup of `other`'s store (so the same accounts, rooms, messages and
    /// ids), on a port of its own.
    pub fn start_from_backup_of(other: &Server) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        natter_server::admin::backup(&other.tmp.path().join("data"), &tmp.path().join("data"))
            .unwrap();
        std::fs::create_dir_all(tmp.path().join("config")).unwrap();
        Self::run_in(tmp, |_| {})
    }

    /// Runs a server on `tmp`'s `data`.
    fn run_in(tmp: tempfile::TempDir, tweak: impl FnOnce(&mut natter_server::Config)) -> Self {
        let data = tmp.path().join("data");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = testing::config(&data);
        tweak(&mut config);
        let running = rt.block_on(Running::start(config)).expect("natterd starts");
        Self {
            addr: running.addr.to_string(),
            rt: Some(rt),
            running: Some(running),
            tmp,
        }
    }

    pub fn rt(&self) -> &Runtime {
        self.rt.as_ref().expect("server running")
    }

    /// Kills the server's tasks: sockets close with no goodbye, as when
    /// natterd crashes.
    pub fn crash(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }

    /// Graceful shutdown: clients get a `Closing` notice.
    pub fn shut_down(&mut self) {
        if let Some(mut running) = self.running.take() {
            self.rt()
                .block_on(running.stop())
                .expect("natterd stopped in time");
        }
    }

    /// A `natter` command with a clean environment pointed at this server.
    pub fn natter(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_natter"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.tmp.path())
            .env("XDG_CONFIG_HOME", self.tmp.path().join("config"))
            .env("NATTER_SERVER", &self.addr)
            .env("NATTER_KEYRING", "none")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// `natter` as `user` with the right password.
    pub fn natter_as(&self, user: &str, args: &[&str]) -> Command {
        let mut cmd = self.natter(args);
        cmd.env("NATTER_USER", user)
            .env("NATTER_PASSWORD", PASSWORD);
        cmd
    }

    /// A room's history as bob or alice sees it, read with the library's
    /// connection (an independent check of what the binary did).
    pub fn history(&self, user: &str, room: &str) -> Vec<Message> {
        self.rt().block_on(async {
            let (conn, _events) = Connection::connect(&self.addr, &ConnectOptions::default())
                .await
                .unwrap();
            conn.login(user, Credential::Password(PASSWORD.into()))
                .await
                .unwrap();
            let query = HistoryQuery {
                before: None,
                after: None,
                limit: 100,
                ..Default::default()
            };
            conn.history(room, query).await.unwrap().0
        })
    }

    pub fn bodies(&self, user: &str, room: &str) -> Vec<String> {
        self.history(user, room)
            .into_iter()
            .map(|m| m.body)
            .collect()
    }

    /// Posts a message with the library, as another client would.
    pub fn post(&self, user: &str, room: &str, body: &str) {
        self.post_with(user, room, &[body], false);
    }

    /// Posts `bodies` on one connection, joining the room first when `join`.
    pub fn post_with(&self, user: &str, room: &str, bodies: &[&str], join: bool) {
        self.rt().block_on(async {
            let (conn, _events) = Connection::connect(&self.addr, &ConnectOptions::default())
                .await
                .unwrap();
            conn.login(user, Credential::Password(PASSWORD.into()))
                .await
                .unwrap();
            if join {
                conn.join(room).await.unwrap();
            }
            for body in bodies {
                conn.send_message(room, body, false).await.unwrap();
            }
        });
    }
}

/// Runs a command to completion (with `stdin` fed to it), killing it after
/// [`WAIT`].
pub fn run(cmd: Command, stdin: Option<&str>) -> Output {
    super::run_within(cmd, stdin, WAIT)
}

pub fn wait_output(child: Child) -> Output {
    super::wait_output(child, WAIT)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// Lines of a running child's stdout, read on a thread.
pub struct Lines {
    pub rx: mpsc::Receiver<String>,
}

impl Lines {
    pub fn of(child: &mut Child) -> Self {
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { rx }
    }

    pub fn next(&self) -> String {
        self.rx
            .recv_timeout(WAIT)
            .expect("a line from natter tail in time")
    }
}
