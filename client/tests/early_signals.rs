//! SIGTERM during start-up: the real client, started 50 times, gets SIGTERM
//! 0 to 5 ms after spawning, landing at every moment of start-up (before
//! `main`, while reading the config, connecting, in the first turns of the
//! loop). Every run ends as a signal should: exit 0 with the shutdown lines,
//! or exit 1 when the config was bad; never killed by the signal.
//!
//! The signal is held blocked across `exec` (see `testkit::hold_across_exec`),
//! as the client itself holds it from its first instruction: a signal that
//! lands before a program has run any instruction takes its default action
//! whatever the program does, and on a busy machine that window alone is
//! the better part of a millisecond.

use testkit::{assert_sigterm_during_start_up_is_clean, ClosedPort};

#[test]
fn sigterm_at_any_moment_of_start_up_is_a_clean_shutdown() {
    // Nothing listens there: the client keeps retrying until the signal.
    let closed = ClosedPort::new();
    let address = format!("127.0.0.1:{}", closed.port());
    assert_sigterm_during_start_up_is_clean(
        "client",
        |bad_config| {
            let amount = if bad_config { "many" } else { "3" };
            vec![
                ("CLI_SERVER_ADDRESS".to_owned(), address.clone()),
                ("CLI_LOOP_AMOUNT".to_owned(), amount.to_owned()),
            ]
        },
        &[
            &["action: shutdown | result: success"],
            &["action: exit | result: success"],
        ],
    );
}
