//! The echo server: every connection gets back exactly the bytes of its first
//! message (up to and including `\n`, or up to EOF), then is closed.
//!
//! # Layout
//!
//! - [`config`]: settings from `SERVER_*` variables, `config.ini`, defaults.
//! - [`budget`]: the memory budget all connection buffers share.
//! - [`echo`]: the [`EchoServer`] handler the reactor drives.
//! - `accept` (private): the listener and the one state machine that says
//!   when it is read (at the cap, paused, drained at shutdown).
//! - `throttle` (private): at most one log line of a kind per period.
//! - [`run`]: what `main` does, as a function tests and `main` share.

mod accept;
pub mod budget;
pub mod config;
pub mod echo;
mod throttle;

pub use config::ServerConfig;
pub use echo::EchoServer;

use std::process::ExitCode;

use app::{logging, program, LogLine, Outcome};

const HELP: &str = "\
server: echo server; each connection gets its first line back, then is closed.

usage: server [--config PATH] [--help] [--version]

Settings (environment variable > config.ini [DEFAULT] key > default):
  SERVER_PORT               TCP port on all interfaces, IPv6 and IPv4   12345
  SERVER_LISTEN_BACKLOG     listen(2) backlog                   5
  LOGGING_LEVEL             ERROR, WARNING, INFO or DEBUG       INFO
  SERVER_SHUTDOWN_GRACE     time in-flight exchanges get after SIGTERM   500ms
  SERVER_MAX_MESSAGE_BYTES  longest message, newline included   65536
  SERVER_READ_TIMEOUT       total time to deliver a message     5s
  SERVER_WRITE_TIMEOUT      total time to take the echo         5s
  SERVER_MAX_CONNECTIONS    concurrent connections              auto (fd limit)
  SERVER_MAX_BUFFERED_BYTES bytes all connections buffer together   67108864
  SERVER_MESSAGES_PER_CONNECTION  messages answered before closing (0 = no limit)  1
  SERVER_IP                 accepted and ignored

config.ini is read from the working directory unless --config names a file.
SIGTERM or SIGINT: stop accepting, finish exchanges in flight within the
grace, close everything, exit 0. A second signal, or SIGQUIT, skips the
grace. SIGHUP, SIGUSR1, SIGUSR2: logged and ignored.
";

/// Runs the server as the binary does; returns the process exit status.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> ExitCode {
    let (mut reactor, config) = match program::start(
        "server",
        HELP,
        config::DEFAULT_FILE,
        args,
        ServerConfig::load,
    ) {
        Ok(started) => started,
        Err(status) => return status,
    };
    logging::init(config.logging_level.filter);
    log::info!("{}", config.log_line());
    if let Some(warning) = config.warning_line() {
        log::warn!("{warning}");
    }
    let port = config.port;
    let grace = config.shutdown_grace.duration;
    let mut server = match EchoServer::bind(config, reactor.registry()) {
        Ok(server) => server,
        Err(e) => {
            return program::runtime_failure(
                LogLine::new("bind", Outcome::Fail).field("port", port),
                e,
            )
        }
    };
    match reactor.run(&mut server) {
        Ok(()) => program::exit(ExitCode::SUCCESS, grace),
        Err(e) => program::runtime_failure(LogLine::new("event_loop", Outcome::Fail), e),
    }
}
