//! `server --probe`, the image's health check, against the real binary: 0
//! against a serving server, 1 within its bound against nothing or a server
//! that no longer answers, and its exchange never in the server's INFO log.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use testkit::{binary, connect, exchange, scratch_dir, start_server, ClosedPort, PATIENCE};

/// The probe's own bound is 2 s; generous room for a loaded machine.
const PROBE_BOUND: Duration = Duration::from_secs(5);

/// Runs `server --probe` against `port`; returns its output and how long it took.
fn probe(port: u16) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(binary("server"))
        .arg("--probe")
        .current_dir(scratch_dir("probe"))
        .env_clear()
        .env("SERVER_PORT", port.to_string())
        .output()
        .expect("run server --probe");
    (out, started.elapsed())
}

#[test]
fn a_serving_server_is_healthy_and_the_probe_stays_out_of_its_info_log() {
    let (mut server, port) = start_server(&[]);
    let (out, took) = probe(port);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(took < PROBE_BOUND, "{took:?}");
    assert!(
        stdout.starts_with(&format!("action: probe | result: success | port: {port}")),
        "{stdout}"
    );
    // A client's exchange after the probe's: once its echo is logged, every
    // line of the probe's would be out too.
    assert_eq!(exchange(port, b"after the probe\n"), b"after the probe\n");
    server.wait_line(&["msg: after the probe"], PATIENCE);
    let lines = server.lines();
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("127.0.0.2") && !l.contains("msg: probe")),
        "the probe logged at INFO:\n{}",
        lines.join("\n")
    );
    let (status, _) = server.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_probe_is_logged_at_debug() {
    let (mut server, port) = start_server(&[("LOGGING_LEVEL", "DEBUG")]);
    let (out, _) = probe(port);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line = server.wait_line(
        &["action: receive_message | result: success | ip: 127.0.0.2 | msg: probe "],
        PATIENCE,
    );
    assert!(line.contains(" DEBUG "), "{line}");
    let (status, _) = server.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_server_at_its_connection_cap_is_healthy() {
    // Busy is not stalled: every slot held by an idle peer, the probe is
    // still answered (a slot of its own), and a client still waits for a
    // free slot as before.
    let (mut server, port) = start_server(&[("SERVER_MAX_CONNECTIONS", "2")]);
    let idle = [connect(port), connect(port)];
    server.wait_lines(
        &["action: accept_connections | result: success"],
        2,
        PATIENCE,
    );
    let (out, took) = probe(port);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(took < PROBE_BOUND, "{took:?}");
    let mut client = connect(port);
    std::io::Write::write_all(&mut client, b"after the probe\n").unwrap();
    // The cap still holds for clients: no echo while both slots are taken.
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0; 1];
    let early = std::io::Read::read(&mut client, &mut byte);
    assert!(
        early.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "an answer at the cap: {early:?}"
    );
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    drop(idle);
    assert_eq!(testkit::read_to_end(&mut client), b"after the probe\n");
    let (status, _) = server.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
    // Counted once the server has exited, when all it logged has been read.
    server.wait_line(&["action: shutdown | result: success"], PATIENCE);
    assert_eq!(
        server
            .lines_with(&["action: accept_connections | result: success"])
            .len(),
        3,
        "the two idle peers and the client; the probe's connection is logged at DEBUG only"
    );
}

#[test]
fn nothing_listening_is_unhealthy_at_once() {
    let closed = ClosedPort::new();
    let (out, took) = probe(closed.port());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(took < PROBE_BOUND, "{took:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("action: probe | result: fail"), "{stdout}");
}

#[test]
fn a_server_that_stopped_answering_is_unhealthy_within_the_bound() {
    let (mut server, port) = start_server(&[]);
    server.signal(libc::SIGSTOP);
    let (out, took) = probe(port);
    server.signal(libc::SIGCONT);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(took < PROBE_BOUND, "{took:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("error: no echo within 2s"), "{stdout}");
    let (status, _) = server.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_client_has_no_probe() {
    let out = Command::new(binary("client"))
        .arg("--probe")
        .current_dir(scratch_dir("probe-client"))
        .env_clear()
        .output()
        .expect("run client --probe");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
