//! Waiting for a free block: [`AllocFuture`] (feature `async`), woken by the pools'
//! `release` through a small fixed set of waker slots.
//!
//! Each pool has `SLOTS` waker slots. A waiting future claims one (a bit in `claimed`)
//! and registers its waker there; every release wakes the wakers of all claimed slots.
//! Each slot is an `AtomicWaker`-style state machine (the algorithm of `futures`'
//! `AtomicWaker`): registering and waking never wait for each other, whichever context
//! (thread, interrupt handler, signal handler) runs them and whatever it interrupted; a
//! wake that arrives while a waker is being registered makes the registering context
//! wake it itself. On targets without atomic read-modify-write the state changes run in
//! critical sections (`crate::counter`).
//!
//! **No lost wake-up.** The future registers, then (SeqCst fence) tries to allocate once
//! more; a release pushes the block, then (SeqCst fence) reads `claimed`. Of the two
//! fences one comes first in their single total order: if the future's, the release
//! sees its claim bit and then its registered waker (the slot's state is read by a
//! read-modify-write, which sees the latest value); if the release's, the future's
//! second try sees the block on the free list.
//!
//! Without the `async` feature [`Waiters`] is empty and `wake_all` does nothing.

#[cfg(feature = "async")]
use core::future::Future;
#[cfg(feature = "async")]
use core::pin::Pin;
#[cfg(feature = "async")]
use core::task::{Context, Poll, Waker};

#[cfg(feature = "async")]
use crate::boxed::{Box, PoolHandle, Uninit};
#[cfg(feature = "async")]
use crate::counter::{self, fence};
#[cfg(feature = "async")]
use crate::sync::{AtomicUsize, Ordering};

/// Waker slots per pool: this many futures wait without polling; more wait by polling.
#[cfg(feature = "async")]
pub(crate) const SLOTS: usize = 4;

#[cfg(feature = "async")]
const WAITING: usize = 0;
#[cfg(feature = "async")]
const REGISTERING: usize = 0b01;
#[cfg(feature = "async")]
const WAKING: usize = 0b10;

/// `UnsafeCell` with loom's closure API, so that loom can check the waker's accesses.
#[cfg(all(feature = "async", blockpool_loom))]
use loom::cell::UnsafeCell;

#[cfg(all(feature = "async", not(blockpool_loom)))]
struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(all(feature = "async", not(blockpool_loom)))]
impl<T> UnsafeCell<T> {
    const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// One waker slot (see the module docs).
#[cfg(feature = "async")]
struct Slot {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the waker is only touched by the one context that moved `state` from WAITING
// to REGISTERING or to WAKING (see `register` and `take`); `Waker` is `Send + Sync`.
#[cfg(feature = "async")]
unsafe impl Sync for Slot {}

#[cfg(feature = "async")]
impl Slot {
    crate::sync::const_fn_unless_loom! {
        fn new() -> Self {
            Self { state: AtomicUsize::new(WAITING), waker: UnsafeCell::new(None) }
        }
    }

    /// Stores `waker` to be woken by the next `take`. Only the future that claimed the
    /// slot calls this (never two at once).
    fn register(&self, waker: &Waker) {
        // Acquire: the last `take`'s write of the cell (it emptied it) happens before ours.
        match counter::compare_exchange(
            &self.state,
            WAITING,
            REGISTERING,
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                let old = self.waker.with_mut(|cell| {
                    // SAFETY: REGISTERING is ours: nobody else touches the cell until
                    // we leave it (a `take` meanwhile only sets WAKING).
                    unsafe {
                        match &*cell {
                            Some(current) if current.will_wake(waker) => None,
                            _ => (*cell).replace(waker.clone()),
                        }
                    }
                });
                // AcqRel: Release publishes the waker to the next `take`; Acquire (on
                // failure too) pairs with the `take` that set WAKING meanwhile.
                match counter::compare_exchange(
                    &self.state,
                    REGISTERING,
                    WAITING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => drop(old),
                    Err(_) => {
                        // A `take` came while we registered and left the waking to us.
                        let waker = self.waker.with_mut(|cell| {
                            // SAFETY: still ours: the state is REGISTERING | WAKING,
                            // which no `take` or `register` enters.
                            unsafe { (*cell).take() }
                        });
                        counter::swap(&self.state, WAITING, Ordering::AcqRel);
                        drop(old);
                        if let Some(waker) = waker {
                            waker.wake();
                        }
                    }
                }
            }
            // A `take` is running: it may have missed this waker, so poll again.
            Err(_) => waker.wake_by_ref(),
        }
    }

    /// Takes the registered waker, if any and if no other context is taking it.
    fn take(&self) -> Option<Waker> {
        // AcqRel: Acquire pairs with `register`'s Release (the waker is visible).
        match counter::fetch_or(&self.state, WAKING, Ordering::AcqRel) {
            WAITING => {
                let waker = self.waker.with_mut(|cell| {
                    // SAFETY: we moved the state from WAITING to WAKING: the cell is
                    // ours until we clear WAKING.
                    unsafe { (*cell).take() }
                });
                // Release: our write of the cell happens before the next `register`.
                counter::fetch_and(&self.state, !WAKING, Ordering::Release);
                waker
            }
            // Being registered (the registering context will wake itself), or another
            // context is taking it.
            _ => None,
        }
    }
}

/// The waker slots of one pool (empty without the `async` feature). Not part of the
/// API: only the pools and their macros use it.
#[doc(hidden)]
pub struct Waiters {
    /// Bit `i`: slot `i` is claimed by a waiting future.
    #[cfg(feature = "async")]
    claimed: AtomicUsize,
    #[cfg(feature = "async")]
    slots: [Slot; SLOTS],
}

// Like the atomics around them, the slots stay consistent if a panic unwinds through a
// pool (at worst a slot whose `Waker::clone` panicked stays REGISTERING, and its future
// then waits by polling), so pools stay `RefUnwindSafe` with the `async` feature.
impl core::panic::RefUnwindSafe for Waiters {}
impl core::panic::UnwindSafe for Waiters {}

impl Waiters {
    crate::sync::const_fn_unless_loom! {
        /// No waiters.
        pub(crate) fn new() -> Self {
            Self {
                #[cfg(feature = "async")]
                claimed: AtomicUsize::new(0),
                #[cfg(all(feature = "async", not(blockpool_loom)))]
                slots: [const { Slot::new() }; SLOTS],
                #[cfg(all(feature = "async", blockpool_loom))]
                slots: core::array::from_fn(|_| Slot::new()),
            }
        }
    }

    /// Wakes every waiting future. Called by `release` after the block is back on the
    /// free list.
    #[inline(always)]
    pub(crate) fn wake_all(&self) {
        #[cfg(feature = "async")]
        {
            // SeqCst: see the module docs (the fence pairs with the one in `poll`).
            fence(Ordering::SeqCst);
            let claimed = self.claimed.load(Ordering::Relaxed);
            if claimed != 0 {
                self.wake_claimed(claimed);
            }
        }
    }

    #[cfg(feature = "async")]
    #[cold]
    fn wake_claimed(&self, claimed: usize) {
        for (i, slot) in self.slots.iter().enumerate() {
            if claimed & (1 << i) != 0 {
                if let Some(waker) = slot.take() {
                    waker.wake();
                }
            }
        }
    }

    /// Claims a free slot; `None` when all are claimed.
    #[cfg(feature = "async")]
    fn claim(&self) -> Option<usize> {
        let mut claimed = self.claimed.load(Ordering::Relaxed);
        loop {
            let free = !claimed & ((1 << SLOTS) - 1);
            if free == 0 {
                return None;
            }
            let i = free.trailing_zeros() as usize;
            // Relaxed: the claim bit only hands out slots; the slot's state orders the
            // waker, and the SeqCst fences order the bit against releases.
            match counter::compare_exchange(
                &self.claimed,
                claimed,
                claimed | (1 << i),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(i),
                Err(actual) => claimed = actual,
            }
        }
    }

    /// Empties slot `i` and gives it up.
    #[cfg(feature = "async")]
    fn unclaim(&self, i: usize) {
        // Drop our waker, unless a release is taking it right now (it then wakes it:
        // harmless). Either way nothing of ours stays behind.
        drop(self.slots[i].take());
        counter::fetch_and(&self.claimed, !(1 << i), Ordering::Relaxed);
    }
}

/// The future of `alloc_async()` (feature `async`): completes with a block as soon as
/// one is free.
///
/// - **Wake-ups**: every free (`release`, from any context, interrupt and signal
///   handlers included) wakes the waiting futures of its pool. Up to 4 futures per pool
///   wait with their wakers registered; beyond that, a future that finds all slots taken
///   wakes itself and is polled again (it busy-polls through its executor until a slot
///   frees).
/// - **Which wakers may be woken from an interrupt or signal handler.** A free calls
///   the registered [`Waker::wake`] (and drops the waker) in whatever context frees the
///   block. The pool's own part of that is safe anywhere (atomics only, nothing waits),
///   but what `wake` does is the executor's: if a block can be freed in an interrupt or
///   signal handler while a future waits, every waker registered with this pool must be
///   safe to wake and drop there: it must not take a lock that the interrupted context
///   may hold, nor allocate or free memory, nor wait. A waker that only sets an atomic
///   flag (or pends an interrupt) and has no reference count, as embedded executors'
///   wakers do, qualifies; `tests/async_signal.rs` runs such a one, woken from a
///   `SIGALRM` handler. Most host executors' wakers (a mutex-protected queue, an `Arc`
///   whose drop may free memory) are *not* async-signal-safe: with them, free blocks in
///   threads only, or hand the free to a thread.
/// - **A forgotten future keeps its slot.** `mem::forget` on a waiting future (or leaking
///   it) never gives its slot back: the slot and its waker stay claimed for good, and
///   with all 4 slots lost that way every later waiter of the pool busy-polls. Drop
///   futures instead of forgetting them.
/// - **Fairness: none.** All waiters are woken by each free; whichever is polled first
///   takes the block, and a synchronous `alloc` may take it before any of them. There is
///   no FIFO order, so under sustained contention a waiter can starve.
/// - **Cancellation-safe**: dropping the future gives up its slot and drops its waker;
///   nothing is left registered, and no block is taken.
/// - It takes a block only when it completes, so dropping it never loses one.
/// - With the `stats` feature, each try that finds the pool empty (up to two per poll)
///   counts as an allocation failure.
///
/// # Examples
/// Polled by hand, with a waker that does nothing (an executor would poll again when
/// a free wakes the future; see the pools' `alloc_async` for a complete one):
/// ```
/// use core::future::Future;
/// use core::pin::pin;
/// use core::task::{Context, Poll, Waker};
/// use blockpool::{AllocFuture, StaticPool};
///
/// static POOL: StaticPool<u64, 1> = StaticPool::new();
///
/// let held = POOL.alloc_value(1).unwrap();
/// let mut cx = Context::from_waker(Waker::noop());
/// {
///     let future: AllocFuture<&StaticPool<u64, 1>> = POOL.alloc_async();
///     let mut future = pin!(future);
///     assert!(future.as_mut().poll(&mut cx).is_pending()); // waits, registered
/// } // dropped: cancelled; its waker slot is given up and no block was taken
///
/// let mut future = pin!(POOL.alloc_async());
/// assert!(future.as_mut().poll(&mut cx).is_pending());
/// drop(held); // the free wakes the registered waker
/// let Poll::Ready(block) = future.poll(&mut cx) else { panic!("a block is free") };
/// assert_eq!(*block.init(2), 2);
/// ```
#[cfg(feature = "async")]
#[must_use = "futures do nothing unless polled"]
pub struct AllocFuture<P: PoolHandle + Clone> {
    pool: P,
    slot: Option<usize>,
}

#[cfg(feature = "async")]
impl<P: PoolHandle + Clone> AllocFuture<P> {
    /// The future for `pool`. Not part of the API: the pools' `alloc_async` and the
    /// `pool!` singletons call it. It takes no waiter set: the pool's own (the one its
    /// `release` wakes) comes from the handle, so no wake-up can be lost to a mismatch.
    #[doc(hidden)]
    pub fn __new(pool: P) -> Self {
        Self { pool, slot: None }
    }

    fn give_up_slot(&mut self) {
        if let Some(i) = self.slot.take() {
            self.pool.waiters().unclaim(i);
        }
    }
}

#[cfg(feature = "async")]
impl<P: PoolHandle + Clone + Unpin> Future for AllocFuture<P> {
    type Output = Box<P, Uninit>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(block) = Box::alloc_in(this.pool.clone()) {
            this.give_up_slot();
            return Poll::Ready(block);
        }
        let slot = match this.slot {
            Some(slot) => slot,
            None => match this.pool.waiters().claim() {
                Some(slot) => {
                    this.slot = Some(slot);
                    slot
                }
                None => {
                    // All slots taken: poll again.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            },
        };
        this.pool.waiters().slots[slot].register(cx.waker());
        // SeqCst: see the module docs (pairs with the fence in `wake_all`).
        fence(Ordering::SeqCst);
        if let Some(block) = Box::alloc_in(this.pool.clone()) {
            this.give_up_slot();
            return Poll::Ready(block);
        }
        Poll::Pending
    }
}

#[cfg(feature = "async")]
impl<P: PoolHandle + Clone> Drop for AllocFuture<P> {
    fn drop(&mut self) {
        self.give_up_slot();
    }
}
