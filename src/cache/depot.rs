//! [`Depot`]: whole batches of free blocks on their way from one cache to another, kept as
//! arrays of block pointers in a few slots beside the shared free list.
//!
//! Why: a batch handed back through the free list is a chain linked through the blocks
//! themselves, so the cache that refills from it walks the chain, one dependent load per
//! block, and when the blocks were last written on another core each load is a cache
//! miss that the next one waits for (one thread allocates, another frees: the W4
//! workload). A batch in a depot slot is an array: the refill copies it with independent
//! loads, and neither side touches the blocks.
//!
//! **Protocol.** Each slot is `EMPTY`, `CLAIMED` or `FULL`. `put` claims an `EMPTY` slot
//! with a compare-and-swap, writes the batch and publishes it with a release store of
//! `FULL`; `take` claims a `FULL` slot with a compare-and-swap, copies the batch out and
//! releases the slot with a release store of `EMPTY` (or of `FULL`, when it took only part
//! of the batch). Neither waits: a slot another context holds, or finds in the wrong
//! state, is skipped, and when no slot serves, the caller uses the shared free list. So a
//! context stopped inside a slot (preempted, or interrupted by a signal handler that
//! then uses the pool) keeps that one slot from the others and blocks nobody.
//!
//! **Orderings.** The claims are acquire and the publications release: the putter's
//! writes of the batch (and, before them in its program order or by its own acquires,
//! every write of the blocks' previous owners) happen before the taker reads it, and the
//! taker's reads happen before the next putter of that slot overwrites it. Nothing else
//! is shared.

use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};
use crate::Block;

/// Slots per depot: a depot holds at most `SLOTS` batches.
pub const SLOTS: usize = 4;

/// No batch; a `put` may claim the slot.
const EMPTY: usize = 0;
/// One context is writing or reading the batch.
const CLAIMED: usize = 1;
/// A batch is published; a `take` may claim it.
const FULL: usize = 2;

/// One batch: `blocks[..len]`.
struct Batch<T, const CAP: usize> {
    len: usize,
    blocks: [MaybeUninit<NonNull<Block<T>>>; CAP],
}

/// A slot on a cache line of its own, so that two slots in use do not share one.
#[repr(align(64))]
struct Slot<T, const CAP: usize> {
    state: AtomicUsize,
    batch: UnsafeCell<Batch<T, CAP>>,
}

/// Up to `SLOTS` (4) batches of at most `CAP` free blocks of one pool (all zeros at start).
/// Not part of the API: `pool!(…, thread_cache = C)` declares one beside its thread-local
/// caches.
pub struct Depot<T, const CAP: usize> {
    slots: [Slot<T, CAP>; SLOTS],
}

// SAFETY: a depot holds only pointers to free blocks, which hold no `T`, so sharing it
// moves no `T` between threads; each batch is read or written only by the one context
// that moved its slot to `CLAIMED` (module docs), and the state is atomic.
unsafe impl<T, const CAP: usize> Sync for Depot<T, CAP> {}

impl<T, const CAP: usize> Slot<T, CAP> {
    crate::sync::const_fn_unless_loom! {
        fn new() -> Self {
            Self {
                state: AtomicUsize::new(EMPTY),
                batch: UnsafeCell::new(Batch {
                    len: 0,
                    blocks: [const { MaybeUninit::uninit() }; CAP],
                }),
            }
        }
    }

    /// Moves the slot from `from` to `CLAIMED`, if it is there.
    #[inline]
    fn claim(&self, from: usize) -> bool {
        // The plain load first, so that a scan past slots in use does not write their
        // lines.
        if self.state.load(Ordering::Relaxed) != from {
            return false;
        }
        // Acquire on success: see the module docs (a `put` after the last `take`'s
        // reads, a `take` after the `put`'s writes).
        #[cfg(blockpool_rmw)]
        {
            self.state
                .compare_exchange(from, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        }
        // Without a compare-and-swap (thumbv6m, riscv32imc: single-core parts), a short
        // critical section, as `sync::claim_below` does.
        #[cfg(not(blockpool_rmw))]
        {
            critical_section::with(|_| {
                let claimed = self.state.load(Ordering::Acquire) == from;
                if claimed {
                    self.state.store(CLAIMED, Ordering::Relaxed);
                }
                claimed
            })
        }
    }
}

impl<T, const CAP: usize> Depot<T, CAP> {
    crate::sync::const_fn_unless_loom! {
        /// An empty depot.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self {
                slots: [Slot::new(), Slot::new(), Slot::new(), Slot::new()],
            }
        }
    }

    /// Stores `blocks` as one batch in an empty slot and says so; `false`, storing
    /// nothing, if no slot is empty now or `blocks` is empty or longer than `CAP`.
    ///
    /// # Safety
    /// `blocks` are distinct free blocks that the caller owns and gives up, none of them
    /// in this depot, all of the one pool whose blocks this depot holds.
    pub unsafe fn put(&self, blocks: &[NonNull<Block<T>>]) -> bool {
        if blocks.is_empty() || blocks.len() > CAP {
            return false;
        }
        for slot in &self.slots {
            if !slot.claim(EMPTY) {
                continue;
            }
            slot.batch.with_mut(|batch| {
                // SAFETY: the claim made us the slot's only user (module docs).
                let batch = unsafe { &mut *batch };
                for (to, &block) in batch.blocks.iter_mut().zip(blocks) {
                    to.write(block);
                }
                batch.len = blocks.len();
            });
            // Release: publishes the batch (and the blocks' history) to its taker.
            slot.state.store(FULL, Ordering::Release);
            return true;
        }
        false
    }

    /// Moves the top blocks of one batch (up to `out.len()`) to `out[..n]` and returns
    /// `n`; 0 if no batch is published now. The caller owns the blocks taken.
    pub fn take(&self, out: &mut [MaybeUninit<NonNull<Block<T>>>]) -> usize {
        if out.is_empty() {
            return 0;
        }
        for slot in &self.slots {
            if !slot.claim(FULL) {
                continue;
            }
            let (taken, left) = slot.batch.with_mut(|batch| {
                // SAFETY: the claim made us the slot's only user (module docs).
                let batch = unsafe { &mut *batch };
                let n = batch.len.min(out.len());
                batch.len -= n;
                out[..n].copy_from_slice(&batch.blocks[batch.len..batch.len + n]);
                (n, batch.len)
            });
            // Release: our reads happen before the slot's next user writes it. A batch
            // with blocks left is published again.
            let state = if left == 0 { EMPTY } else { FULL };
            slot.state.store(state, Ordering::Release);
            return taken;
        }
        0
    }
}
