//! Helpers shared by the QEMU test firmware in `src/bin/` (the user-facing example,
//! `src/bin/example.rs`, does not use them so that it can be copied on its own).
//!
//! - [`Irq`]: an NVIC interrupt number without a device crate (cortex-m-rt then routes
//!   every IRQ to `DefaultHandler(irqn)`);
//! - [`exit`]: ends QEMU through semihosting; the exit status is the verdict;
//! - [`check!`]: fails the run (prints, exits with status 1) when a condition is false.

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
