//! The real server under `SERVER_MAX_BUFFERED_BYTES`: many peers holding
//! partial messages, or owed echoes they never read, cannot make it buffer
//! much more than the budget, a short message is still served meanwhile, a
//! parked message is read once memory frees, and a parked peer still meets
//! its read deadline.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use testkit::{
    connect, exchange, in_net_namespace_of, open_fds, raise_fd_limit, read_first_line, read_to_end,
    reset_on_close, rss_bytes, start_server, start_server_in_net_namespace, wait_until, Program,
    PATIENCE, SIGTERM,
};

/// Thousands of peers connecting and parking take far longer than one
/// exchange: the bound for them is wider.
const CROWD_PATIENCE: Duration = Duration::from_secs(30);
const MIB: u64 = 1024 * 1024;

/// One exchange that must be echoed; returns how long it took, connect included.
fn timed_echo(port: u16, message: &[u8]) -> Duration {
    let start = Instant::now();
    assert_eq!(exchange(port, message), message, "echo of {message:?}");
    start.elapsed()
}

/// Bytes the server has not read yet on its end of `peer`'s connection
/// (the Recv-Q column `ss` shows for it).
fn unread_by_server(port: u16, peer: &TcpStream) -> usize {
    let peer_port = peer.local_addr().unwrap().port();
    let out = Command::new("ss")
        .args([
            "-Htn",
            "state",
            "established",
            &format!("sport = :{port} and dport = :{peer_port}"),
        ])
        .output()
        .expect("ss (iproute2) is installed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no server socket for peer port {peer_port}"))
}

/// A peer that has sent `bytes` and waits until the server has read them all.
fn peer_read_in_full(port: u16, bytes: &[u8]) -> TcpStream {
    let mut stream = connect(port);
    stream.write_all(bytes).unwrap();
    assert!(
        wait_until(CROWD_PATIENCE, || unread_by_server(port, &stream) == 0),
        "the server left {} bytes unread with room in its budget",
        unread_by_server(port, &stream)
    );
    stream
}

fn assert_healthy(server: &mut Program) {
    assert!(server.running(), "{}", server.lines().join("\n"));
    assert!(
        server.lines_with(&["panicked"]).is_empty(),
        "{}",
        server.lines().join("\n")
    );
}

#[test]
fn two_thousand_partial_messages_stay_within_the_budget_while_others_are_served() {
    const PEERS: usize = 2000;
    const PER_PEER: usize = 64 * 1024;
    const BUDGET: u64 = 16 * MIB;
    /// Above the budget: the privileged reader, each peer's guaranteed
    /// kilobyte and allocator slack, connection state, the log buffer.
    const OVERHEAD: u64 = 24 * MIB;
    let limit = raise_fd_limit(8192);
    if limit < PEERS as u64 + 256 {
        eprintln!(
            "skipped: the fd limit is {limit}, the test needs {}",
            PEERS + 256
        );
        return;
    }
    let (mut server, port) = start_server(&[
        ("SERVER_MAX_BUFFERED_BYTES", "16777216"),
        ("SERVER_MAX_CONNECTIONS", "4096"),
        ("SERVER_LISTEN_BACKLOG", "1024"),
        ("SERVER_READ_TIMEOUT", "120s"),
    ]);
    let pid = server.pid();
    // Descriptors before the warm-up, whose connection may still linger after it.
    let baseline_fds = open_fds(pid);
    timed_echo(port, b"warm up\n");
    let baseline_rss = rss_bytes(pid);

    let payload = vec![b'x'; PER_PEER];
    let started = Instant::now();
    let peers: Vec<TcpStream> = (0..PEERS)
        .map(|_| {
            let mut peer = connect(port);
            peer.write_all(&payload)
                .expect("the kernel buffers a parked peer's bytes");
            peer
        })
        .collect();
    assert!(
        wait_until(CROWD_PATIENCE, || open_fds(pid) >= baseline_fds + PEERS),
        "the server accepted only {} of {PEERS} peers",
        open_fds(pid) - baseline_fds
    );
    eprintln!(
        "{PEERS} peers connected and sent in {:?}",
        started.elapsed()
    );

    // Short exchanges while the budget is spent; the server's RSS sampled
    // between them, so that the peak is seen.
    let mut peak = rss_bytes(pid);
    let mut latencies = Vec::new();
    for i in 0..10 {
        latencies.push(timed_echo(port, format!("meanwhile {i}\n").as_bytes()));
        peak = peak.max(rss_bytes(pid));
    }
    let growth = peak.saturating_sub(baseline_rss);
    let slowest = *latencies.iter().max().unwrap();
    eprintln!(
        "peers hold {} MiB; server RSS {} KiB before, grew {} KiB at most; exchanges took {latencies:?}",
        (PEERS * PER_PEER) as u64 / MIB,
        baseline_rss / 1024,
        growth / 1024
    );
    assert!(
        growth < BUDGET + OVERHEAD,
        "server RSS grew by {} KiB, budget {} KiB",
        growth / 1024,
        BUDGET / 1024
    );
    assert!(
        slowest < Duration::from_millis(100),
        "with the budget spent, short exchanges took {latencies:?}"
    );
    server.wait_line(
        &[
            "WARN",
            "action: memory_budget | result: in_progress | reading: paused",
        ],
        CROWD_PATIENCE,
    );
    assert!(
        server.lines_with(&["result: fail"]).is_empty(),
        "parked peers are within their deadline: {:?}",
        server.lines_with(&["result: fail"])
    );

    // The peers go away abruptly: each connection, parked or not, is closed
    // with its own fail line and every descriptor comes back.
    for peer in &peers {
        reset_on_close(peer);
    }
    drop(peers);
    assert!(
        wait_until(CROWD_PATIENCE, || open_fds(pid) <= baseline_fds),
        "server holds {} fds, {baseline_fds} before",
        open_fds(pid)
    );
    let ended = server.wait_lines(
        &["action: receive_message | result: fail | ip: 127.0.0.1"],
        PEERS,
        CROWD_PATIENCE,
    );
    assert_eq!(ended.len(), PEERS, "one fail line per peer");
    timed_echo(port, b"after\n");
    assert_healthy(&mut server);
    assert!(server.stop_with(SIGTERM, CROWD_PATIENCE).0.success());
}

#[test]
fn a_parked_message_is_read_and_echoed_once_memory_frees() {
    let (mut server, port) = start_server(&[
        ("SERVER_MAX_BUFFERED_BYTES", "16384"),
        ("SERVER_READ_TIMEOUT", "20s"),
    ]);
    // Takes nearly the whole budget with a partial message.
    let mut holder = peer_read_in_full(port, &[b'a'; 15_000]);
    // Spends what is left; as nobody else may read past the budget, it may.
    let mut privileged = peer_read_in_full(port, &[b'b'; 4_000]);
    // A complete message that does not fit: parked, partly unread.
    let parked_message = [vec![b'c'; 4_000], b"\n".to_vec()].concat();
    let mut parked = connect(port);
    parked.write_all(&parked_message).unwrap();
    server.wait_line(
        &[
            "WARN",
            "action: memory_budget | result: in_progress | reading: paused",
        ],
        CROWD_PATIENCE,
    );
    assert!(
        unread_by_server(port, &parked) > 0,
        "the parked message was read"
    );

    // A short message still fits each connection's guaranteed allowance.
    assert!(timed_echo(port, b"short\n") < Duration::from_secs(1));

    // The holder completes its message: its echo frees the budget, and the
    // parked message is read and answered.
    holder.write_all(b"\n").unwrap();
    let mut echo = Vec::new();
    holder.read_to_end(&mut echo).unwrap();
    assert_eq!(echo, [vec![b'a'; 15_000], b"\n".to_vec()].concat());
    drop(holder);
    assert_eq!(read_to_end(&mut parked), parked_message);

    privileged.write_all(b"\n").unwrap();
    privileged.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        read_to_end(&mut privileged),
        [vec![b'b'; 4_000], b"\n".to_vec()].concat()
    );
    assert!(
        server.lines_with(&["result: fail"]).is_empty(),
        "{:?}",
        server.lines_with(&["result: fail"])
    );
    assert_healthy(&mut server);
}

#[test]
fn a_parked_trickler_still_meets_its_read_deadline() {
    let (mut server, port) = start_server(&[
        ("SERVER_MAX_BUFFERED_BYTES", "16384"),
        ("SERVER_READ_TIMEOUT", "1s"),
    ]);
    let _holder = peer_read_in_full(port, &[b'a'; 15_000]);
    let _privileged = peer_read_in_full(port, &[b'b'; 4_000]);
    let mut trickler = connect(port);
    let start = Instant::now();
    trickler.write_all(&[b't'; 4_000]).unwrap();
    let mut writer = trickler.try_clone().unwrap();
    let trickle = thread::spawn(move || {
        // One more byte every 100 ms, never a `\n`, for at most 5 s.
        for _ in 0..50 {
            if writer.write_all(b"t").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let mut rest = Vec::new();
    let _ = trickler.read_to_end(&mut rest); // a clean close or a reset, both fine
    let took = start.elapsed();
    trickle.join().unwrap();
    assert!(rest.is_empty(), "{} bytes came back", rest.len());
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(2500),
        "the parked trickler was closed after {took:?}, its deadline is 1s"
    );
    server.wait_line(
        &[
            "action: receive_message | result: fail | ip: 127.0.0.1",
            "error: no complete message within 1s; reading was paused by the memory budget",
        ],
        CROWD_PATIENCE,
    );
    assert!(timed_echo(port, b"still serving\n") < Duration::from_secs(1));
    assert_healthy(&mut server);
}

#[test]
fn at_shutdown_a_parked_peer_answered_in_one_drive_is_closed_at_once() {
    // Persistent connections, the budget spent by two partial messages that
    // keep the server in its grace. A third peer, parked with part of its
    // line unread, sends the rest after the signal: its one drive reads,
    // echoes and finds nothing more; it owes nothing, so it closes then,
    // not when the grace ends.
    const PROMPT: Duration = Duration::from_secs(1);
    let (mut server, port) = start_server(&[
        ("SERVER_MAX_BUFFERED_BYTES", "16384"),
        ("SERVER_MESSAGES_PER_CONNECTION", "0"),
        ("SERVER_SHUTDOWN_GRACE", "5s"),
        ("SERVER_READ_TIMEOUT", "20s"),
    ]);
    let holder = peer_read_in_full(port, &[b'a'; 15_000]);
    let privileged = peer_read_in_full(port, &[b'b'; 4_000]);
    let mut parked = connect(port);
    parked.write_all(&[b'c'; 1_500]).unwrap();
    server.wait_line(
        &[
            "WARN",
            "action: memory_budget | result: in_progress | reading: paused",
        ],
        PATIENCE,
    );
    server.signal(SIGTERM);
    server.wait_line(&["action: shutdown | result: in_progress"], PATIENCE);
    parked.write_all(b"\n").unwrap();
    let message = [vec![b'c'; 1_500], b"\n".to_vec()].concat();
    assert_eq!(read_first_line(&mut parked), message);
    let echoed = Instant::now();
    assert_eq!(read_to_end(&mut parked), b"");
    let took = echoed.elapsed();
    eprintln!("closed {took:?} after its echo");
    assert!(
        took < PROMPT,
        "closed {took:?} after its echo, with nothing owed"
    );
    drop((holder, privileged));
    assert!(server.wait_exit(PATIENCE).0.success());
}

/// The kernel's send buffers in the server's network namespace: 4 KiB, so
/// an echo a peer does not read stays in the server (a slow or zero-window
/// peer).
const SMALL_SEND_BUFFER: &str = "net.ipv4.tcp_wmem=4096 4096 4096";

/// Inside the namespace of the server `pid`: `peers` peers each send `line`
/// as far as the server takes it and never read. Returns them, how many
/// sent their line whole, and the server's largest RSS growth seen meanwhile
/// and across ten short exchanges after (which must be echoed).
fn owed_echoes_never_read(
    pid: u32,
    port: u16,
    peers: usize,
    line: Vec<u8>,
) -> (Vec<TcpStream>, usize, u64) {
    in_net_namespace_of(pid, move || {
        timed_echo(port, b"warm up\n");
        let baseline = rss_bytes(pid);
        let mut peak = baseline;
        let mut streams: Vec<TcpStream> = (0..peers).map(|_| connect(port)).collect();
        for stream in &streams {
            stream.set_nonblocking(true).unwrap();
        }
        // Each peer writes what the kernel takes, in turn, until every line
        // is out or the server has taken nothing for a while (it reads no
        // more: the budget holds the rest back).
        let mut sent = vec![0; peers];
        let mut last_progress = Instant::now();
        while sent.iter().any(|&n| n < line.len())
            && last_progress.elapsed() < Duration::from_millis(500)
        {
            for (stream, sent) in streams.iter_mut().zip(&mut sent) {
                if *sent == line.len() {
                    continue;
                }
                match stream.write(&line[*sent..]) {
                    Ok(n) => {
                        *sent += n;
                        last_progress = Instant::now();
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("a peer's write failed: {e}"),
                }
            }
            peak = peak.max(rss_bytes(pid));
            thread::sleep(Duration::from_millis(2)); // pacing of the sampling
        }
        let whole = sent.iter().filter(|&&n| n == line.len()).count();
        let mut slowest = Duration::ZERO;
        for i in 0..10 {
            slowest = slowest.max(timed_echo(port, format!("meanwhile {i}\n").as_bytes()));
            peak = peak.max(rss_bytes(pid));
        }
        eprintln!("the slowest of ten short exchanges meanwhile took {slowest:?}");
        assert!(slowest < Duration::from_secs(5), "{slowest:?}");
        (streams, whole, peak - baseline)
    })
}

/// `peers` peers each owed the echo of a `line`-byte message they never
/// read, against a server with a budget of `budget` bytes (and `extra`
/// settings) in a namespace with small send buffers: its RSS grows by less
/// than the budget plus about 2 KiB a connection (its state and guaranteed
/// kilobyte), twice the longest message (the one reader past the budget)
/// and 4 MiB (allocator slack, the log buffer); the budget says it held
/// readers back.
fn assert_owed_echoes_stay_within(peers: usize, line: usize, budget: u64, extra: &[(&str, &str)]) {
    let bound = budget + peers as u64 * 2048 + 2 * line as u64 + 4 * MIB;
    let budget_text = budget.to_string();
    let mut settings = vec![
        ("SERVER_MAX_BUFFERED_BYTES", budget_text.as_str()),
        ("SERVER_READ_TIMEOUT", "60s"),
        ("SERVER_WRITE_TIMEOUT", "60s"),
    ];
    settings.extend_from_slice(extra);
    let Some((mut server, port)) = start_server_in_net_namespace(&[SMALL_SEND_BUFFER], &settings)
    else {
        return;
    };
    let mut message = vec![b'z'; line - 1];
    message.push(b'\n');
    let (streams, whole, growth) = owed_echoes_never_read(server.pid(), port, peers, message);
    eprintln!(
        "{whole} of {peers} peers sent their line whole; server RSS grew {} KiB at most, \
         budget {} KiB, bound {} KiB",
        growth / 1024,
        budget / 1024,
        bound / 1024
    );
    assert!(
        growth < bound,
        "server RSS grew by {} KiB, budget {} KiB",
        growth / 1024,
        budget / 1024
    );
    server.wait_line(
        &["WARN", "action: memory_budget | result: in_progress"],
        PATIENCE,
    );
    drop(streams);
    assert_healthy(&mut server);
}

#[test]
fn six_hundred_peers_owed_64_kib_echoes_they_never_read_stay_within_the_budget() {
    const PEERS: usize = 600;
    raise_fd_limit(PEERS as u64 + 256);
    assert_owed_echoes_stay_within(
        PEERS,
        64 * 1024,
        4 * MIB,
        &[
            ("SERVER_MAX_CONNECTIONS", "4096"),
            ("SERVER_LISTEN_BACKLOG", "1024"),
        ],
    );
}

#[test]
fn twelve_peers_owed_8_mib_echoes_they_never_read_stay_within_the_budget() {
    assert_owed_echoes_stay_within(
        12,
        8 * MIB as usize,
        16 * MIB,
        &[("SERVER_MAX_MESSAGE_BYTES", "16777216")],
    );
}
