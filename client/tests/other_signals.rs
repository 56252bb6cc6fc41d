//! Every signal the client handles, on the real binary: SIGUSR1 and SIGUSR2
//! are logged and change nothing (the next message is answered); SIGHUP
//! reloads the config (`tests/reload.rs` has the details) and the run goes
//! on; SIGQUIT ends the run at once with exit 0, like SIGTERM.

use std::time::Duration;

use testkit::{parse_line, scratch_dir, start_server, Program, PATIENCE};

const ANSWERED: &str = "action: receive_message | result: success | client_id: 7";

/// A client sending to the server on `port` every 20 ms, many times.
fn busy_client(port: u16) -> Program {
    let address = format!("127.0.0.1:{port}");
    let env = [
        ("CLI_ID", "7"),
        ("CLI_SERVER_ADDRESS", address.as_str()),
        ("CLI_LOOP_AMOUNT", "100000"),
        ("CLI_LOOP_PERIOD", "20ms"),
    ];
    Program::start("client", &scratch_dir("client-signals"), &env, &[])
}

/// Waits for two more answers after `line`: the run goes on.
fn two_more_answers_after(client: &Program, line: &str) {
    let lines = client.lines();
    let at = lines.iter().position(|l| l == line).expect("logged line");
    let answered_before = lines[..at].iter().filter(|l| l.contains(ANSWERED)).count();
    client.wait_lines(&[ANSWERED], answered_before + 2, PATIENCE);
}

#[test]
fn sigusr1_sigusr2_are_logged_and_the_client_keeps_sending() {
    let (_server, port) = start_server(&[]);
    let mut client = busy_client(port);
    client.wait_line(&[ANSWERED], PATIENCE);
    for (signal, name) in [(libc::SIGUSR1, "SIGUSR1"), (libc::SIGUSR2, "SIGUSR2")] {
        client.signal(signal);
        let line = client.wait_line(
            &[&format!(
                "action: signal | result: success | client_id: 7 | signal: {name} \
                 | effect: ignored | reason: no action assigned"
            )],
            PATIENCE,
        );
        assert_eq!(parse_line(&line).map(|p| p.level), Some("INFO"), "{line}");
        two_more_answers_after(&client, &line);
    }
    assert!(client.running());
    assert!(client.lines_with(&["action: shutdown"]).is_empty());
    let (status, _) = client.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sighup_reloads_and_the_client_keeps_sending() {
    let (_server, port) = start_server(&[]);
    let mut client = busy_client(port);
    client.wait_line(&[ANSWERED], PATIENCE);
    client.signal(libc::SIGHUP);
    // Same environment, no config file: nothing to put in force.
    let line = client.wait_line(&["action: reload"], PATIENCE);
    assert!(
        line.ends_with("INFO     action: reload | result: success | client_id: 7 | changed: none"),
        "{line}"
    );
    assert!(
        client.lines_with(&["SIGHUP"]).is_empty(),
        "not an ignored signal"
    );
    two_more_answers_after(&client, &line);
    let (status, _) = client.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigquit_ends_the_run_with_exit_0() {
    let (_server, port) = start_server(&[]);
    let mut client = busy_client(port);
    client.wait_line(&[ANSWERED], PATIENCE);
    let (status, took) = client.stop_with(libc::SIGQUIT, PATIENCE);
    assert_eq!(status.code(), Some(0), "{:?}", client.lines());
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    client.wait_line(
        &["action: shutdown | result: in_progress", "signal: SIGQUIT"],
        PATIENCE,
    );
    client.wait_line(&["action: shutdown | result: success"], PATIENCE);
    client.wait_line(&["action: exit | result: success | client_id: 7"], PATIENCE);
}
