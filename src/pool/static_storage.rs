//! [`StaticPool`]: a pool together with its storage, in one `static`, without `unsafe`.

use core::mem::{self, MaybeUninit};
use core::ptr::NonNull;

use crate::boxed::{Box, Init, PoolHandle, Uninit};
use crate::cache::{LocalCache, Shared};
use crate::free_list::{self, FreeList};
use crate::stats::Counters;
use crate::sync::{self, const_fn_unless_loom, AtomicUsize};
use crate::wait::Waiters;
use crate::Block;

/// A pool of `N` blocks for `T` that carries its own storage, so the common case needs
/// neither `static mut` nor `unsafe`:
///
/// ```
/// use blockpool::StaticPool;
///
/// static PACKETS: StaticPool<[u8; 64], 4> = StaticPool::new();
///
/// let a = PACKETS.alloc_value([1; 64]).unwrap();
/// let b = PACKETS.alloc_value([2; 64]).unwrap();
/// assert_eq!(a[0] + b[0], 3);
/// assert_eq!(PACKETS.capacity(), 4);
/// ```
///
/// Handing out blocks borrows the pool for `'static`, so it lives in a `static` (or is
/// leaked). The free list remembers its blocks by their addresses inside the pool, so a
/// pool that moved after use would hand out memory where it used to be; the `'static`
/// borrow makes that a compile error. For a pool over memory that is not `'static`, see
/// [`ScopedPool`](crate::ScopedPool).
///
/// ```compile_fail,E0597
/// use blockpool::StaticPool;
///
/// let pool = StaticPool::<u64, 1>::new();
/// drop(pool.alloc_value(1)); // error: `pool` would have to live for `'static`
/// let moved = pool; // ... because moving it here would break its free list
/// ```
///
/// Blocks that have never been handed out are taken in order from the storage (an
/// atomic counter, no initialisation pass), so the pool is ready at compile time and
/// even the first allocation from an interrupt handler needs no set-up.
///
/// The whole pool, blocks included, starts as zero bytes on every target, so a `static`
/// one lands in `.bss`: it costs no flash and no copy at reset, whatever `N`
/// (`scripts/firmware.sh` checks it on Cortex-M and on the host).
// `repr(C)` with the free list first: its head is at the pool's own address, so the
// fast paths need no offset added to it (one instruction each on ARM).
#[repr(C)]
pub struct StaticPool<T, const N: usize> {
    list: FreeList,
    /// How many blocks of `storage` have ever been handed out.
    fresh: AtomicUsize,
    /// Statistics (zero-sized without the `stats` feature).
    pub(super) stats: Counters,
    /// Futures waiting for a block (empty without the `async` feature).
    waiters: Waiters,
    /// The caches' flush requests and count (`crate::cache`).
    pub(super) cache: Shared,
    storage: [Block<T>; N],
}

// SAFETY: as for `Pool`: the pool never holds a live `T` of its own; a block's payload is
// reached only through the one `Box` that owns it, and all shared state is atomic.
unsafe impl<T, const N: usize> Sync for StaticPool<T, N> {}
// SAFETY: moving the pool needs that nothing borrows it. Every method that hands out a
// block borrows the pool for `'static` (so a pool that ever handed one out never moves
// again); a pool that can move has therefore never handed one out: its blocks are all
// fresh, uninitialised memory and its free list is empty, so no `T` and no address moves
// with it.
unsafe impl<T, const N: usize> Send for StaticPool<T, N> {}

impl<T, const N: usize> StaticPool<T, N> {
    const_fn_unless_loom! {
        /// A pool with `N` free blocks. More blocks than the target's backend can name
        /// ([`Pool::MAX_BLOCKS`](crate::Pool::MAX_BLOCKS)) are a compile-time error.
        ///
        /// # Examples
        /// ```
        /// use blockpool::StaticPool;
        ///
        /// // `const`: the pool and its blocks are all zeros, in `.bss`.
        /// static POOL: StaticPool<[u8; 256], 16> = StaticPool::new();
        /// assert_eq!(POOL.capacity(), 16);
        /// ```
        // The bound is `usize::MAX` on the pointer backends.
        #[allow(clippy::absurd_extreme_comparisons)]
        pub fn new() -> Self {
            const {
                assert!(
                    N <= free_list::MAX_BLOCKS,
                    "StaticPool: more blocks than this target's free list can hold (Pool::MAX_BLOCKS)"
                )
            };
            Self {
                list: FreeList::new(),
                fresh: AtomicUsize::new(0),
                stats: Counters::new(),
                waiters: Waiters::new(),
                cache: Shared::new(),
                #[cfg(not(blockpool_loom))]
                storage: [const { Block::new() }; N],
                // loom's atomics have no `const fn new`.
                #[cfg(blockpool_loom)]
                storage: core::array::from_fn(|_| Block::new()),
            }
        }
    }

    /// Takes a free block; `None` when all `N` are in use.
    ///
    /// # Examples
    /// ```
    /// use blockpool::StaticPool;
    ///
    /// static POOL: StaticPool<u32, 1> = StaticPool::new();
    ///
    /// let block = POOL.alloc().unwrap(); // `Box<&StaticPool<u32, 1>, Uninit>`
    /// assert!(POOL.alloc().is_none()); // all in use
    /// let value = block.init(3);
    /// drop(value); // back to the pool
    /// assert!(POOL.alloc().is_some());
    /// ```
    pub fn alloc(&'static self) -> Option<Box<&'static Self, Uninit>> {
        Box::alloc_in(self)
    }

    /// Takes a free block and moves `value` into it; gives `value` back when all `N` are
    /// in use.
    ///
    /// # Errors
    /// `Err(value)` when all `N` blocks are in use: the value is not dropped.
    ///
    /// # Examples
    /// ```
    /// use blockpool::StaticPool;
    ///
    /// static POOL: StaticPool<u32, 2> = StaticPool::new();
    ///
    /// let a = POOL.alloc_value(1).unwrap();
    /// let b = POOL.alloc_value(2).unwrap();
    /// assert_eq!(POOL.alloc_value(3), Err(3)); // all in use: the value comes back
    /// assert_eq!(*a + *b, 3);
    /// ```
    pub fn alloc_value(&'static self, value: T) -> Result<Box<&'static Self, Init>, T> {
        Box::alloc_value_in(self, value)
    }

    /// Waits for a free block (feature `async`): a future that completes as soon as one
    /// is free, woken by whichever context frees one. See [`AllocFuture`](crate::AllocFuture)
    /// for the order in which waiters are served (first come, first served) and for
    /// cancellation.
    ///
    /// # Examples
    /// With a minimal executor (a thread that parks until the future's waker unparks
    /// it; any executor will do, e.g. `futures_executor::block_on`):
    /// ```
    /// use core::future::Future;
    /// use core::pin::pin;
    /// use core::task::{Context, Poll, Waker};
    /// use std::sync::Arc;
    /// use std::task::Wake;
    /// use std::thread::{self, Thread};
    /// use blockpool::StaticPool;
    ///
    /// fn block_on<F: Future>(future: F) -> F::Output {
    ///     struct Unpark(Thread);
    ///     impl Wake for Unpark {
    ///         fn wake(self: Arc<Self>) {
    ///             self.0.unpark();
    ///         }
    ///     }
    ///     let waker = Waker::from(Arc::new(Unpark(thread::current())));
    ///     let mut cx = Context::from_waker(&waker);
    ///     let mut future = pin!(future);
    ///     loop {
    ///         match future.as_mut().poll(&mut cx) {
    ///             Poll::Ready(output) => return output,
    ///             Poll::Pending => thread::park(),
    ///         }
    ///     }
    /// }
    ///
    /// static POOL: StaticPool<[u8; 64], 1> = StaticPool::new();
    ///
    /// let held = POOL.alloc_value([1; 64]).unwrap();
    /// let freer = thread::spawn(move || drop(held)); // frees the only block
    /// let block = block_on(POOL.alloc_async()); // waits for that free
    /// assert_eq!(block.init([2; 64])[63], 2);
    /// freer.join().unwrap();
    /// ```
    #[cfg(feature = "async")]
    pub fn alloc_async(&'static self) -> crate::AllocFuture<&'static Self> {
        crate::AllocFuture::__new(self)
    }

    /// Waits for a free block and moves `value` into it (feature `async`): the
    /// [`alloc_async`](Self::alloc_async) wait, then [`Box::init`]. Dropping the future
    /// drops `value`.
    ///
    /// # Examples
    /// ```
    /// use blockpool::StaticPool;
    ///
    /// static POOL: StaticPool<u32, 1> = StaticPool::new();
    /// let held = POOL.alloc_value(1).unwrap();
    /// let freer = std::thread::spawn(move || drop(held));
    /// let block = futures_executor::block_on(POOL.alloc_value_async(2)); // waits
    /// assert_eq!(*block, 2);
    /// freer.join().unwrap();
    /// ```
    #[cfg(feature = "async")]
    pub fn alloc_value_async(
        &'static self,
        value: T,
    ) -> impl core::future::Future<Output = Box<&'static Self, Init>> {
        let block = self.alloc_async();
        async move { block.await.init(value) }
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

    /// Takes a free block, and says whether it is one that has never been handed out
    /// before (for [`ObjectPool`](crate::ObjectPool), which fills those first).
    pub(crate) fn take_block(&'static self) -> Option<(NonNull<Block<T>>, bool)> {
        match self.pop_free() {
            Some(block) => Some((block, false)),
            None => self.take_fresh(true).map(|block| (block, true)),
        }
    }

    /// Takes a block from the free list (the fast path).
    #[inline]
    fn pop_free(&self) -> Option<NonNull<Block<T>>> {
        let link = self.list.pop_strided(Block::<T>::STRIDE)?;
        self.stats.on_take();
        Some(Block::from_link(link))
    }

    /// Claims a never-used block (the free list is empty), counting a failure if there is
    /// none and `count_failure` (not for a waiting future). Out of line, so that the fast
    /// path keeps the pool's address where the pop left it and needs no stack frame (on
    /// ARM the compiler otherwise rebuilt the address for the two-word box after the
    /// paths merged: 2 instructions, and 3 for the frame).
    #[cold]
    #[inline(never)]
    fn take_fresh(&'static self, count_failure: bool) -> Option<NonNull<Block<T>>> {
        let Some(i) = sync::increment_below(&self.fresh, N) else {
            self.exhausted(count_failure);
            return None;
        };
        self.stats.on_take();
        Some(self.adopt_fresh(i))
    }

    /// The pool has no free block: counts the failure (unless a waiting future found
    /// it) and asks the caches to return theirs.
    #[cold]
    fn exhausted(&self, count_failure: bool) {
        if count_failure {
            self.stats.on_failure();
        }
        self.cache.request_flush();
    }

    /// Block `i` of the storage, claimed from `fresh` by the caller alone.
    fn adopt_fresh(&'static self, i: usize) -> NonNull<Block<T>> {
        let storage = NonNull::from(&self.storage).cast::<Block<T>>();
        // SAFETY: `i < N` was claimed by the caller alone; `storage` is this pool's own
        // array, which `MAX_BLOCKS` bounds (checked in `new`), and `add_run` is never
        // called on this list.
        let link = unsafe { self.list.adopt(Block::link(storage), i, Block::<T>::STRIDE) };
        Block::from_link(link)
    }

    /// A cache of up to `CAP` of this pool's blocks for one context; see
    /// [`LocalCache`](crate::LocalCache) and the stranding rule in its module docs.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{LocalCache, StaticPool};
    ///
    /// static POOL: StaticPool<[u8; 32], 32> = StaticPool::new();
    ///
    /// let mut cache: LocalCache<_, 8> = POOL.local_cache();
    /// let block = cache.alloc().unwrap().init([1; 32]);
    /// cache.free(block);
    /// assert_eq!(cache.len(), 4); // one refill of 4, the block came back
    /// ```
    pub const fn local_cache<const CAP: usize>(&'static self) -> LocalCache<&'static Self, CAP> {
        LocalCache::new(self)
    }

    stats_methods! {
        |this| this, Some(this.capacity());

        /// A snapshot of the pool's statistics (feature `stats`); see [`Stats`](crate::Stats).
        ///
        /// # Examples
        /// ```
        /// use blockpool::StaticPool;
        ///
        /// static POOL: StaticPool<u32, 4> = StaticPool::new();
        ///
        /// let a = POOL.alloc_value(1).unwrap();
        /// let stats = POOL.stats();
        /// assert_eq!((stats.capacity, stats.in_use, stats.high_water), (4, 1, 1));
        /// # drop(a);
        /// ```
        fn stats;

        /// Sets the high-water mark to the number of blocks in use now (feature `stats`).
        ///
        /// # Examples
        /// ```
        /// use blockpool::StaticPool;
        ///
        /// static POOL: StaticPool<u32, 4> = StaticPool::new();
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

    /// How many blocks the pool has: `N` (unlimited for a zero-sized `T`), whether in
    /// use or not.
    ///
    /// # Examples
    /// ```
    /// use blockpool::StaticPool;
    ///
    /// static BYTES: StaticPool<u8, 8> = StaticPool::new();
    /// static UNITS: StaticPool<(), 8> = StaticPool::new();
    /// assert_eq!(BYTES.capacity(), 8);
    /// assert_eq!(UNITS.capacity(), usize::MAX); // zero-sized: needs no blocks
    /// ```
    pub const fn capacity(&self) -> usize {
        if mem::size_of::<T>() == 0 {
            usize::MAX
        } else {
            N
        }
    }
}

impl<T, const N: usize> Default for StaticPool<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `take` pops a free block or claims a never-used one (the counter hands each
// index out once); `release` pushes it on the free list.
unsafe impl<T, const N: usize> PoolHandle for &'static StaticPool<T, N> {
    type Data = T;

    fn take(&self) -> Option<NonNull<Block<T>>> {
        self.pop_free().or_else(|| self.take_fresh(true))
    }

    fn take_waiting(&self) -> Option<NonNull<Block<T>>> {
        self.pop_free().or_else(|| self.take_fresh(false))
    }

    unsafe fn release(&self, block: NonNull<Block<T>>) {
        // SAFETY: the block came from our `take` and is unused (the caller's promise).
        unsafe { super::release_block(&self.list, &self.stats, &self.waiters, block) };
    }

    fn cache_shared(&self) -> &Shared {
        &self.cache
    }

    /// One batch pop of the free list; if it is empty, a run of never-used blocks
    /// claimed with one update of `fresh`.
    fn take_batch(&self, out: &mut [MaybeUninit<NonNull<Block<T>>>]) -> usize {
        let mut taken = self
            .list
            .pop_batch(Block::<T>::STRIDE, super::as_links(out));
        if taken == 0 {
            if let Some(first) = sync::claim_below(&self.fresh, out.len(), N) {
                for (slot, i) in out.iter_mut().zip(first.clone()) {
                    slot.write(self.adopt_fresh(i));
                }
                taken = first.len();
            }
        }
        if taken == 0 {
            self.exhausted(true);
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

    fn waiters(&self) -> &Waiters {
        self.__waiters()
    }

    unsafe fn owns(&self, block: NonNull<Block<T>>) -> bool {
        // Address arithmetic only: one of ours is inside `storage` at a multiple of the
        // block size from its start.
        let start = self.storage.as_ptr() as usize;
        let offset = (block.as_ptr() as usize).wrapping_sub(start);
        offset < N * Block::<T>::STRIDE && offset % Block::<T>::STRIDE == 0
    }
}
