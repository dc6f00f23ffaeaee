//! Free list for targets that reach neither lock-free backend (thumbv6m, riscv32imc,
//! riscv32imac; the crate docs' target table says which and why): a linked stack whose
//! pop and push run inside [`critical_section::with`].
//!
//! **Progress: not lock-free.** With a single-core critical-section implementation
//! (interrupts masked, e.g. `cortex-m`'s `critical-section-single-core`) every operation
//! is *interrupt-safe and bounded*: a handful of instructions with interrupts off, and
//! no handler can ever find the list in the middle of an update. Nothing in this file
//! spins. With an implementation that takes a lock (multi-core chips, or the `std`
//! implementation on a host), a signal or interrupt handler that uses the pool while the
//! context it interrupted holds that lock deadlocks: there the pool is only thread-safe.
//! The crate docs' target table says the same.
//!
//! The critical section's acquire/release semantics order the link updates, so the
//! atomics inside it are only there to be `Sync` and are all `Relaxed`.

use core::ptr::{self, NonNull};

use crate::sync::{AtomicPtr, Ordering};

/// The most blocks one pool can hold on this backend (no limit but memory).
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

/// A stack of free blocks guarded by critical sections.
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

    /// [`pop`](Self::pop); the stride is for the tagged-index backend's address
    /// arithmetic, which this backend does not need.
    #[inline(always)]
    pub fn pop_strided(&self, _stride: usize) -> Option<NonNull<Link>> {
        self.pop()
    }

    /// Takes the top block off the list.
    pub fn pop(&self) -> Option<NonNull<Link>> {
        critical_section::with(|_| {
            let top = NonNull::new(self.head.load(Ordering::Relaxed))?;
            // SAFETY: every non-null value of `head` is the header of a free block of
            // this pool, and nothing else touches it inside the critical section.
            let next = unsafe { top.as_ref() }.next.load(Ordering::Relaxed);
            self.head.store(next, Ordering::Relaxed);
            Some(top)
        })
    }

    fn push_chain(&self, first: NonNull<Link>, last: NonNull<Link>) {
        critical_section::with(|_| {
            // SAFETY: `last` is a header the caller owns.
            unsafe { last.as_ref() }
                .next
                .store(self.head.load(Ordering::Relaxed), Ordering::Relaxed);
            self.head.store(first.as_ptr(), Ordering::Relaxed);
        });
    }

    /// Returns a block to the list.
    ///
    /// # Safety
    /// `link` is the header of a block that belongs to this list, is not in it, and is
    /// not used by anyone any more.
    pub unsafe fn push(&self, link: NonNull<Link>) {
        self.push_chain(link, link);
    }

    /// Adds `count` blocks, `stride` bytes apart from `first` on, to the list; returns
    /// `count`. The blocks are linked outside the critical section; only the splice is
    /// inside it, so the time with interrupts off does not grow with `count`.
    ///
    /// # Safety
    /// The blocks are initialised (`Link::new`), exclusively ours from now on and
    /// `'static`.
    pub unsafe fn add_run(&self, first: NonNull<Link>, count: usize, stride: usize) -> usize {
        let set_next = |link: NonNull<Link>, next: NonNull<Link>| {
            // SAFETY: initialised and exclusively ours (the caller's promise).
            unsafe { link.as_ref() }
                .next
                .store(next.as_ptr(), Ordering::Relaxed);
        };
        // SAFETY: the caller's promise covers the `count` blocks.
        let last = unsafe { super::link_run(first, count, stride, set_next) };
        if let Some(last) = last {
            self.push_chain(first, last);
        }
        count
    }

    /// Whether `link` is one of this list's blocks: this backend cannot tell cheaply
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
