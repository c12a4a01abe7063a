//! The shortcodes the reaction prompt completes, and the emoji each one
//! sends. A key the table does not know is sent as typed when
//! `natter_shared::names::reaction_key` accepts it (any `:shortcode:`).

/// Common shortcodes, the way chat apps spell them.
pub const SHORTCODES: &[(&str, &str)] = &[
    (":+1:", "👍"),
    (":thumbsup:", "👍"),
    (":-1:", "👎"),
    (":thumbsdown:", "👎"),
    (":tada:", "🎉"),
    (":heart:", "❤️"),
    (":joy:", "😂"),
    (":smile:", "😄"),
    (":slightly_smiling_face:", "🙂"),
    (":wink:", "😉"),
    (":laughing:", "😆"),
    (":rofl:", "🤣"),
    (":cry:", "😢"),
    (":sob:", "😭"),
    (":angry:", "😠"),
    (":scream:", "😱"),
    (":eyes:", "👀"),
    (":rocket:", "🚀"),
    (":fire:", "🔥"),
    (":100:", "💯"),
    (":sparkles:", "✨"),
    (":star:", "⭐"),
    (":white_check_mark:", "✅"),
    (":heavy_check_mark:", "✔️"),
    (":x:", "❌"),
    (":warning:", "⚠️"),
    (":question:", "❓"),
    (":exclamation:", "❗"),
    (":thinking:", "🤔"),
    (":pray:", "🙏"),
    (":clap:", "👏"),
    (":wave:", "👋"),
    (":ok_hand:", "👌"),
    (":muscle:", "💪"),
    (":raised_hands:", "🙌"),
    (":point_up:", "☝️"),
    (":facepalm:", "🤦"),
    (":shrug:", "🤷"),
    (":coffee:", "☕"),
    (":beer:", "🍺"),
    (":pizza:", "🍕"),
    (":cake:", "🍰"),
    (":bug:", "🐛"),
    (":zap:", "⚡"),
    (":bulb:", "💡"),
    (":memo:", "📝"),
    (":lock:", "🔒"),
    (":eyes_closed:", "😌"),
    (":sunglasses:", "😎"),
    (":skull:", "💀"),
    (":party:", "🥳"),
];

/// The emoji of `shortcode`, if the table has it.
#[must_use]
pub fn emoji(shortcode: &str) -> Option<&'static str> {
    SHORTCODES
        .iter()
        .find(|(code, _)| *code == shortcode)
        .map(|(_, e)| *e)
}

/// The shortcodes starting with `prefix` (a `:` is added if missing),
/// in table order.
#[must_use]
pub fn complete(prefix: &str) -> Vec<&'static str> {
    let prefix = if prefix.starts_with(':') {
        prefix.to_owned()
    } else {
        format!(":{prefix}")
    };
    SHORTCODES
        .iter()
        .map(|(code, _)| *code)
        .filter(|code| code.starts_with(&prefix))
        .collect()
}

/// The key a typed reaction sends: a known shortcode's emoji, else the
/// text itself when it is a valid key.
///
/// # Errors
/// Why the text is no reaction.
pub fn key_of(typed: &str) -> Result<String, String> {
    let typed = typed.trim();
    if let Some(e) = emoji(typed) {
        return Ok(e.to_owned());
    }
    natter_shared::names::reaction_key(typed)
        .map(|()| typed.to_owned())
        .map_err(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcodes_map_and_complete() {
        assert_eq!(key_of(":+1:").unwrap(), "👍");
        assert_eq!(key_of("🎉").unwrap(), "🎉");
        assert_eq!(complete("ro"), vec![":rofl:", ":rocket:"]);
        assert!(key_of("").is_err());
        for (code, e) in SHORTCODES {
            assert!(natter_shared::names::reaction_key(code).is_ok(), "{code}");
            assert!(natter_shared::names::reaction_key(e).is_ok(), "{code} {e}");
        }
    }
}
