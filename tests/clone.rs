//! `Box: Clone` (and `Box::try_clone`): the clone takes another block of the same pool,
//! an exhausted pool gives `None` (`try_clone`) or a panic (`clone`) without calling
//! `T::clone`, and a `T::clone` that panics loses no block.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use blockpool::{pool, Block, Box, Init, Pool, PoolHandle, ScopedPool, StaticPool};

/// How many blocks `pool` can still hand out: allocates until it is exhausted, then
/// frees them all again. (Written against `PoolHandle`, so one helper serves every
/// pool kind; not for zero-sized types, whose pools never run out.)
fn free_blocks<P: PoolHandle + Copy>(pool: P) -> usize {
    let held: Vec<_> = std::iter::from_fn(|| Box::alloc_in(pool)).collect();
    held.len()
}

/// Checks that `a.clone()` and `a.try_clone()` give equal values in blocks of their own,
/// taken from `a`'s pool and given back to it when dropped.
fn clone_takes_a_block_of_the_same_pool<P>(a: &Box<P, Init>, pool: P)
where
    P: PoolHandle + Copy,
    P::Data: Clone + PartialEq + std::fmt::Debug,
{
    let before = free_blocks(pool);
    let b = a.clone();
    let c = a.try_clone().expect("the pool had a free block");
    assert_eq!(*b, **a);
    assert_eq!(*c, **a);
    let addresses = [a.as_ptr(), b.as_ptr(), c.as_ptr()];
    assert!(
        addresses[0] != addresses[1]
            && addresses[0] != addresses[2]
            && addresses[1] != addresses[2],
        "a clone shares a block: {addresses:?}"
    );
    assert_eq!(
        free_blocks(pool),
        before - 2,
        "the clones' blocks came from elsewhere"
    );
    drop((b, c));
    assert_eq!(
        free_blocks(pool),
        before,
        "the clones' blocks went elsewhere"
    );
}

#[test]
fn static_pool_box_clones_into_its_own_pool() {
    static POOL: StaticPool<[u32; 4], 4> = StaticPool::new();
    let a: Box<&'static StaticPool<[u32; 4], 4>> = POOL.alloc_value([1, 2, 3, 4]).unwrap();
    clone_takes_a_block_of_the_same_pool(&a, &POOL);
}

pool!(Singleton: [u8; 24], blocks = 3);

#[test]
fn singleton_box_clones_into_its_own_pool() {
    let a: Box<Singleton> = Singleton::alloc_value([9; 24]).unwrap();
    clone_takes_a_block_of_the_same_pool(&a, Singleton);
}

#[test]
fn instance_and_scoped_pool_boxes_clone_into_their_own_pools() {
    let pool = Pool::<u64>::new();
    let blocks = std::boxed::Box::leak((0..3).map(|_| Block::new()).collect());
    assert_eq!(pool.grow_exact(blocks), 3);
    let a = pool.alloc_value(u64::MAX).unwrap();
    clone_takes_a_block_of_the_same_pool(&a, &pool);

    let mut blocks = [const { Block::<String>::new() }; 3];
    let scoped = ScopedPool::new(&mut blocks);
    let a = scoped.alloc_value("scoped".to_string()).unwrap();
    clone_takes_a_block_of_the_same_pool(&a, &scoped);
}

/// Counts its clones; its `clone` panics when asked to.
#[derive(Debug)]
struct Counted<'a> {
    value: u32,
    clones: &'a AtomicUsize,
    panic_in_clone: bool,
}

impl Clone for Counted<'_> {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::Relaxed);
        if self.panic_in_clone {
            panic!("Counted::clone panics, as asked");
        }
        Self { ..*self }
    }
}

#[test]
fn exhausted_pool_try_clone_is_none_and_clone_panics_without_cloning() {
    static CLONES: AtomicUsize = AtomicUsize::new(0);
    static POOL: StaticPool<Counted<'static>, 1> = StaticPool::new();
    let only = POOL
        .alloc_value(Counted {
            value: 5,
            clones: &CLONES,
            panic_in_clone: false,
        })
        .unwrap();

    assert!(only.try_clone().is_none());
    let panic = catch_unwind(AssertUnwindSafe(|| only.clone())).unwrap_err();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(
        message.contains("pool is exhausted"),
        "unexpected panic: {message:?}"
    );
    assert_eq!(
        CLONES.load(Ordering::Relaxed),
        0,
        "T::clone ran for a clone that failed"
    );

    // The box and the pool are as they were.
    assert_eq!(only.value, 5);
    drop(only);
    assert_eq!(free_blocks(&POOL), 1);
}

#[test]
#[should_panic(expected = "blockpool: Box::clone: the pool is exhausted")]
fn clone_of_a_box_of_an_exhausted_singleton_panics() {
    pool!(One: u16, blocks = 1);
    let only = One::alloc_value(1).unwrap();
    let _never = only.clone();
}

#[test]
fn panicking_t_clone_loses_no_block() {
    static CLONES: AtomicUsize = AtomicUsize::new(0);
    static POOL: StaticPool<Counted<'static>, 4> = StaticPool::new();
    let fragile = POOL
        .alloc_value(Counted {
            value: 1,
            clones: &CLONES,
            panic_in_clone: true,
        })
        .unwrap();
    assert_eq!(free_blocks(&POOL), 3);

    for _ in 0..10 {
        assert!(catch_unwind(AssertUnwindSafe(|| fragile.clone())).is_err());
        assert!(catch_unwind(AssertUnwindSafe(|| fragile.try_clone())).is_err());
    }
    assert_eq!(
        CLONES.load(Ordering::Relaxed),
        20,
        "T::clone was not reached"
    );
    assert_eq!(free_blocks(&POOL), 3, "a block was lost while unwinding");

    drop(fragile);
    assert_eq!(free_blocks(&POOL), 4);
}

#[test]
fn panicking_t_clone_loses_no_block_of_a_grown_pool() {
    // The instance pool's blocks are counted by its free list alone (no fresh-block
    // counter), so this checks the unwinding path's push as well.
    let clones = AtomicUsize::new(0);
    let pool = Pool::<Counted<'_>>::new();
    let blocks = std::boxed::Box::leak((0..2).map(|_| Block::new()).collect());
    assert_eq!(pool.grow_exact(blocks), 2);
    let fragile = pool
        .alloc_value(Counted {
            value: 2,
            clones: &clones,
            panic_in_clone: true,
        })
        .unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| fragile.try_clone())).is_err());
    assert_eq!(clones.load(Ordering::Relaxed), 1);
    assert_eq!(free_blocks(&pool), 1);
}

#[test]
fn clones_are_dropped_once_each() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);

    #[derive(Clone, Debug)]
    struct Dropped(#[allow(dead_code)] u8);
    impl Drop for Dropped {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }

    static POOL: StaticPool<Dropped, 3> = StaticPool::new();
    let a = POOL.alloc_value(Dropped(1)).unwrap();
    let b = a.clone();
    let c = b.try_clone().unwrap();
    assert!(c.try_clone().is_none());
    assert_eq!(DROPS.load(Ordering::Relaxed), 0);
    drop((a, b, c));
    assert_eq!(DROPS.load(Ordering::Relaxed), 3);
    assert_eq!(free_blocks(&POOL), 3);
}

#[test]
fn zero_sized_values_always_clone() {
    pool!(Unit: (), blocks = 1);
    let a = Unit::alloc_value(()).unwrap();
    let clones: Vec<_> = (0..100).map(|_| a.clone()).collect();
    assert_eq!(clones.len(), 100);
    assert!(a.try_clone().is_some());
}
