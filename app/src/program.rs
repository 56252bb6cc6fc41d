//! The start and end of a program built on the reactor, shared by both binaries.
//!
//! A binary's first line is [`reactor::hold_signals_before_main!`],
//! so handled signals wait (blocked) from before `main`; [`start`] creates the
//! reactor before anything else, which catches them, then reads the command
//! line and the settings a [`Binary`] describes; a [`Reloader`] reads them
//! again on SIGHUP; [`exit`] gives pending log lines a bounded time to reach
//! stderr.

use std::cell::Cell;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use std::os::raw::c_int;

use log::{error, info, warn, LevelFilter};
use reactor::signals::signal_name;
use reactor::Reactor;

use crate::cli::{parse_args, usage_line, Command, Spec};
use crate::config::{Reloaded, Table};
use crate::{logging, LogLine, Outcome};

/// What start-up needs to know about a binary.
#[derive(Debug)]
pub struct Binary<C: 'static> {
    /// Its name, as in messages and `--version`.
    pub name: &'static str,
    /// Its own version: its crate's `CARGO_PKG_VERSION`.
    pub version: &'static str,
    /// What it does, in one line: the first line of `--help`.
    pub summary: &'static str,
    /// The end of `--help`: signals and exit statuses.
    pub notes: &'static str,
    /// Its settings.
    pub settings: &'static Table<C>,
    /// The log level a configuration asks for.
    pub log_level: fn(&C) -> LevelFilter,
    /// `--probe`, where the binary has one: checks the running program
    /// (configured as this one would be) and returns 0 if it is healthy.
    /// Runs instead of the program, before logging starts.
    pub probe: Option<fn(&C) -> ExitCode>,
}

impl<C> Binary<C> {
    /// The `--help` text: summary, usage, the settings table, notes.
    pub fn help(&self) -> String {
        format!(
            "{name}: {summary}\n\n{usage}\n\n\
             Settings (environment variable > {file} > default):\n{settings}\n\
             {file} is read from the working directory unless --config names a file.\n\
             {notes}",
            name = self.name,
            summary = self.summary,
            usage = usage_line(self.name, self.probe.is_some()),
            file = self.settings.file,
            settings = self.settings.help(),
            notes = self.notes,
        )
    }
}

/// A program ready to run.
#[derive(Debug)]
pub struct Running<C: 'static> {
    /// The loop, signals already caught.
    pub reactor: Reactor,
    /// The settings in force.
    pub config: C,
    /// Reads them again, from the same place, on SIGHUP.
    pub reloader: Reloader<C>,
}

/// How start-up ends.
#[derive(Debug)]
pub enum Start<C: 'static> {
    /// Configured, logging on, the `config` line logged: run the loop.
    Run(Running<C>),
    /// Stop with this status: after `--help` or `--version` (0), a usage
    /// error (2) or a config error (1).
    Exit(ExitCode),
}

impl<C> Start<C> {
    /// `run`'s exit status for a program ready to run, else the status
    /// start-up ended with.
    pub fn then(self, run: impl FnOnce(Running<C>) -> ExitCode) -> ExitCode {
        match self {
            Start::Run(running) => run(running),
            Start::Exit(status) => status,
        }
    }
}

/// Creates the reactor (signals first), then reads the command line and the
/// configuration, starts logging at the configured level and logs the
/// `config` line, followed by the warning about unknown keys if any.
pub fn start<C: Default>(binary: &Binary<C>, args: impl IntoIterator<Item = String>) -> Start<C> {
    let name = binary.name;
    // From here on a signal, including one held since before `main`, is an
    // event of the loop, whatever happens next.
    let mut reactor = match Reactor::new() {
        Ok(reactor) => reactor,
        Err(e) => return Start::Exit(fatal(name, &format!("cannot set up the event loop: {e}"))),
    };
    // Each turn's log lines go to the writer before the loop blocks.
    reactor.set_before_poll(logging::flush);
    let help = binary.help();
    let spec = Spec {
        name,
        version: binary.version,
        help: &help,
        probe: binary.probe.is_some(),
    };
    let (config_path, probe) = match parse_args(spec, args) {
        Command::Run { config, probe } => (config, probe),
        Command::Print(text) => {
            print!("{text}");
            return Start::Exit(ExitCode::SUCCESS);
        }
        Command::Usage(text) => {
            eprint!("{text}");
            return Start::Exit(ExitCode::from(2));
        }
    };
    // A file named on the command line must exist; the default one may not.
    let required = config_path.is_some();
    let path = config_path.unwrap_or_else(|| binary.settings.file.into());
    let (config, unknown, found) = match binary.settings.load(&path, required) {
        Ok(loaded) => loaded,
        Err(e) => return Start::Exit(fatal(name, &format!("config error: {e}"))),
    };
    if let (true, Some(probe)) = (probe, binary.probe) {
        return Start::Exit(probe(&config));
    }
    if let Err(e) = logging::init((binary.log_level)(&config)) {
        return Start::Exit(fatal(
            name,
            &format!("cannot start the log writer thread: {e}"),
        ));
    }
    info!("{}", binary.settings.log_line(&config));
    if let Some(warning) = unknown.log_line() {
        warn!("{warning}");
    }
    let reloader = Reloader {
        settings: binary.settings,
        log_level: binary.log_level,
        path,
        required: Cell::new(required || found),
    };
    Start::Run(Running {
        reactor,
        config,
        reloader,
    })
}

/// Reads a program's configuration again (SIGHUP): the same file as at
/// start-up (`--config PATH` or the default one) and the environment.
#[derive(Debug)]
pub struct Reloader<C: 'static> {
    settings: &'static Table<C>,
    log_level: fn(&C) -> LevelFilter,
    path: PathBuf,
    /// Whether the file must exist: named by `--config`, or read once (at
    /// start-up or by a reload). Once read, the file must stay: a reload
    /// that found it gone would otherwise put the built-in defaults in force
    /// without a word. Only a program that never had one reloads without.
    required: Cell<bool>,
}

impl<C: Default> Reloader<C> {
    /// Reads the configuration again and reconciles it with `running` (see
    /// [`Reloaded::reconcile`]); sets the new log level and returns what is in
    /// force from now on. One `reload` line (built on `line`, which gives
    /// the action, the result and the program's own fields) says what
    /// changed and what waits for a restart, followed by the unknown-keys
    /// warning if the files name any. A configuration that does not load
    /// (a bad value, an unreadable file, a file read before and now gone)
    /// changes nothing: one `reload`
    /// line, result `fail`, at ERROR with the error, and `None`.
    pub fn reload(&self, running: &C, line: impl Fn(Outcome) -> LogLine) -> Option<C> {
        let reconciled = self
            .settings
            .load(&self.path, self.required.get())
            .map_err(|e| e.to_string())
            .and_then(|(fresh, unknown, found)| {
                let reloaded = Reloaded::reconcile(self.settings, running, fresh)?;
                Ok((reloaded, unknown, found))
            });
        let (reloaded, unknown, found) = match reconciled {
            Ok(loaded) => loaded,
            Err(e) => {
                error!(
                    "{}",
                    line(Outcome::Fail)
                        .field("error", e)
                        .field("config", "unchanged")
                );
                return None;
            }
        };
        self.required.set(self.required.get() || found);
        let level = (self.log_level)(&reloaded.config);
        // The line shows whichever way the level moves: logged under the
        // more verbose of the old and the new level.
        logging::set_level(level.max(logging::level()));
        info!("{}", reloaded.log_fields(line(Outcome::Success)));
        if let Some(warning) = unknown.log_line() {
            warn!("{warning}");
        }
        logging::set_level(level);
        Some(reloaded.config)
    }
}

/// One line on stderr; exit status 1.
pub fn fatal(name: &str, message: &str) -> ExitCode {
    eprintln!("{name}: {message}");
    ExitCode::FAILURE
}

/// Longest time pending log lines get to reach stderr at exit.
pub const EXIT_LOG_WAIT: Duration = Duration::from_millis(100);
/// Shortest: plenty for a healthy stderr, even with a zero grace.
const MIN_EXIT_LOG_WAIT: Duration = Duration::from_millis(20);

/// Returns `status` once the log lines are written, or once `grace` (kept
/// between 20 ms and [`EXIT_LOG_WAIT`]) has passed: a stderr that does not
/// keep up never holds the exit back longer.
pub fn exit(status: ExitCode, grace: Duration) -> ExitCode {
    logging::flush_before_exit(grace.clamp(MIN_EXIT_LOG_WAIT, EXIT_LOG_WAIT));
    status
}

/// Logs a runtime failure with its cause; exit status 1.
pub fn runtime_failure(line: LogLine, e: io::Error) -> ExitCode {
    error!("{}", line.field("error", e));
    exit(ExitCode::FAILURE, EXIT_LOG_WAIT)
}

/// Logs a signal that changes nothing: `line` (`action: signal`, plus the
/// handler's own fields) gets the signal, `effect: ignored` and the reason.
pub fn log_ignored_signal(line: LogLine, signal: c_int, reason: &str) {
    info!(
        "{}",
        line.field("signal", signal_name(signal))
            .field("effect", "ignored")
            .field("reason", reason)
    );
}
