//! The client as a reactor [`Handler`]: for each message, resolve, connect,
//! send, read the answer, check it, close, wait the period. Every wait is a
//! deadline of the loop and every blocking call is either non-blocking or off
//! the loop thread, so SIGTERM is handled at once in every phase.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::raw::c_int;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::program::log_ignored_signal;
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

/// Where the client is in its loop.
#[derive(Debug)]
enum Phase {
    /// Waiting for the lookup with this id.
    Resolving { lookup: u64 },
    /// Non-blocking connect in progress to `addrs[index]`.
    Connecting {
        stream: TcpStream,
        addrs: Vec<SocketAddr>,
        index: usize,
    },
    /// Connected: sending the message (`sent` bytes out) and reading the answer.
    Exchanging {
        stream: TcpStream,
        sent: usize,
        answer: LineFramer,
    },
    /// Waiting: between messages, or before retrying a connect.
    Waiting { retry: bool },
    /// Nothing left to do.
    Done(ExitCode),
}

/// The echo client handler.
#[derive(Debug)]
pub struct EchoClient {
    config: ClientConfig,
    resolver: Resolver,
    phase: Phase,
    /// When the current phase must be over.
    deadline: Option<Instant>,
    /// Number of the current message, from 1.
    number: u64,
    /// The current message, `\n` included.
    message: Vec<u8>,
    /// Until when connecting the current message may be retried.
    window_ends: Instant,
    backoff: Duration,
    /// Why the last connect attempt failed, for the final `connect` line.
    last_error: String,
}

impl EchoClient {
    /// A client that starts with its first message at once (or finishes at
    /// once when `loop.amount` is 0).
    pub fn new(config: ClientConfig, waker: Arc<Waker>) -> Self {
        let now = Instant::now();
        let mut client = EchoClient {
            resolver: Resolver::new(waker),
            phase: Phase::Waiting { retry: false },
            deadline: None,
            number: 0,
            message: Vec::new(),
            window_ends: now,
            backoff: FIRST_BACKOFF,
            last_error: String::new(),
            config,
        };
        client.next_message(now);
        client
    }

    fn client_line(&self, action: &str, outcome: Outcome) -> LogLine {
        LogLine::new(action, outcome).field("client_id", &self.config.id)
    }

    /// Moves on to the next message, or finishes the loop.
    fn next_message(&mut self, now: Instant) {
        if self.number >= self.config.loop_amount {
            info!("{}", self.client_line("loop_finished", Outcome::Success));
            self.finish(ExitCode::SUCCESS);
            return;
        }
        self.number += 1;
        self.message =
            format!("[CLIENT {}] Message N°{}\n", self.config.id, self.number).into_bytes();
        self.window_ends = now + self.config.connect_window.duration;
        self.backoff = FIRST_BACKOFF;
        self.resolve(now);
    }

    fn resolve(&mut self, now: Instant) {
        let address = &self.config.server_address;
        match self.resolver.resolve(&address.host, address.port) {
            Ok(lookup) => self.enter(Phase::Resolving { lookup }, Some(self.window_ends)),
            Err(e) => self.retry_later(now, format!("cannot start name resolution: {e}")),
        }
    }

    /// Starts a non-blocking connect to `addrs[index]`, or to the next that works.
    fn connect(
        &mut self,
        registry: &Registry,
        now: Instant,
        addrs: Vec<SocketAddr>,
        mut index: usize,
    ) {
        while let Some(&addr) = addrs.get(index) {
            match TcpStream::connect(addr) {
                Ok(mut stream) => {
                    // Both interests from the start: WRITABLE says the connect
                    // finished, READABLE then brings the answer, without
                    // touching the registration in between.
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    match registry.register(&mut stream, CONNECTION, interest) {
                        Ok(()) => {
                            let phase = Phase::Connecting {
                                stream,
                                addrs,
                                index,
                            };
                            self.enter(phase, Some(self.window_ends));
                            return;
                        }
                        Err(e) => self.last_error = format!("cannot register socket: {e}"),
                    }
                }
                Err(e) => self.last_error = format!("connect to {addr} failed: {e}"),
            }
            index += 1;
        }
        let why = std::mem::take(&mut self.last_error);
        self.retry_later(now, why);
    }

    /// A connect attempt failed: wait and try again, unless the window is over.
    fn retry_later(&mut self, now: Instant, why: String) {
        if now >= self.window_ends {
            error!(
                "{}",
                self.client_line("connect", Outcome::Fail)
                    .field("error", &why)
                    .field("gave_up_after", &self.config.connect_window)
            );
            self.finish(ExitCode::FAILURE);
            return;
        }
        let until = (now + self.backoff).min(self.window_ends);
        debug!(
            "{}",
            self.client_line("connect", Outcome::InProgress)
                .field("error", &why)
                .field(
                    "retry_in",
                    format_args!("{}ms", until.duration_since(now).as_millis())
                )
        );
        self.last_error = why;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.enter(Phase::Waiting { retry: true }, Some(until));
    }

    fn enter(&mut self, phase: Phase, deadline: Option<Instant>) {
        self.phase = phase;
        self.deadline = deadline;
    }

    fn finish(&mut self, status: ExitCode) {
        self.enter(Phase::Done(status), None);
    }

    /// Leaves the current phase, deregistering its socket if it had one.
    fn take_phase(&mut self, registry: &Registry) -> Phase {
        let mut phase = std::mem::replace(&mut self.phase, Phase::Waiting { retry: false });
        if let Phase::Connecting { stream, .. } | Phase::Exchanging { stream, .. } = &mut phase {
            let _ = registry.deregister(stream);
        }
        phase
    }

    /// The connect finished, one way or the other.
    fn on_connecting(&mut self, registry: &Registry, now: Instant) {
        let Phase::Connecting { stream, .. } = &self.phase else {
            return;
        };
        let failure = match (stream.take_error(), stream.peer_addr()) {
            (Ok(Some(e)) | Err(e), _) => Some(e),
            (Ok(None), Ok(_)) => None,
            (Ok(None), Err(e)) if e.kind() == io::ErrorKind::NotConnected => return, // not yet
            (Ok(None), Err(e)) => Some(e),
        };
        if let Some(e) = failure {
            let Phase::Connecting { addrs, index, .. } = self.take_phase(registry) else {
                return;
            };
            self.last_error = format!("connect to {} failed: {e}", addrs[index]);
            self.connect(registry, now, addrs, index + 1);
            return;
        }
        // Connected: the stream stays registered as it is.
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting { retry: false });
        let Phase::Connecting { stream, .. } = phase else {
            self.phase = phase;
            return;
        };
        let phase = Phase::Exchanging {
            stream,
            sent: 0,
            answer: LineFramer::new(MAX_ANSWER),
        };
        self.enter(phase, Some(now + self.config.response_timeout.duration));
        self.on_exchanging(registry, now);
    }

    /// Writes what is left of the message and reads what there is of the answer.
    fn on_exchanging(&mut self, registry: &Registry, now: Instant) {
        let Phase::Exchanging {
            stream,
            sent,
            answer,
        } = &mut self.phase
        else {
            return;
        };
        let result = exchange(stream, &self.message, sent, answer);
        match result {
            Ok(None) => {}
            Ok(Some(answer)) => {
                self.take_phase(registry);
                self.check_answer(now, answer);
            }
            Err(why) => {
                self.take_phase(registry);
                self.answer_failed(why);
            }
        }
    }

    fn check_answer(&mut self, now: Instant, answer: Vec<u8>) {
        if answer != self.message {
            error!(
                "{}",
                self.client_line("receive_message", Outcome::Fail)
                    .field("error", "answer differs from the message sent")
                    .bytes("answer", &answer)
            );
            self.finish(ExitCode::FAILURE);
            return;
        }
        info!(
            "{}",
            self.client_line("receive_message", Outcome::Success)
                .bytes("msg", answer.strip_suffix(b"\n").unwrap_or(&answer))
        );
        if self.number >= self.config.loop_amount {
            self.next_message(now);
        } else {
            let until = now + self.config.loop_period.duration;
            self.enter(Phase::Waiting { retry: false }, Some(until));
        }
    }

    fn answer_failed(&mut self, why: String) {
        error!(
            "{}",
            self.client_line("receive_message", Outcome::Fail)
                .field("error", why)
        );
        self.finish(ExitCode::FAILURE);
    }
}

/// Advances one exchange: `Ok(Some(answer))` once the whole answer is in,
/// `Ok(None)` when the socket would block, `Err` with the reason otherwise.
fn exchange(
    stream: &mut TcpStream,
    message: &[u8],
    sent: &mut usize,
    answer: &mut LineFramer,
) -> Result<Option<Vec<u8>>, String> {
    while *sent < message.len() {
        match stream.write(&message[*sent..]) {
            Ok(0) => return Err("connection closed while sending".into()),
            Ok(n) => *sent += n,
            Err(e) if would_block(&e) => break,
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(format!("send failed: {e}")),
        }
    }
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                return answer
                    .finish()
                    .map(Some)
                    .ok_or_else(|| "server closed the connection without answering".to_owned())
            }
            Ok(n) => {
                answer
                    .push(&buf[..n])
                    .map_err(|e| format!("answer too long: {e}"))?;
                if let Some(line) = answer.next_message() {
                    return Ok(Some(line));
                }
            }
            Err(e) if would_block(&e) => return Ok(None),
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(format!("receive failed: {e}")),
        }
    }
}

impl Handler for EchoClient {
    type Outcome = ExitCode;

    fn on_ready(&mut self, registry: &Registry, event: &Event) {
        if event.token() != CONNECTION {
            return;
        }
        let now = Instant::now();
        match self.phase {
            Phase::Connecting { .. } => self.on_connecting(registry, now),
            Phase::Exchanging { .. } => self.on_exchanging(registry, now),
            _ => {} // a stale event for a socket already closed
        }
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
        if let Phase::Connecting { stream, .. } | Phase::Exchanging { stream, .. } =
            self.take_phase(registry)
        {
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
        self.finish(ExitCode::SUCCESS);
    }

    fn on_ignored_signal(&mut self, signal: c_int, reason: &str) {
        log_ignored_signal(self.client_line("signal", Outcome::Success), signal, reason);
    }

    fn on_wake(&mut self, registry: &Registry) {
        let now = Instant::now();
        while let Some((id, answer)) = self.resolver.try_answer() {
            if !matches!(self.phase, Phase::Resolving { lookup } if lookup == id) {
                continue; // an answer nobody waits for any more
            }
            match answer {
                Ok(addrs) if !addrs.is_empty() => self.connect(registry, now, addrs, 0),
                Ok(_) => self.retry_later(now, "name has no address".into()),
                Err(e) => self.retry_later(
                    now,
                    format!("cannot resolve {}: {e}", self.config.server_address.host),
                ),
            }
        }
    }

    fn on_timers(&mut self, registry: &Registry, now: Instant) {
        if self.deadline.is_none_or(|deadline| deadline > now) {
            return;
        }
        self.deadline = None;
        match self.take_phase(registry) {
            Phase::Resolving { .. } => self.retry_later(
                now,
                format!("resolving {} timed out", self.config.server_address.host),
            ),
            Phase::Connecting { addrs, index, .. } => {
                // Report the last real failure (refused, unreachable) if there was one.
                let why = match std::mem::take(&mut self.last_error) {
                    last if last.is_empty() => format!("connect to {} timed out", addrs[index]),
                    last => last,
                };
                self.retry_later(now, why)
            }
            Phase::Exchanging { .. } => {
                self.answer_failed(format!("no answer within {}", self.config.response_timeout))
            }
            Phase::Waiting { retry: true } => self.resolve(now),
            Phase::Waiting { retry: false } => self.next_message(now),
            Phase::Done(status) => self.finish(status),
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn finished(&mut self) -> Option<ExitCode> {
        match self.phase {
            Phase::Done(status) => Some(status),
            _ => None,
        }
    }
}
