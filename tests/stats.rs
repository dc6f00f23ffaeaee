//! Pool statistics (feature `stats`) on every pool kind, and their invariants under
//! concurrent traffic: `in_use` never above the capacity, exact when quiet.
#![cfg(feature = "stats")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use blockpool::{pool, Block, ObjectPool, Pool, ScopedPool, StaticPool, Stats};

/// `Stats` is `#[non_exhaustive]`, so a test cannot build one: it compares the fields,
/// as (capacity, in use, high-water mark, failures).
fn fields(stats: Stats) -> (usize, usize, usize, usize) {
    (
        stats.capacity,
        stats.in_use,
        stats.high_water,
        stats.failures,
    )
}

#[test]
fn static_pool() {
    static POOL: StaticPool<u64, 3> = StaticPool::new();
    assert_eq!(fields(POOL.stats()), (3, 0, 0, 0));
    let a = POOL.alloc_value(1).unwrap();
    let b = POOL.alloc_value(2).unwrap();
    assert_eq!(fields(POOL.stats()), (3, 2, 2, 0));
    drop(a);
    let c = POOL.alloc().unwrap();
    let d = POOL.alloc().unwrap();
    assert!(POOL.alloc().is_none());
    assert!(POOL.alloc_value(9).is_err());
    assert_eq!(fields(POOL.stats()), (3, 3, 3, 2));
    drop((b, c, d));
    assert_eq!(fields(POOL.stats()), (3, 0, 3, 2));
    POOL.reset_high_water();
    assert_eq!(fields(POOL.stats()), (3, 0, 0, 2));
    // Into/from raw does not count as a free.
    let raw = POOL.alloc_value(5).unwrap().into_raw();
    assert_eq!(POOL.stats().in_use, 1);
    // SAFETY: from `into_raw` of a box of `POOL`.
    drop(unsafe { blockpool::Box::<&StaticPool<u64, 3>>::from_raw(raw, &POOL) });
    assert_eq!(POOL.stats().in_use, 0);
}

#[test]
fn instance_pool_counts_its_capacity() {
    static POOL: Pool<[u8; 32]> = Pool::new();
    assert_eq!(fields(POOL.stats()), (0, 0, 0, 0));
    assert!(POOL.alloc().is_none());
    assert_eq!(POOL.stats().failures, 1);
    let memory: &'static mut [Block<[u8; 32]>] = Box::leak((0..4).map(|_| Block::new()).collect());
    assert_eq!(POOL.grow_exact(memory), 4);
    let grown = POOL.grow(Box::leak(vec![0u8; 200].into_boxed_slice()));
    assert!(grown >= 200 / 40 - 1, "{grown}"); // 5, or 4 if the start needed aligning
    assert_eq!(POOL.stats().capacity, 4 + grown);
    let held: Vec<_> = std::iter::from_fn(|| POOL.alloc()).collect();
    assert_eq!(fields(POOL.stats()), (4 + grown, 4 + grown, 4 + grown, 2));
    drop(held);
    assert_eq!(POOL.stats().in_use, 0);
}

#[test]
fn singleton_scoped_object_and_arc_pools() {
    pool!(Single: u32, blocks = 2);
    let a = Single::alloc_value(1).unwrap();
    assert_eq!(fields(Single::instance().stats()), (2, 1, 1, 0));
    drop(a);

    let mut blocks = [const { Block::<u16>::new() }; 2];
    let scoped = ScopedPool::new(&mut blocks);
    let x = scoped.alloc_value(1).unwrap();
    assert!(scoped.alloc_value(2).is_ok());
    assert_eq!(fields(scoped.stats()), (2, 1, 2, 0));
    drop(x);

    static OBJECTS: ObjectPool<[u8; 8], 1> = ObjectPool::new([0; 8]);
    let objects = &OBJECTS;
    let o = objects.request().unwrap();
    assert!(objects.request().is_none());
    assert_eq!(fields(objects.stats()), (1, 1, 1, 1));
    drop(o);
    assert_eq!(objects.stats().in_use, 0);

    static ARCS: blockpool::ArcPool<u8, 2> = blockpool::ArcPool::new();
    let a = ARCS.alloc(1).unwrap();
    let w = blockpool::Arc::downgrade(&a);
    drop(a);
    assert_eq!(ARCS.stats().in_use, 1, "a Weak keeps the block");
    drop(w);
    assert_eq!(fields(ARCS.stats()), (2, 0, 1, 0));
}

#[test]
fn readable_while_other_threads_allocate() {
    const BLOCKS: usize = 4;
    const ROUNDS: usize = if cfg!(miri) { 30 } else { 50_000 };
    static POOL: StaticPool<[u64; 2], BLOCKS> = StaticPool::new();
    let finished = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for i in 0..ROUNDS as u64 {
                    let a = POOL.alloc_value([i; 2]);
                    let b = POOL.alloc_value([i; 2]);
                    drop((a, b));
                }
                finished.fetch_add(1, Ordering::Relaxed);
            });
        }
        s.spawn(|| loop {
            let now = POOL.stats();
            assert!(now.in_use <= BLOCKS, "{now:?}");
            assert!(now.high_water <= BLOCKS, "{now:?}");
            if finished.load(Ordering::Relaxed) == 2 {
                break;
            }
            thread::yield_now();
        });
    });
    let end = POOL.stats();
    assert_eq!(end.in_use, 0);
    assert_eq!(end.capacity, BLOCKS);
    assert!(end.high_water <= BLOCKS);
}

/// `reset_high_water` racing allocations and frees, with a reader checking the bounds on
/// every snapshot. Once the pool is quiet, the mark must cover what is in use: a reset
/// made as a plain load-then-store loses an allocation that lands between the two
/// (caught for certain by `tests/loom_stats.rs`; here the race is real but rare).
#[test]
fn reset_racing_allocations_keeps_the_bounds() {
    const BLOCKS: usize = 8;
    const THREADS: usize = 3;
    const HELD: usize = 2; // blocks each worker keeps at the end
    const ROUNDS: usize = if cfg!(miri) { 20 } else { 20_000 };
    static POOL: StaticPool<[u64; 2], BLOCKS> = StaticPool::new();
    for trial in 0..if cfg!(miri) { 1 } else { 20 } {
        let finished = AtomicUsize::new(0);
        let held = thread::scope(|s| {
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let finished = &finished;
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        for i in 0..ROUNDS {
                            if let Ok(b) = POOL.alloc_value([i as u64; 2]) {
                                mine.push(b);
                            }
                            if mine.len() > HELD || (i + t) % 3 == 0 {
                                mine.pop();
                            }
                        }
                        // End holding blocks, allocated while the resetter still runs.
                        while mine.len() < HELD {
                            if let Ok(b) = POOL.alloc_value([0; 2]) {
                                mine.push(b);
                            }
                        }
                        finished.fetch_add(1, Ordering::Release);
                        mine
                    })
                })
                .collect();
            s.spawn(|| {
                while finished.load(Ordering::Acquire) < THREADS {
                    POOL.reset_high_water();
                    let now = POOL.stats();
                    assert!(now.in_use <= BLOCKS, "in use above capacity: {now:?}");
                    assert!(now.high_water <= BLOCKS, "mark above capacity: {now:?}");
                }
            });
            workers
                .into_iter()
                .map(|w| w.join().unwrap())
                .collect::<Vec<_>>()
        });
        let quiet = POOL.stats();
        assert_eq!(quiet.in_use, THREADS * HELD, "trial {trial}: {quiet:?}");
        assert!(
            quiet.high_water >= quiet.in_use,
            "trial {trial}: the mark lost an allocation that raced a reset: {quiet:?}"
        );
        assert!(quiet.high_water <= BLOCKS, "trial {trial}: {quiet:?}");
        drop(held);
        POOL.reset_high_water();
        assert_eq!(POOL.stats().high_water, 0);
    }
}
