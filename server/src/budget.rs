//! One memory budget for the bytes all connections buffer together (partial
//! messages, pending echoes), so that many peers each holding a partial
//! message cannot add up to more than the operator allowed; and who reads
//! once it is spent.
//!
//! [`MemoryBudget`] counts the bytes. [`Rationing`] adds who waits: when the
//! budget is spent, a connection with unread input is *parked*, not read
//! (readiness is edge-triggered, so it is remembered in a queue) until bytes
//! are released, then resumed, oldest first. One connection at a time is
//! *privileged* and reads past the budget, so parked partial messages never
//! wait on each other. Each connection's side of it is its [`Share`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use app::event;
use log::Level;

use crate::throttle::Throttle;

/// What every connection may hold whatever the budget says, so that a short
/// message is still served while the budget is exhausted.
pub const GUARANTEED_BYTES: usize = 1024;
/// At most one memory-budget line per this period.
const SPENT_LOG_EVERY: Duration = Duration::from_secs(1);

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

/// One holder's side of the budget: what it is charged, and where it
/// stands when the budget is spent.
#[derive(Debug, Default)]
pub struct Share {
    /// Bytes charged to the budget.
    charged: usize,
    /// Input waits unread for budget; the holder is in the parked queue.
    parked: bool,
    /// The current message was held back by the budget at some point (said
    /// in the fail line should its deadline pass).
    held_back: bool,
}

impl Share {
    /// Whether input waits unread for budget.
    pub fn is_parked(&self) -> bool {
        self.parked
    }

    /// The holder waits for readiness now, not for budget: its entry in the
    /// parked queue, if any, is stale from now on.
    pub fn unpark(&mut self) {
        self.parked = false;
    }

    /// Whether the budget held the current message back at some point.
    pub fn was_held_back(&self) -> bool {
        self.held_back
    }

    /// A message is complete: what held back this one says nothing of the
    /// next.
    pub fn new_message(&mut self) {
        self.held_back = false;
    }
}

/// What becomes of a holder that has input waiting and no budget for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parking {
    /// Nobody held the privilege: it is this holder's, read past the budget.
    Privileged,
    /// It waits in the parked queue until bytes are released.
    Parked,
}

/// The memory budget, the parked queue and the privilege, for holders named
/// by `K` (the server's connection ids; entries of holders that have since
/// gone or moved on are left in the queue and skipped by the caller).
#[derive(Debug)]
pub struct Rationing<K> {
    bytes: MemoryBudget,
    /// Parked holders, oldest first.
    parked: VecDeque<K>,
    /// The one holder allowed to read past the budget, so that at least one
    /// partial message can always complete.
    privileged: Option<K>,
    spent_log: Throttle,
}

impl<K: Copy + PartialEq> Rationing<K> {
    /// A budget of `limit` bytes, nobody parked or privileged.
    pub fn new(limit: usize) -> Self {
        Rationing {
            bytes: MemoryBudget::new(limit),
            parked: VecDeque::new(),
            privileged: None,
            spent_log: Throttle::new(SPENT_LOG_EVERY),
        }
    }

    /// Charges `share` with `bytes`, what its buffers occupy now.
    pub fn settle(&mut self, share: &mut Share, bytes: usize) {
        self.bytes.settle(&mut share.charged, bytes);
    }

    /// How much `who` may read now, at most `chunk`: all of it when
    /// privileged, else what the budget allows.
    pub fn allowance(&self, who: K, share: &Share, chunk: usize) -> usize {
        if self.privileged == Some(who) {
            chunk
        } else {
            self.bytes.allowance(share.charged, chunk)
        }
    }

    /// `who` has input waiting and no budget for it: it takes the privilege
    /// if that is free, else it is parked (once: a holder already in the
    /// queue keeps its place). Either way the spent budget is logged, at
    /// most once a period: even with nobody parked, each such reader waits
    /// for the privilege.
    pub fn park(&mut self, who: K, share: &mut Share, now: Instant) -> Parking {
        let parking = if self.privileged.is_none() {
            share.parked = false;
            self.privileged = Some(who);
            Parking::Privileged
        } else {
            share.held_back = true;
            if !share.parked {
                share.parked = true;
                self.parked.push_back(who);
            }
            Parking::Parked
        };
        if self.spent_log.due(now) {
            event!(Level::Warn, "memory_budget", InProgress;
                reading = "paused", buffered_bytes = self.bytes.held(),
                max_buffered_bytes = self.bytes.limit(), parked_connections = self.parked.len());
        }
        parking
    }

    /// `who` holds no message any more, partial or owed as an echo: its
    /// bytes are released, and it needs no privilege.
    pub fn end_privilege(&mut self, who: K) {
        if self.privileged == Some(who) {
            self.privileged = None;
        }
    }

    /// `who` is gone: its bytes and its privilege are released (its parked
    /// entry, if any, is skipped when it comes up).
    pub fn leave(&mut self, who: K, share: &mut Share) {
        self.settle(share, 0);
        self.end_privilege(who);
    }

    /// The next parked holder to read again, oldest first, while there is
    /// budget (or nobody holds the privilege to read past it). The caller
    /// skips entries that have gone stale and resumes the others, which
    /// park again, at the back, if need be.
    pub fn next_to_resume(&mut self) -> Option<K> {
        if self.bytes.room() == 0 && self.privileged.is_some() {
            return None;
        }
        self.parked.pop_front()
    }

    /// A new limit (a reload): see [`MemoryBudget::set_limit`].
    pub fn set_limit(&mut self, limit: usize) {
        self.bytes.set_limit(limit);
    }

    /// Bytes held in all.
    pub fn held(&self) -> usize {
        self.bytes.held()
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

    #[test]
    fn the_first_holder_short_of_budget_reads_past_it_the_others_park_in_order() {
        let now = Instant::now();
        let mut budget = Rationing::new(2_000);
        let mut shares: Vec<Share> = (0..3).map(|_| Share::default()).collect();
        budget.settle(&mut shares[0], 2_000);
        assert_eq!(budget.allowance(0, &shares[0], 65_536), 0);
        assert_eq!(budget.park(0, &mut shares[0], now), Parking::Privileged);
        assert_eq!(budget.allowance(0, &shares[0], 65_536), 65_536);
        assert!(!shares[0].is_parked() && !shares[0].was_held_back());
        for who in [2, 1] {
            assert_eq!(budget.park(who, &mut shares[who], now), Parking::Parked);
            assert!(shares[who].is_parked() && shares[who].was_held_back());
        }
        // Parked again while in the queue: it keeps its place.
        assert_eq!(budget.park(2, &mut shares[2], now), Parking::Parked);
        assert_eq!(budget.next_to_resume(), None, "no room, privilege taken");
        budget.end_privilege(1); // not the privileged one: nothing changes
        assert_eq!(budget.next_to_resume(), None);
        budget.end_privilege(0);
        assert_eq!(budget.next_to_resume(), Some(2));
        assert_eq!(budget.next_to_resume(), Some(1));
        assert_eq!(budget.next_to_resume(), None, "queue empty");
        shares[1].new_message();
        shares[1].unpark();
        assert!(!shares[1].is_parked() && !shares[1].was_held_back());
    }

    #[test]
    fn a_holder_that_leaves_returns_its_bytes_and_its_privilege() {
        let now = Instant::now();
        let mut budget = Rationing::new(1_000);
        let (mut a, mut b) = (Share::default(), Share::default());
        budget.settle(&mut a, 1_500);
        assert_eq!(budget.park(1, &mut a, now), Parking::Privileged);
        assert_eq!(budget.park(2, &mut b, now), Parking::Parked);
        budget.leave(1, &mut a);
        assert_eq!(budget.held(), 0);
        assert_eq!(budget.next_to_resume(), Some(2));
        budget.set_limit(0);
        assert_eq!(budget.park(2, &mut b, now), Parking::Privileged);
    }
}
