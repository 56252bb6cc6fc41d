//! `compose-gen --swarm` as `make swarm-up` runs it: the stack file beside
//! the config files it names.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use compose_gen::Stack;

fn compose_gen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_compose-gen"))
        .args(args)
        .output()
        .expect("run compose-gen")
}

fn with_configs(dir: &Path, ini: &str, yaml: &str) {
    for (sub, file, text) in [
        ("server", "config.ini", ini),
        ("client", "config.yaml", yaml),
    ] {
        fs::create_dir_all(dir.join(sub)).unwrap();
        fs::write(dir.join(sub).join(file), text).unwrap();
    }
}

#[test]
fn writes_a_stack_named_by_the_config_contents() {
    let dir = tempfile::tempdir().unwrap();
    with_configs(dir.path(), "LOGGING_LEVEL = INFO\n", "loop:\n  amount: 3\n");
    let out = dir.path().join("docker-stack.yaml");
    let out = out.to_str().unwrap();
    let run = compose_gen(&["--swarm", "--servers", "3", out, "2"]);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        format!("compose-gen: wrote {out} (a Swarm stack: 3 server replica(s), 2 clients)\n")
    );
    let first = fs::read_to_string(out).unwrap();
    assert_eq!(
        first,
        Stack::from_dir(dir.path(), 3, 2).unwrap().to_string()
    );
    assert!(first.contains("      replicas: 3\n      endpoint_mode: dnsrr\n"));
    assert!(first.contains("      replicas: 2\n      restart_policy:\n        condition: none\n"));

    // An edited server config is a new config name; the client's stays.
    with_configs(
        dir.path(),
        "LOGGING_LEVEL = DEBUG\n",
        "loop:\n  amount: 3\n",
    );
    assert!(compose_gen(&["--swarm", "--servers", "3", out, "2"])
        .status
        .success());
    let second = fs::read_to_string(out).unwrap();
    let names = |yaml: &str, prefix: &str| -> Vec<String> {
        yaml.lines()
            .filter(|l| l.trim_start().starts_with(prefix))
            .map(str::to_owned)
            .collect()
    };
    assert_ne!(
        names(&first, "server_config_"),
        names(&second, "server_config_")
    );
    assert_eq!(
        names(&first, "client_config_"),
        names(&second, "client_config_")
    );
}

/// What `make swarm-up` runs: the tags computed on the host with `cksum`,
/// the stack on standard output, no file read or written by the generator.
#[test]
fn tags_given_and_standard_output_need_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_compose-gen"))
        .current_dir(dir.path())
        .args([
            "--swarm",
            "--server-config-tag",
            "564360382-21",
            "--client-config-tag",
            "4294967295-0",
            "-",
            "1",
        ])
        .output()
        .expect("run compose-gen");
    assert!(run.status.success(), "{run:?}");
    let yaml = String::from_utf8_lossy(&run.stdout);
    assert!(yaml.contains("  server_config_564360382-21:\n"), "{yaml}");
    assert!(yaml.contains("  client_config_4294967295-0:\n"), "{yaml}");
    assert!(testkit::file_names(dir.path()).is_empty());
}

/// The host's POSIX `cksum` gives the tags the generator gives the same files.
#[test]
fn the_hosts_cksum_tags_files_as_the_generator_does() {
    let dir = tempfile::tempdir().unwrap();
    with_configs(dir.path(), "LOGGING_LEVEL = DEBUG\n", &"x".repeat(70_000));
    let stack = Stack::from_dir(dir.path(), 1, 1).unwrap();
    for (file, tag) in [
        ("server/config.ini", &stack.server_config_tag),
        ("client/config.yaml", &stack.client_config_tag),
    ] {
        let out = Command::new("cksum")
            .stdin(fs::File::open(dir.path().join(file)).unwrap())
            .output()
            .expect("run cksum");
        let printed = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = printed.split_whitespace().collect();
        assert_eq!(&format!("{}-{}", fields[0], fields[1]), tag, "{file}");
    }
}

#[test]
fn image_options_are_written_as_given() {
    let dir = tempfile::tempdir().unwrap();
    with_configs(dir.path(), "", "");
    let out = dir.path().join("s.yaml");
    let run = compose_gen(&[
        "--swarm",
        "--server-image=server:swarm-0123456789ab",
        "--client-image",
        "client:swarm-ba9876543210",
        out.to_str().unwrap(),
        "1",
    ]);
    assert!(run.status.success(), "{run:?}");
    let yaml = fs::read_to_string(&out).unwrap();
    assert!(
        yaml.contains("    image: server:swarm-0123456789ab\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("    image: client:swarm-ba9876543210\n"),
        "{yaml}"
    );
}

#[test]
fn missing_config_beside_the_stack_exits_1_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.yaml");
    let run = compose_gen(&["--swarm", out.to_str().unwrap(), "1"]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.starts_with("compose-gen: cannot read a config file beside the stack file: ")
            && stderr.contains("server/config.ini"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn bad_swarm_options_print_usage_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.yaml");
    let out = out.to_str().unwrap();
    for args in [
        &["--swarm", "--servers", "0", out, "1"][..],
        &["--servers", "2", out, "1"],
        &["--swarm", out, "1", "--servers"],
    ] {
        let run = compose_gen(args);
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            stderr.contains("compose-gen --swarm [--servers N]"),
            "{stderr}"
        );
        assert!(!Path::new(out).exists());
    }
}
