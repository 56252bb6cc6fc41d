//! The practical limit of this design: a minimal single-threaded mio echo
//! server, written as mio's own example is. Accept, register, read one line,
//! write it, close: no logging, no deadlines, no limits, no lingering close,
//! no shutdown handling (SIGTERM takes its default action). Listens with a
//! backlog of 1024, as tokio does.
//!
//! `mio-echo <port> [--persistent]`: one message per connection (the
//! course's protocol) unless `--persistent`.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use reactor::mio::net::{TcpListener, TcpStream};
use reactor::mio::{Events, Interest, Poll, Token};
use slab::Slab;
use socket2::{Domain, Socket, Type};

const LISTENER: Token = Token(usize::MAX);

/// One connection: its unanswered input and the echo being written.
struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    echo: Vec<u8>,
    sent: usize,
    interest: Interest,
}

/// What serving a connection led to.
enum Next {
    Wait(Interest),
    Close,
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(12345);
    let persistent = args.next().as_deref() == Some("--persistent");

    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from(([0, 0, 0, 0], port)).into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(socket.into());

    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Slab<Conn> = Slab::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let entry = conns.vacant_entry();
                            let token = Token(entry.key());
                            poll.registry()
                                .register(&mut stream, token, Interest::READABLE)?;
                            entry.insert(Conn {
                                stream,
                                input: Vec::new(),
                                echo: Vec::new(),
                                sent: 0,
                                interest: Interest::READABLE,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // Out of descriptors and the like: a baseline need not
                        // survive what the load never causes.
                        Err(e) => return Err(e),
                    }
                },
                Token(key) => {
                    let Some(conn) = conns.get_mut(key) else {
                        continue;
                    };
                    match serve(conn, &mut chunk, persistent) {
                        Next::Wait(interest) if interest != conn.interest => {
                            conn.interest = interest;
                            poll.registry()
                                .reregister(&mut conn.stream, Token(key), interest)?;
                        }
                        Next::Wait(_) => {}
                        // Dropping the stream closes it, which also takes it
                        // out of the poll.
                        Next::Close => drop(conns.remove(key)),
                    }
                }
            }
        }
    }
}

/// Writes what is pending, then reads and echoes lines until the socket
/// would block or the exchange is over.
fn serve(conn: &mut Conn, chunk: &mut [u8], persistent: bool) -> Next {
    loop {
        while conn.sent < conn.echo.len() {
            match conn.stream.write(&conn.echo[conn.sent..]) {
                Ok(n) => conn.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Next::Wait(Interest::WRITABLE)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        if !conn.echo.is_empty() {
            conn.echo.clear();
            conn.sent = 0;
            if !persistent {
                return Next::Close;
            }
        }
        if let Some(end) = conn.input.iter().position(|&b| b == b'\n') {
            conn.echo.extend(conn.input.drain(..=end));
            continue;
        }
        match conn.stream.read(chunk) {
            Ok(0) if conn.input.is_empty() => return Next::Close,
            Ok(0) => {
                // The bytes before EOF are the message; then the next read
                // (once it is written) sees EOF again and closes.
                conn.echo.append(&mut conn.input);
            }
            Ok(n) => conn.input.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Next::Wait(Interest::READABLE)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Next::Close,
        }
    }
}
