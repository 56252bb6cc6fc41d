//! The `compose-gen` binary as a user runs it.

use std::fs;
use std::process::{Command, Output};

use compose_gen::ComposeFile;
use testkit::file_names;

fn compose_gen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_compose-gen"))
        .args(args)
        .output()
        .expect("run compose-gen")
}

#[test]
fn bad_arguments_print_usage_exit_2_and_leave_the_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("compose.yaml");
    let out = out.to_str().unwrap();
    fs::write(out, "original\n").unwrap();
    let bad: &[&[&str]] = &[
        &[],
        &[out],
        &[out, "-1"],
        &[out, "abc"],
        &[out, "1.5"],
        &[out, ""],
        &[out, "253"],
        &[out, "1", "2"],
        &[out, "1", "--force"],
    ];
    for args in bad {
        let run = compose_gen(args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("compose-gen: "), "{args:?}: {stderr}");
        assert!(
            stderr.contains("usage: compose-gen <output-file> <client-count>"),
            "{args:?}: {stderr}"
        );
        assert!(run.stdout.is_empty(), "{args:?}");
        assert_eq!(fs::read_to_string(out).unwrap(), "original\n", "{args:?}");
        assert_eq!(file_names(dir.path()), ["compose.yaml"], "{args:?}");
    }
}

#[test]
fn bad_count_never_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("compose.yaml");
    let run = compose_gen(&[out.to_str().unwrap(), "many"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(file_names(dir.path()).is_empty());
}

#[test]
fn writes_the_file_for_n_clients() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("compose.yaml");
    fs::write(&out, "old contents that must go\n").unwrap();
    for clients in [0, 3] {
        let run = compose_gen(&[out.to_str().unwrap(), &clients.to_string()]);
        assert!(run.status.success(), "{run:?}");
        assert!(run.stderr.is_empty(), "{run:?}");
        let written = fs::read_to_string(&out).unwrap();
        assert_eq!(written, ComposeFile::new(clients).to_string());
        assert_eq!(file_names(dir.path()), ["compose.yaml"]);
    }
    let yaml = fs::read_to_string(&out).unwrap();
    for id in 1..=3 {
        assert!(yaml.contains(&format!("  client{id}:\n    container_name: client{id}\n")));
        assert!(yaml.contains(&format!("      - CLI_ID={id}\n")));
    }
    assert!(!yaml.contains("client4"));
}

#[test]
fn dash_is_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_compose-gen"))
        .current_dir(dir.path())
        .args(["-", "2"])
        .output()
        .expect("run compose-gen");
    assert!(run.status.success(), "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        ComposeFile::new(2).to_string()
    );
    assert!(file_names(dir.path()).is_empty());
}

#[test]
fn help_goes_to_stdout() {
    let run = compose_gen(&["--help"]);
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("usage: compose-gen "));
}

#[test]
fn unwritable_output_exits_1_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("missing-dir/compose.yaml");
    let run = compose_gen(&[out.to_str().unwrap(), "1"]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.starts_with("compose-gen: cannot write "), "{stderr}");
    assert!(file_names(dir.path()).is_empty());
}
