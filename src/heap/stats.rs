//! Per-class counters and the snapshots `Heap::stats` returns.
//!
//! `carved` (blocks a class took from the arena) is counted on the carve path, which is
//! cold, in every build. With the `stats` feature each class also counts its blocks in
//! use (one more atomic read-modify-write per allocation and per free, as for the
//! pools, plus a `fetch_max` when a new high-water mark is reached) and its failures.
//! The orderings and the bounds a snapshot obeys are the pools' (`src/stats.rs` argues
//! them): a free decrements `in_use` before its push (release) and the next taker
//! increments it after its pop (acquire), so `in_use` never exceeds the blocks out.

use crate::counter;
use crate::stats::Usage;
use crate::sync::{AtomicUsize, Ordering};

/// One class's counters: blocks carved, and its [`Usage`].
pub(super) struct ClassCounters {
    carved: AtomicUsize,
    usage: Usage,
}

impl ClassCounters {
    crate::sync::const_fn_unless_loom! {
        /// All zero.
        pub(super) fn new() -> Self {
            Self {
                carved: AtomicUsize::new(0),
                usage: Usage::new(),
            }
        }
    }

    /// A block was carved for this class (cold path).
    #[inline(always)]
    pub(super) fn on_carve(&self) {
        // Relaxed: a count, publishing nothing.
        counter::fetch_add(&self.carved, 1, Ordering::Relaxed);
    }

    /// Blocks carved so far.
    pub(super) fn carved(&self) -> usize {
        self.carved.load(Ordering::Relaxed)
    }

    /// A block was handed out (after taking it).
    #[inline(always)]
    pub(super) fn on_take(&self) {
        self.usage.on_take_n(1);
    }

    /// A block is about to go back (before pushing it).
    #[inline(always)]
    pub(super) fn on_release(&self) {
        self.usage.on_release_n(1);
    }

    /// An allocation of this class found no block (free list empty, arena full).
    #[inline(always)]
    pub(super) fn on_failure(&self) {
        self.usage.on_failure();
    }

    #[cfg(feature = "stats")]
    pub(super) fn snapshot(&self, size: usize) -> ClassStats {
        let (in_use, high_water, failures) = self.usage.read();
        ClassStats {
            size,
            carved: self.carved(),
            in_use,
            high_water,
            failures,
        }
    }

    /// Sets the high-water mark to the blocks in use now, losing no racing allocation
    /// (the argument of `src/stats.rs`).
    #[cfg(feature = "stats")]
    pub(super) fn reset_high_water(&self) {
        self.usage.reset_high_water();
    }
}

/// One class's statistics in a [`HeapStats`] (feature `stats`).
///
/// # Examples
/// ```
/// use blockpool::Heap;
/// use core::alloc::Layout;
///
/// static HEAP: Heap<4096> = Heap::new();
/// let layout = Layout::new::<[u8; 24]>();
/// let p = HEAP.try_alloc(layout).unwrap();
/// let class = HEAP.stats().classes[HEAP.class_of(layout).unwrap()];
/// assert_eq!((class.size, class.carved, class.in_use, class.high_water), (24, 1, 1, 1));
/// // SAFETY: `p` came from `HEAP` with this layout and is freed once.
/// unsafe { HEAP.free(p, layout) };
/// ```
#[cfg(feature = "stats")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct ClassStats {
    /// The class's block size in bytes.
    pub size: usize,
    /// Blocks the class has carved from the arena (they stay the class's).
    pub carved: usize,
    /// Blocks handed out and not yet freed.
    pub in_use: usize,
    /// The most blocks in use at once since the heap was made or
    /// `reset_high_water` was last called.
    pub high_water: usize,
    /// Allocations of this class that got no memory (free list empty, and the arena
    /// had no room for another block of this class).
    pub failures: usize,
}

/// A snapshot of a heap's statistics (feature `stats`), from
/// [`Heap::stats`](crate::Heap::stats), readable from any context.
///
/// Fields are read one by one, so under concurrent traffic they may come from slightly
/// different moments; each is exact when the heap is quiet.
///
/// # Examples
/// ```
/// use blockpool::Heap;
///
/// static HEAP: Heap<1024> = Heap::new();
/// let stats = HEAP.stats();
/// assert_eq!((stats.arena_size, stats.arena_used, stats.rejected), (1024, 0, 0));
/// ```
#[cfg(feature = "stats")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct HeapStats<const N: usize> {
    /// The arena's size in bytes.
    pub arena_size: usize,
    /// Bytes of the arena carved so far (blocks, their links and alignment padding).
    pub arena_used: usize,
    /// Layouts no class can hold (too large or over-aligned) that were asked for.
    pub rejected: usize,
    /// Each class's statistics, smallest class first.
    pub classes: [ClassStats; N],
}

#[cfg(feature = "stats")]
impl<const N: usize> HeapStats<N> {
    /// Blocks in use, all classes together.
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<4096> = Heap::new();
    /// let a = HEAP.try_alloc(Layout::new::<u64>()).unwrap();
    /// let b = HEAP.try_alloc(Layout::new::<[u8; 100]>()).unwrap();
    /// assert_eq!(HEAP.stats().in_use(), 2);
    /// # unsafe { HEAP.free(a, Layout::new::<u64>()); HEAP.free(b, Layout::new::<[u8; 100]>()) };
    /// ```
    pub fn in_use(&self) -> usize {
        self.classes.iter().map(|c| c.in_use).sum()
    }

    /// Allocations that got no memory, all classes together (not counting
    /// [`rejected`](Self::rejected) layouts).
    ///
    /// # Examples
    /// ```
    /// use blockpool::Heap;
    /// use core::alloc::Layout;
    ///
    /// static HEAP: Heap<64> = Heap::new();
    /// let big = Layout::from_size_align(48, 8).unwrap();
    /// let p = HEAP.try_alloc(big).unwrap();
    /// assert!(HEAP.try_alloc(big).is_none()); // the arena is full
    /// assert_eq!(HEAP.stats().failures(), 1);
    /// # unsafe { HEAP.free(p, big) };
    /// ```
    pub fn failures(&self) -> usize {
        self.classes.iter().map(|c| c.failures).sum()
    }
}
