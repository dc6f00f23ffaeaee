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

use blockpool::{pool, Block, Box, Uninit};

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

#[entry]
fn main() -> ! {
    static mut MEMORY: [Block<Payload>; 2] = [const { Block::new() }; 2];
    // cortex-m-rt made `MEMORY` a `&'static mut` (`main` runs once).
    Grown::grow_exact(MEMORY);
    let mut ok = true;
    for _ in 0..2 {
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
    }
    exit(ok)
}
