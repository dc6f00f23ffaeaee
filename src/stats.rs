//! Pool statistics, behind the `stats` feature: capacity, blocks in use, high-water mark
//! and allocation failures, kept by every pool kind in the same [`Counters`].
//!
//! Without the feature `Counters` is a zero-sized type whose methods do nothing, so the
//! pools' fast paths carry no trace of it. With it, an allocation costs one more atomic
//! read-modify-write (`in_use += 1`, plus a `fetch_max` only when a new high-water mark
//! is reached), and a free one more (`in_use -= 1`); `benches/free_list.rs` measures it.
//!
//! The counters publish nothing, so most updates are `Relaxed`. A [`Stats`] snapshot
//! reads them one by one, so under concurrent traffic its fields may come from slightly
//! different moments; each field on its own is exact when the pool is quiet. The bounds
//! the docs promise, and why they hold:
//! - **`in_use` never exceeds the blocks actually out**, at any moment, so never the
//!   capacity of a fixed-size pool: a free decrements `in_use` *before* it pushes its
//!   block (release), and the next taker increments it *after* its pop (acquire) of that
//!   block, so the decrement happens before the increment and comes first in `in_use`'s
//!   modification order; each block adds 0 or 1 at every point of that order. (For a
//!   growable pool, `capacity` is added after `grow` pushes its blocks: a snapshot taken
//!   *during* a `grow` may show the new blocks in use before it shows them in the
//!   capacity.)
//! - **`high_water` only ever holds a value `in_use` had**, so it never exceeds the
//!   capacity either, and **once the pool is quiet, `high_water >= in_use`**, also when
//!   `reset_high_water` raced allocations. `reset_high_water` stores `in_use` into
//!   `high_water` and then re-reads `in_use` with a read-modify-write (`Release`), raising
//!   the mark if it grew meanwhile; an allocation increments `in_use` with `Acquire`.
//!   Every write of `in_use` is a read-modify-write, so either the allocation's
//!   increment comes after the reset's re-read in `in_use`'s order, and then the reset's
//!   store happens before the allocation's load of `high_water`, which sees it and
//!   raises the mark past it; or it comes before, and the re-read includes it. (A plain
//!   load-then-store lost the allocation that landed between the two.) An allocation that
//!   races a reset may count toward the old or the new period. The `Acquire` costs
//!   nothing on x86; on ARMv7 it is one `dmb` after the increment.
//!
//! Zero-sized `T` need no blocks: their pools keep no statistics.

#[cfg(feature = "stats")]
use crate::counter;
#[cfg(feature = "stats")]
use crate::sync::{AtomicUsize, Ordering};

/// A snapshot of a pool's statistics (feature `stats`), from `stats()` on any pool;
/// `defmt::Format` with the `defmt` feature.
///
/// `#[non_exhaustive]`: later versions may add fields, so it is read field by field
/// and cannot be built outside this crate.
///
/// ```
/// use blockpool::StaticPool;
///
/// static POOL: StaticPool<[u8; 16], 2> = StaticPool::new();
///
/// let a = POOL.alloc().unwrap();
/// let b = POOL.alloc().unwrap();
/// assert!(POOL.alloc().is_none());
/// drop(a);
/// let stats = POOL.stats();
/// assert_eq!((stats.capacity, stats.in_use, stats.high_water, stats.failures), (2, 1, 2, 1));
/// POOL.reset_high_water();
/// assert_eq!(POOL.stats().high_water, 1);
/// # drop(b);
/// ```
#[cfg(feature = "stats")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Stats {
    /// Blocks the pool has (for a growable pool: all it has been given so far).
    pub capacity: usize,
    /// Blocks handed out and not yet returned. Blocks held by caches
    /// ([`LocalCache`](crate::LocalCache), thread-local caches) count as in use: they are
    /// out of the shared free list; `in_use - cached` are with their users.
    pub in_use: usize,
    /// Blocks held by the pool's caches now, free but invisible to other contexts (the
    /// stranding bound: at most each cache's capacity, summed over the caches). 0 for a
    /// pool without caches. Exact when the pool is quiet.
    pub cached: usize,
    /// The most blocks in use at once since the pool was made or
    /// `reset_high_water` was last called.
    pub high_water: usize,
    /// Allocations that found the pool exhausted and returned empty-handed (`alloc`,
    /// `alloc_value`, `request`, `try_new_in`, ...). The tries of an `alloc_async`
    /// future are not failures: it waits (see `waits`).
    pub failures: usize,
    /// `alloc_async` futures that found the pool empty and waited for a block (each
    /// future counts once, however often it is polled). Always 0 without the `async`
    /// feature.
    pub waits: usize,
}

/// What a pool, and each size class of the heap, counts of its blocks' use: blocks in
/// use, the high-water mark, failed allocations (nothing at all without the `stats`
/// feature). The bounds and orderings are the module docs'.
pub(crate) struct Usage {
    #[cfg(feature = "stats")]
    in_use: AtomicUsize,
    #[cfg(feature = "stats")]
    high_water: AtomicUsize,
    #[cfg(feature = "stats")]
    failures: AtomicUsize,
}

impl Usage {
    crate::sync::const_fn_unless_loom! {
        /// All zero.
        pub(crate) fn new() -> Self {
            Self {
                #[cfg(feature = "stats")]
                in_use: AtomicUsize::new(0),
                #[cfg(feature = "stats")]
                high_water: AtomicUsize::new(0),
                #[cfg(feature = "stats")]
                failures: AtomicUsize::new(0),
            }
        }
    }

    /// `blocks` blocks were handed out (call after taking them).
    #[inline(always)]
    #[allow(unused_variables)]
    pub(crate) fn on_take_n(&self, blocks: usize) {
        #[cfg(feature = "stats")]
        {
            // Acquire: pairs with `reset_high_water`'s Release re-read (module docs).
            let in_use = counter::fetch_add(&self.in_use, blocks, Ordering::Acquire) + blocks;
            // Only a new record pays for the read-modify-write.
            if in_use > self.high_water.load(Ordering::Relaxed) {
                counter::fetch_max(&self.high_water, in_use, Ordering::Relaxed);
            }
        }
    }

    /// `blocks` blocks are about to go back (call before pushing them).
    #[inline(always)]
    #[allow(unused_variables)]
    pub(crate) fn on_release_n(&self, blocks: usize) {
        // Relaxed: the push's release orders it before the next taker's increment
        // (module docs).
        #[cfg(feature = "stats")]
        counter::fetch_sub(&self.in_use, blocks, Ordering::Relaxed);
    }

    /// An allocation found no block.
    #[inline(always)]
    pub(crate) fn on_failure(&self) {
        #[cfg(feature = "stats")]
        counter::fetch_add(&self.failures, 1, Ordering::Relaxed);
    }

    /// Blocks in use, the high-water mark and the failures, now.
    #[cfg(feature = "stats")]
    pub(crate) fn read(&self) -> (usize, usize, usize) {
        (
            self.in_use.load(Ordering::Relaxed),
            self.high_water.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }

    /// Sets the high-water mark to the number of blocks in use now; an allocation that
    /// races it is never lost (see the module docs).
    #[cfg(feature = "stats")]
    pub(crate) fn reset_high_water(&self) {
        let now = self.in_use.load(Ordering::Relaxed);
        self.high_water.store(now, Ordering::Relaxed);
        // A read-modify-write that changes nothing: it reads the latest `in_use`, and
        // its Release makes the store above visible to every allocation whose increment
        // comes later (module docs).
        let after = counter::fetch_add(&self.in_use, 0, Ordering::Release);
        if after > now {
            counter::fetch_max(&self.high_water, after, Ordering::Relaxed);
        }
    }
}

/// The counters a pool keeps: its [`Usage`] and its capacity (nothing at all without
/// the `stats` feature).
pub(crate) struct Counters {
    #[cfg(feature = "stats")]
    capacity: AtomicUsize,
    usage: Usage,
}

impl Counters {
    crate::sync::const_fn_unless_loom! {
        /// All zero.
        pub(crate) fn new() -> Self {
            Self {
                #[cfg(feature = "stats")]
                capacity: AtomicUsize::new(0),
                usage: Usage::new(),
            }
        }
    }

    /// A block was handed out (call after taking it).
    #[inline(always)]
    pub(crate) fn on_take(&self) {
        self.usage.on_take_n(1);
    }

    /// `blocks` blocks were handed out at once, to a cache (call after taking them).
    #[inline(always)]
    pub(crate) fn on_take_n(&self, blocks: usize) {
        self.usage.on_take_n(blocks);
    }

    /// A block is about to go back (call before pushing it).
    #[inline(always)]
    pub(crate) fn on_release(&self) {
        self.usage.on_release_n(1);
    }

    /// `blocks` blocks are about to go back at once (call before pushing them).
    #[inline(always)]
    pub(crate) fn on_release_n(&self, blocks: usize) {
        self.usage.on_release_n(blocks);
    }

    /// An allocation found the pool exhausted.
    #[inline(always)]
    pub(crate) fn on_failure(&self) {
        self.usage.on_failure();
    }

    /// The pool was given `blocks` more blocks.
    #[inline(always)]
    #[allow(unused_variables)]
    pub(crate) fn add_capacity(&self, blocks: usize) {
        #[cfg(feature = "stats")]
        counter::fetch_add(&self.capacity, blocks, Ordering::Relaxed);
    }

    /// The current values; `fixed_capacity` overrides the counted capacity (for pools
    /// whose capacity is a constant).
    #[cfg(feature = "stats")]
    pub(crate) fn snapshot(
        &self,
        fixed_capacity: Option<usize>,
        waits: usize,
        cached: usize,
    ) -> Stats {
        let (in_use, high_water, failures) = self.usage.read();
        Stats {
            cached,
            capacity: fixed_capacity.unwrap_or_else(|| self.capacity.load(Ordering::Relaxed)),
            in_use,
            high_water,
            failures,
            waits,
        }
    }

    /// Sets the high-water mark to the number of blocks in use now (see
    /// [`Usage::reset_high_water`]).
    #[cfg(feature = "stats")]
    pub(crate) fn reset_high_water(&self) {
        self.usage.reset_high_water();
    }
}
