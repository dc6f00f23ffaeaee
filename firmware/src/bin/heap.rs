//! blockpool's `Heap` as the `#[global_allocator]` of a Cortex-M firmware, under QEMU:
//! `Vec`, `Box`, `String` and `BTreeMap` from thread mode and from two interrupt
//! priorities at once (SysTick preempting a software-pended NVIC interrupt, both
//! preempting thread mode), each context checking the contents of its own
//! collections; at the end every collection is dropped and the heap's accounting must
//! balance: no block in use in any class, no failure, the carved blocks within the
//! arena used.
//!
//! LL/SC targets (thumbv7m, thumbv7em) run the heap lock-free; thumbv6m runs it in
//! critical sections (cortex-m's `critical-section-single-core`).
//!
//! Feature `heap-selftest-leak`: thread mode leaks one `Box` on purpose; the accounting
//! must then fail (`scripts/heap.sh` checks that it does).

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

use blockpool::Heap;
use blockpool_firmware::contexts::{
    bump, start_interrupts, stop_interrupts, IRQ, IRQ_IN_OP, IRQ_IN_THREAD_OP, IRQ_RUNS, NAMES,
    STOP, SYSTICK, THREAD, THREAD_IN_OP, TICKS, TICK_IN_IRQ_OP, TICK_IN_THREAD_OP,
};
use blockpool_firmware::{check, exit, hprintln, machine_name, SOFT_IRQ};
use cortex_m::peripheral::{scb::SystemHandler, NVIC};
use cortex_m_rt::{entry, exception, ExceptionFrame};

/// The micro:bit has 16 KiB of RAM; the M3/M4 machines 64 KiB.
const SMALL_RAM: bool = matches!(env!("FIRMWARE_TARGET").as_bytes(), b"thumbv6m-none-eabi");
const ARENA: usize = if SMALL_RAM { 6 * 1024 } else { 24 * 1024 };

/// The global allocator: one `static` (the heap inside it is all zeros: `.bss`), no
/// `init`, no `unsafe`.
#[global_allocator]
static HEAP: &Heap<ARENA> = {
    static HEAP: Heap<ARENA> = Heap::new();
    &HEAP
};

/// Steps each context runs before the end.
const TARGET: u32 = 20_000;
const SYSTICK_RELOAD: u32 = 4_000;
const SYSTICK_PRIORITY: u8 = 0x40; // preempts the IRQ ...
const IRQ_PRIORITY: u8 = 0x80; // ... which preempts thread mode

static STEPS: [AtomicU32; 3] = [const { AtomicU32::new(0) }; 3];
static DONE: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];

/// A value that says which context wrote it.
fn tag(ctx: usize, x: u32) -> u32 {
    ((ctx as u32 + 1) << 28) | (x & 0x0FFF_FFFF)
}

/// One context's collections; each step creates or checks-and-drops one of them.
struct Work {
    ctx: usize,
    seq: u32,
    vecs: [Option<(u32, Vec<u32>)>; 2],
    boxes: [Option<(u32, Box<[u32; 6]>)>; 2],
    text: Option<(u32, String)>,
    map: BTreeMap<u16, u32>,
}

impl Work {
    const fn new(ctx: usize) -> Self {
        Self {
            ctx,
            seq: 0,
            vecs: [None, None],
            boxes: [None, None],
            text: None,
            map: BTreeMap::new(),
        }
    }

    fn step(&mut self) {
        let ctx = self.ctx;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let slot = (seq / 5) as usize % 2;
        match seq % 5 {
            0 => match self.vecs[slot].take() {
                Some((base, v)) => {
                    for (i, &x) in v.iter().enumerate() {
                        check!(
                            x == tag(ctx, base + i as u32),
                            "{}: Vec element {} is {:#x}",
                            NAMES[ctx],
                            i,
                            x
                        );
                    }
                }
                None => {
                    // Grown one element at a time: reallocations through several classes.
                    let mut v = Vec::new();
                    for i in 0..(seq % 61) {
                        v.push(tag(ctx, seq + i));
                    }
                    self.vecs[slot] = Some((seq, v));
                }
            },
            1 => match self.boxes[slot].take() {
                Some((s, b)) => {
                    check!(*b == [tag(ctx, s); 6], "{}: Box holds {:x?}", NAMES[ctx], b)
                }
                None => self.boxes[slot] = Some((seq, Box::new([tag(ctx, seq); 6]))),
            },
            2 => match self.text.take() {
                Some((s, text)) => {
                    let mut want = String::new();
                    let _ = write!(want, "{}:{}:{}", NAMES[ctx], s, s.wrapping_mul(2654435761));
                    check!(
                        text == want,
                        "{}: String is {:?}, not {:?}",
                        NAMES[ctx],
                        text,
                        want
                    );
                }
                None => {
                    let mut text = String::new();
                    let _ = write!(
                        text,
                        "{}:{}:{}",
                        NAMES[ctx],
                        seq,
                        seq.wrapping_mul(2654435761)
                    );
                    self.text = Some((seq, text));
                }
            },
            _ => {
                let key = (seq.wrapping_mul(7) % 24) as u16;
                self.map.insert(key, tag(ctx, u32::from(key)));
                self.map.remove(&((seq.wrapping_mul(11) % 24) as u16));
                for (&k, &v) in &self.map {
                    check!(
                        v == tag(ctx, u32::from(k)),
                        "{}: map[{}] = {:#x}",
                        NAMES[ctx],
                        k,
                        v
                    );
                }
            }
        }
        bump(&STEPS[ctx]);
    }
}

#[entry]
fn main() -> ! {
    hprintln!(
        "heap: {} | blockpool backend {} | arena {} bytes",
        machine_name(),
        blockpool::BACKEND,
        ARENA
    );
    let mut cp = cortex_m::Peripherals::take().unwrap();
    // SAFETY: priorities are set before the interrupts are enabled.
    unsafe {
        cp.SCB
            .set_priority(SystemHandler::SysTick, SYSTICK_PRIORITY);
        cp.NVIC.set_priority(SOFT_IRQ, IRQ_PRIORITY);
    }
    // SAFETY: the handler below is ready for it.
    unsafe { start_interrupts(&mut cp.SYST, SYSTICK_RELOAD) };

    let mut work = Work::new(THREAD);
    #[cfg(feature = "heap-selftest-leak")]
    let mut leaked = false;
    while STEPS.iter().any(|s| s.load(Relaxed) < TARGET) {
        THREAD_IN_OP.store(true, Relaxed);
        work.step();
        THREAD_IN_OP.store(false, Relaxed);
        #[cfg(feature = "heap-selftest-leak")]
        if !leaked && STEPS[THREAD].load(Relaxed) >= 1_000 {
            core::hint::black_box(Box::leak(Box::new([0u32; 6])));
            leaked = true;
            hprintln!("selftest-leak: leaked one Box on purpose");
        }
    }
    stop_interrupts(&mut cp.SYST, || {
        DONE[IRQ].load(Relaxed) && DONE[SYSTICK].load(Relaxed)
    });
    drop(work);

    for (ctx, steps) in STEPS.iter().enumerate() {
        hprintln!("  {:8} {:6} steps", NAMES[ctx], steps.load(Relaxed));
    }
    let preemptions = [
        (
            "SysTick preempted thread mode inside a step",
            TICK_IN_THREAD_OP.load(Relaxed),
        ),
        (
            "SysTick preempted the IRQ inside a step",
            TICK_IN_IRQ_OP.load(Relaxed),
        ),
        (
            "the IRQ preempted thread mode inside a step",
            IRQ_IN_THREAD_OP.load(Relaxed),
        ),
    ];
    for (what, n) in preemptions {
        hprintln!("  {:46} {:6} times", what, n);
    }
    for (what, n) in preemptions {
        check!(n > 0, "no preemption seen: {}", what);
    }

    let stats = HEAP.stats();
    hprintln!("heap classes used (size: carved, high water, in use, failures):");
    let mut carved_bytes = 0;
    for class in stats.classes.iter().filter(|c| c.carved > 0) {
        hprintln!(
            "  {:5} B: {:4} carved, high water {:4}, in use {}, failures {}",
            class.size,
            class.carved,
            class.high_water,
            class.in_use,
            class.failures
        );
        carved_bytes += class.carved * (class.size + 4);
    }
    hprintln!(
        "arena: {} of {} bytes carved ({} in blocks and links, the rest alignment padding)",
        stats.arena_used,
        stats.arena_size,
        carved_bytes
    );
    check!(
        stats.in_use() == 0,
        "accounting: {} blocks still in use after every collection was dropped",
        stats.in_use()
    );
    check!(
        stats.failures() == 0 && stats.rejected == 0,
        "accounting: {} failures, {} rejected",
        stats.failures(),
        stats.rejected
    );
    check!(
        carved_bytes <= stats.arena_used && stats.arena_used <= stats.arena_size,
        "accounting: carved {} bytes, arena used {} of {}",
        carved_bytes,
        stats.arena_used,
        stats.arena_size
    );
    hprintln!(
        "PASS heap: Vec, Box, String, BTreeMap in 3 contexts, {} steps each, accounting balanced",
        TARGET
    );
    exit(true)
}

/// Runs `steps` steps (0: until the next SysTick, at most 5,000) in a handler.
fn run_handler(work: &mut Work, ctx: usize, in_op: Option<&AtomicBool>, steps: u32) {
    if STOP.load(Relaxed) {
        if !DONE[ctx].load(Relaxed) {
            *work = Work::new(ctx); // drops every collection, in this context
            DONE[ctx].store(true, Relaxed);
        }
        return;
    }
    let ticks = TICKS.load(Relaxed);
    let mut n = 0;
    while if steps == 0 {
        TICKS.load(Relaxed) == ticks && n < 5_000
    } else {
        n < steps
    } {
        n += 1;
        if let Some(flag) = in_op {
            flag.store(true, Relaxed);
        }
        work.step();
        if let Some(flag) = in_op {
            flag.store(false, Relaxed);
        }
    }
}

#[exception]
fn SysTick() {
    static mut WORK: Work = Work::new(SYSTICK);
    bump(&TICKS);
    if THREAD_IN_OP.load(Relaxed) {
        bump(&TICK_IN_THREAD_OP);
    }
    if IRQ_IN_OP.load(Relaxed) {
        bump(&TICK_IN_IRQ_OP);
    }
    run_handler(WORK, SYSTICK, None, 3);
    if !STOP.load(Relaxed) {
        NVIC::pend(SOFT_IRQ);
    }
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    static mut WORK: Work = Work::new(IRQ);
    // SAFETY: cortex-m-rt gives this handler's `static mut` to this handler only, which
    // does not preempt itself.
    let work = unsafe { &mut *core::ptr::addr_of_mut!(WORK) };
    check!(irqn == SOFT_IRQ.0 as i16, "unexpected interrupt {}", irqn);
    if THREAD_IN_OP.load(Relaxed) {
        bump(&IRQ_IN_THREAD_OP);
    }
    // Every other run keeps going until SysTick preempts it.
    bump(&IRQ_RUNS);
    let steps = if IRQ_RUNS.load(Relaxed) & 1 == 0 {
        0
    } else {
        12
    };
    run_handler(work, IRQ, Some(&IRQ_IN_OP), steps);
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    hprintln!("FAIL: HardFault: {:?}", ef);
    exit(false)
}
