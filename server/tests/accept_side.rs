//! The server's accept side at shutdown, against the real binary over
//! loopback: what waits in the listen queue at the signal is served within
//! the connection cap, and connections that owe their peer nothing do not
//! hold the exit back.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use libc::SIGTERM;
use testkit::{
    assert_each_echoed, connect, open_fds, peers_with_messages, read_to_end, start_server, Program,
    PATIENCE,
};

/// Lowers the descriptor limit of the running process `pid` to `limit`.
fn set_fd_limit(pid: u32, limit: usize) {
    let status = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .expect("run prlimit");
    assert!(status.success(), "prlimit: {status:?}");
}

/// Asserts a clean exit after a shutdown that logged no failure.
fn assert_clean_exit(server: &mut Program) {
    let (status, _) = server.wait_exit(PATIENCE);
    assert!(status.success(), "{status:?}");
    let fails = server.lines_with(&["result: fail"]);
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn shutdown_at_the_cap_serves_the_listen_queue_without_going_past_the_cap() {
    // A cap of one connection and descriptors for just that one (and one
    // spare): taking the queue above the cap at the signal would run out of
    // descriptors and lose the messages still queued.
    const QUEUED: usize = 20;
    let (mut server, port) = start_server(&[
        ("SERVER_MAX_CONNECTIONS", "1"),
        ("SERVER_LISTEN_BACKLOG", "128"),
        ("SERVER_SHUTDOWN_GRACE", "5s"),
    ]);
    set_fd_limit(server.pid(), open_fds(server.pid()) + 2);
    let mut partial = connect(port);
    partial.write_all(b"first half, ").unwrap();
    server.wait_line(&["action: accept_connections | result: success"], PATIENCE);
    let mut queued = peers_with_messages(port, QUEUED, "queued");

    server.signal(SIGTERM);
    server.wait_line(&["action: shutdown | result: in_progress"], PATIENCE);
    partial.write_all(b"second half\n").unwrap();
    assert_eq!(read_to_end(&mut partial), b"first half, second half\n");
    assert_each_echoed(&mut queued);
    assert_clean_exit(&mut server);
    assert_eq!(
        server
            .lines_with(&["action: receive_message | result: success"])
            .len(),
        QUEUED + 1
    );
    server.wait_line(&["action: close_listener | result: success"], PATIENCE);
}

#[test]
fn at_shutdown_answered_peers_that_keep_their_side_open_do_not_hold_the_exit() {
    // A one-message peer and a persistent one each finish an exchange
    // during the grace and keep their connection open: neither owes
    // anything more, so the server exits at once instead of lingering for
    // their EOF (500 ms) or keeping the persistent one until the grace ends.
    for (messages_per_connection, bound) in [("1", 400), ("0", 2_000)] {
        let (mut server, port) = start_server(&[
            ("SERVER_MESSAGES_PER_CONNECTION", messages_per_connection),
            ("SERVER_SHUTDOWN_GRACE", "5s"),
        ]);
        let mut peer = connect(port);
        peer.write_all(b"half, ").unwrap();
        server.wait_line(&["action: accept_connections | result: success"], PATIENCE);
        server.signal(SIGTERM);
        server.wait_line(&["action: shutdown | result: in_progress"], PATIENCE);
        let sent = Instant::now();
        peer.write_all(b"whole\n").unwrap();
        assert_eq!(read_to_end(&mut peer), b"half, whole\n");
        let (status, _) = server.wait_exit(PATIENCE);
        let took = sent.elapsed();
        eprintln!(
            "messages per connection {messages_per_connection}: exit {took:?} after the message"
        );
        assert!(status.success(), "{status:?}");
        assert!(
            took < Duration::from_millis(bound),
            "messages per connection {messages_per_connection}: exit {took:?} after the message"
        );
        assert!(server.lines_with(&["result: fail"]).is_empty());
        drop(peer);
    }
}
