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
//! - [`Heap`]: a heap for `alloc` (`Vec`, `Box`, `String`, `BTreeMap`), usable as the
//!   `#[global_allocator]`: size classes, each a free list of the same kind, over an
//!   arena in `.bss`; lock-free and interrupt-safe where the pools are. See the
//!   [`heap`] module for its policy, guarantees and measured costs.
//!
//! The block pools hand out [`Box`]es, which start [`Uninit`] and become [`Init`] with
//! [`Box::init`] (or in place, with [`Box::as_uninit_mut`] and [`Box::assume_init`]).
//! A box returns its block to the pool when dropped. Zero-sized types need no memory:
//! their pools never run out. All kinds share one free list (below), so they share its
//! guarantees per target.
//!
//! ## Singleton pools: `pool!`
//! ```
//! use blockpool::{pool, Box};
//!
//! pool!(Packets: [u8; 128], blocks = 16);
//!
//! let packet: Box<Packets> = Packets::alloc_value([0; 128]).unwrap();
//! assert_eq!(core::mem::size_of_val(&packet), core::mem::size_of::<usize>());
//! ```
//!
//! ## Scoped pools: no `static` at all
//! A [`ScopedPool`] borrows its buffer and its boxes borrow the pool, so the borrow
//! checker rules out a box outliving the pool or the buffer being touched while the pool
//! lives (see its docs for the `compile_fail` cases):
//! ```
//! use blockpool::{Block, ScopedPool};
//!
//! let mut blocks = [const { Block::<[u32; 8]>::new() }; 4];
//! let pool = ScopedPool::new(&mut blocks);
//! let a = pool.alloc_value([1; 8]).unwrap();
//! std::thread::scope(|s| {
//!     s.spawn(|| assert_eq!(pool.alloc_value([2; 8]).unwrap()[0], 2));
//! });
//! assert_eq!(a[7], 1);
//! ```
//!
//! ## Object pools: values kept between uses
//! ```
//! use blockpool::ObjectPool;
//!
//! static RX: ObjectPool<[u8; 64], 4> = ObjectPool::new([0; 64]);
//!
//! let mut buffer = RX.request().unwrap(); // a copy of the initial value, made once
//! buffer[0] = 0xA5;
//! drop(buffer); // back to the pool; the value is not dropped
//! assert_eq!(RX.request().unwrap()[0], 0xA5);
//! ```
//!
//! ## Arc pools: shared values, with `Weak`
//! The value is dropped with the last [`Arc`]; the block goes back with the last `Arc`
//! *and* [`Weak`]. Reference counts are atomic (critical sections on targets without
//! atomic read-modify-write), and nothing ever waits: [`Arc::get_mut`] does not block a
//! concurrent [`Weak::upgrade`] or [`Arc::downgrade`], unlike `std`'s.
//! ```
//! use blockpool::{arc_pool, Arc};
//!
//! arc_pool!(Config: [u16; 8], blocks = 2);
//!
//! let mut config: Arc<Config> = Config::alloc([0; 8]).unwrap();
//! Arc::get_mut(&mut config).unwrap()[0] = 42; // unique: mutable
//! let weak = Arc::downgrade(&config);
//! let shared = weak.upgrade().unwrap();
//! assert_eq!((Arc::strong_count(&config), shared[0]), (2, 42));
//! ```
//!
//! ## Raw pointers
//! [`Box::into_raw`] and [`Box::from_raw`] (and [`Arc::into_raw`]/[`Arc::from_raw`])
//! pass a block through C code, DMA descriptors or a queue of raw pointers. The ABA
//! protection does not depend on the pointer: nothing is reset by a round trip. Every
//! build checks that `from_raw` gets a block of the right pool where that is cheap.
//! ```
//! use blockpool::pool;
//!
//! pool!(Descriptors: [u32; 4], blocks = 2);
//! let raw = Descriptors::alloc_value([1, 2, 3, 4]).unwrap().into_raw();
//! // SAFETY: `raw` came from `into_raw` of a box of `Descriptors`, rebuilt once.
//! let back = unsafe { Descriptors::from_raw(raw) };
//! assert_eq!(back[3], 4);
//! ```
//!
//! ## Code generic over a pool
//! A function that takes "a pool of `T`" bounds its handle on
//! [`PoolHandle<Data = T>`](PoolHandle), which `&Pool<T>`, `&'static StaticPool<T, N>`,
//! `&ScopedPool<'_, T>` and every `pool!` type implement, allocates with
//! [`Box::alloc_in`] or [`Box::alloc_value_in`], and frees by dropping the box; the
//! trait's docs have an example used with two pool kinds.
//!
//! ## Statistics (feature `stats`)
//! Every pool kind has `stats()` (`Stats`: capacity, blocks in use,
//! high-water mark, allocation failures) and `reset_high_water()`, readable from any
//! context at any time; with the `defmt` feature `Stats` is `defmt::Format`. The cost is
//! one atomic read-modify-write per allocation and per free (measured with
//! `benches/free_list.rs`, 64-byte blocks, x86_64 host: 9.9 → 10.2–10.4 ns per
//! alloc+free pair, +3–5 %; 11.6–11.8 → 14.2–14.7 µs per 1,000 allocs + 1,000 frees,
//! about +1.3 ns per operation, +23 %).
//! ```
//! # #[cfg(feature = "stats")]
//! # {
//! use blockpool::StaticPool;
//!
//! static POOL: StaticPool<u64, 4> = StaticPool::new();
//! let held = POOL.alloc_value(1).unwrap();
//! let stats = POOL.stats();
//! assert_eq!((stats.capacity, stats.in_use, stats.high_water), (4, 1, 1));
//! # drop(held);
//! # }
//! ```
//!
//! ## Waiting for a free block (feature `async`)
//! `alloc_async()` and `alloc_value_async(value)` (on [`Pool`], [`StaticPool`],
//! [`ScopedPool`], `pool!` singletons), and `alloc_async(value)` on [`ArcPool`] and
//! `arc_pool!` singletons,
//! returns an `AllocFuture` that completes when a block is free,
//! woken by whichever context frees one: a thread, an interrupt handler, a signal
//! handler. The rules a waiter can rely on (`AllocFuture` has the details):
//! - **Any number of waiters sleep**: the queue lives in the futures themselves; none
//!   polls itself again while it waits.
//! - **One wake per free, first come, first served**: a free wakes the longest waiter
//!   only, and a waiter that gets its block hands the next free one to the next waiter.
//!   A synchronous `alloc` does not queue, and may take a freed block first.
//! - **Wakers are woken in the freeing context**: a free in an interrupt or signal
//!   handler wakes the first waiter's [`Waker`](core::task::Waker) right there, so the
//!   executor's wakers must be safe to wake in that context (no lock, no allocation:
//!   e.g. a waker that sets an atomic flag, as embedded executors' wakers do).
//! - **Cancellation-safe**: a dropped future leaves the queue and passes its turn on.
//! - No executor dependency; the queue is guarded by a critical section in `poll` and
//!   `drop` (never in a free), so the final binary needs a `critical-section`
//!   implementation (embassy firmware has one; on a host, `critical-section`'s `std`
//!   feature).
//! ```
//! # #[cfg(feature = "async")]
//! # {
//! use blockpool::StaticPool;
//!
//! static POOL: StaticPool<[u8; 32], 1> = StaticPool::new();
//! let held = POOL.alloc().unwrap();
//! let freer = std::thread::spawn(move || drop(held));
//! let block = futures_executor::block_on(POOL.alloc_async()); // waits for the free
//! # drop(block);
//! # freer.join().unwrap();
//! # }
//! ```
//!
//! ## Caches: scaling across cores
//! One shared free list is as fast as an unprotected Treiber stack on one thread, but
//! every alloc and free of every thread then moves the list's head between cores. A
//! cache keeps free blocks for one context, so its alloc and free write no shared
//! cache line (without the `stats` feature), and it exchanges blocks with the shared list in **batches** (half its
//! capacity, one CAS per batch). Two forms (the module `src/cache/` has the design):
//! - [`LocalCache`] (every target, no_std): a cache handle that one context owns (one
//!   per core on a dual-core MCU, per RTOS task, per worker thread): `!Sync`, used
//!   through `&mut`, so two contexts can never share one.
//! - `pool!(A: T, blocks = N, thread_cache = C)` (feature `std`): a cache of up to `C`
//!   blocks per thread behind `A::alloc()` and the drop of `Box<A>`; a box freed on
//!   another thread goes into that thread's cache; a thread's exit returns its blocks;
//!   `A::flush_thread_cache()` does it at once.
//!
//! ```
//! use blockpool::{LocalCache, StaticPool};
//!
//! static PACKETS: StaticPool<[u8; 256], 128> = StaticPool::new();
//!
//! std::thread::scope(|s| {
//!     for worker in 0..4u8 {
//!         s.spawn(move || {
//!             let mut cache: LocalCache<_, 16> = PACKETS.local_cache(); // one per worker
//!             for _ in 0..1000 {
//!                 let packet = cache.alloc_value([worker; 256]).unwrap();
//!                 assert_eq!(packet[255], worker);
//!                 cache.free(packet); // back into this worker's cache
//!             }
//!         }); // dropping the cache returns its blocks
//!     }
//! });
//! ```
//!
//! - **Stranding rule**: cached blocks are free but invisible to other contexts, so a
//!   pool can report exhaustion while up to `C` blocks sit in each cache (`C ×` caches
//!   in all, plus `2 C` in transit between a pool's thread-local caches). An allocation that finds the pool empty raises a *flush request*; every
//!   cache returns all its blocks at its next alloc or free, so a retry succeeds once
//!   the others have run. `stats().cached` (feature `stats`) counts cached blocks.
//! - **Signal-safety rule**: a thread-local cache is marked busy during each operation;
//!   a signal handler that interrupts one finds the mark and uses the shared list, so it
//!   neither waits nor sees a half-updated cache. A thread's first cached operation
//!   registers its exit flush with `std` (which may allocate): do it in thread mode, not
//!   first in a signal handler.
//! - On the LL/SC backend (Cortex-M3/M4/M7/M33) a batch push is one `strex`; a batch pop
//!   is still one `ldrex`/`strex` per block.
//!
//! # Cargo features
//! - `stats`: pool statistics (see above).
//! - `std`: thread-local caches for `pool!` singletons (`thread_cache = C`, see
//!   "Caches"); the no_std [`LocalCache`] needs no feature.
//! - `defmt`: `defmt::Format` for `Stats` (implies `stats`).
//! - `async`: `alloc_async()` (see above). Costs a SeqCst fence and a load per free
//!   (same bench: +0.3–0.4 ns per pair; about +2 ns per free in the 1,000 batch).
//! - `portable-atomic`: the counters (statistics, `Arc` counts, the async wait) use
//!   `portable-atomic`'s types, so on targets without atomic read-modify-write
//!   (thumbv6m, riscv32imc) they use its implementation (its `critical-section` or
//!   `unsafe-assume-single-core` feature, chosen by the firmware) rather than
//!   blockpool's own critical sections. The free list's backend does not change.
//! - `allocator-api2`: `allocator_api2::alloc::Allocator` for `&`[`Heap`], so a
//!   collection can draw from one heap instance (see the [`heap`] module).
//! - `single-core`: for single-core parts; leaves out the `dmb` barriers of the ARM
//!   LL/SC backend's pop and push (one instruction each), and on Cortex-M makes the
//!   push try once with its link stored inside the exclusive window before its retry
//!   loop (3 instructions fewer; argued in `src/free_list/pointer_stack/arm_llsc.rs`).
//!   A core sees its own accesses in program order, interrupt handlers included; a
//!   second core, or a DMA engine reading a block after it changed hands, needs the
//!   barriers, so the default keeps them. Enable it in the firmware crate (like
//!   `cortex-m`'s `critical-section-single-core`), never in a library. No effect on
//!   other backends.
//!
//! # Guarantees per target
//! This table is the one list of targets and guarantees; the README and the sources
//! link here. The free list is a Treiber stack everywhere; how a pop is protected
//! against ABA is chosen per target at compile time (`build.rs`; one file per backend
//! in `src/free_list/`, the two pointer backends in `src/free_list/pointer_stack/`;
//! [`BACKEND`] says which one was compiled):
//!
//! | backend (`build.rs` picks it when …) | targets (each built in CI: `scripts/firmware.sh`; † also run under QEMU) | mechanism | lock-free | interrupt/signal-safe | bounded time | header per block |
//! |---|---|---|---|---|---|---|
//! | `tagged_index` (the target has a 64-bit CAS) | x86_64, aarch64, i686 (hosts: the test suite), riscv64, … | one 64-bit head word naming the top block: 24-bit index + that block's 40-bit version | yes | yes | no (a CAS may retry while others succeed) | 16 bytes |
//! | `arm_llsc` (32-bit ARM, and `ldrex`/`strex`/`clrex`/`dmb` assemble for the target: a compile probe, or the target's name when the probe cannot run) | ARMv7-M (thumbv7m †), ARMv7E-M (thumbv7em †), ARMv8-M mainline (thumbv8m.main) and **baseline** (thumbv8m.base †, run on a Cortex-M33, which executes v8-M baseline code), ARMv7-A/R | `ldrex`/`strex` in `asm!`, `next` read inside the exclusive window, `clrex` on empty (A/R-profile; on Cortex-M exception entry and return clear the monitor), `dmb` (left out with the `single-core` feature, whose push on Cortex-M first tries once with its link stored inside the window) | yes | yes | no (a `strex` may retry after an interrupt) | 4 bytes |
//! | `critical_section` (neither) | thumbv6m † (ARMv6-M has no exclusives), riscv32imc † (no atomic read-modify-write), riscv32imac † (see below), others | [`critical_section`] around each pop/push | **no** | yes, with a single-core critical-section implementation (interrupts masked); a lock-based one (multi-core, `std`) is thread-safe only | yes, O(1) with interrupts off | 4 bytes |
//!
//! - The header is the free-list link in front of each payload (see "Memory layout"):
//!   a [`Block<T>`] is the header rounded up to `T`'s alignment, then `T` (a 4096-aligned
//!   page costs 4096 bytes of header). heapless 0.9.4 has the same 4-byte link on ARM.
//! - `BLOCKPOOL_BACKEND=tagged_index|arm_llsc|critical_section` in the build's
//!   environment overrides the choice (a backend the target cannot compile is a compile
//!   error, never a silent fallback).
//! - riscv32imac has `lr.w`/`sc.w`, but stays on the critical-section backend: the pop
//!   must load the top block's `next` between its `lr.w` and its `sc.w`, and the ISA
//!   gives LR/SC its forward-progress guarantee only for "constrained" sequences, which
//!   contain no other loads or stores; with that load the sequence is unconstrained, and
//!   an implementation may let its `sc.w` fail for ever. A pointer CAS (`amocas` is not
//!   in `imac`) would need a tag to be ABA-safe, and rv32 has no 64-bit CAS for one.
//! - On the 64-bit CAS backend a pool holds at most [`Pool::MAX_BLOCKS`] (2^24 - 1)
//!   blocks, anywhere in the address space; a block's version lives in its header, is
//!   never reset, and would need 2^40 allocs and frees of that one block during one
//!   stalled pop to repeat. On the others the number of blocks is unlimited.
//! - No backend ever falls back to a lock behind your back, and no backend needs
//!   nightly Rust or a 128-bit CAS.
//! - A target on the critical-section backend needs an implementation of
//!   [`critical_section`] linked in, e.g. `cortex-m`'s `critical-section-single-core`
//!   feature on thumbv6m, or `riscv`'s `critical-section-single-hart`.
//! - Every pool's storage starts all zeros on every backend, so a `static` pool lands in
//!   `.bss` (no flash image, no copy at reset); [`ObjectPool`] with a non-zero initial
//!   value is the one exception.
//!
//! # Memory layout
//! Each block is a [`Block<T>`]: a header for the free-list links (a pointer, or 16 bytes
//! on the 64-bit CAS backend: the next block's name and the block's own) followed by
//! the payload. The link is outside the payload
//! so that a context about to fail its pop can read it while the block's new owner
//! writes its data, without a data race (see `src/block.rs`).
//!
//! # `Send` and `Sync`
//! Pools are `Send + Sync` for every `T`: a pool never holds a live `T`, only
//! uninitialised blocks. A [`Box`] is `Send`/`Sync` exactly when `T` is, like
//! `std::boxed::Box`.
//!
//! # Migrating
//! What changes, concretely, when code moves here from heapless 0.7's `pool`, heapless
//! 0.9's `pool` or atomic-pool 2.0. Two things hold for all three:
//!
//! - No target needs a feature for the pools, and every pool is `Sync`: no
//!   `x86-sync-pool` feature (heapless 0.7), no `nightly` feature or `portable-atomic`
//!   on a 64-bit host (heapless 0.9.4 compiles its `pool` module there only with a
//!   128-bit CAS or `portable-atomic`), no `portable-atomic` polyfill (atomic-pool). A
//!   target without atomic read-modify-write links a [`critical_section`]
//!   implementation instead (see "Guarantees per target").
//! - Each kind of pool is a type or a value of this crate; generic code bounds on
//!   [`PoolHandle`] where heapless had its `singleton::Pool` or `BoxPool` trait and
//!   atomic-pool its `Pool` trait (see "Code generic over a pool").
//!
//! ## From heapless 0.7
//! - `heapless::pool::singleton::{Box, Pool}` → `blockpool::{pool, Box}`. A singleton's
//!   `alloc`, `grow` and `grow_exact` are inherent functions: no trait to import.
//! - `pool!(A: T)` keeps its meaning (a pool that grows from memory you give it), but `A`
//!   is private unless declared `pool!(pub A: T)`, and of the attributes only doc
//!   comments, `#[cfg]`, `#[link_section]` and `#[used]` are accepted (the last two only
//!   with `blocks = N`; anything else is a compile error). `pool!(A: T, blocks = N)`
//!   declares the pool *with* its storage: no `static mut`, no `grow`.
//! - `Node<T>` → [`Block<T>`]. `grow_exact` takes `&'static mut [Block<T>]` (an array
//!   coerces to it) instead of `&'static mut MaybeUninit<A>` with `A: AsMut<[Node<T>]>`,
//!   and the array is initialised with `[const { Block::new() }; N]` (all zeros: `.bss`).
//! - `grow` and `grow_exact` still return how many blocks they added, now
//!   `#[must_use]`: on the 64-bit CAS backend they can take fewer (see
//!   [`Pool::MAX_BLOCKS`]).
//! - The instance [`Pool<T>`]'s box is `Box<&Pool<T>, S>`, not `heapless::pool::Box<T, S>`:
//!   it knows its pool and returns its block when dropped, where heapless 0.7's leaked it
//!   unless given to `Pool::free` (which remains, and does what `drop` does).
//! - `Box::forget` (an `Init` box to an `Uninit` one, the value not dropped) has no safe
//!   counterpart: [`Box::into_inner`] moves the value out (and frees the block), or
//!   [`Box::into_raw`] and [`Box::from_raw`] rebuild the box as `Uninit` (example below).
//!   The deprecated `Box::freeze` becomes [`Box::as_uninit_mut`] or [`Box::as_mut_ptr`]
//!   followed by [`Box::assume_init`].
//! - Generic code over `P: heapless::pool::singleton::Pool` calling `P::alloc()` bounds
//!   on `P: PoolHandle` and calls `Box::alloc_in(pool)`; a `pool!` type is `Copy` and
//!   `Default`, so `P::default()` is its handle.
//! - `arc_pool!(A: T)` and `A::alloc(value)` keep their meaning; `heapless::Arc<A>` →
//!   [`Arc<A>`]; `grow_exact` takes `&'static mut [Block<ArcInner<T>>]` instead of a
//!   `MaybeUninit<[Node<ArcInner<T>>; N]>`; [`Weak`] is new.
//!
//! ```text
//! // heapless 0.7
//! use core::mem::MaybeUninit;
//! use heapless::pool::{singleton::{Box, Pool}, Node, Uninit};
//!
//! heapless::pool!(A: [u8; 128]);
//!
//! static mut MEMORY: MaybeUninit<[Node<[u8; 128]>; 8]> = MaybeUninit::uninit();
//! A::grow_exact(unsafe { &mut MEMORY });
//! let x: Box<A> = A::alloc().unwrap().init([0; 128]);
//! let empty: Box<A, Uninit> = x.forget();
//!
//! fn take<P: Pool>() -> Option<Box<P, Uninit>> {
//!     P::alloc()
//! }
//! ```
//!
//! ```
//! use blockpool::{pool, Block, Box, PoolHandle, Uninit};
//!
//! pool!(A: [u8; 128]); // or `pool!(A: [u8; 128], blocks = 8)`, without the lines below
//!
//! static mut MEMORY: [Block<[u8; 128]>; 8] = [const { Block::new() }; 8];
//! // SAFETY: this is the only reference ever made to `MEMORY`.
//! let added = A::grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) });
//! assert_eq!(added, 8);
//! let x: Box<A> = A::alloc().unwrap().init([0; 128]);
//! let raw = x.into_raw();
//! // SAFETY: `raw` came from `into_raw` of a box of `A` and is rebuilt once; a pointer
//! // from an `Init` box may be rebuilt `Uninit` (the value is then never dropped).
//! let empty: Box<A, Uninit> = unsafe { Box::from_raw(raw, A) };
//!
//! fn take<P: PoolHandle + Default>() -> Option<Box<P, Uninit>> {
//!     Box::alloc_in(P::default())
//! }
//! assert!(take::<A>().is_some());
//! # drop(empty);
//! ```
//!
//! ## From heapless 0.9
//! - `box_pool!(P: T)` → `pool!(pub P: T)` (`box_pool!` always made `P` public), or
//!   `pool!(pub P: T, blocks = N)` with its storage and nothing to `manage`.
//! - `BoxBlock<T>` → [`Block<T>`]; `P.manage(block)`, one block at a time, →
//!   `P::grow_exact(blocks)`, a slice at once, returning how many it added.
//! - `P.alloc(value)` (a method of the value `P`) or `<P as BoxPool>::alloc(value)` →
//!   `P::alloc_value(value)` (an associated function), with the same
//!   `Result<Box<P>, T>`; `P::alloc()` gives an `Uninit` box, to fill in place.
//! - `heapless::pool::boxed::Box<P>` → `blockpool::Box<P>` (which is `Box<P, Init>`).
//! - `Box::into_raw(b)` → `b.into_raw()`, a `NonNull<T>` instead of a `*mut T`;
//!   `Box::<P>::from_raw(ptr)` → `P::from_raw(ptr)` (or `Box::from_raw(ptr, handle)`),
//!   which checks that the pointer is one of `P`'s blocks where that is cheap and panics
//!   otherwise.
//! - `b.clone()` still takes another block and panics when there is none, but takes the
//!   block before it clones the value (heapless clones first and drops the clone), and
//!   [`Box::try_clone`] returns `None` instead of panicking.
//! - `P: BoxPool` in generic code → `P: PoolHandle`, allocating with `Box::alloc_in`.
//! - `arc_pool!(P: T)`, `P.alloc(value)` → `arc_pool!(pub P: T)`, `P::alloc(value)`;
//!   heapless's `ArcBlock<T>` → `Block<ArcInner<T>>`, given with `P::grow_exact` (here
//!   [`ArcBlock`] names a trait, not a block type); [`Weak`] is new.
//! - `object_pool!(P: T)` with an `ObjectBlock::new(initial)` per block and
//!   `P.manage(block)` → one `static P: ObjectPool<T, N>`, made with
//!   [`ObjectPool::new(initial)`](ObjectPool::new) (for `T: Copy`) or
//!   [`ObjectPool::with_init(f)`](ObjectPool::with_init); each block is filled the first
//!   time it is requested (heapless fills an `ObjectBlock` when it is made), and all
//!   start from that one value or function. `P.request()` stays;
//!   `Object<P>` → [`Object<T, N>`]. An `Object` derefs to `T` and is `AsRef<T>`, where
//!   heapless's is `AsRef<[T]>` for arrays (slice it with `&object[..]`), and it has no
//!   `PartialEq`/`Ord`/`Hash` of its own (compare `*a == *b`).
//!
//! ```text
//! // heapless 0.9
//! use core::ptr::addr_of_mut;
//! use heapless::box_pool;
//! use heapless::pool::boxed::{Box, BoxBlock};
//! use heapless::pool::object::{Object, ObjectBlock};
//!
//! box_pool!(P: u128);
//! P.manage(unsafe {
//!     static mut BLOCK: BoxBlock<u128> = BoxBlock::new();
//!     addr_of_mut!(BLOCK).as_mut().unwrap()
//! });
//! let b: Box<P> = P.alloc(1).unwrap();
//! let raw: *mut u128 = Box::into_raw(b);
//! let b = unsafe { Box::<P>::from_raw(raw) };
//! let c = b.clone(); // panics: one block only
//!
//! heapless::object_pool!(O: [u8; 128]);
//! O.manage(unsafe {
//!     static mut BLOCK: ObjectBlock<[u8; 128]> = ObjectBlock::new([0; 128]);
//!     addr_of_mut!(BLOCK).as_mut().unwrap()
//! });
//! let o: Object<O> = O.request().unwrap();
//! let bytes: &[u8] = o.as_ref();
//! ```
//!
//! ```
//! use blockpool::{pool, Box, Object, ObjectPool};
//!
//! pool!(pub P: u128, blocks = 1);
//! let b: Box<P> = P::alloc_value(1).unwrap();
//! let raw: core::ptr::NonNull<u128> = b.into_raw();
//! // SAFETY: `raw` came from `into_raw` of a box of `P` and is rebuilt once.
//! let b = unsafe { P::from_raw(raw) };
//! assert!(b.try_clone().is_none()); // one block only; `b.clone()` would panic
//!
//! static O: ObjectPool<[u8; 128], 1> = ObjectPool::new([0; 128]);
//! let o: Object<[u8; 128], 1> = O.request().unwrap();
//! let bytes: &[u8] = &o[..];
//! assert_eq!(bytes.len(), 128);
//! ```
//!
//! ## From atomic-pool 2.0
//! - `pool!(P: [T; N])` (`N` blocks of `T`) → `pool!(P: T, blocks = N)`. Beware: the old
//!   spelling still compiles here, as `pool!(A: T)` with `T = [T; N]`, a pool of arrays
//!   that has no blocks until it is grown (every `alloc` gives `None`).
//! - `Box::<P>::new(value)` → `P::alloc_value(value)`, which gives the value back
//!   (`Err(value)`) when the pool is exhausted where atomic-pool dropped it and returned
//!   `None`; `.ok()` turns it into that `Option`.
//! - `Box::into_raw(b)` → `b.into_raw()` (a `NonNull<T>` in both);
//!   `Box::<P>::from_raw(ptr)` → `P::from_raw(ptr)`, which, unlike atomic-pool's, checks
//!   that the pointer is one of `P`'s blocks and panics otherwise.
//! - `P: atomic_pool::Pool` with `P::Item` → `P: PoolHandle` with `P::Data`.
//!   atomic-pool's pool type has no values; a `pool!` type is a unit struct, `Copy` and
//!   `Default`, so it is passed as a value (`Box::alloc_in(P::default())`).
//! - atomic-pool's `AsSlice`/`AsMutSlice` (of `as-slice` 0.1 and 0.2) → `AsRef<[T]>` and
//!   `AsMut<[T]>`, which `Box` has for arrays.
//!
//! ```text
//! // atomic-pool 2.0
//! use atomic_pool::{pool, Box};
//!
//! pool!(Packets: [[u8; 64]; 4]);
//! let p: Option<Box<Packets>> = Box::<Packets>::new([0; 64]);
//! let raw = Box::into_raw(p.unwrap());
//! let p = unsafe { Box::<Packets>::from_raw(raw) };
//! ```
//!
//! ```
//! use blockpool::{pool, Box};
//!
//! pool!(Packets: [u8; 64], blocks = 4);
//! let p: Option<Box<Packets>> = Packets::alloc_value([0; 64]).ok();
//! let raw = p.unwrap().into_raw();
//! // SAFETY: `raw` came from `into_raw` of a box of `Packets` and is rebuilt once.
//! let p = unsafe { Packets::from_raw(raw) };
//! assert_eq!(p.len(), 64);
//!
//! pool!(Trap: [[u8; 64]; 4]); // atomic-pool's spelling: a growable pool of arrays …
//! assert!(Trap::alloc().is_none()); // … with no blocks
//! ```

#![no_std]
// docs.rs (`--cfg docsrs`, nightly): every feature-gated item is labelled with its
// feature (`doc_cfg` does that on its own since it absorbed `doc_auto_cfg`).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "std")]
extern crate std;

mod asan;
mod block;
mod boxed;
mod cache;
mod counter;
mod free_list;
pub mod heap;
mod pool;
mod stats;
mod sync;
mod wait;

pub use block::Block;
pub use boxed::{Box, Init, PoolHandle, State, Uninit};
pub use cache::LocalCache;
#[cfg(all(feature = "stats", not(blockpool_loom)))]
pub use heap::{ClassStats, HeapStats};
#[cfg(not(blockpool_loom))]
pub use heap::{DefaultClasses, Heap, SizeClasses};
pub use pool::{
    Arc, ArcBlock, ArcInner, ArcPool, Object, ObjectPool, Pool, ScopedPool, StaticPool, Weak,
};
#[cfg(feature = "stats")]
pub use stats::Stats;
#[cfg(feature = "async")]
pub use wait::AllocFuture;

/// Names the macros' expansions need; nothing here can be used to break an invariant
/// (a `Waiters` can be neither made nor used outside this crate). Not part of the API.
#[doc(hidden)]
pub mod __private {
    #[cfg(all(feature = "std", not(blockpool_loom)))]
    pub use crate::cache::thread as thread_cache;
    /// The depot, for its loom model (`tests/loom_cache.rs`) only.
    #[cfg(blockpool_loom)]
    pub use crate::cache::Depot;
    pub use crate::cache::Shared as CacheShared;
    pub use crate::wait::Waiters;
    #[cfg(all(feature = "std", not(blockpool_loom)))]
    pub use std::thread_local;

    /// What an invocation of the hidden `__forward_pool_handle!` must give: a value
    /// only `unsafe` code can make, because that macro implements [`PoolHandle`] by
    /// forwarding to a pool the invocation names, and a wrong pool (or one that changes
    /// from call to call) would put blocks on the wrong free list. `pool!` and
    /// `arc_pool!` make it for their own `static` pool; a user has no reason to.
    ///
    /// Safe code cannot make one, so it cannot invoke the macro:
    /// ```compile_fail,E0133
    /// use blockpool::StaticPool;
    ///
    /// static POOL: StaticPool<u8, 1> = StaticPool::new();
    /// #[derive(Clone, Copy)]
    /// struct Mine;
    /// blockpool::__forward_pool_handle! {
    ///     promise: blockpool::__private::ForwardingPromise::new(), // error: unsafe fn
    ///     impl[] for Mine, Data = u8, to |_this| &POOL
    /// }
    /// ```
    ///
    /// [`PoolHandle`]: crate::PoolHandle
    pub struct ForwardingPromise(());

    impl ForwardingPromise {
        /// # Safety
        /// The pool that the `__forward_pool_handle!` invocation forwards to is, on
        /// every call, the one pool that all of the handle's blocks come from and go
        /// back to.
        pub const unsafe fn new() -> Self {
            Self(())
        }
    }
}

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
/// `"critical_section"` (see the crate docs' "Guarantees per target").
///
/// # Examples
/// ```
/// let lock_free = match blockpool::BACKEND {
///     "tagged_index" | "arm_llsc" => true,
///     "critical_section" => false, // a critical section around each pop and push
///     other => unreachable!("no such backend: {other}"),
/// };
/// println!("lock-free: {lock_free}");
/// ```
pub const BACKEND: &str = free_list::BACKEND;

/// Testing aids, not part of the API: they exist only in a build with
/// `RUSTFLAGS="--cfg blockpool_test_hooks"` (the crate's own ABA, signal-handler and
/// firmware window tests), never through a Cargo feature, so no `--all-features` build
/// and no docs.rs build has them.
#[cfg(blockpool_test_hooks)]
#[doc(hidden)]
pub mod testing {
    #[cfg(all(feature = "std", not(blockpool_loom)))]
    pub use crate::cache::thread::hook::set_cache_window_hook;
    #[cfg(blockpool_backend = "arm_llsc")]
    pub use crate::free_list::arm_hook as arm;
    pub use crate::free_list::hook::set_pop_window_hook;
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
