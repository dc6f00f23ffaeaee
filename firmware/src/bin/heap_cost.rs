//! blockpool's `Heap` beside embedded-alloc 0.7's `LlffHeap` (linked-list first fit)
//! and `TlsfHeap` (TLSF, rlsf), in one firmware: instructions per call.
//!
//! `cost_driver` calls each allocator's `GlobalAlloc` `alloc` and `dealloc` through a
//! named, never-inlined function per allocator and operation; `scripts/heap.sh` traces
//! the run under QEMU (one instruction per translation block) and counts every
//! instruction from a function's entry until control is back in `cost_driver` (callees
//! included: the peers' critical sections and rlsf's internals). Each size runs three
//! times; the script keeps the last (a warm heap: ours pops a freed block rather than
//! carving one). The arena utilisation comparison is `heap_util.rs`.

#![no_std]
#![no_main]

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use blockpool::Heap;
use blockpool_firmware::{exit, hprintln, init_peers, machine_name};
use cortex_m_rt::entry;
use embedded_alloc::{LlffHeap, TlsfHeap};

/// The sizes measured (the script reads this line from the output).
const SIZES: [usize; 4] = [8, 24, 64, 200];
const REPS: usize = 3;

const COST_ARENA: usize = 1024;
/// Measured as a firmware's global allocator is: a `&'static Heap`.
static HEAP: &Heap<COST_ARENA> = {
    static HEAP: Heap<COST_ARENA> = Heap::new();
    &HEAP
};
static LLFF: LlffHeap = LlffHeap::empty();
static TLSF: TlsfHeap = TlsfHeap::empty();

#[no_mangle]
#[inline(never)]
pub fn blockpool_heap_alloc(layout: Layout) -> *mut u8 {
    // SAFETY: a non-zero size (every size measured is).
    unsafe { HEAP.alloc(layout) }
}

/// # Safety
/// `ptr` came from this allocator's `alloc` with `layout`, and is freed once.
#[no_mangle]
#[inline(never)]
pub unsafe fn blockpool_heap_dealloc(ptr: *mut u8, layout: Layout) {
    // SAFETY: the caller's promise.
    unsafe { HEAP.dealloc(ptr, layout) }
}

#[no_mangle]
#[inline(never)]
pub fn llff_alloc(layout: Layout) -> *mut u8 {
    // SAFETY: as above.
    unsafe { LLFF.alloc(layout) }
}

/// # Safety
/// `ptr` came from this allocator's `alloc` with `layout`, and is freed once.
#[no_mangle]
#[inline(never)]
pub unsafe fn llff_dealloc(ptr: *mut u8, layout: Layout) {
    // SAFETY: the caller's promise.
    unsafe { LLFF.dealloc(ptr, layout) }
}

#[no_mangle]
#[inline(never)]
pub fn tlsf_alloc(layout: Layout) -> *mut u8 {
    // SAFETY: as above.
    unsafe { TLSF.alloc(layout) }
}

/// # Safety
/// `ptr` came from this allocator's `alloc` with `layout`, and is freed once.
#[no_mangle]
#[inline(never)]
pub unsafe fn tlsf_dealloc(ptr: *mut u8, layout: Layout) {
    // SAFETY: the caller's promise.
    unsafe { TLSF.dealloc(ptr, layout) }
}

/// One alloc and one dealloc of `size` bytes on each allocator, in a fixed order (the
/// script's segments follow it).
#[no_mangle]
#[inline(never)]
pub fn cost_driver(size: usize) -> bool {
    let layout = Layout::from_size_align(size, 4).unwrap();
    let a = blockpool_heap_alloc(layout);
    // SAFETY: a live block of `size` bytes (when not null).
    unsafe { a.write_volatile(1) };
    // SAFETY: `a` came from `blockpool_heap_alloc(layout)`; likewise below.
    unsafe { blockpool_heap_dealloc(a, layout) };
    let b = llff_alloc(layout);
    // SAFETY: as above.
    unsafe { b.write_volatile(2) };
    // SAFETY: as above.
    unsafe { llff_dealloc(b, layout) };
    let c = tlsf_alloc(layout);
    // SAFETY: as above.
    unsafe { c.write_volatile(3) };
    // SAFETY: as above.
    unsafe { tlsf_dealloc(c, layout) };
    !a.is_null() && !b.is_null() && !c.is_null()
}

#[entry]
fn main() -> ! {
    static mut LLFF_MEM: [MaybeUninit<u8>; COST_ARENA] = [MaybeUninit::uninit(); COST_ARENA];
    static mut TLSF_MEM: [MaybeUninit<u8>; COST_ARENA] = [MaybeUninit::uninit(); COST_ARENA];
    // SAFETY: each region is given to one heap, once, and never touched otherwise
    // (cortex-m-rt made these `static mut`s `&'static mut`: `main` runs once).
    unsafe {
        init_peers(
            &LLFF,
            addr_of_mut!(*LLFF_MEM),
            &TLSF,
            addr_of_mut!(*TLSF_MEM),
        )
    };
    hprintln!(
        "heap_cost: {} | blockpool backend {}",
        machine_name(),
        blockpool::BACKEND
    );
    hprintln!("sizes: {:?} reps: {}", SIZES, REPS);
    let mut ok = true;
    for size in SIZES {
        for _ in 0..REPS {
            ok &= cost_driver(size);
        }
    }
    hprintln!(
        "{}",
        if ok {
            "PASS heap_cost"
        } else {
            "FAIL: an allocation failed"
        }
    );
    exit(ok)
}
