//! What an upload is, from its bytes and its name: the type sniffed from
//! the content (never from the name), and a file name safe to show and to
//! save under.

/// The MIME type of a file, from its first bytes. Known binary formats by
/// their magic numbers; otherwise UTF-8 text is `text/plain` and anything
/// else `application/octet-stream`.
#[must_use]
pub fn sniff(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    if head.is_empty() {
        return "application/x-empty".into();
    }
    // The head may end inside a character: text up to a cut one is text.
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > head.len(),
    };
    if text && !head.contains(&0) {
        "text/plain".into()
    } else {
        "application/octet-stream".into()
    }
}

/// How many leading bytes [`sniff`] needs.
pub const SNIFF_BYTES: usize = 8192;

/// The longest file name kept, in bytes.
pub const MAX_NAME: usize = 255;

/// A file name to show and save under: the last path component only, no
/// control characters, no leading dots that would hide it, at most
/// [`MAX_NAME`] bytes.
///
/// # Errors
/// Nothing usable is left (an empty name, `..`).
pub fn sanitize_name(name: &str) -> Result<String, &'static str> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut clean: String = last
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .trim()
        .to_owned();
    if clean.len() > MAX_NAME {
        // Keep the extension: it is what tells a reader the kind of file.
        let ext = clean
            .rsplit_once('.')
            .map(|(_, e)| e)
            .filter(|e| e.len() <= 16)
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        let mut end = MAX_NAME - ext.len();
        while !clean.is_char_boundary(end) {
            end -= 1;
        }
        clean.truncate(end);
        clean.push_str(&ext);
    }
    if clean.is_empty() {
        return Err("the file needs a name (not empty, not only dots or a path)");
    }
    Ok(clean)
}

/// Whether `s` is a SHA-256 in lowercase hex.
#[must_use]
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_content() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"), "image/jpeg");
        assert_eq!(sniff(b"GIF89a"), "image/gif");
        assert_eq!(sniff(b"hello, world\n"), "text/plain");
        assert_eq!(sniff("café".as_bytes()), "text/plain");
        // Cut inside a character: still text.
        assert_eq!(sniff(&"é".as_bytes()[..1]), "text/plain");
        assert_eq!(sniff(b"\x00\x01\x02\xfe"), "application/octet-stream");
        assert_eq!(sniff(b""), "application/x-empty");
        // A name says nothing: a PNG called notes.txt is a PNG.
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), "image/png");
    }

    #[test]
    fn names_lose_paths_and_controls() {
        assert_eq!(sanitize_name("build.log").unwrap(), "build.log");
        assert_eq!(sanitize_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(sanitize_name("C:\\Users\\a\\shot.png").unwrap(), "shot.png");
        assert_eq!(
            sanitize_name("a\x1b[31mred\n.txt").unwrap(),
            "a [31mred .txt"
        );
        assert_eq!(sanitize_name(".hidden").unwrap(), "hidden");
        assert!(sanitize_name("..").is_err());
        assert!(sanitize_name("dir/").is_err());
        assert!(sanitize_name("  ").is_err());
        let long = format!("{}.tar.gz", "x".repeat(400));
        let cut = sanitize_name(&long).unwrap();
        assert!(
            cut.len() <= MAX_NAME && cut.rsplit_once('.').map(|(_, e)| e) == Some("gz"),
            "{cut}"
        );
        assert!(is_sha256(&"a".repeat(64)));
        assert!(!is_sha256(&"A".repeat(64)));
        assert!(!is_sha256("abc"));
    }
}
