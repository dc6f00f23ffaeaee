//! `alloc_async` woken by a free in a signal handler on the *same* thread, the host's
//! stand-in for an interrupt handler freeing a block that thread mode awaits.
//!
//! One thread awaits a block of a one-block pool with a minimal executor (poll; while
//! pending, spin until the waker's flag is set). The block it got the round before sits
//! in a static as a raw pointer; a `SIGALRM` handler (interval timer, 100 µs) turns it
//! back into a box and drops it, which returns the block and wakes the waiter — often
//! while the waiter is in the middle of registering its waker, the interleaving the
//! `AtomicWaker`-style slot resolves without waiting. A lost wake-up leaves the waiter
//! spinning: after 5 s the test fails.
//!
//! Everything the handler and the waker touch is an atomic or the pool: no allocation,
//! no lock (the waker is a static no-refcount `RawWaker`). `harness = false`, so the
//! signal lands on this thread. Rounds: `BLOCKPOOL_ASYNC_SIGNAL_ROUNDS` (default 20,000).

use std::future::Future;
use std::pin::pin;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use blockpool::{Box, StaticPool};

#[path = "common/signals.rs"]
mod signals;
use signals::{env, install, set_timer, skipped_under_miri};

static POOL: StaticPool<[u64; 4], 1> = StaticPool::new();
/// The block for the handler to free (null when it has none).
static TO_FREE: AtomicPtr<[u64; 4]> = AtomicPtr::new(ptr::null_mut());
static FREED_IN_HANDLER: AtomicUsize = AtomicUsize::new(0);
static WOKEN: AtomicBool = AtomicBool::new(false);
static WAKES: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_timer(_: libc::c_int) {
    let raw = TO_FREE.swap(ptr::null_mut(), Ordering::AcqRel);
    if let Some(raw) = NonNull::new(raw) {
        // SAFETY: the main thread stored a pointer from `into_raw` of a box of `POOL`,
        // and the swap hands it to exactly one handler run.
        drop(unsafe { Box::<&StaticPool<[u64; 4], 1>>::from_raw(raw, &POOL) });
        FREED_IN_HANDLER.fetch_add(1, Ordering::Relaxed);
    }
}

/// A waker that sets `WOKEN`; no data, no reference count (async-signal-safe).
fn flag_waker() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(ptr::null(), &VTABLE)
    }
    fn wake(_: *const ()) {
        WAKES.fetch_add(1, Ordering::Relaxed);
        WOKEN.store(true, Ordering::Release);
    }
    fn drop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);
    // SAFETY: the vtable's functions ignore the data pointer and uphold the `RawWaker`
    // contract (cloning gives an equivalent waker, waking is idempotent).
    unsafe { Waker::from_raw(RawWaker::new(ptr::null(), &VTABLE)) }
}

/// Polls `future` to completion on this thread, spinning while it is pending; panics if
/// no wake-up comes within 5 s.
fn block_on<F: Future>(future: F) -> F::Output {
    let waker = flag_waker();
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        WOKEN.store(false, Ordering::Relaxed);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        let start = Instant::now();
        while !WOKEN.load(Ordering::Acquire) {
            std::hint::spin_loop();
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "lost wake-up: the future stayed pending"
            );
        }
    }
}

fn main() {
    if skipped_under_miri("async_signal: skipped under Miri (no signals)") {
        return;
    }
    let rounds = env("BLOCKPOOL_ASYNC_SIGNAL_ROUNDS", 20_000);
    install(libc::SIGALRM, on_timer);
    set_timer(100);
    let started = Instant::now();
    for round in 0..rounds as u64 {
        let mut block = block_on(POOL.alloc_async()).init([round; 4]);
        block[3] = !round;
        assert_eq!((block[0], block[3]), (round, !round));
        // Hand it to the handler, which frees it while we wait for the next one.
        TO_FREE.store(block.into_raw().as_ptr(), Ordering::Release);
    }
    set_timer(0);
    // The last block: whoever still holds it gives it back.
    if let Some(raw) = NonNull::new(TO_FREE.swap(ptr::null_mut(), Ordering::AcqRel)) {
        // SAFETY: as in the handler; the timer is off, so only we can take it.
        drop(unsafe { Box::<&StaticPool<[u64; 4], 1>>::from_raw(raw, &POOL) });
    }
    assert!(POOL.alloc().is_some(), "the block was lost");
    let freed = FREED_IN_HANDLER.load(Ordering::Relaxed);
    let wakes = WAKES.load(Ordering::Relaxed);
    println!(
        "async_signal: {rounds} rounds in {:?}; {freed} blocks freed in the handler, \
         {wakes} wake-ups",
        started.elapsed()
    );
    assert!(
        freed + 1 >= rounds,
        "every block but the last was freed by the handler"
    );
    assert!(wakes > 0, "the handler never woke the waiter");
}
