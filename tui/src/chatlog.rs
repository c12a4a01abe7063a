//! Chat logs: what the full-screen client receives, appended to plain text
//! files, one per room per day, like weechat's logger. Off unless the
//! config says `[log] chat = true`.
//!
//! `<data_dir>/logs/<server>/<room>/<YYYY-MM-DD>.log`, each line
//! `2026-12-02 10:15:03 <alice> hello`, or `2026-12-02 10:15:03 * alice
//! waves` for an action; a multi-line message is one line per line of its
//! body, each with the same prefix, so `grep` finds whole lines. Times are
//! local. Server and room names are percent-encoded into file names, so no
//! name can climb out of the directory or collide with another. Files are
//! created 0600: a log holds private conversations.
//!
//! Each room remembers the newest message id it has written (in `.last-id`
//! beside its logs), and only newer messages are written: a history page
//! fetched again, a catch-up overlapping live events, or a restart write
//! nothing twice, and a room's log is in id order. The price is that an
//! older message first seen after a newer one (paging back in history) is
//! not logged: the log is a record of what arrived, not an archive.
//!
//! The writing happens on a thread of its own ([`spawn`]): the event loop
//! hands messages over a channel and never waits for a disk.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use natter_shared::{Message, MessageId};

/// The file beside a room's logs that holds the newest id written.
const LAST_ID: &str = ".last-id";

/// `name` as one safe path component: ASCII letters, digits, `-` and `_`
/// stay, a `.` stays unless it comes first (no `.` or `..`, no hidden
/// files), every other byte becomes `%XX`. Distinct names stay distinct.
#[must_use]
pub fn file_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => out.push(char::from(b)),
            b'.' if i > 0 => out.push('.'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

/// The directory logs go to: `<data_dir>/logs`.
#[must_use]
pub fn default_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "natter").map(|d| d.data_dir().join("logs"))
}

fn local(ts: i64, offset: i32) -> DateTime<FixedOffset> {
    let tz = FixedOffset::east_opt(offset).unwrap_or_else(|| FixedOffset::east_opt(0).unwrap());
    DateTime::<Utc>::from_timestamp_millis(ts)
        .unwrap_or_default()
        .with_timezone(&tz)
}

/// The lines of `msg` as the log writes them, each ending in a newline.
/// Characters that could drive a terminal (`cat`ing a log) or reorder the
/// line are replaced, as `tail` does.
#[must_use]
pub fn lines(msg: &Message, offset: i32) -> String {
    let stamp = local(msg.ts, offset).format("%Y-%m-%d %H:%M:%S");
    let prefix = if msg.action {
        format!("{stamp} * {} ", msg.from)
    } else {
        format!("{stamp} <{}> ", msg.from)
    };
    let mut out = String::new();
    for line in msg.body.trim_end_matches(['\r', '\n']).split('\n') {
        out.push_str(&prefix);
        out.extend(line.trim_end_matches('\r').chars().map(|c| {
            if c != '\t' && natter_shared::text::is_unsafe(c) {
                '\u{fffd}'
            } else {
                c
            }
        }));
        out.push('\n');
    }
    out
}

/// One room's log: the newest id written and the day file open.
struct RoomLog {
    dir: PathBuf,
    last_id: MessageId,
    open: Option<(NaiveDate, std::fs::File)>,
}

/// Appends messages to the log files under one directory.
pub struct ChatLog {
    dir: PathBuf,
    /// Local time's offset from UTC, in seconds: which day a message is on.
    utc_offset: i32,
    rooms: HashMap<(String, String), RoomLog>,
}

impl std::fmt::Debug for ChatLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

fn open_private(path: &Path, append: bool) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true);
    if append {
        options.append(true);
    } else {
        options.write(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl ChatLog {
    /// Logs under `dir` (see [`default_dir`]), days in local time at
    /// `utc_offset` seconds east of UTC.
    #[must_use]
    pub fn new(dir: PathBuf, utc_offset: i32) -> Self {
        Self {
            dir,
            utc_offset,
            rooms: HashMap::new(),
        }
    }

    /// The directory of `room`'s logs on `server`.
    #[must_use]
    pub fn room_dir(&self, server: &str, room: &str) -> PathBuf {
        self.dir.join(file_name(server)).join(file_name(room))
    }

    fn room(&mut self, server: &str, room: &str) -> io::Result<&mut RoomLog> {
        let key = (server.to_owned(), room.to_owned());
        if !self.rooms.contains_key(&key) {
            let dir = self.room_dir(server, room);
            create_private_dir(&dir)?;
            let last_id = std::fs::read_to_string(dir.join(LAST_ID))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            self.rooms.insert(
                key.clone(),
                RoomLog {
                    dir,
                    last_id,
                    open: None,
                },
            );
        }
        Ok(self.rooms.get_mut(&key).expect("inserted above"))
    }

    /// Appends the messages of `batch` from `server` newer than what each
    /// room has logged, in id order.
    ///
    /// # Errors
    /// A directory or file cannot be created or written.
    pub fn write(&mut self, server: &str, batch: &[Message]) -> io::Result<()> {
        let mut batch: Vec<&Message> = batch.iter().collect();
        batch.sort_by(|a, b| a.room.cmp(&b.room).then(a.id.cmp(&b.id)));
        let offset = self.utc_offset;
        let mut touched: Vec<(String, String)> = Vec::new();
        for msg in batch {
            let room = self.room(server, &msg.room)?;
            if msg.id <= room.last_id {
                continue;
            }
            let day = local(msg.ts, offset).date_naive();
            if room.open.as_ref().is_none_or(|(d, _)| *d != day) {
                let path = room.dir.join(format!("{}.log", day.format("%Y-%m-%d")));
                room.open = Some((day, open_private(&path, true)?));
            }
            if let Some((_, file)) = &mut room.open {
                file.write_all(lines(msg, offset).as_bytes())?;
            }
            room.last_id = msg.id;
            let key = (server.to_owned(), msg.room.clone());
            if !touched.contains(&key) {
                touched.push(key);
            }
        }
        for key in touched {
            if let Some(room) = self.rooms.get(&key) {
                let mut f = open_private(&room.dir.join(LAST_ID), false)?;
                f.write_all(room.last_id.to_string().as_bytes())?;
            }
        }
        Ok(())
    }
}

/// Where the event loop hands messages to the logging thread. Dropping it
/// (the client quitting) waits for the thread to write what it was given,
/// so the last messages are not lost at exit.
#[derive(Debug)]
pub struct Logger {
    tx: Option<std::sync::mpsc::Sender<(String, Vec<Message>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Logger {
    /// Hands `messages` from `server` to the logging thread; never blocks.
    pub fn log(&self, server: &str, messages: Vec<Message>) {
        if let Some(tx) = &self.tx
            && !messages.is_empty()
        {
            let _ = tx.send((server.to_owned(), messages));
        }
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the logging thread for `log`; it ends when its [`Logger`] is
/// dropped. A failed write is reported once in the diagnostics log, not on
/// the screen, and the thread goes on trying with later messages.
#[must_use]
pub fn spawn(mut log: ChatLog) -> Logger {
    let (tx, rx) = std::sync::mpsc::channel::<(String, Vec<Message>)>();
    let spawned = std::thread::Builder::new()
        .name("natter-chatlog".into())
        .spawn(move || {
            let mut warned = false;
            while let Ok((server, batch)) = rx.recv() {
                if let Err(e) = log.write(&server, &batch)
                    && !std::mem::replace(&mut warned, true)
                {
                    tracing::warn!(error = %e, dir = %log.dir.display(), "cannot write the chat log");
                }
            }
        });
    let thread = spawned
        .inspect_err(|e| tracing::warn!(error = %e, "cannot start the chat log"))
        .ok();
    Logger {
        tx: Some(tx),
        thread,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-02 10:15:03 UTC
    const T0: i64 = 1_796_206_503_000;

    fn msg(id: u64, room: &str, body: &str, action: bool) -> Message {
        Message {
            id,
            ts: T0 + i64::try_from(id).unwrap() * 1000,
            room: room.into(),
            from: "alice".into(),
            body: body.into(),
            action,
            nonce: None,
            ..Default::default()
        }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn names_are_safe_and_distinct() {
        assert_eq!(file_name("#general"), "%23general");
        assert_eq!(file_name("@bob"), "%40bob");
        assert_eq!(file_name("127.0.0.1:7878"), "127.0.0.1%3A7878");
        assert_eq!(file_name(".."), "%2E.");
        assert_eq!(file_name("a/../b"), "a%2F..%2Fb");
        assert_eq!(file_name(""), "%00");
        assert_ne!(file_name("a%2Fb"), file_name("a/b"));
        assert_eq!(file_name("日"), "%E6%97%A5");
    }

    #[test]
    fn lines_read_like_weechat() {
        assert_eq!(
            lines(&msg(0, "#g", "hello", false), 0),
            "2026-12-02 10:15:03 <alice> hello\n"
        );
        assert_eq!(
            lines(&msg(0, "#g", "waves", true), 3600),
            "2026-12-02 11:15:03 * alice waves\n"
        );
        assert_eq!(
            lines(&msg(0, "#g", "one\r\ntwo\n", false), 0),
            "2026-12-02 10:15:03 <alice> one\n2026-12-02 10:15:03 <alice> two\n"
        );
        assert_eq!(
            lines(&msg(0, "#g", "\u{1b}[2J\u{202e}x", false), 0),
            "2026-12-02 10:15:03 <alice> \u{fffd}[2J\u{fffd}x\n"
        );
    }

    #[test]
    fn each_message_is_written_once_in_order_per_room_and_day() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = ChatLog::new(tmp.path().to_owned(), 0);
        log.write(
            "h:1",
            &[msg(2, "#g", "two", false), msg(1, "#g", "one", false)],
        )
        .unwrap();
        // A page fetched again, overlapping a live message.
        log.write(
            "h:1",
            &[
                msg(1, "#g", "one", false),
                msg(2, "#g", "two", false),
                msg(3, "#g", "three", true),
            ],
        )
        .unwrap();
        log.write("h:1", &[msg(1, "@bob", "direct", false)])
            .unwrap();
        let dir = log.room_dir("h:1", "#g");
        assert_eq!(dir, tmp.path().join("h%3A1").join("%23g"));
        assert_eq!(
            read(&dir.join("2026-12-02.log")),
            "2026-12-02 10:15:04 <alice> one\n2026-12-02 10:15:05 <alice> two\n2026-12-02 10:15:06 * alice three\n"
        );
        assert_eq!(
            read(&log.room_dir("h:1", "@bob").join("2026-12-02.log")),
            "2026-12-02 10:15:04 <alice> direct\n"
        );
        // A restart remembers what was written.
        let mut again = ChatLog::new(tmp.path().to_owned(), 0);
        let next_day = Message {
            ts: T0 + 86_400_000,
            ..msg(4, "#g", "tomorrow", false)
        };
        again
            .write("h:1", &[msg(3, "#g", "three", true), next_day])
            .unwrap();
        assert_eq!(read(&dir.join("2026-12-02.log")).lines().count(), 3);
        assert_eq!(
            read(&dir.join("2026-12-03.log")),
            "2026-12-03 10:15:03 <alice> tomorrow\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("2026-12-02.log"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_thread_writes_what_the_loop_hands_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let logger = spawn(ChatLog::new(dir.clone(), 0));
        logger.log("h:1", vec![msg(1, "#g", "via the thread", false)]);
        let file = dir.join("h%3A1").join("%23g").join("2026-12-02.log");
        let start = std::time::Instant::now();
        while !std::fs::read_to_string(&file).is_ok_and(|t| t.contains("via the thread")) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "not written"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod event_loop {
    use std::time::{Duration, Instant};

    use natter_server::testing::{PASSWORD, TestServer, WAIT};
    use natter_shared::Credential;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::file_name;
    use crate::conn::{ConnectOptions, Connection};
    use crate::keyring::Keyring;

    /// A message another user posts reaches the log file through the real
    /// event loop, with nothing but the config's `chat_log` set.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_from_the_server_ends_up_in_the_log() {
        let server = TestServer::start(&["alice", "bob"], |_| {}).await;
        let addr = server.addr.to_string();
        let tmp = tempfile::tempdir().unwrap();
        let (keys, mut key_rx) =
            tokio::sync::mpsc::unbounded_channel::<std::io::Result<crossterm::event::Event>>();
        let events = futures_util::stream::poll_fn(move |cx| key_rx.poll_recv(cx));
        let options = crate::tui::Options {
            server: addr.clone(),
            user: "alice".into(),
            credential: Some(Credential::PasswordOnly(PASSWORD.into())),
            source: String::new(),
            keyring: Keyring::none(),
            settings: crate::app::Settings {
                chat_log: Some(tmp.path().to_owned()),
                ..crate::app::Settings::default()
            },
            theme: crate::ui::Theme::plain(),
            connect: ConnectOptions::default(),
            prefs_path: None,
            picker: None,
        };
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let mut out = Vec::new();
        let client = crate::tui::run_main_loop(&mut terminal, events, &mut out, options);
        let room_dir = tmp.path().join(file_name(&addr)).join("%23general");
        let driver = async move {
            let (bob, _bob_events) = Connection::connect(&addr, &ConnectOptions::default())
                .await
                .unwrap();
            bob.login("bob", Credential::PasswordOnly(PASSWORD.into()))
                .await
                .unwrap();
            bob.send_message("#general", "for the record", false)
                .await
                .unwrap();
            let start = Instant::now();
            let logged = || {
                std::fs::read_dir(&room_dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect::<String>()
            };
            while !logged().contains("<bob> for the record\n") {
                assert!(start.elapsed() < WAIT, "not logged: {:?}", logged());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(logged().lines().count(), 1, "{}", logged());
            // The end of the terminal's events ends the loop.
            drop(keys);
        };
        let (result, ()) = tokio::join!(client, driver);
        result.unwrap();
    }
}
