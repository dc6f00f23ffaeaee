//! The pool's behaviour through its public API: the tests ported from heapless 0.7's
//! pool (grow, grow_exact, sanity, destructors) and the bad inputs a user can give.

use std::cell::Cell;
use std::collections::HashSet;
use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicUsize, Ordering};

use blockpool::{pool, Block, Box, Pool, StaticPool};

/// `'static` memory for a test, as `grow` wants it.
fn leak_bytes(len: usize) -> &'static mut [u8] {
    std::boxed::Box::leak(vec![0u8; len].into_boxed_slice())
}

fn leak_blocks<T>(n: usize) -> &'static mut [Block<T>] {
    std::boxed::Box::leak((0..n).map(|_| Block::new()).collect())
}

/// Allocates until the pool is exhausted and returns the boxes.
fn drain<T>(pool: &Pool<T>) -> Vec<Box<&Pool<T>, blockpool::Uninit>> {
    std::iter::from_fn(|| pool.alloc()).collect()
}

#[test]
fn grow() {
    // heapless 0.7's test: 1024 bytes of 128-byte blocks give 7 blocks (each block also
    // carries a header of at most 16 bytes, and the start may need aligning).
    let pool = Pool::<[u8; 128]>::new();
    assert_eq!(pool.grow(leak_bytes(1024)), 7);
    assert_eq!(drain(&pool).len(), 7);
}

#[test]
fn grow_exact() {
    let pool = Pool::<[u8; 128]>::new();
    assert_eq!(pool.grow_exact(leak_blocks(8)), 8);
    let held = drain(&pool);
    assert_eq!(held.len(), 8);
    let addresses: HashSet<_> = held.iter().map(|b| b.as_ptr() as usize).collect();
    assert_eq!(addresses.len(), 8, "a block was handed out twice");
}

#[test]
fn sanity_exhaustion_then_reuse() {
    let pool = Pool::<u8>::new();
    assert!(pool.alloc().is_none(), "an empty pool handed out a block");
    assert_eq!(pool.grow(leak_bytes(256)), 256 / size_of::<Block<u8>>());
    let mut held = drain(&pool);
    assert!(!held.is_empty());
    assert!(pool.alloc().is_none());
    let freed = held.pop().unwrap();
    let address = freed.as_ptr();
    drop(freed);
    let again = pool.alloc().expect("a freed block came back");
    assert_eq!(again.as_ptr(), address, "the free list is LIFO");
    assert!(pool.alloc().is_none());
}

#[test]
fn several_grows_add_up() {
    let pool = Pool::<u64>::new();
    let mut total = 0;
    for len in [100, 64, 1000, 17] {
        total += pool.grow(leak_bytes(len));
    }
    assert_eq!(drain(&pool).len(), total);
}

#[test]
fn destructors() {
    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let drops = AtomicUsize::new(0);
    let pool = Pool::<Counted>::new();
    // Room for 3 blocks wherever the buffer starts.
    let bytes = 3 * size_of::<Block<Counted>>() + align_of::<Block<Counted>>();
    let added = pool.grow(leak_bytes(bytes));
    assert!(added >= 3, "{bytes} bytes hold 3 blocks, aligned or not");

    let uninit = pool.alloc().unwrap();
    drop(uninit);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        0,
        "an uninitialised box dropped a value"
    );

    let value = pool.alloc().unwrap().init(Counted(&drops));
    drop(value);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        1,
        "init then drop must drop exactly once"
    );

    let value = pool.alloc_value(Counted(&drops)).ok().unwrap();
    pool.free(value);
    assert_eq!(drops.load(Ordering::Relaxed), 2, "free drops the value");

    let inner = pool.alloc_value(Counted(&drops)).ok().unwrap().into_inner();
    assert_eq!(
        drops.load(Ordering::Relaxed),
        2,
        "into_inner must not drop the value"
    );
    drop(inner);
    assert_eq!(drops.load(Ordering::Relaxed), 3);
    assert_eq!(drain(&pool).len(), added, "a block was lost");
}

#[test]
fn free_returns_each_block_to_the_pool_it_came_from() {
    // `Pool::free` returns a box's block to the pool the box came from, whichever pool's
    // `free` is called: a block must never end up in the wrong pool.
    let a = Pool::<u64>::new();
    let b = Pool::<u64>::new();
    assert_eq!(a.grow_exact(leak_blocks(2)), 2);
    assert_eq!(b.grow_exact(leak_blocks(1)), 1);
    let from_a = a.alloc_value(1).ok().unwrap();
    let from_a_address = from_a.as_ptr();
    let from_b = b.alloc_value(2).ok().unwrap();
    let from_b_address = from_b.as_ptr();
    assert!(b.alloc().is_none());

    a.free(from_b); // the wrong pool's `free`: the block goes back to `b`
    a.free(from_a); // its own pool's `free`

    // Bounded: a block in the wrong list could make it endless.
    let take = |pool: &Pool<u64>| -> Vec<usize> {
        let boxes: Vec<_> = std::iter::from_fn(|| pool.alloc()).take(4).collect();
        boxes.iter().map(|x| x.as_ptr() as usize).collect()
    };
    let a_list = take(&a);
    let b_blocks = take(&b);
    let a_blocks: HashSet<_> = a_list.iter().copied().collect();
    assert_eq!(a_list.len(), 2, "`a` lost a block or got one");
    assert_eq!(a_blocks.len(), 2, "a block of `a` was handed out twice");
    assert!(a_blocks.contains(&(from_a_address as usize)));
    assert_eq!(
        b_blocks,
        [from_b_address as usize],
        "`b`'s block went astray"
    );
}

#[test]
fn alloc_value_gives_the_value_back_when_exhausted() {
    let pool = Pool::<String>::new();
    assert_eq!(pool.alloc_value("kept".to_string()).unwrap_err(), "kept");
}

#[test]
fn panicking_destructor_still_returns_the_block() {
    struct Bomb(#[allow(dead_code)] u8);
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("boom");
        }
    }
    let pool = Pool::<Bomb>::new();
    assert_eq!(pool.grow_exact(leak_blocks(1)), 1);
    let bomb = pool.alloc_value(Bomb(1)).ok().unwrap();
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(bomb))).is_err());
    assert!(pool.alloc().is_some(), "the block was lost while unwinding");
}

#[test]
fn memory_too_small_gives_nothing() {
    let pool = Pool::<[u8; 128]>::new();
    assert_eq!(pool.grow(leak_bytes(0)), 0);
    assert_eq!(pool.grow(leak_bytes(size_of::<Block<[u8; 128]>>() - 1)), 0);
    assert_eq!(pool.grow_exact(leak_blocks(0)), 0);
    assert!(pool.alloc().is_none());
}

#[test]
fn misaligned_memory_is_aligned_first() {
    let pool = Pool::<u64>::new();
    let memory = leak_bytes(size_of::<Block<u64>>() * 4 + 1);
    let start = memory.as_ptr() as usize;
    // Start one byte past an aligned address: only 3 whole blocks fit after aligning.
    let offset = usize::from(start % align_of::<Block<u64>>() == 0);
    let added = pool.grow(&mut memory[offset..]);
    assert!((3..=4).contains(&added));
    for block in drain(&pool) {
        assert_eq!(block.as_ptr() as usize % align_of::<u64>(), 0);
    }
}

#[repr(align(64))]
struct Aligned([u8; 3]);

#[test]
fn large_alignment() {
    let pool = Pool::<Aligned>::new();
    let added = pool.grow(leak_bytes(1000));
    assert!(added >= 1);
    let held = drain(&pool);
    assert_eq!(held.len(), added);
    for block in &held {
        assert_eq!(block.as_ptr() as usize % 64, 0, "payload not aligned to 64");
    }
    static ALIGNED: StaticPool<Aligned, 3> = StaticPool::new();
    let boxes: Vec<_> =
        std::iter::from_fn(|| ALIGNED.alloc_value(Aligned([1, 2, 3])).ok()).collect();
    assert_eq!(boxes.len(), 3);
    assert!(boxes
        .iter()
        .all(|b| b.as_ptr() as usize % 64 == 0 && b.0 == [1, 2, 3]));
}

#[test]
fn zero_sized_types_need_no_memory() {
    thread_local!(static DROPS: Cell<usize> = const { Cell::new(0) });
    struct Zst;
    impl Drop for Zst {
        fn drop(&mut self) {
            DROPS.with(|d| d.set(d.get() + 1));
        }
    }
    let pool = Pool::<Zst>::new();
    assert_eq!(pool.grow(leak_bytes(64)), usize::MAX);
    // More boxes than 64 bytes could hold blocks of any size (fewer under Miri, where
    // each one costs milliseconds).
    let count = if cfg!(miri) { 1_000 } else { 10_000 };
    let many: Vec<_> = (0..count)
        .map(|_| pool.alloc_value(Zst).ok().unwrap())
        .collect();
    drop(many);
    assert_eq!(DROPS.with(Cell::get), count);

    static UNITS: StaticPool<(), 0> = StaticPool::new();
    assert_eq!(UNITS.capacity(), usize::MAX);
    assert!((0..100).all(|_| UNITS.alloc().is_some()));
}

#[test]
fn static_pool_hands_out_each_block_once() {
    static POOL: StaticPool<u32, 5> = StaticPool::new();
    let held: Vec<_> = std::iter::from_fn(|| POOL.alloc_value(7).ok()).collect();
    assert_eq!(held.len(), 5);
    let distinct: HashSet<_> = held.iter().map(|b| b.as_ptr() as usize).collect();
    assert_eq!(distinct.len(), 5);
    assert!(POOL.alloc().is_none());
    drop(held);
    let again: Vec<_> = std::iter::from_fn(|| POOL.alloc()).collect();
    assert_eq!(again.len(), 5, "blocks were lost on the way back");
}

#[test]
fn in_place_initialisation_of_a_large_value() {
    static BIG: StaticPool<[u64; 4096], 1> = StaticPool::new();
    let mut block = BIG.alloc().unwrap();
    let words = block.as_uninit_mut().as_mut_ptr().cast::<u64>();
    for i in 0..4096 {
        // SAFETY: `i` is inside the block.
        unsafe { words.add(i).write(i as u64) };
    }
    // SAFETY: every element was written.
    let block = unsafe { block.assume_init() };
    assert_eq!(block.iter().sum::<u64>(), 4095 * 4096 / 2);
}

pool!(
    /// A singleton for the tests.
    Singleton: [u8; 32], blocks = 2
);
pool!(Growable: u16);

#[test]
fn singleton_boxes_are_one_pointer_wide() {
    assert_eq!(size_of::<Box<Singleton>>(), size_of::<usize>());
    assert_eq!(size_of::<Option<Box<Singleton>>>(), size_of::<usize>());
    let a = Singleton::alloc_value([1; 32]).unwrap();
    let b = Singleton::alloc().unwrap().init([2; 32]);
    assert!(Singleton::alloc().is_none());
    assert_eq!(a[0] + b[31], 3);
    drop(a);
    assert!(Singleton::alloc().is_some());

    assert_eq!(Growable::alloc_value(1).unwrap_err(), 1);
    let grown = Growable::grow(leak_bytes(4 * size_of::<Block<u16>>()));
    assert!(
        (3..=4).contains(&grown),
        "3 or 4 blocks, depending on the alignment"
    );
    assert_eq!(Growable::grow_exact(leak_blocks(2)), 2);
    let held: Vec<_> = std::iter::from_fn(|| Growable::alloc_value(5).ok()).collect();
    assert_eq!(held.len(), grown + 2);
}

#[test]
fn box_trait_impls() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    static POOL: StaticPool<[u8; 4], 4> = StaticPool::new();
    let a = POOL.alloc_value([1, 2, 3, 4]).unwrap();
    let b = POOL.alloc_value([1, 2, 3, 5]).unwrap();
    let mut c = POOL.alloc_value([1, 2, 3, 4]).unwrap();
    assert_eq!(format!("{a:?}"), "[1, 2, 3, 4]");
    assert!(a == c && a != b && a < b && b.cmp(&a) == std::cmp::Ordering::Greater);
    let hash = |x: &dyn Fn(&mut DefaultHasher)| {
        let mut h = DefaultHasher::new();
        x(&mut h);
        h.finish()
    };
    assert_eq!(hash(&|h| a.hash(h)), hash(&|h| [1u8, 2, 3, 4].hash(h)));
    let slice: &[u8] = a.as_ref();
    assert_eq!(slice, &[1, 2, 3, 4]);
    let slice: &mut [u8] = c.as_mut();
    slice[0] = 9;
    assert_eq!(c[0], 9);
    assert_eq!(format!("{:?}", POOL.alloc().unwrap()), "Box(<uninit>)");

    static TEXT: StaticPool<&str, 1> = StaticPool::new();
    assert_eq!(TEXT.alloc_value("shown").unwrap().to_string(), "shown");

    fn stable<T: stable_deref_trait::StableDeref>(_: &T) {}
    stable(&a);
}

#[test]
fn pools_and_boxes_have_the_right_auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    // Pools never hold a live `T`, so they are `Send + Sync` for any `T`.
    send_sync::<Pool<std::rc::Rc<u8>>>();
    send_sync::<StaticPool<std::rc::Rc<u8>, 2>>();
    // Boxes follow `T`, like `std::boxed::Box`.
    send_sync::<Box<&'static Pool<u8>>>();
    send_sync::<Box<Singleton>>();
}

#[cfg(all(target_pointer_width = "64", not(miri)))]
mod far_apart {
    use super::*;

    /// Reserves `len` bytes with `mmap` at or near `hint`.
    fn map(hint: usize, len: usize) -> &'static mut [u8] {
        // SAFETY: an anonymous private mapping; no existing memory is affected (without
        // MAP_FIXED the kernel treats `hint` as a hint only).
        let ptr = unsafe {
            libc::mmap(
                hint as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        // SAFETY: the mapping is `len` bytes, readable and writable, never unmapped.
        unsafe { std::slice::from_raw_parts_mut(ptr.cast(), len) }
    }

    /// heapless 0.7 silently dropped memory more than ±2 GB from an anchor static.
    #[test]
    fn memory_anywhere_in_the_address_space_is_used() {
        static POOL: Pool<[u8; 64]> = Pool::new();
        let low = leak_bytes(4096);
        let high = map(0x6000_0000_0000, 4096);
        let distance = (high.as_ptr() as usize).abs_diff(low.as_ptr() as usize);
        assert!(
            distance > 1 << 32,
            "the kernel ignored the hint: {distance:#x}"
        );
        let expected = 2 * (4096 / size_of::<Block<[u8; 64]>>());
        assert_eq!(POOL.grow(low) + POOL.grow(high), expected);
        let held: Vec<_> = std::iter::from_fn(|| POOL.alloc_value([3; 64]).ok()).collect();
        assert_eq!(held.len(), expected);
    }

    /// The 64-bit CAS backend names blocks with 24 bits: it takes 2^24 - 1 and says so.
    #[test]
    fn capacity_limit_is_reported_not_hidden() {
        let pool = Pool::<u8>::new();
        let stride = size_of::<Block<u8>>();
        if Pool::<u8>::MAX_BLOCKS == usize::MAX {
            return; // no limit on this backend
        }
        let wanted = Pool::<u8>::MAX_BLOCKS + 10;
        let added = pool.grow(map(0, wanted * stride));
        assert_eq!(added, Pool::<u8>::MAX_BLOCKS);
        assert_eq!(pool.grow(leak_bytes(64)), 0, "a full pool took more blocks");
        let mut count = 0;
        let mut held = Vec::new();
        while let Some(b) = pool.alloc() {
            count += 1;
            if count % 4_000_000 == 0 {
                held.push(b); // keep a few, drop the rest on the way
            } else {
                std::mem::forget(b);
            }
        }
        assert_eq!(count, Pool::<u8>::MAX_BLOCKS);
    }
}

#[test]
fn boxes_and_arcs_are_unpin_for_any_value() {
    use blockpool::{Arc, ArcInner, Weak};
    use std::marker::PhantomPinned;
    fn unpin<T: Unpin>() {}
    unpin::<Box<&'static Pool<PhantomPinned>>>();
    unpin::<Box<&'static Pool<PhantomPinned>, blockpool::Uninit>>();
    unpin::<Arc<&'static Pool<ArcInner<PhantomPinned>>>>();
    unpin::<Weak<&'static Pool<ArcInner<PhantomPinned>>>>();

    static POOL: StaticPool<PhantomPinned, 1> = StaticPool::new();
    let pinned = POOL.alloc_value(PhantomPinned).unwrap().into_pin();
    let address = &*pinned as *const PhantomPinned;
    let moved = pinned; // the box moves; the value stays in its block
    assert_eq!(&*moved as *const PhantomPinned, address);
}
