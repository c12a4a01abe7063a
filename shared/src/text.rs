//! Text from peers on a terminal. Names, topics, reasons and messages are
//! written by whoever sent them; printed raw, a newline forges a line of
//! its own (a fake audit entry), an escape sequence drives the terminal
//! (OSC 52 writes the clipboard), and a bidi control reorders what follows.
//! [`escape`] makes such text safe to print as one line: printable text
//! stays as it is, everything else becomes a visible escape.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Unicode's bidirectional formatting characters: embeddings, overrides,
/// isolates and marks. They are invisible, and they reorder the text
/// around them ("Trojan Source").
#[must_use]
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// Whether `c` is unsafe to print as it is: control characters (C0, DEL,
/// C1; newlines and tabs included) and bidi controls.
#[must_use]
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// `text` as one printable line: `\n`, `\r`, `\t` and `\\` as those
/// escapes, any other unsafe character as `\u{…}`. Safe text is borrowed.
#[must_use]
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) || c == '\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A size as people read it: `512 B`, `12.4 KiB`, `3.0 MiB`. Binary
/// units, one decimal: what error messages and attachment lines show.
#[must_use]
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)] // one decimal is shown
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_text_is_borrowed_and_hostile_text_is_visible() {
        assert!(matches!(escape("on call, 日本語 ✓"), Cow::Borrowed(_)));
        assert_eq!(
            escape("topic\n2026-12-01 operator:root user.add mallory"),
            "topic\\n2026-12-01 operator:root user.add mallory"
        );
        assert_eq!(escape("\u{1b}]52;c;aGk=\u{7}"), "\\u{1b}]52;c;aGk=\\u{7}");
        assert_eq!(escape("a\u{202e}b\u{2066}"), "a\\u{202e}b\\u{2066}");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("back\\slash\t"), "back\\\\slash\\t");
    }
}
