//! loom models of the caching layer (`src/cache/`): the batch exchange with the shared
//! free list (a batch pop of a chain with one CAS, a batch push of a chain with one CAS,
//! against single pops and pushes in another thread), the flush-request protocol, and
//! the depot that hands whole batches from one thread's cache to another's.
//!
//! Run: `RUSTFLAGS="--cfg blockpool_loom" cargo test --release --test loom_cache`
//!
//! The real models drive the library through its public API (`Pool::local_cache`,
//! `LocalCache::{alloc, free, flush}`, `Pool::alloc`), so loom explores the library's
//! own `FreeList::pop_batch`/`push_batch` (tagged-index backend, loom's atomics) and the
//! `Magazine`. Every owner writes a per-block `loom::cell::UnsafeCell` while it holds the
//! block and checks the previous owner's mark: loom reports a race if the batch exchange
//! did not order one owner's writes before the next owner's reads; per-block in-use flags
//! catch a block with two owners; the end drains the pool and counts every block once.
//!
//! The depot model drives `Depot` itself (exported for it under `cfg(blockpool_loom)`
//! only) with blocks of a real pool: its batches are `loom::cell::UnsafeCell`s, so loom
//! checks that a slot's writer and its next reader (and the reader and the slot's next
//! writer) are ordered, and the blocks' marks check the owners on either side.
//!
//! `NaiveBatchList` is the same batch pop without the head's version (the chain walked,
//! then one CAS on the top block's index alone); `naive_batch_pop_aba_is_found` asserts
//! that the same model finds its ABA bug, so the model is shown to be able to fail.
#![cfg(blockpool_loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

use blockpool::__private::Depot;
use blockpool::{Block, Box, LocalCache, Pool, PoolHandle};

#[path = "common/loom_explore.rs"]
mod loom_explore;
use loom_explore::{explore, explore_expecting_failure, leak, Bound::*};

const STRIDE: usize = std::mem::size_of::<Block<u64>>();

/// What the models check, per block.
struct Checks {
    in_use: Vec<AtomicBool>,
    /// The last owner's mark, written while it held the block.
    mark: Vec<UnsafeCell<usize>>,
}

impl Checks {
    fn new(n: usize) -> &'static Self {
        leak(Checks {
            in_use: (0..n).map(|_| AtomicBool::new(false)).collect(),
            mark: (0..n).map(|_| UnsafeCell::new(0)).collect(),
        })
    }

    /// `owner` now holds block `id`.
    fn taken(&self, id: usize, owner: usize) {
        // Relaxed: the check adds no synchronisation of its own.
        assert!(
            !self.in_use[id].swap(true, Ordering::Relaxed),
            "block {id} handed out twice"
        );
        // Reads the previous owner's mark and writes ours: a race (no happens-before
        // from the previous owner's write) is a loom failure.
        self.mark[id].with_mut(|m| unsafe {
            let _previous = *m;
            *m = owner;
        });
    }

    /// `owner` gives block `id` up.
    fn given(&self, id: usize, owner: usize) {
        self.mark[id]
            .with(|m| assert_eq!(unsafe { *m }, owner, "block {id} written by another owner"));
        assert!(
            self.in_use[id].swap(false, Ordering::Relaxed),
            "block {id} freed twice"
        );
    }
}

/// A pool with a batch exchange, as the models use it: the real one (`LocalCache` over a
/// `Pool`) or the naive one.
trait BatchPool: Sync + 'static {
    type Held: Send + 'static;
    type Cache: Send;
    fn make(blocks: usize) -> &'static Self;
    fn id(&'static self, held: &Self::Held) -> usize;
    fn cache(&'static self) -> Self::Cache;
    fn cached_alloc(&'static self, cache: &mut Self::Cache) -> Option<Self::Held>;
    fn cached_free(&'static self, cache: &mut Self::Cache, held: Self::Held);
    fn flush(&'static self, cache: &mut Self::Cache);
    fn alloc(&'static self) -> Option<Self::Held>;
    fn free(&'static self, held: Self::Held);
}

struct Real {
    pool: Pool<u64>,
    base: usize,
}

/// The real cache: 4 blocks, batches of 2.
type RealCache = LocalCache<&'static Pool<u64>, 4>;

impl BatchPool for Real {
    type Held = Box<&'static Pool<u64>>;
    type Cache = RealCache;
    fn make(blocks: usize) -> &'static Self {
        let memory: &'static mut [Block<u64>] =
            Vec::leak((0..blocks).map(|_| Block::new()).collect());
        let base = memory.as_ptr() as usize;
        let this = leak(Real {
            pool: Pool::new(),
            base,
        });
        assert_eq!(this.pool.grow_exact(memory), blocks);
        this
    }
    fn id(&'static self, held: &Self::Held) -> usize {
        (held.as_ptr() as usize - self.base) / STRIDE
    }
    fn cache(&'static self) -> RealCache {
        self.pool.local_cache()
    }
    fn cached_alloc(&'static self, cache: &mut RealCache) -> Option<Self::Held> {
        cache.alloc().map(|b| b.init(0))
    }
    fn cached_free(&'static self, cache: &mut RealCache, held: Self::Held) {
        cache.free(held)
    }
    fn flush(&'static self, cache: &mut RealCache) {
        cache.flush()
    }
    fn alloc(&'static self) -> Option<Self::Held> {
        self.pool.alloc().map(|b| b.init(0))
    }
    fn free(&'static self, held: Self::Held) {
        drop(held)
    }
}

/// The batch pop without versions: `head` holds the top block's index + 1 (0: empty),
/// `next[i]` the index + 1 of the block under block `i`.
struct NaiveBatchList {
    head: AtomicUsize,
    next: Vec<AtomicUsize>,
}

impl NaiveBatchList {
    fn pop_batch(&self, max: usize) -> Vec<usize> {
        loop {
            let top = self.head.load(Ordering::Acquire);
            let mut taken = Vec::new();
            let mut at = top;
            while at != 0 && taken.len() < max {
                taken.push(at - 1);
                at = self.next[at - 1].load(Ordering::Relaxed);
            }
            if taken.is_empty() {
                return taken;
            }
            if self
                .head
                .compare_exchange(top, at, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return taken;
            }
        }
    }
    fn push_batch(&self, blocks: &[usize]) {
        for pair in blocks.windows(2) {
            self.next[pair[0]].store(pair[1] + 1, Ordering::Relaxed);
        }
        let (first, last) = (blocks[0], blocks[blocks.len() - 1]);
        let mut top = self.head.load(Ordering::Relaxed);
        loop {
            self.next[last].store(top, Ordering::Relaxed);
            match self
                .head
                .compare_exchange(top, first + 1, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => top = now,
            }
        }
    }
}

impl BatchPool for NaiveBatchList {
    type Held = usize;
    /// Up to 4 blocks, batches of 2, as `RealCache`.
    type Cache = Vec<usize>;
    fn make(blocks: usize) -> &'static Self {
        let this = leak(NaiveBatchList {
            head: AtomicUsize::new(0),
            next: (0..blocks).map(|_| AtomicUsize::new(0)).collect(),
        });
        this.push_batch(&(0..blocks).collect::<Vec<_>>());
        this
    }
    fn id(&'static self, held: &usize) -> usize {
        *held
    }
    fn cache(&'static self) -> Vec<usize> {
        Vec::new()
    }
    fn cached_alloc(&'static self, cache: &mut Vec<usize>) -> Option<usize> {
        if cache.is_empty() {
            let mut batch = self.pop_batch(2);
            batch.reverse(); // the top block is handed out first
            *cache = batch;
        }
        cache.pop()
    }
    fn cached_free(&'static self, cache: &mut Vec<usize>, held: usize) {
        if cache.len() == 4 {
            let back: Vec<usize> = cache.drain(2..).collect();
            self.push_batch(&back);
        }
        cache.push(held);
    }
    fn flush(&'static self, cache: &mut Vec<usize>) {
        if !cache.is_empty() {
            self.push_batch(cache);
            cache.clear();
        }
    }
    fn alloc(&'static self) -> Option<usize> {
        self.pop_batch(1).pop()
    }
    fn free(&'static self, held: usize) {
        self.push_batch(&[held]);
    }
}

fn take<P: BatchPool>(
    pool: &'static P,
    checks: &'static Checks,
    held: Option<P::Held>,
    owner: usize,
) -> Option<P::Held> {
    let held = held?;
    checks.taken(pool.id(&held), owner);
    Some(held)
}

fn give<P: BatchPool>(pool: &'static P, checks: &'static Checks, held: &P::Held, owner: usize) {
    checks.given(pool.id(held), owner);
}

/// Drains the pool: every block exactly once.
fn check_end<P: BatchPool>(pool: &'static P, checks: &'static Checks, n: usize) {
    let mut drained = Vec::new();
    while let Some(held) = pool.alloc() {
        let id = pool.id(&held);
        assert!(
            !checks.in_use[id].load(Ordering::Relaxed),
            "block {id} both held and free"
        );
        assert!(!drained.contains(&id), "block {id} on the free list twice");
        drained.push(id);
        std::mem::forget(held);
    }
    assert_eq!(drained.len(), n, "blocks lost");
}

/// The ABA interleaving against a batch pop: thread 1's cache refills (a batch pop of
/// two blocks: it reads the top `A`, walks to `B` and past it), while thread 2 pops `A`,
/// pops `B` and pushes `A` back. Then thread 1 hands its blocks back with one batch
/// push (its flush).
fn batch_aba<P: BatchPool>() {
    let pool = P::make(3);
    let checks = Checks::new(3);
    let t1 = thread::spawn(move || {
        let mut cache = pool.cache();
        let first = take(pool, checks, pool.cached_alloc(&mut cache), 1);
        if let Some(first) = first {
            give(pool, checks, &first, 1);
            pool.cached_free(&mut cache, first);
        }
        // The cache's other block (from the same batch) gets the same checks.
        let second = take(pool, checks, pool.cached_alloc(&mut cache), 1);
        if let Some(second) = second {
            give(pool, checks, &second, 1);
            pool.cached_free(&mut cache, second);
        }
        pool.flush(&mut cache);
    });
    let t2 = thread::spawn(move || {
        let a = take(pool, checks, pool.alloc(), 2);
        let b = take(pool, checks, pool.alloc(), 2);
        if let Some(a) = a {
            give(pool, checks, &a, 2);
            pool.free(a);
        }
        if let Some(b) = b {
            give(pool, checks, &b, 2);
            pool.free(b);
        }
    });
    t1.join().unwrap();
    t2.join().unwrap();
    check_end(pool, checks, 3);
}

/// Two caches exchanging batches: each thread takes two blocks through its cache (a
/// batch pop), frees both into it and flushes (a batch push), on a 3-block pool, so the
/// batches overlap and a cache may find the pool short.
fn two_caches<P: BatchPool>() {
    let pool = P::make(3);
    let checks = Checks::new(3);
    let threads: Vec<_> = (1..=2)
        .map(|owner| {
            thread::spawn(move || {
                let mut cache = pool.cache();
                let a = take(pool, checks, pool.cached_alloc(&mut cache), owner);
                let b = take(pool, checks, pool.cached_alloc(&mut cache), owner);
                for held in [a, b].into_iter().flatten() {
                    give(pool, checks, &held, owner);
                    pool.cached_free(&mut cache, held);
                }
                pool.flush(&mut cache);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    check_end(pool, checks, 3);
}

#[test]
fn batch_pop_against_aba() {
    explore("batch_pop_against_aba", Fixed(3), batch_aba::<Real>);
}

#[test]
fn two_caches_exchange_batches() {
    explore(
        "two_caches_exchange_batches",
        FromEnv(2),
        two_caches::<Real>,
    );
}

#[test]
fn naive_batch_pop_aba_is_found() {
    explore_expecting_failure(
        "naive_batch_pop_aba",
        Fixed(3),
        &[
            "handed out twice",
            "both held and free",
            "lost",
            "another owner",
            "twice",
        ],
        batch_aba::<NaiveBatchList>,
    );
}

/// The flush protocol: a cache holds every block of the pool (one in its cache, one
/// handed out); another thread's allocation finds the pool empty (a flush request) and
/// then tells the cache's thread (`asked`); that thread's next cache operation (a free)
/// must return every block, so the other thread's retry (after `done`) succeeds. The
/// request is `Relaxed`: it promises what happens after it, which `asked` orders.
fn flush_request() {
    let pool = Real::make(2);
    let ready = leak(AtomicBool::new(false));
    let asked = leak(AtomicBool::new(false));
    let done = leak(AtomicBool::new(false));
    let holder = thread::spawn(move || {
        let mut cache = pool.cache();
        let held = pool.cached_alloc(&mut cache).expect("the pool is full"); // takes both
        ready.store(true, Ordering::Release);
        while !asked.load(Ordering::Acquire) {
            thread::yield_now();
        }
        pool.cached_free(&mut cache, held); // the next operation: must flush
        assert_eq!(
            cache.len(),
            0,
            "the cache kept blocks after a flush request"
        );
        done.store(true, Ordering::Release);
    });
    while !ready.load(Ordering::Acquire) {
        thread::yield_now();
    }
    assert!(
        pool.alloc().is_none(),
        "both blocks are in the holder's cache"
    );
    asked.store(true, Ordering::Release);
    while !done.load(Ordering::Acquire) {
        thread::yield_now();
    }
    let a = pool
        .alloc()
        .expect("the flush request was not honoured: blocks stranded");
    let b = pool.alloc().expect("the flush returned only some blocks");
    assert_ne!(a.as_ptr(), b.as_ptr());
    holder.join().unwrap();
}

#[test]
fn flush_request_is_honoured() {
    explore("flush_request_is_honoured", Unbounded, flush_request);
}

/// The depot: thread 1 takes two blocks from the pool twice, writes them and puts each
/// pair into the depot as one batch (or frees it, if no slot is empty); thread 2 takes a
/// batch from the depot twice, checks and writes its blocks and frees them. A batch may be
/// taken in part (thread 2 asks for one block the first time), so a slot is published
/// again and reused. The end drains the depot and the pool: every block once.
fn depot_between_threads() {
    let pool = Real::make(4);
    let depot: &'static Depot<u64, 2> = leak(Depot::new());
    let checks = Checks::new(4);
    let producer = thread::spawn(move || {
        for _ in 0..2 {
            let batch: Vec<_> = (0..2).filter_map(|_| (&pool.pool).take()).collect();
            for &block in &batch {
                checks.taken(pool.block_id(block), 1);
                checks.given(pool.block_id(block), 1);
            }
            // SAFETY: distinct free blocks of `pool`, taken just now and given up.
            if !batch.is_empty() && !unsafe { depot.put(&batch) } {
                for &block in &batch {
                    // SAFETY: as above; the put stored nothing.
                    unsafe { (&pool.pool).release(block) };
                }
            }
        }
    });
    let consumer = thread::spawn(move || {
        for wanted in [1, 2] {
            let mut out = [std::mem::MaybeUninit::uninit(); 2];
            let taken = depot.take(&mut out[..wanted]);
            for slot in &out[..taken] {
                // SAFETY: `take` wrote `out[..taken]`.
                let block = unsafe { slot.assume_init() };
                checks.taken(pool.block_id(block), 2);
                checks.given(pool.block_id(block), 2);
                // SAFETY: the depot held only free blocks of `pool`, now ours.
                unsafe { (&pool.pool).release(block) };
            }
        }
    });
    producer.join().unwrap();
    consumer.join().unwrap();
    let mut out = [std::mem::MaybeUninit::uninit(); 2];
    loop {
        let taken = depot.take(&mut out);
        if taken == 0 {
            break;
        }
        for slot in &out[..taken] {
            // SAFETY: as in the consumer.
            unsafe { (&pool.pool).release(slot.assume_init()) };
        }
    }
    check_end(pool, checks, 4);
}

impl Real {
    fn block_id(&self, block: std::ptr::NonNull<Block<u64>>) -> usize {
        (block.as_ptr() as usize - self.base) / STRIDE
    }
}

#[test]
fn depot_hands_batches_between_threads() {
    explore(
        "depot_hands_batches_between_threads",
        FromEnv(2),
        depot_between_threads,
    );
}
