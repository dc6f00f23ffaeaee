//! `allocator_api2::alloc::Allocator` for `&Heap` (feature `allocator-api2`): a
//! collection can draw from one heap instance (see the module docs for why this trait).

use allocator_api2::alloc::{AllocError, Allocator};
use core::alloc::Layout;
use core::ptr::NonNull;

use super::{Heap, SizeClasses};

// SAFETY:
// - a returned block is valid for its class's size (at least the layout's, the slice
//   length we report) and aligned to the layout, until it is deallocated; the heap is
//   `'static`: it never moves and is never dropped;
// - copies of a `&Heap` are the same heap: a block from one may be freed through
//   another;
// - `deallocate`'s layout "fits" the block: its size lies between the size asked for
//   and the slice length we reported, and every such size has the same class (the
//   class is the smallest that holds the size with the alignment, and the block's
//   class holds them all), so `free` finds the block's class;
// - `grow`/`shrink` are the trait's defaults (allocate, copy, deallocate): sound with
//   the above. A size within the block's class never reaches them through a `Vec`,
//   which already sees the whole class size as its capacity.
unsafe impl<const ARENA: usize, C: SizeClasses<N>, const N: usize> Allocator
    for &'static Heap<ARENA, C, N>
{
    /// # Examples
    /// ```
    /// use allocator_api2::vec::Vec;
    /// use blockpool::Heap;
    ///
    /// static HEAP: Heap<4096> = Heap::new();
    /// let mut v = Vec::new_in(&HEAP);
    /// v.extend_from_slice(&[1u32, 2, 3]);
    /// assert_eq!(v.iter().sum::<u32>(), 6);
    /// ```
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let size = self.usable_size(layout).ok_or(AllocError)?;
        let block = self.try_alloc(layout).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(block, size))
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: `Allocator::deallocate`'s contract: `ptr` is a block of this heap
        // and `layout` fits it, so it has the block's class (see above).
        unsafe { self.free(ptr, layout) }
    }
}
