//! [`Heap`]: a lock-free, interrupt-safe heap for `alloc` (`Vec`, `Box`, `String`,
//! `BTreeMap`, …), built from size classes, each a free list of the pools' kind.
//!
//! ```
//! use blockpool::Heap;
//!
//! // The global allocator of a firmware: one `static` (the heap `static` inside it is
//! // all zeros: a 16 KiB arena in `.bss`), no `init`, no `unsafe`.
//! #[global_allocator]
//! static HEAP: &Heap<16384> = {
//!     static HEAP: Heap<16384> = Heap::new();
//!     &HEAP
//! };
//!
//! let mut v = Vec::new(); // from `HEAP`
//! v.extend_from_slice(b"lock-free");
//! let layout = core::alloc::Layout::new::<[u32; 10]>();
//! assert_eq!(HEAP.usable_size(layout), Some(40));
//! let p = HEAP.try_alloc(layout).expect("arena full"); // or directly
//! // SAFETY: `p` came from `HEAP` with `layout` and is freed once.
//! unsafe { HEAP.free(p, layout) };
//! ```
//!
//! # Classes and arena
//! - **Classes.** A table of block sizes (the type parameter `C`, a [`SizeClasses`];
//!   [`DefaultClasses`]: 27 classes, 8 to 2048 bytes, multiples of 8, four per doubling). An allocation
//!   goes to the smallest class whose blocks are at least as large as the layout's size
//!   and as aligned as its alignment; `dealloc` finds the same class from the `Layout`
//!   it is given, so allocations carry **no size header**. A size up to 1024 bytes finds
//!   its class with one table load; larger ones scan the (few) larger classes.
//! - **Arena.** `ARENA` bytes inside the heap, all zeros, so a `static` heap is
//!   `.bss`. A class whose free list is empty carves one more block from the arena with
//!   one atomic bump of the arena's top (a compare-and-swap; a critical section on
//!   targets without one). **Carved memory is never returned to the arena**: a freed
//!   block goes to its class's free list, where only that class reuses it. Firmware
//!   with a steady mix of sizes reaches a steady state; a program whose sizes drift
//!   fills the arena with blocks of classes it no longer uses.
//! - **Blocks.** Each block is the free list's link (4 bytes on the pointer backends,
//!   16 on the 64-bit CAS backend; see the crate's target table) right before the
//!   payload. The link belongs to the free list only and is never part of the payload,
//!   so a pop racing the block's new owner reads it without a data race (the pools'
//!   rule, `src/block.rs`). A block of class `c` takes `SIZES[c]` bytes plus its link,
//!   plus padding to the class's alignment.
//! - **Bad input, documented results, never UB:**
//!   - size 0: served like size 1 (a real block of the smallest class), and freed with
//!     the same layout;
//!   - a size above the largest class, or an alignment above what any large enough
//!     class offers (at most [`MAX_ALIGN`], 16): `None` / `null`, counted in
//!     `HeapStats::rejected` (feature `stats`);
//!   - a class whose free list is empty when the arena has no room for another block:
//!     `None` / `null`, even if other classes hold free blocks (blocks never change
//!     class), counted in that class's `ClassStats::failures` (feature `stats`);
//!   - `realloc` to a size of the same class returns the same pointer; to another
//!     class, a new block, the contents copied, the old block freed (or `null` and the
//!     old block untouched when the new class has no block).
//! - **Knobs.** The arena size (`ARENA`), and the class table (`C`, with its number of
//!   classes `N`): keep the classes a firmware uses, and nothing else is reserved for
//!   the others (a class takes arena only when it carves).
//!
//! # Guarantees per target
//! A heap's classes are free lists of the pools' kind, and its only other shared state
//! (the arena's top, the statistics) is atomic counters, so the heap has exactly the
//! guarantees of the pools' backend for the target, listed in the one table of the
//! crate docs ("Guarantees per target"): lock-free and interrupt/signal-safe on the
//! 64-bit CAS and ARM LL/SC backends (no interrupt is ever masked, nothing spins on
//! another context), critical sections of a few instructions on the others (thumbv6m,
//! riscv32). On the 64-bit CAS backend an arena holds at most
//! [`Pool::MAX_BLOCKS`](crate::Pool::MAX_BLOCKS) × 8 bytes (128 MiB; a larger `ARENA`
//! is a compile error).
//!
//! # The value form: `allocator-api2`
//! A heap in a `static` of its own (or leaked) is a value like any other: its methods
//! (`try_alloc`, `free`, `try_realloc`, `stats`) work from any context. With the
//! `allocator-api2` feature, `&'static Heap` implements
//! `allocator_api2::alloc::Allocator`, so `allocator_api2::vec::Vec::new_in(&HEAP)` (and
//! `hashbrown`'s maps, and every other collection that takes that trait) draw from one
//! heap instance. It is the stable
//! mirror of `core`'s unstable `Allocator` (with its `nightly` feature, the very same
//! trait), the one the no_std ecosystem already accepts, where a trait of our own would
//! be accepted by no collection.
//!
//! # Measured costs
//! `scripts/heap.sh counts` (firmware `heap_cost`, traced under QEMU one instruction
//! per translation block): instructions one call executes, callees included (the
//! peers' critical sections too), on a warm heap, in one firmware with embedded-alloc
//! 0.7's `LlffHeap` and `TlsfHeap`, the same at 8, 24, 64 and 200 bytes:
//!
//! | target | blockpool `Heap` alloc + dealloc | `LlffHeap` | `TlsfHeap` | ours / TLSF |
//! |---|---|---|---|---|
//! | Cortex-M4F (thumbv7em, LL/SC) | 23 + 24 = **47** | 94 + 70 = 164 | 143 + 104 = 247 | 19 % |
//! | same, feature `stats` | 35 + 31 = 66 | 164 | 247 | 27 % |
//! | Cortex-M0 (thumbv6m, critical sections) | 24 + 21 = **45** | 119 + 86 = 205 | 277 + 214 = 491 | 9 % |
//!
//! On LL/SC targets the heap masks no interrupt at all (`scripts/heap.sh` checks that
//! no `cpsid` is in its code on the M4F); both peers mask interrupts for the whole of
//! every call. `scripts/heap.sh` fails if the M4F's default build exceeds
//! a fifth of TLSF's at any size.
//!
//! The price is memory. `scripts/heap.sh counts` (firmware `heap_util`) replays one
//! pseudo-random trace against each allocator with an 8 KiB arena until its first
//! failed allocation, and reports the bytes live then:
//!
//! | trace | blockpool `Heap` | `LlffHeap` | `TlsfHeap` |
//! |---|---|---|---|
//! | `firmware`: 12 sizes from 12 to 1024 B, up to 48 live | 45.3 % (after 601 steps) | 56.8 % (24,892) | 60.5 % (9,164) |
//! | `uniform`: any size 8 to 1024 B, up to 12 live | 40.5 % (after 30 steps) | 74.6 % (1,840) | 85.3 % (1,843) |
//!
//! Blocks round up to their class and carry a link, and, more costly, carved blocks
//! stay with their class: a heap whose mix of sizes moves runs out while other classes
//! hold free blocks. Size a heap's arena for the sum of each class's high-water mark
//! (`stats`), not for the peak of live bytes, and keep the class table to the sizes a
//! firmware allocates.

mod arena;
#[cfg(not(blockpool_loom))]
mod classes;
#[cfg(not(blockpool_loom))]
mod stats;

#[cfg(all(feature = "allocator-api2", not(blockpool_loom)))]
mod allocator_api;
#[cfg(not(blockpool_loom))]
mod global;

#[cfg(not(blockpool_loom))]
pub use classes::{DefaultClasses, SizeClasses, DEFAULT_CLASSES, MAX_ALIGN, MAX_CLASSES};
#[cfg(all(feature = "stats", not(blockpool_loom)))]
pub use stats::{ClassStats, HeapStats};

#[cfg(not(blockpool_loom))]
pub use global::Heap;

/// The arena's bump, for the loom model (`tests/heap_loom.rs`): not part of the API.
#[cfg(blockpool_loom)]
#[doc(hidden)]
pub mod loom_model {
    /// Claims one block of `link + size` bytes (payload aligned to `align`) below
    /// `capacity`; returns its payload's offset.
    pub fn carve(
        top: &crate::sync::AtomicUsize,
        link: usize,
        size: usize,
        align: usize,
        capacity: usize,
    ) -> Option<usize> {
        super::arena::carve(top, link, size, align, capacity).map(|c| c.payload)
    }
}
