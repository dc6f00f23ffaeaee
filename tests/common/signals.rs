//! POSIX signals as interrupts, for the tests and the demo that run a pool from signal
//! handlers (`#[path]`-included by each, so there is one copy).

/// Installs `handler` for `signal` with `SA_RESTART` and an empty mask (the handler's
/// own signal stays blocked while it runs, so it never interrupts itself).
pub fn install(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: a zeroed `sigaction` is a valid "no flags, empty mask" value; the callers'
    // handlers touch only atomics and lock-free pools, which are async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(signal, &action, std::ptr::null_mut()), 0);
    }
}

/// Raises `SIGALRM` every `interval_us` microseconds (`ITIMER_REAL`); 0 stops it.
pub fn set_timer(interval_us: libc::suseconds_t) {
    let interval = libc::timeval {
        tv_sec: 0,
        tv_usec: interval_us,
    };
    let timer = libc::itimerval {
        it_interval: interval,
        it_value: interval,
    };
    // SAFETY: a plain system call with valid pointers.
    let status = unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
    assert_eq!(status, 0);
}

/// The environment variable `name` as a number, or `default`.
#[allow(dead_code)] // not every includer sizes its runs
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Under Miri, which has no POSIX timers or signal delivery (the other tools cover this
/// code): prints `message` and returns true, for the caller to skip its test.
#[allow(dead_code)] // the demo runs no Miri check
pub fn skipped_under_miri(message: &str) -> bool {
    if cfg!(miri) {
        println!("{message}");
    }
    cfg!(miri)
}

/// The bookkeeping of the `harness = false` pool tests (`signal_handler`,
/// `cache_signal`): one thread loops stamped blocks through a pool of `[usize; 3]` slots
/// while signal handlers on the same thread do the same; [`Tally`] counts what went
/// wrong, [`Phases`] records each phase's verdict and prints the summary.
#[allow(dead_code)] // only the pool tests use it
pub mod harness {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    use std::time::Instant;

    /// A block's stamp: its owner, a sequence number and a check word of the two.
    pub fn stamp(owner: usize, seq: usize) -> [usize; 3] {
        [owner, seq, owner ^ !seq]
    }

    /// What the handlers and the thread count: handler runs, blocks handed out twice
    /// (`duplicated`), stamps written by another owner (`overwritten`) and failed
    /// allocations (`exhausted`). Atomics only: handlers count too, and never panic.
    pub struct Tally {
        /// Timer-handler runs so far.
        pub handler_runs: AtomicUsize,
        duplicated: AtomicUsize,
        overwritten: AtomicUsize,
        exhausted: AtomicUsize,
    }

    impl Tally {
        pub const fn new() -> Self {
            Self {
                handler_runs: AtomicUsize::new(0),
                duplicated: AtomicUsize::new(0),
                overwritten: AtomicUsize::new(0),
                exhausted: AtomicUsize::new(0),
            }
        }

        /// Passes an allocation's result through, counting one that failed (`None`).
        pub fn allocated<B>(&self, block: Option<B>) -> Option<B> {
            if block.is_none() {
                self.exhausted.fetch_add(1, Relaxed);
            }
            block
        }

        /// A block was handed out: sets its `in_use` flag, counting a block already out.
        pub fn taken(&self, in_use: &AtomicBool) {
            if in_use.swap(true, Relaxed) {
                self.duplicated.fetch_add(1, Relaxed);
            }
        }

        /// A block goes back: checks its `stamp` (see [`stamp`]) and clears its `in_use`
        /// flag, counting a stamp overwritten and a block that was not out.
        pub fn returned(&self, &[owner, seq, check]: &[usize; 3], in_use: &AtomicBool) {
            if check != owner ^ !seq {
                self.overwritten.fetch_add(1, Relaxed);
            }
            if !in_use.swap(false, Relaxed) {
                self.duplicated.fetch_add(1, Relaxed);
            }
        }

        /// The timer handler's body: counts a run, takes a block for owner 1 and one for
        /// owner 2 (the run is their sequence number), and gives both back.
        pub fn timer_run<B>(&self, take: impl Fn(usize, usize) -> Option<B>, give: impl Fn(B)) {
            let run = self.handler_runs.fetch_add(1, Relaxed);
            let a = take(1, run);
            let b = take(2, run);
            for block in [a, b].into_iter().flatten() {
                give(block);
            }
        }

        /// The timer phase: installs `handler` for `SIGALRM`, raised every 20 µs while
        /// `main_loop` runs until the handler has run `runs` times, then stops the timer
        /// and prints the runs, `main_loop`'s count of frees and the time.
        pub fn timer_phase(
            &self,
            runs: usize,
            handler: extern "C" fn(libc::c_int),
            main_loop: impl FnOnce(&dyn Fn() -> bool) -> usize,
        ) {
            super::install(libc::SIGALRM, handler);
            let start = Instant::now();
            super::set_timer(20);
            let ops = main_loop(&|| self.handler_runs.load(Relaxed) >= runs);
            super::set_timer(0);
            println!(
                "timer signals: {} handler runs, {ops} thread-mode frees in {:.1?}",
                self.handler_runs.load(Relaxed),
                start.elapsed()
            );
        }

        /// A phase's verdict: reads the counts, then `drain` takes every block of the pool
        /// back and returns how many it got and whether its own checks passed. Prints the
        /// verdict line; the phase passed if nothing was duplicated or overwritten and all
        /// `blocks` came back.
        pub fn check(
            &self,
            phase: &str,
            blocks: usize,
            drain: impl FnOnce() -> (usize, bool),
        ) -> bool {
            let duplicated = self.duplicated.load(Relaxed);
            let overwritten = self.overwritten.load(Relaxed);
            let (back, drained_ok) = drain();
            let ok = duplicated == 0 && overwritten == 0 && drained_ok && back == blocks;
            println!(
                "{phase}: duplicated {duplicated}, overwritten {overwritten}, blocks back \
                 {back}/{blocks}, exhausted allocs {} -> {}",
                self.exhausted.load(Relaxed),
                if ok { "ok" } else { "FAILED" }
            );
            ok
        }
    }

    /// The phases' verdicts, for the summary line the test ends with.
    pub struct Phases(Vec<bool>);

    impl Phases {
        /// The record of a run of `tests`; `None` under Miri, after printing that they are
        /// skipped and an empty summary (see [`super::skipped_under_miri`]).
        pub fn start(tests: &str) -> Option<Self> {
            if super::skipped_under_miri(&format!("{tests}: skipped under Miri")) {
                println!("0 passed, 0 failed");
                return None;
            }
            Some(Self(Vec::new()))
        }

        /// Records a phase's verdict.
        pub fn push(&mut self, passed: bool) {
            self.0.push(passed);
        }

        /// Says that the injection phases are not built in (they need the test hooks).
        pub fn skip_injections(&self) {
            println!("injections: skipped (build with RUSTFLAGS='--cfg blockpool_test_hooks')");
        }

        /// Prints `{passed} passed, {failed} failed` and exits with status 1 if a phase
        /// failed.
        pub fn finish(self) {
            let passed = self.0.iter().filter(|&&ok| ok).count();
            let failed = self.0.len() - passed;
            println!("{passed} passed, {failed} failed");
            if failed > 0 {
                std::process::exit(1);
            }
        }
    }
}

/// The ABA injection the signal tests share (tests only: `--cfg blockpool_test_hooks`
/// arms a window hook that calls [`Injection::raise_in_window`]): a handler raised inside
/// a pop's window pops `A` (the block the interrupted pop saw on top) and `B` (its
/// `next`), returns the block it kept last time, pushes `A` back and keeps `B`, so the
/// interrupted pop sees `A` on top again while `B` is held. An untagged CAS would install
/// `B`.
#[allow(dead_code)]
pub mod injection {
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    use std::time::{Duration, Instant};

    /// When to raise the signal, and the block the handler keeps between its runs.
    pub struct Injection<B> {
        /// Injections are on.
        pub on: AtomicBool,
        /// The injected handler is running (its own pops must not inject again).
        pub in_handler: AtomicBool,
        /// Handler runs so far.
        pub runs: AtomicUsize,
        visits: AtomicUsize,
        kept: UnsafeCell<Option<B>>,
    }

    // SAFETY: `kept` is touched only by the injected handler, which cannot interrupt
    // itself (its signal is blocked while it runs), and by the test's `main` through
    // `take_kept` once injections are off.
    unsafe impl<B> Sync for Injection<B> {}

    impl<B> Injection<B> {
        pub const fn new() -> Self {
            Self {
                on: AtomicBool::new(false),
                in_handler: AtomicBool::new(false),
                runs: AtomicUsize::new(0),
                visits: AtomicUsize::new(0),
                kept: UnsafeCell::new(None),
            }
        }

        /// From the window hook: raises `signal` in every other window while injections
        /// are on and the handler is not running. The pop it interrupts must retry, and
        /// its retry gets one undisturbed attempt (injecting into every attempt would
        /// livelock, by design of the test, not of the pool).
        pub fn raise_in_window(&self, signal: libc::c_int) -> bool {
            if self.on.load(Relaxed)
                && !self.in_handler.load(Relaxed)
                && self.visits.fetch_add(1, Relaxed) % 2 == 0
            {
                // SAFETY: `raise` is async-signal-safe; the handler is installed.
                unsafe { libc::raise(signal) };
                return true;
            }
            false
        }

        /// The handler's body: pop, pop, return the kept block, push the first back,
        /// keep the second. `take(k, run)` allocates the `k`-th block (0 or 1) of handler
        /// run `run`, `give` frees.
        pub fn pop_pop_push(&self, take: impl Fn(usize, usize) -> Option<B>, give: impl Fn(B)) {
            self.in_handler.store(true, Relaxed);
            let run = self.runs.fetch_add(1, Relaxed);
            let a = take(0, run);
            let b = take(1, run);
            // SAFETY: only this handler (not re-entrant) uses `kept` while injections run.
            let kept = unsafe { &mut *self.kept.get() };
            if let Some(previous) = kept.take() {
                give(previous);
            }
            if let Some(a) = a {
                give(a);
            }
            *kept = b;
            self.in_handler.store(false, Relaxed);
        }

        /// An injection phase: turns injections on, runs `main_loop` until the handler has
        /// run `count` more times, turns them off and gives the block the handler kept to
        /// `give`. Returns the handler runs of the phase, `main_loop`'s result and the time.
        pub fn phase(
            &self,
            count: usize,
            main_loop: impl FnOnce(&dyn Fn() -> bool) -> usize,
            give: impl FnOnce(B),
        ) -> (usize, usize, Duration) {
            let before = self.runs.load(Relaxed);
            let start = Instant::now();
            self.on.store(true, Relaxed);
            let ops = main_loop(&|| self.runs.load(Relaxed) - before >= count);
            self.on.store(false, Relaxed);
            if let Some(kept) = self.take_kept() {
                give(kept);
            }
            (self.runs.load(Relaxed) - before, ops, start.elapsed())
        }

        /// The block the handler kept, once injections are off.
        pub fn take_kept(&self) -> Option<B> {
            assert!(!self.on.load(Relaxed), "injections still on");
            // SAFETY: injections are off, so no handler touches `kept` any more.
            unsafe { &mut *self.kept.get() }.take()
        }
    }
}
