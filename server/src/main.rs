//! The echo server binary; see the `server` library for what it does.

// Handled signals wait, blocked, from before `main` until the reactor
// catches them: a SIGTERM at start-up is a clean shutdown, never a kill.
reactor::hold_signals_before_main!();

fn main() -> std::process::ExitCode {
    server::main_with_args(std::env::args().skip(1))
}
