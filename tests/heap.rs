//! The heap (`blockpool::Heap`) on the host: bad input, realloc, a moved heap, and
//! threads running `Vec`/`Box`/`String` traffic through one heap, checked with stamps
//! (a block handed to two owners at once, or two blocks that overlap, show as a stamp
//! overwritten) and with the accounting at the end.
//!
//! Run with `--features stats,allocator-api2` (the `[[test]]` entry requires them).
//! Under Miri (`scripts/heap.sh`), the same tests with fewer rounds.
//!
//! The negative control: with `RUSTFLAGS="--cfg blockpool_heap_broken"` the arena's
//! bump hands every second block out without moving its top (two blocks overlap), and
//! `scripts/heap.sh` requires that this file then fails.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::thread;

use allocator_api2::boxed::Box as HBox;
use allocator_api2::vec::Vec as HVec;
use blockpool::{Heap, SizeClasses};

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

const ROUNDS: usize = if cfg!(miri) { 40 } else { 20_000 };

#[test]
fn zero_size_is_a_real_block_of_the_smallest_class() {
    static HEAP: Heap<1024> = Heap::new();
    let zero = layout(0, 1);
    assert_eq!(HEAP.class_of(zero), Some(0));
    let a = HEAP.try_alloc(zero).unwrap();
    let b = HEAP.try_alloc(zero).unwrap();
    assert_ne!(a, b);
    // SAFETY: both came from `HEAP` with `zero`, freed once each.
    unsafe {
        HEAP.free(a, zero);
        HEAP.free(b, zero);
    }
    assert_eq!(HEAP.stats().in_use(), 0);
}

#[test]
fn huge_and_over_aligned_layouts_get_none_and_are_counted() {
    static HEAP: Heap<8192> = Heap::new();
    for bad in [
        layout(2049, 1),
        layout(isize::MAX as usize - 64, 1),
        layout(8, 32),
        layout(1, 4096),
        layout(2048, 32),
    ] {
        assert_eq!(HEAP.try_alloc(bad), None, "{bad:?}");
        // Through `GlobalAlloc`: `null`.
        let global: &'static Heap<8192> = &HEAP;
        // SAFETY: a non-zero size; a null pointer is never freed.
        assert!(unsafe { std::alloc::GlobalAlloc::alloc(&global, bad) }.is_null());
    }
    let stats = HEAP.stats();
    assert_eq!(
        (stats.rejected, stats.failures(), stats.arena_used),
        (10, 0, 0)
    );
    // The largest alignment that exists: 16, for sizes of a 16-aligned class.
    let aligned = layout(20, 16);
    let p = HEAP.try_alloc(aligned).unwrap();
    assert_eq!(p.as_ptr() as usize % 16, 0);
    assert_eq!(HEAP.usable_size(aligned), Some(32)); // the 24-byte class is 8-aligned
                                                     // SAFETY: from `HEAP` with `aligned`, freed once.
    unsafe { HEAP.free(p, aligned) };
}

#[test]
fn one_class_exhausted_while_another_has_free_blocks() {
    static HEAP: Heap<512> = Heap::new();
    let small = layout(8, 8);
    let big = layout(200, 8);
    // Fill the arena with small blocks, free them all: they stay in the 8-byte class.
    let mut held = Vec::new();
    while let Some(p) = HEAP.try_alloc(small) {
        held.push(p);
    }
    assert!(held.len() >= 512 / 32, "{}", held.len());
    for p in held.drain(..) {
        // SAFETY: from `HEAP` with `small`, freed once.
        unsafe { HEAP.free(p, small) };
    }
    // The big class has no block and the arena no room: `None`, counted as a failure
    // of that class; the small class still serves.
    assert_eq!(HEAP.try_alloc(big), None);
    let stats = HEAP.stats();
    let class = HEAP.class_of(big).unwrap();
    assert_eq!((stats.classes[class].failures, stats.in_use()), (1, 0));
    let again = HEAP.try_alloc(small).unwrap();
    // SAFETY: from `HEAP` with `small`, freed once.
    unsafe { HEAP.free(again, small) };
}

#[test]
fn realloc_in_place_within_a_class_and_contents_survive_a_move() {
    static HEAP: Heap<4096> = Heap::new();
    let l = layout(33, 1); // the 40-byte class
    let p = HEAP.try_alloc(l).unwrap();
    // SAFETY: 33 bytes of our block.
    unsafe {
        p.as_ptr()
            .copy_from(b"0123456789abcdefghijklmnopqrstuvw".as_ptr(), 33)
    };
    // SAFETY: `p` is live with layout `l`.
    let same = unsafe { HEAP.try_realloc(p, l, 40) }.unwrap();
    assert_eq!(same, p);
    // SAFETY: `same` is live with size 40.
    let grown = unsafe { HEAP.try_realloc(same, layout(40, 1), 300) }.unwrap();
    assert_ne!(grown, p);
    // SAFETY: the first 33 bytes were copied over.
    assert_eq!(
        unsafe { std::slice::from_raw_parts(grown.as_ptr(), 33) },
        b"0123456789abcdefghijklmnopqrstuvw"
    );
    // SAFETY: live with size 300; shrink to another class: moved, 5 bytes kept.
    let shrunk = unsafe { HEAP.try_realloc(grown, layout(300, 1), 5) }.unwrap();
    // SAFETY: 5 bytes copied.
    assert_eq!(
        unsafe { std::slice::from_raw_parts(shrunk.as_ptr(), 5) },
        b"01234"
    );
    // A size no class holds: `None`, the block untouched and still ours.
    // SAFETY: live with size 5.
    assert_eq!(
        unsafe { HEAP.try_realloc(shrunk, layout(5, 1), 1 << 20) },
        None
    );
    // SAFETY: live with size 5, freed once.
    unsafe { HEAP.free(shrunk, layout(5, 1)) };
    assert_eq!(HEAP.stats().in_use(), 0);
}

#[test]
fn a_user_class_table() {
    struct Mine;
    impl SizeClasses<2> for Mine {
        const SIZES: [usize; 2] = [24, 100];
    }
    static HEAP: Heap<1024, Mine, 2> = Heap::new();
    assert_eq!(HEAP.class_of(layout(1, 1)), Some(0));
    assert_eq!(HEAP.class_of(layout(25, 4)), Some(1));
    assert_eq!(HEAP.class_of(layout(24, 16)), None); // 24: 8-aligned, 100: 4-aligned
    assert_eq!(HEAP.class_of(layout(101, 1)), None);
    let p = HEAP.try_alloc(layout(100, 4)).unwrap();
    assert_eq!(p.as_ptr() as usize % 4, 0);
    // SAFETY: from `HEAP`, freed once.
    unsafe { HEAP.free(p, layout(100, 4)) };
}

#[test]
fn allocator_api2_collections_from_one_heap_value() {
    // A heap that is not a `static`: leaked.
    let heap: &'static Heap<16384> = std::boxed::Box::leak(std::boxed::Box::new(Heap::new()));
    {
        let mut v: HVec<u64, &Heap<16384>> = HVec::new_in(heap);
        for i in 0..200 {
            v.push(i);
        }
        assert_eq!(v.iter().sum::<u64>(), 199 * 200 / 2);
        let b = HBox::new_in([7u8; 100], heap);
        assert_eq!(b[99], 7);
        assert!(heap.owns(b.as_ptr()));
    }
    assert_eq!(heap.stats().in_use(), 0);
    assert!(heap.stats().arena_used > 1600);
}

/// Fills `len` bytes at `p` with `stamp`'s bytes.
fn stamp(p: NonNull<u8>, len: usize, stamp: u8) {
    // SAFETY: the callers pass their own live blocks of at least `len` bytes.
    unsafe { p.as_ptr().write_bytes(stamp, len) };
}

/// Whether the `len` bytes at `p` are all `stamp`.
fn stamped(p: NonNull<u8>, len: usize, stamp: u8) -> bool {
    // SAFETY: as for `stamp`.
    unsafe { std::slice::from_raw_parts(p.as_ptr(), len) }
        .iter()
        .all(|&b| b == stamp)
}

static OVERWRITTEN: AtomicUsize = AtomicUsize::new(0);

#[test]
fn threads_share_one_heap_with_vec_box_string_and_raw_traffic() {
    static HEAP: Heap<{ 1 << 20 }> = Heap::new();
    const THREADS: usize = 4;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || {
                let mut seed = 0x9E37_79B9_u32.wrapping_mul(t as u32 + 1);
                let mut next = move || {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as usize
                };
                let mut raw: Vec<(NonNull<u8>, Layout, u8)> = Vec::new();
                let mut vecs: Vec<HVec<u32, &Heap<{ 1 << 20 }>>> = Vec::new();
                for round in 0..ROUNDS {
                    match next() % 4 {
                        0 if raw.len() < 32 => {
                            let size = 1 + next() % 600;
                            let l = layout(size, 1 << (next() % 5));
                            if let Some(p) = HEAP.try_alloc(l) {
                                assert_eq!(p.as_ptr() as usize % l.align(), 0);
                                let s = (t * 61 + round) as u8;
                                stamp(p, size, s);
                                raw.push((p, l, s));
                            }
                        }
                        1 if !raw.is_empty() => {
                            let (p, l, s) = raw.swap_remove(next() % raw.len());
                            if !stamped(p, l.size(), s) {
                                OVERWRITTEN.fetch_add(1, Relaxed);
                            }
                            // SAFETY: from `HEAP` with `l`, freed once.
                            unsafe { HEAP.free(p, l) };
                        }
                        2 => {
                            let n = next() % 100;
                            let mut v = HVec::new_in(&HEAP);
                            v.extend((0..n as u32).map(|i| i ^ t as u32));
                            vecs.push(v);
                            if vecs.len() > 16 {
                                let v = vecs.swap_remove(next() % vecs.len());
                                if !v.iter().enumerate().all(|(i, &x)| x == i as u32 ^ t as u32) {
                                    OVERWRITTEN.fetch_add(1, Relaxed);
                                }
                            }
                        }
                        _ => {
                            let b = HBox::new_in([t as u64; 9], &HEAP);
                            let mut s = allocator_api2::vec::Vec::new_in(&HEAP);
                            s.extend_from_slice(format!("thread {t} round {round}").as_bytes());
                            if b.iter().any(|&x| x != t as u64)
                                || !s.starts_with(format!("thread {t} ").as_bytes())
                            {
                                OVERWRITTEN.fetch_add(1, Relaxed);
                            }
                        }
                    }
                }
                for (p, l, s) in raw {
                    if !stamped(p, l.size(), s) {
                        OVERWRITTEN.fetch_add(1, Relaxed);
                    }
                    // SAFETY: from `HEAP` with `l`, freed once.
                    unsafe { HEAP.free(p, l) };
                }
                drop(vecs);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = HEAP.stats();
    let carved: usize = stats.classes.iter().map(|c| c.carved).sum();
    println!(
        "overwritten {}, arena used {} of {}, blocks carved {carved}, high water {:?}",
        OVERWRITTEN.load(Relaxed),
        stats.arena_used,
        stats.arena_size,
        stats
            .classes
            .iter()
            .map(|c| c.high_water)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        OVERWRITTEN.load(Relaxed),
        0,
        "a block was written by two owners (overlap)"
    );
    assert_eq!(stats.in_use(), 0, "accounting does not balance");
    assert_eq!(stats.failures(), 0);
    // The accounting of the arena: every carved block is inside what the arena used.
    let link = if cfg!(target_pointer_width = "64") {
        16
    } else {
        4
    };
    let blocks: usize = stats
        .classes
        .iter()
        .map(|c| c.carved * (c.size + link))
        .sum();
    assert!(
        blocks <= stats.arena_used,
        "{blocks} > {}",
        stats.arena_used
    );
}
