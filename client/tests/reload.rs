//! SIGHUP on the real client mid-run: `config.yaml` is read again, the log
//! level changes at once, what the run is (here the amount) waits for a
//! restart, a broken config keeps the running one; the run completes.

use std::path::Path;
use std::time::Duration;

use app::logline::parse_line;
use testkit::{scratch_dir, start_server, Program};

const PATIENCE: Duration = Duration::from_secs(15);
const ANSWERED: &str = "action: receive_message | result: success | client_id: 4";
const AMOUNT: u32 = 40;

fn write_yaml(dir: &Path, port: u16, amount: u32, level: &str) {
    let text = format!(
        "id: 4\nserver:\n  address: \"127.0.0.1:{port}\"\nloop:\n  amount: {amount}\n  \
         period: \"50ms\"\nlog:\n  level: \"{level}\"\n"
    );
    std::fs::write(dir.join("config.yaml"), text).expect("write config.yaml");
}

/// A client of `AMOUNT` messages, 50 ms apart, configured by `config.yaml`
/// alone, once it has its first answer.
fn client_of(port: u16) -> (Program, std::path::PathBuf) {
    let dir = scratch_dir("client-reload");
    write_yaml(&dir, port, AMOUNT, "INFO");
    let client = Program::start("client", &dir, &[], &[]);
    client.wait_line(&[ANSWERED], PATIENCE);
    (client, dir)
}

/// The messages of client 4 the server echoed.
fn echoed(server: &Program) -> usize {
    server.lines_with(&["msg: [CLIENT 4] Message N°"]).len()
}

#[test]
fn a_new_level_applies_mid_run_and_the_amount_waits_for_a_restart() {
    let (server, port) = start_server(&[]);
    let (mut client, dir) = client_of(port);
    write_yaml(&dir, port, 3, "ERROR");
    client.signal(libc::SIGHUP);
    let line = client.wait_line(&["action: reload | result: success"], PATIENCE);
    assert!(
        line.ends_with(
            "action: reload | result: success | client_id: 4 | changed: log_level=ERROR \
             | restart_needed: loop_amount"
        ),
        "{line}"
    );
    // Logged under the level it leaves: INFO.
    assert_eq!(parse_line(&line).map(|p| p.level), Some("INFO"));
    let (status, _) = client.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{:?}", client.lines());
    // At ERROR nothing more is logged, yet every message of the run went out.
    let lines = client.lines();
    let at = lines.iter().position(|l| *l == line).expect("logged");
    assert!(lines[at + 1..].is_empty(), "{:?}", &lines[at + 1..]);
    assert!(testkit::wait_until(PATIENCE, || echoed(&server) == AMOUNT as usize));
    assert!(client.lines_with(&["result: fail"]).is_empty());
}

#[test]
fn a_broken_config_keeps_the_running_one_and_the_run_completes() {
    let (server, port) = start_server(&[]);
    let (mut client, dir) = client_of(port);
    std::fs::write(
        dir.join("config.yaml"),
        "log:\n  level: \"ERROR\"\nserver:\n  response_timeout: \"never\"\n",
    )
    .unwrap();
    client.signal(libc::SIGHUP);
    let line = client.wait_line(&["action: reload | result: fail"], PATIENCE);
    assert_eq!(parse_line(&line).map(|p| p.level), Some("ERROR"));
    assert!(
        line.contains("client_id: 4 | error: invalid value for server.response_timeout"),
        "{line}"
    );
    // Still at INFO, still the same run: every answer logged, then the end.
    let (status, _) = client.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{:?}", client.lines());
    assert_eq!(client.lines_with(&[ANSWERED]).len(), AMOUNT as usize);
    client.wait_line(&["action: loop_finished | result: success"], PATIENCE);
    assert!(testkit::wait_until(PATIENCE, || echoed(&server) == AMOUNT as usize));
}
