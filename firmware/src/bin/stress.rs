//! Stress test under QEMU: thread mode, SysTick and a software-pended NVIC interrupt
//! all allocate, stamp, check and free blocks of the same three pools, with SysTick at a
//! higher priority than the NVIC interrupt, so that
//!
//! - SysTick preempts thread mode and the NVIC interrupt handler,
//! - the NVIC interrupt (pended by SysTick, so it runs when SysTick returns, i.e. at the
//!   arbitrary point where SysTick had stopped thread mode) preempts thread mode,
//!
//! each in the middle of pool operations (counted and required). Each context makes at
//! least `TARGET` successful allocations (and as many frees).
//!
//! Checks, any of which ends the run with exit status 1:
//! - every block handed out is one of its pool's blocks, not owned by anybody at that
//!   moment (an ownership table per pool), and its stamp (context, sequence number,
//!   block index) is intact when it is checked and when it is freed: a block handed to
//!   two owners at once is caught by one or the other;
//! - at the end, with the interrupts stopped and every box dropped, each pool hands out
//!   exactly its capacity in distinct blocks and then `None`, twice: no block lost, none
//!   in the free list twice.
//!
//! Pools: a `StaticPool` in a `static`, a `pool!` singleton with `blocks = N` and a
//! `pool!` singleton grown from an array with `grow_exact` (the `Pool` kind).

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::Relaxed};

use blockpool::{pool, Block, Box, PoolHandle, StaticPool, Uninit};
use blockpool_firmware::contexts::{
    bump, start_interrupts, stop_interrupts, IRQ, IRQ_IN_OP, IRQ_IN_THREAD_OP, IRQ_RUNS, NAMES,
    STOP, SYSTICK, THREAD, THREAD_IN_OP, TICKS, TICK_IN_IRQ_OP, TICK_IN_THREAD_OP,
};
use blockpool_firmware::{check, exit, hprintln, machine_name, SOFT_IRQ};
use cortex_m::peripheral::{scb::SystemHandler, NVIC, SCB};
use cortex_m_rt::{entry, exception, ExceptionFrame};

/// Successful allocations each context must make (frees: as many).
const TARGET: u32 = 100_000;

/// SysTick reload: the tick period in core clock cycles.
const SYSTICK_RELOAD: u32 = 2_000;
/// Priorities (upper bits; every core here implements at least the top two bits).
const SYSTICK_PRIORITY: u8 = 0x40; // higher (numerically lower) ...
const IRQ_PRIORITY: u8 = 0x80; // ... than the software-pended interrupt

/// A block's payload: who owns it, which of its allocations this is, which block it is.
type Stamp = [u32; 4];
const MAGIC: u32 = 0xB10C_0000;

// ---------------------------------------------------------------- the pools under test

const SHARED_N: usize = 8;
static SHARED: StaticPool<Stamp, SHARED_N> = StaticPool::new();

const SMALL_N: usize = 4;
pool!(Small: Stamp, blocks = SMALL_N);

const GROWN_N: usize = 6;
pool!(Grown: Stamp);

fn alloc_shared() -> Option<Box<&'static StaticPool<Stamp, SHARED_N>, Uninit>> {
    SHARED.alloc()
}
fn alloc_small() -> Option<Box<Small, Uninit>> {
    Small::alloc()
}
fn alloc_grown() -> Option<Box<Grown, Uninit>> {
    Grown::alloc()
}

// ------------------------------------------------------------------------ bookkeeping

/// Who owns each block of a pool. The addresses are filled in before the interrupts are
/// enabled and never change; an owner is written only by the context that owns (or is
/// about to own) the block, so plain loads and stores suffice (thumbv6m has no
/// read-modify-write atomics).
struct Table<const N: usize> {
    name: &'static str,
    addr: [AtomicUsize; N],
    owner: [AtomicU32; N],
}

const FREE: u32 = 0;

impl<const N: usize> Table<N> {
    const fn new(name: &'static str) -> Self {
        Self {
            name,
            addr: [const { AtomicUsize::new(0) }; N],
            owner: [const { AtomicU32::new(FREE) }; N],
        }
    }

    fn index(&self, block: *const Stamp) -> usize {
        let a = block as usize;
        match self.addr.iter().position(|x| x.load(Relaxed) == a) {
            Some(i) => i,
            None => {
                hprintln!("FAIL: {}: block {:#x} is not one of the pool's blocks", self.name, a);
                exit(false)
            }
        }
    }

    fn claim(&self, i: usize, ctx: usize) {
        let o = self.owner[i].load(Relaxed);
        check!(
            o == FREE,
            "{}: block {} handed to {} while {} owns it (duplicate)",
            self.name,
            i,
            NAMES[ctx],
            NAMES[(o - 1) as usize % 3]
        );
        self.owner[i].store(ctx as u32 + 1, Relaxed);
    }

    fn release(&self, i: usize, ctx: usize) {
        let o = self.owner[i].load(Relaxed);
        check!(
            o == ctx as u32 + 1,
            "{}: {} frees block {} but the table says owner {}",
            self.name,
            NAMES[ctx],
            i,
            o
        );
        self.owner[i].store(FREE, Relaxed);
    }

    /// Before the interrupts start: take every block once, learn their addresses, check
    /// they are distinct and that there is no `N+1`th, give them back.
    fn learn<P: PoolHandle<Data = Stamp>>(&self, alloc: fn() -> Option<Box<P, Uninit>>) {
        let mut all: [Option<Box<P, Uninit>>; N] = [const { None }; N];
        for (k, slot) in all.iter_mut().enumerate() {
            let b = alloc();
            check!(b.is_some(), "{}: only {} of {} blocks at start", self.name, k, N);
            let b = b.unwrap();
            let a = b.as_ptr() as usize;
            check!(
                self.addr[..k].iter().all(|x| x.load(Relaxed) != a),
                "{}: block {:#x} handed out twice at start",
                self.name,
                a
            );
            self.addr[k].store(a, Relaxed);
            *slot = Some(b);
        }
        check!(alloc().is_none(), "{}: more than {} blocks at start", self.name, N);
    }

    /// After the interrupts stopped and every box was dropped: the pool must hand out
    /// exactly its `N` blocks (all distinct, all known, all marked free), then `None`.
    fn account<P: PoolHandle<Data = Stamp>>(&self, alloc: fn() -> Option<Box<P, Uninit>>) {
        for round in 0..2 {
            let mut all: [Option<Box<P, Uninit>>; N] = [const { None }; N];
            let mut seen = 0u32;
            for (k, slot) in all.iter_mut().enumerate() {
                let b = alloc();
                check!(
                    b.is_some(),
                    "{}: only {} of {} blocks left at the end: {} lost",
                    self.name,
                    k,
                    N,
                    N - k
                );
                let b = b.unwrap();
                let i = self.index(b.as_ptr());
                check!(seen & (1 << i) == 0, "{}: block {} handed out twice at the end", self.name, i);
                check!(
                    self.owner[i].load(Relaxed) == FREE,
                    "{}: block {} still marked as owned at the end",
                    self.name,
                    i
                );
                seen |= 1 << i;
                *slot = Some(b);
            }
            check!(
                alloc().is_none(),
                "{}: an {}th block was handed out at the end (a block is in the free list twice)",
                self.name,
                N + 1
            );
            hprintln!("  {}: all {} blocks accounted for (round {})", self.name, N, round + 1);
        }
    }
}

static T_SHARED: Table<SHARED_N> = Table::new("StaticPool<_, 8>");
static T_SMALL: Table<SMALL_N> = Table::new("pool!(Small, blocks = 4)");
static T_GROWN: Table<GROWN_N> = Table::new("pool!(Grown).grow_exact(6)");

// --------------------------------------------------------------- per-context counters

/// Counters of one context; each is written only by its own context.
struct Stats {
    allocs: AtomicU32,
    frees: AtomicU32,
    exhausted: AtomicU32,
    done: AtomicBool,
}

impl Stats {
    const fn new() -> Self {
        Self {
            allocs: AtomicU32::new(0),
            frees: AtomicU32::new(0),
            exhausted: AtomicU32::new(0),
            done: AtomicBool::new(false),
        }
    }
}

static STATS: [Stats; 3] = [Stats::new(), Stats::new(), Stats::new()];

// The flags around each pool call (alloc, drop), the preemption counters and `STOP`
// are `contexts`'s; the two below are this test's own.
/// Set while the NVIC handler runs.
static IRQ_RUNNING: AtomicBool = AtomicBool::new(false);
/// SysTick preempted the NVIC handler (written by SysTick only).
static TICK_IN_IRQ: AtomicU32 = AtomicU32::new(0);

// ------------------------------------------------------------------------ the workload

fn stamp(ctx: usize, seq: u32, i: usize) -> Stamp {
    [MAGIC | ctx as u32, seq, !seq, (i as u32) ^ 0x5A5A_5A5A]
}

fn verify<const N: usize>(s: &Stamp, table: &Table<N>, ctx: usize, i: usize) {
    check!(
        s[0] == MAGIC | ctx as u32 && s[2] == !s[1] && s[3] == (i as u32) ^ 0x5A5A_5A5A,
        "{}: block {} held by {} has a foreign stamp {:x?} (another context wrote it)",
        table.name,
        i,
        NAMES[ctx],
        s
    );
}

/// One context's boxes held across steps (and, for the handlers, across invocations).
struct Held<const H: usize> {
    shared: [Option<Box<&'static StaticPool<Stamp, SHARED_N>>>; H],
    small: [Option<Box<Small>>; H],
    grown: [Option<Box<Grown>>; H],
    seq: u32,
}

impl<const H: usize> Held<H> {
    const fn new() -> Self {
        Self {
            shared: [const { None }; H],
            small: [const { None }; H],
            grown: [const { None }; H],
            seq: 0,
        }
    }

    /// One step: frees a held box or allocates one into that slot, and allocates,
    /// stamps, checks and frees one short-lived box in another pool.
    fn step(&mut self, ctx: usize, in_op: &AtomicBool) {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let slot = (seq / 3) as usize % H;
        match seq % 3 {
            0 => {
                toggle(&mut self.shared[slot], alloc_shared, &T_SHARED, ctx, seq, in_op);
                short(alloc_small, &T_SMALL, ctx, seq, in_op);
            }
            1 => {
                toggle(&mut self.small[slot], alloc_small, &T_SMALL, ctx, seq, in_op);
                short(alloc_grown, &T_GROWN, ctx, seq, in_op);
            }
            _ => {
                toggle(&mut self.grown[slot], alloc_grown, &T_GROWN, ctx, seq, in_op);
                short(alloc_shared, &T_SHARED, ctx, seq, in_op);
            }
        }
    }

    /// Checks and drops everything held.
    fn drain(&mut self, ctx: usize, in_op: &AtomicBool) {
        for s in self.shared.iter_mut() {
            if s.is_some() {
                toggle(s, alloc_shared, &T_SHARED, ctx, 0, in_op);
            }
        }
        for s in self.small.iter_mut() {
            if s.is_some() {
                toggle(s, alloc_small, &T_SMALL, ctx, 0, in_op);
            }
        }
        for s in self.grown.iter_mut() {
            if s.is_some() {
                toggle(s, alloc_grown, &T_GROWN, ctx, 0, in_op);
            }
        }
    }
}

fn take<P: PoolHandle<Data = Stamp>, const N: usize>(
    alloc: fn() -> Option<Box<P, Uninit>>,
    table: &Table<N>,
    ctx: usize,
    seq: u32,
    in_op: &AtomicBool,
) -> Option<(Box<P>, usize)> {
    in_op.store(true, Relaxed);
    let b = alloc();
    in_op.store(false, Relaxed);
    let Some(b) = b else {
        bump(&STATS[ctx].exhausted);
        return None;
    };
    let i = table.index(b.as_ptr());
    table.claim(i, ctx);
    let b = b.init(stamp(ctx, seq, i));
    bump(&STATS[ctx].allocs);
    Some((b, i))
}

fn give<P: PoolHandle<Data = Stamp>, const N: usize>(
    b: Box<P>,
    table: &Table<N>,
    ctx: usize,
    in_op: &AtomicBool,
) {
    let i = table.index(&*b);
    verify(&b, table, ctx, i);
    table.release(i, ctx);
    in_op.store(true, Relaxed);
    drop(b);
    in_op.store(false, Relaxed);
    bump(&STATS[ctx].frees);
}

fn toggle<P: PoolHandle<Data = Stamp>, const N: usize>(
    slot: &mut Option<Box<P>>,
    alloc: fn() -> Option<Box<P, Uninit>>,
    table: &Table<N>,
    ctx: usize,
    seq: u32,
    in_op: &AtomicBool,
) {
    match slot.take() {
        Some(b) => give(b, table, ctx, in_op),
        None => *slot = take(alloc, table, ctx, seq, in_op).map(|(b, _)| b),
    }
}

fn short<P: PoolHandle<Data = Stamp>, const N: usize>(
    alloc: fn() -> Option<Box<P, Uninit>>,
    table: &Table<N>,
    ctx: usize,
    seq: u32,
    in_op: &AtomicBool,
) {
    if let Some((mut b, i)) = take(alloc, table, ctx, seq, in_op) {
        verify(&b, table, ctx, i);
        b[1] = b[1].wrapping_mul(3);
        b[2] = !b[1];
        verify(&b, table, ctx, i);
        give(b, table, ctx, in_op);
    }
}

// --------------------------------------------------------------------------- contexts

#[entry]
fn main() -> ! {
    hprintln!("stress: {} | blockpool backend {}", machine_name(), blockpool::BACKEND);

    // Memory for the grown pool: the one `unsafe` of this test (the zero-`unsafe` route
    // is `StaticPool` / `pool!(.., blocks = N)`, used above).
    static mut GROWN_MEMORY: [Block<Stamp>; GROWN_N] = [const { Block::new() }; GROWN_N];
    // SAFETY: `main` runs once and this is the only reference ever made to it.
    let added = Grown::grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(GROWN_MEMORY) });
    check!(added == GROWN_N, "grow_exact added {} blocks, not {}", added, GROWN_N);

    T_SHARED.learn(alloc_shared);
    T_SMALL.learn(alloc_small);
    T_GROWN.learn(alloc_grown);

    let mut cp = cortex_m::Peripherals::take().unwrap();
    // SAFETY: priorities are set before the interrupts are enabled; no priority-based
    // critical sections exist in this program.
    unsafe {
        cp.SCB.set_priority(SystemHandler::SysTick, SYSTICK_PRIORITY);
        cp.NVIC.set_priority(SOFT_IRQ, IRQ_PRIORITY);
    }
    let tick_prio = SCB::get_priority(SystemHandler::SysTick);
    let irq_prio = NVIC::get_priority(SOFT_IRQ);
    hprintln!(
        "priorities: SysTick {:#04x}, IRQ{} {:#04x} (lower value preempts)",
        tick_prio,
        SOFT_IRQ.0,
        irq_prio
    );
    check!(tick_prio < irq_prio, "SysTick must have the higher priority");

    // SAFETY: the handler exists (DefaultHandler) and shares nothing unsynchronised.
    unsafe { start_interrupts(&mut cp.SYST, SYSTICK_RELOAD) };

    let mut held: Held<3> = Held::new();
    let mut steps = 0u32;
    #[cfg(feature = "selftest-leak")]
    let mut leaked = false;
    loop {
        held.step(THREAD, &THREAD_IN_OP);
        steps += 1;
        #[cfg(feature = "selftest-leak")]
        if !leaked && steps >= 5_000 {
            // Negative control: lose one block on purpose; the accounting must notice.
            if let Some(b) = held.small[0].take() {
                let i = T_SMALL.index(&*b);
                T_SMALL.release(i, THREAD);
                bump(&STATS[THREAD].frees); // as if it had been freed: only the pool can tell
                core::mem::forget(b);
                leaked = true;
                hprintln!("selftest-leak: leaked one block of {} on purpose", T_SMALL.name);
            }
        }
        if STATS.iter().all(|s| s.allocs.load(Relaxed) >= TARGET) {
            break;
        }
    }

    // Stop: the handlers drop what they hold, then the interrupts are switched off.
    stop_interrupts(&mut cp.SYST, || {
        STATS[IRQ].done.load(Relaxed) && STATS[SYSTICK].done.load(Relaxed)
    });
    held.drain(THREAD, &THREAD_IN_OP);

    hprintln!("thread steps: {}, SysTick ticks: {}, IRQ runs: {}", steps, TICKS.load(Relaxed), IRQ_RUNS.load(Relaxed));
    for (ctx, s) in STATS.iter().enumerate() {
        hprintln!(
            "  {:8} allocs {:7}  frees {:7}  (pool empty {} times)",
            NAMES[ctx],
            s.allocs.load(Relaxed),
            s.frees.load(Relaxed),
            s.exhausted.load(Relaxed)
        );
        check!(s.allocs.load(Relaxed) == s.frees.load(Relaxed), "{}: allocs != frees", NAMES[ctx]);
    }
    let p = [
        ("SysTick preempted a thread-mode pool operation", TICK_IN_THREAD_OP.load(Relaxed)),
        ("SysTick preempted the IRQ handler", TICK_IN_IRQ.load(Relaxed)),
        ("SysTick preempted an IRQ-handler pool operation", TICK_IN_IRQ_OP.load(Relaxed)),
        ("IRQ preempted a thread-mode pool operation", IRQ_IN_THREAD_OP.load(Relaxed)),
    ];
    for (what, n) in p {
        hprintln!("  {:48} {:6} times", what, n);
    }
    for (what, n) in p {
        check!(n > 0, "no preemption seen: {}", what);
    }

    hprintln!("final accounting:");
    T_SHARED.account(alloc_shared);
    T_SMALL.account(alloc_small);
    T_GROWN.account(alloc_grown);
    hprintln!("PASS stress: {} allocations per context in 3 contexts", TARGET);
    exit(true)
}

#[exception]
fn SysTick() {
    static mut HELD: Held<1> = Held::new();
    bump(&TICKS);
    if THREAD_IN_OP.load(Relaxed) && !IRQ_RUNNING.load(Relaxed) {
        bump(&TICK_IN_THREAD_OP);
    }
    if IRQ_RUNNING.load(Relaxed) {
        bump(&TICK_IN_IRQ);
    }
    if IRQ_IN_OP.load(Relaxed) {
        bump(&TICK_IN_IRQ_OP);
    }
    if STOP.load(Relaxed) {
        HELD.drain(SYSTICK, &AtomicBool::new(false));
        STATS[SYSTICK].done.store(true, Relaxed);
        return;
    }
    let in_op = AtomicBool::new(false);
    for _ in 0..6 {
        HELD.step(SYSTICK, &in_op);
    }
    // The NVIC interrupt runs when SysTick returns: at the point of thread mode that
    // SysTick interrupted.
    NVIC::pend(SOFT_IRQ);
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    static mut HELD: Held<2> = Held::new();
    // SAFETY: an exception never preempts itself, and only this handler names `HELD`:
    // this is the only reference to it while the handler runs.
    let held = unsafe { &mut *core::ptr::addr_of_mut!(HELD) };
    check!(irqn == SOFT_IRQ.0 as i16, "unexpected interrupt {}", irqn);
    if THREAD_IN_OP.load(Relaxed) {
        bump(&IRQ_IN_THREAD_OP);
    }
    bump(&IRQ_RUNS);
    if STOP.load(Relaxed) {
        held.drain(IRQ, &IRQ_IN_OP);
        STATS[IRQ].done.store(true, Relaxed);
        return;
    }
    IRQ_RUNNING.store(true, Relaxed);
    if IRQ_RUNS.load(Relaxed) & 1 == 0 {
        // Every other run: keep going until SysTick has preempted this handler (or a
        // bound), so that SysTick often lands inside the handler's pool operations.
        let ticks = TICKS.load(Relaxed);
        let mut n = 0;
        while TICKS.load(Relaxed) == ticks && n < 2_000 {
            held.step(IRQ, &IRQ_IN_OP);
            n += 1;
        }
    } else {
        for _ in 0..24 {
            held.step(IRQ, &IRQ_IN_OP);
        }
    }
    IRQ_RUNNING.store(false, Relaxed);
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    hprintln!("FAIL: HardFault: {:?}", ef);
    exit(false)
}
