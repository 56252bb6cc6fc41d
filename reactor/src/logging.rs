//! Log output: `YYYY-MM-DD HH:MM:SS LEVEL    <message>` in UTC, on stderr:
//! the level padded to 8 characters, then a space (Python's
//! `%(asctime)s %(levelname)-8s %(message)s`). [`parse_line`] reads it back.
//!
//! Lines are formatted by `env_logger` into a buffer that the reactor writes out
//! once per turn of the loop, just before it blocks in `poll`: one `write` per
//! turn instead of one per line, no line lost or reordered, none held back past
//! the turn that logged it.

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter};

/// Lines logged since the last [`flush`].
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// The logger's target: appends to [`PENDING`]; [`flush`] does the I/O.
struct TurnBuffer;

impl Write for TurnBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        lock_pending().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // env_logger flushes after every line; the real flush is once a turn.
        Ok(())
    }
}

fn lock_pending() -> std::sync::MutexGuard<'static, Vec<u8>> {
    // A panic while holding the lock leaves plain bytes behind: still usable.
    PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Installs the logger at `level`. Calling it twice keeps the first logger.
pub fn init(level: LevelFilter) {
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .format(|out, record| {
            STAMP.with_borrow_mut(|stamp| {
                write_line(
                    out,
                    stamp.at(SystemTime::now()),
                    record.level(),
                    record.args(),
                )
            })
        })
        .target(env_logger::Target::Pipe(Box::new(TurnBuffer)))
        .try_init();
    log::set_max_level(level);
}

/// One line: timestamp, level padded to 8, a space, the message.
fn write_line(
    out: &mut impl Write,
    timestamp: &str,
    level: Level,
    message: &std::fmt::Arguments<'_>,
) -> io::Result<()> {
    writeln!(out, "{timestamp} {:<8} {message}", level_name(level))
}

/// Writes the pending lines to stderr. The reactor calls it before each
/// `poll` and on exit; `main` calls it before exiting.
pub fn flush() {
    let mut pending = lock_pending();
    if pending.is_empty() {
        return;
    }
    let mut stderr = io::stderr().lock();
    // Nowhere left to report a failing stderr: drop the lines rather than block.
    let _ = stderr.write_all(&pending);
    let _ = stderr.flush();
    pending.clear();
    if pending.capacity() > 1 << 20 {
        pending.shrink_to(1 << 16);
    }
}

/// One log line taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine<'a> {
    /// `YYYY-MM-DD HH:MM:SS`.
    pub timestamp: &'a str,
    /// `ERROR`, `WARNING`, `INFO` or `DEBUG`.
    pub level: &'a str,
    /// The `action` field.
    pub action: &'a str,
    /// `success`, `fail` or `in_progress`.
    pub result: &'a str,
    /// The fields after `result`, in order, values still escaped.
    pub fields: Vec<(&'a str, &'a str)>,
}

impl ParsedLine<'_> {
    /// The value of a field after `result`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// The message: everything from `action:` on.
    pub fn message(&self) -> String {
        let mut text = format!("action: {} | result: {}", self.action, self.result);
        for (key, value) in &self.fields {
            text.push_str(&format!(" | {key}: {value}"));
        }
        text
    }
}

/// Parses a line of the contract's format; `None` if it is off the format
/// in any way (timestamp, level padding, field shape, result word).
pub fn parse_line(line: &str) -> Option<ParsedLine<'_>> {
    let timestamp = line.get(..19)?;
    let shape_ok = timestamp.char_indices().all(|(i, c)| match i {
        4 | 7 => c == '-',
        10 => c == ' ',
        13 | 16 => c == ':',
        _ => c.is_ascii_digit(),
    });
    let level_field = line.get(19..29)?;
    let level = level_field[1..9].trim_end();
    let level_ok = level_field.starts_with(' ')
        && level_field.ends_with(' ')
        && ["ERROR", "WARNING", "INFO", "DEBUG"].contains(&level)
        && level_field[1..9] == format!("{level:<8}");
    if !shape_ok || !level_ok {
        return None;
    }
    let mut parts = line.get(29..)?.split(" | ");
    let action = parts.next()?.strip_prefix("action: ")?;
    let result = parts.next()?.strip_prefix("result: ")?;
    if !["success", "fail", "in_progress"].contains(&result) {
        return None;
    }
    let fields = parts
        .map(|part| part.split_once(": "))
        .collect::<Option<Vec<_>>>()?;
    Some(ParsedLine {
        timestamp,
        level,
        action,
        result,
        fields,
    })
}

/// The level names of the contract (Python's, as the course's tools expect).
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug | Level::Trace => "DEBUG",
    }
}

/// Parses a configured level: `ERROR`, `WARNING`/`WARN`, `INFO`, `DEBUG`, any case.
pub fn parse_level(text: &str) -> Option<LevelFilter> {
    match text.trim().to_ascii_uppercase().as_str() {
        "ERROR" => Some(LevelFilter::Error),
        "WARNING" | "WARN" => Some(LevelFilter::Warn),
        "INFO" => Some(LevelFilter::Info),
        "DEBUG" => Some(LevelFilter::Debug),
        _ => None,
    }
}

thread_local! {
    /// The timestamp of the current second, formatted once per second rather
    /// than once per line.
    static STAMP: std::cell::RefCell<SecondStamp> = const {
        std::cell::RefCell::new(SecondStamp { second: u64::MAX, text: String::new() })
    };
}

/// A formatted timestamp and the second it stands for.
struct SecondStamp {
    second: u64,
    text: String,
}

impl SecondStamp {
    fn at(&mut self, time: SystemTime) -> &str {
        let second = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.text = utc_timestamp(time);
        }
        &self.text
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn utc_timestamp(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (year, month, day) = civil_from_days(days);
    let of_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |secs| utc_timestamp(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01 00:00:00");
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(at(1_798_386_916), "2026-12-27 15:55:16");
        assert_eq!(at(4_107_542_399), "2100-02-28 23:59:59");
    }

    #[test]
    fn lines_parse_back_and_off_format_lines_do_not() {
        let line = "2026-11-27 15:55:16 INFO     action: receive_message | result: success | client_id: 1 | msg: [CLIENT 1] Message N°1";
        let parsed = parse_line(line).expect("a contract line");
        assert_eq!(parsed.timestamp, "2026-11-27 15:55:16");
        assert_eq!(
            (parsed.level, parsed.action, parsed.result),
            ("INFO", "receive_message", "success")
        );
        assert_eq!(parsed.field("msg"), Some("[CLIENT 1] Message N°1"));
        assert_eq!(parsed.message(), &line[29..]);
        let mut written = Vec::new();
        let message =
            crate::LogLine::new("shutdown", crate::Outcome::InProgress).field("signal", "SIGTERM");
        write_line(
            &mut written,
            "2026-11-27 15:55:16",
            Level::Warn,
            &format_args!("{message}"),
        )
        .unwrap();
        let written = String::from_utf8(written).unwrap();
        assert_eq!(written, "2026-11-27 15:55:16 WARNING  action: shutdown | result: in_progress | signal: SIGTERM\n");
        assert_eq!(
            parse_line(written.trim_end()).map(|p| p.level),
            Some("WARNING")
        );
        let warning =
            "2026-11-27 15:55:16 WARNING  action: connect | result: fail | error: refused";
        assert_eq!(parse_line(warning).map(|p| p.level), Some("WARNING"));
        for bad in [
            "2026-11-27 15:55:16 INFO    action: x | result: success", // no separator after the padding
            "2026-11-27 15:55:16 INFO     action: x | result: done",
            "2026-11-27 15:55:16 INFO     action: x | result: success | novalue",
            "2026-11-27 15:55:16 LOUD     action: x | result: success",
            "2026-11-27T15:55:16 INFO     action: x | result: success",
            "server: config error: invalid value",
        ] {
            assert_eq!(parse_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn cached_stamp_follows_the_second() {
        let mut stamp = SecondStamp {
            second: u64::MAX,
            text: String::new(),
        };
        let at = |secs: u64, nanos: u32| UNIX_EPOCH + Duration::new(secs, nanos);
        assert_eq!(stamp.at(at(59, 0)), "1970-01-01 00:00:59");
        assert_eq!(stamp.at(at(59, 999_999_999)), "1970-01-01 00:00:59");
        assert_eq!(stamp.at(at(60, 0)), "1970-01-01 00:01:00");
    }

    #[test]
    fn levels_parse_any_case_and_print_python_names() {
        assert_eq!(parse_level("info"), Some(LevelFilter::Info));
        assert_eq!(parse_level(" Warning "), Some(LevelFilter::Warn));
        assert_eq!(parse_level("WARN"), Some(LevelFilter::Warn));
        assert_eq!(parse_level("debug"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("ERROR"), Some(LevelFilter::Error));
        assert_eq!(parse_level("LOUD"), None);
        assert_eq!(parse_level(""), None);
        assert_eq!(format!("{:<8}|", level_name(Level::Warn)), "WARNING |");
        assert_eq!(format!("{:<8}|", level_name(Level::Info)), "INFO    |");
    }
}
