//! The two protocols the generator speaks, behind one connection type, so
//! the same scenario code with the same payloads drives natterd and an IRC
//! server (ngircd) alike.
//!
//! - natter: length-prefixed MessagePack through `natter-shared`'s codec;
//!   a bench user logs in by token, and every `Send` is acknowledged by a
//!   `Sent` once the server has stored it.
//! - IRC: CRLF lines. Registration with NICK/USER (after `PASS user:token`
//!   against natterd's IRC front end), JOIN per room; senders
//!   become operators and set user mode `+F` so the server does not throttle
//!   them. IRC has no per-message acknowledgement, so a sender ends each
//!   write with `PING :n` and counts the matching `PONG` as `n` acks: the
//!   server answers it only after it has handled (and fanned out) the `n`
//!   messages before it.
//!
//! The receive path is the generator's hot path (millions of deliveries a
//! second): [`Reader::read`] hands out borrowed bodies without allocating.

use std::io;

use anyhow::{Context, bail};
use bytes::{Buf, BytesMut};
use natter_shared::{
    ClientFrame, Credential, FrameCodec, PROTOCOL_VERSION, ReactOp, Request, Response, ServerFrame,
    decode_server,
};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{Decoder, Encoder};

use crate::provision;

/// Which protocol a target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Proto {
    Natter,
    Irc,
}

impl Proto {
    /// Whether a sender receives its own messages back (natter does; IRC
    /// does not echo a PRIVMSG to its author).
    #[must_use]
    pub fn echoes_own(self) -> bool {
        self == Proto::Natter
    }

    /// Appends one chat message to `buf`, ready to write. `id` is the
    /// request id (natter only).
    pub fn encode_send(self, buf: &mut BytesMut, id: u64, room: &str, body: &str) {
        match self {
            Proto::Natter => {
                let frame = ClientFrame {
                    id,
                    req: Request::Send {
                        room: room.into(),
                        body: body.into(),
                        action: false,
                        nonce: None,
                        reply_to: None,
                        thread: None,
                        attention: false,
                        files: Vec::new(),
                    },
                };
                // A bench payload is far below the frame cap.
                FrameCodec::default()
                    .encode(&frame, buf)
                    .expect("a bench message fits in a frame");
            }
            Proto::Irc => {
                buf.extend_from_slice(b"PRIVMSG ");
                buf.extend_from_slice(room.as_bytes());
                buf.extend_from_slice(b" :");
                buf.extend_from_slice(body.as_bytes());
                buf.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Appends one reaction (natter only): `key` put on (`on`) or taken
    /// off message `message`. `id` is the request id.
    pub fn encode_react(
        self,
        buf: &mut BytesMut,
        id: u64,
        room: &str,
        message: u64,
        key: &str,
        on: bool,
    ) {
        let frame = ClientFrame {
            id,
            req: Request::React {
                room: room.into(),
                id: message,
                key: key.into(),
                op: if on { ReactOp::Add } else { ReactOp::Remove },
            },
        };
        FrameCodec::default()
            .encode(&frame, buf)
            .expect("a bench reaction fits in a frame");
    }

    /// Appends what makes the server acknowledge the `n` messages before
    /// it: nothing on natter (each `Send` is acknowledged), `PING :n` on IRC.
    pub fn encode_ack_marker(self, buf: &mut BytesMut, n: usize) {
        if self == Proto::Irc {
            buf.extend_from_slice(format!("PING :{n}\r\n").as_bytes());
        }
    }
}

/// Where the generator connects, and how.
#[derive(Debug, Clone)]
pub struct Target {
    pub proto: Proto,
    pub addr: String,
    /// IRC operator name and password for senders (`OPER`), so they can
    /// set `+F` and are not throttled.
    pub oper: Option<(String, String)>,
    /// IRC: log in with `PASS user:token`, the bench token of a
    /// provisioned data dir (natterd's IRC front end, which has accounts;
    /// ngircd has none).
    pub irc_token: bool,
}

/// Something read from the server.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A chat message's body.
    Message(&'a str),
    /// A reaction event: its key, and whether it was put on or taken off.
    Reaction { key: &'a str, on: bool },
    /// The server acknowledged this many sends.
    Acked(usize),
    /// The server refused a request.
    Refused(String),
    /// Anything else (presence, typing, counts, numerics).
    Other,
}

/// The read half of a connection with its buffer.
pub struct Reader {
    proto: Proto,
    sock: OwnedReadHalf,
    buf: BytesMut,
    codec: FrameCodec,
}

/// The write half of a connection.
pub struct Writer {
    pub proto: Proto,
    pub sock: OwnedWriteHalf,
    pub buf: BytesMut,
}

impl Writer {
    /// Writes out and clears the buffer.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.sock.write_all(&self.buf).await?;
        self.buf.clear();
        Ok(())
    }
}

// Borrowing mirrors of the one server frame the hot path cares about: a
// message event decodes without allocating. Anything else fails to match
// and takes the full decode.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum FrameRef<'a> {
    #[serde(borrow)]
    Event(EventRef<'a>),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum EventRef<'a> {
    #[serde(borrow)]
    Message(MessageRef<'a>),
}

#[derive(Deserialize)]
struct MessageRef<'a> {
    #[serde(borrow)]
    body: &'a str,
}

/// `{"event": {"message": {` in natter's named MessagePack encoding.
const MESSAGE_EVENT: &[u8] = b"\x81\xa5event\x81\xa7message";

/// The body of a message event, read straight off the MessagePack bytes:
/// walks the message map's keys, skipping the scalar values a message has.
/// Anything unexpected returns `None` and takes the serde path, so this
/// only decides how fast a frame is read, never what it means. At millions
/// of deliveries a second the generator's core is the limit, and serde
/// (even borrowing) costs several times this.
fn fast_message_body(payload: &[u8]) -> Option<&str> {
    let rest = payload.strip_prefix(MESSAGE_EVENT)?;
    let (&head, mut rest) = rest.split_first()?;
    if head & 0xf0 != 0x80 {
        return None;
    }
    for _ in 0..(head & 0x0f) {
        let (key, after) = str_at(rest)?;
        rest = after;
        if key == b"body" {
            return std::str::from_utf8(str_at(rest)?.0).ok();
        }
        rest = skip_scalar(rest)?;
    }
    None
}

/// `{"event": {"reaction": {` in natter's named MessagePack encoding.
const REACTION_EVENT: &[u8] = b"\x81\xa5event\x81\xa8reaction";

/// The key and `on` of a reaction event, read off the bytes like
/// [`fast_message_body`]: a reaction fans out like a message, so the
/// generator must read it as cheaply. `None` takes the serde path.
fn fast_reaction(payload: &[u8]) -> Option<(&str, bool)> {
    let rest = payload.strip_prefix(REACTION_EVENT)?;
    let (&head, mut rest) = rest.split_first()?;
    if head & 0xf0 != 0x80 {
        return None;
    }
    let (mut key, mut on) = (None, None);
    for _ in 0..(head & 0x0f) {
        let (name, after) = str_at(rest)?;
        rest = after;
        match name {
            b"key" => {
                let (k, after) = str_at(rest)?;
                key = Some(std::str::from_utf8(k).ok()?);
                rest = after;
            }
            b"on" => {
                on = Some(match rest.first()? {
                    0xc3 => true,
                    0xc2 => false,
                    _ => return None,
                });
                rest = skip_scalar(rest)?;
            }
            _ => rest = skip_scalar(rest)?,
        }
    }
    Some((key?, on?))
}

/// A fixstr, str8 or str16 at the start of `b`, and what follows it.
fn str_at(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = b.split_first()?;
    let (len, rest) = match t {
        0xa0..=0xbf => (usize::from(t & 0x1f), rest),
        0xd9 => (usize::from(*rest.first()?), rest.get(1..)?),
        0xda => (
            usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?])),
            rest.get(2..)?,
        ),
        _ => return None,
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// Skips one integer, bool, nil or string value.
fn skip_scalar(b: &[u8]) -> Option<&[u8]> {
    let t = *b.first()?;
    let size = match t {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 1,
        0xcc | 0xd0 => 2,
        0xcd | 0xd1 => 3,
        0xce | 0xd2 => 5,
        0xcf | 0xd3 => 9,
        0xa0..=0xbf | 0xd9 | 0xda => return str_at(b).map(|(_, rest)| rest),
        _ => return None,
    };
    b.get(size..)
}

fn classify_natter(payload: &[u8]) -> Incoming<'_> {
    if let Some(body) = fast_message_body(payload) {
        return Incoming::Message(body);
    }
    if let Some((key, on)) = fast_reaction(payload) {
        return Incoming::Reaction { key, on };
    }
    if let Ok(FrameRef::Event(EventRef::Message(m))) = rmp_serde::from_slice::<FrameRef>(payload) {
        return Incoming::Message(m.body);
    }

    match decode_server(payload) {
        Ok(ServerFrame::Ok {
            res: Response::Sent { .. } | Response::Reacted { .. },
            ..
        }) => Incoming::Acked(1),
        Ok(ServerFrame::Err { err, .. }) => Incoming::Refused(err.to_string()),
        _ => Incoming::Other,
    }
}

fn classify_irc(line: &[u8]) -> Incoming<'_> {
    let Ok(line) = std::str::from_utf8(line) else {
        return Incoming::Other;
    };
    // ":prefix COMMAND params :trailing"
    let rest = line
        .strip_prefix(':')
        .map_or(line, |l| l.split_once(' ').map_or("", |(_, rest)| rest));
    let (cmd, params) = rest.split_once(' ').unwrap_or((rest, ""));
    match cmd {
        "PRIVMSG" => params
            .split_once(" :")
            .map_or(Incoming::Other, |(_, body)| Incoming::Message(body)),
        "PONG" => params
            .rsplit_once(':')
            .and_then(|(_, n)| n.parse().ok())
            .map_or(Incoming::Other, Incoming::Acked),
        // 422 (no MOTD) is an error numeric that refuses nothing.
        c if c.len() == 3 && (c.starts_with('4') || c.starts_with('5')) && c != "422" => {
            Incoming::Refused(line.to_owned())
        }
        "ERROR" => Incoming::Refused(line.to_owned()),
        _ => Incoming::Other,
    }
}

impl Reader {
    /// Reads what the socket has (one `read`, cancel-safe). Returns false
    /// at end of stream.
    pub async fn fill(&mut self) -> io::Result<bool> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        Ok(self.sock.read_buf(&mut self.buf).await? != 0)
    }

    /// Hands every complete frame or line buffered to `f`.
    pub fn drain(&mut self, mut f: impl FnMut(Incoming<'_>)) -> anyhow::Result<()> {
        match self.proto {
            Proto::Natter => {
                while let Some(payload) = self.codec.decode(&mut self.buf)? {
                    f(classify_natter(&payload));
                }
            }
            Proto::Irc => {
                let mut start = 0;
                while let Some(n) = self.buf[start..].iter().position(|&b| b == b'\n') {
                    let line = &self.buf[start..start + n];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    f(classify_irc(line));
                    start += n + 1;
                }
                self.buf.advance(start);
            }
        }
        Ok(())
    }

    /// Reads until `want` accepts a raw line or frame, failing on a refusal
    /// or the end of the stream. Only for setup, not the hot path.
    async fn until(&mut self, mut want: impl FnMut(&RawItem) -> bool) -> anyhow::Result<()> {
        loop {
            if let Some(done) = self.take_raw(&mut want)? {
                return done;
            }
            if self.sock.read_buf(&mut self.buf).await? == 0 {
                bail!("the server closed the connection");
            }
        }
    }

    /// Consumes buffered items until one satisfies `want`: `Some(Ok)` on a
    /// match, `Some(Err)` on a refusal, `None` when more must be read.
    fn take_raw(
        &mut self,
        want: &mut impl FnMut(&RawItem) -> bool,
    ) -> anyhow::Result<Option<anyhow::Result<()>>> {
        loop {
            let item = match self.proto {
                Proto::Natter => match self.codec.decode(&mut self.buf)? {
                    Some(p) => RawItem::Frame(Box::new(decode_server(&p)?)),
                    None => return Ok(None),
                },
                Proto::Irc => {
                    let Some(n) = self.buf.iter().position(|&b| b == b'\n') else {
                        return Ok(None);
                    };
                    let line = self.buf.split_to(n + 1);
                    let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                    RawItem::Line(text)
                }
            };
            if want(&item) {
                return Ok(Some(Ok(())));
            }
            match &item {
                RawItem::Frame(frame) if let ServerFrame::Err { err, .. } = &**frame => {
                    return Ok(Some(Err(anyhow::anyhow!("refused: {err}"))));
                }
                RawItem::Line(l) if matches!(classify_irc(l.as_bytes()), Incoming::Refused(_)) => {
                    return Ok(Some(Err(anyhow::anyhow!("refused: {l}"))));
                }
                _ => {}
            }
        }
    }
}

/// A frame or line read during setup (frames boxed: a frame is large
/// beside a line).
enum RawItem {
    Frame(Box<ServerFrame>),
    Line(String),
}

/// A connected, logged-in member of `rooms`.
pub struct Member {
    pub reader: Reader,
    pub writer: Writer,
}

impl Member {
    /// Splits off a blocking std socket for writing, for senders that keep
    /// a precise schedule on a thread of their own (tokio's timers tick in
    /// whole milliseconds). The reader stays async; the returned write half
    /// must be kept alive, since dropping it would shut the socket's write
    /// side. The std socket shares the non-blocking flag, so its writer must
    /// retry on `WouldBlock`.
    pub fn split_for_thread(self) -> anyhow::Result<(Reader, OwnedWriteHalf, std::net::TcpStream)> {
        let Member { mut reader, writer } = self;
        let std = reader.sock.reunite(writer.sock)?.into_std()?;
        let blocking = std.try_clone()?;
        let (r, w) = TcpStream::from_std(std)?.into_split();
        reader.sock = r;
        Ok((reader, w, blocking))
    }
}

/// Connects bench user `user` to `target`, logs in (or registers) and makes
/// sure it is in every room of `rooms` (joining on IRC; on natter the
/// provisioned memberships are checked). A `sender` on IRC also becomes an
/// operator with mode `+F`.
pub async fn connect(
    target: &Target,
    user: usize,
    rooms: &[String],
    sender: bool,
) -> anyhow::Result<Member> {
    let mut m = open(target).await?;
    m.setup(target, user, rooms, sender).await?;
    Ok(m)
}

/// Opens the TCP connection only.
pub async fn open(target: &Target) -> anyhow::Result<Member> {
    let stream = TcpStream::connect(&target.addr)
        .await
        .with_context(|| format!("cannot connect to {}", target.addr))?;
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    Ok(Member {
        reader: Reader {
            proto: target.proto,
            sock: r,
            buf: BytesMut::with_capacity(4096),
            codec: FrameCodec::default(),
        },
        writer: Writer {
            proto: target.proto,
            sock: w,
            buf: BytesMut::new(),
        },
    })
}

impl Member {
    /// Logs in or registers an [`open`]ed connection; see [`connect`].
    pub async fn setup(
        &mut self,
        target: &Target,
        user: usize,
        rooms: &[String],
        sender: bool,
    ) -> anyhow::Result<()> {
        let name = provision::user(user);
        match target.proto {
            Proto::Natter => natter_login(self, &name, rooms).await?,
            Proto::Irc => irc_register(self, &name, rooms, sender, target).await?,
        }
        self.writer.buf.clear();
        Ok(())
    }
}

/// Sends a natter request and waits for its reply.
pub async fn ask(m: &mut Member, id: u64, req: Request) -> anyhow::Result<Response> {
    FrameCodec::default().encode(&ClientFrame { id, req }, &mut m.writer.buf)?;
    m.writer.flush().await?;
    let mut res = None;
    m.reader
        .until(|item| match item {
            RawItem::Frame(frame) => match &**frame {
                ServerFrame::Ok { id: r, res: got } if *r == id => {
                    res = Some(got.clone());
                    true
                }
                _ => false,
            },
            RawItem::Line(_) => false,
        })
        .await?;
    res.context("no reply")
}

async fn natter_login(m: &mut Member, name: &str, rooms: &[String]) -> anyhow::Result<()> {
    let hello = Request::Hello {
        compression: Vec::new(),
        protocol: PROTOCOL_VERSION,
        client: "natter-load".into(),
        client_version: env!("CARGO_PKG_VERSION").into(),
    };
    ask(m, 1, hello).await?;
    let login = Request::Login {
        credential: Credential::Token(provision::token(name)),
        user: name.to_owned(),
        presence: None,
    };
    match ask(m, 2, login).await? {
        Response::Session(info) => {
            for room in rooms {
                if !info.rooms.iter().any(|r| r.name == *room) {
                    bail!("{name} is not in {room}: provision the data dir for this scenario");
                }
            }
            Ok(())
        }
        other => bail!("unexpected login reply {other:?}"),
    }
}

async fn irc_register(
    m: &mut Member,
    name: &str,
    rooms: &[String],
    sender: bool,
    target: &Target,
) -> anyhow::Result<()> {
    if target.irc_token {
        let pass = format!("PASS {name}:{}\r\n", provision::token(name));
        m.writer.buf.extend_from_slice(pass.as_bytes());
    }
    m.writer
        .buf
        .extend_from_slice(format!("NICK {name}\r\nUSER {name} 0 * :{name}\r\n").as_bytes());
    m.writer.flush().await?;
    m.reader.until(|i| numeric(i, "001")).await?;
    for room in rooms {
        m.writer
            .buf
            .extend_from_slice(format!("JOIN {room}\r\n").as_bytes());
        m.writer.flush().await?;
        m.reader.until(|i| numeric(i, "366")).await?;
    }
    if sender && let Some((user, pass)) = &target.oper {
        m.writer
            .buf
            .extend_from_slice(format!("OPER {user} {pass}\r\nMODE {name} +F\r\n").as_bytes());
        m.writer.flush().await?;
        m.reader.until(|i| numeric(i, "381")).await?;
        m.reader
            .until(|i| matches!(i, RawItem::Line(l) if l.contains(" MODE ") && l.contains('F')))
            .await?;
    }
    Ok(())
}

fn numeric(item: &RawItem, code: &str) -> bool {
    matches!(item, RawItem::Line(l) if l.split(' ').nth(1) == Some(code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_shared::{Event, Message};

    #[test]
    fn a_reaction_is_read_without_the_full_decode() {
        for on in [true, false] {
            let frame = ServerFrame::Event(Event::Reaction {
                room: "#bench".into(),
                id: u64::MAX / 5,
                key: ":r12:".into(),
                user: "u12".into(),
                on,
                rev: 1 << 40,
            });
            let bytes = natter_shared::encode(&frame).unwrap();
            assert_eq!(fast_reaction(&bytes[4..]), Some((":r12:", on)));
            assert!(matches!(
                classify_natter(&bytes[4..]),
                Incoming::Reaction { key: ":r12:", on: o } if o == on
            ));
            assert_eq!(fast_reaction(&bytes[4..bytes.len() - 3]), None);
        }
        let reacted = ServerFrame::Ok {
            id: 9,
            res: Response::Reacted { on: true },
        };
        let bytes = natter_shared::encode(&reacted).unwrap();
        assert!(matches!(classify_natter(&bytes[4..]), Incoming::Acked(1)));
    }

    #[test]
    fn a_natter_message_is_read_without_the_full_decode() {
        let frame = ServerFrame::Event(Event::Message(Message {
            id: 7,
            ts: 1,
            room: "#bench".into(),
            from: "u1".into(),
            body: "L 1 2 3".into(),
            action: false,
            nonce: None,
            ..Default::default()
        }));
        let bytes = natter_shared::encode(&frame).unwrap();
        assert_eq!(fast_message_body(&bytes[4..]), Some("L 1 2 3"));
        assert!(matches!(
            classify_natter(&bytes[4..]),
            Incoming::Message("L 1 2 3")
        ));
        // Large ids, a long body: still the fast path, still exact.
        let long = "L 9 9 9 ".to_owned() + &"y".repeat(300);
        let frame = ServerFrame::Event(Event::Message(Message {
            id: u64::MAX / 3,
            ts: -5,
            room: "#bench".into(),
            from: "u1".into(),
            body: long.clone(),
            action: true,
            nonce: None,
            ..Default::default()
        }));
        let bytes = natter_shared::encode(&frame).unwrap();
        assert_eq!(fast_message_body(&bytes[4..]), Some(long.as_str()));
        // A cut frame is not misread.
        assert_eq!(fast_message_body(&bytes[4..bytes.len() - 10]), None);

        let sent = ServerFrame::Ok {
            id: 3,
            res: Response::Sent {
                room: "#bench".into(),
                id: 8,
                ts: 2,
                nonce: None,
            },
        };
        let bytes = natter_shared::encode(&sent).unwrap();
        assert!(matches!(classify_natter(&bytes[4..]), Incoming::Acked(1)));
    }

    #[test]
    fn irc_lines_are_classified() {
        assert!(matches!(
            classify_irc(b":u1!u1@localhost PRIVMSG #bench :L 1 2 3 xx"),
            Incoming::Message("L 1 2 3 xx")
        ));
        assert!(matches!(
            classify_irc(b":irc.bench PONG irc.bench :16"),
            Incoming::Acked(16)
        ));
        assert!(matches!(
            classify_irc(b":irc.bench 464 u1 :Invalid password"),
            Incoming::Refused(_)
        ));
        assert!(matches!(
            classify_irc(b":irc.bench 353 u1 = #bench :u1 u2"),
            Incoming::Other
        ));
    }
}
