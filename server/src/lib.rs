//! The echo server: every connection gets back exactly the bytes of its first
//! message (up to and including `\n`, or up to EOF), then is closed.
//!
//! # Layout
//!
//! - [`config`]: the settings table (`SERVER_*` variables, `config.ini`,
//!   defaults) and the [`ServerConfig`] it fills.
//! - [`budget`]: the memory budget all connection buffers share, and who
//!   reads once it is spent (parked connections, the one privileged reader).
//! - [`echo`]: the [`EchoServer`] handler the reactor drives: its events,
//!   top-down, then the steps they take.
//! - `connection` (private): one connection's exchange as a state machine
//!   (read, write the echo, linger), a step a phase.
//! - [`probe`]: `server --probe`, the image's health check.
//! - `accept` (private): the listener and the one state machine that says
//!   when it is read (at the cap, paused, closing at shutdown).
//! - `throttle` (private): at most one log line of a kind per period.
//! - [`BINARY`] and [`main_with_args`]: what `main` does, as a function tests
//!   and `main` share.

mod accept;
pub mod budget;
pub mod config;
mod connection;
pub mod echo;
pub mod probe;
mod throttle;

pub use config::ServerConfig;
pub use echo::EchoServer;

use std::process::ExitCode;

use app::program::{self, Binary, Running};
use app::{LogLine, Outcome};

/// What start-up needs to know about the server: its name and version, its
/// settings, the text around them in `--help`.
pub const BINARY: Binary<ServerConfig> = Binary {
    name: "server",
    version: env!("CARGO_PKG_VERSION"),
    summary: "echo server; each connection gets its first line back, then is closed.",
    notes: "\
SIGTERM or SIGINT: stop accepting, finish exchanges in flight within the
grace, close everything, exit 0. A second signal, or SIGQUIT, skips the
grace. SIGHUP: read config.ini (or the --config file) and the environment
again; the port and the backlog need a restart, the other settings take
effect for new work, a bad config keeps the running one. SIGUSR1, SIGUSR2:
logged and ignored.

--probe: connect to the configured port on loopback, send a line, check the
echo; exit 0 if it came back within 2s, else 1 (the image's HEALTHCHECK).
",
    settings: &config::TABLE,
    log_level: |config| config.logging_level.filter,
    probe: Some(probe::run),
};

/// Runs the server as the binary does; returns the process exit status.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> ExitCode {
    program::start(&BINARY, args).then(run)
}

/// Binds and serves until shutdown.
fn run(
    Running {
        mut reactor,
        config,
        reloader,
    }: Running<ServerConfig>,
) -> ExitCode {
    let port = config.port;
    let mut server = match EchoServer::bind(config, reloader, reactor.registry()) {
        Ok(server) => server,
        Err(e) => {
            return program::runtime_failure(
                LogLine::new("bind", Outcome::Fail).field("port", port),
                e,
            )
        }
    };
    match reactor.run(&mut server) {
        // The grace in force at the end: a reload may have changed it.
        Ok(()) => program::exit(ExitCode::SUCCESS, server.config().shutdown_grace.duration),
        Err(e) => program::runtime_failure(LogLine::new("event_loop", Outcome::Fail), e),
    }
}
