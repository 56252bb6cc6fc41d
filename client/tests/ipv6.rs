//! The real client reaches the real server over IPv6: through an address
//! literal (`[::1]:port`) and through a name that resolves to `::1` only.
//! Where the host has no IPv6 these tests say so and pass without running.

use testkit::{
    command_with_file_over, ipv6_loopback, scratch_dir, start_server, Program, PATIENCE, SIGTERM,
};

fn assert_two_exchanges(client: &mut Program, server: &Program) {
    let (status, _) = client.wait_exit(PATIENCE);
    assert!(status.success(), "{status:?}\n{:?}", client.lines());
    for n in 1..=2 {
        client.wait_line(
            &[&format!(
                "action: receive_message | result: success | client_id: 6 | msg: [CLIENT 6] Message N°{n}"
            )],
            PATIENCE,
        );
    }
    assert!(client.lines_with(&["result: fail"]).is_empty());
    server.wait_lines(
        &["action: receive_message | result: success | ip: ::1 | msg: [CLIENT 6]"],
        2,
        PATIENCE,
    );
}

#[test]
fn client_exchanges_with_the_server_at_an_ipv6_literal() {
    if !ipv6_loopback() {
        eprintln!("skipped: this host has no IPv6 loopback");
        return;
    }
    let (mut server, port) = start_server(&[]);
    let address = format!("[::1]:{port}");
    let mut client = Program::start(
        "client",
        &scratch_dir("client-ipv6"),
        &[
            ("CLI_ID", "6"),
            ("CLI_SERVER_ADDRESS", &address),
            ("CLI_LOOP_AMOUNT", "2"),
            ("CLI_LOOP_PERIOD", "50ms"),
        ],
        &[],
    );
    client.wait_line(
        &[&format!(
            "action: config | result: success | client_id: 6 | server_address: [::1]:{port}"
        )],
        PATIENCE,
    );
    assert_two_exchanges(&mut client, &server);
    assert!(server.stop_with(SIGTERM, PATIENCE).0.success());
}

#[test]
fn client_exchanges_with_the_server_under_a_name_that_resolves_to_ipv6_only() {
    if !ipv6_loopback() {
        eprintln!("skipped: this host has no IPv6 loopback");
        return;
    }
    let (mut server, port) = start_server(&[]);
    let dir = scratch_dir("client-ipv6-name");
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "::1 v6only.tp0.example\n").unwrap();
    let address = format!("v6only.tp0.example:{port}");
    let env = [
        ("CLI_ID", "6"),
        ("CLI_SERVER_ADDRESS", address.as_str()),
        ("CLI_LOOP_AMOUNT", "2"),
        ("CLI_LOOP_PERIOD", "50ms"),
        ("CLI_SERVER_CONNECT_WINDOW", "2s"),
    ];
    let Some(command) = command_with_file_over("client", &dir, "/etc/hosts", &hosts, &env) else {
        return;
    };
    let mut client = Program::spawn("client", command);
    assert_two_exchanges(&mut client, &server);
    assert!(server.stop_with(SIGTERM, PATIENCE).0.success());
}
