//! Drives an echo server and prints one JSON line of results.

use std::process::ExitCode;

use bench::loadgen::{parse_args, LoadGen};
use reactor::Reactor;

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let result = Reactor::new().and_then(|mut reactor| {
        let mut load = LoadGen::start(config, reactor.registry());
        let report = reactor.run(&mut load)?;
        for (cause, count) in load.causes() {
            eprintln!("loadgen: {count} x {cause}");
        }
        Ok(report)
    });
    match result {
        Ok(report) => {
            println!("{}", report.to_json());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
