//! Properties of the line framer over arbitrary input: however the bytes are
//! split into reads, the messages and the error are the same (and those of a
//! plain model of the protocol), and once the complete messages are taken
//! the framer never holds more than the maximum.

use proptest::prelude::*;
use proptest::sample::Index;
use reactor::framer::{LineFramer, TooLong};

/// What a stream must frame into: the messages, then `true` if it ends in an
/// oversized message (which stops the framing), from first principles.
fn model(input: &[u8], max_len: usize) -> (Vec<Vec<u8>>, bool) {
    let mut messages = Vec::new();
    let mut rest = input;
    loop {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i + 1 > max_len => return (messages, true),
            Some(i) => {
                messages.push(rest[..=i].to_vec());
                rest = &rest[i + 1..];
            }
            None if rest.len() > max_len => return (messages, true),
            None => {
                if !rest.is_empty() {
                    messages.push(rest.to_vec());
                }
                return (messages, false);
            }
        }
    }
}

/// What one framing run produced.
#[derive(Debug, PartialEq, Eq)]
struct Framed {
    messages: Vec<Vec<u8>>,
    /// The first error, if any.
    error: Option<TooLong>,
}

/// Feeds `input` cut at `cuts` (sorted), taking the complete messages after
/// every read as the server does, then EOF. Checks along the way that the
/// framer holds at most `max_len` bytes once they are taken, and that after an
/// overflow it refuses everything.
fn frame(input: &[u8], cuts: &[usize], max_len: usize) -> Framed {
    let mut framer = LineFramer::new(max_len);
    let mut messages = Vec::new();
    let mut error = None;
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        let pushed = framer.push(&input[start..end]);
        if error.is_some() {
            assert!(pushed.is_err(), "an overflowed framer accepted more bytes");
        }
        if let Err(e) = pushed {
            error.get_or_insert(e);
        }
        while let Some(message) = framer.next_message() {
            messages.push(message);
        }
        assert!(
            framer.buffered() <= max_len,
            "{} bytes buffered after taking the messages, max {max_len}",
            framer.buffered()
        );
        start = end;
    }
    match error {
        Some(_) => assert_eq!(framer.finish(), None, "no final message after an overflow"),
        None => messages.extend(framer.finish()),
    }
    Framed { messages, error }
}

/// Like [`frame`], but takes the messages only at the end (a peer that
/// pipelines while the server is busy writing).
fn frame_taking_late(input: &[u8], cuts: &[usize], max_len: usize) -> Framed {
    let mut framer = LineFramer::new(max_len);
    let mut error = None;
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        if let Err(e) = framer.push(&input[start..end]) {
            error.get_or_insert(e);
        }
        start = end;
    }
    let mut messages = Vec::new();
    while let Some(message) = framer.next_message() {
        messages.push(message);
    }
    assert!(framer.buffered() <= max_len);
    if error.is_none() {
        messages.extend(framer.finish());
    }
    Framed { messages, error }
}

/// Bytes where `\n` is common, so that inputs hold many short lines, long
/// lines and everything between.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![1 => Just(b'\n'), 5 => any::<u8>()], 0..400)
}

/// Sorted cut points within `0..=len`, repeats allowed (an empty read).
fn cuts(len: usize, picks: &[Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = picks.iter().map(|p| p.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_gives_the_same_messages_and_error(
        input in stream(),
        max_len in 1usize..48,
        picks in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let whole = frame(&input, &[], max_len);
        let (messages, overflow) = model(&input, max_len);
        prop_assert_eq!(&whole.messages, &messages);
        prop_assert_eq!(whole.error, overflow.then_some(TooLong { max_len }));

        let cuts = cuts(input.len(), &picks);
        prop_assert_eq!(&frame(&input, &cuts, max_len), &whole, "cuts {:?}", cuts);
        prop_assert_eq!(&frame_taking_late(&input, &cuts, max_len), &whole, "late, cuts {:?}", cuts);
    }

    #[test]
    fn byte_by_byte_is_the_same_as_all_at_once(
        input in stream(),
        max_len in 1usize..48,
    ) {
        let every_byte: Vec<usize> = (1..input.len()).collect();
        prop_assert_eq!(frame(&input, &every_byte, max_len), frame(&input, &[], max_len));
    }

    #[test]
    fn a_flood_without_newline_stays_bounded(
        prefix in stream(),
        flood in 1usize..5000,
        max_len in 1usize..64,
        picks in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        // Whatever came before, a run longer than the maximum without `\n`
        // is an error and never grows the buffer past the maximum.
        let mut input = prefix;
        input.push(b'\n');
        input.extend(std::iter::repeat_n(b'x', max_len + flood));
        let cuts = cuts(input.len(), &picks);
        let framed = frame(&input, &cuts, max_len);
        prop_assert_eq!(framed.error, Some(TooLong { max_len }));
    }
}
