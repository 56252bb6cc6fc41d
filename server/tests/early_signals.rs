//! SIGTERM during start-up: the real server, started 50 times, gets SIGTERM
//! 0 to 5 ms after spawning, landing at every moment of start-up (before
//! `main`, while reading the config, binding, in the first turns of the
//! loop). Every run ends as a signal should: exit 0 with the shutdown lines,
//! or exit 1 when the config was bad; never killed by the signal.
//!
//! The signal is held blocked across `exec` (see `testkit::hold_across_exec`),
//! as the server itself holds it from its first instruction: a signal that
//! lands before a program has run any instruction takes its default action
//! whatever the program does, and on a busy machine that window alone is
//! the better part of a millisecond.

use testkit::assert_sigterm_during_start_up_is_clean;

#[test]
fn sigterm_at_any_moment_of_start_up_is_a_clean_shutdown() {
    assert_sigterm_during_start_up_is_clean(
        "server",
        |bad_config| {
            let port = if bad_config {
                "not-a-port".to_owned()
            } else {
                "0".to_owned()
            };
            vec![("SERVER_PORT".to_owned(), port)]
        },
        &[
            &["action: shutdown | result: in_progress", "signal: SIGTERM"],
            &["action: shutdown | result: success"],
        ],
    );
}
