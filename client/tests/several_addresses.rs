//! A server name with several addresses, the first of them dead: the client
//! starts the next address 250 ms after the one before (Happy Eyeballs,
//! RFC 8305), so a dead first address costs that, not the connect window.
//!
//! The name resolves to `::1` then `127.0.0.1` through a private
//! `/etc/hosts` (a mount namespace of its own: root, as CI has). A dead
//! address is a listener whose accept queue is full and never accepted:
//! Linux drops the SYNs it gets, as a lost route would. Each test checks
//! that before relying on it, and says so and passes without running where
//! it cannot set that up.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{
    command_with_file_over, ipv6_loopback, read_first_line, scratch_dir, wait_until, Program,
    PATIENCE, SECOND, SIGTERM,
};

const NAME: &str = "two.tp0.example";

/// A listener that drops every SYN: its accept queue (of length 0) holds
/// one connection that is never accepted. Kept open as long as it is held.
struct Blackhole {
    listener: TcpListener,
    _queued: TcpStream,
}

impl Blackhole {
    /// On `addr`; `None`, with the reason printed, if the port is taken or
    /// a connect to it is answered all the same.
    fn on(addr: SocketAddr) -> Option<Blackhole> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| eprintln!("skipped: cannot bind {addr}: {e}"))
            .ok()?;
        // listen(2) again on a listening socket sets its backlog.
        // SAFETY: listen on a socket this function owns.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let addr = listener.local_addr().unwrap();
        let queued = TcpStream::connect(addr).expect("the one connection the queue holds");
        if TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok() {
            eprintln!("skipped: this kernel answers a listener whose accept queue is full");
            return None;
        }
        Some(Blackhole {
            listener,
            _queued: queued,
        })
    }
}

fn v6(port: u16) -> SocketAddr {
    (Ipv6Addr::LOCALHOST, port).into()
}

fn v4(port: u16) -> SocketAddr {
    (Ipv4Addr::LOCALHOST, port).into()
}

/// A dead `[::1]:port` on a free port.
fn dead_v6() -> Option<(Blackhole, u16)> {
    if !ipv6_loopback() {
        eprintln!("skipped: this host has no IPv6 loopback");
        return None;
    }
    let hole = Blackhole::on(v6(0))?;
    let port = hole.listener.local_addr().unwrap().port();
    Some((hole, port))
}

/// The client, as client 7 of `amount` messages to `NAME:port`, where the
/// name resolves to `::1` then `127.0.0.1`.
fn client(port: u16, amount: &str, window: &str) -> Option<Program> {
    let dir = scratch_dir("client-two-addresses");
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, format!("::1 {NAME}\n127.0.0.1 {NAME}\n")).unwrap();
    let address = format!("{NAME}:{port}");
    let env = [
        ("CLI_ID", "7"),
        ("CLI_SERVER_ADDRESS", address.as_str()),
        ("CLI_LOOP_AMOUNT", amount),
        ("CLI_LOOP_PERIOD", "0"),
        ("CLI_SERVER_CONNECT_WINDOW", window),
    ];
    let command = command_with_file_over("client", &dir, "/etc/hosts", &hosts, &env)?;
    Some(Program::spawn("client", command))
}

/// The client of one message to a name whose two addresses are both dead,
/// with the port and the blackholes (dead while held).
fn client_with_every_address_dead(window: &str) -> Option<(Program, u16, [Blackhole; 2])> {
    let (hole6, port) = dead_v6()?;
    let hole4 = Blackhole::on(v4(port))?;
    Some((client(port, "1", window)?, port, [hole6, hole4]))
}

/// Connects of this machine to `port` still waiting for a SYN-ACK.
fn syn_sent_to(port: u16) -> usize {
    let out = Command::new("ss")
        .args(["-Htn", "state", "syn-sent", &format!("( dport = :{port} )")])
        .output()
        .expect("ss (iproute2) is installed");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn dead_first_address_costs_the_stagger_not_the_window() {
    let Some((_hole, port)) = dead_v6() else {
        return;
    };
    // The working address: a peer on 127.0.0.1 that echoes each line.
    let Ok(peer) = TcpListener::bind(v4(port)) else {
        eprintln!("skipped: 127.0.0.1:{port} is taken");
        return;
    };
    std::thread::spawn(move || {
        for stream in peer.incoming() {
            let mut stream = stream.unwrap();
            stream.set_read_timeout(Some(PATIENCE)).unwrap();
            let line = read_first_line(&mut stream);
            let _ = stream.write_all(&line);
        }
    });
    let started = Instant::now();
    let Some(mut client) = client(port, "3", "10s") else {
        return;
    };
    let (status, _) = client.wait_exit(PATIENCE);
    let took = started.elapsed();
    assert!(status.success(), "{status:?}: {:?}", client.lines());
    for n in 1..=3 {
        client.wait_line(
            &[&format!(
                "action: receive_message | result: success | client_id: 7 | msg: [CLIENT 7] Message N°{n}"
            )],
            SECOND,
        );
    }
    assert!(client.lines_with(&["result: fail"]).is_empty());
    // Three messages at 250 ms each (a lookup and a start-up besides), far
    // inside one connect window of 10 s; each paid the stagger, so the dead
    // `::1` was tried first.
    assert!(took < 5 * SECOND, "took {took:?}");
    assert!(took >= 3 * Duration::from_millis(250), "took {took:?}");
}

#[test]
fn every_address_dead_is_one_connect_failure_at_the_window() {
    let Some((mut client, port, _holes)) = client_with_every_address_dead("1s") else {
        return;
    };
    let (status, took) = client.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1), "{:?}", client.lines());
    assert!(took >= SECOND && took < 6 * SECOND, "took {took:?}");
    let fails = client.lines_with(&["result: fail"]);
    assert_eq!(fails.len(), 1, "{:?}", client.lines());
    assert!(
        fails[0].ends_with(&format!(
            "action: connect | result: fail | client_id: 7 | error: connect to [::1]:{port}, \
             127.0.0.1:{port} timed out | gave_up_after: 1s"
        )),
        "{}",
        fails[0]
    );
}

#[test]
fn sigterm_while_connecting_to_both_closes_both_and_exits_zero() {
    let Some((mut client, port, _holes)) = client_with_every_address_dead("60s") else {
        return;
    };
    // Both connects in flight: the second joined the first after 250 ms.
    assert!(
        wait_until(PATIENCE, || syn_sent_to(port) == 2),
        "{:?}",
        client.lines()
    );
    client.stop_at_once(SIGTERM);
    for server in [format!("[::1]:{port}"), format!("127.0.0.1:{port}")] {
        client.wait_line(
            &[&format!(
                "action: close_connection | result: success | client_id: 7 | server: {server}"
            )],
            SECOND,
        );
    }
    client.wait_line(&["action: exit | result: success | client_id: 7"], SECOND);
    assert!(wait_until(PATIENCE, || syn_sent_to(port) == 0));
}
