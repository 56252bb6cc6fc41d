//! The images as a user with nothing but Docker makes them: a plain
//! `docker build` from a fresh checkout, and what the result holds.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use docker_e2e::*;

/// The images `make docker-image` built (the plain `docker build` commands).
#[test]
fn images_are_one_static_binary_on_scratch_run_as_nobody() {
    require_images();
    assert_minimal_image("server:latest", "server");
    assert_minimal_image("client:latest", "client");
}

/// The course's own commands, on a checkout with no host toolchain output
/// in it: `docker build -f ./server/Dockerfile -t server:latest .`, same for
/// the client. Tagged apart here so the suite's images stay as they are.
#[test]
fn a_fresh_checkout_builds_both_images_with_plain_docker_build() {
    let checkout = fresh_checkout();
    assert!(!checkout.path().join("target").exists());
    for binary in ["server", "client"] {
        let tag = format!("tp0e2e-fresh-{binary}:latest");
        let mut build = Command::new("docker");
        build
            .current_dir(checkout.path())
            .args(["build", "-q", "-f"])
            .arg(format!("./{binary}/Dockerfile"))
            .args(["-t", &tag, "."]);
        let out = run_command_within(build, BUILD_TIMEOUT);
        assert!(
            out.status.success(),
            "docker build of {binary} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_minimal_image(&tag, binary);
        // The image runs: `--help` needs no config and no network.
        let help = run("docker", &["run", "--rm", &tag, "--help"]);
        assert!(help.status.success(), "{tag} --help: {help:?}");
        assert!(String::from_utf8_lossy(&help.stdout).contains(binary));
        docker(&["rmi", &tag]);
    }
}

/// The builder stage is the same text in the three Dockerfiles (server,
/// client, compose-gen), so every build after the first reuses all its
/// layers and the binaries are built once.
#[test]
fn both_dockerfiles_share_one_builder_stage() {
    let stage = |binary: &str| {
        let text = fs::read_to_string(repo_root().join(binary).join("Dockerfile")).unwrap();
        let start = text
            .find("ARG RUST_IMAGE=")
            .expect("a pinned builder image");
        let end = text.find("FROM scratch").expect("a scratch stage");
        text[start..end].to_owned()
    };
    assert_eq!(stage("server"), stage("client"));
    assert_eq!(stage("server"), stage("compose-gen"));
    let pin = stage("server");
    let pin = pin.lines().next().unwrap();
    let tag = pin.trim_start_matches("ARG RUST_IMAGE=docker.io/library/rust:");
    assert!(
        tag.split('-').next().unwrap().split('.').count() == 3,
        "the Rust image is pinned to a full version: {pin}"
    );
    for syntax in ["RUN --mount", "<<", "# syntax="] {
        assert!(
            !stage("server").contains(syntax),
            "BuildKit-only syntax in the builder stage: {syntax}"
        );
    }
}

/// Cargo reads every workspace member's manifest, and the images compile the
/// sources of the server, the client and the workspace crates they use: the
/// Dockerfiles and `.dockerignore` must name each one, or a new crate breaks
/// the build from a fresh clone.
#[test]
fn dockerfiles_and_dockerignore_cover_the_workspace() {
    let root = repo_root();
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members_line = manifest
        .lines()
        .find(|l| l.starts_with("members"))
        .expect("a members line");
    let members: Vec<&str> = members_line.split('"').skip(1).step_by(2).collect();
    assert!(members.contains(&"server") && members.contains(&"client"));

    let dockerfile = fs::read_to_string(root.join("server/Dockerfile")).unwrap();
    let ignore = fs::read_to_string(root.join(".dockerignore")).unwrap();
    for member in &members {
        let copy = format!("COPY {member}/Cargo.toml {member}/");
        assert!(dockerfile.contains(&copy), "Dockerfile lacks {copy:?}");
        assert!(
            ignore.lines().any(|l| l == format!("!{member}/Cargo.toml")),
            ".dockerignore does not let {member}/Cargo.toml through"
        );
    }
    for member in workspace_crates_of(&root, &members, &["server", "client", "compose-gen"]) {
        let copy = format!("COPY {member}/src {member}/src");
        assert!(dockerfile.contains(&copy), "Dockerfile lacks {copy:?}");
        assert!(
            ignore.lines().any(|l| l == format!("!{member}/src")),
            ".dockerignore does not let {member}/src through"
        );
    }
    for kept_out in ["target", ".git"] {
        assert!(
            !ignore
                .lines()
                .any(|l| l.starts_with(&format!("!{kept_out}"))),
            ".dockerignore lets {kept_out} through"
        );
    }
    assert_eq!(ignore.lines().find(|l| !l.starts_with('#')), Some("*"));
}

/// `roots` and the workspace members they depend on (not dev-dependencies),
/// transitively.
fn workspace_crates_of(root: &Path, members: &[&str], roots: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
    let mut next = 0;
    while next < found.len() {
        let text = fs::read_to_string(root.join(&found[next]).join("Cargo.toml")).unwrap();
        let mut in_dependencies = false;
        for line in text.lines() {
            if line.starts_with('[') {
                in_dependencies = line.trim() == "[dependencies]";
                continue;
            }
            let name = line.split(['.', ' ', '=']).next().unwrap_or("");
            if in_dependencies && members.contains(&name) && !found.iter().any(|f| f == name) {
                found.push(name.to_owned());
            }
        }
        next += 1;
    }
    found
}

/// `make docker-compose-up` on a machine with Docker and no Rust: nothing on
/// `PATH` can run cargo or rustc, and a server and a client still exchange
/// their messages. The project is the suite's own (name, containers,
/// subnet), so a user's `tp0` is never touched.
#[test]
fn make_docker_compose_up_needs_no_cargo() {
    require_images();
    let path: Vec<String> = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|dir| {
            !["cargo", "rustc", "rustup"]
                .iter()
                .any(|tool| Path::new(dir).join(tool).exists())
        })
        .map(str::to_owned)
        .collect();
    let path = path.join(":");
    let which = Command::new("sh")
        .args(["-c", "command -v cargo || command -v rustc"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(!which.status.success(), "cargo is still on {path}");

    let project = Project::new("nocargo", 1);
    project.write_client_config(&client_yaml(3, "100ms", "INFO"));
    let make = |target: &str| {
        let mut command = Command::new("make");
        command
            .current_dir(repo_root())
            .env("PATH", &path)
            .env_remove("MAKEFLAGS")
            .env_remove("MAKELEVEL")
            .arg(target)
            .arg(format!("PROJECT={}", project.name()))
            .arg(format!("COMPOSE_YAML={}", project.compose_file().display()))
            .arg(format!("COMPOSE={}", compose_command().join(" ")));
        run_command_within(command, BUILD_TIMEOUT)
    };
    let up = make("docker-compose-up");
    assert!(
        up.status.success(),
        "make docker-compose-up without cargo:\n{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );

    let client = project.container("client1");
    wait_for_exit(&client, Duration::from_secs(60));
    assert_eq!(exit_code(&client), 0, "{}", logs(&client));
    assert_eq!(
        lines_with(&client, &["action: receive_message | result: success"]).len(),
        3,
        "{}",
        logs(&client)
    );
    let down = make("docker-compose-down");
    assert!(down.status.success(), "make docker-compose-down: {down:?}");
}
