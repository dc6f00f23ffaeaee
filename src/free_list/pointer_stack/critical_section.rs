//! The pointer stack's pop and push for targets that reach neither lock-free backend
//! (thumbv6m, riscv32imc, riscv32imac; the crate docs' target table says which and why):
//! each runs inside [`critical_section::with`].
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

use core::mem::MaybeUninit;
use core::ptr::NonNull;

use super::{FreeList, Link};
use crate::sync::Ordering;

/// Takes the top block off the list.
pub(super) fn pop(list: &FreeList) -> Option<NonNull<Link>> {
    critical_section::with(|_| {
        let top = NonNull::new(list.head.load(Ordering::Relaxed))?;
        // SAFETY: every non-null value of `head` is the header of a free block of
        // this pool, and nothing else touches it inside the critical section.
        let next = unsafe { top.as_ref() }.next.load(Ordering::Relaxed);
        list.head.store(next, Ordering::Relaxed);
        Some(top)
    })
}

/// Takes up to `out.len()` blocks off the top in one critical section; returns how many.
pub(super) fn pop_batch(list: &FreeList, out: &mut [MaybeUninit<NonNull<Link>>]) -> usize {
    critical_section::with(|_| {
        let mut taken = 0;
        let mut top = list.head.load(Ordering::Relaxed);
        while taken < out.len() {
            let Some(link) = NonNull::new(top) else { break };
            out[taken].write(link);
            // SAFETY: as in `pop`: a free block of this pool, untouched by anyone else
            // inside the critical section.
            top = unsafe { link.as_ref() }.next.load(Ordering::Relaxed);
            taken += 1;
        }
        list.head.store(top, Ordering::Relaxed);
        taken
    })
}

/// Puts the chain `first ..= last` (already linked through `next`) on top.
///
/// # Safety
/// The chain's blocks belong to this list, are not in it, and are the caller's.
pub(super) unsafe fn push_chain(list: &FreeList, first: NonNull<Link>, last: NonNull<Link>) {
    critical_section::with(|_| {
        // SAFETY: `last` is a header the caller owns.
        unsafe { last.as_ref() }
            .next
            .store(list.head.load(Ordering::Relaxed), Ordering::Relaxed);
        list.head.store(first.as_ptr(), Ordering::Relaxed);
    });
}

/// Returns a block to the list: a chain of one.
///
/// # Safety
/// As for `FreeList::push`.
pub(super) unsafe fn push(list: &FreeList, link: NonNull<Link>) {
    // SAFETY: `link` is a chain of one block, the caller's (the caller's promise).
    unsafe { push_chain(list, link, link) }
}
