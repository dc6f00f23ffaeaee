//! `ScopedPool`: a pool over a local buffer, no `static` anywhere. (The compile-fail
//! cases, a box outliving the pool and the buffer used while the pool lives, are doc
//! tests on `ScopedPool`.)

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use blockpool::{Block, ScopedPool};

#[test]
fn alloc_exhaust_reuse() {
    let mut blocks = [const { Block::<[u8; 48]>::new() }; 3];
    let pool = ScopedPool::new(&mut blocks);
    assert_eq!(pool.capacity(), 3);
    let held: Vec<_> = std::iter::from_fn(|| pool.alloc()).collect();
    assert_eq!(held.len(), 3);
    let distinct: HashSet<_> = held.iter().map(|b| b.as_ptr() as usize).collect();
    assert_eq!(distinct.len(), 3);
    assert!(pool.alloc().is_none());
    drop(held);
    assert_eq!(
        std::iter::from_fn(|| pool.alloc())
            .collect::<Vec<_>>()
            .len(),
        3
    );
}

#[test]
fn values_that_borrow_locals_and_drop_counts() {
    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let drops = AtomicUsize::new(0);
    let mut blocks = [const { Block::<Counted>::new() }; 2];
    let pool = ScopedPool::new(&mut blocks);
    let a = pool.alloc_value(Counted(&drops)).ok().unwrap();
    let b = pool.alloc_value(Counted(&drops)).ok().unwrap();
    assert!(pool.alloc_value(Counted(&drops)).is_err()); // given back, then dropped here
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    drop(a);
    let inner = b.into_inner();
    assert_eq!(drops.load(Ordering::Relaxed), 2);
    drop(inner);
    assert_eq!(drops.load(Ordering::Relaxed), 3);
    assert_eq!(
        std::iter::from_fn(|| pool.alloc())
            .collect::<Vec<_>>()
            .len(),
        2
    );
}

#[test]
fn the_buffer_can_serve_a_second_pool_after_the_first() {
    let mut blocks = [const { Block::<u64>::new() }; 4];
    {
        let pool = ScopedPool::new(&mut blocks);
        let held: Vec<_> = (0..3).map(|i| pool.alloc_value(i).unwrap()).collect();
        drop(held);
        std::mem::forget(pool.alloc_value(7).unwrap()); // leaked: the block stays taken
    }
    // A new pool over the same blocks starts with all of them free again.
    let pool = ScopedPool::new(&mut blocks);
    assert_eq!(
        std::iter::from_fn(|| pool.alloc())
            .collect::<Vec<_>>()
            .len(),
        4
    );
}

#[test]
fn empty_buffer_and_zero_sized_values() {
    let mut none: [Block<u32>; 0] = [];
    let pool = ScopedPool::new(&mut none);
    assert_eq!(pool.capacity(), 0);
    assert!(pool.alloc().is_none());

    let mut zst = [const { Block::<()>::new() }; 1];
    let pool = ScopedPool::new(&mut zst);
    let many: Vec<_> = (0..10).map(|_| pool.alloc_value(()).unwrap()).collect();
    assert_eq!(many.len(), 10);
}

#[test]
fn threads_share_a_scoped_pool() {
    const BLOCKS: usize = 4;
    const THREADS: usize = 3;
    const ROUNDS: usize = if cfg!(miri) { 20 } else { 20_000 };
    let mut blocks = [const { Block::<[u64; 4]>::new() }; BLOCKS];
    let in_use = [const { AtomicBool::new(false) }; BLOCKS];
    let pool = ScopedPool::new(&mut blocks);
    let first = {
        let held: Vec<_> = std::iter::from_fn(|| pool.alloc()).collect();
        held.iter().map(|b| b.as_ptr() as usize).min().unwrap()
    };
    let stride = std::mem::size_of::<Block<[u64; 4]>>();
    thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let (pool, in_use) = (&pool, &in_use);
            s.spawn(move || {
                for i in 0..ROUNDS as u64 {
                    let Ok(b) = pool.alloc_value([t, i, t, i]) else {
                        continue;
                    };
                    let flag = &in_use[(b.as_ptr() as usize - first) / stride];
                    assert!(!flag.swap(true, Ordering::Relaxed), "handed out twice");
                    assert_eq!(*b, [t, i, t, i]);
                    flag.store(false, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(
        std::iter::from_fn(|| pool.alloc())
            .collect::<Vec<_>>()
            .len(),
        BLOCKS
    );
}
