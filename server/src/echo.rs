//! The echo server as a reactor [`Handler`]: one listener, a slab of
//! connections, and shutdown as a state entered from the signal event. It
//! reads top-down: the server, the events it handles, then the steps they
//! take.
//!
//! - Accepting is the [`Acceptor`]'s (`accept.rs`): one state machine says
//!   when the listener is read, at the cap, paused or closing at shutdown.
//! - Each connection's exchange is its own state machine (`connection.rs`):
//!   read a message, write its echo, linger for the peer's EOF. Every phase
//!   has a deadline; all connections are closed in one place (`close`).
//! - What connections buffer is charged to one memory budget, which also
//!   says who reads once it is spent (`budget.rs`).
//! - Each drive of a connection does a bounded share of work; one with more
//!   ready waits on the ready list and is driven again next turn, after the
//!   turn's events (signals, new connections, other peers). While the list
//!   is not empty the loop polls without waiting.
//!
//! SIGHUP reloads the configuration: live settings take effect for new work
//! (new connections, deadlines set from then on), the accept side's cap and
//! the memory budget's limit at once; no connection is dropped.

use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::os::raw::c_int;
use std::time::Instant;

use app::program::{log_ignored_signal, Reloader};
use app::{event, LogLine, Outcome};
use log::{info, Level};
use reactor::deadlines::Deadlines;
use reactor::mio::event::Event;
use reactor::mio::net::TcpStream;
use reactor::mio::{Interest, Registry, Token};
use reactor::net::{bind_any_interface, AnyInterface};
use reactor::{signal_name, Grace, Handler, FIRST_RESERVED};
use slab::Slab;

use crate::accept::Acceptor;
use crate::budget::{Parking, Rationing};
use crate::config::ServerConfig;
use crate::connection::{ConnId, Connection, Failure, Peer, Step};

/// The listener's token, just below the reactor's own.
const LISTENER: Token = Token(FIRST_RESERVED.0 - 1);
/// One read buffer for the whole loop: connections only buffer what is partial.
const READ_CHUNK: usize = 64 * 1024;

/// The server's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Serving,
    /// A signal arrived: no listener any more, exchanges in flight may finish
    /// until `deadline`.
    ShuttingDown {
        deadline: Instant,
        /// From then on, while peers owed service wait in the listen queue
        /// at the cap, connections holding no complete message give up
        /// their slots (half the grace is theirs, half the queue's).
        slots_yield_at: Instant,
    },
    /// Shutdown complete and logged.
    Done,
}

/// The echo server handler.
#[derive(Debug)]
pub struct EchoServer {
    config: ServerConfig,
    /// Reads the configuration again on SIGHUP.
    reloader: Reloader<ServerConfig>,
    /// The listener, and when it is read.
    accept: Acceptor,
    conns: Slab<Connection>,
    /// Every connection's current deadline, and stale ones left behind.
    deadlines: Deadlines<ConnId>,
    read_buf: Vec<u8>,
    /// Connections accepted so far: the next one's serial.
    accepted: u64,
    state: State,
    /// Connections closed since the first signal.
    closed_in_shutdown: usize,
    /// Open connections of the health probe: not counted against the cap.
    probes: usize,
    /// What all connection buffers hold together, and who reads once that
    /// is the limit.
    budget: Rationing<ConnId>,
    /// Connections whose last drive spent its share with more work ready,
    /// in order: edge-triggered readiness will not report them again.
    ready: VecDeque<ConnId>,
}

impl EchoServer {
    /// Binds the listener (with the configured backlog) and registers it.
    pub fn bind(
        config: ServerConfig,
        reloader: Reloader<ServerConfig>,
        registry: &Registry,
    ) -> io::Result<Self> {
        let AnyInterface {
            mut listener,
            ipv6_unavailable,
        } = bind_any_interface(config.port, config.listen_backlog)?;
        registry.register(&mut listener, LISTENER, Interest::READABLE)?;
        let local = listener.local_addr()?;
        let mut line = LogLine::new("listen", Outcome::Success)
            .field("port", local.port())
            .field("listen_backlog", config.listen_backlog)
            .field("address", local);
        if let Some(why) = ipv6_unavailable {
            line = line.field("ipv6", "unavailable").field("reason", why);
        }
        info!("{line}");
        Ok(EchoServer {
            budget: Rationing::new(config.max_buffered_bytes),
            accept: Acceptor::new(listener, config.max_connections, local.port()),
            config,
            reloader,
            conns: Slab::new(),
            deadlines: Deadlines::default(),
            read_buf: vec![0; READ_CHUNK],
            accepted: 0,
            state: State::Serving,
            closed_in_shutdown: 0,
            probes: 0,
            ready: VecDeque::new(),
        })
    }

    /// The settings in force (a reload may have changed them since start).
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }
}

impl Handler for EchoServer {
    type Outcome = ();

    fn on_ready(&mut self, registry: &Registry, event: &Event) {
        let now = Instant::now();
        match event.token() {
            LISTENER => self.accept.readable(),
            // One on the ready list has its drive this turn already.
            Token(key) if self.conns.get(key).is_some_and(|c| c.ready_listed) => {}
            Token(key) => self.drive(registry, key, now),
        }
        self.accept_waiting(registry, now);
    }

    fn on_shutdown(&mut self, registry: &Registry, signal: c_int, grace: Grace) {
        match self.state {
            State::Serving => {
                self.begin_shutdown(registry, signal, grace, Instant::now());
                if grace == Grace::Skipped {
                    self.close_all();
                }
            }
            State::ShuttingDown { .. } => {
                event!(Level::Info, "shutdown", InProgress;
                    signal = signal_name(signal), grace = "skipped");
                self.close_all();
            }
            State::Done => {}
        }
    }

    fn on_reload(&mut self, registry: &Registry) {
        if self.state == State::Done {
            return;
        }
        let reloaded = self
            .reloader
            .reload(&self.config, |outcome| LogLine::new("reload", outcome));
        if let Some(config) = reloaded {
            self.put_in_force(config, registry, Instant::now());
        }
    }

    fn on_ignored_signal(&mut self, signal: c_int, reason: &str) {
        log_ignored_signal(LogLine::new("signal", Outcome::Success), signal, reason);
    }

    fn on_timers(&mut self, registry: &Registry, now: Instant) {
        self.accept.tick(now);
        while let Some((at, id)) = self.deadlines.pop_due(now) {
            if deadline_stands(&self.conns, at, id) {
                self.expire(id.key);
            }
        }
        if let State::ShuttingDown {
            deadline,
            slots_yield_at,
        } = self.state
        {
            if slots_yield_at <= now {
                self.yield_slots();
            }
            if deadline <= now && !self.shutdown_complete() {
                event!(Level::Info, "shutdown", InProgress;
                    grace = "expired", open_connections = self.conns.len());
                self.close_all();
            }
        }
        // Stale deadlines of finished connections pile up under load: compact.
        if self.deadlines.len() > 4 * self.conns.len() + 4096 {
            let conns = &self.conns;
            self.deadlines
                .retain(|at, id| deadline_stands(conns, at, id));
        }
        self.accept_waiting(registry, now);
        // Once per turn of the loop, after every event that may have released bytes.
        self.resume_parked(registry, now);
    }

    fn next_deadline(&self) -> Option<Instant> {
        let (grace_ends, slots_yield) = match self.state {
            State::ShuttingDown {
                deadline,
                slots_yield_at,
            } => {
                // Once passed, yielding is checked every turn, not awaited.
                let ahead = Some(slots_yield_at).filter(|&at| at > Instant::now());
                (Some(deadline), ahead)
            }
            _ => (None, None),
        };
        [
            self.deadlines.next(),
            self.accept.deadline(),
            grace_ends,
            slots_yield,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Connections that spent their share of a drive with more work ready.
    fn has_ready_work(&self) -> bool {
        !self.ready.is_empty()
    }

    fn on_ready_work(&mut self, registry: &Registry, now: Instant) {
        self.drive_ready(registry, now);
    }

    fn finished(&mut self) -> Option<()> {
        match self.state {
            State::ShuttingDown { .. } if self.shutdown_complete() => {
                event!(Level::Info, "shutdown", Success;
                    closed_connections = self.closed_in_shutdown);
                self.state = State::Done;
                Some(())
            }
            State::Done => Some(()),
            _ => None,
        }
    }
}

/// The steps the events take: connections, then shutdown, reload and timers.
impl EchoServer {
    /// Admits what the accept side lets through. Called once an event is
    /// handled, never from `close`: a freed slot would otherwise accept
    /// from inside the close, recursing once per queued connection.
    fn accept_waiting(&mut self, registry: &Registry, now: Instant) {
        while let Some((stream, ip)) = self.accept.next(self.counted(), now) {
            self.admit(registry, stream, ip, now);
        }
    }

    /// Open connections that count against the cap (the probe's do not).
    fn counted(&self) -> usize {
        self.conns.len() - self.probes
    }

    fn admit(&mut self, registry: &Registry, mut stream: TcpStream, ip: IpAddr, now: Instant) {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        // Data already waiting is reported by the first poll after registering.
        if let Err(e) = registry.register(&mut stream, Token(key), Interest::READABLE) {
            event!(Level::Warn, "register", Fail; ip = ip, error = e);
            return;
        }
        self.accepted += 1;
        let id = ConnId {
            key,
            serial: self.accepted,
        };
        let conn = entry.insert(Connection::new(
            id,
            stream,
            Peer::new(ip),
            &self.config,
            now,
        ));
        self.deadlines.push(conn.deadline, id);
        self.probes += usize::from(conn.peer.is_probe());
        event!(conn.peer.level(Level::Info), "accept_connections", Success; ip = ip);
        // Peers usually send right after connecting: read now rather than
        // wait a turn of the loop for the readiness event.
        self.drive(registry, key, now);
    }

    /// Runs a connection as far as it goes without blocking, or as far as
    /// its share of work for this drive.
    fn drive(&mut self, registry: &Registry, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return; // closed earlier in this batch: a stale event
        };
        let before = conn.deadline;
        let step = conn.exchange(&mut self.read_buf, &self.config, &mut self.budget, now);
        // What its buffers hold now is charged, whatever the step.
        conn.settle(&mut self.budget);
        // The privilege to read past the budget passes on only once its
        // holder's bytes are released: not when its message is complete but
        // its echo still unsent (else each peer that does not read in turn
        // would read a whole message past the budget).
        if !conn.mid_message() {
            self.budget.end_privilege(conn.id);
        }
        if conn.deadline != before && !matches!(step, Step::Close(_)) {
            self.deadlines.push(conn.deadline, conn.id);
        }
        match step {
            Step::Park => match self.budget.park(conn.id, &mut conn.share, now) {
                Parking::Privileged => self.drive(registry, key, now), // it reads, never parks
                Parking::Parked => {}
            },
            Step::Wait(interest) => {
                // It waits for readiness, not for budget, even if it was
                // parked when this drive began.
                conn.share.unpark();
                if self.state != State::Serving && conn.owes_nothing() {
                    // Shutting down: a connection that has sent nothing, or
                    // has its echo and would only linger for the peer's EOF,
                    // goes now; its slot may be owed to a peer in the listen
                    // queue.
                    self.close(key, None);
                } else if let Err(e) = conn.want(registry, interest) {
                    self.close(key, Some(Failure::register(e)));
                }
            }
            Step::Yield => {
                conn.share.unpark();
                if !conn.ready_listed {
                    conn.ready_listed = true;
                    self.ready.push_back(conn.id);
                }
            }
            Step::Close(reason) => self.close(key, reason),
        }
    }

    /// The one place a connection ends: remove it, return its budget, log,
    /// free its slot. Dropping the stream closes the descriptor, which also
    /// takes it out of the epoll set: no deregister call (one syscall less
    /// per connection).
    fn close(&mut self, key: usize, failure: Option<Failure>) {
        let Some(mut conn) = self.conns.try_remove(key) else {
            return;
        };
        self.probes -= usize::from(conn.peer.is_probe());
        self.budget.leave(conn.id, &mut conn.share);
        debug_assert!(
            !self.conns.is_empty() || self.budget.held() == 0,
            "no connection left, yet {} bytes charged",
            self.budget.held()
        );
        if let Some(Failure { action, error }) = failure {
            event!(conn.peer.level(Level::Warn), action, Fail; ip = conn.peer.ip, error = error);
        }
        // Each close is logged at shutdown (the contract); before, at DEBUG.
        let level = if self.state == State::Serving {
            Level::Debug
        } else {
            self.closed_in_shutdown += 1;
            Level::Info
        };
        event!(level, "close_connection", Success; ip = conn.peer.ip);
        drop(conn);
        self.accept.slot_freed();
    }

    /// First signal: connections that owe nothing close, the others may
    /// finish within the grace, and the accept side takes what waits in the
    /// listen queue before it closes the listener.
    fn begin_shutdown(&mut self, registry: &Registry, signal: c_int, grace: Grace, now: Instant) {
        let grace = match grace {
            Grace::Skipped => "skipped".to_owned(),
            Grace::Normal => self.config.shutdown_grace.to_string(),
        };
        event!(Level::Info, "shutdown", InProgress; signal = signal_name(signal), grace = grace);
        let grace = self.config.shutdown_grace.duration;
        self.state = State::ShuttingDown {
            deadline: now + grace,
            slots_yield_at: now + grace / 2,
        };
        // Read whatever already arrived; shutting down, `drive` closes the
        // connections that owe nothing, which frees slots for the queue.
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.drive(registry, key, now);
        }
        self.accept.shut_down();
        self.accept_waiting(registry, now);
    }

    /// Past half the grace, at the cap, with peers that connected before the
    /// signal still in the listen queue: connections that hold no complete
    /// message give their slots to them, as many as they need. Those peers
    /// sent all they meant to; closing a connection whose input is all read
    /// and forms no message drops nothing its peer fully sent.
    fn yield_slots(&mut self) {
        if !self.accept.owed_a_slot(self.counted()) {
            return;
        }
        let yielding: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, conn)| conn.holds_no_message())
            .map(|(key, _)| key)
            .collect();
        let mut yielded = 0;
        for key in yielding {
            if !self.accept.owed_a_slot(self.counted()) {
                break;
            }
            self.close(key, None);
            yielded += 1;
        }
        if yielded > 0 {
            event!(Level::Info, "shutdown", InProgress;
                yielded_connections = yielded,
                reason = "no complete message; the listen queue has some");
        }
    }

    /// Closes the listener and every remaining connection (grace over or
    /// skipped).
    fn close_all(&mut self) {
        self.accept.stop();
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.close(key, None);
        }
    }

    /// Whether shutdown has nothing left to wait for: every connection and
    /// the listener are closed.
    fn shutdown_complete(&self) -> bool {
        self.conns.is_empty() && self.accept.is_closed()
    }

    /// Puts a reloaded configuration in force: timeouts, the message limit
    /// and the messages per connection are read from it for new work; the
    /// cap and the budget change now (a higher cap takes at once what waits
    /// in the listen queue, a lower one drops nobody).
    fn put_in_force(&mut self, config: ServerConfig, registry: &Registry, now: Instant) {
        self.accept.set_cap(config.max_connections);
        self.budget.set_limit(config.max_buffered_bytes);
        self.config = config;
        self.accept_waiting(registry, now);
    }

    /// A connection's deadline has passed: it closes, failed unless idle or
    /// lingering.
    fn expire(&mut self, key: usize) {
        if let Some(conn) = self.conns.get(key) {
            let failure = conn.expiry(&self.config);
            self.close(key, failure);
        }
    }

    /// Drives once each connection that was on the ready list when the turn
    /// began; those with work left still go to the back of it.
    fn drive_ready(&mut self, registry: &Registry, now: Instant) {
        for _ in 0..self.ready.len() {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let conn = self.conns.get_mut(id.key);
            if let Some(conn) = conn.filter(|c| c.id == id) {
                conn.ready_listed = false;
                self.drive(registry, id.key, now);
            }
        }
    }

    /// Parked connections read again, oldest first, while the budget lets
    /// them.
    fn resume_parked(&mut self, registry: &Registry, now: Instant) {
        while let Some(id) = self.budget.next_to_resume() {
            let conn = self.conns.get_mut(id.key);
            if let Some(conn) = conn.filter(|c| c.id == id && c.share.is_parked()) {
                conn.share.unpark();
                self.drive(registry, id.key, now); // parks again, at the back, if need be
            }
        }
    }
}

/// Whether a deadline popped from the heap is still the current one of the
/// connection it was set for (not closed, not moved on to another phase).
fn deadline_stands(conns: &Slab<Connection>, at: Instant, id: ConnId) -> bool {
    conns
        .get(id.key)
        .is_some_and(|c| c.id == id && c.deadline == at)
}
