//! Drives an echo server and prints one JSON line of results.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench::loadgen::{parse_args, LoadConfig, LoadGen};
use reactor::Reactor;

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let cpu = config
        .server_pid
        .map(|pid| watch_cpu(pid, start + config.warmup, config.duration));
    let loops: Vec<_> = (0..config.threads)
        .map(|i| {
            // The clients, dealt out as evenly as they go.
            let share = config.concurrency / config.threads
                + usize::from(i < config.concurrency % config.threads);
            let config = LoadConfig {
                concurrency: share,
                ..config.clone()
            };
            std::thread::spawn(move || {
                let mut reactor = Reactor::new()?;
                let mut load = LoadGen::start(config, reactor.registry());
                reactor.run(&mut load)?;
                Ok::<_, std::io::Error>(load)
            })
        })
        .collect();
    let mut loads = Vec::new();
    for handle in loops {
        match handle.join().expect("load thread") {
            Ok(load) => loads.push(load),
            Err(e) => {
                eprintln!("loadgen: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut causes = std::collections::BTreeMap::<&str, u64>::new();
    for load in &loads {
        for (cause, count) in load.causes() {
            *causes.entry(cause).or_default() += count;
        }
    }
    for (cause, count) in causes {
        eprintln!("loadgen: {count} x {cause}");
    }
    let mut report = LoadGen::merged(&loads);
    report.server_cpu_us = cpu.and_then(|watch| watch.join().ok());
    println!("{}", report.to_json());
    ExitCode::SUCCESS
}

/// The server's CPU time (utime + stime) from `from` to `from + window`: a
/// thread that waits for those two instants and reads `/proc/<pid>/stat`.
fn watch_cpu(pid: u32, from: Instant, window: Duration) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        std::thread::sleep(from.saturating_duration_since(Instant::now()));
        let before = testkit::cpu_time(pid);
        std::thread::sleep((from + window).saturating_duration_since(Instant::now()));
        let after = testkit::cpu_time(pid);
        u64::try_from(after.saturating_sub(before).as_micros()).unwrap_or(u64::MAX)
    })
}
