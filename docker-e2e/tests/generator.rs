//! `generar-compose.sh` as a user runs it, and the engine's compose accepting
//! what it writes.

use std::fs;
use std::process::{Command, Output};

use docker_e2e::*;

fn generate(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut command = Command::new(repo_root().join("generar-compose.sh"));
    command.current_dir(dir).args(args);
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
    }
}
