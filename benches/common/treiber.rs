//! The reference limit: a plain Treiber stack of fixed-size blocks with **no ABA
//! protection** (the head is a bare pointer, compared and swapped with one 64-bit CAS).
//!
//! Its blocks are laid out like blockpool's, a link before each payload and the payload
//! written in place, except that its link is 8 bytes where blockpool's 64-bit CAS
//! backend has 16 (the block's own versioned name beside the link). Padding this link to
//! 16 bytes (a `u64` field after `next`, tried in four runs of `--filter "64 W2"`)
//! measured no difference in W2 at 64 B, so the difference between the two is what
//! blockpool's free list pays for being ABA-safe.
//!
//! It is NOT a usable pool: a pop that is overtaken between reading `next` and its CAS
//! can install a block that is in use. The benchmark workloads never allow that
//! interleaving to matter (W1/W2: one thread; W3: each thread holds at most one block, so
//! the block under the top is never taken while a pop is stalled; W4: only one thread
//! pops), which is why it can serve as the cost floor of a shared lock-free free list.
//!
//! Shared by the `blockpool-bench` binary and the criterion bench (`benches/free_list.rs`,
//! through `#[path]`), so there is one copy.

#![allow(dead_code)]

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

/// One block: the link, then the payload.
#[repr(C)]
pub struct Node<T> {
    next: AtomicPtr<Node<T>>,
    data: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Node<T> {
    /// An empty block.
    pub const fn new() -> Self {
        Self {
            next: AtomicPtr::new(ptr::null_mut()),
            data: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A Treiber stack of free blocks, without ABA protection.
pub struct Treiber<T> {
    head: AtomicPtr<Node<T>>,
}

// SAFETY: the stack holds only free (uninitialised) blocks; see the module docs for the
// (deliberately) missing ABA protection.
unsafe impl<T> Sync for Treiber<T> {}
// SAFETY: as above.
unsafe impl<T> Send for Treiber<T> {}

impl<T> Default for Treiber<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Treiber<T> {
    /// An empty stack.
    pub const fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// A stack with `blocks` blocks of leaked heap memory (a host convenience).
    pub fn with_blocks(blocks: usize) -> &'static Self {
        let stack: &'static Self = std::boxed::Box::leak(std::boxed::Box::new(Self::new()));
        let nodes: Vec<Node<T>> = (0..blocks).map(|_| Node::new()).collect();
        stack.grow(nodes.leak());
        stack
    }

    /// Adds `nodes` to the stack; returns how many.
    pub fn grow(&self, nodes: &'static mut [Node<T>]) -> usize {
        let n = nodes.len();
        for node in nodes.iter_mut().rev() {
            // SAFETY: the node is ours for 'static and not in the stack.
            unsafe { self.free(NonNull::from(node)) };
        }
        n
    }

    /// Pops a block.
    #[inline]
    pub fn alloc(&self) -> Option<NonNull<Node<T>>> {
        let mut current = self.head.load(Ordering::Acquire);
        loop {
            let node = NonNull::new(current)?;
            // SAFETY: nodes are 'static; `next` is atomic.
            let next = unsafe { node.as_ref() }.next.load(Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                current,
                next,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(node),
                Err(actual) => current = actual,
            }
        }
    }

    /// Pushes a block back.
    ///
    /// # Safety
    /// `node` belongs to this stack, is not in it, and nobody uses it any more.
    #[inline]
    pub unsafe fn free(&self, node: NonNull<Node<T>>) {
        // SAFETY: the caller's promise.
        let link = unsafe { &node.as_ref().next };
        let mut current = self.head.load(Ordering::Relaxed);
        loop {
            link.store(current, Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                current,
                node.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The payload of `node`.
    #[inline]
    pub fn data(node: NonNull<Node<T>>) -> *mut T {
        // SAFETY: `node` points to a live node; no reference is made.
        unsafe { UnsafeCell::raw_get(ptr::addr_of!((*node.as_ptr()).data)).cast() }
    }
}
