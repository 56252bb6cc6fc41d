//! One memory budget for the bytes all connections buffer together (partial
//! messages, pending echoes), so that many peers each holding a partial
//! message cannot add up to more than the operator allowed.

/// What every connection may hold whatever the budget says, so that a short
/// message is still served while the budget is exhausted.
pub const GUARANTEED_BYTES: usize = 1024;

/// Bytes held in connection buffers, against a limit.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    held: usize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes, none held.
    pub fn new(limit: usize) -> Self {
        MemoryBudget { limit, held: 0 }
    }

    /// Moves one holder's charge from `*charged` to `now` bytes. The only
    /// place the total changes, so it stays exact: a holder that settles to
    /// 0 when it goes leaves nothing behind.
    pub fn settle(&mut self, charged: &mut usize, now: usize) {
        debug_assert!(*charged <= self.held, "a charge larger than the total");
        self.held = self.held - *charged + now;
        *charged = now;
    }

    /// A new limit (a reload). What is held stays; below the new limit
    /// there is room again at once, above it reading waits for releases.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Bytes still free (0 once the limit is reached or overshot).
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.held)
    }

    /// How much a holder already charged `charged` bytes may read now, at
    /// most `chunk`: what is free, or what is left of its guaranteed
    /// allowance, whichever is more.
    pub fn allowance(&self, charged: usize, chunk: usize) -> usize {
        self.room()
            .max(GUARANTEED_BYTES.saturating_sub(charged))
            .min(chunk)
    }

    /// Bytes held in all.
    pub fn held(&self) -> usize {
        self.held
    }

    /// The configured limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_add_up_and_return_to_zero() {
        let mut budget = MemoryBudget::new(10_000);
        let (mut a, mut b) = (0, 0);
        budget.settle(&mut a, 4_000);
        budget.settle(&mut b, 5_000);
        assert_eq!((budget.held(), budget.room()), (9_000, 1_000));
        budget.settle(&mut a, 6_500); // a grows past the limit: no room, no underflow
        assert_eq!((budget.held(), budget.room()), (11_500, 0));
        budget.settle(&mut b, 0);
        budget.settle(&mut a, 0);
        assert_eq!((budget.held(), budget.room(), a, b), (0, 10_000, 0, 0));
    }

    #[test]
    fn a_new_limit_moves_the_room_not_the_charges() {
        let mut budget = MemoryBudget::new(10_000);
        let mut a = 0;
        budget.settle(&mut a, 8_000);
        budget.set_limit(5_000);
        assert_eq!(
            (budget.held(), budget.room(), budget.limit()),
            (8_000, 0, 5_000)
        );
        budget.set_limit(20_000);
        assert_eq!(budget.room(), 12_000);
        budget.settle(&mut a, 0);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn a_full_budget_still_grants_each_holder_its_guaranteed_bytes() {
        let mut budget = MemoryBudget::new(4_096);
        let mut big = 0;
        budget.settle(&mut big, 4_096);
        assert_eq!(budget.allowance(0, 65_536), GUARANTEED_BYTES);
        assert_eq!(budget.allowance(1_000, 65_536), GUARANTEED_BYTES - 1_000);
        assert_eq!(budget.allowance(GUARANTEED_BYTES, 65_536), 0);
        assert_eq!(budget.allowance(big, 65_536), 0);
        budget.settle(&mut big, 1_096);
        assert_eq!(budget.allowance(big, 65_536), 3_000);
        assert_eq!(budget.allowance(big, 2_000), 2_000);
    }
}
