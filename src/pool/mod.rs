//! The pool kinds. All of them hand out the same [`Box`](crate::Box) and share the
//! free list of `crate::free_list`; they differ only in where their memory comes from:
//!
//! - [`Pool`]: an instance pool that grows from `&'static mut` memory you give it;
//! - [`StaticPool`]: a pool and its `N` blocks in one `static`, without `unsafe`;
//! - [`ArcPool`] and [`arc_pool!`](crate::arc_pool!): reference-counted [`Arc`]s with
//!   [`Weak`]s, over a `StaticPool` or `Pool` of [`ArcInner`];
//! - [`ObjectPool`]: a pool of values that stay initialised between uses;
//! - [`ScopedPool`]: a pool over a borrowed (non-`'static`) buffer, whose boxes borrow it;
//! - [`pool!`](crate::pool!): a singleton type over either, whose boxes are one pointer
//!   wide.

/// Declares a pool kind's `stats()` and `reset_high_water()` (feature `stats`), each with
/// the docs written before its name: `|this| counters, capacity` names, from `this:
/// &Self`, the `Counters` that count the pool's blocks and the capacity a snapshot
/// reports (`Some` for a fixed one, `None` for the one counted as the pool grew).
///
/// `over_static_pool` instead, for a kind built on the `StaticPool` in its field `pool`:
/// `capacity()` too (the `StaticPool`'s, which the snapshots report), then `stats()` and
/// `reset_high_water()` from the `StaticPool`'s counters.
macro_rules! stats_methods {
    (
        |$this:ident| $pool:expr, $capacity:expr;
        $(#[$stats_doc:meta])*
        fn stats;
        $(#[$reset_doc:meta])*
        fn reset_high_water;
    ) => {
        $(#[$stats_doc])*
        #[cfg(feature = "stats")]
        pub fn stats(&self) -> crate::Stats {
            let $this = self;
            crate::stats::Counters::snapshot(
                &$pool.stats,
                $capacity,
                $pool.__waiters().waits(),
                $pool.cache.cached(),
            )
        }

        $(#[$reset_doc])*
        #[cfg(feature = "stats")]
        pub fn reset_high_water(&self) {
            let $this = self;
            crate::stats::Counters::reset_high_water(&$pool.stats);
        }
    };
    (over_static_pool; $(#[$capacity_doc:meta])* fn capacity; $($stats_and_reset:tt)*) => {
        $(#[$capacity_doc])*
        pub const fn capacity(&self) -> usize {
            self.pool.capacity()
        }

        stats_methods! {
            |this| this.pool, Some(this.capacity());
            $($stats_and_reset)*
        }
    };
}

/// `alloc_async` and `alloc_value_async` of a pool kind whose handle is `&Self` and
/// whose value type is `T`, each with the docs the invocation gives it.
macro_rules! async_methods {
    (
        $(#[$alloc_doc:meta])*
        fn alloc_async;
        $(#[$value_doc:meta])*
        fn alloc_value_async;
    ) => {
        $(#[$alloc_doc])*
        #[cfg(feature = "async")]
        pub fn alloc_async(&self) -> crate::AllocFuture<&Self> {
            crate::AllocFuture::__new(self)
        }

        $(#[$value_doc])*
        #[cfg(feature = "async")]
        pub fn alloc_value_async(
            &self,
            value: T,
        ) -> impl core::future::Future<Output = crate::Box<&Self, crate::Init>> + '_ {
            let block = self.alloc_async();
            async move { block.await.init(value) }
        }
    };
}

/// The `release` of the pools that own a free list (`Pool`, `StaticPool`): the
/// statistics first (see `stats.rs` for why before the push), the push, then the
/// first waiter's wake-up.
///
/// # Safety
/// `block` is a block of the pool that owns `list`, taken from it and unused.
unsafe fn release_block<T>(
    list: &crate::free_list::FreeList,
    stats: &crate::stats::Counters,
    waiters: &crate::wait::Waiters,
    block: core::ptr::NonNull<crate::Block<T>>,
) {
    stats.on_release();
    // SAFETY: the block belongs to this list and is unused (the caller's promise).
    unsafe { list.push(crate::Block::link(block)) };
    waiters.on_release();
}

/// `release_block` for a batch of blocks (a cache handing blocks back): the statistics,
/// one push of the whole chain, then the first waiter's wake-up (which hands blocks on to
/// the waiters after it).
///
/// # Safety
/// `blocks` are distinct blocks of the pool that owns `list`, taken from it and unused.
unsafe fn release_blocks<T>(
    list: &crate::free_list::FreeList,
    stats: &crate::stats::Counters,
    waiters: &crate::wait::Waiters,
    blocks: &[core::ptr::NonNull<crate::Block<T>>],
) {
    stats.on_release_n(blocks.len());
    // SAFETY: `NonNull<Block<T>>` and `NonNull<Link>` are both one pointer, and a
    // block's header is at its address (`Block::link` is a cast), so the slice read as
    // headers names the same blocks.
    let links = unsafe {
        core::slice::from_raw_parts(
            blocks
                .as_ptr()
                .cast::<core::ptr::NonNull<crate::free_list::Link>>(),
            blocks.len(),
        )
    };
    // SAFETY: distinct blocks of this list, unused (the caller's promise).
    unsafe { list.push_batch(links) };
    waiters.on_release();
}

/// Casts a cache's batch buffer to the free list's (see `release_blocks` for the layout).
fn as_links<T>(
    out: &mut [core::mem::MaybeUninit<core::ptr::NonNull<crate::Block<T>>>],
) -> &mut [core::mem::MaybeUninit<core::ptr::NonNull<crate::free_list::Link>>] {
    // SAFETY: the same layout (see `release_blocks`), and `MaybeUninit` has no validity
    // requirement; the borrow of `out` moves into the result.
    unsafe { core::slice::from_raw_parts_mut(out.as_mut_ptr().cast(), out.len()) }
}

mod arc;
mod instance;
mod object;
mod scoped;
mod singleton;
mod static_storage;

pub use arc::{Arc, ArcBlock, ArcInner, ArcPool, Weak};
pub use instance::Pool;
pub use object::{Object, ObjectPool};
pub use scoped::ScopedPool;
pub use static_storage::StaticPool;
