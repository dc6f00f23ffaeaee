//! Signal handlers as interrupts: one thread loops alloc/init/check/free on a pool
//! while signal handlers on the same thread also allocate and free from it, the
//! scenario the pool exists for. Two phases:
//!
//! 1. a POSIX interval timer (`setitimer`, 20 µs) raises `SIGALRM` whenever it likes;
//! 2. with `--cfg blockpool_test_hooks`, the handler is raised *inside* the window of a pop
//!    (after it read `next`, before its CAS), and pops `A`, pops `B` (keeping it until
//!    its next run) and pushes `A` back: the ABA interleaving, on every injection.
//!
//! Per-block "in use" flags catch a block handed out twice, stamps catch a block
//! written by two owners, and draining the pool at the end catches a lost one.
//!
//! Sizes: `BLOCKPOOL_SIGNAL_RUNS` timer-handler runs (default 20,000) and
//! `BLOCKPOOL_INJECTIONS` injections (default 100,000). CI runs 10^6 of each.
//! `harness = false`: the signals must land on this one thread.

use std::mem::size_of;
use std::ptr::addr_of_mut;
use std::sync::atomic::AtomicBool;

use blockpool::{Block, Box, Pool};

#[path = "common/signals.rs"]
mod signals;
use signals::env;
use signals::harness::{stamp, Phases, Tally};
use signals::injection::Injection;

const BLOCKS: usize = 8;
type Slot = [usize; 3];

static POOL: Pool<Slot> = Pool::new();
static mut MEMORY: [Block<Slot>; BLOCKS] = [const { Block::new() }; BLOCKS];
static IN_USE: [AtomicBool; BLOCKS] = [const { AtomicBool::new(false) }; BLOCKS];
static TALLY: Tally = Tally::new();

fn index(block: &Box<&'static Pool<Slot>>) -> usize {
    (block.as_ptr() as usize - addr_of_mut!(MEMORY) as usize) / size_of::<Block<Slot>>()
}

/// Allocates and stamps a block; counts (never panics: handlers must not unwind).
fn take(owner: usize, seq: usize) -> Option<Box<&'static Pool<Slot>>> {
    let block = TALLY.allocated(POOL.alloc())?.init(stamp(owner, seq));
    TALLY.taken(&IN_USE[index(&block)]);
    Some(block)
}

fn give_back(block: Box<&'static Pool<Slot>>) {
    TALLY.returned(&block, &IN_USE[index(&block)]);
    drop(block);
}

extern "C" fn on_timer(_: libc::c_int) {
    TALLY.timer_run(take, give_back);
}

static INJECTION: Injection<Box<&'static Pool<Slot>>> = Injection::new();

extern "C" fn on_injected(_: libc::c_int) {
    // Owners 3 and 4; see `Injection::pop_pop_push`.
    INJECTION.pop_pop_push(|k, run| take(3 + k, run), give_back);
}

/// The window hook: raises the handler in every other pop window of thread mode.
#[cfg(blockpool_test_hooks)]
fn inject() {
    INJECTION.raise_in_window(libc::SIGUSR1);
}

/// Thread mode's loop: alloc, stamp, work a little, check, free, until `done()`.
fn main_loop(done: &dyn Fn() -> bool) -> usize {
    let mut ops = 0;
    let mut seq = 0;
    while !done() {
        seq += 1;
        let a = take(0, seq);
        let b = take(5, seq);
        std::hint::black_box(&a);
        for block in [b, a].into_iter().flatten() {
            give_back(block);
            ops += 1;
        }
    }
    ops
}

/// The phase's verdict: every block must come back from the pool.
fn check(phase: &str) -> bool {
    TALLY.check(phase, BLOCKS, || {
        let back: Vec<_> = std::iter::from_fn(|| POOL.alloc()).collect();
        (back.len(), true)
    })
}

fn main() {
    let Some(mut phases) = Phases::start("signal handler tests") else {
        return;
    };
    // SAFETY: the only reference ever made to `MEMORY`.
    assert_eq!(
        POOL.grow_exact(unsafe { &mut *addr_of_mut!(MEMORY) }),
        BLOCKS
    );

    TALLY.timer_phase(env("BLOCKPOOL_SIGNAL_RUNS", 20_000), on_timer, main_loop);
    phases.push(check("timer signals"));

    #[cfg(blockpool_test_hooks)]
    {
        let injections = env("BLOCKPOOL_INJECTIONS", 100_000);
        signals::install(libc::SIGUSR1, on_injected);
        blockpool::testing::set_pop_window_hook(Some(inject));
        let (injected, ops, time) = INJECTION.phase(injections, main_loop, give_back);
        blockpool::testing::set_pop_window_hook(None);
        println!(
            "injected inside the pop window: {injected} injections, {ops} thread-mode frees in \
             {time:.1?}"
        );
        phases.push(check("injections"));
    }
    #[cfg(not(blockpool_test_hooks))]
    let _ = on_injected;
    #[cfg(not(blockpool_test_hooks))]
    phases.skip_injections();

    phases.finish();
}
