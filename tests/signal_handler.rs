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

use std::cell::UnsafeCell;
use std::mem::size_of;
use std::ptr::addr_of_mut;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use blockpool::{Block, Box, Pool};

#[path = "common/signals.rs"]
mod signals;
use signals::{install, set_timer};

const BLOCKS: usize = 8;
type Slot = [usize; 3];

static POOL: Pool<Slot> = Pool::new();
static mut MEMORY: [Block<Slot>; BLOCKS] = [const { Block::new() }; BLOCKS];
static IN_USE: [AtomicBool; BLOCKS] = [const { AtomicBool::new(false) }; BLOCKS];

static HANDLER_RUNS: AtomicUsize = AtomicUsize::new(0);
static INJECTIONS: AtomicUsize = AtomicUsize::new(0);
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

/// The block an injected handler keeps until its next run (so that the pop it
/// interrupted finds `B` gone). Touched only by that handler, which cannot interrupt
/// itself (its signal is blocked while it runs), and by `main` once the hook is off.
struct HandlerSlot(UnsafeCell<Option<Box<&'static Pool<Slot>>>>);
// SAFETY: see above: never accessed from two contexts at once.
unsafe impl Sync for HandlerSlot {}
static KEPT: HandlerSlot = HandlerSlot(UnsafeCell::new(None));
static IN_INJECTED_HANDLER: AtomicBool = AtomicBool::new(false);

extern "C" fn on_injected(_: libc::c_int) {
    IN_INJECTED_HANDLER.store(true, Relaxed);
    let run = INJECTIONS.fetch_add(1, Relaxed);
    // Pop A (the block the interrupted pop saw on top) and B (its `next`), return the
    // block kept last time, push A back and keep B: the interrupted pop now sees A on top
    // again while B is held here. An untagged CAS would succeed and install B.
    let a = take(3, run);
    let b = take(4, run);
    // SAFETY: only this handler (not re-entrant) uses `KEPT` while injections run.
    let kept = unsafe { &mut *KEPT.0.get() };
    if let Some(previous) = kept.take() {
        give_back(previous);
    }
    if let Some(a) = a {
        give_back(a);
    }
    *kept = b;
    IN_INJECTED_HANDLER.store(false, Relaxed);
}

#[cfg(blockpool_test_hooks)]
static INJECTING: AtomicBool = AtomicBool::new(false);

#[cfg(blockpool_test_hooks)]
static WINDOW_VISITS: AtomicUsize = AtomicUsize::new(0);

/// Raises the handler in every other pop window of thread mode: the pop it interrupts
/// must retry, and its retry gets one undisturbed attempt (injecting into every attempt
/// would livelock, by design of the test, not of the pool).
#[cfg(blockpool_test_hooks)]
fn inject() {
    if INJECTING.load(Relaxed)
        && !IN_INJECTED_HANDLER.load(Relaxed)
        && WINDOW_VISITS.fetch_add(1, Relaxed) % 2 == 0
    {
        // SAFETY: `raise` is async-signal-safe; the handler is installed.
        unsafe { libc::raise(libc::SIGUSR1) };
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
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
        INJECTING.store(true, Relaxed);
        let ops = main_loop(|| INJECTIONS.load(Relaxed) >= injections);
        INJECTING.store(false, Relaxed);
        blockpool::testing::set_pop_window_hook(None);
        // SAFETY: injections are off, so no handler touches `KEPT` any more.
        if let Some(b) = unsafe { &mut *KEPT.0.get() }.take() {
            give_back(b);
        }
        println!(
            "injected inside the pop window: {} injections, {ops} thread-mode frees in {:.1?}",
            INJECTIONS.load(Relaxed),
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
