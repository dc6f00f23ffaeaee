//! loom models of `alloc_async`'s waiting against concurrent frees, with the library's
//! own code (`src/wait.rs`: the FIFO queue of waiters, under a loom mutex in place of
//! the critical section; the first waiter's `AtomicWaker`-style slot; the hand-offs and
//! the SeqCst fences; the `tagged_index` free list underneath) and its orderings.
//!
//! Run: `RUSTFLAGS="--cfg blockpool_loom" cargo test --release --features async --test loom_wait`
//!
//! A lost wake-up (a waiter registered too late for the free that would have woken it,
//! and too early to see the freed block) leaves `loom::future::block_on` waiting for
//! ever, which loom reports as a deadlock; a data race on the waker cell is reported by
//! loom's `UnsafeCell`.
#![cfg(all(blockpool_loom, feature = "async"))]

use std::future::Future;

use loom::future::block_on;
use loom::thread;

use blockpool::StaticPool;

/// A `'static` pool for one loom execution (leaked: loom runs a few thousand).
fn pool<const N: usize>() -> &'static StaticPool<u64, N> {
    Box::leak(Box::new(StaticPool::new()))
}

/// Runs `f` under loom with `LOOM_MAX_PREEMPTIONS` preemptions, 2 if it is not set.
fn bounded(f: impl Fn() + Sync + Send + 'static) {
    // `Builder::new` reads `LOOM_MAX_PREEMPTIONS`.
    let from_env = loom::model::Builder::new().preemption_bound;
    bounded_at(from_env.unwrap_or(2), f)
}

/// Runs `f` under loom with exactly `bound` preemptions, whatever `LOOM_MAX_PREEMPTIONS`
/// says (for a model too large for the bound CI gives the others).
fn bounded_at(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder.check(f);
}

/// One waiter, one context that frees the only block.
#[test]
fn waiter_is_woken_by_a_concurrent_free() {
    loom::model(|| {
        let pool = pool::<1>();
        let held = pool.alloc().unwrap();
        let freer = thread::spawn(move || drop(held));
        let block = block_on(pool.alloc_async());
        drop(block);
        freer.join().unwrap();
    });
}

/// Two waiters and one block, which the first to get it frees again: both finish,
/// whatever the order of their registrations and the frees.
#[test]
fn two_waiters_one_block() {
    bounded(|| {
        let pool = pool::<1>();
        let held = pool.alloc().unwrap();
        let other = thread::spawn(move || {
            drop(block_on(pool.alloc_async()));
        });
        drop(held);
        drop(block_on(pool.alloc_async()));
        other.join().unwrap();
    });
}

/// A waker that does nothing (for a future polled once and then dropped).
fn noop_waker() -> std::task::Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    std::task::Waker::from(std::sync::Arc::new(Noop))
}

/// A waiter that gives up (its future dropped after one poll) while the block is freed
/// and another waiter waits: the other one still finishes, and the cancelled one left
/// nothing behind (a third wait on the freed block completes).
#[test]
fn cancelled_waiter_does_not_swallow_the_wake_up() {
    bounded(|| {
        let pool = pool::<1>();
        let held = pool.alloc().unwrap();
        let quitter = thread::spawn(move || {
            let mut future = Box::pin(pool.alloc_async());
            let waker = noop_waker();
            let polled = future
                .as_mut()
                .poll(&mut std::task::Context::from_waker(&waker));
            drop(polled); // a block, if it got one, goes straight back
            drop(future);
        });
        let waiter = thread::spawn(move || drop(block_on(pool.alloc_async())));
        drop(held);
        quitter.join().unwrap();
        waiter.join().unwrap();
        drop(block_on(pool.alloc_async()));
    });
}

/// Two waiters queued on an empty pool of two blocks, both freed by another context
/// while the first waiter may be running: the first waiter's hand-off gives the second
/// block to the second waiter (or the second free wakes it), and a waiter dropped
/// mid-way passes its turn on. Both end with a block; none is lost.
#[test]
fn hand_off_races_frees_and_a_cancel() {
    // Four threads' worth of steps: bound 1 (2.4 s); at bound 2 this model took 151 s,
    // more than all the other loom models together.
    bounded_at(1, || {
        let pool = pool::<2>();
        let a = pool.alloc().unwrap();
        let b = pool.alloc().unwrap();
        let freer = thread::spawn(move || {
            drop(a);
            drop(b);
        });
        let second = thread::spawn(move || drop(block_on(pool.alloc_async())));
        // A third waiter that gives up after one poll, wherever it stands in the queue.
        let mut quitter = Box::pin(pool.alloc_async());
        let waker = noop_waker();
        let polled = quitter
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker));
        drop(polled);
        drop(quitter);
        drop(block_on(pool.alloc_async()));
        freer.join().unwrap();
        second.join().unwrap();
        // Both blocks are back.
        let x = pool.alloc();
        let y = pool.alloc();
        assert!(x.is_some() && y.is_some(), "a block was lost");
    });
}
