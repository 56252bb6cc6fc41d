//! The close after the last echo, against the real server over loopback: a
//! peer whose message and EOF arrive together, after the server already
//! found its socket empty once, is closed as soon as it is answered, not
//! when the lingering deadline (500 ms) runs out. Its EOF came with the
//! data and was taken by the same edge-triggered event, so the server, which
//! then waits for an event rather than reading again, relies on the next
//! one: the peer's ACK of the server's own FIN, which closes the socket and
//! raises a hang-up.

use std::time::{Duration, Instant};

use testkit::{connect, read_to_end, send_with_fin_in_one_segment, start_server, PATIENCE};

#[test]
fn a_message_and_eof_in_one_segment_close_without_waiting_for_the_linger_deadline() {
    // Lingering until the deadline costs 500 ms a connection, 2.5 s for the
    // five; closing at once costs a few ms each. The bound sits halfway.
    const ROUNDS: usize = 5;
    const BOUND: Duration = Duration::from_millis(1250);
    let (server, port) = start_server(&[("LOGGING_LEVEL", "DEBUG")]);
    let mut waited = Duration::ZERO;
    for round in 1..=ROUNDS {
        let mut stream = connect(port);
        // The accept line goes out after the server's first read of the
        // connection, which found nothing yet.
        server.wait_lines(
            &["action: accept_connections | result: success"],
            round,
            PATIENCE,
        );
        let message = format!("message and EOF {round}\n");
        send_with_fin_in_one_segment(&mut stream, message.as_bytes());
        assert_eq!(read_to_end(&mut stream), message.as_bytes());
        let answered = Instant::now();
        server.wait_lines(
            &["action: close_connection | result: success"],
            round,
            PATIENCE,
        );
        waited += answered.elapsed();
    }
    println!("{ROUNDS} closes after the echo took {waited:?} in all");
    assert!(
        waited < BOUND,
        "{ROUNDS} connections stayed open {waited:?} after their echo (bound {BOUND:?})"
    );
    let fails = server.lines_with(&["result: fail"]);
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}
