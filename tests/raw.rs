//! `Box::into_raw` / `Box::from_raw`: round trips, singletons, the debug-build ownership
//! check, and a block round-tripped many times while another thread pops and pushes
//! (a block's ABA version lives in its header, never in the pointer, so nothing is reset).

use std::collections::HashSet;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use blockpool::{pool, Block, Box, Pool, StaticPool, Uninit};

fn leak_blocks<T>(n: usize) -> &'static mut [Block<T>] {
    std::boxed::Box::leak((0..n).map(|_| Block::new()).collect())
}

#[test]
fn round_trip_keeps_the_value_and_returns_the_block_once() {
    struct Counted(u32);
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }
    let drops = &DROPS;
    // In a `static`, so that Miri sees the leaked blocks reachable through it.
    static POOL: Pool<Counted> = Pool::new();
    let pool = &POOL;
    assert_eq!(pool.grow_exact(leak_blocks(1)), 1);

    let raw = pool.alloc_value(Counted(5)).ok().unwrap().into_raw();
    assert!(pool.alloc().is_none(), "into_raw returned the block");
    // SAFETY: `raw` points to the live value.
    assert_eq!(unsafe { raw.as_ref() }.0, 5);
    // SAFETY: `raw` points to the live value and nothing else uses it.
    unsafe { (*raw.as_ptr()).0 = 6 };
    // SAFETY: from `into_raw` of a box of `pool`, rebuilt once.
    let back = unsafe { Box::<&Pool<Counted>>::from_raw(raw, pool) };
    assert_eq!(back.0, 6);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        0,
        "the round trip dropped the value"
    );
    drop(back);
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    assert!(pool.alloc().is_some(), "the block did not come back");
}

#[test]
fn uninit_round_trip() {
    static POOL: StaticPool<[u8; 32], 1> = StaticPool::new();
    let raw = POOL.alloc().unwrap().into_raw();
    // SAFETY: from `into_raw` of an uninitialised box of `POOL`.
    let mut back = unsafe { Box::<&StaticPool<[u8; 32], 1>, Uninit>::from_raw(raw, &POOL) };
    assert_eq!(back.as_mut_ptr(), raw.as_ptr());
    let back = back.init([3; 32]);
    assert_eq!(back[31], 3);
    drop(back);
    assert!(POOL.alloc().is_some());
}

#[test]
fn singleton_from_raw() {
    pool!(Words: u64, blocks = 2);
    let raw: NonNull<u64> = Words::alloc_value(42).unwrap().into_raw();
    // SAFETY: from `into_raw` of a box of `Words`.
    let back: Box<Words> = unsafe { Words::from_raw(raw) };
    assert_eq!(*back, 42);
    assert_eq!(std::mem::size_of_val(&back), std::mem::size_of::<usize>());
}

#[test]
fn zero_sized_round_trip() {
    static POOL: StaticPool<(), 1> = StaticPool::new();
    let raw = POOL.alloc_value(()).unwrap().into_raw();
    // SAFETY: from `into_raw` of a box of `POOL`.
    let back = unsafe { Box::<&StaticPool<(), 1>>::from_raw(raw, &POOL) };
    drop(back);
}

/// One thread turns its box into a raw pointer and back, over and over, while another
/// allocates and frees on the same pool; at the end every block is free exactly once.
#[test]
fn many_round_trips_under_concurrent_traffic_keep_the_pool_intact() {
    const BLOCKS: usize = 4;
    const ROUNDS: usize = if cfg!(miri) { 50 } else { 100_000 };
    static POOL: Pool<u64> = Pool::new();
    let pool = &POOL;
    assert_eq!(pool.grow_exact(leak_blocks(BLOCKS)), BLOCKS);

    thread::scope(|s| {
        s.spawn(|| {
            let mut held = pool.alloc_value(0).unwrap();
            for i in 0..ROUNDS as u64 {
                *held = i;
                let raw = held.into_raw();
                // SAFETY: from `into_raw` of a box of `pool`, rebuilt once.
                held = unsafe { Box::from_raw(raw, pool) };
                assert_eq!(*held, i);
                if i % 7 == 0 {
                    // Give the block back and take one again now and then, so the
                    // round-tripped block also passes through the free list.
                    drop(held);
                    held = loop {
                        if let Ok(b) = pool.alloc_value(i) {
                            break b;
                        }
                        thread::yield_now();
                    };
                }
            }
        });
        s.spawn(|| {
            for i in 0..ROUNDS as u64 {
                let a = pool.alloc_value(i);
                let b = pool.alloc_value(i + 1);
                if let (Ok(a), Ok(b)) = (&a, &b) {
                    assert_ne!(a.as_ptr(), b.as_ptr(), "a block was handed out twice");
                }
            }
        });
    });

    let held: Vec<_> = std::iter::from_fn(|| pool.alloc()).collect();
    assert_eq!(held.len(), BLOCKS, "a block was lost");
    let distinct: HashSet<_> = held.iter().map(|b| b.as_ptr() as usize).collect();
    assert_eq!(distinct.len(), BLOCKS, "a block is on the free list twice");
}

/// A pointer of pool `A` given to `B`'s `from_raw`: the check (in every build) panics
/// before anything is built, so `B` never gets `A`'s block, and both pools stay whole.
#[test]
fn from_raw_with_the_wrong_static_pool_panics_and_corrupts_nothing() {
    static A: StaticPool<u32, 2> = StaticPool::new();
    static B: StaticPool<u32, 2> = StaticPool::new();
    let raw = A.alloc_value(1).unwrap().into_raw();
    let result = std::panic::catch_unwind(|| {
        // SAFETY: deliberately broken (wrong pool); the check stops it.
        std::mem::forget(unsafe { Box::<&StaticPool<u32, 2>>::from_raw(raw, &B) });
    });
    let message = result.unwrap_err();
    let message = message.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("not a block of this pool"), "{message}");
    let b: Vec<_> = std::iter::from_fn(|| B.alloc()).collect();
    assert_eq!(b.len(), 2, "B gained or lost a block");
    assert!(
        b.iter().all(|x| x.as_ptr() != raw.as_ptr()),
        "B hands out A's block"
    );
    // SAFETY: from `into_raw` of a box of `A`, rebuilt once.
    drop(unsafe { Box::<&StaticPool<u32, 2>>::from_raw(raw, &A) });
    assert_eq!(
        std::iter::from_fn(|| A.alloc()).collect::<Vec<_>>().len(),
        2
    );
}

#[test]
fn from_raw_with_the_wrong_instance_pool_panics_where_the_backend_can_tell() {
    static A: Pool<u32> = Pool::new();
    static B: Pool<u32> = Pool::new();
    let (a, b) = (&A, &B);
    assert_eq!(a.grow_exact(leak_blocks(2)), 2);
    assert_eq!(b.grow_exact(leak_blocks(2)), 2);
    let raw = a.alloc_value(1).ok().unwrap().into_raw();
    let result = std::panic::catch_unwind(|| {
        // SAFETY: deliberately broken (wrong pool); the check stops it on this backend.
        std::mem::forget(unsafe { Box::<&Pool<u32>>::from_raw(raw, b) });
    });
    if blockpool::BACKEND == "tagged_index" {
        let message = result.unwrap_err();
        let message = message.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(message.contains("not a block of this pool"), "{message}");
        let all: Vec<_> = std::iter::from_fn(|| b.alloc()).collect();
        assert_eq!(all.len(), 2, "B changed");
    }
    // The right pool is accepted.
    // SAFETY: from `into_raw` of a box of `a`.
    drop(unsafe { Box::<&Pool<u32>>::from_raw(raw, a) });
}

/// The same check on `Arc::from_raw`.
#[test]
fn arc_from_raw_with_the_wrong_pool_panics() {
    use blockpool::{Arc, ArcPool};
    static A: ArcPool<u32, 2> = ArcPool::new();
    static B: ArcPool<u32, 2> = ArcPool::new();
    let raw = Arc::into_raw(A.alloc(7).unwrap());
    let result = std::panic::catch_unwind(|| {
        // SAFETY: deliberately broken (wrong pool); the check stops it.
        std::mem::forget(unsafe { Arc::<&ArcPool<u32, 2>>::from_raw(raw, &B) });
    });
    assert!(result.is_err());
    // SAFETY: from `into_raw` of an `Arc` of `A`, rebuilt once.
    let back = unsafe { Arc::<&ArcPool<u32, 2>>::from_raw(raw, &A) };
    assert_eq!(*back, 7);
    drop(back);
    let all: Vec<_> = std::iter::from_fn(|| A.alloc(0).ok()).collect();
    assert_eq!(all.len(), 2);
    assert_eq!(
        std::iter::from_fn(|| B.alloc(0).ok())
            .collect::<Vec<_>>()
            .len(),
        2
    );
}

/// A box drops its pool handle exactly once, whichever way it ends (a handle with drop
/// glue: only a custom `PoolHandle` can have one).
#[test]
fn the_pool_handle_is_dropped_exactly_once() {
    use blockpool::PoolHandle;
    static HANDLE_DROPS: AtomicUsize = AtomicUsize::new(0);
    static POOL: StaticPool<u32, 2> = StaticPool::new();
    struct Counting;
    impl Drop for Counting {
        fn drop(&mut self) {
            HANDLE_DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }
    // SAFETY: forwards to `POOL`'s own handle.
    unsafe impl PoolHandle for Counting {
        type Data = u32;
        fn take(&self) -> Option<NonNull<Block<u32>>> {
            PoolHandle::take(&&POOL)
        }
        unsafe fn release(&self, block: NonNull<Block<u32>>) {
            // SAFETY: forwarded.
            unsafe { PoolHandle::release(&&POOL, block) }
        }
        fn waiters(&self) -> &blockpool::__private::Waiters {
            POOL.__waiters()
        }
        fn cache_shared(&self) -> &blockpool::__private::CacheShared {
            POOL.__cache_shared()
        }
    }
    let drops = || HANDLE_DROPS.load(Ordering::Relaxed);
    drop(Box::alloc_value_in(Counting, 1).ok().unwrap());
    assert_eq!(drops(), 1, "drop");
    let _ = Box::alloc_value_in(Counting, 2).ok().unwrap().into_inner();
    assert_eq!(drops(), 2, "into_inner");
    let raw = Box::alloc_value_in(Counting, 3).ok().unwrap().into_raw();
    assert_eq!(drops(), 3, "into_raw");
    // SAFETY: from `into_raw` of a box of this pool.
    drop(unsafe { Box::<Counting>::from_raw(raw, Counting) });
    assert_eq!(drops(), 4, "from_raw then drop");
    let uninit = Box::alloc_in(Counting).unwrap();
    // SAFETY: initialised just before.
    let init = unsafe {
        let mut uninit = uninit;
        uninit.as_mut_ptr().write(5);
        uninit.assume_init()
    };
    drop(init);
    assert_eq!(drops(), 5, "assume_init then drop");
}
