//! The caching layer: per-context caches of free blocks in front of a pool's shared free
//! list, so that alloc and free write no shared cache line while a cache holds blocks
//! (they read one: the pool's flush-request count, written only when an allocation
//! finds the pool empty), and the shared list is touched once per *batch* of blocks
//! (Bonwick's magazines, tcmalloc's thread caches). Without the `stats` feature, that
//! is; with it, each cached alloc and free also counts `cached` (below).
//!
//! ```text
//! cache/
//!   mod.rs          this overview; `Shared` (the pool's side: flush requests, the count
//!                   of cached blocks); `LocalCache`, the no_std handle
//!   magazine.rs     `Magazine`: the stack of block pointers one cache holds, and its
//!                   batch exchanges with the free list (`pop_batch`/`push_batch`)
//!                   and with a depot
//!   depot.rs        `Depot`: a few slots of whole batches in transit between the
//!                   thread-local caches, as arrays (a refill copies, it walks no chain)
//!   thread.rs       feature `std`: thread-local caches behind `pool!(…, thread_cache = N)`
//! ```
//!
//! # Two forms
//! - [`LocalCache`] (every target, no_std): a handle that one context owns, e.g. one per
//!   core on a dual-core MCU, one per RTOS task, one per worker thread. It is `!Sync`,
//!   and its methods take `&mut self`, so two contexts can never use one cache at once.
//! - **Thread-local caches** (feature `std`): `pool!(A: T, blocks = N, thread_cache = C)`
//!   gives every thread its own cache of up to `C` blocks behind `A::alloc()` and the
//!   drop of `Box<A>`, so code written for the pool gets the cache without changes. A box
//!   freed on another thread goes into *that* thread's cache. Only `pool!` singletons get
//!   them: their handle is a type, so each pool has its own `thread_local!` (generated
//!   by the macro), and a box's drop finds it without looking anything up. A
//!   `StaticPool` or `Pool` used through a reference would need a per-thread table
//!   keyed by the pool's address; use a `LocalCache` there. The cache is opt-in per pool,
//!   not switched on by the feature, because it changes what exhaustion means (below),
//!   and a Cargo feature that one crate in a build enables must not change the pools of
//!   another.
//!
//! # Batches: one exchange of the shared list per batch
//! A cache refills with half its capacity in one exchange and, when full, hands half
//! back in one. On the 64-bit CAS backend a batch pop walks the chain under the top
//! block and swings the head past it with one CAS (`FreeList::pop_batch` says why that
//! is ABA-safe), and a batch push links the blocks and installs the chain with one CAS.
//! On the critical-section backend each exchange is one critical section. On the LL/SC
//! backend (Cortex-M3/M4/M7/M33) the push is one `strex`, the pop one `ldrex`/`strex`
//! per block (a walk inside one window is not written yet).
//!
//! # The depot: batches between thread-local caches
//! A chain in the shared list is linked through its blocks, so a refill walks it, one
//! dependent load per block; when the blocks were freed on another core, each load
//! misses and the next one waits for it (one thread allocates, another frees). The
//! thread-local caches of one pool therefore share a *depot*: 4 slots, each holding one
//! batch as an array of block pointers. A cache that overflows puts its batch into an
//! empty slot, and one that runs empty takes a full slot first; only when no slot
//! serves do they use the shared list. A slot is claimed with one compare-and-swap and
//! released with one store, so nobody waits: a thread stopped inside a slot keeps that
//! one slot from the others, and they use the rest or the shared list
//! (`src/cache/depot.rs` argues the orderings; loom checks them). The depot is a
//! `static` of `4 × (C + 2)` words (each slot on its own cache lines), all zeros, one per
//! thread-cached pool. A `LocalCache` has no depot.
//!
//! # Stranding: what a cache costs a bounded pool
//! Blocks in a cache are free but invisible to every other context. A pool can therefore
//! report exhaustion while blocks sit in other caches: **at most `C` blocks per cache
//! (the cache's capacity) are stranded**, so `C × caches` in all (for thread-local caches,
//! `C ×` the threads that used the pool and are still alive, **plus `2 C` in the depot**:
//! 4 batches of `C / 2`). Size `N` with that in mind. Three things bound the harm:
//! - **flush requests**: an allocation that finds the pool empty (cached or not, sync or
//!   async) raises the pool's flush-request count, and every cache, at its next alloc or
//!   free, returns *all* its blocks to the shared list when it sees the count moved (a
//!   thread-local cache empties the depot too). An allocation that cannot use its
//!   thread's cache (a signal handler inside a cache operation) and finds the shared list
//!   empty takes a batch from the depot. The
//!   failed allocation itself still returns `None`; one that retries after the other
//!   contexts have run succeeds. A cache whose owner never runs again keeps its blocks
//!   until it is flushed or dropped (thread exit, for thread-local caches).
//! - **[`flush`](LocalCache::flush)** (and `A::flush_thread_cache()`, which empties the
//!   depot too) return a cache's blocks at once; dropping a `LocalCache` and a thread's
//!   exit do it too.
//! - **`stats().cached`** (feature `stats`) counts the blocks caches and the depot hold;
//!   `in_use` counts them as in use (they are out of the shared list), so blocks with
//!   users are `in_use - cached`. With `stats`, each cached alloc or free updates `cached` (one
//!   read-modify-write on a shared line), so measure speed without it.
//!
//! # Signal and interrupt safety
//! A `LocalCache` is owned by one context and used through `&mut`: a handler cannot
//! reach the one its interrupted context is using (it has its own, or uses the pool).
//! A thread-local cache is reachable from a signal handler on its thread, so every
//! operation on it first marks the cache busy; a handler that finds it busy (its thread
//! was interrupted inside a cache operation) uses the shared list instead, which is
//! itself signal-safe, so it neither waits nor sees a half-updated cache. The busy
//! mark is a plain store (no read-modify-write): a handler runs to completion before its
//! thread resumes, so the thread can never find the cache in a state a handler left
//! half-done. One rule: the first cached operation on each thread registers the
//! thread-exit flush with `std` (it may allocate), so a thread's first use of a
//! thread-cached pool must not be inside a signal handler; the thread's own first
//! alloc or free does it.
//!
//! Never lost, never duplicated: a block is in exactly one of the shared list, one
//! cache, or one box; every test ends by checking that all `N` come back.

// Only the thread-local caches (and the loom model) make a depot.
#[cfg_attr(not(any(feature = "std", blockpool_loom)), allow(dead_code))]
mod depot;
mod magazine;
#[cfg(all(feature = "std", not(blockpool_loom)))]
pub mod thread;

/// `pool!(…, thread_cache = C)` without the `std` feature: a clear error.
#[cfg(not(all(feature = "std", not(blockpool_loom))))]
#[doc(hidden)]
#[macro_export]
macro_rules! __thread_cached_handle {
    ($($input:tt)*) => {
        ::core::compile_error!(
            "pool!(…, thread_cache = C): thread-local caches need blockpool's `std` feature"
        );
    };
}

use core::cell::Cell;
use core::marker::PhantomData;
use core::mem;

use crate::boxed::{Box, Init, PoolHandle, State, Uninit};
use crate::sync::{const_fn_unless_loom, AtomicUsize, Ordering};
pub use depot::Depot;
pub(crate) use magazine::Magazine;

/// A pool's side of its caches: the flush-request count that caches watch, and (feature
/// `stats`) how many blocks the caches hold. All zeros at start (`.bss`). Not part of the
/// API (a hidden method of [`PoolHandle`] returns it; it offers nothing outside the crate).
pub struct Shared {
    requests: AtomicUsize,
    #[cfg(feature = "stats")]
    cached: AtomicUsize,
}

impl Shared {
    const_fn_unless_loom! {
        /// No requests, nothing cached.
        pub(crate) fn new() -> Self {
            Self {
                requests: AtomicUsize::new(0),
                #[cfg(feature = "stats")]
                cached: AtomicUsize::new(0),
            }
        }
    }

    /// Asks every cache of the pool to return its blocks at its next operation (called
    /// when an allocation finds the shared list empty). Relaxed: it publishes nothing;
    /// the blocks come back through the free list's release pushes.
    ///
    /// A load and a store, not a read-modify-write: it sits on the empty path of every
    /// uncached alloc, where an atomic read-modify-write cost the ARM fast path a
    /// stack frame. Caches only compare the count with the one they saw last, so what
    /// matters is that it moves: two requests at once may merge into one (both store the
    /// same value, which still differs from what every cache saw before either), and a
    /// requester that was preempted between its load and its store may put the count
    /// back to a value some cache saw already; that cache then misses this request and
    /// honours the next one. The requester itself never waits for the flush (its
    /// allocation has failed already), so nothing blocks on a missed request.
    #[inline(always)]
    pub(crate) fn request_flush(&self) {
        let requests = self.requests.load(Ordering::Relaxed);
        self.requests
            .store(requests.wrapping_add(1), Ordering::Relaxed);
    }

    /// The flush requests so far (wrapping).
    #[inline(always)]
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// `blocks` more blocks sit in caches.
    #[inline(always)]
    #[allow(unused_variables)]
    pub(crate) fn cached_add(&self, blocks: usize) {
        #[cfg(feature = "stats")]
        crate::counter::fetch_add(&self.cached, blocks, Ordering::Relaxed);
    }

    /// `blocks` fewer blocks sit in caches.
    #[inline(always)]
    #[allow(unused_variables)]
    pub(crate) fn cached_sub(&self, blocks: usize) {
        #[cfg(feature = "stats")]
        crate::counter::fetch_sub(&self.cached, blocks, Ordering::Relaxed);
    }

    /// Blocks held by caches now (exact when the pool is quiet).
    #[cfg(feature = "stats")]
    pub(crate) fn cached(&self) -> usize {
        self.cached.load(Ordering::Relaxed)
    }
}

/// A cache of up to `CAP` free blocks of one pool, owned by one context: its
/// [`alloc`](Self::alloc) and [`free`](Self::free) write no shared memory while it holds
/// blocks (without the `stats` feature), and it exchanges blocks with the pool's shared free list in batches of
/// `CAP / 2`. See "Caches" in the [crate docs](crate) for the stranding rule (at most
/// `CAP` of the pool's blocks sit here, invisible to other contexts, until a flush).
///
/// The boxes it hands out are ordinary boxes of the pool: dropping one returns it to the
/// shared list; [`free`](Self::free) returns it to this cache instead.
///
/// ```
/// use blockpool::{LocalCache, StaticPool};
///
/// static POOL: StaticPool<[u8; 64], 64> = StaticPool::new();
///
/// let mut cache: LocalCache<_, 16> = POOL.local_cache();
/// let packet = cache.alloc_value([7; 64]).unwrap(); // refills 8 blocks at once
/// assert_eq!(cache.len(), 7);
/// cache.free(packet); // back into the cache, not the pool
/// assert_eq!(cache.len(), 8);
/// drop(cache); // its blocks go back to the pool
/// # #[cfg(feature = "stats")]
/// assert_eq!(POOL.stats().in_use, 0);
/// ```
///
/// One cache cannot be used by two contexts at once: it is `!Sync`, and every method
/// takes `&mut self`.
///
/// ```compile_fail,E0277
/// use blockpool::{LocalCache, StaticPool};
///
/// static POOL: StaticPool<u32, 4> = StaticPool::new();
/// fn shared<T: Sync>(_: &T) {}
/// let cache: LocalCache<_, 2> = POOL.local_cache();
/// shared(&cache); // error: `LocalCache` is not `Sync`
/// ```
pub struct LocalCache<P: PoolHandle, const CAP: usize> {
    pool: P,
    magazine: Magazine<P::Data, CAP>,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: the cache holds free blocks (no values) of its pool and the pool's handle;
// moving it to another context moves sole ownership of those blocks, as moving a
// `Box<P, Uninit>` does. `!Sync` stays (the `Cell` marker).
unsafe impl<P: PoolHandle + Send, const CAP: usize> Send for LocalCache<P, CAP> {}

impl<P: PoolHandle + Copy, const CAP: usize> LocalCache<P, CAP> {
    /// An empty cache in front of `pool` (any pool handle: `&'static StaticPool`,
    /// `&Pool`, a `pool!` singleton, ...). `StaticPool::local_cache` and
    /// `Pool::local_cache` say the same.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{pool, LocalCache};
    ///
    /// pool!(Frames: [u8; 32], blocks = 8);
    ///
    /// let mut cache = LocalCache::<Frames, 4>::new(Frames);
    /// let frame = cache.alloc().unwrap();
    /// assert_eq!(cache.len(), 1); // took 2, handed out 1
    /// cache.free(frame);
    /// ```
    pub const fn new(pool: P) -> Self {
        Self {
            pool,
            magazine: Magazine::new(),
            _not_sync: PhantomData,
        }
    }

    /// Takes a free block: from the cache, or, when it is empty, from a refill of
    /// `CAP / 2` blocks (one exchange of the shared list). `None` when the pool has no
    /// free block left; that also asks every cache of the pool to flush (see the
    /// [crate docs](crate), "Caches").
    ///
    /// # Examples
    /// ```
    /// use blockpool::{LocalCache, StaticPool};
    ///
    /// static POOL: StaticPool<u64, 2> = StaticPool::new();
    ///
    /// let mut cache: LocalCache<_, 4> = POOL.local_cache();
    /// let a = cache.alloc().unwrap().init(1);
    /// let b = cache.alloc().unwrap().init(2);
    /// assert!(cache.alloc().is_none()); // both blocks are out
    /// assert_eq!(*a + *b, 3);
    /// ```
    #[inline]
    pub fn alloc(&mut self) -> Option<Box<P, Uninit>> {
        if mem::size_of::<P::Data>() == 0 {
            return Box::alloc_in(self.pool);
        }
        let block = self.magazine.take(&self.pool, None)?;
        crate::asan::unpoison(crate::Block::data(block).cast(), mem::size_of::<P::Data>());
        // SAFETY: a block of this pool, taken from it (through the magazine) and now
        // owned by nobody else.
        Some(unsafe { Box::from_block(block, self.pool) })
    }

    /// Takes a free block and moves `value` into it; gives `value` back when the pool
    /// has no free block.
    ///
    /// # Errors
    /// `Err(value)` when the pool is exhausted: the value is not dropped.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{LocalCache, StaticPool};
    ///
    /// static POOL: StaticPool<u32, 1> = StaticPool::new();
    ///
    /// let mut cache: LocalCache<_, 2> = POOL.local_cache();
    /// let one = cache.alloc_value(1).unwrap();
    /// assert_eq!(cache.alloc_value(2), Err(2));
    /// assert_eq!(*one, 1);
    /// ```
    #[inline]
    pub fn alloc_value(&mut self, value: P::Data) -> Result<Box<P, Init>, P::Data> {
        match self.alloc() {
            Some(block) => Ok(block.init(value)),
            None => Err(value),
        }
    }

    /// Drops the box's value (if it holds one) and keeps its block in this cache; when
    /// the cache is full, half of it goes back to the pool first, in one exchange. A box
    /// of another pool of the same type is simply dropped (its block goes back to its
    /// own pool).
    ///
    /// # Examples
    /// ```
    /// use blockpool::{LocalCache, StaticPool};
    ///
    /// static POOL: StaticPool<String, 4> = StaticPool::new();
    ///
    /// let mut cache: LocalCache<_, 4> = POOL.local_cache();
    /// let name = POOL.alloc_value(String::from("boxed")).unwrap(); // not from the cache
    /// cache.free(name); // the `String` is dropped, the block stays here
    /// assert_eq!(cache.len(), 1);
    /// ```
    #[inline]
    pub fn free<S: State>(&mut self, boxed: Box<P, S>) {
        if mem::size_of::<P::Data>() == 0
            || !core::ptr::eq(boxed.pool().cache_shared(), self.pool.cache_shared())
        {
            drop(boxed);
            return;
        }
        let block = boxed.into_empty_block();
        crate::asan::poison(crate::Block::data(block).cast(), mem::size_of::<P::Data>());
        // SAFETY: a block of this cache's pool (the same `Shared`, which each pool has
        // exactly one of), whose value is gone and whose box no longer exists; the
        // magazine holds only this pool's blocks.
        unsafe { self.magazine.release(&self.pool, None, block) };
    }

    /// Returns every block in the cache to the pool, in one exchange.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{LocalCache, StaticPool};
    ///
    /// static POOL: StaticPool<u8, 8> = StaticPool::new();
    ///
    /// let mut cache: LocalCache<_, 8> = POOL.local_cache();
    /// drop(cache.alloc()); // the refill took 4; the dropped box went to the pool
    /// assert_eq!(cache.len(), 3);
    /// cache.flush();
    /// assert!(cache.is_empty());
    /// ```
    pub fn flush(&mut self) {
        self.magazine.flush(&self.pool, None);
    }

    /// Blocks in the cache now.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{LocalCache, StaticPool};
    ///
    /// static POOL: StaticPool<u8, 8> = StaticPool::new();
    /// let cache: LocalCache<_, 8> = POOL.local_cache();
    /// assert_eq!(cache.len(), 0);
    /// ```
    pub const fn len(&self) -> usize {
        self.magazine.len()
    }

    /// Whether the cache holds no block.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{LocalCache, StaticPool};
    ///
    /// static POOL: StaticPool<u8, 8> = StaticPool::new();
    /// let mut cache: LocalCache<_, 8> = POOL.local_cache();
    /// let block = cache.alloc().unwrap();
    /// assert!(!cache.is_empty());
    /// # drop(block);
    /// ```
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most blocks the cache holds: `CAP`.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{LocalCache, StaticPool};
    ///
    /// static POOL: StaticPool<u8, 8> = StaticPool::new();
    /// let cache: LocalCache<_, 8> = POOL.local_cache();
    /// assert_eq!(cache.capacity(), 8);
    /// ```
    pub const fn capacity(&self) -> usize {
        CAP
    }
}

impl<P: PoolHandle, const CAP: usize> Drop for LocalCache<P, CAP> {
    fn drop(&mut self) {
        self.magazine.flush(&self.pool, None);
    }
}
