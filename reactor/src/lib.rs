//! A hand-rolled `mio` event loop where signals, listening sockets,
//! connections and timers share one token space, so a graceful shutdown is
//! simply another readiness event — plus what the echo server and the client
//! share besides the loop.
//!
//! # Layout
//!
//! - [`event_loop`]: the [`Reactor`] and the [`Handler`] trait; the whole
//!   event flow in one file.
//! - [`deadlines`]: timers as deadlines folded into the poll timeout.
//! - [`framer`]: sans-IO `\n` framing with a bounded message length.
//! - [`net`]: listener with a real backlog, accept error classes, small predicates.
//! - [`resolve`]: DNS lookups on helper threads that wake the loop.
//! - [`signals`]: the handled signals, their meaning, and holding them from
//!   before `main` until the reactor catches them.
//! - [`config`]: env > file > default layering, value parsers, INI and YAML.
//! - [`logline`] and [`logging`]: the contract's log line format and output.
//! - [`cli`] and [`program`]: `--help`, `--version`, `--config PATH`, and the
//!   start-up and failure exits both binaries share.

pub mod cli;
pub mod config;
pub mod deadlines;
pub mod event_loop;
pub mod framer;
pub mod logging;
pub mod logline;
pub mod net;
pub mod program;
pub mod resolve;
pub mod signals;

pub use event_loop::{Handler, Reactor, FIRST_RESERVED, SIGNALS, WAKER};
pub use logline::{LogLine, Outcome};
pub use signals::signal_name;

/// mio re-exported, so the binaries use exactly the reactor's version.
pub use mio;
