//! Log output never blocks the server: the real binary with its stderr a
//! pipe nobody reads, or with fd 2 closed, keeps serving and honours
//! SIGTERM; once a stalled stderr moves again, one line says how many lines were
//! lost, in their place.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{
    binary, command, file_lines_with, parse_line, raise_fd_limit, scratch_dir,
    server_with_file_stderr, wait_listening, wait_until, Program, PATIENCE, SIGTERM,
};

/// Shutdown grace (the default) plus the bounded log flush at exit (100 ms)
/// plus a wide margin for a loaded machine.
const EXIT_BOUND: Duration = Duration::from_millis(500 + 100 + 1400);

/// One exchange that gives up (failing the test) after a few seconds
/// instead of hanging on a stalled server.
fn echo(port: u16, message: &[u8]) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(message).unwrap();
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .unwrap_or_else(|e| panic!("no echo: {e}"));
    assert_eq!(answer, message);
}

/// `total` exchanges over 4 connections at a time.
fn echo_many(port: u16, total: usize, message: &[u8]) {
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..total / 4 {
                    echo(port, message);
                }
            });
        }
    });
}

/// The server with stderr a pipe the test holds unread, once it listens.
fn server_with_unread_stderr() -> (Program, std::process::ChildStderr, u16) {
    let command = command("server", &[("SERVER_PORT", "0")]);
    let (server, stderr) = Program::spawn_with_unread_stderr("server", command);
    let port = wait_listening(&server);
    (server, stderr, port)
}

#[test]
fn an_unread_stderr_never_stops_the_server() {
    let (mut server, _stderr, port) = server_with_unread_stderr();
    let start = Instant::now();
    echo_many(port, 10_000, b"nobody reads the log\n");
    println!("10,000 exchanges in {:?}", start.elapsed());
    let (status, took) = server.stop_with(SIGTERM, PATIENCE);
    println!("SIGTERM to exit: {took:?}");
    assert_eq!(status.code(), Some(0));
    assert!(took < EXIT_BOUND, "exit took {took:?}");
}

#[test]
fn lines_lost_to_a_full_buffer_are_reported_once_stderr_moves_again() {
    let (mut server, stderr, port) = server_with_unread_stderr();
    // 1,500 echoes of 1,000 bytes log about 1.7 MB: more than the 1 MiB
    // buffer plus what the pipe holds.
    let exchanges = 1_500;
    let mut message = vec![b'a'; 999];
    message.push(b'\n');
    echo_many(port, exchanges, &message);
    server.follow_stderr(stderr);
    let report = server.wait_line(&["action: log | result: fail"], PATIENCE);
    let parsed = parse_line(&report).expect("a contract line");
    assert_eq!(parsed.level, "ERROR");
    let dropped: usize = parsed
        .field("dropped_lines")
        .and_then(|n| n.parse().ok())
        .expect("dropped_lines: N");
    // Every line is either written before the report or counted in it:
    // config, listen, the readiness probe's accept, then accept and receive
    // per exchange.
    let lines = server.lines();
    let at = lines.iter().position(|l| *l == report).unwrap();
    assert!(dropped > 0);
    assert_eq!(
        at + dropped,
        3 + 2 * exchanges,
        "written {at}, dropped {dropped}"
    );
    assert!(lines[..at].iter().all(|l| parse_line(l).is_some()));
    // Output flows again: what follows is logged after the report.
    echo(port, b"after the report\n");
    server.wait_line(&["msg: after the report"], PATIENCE);
    let (status, _) = server.stop_with(SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
    server.wait_line(&["action: shutdown | result: success"], PATIENCE);
    let lines = server.lines();
    let after = lines
        .iter()
        .position(|l| l.contains("msg: after the report"));
    assert!(after > Some(at), "the report comes before later lines");
}

#[test]
fn a_closed_stderr_is_no_obstacle() {
    let mut command = Command::new("sh");
    command
        .args(["-c", "exec \"$0\" 2>&-"])
        .arg(binary("server"))
        .current_dir(scratch_dir("server-closed-stderr"))
        .env_clear()
        .env("SERVER_PORT", "0");
    let mut server = Program::spawn("server", command);
    let port = wait_listening(&server);
    echo_many(port, 400, b"into the void\n");
    let (status, took) = server.stop_with(SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert!(took < EXIT_BOUND, "exit took {took:?}");
}

/// A shutdown that closes 14,000 idle connections logs about 1.7 MB in one
/// turn, more than a stalled stderr may hold: into a file, which always
/// keeps up, every close line and the final line are written.
#[test]
fn a_shutdown_of_14000_connections_writes_every_line_to_a_file_stderr() {
    const PEERS: usize = 14_000;
    let limit = raise_fd_limit(PEERS as u64 + 2_000);
    if limit < PEERS as u64 + 1_000 {
        println!("skipped: the descriptor limit is {limit}, {PEERS} connections need more");
        return;
    }
    let log = scratch_dir("server-shutdown-file-stderr").join("stderr.log");
    let cap = (PEERS + 100).to_string();
    let (mut server, port) = server_with_file_stderr(
        &log,
        &[
            ("SERVER_LISTEN_BACKLOG", "1024"),
            ("SERVER_MAX_CONNECTIONS", &cap),
            ("SERVER_READ_TIMEOUT", "10m"),
        ],
    );
    let peers: Vec<TcpStream> = (0..PEERS)
        .map(|i| {
            TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect {i}: {e}"))
        })
        .collect();
    // Every peer accepted (and the readiness probe of wait_listening).
    let accepted = || file_lines_with(&log, &["action: accept_connections | result: success"]);
    assert!(
        wait_until(Duration::from_secs(60), || accepted() > PEERS),
        "{} of {PEERS} accepted",
        accepted()
    );
    let (status, took) = server.stop_with(SIGTERM, Duration::from_secs(30));
    println!("SIGTERM to exit with {PEERS} connections: {took:?}");
    assert_eq!(status.code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("dropped_lines"), "lines were dropped");
    assert_eq!(
        file_lines_with(&log, &["action: close_connection | result: success"]),
        PEERS
    );
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.contains("action: shutdown | result: success"),
        "the last line is {last:?}"
    );
    assert!(text.lines().all(|line| parse_line(line).is_some()));
    drop(peers);
}

/// Eight messages of 64 KiB control bytes at once: each echo line escapes to
/// about 384 KiB, 3 MB in all. Into a file none is dropped; each is cut to
/// the stated length and says so, still one parseable line.
#[test]
fn huge_lines_into_a_file_stderr_are_cut_not_dropped() {
    const PEERS: usize = 8;
    let log = scratch_dir("server-huge-lines").join("stderr.log");
    let (mut server, port) = server_with_file_stderr(&log, &[]);
    let message = |i: usize| {
        let mut bytes: Vec<u8> = (0..65_535).map(|j| ((i + j) % 31 + 1) as u8).collect();
        bytes.retain(|&b| b != b'\n');
        bytes.push(b'\n');
        bytes
    };
    std::thread::scope(|scope| {
        for i in 0..PEERS {
            scope.spawn(move || echo(port, &message(i)));
        }
    });
    let echoed = || file_lines_with(&log, &["action: receive_message | result: success"]);
    assert!(
        wait_until(PATIENCE, || echoed() == PEERS),
        "{} of {PEERS} echo lines",
        echoed()
    );
    let (status, _) = server.stop_with(SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("dropped_lines"), "lines were dropped");
    let cut: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("action: receive_message"))
        .collect();
    assert_eq!(cut.len(), PEERS);
    for line in cut {
        assert!(
            line.len() <= app::logging::MAX_LINE + 64,
            "{} bytes",
            line.len()
        );
        assert!(
            line.contains(" [line cut at "),
            "{}",
            &line[line.len() - 60..]
        );
        assert!(parse_line(line).is_some());
    }
}

/// Without the log-writer thread every line would be a write on the loop's
/// thread, which a stderr nobody reads blocks for good: a server that
/// cannot start the thread says so and exits 1 instead. A process limit of
/// one for the server's user (as nobody; root is not held to it) leaves no
/// room for a thread.
#[test]
fn a_server_that_cannot_start_its_log_writer_exits_1() {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: needs root, to run the server as another user with a process limit");
        return;
    }
    let dir = scratch_dir("server-no-writer");
    let mut command = command("server", &[("SERVER_PORT", "0")]);
    command.current_dir(&dir);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let one = libc::rlimit {
                rlim_cur: 1,
                rlim_max: 1,
            };
            if libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
                || libc::setrlimit(libc::RLIMIT_NPROC, &one) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut server = Program::spawn("server", command);
    let (status, took) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1), "{:?}", server.lines());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let lines = server.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("server: cannot start the log writer thread: "),
        "{lines:?}"
    );
}
