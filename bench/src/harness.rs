//! What `make bench` runs: the project's server against two baselines, the
//! minimal mio echo server (the practical limit of a single-threaded
//! reactor) and an idiomatic tokio server, in alternating runs whose order
//! rotates (so machine drift hits every variant alike); then idle memory,
//! shutdown latency against the cost of closing the same sockets, and
//! client exit latency. Prints a table of figures and ratios, and one JSON
//! line per measurement.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{
    binary, listen_backlogs, open_fds, raise_fd_limit, rss_bytes, scratch_dir, wait_until,
    ClosedPort, Program, SIGTERM,
};

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
    /// A/B pairs per load scenario.
    pub rounds: usize,
    /// Concurrent load clients.
    pub concurrency: usize,
    /// Load generator threads (each a loop of its own) for the throughput runs.
    pub load_threads: usize,
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
            load_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
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
        "1s",
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
    met: bool,
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
        met,
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
    let baseline = per_connection(Server::tokio(false));
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
        [
            format!("{project:.0} B"),
            dash(),
            format!("{baseline:.0} B"),
        ],
        format!("{:.2}x tokio", project / baseline.max(1.0)),
        "<= 512 B",
        project <= 512.0,
    ));
}

/// The floor of a shutdown with `n` idle connections: what `close(2)` of
/// the server's side of `n` open loopback connections takes, nothing else.
fn close_floor(n: usize) -> Duration {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("floor listener");
    let address = listener.local_addr().expect("floor address");
    let mut peers = Vec::with_capacity(n);
    let mut accepted = Vec::with_capacity(n);
    for _ in 0..n {
        peers.push(std::net::TcpStream::connect(address).expect("floor connect"));
        accepted.push(listener.accept().expect("floor accept").0);
    }
    let start = Instant::now();
    drop(accepted);
    start.elapsed()
}

/// SIGTERM to exit of `server` holding 1,000 idle connections; whether it
/// exited with status 0.
fn sigterm_to_exit(server: Server) -> (Duration, bool) {
    let conns = idle_connections(&server, 1000);
    let start = monotonic_ns();
    server.signal(SIGTERM);
    let (ok, exited) = server.wait_exit();
    drop(conns);
    (Duration::from_nanos(exited - start), ok)
}

/// SIGTERM-to-exit of the server with 1,000 idle connections, against the
/// cost of closing as many sockets and against tokio (killed by SIGTERM's
/// default action: no drain, no log); then the same with oneshot load
/// running, and messages lost.
fn shutdown(options: &Options, rows: &mut Vec<Row>) {
    let (mut idle_times, mut floor_times, mut tokio_times) = (Vec::new(), Vec::new(), Vec::new());
    let mut statuses_ok = true;
    for _ in 0..options.repeats {
        let (took, ok) = sigterm_to_exit(Server::project("WARN", IDLE));
        idle_times.push(took);
        statuses_ok &= ok;
        floor_times.push(close_floor(1000));
        tokio_times.push(sigterm_to_exit(Server::tokio(false)).0);
    }
    let idle = median(idle_times);
    let floor = median(floor_times);
    let tokio = median(tokio_times);

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
        let how = Load {
            mode: Mode::Oneshot,
            threads: 1,
            kill: Some((pid, Duration::from_millis(1500))),
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
        drop(conns);
    }
    let loaded = median(loaded_times);
    json(
        "server_shutdown",
        &format!(
            "\"idle_median_us\":{},\"close_floor_median_us\":{},\"tokio_idle_median_us\":{},\"loaded_median_us\":{},\"lost\":{lost},\"exit_status_0\":{statuses_ok}",
            idle.as_micros(),
            floor.as_micros(),
            tokio.as_micros(),
            loaded.as_micros()
        ),
    );
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    let vs_floor = idle.as_secs_f64() / floor.as_secs_f64().max(1e-9);
    rows.push(row(
        "close(2) of the server side of 1,000 idle loopback connections (the floor, median)",
        [ms(floor), dash(), dash()],
        dash(),
        "(figure)",
        true,
    ));
    rows.push(row(
        "server SIGTERM→exit, 1,000 idle connections (median; tokio: killed by the signal)",
        [ms(idle), dash(), ms(tokio)],
        format!(
            "{vs_floor:.2}x floor, {:.2}x tokio",
            idle.as_secs_f64() / tokio.as_secs_f64().max(1e-9)
        ),
        "<= 1.2x floor, < tokio",
        vs_floor <= 1.2 && idle < tokio && statuses_ok,
    ));
    rows.push(row(
        "server SIGTERM→exit, 1,000 idle + oneshot load, 1 load thread (median)",
        [ms(loaded), dash(), dash()],
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
            if r.met { "yes" } else { "**no**" }
        ));
    }
    let machine = format!(
        "{} cores, {}; {} concurrent load clients on {} load generator threads unless a row says otherwise, {} s per run after 1 s warm-up, {} rounds of alternating runs in rotating order; took {:.0} s",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        options.concurrency,
        options.load_threads,
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
