//! The atomics the crate uses, in one place, so that `--cfg blockpool_loom` can swap in loom's
//! model-checked versions (crossbeam's pattern).
//!
//! loom's atomics have no `const fn new`; the [`const_fn_unless_loom!`] macro makes the
//! constructors that must be `const` for `static`s non-`const` under loom only.

#[cfg(blockpool_loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

#[cfg(all(not(blockpool_loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

// Feature `portable-atomic`: the same types from `portable-atomic`, which has the
// read-modify-writes on targets without them (with its `critical-section` or
// `unsafe-assume-single-core` feature, chosen by the final binary), and is the core type
// on the others.
#[cfg(all(not(blockpool_loom), feature = "portable-atomic"))]
pub(crate) use core::sync::atomic::Ordering;
#[cfg(all(not(blockpool_loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{AtomicPtr, AtomicUsize};

#[cfg(all(not(blockpool_loom), target_has_atomic = "64"))]
#[allow(unused_imports)]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicU64};
#[cfg(blockpool_loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64};

/// `UnsafeCell` with loom's closure API (`with_mut`), so that loom can check the accesses
/// to data that an atomic hands from one context to the next (the async waker slot, the
/// cache depot's batches); the plain cell in every other build.
#[cfg(blockpool_loom)]
#[allow(unused_imports)]
pub(crate) use loom::cell::UnsafeCell;

#[cfg(not(blockpool_loom))]
#[allow(dead_code)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(blockpool_loom))]
#[allow(dead_code)]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Declares a function that is `const` in normal builds and plain under `cfg(blockpool_loom)`,
/// whose atomics cannot be created in a constant context.
macro_rules! const_fn_unless_loom {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(blockpool_loom))]
        $(#[$attr])* $vis const fn $($rest)*
        #[cfg(blockpool_loom)]
        $(#[$attr])* $vis fn $($rest)*
    };
}
pub(crate) use const_fn_unless_loom;

/// Atomically increments `counter` if it is below `limit` and returns its old value;
/// returns `None`, changing nothing, once it has reached `limit`.
pub(crate) fn increment_below(counter: &AtomicUsize, limit: usize) -> Option<usize> {
    claim_below(counter, 1, limit).map(|claimed| claimed.start)
}

/// Atomically raises `counter` by up to `wanted` without passing `limit`, and returns
/// the numbers claimed (`old .. new`, at least one); `None`, changing nothing, once it has
/// reached `limit` (or for `wanted == 0`).
///
/// Never wraps around (a plain `fetch_add` would, after `usize::MAX` failed calls on a
/// 32-bit target, and hand the same block out twice). Lock-free where `usize` has a
/// compare-and-swap; a short critical section where it has none (thumbv6m, riscv32imc).
pub(crate) fn claim_below(
    counter: &AtomicUsize,
    wanted: usize,
    limit: usize,
) -> Option<core::ops::Range<usize>> {
    let raised = |n: usize| (n < limit && wanted > 0).then(|| n + wanted.min(limit - n));
    #[cfg(blockpool_rmw)]
    {
        // Relaxed is enough: the counter only hands out distinct numbers. Whatever the
        // caller does with the blocks they name is ordered by the free list's own
        // acquire/release operations when the blocks are later freed and reallocated.
        let old = counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, raised)
            .ok()?;
        raised(old).map(|new| old..new)
    }
    #[cfg(not(blockpool_rmw))]
    {
        critical_section::with(|_| {
            let old = counter.load(Ordering::Relaxed);
            let new = raised(old)?;
            counter.store(new, Ordering::Relaxed);
            Some(old..new)
        })
    }
}
