//! The real server binary against misbehaving peers over loopback: floods,
//! tricklers, peers that never read, resets, descriptor exhaustion, the
//! connection cap and a connection storm. Each test asserts bytes on the
//! wire, log lines and, where it matters, a resource figure of the server
//! process read from `/proc`, with generous bounds.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use testkit::{
    binary, connect, cpu_time, exchange, limit_receive_buffer, open_fds, raise_fd_limit,
    read_to_end, reset_on_close, rss_bytes, scratch_dir, start_server, wait_until, Program,
    PATIENCE, SECOND,
};

const MIB: usize = 1024 * 1024;

/// One exchange that must be echoed; returns how long it took, connect included.
fn timed_echo(port: u16, message: &[u8]) -> Duration {
    let start = Instant::now();
    assert_eq!(exchange(port, message), message, "echo of {message:?}");
    start.elapsed()
}

/// The connection was torn down by the other side rather than closed cleanly.
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Reads until the server closes, cleanly or with a reset; a timeout means
/// the connection was left hanging and fails the test.
fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Option<io::Error>) {
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (received, None),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_reset(&e) => return (received, Some(e)),
            Err(e) => panic!(
                "connection neither answered nor closed ({e}) after {} bytes",
                received.len()
            ),
        }
    }
}

/// Position of the first output line containing all of `parts`.
fn line_index(server: &Program, parts: &[&str]) -> Option<usize> {
    server
        .lines()
        .iter()
        .position(|l| parts.iter().all(|p| l.contains(p)))
}

/// Asserts the server is alive and never panicked.
/// The server under a descriptor limit of `limit` (through `prlimit`), with
/// a connection cap far above it so that accept really runs out, once it
/// listens.
fn server_with_fd_limit(limit: u32, extra: &[(&str, &str)]) -> (Program, u16) {
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--nofile={limit}:{limit}"))
        .arg("--")
        .arg(binary("server"))
        .current_dir(scratch_dir("faults-emfile"))
        .env_clear()
        .env("SERVER_PORT", "0")
        .env("SERVER_MAX_CONNECTIONS", "1000")
        .env("SERVER_LISTEN_BACKLOG", "128")
        .env("SERVER_READ_TIMEOUT", "60s")
        .envs(extra.iter().copied());
    let server = Program::spawn("server", command);
    let port = server.listen_port(PATIENCE);
    (server, port)
}

/// Reads `expected`, then a clean EOF: a reset instead fails the test.
fn assert_echo_then_clean_eof(
    stream: &mut TcpStream,
    expected: &[u8],
    round: impl std::fmt::Display,
) {
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => assert_eq!(answer, expected, "round {round}"),
        Err(e) => panic!(
            "round {round}: {e} after reading {:?} instead of a clean EOF",
            String::from_utf8_lossy(&answer)
        ),
    }
}

/// Waits (bounded) until the server holds no more descriptors than before.
fn assert_fds_back_to(pid: u32, baseline: usize) {
    assert!(
        wait_until(PATIENCE, || open_fds(pid) <= baseline),
        "server holds {} fds, {baseline} before",
        open_fds(pid)
    );
}

fn assert_healthy(server: &mut Program) {
    assert!(
        server.running(),
        "server exited:\n{}",
        server.lines().join("\n")
    );
    assert!(
        server.lines_with(&["panicked"]).is_empty(),
        "{}",
        server.lines().join("\n")
    );
}

/// Streams up to `total` bytes without a `\n`, then reads what comes back.
/// Returns the bytes the kernel took before the server cut the connection.
fn stream_without_newline(port: u16, total: usize) -> usize {
    let mut stream = connect(port);
    let chunk = vec![b'x'; 64 * 1024];
    let mut written = 0;
    while written < total {
        match stream.write(&chunk) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_reset(&e) => break,
            Err(e) => panic!("streaming peer: unexpected write error {e} after {written} bytes"),
        }
    }
    let (answer, _) = read_until_closed(&mut stream);
    assert!(
        answer.is_empty(),
        "an oversized message is not echoed ({} bytes came back)",
        answer.len()
    );
    written
}

#[test]
fn oversized_streams_are_cut_while_memory_stays_flat_and_others_are_served() {
    const PEERS: usize = 10;
    const PER_PEER: usize = 5 * MIB;
    let (mut server, port) = start_server(&[]);
    let pid = server.pid();
    // Warm up allocator and buffers before taking the baseline.
    timed_echo(port, b"warm up\n");
    let baseline = rss_bytes(pid);

    let floods: Vec<_> = (0..PEERS)
        .map(|_| thread::spawn(move || stream_without_newline(port, PER_PEER)))
        .collect();
    // Normal exchanges while the floods are in flight.
    for i in 0..5 {
        let took = timed_echo(port, format!("meanwhile {i}\n").as_bytes());
        assert!(took < 2 * SECOND, "exchange {i} took {took:?}");
    }
    let streamed: usize = floods.into_iter().map(|f| f.join().unwrap()).sum();

    let cut = server.wait_lines(
        &[
            "action: receive_message | result: fail | ip: 127.0.0.1 | error: message longer than 65536 bytes",
        ],
        PEERS,
        PATIENCE,
    );
    assert_eq!(
        cut.len(),
        PEERS,
        "one fail line per oversized peer: {cut:?}"
    );
    server.wait_lines(
        &[
            "action: receive_message | result: success",
            "msg: meanwhile",
        ],
        5,
        PATIENCE,
    );
    timed_echo(port, b"after the floods\n");
    let growth = rss_bytes(pid).saturating_sub(baseline);
    eprintln!(
        "peers pushed {} MiB; server RSS {} KiB before, grew {} KiB",
        streamed / MIB,
        baseline / 1024,
        growth / 1024
    );
    assert!(
        growth < 8 * MIB as u64,
        "server RSS grew by {} KiB after peers pushed {} MiB without a newline",
        growth / 1024,
        streamed / MIB
    );
    assert_healthy(&mut server);
}

#[test]
fn trickling_peer_is_cut_at_the_total_read_deadline() {
    let (mut server, port) = start_server(&[("SERVER_READ_TIMEOUT", "1s")]);
    let mut stream = connect(port);
    let start = Instant::now();
    let mut writer = stream.try_clone().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let trickle = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            // One byte every 200 ms, never a `\n`, for at most 10 s.
            for _ in 0..50 {
                if done.load(Ordering::Relaxed) || writer.write_all(b"t").is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let (answer, _) = read_until_closed(&mut stream);
    let took = start.elapsed();
    eprintln!("trickling connection closed after {took:?}");
    done.store(true, Ordering::Relaxed);
    trickle.join().unwrap();
    assert!(answer.is_empty(), "{answer:?}");
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(2500),
        "closed after {took:?}: the 1s deadline is for the whole message, not per byte"
    );
    server.wait_line(
        &[
            "action: receive_message | result: fail | ip: 127.0.0.1",
            "error: no complete message within 1s",
        ],
        PATIENCE,
    );
    timed_echo(port, b"still serving\n");
    assert_healthy(&mut server);
}

#[test]
fn two_hundred_tricklers_do_not_delay_a_normal_exchange() {
    const TRICKLERS: usize = 200;
    let (mut server, port) = start_server(&[("SERVER_LISTEN_BACKLOG", "256")]);
    let mut tricklers: Vec<TcpStream> = (0..TRICKLERS).map(|_| connect(port)).collect();
    server.wait_lines(
        &["action: accept_connections | result: success"],
        TRICKLERS,
        PATIENCE,
    );
    let done = Arc::new(AtomicBool::new(false));
    let trickle = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            // One byte per connection per second, for at most 4 s.
            for _ in 0..4 {
                let round = Instant::now();
                for stream in &mut tricklers {
                    let _ = stream.write_all(b"t");
                }
                while round.elapsed() < SECOND {
                    if done.load(Ordering::Relaxed) {
                        return tricklers;
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            }
            tricklers
        })
    };
    let mut latencies = Vec::new();
    for i in 0..12 {
        latencies.push(timed_echo(port, format!("prompt {i}\n").as_bytes()));
        thread::sleep(Duration::from_millis(200)); // pacing across the trickle rounds
    }
    done.store(true, Ordering::Relaxed);
    let tricklers = trickle.join().unwrap();
    let slowest = latencies.iter().max().unwrap();
    eprintln!("exchange latencies with {TRICKLERS} tricklers: {latencies:?}");
    assert!(
        *slowest < Duration::from_millis(500),
        "with {TRICKLERS} tricklers open, exchanges took {latencies:?}"
    );
    assert!(
        server.lines_with(&["result: fail"]).is_empty(),
        "the tricklers are still within their read deadline: {:?}",
        server.lines_with(&["result: fail"])
    );
    drop(tricklers);
    assert_healthy(&mut server);
}

#[test]
fn peer_that_never_reads_its_echo_is_dropped_while_others_are_served() {
    let (mut server, port) = start_server(&[
        ("SERVER_MAX_MESSAGE_BYTES", "33554432"),
        ("SERVER_WRITE_TIMEOUT", "1s"),
    ]);
    let pid = server.pid();
    timed_echo(port, b"warm up\n");
    let baseline_fds = open_fds(pid);

    let mut stuck = connect(port);
    limit_receive_buffer(&stuck, 64 * 1024);
    let mut line = vec![b'y'; 16 * MIB];
    line.push(b'\n');
    let line_len = line.len();
    let mut writer = stuck.try_clone().unwrap();
    // The server reads the whole line, so this completes; then it is stuck
    // writing an echo nobody reads.
    thread::spawn(move || writer.write_all(&line).expect("send the big line"))
        .join()
        .unwrap();
    // The loop must not block on that write: others are answered meanwhile.
    for i in 0..3 {
        let took = timed_echo(port, format!("not blocked {i}\n").as_bytes());
        assert!(took < SECOND, "exchange {i} took {took:?}");
    }
    let fail = server.wait_line(
        &[
            "action: send_message | result: fail | ip: 127.0.0.1",
            "error: peer did not take its echo within 1s",
        ],
        PATIENCE,
    );
    let served = line_index(&server, &["result: success", "msg: not blocked 0"])
        .expect("the normal exchange is logged");
    let failed = line_index(&server, &[&fail]).unwrap();
    assert!(
        served < failed,
        "a normal exchange was answered while the big echo was pending"
    );
    // The stuck connection is closed: what the kernel had buffered, then the end.
    let (answer, _) = read_until_closed(&mut stuck);
    assert!(
        answer.len() < line_len,
        "got the whole {line_len}-byte echo although it was never read in time"
    );
    assert!(
        answer.iter().all(|&b| b == b'y'),
        "the echo prefix is byte-exact"
    );
    drop(stuck);
    assert_fds_back_to(pid, baseline_fds);
    assert_healthy(&mut server);
}

#[test]
fn peer_reset_closes_only_that_connection() {
    let (mut server, port) = start_server(&[]);
    let pid = server.pid();
    timed_echo(port, b"warm up\n");
    let baseline_fds = open_fds(pid);
    let mut accepted = 1;
    for i in 0..10 {
        // Half a line, then an abortive close (RST) once the server has it.
        let mut half = connect(port);
        half.write_all(b"half a li").unwrap();
        accepted += 1;
        server.wait_lines(
            &["action: accept_connections | result: success"],
            accepted,
            PATIENCE,
        );
        reset_on_close(&half);
        drop(half);
        // A reset straight after connecting, nothing sent.
        let silent = connect(port);
        accepted += 1;
        server.wait_lines(
            &["action: accept_connections | result: success"],
            accepted,
            PATIENCE,
        );
        reset_on_close(&silent);
        drop(silent);
        // A whole line, then a reset instead of reading the echo.
        let mut rude = connect(port);
        rude.write_all(format!("rude {i}\n").as_bytes()).unwrap();
        reset_on_close(&rude);
        drop(rude);
        accepted += 1;
        // Everyone else is still served.
        let message = format!("after reset {i}\n");
        timed_echo(port, message.as_bytes());
        accepted += 1;
    }
    server.wait_lines(&["msg: after reset 9"], 1, PATIENCE);
    assert!(
        server.lines_with(&["msg: half a li"]).is_empty(),
        "an unfinished message cut by a reset is not a message"
    );
    // A reset cuts the read of the message or the write of its echo.
    for fail in server.lines_with(&["result: fail"]) {
        assert!(
            ["receive_message", "send_message"]
                .iter()
                .any(|action| fail.contains(&format!(
                    "action: {action} | result: fail | ip: 127.0.0.1 | error: "
                ))),
            "{fail}"
        );
    }
    assert_fds_back_to(pid, baseline_fds);
    assert_healthy(&mut server);
}

#[test]
fn peer_that_shuts_its_write_side_at_once_gets_its_echo() {
    // What busybox `nc` does: send, shut down the write side, read.
    let (mut server, port) = start_server(&[]);
    for i in 0..50 {
        let mut stream = connect(port);
        let message = if i % 2 == 0 {
            format!("nc line {i}\n")
        } else {
            format!("nc no newline {i}")
        };
        stream.write_all(message.as_bytes()).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&mut stream), message.as_bytes(), "round {i}");
    }
    assert!(server.lines_with(&["result: fail"]).is_empty());
    assert_healthy(&mut server);
}

#[test]
fn two_lines_in_one_write_give_the_first_then_a_clean_eof() {
    let (mut server, port) = start_server(&[]);
    for i in 0..200 {
        let mut stream = connect(port);
        stream.write_all(b"first\nsecond\n").unwrap();
        assert_echo_then_clean_eof(&mut stream, b"first\n", i);
    }
    server.wait_lines(
        &["action: receive_message | result: success | ip: 127.0.0.1 | msg: first"],
        200,
        PATIENCE,
    );
    assert!(server.lines_with(&["msg: second"]).is_empty());
    assert_healthy(&mut server);
}

#[test]
fn line_arriving_after_the_echo_still_ends_in_a_clean_eof() {
    // The second line reaches the server only after the echo is logged,
    // i.e. after the server has sent its FIN: the peer still reads its echo
    // and a clean EOF.
    let (mut server, port) = start_server(&[]);
    for i in 1..=20 {
        let mut stream = connect(port);
        stream.write_all(format!("first {i}\n").as_bytes()).unwrap();
        server.wait_line(&["result: success", &format!("msg: first {i}")], PATIENCE);
        // The server may already be gone: a failed write is fine, a lost echo is not.
        let _ = stream.write_all(b"second\n");
        assert_echo_then_clean_eof(&mut stream, format!("first {i}\n").as_bytes(), i);
    }
    assert_healthy(&mut server);
}

#[test]
fn back_to_back_second_line_never_turns_the_close_into_a_reset() {
    // A peer's second line may land at any moment around the end of the
    // exchange; were the server to close with it unread, the kernel would
    // send RST instead of FIN: the peer would read its echo, then
    // ECONNRESET (and on a lossy network the reset can destroy an echo still
    // in flight). Sweep the gap between the two writes over a few
    // microseconds to land in every window.
    let (mut server, port) = start_server(&[]);
    for i in 0..3_000 {
        let mut stream = connect(port);
        stream.write_all(b"first\n").unwrap();
        // Sweep the gap between the writes across the server's window.
        let gap = Instant::now();
        while gap.elapsed() < Duration::from_micros((i % 40) * 5) {}
        stream.write_all(b"second\n").unwrap();
        assert_echo_then_clean_eof(&mut stream, b"first\n", i);
    }
    assert_healthy(&mut server);
}

#[test]
fn out_of_descriptors_the_server_pauses_instead_of_spinning_and_recovers() {
    const IDLE: usize = 100;
    let (mut server, port) = server_with_fd_limit(64, &[]);
    server.wait_line(
        &["action: config | result: success", "max_connections: 1000"],
        PATIENCE,
    );
    server.wait_line(&["action: listen | result: success"], PATIENCE);
    let pid = server.pid();

    let idle: Vec<TcpStream> = (0..IDLE).map(|_| connect(port)).collect();
    let first = server.wait_line(&["action: accept_connections | result: fail"], PATIENCE);
    assert!(
        first.contains("Too many open files") || first.contains("os error 24"),
        "{first}"
    );
    let accepted = server
        .lines_with(&["action: accept_connections | result: success"])
        .len();
    assert!(accepted < IDLE && accepted > 20, "accepted {accepted}");

    // A measurement window, not a wait for a condition: the server must stay
    // quiet while the listen queue holds connections it cannot take.
    let fails_before = server
        .lines_with(&["action: accept_connections | result: fail"])
        .len();
    let cpu_before = cpu_time(pid);
    let start = Instant::now();
    thread::sleep(2 * SECOND);
    let cpu = cpu_time(pid).saturating_sub(cpu_before);
    let window = start.elapsed();
    let fails = server
        .lines_with(&["action: accept_connections | result: fail"])
        .len()
        - fails_before;
    assert!(
        cpu < Duration::from_millis(500),
        "server used {cpu:?} of CPU in {window:?} while out of descriptors"
    );
    let allowed = (window.as_secs_f64() * 3.0).ceil() as usize + 1;
    eprintln!("{accepted} accepted; in {window:?}: {cpu:?} CPU, {fails} accept failure lines");
    assert!(
        fails <= allowed,
        "{fails} accept failure lines in {window:?} (at most {allowed})"
    );
    assert!(server.running());

    drop(idle);
    let took = timed_echo(port, b"served again\n");
    assert!(took < 5 * SECOND, "took {took:?}");
    assert_healthy(&mut server);
}

#[test]
fn at_the_connection_cap_a_newcomer_waits_for_a_free_slot() {
    let (mut server, port) = start_server(&[
        ("SERVER_MAX_CONNECTIONS", "2"),
        ("SERVER_LISTEN_BACKLOG", "16"),
    ]);
    let first_idle = connect(port);
    let _second_idle = connect(port);
    server.wait_lines(
        &["action: accept_connections | result: success"],
        2,
        PATIENCE,
    );
    let mut third = connect(port);
    third.write_all(b"third\n").unwrap();
    // A bounded observation: no answer while both slots are taken.
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    match third.read(&mut buf) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("expected no answer yet, got {other:?}"),
    }
    assert_eq!(
        server
            .lines_with(&["action: accept_connections | result: success"])
            .len(),
        2
    );
    third.set_read_timeout(Some(PATIENCE)).unwrap();
    let freed = Instant::now();
    drop(first_idle);
    assert_eq!(read_to_end(&mut third), b"third\n");
    let took = freed.elapsed();
    assert!(took < SECOND, "echo came {took:?} after a slot freed");
    server.wait_line(&["result: success", "msg: third"], PATIENCE);
    assert_healthy(&mut server);
}

/// What became of one flood connection.
#[derive(Debug, PartialEq, Eq)]
enum Fate {
    Echoed,
    /// Refused or reset by the server: an acceptable, prompt refusal.
    Refused,
    /// Anything else: wrong bytes, a timeout (a hang), an odd error.
    Wrong(String),
}

fn flood_worker(addr: SocketAddr, first: usize, count: usize) -> Vec<Fate> {
    let mut open = Vec::with_capacity(count);
    let mut fates = Vec::new();
    for i in first..first + count {
        let message = format!("flood {i}\n").into_bytes();
        let attempt = TcpStream::connect_timeout(&addr, PATIENCE).and_then(|mut stream| {
            stream.set_read_timeout(Some(PATIENCE))?;
            stream.set_write_timeout(Some(PATIENCE))?;
            stream.write_all(&message)?;
            Ok(stream)
        });
        match attempt {
            Ok(stream) => open.push((stream, message)),
            Err(e) if is_reset(&e) || e.kind() == io::ErrorKind::ConnectionRefused => {
                fates.push(Fate::Refused)
            }
            Err(e) => fates.push(Fate::Wrong(format!("connect/send: {e}"))),
        }
    }
    for (mut stream, message) in open {
        let mut answer = Vec::new();
        fates.push(match stream.read_to_end(&mut answer) {
            Ok(_) if answer == message => Fate::Echoed,
            Ok(_) => Fate::Wrong(format!("answer {answer:?} to {message:?}")),
            Err(e) if is_reset(&e) => Fate::Refused,
            Err(e) => Fate::Wrong(format!("read: {e}")),
        });
    }
    fates
}

#[test]
fn flood_of_two_thousand_connections_is_served_and_every_descriptor_returned() {
    const CONNECTIONS: usize = 2000;
    const WORKERS: usize = 8;
    let limit = raise_fd_limit(8192);
    if limit < 2 * CONNECTIONS as u64 + 200 {
        eprintln!(
            "skipped: the fd limit is {limit}, the flood needs about {}",
            2 * CONNECTIONS + 200
        );
        return;
    }
    let (mut server, port) = start_server(&[("SERVER_LISTEN_BACKLOG", "128")]);
    let pid = server.pid();
    timed_echo(port, b"warm up\n");
    let baseline_fds = open_fds(pid);

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    let per_worker = CONNECTIONS / WORKERS;
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| thread::spawn(move || flood_worker(addr, w * per_worker, per_worker)))
        .collect();
    let fates: Vec<Fate> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let took = start.elapsed();
    assert_eq!(fates.len(), CONNECTIONS);
    let wrong: Vec<&Fate> = fates
        .iter()
        .filter(|f| matches!(f, Fate::Wrong(_)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} went wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    let echoed = fates.iter().filter(|f| **f == Fate::Echoed).count();
    eprintln!("{echoed} of {CONNECTIONS} echoed, the rest refused or reset, in {took:?}");
    assert!(
        echoed >= CONNECTIONS / 2,
        "only {echoed} of {CONNECTIONS} were echoed"
    );
    assert!(took < Duration::from_secs(30), "the flood took {took:?}");
    assert_fds_back_to(pid, baseline_fds);
    timed_echo(port, b"after the flood\n");
    assert_healthy(&mut server);
}

#[test]
fn odd_bytes_are_echoed_exactly_and_logged_on_one_escaped_line() {
    let (mut server, port) = start_server(&[]);
    let messages: [&[u8]; 7] = [
        b"a|b\r\n",
        "x\u{2028}y\u{2029}\u{202e}z\u{2066}\u{feff}\n".as_bytes(),
        b"c\\d\te\n",
        b"\xff\xfe\n",
        b"\0\n",
        b"\r\n",
        b"\n",
    ];
    for message in messages {
        assert_eq!(exchange(port, message), message);
    }
    let received = server.wait_lines(
        &["action: receive_message | result: success"],
        messages.len(),
        PATIENCE,
    );
    let expected_ends = [
        "| msg: a\\x7cb\\r",
        "| msg: x\\u{2028}y\\u{2029}\\u{202e}z\\u{2066}\\u{feff}",
        "| msg: c\\\\d\\te",
        "| msg: \\xff\\xfe",
        "| msg: \\u{0}",
        "| msg: \\r",
        "| msg: ",
    ];
    for (line, end) in received.iter().zip(expected_ends) {
        assert!(line.ends_with(end), "{line:?} should end with {end:?}");
        assert_eq!(line.matches(" | ").count(), 3, "{line:?}");
    }
    // Every line the server wrote is a whole log line: nothing was split,
    // not even by a reader that breaks lines at U+2028 / U+2029.
    for line in server.lines() {
        assert!(!line.contains(['\u{2028}', '\u{2029}']), "{line:?}");
        let stamp = line.get(..20).unwrap_or("");
        assert!(
            stamp.len() == 20 && stamp.as_bytes()[4] == b'-' && stamp.as_bytes()[13] == b':',
            "not a log line: {line:?}"
        );
    }
    assert_healthy(&mut server);
}

#[test]
fn out_of_descriptors_at_shutdown_the_queued_messages_are_still_echoed() {
    // Idle connections hold every descriptor; messages wait in the listen
    // queue; SIGTERM closes the idle ones first, which frees descriptors
    // for the queued ones: all get their echo.
    let (mut server, port) = server_with_fd_limit(48, &[("SERVER_SHUTDOWN_GRACE", "2s")]);
    let _idle: Vec<TcpStream> = (0..60).map(|_| connect(port)).collect();
    server.wait_line(&["action: accept_connections | result: fail"], PATIENCE);
    let mut queued: Vec<(TcpStream, Vec<u8>)> = (0..10)
        .map(|i| {
            let mut stream = connect(port);
            let message = format!("queued {i}\n").into_bytes();
            stream.write_all(&message).unwrap();
            (stream, message)
        })
        .collect();
    server.signal(libc::SIGTERM);
    for (stream, message) in &mut queued {
        assert_eq!(&read_to_end(stream), message);
    }
    let (status, _) = server.wait_exit(PATIENCE);
    assert!(status.success(), "{status:?}");
}

#[test]
fn freed_slots_at_the_cap_with_a_long_queue_of_quick_peers_do_not_exhaust_the_stack() {
    // At a cap of one, every queued peer that sends its line and shuts its
    // write side at once frees the slot as soon as it is served; thousands
    // of them waiting in the listen queue are served one after the other,
    // never by recursion.
    const PEERS: usize = 4000;
    raise_fd_limit(PEERS as u64 + 256);
    let (mut server, port) = start_server(&[
        ("SERVER_MAX_CONNECTIONS", "1"),
        ("SERVER_LISTEN_BACKLOG", "4096"),
    ]);
    let pid = libc::pid_t::try_from(server.pid()).unwrap();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let mut peers: Vec<TcpStream> = (0..PEERS)
        .map(|_| {
            let mut stream = connect(port);
            stream.write_all(b"x\n").unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            stream
        })
        .collect();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    for stream in &mut peers {
        assert_eq!(read_to_end(stream), b"x\n");
    }
    assert_healthy(&mut server);
}
