//! Black-box tests of the built `natter` binary against a real natterd run
//! in-process on 127.0.0.1:0 with a temp data dir.
//!
//! Every child gets a clean environment: `NATTER_KEYRING=none` (except the
//! kernel keyring test), `XDG_CONFIG_HOME` and `HOME` in a temp dir, and the
//! password only through `NATTER_PASSWORD`.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;
use support::server::*;
use support::signal;

use natter::Connection;
use natter::conn::ConnectOptions;
use natter_shared::Credential;

use natter_server::testing::{self, PASSWORD};

#[test]
fn send_words_is_acknowledged_and_stored() {
    let server = Server::start();
    let out = run(
        server.natter_as("alice", &["--send", "#general", "hello", "big", "world"]),
        None,
    );
    assert_exit(&out, 0);
    assert!(out.stdout.is_empty());
    let history = server.history("bob", "#general");
    let last = history.last().expect("a message");
    assert_eq!(
        (last.from.as_str(), last.body.as_str()),
        ("alice", "hello big world")
    );
}

#[test]
fn send_from_stdin_keeps_inner_newlines_and_trims_one() {
    let server = Server::start();
    // Global flags after the mode work too.
    let mut cmd = server.natter(&["--send", "general", "--user", "alice"]);
    cmd.env("NATTER_PASSWORD", PASSWORD);
    let out = run(cmd, Some("line one\nline two\n"));
    assert_exit(&out, 0);
    assert_eq!(server.bodies("bob", "#general"), ["line one\nline two"]);
}

#[test]
fn send_joins_a_public_room_first() {
    let server = Server::start();
    let out = run(
        server.natter_as("alice", &["--send", "ops", "joining"]),
        None,
    );
    assert_exit(&out, 0);
    // alice is a member now; her message is in the room.
    let history = server.history("alice", "#ops");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].body, "joining");
}

#[test]
fn send_to_a_user_starts_a_direct_conversation() {
    let server = Server::start();
    let out = run(server.natter_as("alice", &["--send", "@Bob", "psst"]), None);
    assert_exit(&out, 0);
    let history = server.history("bob", "@alice");
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].from.as_str(), history[0].body.as_str()),
        ("alice", "psst")
    );
}

#[test]
fn empty_message_is_a_usage_error() {
    let server = Server::start();
    let out = run(
        server.natter_as("alice", &["--send", "general"]),
        Some("\n"),
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("empty message"), "{}", stderr(&out));
    assert!(server.history("bob", "#general").is_empty());
}

#[test]
fn wrong_password_exits_4() {
    let server = Server::start();
    let mut cmd = server.natter(&["--user", "alice", "--send", "general", "hi"]);
    cmd.env("NATTER_PASSWORD", "not the password");
    let out = run(cmd, None);
    assert_exit(&out, 4);
    let err = stderr(&out);
    assert!(err.contains("auth_failed"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn an_api_token_in_natter_token_logs_in_until_it_expires_or_is_revoked() {
    let server = Server::start();
    let data = server.tmp.path().join("data");
    let token = natter_server::admin::create_token(&data, "alice", "ci", None).unwrap();
    let with_token = |token: &str, body: &str| {
        let mut cmd = server.natter(&["--user", "alice", "--send", "#general", body]);
        cmd.env("NATTER_TOKEN", token);
        run(cmd, None)
    };
    let out = with_token(&token, "sent with a token");
    assert_exit(&out, 0);
    assert_eq!(
        server.bodies("bob", "#general").last().map(String::as_str),
        Some("sent with a token")
    );
    // Another account's token does not open this one.
    let mut cmd = server.natter(&["--user", "bob", "--send", "#general", "x"]);
    cmd.env("NATTER_TOKEN", &token);
    let out = run(cmd, None);
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("NATTER_TOKEN"), "{}", stderr(&out));
    // Expired: refused, with a clear reason, and nothing is sent.
    let short = natter_server::admin::create_token(
        &data,
        "alice",
        "short",
        Some(Duration::from_millis(300)),
    )
    .unwrap();
    assert_exit(&with_token(&short, "in time"), 0);
    std::thread::sleep(Duration::from_millis(400));
    let out = with_token(&short, "too late");
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    // Revoked: refused too.
    let listed = natter_server::admin::api_tokens(&data).unwrap();
    let ci = listed.iter().find(|t| t.label == "ci").unwrap();
    natter_server::admin::revoke_token(&data, ci.id).unwrap();
    assert_exit(&with_token(&token, "revoked"), 4);
    let bodies = server.bodies("bob", "#general");
    assert!(!bodies.iter().any(|b| b == "too late" || b == "revoked"));
}

#[test]
fn no_password_source_exits_4() {
    let server = Server::start();
    let mut cmd = server.natter(&["--user", "alice", "--send", "general", "hi"]);
    cmd.stdin(Stdio::null());
    let out = run(cmd, None);
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("no password"), "{}", stderr(&out));
}

#[test]
fn password_command_from_the_config_file() {
    let server = Server::start();
    let config = server.tmp.path().join("client.toml");
    std::fs::write(
        &config,
        format!("user = \"alice\"\npassword_command = \"echo '{PASSWORD}'\"\n"),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let out = run(
        server.natter(&["--config", cfg, "--send", "general", "via", "command"]),
        None,
    );
    assert_exit(&out, 0);
    assert_eq!(server.bodies("bob", "#general"), ["via command"]);

    std::fs::write(&config, "user = \"alice\"\npasword_command = \"x\"\n").unwrap();
    let out = run(
        server.natter(&["--config", cfg, "--send", "general", "x"]),
        None,
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("pasword_command"), "{}", stderr(&out));
}

/// What `natter block` checks before asking the server. (What the server
/// answers is tested with the server's side of blocking.)
#[test]
fn block_refuses_bad_names_and_yourself_with_exit_2() {
    let server = Server::start();
    for (args, error) in [
        (["block", "b@d"], "invalid"),
        (["unblock", "@"], "invalid"),
        (["block", "@Alice"], "you cannot block yourself"),
    ] {
        let out = run(server.natter_as("alice", &args), None);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(error), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}

/// `natter block` against the real server: bob's direct messages to alice
/// are then refused as to a name nobody has, `--send` says so with exit 5,
/// and `natter unblock` lets them through again.
#[test]
fn block_and_unblock_from_the_command_line() {
    let server = Server::start();
    let out = run(server.natter_as("alice", &["block", "bob"]), None);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("alice now blocks bob"),
        "{}",
        stderr(&out)
    );
    let refused = run(server.natter_as("bob", &["--send", "@alice", "hi"]), None);
    assert_exit(&refused, 5);
    assert!(
        stderr(&refused).contains("no such user"),
        "{}",
        stderr(&refused)
    );
    let out = run(server.natter_as("alice", &["unblock", "bob"]), None);
    assert_exit(&out, 0);
    let sent = run(server.natter_as("bob", &["--send", "@alice", "hi"]), None);
    assert_exit(&sent, 0);
    assert_eq!(server.bodies("alice", "@bob"), ["hi"]);
}

#[test]
fn unreachable_server_exits_3() {
    let server = Server::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let out = run(
        server.natter_as("alice", &["--server", &addr, "--send", "general", "hi"]),
        None,
    );
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("cannot connect"), "{}", stderr(&out));
}

/// Several servers, as a cluster's nodes are given: the first that
/// answers takes the message; none answering is exit 3 naming each.
#[test]
fn send_goes_to_the_first_of_several_servers_that_answers() {
    let server = Server::start();
    let dead = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let list = format!("{},{}", dead(), server.addr);
    let out = run(
        server.natter_as(
            "alice",
            &["--server", &list, "--send", "#general", "failed over"],
        ),
        None,
    );
    assert_exit(&out, 0);
    let history = server.history("bob", "#general");
    assert_eq!(history.last().map(|m| m.body.as_str()), Some("failed over"));

    let (d1, d2) = (dead(), dead());
    let out = run(
        server.natter_as(
            "alice",
            &["--server", &format!("{d1},{d2}"), "--send", "#general", "x"],
        ),
        None,
    );
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("no server answered") && err.contains(&d1) && err.contains(&d2),
        "{err}"
    );
}

#[test]
fn private_or_missing_room_exits_5_with_the_servers_code() {
    let server = Server::start();
    for room in ["#secret", "#nowhere"] {
        let out = run(server.natter_as("alice", &["--send", room, "hi"]), None);
        assert_exit(&out, 5);
        let err = stderr(&out);
        assert!(err.contains("no_such_room"), "{room}: {err}");
    }
    // bob owns #secret and can post there.
    let out = run(
        server.natter_as("bob", &["--send", "#secret", "mine"]),
        None,
    );
    assert_exit(&out, 0);
}

#[test]
fn the_full_screen_client_without_a_terminal_points_to_the_scripting_modes() {
    let server = Server::start();
    let out = run(server.natter_as("alice", &[]), None);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("needs a terminal") && err.contains("--send"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn tail_json_prints_history_then_live_messages_and_ends_on_shutdown() {
    let mut server = Server::start();
    for body in ["one", "two", "three"] {
        server.post("bob", "#general", body);
    }
    let mut child = server
        .natter_as("alice", &["tail", "general", "--last", "2", "--json"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let parse = |line: String| -> serde_json::Value {
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let first = parse(lines.next());
    let second = parse(lines.next());
    assert_eq!(first["body"], "two");
    assert_eq!(second["body"], "three");
    let mut keys: Vec<_> = first.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "action",
            "attachments",
            "attention",
            "body",
            "deleted",
            "edited",
            "from",
            "id",
            "reactions",
            "reply_to",
            "room",
            "thread",
            "ts",
            "type"
        ]
    );
    assert_eq!(first["type"], "message");
    assert_eq!(first["room"], "#general");
    assert_eq!(first["from"], "bob");
    assert!(
        first["ts"].as_i64().unwrap() > 1_600_000_000_000,
        "ms since epoch"
    );

    // A live message from another client streams in (tail subscribed before
    // reading history, so there is no window to lose it in).
    server.post("bob", "#general", "live");
    let live = parse(lines.next());
    assert_eq!(live["body"], "live");
    assert!(live["id"].as_u64() > second["id"].as_u64());
    // Messages in other rooms are not printed.
    server.post("bob", "#secret", "elsewhere");
    server.post("bob", "#general", "after");
    assert_eq!(parse(lines.next())["body"], "after");

    server.shut_down();
    let out = wait_output(child);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("shutting_down"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn tail_plain_format_and_sigint() {
    let server = Server::start();
    server.post("bob", "#general", "hi there");
    let mut child = server
        .natter_as("alice", &["tail", "#general", "--last", "5"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let line = lines.next();
    let (time, rest) = line.split_at(5);
    assert!(
        time.chars()
            .enumerate()
            .all(|(i, c)| if i == 2 { c == ':' } else { c.is_ascii_digit() }),
        "{line}"
    );
    assert_eq!(rest, " <bob> hi there");

    signal(child.id(), "INT");
    let out = wait_output(child);
    assert_exit(&out, 0);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

#[test]
fn tail_joins_a_public_room_to_read_it() {
    let server = Server::start();
    server.post_with("bob", "#ops", &["ops talk"], true);
    let mut child = server
        .natter_as("alice", &["tail", "ops", "--last", "3", "--json"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let line: serde_json::Value = serde_json::from_str(&lines.next()).unwrap();
    assert_eq!(
        (line["room"].as_str(), line["body"].as_str()),
        (Some("#ops"), Some("ops talk"))
    );
    signal(child.id(), "INT");
    assert_exit(&wait_output(child), 0);
}

#[test]
fn tail_last_pages_back_past_the_servers_page_limit() {
    let mut server = Server::start_with(|c| c.history.max_page = 2);
    server.post_with(
        "bob",
        "#general",
        &["m1", "m2", "m3", "m4", "m5", "m6"],
        false,
    );
    let mut child = server
        .natter_as("alice", &["tail", "general", "--last", "5", "--json"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let bodies: Vec<String> = (0..5)
        .map(|_| {
            let v: serde_json::Value = serde_json::from_str(&lines.next()).unwrap();
            v["body"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(bodies, ["m2", "m3", "m4", "m5", "m6"]);
    server.shut_down();
    let out = wait_output(child);
    assert_exit(&out, 0);
    // The process has exited, so its stdout is at EOF: no sixth line.
    assert_eq!(lines.rx.recv_timeout(Duration::from_millis(500)).ok(), None);
}

#[test]
fn tail_exits_3_when_the_connection_is_lost_without_notice() {
    let mut server = Server::start();
    server.post("bob", "#general", "are you there");
    let mut child = server
        .natter_as("alice", &["tail", "general", "--last", "1"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    assert!(lines.next().ends_with("<bob> are you there"));
    server.crash();
    let out = wait_output(child);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("connection"), "{}", stderr(&out));
}

/// Given several servers, a tail whose node dies carries on from the next,
/// printing what was sent meanwhile first and each message once; the two
/// nodes here are a server and one started from its backup, standing in
/// for a cluster's shared store (what is tested is the client's move).
#[test]
fn tail_over_several_servers_carries_on_when_its_node_dies() {
    let mut a = Server::start();
    a.post("bob", "#general", "one");
    a.post("bob", "#general", "two");
    let mut b = Server::start_from_backup_of(&a);
    let list = format!("{},{}", a.addr, b.addr);
    let mut child = a
        .natter_as(
            "alice",
            &["--server", &list, "tail", "general", "--last", "5"],
        )
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    assert!(lines.next().ends_with("<bob> one"));
    assert!(lines.next().ends_with("<bob> two"));
    // Sent where the tail is not, then its node dies without a word.
    b.post("bob", "#general", "three");
    a.crash();
    assert!(lines.next().ends_with("<bob> three"), "caught up on b");
    b.post("bob", "#general", "four");
    assert!(lines.next().ends_with("<bob> four"), "live on b");
    // With every node gone: exit 3, naming each.
    b.crash();
    let out = wait_output(child);
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "natter: {}: connection lost; carrying on from the next server",
            a.addr
        )),
        "{err}"
    );
    assert!(err.contains("no server answered"), "{err}");
    let rest: Vec<String> = lines.rx.try_iter().collect();
    assert!(rest.is_empty(), "nothing printed twice: {rest:?}");
}

/// An IRC guest's lines read `nick (guest)` while it is in the room, as in
/// the full-screen client and as history reads once it has gone.
#[test]
fn tail_marks_a_live_irc_guest() {
    use std::io::Write as _;
    let server = Server::start_with(|c| {
        c.irc.listen = "127.0.0.1:0".into();
        c.irc.guests = true;
    });
    let irc_addr = server.running.as_ref().unwrap().irc_addr.unwrap();
    let mut irc = std::net::TcpStream::connect(irc_addr).unwrap();
    irc.set_read_timeout(Some(testing::WAIT)).unwrap();
    let mut said = BufReader::new(irc.try_clone().unwrap()).lines();
    irc.write_all(b"NICK visitor\r\nUSER v 0 * :Visitor\r\n")
        .unwrap();
    while let Some(Ok(line)) = said.next() {
        if line.contains(" 366 ") && line.contains("#general") {
            break;
        }
    }
    irc.write_all(b"PRIVMSG #general :hi from irc\r\n").unwrap();
    while !server
        .history("bob", "#general")
        .iter()
        .any(|m| m.body == "hi from irc")
    {
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut child = server
        .natter_as("alice", &["tail", "general", "--last", "5"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let first = lines.next();
    assert!(first.ends_with("<visitor (guest)> hi from irc"), "{first}");
    irc.write_all(b"PRIVMSG #general :and live\r\n").unwrap();
    let live = lines.next();
    assert!(live.ends_with("<visitor (guest)> and live"), "{live}");
    server.post("bob", "#general", "an account");
    let bob = lines.next();
    assert!(bob.ends_with("<bob> an account"), "{bob}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn tail_stops_quietly_when_stdout_closes() {
    let server = Server::start();
    server.post("bob", "#general", "first");
    let mut child = server
        .natter_as("alice", &["tail", "general", "--last", "1"])
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Wait until tail is connected (its first line arrives), then close.
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    drop(reader);
    server.post("bob", "#general", "second");
    let out = wait_output(child);
    assert_exit(&out, 0);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether a test needing `tools` should run; without them it is skipped
/// with a reason, unless `NATTER_REQUIRE_E2E=1` makes that a failure.
fn tools_present(test: &str, tools: &[(&str, &str)]) -> bool {
    let missing: Vec<_> = tools
        .iter()
        .filter(|(tool, _)| !have(tool))
        .map(|(tool, package)| format!("{tool} (Debian package {package})"))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let reason = format!("{test}: missing {}", missing.join(", "));
    assert!(
        std::env::var_os("NATTER_REQUIRE_E2E").is_none_or(|v| v != "1"),
        "{reason}, required with NATTER_REQUIRE_E2E=1"
    );
    eprintln!("skipping {reason}");
    false
}

/// In a private session of a real keyring (`wrapper` runs the script in
/// it, after `setup`): `natter login` stores a token; a run with no password uses it;
/// `natter logout` revokes and removes it, after which a run with no
/// password source fails with exit 4. Returns natter's stderr.
fn keyring_round_trip(
    server: &Server,
    wrapper: &[&str],
    setup: &str,
    keyring: Option<&str>,
) -> String {
    let script = format!(
        r#"{setup}
        NATTER_PASSWORD="$PW" "$NATTER" login; echo "login=$?"
        "$NATTER" --send general from the keyring; echo "send=$?"
        "$NATTER" logout; echo "logout=$?"
        "$NATTER" --send general after logout; echo "after=$?"
        "#
    );
    let mut cmd = Command::new(wrapper[0]);
    cmd.args(&wrapper[1..])
        .args(["sh", "-c", &script])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", server.tmp.path())
        .env("XDG_CONFIG_HOME", server.tmp.path().join("config"))
        .env("XDG_DATA_HOME", server.tmp.path().join("share"))
        .env("NATTER", env!("CARGO_BIN_EXE_natter"))
        .env("PW", PASSWORD)
        .env("NATTER_SERVER", &server.addr)
        .env("NATTER_USER", "alice")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(k) = keyring {
        cmd.env("NATTER_KEYRING", k);
    }
    let out = run(cmd, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let codes: Vec<_> = stdout.lines().filter(|l| l.contains('=')).collect();
    assert_eq!(
        codes,
        ["login=0", "send=0", "logout=0", "after=4"],
        "stderr: {}",
        stderr(&out)
    );
    // Only the run that had the token (and no password) got through.
    assert_eq!(server.bodies("bob", "#general"), ["from the keyring"]);
    let err = stderr(&out);
    assert!(err.contains("no password"), "{err}");
    err
}

/// The kernel keyring, forced with `NATTER_KEYRING=keyutils`, inside a fresh
/// `keyctl session` so the user's own keyrings are not touched.
#[test]
fn kernel_keyring_login_token_send_logout() {
    if !tools_present("the kernel keyring test", &[("keyctl", "keyutils")]) {
        return;
    }
    let server = Server::start();
    // `keyctl session - CMD` runs CMD with a new session keyring.
    let err = keyring_round_trip(&server, &["keyctl", "session", "-"], "", Some("keyutils"));
    assert!(err.contains("stored in the keyutils keyring"), "{err}");
}

/// The Secret Service, chosen by the default probing order (no
/// `NATTER_KEYRING`): a private D-Bus session with an unlocked
/// gnome-keyring whose files live in the temp dir.
#[test]
fn secret_service_is_preferred_and_round_trips() {
    if !tools_present(
        "the Secret Service test",
        &[
            ("dbus-run-session", "dbus"),
            ("gnome-keyring-daemon", "gnome-keyring"),
        ],
    ) {
        return;
    }
    let server = Server::start();
    let err = keyring_round_trip(
        &server,
        &["dbus-run-session", "--"],
        "printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null",
        None,
    );
    assert!(
        err.contains("stored in the secret-service keyring"),
        "{err}"
    );
}

/// The keyring token is not usable after logout even if someone kept a copy:
/// `logout` revoked it on the server, not just locally.
#[test]
fn logout_revokes_the_token_on_the_server() {
    let server = Server::start();
    let token = server.rt().block_on(async {
        let (conn, _events) = Connection::connect(&server.addr, &ConnectOptions::default())
            .await
            .unwrap();
        let s = conn
            .login("alice", Credential::Password(PASSWORD.into()))
            .await
            .unwrap();
        let token = s.token.expect("a password login yields a token");
        conn.logout().await.unwrap();
        token
    });
    let err = server.rt().block_on(async {
        let (conn, _events) = Connection::connect(&server.addr, &ConnectOptions::default())
            .await
            .unwrap();
        conn.login("alice", Credential::Token(token))
            .await
            .unwrap_err()
    });
    assert!(err.is_auth_failure(), "{err}");
}

/// `natter passwd` in a kernel keyring session: the stored token is
/// replaced by a fresh one that works, the old password stops working, and
/// a wrong current password exits 4 and changes nothing.
#[test]
fn passwd_changes_the_password_and_keeps_this_machine_logged_in() {
    if !tools_present("the natter passwd test", &[("keyctl", "keyutils")]) {
        return;
    }
    let server = Server::start();
    let script = r#"
        NATTER_PASSWORD="$PW" "$NATTER" login; echo "login=$?"
        echo "new secret words" | NATTER_PASSWORD="wrong one" "$NATTER" passwd; echo "wrong=$?"
        echo "new secret words" | NATTER_PASSWORD="$PW" "$NATTER" passwd; echo "passwd=$?"
        "$NATTER" --send general with the fresh token; echo "send=$?"
        NATTER_PASSWORD="$PW" NATTER_KEYRING=none "$NATTER" --send general old password; echo "old=$?"
        NATTER_PASSWORD="new secret words" NATTER_KEYRING=none "$NATTER" --send general new password; echo "new=$?"
    "#;
    let mut cmd = Command::new("keyctl");
    cmd.args(["session", "-", "sh", "-c", script])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", server.tmp.path())
        .env("XDG_CONFIG_HOME", server.tmp.path().join("config"))
        .env("NATTER", env!("CARGO_BIN_EXE_natter"))
        .env("PW", PASSWORD)
        .env("NATTER_SERVER", &server.addr)
        .env("NATTER_USER", "alice")
        .env("NATTER_KEYRING", "keyutils")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run(cmd, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let codes: Vec<_> = stdout.lines().filter(|l| l.contains('=')).collect();
    assert_eq!(
        codes,
        ["login=0", "wrong=4", "passwd=0", "send=0", "old=4", "new=0"],
        "stderr: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("password changed for alice"), "{err}");
    assert!(err.contains("keyutils keyring"), "{err}");
    assert_eq!(
        server.bodies("bob", "#general"),
        ["with the fresh token", "new password"]
    );
}

// ---- scripting edges, --local, completions and man ------------------------

/// Posts one `/me` action with the library.
fn post_action(server: &Server, user: &str, room: &str, body: &str) {
    server.rt().block_on(async {
        let (conn, _events) = Connection::connect(&server.addr, &ConnectOptions::default())
            .await
            .unwrap();
        conn.login(user, Credential::Password(PASSWORD.into()))
            .await
            .unwrap();
        conn.send_message(room, body, true).await.unwrap();
    });
}

#[test]
fn tail_json_says_which_lines_are_actions() {
    let server = Server::start();
    server.post("bob", "#general", "plain words");
    post_action(&server, "bob", "#general", "waves");
    let mut child = server
        .natter_as("alice", &["tail", "general", "--last", "2", "--json"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let parse = |line: String| -> serde_json::Value { serde_json::from_str(&line).unwrap() };
    let (first, second) = (parse(lines.next()), parse(lines.next()));
    assert_eq!(first["body"], "plain words");
    assert_eq!(first["action"], false);
    assert_eq!(second["body"], "waves");
    assert_eq!(second["action"], true);
    signal(child.id(), "INT");
    assert_exit(&wait_output(child), 0);
}

#[test]
fn plain_tail_is_safe_on_a_terminal_and_json_stays_exact() {
    let server = Server::start();
    let hostile = "abc\u{202e}fed \u{1b}]52;c;aGk=\u{7} \u{9b}2J end";
    server.post("bob", "#general", hostile);
    post_action(&server, "bob", "#general", "sneaks\u{2066}in");
    let mut child = server
        .natter_as("alice", &["tail", "general", "--last", "2"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let (line, action) = (lines.next(), lines.next());
    signal(child.id(), "INT");
    assert_exit(&wait_output(child), 0);
    assert!(
        line.ends_with(" <bob> abc\u{fffd}fed \u{fffd}]52;c;aGk=\u{fffd} \u{fffd}2J end"),
        "{line:?}"
    );
    assert!(action.ends_with(" * bob sneaks\u{fffd}in"), "{action:?}");
    for l in [&line, &action] {
        assert!(
            !l.chars().any(natter_shared::text::is_unsafe),
            "an unsafe character reached the terminal: {l:?}"
        );
    }

    let mut child = server
        .natter_as("alice", &["tail", "general", "--last", "1", "--json"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let mut child_line = lines.next();
    signal(child.id(), "INT");
    assert_exit(&wait_output(child), 0);
    let v: serde_json::Value = serde_json::from_str(&child_line).unwrap();
    assert_eq!(v["body"], "sneaks\u{2066}in", "JSON keeps the body exact");
    // The escapes of JSON, not the raw characters, are on the line.
    child_line.retain(|c| c != '\n');
    assert!(!child_line.contains('\u{1b}'));
}

/// `natter login` takes the password from stdin when stdin is not a
/// terminal, as `passwd` and `natterd user add` do; the stored token then
/// logs `--send` in. In a fresh kernel keyring session.
#[test]
fn login_reads_the_password_from_stdin() {
    if !testing::have_tool("keyctl", &["--version"], "keyutils") {
        return;
    }
    let server = Server::start();
    let script = r#"
        printf '%s\n' "$PW" | "$NATTER" login; echo "login=$?"
        "$NATTER" --send general via the piped login; echo "send=$?"
        printf 'wrong\n' | "$NATTER" login; echo "wrong=$?"
        "$NATTER" login < /dev/null; echo "empty=$?"
    "#;
    let mut cmd = Command::new("keyctl");
    cmd.args(["session", "-", "sh", "-c", script])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", server.tmp.path())
        .env("XDG_CONFIG_HOME", server.tmp.path().join("config"))
        .env("NATTER", env!("CARGO_BIN_EXE_natter"))
        .env("PW", PASSWORD)
        .env("NATTER_SERVER", &server.addr)
        .env("NATTER_USER", "alice")
        .env("NATTER_KEYRING", "keyutils")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run(cmd, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let codes: Vec<_> = stdout.lines().filter(|l| l.contains('=')).collect();
    assert_eq!(
        codes,
        ["login=0", "send=0", "wrong=4", "empty=2"],
        "stderr: {}",
        stderr(&out)
    );
    assert_eq!(server.bodies("bob", "#general"), ["via the piped login"]);
}

/// `natter --local --send` and `natter --local tail` need no password:
/// they use the local server's account. Once with no local server running
/// (the command starts one on the same data), once joining one started
/// the way `natter --local` starts it.
#[test]
fn local_send_and_tail_use_the_local_account() {
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    let natter = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_natter"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", tmp.path())
            .env("XDG_CONFIG_HOME", tmp.path().join("config"))
            .env("XDG_DATA_HOME", &share)
            .env("NATTER_KEYRING", "none")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let out = run(
        natter(&["--local", "--send", "general", "stored", "locally"]),
        None,
    );
    assert_exit(&out, 0);
    // Nothing else is accepted with --local.
    assert_exit(&run(natter(&["--local", "logout"]), None), 2);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = share.join("natter").join("local");
    let local = rt
        .block_on(natter::local::LocalServer::start(&dir, "me"))
        .expect("the local server starts");
    let mut child = natter(&["--local", "tail", "general", "--last", "5", "--json"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let first: serde_json::Value = serde_json::from_str(&lines.next()).unwrap();
    assert_eq!(first["body"], "stored locally");
    assert_eq!(first["from"], "me");
    let out = run(natter(&["--local", "--send", "general", "live"]), None);
    assert_exit(&out, 0);
    let live: serde_json::Value = serde_json::from_str(&lines.next()).unwrap();
    assert_eq!(live["body"], "live");
    signal(child.id(), "INT");
    assert_exit(&wait_output(child), 0);
    rt.block_on(local.stop());
}

#[test]
fn completions_and_the_man_page() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start();
    let out = run(server.natter(&["completions", "bash"]), None);
    assert_exit(&out, 0);
    let script = String::from_utf8(out.stdout).unwrap();
    for sub in [
        "tail",
        "login",
        "logout",
        "passwd",
        "block",
        "completions",
        "man",
    ] {
        assert!(script.contains(sub), "{sub} is not completed");
    }
    let file = tmp.path().join("natter.bash");
    std::fs::write(&file, &script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    for shell in ["zsh", "fish"] {
        let out = run(server.natter(&["completions", shell]), None);
        assert_exit(&out, 0);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("tail"),
            "{shell}"
        );
    }
    assert_exit(&run(server.natter(&["completions", "tcsh"]), None), 2);

    let out = run(server.natter(&["man"]), None);
    assert_exit(&out, 0);
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH natter 1"), "{page}");
    let out = run(
        server.natter(&["man", "--out", tmp.path().to_str().unwrap()]),
        None,
    );
    assert_exit(&out, 0);
    let written = tmp.path().join("natter.1");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), page);
    if testing::have_tool("man", &["--version"], "man-db") {
        let shown = Command::new("man")
            .args(["-P", "cat", "-l"])
            .arg(&written)
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        assert!(
            shown.status.success(),
            "{}",
            String::from_utf8_lossy(&shown.stderr)
        );
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(text.contains("NAME") && text.contains("tail"), "{text}");
        assert!(!text.contains(".TH"), "rendered, not raw: {text}");
    }
}

/// `natter --send ... --print-id`: the stored message's id.
fn send_id(server: &Server, user: &str, args: &[&str]) -> u64 {
    let mut all = vec!["--print-id", "--send"];
    all.extend_from_slice(args);
    let out = run(server.natter_as(user, &all), None);
    assert_exit(&out, 0);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("--print-id prints the id")
}

#[test]
fn edit_delete_and_react_from_the_command_line() {
    let server = Server::start();
    let id = send_id(&server, "alice", &["#general", "hello"]);
    let id_s = id.to_string();
    let find = |id: u64| {
        server
            .history("bob", "#general")
            .into_iter()
            .find(|m| m.id == id)
            .expect("the message is in the history")
    };

    // Edits: only the author; the room is found from the id.
    assert_exit(
        &run(
            server.natter_as("alice", &["edit", &id_s, "hello", "again"]),
            None,
        ),
        0,
    );
    let m = find(id);
    assert_eq!(m.body, "hello again");
    assert!(m.edited_at.is_some());
    let out = run(server.natter_as("bob", &["edit", &id_s, "mine now"]), None);
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("forbidden"), "{}", stderr(&out));
    // A message nobody may see and one that does not exist: one answer.
    let secret = send_id(&server, "bob", &["#secret", "classified"]);
    let hidden = run(
        server.natter_as("alice", &["edit", &secret.to_string(), "x"]),
        None,
    );
    let missing = run(server.natter_as("alice", &["edit", "987654321", "x"]), None);
    assert_exit(&hidden, 5);
    assert_exit(&missing, 5);
    assert!(
        stderr(&hidden).contains("no_such_message"),
        "{}",
        stderr(&hidden)
    );
    assert_eq!(stderr(&hidden), stderr(&missing));

    // Reactions toggle; --remove only removes; a bad key is a usage error.
    for _ in 0..2 {
        assert_exit(
            &run(server.natter_as("bob", &["react", &id_s, "👍"]), None),
            0,
        );
    }
    assert!(find(id).reactions.is_empty(), "toggled on and off");
    assert_exit(
        &run(
            server.natter_as("bob", &["react", &id_s, ":tada:", "--room", "#general"]),
            None,
        ),
        0,
    );
    let m = find(id);
    assert_eq!(m.reactions.len(), 1);
    assert_eq!(
        (m.reactions[0].key.as_str(), m.reactions[0].users.clone()),
        (":tada:", vec!["bob".to_owned()])
    );
    assert_exit(
        &run(
            server.natter_as("bob", &["react", &id_s, ":tada:", "--remove"]),
            None,
        ),
        0,
    );
    assert_exit(
        &run(
            server.natter_as("bob", &["react", &id_s, ":tada:", "--remove"]),
            None,
        ),
        0,
    );
    assert!(find(id).reactions.is_empty());
    assert_exit(
        &run(server.natter_as("bob", &["react", &id_s, "lol"]), None),
        2,
    );

    // Deletes: a plain member may not delete another's message; the
    // author may, and a tombstone keeps the place.
    assert_exit(&run(server.natter_as("bob", &["delete", &id_s]), None), 5);
    assert_exit(&run(server.natter_as("alice", &["delete", &id_s]), None), 0);
    let m = find(id);
    assert!(m.deleted);
    assert_eq!(m.body, "");
}

#[test]
fn send_replies_and_posts_in_threads() {
    let server = Server::start();
    let root = send_id(&server, "alice", &["#general", "release plan?"]);
    let reply = send_id(
        &server,
        "bob",
        &["#general", "friday", "--reply-to", &root.to_string()],
    );
    let in_thread = send_id(
        &server,
        "bob",
        &["#general", "details inside", "--thread", &root.to_string()],
    );
    let main = server.history("alice", "#general");
    let reply_msg = main.iter().find(|m| m.id == reply).expect("the reply");
    assert_eq!(reply_msg.reply_to, Some(root));
    assert!(
        main.iter().all(|m| m.id != in_thread),
        "thread replies stay out of the room's pages"
    );
    let root_msg = main.iter().find(|m| m.id == root).expect("the root");
    assert_eq!(root_msg.replies.as_ref().map(|r| r.count), Some(1));
    // A reply to a message of another room is refused, as if it did not
    // exist.
    let out = run(
        server.natter_as(
            "alice",
            &["--send", "#ops", "x", "--reply-to", &root.to_string()],
        ),
        None,
    );
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("no_such_message"), "{}", stderr(&out));
}

#[test]
fn tail_json_shows_messages_as_they_are_now_and_changes_as_they_happen() {
    let server = Server::start();
    let first = send_id(&server, "bob", &["#general", "soon gone"]);
    let second = send_id(&server, "bob", &["#general", "typo"]);
    assert_exit(
        &run(
            server.natter_as("bob", &["delete", &first.to_string()]),
            None,
        ),
        0,
    );
    assert_exit(
        &run(
            server.natter_as("bob", &["edit", &second.to_string(), "fixed"]),
            None,
        ),
        0,
    );
    let mut child = server
        .natter_as("alice", &["tail", "general", "--last", "2", "--json"])
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let parse = |line: String| -> serde_json::Value {
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let gone = parse(lines.next());
    assert_eq!(
        (
            gone["type"].clone(),
            gone["deleted"].clone(),
            gone["body"].clone()
        ),
        ("message".into(), true.into(), "".into())
    );
    let fixed = parse(lines.next());
    assert_eq!(
        (fixed["body"].clone(), fixed["edited"].clone()),
        ("fixed".into(), true.into())
    );
    // Live: a reaction, an edit and a delete each get a line.
    let id = second.to_string();
    assert_exit(
        &run(server.natter_as("bob", &["react", &id, "🎉"]), None),
        0,
    );
    let line = parse(lines.next());
    assert_eq!(
        (
            line["type"].clone(),
            line["key"].clone(),
            line["user"].clone()
        ),
        ("reaction".into(), "🎉".into(), "bob".into())
    );
    assert_exit(
        &run(server.natter_as("bob", &["edit", &id, "fixed twice"]), None),
        0,
    );
    let line = parse(lines.next());
    assert_eq!(
        (line["type"].clone(), line["body"].clone()),
        ("edit".into(), "fixed twice".into())
    );
    assert_exit(&run(server.natter_as("bob", &["delete", &id]), None), 0);
    let line = parse(lines.next());
    assert_eq!(
        (line["type"].clone(), line["id"].clone(), line["by"].clone()),
        ("delete".into(), second.into(), "bob".into())
    );
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn search_finds_only_what_the_user_may_see() {
    let server = Server::start();
    server.post("bob", "#general", "the deploy failed on staging");
    server.post("bob", "#general", "deploy went fine");
    server.post("bob", "#secret", "deploy keys are in the vault");
    let out = run(
        server.natter_as("alice", &["search", "deploy", "--json"]),
        None,
    );
    assert_exit(&out, 0);
    let hits: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bodies: Vec<_> = hits.iter().map(|h| h["body"].as_str().unwrap()).collect();
    assert_eq!(
        bodies,
        ["deploy went fine", "the deploy failed on staging"],
        "newest first, and nothing from #secret"
    );
    assert!(hits[0]["hits"].as_array().is_some_and(|h| !h.is_empty()));
    let out = run(
        server.natter_as("alice", &["search", "--", "deploy", "-staging"]),
        None,
    );
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("*deploy*"), "{text}");
    // A room alice cannot see is refused as a missing one.
    let out = run(
        server.natter_as("alice", &["search", "deploy", "--room", "#secret"]),
        None,
    );
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("no_such_room"), "{}", stderr(&out));
    let out = run(server.natter_as("bob", &["search", "vault"]), None);
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("#secret"));
}

#[test]
fn send_with_priority_high_calls_the_room_for_its_moderators_only() {
    let server = Server::start();
    // bob owns #secret: his high-priority message calls the whole room.
    let id = send_id(
        &server,
        "bob",
        &["#secret", "db1 is down", "--priority", "high"],
    );
    let sent = server.history("bob", "#secret");
    assert!(sent.iter().any(|m| m.id == id && m.attention), "{sent:?}");
    // alice is a plain member of #general: refused, and nothing is stored.
    let out = run(
        server.natter_as(
            "alice",
            &["--send", "#general", "lunch?", "--priority", "high"],
        ),
        None,
    );
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("moderators"), "{}", stderr(&out));
    assert!(
        !server
            .bodies("bob", "#general")
            .contains(&"lunch?".to_owned())
    );
    // `@room` in a direct message is plain text; asking there is refused.
    let dm = send_id(&server, "alice", &["@bob", "@room is for rooms"]);
    let held = server.history("bob", "@alice");
    assert!(held.iter().any(|m| m.id == dm && !m.attention), "{held:?}");
    let out = run(
        server.natter_as("alice", &["--send", "@bob", "psst", "--priority", "high"]),
        None,
    );
    assert_exit(&out, 5);
    // A level that does not exist is a usage error.
    let out = run(
        server.natter_as("alice", &["--send", "#general", "x", "--priority", "loud"]),
        None,
    );
    assert_exit(&out, 2);
}

#[test]
fn the_shell_bot_from_the_readme_answers_ping() {
    if !testing::have_tool("jq", &["--version"], "jq") {
        return;
    }
    let server = Server::start();
    let data = server.tmp.path().join("data");
    natter_server::admin::add_bot(&data, "pingbot").unwrap();
    let token = natter_server::admin::create_token(&data, "pingbot", "shell bot", None).unwrap();
    // The bot's room: it is a member of #general like every account.
    let natter_dir = std::path::Path::new(env!("CARGO_BIN_EXE_natter"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        natter_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/bots/pingbot.sh");
    let mut child = Command::new("bash")
        .arg(script)
        .arg("#general")
        .env_clear()
        .env("PATH", path)
        .env("HOME", server.tmp.path())
        .env("XDG_CONFIG_HOME", server.tmp.path().join("config"))
        .env("NATTER_SERVER", &server.addr)
        .env("NATTER_KEYRING", "none")
        .env("NATTER_USER", "pingbot")
        .env("NATTER_TOKEN", token)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let answered = loop {
        server.post("alice", "#general", "!ping");
        std::thread::sleep(Duration::from_millis(300));
        let history = server.history("bob", "#general");
        if history
            .iter()
            .any(|m| m.from == "pingbot" && m.body == "pong, alice")
        {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
    };
    // The whole pipeline: bash, natter tail and the answering sends.
    let _ = Command::new("kill")
        .arg("--")
        .arg(format!("-{}", child.id()))
        .status();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        answered,
        "the bot never answered: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
