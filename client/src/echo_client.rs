//! The client as a reactor [`Handler`]: for each message, resolve, connect,
//! send, read the answer, check it, close, wait the period. Every wait is a
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

use app::program::{log_ignored_signal, Reloader};
use app::{LogLine, Outcome};
use log::{debug, error, info};
use reactor::framer::LineFramer;
use reactor::mio::event::Event;
use reactor::mio::net::TcpStream;
use reactor::mio::{Interest, Registry, Token, Waker};
use reactor::net::{interrupted, would_block};
use reactor::resolve::Resolver;
use reactor::{signal_name, Handler};

use crate::config::ClientConfig;

/// The one connection's token.
const CONNECTION: Token = Token(0);
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
    /// A non-blocking connect in progress, until the connect window ends.
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
            Phase::Connecting(connect) => Some(connect.attempts.window_ends),
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

/// A connect under way to `addrs[index]`; the addresses after it are tried
/// if it fails.
#[derive(Debug)]
struct Connect {
    attempts: Attempts,
    stream: TcpStream,
    addrs: Vec<SocketAddr>,
    index: usize,
}

/// The exchange on a connected stream: the message going out, the answer
/// coming in, before a deadline.
#[derive(Debug)]
struct Exchange {
    stream: TcpStream,
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

    fn client_line(&self, action: &str, outcome: Outcome) -> LogLine {
        LogLine::new(action, outcome).field("client_id", &self.config.id)
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
            info!("{}", self.client_line("loop_finished", Outcome::Success));
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
            Ok(addrs) => self.connect(registry, now, attempts, addrs, 0, None),
            Err(e) => {
                let why = format!("cannot resolve {}: {e}", self.config.server_address.host);
                self.retry(now, attempts, why)
            }
        }
    }

    /// Starts a non-blocking connect to `addrs[index]`, or to the next that
    /// works; `failed` is why the address before `index` failed, if one did.
    fn connect(
        &mut self,
        registry: &Registry,
        now: Instant,
        mut attempts: Attempts,
        addrs: Vec<SocketAddr>,
        mut index: usize,
        mut failed: Option<String>,
    ) -> Phase {
        while let Some(&addr) = addrs.get(index) {
            match start_connect(registry, addr) {
                Ok(stream) => {
                    if failed.is_some() {
                        attempts.last_error = failed;
                    }
                    return Phase::Connecting(Connect {
                        attempts,
                        stream,
                        addrs,
                        index,
                    });
                }
                Err(why) => failed = Some(why),
            }
            index += 1;
        }
        // No address left; none tried at all means the name had none.
        let why = failed.unwrap_or_else(|| "name has no address".into());
        self.retry(now, attempts, why)
    }

    /// An attempt failed: wait and try again, unless the window is over.
    fn retry(&mut self, now: Instant, mut attempts: Attempts, why: String) -> Phase {
        if now >= attempts.window_ends {
            error!(
                "{}",
                self.client_line("connect", Outcome::Fail)
                    .field("error", &why)
                    .field("gave_up_after", &self.config.connect_window)
            );
            return Phase::Done(ExitCode::FAILURE);
        }
        let until = attempts.next_wait(now);
        debug!(
            "{}",
            self.client_line("connect", Outcome::InProgress)
                .field("error", &why)
                .field(
                    "retry_in",
                    format_args!("{}ms", until.duration_since(now).as_millis())
                )
        );
        attempts.last_error = Some(why);
        Phase::Retrying { attempts, until }
    }

    /// The connect may have finished, one way or the other.
    fn connecting(&mut self, registry: &Registry, now: Instant, connect: Connect) -> Phase {
        let stream = &connect.stream;
        let failure = match (stream.take_error(), stream.peer_addr()) {
            (Ok(Some(e)) | Err(e), _) => e,
            (Ok(None), Ok(_)) => {
                // Connected: the stream stays registered as it is.
                let exchange = Exchange {
                    stream: connect.stream,
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
        let Connect {
            attempts,
            stream,
            addrs,
            index,
        } = connect;
        close(registry, stream);
        let why = format!("connect to {} failed: {failure}", addrs[index]);
        self.connect(registry, now, attempts, addrs, index + 1, Some(why))
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
            error!(
                "{}",
                self.client_line("receive_message", Outcome::Fail)
                    .field("error", "answer differs from the message sent")
                    .bytes("answer", &answer)
            );
            return Phase::Done(ExitCode::FAILURE);
        }
        info!(
            "{}",
            self.client_line("receive_message", Outcome::Success)
                .bytes("msg", answer.strip_suffix(b"\n").unwrap_or(&answer))
        );
        self.after_message(now)
    }

    fn answer_failed(&mut self, why: String) -> Phase {
        error!(
            "{}",
            self.client_line("receive_message", Outcome::Fail)
                .field("error", why)
        );
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
            Phase::Connecting(Connect {
                mut attempts,
                stream,
                addrs,
                index,
            }) => {
                close(registry, stream);
                let why = attempts.cut_short(|| format!("connect to {} timed out", addrs[index]));
                self.retry(now, attempts, why)
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
        let stream = match phase {
            Phase::Connecting(Connect { stream, .. })
            | Phase::Exchanging(Exchange { stream, .. }) => Some(stream),
            _ => None,
        };
        if let Some(mut stream) = stream {
            let _ = registry.deregister(&mut stream);
            let peer = stream
                .peer_addr()
                .map_or_else(|_| "-".to_owned(), |a| a.to_string());
            drop(stream);
            info!(
                "{}",
                self.client_line("close_connection", Outcome::Success)
                    .field("server", peer)
            );
        }
        info!("{}", self.client_line("shutdown", Outcome::Success));
        info!("{}", self.client_line("exit", Outcome::Success));
        Phase::Done(ExitCode::SUCCESS)
    }
}

/// Opens a non-blocking connect to `addr`, registered for both interests:
/// WRITABLE says the connect finished, READABLE then brings the answer,
/// without touching the registration in between.
fn start_connect(registry: &Registry, addr: SocketAddr) -> Result<TcpStream, String> {
    let mut stream =
        TcpStream::connect(addr).map_err(|e| format!("connect to {addr} failed: {e}"))?;
    registry
        .register(
            &mut stream,
            CONNECTION,
            Interest::READABLE | Interest::WRITABLE,
        )
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
        if event.token() != CONNECTION {
            return;
        }
        let now = Instant::now();
        self.step(|client, phase| match phase {
            Phase::Connecting(connect) => client.connecting(registry, now, connect),
            Phase::Exchanging(exchange) => client.exchanging(registry, now, exchange),
            other => other, // a stale event for a socket already closed
        });
    }

    fn on_signal(&mut self, registry: &Registry, signal: c_int) {
        if let Phase::Done(_) = self.phase {
            return;
        }
        info!(
            "{}",
            self.client_line("shutdown", Outcome::InProgress)
                .field("signal", signal_name(signal))
        );
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
