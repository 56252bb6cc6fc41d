//! The client binary; see the `client` library for what it does.

fn main() -> std::process::ExitCode {
    client::main_with_args(std::env::args().skip(1))
}
