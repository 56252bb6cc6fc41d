//! The start and end of a program built on the reactor, shared by both binaries.
//!
//! A binary's first line is [`reactor::hold_signals_before_main!`],
//! so handled signals wait (blocked) from before `main`; [`start`] creates the
//! reactor before anything else, which catches them; [`exit`] gives pending
//! log lines a bounded time to reach stderr.

use std::io;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use std::os::raw::c_int;

use log::{error, info, warn};
use reactor::signals::signal_name;
use reactor::Reactor;

use crate::cli::{parse_args, Command};
use crate::config::ConfigError;
use crate::{logging, LogLine};

/// Creates the reactor (signals first), then reads the command line and the
/// configuration. `Err` carries the exit status when the program must stop
/// there: `--help`/`--version` (0), a usage error (2), a config error (1).
pub fn start<C>(
    name: &str,
    help: &str,
    default_file: &str,
    args: impl IntoIterator<Item = String>,
    load: impl FnOnce(&Path, bool) -> Result<C, ConfigError>,
) -> Result<(Reactor, C), ExitCode> {
    // From here on a signal, including one held since before `main`, is an
    // event of the loop, whatever happens next.
    let mut reactor =
        Reactor::new().map_err(|e| fatal(name, &format!("cannot set up the event loop: {e}")))?;
    // Each turn's log lines go to the writer before the loop blocks.
    reactor.set_before_poll(logging::flush);
    let config_path = match parse_args(name, help, args) {
        Command::Run { config } => config,
        Command::Print(text) => {
            print!("{text}");
            return Err(ExitCode::SUCCESS);
        }
        Command::Usage(text) => {
            eprint!("{text}");
            return Err(ExitCode::from(2));
        }
    };
    // A file named on the command line must exist; the default one may not.
    let required = config_path.is_some();
    let path = config_path.unwrap_or_else(|| default_file.into());
    let config = load(&path, required).map_err(|e| fatal(name, &format!("config error: {e}")))?;
    Ok((reactor, config))
}

/// One line on stderr; exit status 1.
pub fn fatal(name: &str, message: &str) -> ExitCode {
    eprintln!("{name}: {message}");
    ExitCode::FAILURE
}

/// Longest time pending log lines get to reach stderr at exit.
pub const EXIT_DRAIN: Duration = Duration::from_millis(100);
/// Shortest: plenty for a healthy stderr, even with a zero grace.
const MIN_EXIT_DRAIN: Duration = Duration::from_millis(20);

/// Returns `status` once the log lines are written, or once `grace` (kept
/// between 20 ms and [`EXIT_DRAIN`]) has passed: a stderr that does not
/// keep up never holds the exit back longer.
pub fn exit(status: ExitCode, grace: Duration) -> ExitCode {
    logging::drain(grace.clamp(MIN_EXIT_DRAIN, EXIT_DRAIN));
    status
}

/// Logs a runtime failure with its cause; exit status 1.
pub fn runtime_failure(line: LogLine, e: io::Error) -> ExitCode {
    error!("{}", line.field("error", e));
    exit(ExitCode::FAILURE, EXIT_DRAIN)
}

/// Logs a signal that changes nothing: `line` (`action: signal`, plus the
/// handler's own fields) gets the signal, `effect: ignored` and the reason.
/// SIGHUP is a warning: whoever sent it expected a reload.
pub fn log_ignored_signal(line: LogLine, signal: c_int, reason: &str) {
    let line = line
        .field("signal", signal_name(signal))
        .field("effect", "ignored")
        .field("reason", reason);
    if signal == libc::SIGHUP {
        warn!("{line}");
    } else {
        info!("{line}");
    }
}
