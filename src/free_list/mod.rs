//! The free list: a stack of free blocks that any number of threads and interrupt
//! handlers may pop from and push to at once.
//!
//! The algorithm is Treiber's stack everywhere. What differs per target is how a pop
//! is protected against ABA (a popper reads the top block `A` and its successor `B`, is
//! overtaken while others pop `A`, pop `B` and push `A` back, and then installs `B`,
//! which is no longer free). `build.rs` picks one backend per target: which targets get
//! which backend, and what each guarantees, is in the crate docs' "Guarantees per
//! target" table (`src/lib.rs`), the one copy of that list:
//! [`tagged_index`](tagged_index.rs) (64-bit CAS), [`arm_llsc`](arm_llsc.rs) (32-bit ARM
//! with exclusives), [`critical_section`](critical_section.rs) (neither).
//!
//! Every backend offers the same small interface: `FreeList::{new, pop_strided,
//! push, add_run, adopt, owns}`, a per-block header `Link` with `Link::new`, and `MAX_BLOCKS`.

use core::ptr::NonNull;

#[cfg(blockpool_backend = "arm_llsc")]
mod arm_llsc;
#[cfg(blockpool_backend = "arm_llsc")]
pub use arm_llsc::*;
// The glob above does not bring `arm_llsc::hook`: the `hook` module below shadows it.
#[cfg(all(blockpool_test_hooks, blockpool_backend = "arm_llsc"))]
pub use arm_llsc::hook as arm_hook;

#[cfg(blockpool_backend = "tagged_index")]
mod tagged_index;
#[cfg(blockpool_backend = "tagged_index")]
pub use tagged_index::*;

#[cfg(blockpool_backend = "critical_section")]
mod critical_section;
#[cfg(blockpool_backend = "critical_section")]
pub use self::critical_section::*;

/// The name of the backend compiled for this target.
pub const BACKEND: &str = if cfg!(blockpool_backend = "arm_llsc") {
    "arm_llsc"
} else if cfg!(blockpool_backend = "tagged_index") {
    "tagged_index"
} else {
    "critical_section"
};

/// Links `count` blocks `stride` bytes apart into a chain with `set_next(link, next)`
/// and returns the last one (`None` for `count == 0`). Shared by the pointer backends.
///
/// # Safety
/// The `count` blocks from `first` on exist.
#[allow(dead_code)]
unsafe fn link_run(
    first: NonNull<Link>,
    count: usize,
    stride: usize,
    mut set_next: impl FnMut(NonNull<Link>, NonNull<Link>),
) -> Option<NonNull<Link>> {
    let mut last = first;
    for i in 1..count {
        // SAFETY: block `i < count` exists (the caller's promise).
        let next = unsafe { first.byte_add(i * stride) };
        set_next(last, next);
        last = next;
    }
    (count > 0).then_some(last)
}

/// A hook that runs inside the ABA window of the portable backend's pop: after it has
/// read the top block's `next` and before its compare-and-swap. Tests use it to run
/// pops and pushes in exactly that window. Compiled to nothing without the
/// `--cfg blockpool_test_hooks` build (tests only).
pub mod hook {
    #[cfg(blockpool_test_hooks)]
    use crate::sync::{AtomicPtr, Ordering};

    #[cfg(blockpool_test_hooks)]
    static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

    /// Sets (or with `None` clears) the function every pop calls inside its window. It
    /// runs in whatever thread or handler pops, and may itself use pools (a pop inside
    /// the hook calls the hook again: disarm it first if that is not wanted).
    #[cfg(blockpool_test_hooks)]
    pub fn set_pop_window_hook(hook: Option<fn()>) {
        let raw = hook.map_or(core::ptr::null_mut(), |f| f as *mut ());
        HOOK.store(raw, Ordering::SeqCst);
    }

    #[inline(always)]
    #[allow(dead_code)]
    pub(crate) fn between_read_and_cas() {
        #[cfg(blockpool_test_hooks)]
        {
            let raw = HOOK.load(Ordering::SeqCst);
            if !raw.is_null() {
                // SAFETY: only `set_pop_window_hook` stores non-null values, and those
                // are `fn()` pointers.
                let hook: fn() = unsafe { core::mem::transmute::<*mut (), fn()>(raw) };
                hook();
            }
        }
    }
}
