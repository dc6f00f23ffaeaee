//! A binary whose size must not depend on how many blocks its pool has: the pool's
//! storage starts all zeros, so it is `.bss` (no bytes in the file) on every backend.
//! `scripts/firmware.sh` builds it with two block counts and compares the file sizes.
//!
//! `BLOCKPOOL_STORAGE_BLOCKS` (read at compile time, default 16) sets the number of
//! 4 KiB blocks; `BLOCKPOOL_STORAGE_CONTROL=1` adds, as the check's negative control, an
//! `ObjectPool` of as many blocks with a non-zero initial value (honestly `.data`: the
//! file grows by its size).

use blockpool::{ObjectPool, StaticPool};

/// Parses a decimal number at compile time.
const fn parse(text: Option<&str>, default: usize) -> usize {
    let Some(text) = text else { return default };
    let bytes = text.as_bytes();
    let mut value = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(
            bytes[i].is_ascii_digit(),
            "BLOCKPOOL_STORAGE_*: not a number"
        );
        value = value * 10 + (bytes[i] - b'0') as usize;
        i += 1;
    }
    value
}

const BLOCKS: usize = parse(option_env!("BLOCKPOOL_STORAGE_BLOCKS"), 16);
const CONTROL: bool = parse(option_env!("BLOCKPOOL_STORAGE_CONTROL"), 0) != 0;

static POOL: StaticPool<[u8; 4096], BLOCKS> = StaticPool::new();
static CONTROL_POOL: ObjectPool<[u8; 4096], BLOCKS> = ObjectPool::new([0xA5; 4096]);

fn main() {
    let mut block = POOL.alloc().expect("a block").init([1; 4096]);
    block[4095] = 2;
    println!(
        "{} blocks of 4 KiB; block 0 at {:p}",
        POOL.capacity(),
        &*block
    );
    if CONTROL {
        let object = CONTROL_POOL.request().expect("an object");
        println!(
            "control: an ObjectPool of {} blocks, first byte {:#x}",
            BLOCKS, object[0]
        );
    }
}
