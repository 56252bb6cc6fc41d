//! Fairness of the real server's loop: a persistent peer that pipelines
//! messages as fast as the kernel takes them keeps its socket readable for
//! good, yet a newcomer is answered at once, a signal is honoured at once,
//! and with stderr a file every echo's log line is written.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use testkit::{
    connect, file_lines_with, parse_line, read_first_line, scratch_dir, server_with_file_stderr,
    wait_until, PATIENCE, SIGTERM,
};

/// A persistent peer that writes `x\n` back to back, 64 KiB at a time, on
/// one thread and reads its echoes on another, until told to stop or the
/// server closes.
struct Pipeliner {
    stop: Arc<AtomicBool>,
    /// Echoes read back so far (two bytes each).
    echoes: Arc<AtomicUsize>,
    writer: JoinHandle<()>,
    reader: JoinHandle<()>,
}

impl Pipeliner {
    fn start(port: u16) -> Pipeliner {
        let stream = connect(port);
        let mut writer = stream.try_clone().unwrap();
        let mut reader = stream;
        let stop = Arc::new(AtomicBool::new(false));
        let echoes = Arc::new(AtomicUsize::new(0));
        let writer = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let burst = b"x\n".repeat(32 * 1024);
                while !stop.load(Ordering::Relaxed) && writer.write_all(&burst).is_ok() {}
                let _ = writer.shutdown(std::net::Shutdown::Write);
            })
        };
        let reader = {
            let echoes = Arc::clone(&echoes);
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut bytes = 0;
                while let Ok(n @ 1..) = reader.read(&mut buf) {
                    bytes += n;
                    echoes.store(bytes / 2, Ordering::Relaxed);
                }
            })
        };
        Pipeliner {
            stop,
            echoes,
            writer,
            reader,
        }
    }

    fn echoes(&self) -> usize {
        self.echoes.load(Ordering::Relaxed)
    }

    /// Stops sending, waits until the server has closed the connection;
    /// returns the echoes read.
    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.writer.join().unwrap();
        self.reader.join().unwrap();
        self.echoes.load(Ordering::Relaxed)
    }
}

/// Time from connecting to the first echo of a newcomer's one message.
fn newcomer_latency(port: u16, message: &[u8]) -> Duration {
    let start = Instant::now();
    let mut stream: TcpStream = connect(port);
    stream.write_all(message).unwrap();
    let echo = read_first_line(&mut stream);
    let took = start.elapsed();
    assert_eq!(echo, message, "the newcomer's echo, after {took:?}");
    took
}

#[test]
fn a_pipelining_peer_does_not_hold_back_a_newcomer_the_shutdown_or_a_log_line() {
    // Serving the pipeliner until its socket would block took seconds per
    // event (3-6 s for a newcomer's echo, 2.5-6 s for SIGTERM); a bounded
    // share per event costs a newcomer at most a turn of the loop.
    const NEWCOMER_BOUND: Duration = Duration::from_millis(100);
    const GRACE: Duration = Duration::from_millis(500);
    const EXIT_BOUND: Duration = Duration::from_millis(500 + 1000);
    let log = scratch_dir("server-fairness").join("stderr.log");
    let (mut server, port) =
        server_with_file_stderr(&log, &[("SERVER_MESSAGES_PER_CONNECTION", "0")]);
    let pipeliner = Pipeliner::start(port);
    assert!(
        wait_until(PATIENCE, || pipeliner.echoes() >= 20_000),
        "the pipeliner got {} echoes",
        pipeliner.echoes()
    );
    let latencies: Vec<Duration> = (0..3)
        .map(|i| newcomer_latency(port, format!("newcomer {i}\n").as_bytes()))
        .collect();
    let before_signal = pipeliner.echoes();
    let (status, exit_took) = server.stop_with(SIGTERM, PATIENCE);
    let echoes = pipeliner.finish();
    eprintln!(
        "newcomers echoed after {latencies:?}; SIGTERM to exit {exit_took:?}; \
         {before_signal} echoes before the signal, {echoes} in all"
    );
    assert!(status.success(), "{status:?}");
    assert!(
        latencies.iter().all(|&took| took < NEWCOMER_BOUND),
        "beside a pipelining peer, newcomers were echoed after {latencies:?}"
    );
    assert!(
        exit_took < EXIT_BOUND,
        "SIGTERM to exit took {exit_took:?}, the grace is {GRACE:?}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("dropped_lines"), "log lines were dropped");
    assert!(text.lines().all(|line| parse_line(line).is_some()));
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.contains("action: shutdown | result: success"),
        "the last line is {last:?}"
    );
    // Every echo the peer read was logged (the server logs an echo once it
    // is written whole).
    let logged = text.lines().filter(|l| l.ends_with("| msg: x")).count();
    assert!(logged >= echoes, "{echoes} echoes read, {logged} logged");
    assert_eq!(file_lines_with(&log, &["| msg: newcomer "]), 3);
}
