//! The server's accept side at shutdown, against the real binary over
//! loopback: what waits in the listen queue at the signal is served within
//! the connection cap, and connections that owe their peer nothing do not
//! hold the exit back.

use std::io::Write;
use std::net::TcpStream;
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

#[test]
fn shutdown_at_a_cap_held_by_partial_messages_still_answers_the_listen_queue() {
    // Both slots are held by peers that never finish their line; ten peers
    // with whole messages wait in the listen queue at the signal. Past half
    // the grace a partial one gives up its slot (closing it drops nothing
    // its peer fully sent), and the queue is answered through it; the other
    // may still finish its line until the grace ends.
    const QUEUED: usize = 10;
    const GRACE: Duration = Duration::from_secs(1);
    const EXIT_BOUND: Duration = Duration::from_millis(1000 + 500);
    let (mut server, port) = start_server(&[
        ("SERVER_MAX_CONNECTIONS", "2"),
        ("SERVER_LISTEN_BACKLOG", "128"),
        ("SERVER_SHUTDOWN_GRACE", "1s"),
    ]);
    let mut partial: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = connect(port);
            stream.write_all(b"never finished, ").unwrap();
            stream
        })
        .collect();
    server.wait_lines(
        &["action: accept_connections | result: success"],
        2,
        PATIENCE,
    );
    let mut queued = peers_with_messages(port, QUEUED, "queued");
    let (status, took) = server.stop_with(SIGTERM, PATIENCE);
    eprintln!("SIGTERM to exit: {took:?}");
    assert_each_echoed(&mut queued);
    for stream in &mut partial {
        assert_eq!(read_to_end(stream), b"", "a partial line is not echoed");
    }
    assert!(status.success(), "{status:?}");
    assert!(
        took < EXIT_BOUND,
        "exit {took:?} after SIGTERM, the grace is {GRACE:?}"
    );
    server.wait_line(
        &[
            "action: shutdown | result: in_progress | yielded_connections: 1",
            "reason: no complete message; the listen queue has some",
        ],
        PATIENCE,
    );
    let fails = server.lines_with(&["result: fail"]);
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}
