//! Test support for the project's integration tests: spawn the real
//! binaries, follow their log lines, send them signals, and wait for
//! conditions with bounded timeouts instead of sleeping.
//!
//! # Layout
//!
//! - [`Program`]: a spawned binary with its captured output; [`start_server`],
//!   [`server_with_file_stderr`] and [`start_server_in_net_namespace`] start
//!   the real server ([`in_net_namespace_of`] runs peers beside the last).
//! - [`binary`], [`free_port`], [`scratch_dir`], [`wait_until`]: helpers.
//! - [`rss_bytes`], [`open_fds`], [`cpu_time`]: what a process holds, read
//!   from `/proc`, for resource bounds in fault tests.
//! - [`raise_fd_limit`], [`reset_on_close`], [`limit_receive_buffer`]: the
//!   test process's own limits and socket options.

pub use libc::{SIGINT, SIGTERM};

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The path of a workspace binary, built if it is missing (a test of one
/// package may need another package's binary).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // A test runs from target/<profile>/deps/, a benchmark binary from
    // target/<profile>/: the binaries are in target/<profile>/.
    let dir = exe.parent().expect("executable dir");
    let dir = if dir.ends_with("deps") {
        dir.parent().expect("profile dir")
    } else {
        dir
    };
    let path = dir.join(name);
    if !path.exists() {
        let mut args = vec!["build", "--quiet", "-p", name, "--bin", name];
        if dir.ends_with("release") {
            args.push("--release");
        }
        let status = Command::new(env!("CARGO"))
            .args(args)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p {name} failed");
    }
    path
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A fresh empty directory under the system temp dir (no config file in it,
/// so a program started there runs on its environment and defaults).
pub fn scratch_dir(tag: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tp0-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Output lines shared with the reader threads.
#[derive(Debug, Default)]
struct Output {
    lines: Mutex<Vec<String>>,
    grew: Condvar,
}

/// A running binary, its output captured line by line (stdout and stderr
/// both). Killed on drop if still running.
#[derive(Debug)]
pub struct Program {
    name: String,
    child: Child,
    output: Arc<Output>,
    status: Option<ExitStatus>,
}

impl Program {
    /// Starts a workspace binary in `dir` with exactly the environment `env`.
    pub fn start(name: &str, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Program {
        Program::spawn(name, command_in(name, dir, env, args))
    }

    /// Starts `command` (e.g. a wrapper that `exec`s a binary, so the pid
    /// stays the binary's), capturing its output; `name` labels messages.
    pub fn spawn(name: &str, mut command: Command) -> Program {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let output = Arc::new(Output::default());
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        follow(stdout, Arc::clone(&output));
        follow(stderr, Arc::clone(&output));
        Program {
            name: name.to_owned(),
            child,
            output,
            status: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.output.lines.lock().unwrap().clone()
    }

    /// Lines containing all of `parts`.
    pub fn lines_with(&self, parts: &[&str]) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .collect()
    }

    /// Waits until `count` lines contain all of `parts`; panics with the
    /// output so far if that takes longer than `timeout`.
    pub fn wait_lines(&self, parts: &[&str], count: usize, timeout: Duration) -> Vec<String> {
        let end = Instant::now() + timeout;
        let mut lines = self.output.lines.lock().unwrap();
        loop {
            let found: Vec<String> = lines
                .iter()
                .filter(|l| parts.iter().all(|p| l.contains(p)))
                .cloned()
                .collect();
            if found.len() >= count {
                return found;
            }
            let now = Instant::now();
            if now >= end {
                panic!(
                    "{}: waited {timeout:?} for {count} line(s) with {parts:?}; output:\n{}",
                    self.name,
                    lines.join("\n")
                );
            }
            lines = self.output.grew.wait_timeout(lines, end - now).unwrap().0;
        }
    }

    /// Waits for one line containing all of `parts`.
    pub fn wait_line(&self, parts: &[&str], timeout: Duration) -> String {
        self.wait_lines(parts, 1, timeout).remove(0)
    }

    /// Sends a signal (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Waits for the process to exit; panics (after killing it) on timeout.
    /// Returns the status and the time waited.
    pub fn wait_exit(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.status = Some(status);
                // Let the reader threads catch the last lines.
                wait_until(Duration::from_secs(2), || self.output_closed());
                return (status, start.elapsed());
            }
            let waited = start.elapsed();
            if waited >= timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} still running after {timeout:?}; output:\n{}",
                    self.name,
                    self.lines().join("\n")
                );
            }
            // Fine-grained at first, so exit latencies are measured closely.
            let pause = if waited < Duration::from_millis(20) {
                50
            } else {
                1000
            };
            std::thread::sleep(Duration::from_micros(pause));
        }
    }

    /// Sends `signal` and waits for the exit; returns status and signal-to-exit time.
    pub fn stop_with(&mut self, signal: i32, timeout: Duration) -> (ExitStatus, Duration) {
        self.signal(signal);
        self.wait_exit(timeout)
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.status.is_none() && self.child.try_wait().expect("try_wait").is_none()
    }

    fn output_closed(&self) -> bool {
        Arc::strong_count(&self.output) == 1
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads `stream` line by line into `output` on a thread of its own; the
/// thread ends (dropping its handle on `output`) at EOF.
fn follow(stream: impl std::io::Read + Send + 'static, output: Arc<Output>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\n')
                .to_owned();
            output.lines.lock().unwrap().push(text);
            output.grew.notify_all();
            line.clear();
        }
    });
}

/// Resident memory of process `pid` (`VmRSS` in `/proc/<pid>/status`), in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    kib * 1024
}

/// Number of file descriptors process `pid` has open (entries of `/proc/<pid>/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/fd: {e}"))
        .count()
}

/// CPU time (user + system) process `pid` has used so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    // The command name is in parentheses and may hold spaces: fields count
    // from the last `)`. utime and stime are fields 14 and 15 of the line.
    let after_name = &stat[stat.rfind(')').expect("stat has (comm)") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf only reads a system constant.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&t| t > 0)
        .unwrap_or(100);
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

/// Raises this process's soft `RLIMIT_NOFILE` to `wanted` and returns the
/// soft limit now in force; programs started afterwards inherit it. Where
/// `wanted` is above the hard limit, the hard limit is raised too if the
/// process may (root or `CAP_SYS_RESOURCE`, as in CI and for `make bench`),
/// else the soft limit stops at the hard one. Neither is ever lowered.
pub fn raise_fd_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read or fill a struct we own.
    unsafe {
        assert_eq!(
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit),
            0,
            "getrlimit"
        );
        if wanted <= limit.rlim_cur {
            return limit.rlim_cur;
        }
        let both = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: wanted.max(limit.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &both) == 0 {
            return wanted;
        }
        // Not allowed past the hard limit: up to it.
        limit.rlim_cur = wanted.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0, "setrlimit");
    }
    limit.rlim_cur
}

/// Sets `SO_LINGER` to zero seconds, so that closing `stream` sends a reset
/// instead of a FIN (a peer that crashes or aborts its connection).
pub fn reset_on_close(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    set_socket_option(stream.as_raw_fd(), libc::SO_LINGER, &linger);
}

/// Pins `SO_RCVBUF` of `stream` to about `bytes` (which also turns off the
/// kernel's receive-buffer autotuning), so a peer that never reads holds
/// back only that much.
pub fn limit_receive_buffer(stream: &TcpStream, bytes: usize) {
    use std::os::fd::AsRawFd;
    let size = libc::c_int::try_from(bytes).expect("buffer size fits an int");
    set_socket_option(stream.as_raw_fd(), libc::SO_RCVBUF, &size);
}

fn set_socket_option<T>(fd: std::os::fd::RawFd, option: libc::c_int, value: &T) {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>()).expect("option size");
    // SAFETY: `value` points to a live `T` of `len` bytes for the whole call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (value as *const T).cast::<libc::c_void>(),
            len,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt({option}): {}",
        std::io::Error::last_os_error()
    );
}

/// How long the wire helpers below wait for the other side.
const WIRE_PATIENCE: Duration = Duration::from_secs(20);

/// The real server on a free port with `extra` settings, once it listens.
pub fn start_server(extra: &[(&str, &str)]) -> (Program, u16) {
    let port = free_port();
    let port_text = port.to_string();
    let mut env = vec![("SERVER_PORT", port_text.as_str())];
    env.extend_from_slice(extra);
    let program = Program::start("server", &scratch_dir("server"), &env, &[]);
    program.wait_line(
        &["action: listen | result: success", &format!("port: {port}")],
        WIRE_PATIENCE,
    );
    (program, port)
}

/// Waits (bounded) until something accepts connections on `127.0.0.1:port`;
/// the check is itself a connection, closed at once.
pub fn wait_listening(port: u16) {
    assert!(
        wait_until(WIRE_PATIENCE, || TcpStream::connect(("127.0.0.1", port))
            .is_ok()),
        "server never listened on {port}"
    );
}

/// The real server with its stderr the regular file `log` (a healthy
/// stderr: every write completes at once) and `env` besides its port, once
/// it accepts connections (after [`wait_listening`]'s check).
pub fn server_with_file_stderr(log: &Path, env: &[(&str, &str)]) -> (Program, u16) {
    let port = free_port();
    let mut command = Command::new("sh");
    command
        .args(["-c", "exec \"$0\" 2>\"$1\""])
        .arg(binary("server"))
        .arg(log)
        .current_dir(log.parent().expect("a directory"))
        .env_clear()
        .env("SERVER_PORT", port.to_string())
        .envs(env.iter().copied());
    let server = Program::spawn("server", command);
    wait_listening(port);
    (server, port)
}

/// The lines of the file `log` holding every one of `parts`.
pub fn file_lines_with(log: &Path, parts: &[&str]) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .count()
}

/// The real server in a network namespace of its own (`unshare --net`),
/// with loopback up and `sysctls` (`key=value`, e.g.
/// `net.ipv4.tcp_wmem=4096 4096 4096`) set there only, and `extra` settings,
/// once it listens. Peers join the namespace with [`in_net_namespace_of`].
/// `None`, with the reason printed, when the test does not run as root (as
/// CI does), which a network namespace needs.
pub fn start_server_in_net_namespace(
    sysctls: &[&str],
    extra: &[(&str, &str)],
) -> Option<(Program, u16)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root for a private network namespace");
        return None;
    }
    let port = free_port();
    let mut command = Command::new("unshare");
    command
        .args([
            "--net",
            "sh",
            "-c",
            "ip link set lo up && sysctl -q -w \"$@\" && exec \"$0\"",
        ])
        .arg(binary("server"))
        .args(sysctls)
        .current_dir(scratch_dir("server-netns"))
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("SERVER_PORT", port.to_string())
        .envs(extra.iter().copied());
    let program = Program::spawn("server", command);
    program.wait_line(
        &["action: listen | result: success", &format!("port: {port}")],
        WIRE_PATIENCE,
    );
    Some((program, port))
}

/// Runs `work` on a thread that has joined the network namespace of process
/// `pid` (`setns`, which moves only the calling thread): the sockets it
/// makes live there, and any thread may use them afterwards.
pub fn in_net_namespace_of<T: Send + 'static>(
    pid: u32,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    use std::os::fd::AsRawFd;
    let namespace = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .unwrap_or_else(|e| panic!("open the network namespace of {pid}: {e}"));
    std::thread::spawn(move || {
        // SAFETY: setns on a descriptor we hold open for the whole call.
        let rc = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        work()
    })
    .join()
    .expect("the thread in the namespace")
}

/// A blocking connection to `127.0.0.1:port` whose reads and writes give up
/// after a bounded time instead of hanging a test.
pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(WIRE_PATIENCE)).unwrap();
    stream.set_write_timeout(Some(WIRE_PATIENCE)).unwrap();
    stream
}

/// Everything the peer sends until it closes cleanly.
pub fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    std::io::Read::read_to_end(stream, &mut answer).expect("read until EOF");
    answer
}

/// Reads one line (up to and including `\n`, or up to EOF) byte by byte,
/// so that nothing after it is consumed.
pub fn read_first_line(stream: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while std::io::Read::read(stream, &mut byte).unwrap_or(0) == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    line
}

/// One exchange on a fresh connection: the whole answer.
pub fn exchange(port: u16, message: &[u8]) -> Vec<u8> {
    let mut stream = connect(port);
    std::io::Write::write_all(&mut stream, message).unwrap();
    read_to_end(&mut stream)
}

/// The backlogs of the sockets listening on `port`, as `ss` reports them
/// (the Send-Q column of a listening socket).
pub fn listen_backlogs(port: u16) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) is installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect()
}

/// Whether this host can use IPv6 on loopback (`[::1]` can be bound); tests
/// that need it print a reason and pass without running where it cannot.
pub fn ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// Creates a FIFO (named pipe) at `path`: opening it for reading blocks
/// until a writer comes, which is what a config path must not do.
pub fn make_fifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in path");
    // SAFETY: mkfifo reads the NUL-terminated path, which outlives the call.
    let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// A YAML text of a few hundred bytes whose aliases of aliases ("billion
/// laughs") expand to 9^9 strings, several GiB once built as a tree: what
/// a config file must be refused for before anything is expanded. The first
/// alias is at line 2, column 8.
pub fn yaml_alias_bomb() -> String {
    let mut text = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let refs = vec![format!("*{prev}"); 9].join(", ");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    text
}

/// Like [`Program::start`], with the address space of the program capped at
/// `bytes` (`RLIMIT_AS`), so that a program that would read without limit
/// fails inside the test instead of eating the machine's memory.
pub fn start_with_memory_cap(
    name: &str,
    dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    bytes: u64,
) -> Program {
    use std::os::unix::process::CommandExt;
    let mut command = command_in(name, dir, env, args);
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls setrlimit, which is async-signal-safe, on a struct it owns.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    Program::spawn(name, command)
}

impl Program {
    /// Starts `command` with stderr a pipe that nobody reads until the test
    /// calls [`Program::follow_stderr`] with the returned end: a log
    /// consumer that does not keep up. Stdout is discarded.
    pub fn spawn_with_unread_stderr(
        name: &str,
        mut command: Command,
    ) -> (Program, std::process::ChildStderr) {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let program = Program {
            name: name.to_owned(),
            child,
            output: Arc::new(Output::default()),
            status: None,
        };
        (program, stderr)
    }

    /// Starts reading the stderr held since [`Program::spawn_with_unread_stderr`]
    /// into this program's lines.
    pub fn follow_stderr(&self, stderr: std::process::ChildStderr) {
        follow(stderr, Arc::clone(&self.output));
    }
}

/// A workspace binary in a fresh scratch directory with exactly `env`, not
/// started yet (for callers that set up its descriptors or signal mask).
pub fn command(name: &str, env: &[(&str, &str)]) -> Command {
    command_in(name, &scratch_dir(name), env, &[])
}

/// A workspace binary with `args`, run in `dir` with exactly `env`.
fn command_in(name: &str, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(binary(name));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied());
    command
}

/// The workspace binary `name` in a mount namespace of its own
/// (`unshare -m`) where `file` is bind-mounted over `target` (a private
/// `/etc/hosts` or `/etc/resolv.conf`; the host's stays as it is), run in
/// `dir` with only `PATH` and `env`. The shell `exec`s the binary, so the
/// pid is the binary's. `None`, with the reason printed, when the test does
/// not run as root (as CI does), which a mount namespace needs.
pub fn command_with_file_over(
    name: &str,
    dir: &Path,
    target: &str,
    file: &Path,
    env: &[(&str, &str)],
) -> Option<Command> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root for a private mount namespace");
        return None;
    }
    let mut command = Command::new("unshare");
    command
        .args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$0\" \"$1\" && exec \"$2\"",
        ])
        .arg(file)
        .arg(target)
        .arg(binary(name))
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(env.iter().copied());
    Some(command)
}

/// The names in `dir`, sorted: what a command left behind.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Makes `signal` blocked in the child across `exec`: a signal sent at any
/// moment after spawning waits as pending until the program unblocks it,
/// as it does from its first instruction on. (A signal that lands between
/// `exec` and that first instruction takes its default action, whatever the
/// program does; this is how a test reaches every later moment of start-up
/// without that race.)
pub fn hold_across_exec(command: &mut Command, signal: i32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls
    // async-signal-safe functions on a local sigset.
    unsafe {
        command.pre_exec(move || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            match libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) {
                0 => Ok(()),
                rc => Err(std::io::Error::from_raw_os_error(rc)),
            }
        });
    }
}

/// The README's Markdown table under the heading line that starts with
/// `heading` (say `### Server settings`): for each row, the cells of
/// `columns` (named as in the table's header), trimmed and without
/// backticks. Panics, naming what is missing, if the heading, the table or
/// a column is not there.
pub fn readme_table(heading: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines().skip_while(|l| !l.starts_with(heading));
    assert!(
        lines.next().is_some(),
        "no heading {heading:?} in the README"
    );
    let rows: Vec<Vec<String>> = lines
        .take_while(|l| !l.starts_with('#'))
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .map(markdown_cells)
        .collect();
    let (header, body) = match rows.split_first() {
        // The second line is the `|---|` separator.
        Some((header, body)) if !body.is_empty() => (header, &body[1..]),
        _ => panic!("no table under {heading:?} in the README"),
    };
    let picked: Vec<usize> = columns
        .iter()
        .map(|name| {
            header.iter().position(|h| h == name).unwrap_or_else(|| {
                panic!("no column {name:?} in the README table under {heading:?}: {header:?}")
            })
        })
        .collect();
    body.iter()
        .map(|row| {
            picked
                .iter()
                .map(|&i| row.get(i).cloned().unwrap_or_default())
                .collect()
        })
        .collect()
}

/// The cells of one Markdown table row; `\|` is a `|` inside a cell.
fn markdown_cells(line: &str) -> Vec<String> {
    let line = line.trim().trim_start_matches('|');
    let mut cells = vec![String::new()];
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().unwrap().push('|');
                chars.next();
            }
            '|' => cells.push(String::new()),
            '`' => {}
            c => cells.last_mut().unwrap().push(c),
        }
    }
    if line.ends_with('|') {
        cells.pop();
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// Panics with a diff unless `found` holds exactly the rows of `expected`,
/// rows matched by their first cell, in any order.
pub fn assert_same_rows(what: &str, expected: &[Vec<String>], found: &[Vec<String>]) {
    let by_key = |rows: &[Vec<String>]| {
        let mut map = std::collections::BTreeMap::new();
        let mut repeated = Vec::new();
        for row in rows {
            if map.insert(row[0].clone(), row.join(" | ")).is_some() {
                repeated.push(row[0].clone());
            }
        }
        (map, repeated)
    };
    let (want, _) = by_key(expected);
    let (have, repeated) = by_key(found);
    let mut diff: Vec<String> = repeated
        .iter()
        .map(|key| format!("  {key}: more than one row"))
        .collect();
    for (key, row) in &want {
        match have.get(key) {
            None => diff.push(format!("  - {row}    (missing)")),
            Some(other) if other != row => {
                diff.push(format!("  - {row}"));
                diff.push(format!("  + {other}"));
            }
            Some(_) => {}
        }
    }
    for (key, row) in &have {
        if !want.contains_key(key) {
            diff.push(format!("  + {row}    (no such setting)"));
        }
    }
    assert!(
        diff.is_empty(),
        "{what}: - is what it should say, + what it says\n{}",
        diff.join("\n")
    );
}

/// `count` fresh connections to `127.0.0.1:port`, each with its whole
/// message (`<label> <i>\n`) already sent: peers waiting for their echo.
pub fn peers_with_messages(port: u16, count: usize, label: &str) -> Vec<(TcpStream, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let mut stream = connect(port);
            let message = format!("{label} {i}\n").into_bytes();
            std::io::Write::write_all(&mut stream, &message).expect("send the message");
            (stream, message)
        })
        .collect()
}

/// Asserts that each peer reads back exactly its message, then a clean EOF.
pub fn assert_each_echoed(peers: &mut [(TcpStream, Vec<u8>)]) {
    for (stream, message) in peers {
        assert_eq!(&read_to_end(stream), message);
    }
}

/// How long a program may take to refuse its config: a config error is
/// found before any I/O, in milliseconds; far more means it is stuck (a
/// blocked open, an endless read).
pub const CONFIG_EXIT: Duration = Duration::from_secs(10);

/// Starts `name` in `dir` (its address space capped at 512 MiB, so a program
/// that would read without limit fails inside the test) and expects it to
/// refuse its config: exit 1 within [`CONFIG_EXIT`], one line on stderr,
/// `<name>: config error: ...`, containing every one of `parts`. Returns it.
pub fn assert_config_refused(
    name: &str,
    dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    parts: &[&str],
) -> String {
    let mut program = start_with_memory_cap(name, dir, env, args, 512 << 20);
    let (status, waited) = program.wait_exit(CONFIG_EXIT);
    let lines = program.lines();
    assert_eq!(status.code(), Some(1), "{env:?} {args:?}: {lines:?}");
    assert_eq!(lines.len(), 1, "one clear line: {lines:?}");
    let line = lines.into_iter().next().expect("one line");
    assert!(
        line.starts_with(&format!("{name}: config error: ")),
        "{line}"
    );
    for part in parts {
        assert!(line.contains(part), "{part:?} missing from {line}");
    }
    eprintln!("{args:?}: exit 1 after {waited:?}");
    line
}

/// Starts `name` 50 times with SIGTERM sent 0 to 4.9 ms after the spawn (in
/// steps of 0.1 ms), held blocked across `exec` (see [`hold_across_exec`]).
/// Every tenth start gets the environment of `env(true)`, a bad config, and
/// must exit 1; the others `env(false)` and must exit 0 and log every line of
/// `clean_exit_lines`. None may be killed by the signal.
pub fn assert_sigterm_during_start_up_is_clean(
    name: &str,
    env: impl Fn(bool) -> Vec<(String, String)>,
    clean_exit_lines: &[&[&str]],
) {
    use std::os::unix::process::ExitStatusExt;
    const STARTS: u32 = 50;
    const EXIT_PATIENCE: Duration = Duration::from_secs(10);
    let began = Instant::now();
    for start in 0..STARTS {
        let bad_config = start % 10 == 9;
        let env = env(bad_config);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut command = command(name, &env);
        hold_across_exec(&mut command, SIGTERM);
        let mut program = Program::spawn(name, command);
        // A spread of moments, not a wait for a condition: the signal is meant
        // to land anywhere in start-up.
        std::thread::sleep(Duration::from_micros(u64::from(start) * 100));
        let (status, _) = program.stop_with(SIGTERM, EXIT_PATIENCE);
        assert_eq!(status.signal(), None, "start {start}: killed by a signal");
        if bad_config {
            assert_eq!(status.code(), Some(1), "start {start}: bad config");
            continue;
        }
        assert_eq!(
            status.code(),
            Some(0),
            "start {start}: {:?}",
            program.lines()
        );
        for line in clean_exit_lines {
            program.wait_line(line, EXIT_PATIENCE);
        }
    }
    println!("{STARTS} starts in {:?}", began.elapsed());
}

/// Writes `message` and shuts the write side of `stream` so that the bytes
/// and the FIN leave in one segment (`TCP_CORK` holds the bytes until the
/// FIN joins them): the receiver gets one readiness event for both.
pub fn send_with_fin_in_one_segment(stream: &mut TcpStream, message: &[u8]) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    let len = libc::socklen_t::try_from(std::mem::size_of_val(&on)).expect("option size");
    // SAFETY: `on` is a live int of `len` bytes for the whole call.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            std::ptr::from_ref(&on).cast::<libc::c_void>(),
            len,
        )
    };
    assert_eq!(rc, 0, "TCP_CORK: {}", std::io::Error::last_os_error());
    std::io::Write::write_all(stream, message).expect("write the message");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shut the write side");
}
