//! Log output: `YYYY-MM-DD HH:MM:SS LEVEL    <message>` in UTC, on stderr:
//! the level padded to 8 characters, then a space (Python's
//! `%(asctime)s %(levelname)-8s %(message)s`).
//! Tests read it back with `testkit::parse_line`.
//!
//! Log output never blocks the loop. Lines are formatted by `env_logger`
//! into a queue; once per turn of the loop, just before it blocks in `poll`,
//! [`flush`] hands the turn's lines to a writer thread, which writes them to
//! stderr (and a turn that logs more than [`HANDOFF`] bytes hands them over
//! as it goes, so the writer works beside it). With a healthy stderr no line
//! is lost, reordered or held back past the turn that logged it, however
//! many a turn logs: up to [`HARD_LIMIT`] bytes may wait while the writer
//! keeps moving. With a stderr that stalls (a pipe nobody reads: no byte
//! written for [`STALL`]) the loop goes on: at most [`BUFFER_LIMIT`] bytes
//! wait, later lines are dropped and counted, and once output moves again
//! one line, in place of the lost ones, says how many were lost (see
//! [`dropped_report`]). A line longer than [`MAX_LINE`] is cut, never
//! dropped for its length. At exit [`flush_before_exit`] gives pending lines a bounded
//! time.
//!
//! The writer thread is not optional: a program that cannot start it stops
//! at once (see [`init`]) rather than run a loop that could block on fd 2.
//!
//! The writer uses fd 2 directly: no `O_NONBLOCK` on it (that flag belongs to
//! the open file description, shared with whoever else holds it: a terminal,
//! the parent shell), and no `Stderr` lock the loop thread could wait on.

use std::fs::File;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter};

use crate::{LogLine, Outcome};

/// Most bytes of log output that may wait for a stalled stderr (queued plus
/// being written); beyond it lines are dropped and counted.
pub const BUFFER_LIMIT: usize = 1 << 20;
/// Most bytes that may wait for a stderr that is moving: a shutdown that
/// closes 50,000 connections logs about 6 MiB in one turn, faster than any
/// writer, and loses none of it. Memory stays bounded by this.
pub const HARD_LIMIT: usize = 16 << 20;
/// A write that has made no progress for this long is a stalled stderr.
pub const STALL: Duration = Duration::from_millis(100);
/// Queued bytes past which the loop hands lines to the writer before its
/// turn ends.
pub const HANDOFF: usize = 64 << 10;
/// Longest line written whole; a longer one is cut here (at a character
/// boundary) and says so. A 64 KiB message of control bytes escapes to
/// about 384 KiB.
pub const MAX_LINE: usize = 256 << 10;
/// The writer writes a batch in pieces of this size, noting its progress
/// after each, so a large batch to a moving stderr is not taken for a stall.
const WRITE_PIECE: usize = 64 << 10;

/// What waits for stderr, shared by the loggers and the writer thread.
#[derive(Debug)]
struct Output {
    /// Lines logged and not yet taken by the writer.
    queued: Vec<u8>,
    /// The loop has flushed: the writer may take `queued`.
    flushed: bool,
    /// Bytes of the batch being written not yet written.
    in_flight: usize,
    /// When the writer last wrote a piece (or took a batch).
    progress_at: Option<Instant>,
    /// Lines lost since the last report; while non-zero every line is
    /// dropped, so none is written out of place before the report.
    dropped: u64,
    /// The limit in force when the first of them was dropped.
    dropped_at_limit: usize,
}

static OUTPUT: Mutex<Output> = Mutex::new(Output::EMPTY);
/// Signalled when there is a batch for the writer.
static WORK: Condvar = Condvar::new();
/// Signalled when the writer has finished a batch.
static WRITTEN: Condvar = Condvar::new();

fn lock_output() -> MutexGuard<'static, Output> {
    // A panic while holding the lock leaves plain bytes behind: still usable.
    OUTPUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Output {
    /// Nothing waiting, nothing lost.
    const EMPTY: Output = Output {
        queued: Vec::new(),
        flushed: false,
        in_flight: 0,
        progress_at: None,
        dropped: 0,
        dropped_at_limit: 0,
    };

    /// Queues one line (cut to [`MAX_LINE`]), or drops it when what waits
    /// is at the limit in force; returns whether the writer should start on
    /// the queue now ([`HANDOFF`]). `now` is read only when the line would
    /// take what waits past [`BUFFER_LIMIT`]: the common line costs no clock.
    fn push(&mut self, line: &[u8], now: impl FnOnce() -> Instant) -> bool {
        let line = cut_to_max_line(line);
        let waiting = self.in_flight + self.queued.len() + line.len();
        let limit = if waiting <= BUFFER_LIMIT {
            BUFFER_LIMIT
        } else {
            self.limit(now())
        };
        if self.dropped > 0 || waiting > limit {
            if self.dropped == 0 {
                self.dropped_at_limit = limit;
            }
            self.dropped += 1;
            return false;
        }
        self.queued.extend_from_slice(&line);
        self.queued.len() >= HANDOFF
    }

    /// [`BUFFER_LIMIT`] while stderr is stalled, else [`HARD_LIMIT`].
    fn limit(&self, now: Instant) -> usize {
        let stalled = self.in_flight > 0
            && self
                .progress_at
                .is_some_and(|at| now.saturating_duration_since(at) >= STALL);
        if stalled {
            BUFFER_LIMIT
        } else {
            HARD_LIMIT
        }
    }

    /// The writer wrote `bytes` of its batch.
    fn progressed(&mut self, bytes: usize, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
        self.progress_at = Some(now);
    }

    /// After a batch is written: the report of lost lines goes where they
    /// would have been, before any line logged since.
    fn batch_written(&mut self, now: SystemTime) {
        self.in_flight = 0;
        if self.dropped > 0 {
            let _ = write_line(
                &mut self.queued,
                &utc_timestamp(now),
                Level::Error,
                &format_args!("{}", dropped_report(self.dropped, self.dropped_at_limit)),
            );
            self.dropped = 0;
            self.flushed = true;
        }
    }

    fn idle(&self) -> bool {
        self.queued.is_empty() && self.in_flight == 0
    }
}

/// `line` whole, or its first [`MAX_LINE`] bytes (at a character boundary)
/// and a note of its length, still one line.
fn cut_to_max_line(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if line.len() <= MAX_LINE {
        return line.into();
    }
    // Lines are UTF-8 (formatted text): back up to the start of a character.
    let mut end = MAX_LINE;
    while end > 0 && line[end] & 0b1100_0000 == 0b1000_0000 {
        end -= 1;
    }
    let mut cut = line[..end].to_vec();
    let _ = writeln!(cut, " [line cut at {end} of {} bytes]", line.len() - 1);
    cut.into()
}

/// The line that stands for `count` lost lines, dropped once `limit` bytes
/// waited. It is a `fail` (lines were lost: not a normal run) at ERROR, so
/// it shows at any configured level.
pub fn dropped_report(count: u64, limit: usize) -> LogLine {
    LogLine::new("log", Outcome::Fail)
        .field("dropped_lines", count)
        .field(
            "error",
            format_args!("stderr did not keep up, {} KiB buffer full", limit / 1024),
        )
}

/// The logger's target: queues each line; the writer thread does the I/O.
struct Queue;

impl Write for Queue {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        // env_logger hands over each formatted line in one call.
        let mut output = lock_output();
        if output.push(line, Instant::now) {
            output.flushed = true;
            WORK.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // env_logger flushes after every line; the real flush is once a turn.
        Ok(())
    }
}

/// Installs the logger at `level` and starts the writer thread. Calling it
/// twice keeps the first logger (and sets the level).
///
/// The logger's own filter lets every level through; the level in force is
/// `log`'s global maximum alone, which [`set_level`] can change at any time
/// (a reload), and which the logging macros check before anything else.
///
/// An error when the writer thread cannot be started (a process limit):
/// without it every line would be a write on the loop's thread, which a
/// stderr nobody reads blocks for good.
pub fn init(level: LevelFilter) -> io::Result<()> {
    let installed = env_logger::Builder::new()
        .filter_level(LevelFilter::max())
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
        .target(env_logger::Target::Pipe(Box::new(Queue)))
        .try_init()
        .is_ok();
    set_level(level);
    if installed {
        reactor::signals::spawn_helper("log-writer", write_batches)?;
    }
    Ok(())
}

/// Sets the level in force from the next line on.
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// The level in force.
pub fn level() -> LevelFilter {
    log::max_level()
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

/// Hands the lines of this turn to the writer; never waits for I/O. The
/// reactor calls it before each `poll` and when it stops.
pub fn flush() {
    let mut output = lock_output();
    if !output.queued.is_empty() {
        output.flushed = true;
        WORK.notify_one();
    }
}

/// Flushes, then waits until everything logged is written, or until the
/// writer has made no progress for `budget`, or for [`EXIT_WAIT_CAP`] in all,
/// whichever comes first: a healthy stderr gets every line (a shutdown's
/// thousands of close lines included), a stalled one holds the exit back
/// by `budget` at most. Called once at exit.
pub fn flush_before_exit(budget: Duration) {
    flush();
    let start = Instant::now();
    let cap = start + EXIT_WAIT_CAP;
    let mut output = lock_output();
    while !output.idle() {
        let now = Instant::now();
        let moved = output.progress_at.map_or(start, |at| at.max(start));
        let deadline = (moved + budget).min(cap);
        let Some(left) = deadline.checked_duration_since(now) else {
            return;
        };
        output = WRITTEN
            .wait_timeout(output, left)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0;
    }
}

/// Longest [`flush_before_exit`] waits for a writer that keeps moving.
pub const EXIT_WAIT_CAP: Duration = Duration::from_millis(300);

/// The writer thread: takes each flushed batch and writes it in pieces of
/// [`WRITE_PIECE`], noting its progress after each.
fn write_batches() {
    let mut batch = Vec::new();
    let mut output = lock_output();
    loop {
        while !output.flushed || output.queued.is_empty() {
            output = WORK
                .wait(output)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        output.flushed = false;
        std::mem::swap(&mut batch, &mut output.queued);
        output.in_flight = batch.len();
        output.progress_at = Some(Instant::now());
        drop(output);
        for piece in batch.chunks(WRITE_PIECE) {
            write_stderr(piece);
            lock_output().progressed(piece.len(), Instant::now());
            WRITTEN.notify_all();
        }
        batch.clear();
        // A burst (a shutdown's close lines) must not keep megabytes for good.
        batch.shrink_to(4 * HANDOFF);
        output = lock_output();
        output.batch_written(SystemTime::now());
        WRITTEN.notify_all();
    }
}

/// Writes to fd 2, blocking as long as it takes. A failing stderr (closed,
/// reader gone) leaves nowhere to report it: the lines are discarded.
fn write_stderr(bytes: &[u8]) {
    // SAFETY: fd 2 exists for the whole process (Rust's runtime opens
    // /dev/null on it if it was closed at exec); ManuallyDrop never closes it.
    let mut stderr = ManuallyDrop::new(unsafe { File::from_raw_fd(2) });
    let _ = stderr.write_all(bytes);
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
    use testkit::parse_line;

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

    fn empty_output() -> Output {
        Output::EMPTY
    }

    #[test]
    fn a_full_buffer_drops_whole_lines_and_reports_them_in_their_place() {
        let mut output = empty_output();
        let now = Instant::now();
        let line = vec![b'x'; 1024];
        let fit = BUFFER_LIMIT / line.len();
        for _ in 0..fit {
            output.push(&line, || now);
        }
        assert_eq!(output.queued.len(), fit * line.len());
        // The writer takes the batch and blocks on it, writing nothing for
        // longer than STALL: nothing more fits.
        output.in_flight = std::mem::take(&mut output.queued).len();
        output.progress_at = Some(now);
        let later = now + STALL;
        output.push(b"short\n", || later);
        output.push(b"later\n", || later);
        assert_eq!((output.dropped, output.queued.len()), (2, 0));
        output.batch_written(UNIX_EPOCH);
        output.push(b"after\n", || later);
        let text = String::from_utf8(output.queued.clone()).unwrap();
        assert_eq!(
            text,
            "1970-01-01 00:00:00 ERROR    action: log | result: fail | dropped_lines: 2 \
             | error: stderr did not keep up, 1024 KiB buffer full\nafter\n"
        );
        assert!(parse_line(text.lines().next().unwrap()).is_some());
        assert_eq!(output.dropped, 0);
        assert!(output.flushed);
    }

    #[test]
    fn once_lines_are_dropped_none_is_queued_before_the_report() {
        let mut output = empty_output();
        let now = Instant::now();
        output.in_flight = BUFFER_LIMIT - 10;
        output.progress_at = Some(now);
        output.push(&[b'y'; 20], || now + STALL);
        output.push(b"tiny\n", || now); // would fit, but would land ahead of the report
        assert_eq!((output.dropped, output.queued.len()), (2, 0));
    }

    #[test]
    fn a_moving_stderr_may_fall_behind_by_more_than_the_stall_buffer() {
        let mut output = empty_output();
        let now = Instant::now();
        output.in_flight = BUFFER_LIMIT;
        output.progress_at = Some(now);
        // Progress within STALL: a turn that logs 10 MiB loses nothing.
        let line = vec![b'x'; 1000];
        let mut handoffs = 0;
        for _ in 0..10_000 {
            handoffs += usize::from(output.push(&line, || now + STALL / 2));
        }
        assert_eq!(output.dropped, 0);
        assert_eq!(output.queued.len(), 10_000 * 1000);
        assert!(handoffs > 0, "the writer is started before the turn ends");
        // Memory stays bounded even so.
        output.in_flight = HARD_LIMIT - output.queued.len();
        output.push(&line, || now);
        assert_eq!(output.dropped, 1);
        output.batch_written(UNIX_EPOCH);
        let text = String::from_utf8_lossy(&output.queued);
        assert!(
            text.ends_with(
                "dropped_lines: 1 | error: stderr did not keep up, 16384 KiB buffer full\n"
            ),
            "{}",
            &text[text.len() - 200..]
        );
    }

    #[test]
    fn a_line_longer_than_max_line_is_cut_not_dropped() {
        let mut output = empty_output();
        // One byte, then two-byte characters: MAX_LINE falls inside one.
        let mut long = format!("a{}", "é".repeat(MAX_LINE)).into_bytes();
        long.push(b'\n');
        output.push(&long, Instant::now);
        assert_eq!(output.dropped, 0);
        let text = String::from_utf8(output.queued.clone()).expect("cut at a character boundary");
        assert!(text.len() < MAX_LINE + 100);
        assert!(
            text.ends_with(&format!(
                " [line cut at {} of {} bytes]\n",
                MAX_LINE - 1,
                1 + 2 * MAX_LINE
            )),
            "{}",
            &text[text.len() - 80..]
        );
        assert_eq!(text.matches('\n').count(), 1);
        output.push(b"next\n", Instant::now);
        assert!(output.queued.ends_with(b"next\n"));
    }

    #[test]
    fn levels_print_python_names() {
        assert_eq!(format!("{:<8}|", level_name(Level::Warn)), "WARNING |");
        assert_eq!(format!("{:<8}|", level_name(Level::Info)), "INFO    |");
    }
}
