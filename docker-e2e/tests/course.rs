//! The course's own sequence, word for word, on a student's machine:
//! `bash generar-compose.sh docker-compose-dev.yaml N`, the two plain
//! `docker build`s, `docker compose -f docker-compose-dev.yaml up -d`,
//! `sh validar-echo-server.sh`, `logs -f` read line by line, `stop -t 1` and
//! `down`, on a clone made as Git for Windows makes it (CRLF by default),
//! with a host userland that has no GNU tool (no `timeout`, as on macOS) and
//! a `docker` that refuses host paths in `docker run` (as Git Bash breaks
//! them); once with the classic builder, once with BuildKit (the default of
//! every current Docker).
//!
//! That sequence uses the project's real names (project `tp0` from `.env`,
//! containers `server` and `clientN`, subnet `172.25.125.0/24`, network
//! `tp0_testing_net`), so it runs only where no `tp0` of a user's is up, and
//! says so when it skips.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use docker_e2e::host::{files_with_crlf, windows_style_clone, StudentHost};
use docker_e2e::*;

const CLIENTS: u32 = 2;
const MESSAGES: u32 = 4;
const SUCCESS: &str = "action: test_echo_server | result: success\n";
const FAIL: &str = "action: test_echo_server | result: fail\n";

/// Why the sequence cannot run here without touching a user's `tp0`.
fn tp0_in_use() -> Option<String> {
    let mut names = vec!["server".to_owned()];
    names.extend((1..=CLIENTS).map(|id| format!("client{id}")));
    for name in names {
        if run("docker", &["container", "inspect", &name])
            .status
            .success()
        {
            return Some(format!("a container named {name} exists"));
        }
    }
    if run("docker", &["network", "inspect", "tp0_testing_net"])
        .status
        .success()
    {
        return Some("the network tp0_testing_net exists".to_owned());
    }
    None
}

/// The image builder a student's Docker uses.
#[derive(Debug, Clone, Copy)]
enum Builder {
    /// `DOCKER_BUILDKIT=0`: the classic builder (Docker before 23.0).
    Classic,
    /// `DOCKER_BUILDKIT=1`: BuildKit, through the buildx plugin (Docker
    /// Desktop and every Docker Engine since 23.0).
    BuildKit,
}

/// The student: a checkout, a host, a builder.
struct Student<'a> {
    dir: &'a Path,
    host: &'a StudentHost,
    builder: Builder,
}

impl Student<'_> {
    /// `program args` as the student types it in the checkout.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command.current_dir(self.dir).args(args);
        self.host.apply(&mut command);
        let buildkit = match self.builder {
            Builder::Classic => "0",
            Builder::BuildKit => "1",
        };
        command.env("DOCKER_BUILDKIT", buildkit);
        command
    }

    /// Runs `program args` (an image build: at most [`BUILD_TIMEOUT`]) and
    /// panics with its output unless it succeeds.
    fn run_ok(&self, program: &str, args: &[&str]) -> Output {
        let out = run_command_within(self.command(program, args), BUILD_TIMEOUT);
        assert!(
            out.status.success(),
            "{program} {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `compose -f docker-compose-dev.yaml <args>`, as the course types it.
    fn compose(&self, args: &[&str]) -> Command {
        let (program, first) = compose_command().split_first().expect("a command");
        let mut command = self.command(program, &[]);
        command
            .args(first)
            .args(["-f", "docker-compose-dev.yaml"])
            .args(args);
        command
    }

    /// `sh validar-echo-server.sh`: what it printed, and how long it took.
    fn validate(&self) -> (Output, Duration) {
        let start = Instant::now();
        let out = run_command(self.command("sh", &["validar-echo-server.sh"]));
        (out, start.elapsed())
    }
}

/// Takes the project down whatever happens to the test.
struct Down<'a>(&'a Student<'a>);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = run_command(self.0.compose(&["down", "-v", "-t", "1"]));
    }
}

/// `logs -f`, read line by line as the course's tooling does, until every
/// client has logged the end of its loop; returns the echoes the clients
/// logged. Every client line is on the contract and none is a fail.
fn follow_until_the_clients_finish(student: &Student<'_>) -> u32 {
    let mut follow = student
        .compose(&["logs", "-f", "--no-color"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start logs -f");
    let stdout = follow.stdout.take().expect("stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut finished = 0;
    let mut echoes = 0;
    let mut seen = Vec::new();
    while finished < CLIENTS {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = received.recv_timeout(left) else {
            let _ = follow.kill();
            panic!(
                "logs -f: {finished} of {CLIENTS} clients finished:\n{}",
                seen.join("\n")
            );
        };
        // `client1  | 2026-... INFO     action: ...`, with whatever terminal
        // codes the compose build puts in front.
        let line = strip_terminal_codes(&line).to_owned();
        let (service, entry) = line.split_once(" | ").unwrap_or(("", &line));
        let entry = entry.trim_start();
        if service.trim().starts_with("client") {
            assert!(
                testkit::parse_line(entry).is_some(),
                "off the contract: {line:?}"
            );
            assert!(!entry.contains("result: fail"), "{line}");
            if entry.contains("action: receive_message | result: success") {
                echoes += 1;
            }
            if entry.contains("action: loop_finished | result: success") {
                finished += 1;
            }
        }
        seen.push(line);
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(echoes, CLIENTS * MESSAGES, "{}", seen.join("\n"));
    echoes
}

fn the_course_sequence(builder: Builder) {
    if let Some(reason) = tp0_in_use() {
        eprintln!("skipped: {reason}; the course's sequence would touch it");
        return;
    }
    let clone = windows_style_clone();
    let dir = clone.path().join("tp0");
    assert_eq!(
        files_with_crlf(&dir),
        Vec::<String>::new(),
        "a core.autocrlf=true clone has CRLF files"
    );
    let host = StudentHost::new(&dir);
    let student = Student {
        dir: &dir,
        host: &host,
        builder,
    };

    let clients = CLIENTS.to_string();
    student.run_ok(
        "bash",
        &["generar-compose.sh", "docker-compose-dev.yaml", &clients],
    );
    std::fs::write(
        dir.join("client/config.yaml"),
        client_yaml(MESSAGES, "100ms", "INFO"),
    )
    .expect("write config.yaml");
    for binary in ["server", "client"] {
        let dockerfile = format!("./{binary}/Dockerfile");
        let tag = format!("{binary}:latest");
        student.run_ok(
            "docker",
            &["build", "-q", "-f", &dockerfile, "-t", &tag, "."],
        );
        assert_minimal_image(&tag, binary);
    }

    let _down = Down(&student);
    let up = run_command(student.compose(&["up", "-d"]));
    assert!(up.status.success(), "up -d: {up:?}");
    let (check, took) = student.validate();
    assert_eq!(String::from_utf8_lossy(&check.stdout), SUCCESS, "{check:?}");
    assert_eq!(check.status.code(), Some(0), "{check:?}");
    assert!(took < Duration::from_secs(20), "validation took {took:?}");

    follow_until_the_clients_finish(&student);

    let stop = run_command(student.compose(&["stop", "-t", "1"]));
    assert!(stop.status.success(), "stop: {stop:?}");
    let mut containers = vec!["server".to_owned()];
    containers.extend((1..=CLIENTS).map(|id| format!("client{id}")));
    for container in &containers {
        assert_eq!(status(container), "exited", "{}", logs(container));
        assert_eq!(exit_code(container), 0, "{}", logs(container));
    }
    assert_logged_once("server", "action: shutdown | result: success");

    // A stopped server is a fail, said why on stderr, within the bound.
    let (check, took) = student.validate();
    assert_eq!(String::from_utf8_lossy(&check.stdout), FAIL, "{check:?}");
    assert_eq!(check.status.code(), Some(1), "{check:?}");
    let why = String::from_utf8_lossy(&check.stderr);
    assert!(
        why.starts_with("validar-echo-server.sh: no echo from server:12345")
            && why.lines().count() == 1,
        "{why}"
    );
    assert!(took < Duration::from_secs(20), "validation took {took:?}");

    let down = run_command(student.compose(&["down"]));
    assert!(down.status.success(), "down: {down:?}");
    // The generator and both validations ran containers, none handed a path.
    let (runs, refused) = host.docker_runs();
    assert!(
        runs >= 3,
        "{runs} docker runs went through the host's docker"
    );
    assert_eq!(refused, 0, "a docker run was handed a host path");
}

#[test]
fn the_course_sequence_works_on_a_students_machine_with_the_classic_builder() {
    the_course_sequence(Builder::Classic);
}

#[test]
fn the_course_sequence_works_on_a_students_machine_with_buildkit() {
    the_course_sequence(Builder::BuildKit);
}
