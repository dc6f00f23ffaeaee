//! Arena utilisation of blockpool's `Heap` beside embedded-alloc 0.7's `LlffHeap`
//! (linked-list first fit) and `TlsfHeap` (TLSF, rlsf), in one firmware: the same
//! pseudo-random sequence of allocations and frees against each allocator with the same
//! arena size, until the first allocation fails; reported: the bytes live (as asked
//! for) at that moment, as a share of the arena. Two traces: `firmware`, the sizes a
//! firmware's messages and collections take (a dozen sizes: protocol buffers, `Box`ed
//! structs, `Vec` capacities), and `uniform`, any size from 8 to 1024 bytes (the
//! adversary of size classes whose memory never returns to the arena).

#![no_std]
#![no_main]

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use blockpool::Heap;
use blockpool_firmware::{exit, hprintln, init_peers, machine_name};
use cortex_m_rt::entry;
use embedded_alloc::{LlffHeap, TlsfHeap};

const TRACE_ARENA: usize = 8 * 1024;
/// Live allocations at most: the `firmware` trace's demand averages about 5 KiB, the
/// `uniform` one's about 6 KiB.
const SLOTS: usize = 48;
const UNIFORM_SLOTS: usize = 12;
const STEPS: u32 = 100_000;

/// A firmware's allocation sizes, with weights (out of 100).
const FIRMWARE_SIZES: [(usize, u32); 12] = [
    (12, 10),
    (16, 12),
    (24, 14),
    (32, 10),
    (40, 8),
    (64, 12),
    (96, 6),
    (128, 10),
    (200, 6),
    (256, 6),
    (512, 4),
    (1024, 2),
];

/// A trace against one allocator: returns (steps run, bytes live when the first
/// allocation failed, most bytes live at once, blocks live at the failure).
fn mixed_trace(heap: &dyn GlobalAlloc, uniform: bool) -> (u32, usize, usize, usize) {
    let mut live: [Option<(*mut u8, Layout)>; SLOTS] = [None; SLOTS];
    let mut seed = 0x1234_5678_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let (mut bytes, mut peak) = (0, 0);
    let slots = if uniform { UNIFORM_SLOTS } else { SLOTS };
    for step in 0..STEPS {
        let slot = next() as usize % slots;
        if let Some((p, layout)) = live[slot].take() {
            // SAFETY: allocated from `heap` with `layout`.
            unsafe { heap.dealloc(p, layout) };
            bytes -= layout.size();
            continue;
        }
        let r = next() as usize;
        let size = if uniform {
            8 + r % 1017
        } else {
            let mut pick = (r % 100) as u32;
            let mut size = 0;
            for (s, weight) in FIRMWARE_SIZES {
                if pick < weight {
                    size = s;
                    break;
                }
                pick -= weight;
            }
            size
        };
        let layout = Layout::from_size_align(size, if r & 256 == 0 { 4 } else { 8 }).unwrap();
        // SAFETY: non-zero size.
        let p = unsafe { heap.alloc(layout) };
        if p.is_null() {
            let blocks = live.iter().filter(|l| l.is_some()).count();
            for (p, layout) in live.iter_mut().filter_map(Option::take) {
                // SAFETY: as above.
                unsafe { heap.dealloc(p, layout) };
            }
            return (step, bytes, peak, blocks);
        }
        live[slot] = Some((p, layout));
        bytes += size;
        peak = peak.max(bytes);
    }
    let blocks = live.iter().filter(|l| l.is_some()).count();
    (STEPS, bytes, peak, blocks)
}

#[entry]
fn main() -> ! {
    static mut U_LLFF_MEM: [MaybeUninit<u8>; TRACE_ARENA] = [MaybeUninit::uninit(); TRACE_ARENA];
    static mut U_TLSF_MEM: [MaybeUninit<u8>; TRACE_ARENA] = [MaybeUninit::uninit(); TRACE_ARENA];
    static U_HEAP: &Heap<TRACE_ARENA> = {
        static HEAP: Heap<TRACE_ARENA> = Heap::new();
        &HEAP
    };
    static U_LLFF: LlffHeap = LlffHeap::empty();
    static U_TLSF: TlsfHeap = TlsfHeap::empty();
    static W_HEAP: &Heap<TRACE_ARENA> = {
        static HEAP: Heap<TRACE_ARENA> = Heap::new();
        &HEAP
    };
    static W_LLFF: LlffHeap = LlffHeap::empty();
    static W_TLSF: TlsfHeap = TlsfHeap::empty();
    // SAFETY: each region is given to one heap, once, and never touched otherwise
    // (cortex-m-rt made these `static mut`s `&'static mut`: `main` runs once).
    unsafe {
        init_peers(
            &U_LLFF,
            addr_of_mut!(*U_LLFF_MEM),
            &U_TLSF,
            addr_of_mut!(*U_TLSF_MEM),
        )
    };
    hprintln!(
        "heap_util: {} | blockpool backend {}",
        machine_name(),
        blockpool::BACKEND
    );
    for (trace, name, heap) in [
        ("firmware", "blockpool", &U_HEAP as &dyn GlobalAlloc),
        ("firmware", "llff", &U_LLFF as &dyn GlobalAlloc),
        ("firmware", "tlsf", &U_TLSF as &dyn GlobalAlloc),
        ("uniform", "blockpool", &W_HEAP as &dyn GlobalAlloc),
        ("uniform", "llff", &W_LLFF as &dyn GlobalAlloc),
        ("uniform", "tlsf", &W_TLSF as &dyn GlobalAlloc),
    ] {
        if trace == "uniform" && name == "llff" {
            // The peers' second heaps take over the first ones' memory: every block of
            // the first trace was freed, and the first heaps are never used again.
            // SAFETY: as just said; each region belongs to one live heap at a time.
            unsafe {
                init_peers(
                    &W_LLFF,
                    addr_of_mut!(*U_LLFF_MEM),
                    &W_TLSF,
                    addr_of_mut!(*U_TLSF_MEM),
                )
            };
        }
        let (steps, live, peak, blocks) = mixed_trace(heap, trace == "uniform");
        let outcome = if steps == STEPS {
            "no failure in"
        } else {
            "first failure after"
        };
        // Per mille, printed as a percentage with one decimal.
        let permille = live * 1000 / TRACE_ARENA;
        hprintln!(
            "utilisation {:8} {:9} arena {} B: {} {:6} steps with {:5} B live in {:2} blocks = {}.{}% of the arena (peak live {} B)",
            trace,
            name,
            TRACE_ARENA,
            outcome,
            steps,
            live,
            blocks,
            permille / 10,
            permille % 10,
            peak
        );
    }
    hprintln!("PASS heap_util");
    exit(true)
}
