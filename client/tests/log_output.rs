//! Log output never blocks the client: the real binary with its stderr a
//! pipe nobody reads finishes its run and honours SIGTERM at once; once a
//! stalled stderr moves again, one line says how many lines were lost, in their
//! place.

use std::time::Duration;

use testkit::{command, parse_line, start_server, Program, SIGTERM};

/// Runs of thousands of exchanges, each logged by both programs, take far
/// longer than one exchange: the bound for them is wider.
const RUN_PATIENCE: Duration = Duration::from_secs(60);
/// The bounded log flush at exit (100 ms) plus a wide margin.
const EXIT_BOUND: Duration = Duration::from_secs(1);

/// A client of the server on `port` sending `amount` messages back to back,
/// its stderr a pipe the test holds unread.
fn client_with_unread_stderr(
    id: &str,
    port: u16,
    amount: &str,
) -> (Program, std::process::ChildStderr) {
    let address = format!("127.0.0.1:{port}");
    let command = command(
        "client",
        &[
            ("CLI_ID", id),
            ("CLI_SERVER_ADDRESS", &address),
            ("CLI_LOOP_AMOUNT", amount),
            ("CLI_LOOP_PERIOD", "0ms"),
        ],
    );
    Program::spawn_with_unread_stderr("client", command)
}

/// The message number of an answer line.
fn number(line: &str) -> u64 {
    let msg = parse_line(line).and_then(|p| p.field("msg").map(str::to_owned));
    msg.and_then(|m| m.rsplit('°').next().and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("not an answer line: {line}"))
}

#[test]
fn an_unread_stderr_never_stops_the_run() {
    let (_server, port) = start_server(&[]);
    let (mut client, _stderr) = client_with_unread_stderr("11", port, "3000");
    let (status, _) = client.wait_exit(RUN_PATIENCE);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_mid_run_with_an_unread_stderr_exits_promptly() {
    let (server, port) = start_server(&[]);
    let (mut client, _stderr) = client_with_unread_stderr("12", port, "1000000");
    // Far more lines than the pipe holds: the client is past the point
    // where its stderr stalls.
    server.wait_lines(&["msg: [CLIENT 12]"], 1_500, RUN_PATIENCE);
    let (status, took) = client.stop_with(SIGTERM, RUN_PATIENCE);
    println!("SIGTERM to exit: {took:?}");
    assert_eq!(status.code(), Some(0));
    assert!(took < EXIT_BOUND, "exit took {took:?}");
}

#[test]
fn lines_lost_to_a_full_buffer_are_reported_once_stderr_moves_again() {
    let (server, port) = start_server(&[]);
    let (mut client, stderr) = client_with_unread_stderr("13", port, "1000000");
    // About 110 bytes a line: 12,000 lines overflow the 1 MiB buffer plus
    // the pipe.
    server.wait_lines(&["msg: [CLIENT 13]"], 12_000, RUN_PATIENCE);
    client.follow_stderr(stderr);
    let report = client.wait_line(&["action: log | result: fail"], RUN_PATIENCE);
    let lines = client.lines();
    let at = lines.iter().position(|l| *l == report).unwrap();
    let before = number(&lines[at - 1]);
    // The first answer logged after the gap.
    let answered = "action: receive_message | result: success";
    let next = client
        .wait_lines(&[answered], at, RUN_PATIENCE)
        .into_iter()
        .find(|l| number(l) > before)
        .expect("answers after the report");
    // Between the last answer before the gap and the first after it stand
    // only reports (a second one when lines queued before the gap were
    // still being written as output resumed), and they count exactly the
    // answers missing.
    let lines = client.lines();
    let end = lines.iter().position(|l| *l == next).unwrap();
    let dropped: u64 = lines[at..end]
        .iter()
        .map(|l| {
            let parsed = parse_line(l).expect("a contract line");
            assert_eq!((parsed.level, parsed.action), ("ERROR", "log"), "{l}");
            parsed
                .field("dropped_lines")
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert!(dropped > 0);
    assert_eq!(
        number(&next),
        before + dropped + 1,
        "{:#?}",
        &lines[at - 1..=end]
    );
    let (status, _) = client.stop_with(SIGTERM, RUN_PATIENCE);
    assert_eq!(status.code(), Some(0));
    client.wait_line(&["action: exit | result: success"], RUN_PATIENCE);
}
