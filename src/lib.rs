//! Heap-less, interrupt-safe, lock-free pools of fixed-size memory blocks.
//!
//! `blockpool` hands out blocks from `static` memory to thread mode and interrupt
//! handlers alike (or, on a host, to threads and signal handlers), with no heap and no
//! locks on targets that have atomic read-modify-write instructions.
//!
//! ```
//! use blockpool::StaticPool;
//!
//! // A pool and its 8 blocks, in one `static`: no `static mut`, no `unsafe`.
//! static BUFFERS: StaticPool<[u8; 512], 8> = StaticPool::new();
//!
//! let mut buffer = BUFFERS.alloc().expect("pool exhausted").init([0; 512]);
//! buffer[..5].copy_from_slice(b"hello");
//! assert_eq!(&buffer[..5], b"hello");
//! drop(buffer); // back to the pool
//! ```
//!
//! # Pool kinds
//! - [`StaticPool<T, N>`]: the pool and its `N` blocks in one `static`; no `unsafe`.
//! - [`Pool<T>`]: an instance pool that [`grow`](Pool::grow)s from `&'static mut [u8]`
//!   you give it (or [`grow_exact`](Pool::grow_exact)s from an array of [`Block<T>`]).
//! - [`pool!`]: a singleton type over either kind; its [`Box`] is one pointer wide.
//! - [`ScopedPool<'buf, T>`](ScopedPool): a pool over a borrowed, non-`'static` buffer
//!   (a local array); its boxes borrow it, so tests and host code need no `static`.
//! - [`ArcPool<T, N>`](ArcPool) and [`arc_pool!`]: reference-counted [`Arc`]s with
//!   [`Weak`]s; a singleton's `Arc` is one pointer wide.
//! - [`ObjectPool<T, N>`](ObjectPool): values that stay initialised between uses;
//!   [`request`](ObjectPool::request) lends an [`Object`], which goes back without
//!   dropping its value.
//!
//! All hand out [`Box`]es, which start [`Uninit`] and become [`Init`] with
//! [`Box::init`] (or in place, with [`Box::as_uninit_mut`] and [`Box::assume_init`]).
//! A box returns its block to the pool when dropped. Zero-sized types need no memory:
//! their pools never run out.
//!
//! # Guarantees per target
//! The free list is a Treiber stack everywhere; how a pop is protected against ABA is
//! chosen per target at compile time (`src/free_list/`):
//!
//! | target class | mechanism | lock-free | interrupt/signal-safe | bounded time |
//! |---|---|---|---|---|
//! | 64-bit CAS: x86_64, aarch64, riscv64, i686, … | one 64-bit word: 24-bit block index + 40-bit tag | yes | yes | no (a CAS may retry while others succeed) |
//! | ARMv7-M, ARMv7E-M, ARMv8-M mainline, ARMv7-A/R (thumbv7*, thumbv8m.main*, armv7*) | `ldrex`/`strex` in `asm!`, `next` read inside the exclusive window, `clrex` on empty, `dmb` | yes | yes | no (a `strex` may retry after an interrupt) |
//! | no CAS: thumbv6m, riscv32imc (and any target without 64-bit CAS or the ARM backend, e.g. riscv32imac, thumbv8m.base) | [`critical_section`] around each pop/push | **no** | yes, with a single-core critical-section implementation (interrupts masked); a lock-based one (multi-core, `std`) is thread-safe only | yes, O(1) with interrupts off |
//!
//! On the 64-bit CAS backend a pool holds at most [`Pool::MAX_BLOCKS`] (2^24 - 1)
//! blocks, anywhere in the address space; the tag never resets and would need 2^40
//! successful operations during one stalled pop to repeat. On the others the number of
//! blocks is unlimited. No backend ever falls back to a lock behind your back, and no
//! backend needs nightly Rust or a 128-bit CAS.
//!
//! A target on the critical-section backend needs an implementation of
//! [`critical_section`] linked in, e.g. `cortex-m`'s `critical-section-single-core`
//! feature on thumbv6m, or `riscv`'s `critical-section-single-hart`.
//!
//! # Memory layout
//! Each block is a [`Block<T>`]: a header for the free-list link (a pointer, or 8 bytes
//! on the 64-bit CAS backend) followed by the payload. The link is outside the payload
//! so that a context about to fail its pop can read it while the block's new owner
//! writes its data, without a data race (see `src/block.rs`).
//!
//! # `Send` and `Sync`
//! Pools are `Send + Sync` for every `T`: a pool never holds a live `T`, only
//! uninitialised blocks. A [`Box`] is `Send`/`Sync` exactly when `T` is, like
//! `std::boxed::Box`.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod asan;
mod block;
mod boxed;
mod counter;
mod free_list;
mod pool;
mod stats;
mod sync;
mod wait;

pub use block::Block;
pub use boxed::{Box, Init, PoolHandle, State, Uninit};
pub use pool::{
    Arc, ArcBlock, ArcInner, ArcPool, Object, ObjectPool, Pool, ScopedPool, StaticPool, Weak,
};
#[cfg(feature = "stats")]
pub use stats::Stats;
#[cfg(feature = "async")]
pub use wait::AllocFuture;

/// Expands to its input with the `async` feature, to nothing without (for `pool!`,
/// whose expansion is compiled in the user's crate, where `cfg(feature)` would name the
/// user's features).
#[cfg(feature = "async")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_async {
    ($($item:tt)*) => { $($item)* };
}
#[cfg(not(feature = "async"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_async {
    ($($item:tt)*) => {};
}

/// The free-list backend compiled for this target: `"tagged_index"`, `"arm_llsc"` or
/// `"critical_section"` (see the table above).
pub const BACKEND: &str = free_list::BACKEND;

/// Testing aids, not part of the stable API: enabled by the `test-hooks` feature.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod testing {
    #[cfg(blockpool_backend = "arm_llsc")]
    pub use crate::free_list::arm_hook as arm;
    pub use crate::free_list::hook::set_pop_window_hook;
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
