//! [`Arc`] and [`Weak`]: reference-counted values in pool blocks.
//!
//! The block's payload is an [`ArcInner<T>`]: the value and two counters. Any pool of
//! `ArcInner<T>` serves (an [`ArcPool`], an [`arc_pool!`](crate::arc_pool!) singleton,
//! a [`Pool`](crate::Pool) or [`StaticPool`](crate::StaticPool) of `ArcInner<T>`), so the
//! free list, the stats and the async wait are those of the ordinary pools.
//!
//! Counting follows `std::sync::Arc`: the strong count is the number of `Arc`s; the weak
//! count is the number of `Weak`s plus one held by all the `Arc`s together. The value is
//! dropped when the strong count reaches zero, the block returned when the weak count
//! does. Increments are `Relaxed` (a new reference is made from an existing one, which
//! already orders everything), decrements `Release` and the last one is followed by an
//! `Acquire` load of the zero it wrote (`acquire_last`: a fence would do, but
//! ThreadSanitizer cannot see fences), so every use of the value through any reference
//! happens before it is dropped, and every use of the block before it is handed out
//! again.
//!
//! **No locks, no waiting**, unlike `std`'s `get_mut`, whose "weak lock" makes a
//! concurrent `downgrade` spin (fatal in an interrupt handler that interrupted the
//! `get_mut`). Here [`Arc::get_mut`] locks the *strong* count instead (1 → `LOCKED`)
//! while it reads the weak count, and [`Weak::upgrade`] never waits: finding `LOCKED`,
//! it breaks the lock (`LOCKED` → 2, counting both the `get_mut` caller and itself), and
//! `get_mut`'s unlock (`LOCKED` → 1) then fails, so it reports "not unique". On targets
//! without atomic read-modify-write (thumbv6m) the counters are updated in critical
//! sections, as the rest of the crate does.

use core::cmp::Ordering as CmpOrdering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::{self, NonNull};

use crate::boxed::{Box, PoolHandle, Uninit};
use crate::counter;
use crate::pool::StaticPool;
use crate::sync::{const_fn_unless_loom, AtomicUsize, Ordering};
use crate::Block;

/// Counts above this are refused (`clone`/`downgrade` panic), far below a wrap-around.
const MAX_REFCOUNT: usize = isize::MAX as usize;
/// The strong count while [`Arc::get_mut`] checks for uniqueness (see the module docs).
const LOCKED: usize = usize::MAX;

/// The payload of an [`Arc`] pool's blocks: the value followed by its strong and weak
/// counts. You only name it to make a pool for `Arc`s yourself, e.g.
/// `Pool<ArcInner<T>>`; [`ArcPool`] and [`arc_pool!`](crate::arc_pool!) do it for you.
#[repr(C)]
pub struct ArcInner<T> {
    /// First, so that a pointer to the value is a pointer to the `ArcInner`.
    value: T,
    strong: AtomicUsize,
    weak: AtomicUsize,
}

mod sealed {
    pub trait Sealed {}
}

/// Implemented by [`ArcInner<T>`] only: lets [`Arc<P>`] find `T` from its pool handle
/// `P` (whose blocks hold `ArcInner<T>`).
pub trait ArcBlock: sealed::Sealed {
    /// The `T` of `ArcInner<T>`.
    type Value;
    #[doc(hidden)]
    fn cast(this: NonNull<Self>) -> NonNull<ArcInner<Self::Value>>;
    #[doc(hidden)]
    fn wrap(value: Self::Value) -> Self;
}

impl<T> sealed::Sealed for ArcInner<T> {}
impl<T> ArcBlock for ArcInner<T> {
    type Value = T;
    fn cast(this: NonNull<Self>) -> NonNull<ArcInner<T>> {
        this
    }
    fn wrap(value: T) -> Self {
        ArcInner {
            value,
            strong: AtomicUsize::new(1),
            weak: AtomicUsize::new(1),
        }
    }
}

/// The value type of the `Arc`s of pool handle `P`.
type Value<P> = <<P as PoolHandle>::Data as ArcBlock>::Value;

/// Called right after our read-modify-write took `count` to zero: makes every earlier
/// `Release` decrement of it (every other reference's last use) happen before what we do
/// next.
///
/// An `Acquire` load of the zero, not an `Acquire` fence: ThreadSanitizer models acquire
/// loads but not fences, so with a fence it reports races on the value that cannot
/// happen, and could not be trusted on the counts at all (std's `Arc` makes the same
/// swap, under ThreadSanitizer only; here it is the one code path, so TSan checks what
/// ships). Why it is enough: zero is the count's last value (nothing raises a count from
/// zero: `clone`/`downgrade` need a live reference, `upgrade` gives up on zero), and
/// every write of a count is a read-modify-write, so our write of the zero belongs to
/// the release sequence of every earlier `Release` decrement; an acquire load that reads
/// it (it can read nothing else: ours is the count's last write) synchronises with all of
/// them. The cost, on the last reference's path only: on x86 nothing (a plain `mov`
/// where the fence emitted no instruction); on ARM one `ldr` beside the `dmb` the fence
/// was.
#[inline(always)]
fn acquire_last(count: &AtomicUsize) {
    let zero = count.load(Ordering::Acquire);
    debug_assert_eq!(zero, 0);
}

/// Adds one reference to `count` (`clone`, `downgrade`); panics (after undoing it) past
/// `MAX_REFCOUNT`, which only leaking references in a loop can reach.
fn increment(count: &AtomicUsize) {
    // Relaxed: the new reference is made from an existing one (see the module docs).
    let old = counter::fetch_add(count, 1, Ordering::Relaxed);
    if old > MAX_REFCOUNT {
        counter::fetch_sub(count, 1, Ordering::Relaxed);
        overflow();
    }
}

/// The panic of a count past `MAX_REFCOUNT` (`increment`, `Weak::upgrade`).
#[cold]
fn overflow() -> ! {
    panic!("blockpool: Arc reference count overflow");
}

/// Gives up one reference counted in `count` (the drop of an `Arc` or a `Weak`,
/// `into_inner`); returns whether it was the last one.
///
/// The decrement is `Release`: our uses (of the value for the strong count, of the block
/// for the weak count) happen before whoever takes the count to zero. If that is us, the
/// `acquire_last` makes every other reference's uses happen before what the caller does
/// next (drop or move the value, return the block). `count` is not touched again unless
/// it was the last reference, whose block nobody else can return.
#[inline]
fn decrement(count: &AtomicUsize) -> bool {
    if counter::fetch_sub(count, 1, Ordering::Release) != 1 {
        return false;
    }
    acquire_last(count);
    true
}

/// What an [`Arc`] and a [`Weak`] are made of: a pointer to the payload of the block and
/// the handle of the pool it goes back to. The reference it stands for (an `Arc`'s strong
/// one, which holds the `Arc`s' shared weak one, or a `Weak`'s weak one) keeps the block
/// alive until its holder gives the block back itself, so the counters can always be
/// read through it.
struct Ref<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    inner: NonNull<P::Data>,
    /// Moved out once, when the `Arc` or `Weak` is dropped or consumed.
    pool: ManuallyDrop<P>,
    _owns: PhantomData<P::Data>,
}

// SAFETY: a `Ref` is all an `Arc` or a `Weak` holds, so these make them `Send`/`Sync` as
// `std::sync::Arc` and `Weak` are: any `Arc` may drop the value (`T: Send`) and all share
// it (`T: Sync`); a `Weak` can become an `Arc` in the thread that holds it, so it needs
// the same. The handles are sent and shared along (`P: Send + Sync`). The counters are
// atomic or updated in critical sections.
unsafe impl<P> Send for Ref<P>
where
    P: PoolHandle + Clone + Send + Sync,
    P::Data: ArcBlock,
    Value<P>: Send + Sync,
{
}
// SAFETY: as above.
unsafe impl<P> Sync for Ref<P>
where
    P: PoolHandle + Clone + Send + Sync,
    P::Data: ArcBlock,
    Value<P>: Send + Sync,
{
}

// Not `unsafe` (`Unpin` is a safe trait), but why it is right: the value and its counts
// live in the pool block, never inside the `Arc`/`Weak`, which hold only this pointer and
// the handle; moving them moves nothing the value depends on, and the block stays put
// until the last reference gives it up. So `Arc` and `Weak` are `Unpin` whatever the
// value is, as `std::sync::Arc<T>` and `Weak<T>` are (the auto trait would otherwise
// follow the value through `PhantomData`).
impl<P> Unpin for Ref<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
}

impl<P> Ref<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    fn new(inner: NonNull<P::Data>, pool: P) -> Self {
        Self {
            inner,
            pool: ManuallyDrop::new(pool),
            _owns: PhantomData,
        }
    }

    /// Another `Ref` to the block, with a clone of the handle, for a reference the caller
    /// has just counted.
    fn copy(&self) -> Self {
        Self::new(self.inner, (*self.pool).clone())
    }

    fn ptr(&self) -> NonNull<ArcInner<Value<P>>> {
        <P::Data as ArcBlock>::cast(self.inner)
    }

    /// The strong and weak counters, reached without making a reference to the value
    /// (which may be being dropped by another context while a `Weak` reads the counts).
    fn counts(&self) -> (&AtomicUsize, &AtomicUsize) {
        let inner = self.ptr().as_ptr();
        // SAFETY: the block is live while `self` is used (see the type's docs); the
        // fields are atomics, only ever shared.
        unsafe {
            (
                &*ptr::addr_of!((*inner).strong),
                &*ptr::addr_of!((*inner).weak),
            )
        }
    }

    /// The number of `Arc`s (a snapshot): `LOCKED` is the one `Arc` whose `get_mut` holds
    /// the lock.
    fn strong_count(&self) -> usize {
        match self.counts().0.load(Ordering::Relaxed) {
            LOCKED => 1,
            n => n,
        }
    }
}

/// A reference-counted pointer to a `T` in a pool block; the value is dropped with the
/// last `Arc`, and the block goes back to the pool with the last `Arc` *and* [`Weak`].
///
/// `P` is the pool handle: `&ArcPool<T, N>`, the zero-sized type of an
/// [`arc_pool!`](crate::arc_pool!) (then an `Arc` is one pointer wide), or `&Pool` /
/// `&StaticPool` of [`ArcInner<T>`].
///
/// ```
/// use blockpool::{Arc, ArcPool};
///
/// static MESSAGES: ArcPool<[u8; 32], 4> = ArcPool::new();
///
/// let a = MESSAGES.alloc([7; 32]).unwrap();
/// let b = Arc::clone(&a);
/// assert_eq!(Arc::strong_count(&a), 2);
/// let weak = Arc::downgrade(&a);
/// drop((a, b)); // the value is dropped here…
/// assert!(weak.upgrade().is_none());
/// drop(weak); // …and the block returned here
/// assert_eq!(MESSAGES.capacity(), 4);
/// ```
///
/// As `std::sync::Arc`, an `Arc` (and a [`Weak`]) is `Send` and `Sync` when the value is
/// both `Send` and `Sync` (and so is the handle `P`, as every pool's is): a value that
/// is not `Sync`, shared by `Arc`s in two threads, could be used from both at once.
///
/// ```compile_fail,E0277
/// use core::cell::Cell;
/// use blockpool::{Arc, ArcPool};
///
/// fn send<T: Send>() {}
/// send::<Arc<&'static ArcPool<Cell<u8>, 1>>>(); // error: `Cell<u8>` cannot be shared
/// ```
pub struct Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    /// A strong reference (`Send`, `Sync` and `Unpin` as the `Ref` is).
    r: Ref<P>,
}

/// A non-owning reference to an [`Arc`]'s value: keeps the block (not the value) alive;
/// [`upgrade`](Self::upgrade) gives an `Arc` while the value lives.
///
/// `Send` and `Sync` when an `Arc` of the same pool is (it can become one in the thread
/// that holds it):
///
/// ```compile_fail,E0277
/// use blockpool::{ArcPool, Weak};
///
/// fn sync<T: Sync>() {}
/// sync::<Weak<&'static ArcPool<std::rc::Rc<u8>, 1>>>(); // error: `Rc<u8>` cannot be sent
/// ```
pub struct Weak<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    /// A weak reference (`Send`, `Sync` and `Unpin` as the `Ref` is).
    r: Ref<P>,
}

impl<P> Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    /// Allocates a block from `pool` and moves `value` into it, with one strong
    /// reference; gives `value` back when the pool is exhausted. [`ArcPool::alloc`] and
    /// the `alloc` of an [`arc_pool!`](crate::arc_pool!) call this.
    ///
    /// # Errors
    /// `Err(value)` when the pool is exhausted: the value is not dropped.
    ///
    /// # Examples
    /// Any pool of [`ArcInner<T>`] serves, here a [`StaticPool`]:
    /// ```
    /// use blockpool::{Arc, ArcInner, StaticPool};
    ///
    /// static POOL: StaticPool<ArcInner<u32>, 1> = StaticPool::new();
    ///
    /// let a: Arc<&StaticPool<ArcInner<u32>, 1>> = Arc::try_new_in(7, &POOL).unwrap();
    /// assert_eq!(*a, 7);
    /// assert_eq!(Arc::try_new_in(8, &POOL).unwrap_err(), 8); // exhausted: the value comes back
    /// ```
    pub fn try_new_in(value: Value<P>, pool: P) -> Result<Self, Value<P>> {
        match Box::alloc_in(pool) {
            // The `Init` box would drop the `ArcInner` as a whole; from here on the
            // counts decide, so `from_box` keeps only a raw pointer (the block stays ours).
            Some(block) => Ok(Self::from_box(block, value)),
            None => Err(value),
        }
    }

    /// Moves `value` into `block` as a new `Arc` (for `alloc_async`). Not part of the
    /// API, but safe whatever it is given: the `Arc` returns the block through the
    /// handle the box itself carries, which is the pool the block came from (a box is
    /// only made by `alloc_in` of that pool or by the `unsafe` `from_raw`), so a block
    /// can never be returned to another pool this way. (It used to take the pool
    /// handle as a separate argument, which let safe code give one pool's block to
    /// another pool's `Arc`; that call no longer compiles:)
    ///
    /// ```compile_fail,E0061
    /// use blockpool::{arc_pool, Arc};
    ///
    /// arc_pool!(A: u32, blocks = 1);
    /// arc_pool!(B: u32, blocks = 1);
    /// let block = blockpool::Box::alloc_in(A).unwrap();
    /// let _wrong: Arc<B> = Arc::__from_block(block, B, 7); // error[E0061]
    /// ```
    #[cfg(feature = "async")]
    #[doc(hidden)]
    pub fn __from_block(block: Box<P, Uninit>, value: Value<P>) -> Self {
        Self::from_box(block, value)
    }

    /// Moves `value` into `block`, as an `Arc` returning the block to the box's pool.
    fn from_box(block: Box<P, Uninit>, value: Value<P>) -> Self {
        let (block, pool) = block.init(<P::Data as ArcBlock>::wrap(value)).into_parts();
        // SAFETY: `Block::data` never returns null (a payload address inside a live
        // block, or a dangling non-null one for a zero-sized payload).
        let inner = unsafe { NonNull::new_unchecked(Block::data(block)) };
        Self {
            r: Ref::new(inner, pool),
        }
    }

    /// How many `Arc`s point to this value (a snapshot: others may change it at once).
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<u8, 1> = ArcPool::new();
    ///
    /// let a = POOL.alloc(1).unwrap();
    /// let b = Arc::clone(&a);
    /// assert_eq!(Arc::strong_count(&a), 2);
    /// drop(b);
    /// assert_eq!(Arc::strong_count(&a), 1);
    /// ```
    pub fn strong_count(this: &Self) -> usize {
        this.r.strong_count()
    }

    /// How many [`Weak`]s point to this value (a snapshot).
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<u8, 1> = ArcPool::new();
    ///
    /// let a = POOL.alloc(1).unwrap();
    /// let weak = Arc::downgrade(&a);
    /// assert_eq!(Arc::weak_count(&a), 1);
    /// drop(weak);
    /// assert_eq!(Arc::weak_count(&a), 0);
    /// ```
    pub fn weak_count(this: &Self) -> usize {
        // The `Arc`s' shared weak reference is not counted. While a `get_mut` of ours
        // runs nobody else can see this `Arc`, so the count is never the locked value.
        this.r.counts().1.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// A new [`Weak`] to this value.
    ///
    /// # Panics
    /// If the weak count would pass `isize::MAX`, which only leaking references in a
    /// loop can reach.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<[u8; 4], 1> = ArcPool::new();
    ///
    /// let a = POOL.alloc([1; 4]).unwrap();
    /// let weak = Arc::downgrade(&a);
    /// assert_eq!(weak.upgrade().unwrap()[0], 1);
    /// drop(a); // the value is dropped: the `Weak` cannot upgrade any more
    /// assert!(weak.upgrade().is_none());
    /// ```
    pub fn downgrade(this: &Self) -> Weak<P> {
        increment(this.r.counts().1);
        Weak { r: this.r.copy() }
    }

    /// Whether the two point to the same value (compares addresses).
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<u32, 2> = ArcPool::new();
    ///
    /// let a = POOL.alloc(1).unwrap();
    /// let b = Arc::clone(&a);
    /// let c = POOL.alloc(1).unwrap();
    /// assert!(Arc::ptr_eq(&a, &b));
    /// assert!(!Arc::ptr_eq(&a, &c)); // equal values, different blocks
    /// assert_eq!(a, c);
    /// ```
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.r.inner == other.r.inner
    }

    /// A pointer to the value, valid while an `Arc` to it exists.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<u32, 1> = ArcPool::new();
    ///
    /// let a = POOL.alloc(5).unwrap();
    /// let ptr = Arc::as_ptr(&a);
    /// assert_eq!(ptr, &*a as *const u32);
    /// // SAFETY: `a` keeps the value alive, and nothing writes it.
    /// assert_eq!(unsafe { *ptr }, 5);
    /// ```
    pub fn as_ptr(this: &Self) -> *const Value<P> {
        // `value` is the first field of a `repr(C)` struct.
        this.r.ptr().as_ptr().cast()
    }

    /// Whether this is the only reference (`Arc` or `Weak`); see the module docs for
    /// the lock on the strong count that makes the answer exact without making anybody
    /// wait.
    fn is_unique(this: &mut Self) -> bool {
        let (strong, weak) = this.r.counts();
        // Acquire: the last other `Arc`'s uses of the value (ended by a Release
        // decrement) happen before ours, and so does any `downgrade` it made (the Weak's
        // increment is then visible to the load below).
        if counter::compare_exchange(strong, 1, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // Acquire: pairs with the Release decrement of the last `Weak` dropped.
        let no_weak = weak.load(Ordering::Acquire) == 1;
        // Release: our lock did not publish anything; Release keeps the unlock after
        // the load above. If an `upgrade` broke the lock meanwhile, the count is now an
        // ordinary one that includes us, and the value is shared.
        let not_broken =
            counter::compare_exchange(strong, LOCKED, 1, Ordering::Release, Ordering::Relaxed)
                .is_ok();
        no_weak && not_broken
    }

    /// A mutable reference to the value if this is the only `Arc` and no [`Weak`]
    /// exists; `None` otherwise.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<u32, 1> = ArcPool::new();
    ///
    /// let mut a = POOL.alloc(1).unwrap();
    /// *Arc::get_mut(&mut a).unwrap() += 1; // the only reference
    /// let weak = Arc::downgrade(&a);
    /// assert!(Arc::get_mut(&mut a).is_none()); // the `Weak` could upgrade
    /// drop(weak);
    /// assert_eq!(*Arc::get_mut(&mut a).unwrap(), 2);
    /// ```
    pub fn get_mut(this: &mut Self) -> Option<&mut Value<P>> {
        if Self::is_unique(this) {
            // SAFETY: no other `Arc` or `Weak` exists and none can appear while `this`
            // is borrowed mutably (both are made from an existing one).
            Some(unsafe { &mut (*this.r.ptr().as_ptr()).value })
        } else {
            None
        }
    }

    /// Takes the value out if this is the only `Arc` (the block goes back once no
    /// [`Weak`] remains); gives the `Arc` back otherwise.
    ///
    /// # Errors
    /// `Err(this)` when another `Arc` to the value exists (a [`Weak`] does not stop it).
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<String, 1> = ArcPool::new();
    ///
    /// let a = POOL.alloc(String::from("shared")).unwrap();
    /// let b = Arc::clone(&a);
    /// let a = Arc::try_unwrap(a).unwrap_err(); // `b` shares it: `a` comes back
    /// drop(b);
    /// assert_eq!(Arc::try_unwrap(a).unwrap(), "shared");
    /// ```
    pub fn try_unwrap(this: Self) -> Result<Value<P>, Self> {
        let (strong, _) = this.r.counts();
        if counter::compare_exchange(strong, 1, 0, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return Err(this);
        }
        // As in `drop`: every other `Arc`'s use of the value happens before ours.
        acquire_last(strong);
        // SAFETY: the strong count went to zero with us, so we own the value.
        Ok(unsafe { Self::take_value(this) })
    }

    /// Takes the value out if this is the last `Arc`, else just drops this one; of
    /// several `Arc`s dropped this way at once, exactly one gets the value.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<u32, 1> = ArcPool::new();
    ///
    /// let a = POOL.alloc(7).unwrap();
    /// let b = Arc::clone(&a);
    /// assert_eq!(Arc::into_inner(a), None); // `b` remains
    /// assert_eq!(Arc::into_inner(b), Some(7)); // the last one
    /// ```
    pub fn into_inner(this: Self) -> Option<Value<P>> {
        // Release/Acquire as in `drop`.
        if !decrement(this.r.counts().0) {
            let mut this = ManuallyDrop::new(this);
            // SAFETY: `this` is not used again; its handle is dropped once, here.
            unsafe { ManuallyDrop::drop(&mut this.r.pool) };
            return None;
        }
        // SAFETY: the strong count went to zero with us, so we own the value.
        Some(unsafe { Self::take_value(this) })
    }

    /// Moves the value out of a block whose strong count we took to zero, and drops the
    /// `Arc`s' weak reference.
    ///
    /// # Safety
    /// The strong count went from 1 to 0 by `this`'s hand.
    unsafe fn take_value(this: Self) -> Value<P> {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `this` is not used again: its handle moves out once.
        let pool = unsafe { ManuallyDrop::take(&mut this.r.pool) };
        let weak = Weak::<P> {
            r: Ref::new(this.r.inner, pool),
        };
        // SAFETY: the value is ours (the caller's promise) and read once; the weak
        // reference keeps the block until after the read.
        let value = unsafe { ptr::read(ptr::addr_of!((*this.r.ptr().as_ptr()).value)) };
        drop(weak);
        value
    }

    /// Gives up this `Arc` without changing the counts: a pointer to the value that
    /// [`from_raw`](Self::from_raw) turns back into an `Arc`.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<u32, 1> = ArcPool::new();
    ///
    /// let raw = Arc::into_raw(POOL.alloc(9).unwrap()); // e.g. through a C callback's `void *`
    /// // SAFETY: `raw` came from `into_raw` of an `Arc` of `POOL`, and is rebuilt once.
    /// let a = unsafe { Arc::from_raw(raw, &POOL) };
    /// assert_eq!((*a, Arc::strong_count(&a)), (9, 1));
    /// ```
    pub fn into_raw(this: Self) -> NonNull<Value<P>> {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `this` is not used again; its handle is dropped once, here.
        unsafe { ManuallyDrop::drop(&mut this.r.pool) };
        this.r.ptr().cast()
    }

    /// Rebuilds an `Arc` from [`into_raw`](Self::into_raw)'s pointer (a
    /// [`arc_pool!`](crate::arc_pool!) singleton has `A::from_raw(ptr)`).
    ///
    /// It checks, in every build, that `ptr` is a block of `pool` where the pool can
    /// tell cheaply, as [`Box::from_raw`] does.
    ///
    /// # Panics
    /// If that check finds `ptr` is not a block of `pool`.
    ///
    /// # Safety
    /// `ptr` came from `into_raw` of an `Arc` of `pool`, and each such pointer is
    /// rebuilt at most once.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<[u8; 8], 2> = ArcPool::new();
    ///
    /// let a = POOL.alloc([3; 8]).unwrap();
    /// let b = Arc::clone(&a);
    /// let raw = Arc::into_raw(a); // the counts are unchanged: 2 `Arc`s
    /// assert_eq!(Arc::strong_count(&b), 2);
    /// // SAFETY: `raw` came from `into_raw` of an `Arc` of `POOL`, and is rebuilt once.
    /// let a = unsafe { Arc::from_raw(raw, &POOL) };
    /// assert!(Arc::ptr_eq(&a, &b));
    /// ```
    pub unsafe fn from_raw(ptr: NonNull<Value<P>>, pool: P) -> Self {
        // SAFETY: `ptr` is the value of an `ArcInner` (the caller's promise), the first
        // field of the `repr(C)` payload of a block of some pool of `P::Data`.
        let block = unsafe { crate::boxed::block_of::<P::Data>(ptr.cast()) };
        // SAFETY: as just said, a block of some pool of this payload type.
        if !unsafe { pool.owns(block) } {
            panic!("blockpool: from_raw got a pointer that is not a block of this pool");
        }
        Self {
            // `value` is the first field of a `repr(C)` `ArcInner`: same address, and
            // `into_raw`'s pointer carries the whole block's provenance.
            r: Ref::new(ptr.cast(), pool),
        }
    }
}

impl<P> Clone for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    fn clone(&self) -> Self {
        increment(self.r.counts().0);
        Self { r: self.r.copy() }
    }
}

impl<P> Drop for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    fn drop(&mut self) {
        // SAFETY: `self` is being dropped; its handle moves out once, here.
        let pool = unsafe { ManuallyDrop::take(&mut self.r.pool) };
        // Release: our uses of the value happen before whoever drops it; if that is us,
        // every other `Arc`'s uses of the value (each ended by a Release decrement)
        // happen before the drop below.
        if !decrement(self.r.counts().0) {
            return;
        }
        // Made first so that the block is returned even if `T::drop` panics.
        let _weak = Weak::<P> {
            r: Ref::new(self.r.inner, pool),
        };
        // SAFETY: the strong count reached zero with us: nobody else can reach the value,
        // which is dropped once, here.
        unsafe { ptr::drop_in_place(ptr::addr_of_mut!((*self.r.ptr().as_ptr()).value)) };
    }
}

impl<P> Weak<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    /// An [`Arc`] to the value, if it still lives. Never waits (see the module docs on
    /// `get_mut`'s lock).
    ///
    /// # Panics
    /// If the strong count would pass `isize::MAX`, which only leaking references in a
    /// loop can reach.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<u32, 1> = ArcPool::new();
    ///
    /// let a = POOL.alloc(1).unwrap();
    /// let weak = Arc::downgrade(&a);
    /// let b = weak.upgrade().unwrap();
    /// assert_eq!(Arc::strong_count(&a), 2);
    /// drop((a, b));
    /// assert!(weak.upgrade().is_none()); // the value is gone
    /// ```
    pub fn upgrade(&self) -> Option<Arc<P>> {
        let (strong, _) = self.r.counts();
        let mut n = strong.load(Ordering::Relaxed);
        loop {
            let new = match n {
                0 => return None,
                LOCKED => 2,
                n if n > MAX_REFCOUNT => overflow(),
                n => n + 1,
            };
            // Acquire: the value was initialised before the first strong reference was
            // published; Relaxed on failure, we only retry.
            match counter::compare_exchange(strong, n, new, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => n = actual,
            }
        }
        Some(Arc { r: self.r.copy() })
    }

    /// How many `Arc`s point to the value (0 once it is dropped; a snapshot).
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<u32, 1> = ArcPool::new();
    ///
    /// let a = POOL.alloc(1).unwrap();
    /// let weak = Arc::downgrade(&a);
    /// assert_eq!(weak.strong_count(), 1);
    /// drop(a);
    /// assert_eq!(weak.strong_count(), 0);
    /// ```
    pub fn strong_count(&self) -> usize {
        self.r.strong_count()
    }

    /// How many `Weak`s point to the value, 0 once the value is dropped (as `std`'s;
    /// a snapshot).
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<u32, 1> = ArcPool::new();
    ///
    /// let a = POOL.alloc(1).unwrap();
    /// let weak = Arc::downgrade(&a);
    /// let other = weak.clone();
    /// assert_eq!(weak.weak_count(), 2);
    /// drop(a);
    /// assert_eq!(other.weak_count(), 0); // the value is gone
    /// ```
    pub fn weak_count(&self) -> usize {
        let (strong, weak) = self.r.counts();
        if strong.load(Ordering::Relaxed) == 0 {
            0
        } else {
            // Minus the `Arc`s' shared weak reference.
            weak.load(Ordering::Relaxed).saturating_sub(1)
        }
    }

    /// Whether the two point to the same block.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcPool};
    ///
    /// static POOL: ArcPool<u32, 2> = ArcPool::new();
    ///
    /// let (a, b) = (POOL.alloc(1).unwrap(), POOL.alloc(1).unwrap());
    /// let (weak_a, weak_b) = (Arc::downgrade(&a), Arc::downgrade(&b));
    /// assert!(weak_a.ptr_eq(&Arc::downgrade(&a)));
    /// assert!(!weak_a.ptr_eq(&weak_b)); // equal values, different blocks
    /// ```
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.r.inner == other.r.inner
    }
}

impl<P> Clone for Weak<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    fn clone(&self) -> Self {
        increment(self.r.counts().1);
        Self { r: self.r.copy() }
    }
}

impl<P> Drop for Weak<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    fn drop(&mut self) {
        // SAFETY: `self` is being dropped; its handle moves out once, here.
        let pool = unsafe { ManuallyDrop::take(&mut self.r.pool) };
        // Release: our reads of the counts happen before the block's next owner writes;
        // if we are the last, every other reference's last access to the block happens
        // before it goes back.
        if !decrement(self.r.counts().1) {
            return;
        }
        // SAFETY: the block came from a box of this pool (`Arc::from_box`), whose
        // payload `inner` is; the weak count reached zero with us, so nobody uses it any
        // more and it is rebuilt once, here. `Uninit`: the value was dropped or moved out
        // already. (No ownership check: `Arc::from_raw` made it when the pointer came
        // from outside.)
        drop(unsafe { Box::<P, Uninit>::from_block(crate::boxed::block_of(self.r.inner), pool) });
    }
}

impl<P> Deref for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    type Target = Value<P>;
    fn deref(&self) -> &Value<P> {
        // SAFETY: the value lives while an `Arc` does, and is only ever shared (except
        // through `get_mut`, which needs the only `Arc`, borrowed mutably).
        unsafe { &(*self.r.ptr().as_ptr()).value }
    }
}

impl<P> AsRef<Value<P>> for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    fn as_ref(&self) -> &Value<P> {
        self
    }
}

impl<P> fmt::Debug for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
    Value<P>: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Value::<P>::fmt(self, f)
    }
}

impl<P> fmt::Display for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
    Value<P>: fmt::Display,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Value::<P>::fmt(self, f)
    }
}

impl<P> fmt::Pointer for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&Self::as_ptr(self), f)
    }
}

impl<P> fmt::Debug for Weak<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(Weak)")
    }
}

impl<P> PartialEq for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
    Value<P>: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<P> Eq for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
    Value<P>: Eq,
{
}

impl<P> PartialOrd for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
    Value<P>: PartialOrd,
{
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        (**self).partial_cmp(&**other)
    }
}

impl<P> Ord for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
    Value<P>: Ord,
{
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (**self).cmp(&**other)
    }
}

impl<P> Hash for Arc<P>
where
    P: PoolHandle + Clone,
    P::Data: ArcBlock,
    Value<P>: Hash,
{
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

/// A pool of `N` blocks for [`Arc<&ArcPool<T, N>>`](Arc), storage included, ready in a
/// `static` (the instance form of [`arc_pool!`](crate::arc_pool!)). A `StaticPool` of
/// [`ArcInner<T>`] underneath.
///
/// ```
/// use blockpool::{Arc, ArcPool};
///
/// static POOL: ArcPool<u32, 2> = ArcPool::new();
/// let mut a = POOL.alloc(1).unwrap();
/// *Arc::get_mut(&mut a).unwrap() += 1; // the only reference: mutable
/// let b = a.clone();
/// assert!(Arc::get_mut(&mut a).is_none()); // shared now
/// assert_eq!(Arc::try_unwrap(a).unwrap_err(), b);
/// ```
pub struct ArcPool<T, const N: usize> {
    pool: StaticPool<ArcInner<T>, N>,
}

impl<T, const N: usize> ArcPool<T, N> {
    const_fn_unless_loom! {
        /// A pool with `N` free blocks. More blocks than the target's backend can name
        /// ([`Pool::MAX_BLOCKS`](crate::Pool::MAX_BLOCKS)) are a compile-time error, as
        /// for [`StaticPool::new`].
        ///
        /// # Examples
        /// ```
        /// use blockpool::ArcPool;
        ///
        /// // `const`: the pool and its blocks are all zeros, in `.bss`.
        /// static POOL: ArcPool<[u8; 64], 8> = ArcPool::new();
        /// assert_eq!(POOL.capacity(), 8);
        /// ```
        pub fn new() -> Self {
            Self { pool: StaticPool::new() }
        }
    }

    /// Moves `value` into a free block, as an `Arc` with one strong reference; gives
    /// `value` back when all `N` blocks are in use.
    ///
    /// # Errors
    /// `Err(value)` when all `N` blocks are in use: the value is not dropped.
    ///
    /// # Examples
    /// ```
    /// use blockpool::ArcPool;
    ///
    /// static POOL: ArcPool<u32, 1> = ArcPool::new();
    ///
    /// let a = POOL.alloc(1).unwrap();
    /// assert_eq!(POOL.alloc(2).unwrap_err(), 2); // all in use: the value comes back
    /// drop(a);
    /// assert_eq!(*POOL.alloc(3).unwrap(), 3);
    /// ```
    pub fn alloc(&'static self, value: T) -> Result<Arc<&'static Self>, T> {
        Arc::try_new_in(value, self)
    }

    /// Waits for a free block and moves `value` into it (feature `async`); see
    /// [`AllocFuture`](crate::AllocFuture) for wake-ups, the order waiters are served in, and cancellation
    /// (dropping the future drops `value`).
    ///
    /// # Examples
    /// ```
    /// use blockpool::ArcPool;
    ///
    /// static POOL: ArcPool<u32, 1> = ArcPool::new();
    ///
    /// let held = POOL.alloc(1).unwrap();
    /// let freer = std::thread::spawn(move || drop(held)); // frees the only block
    /// let a = futures_executor::block_on(POOL.alloc_async(2)); // waits for that free
    /// assert_eq!(*a, 2);
    /// freer.join().unwrap();
    /// ```
    #[cfg(feature = "async")]
    pub async fn alloc_async(&'static self, value: T) -> Arc<&'static Self> {
        let block = crate::AllocFuture::__new(self).await;
        Arc::from_box(block, value)
    }

    stats_methods! {
        over_static_pool;

        /// How many blocks the pool has: `N` (unlimited for a zero-sized `ArcInner`, which
        /// cannot be: it holds two counters).
        ///
        /// # Examples
        /// ```
        /// use blockpool::ArcPool;
        ///
        /// static POOL: ArcPool<u32, 3> = ArcPool::new();
        /// assert_eq!(POOL.capacity(), 3);
        /// ```
        fn capacity;

        /// A snapshot of the pool's statistics (feature `stats`); see [`Stats`](crate::Stats).
        ///
        /// # Examples
        /// ```
        /// use blockpool::{Arc, ArcPool};
        ///
        /// static POOL: ArcPool<u32, 4> = ArcPool::new();
        ///
        /// let a = POOL.alloc(1).unwrap();
        /// let weak = Arc::downgrade(&a);
        /// drop(a); // the value is dropped, but the `Weak` holds the block
        /// let stats = POOL.stats();
        /// assert_eq!((stats.capacity, stats.in_use, stats.high_water), (4, 1, 1));
        /// # drop(weak);
        /// ```
        fn stats;

        /// Sets the high-water mark to the number of blocks in use now (feature `stats`).
        ///
        /// # Examples
        /// ```
        /// use blockpool::ArcPool;
        ///
        /// static POOL: ArcPool<u32, 4> = ArcPool::new();
        ///
        /// let a = POOL.alloc(1).unwrap();
        /// drop(POOL.alloc(2).unwrap());
        /// assert_eq!(POOL.stats().high_water, 2);
        /// POOL.reset_high_water();
        /// assert_eq!(POOL.stats().high_water, 1); // `a` is still in use
        /// # drop(a);
        /// ```
        fn reset_high_water;
    }

    /// The `StaticPool` underneath.
    ///
    /// # Examples
    /// ```
    /// use blockpool::{Arc, ArcInner, ArcPool, StaticPool};
    ///
    /// static POOL: ArcPool<u32, 2> = ArcPool::new();
    ///
    /// let pool: &'static StaticPool<ArcInner<u32>, 2> = POOL.as_static_pool();
    /// assert_eq!(pool.capacity(), 2);
    /// // The same blocks, e.g. for `Arc`s whose handle is the `StaticPool`:
    /// let a: Arc<&StaticPool<ArcInner<u32>, 2>> = Arc::try_new_in(1, pool).unwrap();
    /// assert_eq!(*a, 1);
    /// ```
    pub fn as_static_pool(&self) -> &StaticPool<ArcInner<T>, N> {
        &self.pool
    }
}

impl<T, const N: usize> Default for ArcPool<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: forwarded to the `StaticPool` underneath, which upholds the contract.
crate::__forward_pool_handle! {
    // SAFETY: an `ArcPool`'s blocks all come from its own inner `StaticPool`.
    promise: unsafe { crate::__private::ForwardingPromise::new() },
    impl[T, const N: usize] for &'static ArcPool<T, N>, Data = ArcInner<T>, to |this| &this.pool
}

/// Declares a singleton pool of [`Arc`]s: a zero-sized type `A` whose `Arc<A>` (and
/// `Weak<A>`) is one pointer wide.
///
/// - `arc_pool!(A: T, blocks = N)`: `N` blocks of storage in a `static`, ready to use;
/// - `arc_pool!(A: T)`: grows from memory you give it (`A::grow`, `A::grow_exact` with
///   blocks of [`ArcInner<T>`]).
///
/// ```
/// use blockpool::{arc_pool, Arc, Weak};
///
/// arc_pool!(
///     /// Shared sensor readings.
///     pub Readings: [f32; 8], blocks = 4
/// );
///
/// let reading: Arc<Readings> = Readings::alloc([0.5; 8]).unwrap();
/// let weak: Weak<Readings> = Arc::downgrade(&reading);
/// assert_eq!(core::mem::size_of_val(&reading), core::mem::size_of::<usize>());
/// assert_eq!(weak.upgrade().unwrap()[7], 0.5);
/// ```
///
/// Attributes work as for [`pool!`](crate::pool!): docs go to the type, `#[cfg]` to every
/// item, `#[link_section]`/`#[used]` to the `static` holding the blocks (`blocks = N`
/// only); anything else is a compile error:
///
/// ```compile_fail
/// blockpool::arc_pool!(#[inline] A: u32, blocks = 2);
/// ```
///
/// ```compile_fail
/// // error: a grown pool has no storage of its own to place
/// blockpool::arc_pool!(#[link_section = ".pool_ram"] A: u32);
/// ```
///
/// # The singleton's functions
/// `A::alloc(value)`, `A::from_raw(ptr)`, `A::instance()` and, with the `async` feature,
/// `A::alloc_async(value)`; `A::grow` and `A::grow_exact` for `arc_pool!(A: T)`. They
/// are associated functions (`A::alloc(value)`, not `A.alloc(value)`) and do what the
/// same functions of [`ArcPool`] and [`Arc`] do with the pool behind `A`:
///
/// ```
/// use blockpool::{arc_pool, Arc, ArcInner, Block, StaticPool};
///
/// arc_pool!(Shared: [u8; 4], blocks = 1);
///
/// // `alloc`: an `Arc` holding the value; `Err(value)` when the pool is exhausted.
/// let first: Arc<Shared> = Shared::alloc([1; 4]).unwrap();
/// assert_eq!(Shared::alloc([2; 4]), Err([2; 4]));
///
/// // `from_raw`: the `Arc` that `Arc::into_raw` gave up.
/// let raw = Arc::into_raw(first);
/// // SAFETY: `raw` came from `into_raw` of an `Arc` of `Shared`, and is rebuilt once.
/// let first = unsafe { Shared::from_raw(raw) };
/// assert_eq!(first[3], 1);
///
/// // `instance`: the pool behind the type (a `StaticPool` of `ArcInner`s with
/// // `blocks = N`, a `Pool` without), e.g. for its `capacity()` or, with the `stats`
/// // feature, `stats()`.
/// let pool: &'static StaticPool<ArcInner<[u8; 4]>, 1> = Shared::instance();
/// assert_eq!(pool.capacity(), 1);
///
/// // `alloc_async` (feature `async`): waits for a free block.
/// # #[cfg(feature = "async")]
/// # {
/// drop(first);
/// let second = futures_executor::block_on(Shared::alloc_async([3; 4]));
/// assert_eq!(second[0], 3);
/// # }
///
/// // `grow` and `grow_exact`: a pool that grows from memory you give it.
/// arc_pool!(Grown: u32);
///
/// static mut MEMORY: [u8; 256] = [0; 256];
/// // SAFETY: this is the only reference ever made to `MEMORY`.
/// let added = Grown::grow(unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) });
/// assert!(added >= 1);
///
/// static mut BLOCKS: [Block<ArcInner<u32>>; 2] = [const { Block::new() }; 2];
/// // SAFETY: this is the only reference ever made to `BLOCKS`.
/// assert_eq!(Grown::grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) }), 2);
///
/// let all: Vec<Arc<Grown>> = std::iter::from_fn(|| Grown::alloc(7).ok()).collect();
/// assert_eq!(all.len(), added + 2);
/// ```
// As `pool!`'s, the docs of the items it declares name other items in code spans, not
// `$crate` intra-doc links, which rustdoc leaves unresolved in the invoking crate.
#[macro_export]
macro_rules! arc_pool {
    (@sorted [$($doc:tt)*] [$($cfg:tt)*] [$($place:tt)*]
        $vis:vis $name:ident : $data:ty $(, blocks = $blocks:expr)? $(,)?) => {
        $crate::__pool_singleton! {
            arc_pool {} [$($doc)*] [$($cfg)*] [$($place)*]
            $vis $name : $crate::ArcInner<$data> $(, blocks = $blocks)?;

            /// Moves `value` into a free block as an `Arc`; gives `value` back when the
            /// pool is exhausted.
            ///
            /// # Errors
            /// `Err(value)` when the pool is exhausted: the value is not dropped.
            ///
            /// # Examples
            /// In the docs of `blockpool::arc_pool!`, which show every function of a
            /// singleton.
            #[allow(dead_code)]
            $vis fn alloc(
                value: $data,
            ) -> ::core::result::Result<$crate::Arc<$name>, $data> {
                $crate::Arc::try_new_in(value, $name)
            }

            $crate::__if_async! {
                /// Waits for a free block and moves `value` into it (feature `async`); see
                /// `blockpool::AllocFuture` (dropping the future drops `value`).
                ///
                /// # Examples
                /// In the docs of `blockpool::arc_pool!`, which show every function of a
                /// singleton.
                #[allow(dead_code)]
                $vis async fn alloc_async(value: $data) -> $crate::Arc<$name> {
                    let block = $crate::AllocFuture::__new($name).await;
                    $crate::Arc::__from_block(block, value)
                }
            }

            /// Rebuilds an `Arc` from the pointer `Arc::into_raw` gave; see
            /// `blockpool::Arc::from_raw`.
            ///
            /// # Panics
            /// As `Arc::from_raw`: if its check finds that `ptr` is not a block of this
            /// pool.
            ///
            /// # Safety
            /// As for `Arc::from_raw` with this pool.
            ///
            /// # Examples
            /// In the docs of `blockpool::arc_pool!`, which show every function of a
            /// singleton.
            #[allow(dead_code)]
            $vis unsafe fn from_raw(ptr: ::core::ptr::NonNull<$data>) -> $crate::Arc<$name> {
                // SAFETY: forwarded: the caller's promise for this pool.
                unsafe { $crate::Arc::from_raw(ptr, $name) }
            }
        }
    };
    (@sorted $($input:tt)*) => {
        ::core::compile_error!(
            "arc_pool!: expected `[pub] Name: Type` or `[pub] Name: Type, blocks = N`"
        );
    };
    ($($input:tt)*) => {
        $crate::__sort_pool_attrs!(arc_pool [] [] [] $($input)*);
    };
}
