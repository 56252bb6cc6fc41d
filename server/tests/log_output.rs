//! Log output never blocks the server: the real binary with its stderr a
//! pipe nobody reads, or with fd 2 closed, keeps serving and honours
//! SIGTERM; once a stalled stderr moves again, one line says how many lines were
//! lost, in their place.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use app::logline::parse_line;
use testkit::{binary, command, free_port, scratch_dir, wait_until, Program, SIGTERM};

const PATIENCE: Duration = Duration::from_secs(10);
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

fn wait_listening(port: u16) {
    assert!(
        wait_until(PATIENCE, || TcpStream::connect(("127.0.0.1", port)).is_ok()),
        "server never listened on {port}"
    );
}

/// The server with stderr a pipe the test holds unread, once it listens.
fn server_with_unread_stderr() -> (Program, std::process::ChildStderr, u16) {
    let port = free_port();
    let command = command("server", &[("SERVER_PORT", &port.to_string())]);
    let (server, stderr) = Program::spawn_with_unread_stderr("server", command);
    wait_listening(port);
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
    let port = free_port();
    let mut command = Command::new("sh");
    command
        .args(["-c", "exec \"$0\" 2>&-"])
        .arg(binary("server"))
        .current_dir(scratch_dir("server-closed-stderr"))
        .env_clear()
        .env("SERVER_PORT", port.to_string());
    let mut server = Program::spawn("server", command);
    wait_listening(port);
    echo_many(port, 400, b"into the void\n");
    let (status, took) = server.stop_with(SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert!(took < EXIT_BOUND, "exit took {took:?}");
}
