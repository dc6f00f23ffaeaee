//! Free list for targets with a 64-bit compare-and-swap (x86_64, aarch64, riscv64,
//! i686, …): a Treiber stack whose head is one 64-bit word naming the top block by its
//! *index* and its *version*.
//!
//! ```text
//!   a block's name:  | version: 40 bits | index: 24 bits |   index → (region: 6, block: 18)
//!   head:            the name of the top block (index NIL: empty)
//!   each header:     next: the name of the block under it;  me: the name it was last
//!                    popped under (one version behind the name it is pushed under)
//!   in memory:       a name is stored with its index bits inverted, so the empty list
//!                    (NIL at version 0) is the word 0, and so is a new header's `me`
//!   region table:    64 base pointers, filled by `grow`; block i of region r lives at
//!                    regions[r] + i * stride
//! ```
//!
//! * **ABA**: a block's name changes every time it leaves the list: the pop that takes
//!   it records the name in its `me`, and its next push installs that name one version
//!   on (wrapping within 40 bits) as the head. A pop installs the `next` name it read, as is. So
//!   a head naming block `A` with version `v` means the same stay of `A` in the list. A
//!   popper that read the head `(v, A)` and `A`'s `next`, and then is overtaken while
//!   others pop `A` and push it back, finds `(v + 1, A)` at best and retries: its CAS
//!   can only succeed wrongly if `A` alone went round exactly a multiple of 2^40 times
//!   while it stood still between its load and its CAS. At the fastest rate the
//!   benchmark report measures for one block (W1, `cargo run --release -p
//!   blockpool-bench`: under 6 ns per alloc+free pair) that is about 1.8 hours of
//!   non-stop traffic on that one block, ending on the exact pair. heapless 0.7's 32-bit
//!   tag, shared by all blocks, wraps after 2^32 operations of any blocks: 21 s at 5 ns
//!   each. The version lives in the block's header, so `Box::into_raw`/`from_raw`
//!   cannot reset it.
//! * **Fast path**: the name has to be turned into an address (region table, multiply)
//!   before the popper can read `next`, and on a single thread that sits right on the
//!   chain of dependent loads and CASes. So the list also keeps a *hint*, the address of
//!   the block it believes is on top, written after every successful pop and push. A pop
//!   loads the hint and the head side by side and reads `next` through the hint; it
//!   uses what it read only if the hinted block's own name equals the head word, which
//!   proves it is the block the head names. Otherwise (a stale hint: contention, an
//!   interrupt between a CAS and the hint's store) it takes the slow path, which
//!   resolves the index. The hint is never trusted, so no race on its *value* can do
//!   harm; its stores are Release and its load Acquire so that reading the header it
//!   names never races with the plain writes that made that header (`grow` racing a
//!   pop; see `set_hint`).
//! * **All zeros at start**: a new list, a new header and so a whole `StaticPool` or
//!   `[Block<T>; N]` are zero bytes, so such a `static` costs no flash image and no copy
//!   at reset (`.bss`, not `.data`). That is why names are kept with their index bits
//!   inverted (the empty head is 0) and why `me` lags one version behind (a new
//!   header's 0 then reads as `NIL` at version 1, a word no head ever holds; see the
//!   check in `pop_strided`).
//! * **No address restrictions**: blocks are named by index, not by an offset from an
//!   anchor, so memory anywhere in the address space is used. The price is a capacity:
//!   at most [`MAX_BLOCKS`] blocks per pool (`grow` says how many it took).
//! * **No mixed race**: the links live in the block's header, atomics that only the free
//!   list touches (see `block.rs`).
//! * **Progress**: lock-free. A CAS fails only because another context's succeeded.
//!   Nothing waits for anything, so a signal or interrupt handler may use the pool while
//!   the context it interrupted is halfway through a pop or push.
//!
//! loom models this file as it is (`tests/loom.rs`), because it uses only 64-bit and
//! pointer atomics.

use core::ptr::NonNull;

use crate::sync::{const_fn_unless_loom, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

const INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// One step of a name's version.
const VERSION_ONE: u64 = 1 << INDEX_BITS;
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

/// The index part of a name as it is stored (index bits inverted: see `encode`).
#[inline(always)]
fn index_of(word: u64) -> u32 {
    (!word & INDEX_MASK) as u32
}

/// The stored word of the name with index `index` at version 0. Inverting the index
/// bits makes `NIL` at version 0 (the empty list) the word 0, so a new list is all
/// zeros; a version step is still `+ VERSION_ONE` on the stored word, since the version
/// bits are stored as they are.
#[inline(always)]
fn encode(index: u32) -> u64 {
    u64::from(index) ^ INDEX_MASK
}

/// The free list's header in each block.
pub struct Link {
    /// Name of the next free block (index `NIL` at the end). Written only by the context
    /// that owns the block, before it pushes it; read by poppers.
    next: AtomicU64,
    /// This block's name *one version behind* the name it is (or will next be) pushed
    /// under: the name it was last popped under (`claim`), or for a block that has never
    /// been on the list, its index at the version before its first. Its index is fixed
    /// when the block joins the pool. Written only by the block's owner. A new header
    /// holds 0, which reads as `NIL` one version past 0: a name no head word ever has.
    me: AtomicU64,
}

impl Link {
    const_fn_unless_loom! {
        /// A header that is not in any list yet: all zeros (see the module docs).
        pub fn new() -> Self {
            Self {
                next: AtomicU64::new(0),
                me: AtomicU64::new(0),
            }
        }
    }
}

/// A lock-free stack of free blocks, all `stride` bytes apart within their region.
pub struct FreeList {
    /// The name of the top block.
    head: AtomicU64,
    /// Where the top block probably is (null: no idea). Only a hint: see the module docs.
    hint: AtomicPtr<Link>,
    /// A copy of `regions[0]`, which is written once and never changes: a pop loads it
    /// instead of the table, so that for region 0 (every pool that grew once) finding a
    /// block is one multiply and add.
    region0: AtomicPtr<Link>,
    /// Address of block 0 of each region; null while unused.
    regions: [AtomicPtr<Link>; REGIONS],
    /// Region entries claimed by `add_run`.
    regions_used: AtomicUsize,
}

impl FreeList {
    /// An empty list: all zeros (the head word 0 is `NIL` at version 0). The blocks'
    /// stride is not stored (it would be the one non-zero word): every method that needs
    /// it takes it, from callers that know it at compile time.
    #[cfg(not(blockpool_loom))]
    pub const fn new() -> Self {
        Self {
            head: AtomicU64::new(0),
            hint: AtomicPtr::new(core::ptr::null_mut()),
            region0: AtomicPtr::new(core::ptr::null_mut()),
            regions: [const { AtomicPtr::new(core::ptr::null_mut()) }; REGIONS],
            regions_used: AtomicUsize::new(0),
        }
    }

    /// An empty list.
    #[cfg(blockpool_loom)]
    pub fn new() -> Self {
        Self {
            head: AtomicU64::new(0),
            hint: AtomicPtr::new(core::ptr::null_mut()),
            region0: AtomicPtr::new(core::ptr::null_mut()),
            regions: core::array::from_fn(|_| AtomicPtr::new(core::ptr::null_mut())),
            regions_used: AtomicUsize::new(0),
        }
    }

    /// The header of the block with index `index` (not `NIL`), blocks being `stride`
    /// bytes apart.
    #[inline(always)]
    fn resolve(&self, index: u32, stride: usize) -> NonNull<Link> {
        let region = (index >> LOCAL_BITS) as usize;
        // Relaxed: a non-null `region0` is final. Otherwise the region entry was stored
        // before any of its blocks was first pushed (a release CAS of `head`), and every
        // caller learned `index` from an acquire load of `head` or from a link that the
        // block's pusher read after one, so the store is visible.
        let region0 = self.region0.load(Ordering::Relaxed);
        let base = if region == 0 && !region0.is_null() {
            region0
        } else {
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

    /// Where the block named `name` is, or null for the index `NIL`: what the hint should
    /// say once a pop has installed `name` as the head.
    ///
    /// `region0` is a value of `self.region0` loaded after (in program order) an acquire
    /// load or acquire CAS of `head` that saw a block whose `next` is `name`, or a later
    /// value. Then a region-0 `name` implies a non-null `region0`:
    /// - the block it names was pushed, alone or in `add_run`'s chain (no other block's
    ///   name ever reaches a link), and region 0 was registered (`add_run`, `adopt`,
    ///   both through `set_region`, which stores `region0`) before that push;
    /// - after `new`, every write of `head` is a read-modify-write, so that push's
    ///   release CAS heads a release sequence that our acquire read joined.
    ///
    /// So a region-0 block costs one compare, a multiply and an add; the other regions
    /// and `NIL` take the second branch.
    #[inline(always)]
    fn locate(&self, name: u64, stride: usize, region0: *mut Link) -> *mut Link {
        let index = index_of(name);
        if (index as usize) < REGION_BLOCKS {
            // Under loom, a clean failure rather than a wild pointer when this breaks.
            #[cfg(blockpool_loom)]
            assert!(!region0.is_null(), "region 0's base not visible to a pop");
            // SAFETY: `region0` is non-null and the base of region 0 (see above), and
            // `index` names a registered block of it, so the sum is that block's header
            // inside the region's `'static` memory.
            unsafe { region0.byte_add(index as usize * stride) }
        } else if index == NIL {
            core::ptr::null_mut()
        } else {
            self.resolve(index, stride).as_ptr()
        }
    }

    /// Right after `header`'s block was popped under `name`: stores `name` in `me`, one
    /// version behind the name it will be pushed under (`push` adds the step).
    #[inline(always)]
    fn claim(header: &Link, name: u64) {
        // Relaxed: only the block's owner (us, now) reads `me` before the next push,
        // whose release CAS publishes it.
        header.me.store(name, Ordering::Relaxed);
    }

    /// Stores where the top block probably is, right after a successful CAS of `head`
    /// (null for an empty list).
    ///
    /// Release, paired with the acquire load in `pop_strided`: a context that reads
    /// this value and then reads the header at `hint` must see the writes that made the
    /// header. They happen before this store in every case:
    /// - a push stores its own first block, whose header it wrote (or, for `add_run`,
    ///   which `grow` initialised) before, in program order, or which it owns through a
    ///   pop that acquired the head;
    /// - a pop stores the block `next` names. That block was pushed before the block we
    ///   took, so its pusher's release CAS of `head` is earlier in `head`'s modification
    ///   order. Every write of `head` after `new` is a read-modify-write, so our acquire
    ///   CAS read the last value of a release sequence that pusher's CAS heads: its
    ///   writes to that header (and, for a new block, `grow`'s) happen before our CAS,
    ///   which is sequenced before this store.
    #[inline(always)]
    fn set_hint(&self, hint: *mut Link) {
        self.hint.store(hint, Ordering::Release);
    }

    /// Takes the top block off the list. `stride` is the blocks' stride, passed by
    /// callers that know it at compile time (the typed pools), so that finding a block
    /// is a shift and an add rather than a multiply by a value loaded from memory.
    #[inline(always)]
    pub fn pop_strided(&self, stride: usize) -> Option<NonNull<Link>> {
        // Loaded side by side: what follows reads through `hint` without waiting for
        // the head to be decoded. What is read through it is trusted only if the check
        // below passes, but the reads themselves must not race with the writes that
        // made the hinted header: `grow` writes a new block's header with plain writes
        // (`Block::init_link`; for `grow_exact`, Miri counts the retag of its `&mut`
        // argument as a write too), and a Relaxed hint could show a header that a
        // plain write made with no happens-before to us, even though our acquire of
        // `head` below may read an older head that does not order that write.
        // Acquire, paired with the Release of every hint store: each store is
        // sequenced after the writes that made the header it names (see `set_hint`),
        // so they happen before our reads of `me` and `next`. On x86 both are plain
        // `mov`s; on aarch64 this load is an `ldar` (an `ldapr` with RCpc) instead of
        // an `ldr`, and each hint store an `stlr` instead of an `str`.
        let hint = self.hint.load(Ordering::Acquire);
        // Acquire: pairs with the release CAS that pushed the block we find on top, so
        // its `next` link and the freer's last writes to its payload are visible.
        let current = self.head.load(Ordering::Acquire);
        // For the next hint, loaded now rather than after the CAS; after the acquire
        // load above, as `locate` requires.
        let region0 = self.region0.load(Ordering::Relaxed);
        if let Some(link) = NonNull::new(hint) {
            // SAFETY: the hint only ever holds null or the address of one of this list's
            // headers, which live as long as the list; headers are only accessed through
            // shared references and atomics.
            let header = unsafe { link.as_ref() };
            // The hinted block's own name (`me`, one version behind, plus the step)
            // equals the head: it is the block the head names (names hold distinct
            // indices), and its name has not moved on since the push we acquired, so
            // `next` below is the link that push published (see the slow path for why a
            // newer one only makes the CAS fail). An empty list never passes: its head
            // is `NIL` at version 0 (the word 0), which is nobody's name, and a header
            // not yet in the list holds 0, which with the step reads as `NIL` at
            // version 1, a word no head ever holds (`NIL` reaches the head only from
            // `new` and from links, all of them `NIL` at version 0 or a block's name).
            // (loom found a block handed out twice when a fresh header's name started
            // out equal to the empty head.)
            if header.me.load(Ordering::Relaxed).wrapping_add(VERSION_ONE) == current {
                let next = header.next.load(Ordering::Relaxed);
                super::hook::between_read_and_cas();
                // Acquire on success: the payload's previous owner's writes happen
                // before ours. On failure the slow path loads the head again.
                if self
                    .head
                    .compare_exchange_weak(current, next, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    self.set_hint(self.locate(next, stride, region0));
                    Self::claim(header, current);
                    return Some(link);
                }
            }
        }
        self.pop_slow(stride)
    }

    /// `pop_strided` when the hint did not hold (or its CAS lost a race).
    #[cold]
    #[inline(never)]
    fn pop_slow(&self, stride: usize) -> Option<NonNull<Link>> {
        // Acquire: as in `pop_strided`.
        let mut current = self.head.load(Ordering::Acquire);
        loop {
            let index = index_of(current);
            if index == NIL {
                return None;
            }
            let link = self.resolve(index, stride);
            // SAFETY: `resolve` gives a pointer to a live header; headers are only ever
            // accessed through shared references and atomics.
            let next = unsafe { link.as_ref() }.next.load(Ordering::Relaxed);
            // Relaxed is enough for `next`: it was written before the push that put this
            // block on top (we synchronised with that push above), and it is not
            // written again until the block is popped and pushed once more, which
            // changes its version and so the head word, and makes our CAS fail. If that
            // happened meanwhile we may read a newer `next`, but then the CAS fails too.
            super::hook::between_read_and_cas();
            // Acquire on success: the payload's previous owner's writes happen before
            // ours. Acquire on failure: we will read the `next` of the new top block.
            match self.head.compare_exchange_weak(
                current,
                next,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.set_hint(self.locate(next, stride, self.region0.load(Ordering::Relaxed)));
                    // SAFETY: `link` is the live header `resolve` gave above, now ours.
                    Self::claim(unsafe { link.as_ref() }, current);
                    return Some(link);
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Takes up to `out.len()` blocks off the top in one exchange (one CAS of `head`),
    /// writes their headers to `out[..n]`, top first, and returns `n` (0: the list was
    /// empty).
    ///
    /// The popper walks down from the top block it acquired, `(v, A)`, reading each
    /// block's `next`, and then swings `head` from `(v, A)` to the name below the last
    /// block it keeps. **ABA**: on a stack, a block under `A` can only leave the list
    /// after `A` has, and `A` leaving and coming back changes the head's version. So if
    /// `head` still holds `(v, A)` at the CAS, not one block of the walked chain moved
    /// since the popper's acquire load: every `next` it read is the one its block's
    /// pusher published, and the chain is ours. If anything moved, the CAS fails.
    ///
    /// **No racing reads**: before the walk resolves a name it read from a link into an
    /// address (and reads that block's header), it reloads `head` (Acquire) and starts
    /// again if it moved. While `head` is unchanged the name is the one the block's
    /// pusher stored before its release CAS, which is earlier in `head`'s modification
    /// order than the push of `A` that we acquired (release sequence: every write of
    /// `head` is a read-modify-write), so the named block's header and its region entry
    /// were written before our load: no read of a header a concurrent `grow` is still
    /// writing, no null region base. The reloads cost one load of a line we already hold
    /// per block.
    pub fn pop_batch(
        &self,
        stride: usize,
        out: &mut [core::mem::MaybeUninit<NonNull<Link>>],
    ) -> usize {
        let max = out.len();
        if max == 0 {
            return 0;
        }
        // Acquire: as in `pop_strided` (the top block's push, its link, its payload).
        let mut current = self.head.load(Ordering::Acquire);
        'retry: loop {
            if index_of(current) == NIL {
                return 0;
            }
            let mut name = current;
            let mut taken = 0;
            while taken < max {
                if taken > 0 {
                    // Acquire: see the docs above. A moved head: start again from it.
                    let now = self.head.load(Ordering::Acquire);
                    if now != current {
                        current = now;
                        continue 'retry;
                    }
                    if index_of(name) == NIL {
                        break;
                    }
                }
                let link = self.resolve(index_of(name), stride);
                out[taken].write(link);
                // SAFETY: `resolve` gives a live header; headers are only accessed
                // through shared references and atomics.
                name = unsafe { link.as_ref() }.next.load(Ordering::Relaxed);
                taken += 1;
            }
            super::hook::between_read_and_cas();
            // Acquire on success: the previous owners' writes to the payloads happen
            // before ours. Acquire on failure: the walk starts again from the new top.
            match self.head.compare_exchange_weak(
                current,
                name,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.set_hint(self.locate(name, stride, self.region0.load(Ordering::Relaxed)));
                    // Each block's name, for `claim`: the top's is `current`, each
                    // other's is the `next` of the block above it (ours now, stable).
                    let mut popped = current;
                    for slot in &out[..taken] {
                        // SAFETY: written in the walk above, with live headers now ours.
                        let header = unsafe { slot.assume_init().as_ref() };
                        let below = header.next.load(Ordering::Relaxed);
                        Self::claim(header, popped);
                        popped = below;
                    }
                    return taken;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Returns `blocks` to the list in one exchange: links them, in order, into a chain
    /// (each block's `next` is the name the one after it goes back under) and puts the
    /// chain on top with one CAS of `head`.
    ///
    /// # Safety
    /// As for [`push`](Self::push), for every block of `blocks`, which are distinct.
    pub unsafe fn push_batch(&self, blocks: &[NonNull<Link>]) {
        let (Some(&first), Some(&last)) = (blocks.first(), blocks.last()) else {
            return;
        };
        // SAFETY: every block of `blocks` is the caller's, a live header that only we use
        // now, so a shared reference to it is sound (headers are only ever accessed
        // through atomics).
        let header = |link: NonNull<Link>| unsafe { link.as_ref() };
        // The name a block goes back under: one version on from `me` (as in `push`).
        let name_of = |link| {
            header(link)
                .me
                .load(Ordering::Relaxed)
                .wrapping_add(VERSION_ONE)
        };
        for pair in blocks.windows(2) {
            // Relaxed: published by `push_chain`'s release CAS.
            header(pair[0])
                .next
                .store(name_of(pair[1]), Ordering::Relaxed);
        }
        self.push_chain(first, name_of(first), header(last));
    }

    /// Puts the chain `first ..= last` (already linked through `next`) on top, `name`
    /// being `first`'s current name.
    #[inline(always)]
    fn push_chain(&self, first: NonNull<Link>, name: u64, last: &Link) {
        let mut current = self.head.load(Ordering::Relaxed);
        loop {
            last.next.store(current, Ordering::Relaxed);
            // Release: the `next` and `me` stores above and everything the freer did to
            // the payload happen before any pop that acquires this head.
            match self.head.compare_exchange_weak(
                current,
                name,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.set_hint(first.as_ptr());
                    return;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Returns a block to the list.
    ///
    /// # Safety
    /// `link` is the header of a block that belongs to this list, is not in it, and is
    /// not used by anyone any more.
    #[inline(always)]
    pub unsafe fn push(&self, link: NonNull<Link>) {
        // SAFETY: the caller guarantees a live header of ours.
        let header = unsafe { link.as_ref() };
        // The name it goes back under: one version on from the one it was popped under
        // (which `claim` stored). Wrapping: the version is the word's top field, so it
        // wraps within its 40 bits and leaves the index alone. Only the owner writes
        // `me`, and we own the block.
        let name = header.me.load(Ordering::Relaxed).wrapping_add(VERSION_ONE);
        self.push_chain(link, name, header);
    }

    /// Adds `count` blocks, `stride` bytes apart from `first` on, to the list; returns
    /// how many it took (fewer once the pool holds [`MAX_BLOCKS`] or all region entries
    /// are used).
    ///
    /// # Safety
    /// The blocks are initialised (`Link::new`), exclusively ours from now on and
    /// `'static`; `stride` is the same for every call on this list.
    pub unsafe fn add_run(&self, first: NonNull<Link>, count: usize, stride: usize) -> usize {
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
            let link = unsafe { first.byte_add(i * stride) };
            if i % REGION_BLOCKS == 0 {
                self.set_region(region, link);
            }
            // A new block's name: its index at version 0. It first reaches the head as
            // part of this chain, so no earlier head word names it. `me` lags one
            // version behind.
            let name = encode(((region as u32) << LOCAL_BITS) | (i % REGION_BLOCKS) as u32);
            // SAFETY: initialised, exclusively ours, `'static`.
            let link = unsafe { link.as_ref() };
            link.me
                .store(name.wrapping_sub(VERSION_ONE), Ordering::Relaxed);
            if let Some(previous) = previous {
                previous.next.store(name, Ordering::Relaxed);
            }
            previous = Some(link);
        }
        if let Some(last) = previous {
            // SAFETY: block 0 was initialised above.
            let name = unsafe { first.as_ref() }
                .me
                .load(Ordering::Relaxed)
                .wrapping_add(VERSION_ONE);
            self.push_chain(first, name, last);
        }
        count
    }

    /// Whether `link` is the header of one of this list's blocks: its index (in the
    /// header since `add_run`/`adopt`) names a region entry of ours whose block of that
    /// index is at `link`. Cheap (two loads); for the ownership check of `Box::from_raw`.
    ///
    /// # Safety
    /// `link` points to the header of a block of some pool (this one or another);
    /// `stride` is this list's.
    pub(crate) unsafe fn owns(&self, link: NonNull<Link>, stride: usize) -> bool {
        // Relaxed: the caller got `link` from a block handed out by a pool, after (in
        // happens-before) that pool wrote its name and, for ours, its region entry.
        // SAFETY: a live header (the caller's promise), only accessed through atomics.
        let index = index_of(unsafe { link.as_ref() }.me.load(Ordering::Relaxed));
        if index >= NIL {
            return false;
        }
        let base = self.regions[(index >> LOCAL_BITS) as usize].load(Ordering::Relaxed);
        !base.is_null()
            && base as usize + (index & LOCAL_MASK) as usize * stride == link.as_ptr() as usize
    }

    /// Makes block `i` of the fixed storage that starts at `storage` usable by this list
    /// without pushing it (for `StaticPool`'s blocks that have never been handed out).
    ///
    /// # Safety
    /// `storage` starts an array of at most [`MAX_BLOCKS`] blocks, `stride` bytes apart,
    /// that only this list ever uses; no `add_run` is ever called on this list; block
    /// `i` is exclusively the caller's.
    pub unsafe fn adopt(&self, storage: NonNull<Link>, i: usize, stride: usize) -> NonNull<Link> {
        let region = i / REGION_BLOCKS;
        // SAFETY: the region's block 0 and block `i` are in the caller's array.
        let (base, link) = unsafe {
            (
                storage.byte_add(region * REGION_BLOCKS * stride),
                storage.byte_add(i * stride),
            )
        };
        // Every adopter of a block in this region stores the same address, so these
        // stores never disagree; each precedes the first push of its block.
        self.set_region(region, base);
        // Its name at version 0 (`me` one version behind): it has never been on the
        // list, so no head word names it yet.
        // SAFETY: block `i` is the caller's.
        unsafe { link.as_ref() }.me.store(
            encode(i as u32).wrapping_sub(VERSION_ONE),
            Ordering::Relaxed,
        );
        link
    }
}
