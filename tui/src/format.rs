//! How messages and their changes are written as text: the `tail` line
//! format and its JSON form, and search results. Pure functions of the
//! message (and a time zone), so they are tested without a terminal or a
//! server.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, TimeZone};
use natter_shared::{Event, Message, MessageId, SearchHit};
use serde::Serialize;

fn clock<Tz: TimeZone>(ts: i64, tz: &Tz, format: &str) -> String
where
    Tz::Offset: std::fmt::Display,
{
    DateTime::from_timestamp_millis(ts).map_or_else(
        || "--:--".to_owned(),
        |t| t.with_timezone(tz).format(format).to_string(),
    )
}

/// `text` after `head`, with continuation lines indented by `indent`.
fn push_body(out: &mut String, body: &str, indent: &str) {
    let body = sanitize(body);
    let mut lines = body.split('\n');
    out.push_str(lines.next().unwrap_or_default());
    for line in lines {
        out.push('\n');
        out.push_str(indent);
        out.push_str(line);
    }
}

/// One `tail` line: `HH:MM <nick> text`, or `HH:MM * nick text` for an
/// action (`/me`). Continuation lines of a multi-line body are indented to
/// the text column. A reply starts with `↳#ID `, a thread reply with
/// `[thread #ID] `; an edited message ends with `(edited)`, and a deleted
/// one reads `(message deleted)`. What [`natter_shared::text::is_unsafe`]
/// names (control characters, bidi overrides and isolates), newline and
/// tab aside, is replaced, so a message can neither drive the reader's
/// terminal nor reorder what it shows.
#[must_use]
pub fn plain_line<Tz: TimeZone>(msg: &Message, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let time = clock(msg.ts, tz, "%H:%M");
    let mut out = if msg.action {
        format!("{time} * {} ", msg.from)
    } else {
        format!("{time} <{}> ", msg.from)
    };
    if let Some(root) = msg.thread {
        let _ = write!(out, "[thread #{root}] ");
    }
    if let Some(parent) = msg.reply_to {
        let _ = write!(out, "↳#{parent} ");
    }
    if msg.deleted {
        out.push_str("(message deleted)");
        return out;
    }
    push_body(&mut out, &msg.body, "      ");
    if msg.edited_at.is_some() {
        out.push_str(" (edited)");
    }
    for (i, a) in msg.attachments.iter().enumerate() {
        if i > 0 || !msg.body.is_empty() {
            out.push_str("\n      ");
        }
        out.push_str(&attachment_line(a));
    }
    out
}

/// The `--json` form of a message: `type` ("message"), `id`, `ts`
/// (milliseconds since the epoch), `room`, `from`, `body`, `action` (true
/// for `/me`), then `reply_to` and `thread` (ids or null), `edited`
/// (bool), `deleted` (bool; the body is then ""), `reactions` (a map
/// from key to the users who used it), and `attention` (true when a
/// moderator called the whole room with it, `@room`), and `attachments`
/// (a list of `{id, name, size, mime, hash, width, height}`: `id` is what
/// `natter download` fetches by message, `hash` the SHA-256), on one line.
/// The body is exact: JSON's escapes keep it safe.
#[must_use]
pub fn json_line(msg: &Message) -> String {
    // The flags are the JSON's own fields, one to one.
    #[allow(clippy::struct_excessive_bools)]
    #[derive(Serialize)]
    struct Line<'a> {
        r#type: &'static str,
        id: u64,
        ts: i64,
        room: &'a str,
        from: &'a str,
        body: &'a str,
        action: bool,
        reply_to: Option<MessageId>,
        thread: Option<MessageId>,
        edited: bool,
        deleted: bool,
        reactions: BTreeMap<&'a str, &'a [String]>,
        attention: bool,
        attachments: Vec<File<'a>>,
    }
    #[derive(Serialize)]
    struct File<'a> {
        id: u64,
        name: &'a str,
        size: u64,
        mime: &'a str,
        hash: &'a str,
        width: Option<u32>,
        height: Option<u32>,
    }
    to_json(&Line {
        r#type: "message",
        id: msg.id,
        ts: msg.ts,
        room: &msg.room,
        from: &msg.from,
        body: if msg.deleted { "" } else { &msg.body },
        action: msg.action,
        reply_to: msg.reply_to,
        thread: msg.thread,
        edited: msg.edited_at.is_some(),
        deleted: msg.deleted,
        reactions: msg
            .reactions
            .iter()
            .map(|r| (r.key.as_str(), r.users.as_slice()))
            .collect(),
        attention: msg.attention,
        attachments: msg
            .attachments
            .iter()
            .map(|a| File {
                id: a.file,
                name: &a.name,
                size: a.size,
                mime: &a.mime,
                hash: &a.sha256,
                width: a.width,
                height: a.height,
            })
            .collect(),
    })
}

/// One attachment as a line of text: `📎 build.log 12.4 KiB text/plain`
/// (an image adds its size in pixels). Names are the uploader's: escaped
/// like any text from a peer.
#[must_use]
pub fn attachment_line(a: &natter_shared::Attachment) -> String {
    let mut line = format!(
        "📎 {} {} {}",
        natter_shared::text::escape(&a.name),
        natter_shared::text::human_size(a.size),
        a.mime
    );
    if let (Some(w), Some(h)) = (a.width, a.height) {
        let _ = write!(line, " {w}×{h}");
    }
    line
}

fn to_json(value: &impl Serialize) -> String {
    // Serialising strings, integers and maps of them cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// A live change to a message of `room` (an edit, a delete, a reaction),
/// or a receipt (someone read up to a message; the other person received
/// a direct conversation up to one), as a `tail` line: plain, or with
/// `json` an object whose `type` is `edit`, `delete`, `reaction`,
/// `receipt` or `delivered`. `None` for any other event, or one of another
/// room.
#[must_use]
pub fn change_line<Tz: TimeZone>(event: &Event, room: &str, json: bool, tz: &Tz) -> Option<String>
where
    Tz::Offset: std::fmt::Display,
{
    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Line<'a> {
        Edit {
            id: MessageId,
            room: &'a str,
            body: &'a str,
            edited_at: i64,
        },
        Delete {
            id: MessageId,
            room: &'a str,
            by: &'a str,
        },
        Reaction {
            id: MessageId,
            room: &'a str,
            key: &'a str,
            user: &'a str,
            on: bool,
        },
        Receipt {
            id: MessageId,
            room: &'a str,
            user: &'a str,
        },
        Delivered {
            id: MessageId,
            room: &'a str,
        },
    }
    let line = match event {
        Event::Edited {
            room: r,
            id,
            body,
            edited_at,
            ..
        } if r == room => {
            if json {
                return Some(to_json(&Line::Edit {
                    id: *id,
                    room: r,
                    body,
                    edited_at: *edited_at,
                }));
            }
            let mut out = format!("{} -- #{id} edited: ", clock(*edited_at, tz, "%H:%M"));
            push_body(&mut out, body, "      ");
            out
        }
        Event::Deleted {
            room: r, id, by, ..
        } if r == room => {
            if json {
                return Some(to_json(&Line::Delete {
                    id: *id,
                    room: r,
                    by,
                }));
            }
            format!("-- #{id} deleted by {by}")
        }
        Event::Reaction {
            room: r,
            id,
            key,
            user,
            on,
            ..
        } if r == room => {
            if json {
                return Some(to_json(&Line::Reaction {
                    id: *id,
                    room: r,
                    key,
                    user,
                    on: *on,
                }));
            }
            let key = sanitize(key);
            if *on {
                format!("-- {user} reacted {key} to #{id}")
            } else {
                format!("-- {user} took back {key} from #{id}")
            }
        }
        Event::Receipt { room: r, user, id } if r == room => {
            if json {
                return Some(to_json(&Line::Receipt {
                    id: *id,
                    room: r,
                    user,
                }));
            }
            format!("-- {user} has read up to #{id}")
        }
        Event::Delivered { room: r, id } if r == room => {
            if json {
                return Some(to_json(&Line::Delivered { id: *id, room: r }));
            }
            format!("-- delivered up to #{id}")
        }
        _ => return None,
    };
    Some(line)
}

/// One search result: `YYYY-MM-DD HH:MM #room <from> snippet  (#ID)`, the
/// matched words between `*`; with `json`, the message's JSON form plus
/// `snippet` (the text, matches between `*`) and `hits` (the matched
/// words).
#[must_use]
pub fn search_line<Tz: TimeZone>(hit: &SearchHit, json: bool, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let mut snippet = String::new();
    let mut hits = Vec::new();
    for part in &hit.snippet {
        let text = sanitize(&part.text).replace('\n', " ");
        if part.hit {
            snippet.push('*');
            snippet.push_str(&text);
            snippet.push('*');
            hits.push(text);
        } else {
            snippet.push_str(&text);
        }
    }
    let m = &hit.message;
    if json {
        // The message's own line, in its key order, with two keys more.
        let mut line = json_line(m);
        line.pop();
        let _ = write!(
            line,
            ",\"snippet\":{},\"hits\":{}}}",
            to_json(&snippet),
            to_json(&hits)
        );
        return line;
    }
    format!(
        "{} {} <{}> {snippet}  (#{})",
        clock(m.ts, tz, "%Y-%m-%d %H:%M"),
        m.room,
        m.from,
        m.id
    )
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
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
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
        assert_eq!(v["type"], "message");
        assert_eq!(v["id"], 42);
        assert_eq!(v["ts"], 1_714_979_289_000_i64);
        assert_eq!(v["room"], "#general");
        assert_eq!(v["from"], "alice");
        assert_eq!(v["body"], "say \"hi\"\n");
        assert_eq!(v["action"], true);
        assert_eq!(v["reply_to"], serde_json::Value::Null);
        assert_eq!(v["reactions"], serde_json::json!({}));
        assert!(
            line.starts_with("{\"type\":\"message\",\"id\":42,\"ts\":"),
            "{line}"
        );
    }

    fn rich() -> Message {
        Message {
            reply_to: Some(40),
            thread: Some(39),
            edited_at: Some(1_714_979_300_000),
            reactions: vec![natter_shared::Reaction {
                key: "👍".into(),
                users: vec!["bob".into(), "carol".into()],
            }],
            ..msg("agreed", false)
        }
    }

    #[test]
    fn rich_messages_read_as_they_are_now() {
        assert_eq!(
            plain_line(&rich(), &Utc),
            "07:08 <alice> [thread #39] ↳#40 agreed (edited)"
        );
        let v: serde_json::Value = serde_json::from_str(&json_line(&rich())).unwrap();
        assert_eq!(
            (
                v["reply_to"].clone(),
                v["thread"].clone(),
                v["edited"].clone()
            ),
            (40.into(), 39.into(), true.into())
        );
        assert_eq!(v["reactions"], serde_json::json!({"👍": ["bob", "carol"]}));
        // A tombstone has no body, whatever a server sent.
        let gone = Message {
            deleted: true,
            body: "leftover".into(),
            ..msg("x", false)
        };
        assert_eq!(plain_line(&gone, &Utc), "07:08 <alice> (message deleted)");
        let v: serde_json::Value = serde_json::from_str(&json_line(&gone)).unwrap();
        assert_eq!(
            (v["deleted"].clone(), v["body"].clone()),
            (true.into(), "".into())
        );
    }

    #[test]
    fn changes_have_lines_of_their_own() {
        let edit = Event::Edited {
            room: "#general".into(),
            id: 42,
            body: "fixed\u{1b}[2J".into(),
            edited_at: 1_714_979_289_000,
            rev: 7,
        };
        assert_eq!(
            change_line(&edit, "#general", false, &Utc).unwrap(),
            "07:08 -- #42 edited: fixed\u{fffd}[2J"
        );
        assert_eq!(change_line(&edit, "#other", false, &Utc), None);
        let v: serde_json::Value =
            serde_json::from_str(&change_line(&edit, "#general", true, &Utc).unwrap()).unwrap();
        assert_eq!(
            (v["type"].clone(), v["id"].clone()),
            ("edit".into(), 42.into())
        );
        let react = Event::Reaction {
            room: "#general".into(),
            id: 42,
            key: "🎉".into(),
            user: "bob".into(),
            on: true,
            rev: 8,
        };
        let v: serde_json::Value =
            serde_json::from_str(&change_line(&react, "#general", true, &Utc).unwrap()).unwrap();
        assert_eq!(
            (v["type"].clone(), v["key"].clone(), v["on"].clone()),
            ("reaction".into(), "🎉".into(), true.into())
        );
        let delete = Event::Deleted {
            room: "#general".into(),
            id: 42,
            by: "carol".into(),
            rev: 9,
        };
        assert_eq!(
            change_line(&delete, "#general", false, &Utc).unwrap(),
            "-- #42 deleted by carol"
        );
        let typing = Event::Typing {
            room: "#general".into(),
            user: "bob".into(),
            active: true,
        };
        assert_eq!(change_line(&typing, "#general", true, &Utc), None);
    }

    #[test]
    fn search_results_mark_their_hits() {
        let hit = SearchHit {
            message: msg("the deploy failed again", false),
            snippet: vec![
                natter_shared::SnippetPart {
                    text: "the deploy ".into(),
                    hit: false,
                },
                natter_shared::SnippetPart {
                    text: "failed".into(),
                    hit: true,
                },
                natter_shared::SnippetPart {
                    text: " again".into(),
                    hit: false,
                },
            ],
        };
        assert_eq!(
            search_line(&hit, false, &Utc),
            "2024-05-06 07:08 #general <alice> the deploy *failed* again  (#42)"
        );
        let v: serde_json::Value = serde_json::from_str(&search_line(&hit, true, &Utc)).unwrap();
        assert_eq!(v["snippet"], "the deploy *failed* again");
        assert_eq!(v["hits"], serde_json::json!(["failed"]));
        assert_eq!(v["type"], "message");
    }
}
