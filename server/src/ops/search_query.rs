//! The search query language, parsed into typed criteria. Nothing here
//! knows how the store matches them: the store quotes every term itself, so
//! no user text is ever read as index syntax.
//!
//! The language, term by term (separated by spaces):
//! - `word`: must appear (case and accents aside); every word must.
//! - `"an exact phrase"`: these words, next to each other, in this order.
//! - `-word`, `-"a phrase"`: must not appear.
//! - `from:user`: written by this user.
//! - `in:#room`, `in:@user`: in this room, or the direct conversation with
//!   this user (`in:room` means `in:#room`).
//! - `before:YYYY-MM-DD`: sent before that day began (UTC); the day itself
//!   is excluded.
//! - `after:YYYY-MM-DD`: sent after that day ended (UTC); the day itself is
//!   excluded too.
//! - `has:link`: the body holds an `http://` or `https://` link.
//! - `is:reply`: the message replies to another.
//!
//! Any other `word:value` (`has:image`, `http://x`) is a plain word. A term
//! with no letter or digit in it (`-`, `""`, `...`) matches nothing and is
//! dropped. A query must ask for something: a word, a phrase or a filter;
//! exclusions alone are refused, since they would match almost everything.

use chrono::NaiveDate;
use natter_shared::names::normalize_user;

/// A query, parsed: what the store is asked to match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedQuery {
    /// Words and phrases that must all appear, as typed (a phrase without
    /// its quotes).
    pub include: Vec<String>,
    /// Words and phrases that must not appear.
    pub exclude: Vec<String>,
    /// `from:`: the author, normalized.
    pub from: Option<String>,
    /// `in:` (or the request's `room`): `#name` or `@user`, as typed.
    pub room: Option<String>,
    /// `before:`: sent before this time (ms since the epoch, exclusive).
    pub sent_before: Option<i64>,
    /// `after:`: sent at or after this time (ms since the epoch): the start
    /// of the day after the one named.
    pub sent_from: Option<i64>,
    /// `has:link`.
    pub has_link: bool,
    /// `is:reply`.
    pub is_reply: bool,
}

/// Why a query cannot be run. Each is refused with `invalid` and this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the search is empty; give a word, a \"phrase\" or a filter such as from:user")]
    Empty,
    #[error("a search cannot only exclude; add a word, a \"phrase\" or a filter such as from:user")]
    OnlyExclusions,
    #[error("{0}: not a date; write it as YYYY-MM-DD")]
    BadDate(String),
    #[error("{0}: not a user name")]
    BadUser(String),
    #[error("{0}: not a room; write in:#room or in:@user")]
    BadRoom(String),
    #[error("{0} may be given only once")]
    Twice(&'static str),
}

/// A term as it was written.
enum Token {
    /// A plain word, or `op:value`.
    Word(String),
    /// The inside of `"..."`.
    Phrase(String),
}

/// Parses `text`, with `room` (the request's own room field) as if it were
/// an `in:` term.
///
/// # Errors
/// A [`QueryError`] naming what is wrong.
pub fn parse(text: &str, room: Option<&str>) -> Result<ParsedQuery, QueryError> {
    let mut q = ParsedQuery::default();
    if let Some(room) = room {
        q.room = Some(room_target(room)?);
    }
    for (negated, token) in tokens(text) {
        match token {
            Token::Phrase(p) => push_term(&mut q, negated, p),
            Token::Word(w) if negated => push_term(&mut q, true, w),
            Token::Word(w) => {
                if !operator(&mut q, &w)? {
                    push_term(&mut q, false, w);
                }
            }
        }
    }
    let filtered = q.from.is_some()
        || q.room.is_some()
        || q.sent_before.is_some()
        || q.sent_from.is_some()
        || q.has_link
        || q.is_reply;
    if q.include.is_empty() && !filtered {
        return Err(if q.exclude.is_empty() {
            QueryError::Empty
        } else {
            QueryError::OnlyExclusions
        });
    }
    Ok(q)
}

/// Adds a word or phrase, unless it has nothing a word is made of.
fn push_term(q: &mut ParsedQuery, negated: bool, term: String) {
    if !term.chars().any(char::is_alphanumeric) {
        return;
    }
    if negated {
        q.exclude.push(term);
    } else {
        q.include.push(term);
    }
}

/// Applies `word` if it is a known `op:value`; false if it is a plain word.
fn operator(q: &mut ParsedQuery, word: &str) -> Result<bool, QueryError> {
    let Some((op, value)) = word.split_once(':') else {
        return Ok(false);
    };
    if value.is_empty() {
        return Ok(false);
    }
    match op.to_ascii_lowercase().as_str() {
        "from" => {
            let user = normalize_user(value).map_err(|_| QueryError::BadUser(word.to_owned()))?;
            set_once(&mut q.from, user, "from:")?;
        }
        "in" => {
            let room = room_target(value)?;
            if q.room.as_ref().is_some_and(|r| *r != room) {
                return Err(QueryError::Twice("the room (in: or the request's room)"));
            }
            q.room = Some(room);
        }
        "before" => set_once(&mut q.sent_before, day_start(word, value, 0)?, "before:")?,
        "after" => set_once(&mut q.sent_from, day_start(word, value, 1)?, "after:")?,
        "has" if value.eq_ignore_ascii_case("link") => q.has_link = true,
        "is" if value.eq_ignore_ascii_case("reply") => q.is_reply = true,
        _ => return Ok(false),
    }
    Ok(true)
}

fn set_once<T>(slot: &mut Option<T>, value: T, what: &'static str) -> Result<(), QueryError> {
    if slot.is_some() {
        return Err(QueryError::Twice(what));
    }
    *slot = Some(value);
    Ok(())
}

/// `#room` or `@user` (a bare name is a room).
fn room_target(value: &str) -> Result<String, QueryError> {
    let value = value.trim();
    let named = value.trim_start_matches(['#', '@']);
    if named.is_empty() || named.chars().any(char::is_whitespace) {
        return Err(QueryError::BadRoom(value.to_owned()));
    }
    Ok(if value.starts_with(['#', '@']) {
        value.to_owned()
    } else {
        format!("#{value}")
    })
}

/// The start (UTC, ms) of `value`'s day plus `days`.
fn day_start(word: &str, value: &str, days: u64) -> Result<i64, QueryError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|_| value.len() == 10)
        .and_then(|d| d.checked_add_days(chrono::Days::new(days)))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| QueryError::BadDate(word.to_owned()))
}

/// Splits the text into terms, each with whether it was negated (`-`).
/// An unclosed quote runs to the end.
fn tokens(text: &str) -> Vec<(bool, Token)> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let negated = rest.starts_with('-') && rest.len() > 1;
        if negated {
            rest = &rest[1..];
        }
        if let Some(inner) = rest.strip_prefix('"') {
            let (phrase, after) = inner.split_once('"').unwrap_or((inner, ""));
            out.push((negated, Token::Phrase(phrase.to_owned())));
            rest = after;
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push((negated, Token::Word(rest[..end].to_owned())));
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> ParsedQuery {
        parse(text, None).unwrap()
    }

    const DAY: i64 = 86_400_000;
    /// 2026-03-01 00:00 UTC.
    const MARCH_1: i64 = 1_772_323_200_000;

    #[test]
    fn words_phrases_and_exclusions() {
        let q = ok(r#"lunch "next friday" -pizza -"very late" tacos"#);
        assert_eq!(q.include, ["lunch", "next friday", "tacos"]);
        assert_eq!(q.exclude, ["pizza", "very late"]);
        // An unclosed quote runs to the end; quotes inside a word are text.
        assert_eq!(ok(r#"say "hello there"#).include, ["say", "hello there"]);
        assert_eq!(ok(r#"a"b"#).include, [r#"a"b"#]);
        // Hyphens inside words are not exclusions.
        assert_eq!(ok("e-mail").include, ["e-mail"]);
    }

    #[test]
    fn filters() {
        let q = ok("from:@Bob in:#Ops has:link is:reply before:2026-03-01 after:2026-03-01 x");
        assert_eq!(q.from.as_deref(), Some("bob"));
        assert_eq!(q.room.as_deref(), Some("#Ops"));
        assert!(q.has_link && q.is_reply);
        assert_eq!(q.sent_before, Some(MARCH_1));
        // After a day means from the start of the next one.
        assert_eq!(q.sent_from, Some(MARCH_1 + DAY));
        assert_eq!(q.include, ["x"]);
        assert_eq!(ok("in:general").room.as_deref(), Some("#general"));
        assert_eq!(ok("in:@ann").room.as_deref(), Some("@ann"));
        // A filter alone is a search.
        assert_eq!(ok("from:bob has:link").include, Vec::<String>::new());
    }

    #[test]
    fn unknown_operators_are_words() {
        let q = ok("has:image is:pinned http://example.com word: :x");
        assert_eq!(
            q.include,
            [
                "has:image",
                "is:pinned",
                "http://example.com",
                "word:",
                ":x"
            ]
        );
        assert!(!q.has_link);
    }

    #[test]
    fn the_request_room_is_an_in_filter() {
        let q = parse("x", Some("#ops")).unwrap();
        assert_eq!(q.room.as_deref(), Some("#ops"));
        assert!(parse("in:#ops x", Some("#ops")).is_ok());
        assert!(matches!(
            parse("in:#dev x", Some("#ops")),
            Err(QueryError::Twice(_))
        ));
        assert_eq!(parse("", Some("#ops")).unwrap().include.len(), 0);
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(parse("", None), Err(QueryError::Empty));
        assert_eq!(parse("   \"\" - ...", None), Err(QueryError::Empty));
        assert_eq!(
            parse("-spam -\"buy now\"", None),
            Err(QueryError::OnlyExclusions)
        );
        let bad = parse("before:2026-13-01 x", None).unwrap_err();
        assert_eq!(bad, QueryError::BadDate("before:2026-13-01".into()));
        assert!(bad.to_string().contains("before:2026-13-01"));
        assert!(matches!(
            parse("after:yesterday", None),
            Err(QueryError::BadDate(_))
        ));
        assert!(matches!(
            parse("after:2026-3-1", None),
            Err(QueryError::BadDate(_))
        ));
        assert!(matches!(
            parse("from:no/body", None),
            Err(QueryError::BadUser(_))
        ));
        assert!(matches!(
            parse("from:a from:b", None),
            Err(QueryError::Twice("from:"))
        ));
        // Exclusions with a filter are fine.
        assert_eq!(ok("from:bob -spam").exclude, ["spam"]);
    }
}
