//! Room and user names, written the same way by the server, the client and
//! the command line.
//!
//! User names: 1 to 32 of `a-z 0-9 _ -`, starting with a letter. Room names:
//! 1 to 50 of `a-z 0-9 _ - .`, starting with a letter or digit. Both are
//! case-insensitive and normalised to lowercase. A room is written `#name`
//! (the `#` may be left out on the command line), a direct conversation
//! `@user`.

/// Longest user name.
pub const MAX_USER_LEN: usize = 32;
/// Longest room name, without the `#`.
pub const MAX_ROOM_LEN: usize = 50;
/// Longest display name, in characters (not bytes: a name in any script
/// gets the same room on screen).
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

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

/// The user names mentioned as `@name` in a message body, lowercased, in
/// order of appearance (duplicates included). A mention must start a word:
/// `mail@example` is not one.
pub fn mentions(body: &str) -> impl Iterator<Item = String> + '_ {
    let bytes = body.as_bytes();
    body.match_indices('@').filter_map(move |(at, _)| {
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            return None;
        }
        let rest = &body[at + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        // A trailing '-' is punctuation ("@bob- see"), not part of the name.
        let name = rest[..end].trim_end_matches('-');
        normalize_user(name).ok()
    })
}

/// Whether `body` mentions `user` (already normalised).
#[must_use]
pub fn mentions_user(body: &str, user: &str) -> bool {
    mentions(body).any(|m| m == user)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
