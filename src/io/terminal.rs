//! Text from files on the terminal. Names inside a schedule, a key or ciphertext container or a
//! CSV header were written by whoever made the file (the server, for a client): printed raw, an
//! ESC could rewrite the screen or the window title, a CR or newline forge a line, and a
//! Unicode bidi override make a name read as another. Such characters are shown as visible
//! escapes (`\u{1b}`, `\r`, `\u{202e}`), like [`str::escape_debug`] does for control
//! characters; everything else, non-ASCII letters included, is left as it is.

use std::borrow::Cow;

/// `s` with every control character (C0, DEL, C1, newlines included) and Unicode bidi control
/// escaped: for names from files, which are one line.
pub fn escape_for_terminal(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Like [`escape_for_terminal`] but keeps newlines: for whole messages, whose lines are ours
/// (the names in them are escaped, newlines included, where the name is printed on its own).
pub fn escape_message(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() && !(keep_newlines && c == '\n')) || is_bidi(c);
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The Unicode bidirectional formatting characters (marks, embeddings, overrides, isolates):
/// invisible, they reorder the text around them.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_become_visible_escapes() {
        assert!(matches!(
            escape_for_terminal("logreg_1 ünïcode"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_for_terminal("a\u{1b}]0;title\u{7}b"),
            "a\\u{1b}]0;title\\u{7}b"
        );
        assert_eq!(
            escape_for_terminal("x\r\ny\tz\u{7f}\u{9b}"),
            "x\\r\\ny\\tz\\u{7f}\\u{9b}"
        );
        assert_eq!(
            escape_for_terminal("abc\u{202e}gpj.exe\u{2066}\u{200f}"),
            "abc\\u{202e}gpj.exe\\u{2066}\\u{200f}"
        );
        // Messages keep their own line breaks, nothing else.
        assert_eq!(
            escape_message("one\ntwo\r\u{1b}[2J"),
            "one\ntwo\\r\\u{1b}[2J"
        );
    }
}
