//! The echo server: every connection gets back exactly the bytes of its first
//! message (up to and including `\n`, or up to EOF), then is closed.
//!
//! # Layout
//!
//! - [`config`]: settings from `SERVER_*` variables, `config.ini`, defaults.
//! - [`echo`]: the [`EchoServer`] handler the reactor drives.
//! - [`run`]: what `main` does, as a function tests and `main` share.

pub mod config;
pub mod echo;

pub use config::ServerConfig;
pub use echo::EchoServer;

use std::process::ExitCode;

use log::error;
use reactor::cli::{parse_args, Command};
use reactor::{logging, LogLine, Outcome, Reactor};

const HELP: &str = "\
server: echo server; each connection gets its first line back, then is closed.

usage: server [--config PATH] [--help] [--version]

Settings (environment variable > config.ini [DEFAULT] key > default):
  SERVER_PORT               TCP port on all interfaces          12345
  SERVER_LISTEN_BACKLOG     listen(2) backlog                   5
  LOGGING_LEVEL             ERROR, WARNING, INFO or DEBUG       INFO
  SERVER_SHUTDOWN_GRACE     time in-flight exchanges get after SIGTERM   500ms
  SERVER_MAX_MESSAGE_BYTES  longest message, newline included   65536
  SERVER_READ_TIMEOUT       total time to deliver a message     5s
  SERVER_WRITE_TIMEOUT      total time to take the echo         5s
  SERVER_MAX_CONNECTIONS    concurrent connections              auto (fd limit)
  SERVER_IP                 accepted and ignored

config.ini is read from the working directory unless --config names a file.
SIGTERM or SIGINT: stop accepting, finish exchanges in flight within the
grace, close everything, exit 0. A second signal skips the grace.
";

/// Runs the server as the binary does; returns the process exit status.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> ExitCode {
    // Signals first: from here on SIGTERM is an event, whatever happens next.
    let mut reactor = match Reactor::new() {
        Ok(reactor) => reactor,
        Err(e) => return fatal(&format!("cannot set up the event loop: {e}")),
    };
    let config_path = match parse_args("server", HELP, args) {
        Command::Run { config } => config,
        Command::Print(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Command::Usage(text) => {
            eprint!("{text}");
            return ExitCode::from(2);
        }
    };
    let required = config_path.is_some();
    let path = config_path.unwrap_or_else(|| config::DEFAULT_FILE.into());
    let config = match ServerConfig::load(&path, required) {
        Ok(config) => config,
        Err(e) => return fatal(&format!("config error: {e}")),
    };
    logging::init(config.logging_level.filter);
    log::info!("{}", config.log_line());
    let port = config.port;
    let mut server = match EchoServer::bind(config, reactor.registry()) {
        Ok(server) => server,
        Err(e) => {
            return runtime_failure(LogLine::new("bind", Outcome::Fail).field("port", port), e)
        }
    };
    match reactor.run(&mut server) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => runtime_failure(LogLine::new("event_loop", Outcome::Fail), e),
    }
}

/// Logs a runtime failure with its cause; exit status 1.
fn runtime_failure(line: LogLine, e: std::io::Error) -> ExitCode {
    error!("{}", line.field("error", e));
    logging::flush();
    ExitCode::FAILURE
}

/// One line on stderr, exit status 1.
fn fatal(message: &str) -> ExitCode {
    eprintln!("server: {message}");
    ExitCode::FAILURE
}
