//! loom models of the statistics counters (feature `stats`) where they interact with the
//! free list and with each other: every interleaving, up to the preemption bound.
//!
//! ```text
//! RUSTFLAGS="--cfg blockpool_loom" cargo test --release --features stats --test loom_stats -- --nocapture
//! ```
//!
//! - `reset_racing_an_allocation`: `reset_high_water` against an allocation; once both
//!   are done the mark must cover the block in use. A reset that loads `in_use` and
//!   stores it (the old code) fails: the allocation lands between the two; so does an
//!   allocation whose increment is `Relaxed` (it may then read the mark from before the
//!   reset and skip raising it).
//! - `in_use_never_exceeds_capacity`: on a one-block pool, a free races the next
//!   allocation of the same block while a third thread reads the stats; `in_use` must
//!   never read 2. It fails if a free decrements `in_use` after pushing its block.
#![cfg(all(blockpool_loom, feature = "stats"))]

use blockpool::Pool;
use loom::thread;

#[path = "common/loom_explore.rs"]
mod loom_explore;
use loom_explore::{explore, grown_pool, Bound::*};

#[test]
fn reset_racing_an_allocation() {
    explore("reset_racing_an_allocation", Unbounded, || {
        let pool = grown_pool(2);
        // Raise the mark to 2 and go back to 0 in use, so that a stale read of the
        // mark (2) can make the taker skip its update.
        drop((pool.alloc(), pool.alloc()));
        assert_eq!((pool.stats().in_use, pool.stats().high_water), (0, 2));
        let taker = thread::spawn(move || pool.alloc().unwrap().into_raw());
        pool.reset_high_water();
        let raw = taker.join().unwrap();
        let quiet = pool.stats();
        assert_eq!(quiet.in_use, 1);
        assert!(
            quiet.high_water >= quiet.in_use,
            "the reset lost a racing allocation: {quiet:?}"
        );
        // SAFETY: `raw` came from `into_raw` of a box of `pool`, rebuilt once.
        drop(unsafe { blockpool::Box::<&Pool<u64>, blockpool::Uninit>::from_raw(raw, pool) });
    });
}

#[test]
fn in_use_never_exceeds_capacity() {
    explore("in_use_never_exceeds_capacity", Fixed(3), || {
        let pool = grown_pool(1);
        let held = pool.alloc().unwrap().into_raw();
        let freer = thread::spawn(move || {
            // SAFETY: `held` came from `into_raw` of a box of `pool`, rebuilt once.
            drop(unsafe { blockpool::Box::<&Pool<u64>, blockpool::Uninit>::from_raw(held, pool) });
        });
        let taker = thread::spawn(move || pool.alloc().map(|b| b.into_raw()));
        let seen = pool.stats();
        assert!(seen.in_use <= 1, "in use above capacity: {seen:?}");
        assert!(seen.high_water <= 1, "mark above capacity: {seen:?}");
        freer.join().unwrap();
        if let Some(raw) = taker.join().unwrap() {
            // SAFETY: as above.
            drop(unsafe { blockpool::Box::<&Pool<u64>, blockpool::Uninit>::from_raw(raw, pool) });
        }
        assert_eq!(pool.stats().in_use, 0);
    });
}
