//! Idle connections by the ten thousand, held by a helper process
//! (`idle-peers`), so that no one process needs descriptors for both ends
//! (the harness's own `close(2)` floor holds the accepted side, the helper
//! the connecting one).
//!
//! Two limits of one loopback make this more than a loop of `connect`:
//!
//! - **Ports.** A connection to one address and port takes a local port of
//!   the ephemeral range (`net.ipv4.ip_local_port_range`, 28,232 ports by
//!   default) for itself. Loopback answers on all of 127.0.0.0/8 and the
//!   servers listen on every interface, so the connections are spread over
//!   127.0.0.1, 127.0.0.2, ...: each address has the whole range again.
//!   (127.0.0.2 is left out: the server takes a peer from there for its
//!   own health probe.)
//! - **The listen queue.** Connects made faster than the server accepts
//!   overflow its backlog; the kernel drops the SYN and the peer retries a
//!   second later, which measures nothing of interest here. They go in
//!   batches well below the backlog, each waiting until the accepting
//!   process holds about as many descriptors more (a cheap count, while
//!   `ss` walks every socket of the namespace, TIME_WAIT included); at the
//!   end `ss` must find every connection established and accepted.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use testkit::{binary, open_fds, wait_until};

/// Connects per batch: well below the backlog of 1024 of every server compared.
const BATCH: usize = 256;

/// How long the accepting process may take to accept one batch.
const BATCH_PATIENCE: Duration = Duration::from_secs(10);

/// Descriptors the accepting process may open or close meanwhile, which
/// the pacing tolerates (the final check does not).
const SLACK: usize = 16;

/// The server's probe address (`server/src/probe.rs`), which no peer of
/// the bench may use.
const PROBE_HOST: usize = 2;

/// Local ports one destination address may take: three quarters of the
/// ephemeral range, leaving the rest to whatever else connects meanwhile.
pub fn ports_per_address() -> usize {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut ends = text.split_whitespace().map(|n| n.parse::<usize>().ok());
            Some((ends.next()??, ends.next()??))
        })
        .map_or(28_232, |(low, high)| high.saturating_sub(low) + 1);
    (range * 3 / 4).max(1)
}

/// The loopback address of the `i`-th connection.
fn destination(i: usize, per_address: usize) -> Result<Ipv4Addr, String> {
    let host = match 1 + i / per_address {
        h if h >= PROBE_HOST => h + 1,
        h => h,
    };
    u8::try_from(host)
        .ok()
        .filter(|&h| h < 255)
        .map(|h| Ipv4Addr::new(127, 0, 0, h))
        .ok_or_else(|| format!("{i} connections need more than 254 loopback addresses"))
}

/// What `ss` says of `port`: connections waiting in its listeners' accept
/// queues (their Recv-Q), and established connections whose local port it is.
fn queued(port: u16) -> usize {
    ss(&["-Hltn", &format!("sport = :{port}")])
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        .sum()
}

fn established(port: u16) -> usize {
    ss(&["-Htn", "state", "established", &format!("sport = :{port}")])
        .lines()
        .count()
}

fn ss(args: &[&str]) -> String {
    let out = Command::new("ss")
        .args(args)
        .output()
        .expect("ss (iproute2) is installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Opens `count` connections to `port` on loopback, as fast as process
/// `accepting` accepts them; `Err` says why not.
pub fn connect_all(port: u16, count: usize, accepting: u32) -> Result<Vec<TcpStream>, String> {
    let per_address = ports_per_address();
    let base = open_fds(accepting);
    let mut conns = Vec::with_capacity(count);
    while conns.len() < count {
        let end = (conns.len() + BATCH).min(count);
        for i in conns.len()..end {
            let address = SocketAddr::from((destination(i, per_address)?, port));
            let stream = TcpStream::connect(address)
                .map_err(|e| format!("connection {} of {count} to {address}: {e}", i + 1))?;
            conns.push(stream);
        }
        let accepted = || open_fds(accepting).saturating_sub(base) + SLACK;
        if !wait_until(BATCH_PATIENCE, || accepted() >= conns.len()) {
            return Err(format!(
                "the server holds about {} of the {} connections made so far",
                accepted() - SLACK,
                conns.len()
            ));
        }
    }
    let complete = || established(port) == count && queued(port) == 0;
    if !wait_until(BATCH_PATIENCE, complete) {
        let open = established(port);
        return Err(format!(
            "of {count} connections, {open} are established on the server's side and {} wait to be accepted",
            queued(port)
        ));
    }
    Ok(conns)
}

/// A helper process holding idle connections until dropped.
#[derive(Debug)]
pub struct IdlePeers {
    child: Child,
}

impl IdlePeers {
    /// Starts `idle-peers`, which opens `count` connections to `port`, and
    /// waits until process `accepting` has accepted them all.
    pub fn open(port: u16, count: usize, accepting: u32) -> Result<IdlePeers, String> {
        let mut child = Command::new(binary("idle-peers"))
            .args([port.to_string(), count.to_string(), accepting.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("start idle-peers: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let peers = IdlePeers { child };
        match first_line(stdout) {
            Ok(line) if line == "ready" => Ok(peers),
            Ok(line) => Err(line),
            Err(e) => Err(format!("idle-peers: {e}")),
        }
    }
}

fn first_line(stdout: ChildStdout) -> io::Result<String> {
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    Ok(line.trim_end().to_owned())
}

impl Drop for IdlePeers {
    /// Closing its stdin tells the helper to close everything and exit.
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The helper's side: connects, says `ready` (or why not) on stdout, and
/// holds the connections until stdin closes.
pub fn hold(port: u16, count: usize, accepting: u32) -> io::Result<()> {
    let conns = connect_all(port, count, accepting);
    let mut stdout = io::stdout();
    match &conns {
        Ok(_) => writeln!(stdout, "ready")?,
        Err(why) => writeln!(stdout, "{why}")?,
    }
    stdout.flush()?;
    io::copy(&mut io::stdin(), &mut io::sink())?;
    drop(conns);
    Ok(())
}
