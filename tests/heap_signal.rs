//! Signal handlers as interrupts, on the heap: one thread loops `Vec`/`Box` traffic
//! and raw blocks through a `static` heap while a POSIX interval timer (20 µs) raises
//! `SIGALRM`, whose handler allocates and frees from the same heap (lock-free: no
//! lock it could find held by the code it interrupted). Stamps catch a block handed to
//! two owners or two blocks that overlap; per-block in-use flags (indexed by the
//! block's offset in the arena) catch a block handed out twice; the accounting must
//! balance at the end.
//!
//! `BLOCKPOOL_SIGNAL_RUNS` handler runs (default 20,000). `harness = false`: the
//! signals must land on this one thread.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use allocator_api2::boxed::Box as HBox;
use allocator_api2::vec::Vec as HVec;
use blockpool::Heap;

#[path = "common/signals.rs"]
mod signals;
use signals::{env, install, set_timer, skipped_under_miri};

const ARENA: usize = 1 << 20;
static HEAP: Heap<ARENA> = Heap::new();
/// One flag per 4 bytes of arena: set while the block whose payload starts there is out.
static IN_USE: [AtomicBool; ARENA / 4] = [const { AtomicBool::new(false) }; ARENA / 4];

static HANDLER_RUNS: AtomicUsize = AtomicUsize::new(0);
static DUPLICATED: AtomicUsize = AtomicUsize::new(0);
static OVERWRITTEN: AtomicUsize = AtomicUsize::new(0);
static EXHAUSTED: AtomicUsize = AtomicUsize::new(0);

fn flag(p: NonNull<u8>) -> &'static AtomicBool {
    // The arena is the heap's first field (see `Heap`'s docs: it `owns` the block).
    assert!(HEAP.owns(p.as_ptr()));
    let start = &HEAP as *const Heap<ARENA> as usize;
    &IN_USE[(p.as_ptr() as usize - start) / 4]
}

/// Allocates `size` bytes and stamps them; counts (never panics in a handler).
fn take(size: usize, align: usize, stamp: u8) -> Option<(NonNull<u8>, Layout)> {
    let layout = Layout::from_size_align(size, align).unwrap();
    let Some(p) = HEAP.try_alloc(layout) else {
        EXHAUSTED.fetch_add(1, Relaxed);
        return None;
    };
    if p.as_ptr() as usize % align != 0 || flag(p).swap(true, Relaxed) {
        DUPLICATED.fetch_add(1, Relaxed);
    }
    // SAFETY: our block, `size` bytes.
    unsafe { p.as_ptr().write_bytes(stamp, size) };
    Some((p, layout))
}

fn give_back((p, layout): (NonNull<u8>, Layout), stamp: u8) {
    // SAFETY: our block, `layout.size()` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), layout.size()) };
    if bytes.iter().any(|&b| b != stamp) {
        OVERWRITTEN.fetch_add(1, Relaxed);
    }
    if !flag(p).swap(false, Relaxed) {
        DUPLICATED.fetch_add(1, Relaxed);
    }
    // SAFETY: from `HEAP` with `layout`, freed once.
    unsafe { HEAP.free(p, layout) };
}

extern "C" fn on_timer(_: libc::c_int) {
    let run = HANDLER_RUNS.fetch_add(1, Relaxed);
    let a = take(8 + run % 120, 8, 0xA0);
    let b = take(24, 4, 0xB0);
    // A collection in the handler too (the heap is its allocator; no global one).
    let mut v = HVec::with_capacity_in(4, &HEAP);
    v.extend_from_slice(&[run as u32; 4]);
    if v.iter().any(|&x| x != run as u32) {
        OVERWRITTEN.fetch_add(1, Relaxed);
    }
    drop(v);
    if let Some(b) = b {
        give_back(b, 0xB0);
    }
    if let Some(a) = a {
        give_back(a, 0xA0);
    }
}

fn main() {
    if skipped_under_miri("heap signal test: skipped under Miri (no signals)") {
        return;
    }
    let runs = env("BLOCKPOOL_SIGNAL_RUNS", 20_000);
    install(libc::SIGALRM, on_timer);
    let start = Instant::now();
    set_timer(20);
    let mut ops = 0usize;
    while HANDLER_RUNS.load(Relaxed) < runs {
        ops += 1;
        let a = take(8 + ops % 200, 1 << (ops % 5), 0x11);
        let b = HBox::new_in([ops as u64; 3], &HEAP);
        let mut v = HVec::new_in(&HEAP);
        v.extend((0..ops % 40).map(|i| i as u16));
        if b.iter().any(|&x| x != ops as u64) || v.iter().enumerate().any(|(i, &x)| x != i as u16) {
            OVERWRITTEN.fetch_add(1, Relaxed);
        }
        if let Some(a) = a {
            give_back(a, 0x11);
        }
    }
    set_timer(0);
    let stats = HEAP.stats();
    let (dup, over) = (DUPLICATED.load(Relaxed), OVERWRITTEN.load(Relaxed));
    let ok = dup == 0 && over == 0 && stats.in_use() == 0 && EXHAUSTED.load(Relaxed) == 0;
    println!(
        "heap under signals: {} handler runs, {ops} thread-mode rounds in {:.1?}; duplicated \
         {dup}, overwritten {over}, in use at the end {}, arena used {} -> {}",
        HANDLER_RUNS.load(Relaxed),
        start.elapsed(),
        stats.in_use(),
        stats.arena_used,
        if ok { "ok" } else { "FAILED" }
    );
    if !ok {
        std::process::exit(1);
    }
}
