//! Which signals the programs handle, what each one means, and how they are
//! held from the first instant of the process until the reactor catches them.
//!
//! A handler can only be installed once the program runs its own code; until
//! then a SIGTERM takes its default action and kills the process (as PID 1
//! in a container it is silently discarded instead, so `docker stop` ends in
//! SIGKILL). [`hold_signals_before_main!`] closes that window: a constructor
//! run by the C runtime before `main` (and before Rust's own start-up)
//! *blocks* the handled signals, and a blocked signal stays pending, even for
//! PID 1, until [`Reactor::new`](crate::Reactor::new) has its handlers in
//! place and unblocks them. What is left is the time between `execve` and
//! that constructor (the dynamic loader), which no program can handle.

use std::os::raw::c_int;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

/// Every signal the reactor catches; none of them kills silently.
pub const HANDLED: [c_int; 6] = [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2];

/// What a handled signal asks of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// SIGTERM, SIGINT: graceful shutdown (a second one skips the grace).
    Shutdown,
    /// SIGQUIT: shutdown without grace, as a second SIGTERM.
    ShutdownNow,
    /// SIGHUP: read the configuration again and apply what may change live.
    Reload,
    /// Caught, logged and otherwise ignored, for the reason given.
    Ignored(&'static str),
}

/// What `signal` means to the programs.
pub fn meaning(signal: c_int) -> Meaning {
    match signal {
        SIGQUIT => Meaning::ShutdownNow,
        SIGHUP => Meaning::Reload,
        SIGTERM | SIGINT => Meaning::Shutdown,
        _ => Meaning::Ignored("no action assigned"),
    }
}

/// The signal's name, as logged.
pub fn signal_name(signal: c_int) -> &'static str {
    match signal {
        SIGTERM => "SIGTERM",
        SIGINT => "SIGINT",
        SIGQUIT => "SIGQUIT",
        SIGHUP => "SIGHUP",
        SIGUSR1 => "SIGUSR1",
        SIGUSR2 => "SIGUSR2",
        _ => "signal",
    }
}

/// Blocks the handled signals on the calling thread, so they wait as pending
/// instead of taking their default action. Async-signal-safe and free of
/// allocation: it runs before `main`, from [`hold_signals_before_main!`].
pub fn hold() {
    set_blocked(libc::SIG_BLOCK);
}

/// Unblocks the handled signals: what arrived while they were held is
/// delivered now, to the handlers [`Reactor::new`](crate::Reactor::new) has
/// just installed.
pub fn release() {
    set_blocked(libc::SIG_UNBLOCK);
}

fn set_blocked(how: c_int) {
    // SAFETY: the sigset is a local we initialise with sigemptyset before use;
    // pthread_sigmask only changes this thread's mask. Every call here fails
    // only for an invalid signal number or `how`, which these constants are not.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in HANDLED {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

/// Blocks the handled signals before `main` runs (see the module docs); use
/// it once at the top level of a binary that creates a [`Reactor`](crate::Reactor)
/// first thing, since only `Reactor::new` unblocks them again.
#[macro_export]
macro_rules! hold_signals_before_main {
    () => {
        /// Run by the C runtime before `main`: from the first instant a
        /// handled signal waits for the reactor instead of killing.
        #[cfg(target_os = "linux")]
        #[used]
        #[link_section = ".init_array"]
        static HOLD_SIGNALS_BEFORE_MAIN: extern "C" fn() = {
            extern "C" fn hold() {
                $crate::signals::hold();
            }
            hold
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_handled_signal_has_a_name_and_a_meaning() {
        for signal in HANDLED {
            assert_ne!(signal_name(signal), "signal");
        }
        assert_eq!(meaning(SIGTERM), Meaning::Shutdown);
        assert_eq!(meaning(SIGINT), Meaning::Shutdown);
        assert_eq!(meaning(SIGQUIT), Meaning::ShutdownNow);
        assert_eq!(meaning(SIGHUP), Meaning::Reload);
        assert!(matches!(meaning(SIGUSR1), Meaning::Ignored(_)));
        assert!(matches!(meaning(SIGUSR2), Meaning::Ignored(_)));
    }

    #[test]
    fn hold_blocks_and_release_unblocks() {
        // On a thread of its own: the mask is per thread.
        std::thread::spawn(|| {
            let blocked = |signal| {
                // SAFETY: reads this thread's mask into a local sigset.
                unsafe {
                    let mut mask: libc::sigset_t = std::mem::zeroed();
                    libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
                    libc::sigismember(&mask, signal) == 1
                }
            };
            hold();
            assert!(HANDLED.iter().all(|&s| blocked(s)));
            release();
            assert!(!HANDLED.iter().any(|&s| blocked(s)));
        })
        .join()
        .unwrap();
    }
}
