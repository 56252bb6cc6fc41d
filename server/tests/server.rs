//! The real server binary over loopback: bytes on the wire, log lines, exit
//! statuses and shutdown timing.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use testkit::{
    connect, exchange, listen_backlogs, read_to_end, scratch_dir, start_server, Program, PATIENCE,
    SECOND, SIGINT, SIGTERM,
};

#[test]
fn echoes_first_line_byte_exact_then_closes() {
    let (server, port) = start_server(&[]);
    for message in [
        "[CLIENT 1] Message N°1\n".as_bytes(),
        b"\xff\xfe\n",
        b"\0\n",
        b"\r\n",
        b"\n",
        b"a | b\n",
    ] {
        assert_eq!(exchange(port, message), message);
    }
    // Only the first message of a connection is answered.
    assert_eq!(exchange(port, b"one\ntwo\n"), b"one\n");
    let received = server.wait_lines(&["action: receive_message | result: success"], 7, PATIENCE);
    assert!(
        received[0].ends_with("| ip: 127.0.0.1 | msg: [CLIENT 1] Message N°1"),
        "{received:?}"
    );
    assert!(received[1].ends_with("| msg: \\xff\\xfe"), "{received:?}");
    assert!(received[5].ends_with("| msg: a \\x7c b"), "{received:?}");
    assert!(server.lines_with(&["result: fail"]).is_empty());
}

#[test]
fn message_without_newline_is_echoed_at_eof() {
    let (_server, port) = start_server(&[]);
    let mut stream = connect(port);
    stream.write_all(b"no newline").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut stream), b"no newline");
}

#[test]
fn short_writes_of_the_peer_make_one_message() {
    let (server, port) = start_server(&[]);
    let mut stream = connect(port);
    for piece in [&b"[CLI"[..], b"ENT 9] Mess", b"age N\xc2", b"\xb01\n"] {
        stream.write_all(piece).unwrap();
        stream.flush().unwrap();
    }
    assert_eq!(
        read_to_end(&mut stream),
        "[CLIENT 9] Message N°1\n".as_bytes()
    );
    server.wait_line(&["msg: [CLIENT 9] Message N°1"], PATIENCE);
}

#[test]
fn oversized_message_fails_that_connection_only() {
    let (server, port) = start_server(&[("SERVER_MAX_MESSAGE_BYTES", "1024")]);
    let mut flood = connect(port);
    // The server may reset the connection while we still write: that is the point.
    let _ = flood.write_all(&vec![b'x'; 64 * 1024]);
    let line = server.wait_line(&["action: receive_message | result: fail"], PATIENCE);
    assert!(line.contains("message longer than 1024 bytes"), "{line}");
    assert_eq!(exchange(port, b"still here\n"), b"still here\n");
}

#[test]
fn sigterm_on_idle_server_exits_zero_at_once() {
    let (mut server, port) = start_server(&[]);
    let (status, took) = server.stop_with(SIGTERM, PATIENCE);
    assert!(status.success(), "{status:?}");
    assert!(took < SECOND, "took {took:?}");
    server.wait_line(
        &["action: shutdown | result: in_progress", "signal: SIGTERM"],
        SECOND,
    );
    server.wait_line(
        &[
            "action: close_listener | result: success",
            &format!("port: {port}"),
        ],
        SECOND,
    );
    server.wait_line(&["action: shutdown | result: success"], SECOND);
    assert!(server.lines_with(&["result: fail"]).is_empty());
    assert!(server.lines_with(&["action: exit"]).is_empty());
}

#[test]
fn sigint_works_like_sigterm() {
    let (mut server, _port) = start_server(&[]);
    let (status, took) = server.stop_with(SIGINT, PATIENCE);
    assert!(
        status.success() && took < SECOND,
        "{status:?} after {took:?}"
    );
    server.wait_line(&["action: shutdown | result: success"], SECOND);
}

#[test]
fn sigterm_closes_each_idle_connection_and_logs_it() {
    let (mut server, port) = start_server(&[]);
    let mut idle: Vec<TcpStream> = (0..3).map(|_| connect(port)).collect();
    server.wait_lines(
        &["action: accept_connections | result: success"],
        3,
        PATIENCE,
    );
    server.stop_at_once(SIGTERM);
    assert_eq!(
        server
            .lines_with(&["action: close_connection | result: success | ip: 127.0.0.1"])
            .len(),
        3
    );
    server.wait_line(
        &[
            "action: shutdown | result: success",
            "closed_connections: 3",
        ],
        SECOND,
    );
    for stream in &mut idle {
        assert_eq!(read_to_end(stream), b"", "idle connection gets a clean EOF");
    }
}

#[test]
fn sigterm_mid_exchange_loses_no_message_sent_before_it() {
    // With a cap of one connection, the exchange in flight holds the only
    // slot, so the burst below is certainly still in the listen queue when
    // the signal arrives.
    let (mut server, port) = start_server(&[
        ("SERVER_LISTEN_BACKLOG", "128"),
        ("SERVER_SHUTDOWN_GRACE", "2s"),
        ("SERVER_MAX_CONNECTIONS", "1"),
    ]);
    // One exchange already in flight: half a message is in.
    let mut partial = connect(port);
    partial.write_all(b"first half, ").unwrap();
    server.wait_line(&["action: accept_connections"], PATIENCE);
    // A burst whose bytes are all sent before the signal.
    let mut burst: Vec<(TcpStream, Vec<u8>)> = (0..60)
        .map(|i| {
            let mut stream = connect(port);
            let message = format!("burst message {i}\n").into_bytes();
            stream.write_all(&message).unwrap();
            (stream, message)
        })
        .collect();
    server.signal(SIGTERM);
    server.wait_line(&["action: shutdown | result: in_progress"], PATIENCE);
    partial.write_all(b"second half\n").unwrap();
    assert_eq!(read_to_end(&mut partial), b"first half, second half\n");
    for (stream, message) in &mut burst {
        assert_eq!(&read_to_end(stream), message);
    }
    let (status, _) = server.wait_exit(PATIENCE);
    assert!(status.success(), "{status:?}");
    assert_eq!(
        server
            .lines_with(&["action: receive_message | result: success"])
            .len(),
        61
    );
    assert!(server.lines_with(&["result: fail"]).is_empty());
}

#[test]
fn grace_expiry_closes_unfinished_exchanges() {
    let (mut server, port) = start_server(&[("SERVER_SHUTDOWN_GRACE", "200ms")]);
    let mut stuck = connect(port);
    stuck.write_all(b"never finished").unwrap();
    server.wait_line(&["action: accept_connections"], PATIENCE);
    let (status, took) = server.stop_with(SIGTERM, PATIENCE);
    assert!(status.success(), "{status:?}");
    assert!(
        took >= Duration::from_millis(150) && took < SECOND,
        "took {took:?}"
    );
    server.wait_line(
        &["action: shutdown | result: in_progress", "grace: expired"],
        SECOND,
    );
    server.wait_line(&["action: close_connection | result: success"], SECOND);
    assert_eq!(read_to_end(&mut stuck), b"");
}

#[test]
fn second_signal_skips_the_grace() {
    let (mut server, port) = start_server(&[("SERVER_SHUTDOWN_GRACE", "30s")]);
    let mut stuck = connect(port);
    stuck.write_all(b"half").unwrap();
    server.wait_line(&["action: accept_connections"], PATIENCE);
    server.signal(SIGTERM);
    server.wait_line(
        &["action: shutdown | result: in_progress", "grace: 30s"],
        PATIENCE,
    );
    assert!(
        server.running(),
        "the grace holds the server for the exchange in flight"
    );
    server.stop_at_once(SIGTERM);
    server.wait_line(&["grace: skipped"], SECOND);
    server.wait_line(&["action: close_connection | result: success"], SECOND);
    server.wait_line(&["action: shutdown | result: success"], SECOND);
}

#[test]
fn listen_backlog_is_applied_to_the_socket() {
    let (_server, port) = start_server(&[("SERVER_LISTEN_BACKLOG", "7")]);
    assert_eq!(listen_backlogs(port), ["7"]);
}

#[test]
fn config_ini_in_working_directory_and_env_override() {
    let dir = scratch_dir("server-ini");
    // Port 0: any free port; the config line still shows what the file says.
    let port = 0;
    std::fs::write(
        dir.join("config.ini"),
        format!("[DEFAULT]\nSERVER_PORT = {port}\nSERVER_IP = server\nSERVER_LISTEN_BACKLOG = 9\nLOGGING_LEVEL = INFO\n"),
    )
    .unwrap();
    let mut server = Program::start("server", &dir, &[("LOGGING_LEVEL", "debug")], &[]);
    let line = server.wait_line(&["action: config | result: success"], PATIENCE);
    assert!(
        line.contains(&format!(
            "| port: {port} | listen_backlog: 9 | logging_level: DEBUG"
        )),
        "{line}"
    );
    let (status, _) = server.stop_with(SIGTERM, PATIENCE);
    assert!(status.success());
}

#[test]
fn bad_config_values_exit_1_naming_the_key() {
    for (key, value) in [
        ("SERVER_PORT", "abc"),
        ("SERVER_LISTEN_BACKLOG", "-1"),
        ("LOGGING_LEVEL", "LOUD"),
        ("SERVER_SHUTDOWN_GRACE", "forever"),
    ] {
        let mut server = Program::start("server", &scratch_dir("server-bad"), &[(key, value)], &[]);
        let (status, _) = server.wait_exit(PATIENCE);
        assert_eq!(status.code(), Some(1), "{key}={value}");
        let lines = server.lines();
        assert_eq!(lines.len(), 1, "one clear line: {lines:?}");
        assert!(
            lines[0].contains(key) && lines[0].contains(value),
            "{lines:?}"
        );
        assert!(!lines[0].contains("panicked"), "{lines:?}");
    }
    // The same from the file.
    let dir = scratch_dir("server-bad-ini");
    std::fs::write(dir.join("config.ini"), "[DEFAULT]\nSERVER_PORT = 99999\n").unwrap();
    let mut server = Program::start("server", &dir, &[], &[]);
    assert_eq!(server.wait_exit(PATIENCE).0.code(), Some(1));
    assert!(
        server.lines()[0].contains("SERVER_PORT: \"99999\" (from config.ini)"),
        "{:?}",
        server.lines()
    );
    // A --config file that does not exist.
    let mut server = Program::start("server", &dir, &[], &["--config", "missing.ini"]);
    assert_eq!(server.wait_exit(PATIENCE).0.code(), Some(1));
    assert!(
        server.lines()[0].contains("missing.ini"),
        "{:?}",
        server.lines()
    );
}

#[test]
fn help_and_version() {
    let mut help = Program::start("server", &scratch_dir("server-help"), &[], &["--help"]);
    assert!(help.wait_exit(PATIENCE).0.success());
    assert!(help
        .lines()
        .iter()
        .any(|l| l.contains("SERVER_LISTEN_BACKLOG")));
    let mut version = Program::start(
        "server",
        &scratch_dir("server-version"),
        &[],
        &["--version"],
    );
    assert!(version.wait_exit(PATIENCE).0.success());
    assert!(
        version.lines()[0].starts_with("server "),
        "{:?}",
        version.lines()
    );
    let mut bad = Program::start("server", &scratch_dir("server-usage"), &[], &["--nope"]);
    assert_eq!(bad.wait_exit(PATIENCE).0.code(), Some(2));
}

#[test]
fn persistent_connections_answer_every_line_in_order() {
    let (server, port) = start_server(&[("SERVER_MESSAGES_PER_CONNECTION", "0")]);
    let mut stream = connect(port);
    // Pipelined: three lines in one write, then one more after the answers.
    stream.write_all(b"one\ntwo\nthree\n").unwrap();
    let mut answers = vec![0u8; b"one\ntwo\nthree\n".len()];
    stream.read_exact(&mut answers).unwrap();
    assert_eq!(answers, b"one\ntwo\nthree\n");
    stream.write_all(b"four\n").unwrap();
    let mut four = [0u8; 5];
    stream.read_exact(&mut four).unwrap();
    assert_eq!(&four, b"four\n");
    // The peer's EOF ends it; a last line without `\n` is still answered.
    stream.write_all(b"five").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut stream), b"five");
    server.wait_lines(&["action: receive_message | result: success"], 5, PATIENCE);
    assert_eq!(server.lines_with(&["action: accept_connections"]).len(), 1);
}

#[test]
fn message_limit_per_connection_closes_after_it() {
    let (_server, port) = start_server(&[("SERVER_MESSAGES_PER_CONNECTION", "2")]);
    assert_eq!(exchange(port, b"a\nb\nc\n"), b"a\nb\n");
}

#[test]
fn idle_persistent_connection_times_out_without_a_failure() {
    let (server, port) = start_server(&[
        ("SERVER_MESSAGES_PER_CONNECTION", "0"),
        ("SERVER_READ_TIMEOUT", "300ms"),
        ("LOGGING_LEVEL", "DEBUG"),
    ]);
    let mut stream = connect(port);
    stream.write_all(b"once\n").unwrap();
    let mut echo = [0u8; 5];
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"once\n");
    // Then nothing more: the server closes the idle connection at its deadline.
    assert_eq!(read_to_end(&mut stream), b"");
    server.wait_line(&["action: close_connection | result: success"], PATIENCE);
    assert!(
        server.lines_with(&["result: fail"]).is_empty(),
        "{:?}",
        server.lines()
    );
}
