//! Helpers shared by the QEMU test firmware in `src/bin/` (the user-facing example,
//! `src/bin/example.rs`, does not use them so that it can be copied on its own).
//!
//! - [`Irq`]: an NVIC interrupt number without a device crate (cortex-m-rt then routes
//!   every IRQ to `DefaultHandler(irqn)`);
//! - [`exit`]: ends QEMU through semihosting; the exit status is the verdict;
//! - [`check!`]: fails the run (prints, exits with status 1) when a condition is false;
//! - [`contexts`]: the three contexts of `stress` and `heap` (thread mode, [`SOFT_IRQ`]'s
//!   handler, SysTick): their flags and counters, and the start and stop of the two
//!   interrupts;
//! - [`init_peers`] (feature `heap`): embedded-alloc's two heaps, the peers of
//!   `heap_cost` and `heap_util`, given their memory.

#![no_std]

use cortex_m::interrupt::InterruptNumber;
use cortex_m_semihosting::debug;

pub use cortex_m_semihosting::hprintln;
use panic_semihosting as _;

/// The software-pended interrupt the tests use: IRQ 1. No peripheral that QEMU models on
/// the three machines raises it unless the firmware enables it (lm3s6965evb: GPIO port
/// B; mps2-an385/an386: UART0 TX; micro:bit: RADIO), and these tests enable none.
pub const SOFT_IRQ: Irq = Irq(1);

/// An interrupt number for `NVIC` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Irq(pub u16);

// SAFETY: `number` returns the value it was built with, a valid IRQ number (< 32) on
// every machine the firmware runs on.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

/// The NVIC Interrupt Set-Pending Register for IRQs 0..=31: storing `1 << n` pends IRQ n.
pub const NVIC_ISPR0: usize = 0xE000_E200;

/// Ends the emulation with status 0 (`ok`) or 1.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Not reached under QEMU with semihosting; on a board without a debugger, stop.
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Fails the run with a message (from any context: thread mode or a handler).
#[macro_export]
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $crate::hprintln!("FAIL: {}", format_args!($($fmt)+));
            $crate::exit(false);
        }
    };
}

/// The core and target this build is for (the machine is the one `.cargo/config.toml`
/// and `scripts/firmware.sh` run it on).
pub fn machine_name() -> &'static str {
    match env!("FIRMWARE_TARGET").as_bytes() {
        b"thumbv7em-none-eabihf" => "Cortex-M4F, thumbv7em-none-eabihf",
        b"thumbv7m-none-eabi" => "Cortex-M3, thumbv7m-none-eabi",
        b"thumbv6m-none-eabi" => "Cortex-M0, thumbv6m-none-eabi",
        b"thumbv8m.base-none-eabi" => "Cortex-M33 (mps2-an505) running thumbv8m.base-none-eabi",
        b"thumbv8m.main-none-eabihf" => "Cortex-M33, thumbv8m.main-none-eabihf",
        _ => env!("FIRMWARE_TARGET"),
    }
}

/// The three contexts of the `stress` and `heap` firmware: thread mode, [`SOFT_IRQ`]'s
/// handler (priority below SysTick's) and SysTick, each preempting the one before it.
pub mod contexts {
    use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
    use cortex_m::peripheral::{syst::SystClkSource, NVIC, SYST};

    use crate::SOFT_IRQ;

    pub const THREAD: usize = 0;
    pub const IRQ: usize = 1;
    pub const SYSTICK: usize = 2;
    pub const NAMES: [&str; 3] = ["thread", "irq", "systick"];

    /// Set around each operation under test by thread mode and by the IRQ handler.
    pub static THREAD_IN_OP: AtomicBool = AtomicBool::new(false);
    pub static IRQ_IN_OP: AtomicBool = AtomicBool::new(false);
    /// Preemptions seen (each written by one handler only), and the handlers' runs.
    pub static TICK_IN_THREAD_OP: AtomicU32 = AtomicU32::new(0);
    pub static TICK_IN_IRQ_OP: AtomicU32 = AtomicU32::new(0);
    pub static IRQ_IN_THREAD_OP: AtomicU32 = AtomicU32::new(0);
    pub static TICKS: AtomicU32 = AtomicU32::new(0);
    pub static IRQ_RUNS: AtomicU32 = AtomicU32::new(0);
    /// Thread mode asks the handlers to drop what they hold and stop.
    pub static STOP: AtomicBool = AtomicBool::new(false);

    /// Adds one to a counter that a single context writes (thumbv6m has no atomic add).
    pub fn bump(c: &AtomicU32) {
        c.store(c.load(Relaxed) + 1, Relaxed);
    }

    /// Starts the two interrupts, their priorities already set: SysTick every `reload`
    /// core cycles, and [`SOFT_IRQ`] unmasked.
    ///
    /// # Safety
    /// As [`NVIC::unmask`]'s: the handlers are ready, and no priority-based critical
    /// section is in progress.
    pub unsafe fn start_interrupts(syst: &mut SYST, reload: u32) {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(reload);
        syst.clear_current();
        syst.enable_interrupt();
        // SAFETY: the caller's promise.
        unsafe { NVIC::unmask(SOFT_IRQ) };
        syst.enable_counter();
    }

    /// Stops the handlers, then the interrupts: sets [`STOP`], pends [`SOFT_IRQ`], waits
    /// until `handlers_done()` (both handlers have dropped what they hold), then
    /// switches SysTick off and masks [`SOFT_IRQ`].
    pub fn stop_interrupts(syst: &mut SYST, handlers_done: impl Fn() -> bool) {
        STOP.store(true, Relaxed);
        NVIC::pend(SOFT_IRQ);
        while !handlers_done() {
            cortex_m::asm::nop();
        }
        syst.disable_interrupt();
        syst.disable_counter();
        NVIC::mask(SOFT_IRQ);
    }
}

/// Gives embedded-alloc's linked-list and TLSF heaps (the peers in `heap_cost` and
/// `heap_util`) `N` bytes each, at `llff_mem` and `tlsf_mem`.
///
/// # Safety
/// Each region is given to one live heap at a time, and nothing else touches it.
#[cfg(feature = "heap")]
pub unsafe fn init_peers<const N: usize>(
    llff: &embedded_alloc::LlffHeap,
    llff_mem: *mut [core::mem::MaybeUninit<u8>; N],
    tlsf: &embedded_alloc::TlsfHeap,
    tlsf_mem: *mut [core::mem::MaybeUninit<u8>; N],
) {
    // SAFETY: the caller's promise.
    unsafe {
        llff.init(llff_mem as usize, N);
        tlsf.init(tlsf_mem as usize, N);
    }
}
