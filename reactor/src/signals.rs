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
    /// SIGTERM, SIGINT (`Grace::Normal`) or SIGQUIT (`Grace::Skipped`).
    Shutdown(Grace),
    /// SIGHUP: read the configuration again and put in force what may change live.
    Reload,
    /// Caught, logged and otherwise ignored, for the reason given.
    Ignored(&'static str),
}

/// How a shutdown signal treats work in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grace {
    /// SIGTERM, SIGINT: work in flight may finish within the program's grace
    /// (a second such signal, while it runs, is the program's to cut short).
    Normal,
    /// SIGQUIT: no grace, as for a second SIGTERM.
    Skipped,
}

/// What `signal` means to the programs.
pub fn meaning(signal: c_int) -> Meaning {
    match signal {
        SIGQUIT => Meaning::Shutdown(Grace::Skipped),
        SIGHUP => Meaning::Reload,
        SIGTERM | SIGINT => Meaning::Shutdown(Grace::Normal),
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

/// Spawns a helper thread (the log writer, a name lookup) with the handled
/// signals blocked in it, so that they are always delivered to a thread that
/// does not block: a helper may sit in a slow `write` or `getaddrinfo`. The
/// calling thread's mask is as it was once this returns.
pub fn spawn_helper<F>(name: &str, f: F) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let old = set_blocked(libc::SIG_BLOCK);
    let spawned = std::thread::Builder::new().name(name.into()).spawn(f);
    // SAFETY: `old` is the mask pthread_sigmask filled in just above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    spawned
}

fn set_blocked(how: c_int) -> libc::sigset_t {
    // SAFETY: the sigset is a local we initialise with sigemptyset before use;
    // pthread_sigmask only changes this thread's mask. Every call here fails
    // only for an invalid signal number or `how`, which these constants are not.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in HANDLED {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(how, &set, &mut old);
        old
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

    /// Whether `signal` is blocked on the calling thread.
    fn blocked_here(signal: c_int) -> bool {
        // SAFETY: a null new set only reads the mask into `current`.
        unsafe {
            let mut current: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut current);
            libc::sigismember(&current, signal) == 1
        }
    }

    #[test]
    fn helpers_never_take_a_handled_signal_and_the_caller_keeps_its_mask() {
        let caller_before: Vec<bool> = HANDLED.iter().map(|&s| blocked_here(s)).collect();
        let in_helper = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&in_helper);
        spawn_helper("test-helper", move || {
            *seen.lock().unwrap() = HANDLED.iter().map(|&s| blocked_here(s)).collect();
        })
        .unwrap()
        .join()
        .unwrap();
        assert_eq!(*in_helper.lock().unwrap(), vec![true; HANDLED.len()]);
        let caller_after: Vec<bool> = HANDLED.iter().map(|&s| blocked_here(s)).collect();
        assert_eq!(caller_after, caller_before);
    }

    #[test]
    fn each_handled_signal_has_a_name_and_a_meaning() {
        for signal in HANDLED {
            assert_ne!(signal_name(signal), "signal");
        }
        assert_eq!(meaning(SIGTERM), Meaning::Shutdown(Grace::Normal));
        assert_eq!(meaning(SIGINT), Meaning::Shutdown(Grace::Normal));
        assert_eq!(meaning(SIGQUIT), Meaning::Shutdown(Grace::Skipped));
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
