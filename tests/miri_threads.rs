//! A small multi-threaded test sized for Miri, run under many seeds:
//!
//! ```text
//! MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-many-seeds=0..64" \
//!     cargo +nightly miri test --test miri_threads
//! ```
//!
//! Threads allocate, write the whole payload, check it and free, on an instance pool and
//! a `StaticPool` at once. Miri's data-race detector checks that the free list orders one
//! owner's payload accesses before the next owner's (the payload is plain memory), its
//! borrow and provenance checks cover the pointer arithmetic, and the in-use flags catch
//! a block handed out twice. Natively it is a quick smoke test. (Pointer-to-integer
//! casts only: strict provenance forbids the other way.)
//!
//! The `grow_*_while_allocating` tests grow a pool one small chunk at a time (from zeroed
//! `static` memory, with `grow` and with `grow_exact`) while two
//! threads allocate, write, check and free: a pop may then read the header of a block
//! that `grow` has just written with plain writes, through the free list's top-block
//! hint. With the hint loaded `Relaxed`, Miri reports that read as a data race in most
//! seeds; with the hint's Acquire/Release it reports nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use blockpool::{pool, Block, Pool, StaticPool};

const THREADS: usize = 3;
const ROUNDS: usize = if cfg!(miri) { 20 } else { 10_000 };
const BLOCKS: usize = 2;

type Payload = [u64; 4];

static POOL: Pool<Payload> = Pool::new();
static STATIC_POOL: StaticPool<Payload, BLOCKS> = StaticPool::new();
static IN_USE: [AtomicBool; 2 * BLOCKS] = [const { AtomicBool::new(false) }; 2 * BLOCKS];

/// The in-use flag of the block whose payload is at `payload`.
fn flag(payload: *const Payload, pool_base: usize, first: usize) -> &'static AtomicBool {
    let stride = std::mem::size_of::<Block<Payload>>();
    let i = (payload as usize - pool_base) / stride;
    assert!(i < BLOCKS, "a block from outside the pool");
    &IN_USE[first + i]
}

fn exercise(owner: u64, instance_base: usize, static_base: usize) {
    let value = [owner; 4];
    for round in 0..ROUNDS {
        let mut held = Vec::new();
        if let Some(b) = POOL.alloc() {
            let in_use = flag(b.as_ptr(), instance_base, 0);
            // Relaxed: adds no synchronisation that could hide a missing one.
            assert!(
                !in_use.swap(true, Ordering::Relaxed),
                "block handed out twice"
            );
            held.push((b.init(value), in_use));
        }
        if round % 2 == 0 {
            if let Some(b) = STATIC_POOL.alloc() {
                let in_use = flag(b.as_ptr(), static_base, BLOCKS);
                assert!(
                    !in_use.swap(true, Ordering::Relaxed),
                    "block handed out twice"
                );
                let b = b.init(value);
                assert_eq!(*b, value, "payload changed while held");
                in_use.store(false, Ordering::Relaxed);
            }
        }
        for (b, in_use) in held {
            assert_eq!(*b, value, "payload changed while held");
            in_use.store(false, Ordering::Relaxed);
        }
    }
}

#[test]
fn threads_alloc_and_free() {
    static mut MEMORY: [Block<Payload>; BLOCKS] = [const { Block::new() }; BLOCKS];
    // SAFETY: the only reference ever made to `MEMORY`.
    let memory = unsafe { &mut *std::ptr::addr_of_mut!(MEMORY) };
    // Block `i`'s payload lies in [base + i * stride, base + (i + 1) * stride).
    let instance_base = memory.as_ptr() as usize;
    assert_eq!(POOL.grow_exact(memory), BLOCKS);
    // `StaticPool` hands its never-used blocks out in order: the first one is block 0.
    let first = STATIC_POOL.alloc().unwrap();
    let static_base = first.as_ptr() as usize;
    drop(first);

    let threads: Vec<_> = (1..=THREADS as u64)
        .map(|owner| thread::spawn(move || exercise(owner, instance_base, static_base)))
        .collect();
    // Join explicitly (TSan and Miri see the joins as synchronisation).
    for t in threads {
        t.join().unwrap();
    }

    // Every block is free exactly once: drain both pools.
    let mut drained = Vec::new();
    while let Some(b) = POOL.alloc() {
        drained.push(b);
        assert!(
            drained.len() <= BLOCKS,
            "instance pool hands out more blocks than it has"
        );
    }
    let mut static_drained = Vec::new();
    while let Some(b) = STATIC_POOL.alloc() {
        static_drained.push(b);
        assert!(
            static_drained.len() <= BLOCKS,
            "static pool hands out more blocks than it has"
        );
    }
    let mut addresses: Vec<usize> = drained.iter().map(|b| b.as_ptr() as usize).collect();
    addresses.extend(static_drained.iter().map(|b| b.as_ptr() as usize));
    addresses.sort_unstable();
    addresses.dedup();
    assert_eq!(
        addresses.len(),
        2 * BLOCKS,
        "a block was lost or is free twice"
    );
}

/// Grows by `GROWS` chunks of one or two blocks while `ALLOCATORS` threads allocate.
const GROWS: usize = 4;
const ALLOCATORS: usize = 2;
const GROW_ROUNDS: usize = if cfg!(miri) { 12 } else { 2_000 };
/// A chunk of bytes with room for one block after aligning its start.
const CHUNK: usize = std::mem::size_of::<Block<Payload>>() + std::mem::align_of::<Block<Payload>>();

/// One chunk of memory to grow a pool by: bytes for `grow`, or typed blocks for
/// `grow_exact`.
enum Chunk {
    Bytes(&'static mut [u8]),
    Blocks(&'static mut [Block<Payload>]),
}

/// The memory one test grows its pool from, in a zeroed `static` (nothing leaked, so
/// LeakSanitizer has nothing to report when the ASan step runs this file).
struct Memory {
    bytes: [[u8; CHUNK]; GROWS / 2],
    blocks: [[Block<Payload>; 2]; GROWS / 2],
}

impl Memory {
    const fn new() -> Self {
        Memory {
            bytes: [[0; CHUNK]; GROWS / 2],
            blocks: [const { [const { Block::new() }; 2] }; GROWS / 2],
        }
    }

    /// The `GROWS` chunks, bytes and blocks in turn.
    fn chunks(&'static mut self) -> Vec<Chunk> {
        let bytes = self.bytes.iter_mut().map(|b| Chunk::Bytes(&mut b[..]));
        let blocks = self.blocks.iter_mut().map(|b| Chunk::Blocks(&mut b[..]));
        bytes.zip(blocks).flat_map(|(b, k)| [b, k]).collect()
    }
}

/// Runs the allocators while `grow` adds `GROWS` chunks; returns how many blocks were
/// added in all. `alloc_write_check_free` allocates once (if it can), writes `owner`
/// into the payload, checks it and frees it.
fn grow_while_allocating(
    chunks: Vec<Chunk>,
    grow: impl Fn(Chunk) -> usize,
    alloc_write_check_free: impl Fn(u64) + Sync,
) -> usize {
    thread::scope(|s| {
        let workers: Vec<_> = (1..=ALLOCATORS as u64)
            .map(|owner| {
                let work = &alloc_write_check_free;
                s.spawn(move || {
                    for _ in 0..GROW_ROUNDS {
                        work(owner);
                    }
                })
            })
            .collect();
        let added = chunks.into_iter().map(&grow).sum();
        for w in workers {
            w.join().unwrap();
        }
        added
    })
}

fn write_check(payload: &mut Payload, owner: u64) {
    *payload = [owner; 4];
    std::hint::black_box(&mut *payload);
    assert_eq!(*payload, [owner; 4], "payload changed while held");
}

/// Drains `alloc` and checks it hands out exactly `expected` distinct blocks.
fn assert_all_back<B>(
    expected: usize,
    mut alloc: impl FnMut() -> Option<B>,
    addr: impl Fn(&B) -> usize,
) {
    let mut drained = Vec::new();
    while let Some(b) = alloc() {
        drained.push(b);
        assert!(drained.len() <= expected, "more blocks than were added");
    }
    let mut addresses: Vec<usize> = drained.iter().map(&addr).collect();
    addresses.sort_unstable();
    addresses.dedup();
    assert_eq!(
        addresses.len(),
        expected,
        "a block was lost or is free twice"
    );
}

#[test]
fn grow_instance_pool_while_allocating() {
    static GROWN: Pool<Payload> = Pool::new();
    static mut MEMORY: Memory = Memory::new();
    // SAFETY: the only reference ever made to `MEMORY` (this test runs once).
    let memory = unsafe { &mut *std::ptr::addr_of_mut!(MEMORY) };
    let added = grow_while_allocating(
        memory.chunks(),
        |chunk| match chunk {
            Chunk::Bytes(bytes) => GROWN.grow(bytes),
            Chunk::Blocks(blocks) => GROWN.grow_exact(blocks),
        },
        |owner| {
            if let Some(mut b) = GROWN.alloc() {
                write_check(b.as_uninit_mut().write([0; 4]), owner);
            } else {
                thread::yield_now();
            }
        },
    );
    assert!(added >= GROWS, "{added}");
    assert_all_back(added, || GROWN.alloc(), |b| b.as_ptr() as usize);
}

#[test]
fn grow_singleton_while_allocating() {
    pool!(Grown: Payload);
    static mut MEMORY: Memory = Memory::new();
    // SAFETY: the only reference ever made to `MEMORY` (this test runs once).
    let memory = unsafe { &mut *std::ptr::addr_of_mut!(MEMORY) };
    let added = grow_while_allocating(
        memory.chunks(),
        |chunk| match chunk {
            Chunk::Bytes(bytes) => Grown::grow(bytes),
            Chunk::Blocks(blocks) => Grown::grow_exact(blocks),
        },
        |owner| {
            if let Some(b) = Grown::alloc() {
                let mut b = b.init([0; 4]);
                write_check(&mut b, owner);
            } else {
                thread::yield_now();
            }
        },
    );
    assert!(added >= GROWS, "{added}");
    assert_all_back(added, Grown::alloc, |b| b.as_ptr() as usize);
}
