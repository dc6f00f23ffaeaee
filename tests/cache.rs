//! The caching layer: `LocalCache` (every build) and thread-local caches of `pool!`
//! singletons (feature `std`). Every test ends by checking conservation: all of the
//! pool's blocks can be taken again, each once.

use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::Barrier;
use std::thread;

use blockpool::{Block, Box, LocalCache, Pool, PoolHandle, StaticPool};

/// Takes every block of `pool` (through the pool itself), checks they are `n` distinct
/// blocks, and gives them back.
fn assert_conserved<P: PoolHandle<Data = T> + Copy, T>(pool: P, n: usize) {
    let mut held = Vec::new();
    while let Some(block) = Box::alloc_in(pool) {
        held.push(block);
        assert!(
            held.len() <= n,
            "more blocks than the pool has: one handed out twice"
        );
    }
    let distinct: HashSet<usize> = held.iter().map(|b| b.as_ptr() as usize).collect();
    assert_eq!(distinct.len(), held.len(), "a block handed out twice");
    assert_eq!(held.len(), n, "blocks lost");
}

#[test]
fn refill_and_overflow_move_half_the_capacity() {
    static POOL: StaticPool<u64, 32> = StaticPool::new();
    let mut cache: LocalCache<_, 8> = POOL.local_cache();
    let first = cache.alloc().unwrap();
    assert_eq!(cache.len(), 3, "a refill takes CAP / 2 = 4 blocks");
    let mut held = vec![first];
    for _ in 0..3 {
        held.push(cache.alloc().unwrap());
    }
    assert_eq!(cache.len(), 0);
    held.push(cache.alloc().unwrap());
    assert_eq!(cache.len(), 3, "a second refill");
    for block in held {
        cache.free(block);
    }
    assert_eq!(cache.len(), 8);
    let extra = POOL.alloc().unwrap();
    cache.free(extra);
    assert_eq!(
        cache.len(),
        5,
        "a full cache hands CAP / 2 back, then keeps the block"
    );
    cache.flush();
    assert!(cache.is_empty());
    drop(cache);
    assert_conserved(&POOL, 32);
}

#[test]
fn payloads_survive_the_cache() {
    static POOL: StaticPool<[u32; 8], 16> = StaticPool::new();
    let mut cache: LocalCache<_, 4> = POOL.local_cache();
    for round in 0..100u32 {
        let boxes: Vec<_> = (0..6)
            .map(|i| cache.alloc_value([round * 10 + i; 8]).unwrap())
            .collect();
        for (i, b) in boxes.iter().enumerate() {
            assert_eq!(**b, [round * 10 + i as u32; 8]);
        }
        for b in boxes {
            cache.free(b);
        }
    }
    drop(cache);
    assert_conserved(&POOL, 16);
}

#[test]
fn exhaustion_and_values() {
    static POOL: StaticPool<String, 3> = StaticPool::new();
    let mut cache: LocalCache<_, 4> = POOL.local_cache();
    let a = cache.alloc_value("a".to_string()).unwrap();
    let b = cache.alloc_value("b".to_string()).unwrap();
    let c = cache.alloc_value("c".to_string()).unwrap();
    assert_eq!(cache.alloc_value("d".to_string()), Err("d".to_string()));
    assert_eq!(format!("{}{}{}", *a, *b, *c), "abc");
    // The failure above asked the caches to flush; this one was empty then (its own
    // refill failed), so it had nothing to give and keeps what comes now.
    cache.free(a);
    drop(b); // to the shared list
    cache.free(c);
    assert_eq!(cache.len(), 2);
    drop(cache);
    assert_conserved(&POOL, 3);
}

#[test]
fn a_box_of_another_pool_goes_home() {
    static MINE: StaticPool<u32, 4> = StaticPool::new();
    static OTHER: StaticPool<u32, 4> = StaticPool::new();
    let mut cache: LocalCache<_, 4> = MINE.local_cache();
    let foreign = OTHER.alloc_value(1).unwrap();
    cache.free(foreign);
    assert_eq!(cache.len(), 0, "not kept: it is not this pool's");
    drop(cache);
    assert_conserved(&OTHER, 4);
    assert_conserved(&MINE, 4);
}

/// Liveness across caches: a block sitting in another context's cache is handed back
/// when an allocation finds the pool empty (a flush request), at that cache's next
/// operation; the failed allocation's retry then succeeds.
#[test]
fn flush_request_returns_stranded_blocks() {
    static POOL: StaticPool<u64, 8> = StaticPool::new();
    let mut holder: LocalCache<_, 16> = POOL.local_cache();
    let block = holder.alloc().unwrap(); // takes all 8 (batch 8): 7 stranded
    assert_eq!(holder.len(), 7);
    let mut other: LocalCache<_, 16> = POOL.local_cache();
    assert!(other.alloc().is_none(), "all free blocks sit in `holder`");
    assert!(POOL.alloc().is_none());
    holder.free(block); // its next operation honours the request
    assert_eq!(holder.len(), 0, "the request made it flush");
    let again = other.alloc().expect("the retry finds the returned blocks");
    assert_eq!(other.len(), 7);
    drop(again);
    drop(other);
    drop(holder);
    assert_conserved(&POOL, 8);
}

#[cfg(feature = "stats")]
#[test]
fn stats_count_cached_blocks() {
    static POOL: StaticPool<u64, 16> = StaticPool::new();
    let mut cache: LocalCache<_, 8> = POOL.local_cache();
    let a = cache.alloc().unwrap();
    let s = POOL.stats();
    assert_eq!(
        (s.in_use, s.cached),
        (4, 3),
        "in_use counts the cache's blocks"
    );
    cache.free(a);
    let s = POOL.stats();
    assert_eq!((s.in_use, s.cached), (4, 4));
    let b = POOL.alloc().unwrap();
    assert_eq!(POOL.stats().in_use, 5);
    cache.free(b);
    assert_eq!((POOL.stats().in_use, POOL.stats().cached), (5, 5));
    drop(cache);
    let s = POOL.stats();
    assert_eq!((s.in_use, s.cached, s.high_water), (0, 0, 5));
}

/// A grown pool over several regions: batch pops walk across them.
#[test]
fn batches_over_a_grown_pool() {
    static POOL: Pool<[u8; 24]> = Pool::new();
    for _ in 0..3 {
        let memory = std::boxed::Box::leak(std::boxed::Box::new(
            [const { Block::<[u8; 24]>::new() }; 5],
        ));
        assert_eq!(POOL.grow_exact(memory), 5);
    }
    let mut cache: LocalCache<_, 6> = POOL.local_cache();
    let mut held = Vec::new();
    while let Some(b) = cache.alloc() {
        held.push(b.init([held.len() as u8; 24]));
    }
    assert_eq!(held.len(), 15);
    for (i, b) in held.iter().enumerate() {
        assert_eq!(b[23], i as u8);
    }
    for b in held {
        cache.free(b);
    }
    drop(cache);
    assert_conserved(&POOL, 15);
}

/// Stamped-block stress: more threads than cores, each with its own cache, passing some
/// of their boxes to the next thread, which frees them into *its* cache (cross-thread
/// frees). A stamp per block catches two owners at once; the end checks conservation.
#[test]
fn threads_with_local_caches_and_cross_thread_frees() {
    const THREADS: usize = 6;
    const ROUNDS: usize = if cfg!(miri) { 30 } else { 20_000 };
    static POOL: StaticPool<[usize; 4], 96> = StaticPool::new();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| mpsc::channel()).unzip();
    let barrier = Barrier::new(THREADS);
    thread::scope(|scope| {
        for (id, receiver) in receivers.into_iter().enumerate() {
            let next = senders[(id + 1) % THREADS].clone();
            let barrier = &barrier;
            scope.spawn(move || {
                let mut cache: LocalCache<_, 8> = POOL.local_cache();
                let mut held = Vec::new();
                for round in 0..ROUNDS {
                    if let Some(b) = cache.alloc() {
                        held.push(b.init([id, round, !id, round ^ id]));
                    }
                    for b in receiver.try_iter() {
                        let b: Box<&StaticPool<[usize; 4], 96>> = b;
                        assert_eq!(b[2], !b[0], "a block written by two owners");
                        assert_eq!(b[3], b[1] ^ b[0]);
                        cache.free(b);
                    }
                    if !held.is_empty() && (held.len() >= 4 || round % 7 == 0) {
                        let b = held.swap_remove(round % held.len());
                        assert_eq!(*b, [id, b[1], !id, b[1] ^ id]);
                        if round % 3 == 0 {
                            next.send(b).unwrap();
                        } else {
                            cache.free(b);
                        }
                    }
                }
                drop(held);
                barrier.wait(); // every sender is done before anyone drains
                for b in receiver.try_iter() {
                    cache.free(b);
                }
                drop(next);
            });
        }
        drop(senders);
    });
    assert_conserved(&POOL, 96);
}

#[cfg(feature = "std")]
mod thread_local {
    use super::*;
    use blockpool::pool;

    pool!(Packets: [u64; 4], blocks = 64, thread_cache = 8);

    #[test]
    fn singleton_alloc_and_drop_go_through_the_thread_cache() {
        let a = Packets::alloc_value([1; 4]).unwrap();
        let b = Packets::alloc_value([2; 4]).unwrap();
        assert_eq!(a[0] + b[3], 3);
        drop(a);
        drop(b);
        assert!(Packets::flush_thread_cache());
        // Threads that allocate, free on another thread, and exit: their caches go back.
        let (tx, rx) = mpsc::channel();
        let producers: Vec<_> = (0..4)
            .map(|t| {
                let tx = tx.clone();
                thread::spawn(move || {
                    for i in 0..if cfg!(miri) { 20 } else { 2_000u64 } {
                        let b = loop {
                            if let Ok(b) = Packets::alloc_value([t, i, !t, !i]) {
                                break b;
                            }
                            thread::yield_now();
                        };
                        tx.send(b).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumer = thread::spawn(move || {
            for b in rx {
                assert_eq!(b[2], !b[0]);
                assert_eq!(b[3], !b[1]);
            } // each drop: into the consumer's cache
        });
        for p in producers {
            p.join().unwrap();
        }
        consumer.join().unwrap();
        // Every thread above has exited: its exit flush returned its blocks.
        assert_conserved(Packets, 64);
        Packets::flush_thread_cache();
    }

    pool!(Handed: u64, blocks = 16, thread_cache = 4);

    /// Batches that one thread's cache overflows go to the depot (up to 4 batches of
    /// `C / 2 = 2`), where another thread's refill finds them; the stranding bound counts
    /// them (`C` per thread plus `2 C` in the depot); a flush request returns them.
    #[test]
    fn the_depot_hands_batches_to_other_threads() {
        // A thread takes all 16 blocks, frees them all (its cache keeps 4 and overflows
        // 6 batches of 2: 4 fill the depot, 2 go back to the shared list), and waits.
        let (freed_tx, freed_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let holder = thread::spawn(move || {
            let held: Vec<_> = (0..16u64)
                .map(|i| Handed::alloc_value(i).expect("16 free blocks"))
                .collect();
            // (No failed alloc here: it would raise a flush request, which empties the
            // depot at the next cache operation.)
            drop(held);
            freed_tx.send(()).unwrap();
            done_rx.recv().unwrap(); // keeps its cache alive
        });
        freed_rx.recv().unwrap();
        #[cfg(feature = "stats")]
        {
            let s = Handed::instance().stats();
            assert_eq!(s.cached, 4 + 8, "the holder's 4 and the depot's 4 batches");
            assert_eq!(s.in_use, s.cached);
        }
        // This thread's first refill comes from the depot (a batch of 2: one cached, one
        // handed out), the next ones too: the depot's 8 and the 4 blocks on the shared
        // list are all reachable from here.
        let first = Handed::alloc_value(100).expect("a batch in the depot");
        #[cfg(feature = "stats")]
        assert_eq!(
            Handed::instance().stats().cached,
            4 + 6 + 1,
            "the refill took a batch from the depot, not from the shared list"
        );
        let mut here: Vec<_> = std::iter::once(first)
            .chain((1..12u64).map(|i| {
                Handed::alloc_value(100 + i)
                    .expect("a block in the depot or the shared list was not found")
            }))
            .collect();
        #[cfg(feature = "stats")]
        assert_eq!(
            Handed::instance().stats().cached,
            4,
            "only the holder's cache is left"
        );
        // The pool is dry here: the failed alloc raises a flush request, which the
        // holder's cache honours at its next operation (its thread exit, here).
        assert!(Handed::alloc().is_none(), "the holder's 4 are stranded");
        done_tx.send(()).unwrap();
        holder.join().unwrap();
        for (i, b) in here.iter().enumerate() {
            assert_eq!(**b, 100 + i as u64);
        }
        here.truncate(0);
        assert!(Handed::flush_thread_cache());
        #[cfg(feature = "stats")]
        assert_eq!(Handed::instance().stats().cached, 0);
        assert_conserved(Handed, 16);
        Handed::flush_thread_cache();
    }
}

/// With the test hooks: an allocation that cannot use its thread's cache (here: the hook
/// that runs inside the cache's busy window, where a signal handler would) and finds the
/// shared list empty takes a batch from the depot instead of failing.
#[cfg(all(feature = "std", blockpool_test_hooks))]
mod uncached_from_the_depot {
    use super::*;
    use blockpool::{pool, Uninit};
    use std::cell::{Cell, RefCell};

    pool!(Uncached: u64, blocks = 8, thread_cache = 4);

    // Thread-local: the hook is global, and the other tests' threads (run in parallel)
    // call it inside their own cache operations; only the test's thread acts.
    thread_local! {
        static ARMED: Cell<bool> = const { Cell::new(false) };
        static FROM_THE_HOOK: RefCell<Option<Option<Box<Uncached, Uninit>>>> =
            const { RefCell::new(None) };
    }

    /// Inside this thread's cache operation: the cache is busy, so this alloc takes the
    /// uncached path, as a signal handler's would.
    fn allocate_inside_the_window() {
        if ARMED.with(|armed| armed.replace(false)) {
            let block = Uncached::alloc();
            FROM_THE_HOOK.with(|slot| *slot.borrow_mut() = Some(block));
        }
    }

    #[test]
    fn an_uncached_allocation_takes_a_batch_from_the_depot() {
        // A thread takes all 8 blocks and frees them: its cache keeps 4 and puts 2
        // batches of 2 into the depot; the shared list is empty. It waits meanwhile.
        let (freed_tx, freed_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let holder = thread::spawn(move || {
            let held: Vec<_> = (0..8).map(|_| Uncached::alloc().unwrap()).collect();
            drop(held);
            freed_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        freed_rx.recv().unwrap();
        #[cfg(feature = "stats")]
        assert_eq!(Uncached::instance().stats().cached, 8);
        ARMED.with(|armed| armed.set(true));
        blockpool::testing::set_cache_window_hook(Some(allocate_inside_the_window));
        let cached = Uncached::alloc();
        blockpool::testing::set_cache_window_hook(None);
        let from_the_hook = FROM_THE_HOOK.with(|slot| slot.borrow_mut().take());
        let from_the_hook = from_the_hook.expect("the hook did not run");
        assert!(
            from_the_hook.is_some(),
            "an uncached allocation failed while the depot held batches"
        );
        assert!(cached.is_some(), "the cached allocation after it failed");
        #[cfg(feature = "stats")]
        assert_eq!(
            Uncached::instance().stats().failures,
            0,
            "an allocation that the depot served counted as a failure"
        );
        drop((from_the_hook, cached));
        done_tx.send(()).unwrap();
        holder.join().unwrap(); // its exit flush returns its 4
        assert!(Uncached::flush_thread_cache());
        assert_conserved(Uncached, 8);
        Uncached::flush_thread_cache();
    }
}
