//! The echo server binary; see the `server` library for what it does.

fn main() -> std::process::ExitCode {
    server::main_with_args(std::env::args().skip(1))
}
