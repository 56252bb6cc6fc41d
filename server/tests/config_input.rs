//! The real server binary against config input that could hang it or
//! mislead its user: paths that are not regular files, oversized files, a
//! byte order mark, unknown keys, huge values, timeouts that cannot work.

use std::path::Path;
use std::time::Duration;

use testkit::{
    assert_config_refused, exchange, make_fifo, scratch_dir, start_server, Program, PATIENCE,
    SIGTERM,
};

/// Expects the server in `dir` to refuse its config (see
/// [`assert_config_refused`]). A free port is set unless `env` sets one, so
/// that a server which wrongly starts does not take the default port of the
/// machine.
fn refuses(dir: &Path, env: &[(&str, &str)], args: &[&str], parts: &[&str]) -> String {
    let mut env = env.to_vec();
    if !env.iter().any(|(k, _)| *k == "SERVER_PORT") {
        env.push(("SERVER_PORT", "0"));
    }
    assert_config_refused("server", dir, &env, args, parts)
}

#[test]
fn fifo_without_writer_is_refused_at_once() {
    let dir = scratch_dir("server-fifo");
    make_fifo(&dir.join("named.ini"));
    refuses(
        &dir,
        &[],
        &["--config", "named.ini"],
        &["named.ini", "a FIFO (named pipe), not a regular file"],
    );
    // The default file too.
    make_fifo(&dir.join("config.ini"));
    refuses(&dir, &[], &[], &["config.ini", "FIFO"]);
}

#[test]
fn device_and_directory_are_refused() {
    let dir = scratch_dir("server-special");
    refuses(
        &dir,
        &[],
        &["--config", "/dev/zero"],
        &["/dev/zero: a character device, not a regular file"],
    );
    std::fs::create_dir(dir.join("config.ini")).unwrap();
    refuses(
        &dir,
        &[],
        &[],
        &["config.ini: a directory, not a regular file"],
    );
}

#[test]
fn file_over_one_mib_is_refused() {
    let dir = scratch_dir("server-big");
    // Valid INI all the way (comments), so only the size can be the problem.
    let mut text = b"[DEFAULT]\n".to_vec();
    text.resize(1024 * 1024 + 1, b'#');
    std::fs::write(dir.join("big.ini"), text).unwrap();
    refuses(
        &dir,
        &[],
        &["--config", "big.ini"],
        &["big.ini: larger than 1 MiB"],
    );
}

#[test]
fn bom_before_the_first_line_is_accepted() {
    let dir = scratch_dir("server-bom");
    let port = 0;
    std::fs::write(
        dir.join("config.ini"),
        format!("\u{feff}[DEFAULT]\nSERVER_PORT = {port}\nSERVER_IP = server\n"),
    )
    .unwrap();
    let mut server = Program::start("server", &dir, &[], &[]);
    let line = server.wait_line(&["action: config | result: success"], PATIENCE);
    assert!(line.contains(&format!("| port: {port} |")), "{line}");
    server.wait_line(&["action: listen | result: success"], PATIENCE);
    assert!(server.stop_with(SIGTERM, PATIENCE).0.success());
}

#[test]
fn unknown_keys_are_named_in_one_warning_and_the_server_runs() {
    let dir = scratch_dir("server-unknown");
    let port = 0;
    std::fs::write(
        dir.join("config.ini"),
        format!(
            "[DEFAULT]\nSERVER_PORT = {port}\nSERVER_IP = server\nSERVER_PROT = 7000\n\n[other]\nSERVER_PORT = 1\n"
        ),
    )
    .unwrap();
    let env = [
        ("SERVER_LISTEN_BACKLOG_SIZE", "9"),
        ("SERVER_IP", "0.0.0.0"),
        ("CLI_ID", "3"),
        ("CLI_LOOP_AMOUNT", "2"),
    ];
    let mut server = Program::start("server", &dir, &env, &[]);
    let port = server.listen_port(PATIENCE);
    assert_eq!(exchange(port, b"hello\n"), b"hello\n");
    let (status, _) = server.stop_with(SIGTERM, PATIENCE);
    assert!(status.success());
    let lines = server.lines();
    let warnings: Vec<&String> = lines.iter().filter(|l| l.contains("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{lines:?}");
    assert!(
        warnings[0].ends_with(
            "WARNING  action: config | result: success | warning: unknown keys ignored | file: config.ini | file_keys: SERVER_PROT, [other] section | env_vars: SERVER_LISTEN_BACKLOG_SIZE"
        ),
        "{}",
        warnings[0]
    );
    let config_line = lines.iter().position(|l| l.contains("| port: ")).unwrap();
    assert!(
        lines[config_line + 1].contains("warning:"),
        "the warning follows the config line: {lines:?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains("result: fail")),
        "{lines:?}"
    );
}

#[test]
fn huge_bad_value_is_cut_in_the_error() {
    let dir = scratch_dir("server-huge");
    let value = "9".repeat(100_000);
    let line = refuses(
        &dir,
        &[("SERVER_PORT", &value)],
        &[],
        &["SERVER_PORT", "... (100000 characters)", "from environment"],
    );
    assert!(line.len() < 300, "{} bytes: {line}", line.len());
    // A line break in a value stays escaped: still one line.
    refuses(
        &dir,
        &[("SERVER_PORT", "80\nSERVER_PORT: 1")],
        &[],
        &["SERVER_PORT: \"80\\nSERVER_PORT: 1\" (from environment)"],
    );
    // The same from the file, in multi-byte characters (cut on a char boundary).
    std::fs::write(
        dir.join("config.ini"),
        format!("[DEFAULT]\nLOGGING_LEVEL = {}\n", "é".repeat(50_000)),
    )
    .unwrap();
    let line = refuses(
        &dir,
        &[],
        &[],
        &["LOGGING_LEVEL", "(50000 characters) (from config.ini)"],
    );
    assert!(line.len() < 300, "{} bytes: {line}", line.len());
}

#[test]
fn timeouts_of_zero_are_refused_zero_grace_is_no_grace() {
    let dir = scratch_dir("server-zero");
    for key in ["SERVER_READ_TIMEOUT", "SERVER_WRITE_TIMEOUT"] {
        refuses(&dir, &[(key, "0")], &[], &[key, "\"0\"", "from 1ms"]);
    }
    let (mut server, _) = start_server(&[("SERVER_SHUTDOWN_GRACE", "0")]);
    let (status, waited) = server.stop_with(SIGTERM, PATIENCE);
    assert!(status.success(), "{:?}", server.lines());
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}
