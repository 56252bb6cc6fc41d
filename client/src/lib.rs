//! The echo client: sends `[CLIENT <id>] Message N°<n>` over a fresh
//! connection for n = 1..amount, checks each answer, waits the period between
//! messages, and exits 0 at once on SIGTERM.
//!
//! # Layout
//!
//! - [`config`]: the settings table (`CLI_*` variables, `config.yaml`,
//!   defaults) and the [`ClientConfig`] it fills.
//! - [`echo_client`]: the [`EchoClient`] handler the reactor drives.
//! - [`yaml`]: the `config.yaml` format (only the client links a YAML parser).
//! - [`BINARY`] and [`main_with_args`]: what `main` does, as a function tests
//!   and `main` share.

pub mod config;
pub mod echo_client;
pub mod yaml;

pub use config::ClientConfig;
pub use echo_client::EchoClient;

use std::process::ExitCode;

use app::program::{self, Binary};
use app::{LogLine, Outcome};

/// What start-up needs to know about the client: its name and version, its
/// settings, the text around them in `--help`.
pub const BINARY: Binary<ClientConfig> = Binary {
    name: "client",
    version: env!("CARGO_PKG_VERSION"),
    summary: "sends numbered messages to the echo server and checks each answer.",
    notes: "\
SIGTERM, SIGINT or SIGQUIT: close the connection, exit 0. SIGHUP: read
config.yaml (or the --config file) and the environment again; the log level
and the two timeouts take effect for the next step, the other settings need
a restart, a bad config keeps the running one. SIGUSR1, SIGUSR2: logged and
ignored.

Exit status: 0 after all messages or on SIGTERM/SIGINT/SIGQUIT; 1 when the server
cannot be reached within the connect window or an answer is missing or
wrong; 1 on a configuration error.
",
    settings: &config::TABLE,
    log_level: |config| config.log_level.filter,
    probe: None,
};

/// Runs the client as the binary does; returns the process exit status.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> ExitCode {
    program::start(&BINARY, args).then(|mut running| {
        let waker = running.reactor.waker();
        let mut client = EchoClient::new(running.config, running.reloader, waker);
        match running.reactor.run(&mut client) {
            Ok(status) => program::exit(status, program::EXIT_LOG_WAIT),
            Err(e) => program::runtime_failure(LogLine::new("event_loop", Outcome::Fail), e),
        }
    })
}
