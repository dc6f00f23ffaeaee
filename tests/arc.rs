//! `Arc`/`Weak` pools: the value is dropped exactly once, with the last `Arc`; the block
//! goes back exactly once, with the last `Arc` and `Weak`; counts, `get_mut`,
//! `try_unwrap`, `into_inner`, raw round trips; a multi-threaded clone/drop stress and a
//! `get_mut` racing with `upgrade` (run these under Miri too).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use blockpool::{arc_pool, Arc, ArcInner, ArcPool, Block, Pool, Weak};

static DROPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, PartialEq)]
struct Counted(u32);
impl Drop for Counted {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Tests that count drops take this lock, so that they do not see each other's.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn drops() -> usize {
    DROPS.load(Ordering::Relaxed)
}

#[test]
fn send_and_sync_when_the_value_is_both() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Arc<&'static ArcPool<u32, 1>>>();
    send_sync::<Weak<&'static ArcPool<u32, 1>>>();
    send_sync::<Arc<&'static Pool<ArcInner<std::sync::Mutex<u8>>>>>();
    send_sync::<Weak<&'static Pool<ArcInner<std::sync::Mutex<u8>>>>>();
    arc_pool!(Locks: std::sync::Mutex<u8>, blocks = 1);
    send_sync::<Arc<Locks>>();
    send_sync::<Weak<Locks>>();
}

#[test]
fn value_dropped_with_last_strong_block_returned_with_last_weak() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    static POOL: ArcPool<Counted, 1> = ArcPool::new();
    let before = drops();
    let a = POOL.alloc(Counted(1)).unwrap();
    let b = a.clone();
    let w = Arc::downgrade(&a);
    let w2 = w.clone();
    assert_eq!((Arc::strong_count(&a), Arc::weak_count(&a)), (2, 2));
    assert_eq!((w.strong_count(), w.weak_count()), (2, 2));
    assert!(Arc::ptr_eq(&a, &b) && w.ptr_eq(&w2));
    drop(a);
    assert_eq!(drops(), before);
    assert_eq!(w.upgrade().map(|a| a.0), Some(1));
    drop(b);
    assert_eq!(
        drops(),
        before + 1,
        "the value is dropped with the last Arc"
    );
    assert!(w.upgrade().is_none());
    assert_eq!(w.strong_count(), 0);
    assert_eq!(w.weak_count(), 0, "as std: 0 once the value is dropped");
    assert!(
        POOL.alloc(Counted(2)).is_err(),
        "a Weak still holds the block"
    );
    assert_eq!(drops(), before + 2); // the refused value, given back and dropped
    drop(w);
    assert!(
        POOL.alloc(Counted(3)).is_err(),
        "a Weak still holds the block"
    );
    drop(w2);
    let c = POOL
        .alloc(Counted(4))
        .expect("the block came back with the last Weak");
    assert_eq!(drops(), before + 3);
    drop(c);
    assert_eq!(drops(), before + 4);
}

#[test]
fn get_mut_only_when_unique() {
    static POOL: ArcPool<u32, 2> = ArcPool::new();
    let mut a = POOL.alloc(1).unwrap();
    *Arc::get_mut(&mut a).unwrap() += 1;
    let b = a.clone();
    assert!(Arc::get_mut(&mut a).is_none());
    drop(b);
    let w = Arc::downgrade(&a);
    assert!(Arc::get_mut(&mut a).is_none(), "a Weak exists");
    drop(w);
    assert_eq!(*Arc::get_mut(&mut a).unwrap(), 2);
    assert_eq!(Arc::strong_count(&a), 1);
}

#[test]
fn try_unwrap_and_into_inner() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    static POOL: ArcPool<Counted, 2> = ArcPool::new();
    let before = drops();
    let a = POOL.alloc(Counted(5)).unwrap();
    let b = a.clone();
    let a = Arc::try_unwrap(a).unwrap_err();
    assert_eq!(drops(), before);
    drop(b);
    let w = Arc::downgrade(&a);
    let value = Arc::try_unwrap(a).unwrap();
    assert_eq!(
        drops(),
        before,
        "try_unwrap moves the value out without dropping it"
    );
    assert!(w.upgrade().is_none());
    drop(value);
    assert_eq!(drops(), before + 1);
    drop(w);

    let a = POOL.alloc(Counted(6)).unwrap();
    let b = a.clone();
    assert_eq!(Arc::into_inner(a), None);
    assert_eq!(drops(), before + 1);
    assert_eq!(Arc::into_inner(b), Some(Counted(6)));
    // The value returned, and the one it was compared with, dropped by `assert_eq!`.
    assert_eq!(drops(), before + 3);
    let held: Vec<_> = (0..2).map(|i| POOL.alloc(Counted(i)).unwrap()).collect();
    assert_eq!(held.len(), 2, "a block was lost");
}

#[test]
fn raw_round_trip_and_singletons() {
    arc_pool!(Shared: [u16; 4], blocks = 2);
    let a: Arc<Shared> = Shared::alloc([1, 2, 3, 4]).unwrap();
    let w: Weak<Shared> = Arc::downgrade(&a);
    assert_eq!(std::mem::size_of_val(&a), std::mem::size_of::<usize>());
    assert_eq!(std::mem::size_of_val(&w), std::mem::size_of::<usize>());
    let b = a.clone();
    let raw = Arc::into_raw(b);
    assert_eq!(raw.as_ptr().cast_const(), Arc::as_ptr(&a));
    assert_eq!(Arc::strong_count(&a), 2, "into_raw keeps the reference");
    // SAFETY: from `into_raw` of an `Arc` of `Shared`, rebuilt once.
    let b = unsafe { Shared::from_raw(raw) };
    assert_eq!(*b, [1, 2, 3, 4]);
    drop((a, b));
    assert!(w.upgrade().is_none());

    static POOL: ArcPool<u8, 1> = ArcPool::new();
    let a = POOL.alloc(9).unwrap();
    let raw = Arc::into_raw(a);
    // SAFETY: from `into_raw` of an `Arc` of `POOL`, rebuilt once.
    let a = unsafe { Arc::from_raw(raw, &POOL) };
    assert_eq!(*a, 9);
}

#[test]
fn growable_forms() {
    arc_pool!(Grown: u64);
    static mut MEMORY: [Block<ArcInner<u64>>; 2] = [const { Block::new() }; 2];
    // SAFETY: the only reference ever made to `MEMORY`.
    assert_eq!(
        Grown::grow_exact(unsafe { &mut *std::ptr::addr_of_mut!(MEMORY) }),
        2
    );
    let a = Grown::alloc(1).unwrap();
    let b = Grown::alloc(2).unwrap();
    assert!(Grown::alloc(3).is_err());
    assert_eq!(*a + *b, 3);

    static POOL: Pool<ArcInner<String>> = Pool::new();
    static mut MEMORY2: [Block<ArcInner<String>>; 1] = [const { Block::new() }; 1];
    // SAFETY: the only reference ever made to `MEMORY2`.
    assert_eq!(
        POOL.grow_exact(unsafe { &mut *std::ptr::addr_of_mut!(MEMORY2) }),
        1
    );
    let s = Arc::try_new_in(String::from("pooled"), &POOL).unwrap();
    assert_eq!(s.len(), 6);
    assert_eq!(
        Arc::try_new_in(String::from("no room"), &POOL).unwrap_err(),
        "no room"
    );
}

#[test]
fn panicking_drop_still_returns_the_block() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("boom");
        }
    }
    static POOL: ArcPool<Bomb, 1> = ArcPool::new();
    let a = POOL.alloc(Bomb).ok().unwrap();
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(a))).is_err());
    let again = POOL
        .alloc(Bomb)
        .ok()
        .expect("the block was lost while unwinding");
    std::mem::forget(again);
}

/// Several threads clone, downgrade, upgrade and drop `Arc`s of a few shared values; at
/// the end every value was dropped exactly once and every block is back.
#[test]
fn multithreaded_clone_drop_stress() {
    const BLOCKS: usize = 4;
    const THREADS: usize = 4;
    const ROUNDS: usize = if cfg!(miri) { 30 } else { 50_000 };
    static MADE: AtomicUsize = AtomicUsize::new(0);
    static DROPPED: AtomicUsize = AtomicUsize::new(0);
    struct Tracked([u64; 2]);
    impl Drop for Tracked {
        fn drop(&mut self) {
            assert_eq!(self.0[0], !self.0[1], "the value was corrupted");
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
    static POOL: ArcPool<Tracked, BLOCKS> = ArcPool::new();

    let roots: Vec<_> = (0..BLOCKS as u64 - 1)
        .map(|i| {
            MADE.fetch_add(1, Ordering::Relaxed);
            POOL.alloc(Tracked([i, !i])).ok().unwrap()
        })
        .collect();
    let weaks: Vec<_> = roots.iter().map(Arc::downgrade).collect();
    thread::scope(|s| {
        for t in 0..THREADS {
            let (roots, weaks) = (&roots, &weaks);
            s.spawn(move || {
                let mut mine = Vec::new();
                for i in 0..ROUNDS {
                    let k = (i + t) % roots.len();
                    match i % 5 {
                        0 | 1 => mine.push(roots[k].clone()),
                        2 => {
                            if let Some(a) = weaks[k].upgrade() {
                                assert_eq!(a.0[0], !a.0[1]);
                                mine.push(a);
                            }
                        }
                        3 => {
                            let w = weaks[k].clone();
                            drop(w);
                            mine.pop();
                        }
                        _ => {
                            // A short-lived value of this thread's own, when a block
                            // is free.
                            MADE.fetch_add(1, Ordering::Relaxed); // dropped either way
                            if let Ok(a) = POOL.alloc(Tracked([i as u64, !(i as u64)])) {
                                let b = a.clone();
                                let w = Arc::downgrade(&b);
                                drop(a);
                                assert!(w.upgrade().is_some());
                                drop(b);
                                assert!(w.upgrade().is_none());
                            }
                            mine.truncate(mine.len() / 2);
                        }
                    }
                }
            });
        }
    });
    drop(weaks);
    drop(roots);
    assert_eq!(
        DROPPED.load(Ordering::Relaxed),
        MADE.load(Ordering::Relaxed)
    );
    let held: Vec<_> = std::iter::from_fn(|| POOL.alloc(Tracked([0, !0])).ok()).collect();
    assert_eq!(held.len(), BLOCKS, "a block was lost");
    let distinct: HashSet<_> = held.iter().map(|a| Arc::as_ptr(a) as usize).collect();
    assert_eq!(distinct.len(), BLOCKS);
}

/// `get_mut` racing with `upgrade` from another thread: whenever `get_mut` says
/// "unique" it writes the value, while the other thread reads the value through every
/// `Arc` it gets; Miri's race detector (and the checks) catch a wrong "unique".
#[test]
fn get_mut_races_upgrade() {
    const ROUNDS: usize = if cfg!(miri) { 40 } else { 100_000 };
    static POOL: ArcPool<[u64; 2], 1> = ArcPool::new();
    let mut a = POOL.alloc([0, 0]).unwrap();
    let weak = Arc::downgrade(&a);
    thread::scope(|s| {
        s.spawn(move || {
            for _ in 0..ROUNDS {
                if let Some(b) = weak.upgrade() {
                    assert_eq!(b[0], b[1], "read a value being written");
                }
            }
            drop(weak);
        });
        let mut wins = 0u64;
        for _ in 0..ROUNDS {
            if let Some(value) = Arc::get_mut(&mut a) {
                wins += 1;
                *value = [wins, wins];
            }
        }
    });
    assert_eq!(Arc::strong_count(&a), 1);
    assert_eq!(Arc::weak_count(&a), 0);
    assert!(
        Arc::get_mut(&mut a).is_some(),
        "unique once the Weak is gone"
    );
}
