//! The size classes: the table a heap is built on ([`SizeClasses`]), the default one
//! ([`DefaultClasses`]), and what is computed from a table at compile time (the
//! size-to-class lookup and each class's alignment).

use core::alloc::Layout;
use core::marker::PhantomData;

use crate::free_list::Link;

/// The largest alignment any class offers: a [`Layout`] asking for more gets no memory
/// (`null`), never a misaligned pointer. The arena itself is aligned to it.
pub const MAX_ALIGN: usize = 16;

/// The smallest alignment of a class: the free-list link sits right before each block
/// and must be aligned for itself (4 bytes on the pointer backends, 8 on the 64-bit CAS
/// backend).
pub(super) const MIN_ALIGN: usize = core::mem::align_of::<Link>();

/// Sizes up to this many bytes find their class with one table load (a power of two).
pub(super) const LOOKUP_MAX: usize = 1024;
/// Bytes per lookup-table entry (class sizes are multiples of it).
const LOOKUP_GRANULE: usize = 4;
/// Entries of the lookup table: sizes `1..=LOOKUP_MAX` in steps of `LOOKUP_GRANULE`.
pub(super) const LOOKUP_LEN: usize = LOOKUP_MAX / LOOKUP_GRANULE;

/// The most classes a table may have.
pub const MAX_CLASSES: usize = 64;

/// A table of size classes, for [`Heap`](crate::Heap)'s type parameter: the block sizes
/// of its classes, in bytes.
///
/// Rules, checked at compile time when a heap of this table is made (a table that
/// breaks one is a compile error, never a run-time surprise): `1 <= N <=`
/// [`MAX_CLASSES`]; sizes strictly increasing, each a multiple of 4 and at least 4.
/// A class's alignment is the largest power of two that divides its size, at least the
/// free-list link's own (4 bytes on 32-bit targets, 8 on 64-bit ones) and at most
/// [`MAX_ALIGN`]; a request with a larger alignment goes to the next class that has it.
///
/// # Examples
/// A firmware that only ever allocates a few sizes keeps only those classes:
/// ```
/// use blockpool::{Heap, SizeClasses};
///
/// struct Packets;
/// impl SizeClasses<3> for Packets {
///     const SIZES: [usize; 3] = [16, 64, 256];
/// }
///
/// static HEAP: Heap<4096, Packets, 3> = Heap::new();
/// let layout = core::alloc::Layout::from_size_align(40, 4).unwrap();
/// assert_eq!(HEAP.class_of(layout), Some(1)); // the 64-byte class
/// ```
pub trait SizeClasses<const N: usize> {
    /// The block size of each class, smallest first.
    const SIZES: [usize; N];
}

/// The number of classes of [`DefaultClasses`].
pub const DEFAULT_CLASSES: usize = 27;

/// The default class table: 27 classes from 8 to 2048 bytes, all multiples of 8 (so
/// every class is 8-aligned and a request aligned to 8 or less takes the fast path), four
/// per doubling from 32 on: 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192,
/// 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 2048 (at most a fifth
/// of a block unused from 32 bytes on; small sizes round up to the next 8 bytes).
///
/// # Examples
/// ```
/// use blockpool::{DefaultClasses, SizeClasses};
///
/// assert_eq!(DefaultClasses::SIZES[0], 8);
/// assert_eq!(DefaultClasses::SIZES[26], 2048);
/// ```
pub struct DefaultClasses;

impl SizeClasses<DEFAULT_CLASSES> for DefaultClasses {
    const SIZES: [usize; DEFAULT_CLASSES] = [
        8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512,
        640, 768, 896, 1024, 1280, 1536, 2048,
    ];
}

/// What is computed from a class table at compile time.
pub(super) struct Plan<C, const N: usize>(PhantomData<C>);

impl<C: SizeClasses<N>, const N: usize> Plan<C, N> {
    /// Whether the table keeps the rules of [`SizeClasses`].
    pub(super) const VALID: bool = valid(&C::SIZES);
    /// The class of each size `1..=LOOKUP_MAX`, at `(size - 1) / 4`; `N`: none.
    pub(super) const LOOKUP: [u8; LOOKUP_LEN] = lookup(&C::SIZES);
    /// Each class's alignment.
    pub(super) const ALIGN: [usize; N] = aligns(&C::SIZES);
    /// The first class larger than `LOOKUP_MAX` (`N` if none).
    const FIRST_LARGE: usize = first_above(&C::SIZES, LOOKUP_MAX);
    /// The fast path's bound: the largest power of two that is at most `LOOKUP_MAX` and
    /// at most the largest class, so that every size up to it has a class.
    const FAST_MAX: usize = fast_max(&C::SIZES);
    /// The alignment every class has.
    const ALL_ALIGN: usize = min_of(&Self::ALIGN);
    /// `align << FAST_SHIFT < FAST_MAX` exactly when `align <= ALL_ALIGN` (for powers
    /// of two); `None` when no shift does it (a table without room for a fast path).
    const FAST_SHIFT: Option<u32> = fast_shift(Self::FAST_MAX, Self::ALL_ALIGN);

    /// The class of a layout on the fast path: a size from 1 to `FAST_MAX` and an
    /// alignment every class has, with one compare for both (neither has a bit at or
    /// above `FAST_MAX`'s) and one table load. `None`: take [`class_of`](Self::class_of).
    #[inline(always)]
    pub(super) fn fast_class(layout: Layout) -> Option<usize> {
        let shift = Self::FAST_SHIFT?;
        // Size 0 wraps to `usize::MAX`: not the fast path.
        let size = layout.size().wrapping_sub(1);
        // `FAST_MAX` is a power of two: below it means no bit from its own up.
        if (size | (layout.align() << shift)) >> Self::FAST_MAX.trailing_zeros() == 0 {
            // `size < FAST_MAX <= LOOKUP_MAX`, so the index is below `LOOKUP_LEN`, and
            // every size up to `FAST_MAX` has a class (below `N`).
            Some(Self::LOOKUP[size / LOOKUP_GRANULE] as usize)
        } else {
            None
        }
    }

    /// The class of a layout: the smallest whose blocks are at least `layout.size()`
    /// (at least 1) bytes and aligned to `layout.align()`; `None` when no class is.
    pub(super) fn class_of(layout: Layout) -> Option<usize> {
        let size = layout.size().max(1);
        let class = if size <= LOOKUP_MAX {
            // `(size - 1) / 4 <= LOOKUP_LEN - 1`: in bounds.
            Self::LOOKUP[(size - 1) / LOOKUP_GRANULE] as usize
        } else {
            Self::large_class_of(size)
        };
        let mut class = class;
        while class < N {
            if layout.align() <= Self::ALIGN[class] {
                return Some(class);
            }
            class += 1;
        }
        None
    }

    /// Sizes above `LOOKUP_MAX`: a scan of the large classes.
    fn large_class_of(size: usize) -> usize {
        let mut class = Self::FIRST_LARGE;
        while class < N && C::SIZES[class] < size {
            class += 1;
        }
        class
    }
}

const fn min_of(values: &[usize]) -> usize {
    let mut min = usize::MAX;
    let mut i = 0;
    while i < values.len() {
        if values[i] < min {
            min = values[i];
        }
        i += 1;
    }
    min
}

const fn fast_max(sizes: &[usize]) -> usize {
    let largest = if sizes.is_empty() {
        0
    } else {
        sizes[sizes.len() - 1]
    };
    let bound = if largest < LOOKUP_MAX {
        largest
    } else {
        LOOKUP_MAX
    };
    if bound == 0 {
        0
    } else {
        1 << (usize::BITS - 1 - bound.leading_zeros())
    }
}

const fn fast_shift(fast_max: usize, all_align: usize) -> Option<u32> {
    // `align <= all_align` iff `align < 2 * all_align` iff `align << shift < fast_max`
    // with `fast_max = (2 * all_align) << shift`.
    if fast_max == 0 || all_align == 0 || fast_max < 2 * all_align {
        return None;
    }
    Some(fast_max.trailing_zeros() - (2 * all_align).trailing_zeros())
}

const fn valid(sizes: &[usize]) -> bool {
    if sizes.is_empty() || sizes.len() > MAX_CLASSES {
        return false;
    }
    let mut i = 0;
    while i < sizes.len() {
        let size = sizes[i];
        if size < LOOKUP_GRANULE || size % LOOKUP_GRANULE != 0 || size > isize::MAX as usize / 4 {
            return false;
        }
        if i > 0 && sizes[i - 1] >= size {
            return false;
        }
        i += 1;
    }
    true
}

const fn align_of_size(size: usize) -> usize {
    // The largest power of two dividing `size` (`size > 0`: `valid` checked it).
    let lowest = size & size.wrapping_neg();
    if lowest < MIN_ALIGN {
        MIN_ALIGN
    } else if lowest > MAX_ALIGN {
        MAX_ALIGN
    } else {
        lowest
    }
}

const fn aligns<const N: usize>(sizes: &[usize; N]) -> [usize; N] {
    let mut out = [MIN_ALIGN; N];
    let mut i = 0;
    while i < N {
        if sizes[i] > 0 {
            out[i] = align_of_size(sizes[i]);
        }
        i += 1;
    }
    out
}

const fn first_above(sizes: &[usize], limit: usize) -> usize {
    let mut i = 0;
    while i < sizes.len() && sizes[i] <= limit {
        i += 1;
    }
    i
}

const fn lookup(sizes: &[usize]) -> [u8; LOOKUP_LEN] {
    let mut out = [0u8; LOOKUP_LEN];
    let mut entry = 0;
    let mut class = 0;
    while entry < LOOKUP_LEN {
        // Entry `e` stands for the sizes `4e + 1 ..= 4e + 4`: its class must hold
        // `4e + 4`.
        let size = (entry + 1) * LOOKUP_GRANULE;
        while class < sizes.len() && sizes[class] < size {
            class += 1;
        }
        // `valid` bounds the table at `MAX_CLASSES` (64) classes: fits a `u8`.
        out[entry] = class as u8;
        entry += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type P = Plan<DefaultClasses, DEFAULT_CLASSES>;

    fn class(size: usize, align: usize) -> Option<usize> {
        P::class_of(Layout::from_size_align(size, align).unwrap())
    }

    #[test]
    #[allow(clippy::assertions_on_constants)]
    fn default_table_is_valid() {
        assert!(P::VALID);
    }

    #[test]
    fn every_size_gets_the_smallest_class_that_fits() {
        let sizes = DefaultClasses::SIZES;
        let step = if cfg!(miri) { 29 } else { 1 };
        for size in (0..=3000).step_by(step) {
            for align in [1, 2, 4, 8, 16] {
                let want = sizes
                    .iter()
                    .enumerate()
                    .position(|(c, &s)| s >= size.max(1) && P::ALIGN[c] >= align);
                assert_eq!(class(size, align), want, "size {size} align {align}");
            }
        }
    }

    #[test]
    fn over_aligned_and_huge_get_no_class() {
        assert_eq!(class(8, 32), None);
        assert_eq!(
            class(24, 16),
            Some(P::class_of(Layout::new::<[u128; 2]>()).unwrap())
        );
        assert_eq!(class(1, 4096), None);
        assert_eq!(class(2049, 1), None);
        assert_eq!(class(isize::MAX as usize / 2, 1), None);
    }

    #[test]
    fn alignments_follow_the_sizes() {
        assert_eq!(P::ALIGN[0], 8); // 8
        assert_eq!(P::ALIGN[1], 16); // 16
        assert_eq!(P::ALIGN[2], 8); // 24
        assert_eq!(P::ALIGN[26], MAX_ALIGN); // 2048, capped
        struct Odd;
        impl SizeClasses<2> for Odd {
            const SIZES: [usize; 2] = [12, 20];
        }
        // 12 and 20: 4-aligned, raised to the link's alignment.
        assert_eq!(Plan::<Odd, 2>::ALIGN, [MIN_ALIGN, MIN_ALIGN]);
    }

    #[test]
    fn the_fast_path_agrees_with_the_full_lookup() {
        struct Small;
        impl SizeClasses<3> for Small {
            const SIZES: [usize; 3] = [12, 40, 100];
        }
        struct One;
        impl SizeClasses<1> for One {
            const SIZES: [usize; 1] = [8];
        }
        assert_eq!(
            (P::FAST_MAX, P::ALL_ALIGN, P::FAST_SHIFT),
            (1024, 8, Some(6))
        );
        assert_eq!(Plan::<Small, 3>::FAST_MAX, 64);
        assert_eq!(Plan::<One, 1>::FAST_SHIFT, None);
        let step = if cfg!(miri) { 37 } else { 1 };
        for size in (0..=3000).step_by(step) {
            for align in [1, 2, 4, 8, 16, 32] {
                let layout = Layout::from_size_align(size, align).unwrap();
                if let Some(fast) = P::fast_class(layout) {
                    assert_eq!(Some(fast), P::class_of(layout), "{layout:?}");
                    assert!((1..=1024).contains(&size) && align <= 8, "{layout:?}");
                } else {
                    assert!(size == 0 || size > 1024 || align > 8, "{layout:?}");
                }
                if let Some(fast) = Plan::<Small, 3>::fast_class(layout) {
                    assert_eq!(Some(fast), Plan::<Small, 3>::class_of(layout), "{layout:?}");
                }
                assert_eq!(Plan::<One, 1>::fast_class(layout), None);
            }
        }
    }

    #[test]
    fn bad_tables_are_rejected() {
        assert!(!valid(&[]));
        assert!(!valid(&[8, 8]));
        assert!(!valid(&[16, 8]));
        assert!(!valid(&[6]));
        assert!(!valid(&[0, 8]));
        assert!(valid(&[4, 8, 4096]));
    }
}
