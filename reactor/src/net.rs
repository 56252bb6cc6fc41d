//! Socket helpers the event loop's users share.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

/// The operation would block: nothing more for now, wait for the next event.
pub fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// A signal interrupted the call: retry it.
pub fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// A non-blocking listener with a real `listen(2)` backlog (mio's own `bind`
/// always uses 128) and `SO_REUSEADDR`, so a restart does not wait out TIME_WAIT.
/// An IPv6 address is bound with `IPV6_V6ONLY` off, so `[::]` takes IPv4
/// peers too (as IPv4-mapped addresses) whatever the host's default.
pub fn bind_listener(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(TcpListener::from_std(socket.into()))
}

/// A listener on all interfaces, and why it is IPv4 only if it is.
#[derive(Debug)]
pub struct AnyInterface<L> {
    /// The bound listener: on `[::]` (both families) or on `0.0.0.0`.
    pub listener: L,
    /// Why IPv6 could not be used, when the listener fell back to IPv4 only.
    pub ipv6_unavailable: Option<io::Error>,
}

/// Listens on `port` of every interface: on `[::]` for both families where
/// the host has IPv6, else on `0.0.0.0`.
pub fn bind_any_interface(port: u16, backlog: u32) -> io::Result<AnyInterface<TcpListener>> {
    bind_preferring_ipv6(port, |addr| bind_listener(addr, backlog))
}

/// The fallback decision, apart from the sockets so that tests can drive it:
/// `[::]` first; `0.0.0.0` only when the error says the host has no IPv6
/// (any other error, such as the port being in use, is the caller's).
fn bind_preferring_ipv6<L>(
    port: u16,
    mut bind: impl FnMut(SocketAddr) -> io::Result<L>,
) -> io::Result<AnyInterface<L>> {
    match bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
        Ok(listener) => Ok(AnyInterface {
            listener,
            ipv6_unavailable: None,
        }),
        Err(e) if means_no_ipv6(&e) => {
            let listener = bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))?;
            Ok(AnyInterface {
                listener,
                ipv6_unavailable: Some(e),
            })
        }
        Err(e) => Err(e),
    }
}

/// Errors of `socket`, `setsockopt(IPV6_V6ONLY)` or `bind` on `[::]` that
/// mean the host (kernel, container) has no usable IPv6.
fn means_no_ipv6(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::EADDRNOTAVAIL | libc::ENOPROTOOPT)
    )
}

/// How many connections wait in `listener`'s accept queue. Linux reports it
/// in `TCP_INFO` for a listening socket: `tcpi_unacked` holds the queue's
/// length there (what `ss` shows as `Recv-Q`).
#[cfg(target_os = "linux")]
pub fn listen_queue_len(listener: &TcpListener) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: `tcp_info` is plain integers, so all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(std::mem::size_of_val(&info))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the descriptor is the listener's, open while it is borrowed;
    // the kernel writes at most `len` bytes into `info`.
    let rc = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::from_mut(&mut info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(info.tcpi_unacked).unwrap_or(usize::MAX))
}

/// Elsewhere the queue's length is not known.
#[cfg(not(target_os = "linux"))]
pub fn listen_queue_len(_listener: &TcpListener) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

/// How the accept loop must react to an `accept` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// The listen queue is empty: wait for the next readiness event.
    QueueEmpty,
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
        WouldBlock => AcceptError::QueueEmpty,
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
    fn accept_errors_fall_in_four_classes() {
        let class = |errno| classify_accept_error(&io::Error::from_raw_os_error(errno));
        assert_eq!(
            classify_accept_error(&io::ErrorKind::WouldBlock.into()),
            AcceptError::QueueEmpty
        );
        for errno in [
            libc::ECONNABORTED,
            libc::ECONNRESET,
            libc::EINTR,
            libc::EPROTO,
        ] {
            assert_eq!(class(errno), AcceptError::Transient, "errno {errno}");
        }
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert_eq!(class(errno), AcceptError::Exhausted, "errno {errno}");
        }
        assert_eq!(class(libc::EINVAL), AcceptError::Other);
    }

    #[test]
    fn ipv6_first_then_ipv4_only_when_the_host_has_no_ipv6() {
        let os = io::Error::from_raw_os_error;
        let tried = |fail_v6: Option<i32>| {
            let mut tried = Vec::new();
            let result = bind_preferring_ipv6(7, |addr| {
                tried.push(addr.to_string());
                match fail_v6 {
                    Some(errno) if addr.is_ipv6() => Err(os(errno)),
                    _ => Ok(addr),
                }
            });
            (result, tried)
        };
        let (both, order) = tried(None);
        let both = both.unwrap();
        assert_eq!(
            (both.listener.to_string(), order),
            ("[::]:7".into(), vec!["[::]:7".into()])
        );
        assert!(both.ipv6_unavailable.is_none());
        for errno in [
            libc::EAFNOSUPPORT,
            libc::EADDRNOTAVAIL,
            libc::EPROTONOSUPPORT,
        ] {
            let (v4, order) = tried(Some(errno));
            let v4 = v4.unwrap();
            assert_eq!(v4.listener.to_string(), "0.0.0.0:7");
            assert_eq!(order, ["[::]:7", "0.0.0.0:7"]);
            assert_eq!(v4.ipv6_unavailable.unwrap().raw_os_error(), Some(errno));
        }
        // A port in use or a privileged port is not a missing IPv6: no fallback.
        for errno in [libc::EADDRINUSE, libc::EACCES] {
            let (err, order) = tried(Some(errno));
            assert_eq!(err.unwrap_err().raw_os_error(), Some(errno));
            assert_eq!(order, ["[::]:7"]);
        }
    }

    #[test]
    fn any_interface_listener_takes_both_families_where_the_host_has_ipv6() {
        let any = bind_any_interface(0, 5).unwrap();
        let local = any.listener.local_addr().unwrap();
        let v4 = std::net::TcpStream::connect(("127.0.0.1", local.port())).unwrap();
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("no IPv6 on this host: checked the IPv4 fallback only");
            assert!(local.is_ipv4());
            return;
        }
        assert_eq!(local.to_string(), format!("[::]:{}", local.port()));
        assert!(any.ipv6_unavailable.is_none());
        let v6 = std::net::TcpStream::connect(("::1", local.port())).unwrap();
        drop((v4, v6));
    }

    #[test]
    fn listener_gets_the_configured_backlog() {
        let listener = bind_listener("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(testkit::listen_backlogs(port), ["3"]);
    }
}
