//! A hand-rolled `mio` event loop where signals, listening sockets,
//! connections and timers share one token space, so a graceful shutdown is
//! simply another readiness event; and what sits directly on that loop.
//!
//! What a program needs besides the loop (configuration, log lines and their
//! output, the command line, start-up and exit) is the `app` crate's.
//!
//! # Layout
//!
//! - [`event_loop`]: the [`Reactor`] and the [`Handler`] trait; the whole
//!   event flow in one file.
//! - [`signals`]: the handled signals, their meaning, and holding them from
//!   before `main` until the reactor catches them.
//! - [`deadlines`]: timers as deadlines folded into the poll timeout.
//! - [`framer`]: sans-IO `\n` framing with a bounded message length.
//! - [`net`]: listener with a real backlog on both IP families, accept error
//!   classes, small predicates.
//! - [`resolve`]: DNS lookups on helper threads that wake the loop.

pub mod deadlines;
pub mod event_loop;
pub mod framer;
pub mod net;
pub mod resolve;
pub mod signals;

pub use event_loop::{Handler, Reactor, FIRST_RESERVED, SIGNALS, WAKER};
pub use signals::{signal_name, Grace};

/// mio re-exported, so the binaries use exactly the reactor's version.
pub use mio;
