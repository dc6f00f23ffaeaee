//! Free list for targets with a 64-bit compare-and-swap (x86_64, aarch64, riscv64,
//! i686, …): a Treiber stack whose head is one 64-bit word holding a block *index* and
//! an ABA tag.
//!
//! ```text
//!   head: | tag: 40 bits | index: 24 bits |        index → (region: 6 bits, block: 18 bits)
//!   region table: 64 base pointers, filled by `grow`; block i of region r lives at
//!                 regions[r] + i * stride
//! ```
//!
//! * **ABA**: every successful compare-and-swap of the head adds one to the tag, and the
//!   tag is never reset (a freed block takes the tag from the head, not from the block or
//!   the `Box`). A pop that read the head and is then overtaken by other pops and pushes
//!   sees a different word, even if the same block is back on top, and retries. The tag
//!   would have to advance by exactly 2^40 while one popper stands still between its load
//!   and its CAS: at one successful CAS per 5 ns (one thread's rate in the benchmark
//!   report's W2, `cargo run --release -p blockpool-bench`) that is over 90 minutes of
//!   uninterrupted pool traffic, ending on the exact nanosecond. heapless 0.7's 32-bit tag
//!   wrapped in 21 s at that rate.
//! * **No address restrictions**: blocks are named by index, not by an offset from an
//!   anchor, so memory anywhere in the address space is used. The price is a capacity:
//!   at most [`MAX_BLOCKS`] blocks per pool (`grow` says how many it took).
//! * **No mixed race**: the link lives in the block's header, an atomic that only the
//!   free list touches (see `block.rs`).
//! * **Progress**: lock-free. A CAS fails only because another context's succeeded.
//!   Nothing waits for anything, so a signal or interrupt handler may use the pool while
//!   the context it interrupted is halfway through a pop or push.
//!
//! loom models this file as it is (`tests/loom.rs`), because it uses only `AtomicU64`.

use core::ptr::NonNull;

use crate::sync::{const_fn_unless_loom, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

const INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// The index that means "no block": the end of the list.
const NIL: u32 = INDEX_MASK as u32;
const REGION_BITS: u32 = 6;
const REGIONS: usize = 1 << REGION_BITS;
const LOCAL_BITS: u32 = INDEX_BITS - REGION_BITS;
const LOCAL_MASK: u32 = (1 << LOCAL_BITS) - 1;
/// Blocks one region entry can name; a larger `grow` takes several entries.
const REGION_BLOCKS: usize = 1 << LOCAL_BITS;

/// The most blocks one pool can hold on this backend (2^24 - 1: every index but `NIL`).
pub const MAX_BLOCKS: usize = NIL as usize;

/// The free list's header in each block.
pub struct Link {
    /// Index of the next free block (`NIL` at the end). Written only by the context that
    /// owns the block, before it pushes it; read by poppers.
    next: AtomicU32,
    /// This block's own index, fixed when the block joins the pool.
    index: AtomicU32,
}

impl Link {
    const_fn_unless_loom! {
        pub fn new() -> Self {
            Self { next: AtomicU32::new(NIL), index: AtomicU32::new(NIL) }
        }
    }
}

/// A lock-free stack of free blocks, all `stride` bytes apart within their region.
pub struct FreeList {
    /// `tag << 24 | index` of the top block.
    head: AtomicU64,
    /// A copy of `regions[0]`, which is written once and never changes: `pop` loads it
    /// *before* the head, so that for region 0 (every pool that grew once) the address
    /// of the top block does not wait for a second, head-dependent load.
    region0: AtomicPtr<Link>,
    /// Address of block 0 of each region; null while unused.
    regions: [AtomicPtr<Link>; REGIONS],
    /// Region entries claimed by `add_run`.
    regions_used: AtomicUsize,
    stride: usize,
}

impl FreeList {
    /// An empty list of blocks `stride` bytes apart.
    #[cfg(not(loom))]
    pub const fn new(stride: usize) -> Self {
        Self {
            head: AtomicU64::new(NIL as u64),
            region0: AtomicPtr::new(core::ptr::null_mut()),
            regions: [const { AtomicPtr::new(core::ptr::null_mut()) }; REGIONS],
            regions_used: AtomicUsize::new(0),
            stride,
        }
    }

    /// An empty list of blocks `stride` bytes apart.
    #[cfg(loom)]
    pub fn new(stride: usize) -> Self {
        Self {
            head: AtomicU64::new(NIL as u64),
            region0: AtomicPtr::new(core::ptr::null_mut()),
            regions: core::array::from_fn(|_| AtomicPtr::new(core::ptr::null_mut())),
            regions_used: AtomicUsize::new(0),
            stride,
        }
    }

    /// The header of the block with index `index`, blocks being `stride` bytes apart;
    /// `region0` is a value of `self.region0` loaded at any time (null if not yet set).
    #[inline(always)]
    fn resolve(&self, index: u32, stride: usize, region0: *mut Link) -> NonNull<Link> {
        let region = (index >> LOCAL_BITS) as usize;
        let base = if region == 0 && !region0.is_null() {
            region0
        } else {
            // Relaxed: the region entry was stored before any of its blocks was first
            // pushed (a release CAS of `head`), and every caller learned `index` from an
            // acquire load of `head`, so the store is visible.
            self.regions[region].load(Ordering::Relaxed)
        };
        let offset = (index & LOCAL_MASK) as usize * stride;
        // SAFETY: `index` was taken from the head or from a link, and both only ever
        // hold indices that `add_run`/`adopt` assigned to blocks of a registered region:
        // `base + offset` is inside that region, and the region is `'static` memory.
        // `region0`, once non-null, equals `regions[0]` forever.
        unsafe { NonNull::new_unchecked(base.byte_add(offset)) }
    }

    /// Records where region `region`'s block 0 is. Relaxed: published, like the blocks'
    /// links, by the release CAS that first pushes one of its blocks.
    fn set_region(&self, region: usize, base: NonNull<Link>) {
        self.regions[region].store(base.as_ptr(), Ordering::Relaxed);
        if region == 0 {
            self.region0.store(base.as_ptr(), Ordering::Relaxed);
        }
    }

    /// Takes the top block off the list. `stride` is the one given to `new`, passed by
    /// callers that know it at compile time (the typed pools), so that finding a block
    /// is a shift and an add rather than a multiply by a value loaded from memory.
    #[inline(always)]
    pub fn pop_strided(&self, stride: usize) -> Option<NonNull<Link>> {
        debug_assert_eq!(stride, self.stride);
        // Loaded first, independently of the head (see the field). Relaxed: a non-null
        // value is the final one; a null one sends `resolve` to the region table.
        let region0 = self.region0.load(Ordering::Relaxed);
        // Acquire: pairs with the release CAS that pushed the block we find on top, so
        // its `next` link and the freer's last writes to its payload are visible.
        let mut current = self.head.load(Ordering::Acquire);
        loop {
            let index = (current & INDEX_MASK) as u32;
            if index == NIL {
                return None;
            }
            let link = self.resolve(index, stride, region0);
            // SAFETY: `resolve` gives a pointer to a live header; headers are only ever
            // accessed through shared references and atomics.
            let next = unsafe { link.as_ref() }.next.load(Ordering::Relaxed);
            // Relaxed is enough for `next`: it was written before the push that put this
            // block on top (we synchronised with that push above), and it is not
            // written again until the block is popped, which changes the head's tag and
            // makes our CAS fail. If the block was popped and pushed again meanwhile we
            // may read a newer `next`, but then the CAS fails too.
            super::hook::between_read_and_cas();
            let new = (current & !INDEX_MASK).wrapping_add(1 << INDEX_BITS) | u64::from(next);
            // Acquire on success: the payload's previous owner's writes happen before
            // ours. Acquire on failure: we will read the `next` of the new top block.
            match self.head.compare_exchange_weak(
                current,
                new,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(link),
                Err(actual) => current = actual,
            }
        }
    }

    /// Puts the chain `first ..= last` (already linked through `next`) on top.
    #[inline]
    fn push_chain(&self, first: u32, last: &Link) {
        let mut current = self.head.load(Ordering::Relaxed);
        loop {
            last.next
                .store((current & INDEX_MASK) as u32, Ordering::Relaxed);
            let new = (current & !INDEX_MASK).wrapping_add(1 << INDEX_BITS) | u64::from(first);
            // Release: the `next` store above and everything the freer did to the
            // payload happen before any pop that acquires this head.
            match self.head.compare_exchange_weak(
                current,
                new,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Returns a block to the list.
    ///
    /// # Safety
    /// `link` is the header of a block that belongs to this list, is not in it, and is
    /// not used by anyone any more.
    #[inline]
    pub unsafe fn push(&self, link: NonNull<Link>) {
        // SAFETY: the caller guarantees a live header of ours.
        let link = unsafe { link.as_ref() };
        self.push_chain(link.index.load(Ordering::Relaxed), link);
    }

    /// Adds `count` blocks, `stride` bytes apart from `first` on, to the list; returns
    /// how many it took (fewer once the pool holds [`MAX_BLOCKS`] or all region entries
    /// are used).
    ///
    /// # Safety
    /// The blocks are initialised (`Link::new`), exclusively ours from now on and
    /// `'static`.
    pub unsafe fn add_run(&self, first: NonNull<Link>, count: usize) -> usize {
        if count == 0 {
            return 0;
        }
        // Claim region entries. Relaxed: the entries' contents are published by the
        // release CAS in `push_chain`.
        let wanted = count.div_ceil(REGION_BLOCKS);
        let Ok(start) =
            self.regions_used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                    (used < REGIONS).then(|| (used + wanted).min(REGIONS))
                })
        else {
            return 0;
        };
        let regions = wanted.min(REGIONS - start);
        // The last region's last index is NIL.
        let capacity = regions * REGION_BLOCKS - usize::from(start + regions == REGIONS);
        let count = count.min(capacity);
        let mut previous: Option<&Link> = None;
        for i in 0..count {
            let region = start + i / REGION_BLOCKS;
            // SAFETY: `i < count`, so the block lies inside the run the caller gave us.
            let link = unsafe { first.byte_add(i * self.stride) };
            if i % REGION_BLOCKS == 0 {
                self.set_region(region, link);
            }
            let index = ((region as u32) << LOCAL_BITS) | (i % REGION_BLOCKS) as u32;
            // SAFETY: initialised, exclusively ours, `'static`.
            let link = unsafe { link.as_ref() };
            link.index.store(index, Ordering::Relaxed);
            if let Some(previous) = previous {
                previous.next.store(index, Ordering::Relaxed);
            }
            previous = Some(link);
        }
        if let Some(last) = previous {
            // SAFETY: block 0 was initialised above.
            let first_index = unsafe { first.as_ref() }.index.load(Ordering::Relaxed);
            self.push_chain(first_index, last);
        }
        count
    }

    /// Whether `link` is the header of one of this list's blocks: its index (in the
    /// header since `add_run`/`adopt`) names a region entry of ours whose block of that
    /// index is at `link`. Cheap (two loads); for the debug check of `Box::from_raw`.
    ///
    /// # Safety
    /// `link` points to the header of a block of some pool (this one or another).
    pub(crate) unsafe fn owns(&self, link: NonNull<Link>) -> bool {
        // Relaxed: the caller got `link` from a block handed out by a pool, after (in
        // happens-before) that pool wrote its index and, for ours, its region entry.
        // SAFETY: a live header (the caller's promise), only accessed through atomics.
        let index = unsafe { link.as_ref() }.index.load(Ordering::Relaxed);
        if index >= NIL {
            return false;
        }
        let base = self.regions[(index >> LOCAL_BITS) as usize].load(Ordering::Relaxed);
        !base.is_null()
            && base as usize + (index & LOCAL_MASK) as usize * self.stride == link.as_ptr() as usize
    }

    /// Makes block `i` of the fixed storage that starts at `storage` usable by this list
    /// without pushing it (for `StaticPool`'s blocks that have never been handed out).
    ///
    /// # Safety
    /// `storage` starts an array of at most [`MAX_BLOCKS`] blocks that only this list
    /// ever uses; no `add_run` is ever called on this list; block `i` is exclusively the
    /// caller's.
    pub unsafe fn adopt(&self, storage: NonNull<Link>, i: usize) -> NonNull<Link> {
        let region = i / REGION_BLOCKS;
        // SAFETY: the region's block 0 and block `i` are in the caller's array.
        let (base, link) = unsafe {
            (
                storage.byte_add(region * REGION_BLOCKS * self.stride),
                storage.byte_add(i * self.stride),
            )
        };
        // Every adopter of a block in this region stores the same address, so these
        // stores never disagree; each precedes the first push of its block.
        self.set_region(region, base);
        // SAFETY: block `i` is the caller's.
        unsafe { link.as_ref() }
            .index
            .store(i as u32, Ordering::Relaxed);
        link
    }
}
