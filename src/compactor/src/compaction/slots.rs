//! How much of the pass's rewrite capacity one group takes.
//!
//! `max_concurrent_groups` counts slots: room for one large group's rewrite (its read-ahead,
//! its decoded batches and the row group being encoded). A small group needs a fraction of
//! that, and spends most of its time waiting for the object store, so several small groups
//! share a slot: each takes shares in proportion to its input bytes, at least one, at most
//! [`SHARES_PER_SLOT`]. With an object store that answers in tens of milliseconds, groups of a
//! few small files then overlap their requests instead of queueing behind each other, while
//! memory stays bounded by the slots as before. A sorted group always takes a whole slot:
//! its sort has a memory budget of its own.

use tokio::sync::{Semaphore, SemaphorePermit};

use super::plan::Method;

/// Groups that share one slot at most (the smallest groups).
pub(crate) const SHARES_PER_SLOT: usize = 4;

/// Input bytes of a group that takes a whole slot.
const SLOT_BYTES: u64 = 64 * 1024 * 1024;

/// The pass's rewrite capacity: `slots` slots of [`SHARES_PER_SLOT`] shares each, shared by
/// every table of the pass.
#[derive(Debug)]
pub struct RewriteSlots {
    shares: Semaphore,
}

impl RewriteSlots {
    /// Capacity for `slots` large groups at a time (at least 1).
    pub fn new(slots: usize) -> Self {
        Self { shares: Semaphore::new(slots.max(1) * SHARES_PER_SLOT) }
    }

    /// Waits for room to rewrite a group of `bytes` input bytes with `method`.
    pub(crate) async fn acquire(&self, bytes: u64, method: Method) -> SemaphorePermit<'_> {
        let shares = u32::try_from(shares(bytes, method)).unwrap_or(u32::MAX);
        // The semaphore is never closed.
        self.shares.acquire_many(shares).await.expect("rewrite slots are never closed")
    }
}

/// The shares a group of `bytes` input bytes rewritten with `method` takes.
fn shares(bytes: u64, method: Method) -> usize {
    if method == Method::Sort {
        return SHARES_PER_SLOT;
    }
    let per_share = SLOT_BYTES / SHARES_PER_SLOT as u64;
    usize::try_from(bytes.div_ceil(per_share)).unwrap_or(usize::MAX).clamp(1, SHARES_PER_SLOT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_groups_share_a_slot_and_large_or_sorted_ones_take_it_whole() {
        assert_eq!(shares(0, Method::Rewrite), 1);
        assert_eq!(shares(2 * 1024 * 1024, Method::Rewrite), 1);
        assert_eq!(shares(16 * 1024 * 1024 + 1, Method::Rewrite), 2);
        assert_eq!(shares(SLOT_BYTES, Method::Copy), SHARES_PER_SLOT);
        assert_eq!(shares(10 * SLOT_BYTES, Method::Rewrite), SHARES_PER_SLOT);
        assert_eq!(shares(1024, Method::Sort), SHARES_PER_SLOT);
    }

    #[tokio::test]
    async fn one_slot_holds_four_small_groups_or_one_large_one() {
        let slots = RewriteSlots::new(1);
        let small: Vec<_> =
            futures::future::join_all((0..4).map(|_| slots.acquire(1024, Method::Rewrite))).await;
        assert_eq!(slots.shares.available_permits(), 0, "four small groups fill the slot");
        drop(small);
        let large = slots.acquire(SLOT_BYTES, Method::Rewrite).await;
        assert_eq!(slots.shares.available_permits(), 0, "a large group takes it whole");
        drop(large);
        assert_eq!(slots.shares.available_permits(), SHARES_PER_SLOT);
    }
}
