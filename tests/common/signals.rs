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
