//! The Treiber stack of plain pointers, shared by the two backends whose headers are
//! just the address of the next free block (4 bytes on 32-bit targets): `head` points
//! at the top free block, and each free block's [`Link`] at the one below it.
//!
//! Everything that does not touch `head` concurrently is here, once: the header, the
//! list, linking a run of new blocks, `adopt`, `owns`, `MAX_BLOCKS`. The backend, one
//! file in `pointer_stack/` picked by `build.rs` (cfg `blockpool_backend`), supplies
//! the three operations on `head`, as functions over a [`FreeList`] with the contracts
//! of the methods that call them:
//!
//! - `pop(list) -> Option<NonNull<Link>>`: takes the top block off;
//! - `unsafe push(list, link)`: puts one block on top;
//! - `unsafe push_chain(list, first, last)`: puts the chain `first ..= last`, already
//!   linked through `next`, on top.
//!
//! [`arm_llsc`](pointer_stack/arm_llsc.rs) does them in `ldrex`/`strex` sequences (32-bit
//! ARM with exclusives), [`critical_section`](pointer_stack/critical_section.rs) inside
//! critical sections (neither exclusives nor a 64-bit CAS). Both are private children of
//! this module, so they reach the private `head` and `next`.

use core::ptr::{self, NonNull};

use crate::sync::{AtomicPtr, Ordering};

#[cfg(blockpool_backend = "arm_llsc")]
mod arm_llsc;
#[cfg(blockpool_backend = "arm_llsc")]
use arm_llsc as backend;
#[cfg(all(blockpool_test_hooks, blockpool_backend = "arm_llsc"))]
pub use arm_llsc::hook as arm_hook;

#[cfg(blockpool_backend = "critical_section")]
mod critical_section;
#[cfg(blockpool_backend = "critical_section")]
use self::critical_section as backend;

/// The most blocks one pool can hold on these backends (no limit but memory).
pub const MAX_BLOCKS: usize = usize::MAX;

/// The free list's header in each block: the address of the next free block.
#[repr(C)]
pub struct Link {
    next: AtomicPtr<Link>,
}

impl Link {
    pub const fn new() -> Self {
        Self {
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

/// A stack of free blocks; the backend makes its pop and push safe against each other
/// and against interrupts.
pub struct FreeList {
    head: AtomicPtr<Link>,
}

impl FreeList {
    /// An empty list: all zeros, so a `static` pool lands in `.bss`. The blocks'
    /// stride is not stored; the methods that need it take it.
    pub const fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Takes the top block off the list; the stride is for the tagged-index backend's
    /// address arithmetic, which these backends do not need.
    #[inline(always)]
    pub fn pop_strided(&self, _stride: usize) -> Option<NonNull<Link>> {
        backend::pop(self)
    }

    /// Returns a block to the list.
    ///
    /// # Safety
    /// `link` is the header of a block that belongs to this list, is not in it, and is
    /// not used by anyone any more.
    #[inline(always)]
    pub unsafe fn push(&self, link: NonNull<Link>) {
        // SAFETY: the caller's promise is the backend's contract.
        unsafe { backend::push(self, link) }
    }

    /// Takes up to `out.len()` blocks off the top, writes their headers to `out[..n]`
    /// and returns `n` (0: the list was empty). In one critical section on the
    /// critical-section backend; on the LL/SC backend, one `ldrex`/`strex` pop per block
    /// (a walk inside one exclusive window is not written yet; see the caching layer's
    /// docs).
    #[inline]
    pub fn pop_batch(
        &self,
        _stride: usize,
        out: &mut [core::mem::MaybeUninit<NonNull<Link>>],
    ) -> usize {
        backend::pop_batch(self, out)
    }

    /// Returns `blocks` to the list in one exchange: links them, in order, into a chain
    /// and puts it on top with the backend's `push_chain` (one `strex`, or one critical
    /// section).
    ///
    /// # Safety
    /// As for [`push`](Self::push), for every block of `blocks`, which are distinct.
    pub unsafe fn push_batch(&self, blocks: &[NonNull<Link>]) {
        let (Some(&first), Some(&last)) = (blocks.first(), blocks.last()) else {
            return;
        };
        for pair in blocks.windows(2) {
            // SAFETY: the caller's blocks, live headers that only we use now. Relaxed:
            // `push_chain` publishes the links as it publishes its own.
            unsafe { pair[0].as_ref() }
                .next
                .store(pair[1].as_ptr(), Ordering::Relaxed);
        }
        // SAFETY: `first ..= last` are the caller's blocks, linked above, not in the list.
        unsafe { backend::push_chain(self, first, last) };
    }

    /// Adds `count` blocks, `stride` bytes apart from `first` on, to the list; returns
    /// `count`. The blocks are linked here, before the backend's `push_chain` splices
    /// the chain on in one step (on the critical-section backend, the time with
    /// interrupts off does not grow with `count`). The links are `Relaxed` stores:
    /// `push_chain` publishes them as it publishes its own.
    ///
    /// # Safety
    /// The blocks are initialised (`Link::new`), exclusively ours from now on and
    /// `'static`.
    pub unsafe fn add_run(&self, first: NonNull<Link>, count: usize, stride: usize) -> usize {
        let mut last = first;
        for i in 1..count {
            // SAFETY: block `i < count` exists (the caller's promise).
            let next = unsafe { first.byte_add(i * stride) };
            // SAFETY: initialised and exclusively ours (the caller's promise).
            unsafe { last.as_ref() }
                .next
                .store(next.as_ptr(), Ordering::Relaxed);
            last = next;
        }
        if count > 0 {
            // SAFETY: `first ..= last` are the `count` blocks, linked above, exclusively
            // ours and not in the list (the caller's promise).
            unsafe { backend::push_chain(self, first, last) };
        }
        count
    }

    /// Whether `link` is one of this list's blocks: these backends cannot tell cheaply
    /// (a pointer stack keeps no table of its blocks), so it always says `true`.
    ///
    /// # Safety
    /// None beyond the tagged-index backend's signature, kept the same.
    pub(crate) unsafe fn owns(&self, _link: NonNull<Link>, _stride: usize) -> bool {
        true
    }

    /// Makes block `i` of the fixed storage at `storage` usable by this list.
    ///
    /// # Safety
    /// Block `i` of the array at `storage`, whose blocks are `stride` bytes apart,
    /// exists and is exclusively the caller's.
    pub unsafe fn adopt(&self, storage: NonNull<Link>, i: usize, stride: usize) -> NonNull<Link> {
        // SAFETY: block `i` is inside the caller's array.
        unsafe { storage.byte_add(i * stride) }
    }
}
