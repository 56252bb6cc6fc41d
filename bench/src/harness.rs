//! What `make bench` runs: the project's server against the tokio baseline
//! in alternating runs (A/B/A/B, so machine drift hits both), then shutdown
//! latency, idle memory and client exit latency. Prints a table of figures
//! and ratios, and one JSON line per measurement.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{
    binary, free_port, listen_backlogs, open_fds, raise_fd_limit, rss_bytes, scratch_dir,
    wait_until, Program, SIGTERM,
};

use crate::loadgen::Mode;
use crate::stats::{median, monotonic_ns, RunReport};

const PATIENCE: Duration = Duration::from_secs(30);

/// The persistent protocol: any number of messages per connection.
const PERSISTENT: &[(&str, &str)] = &[("SERVER_MESSAGES_PER_CONNECTION", "0")];

/// For the idle-connection figures: connections stay open (no read
/// deadline), and a backlog that absorbs thousands of connects made one
/// after the other; with the default of 5, every scheduling hiccup of the
/// server drops a SYN and costs a one-second retransmit, which measures
/// nothing of interest here.
const IDLE: &[(&str, &str)] = &[
    ("SERVER_LISTEN_BACKLOG", "1024"),
    ("SERVER_READ_TIMEOUT", "1h"),
];

/// Sizes of the benchmark; `make bench` uses the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Measured seconds of each load run.
    pub duration: Duration,
    /// A/B pairs per load scenario.
    pub rounds: usize,
    /// Concurrent load clients.
    pub concurrency: usize,
    /// Idle connections for the memory figure.
    pub idle_connections: usize,
    /// Repetitions of each latency measurement (the median is reported).
    pub repeats: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: Duration::from_secs(5),
            rounds: 3,
            concurrency: 50,
            idle_connections: 10_000,
            repeats: 7,
        }
    }
}

/// A port for the next server, below the ephemeral range: the load
/// generator opens hundreds of thousands of connections, and a port the
/// kernel handed out as an ephemeral one may still be held by one of them.
fn server_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(21_000);
    loop {
        let port = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}

/// A server process under test.
#[derive(Debug)]
struct Server {
    child: Child,
    port: u16,
    _dir: PathBuf,
}

impl Server {
    /// The project's server with its default configuration but the log
    /// level and `extra`; stderr (its log) goes to a file.
    fn project(level: &str, extra: &[(&str, &str)]) -> Server {
        let port = server_port();
        let dir = scratch_dir("bench-server");
        let log = File::create(dir.join("server.log")).expect("log file");
        let child = Command::new(binary("server"))
            .current_dir(&dir)
            .env_clear()
            .env("SERVER_PORT", port.to_string())
            .env("LOGGING_LEVEL", level)
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start server");
        Server::ready(child, port, dir)
    }

    /// The tokio baseline.
    fn baseline(persistent: bool) -> Server {
        let port = server_port();
        let mut command = Command::new(binary("tokio-echo"));
        command.arg(port.to_string());
        if persistent {
            command.arg("--persistent");
        }
        let child = command
            .stdout(Stdio::null())
            .spawn()
            .expect("start tokio-echo");
        Server::ready(child, port, scratch_dir("bench-baseline"))
    }

    fn ready(child: Child, port: u16, dir: PathBuf) -> Server {
        // Watch for the listening socket rather than connect to it: a probe
        // connection could still be open in the server when the idle
        // figures count its descriptors.
        let listening = wait_until(PATIENCE, || !listen_backlogs(port).is_empty());
        assert!(listening, "server on {port} never listened");
        Server {
            child,
            port,
            _dir: dir,
        }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.pid(), signal) };
    }

    /// Open descriptors of the server process.
    fn fd_count(&self) -> usize {
        open_fds(self.child.id())
    }

    /// Resident set size in bytes.
    fn rss(&self) -> u64 {
        rss_bytes(self.child.id())
    }

    /// Waits for the exit; returns whether it was status 0 and CLOCK_MONOTONIC at exit.
    fn wait_exit(mut self) -> (bool, u64) {
        let status = self.child.wait().expect("wait server");
        (status.success(), monotonic_ns())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the load generator against `port`.
fn load(port: u16, mode: Mode, options: &Options, kill: Option<(i32, Duration)>) -> RunReport {
    let mut command = Command::new(binary("loadgen"));
    command.args([
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--mode",
        match mode {
            Mode::Oneshot => "oneshot",
            Mode::Persistent => "persistent",
        },
        "--concurrency",
        &options.concurrency.to_string(),
        "--duration",
        &format!("{}ms", options.duration.as_millis()),
        "--warmup",
        "1s",
    ]);
    if let Some((pid, after)) = kill {
        command.args([
            "--kill",
            &pid.to_string(),
            "--kill-after",
            &format!("{}ms", after.as_millis()),
        ]);
    }
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .expect("run loadgen");
    let text = String::from_utf8_lossy(&output.stdout);
    RunReport::from_json(text.trim()).unwrap_or_else(|| panic!("loadgen said: {text}"))
}

/// Sums of alternating runs.
#[derive(Debug, Default, Clone)]
struct Series {
    reports: Vec<RunReport>,
}

impl Series {
    fn rate(&self) -> f64 {
        let messages: u64 = self.reports.iter().map(|r| r.messages).sum();
        let seconds: f64 = self.reports.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        messages as f64 / seconds.max(1e-9)
    }
    fn p50_us(&self) -> u64 {
        self.mean(|r| r.p50_us)
    }
    fn p99_us(&self) -> u64 {
        self.mean(|r| r.p99_us)
    }
    fn max_us(&self) -> u64 {
        self.reports.iter().map(|r| r.max_us).max().unwrap_or(0)
    }
    fn errors(&self) -> u64 {
        self.reports.iter().map(|r| r.errors).sum()
    }
    fn stalled_connects(&self) -> u64 {
        self.reports.iter().map(|r| r.stalled_connects).sum()
    }
    fn mean(&self, f: impl Fn(&RunReport) -> u64) -> u64 {
        let n = self.reports.len().max(1) as u64;
        self.reports.iter().map(f).sum::<u64>() / n
    }
}

/// One line of the final table.
#[derive(Debug)]
struct Row {
    figure: String,
    project: String,
    baseline: String,
    ratio: String,
    target: String,
    met: bool,
}

fn row(
    figure: &str,
    project: String,
    baseline: String,
    ratio: String,
    target: &str,
    met: bool,
) -> Row {
    Row {
        figure: figure.to_owned(),
        project,
        baseline,
        ratio,
        target: target.to_owned(),
        met,
    }
}

fn json(name: &str, body: &str) {
    println!("{{\"bench\":\"{name}\",{body}}}");
}

/// Throughput and latency: project at WARN, baseline, project at INFO, alternating.
fn throughput(options: &Options, rows: &mut Vec<Row>) {
    let (mut warn, mut info, mut tokio) = (Series::default(), Series::default(), Series::default());
    // The order rotates from round to round, so that no variant always runs
    // first (into an empty TIME_WAIT table) or always after another.
    for round in 0..options.rounds {
        eprintln!("oneshot round {}/{}", round + 1, options.rounds);
        for variant in (0..3).map(|i| (i + round) % 3) {
            let (server, series) = match variant {
                0 => (Server::project("WARN", &[]), &mut warn),
                1 => (Server::baseline(false), &mut tokio),
                _ => (Server::project("INFO", &[]), &mut info),
            };
            series
                .reports
                .push(load(server.port, Mode::Oneshot, options, None));
        }
    }
    for (name, series) in [
        ("oneshot_project_warn", &warn),
        ("oneshot_tokio", &tokio),
        ("oneshot_project_info", &info),
    ] {
        json(
            name,
            &format!(
                "\"msgs_per_s\":{:.0},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\"errors\":{},\"stalled_connects\":{}",
                series.rate(),
                series.p50_us(),
                series.p99_us(),
                series.max_us(),
                series.errors(),
                series.stalled_connects()
            ),
        );
    }
    let ratio = warn.rate() / tokio.rate();
    rows.push(row(
        "oneshot msgs/s (WARN)",
        format!("{:.0}", warn.rate()),
        format!("{:.0}", tokio.rate()),
        format!("{ratio:.2}x"),
        ">= 1.25x",
        ratio >= 1.25,
    ));
    let p99 = warn.p99_us() as f64 / tokio.p99_us().max(1) as f64;
    rows.push(row(
        "oneshot p50 / p99 / max latency (WARN)",
        format!(
            "{} / {} / {} µs",
            warn.p50_us(),
            warn.p99_us(),
            warn.max_us()
        ),
        format!(
            "{} / {} / {} µs",
            tokio.p50_us(),
            tokio.p99_us(),
            tokio.max_us()
        ),
        format!("{p99:.2}x (p99)"),
        "p99 <= 1.0x",
        p99 <= 1.0,
    ));
    let logging = info.rate() / warn.rate();
    rows.push(row(
        "oneshot msgs/s at INFO, vs the same server at WARN",
        format!("{:.0}", info.rate()),
        format!("{:.0} (WARN)", warn.rate()),
        format!("{logging:.2}x"),
        ">= 0.9x",
        logging >= 0.9,
    ));
    rows.push(row(
        "oneshot failed exchanges: wrong or missing echo, reset (all runs)",
        (warn.errors() + info.errors()).to_string(),
        tokio.errors().to_string(),
        "-".into(),
        "0",
        warn.errors() + info.errors() == 0,
    ));
    rows.push(row(
        "oneshot connects stalled past the run by listen-queue overflow (backlog 5 vs 1024)",
        (warn.stalled_connects() + info.stalled_connects()).to_string(),
        tokio.stalled_connects().to_string(),
        "-".into(),
        "(figure)",
        true,
    ));

    let (mut project, mut baseline) = (Series::default(), Series::default());
    for round in 0..options.rounds {
        eprintln!("persistent round {}/{}", round + 1, options.rounds);
        for variant in (0..2).map(|i| (i + round) % 2) {
            let (server, series) = match variant {
                0 => (Server::project("WARN", PERSISTENT), &mut project),
                _ => (Server::baseline(true), &mut baseline),
            };
            series
                .reports
                .push(load(server.port, Mode::Persistent, options, None));
        }
    }
    for (name, series) in [
        ("persistent_project", &project),
        ("persistent_tokio", &baseline),
    ] {
        json(
            name,
            &format!(
                "\"msgs_per_s\":{:.0},\"p50_us\":{},\"p99_us\":{},\"errors\":{}",
                series.rate(),
                series.p50_us(),
                series.p99_us(),
                series.errors()
            ),
        );
    }
    let ratio = project.rate() / baseline.rate();
    rows.push(row(
        "persistent msgs/s (WARN)",
        format!("{:.0}", project.rate()),
        format!("{:.0}", baseline.rate()),
        format!("{ratio:.2}x"),
        ">= 1.0x",
        ratio >= 1.0,
    ));
}

/// Opens `n` idle connections and waits until the server holds them all.
fn idle_connections(server: &Server, n: usize) -> Vec<std::net::TcpStream> {
    let base = server.fd_count();
    let conns: Vec<_> = (0..n)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("idle connect"))
        .collect();
    let held = wait_until(PATIENCE, || server.fd_count() >= base + n);
    assert!(
        held,
        "server holds {} of {n} idle connections",
        server.fd_count() - base
    );
    conns
}

/// RSS per idle connection, project and baseline.
fn memory(options: &Options, rows: &mut Vec<Row>) {
    let per_connection = |server: Server| {
        let before = server.rss();
        let conns = idle_connections(&server, options.idle_connections);
        let after = server.rss();
        drop(conns);
        after.saturating_sub(before) as f64 / options.idle_connections as f64
    };
    eprintln!("memory: {} idle connections", options.idle_connections);
    let project = per_connection(Server::project("WARN", IDLE));
    let baseline = per_connection(Server::baseline(false));
    json(
        "idle_rss_per_connection",
        &format!(
            "\"project_bytes\":{project:.0},\"tokio_bytes\":{baseline:.0},\"connections\":{}",
            options.idle_connections
        ),
    );
    rows.push(row(
        &format!(
            "RSS per idle connection ({} open)",
            options.idle_connections
        ),
        format!("{project:.0} B"),
        format!("{baseline:.0} B"),
        format!("{:.2}x", project / baseline.max(1.0)),
        "<= 512 B",
        project <= 512.0,
    ));
}

/// SIGTERM-to-exit of the server: 1,000 idle connections, then the same
/// with oneshot load running; and messages lost.
fn shutdown(options: &Options, rows: &mut Vec<Row>) {
    let mut idle_times = Vec::new();
    let mut statuses_ok = true;
    for _ in 0..options.repeats {
        let server = Server::project("WARN", IDLE);
        let conns = idle_connections(&server, 1000);
        let start = monotonic_ns();
        server.signal(SIGTERM);
        let (ok, exited) = server.wait_exit();
        statuses_ok &= ok;
        idle_times.push(Duration::from_nanos(exited - start));
        drop(conns);
    }
    let idle = median(idle_times);

    let mut loaded_times = Vec::new();
    let mut lost = 0;
    let load_options = Options {
        duration: Duration::from_secs(10),
        ..options.clone()
    };
    for _ in 0..options.repeats {
        let server = Server::project("WARN", IDLE);
        let conns = idle_connections(&server, 1000);
        let pid = server.pid();
        let port = server.port;
        let waiter = std::thread::spawn(move || server.wait_exit());
        let report = load(
            port,
            Mode::Oneshot,
            &load_options,
            Some((pid, Duration::from_millis(1500))),
        );
        let (ok, exited) = waiter.join().expect("waiter");
        statuses_ok &= ok;
        let signalled = report
            .signalled_at_ns
            .expect("the load generator signalled the server");
        loaded_times.push(Duration::from_nanos(exited.saturating_sub(signalled)));
        lost += report.lost;
        drop(conns);
    }
    let loaded = median(loaded_times);
    json(
        "server_shutdown",
        &format!(
            "\"idle_median_us\":{},\"loaded_median_us\":{},\"lost\":{lost},\"exit_status_0\":{statuses_ok}",
            idle.as_micros(),
            loaded.as_micros()
        ),
    );
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    rows.push(row(
        "server SIGTERM→exit, 1,000 idle connections (median)",
        ms(idle),
        "-".into(),
        "-".into(),
        "<= 5 ms",
        idle <= Duration::from_millis(5) && statuses_ok,
    ));
    rows.push(row(
        "server SIGTERM→exit, 1,000 idle + oneshot load (median)",
        ms(loaded),
        "-".into(),
        "-".into(),
        "<= 5 ms",
        loaded <= Duration::from_millis(5) && statuses_ok,
    ));
    rows.push(row(
        "messages sent before SIGTERM without echo",
        lost.to_string(),
        "-".into(),
        "-".into(),
        "0",
        lost == 0,
    ));
}

/// SIGTERM-to-exit of the client while it waits a 10 s period and while it
/// retries connecting.
fn client_exit(options: &Options, rows: &mut Vec<Row>) {
    let server = Server::project("WARN", &[]);
    let address = format!("127.0.0.1:{}", server.port);
    let nobody = format!("127.0.0.1:{}", free_port());
    let dir = scratch_dir("bench-client");
    let measure = |address: &str, level: &str, ready: &[&str]| {
        let times: Vec<Duration> = (0..options.repeats)
            .map(|_| {
                let mut client = Program::start(
                    "client",
                    &dir,
                    &[
                        ("CLI_SERVER_ADDRESS", address),
                        ("CLI_LOOP_PERIOD", "10s"),
                        ("CLI_LOG_LEVEL", level),
                        ("CLI_SERVER_CONNECT_WINDOW", "60s"),
                    ],
                    &[],
                );
                client.wait_line(ready, PATIENCE);
                let (status, took) = client.stop_with(SIGTERM, PATIENCE);
                assert!(status.success(), "client exit {status:?}");
                took
            })
            .collect();
        median(times)
    };
    let waiting = measure(
        &address,
        "INFO",
        &["action: receive_message | result: success"],
    );
    let connecting = measure(&nobody, "DEBUG", &["action: connect | result: in_progress"]);
    drop(server);
    json(
        "client_exit",
        &format!(
            "\"waiting_period_median_us\":{},\"connecting_median_us\":{}",
            waiting.as_micros(),
            connecting.as_micros()
        ),
    );
    for (state, took) in [
        ("waiting a 10 s period", waiting),
        ("retrying to connect", connecting),
    ] {
        rows.push(row(
            &format!("client SIGTERM→exit, {state} (median)"),
            format!("{:.2} ms", took.as_secs_f64() * 1e3),
            "-".into(),
            "-".into(),
            "<= 5 ms",
            took <= Duration::from_millis(5),
        ));
    }
}

/// Runs everything and prints the table; returns whether every target held.
pub fn run(options: &Options, report_path: &Path) -> bool {
    // The idle-connection figures hold that many sockets in the server and
    // as many in this process; children inherit the limit.
    let limit = raise_fd_limit(65_536);
    let needed = options.idle_connections as u64 + 1024;
    if limit < needed {
        eprintln!(
            "descriptor limit {limit} is below the {needed} the idle-connection figures need"
        );
    }
    let started = Instant::now();
    let mut rows = Vec::new();
    throughput(options, &mut rows);
    memory(options, &mut rows);
    shutdown(options, &mut rows);
    client_exit(options, &mut rows);

    let mut table = String::from(
        "| figure | project | tokio baseline | ratio | target | met |\n|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.figure,
            r.project,
            r.baseline,
            r.ratio,
            r.target,
            if r.met { "yes" } else { "**no**" }
        ));
    }
    let machine = format!(
        "{} cores, {}; {} concurrent load clients, {} s per run after 1 s warm-up, {} rounds of alternating runs; took {:.0} s",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        options.concurrency,
        options.duration.as_secs(),
        options.rounds,
        started.elapsed().as_secs_f64()
    );
    let text = format!("{table}\n{machine}\n");
    println!("\n{text}");
    if let Some(dir) = report_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(report_path, &text);
    rows.iter().all(|r| r.met)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
