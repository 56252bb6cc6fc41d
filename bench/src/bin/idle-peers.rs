//! Holds idle connections for the harness (see `bench::idle`).
//!
//! `idle-peers <port> <count> <accepting pid>`: prints `ready` once process
//! `accepting` has accepted all `count` connections (or one line saying why
//! not), then holds them until stdin closes.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [port, count, pid] => port
            .parse()
            .ok()
            .zip(count.parse().ok())
            .zip(pid.parse().ok()),
        _ => None,
    };
    let Some(((port, count), pid)) = parsed else {
        eprintln!("usage: idle-peers <port> <count> <accepting pid>");
        return ExitCode::from(2);
    };
    match bench::idle::hold(port, count, pid) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idle-peers: {e}");
            ExitCode::FAILURE
        }
    }
}
