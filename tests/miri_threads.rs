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

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use blockpool::{Block, Pool, StaticPool};

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
