//! End-to-end tests of the Docker workflow against the real engine: the
//! images, the generated compose file, the config mounts, shutdown by
//! `docker stop` and `validar-echo-server.sh`.
//!
//! Not a default workspace member: `make test-docker` builds the images
//! (`make docker-image busybox-image`) and runs these tests one at a time
//! (`--test-threads=1`).
//!
//! # Layout
//!
//! - This library: what every test needs. [`Project`] is a throwaway compose
//!   project in a temporary directory, with its own compose file and config
//!   files, removed with `down -v` when dropped; [`TempContainer`] and
//!   [`TempNetwork`] do the same for things made with plain `docker`;
//!   [`logs`], [`exit_code`], [`status`] and [`wait_for`] read a container
//!   as a user would.
//! - [`host`]: a student's machine as far as this host can stand in for
//!   it: a Windows-style (CRLF) clone, no GNU tools, a `docker` that
//!   refuses host paths in `docker run`.
//! - `tests/*.rs`: the cases, one file per subject.
//!
//! Each project has its own name (`tp0e2e…`), container-name prefix and
//! subnet, so the tests run beside a user's `tp0` project without touching
//! it, and they never write inside the working tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use compose_gen::ComposeFile;

pub mod host;

/// Subnet of every test project's network: not the project's own
/// `172.25.125.0/24`, which a running `tp0` may hold. The tests run one at a
/// time, so one subnet serves them all.
pub const TEST_SUBNET: &str = "172.25.126.0/24";

/// How long a compose or docker command may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The repository root (where the Makefile and the scripts are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("docker-e2e lives in the workspace")
        .to_path_buf()
}

/// The compose command: `$COMPOSE` when set (`make test-docker` runs the
/// suite once with `docker-compose`, v1, and once with `docker compose`, v2),
/// else `docker compose` where the v2 plugin is installed, else
/// `docker-compose`, as the Makefile chooses.
pub fn compose_command() -> &'static [String] {
    static COMMAND: OnceLock<Vec<String>> = OnceLock::new();
    COMMAND.get_or_init(|| {
        if let Ok(chosen) = std::env::var("COMPOSE") {
            let words: Vec<String> = chosen.split_whitespace().map(str::to_owned).collect();
            if !words.is_empty() {
                return words;
            }
        }
        let v2 = Command::new("docker")
            .args(["compose", "version"])
            .output()
            .is_ok_and(|out| out.status.success());
        if v2 {
            vec!["docker".to_owned(), "compose".to_owned()]
        } else {
            vec!["docker-compose".to_owned()]
        }
    })
}

/// A compose output line without what some compose builds put before it:
/// Compose v2.26 writes `ESC[2K` (erase line) before every `logs` line, even
/// into a pipe.
pub fn strip_terminal_codes(line: &str) -> &str {
    let mut rest = line;
    while let Some(after) = rest.strip_prefix("\u{1b}[") {
        let end = after
            .find(|c: char| c.is_ascii_alphabetic())
            .map_or(after.len(), |i| i + 1);
        rest = &after[end..];
    }
    rest
}

/// A copy of the repository as a fresh clone has it: every tracked file, as
/// it is in the working tree, and nothing else (no `target/`, nothing staged
/// by an earlier build). Removed when dropped.
pub fn fresh_checkout() -> tempfile::TempDir {
    let root = repo_root();
    let out = run(
        "git",
        &["-C", root.to_str().expect("a UTF-8 path"), "ls-files", "-z"],
    );
    assert!(out.status.success(), "git ls-files failed: {out:?}");
    let dir = tempfile::Builder::new()
        .prefix("tp0e2e-checkout-")
        .tempdir()
        .expect("create a temporary directory");
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).expect("a UTF-8 file name");
        let from = root.join(name);
        if !from.exists() {
            continue; // deleted in the working tree, not yet committed
        }
        let to = dir.path().join(name);
        fs::create_dir_all(to.parent().expect("a parent")).expect("create a directory");
        fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
    dir
}

/// Runs `program args`, bounded by [`COMMAND_TIMEOUT`], and returns what it
/// printed; panics if it cannot be started or does not finish in time.
pub fn run(program: &str, args: &[&str]) -> Output {
    let mut command = Command::new(program);
    command.args(args);
    run_command(command)
}

/// Runs a prepared command as [`run`] does.
pub fn run_command(command: Command) -> Output {
    run_command_within(command, COMMAND_TIMEOUT)
}

/// How long an image build may take: a build from source with no layer
/// cache takes minutes on a small machine.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs a prepared command bounded by `timeout`; panics if it cannot be
/// started or does not finish in time.
pub fn run_command_within(command: Command, timeout: Duration) -> Output {
    // `timeout` from coreutils bounds the child without a thread here. It is
    // the test machine's, found on the test's own PATH: the command may run
    // with a PATH of a student's host, which has none.
    static TIMEOUT: OnceLock<PathBuf> = OnceLock::new();
    let timeout_tool =
        TIMEOUT.get_or_init(|| host::which("timeout").expect("coreutils' timeout on PATH"));
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut bounded = Command::new(timeout_tool);
    bounded
        .arg("-k")
        .arg("5")
        .arg(timeout.as_secs().to_string())
        .arg(&program)
        .args(&args);
    if let Some(dir) = command.get_current_dir() {
        bounded.current_dir(dir);
    }
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => bounded.env(key, value),
            None => bounded.env_remove(key),
        };
    }
    let out = bounded
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program:?}: {e}"));
    if out.status.code() == Some(124) {
        panic!("{program:?} {args:?} did not finish within {timeout:?}");
    }
    out
}

/// Runs `docker args` and panics (with its output) unless it succeeds;
/// returns its stdout.
pub fn docker(args: &[&str]) -> String {
    docker_at(None, args)
}

/// `docker args` against the engine at `host` (a `DOCKER_HOST` value), or
/// the one the environment names for `None`, without checking how it ended.
pub fn run_docker_at(host: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new("docker");
    command.args(args);
    if let Some(host) = host {
        command.env("DOCKER_HOST", host);
    }
    run_command(command)
}

/// Like [`docker`], against the engine at `host` ([`run_docker_at`]).
pub fn docker_at(host: Option<&str>, args: &[&str]) -> String {
    succeeded("docker", args, run_docker_at(host, args))
}

/// Runs `program args` and panics (with its output) unless it succeeds;
/// returns its stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    succeeded(program, args, run(program, args))
}

/// The stdout of `out`, what `program args` printed; panics with its output
/// unless it succeeded.
fn succeeded(program: &str, args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panics with a clear message unless the images the tests run exist.
pub fn require_images() {
    for image in ["server:latest", "client:latest", "busybox:latest"] {
        let out = run(
            "docker",
            &["image", "inspect", "--format", "{{.Id}}", image],
        );
        assert!(
            out.status.success(),
            "image {image} is missing: run `make test-docker`, which builds it"
        );
    }
}

/// What both images must be: one static binary on `scratch`, run as nobody,
/// under 5 MB.
pub fn assert_minimal_image(image: &str, binary: &str) {
    let format = "{{len .RootFS.Layers}}|{{.Config.User}}|{{json .Config.Entrypoint}}|\
                  {{.Config.WorkingDir}}|{{.Size}}";
    let facts = docker(&["image", "inspect", "--format", format, image]);
    let facts: Vec<&str> = facts.trim().split('|').collect();
    assert_eq!(facts[0], "1", "{image}: one layer, the binary on scratch");
    assert_eq!(facts[1], "65534:65534", "{image}: runs as nobody");
    assert_eq!(facts[2], format!("[\"/{binary}\"]"), "{image}: entrypoint");
    assert_eq!(facts[3], "/", "{image}: reads its config from /");
    let size: u64 = facts[4].parse().expect("a size");
    assert!(size < 5_000_000, "{image} is {size} bytes");

    // The one layer holds the one file: nothing else to run, not even a shell.
    let container = docker(&["create", image]).trim().to_owned();
    let _cleanup = TempContainer(container.clone());
    let export = run("docker", &["export", &container]);
    assert!(export.status.success(), "docker export {container}");
    let listing = Command::new("tar")
        .arg("-t")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut tar| {
            use std::io::Write;
            tar.stdin.take().expect("stdin").write_all(&export.stdout)?;
            tar.wait_with_output()
        })
        .expect("list the exported filesystem");
    let files: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|name| !name.ends_with('/'))
        // What the engine itself puts in every container.
        .filter(|name| !name.starts_with("dev/") && !name.starts_with("etc/"))
        .filter(|name| *name != ".dockerenv")
        .map(str::to_owned)
        .collect();
    assert_eq!(
        files,
        vec![binary.to_owned()],
        "{image} holds more than /{binary}"
    );
}

/// Everything a container printed, stdout and stderr (where the programs
/// log), stderr last.
pub fn logs(container: &str) -> String {
    let out = run("docker", &["logs", container]);
    assert!(out.status.success(), "docker logs {container} failed");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// The log lines of `container` that contain every one of `parts`.
pub fn lines_with(container: &str, parts: &[&str]) -> Vec<String> {
    logs(container)
        .lines()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .map(str::to_owned)
        .collect()
}

/// `docker inspect -f <format> container`, trimmed.
pub fn inspect(container: &str, format: &str) -> String {
    docker(&["inspect", "-f", format, container])
        .trim()
        .to_owned()
}

/// The container's state: `running`, `exited`, ...
pub fn status(container: &str) -> String {
    inspect(container, "{{.State.Status}}")
}

/// The container's exit code (meaningful once it has exited).
pub fn exit_code(container: &str) -> i32 {
    let code = inspect(container, "{{.State.ExitCode}}");
    code.parse()
        .unwrap_or_else(|_| panic!("exit code of {container}: {code:?}"))
}

/// Polls `condition` every 100 ms until it holds; panics naming `what` if it
/// still does not after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the program in `container` has started: its config line is
/// out, so its signal handling is in place (signals are registered first).
pub fn wait_started(container: &str) {
    wait_for_lines(
        container,
        &["action: config | result: success"],
        1,
        Duration::from_secs(30),
    );
}

/// Asserts that `container` logged exactly one line containing `line`.
pub fn assert_logged_once(container: &str, line: &str) {
    assert_eq!(
        lines_with(container, &[line]).len(),
        1,
        "{container} should log {line:?} once:\n{}",
        logs(container)
    );
}

/// Waits until `container` has logged at least `count` lines containing all
/// of `parts`.
pub fn wait_for_lines(container: &str, parts: &[&str], count: usize, timeout: Duration) {
    let what = format!("{count} line(s) with {parts:?} in the logs of {container}");
    wait_for(&what, timeout, || {
        lines_with(container, parts).len() >= count
    });
}

/// Waits until `container` has exited.
pub fn wait_for_exit(container: &str, timeout: Duration) {
    wait_for(&format!("{container} to exit"), timeout, || {
        status(container) == "exited"
    });
}

/// Asserts that every line of `text` has the contract's shape:
/// `YYYY-MM-DD HH:MM:SS LEVEL    action: <a> | result: <r>[ | k: v]...`,
/// with `<r>` one of `success`, `fail`, `in_progress`.
pub fn assert_log_format(container: &str, text: &str) {
    for line in text.lines() {
        assert!(
            testkit::parse_line(line).is_some(),
            "{container} logged a line off the contract: {line:?}"
        );
    }
}

/// The server's `config.ini`.
pub fn server_ini(backlog: u32, level: &str) -> String {
    format!(
        "[DEFAULT]\nSERVER_PORT = 12345\nSERVER_IP = server\n\
         SERVER_LISTEN_BACKLOG = {backlog}\nLOGGING_LEVEL = {level}\n"
    )
}

/// The clients' `config.yaml`.
pub fn client_yaml(amount: u32, period: &str, level: &str) -> String {
    format!(
        "server:\n  address: \"server:12345\"\nloop:\n  amount: {amount}\n  period: \"{period}\"\n\
         log:\n  level: \"{level}\"\nbatch:\n  maxAmount: 10\n"
    )
}

/// A compose project of the server and N clients in a temporary directory:
/// `docker-compose.yaml` beside `server/config.ini` and `client/config.yaml`,
/// exactly the layout of the repository, so the generated relative mounts
/// find the test's config files. Dropping it runs `down -v`.
#[derive(Debug)]
pub struct Project {
    /// Compose project name, `tp0e2e<tag>`.
    name: String,
    /// Put in front of every container name.
    prefix: String,
    /// Holds the compose file and the config files; removed on drop.
    dir: tempfile::TempDir,
}

impl Project {
    /// A project named `tp0e2e<tag>` with `clients` clients and the
    /// repository's committed config files. Nothing is started yet.
    pub fn new(tag: &str, clients: u32) -> Self {
        let name = format!("tp0e2e{tag}");
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir()
            .expect("create a temporary directory");
        let project = Project {
            prefix: format!("{name}-"),
            name,
            dir,
        };
        let file = ComposeFile {
            clients,
            container_prefix: project.prefix.clone(),
            subnet: TEST_SUBNET.to_owned(),
        };
        fs::write(project.compose_file(), file.to_string()).expect("write the compose file");
        for (sub, file) in [("server", "config.ini"), ("client", "config.yaml")] {
            fs::create_dir(project.dir.path().join(sub)).expect("create a config dir");
            let committed = repo_root().join(sub).join(file);
            fs::copy(&committed, project.dir.path().join(sub).join(file))
                .unwrap_or_else(|e| panic!("copy {}: {e}", committed.display()));
        }
        // Docker bind-mounts the files as they are; the containers run as
        // nobody, which must be able to read them whatever the umask.
        project.set_readable();
        project
    }

    /// Compose project name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The generated compose file.
    pub fn compose_file(&self) -> PathBuf {
        self.dir.path().join("docker-compose.yaml")
    }

    /// The project's network as Docker names it.
    pub fn network(&self) -> String {
        format!("{}_{}", self.name, compose_gen::compose::NETWORK)
    }

    /// The container of `service` (`server`, `client1`, ...).
    pub fn container(&self, service: &str) -> String {
        format!("{}{service}", self.prefix)
    }

    /// Replaces the server's `config.ini`.
    pub fn write_server_config(&self, text: &str) {
        fs::write(self.dir.path().join("server/config.ini"), text).expect("write config.ini");
        self.set_readable();
    }

    /// Replaces the clients' `config.yaml`.
    pub fn write_client_config(&self, text: &str) {
        fs::write(self.dir.path().join("client/config.yaml"), text).expect("write config.yaml");
        self.set_readable();
    }

    fn set_readable(&self) {
        use std::os::unix::fs::PermissionsExt;
        let root = self.dir.path();
        for (path, mode) in [
            (root.to_path_buf(), 0o755),
            (root.join("server"), 0o755),
            (root.join("client"), 0o755),
            (root.join("server/config.ini"), 0o644),
            (root.join("client/config.yaml"), 0o644),
        ] {
            if path.exists() {
                fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                    .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
            }
        }
    }

    /// Runs `compose -p <name> -f <file> args` and returns what it printed.
    pub fn compose(&self, args: &[&str]) -> Output {
        let (program, first) = compose_command().split_first().expect("a command");
        let mut command = Command::new(program);
        command
            .args(first)
            .arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(self.compose_file())
            .args(args);
        run_command(command)
    }

    /// Like [`Project::compose`], panicking unless it succeeds.
    pub fn compose_ok(&self, args: &[&str]) {
        let out = self.compose(args);
        assert!(
            out.status.success(),
            "compose {args:?} failed for {}: {}{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `up -d`: starts every service from the existing images.
    pub fn up(&self) {
        self.compose_ok(&["up", "-d"]);
    }

    /// `stop -t <seconds>`, what `make docker-compose-down` does first.
    pub fn stop(&self, seconds: u32) {
        self.compose_ok(&["stop", "-t", &seconds.to_string()]);
    }

    /// `down -v`: removes the containers and the network.
    pub fn down(&self) {
        self.compose_ok(&["down", "-v", "-t", "1"]);
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Runs on failure too; errors here must not hide the test's own.
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "1"]);
    }
}

/// A container started with plain `docker run -d`; `docker rm -f` on drop.
#[derive(Debug)]
pub struct TempContainer(pub String);

impl Drop for TempContainer {
    fn drop(&mut self) {
        let _ = run("docker", &["rm", "-f", &self.0]);
    }
}

/// A network made with `docker network create`; removed on drop (after the
/// containers declared later, which drop first).
#[derive(Debug)]
pub struct TempNetwork(pub String);

impl TempNetwork {
    /// Creates the network `name`, removing a leftover one first.
    pub fn create(name: &str) -> Self {
        let _ = run("docker", &["network", "rm", name]);
        docker(&["network", "create", name]);
        TempNetwork(name.to_owned())
    }
}

impl Drop for TempNetwork {
    fn drop(&mut self) {
        let _ = run("docker", &["network", "rm", &self.0]);
    }
}

// --- Docker Swarm (tests/swarm.rs) ---

/// One swarm test at a time in this process: they share the engine's swarm
/// membership.
static SWARM_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The engine's swarm state (`inactive`, `active`, `pending`, ...).
pub fn swarm_state() -> String {
    docker(&["info", "-f", "{{.Swarm.LocalNodeState}}"])
        .trim()
        .to_owned()
}

/// The engine as a swarm manager for one test. If the engine is in no swarm,
/// a single-node swarm is made and left again on drop; a swarm the engine is
/// already in is used and left as it is.
#[derive(Debug)]
pub struct Swarm {
    /// Whether this guard made the swarm (and so leaves it).
    created: bool,
    /// Whether `docker_gwbridge` came with the swarm made here.
    gwbridge_created: bool,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl Swarm {
    /// The swarm, or `None` after printing why the engine cannot run one
    /// (the test then passes without running: it is skipped).
    pub fn join_or_skip() -> Option<Swarm> {
        require_images();
        let lock = SWARM_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let skip = |why: String| {
            eprintln!("SKIPPED: this engine cannot run a swarm: {why}");
            None
        };
        match swarm_state().as_str() {
            "active" => {
                let manager = docker(&["info", "-f", "{{.Swarm.ControlAvailable}}"]);
                if manager.trim() != "true" {
                    return skip("the engine is a swarm worker, not a manager".to_owned());
                }
                Some(Swarm {
                    created: false,
                    gwbridge_created: false,
                    _lock: lock,
                })
            }
            "inactive" => {
                let gwbridge_existed = run("docker", &["network", "inspect", "docker_gwbridge"])
                    .status
                    .success();
                let out = run(
                    "docker",
                    &["swarm", "init", "--advertise-addr", "127.0.0.1"],
                );
                if !out.status.success() {
                    return skip(format!(
                        "docker swarm init failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                Some(Swarm {
                    created: true,
                    gwbridge_created: !gwbridge_existed,
                    _lock: lock,
                })
            }
            other => skip(format!("its swarm state is {other:?}")),
        }
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if !self.created {
            return;
        }
        // Something else deployed meanwhile: leaving would take it down.
        let services = run("docker", &["service", "ls", "-q"]);
        if !services.stdout.is_empty() {
            eprintln!("other services run on the swarm made for the test; staying in it");
            return;
        }
        let _ = run("docker", &["swarm", "leave", "--force"]);
        if self.gwbridge_created {
            let _ = run("docker", &["network", "rm", "docker_gwbridge"]);
        }
    }
}

/// One task of a Swarm service, as its task status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The task id.
    pub id: String,
    /// Its slot (replica number): the client's id.
    pub slot: u32,
    /// `running`, `shutdown`, ...: what Swarm wants.
    pub desired: String,
    /// `running`, `complete`, `shutdown`, `failed`, ...: what it is.
    pub state: String,
    /// Its container, once it has one.
    pub container: String,
    /// Its container's exit code (meaningful once it has exited).
    pub exit_code: Option<i32>,
    /// The id of the node it was given to.
    pub node: String,
}

impl Task {
    /// Whether the task will not run again: its container has exited.
    pub fn is_final(&self) -> bool {
        matches!(
            self.state.as_str(),
            "complete" | "shutdown" | "failed" | "rejected" | "orphaned" | "remove"
        )
    }
}

/// A stack of the generated Swarm file in a temporary directory, beside its
/// own `server/config.ini` and `client/config.yaml`. Dropping it removes the
/// stack and waits until its containers and network are gone.
#[derive(Debug)]
pub struct Stack {
    /// Stack name, `tp0e2eswarm<tag>`.
    name: String,
    /// Server replicas the stack file asks for.
    servers: u32,
    /// The manager's `DOCKER_HOST`; `None`: the environment's engine.
    host: Option<String>,
    /// Placement constraints of the server's and the clients' tasks.
    constraints: (Option<String>, Option<String>),
    /// Holds the stack file and the config files; removed on drop.
    dir: tempfile::TempDir,
}

/// Every task of the Swarm service `service`, the replaced ones included,
/// through the manager at `host` (`None`: the environment's engine).
pub fn service_tasks(host: Option<&str>, service: &str) -> Vec<Task> {
    let ids = docker_at(host, &["service", "ps", "-q", "--no-trunc", service]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let format = "{{.ID}}|{{.Slot}}|{{.DesiredState}}|{{.Status.State}}|\
                  {{with .Status.ContainerStatus}}{{.ContainerID}}|{{.ExitCode}}{{else}}|{{end}}|\
                  {{.NodeID}}";
    let mut args = vec!["inspect", "--type", "task", "-f", format];
    args.extend(&ids);
    docker_at(host, &args)
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            assert_eq!(f.len(), 7, "task line {line:?}");
            Task {
                id: f[0].to_owned(),
                slot: f[1].parse().unwrap_or(0),
                desired: f[2].to_owned(),
                state: f[3].to_owned(),
                container: f[4].to_owned(),
                exit_code: f[5].parse().ok(),
                node: f[6].to_owned(),
            }
        })
        .collect()
}

/// How long a stack may take to go away after `docker stack rm`.
pub const STACK_GONE_TIMEOUT: Duration = Duration::from_secs(60);

impl Stack {
    /// Deploys `tp0e2eswarm<tag>`: `servers` server replicas and no clients
    /// yet ([`Stack::start_clients`]), the repository's `config.ini`.
    pub fn deploy(_swarm: &Swarm, tag: &str, servers: u32) -> Self {
        Self::deploy_at(None, &format!("tp0e2eswarm{tag}"), servers, (None, None))
    }

    /// Deploys `name` as [`Stack::deploy`] does, through the manager at
    /// `host` (`None`: the environment's engine), each service's tasks placed by
    /// its constraint (server, client) if any.
    pub fn deploy_at(
        host: Option<&str>,
        name: &str,
        servers: u32,
        constraints: (Option<&str>, Option<&str>),
    ) -> Self {
        let name = name.to_owned();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir()
            .expect("create a temporary directory");
        for (sub, file) in [("server", "config.ini"), ("client", "config.yaml")] {
            fs::create_dir(dir.path().join(sub)).expect("create a config dir");
            fs::copy(
                repo_root().join(sub).join(file),
                dir.path().join(sub).join(file),
            )
            .expect("copy a config file");
        }
        let stack = Stack {
            name,
            servers,
            host: host.map(str::to_owned),
            constraints: (
                constraints.0.map(str::to_owned),
                constraints.1.map(str::to_owned),
            ),
            dir,
        };
        // A leftover of an aborted run would keep old tasks around.
        stack.remove();
        stack.deploy_with_clients(0);
        stack.wait_running("server", servers, Duration::from_secs(60));
        stack
    }

    /// Redeploys with `clients` client replicas reading `client_config`.
    pub fn start_clients(&self, clients: u32, client_config: &str) {
        fs::write(self.dir.path().join("client/config.yaml"), client_config)
            .expect("write config.yaml");
        self.deploy_with_clients(clients);
    }

    fn deploy_with_clients(&self, clients: u32) {
        let mut stack = compose_gen::Stack::from_dir(self.dir.path(), self.servers, clients)
            .expect("tag the config files");
        stack.server_constraint.clone_from(&self.constraints.0);
        stack.client_constraint.clone_from(&self.constraints.1);
        let file = self.dir.path().join("docker-stack.yaml");
        fs::write(&file, stack.to_string()).expect("write the stack file");
        self.docker(&[
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
            file.to_str().expect("a UTF-8 path"),
            &self.name,
        ]);
    }

    /// Stack name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `docker args` against the stack's manager, panicking unless it
    /// succeeds; returns its stdout.
    pub fn docker(&self, args: &[&str]) -> String {
        docker_at(self.host.as_deref(), args)
    }

    /// The Swarm name of `service` (`server`, `client`).
    pub fn service(&self, service: &str) -> String {
        format!("{}_{service}", self.name)
    }

    /// Every task of `service`, the replaced ones included.
    pub fn tasks(&self, service: &str) -> Vec<Task> {
        service_tasks(self.host.as_deref(), &self.service(service))
    }

    /// The tasks of `service` that Swarm keeps running.
    pub fn running(&self, service: &str) -> Vec<Task> {
        self.tasks(service)
            .into_iter()
            .filter(|t| t.desired == "running" && t.state == "running")
            .collect()
    }

    /// Waits until exactly `count` tasks of `service` run and every other
    /// one has exited.
    pub fn wait_running(&self, service: &str, count: u32, timeout: Duration) {
        let what = format!("{count} running task(s) of {}", self.service(service));
        wait_for(&what, timeout, || {
            let tasks = self.tasks(service);
            let running = tasks.iter().filter(|t| t.state == "running").count();
            let settled = tasks
                .iter()
                .all(|t| t.is_final() || (t.desired == "running" && t.state == "running"));
            settled && running == count as usize
        });
    }

    /// Waits until every task of `service` has exited.
    pub fn wait_all_exited(&self, service: &str, timeout: Duration) {
        let what = format!("every task of {} to exit", self.service(service));
        wait_for(&what, timeout, || {
            let tasks = self.tasks(service);
            !tasks.is_empty() && tasks.iter().all(Task::is_final)
        });
    }

    /// `docker stack rm`, then waits until the stack's containers and
    /// network are gone.
    pub fn remove(&self) {
        let host = self.host.as_deref();
        let _ = run_docker_at(host, &["stack", "rm", &self.name]);
        let label = format!("label=com.docker.stack.namespace={}", self.name);
        let network = format!("{}_{}", self.name, compose_gen::compose::NETWORK);
        wait_for(
            &format!("stack {} to be gone", self.name),
            STACK_GONE_TIMEOUT,
            || {
                run_docker_at(host, &["ps", "-aq", "-f", &label])
                    .stdout
                    .is_empty()
                    && !run_docker_at(host, &["network", "inspect", &network])
                        .status
                        .success()
            },
        );
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Runs on failure too; a panic here would hide the test's own.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.remove()));
    }
}

/// Checks the log `text` of the server task `task`: on the contract, no
/// failed exchange, and, if it has exited, exit 0 after its shutdown line.
/// Returns whether it has exited (was replaced or removed).
pub fn check_server_task(task: &Task, text: &str) -> bool {
    assert_log_format(&task.container, text);
    assert!(
        !text.contains("result: fail"),
        "server task {}:\n{text}",
        task.id
    );
    if task.is_final() {
        assert_eq!(task.exit_code, Some(0), "server task {task:?}:\n{text}");
        assert!(
            text.contains("action: shutdown | result: success"),
            "server task {}:\n{text}",
            task.id
        );
    }
    task.is_final()
}

/// The log lines of the client task `task` that report an echo.
pub fn echoes(task: &Task) -> usize {
    lines_with(
        &task.container,
        &["action: receive_message | result: success"],
    )
    .len()
}

/// `docker logs -f` of a container into a file, so its log survives the
/// container's removal (Swarm removes the containers of a removed stack).
#[derive(Debug)]
pub struct LogFollower {
    child: std::process::Child,
    file: tempfile::NamedTempFile,
}

impl LogFollower {
    /// Starts following `container` (its whole log, then what comes).
    pub fn start(container: &str) -> Self {
        let file = tempfile::NamedTempFile::new().expect("create a log file");
        let out = file.reopen().expect("reopen the log file");
        let err = file.reopen().expect("reopen the log file");
        let child = Command::new("docker")
            .args(["logs", "-f", container])
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("run docker logs -f");
        LogFollower { child, file }
    }

    /// Waits until the container's log has ended (it stopped), then returns
    /// the log; panics after `timeout`.
    pub fn finish(mut self, timeout: Duration) -> String {
        wait_for("docker logs -f to end", timeout, || {
            self.child.try_wait().ok().flatten().is_some()
        });
        fs::read_to_string(self.file.path()).expect("read the followed log")
    }
}

impl Drop for LogFollower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that the task container `name` died exactly once, with exit
/// code 0, among `exits` (from [`stack_exit_codes`]).
pub fn assert_exited_0_once(exits: &[(String, i32)], name: &str) {
    let codes: Vec<i32> = exits
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .collect();
    assert_eq!(codes, [0], "exit of {name}; all: {exits:?}");
}

/// Exit codes of the containers of stack `name` that died since `since`
/// (Unix seconds), by container name, from the engine's event log.
pub fn stack_exit_codes(name: &str, since: u64) -> Vec<(String, i32)> {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
        + 1;
    let label = format!("label=com.docker.stack.namespace={name}");
    docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "type=container",
        "--filter",
        "event=die",
        "--filter",
        &label,
        "--format",
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
    ])
    .lines()
    .filter_map(|line| {
        let (container, code) = line.rsplit_once(' ')?;
        Some((container.to_owned(), code.parse().ok()?))
    })
    .collect()
}

// --- A multi-node swarm of engines in containers (tests/cluster.rs) ---

/// How long `make cluster-up` may take: the first one on a machine may make
/// the node image (about a minute) before the nodes start.
pub const CLUSTER_UP_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `make args` from the repository root, bounded by `timeout`, with
/// `DOCKER_HOST` set to `host`, or unset for `None` (this machine's engine).
pub fn make_at(host: Option<&str>, args: &[&str], timeout: Duration) -> Output {
    let mut command = Command::new("make");
    command
        .current_dir(repo_root())
        .arg("--no-print-directory")
        .args(args);
    match host {
        Some(host) => command.env("DOCKER_HOST", host),
        None => command.env_remove("DOCKER_HOST"),
    };
    run_command_within(command, timeout)
}

/// What a command printed, stdout then stderr.
pub fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A swarm of Docker engines in containers on this engine, made by
/// `make cluster-up` under the name `tp0e2ecluster<tag>` with its state in a
/// temporary directory; `make cluster-down` on drop, even when the test
/// fails or `cluster-up` did.
#[derive(Debug)]
pub struct Cluster {
    /// `CLUSTER=` of the make targets; node `n` is the container `<name>-n`.
    name: String,
    /// `CLUSTER_DIR=`: the state and the managers' sockets.
    dir: tempfile::TempDir,
    /// The first manager's `DOCKER_HOST`, as cluster-up wrote it.
    host: String,
}

impl Cluster {
    /// `make cluster-up NODES=nodes MANAGERS=managers` (the images are those
    /// `make test-docker` built); panics with its output unless it succeeds.
    pub fn up(tag: &str, nodes: u32, managers: u32) -> Self {
        let name = format!("tp0e2ecluster{tag}");
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir()
            .expect("create a temporary directory");
        let mut cluster = Cluster {
            name,
            dir,
            host: String::new(),
        };
        let started = Instant::now();
        let out = cluster.make(
            None,
            &[
                "cluster-up",
                "-o",
                "docker-image",
                &format!("NODES={nodes}"),
                &format!("MANAGERS={managers}"),
            ],
            CLUSTER_UP_TIMEOUT,
        );
        let text = printed(&out);
        assert!(out.status.success(), "make cluster-up:\n{text}");
        eprintln!(
            "cluster-up of {nodes} nodes ({managers} manager(s)) took {:?}",
            started.elapsed()
        );
        let host = fs::read_to_string(cluster.dir.path().join("docker-host"))
            .expect("cluster-up writes docker-host");
        cluster.host = host.trim().to_owned();
        assert!(
            text.contains(&format!("cluster-up: DOCKER_HOST={}", cluster.host)),
            "{text}"
        );
        cluster
    }

    /// The first manager's `DOCKER_HOST`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `DOCKER_HOST` of manager `n` (1 is the first).
    pub fn manager_host(&self, n: u32) -> String {
        format!(
            "unix://{}/{}/docker.sock",
            self.dir.path().display(),
            self.node(n)
        )
    }

    /// The container of node `n`, also its host name in the swarm.
    pub fn node(&self, n: u32) -> String {
        format!("{}-{n}", self.name)
    }

    /// `make args CLUSTER=… CLUSTER_DIR=…`, with `DOCKER_HOST` at `host`
    /// (`None`: unset).
    pub fn make(&self, host: Option<&str>, args: &[&str], timeout: Duration) -> Output {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.push(format!("CLUSTER={}", self.name));
        all.push(format!("CLUSTER_DIR={}", self.dir.path().display()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        make_at(host, &all, timeout)
    }

    /// `docker args` through the first manager; panics unless it succeeds.
    pub fn docker(&self, args: &[&str]) -> String {
        docker_at(Some(&self.host), args)
    }

    /// The host name (so the container) of the swarm node `id`.
    pub fn hostname(&self, id: &str) -> String {
        self.docker(&["node", "inspect", "-f", "{{.Description.Hostname}}", id])
            .trim()
            .to_owned()
    }

    /// `docker args` in the node container `node`, through this engine.
    pub fn in_node(&self, node: &str, args: &[&str]) -> Output {
        let mut all = vec!["exec", node, "docker"];
        all.extend(args);
        let mut command = Command::new("docker");
        command.args(&all).env_remove("DOCKER_HOST");
        run_command(command)
    }

    /// Everything the container of `task` printed, read on its node.
    pub fn task_logs(&self, task: &Task) -> String {
        let node = self.hostname(&task.node);
        let out = self.in_node(&node, &["logs", &task.container]);
        assert!(
            out.status.success(),
            "docker logs {} on {node}: {}",
            task.container,
            printed(&out)
        );
        printed(&out)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Runs on failure too; errors here must not hide the test's own.
        let out = self.make(None, &["cluster-down"], COMMAND_TIMEOUT);
        if !out.status.success() {
            eprintln!("make cluster-down failed:\n{}", printed(&out));
        }
    }
}
