//! The server's accept side: the listener and the one state machine that
//! decides when `accept` is called. Every change to accepting happens here,
//! as one arm of [`Accepting::on`].
//!
//! ```text
//!   Open ──readable──▶ Backlog ──queue empty──▶ Open
//!                       │  ▲  └──out of descriptors──▶ Paused { until } ──timer──▶ Backlog
//!                at cap │  │ slot freed, cap raised, readable
//!    (and the reserve   ▼  │
//!     taken)           AtCap
//!
//!   any of them ──signal──▶ Closing { owed } ──owed taken or queue empty──▶ Closed
//!                                             ──grace over, second signal──▶ Closed
//! ```
//!
//! At the cap one descriptor more is used, the *reserve*: the head of the
//! listen queue is taken into it. The health probe (`server --probe`, known
//! by its source address) is served from there at once, so that a busy
//! server is not reported unhealthy; anyone else waits there unread, first
//! in line for the next free slot, as it would have in the queue.
//!
//! Readiness is edge-triggered: the listener says once that connections
//! arrived. `Backlog` is the state in which connections may be waiting with
//! no event left to announce them (a slot freed at the cap, a pause ended),
//! so the handler takes them at the end of the current event.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use app::event;
use log::Level;
use reactor::mio::net::{TcpListener, TcpStream};
use reactor::net::{classify_accept_error, listen_queue_len, AcceptError};

use crate::probe::is_probe;
use crate::throttle::Throttle;

/// How long accepting pauses when the process is out of descriptors or memory.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// At most one accept-error line per this period, so a storm cannot flood the log.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(1);

/// Where the accept side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepting {
    /// The listen queue is empty: the next readiness event says when
    /// connections arrive.
    Open,
    /// Connections may wait in the queue: take them, up to the cap.
    Backlog,
    /// At the connection cap: the queue waits until a slot frees.
    AtCap,
    /// Out of descriptors or memory: no `accept` until `until`, rather than
    /// spin on an error that only time (or a closing connection) cures.
    Paused {
        /// When accepting resumes.
        until: Instant,
    },
    /// Shutting down: `owed` connections waited in the listen queue at the
    /// signal. They are taken as slots allow, then the listener closes.
    Closing {
        /// Queued connections still to take.
        owed: usize,
        /// Set while out of descriptors, as in `Paused`.
        paused_until: Option<Instant>,
    },
    /// The listener is closed.
    Closed,
}

/// What happened on the accept side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The listener reported new connections.
    Readable,
    /// `accept` returned a connection.
    Accepted,
    /// Open connections are at the cap.
    Full,
    /// A connection closed.
    SlotFreed,
    /// A reload raised the cap.
    CapRaised,
    /// `accept` would block: the queue is empty.
    QueueEmpty,
    /// `accept` failed with an error that is not the connection's own.
    Failed {
        /// When it failed.
        now: Instant,
    },
    /// Time passed.
    Tick {
        /// The time now.
        now: Instant,
    },
    /// A shutdown signal, with `queued` connections in the listen queue.
    Shutdown {
        /// Connections waiting in the listen queue at the signal.
        queued: usize,
    },
    /// The grace is over or was skipped: the listener goes now.
    Stop,
}

impl Accepting {
    /// The state after `input`: every transition of the accept side.
    pub fn on(self, input: Input) -> Accepting {
        use Accepting::*;
        use Input::*;
        match (self, input) {
            (Closed, _) | (_, Stop) => Closed,
            (Open, Readable) => Backlog,
            (Backlog, Full) => AtCap,
            // New arrivals at the cap: the head may go into the reserve.
            (AtCap, SlotFreed | CapRaised | Readable) => Backlog,
            (Backlog, QueueEmpty) => Open,
            (Backlog, Failed { now }) => Paused {
                until: now + ACCEPT_PAUSE,
            },
            (Paused { until }, Tick { now }) if until <= now => Backlog,
            // Take what waits in the listen queue, then close the listener:
            // those peers connected (and most sent their message) before the
            // signal, so they are served like the connections already open,
            // within the cap; whoever connects after the signal is not. The
            // caller closes the connections that owe nothing first, which
            // frees slots for them.
            (Closing { .. }, Shutdown { .. }) => self,
            (_, Shutdown { queued: 0 }) => Closed,
            (_, Shutdown { queued }) => Closing {
                owed: queued,
                paused_until: None,
            },
            (Closing { owed: 1, .. }, Accepted) | (Closing { .. }, QueueEmpty) => Closed,
            (Closing { owed, paused_until }, Accepted) => Closing {
                owed: owed - 1,
                paused_until,
            },
            (Closing { owed, .. }, Failed { now }) => Closing {
                owed,
                paused_until: Some(now + ACCEPT_PAUSE),
            },
            (
                Closing {
                    owed,
                    paused_until: Some(until),
                },
                Tick { now },
            ) if until <= now => Closing {
                owed,
                paused_until: None,
            },
            // Anything else changes nothing: readiness while paused, a slot
            // freed below the cap, a timer not yet due.
            (state, _) => state,
        }
    }

    /// Whether `accept` may be called now, below the cap.
    fn takes(self) -> bool {
        matches!(
            self,
            Accepting::Backlog
                | Accepting::Closing {
                    paused_until: None,
                    ..
                }
        )
    }

    /// When a pause ends.
    fn deadline(self) -> Option<Instant> {
        match self {
            Accepting::Paused { until } => Some(until),
            Accepting::Closing { paused_until, .. } => paused_until,
            _ => None,
        }
    }
}

/// What the accept side needs of a listener (a fake one drives the tests).
pub trait Listen {
    /// An accepted connection.
    type Stream;
    /// Takes the next connection of the listen queue.
    fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)>;
    /// How many connections wait in the listen queue.
    fn queued(&self) -> io::Result<usize>;
}

impl Listen for TcpListener {
    type Stream = TcpStream;

    fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        TcpListener::accept(self)
    }

    fn queued(&self) -> io::Result<usize> {
        listen_queue_len(self)
    }
}

/// The listener and the state that says when to accept from it.
#[derive(Debug)]
pub struct Acceptor<L: Listen = TcpListener> {
    /// `None` exactly when the state is `Closed`: the transition there drops it.
    listener: Option<L>,
    state: Accepting,
    /// The reserve: a connection taken at the cap that is not the probe,
    /// admitted before any other once a slot frees.
    held: Option<(L::Stream, IpAddr)>,
    /// The most connections open at once.
    cap: usize,
    /// The configured port, for the `close_listener` line.
    port: u16,
    error_log: Throttle,
}

impl<L: Listen> Acceptor<L> {
    /// A listener already registered for readiness, open connections capped
    /// at `cap`.
    pub fn new(listener: L, cap: usize, port: u16) -> Self {
        Acceptor {
            listener: Some(listener),
            state: Accepting::Open,
            held: None,
            cap,
            port,
            error_log: Throttle::new(ERROR_LOG_EVERY),
        }
    }

    /// The listener has new connections.
    pub fn readable(&mut self) {
        self.advance(Input::Readable);
    }

    /// A connection closed.
    pub fn slot_freed(&mut self) {
        self.advance(Input::SlotFreed);
    }

    /// A new cap (a reload): connections open above it stay, and no more
    /// are taken until they are below it; a higher one takes at once what
    /// waited at the old cap.
    pub fn set_cap(&mut self, cap: usize) {
        let raised = cap > self.cap;
        self.cap = cap;
        if raised {
            self.advance(Input::CapRaised);
        }
    }

    /// Ends a pause that is due.
    pub fn tick(&mut self, now: Instant) {
        self.advance(Input::Tick { now });
    }

    /// The first shutdown signal: owe what waits in the listen queue. Where
    /// the queue cannot be measured, whatever it holds until it is empty.
    pub fn shut_down(&mut self) {
        let queued = match &self.listener {
            Some(listener) => listener.queued().unwrap_or(usize::MAX),
            None => 0,
        };
        self.advance(Input::Shutdown { queued });
    }

    /// Closes the listener now (grace over or skipped), and whoever waits in
    /// the reserve.
    pub fn stop(&mut self) {
        self.held = None;
        self.advance(Input::Stop);
    }

    /// When a pause ends, for the loop's timeout.
    pub fn deadline(&self) -> Option<Instant> {
        self.state.deadline()
    }

    /// Whether the accept side is done: the listener closed, nobody left
    /// in the reserve.
    pub fn is_closed(&self) -> bool {
        self.state == Accepting::Closed && self.held.is_none()
    }

    /// Whether, with `open` connections open, peers owed service at
    /// shutdown wait for a slot (in the listen queue or the reserve): the
    /// cap is taken.
    pub fn owed_a_slot(&self, open: usize) -> bool {
        let owed = matches!(self.state, Accepting::Closing { .. }) || self.held.is_some();
        owed && open >= self.cap
    }

    /// The next connection the state allows, with `open` connections open
    /// (the probe's not counted: it has the reserve); `None` once the queue
    /// is empty, the cap reached (and the reserve taken) or accepting
    /// paused. Takes one at a time so that the caller admits each before
    /// the next (admitting may close connections, which frees slots).
    pub fn next(&mut self, open: usize, now: Instant) -> Option<(L::Stream, IpAddr)> {
        if open < self.cap {
            if let Some(first_in_line) = self.held.take() {
                return Some(first_in_line);
            }
        }
        while self.state.takes() {
            let at_cap = open >= self.cap;
            if at_cap && self.held.is_some() {
                self.advance(Input::Full);
                return None;
            }
            let result = self.listener.as_ref()?.accept();
            match result {
                Ok((stream, addr)) => {
                    self.advance(Input::Accepted);
                    // An IPv4 peer on the dual-stack listener is
                    // `::ffff:a.b.c.d`: logged as the plain IPv4 address it is.
                    let ip = addr.ip().to_canonical();
                    if at_cap && !is_probe(ip) {
                        self.held = Some((stream, ip));
                        continue;
                    }
                    return Some((stream, ip));
                }
                Err(e) => match classify_accept_error(&e) {
                    AcceptError::QueueEmpty => self.advance(Input::QueueEmpty),
                    AcceptError::Transient => {}
                    AcceptError::Exhausted | AcceptError::Other => {
                        self.log_error(&e, now);
                        self.advance(Input::Failed { now });
                    }
                },
            }
        }
        None
    }

    /// Moves to the next state and does what entering it means.
    fn advance(&mut self, input: Input) {
        let next = self.state.on(input);
        if next == self.state {
            return;
        }
        match next {
            Accepting::AtCap => event!(Level::Debug, "accept_connections", InProgress;
                paused = "connection limit reached", max_connections = self.cap),
            Accepting::Closed => {
                // Closing the descriptor also takes it out of the poll.
                self.listener = None;
                event!(Level::Info, "close_listener", Success; port = self.port);
            }
            _ => {}
        }
        self.state = next;
    }

    fn log_error(&mut self, e: &io::Error, now: Instant) {
        if self.error_log.due(now) {
            event!(Level::Error, "accept_connections", Fail;
                error = e, retry_in = format_args!("{}ms", ACCEPT_PAUSE.as_millis()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;

    /// A listen queue of results, in order; empty means `WouldBlock`.
    #[derive(Debug, Default)]
    struct FakeListener {
        queue: RefCell<VecDeque<io::Result<u32>>>,
        accept_calls: Cell<usize>,
    }

    impl FakeListener {
        fn with(peers: impl IntoIterator<Item = u32>) -> Self {
            let fake = FakeListener::default();
            fake.queue.borrow_mut().extend(peers.into_iter().map(Ok));
            fake
        }
    }

    impl Listen for &FakeListener {
        type Stream = u32;

        fn accept(&self) -> io::Result<(u32, SocketAddr)> {
            self.accept_calls.set(self.accept_calls.get() + 1);
            let next = self.queue.borrow_mut().pop_front();
            let peer = next.unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()))?;
            let ip = if peer == PROBE {
                crate::probe::PROBE_SOURCE
            } else {
                [127, 0, 0, 1].into()
            };
            Ok((peer, SocketAddr::from((ip, 40_000))))
        }

        fn queued(&self) -> io::Result<usize> {
            Ok(self.queue.borrow().len())
        }
    }

    /// The peer that connects from the health probe's address.
    const PROBE: u32 = 999;

    fn push(fake: &FakeListener, peers: impl IntoIterator<Item = u32>) {
        fake.queue.borrow_mut().extend(peers.into_iter().map(Ok));
    }

    /// Takes what the state allows, as the handler does: `open` grows by
    /// one per connection taken.
    fn take_all(
        acceptor: &mut Acceptor<&FakeListener>,
        open: &mut usize,
        now: Instant,
    ) -> Vec<u32> {
        let mut taken = Vec::new();
        while let Some((peer, ip)) = acceptor.next(*open, now) {
            assert_eq!(is_probe(ip), peer == PROBE, "{ip}");
            taken.push(peer);
            if peer != PROBE {
                *open += 1; // the probe does not count against the cap
            }
        }
        taken
    }

    fn emfile() -> io::Result<u32> {
        Err(io::Error::from_raw_os_error(libc::EMFILE))
    }

    #[test]
    fn readable_takes_the_queue_until_it_is_empty() {
        let fake = FakeListener::with([1, 2, 3]);
        let mut acceptor = Acceptor::new(&fake, 10, 7);
        let (mut open, now) = (0, Instant::now());
        assert!(take_all(&mut acceptor, &mut open, now).is_empty());
        assert_eq!(fake.accept_calls.get(), 0, "no accept before readiness");
        acceptor.readable();
        assert_eq!(take_all(&mut acceptor, &mut open, now), [1, 2, 3]);
        assert_eq!(acceptor.state, Accepting::Open);
        assert_eq!(fake.accept_calls.get(), 4, "three, then WouldBlock");
    }

    #[test]
    fn at_the_cap_the_queue_waits_until_a_slot_frees() {
        let fake = FakeListener::with([1, 2, 3]);
        let mut acceptor = Acceptor::new(&fake, 2, 7);
        let (mut open, now) = (0, Instant::now());
        acceptor.readable();
        assert_eq!(take_all(&mut acceptor, &mut open, now), [1, 2]);
        assert_eq!(acceptor.state, Accepting::AtCap);
        acceptor.readable();
        assert!(take_all(&mut acceptor, &mut open, now).is_empty());
        assert_eq!(
            fake.accept_calls.get(),
            3,
            "at the cap only the head, into the reserve"
        );
        open -= 1;
        acceptor.slot_freed();
        assert_eq!(acceptor.state, Accepting::Backlog);
        assert_eq!(take_all(&mut acceptor, &mut open, now), [3]);
        assert_eq!(acceptor.state, Accepting::Open, "the queue is empty");
    }

    #[test]
    fn at_the_cap_the_probe_is_served_from_the_reserve_and_others_keep_their_turn() {
        let fake = FakeListener::with([1, PROBE, 2, PROBE]);
        let mut acceptor = Acceptor::new(&fake, 1, 7);
        let (mut open, now) = (0, Instant::now());
        acceptor.readable();
        // 1 takes the slot; the probe at the head is served beyond the cap.
        assert_eq!(take_all(&mut acceptor, &mut open, now), [1, PROBE]);
        // 2 is taken into the reserve: the probe behind it waits its turn.
        assert_eq!(acceptor.state, Accepting::AtCap);
        assert_eq!(fake.queue.borrow().len(), 1);
        acceptor.readable();
        assert!(take_all(&mut acceptor, &mut open, now).is_empty());
        open -= 1;
        acceptor.slot_freed();
        assert_eq!(take_all(&mut acceptor, &mut open, now), [2, PROBE]);
        assert!(fake.queue.borrow().is_empty());
        // A probe arriving at the cap with the reserve free: served at once.
        push(&fake, [PROBE]);
        acceptor.readable();
        assert_eq!(take_all(&mut acceptor, &mut open, now), [PROBE]);
    }

    #[test]
    fn a_cap_changed_live_applies_to_what_is_taken_next() {
        let fake = FakeListener::with([1, 2, 3, 4]);
        let mut acceptor = Acceptor::new(&fake, 1, 7);
        let (mut open, now) = (0, Instant::now());
        acceptor.readable();
        assert_eq!(take_all(&mut acceptor, &mut open, now), [1]);
        assert_eq!(acceptor.state, Accepting::AtCap);
        // Raised: what waited at the old cap is taken without a new event.
        acceptor.set_cap(3);
        assert_eq!(acceptor.state, Accepting::Backlog);
        assert_eq!(take_all(&mut acceptor, &mut open, now), [2, 3]);
        // Lowered below what is open: nobody is dropped, nobody taken.
        acceptor.set_cap(1);
        open -= 1;
        acceptor.slot_freed();
        assert!(take_all(&mut acceptor, &mut open, now).is_empty());
        assert_eq!(acceptor.state, Accepting::AtCap);
        open = 0;
        acceptor.slot_freed();
        assert_eq!(take_all(&mut acceptor, &mut open, now), [4]);
        // Raised while not at the cap: nothing to take, no state change.
        let mut open_state = Acceptor::new(&fake, 1, 7);
        open_state.set_cap(5);
        assert_eq!(open_state.state, Accepting::Open);
    }

    #[test]
    fn out_of_descriptors_pauses_until_the_timer_then_resumes() {
        let fake = FakeListener::with([1]);
        fake.queue.borrow_mut().push_back(emfile());
        push(&fake, [2]);
        let mut acceptor = Acceptor::new(&fake, 10, 7);
        let (mut open, start) = (0, Instant::now());
        acceptor.readable();
        assert_eq!(take_all(&mut acceptor, &mut open, start), [1]);
        let until = start + ACCEPT_PAUSE;
        assert_eq!(acceptor.state, Accepting::Paused { until });
        assert_eq!(acceptor.deadline(), Some(until));
        acceptor.readable();
        acceptor.slot_freed();
        acceptor.tick(until - Duration::from_millis(1));
        assert!(take_all(&mut acceptor, &mut open, until).is_empty());
        assert_eq!(fake.accept_calls.get(), 2, "no accept while paused");
        acceptor.tick(until);
        assert_eq!(acceptor.state, Accepting::Backlog);
        assert_eq!(take_all(&mut acceptor, &mut open, until), [2]);
        assert_eq!(acceptor.state, Accepting::Open);
        assert_eq!(acceptor.deadline(), None);
    }

    #[test]
    fn a_failed_connection_is_skipped() {
        let fake = FakeListener::default();
        for e in [libc::ECONNABORTED, libc::EINTR, libc::EPROTO] {
            fake.queue
                .borrow_mut()
                .push_back(Err(io::Error::from_raw_os_error(e)));
        }
        push(&fake, [1]);
        let mut acceptor = Acceptor::new(&fake, 10, 7);
        acceptor.readable();
        assert_eq!(take_all(&mut acceptor, &mut 0, Instant::now()), [1]);
        assert_eq!(acceptor.state, Accepting::Open);
    }

    #[test]
    fn shutdown_with_an_empty_queue_closes_the_listener_at_once() {
        let fake = FakeListener::default();
        let mut acceptor = Acceptor::new(&fake, 10, 7);
        acceptor.shut_down();
        assert!(acceptor.is_closed());
        assert!(acceptor.listener.is_none());
    }

    #[test]
    fn shutdown_takes_what_was_queued_within_the_cap_and_no_later_arrival() {
        // The cap is 1 and taken: three peers wait at the signal.
        let fake = FakeListener::with([1, 2, 3]);
        let mut acceptor = Acceptor::new(&fake, 1, 7);
        let (mut open, now) = (1, Instant::now());
        acceptor.shut_down();
        assert_eq!(
            acceptor.state,
            Accepting::Closing {
                owed: 3,
                paused_until: None
            }
        );
        push(&fake, [4]); // connected after the signal
        assert!(take_all(&mut acceptor, &mut open, now).is_empty());
        assert_eq!(
            fake.accept_calls.get(),
            1,
            "never above the cap: the first waits in the reserve"
        );
        for expected in [1, 2] {
            open -= 1;
            acceptor.slot_freed();
            assert_eq!(take_all(&mut acceptor, &mut open, now), [expected]);
            assert!(!acceptor.is_closed());
        }
        open -= 1;
        assert_eq!(take_all(&mut acceptor, &mut open, now), [3]);
        assert!(acceptor.is_closed(), "all owed taken: the listener goes");
        assert!(acceptor.listener.is_none());
        assert_eq!(fake.queue.borrow().len(), 1, "the late one is not taken");
    }

    #[test]
    fn at_shutdown_the_queue_is_owed_a_slot_only_while_the_cap_is_taken() {
        let fake = FakeListener::with([1, 2]);
        let mut acceptor = Acceptor::new(&fake, 1, 7);
        assert!(!acceptor.owed_a_slot(1), "serving: nobody is owed");
        acceptor.shut_down();
        assert!(acceptor.owed_a_slot(1));
        assert!(!acceptor.owed_a_slot(0), "a slot is free");
        let mut open = 0;
        assert_eq!(take_all(&mut acceptor, &mut open, Instant::now()), [1]);
        assert!(acceptor.owed_a_slot(open));
        open = 0;
        assert_eq!(take_all(&mut acceptor, &mut open, Instant::now()), [2]);
        assert!(acceptor.is_closed());
        assert!(!acceptor.owed_a_slot(open), "all owed taken");
    }

    #[test]
    fn shutdown_ends_early_when_queued_peers_gave_up() {
        let fake = FakeListener::with([1, 2, 3]);
        let mut acceptor = Acceptor::new(&fake, 10, 7);
        acceptor.shut_down();
        fake.queue.borrow_mut().truncate(1); // two reset before being taken
        assert_eq!(take_all(&mut acceptor, &mut 0, Instant::now()), [1]);
        assert!(acceptor.is_closed());
    }

    #[test]
    fn out_of_descriptors_while_closing_pauses_then_takes_the_rest_owed() {
        let fake = FakeListener::default();
        fake.queue
            .borrow_mut()
            .extend([emfile(), Ok(1), emfile(), Ok(2)]);
        let mut acceptor = Acceptor::new(&fake, 10, 7);
        let (mut open, start) = (0, Instant::now());
        acceptor.readable();
        assert!(take_all(&mut acceptor, &mut open, start).is_empty());
        assert!(matches!(acceptor.state, Accepting::Paused { .. }));
        // Paused at the signal: the shutdown tries again at once.
        acceptor.shut_down();
        assert_eq!(acceptor.deadline(), None);
        assert_eq!(take_all(&mut acceptor, &mut open, start), [1]);
        let until = start + ACCEPT_PAUSE;
        assert_eq!(
            acceptor.state,
            Accepting::Closing {
                owed: 2,
                paused_until: Some(until)
            }
        );
        assert!(take_all(&mut acceptor, &mut open, start).is_empty());
        acceptor.tick(until);
        assert_eq!(take_all(&mut acceptor, &mut open, until), [2]);
        assert!(acceptor.is_closed());
    }

    #[test]
    fn stop_closes_from_every_state_and_closed_stays_closed() {
        let now = Instant::now();
        let states = [
            Accepting::Open,
            Accepting::Backlog,
            Accepting::AtCap,
            Accepting::Paused { until: now },
            Accepting::Closing {
                owed: 5,
                paused_until: None,
            },
        ];
        for state in states {
            assert_eq!(state.on(Input::Stop), Accepting::Closed, "{state:?}");
        }
        for input in [
            Input::Readable,
            Input::SlotFreed,
            Input::Tick { now },
            Input::Shutdown { queued: 3 },
        ] {
            assert_eq!(Accepting::Closed.on(input), Accepting::Closed);
        }
        let fake = FakeListener::with([1]);
        let mut acceptor = Acceptor::new(&fake, 10, 7);
        acceptor.stop();
        acceptor.readable();
        assert!(take_all(&mut acceptor, &mut 0, now).is_empty());
        assert_eq!(fake.accept_calls.get(), 0);
    }

    #[test]
    fn a_second_signal_while_closing_keeps_the_debt() {
        let closing = Accepting::Closing {
            owed: 2,
            paused_until: None,
        };
        assert_eq!(closing.on(Input::Shutdown { queued: 9 }), closing);
        assert_eq!(closing.on(Input::Readable), closing);
        assert_eq!(closing.on(Input::Full), closing);
    }

    #[test]
    fn the_listen_queue_is_measured_on_a_real_listener() {
        let listener = reactor::net::bind_listener("127.0.0.1:0".parse().unwrap(), 8).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(listener.queued().unwrap(), 0);
        let peers: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        // The handshakes complete in the kernel, without us: wait for them.
        let three = testkit::wait_until(Duration::from_secs(5), || listener.queued().unwrap() == 3);
        assert!(three, "queued: {}", listener.queued().unwrap());
        let mut acceptor = Acceptor::new(listener, 10, addr.port());
        acceptor.shut_down();
        assert_eq!(
            acceptor.state,
            Accepting::Closing {
                owed: 3,
                paused_until: None
            }
        );
        drop(peers);
    }
}
