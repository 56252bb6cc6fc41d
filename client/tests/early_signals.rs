//! SIGTERM during start-up: the real client, started 50 times, gets SIGTERM
//! 0 to 5 ms after spawning, landing at every moment of start-up (before
//! `main`, while reading the config, resolving, connecting). Every run ends
//! as a signal should: exit 0 with the shutdown and exit lines, or exit 1
//! when the config was bad; never killed by the signal.
//!
//! The signal is held blocked across `exec` (see `testkit::hold_across_exec`),
//! as the client itself holds it from its first instruction: a signal that
//! lands before a program has run any instruction takes its default action
//! whatever the program does.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use testkit::{command, free_port, hold_across_exec, Program, SIGTERM};

const STARTS: u32 = 50;
const EXIT_PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn sigterm_at_any_moment_of_start_up_is_a_clean_shutdown() {
    let began = Instant::now();
    // Nothing listens there: the client keeps retrying until the signal.
    let address = format!("127.0.0.1:{}", free_port());
    for start in 0..STARTS {
        let bad_config = start % 10 == 9;
        let amount = if bad_config { "many" } else { "3" };
        let mut command = command(
            "client",
            &[
                ("CLI_SERVER_ADDRESS", address.as_str()),
                ("CLI_LOOP_AMOUNT", amount),
            ],
        );
        hold_across_exec(&mut command, SIGTERM);
        let mut client = Program::spawn("client", command);
        // Spread over 0..5 ms: 0, 0.1 ms, ..., 4.9 ms.
        std::thread::sleep(Duration::from_micros(u64::from(start) * 100));
        let (status, _) = client.stop_with(SIGTERM, EXIT_PATIENCE);
        assert_eq!(status.signal(), None, "start {start}: killed by a signal");
        if bad_config {
            assert_eq!(status.code(), Some(1), "start {start}: bad config");
        } else {
            assert_eq!(
                status.code(),
                Some(0),
                "start {start}: {:?}",
                client.lines()
            );
            client.wait_line(&["action: shutdown | result: success"], EXIT_PATIENCE);
            client.wait_line(&["action: exit | result: success"], EXIT_PATIENCE);
        }
    }
    println!("{STARTS} starts in {:?}", began.elapsed());
}
