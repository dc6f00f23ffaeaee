//! Read-modify-writes of `usize` counters on every target: the atomic instructions
//! where the target has them, and a short critical section where it has only atomic
//! loads and stores (thumbv6m, riscv32imc), as `sync::increment_below` does.
//!
//! Inside a critical section nothing else can run on a single core (interrupts are
//! masked), so a load and a store there form one indivisible update; the critical
//! section's own acquire/release ordering stands in for the `order` arguments, which is
//! at least as strong as any of them.

#![allow(dead_code)]

use crate::sync::{AtomicUsize, Ordering};

// Only the async wait uses a fence (since `Arc`'s last decrement loads instead).
#[cfg(all(not(blockpool_loom), feature = "async"))]
pub(crate) use core::sync::atomic::fence;
#[cfg(all(blockpool_loom, feature = "async"))]
pub(crate) use loom::sync::atomic::fence;

/// Whether this target runs the atomic read-modify-write instructions (else: critical
/// sections).
const NATIVE: bool = cfg!(any(blockpool_loom, target_has_atomic = "ptr"));

/// Runs `f` on the counter's value and stores what it returns, as one indivisible step
/// (critical-section targets only).
#[cfg(not(any(blockpool_loom, target_has_atomic = "ptr")))]
fn with_cs<R>(counter: &AtomicUsize, f: impl FnOnce(usize) -> (usize, R)) -> R {
    critical_section::with(|_| {
        let (new, result) = f(counter.load(Ordering::Relaxed));
        counter.store(new, Ordering::Relaxed);
        result
    })
}

/// `counter.fetch_add(value, order)`, wrapping.
#[inline]
pub(crate) fn fetch_add(counter: &AtomicUsize, value: usize, order: Ordering) -> usize {
    #[cfg(any(blockpool_loom, target_has_atomic = "ptr"))]
    return counter.fetch_add(value, order);
    #[cfg(not(any(blockpool_loom, target_has_atomic = "ptr")))]
    {
        let _ = order;
        with_cs(counter, |n| (n.wrapping_add(value), n))
    }
}

/// `counter.fetch_sub(value, order)`, wrapping.
#[inline]
pub(crate) fn fetch_sub(counter: &AtomicUsize, value: usize, order: Ordering) -> usize {
    #[cfg(any(blockpool_loom, target_has_atomic = "ptr"))]
    return counter.fetch_sub(value, order);
    #[cfg(not(any(blockpool_loom, target_has_atomic = "ptr")))]
    {
        let _ = order;
        with_cs(counter, |n| (n.wrapping_sub(value), n))
    }
}

/// `counter.fetch_max(value, order)`.
#[inline]
pub(crate) fn fetch_max(counter: &AtomicUsize, value: usize, order: Ordering) -> usize {
    #[cfg(any(blockpool_loom, target_has_atomic = "ptr"))]
    return counter.fetch_max(value, order);
    #[cfg(not(any(blockpool_loom, target_has_atomic = "ptr")))]
    {
        let _ = order;
        with_cs(counter, |n| (n.max(value), n))
    }
}

/// `counter.fetch_or(value, order)`.
#[inline]
pub(crate) fn fetch_or(counter: &AtomicUsize, value: usize, order: Ordering) -> usize {
    #[cfg(any(blockpool_loom, target_has_atomic = "ptr"))]
    return counter.fetch_or(value, order);
    #[cfg(not(any(blockpool_loom, target_has_atomic = "ptr")))]
    {
        let _ = order;
        with_cs(counter, |n| (n | value, n))
    }
}

/// `counter.fetch_and(value, order)`.
#[inline]
pub(crate) fn fetch_and(counter: &AtomicUsize, value: usize, order: Ordering) -> usize {
    #[cfg(any(blockpool_loom, target_has_atomic = "ptr"))]
    return counter.fetch_and(value, order);
    #[cfg(not(any(blockpool_loom, target_has_atomic = "ptr")))]
    {
        let _ = order;
        with_cs(counter, |n| (n & value, n))
    }
}

/// `counter.swap(value, order)`.
#[inline]
pub(crate) fn swap(counter: &AtomicUsize, value: usize, order: Ordering) -> usize {
    #[cfg(any(blockpool_loom, target_has_atomic = "ptr"))]
    return counter.swap(value, order);
    #[cfg(not(any(blockpool_loom, target_has_atomic = "ptr")))]
    {
        let _ = order;
        with_cs(counter, |n| (value, n))
    }
}

/// `counter.compare_exchange(current, new, success, failure)` (never fails spuriously).
#[inline]
pub(crate) fn compare_exchange(
    counter: &AtomicUsize,
    current: usize,
    new: usize,
    success: Ordering,
    failure: Ordering,
) -> Result<usize, usize> {
    #[cfg(any(blockpool_loom, target_has_atomic = "ptr"))]
    return counter.compare_exchange(current, new, success, failure);
    #[cfg(not(any(blockpool_loom, target_has_atomic = "ptr")))]
    {
        let _ = (success, failure);
        with_cs(counter, |n| {
            if n == current {
                (new, Ok(n))
            } else {
                (n, Err(n))
            }
        })
    }
}

/// Whether the counters use atomic instructions (`true`) or critical sections.
pub(crate) const fn is_native() -> bool {
    NATIVE
}
