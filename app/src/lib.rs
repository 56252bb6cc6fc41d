//! What a program built on the reactor needs besides the loop: its
//! configuration, the contract's log lines and their output, its command
//! line, and how it starts and ends. Changing INI parsing or the log format
//! happens here, never in the event loop.
//!
//! # Layout
//!
//! - [`config`]: env > file > default layering, safe reading of the config
//!   file, value parsers, the INI format, the unknown-keys warning, and the
//!   settings table ([`config::Table`]) that declares each setting once.
//!   (The YAML format is the client's own: only it reads YAML.)
//! - [`logline`]: the contract's log line format (tests read it back with
//!   `testkit::parse_line`), and [`event!`], which logs one in one line.
//! - [`logging`]: output of the lines on stderr that never blocks the loop
//!   (installed as the reactor's before-poll hook).
//! - [`cli`] and [`program`]: `--help`, `--version`, `--config PATH`, the
//!   start-up both binaries share (a [`program::Binary`] in, a
//!   [`program::Start`] out), logged signals, and bounded exits.

pub mod cli;
pub mod config;
pub mod logging;
pub mod logline;
pub mod program;

pub use logline::{LogLine, Outcome};

/// What [`event!`] expands to names `log` through here, so a crate using
/// the macro needs no path of its own to it.
#[doc(hidden)]
pub use log as __log;
