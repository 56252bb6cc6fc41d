//! The real client binary over loopback, against the real server or a
//! scripted peer: log lines, exit statuses, and how fast SIGTERM is honoured.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use testkit::{
    parse_line, read_first_line, scratch_dir, start_server, ClosedPort, Program, PATIENCE, SECOND,
    SIGTERM,
};

fn client(id: &str, port: u16, extra: &[(&str, &str)]) -> Program {
    let address = format!("127.0.0.1:{port}");
    let mut env = vec![("CLI_ID", id), ("CLI_SERVER_ADDRESS", address.as_str())];
    env.extend_from_slice(extra);
    Program::start("client", &scratch_dir("client"), &env, &[])
}

/// A peer that accepts one connection, reads the whole first line, reports it
/// and then does what `then` says with the socket.
fn scripted_peer(then: impl FnOnce(TcpStream) + Send + 'static) -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = tx.send(read_first_line(&mut stream));
        then(stream);
    });
    (port, rx)
}

#[test]
fn five_clients_five_messages_each_against_the_real_server() {
    let (mut server, port) = start_server(&[]);
    let mut clients: Vec<Program> = (1..=5)
        .map(|id| {
            client(
                &id.to_string(),
                port,
                &[("CLI_LOOP_AMOUNT", "5"), ("CLI_LOOP_PERIOD", "50ms")],
            )
        })
        .collect();
    for (index, client) in clients.iter_mut().enumerate() {
        let id = index + 1;
        let (status, _) = client.wait_exit(PATIENCE);
        assert!(
            status.success(),
            "client {id}: {status:?}\n{:?}",
            client.lines()
        );
        let received = client.lines_with(&["action: receive_message | result: success"]);
        let expected: Vec<String> = (1..=5)
            .map(|n| format!("action: receive_message | result: success | client_id: {id} | msg: [CLIENT {id}] Message N°{n}"))
            .collect();
        let got: Vec<String> = received
            .iter()
            .map(|l| parse_line(l).expect("a contract line").message())
            .collect();
        assert_eq!(got, expected);
        assert_eq!(
            client
                .lines_with(&[
                    "action: loop_finished | result: success",
                    &format!("client_id: {id}")
                ])
                .len(),
            1
        );
        assert!(client.lines_with(&["result: fail"]).is_empty());
    }
    server.wait_lines(&["action: receive_message | result: success"], 25, PATIENCE);
    assert!(server.running(), "the server keeps serving");
    assert!(
        server.lines_with(&["result: fail"]).is_empty(),
        "{:?}",
        server.lines()
    );
    assert!(server.stop_with(SIGTERM, PATIENCE).0.success());
}

#[test]
fn config_line_shows_the_values_in_force() {
    let (_server, port) = start_server(&[]);
    let mut client = client(
        "3",
        port,
        &[
            ("CLI_LOOP_AMOUNT", "1"),
            ("CLI_LOOP_PERIOD", "250ms"),
            ("CLI_LOG_LEVEL", "warn"),
        ],
    );
    assert!(client.wait_exit(PATIENCE).0.success());
    // At WARN the config line itself is not shown; run once more at INFO.
    assert!(client.lines().is_empty(), "{:?}", client.lines());
    let mut client = self::client(
        "3",
        port,
        &[("CLI_LOOP_AMOUNT", "1"), ("CLI_LOOP_PERIOD", "250ms")],
    );
    assert!(client.wait_exit(PATIENCE).0.success());
    let line = client.wait_line(&["action: config | result: success"], SECOND);
    assert!(
        line.contains(&format!(
            "| client_id: 3 | server_address: 127.0.0.1:{port} | loop_amount: 1 | loop_period: 250ms | log_level: INFO"
        )),
        "{line}"
    );
}

#[test]
fn config_yaml_in_working_directory() {
    let (_server, port) = start_server(&[]);
    let dir = scratch_dir("client-yaml");
    std::fs::write(
        dir.join("config.yaml"),
        format!("server:\n  address: \"127.0.0.1:{port}\"\nloop:\n  amount: 2\n  period: \"10ms\"\nlog:\n  level: \"INFO\"\nbatch:\n  maxAmount: 10\n"),
    )
    .unwrap();
    let mut client = Program::start("client", &dir, &[("CLI_ID", "4")], &[]);
    assert!(
        client.wait_exit(PATIENCE).0.success(),
        "{:?}",
        client.lines()
    );
    assert_eq!(
        client
            .lines_with(&["action: receive_message | result: success | client_id: 4"])
            .len(),
        2
    );
}

#[test]
fn sigterm_during_the_period_exits_zero_at_once() {
    let (_server, port) = start_server(&[]);
    let mut client = client("1", port, &[("CLI_LOOP_PERIOD", "10s")]);
    client.wait_line(&["action: receive_message | result: success"], PATIENCE);
    client.stop_at_once(SIGTERM);
    client.wait_line(
        &["action: shutdown | result: in_progress", "client_id: 1"],
        SECOND,
    );
    client.wait_line(&["action: shutdown | result: success"], SECOND);
    client.wait_line(&["action: exit | result: success | client_id: 1"], SECOND);
    assert_eq!(
        client.lines_with(&["action: receive_message"]).len(),
        1,
        "no further message"
    );
}

#[test]
fn sigterm_during_connect_retries_exits_zero_at_once() {
    let nobody = ClosedPort::new();
    let mut client = client(
        "1",
        nobody.port(),
        &[
            ("CLI_LOG_LEVEL", "DEBUG"),
            ("CLI_SERVER_CONNECT_WINDOW", "60s"),
        ],
    );
    client.wait_lines(&["action: connect | result: in_progress"], 2, PATIENCE);
    client.stop_at_once(SIGTERM);
    client.wait_line(&["action: exit | result: success"], SECOND);
}

#[test]
fn sigterm_while_waiting_for_an_answer_closes_the_socket() {
    let (peer_closed_tx, peer_closed) = mpsc::channel();
    let (port, received) = scripted_peer(move |mut stream| {
        // Never answer; report when the client closes its side.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        let _ = peer_closed_tx.send(());
    });
    let mut client = client("1", port, &[]);
    assert_eq!(
        received.recv_timeout(PATIENCE).unwrap(),
        "[CLIENT 1] Message N°1\n".as_bytes()
    );
    client.stop_at_once(SIGTERM);
    client.wait_line(
        &["action: close_connection | result: success | client_id: 1"],
        SECOND,
    );
    client.wait_line(&["action: exit | result: success"], SECOND);
    peer_closed
        .recv_timeout(PATIENCE)
        .expect("the peer sees the connection closed");
}

#[test]
fn client_started_before_the_server_succeeds_once_it_is_up() {
    // Refused until the server, started on it, takes it over.
    let closed = ClosedPort::new();
    let port = closed.port();
    let mut client = client(
        "1",
        port,
        &[
            ("CLI_LOG_LEVEL", "DEBUG"),
            ("CLI_LOOP_AMOUNT", "2"),
            ("CLI_LOOP_PERIOD", "10ms"),
        ],
    );
    client.wait_line(&["action: connect | result: in_progress"], PATIENCE);
    let _server = Program::start(
        "server",
        &scratch_dir("late-server"),
        &[("SERVER_PORT", &port.to_string())],
        &[],
    );
    let (status, _) = client.wait_exit(PATIENCE);
    assert!(status.success(), "{:?}", client.lines());
    assert_eq!(
        client
            .lines_with(&["action: receive_message | result: success"])
            .len(),
        2
    );
    assert!(client.lines_with(&["result: fail"]).is_empty());
}

#[test]
fn no_server_within_the_window_is_a_connect_failure() {
    let nobody = ClosedPort::new();
    let mut client = client(
        "1",
        nobody.port(),
        &[("CLI_SERVER_CONNECT_WINDOW", "300ms")],
    );
    let (status, took) = client.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1));
    assert!(
        took >= Duration::from_millis(250),
        "retried for the window, took {took:?}"
    );
    let line = client.wait_line(
        &["action: connect | result: fail | client_id: 1 | error: "],
        SECOND,
    );
    assert!(line.contains("refused"), "{line}");
}

#[test]
fn wrong_answer_is_a_receive_failure() {
    let (port, _received) = scripted_peer(|mut stream| {
        let _ = stream.write_all(b"something else\n");
    });
    let mut client = client("1", port, &[]);
    assert_eq!(client.wait_exit(PATIENCE).0.code(), Some(1));
    let line = client.wait_line(
        &["action: receive_message | result: fail | client_id: 1"],
        SECOND,
    );
    assert!(line.contains("answer: something else"), "{line}");
}

#[test]
fn server_closing_without_answer_is_a_receive_failure() {
    let (port, _received) = scripted_peer(drop);
    let mut client = client("1", port, &[]);
    assert_eq!(client.wait_exit(PATIENCE).0.code(), Some(1));
    let line = client.wait_line(&["action: receive_message | result: fail"], SECOND);
    assert!(line.contains("without answering"), "{line}");
}

#[test]
fn silent_server_is_a_receive_failure_after_the_timeout() {
    let (port, _received) = scripted_peer(|mut stream| {
        // Never answer; hold the connection until the client gives up.
        let _ = stream.read_to_end(&mut Vec::new());
    });
    let mut client = client("1", port, &[("CLI_SERVER_RESPONSE_TIMEOUT", "200ms")]);
    let (status, took) = client.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1));
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let line = client.wait_line(&["action: receive_message | result: fail"], SECOND);
    assert!(line.contains("no answer within 200ms"), "{line}");
}

#[test]
fn bad_config_values_exit_1_naming_the_key() {
    for (key, value) in [
        ("CLI_LOOP_AMOUNT", "-1"),
        ("CLI_LOOP_PERIOD", "soon"),
        ("CLI_SERVER_ADDRESS", "no-port"),
        ("CLI_LOG_LEVEL", "LOUD"),
        ("CLI_ID", "two words"),
    ] {
        let mut client = Program::start("client", &scratch_dir("client-bad"), &[(key, value)], &[]);
        assert_eq!(
            client.wait_exit(PATIENCE).0.code(),
            Some(1),
            "{key}={value}"
        );
        let lines = client.lines();
        assert_eq!(lines.len(), 1, "one clear line: {lines:?}");
        assert!(
            lines[0].contains(key) && lines[0].contains(value),
            "{lines:?}"
        );
    }
    let dir = scratch_dir("client-bad-yaml");
    std::fs::write(dir.join("config.yaml"), "loop:\n  amount: many\n").unwrap();
    let mut client = Program::start("client", &dir, &[], &[]);
    assert_eq!(client.wait_exit(PATIENCE).0.code(), Some(1));
    assert!(
        client.lines()[0].contains("loop.amount: \"many\" (from config.yaml)"),
        "{:?}",
        client.lines()
    );
    std::fs::write(dir.join("config.yaml"), "server: [unclosed\n").unwrap();
    let mut client = Program::start("client", &dir, &[], &[]);
    assert_eq!(client.wait_exit(PATIENCE).0.code(), Some(1));
    assert!(
        client.lines()[0].contains("config.yaml"),
        "{:?}",
        client.lines()
    );
}

#[test]
fn zero_messages_finish_at_once() {
    let nobody = ClosedPort::new();
    let mut client = client("1", nobody.port(), &[("CLI_LOOP_AMOUNT", "0")]);
    assert!(client.wait_exit(PATIENCE).0.success());
    client.wait_line(&["action: loop_finished | result: success"], SECOND);
}
