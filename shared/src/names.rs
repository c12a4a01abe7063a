//! Room and user names, written the same way by the server, the client and
//! the command line.
//!
//! User names: 1 to 32 of `a-z 0-9 _ -`, starting with a letter. Room names:
//! 1 to 50 of `a-z 0-9 _ - .`, starting with a letter or digit. Both are
//! case-insensitive and normalised to lowercase. A room is written `#name`
//! (the `#` may be left out on the command line), a direct conversation
//! `@user`.
//!
//! Mentions are found here too, the same way by the server (mention
//! counts) and the client (highlighting, notifications): `@name`, or
//! `name:` / `name,` at the start of a line; and the client's highlight
//! words, matched as whole words.

/// Longest user name.
pub const MAX_USER_LEN: usize = 32;
/// Longest room name, without the `#`.
pub const MAX_ROOM_LEN: usize = 50;
/// Longest display name, in characters (not bytes: a name in any script
/// gets the same room on screen).
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// Longest reaction key, in bytes: a `:shortcode:` or one emoji (whose
/// grapheme may be several code points: a flag, a family, a skin tone).
pub const MAX_REACTION_KEY: usize = 32;

/// Checks a reaction key: one grapheme that is not a letter, digit,
/// punctuation mark, space or control (an emoji), or a `:shortcode:` of
/// `a-z 0-9 _ + -`, at most [`MAX_REACTION_KEY`] bytes either way. The
/// server and the client check the same rule, so the client can refuse a
/// key before sending it.
///
/// # Errors
/// A sentence saying what is wrong, for the user.
pub fn reaction_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() || key.len() > MAX_REACTION_KEY {
        return Err("a reaction is one emoji or a :shortcode: of at most 32 bytes");
    }
    if let Some(inner) = key.strip_prefix(':').and_then(|k| k.strip_suffix(':')) {
        let fine = !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+-".contains(&b));
        return if fine {
            Ok(())
        } else {
            Err("a :shortcode: is made of a-z, 0-9, '_', '+' and '-'")
        };
    }
    let mut graphemes = unicode_segmentation::UnicodeSegmentation::graphemes(key, true);
    let (Some(g), None) = (graphemes.next(), graphemes.next()) else {
        return Err("a reaction is one emoji, or a :shortcode:");
    };
    let first = g.chars().next().unwrap_or(' ');
    // A keycap (1️⃣, #️⃣) starts with its ASCII character.
    let keycap = g.contains('\u{20e3}');
    let plain = (first.is_alphanumeric() || first.is_ascii() || first.is_whitespace()) && !keycap;
    if plain || g.chars().any(crate::text::is_unsafe) {
        Err("a reaction is one emoji, or a :shortcode:")
    } else {
        Ok(())
    }
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "user name {0:?} is invalid: use 1-32 of a-z, 0-9, '_' and '-', starting with a letter"
    )]
    User(String),
    #[error(
        "room name {0:?} is invalid: use 1-50 of a-z, 0-9, '_', '-' and '.', starting with a letter or digit"
    )]
    Room(String),
    #[error("a display name is at most {MAX_DISPLAY_NAME_CHARS} characters; this one has {0}")]
    DisplayTooLong(usize),
    #[error("a display name cannot contain control or bidi characters")]
    DisplayUnsafe,
    #[error("user name {0:?} is reserved: @{0} notifies a whole room")]
    Reserved(String),
}

/// What a room argument names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A room, normalised, without the `#`.
    Room(String),
    /// A direct conversation with this user (normalised).
    Direct(String),
}

impl Target {
    /// Parses `#name`, `name` or `@user`.
    ///
    /// # Errors
    /// [`NameError`] when the name is not valid.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let s = s.trim();
        if let Some(user) = s.strip_prefix('@') {
            normalize_user(user).map(Target::Direct)
        } else {
            normalize_room(s.strip_prefix('#').unwrap_or(s)).map(Target::Room)
        }
    }

    /// How it is written on the wire: `#name` or `@user`.
    #[must_use]
    pub fn display(&self) -> String {
        match self {
            Target::Room(r) => format!("#{r}"),
            Target::Direct(u) => format!("@{u}"),
        }
    }
}

/// Validates and lowercases a user name (a leading `@` is accepted).
///
/// # Errors
/// [`NameError::User`] when it is not a valid user name.
pub fn normalize_user(s: &str) -> Result<String, NameError> {
    let name = s.strip_prefix('@').unwrap_or(s).to_ascii_lowercase();
    let ok = (1..=MAX_USER_LEN).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(is_user_char);
    if ok {
        Ok(name)
    } else {
        Err(NameError::User(s.to_owned()))
    }
}

/// Validates and lowercases a room name given without its `#`.
///
/// # Errors
/// [`NameError::Room`] when it is not a valid room name.
pub fn normalize_room(s: &str) -> Result<String, NameError> {
    let name = s.to_ascii_lowercase();
    let ok = (1..=MAX_ROOM_LEN).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c));
    if ok {
        Ok(name)
    } else {
        Err(NameError::Room(s.to_owned()))
    }
}

/// Checks and trims a display name: `Ok(None)` for none or a blank one
/// (which clears it). Whether it impersonates another account is for the
/// server to say: only it knows every account.
///
/// # Errors
/// [`NameError::DisplayTooLong`] past [`MAX_DISPLAY_NAME_CHARS`] once
/// trimmed; [`NameError::DisplayUnsafe`] for a control or bidi character
/// (a newline would forge a line, an override would reorder the names
/// around it).
pub fn normalize_display_name(s: Option<&str>) -> Result<Option<String>, NameError> {
    let Some(name) = s.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let chars = name.chars().count();
    if chars > MAX_DISPLAY_NAME_CHARS {
        return Err(NameError::DisplayTooLong(chars));
    }
    if name.chars().any(crate::text::is_unsafe) {
        return Err(NameError::DisplayUnsafe);
    }
    Ok(Some(name.to_owned()))
}

fn is_user_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
}

/// The user names a message body mentions, lowercased, in order of
/// appearance (duplicates included): `@name` anywhere a word starts
/// (`mail@example` is not one), and `name:` or `name,` at the start of a
/// line, the way IRC clients address someone (and the way Tab completion
/// writes a nick at the start of the line).
pub fn mentions(body: &str) -> impl Iterator<Item = String> + '_ {
    body.split('\n').flat_map(|line| {
        addressed(line)
            .into_iter()
            .chain(at_names(line))
            .filter_map(|name| normalize_user(name).ok())
    })
}

/// Whether `body` mentions `user` (already normalised), as [`mentions`]
/// finds them. It runs for every member on every message the server
/// delivers, so it compares in place and allocates nothing.
#[must_use]
pub fn mentions_user(body: &str, user: &str) -> bool {
    body.split('\n').any(|line| {
        addressed(line)
            .into_iter()
            .chain(at_names(line))
            .any(|name| name.eq_ignore_ascii_case(user))
    })
}

/// Longest room category, in characters.
pub const MAX_CATEGORY_CHARS: usize = 32;

/// Checks and trims a room category: `Ok(None)` for a blank one (which
/// clears it). Case is kept as written ("Ops", "Team A"): it is a label,
/// not a name anything is looked up by.
///
/// # Errors
/// A sentence saying what is wrong, for the user.
pub fn normalize_category(s: &str) -> Result<Option<String>, &'static str> {
    let c = s.trim();
    if c.is_empty() {
        return Ok(None);
    }
    if c.chars().count() > MAX_CATEGORY_CHARS {
        return Err("a category is at most 32 characters");
    }
    if c.chars().any(crate::text::is_unsafe) {
        return Err("a category cannot contain control or bidi characters");
    }
    Ok(Some(c.to_owned()))
}

/// The name that mentions a whole room: `@room`, like Slack's
/// `@channel`. No account may take it (see [`new_account_name`]).
pub const ROOM_MENTION: &str = "room";

/// Whether `body` calls the whole room to attention: `@room` where a word
/// starts (not `room:` at the start of a line, which reads as addressing
/// someone). Whether the author may do so is the server's to say.
#[must_use]
pub fn mentions_room(body: &str) -> bool {
    body.as_bytes()
        .windows(5)
        .any(|w| w.eq_ignore_ascii_case(b"@room"))
        && body
            .split('\n')
            .any(|line| at_names(line).any(|name| name.eq_ignore_ascii_case(ROOM_MENTION)))
}

/// Checks a name for a new account: a valid user name, and not one that
/// means something else in a message ([`ROOM_MENTION`]). Existing accounts
/// keep logging in with [`normalize_user`].
///
/// # Errors
/// [`NameError::User`] for an invalid name, [`NameError::Reserved`] for a
/// reserved one.
pub fn new_account_name(s: &str) -> Result<String, NameError> {
    let name = normalize_user(s)?;
    if name == ROOM_MENTION {
        return Err(NameError::Reserved(name));
    }
    Ok(name)
}

/// Whether `word` occurs in `text` as a whole word, ignoring case (Unicode
/// simple case folding, letter by letter): `deploy` is in "Deploy done!"
/// but not in "deployed". A word ends where a letter, digit or `_` would
/// not continue it, so a word ending in punctuation (`c++`) is found too.
/// Allocates nothing; an empty `word` is never found.
#[must_use]
pub fn contains_word(text: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    if word.is_empty() {
        return false;
    }
    let mut before: Option<char> = None;
    for (i, c) in text.char_indices() {
        if !before.is_some_and(is_word)
            && let Some(len) = prefix_ignoring_case(&text[i..], word)
            && !text[i + len..].chars().next().is_some_and(is_word)
        {
            return true;
        }
        before = Some(c);
    }
    false
}

/// The length in `text` of a prefix equal to `word` ignoring case.
fn prefix_ignoring_case(text: &str, word: &str) -> Option<usize> {
    let mut t = text.char_indices();
    for w in word.chars() {
        let (_, c) = t.next()?;
        if c != w && !c.to_lowercase().eq(w.to_lowercase()) {
            return None;
        }
    }
    Some(t.next().map_or(text.len(), |(i, _)| i))
}

/// The name a line is addressed to, `name:` or `name,` at its start
/// (after any blanks), as written: not yet checked nor lowercased.
fn addressed(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))?;
    matches!(line.as_bytes()[end], b':' | b',')
        .then(|| &line[..end])
        .filter(|name| !name.is_empty())
}

/// The names after each `@` that starts a word, as written.
fn at_names(line: &str) -> impl Iterator<Item = &str> {
    let bytes = line.as_bytes();
    line.match_indices('@').filter_map(move |(at, _)| {
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            return None;
        }
        let rest = &line[at + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        // A trailing '-' is punctuation ("@bob- see"), not part of the name.
        Some(rest[..end].trim_end_matches('-')).filter(|name| !name.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_trimmed_labels_of_printable_text() {
        assert_eq!(normalize_category("  Team A "), Ok(Some("Team A".into())));
        assert_eq!(normalize_category(" "), Ok(None));
        assert!(normalize_category(&"x".repeat(33)).is_err());
        assert_eq!(
            normalize_category(&"é".repeat(32)).map(|c| c.is_some()),
            Ok(true)
        );
        assert!(normalize_category("a\u{202e}b").is_err());
        assert!(normalize_category("a\nb").is_err());
    }

    #[test]
    fn at_room_calls_the_whole_room_and_room_is_no_new_account() {
        for yes in ["@room deploy failed", "look @ROOM!", "a\nb @room"] {
            assert!(mentions_room(yes), "{yes}");
        }
        for no in [
            "room: hello",
            "@roomy",
            "mail@room",
            "@rooms",
            "the room",
            "",
        ] {
            assert!(!mentions_room(no), "{no}");
        }
        assert_eq!(
            new_account_name("Room"),
            Err(NameError::Reserved("room".into()))
        );
        assert_eq!(new_account_name("roomba").as_deref(), Ok("roomba"));
        assert!(matches!(new_account_name("9x"), Err(NameError::User(_))));
    }

    #[test]
    fn reaction_keys_are_one_emoji_or_a_shortcode() {
        for good in [
            "👍",
            "🎉",
            "👍🏽",
            "🇫🇷",
            "👨‍👩‍👧",
            "1️⃣",
            ":tada:",
            ":+1:",
            ":ship-it:",
        ] {
            assert_eq!(reaction_key(good), Ok(()), "{good}");
        }
        let long = format!(":{}:", "a".repeat(31));
        for bad in [
            "",
            "a",
            "ab",
            "👍👍",
            " ",
            ":",
            "::",
            ":Tada:",
            ":a b:",
            "1",
            "é",
            "\u{202e}",
            "👍\u{202e}",
            long.as_str(),
        ] {
            assert!(reaction_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(Target::parse("#Rust").unwrap(), Target::Room("rust".into()));
        assert_eq!(
            Target::parse("deploys").unwrap(),
            Target::Room("deploys".into())
        );
        assert_eq!(
            Target::parse("@Alice").unwrap(),
            Target::Direct("alice".into())
        );
        assert!(Target::parse("#").is_err());
        assert!(Target::parse("@1abc").is_err());
        assert!(Target::parse("#has space").is_err());
        assert!(Target::parse(&format!("#{}", "a".repeat(51))).is_err());
        assert_eq!(Target::Room("x".into()).display(), "#x");
    }

    #[test]
    fn display_names_are_trimmed_bounded_and_printable() {
        assert_eq!(
            normalize_display_name(Some("  Alice Liddell ")),
            Ok(Some("Alice Liddell".into()))
        );
        assert_eq!(normalize_display_name(Some(" \t ")), Ok(None));
        assert_eq!(normalize_display_name(None), Ok(None));
        let long = "é".repeat(MAX_DISPLAY_NAME_CHARS);
        assert_eq!(normalize_display_name(Some(&long)), Ok(Some(long.clone())));
        let e = normalize_display_name(Some(&format!("{long}x"))).unwrap_err();
        assert_eq!(e, NameError::DisplayTooLong(65));
        assert!(e.to_string().contains("at most 64 characters"), "{e}");
        for bad in ["a\nb", "a\u{1b}[31m", "a\u{202e}b", "a\u{7f}"] {
            assert_eq!(
                normalize_display_name(Some(bad)),
                Err(NameError::DisplayUnsafe)
            );
        }
    }

    #[test]
    fn mention_parsing() {
        let m: Vec<_> = mentions("@Bob, ask @carol-x and mail@example.com or @@ @bob-").collect();
        assert_eq!(m, ["bob", "carol-x", "bob"]);
        assert!(mentions_user("hi @alice!", "alice"));
        assert!(!mentions_user("hi @alicia", "alice"));
    }

    #[test]
    fn a_nick_and_a_colon_or_comma_at_the_start_of_a_line_is_a_mention() {
        assert!(mentions_user("alice: lunch?", "alice"));
        assert!(mentions_user("Alice, lunch?", "alice"));
        assert!(mentions_user("  alice:", "alice"));
        assert!(mentions_user("so\nalice: you too", "alice"));
        // Not at the start, not followed by ':' or ',', or a longer name.
        assert!(!mentions_user("ask alice: she knows", "alice"));
        assert!(!mentions_user("alice is here", "alice"));
        assert!(!mentions_user("alicia: hi", "alice"));
        assert!(!mentions_user("alice-x: hi", "alice"));
        assert!(!mentions_user("", "alice"));
        assert!(!mentions_user(":", "alice"));
        // `mentions` agrees, in order, and an `@nick:` is one mention.
        let m: Vec<_> = mentions("Bob: ask @carol\n@dave: and\neve, too, frank,").collect();
        assert_eq!(m, ["bob", "carol", "dave", "eve"]);
        // Not a valid user name: not a mention.
        assert_eq!(mentions("1st: item").count(), 0);
    }

    #[test]
    fn whole_words_ignoring_case() {
        assert!(contains_word("Deploy done!", "deploy"));
        assert!(contains_word("the DEPLOY", "deploy"));
        assert!(contains_word("(deploy)", "Deploy"));
        assert!(contains_word("Über alles", "über"));
        assert!(!contains_word("deployed", "deploy"));
        assert!(!contains_word("redeploy", "deploy"));
        assert!(!contains_word("deploy_x", "deploy"));
        assert!(!contains_word("depl", "deploy"));
        assert!(!contains_word("anything", ""));
        assert!(contains_word("redeploy and deploy", "deploy"));
        assert!(contains_word("learn c++ now", "c++"));
    }
}
