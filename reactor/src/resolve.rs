//! Name resolution off the loop thread.
//!
//! `getaddrinfo` blocks, for seconds when a resolver is slow or dead. Each
//! lookup runs on a short-lived thread that hands its answer back through a
//! channel and wakes the loop, so a signal is never waited out behind DNS.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use mio::Waker;

/// The answer to one lookup, tagged with the id `resolve` returned.
pub type Answer = (u64, io::Result<Vec<SocketAddr>>);

/// Starts lookups and collects their answers.
#[derive(Debug)]
pub struct Resolver {
    waker: Arc<Waker>,
    tx: Sender<Answer>,
    rx: Receiver<Answer>,
    next_id: u64,
}

impl Resolver {
    /// A resolver that wakes the loop through `waker` when an answer is ready.
    pub fn new(waker: Arc<Waker>) -> Self {
        let (tx, rx) = channel();
        Resolver {
            waker,
            tx,
            rx,
            next_id: 0,
        }
    }

    /// Starts resolving `host:port`; the answer arrives tagged with the
    /// returned id. IP literals are answered at once, without a thread.
    pub fn resolve(&mut self, host: &str, port: u16) -> io::Result<u64> {
        self.next_id += 1;
        let id = self.next_id;
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            let _ = self.tx.send((id, Ok(vec![SocketAddr::new(ip, port)])));
            return self.waker.wake().map(|()| id);
        }
        let (tx, waker, host) = (self.tx.clone(), Arc::clone(&self.waker), host.to_owned());
        crate::signals::spawn_helper("resolve", move || {
            let answer = (host.as_str(), port)
                .to_socket_addrs()
                .map(|addrs| addrs.collect::<Vec<_>>());
            // The loop may be gone (the program is exiting): nobody to tell.
            if tx.send((id, answer)).is_ok() {
                let _ = waker.wake();
            }
        })?;
        Ok(id)
    }

    /// The next answer that has arrived, if any.
    pub fn try_answer(&mut self) -> Option<Answer> {
        self.rx.try_recv().ok()
    }
}
