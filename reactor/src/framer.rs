//! A sans-IO line framer: push bytes as they arrive, take complete messages.
//!
//! A message is the bytes up to and including the first `\n`; at EOF, the bytes
//! received so far form the last message. Bytes are never interpreted (no UTF-8
//! requirement), and the framer never holds more than `max_len` bytes, whatever
//! the peer sends.

use std::fmt;

/// A message longer than the configured maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong {
    /// The configured maximum, in bytes (the `\n` included).
    pub max_len: usize,
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message longer than {} bytes", self.max_len)
    }
}

impl std::error::Error for TooLong {}

/// Splits a byte stream into `\n`-terminated messages of bounded length.
#[derive(Debug)]
pub struct LineFramer {
    /// Bytes received and not yet taken; allocated only once data arrives, so
    /// an idle connection costs no buffer.
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already taken as messages; compacted
    /// away on the next push, so taking many messages costs no copying of
    /// the rest each time.
    taken: usize,
    /// Where the trailing message still lacking its `\n` starts in `buf`:
    /// everything from `taken` to here is complete messages.
    partial_start: usize,
    max_len: usize,
    /// Set once a message overflowed: the stream has lost its framing.
    overflowed: bool,
}

impl LineFramer {
    /// A framer accepting messages of at most `max_len` bytes, `\n` included.
    pub fn new(max_len: usize) -> Self {
        LineFramer {
            buf: Vec::new(),
            taken: 0,
            partial_start: 0,
            max_len: max_len.max(1),
            overflowed: false,
        }
    }

    /// Appends received bytes.
    ///
    /// Fails once the bytes buffered without a `\n` exceed the maximum; the
    /// framer then refuses everything, as the stream can no longer be framed.
    /// Complete messages already buffered stay available through
    /// [`next_message`](Self::next_message).
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), TooLong> {
        let too_long = TooLong {
            max_len: self.max_len,
        };
        if self.overflowed {
            return Err(too_long);
        }
        if self.taken > 0 {
            self.buf.drain(..self.taken);
            self.partial_start -= self.taken;
            self.taken = 0;
        }
        while !data.is_empty() {
            let room = self.max_len - (self.buf.len() - self.partial_start);
            match memchr(&data[..data.len().min(room)]) {
                Some(i) => {
                    self.buf.extend_from_slice(&data[..=i]);
                    self.partial_start = self.buf.len();
                    data = &data[i + 1..];
                }
                None if data.len() <= room => {
                    self.buf.extend_from_slice(data);
                    return Ok(());
                }
                None => {
                    self.overflowed = true;
                    self.buf.truncate(self.partial_start);
                    self.buf.shrink_to_fit();
                    return Err(too_long);
                }
            }
        }
        Ok(())
    }

    /// Takes the next complete message, its `\n` included.
    pub fn next_message(&mut self) -> Option<Vec<u8>> {
        let start = self.taken;
        let end = start + memchr(&self.buf[start..self.partial_start])? + 1;
        if start == 0 && end == self.buf.len() {
            // The common case, one whole message buffered: hand over the buffer.
            self.partial_start = 0;
            return Some(std::mem::take(&mut self.buf));
        }
        self.taken = end;
        Some(self.buf[start..end].to_vec())
    }

    /// The peer closed its side: the bytes buffered after the last complete
    /// message (if any) form the final message, without a `\n`.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if self.overflowed || self.partial_start == self.buf.len() {
            return None;
        }
        let partial = self.buf[self.partial_start..].to_vec();
        self.buf.truncate(self.partial_start);
        Some(partial)
    }

    /// Drops everything buffered and its memory (input that will never be
    /// answered).
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.taken = 0;
        self.partial_start = 0;
    }

    /// Whether nothing at all is buffered.
    pub fn is_empty(&self) -> bool {
        self.buffered() == 0
    }

    /// Bytes currently held (not yet taken).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.taken
    }

    /// Bytes of memory the buffer occupies (its capacity): what a memory
    /// budget must count, as it can exceed what is buffered.
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }
}

fn memchr(haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in the given chunks, then EOF; returns messages and error.
    fn frame(input: &[u8], cuts: &[usize], max_len: usize) -> (Vec<Vec<u8>>, Option<TooLong>) {
        let mut framer = LineFramer::new(max_len);
        let mut messages = Vec::new();
        let mut start = 0;
        let mut error = None;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            if let Err(e) = framer.push(&input[start..cut]) {
                error = Some(e);
            }
            while let Some(message) = framer.next_message() {
                messages.push(message);
            }
            assert!(framer.buffered() <= max_len.max(1));
            start = cut;
        }
        if error.is_none() {
            messages.extend(framer.finish());
        }
        (messages, error)
    }

    fn split_everywhere(input: &[u8], max_len: usize) {
        let whole = frame(input, &[], max_len);
        for a in 0..=input.len() {
            assert_eq!(frame(input, &[a], max_len), whole, "cut at {a}");
            for b in a..=input.len() {
                assert_eq!(frame(input, &[a, b], max_len), whole, "cuts at {a},{b}");
            }
        }
    }

    #[test]
    fn one_line_is_one_message_whatever_the_split() {
        let input = "[CLIENT 1] Message N°1\n".as_bytes();
        assert_eq!(frame(input, &[], 64).0, vec![input.to_vec()]);
        split_everywhere(input, 64);
    }

    #[test]
    fn several_lines_whatever_the_split() {
        let input = b"one\n\ntwo\r\n\xff\xfe\n\0\nlast";
        let (messages, error) = frame(input, &[], 64);
        assert_eq!(error, None);
        let expected: Vec<&[u8]> =
            vec![b"one\n", b"\n", b"two\r\n", b"\xff\xfe\n", b"\0\n", b"last"];
        assert_eq!(messages, expected);
        split_everywhere(input, 64);
    }

    #[test]
    fn eof_without_newline_gives_the_bytes_so_far() {
        let mut framer = LineFramer::new(16);
        framer.push(b"no newline").unwrap();
        assert_eq!(framer.next_message(), None);
        assert_eq!(framer.finish(), Some(b"no newline".to_vec()));
        assert_eq!(framer.finish(), None);
    }

    #[test]
    fn eof_on_nothing_is_no_message() {
        let mut framer = LineFramer::new(16);
        assert_eq!(framer.finish(), None);
        framer.push(b"done\n").unwrap();
        assert_eq!(framer.next_message(), Some(b"done\n".to_vec()));
        assert_eq!(framer.finish(), None);
        assert!(framer.is_empty());
    }

    #[test]
    fn max_length_counts_the_newline() {
        assert_eq!(frame(b"abc\n", &[], 4).0, vec![b"abc\n".to_vec()]);
        assert_eq!(frame(b"abcd\n", &[], 4).1, Some(TooLong { max_len: 4 }));
        assert_eq!(frame(b"abcd", &[], 4).0, vec![b"abcd".to_vec()]);
        assert_eq!(frame(b"abcde", &[], 4).1, Some(TooLong { max_len: 4 }));
        split_everywhere(b"abcd\n", 4);
        split_everywhere(b"ab\nabcdef\nab\n", 4);
    }

    #[test]
    fn overflow_keeps_earlier_messages_and_memory_bounded() {
        let mut framer = LineFramer::new(8);
        framer.push(b"ok\n").unwrap();
        let flood = vec![b'x'; 1 << 20];
        assert_eq!(framer.push(&flood), Err(TooLong { max_len: 8 }));
        assert!(framer.buffered() <= 8);
        assert_eq!(framer.push(b"\n"), Err(TooLong { max_len: 8 }));
        assert_eq!(framer.next_message(), Some(b"ok\n".to_vec()));
        assert_eq!(framer.finish(), None);
    }

    #[test]
    fn many_short_messages_in_one_push_come_out_in_order() {
        let mut framer = LineFramer::new(4);
        framer.push(&b"a\n".repeat(10_000)).unwrap();
        let mut count = 0;
        while let Some(message) = framer.next_message() {
            assert_eq!(message, b"a\n");
            count += 1;
        }
        assert_eq!(count, 10_000);
        assert!(framer.is_empty());
        framer.push(b"b\nc").unwrap();
        assert_eq!(framer.next_message(), Some(b"b\n".to_vec()));
        assert_eq!(framer.finish(), Some(b"c".to_vec()));
        framer.push(b"dd").unwrap();
        framer.clear();
        assert!(framer.is_empty());
        assert_eq!(framer.finish(), None);
    }

    #[test]
    fn too_long_names_the_limit() {
        assert_eq!(
            TooLong { max_len: 65536 }.to_string(),
            "message longer than 65536 bytes"
        );
    }
}
