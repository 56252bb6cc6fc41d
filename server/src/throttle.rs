//! At most one occurrence per period: what keeps a storm of the same event
//! (accept errors, a spent memory budget) from flooding the log.

use std::time::{Duration, Instant};

/// Lets one occurrence through, then none until `every` has passed.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
}

impl Throttle {
    /// A throttle that has let nothing through yet.
    pub const fn new(every: Duration) -> Self {
        Throttle { every, last: None }
    }

    /// Whether an occurrence at `now` goes through; if it does, the period
    /// starts again from `now`.
    pub fn due(&mut self, now: Instant) -> bool {
        let due = self
            .last
            .is_none_or(|last| now.duration_since(last) >= self.every);
        if due {
            self.last = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_goes_through_then_one_per_period() {
        let second = Duration::from_secs(1);
        let mut throttle = Throttle::new(second);
        let start = Instant::now();
        assert!(throttle.due(start));
        assert!(!throttle.due(start));
        assert!(!throttle.due(start + second / 2));
        assert!(throttle.due(start + second));
        assert!(!throttle.due(start + second + second / 2));
        assert!(throttle.due(start + 3 * second));
    }
}
