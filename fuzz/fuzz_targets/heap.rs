//! Arbitrary sequences of alloc / realloc / free / write on `blockpool::Heap`, checked
//! against a model of the live allocations: every pointer is aligned to its layout, no
//! two live allocations overlap, each allocation's bytes hold what was last written to
//! them (also after a `realloc`, up to the smaller size), `realloc` within a class stays
//! in place, `None` comes only when the layout has no class or the arena is nearly full,
//! and at the end, with everything freed, the accounting balances.
//!
//! Run: `cd fuzz && cargo +nightly fuzz run heap -- -max_total_time=60`
//! (`scripts/heap.sh` runs it). One `static` heap of 4 KiB serves every input (a heap
//! borrows itself for `'static`); each input frees everything it allocated, so the next
//! starts with every carved block on its class's free list and an arena that fills up
//! over the run.
#![no_main]

use std::alloc::Layout;
use std::ptr::NonNull;

use blockpool::Heap;
use libfuzzer_sys::fuzz_target;

const ARENA: usize = 4096;

struct Live {
    ptr: NonNull<u8>,
    layout: Layout,
    fill: u8,
}

fn check_fill(live: &Live, len: usize) {
    // SAFETY: a live allocation of at least `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(live.ptr.as_ptr(), len) };
    assert!(
        bytes.iter().all(|&b| b == live.fill),
        "contents of {:?} lost (want {:#x})",
        live.layout,
        live.fill
    );
}

fn fill(live: &Live) {
    // SAFETY: a live allocation of `layout.size()` bytes.
    unsafe { live.ptr.as_ptr().write_bytes(live.fill, live.layout.size()) };
}

fn no_overlap(all: &[Live], new: &Live) {
    let (start, end) = (
        new.ptr.as_ptr() as usize,
        new.ptr.as_ptr() as usize + new.layout.size().max(1),
    );
    for other in all {
        let (s, e) = (
            other.ptr.as_ptr() as usize,
            other.ptr.as_ptr() as usize + other.layout.size().max(1),
        );
        assert!(
            end <= s || e <= start,
            "{:?} at {start:#x} overlaps {:?} at {s:#x}",
            new.layout,
            other.layout
        );
    }
}

static HEAP: Heap<ARENA> = Heap::new();

fuzz_target!(|data: &[u8]| {
    let heap = &HEAP;
    let mut live: Vec<Live> = Vec::new();
    let mut bytes = data.iter().copied();
    let mut next = || bytes.next();
    let mut fill_byte = 0u8;
    while let Some(op) = next() {
        let a = next().unwrap_or(0) as usize;
        let b = next().unwrap_or(0) as usize;
        fill_byte = fill_byte.wrapping_add(1);
        match op % 4 {
            // alloc: size up to 2300 (some beyond the largest class), align 1..=64
            0 | 1 => {
                let size = (a << 4 | b >> 4) % 2300;
                let layout = Layout::from_size_align(size, 1 << (b % 7)).unwrap();
                match heap.try_alloc(layout) {
                    Some(ptr) => {
                        assert_eq!(ptr.as_ptr() as usize % layout.align(), 0, "misaligned");
                        assert!(heap.owns(ptr.as_ptr()));
                        let new = Live {
                            ptr,
                            layout,
                            fill: fill_byte,
                        };
                        no_overlap(&live, &new);
                        fill(&new);
                        live.push(new);
                    }
                    // Refused only without a class, or without room for one more block
                    // of the class (its link and alignment padding: at most 16 each).
                    None => assert!(
                        heap.class_of(layout).is_none()
                            || heap.arena_used() + 32 + heap.usable_size(layout).unwrap() > ARENA,
                        "{layout:?} refused with {} of {ARENA} bytes used",
                        heap.arena_used()
                    ),
                }
            }
            // free
            2 if !live.is_empty() => {
                let old = live.swap_remove(a % live.len());
                check_fill(&old, old.layout.size());
                // SAFETY: a live allocation of `heap` with its layout, freed once.
                unsafe { heap.free(old.ptr, old.layout) };
            }
            // realloc
            3 if !live.is_empty() => {
                let i = a % live.len();
                let new_size = (b << 3 | a & 7) % 2300;
                let old = &live[i];
                let same_class = heap.class_of(old.layout)
                    == heap
                        .class_of(Layout::from_size_align(new_size, old.layout.align()).unwrap());
                // SAFETY: a live allocation of `heap` with its layout.
                match unsafe { heap.try_realloc(old.ptr, old.layout, new_size) } {
                    Some(ptr) => {
                        let old = live.swap_remove(i);
                        if same_class {
                            assert_eq!(ptr, old.ptr, "a realloc within the class moved");
                        }
                        let layout = Layout::from_size_align(new_size, old.layout.align()).unwrap();
                        let moved = Live {
                            ptr,
                            layout,
                            fill: old.fill,
                        };
                        check_fill(&moved, old.layout.size().min(new_size));
                        no_overlap(&live, &moved);
                        let moved = Live {
                            fill: fill_byte,
                            ..moved
                        };
                        fill(&moved);
                        live.push(moved);
                    }
                    None => check_fill(&live[i], live[i].layout.size()),
                }
            }
            _ => {}
        }
    }
    for old in live.drain(..) {
        check_fill(&old, old.layout.size());
        // SAFETY: as above.
        unsafe { heap.free(old.ptr, old.layout) };
    }
    // Every block is back: each class hands out exactly the blocks it carved, all
    // distinct, without carving more (a lost block would make it carve, a block on its
    // list twice would show as an overlap).
    let used = heap.arena_used();
    assert!(used <= ARENA);
    for class in 0..blockpool::heap::DEFAULT_CLASSES {
        let size = <blockpool::DefaultClasses as blockpool::SizeClasses<27>>::SIZES[class];
        let layout = Layout::from_size_align(size, 1).unwrap();
        assert_eq!(heap.class_of(layout), Some(class));
        let carved = heap.carved(class);
        for _ in 0..carved {
            let ptr = heap.try_alloc(layout).expect("a carved block is lost");
            let new = Live {
                ptr,
                layout,
                fill: 0,
            };
            no_overlap(&live, &new);
            live.push(new);
        }
        assert_eq!(
            (heap.carved(class), heap.arena_used()),
            (carved, used),
            "a block was lost"
        );
        for old in live.drain(..) {
            // SAFETY: as above.
            unsafe { heap.free(old.ptr, old.layout) };
        }
    }
});
