//! The one test harness (feature `test-util`): a real natterd in-process on
//! `127.0.0.1:0` with a temp data dir and limits lifted, and the fixtures
//! every test suite shares. Used by the server's tests, the client's, the
//! TUI's, the load generator's and the fuzzers'.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::embedded::Running;
use crate::{Config, admin};

/// The password of every account a test makes.
pub const PASSWORD: &str = "correct horse";

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);

/// A loopback port free right now, for a server whose address must be
/// known before it starts (a natterd child process, a restart on the same
/// address).
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Lifts the limit every test would trip by accident: the request rate and
/// the search rate (tests send as fast as they can). Login throttling and connection limits
/// stay as in production: their tests rely on the defaults, and a test that
/// needs more lifts them in its own tweak.
pub fn lift_limits(c: &mut Config) {
    c.limits.requests_per_sec = 100_000.0;
    c.limits.request_burst = 100_000.0;
    c.limits.account_requests_per_sec = 100_000.0;
    c.limits.account_request_burst = 100_000.0;
    c.limits.searches_per_sec = 100_000.0;
    c.limits.search_burst = 100_000.0;
}

/// The test configuration: `data_dir`, and limits lifted.
#[must_use]
pub fn config(data_dir: &Path) -> Config {
    let mut c = Config {
        data_dir: Some(data_dir.to_owned()),
        ..Config::default()
    };
    lift_limits(&mut c);
    c
}

/// Makes the accounts `users` (password [`PASSWORD`]) in `data_dir`.
pub fn add_users(data_dir: &Path, users: &[&str]) {
    for u in users {
        admin::add_user(data_dir, u, PASSWORD, false).expect("add a test user");
    }
}

/// A running server with its own data dir.
#[derive(Debug)]
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub data_dir: PathBuf,
    pub running: Running,
    tmp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server on a new temp data dir with accounts `users` (password
    /// [`PASSWORD`]), its config changed by `tweak`.
    pub async fn start(users: &[&str], tweak: impl FnOnce(&mut Config)) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_owned();
        add_users(&dir, users);
        let mut s = Self::start_in(&dir, tweak).await;
        s.tmp = Some(tmp);
        s
    }

    /// A server on an existing data dir (kept when the server stops).
    pub async fn start_in(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = config(dir);
        tweak(&mut config);
        let running = Running::start(config).await.expect("natterd starts");
        Self {
            addr: running.addr,
            data_dir: dir.to_owned(),
            running,
            tmp: None,
        }
    }

    /// Shuts down gracefully and waits; the data dir stays until the
    /// server is dropped.
    pub async fn stop(&mut self) {
        self.running.stop().await.expect("natterd ran and stopped");
    }
}

/// The natterd binary as a child process on a free loopback port, for tests
/// of what only a separate process shows: signals, SIGKILL, restarts, the
/// admin CLI beside a running server. Killed when dropped.
#[derive(Debug)]
pub struct NatterdProcess {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
}

impl NatterdProcess {
    /// Starts `bin` (the built natterd) on `data_dir` with `args` added, and
    /// waits until it accepts connections. Its output goes nowhere; its log
    /// level is the config's (`--config`), as an operator's would be.
    ///
    /// # Panics
    /// When it does not come up within [`WAIT`].
    #[must_use]
    pub fn start(bin: &Path, data_dir: &Path, args: &[&str]) -> Self {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
        let child = std::process::Command::new(bin)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("natterd starts");
        let mut process = Self { child, addr };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("natterd exited at start: {status}");
            }
            assert!(started.elapsed() < WAIT, "natterd did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        process
    }

    /// Sends `signal` (`"TERM"`, `"KILL"`, `"HUP"`) to the process.
    pub fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Kills the process (SIGKILL, no goodbye) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NatterdProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether an outside tool a test needs is here: `command` runs with
/// `args` and succeeds. When it does not, the test should return early:
/// this prints why, unless `NATTER_REQUIRE_E2E=1` (set by CI), where a
/// missing tool fails the test instead.
///
/// # Panics
/// With `NATTER_REQUIRE_E2E=1`, when the tool is missing.
#[must_use]
pub fn have_tool(command: &str, args: &[&str], package: &str) -> bool {
    let ok = std::process::Command::new(command)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    skip_unless(
        ok,
        &format!("{command} (Debian package {package}) is missing"),
    )
}

/// `ok`, or else the reason a test skips: printed, or a panic with
/// `NATTER_REQUIRE_E2E=1`. See [`have_tool`].
///
/// # Panics
/// With `NATTER_REQUIRE_E2E=1`, when not `ok`.
#[must_use]
pub fn skip_unless(ok: bool, why: &str) -> bool {
    if !ok {
        assert!(
            std::env::var("NATTER_REQUIRE_E2E").as_deref() != Ok("1"),
            "{why}, and NATTER_REQUIRE_E2E=1 requires it"
        );
        eprintln!("skipped: {why}");
    }
    ok
}

/// The seed of a randomised test: `NATTER_CRASH_SEED` when set (to replay a
/// run), a fresh one otherwise; printed either way, so a failure names it.
#[must_use]
pub fn seed() -> u64 {
    let seed = std::env::var("NATTER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("NATTER_CRASH_SEED={seed}");
    seed
}

/// A private tmux server to run a full-screen program in (the client's
/// and `natterd top`'s end-to-end tests), read with `capture-pane`.
pub mod tmux {
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// A tmux server of our own (`tmux -L SOCKET`), killed on drop.
    pub struct Tmux {
        socket: String,
    }

    impl Tmux {
        /// Starts `command` in a `width` x `height` session on a private
        /// socket.
        #[must_use]
        pub fn start(socket: String, width: u16, height: u16, command: &str) -> Self {
            let tmux = Tmux { socket };
            let (w, h) = (width.to_string(), height.to_string());
            assert!(
                tmux.cmd()
                    .args(["new-session", "-d", "-x", &w, "-y", &h, command])
                    .status()
                    .unwrap()
                    .success(),
                "tmux starts"
            );
            tmux
        }

        /// A tmux command on this server.
        #[must_use]
        pub fn cmd(&self) -> Command {
            let mut c = Command::new("tmux");
            c.args(["-L", &self.socket]);
            c
        }

        /// What the pane shows now.
        #[must_use]
        pub fn capture(&self) -> String {
            let out = self.cmd().args(["capture-pane", "-p"]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        }

        /// Types `literal` as it is.
        pub fn keys(&self, literal: &str) {
            assert!(
                self.cmd()
                    .args(["send-keys", "-l", literal])
                    .status()
                    .unwrap()
                    .success()
            );
        }

        /// Presses one named key (`Enter`, `C-c`, ...).
        pub fn key(&self, key: &str) {
            assert!(
                self.cmd()
                    .args(["send-keys", key])
                    .status()
                    .unwrap()
                    .success()
            );
        }

        /// Types `line` and Enter.
        pub fn enter(&self, line: &str) {
            self.keys(line);
            self.key("Enter");
        }

        /// Waits up to `limit` until the screen passes `test`, on this thread
        /// (not for tests whose server runs on the same runtime); the screen.
        pub fn wait_until(
            &self,
            limit: Duration,
            what: &str,
            test: impl Fn(&str) -> bool,
        ) -> String {
            let deadline = Instant::now() + limit;
            loop {
                let screen = self.capture();
                if test(&screen) {
                    return screen;
                }
                assert!(
                    Instant::now() < deadline,
                    "the screen never showed {what} in {limit:?}:\n{screen}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    impl Tmux {
        /// Waits up to 20 s until the screen passes `test`, sleeping on the
        /// runtime (for tests whose server runs in this process); the screen.
        pub async fn screen_until(&self, what: &str, test: impl Fn(&str) -> bool) -> String {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let screen = self.capture();
                if test(&screen) {
                    return screen;
                }
                assert!(
                    Instant::now() < deadline,
                    "the screen never showed {what}:\n{screen}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }

        /// Waits until the screen shows `text` (see [`Tmux::screen_until`]).
        pub async fn screen_with(&self, text: &str) -> String {
            self.screen_until(text, |s| s.contains(text)).await
        }
    }

    impl Drop for Tmux {
        fn drop(&mut self) {
            let _ = self.cmd().arg("kill-server").status();
        }
    }
}
