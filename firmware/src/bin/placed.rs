//! Where pool storage lands (issue 13), checked by `scripts/firmware.sh` from the ELF's
//! sections and symbols, and here at run time:
//!
//! - a 32 KiB `StaticPool` and a 32 KiB `pool!(…, blocks = N)` start all zeros, so they
//!   are `.bss`: no flash image, no copy at reset (the script requires `.data` < 64
//!   bytes in the whole firmware);
//! - `pool!(#[link_section = ".pool_ram"] …)` and `arc_pool!(#[link_section = …] …)` put
//!   the pool with its blocks in the linker script's `.pool_ram` output section
//!   (`memory/placed.x`), a RAM region of its own as a CCM or DTCM would be: the
//!   script checks the symbols' addresses (`llvm-nm`), and the firmware checks that
//!   the blocks it is handed lie there.
//!
//! Build with `--features placed`; `--features placed-control` adds an `ObjectPool`
//! with a non-zero initial value, which must make the `.data` check fail.

#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use blockpool::{arc_pool, pool, StaticPool};
use blockpool_firmware::{check, exit, hprintln};
use cortex_m_rt::entry;

/// 64 blocks of 512 bytes: 32 KiB of payload.
static STATIC_POOL: StaticPool<[u8; 512], 64> = StaticPool::new();

pool!(
    /// 32 KiB of payload too, as a singleton.
    Fixed: [u8; 512], blocks = 64
);

pool!(
    /// Placed in `.pool_ram`.
    #[link_section = ".pool_ram"]
    Placed: [u32; 4], blocks = 8
);

arc_pool!(#[link_section = ".pool_ram"] PlacedArc: u32, blocks = 4);

// An `arc_pool!` and a `[Block<T>; N]` for `grow_exact`, unplaced: `.bss` too (the
// script checks their symbols).
arc_pool!(Shared: [u8; 64], blocks = 16);
#[used]
static mut GROW_MEMORY: [blockpool::Block<[u8; 64]>; 16] =
    [const { blockpool::Block::new() }; 16];

/// The negative control: an honest `.data` pool (its blocks start as 0xA5 bytes).
#[cfg(feature = "placed-control")]
static CONTROL: blockpool::ObjectPool<[u8; 256], 2> = blockpool::ObjectPool::new([0xA5; 256]);

extern "C" {
    // From memory/placed.x.
    static mut __spool_ram: u32;
    static mut __epool_ram: u32;
}

fn in_pool_ram(address: usize) -> bool {
    // SAFETY: only the addresses of the linker's symbols are taken; nothing is read.
    #[allow(unused_unsafe)]
    let (start, end) = unsafe { (addr_of_mut!(__spool_ram) as usize, addr_of_mut!(__epool_ram) as usize) };
    (start..end).contains(&address)
}

#[entry]
fn main() -> ! {
    // `.pool_ram` is NOLOAD: the runtime neither copies nor zeroes it, and a pool starts
    // all zeros. Zeroed word by word before anything uses a pool placed there.
    // SAFETY: [__spool_ram, __epool_ram) is the `.pool_ram` section, word-aligned
    // (ALIGN(8) at both ends); no pool in it has been used yet, so nothing else
    // accesses that memory now.
    unsafe {
        let mut word = addr_of_mut!(__spool_ram);
        let end = addr_of_mut!(__epool_ram);
        while word < end {
            word.write_volatile(0);
            word = word.add(1);
        }
    }

    let a = STATIC_POOL.alloc_value([1; 512]);
    let b = Fixed::alloc_value([2; 512]);
    check!(a.is_ok() && b.is_ok(), "the 32 KiB pools hand out blocks");

    let mut placed = [0usize; 8];
    for slot in placed.iter_mut() {
        let block = Placed::alloc_value([7; 4]).ok().unwrap();
        *slot = &*block as *const _ as usize;
        check!(in_pool_ram(*slot), "Placed block at {:#x} is outside .pool_ram", *slot);
        core::mem::forget(block);
    }
    check!(Placed::alloc().is_none(), "Placed has exactly 8 blocks");
    check!(Shared::alloc([3; 64]).is_ok(), "the unplaced arc_pool! hands out blocks");
    let arc = PlacedArc::alloc(5).ok().unwrap();
    let address = &*arc as *const u32 as usize;
    check!(in_pool_ram(address), "PlacedArc block at {:#x} is outside .pool_ram", address);

    #[cfg(feature = "placed-control")]
    drop(core::hint::black_box(CONTROL.request()));

    hprintln!(
        "placed: 8 Placed blocks {:#x}..={:#x} and an Arc at {:#x}, all in .pool_ram",
        placed[0].min(placed[7]),
        placed[0].max(placed[7]),
        address
    );
    exit(true)
}
