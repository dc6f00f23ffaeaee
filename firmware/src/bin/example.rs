//! Example firmware to copy: a pool of packet buffers shared by `main` and an interrupt
//! handler, with zero `unsafe` (the crate denies it).
//!
//! The SysTick handler plays a receive interrupt: it takes a buffer from the pool, fills
//! it and queues it for `main`. `main` takes the buffers off the queue, processes them
//! and frees them into its own `LocalCache` (a cache of free blocks that only `main`
//! uses: its allocs and frees then touch nothing shared, and it exchanges blocks with
//! the pool two at a time), from which it also takes its reply buffers. When `main`
//! falls behind, the pool runs dry and the handler drops the packet: allocation never
//! blocks, and the handler's failed allocation asks `main`'s cache to hand its blocks
//! back (a flush request, honoured at the cache's next operation). At the end `main`
//! drops its cache and checks that all eight buffers are back in the pool.
//!
//! Run it (Cortex-M3 under QEMU; the exit status is 0 on success):
//!
//! ```text
//! cd firmware && cargo run --release --bin example
//! ```
//!
//! Other cores: `--target thumbv7em-none-eabihf` (Cortex-M4F, mps2-an386) or
//! `--target thumbv6m-none-eabi` (Cortex-M0, micro:bit; blockpool then uses critical
//! sections, provided by `cortex-m`'s `critical-section-single-core` feature).

#![no_std]
#![no_main]
#![deny(unsafe_code)]

use core::cell::{Cell, RefCell};

use blockpool::{pool, Box, LocalCache};
use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;

pool!(
    /// Eight packet buffers of 64 bytes, in a `static`: ready at reset, no `unsafe`.
    Packets: [u8; 64], blocks = 8
);

/// Buffers filled by the interrupt handler, waiting for `main` (a `Box<Packets>` is one
/// pointer wide, so a slot is one word).
static INBOX: Mutex<RefCell<[Option<Box<Packets>>; 4]>> =
    Mutex::new(RefCell::new([None, None, None, None]));

/// How many packets to process before exiting.
const PACKETS: u32 = 1_000;

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().unwrap();
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(5_000);
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();

    // `main`'s cache: up to 4 free buffers, refilled and emptied 2 at a time.
    let mut cache: LocalCache<Packets, 4> = LocalCache::new(Packets);
    let (mut processed, mut checksum) = (0u32, 0u32);
    while processed < PACKETS {
        // Take the oldest queued packet (a short critical section: just a move).
        let packet = interrupt::free(|cs| {
            let mut inbox = INBOX.borrow(cs).borrow_mut();
            inbox.iter_mut().find_map(Option::take)
        });
        let Some(packet) = packet else { continue };

        // `main` allocates from the same pool too, through its cache: a reply built
        // from the packet.
        if let Ok(mut reply) = cache.alloc_value([0; 64]) {
            for (r, p) in reply.iter_mut().zip(packet.iter()) {
                *r = p.wrapping_add(1);
            }
            checksum = checksum.wrapping_add(reply.iter().map(|&b| b as u32).sum::<u32>());
            cache.free(reply);
        }
        processed += 1;
        cache.free(packet); // the interrupt's buffer, into `main`'s cache
    }
    core.SYST.disable_interrupt();
    // Every buffer back: the cache's (dropping it returns them), the inbox's, then all
    // eight must come out of the pool, distinct.
    drop(cache);
    interrupt::free(|cs| INBOX.borrow(cs).borrow_mut().iter_mut().for_each(|slot| drop(slot.take())));
    let all: [Option<Box<Packets>>; 8] = core::array::from_fn(|i| Packets::alloc_value([i as u8; 64]).ok());
    let back = all.iter().flatten().count();
    let distinct = all.iter().flatten().enumerate().all(|(i, b)| b[0] == i as u8);
    if back != 8 || !distinct || Packets::alloc().is_some() {
        hprintln!("example: only {} of 8 buffers came back", back);
        debug::exit(debug::EXIT_FAILURE);
    }
    let dropped = interrupt::free(|cs| DROPPED.borrow(cs).get());
    hprintln!(
        "example: {} packets from SysTick processed in main, {} dropped (pool or queue full), checksum {:#x}",
        processed,
        dropped,
        checksum
    );
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi(); // on a board without a debugger: sleep
    }
}

static DROPPED: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));

/// The "receive interrupt": fills a buffer from the pool and queues it for `main`. The
/// pool itself needs no critical section; only the queue does.
#[exception]
fn SysTick() {
    // cortex-m-rt turns a `static mut` in a handler into a safe `&mut`.
    static mut SEQUENCE: u8 = 0;
    *SEQUENCE = SEQUENCE.wrapping_add(1);

    let Some(buffer) = Packets::alloc() else {
        return dropped(); // pool empty: `main` is behind, drop the packet
    };
    // `init` moves the data in; the box then derefs to `[u8; 64]`.
    let packet = buffer.init([*SEQUENCE; 64]);
    let rejected = interrupt::free(|cs| {
        let mut inbox = INBOX.borrow(cs).borrow_mut();
        match inbox.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => slot.replace(packet), // `None`: the slot was empty
            None => Some(packet),               // queue full
        }
    });
    if rejected.is_some() {
        dropped(); // `rejected` is dropped here: its block goes back to the pool
    }
}

fn dropped() {
    interrupt::free(|cs| DROPPED.borrow(cs).set(DROPPED.borrow(cs).get() + 1));
}
