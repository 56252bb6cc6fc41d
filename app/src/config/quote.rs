//! Quoting what a user wrote in an error or warning: cut to a readable
//! length and escaped, so that a 100 KB value or a key with a newline in it
//! still makes one short line.

use crate::logline::escaped_as_code;

/// Characters of a value shown before it is cut.
const SHOWN_CHARS: usize = 64;

/// `value` in double quotes, escaped as Rust writes a string literal; cut to
/// its first 64 characters (on a char boundary) and its length added when longer.
pub fn quote(value: &str) -> String {
    match cut(value) {
        None => format!("{value:?}"),
        Some(head) => format!("{head:?}... ({} characters)", value.chars().count()),
    }
}

/// `text` without quotes, escaped as a log line value is (control
/// characters, line separators, bidi controls), cut like [`quote`]: for a
/// message written straight to stderr.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * SHOWN_CHARS));
    for c in shorten(text).chars() {
        if escaped_as_code(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` cut like [`quote`], not escaped: for a log line field, which
/// escapes on its own.
pub fn shorten(text: &str) -> String {
    match cut(text) {
        None => text.to_owned(),
        Some(head) => format!("{head}... ({} characters)", text.chars().count()),
    }
}

/// The first [`SHOWN_CHARS`] characters of `text`, if it is longer.
fn cut(text: &str) -> Option<&str> {
    text.char_indices()
        .nth(SHOWN_CHARS)
        .map(|(boundary, _)| &text[..boundary])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_whole_and_escaped() {
        assert_eq!(quote("abc"), "\"abc\"");
        assert_eq!(quote("a\nb|\"c"), "\"a\\nb|\\\"c\"");
        assert_eq!(one_line("a\nb\u{1b}"), "a\\nb\\u{1b}");
        assert_eq!(one_line("a\u{2028}b\u{202e}"), "a\\u{2028}b\\u{202e}");
        assert_eq!(quote("a\u{2029}b\u{feff}"), "\"a\\u{2029}b\\u{feff}\"");
        let exactly = "x".repeat(SHOWN_CHARS);
        assert_eq!(quote(&exactly), format!("\"{exactly}\""));
    }

    #[test]
    fn long_values_cut_on_a_char_boundary_with_their_length() {
        let long = "é".repeat(100_000);
        let quoted = quote(&long);
        assert_eq!(
            quoted,
            format!("\"{}\"... (100000 characters)", "é".repeat(SHOWN_CHARS))
        );
        let named = format!("{}\n", "k".repeat(200));
        assert_eq!(
            shorten(&named),
            format!("{}... (201 characters)", "k".repeat(64))
        );
        assert_eq!(one_line(&"\n".repeat(100)).len(), 64 * 2 + 20);
    }
}
