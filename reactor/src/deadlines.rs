//! A min-heap of deadlines with lazy cancellation.
//!
//! Entries are never removed when their owner changes phase or closes; the
//! owner checks, when an entry comes due, whether it still stands (a closed
//! connection or a moved deadline makes it stale). That keeps every
//! reschedule O(log n) and needs no handle bookkeeping.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Deadlines keyed by `K`, earliest first.
#[derive(Debug)]
pub struct Deadlines<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> Deadlines<K> {
    /// Schedules `key` at `at`.
    pub fn push(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest entry's time, stale or not (waking for a stale one is harmless).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes the earliest entry if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, K)> {
        if self.next()? <= now {
            self.heap.pop().map(|Reverse(entry)| entry)
        } else {
            None
        }
    }

    /// Entries held, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Drops the entries `still_stands` rejects; for occasional compaction
    /// when stale entries pile up.
    pub fn retain(&mut self, mut still_stands: impl FnMut(Instant, K) -> bool) {
        self.heap
            .retain(|Reverse((at, key))| still_stands(*at, *key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_due_entries_in_time_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut d = Deadlines::default();
        d.push(t0 + ms(30), 3);
        d.push(t0 + ms(10), 1);
        d.push(t0 + ms(20), 2);
        assert_eq!(d.next(), Some(t0 + ms(10)));
        assert_eq!(d.pop_due(t0), None);
        assert_eq!(d.pop_due(t0 + ms(25)), Some((t0 + ms(10), 1)));
        assert_eq!(d.pop_due(t0 + ms(25)), Some((t0 + ms(20), 2)));
        assert_eq!(d.pop_due(t0 + ms(25)), None);
        d.retain(|_, k| k != 3);
        assert!(d.is_empty());
    }
}
