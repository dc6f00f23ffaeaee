//! [`Pool`]: an instance pool that grows from memory you give it.

use core::marker::PhantomData;
use core::mem::{self, MaybeUninit};
use core::ptr::NonNull;

use crate::boxed::{Box, Init, PoolHandle, Uninit};
use crate::cache::{LocalCache, Shared};
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
    pub(super) stats: Counters,
    /// Futures waiting for a block (empty without the `async` feature).
    waiters: Waiters,
    /// The caches' flush requests and count (`crate::cache`).
    pub(super) cache: Shared,
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
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Pool, BACKEND};
    ///
    /// let limit = Pool::<u8>::MAX_BLOCKS;
    /// if BACKEND == "tagged_index" {
    ///     assert_eq!(limit, (1 << 24) - 1);
    /// } else {
    ///     assert_eq!(limit, usize::MAX);
    /// }
    /// ```
    pub const MAX_BLOCKS: usize = free_list::MAX_BLOCKS;

    const_fn_unless_loom! {
        /// An empty pool; `const`, so it can be a `static`. It hands out nothing until
        /// it is given memory.
        ///
        /// # Examples
        /// ```
        /// use blockpool::Pool;
        ///
        /// static POOL: Pool<u32> = Pool::new();
        /// assert!(POOL.alloc().is_none()); // no memory yet
        /// ```
        pub fn new() -> Self {
            Self {
                list: FreeList::new(),
                stats: Counters::new(),
                waiters: Waiters::new(),
                cache: Shared::new(),
                _blocks_of: PhantomData,
            }
        }
    }

    /// Takes a free block; `None` when the pool is exhausted.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Block, Pool};
    ///
    /// static POOL: Pool<u32> = Pool::new();
    /// static mut BLOCKS: [Block<u32>; 2] = [const { Block::new() }; 2];
    /// // SAFETY: this is the only reference ever made to `BLOCKS`.
    /// assert_eq!(POOL.grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) }), 2);
    ///
    /// let block = POOL.alloc().unwrap(); // `Box<&Pool<u32>, Uninit>`
    /// let value = block.init(3);
    /// let _second = POOL.alloc().unwrap();
    /// assert!(POOL.alloc().is_none()); // exhausted
    /// drop(value); // back to the pool
    /// assert!(POOL.alloc().is_some());
    /// ```
    pub fn alloc(&self) -> Option<Box<&Self, Uninit>> {
        Box::alloc_in(self)
    }

    /// Takes a free block and moves `value` into it; gives `value` back when the pool
    /// is exhausted.
    ///
    /// # Errors
    /// `Err(value)` when the pool is exhausted: the value is not dropped.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Block, Pool};
    ///
    /// static POOL: Pool<u32> = Pool::new();
    /// static mut BLOCKS: [Block<u32>; 2] = [const { Block::new() }; 2];
    /// // SAFETY: this is the only reference ever made to `BLOCKS`.
    /// assert_eq!(POOL.grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) }), 2);
    ///
    /// let a = POOL.alloc_value(1).unwrap();
    /// let b = POOL.alloc_value(2).unwrap();
    /// assert_eq!(POOL.alloc_value(3), Err(3)); // exhausted: the value comes back
    /// assert_eq!(*a + *b, 3);
    /// ```
    pub fn alloc_value(&self, value: T) -> Result<Box<&Self, Init>, T> {
        Box::alloc_value_in(self, value)
    }

    async_methods! {
        /// Waits for a free block (feature `async`): a future that completes as soon as one
        /// is free, woken by whichever context frees one. See [`AllocFuture`](crate::AllocFuture)
        /// for the order in which waiters are served (first come, first served) and for
        /// cancellation.
        ///
        /// # Examples
        /// One poll by hand (an executor would poll again when the free wakes it):
        /// ```
        /// use core::future::Future;
        /// use core::pin::pin;
        /// use core::task::{Context, Poll, Waker};
        /// use blockpool::{Block, Pool};
        ///
        /// static POOL: Pool<u32> = Pool::new();
        /// static mut BLOCKS: [Block<u32>; 1] = [const { Block::new() }; 1];
        /// // SAFETY: this is the only reference ever made to `BLOCKS`.
        /// assert_eq!(POOL.grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) }), 1);
        ///
        /// let held = POOL.alloc_value(1).unwrap();
        /// let mut future = pin!(POOL.alloc_async());
        /// let mut cx = Context::from_waker(Waker::noop());
        /// assert!(future.as_mut().poll(&mut cx).is_pending()); // exhausted: it waits
        /// drop(held); // wakes the future's waker
        /// let Poll::Ready(block) = future.poll(&mut cx) else { panic!("a block is free") };
        /// assert_eq!(*block.init(2), 2);
        /// ```
        fn alloc_async;

        /// Waits for a free block and moves `value` into it (feature `async`): the
        /// [`alloc_async`](Self::alloc_async) wait, then [`Box::init`](crate::Box::init).
        /// Dropping the future drops `value`.
        ///
        /// # Examples
        /// ```
        /// use blockpool::{Block, Pool};
        ///
        /// static POOL: Pool<u32> = Pool::new();
        /// static mut BLOCKS: [Block<u32>; 1] = [const { Block::new() }; 1];
        /// // SAFETY: this is the only reference ever made to `BLOCKS`.
        /// assert_eq!(POOL.grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) }), 1);
        ///
        /// let held = POOL.alloc_value(1).unwrap();
        /// let freer = std::thread::spawn(move || drop(held));
        /// let block = futures_executor::block_on(POOL.alloc_value_async(2)); // waits
        /// assert_eq!(*block, 2);
        /// freer.join().unwrap();
        /// ```
        fn alloc_value_async;
    }

    /// The futures waiting for a block of this pool (for the `PoolHandle` of `pool!`
    /// singletons). Not part of the API, and harmless: a `Waiters` offers nothing
    /// outside this crate.
    #[doc(hidden)]
    pub fn __waiters(&self) -> &Waiters {
        &self.waiters
    }

    /// The pool's side of its caches (for the `PoolHandle` of `pool!` singletons). Not
    /// part of the API, and harmless: a `Shared` offers nothing outside this crate.
    #[doc(hidden)]
    pub fn __cache_shared(&self) -> &Shared {
        &self.cache
    }

    /// A cache of up to `CAP` of this pool's blocks for one context; see
    /// [`LocalCache`](crate::LocalCache) and the stranding rule in its module docs.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Block, LocalCache, Pool};
    ///
    /// static POOL: Pool<u64> = Pool::new();
    /// static mut BLOCKS: [Block<u64>; 16] = [const { Block::new() }; 16];
    /// // SAFETY: this is the only reference ever made to `BLOCKS`.
    /// POOL.grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) });
    ///
    /// let mut cache: LocalCache<_, 8> = POOL.local_cache();
    /// let word = cache.alloc_value(5).unwrap();
    /// assert_eq!(cache.len(), 3);
    /// cache.free(word);
    /// ```
    pub const fn local_cache<const CAP: usize>(&self) -> LocalCache<&Self, CAP> {
        LocalCache::new(self)
    }

    /// Returns a box's block to the pool it came from, dropping its value if it holds
    /// one. The same as dropping the box; kept for heapless 0.7's users.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Block, Pool};
    ///
    /// static POOL: Pool<u32> = Pool::new();
    /// static mut BLOCKS: [Block<u32>; 2] = [const { Block::new() }; 2];
    /// // SAFETY: this is the only reference ever made to `BLOCKS`.
    /// assert_eq!(POOL.grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) }), 2);
    ///
    /// let a = POOL.alloc().unwrap(); // `Uninit`: nothing to drop
    /// let b = POOL.alloc_value(7).unwrap(); // `Init`: its value is dropped
    /// POOL.free(a);
    /// drop(b); // the same thing
    /// assert_eq!((POOL.alloc().is_some(), POOL.alloc().is_some()), (true, true));
    /// ```
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
    ///
    /// # Examples
    /// ```
    /// use core::mem::size_of;
    /// use blockpool::{Block, Pool};
    ///
    /// static POOL: Pool<[u8; 100]> = Pool::new();
    /// static mut MEMORY: [u8; 4096] = [0; 4096];
    ///
    /// // SAFETY: this is the only reference ever made to `MEMORY`.
    /// let added = POOL.grow(unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) });
    /// // As many blocks as fit once the start is aligned (at most one lost to that):
    /// let fit = 4096 / size_of::<Block<[u8; 100]>>();
    /// assert!(added == fit || added == fit - 1);
    /// let blocks: Vec<_> = std::iter::from_fn(|| POOL.alloc()).collect();
    /// assert_eq!(blocks.len(), added);
    /// ```
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
        // SAFETY: `count` blocks fit in `memory` after `padding`, `STRIDE` apart, which we
        // own for `'static` and nobody else can reach; their headers are written first.
        unsafe { self.add_run(first, count, true) }
    }

    /// Adds the given blocks to the pool and returns how many it added (all of them, up
    /// to [`MAX_BLOCKS`](Self::MAX_BLOCKS); `usize::MAX` for a zero-sized `T`).
    ///
    /// # Examples
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
        // SAFETY: the blocks are ours for `'static`, and `Block::new` initialised their
        // headers.
        unsafe { self.add_blocks(memory, false) }
    }

    /// Adds the blocks of `memory`, which need not be `'static` (for
    /// [`ScopedPool`](crate::ScopedPool)), rewriting their headers first if `rewrite`
    /// (blocks that may have been used before). Returns how many it added, like
    /// [`grow_exact`](Self::grow_exact).
    ///
    /// # Safety
    /// `memory` stays valid and used by nobody but this pool (and the boxes it hands
    /// out) until the pool is dropped; its headers are as `Block::new` left them unless
    /// `rewrite`.
    pub(crate) unsafe fn add_blocks(&self, memory: &mut [Block<T>], rewrite: bool) -> usize {
        if mem::size_of::<T>() == 0 {
            return usize::MAX;
        }
        let count = memory.len();
        let Some(first) = NonNull::new(memory.as_mut_ptr()) else {
            return 0;
        };
        // SAFETY: the `count` blocks of the slice, adjacent, `STRIDE` apart; the caller's
        // promise for the rest.
        unsafe { self.add_run(first, count, rewrite) }
    }

    /// Adds the `count` blocks from `first` on, `STRIDE` apart, to the free list and the
    /// counted capacity, after writing their headers if `rewrite`; returns how many the
    /// list took. `grow`, `grow_exact` and `add_blocks` end here.
    ///
    /// # Safety
    /// The blocks stay valid and used by nobody but this pool (and the boxes it hands
    /// out) until the pool is dropped; their headers are initialised unless `rewrite`.
    unsafe fn add_run(&self, first: NonNull<Block<T>>, count: usize, rewrite: bool) -> usize {
        if rewrite {
            for i in 0..count {
                // SAFETY: block `i < count` of those the caller gives us.
                unsafe { Block::init_link(first.add(i)) };
            }
        }
        // SAFETY: initialised, adjacent, `STRIDE` apart; the caller keeps them valid and
        // ours for as long as this list (part of the pool) can touch them, which is all
        // that `add_run`'s `'static` stands for.
        let added = unsafe {
            self.list
                .add_run(Block::link(first), count, Block::<T>::STRIDE)
        };
        self.stats.add_capacity(added);
        added
    }

    stats_methods! {
        |this| this, None;

        /// A snapshot of the pool's statistics (feature `stats`); see [`Stats`](crate::Stats).
        /// The capacity is what [`grow`](Self::grow) and [`grow_exact`](Self::grow_exact)
        /// have added so far.
        ///
        /// # Examples
        /// ```
        /// use blockpool::{Block, Pool};
        ///
        /// static POOL: Pool<u32> = Pool::new();
        /// static mut BLOCKS: [Block<u32>; 2] = [const { Block::new() }; 2];
        /// // SAFETY: this is the only reference ever made to `BLOCKS`.
        /// assert_eq!(POOL.grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) }), 2);
        ///
        /// let a = POOL.alloc_value(1).unwrap();
        /// let stats = POOL.stats();
        /// assert_eq!((stats.capacity, stats.in_use, stats.high_water), (2, 1, 1));
        /// # drop(a);
        /// ```
        fn stats;

        /// Sets the high-water mark to the number of blocks in use now (feature `stats`).
        ///
        /// # Examples
        /// ```
        /// use blockpool::{Block, Pool};
        ///
        /// static POOL: Pool<u32> = Pool::new();
        /// static mut BLOCKS: [Block<u32>; 2] = [const { Block::new() }; 2];
        /// // SAFETY: this is the only reference ever made to `BLOCKS`.
        /// assert_eq!(POOL.grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) }), 2);
        ///
        /// let a = POOL.alloc_value(1).unwrap();
        /// drop(POOL.alloc_value(2).unwrap());
        /// assert_eq!(POOL.stats().high_water, 2);
        /// POOL.reset_high_water();
        /// assert_eq!(POOL.stats().high_water, 1); // `a` is still in use
        /// # drop(a);
        /// ```
        fn reset_high_water;
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
        let block = self.take_waiting();
        if block.is_none() {
            self.stats.on_failure();
        }
        block
    }

    fn take_waiting(&self) -> Option<NonNull<Block<T>>> {
        match self.list.pop_strided(Block::<T>::STRIDE) {
            Some(link) => {
                self.stats.on_take();
                Some(Block::from_link(link))
            }
            None => {
                self.cache.request_flush();
                None
            }
        }
    }

    fn cache_shared(&self) -> &Shared {
        &self.cache
    }

    fn take_batch(&self, out: &mut [MaybeUninit<NonNull<Block<T>>>]) -> usize {
        let taken = self
            .list
            .pop_batch(Block::<T>::STRIDE, super::as_links(out));
        if taken == 0 {
            self.stats.on_failure();
            self.cache.request_flush();
        } else {
            self.stats.on_take_n(taken);
        }
        taken
    }

    unsafe fn release_batch(&self, blocks: &[NonNull<Block<T>>]) {
        // SAFETY: the blocks came from our `take`/`take_batch` and are unused (the
        // caller's promise).
        unsafe { super::release_blocks(&self.list, &self.stats, &self.waiters, blocks) };
    }

    unsafe fn release(&self, block: NonNull<Block<T>>) {
        // SAFETY: the block came from our `take` and is unused (the caller's promise).
        unsafe { super::release_block(&self.list, &self.stats, &self.waiters, block) };
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
