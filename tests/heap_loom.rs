//! loom model of the heap's own atomics: the arena's bump (`src/heap/arena.rs`), which
//! hands each block its bytes with one compare-and-swap of the arena's top.
//!
//! Run: `RUSTFLAGS="--cfg blockpool_loom" cargo test --release --test heap_loom`.
//!
//! The rest of the heap is the free list (modelled in `tests/loom.rs`, with the same
//! orderings) and per-class counters that publish nothing. The free list itself cannot
//! be modelled inside a heap arena: loom's atomics cannot live in raw bytes.
//!
//! Every execution must end with disjoint blocks (each thread writes its block's bytes
//! through `loom::cell::UnsafeCell`s, so an overlap is also a data race loom reports),
//! the top at the end of the last block, and no carve refused while there was room.
//! `naive_bump_overlap_is_found`: a bump made of a load and a store (no
//! read-modify-write) must fail the same checks, so the harness can fail.
#![cfg(blockpool_loom)]

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use blockpool::heap::loom_model::carve;

const LINK: usize = 4;
const CAPACITY: usize = 64;

/// The arena's bytes, one loom cell per 4 bytes.
struct Arena {
    top: AtomicUsize,
    words: Vec<UnsafeCell<usize>>,
}

impl Arena {
    fn new() -> Self {
        Self {
            top: AtomicUsize::new(0),
            words: (0..CAPACITY / 4).map(|_| UnsafeCell::new(0)).collect(),
        }
    }

    /// Writes `owner` into every word of the block (link and payload).
    fn fill(&self, payload: usize, size: usize, owner: usize) {
        for word in (payload - LINK) / 4..(payload + size) / 4 {
            // SAFETY: a plain write through loom's cell; loom reports it if another
            // thread's access to the same word is unordered with it (an overlap).
            self.words[word].with_mut(|w| unsafe { *w = owner });
        }
    }

    /// Whether every word of the block still says `owner`.
    fn check(&self, payload: usize, size: usize, owner: usize) -> bool {
        ((payload - LINK) / 4..(payload + size) / 4)
            // SAFETY: as in `fill`.
            .all(|word| self.words[word].with(|w| unsafe { *w }) == owner)
    }
}

/// Three threads carve blocks of different sizes and alignments until the arena is
/// full; `bump` is the carve under test.
fn scenario(bump: fn(&AtomicUsize, usize, usize, usize) -> Option<usize>) {
    let arena = Arc::new(Arena::new());
    let shapes = [(12, 4), (8, 8), (20, 4)];
    let handles: Vec<_> = shapes
        .iter()
        .enumerate()
        .map(|(owner, &(size, align))| {
            let arena = arena.clone();
            thread::spawn(move || {
                let mut mine = Vec::new();
                while let Some(payload) = bump(&arena.top, size, align, CAPACITY) {
                    assert_eq!(payload % align, 0, "misaligned");
                    arena.fill(payload, size, owner + 1);
                    mine.push(payload);
                    if mine.len() == 2 {
                        break;
                    }
                }
                for &payload in &mine {
                    assert!(arena.check(payload, size, owner + 1), "blocks overlap");
                }
                (size, mine)
            })
        })
        .collect();
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    for handle in handles {
        let (size, mine) = handle.join().unwrap();
        blocks.extend(mine.into_iter().map(|p| (p - LINK, p + size)));
    }
    blocks.sort();
    for pair in blocks.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "blocks overlap: {blocks:?}");
    }
    let top = arena.top.load(Ordering::Relaxed);
    assert!(
        blocks.last().is_none_or(|b| b.1 <= top),
        "top below a block"
    );
    assert!(top <= CAPACITY, "beyond the arena");
}

fn library_bump(top: &AtomicUsize, size: usize, align: usize, cap: usize) -> Option<usize> {
    carve(top, LINK, size, align, cap)
}

/// The bug the model must find: the top read and written in two steps.
fn naive_bump(top: &AtomicUsize, size: usize, align: usize, cap: usize) -> Option<usize> {
    let t = top.load(Ordering::Relaxed);
    let payload = (t + LINK + align - 1) & !(align - 1);
    if payload + size > cap {
        return None;
    }
    top.store(payload + size, Ordering::Relaxed);
    Some(payload)
}

fn model(f: impl Fn() + Sync + Send + 'static) -> usize {
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f()
    });
    runs.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn concurrent_carves_are_disjoint() {
    let start = std::time::Instant::now();
    let runs = model(|| scenario(library_bump));
    println!(
        "loom heap carve: passed, {runs} executions, {:.2?}",
        start.elapsed()
    );
}

#[test]
fn naive_bump_overlap_is_found() {
    let found = panic::catch_unwind(AssertUnwindSafe(|| model(|| scenario(naive_bump))));
    assert!(found.is_err(), "loom did not find the naive bump's overlap");
    println!("loom heap carve: the naive bump's overlap was found");
}
