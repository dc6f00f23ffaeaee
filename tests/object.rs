//! `ObjectPool`: values stay initialised between uses; each is made once and never
//! dropped by a return, however often it is requested and returned. (A pool that hands
//! out objects is borrowed for `'static`, so it is never dropped either.)

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use blockpool::ObjectPool;

#[test]
fn values_persist_between_uses() {
    static POOL: ObjectPool<[u8; 64], 2> = ObjectPool::new([9; 64]);
    assert_eq!(POOL.capacity(), 2);
    let mut a = POOL.request().unwrap();
    assert_eq!(*a, [9; 64]);
    a[0] = 1;
    let address = a.as_ptr();
    drop(a);
    let a = POOL.request().unwrap();
    assert_eq!(a.as_ptr(), address);
    assert_eq!(a[0], 1, "the value was reset on return");
    let b = POOL.request().unwrap();
    assert_eq!(
        *b, [9; 64],
        "a fresh block is filled with the initial value"
    );
    assert!(POOL.request().is_none());
}

static MADE: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);

struct Counted(Vec<u8>);
impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}
fn make() -> Counted {
    MADE.fetch_add(1, Ordering::Relaxed);
    Counted(vec![0; 16])
}

#[test]
fn each_value_is_made_once_and_never_dropped_by_a_return() {
    static POOL: ObjectPool<Counted, 3> = ObjectPool::with_init(make);
    let pool = &POOL;
    {
        for round in 0..50 {
            let a = pool.request().unwrap();
            let mut b = pool.request().unwrap();
            b.0.push(round);
            drop(a);
            drop(b);
        }
        assert_eq!(
            MADE.load(Ordering::Relaxed),
            2,
            "only two blocks were ever used"
        );
        assert_eq!(
            DROPPED.load(Ordering::Relaxed),
            0,
            "returning dropped a value"
        );
        let held: Vec<_> = std::iter::from_fn(|| pool.request()).collect();
        assert_eq!(held.len(), 3);
        assert_eq!(MADE.load(Ordering::Relaxed), 3);
        drop(held);
        assert_eq!(DROPPED.load(Ordering::Relaxed), 0);
    }
    assert_eq!(MADE.load(Ordering::Relaxed), 3, "a value was made twice");
    assert_eq!(DROPPED.load(Ordering::Relaxed), 0, "a value was dropped");
}

#[test]
fn a_panicking_init_loses_one_block_and_nothing_else() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn flaky() -> &'static str {
        if CALLS.fetch_add(1, Ordering::Relaxed) == 1 {
            panic!("init failed");
        }
        "ok"
    }
    static POOL: ObjectPool<&str, 3> = ObjectPool::with_init(flaky);
    let pool = &POOL;
    let a = pool.request().unwrap();
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.request()));
    assert!(failed.is_err());
    let b = pool.request().unwrap();
    assert_eq!((*a, *b), ("ok", "ok"));
    assert!(
        pool.request().is_none(),
        "the block whose init panicked is gone"
    );
    drop((a, b));
}

#[test]
fn zero_sized_values() {
    static POOL: ObjectPool<(), 1> = ObjectPool::new(());
    let pool = &POOL;
    let many: Vec<_> = (0..5).map(|_| pool.request().unwrap()).collect();
    assert_eq!(many.len(), 5);
}

#[test]
fn threads_share_objects() {
    const BLOCKS: usize = 3;
    const ROUNDS: usize = if cfg!(miri) { 20 } else { 20_000 };
    static POOL: ObjectPool<[usize; 4], BLOCKS> = ObjectPool::new([0; 4]);
    static IN_USE: [AtomicBool; 64] = [const { AtomicBool::new(false) }; 64];
    // Each object counts its uses in slot 0; the sum is the number of successful
    // requests.
    let total = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..3 {
            let total = &total;
            s.spawn(move || {
                for _ in 0..ROUNDS {
                    if let Some(mut object) = POOL.request() {
                        let flag = &IN_USE[object.as_ptr() as usize % 64];
                        assert!(!flag.swap(true, Ordering::Relaxed), "handed out twice");
                        object[0] += 1;
                        total.fetch_add(1, Ordering::Relaxed);
                        flag.store(false, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let held: Vec<_> = std::iter::from_fn(|| POOL.request()).collect();
    assert_eq!(held.len(), BLOCKS);
    let distinct: HashSet<_> = held.iter().map(|o| o.as_ptr() as usize).collect();
    assert_eq!(distinct.len(), BLOCKS);
    let uses: usize = held.iter().map(|o| o[0]).sum();
    assert_eq!(uses, total.load(Ordering::Relaxed), "a use was lost");
}
