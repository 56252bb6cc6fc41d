//! The event loop: one `mio::Poll`, one token space, the whole flow in one place.
//!
//! ```text
//!   Reactor::new()           registers the handled signals (token SIGNALS),
//!                            then unblocks them (held since before `main`),
//!                            and a Waker (token WAKER)
//!   Reactor::run(handler):
//!     loop {
//!       handler.finished()?        -> return the outcome
//!       timeout = 0 if handler.has_ready_work()   (work it stopped short of, to be fair)
//!                 else handler.next_deadline() - now   (timers live here, nobody sleeps)
//!       before_poll()              (the program's hook: its log lines go out)
//!       poll(timeout)              (EINTR is routine: poll again)
//!       for each event:
//!         SIGNALS -> for every pending signal, by its meaning (decided here, once):
//!                    SIGTERM/SIGINT handler.on_shutdown(sig, Grace::Normal),
//!                    SIGQUIT        handler.on_shutdown(sig, Grace::Skipped),
//!                    SIGHUP         handler.on_reload,
//!                    the others     handler.on_ignored_signal
//!         WAKER   -> handler.on_wake()      (a helper thread has a result)
//!         other   -> handler.on_ready(event) (listeners, connections: the handler's tokens)
//!       handler.on_timers(now)     (fire whatever deadline has passed)
//!       handler.on_ready_work(now) if handler.has_ready_work()
//!     }
//! ```
//!
//! Readiness is edge-triggered: a handler must read (accept, write) each
//! source until `WouldBlock`, and must tolerate spurious events and events naming a token it
//! has already closed earlier in the same batch. A handler that stops short
//! of `WouldBlock` to be fair to its other sources hears nothing more from
//! that one: it remembers the work itself and says so in
//! [`Handler::has_ready_work`]; the next poll then only collects what else is
//! ready, without waiting, and [`Handler::on_ready_work`] does the rest.

use std::io;
use std::os::raw::c_int;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use signal_hook_mio::v1_0::Signals;

use crate::signals::{self, Grace, Meaning};

/// Token of the signal source (every signal in [`signals::HANDLED`]).
pub const SIGNALS: Token = Token(usize::MAX);
/// Token of the waker that helper threads (name resolution) use to wake the loop.
pub const WAKER: Token = Token(usize::MAX - 1);
/// Handlers may use any token strictly below this one (slab keys start at 0,
/// named control tokens such as a listener sit just below it).
pub const FIRST_RESERVED: Token = WAKER;

/// How many events one `poll` can return; more simply wait for the next turn.
const EVENT_CAPACITY: usize = 1024;

/// What a program built on the reactor does with readiness, signals and time.
///
/// The reactor owns the `Poll`; the handler owns its sockets and registers them
/// with the `Registry` it is handed, under tokens below [`FIRST_RESERVED`].
pub trait Handler {
    /// What `run` returns when the handler is done (typically an exit status).
    type Outcome;

    /// A readiness event for one of the handler's own tokens.
    fn on_ready(&mut self, registry: &Registry, event: &Event);

    /// A shutdown signal: SIGTERM or SIGINT with [`Grace::Normal`] (a second
    /// one, while the grace runs, skips it), SIGQUIT with [`Grace::Skipped`].
    /// `signal` is for the log line; `grace` is what it asks for.
    fn on_shutdown(&mut self, registry: &Registry, signal: c_int, grace: Grace);

    /// SIGHUP: read the configuration again and put in force what may
    /// change in a running program. Required, so that no program ignores it silently.
    fn on_reload(&mut self, registry: &Registry);

    /// A signal that changes nothing (SIGUSR1, SIGUSR2): the program logs
    /// it, for the `reason` given, and goes on. Never fatal.
    fn on_ignored_signal(&mut self, signal: c_int, reason: &str);

    /// The waker fired: a helper thread finished some work for the handler.
    fn on_wake(&mut self, _registry: &Registry) {}

    /// Called after every turn of the loop: fire the deadlines that have passed.
    fn on_timers(&mut self, registry: &Registry, now: Instant);

    /// The earliest pending deadline, if any; the loop never waits past it.
    fn next_deadline(&self) -> Option<Instant>;

    /// Whether the handler stopped short of `WouldBlock` on some source to be
    /// fair to the others and has that work left: the next poll does not
    /// wait, and [`Handler::on_ready_work`] runs after the turn's events.
    fn has_ready_work(&self) -> bool {
        false
    }

    /// Does (a fair share of) the work [`Handler::has_ready_work`] reported,
    /// after the turn's events and timers.
    fn on_ready_work(&mut self, _registry: &Registry, _now: Instant) {}

    /// `Some(outcome)` once the handler has nothing left to do.
    fn finished(&mut self) -> Option<Self::Outcome>;
}

/// The event loop. Create it first thing in `main`: from then on a signal is
/// just the next event.
pub struct Reactor {
    poll: Poll,
    events: Events,
    signals: Signals,
    waker: Arc<Waker>,
    /// Run before every `poll` and once when the loop ends: where the program
    /// hands the turn's log lines to its output (the loop itself does no I/O
    /// of its own).
    before_poll: fn(),
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor").finish_non_exhaustive()
    }
}

impl Reactor {
    /// Creates the poll, registers the handled signals and the waker, then
    /// lets through the signals held since before `main` (they are the
    /// first events the loop sees).
    pub fn new() -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut signals = Signals::new(signals::HANDLED)?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        signals::release();
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Reactor {
            poll,
            events: Events::with_capacity(EVENT_CAPACITY),
            signals,
            waker,
            before_poll: || {},
        })
    }

    /// Sets what runs before every `poll` and once when the loop ends.
    pub fn set_before_poll(&mut self, hook: fn()) {
        self.before_poll = hook;
    }

    /// The registry handlers use to register their sources.
    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// A waker helper threads can call to make the loop run `on_wake`.
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Runs the loop until the handler reports it has finished.
    pub fn run<H: Handler>(&mut self, handler: &mut H) -> io::Result<H::Outcome> {
        let result = self.turns(handler);
        (self.before_poll)();
        result
    }

    fn turns<H: Handler>(&mut self, handler: &mut H) -> io::Result<H::Outcome> {
        loop {
            if let Some(outcome) = handler.finished() {
                return Ok(outcome);
            }
            let timeout = if handler.has_ready_work() {
                Some(Duration::ZERO)
            } else {
                handler
                    .next_deadline()
                    .map(|deadline| timeout_until(deadline, Instant::now()))
            };
            // What the turn produced (log lines) goes out before the loop blocks.
            (self.before_poll)();
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let registry = self.poll.registry();
            for event in self.events.iter() {
                match event.token() {
                    SIGNALS => {
                        for signal in self.signals.pending() {
                            match signals::meaning(signal) {
                                Meaning::Ignored(reason) => {
                                    handler.on_ignored_signal(signal, reason)
                                }
                                Meaning::Shutdown(grace) => {
                                    handler.on_shutdown(registry, signal, grace)
                                }
                                Meaning::Reload => handler.on_reload(registry),
                            }
                        }
                    }
                    WAKER => handler.on_wake(registry),
                    _ => handler.on_ready(registry, event),
                }
            }
            let now = Instant::now();
            handler.on_timers(registry, now);
            if handler.has_ready_work() {
                handler.on_ready_work(registry, now);
            }
        }
    }
}

/// The poll timeout that wakes the loop at `deadline`, rounded up to a whole
/// millisecond so the loop never wakes a hair early and spins until it is due.
fn timeout_until(deadline: Instant, now: Instant) -> Duration {
    let left = deadline.saturating_duration_since(now);
    let millis = left.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_rounds_up_and_never_goes_negative() {
        let now = Instant::now();
        assert_eq!(timeout_until(now, now), Duration::ZERO);
        assert_eq!(
            timeout_until(now, now + Duration::from_secs(1)),
            Duration::ZERO
        );
        assert_eq!(
            timeout_until(now + Duration::from_micros(1), now),
            Duration::from_millis(1)
        );
        assert_eq!(
            timeout_until(now + Duration::from_millis(250), now),
            Duration::from_millis(250)
        );
    }
}
