//! Replies an IRC client reads: numerics, the mapping of natter's error
//! codes onto them (or onto IRCv3 standard replies), labeled responses and
//! batches, and the lines several commands share (a room's names, a
//! `MARKREAD`).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use natter_shared::{ErrorCode, ErrorReply, Member, Response, Role};

use super::caps;
use super::line::{self, Out};
use super::translate::source;
use crate::Shared;
use crate::ops::{self, Caller};

/// A numeric reply to `nick` (`*` before registration).
#[must_use]
pub fn numeric(server: &str, nick: &str, code: &str) -> Out {
    Out::new(server, code).arg(if nick.is_empty() { "*" } else { nick })
}

/// The IRC prefix of a natter role: owner `~` (q), moderator `@` (o),
/// member `+` (v), as ISUPPORT's `PREFIX=(qov)~@+` says.
#[must_use]
pub fn prefix(role: Role) -> char {
    match role {
        Role::Owner => '~',
        Role::Moderator => '@',
        _ => '+',
    }
}

/// A fresh batch reference, unique in this server.
#[must_use]
pub fn batch_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("b{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `line` with one more tag in front.
#[must_use]
pub fn with_tag(line: &[u8], key: &str, value: &str) -> Bytes {
    let mut tag = String::with_capacity(key.len() + value.len() + 2);
    tag.push_str(key);
    if !value.is_empty() {
        tag.push('=');
        line::escape_into(&mut tag, value);
    }
    let mut out = BytesMut::with_capacity(line.len() + tag.len() + 2);
    if let Some(rest) = line.strip_prefix(b"@") {
        out.extend_from_slice(b"@");
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(b";");
        out.extend_from_slice(rest);
    } else {
        out.extend_from_slice(b"@");
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(line);
    }
    out.freeze()
}

/// Wraps `lines` in a batch of `kind` (with `params`) when the client has
/// `batch`; otherwise hands them back as they are.
#[must_use]
pub fn batch(
    server: &str,
    kind: &str,
    params: &[&str],
    label: Option<&str>,
    lines: Vec<Bytes>,
    bits: u32,
) -> Vec<Bytes> {
    if bits & caps::BATCH == 0 {
        return lines;
    }
    let id = batch_id();
    let mut start = Out::new(server, "BATCH").tag_opt("label", label);
    start = start.arg(&format!("+{id}")).arg(kind);
    for p in params {
        start = start.arg(p);
    }
    let mut out = Vec::with_capacity(lines.len() + 2);
    out.push(start.bytes());
    out.extend(lines.iter().map(|l| with_tag(l, "batch", &id)));
    out.push(Out::new(server, "BATCH").arg(&format!("-{id}")).bytes());
    out
}

/// The answer to a request that carried `label` (labeled-response): one
/// line gets the label, none becomes an `ACK`, several go in a
/// `labeled-response` batch.
#[must_use]
pub fn labeled(server: &str, label: Option<&str>, lines: Vec<Bytes>, bits: u32) -> Vec<Bytes> {
    let Some(label) = label.filter(|_| bits & caps::LABELED_RESPONSE != 0) else {
        return lines;
    };
    match lines.len() {
        0 => vec![Out::new(server, "ACK").tag("label", label).bytes()],
        1 => vec![with_tag(&lines[0], "label", label)],
        _ if bits & caps::BATCH != 0 => {
            batch(server, "labeled-response", &[], Some(label), lines, bits)
        }
        _ => {
            let mut lines = lines;
            lines[0] = with_tag(&lines[0], "label", label);
            lines
        }
    }
}

/// How a failed operation reads on IRC: the numeric RFC 2812 has for it,
/// or else a standard reply (`FAIL`) for clients with `standard-replies`
/// and a `NOTICE` for the rest.
#[must_use]
pub fn op_error(
    server: &str,
    nick: &str,
    command: &str,
    target: &str,
    err: &ErrorReply,
    bits: u32,
) -> Vec<Bytes> {
    let n = |code: &str| numeric(server, nick, code);
    let sending = matches!(command, "PRIVMSG" | "NOTICE" | "TAGMSG");
    let line = match &err.code {
        ErrorCode::NoSuchRoom if target.starts_with('#') => {
            if sending {
                n("404")
                    .arg(target)
                    .trailing("Cannot send to channel")
                    .bytes()
            } else {
                n("403").arg(target).trailing("No such channel").bytes()
            }
        }
        ErrorCode::NoSuchUser | ErrorCode::NoSuchRoom => {
            n("401").arg(target).trailing("No such nick").bytes()
        }
        ErrorCode::NotMember if sending => n("404")
            .arg(target)
            .trailing("Cannot send to channel")
            .bytes(),
        ErrorCode::NotMember => n("442")
            .arg(target)
            .trailing("You're not on that channel")
            .bytes(),
        ErrorCode::Banned => n("474")
            .arg(target)
            .trailing("Cannot join channel (you are banned)")
            .bytes(),
        ErrorCode::Forbidden if sending => n("404")
            .arg(target)
            .trailing(&format!("Cannot send to channel: {}", err.message))
            .bytes(),
        ErrorCode::Forbidden if target.starts_with('#') => n("482")
            .arg(target)
            .trailing(&format!("You're not a channel operator: {}", err.message))
            .bytes(),
        _ => return vec![fail(server, nick, command, target, err, bits)],
    };
    vec![line]
}

/// A standard reply `FAIL <command> <CODE> [target] :message`, or a
/// `NOTICE` for a client without `standard-replies`.
#[must_use]
pub fn fail(
    server: &str,
    nick: &str,
    command: &str,
    target: &str,
    err: &ErrorReply,
    bits: u32,
) -> Bytes {
    if bits & caps::STANDARD_REPLIES != 0 {
        let code = err.code.as_str().to_ascii_uppercase();
        let mut out = Out::new(server, "FAIL").arg(command).arg(&code);
        if !target.is_empty() {
            out = out.arg(target);
        }
        out.trailing(&err.message).bytes()
    } else {
        Out::new(server, "NOTICE")
            .arg(if nick.is_empty() { "*" } else { nick })
            .trailing(&format!("{command}: {}", err.message))
            .bytes()
    }
}

/// The names of a room (353, then 366). An outsider to a private room and
/// anyone asking about a missing one get the same: the end alone.
#[must_use]
pub fn names(shared: &Shared, caller: Caller, me: &str, room: &str, bits: u32) -> Vec<Bytes> {
    let server = shared.config().irc.server_name.clone();
    let mut out = Vec::new();
    if let Ok(Response::Members { members, .. }) = ops::rooms::members(shared, caller, room) {
        let hosts = bits & caps::USERHOST_IN_NAMES != 0;
        let mut words = String::new();
        let mut flush = |words: &mut String| {
            if !words.is_empty() {
                out.push(
                    numeric(&server, me, "353")
                        .arg("=")
                        .arg(room)
                        .trailing(words)
                        .bytes(),
                );
                words.clear();
            }
        };
        for m in &members {
            let name = name_word(m, hosts);
            if words.len() + name.len() > 380 {
                flush(&mut words);
            }
            if !words.is_empty() {
                words.push(' ');
            }
            words.push_str(&name);
        }
        flush(&mut words);
    }
    out.push(
        numeric(&server, me, "366")
            .arg(room)
            .trailing("End of /NAMES list")
            .bytes(),
    );
    out
}

fn name_word(m: &Member, hosts: bool) -> String {
    let mut s = String::with_capacity(m.name.len() * 2 + 10);
    s.push(prefix(m.role));
    if hosts {
        s.push_str(&source(&m.name));
    } else {
        s.push_str(&m.name);
    }
    s
}

/// Arriving in a room: the `JOIN`, its topic (332), its names.
#[must_use]
pub fn arrival(
    shared: &Shared,
    caller: Caller,
    me: &str,
    room: &str,
    topic: &str,
    bits: u32,
) -> Vec<Bytes> {
    let server = shared.config().irc.server_name.clone();
    let mut out = vec![Out::new(&source(me), "JOIN").arg(room).bytes()];
    if !topic.is_empty() {
        out.push(
            numeric(&server, me, "332")
                .arg(room)
                .trailing(topic)
                .bytes(),
        );
    }
    out.extend(names(shared, caller, me, room, bits));
    out
}

/// `MARKREAD <target> timestamp=...`, or `*` when nothing is read.
#[must_use]
pub fn markread(server: &str, target: &str, ts: Option<i64>) -> Bytes {
    let value = ts.map_or_else(
        || "*".to_owned(),
        |t| format!("timestamp={}", line::server_time(t)),
    );
    Out::new(server, "MARKREAD").arg(target).arg(&value).bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap().trim_end()
    }

    #[test]
    fn a_tag_goes_in_front_of_tagged_and_untagged_lines() {
        assert_eq!(
            text(&with_tag(b":s PONG s :x\r\n", "label", "a b")),
            "@label=a\\sb :s PONG s :x"
        );
        assert_eq!(
            text(&with_tag(b"@time=1 :s X\r\n", "batch", "b1")),
            "@batch=b1;time=1 :s X"
        );
    }

    #[test]
    fn labels_answer_with_ack_one_line_or_a_batch() {
        let bits = caps::LABELED_RESPONSE | caps::BATCH;
        let one = vec![Bytes::from_static(b":s 001 n :hi\r\n")];
        assert_eq!(
            text(&labeled("s", Some("L"), vec![], bits)[0]),
            "@label=L :s ACK"
        );
        assert_eq!(
            text(&labeled("s", Some("L"), one.clone(), bits)[0]),
            "@label=L :s 001 n :hi"
        );
        let two = labeled("s", Some("L"), [one.clone(), one.clone()].concat(), bits);
        assert_eq!(two.len(), 4);
        assert!(text(&two[0]).starts_with("@label=L :s BATCH +b"));
        assert!(text(&two[0]).ends_with(" labeled-response"));
        assert!(text(&two[1]).starts_with("@batch=b"));
        // Without the capability the label is not used.
        assert_eq!(labeled("s", Some("L"), one.clone(), 0), one);
    }

    #[test]
    fn errors_map_to_numerics_or_standard_replies() {
        let e = |code| ErrorReply::new(code, "why");
        let t = |v: Vec<Bytes>| text(&v[0]).to_owned();
        assert_eq!(
            t(op_error(
                "s",
                "n",
                "PRIVMSG",
                "#r",
                &e(ErrorCode::NotMember),
                0
            )),
            ":s 404 n #r :Cannot send to channel"
        );
        assert_eq!(
            t(op_error(
                "s",
                "n",
                "KICK",
                "#r",
                &e(ErrorCode::Forbidden),
                0
            )),
            ":s 482 n #r :You're not a channel operator: why"
        );
        assert_eq!(
            t(op_error(
                "s",
                "n",
                "PRIVMSG",
                "bob",
                &e(ErrorCode::NoSuchUser),
                0
            )),
            ":s 401 n bob :No such nick"
        );
        assert_eq!(
            t(op_error(
                "s",
                "n",
                "TOPIC",
                "#r",
                &e(ErrorCode::TooLong),
                caps::STANDARD_REPLIES
            )),
            ":s FAIL TOPIC TOO_LONG #r :why"
        );
        assert_eq!(
            t(op_error("s", "n", "TOPIC", "#r", &e(ErrorCode::TooLong), 0)),
            ":s NOTICE n :TOPIC: why"
        );
    }
}
