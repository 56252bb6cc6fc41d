//! SIGHUP on the real client mid-run: `config.yaml` is read again, the log
//! level changes at once, what the run is (here the amount) waits for a
//! restart, a broken config keeps the running one; the run completes.

use std::path::Path;
use std::time::Duration;

use testkit::{
    parse_line, scratch_dir, start_server, start_with_memory_cap, yaml_alias_bomb, Program,
    PATIENCE,
};

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

/// The client's whole run went as at start: exit 0, every answer logged,
/// the loop's end, every message echoed.
fn assert_the_run_completes(client: &mut Program, server: &Program) {
    let (status, _) = client.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{:?}", client.lines());
    assert_eq!(client.lines_with(&[ANSWERED]).len(), AMOUNT as usize);
    client.wait_line(&["action: loop_finished | result: success"], PATIENCE);
    assert!(testkit::wait_until(PATIENCE, || echoed(server) == AMOUNT as usize));
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
    assert_the_run_completes(&mut client, &server);
}

#[test]
fn yaml_aliases_are_refused_and_the_run_completes() {
    let (server, port) = start_server(&[]);
    let dir = scratch_dir("client-reload-aliases");
    write_yaml(&dir, port, AMOUNT, "INFO");
    // Capped at 512 MiB: a client that expanded the aliases would abort
    // here instead of taking the machine's memory.
    let mut client = start_with_memory_cap("client", &dir, &[], &[], 512 << 20);
    client.wait_line(&[ANSWERED], PATIENCE);
    std::fs::write(dir.join("config.yaml"), yaml_alias_bomb()).unwrap();
    client.signal(libc::SIGHUP);
    let line = client.wait_line(&["action: reload | result: fail"], PATIENCE);
    assert!(
        line.ends_with(
            "client_id: 4 | error: cannot use config file config.yaml: YAML aliases (*name) \
             are not accepted in a config file, at line 2 column 8 | config: unchanged"
        ),
        "{line}"
    );
    assert_the_run_completes(&mut client, &server);
}

#[test]
fn config_yaml_deleted_since_start_is_a_failed_reload_and_the_run_completes() {
    let (server, port) = start_server(&[]);
    let (mut client, dir) = client_of(port);
    std::fs::remove_file(dir.join("config.yaml")).unwrap();
    client.signal(libc::SIGHUP);
    let line = client.wait_line(&["action: reload | result: fail"], PATIENCE);
    assert!(
        line.ends_with(
            "client_id: 4 | error: cannot use config file config.yaml: No such file or \
             directory (os error 2) | config: unchanged"
        ),
        "{line}"
    );
    assert_the_run_completes(&mut client, &server);
}
