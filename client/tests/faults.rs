//! The real client binary when things go wrong around it: the server stops
//! in the middle of a run, the name does not resolve, a peer answers half a
//! line or tears the connection down. Each case ends in exactly one `fail`
//! line and exit status 1 within a bounded time, or, on SIGTERM, in exit 0
//! at once.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Instant;

use testkit::{
    read_first_line, reset_on_close, scratch_dir, start_server, Program, PATIENCE, SECOND, SIGTERM,
};

fn client(address: &str, extra: &[(&str, &str)]) -> Program {
    let mut env = vec![("CLI_ID", "1"), ("CLI_SERVER_ADDRESS", address)];
    env.extend_from_slice(extra);
    Program::start("client", &scratch_dir("faults-client"), &env, &[])
}

fn local(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// A peer that accepts one connection and hands it to `then` at once,
/// without reading anything.
fn peer(then: impl FnOnce(TcpStream) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        then(stream);
    });
    port
}

/// The run failed: exit status 1, and exactly one `fail` line, which contains
/// `parts` and is returned.
fn assert_one_failure(client: &Program, parts: &[&str]) -> String {
    let fails = client.lines_with(&["result: fail"]);
    assert_eq!(
        fails.len(),
        1,
        "exactly one fail line: {:?}",
        client.lines()
    );
    let line = fails[0].clone();
    assert!(parts.iter().all(|p| line.contains(p)), "{line}");
    assert!(
        client.lines_with(&["panicked"]).is_empty(),
        "{:?}",
        client.lines()
    );
    line
}

#[test]
fn server_stopped_mid_run_ends_in_one_connect_failure_and_exit_1() {
    let (mut server, port) = start_server(&[]);
    let mut client = client(
        &local(port),
        &[
            ("CLI_LOOP_AMOUNT", "50"),
            ("CLI_LOOP_PERIOD", "1s"),
            ("CLI_SERVER_CONNECT_WINDOW", "500ms"),
        ],
    );
    // A line is written out just before the client blocks, so after the
    // second answer the client is in its one-second wait: stop the server
    // there (a signal landing while the client is connected but has not yet
    // sent would end that exchange instead, and this test is about connecting).
    client.wait_lines(&["action: receive_message | result: success"], 2, PATIENCE);
    let (status, _) = server.stop_with(SIGTERM, PATIENCE);
    assert!(status.success(), "server: {status:?}");
    let stopped = Instant::now();
    let (status, _) = client.wait_exit(PATIENCE);
    let took = stopped.elapsed();
    assert_eq!(status.code(), Some(1), "{:?}", client.lines());
    assert!(
        took < 5 * SECOND,
        "gave up {took:?} after the server stopped"
    );
    let line = assert_one_failure(
        &client,
        &[
            "action: connect | result: fail | client_id: 1 | error: ",
            "gave_up_after: 500ms",
        ],
    );
    assert!(line.contains("refused"), "the reason is given: {line}");
    let answered = client
        .lines_with(&["action: receive_message | result: success"])
        .len();
    assert!((2..50).contains(&answered), "{answered} answers");
    assert!(client.lines_with(&["action: loop_finished"]).is_empty());
}

#[test]
fn sigterm_while_retrying_after_the_server_left_exits_zero_at_once() {
    let (mut server, port) = start_server(&[]);
    let mut client = client(
        &local(port),
        &[
            ("CLI_LOOP_AMOUNT", "50"),
            ("CLI_LOOP_PERIOD", "100ms"),
            ("CLI_SERVER_CONNECT_WINDOW", "60s"),
            ("CLI_LOG_LEVEL", "DEBUG"),
        ],
    );
    client.wait_lines(&["action: receive_message | result: success"], 2, PATIENCE);
    assert!(server.stop_with(SIGTERM, PATIENCE).0.success());
    // The client is now retrying within its 60 s window.
    client.wait_line(
        &[
            "action: connect | result: in_progress",
            "refused",
            "retry_in",
        ],
        PATIENCE,
    );
    client.stop_at_once(SIGTERM);
    client.wait_line(&["action: shutdown | result: success"], SECOND);
    client.wait_line(&["action: exit | result: success | client_id: 1"], SECOND);
    assert!(
        client.lines_with(&["result: fail"]).is_empty(),
        "{:?}",
        client.lines()
    );
}

#[test]
fn name_that_does_not_resolve_is_one_connect_failure_within_the_window() {
    // `.invalid` never resolves (RFC 6761); if the machine's resolver hangs
    // instead of saying so, the 500 ms window still bounds the run.
    let mut client = client(
        "nosuchhost.invalid:12345",
        &[("CLI_SERVER_CONNECT_WINDOW", "500ms")],
    );
    let (status, took) = client.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1), "{:?}", client.lines());
    assert!(took < 5 * SECOND, "took {took:?}");
    let line = assert_one_failure(
        &client,
        &[
            "action: connect | result: fail | client_id: 1 | error: ",
            "nosuchhost.invalid",
            "gave_up_after: 500ms",
        ],
    );
    assert!(
        line.contains("resolv"),
        "the reason says resolution failed: {line}"
    );
}

#[test]
fn half_an_answer_then_silence_is_a_response_timeout() {
    let (held_tx, held) = mpsc::channel();
    let port = peer(move |mut stream| {
        let line = read_first_line(&mut stream);
        let _ = held_tx.send(line.clone());
        let _ = stream.write_all(&line[..line.len() / 2]);
        // Stall: hold the connection until the client gives up.
        let _ = stream.read_to_end(&mut Vec::new());
    });
    let mut client = client(&local(port), &[("CLI_SERVER_RESPONSE_TIMEOUT", "300ms")]);
    assert_eq!(
        held.recv_timeout(PATIENCE).unwrap(),
        "[CLIENT 1] Message N°1\n".as_bytes()
    );
    let (status, took) = client.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1), "{:?}", client.lines());
    assert!(took < 4 * SECOND, "took {took:?}");
    assert_one_failure(
        &client,
        &[
            "action: receive_message | result: fail | client_id: 1",
            "no answer within 300ms",
        ],
    );
    assert!(client
        .lines_with(&["action: receive_message | result: success"])
        .is_empty());
}

#[test]
fn full_answer_without_its_newline_then_close_is_a_wrong_answer() {
    let port = peer(|mut stream| {
        let line = read_first_line(&mut stream);
        let _ = stream.write_all(line.strip_suffix(b"\n").unwrap_or(&line));
    });
    let mut client = client(&local(port), &[]);
    let (status, _) = client.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1), "{:?}", client.lines());
    assert_one_failure(
        &client,
        &[
            "action: receive_message | result: fail | client_id: 1",
            "answer differs",
        ],
    );
}

#[test]
fn wrong_answer_with_line_separators_and_bidi_controls_is_logged_escaped() {
    let port = peer(|mut stream| {
        read_first_line(&mut stream);
        let _ = stream.write_all("[CLIENT 1]\u{2028}fake\u{2029}\u{202e}x\u{feff}\n".as_bytes());
    });
    let mut client = client(&local(port), &[]);
    let (status, _) = client.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1), "{:?}", client.lines());
    let line = assert_one_failure(&client, &["answer differs"]);
    assert!(
        line.ends_with("| answer: [CLIENT 1]\\u{2028}fake\\u{2029}\\u{202e}x\\u{feff}\\n"),
        "{line}"
    );
}

#[test]
fn reset_instead_of_an_answer_is_a_receive_failure() {
    let port = peer(|mut stream| {
        read_first_line(&mut stream);
        reset_on_close(&stream);
    });
    let mut client = client(&local(port), &[]);
    let (status, took) = client.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1), "{:?}", client.lines());
    assert!(took < 4 * SECOND, "took {took:?}");
    let line = assert_one_failure(
        &client,
        &["action: receive_message | result: fail | client_id: 1"],
    );
    assert!(line.contains("reset"), "{line}");
}

#[test]
fn peer_that_closes_before_reading_anything_is_a_receive_failure() {
    let port = peer(drop);
    let mut client = client(&local(port), &[]);
    let (status, took) = client.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1), "{:?}", client.lines());
    assert!(took < 4 * SECOND, "took {took:?}");
    // Depending on timing the client sees EOF, a reset, or a failed send.
    assert_one_failure(
        &client,
        &["action: receive_message | result: fail | client_id: 1 | error: "],
    );
}
