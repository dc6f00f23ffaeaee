//! The contenders: blockpool, its peers, two general allocators and the unprotected
//! Treiber reference, all behind one small trait.
//!
//! Every contender is used the cheapest way its API allows to get a block and write one
//! word into it in place: payloads that peers can only initialise by value are declared
//! `MaybeUninit<[u64; W]>` and "initialised" with `MaybeUninit::uninit()`, which copies
//! nothing. So 4 KiB blocks cost what 64-byte blocks cost for every pool, and the
//! numbers compare the free lists, not `memcpy`. (Initialising a 4 KiB value by copy
//! costs a few tens of ns more; see bench/README.md.)

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ptr::{self, addr_of_mut, NonNull};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::treiber::{Node, Treiber};

/// Blocks in every bounded pool (W2 keeps 1,000 of them out at once).
pub const BLOCKS: usize = 1024;

/// What a contender is, for the targets and the chart.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// blockpool itself, as a `pool!` singleton: the row the targets are checked on.
    Subject,
    /// blockpool through another of its APIs: shown, not ranked or checked.
    SubjectVariant,
    /// blockpool through thread-local caches (`pool!(…, thread_cache = C)`): checked on
    /// the caching targets (W1, W3, W4, W5), not ranked with the uncached rows.
    Cached,
    /// blockpool through one `LocalCache` (the no_std cache handle, owned by one
    /// context): single-thread workloads only; shown against the W1 caching target.
    Local,
    /// Another fixed-block pool: the targets compare blockpool against these.
    PoolPeer,
    /// A general-purpose allocator with thread-local caches.
    Allocator,
    /// The unprotected Treiber stack: the floor for a shared lock-free free list.
    Reference,
    /// No pool at all (W4 only): what the workload itself costs, the ring between the
    /// threads and each block's first word moving from the writer's core to the
    /// reader's. Not ranked.
    Floor,
}

/// One contender for one block size.
pub trait Contender: Send + Sync + 'static {
    /// What `alloc` hands out.
    type H: Send;
    /// Takes a block and writes `v` into its first word; `None` if the pool is empty.
    fn alloc(&self, v: u64) -> Option<Self::H>;
    /// Reads the first word of the block.
    fn read(&self, h: &Self::H) -> u64;
    /// Returns the block.
    fn free(&self, h: Self::H);
    /// Errors the contender detected itself (e.g. a free that its pool refused).
    fn errors(&self) -> u64 {
        0
    }
    /// Where `h`'s block lies among the pool's blocks, for a bounded pool whose free
    /// list keeps an order (`workloads::reset_order` puts it back in this order before
    /// each repetition); `None` for the others (allocators, growing pools).
    fn position(&self, _h: &Self::H) -> Option<usize> {
        None
    }
}

/// Marks a handle `Send` where the peer's guard type is not, though returning it from
/// another thread is sound (documented next to each use).
pub struct SendBox<T>(pub T);
// SAFETY: see each use.
unsafe impl<T> Send for SendBox<T> {}

#[inline(always)]
fn put(p: *mut u64, v: u64) {
    // SAFETY: callers pass a pointer to the first word of a block they own. Volatile,
    // so the store can never be optimised away together with the allocation.
    unsafe { ptr::write_volatile(p, v) }
}

#[inline(always)]
fn get(p: *const u64) -> u64 {
    // SAFETY: as for `put`.
    unsafe { ptr::read_volatile(p) }
}

/// The `Contender` methods of a peer whose handle is a box of one block: `alloc` writes
/// `v` into the box that `$take` (an `Option`) gives, `read` and `position` use the
/// box's pointer, and `free` drops it unless a `free` is given.
macro_rules! box_contender_methods {
    (|$this:ident| $take:expr $(, free = |$fthis:ident, $h:ident| $free:expr)?) => {
        #[inline]
        fn alloc(&self, v: u64) -> Option<Self::H> {
            let $this = self;
            let mut b = $take?;
            put(b.as_mut_ptr().cast(), v);
            Some(b)
        }
        #[inline]
        fn read(&self, h: &Self::H) -> u64 {
            get(h.as_ptr().cast())
        }
        box_contender_methods!(@free $(|$fthis, $h| $free)?);
        #[inline]
        fn position(&self, h: &Self::H) -> Option<usize> {
            Some(h.as_ptr() as usize)
        }
    };
    (@free) => {
        #[inline]
        fn free(&self, h: Self::H) {
            drop(h)
        }
    };
    (@free |$fthis:ident, $h:ident| $free:expr) => {
        #[inline]
        fn free(&self, $h: Self::H) {
            let $fthis = self;
            $free
        }
    };
}

// ---------------------------------------------------------------------------------------
// blockpool, through any pool handle: a `pool!` singleton (the subject: the targets are
// checked on this row; its boxes are one pointer) or an instance `Pool` (its boxes carry
// the pool's address: two words)

pub struct Blockpool<P>(P);

pub type Blockpool64 = Blockpool<BlockpoolPool64>;
pub type Blockpool4k = Blockpool<BlockpoolPool4k>;
pub type BlockpoolInstance<const W: usize> = Blockpool<&'static blockpool::Pool<[u64; W]>>;

/// `BLOCKS` fresh blocks for `grow_exact`.
fn blocks<const W: usize>() -> &'static mut [blockpool::Block<[u64; W]>] {
    let memory: Vec<blockpool::Block<[u64; W]>> =
        (0..BLOCKS).map(|_| blockpool::Block::new()).collect();
    memory.leak()
}

/// `Ok` if `grow_exact` took all `BLOCKS` blocks.
fn took_all(n: usize) -> Result<(), String> {
    if n == BLOCKS {
        Ok(())
    } else {
        Err(format!("grow_exact took {n} of {BLOCKS} blocks"))
    }
}

/// The thread cache of the cached rows: a refill or a flush moves 32 blocks.
pub const THREAD_CACHE: usize = 64;

macro_rules! blockpool_singleton {
    ($pool:ident, $w:expr $(, $cache:expr)?) => {
        blockpool::pool!(pub $pool: [u64; $w] $(, thread_cache = $cache)?);

        impl Blockpool<$pool> {
            pub fn new() -> Result<Self, String> {
                static DONE: std::sync::Once = std::sync::Once::new();
                let mut result = Err("blockpool singleton already created".to_string());
                DONE.call_once(|| {
                    result = took_all($pool::grow_exact(blocks::<$w>())).map(|()| Blockpool($pool))
                });
                result
            }
        }
    };
}
blockpool_singleton!(BlockpoolPool64, 8);
blockpool_singleton!(BlockpoolPool4k, 512);
blockpool_singleton!(BlockpoolCachedPool64, 8, THREAD_CACHE);
blockpool_singleton!(BlockpoolCachedPool4k, 512, THREAD_CACHE);

pub type BlockpoolCached64 = Blockpool<BlockpoolCachedPool64>;
pub type BlockpoolCached4k = Blockpool<BlockpoolCachedPool4k>;

impl<const W: usize> BlockpoolInstance<W> {
    pub fn new() -> Result<Self, String> {
        let pool: &'static blockpool::Pool<[u64; W]> = Box::leak(Box::new(blockpool::Pool::new()));
        took_all(pool.grow_exact(blocks::<W>())).map(|()| Blockpool(pool))
    }
}

impl<P, const W: usize> Contender for Blockpool<P>
where
    P: blockpool::PoolHandle<Data = [u64; W]> + Copy + Send + Sync + 'static,
{
    type H = blockpool::Box<P, blockpool::Uninit>;
    box_contender_methods!(|this| blockpool::Box::alloc_in(this.0));
}

/// blockpool through a `LocalCache` of `THREAD_CACHE` blocks in front of an instance
/// `Pool`: the cache handle a firmware task or a worker thread owns.
pub struct BlockpoolLocal<const W: usize> {
    cache: std::cell::UnsafeCell<
        blockpool::LocalCache<&'static blockpool::Pool<[u64; W]>, THREAD_CACHE>,
    >,
}

// SAFETY: a `LocalCache` is `Send`; this row runs the single-thread workloads only
// (`main.rs` skips the others for `Kind::Local`), and cells run one at a time, so no two
// threads ever use the cache at once (thread spawn and join order the uses).
unsafe impl<const W: usize> Sync for BlockpoolLocal<W> {}

impl<const W: usize> BlockpoolLocal<W> {
    pub fn new() -> Result<Self, String> {
        let pool: &'static blockpool::Pool<[u64; W]> = Box::leak(Box::new(blockpool::Pool::new()));
        took_all(pool.grow_exact(blocks::<W>()))?;
        Ok(Self {
            cache: std::cell::UnsafeCell::new(pool.local_cache()),
        })
    }

    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    fn cache(
        &self,
    ) -> &mut blockpool::LocalCache<&'static blockpool::Pool<[u64; W]>, THREAD_CACHE> {
        // SAFETY: one user at a time (see the `Sync` impl), and no reference outlives a call.
        unsafe { &mut *self.cache.get() }
    }
}

impl<const W: usize> Contender for BlockpoolLocal<W> {
    type H = blockpool::Box<&'static blockpool::Pool<[u64; W]>, blockpool::Uninit>;
    box_contender_methods!(
        |this| this.cache().alloc(),
        free = |this, h| this.cache().free(h)
    );
}

// ---------------------------------------------------------------------------------------
// heapless 0.9 (`box_pool!` singletons: one per block size)

macro_rules! heapless09_contender {
    ($ty:ident, $pool:ident, $w:expr) => {
        heapless09::box_pool!($pool: MaybeUninit<[u64; $w]>);

        pub struct $ty;

        impl $ty {
            pub fn new() -> Result<Self, String> {
                static DONE: std::sync::Once = std::sync::Once::new();
                DONE.call_once(|| {
                    let blocks: Vec<heapless09::pool::boxed::BoxBlock<MaybeUninit<[u64; $w]>>> =
                        (0..BLOCKS).map(|_| heapless09::pool::boxed::BoxBlock::new()).collect();
                    for block in blocks.leak() {
                        $pool.manage(block);
                    }
                });
                Ok($ty)
            }
        }

        impl Contender for $ty {
            type H = heapless09::pool::boxed::Box<$pool>;
            box_contender_methods!(|_this| $pool.alloc(MaybeUninit::uninit()).ok());
        }
    };
}
heapless09_contender!(Heapless09_64, H09Pool64, 8);
heapless09_contender!(Heapless09_4k, H09Pool4k, 512);

// ---------------------------------------------------------------------------------------
// heapless 0.7 (instance `Pool`, `x86-sync-pool`). Its x86_64 pointers are 32-bit offsets
// from an anchor (the first block ever given to any 0.7 pool), so its memory must lie
// within +-2 GiB of that: static arrays, side by side in .bss, rather than heap memory.

const H07_BYTES_64: usize = BLOCKS * (64 + 8) + 64;
const H07_BYTES_4K: usize = BLOCKS * (4096 + 8) + 64;
static mut H07_MEMORY_64: [u8; H07_BYTES_64] = [0; H07_BYTES_64];
static mut H07_MEMORY_4K: [u8; H07_BYTES_4K] = [0; H07_BYTES_4K];

pub struct Heapless07<const W: usize> {
    pool: &'static heapless07::pool::Pool<MaybeUninit<[u64; W]>>,
}

impl<const W: usize> Heapless07<W> {
    pub fn new() -> Result<Self, String> {
        static DONE_64: std::sync::Once = std::sync::Once::new();
        static DONE_4K: std::sync::Once = std::sync::Once::new();
        let (done, memory) = match W {
            // SAFETY: each static is borrowed exactly once (guarded by its `Once`).
            8 => (&DONE_64, unsafe { &mut *addr_of_mut!(H07_MEMORY_64) }
                as &'static mut [u8]),
            512 => (&DONE_4K, unsafe { &mut *addr_of_mut!(H07_MEMORY_4K) }
                as &'static mut [u8]),
            _ => return Err("heapless 0.7: only 64-byte and 4 KiB blocks are set up".into()),
        };
        let mut result = Err("heapless 0.7 pool already created".to_string());
        done.call_once(|| {
            let pool: &'static heapless07::pool::Pool<MaybeUninit<[u64; W]>> =
                Box::leak(Box::new(heapless07::pool::Pool::new()));
            let n = pool.grow(memory);
            result = if n >= BLOCKS {
                Ok(Self { pool })
            } else {
                Err(format!("grow took {n} of {BLOCKS} blocks"))
            };
        });
        result
    }
}

impl<const W: usize> Contender for Heapless07<W> {
    type H = heapless07::pool::Box<MaybeUninit<[u64; W]>>;
    // 0.7's instance boxes do not return themselves when dropped: `free` gives them back.
    box_contender_methods!(
        |this| this.pool.alloc().map(|b| b.init(MaybeUninit::uninit())),
        free = |this, h| this.pool.free(h)
    );
}

// ---------------------------------------------------------------------------------------
// embassy atomic-pool (`pool!` singletons: a bitmap of `AtomicU32`s)

macro_rules! atomic_pool_contender {
    ($ty:ident, $pool:ident, $w:expr) => {
        atomic_pool::pool!(pub $pool: [MaybeUninit<[u64; $w]>; BLOCKS]);

        pub struct $ty;

        impl $ty {
            pub fn new() -> Result<Self, String> {
                Ok($ty)
            }
        }

        impl Contender for $ty {
            type H = atomic_pool::Box<$pool>;
            box_contender_methods!(|_this| atomic_pool::Box::<$pool>::new(MaybeUninit::uninit()));
        }
    };
}
atomic_pool_contender!(AtomicPool64, AtomicPoolStorage64, 8);
atomic_pool_contender!(AtomicPool4k, AtomicPoolStorage4k, 512);

// ---------------------------------------------------------------------------------------
// lockfree-object-pool (`LinearObjectPool`: pages of 32 objects with an `AtomicU32` mask)

/// An object of a `LinearObjectPool`. At 64 bytes the object is the array itself; at
/// 4 KiB it is a `Box` of it, because with an inline `[u8; 4096]` the crate's page
/// constructor (32 objects, built on the stack) is inlined into every `pull()`, which then
/// probes a 128 KiB stack frame on every call (~300 ns): not how anyone would use it.
pub trait LfObject: Send + Sync + 'static {
    fn make() -> Self;
    fn word(&mut self) -> *mut u64;
    fn word_ref(&self) -> *const u64;
}
impl LfObject for [u64; 8] {
    fn make() -> Self {
        [0; 8]
    }
    #[inline]
    fn word(&mut self) -> *mut u64 {
        self.as_mut_ptr()
    }
    #[inline]
    fn word_ref(&self) -> *const u64 {
        self.as_ptr()
    }
}
impl LfObject for Box<[u64; 512]> {
    fn make() -> Self {
        Box::new([0; 512])
    }
    #[inline]
    fn word(&mut self) -> *mut u64 {
        self.as_mut_ptr()
    }
    #[inline]
    fn word_ref(&self) -> *const u64 {
        self.as_ptr()
    }
}

pub struct LockfreeObjectPool<O: LfObject> {
    pool: &'static lockfree_object_pool::LinearObjectPool<O>,
}

impl<O: LfObject> LockfreeObjectPool<O> {
    pub fn new() -> Result<Self, String> {
        let pool = Box::leak(Box::new(lockfree_object_pool::LinearObjectPool::new(
            O::make,
            |_| {},
        )));
        // Create the objects up front (it creates them lazily, and never frees them).
        let held: Vec<_> = (0..BLOCKS).map(|_| pool.pull()).collect();
        drop(held);
        Ok(Self { pool })
    }
}

impl<O: LfObject> Contender for LockfreeObjectPool<O> {
    // SAFETY (Send): dropping the guard on another thread only runs the (empty) reset
    // closure and an atomic `fetch_or` on its page's mask; nothing is thread-bound.
    type H = SendBox<lockfree_object_pool::LinearReusable<'static, O>>;
    #[inline]
    fn alloc(&self, v: u64) -> Option<Self::H> {
        let mut g = self.pool.pull();
        put(g.word(), v);
        Some(SendBox(g))
    }
    #[inline]
    fn read(&self, h: &Self::H) -> u64 {
        get(h.0.word_ref())
    }
    #[inline]
    fn free(&self, h: Self::H) {
        drop(h)
    }
}

// ---------------------------------------------------------------------------------------
// sharded-slab (`Pool`: per-thread shards, objects reused in place)

pub struct Slot<const W: usize>([u64; W]);
impl<const W: usize> Default for Slot<W> {
    fn default() -> Self {
        Slot([0; W])
    }
}
impl<const W: usize> sharded_slab::Clear for Slot<W> {
    fn clear(&mut self) {}
}

pub struct ShardedSlab<const W: usize> {
    pool: &'static sharded_slab::Pool<Slot<W>>,
    errors: AtomicU64,
}

impl<const W: usize> ShardedSlab<W> {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            pool: Box::leak(Box::new(sharded_slab::Pool::new())),
            errors: AtomicU64::new(0),
        })
    }
}

impl<const W: usize> Contender for ShardedSlab<W> {
    // The key, and a pointer to the slot's data: valid until `clear(key)`, which only
    // this handle's owner calls (so `read` needs no `get(key)` guard).
    type H = (usize, SendBox<*mut u64>);
    #[inline]
    fn alloc(&self, v: u64) -> Option<Self::H> {
        let mut g = self.pool.create()?;
        let p = g.0.as_mut_ptr();
        put(p, v);
        let key = g.key();
        drop(g);
        Some((key, SendBox(p)))
    }
    #[inline]
    fn read(&self, h: &Self::H) -> u64 {
        get(h.1 .0)
    }
    #[inline]
    fn free(&self, h: Self::H) {
        if !self.pool.clear(h.0) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------
// crossbeam `ArrayQueue` of free block indices

struct Blocks<const W: usize>(Box<[UnsafeCell<[u64; W]>]>);
// SAFETY: a block is only touched by the holder of its index, which the queue hands out
// to one owner at a time.
unsafe impl<const W: usize> Sync for Blocks<W> {}

pub struct ArrayQueueList<const W: usize> {
    free: crossbeam_queue::ArrayQueue<u32>,
    blocks: Blocks<W>,
    errors: AtomicU64,
}

impl<const W: usize> ArrayQueueList<W> {
    pub fn new() -> Result<Self, String> {
        let free = crossbeam_queue::ArrayQueue::new(BLOCKS);
        for i in 0..BLOCKS as u32 {
            free.push(i).map_err(|_| "ArrayQueue: push refused")?;
        }
        let blocks = Blocks((0..BLOCKS).map(|_| UnsafeCell::new([0; W])).collect());
        Ok(Self {
            free,
            blocks,
            errors: AtomicU64::new(0),
        })
    }
}

impl<const W: usize> Contender for ArrayQueueList<W> {
    type H = u32;
    #[inline]
    fn alloc(&self, v: u64) -> Option<u32> {
        let i = self.free.pop()?;
        put(self.blocks.0[i as usize].get().cast(), v);
        Some(i)
    }
    #[inline]
    fn read(&self, h: &u32) -> u64 {
        get(self.blocks.0[*h as usize].get().cast())
    }
    #[inline]
    fn position(&self, h: &u32) -> Option<usize> {
        Some(*h as usize)
    }
    #[inline]
    fn free(&self, h: u32) {
        if self.free.push(h).is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------
// General allocators, called directly through `GlobalAlloc` (not installed globally).

pub struct Alloc<A: GlobalAlloc + Send + Sync + 'static, const W: usize>(pub A);

impl<A: GlobalAlloc + Send + Sync + 'static, const W: usize> Contender for Alloc<A, W> {
    type H = SendBox<NonNull<u64>>;
    #[inline]
    fn alloc(&self, v: u64) -> Option<Self::H> {
        // SAFETY: non-zero size.
        let p = unsafe { self.0.alloc(Layout::new::<[u64; W]>()) }.cast::<u64>();
        let p = NonNull::new(std::hint::black_box(p))?;
        put(p.as_ptr(), v);
        Some(SendBox(p))
    }
    #[inline]
    fn read(&self, h: &Self::H) -> u64 {
        get(h.0.as_ptr())
    }
    #[inline]
    fn free(&self, h: Self::H) {
        // SAFETY: allocated above with this layout.
        unsafe {
            self.0
                .dealloc(h.0.as_ptr().cast(), Layout::new::<[u64; W]>())
        }
    }
}

// ---------------------------------------------------------------------------------------
// The unprotected Treiber stack (reference limit)

pub struct TreiberRef<const W: usize> {
    stack: &'static Treiber<[u64; W]>,
}

impl<const W: usize> TreiberRef<W> {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            stack: Treiber::with_blocks(BLOCKS),
        })
    }
}

impl<const W: usize> Contender for TreiberRef<W> {
    type H = SendBox<NonNull<Node<[u64; W]>>>;
    #[inline]
    fn alloc(&self, v: u64) -> Option<Self::H> {
        let n = self.stack.alloc()?;
        put(Treiber::data(n).cast(), v);
        Some(SendBox(n))
    }
    #[inline]
    fn read(&self, h: &Self::H) -> u64 {
        get(Treiber::data(h.0).cast())
    }
    #[inline]
    fn position(&self, h: &Self::H) -> Option<usize> {
        Some(h.0.as_ptr() as usize)
    }
    #[inline]
    fn free(&self, h: Self::H) {
        // SAFETY: the node came from this stack and its handle is consumed.
        unsafe { self.stack.free(h.0) }
    }
}

// ---------------------------------------------------------------------------------------
// W4's floor: no pool

/// W4 without a pool: `alloc` hands out the `NO_POOL_BLOCKS` blocks of one array in
/// turn and `free` does nothing. Valid only where one thread allocates and fewer than
/// `NO_POOL_BLOCKS` blocks are out at once, so that a block is reused only after its
/// reader is done: W4, whose ring holds 256 (`main.rs` runs this row on W4 only). The
/// producer reuses block `k - NO_POOL_BLOCKS` at its `k`th allocation, after it has seen
/// (acquire) the consumer move past item `k - 257`, which the consumer read first.
/// 512 blocks in turn: about as many as a cached pool cycles through in W4 (the ring's
/// 256 and the caches' and the depot's), so that the row's memory footprint is not
/// larger than the pools'.
const NO_POOL_BLOCKS: usize = 512;

pub struct NoPool<const W: usize> {
    blocks: &'static [UnsafeCell<[u64; W]>],
    /// The next block's index; written by the one allocating thread only.
    next: AtomicUsize,
}

// SAFETY (both): a block is written by the allocating thread and read by the freeing
// thread in the order the W4 ring establishes (above); `next` is atomic.
unsafe impl<const W: usize> Sync for NoPool<W> {}
unsafe impl<const W: usize> Send for NoPool<W> {}

impl<const W: usize> NoPool<W> {
    pub fn new() -> Result<Self, String> {
        let blocks: Vec<UnsafeCell<[u64; W]>> = (0..NO_POOL_BLOCKS)
            .map(|_| UnsafeCell::new([0; W]))
            .collect();
        Ok(Self {
            blocks: blocks.leak(),
            next: AtomicUsize::new(0),
        })
    }
}

impl<const W: usize> Contender for NoPool<W> {
    type H = SendBox<NonNull<u64>>;
    #[inline]
    fn alloc(&self, v: u64) -> Option<Self::H> {
        // One allocating thread: a plain load and store, no read-modify-write.
        let next = self.next.load(Ordering::Relaxed);
        self.next.store(next + 1, Ordering::Relaxed);
        let block = NonNull::new(self.blocks[next % NO_POOL_BLOCKS].get().cast::<u64>())?;
        put(block.as_ptr(), v);
        Some(SendBox(block))
    }
    #[inline]
    fn read(&self, h: &Self::H) -> u64 {
        get(h.0.as_ptr())
    }
    #[inline]
    fn free(&self, _h: Self::H) {}
}
