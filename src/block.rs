//! The memory layout of one block: a small header that belongs to the free list,
//! followed by the payload.
//!
//! Keeping the free-list link *outside* the payload is what makes the pool free of data
//! races in the Rust memory model: a context whose pop is about to fail may still read
//! the link of a block that another context has just been handed, while that context
//! writes its data. The link is an atomic that only the free list touches, so that read
//! races with nothing. (heapless up to 0.9.3 stored the link in the payload and had
//! exactly this mixed atomic/non-atomic race; 0.9.4, released 2026-11-18, moved it out
//! of the payload as well.)
//!
//! The header costs 4 bytes on the pointer backends (ARM, riscv32) and 16 on the 64-bit
//! CAS backend, rounded up to `T`'s alignment; it starts all zeros (`Link::new`), so an
//! array of blocks in a `static` is `.bss`.

use core::cell::UnsafeCell;
use core::mem::{self, MaybeUninit};
use core::ptr::{self, NonNull};

use crate::free_list::Link;
use crate::sync::const_fn_unless_loom;

/// One block of a pool: the free-list header and room for one `T`.
///
/// You only meet this type to give a pool typed, exactly-sized storage with
/// [`Pool::grow_exact`](crate::Pool::grow_exact):
///
/// ```
/// use blockpool::{Block, Pool};
///
/// static POOL: Pool<[u8; 64]> = Pool::new();
/// static mut MEMORY: [Block<[u8; 64]>; 8] = [const { Block::new() }; 8];
///
/// // SAFETY: this is the only reference ever made to `MEMORY`.
/// let memory = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
/// assert_eq!(POOL.grow_exact(memory), 8);
/// ```
#[repr(C)]
pub struct Block<T> {
    link: Link,
    data: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Block<T> {
    const_fn_unless_loom! {
        /// An empty block, ready to be handed to a pool. `const`, so an array of blocks
        /// can be a `static` (in `.bss`: a block starts all zeros) and needs no `Copy`.
        ///
        /// # Examples
        /// ```
        /// use blockpool::{Block, ScopedPool};
        ///
        /// let mut blocks = [const { Block::<[u8; 16]>::new() }; 4];
        /// let pool = ScopedPool::new(&mut blocks);
        /// assert_eq!(pool.capacity(), 4);
        /// ```
        pub fn new() -> Self {
            Self {
                link: Link::new(),
                data: UnsafeCell::new(MaybeUninit::uninit()),
            }
        }
    }

    /// Bytes from one block to the next in an array of blocks.
    pub(crate) const STRIDE: usize = mem::size_of::<Self>();

    /// The header of the block at `block`.
    pub(crate) fn link(block: NonNull<Self>) -> NonNull<Link> {
        // `link` is the first field of a `repr(C)` struct: same address.
        block.cast()
    }

    /// Writes a fresh header into the block at `block`, leaving its payload alone.
    ///
    /// # Safety
    /// `block` is valid for writes of a `Block<T>` and nobody else uses it.
    pub(crate) unsafe fn init_link(block: NonNull<Self>) {
        // SAFETY: the caller's promise; `addr_of_mut!` makes no reference to the
        // (possibly uninitialised) block.
        unsafe { ptr::addr_of_mut!((*block.as_ptr()).link).write(Link::new()) }
    }

    /// The block whose header is at `link`.
    pub(crate) fn from_link(link: NonNull<Link>) -> NonNull<Self> {
        link.cast()
    }

    /// A pointer to the payload of the block at `block`, valid for as long as the block.
    ///
    /// For zero-sized `T` there is no block behind `block` (it is dangling) and the
    /// payload pointer is a dangling, well-aligned one.
    pub(crate) fn data(block: NonNull<Self>) -> *mut T {
        if mem::size_of::<T>() == 0 {
            return NonNull::dangling().as_ptr();
        }
        // SAFETY: for a non-zero-sized `T`, `block` points to a live `Block<T>` (the
        // pool only makes such pointers from memory it owns), so projecting to one of its
        // fields stays in bounds. No reference to the block is created.
        unsafe { UnsafeCell::raw_get(ptr::addr_of!((*block.as_ptr()).data)).cast() }
    }
}

impl<T> Default for Block<T> {
    fn default() -> Self {
        Self::new()
    }
}
