//! [`ScopedPool`]: a pool over a borrowed buffer (a local array, a test's stack), whose
//! boxes borrow the pool; no `static`, no `unsafe`.

use core::marker::PhantomData;

use crate::boxed::{Box, Init, Uninit};
use crate::pool::Pool;
use crate::Block;

/// A pool over blocks it borrows for `'buf`, e.g. an array on the stack of `main` or of
/// a test. Its boxes borrow the pool, so the borrow checker sees to it that no box
/// outlives the pool and that nobody touches the buffer while the pool exists:
///
/// ```
/// use blockpool::{Block, ScopedPool};
///
/// let mut blocks = [const { Block::<[u8; 64]>::new() }; 4];
/// let pool = ScopedPool::new(&mut blocks);
///
/// let a = pool.alloc_value([1; 64]).unwrap();
/// let b = pool.alloc_value([2; 64]).unwrap();
/// assert_eq!(a[0] + b[0], 3);
/// drop((a, b));
///
/// // Threads can share it without any `static`:
/// std::thread::scope(|s| {
///     for i in 0..4u8 {
///         let pool = &pool;
///         s.spawn(move || assert_eq!(pool.alloc_value([i; 64]).unwrap()[63], i));
///     }
/// });
/// drop(pool);
/// blocks[0] = Block::new(); // the buffer is ours again
/// ```
///
/// A box cannot outlive its pool:
///
/// ```compile_fail,E0597
/// use blockpool::{Block, ScopedPool};
///
/// let mut blocks = [const { Block::<u32>::new() }; 4];
/// let escaped = {
///     let pool = ScopedPool::new(&mut blocks);
///     pool.alloc_value(1).unwrap()
/// }; // error[E0597]: `pool` does not live long enough
/// assert_eq!(*escaped, 1);
/// ```
///
/// and the buffer cannot be used while the pool (or a box of it) lives:
///
/// ```compile_fail,E0506
/// use blockpool::{Block, ScopedPool};
///
/// let mut blocks = [const { Block::<u32>::new() }; 4];
/// let pool = ScopedPool::new(&mut blocks);
/// let value = pool.alloc_value(1).unwrap();
/// blocks[0] = Block::new(); // error[E0506]: cannot assign to `blocks[_]` because it is borrowed
/// drop(value);
/// ```
///
/// nor can the pool outlive its buffer:
///
/// ```compile_fail,E0597
/// use blockpool::{Block, ScopedPool};
///
/// let pool = {
///     let mut blocks = [const { Block::<u32>::new() }; 4];
///     ScopedPool::new(&mut blocks)
/// }; // error[E0597]: `blocks` does not live long enough
/// drop(pool.alloc());
/// ```
///
/// Underneath it is a [`Pool`]: the same free list, the same guarantees per target,
/// and it is `Send + Sync` for every `T` for the same reason.
pub struct ScopedPool<'buf, T> {
    pool: Pool<T>,
    capacity: usize,
    /// The exclusive borrow of the buffer, for `'buf` (`[u8]`, not `[Block<T>]`: the pool
    /// never holds a live `T`, so its `Send`/`Sync` must not depend on `T`'s).
    _buffer: PhantomData<&'buf mut [u8]>,
}

impl<'buf, T> ScopedPool<'buf, T> {
    /// A pool of the given blocks. Blocks that were used before (by an earlier pool) are
    /// fine: their headers are rewritten. At most [`Pool::MAX_BLOCKS`] of them are used
    /// (see [`capacity`](Self::capacity)).
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Block, ScopedPool};
    ///
    /// let mut blocks = [const { Block::<u64>::new() }; 2];
    /// {
    ///     let pool = ScopedPool::new(&mut blocks);
    ///     let _a = pool.alloc_value(1).unwrap();
    /// } // the pool ends here; its blocks may hold anything …
    /// let pool = ScopedPool::new(&mut blocks); // … and can make another one
    /// assert_eq!(pool.capacity(), 2);
    /// ```
    pub fn new(blocks: &'buf mut [Block<T>]) -> Self {
        let pool = Pool::new();
        // SAFETY: `blocks` is borrowed exclusively for `'buf`, which outlives `self`
        // (`_buffer` holds that borrow), and only the pool uses it from now on; their
        // headers are rewritten (an earlier pool may have used them).
        let capacity = unsafe { pool.add_blocks(blocks, true) };
        Self {
            pool,
            capacity,
            _buffer: PhantomData,
        }
    }

    /// How many blocks the pool has: the buffer's length, up to
    /// [`Pool::MAX_BLOCKS`] (unlimited, `usize::MAX`, for a zero-sized `T`).
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Block, ScopedPool};
    ///
    /// let mut blocks = [const { Block::<[u8; 32]>::new() }; 5];
    /// let pool = ScopedPool::new(&mut blocks);
    /// assert_eq!(pool.capacity(), 5);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    stats_methods! {
        |this| this.pool, None;

        /// A snapshot of the pool's statistics (feature `stats`); see [`Stats`](crate::Stats).
        ///
        /// # Examples
        /// ```
        /// use blockpool::{Block, ScopedPool};
        ///
        /// let mut blocks = [const { Block::<u32>::new() }; 3];
        /// let pool = ScopedPool::new(&mut blocks);
        /// let a = pool.alloc_value(1).unwrap();
        /// let stats = pool.stats();
        /// assert_eq!((stats.capacity, stats.in_use, stats.high_water), (3, 1, 1));
        /// # drop(a);
        /// ```
        fn stats;

        /// Sets the high-water mark to the number of blocks in use now (feature `stats`).
        ///
        /// # Examples
        /// ```
        /// use blockpool::{Block, ScopedPool};
        ///
        /// let mut blocks = [const { Block::<u32>::new() }; 3];
        /// let pool = ScopedPool::new(&mut blocks);
        /// let a = pool.alloc_value(1).unwrap();
        /// drop(pool.alloc_value(2).unwrap());
        /// assert_eq!(pool.stats().high_water, 2);
        /// pool.reset_high_water();
        /// assert_eq!(pool.stats().high_water, 1); // `a` is still in use
        /// # drop(a);
        /// ```
        fn reset_high_water;
    }

    /// Takes a free block; `None` when all are in use.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Block, ScopedPool};
    ///
    /// let mut blocks = [const { Block::<u32>::new() }; 1];
    /// let pool = ScopedPool::new(&mut blocks);
    /// let block = pool.alloc().unwrap(); // `Box<&ScopedPool<u32>, Uninit>`
    /// assert!(pool.alloc().is_none()); // all in use
    /// drop(block.init(3)); // back to the pool
    /// assert!(pool.alloc().is_some());
    /// ```
    pub fn alloc(&self) -> Option<Box<&Self, Uninit>> {
        Box::alloc_in(self)
    }

    async_methods! {
        /// Waits for a free block (feature `async`); see
        /// [`Pool::alloc_async`](crate::Pool::alloc_async).
        ///
        /// # Examples
        /// ```
        /// use blockpool::{Block, ScopedPool};
        ///
        /// let mut blocks = [const { Block::<[u8; 16]>::new() }; 1];
        /// let pool = ScopedPool::new(&mut blocks);
        /// std::thread::scope(|s| {
        ///     let held = pool.alloc().unwrap();
        ///     s.spawn(move || drop(held)); // frees the only block
        ///     let block = futures_executor::block_on(pool.alloc_async()); // waits for it
        ///     assert_eq!(block.init([1; 16])[15], 1);
        /// });
        /// ```
        fn alloc_async;

        /// Waits for a free block and moves `value` into it (feature `async`); see
        /// [`Pool::alloc_value_async`](crate::Pool::alloc_value_async).
        ///
        /// # Examples
        /// ```
        /// use blockpool::{Block, ScopedPool};
        ///
        /// let mut blocks = [const { Block::<u32>::new() }; 1];
        /// let pool = ScopedPool::new(&mut blocks);
        /// std::thread::scope(|s| {
        ///     let held = pool.alloc_value(1).unwrap();
        ///     s.spawn(move || drop(held));
        ///     let block = futures_executor::block_on(pool.alloc_value_async(2));
        ///     assert_eq!(*block, 2);
        /// });
        /// ```
        fn alloc_value_async;
    }

    /// Takes a free block and moves `value` into it; gives `value` back when all are in
    /// use.
    ///
    /// # Errors
    /// `Err(value)` when all blocks are in use: the value is not dropped.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Block, ScopedPool};
    ///
    /// let mut blocks = [const { Block::<String>::new() }; 1];
    /// let pool = ScopedPool::new(&mut blocks);
    /// let first = pool.alloc_value(String::from("first")).unwrap();
    /// let second = pool.alloc_value(String::from("second"));
    /// assert_eq!(second.unwrap_err(), "second"); // all in use: the value comes back
    /// assert_eq!(*first, "first");
    /// ```
    pub fn alloc_value(&self, value: T) -> Result<Box<&Self, Init>, T> {
        Box::alloc_value_in(self, value)
    }
}

// SAFETY: forwarded to the inner `Pool`, which upholds the contract; the blocks stay
// valid for as long as `self` is borrowed (they are borrowed for `'buf`, longer).
crate::__forward_pool_handle! {
    // SAFETY: a `ScopedPool`'s blocks all come from its own inner `Pool`.
    promise: unsafe { crate::__private::ForwardingPromise::new() },
    impl[T] for &ScopedPool<'_, T>, Data = T, to |this| &this.pool
}
