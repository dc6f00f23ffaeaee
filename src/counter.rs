//! Read-modify-writes of `usize` counters on every target: the atomic instructions
//! where the target has them (or `portable-atomic`'s, with that feature: `cfg
//! blockpool_rmw`, set by `build.rs`), and a short critical section where it has only
//! atomic loads and stores (thumbv6m, riscv32imc), as `sync::increment_below` does.
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
const NATIVE: bool = cfg!(blockpool_rmw);

/// Runs `f` on the counter's value and stores what it returns, as one indivisible step
/// (critical-section targets only).
#[cfg(not(blockpool_rmw))]
fn with_cs<R>(counter: &AtomicUsize, f: impl FnOnce(usize) -> (usize, R)) -> R {
    critical_section::with(|_| {
        let (new, result) = f(counter.load(Ordering::Relaxed));
        counter.store(new, Ordering::Relaxed);
        result
    })
}

/// Declares `fn $name(counter, $arg, order) -> usize`: `counter.$name($arg, order)`
/// where the target has the instruction, else the critical-section update
/// `|$n| $new` (the old value is returned, as the instructions do).
macro_rules! read_modify_write {
    ($(#[$doc:meta])* $name:ident($arg:ident), |$n:ident| $new:expr) => {
        $(#[$doc])*
        #[inline]
        pub(crate) fn $name(counter: &AtomicUsize, $arg: usize, order: Ordering) -> usize {
            #[cfg(blockpool_rmw)]
            return counter.$name($arg, order);
            #[cfg(not(blockpool_rmw))]
            {
                let _ = order;
                with_cs(counter, |$n| ($new, $n))
            }
        }
    };
}

read_modify_write!(
    /// `counter.fetch_add(value, order)`, wrapping.
    fetch_add(value), |n| n.wrapping_add(value)
);
read_modify_write!(
    /// `counter.fetch_sub(value, order)`, wrapping.
    fetch_sub(value), |n| n.wrapping_sub(value)
);
read_modify_write!(
    /// `counter.fetch_max(value, order)`.
    fetch_max(value), |n| n.max(value)
);
read_modify_write!(
    /// `counter.fetch_or(value, order)`.
    fetch_or(value), |n| n | value
);
read_modify_write!(
    /// `counter.fetch_and(value, order)`.
    fetch_and(value), |n| n & value
);
read_modify_write!(
    /// `counter.swap(value, order)`.
    swap(value), |_n| value
);

/// `counter.compare_exchange(current, new, success, failure)` (never fails spuriously).
#[inline]
pub(crate) fn compare_exchange(
    counter: &AtomicUsize,
    current: usize,
    new: usize,
    success: Ordering,
    failure: Ordering,
) -> Result<usize, usize> {
    #[cfg(blockpool_rmw)]
    return counter.compare_exchange(current, new, success, failure);
    #[cfg(not(blockpool_rmw))]
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
