//! [`Pool`]: an instance pool that grows from memory you give it.

use core::marker::PhantomData;
use core::mem;
use core::ptr::NonNull;

use crate::boxed::{Box, Init, PoolHandle, Uninit};
use crate::free_list::{self, FreeList};
use crate::stats::Counters;
use crate::sync::const_fn_unless_loom;
use crate::wait::Waiters;
use crate::Block;

/// A pool of blocks for `T`, empty until it is given memory with [`grow`](Self::grow)
/// or [`grow_exact`](Self::grow_exact).
///
/// ```
/// use blockpool::Pool;
///
/// static POOL: Pool<[u8; 128]> = Pool::new();
///
/// static mut MEMORY: [u8; 1024] = [0; 1024];
/// // SAFETY: this is the only reference ever made to `MEMORY`.
/// let added = POOL.grow(unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) });
/// assert_eq!(added, 7); // each block is 128 bytes plus a header (4 to 16 bytes)
///
/// let buffer = POOL.alloc().unwrap().init([0xAA; 128]);
/// assert_eq!(buffer[127], 0xAA);
/// drop(buffer); // the block goes back to the pool
/// ```
pub struct Pool<T> {
    list: FreeList,
    /// Statistics (zero-sized without the `stats` feature).
    stats: Counters,
    /// Futures waiting for a block (empty without the `async` feature).
    waiters: Waiters,
    // `fn() -> T`: the pool is `Send` and `Sync` whatever `T` is. It never holds a live
    // `T`: free blocks are uninitialised memory, and values live only inside boxes,
    // whose own `Send`/`Sync` follow `T`'s. So sharing the pool between threads shares
    // no `T`; it only lets each thread take blocks for its own values.
    _blocks_of: PhantomData<fn() -> T>,
}

impl<T> Pool<T> {
    /// The most blocks one pool can hold on this target: 2^24 - 1 on the 64-bit CAS
    /// backend ([`BACKEND`](crate::BACKEND) `"tagged_index"`), `usize::MAX` (no limit)
    /// on the others; [`grow`](Self::grow) and [`grow_exact`](Self::grow_exact) stop
    /// there.
    ///
    /// The 64-bit CAS backend also limits the number of calls: a pool's blocks are named
    /// through a table of 64 regions of 2^18 blocks each, and every `grow`/`grow_exact`
    /// that adds blocks claims one region per 2^18 blocks it adds (rounded up). So a
    /// pool takes at most 64 such calls (fewer if a call adds more than 2^18 blocks);
    /// once all 64 regions are claimed, a further call takes nothing and returns 0.
    pub const MAX_BLOCKS: usize = free_list::MAX_BLOCKS;

    const_fn_unless_loom! {
        /// An empty pool.
        pub fn new() -> Self {
            Self {
                list: FreeList::new(),
                stats: Counters::new(),
                waiters: Waiters::new(),
                _blocks_of: PhantomData,
            }
        }
    }

    /// Takes a free block; `None` when the pool is exhausted.
    pub fn alloc(&self) -> Option<Box<&Self, Uninit>> {
        Box::alloc_in(self)
    }

    /// Takes a free block and moves `value` into it; gives `value` back when the pool
    /// is exhausted.
    pub fn alloc_value(&self, value: T) -> Result<Box<&Self, Init>, T> {
        Box::alloc_value_in(self, value)
    }

    /// Waits for a free block (feature `async`): a future that completes as soon as one
    /// is free, woken by whichever context frees one. See [`AllocFuture`](crate::AllocFuture)
    /// for fairness and cancellation.
    #[cfg(feature = "async")]
    pub fn alloc_async(&self) -> crate::AllocFuture<&Self> {
        crate::AllocFuture::__new(self)
    }

    /// The futures waiting for a block of this pool (for the `PoolHandle` of `pool!`
    /// singletons). Not part of the API, and harmless: a `Waiters` offers nothing
    /// outside this crate.
    #[doc(hidden)]
    pub fn __waiters(&self) -> &Waiters {
        &self.waiters
    }

    /// Returns a box's block to the pool it came from, dropping its value if it holds
    /// one. The same as dropping the box; kept for heapless 0.7's users.
    pub fn free<S: crate::State>(&self, block: Box<&Self, S>) {
        drop(block);
    }

    /// Carves as many blocks as fit out of `memory`, after aligning its start, and adds
    /// them to the pool. Returns how many it added: 0 if `memory` is too small for one
    /// block, and never more than [`MAX_BLOCKS`](Self::MAX_BLOCKS) in all (what does not
    /// fit is left unused). For a zero-sized `T` the pool needs no memory: it uses none
    /// and returns `usize::MAX`.
    ///
    /// Each block takes `size_of::<Block<T>>()` bytes: the payload plus a small header
    /// (a pointer, or 16 bytes on the 64-bit CAS backend), rounded up to `T`'s
    /// alignment.
    ///
    /// # Limits
    /// On the 64-bit CAS backend a pool holds at most [`MAX_BLOCKS`](Self::MAX_BLOCKS)
    /// (2^24 - 1) blocks and takes at most 64 `grow`/`grow_exact` calls that add blocks
    /// (each claims one of 64 regions per 2^18 blocks it adds): a further call takes
    /// nothing and returns 0, and a call that needs more regions than are left takes
    /// only what they hold. The memory not taken stays unused (its `'static` borrow is
    /// spent all the same), so check the result: hence `#[must_use]`. No limit on the
    /// other backends.
    #[must_use = "grow may take fewer blocks than fit, or none (see # Limits)"]
    pub fn grow(&self, memory: &'static mut [u8]) -> usize {
        if mem::size_of::<T>() == 0 {
            return usize::MAX;
        }
        let len = memory.len();
        let start = memory.as_mut_ptr();
        let padding = start.align_offset(mem::align_of::<Block<T>>());
        if padding > len {
            return 0;
        }
        let count = (len - padding) / Block::<T>::STRIDE;
        if count == 0 {
            return 0;
        }
        // SAFETY: `padding <= len`, so the result is inside (or one past) `memory`, and
        // it is aligned for `Block<T>`.
        let first = unsafe { NonNull::new_unchecked(start.add(padding)) }.cast::<Block<T>>();
        for i in 0..count {
            // SAFETY: `count` blocks fit in `memory` after `padding`, which we own for
            // `'static` and nobody else can reach.
            unsafe { Block::init_link(first.add(i)) };
        }
        // SAFETY: the `count` blocks are initialised, ours for `'static`, `STRIDE` apart.
        let added = unsafe {
            self.list
                .add_run(Block::link(first), count, Block::<T>::STRIDE)
        };
        self.stats.add_capacity(added);
        added
    }

    /// Adds the given blocks to the pool and returns how many it added (all of them, up
    /// to [`MAX_BLOCKS`](Self::MAX_BLOCKS); `usize::MAX` for a zero-sized `T`).
    ///
    /// ```
    /// use blockpool::{Block, Pool};
    ///
    /// static POOL: Pool<u64> = Pool::new();
    /// static mut BLOCKS: [Block<u64>; 4] = [const { Block::new() }; 4];
    ///
    /// // SAFETY: this is the only reference ever made to `BLOCKS`.
    /// let added = POOL.grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) });
    /// assert_eq!(added, 4);
    /// ```
    ///
    /// # Limits
    /// On the 64-bit CAS backend a pool holds at most [`MAX_BLOCKS`](Self::MAX_BLOCKS)
    /// (2^24 - 1) blocks and takes at most 64 `grow`/`grow_exact` calls that add blocks
    /// (each claims one of 64 regions per 2^18 blocks it adds): a further call takes
    /// nothing and returns 0, and a call that needs more regions than are left takes
    /// only what they hold. The memory not taken stays unused (its `'static` borrow is
    /// spent all the same), so check the result: hence `#[must_use]`. No limit on the
    /// other backends.
    #[must_use = "grow_exact may take fewer blocks than given, or none (see # Limits)"]
    pub fn grow_exact(&self, memory: &'static mut [Block<T>]) -> usize {
        if mem::size_of::<T>() == 0 {
            return usize::MAX;
        }
        let count = memory.len();
        let Some(first) = NonNull::new(memory.as_mut_ptr()) else {
            return 0;
        };
        // SAFETY: `Block::new` initialised the blocks; they are ours for `'static` and
        // adjacent, `STRIDE` apart.
        let added = unsafe {
            self.list
                .add_run(Block::link(first), count, Block::<T>::STRIDE)
        };
        self.stats.add_capacity(added);
        added
    }

    /// Adds the blocks of `memory`, which need not be `'static` (for
    /// [`ScopedPool`](crate::ScopedPool)); their headers are rewritten first, so they may
    /// have been used before. Returns how many it added, like
    /// [`grow_exact`](Self::grow_exact).
    ///
    /// # Safety
    /// `memory` stays valid and used by nobody but this pool (and the boxes it hands
    /// out) until the pool is dropped.
    pub(crate) unsafe fn add_blocks(&self, memory: &mut [Block<T>]) -> usize {
        if mem::size_of::<T>() == 0 {
            return usize::MAX;
        }
        let count = memory.len();
        let Some(first) = NonNull::new(memory.as_mut_ptr()) else {
            return 0;
        };
        for i in 0..count {
            // SAFETY: block `i < count` of the slice we borrow exclusively.
            unsafe { Block::init_link(first.add(i)) };
        }
        // SAFETY: initialised just now, adjacent, `STRIDE` apart; the caller keeps them
        // valid and ours for as long as this list (part of the pool) can touch them,
        // which is all that `add_run`'s `'static` stands for.
        let added = unsafe {
            self.list
                .add_run(Block::link(first), count, Block::<T>::STRIDE)
        };
        self.stats.add_capacity(added);
        added
    }

    /// A snapshot of the pool's statistics (feature `stats`); see [`Stats`](crate::Stats).
    #[cfg(feature = "stats")]
    pub fn stats(&self) -> crate::Stats {
        self.stats.snapshot(None)
    }

    /// Sets the high-water mark to the number of blocks in use now (feature `stats`).
    #[cfg(feature = "stats")]
    pub fn reset_high_water(&self) {
        self.stats.reset_high_water();
    }
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `take` pops a block nobody else owns; `release` pushes it back.
unsafe impl<T> PoolHandle for &Pool<T> {
    type Data = T;

    fn take(&self) -> Option<NonNull<Block<T>>> {
        match self.list.pop_strided(Block::<T>::STRIDE) {
            Some(link) => {
                self.stats.on_take();
                Some(Block::from_link(link))
            }
            None => {
                self.stats.on_failure();
                None
            }
        }
    }

    unsafe fn release(&self, block: NonNull<Block<T>>) {
        self.stats.on_release();
        // SAFETY: the block came from our `take` and is unused (the caller's promise).
        unsafe { self.list.push(Block::link(block)) };
        self.waiters.wake_all();
    }

    fn waiters(&self) -> &Waiters {
        self.__waiters()
    }

    unsafe fn owns(&self, block: NonNull<Block<T>>) -> bool {
        // SAFETY: `block` is a block of some pool (the caller's promise), so its header
        // is live.
        unsafe { self.list.owns(Block::link(block), Block::<T>::STRIDE) }
    }
}
