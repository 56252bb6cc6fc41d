//! Spawning the real binaries, following their output line by line,
//! signalling them and timing their exit.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::{parse_line, scratch_dir, wait_until, PATIENCE};

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

    /// Waits for the `listen` line and returns the port it names: the one
    /// the program really bound, whatever it was asked for (port 0 included).
    pub fn listen_port(&self, timeout: Duration) -> u16 {
        let line = self.wait_line(&["action: listen | result: success"], timeout);
        parse_line(&line)
            .and_then(|l| l.field("port").and_then(|p| p.parse().ok()))
            .unwrap_or_else(|| panic!("{}: no port in {line}", self.name))
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
                // Let the reader threads catch the last lines: counts taken
                // after the exit must see all of them.
                assert!(
                    wait_until(crate::PATIENCE, || self.output_closed()),
                    "{}: its output stayed open after it exited",
                    self.name
                );
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

    /// Sends `signal` and asserts a clean exit (status 0) within a second,
    /// what a program must manage in every state.
    pub fn stop_at_once(&mut self, signal: i32) {
        let (status, took) = self.stop_with(signal, crate::PATIENCE);
        assert!(
            status.success() && took < crate::SECOND,
            "{} after {signal}: {status:?} after {took:?}",
            self.name
        );
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.status.is_none() && self.child.try_wait().expect("try_wait").is_none()
    }

    fn output_closed(&self) -> bool {
        Arc::strong_count(&self.output) == 1
    }
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

/// The real server with `extra` settings, once it listens, and its port:
/// it binds port 0 and its `listen` line names the port the system gave,
/// so servers of tests running side by side never race for one.
pub fn start_server(extra: &[(&str, &str)]) -> (Program, u16) {
    let mut env = vec![("SERVER_PORT", "0")];
    env.extend_from_slice(extra);
    let program = Program::start("server", &scratch_dir("server"), &env, &[]);
    let port = program.listen_port(PATIENCE);
    (program, port)
}

/// Waits until `server`, started on port 0, listens and a connection gets
/// through (read from `/proc`, for a server whose log the test does not
/// read); returns the port.
pub fn wait_listening(server: &Program) -> u16 {
    let port = crate::listening_port(server.pid(), crate::PATIENCE).expect("the server listens");
    assert!(
        crate::wait_until(crate::PATIENCE, || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "server never listened on {port}"
    );
    port
}

/// The real server with its stderr the regular file `log` (a healthy
/// stderr: every write completes at once) and `env` besides its port, once
/// it listens ([`wait_listening`]).
pub fn server_with_file_stderr(log: &Path, env: &[(&str, &str)]) -> (Program, u16) {
    let mut command = Command::new("sh");
    command
        .args(["-c", "exec \"$0\" 2>\"$1\""])
        .arg(binary("server"))
        .arg(log)
        .current_dir(log.parent().expect("a directory"))
        .env_clear()
        .env("SERVER_PORT", "0")
        .envs(env.iter().copied());
    let server = Program::spawn("server", command);
    let port = wait_listening(&server);
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
        .current_dir(crate::scratch_dir("server-netns"))
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("SERVER_PORT", "0")
        .envs(extra.iter().copied());
    let program = Program::spawn("server", command);
    let port = program.listen_port(crate::PATIENCE);
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
