//! A resolver that never answers must not delay SIGTERM, and must end in a
//! clean `connect` failure after the window.
//!
//! The client runs in a mount namespace of its own whose `/etc/resolv.conf`
//! names a loopback address where the test holds a UDP socket that reads
//! queries and never replies. That needs root (as CI has); elsewhere these
//! tests say so and pass without running.

use std::net::UdpSocket;
use std::path::Path;

use testkit::{command_with_file_over, scratch_dir, Program, PATIENCE, SECOND, SIGTERM};

/// A resolver that swallows queries, and a client made to use it.
fn client_with_dead_resolver(
    tag: &str,
    nameserver: &str,
    extra: &[(&str, &str)],
) -> Option<(Program, UdpSocket)> {
    let dir = scratch_dir(tag);
    let resolv_conf = dir.join("resolv.conf");
    std::fs::write(
        &resolv_conf,
        format!("nameserver {nameserver}\noptions timeout:30 attempts:1\n"),
    )
    .unwrap();
    let mut env = vec![("CLI_SERVER_ADDRESS", "server.tp0.example:12345")];
    env.extend_from_slice(extra);
    let command = command_with_file_over("client", &dir, "/etc/resolv.conf", &resolv_conf, &env)?;
    let resolver = UdpSocket::bind((nameserver, 53)).expect("bind the dead resolver");
    resolver.set_read_timeout(Some(PATIENCE)).unwrap();
    Some((Program::spawn("client", command), resolver))
}

fn wait_for_query(resolver: &UdpSocket) {
    let mut query = [0u8; 512];
    let (len, _) = resolver
        .recv_from(&mut query)
        .expect("the client asks the resolver");
    assert!(len > 12, "a DNS query");
}

#[test]
fn sigterm_while_the_resolver_never_answers_exits_at_once() {
    let Some((mut client, resolver)) = client_with_dead_resolver(
        "dns-sigterm",
        "127.77.0.1",
        &[("CLI_SERVER_CONNECT_WINDOW", "60s")],
    ) else {
        return;
    };
    client.wait_line(&["action: config | result: success"], PATIENCE);
    wait_for_query(&resolver);
    client.stop_at_once(SIGTERM);
    client.wait_line(&["action: exit | result: success"], SECOND);
}

#[test]
fn resolver_that_never_answers_is_a_connect_failure_after_the_window() {
    let Some((mut client, resolver)) = client_with_dead_resolver(
        "dns-window",
        "127.77.0.2",
        &[("CLI_SERVER_CONNECT_WINDOW", "500ms")],
    ) else {
        return;
    };
    wait_for_query(&resolver);
    let (status, _) = client.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1));
    let line = client.wait_line(&["action: connect | result: fail"], SECOND);
    assert!(
        line.contains("resolving server.tp0.example timed out"),
        "{line}"
    );
    assert!(Path::new("/etc/resolv.conf").exists());
}
