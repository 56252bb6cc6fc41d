//! What `make bench` runs: the project's server against two baselines, the
//! minimal mio echo server (the practical limit of a single-threaded
//! reactor) and an idiomatic tokio server, in alternating runs whose order
//! rotates (so machine drift hits every variant alike); the same over 10 to
//! 5,000 concurrent clients; then, at 1,000 to 50,000 idle connections,
//! memory and shutdown latency against the cost of closing the same
//! sockets; and client exit latency. Prints a table of figures and ratios
//! (also written to `target/bench/report.md`), one JSON line per
//! measurement, and draws the curves as SVG charts in `target/bench/`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{
    binary, listen_backlogs, raise_fd_limit, rss_bytes, scratch_dir, wait_until, ClosedPort,
    Program, SIGTERM,
};

use crate::charts::{write_svg, Line, Panel};
use crate::idle::IdlePeers;
use crate::loadgen::Mode;
use crate::stats::{median, monotonic_ns, RunReport};

const PATIENCE: Duration = Duration::from_secs(30);

/// For the idle-connection figures: connections stay open (no read
/// deadline), and a backlog that absorbs thousands of connects made one
/// after the other; with the default of 5, every scheduling hiccup of the
/// server drops a SYN and costs a one-second retransmit, which measures
/// nothing of interest here.
const IDLE: &[(&str, &str)] = &[
    ("SERVER_LISTEN_BACKLOG", "1024"),
    ("SERVER_READ_TIMEOUT", "1h"),
];

/// The baselines' backlog, for comparisons at equal settings.
const BACKLOG_1024: &[(&str, &str)] = &[("SERVER_LISTEN_BACKLOG", "1024")];

/// The persistent protocol at the baselines' backlog.
const PERSISTENT_1024: &[(&str, &str)] = &[
    ("SERVER_MESSAGES_PER_CONNECTION", "0"),
    ("SERVER_LISTEN_BACKLOG", "1024"),
];

/// Sizes of the benchmark; `make bench` uses the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Measured seconds of each load run.
    pub duration: Duration,
    /// Load before each run's measured window (connects, caches, TIME_WAIT).
    pub warmup: Duration,
    /// A/B pairs per load scenario.
    pub rounds: usize,
    /// Concurrent load clients.
    pub concurrency: usize,
    /// Load generator threads (each a loop of its own) for the throughput runs.
    pub load_threads: usize,
    /// Repetitions of each latency measurement (the median is reported).
    pub repeats: usize,
    /// Concurrent clients of the scaling curves.
    pub curve_clients: Vec<usize>,
    /// Measured window of each run of the curves.
    pub curve_duration: Duration,
    /// Rounds of the curves.
    pub curve_rounds: usize,
    /// Idle connections of the memory and shutdown figures.
    pub idle_sizes: Vec<usize>,
    /// Repetitions at each idle size (the median is reported).
    pub idle_repeats: usize,
    /// A `--quick` run: the charts say so.
    pub quick: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            rounds: 3,
            concurrency: 50,
            load_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            repeats: 7,
            curve_clients: vec![10, 100, 1000, 5000],
            curve_duration: Duration::from_millis(1500),
            curve_rounds: 2,
            idle_sizes: vec![1000, 10_000, 50_000],
            idle_repeats: 3,
            quick: false,
        }
    }
}

impl Options {
    /// A smoke run of everything but the largest idle size, in under a
    /// minute: every run short, one round, one repetition.
    pub fn quick() -> Self {
        Options {
            duration: Duration::from_millis(400),
            warmup: Duration::from_millis(250),
            rounds: 1,
            repeats: 3,
            curve_duration: Duration::from_millis(300),
            curve_rounds: 1,
            idle_sizes: vec![1000, 10_000],
            idle_repeats: 1,
            quick: true,
            ..Options::default()
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
    /// The project's log (its stderr); the baselines log nothing.
    log: Option<PathBuf>,
}

impl Server {
    /// The project's server with its default configuration but the log
    /// level and `extra`; stderr (its log) goes to a file.
    fn project(level: &str, extra: &[(&str, &str)]) -> Server {
        let port = server_port();
        let dir = scratch_dir("bench-server");
        let log_path = dir.join("server.log");
        let log = File::create(&log_path).expect("log file");
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
        let mut server = Server::ready(child, port, dir);
        server.log = Some(log_path);
        server
    }

    /// A baseline: `tokio-echo` or `mio-echo`.
    fn baseline(name: &str, persistent: bool) -> Server {
        let port = server_port();
        let mut command = Command::new(binary(name));
        command.arg(port.to_string());
        if persistent {
            command.arg("--persistent");
        }
        let child = command
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Server::ready(child, port, scratch_dir("bench-baseline"))
    }

    /// The idiomatic tokio server.
    fn tokio(persistent: bool) -> Server {
        Server::baseline("tokio-echo", persistent)
    }

    /// The minimal mio server.
    fn mio(persistent: bool) -> Server {
        Server::baseline("mio-echo", persistent)
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
            log: None,
        }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.pid(), signal) };
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

/// How the load generator runs.
#[derive(Debug, Clone, Copy)]
struct Load {
    mode: Mode,
    /// Generator threads.
    threads: usize,
    /// Send SIGTERM to this pid after this long (one thread only).
    kill: Option<(i32, Duration)>,
}

impl Load {
    fn new(mode: Mode, threads: usize) -> Self {
        Load {
            mode,
            threads,
            kill: None,
        }
    }
}

/// Runs the load generator against `server`, watching its CPU time unless
/// the run signals it.
fn load(server: &Server, how: Load, options: &Options) -> RunReport {
    load_on(server.port, server.pid(), how, options)
}

/// Runs the load generator against the server `pid` listening on `port`.
fn load_on(port: u16, pid: i32, how: Load, options: &Options) -> RunReport {
    let Load {
        mode,
        threads,
        kill,
    } = how;
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
        "--threads",
        &threads.to_string(),
        "--duration",
        &format!("{}ms", options.duration.as_millis()),
        "--warmup",
        &format!("{}ms", options.warmup.as_millis()),
    ]);
    match kill {
        Some((pid, after)) => command.args([
            "--kill",
            &pid.to_string(),
            "--kill-after",
            &format!("{}ms", after.as_millis()),
        ]),
        None => command.args(["--server-pid", &pid.to_string()]),
    };
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
    /// Server CPU time per message over the runs, microseconds.
    fn cpu_per_message_us(&self) -> f64 {
        let cpu: u64 = self.reports.iter().filter_map(|r| r.server_cpu_us).sum();
        let messages: u64 = self.reports.iter().map(|r| r.messages).sum();
        cpu as f64 / messages.max(1) as f64
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
    mio: String,
    tokio: String,
    ratio: String,
    target: String,
    /// `None`: not measured (a size the machine cannot hold).
    met: Option<bool>,
}

/// A row; `cells` are the project's figure, the minimal mio server's and tokio's.
fn row(figure: &str, cells: [String; 3], ratio: String, target: &str, met: bool) -> Row {
    let [project, mio, tokio] = cells;
    Row {
        figure: figure.to_owned(),
        project,
        mio,
        tokio,
        ratio,
        target: target.to_owned(),
        met: Some(met),
    }
}

fn json(name: &str, body: &str) {
    println!("{{\"bench\":\"{name}\",{body}}}");
}

fn dash() -> String {
    "-".into()
}

/// The servers of a comparison, measured in rounds whose order rotates, so
/// that no variant always runs first (into an empty TIME_WAIT table) or
/// always after another.
fn rounds(
    what: &str,
    options: &Options,
    how: Load,
    variants: &[&dyn Fn() -> Server],
) -> Vec<Series> {
    let mut series = vec![Series::default(); variants.len()];
    for round in 0..options.rounds {
        eprintln!("{what} round {}/{}", round + 1, options.rounds);
        for i in (0..variants.len()).map(|i| (i + round) % variants.len()) {
            let server = variants[i]();
            series[i].reports.push(load(&server, how, options));
        }
    }
    series
}

fn json_series(name: &str, series: &Series) {
    json(
        name,
        &format!(
            "\"msgs_per_s\":{:.0},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\"errors\":{},\"stalled_connects\":{},\"server_cpu_per_msg_us\":{:.1}",
            series.rate(),
            series.p50_us(),
            series.p99_us(),
            series.max_us(),
            series.errors(),
            series.stalled_connects(),
            series.cpu_per_message_us()
        ),
    );
}

/// Message rates of the three servers, and the project's ratios to the others.
fn rates(project: &Series, mio: &Series, tokio: &Series) -> ([String; 3], f64, String) {
    let vs_mio = project.rate() / mio.rate().max(1e-9);
    let vs_tokio = project.rate() / tokio.rate().max(1e-9);
    (
        [project, mio, tokio].map(|s| format!("{:.0}", s.rate())),
        vs_mio,
        format!("{vs_mio:.2}x mio, {vs_tokio:.2}x tokio"),
    )
}

/// Throughput, latency and CPU per message: the three servers at backlog
/// 1024 with the generator on every core and on one; the project at INFO
/// and at the course's backlog of 5; the persistent protocol.
fn throughput(options: &Options, rows: &mut Vec<Row>) {
    let all = Load::new(Mode::Oneshot, options.load_threads);
    let [warn, mio, tokio, info, backlog5] = <[Series; 5]>::try_from(rounds(
        "oneshot",
        options,
        all,
        &[
            &|| Server::project("WARN", BACKLOG_1024),
            &|| Server::mio(false),
            &|| Server::tokio(false),
            &|| Server::project("INFO", BACKLOG_1024),
            &|| Server::project("WARN", &[]),
        ],
    ))
    .expect("five series");
    let one = Load::new(Mode::Oneshot, 1);
    let [warn1, mio1, tokio1] = <[Series; 3]>::try_from(rounds(
        "oneshot, one load thread",
        options,
        one,
        &[
            &|| Server::project("WARN", BACKLOG_1024),
            &|| Server::mio(false),
            &|| Server::tokio(false),
        ],
    ))
    .expect("three series");
    for (name, series) in [
        ("oneshot_project_warn", &warn),
        ("oneshot_mio", &mio),
        ("oneshot_tokio", &tokio),
        ("oneshot_project_info", &info),
        ("oneshot_project_warn_backlog5", &backlog5),
        ("oneshot_one_thread_project_warn", &warn1),
        ("oneshot_one_thread_mio", &mio1),
        ("oneshot_one_thread_tokio", &tokio1),
    ] {
        json_series(name, series);
    }
    let threads = options.load_threads;
    let (cells, vs_mio, ratio) = rates(&warn, &mio, &tokio);
    rows.push(row(
        &format!("oneshot msgs/s (WARN, backlog 1024, {threads} load threads)"),
        cells,
        ratio,
        ">= 0.95x mio",
        vs_mio >= 0.95,
    ));
    let (cells, vs_mio, ratio) = rates(&warn1, &mio1, &tokio1);
    rows.push(row(
        "oneshot msgs/s (WARN, backlog 1024, 1 load thread)",
        cells,
        ratio,
        ">= 0.95x mio",
        vs_mio >= 0.95,
    ));
    let cpu = [&warn, &mio, &tokio].map(Series::cpu_per_message_us);
    let cpu_vs_mio = cpu[0] / cpu[1].max(1e-9);
    rows.push(row(
        &format!("server CPU per oneshot message (utime+stime, {threads} load threads)"),
        cpu.map(|us| format!("{us:.1} µs")),
        format!(
            "{cpu_vs_mio:.2}x mio, {:.2}x tokio",
            cpu[0] / cpu[2].max(1e-9)
        ),
        "<= 1.05x mio",
        cpu_vs_mio <= 1.05,
    ));
    let latencies = |s: &Series| format!("{} / {} / {} µs", s.p50_us(), s.p99_us(), s.max_us());
    let p99 = warn.p99_us() as f64 / tokio.p99_us().max(1) as f64;
    rows.push(row(
        &format!("oneshot p50 / p99 / max latency (WARN, backlog 1024, {threads} load threads)"),
        [&warn, &mio, &tokio].map(latencies),
        format!(
            "{:.2}x mio, {p99:.2}x tokio (p99)",
            warn.p99_us() as f64 / mio.p99_us().max(1) as f64
        ),
        "p99 <= 1.0x tokio",
        p99 <= 1.0,
    ));
    rows.push(row(
        "oneshot at the course's default backlog 5: msgs/s, p99 / max latency, exchanges stalled past the run by listen-queue overflow (SYN or handshake ACK dropped)",
        [
            format!(
                "{:.0}, {} / {} µs, {} stalled",
                backlog5.rate(),
                backlog5.p99_us(),
                backlog5.max_us(),
                backlog5.stalled_connects() + backlog5.errors()
            ),
            dash(),
            dash(),
        ],
        format!(
            "{:.2}x the project at 1024, {:.2}x mio",
            backlog5.rate() / warn.rate().max(1e-9),
            backlog5.rate() / mio.rate().max(1e-9)
        ),
        "(figure)",
        true,
    ));
    let logging = info.rate() / warn.rate().max(1e-9);
    rows.push(row(
        "oneshot msgs/s at INFO (two lines per message), vs the same server at WARN",
        [format!("{:.0}", info.rate()), dash(), dash()],
        format!("{logging:.2}x WARN"),
        ">= 0.9x WARN",
        logging >= 0.9,
    ));
    // At backlog 5 the kernel drops handshakes on the full queue: those
    // exchanges stall for seconds of retransmits and are counted in its row.
    let project_errors: u64 = [&warn, &info, &warn1].iter().map(|s| s.errors()).sum();
    rows.push(row(
        "oneshot failed exchanges: wrong or missing echo, reset (all runs at backlog 1024)",
        [
            project_errors.to_string(),
            (mio.errors() + mio1.errors()).to_string(),
            (tokio.errors() + tokio1.errors()).to_string(),
        ],
        dash(),
        "0 (project)",
        project_errors == 0,
    ));

    let persistent = Load::new(Mode::Persistent, options.load_threads);
    let [project, mio, tokio] = <[Series; 3]>::try_from(rounds(
        "persistent",
        options,
        persistent,
        &[
            &|| Server::project("WARN", PERSISTENT_1024),
            &|| Server::mio(true),
            &|| Server::tokio(true),
        ],
    ))
    .expect("three series");
    for (name, series) in [
        ("persistent_project", &project),
        ("persistent_mio", &mio),
        ("persistent_tokio", &tokio),
    ] {
        json_series(name, series);
    }
    let (cells, _, ratio) = rates(&project, &mio, &tokio);
    let vs_tokio = project.rate() / tokio.rate().max(1e-9);
    rows.push(row(
        &format!("persistent msgs/s (WARN, {threads} load threads)"),
        cells,
        ratio,
        ">= 1.0x tokio",
        vs_tokio >= 1.0,
    ));
    let cpu = [&project, &mio, &tokio].map(Series::cpu_per_message_us);
    rows.push(row(
        "server CPU per persistent message",
        cpu.map(|us| format!("{us:.1} µs")),
        format!(
            "{:.2}x mio, {:.2}x tokio",
            cpu[0] / cpu[1].max(1e-9),
            cpu[0] / cpu[2].max(1e-9)
        ),
        "(figure)",
        true,
    ));
}

/// What the project's log says of a shutdown.
#[derive(Debug, Clone, Copy)]
struct ShutdownLines {
    /// `close_connection` lines.
    closes: usize,
    /// Whether the last line is `shutdown | result: success`.
    completed: bool,
}

impl ShutdownLines {
    fn read(log: &Path) -> ShutdownLines {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        ShutdownLines {
            closes: text
                .lines()
                .filter(|l| l.contains("action: close_connection | result: success"))
                .count(),
            completed: text
                .lines()
                .last()
                .is_some_and(|l| l.contains("action: shutdown | result: success")),
        }
    }
}

/// What one server did with idle connections open.
#[derive(Debug)]
struct IdleRun {
    /// RSS growth per connection, bytes.
    rss_per_connection: f64,
    sigterm_to_exit: Duration,
    exit_ok: bool,
    /// The project's log, read once it exited.
    lines: Option<ShutdownLines>,
}

/// Opens `n` idle connections to `server`, measures its RSS growth, then
/// the time from SIGTERM to its exit.
fn idle_run(server: Server, n: usize) -> Result<IdleRun, String> {
    let before = server.rss();
    let peers = IdlePeers::open(server.port, n, server.child.id())?;
    let after = server.rss();
    let log = server.log.clone();
    let start = monotonic_ns();
    server.signal(SIGTERM);
    let (exit_ok, exited) = server.wait_exit();
    drop(peers);
    Ok(IdleRun {
        rss_per_connection: after.saturating_sub(before) as f64 / n as f64,
        sigterm_to_exit: Duration::from_nanos(exited.saturating_sub(start)),
        exit_ok,
        lines: log.as_deref().map(ShutdownLines::read),
    })
}

/// The floor of a shutdown with `n` idle connections: what `close(2)` of
/// the server's side of `n` open loopback connections takes, nothing else.
fn close_floor(n: usize) -> Result<Duration, String> {
    let listener = std::net::TcpListener::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    // Accepted beside the helper's connects, which wait for them batch by
    // batch; a helper that gives up leaves the accept waiting: it times out.
    socket2::SockRef::from(&listener)
        .set_read_timeout(Some(PATIENCE))
        .map_err(|e| e.to_string())?;
    let accepter = std::thread::spawn(move || {
        (0..n)
            .map(|_| listener.accept().map(|(stream, _)| stream))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| format!("floor accept: {e}"))
    });
    let peers = IdlePeers::open(port, n, std::process::id());
    let accepted = accepter.join().expect("floor accepter")?;
    let _peers = peers?;
    let start = Instant::now();
    drop(accepted);
    Ok(start.elapsed())
}

/// The figures of one idle size, medians over the repetitions.
#[derive(Debug)]
struct IdleSize {
    connections: usize,
    /// Project (at WARN: no log line per connection), mio, tokio.
    rss: [f64; 3],
    floor: Duration,
    /// Project (at INFO: every close logged), mio, tokio (both killed by the signal).
    exit: [Duration; 3],
    exit_ok: bool,
    /// The project's log, the repetition with the fewest close lines.
    lines: ShutdownLines,
}

/// Measures one idle size; `Err` says why the machine cannot.
fn idle_size(n: usize, options: &Options) -> Result<IdleSize, String> {
    let project_rss = idle_run(Server::project("WARN", IDLE), n)?.rss_per_connection;
    let (mut floors, mut exits, mut rss) = (Vec::new(), [vec![], vec![], vec![]], [vec![], vec![]]);
    let mut exit_ok = true;
    let mut lines: Option<ShutdownLines> = None;
    for _ in 0..options.idle_repeats {
        let project = idle_run(Server::project("INFO", IDLE), n)?;
        exit_ok &= project.exit_ok;
        exits[0].push(project.sigterm_to_exit);
        if let Some(seen) = project.lines {
            if lines.is_none_or(|l| seen.closes < l.closes || !seen.completed) {
                lines = Some(seen);
            }
        }
        floors.push(close_floor(n)?);
        for (i, baseline) in [Server::mio(false), Server::tokio(false)]
            .into_iter()
            .enumerate()
        {
            let run = idle_run(baseline, n)?;
            exits[i + 1].push(run.sigterm_to_exit);
            rss[i].push(run.rss_per_connection);
        }
    }
    let median_f64 = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let [mio_rss, tokio_rss] = rss.map(median_f64);
    Ok(IdleSize {
        connections: n,
        rss: [project_rss, mio_rss, tokio_rss],
        floor: median(floors),
        exit: exits.map(median),
        exit_ok,
        lines: lines.unwrap_or(ShutdownLines {
            closes: 0,
            completed: false,
        }),
    })
}

/// Descriptors a process needs to hold `n` idle connections, with room
/// for its own files, listener and the odd probe.
fn descriptors_for(n: usize) -> u64 {
    n as u64 + 256
}

/// Memory per idle connection and SIGTERM→exit at each idle size, against
/// the close floor, tokio and the minimal mio loop; whether the project's
/// log got every line of the shutdown. A size the machine cannot hold is
/// skipped with the reason.
fn idle(options: &Options, fd_limit: u64, rows: &mut Vec<Row>) -> Vec<IdleSize> {
    let mut sizes = Vec::new();
    for &n in &options.idle_sizes {
        let started = Instant::now();
        eprintln!("idle: {n} connections");
        let measured = if fd_limit < descriptors_for(n) {
            Err(format!(
                "the descriptor limit is {fd_limit}, below the {} a process holding {n} connections needs (raising the hard limit needs CAP_SYS_RESOURCE)",
                descriptors_for(n)
            ))
        } else {
            idle_size(n, options)
        };
        match measured {
            Ok(size) => {
                eprintln!(
                    "idle: {n} connections took {:.0} s",
                    started.elapsed().as_secs_f64()
                );
                sizes.push(size);
            }
            Err(why) => {
                eprintln!("idle: {n} connections skipped: {why}");
                rows.push(Row {
                    met: None,
                    ..row(
                        &format!("idle connections, {}", thousands(n)),
                        [why, dash(), dash()],
                        dash(),
                        "(measured)",
                        false,
                    )
                });
            }
        }
    }
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    for size in &sizes {
        let n = size.connections;
        let count = thousands(n);
        let [project, mio, tokio] = size.rss;
        json(
            "idle",
            &format!(
                "\"connections\":{n},\"rss_per_connection_bytes\":[{project:.0},{mio:.0},{tokio:.0}],\"close_floor_us\":{},\"sigterm_to_exit_us\":[{},{},{}],\"exit_status_0\":{},\"close_lines\":{},\"shutdown_line\":{}",
                size.floor.as_micros(),
                size.exit[0].as_micros(),
                size.exit[1].as_micros(),
                size.exit[2].as_micros(),
                size.exit_ok,
                size.lines.closes,
                size.lines.completed
            ),
        );
        rows.push(row(
            &format!("RSS per idle connection, {count} open (project at WARN)"),
            size.rss.map(|b| format!("{b:.0} B")),
            format!(
                "{:.2}x mio, {:.2}x tokio",
                project / mio.max(1.0),
                project / tokio.max(1.0)
            ),
            "<= 512 B",
            project <= 512.0,
        ));
        rows.push(row(
            &format!("close(2) of the server side of {count} idle loopback connections (the floor, median)"),
            [ms(size.floor), dash(), dash()],
            dash(),
            "(figure)",
            true,
        ));
        let [exit, mio_exit, tokio_exit] = size.exit;
        let vs_floor = exit.as_secs_f64() / size.floor.as_secs_f64().max(1e-9);
        rows.push(row(
            &format!("server SIGTERM→exit, {count} idle connections (median; project at INFO, a line per close; baselines killed by the signal)"),
            size.exit.map(ms),
            format!(
                "{vs_floor:.2}x floor, {:.2}x mio, {:.2}x tokio",
                exit.as_secs_f64() / mio_exit.as_secs_f64().max(1e-9),
                exit.as_secs_f64() / tokio_exit.as_secs_f64().max(1e-9)
            ),
            "<= 1.5x floor, < tokio",
            vs_floor <= 1.5 && exit < tokio_exit && size.exit_ok,
        ));
        let all = size.lines.closes == n && size.lines.completed;
        rows.push(row(
            &format!("shutdown lines in the server's stderr (a file), {count} idle connections: one close_connection line each, the shutdown success line last"),
            [
                format!(
                    "{} of {n}, {}",
                    size.lines.closes,
                    if size.lines.completed {
                        "the success line last"
                    } else {
                        "**no** success line last"
                    }
                ),
                dash(),
                dash(),
            ],
            dash(),
            "every line",
            all,
        ));
    }
    let project_rss = sizes.iter().map(|s| s.rss[0]);
    let (low, high) = project_rss.fold((f64::MAX, 0.0_f64), |(lo, hi), b| (lo.min(b), hi.max(b)));
    if sizes.len() > 1 {
        let spread = high / low.max(1.0);
        rows.push(row(
            "RSS per idle connection over the sizes: largest / smallest (flat = 1.0x)",
            [format!("{low:.0}–{high:.0} B"), dash(), dash()],
            format!("{spread:.2}x"),
            "<= 1.25x",
            spread <= 1.25,
        ));
    }
    sizes
}

/// SIGTERM-to-exit of the server with 1,000 idle connections and oneshot
/// load running (the load generator itself signals it), against the close
/// floor of as many sockets, and the messages lost.
fn shutdown_under_load(options: &Options, rows: &mut Vec<Row>) {
    let mut statuses_ok = true;
    let mut loaded_times = Vec::new();
    let mut floors = Vec::new();
    let mut lost = 0;
    let load_options = Options {
        duration: Duration::from_secs(10),
        ..options.clone()
    };
    for _ in 0..options.repeats {
        let server = Server::project("WARN", IDLE);
        let peers = IdlePeers::open(server.port, 1000, server.child.id())
            .unwrap_or_else(|why| panic!("1,000 idle connections: {why}"));
        let pid = server.pid();
        let how = Load {
            mode: Mode::Oneshot,
            threads: 1,
            kill: Some((pid, options.warmup + Duration::from_millis(500))),
        };
        let port = server.port;
        let waiter = std::thread::spawn(move || server.wait_exit());
        let report = load_on(port, pid, how, &load_options);
        let (ok, exited) = waiter.join().expect("waiter");
        statuses_ok &= ok;
        let signalled = report
            .signalled_at_ns
            .expect("the load generator signalled the server");
        loaded_times.push(Duration::from_nanos(exited.saturating_sub(signalled)));
        lost += report.lost;
        drop(peers);
        floors.push(close_floor(1000).unwrap_or_else(|why| panic!("close floor: {why}")));
    }
    let loaded = median(loaded_times);
    let floor = median(floors);
    json(
        "server_shutdown_under_load",
        &format!(
            "\"loaded_median_us\":{},\"close_floor_median_us\":{},\"lost\":{lost},\"exit_status_0\":{statuses_ok}",
            loaded.as_micros(),
            floor.as_micros()
        ),
    );
    rows.push(row(
        "server SIGTERM→exit, 1,000 idle + oneshot load, 1 load thread (median)",
        [
            format!("{:.2} ms", loaded.as_secs_f64() * 1e3),
            dash(),
            dash(),
        ],
        format!(
            "{:.2}x floor",
            loaded.as_secs_f64() / floor.as_secs_f64().max(1e-9)
        ),
        "(figure)",
        statuses_ok,
    ));
    rows.push(row(
        "messages sent before SIGTERM without echo",
        [lost.to_string(), dash(), dash()],
        dash(),
        "0",
        lost == 0,
    ));
}

/// 50000 as "50,000".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One point of a scaling curve: the three servers at one client count.
#[derive(Debug)]
struct CurvePoint {
    clients: usize,
    /// Project, mio, tokio.
    series: [Series; 3],
}

/// Throughput and p99 latency of the three servers over the concurrent
/// client counts, for both protocols; the errors at the largest count.
fn curves(options: &Options, rows: &mut Vec<Row>) -> Vec<(Mode, Vec<CurvePoint>)> {
    let mut curves = Vec::new();
    for mode in [Mode::Oneshot, Mode::Persistent] {
        let name = mode_name(mode);
        let persistent = mode == Mode::Persistent;
        let project_env = if persistent {
            PERSISTENT_1024
        } else {
            BACKLOG_1024
        };
        let mut points = Vec::new();
        for &clients in &options.curve_clients {
            let at = Options {
                concurrency: clients,
                duration: options.curve_duration,
                rounds: options.curve_rounds,
                ..options.clone()
            };
            let series = <[Series; 3]>::try_from(rounds(
                &format!("{name}, {clients} clients"),
                &at,
                Load::new(mode, options.load_threads),
                &[
                    &|| Server::project("WARN", project_env),
                    &|| Server::mio(persistent),
                    &|| Server::tokio(persistent),
                ],
            ))
            .expect("three series");
            for (server, s) in ["project", "mio", "tokio"].iter().zip(&series) {
                json_series(&format!("{name}_{clients}_clients_{server}"), s);
            }
            points.push(CurvePoint { clients, series });
        }
        for point in &points {
            let [project, mio, tokio] = &point.series;
            let count = thousands(point.clients);
            let (cells, _, ratio) = rates(project, mio, tokio);
            rows.push(row(
                &format!("{name} msgs/s, {count} concurrent clients"),
                cells,
                ratio,
                "(curve)",
                true,
            ));
            let p99 = |s: &Series| s.p99_us() as f64;
            rows.push(row(
                &format!("{name} p99 latency, {count} concurrent clients"),
                [project, mio, tokio].map(|s| format!("{} µs", s.p99_us())),
                format!(
                    "{:.2}x mio, {:.2}x tokio",
                    p99(project) / p99(mio).max(1.0),
                    p99(project) / p99(tokio).max(1.0)
                ),
                "(curve)",
                true,
            ));
        }
        if let Some(largest) = points.last() {
            let [project, mio, tokio] = &largest.series;
            let failed =
                |s: &Series| format!("{} ({} stalled connects)", s.errors(), s.stalled_connects());
            rows.push(row(
                &format!(
                    "{name} failed exchanges (wrong or missing echo, reset) at {} concurrent clients",
                    thousands(largest.clients)
                ),
                [project, mio, tokio].map(failed),
                dash(),
                "0 (project)",
                project.errors() == 0,
            ));
        }
        curves.push((mode, points));
    }
    curves
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Oneshot => "oneshot",
        Mode::Persistent => "persistent",
    }
}

const SERVERS: [&str; 3] = ["project", "minimal mio", "tokio"];

/// The curves and the idle figures as SVG charts in `dir`.
fn charts(dir: &Path, curves: &[(Mode, Vec<CurvePoint>)], idle: &[IdleSize], quick: bool) {
    let note = if quick {
        " (--quick: short runs, noisy)"
    } else {
        ""
    };
    let lines = |value: &dyn Fn(usize, &CurvePoint) -> f64, points: &[CurvePoint]| {
        SERVERS
            .iter()
            .enumerate()
            .map(|(i, label)| Line {
                label: (*label).to_owned(),
                points: points
                    .iter()
                    .map(|p| (p.clients as f64, value(i, p)))
                    .collect(),
            })
            .collect::<Vec<_>>()
    };
    let clients = "concurrent clients".to_owned();
    for (mode, points) in curves {
        let name = mode_name(*mode);
        let panels = [
            Panel {
                title: "throughput".into(),
                x_label: clients.clone(),
                y_label: "messages per second".into(),
                lines: lines(&|i, p| p.series[i].rate(), points),
            },
            Panel {
                title: "p99 latency".into(),
                x_label: clients.clone(),
                y_label: "ms".into(),
                lines: lines(&|i, p| p.series[i].p99_us() as f64 / 1e3, points),
            },
        ];
        save(
            &dir.join(format!("scaling-{name}.svg")),
            &format!("{name} echo over loopback{note}"),
            &panels,
        );
    }
    let idle_line = |label: &str, value: &dyn Fn(&IdleSize) -> f64| Line {
        label: label.to_owned(),
        points: idle
            .iter()
            .map(|s| (s.connections as f64, value(s)))
            .collect(),
    };
    let connections = "idle connections".to_owned();
    let panels = [
        Panel {
            title: "RSS per idle connection".into(),
            x_label: connections.clone(),
            y_label: "bytes".into(),
            lines: (0..3)
                .map(|i| idle_line(SERVERS[i], &|s| s.rss[i]))
                .collect(),
        },
        Panel {
            title: "SIGTERM to exit".into(),
            x_label: connections,
            y_label: "ms".into(),
            lines: (0..3)
                .map(|i| idle_line(SERVERS[i], &|s| s.exit[i].as_secs_f64() * 1e3))
                .chain([idle_line("close(2) floor", &|s| {
                    s.floor.as_secs_f64() * 1e3
                })])
                .collect(),
        },
    ];
    save(
        &dir.join("idle.svg"),
        &format!("idle connections{note}"),
        &panels,
    );
}

fn save(path: &Path, caption: &str, panels: &[Panel]) {
    match write_svg(path, caption, panels) {
        Ok(()) => eprintln!("bench: wrote {}", path.display()),
        Err(e) => eprintln!("bench: chart not written: {e}"),
    }
}
/// SIGTERM-to-exit of the client while it waits a 10 s period and while it
/// retries connecting.
fn client_exit(options: &Options, rows: &mut Vec<Row>) {
    let server = Server::project("WARN", &[]);
    let address = format!("127.0.0.1:{}", server.port);
    let closed = ClosedPort::new();
    let nobody = format!("127.0.0.1:{}", closed.port());
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
            [
                format!("{:.2} ms", took.as_secs_f64() * 1e3),
                dash(),
                dash(),
            ],
            dash(),
            "<= 5 ms",
            took <= Duration::from_millis(5),
        ));
    }
}

/// Runs everything, prints the table and writes it with the charts into
/// `out`; returns whether every target held (a size not measured counts
/// as not held).
pub fn run(options: &Options, out: &Path) -> bool {
    // The idle figures hold that many sockets in the server, in the helper
    // that connects and in this process (the close floor); children
    // inherit the limit. 65,536 leaves room for the load generator's own.
    let largest = options.idle_sizes.iter().copied().max().unwrap_or(0);
    let fd_limit = raise_fd_limit(descriptors_for(largest).max(65_536));
    let started = Instant::now();
    let mut rows = Vec::new();
    let section = |name: &str, from: Instant| {
        eprintln!("bench: {name} took {:.0} s", from.elapsed().as_secs_f64());
    };
    let at = Instant::now();
    throughput(options, &mut rows);
    section("throughput at 50 clients", at);
    let at = Instant::now();
    let curves = curves(options, &mut rows);
    section("scaling curves", at);
    let at = Instant::now();
    let idle = idle(options, fd_limit, &mut rows);
    section("idle connections", at);
    let at = Instant::now();
    shutdown_under_load(options, &mut rows);
    client_exit(options, &mut rows);
    section("shutdown under load and client exit", at);

    let mut table = String::from(
        "| figure | project | minimal mio | tokio | project's ratio | target | met |\n|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.figure,
            r.project,
            r.mio,
            r.tokio,
            r.ratio,
            r.target,
            match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            }
        ));
    }
    let machine = format!(
        "{}{} cores, {}; {} concurrent load clients on {} load generator threads unless a row says otherwise, {} ms per run after {} ms of warm-up, {} rounds of alternating runs in rotating order; curves: {} ms per run, {} rounds; idle sizes: {} repetitions; took {:.0} s",
        if options.quick { "`--quick` run. " } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        options.concurrency,
        options.load_threads,
        options.duration.as_millis(),
        options.warmup.as_millis(),
        options.rounds,
        options.curve_duration.as_millis(),
        options.curve_rounds,
        options.idle_repeats,
        started.elapsed().as_secs_f64()
    );
    let text = format!("{table}\n{machine}\n");
    println!("\n{text}");
    let _ = std::fs::create_dir_all(out);
    let report = out.join("report.md");
    if let Err(e) = std::fs::write(&report, &text) {
        eprintln!("bench: {}: {e}", report.display());
    }
    charts(out, &curves, &idle, options.quick);
    rows.iter().all(|r| r.met == Some(true))
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
