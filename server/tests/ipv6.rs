//! The real server listens on both families: one port answers on `[::1]`
//! and on `127.0.0.1`, and an IPv4 peer is logged as its plain IPv4 address
//! (not the IPv4-mapped `::ffff:` form the dual-stack socket reports).
//! Where the host has no IPv6 these tests say so and pass without running.

use std::io::Write;
use std::net::TcpStream;

use testkit::{exchange, ipv6_loopback, read_to_end, start_server, PATIENCE, SIGTERM};

fn exchange_on_ipv6(port: u16, message: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("::1", port)).expect("connect to [::1]");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(message).unwrap();
    read_to_end(&mut stream)
}

#[test]
fn one_port_echoes_on_ipv6_and_ipv4_loopback() {
    if !ipv6_loopback() {
        eprintln!("skipped: this host has no IPv6 loopback");
        return;
    }
    let (mut server, port) = start_server(&[]);
    server.wait_line(
        &[
            "action: listen | result: success",
            &format!("| address: [::]:{port}"),
        ],
        PATIENCE,
    );
    assert_eq!(exchange_on_ipv6(port, b"over six\n"), b"over six\n");
    assert_eq!(exchange(port, b"over four\n"), b"over four\n");

    server.wait_line(
        &["action: receive_message | result: success | ip: ::1 | msg: over six"],
        PATIENCE,
    );
    server.wait_line(
        &["action: receive_message | result: success | ip: 127.0.0.1 | msg: over four"],
        PATIENCE,
    );
    server.wait_line(
        &["action: accept_connections | result: success | ip: 127.0.0.1"],
        PATIENCE,
    );
    assert!(
        server.lines_with(&["::ffff:"]).is_empty(),
        "IPv4 peers are logged in their IPv4 form: {:?}",
        server.lines()
    );
    assert!(server.lines_with(&["result: fail"]).is_empty());
    assert!(server.stop_with(SIGTERM, PATIENCE).0.success());
}

#[test]
fn oversized_message_over_ipv6_fails_that_connection_only() {
    if !ipv6_loopback() {
        eprintln!("skipped: this host has no IPv6 loopback");
        return;
    }
    let (mut server, port) = start_server(&[("SERVER_MAX_MESSAGE_BYTES", "8")]);
    assert_eq!(exchange_on_ipv6(port, b"much too long\n"), b"");
    server.wait_line(
        &["action: receive_message | result: fail | ip: ::1 | error: message longer than 8 bytes"],
        PATIENCE,
    );
    assert_eq!(exchange_on_ipv6(port, b"short\n"), b"short\n");
    assert!(server.stop_with(SIGTERM, PATIENCE).0.success());
}
