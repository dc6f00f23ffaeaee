//! loom models of liveness: `alloc` never returns `None` while a block is free, under
//! every interleaving (up to a preemption bound) of the real `tagged_index` free list.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --test loom_liveness -- --nocapture`
//! (`LOOM_MAX_PREEMPTIONS` bounds the models; 2 when unset).
//!
//! In each model `threads` threads share a pool of `threads` blocks and each holds at
//! most one block: a thread calls `alloc` only while it holds none, so the others hold
//! (or are popping) at most `threads - 1` blocks and one is always free. A pop that loses
//! its compare-and-swap race (the fast path's, which falls to the slow path, or the slow
//! path's) and gives up instead of retrying shows up here as a `None`.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Instant;

use loom::thread;

use blockpool::{Block, Pool, StaticPool};

fn leak<T>(value: T) -> &'static T {
    std::boxed::Box::leak(std::boxed::Box::new(value))
}

/// Runs `f` under loom with `LOOM_MAX_PREEMPTIONS` (2 when unset) and prints how many
/// executions loom explored and how long it took, also when the model fails.
fn explore(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(2));
    struct Report<'a> {
        name: &'a str,
        bound: Option<usize>,
        executions: &'static StdAtomicUsize,
        start: Instant,
    }
    impl Drop for Report<'_> {
        fn drop(&mut self) {
            let outcome = if std::thread::panicking() {
                "FAILED after"
            } else {
                "passed,"
            };
            println!(
                "loom {}: {outcome} {} executions, preemption bound {:?}, {:.2?}",
                self.name,
                self.executions.load(StdOrdering::Relaxed),
                self.bound,
                self.start.elapsed()
            );
        }
    }
    let executions = leak(StdAtomicUsize::new(0));
    let _report = Report {
        name,
        bound: builder.preemption_bound,
        executions,
        start: Instant::now(),
    };
    builder.check(move || {
        executions.fetch_add(1, StdOrdering::Relaxed);
        f()
    });
}

/// A `Pool` of `blocks` blocks added with one `grow_exact`.
fn grown_pool(blocks: usize) -> &'static Pool<u64> {
    let pool = leak(Pool::new());
    let memory: &'static mut [Block<u64>] = Vec::leak((0..blocks).map(|_| Block::new()).collect());
    assert_eq!(pool.grow_exact(memory), blocks);
    pool
}

/// 2 threads on a 2-block `Pool`, each alloc → free `rounds` times: every alloc finds a
/// block.
fn two_threads(rounds: usize) {
    let pool = grown_pool(2);
    let threads: Vec<_> = (0..2)
        .map(|t| {
            thread::spawn(move || {
                for round in 0..rounds {
                    let block = pool.alloc().unwrap_or_else(|| {
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
    let drained: Vec<_> = std::iter::from_fn(|| pool.alloc()).collect();
    assert_eq!(drained.len(), 2, "every block free at the end");
}

/// One round each: a lost fast-path CAS (the other thread popped between our load and
/// our CAS) must fall through to the slow path and succeed there.
#[test]
fn pool_two_threads_one_round() {
    explore("pool_two_threads_one_round", || two_threads(1));
}

/// Two rounds each: the slow path's own CAS can lose to a pop *and* a push of the other
/// thread (the head moved on and came back to a block), and must retry.
#[test]
fn pool_two_threads_two_rounds() {
    explore("pool_two_threads_two_rounds", || two_threads(2));
}

/// `StaticPool`: a pop that finds the free list empty falls back to claiming a
/// never-used block; 2 threads on 2 blocks, alloc → free twice each.
#[test]
fn static_pool_two_threads_two_rounds() {
    explore("static_pool_two_threads_two_rounds", || {
        let pool = leak(StaticPool::<u64, 2>::new());
        let threads: Vec<_> = (0..2)
            .map(|t| {
                thread::spawn(move || {
                    for round in 0..2 {
                        let block = pool.alloc().unwrap_or_else(|| {
                            panic!(
                                "thread {t}, round {round}: alloc returned None with a block free"
                            )
                        });
                        drop(block);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let drained: Vec<_> = std::iter::from_fn(|| pool.alloc()).collect();
        assert_eq!(drained.len(), 2, "every block free at the end");
    });
}
