//! `server --probe`: the image's health check. The images are `FROM scratch`,
//! so there is no shell and no `nc` to run; the server binary checks itself.
//! It connects to the configured port on loopback, sends one line, checks
//! that exactly that line comes back, and exits 0 (healthy) or 1, within
//! [`PROBE_TIMEOUT`] whatever the server does.
//!
//! The probe connects from [`PROBE_SOURCE`] (`127.0.0.2`, a loopback address
//! nothing else uses), so the server can tell its exchange from a client's:
//! it logs the probe's lines at DEBUG, never at INFO, and never as a failure
//! a grader would count (see [`crate::echo`]).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use app::{LogLine, Outcome};
use socket2::{Domain, Protocol, Socket, Type};

use crate::ServerConfig;

/// The source address of the probe's connection.
pub const PROBE_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Longest a probe takes, connect included.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// What every probe line starts with.
const PROBE_PREFIX: &str = "probe ";

/// Whether `peer` is the probe (the server logs its exchange at DEBUG).
pub fn is_probe(peer: std::net::IpAddr) -> bool {
    peer == std::net::IpAddr::V4(PROBE_SOURCE)
}

/// Runs the probe against the server `config` describes; prints one line
/// (`action: probe | result: success | ...` or `result: fail | error: ...`)
/// on stdout, where Docker keeps a health check's output.
pub fn run(config: &ServerConfig) -> ExitCode {
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
    let line = LogLine::new("probe", Outcome::Success).field("port", config.port);
    match exchange(target, Instant::now() + PROBE_TIMEOUT) {
        Ok(took) => {
            println!(
                "{}",
                line.field("took", format_args!("{}ms", took.as_millis()))
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let line = LogLine::new("probe", Outcome::Fail)
                .field("port", config.port)
                .field("error", e);
            println!("{line}");
            ExitCode::FAILURE
        }
    }
}

/// One probe exchange with `target`, all of it before `deadline`.
fn exchange(target: SocketAddr, deadline: Instant) -> io::Result<Duration> {
    let started = Instant::now();
    let stream = connect(target, deadline)?;
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.as_nanos());
    let message = format!("{PROBE_PREFIX}{}-{nonce}\n", std::process::id());
    set_timeouts(&stream, deadline)?;
    (&stream).write_all(message.as_bytes())?;
    let mut answer = Vec::with_capacity(message.len());
    let mut chunk = [0u8; 256];
    while !answer.ends_with(b"\n") && answer.len() <= message.len() {
        set_timeouts(&stream, deadline)?;
        match (&stream).read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out("no echo"))
            }
            Err(e) => return Err(e),
        }
    }
    // The server closes after its echo; the probe's side is done too.
    let _ = stream.shutdown(Shutdown::Both);
    if answer != message.as_bytes() {
        let got = String::from_utf8_lossy(&answer);
        return Err(io::Error::other(format!("wrong echo: {got:?}")));
    }
    Ok(started.elapsed())
}

/// Connects from [`PROBE_SOURCE`], or from any loopback address where that
/// one cannot be bound (the exchange then logs like a client's).
fn connect(target: SocketAddr, deadline: Instant) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    let _ = socket.bind(&SocketAddr::from((PROBE_SOURCE, 0)).into());
    let left = left_until(deadline)?;
    socket
        .connect_timeout(&target.into(), left)
        .map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out("no connection"),
            _ => e,
        })?;
    Ok(socket.into())
}

fn set_timeouts(stream: &TcpStream, deadline: Instant) -> io::Result<()> {
    let left = left_until(deadline)?;
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))
}

/// Time left before `deadline`; an error once it has passed.
fn left_until(deadline: Instant) -> io::Result<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(timed_out("out of time")),
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} within {}s", PROBE_TIMEOUT.as_secs()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_listener_that_never_answers_fails_within_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let started = Instant::now();
        let result = exchange(target, Instant::now() + Duration::from_millis(300));
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(2), "{result:?}");
        drop(listener);
    }

    #[test]
    fn the_echo_must_be_the_line_sent() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, peer) = listener.accept().unwrap();
            let mut line = [0u8; 64];
            let _ = stream.read(&mut line).unwrap();
            stream.write_all(b"something else\n").unwrap();
            peer
        });
        let result = exchange(target, Instant::now() + Duration::from_secs(2));
        let peer = server.join().unwrap();
        assert!(
            is_probe(peer.ip()),
            "the probe connects from {PROBE_SOURCE}: {peer}"
        );
        let error = result.unwrap_err().to_string();
        assert!(error.contains("wrong echo"), "{error}");
    }
}
