//! The log line format of the contract:
//! `action: <action> | result: <result>[ | <key>: <value>]...`, written by
//! [`LogLine`], with the timestamp and level that [`crate::logging`] puts in
//! front. (Reading lines back is for tests: `testkit::parse_line`.)
//!
//! Values are escaped so that one event is always one parseable line: a value
//! never contains `|`, `\r` or `\n` (nor any other control character, nor a
//! character that log readers take as a line break or that reorders the text
//! shown, see [`escaped_as_code`]), and the escaping is reversible (`\\`
//! stands for a backslash).

use std::fmt::{self, Write as _};

/// The `result` field: exactly one of three words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `success`
    Success,
    /// `fail`
    Fail,
    /// `in_progress`
    InProgress,
}

impl Outcome {
    /// The word written in the line.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Fail => "fail",
            Outcome::InProgress => "in_progress",
        }
    }
}

/// One event, built field by field; `Display` gives the line.
#[derive(Debug, Clone)]
pub struct LogLine {
    text: String,
}

impl LogLine {
    /// Starts a line with its action and result.
    pub fn new(action: &str, outcome: Outcome) -> Self {
        let mut line = LogLine {
            text: String::with_capacity(96),
        };
        line.text.push_str("action: ");
        line.push_escaped(action);
        line.text.push_str(" | result: ");
        line.text.push_str(outcome.as_str());
        line
    }

    /// Adds `| key: value`, the value escaped.
    pub fn field(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.start_field(key);
        let mut escaper = Escaper(&mut self.text);
        // Writing into a String cannot fail.
        let _ = write!(escaper, "{value}");
        self
    }

    /// Adds `| key: value` for raw bytes: valid UTF-8 is kept, any other byte
    /// is written `\xNN`, so non-UTF-8 input is logged without loss.
    pub fn bytes(mut self, key: &str, value: &[u8]) -> Self {
        self.start_field(key);
        for chunk in value.utf8_chunks() {
            self.push_escaped(chunk.valid());
            for byte in chunk.invalid() {
                let _ = write!(self.text, "\\x{byte:02x}");
            }
        }
        self
    }

    fn start_field(&mut self, key: &str) {
        self.text.push_str(" | ");
        self.push_escaped(key);
        self.text.push_str(": ");
    }

    fn push_escaped(&mut self, s: &str) {
        let _ = Escaper(&mut self.text).write_str(s);
    }
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Writes through to a String, escaping what would break a line apart.
struct Escaper<'a>(&'a mut String);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '\\' => self.0.push_str("\\\\"),
                '|' => self.0.push_str("\\x7c"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                c if escaped_as_code(c) => {
                    let _ = write!(self.0, "\\u{{{:x}}}", c as u32);
                }
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

/// Logs one contract line, one line at the call site:
///
/// ```
/// # use app::event;
/// # let (port, peer, message) = (12345, "127.0.0.1", b"hi".as_slice());
/// event!(log::Level::Info, "close_listener", Success; port = port);
/// event!(log::Level::Info, "receive_message", Success; ip = peer, msg = bytes(message));
/// ```
///
/// The level (any expression giving a `log::Level`) comes first, then the
/// action and the [`Outcome`] variant, then, after a `;`, `key = value`
/// fields in order (`key = bytes(b)` for raw bytes, as [`LogLine::bytes`]).
/// As with `log!`, nothing is built or formatted when the level is filtered
/// out. (The `;` also keeps rustfmt from spreading a call over one line per
/// argument.)
#[macro_export]
macro_rules! event {
    ($level:expr, $action:expr, $outcome:ident $(; $($fields:tt)*)?) => {
        $crate::__log::log!(
            $level,
            "{}",
            $crate::event!(@fields $crate::LogLine::new($action, $crate::Outcome::$outcome); $($($fields)*)?)
        )
    };
    (@fields $line:expr; ) => { $line };
    (@fields $line:expr; $key:ident = bytes($value:expr) $(, $($rest:tt)*)?) => {
        $crate::event!(@fields $line.bytes(stringify!($key), $value); $($($rest)*)?)
    };
    (@fields $line:expr; $key:ident = $value:expr $(, $($rest:tt)*)?) => {
        $crate::event!(@fields $line.field(stringify!($key), $value); $($($rest)*)?)
    };
}

/// Whether `c` is written as its code (`\u{2028}`) rather than as itself:
/// control characters, and the invisible ones that make a line read as
/// something else. Many log readers (JavaScript, editors, viewers) split
/// lines at U+2028/U+2029, so a value holding one would show as two events;
/// the bidi controls (U+202A–U+202E, U+2066–U+2069) reorder the text shown,
/// hiding or faking a field; U+FEFF is an invisible byte order mark.
pub fn escaped_as_code(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_line_shape() {
        let line = LogLine::new("config", Outcome::Success)
            .field("port", 12345)
            .field("listen_backlog", 5)
            .field("logging_level", "INFO");
        assert_eq!(
            line.to_string(),
            "action: config | result: success | port: 12345 | listen_backlog: 5 | logging_level: INFO"
        );
        assert_eq!(
            LogLine::new("shutdown", Outcome::InProgress).to_string(),
            "action: shutdown | result: in_progress"
        );
        assert_eq!(
            LogLine::new("connect", Outcome::Fail).to_string(),
            "action: connect | result: fail"
        );
    }

    #[test]
    fn values_never_break_the_line() {
        let line = LogLine::new("receive_message", Outcome::Success)
            .field("msg", "a | b\r\nc\\d\u{7}")
            .to_string();
        assert_eq!(
            line,
            "action: receive_message | result: success | msg: a \\x7c b\\r\\nc\\\\d\\u{7}"
        );
        assert_eq!(line.matches(" | ").count(), 2);
        assert!(!line.contains('\n') && !line.contains('\r'));
    }

    #[test]
    fn line_separators_bidi_controls_and_bom_are_escaped() {
        let tricky = "a\u{2028}b\u{2029}c\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\
                      \u{2066}\u{2067}\u{2068}\u{2069}\u{feff}d";
        let line = LogLine::new("receive_message", Outcome::Success)
            .field("msg", tricky)
            .to_string();
        assert_eq!(
            line,
            "action: receive_message | result: success | msg: a\\u{2028}b\\u{2029}c\
             \\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{202e}\
             \\u{2066}\\u{2067}\\u{2068}\\u{2069}\\u{feff}d"
        );
        let line = LogLine::new("x", Outcome::Success)
            .bytes("msg", "\u{2028}\u{feff}".as_bytes())
            .to_string();
        assert!(line.ends_with("| msg: \\u{2028}\\u{feff}"), "{line}");
        // Their neighbours are ordinary text and stay as they are.
        for c in [
            '\u{2027}', '\u{202f}', '\u{2065}', '\u{206a}', '\u{fefe}', 'é',
        ] {
            assert!(!escaped_as_code(c), "{c:?}");
        }
    }

    #[test]
    fn bytes_keep_utf8_and_escape_the_rest() {
        let line = LogLine::new("receive_message", Outcome::Success)
            .bytes("msg", "[CLIENT 1] Message N°1".as_bytes())
            .to_string();
        assert!(line.ends_with("| msg: [CLIENT 1] Message N°1"));
        let line = LogLine::new("x", Outcome::Success)
            .bytes("msg", b"\xff\xfe\0|\r")
            .to_string();
        assert!(line.ends_with("| msg: \\xff\\xfe\\u{0}\\x7c\\r"), "{line}");
    }
}
