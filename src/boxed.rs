//! [`Box`]: the owner of one block, which goes back to its pool when dropped.
//!
//! A box starts [`Uninit`] (the block's memory, nothing in it yet) and becomes
//! [`Init`] by [`Box::init`] or, for large payloads written in place, by
//! [`Box::as_uninit_mut`] followed by [`Box::assume_init`]. The typestate is heapless
//! 0.7's; unlike 0.7's instance pools, dropping a box never leaks its block.

use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;
use core::mem::{self, ManuallyDrop, MaybeUninit};
use core::ops::{Deref, DerefMut};
use core::pin::Pin;
use core::ptr::{self, NonNull};

use crate::Block;

mod sealed {
    pub trait Sealed {}
}

/// Whether a [`Box`]'s payload is initialised: [`Uninit`] or [`Init`].
pub trait State: sealed::Sealed {
    #[doc(hidden)]
    const INIT: bool;
}

/// Typestate of a [`Box`] whose block holds no value yet.
pub enum Uninit {}
/// Typestate of a [`Box`] whose block holds a value (the default).
pub enum Init {}

impl sealed::Sealed for Uninit {}
impl sealed::Sealed for Init {}
impl State for Uninit {
    const INIT: bool = false;
}
impl State for Init {
    const INIT: bool = true;
}

/// A handle to a pool of `Data` blocks: what a [`Box`] comes from and returns to, and
/// the bound to write code generic over "a pool of `T`".
///
/// The crate implements it for `&Pool<T>`, `&'static StaticPool<T, N>`,
/// `&ScopedPool<'_, T>` and the zero-sized types that [`pool!`](crate::pool!) declares
/// (and [`arc_pool!`](crate::arc_pool!), whose blocks hold an
/// [`ArcInner<T>`](crate::ArcInner)); every one of them is `Copy`.
///
/// # Generic code
/// Bound on `P: PoolHandle<Data = T>` (with `Copy` to allocate more than once), take
/// blocks with [`Box::alloc_in`] or [`Box::alloc_value_in`], and free them by dropping
/// the boxes (a `Box<P>` always goes back to the pool it came from). This is the one way
/// to be generic over the pool kinds, as heapless 0.7's `singleton::Pool` and heapless
/// 0.9's `BoxPool` traits were; using the trait is safe and part of the API.
///
/// ```
/// use blockpool::{pool, Box, PoolHandle, StaticPool};
///
/// /// Two blocks of `pool`, holding `a` and `b`, or none at all.
/// fn pair<T, P>(pool: P, a: T, b: T) -> Option<(Box<P>, Box<P>)>
/// where
///     P: PoolHandle<Data = T> + Copy,
/// {
///     let first = Box::alloc_value_in(pool, a).ok()?;
///     let second = Box::alloc_value_in(pool, b).ok()?; // on `None`, `first` goes back
///     Some((first, second))
/// }
///
/// static SAMPLES: StaticPool<u32, 3> = StaticPool::new();
/// pool!(Frames: [u8; 4], blocks = 2);
///
/// // A `StaticPool`, through `&'static StaticPool<u32, 3>` …
/// let (x, y) = pair(&SAMPLES, 1, 2).unwrap();
/// assert_eq!(*x + *y, 3);
/// assert!(pair(&SAMPLES, 3, 4).is_none()); // one block left: none taken
/// assert!(SAMPLES.alloc().is_some());
///
/// // … and a `pool!` singleton, through its type.
/// let (f, g): (Box<Frames>, Box<Frames>) = pair(Frames, [0; 4], [1; 4]).unwrap();
/// assert_eq!(f[0] + g[3], 1);
/// ```
///
/// The trait's methods are hidden: they are the pools' side of the contract below, not
/// part of the API.
///
/// # Safety
/// Only *implementing* the trait is `unsafe`: `take` hands out blocks that nobody else
/// uses until they come back through `release`, `release` makes a block available to
/// `take` again, and `waiters` and `owns` answer for that same pool. Implement it only
/// through [`pool!`](crate::pool!); the hidden methods may change in any release.
pub unsafe trait PoolHandle {
    /// The type each block holds.
    type Data;

    #[doc(hidden)]
    fn take(&self) -> Option<NonNull<Block<Self::Data>>>;

    /// `take` for a waiting `alloc_async` future: an empty pool is not counted as an
    /// allocation failure (the future waits; `Stats::waits` counts that).
    #[doc(hidden)]
    fn take_waiting(&self) -> Option<NonNull<Block<Self::Data>>> {
        self.take()
    }

    #[doc(hidden)]
    /// # Safety
    /// `block` came from `take` of this pool and nobody uses it any more.
    unsafe fn release(&self, block: NonNull<Block<Self::Data>>);

    /// The waiters of this pool, whom `release` wakes (empty without the `async`
    /// feature). The future of `alloc_async` finds them here, so it cannot be given
    /// another pool's set.
    #[doc(hidden)]
    fn waiters(&self) -> &crate::wait::Waiters;

    /// The pool's side of its caches (`crate::cache`): the flush requests caches watch
    /// and the count of cached blocks. Each pool has exactly one, so its address also
    /// tells whether two handles name the same pool.
    #[doc(hidden)]
    fn cache_shared(&self) -> &crate::cache::Shared;

    /// Takes up to `out.len()` blocks for a cache, writes them to `out[..n]` and returns
    /// `n`, counting them as in use; 0 when the pool has none (a failure, counted as
    /// `take` counts it). The pools with a free list do it in one exchange of the shared
    /// list; this default takes them one by one.
    #[doc(hidden)]
    fn take_batch(&self, out: &mut [MaybeUninit<NonNull<Block<Self::Data>>>]) -> usize {
        let mut taken = 0;
        while taken < out.len() {
            // Only the first try counts a failure: a batch cut short is not one.
            let block = if taken == 0 {
                self.take()
            } else {
                self.take_waiting()
            };
            let Some(block) = block else { break };
            out[taken].write(block);
            taken += 1;
        }
        taken
    }

    /// Returns `blocks` to the pool; the pools with a free list do it in one exchange.
    ///
    /// # Safety
    /// As for `release`, for every block of `blocks`, which are distinct.
    #[doc(hidden)]
    unsafe fn release_batch(&self, blocks: &[NonNull<Block<Self::Data>>]) {
        for &block in blocks {
            // SAFETY: the caller's promise, block by block.
            unsafe { self.release(block) };
        }
    }

    #[doc(hidden)]
    /// Whether `block` is one of this pool's blocks, where the pool can tell cheaply;
    /// `true` where it cannot. Used by the ownership check of [`Box::from_raw`] (in
    /// every build).
    ///
    /// # Safety
    /// `block` points to a (non-zero-sized) block of some pool of this `Data` type.
    unsafe fn owns(&self, block: NonNull<Block<Self::Data>>) -> bool {
        let _ = block;
        true
    }
}

/// An owning pointer to one block of a pool, holding a `P::Data` once [`Init`].
///
/// `Box<&'a Pool<T>, S>` borrows an instance pool; a [`pool!`](crate::pool!) singleton's
/// `Box<A, S>` is one pointer wide. Dropping the box drops the value (if [`Init`]) and
/// returns the block to its pool.
///
/// A box is `Send`/`Sync` exactly when its value is, like `std::boxed::Box`, even though
/// its pool is `Sync` for every `T`:
///
/// ```compile_fail,E0277
/// use blockpool::{Box, Pool};
///
/// fn send<T: Send>() {}
/// send::<Box<&'static Pool<std::rc::Rc<u8>>>>(); // error: `Rc` cannot be sent
/// ```
pub struct Box<P: PoolHandle, S: State = Init> {
    block: NonNull<Block<P::Data>>,
    /// Moved out exactly once, by `into_parts` or `drop` (a plain field would be dropped
    /// again by the drop glue after `Drop::drop` moved it into `Release`).
    pool: ManuallyDrop<P>,
    _owns: PhantomData<(P::Data, S)>,
}

// SAFETY: a box owns its value the way `std::boxed::Box` does: moving the box to another
// thread moves the `T` (hence `T: Send`) and the handle, which that thread then uses to
// return the block (hence `P: Send`; `&Pool<T>` is `Send` because pools are `Sync`).
unsafe impl<P: PoolHandle + Send, S: State> Send for Box<P, S> where P::Data: Send {}
// SAFETY: `&Box` gives only `&T` (hence `T: Sync`) and `&P`.
unsafe impl<P: PoolHandle + Sync, S: State> Sync for Box<P, S> where P::Data: Sync {}

impl<P: PoolHandle> Box<P, Uninit> {
    /// Takes a free block from `pool`; `None` when the pool is exhausted. Zero-sized
    /// types need no memory and always succeed.
    ///
    /// The pools' own `alloc` methods call this; code generic over the pool kind calls
    /// it directly (see [`PoolHandle`]).
    ///
    /// # Examples
    /// ```
    /// use blockpool::{pool, Box, StaticPool, Uninit};
    ///
    /// static POOL: StaticPool<u64, 1> = StaticPool::new();
    /// pool!(Words: u32, blocks = 1);
    ///
    /// let block = Box::alloc_in(&POOL).unwrap(); // the same as `POOL.alloc()`
    /// assert!(Box::alloc_in(&POOL).is_none()); // exhausted
    /// assert_eq!(*block.init(42), 42);
    ///
    /// let word: Box<Words, Uninit> = Box::alloc_in(Words).unwrap(); // `Words::alloc()`
    /// # drop(word);
    /// ```
    #[inline]
    pub fn alloc_in(pool: P) -> Option<Self> {
        let block = if mem::size_of::<P::Data>() == 0 {
            NonNull::dangling()
        } else {
            let block = pool.take()?;
            crate::asan::unpoison(Block::data(block).cast(), mem::size_of::<P::Data>());
            block
        };
        Some(Self {
            block,
            pool: ManuallyDrop::new(pool),
            _owns: PhantomData,
        })
    }

    /// Writes `value` into the block: the box becomes [`Init`] and derefs to the value.
    ///
    /// # Examples
    /// ```
    /// use blockpool::StaticPool;
    ///
    /// static POOL: StaticPool<[u8; 4], 1> = StaticPool::new();
    ///
    /// let block = POOL.alloc().unwrap(); // `Box<_, Uninit>`: no value yet
    /// let mut value = block.init(*b"abcd"); // `Box<_, Init>`
    /// value[0] = b'A';
    /// assert_eq!(&*value, b"Abcd");
    /// ```
    pub fn init(mut self, value: P::Data) -> Box<P, Init> {
        // SAFETY: the block is ours and has room for a `T`; we then own the value.
        unsafe {
            self.as_mut_ptr().write(value);
            self.assume_init()
        }
    }

    /// The block's memory, to initialise a large value in place without copying it;
    /// [`assume_init`](Self::assume_init) then declares it initialised.
    ///
    /// # Examples
    /// A large value written field by field, never built on the stack:
    /// ```
    /// use core::ptr::addr_of_mut;
    /// use blockpool::StaticPool;
    ///
    /// struct Frame {
    ///     length: u32,
    ///     payload: [u8; 4096],
    /// }
    /// static FRAMES: StaticPool<Frame, 1> = StaticPool::new();
    ///
    /// let mut block = FRAMES.alloc().unwrap();
    /// let frame = block.as_uninit_mut().as_mut_ptr();
    /// // SAFETY: `frame` points to the block's memory, ours while `block` lives; the
    /// // fields are written through raw pointers, with no reference to uninitialised
    /// // memory.
    /// unsafe {
    ///     addr_of_mut!((*frame).length).write(0);
    ///     addr_of_mut!((*frame).payload).cast::<u8>().write_bytes(0, 4096);
    /// }
    /// // SAFETY: both fields were written above.
    /// let frame = unsafe { block.assume_init() };
    /// assert_eq!((frame.length, frame.payload[4095]), (0, 0));
    /// ```
    pub fn as_uninit_mut(&mut self) -> &mut MaybeUninit<P::Data> {
        // SAFETY: the block is exclusively ours for as long as `self` is borrowed, and
        // `MaybeUninit` makes no claim about its contents.
        unsafe { &mut *self.as_mut_ptr().cast::<MaybeUninit<P::Data>>() }
    }

    /// Declares the value written through [`as_uninit_mut`](Self::as_uninit_mut) or
    /// [`as_mut_ptr`](Self::as_mut_ptr) initialised.
    ///
    /// # Safety
    /// The block holds a valid `P::Data`.
    ///
    /// # Examples
    /// ```
    /// use blockpool::StaticPool;
    ///
    /// static POOL: StaticPool<[u32; 1024], 2> = StaticPool::new();
    ///
    /// let mut block = POOL.alloc().unwrap();
    /// let words = block.as_mut_ptr().cast::<u32>();
    /// for i in 0..1024 {
    ///     // SAFETY: `i` is inside the block.
    ///     unsafe { words.add(i).write(i as u32) };
    /// }
    /// // SAFETY: every element was written above.
    /// let block = unsafe { block.assume_init() };
    /// assert_eq!(block[1023], 1023);
    /// ```
    pub unsafe fn assume_init(self) -> Box<P, Init> {
        let (block, pool) = self.into_parts();
        Box {
            block,
            pool: ManuallyDrop::new(pool),
            _owns: PhantomData,
        }
    }

    /// Allocates from `pool` and moves `value` in; gives `value` back if the pool is
    /// exhausted. The pools' own `alloc_value` methods call this.
    ///
    /// # Errors
    /// `Err(value)` when the pool is exhausted: the value is not dropped.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Box, StaticPool};
    ///
    /// static NAMES: StaticPool<String, 1> = StaticPool::new();
    ///
    /// let first = Box::alloc_value_in(&NAMES, String::from("first")).unwrap();
    /// let second = Box::alloc_value_in(&NAMES, String::from("second"));
    /// assert_eq!(second.unwrap_err(), "second"); // exhausted: the value comes back
    /// assert_eq!(*first, "first");
    /// ```
    pub fn alloc_value_in(pool: P, value: P::Data) -> Result<Box<P, Init>, P::Data> {
        match Self::alloc_in(pool) {
            Some(block) => Ok(block.init(value)),
            None => Err(value),
        }
    }
}

// Not `unsafe`, and no `SAFETY` needed (`Unpin` is a safe trait), but why it is right:
// the value lives in its pool block, never inside the `Box`, and moving a `Box` moves
// only the pointer and the handle; the block itself stays where it is until the box
// gives it up. So a `Pin<Box<P>>` pins the value whether or not the box itself may move,
// as `std`'s `Box<T>: Unpin` for every `T`. (Without this impl the auto trait would
// follow `P::Data` through `PhantomData`, making a box of a future `!Unpin`.)
impl<P: PoolHandle, S: State> Unpin for Box<P, S> {}

impl<P: PoolHandle> Box<P, Init> {
    /// Pins the value in its block: it never moves again until it is dropped (the box
    /// holds only a pointer to it; the block stays where it is), so `Pin<Box<P>>` is a
    /// pinned future or self-referential value living in a pool block instead of the
    /// heap. Same as `Pin::from(self)`; needs no `T: Unpin`.
    ///
    /// # Examples
    /// ```
    /// use core::future::Future;
    /// use core::marker::PhantomPinned;
    /// use core::pin::Pin;
    /// use core::task::{Context, Poll, Waker};
    /// use blockpool::{Box, StaticPool};
    ///
    /// /// A future that must not move once polled (`!Unpin`), like most `async` blocks.
    /// struct Answer(u32, PhantomPinned);
    ///
    /// impl Future for Answer {
    ///     type Output = u32;
    ///     fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
    ///         Poll::Ready(self.0)
    ///     }
    /// }
    ///
    /// static FUTURES: StaticPool<Answer, 2> = StaticPool::new();
    ///
    /// let boxed = FUTURES.alloc_value(Answer(42, PhantomPinned)).ok().unwrap();
    /// let mut future: Pin<Box<&StaticPool<Answer, 2>>> = boxed.into_pin();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(42));
    /// ```
    pub fn into_pin(self) -> Pin<Self> {
        // SAFETY: the value lives in the pool block, not in the box, and stays at that
        // address until the box (pinned or not) drops it: nothing in this API moves a
        // value out of a block except `into_inner`, which needs the unpinned box, and a
        // `Pin<Box>` gives out only `Pin<&mut T>` (for `T: !Unpin`).
        unsafe { Pin::new_unchecked(self) }
    }
}

impl<P: PoolHandle> From<Box<P, Init>> for Pin<Box<P, Init>> {
    /// Pins the value in its block, as [`Box::into_pin`].
    ///
    /// # Examples
    /// ```
    /// use core::marker::PhantomPinned;
    /// use core::pin::Pin;
    /// use blockpool::{Box, StaticPool};
    ///
    /// struct SelfRef {
    ///     data: u32,
    ///     _pin: PhantomPinned,
    /// }
    /// static POOL: StaticPool<SelfRef, 1> = StaticPool::new();
    ///
    /// let value = SelfRef { data: 7, _pin: PhantomPinned };
    /// let pinned: Pin<Box<&StaticPool<SelfRef, 1>>> = Pin::from(POOL.alloc_value(value).ok().unwrap());
    /// assert_eq!(pinned.data, 7);
    /// ```
    fn from(boxed: Box<P, Init>) -> Self {
        boxed.into_pin()
    }
}

impl<P: PoolHandle, S: State> Box<P, S> {
    /// Takes the box apart without running its destructor.
    pub(crate) fn into_parts(self) -> (NonNull<Block<P::Data>>, P) {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the handle moves out of it
        // exactly once.
        (this.block, unsafe { ptr::read(&*this.pool) })
    }

    /// The pool handle the box returns its block to.
    pub(crate) fn pool(&self) -> &P {
        &self.pool
    }

    /// Drops the value (if [`Init`]) and gives up the block without returning it to the
    /// pool: the caller owns it (a cache keeps it). If the value's destructor panics,
    /// the block goes back to the pool, as a dropped box's does.
    pub(crate) fn into_empty_block(self) -> NonNull<Block<P::Data>> {
        let (block, pool) = self.into_parts();
        if S::INIT {
            let on_unwind = Release { block, pool };
            // SAFETY: the typestate says the block holds a value, which we own and
            // which is not used again.
            unsafe { ptr::drop_in_place(Block::data(block)) };
            mem::forget(on_unwind);
        }
        block
    }

    /// A pointer to the block's payload, valid for as long as the box; writing through
    /// it is how a value is built in place before [`assume_init`](Box::assume_init).
    ///
    /// # Examples
    /// ```
    /// use blockpool::StaticPool;
    ///
    /// static POOL: StaticPool<u32, 1> = StaticPool::new();
    ///
    /// let mut block = POOL.alloc().unwrap();
    /// // SAFETY: the pointer is to the block's payload, ours while `block` lives.
    /// unsafe { block.as_mut_ptr().write(5) };
    /// // SAFETY: written above.
    /// let value = unsafe { block.assume_init() };
    /// assert_eq!(*value, 5);
    /// ```
    pub fn as_mut_ptr(&mut self) -> *mut P::Data {
        Block::data(self.block)
    }

    /// A pointer to the block's payload, valid for as long as the box (for an
    /// [`Uninit`] box, it points to uninitialised memory).
    ///
    /// # Examples
    /// ```
    /// use blockpool::StaticPool;
    ///
    /// static POOL: StaticPool<u32, 2> = StaticPool::new();
    ///
    /// let a = POOL.alloc_value(1).unwrap();
    /// let b = POOL.alloc_value(1).unwrap();
    /// assert_eq!(a.as_ptr(), &*a as *const u32);
    /// assert_ne!(a.as_ptr(), b.as_ptr()); // equal values, two blocks
    /// ```
    pub fn as_ptr(&self) -> *const P::Data {
        Block::data(self.block)
    }
}

/// Bytes from the start of a `Block<T>` to its payload. `Block<T>` is `repr(C)` with two
/// fields, the free-list header `Link` and an `UnsafeCell<MaybeUninit<T>>` (aligned as
/// `T`), so the payload starts at the header's size rounded up to `T`'s alignment.
const fn payload_offset<T>() -> usize {
    mem::size_of::<crate::free_list::Link>().next_multiple_of(mem::align_of::<T>())
}

/// The block whose payload is at `ptr` (a dangling block for a zero-sized payload).
///
/// # Safety
/// `ptr` came from [`Box::into_raw`] of a box of `T` (of any pool).
pub(crate) unsafe fn block_of<T>(ptr: NonNull<T>) -> NonNull<Block<T>> {
    if mem::size_of::<T>() == 0 {
        return NonNull::dangling();
    }
    // SAFETY: `ptr` is the payload of a block (the caller's promise): stepping back by
    // the payload's offset stays inside that block and gives its start, with the
    // provenance `into_raw`'s pointer carried (the whole block).
    unsafe { ptr.byte_sub(payload_offset::<T>()) }.cast()
}

impl<P: PoolHandle, S: State> Box<P, S> {
    /// Gives up the box without returning its block: the pointer to the payload (to a
    /// value, if [`Init`]) that [`from_raw`](Self::from_raw) turns back into a box.
    ///
    /// The block stays out of the pool (and an [`Init`] value stays alive) until then;
    /// forgetting the pointer leaks the block. For a zero-sized payload the pointer is
    /// dangling (well aligned, like any pointer to a zero-sized value).
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Box, StaticPool};
    ///
    /// static POOL: StaticPool<u32, 2> = StaticPool::new();
    ///
    /// let raw = POOL.alloc_value(7).unwrap().into_raw();
    /// // e.g. through a C API or a DMA descriptor …
    /// // SAFETY: `raw` came from `into_raw` of a box of `POOL`, and is used once.
    /// let back = unsafe { Box::<&StaticPool<u32, 2>>::from_raw(raw, &POOL) };
    /// assert_eq!(*back, 7);
    /// ```
    pub fn into_raw(self) -> NonNull<P::Data> {
        let (block, _pool) = self.into_parts();
        debug_assert!(
            mem::size_of::<P::Data>() == 0
                || Block::data(block) as usize - block.as_ptr() as usize
                    == payload_offset::<P::Data>()
        );
        // SAFETY: `Block::data` never returns null: a payload address inside a live
        // block, or a dangling non-null pointer for a zero-sized payload.
        unsafe { NonNull::new_unchecked(Block::data(block)) }
    }

    /// Rebuilds the box that [`into_raw`](Self::into_raw) gave up, to return its block
    /// to `pool` on drop (a [`pool!`](crate::pool!) singleton has `A::from_raw(ptr)`).
    ///
    /// **ABA protection is unaffected.** The free lists never keep ABA state in a box or
    /// a block pointer: the 64-bit CAS backend keeps each block's version in the block's
    /// header, and the ARM LL/SC and critical-section backends need none. So
    /// a pointer that has been through `into_raw`/`from_raw` any number of times is as
    /// good as a box that never left (heapless 0.9's `from_raw` rebuilds its tagged
    /// pointer with the initial tag instead).
    ///
    /// **Ownership check, in every build.** `from_raw` panics, before it builds
    /// anything, if it can tell cheaply that `ptr` is not a block of `pool`: always
    /// for a [`StaticPool`] (address range of its storage) and for a [`Pool`] on the
    /// 64-bit CAS backend (the block's index in its header and the pool's region
    /// table); not for a [`Pool`] on the other backends, which keep no table. A
    /// foreign block would otherwise go back to the wrong pool's free list when the box
    /// is dropped, and that pool would later hand a block out twice. The check is
    /// on `from_raw` only, never on `alloc` or drop. What it costs (x86_64, 64-byte
    /// blocks, `cargo bench --bench free_list -- raw_round_trip`, two runs alternating
    /// with the check removed as in `scripts/mutants.sh from_raw_unchecked`): an
    /// alloc + `into_raw` + `from_raw` + drop on an instance `Pool` took 8.7 and 9.9 ns
    /// with the check, 7.2 and 6.9 ns without (two dependent loads: the block's header,
    /// then the region entry); on a `StaticPool` (address arithmetic only) 7.3 and 8.1 ns
    /// with it, 8.0 and 8.0 ns without, no difference beyond the noise.
    ///
    /// [`StaticPool`]: crate::StaticPool
    /// [`Pool`]: crate::Pool
    ///
    /// # Panics
    /// If the check above finds that `ptr` is not a block of `pool` (a broken safety
    /// contract: the panic stops it before the wrong pool is corrupted).
    ///
    /// # Safety
    /// `ptr` was returned by `into_raw` of a `Box<P, S>` (same payload type, same
    /// typestate or [`Uninit`]) whose block belongs to `pool`, and no other box has been
    /// rebuilt from it since. For [`Init`], the value behind `ptr` is still valid (it may
    /// have been changed in between through `ptr`).
    ///
    /// # Examples
    /// A box given up as `Init` may come back as `Uninit` (its value is then never
    /// dropped), to reuse the block for a new value:
    /// ```
    /// use core::ptr::NonNull;
    /// use blockpool::{Box, StaticPool, Uninit};
    ///
    /// type Handle = &'static StaticPool<[u8; 32], 2>;
    /// static POOL: StaticPool<[u8; 32], 2> = StaticPool::new();
    ///
    /// let raw: NonNull<[u8; 32]> = POOL.alloc_value([1; 32]).unwrap().into_raw();
    /// // SAFETY: `raw` came from `into_raw` of a box of `POOL` and is rebuilt once;
    /// // `Uninit` is allowed for a pointer from an `Init` box.
    /// let block: Box<Handle, Uninit> = unsafe { Box::from_raw(raw, &POOL) };
    /// let reused = block.init([2; 32]);
    /// assert_eq!(reused.as_ptr(), raw.as_ptr().cast_const());
    /// ```
    pub unsafe fn from_raw(ptr: NonNull<P::Data>, pool: P) -> Self {
        // SAFETY: the caller's promise: `ptr` came from `into_raw` of a box of this
        // payload type (of `pool`, which is what the check looks at).
        let block = unsafe { block_of::<P::Data>(ptr) };
        // SAFETY: `block` is a block of some pool of this payload type (the caller's
        // promise; the check is for a block of the *wrong* pool). Nothing is built yet,
        // so the panic returns no block anywhere.
        if mem::size_of::<P::Data>() != 0 && !unsafe { pool.owns(block) } {
            panic!("blockpool: from_raw got a pointer that is not a block of this pool");
        }
        // SAFETY: the caller's promise, and the check above where the pool can tell.
        unsafe { Self::from_block(block, pool) }
    }

    /// The box that owns `block` (dangling for a zero-sized payload), returning it to
    /// `pool` when dropped; no check.
    ///
    /// # Safety
    /// `block` is a block of `pool`, taken from it and owned by nobody else; for
    /// [`Init`], it holds a valid value.
    pub(crate) unsafe fn from_block(block: NonNull<Block<P::Data>>, pool: P) -> Self {
        Self {
            block,
            pool: ManuallyDrop::new(pool),
            _owns: PhantomData,
        }
    }
}

impl<P: PoolHandle> Box<P, Init> {
    /// Moves the value out and returns the block to the pool.
    ///
    /// # Examples
    /// ```
    /// use blockpool::StaticPool;
    ///
    /// static POOL: StaticPool<String, 1> = StaticPool::new();
    ///
    /// let boxed = POOL.alloc_value(String::from("moved out")).unwrap();
    /// let value: String = boxed.into_inner();
    /// assert_eq!(value, "moved out");
    /// assert!(POOL.alloc().is_some()); // the block is back
    /// ```
    pub fn into_inner(self) -> P::Data {
        // SAFETY: the value is initialised, and `into_parts` then disarms the box's
        // destructor, so the value is moved out exactly once.
        let value = unsafe { self.as_ptr().read() };
        let (block, pool) = self.into_parts();
        drop(Release { block, pool });
        value
    }
}

impl<P: PoolHandle + Clone> Box<P, Init>
where
    P::Data: Clone,
{
    /// A new box holding a clone of the value, in another block of the same pool;
    /// `None` when the pool is exhausted. [`Clone::clone`] is the same, but panics
    /// instead.
    ///
    /// The block is taken *before* `T::clone` runs, so an exhausted pool costs no
    /// clone (`T::clone` is not called at all), and a clone that panics returns the
    /// block it was given to the pool while unwinding: no block is lost either way.
    /// While `T::clone` runs, that block is already out of the pool (a `T::clone` that
    /// allocates from the same pool sees one block fewer).
    ///
    /// # Examples
    /// ```
    /// use blockpool::StaticPool;
    ///
    /// static POOL: StaticPool<[u8; 16], 2> = StaticPool::new();
    ///
    /// let a = POOL.alloc_value([7; 16]).unwrap();
    /// let b = a.try_clone().expect("a second block is free");
    /// assert_eq!(a, b); // equal values …
    /// assert_ne!(a.as_ptr(), b.as_ptr()); // … in different blocks
    ///
    /// assert!(b.try_clone().is_none()); // both blocks in use
    /// ```
    pub fn try_clone(&self) -> Option<Self> {
        // Block first: if `T::clone` panics, `block` (an `Uninit` box, which never drops
        // a payload) is dropped while unwinding and returns the block to the pool.
        let block = Box::alloc_in((*self.pool).clone())?;
        let value = (**self).clone();
        Some(block.init(value))
    }
}

/// Clones the value into another block of the same pool, as heapless 0.9's `Box` does.
///
/// # Panics
/// If the pool is exhausted. Use [`Box::try_clone`] to get `None` instead: a pool of
/// fixed-size blocks runs out, and `clone` has no way to say so but a panic.
/// `T::clone` is not called in that case (the block is taken first; see
/// [`try_clone`](Box::try_clone)).
///
/// # Examples
/// ```
/// use blockpool::{pool, Box};
///
/// pool!(Names: [u8; 8], blocks = 2);
///
/// let a: Box<Names> = Names::alloc_value(*b"blockpl\0").unwrap();
/// let b = a.clone(); // a `Box<Names>`, not a `[u8; 8]`
/// assert_eq!(*a, *b);
/// assert!(Names::alloc().is_none()); // the clone took the second block
/// ```
impl<P: PoolHandle + Clone> Clone for Box<P, Init>
where
    P::Data: Clone,
{
    #[track_caller]
    fn clone(&self) -> Self {
        match self.try_clone() {
            Some(clone) => clone,
            None => panic!("blockpool: Box::clone: the pool is exhausted (see Box::try_clone)"),
        }
    }
}

/// Returns a block to its pool when dropped, also while unwinding from a panic in the
/// payload's destructor, so that no block is ever lost.
struct Release<P: PoolHandle> {
    block: NonNull<Block<P::Data>>,
    pool: P,
}

impl<P: PoolHandle> Drop for Release<P> {
    #[inline]
    fn drop(&mut self) {
        if mem::size_of::<P::Data>() != 0 {
            crate::asan::poison(Block::data(self.block).cast(), mem::size_of::<P::Data>());
            // SAFETY: the block came from `take` of this pool (a `Box` owned it) and its
            // value has been dropped or moved out.
            unsafe { self.pool.release(self.block) };
        }
    }
}

impl<P: PoolHandle, S: State> Drop for Box<P, S> {
    #[inline]
    fn drop(&mut self) {
        let _release = Release {
            block: self.block,
            // SAFETY: `self` is being dropped and its handle is not used again; the field
            // is `ManuallyDrop`, so the drop glue does not drop it a second time.
            pool: unsafe { ManuallyDrop::take(&mut self.pool) },
        };
        if S::INIT {
            // SAFETY: the typestate says the block holds a value, which we own.
            unsafe { ptr::drop_in_place(self.as_mut_ptr()) };
        }
    }
}

impl<P: PoolHandle> Deref for Box<P, Init> {
    type Target = P::Data;
    fn deref(&self) -> &P::Data {
        // SAFETY: initialised, and shared for as long as `self` is.
        unsafe { &*self.as_ptr() }
    }
}

impl<P: PoolHandle> DerefMut for Box<P, Init> {
    fn deref_mut(&mut self) -> &mut P::Data {
        // SAFETY: initialised, and exclusively ours for as long as `self` is borrowed.
        unsafe { &mut *self.as_mut_ptr() }
    }
}

// SAFETY: the payload lives in a pool block that does not move while the box exists,
// whatever happens to the box itself.
unsafe impl<P: PoolHandle> stable_deref_trait::StableDeref for Box<P, Init> {}

impl<P, T, const N: usize> AsRef<[T]> for Box<P, Init>
where
    P: PoolHandle<Data = [T; N]>,
{
    fn as_ref(&self) -> &[T] {
        &self[..]
    }
}

impl<P, T, const N: usize> AsMut<[T]> for Box<P, Init>
where
    P: PoolHandle<Data = [T; N]>,
{
    fn as_mut(&mut self) -> &mut [T] {
        &mut self[..]
    }
}

impl<P: PoolHandle> fmt::Debug for Box<P, Init>
where
    P::Data: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        P::Data::fmt(self, f)
    }
}

impl<P: PoolHandle> fmt::Debug for Box<P, Uninit> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Box(<uninit>)")
    }
}

impl<P: PoolHandle> fmt::Display for Box<P, Init>
where
    P::Data: fmt::Display,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        P::Data::fmt(self, f)
    }
}

impl<P: PoolHandle, S: State> fmt::Pointer for Box<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&self.as_ptr(), f)
    }
}

impl<P: PoolHandle, Q: PoolHandle> PartialEq<Box<Q, Init>> for Box<P, Init>
where
    P::Data: PartialEq<Q::Data>,
{
    fn eq(&self, other: &Box<Q, Init>) -> bool {
        **self == **other
    }
}

impl<P: PoolHandle> Eq for Box<P, Init> where P::Data: Eq {}

impl<P: PoolHandle, Q: PoolHandle> PartialOrd<Box<Q, Init>> for Box<P, Init>
where
    P::Data: PartialOrd<Q::Data>,
{
    fn partial_cmp(&self, other: &Box<Q, Init>) -> Option<Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<P: PoolHandle> Ord for Box<P, Init>
where
    P::Data: Ord,
{
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl<P: PoolHandle> Hash for Box<P, Init>
where
    P::Data: Hash,
{
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}
