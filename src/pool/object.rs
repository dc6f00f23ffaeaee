//! [`ObjectPool`]: blocks that stay initialised between uses, for values whose set-up is
//! costly (zeroed or pre-formatted buffers, descriptors, …).

use core::fmt;
use core::mem;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};

use crate::boxed::{Box, Uninit};
use crate::pool::StaticPool;
use crate::sync::const_fn_unless_loom;
use crate::Block;

/// A pool of `N` values of `T` that stay initialised: [`request`](Self::request) hands
/// out an [`Object`] holding the value its last user left behind, and dropping the
/// object puts it back *without* dropping the value.
///
/// Each block is filled once, the first time it is handed out, with a copy of the
/// initial value ([`new`](Self::new), for `T: Copy`) or the result of an init function
/// ([`with_init`](Self::with_init)). Both constructors are `const`, so the pool can be
/// a `static`:
///
/// ```
/// use blockpool::ObjectPool;
///
/// static FRAMES: ObjectPool<[u8; 256], 4> = ObjectPool::new([0xFF; 256]);
///
/// let mut frame = FRAMES.request().expect("all frames in use");
/// assert_eq!(frame[0], 0xFF); // filled on first use
/// frame[0] = 0x7E; // e.g. a header written once and kept
/// drop(frame); // back to the pool, value kept
///
/// let frame = FRAMES.request().unwrap();
/// assert_eq!(frame[0], 0x7E); // the last user's value (the pool is LIFO)
/// ```
///
/// It is a user's job to reset whatever must not leak from one user to the next.
///
/// Flash and start-up cost: the pool keeps how to fill a block (the initial value, or
/// the init function's address) inside the `static`, next to its blocks, so a `static`
/// `ObjectPool` is an initialised static (`.data`: an image of the whole pool, blocks
/// included, in flash, copied to RAM at reset) unless that is all zeros. It is the one
/// pool kind for which this is so: every other pool's storage starts all zeros
/// (`.bss`). For large blocks on a microcontroller, use a [`StaticPool`](crate::StaticPool)
/// and fill each block yourself.
///
/// The values are never dropped: handing out objects borrows the pool for `'static`
/// (see [`StaticPool`](crate::StaticPool) for why), so the pool and its values live as
/// long as the program. Each block that was ever handed out holds one value, made
/// exactly once. If an init function panics, the block it was filling is left out of
/// the pool for good.
///
/// An object borrows its pool, so it cannot outlive it:
///
/// ```compile_fail,E0597
/// use blockpool::ObjectPool;
///
/// let escaped = {
///     let pool: ObjectPool<u32, 1> = ObjectPool::new(0);
///     pool.request().unwrap()
/// }; // error[E0597]: `pool` does not live long enough
/// assert_eq!(*escaped, 0);
/// ```
///
/// `ObjectPool<T, N>` is `Sync` when `T: Send` (each object is used by one context at
/// a time, as with a mutex) and `Send` when `T: Send`.
pub struct ObjectPool<T, const N: usize> {
    pool: StaticPool<T, N>,
    initial: Initial<T>,
}

/// How a block is filled the first time it is handed out.
enum Initial<T> {
    /// A copy of this value; only built by `new`, for `T: Copy`.
    Copy(T),
    /// The result of this function.
    With(fn() -> T),
}

// SAFETY: a shared pool hands each of its values to one `Object` at a time, which may be
// in any thread (hence `T: Send`, as for `Mutex<T>`), and otherwise reads only the
// initial value, which is `Copy` and so holds no `UnsafeCell`: concurrent bitwise copies
// of it are plain reads. The inner `StaticPool` is `Sync`.
unsafe impl<T: Send, const N: usize> Sync for ObjectPool<T, N> {}

impl<T: Copy, const N: usize> ObjectPool<T, N> {
    const_fn_unless_loom! {
        /// A pool whose blocks start out as copies of `initial`, each made the first
        /// time its block is handed out. For a `T` that is not `Copy`, see
        /// [`with_init`](Self::with_init).
        ///
        /// # Examples
        /// ```
        /// use blockpool::ObjectPool;
        ///
        /// static COUNTERS: ObjectPool<u32, 2> = ObjectPool::new(100);
        ///
        /// let mut a = COUNTERS.request().unwrap();
        /// let b = COUNTERS.request().unwrap();
        /// assert_eq!((*a, *b), (100, 100)); // both filled with the initial value
        /// *a += 1;
        /// drop(a);
        /// assert_eq!(*COUNTERS.request().unwrap(), 101); // kept, not reset
        /// ```
        pub fn new(initial: T) -> Self {
            Self {
                pool: StaticPool::new(),
                initial: Initial::Copy(initial),
            }
        }
    }
}

impl<T, const N: usize> ObjectPool<T, N> {
    const_fn_unless_loom! {
        /// A pool whose blocks are filled by `init`, once each, the first time they are
        /// handed out (in whichever context requests them).
        ///
        /// # Panics
        /// A panic in `init` propagates out of the [`request`](Self::request) that
        /// called it, and the block it was filling stays out of the pool for good.
        ///
        /// # Examples
        /// ```
        /// use blockpool::ObjectPool;
        ///
        /// struct Descriptor { buffer: [u32; 64], ready: bool }
        /// fn blank() -> Descriptor { Descriptor { buffer: [0; 64], ready: true } }
        ///
        /// static DESCRIPTORS: ObjectPool<Descriptor, 8> = ObjectPool::with_init(blank);
        /// assert!(DESCRIPTORS.request().unwrap().ready);
        /// ```
        pub fn with_init(init: fn() -> T) -> Self {
            Self {
                pool: StaticPool::new(),
                initial: Initial::With(init),
            }
        }
    }

    /// Takes a value out of the pool for use; `None` when all `N` are in use. A block
    /// handed out for the first time is filled first (a copy of the initial value, or
    /// a call of the init function, in this context); dropping the [`Object`] gives it
    /// back, value and all.
    ///
    /// # Panics
    /// If the pool's init function ([`with_init`](Self::with_init)) panics; the block
    /// it was filling is then lost for good.
    ///
    /// # Examples
    /// ```
    /// use blockpool::ObjectPool;
    ///
    /// static SLOTS: ObjectPool<[u8; 8], 1> = ObjectPool::new([0; 8]);
    ///
    /// let mut slot = SLOTS.request().unwrap();
    /// assert!(SLOTS.request().is_none()); // all in use
    /// slot[0] = 1;
    /// drop(slot); // back, with its value
    /// assert_eq!(SLOTS.request().unwrap()[0], 1);
    /// ```
    pub fn request(&'static self) -> Option<Object<T, N>> {
        let mut inner = Box::alloc_in(Slots(self))?;
        if mem::size_of::<T>() == 0 {
            // No storage, so nothing was filled: make this object's value now. (It is
            // never dropped, like every value of this pool while the pool lives.)
            // SAFETY: writing a zero-sized value through a dangling, aligned pointer.
            unsafe { inner.as_mut_ptr().write(self.make()) };
        }
        Some(Object { inner })
    }

    stats_methods! {
        over_static_pool;

        /// How many values the pool has: `N` (unlimited for a zero-sized `T`).
        ///
        /// # Examples
        /// ```
        /// use blockpool::ObjectPool;
        ///
        /// static POOL: ObjectPool<u16, 6> = ObjectPool::new(0);
        /// assert_eq!(POOL.capacity(), 6);
        /// ```
        fn capacity;

        /// A snapshot of the pool's statistics (feature `stats`); see [`Stats`](crate::Stats).
        ///
        /// # Examples
        /// ```
        /// use blockpool::ObjectPool;
        ///
        /// static POOL: ObjectPool<u32, 4> = ObjectPool::new(0);
        ///
        /// let a = POOL.request().unwrap();
        /// let stats = POOL.stats();
        /// assert_eq!((stats.capacity, stats.in_use, stats.high_water), (4, 1, 1));
        /// # drop(a);
        /// ```
        fn stats;

        /// Sets the high-water mark to the number of blocks in use now (feature `stats`).
        ///
        /// # Examples
        /// ```
        /// use blockpool::ObjectPool;
        ///
        /// static POOL: ObjectPool<u32, 4> = ObjectPool::new(0);
        ///
        /// let a = POOL.request().unwrap();
        /// drop(POOL.request().unwrap());
        /// assert_eq!(POOL.stats().high_water, 2);
        /// POOL.reset_high_water();
        /// assert_eq!(POOL.stats().high_water, 1); // `a` is still in use
        /// # drop(a);
        /// ```
        fn reset_high_water;
    }

    /// A new value for a block being filled.
    fn make(&self) -> T {
        match &self.initial {
            // SAFETY: `Copy` is only built by `new`, whose `T: Copy`: a bitwise copy is
            // a copy.
            Initial::Copy(value) => unsafe { ptr::read(value) },
            Initial::With(init) => init(),
        }
    }
}

/// The handle an [`Object`]'s inner box uses: it fills never-used blocks on the way
/// out. Private, so no other box can reach these blocks (a `Box<_, Init>` would drop
/// the values when it returns them).
struct Slots<T: 'static, const N: usize>(&'static ObjectPool<T, N>);

// SAFETY: forwarded to the inner `StaticPool`, which upholds the contract; `take` takes
// its blocks from it too, and filling a fresh block writes only into the block just taken.
crate::__forward_pool_handle! {
    // SAFETY: a `Slots` always names the one `StaticPool` of its `ObjectPool`.
    promise: unsafe { crate::__private::ForwardingPromise::new() },
    impl[T, const N: usize] for Slots<T, N>, Data = T, to |this| &this.0.pool,
    fn take(&self) -> Option<NonNull<Block<T>>> {
        let (block, fresh) = self.0.pool.take_block()?;
        if fresh {
            // If `make` panics, the block stays taken: lost for good, never half-filled.
            let value = self.0.make();
            // SAFETY: the block is ours alone (just taken) and has room for a `T`.
            unsafe { Block::data(block).write(value) };
        }
        Some(block)
    }
}

/// A value on loan from an [`ObjectPool`]: derefs to `T`, and goes back to the pool,
/// value and all, when dropped.
///
/// It has no methods of its own (so none shadows one of `T`'s): use it as a `&T` or
/// `&mut T` through `Deref`/`DerefMut`, [`AsRef<T>`] or [`AsMut<T>`]; `Debug` and
/// `Display` are `T`'s.
///
/// # Examples
/// ```
/// use blockpool::{Object, ObjectPool};
///
/// static LINES: ObjectPool<[u8; 16], 2> = ObjectPool::new(*b"                ");
///
/// fn fill(line: &mut [u8; 16], text: &[u8]) {
///     line[..text.len()].copy_from_slice(text);
/// }
///
/// let mut line: Object<[u8; 16], 2> = LINES.request().unwrap();
/// fill(&mut line, b"hello"); // `&mut Object<T, N>` derefs to `&mut T`
/// assert_eq!(&line[..5], b"hello");
/// assert_eq!(line.as_ref().len(), 16); // `AsRef<T>`
/// ```
pub struct Object<T: 'static, const N: usize> {
    /// `Uninit` as far as the box knows, so that dropping it returns the block without
    /// dropping the value; the value is there all the same (see `Slots::take`).
    inner: Box<Slots<T, N>, Uninit>,
}

impl<T, const N: usize> Deref for Object<T, N> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: every block an object holds was filled (fresh ones in `Slots::take`,
        // zero-sized ones in `request`) and its value is never dropped while the pool
        // lives; shared for as long as `self` is.
        unsafe { &*self.inner.as_ptr() }
    }
}

impl<T, const N: usize> DerefMut for Object<T, N> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; exclusively ours for as long as `self` is borrowed.
        unsafe { &mut *self.inner.as_mut_ptr() }
    }
}

impl<T, const N: usize> AsRef<T> for Object<T, N> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T, const N: usize> AsMut<T> for Object<T, N> {
    fn as_mut(&mut self) -> &mut T {
        self
    }
}

impl<T: fmt::Debug, const N: usize> fmt::Debug for Object<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt(self, f)
    }
}

impl<T: fmt::Display, const N: usize> fmt::Display for Object<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt(self, f)
    }
}
