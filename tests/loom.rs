//! loom model of the free list, exactly as the library runs it.
//!
//! Run: `RUSTFLAGS="--cfg blockpool_loom" cargo test --release --test loom`
//! (`LOOM_MAX_PREEMPTIONS` bounds the scenarios marked `FromEnv(2)`; 2 when unset).
//!
//! Under `--cfg blockpool_loom` the crate's `sync` shim swaps in loom's atomics and `build.rs`
//! always picks the `tagged_index` backend (one `AtomicU64` head naming the top block
//! by index and per-block version, links and names in the block headers, the top-block
//! hint, the region table). The tests below drive that real code
//! through the public API (`Pool::grow_exact`, `alloc`, dropping boxes), so what loom
//! explores is the library's own pop/push/add_run with the library's own orderings.
//!
//! The other backends cannot be modelled: `arm_llsc` is `ldrex`/`strex` in `asm!`, which
//! loom cannot see, and `critical_section` is mutual exclusion (nothing to interleave).
//! `arm_llsc` runs the same Treiber algorithm; its ABA defence (reading `next` inside the
//! exclusive window) is modelled by `LlscStack` below: a store-conditional fails if
//! `head` was written since the load-link, which a version that changes on every
//! successful store gives too.
//!
//! What every execution must end with: each block either held by exactly one owner or
//! on the free list exactly once (drained at the end), and no block handed to two owners
//! at a time (a per-block in-use flag, swapped with `Relaxed` so that the check adds no
//! synchronisation of its own). Each owner also writes a per-block `loom::cell::UnsafeCell`
//! while it holds the block: loom reports a data race there if the free list's
//! acquire/release orderings did not order one owner's writes before the next owner's.
//!
//! `NaiveStack` is the same algorithm without versions; `naive_stack_aba_is_found` asserts
//! that loom finds its ABA bug, so the harness is shown to be able to fail.
#![cfg(blockpool_loom)]

use std::vec::Vec;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use loom::thread;

use blockpool::{Block, Pool, StaticPool, Uninit};

#[path = "common/loom_explore.rs"]
mod loom_explore;
use loom_explore::{explore, explore_expecting_failure, leak, Bound::*};

/// A free list under test: blocks are named `0..n`.
trait FreeList: Sync + Sized + 'static {
    type Held: Send + 'static;
    fn alloc(&'static self) -> Option<Self::Held>;
    fn id(&'static self, held: &Self::Held) -> usize;
    fn free(&'static self, held: Self::Held);
}

const STRIDE: usize = std::mem::size_of::<Block<u64>>();

/// Which block of the array at `base` a payload pointer lies in (each payload lies
/// inside its block, after the header, whose size differs under loom).
fn block_of(base: usize, payload: *const u64) -> usize {
    (payload as usize - base) / STRIDE
}

/// The library's pool.
struct RealPool {
    pool: Pool<u64>,
    base: usize,
}

impl RealPool {
    /// A pool of `blocks` blocks, added with one `grow_exact`.
    fn new(blocks: usize) -> &'static Self {
        let memory: &'static mut [Block<u64>] =
            Vec::leak((0..blocks).map(|_| Block::new()).collect::<Vec<_>>());
        let base = memory.as_ptr() as usize;
        let this = leak(RealPool {
            pool: Pool::new(),
            base,
        });
        assert_eq!(this.pool.grow_exact(memory), blocks);
        this
    }
}

impl FreeList for RealPool {
    type Held = blockpool::Box<&'static Pool<u64>, Uninit>;

    fn alloc(&'static self) -> Option<Self::Held> {
        self.pool.alloc()
    }

    fn id(&'static self, held: &Self::Held) -> usize {
        block_of(self.base, held.as_ptr())
    }

    fn free(&'static self, held: Self::Held) {
        drop(held);
    }
}

const NIL: u32 = u32::MAX;

fn links(blocks: usize) -> Vec<AtomicU32> {
    (0..blocks)
        .map(|i| AtomicU32::new(if i + 1 < blocks { i as u32 + 1 } else { NIL }))
        .collect()
}

/// The free-list algorithm without an ABA defence: the head is a bare index.
struct NaiveStack {
    head: AtomicU32,
    next: Vec<AtomicU32>,
}

impl NaiveStack {
    fn new(blocks: usize) -> &'static Self {
        leak(NaiveStack {
            head: AtomicU32::new(if blocks > 0 { 0 } else { NIL }),
            next: links(blocks),
        })
    }
}

impl FreeList for NaiveStack {
    type Held = usize;

    fn alloc(&'static self) -> Option<usize> {
        let mut top = self.head.load(Ordering::Acquire);
        loop {
            if top == NIL {
                return None;
            }
            let next = self.next[top as usize].load(Ordering::Relaxed);
            match self
                .head
                .compare_exchange_weak(top, next, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some(top as usize),
                Err(actual) => top = actual,
            }
        }
    }

    fn id(&'static self, held: &usize) -> usize {
        *held
    }

    fn free(&'static self, held: usize) {
        let mut top = self.head.load(Ordering::Relaxed);
        loop {
            self.next[held].store(top, Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                top,
                held as u32,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => top = actual,
            }
        }
    }
}

/// The stack as the ARM LL/SC backend runs it: the head word carries a version that
/// every successful store-conditional changes, so a store-conditional after any
/// intervening store to `head` fails, like `strex` after another context's access
/// cleared the monitor. (The real code is `asm!`, which loom cannot run.)
struct LlscStack {
    /// `version << 32 | index`.
    head: AtomicU64,
    next: Vec<AtomicU32>,
}

impl LlscStack {
    fn new(blocks: usize) -> &'static Self {
        let top = if blocks > 0 { 0 } else { NIL };
        leak(LlscStack {
            head: AtomicU64::new(u64::from(top)),
            next: links(blocks),
        })
    }
}

impl FreeList for LlscStack {
    type Held = usize;

    fn alloc(&'static self) -> Option<usize> {
        loop {
            // ldrex. Acquire: the real code's `ldr next, [top]` depends on `top` by
            // address, which on ARM orders it after the `ldrex` and, with the pusher's
            // `dmb`, makes the pushed `next` visible (loom has no consume ordering). With
            // Relaxed here loom finds a stale `next` installed (a block both held and free).
            let word = self.head.load(Ordering::Acquire);
            let top = word as u32;
            if top == NIL {
                return None; // clrex
            }
            // `next` is read inside the window.
            let next = self.next[top as usize].load(Ordering::Relaxed);
            let new = (((word >> 32) + 1) << 32) | u64::from(next);
            // strex, then dmb (acquire)
            if self
                .head
                .compare_exchange(word, new, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Some(top as usize);
            }
        }
    }

    fn id(&'static self, held: &usize) -> usize {
        *held
    }

    fn free(&'static self, held: usize) {
        loop {
            // dmb (release), ldrex
            let word = self.head.load(Ordering::Relaxed);
            self.next[held].store(word as u32, Ordering::Relaxed);
            let new = (((word >> 32) + 1) << 32) | (held as u64);
            if self
                .head
                .compare_exchange(word, new, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// Per-block checks shared by all threads of one execution.
struct Checks {
    in_use: Vec<AtomicBool>,
    /// Written by each owner: a data race here means the free list did not order one
    /// owner's accesses before the next one's.
    payload: Vec<UnsafeCell<usize>>,
}

// SAFETY: `payload[i]` is only accessed by block `i`'s current owner; loom checks that.
unsafe impl Sync for Checks {}

impl Checks {
    fn new(blocks: usize) -> &'static Self {
        leak(Checks {
            in_use: (0..blocks).map(|_| AtomicBool::new(false)).collect(),
            payload: (0..blocks).map(|_| UnsafeCell::new(0)).collect(),
        })
    }
}

/// Allocates and records ownership; `None` when the list is empty.
fn take<L: FreeList>(list: &'static L, checks: &'static Checks, owner: usize) -> Option<L::Held> {
    let held = list.alloc()?;
    let id = list.id(&held);
    assert!(id < checks.in_use.len(), "block id {id} out of range");
    // Relaxed: detects a second owner (an RMW reads the latest value) without adding a
    // happens-before edge that could hide a missing one in the free list.
    let was = checks.in_use[id].swap(true, Ordering::Relaxed);
    assert!(!was, "block {id} handed out twice");
    // SAFETY: loom checks that no other thread accesses the cell concurrently.
    checks.payload[id].with_mut(|p| unsafe { *p = owner });
    Some(held)
}

fn give<L: FreeList>(list: &'static L, checks: &'static Checks, held: L::Held, owner: usize) {
    let id = list.id(&held);
    // SAFETY: as in `take`.
    let seen = checks.payload[id].with_mut(|p| unsafe { std::mem::replace(&mut *p, 0) });
    assert_eq!(
        seen, owner,
        "block {id} was written by another owner while held"
    );
    let was = checks.in_use[id].swap(false, Ordering::Relaxed);
    assert!(was, "block {id} freed while not in use");
    list.free(held);
}

/// After all threads joined: every block is held once or free once.
fn check_end<L: FreeList>(list: &'static L, checks: &'static Checks, held: Vec<L::Held>) {
    let blocks = checks.in_use.len();
    let mut seen = vec![0usize; blocks];
    for h in &held {
        seen[list.id(h)] += 1;
    }
    let mut drained = Vec::new();
    while let Some(h) = list.alloc() {
        let id = list.id(&h);
        assert!(id < blocks, "block id {id} out of range");
        seen[id] += 1;
        assert!(
            seen[id] <= 1,
            "block {id} is both held and free, or free twice"
        );
        drained.push(h);
    }
    for (id, &n) in seen.iter().enumerate() {
        assert_eq!(n, 1, "block {id} lost (held or free {n} times)");
    }
}

/// The classic ABA interleaving: thread 1 pops once while thread 2 pops twice and pushes
/// the first block back. With 3 blocks A -> B -> C, a stale pop in thread 1 would install
/// B, which thread 2 holds.
fn aba<L: FreeList>(make: fn(usize) -> &'static L) {
    let list = make(3);
    let checks = Checks::new(3);
    let t1 = thread::spawn(move || take(list, checks, 1));
    let t2 = thread::spawn(move || {
        let a = take(list, checks, 2);
        let b = take(list, checks, 2);
        if let Some(a) = a {
            give(list, checks, a, 2);
        }
        b
    });
    let mut held = Vec::new();
    held.extend(t1.join().unwrap());
    held.extend(t2.join().unwrap());
    check_end(list, checks, held);
}

/// `threads` threads, each allocating and freeing `rounds` times from a 2-block list; a
/// thread may find it empty.
fn threads_on_two_blocks<L: FreeList>(
    make: fn(usize) -> &'static L,
    threads: usize,
    rounds: usize,
) {
    let list = make(2);
    let checks = Checks::new(2);
    let threads: Vec<_> = (1..=threads)
        .map(|owner| {
            thread::spawn(move || {
                for _ in 0..rounds {
                    if let Some(b) = take(list, checks, owner) {
                        give(list, checks, b, owner);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    check_end(list, checks, Vec::new());
}

/// 3 threads, each allocating and freeing twice from a 2-block list.
fn three_threads_two_blocks<L: FreeList>(make: fn(usize) -> &'static L) {
    threads_on_two_blocks(make, 3, 2)
}

#[test]
fn tagged_index_aba() {
    // Unbounded preemptions: this scenario's whole state space is small.
    explore("tagged_index_aba", Unbounded, || aba(RealPool::new));
}

/// 2 threads, alloc and free twice each. Each holds at most one block, so this cannot
/// produce ABA (that needs a context that pops twice while another stalls): it checks
/// the hint, the names and the orderings under every interleaving with up to
/// `LOOM_MAX_PREEMPTIONS` preemptions.
#[test]
fn tagged_index_two_threads_two_rounds() {
    explore("tagged_index_two_threads_two_rounds", FromEnv(2), || {
        threads_on_two_blocks(RealPool::new, 2, 2)
    });
}

/// 3 threads, alloc and free once each: enough for ABA (one stalls inside its pop while
/// the other two take both blocks and give the first back). Bound 1: each pop and push
/// of the real code is about six atomic operations (the hint, the names), and at bound 2
/// this model did not finish in 3 minutes.
#[test]
fn tagged_index_three_threads_one_round() {
    explore("tagged_index_three_threads_one_round", Fixed(1), || {
        threads_on_two_blocks(RealPool::new, 3, 1)
    });
}

/// Which of the blocks starting at `starts` (blocks from several `grow`s, not one array)
/// a payload pointer lies in.
fn block_among(starts: &[usize], payload: *const u64) -> usize {
    let payload = payload as usize;
    starts
        .iter()
        .position(|&a| (a..a + STRIDE).contains(&payload))
        .expect("a block from outside the pool")
}

/// Drains `pool` and checks that each of the blocks at `starts` was free exactly once.
fn assert_every_block_free_once(pool: &'static Pool<u64>, starts: &[usize]) {
    let mut seen = vec![0; starts.len()];
    let mut drained = Vec::new();
    while let Some(b) = pool.alloc() {
        seen[block_among(starts, b.as_ptr())] += 1;
        drained.push(b);
    }
    assert!(
        seen.iter().all(|&n| n == 1),
        "every block free exactly once at the end: {seen:?}"
    );
}

/// `grow` racing with allocations: the region-table entry and the new blocks' links are
/// published by `add_run`'s release CAS; a popper that acquires the head must see them.
#[test]
fn tagged_index_grow_while_allocating() {
    explore("tagged_index_grow_while_allocating", Unbounded, || {
        let pool = leak(Pool::<u64>::new());
        let first: &'static mut [Block<u64>] = Vec::leak(vec![Block::new()]);
        let second: &'static mut [Block<u64>] = Vec::leak(vec![Block::new(), Block::new()]);
        let starts = [
            first.as_ptr() as usize,
            second.as_ptr() as usize,
            second.as_ptr() as usize + STRIDE,
        ];
        let index = move |payload: *const u64| block_among(&starts, payload);
        assert_eq!(pool.grow_exact(first), 1);
        let in_use: &'static Vec<AtomicBool> =
            leak((0..3).map(|_| AtomicBool::new(false)).collect());
        let grower = thread::spawn(move || assert_eq!(pool.grow_exact(second), 2));
        let user = thread::spawn(move || {
            let mut held = Vec::new();
            for _ in 0..2 {
                if let Some(b) = pool.alloc() {
                    let i = index(b.as_ptr());
                    let was = in_use[i].swap(true, Ordering::Relaxed);
                    assert!(!was, "block {i} handed out twice");
                    // Write the payload at the address the index resolved to.
                    held.push(b.init(i as u64));
                }
            }
            for b in held {
                in_use[*b as usize].store(false, Ordering::Relaxed);
            }
        });
        grower.join().unwrap();
        user.join().unwrap();
        assert_every_block_free_once(pool, &starts);
    });
}

/// Two `grow`s racing with allocations, so that region 0 (the first region entry
/// claimed) can be registered after region 1's blocks are already in the list. A pop
/// turns the next block's name into the hint's address with `region0` for a region-0
/// name, without checking it for null: this checks that `region0`, loaded after the
/// head's acquire, is never seen null when a region-0 name is at hand. (With `region0`
/// loaded before the head instead, this model fails after about 1,400 executions.)
#[test]
fn tagged_index_two_grows_while_allocating() {
    explore(
        "tagged_index_two_grows_while_allocating",
        FromEnv(2),
        || {
            let pool = leak(Pool::<u64>::new());
            let first: &'static mut [Block<u64>] = Vec::leak(vec![Block::new(), Block::new()]);
            let second: &'static mut [Block<u64>] = Vec::leak(vec![Block::new()]);
            let starts = [
                first.as_ptr() as usize,
                first.as_ptr() as usize + STRIDE,
                second.as_ptr() as usize,
            ];
            let index = move |payload: *const u64| block_among(&starts, payload);
            let one = thread::spawn(move || assert_eq!(pool.grow_exact(first), 2));
            let two = thread::spawn(move || assert_eq!(pool.grow_exact(second), 1));
            let mut held: Vec<blockpool::Box<&Pool<u64>>> = Vec::new();
            for _ in 0..2 {
                if let Some(b) = pool.alloc() {
                    let i = index(b.as_ptr());
                    assert!(
                        held.iter().all(|h| **h != i as u64),
                        "block {i} handed out twice"
                    );
                    // Write the payload at the address the name resolved to.
                    held.push(b.init(i as u64));
                }
            }
            one.join().unwrap();
            two.join().unwrap();
            drop(held);
            assert_every_block_free_once(pool, &starts);
        },
    );
}

/// `StaticPool`: never-used blocks are claimed from a counter and `adopt`ed (their
/// region entry and index stored with `Relaxed`) while freed ones go through the free
/// list; 2 threads alloc/free twice on 2 blocks.
#[test]
fn static_pool_fresh_and_freed_blocks() {
    explore("static_pool_fresh_and_freed_blocks", FromEnv(2), || {
        let pool = leak(StaticPool::<u64, 2>::new());
        let base = pool as *const StaticPool<u64, 2> as usize;
        let size = std::mem::size_of::<StaticPool<u64, 2>>();
        let in_use: &'static Vec<AtomicBool> =
            leak((0..2).map(|_| AtomicBool::new(false)).collect());
        // Blocks are numbered in the order their addresses are first seen. (A std mutex:
        // loom runs its threads one at a time and switches only at loom operations, so
        // this never blocks and adds nothing to what loom sees.)
        let seen: &'static std::sync::Mutex<Vec<usize>> = leak(Default::default());
        let id = move |payload: *const u64| {
            let p = payload as usize;
            assert!(
                (base..base + size).contains(&p),
                "a block from outside the pool"
            );
            let mut seen = seen.lock().unwrap();
            let i = seen.iter().position(|&a| a == p).unwrap_or_else(|| {
                seen.push(p);
                seen.len() - 1
            });
            assert!(i < 2, "more than 2 distinct blocks");
            i
        };
        let threads: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || {
                    for _ in 0..2 {
                        if let Some(b) = pool.alloc() {
                            let i = id(b.as_ptr());
                            let was = in_use[i].swap(true, Ordering::Relaxed);
                            assert!(!was, "block {i} handed out twice");
                            let b = b.init(i as u64);
                            in_use[*b as usize].store(false, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut seen = [0; 2];
        let mut drained = Vec::new();
        while let Some(b) = pool.alloc() {
            seen[id(b.as_ptr())] += 1;
            drained.push(b);
        }
        assert_eq!(seen, [1, 1], "every block free exactly once at the end");
    });
}

#[test]
fn llsc_logic_aba() {
    explore("llsc_logic_aba", Unbounded, || aba(LlscStack::new));
}

#[test]
fn llsc_logic_three_threads_two_blocks() {
    explore("llsc_logic_three_threads_two_blocks", FromEnv(2), || {
        three_threads_two_blocks(LlscStack::new)
    });
}

/// The model can fail: loom finds the naive stack's ABA bug.
#[test]
fn naive_stack_aba_is_found() {
    explore_expecting_failure(
        "naive_stack_aba",
        Unbounded,
        &[
            "handed out twice",
            "both held and free",
            "lost",
            "another owner",
        ],
        || aba(NaiveStack::new),
    );
}
