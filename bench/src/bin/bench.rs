//! `make bench`: runs every benchmark and prints the table.
//!
//! `bench [--quick]`: `--quick` shortens every run (for a smoke check).

use std::path::Path;
use std::time::Duration;

use bench::harness::{run, Options};

fn main() {
    let mut options = Options::default();
    if std::env::args().any(|a| a == "--quick") {
        options = Options {
            duration: Duration::from_secs(1),
            rounds: 1,
            idle_connections: 1000,
            repeats: 3,
            ..options
        };
    }
    let all_met = run(&options, Path::new("target/bench/report.md"));
    if !all_met {
        eprintln!("bench: some targets were not met (see the table)");
    }
}
