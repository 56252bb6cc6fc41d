//! The echo client: sends `[CLIENT <id>] Message N°<n>` over a fresh
//! connection for n = 1..amount, checks each answer, waits the period between
//! messages, and exits 0 at once on SIGTERM.
//!
//! # Layout
//!
//! - [`config`]: settings from `CLI_*` variables, `config.yaml`, defaults.
//! - [`echo_client`]: the [`EchoClient`] handler the reactor drives.
//! - [`yaml`]: the `config.yaml` format (only the client links a YAML parser).

pub mod config;
pub mod echo_client;
pub mod yaml;

pub use config::ClientConfig;
pub use echo_client::EchoClient;

use std::process::ExitCode;

use app::{logging, program, LogLine, Outcome};

const HELP: &str = "\
client: sends numbered messages to the echo server and checks each answer.

usage: client [--config PATH] [--help] [--version]

Settings (environment variable > config.yaml key > default):
  CLI_ID                       id                       client id               1
  CLI_SERVER_ADDRESS           server.address           host:port               localhost:12345
  CLI_LOOP_AMOUNT              loop.amount              messages to send        5
  CLI_LOOP_PERIOD              loop.period              wait between messages   1s
  CLI_LOG_LEVEL                log.level                ERROR/WARNING/INFO/DEBUG  INFO
  CLI_SERVER_CONNECT_WINDOW    server.connect_window    connect retries per message  10s
  CLI_SERVER_RESPONSE_TIMEOUT  server.response_timeout  wait for an answer      5s

config.yaml is read from the working directory unless --config names a file.
SIGTERM, SIGINT or SIGQUIT: close the connection, exit 0. SIGHUP, SIGUSR1,
SIGUSR2: logged and ignored.

Exit status: 0 after all messages or on SIGTERM/SIGINT/SIGQUIT; 1 when the server
cannot be reached within the connect window or an answer is missing or
wrong; 1 on a configuration error.
";

/// Runs the client as the binary does; returns the process exit status.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> ExitCode {
    let (mut reactor, config) = match program::start(
        "client",
        HELP,
        config::DEFAULT_FILE,
        args,
        ClientConfig::load,
    ) {
        Ok(started) => started,
        Err(status) => return status,
    };
    logging::init(config.log_level.filter);
    log::info!("{}", config.log_line());
    if let Some(warning) = config.warning_line() {
        log::warn!("{warning}");
    }
    let mut client = EchoClient::new(config, reactor.waker());
    match reactor.run(&mut client) {
        Ok(status) => program::exit(status, program::EXIT_DRAIN),
        Err(e) => program::runtime_failure(LogLine::new("event_loop", Outcome::Fail), e),
    }
}
