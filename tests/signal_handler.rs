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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use blockpool::{Block, Box, Pool};

#[path = "common/signals.rs"]
mod signals;
use signals::injection::Injection;
use signals::{env, install, set_timer};

const BLOCKS: usize = 8;
type Slot = [usize; 3];

static POOL: Pool<Slot> = Pool::new();
static mut MEMORY: [Block<Slot>; BLOCKS] = [const { Block::new() }; BLOCKS];
static IN_USE: [AtomicBool; BLOCKS] = [const { AtomicBool::new(false) }; BLOCKS];

static HANDLER_RUNS: AtomicUsize = AtomicUsize::new(0);
static DUPLICATED: AtomicUsize = AtomicUsize::new(0);
static OVERWRITTEN: AtomicUsize = AtomicUsize::new(0);
static EXHAUSTED: AtomicUsize = AtomicUsize::new(0);

fn index(block: &Box<&'static Pool<Slot>>) -> usize {
    (block.as_ptr() as usize - addr_of_mut!(MEMORY) as usize) / size_of::<Block<Slot>>()
}

/// Allocates and stamps a block; counts (never panics: handlers must not unwind).
fn take(owner: usize, seq: usize) -> Option<Box<&'static Pool<Slot>>> {
    let Some(block) = POOL.alloc() else {
        EXHAUSTED.fetch_add(1, Relaxed);
        return None;
    };
    let block = block.init([owner, seq, owner ^ !seq]);
    if IN_USE[index(&block)].swap(true, Relaxed) {
        DUPLICATED.fetch_add(1, Relaxed);
    }
    Some(block)
}

fn give_back(block: Box<&'static Pool<Slot>>) {
    let [owner, seq, check] = *block;
    if check != owner ^ !seq {
        OVERWRITTEN.fetch_add(1, Relaxed);
    }
    if !IN_USE[index(&block)].swap(false, Relaxed) {
        DUPLICATED.fetch_add(1, Relaxed);
    }
    drop(block);
}

extern "C" fn on_timer(_: libc::c_int) {
    let run = HANDLER_RUNS.fetch_add(1, Relaxed);
    let a = take(1, run);
    let b = take(2, run);
    if let Some(a) = a {
        give_back(a);
    }
    if let Some(b) = b {
        give_back(b);
    }
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
fn main_loop(done: impl Fn() -> bool) -> usize {
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

fn check(phase: &str) -> bool {
    let duplicated = DUPLICATED.load(Relaxed);
    let overwritten = OVERWRITTEN.load(Relaxed);
    let back = std::iter::from_fn(|| POOL.alloc())
        .collect::<Vec<_>>()
        .len();
    let ok = duplicated == 0 && overwritten == 0 && back == BLOCKS;
    println!(
        "{phase}: duplicated {duplicated}, overwritten {overwritten}, blocks back {back}/{BLOCKS}, \
         exhausted allocs {} -> {}",
        EXHAUSTED.load(Relaxed),
        if ok { "ok" } else { "FAILED" }
    );
    ok
}

fn main() {
    if cfg!(miri) {
        // Miri has no POSIX timers or signal delivery; the other tools cover this code.
        println!("signal handler tests: skipped under Miri");
        println!("0 passed, 0 failed");
        return;
    }
    // SAFETY: the only reference ever made to `MEMORY`.
    assert_eq!(
        POOL.grow_exact(unsafe { &mut *addr_of_mut!(MEMORY) }),
        BLOCKS
    );
    let mut results = Vec::new();

    let runs = env("BLOCKPOOL_SIGNAL_RUNS", 20_000);
    install(libc::SIGALRM, on_timer);
    let start = Instant::now();
    set_timer(20);
    let ops = main_loop(|| HANDLER_RUNS.load(Relaxed) >= runs);
    set_timer(0);
    println!(
        "timer signals: {} handler runs, {ops} thread-mode frees in {:.1?}",
        HANDLER_RUNS.load(Relaxed),
        start.elapsed()
    );
    results.push(check("timer signals"));

    #[cfg(blockpool_test_hooks)]
    {
        let injections = env("BLOCKPOOL_INJECTIONS", 100_000);
        install(libc::SIGUSR1, on_injected);
        blockpool::testing::set_pop_window_hook(Some(inject));
        let start = Instant::now();
        INJECTION.on.store(true, Relaxed);
        let ops = main_loop(|| INJECTION.runs.load(Relaxed) >= injections);
        INJECTION.on.store(false, Relaxed);
        blockpool::testing::set_pop_window_hook(None);
        if let Some(b) = INJECTION.take_kept() {
            give_back(b);
        }
        println!(
            "injected inside the pop window: {} injections, {ops} thread-mode frees in {:.1?}",
            INJECTION.runs.load(Relaxed),
            start.elapsed()
        );
        results.push(check("injections"));
    }
    #[cfg(not(blockpool_test_hooks))]
    let _ = on_injected;
    #[cfg(not(blockpool_test_hooks))]
    println!("injections: skipped (build with RUSTFLAGS='--cfg blockpool_test_hooks')");

    let passed = results.iter().filter(|&&ok| ok).count();
    let failed = results.len() - passed;
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
