//! What the client says when its connect window runs out: the last real
//! reason it could not connect, whatever step the window happened to cut
//! short.

use std::time::Duration;

use testkit::{scratch_dir, ClosedPort, Program, PATIENCE};

/// A server name (not an IP literal) is looked up again before every retry,
/// so the window usually ends during that lookup. The final line must still
/// name the refused connect, not the lookup the window cut short.
#[test]
fn window_ending_while_resolving_again_reports_the_refused_connect() {
    let nobody = ClosedPort::new();
    let address = format!("localhost:{}", nobody.port());
    let mut client = Program::start(
        "client",
        &scratch_dir("connect-window"),
        &[
            ("CLI_SERVER_ADDRESS", &address),
            ("CLI_SERVER_CONNECT_WINDOW", "300ms"),
            ("CLI_LOG_LEVEL", "DEBUG"),
        ],
        &[],
    );
    let (status, took) = client.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(1), "{:?}", client.lines());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // It did retry (and so resolve again) within the window.
    let retries = client.lines_with(&["action: connect | result: in_progress", "refused"]);
    assert!(!retries.is_empty(), "{:?}", client.lines());
    let fails = client.lines_with(&["result: fail"]);
    assert_eq!(fails.len(), 1, "{:?}", client.lines());
    let line = &fails[0];
    assert!(
        line.contains("action: connect | result: fail | client_id: 1 | error: connect to ")
            && line.contains("refused")
            && line.ends_with("| gave_up_after: 300ms"),
        "{line}"
    );
    assert!(!line.contains("timed out"), "{line}");
}
