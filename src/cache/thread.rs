//! Thread-local caches (feature `std`): what `pool!(A: T, blocks = N, thread_cache = C)`
//! puts behind `A::alloc()` and the drop of `Box<A>`.
//!
//! Each thread has, per such pool, a [`ThreadCache`] (a `Magazine` of up to `C` blocks
//! and two flags) in a `thread_local!` with a `const` initialiser and no destructor, so
//! reaching it never allocates and never registers anything: a signal handler may touch
//! it. A second thread-local, [`ExitFlush`], has the destructor that returns the
//! thread's blocks when the thread exits; it is registered by the thread's first cached
//! operation, inside that operation's busy window (see `ThreadCache::with`).
//!
//! **Busy flag.** Every operation marks the cache busy for its duration. A signal handler
//! that interrupts its thread inside an operation finds the mark and uses the pool's
//! shared list instead (itself signal-safe), so it neither waits nor sees a half-updated
//! magazine. The mark is a plain load and store, not a read-modify-write: a handler runs
//! to completion before the thread resumes, so a handler that interrupts the thread
//! between its load (not busy) and its store finishes its own whole operation (and clears
//! its own mark) before the thread goes on; the thread then finds the magazine as the
//! handler left it, consistent. `compiler_fence`s keep the compiler from moving the
//! magazine's accesses out of the window (the thread and its handler run on one core, in
//! program order). Threads never share a `ThreadCache` (each has its own), so no
//! cross-thread ordering is needed.

use core::cell::{Cell, UnsafeCell};
use core::ptr::NonNull;
use core::sync::atomic::{compiler_fence, AtomicU8, Ordering};
use std::thread::LocalKey;

pub use super::Depot;
use super::Magazine;
use crate::boxed::PoolHandle;
use crate::Block;

/// The thread has not used the cache yet: its exit flush is not registered.
const UNREGISTERED: u8 = 0;
/// In use, and no operation is under way.
const IDLE: u8 = 1;
/// An operation is under way (see the module docs).
const BUSY: u8 = 2;
/// The thread is exiting (or could not register its flush): the cache is not used.
const GONE: u8 = 3;

/// One thread's cache of one pool's blocks. Not part of the API: `pool!` declares it in
/// a `thread_local!`.
pub struct ThreadCache<T, const CAP: usize> {
    /// `UNREGISTERED`, `IDLE`, `BUSY` or `GONE`: the busy mark of the module docs and
    /// the registration of the exit flush, in one byte, so that the fast path loads
    /// and stores one word.
    state: AtomicU8,
    magazine: UnsafeCell<Magazine<T, CAP>>,
}

impl<T, const CAP: usize> ThreadCache<T, CAP> {
    /// An empty cache (all zeros).
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self {
            state: AtomicU8::new(UNREGISTERED),
            magazine: UnsafeCell::new(Magazine::new()),
        }
    }

    /// Runs `op` on the magazine unless an operation of this thread is under way (we
    /// are a signal handler that interrupted it) or the thread is exiting; `None` then.
    /// The first operation registers the thread's exit flush (`exit`).
    #[inline(always)]
    fn with<R>(
        &self,
        exit: &'static LocalKey<ExitFlush>,
        on_exit: fn(),
        op: impl FnOnce(&mut Magazine<T, CAP>) -> R,
    ) -> Option<R> {
        // Relaxed, with signal fences: only this thread and its own signal handlers
        // ever touch this cache (module docs).
        let state = self.state.load(Ordering::Relaxed);
        if state != IDLE && !(state == UNREGISTERED && self.register(exit, on_exit)) {
            return None;
        }
        self.state.store(BUSY, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        hook::in_window();
        // SAFETY: the busy mark is ours: no other operation on this cache runs until we
        // clear it (a handler that interrupts us sees it and stays out; other threads
        // have their own caches), so this is the only reference.
        let result = op(unsafe { &mut *self.magazine.get() });
        compiler_fence(Ordering::SeqCst);
        self.state.store(IDLE, Ordering::Relaxed);
        Some(result)
    }

    /// The thread's first operation: registers the exit flush, marked busy meanwhile
    /// (registering may allocate, and a handler must not come in). `false` if the
    /// thread's thread-locals are being torn down (the cache is then not used again).
    #[cold]
    #[inline(never)]
    fn register(&self, exit: &'static LocalKey<ExitFlush>, on_exit: fn()) -> bool {
        self.state.store(BUSY, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        let registered = exit.try_with(|flush| flush.0.set(Some(on_exit))).is_ok();
        compiler_fence(Ordering::SeqCst);
        self.state
            .store(if registered { IDLE } else { GONE }, Ordering::Relaxed);
        registered
    }
}

/// A hook that runs inside every operation's busy window, right after the mark: the
/// signal-handler tests raise a signal there, so the handler always finds the cache busy.
/// Compiled to nothing without `--cfg blockpool_test_hooks` (tests only).
pub mod hook {
    use crate::free_list::hook::Hook;

    static CACHE_WINDOW: Hook = Hook::new();

    /// Sets (or with `None` clears) the function every thread-cache operation calls
    /// inside its busy window.
    #[cfg(blockpool_test_hooks)]
    pub fn set_cache_window_hook(hook: Option<fn()>) {
        CACHE_WINDOW.set(hook);
    }

    #[inline(always)]
    pub(super) fn in_window() {
        CACHE_WINDOW.call();
    }
}

/// The thread-local whose destructor returns a thread's cached blocks when it exits.
/// Not part of the API.
pub struct ExitFlush(Cell<Option<fn()>>);

impl ExitFlush {
    /// Nothing to flush yet.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(Cell::new(None))
    }
}

impl Drop for ExitFlush {
    fn drop(&mut self) {
        if let Some(flush) = self.0.get() {
            flush();
        }
    }
}

/// A singleton's thread-locals and depot, as its `__thread_cache()` returns them. Not
/// part of the API.
pub struct Keys<T: 'static, const CAP: usize> {
    /// The thread's cache.
    pub cache: &'static LocalKey<ThreadCache<T, CAP>>,
    /// The batches in transit between the pool's thread caches: a cache that overflows
    /// puts its batch there, one that runs empty looks there first, so that a batch
    /// freed on one thread and allocated on another travels as an array.
    pub depot: &'static Depot<T, CAP>,
    /// The thread's exit flush.
    pub exit: &'static LocalKey<ExitFlush>,
    /// What the exit flush calls: [`exit`] with this cache and pool.
    pub on_exit: fn(),
}

/// Runs `op` on this thread's magazine, if it may (see [`ThreadCache::with`]).
#[inline(always)]
fn with_magazine<T: 'static, const CAP: usize, R>(
    keys: &Keys<T, CAP>,
    op: impl FnOnce(&mut Magazine<T, CAP>) -> R,
) -> Option<R> {
    keys.cache
        .try_with(|cache| cache.with(keys.exit, keys.on_exit, op))
        .ok()
        .flatten()
}

/// `take` of a thread-cached singleton: from this thread's cache, or from `pool` when
/// the cache cannot be used now.
///
/// # Safety
/// Every block in the thread caches and the depot of `keys` belongs to `pool` (one pool
/// per cache and depot: they are used with this pool only).
#[inline(always)]
pub unsafe fn take<P: PoolHandle, const CAP: usize>(
    keys: Keys<P::Data, CAP>,
    pool: P,
) -> Option<NonNull<Block<P::Data>>>
where
    P::Data: 'static,
{
    match with_magazine(&keys, |magazine| magazine.take(&pool, Some(keys.depot))) {
        Some(taken) => taken,
        // SAFETY: the caller's promise.
        None => unsafe { take_uncached(pool, keys.depot) },
    }
}

/// `take` when the thread's cache cannot be used: from the pool, or, when it has none,
/// from a batch in the depot (whose other blocks go to the pool), so that blocks in
/// transit are not stranded from a signal handler. Out of line, so that the cached path
/// stays small enough to be inlined into its callers.
///
/// # Safety
/// Every block in `depot` belongs to `pool`.
#[cold]
#[inline(never)]
unsafe fn take_uncached<P: PoolHandle, const CAP: usize>(
    pool: P,
    depot: &Depot<P::Data, CAP>,
) -> Option<NonNull<Block<P::Data>>> {
    // Not counted as a failure yet (nor below, if the depot serves): only an allocation
    // that returns empty-handed is one.
    if let Some(block) = pool.take_waiting() {
        return Some(block);
    }
    let mut batch = [const { core::mem::MaybeUninit::uninit() }; CAP];
    let taken = depot.take(&mut batch);
    let Some((last, rest)) = batch[..taken].split_last() else {
        // Empty-handed: counted (and a block freed meanwhile is still taken).
        return pool.take();
    };
    // Counted as cached while in the depot: now one is the caller's, the rest the pool's.
    pool.cache_shared().cached_sub(taken);
    // SAFETY: `take` wrote `batch[..taken]`, and `MaybeUninit<X>` has `X`'s layout.
    let rest = unsafe { &*(core::ptr::from_ref(rest) as *const [NonNull<Block<P::Data>>]) };
    // SAFETY: the depot's blocks are distinct free blocks of `pool` (the caller's
    // promise) that we took from it, so only we hold them.
    unsafe { pool.release_batch(rest) };
    // SAFETY: as for `rest`.
    Some(unsafe { last.assume_init() })
}

/// `release` when the thread's cache cannot be used (see `take_uncached`).
///
/// # Safety
/// As for `PoolHandle::release` of `pool`.
#[cold]
#[inline(never)]
unsafe fn release_uncached<P: PoolHandle>(pool: P, block: NonNull<Block<P::Data>>) {
    // SAFETY: the caller's promise.
    unsafe { pool.release(block) };
}

/// `release` of a thread-cached singleton: into this thread's cache, or to `pool` when
/// the cache cannot be used now.
///
/// # Safety
/// As for `PoolHandle::release` of `pool`; every block in the thread caches and the
/// depot of `keys` belongs to `pool`.
#[inline(always)]
pub unsafe fn release<P: PoolHandle, const CAP: usize>(
    keys: Keys<P::Data, CAP>,
    pool: P,
    block: NonNull<Block<P::Data>>,
) where
    P::Data: 'static,
{
    // SAFETY: the caller's promise (`Magazine::release`'s contract).
    let kept = with_magazine(&keys, |magazine| unsafe {
        magazine.release(&pool, Some(keys.depot), block)
    });
    if kept.is_none() {
        // SAFETY: the caller's promise.
        unsafe { release_uncached(pool, block) };
    }
}

/// Returns this thread's cached blocks, and the depot's batches, to `pool` now; `false` if
/// the cache could not be used (called from a signal handler inside an operation, or
/// during thread exit).
///
/// # Safety
/// As for [`take`].
pub unsafe fn flush<P: PoolHandle, const CAP: usize>(keys: Keys<P::Data, CAP>, pool: P) -> bool
where
    P::Data: 'static,
{
    with_magazine(&keys, |magazine| magazine.flush(&pool, Some(keys.depot))).is_some()
}

/// The exit flush: returns the exiting thread's blocks and retires its cache, so that
/// frees during the rest of the thread's teardown go to the pool. (The depot's batches
/// stay for the other threads; the next flush request returns them.)
///
/// # Safety
/// Every block in the thread caches `cache` belongs to `pool`.
pub unsafe fn exit<P: PoolHandle, const CAP: usize>(
    cache: &'static LocalKey<ThreadCache<P::Data, CAP>>,
    pool: P,
) where
    P::Data: 'static,
{
    let _ = cache.try_with(|cache| {
        cache.state.store(BUSY, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        // SAFETY: thread exit runs outside every cache operation of this thread (they
        // are not reentrant into thread teardown), and the busy mark keeps signal
        // handlers out: the only reference.
        unsafe { &mut *cache.magazine.get() }.flush(&pool, None);
        compiler_fence(Ordering::SeqCst);
        cache.state.store(GONE, Ordering::Relaxed);
    });
}

/// The `PoolHandle` of `pool!(…, thread_cache = C)` (see `__singleton_handle!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __thread_cached_handle {
    (promise: $promise:expr, $cache:expr, $vis:vis $name:ident, $payload:ty) => {
        impl $name {
            /// This thread's cache of the pool, and its exit flush.
            #[inline(always)]
            fn __thread_cache() -> $crate::__private::thread_cache::Keys<$payload, { $cache }> {
                $crate::__private::thread_local! {
                    static CACHE: $crate::__private::thread_cache::ThreadCache<$payload, { $cache }> =
                        const { $crate::__private::thread_cache::ThreadCache::new() };
                    static EXIT: $crate::__private::thread_cache::ExitFlush =
                        const { $crate::__private::thread_cache::ExitFlush::new() };
                }
                static DEPOT: $crate::__private::thread_cache::Depot<$payload, { $cache }> =
                    $crate::__private::thread_cache::Depot::new();
                fn on_exit() {
                    // SAFETY: `CACHE` is used with `instance()` only (this expansion).
                    unsafe { $crate::__private::thread_cache::exit(&CACHE, $name::instance()) };
                }
                $crate::__private::thread_cache::Keys { cache: &CACHE, depot: &DEPOT, exit: &EXIT, on_exit }
            }

            /// Returns this thread's cached blocks, and the batches in transit between
            /// threads, to the pool now (the thread's exit returns its own blocks too);
            /// `false` if the cache could not be used (from a signal handler that
            /// interrupted a cache operation, or during the thread's exit).
            ///
            /// # Examples
            /// In the docs of `blockpool::LocalCache`'s module, "Caches" in the crate docs.
            #[allow(dead_code)]
            $vis fn flush_thread_cache() -> bool {
                // SAFETY: this pool's caches are used with `instance()` only.
                unsafe { $crate::__private::thread_cache::flush(Self::__thread_cache(), Self::instance()) }
            }
        }

        const _: $crate::__private::ForwardingPromise = $promise;
        // SAFETY: every block comes from and goes back to `instance()` (the invocation
        // promised it is the blocks' one pool), through this thread's cache of it, which
        // holds only that pool's blocks.
        unsafe impl $crate::PoolHandle for $name {
            type Data = $payload;

            #[inline]
            fn take(&self) -> ::core::option::Option<::core::ptr::NonNull<$crate::Block<$payload>>> {
                // SAFETY: this pool's caches are used with `instance()` only.
                unsafe { $crate::__private::thread_cache::take(Self::__thread_cache(), Self::instance()) }
            }

            // A waiting future takes from the pool itself.
            fn take_waiting(&self) -> ::core::option::Option<::core::ptr::NonNull<$crate::Block<$payload>>> {
                $crate::PoolHandle::take_waiting(&Self::instance())
            }

            #[inline]
            unsafe fn release(&self, block: ::core::ptr::NonNull<$crate::Block<$payload>>) {
                // SAFETY: the block came from our `take`, so from `instance()`, and so did
                // every block in this pool's thread caches.
                unsafe { $crate::__private::thread_cache::release(Self::__thread_cache(), Self::instance(), block) }
            }

            fn waiters(&self) -> &$crate::__private::Waiters {
                Self::instance().__waiters()
            }

            fn cache_shared(&self) -> &$crate::__private::CacheShared {
                Self::instance().__cache_shared()
            }

            fn take_batch(
                &self,
                out: &mut [::core::mem::MaybeUninit<::core::ptr::NonNull<$crate::Block<$payload>>>],
            ) -> usize {
                $crate::PoolHandle::take_batch(&Self::instance(), out)
            }

            unsafe fn release_batch(&self, blocks: &[::core::ptr::NonNull<$crate::Block<$payload>>]) {
                // SAFETY: forwarded: the blocks are `instance()`'s.
                unsafe { $crate::PoolHandle::release_batch(&Self::instance(), blocks) }
            }

            unsafe fn owns(&self, block: ::core::ptr::NonNull<$crate::Block<$payload>>) -> bool {
                // SAFETY: forwarded: the same promise.
                unsafe { $crate::PoolHandle::owns(&Self::instance(), block) }
            }
        }
    };
}
