//! The client as a reactor [`Handler`]: for each message, resolve, connect
//! (to the name's addresses, staggered by `STAGGER`), send, read the
//! answer, check it, close, wait the period. Every wait is a
//! deadline of the loop and every blocking call is either non-blocking or off
//! the loop thread, so SIGTERM is handled at once in every phase.
//!
//! SIGHUP reloads the configuration: the log level at once, the connect
//! window from the next message on, the response timeout from the next
//! exchange on; what the run is (id, address, amount, period) stays.
//!
//! The client is always in exactly one [`Phase`], which owns what that phase
//! needs (its socket, its deadline, the attempts of the current message).
//! Each event handler moves the phase out, and each transition is a method
//! that takes the old phase's data and returns the next phase.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::raw::c_int;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::event;
use app::program::{log_ignored_signal, Reloader};
use app::{LogLine, Outcome};
use log::Level;
use reactor::framer::LineFramer;
use reactor::mio::event::Event;
use reactor::mio::net::TcpStream;
use reactor::mio::{Interest, Registry, Token, Waker};
use reactor::net::{interrupted, would_block};
use reactor::resolve::Resolver;
use reactor::{signal_name, Grace, Handler};

use crate::config::ClientConfig;

/// How long a connect may go unanswered before the next address is tried
/// beside it: RFC 8305's recommended connection attempt delay. A name whose
/// first address is dead (a lost route, SYNs dropped) costs this, not the
/// whole connect window; a working first address is not raced by others.
const STAGGER: Duration = Duration::from_millis(250);
/// First wait before retrying a failed connect; doubles up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Longest answer accepted: the message is short and known, so anything much
/// longer is wrong anyway.
const MAX_ANSWER: usize = 64 * 1024;

/// Where the client is in its loop. Each phase holds its own deadline, so
/// the loop's next timeout is simply the current phase's.
#[derive(Debug)]
enum Phase {
    /// Waiting for the lookup with this id, until the connect window ends.
    Resolving { attempts: Attempts, lookup: u64 },
    /// Non-blocking connects in progress, until one connects or the
    /// connect window ends.
    Connecting(Connect),
    /// A connect attempt failed: waiting until `until` to resolve again.
    Retrying { attempts: Attempts, until: Instant },
    /// Connected: sending the message and reading the answer.
    Exchanging(Exchange),
    /// The answer was right: waiting the period before the next message.
    Pausing { until: Instant },
    /// Nothing left to do.
    Done(ExitCode),
}

impl Phase {
    fn deadline(&self) -> Option<Instant> {
        match self {
            Phase::Resolving { attempts, .. } => Some(attempts.window_ends),
            Phase::Connecting(connect) => Some(connect.deadline()),
            Phase::Exchanging(exchange) => Some(exchange.until),
            Phase::Retrying { until, .. } | Phase::Pausing { until } => Some(*until),
            Phase::Done(_) => None,
        }
    }
}

/// One message's attempts to reach the server: they share one connect window
/// and one backoff, and remember why the last one failed.
#[derive(Debug)]
struct Attempts {
    /// Until when connecting this message may be retried.
    window_ends: Instant,
    /// The wait before the next retry.
    backoff: Duration,
    /// Why the last attempt failed (refused, unreachable, no such name):
    /// what the final `connect` line reports when the window cuts a later
    /// step short, since that cut is not the real cause.
    last_error: Option<String>,
}

impl Attempts {
    fn new(window_ends: Instant) -> Self {
        Attempts {
            window_ends,
            backoff: FIRST_BACKOFF,
            last_error: None,
        }
    }

    /// Why the client gives up when the window ends in the middle of `step`:
    /// the last real failure, or else that the step took too long.
    fn cut_short(&mut self, step: impl FnOnce() -> String) -> String {
        self.last_error.take().unwrap_or_else(step)
    }

    /// The wait before the next retry (never past the window), doubling the
    /// one after it.
    fn next_wait(&mut self, now: Instant) -> Instant {
        let until = (now + self.backoff).min(self.window_ends);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        until
    }
}

/// The connects to the addresses a name resolved to, Happy Eyeballs style
/// (RFC 8305): the addresses are started one after the other, the next one
/// when those in flight have not connected within [`STAGGER`] or at once
/// when one fails; the first to connect wins and the others are closed.
#[derive(Debug)]
struct Connect {
    attempts: Attempts,
    addrs: Vec<SocketAddr>,
    /// The address to start next (`addrs.len()` once all are started).
    next: usize,
    /// When the next address starts although those in flight still wait.
    next_start: Instant,
    /// The connects in flight, each registered under the token of its
    /// address's position in `addrs`.
    racing: Vec<Racer>,
}

/// One connect in flight.
#[derive(Debug)]
struct Racer {
    index: usize,
    stream: TcpStream,
}

impl Connect {
    /// The window's end, or the next address's start if that comes first.
    fn deadline(&self) -> Instant {
        if self.next < self.addrs.len() {
            self.next_start.min(self.attempts.window_ends)
        } else {
            self.attempts.window_ends
        }
    }

    /// Starts connecting to the next address; one that fails at once (no
    /// route, no socket) is skipped for the one after it. Returns whether a
    /// connect was started.
    fn start_next(&mut self, registry: &Registry, now: Instant) -> bool {
        while let Some(&addr) = self.addrs.get(self.next) {
            let index = self.next;
            self.next += 1;
            match start_connect(registry, addr, Token(index)) {
                Ok(stream) => {
                    self.racing.push(Racer { index, stream });
                    self.next_start = now + STAGGER;
                    return true;
                }
                Err(why) => self.fail(why),
            }
        }
        false
    }

    /// Notes why an address failed: what the final line reports if the
    /// window ends while the others still wait.
    fn fail(&mut self, why: String) {
        self.attempts.last_error = Some(why);
    }

    /// Closes every connect in flight; returns the addresses they were to.
    fn close_all(&mut self, registry: &Registry) -> Vec<SocketAddr> {
        self.racing
            .drain(..)
            .map(|racer| {
                close(registry, racer.stream);
                self.addrs[racer.index]
            })
            .collect()
    }
}

/// The exchange on a connected stream: the message going out, the answer
/// coming in, before a deadline.
#[derive(Debug)]
struct Exchange {
    stream: TcpStream,
    /// The token the stream won its race under; events for the others,
    /// closed in the same batch, are stale.
    token: Token,
    /// Bytes of the message already written.
    sent: usize,
    answer: LineFramer,
    until: Instant,
}

impl Exchange {
    /// Advances the exchange: `Ok(Some(answer))` once the whole answer is
    /// in, `Ok(None)` when the socket would block, `Err` with the reason
    /// otherwise.
    fn advance(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, String> {
        while self.sent < message.len() {
            match self.stream.write(&message[self.sent..]) {
                Ok(0) => return Err("connection closed while sending".into()),
                Ok(n) => self.sent += n,
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => {}
                Err(e) => return Err(format!("send failed: {e}")),
            }
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    return self
                        .answer
                        .finish()
                        .map(Some)
                        .ok_or_else(|| "server closed the connection without answering".to_owned())
                }
                Ok(n) => {
                    self.answer
                        .push(&buf[..n])
                        .map_err(|e| format!("answer too long: {e}"))?;
                    if let Some(line) = self.answer.next_message() {
                        return Ok(Some(line));
                    }
                }
                Err(e) if would_block(&e) => return Ok(None),
                Err(e) if interrupted(&e) => {}
                Err(e) => return Err(format!("receive failed: {e}")),
            }
        }
    }
}

/// The echo client handler.
#[derive(Debug)]
pub struct EchoClient {
    config: ClientConfig,
    /// Reads the configuration again on SIGHUP.
    reloader: Reloader<ClientConfig>,
    resolver: Resolver,
    phase: Phase,
    /// Number of the current message, from 1 (0 before the first).
    number: u64,
    /// The current message, `\n` included.
    message: Vec<u8>,
}

impl EchoClient {
    /// A client that starts with its first message at once (or finishes at
    /// once when `loop.amount` is 0).
    pub fn new(config: ClientConfig, reloader: Reloader<ClientConfig>, waker: Arc<Waker>) -> Self {
        let mut client = EchoClient {
            reloader,
            resolver: Resolver::new(waker),
            phase: Phase::Done(ExitCode::SUCCESS),
            number: 0,
            message: Vec::new(),
            config,
        };
        client.phase = client.after_message(Instant::now());
        client
    }

    /// The client id every line of the client carries.
    fn id(&self) -> &str {
        &self.config.id
    }

    fn client_line(&self, action: &str, outcome: Outcome) -> LogLine {
        LogLine::new(action, outcome).field("client_id", self.id())
    }

    /// Runs one transition: the current phase is moved out, `step` turns it
    /// into the next one. The placeholder left meanwhile is never read.
    fn step(&mut self, step: impl FnOnce(&mut Self, Phase) -> Phase) {
        let phase = std::mem::replace(&mut self.phase, Phase::Done(ExitCode::FAILURE));
        self.phase = step(self, phase);
    }

    /// What follows message `number` (0: the start): the pause before the
    /// next message, the first message at once, or the end of the loop.
    fn after_message(&mut self, now: Instant) -> Phase {
        if self.number >= self.config.loop_amount {
            event!(Level::Info, "loop_finished", Success; client_id = self.id());
            Phase::Done(ExitCode::SUCCESS)
        } else if self.number == 0 {
            self.start_message(now)
        } else {
            Phase::Pausing {
                until: now + self.config.loop_period.duration,
            }
        }
    }

    fn start_message(&mut self, now: Instant) -> Phase {
        self.number += 1;
        self.message =
            format!("[CLIENT {}] Message N°{}\n", self.config.id, self.number).into_bytes();
        self.resolve(
            now,
            Attempts::new(now + self.config.connect_window.duration),
        )
    }

    fn resolve(&mut self, now: Instant, attempts: Attempts) -> Phase {
        let address = &self.config.server_address;
        match self.resolver.resolve(&address.host, address.port) {
            Ok(lookup) => Phase::Resolving { attempts, lookup },
            Err(e) => self.retry(now, attempts, format!("cannot start name resolution: {e}")),
        }
    }

    /// The lookup answered.
    fn resolved(
        &mut self,
        registry: &Registry,
        now: Instant,
        attempts: Attempts,
        answer: io::Result<Vec<SocketAddr>>,
    ) -> Phase {
        match answer {
            Ok(addrs) => {
                let connect = Connect {
                    attempts,
                    addrs: interleave_families(addrs),
                    next: 0,
                    next_start: now,
                    racing: Vec::new(),
                };
                self.race(registry, now, connect)
            }
            Err(e) => {
                let why = format!("cannot resolve {}: {e}", self.config.server_address.host);
                self.retry(now, attempts, why)
            }
        }
    }

    /// Starts the next address if none is in flight (the first, or after
    /// a failure); once every address has failed, waits to try again.
    fn race(&mut self, registry: &Registry, now: Instant, mut connect: Connect) -> Phase {
        if connect.racing.is_empty() && !connect.start_next(registry, now) {
            // Every address of this round failed, each noted as the last
            // error in turn; none at all means the name had none.
            let why = match connect.attempts.last_error.take() {
                Some(why) if !connect.addrs.is_empty() => why,
                _ => "name has no address".into(),
            };
            return self.retry(now, connect.attempts, why);
        }
        Phase::Connecting(connect)
    }

    /// An attempt failed: wait and try again, unless the window is over.
    fn retry(&mut self, now: Instant, mut attempts: Attempts, why: String) -> Phase {
        if now >= attempts.window_ends {
            event!(Level::Error, "connect", Fail;
                client_id = self.id(), error = &why, gave_up_after = &self.config.connect_window);
            return Phase::Done(ExitCode::FAILURE);
        }
        let until = attempts.next_wait(now);
        let retry_ms = until.duration_since(now).as_millis();
        event!(Level::Debug, "connect", InProgress;
            client_id = self.id(), error = &why, retry_in = format_args!("{retry_ms}ms"));
        attempts.last_error = Some(why);
        Phase::Retrying { attempts, until }
    }

    /// The connect registered under `token` may have finished, one way or
    /// the other.
    fn connecting(
        &mut self,
        registry: &Registry,
        now: Instant,
        mut connect: Connect,
        token: Token,
    ) -> Phase {
        let Some(at) = connect.racing.iter().position(|r| Token(r.index) == token) else {
            return Phase::Connecting(connect); // a connect already closed
        };
        let stream = &connect.racing[at].stream;
        let failure = match (stream.take_error(), stream.peer_addr()) {
            (Ok(Some(e)) | Err(e), _) => e,
            (Ok(None), Ok(_)) => {
                // Connected: the stream stays registered as it is, the
                // others are closed.
                let winner = connect.racing.swap_remove(at);
                connect.close_all(registry);
                let exchange = Exchange {
                    stream: winner.stream,
                    token: Token(winner.index),
                    sent: 0,
                    answer: LineFramer::new(MAX_ANSWER),
                    until: now + self.config.response_timeout.duration,
                };
                return self.exchanging(registry, now, exchange);
            }
            (Ok(None), Err(e)) if e.kind() == io::ErrorKind::NotConnected => {
                return Phase::Connecting(connect); // not yet
            }
            (Ok(None), Err(e)) => e,
        };
        let loser = connect.racing.swap_remove(at);
        close(registry, loser.stream);
        connect.fail(format!(
            "connect to {} failed: {failure}",
            connect.addrs[loser.index]
        ));
        // The next address starts at once, beside those still in flight.
        connect.start_next(registry, now);
        self.race(registry, now, connect)
    }

    /// Writes what is left of the message and reads what there is of the answer.
    fn exchanging(&mut self, registry: &Registry, now: Instant, mut exchange: Exchange) -> Phase {
        let result = exchange.advance(&self.message);
        match result {
            Ok(None) => Phase::Exchanging(exchange),
            Ok(Some(answer)) => {
                close(registry, exchange.stream);
                self.check_answer(now, answer)
            }
            Err(why) => {
                close(registry, exchange.stream);
                self.answer_failed(why)
            }
        }
    }

    fn check_answer(&mut self, now: Instant, answer: Vec<u8>) -> Phase {
        if answer != self.message {
            event!(Level::Error, "receive_message", Fail;
                client_id = self.id(), error = "answer differs from the message sent",
                answer = bytes(&answer));
            return Phase::Done(ExitCode::FAILURE);
        }
        event!(Level::Info, "receive_message", Success;
            client_id = self.id(), msg = bytes(answer.strip_suffix(b"\n").unwrap_or(&answer)));
        self.after_message(now)
    }

    fn answer_failed(&mut self, why: String) -> Phase {
        event!(Level::Error, "receive_message", Fail; client_id = self.id(), error = why);
        Phase::Done(ExitCode::FAILURE)
    }

    /// A deadline passed: the current phase's time is up.
    fn timed_out(&mut self, registry: &Registry, now: Instant, phase: Phase) -> Phase {
        match phase {
            // Resolving and connecting end only with the window. A name is
            // looked up again before every retry, so the window usually ends
            // during a lookup: the real cause is the failure before it.
            Phase::Resolving { mut attempts, .. } => {
                let host = &self.config.server_address.host;
                let why = attempts.cut_short(|| format!("resolving {host} timed out"));
                self.retry(now, attempts, why)
            }
            Phase::Connecting(mut connect) if now < connect.attempts.window_ends => {
                // None has connected within the stagger: the next joins them.
                connect.start_next(registry, now);
                Phase::Connecting(connect)
            }
            Phase::Connecting(mut connect) => {
                let pending = connect.close_all(registry);
                let why = connect
                    .attempts
                    .cut_short(|| format!("connect to {} timed out", list(&pending)));
                self.retry(now, connect.attempts, why)
            }
            Phase::Retrying { attempts, .. } => self.resolve(now, attempts),
            Phase::Exchanging(exchange) => {
                close(registry, exchange.stream);
                self.answer_failed(format!("no answer within {}", self.config.response_timeout))
            }
            Phase::Pausing { .. } => self.start_message(now),
            done @ Phase::Done(_) => done, // has no deadline
        }
    }

    /// SIGTERM, SIGINT or SIGQUIT: close what is open, say so, stop.
    fn shut_down(&mut self, registry: &Registry, phase: Phase) -> Phase {
        // Each socket with the server it was connected or connecting to.
        let open: Vec<(TcpStream, String)> = match phase {
            Phase::Connecting(connect) => connect
                .racing
                .into_iter()
                .map(|racer| (racer.stream, connect.addrs[racer.index].to_string()))
                .collect(),
            Phase::Exchanging(Exchange { stream, .. }) => {
                let peer = stream
                    .peer_addr()
                    .map_or_else(|_| "-".to_owned(), |a| a.to_string());
                vec![(stream, peer)]
            }
            _ => Vec::new(),
        };
        for (stream, server) in open {
            close(registry, stream);
            event!(Level::Info, "close_connection", Success;
                client_id = self.id(), server = server);
        }
        event!(Level::Info, "shutdown", Success; client_id = self.id());
        event!(Level::Info, "exit", Success; client_id = self.id());
        Phase::Done(ExitCode::SUCCESS)
    }
}

/// The resolver's addresses with the two families taking turns, the first
/// address's family first (RFC 8305, section 4): a name with several dead
/// IPv6 addresses reaches its first IPv4 one after one stagger, not several.
fn interleave_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (mut first, mut second): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(first.len() + second.len());
    first.reverse();
    second.reverse();
    while let Some(a) = first.pop() {
        out.push(a);
        out.extend(second.pop());
    }
    out.extend(second.into_iter().rev());
    out
}

/// `a, b, c`: addresses in a line.
fn list(addrs: &[SocketAddr]) -> String {
    let shown: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
    shown.join(", ")
}

/// Opens a non-blocking connect to `addr`, registered under `token` for both
/// interests: WRITABLE says the connect finished, READABLE then brings the
/// answer, without touching the registration in between.
fn start_connect(registry: &Registry, addr: SocketAddr, token: Token) -> Result<TcpStream, String> {
    let mut stream =
        TcpStream::connect(addr).map_err(|e| format!("connect to {addr} failed: {e}"))?;
    registry
        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
        .map_err(|e| format!("cannot register socket: {e}"))?;
    Ok(stream)
}

/// Closes a socket of the loop: deregisters it, then drops it.
fn close(registry: &Registry, mut stream: TcpStream) {
    let _ = registry.deregister(&mut stream);
}

impl Handler for EchoClient {
    type Outcome = ExitCode;

    fn on_ready(&mut self, registry: &Registry, event: &Event) {
        let now = Instant::now();
        self.step(|client, phase| match phase {
            Phase::Connecting(connect) => client.connecting(registry, now, connect, event.token()),
            Phase::Exchanging(exchange) if exchange.token == event.token() => {
                client.exchanging(registry, now, exchange)
            }
            other => other, // a stale event for a socket already closed
        });
    }

    /// With or without grace alike: the client finishes no exchange, it
    /// closes what is open and exits.
    fn on_shutdown(&mut self, registry: &Registry, signal: c_int, _grace: Grace) {
        if let Phase::Done(_) = self.phase {
            return;
        }
        event!(Level::Info, "shutdown", InProgress;
            client_id = self.id(), signal = signal_name(signal));
        self.step(|client, phase| client.shut_down(registry, phase));
    }

    fn on_reload(&mut self, _registry: &Registry) {
        if let Phase::Done(_) = self.phase {
            return;
        }
        // Restart settings come back with their running values: the id in
        // the messages and the address stay those of this run.
        let reloaded = self
            .reloader
            .reload(&self.config, |outcome| self.client_line("reload", outcome));
        if let Some(config) = reloaded {
            self.config = config;
        }
    }

    fn on_ignored_signal(&mut self, signal: c_int, reason: &str) {
        log_ignored_signal(self.client_line("signal", Outcome::Success), signal, reason);
    }

    fn on_wake(&mut self, registry: &Registry) {
        let now = Instant::now();
        while let Some((id, answer)) = self.resolver.try_answer() {
            self.step(|client, phase| match phase {
                Phase::Resolving { attempts, lookup } if lookup == id => {
                    client.resolved(registry, now, attempts, answer)
                }
                other => other, // an answer nobody waits for any more
            });
        }
    }

    fn on_timers(&mut self, registry: &Registry, now: Instant) {
        if self
            .phase
            .deadline()
            .is_some_and(|deadline| deadline <= now)
        {
            self.step(|client, phase| client.timed_out(registry, now, phase));
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.phase.deadline()
    }

    fn finished(&mut self) -> Option<ExitCode> {
        match self.phase {
            Phase::Done(status) => Some(status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_second_and_never_waits_past_the_window() {
        let now = Instant::now();
        let mut attempts = Attempts::new(now + Duration::from_secs(3));
        let waits: Vec<u128> = (0..7)
            .map(|_| attempts.next_wait(now).duration_since(now).as_millis())
            .collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000]);
        let mut short = Attempts::new(now + Duration::from_millis(30));
        assert_eq!(short.next_wait(now), now + Duration::from_millis(30));
    }

    #[test]
    fn address_families_take_turns_the_first_one_first() {
        let v6 = |n: u16| SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, n], 1));
        let v4 = |n: u8| SocketAddr::from(([127, 0, 0, n], 1));
        assert_eq!(
            interleave_families(vec![v6(1), v6(2), v6(3), v4(1), v4(2)]),
            [v6(1), v4(1), v6(2), v4(2), v6(3)]
        );
        assert_eq!(
            interleave_families(vec![v4(1), v6(1), v6(2), v6(3)]),
            [v4(1), v6(1), v6(2), v6(3)]
        );
        assert_eq!(interleave_families(vec![v4(1), v4(2)]), [v4(1), v4(2)]);
        assert!(interleave_families(Vec::new()).is_empty());
    }

    #[test]
    fn the_next_address_is_due_after_the_stagger_until_all_are_started() {
        let now = Instant::now();
        let mut connect = Connect {
            attempts: Attempts::new(now + Duration::from_secs(10)),
            addrs: vec![([0, 0, 0, 1], 1).into(), ([0, 0, 0, 2], 1).into()],
            next: 1,
            next_start: now + STAGGER,
            racing: Vec::new(),
        };
        assert_eq!(connect.deadline(), now + STAGGER);
        connect.attempts.window_ends = now + Duration::from_millis(100);
        assert_eq!(connect.deadline(), now + Duration::from_millis(100));
        connect.attempts.window_ends = now + Duration::from_secs(10);
        connect.next = 2;
        assert_eq!(connect.deadline(), now + Duration::from_secs(10));
    }

    #[test]
    fn a_step_cut_short_by_the_window_reports_the_last_real_failure() {
        let mut attempts = Attempts::new(Instant::now());
        assert_eq!(
            attempts.cut_short(|| "lookup timed out".into()),
            "lookup timed out"
        );
        attempts.last_error = Some("connection refused".into());
        assert_eq!(
            attempts.cut_short(|| "lookup timed out".into()),
            "connection refused"
        );
    }
}
