//! Socket helpers the event loop's users share.

use std::io;
use std::net::SocketAddr;

use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

/// The operation would block: readiness is drained, wait for the next event.
pub fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// A signal interrupted the call: retry it.
pub fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// A non-blocking listener with a real `listen(2)` backlog (mio's own `bind`
/// always uses 128) and `SO_REUSEADDR`, so a restart does not wait out TIME_WAIT.
pub fn bind_listener(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(TcpListener::from_std(socket.into()))
}

/// How the accept loop must react to an `accept` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// Queue drained: wait for the next readiness event.
    Drained,
    /// That one connection failed (aborted, reset, interrupted): accept the next.
    Transient,
    /// Out of file descriptors or buffers: pause accepting for a while.
    Exhausted,
    /// Anything else: log it and pause as well rather than spin.
    Other,
}

/// Sorts an `accept` error into the class that decides what to do next.
pub fn classify_accept_error(e: &io::Error) -> AcceptError {
    use io::ErrorKind::*;
    match e.kind() {
        WouldBlock => AcceptError::Drained,
        Interrupted | ConnectionAborted | ConnectionReset => AcceptError::Transient,
        _ => match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                AcceptError::Exhausted
            }
            // Linux reports pending network errors of the new socket through accept(2).
            Some(
                libc::EPROTO
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::EPERM,
            ) => AcceptError::Transient,
            _ => AcceptError::Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_fall_in_three_classes() {
        let os = io::Error::from_raw_os_error;
        assert_eq!(
            classify_accept_error(&io::ErrorKind::WouldBlock.into()),
            AcceptError::Drained
        );
        assert_eq!(classify_accept_error(&os(24)), AcceptError::Exhausted);
        assert_eq!(classify_accept_error(&os(23)), AcceptError::Exhausted);
        assert_eq!(classify_accept_error(&os(103)), AcceptError::Transient); // ECONNABORTED
        assert_eq!(classify_accept_error(&os(4)), AcceptError::Transient); // EINTR
        assert_eq!(classify_accept_error(&os(22)), AcceptError::Other); // EINVAL
    }

    #[test]
    fn listener_gets_the_configured_backlog() {
        let listener = bind_listener("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(testkit::listen_backlogs(port), ["3"]);
    }
}
