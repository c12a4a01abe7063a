//! Desktop notifications end to end: a private D-Bus session bus
//! (`dbus-daemon`), a fake `org.freedesktop.Notifications` served by this
//! test with zbus, and natter's [`Notifier`] talking to it through
//! notify-rust.
//!
//! notify-rust finds the bus through `DBUS_SESSION_BUS_ADDRESS`, and setting
//! the environment in-process is `unsafe` in edition 2024 (forbidden here).
//! So each test starts the bus and the fake daemon, then re-runs this very
//! test binary with the variable set, filtered to one `child_*` test. The
//! `child_*` tests do nothing unless `NATTER_NOTIFY_CHILD` is set.
//!
//! Without `dbus-daemon` (Debian package `dbus`) the tests print why and
//! pass, unless `NATTER_REQUIRE_E2E=1`.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use natter::notify::{DESKTOP_TIMEOUT, Notifier, Route, icon_path, terminal_escape};
use zbus::zvariant::OwnedValue;

/// Set in the child's environment; the `child_*` tests run only with it.
const CHILD_ENV: &str = "NATTER_NOTIFY_CHILD";
/// Printed by a child test as its last act, so the parent knows the child
/// test really ran (a filter typo would otherwise run zero tests and pass).
const CHILD_DONE: &str = "NATTER-CHILD-DONE";
/// How long the parent waits for the daemon to hear from the child, and for
/// the child to exit. Generous: a loaded CI machine is slow, and a pass never
/// waits this long.
const PATIENCE: Duration = Duration::from_secs(20);

const SUMMARY: &str = "alice in #general";
const BODY: &str = "hello @bob";

// ---------------------------------------------------------------- parents

#[test]
fn desktop_notification_reaches_the_daemon() {
    let Some(bus) = PrivateBus::start() else {
        return;
    };
    let (fake, received) = FakeDaemon::serve(&bus.address, Answer::Always);

    let mut child = ChildTest::spawn("child_sends_desktop_notification", &bus.address);
    let call = received.recv_timeout(PATIENCE).unwrap_or_else(|_| {
        panic!(
            "the fake daemon received no Notify call within {PATIENCE:?}\n{}",
            child.finish()
        )
    });
    let output = child.finish();

    assert_eq!(call.app_name, "natter", "{output}");
    assert_eq!(call.summary, SUMMARY);
    assert_eq!(call.body, BODY);
    assert_eq!(call.replaces_id, 0);
    assert!(call.actions.is_empty(), "{:?}", call.actions);
    assert_eq!(call.expire_timeout, 5_000);
    assert!(
        call.app_icon.starts_with('/') && call.app_icon.ends_with("/natter.svg"),
        "icon: {:?}",
        call.app_icon
    );
    assert!(
        std::path::Path::new(&call.app_icon).is_file(),
        "{}",
        call.app_icon
    );
    assert!(
        output.contains(CHILD_DONE),
        "the child test did not run:\n{output}"
    );
    assert!(output.status_ok, "child failed:\n{output}");
    assert!(received.try_recv().is_err(), "one notification, one call");
    drop(fake);
}

#[test]
fn stuck_daemon_does_not_block() {
    let Some(bus) = PrivateBus::start() else {
        return;
    };
    // This daemon takes the call and never answers it.
    let (fake, received) = FakeDaemon::serve(&bus.address, Answer::Never);

    let mut child = ChildTest::spawn("child_survives_stuck_daemon", &bus.address);
    let call = received.recv_timeout(PATIENCE).unwrap_or_else(|_| {
        panic!(
            "the fake daemon received no Notify call within {PATIENCE:?}\n{}",
            child.finish()
        )
    });
    assert_eq!(call.summary, "carol in #ops");
    // The call is now stuck inside the daemon for good. The child has already
    // returned from notify() (it says how fast), tries again after the
    // timeout, and must exit although its notification thread never will.
    let output = child.finish();
    assert!(output.status_ok, "child failed:\n{output}");
    assert!(
        output.contains(CHILD_DONE),
        "the child test did not run:\n{output}"
    );
    assert!(
        received.try_recv().is_err(),
        "after the timeout the child must not call the stuck daemon again"
    );
    drop(fake);
}

#[test]
fn missing_daemon_falls_back_to_terminal() {
    let Some(bus) = PrivateBus::start() else {
        return;
    };
    // A bus with no notification daemon on it: a headless session, say.
    let mut child = ChildTest::spawn("child_falls_back_without_daemon", &bus.address);
    let output = child.finish();
    assert!(output.status_ok, "child failed:\n{output}");
    assert!(
        output.contains(CHILD_DONE),
        "the child test did not run:\n{output}"
    );
}

// ---------------------------------------------------------------- children

#[test]
fn child_sends_desktop_notification() {
    if !is_child() {
        return;
    }
    let notifier = Notifier::new(Route::Desktop, icon_path());
    let started = Instant::now();
    let bytes = notifier.notify(SUMMARY, BODY);
    let took = started.elapsed();
    assert_eq!(
        bytes, None,
        "the desktop route writes nothing to the terminal"
    );
    println!("child: notify() returned after {took:?}");
    // Stay alive until the parent has seen the call arrive.
    wait_for_parent();
    println!("{CHILD_DONE}");
}

/// Async like natter's UI, so that the runtime's shutdown is exercised with
/// a notification thread stuck in the D-Bus call.
#[tokio::test]
async fn child_survives_stuck_daemon() {
    if !is_child() {
        return;
    }
    let notifier = Notifier::new(Route::Desktop, icon_path());
    let started = Instant::now();
    let bytes = notifier.notify("carol in #ops", "ping");
    let took = started.elapsed();
    assert_eq!(bytes, None);
    println!("child: notify() returned after {took:?}");
    // Not a performance target: notify() only starts a thread, so anything
    // near this bound means it waited for the daemon.
    assert!(
        took < Duration::from_millis(100),
        "notify() blocked for {took:?}"
    );

    // The daemon has the call and sits on it.
    wait_for_parent();
    tokio::time::sleep(
        (DESKTOP_TIMEOUT + Duration::from_millis(200)).saturating_sub(started.elapsed()),
    )
    .await;
    // A stuck daemon sends later notifications to the terminal.
    let started = Instant::now();
    let bytes = notifier.notify("dave in #ops", "pong");
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(bytes, Some(terminal_escape("dave in #ops", "pong", false)));
    println!("{CHILD_DONE}");
}

#[test]
fn child_falls_back_without_daemon() {
    if !is_child() {
        return;
    }
    let notifier = Notifier::new(Route::Desktop, icon_path()).fallback_tmux(true);
    let started = Instant::now();
    assert_eq!(
        notifier.notify("erin", "first"),
        None,
        "the first call is handed off"
    );
    // The bus answers ServiceUnknown at once; from then on the terminal is
    // used. Observed well before DESKTOP_TIMEOUT, so this is the failure
    // fallback and not the stall one.
    let mut probe = 0;
    let (title, bytes) = loop {
        probe += 1;
        let title = format!("probe {probe}");
        if let Some(bytes) = notifier.notify(&title, "hi") {
            break (title, bytes);
        }
        assert!(
            started.elapsed() < DESKTOP_TIMEOUT,
            "no fallback to the terminal after {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    println!("child: terminal fallback after {:?}", started.elapsed());
    assert_eq!(bytes, terminal_escape(&title, "hi", true));
    println!("{CHILD_DONE}");
}

fn is_child() -> bool {
    if std::env::var_os(CHILD_ENV).is_none() {
        return false;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("natter=debug"))
        .with_writer(std::io::stderr)
        .try_init();
    true
}

/// Blocks until the parent writes a line or closes stdin.
fn wait_for_parent() {
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

// ---------------------------------------------------------------- the bus

/// A private `dbus-daemon`, killed (by its PID) on drop.
struct PrivateBus {
    daemon: Child,
    address: String,
}

impl PrivateBus {
    /// Starts the bus, or explains why not and returns `None`; panics
    /// instead when `NATTER_REQUIRE_E2E=1`.
    fn start() -> Option<Self> {
        let mut daemon = match Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Silences "Failed to set fd limit" when run as root.
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(daemon) => daemon,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let reason = "skipped: dbus-daemon not found (install the Debian package `dbus`)";
                assert!(
                    std::env::var("NATTER_REQUIRE_E2E").as_deref() != Ok("1"),
                    "{reason}, and NATTER_REQUIRE_E2E=1"
                );
                eprintln!("{reason}");
                return None;
            }
            Err(err) => panic!("cannot start dbus-daemon: {err}"),
        };
        // Read the address on a thread, so a daemon that prints nothing
        // fails the test instead of hanging it.
        let stdout = daemon.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut reader = BufReader::new(stdout);
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the daemon never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        // The guard exists before anything can panic.
        let mut bus = Self {
            daemon,
            address: String::new(),
        };
        let address = rx.recv_timeout(PATIENCE).unwrap_or_default();
        address.trim().clone_into(&mut bus.address);
        assert!(
            !bus.address.is_empty(),
            "dbus-daemon printed no address; run \
             `dbus-daemon --session --nofork --print-address=1` to see why"
        );
        Some(bus)
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

// ---------------------------------------------------------------- the fake

/// One `Notify` call as the fake daemon received it.
#[derive(Debug)]
struct Received {
    app_name: String,
    replaces_id: u32,
    app_icon: String,
    summary: String,
    body: String,
    actions: Vec<String>,
    expire_timeout: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Always,
    /// Take the call and never reply, like a hung notification daemon.
    Never,
}

/// A notification daemon that records what it is asked to show.
struct FakeDaemon {
    calls: mpsc::Sender<Received>,
    answer: Answer,
}

impl FakeDaemon {
    /// Serves the fake on the bus at `address` under the well-known name;
    /// returns the connection (drop it to stop serving) and the calls.
    fn serve(
        address: &str,
        answer: Answer,
    ) -> (zbus::blocking::Connection, mpsc::Receiver<Received>) {
        let (calls, received) = mpsc::channel();
        let connection = zbus::blocking::connection::Builder::address(address)
            .and_then(|builder| builder.name("org.freedesktop.Notifications"))
            .and_then(|builder| {
                builder.serve_at(
                    "/org/freedesktop/Notifications",
                    FakeDaemon { calls, answer },
                )
            })
            .and_then(zbus::blocking::connection::Builder::build)
            .expect("serve the fake notification daemon");
        (connection, received)
    }
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl FakeDaemon {
    /// Signature `susssasa{sv}i` -> `u`, as in the Desktop Notifications
    /// Specification.
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
    ) -> u32 {
        // notify-rust sends hints only when asked to; natter asks for none.
        drop(hints);
        let _ = self.calls.send(Received {
            app_name,
            replaces_id,
            app_icon,
            summary,
            body,
            actions,
            expire_timeout,
        });
        if self.answer == Answer::Never {
            std::future::pending::<()>().await;
        }
        1
    }

    #[allow(clippy::unused_self, reason = "zbus methods take self")]
    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".to_owned(), "icon-static".to_owned()]
    }

    #[allow(clippy::unused_self, reason = "zbus methods take self")]
    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "natter-fake-daemon".to_owned(),
            "natter tests".to_owned(),
            "1.0".to_owned(),
            "1.2".to_owned(),
        )
    }
}

// ---------------------------------------------------------------- the child

/// This test binary re-run as a child, filtered to one `child_*` test. Killed
/// (by its PID) on drop if still running.
struct ChildTest {
    process: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished child printed, and whether it passed.
struct ChildOutput {
    status_ok: bool,
    text: String,
}

impl ChildOutput {
    fn contains(&self, needle: &str) -> bool {
        self.text.contains(needle)
    }
}

impl std::fmt::Display for ChildOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl ChildTest {
    fn spawn(test: &str, bus_address: &str) -> Self {
        let exe = std::env::current_exe().expect("test binary path");
        let mut process = Command::new(exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env("DBUS_SESSION_BUS_ADDRESS", bus_address)
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the child test");
        let stdin = process.stdin.take();
        let stdout = process.stdout.take().map(read_to_end_on_thread);
        let stderr = process.stderr.take().map(read_to_end_on_thread);
        Self {
            process,
            stdin,
            stdout,
            stderr,
        }
    }

    /// Tells the child to go on, waits for it to exit (killing it after
    /// [`PATIENCE`]) and returns its output. Idempotent.
    fn finish(&mut self) -> ChildOutput {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"go\n");
        }
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            match self.process.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = self.process.kill();
                    let _ = self.process.wait();
                    break None;
                }
            }
        };
        let join = |handle: Option<JoinHandle<String>>| {
            handle
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default()
        };
        let (stdout, stderr) = (join(self.stdout.take()), join(self.stderr.take()));
        let verdict = match status {
            Some(status) => format!("child exited: {status}"),
            None => format!("child still running after {PATIENCE:?}; killed"),
        };
        ChildOutput {
            status_ok: status.is_some_and(|s| s.success()),
            text: format!(
                "{verdict}\n--- child stdout ---\n{stdout}\n--- child stderr ---\n{stderr}"
            ),
        }
    }
}

impl Drop for ChildTest {
    fn drop(&mut self) {
        if matches!(self.process.try_wait(), Ok(None)) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

fn read_to_end_on_thread(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}
