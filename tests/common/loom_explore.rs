//! Shared by the loom test files (`#[path = "common/loom_explore.rs"] mod loom_explore;`):
//! runs a model under a preemption bound and prints how many executions loom explored and
//! how long it took, also when the model fails.
#![allow(dead_code)] // each file uses what it needs

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use blockpool::{Block, Pool};

/// Leaks `value`: loom models hand `'static` pools and tables to their threads.
pub fn leak<T>(value: T) -> &'static T {
    std::boxed::Box::leak(std::boxed::Box::new(value))
}

/// A `Pool` of `blocks` blocks of `u64`, added with one `grow_exact`.
pub fn grown_pool(blocks: usize) -> &'static Pool<u64> {
    let pool = leak(Pool::new());
    let memory: &'static mut [Block<u64>] = Vec::leak((0..blocks).map(|_| Block::new()).collect());
    assert_eq!(pool.grow_exact(memory), blocks);
    pool
}

/// How many preemptions loom may make per execution.
#[derive(Clone, Copy)]
pub enum Bound {
    /// None: the whole state space.
    Unbounded,
    /// `LOOM_MAX_PREEMPTIONS` if set, else this many.
    FromEnv(usize),
    /// This many, whatever the environment says (for models too large for more).
    Fixed(usize),
}

/// Runs `f` under loom with the given preemption bound and prints the figures.
pub fn explore(name: &str, bound: Bound, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = match bound {
        Bound::Unbounded => None,
        Bound::FromEnv(default) => builder.preemption_bound.or(Some(default)),
        Bound::Fixed(n) => Some(n),
    };
    /// Prints the figures also when the model fails (while unwinding).
    struct Report<'a> {
        name: &'a str,
        bound: Option<usize>,
        executions: &'static AtomicUsize,
        start: Instant,
    }
    impl Drop for Report<'_> {
        fn drop(&mut self) {
            let outcome = if std::thread::panicking() {
                "FAILED after"
            } else {
                "passed,"
            };
            println!(
                "loom {}: {outcome} {} executions, preemption bound {:?}, {:.2?}",
                self.name,
                self.executions.load(Ordering::Relaxed),
                self.bound,
                self.start.elapsed()
            );
        }
    }
    let executions = leak(AtomicUsize::new(0));
    let _report = Report {
        name,
        bound: builder.preemption_bound,
        executions,
        start: Instant::now(),
    };
    builder.check(move || {
        executions.fetch_add(1, Ordering::Relaxed);
        f()
    });
}

/// Runs `f` as [`explore`] does and requires loom to *fail* it with a panic whose message
/// contains one of `expected` (a model of a deliberately broken variant: the harness is
/// shown to be able to fail, and for the reason the model checks).
pub fn explore_expecting_failure(
    name: &str,
    bound: Bound,
    expected: &[&str],
    f: impl Fn() + Sync + Send + 'static,
) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| explore(name, bound, f)));
    let payload = result.expect_err("loom did not find the broken variant's bug");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        expected.iter().any(|m| message.contains(m)),
        "loom failed for another reason: {message:?}"
    );
}
