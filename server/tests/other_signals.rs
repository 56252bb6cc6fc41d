//! Every signal the server handles, on the real binary: SIGUSR1 and SIGUSR2
//! are logged and change nothing (the next exchange is served); SIGHUP
//! reloads the config (`tests/reload.rs` has the details) and serving goes
//! on; SIGQUIT shuts down at once, without the grace, and exits 0.

use std::io::Write;
use std::time::Duration;

use testkit::{connect, exchange, read_to_end, start_server, PATIENCE};

#[test]
fn sigusr1_sigusr2_are_logged_and_the_server_keeps_serving() {
    let (mut server, port) = start_server(&[]);
    for (signal, name) in [(libc::SIGUSR1, "SIGUSR1"), (libc::SIGUSR2, "SIGUSR2")] {
        server.signal(signal);
        let line = server.wait_line(
            &[&format!(
                "action: signal | result: success | signal: {name} \
                 | effect: ignored | reason: no action assigned"
            )],
            PATIENCE,
        );
        let parsed = testkit::parse_line(&line).expect("a contract line");
        assert_eq!(parsed.level, "INFO", "{line}");
        let message = format!("after {name}\n");
        assert_eq!(exchange(port, message.as_bytes()), message.as_bytes());
    }
    assert!(server.running());
    assert!(server.lines_with(&["action: shutdown"]).is_empty());
    let (status, _) = server.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sighup_reloads_and_the_server_keeps_serving() {
    // No config file, nothing in the environment changed: nothing to put in force.
    let (mut server, port) = start_server(&[]);
    server.signal(libc::SIGHUP);
    let line = server.wait_line(&["action: reload"], PATIENCE);
    assert!(
        line.ends_with("INFO     action: reload | result: success | changed: none"),
        "{line}"
    );
    assert!(
        server.lines_with(&["SIGHUP"]).is_empty(),
        "not an ignored signal"
    );
    assert_eq!(exchange(port, b"after SIGHUP\n"), b"after SIGHUP\n");
    let (status, _) = server.stop_with(libc::SIGTERM, PATIENCE);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigquit_shuts_down_without_the_grace() {
    let (mut server, port) = start_server(&[("SERVER_SHUTDOWN_GRACE", "30s")]);
    // An exchange in flight: half a message, which the grace would wait for.
    let mut pending = connect(port);
    pending.write_all(b"half a mess").unwrap();
    server.wait_line(&["action: accept_connections"], PATIENCE);
    let (status, took) = server.stop_with(libc::SIGQUIT, PATIENCE);
    assert_eq!(status.code(), Some(0), "{:?}", server.lines());
    assert!(took < Duration::from_secs(2), "exit took {took:?}");
    server.wait_line(
        &[
            "action: shutdown | result: in_progress",
            "signal: SIGQUIT",
            "grace: skipped",
        ],
        PATIENCE,
    );
    server.wait_line(&["action: close_connection | result: success"], PATIENCE);
    server.wait_line(
        &[
            "action: shutdown | result: success",
            "closed_connections: 1",
        ],
        PATIENCE,
    );
    // Closed, not answered: the grace was skipped.
    assert_eq!(read_to_end(&mut pending), b"");
}

#[test]
fn sigquit_during_the_grace_ends_it() {
    let (mut server, port) = start_server(&[("SERVER_SHUTDOWN_GRACE", "30s")]);
    let mut pending = connect(port);
    pending.write_all(b"half a mess").unwrap();
    server.wait_line(&["action: accept_connections"], PATIENCE);
    server.signal(libc::SIGTERM);
    server.wait_line(
        &["action: shutdown | result: in_progress", "grace: 30s"],
        PATIENCE,
    );
    let (status, took) = server.stop_with(libc::SIGQUIT, PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(2), "exit took {took:?}");
    server.wait_line(&["signal: SIGQUIT", "grace: skipped"], PATIENCE);
    server.wait_line(&["action: shutdown | result: success"], PATIENCE);
    drop(pending);
}
