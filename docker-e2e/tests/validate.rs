//! `validar-echo-server.sh` against a real server, no server, and servers
//! that answer wrongly or not at all.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use docker_e2e::host::StudentHost;
use docker_e2e::*;

const SUCCESS: &str = "action: test_echo_server | result: success\n";
const FAIL: &str = "action: test_echo_server | result: fail\n";

/// Runs the script under plain `sh` against `network`, as a user would.
fn validate(network: &str) -> (Output, Duration) {
    validate_with(network, |_| {})
}

/// [`validate`], the command first adjusted by `setup`.
fn validate_with(network: &str, setup: impl FnOnce(&mut Command)) -> (Output, Duration) {
    let mut command = Command::new("sh");
    command
        .arg(repo_root().join("validar-echo-server.sh"))
        .env("NETWORK", network)
        .env("NC_TIMEOUT", "2");
    setup(&mut command);
    let start = Instant::now();
    let out = run_command(command);
    (out, start.elapsed())
}

/// Its one line on stderr, which must start with `start`.
fn assert_says_why(out: &Output, start: &str) {
    let why = String::from_utf8_lossy(&out.stderr);
    assert_eq!(why.lines().count(), 1, "{out:?}");
    assert!(
        why.starts_with(&format!("validar-echo-server.sh: {start}")),
        "{why}"
    );
}

fn assert_result(out: &Output, expected: &str, code: i32) {
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{out:?}");
    assert_eq!(out.status.code(), Some(code), "{out:?}");
}

/// A busybox container called `server` on `network` running `command`,
/// returned once it listens on 12345.
fn fake_server(network: &str, name: &str, command: &[&str]) -> TempContainer {
    let _ = run("docker", &["rm", "-f", name]);
    let mut args = vec![
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "--network-alias",
        "server",
        "busybox:latest",
    ];
    args.extend_from_slice(command);
    docker(&args);
    let container = TempContainer(name.to_owned());
    wait_for(
        &format!("{name} to listen"),
        Duration::from_secs(20),
        || {
            run("docker", &["exec", name, "netstat", "-ltn"])
                .stdout
                .split(|&b| b == b'\n')
                .any(|line| String::from_utf8_lossy(line).contains(":12345 "))
        },
    );
    container
}

#[test]
fn success_against_the_running_server() {
    require_images();
    let project = Project::new("validate", 1);
    project.write_client_config(&client_yaml(1, "100ms", "INFO"));
    project.up();
    // The client's echo proves the server listens.
    let client = project.container("client1");
    wait_for_exit(&client, Duration::from_secs(60));
    assert_eq!(exit_code(&client), 0, "{}", logs(&client));

    let (out, _) = validate(&project.network());
    assert_result(&out, SUCCESS, 0);
    let server = project.container("server");
    let echoed = lines_with(
        &server,
        &[
            "action: receive_message | result: success",
            "msg: validar-echo-server ",
        ],
    );
    assert_eq!(echoed.len(), 1, "{}", logs(&server));
    assert_eq!(
        docker(&["ps", "-aq", "--filter", "name=validar-echo-server"]),
        ""
    );
}

#[test]
fn fail_without_a_server() {
    require_images();
    // No such network at all (nothing is up).
    let (out, _) = validate("tp0e2e_no_such_net");
    assert_result(&out, FAIL, 1);
    assert_says_why(&out, "docker could not run the netcat container");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tp0e2e_no_such_net not found"),
        "{out:?}"
    );
    // The network exists but nothing called `server` is on it.
    let network = TempNetwork::create("tp0e2e_empty_net");
    let (out, _) = validate(&network.0);
    assert_result(&out, FAIL, 1);
    assert_says_why(
        &out,
        "no echo from server:12345 on network tp0e2e_empty_net: ",
    );
}

#[test]
fn a_missing_netcat_image_is_a_fail_that_says_so() {
    require_images();
    let network = TempNetwork::create("tp0e2e_noimage_net");
    let (out, took) = validate_with(&network.0, |command| {
        command.env("NC_IMAGE", "tp0e2e-no-such-image:latest");
    });
    assert_result(&out, FAIL, 1);
    assert_says_why(
        &out,
        "docker could not run the netcat container (tp0e2e-no-such-image:latest",
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// The host side needs no GNU tool: on a userland of busybox applets with
/// no `timeout` (as on macOS), a running server passes and a stopped one
/// fails, each within the script's bound.
#[test]
fn on_a_host_without_gnu_tools_success_then_fail_once_the_server_stops() {
    require_images();
    let project = Project::new("validatehost", 0);
    project.up();
    let server = project.container("server");
    wait_started(&server);
    let host = StudentHost::new(&repo_root());
    assert!(!host.path().join("timeout").exists());
    let on_the_host = |command: &mut Command| {
        host.apply(command);
    };
    let (out, took) = validate_with(&project.network(), on_the_host);
    assert_result(&out, SUCCESS, 0);
    assert!(took < Duration::from_secs(12), "took {took:?}");

    docker(&["stop", "-t", "1", &server]);
    let (out, took) = validate_with(&project.network(), on_the_host);
    assert_result(&out, FAIL, 1);
    assert_says_why(&out, "no echo from server:12345");
    assert!(took < Duration::from_secs(12), "took {took:?}");
    assert_eq!(host.docker_runs(), (2, 0));
}

/// A `docker run` that never returns (a stuck engine) is cut off by the
/// script's own watchdog, not by the host's `timeout` (there is none).
#[test]
fn a_stuck_docker_is_a_fail_within_the_bound() {
    let host = StudentHost::with_docker(|_| "#!/bin/sh\nexec sleep 3600\n".to_owned());
    let (out, took) = validate_with("tp0e2e_any_net", |command| {
        host.apply(command).env("NC_TIMEOUT", "1");
    });
    assert_result(&out, FAIL, 1);
    assert_says_why(&out, "no echo from server:12345 on network tp0e2e_any_net: docker run did not finish within 11 s");
    assert!(
        (Duration::from_secs(10)..Duration::from_secs(16)).contains(&took),
        "took {took:?}"
    );
}

#[test]
fn fail_when_the_stopped_server_is_gone() {
    require_images();
    let project = Project::new("validatestop", 0);
    project.up();
    let server = project.container("server");
    wait_started(&server);
    docker(&["stop", "-t", "1", &server]);
    let (out, _) = validate(&project.network());
    assert_result(&out, FAIL, 1);
}

/// A fake server on a network of its own that reads one line and replies
/// with what `reply` (a shell snippet seeing the line as `$line`) prints.
fn validate_against_fake_reply(tag: &str, reply: &str) -> Output {
    require_images();
    let network = TempNetwork::create(&format!("tp0e2e_{tag}_net"));
    let script = format!("read line; {reply}");
    let _server = fake_server(
        &network.0,
        &format!("tp0e2e-{tag}-server"),
        &["nc", "-ll", "-p", "12345", "-e", "sh", "-c", &script],
    );
    validate(&network.0).0
}

#[test]
fn fail_against_a_server_that_answers_something_else() {
    let out = validate_against_fake_reply("wrong", "echo \"not $line\"");
    assert_result(&out, FAIL, 1);
}

#[test]
fn fail_against_a_server_that_answers_without_the_newline() {
    let out = validate_against_fake_reply("nonl", "printf %s \"$line\"");
    assert_result(&out, FAIL, 1);
}

#[test]
fn fail_within_seconds_against_a_server_that_never_answers() {
    require_images();
    let network = TempNetwork::create("tp0e2e_mute_net");
    let _server = fake_server(
        &network.0,
        "tp0e2e-mute-server",
        &["nc", "-ll", "-p", "12345", "-e", "sleep", "3600"],
    );
    let (out, took) = validate(&network.0);
    assert_result(&out, FAIL, 1);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(
        docker(&["ps", "-aq", "--filter", "name=validar-echo-server"]),
        ""
    );
}

#[test]
fn success_against_a_fake_server_that_echoes() {
    // The control for the fakes above: the same setup with a true echo passes.
    require_images();
    let network = TempNetwork::create("tp0e2e_cat_net");
    let _server = fake_server(
        &network.0,
        "tp0e2e-cat-server",
        &["nc", "-ll", "-p", "12345", "-e", "cat"],
    );
    let (out, _) = validate(&network.0);
    assert_result(&out, SUCCESS, 0);
}
