//! `alloc_async()` (feature `async`): completes at once when a block is free, waits
//! (woken, not polling) when none is, under a producer thread that frees; any number
//! of waiters sleep and are served first come, first served, one wake per free;
//! dropping a waiting future leaves nothing behind and passes its turn on.
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

/// A waiting future, the counter of its waker's wake-ups, and that waker.
type Waiter<P> = (
    std::pin::Pin<Box<blockpool::AllocFuture<P>>>,
    Arc<Counter>,
    Waker,
);

/// `n` futures waiting on `POOL`, each polled once (queued in that order), with a
/// waker each that counts its wake-ups.
fn queue_up<P: blockpool::PoolHandle + Clone>(
    n: usize,
    mut make: impl FnMut() -> blockpool::AllocFuture<P>,
) -> Vec<Waiter<P>> {
    (0..n)
        .map(|_| {
            let (counter, waker) = counting_waker();
            let mut future = Box::pin(make());
            assert!(future
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            (future, counter, waker)
        })
        .collect()
}

/// How often each waiter's waker was woken.
fn wakes<P: blockpool::PoolHandle + Clone>(waiters: &[Waiter<P>]) -> Vec<usize> {
    waiters
        .iter()
        .map(|(_, c, _)| c.0.load(Ordering::SeqCst))
        .collect()
}

#[test]
fn a_dropped_future_leaves_nothing_behind() {
    static POOL: StaticPool<u32, 1> = StaticPool::new();
    let held = POOL.alloc().unwrap();
    // Four waiters queue up, then go away.
    let old = queue_up(4, || POOL.alloc_async());
    let old_counters: Vec<_> = old.iter().map(|(_, c, _)| c.clone()).collect();
    drop(old);
    // A new one waits alone: the free wakes it, and nobody else.
    let mut new = queue_up(1, || POOL.alloc_async());
    drop(held);
    for counter in &old_counters {
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "a dropped future was woken"
        );
    }
    assert_eq!(wakes(&new), [1], "the waiting future was not woken");
    let (future, _, waker) = &mut new[0];
    let Poll::Ready(block) = future.as_mut().poll(&mut Context::from_waker(waker)) else {
        panic!("no block after the free");
    };
    drop(new);
    drop(block);
    assert!(POOL.alloc().is_some(), "the block is free again");
}

/// Any number of waiters wait asleep (none wakes itself), and the blocks freed one at a
/// time go to them in the order they started waiting, each free waking exactly one:
/// the first in line, whichever of them the executor polls.
#[test]
fn waiters_sleep_and_are_served_first_come_first_served() {
    const WAITERS: usize = 10;
    static POOL: StaticPool<u32, 1> = StaticPool::new();
    let mut held = POOL.alloc().unwrap();
    let mut waiters = queue_up(WAITERS, || POOL.alloc_async());
    // Polled again (spuriously), in reverse: still asleep, nobody woken.
    for (future, _, waker) in waiters.iter_mut().rev() {
        assert!(future
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
    }
    assert_eq!(
        wakes(&waiters),
        [0; WAITERS],
        "a waiting future woke itself"
    );
    for turn in 0..WAITERS {
        drop(held);
        let woken = wakes(&waiters);
        let mut expected = [0; WAITERS];
        expected[..=turn].fill(1); // the earlier ones, once each, for their own turns
        assert_eq!(woken, expected, "free {turn} must wake waiter {turn} alone");
        // The ones behind it do not get the block, even if polled first.
        for (future, _, waker) in waiters.iter_mut().skip(turn + 1) {
            assert!(future
                .as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending());
        }
        let (future, _, waker) = &mut waiters[turn];
        let Poll::Ready(block) = future.as_mut().poll(&mut Context::from_waker(waker)) else {
            panic!("waiter {turn} was woken but got no block");
        };
        held = block;
    }
    drop(waiters);
    drop(held);
    assert!(POOL.alloc().is_some());
}

/// Blocks freed while the first waiter has not run yet: when it runs, it hands the
/// other free blocks to the next waiters (and wakes each once), in order.
#[test]
fn a_waiter_hands_the_next_free_block_on() {
    static POOL: StaticPool<u32, 3> = StaticPool::new();
    let held: Vec<_> = (0..3).map(|_| POOL.alloc().unwrap()).collect();
    let mut waiters = queue_up(3, || POOL.alloc_async());
    drop(held); // three frees before any waiter runs
    assert_eq!(wakes(&waiters), [1, 0, 0], "one wake for the first waiter");
    let mut got = Vec::new();
    for i in 0..3 {
        let (future, _, waker) = &mut waiters[i];
        let Poll::Ready(block) = future.as_mut().poll(&mut Context::from_waker(waker)) else {
            panic!("waiter {i} got no block");
        };
        got.push(block);
        // The first one, having its block, handed the two other free blocks to the two
        // others, in order, and woke each once.
        assert_eq!(wakes(&waiters), [1, 1, 1], "after waiter {i} ran");
    }
    assert!(
        POOL.alloc().is_none(),
        "all three blocks went to the waiters"
    );
    drop(waiters);
    drop(got);
    assert_eq!((0..3).filter_map(|_| POOL.alloc()).count(), 3);
}

/// The first waiter is dropped after it was handed a block (or woken for one): the
/// block goes back, and the next waiter gets it.
#[test]
fn a_cancelled_first_waiter_passes_its_turn_on() {
    static POOL: StaticPool<u32, 2> = StaticPool::new();
    let held: Vec<_> = (0..2).map(|_| POOL.alloc().unwrap()).collect();
    let mut waiters = queue_up(3, || POOL.alloc_async());
    let mut held = held.into_iter();
    drop(held.next()); // wakes waiter 0
    assert_eq!(wakes(&waiters), [1, 0, 0]);
    let (first, ..) = waiters.remove(0);
    drop(first); // cancelled before it ran: the turn goes to waiter 1, with the block
    assert_eq!(wakes(&waiters), [1, 0]);
    let (future, _, waker) = &mut waiters[0];
    let Poll::Ready(block) = future.as_mut().poll(&mut Context::from_waker(waker)) else {
        panic!("the next waiter did not get the block");
    };
    drop(held.next()); // wakes waiter 2
    assert_eq!(wakes(&waiters), [1, 1]);
    drop(waiters); // waiter 2 is dropped with its turn: nothing lost
    drop(block);
    assert_eq!((0..2).filter_map(|_| POOL.alloc()).count(), 2);
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

/// Many waiters (threads blocked in `block_on`) on a pool of one block: all of them
/// finish.
#[test]
fn many_waiting_threads_all_complete() {
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

/// With `stats`: a waiting future's tries are not allocation failures; the future
/// counts once in `waits`, however often it is polled; a synchronous `alloc` on the
/// empty pool is a failure.
#[cfg(feature = "stats")]
#[test]
fn waits_are_counted_apart_from_failures() {
    static POOL: StaticPool<u32, 1> = StaticPool::new();
    let held = POOL.alloc().unwrap();
    let mut waiters = queue_up(2, || POOL.alloc_async());
    for _ in 0..5 {
        for (future, _, waker) in waiters.iter_mut() {
            assert!(future
                .as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending());
        }
    }
    let stats = POOL.stats();
    assert_eq!((stats.failures, stats.waits), (0, 2), "{stats:?}");
    assert!(POOL.alloc().is_none());
    assert_eq!(POOL.stats().failures, 1);
    drop(held);
    let (future, _, waker) = &mut waiters[0];
    let Poll::Ready(got) = future.as_mut().poll(&mut Context::from_waker(waker)) else {
        panic!("the first waiter got no block");
    };
    let stats = POOL.stats();
    assert_eq!(
        (stats.failures, stats.waits, stats.in_use),
        (1, 2, 1),
        "{stats:?}"
    );
    drop(got);
    drop(waiters);
    // A future that finds a block at once does not count as a wait.
    let block = block_on(POOL.alloc_async());
    assert_eq!(POOL.stats().waits, 2);
    drop(block);
}
