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

        /// The block the handler kept, once injections are off.
        pub fn take_kept(&self) -> Option<B> {
            assert!(!self.on.load(Relaxed), "injections still on");
            // SAFETY: injections are off, so no handler touches `kept` any more.
            unsafe { &mut *self.kept.get() }.take()
        }
    }
}
