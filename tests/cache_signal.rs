//! Signal handlers against the thread-local cache (`pool!(…, thread_cache = C)`): the
//! thread loops alloc/stamp/check/free through its cache while signal handlers on the
//! same thread do the same through the same singleton. Three phases:
//!
//! 1. a POSIX interval timer (`setitimer`, 20 µs) raises `SIGALRM` whenever it likes:
//!    the handler lands before, inside or after the thread's cache operations;
//! 2. with `--cfg blockpool_test_hooks`, the handler is raised *inside every other busy
//!    window* of the thread's cache operations: it must find the cache busy and use the
//!    shared list (`HANDLER_SAW_BUSY` counts those runs, and must equal the injections);
//! 3. with the hooks, the handler is raised inside the ABA window of the shared list's
//!    pops, the batch pops of the cache's refills included, and pops `A`, pops `B` and
//!    pushes `A` back (it keeps `B` until its next run).
//!
//! Stamps catch a block written by two owners, per-block flags a block handed out
//! twice, and the end (the thread's cache flushed, then the pool drained) a lost one.
//! Sizes: `BLOCKPOOL_CACHE_SIGNAL_RUNS` (default 20,000) timer runs,
//! `BLOCKPOOL_INJECTIONS` (default 100,000) injections per hooked phase; CI runs 2 x 10^5
//! and 10^6. `harness = false`: the signals must
//! land on this one thread.

use std::mem::size_of;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use blockpool::{pool, Block, Box};

#[path = "common/signals.rs"]
mod signals;
use signals::env;
use signals::harness::{stamp, Phases, Tally};
use signals::injection::Injection;

const BLOCKS: usize = 16;
type Slot = [usize; 3];

pool!(Cached: Slot, blocks = BLOCKS, thread_cache = 4);

static IN_USE: [AtomicBool; BLOCKS] = [const { AtomicBool::new(false) }; BLOCKS];
static TALLY: Tally = Tally::new();

fn index(block: &Box<Cached>) -> usize {
    let base = Cached::instance() as *const _ as usize;
    // Blocks are `Block<Slot>`s in the pool's storage, which follows its header.
    let offset = block.as_ptr() as usize - base;
    (offset / size_of::<Block<Slot>>()) % BLOCKS
}

/// Allocates and stamps a block; counts (never panics: handlers must not unwind).
fn take(owner: usize, seq: usize) -> Option<Box<Cached>> {
    let block = TALLY.allocated(Cached::alloc_value(stamp(owner, seq)).ok())?;
    TALLY.taken(&IN_USE[index(&block)]);
    Some(block)
}

fn give_back(block: Box<Cached>) {
    TALLY.returned(&block, &IN_USE[index(&block)]);
    drop(block);
}

extern "C" fn on_timer(_: libc::c_int) {
    TALLY.timer_run(take, give_back);
}

/// Set by the busy-window hook right before it raises the signal.
static IN_BUSY_WINDOW: AtomicBool = AtomicBool::new(false);
static HANDLER_SAW_BUSY: AtomicUsize = AtomicUsize::new(0);

static INJECTION: Injection<Box<Cached>> = Injection::new();

extern "C" fn on_injected(_: libc::c_int) {
    // Inside the cache's busy window, the flush must fail: the handler cannot use the
    // cache (its allocations below go to the shared list).
    if IN_BUSY_WINDOW.swap(false, Relaxed) && !Cached::flush_thread_cache() {
        HANDLER_SAW_BUSY.fetch_add(1, Relaxed);
    }
    // Owners 3 and 4; see `Injection::pop_pop_push`.
    INJECTION.pop_pop_push(|k, run| take(3 + k, run), give_back);
}

/// The window hooks: raise the handler in every other window, saying which kind.
#[cfg(blockpool_test_hooks)]
fn inject(busy_window: bool) {
    if !INJECTION.in_handler.load(Relaxed) {
        IN_BUSY_WINDOW.store(busy_window, Relaxed);
        if !INJECTION.raise_in_window(libc::SIGUSR1) {
            IN_BUSY_WINDOW.store(false, Relaxed);
        }
    }
}

/// Thread mode's loop: alloc, stamp, check, free, through the thread's cache; every
/// other round ends with a flush, so that the next round refills (a batch pop) and the
/// shared list's windows keep coming.
fn main_loop(done: &dyn Fn() -> bool) -> usize {
    let mut ops = 0;
    let mut seq = 0;
    while !done() {
        seq += 1;
        let held: Vec<_> = (0..3).filter_map(|k| take(10 + k, seq)).collect();
        std::hint::black_box(&held);
        for block in held.into_iter().rev() {
            give_back(block);
            ops += 1;
        }
        if seq % 2 == 0 {
            Cached::flush_thread_cache();
        }
    }
    ops
}

/// The phase's verdict: the thread's cached blocks go back to the pool (the flush must
/// succeed), then every block must come back from it, each once.
fn check(phase: &str) -> bool {
    TALLY.check(phase, BLOCKS, || {
        let flushed = Cached::flush_thread_cache();
        let back: Vec<_> = std::iter::from_fn(|| Cached::instance().alloc()).collect();
        let distinct: std::collections::HashSet<usize> =
            back.iter().map(|b| b.as_ptr() as usize).collect();
        (back.len(), flushed && distinct.len() == BLOCKS)
    })
}

fn main() {
    let Some(mut phases) = Phases::start("cache signal handler tests") else {
        return;
    };
    // The thread's first cached operation registers its exit flush (which may allocate):
    // in thread mode, before any handler can run.
    drop(Cached::alloc());

    TALLY.timer_phase(
        env("BLOCKPOOL_CACHE_SIGNAL_RUNS", 20_000),
        on_timer,
        main_loop,
    );
    phases.push(check("timer signals"));

    #[cfg(blockpool_test_hooks)]
    {
        let injections = env("BLOCKPOOL_INJECTIONS", 100_000);
        signals::install(libc::SIGUSR1, on_injected);
        for (phase, busy_window) in [
            ("injected inside the cache's busy window", true),
            ("injected inside the shared list's pop windows", false),
        ] {
            HANDLER_SAW_BUSY.store(0, Relaxed);
            if busy_window {
                blockpool::testing::set_cache_window_hook(Some(|| inject(true)));
            } else {
                blockpool::testing::set_pop_window_hook(Some(|| inject(false)));
            }
            let (injected, ops, time) = INJECTION.phase(injections, main_loop, give_back);
            blockpool::testing::set_cache_window_hook(None);
            blockpool::testing::set_pop_window_hook(None);
            let saw_busy = HANDLER_SAW_BUSY.load(Relaxed);
            println!("{phase}: {injected} injections, {ops} thread-mode frees in {time:.1?}; handler found the cache busy {saw_busy} times");
            let busy_ok = !busy_window || saw_busy == injected;
            if !busy_ok {
                println!(
                    "{phase}: the handler could use the cache inside the busy window -> FAILED"
                );
            }
            phases.push(check(phase) && busy_ok);
        }
    }
    #[cfg(not(blockpool_test_hooks))]
    let _ = (on_injected, &IN_BUSY_WINDOW);
    #[cfg(not(blockpool_test_hooks))]
    phases.skip_injections();

    phases.finish();
}
