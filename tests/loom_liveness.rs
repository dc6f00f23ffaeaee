//! loom models of liveness: `alloc` never returns `None` while a block is free, under
//! every interleaving (up to a preemption bound) of the real `tagged_index` free list.
//!
//! Run: `RUSTFLAGS="--cfg blockpool_loom" cargo test --release --test loom_liveness -- --nocapture`
//! (`LOOM_MAX_PREEMPTIONS` bounds the models; 2 when unset).
//!
//! In each model `threads` threads share a pool of `threads` blocks and each holds at
//! most one block: a thread calls `alloc` only while it holds none, so the others hold
//! (or are popping) at most `threads - 1` blocks and one is always free. A pop that loses
//! its compare-and-swap race (the fast path's, which falls to the slow path, or the slow
//! path's) and gives up instead of retrying shows up here as a `None`.
#![cfg(blockpool_loom)]

use loom::thread;

use blockpool::StaticPool;

#[path = "common/loom_explore.rs"]
mod loom_explore;
use loom_explore::{explore, grown_pool, leak, Bound::FromEnv};

/// 2 threads on a 2-block pool, each alloc → free `rounds` times through `alloc`: every
/// alloc finds a block; at the end both blocks are free.
fn two_threads<B>(rounds: usize, alloc: impl Fn() -> Option<B> + Copy + Send + 'static) {
    let threads: Vec<_> = (0..2)
        .map(|t| {
            thread::spawn(move || {
                for round in 0..rounds {
                    let block = alloc().unwrap_or_else(|| {
                        panic!("thread {t}, round {round}: alloc returned None with a block free")
                    });
                    drop(block);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let drained: Vec<_> = std::iter::from_fn(alloc).collect();
    assert_eq!(drained.len(), 2, "every block free at the end");
}

/// One round each: a lost fast-path CAS (the other thread popped between our load and
/// our CAS) must fall through to the slow path and succeed there.
#[test]
fn pool_two_threads_one_round() {
    explore("pool_two_threads_one_round", FromEnv(2), || {
        let pool = grown_pool(2);
        two_threads(1, move || pool.alloc())
    });
}

/// Two rounds each: the slow path's own CAS can lose to a pop *and* a push of the other
/// thread (the head moved on and came back to a block), and must retry.
#[test]
fn pool_two_threads_two_rounds() {
    explore("pool_two_threads_two_rounds", FromEnv(2), || {
        let pool = grown_pool(2);
        two_threads(2, move || pool.alloc())
    });
}

/// `StaticPool`: a pop that finds the free list empty falls back to claiming a
/// never-used block; 2 threads on 2 blocks, alloc → free twice each.
#[test]
fn static_pool_two_threads_two_rounds() {
    explore("static_pool_two_threads_two_rounds", FromEnv(2), || {
        let pool = leak(StaticPool::<u64, 2>::new());
        two_threads(2, move || pool.alloc())
    });
}
