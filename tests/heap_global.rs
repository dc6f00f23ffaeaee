//! The heap as the `#[global_allocator]` of a test program: std's own `Vec`, `Box`,
//! `String` and `BTreeMap`, from several threads at once, checking contents and that
//! the heap's accounting balances when they are gone.
//!
//! The global allocator is `Chained`: the heap first, the system allocator for what no
//! class holds (layouts above 2048 bytes: std's buffers, the test's big vectors), and
//! `Heap::owns` sends each free back where its block came from. `harness = false`, so no
//! test harness allocates while the accounting is read.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::thread;

use blockpool::Heap;

/// 4 MiB (256 KiB under Miri, which initialises every byte of a `static`).
const ARENA: usize = if cfg!(miri) { 256 << 10 } else { 4 << 20 };
static HEAP: Heap<ARENA> = Heap::new();
static FROM_SYSTEM: AtomicUsize = AtomicUsize::new(0);

struct Chained;

// SAFETY: each block comes from the heap or from `System`, and goes back to where it
// came from: `owns` tells the heap's blocks (inside its arena) from the others.
unsafe impl GlobalAlloc for Chained {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(p) = HEAP.try_alloc(layout) {
            return p.as_ptr();
        }
        FROM_SYSTEM.fetch_add(1, Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if HEAP.owns(ptr) {
            // SAFETY: the block came from `HEAP.try_alloc` with this layout (so it is
            // not null).
            unsafe { HEAP.free(std::ptr::NonNull::new_unchecked(ptr), layout) }
        } else {
            // SAFETY: it came from `System.alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}

#[global_allocator]
static GLOBAL: Chained = Chained;

fn work(t: usize, rounds: usize) -> bool {
    let mut ok = true;
    let mut map: BTreeMap<u32, String> = BTreeMap::new();
    let mut boxes: Vec<Box<[u64; 5]>> = Vec::new();
    for round in 0..rounds {
        let key = (round * 7919 + t) as u32 % 512;
        map.insert(key, format!("t{t}-k{key}"));
        if round % 3 == 0 {
            map.remove(&(key.wrapping_add(13) % 512));
        }
        boxes.push(Box::new([(t * round) as u64; 5]));
        if boxes.len() > 40 {
            let b = boxes.swap_remove(round % boxes.len());
            ok &= b.iter().all(|&x| x == b[0]);
        }
        let mut v: Vec<u16> = Vec::new();
        for i in 0..(round % if cfg!(miri) { 40 } else { 300 }) {
            v.push(i as u16); // grows through several classes, by realloc
        }
        ok &= v.iter().enumerate().all(|(i, &x)| x == i as u16);
    }
    ok &= map.iter().all(|(k, v)| *v == format!("t{t}-k{k}"));
    ok
}

fn main() {
    let rounds = if cfg!(miri) { 8 } else { 20_000 };
    let threads = 4;
    // Warm std up (stdout's buffer, thread machinery) before the baseline.
    println!("heap as the global allocator: {threads} threads x {rounds} rounds");
    let before = HEAP.stats();
    let handles: Vec<_> = (0..threads)
        .map(|t| thread::spawn(move || work(t, rounds)))
        .collect();
    let ok = handles.into_iter().all(|h| h.join().unwrap());
    let after = HEAP.stats();
    let carved: usize = after.classes.iter().map(|c| c.carved).sum();
    let served: usize = after.classes.iter().map(|c| c.high_water).sum();
    println!(
        "contents ok: {ok}; heap blocks in use before {} after {}; carved {carved}; \
         arena used {} of {}; system allocations {}; failures {}",
        before.in_use(),
        after.in_use(),
        after.arena_used,
        after.arena_size,
        FROM_SYSTEM.load(Relaxed),
        after.failures(),
    );
    let balanced = after.in_use() == before.in_use();
    let used = carved > 20 && served > 20;
    if ok && balanced && used && after.failures() == 0 {
        println!("ok");
    } else {
        println!("FAILED (contents {ok}, balanced {balanced}, heap used {used})");
        std::process::exit(1);
    }
}
