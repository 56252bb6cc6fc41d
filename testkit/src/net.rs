//! Loopback sockets: connections that give up instead of hanging a test,
//! byte-exact reads, socket options that play a misbehaving peer.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;

use socket2::{Domain, Protocol, Socket, Type};

use crate::PATIENCE;

/// A loopback port that refuses connections for as long as this value
/// lives, on `127.0.0.1` and, where the host has IPv6, `[::1]` (so
/// `localhost` is refused too): sockets bound there that never listen. For
/// tests of a client that finds no server. It cannot race: while the
/// sockets are bound no other test is given the port (a bind to port 0
/// never picks it, nor does `connect` for its own end), and a bind to it
/// without `SO_REUSEADDR` fails. A server started on it on purpose binds
/// with `SO_REUSEADDR`, as ours does, and takes it over with no gap.
#[derive(Debug)]
pub struct ClosedPort {
    /// Hold the port; dropping them frees it.
    _sockets: Vec<Socket>,
    port: u16,
}

impl ClosedPort {
    /// Binds a fresh port on both loopback addresses, without listening.
    pub fn new() -> ClosedPort {
        // [::1] may already have the port 127.0.0.1 was given: try another.
        for _ in 0..100 {
            let v4 = bound(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind 127.0.0.1");
            let port = v4
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .expect("a bound address")
                .port();
            match bound(SocketAddr::from((Ipv6Addr::LOCALHOST, port))) {
                Ok(v6) => {
                    return ClosedPort {
                        _sockets: vec![v4, v6],
                        port,
                    }
                }
                Err(e) if e.kind() == ErrorKind::AddrInUse => continue,
                // No IPv6 on this host: nothing can listen on [::1] either.
                Err(_) => {
                    return ClosedPort {
                        _sockets: vec![v4],
                        port,
                    }
                }
            }
        }
        panic!("no port free on both 127.0.0.1 and [::1]");
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        ClosedPort::new()
    }
}

/// A TCP socket bound to `addr` with `SO_REUSEADDR` (and `IPV6_V6ONLY` for
/// IPv6, so it holds `[::1]` only), not listening.
fn bound(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// A blocking connection to `127.0.0.1:port` whose reads and writes give up
/// after a bounded time instead of hanging a test.
pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Everything the peer sends until it closes cleanly.
pub fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    std::io::Read::read_to_end(stream, &mut answer).expect("read until EOF");
    answer
}

/// Reads one line (up to and including `\n`, or up to EOF) byte by byte,
/// so that nothing after it is consumed.
pub fn read_first_line(stream: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while std::io::Read::read(stream, &mut byte).unwrap_or(0) == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    line
}

/// One exchange on a fresh connection: the whole answer.
pub fn exchange(port: u16, message: &[u8]) -> Vec<u8> {
    let mut stream = connect(port);
    std::io::Write::write_all(&mut stream, message).unwrap();
    read_to_end(&mut stream)
}

/// `count` fresh connections to `127.0.0.1:port`, each with its whole
/// message (`<label> <i>\n`) already sent: peers waiting for their echo.
pub fn peers_with_messages(port: u16, count: usize, label: &str) -> Vec<(TcpStream, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let mut stream = connect(port);
            let message = format!("{label} {i}\n").into_bytes();
            std::io::Write::write_all(&mut stream, &message).expect("send the message");
            (stream, message)
        })
        .collect()
}

/// Asserts that each peer reads back exactly its message, then a clean EOF.
pub fn assert_each_echoed(peers: &mut [(TcpStream, Vec<u8>)]) {
    for (stream, message) in peers {
        assert_eq!(&read_to_end(stream), message);
    }
}

/// The backlogs of the sockets listening on `port`, as `ss` reports them
/// (the Send-Q column of a listening socket).
pub fn listen_backlogs(port: u16) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) is installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect()
}

/// Whether this host can use IPv6 on loopback (`[::1]` can be bound); tests
/// that need it print a reason and pass without running where it cannot.
pub fn ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// Sets `SO_LINGER` to zero seconds, so that closing `stream` sends a reset
/// instead of a FIN (a peer that crashes or aborts its connection).
pub fn reset_on_close(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    set_socket_option(stream.as_raw_fd(), libc::SO_LINGER, &linger);
}

/// Pins `SO_RCVBUF` of `stream` to about `bytes` (which also turns off the
/// kernel's receive-buffer autotuning), so a peer that never reads holds
/// back only that much.
pub fn limit_receive_buffer(stream: &TcpStream, bytes: usize) {
    use std::os::fd::AsRawFd;
    let size = libc::c_int::try_from(bytes).expect("buffer size fits an int");
    set_socket_option(stream.as_raw_fd(), libc::SO_RCVBUF, &size);
}

/// Writes `message` and shuts the write side of `stream` so that the bytes
/// and the FIN leave in one segment (`TCP_CORK` holds the bytes until the
/// FIN joins them): the receiver gets one readiness event for both.
pub fn send_with_fin_in_one_segment(stream: &mut TcpStream, message: &[u8]) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    let len = libc::socklen_t::try_from(std::mem::size_of_val(&on)).expect("option size");
    // SAFETY: `on` is a live int of `len` bytes for the whole call.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            std::ptr::from_ref(&on).cast::<libc::c_void>(),
            len,
        )
    };
    assert_eq!(rc, 0, "TCP_CORK: {}", std::io::Error::last_os_error());
    std::io::Write::write_all(stream, message).expect("write the message");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shut the write side");
}

fn set_socket_option<T>(fd: std::os::fd::RawFd, option: libc::c_int, value: &T) {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>()).expect("option size");
    // SAFETY: `value` points to a live `T` of `len` bytes for the whole call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (value as *const T).cast::<libc::c_void>(),
            len,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt({option}): {}",
        std::io::Error::last_os_error()
    );
}
