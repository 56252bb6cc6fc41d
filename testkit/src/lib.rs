//! Test support for the project's integration tests: spawn the real
//! binaries, follow their log lines, send them signals, and wait for
//! conditions with bounded timeouts instead of sleeping. Ports are never
//! picked in advance: a server binds port 0 and says which it got, a fake
//! server is a listener the test holds, a port where nothing listens is
//! held bound ([`ClosedPort`]).
//!
//! # Layout
//!
//! Every public item is re-exported here, so a test names it `testkit::x`.
//!
//! - [`PATIENCE`], [`SECOND`], [`wait_until`]: the time bounds tests share.
//! - [`program`]: [`Program`], a spawned binary with its captured output;
//!   the commands that start one (memory cap, signal held across `exec`,
//!   a private mount namespace); [`start_server`], on port 0, and
//!   [`Program::listen_port`], the port its `listen` line names.
//! - [`proc`]: what a process holds, read from `/proc` ([`rss_bytes`],
//!   [`open_fds`], [`cpu_time`], [`listening_port`]), and [`raise_fd_limit`].
//! - [`net`]: [`ClosedPort`], a port that refuses connections; loopback
//!   connections with bounded waits, byte-exact reads, socket options that
//!   play a misbehaving peer, `ss`'s view of a listener.
//! - [`fs`]: scratch directories, FIFOs, what a command left behind.
//! - [`readme`]: the Markdown tables of the README and the docs, and a
//!   row-by-row diff.
//! - [`logline`]: [`parse_line`], the contract's log lines taken apart.
//! - [`contract`]: assertions that hold for both binaries (a refused
//!   config, SIGTERM at any moment of start-up).

pub mod contract;
pub mod fs;
pub mod logline;
pub mod net;
pub mod proc;
pub mod program;
pub mod readme;

pub use contract::*;
pub use fs::*;
pub use libc::{SIGINT, SIGTERM};
pub use logline::*;
pub use net::*;
pub use proc::*;
pub use program::*;
pub use readme::*;

use std::time::{Duration, Instant};

/// How long a test waits for what should happen (a log line, an exit, an
/// answer) before it fails: far beyond what a loaded two-core machine
/// needs, since only a failing test ever waits it out.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// One second: the contract's bound on honouring a signal, and the unit of
/// the tests' other time bounds.
pub const SECOND: Duration = Duration::from_secs(1);

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
