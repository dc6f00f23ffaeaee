//! The [`Heap`] type: its arena, its classes' free lists, and its `GlobalAlloc`.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem;
use core::ptr::{self, NonNull};

use super::arena;
use super::classes::{DefaultClasses, Plan, SizeClasses, DEFAULT_CLASSES, MAX_ALIGN};
use super::stats::ClassCounters;
#[cfg(feature = "stats")]
use crate::counter;
use crate::free_list::{FreeList, Link, MAX_BLOCKS};
use crate::sync::{AtomicUsize, Ordering};

/// Bytes of the free-list link in front of each block.
const LINK: usize = mem::size_of::<Link>();
/// The unit in which the free list names a block: a link's offset from the arena's
/// start divided by it (links are aligned to it).
const STRIDE: usize = mem::align_of::<Link>();

/// The arena's bytes, aligned to the largest alignment a class offers.
#[repr(C, align(16))]
struct Arena<const BYTES: usize>(UnsafeCell<[u8; BYTES]>);

/// A heap of `N` size classes (table `C`) over an arena of `ARENA` bytes, for
/// `#[global_allocator]` or as a value: see the [module docs](crate::heap) for the
/// class and arena policy, bad input and the guarantees per target.
///
/// The global allocator is a `&'static Heap` (`GlobalAlloc` is implemented for it), made
/// in the allocator's own `static` from a heap `static` declared inside it:
///
/// ```
/// use blockpool::Heap;
///
/// // In a firmware, with `#[global_allocator]` on it.
/// static HEAP: &Heap<32768> = {
///     static HEAP: Heap<32768> = Heap::new();
///     &HEAP
/// };
///
/// let layout = core::alloc::Layout::new::<u64>();
/// let p = HEAP.try_alloc(layout).unwrap();
/// // SAFETY: `p` is a fresh 8-byte block, aligned for `u64`.
/// unsafe { p.cast::<u64>().as_ptr().write(7) };
/// // SAFETY: `p` came from `HEAP` with `layout` and is freed once.
/// unsafe { HEAP.free(p, layout) };
/// ```
///
/// All zeros when made, so a `static` heap lands in `.bss` and needs no `init`.
///
/// Allocating borrows the heap for `'static` (as [`StaticPool`](crate::StaticPool)
/// does): its free lists remember blocks by their addresses inside the heap, so a heap
/// that moved after use would hand out memory where it used to be. The `'static` borrow
/// makes that a compile error, and costs the fast paths nothing (no run-time check):
///
/// ```compile_fail,E0597
/// use blockpool::Heap;
///
/// let heap = Heap::<1024>::new();
/// let layout = core::alloc::Layout::new::<u64>();
/// let p = heap.try_alloc(layout); // error: `heap` would have to live for `'static`
/// let moved = heap; // ... because moving it here would break its free lists
/// ```
///
/// A heap that is not a `static` can be leaked: `Box::leak(Box::new(Heap::new()))`.
// `repr(C)`, the free lists first: class `c`'s list is at the heap's address plus `c`
// times a list's size (one instruction on ARM), and the arena last.
#[repr(C)]
pub struct Heap<const ARENA: usize, C = DefaultClasses, const N: usize = DEFAULT_CLASSES> {
    lists: [FreeList; N],
    /// Bytes of the arena carved so far.
    top: AtomicUsize,
    /// Layouts no class can hold.
    #[cfg(feature = "stats")]
    rejected: AtomicUsize,
    counters: [ClassCounters; N],
    classes: PhantomData<fn() -> C>,
    arena: Arena<ARENA>,
}

// SAFETY: the arena's bytes are reached only through blocks, and each block belongs to
// one owner at a time (the free list hands it out once until it is freed); all other
// state is atomic. The heap never holds a value of any type.
unsafe impl<const ARENA: usize, C, const N: usize> Sync for Heap<ARENA, C, N> {}

impl<const ARENA: usize, C: SizeClasses<N>, const N: usize> Heap<ARENA, C, N> {
    /// An empty heap: all zeros. A class table that breaks the rules of
    /// [`SizeClasses`], or an arena larger than the target's free list can name, is a
    /// compile-time error.
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    ///
    /// static HEAP: Heap<8192> = Heap::new();
    /// assert_eq!(HEAP.arena_used(), 0);
    /// ```
    #[allow(clippy::absurd_extreme_comparisons)] // `MAX_BLOCKS` is `usize::MAX` on some backends
    pub const fn new() -> Self {
        const {
            assert!(
                Plan::<C, N>::VALID,
                "Heap: the class table breaks the rules of SizeClasses"
            );
            assert!(
                ARENA / STRIDE < MAX_BLOCKS,
                "Heap: an arena larger than this target's free list can name"
            );
        };
        Self {
            lists: [const { FreeList::new() }; N],
            top: AtomicUsize::new(0),
            #[cfg(feature = "stats")]
            rejected: AtomicUsize::new(0),
            counters: [const { ClassCounters::new() }; N],
            classes: PhantomData,
            arena: Arena(UnsafeCell::new([0; ARENA])),
        }
    }

    /// The class that serves `layout` (an index into the class table), or `None` when
    /// no class can (too large, or over-aligned).
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<1024> = Heap::new();
    /// assert_eq!(HEAP.class_of(Layout::new::<u64>()), Some(0)); // 8 bytes
    /// assert_eq!(HEAP.class_of(Layout::from_size_align(8, 64).unwrap()), None);
    /// assert_eq!(HEAP.class_of(Layout::new::<[u8; 4096]>()), None);
    /// ```
    #[inline]
    pub fn class_of(&self, layout: Layout) -> Option<usize> {
        Plan::<C, N>::class_of(layout)
    }

    /// The bytes an allocation of `layout` really gets (its class's block size): a
    /// `realloc` up to this size stays in place. `None` when no class serves it.
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<1024> = Heap::new();
    /// assert_eq!(HEAP.usable_size(Layout::new::<[u8; 33]>()), Some(40));
    /// ```
    pub fn usable_size(&self, layout: Layout) -> Option<usize> {
        self.class_of(layout).map(|class| C::SIZES[class])
    }

    /// The arena's start.
    #[inline(always)]
    fn arena_start(&self) -> NonNull<u8> {
        // SAFETY: the address of a field of `self`: not null.
        unsafe { NonNull::new_unchecked(self.arena.0.get().cast::<u8>()) }
    }

    /// Allocates a block for `layout`; `None` when no class serves the layout or its
    /// class has no block left (see the module docs' "bad input"). Lock-free on the
    /// lock-free backends, callable from any thread or interrupt handler.
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<256> = Heap::new();
    /// let layout = Layout::new::<[u16; 8]>();
    /// let p = HEAP.try_alloc(layout).unwrap();
    /// assert_eq!(p.as_ptr() as usize % layout.align(), 0);
    /// assert!(HEAP.try_alloc(Layout::from_size_align(16, 128).unwrap()).is_none());
    /// # unsafe { HEAP.free(p, layout) };
    /// ```
    #[inline]
    pub fn try_alloc(&'static self, layout: Layout) -> Option<NonNull<u8>> {
        // The fast path: a small layout, a block on the class's list. Everything else
        // is a tail call of a cold function, so the fast path needs no stack frame:
        // `alloc_slow` (the layout as given) before the pop, `alloc_fresh` (the class
        // only) when the list is empty.
        match Plan::<C, N>::fast_class(layout) {
            Some(class) => {
                // SAFETY: `fast_class` returns only indices below `N`.
                match unsafe { self.pop(class) } {
                    Some(payload) => Some(payload),
                    None => self.alloc_fresh(class),
                }
            }
            _ => self.alloc_slow(layout),
        }
    }

    /// Takes a block off class `class`'s list; its payload.
    ///
    /// # Safety
    /// `class < N`.
    #[inline(always)]
    unsafe fn pop(&self, class: usize) -> Option<NonNull<u8>> {
        // SAFETY: `class < N` (the caller's promise).
        let link = unsafe { self.lists.get_unchecked(class) }.pop_strided(STRIDE)?;
        // SAFETY: as above.
        unsafe { self.counters.get_unchecked(class) }.on_take();
        // SAFETY: every block on a class's list is a link followed by at least
        // `SIZES[class]` payload bytes inside the arena (`alloc_fresh`), so the payload's
        // start is in bounds; it is not null.
        Some(unsafe { link.cast::<u8>().byte_add(LINK) })
    }

    /// Every allocation the fast path does not finish: the full class lookup (sizes 0
    /// and above the fast bound, large alignments), the first use, an empty list.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&self, layout: Layout) -> Option<NonNull<u8>> {
        let Some(class) = Plan::<C, N>::class_of(layout) else {
            self.on_rejected();
            return None;
        };
        // SAFETY: `class_of` returns only indices below `N`.
        match unsafe { self.pop(class) } {
            Some(payload) => Some(payload),
            None => self.alloc_fresh(class),
        }
    }

    /// The class's free list is empty: carves a new block from the arena.
    #[cold]
    #[inline(never)]
    fn alloc_fresh(&self, class: usize) -> Option<NonNull<u8>> {
        // SAFETY: `class < N` (the callers got it from `class_of`).
        let counters = unsafe { self.counters.get_unchecked(class) };
        let Some(carved) = arena::carve(
            &self.top,
            LINK,
            C::SIZES[class],
            Plan::<C, N>::ALIGN[class],
            ARENA,
        ) else {
            counters.on_failure();
            return None;
        };
        counters.on_carve();
        counters.on_take();
        // The payload is aligned to the class's alignment, at least the link's (see
        // `classes::MIN_ALIGN`), and the link is right before it: the link's offset is a
        // multiple of `STRIDE`, and below `ARENA`, whose bound `new` checked.
        let link_offset = carved.payload - LINK;
        // SAFETY:
        // - the link's bytes lie inside the arena (`carve` kept the payload's end within
        //   `ARENA`) and are all zeros: the arena started so, and no byte of it is
        //   ever part of two blocks (`arena.rs`), so this is a fresh `Link::new()`;
        // - the block is exclusively ours: the bump gave its bytes to this call alone;
        // - `adopt` names the block by its link's offset over `STRIDE` from the arena's
        //   start (below `MAX_BLOCKS`): every class's list uses the arena's start as
        //   its storage and this stride, and each name belongs to one block only, so no
        //   two lists ever name the same block, and every list that adopts a block of
        //   a region records the same base for it. No list ever calls `add_run`.
        // - the arena lives as long as the heap, and the heap never moves once used:
        //   every allocation borrows it for `'static`.
        let link = unsafe {
            self.lists.get_unchecked(class).adopt(
                self.arena_start().cast::<Link>(),
                link_offset / STRIDE,
                STRIDE,
            )
        };
        // SAFETY: the payload starts `LINK` bytes after the link, inside the arena.
        Some(unsafe { link.cast::<u8>().byte_add(LINK) })
    }

    /// Frees a block. A layout no class serves is ignored (no such block exists).
    ///
    /// # Safety
    /// `ptr` was returned by this heap (`try_alloc`, `try_realloc`, its `GlobalAlloc`
    /// or `Allocator` methods) for a layout of the same class as `layout` (the same
    /// layout does), and is not used after this call and not freed again.
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<256> = Heap::new();
    /// let layout = Layout::new::<u32>();
    /// let a = HEAP.try_alloc(layout).unwrap();
    /// // SAFETY: `a` came from `HEAP` with `layout`, freed once, not used after.
    /// unsafe { HEAP.free(a, layout) };
    /// assert_eq!(HEAP.try_alloc(layout), Some(a)); // the same block, reused
    /// ```
    #[inline]
    pub unsafe fn free(&'static self, ptr: NonNull<u8>, layout: Layout) {
        match Plan::<C, N>::fast_class(layout) {
            // SAFETY: `class < N` (from `fast_class`); the rest is the caller's promise.
            Some(class) => unsafe { self.push(class, ptr) },
            // SAFETY: the caller's promise.
            None => unsafe { self.free_slow(ptr, layout) },
        }
    }

    /// Puts the block whose payload is at `ptr` on class `class`'s list.
    ///
    /// # Safety
    /// `class < N`; `ptr` is the payload of a block of class `class` that was handed out
    /// by this heap and is not used any more.
    #[inline(always)]
    unsafe fn push(&self, class: usize, ptr: NonNull<u8>) {
        // SAFETY: `class < N`.
        unsafe { self.counters.get_unchecked(class) }.on_release();
        // The link is reached from the arena's own pointer, not from `ptr`: a caller's
        // pointer may carry the right to its payload only (a reference to the payload
        // turned back into a pointer), and the link lies outside the payload. (The
        // compiler folds this to `ptr - LINK`.)
        let start = self.arena_start();
        let link_offset = (ptr.as_ptr() as usize).wrapping_sub(start.as_ptr() as usize + LINK);
        // SAFETY: `ptr` is the payload of one of this class's blocks, so its link is the
        // `LINK` bytes right before it, at `link_offset` inside the arena; the block
        // belongs to this class's list, is not on it (it was handed out and not freed
        // since) and nobody uses it any more (the caller's promise).
        unsafe {
            let link = start.byte_add(link_offset).cast::<Link>();
            self.lists.get_unchecked(class).push(link);
            #[cfg(blockpool_heap_broken)]
            broken::push_again(self.lists.get_unchecked(class), link);
        }
    }

    /// Every free the fast path does not finish.
    ///
    /// # Safety
    /// As for [`free`](Self::free).
    #[cold]
    #[inline(never)]
    unsafe fn free_slow(&self, ptr: NonNull<u8>, layout: Layout) {
        if let Some(class) = Plan::<C, N>::class_of(layout) {
            // SAFETY: `class < N` (from `class_of`); the rest is the caller's promise.
            unsafe { self.push(class, ptr) };
        }
    }

    /// Resizes a block to `new_size` bytes (the alignment stays `layout.align()`): the
    /// same pointer when the new size falls in the same class, else a new block with
    /// the contents copied (up to the smaller size) and the old one freed. `None` when
    /// the new size has no class or its class has no block: the old block is then
    /// untouched and still the caller's.
    ///
    /// # Safety
    /// As for [`free`](Self::free): `ptr` is a live block of this heap for a layout of
    /// `layout`'s class. On `Some`, the old pointer is no longer the caller's (unless it
    /// is the one returned); the new block has the new layout.
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<1024> = Heap::new();
    /// let layout = Layout::from_size_align(10, 4).unwrap(); // the 16-byte class
    /// let p = HEAP.try_alloc(layout).unwrap();
    /// // SAFETY: `p` is a live block of `layout`'s class.
    /// let same = unsafe { HEAP.try_realloc(p, layout, 16) }.unwrap();
    /// assert_eq!(same, p); // still the 16-byte class: in place
    /// // SAFETY: `same` is live, now with size 16.
    /// let moved = unsafe { HEAP.try_realloc(same, Layout::from_size_align(16, 4).unwrap(), 100) };
    /// assert!(moved.is_some_and(|m| m != p));
    /// # unsafe { HEAP.free(moved.unwrap(), Layout::from_size_align(100, 4).unwrap()) };
    /// ```
    pub unsafe fn try_realloc(
        &'static self,
        ptr: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let new_layout = Layout::from_size_align(new_size, layout.align()).ok()?;
        let new_class = self.class_of(new_layout);
        if new_class.is_some() && new_class == self.class_of(layout) {
            return Some(ptr);
        }
        let fresh = self.try_alloc(new_layout)?;
        // SAFETY: both blocks are live and distinct (`fresh` was just handed out, `ptr`
        // is still the caller's), each at least as large as its layout's size.
        unsafe {
            ptr::copy_nonoverlapping(ptr.as_ptr(), fresh.as_ptr(), layout.size().min(new_size));
            self.free(ptr, layout);
        }
        Some(fresh)
    }

    /// Bytes of the arena carved so far (blocks, links and alignment padding): they
    /// stay carved. Readable from any context, in every build.
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<1024> = Heap::new();
    /// let layout = Layout::new::<[u8; 100]>();
    /// let p = HEAP.try_alloc(layout).unwrap();
    /// let used = HEAP.arena_used();
    /// assert!(used >= 112); // the 112-byte class's block and its link
    /// unsafe { HEAP.free(p, layout) };
    /// assert_eq!(HEAP.arena_used(), used); // never given back to the arena
    /// ```
    pub fn arena_used(&self) -> usize {
        // Relaxed: a count.
        self.top.load(Ordering::Relaxed)
    }

    /// Whether `ptr` points into this heap's arena: what a fallback
    /// allocator needs to send a free to the right heap. Address arithmetic only.
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<1024> = Heap::new();
    /// let layout = Layout::new::<u64>();
    /// let p = HEAP.try_alloc(layout).unwrap();
    /// assert!(HEAP.owns(p.as_ptr()));
    /// assert!(!HEAP.owns(&layout as *const Layout as *const u8));
    /// # unsafe { HEAP.free(p, layout) };
    /// ```
    pub fn owns(&self, ptr: *const u8) -> bool {
        let start = self.arena_start().as_ptr() as usize;
        (ptr as usize).wrapping_sub(start) < ARENA
    }

    /// The arena's size: `ARENA`.
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    ///
    /// static HEAP: Heap<4096> = Heap::new();
    /// assert_eq!(HEAP.arena_size(), 4096);
    /// ```
    pub const fn arena_size(&self) -> usize {
        ARENA
    }

    /// Blocks class `class` has carved from the arena so far (0 for a class index
    /// out of range). Readable from any context, in every build.
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<1024> = Heap::new();
    /// let layout = Layout::new::<u64>();
    /// let p = HEAP.try_alloc(layout).unwrap();
    /// assert_eq!(HEAP.carved(HEAP.class_of(layout).unwrap()), 1);
    /// # unsafe { HEAP.free(p, layout) };
    /// ```
    pub fn carved(&self, class: usize) -> usize {
        self.counters.get(class).map_or(0, ClassCounters::carved)
    }

    #[inline(always)]
    fn on_rejected(&self) {
        #[cfg(feature = "stats")]
        counter::fetch_add(&self.rejected, 1, Ordering::Relaxed);
    }

    /// A snapshot of the heap's statistics (feature `stats`): arena used, and per class
    /// blocks carved, in use, high-water mark and failures. Readable from any context.
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<4096> = Heap::new();
    /// let layout = Layout::new::<[u8; 64]>();
    /// let p = HEAP.try_alloc(layout).unwrap();
    /// let stats = HEAP.stats();
    /// let class = stats.classes[HEAP.class_of(layout).unwrap()];
    /// assert_eq!((class.size, class.in_use, stats.in_use()), (64, 1, 1));
    /// # unsafe { HEAP.free(p, layout) };
    /// ```
    #[cfg(feature = "stats")]
    pub fn stats(&self) -> super::HeapStats<N> {
        let mut classes = [super::ClassStats::default(); N];
        for (class, out) in classes.iter_mut().enumerate() {
            *out = self.counters[class].snapshot(C::SIZES[class]);
        }
        super::HeapStats {
            arena_size: ARENA,
            arena_used: self.arena_used(),
            rejected: self.rejected.load(Ordering::Relaxed),
            classes,
        }
    }

    /// Sets every class's high-water mark to its blocks in use now (feature `stats`).
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<4096> = Heap::new();
    /// let layout = Layout::new::<u64>();
    /// let p = HEAP.try_alloc(layout).unwrap();
    /// unsafe { HEAP.free(p, layout) };
    /// HEAP.reset_high_water();
    /// assert_eq!(HEAP.stats().classes[0].high_water, 0);
    /// ```
    #[cfg(feature = "stats")]
    pub fn reset_high_water(&self) {
        for counters in &self.counters {
            counters.reset_high_water();
        }
    }
}

impl<const ARENA: usize, C: SizeClasses<N>, const N: usize> Default for Heap<ARENA, C, N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `alloc` hands out blocks of at least `layout.size()` bytes aligned to
// `layout.align()` (the class's size and alignment, from `class_of`), each to one owner
// until it is freed; `dealloc` and `realloc` keep `GlobalAlloc`'s contract through
// `free` and `try_realloc`, whose requirements `GlobalAlloc`'s callers meet (the pointer
// came from this allocator with this layout). The heap is `'static`, so it never moves.
// Nothing here unwinds or panics.
unsafe impl<const ARENA: usize, C: SizeClasses<N>, const N: usize> GlobalAlloc
    for &'static Heap<ARENA, C, N>
{
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.try_alloc(layout)
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `GlobalAlloc::dealloc`'s contract is `free`'s; the pointer denotes a
        // block this allocator handed out, so it is not null.
        unsafe { self.free(NonNull::new_unchecked(ptr), layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(ptr) = NonNull::new(ptr) else {
            return ptr::null_mut();
        };
        // SAFETY: `GlobalAlloc::realloc`'s contract is `try_realloc`'s.
        unsafe { self.try_realloc(ptr, layout, new_size) }.map_or(ptr::null_mut(), NonNull::as_ptr)
    }
}

/// The negative control of the heap's tests (`--cfg blockpool_heap_broken`, never in a
/// user build): every eighth free pushes its block twice (a double free inside the
/// heap), so the block is then handed to two owners at once. `tests/heap.rs` and
/// `tests/heap_signal.rs` must then fail (`scripts/heap.sh` checks that they do).
#[cfg(blockpool_heap_broken)]
mod broken {
    use core::ptr::NonNull;

    use crate::free_list::{FreeList, Link};
    use crate::sync::{AtomicUsize, Ordering};

    static FREES: AtomicUsize = AtomicUsize::new(0);

    /// # Safety
    /// `link` was just pushed on `list` (this is the bug on purpose: a block pushed
    /// twice; its links stay inside the arena, so the damage is two owners, not a
    /// wild pointer).
    pub(super) unsafe fn push_again(list: &FreeList, link: NonNull<Link>) {
        if FREES.fetch_add(1, Ordering::Relaxed) % 8 == 7 {
            // SAFETY: none; see above.
            unsafe { list.push(link) }
        }
    }
}

const _: () = assert!(MAX_ALIGN == mem::align_of::<Arena<0>>());
