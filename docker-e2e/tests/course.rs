//! The course's own sequence, word for word, on a fresh checkout:
//! `bash generar-compose.sh docker-compose-dev.yaml N`, the two plain
//! `docker build`s, `compose -f docker-compose-dev.yaml up -d`, `logs -f`
//! read line by line, `stop` and `down`.
//!
//! That sequence uses the project's real names (project `tp0` from `.env`,
//! containers `server` and `clientN`, subnet `172.25.125.0/24`), so it runs
//! only where no `tp0` of a user's is up, and says so when it skips.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use docker_e2e::*;

const CLIENTS: u32 = 3;
const MESSAGES: u32 = 4;

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

/// Runs a command in `dir` (an image build, at most [`BUILD_TIMEOUT`]) and
/// panics with its output unless it succeeds.
fn run_in(dir: &std::path::Path, program: &str, args: &[&str]) {
    let mut command = Command::new(program);
    command.current_dir(dir).args(args);
    let out = run_command_within(command, BUILD_TIMEOUT);
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `compose -f docker-compose-dev.yaml <args>` in `dir`, as the course types it.
fn compose_in(dir: &std::path::Path, args: &[&str]) -> Command {
    let (program, first) = compose_command().split_first().expect("a command");
    let mut command = Command::new(program);
    command
        .current_dir(dir)
        .args(first)
        .args(["-f", "docker-compose-dev.yaml"])
        .args(args);
    command
}

/// Takes the project down whatever happens to the test.
struct Down<'a>(&'a std::path::Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = run_command(compose_in(self.0, &["down", "-v", "-t", "1"]));
    }
}

#[test]
fn the_course_sequence_works_on_a_fresh_checkout() {
    if let Some(reason) = tp0_in_use() {
        eprintln!("skipped: {reason}; the course's sequence would touch it");
        return;
    }
    let checkout = fresh_checkout();
    let dir = checkout.path();
    let clients = CLIENTS.to_string();
    run_in(
        dir,
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
        run_in(
            dir,
            "docker",
            &["build", "-q", "-f", &dockerfile, "-t", &tag, "."],
        );
    }

    let _down = Down(dir);
    let up = run_command(compose_in(dir, &["up", "-d"]));
    assert!(up.status.success(), "up -d: {up:?}");

    // `logs -f`, read line by line as the course's tooling does, until every
    // client has logged the end of its loop.
    let mut follow = compose_in(dir, &["logs", "-f", "--no-color"])
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
                app::logline::parse_line(entry).is_some(),
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

    let stop = run_command(compose_in(dir, &["stop"]));
    assert!(stop.status.success(), "stop: {stop:?}");
    let mut containers = vec!["server".to_owned()];
    containers.extend((1..=CLIENTS).map(|id| format!("client{id}")));
    for container in &containers {
        assert_eq!(status(container), "exited", "{}", logs(container));
        assert_eq!(exit_code(container), 0, "{}", logs(container));
    }
    assert_logged_once("server", "action: shutdown | result: success");
    let down = run_command(compose_in(dir, &["down"]));
    assert!(down.status.success(), "down: {down:?}");
}
