//! How a message is written as text: the `tail` line format and its JSON
//! form. Pure functions of the message (and a time zone), so they are tested
//! without a terminal or a server.

use chrono::{DateTime, TimeZone};
use natter_shared::Message;
use serde::Serialize;

/// One `tail` line: `HH:MM <nick> text`, or `HH:MM * nick text` for an
/// action (`/me`). Continuation lines of a multi-line body are indented to
/// the text column. What [`natter_shared::text::is_unsafe`] names (control
/// characters, bidi overrides and isolates), newline and tab aside, is
/// replaced, so a message can neither drive the reader's terminal nor
/// reorder what it shows.
#[must_use]
pub fn plain_line<Tz: TimeZone>(msg: &Message, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let time = DateTime::from_timestamp_millis(msg.ts).map_or_else(
        || "--:--".to_owned(),
        |t| t.with_timezone(tz).format("%H:%M").to_string(),
    );
    let mut out = if msg.action {
        format!("{time} * {} ", msg.from)
    } else {
        format!("{time} <{}> ", msg.from)
    };
    let body = sanitize(&msg.body);
    let mut lines = body.split('\n');
    out.push_str(lines.next().unwrap_or_default());
    for line in lines {
        out.push('\n');
        out.push_str("      ");
        out.push_str(line);
    }
    out
}

/// The `--json` form: exactly `id`, `ts` (milliseconds since the epoch),
/// `room`, `from`, `body` and `action` (true for `/me`), in that order, on
/// one line. The body is exact: JSON's escapes keep it safe.
#[must_use]
pub fn json_line(msg: &Message) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        id: u64,
        ts: i64,
        room: &'a str,
        from: &'a str,
        body: &'a str,
        action: bool,
    }
    serde_json::to_string(&Line {
        id: msg.id,
        ts: msg.ts,
        room: &msg.room,
        from: &msg.from,
        body: &msg.body,
        action: msg.action,
    })
    // Serialising strings and integers into a String cannot fail.
    .unwrap_or_default()
}

fn sanitize(body: &str) -> String {
    body.trim_end_matches(['\r', '\n'])
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c if natter_shared::text::is_unsafe(c) => '\u{fffd}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{FixedOffset, Utc};

    use super::*;

    fn msg(body: &str, action: bool) -> Message {
        Message {
            id: 42,
            // 2024-05-06 07:08:09 UTC
            ts: 1_714_979_289_000,
            room: "#general".into(),
            from: "alice".into(),
            body: body.into(),
            action,
            nonce: None,
            ..Default::default()
        }
    }

    #[test]
    fn plain_lines() {
        assert_eq!(
            plain_line(&msg("hello", false), &Utc),
            "07:08 <alice> hello"
        );
        assert_eq!(plain_line(&msg("waves", true), &Utc), "07:08 * alice waves");
        let tz = FixedOffset::east_opt(2 * 3600).unwrap();
        assert_eq!(plain_line(&msg("hi", false), &tz), "09:08 <alice> hi");
    }

    #[test]
    fn plain_lines_are_safe_for_the_terminal() {
        assert_eq!(
            plain_line(&msg("one\ntwo\n", false), &Utc),
            "07:08 <alice> one\n      two"
        );
        assert_eq!(
            plain_line(&msg("\u{1b}[2Jgotcha", false), &Utc),
            "07:08 <alice> \u{fffd}[2Jgotcha"
        );
        // Bidi overrides would reorder the rest of the line.
        assert_eq!(
            plain_line(&msg("abc\u{202e}fed\u{2066}x", false), &Utc),
            "07:08 <alice> abc\u{fffd}fed\u{fffd}x"
        );
    }

    #[test]
    fn json_has_exactly_the_documented_keys() {
        let line = json_line(&msg("say \"hi\"\n", true));
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        let mut expected = vec!["action", "body", "from", "id", "room", "ts"];
        expected.sort_unstable();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort();
        assert_eq!(keys_sorted, expected);
        assert_eq!(v["id"], 42);
        assert_eq!(v["ts"], 1_714_979_289_000_i64);
        assert_eq!(v["room"], "#general");
        assert_eq!(v["from"], "alice");
        assert_eq!(v["body"], "say \"hi\"\n");
        assert_eq!(v["action"], true);
        assert!(json_line(&msg("hi", false)).ends_with(",\"action\":false}"));
        assert!(line.starts_with("{\"id\":42,\"ts\":"), "{line}");
    }
}
