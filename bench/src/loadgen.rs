//! The load generator: C concurrent clients on one reactor loop, each
//! exchanging messages with the server as fast as answers come back, every
//! echo verified byte for byte.
//!
//! - `oneshot`: the course's protocol, a new connection per message.
//! - `persistent`: one connection per client, the next line sent as soon as
//!   the previous echo is in (the server must allow many messages per connection).
//!
//! The clients are spread over `threads` loops, each on its own thread (as
//! many as the machine has cores, by default of the harness), so that the
//! generator is not the bottleneck of a multi-threaded server.
//!
//! With `kill` (one thread only), the generator signals the server with SIGTERM mid-run, stops
//! starting exchanges, and counts the messages fully sent before the signal
//! that never got their echo (`lost`).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::raw::c_int;
use std::time::{Duration, Instant};

use reactor::mio::event::Event;
use reactor::mio::net::TcpStream;
use reactor::mio::{Interest, Registry, Token};
use reactor::net::{interrupted, would_block};
use reactor::{Grace, Handler};

use crate::stats::{monotonic_ns, percentile, RunReport};

/// Which protocol the clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A new connection per message.
    Oneshot,
    /// One connection per client for the whole run.
    Persistent,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server.
    pub addr: SocketAddr,
    /// Protocol.
    pub mode: Mode,
    /// Concurrent clients, over all threads.
    pub concurrency: usize,
    /// Loops, each on its own thread, that share the clients.
    pub threads: usize,
    /// Measured window, after the warm-up.
    pub duration: Duration,
    /// Time before measuring starts.
    pub warmup: Duration,
    /// Send SIGTERM to this pid this long after the start.
    pub kill: Option<(i32, Duration)>,
    /// The server's pid, whose CPU time over the measured window is reported.
    pub server_pid: Option<u32>,
}

/// How long outstanding exchanges may take to finish once the run stops.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Exchange {
    stream: TcpStream,
    connected: bool,
    message: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    started: Instant,
    /// When the last byte of the message was written.
    sent_all_at: Option<Instant>,
}

/// The load generator as a reactor handler.
#[derive(Debug)]
pub struct LoadGen {
    config: LoadConfig,
    slots: Vec<Option<Exchange>>,
    sequence: u64,
    measure_from: Instant,
    stop_at: Instant,
    stopping: bool,
    drain_until: Option<Instant>,
    signalled: Option<(Instant, u64)>,
    latencies_us: Vec<u64>,
    messages: u64,
    errors: u64,
    lost: u64,
    /// Connects still in progress when the run ended.
    stalled_connects: u64,
    /// Errors by cause, for the report on stderr.
    causes: std::collections::BTreeMap<String, u64>,
    buf: Vec<u8>,
}

impl LoadGen {
    /// Starts every client at once.
    pub fn start(config: LoadConfig, registry: &Registry) -> Self {
        let now = Instant::now();
        let mut load = LoadGen {
            slots: (0..config.concurrency).map(|_| None).collect(),
            sequence: 0,
            measure_from: now + config.warmup,
            stop_at: now + config.warmup + config.duration,
            stopping: false,
            drain_until: None,
            signalled: None,
            latencies_us: Vec::with_capacity(1 << 20),
            messages: 0,
            errors: 0,
            lost: 0,
            stalled_connects: 0,
            causes: Default::default(),
            buf: vec![0; 64 * 1024],
            config,
        };
        for slot in 0..load.slots.len() {
            load.begin(registry, slot, None, now);
        }
        load
    }

    /// Errors by cause.
    pub fn causes(&self) -> &std::collections::BTreeMap<String, u64> {
        &self.causes
    }

    /// The report, once finished.
    pub fn report(&self) -> RunReport {
        LoadGen::merged(std::slice::from_ref(self))
    }

    /// One report for loops that ran side by side over the same window:
    /// counts add up, percentiles are those of all their samples together.
    pub fn merged(loads: &[LoadGen]) -> RunReport {
        let mut sorted: Vec<u64> = loads
            .iter()
            .flat_map(|l| l.latencies_us.iter().copied())
            .collect();
        sorted.sort_unstable();
        let sum = |f: fn(&LoadGen) -> u64| loads.iter().map(f).sum();
        RunReport {
            messages: sum(|l| l.messages),
            errors: sum(|l| l.errors),
            elapsed: loads.first().map_or(Duration::ZERO, |l| l.config.duration),
            p50_us: percentile(&sorted, 0.50),
            p99_us: percentile(&sorted, 0.99),
            max_us: sorted.last().copied().unwrap_or(0),
            lost: sum(|l| l.lost),
            stalled_connects: sum(|l| l.stalled_connects),
            signalled_at_ns: loads.iter().find_map(|l| l.signalled.map(|(_, ns)| ns)),
            server_cpu_us: None,
        }
    }

    /// Starts the next exchange of `slot`, on `stream` if it is kept open.
    fn begin(&mut self, registry: &Registry, slot: usize, stream: Option<TcpStream>, now: Instant) {
        if self.stopping {
            return;
        }
        self.sequence += 1;
        let message = format!("[CLIENT load{slot}] Message N°{}\n", self.sequence).into_bytes();
        let (stream, connected) = match stream {
            Some(stream) => (stream, true),
            None => match TcpStream::connect(self.config.addr) {
                Ok(mut stream) => {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) = registry.register(&mut stream, Token(slot), interest) {
                        self.count_error(&e);
                        return;
                    }
                    (stream, false)
                }
                Err(e) => {
                    self.count_error(&e);
                    return;
                }
            },
        };
        self.slots[slot] = Some(Exchange {
            stream,
            connected,
            message,
            sent: 0,
            received: Vec::with_capacity(64),
            started: now,
            sent_all_at: None,
        });
        if connected {
            self.drive(registry, slot, now);
        }
    }

    fn drive(&mut self, registry: &Registry, slot: usize, now: Instant) {
        let Some(exchange) = self.slots[slot].as_mut() else {
            return;
        };
        match advance(exchange, &mut self.buf, now) {
            Ok(false) => {}
            Ok(true) => self.complete(registry, slot, now),
            Err(e) => self.fail(registry, slot, now, &e),
        }
    }

    fn count_error(&mut self, e: &io::Error) {
        self.errors += 1;
        *self.causes.entry(e.to_string()).or_default() += 1;
    }

    fn complete(&mut self, registry: &Registry, slot: usize, now: Instant) {
        let Some(exchange) = self.slots[slot].take() else {
            return;
        };
        if exchange.started >= self.measure_from && now <= self.stop_at {
            self.messages += 1;
            let micros = now.duration_since(exchange.started).as_micros();
            self.latencies_us
                .push(u64::try_from(micros).unwrap_or(u64::MAX));
        }
        let stream = exchange.stream;
        match self.config.mode {
            Mode::Persistent => self.begin(registry, slot, Some(stream), now),
            Mode::Oneshot => {
                // Closing takes the socket out of the poll set as well.
                drop(stream);
                self.begin(registry, slot, None, now);
            }
        }
    }

    /// An exchange failed: before the signal it is an error; after it, a
    /// loss if its message was fully sent before the signal.
    fn fail(&mut self, registry: &Registry, slot: usize, now: Instant, cause: &io::Error) {
        let Some(mut exchange) = self.slots[slot].take() else {
            return;
        };
        let _ = registry.deregister(&mut exchange.stream);
        match self.signalled {
            Some((signal, _)) => {
                if exchange.sent_all_at.is_some_and(|sent| sent < signal) {
                    self.lost += 1;
                }
            }
            None => self.count_error(cause),
        }
        self.begin(registry, slot, None, now);
    }

    fn stop(&mut self, now: Instant) {
        if !self.stopping {
            self.stopping = true;
            self.drain_until = Some(now + DRAIN);
        }
    }
}

/// Writes what is left and reads what arrived; `Ok(true)` once the echo is
/// complete and equal to the message.
fn advance(exchange: &mut Exchange, buf: &mut [u8], now: Instant) -> io::Result<bool> {
    if !exchange.connected {
        // A failed connect shows in SO_ERROR; one still in progress makes the
        // write below fail with ENOTCONN or WouldBlock: wait for the next event.
        if let Some(e) = exchange.stream.take_error()? {
            return Err(e);
        }
        exchange.connected = true;
    }
    while exchange.sent < exchange.message.len() {
        match exchange.stream.write(&exchange.message[exchange.sent..]) {
            Ok(n) => exchange.sent += n,
            Err(e) if would_block(&e) || e.kind() == io::ErrorKind::NotConnected => {
                return Ok(false)
            }
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(e),
        }
    }
    exchange.sent_all_at.get_or_insert(now);
    loop {
        match exchange.stream.read(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                exchange.received.extend_from_slice(&buf[..n]);
                if exchange.received.len() >= exchange.message.len() {
                    return if exchange.received == exchange.message {
                        Ok(true)
                    } else {
                        Err(io::Error::other("echo differs from the message"))
                    };
                }
            }
            Err(e) if would_block(&e) => return Ok(false),
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

impl Handler for LoadGen {
    type Outcome = RunReport;

    fn on_ready(&mut self, registry: &Registry, event: &Event) {
        let slot = event.token().0;
        if slot < self.slots.len() {
            self.drive(registry, slot, Instant::now());
        }
    }

    /// The load generator has no config file to read again.
    fn on_reload(&mut self, _registry: &Registry) {}

    /// The load generator has no log to report to; other signals change nothing.
    fn on_ignored_signal(&mut self, _signal: c_int, _reason: &str) {}

    fn on_shutdown(&mut self, _registry: &Registry, _signal: c_int, _grace: Grace) {
        self.stop(Instant::now());
    }

    fn on_timers(&mut self, registry: &Registry, now: Instant) {
        if let Some((pid, after)) = self.config.kill {
            if self.signalled.is_none() && now >= self.measure_from - self.config.warmup + after {
                let at_ns = monotonic_ns();
                // SAFETY: kill(2) with a pid the caller gave us; no memory involved.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                self.signalled = Some((Instant::now(), at_ns));
                self.stop(now);
            }
        }
        if now >= self.stop_at {
            self.stop(now);
        }
        if self.drain_until.is_some_and(|until| now >= until) {
            // Whatever is still outstanding failed. A connect that never
            // completed had its SYN dropped on a full listen queue (again and
            // again: retransmits wait 1 s, 3 s, 7 s): counted apart, as it
            // says something of the backlog, not of the exchange.
            let timed_out =
                io::Error::new(io::ErrorKind::TimedOut, "no echo before the end of the run");
            for slot in 0..self.slots.len() {
                if self.slots[slot].as_ref().is_some_and(|e| !e.connected)
                    && self.signalled.is_none()
                {
                    self.stalled_connects += 1;
                    self.slots[slot] = None;
                } else {
                    self.fail(registry, slot, now, &timed_out);
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let kill = match (self.config.kill, self.signalled) {
            (Some((_, after)), None) => Some(self.measure_from - self.config.warmup + after),
            _ => None,
        };
        [Some(self.stop_at), self.drain_until, kill]
            .into_iter()
            .flatten()
            .min()
    }

    fn finished(&mut self) -> Option<RunReport> {
        let idle = self.slots.iter().all(Option::is_none);
        (self.stopping && idle).then(|| self.report())
    }
}

/// Parses `--addr A --mode oneshot|persistent --concurrency C --threads T
/// --duration 5s --warmup 1s [--server-pid PID] [--kill PID --kill-after 2s]`.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<LoadConfig, String> {
    let mut config = LoadConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 12345)),
        mode: Mode::Oneshot,
        concurrency: 50,
        threads: 1,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        kill: None,
        server_pid: None,
    };
    let mut kill_pid = None;
    let mut kill_after = Duration::from_secs(2);
    let mut args = args.into_iter();
    let duration = |text: String| {
        app::config::parse_period(&text)
            .map(|p| p.duration)
            .map_err(|e| format!("{text:?}: expected {e}"))
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => config.addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            "--mode" => {
                config.mode = match value.as_str() {
                    "oneshot" => Mode::Oneshot,
                    "persistent" => Mode::Persistent,
                    _ => return Err(format!("--mode {value}: oneshot or persistent")),
                }
            }
            "--concurrency" => {
                config.concurrency = value
                    .parse()
                    .map_err(|e| format!("--concurrency {value}: {e}"))?
            }
            "--threads" => {
                config.threads = value
                    .parse()
                    .map_err(|e| format!("--threads {value}: {e}"))?
            }
            "--server-pid" => {
                config.server_pid = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--server-pid {value}: {e}"))?,
                )
            }
            "--duration" => config.duration = duration(value)?,
            "--warmup" => config.warmup = duration(value)?,
            "--kill" => kill_pid = Some(value.parse().map_err(|e| format!("--kill {value}: {e}"))?),
            "--kill-after" => kill_after = duration(value)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    config.kill = kill_pid.map(|pid| (pid, kill_after));
    if config.threads == 0 || config.threads > config.concurrency.max(1) {
        return Err(format!(
            "--threads {}: between 1 and the concurrency ({})",
            config.threads, config.concurrency
        ));
    }
    if config.kill.is_some() && config.threads != 1 {
        return Err("--kill counts lost messages on one thread: use --threads 1".into());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Result<LoadConfig, String> {
        parse_args(text.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn threads_and_server_pid_are_parsed() {
        let config = args("--concurrency 50 --threads 2 --server-pid 42").expect("valid");
        assert_eq!((config.threads, config.server_pid), (2, Some(42)));
        assert_eq!(args("").expect("defaults").threads, 1);
    }

    #[test]
    fn threads_must_fit_the_clients_and_kill_needs_one() {
        assert!(args("--threads 0").is_err());
        assert!(args("--concurrency 2 --threads 3").is_err());
        assert!(args("--threads 2 --kill 42").is_err());
        assert!(args("--threads 1 --kill 42").is_ok());
    }
}
