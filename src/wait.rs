//! Waiting for a free block: [`AllocFuture`] (feature `async`).
//!
//! **Design.** The futures waiting on a pool form a FIFO queue of nodes that live in
//! the (pinned) futures themselves, so any number of them wait asleep, and the pool
//! stays a fixed-size `static`. Only the *first* waiter's waker sits where a free can
//! reach it: in one lock-free waker slot (`Slot`, the algorithm of `futures`'
//! `AtomicWaker`). A free pushes its block and wakes that slot: one waiter per freed
//! block, never a lock, from any context (thread, interrupt handler, signal handler).
//! (For a moment during a hand-off the slot still holds the waker of the waiter just
//! served, until `pass_on` registers the next one; a free in that moment wakes the
//! served one, and the wake-up is not lost: `pass_on`'s next try sees that free's
//! block and hands it on. The embassy firmware saw it happen.)
//!
//! The queue itself is touched only by the futures (`poll` and `drop`), never by a free,
//! inside a critical section ([`critical_section::with`]; under `--cfg blockpool_loom`,
//! a loom mutex). When the first waiter leaves the queue (it got a block, or it was
//! dropped), it **passes on** (`Waiters::pass_on`): it registers the next waiter's waker
//! in the slot, then (SeqCst fence) tries to take a block for it; if there is one, it
//! *hands* the block to that waiter (stored in its node, then its waker is woken), and
//! passes on again. So a freed block goes to the longest waiter, and every waiter is
//! woken once per block it gets (plus once per free that another taker wins).
//!
//! **No lost wake-up.** A waiter that is first in the queue registers in the slot, then
//! (SeqCst fence) tries to allocate; a free pushes its block, then (SeqCst fence) takes
//! the slot's waker. Of the two fences one comes first in their single total order: if
//! the waiter's, the free finds its waker (the slot's state is read by a
//! read-modify-write, which sees the latest value); if the free's, the waiter's try sees
//! the block. A wake that a first waiter received but could not use because it was
//! dropped first is passed on by its `drop`.
//!
//! Without the `async` feature [`Waiters`] is empty and `on_release` does nothing.

#[cfg(feature = "async")]
use core::cell::Cell;
#[cfg(feature = "async")]
use core::future::Future;
#[cfg(feature = "async")]
use core::marker::PhantomPinned;
#[cfg(feature = "async")]
use core::pin::Pin;
#[cfg(feature = "async")]
use core::ptr::{self, NonNull};
#[cfg(feature = "async")]
use core::task::{Context, Poll, Waker};

#[cfg(feature = "async")]
use crate::boxed::{Box, PoolHandle, Uninit};
#[cfg(feature = "async")]
use crate::counter::{self, fence};
#[cfg(feature = "async")]
use crate::sync::{AtomicUsize, Ordering};
#[cfg(feature = "async")]
use crate::Block;

#[cfg(feature = "async")]
const WAITING: usize = 0;
#[cfg(feature = "async")]
const REGISTERING: usize = 0b01;
#[cfg(feature = "async")]
const WAKING: usize = 0b10;

#[cfg(feature = "async")]
use crate::sync::UnsafeCell;

/// The waker slot of the first waiter (see the module docs).
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

    /// Stores `waker` to be woken by the next `take`; says whether it did. Called only
    /// inside the queue's critical section, so never by two contexts at once.
    ///
    /// It does not when a `take` is running (a free, in a context that this one may
    /// have preempted, so waiting for it could spin for ever): the caller then tries to
    /// allocate, and that try sees the block of that free (the failed exchange read the
    /// `take`'s read-modify-write, `Acquire`, and the free pushed its block before it).
    /// Only if someone else got that block first must the caller wake the waiter to
    /// register again.
    fn register(&self, waker: &Waker) -> bool {
        // Acquire: the last `take`'s write of the cell (it emptied it) happens before
        // ours; on failure, the running `take`'s free happens before our next try.
        if counter::compare_exchange(
            &self.state,
            WAITING,
            REGISTERING,
            Ordering::Acquire,
            Ordering::Acquire,
        )
        .is_err()
        {
            return false;
        }
        let old = self.waker.with_mut(|cell| {
            // SAFETY: REGISTERING is ours: nobody else touches the cell until we leave
            // it (a `take` meanwhile only sets WAKING and leaves the cell to us).
            unsafe {
                match &*cell {
                    Some(current) if current.will_wake(waker) => None,
                    _ => (*cell).replace(waker.clone()),
                }
            }
        });
        // AcqRel: Release publishes the waker to the next `take`; Acquire (on failure
        // too) pairs with the `take` that set WAKING meanwhile.
        if counter::compare_exchange(
            &self.state,
            REGISTERING,
            WAITING,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
        {
            // A `take` came while we registered and left without waking anyone. The
            // waker is in place: the slot is registered once we clear WAKING, and the
            // caller's next try sees that free's block (see above).
            counter::swap(&self.state, WAITING, Ordering::AcqRel);
        }
        drop(old);
        true
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

/// A waiting future's place in its pool's queue. It lives inside the pinned
/// [`AllocFuture`]; every field is read and written only inside the queue's critical
/// section (`Waiters::with_queue`), by whichever context holds it.
#[cfg(feature = "async")]
struct Node {
    prev: Cell<*const Node>,
    next: Cell<*const Node>,
    /// The waiter's waker (its latest poll's), for when it becomes first or is handed
    /// a block.
    waker: Cell<Option<Waker>>,
    /// Whether the node is linked into the queue.
    queued: Cell<bool>,
    /// A block handed to this waiter by `pass_on` (the node is then out of the queue).
    handed: Cell<Option<NonNull<u8>>>,
    _pinned: PhantomPinned,
}

#[cfg(feature = "async")]
impl Node {
    const fn new() -> Self {
        Self {
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            waker: Cell::new(None),
            queued: Cell::new(false),
            handed: Cell::new(None),
            _pinned: PhantomPinned,
        }
    }
}

/// The queue's ends (null when empty).
#[cfg(feature = "async")]
#[derive(Clone, Copy)]
struct Queue {
    first: *const Node,
    last: *const Node,
}

// SAFETY: the pointers are only followed inside the queue's critical section, to nodes
// that stay valid while they are queued (a node unlinks itself before its future's
// memory can go: `AllocFuture` is `!Unpin` and unlinks in `drop`).
#[cfg(feature = "async")]
unsafe impl Send for Queue {}

#[cfg(feature = "async")]
impl Queue {
    const EMPTY: Self = Self {
        first: ptr::null(),
        last: ptr::null(),
    };

    /// Links `node` in at the end.
    ///
    /// # Safety
    /// Inside the queue's critical section; `node` is valid and not queued.
    unsafe fn push_back(&mut self, node: &Node) {
        node.prev.set(self.last);
        node.next.set(ptr::null());
        node.queued.set(true);
        if self.last.is_null() {
            self.first = node;
        } else {
            // SAFETY: `last` is a queued node (valid, the caller's critical section).
            unsafe { (*self.last).next.set(node) };
        }
        self.last = node;
    }

    /// Unlinks `node`.
    ///
    /// # Safety
    /// Inside the queue's critical section; `node` is queued in this queue.
    unsafe fn unlink(&mut self, node: &Node) {
        let (prev, next) = (node.prev.get(), node.next.get());
        if prev.is_null() {
            self.first = next;
        } else {
            // SAFETY: a queued node's neighbours are queued nodes.
            unsafe { (*prev).next.set(next) };
        }
        if next.is_null() {
            self.last = prev;
        } else {
            // SAFETY: as above.
            unsafe { (*next).prev.set(prev) };
        }
        node.prev.set(ptr::null());
        node.next.set(ptr::null());
        node.queued.set(false);
    }
}

/// The queue's lock: a critical section, or under loom a loom mutex (loom cannot see
/// inside `critical_section`'s std implementation, and would deadlock on it).
#[cfg(all(feature = "async", not(blockpool_loom)))]
type QueueLock = critical_section::Mutex<Cell<Queue>>;
#[cfg(all(feature = "async", blockpool_loom))]
type QueueLock = loom::sync::Mutex<Queue>;

/// The waiters of one pool (empty without the `async` feature). Not part of the API:
/// only the pools and their macros use it.
#[doc(hidden)]
pub struct Waiters {
    /// The first waiter's waker: what a free wakes.
    #[cfg(feature = "async")]
    first: Slot,
    /// How many futures are queued; written only inside the queue's critical section,
    /// read by frees (so that a free with nobody waiting costs a load, no more).
    #[cfg(feature = "async")]
    queued: AtomicUsize,
    #[cfg(feature = "async")]
    queue: QueueLock,
    /// Futures that waited (`Stats::waits`).
    #[cfg(all(feature = "async", feature = "stats"))]
    waits: AtomicUsize,
}

// Like the atomics around them, the queue and the slot stay consistent if a panic
// unwinds through a pool (a waker's `clone` that panics leaves at worst a waiter that is
// polled again), so pools stay `RefUnwindSafe` with the `async` feature.
impl core::panic::RefUnwindSafe for Waiters {}
impl core::panic::UnwindSafe for Waiters {}

impl Waiters {
    crate::sync::const_fn_unless_loom! {
        /// No waiters.
        pub(crate) fn new() -> Self {
            Self {
                #[cfg(feature = "async")]
                first: Slot::new(),
                #[cfg(feature = "async")]
                queued: AtomicUsize::new(0),
                #[cfg(all(feature = "async", not(blockpool_loom)))]
                queue: critical_section::Mutex::new(Cell::new(Queue::EMPTY)),
                #[cfg(all(feature = "async", blockpool_loom))]
                queue: loom::sync::Mutex::new(Queue::EMPTY),
                #[cfg(all(feature = "async", feature = "stats"))]
                waits: AtomicUsize::new(0),
            }
        }
    }

    /// A future started waiting.
    #[cfg(feature = "async")]
    fn count_wait(&self) {
        #[cfg(feature = "stats")]
        counter::fetch_add(&self.waits, 1, Ordering::Relaxed);
    }

    /// How many futures waited (0 without the `async` or the `stats` feature).
    #[cfg(feature = "stats")]
    pub(crate) fn waits(&self) -> usize {
        #[cfg(feature = "async")]
        return self.waits.load(Ordering::Relaxed);
        #[cfg(not(feature = "async"))]
        0
    }

    /// Wakes the first waiting future, if any. Called by `release` after the block is
    /// back on the free list. Lock-free: a fence and a load, and with a waiter the
    /// slot's read-modify-writes.
    #[inline(always)]
    pub(crate) fn on_release(&self) {
        #[cfg(feature = "async")]
        {
            // SeqCst: see the module docs (the fence pairs with the one in
            // `try_as_first` and in `pass_on`). A first waiter counted itself in
            // `queued` before its fence, so if its fence comes first we see the count.
            fence(Ordering::SeqCst);
            if self.queued.load(Ordering::Relaxed) != 0 {
                self.wake_first();
            }
        }
    }

    #[cfg(feature = "async")]
    #[cold]
    fn wake_first(&self) {
        if let Some(waker) = self.first.take() {
            waker.wake();
        }
    }

    /// Links `node` in at the end of `queue` and counts it.
    ///
    /// # Safety
    /// Inside the queue's critical section (`queue` is its content); `node` is valid
    /// and not queued.
    #[cfg(feature = "async")]
    unsafe fn enqueue(&self, queue: &mut Queue, node: &Node) {
        // SAFETY: the caller's promise.
        unsafe { queue.push_back(node) };
        // Only critical-section holders write the count: a load and a store suffice.
        let n = self.queued.load(Ordering::Relaxed);
        self.queued.store(n + 1, Ordering::Relaxed);
    }

    /// Unlinks `node` from `queue` and uncounts it.
    ///
    /// # Safety
    /// Inside the queue's critical section (`queue` is its content); `node` is queued
    /// in it.
    #[cfg(feature = "async")]
    unsafe fn dequeue(&self, queue: &mut Queue, node: &Node) {
        // SAFETY: the caller's promise.
        unsafe { queue.unlink(node) };
        let n = self.queued.load(Ordering::Relaxed);
        self.queued.store(n - 1, Ordering::Relaxed);
    }

    /// Runs `f` on the queue inside its critical section.
    #[cfg(feature = "async")]
    fn with_queue<R>(&self, f: impl FnOnce(&mut Queue) -> R) -> R {
        #[cfg(not(blockpool_loom))]
        {
            critical_section::with(|cs| {
                let cell = self.queue.borrow(cs);
                let mut queue = cell.get();
                let result = f(&mut queue);
                cell.set(queue);
                result
            })
        }
        #[cfg(blockpool_loom)]
        {
            f(&mut self.queue.lock().unwrap())
        }
    }

    /// Makes the queue's (new) first waiter the one a free wakes, and hands it blocks
    /// while there are free ones (see the module docs). Called by a waiter that left the
    /// first place.
    #[cfg(feature = "async")]
    fn pass_on<P: PoolHandle>(&self, pool: &P) {
        loop {
            let first = self.with_queue(|queue| {
                // SAFETY: inside the critical section; `first` is queued (valid).
                let Some(first) = (unsafe { queue.first.as_ref() }) else {
                    // Nobody waits: clear the slot of the waker of whoever left it.
                    // Inside the critical section, so that no registration can find
                    // this `take` running (it is no free: there is no block to try
                    // for), and a free cannot preempt it on a single core.
                    return Err(self.first.take());
                };
                let waker = first.waker.take();
                let registered = waker.as_ref().is_some_and(|w| self.first.register(w));
                // Keep a clone to wake if the registration has to be redone.
                let spare = if registered { None } else { waker.clone() };
                first.waker.set(waker);
                Ok(spare)
            });
            let unregistered = match first {
                Ok(unregistered) => unregistered,
                Err(stale) => {
                    drop(stale);
                    return;
                }
            };
            // SeqCst: pairs with the fence in `on_release` (see the module docs).
            fence(Ordering::SeqCst);
            let Some(block) = pool.take_waiting() else {
                if let Some(waker) = unregistered {
                    // A free raced the registration and its block went elsewhere: the
                    // first waiter registers itself when polled.
                    waker.wake();
                }
                return;
            };
            // Hand the block to whoever is first now (the one we registered may have
            // been dropped meanwhile).
            let handed = self.with_queue(|queue| {
                // SAFETY: inside the critical section; `first` is queued (valid).
                let first = unsafe { queue.first.as_ref() }?;
                // SAFETY: inside the critical section; `first` is in this queue.
                unsafe { self.dequeue(queue, first) };
                first.handed.set(Some(block.cast()));
                Some(first.waker.take())
            });
            match handed {
                Some(waker) => {
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                    // The one we handed a block to left the first place: go on with
                    // the next.
                }
                None => {
                    // The queue emptied meanwhile: give the block back (the release
                    // wakes whoever registered since).
                    // SAFETY: `block` came from `pool.take()` just now, is unused, and
                    // goes back to the pool it came from.
                    unsafe { pool.release(block) };
                    return;
                }
            }
        }
    }
}

/// The future of `alloc_async()` (feature `async`): completes with a block as soon as
/// one is free.
///
/// - **Order: first come, first served.** The futures waiting on a pool form a queue (it
///   lives in the futures themselves, so any number of them wait, each asleep: no
///   future ever wakes itself to poll again). Each free wakes the first one; when it
///   has its block, it hands the next free block to the next one, so blocks go to the
///   waiters in the order they started waiting. A future that finds waiters ahead of it
///   queues behind them without trying; a synchronous `alloc` does not queue, and can
///   take a freed block before the first waiter does (that waiter then waits on).
/// - **One exception to sleeping**: a first waiter that is polled while a free it
///   preempted is stopped inside its wake-up (a handful of instructions), and that finds
///   the freed block already taken by someone else (a synchronous `alloc`), wakes itself
///   to register again. It polls again only while that free stays stopped: a moment on
///   a multi-core system, but on one core, an executor at a higher priority than the
///   stopped free (an interrupt executor above thread-mode frees) would poll it until it
///   gets a block. The loom models check that no wake-up is lost under the assumption
///   that a stopped context runs again.
/// - **Which wakers may be woken from an interrupt or signal handler.** A free calls
///   the first waiter's [`Waker::wake`] (and drops the waker) in whatever context frees
///   the block. The pool's own part of that is safe anywhere (atomics only, nothing
///   waits, no critical section), but what `wake` does is the executor's: if a block can
///   be freed in an interrupt or signal handler while a future waits, every waker
///   registered with this pool must be safe to wake and drop there: it must not take a
///   lock that the interrupted context may hold, nor allocate or free memory, nor wait. A
///   waker that only sets an atomic flag (or pends an interrupt) and has no reference
///   count, as embedded executors' wakers do, qualifies; `tests/async_signal.rs` runs such
///   a one, woken from a `SIGALRM` handler. Most host executors' wakers (a
///   mutex-protected queue, an `Arc` whose drop may free memory) are *not*
///   async-signal-safe: with them, free blocks in threads only, or hand the free to a
///   thread.
/// - **A critical section in `poll` and `drop`.** The queue is guarded by
///   [`critical_section::with`] (a few dozen instructions: link or unlink a node, move a
///   waker), so the `async` feature needs a `critical-section` implementation in the
///   final binary, as every embassy firmware has (e.g. `cortex-m`'s
///   `critical-section-single-core`; on a host, `critical-section`'s `std` feature). Frees
///   never enter it.
/// - **Cancellation-safe**: dropping the future unlinks it; if it was first, the next
///   waiter takes its place (and a block it was handed goes back to the pool). Nothing
///   stays registered, no block is lost.
/// - **A forgotten future blocks the queue.** `mem::forget` on a waiting future that
///   was pinned in memory that is never reused (a leaked box) keeps its node queued for
///   good (sound: the memory stays valid), so every waiter behind it waits for ever.
///   Drop futures instead of forgetting them.
/// - With the `stats` feature, a waiting future's tries do not count as allocation
///   failures; `Stats::waits` counts the futures that waited.
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
///     assert!(future.as_mut().poll(&mut cx).is_pending()); // waits, queued
/// } // dropped: cancelled; it left the queue and took no block
///
/// let mut future = pin!(POOL.alloc_async());
/// assert!(future.as_mut().poll(&mut cx).is_pending());
/// drop(held); // the free wakes the first waiter
/// let Poll::Ready(block) = future.poll(&mut cx) else { panic!("a block is free") };
/// assert_eq!(*block.init(2), 2);
/// ```
#[cfg(feature = "async")]
#[must_use = "futures do nothing unless polled"]
pub struct AllocFuture<P: PoolHandle + Clone> {
    pool: P,
    node: Node,
    /// Whether the node was ever queued (read and written only by the future's own
    /// `poll` and `drop`), so that a future that never waited skips the critical
    /// section in `drop`.
    entered: Cell<bool>,
}

// SAFETY: the node's cells are only touched inside the queue's critical section, by
// whichever context holds it, so the future may move to (and be dropped on) another
// thread, and `&AllocFuture` gives access to nothing; the rest is the handle.
#[cfg(feature = "async")]
unsafe impl<P: PoolHandle + Clone + Send> Send for AllocFuture<P> {}
// SAFETY: as above: no method reads the node through `&self` outside the critical
// section.
#[cfg(feature = "async")]
unsafe impl<P: PoolHandle + Clone + Sync> Sync for AllocFuture<P> {}

#[cfg(feature = "async")]
impl<P: PoolHandle + Clone> AllocFuture<P> {
    /// The future for `pool`. Not part of the API: the pools' `alloc_async` and the
    /// `pool!` singletons call it. It takes no waiter set: the pool's own (the one its
    /// `release` wakes) comes from the handle, so no wake-up can be lost to a mismatch.
    #[doc(hidden)]
    pub fn __new(pool: P) -> Self {
        Self {
            pool,
            node: Node::new(),
            entered: Cell::new(false),
        }
    }

    /// Tries to take a block for the first waiter, whose waker `poll` registered in the
    /// slot (or could not, if `registered` is false): (SeqCst fence) tries; on success
    /// leaves the queue and passes on.
    fn try_as_first(&self, registered: bool, waker: &Waker) -> Option<Box<P, Uninit>> {
        let waiters = self.pool.waiters();
        // SeqCst: pairs with the fence in `on_release` (see the module docs).
        fence(Ordering::SeqCst);
        let Some(block) = self.pool.take_waiting() else {
            if !registered {
                // A free raced the registration and its block went elsewhere: poll
                // again to register (see `Slot::register`). This re-poll repeats only
                // while that free stays stopped inside its `take` (a few instructions)
                // and every block it could see goes to other takers: the one case in
                // which a waiter polls without sleeping (`AllocFuture`'s docs).
                // Under loom, a spin must yield so that loom lets the free go on.
                #[cfg(blockpool_loom)]
                loom::thread::yield_now();
                waker.wake_by_ref();
            }
            return None;
        };
        waiters.with_queue(|queue| {
            if self.node.queued.get() {
                // SAFETY: inside the critical section; our node is in this queue.
                unsafe { waiters.dequeue(queue, &self.node) };
            }
        });
        let waker = self.node.waker.take();
        drop(waker);
        waiters.pass_on(&self.pool);
        // SAFETY: `block` was just taken from `self.pool` and is owned by no one else.
        Some(unsafe { Box::from_block(block, self.pool.clone()) })
    }
}

/// What `poll` found inside the critical section.
#[cfg(feature = "async")]
enum Turn {
    /// A block was handed to us.
    Handed(NonNull<u8>),
    /// We are first in the queue (and whether our waker is registered in the slot).
    First(bool),
    /// Others are ahead of us.
    Behind,
}

#[cfg(feature = "async")]
impl<P: PoolHandle + Clone> Future for AllocFuture<P> {
    type Output = Box<P, Uninit>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The node is never moved out of the pinned future: only shared references.
        let this = self.into_ref().get_ref();
        let waiters = this.pool.waiters();
        let node = &this.node;
        // Not queued, nobody waiting: try straight away, without queueing.
        if !waiters.with_queue(|queue| node.queued.get() || !queue.first.is_null()) {
            if let Some(block) = this.pool.take_waiting() {
                // SAFETY: just taken from `this.pool`, owned by no one else.
                return Poll::Ready(unsafe { Box::from_block(block, this.pool.clone()) });
            }
        }
        let mut old_waker = None;
        let turn = waiters.with_queue(|queue| {
            if let Some(block) = node.handed.take() {
                return Turn::Handed(block);
            }
            if !node.queued.get() {
                // SAFETY: inside the critical section; our node is valid (pinned in
                // this future, which unlinks it before it goes) and not queued.
                unsafe { waiters.enqueue(queue, node) };
                if !this.entered.replace(true) {
                    waiters.count_wait();
                }
            }
            let stale = node.waker.take();
            if stale.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                node.waker.set(stale);
            } else {
                node.waker.set(Some(cx.waker().clone()));
                old_waker = stale;
            }
            if ptr::eq(queue.first, node) {
                Turn::First(waiters.first.register(cx.waker()))
            } else {
                Turn::Behind
            }
        });
        drop(old_waker);
        match turn {
            Turn::Handed(block) => {
                // SAFETY: `pass_on` handed us this block of our pool, taken for us
                // alone.
                Poll::Ready(unsafe {
                    Box::from_block(block.cast::<Block<P::Data>>(), this.pool.clone())
                })
            }
            Turn::First(registered) => match this.try_as_first(registered, cx.waker()) {
                Some(block) => Poll::Ready(block),
                None => Poll::Pending,
            },
            Turn::Behind => Poll::Pending,
        }
    }
}

#[cfg(feature = "async")]
impl<P: PoolHandle + Clone> Drop for AllocFuture<P> {
    fn drop(&mut self) {
        if !self.entered.get() {
            // Never queued (it completed at once, or was never polled).
            return;
        }
        let waiters = self.pool.waiters();
        let node = &self.node;
        let (was_first, handed, waker) = waiters.with_queue(|queue| {
            let was_first = ptr::eq(queue.first, node);
            if node.queued.get() {
                // SAFETY: inside the critical section; our node is in this queue.
                unsafe { waiters.dequeue(queue, node) };
            }
            (was_first, node.handed.take(), node.waker.take())
        });
        drop(waker);
        if let Some(block) = handed {
            // A block handed to us that we never took: back to the pool (its release
            // wakes the next first waiter).
            // SAFETY: handed to us alone by `pass_on`, unused.
            unsafe { self.pool.release(block.cast()) };
        }
        if was_first {
            // We may have been woken for a block we now leave: pass the turn on.
            waiters.pass_on(&self.pool);
        }
    }
}
