//! Test support for the project's integration tests: spawn the real
//! binaries, follow their log lines, send them signals, and wait for
//! conditions with bounded timeouts instead of sleeping.
//!
//! # Layout
//!
//! - [`Program`]: a spawned binary with its captured output.
//! - [`binary`], [`free_port`], [`scratch_dir`], [`wait_until`]: helpers.

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
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", name, "--bin", name])
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

/// Waits until something accepts connections on `127.0.0.1:port`.
///
/// Prefer waiting for a log line: this makes a connection of its own.
pub fn wait_listening(port: u16, timeout: Duration) -> bool {
    wait_until(timeout, || TcpStream::connect(("127.0.0.1", port)).is_ok())
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
        let mut command = Command::new(binary(name));
        command
            .args(args)
            .current_dir(dir)
            .env_clear()
            .envs(env.iter().copied());
        Program::spawn(name, command)
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
            if start.elapsed() >= timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} still running after {timeout:?}; output:\n{}",
                    self.name,
                    self.lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(1));
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
