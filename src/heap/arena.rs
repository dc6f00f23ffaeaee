//! The arena: bytes handed to the classes one block at a time by an atomic bump of the
//! arena's `top`, and never given back.
//!
//! A block is the free list's [`Link`](crate::free_list::Link) followed by the payload
//! (the link is the free list's, never the user's: the payload starts after it). A
//! class that runs dry carves its next block from the arena: the block's payload offset
//! is `top` plus the link, rounded up to the class's alignment, and `top` moves past
//! the payload. That is one compare-and-swap (a `fetch_update` loop that retries only
//! when another context carved meanwhile) on the targets with atomic read-modify-write,
//! and one short critical section on the others (thumbv6m, riscv32imc).
//!
//! Bytes once carved belong to their class for ever: a freed block goes to its class's
//! free list, never back to the arena, so the arena only fills. Every byte of it is
//! part of at most one block (a link, a payload, or alignment padding), which is why a
//! link's bytes are still the zeros the arena started with when the free list first
//! uses them (`Link::new` is all zeros).

use crate::sync::{AtomicUsize, Ordering};

/// Where a block was carved: its payload's offset from the arena's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Carved {
    /// Offset of the payload (a multiple of the alignment asked for).
    pub(crate) payload: usize,
}

/// The offsets a carve at `top` would give: `(payload, new top)`, or `None` when the
/// block does not fit below `capacity`. `align` is a power of two, `link` and `size` at
/// most `isize::MAX / 4` and `top <= capacity <= isize::MAX`, so nothing overflows.
#[inline(always)]
pub(crate) const fn plan(
    top: usize,
    link: usize,
    size: usize,
    align: usize,
    capacity: usize,
) -> Option<(usize, usize)> {
    let payload = (top + link + align - 1) & !(align - 1);
    let end = payload + size;
    if end <= capacity {
        Some((payload, end))
    } else {
        None
    }
}

/// Claims the bytes of one block (a `link`-byte header, then `size` bytes aligned to
/// `align`) from the arena whose bytes in use are counted by `top`, `capacity` bytes in
/// all; `None` (and `top` unchanged) when they do not fit.
///
/// Each call that returns `Some` gets a range of bytes no other call ever gets: `top`
/// only grows, and each claim is the move of `top` from one value to the next.
pub(crate) fn carve(
    top: &AtomicUsize,
    link: usize,
    size: usize,
    align: usize,
    capacity: usize,
) -> Option<Carved> {
    #[cfg(blockpool_rmw)]
    {
        // Relaxed: `top` publishes nothing. The carved bytes are zeros from the heap's
        // construction (which happens before any use of the heap: a `static`'s initial
        // value, or `new()` before the heap was shared), and nobody else ever touches
        // them until the free list publishes the block with its own release/acquire
        // operations. Two carvers are kept apart by the read-modify-write alone: each
        // moves `top` from the value it read, so their ranges cannot overlap.
        let old = top
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                plan(t, link, size, align, capacity).map(|(_, end)| end)
            })
            .ok()?;
        let (payload, _) = plan(old, link, size, align, capacity)?;
        Some(Carved { payload })
    }
    #[cfg(not(blockpool_rmw))]
    {
        // No read-modify-write on this target: the load and the store in one critical
        // section (interrupts masked on a single core) are one indivisible update.
        critical_section::with(|_| {
            let t = top.load(Ordering::Relaxed);
            let (payload, end) = plan(t, link, size, align, capacity)?;
            top.store(end, Ordering::Relaxed);
            Some(Carved { payload })
        })
    }
}

#[cfg(all(test, not(blockpool_loom)))]
mod tests {
    use super::*;

    #[test]
    fn plan_aligns_and_bounds() {
        assert_eq!(plan(0, 4, 8, 8, 64), Some((8, 16)));
        assert_eq!(plan(16, 4, 12, 4, 64), Some((20, 32)));
        assert_eq!(plan(0, 16, 8, 8, 24), Some((16, 24)));
        assert_eq!(plan(0, 16, 9, 8, 24), None);
        assert_eq!(plan(60, 4, 1, 4, 64), None);
    }

    #[test]
    fn carves_are_disjoint_and_stop_at_capacity() {
        let top = AtomicUsize::new(0);
        let mut ends = 0;
        let mut count = 0;
        while let Some(c) = carve(&top, 4, 12, 4, 100) {
            assert!(c.payload >= ends + 4, "overlap");
            ends = c.payload + 12;
            count += 1;
        }
        assert_eq!(count, 6); // 6 x 16 bytes = 96, a 7th would end at 112
        assert_eq!(top.load(Ordering::Relaxed), 96);
        // A smaller block still fits after a larger one failed.
        assert!(carve(&top, 4, 16, 4, 100).is_none());
        assert_eq!(carve(&top, 4, 0, 4, 100).map(|c| c.payload), Some(100));
    }
}
