//! The alloc and free fast paths as named functions, for `scripts/check-disassembly.sh`:
//! it disassembles them (ldrex/ldr next/strex order on the LL/SC targets, a critical
//! section on thumbv6m) and counts their instructions, statically and as executed under
//! QEMU (`-d exec` with one instruction per translation block).
//!
//! `main` calls each function twice: the first `*_static` allocation takes a never-used
//! block (the slow path); every other call is a fast path (a pop from a non-empty free
//! list, a push). The script counts the last call of each.

#![no_std]
#![no_main]
// `pub(crate)` pool types in the `pub` signatures below: fine in a binary.
#![allow(private_interfaces)]

use blockpool::{pool, Block, Box, StaticPool, Uninit};

use blockpool_firmware::exit;
use cortex_m_rt::entry;

type Payload = [u32; 16];

pool!(Grown: Payload);
pool!(Fixed: Payload, blocks = 4);

/// Allocation from a `pool!` grown from memory (`Pool<T>`): the pop.
#[no_mangle]
#[inline(never)]
pub fn blockpool_alloc() -> Option<Box<Grown, Uninit>> {
    Grown::alloc()
}

/// Free to a `pool!` grown from memory: the push.
#[no_mangle]
#[inline(never)]
pub fn blockpool_free(b: Box<Grown, Uninit>) {
    drop(b)
}

/// Allocation from a `pool!(.., blocks = N)` (`StaticPool`): the pop, then (cold) a
/// never-used block.
#[no_mangle]
#[inline(never)]
pub fn blockpool_alloc_static() -> Option<Box<Fixed, Uninit>> {
    Fixed::alloc()
}

/// Free to a `pool!(.., blocks = N)`: the push.
#[no_mangle]
#[inline(never)]
pub fn blockpool_free_static(b: Box<Fixed, Uninit>) {
    drop(b)
}

/// A `StaticPool` used directly (not through `pool!`): its box is two words. Three
/// blocks, not four: a second `StaticPool<Payload, 4>` would share `Fixed`'s code, which
/// the compiler then stops inlining into these functions.
static DIRECT: StaticPool<Payload, 3> = StaticPool::new();

/// Allocation from a `StaticPool` used directly: the pop, then (cold) a never-used block.
#[no_mangle]
#[inline(never)]
pub fn blockpool_alloc_direct() -> Option<Box<&'static StaticPool<Payload, 3>, Uninit>> {
    DIRECT.alloc()
}

/// Free to a `StaticPool` used directly: the push.
#[no_mangle]
#[inline(never)]
pub fn blockpool_free_direct(b: Box<&'static StaticPool<Payload, 3>, Uninit>) {
    drop(b)
}

// heapless 0.9.4's `box_pool!`, the peer, in the same firmware (ARM LL/SC targets). A
// `MaybeUninit` payload, so that its `alloc(value)` copies nothing, as blockpool's
// `alloc()` does not.
#[cfg(heapless_peer)]
heapless::box_pool!(Peer: core::mem::MaybeUninit<Payload>);

/// heapless 0.9.4's allocation (the pop).
#[cfg(heapless_peer)]
#[no_mangle]
#[inline(never)]
pub fn heapless_alloc() -> Option<heapless::pool::boxed::Box<Peer>> {
    Peer.alloc(core::mem::MaybeUninit::uninit()).ok()
}

/// heapless 0.9.4's free (the push).
#[cfg(heapless_peer)]
#[no_mangle]
#[inline(never)]
pub fn heapless_free(b: heapless::pool::boxed::Box<Peer>) {
    drop(b)
}

// embassy's atomic-pool 2.0, the other peer, in the same firmware (every target: on
// thumbv6m its atomics come from portable-atomic's critical-section fallback). Four
// blocks, a `MaybeUninit` payload as for heapless.
atomic_pool::pool!(AtomicPeer: [core::mem::MaybeUninit<Payload>; 4]);

/// atomic-pool's allocation (the first free bit of its bitset).
#[no_mangle]
#[inline(never)]
pub fn atomic_pool_alloc() -> Option<atomic_pool::Box<AtomicPeer>> {
    atomic_pool::Box::new(core::mem::MaybeUninit::uninit())
}

/// atomic-pool's free (clears the block's bit).
#[no_mangle]
#[inline(never)]
pub fn atomic_pool_free(b: atomic_pool::Box<AtomicPeer>) {
    drop(b)
}

#[entry]
fn main() -> ! {
    static mut MEMORY: [Block<Payload>; 2] = [const { Block::new() }; 2];
    // cortex-m-rt made `MEMORY` a `&'static mut` (`main` runs once).
    let added = Grown::grow_exact(MEMORY);
    assert_eq!(added, 2);
    #[cfg(heapless_peer)]
    {
        use heapless::pool::boxed::BoxBlock;
        static mut PEER_BLOCKS: [BoxBlock<core::mem::MaybeUninit<Payload>>; 2] =
            [const { BoxBlock::new() }; 2];
        // SAFETY: `main` runs once and this is the only reference ever made to it.
        for block in unsafe { &mut *core::ptr::addr_of_mut!(PEER_BLOCKS) } {
            Peer.manage(block);
        }
    }
    let mut ok = true;
    for _ in 0..2 {
        #[cfg(heapless_peer)]
        {
            let h = heapless_alloc();
            ok &= h.is_some();
            if let Some(h) = h {
                heapless_free(h);
            }
        }
        let p = atomic_pool_alloc();
        ok &= p.is_some();
        if let Some(p) = p {
            atomic_pool_free(p);
        }
        let a = blockpool_alloc();
        ok &= a.is_some();
        if let Some(a) = a {
            blockpool_free(a);
        }
        let s = blockpool_alloc_static();
        ok &= s.is_some();
        if let Some(s) = s {
            blockpool_free_static(s);
        }
        let d = blockpool_alloc_direct();
        ok &= d.is_some();
        if let Some(d) = d {
            blockpool_free_direct(d);
        }
    }
    exit(ok)
}
