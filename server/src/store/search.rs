//! Full-text search over message bodies: the SQL of one operation,
//! [`Store::search`], on the index `schema.rs` keeps in step with
//! `messages` (`messages_fts`, FTS5 over external content); and how new
//! messages reach that index ([`index_pending`]).
//!
//! New messages are indexed in bulk, not one by one as they commit: FTS5
//! writes a segment per transaction, and indexing every small batch of the
//! commit path cost a tenth of the busiest room's throughput (S1).
//! `search_indexed.upto` says how far the index goes; the commit path
//! indexes what lies above it once 256 messages wait, or when it has been
//! idle for a moment, and **every search first asks the commit path to
//! index what waits**, so a message is findable as soon as its `Sent`
//! arrives. The edit and delete triggers touch the index only at or below
//! the mark: a message changed or removed before it was indexed is indexed
//! as it is then, or not at all.
//!
//! Every word and phrase of the query reaches FTS5 as a quoted string
//! (double quotes doubled), so no user text is ever read as FTS5 syntax:
//! `NOT`, `*`, `^`, `:` and parentheses are just characters. Room ids come
//! from the hub, never from the user. Filters are plain SQL on `messages`.
//!
//! Searches run on a connection of their own, so a slow one holds back
//! neither the commit path nor the reads of logins and history.

use std::sync::{Arc, Mutex};

use natter_shared::{MessageId, SnippetPart};
use rusqlite::Connection;
use rusqlite::types::Value;

use super::sql::{MESSAGE_COLUMNS, stored_row, to_sql};
use super::{Store, StoreError, StoredMessage};

/// Marks where FTS5's snippet starts and ends a match: private-use code
/// points. A body that holds one gets no highlighted snippet (see
/// [`split_snippet`]), so a sender cannot forge a highlight.
const HIT_START: char = '\u{E000}';
const HIT_END: char = '\u{E001}';
/// Where a snippet was cut.
const ELLIPSIS: &str = "…";
/// Tokens of context in a snippet.
const SNIPPET_TOKENS: usize = 12;

/// What a search asks of the store. The query language is parsed before
/// (`ops::search_query`); here every criterion is typed.
#[derive(Debug, Clone, Default)]
pub struct SearchSpec {
    /// Words and phrases that must all appear.
    pub include: Vec<String>,
    /// Words and phrases that must not appear.
    pub exclude: Vec<String>,
    /// Written by this user (the stored author name).
    pub author: Option<String>,
    /// The rooms to look in: the asker's. Empty finds nothing.
    pub rooms: Vec<i64>,
    /// Sent before this time (ms, exclusive).
    pub sent_before: Option<i64>,
    /// Sent at or after this time (ms).
    pub sent_from: Option<i64>,
    /// The body holds an `http://` or `https://` link.
    pub has_link: bool,
    /// Replies only.
    pub is_reply: bool,
    /// Messages with ids below this one (the next page).
    pub before: Option<MessageId>,
    /// Rows at most.
    pub limit: usize,
}

/// One match, newest first: the message as stored and its snippet.
#[derive(Debug, Clone)]
pub struct SearchRow {
    pub message: StoredMessage,
    pub snippet: Vec<SnippetPart>,
}

/// The search connection.
pub(super) struct Searcher {
    conn: Mutex<Connection>,
}

impl Searcher {
    /// Wraps a connection to the store's file (read-only from here on).
    pub(super) fn new(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }
}

/// Messages that may wait unindexed before the commit path indexes them
/// within a batch.
pub(super) const INDEX_BATCH: usize = 256;

/// Indexes every message above `search_indexed.upto` and moves the mark to
/// the newest message; returns how many it indexed. Runs in the caller's
/// transaction, so the rows and the mark commit together.
///
/// # Errors
/// A database error.
pub fn index_pending(conn: &Connection) -> rusqlite::Result<usize> {
    let n = conn
        .prepare_cached(
            "INSERT INTO messages_fts (rowid, body)
             SELECT id, body FROM messages
             WHERE id > (SELECT upto FROM search_indexed WHERE only = 1) ORDER BY id",
        )?
        .execute([])?;
    if n > 0 {
        conn.prepare_cached(
            "UPDATE search_indexed SET upto = MAX(upto, (SELECT COALESCE(MAX(id), 0) FROM messages))
             WHERE only = 1",
        )?
        .execute([])?;
    }
    Ok(n)
}

impl Store {
    /// The newest messages matching `spec` in its rooms, below
    /// `spec.before`, at most `spec.limit`, newest first. Whatever was
    /// committed before it is indexed first (on the commit path, in order).
    ///
    /// # Errors
    /// A database error, or `Closed`.
    pub async fn search(&self, spec: SearchSpec) -> Result<Vec<SearchRow>, StoreError> {
        self.write(|c| Ok(index_pending(c)?)).await?;
        let searcher = Arc::clone(&self.searcher);
        tokio::task::spawn_blocking(move || {
            // Held only for this one query, on a blocking thread: searches
            // take turns, and nothing else uses this connection.
            let conn = searcher
                .conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            search(&conn, &spec)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

/// A term as an FTS5 string: a phrase of its tokens, never syntax.
fn quote(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// The FTS5 expression: every included term, none of the excluded ones,
/// and with `has_link` one of the words a link starts with (the tokenizer
/// splits `https://x` into `https` and `x`), so that `has:link` is found
/// through the index and not by reading every body; the `LIKE` on the body
/// still decides. `None` without either (exclusions alone cannot be an
/// FTS5 query; they become a `NOT IN` instead).
fn match_expr(include: &[String], exclude: &[String], has_link: bool) -> Option<String> {
    let mut parts: Vec<String> = include.iter().map(|t| quote(t)).collect();
    if has_link {
        parts.push(r#"("http" OR "https")"#.to_owned());
    }
    if parts.is_empty() {
        return None;
    }
    let mut expr = format!("({})", parts.join(" AND "));
    if !exclude.is_empty() {
        expr = format!("{expr} NOT ({})", any_of(exclude));
    }
    Some(expr)
}

fn any_of(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| quote(t))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Runs a search on `conn`.
///
/// # Errors
/// A database error.
pub fn search(conn: &Connection, spec: &SearchSpec) -> Result<Vec<SearchRow>, StoreError> {
    if spec.rooms.is_empty() || spec.limit == 0 {
        return Ok(Vec::new());
    }
    let mut params: Vec<Value> = Vec::new();
    let mut param = |v: Value| {
        params.push(v);
        format!("?{}", params.len())
    };
    let expr = match_expr(&spec.include, &spec.exclude, spec.has_link);
    let rooms = spec
        .rooms
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let before = to_sql(spec.before.unwrap_or(MessageId::MAX));
    // Every clause is ANDed; the values are parameters.
    let mut clauses = Vec::new();
    // The message as it is now, as every other read returns it; the
    // snippet comes after its columns.
    let cols = MESSAGE_COLUMNS
        .split(',')
        .map(|c| format!("m.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let snippet_at = cols.split(", ").count();
    let (select, order) = if let Some(expr) = &expr {
        // The index leads: it yields matches newest first, and the LIMIT
        // stops the walk early.
        let start = param(Value::Text(HIT_START.to_string()));
        let end = param(Value::Text(HIT_END.to_string()));
        clauses.push(format!(
            "messages_fts MATCH {}",
            param(Value::Text(expr.clone()))
        ));
        clauses.push(format!(
            "messages_fts.rowid < {}",
            param(Value::Integer(before))
        ));
        (
            format!(
                "SELECT {cols},
                        snippet(messages_fts, 0, {start}, {end}, '{ELLIPSIS}', {SNIPPET_TOKENS})
                 FROM messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid"
            ),
            "messages_fts.rowid",
        )
    } else {
        clauses.push(format!("m.id < {}", param(Value::Integer(before))));
        if !spec.exclude.is_empty() {
            clauses.push(format!(
                "m.id NOT IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH {})",
                param(Value::Text(any_of(&spec.exclude)))
            ));
        }
        (format!("SELECT {cols}, NULL FROM messages m"), "m.id")
    };
    clauses.push(format!("m.room_id IN ({rooms})"));
    if let Some(author) = &spec.author {
        clauses.push(format!("m.author = {}", param(Value::Text(author.clone()))));
    }
    if let Some(t) = spec.sent_before {
        clauses.push(format!("m.ts < {}", param(Value::Integer(t))));
    }
    if let Some(t) = spec.sent_from {
        clauses.push(format!("m.ts >= {}", param(Value::Integer(t))));
    }
    if spec.has_link {
        clauses.push("(m.body LIKE '%http://%' OR m.body LIKE '%https://%')".to_owned());
    }
    if spec.is_reply {
        // Before replies existed, no message is one.
        clauses.push("m.reply_to IS NOT NULL".to_owned());
    }
    // Tombstones match no word (their body is empty); this keeps them out
    // of filter-only searches too.
    clauses.push("m.deleted = 0".to_owned());
    let limit = param(Value::Integer(to_sql(spec.limit as u64)));
    let sql = format!(
        "{select} WHERE {} ORDER BY {order} DESC LIMIT {limit}",
        clauses.join(" AND ")
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params), |r| {
            let message = stored_row(r)?;
            let snippet: Option<String> = r.get(snippet_at)?;
            Ok((message, snippet))
        })?
        .map(|row| {
            row.map(|(message, snippet)| {
                let snippet = match snippet {
                    // By filters alone (`has:link` uses the index too): no
                    // hits to show.
                    Some(s) if !spec.include.is_empty() && !has_markers(&message.body) => {
                        split_snippet(&s)
                    }
                    _ => body_start(&message.body),
                };
                SearchRow { message, snippet }
            })
        })
        .collect::<Result<Vec<SearchRow>, _>>()?;
    // Hits show their reactions, as history does.
    let (mut messages, snippets): (Vec<StoredMessage>, Vec<_>) =
        rows.into_iter().map(|r| (r.message, r.snippet)).unzip();
    super::rich::add_reactions(conn, &mut messages)?;
    super::files::add_attachments(conn, &mut messages)?;
    Ok(messages
        .into_iter()
        .zip(snippets)
        .map(|(message, snippet)| SearchRow { message, snippet })
        .collect())
}

fn has_markers(body: &str) -> bool {
    body.contains([HIT_START, HIT_END])
}

/// Splits FTS5's marked snippet into parts, hits flagged.
fn split_snippet(marked: &str) -> Vec<SnippetPart> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut hit = false;
    for c in marked.chars() {
        if c == HIT_START || c == HIT_END {
            if !text.is_empty() {
                parts.push(SnippetPart {
                    text: std::mem::take(&mut text),
                    hit,
                });
            }
            hit = c == HIT_START;
        } else {
            text.push(c);
        }
    }
    if !text.is_empty() {
        parts.push(SnippetPart { text, hit });
    }
    parts
}

/// The start of a body, about as long as a snippet, with no hits (for
/// searches by filters alone, and bodies a snippet cannot mark).
fn body_start(body: &str) -> Vec<SnippetPart> {
    let clean: String = body
        .chars()
        .filter(|c| *c != HIT_START && *c != HIT_END)
        .collect();
    let mut words = 0;
    let mut cut = None;
    let mut in_word = false;
    for (i, c) in clean.char_indices() {
        if c.is_whitespace() {
            in_word = false;
        } else if !in_word {
            in_word = true;
            if words == SNIPPET_TOKENS {
                cut = Some(i);
                break;
            }
            words += 1;
        }
    }
    let text = match cut {
        Some(i) => format!("{}{ELLIPSIS}", clean[..i].trim_end()),
        None => clean,
    };
    if text.is_empty() {
        return Vec::new();
    }
    vec![SnippetPart { text, hit: false }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_db;

    fn part(text: &str, hit: bool) -> SnippetPart {
        SnippetPart {
            text: text.into(),
            hit,
        }
    }

    #[test]
    fn snippets_split_at_the_markers() {
        assert_eq!(
            split_snippet("…we meet \u{E000}Friday\u{E001} at noon…"),
            [
                part("…we meet ", false),
                part("Friday", true),
                part(" at noon…", false)
            ]
        );
        assert_eq!(body_start("a b  c"), [part("a b  c", false)]);
        let long = (1..=20)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            body_start(&long),
            [part("1 2 3 4 5 6 7 8 9 10 11 12…", false)]
        );
    }

    #[test]
    fn user_text_is_never_fts_syntax() {
        assert_eq!(quote(r#"say "hi" NOT"#), r#""say ""hi"" NOT""#);
        assert_eq!(
            match_expr(
                &["a b".into(), "c".into()],
                &["d".into(), "e".into()],
                false
            )
            .unwrap(),
            r#"("a b" AND "c") NOT ("d" OR "e")"#
        );
        assert_eq!(match_expr(&[], &["d".into()], false), None);
        assert_eq!(
            match_expr(&[], &[], true).unwrap(),
            r#"(("http" OR "https"))"#
        );
    }

    /// A store file with some messages, written directly.
    fn seeded() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path()).unwrap();
        for (room, author, ts, body) in [
            (1, "ann", 10, "lunch at the café on Friday"),
            (1, "bob", 20, "NOT (a) * ^ \"quoted\" col:umn"),
            (2, "bob", 30, "lunch plans: see https://example.com"),
            (1, "ann", 40, "friday friday friday"),
            (1, "eve", 50, "forged \u{E000}hit\u{E001} lunch"),
        ] {
            conn.execute(
                "INSERT INTO messages (room_id, author, ts, body) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![room, author, ts, body],
            )
            .unwrap();
        }
        assert_eq!(index_pending(&conn).unwrap(), 5);
        (dir, conn)
    }

    fn integrity(conn: &Connection) {
        let checked: rusqlite::Result<usize> = conn.execute(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
            [],
        );
        assert!(checked.is_ok(), "{checked:?}");
    }

    /// New messages wait for [`index_pending`]; changed or removed before
    /// it, they are indexed as they are then, or not at all, and the index
    /// stays sound.
    #[test]
    fn new_messages_are_indexed_in_bulk_as_they_are_by_then() {
        let (_dir, conn) = seeded();
        for body in ["brand new lunch", "typo lunhc", "gone lunch"] {
            conn.execute(
                "INSERT INTO messages (room_id, author, ts, body) VALUES (1, 'ann', 70, ?1)",
                [body],
            )
            .unwrap();
        }
        // Not indexed yet: the searches of the store index first, this
        // raw one does not.
        assert_eq!(ids(&conn, &spec(&["brand"])), Vec::<u64>::new());
        conn.execute("UPDATE messages SET body = 'fixed lunch' WHERE id = 7", [])
            .unwrap();
        conn.execute("DELETE FROM messages WHERE id = 8", [])
            .unwrap();
        // The index is sound in itself (rank 0: not compared with the
        // messages, two of which it does not hold yet).
        let sound: rusqlite::Result<usize> = conn.execute(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 0)",
            [],
        );
        assert!(sound.is_ok(), "{sound:?}");
        assert_eq!(index_pending(&conn).unwrap(), 2);
        assert_eq!(ids(&conn, &spec(&["brand"])), [6]);
        assert_eq!(ids(&conn, &spec(&["fixed"])), [7]);
        assert_eq!(ids(&conn, &spec(&["lunhc"])), Vec::<u64>::new());
        assert_eq!(ids(&conn, &spec(&["gone"])), Vec::<u64>::new());
        integrity(&conn);
        // Nothing waits now; indexed ones follow edits as before.
        assert_eq!(index_pending(&conn).unwrap(), 0);
        conn.execute(
            "UPDATE messages SET body = 'changed again' WHERE id = 6",
            [],
        )
        .unwrap();
        assert_eq!(ids(&conn, &spec(&["brand"])), Vec::<u64>::new());
        assert_eq!(ids(&conn, &spec(&["again"])), [6]);
        integrity(&conn);
    }

    fn ids(conn: &Connection, spec: &SearchSpec) -> Vec<u64> {
        search(conn, spec)
            .unwrap()
            .iter()
            .map(|r| r.message.id)
            .collect()
    }

    fn spec(include: &[&str]) -> SearchSpec {
        SearchSpec {
            include: include.iter().map(|s| (*s).to_owned()).collect(),
            rooms: vec![1, 2],
            limit: 10,
            ..Default::default()
        }
    }

    #[test]
    fn matches_follow_inserts_edits_deletes_and_purges() {
        let (_dir, conn) = seeded();
        // Case and accents aside, newest first.
        assert_eq!(ids(&conn, &spec(&["LUNCH"])), [5, 3, 1]);
        assert_eq!(ids(&conn, &spec(&["cafe"])), [1]);
        // Syntax characters are text.
        assert_eq!(ids(&conn, &spec(&["NOT (a)"])), [2]);
        assert_eq!(ids(&conn, &spec(&["col:umn"])), [2]);
        assert_eq!(ids(&conn, &spec(&["\"quoted\""])), [2]);
        // An edit: found by its new text only.
        conn.execute(
            "UPDATE messages SET body = 'dinner instead' WHERE id = 1",
            [],
        )
        .unwrap();
        assert_eq!(ids(&conn, &spec(&["cafe"])), Vec::<u64>::new());
        assert_eq!(ids(&conn, &spec(&["dinner"])), [1]);
        // A delete empties the body (a tombstone): found no more.
        conn.execute("UPDATE messages SET body = '' WHERE id = 3", [])
            .unwrap();
        assert_eq!(ids(&conn, &spec(&["lunch"])), [5]);
        // Retention removes rows: the index follows.
        conn.execute("DELETE FROM messages WHERE id = 5", [])
            .unwrap();
        assert_eq!(ids(&conn, &spec(&["lunch"])), Vec::<u64>::new());
        integrity(&conn);
    }

    #[test]
    fn filters_exclusions_rooms_and_paging() {
        let (_dir, conn) = seeded();
        let only = |f: fn(&mut SearchSpec)| {
            let mut s = spec(&[]);
            f(&mut s);
            ids(&conn, &s)
        };
        assert_eq!(only(|s| s.author = Some("bob".into())), [3, 2]);
        assert_eq!(only(|s| s.has_link = true), [3]);
        // No replies column yet: nothing is a reply.
        assert_eq!(only(|s| s.is_reply = true), Vec::<u64>::new());
        assert_eq!(
            only(|s| {
                s.sent_from = Some(20);
                s.sent_before = Some(40);
            }),
            [3, 2]
        );
        assert_eq!(
            only(|s| {
                s.author = Some("ann".into());
                s.exclude = vec!["cafe".into()];
            }),
            [4]
        );
        let mut s = spec(&["lunch"]);
        s.exclude = vec!["example com".into()];
        assert_eq!(ids(&conn, &s), [5, 1]);
        let mut s = spec(&["lunch"]);
        s.rooms = vec![2];
        assert_eq!(ids(&conn, &s), [3]);
        s.rooms = vec![];
        assert_eq!(ids(&conn, &s), Vec::<u64>::new());
        let mut s = spec(&["lunch"]);
        s.limit = 1;
        s.before = Some(5);
        assert_eq!(ids(&conn, &s), [3]);
    }

    #[test]
    fn snippets_mark_hits_and_forged_markers_do_not_count() {
        let (_dir, conn) = seeded();
        let rows = search(&conn, &spec(&["friday"])).unwrap();
        assert_eq!(
            rows[1].snippet,
            [part("lunch at the café on ", false), part("Friday", true)]
        );
        let hits = rows[0].snippet.iter().filter(|p| p.hit).count();
        assert_eq!(hits, 3, "{:?}", rows[0].snippet);
        let rows = search(&conn, &spec(&["forged"])).unwrap();
        assert_eq!(rows[0].snippet, [part("forged hit lunch", false)]);
    }

    #[test]
    fn an_older_file_is_indexed_when_opened() {
        let (dir, conn) = seeded();
        // As an older natterd left it: no index, messages added since.
        conn.execute_batch(
            "DROP TRIGGER messages_fts_update; DROP TRIGGER messages_fts_delete;
             DROP TABLE messages_fts; DROP TABLE search_indexed;
             INSERT INTO messages (room_id, author, ts, body) VALUES (1, 'ann', 60, 'late lunch');",
        )
        .unwrap();
        drop(conn);
        let conn = open_db(dir.path()).unwrap();
        assert_eq!(ids(&conn, &spec(&["lunch"])), [6, 5, 3, 1]);
        // Opening again changes nothing.
        drop(conn);
        let conn = open_db(dir.path()).unwrap();
        assert_eq!(ids(&conn, &spec(&["lunch"])), [6, 5, 3, 1]);
    }

    /// A file of the natterd that indexed row by row (an insert trigger,
    /// no mark): its triggers are replaced, everything in it stays
    /// findable, and new messages are indexed in bulk from there on.
    #[test]
    fn a_file_indexed_row_by_row_moves_to_bulk_indexing() {
        let (dir, conn) = seeded();
        conn.execute_batch(
            "DROP TABLE search_indexed;
             DROP TRIGGER messages_fts_update; DROP TRIGGER messages_fts_delete;
             CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
                 INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
             END;
             CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
                 INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
                 INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
             END;
             CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
                 INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
             END;
             INSERT INTO messages (room_id, author, ts, body) VALUES (1, 'ann', 60, 'late lunch');",
        )
        .unwrap();
        drop(conn);
        let conn = open_db(dir.path()).unwrap();
        assert_eq!(ids(&conn, &spec(&["lunch"])), [6, 5, 3, 1]);
        let insert_trigger: bool = conn
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'messages_fts_insert'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!insert_trigger);
        conn.execute(
            "INSERT INTO messages (room_id, author, ts, body) VALUES (1, 'ann', 70, 'lunch again')",
            [],
        )
        .unwrap();
        assert_eq!(ids(&conn, &spec(&["again"])), Vec::<u64>::new());
        assert_eq!(index_pending(&conn).unwrap(), 1);
        assert_eq!(ids(&conn, &spec(&["again"])), [7]);
        conn.execute("UPDATE messages SET body = '' WHERE id = 6", [])
            .unwrap();
        assert_eq!(ids(&conn, &spec(&["late"])), Vec::<u64>::new());
        integrity(&conn);
    }

    /// Tombstones are left out even of filter-only searches, and
    /// `is:reply` finds replies.
    #[test]
    fn tombstones_are_never_found_and_is_reply_finds_replies() {
        let (_dir, conn) = seeded();
        conn.execute_batch(
            "UPDATE messages SET body = '', deleted = 1 WHERE id = 3;
             UPDATE messages SET reply_to = 1 WHERE id = 4;",
        )
        .unwrap();
        let run = |s: SearchSpec| -> Vec<u64> {
            search(&conn, &s)
                .unwrap()
                .iter()
                .map(|r| r.message.id)
                .collect()
        };
        let mut by_bob = spec(&[]);
        by_bob.author = Some("bob".into());
        assert_eq!(run(by_bob), [2]);
        assert_eq!(run(spec(&["lunch"])), [5, 1]);
        let mut replies = spec(&[]);
        replies.is_reply = true;
        assert_eq!(run(replies), [4]);
    }
}
