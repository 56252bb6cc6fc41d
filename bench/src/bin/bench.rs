//! `make bench`: runs every benchmark and prints the table.
//!
//! `bench [--quick]`: `--quick` shortens every run and leaves out the
//! largest idle size (a smoke check in under a minute). The table, and the
//! charts as SVG, go to `target/bench/`.

use std::path::Path;

use bench::harness::{run, Options};

fn main() {
    let options = if std::env::args().any(|a| a == "--quick") {
        Options::quick()
    } else {
        Options::default()
    };
    let all_met = run(&options, Path::new("target/bench"));
    if !all_met {
        eprintln!("bench: some targets were not met (see the table)");
    }
}
