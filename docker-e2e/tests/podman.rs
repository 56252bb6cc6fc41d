//! Podman, as far as it goes: both images built from a fresh checkout with
//! `podman build` (the Dockerfiles as they are), a server and a client run
//! with `podman run` on a Podman network, exchanging messages, and
//! `podman stop` ending the server with exit status 0.
//!
//! What is not tested here: Compose under Podman (`podman compose` needs a
//! compose provider; `docker compose` against Podman's API socket is the
//! usual one). Runs once, not once per compose flavour (`make test-docker`
//! skips `podman_` the second time).

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use docker_e2e::*;

const PREFIX: &str = "tp0e2e-podman";
const NETWORK: &str = "tp0e2e_podman_net";
const MESSAGES: u32 = 3;

/// Podman's default for rootful containers raises `nofile` and `nproc` to
/// limits a sandboxed engine without `CAP_SYS_RESOURCE` (this CI machine)
/// refuses to set ("error setting rlimit type 7: operation not permitted");
/// limits at or below the host's are always allowed.
const ULIMITS: &[&str] = &[
    "--ulimit",
    "nofile=4096:4096",
    "--ulimit",
    "nproc=4096:4096",
];

fn podman(args: &[&str]) -> Output {
    run("podman", args)
}

fn podman_ok(args: &[&str]) -> String {
    run_ok("podman", args)
}

/// What `podman logs` shows of `container`, both streams.
fn podman_logs(container: &str) -> String {
    let out = podman(&["logs", container]);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

fn podman_inspect(container: &str, format: &str) -> String {
    podman_ok(&["inspect", "--format", format, container])
        .trim()
        .to_owned()
}

/// Podman keeps its own images: the Dockerfiles' pinned builder image is
/// handed over from Docker's store when Podman has none (no registry here).
fn builder_image_in_podman() {
    let dockerfile = fs::read_to_string(repo_root().join("server/Dockerfile")).unwrap();
    let pin = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("ARG RUST_IMAGE="))
        .expect("a pinned builder image");
    if podman(&["image", "exists", pin]).status.success() {
        return;
    }
    let mut save = Command::new("docker")
        .args(["save", pin])
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker save");
    let load = Command::new("podman")
        .args(["load", "-q"])
        .stdin(save.stdout.take().expect("stdout"))
        .output()
        .expect("podman load");
    assert!(
        save.wait().expect("docker save").success(),
        "docker save {pin}"
    );
    assert!(load.status.success(), "podman load: {load:?}");
    // `docker save` records the short name, which Podman files under
    // localhost/; the Dockerfiles name it fully qualified.
    let short = pin.trim_start_matches("docker.io/library/");
    podman_ok(&["tag", &format!("localhost/{short}"), pin]);
}

/// Removes the test's containers and network, left over or not.
fn remove_containers() {
    for name in ["server", "client"] {
        let _ = podman(&["rm", "-f", &format!("{PREFIX}-{name}")]);
    }
    let _ = podman(&["network", "rm", NETWORK]);
}

/// Removes what the test made, whatever happened to it.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_containers();
        for name in ["server", "client"] {
            let _ = podman(&["rmi", &format!("localhost/{PREFIX}-{name}:latest")]);
        }
    }
}

fn build(dir: &Path, binary: &str) -> String {
    let tag = format!("localhost/{PREFIX}-{binary}:latest");
    let dockerfile = format!("./{binary}/Dockerfile");
    let mut command = Command::new("podman");
    command
        .current_dir(dir)
        // No intermediate layers kept: nothing of the build stays in
        // Podman's store but the tagged image, which the test removes.
        .args(["build", "-q", "--format", "docker", "--layers=false"])
        .args(ULIMITS)
        .args(["-f", &dockerfile, "-t", &tag, "."]);
    let out = run_command_within(command, BUILD_TIMEOUT);
    assert!(
        out.status.success(),
        "podman build of {binary} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tag
}

#[test]
fn podman_builds_both_images_and_runs_an_exchange() {
    assert!(
        Command::new("podman")
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success()),
        "podman is not installed (Debian's podman; .ci/run installs it)"
    );
    remove_containers();
    let _cleanup = Cleanup;
    builder_image_in_podman();
    let checkout = fresh_checkout();
    let dir = checkout.path();
    fs::write(
        dir.join("client/config.yaml"),
        client_yaml(MESSAGES, "100ms", "INFO")
            .replace("server:12345", &format!("{PREFIX}-server:12345")),
    )
    .unwrap();

    let server_image = build(dir, "server");
    let client_image = build(dir, "client");
    for (image, binary) in [(&server_image, "server"), (&client_image, "client")] {
        let facts = podman_ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Config.User}}|{{.Size}}",
            image,
        ]);
        let (user, size) = facts.trim().split_once('|').expect("two facts");
        assert_eq!(user, "65534:65534", "{binary} runs as nobody");
        let size: u64 = size.parse().expect("a size");
        assert!(size < 5_000_000, "{image} is {size} bytes");
    }
    // `--format docker` keeps the HEALTHCHECK (the OCI format has none).
    let health = podman_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        &server_image,
    ]);
    assert!(health.contains("--probe"), "{health}");

    podman_ok(&["network", "create", NETWORK]);
    let server = format!("{PREFIX}-server");
    let client = format!("{PREFIX}-client");
    // `podman run -d` of `image` as `name`, with `file` of the checkout
    // mounted read-only at `target`, as compose mounts the config files.
    let run_detached = |name: &str, file: &str, target: &str, image: &str| {
        let mount = format!("{}:{target}:ro", dir.join(file).display());
        let mut args = vec!["run", "-d", "--name", name, "--network", NETWORK];
        args.extend_from_slice(ULIMITS);
        args.extend_from_slice(&["-v", &mount, image]);
        podman_ok(&args);
    };
    run_detached(&server, "server/config.ini", "/config.ini", &server_image);
    wait_for("the server's config line", Duration::from_secs(30), || {
        podman_logs(&server).contains("action: config | result: success")
    });

    run_detached(&client, "client/config.yaml", "/config.yaml", &client_image);
    wait_for("the client to exit", Duration::from_secs(60), || {
        podman_inspect(&client, "{{.State.Status}}") == "exited"
    });
    let client_log = podman_logs(&client);
    assert_eq!(
        podman_inspect(&client, "{{.State.ExitCode}}"),
        "0",
        "{client_log}"
    );
    let echoes = client_log
        .lines()
        .filter(|line| line.contains("action: receive_message | result: success"))
        .count();
    assert_eq!(echoes, MESSAGES as usize, "{client_log}");

    podman_ok(&["stop", "-t", "1", &server]);
    let server_log = podman_logs(&server);
    assert_eq!(
        podman_inspect(&server, "{{.State.ExitCode}}"),
        "0",
        "{server_log}"
    );
    assert_log_format(&server, &server_log);
    assert!(
        server_log.contains("action: shutdown | result: success"),
        "{server_log}"
    );
}
