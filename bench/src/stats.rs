//! Latency percentiles and the numbers a run reports.

use std::fmt::Write as _;
use std::time::Duration;

/// What one load run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    /// Complete, verified exchanges.
    pub messages: u64,
    /// Exchanges that failed (refused, reset, wrong or missing echo).
    pub errors: u64,
    /// Wall time of the measured window.
    pub elapsed: Duration,
    /// Latency percentiles, microseconds.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Worst.
    pub max_us: u64,
    /// Messages fully sent before the server was signalled that got no echo.
    pub lost: u64,
    /// Connects still in progress when the run ended (SYNs dropped on a full
    /// listen queue); not counted in `errors`.
    pub stalled_connects: u64,
    /// CLOCK_MONOTONIC nanoseconds at which the server was signalled, if it was.
    pub signalled_at_ns: Option<u64>,
    /// CPU time (user + system) the server used over the measured window, if watched.
    pub server_cpu_us: Option<u64>,
}

impl RunReport {
    /// Messages per second.
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Server CPU time per message, microseconds, if the server was watched.
    pub fn server_cpu_per_message_us(&self) -> Option<f64> {
        let cpu = self.server_cpu_us?;
        (self.messages > 0).then(|| cpu as f64 / self.messages as f64)
    }

    /// One JSON object on one line.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\"messages\":{},\"errors\":{},\"elapsed_s\":{:.3},\"msgs_per_s\":{:.0},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\"lost\":{},\"stalled_connects\":{}",
            self.messages,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.p50_us,
            self.p99_us,
            self.max_us,
            self.lost,
            self.stalled_connects
        );
        if let Some(ns) = self.signalled_at_ns {
            let _ = write!(out, ",\"signalled_at_ns\":{ns}");
        }
        if let Some(us) = self.server_cpu_us {
            let _ = write!(out, ",\"server_cpu_us\":{us}");
        }
        out.push('}');
        out
    }

    /// Parses what [`to_json`](Self::to_json) wrote.
    pub fn from_json(line: &str) -> Option<RunReport> {
        let field = |name: &str| -> Option<&str> {
            let start = line.find(&format!("\"{name}\":"))? + name.len() + 3;
            let rest = &line[start..];
            Some(&rest[..rest.find([',', '}'])?])
        };
        let int = |name: &str| field(name)?.parse::<u64>().ok();
        Some(RunReport {
            messages: int("messages")?,
            errors: int("errors")?,
            elapsed: Duration::from_secs_f64(field("elapsed_s")?.parse().ok()?),
            p50_us: int("p50_us")?,
            p99_us: int("p99_us")?,
            max_us: int("max_us")?,
            lost: int("lost")?,
            stalled_connects: int("stalled_connects")?,
            signalled_at_ns: int("signalled_at_ns"),
            server_cpu_us: int("server_cpu_us"),
        })
    }
}

/// The value below which `q` (0..=1) of the sorted samples fall.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median of some durations.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// CLOCK_MONOTONIC now, in nanoseconds: comparable across processes, unlike `Instant`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 0.5), 50);
        assert_eq!(percentile(&samples, 0.99), 99);
        assert_eq!(percentile(&samples, 1.0), 100);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[7], 0.99), 7);
    }

    #[test]
    fn json_round_trip() {
        let report = RunReport {
            messages: 10,
            errors: 1,
            elapsed: Duration::from_millis(2500),
            p50_us: 100,
            p99_us: 900,
            max_us: 1200,
            lost: 0,
            stalled_connects: 2,
            signalled_at_ns: Some(42),
            server_cpu_us: Some(5_000),
        };
        let json = report.to_json();
        assert!(json.contains("\"msgs_per_s\":4"), "{json}");
        assert_eq!(RunReport::from_json(&json), Some(report.clone()));
        assert_eq!(report.server_cpu_per_message_us(), Some(500.0));
    }
}
