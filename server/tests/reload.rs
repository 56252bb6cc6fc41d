//! SIGHUP on the real server: `config.ini` is read again, live settings
//! change what the running server does for new work, the port waits for a
//! restart, a broken config keeps the running one, and no connection is
//! dropped meanwhile.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testkit::{
    connect, exchange, parse_line, read_to_end, scratch_dir, ClosedPort, Program, PATIENCE,
};

/// The server in a directory of its own, configured by `config.ini` alone
/// (`[DEFAULT]` with `settings` and port 0), once it listens; returns the
/// port it listens on.
fn server_with_ini(settings: &str) -> (Program, u16, PathBuf) {
    let dir = scratch_dir("server-reload");
    write_ini(&dir, settings);
    let server = Program::start("server", &dir, &[], &[]);
    let port = server.listen_port(PATIENCE);
    (server, port, dir)
}

/// Rewrites `config.ini` in place, still with port 0 (so that the port
/// setting is never what a reload changes, unless a test writes another).
fn write_ini(dir: &Path, settings: &str) {
    write_ini_with_port(dir, 0, settings);
}

/// Rewrites `config.ini` in place with `port`.
fn write_ini_with_port(dir: &Path, port: u16, settings: &str) {
    let text = format!("[DEFAULT]\nSERVER_PORT = {port}\n{settings}");
    std::fs::write(dir.join("config.ini"), text).expect("write config.ini");
}

/// Sends SIGHUP and waits for the `reload` line it causes, which must have
/// all of `parts` (an earlier reload's line never answers for it).
fn reload(server: &Program, parts: &[&str]) -> String {
    let reloads = &["action: reload | result: "];
    let before = server.lines_with(reloads).len();
    server.signal(libc::SIGHUP);
    let line = server
        .wait_lines(reloads, before + 1, PATIENCE)
        .swap_remove(before);
    assert!(parts.iter().all(|part| line.contains(part)), "{line}");
    line
}

/// Lines logged after `line`.
fn lines_after(server: &Program, line: &str) -> Vec<String> {
    let lines = server.lines();
    let at = lines.iter().position(|l| l == line).expect("a logged line");
    lines[at + 1..].to_vec()
}

fn level(line: &str) -> &str {
    parse_line(line).expect("a contract line").level
}

/// After a failed reload: `config.ini` rewritten with `settings`, the next
/// SIGHUP succeeds with `changed: <changed>`; then SIGTERM and exit 0.
fn fixed_then_stopped(mut server: Program, dir: &Path, settings: &str, changed: &str) {
    write_ini(dir, settings);
    let line = reload(&server, &["result: success"]);
    assert!(line.ends_with(&format!("changed: {changed}")), "{line}");
    let (status, _) = server.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
}

/// SIGTERM: exit 0, and no `result: fail` line in the whole run.
fn stop_cleanly(mut server: Program) {
    let (status, _) = server.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0), "{:?}", server.lines());
    let failed = server.lines_with(&["result: fail"]);
    assert!(failed.is_empty(), "{failed:?}");
}

#[test]
fn a_new_log_level_applies_at_once_and_the_connection_held_across_it_completes() {
    let (server, port, dir) = server_with_ini("LOGGING_LEVEL = INFO\nSERVER_READ_TIMEOUT = 30s\n");
    // Mid-message across the reload.
    let mut held = connect(port);
    held.write_all(b"half a mes").unwrap();
    server.wait_line(&["action: accept_connections"], PATIENCE);
    assert_eq!(exchange(port, b"before\n"), b"before\n");
    server.wait_line(&["msg: before"], PATIENCE);

    write_ini(&dir, "LOGGING_LEVEL = DEBUG\nSERVER_READ_TIMEOUT = 30s\n");
    let line = reload(
        &server,
        &["result: success", "changed: logging_level=DEBUG"],
    );
    assert!(line.ends_with("changed: logging_level=DEBUG"), "{line}");
    assert_eq!(level(&line), "INFO");
    // At INFO the first exchange's close was not logged; now it is, at DEBUG.
    let before: Vec<String> = server
        .lines()
        .into_iter()
        .take_while(|l| *l != line)
        .collect();
    assert!(!before.iter().any(|l| level(l) == "DEBUG"), "{before:?}");
    assert_eq!(exchange(port, b"after\n"), b"after\n");
    let debug = server.wait_line(&["DEBUG", "action: close_connection"], PATIENCE);
    assert!(lines_after(&server, &line).contains(&debug));

    held.write_all(b"sage\n").unwrap();
    assert_eq!(read_to_end(&mut held), b"half a message\n");
    server.wait_line(&["msg: half a message"], PATIENCE);
    stop_cleanly(server);
}

#[test]
fn a_broken_config_keeps_the_running_one_whole() {
    let (server, port, dir) = server_with_ini("LOGGING_LEVEL = INFO\n");
    // A valid new level beside a bad value: neither applies (at ERROR the
    // exchanges below would not be logged).
    write_ini(&dir, "LOGGING_LEVEL = ERROR\nSERVER_READ_TIMEOUT = soon\n");
    let line = reload(&server, &["result: fail"]);
    assert_eq!(level(&line), "ERROR");
    assert!(
        line.contains("error: invalid value for SERVER_READ_TIMEOUT: \"soon\""),
        "{line}"
    );
    assert!(line.ends_with("config: unchanged"), "{line}");
    assert_eq!(exchange(port, b"still\n"), b"still\n");
    server.wait_line(&["INFO", "msg: still"], PATIENCE);

    // A config path that is no longer a readable file: the same.
    std::fs::remove_file(dir.join("config.ini")).unwrap();
    std::fs::create_dir(dir.join("config.ini")).unwrap();
    let line = reload(&server, &["result: fail", "not a regular file"]);
    assert_eq!(level(&line), "ERROR");
    assert_eq!(exchange(port, b"again\n"), b"again\n");
    server.wait_line(&["INFO", "msg: again"], PATIENCE);

    // Fixed: the next SIGHUP applies it.
    std::fs::remove_dir(dir.join("config.ini")).unwrap();
    fixed_then_stopped(
        server,
        &dir,
        "LOGGING_LEVEL = ERROR\n",
        "logging_level=ERROR",
    );
}

#[test]
fn the_config_file_deleted_since_start_is_a_failed_reload_not_the_defaults() {
    let (server, port, dir) = server_with_ini("LOGGING_LEVEL = DEBUG\n");
    std::fs::remove_file(dir.join("config.ini")).unwrap();
    let line = reload(&server, &["result: fail"]);
    assert!(
        line.ends_with(
            "error: cannot use config file config.ini: No such file or directory (os error 2) \
             | config: unchanged"
        ),
        "{line}"
    );
    assert_eq!(exchange(port, b"still\n"), b"still\n");
    // Back as it was: nothing changed, so DEBUG was still in force (not
    // the default INFO).
    fixed_then_stopped(server, &dir, "LOGGING_LEVEL = DEBUG\n", "none");
}

#[test]
fn started_without_a_config_file_a_reload_without_one_is_fine_until_one_was_read() {
    let dir = scratch_dir("server-reload-none");
    let server = Program::start("server", &dir, &[("SERVER_PORT", "0")], &[]);
    server.wait_line(&["action: listen | result: success"], PATIENCE);
    let line = reload(&server, &["result: success"]);
    assert!(
        line.ends_with("action: reload | result: success | changed: none"),
        "{line}"
    );
    // A file that appears is read; once read, it must stay.
    write_ini(&dir, "LOGGING_LEVEL = DEBUG\n");
    reload(
        &server,
        &["result: success", "changed: logging_level=DEBUG"],
    );
    std::fs::remove_file(dir.join("config.ini")).unwrap();
    reload(&server, &["result: fail", "No such file or directory"]);
    fixed_then_stopped(server, &dir, "LOGGING_LEVEL = DEBUG\n", "none");
}

#[test]
fn a_new_port_waits_for_a_restart_and_the_old_one_keeps_serving() {
    let (server, port, dir) = server_with_ini("LOGGING_LEVEL = INFO\n");
    // Held bound, so nothing can listen there: connects to it are refused.
    let other = ClosedPort::new();
    write_ini_with_port(
        &dir,
        other.port(),
        "LOGGING_LEVEL = INFO\nSERVER_LISTEN_BACKLOG = 9\n",
    );
    let line = reload(&server, &["result: success"]);
    assert!(
        line.ends_with("changed: none | restart_needed: port, listen_backlog"),
        "{line}"
    );
    assert_eq!(exchange(port, b"old port\n"), b"old port\n");
    server.wait_line(&["msg: old port"], PATIENCE);
    assert!(
        TcpStream::connect(("127.0.0.1", other.port())).is_err(),
        "nothing listens on the new port before a restart"
    );
    // What runs is still the old port: the next reload says so again.
    server.signal(libc::SIGHUP);
    server.wait_lines(
        &[
            "action: reload | result: success",
            "restart_needed: port, listen_backlog",
        ],
        2,
        PATIENCE,
    );
    stop_cleanly(server);
}

#[test]
fn a_lower_read_timeout_applies_to_new_connections_not_to_those_open() {
    let (mut server, port, dir) = server_with_ini("SERVER_READ_TIMEOUT = 30s\n");
    let mut open_before = connect(port);
    server.wait_line(&["action: accept_connections"], PATIENCE);

    write_ini(&dir, "SERVER_READ_TIMEOUT = 300ms\n");
    reload(&server, &["result: success", "changed: read_timeout=300ms"]);
    let mut idle = connect(port);
    let start = Instant::now();
    assert_eq!(read_to_end(&mut idle), b"", "closed without an answer");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "idle connection closed after {took:?}, timeout 300ms"
    );
    server.wait_line(
        &[
            "action: receive_message | result: fail",
            "no complete message within 300ms",
        ],
        PATIENCE,
    );
    // The connection accepted before the reload keeps its 30 s.
    open_before.write_all(b"late but in time\n").unwrap();
    assert_eq!(read_to_end(&mut open_before), b"late but in time\n");
    let (status, _) = server.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_raised_connection_cap_admits_at_once_who_waited_at_the_old_one() {
    let (server, port, dir) =
        server_with_ini("SERVER_MAX_CONNECTIONS = 1\nSERVER_READ_TIMEOUT = 30s\n");
    let mut first = connect(port);
    first.write_all(b"first, unfinished").unwrap();
    server.wait_line(&["action: accept_connections"], PATIENCE);
    // At the cap: the second waits in the listen queue, its message sent.
    let mut second = connect(port);
    second
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    second.write_all(b"second\n").unwrap();

    write_ini(
        &dir,
        "SERVER_MAX_CONNECTIONS = 2\nSERVER_READ_TIMEOUT = 30s\n",
    );
    reload(&server, &["result: success", "changed: max_connections=2"]);
    // Answered while the first still holds its slot.
    let mut answer = Vec::new();
    second
        .read_to_end(&mut answer)
        .expect("the second is served");
    assert_eq!(answer, b"second\n");
    first.write_all(b"\n").unwrap();
    assert_eq!(read_to_end(&mut first), b"first, unfinished\n");
    stop_cleanly(server);
}

/// Out of descriptors (every one held by a connection, accepting paused),
/// the moment lowering the cap matters: the reload still reads `config.ini`,
/// through the descriptor held in reserve for it, and the new cap applies.
#[test]
fn at_the_descriptor_limit_a_reload_still_reads_its_file() {
    let (server, port, dir) =
        server_with_ini("SERVER_MAX_CONNECTIONS = 1000\nSERVER_READ_TIMEOUT = 30s\n");
    let pid = server.pid();
    let status = std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={0}:{0}", testkit::open_fds(pid) + 2))
        .status()
        .expect("run prlimit");
    assert!(status.success(), "prlimit: {status:?}");
    // More peers than descriptors: accepting fails with EMFILE and pauses.
    let peers: Vec<TcpStream> = (0..6).map(|_| connect(port)).collect();
    server.wait_line(
        &[
            "action: accept_connections | result: fail",
            "Too many open files",
        ],
        PATIENCE,
    );
    write_ini(
        &dir,
        "SERVER_MAX_CONNECTIONS = 2\nSERVER_READ_TIMEOUT = 30s\n",
    );
    let line = reload(&server, &[]);
    assert!(
        line.contains("result: success") && line.contains("changed: max_connections=2"),
        "{line}"
    );
    drop(peers);
    let mut server = server;
    let (status, _) = server.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0), "{:?}", server.lines());
}
