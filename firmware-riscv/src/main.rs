//! blockpool on RISC-V (riscv32imac and riscv32imc, critical-section backend) under
//! `qemu-system-riscv32 -machine virt`: thread code and the CLINT machine-timer
//! interrupt allocate, stamp, check and free on three pools at once.
//!
//! - Pools: a `StaticPool<_, 8>`, a `pool!(Small, blocks = 4)` and a `pool!(Grown)` grown
//!   with `grow_exact` (6 blocks).
//! - The timer fires at a varying period, so it lands anywhere in the thread's loop,
//!   around (never inside: interrupts are masked there) the pool's critical sections.
//!   Each handler run allocates and frees on every pool and keeps a few boxes across
//!   runs, so pools run dry (the empty path is exercised).
//! - Every box carries a stamp (context, sequence number); it is checked before the box
//!   is freed: a block handed to two owners at once gets overwritten and fails the run.
//! - At the end, with the timer off and every box dropped, each pool must hand out
//!   exactly its capacity in distinct blocks, then `None`, twice.
//! - `--features selftest-leak` forgets one box: that accounting must then fail.
//!
//! Output goes to the virt machine's UART; the exit status is set through its
//! `sifive_test` device (0 pass, 1 fail).

#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

use blockpool::{pool, Block, Box, StaticPool};

const UART: *mut u8 = 0x1000_0000 as *mut u8;
const TEST_DEVICE: *mut u32 = 0x0010_0000 as *mut u32;
const MTIMECMP: *mut u32 = 0x0200_4000 as *mut u32;
const MTIME: *const u32 = 0x0200_BFF8 as *const u32;

const TARGET_THREAD: u32 = 100_000;
const TARGET_TIMER: u32 = 20_000;

type Stamp = [u32; 4];

static SHARED: StaticPool<Stamp, 8> = StaticPool::new();
pool!(Small: Stamp, blocks = 4);
pool!(Grown: Stamp);
const GROWN_N: usize = 6;

static IN_OP: AtomicBool = AtomicBool::new(false);
static TIMER_RUNS: AtomicU32 = AtomicU32::new(0);
static TIMER_ALLOCS: AtomicU32 = AtomicU32::new(0);
static TIMER_EMPTY: AtomicU32 = AtomicU32::new(0);
static NEAR_OP: AtomicU32 = AtomicU32::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

// Start-up: stack, zeroed .bss, trap vector, then `main`. The trap entry saves the
// caller-saved registers (the rest are saved by `trap_handler` itself, per the ABI).
global_asm!(
    ".section .text.start, \"ax\"",
    ".global _start",
    "_start:",
    ".option push",
    ".option norelax",
    "la sp, __stack_top",
    ".option pop",
    "la t0, __sbss",
    "la t1, __ebss",
    "1: bgeu t0, t1, 2f",
    "sw zero, 0(t0)",
    "addi t0, t0, 4",
    "j 1b",
    "2: la t0, trap_entry",
    "csrw mtvec, t0",
    "call main",
    "3: j 3b",
    ".text",
    ".align 4",
    "trap_entry:",
    "addi sp, sp, -64",
    "sw ra, 0(sp)",
    "sw t0, 4(sp)",
    "sw t1, 8(sp)",
    "sw t2, 12(sp)",
    "sw t3, 16(sp)",
    "sw t4, 20(sp)",
    "sw t5, 24(sp)",
    "sw t6, 28(sp)",
    "sw a0, 32(sp)",
    "sw a1, 36(sp)",
    "sw a2, 40(sp)",
    "sw a3, 44(sp)",
    "sw a4, 48(sp)",
    "sw a5, 52(sp)",
    "sw a6, 56(sp)",
    "sw a7, 60(sp)",
    "call trap_handler",
    "lw ra, 0(sp)",
    "lw t0, 4(sp)",
    "lw t1, 8(sp)",
    "lw t2, 12(sp)",
    "lw t3, 16(sp)",
    "lw t4, 20(sp)",
    "lw t5, 24(sp)",
    "lw t6, 28(sp)",
    "lw a0, 32(sp)",
    "lw a1, 36(sp)",
    "lw a2, 40(sp)",
    "lw a3, 44(sp)",
    "lw a4, 48(sp)",
    "lw a5, 52(sp)",
    "lw a6, 56(sp)",
    "lw a7, 60(sp)",
    "addi sp, sp, 64",
    "mret",
);

/// A single-hart critical section: clears `mstatus.MIE` and restores it as it was.
struct SingleHart;
critical_section::set_impl!(SingleHart);

// SAFETY: with one hart, masking machine interrupts (`mstatus.MIE`) excludes every other
// context; `release` restores exactly the state `acquire` found, so nesting is right.
unsafe impl critical_section::Impl for SingleHart {
    unsafe fn acquire() -> bool {
        let mstatus: usize;
        // SAFETY: reads and clears MIE of the current hart; no memory is touched, and it
        // is a compiler barrier (no `nomem`), so accesses stay inside.
        unsafe { asm!("csrrci {0}, mstatus, 8", out(reg) mstatus) };
        mstatus & 8 != 0
    }

    unsafe fn release(was_enabled: bool) {
        if was_enabled {
            // SAFETY: sets MIE again, as `acquire` found it; a compiler barrier.
            unsafe { asm!("csrsi mstatus, 8") };
        }
    }
}

struct Uart;

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for byte in s.bytes() {
            // SAFETY: the virt machine's 16550 UART transmit register; QEMU accepts
            // every byte at once.
            unsafe { UART.write_volatile(byte) };
        }
        Ok(())
    }
}

macro_rules! println {
    ($($arg:tt)*) => {{
        critical_section::with(|_| { let _ = writeln!(Uart, $($arg)*); });
    }};
}

fn exit(ok: bool) -> ! {
    // SAFETY: the `sifive_test` device of the virt machine: 0x5555 ends the emulation
    // with status 0, `(1 << 16) | 0x3333` with status 1.
    unsafe { TEST_DEVICE.write_volatile(if ok { 0x5555 } else { (1 << 16) | 0x3333 }) };
    loop {
        // SAFETY: waits for an interrupt; touches no memory. (Not reached under QEMU.)
        unsafe { asm!("wfi") };
    }
}

macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            println!("FAIL: {}", format_args!($($arg)*));
            exit(false);
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("panic: {}", info);
    exit(false)
}

fn mtime() -> u64 {
    loop {
        // SAFETY: the CLINT's `mtime` register, read as two halves until stable.
        let (hi, lo, hi2) = unsafe {
            (
                MTIME.add(1).read_volatile(),
                MTIME.read_volatile(),
                MTIME.add(1).read_volatile(),
            )
        };
        if hi == hi2 {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

fn set_timer(at: u64) {
    // SAFETY: hart 0's `mtimecmp`; the high half is first set out of reach so that no
    // spurious interrupt fires between the two stores.
    unsafe {
        MTIMECMP.add(1).write_volatile(u32::MAX);
        MTIMECMP.write_volatile(at as u32);
        MTIMECMP.add(1).write_volatile((at >> 32) as u32);
    }
}

/// Adds one to a counter that only the timer handler writes (it never preempts itself),
/// so a load and a store suffice: riscv32imc has no atomic read-modify-write.
fn bump(counter: &AtomicU32) -> u32 {
    let value = counter.load(Relaxed);
    counter.store(value.wrapping_add(1), Relaxed);
    value
}

/// A cheap pseudo-random step (xorshift).
fn next_random(state: &mut u32) -> u32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    *state
}

/// One box of any of the three pools.
enum Held {
    Shared(Box<&'static StaticPool<Stamp, 8>>),
    Small(Box<Small>),
    Grown(Box<Grown>),
}

impl Held {
    fn stamp(&self) -> &Stamp {
        match self {
            Held::Shared(b) => b,
            Held::Small(b) => b,
            Held::Grown(b) => b,
        }
    }
}

fn alloc(which: u32, stamp: Stamp) -> Option<Held> {
    match which % 3 {
        0 => SHARED.alloc_value(stamp).ok().map(Held::Shared),
        1 => Small::alloc_value(stamp).ok().map(Held::Small),
        _ => Grown::alloc_value(stamp).ok().map(Held::Grown),
    }
}

fn stamp(ctx: u32, seq: u32, which: u32) -> Stamp {
    [0xB10C_0000 | ctx, seq, which % 3, !seq]
}

fn check_stamp(held: &Held, expected: &Stamp, who: &str) {
    check!(
        held.stamp() == expected,
        "{}: block overwritten (handed out twice?): {:x?} != {:x?}",
        who,
        held.stamp(),
        expected
    );
}

const TIMER_KEEP: usize = 3;
static mut TIMER_HELD: [Option<(Held, Stamp)>; TIMER_KEEP] = [const { None }; TIMER_KEEP];
static TIMER_SEQ: AtomicU32 = AtomicU32::new(0);
static TIMER_RANDOM: AtomicU32 = AtomicU32::new(0x1234_5678);

#[no_mangle]
extern "C" fn trap_handler() {
    let mcause: usize;
    // SAFETY: reads a CSR.
    unsafe { asm!("csrr {0}, mcause", out(reg) mcause) };
    check!(
        mcause == 0x8000_0007,
        "unexpected trap, mcause {:#x}",
        mcause
    );
    if IN_OP.load(Relaxed) {
        bump(&NEAR_OP);
    }
    let runs = bump(&TIMER_RUNS);
    // SAFETY: only this handler uses TIMER_HELD, and it never preempts itself (MIE is
    // clear while a trap is handled).
    let held = unsafe { &mut *core::ptr::addr_of_mut!(TIMER_HELD) };
    for which in 0..3 {
        let seq = bump(&TIMER_SEQ);
        let s = stamp(1, seq, which);
        match alloc(which, s) {
            Some(b) => {
                bump(&TIMER_ALLOCS);
                check_stamp(&b, &s, "timer");
                let slot = (seq as usize) % TIMER_KEEP;
                if let Some((old, old_stamp)) = held[slot].take() {
                    check_stamp(&old, &old_stamp, "timer (kept)");
                }
                if runs.is_multiple_of(2) {
                    held[slot] = Some((b, s));
                }
            }
            None => {
                bump(&TIMER_EMPTY);
            }
        }
    }
    if STOP.load(Relaxed) {
        for slot in held.iter_mut() {
            if let Some((old, old_stamp)) = slot.take() {
                check_stamp(&old, &old_stamp, "timer (kept)");
            }
        }
        set_timer(u64::MAX);
        return;
    }
    let mut r = TIMER_RANDOM.load(Relaxed);
    let delay = 50 + u64::from(next_random(&mut r) % 400);
    TIMER_RANDOM.store(r, Relaxed);
    set_timer(mtime() + delay);
}

/// With the timer off and nothing held: each pool hands out exactly `n` distinct blocks.
fn account(name: &str, n: usize, which: u32) {
    for round in 0..2 {
        let mut got: [Option<Held>; 8] = [const { None }; 8];
        let mut addresses = [0usize; 8];
        let mut count = 0;
        while let Some(b) = alloc(which, stamp(2, count as u32, which)) {
            check!(count < n, "{}: more than {} blocks at the end", name, n);
            let address = b.stamp() as *const Stamp as usize;
            check!(
                !addresses[..count].contains(&address),
                "{}: block {:#x} handed out twice at the end",
                name,
                address
            );
            addresses[count] = address;
            got[count] = Some(b);
            count += 1;
        }
        check!(
            count == n,
            "{}: only {} of {} blocks left at the end: {} lost",
            name,
            count,
            n,
            n - count
        );
        println!(
            "  {}: all {} blocks accounted for (round {})",
            name,
            n,
            round + 1
        );
    }
}

#[no_mangle]
extern "C" fn main() -> ! {
    static mut GROWN_MEMORY: [Block<Stamp>; GROWN_N] = [const { Block::new() }; GROWN_N];
    println!(
        "riscv: {} on qemu virt | blockpool backend {}",
        env!("FIRMWARE_TARGET"),
        blockpool::BACKEND
    );
    // SAFETY: `main` runs once and this is the only reference ever made to it.
    let added = Grown::grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(GROWN_MEMORY) });
    check!(added == GROWN_N, "grow_exact added {}", added);

    set_timer(mtime() + 100);
    // SAFETY: enables the machine-timer interrupt (mie.MTIE) and interrupts (mstatus.MIE);
    // `trap_entry` is installed.
    unsafe { asm!("li {0}, 128", "csrs mie, {0}", "csrsi mstatus, 8", out(reg) _) };

    let mut held: [Option<(Held, Stamp)>; 4] = [const { None }; 4];
    let mut allocs = 0u32;
    let mut empty = 0u32;
    let mut seq = 0u32;
    #[cfg(feature = "selftest-leak")]
    let mut leaked = false;
    while allocs < TARGET_THREAD || TIMER_ALLOCS.load(Relaxed) < TARGET_TIMER {
        let which = seq % 3;
        let s = stamp(0, seq, which);
        IN_OP.store(true, Relaxed);
        let b = alloc(which, s);
        IN_OP.store(false, Relaxed);
        seq = seq.wrapping_add(1);
        let Some(b) = b else {
            empty += 1;
            continue;
        };
        allocs += 1;
        check_stamp(&b, &s, "thread");
        let slot = (seq as usize / 3) % held.len();
        if let Some((old, old_stamp)) = held[slot].take() {
            check_stamp(&old, &old_stamp, "thread (kept)");
            IN_OP.store(true, Relaxed);
            drop(old);
            IN_OP.store(false, Relaxed);
        }
        #[cfg(feature = "selftest-leak")]
        if !leaked && allocs > 5_000 && which == 1 {
            core::mem::forget(b);
            leaked = true;
            println!("selftest-leak: leaked one block of Small on purpose");
            continue;
        }
        if seq.is_multiple_of(2) {
            held[slot] = Some((b, s));
        } else {
            check_stamp(&b, &s, "thread");
            IN_OP.store(true, Relaxed);
            drop(b);
            IN_OP.store(false, Relaxed);
        }
    }
    // Stop the timer: the next run drops what it holds and disarms itself.
    STOP.store(true, Relaxed);
    let runs = TIMER_RUNS.load(Relaxed);
    while TIMER_RUNS.load(Relaxed) == runs {}
    // SAFETY: clears mstatus.MIE: no more interrupts.
    unsafe { asm!("csrci mstatus, 8") };
    for slot in held.iter_mut() {
        if let Some((old, old_stamp)) = slot.take() {
            check_stamp(&old, &old_stamp, "thread (kept)");
        }
    }
    println!(
        "thread: {} allocs ({} times empty); timer: {} runs, {} allocs ({} times empty); {} timer interrupts next to a thread pool call",
        allocs,
        empty,
        TIMER_RUNS.load(Relaxed),
        TIMER_ALLOCS.load(Relaxed),
        TIMER_EMPTY.load(Relaxed),
        NEAR_OP.load(Relaxed)
    );
    check!(
        NEAR_OP.load(Relaxed) > 0,
        "the timer never interrupted a thread pool call"
    );
    println!("final accounting:");
    account("StaticPool<_, 8>", 8, 0);
    account("pool!(Small, blocks = 4)", 4, 1);
    account("pool!(Grown).grow_exact(6)", GROWN_N, 2);
    println!(
        "PASS riscv: {} thread allocations, {} in the timer interrupt",
        allocs,
        TIMER_ALLOCS.load(Relaxed)
    );
    exit(true)
}
