//! Preemption *inside* the exclusive window of a pop (blockpool's LL/SC backend; build
//! with `RUSTFLAGS="--cfg blockpool_test_hooks"` and `--features test-hooks`, for
//! thumbv7m / thumbv7em / thumbv8m.base).
//!
//! With blockpool's test hooks, a pop stores a word of our choice between its load of
//! `next` and its `strex`. We store `1 << 1` to the NVIC set-pending register, so IRQ 1
//! is taken right there, inside the window. The handler plays the ABA adversary: it pops
//! the same top block `A`, pops its successor `B`, and pushes `A` back (the list is
//! `A -> C -> ...` again, with `B` in use). Then:
//!
//! - blockpool: the exception cleared the local monitor, so the interrupted pop's `strex`
//!   fails and the pop retries with a fresh `next` (`C`): the thread gets `A`, the next
//!   allocation `C`, and `B` is never handed out twice. The test requires one retry per
//!   armed pop (`pop_retries()`), one interrupt per armed pop, and the right blocks.
//! - a control: a heapless-0.7-style pop (a Rust `compare_exchange_weak` loop that reads
//!   `next` *before* its `ldrex`) under the same interrupt at the same point: its CAS
//!   succeeds with the stale `next`, and the block that the handler holds is handed out a
//!   second time. The test requires that it is (so the interleaving really is the ABA
//!   one, and the duplicate detection works).
//! - a second control: with the store disarmed, pops never retry.
//! - with `--features single-core` (blockpool's, whose push first tries once with the
//!   link stored *inside* the window): the push's hook pends IRQ 1 between that link
//!   store and the `strex`, and the handler pops the top block the link points to and
//!   keeps it. The attempt's `strex` must fail, the retry loop must finish the push with
//!   the new top as link, and the block the handler holds must not be handed out again.
//!   Disarmed, the attempt must never fail.
//!
//! Exit status 0 only if all of that holds.

#![no_std]
#![no_main]

#[cfg(not(blockpool_test_hooks))]
compile_error!(
    "the window test needs blockpool's test hooks: RUSTFLAGS=\"--cfg blockpool_test_hooks\" cargo run --release --bin window --features test-hooks"
);

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering::*};

use blockpool::testing::arm::{pop_retries, set_window_store};
use blockpool::{pool, Box};
use blockpool_firmware::{check, exit, hprintln, machine_name, NVIC_ISPR0, SOFT_IRQ};
use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception, ExceptionFrame};

/// Armed pops in the main part of the test.
const ITER: u32 = 10_000;

const N: usize = 4;
pool!(W: [u32; 4], blocks = N);

/// What the handler does when IRQ 1 is taken.
static MODE: AtomicU32 = AtomicU32::new(MODE_IDLE);
const MODE_IDLE: u32 = 0;
/// Pop `A`, pop `B`, push `A` on the pool (keep `B`).
const MODE_ABA: u32 = 1;
/// Free the block kept in `MODE_ABA`.
const MODE_RELEASE: u32 = 2;
/// Pop, pop, push on the naive stack.
const MODE_NAIVE: u32 = 3;
/// Touch nothing: only the exception entry and return happen inside the window.
const MODE_NOP: u32 = 4;
/// Inside a push's window: pop the top block (`A`, the one the pushed link names) and
/// keep it.
#[cfg(feature = "single-core")]
const MODE_PUSH_TAKE: u32 = 5;
static NOP_IRQS: AtomicU32 = AtomicU32::new(0);

/// Interrupts taken in `MODE_ABA` (inside a window).
static IRQS: AtomicU32 = AtomicU32::new(0);
/// The blocks the handler popped: `A` (pushed back) and `B` (kept).
static A: AtomicUsize = AtomicUsize::new(0);
static B: AtomicUsize = AtomicUsize::new(0);

const PEND_SOFT_IRQ: usize = 1 << SOFT_IRQ.0;

#[entry]
fn main() -> ! {
    hprintln!(
        "window: {} | blockpool backend {}",
        machine_name(),
        blockpool::BACKEND
    );
    check!(
        blockpool::BACKEND == "arm_llsc",
        "the window test is for the LL/SC backend"
    );

    // SAFETY: the handler exists (DefaultHandler); nothing here relies on masking.
    unsafe { NVIC::unmask(SOFT_IRQ) };

    // Every block into the free list (a fresh StaticPool hands out never-used blocks
    // before popping), and learn their addresses.
    let mut addrs = [0usize; N];
    {
        let all: [Option<Box<W>>; N] = core::array::from_fn(|i| W::alloc_value([i as u32; 4]).ok());
        for (i, b) in all.iter().enumerate() {
            check!(b.is_some(), "only {} blocks", i);
            addrs[i] = b.as_ref().unwrap().as_ptr() as usize;
        }
        check!(W::alloc().is_none(), "more than {} blocks", N);
    }

    // Control 1: disarmed, no interrupts: pops never retry.
    let r0 = pop_retries();
    for _ in 0..1_000 {
        let b = W::alloc().unwrap();
        drop(b);
    }
    let idle_retries = pop_retries() - r0;
    hprintln!("disarmed: 1000 pops, {} retries", idle_retries);
    check!(idle_retries == 0, "pops retried without any interrupt");

    // An interrupt whose handler touches nothing: the exception entry and return alone
    // must clear the local monitor, so the `strex` fails and the pop retries.
    let r0 = pop_retries();
    for k in 0..1_000u32 {
        // (a retry missing here would mean the exception did not clear the monitor)
        let b = inside_window(
            "nop",
            k,
            MODE_NOP,
            &NOP_IRQS,
            set_window_store,
            pop_retries,
            || W::alloc().unwrap(),
        );
        drop(b);
    }
    hprintln!(
        "armed, handler touches nothing: 1000 pops, 1000 interrupts inside the window, {} strex failures -> retries",
        pop_retries() - r0
    );

    // The test: an interrupt inside every armed pop's window.
    let r0 = pop_retries();
    let i0 = IRQS.load(Relaxed);
    let mut duplicates = 0u32;
    for k in 0..ITER {
        let t = inside_window(
            "pop",
            k,
            MODE_ABA,
            &IRQS,
            set_window_store,
            pop_retries,
            || W::alloc().unwrap().init([k; 4]),
        );
        let (a, b) = (A.load(Relaxed), B.load(Relaxed));
        let t_addr = t.as_ptr() as usize;
        check!(
            a != b && addrs.contains(&a) && addrs.contains(&b),
            "handler blocks {:#x} {:#x}",
            a,
            b
        );
        check!(
            t_addr == a,
            "pop {}: got {:#x}, expected the top block {:#x}",
            k,
            t_addr,
            a
        );
        // The list must be `C -> D`: neither A (ours) nor B (the handler's) again.
        let c = W::alloc().unwrap().init([!k; 4]);
        let d = W::alloc().unwrap().init([!k; 4]);
        for x in [&c, &d] {
            let x = x.as_ptr() as usize;
            if x == a || x == b {
                duplicates += 1;
            }
        }
        check!(
            duplicates == 0,
            "pop {}: a block in use was handed out again",
            k
        );
        check!(W::alloc().is_none(), "pop {}: a fifth block", k);
        check!(
            t[0] == k && c[0] == !k && d[0] == !k,
            "pop {}: stamps overwritten",
            k
        );
        drop((t, c, d));
        release_kept();
    }
    let retries = pop_retries() - r0;
    let irqs = IRQS.load(Relaxed) - i0;
    hprintln!(
        "armed: {} pops, {} interrupts taken inside the ldrex/strex window (each popped A, popped B, pushed A), {} strex failures -> retries, {} blocks handed out twice",
        ITER,
        irqs,
        retries,
        duplicates
    );
    check!(irqs == ITER, "interrupts {} != armed pops {}", irqs, ITER);
    check!(
        retries == ITER as usize,
        "retries {} != armed pops {}",
        retries,
        ITER
    );

    // All blocks accounted for.
    {
        let all: [Option<Box<W>>; N] = core::array::from_fn(|_| W::alloc_value([0; 4]).ok());
        let mut seen = [false; N];
        for b in all.iter() {
            check!(b.is_some(), "a block was lost");
            let a = b.as_ref().unwrap().as_ptr() as usize;
            let i = addrs.iter().position(|&x| x == a).unwrap();
            check!(!seen[i], "block {} handed out twice", i);
            seen[i] = true;
        }
        check!(W::alloc().is_none(), "more than {} blocks at the end", N);
    }

    #[cfg(feature = "single-core")]
    push_window::run();

    // Control 2: the same interleaving against a heapless-0.7-style pop.
    naive::run();

    hprintln!(
        "PASS window: {} armed pops, {} retries, 0 duplicates; naive pop corrupted as expected",
        ITER,
        retries
    );
    exit(true)
}

/// Runs `op` (one pool call) with a window store armed by `arm` to pend IRQ 1, which the
/// handler serves in `mode`; then requires that the interrupt was taken once (`irqs`
/// counts them) and that the call's `strex` failed once (`failures` counts them).
fn inside_window<R>(
    what: &str,
    k: u32,
    mode: u32,
    irqs: &AtomicU32,
    arm: fn(usize, usize),
    failures: fn() -> usize,
    op: impl FnOnce() -> R,
) -> R {
    let (f, i) = (failures(), irqs.load(Relaxed));
    MODE.store(mode, Relaxed);
    arm(NVIC_ISPR0, PEND_SOFT_IRQ);
    let r = op();
    arm(0, 0);
    check!(
        irqs.load(Relaxed) == i + 1,
        "{} {}: the interrupt was not taken in the window",
        what,
        k
    );
    check!(
        failures() == f + 1,
        "{} {}: {} strex failures, expected exactly 1",
        what,
        k,
        failures() - f
    );
    r
}

/// Has the handler free the block it kept.
fn release_kept() {
    MODE.store(MODE_RELEASE, Relaxed);
    NVIC::pend(SOFT_IRQ);
    check!(MODE.load(Relaxed) == MODE_IDLE, "release not done");
}

/// The push of the `single-core` build, interrupted inside its in-window attempt.
#[cfg(feature = "single-core")]
mod push_window {
    use super::*;
    use blockpool::testing::arm::{push_fallbacks, set_push_window_store};

    /// Armed pushes.
    const PUSHES: u32 = 1_000;

    pub fn run() {
        // Control: disarmed, the attempt with the link inside the window succeeds (the
        // ordinary store does not clear QEMU's monitor, nor, on these cores, the real one).
        let f0 = push_fallbacks();
        for _ in 0..1_000 {
            drop(W::alloc().unwrap());
        }
        let idle = push_fallbacks() - f0;
        hprintln!(
            "push, disarmed: 1000 pushes, {} fallbacks to the retry loop",
            idle
        );
        check!(
            idle == 0,
            "the push's in-window attempt failed without any interrupt"
        );

        let f0 = push_fallbacks();
        let i0 = IRQS.load(Relaxed);
        for k in 0..PUSHES {
            // Four free blocks; take the top one (`x`): the list is `P -> Q -> R`.
            let x = W::alloc().unwrap().init([k; 4]);
            let x_addr = x.as_ptr() as usize;
            // link = P, then IRQ 1 pops P and keeps it: the attempt's strex must fail
            inside_window(
                "push",
                k,
                MODE_PUSH_TAKE,
                &IRQS,
                set_push_window_store,
                push_fallbacks,
                || drop(x),
            );
            let a = A.load(Relaxed);
            // The list must be `x -> Q -> R`, without the handler's `P`.
            let got: [Option<_>; 3] = core::array::from_fn(|_| W::alloc());
            check!(
                got.iter().all(|b| b.is_some()),
                "push {}: a block was lost",
                k
            );
            let got = got.map(|b| b.unwrap().init([!k; 4]));
            check!(
                got[0].as_ptr() as usize == x_addr,
                "push {}: the pushed block is not on top",
                k
            );
            for b in got.iter() {
                check!(
                    b.as_ptr() as usize != a,
                    "push {}: the handler's block was handed out again",
                    k
                );
            }
            check!(W::alloc().is_none(), "push {}: a fifth block", k);
            drop(got);
            release_kept();
        }
        let fallbacks = push_fallbacks() - f0;
        let irqs = IRQS.load(Relaxed) - i0;
        hprintln!(
            "push, armed: {} pushes, {} interrupts inside the in-window attempt (each took the block the link named), {} strex failures -> retry loop, 0 blocks handed out twice",
            PUSHES,
            irqs,
            fallbacks
        );
        check!(
            irqs == PUSHES && fallbacks == PUSHES as usize,
            "push: interrupts {} / fallbacks {} != {}",
            irqs,
            fallbacks,
            PUSHES
        );
    }
}

/// A Treiber stack whose pop is plain Rust, like heapless 0.7's: it reads `next` before
/// the compare-and-swap, so before the `ldrex` that the compiler emits for it.
mod naive {
    use super::*;

    pub struct Node {
        next: AtomicPtr<Node>,
    }

    pub static HEAD: AtomicPtr<Node> = AtomicPtr::new(ptr::null_mut());
    static NODES: [Node; 4] = [const {
        Node {
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }; 4];
    pub static ARMED: AtomicU32 = AtomicU32::new(0);

    pub fn push(n: &'static Node) {
        let mut head = HEAD.load(Relaxed);
        loop {
            n.next.store(head, Relaxed);
            match HEAD.compare_exchange_weak(head, n as *const _ as *mut _, Release, Relaxed) {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    #[inline(never)]
    pub fn pop() -> Option<&'static Node> {
        loop {
            let top = HEAD.load(Acquire);
            if top.is_null() {
                return None;
            }
            // SAFETY: every node is a `static`.
            let next = unsafe { (*top).next.load(Relaxed) };
            if ARMED.load(Relaxed) != 0 {
                ARMED.store(0, Relaxed);
                // The same store the blockpool hook makes: IRQ 1 is taken here, after
                // `next` was read and before the CAS's `ldrex`.
                // SAFETY: NVIC_ISPR0 is the set-pending register; pending IRQ 1 is fine.
                unsafe { ptr::write_volatile(NVIC_ISPR0 as *mut u32, PEND_SOFT_IRQ as u32) };
            }
            if HEAD
                .compare_exchange_weak(top, next, Acquire, Relaxed)
                .is_ok()
            {
                // SAFETY: as above.
                return Some(unsafe { &*top });
            }
        }
    }

    pub fn run() {
        for n in NODES.iter().rev() {
            push(n);
        }
        MODE.store(MODE_NAIVE, Relaxed);
        ARMED.store(1, Relaxed);
        let t = pop().unwrap();
        let (a, b) = (A.load(Relaxed), B.load(Relaxed));
        let t_addr = t as *const _ as usize;
        let next = pop().map_or(0, |n| n as *const _ as usize);
        hprintln!(
            "naive (heapless 0.7-style) pop, same interrupt: got {:#x} (handler pushed back {:#x}), then {:#x} although the handler holds {:#x}",
            t_addr,
            a,
            next,
            b
        );
        check!(
            t_addr == a && next == b,
            "the naive pop was expected to hand out the handler's block again (ABA)"
        );
        hprintln!("  -> ABA reproduced and detected on the naive pop, as expected");
    }
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    static mut KEPT: Option<Box<W>> = None;
    // SAFETY: an exception never preempts itself and only this handler names `KEPT`.
    let kept = unsafe { &mut *ptr::addr_of_mut!(KEPT) };
    check!(irqn == SOFT_IRQ.0 as i16, "unexpected interrupt {}", irqn);
    // Disarm first: our own pops and pushes must not pend us again.
    set_window_store(0, 0);
    #[cfg(feature = "single-core")]
    blockpool::testing::arm::set_push_window_store(0, 0);
    match MODE.load(Relaxed) {
        MODE_ABA => {
            IRQS.store(IRQS.load(Relaxed) + 1, Relaxed);
            let a = W::alloc_value([0xA; 4]).ok();
            let b = W::alloc_value([0xB; 4]).ok();
            check!(a.is_some() && b.is_some(), "handler: pool empty");
            let (a, b) = (a.unwrap(), b.unwrap());
            A.store(a.as_ptr() as usize, Relaxed);
            B.store(b.as_ptr() as usize, Relaxed);
            drop(a); // push A back: the list is A -> C -> ... again
            *kept = Some(b);
            MODE.store(MODE_IDLE, Relaxed);
        }
        MODE_RELEASE => {
            check!(kept.take().is_some(), "handler: nothing to release");
            MODE.store(MODE_IDLE, Relaxed);
        }
        MODE_NAIVE => {
            let a = naive::pop().unwrap();
            let b = naive::pop().unwrap();
            A.store(a as *const _ as usize, Relaxed);
            B.store(b as *const _ as usize, Relaxed);
            naive::push(a);
            MODE.store(MODE_IDLE, Relaxed);
        }
        #[cfg(feature = "single-core")]
        MODE_PUSH_TAKE => {
            IRQS.store(IRQS.load(Relaxed) + 1, Relaxed);
            let a = W::alloc_value([0xA; 4]).ok();
            check!(a.is_some(), "handler: pool empty");
            let a = a.unwrap();
            A.store(a.as_ptr() as usize, Relaxed);
            *kept = Some(a);
            MODE.store(MODE_IDLE, Relaxed);
        }
        MODE_NOP => {
            NOP_IRQS.store(NOP_IRQS.load(Relaxed) + 1, Relaxed);
            MODE.store(MODE_IDLE, Relaxed);
        }
        m => check!(false, "unexpected interrupt in mode {}", m),
    }
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    hprintln!("FAIL: HardFault: {:?}", ef);
    exit(false)
}
