//! The `irc_line` target: natterd's IRC line codec, parser and writer
//! (`natter_server::front::irc::line`) on arbitrary bytes. Whatever comes
//! in, nothing panics; the codec never hands out a line over `MAX_LINE`;
//! a parsed command is upper case and has at most 15 parameters; tag
//! escaping round-trips; and a line written from any parsed text is one
//! line, ending in its only CRLF. Replayed by `server/tests/irc.rs`.

use bytes::BytesMut;
use natter_server::front::irc::line::{self, Line, LineCodec, MAX_LINE, Out, Read};
use tokio_util::codec::Decoder;

/// Runs every check on `data`.
pub fn check(data: &[u8]) {
    // The stream, split where the first byte says (as reads would split
    // it), then the rest in one piece.
    let cut = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let mut codec = LineCodec::default();
    let mut buf = BytesMut::new();
    for piece in [&data[..cut], &data[cut..]] {
        buf.extend_from_slice(piece);
        while let Some(read) = codec.decode(&mut buf).expect("the codec never fails") {
            if let Read::Line(raw) = read {
                assert!(raw.len() <= MAX_LINE);
                parsed(&raw);
            }
        }
    }
    parsed(data);
}

fn parsed(raw: &[u8]) {
    let l = Line::parse(raw);
    assert!(l.params.len() <= 15);
    assert_eq!(l.command, l.command.to_ascii_uppercase());
    for (_, value) in &l.tags {
        let mut escaped = String::new();
        line::escape_into(&mut escaped, value);
        assert_eq!(&line::unescape(&escaped), value);
    }
    // The server writes its own tag keys, with values from anywhere.
    let mut out = Out::new("natterd", "PRIVMSG");
    for (_, v) in &l.tags {
        out = out.tag("+draft/react", v);
    }
    for p in &l.params {
        out = out.arg(p);
    }
    let text = out.trailing(l.param(0)).bytes();
    assert!(text.ends_with(b"\r\n"));
    let body = &text[..text.len() - 2];
    assert!(!body.contains(&b'\r') && !body.contains(&b'\n') && !body.contains(&0));
}
