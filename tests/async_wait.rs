//! `alloc_async()` (feature `async`): completes at once when a block is free, waits
//! (woken, not polling) when none is, under a producer thread that frees; dropping a
//! waiting future leaves nothing registered; more waiters than waker slots still all
//! complete.
#![cfg(feature = "async")]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use blockpool::{pool, Block, Pool, ScopedPool, StaticPool};
use futures_executor::block_on;

/// A waker that counts its wake-ups.
struct Counter(AtomicUsize);
impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
fn counting_waker() -> (Arc<Counter>, Waker) {
    let counter = Arc::new(Counter(AtomicUsize::new(0)));
    (counter.clone(), Waker::from(counter))
}

#[test]
fn completes_at_once_when_a_block_is_free() {
    static POOL: StaticPool<u32, 1> = StaticPool::new();
    let block = block_on(POOL.alloc_async()).init(5);
    assert_eq!(*block, 5);
}

#[test]
fn woken_by_a_free_then_completes() {
    static POOL: StaticPool<u32, 1> = StaticPool::new();
    let held = POOL.alloc().unwrap();
    let (counter, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(POOL.alloc_async());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    assert!(
        future.as_mut().poll(&mut cx).is_pending(),
        "re-polling is fine"
    );
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    drop(held);
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        1,
        "the free woke the waiter"
    );
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(block) => drop(block),
        Poll::Pending => panic!("woken but no block"),
    }
}

#[test]
fn a_dropped_future_leaves_no_registration_behind() {
    static POOL: StaticPool<u32, 1> = StaticPool::new();
    let held = POOL.alloc().unwrap();
    // Four waiters take all four waker slots, then go away.
    let old: Vec<_> = (0..4).map(|_| counting_waker()).collect();
    for (_, waker) in &old {
        let mut future = Box::pin(POOL.alloc_async());
        let mut cx = Context::from_waker(waker);
        assert!(future.as_mut().poll(&mut cx).is_pending());
        drop(future);
    }
    // Four new ones get the slots back.
    let new: Vec<_> = (0..4).map(|_| counting_waker()).collect();
    let mut futures: Vec<_> = new.iter().map(|_| Box::pin(POOL.alloc_async())).collect();
    for (future, (_, waker)) in futures.iter_mut().zip(&new) {
        assert!(future
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
    }
    drop(held);
    for (counter, _) in &old {
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "a dropped future was woken"
        );
    }
    for (counter, _) in &new {
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            1,
            "a waiting future was not woken"
        );
    }
    // The first to be polled gets the block.
    let (_, waker) = &new[2];
    let Poll::Ready(block) = futures[2].as_mut().poll(&mut Context::from_waker(waker)) else {
        panic!("no block after the free");
    };
    drop(futures);
    drop(block);
    assert!(POOL.alloc().is_some(), "the block is free again");
}

/// One thread waits for blocks, another frees them a little later: every wait ends.
#[test]
fn producer_thread_frees_consumer_waits() {
    const ROUNDS: usize = if cfg!(miri) { 10 } else { 2_000 };
    static POOL: StaticPool<[u64; 4], 2> = StaticPool::new();
    let (to_producer, from_consumer) = mpsc::channel();
    let producer = thread::spawn(move || {
        let mut freed = 0;
        for block in from_consumer {
            if freed % 64 == 0 && !cfg!(miri) {
                thread::sleep(Duration::from_micros(50));
            }
            drop(block);
            freed += 1;
        }
        freed
    });
    for i in 0..ROUNDS as u64 {
        let block = block_on(POOL.alloc_async()).init([i; 4]);
        assert_eq!(block[3], i);
        to_producer.send(block).unwrap();
    }
    drop(to_producer);
    assert_eq!(producer.join().unwrap(), ROUNDS);
}

/// More waiters (threads blocked in `block_on`) than waker slots, on a pool of one
/// block: all of them finish.
#[test]
fn more_waiters_than_slots_all_complete() {
    const WAITERS: usize = 7;
    const ROUNDS: usize = if cfg!(miri) { 3 } else { 300 };
    static POOL: Pool<u64> = Pool::new();
    static mut MEMORY: [Block<u64>; 1] = [const { Block::new() }; 1];
    // SAFETY: the only reference ever made to `MEMORY`.
    assert_eq!(
        POOL.grow_exact(unsafe { &mut *std::ptr::addr_of_mut!(MEMORY) }),
        1
    );
    let done = AtomicUsize::new(0);
    thread::scope(|s| {
        for w in 0..WAITERS as u64 {
            let done = &done;
            s.spawn(move || {
                for i in 0..ROUNDS as u64 {
                    let block = block_on(POOL.alloc_async()).init(w * 1_000_000 + i);
                    assert_eq!(*block, w * 1_000_000 + i);
                    if i % 16 == 0 {
                        thread::yield_now();
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), WAITERS);
    assert!(POOL.alloc().is_some());
}

#[test]
fn singleton_and_scoped_pools() {
    pool!(Frames: [u8; 16], blocks = 1);
    let held = Frames::alloc().unwrap();
    let waiter = thread::spawn(|| {
        let frame: blockpool::Box<Frames> = block_on(Frames::alloc_async()).init([1; 16]);
        frame[15]
    });
    thread::sleep(Duration::from_millis(if cfg!(miri) { 0 } else { 5 }));
    drop(held);
    assert_eq!(waiter.join().unwrap(), 1);

    let mut blocks = [const { Block::<u8>::new() }; 1];
    let pool = ScopedPool::new(&mut blocks);
    let held = pool.alloc_value(1).unwrap();
    thread::scope(|s| {
        let waiter = s.spawn(|| *block_on(pool.alloc_async()).init(2));
        drop(held);
        assert_eq!(waiter.join().unwrap(), 2);
    });
}

#[test]
fn arc_pools_wait_too() {
    use blockpool::{arc_pool, Arc, ArcPool};
    static ARCS: ArcPool<u32, 1> = ArcPool::new();
    let first = ARCS.alloc(1).unwrap();
    let weak = Arc::downgrade(&first);
    let waiter = thread::spawn(|| *block_on(ARCS.alloc_async(2)));
    thread::sleep(Duration::from_millis(if cfg!(miri) { 0 } else { 5 }));
    drop(first); // the value goes, but the Weak keeps the block
    thread::sleep(Duration::from_millis(if cfg!(miri) { 0 } else { 5 }));
    drop(weak); // now the block is free
    assert_eq!(waiter.join().unwrap(), 2);

    arc_pool!(Shared: u8, blocks = 1);
    let held = Shared::alloc(1).unwrap();
    let waiter = thread::spawn(|| {
        let a: Arc<Shared> = block_on(Shared::alloc_async(7));
        *a
    });
    drop(held);
    assert_eq!(waiter.join().unwrap(), 7);
}
