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

/// Lifts the limit every test would trip by accident: the request rate
/// (tests send as fast as they can). Login throttling and connection limits
/// stay as in production: their tests rely on the defaults, and a test that
/// needs more lifts them in its own tweak.
pub fn lift_limits(c: &mut Config) {
    c.limits.requests_per_sec = 100_000.0;
    c.limits.request_burst = 100_000.0;
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
