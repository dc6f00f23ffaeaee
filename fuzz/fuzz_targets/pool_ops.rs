//! Arbitrary sequences of alloc / init / drop / into_inner / into_raw+from_raw / grow on
//! four pools at once, checked against a simple model (how many blocks each pool has
//! free, which blocks are held, what each initialised one holds), with the ABA hook
//! armed by the input: inside the window of a pop (after it read `next`, before its CAS)
//! the hook pops twice and pushes the first block back, or pops and pushes, or pops and
//! keeps.
//!
//! Run: `cd fuzz && RUSTFLAGS="--cfg blockpool_asan" cargo +nightly fuzz run pool_ops --
//! -max_total_time=60` (`--cfg blockpool_asan`: the pool poisons freed payloads for the
//! fuzzer's AddressSanitizer, so a use of a block after it went back is reported too).
//!
//! Pools: a local instance `Pool<[u64; 3]>` grown from a static arena at offsets and
//! lengths the input picks (the hook's target), a local `StaticPool<[u8; 5], 4>`, a
//! `pool!` singleton of 3 `u32`s (shared by all inputs; every input returns all its
//! blocks) and a `Pool<()>` (zero-sized: never runs out, needs no memory).
#![no_main]

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::mem::{align_of, size_of};
use std::ptr::addr_of_mut;

use blockpool::{pool, testing, Block, Box, Init, Pool, PoolHandle, StaticPool, Uninit};
use libfuzzer_sys::fuzz_target;

type Wide = [u64; 3];
type Odd = [u8; 5];

pool!(Single: u32, blocks = 3);

/// Memory the instance pool grows from; each input reuses it from the start.
const ARENA_WORDS: usize = 256;
static mut ARENA: [u64; ARENA_WORDS] = [0; ARENA_WORDS];
/// Region-table entries per pool on the 64-bit CAS backend: each non-empty `grow` takes
/// one, and a `grow` after the last adds nothing.
const REGIONS: usize = 64;
/// Boxes one pool side may hold at once (the zero-sized pool never runs out).
const MAX_HELD: usize = 64;

/// Turns an input number into a payload, and back into the number it was made from.
trait Payload: Sized {
    fn make(seed: u64) -> Self;
    fn seed(&self) -> u64;
}
impl Payload for Wide {
    fn make(seed: u64) -> Self {
        [seed, !seed, seed.rotate_left(17)]
    }
    fn seed(&self) -> u64 {
        assert_eq!(*self, Self::make(self[0]), "payload corrupted");
        self[0]
    }
}
impl Payload for Odd {
    fn make(seed: u64) -> Self {
        let b = seed as u8;
        [b, b ^ 0xFF, b.wrapping_add(1), b.wrapping_mul(3), b]
    }
    fn seed(&self) -> u64 {
        assert_eq!(*self, Self::make(u64::from(self[0])), "payload corrupted");
        u64::from(self[0])
    }
}
impl Payload for u32 {
    fn make(seed: u64) -> Self {
        seed as u32
    }
    fn seed(&self) -> u64 {
        u64::from(*self)
    }
}
impl Payload for () {
    fn make(_: u64) -> Self {}
    fn seed(&self) -> u64 {
        0
    }
}

enum Held<P: PoolHandle> {
    Uninit(Box<P, Uninit>),
    Init(Box<P, Init>, u64),
}

impl<P: PoolHandle> Held<P> {
    fn address(&self) -> usize {
        match self {
            Held::Uninit(b) => b.as_ptr() as usize,
            Held::Init(b, _) => b.as_ptr() as usize,
        }
    }
}

/// One pool and the model of it.
struct Side<P: PoolHandle + Copy>
where
    P::Data: Payload,
{
    pool: P,
    held: Vec<Held<P>>,
    /// Free blocks; `None` for a zero-sized type (never runs out).
    free: Option<usize>,
}

impl<P: PoolHandle + Copy> Side<P>
where
    P::Data: Payload,
{
    fn new(pool: P, free: Option<usize>) -> Self {
        Self {
            pool,
            held: Vec::new(),
            free,
        }
    }

    fn zero_sized() -> bool {
        size_of::<P::Data>() == 0
    }

    /// Records a box the pool just handed out.
    fn adopt(&mut self, b: Box<P, Uninit>) {
        if !Self::zero_sized() {
            let address = b.as_ptr() as usize;
            assert!(
                self.held.iter().all(|h| h.address() != address),
                "a block handed out twice"
            );
        }
        self.held.push(Held::Uninit(b));
    }

    fn alloc(&mut self) {
        if self.held.len() >= MAX_HELD {
            return;
        }
        let b = Box::alloc_in(self.pool);
        match (&mut self.free, b) {
            (Some(0), Some(_)) => panic!("alloc succeeded on an empty pool"),
            (Some(0), None) => {}
            (Some(n), Some(b)) => {
                *n -= 1;
                self.adopt(b);
            }
            (Some(n), None) => panic!("alloc failed with {n} blocks free"),
            (None, b) => self.adopt(b.expect("a zero-sized pool ran out")),
        }
    }

    fn init(&mut self, i: usize, seed: u64) {
        if self.held.is_empty() {
            return;
        }
        let i = i % self.held.len();
        let held = match self.held.swap_remove(i) {
            Held::Uninit(b) => {
                let b = b.init(P::Data::make(seed));
                let seed = b.seed();
                Held::Init(b, seed)
            }
            // Overwrite in place.
            Held::Init(mut b, _) => {
                *b = P::Data::make(seed);
                let seed = b.seed();
                Held::Init(b, seed)
            }
        };
        self.held.push(held);
    }

    /// Gives back box `i`: dropped (`how` even) or moved out with `into_inner`.
    fn release(&mut self, i: usize, how: u8) {
        if self.held.is_empty() {
            return;
        }
        let held = self.held.swap_remove(i % self.held.len());
        match held {
            Held::Uninit(b) => drop(b),
            Held::Init(b, seed) if how % 2 == 1 => {
                assert_eq!(b.into_inner().seed(), seed, "payload changed while held");
            }
            Held::Init(b, seed) => {
                assert_eq!(b.seed(), seed, "payload changed while held");
                drop(b);
            }
        }
        if let Some(n) = &mut self.free {
            *n += 1;
        }
    }

    /// Box `i` through `into_raw` and back with `from_raw`: the same block, the same
    /// value, and it must still go back to the pool when dropped.
    fn round_trip(&mut self, i: usize) {
        if self.held.is_empty() {
            return;
        }
        let i = i % self.held.len();
        let address = self.held[i].address();
        let held = match self.held.swap_remove(i) {
            Held::Uninit(b) => {
                let raw = b.into_raw();
                // SAFETY: `raw` came from `into_raw` of an `Uninit` box of this pool.
                Held::Uninit(unsafe { Box::<P, Uninit>::from_raw(raw, self.pool) })
            }
            Held::Init(b, seed) => {
                let raw = b.into_raw();
                // SAFETY: `raw` came from `into_raw` of an `Init` box of this pool.
                let b = unsafe { Box::<P, Init>::from_raw(raw, self.pool) };
                assert_eq!(b.seed(), seed, "payload changed by into_raw/from_raw");
                Held::Init(b, seed)
            }
        };
        assert_eq!(held.address(), address, "from_raw rebuilt another block");
        self.held.push(held);
    }

    /// Every initialised box still holds what was written into it.
    fn check(&self) {
        for h in &self.held {
            if let Held::Init(b, seed) = h {
                assert_eq!(b.seed(), *seed, "payload changed while held");
            }
        }
    }

    /// Gives everything back and checks that the pool holds exactly `free` blocks, each
    /// once.
    fn finish(mut self) {
        self.check();
        let held = self.held.len();
        self.held.clear();
        let Some(free) = self.free.map(|n| n + held) else {
            return;
        };
        let mut drained = Vec::new();
        while let Some(b) = Box::alloc_in(self.pool) {
            drained.push(b);
            assert!(
                drained.len() <= free,
                "the pool holds more blocks than it was given"
            );
        }
        assert_eq!(drained.len(), free, "a block was lost");
        let distinct: HashSet<usize> = drained.iter().map(|b| b.as_ptr() as usize).collect();
        assert_eq!(distinct.len(), free, "a block is on the free list twice");
    }
}

/// The ABA hook's state: the pool it works on and the blocks it kept.
type HookPool = &'static Pool<Wide>;
thread_local! {
    static HOOK_POOL: Cell<Option<HookPool>> = const { Cell::new(None) };
    static HOOK_MODE: Cell<u8> = const { Cell::new(0) };
    static HOOK_KEPT: RefCell<Vec<Box<HookPool, Uninit>>> = const { RefCell::new(Vec::new()) };
    static HOOK_RAN: Cell<bool> = const { Cell::new(false) };
}

/// Runs inside a pop's window on the instance pool, once per arming.
fn window_hook() {
    // Disarm first: the pops below call the hook too.
    testing::set_pop_window_hook(None);
    HOOK_RAN.set(true);
    let pool = HOOK_POOL.get().expect("hook armed without a pool");
    let kept = match HOOK_MODE.get() % 3 {
        // Classic ABA: pop A, pop B, push A back; keep B.
        0 => {
            let a = pool.alloc();
            let b = pool.alloc();
            drop(a);
            b
        }
        // Pop A and push it back: the same block on top, a newer version.
        1 => {
            drop(pool.alloc());
            None
        }
        // Pop A and keep it: the popper must move on to the next block.
        _ => pool.alloc(),
    };
    HOOK_KEPT.with_borrow_mut(|k| k.extend(kept));
}

fuzz_target!(|data: &[u8]| {
    let instance = Pool::<Wide>::new();
    let statics = StaticPool::<Odd, 4>::new();
    let zero_sized = Pool::<()>::new();
    // SAFETY (test only): the boxes of both local pools are all dropped before this
    // closure returns, and the pools with them; `HOOK_POOL` is cleared before that.
    let (instance_ref, statics_ref, zero_ref): (
        &'static Pool<Wide>,
        &'static StaticPool<Odd, 4>,
        &'static Pool<()>,
    ) = unsafe {
        (
            &*(&instance as *const Pool<Wide>),
            &*(&statics as *const StaticPool<Odd, 4>),
            &*(&zero_sized as *const Pool<()>),
        )
    };
    let mut wide = Side::new(instance_ref, Some(0));
    let mut odd = Side::new(statics_ref, Some(4));
    let mut single = Side::new(Single, Some(3));
    let mut zst = Side::new(zero_ref, None);
    assert_eq!(zst.pool.grow(&mut []), usize::MAX);
    HOOK_POOL.set(Some(instance_ref));

    let arena = addr_of_mut!(ARENA).cast::<u8>();
    let arena_len = ARENA_WORDS * 8;
    // With `--cfg blockpool_asan` the pool poisons freed payloads; this input lays
    // blocks out afresh, headers where payloads were.
    #[cfg(blockpool_asan)]
    {
        extern "C" {
            fn __asan_unpoison_memory_region(addr: *const u8, size: usize);
        }
        // SAFETY: the arena is ours; this only clears ASan's shadow for it.
        unsafe { __asan_unpoison_memory_region(arena, arena_len) };
    }
    let mut cursor = 0usize;
    let mut regions = 0usize;

    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    while let Some(op) = next() {
        let arg = next().unwrap_or(0);
        let side = op >> 5; // 0..8: which pool
        match op & 0x1F {
            0..=7 => match side % 4 {
                0 => wide.alloc(),
                1 => odd.alloc(),
                2 => single.alloc(),
                _ => zst.alloc(),
            },
            8..=11 => {
                let seed = u64::from(next().unwrap_or(0)) << 8 | u64::from(arg);
                match side % 4 {
                    0 => wide.init(usize::from(arg), seed),
                    1 => odd.init(usize::from(arg), seed),
                    2 => single.init(usize::from(arg), seed),
                    _ => zst.init(usize::from(arg), seed),
                }
            }
            12..=19 => match side % 4 {
                0 => wide.release(usize::from(arg), op),
                1 => odd.release(usize::from(arg), op),
                2 => single.release(usize::from(arg), op),
                _ => zst.release(usize::from(arg), op),
            },
            20..=22 => {
                // grow the instance pool: skip `side` bytes (misalignment), then `arg`
                // bytes of memory.
                let start = cursor + usize::from(side);
                let len = usize::from(arg);
                if start + len > arena_len {
                    continue;
                }
                cursor = start + len;
                // SAFETY (test only): `start..start + len` of the arena is used by no
                // one else during this input, and never again by this pool.
                let memory: &'static mut [u8] =
                    unsafe { std::slice::from_raw_parts_mut(arena.add(start), len) };
                let padding = memory.as_ptr().align_offset(align_of::<Block<Wide>>());
                let fit = len.saturating_sub(padding) / size_of::<Block<Wide>>();
                let expected = if padding > len || fit == 0 || regions >= REGIONS {
                    0
                } else {
                    regions += 1;
                    fit
                };
                assert_eq!(wide.pool.grow(memory), expected, "grow added another count");
                *wide.free.as_mut().unwrap() += expected;
            }
            23..=26 => {
                // alloc on the instance pool with the ABA hook armed.
                let free = wide.free.unwrap();
                if wide.held.len() + 2 > MAX_HELD {
                    continue;
                }
                HOOK_MODE.set(arg);
                HOOK_RAN.set(false);
                testing::set_pop_window_hook(Some(window_hook));
                let b = Box::alloc_in(wide.pool);
                testing::set_pop_window_hook(None);
                let kept = HOOK_KEPT.take();
                // The hook runs in the first pop that finds a block.
                assert_eq!(HOOK_RAN.get(), free > 0, "the hook did not run");
                let expected = match arg % 3 {
                    1 => free.min(1),
                    _ => free.min(2),
                };
                let got = kept.len() + usize::from(b.is_some());
                assert_eq!(
                    got, expected,
                    "alloc with the hook handed out another count"
                );
                *wide.free.as_mut().unwrap() -= got;
                for k in kept.into_iter().chain(b) {
                    wide.adopt(k);
                }
            }
            27..=29 => match side % 4 {
                0 => wide.round_trip(usize::from(arg)),
                1 => odd.round_trip(usize::from(arg)),
                2 => single.round_trip(usize::from(arg)),
                _ => zst.round_trip(usize::from(arg)),
            },
            _ => {
                wide.check();
                odd.check();
                single.check();
                zst.check();
            }
        }
    }

    HOOK_POOL.set(None);
    wide.finish();
    odd.finish();
    single.finish();
    zst.finish();
    drop((instance, statics, zero_sized));
});
