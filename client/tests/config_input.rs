//! The real client binary against config input that could hang it or
//! mislead its user: paths that are not regular files, oversized files,
//! YAML that would expand or nest without bound, a byte order mark, unknown
//! keys, huge values, timeouts that cannot work.

use std::path::Path;

use testkit::{
    assert_config_refused, make_fifo, scratch_dir, start_server, Program, PATIENCE, SIGTERM,
};

/// Expects the client in `dir` to refuse its config (see [`assert_config_refused`]).
fn refuses(dir: &Path, env: &[(&str, &str)], args: &[&str], parts: &[&str]) -> String {
    assert_config_refused("client", dir, env, args, parts)
}

#[test]
fn fifo_without_writer_is_refused_at_once() {
    let dir = scratch_dir("client-fifo");
    make_fifo(&dir.join("named.yaml"));
    refuses(
        &dir,
        &[],
        &["--config", "named.yaml"],
        &["named.yaml", "a FIFO (named pipe), not a regular file"],
    );
    // The default file too.
    make_fifo(&dir.join("config.yaml"));
    refuses(&dir, &[], &[], &["config.yaml", "FIFO"]);
}

#[test]
fn device_and_directory_are_refused() {
    let dir = scratch_dir("client-special");
    refuses(
        &dir,
        &[],
        &["--config", "/dev/zero"],
        &["/dev/zero: a character device, not a regular file"],
    );
    std::fs::create_dir(dir.join("config.yaml")).unwrap();
    refuses(
        &dir,
        &[],
        &[],
        &["config.yaml: a directory, not a regular file"],
    );
}

#[test]
fn file_over_one_mib_is_refused() {
    let dir = scratch_dir("client-big");
    // Valid YAML all the way (a comment), so only the size can be the problem.
    let mut text = b"loop:\n  amount: 0\n#".to_vec();
    text.resize(1024 * 1024 + 1, b'#');
    std::fs::write(dir.join("big.yaml"), text).unwrap();
    refuses(
        &dir,
        &[],
        &["--config", "big.yaml"],
        &["big.yaml: larger than 1 MiB"],
    );
}

#[test]
fn yaml_aliases_are_refused_before_anything_is_expanded() {
    // Expanded, the aliases would be several GiB: under the 512 MiB cap the
    // client would abort instead of exiting 1 with one line.
    let dir = scratch_dir("client-aliases");
    std::fs::write(dir.join("config.yaml"), testkit::yaml_alias_bomb()).unwrap();
    let line = refuses(
        &dir,
        &[],
        &[],
        &["cannot use config file config.yaml: YAML aliases (*name) are not accepted in a config file, at line 2 column 8"],
    );
    assert!(line.len() < 200, "{line}");
}

#[test]
fn nesting_deeper_than_the_limit_is_refused_not_a_stack_overflow() {
    let dir = scratch_dir("client-deep");
    let text = format!("loop:\n{}0\n", "- ".repeat(200_000));
    std::fs::write(dir.join("deep.yaml"), text).unwrap();
    refuses(
        &dir,
        &[],
        &["--config", "deep.yaml"],
        &["deep.yaml: nested more than 32 levels deep"],
    );
}

#[test]
fn bom_before_the_first_key_is_accepted() {
    let dir = scratch_dir("client-bom");
    std::fs::write(
        dir.join("config.yaml"),
        "\u{feff}server:\n  address: \"127.0.0.1:9\"\nloop:\n  amount: 0\n",
    )
    .unwrap();
    let mut client = Program::start("client", &dir, &[], &[]);
    assert!(
        client.wait_exit(PATIENCE).0.success(),
        "{:?}",
        client.lines()
    );
    let line = client.wait_line(&["action: config | result: success"], PATIENCE);
    assert!(
        line.contains("| server_address: 127.0.0.1:9 | loop_amount: 0 |"),
        "{line}"
    );
}

#[test]
fn unknown_keys_are_named_in_one_warning_and_the_run_succeeds() {
    let (mut server, port) = start_server(&[]);
    let dir = scratch_dir("client-unknown");
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "server:\n  address: \"127.0.0.1:{port}\"\n  adress: \"x:1\"\nloop:\n  amount: 2\n  period: 0\nbatch:\n  maxAmount: 10\nlogging:\n  level: DEBUG\n"
        ),
    )
    .unwrap();
    let env = [
        ("CLI_ID", "4"),
        ("CLI_LOOP_AMMOUNT", "9"),
        ("CLI_BATCH_MAXAMOUNT", "5"),
        ("SERVER_PORT", "1"),
        ("LOGGING_LEVEL", "DEBUG"),
    ];
    let mut client = Program::start("client", &dir, &env, &[]);
    let (status, _) = client.wait_exit(PATIENCE);
    let lines = client.lines();
    assert!(status.success(), "{lines:?}");
    let warnings: Vec<&String> = lines.iter().filter(|l| l.contains("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{lines:?}");
    assert!(
        warnings[0].ends_with(
            "WARNING  action: config | result: success | warning: unknown keys ignored | file: config.yaml | file_keys: logging.level, server.adress | env_vars: CLI_LOOP_AMMOUNT"
        ),
        "{}",
        warnings[0]
    );
    assert!(
        lines[0].contains("action: config | result: success | client_id: 4")
            && lines[1].contains("warning:"),
        "the warning follows the config line: {lines:?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("action: receive_message | result: success"))
            .count(),
        2,
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains("result: fail")),
        "{lines:?}"
    );
    assert!(server.stop_with(SIGTERM, PATIENCE).0.success());
}

#[test]
fn huge_bad_value_is_cut_in_the_error() {
    let dir = scratch_dir("client-huge");
    let value = format!("{}:1", "h".repeat(100_000));
    let line = refuses(
        &dir,
        &[("CLI_SERVER_ADDRESS", &value)],
        &[],
        &[
            "CLI_SERVER_ADDRESS",
            "... (100002 characters)",
            "from environment",
        ],
    );
    assert!(line.len() < 300, "{} bytes: {line}", line.len());
    std::fs::write(
        dir.join("config.yaml"),
        format!("id: \"{}\"\n", "é\\n".repeat(30_000)),
    )
    .unwrap();
    let line = refuses(
        &dir,
        &[],
        &[],
        &[
            "invalid value for id: ",
            "(60000 characters) (from config.yaml)",
        ],
    );
    assert!(line.len() < 300, "{} bytes: {line}", line.len());
}

#[test]
fn timeouts_of_zero_are_refused_a_zero_period_still_works() {
    let dir = scratch_dir("client-zero");
    for key in ["CLI_SERVER_CONNECT_WINDOW", "CLI_SERVER_RESPONSE_TIMEOUT"] {
        refuses(&dir, &[(key, "0")], &[], &[key, "\"0\"", "from 1ms"]);
    }
    std::fs::write(dir.join("config.yaml"), "server:\n  connect_window: 0s\n").unwrap();
    refuses(
        &dir,
        &[],
        &[],
        &["server.connect_window: \"0s\" (from config.yaml)"],
    );
    let (mut server, port) = start_server(&[]);
    let address = format!("127.0.0.1:{port}");
    let env = [
        ("CLI_SERVER_ADDRESS", address.as_str()),
        ("CLI_LOOP_AMOUNT", "3"),
        ("CLI_LOOP_PERIOD", "0"),
    ];
    let mut client = Program::start("client", &scratch_dir("client-zero-period"), &env, &[]);
    assert!(
        client.wait_exit(PATIENCE).0.success(),
        "{:?}",
        client.lines()
    );
    assert!(server.stop_with(SIGTERM, PATIENCE).0.success());
}
