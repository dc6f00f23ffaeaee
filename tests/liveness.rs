//! Liveness: `alloc` succeeds whenever a block is free, also under contention.
//!
//! `THREADS` threads (more than this machine's cores, so that preemption lands inside
//! pops and pushes) share a pool of `THREADS * HOLD` blocks, and each thread holds at
//! most `HOLD` blocks. A thread calls `alloc` only while it holds fewer than `HOLD`, so
//! at every moment of that call the others hold (or are popping) at most
//! `(THREADS - 1) * HOLD` blocks and at least one block is free: a `None` is a bug (for
//! instance a pop that lost its compare-and-swap race and gave up instead of retrying).
//!
//! Size: `BLOCKPOOL_LIVENESS_OPS` allocations per thread (default 200,000; 100 under
//! Miri).

use std::collections::VecDeque;
use std::sync::Barrier;
use std::thread;

use blockpool::{pool, Block, Box, Pool, PoolHandle, StaticPool, Uninit};

const THREADS: usize = 4;
const HOLD: usize = 2;
const BLOCKS: usize = THREADS * HOLD;

fn ops() -> usize {
    if cfg!(miri) {
        return 100;
    }
    std::env::var("BLOCKPOOL_LIVENESS_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000)
}

/// Each thread allocates `ops()` times through `alloc`, holding at most `HOLD` blocks,
/// and frees in an order that varies with the round; every `alloc` must succeed. At the
/// end all `BLOCKS` blocks must be free (drained through `alloc` too).
fn hammer<P>(alloc: fn() -> Option<Box<P, Uninit>>)
where
    P: PoolHandle<Data = u64> + Send + 'static,
{
    let ops = ops();
    let start = std::sync::Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS as u64)
        .map(|owner| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let mut held: VecDeque<Box<P>> = VecDeque::with_capacity(HOLD);
                for round in 0..ops {
                    // Fewer than HOLD held here: at least one block is free.
                    let stamp = owner << 32 | round as u64;
                    let Some(block) = alloc() else {
                        panic!(
                            "thread {owner}, round {round}: alloc returned None while at \
                             least one block was free (holding {} of {HOLD})",
                            held.len()
                        );
                    };
                    let block = block.init(stamp);
                    held.push_back(block);
                    // Free one (or, every third round, all) so that the holdings vary.
                    if held.len() == HOLD || round % 3 == 0 {
                        while held.len() > usize::from(round % 3 != 0) {
                            let b = if round % 2 == 0 {
                                held.pop_front()
                            } else {
                                held.pop_back()
                            }
                            .unwrap();
                            assert_eq!(*b >> 32, owner, "a held block was overwritten");
                            drop(b);
                        }
                    }
                }
            })
        })
        .collect();
    // Join explicitly (Miri sees the joins as synchronisation).
    for t in threads {
        t.join().unwrap();
    }
    let drained: Vec<_> = std::iter::from_fn(alloc).collect();
    assert_eq!(drained.len(), BLOCKS, "every block free at the end");
}

#[test]
fn pool_grown_in_two_regions() {
    static POOL: Pool<u64> = Pool::new();
    // Two `grow_exact`s: blocks of two region entries.
    for _ in 0..2 {
        let memory: &'static mut [Block<u64>] =
            std::boxed::Box::leak((0..BLOCKS / 2).map(|_| Block::new()).collect());
        assert_eq!(POOL.grow_exact(memory), BLOCKS / 2);
    }
    hammer(|| POOL.alloc());
}

#[test]
fn static_pool() {
    static POOL: StaticPool<u64, BLOCKS> = StaticPool::new();
    hammer(|| POOL.alloc());
}

pool!(Singleton: u64, blocks = BLOCKS);

#[test]
fn singleton() {
    hammer(Singleton::alloc);
}

pool!(GrownSingleton: u64);

#[test]
fn grown_singleton() {
    let memory: &'static mut [Block<u64>] =
        std::boxed::Box::leak((0..BLOCKS).map(|_| Block::new()).collect());
    assert_eq!(GrownSingleton::grow_exact(memory), BLOCKS);
    hammer(GrownSingleton::alloc);
}
