//! `generar-compose.sh` as a user runs it, and the engine's compose accepting
//! what it writes.

use std::fs;
use std::process::{Command, Output};

use compose_gen::ComposeFile;
use docker_e2e::host::StudentHost;
use docker_e2e::*;
use testkit::file_names;

fn generate(dir: &std::path::Path, args: &[&str]) -> Output {
    generate_on(dir, args, |_| {})
}

/// [`generate`], the command first adjusted by `setup`.
fn generate_on(dir: &std::path::Path, args: &[&str], setup: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(repo_root().join("generar-compose.sh"));
    command.current_dir(dir).args(args);
    setup(&mut command);
    // The first run builds the generator image.
    run_command_within(command, BUILD_TIMEOUT)
}

/// `compose -f file config -q` under a throwaway project name.
fn compose_accepts(file: &std::path::Path) -> Output {
    let (program, first) = compose_command().split_first().unwrap();
    let mut command = Command::new(program);
    command
        .args(first)
        .args(["-p", "tp0e2econfig", "-f"])
        .arg(file)
        .args(["config", "-q"]);
    run_command(command)
}

#[test]
fn generated_files_are_valid_compose_files() {
    let dir = tempfile::tempdir().unwrap();
    for clients in ["0", "1", "5"] {
        let out = generate(dir.path(), &["compose.yaml", clients]);
        assert!(out.status.success(), "{out:?}");
        let file = dir.path().join("compose.yaml");
        let yaml = fs::read_to_string(&file).unwrap();
        let n: usize = clients.parse().unwrap();
        assert_eq!(yaml.matches("image: client:latest").count(), n);
        let check = compose_accepts(&file);
        assert!(check.status.success(), "{clients} clients: {check:?}");
    }
}

#[test]
fn committed_dev_file_is_a_valid_compose_file() {
    let check = compose_accepts(&repo_root().join("docker-compose-dev.yaml"));
    assert!(check.status.success(), "{check:?}");
}

#[test]
fn bad_arguments_leave_the_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yaml");
    fs::write(&file, "keep me\n").unwrap();
    for args in [
        &["compose.yaml"][..],
        &["compose.yaml", "-3"],
        &["compose.yaml", "x"],
    ] {
        let out = generate(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage: "),
            "{out:?}"
        );
        assert_eq!(fs::read_to_string(&file).unwrap(), "keep me\n");
        assert_eq!(file_names(dir.path()), ["compose.yaml"], "{args:?}");
    }
}

/// No host path reaches the generator's container (Git Bash rewrites them
/// into `C:/...` paths; rootless Podman cannot write through a bind mount):
/// with a `docker` that refuses any `docker run` holding the output's
/// directory, the script still writes the file, atomically, nothing beside.
#[test]
fn writes_the_file_with_a_docker_that_refuses_host_paths() {
    let dir = tempfile::tempdir().unwrap();
    let host = StudentHost::new(dir.path());
    let file = dir.path().join("compose.yaml");
    fs::write(&file, "old contents that must go\n").unwrap();
    let out = generate_on(dir.path(), &["compose.yaml", "3"], |command| {
        host.apply(command);
    });
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "generar-compose.sh: wrote compose.yaml\n"
    );
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        ComposeFile::new(3).to_string()
    );
    assert_eq!(file_names(dir.path()), ["compose.yaml"]);
    assert_eq!(host.docker_runs(), (1, 0));

    // An output in another directory, named by an absolute path.
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let target = sub.join("dev.yaml");
    let out = generate_on(dir.path(), &[target.to_str().unwrap(), "1"], |command| {
        host.apply(command);
    });
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        fs::read_to_string(repo_root().join("docker-compose-dev.yaml")).unwrap()
    );
    assert_eq!(file_names(&sub), ["dev.yaml"]);
    assert_eq!(host.docker_runs(), (2, 0));
}
