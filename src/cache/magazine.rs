//! [`Magazine`]: the blocks one cache holds, and its exchanges with the pool's shared
//! free list. The no_std [`LocalCache`](super::LocalCache) and the thread-local caches
//! (`thread.rs`) are a magazine plus the rule that says who may touch it.

use core::mem::{self, MaybeUninit};
use core::ptr::NonNull;

use super::Depot;
use crate::boxed::PoolHandle;
use crate::Block;

/// Up to `CAP` free blocks of one pool, kept as a stack of pointers (the blocks
/// themselves are not written while they sit here), and the count of flush requests the
/// cache last honoured.
///
/// - `take` pops the top pointer; when empty it refills with one batch of `BATCH`
///   blocks: from the depot if one is given and holds a batch, else from the pool
///   (`PoolHandle::take_batch`: one exchange of the shared list).
/// - `release` pushes; when full it first hands the top `BATCH` blocks on as one batch:
///   to the depot if one is given and has an empty slot, else back to the pool as one
///   chain (`PoolHandle::release_batch`: one exchange).
/// - both first compare the pool's flush-request count with the one seen last; if it
///   moved, another context found the shared list dry, and the magazine returns
///   everything it holds and everything in the depot, then serves this one call from
///   the pool directly (`super::Shared`).
///
/// The depot is optional (`None`: a `LocalCache`); every block in it and in the magazine
/// belongs to the pool the methods are given (the callers keep one magazine, and one
/// depot, per pool).
pub(crate) struct Magazine<T, const CAP: usize> {
    len: usize,
    seen: usize,
    blocks: [MaybeUninit<NonNull<Block<T>>>; CAP],
}

impl<T, const CAP: usize> Magazine<T, CAP> {
    /// Blocks moved per exchange with the shared list: half the capacity (at least
    /// one), so that a cache that alternates around a boundary does not exchange on
    /// every call.
    pub(crate) const BATCH: usize = if CAP < 2 { 1 } else { CAP / 2 };

    /// An empty magazine.
    pub(crate) const fn new() -> Self {
        Self {
            len: 0,
            seen: 0,
            blocks: [const { MaybeUninit::uninit() }; CAP],
        }
    }

    /// Blocks held now.
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// The pool's flush-request count, if it moved since we last looked (another
    /// context found the shared list dry: see `honour`).
    #[inline(always)]
    fn new_request<P: PoolHandle<Data = T>>(&self, pool: &P) -> Option<usize> {
        let requests = pool.cache_shared().requests();
        if requests == self.seen {
            return None;
        }
        Some(requests)
    }

    /// Notes the flush request numbered `requests` and, if we hold blocks, returns every
    /// block to `pool` (and the depot's) and says so (an empty magazine has nothing to
    /// give, and its own failed refill raised a request too). The magazine is empty
    /// after.
    fn honour<P: PoolHandle<Data = T>>(
        &mut self,
        pool: &P,
        depot: Option<&Depot<T, CAP>>,
        requests: usize,
    ) -> bool {
        self.seen = requests;
        let held = self.len > 0;
        self.flush(pool, depot);
        held
    }

    /// A free block of `pool`: from the magazine, or from a refill; `None` when the
    /// pool has none (the pool counts the failure and raises a flush request).
    ///
    /// Every block this magazine holds came from `pool` (the callers keep one magazine
    /// per pool).
    #[inline(always)]
    pub(crate) fn take<P: PoolHandle<Data = T>>(
        &mut self,
        pool: &P,
        depot: Option<&Depot<T, CAP>>,
    ) -> Option<NonNull<Block<T>>> {
        if CAP == 0 || mem::size_of::<T>() == 0 {
            return pool.take();
        }
        if let Some(requests) = self.new_request(pool) {
            return self.take_on_request(pool, depot, requests);
        }
        if self.len == 0 {
            return self.refill(pool, depot);
        }
        pool.cache_shared().cached_sub(1);
        self.len -= 1;
        // SAFETY: `blocks[..len]` are initialised (the invariant every method keeps,
        // and `len <= CAP`), and `len` was above the index.
        Some(unsafe { self.blocks.get_unchecked(self.len).assume_init() })
    }

    /// `take` when a flush request came: honour it, then take just this one block from
    /// the pool, so that the flushed blocks stay where the others can find them (a refill
    /// would take half of them back); a refill if we held nothing. Out of line, as every
    /// rare path of `take` and `release`: the fast paths stay small enough to be inlined
    /// into the caller's loop.
    #[cold]
    #[inline(never)]
    fn take_on_request<P: PoolHandle<Data = T>>(
        &mut self,
        pool: &P,
        depot: Option<&Depot<T, CAP>>,
        requests: usize,
    ) -> Option<NonNull<Block<T>>> {
        if self.honour(pool, depot, requests) {
            return pool.take();
        }
        self.refill(pool, depot)
    }

    /// `take` from an empty magazine: one batch from the depot or the pool, whose top
    /// block goes to the caller.
    #[inline(never)]
    fn refill<P: PoolHandle<Data = T>>(
        &mut self,
        pool: &P,
        depot: Option<&Depot<T, CAP>>,
    ) -> Option<NonNull<Block<T>>> {
        let from_depot = depot.map_or(0, |depot| depot.take(&mut self.blocks[..Self::BATCH]));
        let taken = if from_depot > 0 {
            // Counted as cached while in the depot; the caller's block leaves the caches.
            pool.cache_shared().cached_sub(1);
            from_depot
        } else {
            let taken = pool.take_batch(&mut self.blocks[..Self::BATCH]);
            if taken == 0 {
                return None;
            }
            pool.cache_shared().cached_add(taken - 1);
            taken
        };
        self.len = taken - 1;
        // SAFETY: `take` or `take_batch` wrote `blocks[..taken]`.
        Some(unsafe { self.blocks[self.len].assume_init() })
    }

    /// Keeps `block` (or hands blocks back to the pool to make room).
    ///
    /// # Safety
    /// `block` came from `take` of `pool` (directly or through a cache of it), nobody
    /// uses it any more, and every block this magazine holds is `pool`'s.
    #[inline(always)]
    pub(crate) unsafe fn release<P: PoolHandle<Data = T>>(
        &mut self,
        pool: &P,
        depot: Option<&Depot<T, CAP>>,
        block: NonNull<Block<T>>,
    ) {
        if CAP == 0 || mem::size_of::<T>() == 0 {
            // SAFETY: the caller's promise.
            unsafe { pool.release(block) };
            return;
        }
        if let Some(requests) = self.new_request(pool) {
            // SAFETY: the caller's promise.
            unsafe { self.release_on_request(pool, depot, requests, block) };
            return;
        }
        if self.len >= CAP {
            self.overflow(pool, depot);
        }
        // SAFETY: `len < CAP` now (`overflow` left `CAP - BATCH`, `BATCH >= 1`).
        unsafe { self.push(pool, block) };
    }

    /// Keeps `block` in a magazine that has room for it.
    ///
    /// # Safety
    /// `len < CAP`.
    #[inline(always)]
    unsafe fn push<P: PoolHandle<Data = T>>(&mut self, pool: &P, block: NonNull<Block<T>>) {
        debug_assert!(self.len < CAP);
        // SAFETY: `len < CAP`, the caller's promise.
        unsafe { self.blocks.get_unchecked_mut(self.len) }.write(block);
        self.len += 1;
        pool.cache_shared().cached_add(1);
    }

    /// `release` when a flush request came: honour it, then give `block` to the pool
    /// too; keep it if we held nothing (as an ordinary `release` would).
    ///
    /// # Safety
    /// As for `release`.
    #[cold]
    #[inline(never)]
    unsafe fn release_on_request<P: PoolHandle<Data = T>>(
        &mut self,
        pool: &P,
        depot: Option<&Depot<T, CAP>>,
        requests: usize,
        block: NonNull<Block<T>>,
    ) {
        if self.honour(pool, depot, requests) {
            // SAFETY: the caller's promise.
            unsafe { pool.release(block) };
            return;
        }
        // SAFETY: `honour` left the magazine empty, and `CAP > 0` (`release` serves
        // `CAP == 0` without the magazine).
        unsafe { self.push(pool, block) };
    }

    /// Returns every block held, and every batch in `depot`, to `pool`: one exchange
    /// per batch.
    pub(crate) fn flush<P: PoolHandle<Data = T>>(
        &mut self,
        pool: &P,
        depot: Option<&Depot<T, CAP>>,
    ) {
        self.give_back(pool, 0);
        let Some(depot) = depot else { return };
        // The magazine is empty now: its array holds each batch on its way. At most one
        // pass over the slots, so that contexts that keep putting cannot keep us here.
        for _ in 0..super::depot::SLOTS {
            let taken = depot.take(&mut self.blocks);
            if taken == 0 {
                break;
            }
            // Counted as cached while in the depot, as in the magazine: `give_back`
            // uncounts them.
            self.len = taken;
            self.give_back(pool, 0);
        }
    }

    /// Makes room in a full magazine: its top `BATCH` blocks go to the depot as one
    /// batch, or, when there is no depot or no empty slot, back to the pool.
    #[inline(never)]
    fn overflow<P: PoolHandle<Data = T>>(&mut self, pool: &P, depot: Option<&Depot<T, CAP>>) {
        let keep = CAP - Self::BATCH;
        if let Some(depot) = depot {
            // SAFETY: `blocks[keep..len]` were initialised (below `len`), and
            // `MaybeUninit<X>` has `X`'s layout.
            let batch = unsafe {
                core::slice::from_raw_parts(
                    self.blocks.as_ptr().add(keep).cast::<NonNull<Block<T>>>(),
                    self.len - keep,
                )
            };
            // SAFETY: the magazine's blocks are distinct free blocks of `pool`, which
            // only it holds, and the depot holds only `pool`'s blocks (the caller keeps
            // one depot per pool); if the put succeeds they leave the magazine now.
            if unsafe { depot.put(batch) } {
                // Still counted as cached: the depot's blocks are.
                self.len = keep;
                return;
            }
        }
        self.give_back(pool, keep);
    }

    /// Returns `blocks[keep..len]` to `pool` as one chain.
    #[inline(never)]
    fn give_back<P: PoolHandle<Data = T>>(&mut self, pool: &P, keep: usize) {
        if self.len <= keep {
            return;
        }
        let count = self.len - keep;
        // Before the release: if a waker that the release wakes panics, the blocks
        // are already out of the magazine and cannot be handed back twice.
        self.len = keep;
        // Counted before the push, as `stats.rs` argues for `in_use`: a snapshot never
        // shows more blocks cached than caches hold.
        pool.cache_shared().cached_sub(count);
        // SAFETY: `blocks[keep..keep + count]` were initialised (below the old `len`),
        // and `MaybeUninit<X>` has `X`'s layout.
        let returned = unsafe {
            core::slice::from_raw_parts(
                self.blocks.as_ptr().add(keep).cast::<NonNull<Block<T>>>(),
                count,
            )
        };
        // SAFETY: the magazine's blocks are distinct free blocks of `pool`, which only
        // it holds (they came from `take_batch` of this pool or from owners who
        // released them here), and they leave it now.
        unsafe { pool.release_batch(returned) };
    }
}
