//! blockpool's `Heap` against glibc's malloc (`std::alloc::System`) and mimalloc: one
//! thread, alloc + free pairs of small sizes through `GlobalAlloc`, the way a program's
//! global allocator is called. Each figure is the median of several runs of a loop of
//! pairs (the block written once, so that no allocator gets away with a pair the
//! compiler removed).
//!
//! `main` calls [`report`] once; it prints its own table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Instant;

use blockpool::Heap;

/// The heap measured: a global allocator's `&'static Heap` (1 MiB arena; the loop
/// reuses one block per size, so it never fills).
static HEAP: &Heap<{ 1 << 20 }> = {
    static HEAP: Heap<{ 1 << 20 }> = Heap::new();
    &HEAP
};

/// Sizes measured, in bytes.
pub const SIZES: [usize; 4] = [16, 64, 256, 1024];

#[inline(never)]
fn pairs(heap: &dyn GlobalAlloc, layout: Layout, n: u64) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        // SAFETY: a non-zero size; the block is freed with its layout right after.
        unsafe {
            let p = black_box(heap.alloc(layout));
            assert!(!p.is_null());
            p.write(i as u8);
            heap.dealloc(black_box(p), layout);
        }
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Measures every allocator at every size and prints the table. `quick`: a few
/// thousand pairs per run instead of a few million.
pub fn report(quick: bool) {
    let n: u64 = if quick { 20_000 } else { 2_000_000 };
    let runs = if quick { 3 } else { 9 };
    let mimalloc = mimalloc::MiMalloc;
    let allocators: [(&'static str, &dyn GlobalAlloc); 3] = [
        ("blockpool Heap", &HEAP),
        ("glibc malloc", &System),
        ("mimalloc", &mimalloc),
    ];
    println!();
    println!("Heap: one thread, alloc + free pairs through GlobalAlloc, ns per pair (median of {runs} runs of {n})");
    print!("  {:16}", "allocator");
    for size in SIZES {
        print!(" {:>8}", format!("{size} B"));
    }
    println!();
    for (name, heap) in allocators {
        print!("  {name:16}");
        for size in SIZES {
            let layout = Layout::from_size_align(size, 8).unwrap();
            pairs(heap, layout, n / 10); // warm-up: carve, fill caches
            let mut samples: Vec<f64> = (0..runs).map(|_| pairs(heap, layout, n)).collect();
            samples.sort_by(f64::total_cmp);
            let median = samples[runs / 2];
            print!(" {median:8.2}");
        }
        println!();
    }
}
