//! The free list: a stack of free blocks that any number of threads and interrupt
//! handlers may pop from and push to at once.
//!
//! The algorithm is Treiber's stack everywhere. What differs per target is how a pop
//! is protected against ABA (a popper reads the top block `A` and its successor `B`, is
//! overtaken while others pop `A`, pop `B` and push `A` back, and then installs `B`,
//! which is no longer free). `build.rs` picks one backend per target: which targets get
//! which backend, and what each guarantees, is in the crate docs' "Guarantees per
//! target" table (`src/lib.rs`), the one copy of that list. The files:
//!
//! ```text
//! free_list/
//!   mod.rs                   picks the backend's module; `BACKEND`; the portable pop's hook
//!   tagged_index.rs          backend `tagged_index` (64-bit CAS): the head names the
//!                            top block by index and version
//!   pointer_stack.rs         the stack of plain pointers (`Link`, `FreeList`) that the
//!   pointer_stack/           two other backends share, each supplying its pop and push:
//!     arm_llsc.rs            backend `arm_llsc` (32-bit ARM with exclusives):
//!                            `ldrex`/`strex` sequences in `asm!`
//!     critical_section.rs    backend `critical_section` (neither): critical sections
//! ```
//!
//! Every backend offers the same small interface: `FreeList::{new, pop_strided,
//! push, pop_batch, push_batch, add_run, adopt, owns}` (the batch pair for the caches
//! of `crate::cache`), a per-block header `Link` with `Link::new`, and `MAX_BLOCKS`.

#[cfg(blockpool_backend = "tagged_index")]
mod tagged_index;
#[cfg(blockpool_backend = "tagged_index")]
pub use tagged_index::*;

#[cfg(any(blockpool_backend = "arm_llsc", blockpool_backend = "critical_section"))]
mod pointer_stack;
#[cfg(all(blockpool_test_hooks, blockpool_backend = "arm_llsc"))]
pub use pointer_stack::arm_hook;
#[cfg(any(blockpool_backend = "arm_llsc", blockpool_backend = "critical_section"))]
pub use pointer_stack::{FreeList, Link, MAX_BLOCKS};

/// The name of the backend compiled for this target.
pub const BACKEND: &str = if cfg!(blockpool_backend = "arm_llsc") {
    "arm_llsc"
} else if cfg!(blockpool_backend = "tagged_index") {
    "tagged_index"
} else {
    "critical_section"
};

/// A hook that runs inside the ABA window of the portable backend's pop: after it has
/// read the top block's `next` and before its compare-and-swap. Tests use it to run
/// pops and pushes in exactly that window. Compiled to nothing without the
/// `--cfg blockpool_test_hooks` build (tests only).
pub mod hook {
    #[cfg(blockpool_test_hooks)]
    use core::sync::atomic::{AtomicPtr, Ordering};

    /// A test hook: a function that the code under test calls at one point (a window),
    /// set and cleared by the tests. Empty, and its `call` nothing, without `--cfg
    /// blockpool_test_hooks`. (core's atomic, not loom's: test machinery, not modelled.)
    pub(crate) struct Hook {
        #[cfg(blockpool_test_hooks)]
        function: AtomicPtr<()>,
    }

    impl Hook {
        /// No function.
        pub(crate) const fn new() -> Self {
            Self {
                #[cfg(blockpool_test_hooks)]
                function: AtomicPtr::new(core::ptr::null_mut()),
            }
        }

        /// Sets (or with `None` clears) the function.
        #[cfg(blockpool_test_hooks)]
        pub(crate) fn set(&self, hook: Option<fn()>) {
            let raw = hook.map_or(core::ptr::null_mut(), |f| f as *mut ());
            self.function.store(raw, Ordering::SeqCst);
        }

        /// Calls the function, if one is set. It runs in whatever thread or handler got
        /// here, and may itself use pools.
        #[inline(always)]
        pub(crate) fn call(&self) {
            #[cfg(blockpool_test_hooks)]
            {
                let raw = self.function.load(Ordering::SeqCst);
                if !raw.is_null() {
                    // SAFETY: only `set` stores non-null values, and those are `fn()`
                    // pointers.
                    let hook: fn() = unsafe { core::mem::transmute::<*mut (), fn()>(raw) };
                    hook();
                }
            }
        }
    }

    static POP_WINDOW: Hook = Hook::new();

    /// Sets (or with `None` clears) the function every pop calls inside its window. It
    /// runs in whatever thread or handler pops, and may itself use pools (a pop inside
    /// the hook calls the hook again: disarm it first if that is not wanted).
    #[cfg(blockpool_test_hooks)]
    pub fn set_pop_window_hook(hook: Option<fn()>) {
        POP_WINDOW.set(hook);
    }

    #[inline(always)]
    #[allow(dead_code)]
    pub(crate) fn between_read_and_cas() {
        POP_WINDOW.call();
    }
}
