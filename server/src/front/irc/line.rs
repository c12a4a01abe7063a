//! IRC lines: reading them off the socket ([`LineCodec`]), parsing one
//! ([`Line::parse`], with IRCv3 message tags) and writing one
//! ([`Out`]). Nothing a peer sends makes parsing fail: a line too long is
//! reported and skipped, bad UTF-8 is replaced, and whatever is left
//! becomes a command the connection answers with the right numeric.

use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// The longest line read, tags included, without its CRLF (IRCv3: 4094
/// bytes of client tags plus the 512 of RFC 1459, rounded up to 8191).
pub const MAX_LINE: usize = 8191;

/// The most parameters a command takes (RFC 2812); more are folded into the
/// last.
const MAX_PARAMS: usize = 15;

/// What the codec hands out: a line, or word that one was too long (and
/// was skipped up to its end).
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    Line(BytesMut),
    TooLong,
}

/// Splits the byte stream at `\n` (a `\r` before it is dropped), at most
/// [`MAX_LINE`] bytes a line.
#[derive(Debug, Default)]
pub struct LineCodec {
    /// Discarding the rest of a line that was too long.
    skipping: bool,
    /// How far `buf` was searched for a newline already.
    searched: usize,
}

impl Decoder for LineCodec {
    type Item = Read;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Read>, std::io::Error> {
        loop {
            let newline = buf[self.searched..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|i| i + self.searched);
            match newline {
                Some(end) => {
                    self.searched = 0;
                    let mut line = buf.split_to(end + 1);
                    if self.skipping {
                        self.skipping = false;
                        continue;
                    }
                    line.truncate(end);
                    if line.last() == Some(&b'\r') {
                        line.truncate(end - 1);
                    }
                    if line.len() > MAX_LINE {
                        return Ok(Some(Read::TooLong));
                    }
                    return Ok(Some(Read::Line(line)));
                }
                None if buf.len() > MAX_LINE + 1 => {
                    // Too long already: drop what came, and the rest up to
                    // the next newline, and say so once.
                    buf.clear();
                    self.searched = 0;
                    if self.skipping {
                        return Ok(None);
                    }
                    self.skipping = true;
                    return Ok(Some(Read::TooLong));
                }
                None => {
                    self.searched = buf.len();
                    return Ok(None);
                }
            }
        }
    }
}

/// One parsed line from a client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Line {
    /// Tags, unescaped, in the order sent (`+` client tags included).
    pub tags: Vec<(String, String)>,
    /// The command, upper-cased (`PRIVMSG`, `CAP`, ...); empty when the
    /// line had none.
    pub command: String,
    pub params: Vec<String>,
}

impl Line {
    /// Parses a line (without its CRLF). Bad UTF-8 is replaced with U+FFFD;
    /// a source prefix from the client is ignored, as servers do.
    #[must_use]
    pub fn parse(raw: &[u8]) -> Line {
        let text = String::from_utf8_lossy(raw);
        let mut rest = text.trim_start_matches(' ');
        let mut line = Line::default();
        if let Some(tagged) = rest.strip_prefix('@') {
            let (tags, after) = tagged.split_once(' ').unwrap_or((tagged, ""));
            for tag in tags.split(';').filter(|t| !t.is_empty()) {
                let (key, value) = tag.split_once('=').unwrap_or((tag, ""));
                if key.is_empty() {
                    continue;
                }
                let value = unescape(value);
                // The last of a repeated key counts (IRCv3).
                if let Some(old) = line.tags.iter_mut().find(|(k, _)| k == key) {
                    old.1 = value;
                } else {
                    line.tags.push((key.to_owned(), value));
                }
            }
            rest = after.trim_start_matches(' ');
        }
        if rest.starts_with(':') {
            rest = rest
                .split_once(' ')
                .map_or("", |(_, after)| after)
                .trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        line.command = command.to_ascii_uppercase();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                line.params.push(trailing.to_owned());
                break;
            }
            if line.params.len() == MAX_PARAMS - 1 {
                line.params.push(rest.to_owned());
                break;
            }
            let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
            line.params.push(param.to_owned());
            rest = after;
        }
        line
    }

    /// The value of tag `key`, if sent.
    #[must_use]
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parameter `i`, or `""`.
    #[must_use]
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map_or("", String::as_str)
    }
}

/// Undoes IRCv3 tag value escaping (`\:` `\s` `\\` `\r` `\n`).
#[must_use]
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        // No line may hold a NUL, so no tag value does either: one that
        // came in is dropped, and can never be written back out.
        if c == '\0' {
            continue;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('\0') | None => {}
            Some(other) => out.push(other),
        }
    }
    out
}

/// Escapes a tag value for the wire.
pub fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\0' => {}
            c => out.push(c),
        }
    }
}

/// A line on its way out: `@tags :source COMMAND params :trailing\r\n`.
/// Parameters never hold a CR, LF or NUL (replaced by spaces), so nothing
/// a user types can forge a second line.
#[derive(Debug, Default)]
pub struct Out {
    tags: String,
    rest: String,
}

impl Out {
    /// A line from `source` (a server name or `nick!user@host`).
    #[must_use]
    pub fn new(source: &str, command: &str) -> Self {
        let mut rest = String::with_capacity(64);
        rest.push(':');
        rest.push_str(source);
        rest.push(' ');
        rest.push_str(command);
        Self {
            tags: String::new(),
            rest,
        }
    }

    /// A line without a source (`PING`, `ERROR`, `AUTHENTICATE`).
    #[must_use]
    pub fn bare(command: &str) -> Self {
        Self {
            tags: String::new(),
            rest: command.to_owned(),
        }
    }

    /// Adds a tag (a value of `""` writes the key alone).
    #[must_use]
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.push(if self.tags.is_empty() { '@' } else { ';' });
        self.tags.push_str(key);
        if !value.is_empty() {
            self.tags.push('=');
            escape_into(&mut self.tags, value);
        }
        self
    }

    /// Adds a tag when `value` is some.
    #[must_use]
    pub fn tag_opt(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.tag(key, v),
            None => self,
        }
    }

    /// Whether a tag is set already.
    #[must_use]
    pub fn has_tags(&self) -> bool {
        !self.tags.is_empty()
    }

    /// A middle parameter: never empty, never starting with `:`, no
    /// spaces (replaced by `_`).
    #[must_use]
    pub fn arg(mut self, value: &str) -> Self {
        self.rest.push(' ');
        if value.is_empty() {
            self.rest.push('*');
            return self;
        }
        for (i, c) in value.chars().enumerate() {
            self.rest.push(match c {
                ':' if i == 0 => '_',
                ' ' | '\r' | '\n' | '\0' => '_',
                c => c,
            });
        }
        self
    }

    /// The last parameter, always written with `:`.
    #[must_use]
    pub fn trailing(mut self, value: &str) -> Self {
        self.rest.push_str(" :");
        clean_into(&mut self.rest, value);
        self
    }

    /// The line's bytes with its CRLF.
    #[must_use]
    pub fn bytes(self) -> Bytes {
        let mut s = self.tags;
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&self.rest);
        s.push_str("\r\n");
        Bytes::from(s)
    }

    /// The line as text, without its CRLF (tests, logs).
    #[must_use]
    pub fn text(self) -> String {
        let b = self.bytes();
        String::from_utf8_lossy(&b[..b.len() - 2]).into_owned()
    }
}

/// Copies `value`, with CR, LF and NUL turned into spaces.
fn clean_into(out: &mut String, value: &str) {
    for c in value.chars() {
        out.push(match c {
            '\r' | '\n' | '\0' => ' ',
            c => c,
        });
    }
}

/// `2026-12-03T17:49:47.123Z` for a time in ms since the epoch (the
/// `server-time` format).
#[must_use]
pub fn server_time(ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let mut s = String::with_capacity(24);
    let _ = write!(s, "{}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
    s
}

/// Parses a `server-time` timestamp (as `CHATHISTORY` and `MARKREAD`
/// give them) into ms since the epoch.
#[must_use]
pub fn parse_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Splits a message body into pieces that fit an IRC line: at newlines,
/// and at char boundaries past `max` bytes. An empty body is one empty
/// piece.
pub fn pieces(body: &str, max: usize) -> impl Iterator<Item = &str> {
    body.split('\n').flat_map(move |line| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut rest = line;
        let mut first = true;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                if first {
                    first = false;
                    return Some("");
                }
                return None;
            }
            first = false;
            let mut end = rest.len().min(max);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            let (piece, after) = rest.split_at(end);
            rest = after;
            Some(piece)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Vec<Read> {
        let mut codec = LineCodec::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(r) = codec.decode(&mut buf).unwrap() {
            out.push(r);
        }
        out
    }

    #[test]
    fn lines_split_at_lf_with_or_without_cr() {
        let got = decode_all(b"NICK a\r\nUSER a 0 * :A\nPING");
        assert_eq!(
            got,
            vec![
                Read::Line(BytesMut::from(&b"NICK a"[..])),
                Read::Line(BytesMut::from(&b"USER a 0 * :A"[..])),
            ]
        );
    }

    #[test]
    fn a_line_too_long_is_reported_once_and_the_next_is_read() {
        let mut input = vec![b'x'; MAX_LINE * 3];
        input.extend_from_slice(b"\r\nPING :1\r\n");
        let mut codec = LineCodec::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        // Fed in small reads, as a socket would.
        for chunk in input.chunks(1000) {
            buf.extend_from_slice(chunk);
            while let Some(r) = codec.decode(&mut buf).unwrap() {
                out.push(r);
            }
        }
        assert_eq!(
            out,
            vec![Read::TooLong, Read::Line(BytesMut::from(&b"PING :1"[..]))]
        );
        // Exactly the limit is fine.
        let mut ok = vec![b'y'; MAX_LINE];
        ok.extend_from_slice(b"\r\n");
        assert!(matches!(&decode_all(&ok)[..], [Read::Line(l)] if l.len() == MAX_LINE));
    }

    #[test]
    fn tags_source_command_and_params() {
        let l =
            Line::parse(b"@label=a\\sb;+draft/reply=12;x :nick!u@h privmsg #room  :hello there ");
        assert_eq!(l.tag("label"), Some("a b"));
        assert_eq!(l.tag("+draft/reply"), Some("12"));
        assert_eq!(l.tag("x"), Some(""));
        assert_eq!(l.command, "PRIVMSG");
        assert_eq!(l.params, vec!["#room", "hello there "]);
        let l = Line::parse(b"USER a 0 * Real");
        assert_eq!(l.params, vec!["a", "0", "*", "Real"]);
        assert_eq!(Line::parse(b"").command, "");
        assert_eq!(Line::parse(b"@a=b").command, "");
        assert_eq!(Line::parse(b":only-source").command, "");
    }

    #[test]
    fn bad_utf8_is_replaced() {
        let l = Line::parse(b"PRIVMSG #r :caf\xe9!");
        assert_eq!(l.params[1], "caf\u{fffd}!");
    }

    #[test]
    fn more_than_fifteen_params_fold_into_the_last() {
        let raw = (0..20).map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
        let l = Line::parse(format!("CMD {raw}").as_bytes());
        assert_eq!(l.params.len(), 15);
        assert_eq!(l.params[14], "14 15 16 17 18 19");
    }

    #[test]
    fn escaping_round_trips() {
        let v = "a; b\\c\r\nd";
        let mut s = String::new();
        escape_into(&mut s, v);
        assert_eq!(s, "a\\:\\sb\\\\c\\r\\nd");
        assert_eq!(unescape(&s), v);
    }

    #[test]
    fn output_cannot_be_split_into_two_lines() {
        let text = Out::new("n!n@h", "PRIVMSG")
            .tag("msgid", "1 2")
            .arg(":#r x")
            .trailing("hi\r\nQUIT :x")
            .text();
        assert_eq!(text, "@msgid=1\\s2 :n!n@h PRIVMSG _#r_x :hi  QUIT :x");
    }

    #[test]
    fn bodies_split_at_newlines_and_length() {
        let v: Vec<_> = pieces("ab\r\n\ncdéf", 3).collect();
        assert_eq!(v, vec!["ab", "", "cd", "éf"]);
        assert_eq!(pieces("", 10).collect::<Vec<_>>(), vec![""]);
    }

    #[test]
    fn times_round_trip() {
        let s = server_time(1_764_784_187_123);
        assert_eq!(s, "2025-12-03T17:49:47.123Z");
        assert_eq!(parse_time(&s), Some(1_764_784_187_123));
        assert_eq!(parse_time("yesterday"), None);
    }
}
