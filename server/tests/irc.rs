//! The IRC front end, line by line over raw sockets: registration in the
//! orders clients use (CAP with SASL, PASS as irssi and telnet send it),
//! capability negotiation, each command's numerics, tags on echoes,
//! labeled responses, history batches, the privacy matrix over IRC, bad
//! input and floods. A natter client on the same server checks that both
//! protocols meet in the same rooms.

mod common;

#[path = "../fuzz/src/irc_checks.rs"]
mod irc_checks;

#[path = "../fuzz/src/inputs.rs"]
mod inputs;

use std::time::Duration;

use base64::Engine as _;
use common::{Client, ServerExt, TestServer};
use natter_server::testing::PASSWORD;
use natter_shared::{Event, Request};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const WAIT: Duration = Duration::from_secs(10);

struct Irc {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    /// Every line read so far.
    seen: Vec<String>,
}

impl Irc {
    async fn connect(server: &TestServer) -> Self {
        let addr = server.running.irc_addr.expect("an IRC listener");
        let stream = TcpStream::connect(addr).await.unwrap();
        let (r, w) = stream.into_split();
        Self {
            read: BufReader::new(r),
            write: w,
            seen: Vec::new(),
        }
    }

    /// Connects from loopback address `source` (any 127.x.y.z on Linux),
    /// so one test can be several client addresses.
    async fn connect_from(server: &TestServer, source: [u8; 4]) -> Self {
        let addr = server.running.irc_addr.expect("an IRC listener");
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::from((source, 0)))
            .expect("bind a loopback source address");
        let (r, w) = socket.connect(addr).await.unwrap().into_split();
        Self {
            read: BufReader::new(r),
            write: w,
            seen: Vec::new(),
        }
    }

    /// Registers as a guest: NICK and USER, no credential.
    async fn guest(server: &TestServer, source: [u8; 4], nick: &str) -> Self {
        let mut c = Self::connect_from(server, source).await;
        c.send(&format!("NICK {nick}")).await;
        c.send(&format!("USER {nick} 0 * :{nick}")).await;
        c.until_numeric("001").await;
        c
    }

    async fn send(&mut self, line: &str) {
        self.write
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.unwrap();
    }

    /// The next line, or `None` at the end of the stream.
    async fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(WAIT, self.read.read_until(b'\n', &mut buf))
            .await
            .expect("a line in time")
            .unwrap();
        if n == 0 {
            return None;
        }
        let s = String::from_utf8(buf).expect("the server writes UTF-8");
        assert!(s.ends_with("\r\n"), "{s:?}");
        let s = s.trim_end().to_owned();
        self.seen.push(s.clone());
        Some(s)
    }

    /// Reads until a line matches; returns it.
    async fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            match self.line().await {
                Some(l) if pred(&l) => return l,
                Some(_) => {}
                None => panic!("closed before the line came; saw {:#?}", self.seen),
            }
        }
    }

    /// Reads until numeric `code`; returns every line up to and with it.
    async fn until_numeric(&mut self, code: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.line().await.unwrap_or_else(|| {
                panic!("closed before {code}; saw {:#?}", self.seen);
            });
            let is = command_of(&l) == code;
            lines.push(l);
            if is {
                return lines;
            }
        }
    }

    /// Sends `PING :token` and returns every line before its `PONG`.
    async fn sync(&mut self, token: &str) -> Vec<String> {
        self.send(&format!("PING :{token}")).await;
        let mut lines = Vec::new();
        loop {
            let l = self.line().await.expect("open");
            if command_of(&l) == "PONG" && l.ends_with(&format!(":{token}")) {
                return lines;
            }
            lines.push(l);
        }
    }

    /// Registers with SASL PLAIN and the given capabilities.
    async fn sasl(server: &TestServer, user: &str, caps: &str) -> Self {
        let mut c = Self::connect(server).await;
        c.send("CAP LS 302").await;
        let ls = c.until(|l| l.contains(" CAP * LS ")).await;
        assert!(ls.contains("sasl=PLAIN"), "{ls}");
        c.send(&format!("NICK {user}")).await;
        c.send(&format!("USER {user} 0 * :{user}")).await;
        c.send(&format!("CAP REQ :sasl {caps}")).await;
        let ack = c.until(|l| l.contains(" CAP ")).await;
        assert!(ack.contains(" ACK "), "{ack}");
        c.send("AUTHENTICATE PLAIN").await;
        assert_eq!(c.line().await.as_deref(), Some("AUTHENTICATE +"));
        let payload =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}\0{user}\0{PASSWORD}"));
        c.send(&format!("AUTHENTICATE {payload}")).await;
        c.until_numeric("900").await;
        c.until_numeric("903").await;
        c.send("CAP END").await;
        c.until_numeric("001").await;
        c.until(|l| {
            let cmd = command_of(l);
            cmd == "376" || cmd == "422"
        })
        .await;
        c
    }

    /// Registers with `PASS account:password`, no capabilities.
    async fn pass(server: &TestServer, user: &str) -> Self {
        let mut c = Self::connect(server).await;
        c.send(&format!("PASS {user}:{PASSWORD}")).await;
        c.send(&format!("NICK {user}")).await;
        c.send(&format!("USER {user} 0 * :{user}")).await;
        c.until_numeric("001").await;
        c
    }
}

/// The command (or numeric) of a server line.
fn command_of(line: &str) -> &str {
    let rest = if line.starts_with('@') {
        line.split_once(' ').map_or("", |(_, r)| r)
    } else {
        line
    };
    let rest = if rest.starts_with(':') {
        rest.split_once(' ').map_or("", |(_, r)| r)
    } else {
        rest
    };
    rest.split(' ').next().unwrap_or("")
}

/// The value of tag `key` on a line.
fn tag<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let tags = line.strip_prefix('@')?.split(' ').next()?;
    tags.split(';').find_map(|t| {
        let (k, v) = t.split_once('=').unwrap_or((t, ""));
        (k == key).then_some(v)
    })
}

async fn server(users: &[&str]) -> TestServer {
    TestServer::start(users, |c| {
        c.irc.listen = "127.0.0.1:0".into();
        c.motd = Some("be kind".into());
    })
    .await
}

#[tokio::test]
async fn sasl_registration_gets_the_welcome_isupport_motd_and_the_accounts_rooms() {
    let s = server(&["alice", "bob"]).await;
    let mut c = Irc::connect(&s).await;
    c.send("CAP LS 302").await;
    c.send("NICK alice").await;
    c.send("USER alice 0 * :Alice").await;
    let ls = c.until(|l| l.contains(" CAP * LS ")).await;
    for cap in [
        "message-tags",
        "server-time",
        "echo-message",
        "batch",
        "labeled-response",
        "account-tag",
        "away-notify",
        "standard-replies",
        "draft/chathistory",
        "draft/read-marker",
        "sasl=PLAIN",
    ] {
        assert!(
            ls.split(' ').any(|w| w.trim_start_matches(':') == cap),
            "{cap} in {ls}"
        );
    }
    // Nothing before authentication: registration does not end while
    // CAP negotiation is open.
    c.send("CAP REQ :sasl bogus-cap").await;
    assert!(
        c.until(|l| l.contains(" CAP "))
            .await
            .contains(" NAK :sasl bogus-cap")
    );
    c.send("CAP REQ :sasl server-time").await;
    assert!(
        c.until(|l| l.contains(" CAP "))
            .await
            .contains(" ACK :sasl server-time")
    );
    c.send("AUTHENTICATE PLAIN").await;
    assert_eq!(c.line().await.as_deref(), Some("AUTHENTICATE +"));
    let payload =
        base64::engine::general_purpose::STANDARD.encode(format!("alice\0alice\0{PASSWORD}"));
    c.send(&format!("AUTHENTICATE {payload}")).await;
    let logged = c.until_numeric("903").await;
    assert!(
        logged
            .iter()
            .any(|l| command_of(l) == "900" && l.contains("alice!alice@natter alice"))
    );
    c.send("CAP END").await;
    let burst = c.until_numeric("366").await;
    let text = burst.join("\n");
    for want in [
        " 001 alice ",
        " 002 alice ",
        " 003 alice ",
        " 004 alice ",
        "CHANTYPES=#",
        "PREFIX=(qov)~@+",
        "CASEMAPPING=ascii",
        "NETWORK=natter",
        "CHATHISTORY=",
        " 251 alice ",
        " 372 alice :- be kind",
        " 376 alice ",
        ":alice!alice@natter JOIN #general",
        " 353 alice = #general :",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    let names = burst.iter().find(|l| command_of(l) == "353").unwrap();
    assert!(
        names.contains("+alice") && names.contains("+bob"),
        "{names}"
    );
}

#[tokio::test]
async fn pass_registration_as_typed_by_hand_reaches_a_room_and_natter() {
    let s = server(&["alice", "bob"]).await;
    let mut bob = s.login("bob").await;
    let mut c = Irc::connect(&s).await;
    // The order telnet users and irssi send: PASS first, no CAP.
    c.send(&format!("PASS alice:{PASSWORD}")).await;
    c.send("NICK alice").await;
    c.send("USER alice 0 * :Alice").await;
    c.until_numeric("366").await;
    c.send("PRIVMSG #general :hello from a terminal").await;
    let got = bob
        .event_where(|e| matches!(e, Event::Message(m) if m.body == "hello from a terminal"))
        .await;
    let Event::Message(m) = got else {
        unreachable!()
    };
    assert_eq!((m.from.as_str(), m.room.as_str()), ("alice", "#general"));
    // And back: natter to IRC, untagged for a client without tags.
    bob.send_text("#general", "hi alice").await.unwrap();
    let line = c.until(|l| l.contains("hi alice")).await;
    assert_eq!(line, ":bob!bob@natter PRIVMSG #general :hi alice");
    // A direct conversation: a private message to a nick.
    c.send("PRIVMSG bob :just you").await;
    let got = bob
        .event_where(|e| matches!(e, Event::Message(m) if m.body == "just you"))
        .await;
    let Event::Message(m) = got else {
        unreachable!()
    };
    assert_eq!(m.room, "@alice");
    bob.send_text("@alice", "and back").await.unwrap();
    let line = c.until(|l| l.contains("and back")).await;
    assert_eq!(line, ":bob!bob@natter PRIVMSG alice :and back");
    // The account's own password as PASS, nick as account, works too.
    let mut d = Irc::connect(&s).await;
    d.send(&format!("PASS {PASSWORD}")).await;
    d.send("NICK bob").await;
    d.send("USER bob 0 * :Bob").await;
    d.until_numeric("001").await;
}

#[tokio::test]
async fn without_a_credential_the_client_is_told_how_and_can_still_log_in() {
    let s = server(&["alice"]).await;
    let mut c = Irc::connect(&s).await;
    c.send("NICK alice").await;
    c.send("USER alice 0 * :Alice").await;
    let notice = c.until(|l| command_of(l) == "NOTICE").await;
    assert!(notice.contains("PASS account:password"), "{notice}");
    c.until_numeric("464").await;
    // Nothing is readable yet.
    c.send("JOIN #general").await;
    c.until_numeric("451").await;
    c.send("NAMES #general").await;
    c.until_numeric("451").await;
    // A wrong password, then the right one.
    c.send("PASS alice:not-the-password").await;
    c.send("NICK alice").await;
    assert!(
        c.until_numeric("464")
            .await
            .last()
            .unwrap()
            .contains("Password incorrect")
    );
    c.send(&format!("PASS alice:{PASSWORD}")).await;
    c.send("NICK alice").await;
    c.until_numeric("001").await;
}

#[tokio::test]
async fn sasl_failure_and_abort_get_their_numerics() {
    let s = server(&["alice"]).await;
    let mut c = Irc::connect(&s).await;
    c.send("CAP LS 302").await;
    c.send("CAP REQ :sasl").await;
    c.until(|l| l.contains(" ACK ")).await;
    c.send("AUTHENTICATE EXTERNAL").await;
    c.until_numeric("908").await;
    c.until_numeric("904").await;
    c.send("AUTHENTICATE PLAIN").await;
    c.line().await;
    let bad = base64::engine::general_purpose::STANDARD.encode("alice\0alice\0wrong password");
    c.send(&format!("AUTHENTICATE {bad}")).await;
    c.until_numeric("904").await;
    c.send("AUTHENTICATE PLAIN").await;
    c.line().await;
    c.send("AUTHENTICATE *").await;
    c.until_numeric("906").await;
    c.send("AUTHENTICATE PLAIN").await;
    c.line().await;
    c.send("AUTHENTICATE not-base64!!").await;
    c.until_numeric("904").await;
}

#[tokio::test]
async fn the_nick_must_be_the_account_name() {
    let s = server(&["alice"]).await;
    let mut c = Irc::connect(&s).await;
    c.send(&format!("PASS alice:{PASSWORD}")).await;
    c.send("NICK someone").await;
    c.send("USER x 0 * :x").await;
    let l = c.until_numeric("433").await;
    assert!(l.last().unwrap().contains("account name, alice"), "{l:?}");
    // A bad nick is refused as such.
    c.send("NICK 9$bad").await;
    c.until_numeric("432").await;
    c.send("NICK Alice").await;
    let welcome = c.until_numeric("001").await;
    assert!(welcome.last().unwrap().contains(" 001 alice "));
    // And it cannot be changed afterwards.
    c.send("NICK bob").await;
    c.until_numeric("433").await;
}

#[tokio::test]
async fn echo_message_with_labels_and_tags_and_an_ack_without_echo() {
    let s = server(&["alice", "bob"]).await;
    let mut a = Irc::sasl(
        &s,
        "alice",
        "message-tags server-time echo-message labeled-response batch account-tag",
    )
    .await;
    a.until_numeric("366").await;
    a.send("@label=abc PRIVMSG #general :tagged hello").await;
    let echo = a.until(|l| l.contains("tagged hello")).await;
    assert_eq!(tag(&echo, "label"), Some("abc"), "{echo}");
    assert_eq!(tag(&echo, "account"), Some("alice"));
    let msgid = tag(&echo, "msgid").expect("a msgid").to_owned();
    assert!(tag(&echo, "time").is_some_and(|t| t.ends_with('Z')));
    // A reply carries the parent's id.
    a.send(&format!("@+draft/reply={msgid} PRIVMSG #general :a reply"))
        .await;
    let reply = a.until(|l| l.contains("a reply")).await;
    assert_eq!(tag(&reply, "+draft/reply"), Some(msgid.as_str()));
    // A labeled command with several lines answers in one batch.
    a.send("@label=w1 WHOIS bob").await;
    let start = a.until(|l| command_of(l) == "BATCH").await;
    assert!(start.contains("labeled-response") && tag(&start, "label") == Some("w1"));
    // Without echo-message: no echo, an ACK for the label.
    let mut b = Irc::sasl(&s, "bob", "labeled-response batch").await;
    b.until_numeric("366").await;
    b.send("@label=q PRIVMSG #general :no echo").await;
    let ack = b.until(|l| command_of(l) == "ACK").await;
    assert_eq!(tag(&ack, "label"), Some("q"));
    let rest = b.sync("s1").await;
    assert!(!rest.iter().any(|l| l.contains("no echo")), "{rest:?}");
    // alice sees bob's, with tags.
    let seen = a.until(|l| l.contains("no echo")).await;
    assert_eq!(tag(&seen, "account"), Some("bob"));
    // PING is a barrier: its PONG comes after the answers to everything
    // sent before it, here the echoes of messages still being stored.
    for i in 0..20 {
        a.send(&format!("PRIVMSG #general :burst {i}")).await;
    }
    let before = a.sync("after-burst").await;
    for i in 0..20 {
        let body = format!(":burst {i}");
        assert!(
            before.iter().any(|l| l.ends_with(&body)),
            "echo {i} before the PONG: {before:#?}"
        );
    }
}

#[tokio::test]
async fn history_comes_in_chathistory_batches() {
    let s = server(&["alice", "bob"]).await;
    let mut bob = s.login("bob").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        match bob.send_text("#general", &format!("m{i}")).await.unwrap() {
            natter_shared::Response::Sent { id, .. } => ids.push(id),
            other => panic!("{other:?}"),
        }
    }
    let mut a = Irc::sasl(
        &s,
        "alice",
        "message-tags batch server-time draft/chathistory",
    )
    .await;
    a.until_numeric("366").await;
    let page = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| command_of(l) == "PRIVMSG")
            .map(|l| l.rsplit(" :").next().unwrap().to_owned())
            .collect()
    };
    a.send("CHATHISTORY LATEST #general * 3").await;
    let lines = a.sync("h1").await;
    assert!(lines[0].contains("BATCH +") && lines[0].ends_with("chathistory #general"));
    assert!(lines.last().unwrap().contains("BATCH -"));
    assert_eq!(page(&lines), ["m3", "m4", "m5"]);
    assert!(
        lines[1..lines.len() - 1]
            .iter()
            .all(|l| tag(l, "batch").is_some())
    );
    a.send(&format!("CHATHISTORY BEFORE #general msgid={} 2", ids[3]))
        .await;
    assert_eq!(page(&a.sync("h2").await), ["m1", "m2"]);
    a.send(&format!("CHATHISTORY AFTER #general msgid={} 2", ids[3]))
        .await;
    assert_eq!(page(&a.sync("h3").await), ["m4", "m5"]);
    a.send(&format!(
        "CHATHISTORY BETWEEN #general msgid={} msgid={} 10",
        ids[0], ids[4]
    ))
    .await;
    assert_eq!(page(&a.sync("h4").await), ["m1", "m2", "m3"]);
    a.send("CHATHISTORY BEFORE #general timestamp=2000-01-01T00:00:00.000Z 5")
        .await;
    // Nothing before 2000; the page is empty, the batch is still there.
    let empty = a.sync("h5").await;
    assert!(page(&empty).is_empty(), "{empty:?}");
    assert!(empty[0].contains("BATCH +") && empty.last().unwrap().contains("BATCH -"));
    a.send("CHATHISTORY LATEST #general * x").await;
    assert!(a.sync("h6").await[0].contains("FAIL CHATHISTORY INVALID_PARAMS"));
}

#[tokio::test]
async fn a_private_room_reads_exactly_like_a_missing_one() {
    let s = server(&["alice", "bob"]).await;
    let mut bob = s.login("bob").await;
    bob.request(Request::Create {
        room: "#secret".into(),
        private: true,
    })
    .await
    .unwrap();
    let mut a = Irc::pass(&s, "alice").await;
    a.until_numeric("366").await;
    let ask = |room: &str| {
        vec![
            format!("NAMES #{room}"),
            format!("TOPIC #{room}"),
            format!("MODE #{room}"),
            format!("PRIVMSG #{room} :hi"),
            format!("PART #{room}"),
            format!("WHO #{room}"),
            format!("KICK #{room} bob"),
            format!("LIST #{room}"),
            format!("CHATHISTORY LATEST #{room} * 5"),
        ]
    };
    let mut answers = Vec::new();
    for room in ["secret", "nothere"] {
        let mut all = Vec::new();
        for (i, q) in ask(room).into_iter().enumerate() {
            a.send(&q).await;
            let lines = a.sync(&format!("p{i}")).await;
            all.push(lines.join("\n").replace(room, "ROOM"));
        }
        answers.push(all);
    }
    assert_eq!(answers[0], answers[1]);
    // JOIN of the private room does not get alice in.
    a.send("JOIN #secret").await;
    let joined = a.sync("j").await;
    assert!(
        !joined.iter().any(|l| command_of(l) == "JOIN"),
        "{joined:?}"
    );
}

#[tokio::test]
async fn each_command_gets_its_numerics() {
    let s = server(&["alice", "bob"]).await;
    let mut a = Irc::pass(&s, "alice").await;
    a.until_numeric("366").await;
    let check = async |a: &mut Irc, line: &str, want: &str| {
        a.send(line).await;
        let got = a.sync("n").await;
        assert!(
            got.iter().any(|l| l.contains(want)),
            "{line} -> {got:#?}, wanted {want}"
        );
    };
    check(
        &mut a,
        "FROBNICATE",
        " 421 alice FROBNICATE :Unknown command",
    )
    .await;
    check(&mut a, "JOIN", " 461 alice JOIN :Not enough parameters").await;
    check(&mut a, "PRIVMSG", " 411 alice ").await;
    check(&mut a, "PRIVMSG #general", " 412 alice ").await;
    check(
        &mut a,
        "PRIVMSG nobody :x",
        " 401 alice nobody :No such nick",
    )
    .await;
    check(&mut a, "JOIN bad!name", " 479 alice bad!name").await;
    check(&mut a, "USER a 0 * :a", " 462 alice ").await;
    check(&mut a, "WHOIS nobody", " 401 alice nobody").await;
    check(&mut a, "WHOIS bob", " 311 alice bob bob natter * :bob").await;
    check(&mut a, "WHO #general", " 352 alice #general bob natter ").await;
    check(&mut a, "MODE alice", " 221 alice +i").await;
    check(&mut a, "MODE #general", " 324 alice #general +nt").await;
    check(&mut a, "MODE #general +z", " 472 alice z ").await;
    check(&mut a, "MODE #general +o bob", " 482 alice #general ").await;
    check(&mut a, "KICK #general bob", " 482 alice #general ").await;
    check(&mut a, "TOPIC #general :new", " 482 alice #general ").await;
    check(
        &mut a,
        "TOPIC #general",
        " 331 alice #general :No topic is set",
    )
    .await;
    check(&mut a, "LIST", " 322 alice #general 2 :").await;
    check(&mut a, "AWAY :lunch", " 306 alice ").await;
    check(&mut a, "AWAY", " 305 alice ").await;
    check(&mut a, "MOTD", " 372 alice :- be kind").await;
    check(&mut a, "LUSERS", " 251 alice ").await;
    check(&mut a, "VERSION", " 351 alice natterd-").await;
    check(&mut a, "OPER x y", " 491 alice ").await;
    // A new room: JOIN makes it, with alice its owner.
    check(&mut a, "JOIN #fresh", " 353 alice = #fresh :~alice").await;
    check(
        &mut a,
        "TOPIC #fresh :fresh topic",
        ":alice!alice@natter TOPIC #fresh :fresh topic",
    )
    .await;
    check(&mut a, "INVITE bob #fresh", " 341 alice bob #fresh").await;
    check(&mut a, "PART #fresh", ":alice!alice@natter PART #fresh").await;
    a.send("QUIT :done").await;
    assert_eq!(
        a.until(|l| l.starts_with("ERROR")).await,
        "ERROR :Closing link: Quit: done"
    );
}

#[tokio::test]
async fn bad_input_gets_numerics_and_disturbs_nobody() {
    let s = server(&["alice", "bob"]).await;
    let mut a = Irc::pass(&s, "alice").await;
    let mut b = Irc::pass(&s, "bob").await;
    a.until_numeric("366").await;
    b.until_numeric("366").await;
    // Too long, then a normal line.
    let mut long = vec![b'X'; 20_000];
    long.extend_from_slice(b"\r\n");
    a.send_raw(&long).await;
    a.until_numeric("417").await;
    // Bad UTF-8 is replaced, never fatal.
    a.send_raw(b"PRIVMSG #general :caf\xe9 ok\r\n").await;
    let got = b.until(|l| l.contains(" ok")).await;
    assert!(got.ends_with(":caf\u{fffd} ok"), "{got}");
    // Junk of every shape.
    for junk in [
        &b"\r\n"[..],
        b"@\r\n",
        b":\r\n",
        b"@a=b;c\r\n",
        b": PRIVMSG\r\n",
        b"\0\0\0\r\n",
        b"CAP\r\n",
        b"CAP REQ\r\n",
        b"MODE #general +oooo\r\n",
        b"CHATHISTORY\r\n",
        b"CHATHISTORY TARGETS\r\n",
        b"MARKREAD\r\n",
        b"TAGMSG\r\n",
        b"AUTHENTICATE\r\n",
        b"\n\n\n",
    ] {
        a.send_raw(junk).await;
    }
    a.sync("still").await;
    // Forged lines cannot come out of a message.
    a.send("PRIVMSG #general :one\rQUIT :two").await;
    let got = b.until(|l| l.contains("one")).await;
    assert!(got.ends_with(":one QUIT :two"), "{got}");
    b.sync("b-fine").await;
}

#[tokio::test]
async fn a_flood_is_slowed_not_dropped() {
    let s = TestServer::start(&["alice", "bob"], |c| {
        c.irc.listen = "127.0.0.1:0".into();
        c.limits.requests_per_sec = 40.0;
        c.limits.request_burst = 5.0;
    })
    .await;
    let mut bob = s.login("bob").await;
    let mut a = Irc::pass(&s, "alice").await;
    a.until_numeric("366").await;
    let mut lines = Vec::new();
    for i in 0..30 {
        lines.extend_from_slice(format!("PRIVMSG #general :flood {i}\r\n").as_bytes());
    }
    a.send_raw(&lines).await;
    bob.event_where(|e| matches!(e, Event::Message(m) if m.body == "flood 29"))
        .await;
    // Still connected: the flood was paced (a fakelag), not refused.
    a.sync("alive").await;
}

#[tokio::test]
async fn the_shortest_password_is_a_setting() {
    let s = TestServer::start(&["alice"], |c| {
        c.limits.min_password_len = 12;
        c.open_registration = true;
    })
    .await;
    let mut c = Client::connect(s.addr).await;
    c.hello().await;
    let err = c
        .request(Request::Register {
            user: "carol".into(),
            password: natter_shared::Secret("eleven-char".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, natter_shared::ErrorCode::Invalid);
    assert!(err.message.contains("at least 12"), "{}", err.message);
    let err = natter_server::admin::add_user_min(&s.data_dir, "dave", "short-one", false, 12)
        .unwrap_err();
    assert!(err.to_string().contains("at least 12"), "{err}");
    natter_server::admin::add_user_min(&s.data_dir, "dave", "long-enough-pw", false, 12).unwrap();
}

/// The `irc_line` fuzz target's checks on its committed seeds and on any
/// saved finding (`server/fuzz/regressions/irc_line/`).
#[test]
fn the_irc_line_fuzz_corpus_and_findings_pass() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = inputs::inputs(&fuzz.join("corpus/irc_line"));
    assert!(!files.is_empty());
    let found = fuzz.join("regressions/irc_line");
    if found.is_dir() {
        files.extend(inputs::inputs(&found));
    }
    for f in files {
        irc_checks::check(&std::fs::read(&f).unwrap());
    }
    // And some shapes no seed has: a line over the limit, cut anywhere.
    let mut long = vec![b'x'; line_max() * 2];
    long.extend_from_slice(b"\r\nPING :1\r\n");
    for cut in [0u8, 1, 200, 255] {
        let mut data = vec![cut];
        data.extend_from_slice(&long);
        irc_checks::check(&data);
    }
}

fn line_max() -> usize {
    natter_server::front::irc::line::MAX_LINE
}

#[tokio::test]
async fn guests_take_free_nicks_stay_in_public_rooms_and_vanish() {
    let s = TestServer::start(&["alice", "bob"], |c| {
        c.irc.listen = "127.0.0.1:0".into();
        c.irc.guests = true;
        c.irc.guests_per_address = 2;
    })
    .await;
    let mut alice = s.login("alice").await;
    alice
        .request(Request::Create {
            room: "#staff".into(),
            private: true,
        })
        .await
        .unwrap();

    // An account's nick is not a guest's to take; another one is.
    let mut g = Irc::connect_from(&s, [127, 0, 0, 2]).await;
    g.send("NICK bob").await;
    g.send("USER bob 0 * :Bob").await;
    let taken = g.until_numeric("433").await;
    assert!(
        taken.last().unwrap().contains("log in if it is yours"),
        "{taken:?}"
    );
    g.send("NICK visitor").await;
    g.until_numeric("001").await;
    // In #general, as every newcomer is, and speaking there.
    g.until(|l| command_of(l) == "366" && l.contains("#general"))
        .await;
    g.send("PRIVMSG #general :hello, just visiting").await;
    let got = alice
        .event_where(|e| matches!(e, Event::Message(m) if m.body == "hello, just visiting"))
        .await;
    let Event::Message(m) = got else {
        unreachable!()
    };
    assert_eq!(m.from, "visitor");
    // natter shows the guest as one.
    let Ok(natter_shared::Response::Members { members, .. }) = alice
        .request(Request::Members {
            room: "#general".into(),
        })
        .await
    else {
        panic!("members")
    };
    let visitor = members.iter().find(|m| m.name == "visitor").unwrap();
    assert!(visitor.guest);
    assert!(!members.iter().find(|m| m.name == "alice").unwrap().guest);
    let Ok(natter_shared::Response::Whois(info)) = alice
        .request(Request::Whois {
            user: "visitor".into(),
        })
        .await
    else {
        panic!("whois")
    };
    assert!(info.guest);

    // Public rooms only: a private room and a missing one read alike (and
    // a guest makes no rooms); no direct conversations; no invitations.
    g.send("JOIN #staff").await;
    let private = g.until_numeric("403").await.pop().unwrap();
    g.send("JOIN #nowhere").await;
    let missing = g.until_numeric("403").await.pop().unwrap();
    assert_eq!(
        private.replace("#staff", "#x"),
        missing.replace("#nowhere", "#x")
    );
    g.send("PRIVMSG alice :psst").await;
    let refused = g.until_numeric("404").await.pop().unwrap();
    assert!(
        refused.contains("guests may only join public rooms"),
        "{refused}"
    );
    let e = alice
        .request(Request::Invite {
            room: "#staff".into(),
            user: "visitor".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, natter_shared::ErrorCode::Forbidden, "{e:?}");
    g.send("JOIN #lobby").await;
    g.until_numeric("403").await;
    alice
        .request(Request::Create {
            room: "#lobby".into(),
            private: false,
        })
        .await
        .unwrap();
    g.send("JOIN #lobby").await;
    g.until(|l| command_of(l) == "366" && l.contains("#lobby"))
        .await;

    // Two guests per address: the third is told why and closed.
    let _second = Irc::guest(&s, [127, 0, 0, 2], "visitor2").await;
    let mut third = Irc::connect_from(&s, [127, 0, 0, 2]).await;
    third.send("NICK visitor3").await;
    third.send("USER v 0 * :v").await;
    let error = third.until(|l| command_of(l) == "ERROR").await;
    assert!(error.contains("too many guests"), "{error}");
    let _other = Irc::guest(&s, [127, 0, 0, 3], "visitor3").await;

    // Gone when it leaves: its rooms see it go, what it said stays under
    // `visitor (guest)`, and the nick is free for the next one.
    g.send("QUIT :bye").await;
    alice
        .event_where(|e| matches!(e, Event::Left { user, .. } if user == "visitor"))
        .await;
    let Ok(natter_shared::Response::Messages { messages, .. }) = alice
        .request(Request::History {
            room: "#general".into(),
            query: natter_shared::HistoryQuery {
                limit: 10,
                ..Default::default()
            },
        })
        .await
    else {
        panic!("history")
    };
    let said = messages
        .iter()
        .find(|m| m.body == "hello, just visiting")
        .unwrap();
    assert_eq!(said.from, "visitor (guest)");
    let e = alice
        .request(Request::Whois {
            user: "visitor".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, natter_shared::ErrorCode::NoSuchUser);
    let _again = Irc::guest(&s, [127, 0, 0, 4], "visitor").await;
}

#[tokio::test]
async fn without_guests_a_client_with_no_account_is_told_how_to_log_in() {
    let s = server(&["alice"]).await;
    let mut c = Irc::connect(&s).await;
    c.send("NICK stranger").await;
    c.send("USER stranger 0 * :S").await;
    let notice = c.until(|l| command_of(l) == "NOTICE").await;
    assert!(notice.contains("needs an account"), "{notice}");
    c.until_numeric("464").await;
    // Three wrong passwords end the connection, saying why.
    for _ in 0..3 {
        c.send("PASS alice:wrong-wrong").await;
        c.send("NICK alice").await;
    }
    let error = c.until(|l| command_of(l) == "ERROR").await;
    assert!(error.contains("too many wrong passwords"), "{error}");
    assert_eq!(c.line().await, None, "closed after the ERROR");
}

/// A file reaches IRC as a NOTICE: a signed link to the HTTP listener
/// when one runs (fetched here with curl), else how to fetch it with
/// natter. A link with a wrong signature finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_reach_irc_as_links_to_the_http_listener_or_as_a_notice() {
    let http_port = natter_server::testing::free_port();
    let s = TestServer::start(&["alice", "bob"], |c| {
        c.irc.listen = "127.0.0.1:0".into();
        c.http.listen = format!("127.0.0.1:{http_port}");
    })
    .await;
    let mut alice = s.login("alice").await;
    let mut bob = Irc::pass(&s, "bob").await;
    bob.until(|l| command_of(l) == "366").await;
    let content = b"build 812: every test passed\n".repeat(40);
    let file = common::upload(s.running.addr, &mut alice, "build log.txt", &content)
        .await
        .unwrap();
    alice
        .send_files("#general", "the log", vec![file.file])
        .await
        .unwrap();
    let notice = bob.until(|l| command_of(l) == "NOTICE").await;
    assert!(notice.contains("[file] build log.txt"), "{notice}");
    let url = notice
        .split(' ')
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("a link in {notice}"))
        .to_owned();
    assert!(
        url.starts_with(&format!(
            "http://127.0.0.1:{http_port}/files/{}/",
            file.file
        )),
        "{url}"
    );
    if natter_server::testing::have_tool("curl", &["--version"], "curl") {
        let fetch = |url: String| {
            let out = std::process::Command::new("curl")
                .args(["-sS", "-D", "-", "--max-time", "10", &url])
                .output()
                .unwrap();
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        };
        let got = tokio::task::spawn_blocking({
            let url = url.clone();
            move || fetch(url)
        })
        .await
        .unwrap();
        let (head, body) = got
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("an HTTP answer from {url}: {got:?}"));
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let head = head.to_ascii_lowercase();
        assert!(head.contains("content-disposition: attachment"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        assert_eq!(body.as_bytes(), &content[..]);
        // One wrong digit in the signature: nothing there.
        let sig_start = url.rfind('/').unwrap() - 32;
        let mut forged = url.clone().into_bytes();
        forged[sig_start] = if forged[sig_start] == b'0' {
            b'1'
        } else {
            b'0'
        };
        let got = tokio::task::spawn_blocking(move || fetch(String::from_utf8(forged).unwrap()))
            .await
            .unwrap();
        assert!(got.starts_with("HTTP/1.1 404"), "{got}");
    }

    // Without an HTTP listener, the notice says how to fetch it.
    let s = server(&["alice", "bob"]).await;
    let mut alice = s.login("alice").await;
    let mut bob = Irc::pass(&s, "bob").await;
    bob.until(|l| command_of(l) == "366").await;
    let file = common::upload(s.running.addr, &mut alice, "notes.txt", b"plain notes")
        .await
        .unwrap();
    alice
        .send_files("#general", "notes", vec![file.file])
        .await
        .unwrap();
    let notice = bob.until(|l| command_of(l) == "NOTICE").await;
    assert!(
        notice.ends_with(&format!("fetch it with: natter download {}", file.file)),
        "{notice}"
    );
}
