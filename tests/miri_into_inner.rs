//! `into_inner` / `try_unwrap` must read the value *before* the block goes back to the
//! pool. Sized for Miri, run under several seeds:
//!
//! ```text
//! MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-many-seeds=0..8" \
//!     cargo +nightly miri test --test miri_into_inner
//! ```
//!
//! Threads keep moving values out of blocks (`Box::into_inner`, `Arc::into_inner`,
//! `Arc::try_unwrap`) on 2-block pools while the others allocate those blocks and write
//! new values into them. A read after the block went back has no happens-before edge to
//! the next owner's write: Miri's data-race detector reports it, and natively the value
//! read may be another thread's stamp, which the assertions catch (rarely: the window is
//! a few instructions).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;

use blockpool::{Arc, ArcPool, StaticPool};

const THREADS: usize = 3;
const ROUNDS: u64 = if cfg!(miri) { 25 } else { 100_000 };

/// A payload whose every word carries the stamp, so a torn or foreign value shows.
type Payload = [u64; 4];

static BOXES: StaticPool<Payload, 2> = StaticPool::new();
static ARCS: ArcPool<Payload, 2> = ArcPool::new();

fn stamp(owner: u64, round: u64) -> Payload {
    let s = owner << 32 | round;
    [s, !s, s, !s]
}

fn exercise(owner: u64, done: &AtomicUsize) {
    for round in 0..ROUNDS {
        let value = stamp(owner, round);
        // Box::into_inner: the block goes back inside the call.
        if let Ok(b) = BOXES.alloc_value(value) {
            assert_eq!(b.into_inner(), value, "Box::into_inner read a reused block");
        }
        match round % 3 {
            // Arc::into_inner on the only Arc.
            0 => {
                if let Ok(a) = ARCS.alloc(value) {
                    assert_eq!(Arc::into_inner(a), Some(value), "Arc::into_inner");
                }
            }
            // Arc::try_unwrap on the only Arc (the block goes back when no Weak is left:
            // here at once).
            1 => {
                if let Ok(a) = ARCS.alloc(value) {
                    assert_eq!(Arc::try_unwrap(a).ok(), Some(value), "Arc::try_unwrap");
                }
            }
            // Two Arcs: exactly one into_inner gets the value; with a Weak alive, the
            // block goes back when the Weak is dropped, after the read.
            _ => {
                if let Ok(a) = ARCS.alloc(value) {
                    let b = Arc::clone(&a);
                    let weak = Arc::downgrade(&a);
                    let first = Arc::into_inner(a);
                    let second = Arc::into_inner(b);
                    assert!(
                        first.is_none() && second == Some(value),
                        "Arc::into_inner of two"
                    );
                    assert!(weak.upgrade().is_none());
                }
            }
        }
    }
    done.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn into_inner_while_others_reuse_the_block() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    let threads: Vec<_> = (1..=THREADS as u64)
        .map(|owner| thread::spawn(move || exercise(owner, &DONE)))
        .collect();
    // Join explicitly (Miri sees the joins as synchronisation).
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(DONE.load(Ordering::Relaxed), THREADS);
    // Both pools have all their blocks back.
    let boxes: Vec<_> = std::iter::from_fn(|| BOXES.alloc()).collect();
    assert_eq!(boxes.len(), 2);
    let arcs: Vec<_> = std::iter::from_fn(|| ARCS.alloc([0; 4]).ok()).collect();
    assert_eq!(arcs.len(), 2);
}

/// Single-threaded, for the record: a read after release that nobody overwrites in
/// between is not undefined behaviour (the pool's memory stays allocated), so neither
/// Miri nor a native run can see it here; the threaded test above is what catches it.
/// This checks the plain contract: the value comes out intact, and the block is free at
/// once (taken again and overwritten, the value already moved out is unaffected).
#[test]
fn into_inner_then_reuse() {
    static POOL: StaticPool<Payload, 1> = StaticPool::new();
    let value = POOL.alloc_value(stamp(7, 7)).unwrap().into_inner();
    let again = POOL.alloc_value(stamp(8, 8)).expect("the block went back");
    assert_eq!(value, stamp(7, 7));
    assert_eq!(*again, stamp(8, 8));
}

/// `Arc::into_inner` in two threads, one of them having written the value through
/// interior mutability first: whichever gets the value moves it out with a plain read,
/// which must happen after the other's atomic store (the Acquire fence after the last
/// decrement). Miri reports the mixed atomic/non-atomic race if it does not. Every other
/// round the main thread waits until the other has dropped its `Arc`, so that it is the
/// one that takes the value out after the store.
#[test]
fn into_inner_after_a_write_through_another_arc() {
    static COUNTERS: ArcPool<AtomicU64, 2> = ArcPool::new();
    for round in 1..=ROUNDS.min(if cfg!(miri) { 20 } else { 2_000 }) {
        let a = COUNTERS.alloc(AtomicU64::new(0)).ok().unwrap();
        let b = Arc::clone(&a);
        let t = thread::spawn(move || {
            b.store(round, Ordering::Relaxed);
            Arc::into_inner(b).map(AtomicU64::into_inner)
        });
        if round % 2 == 0 {
            // Let the other thread go first, so that we take the value out after its
            // store (a Relaxed load: it orders nothing itself).
            while Arc::strong_count(&a) != 1 {
                thread::yield_now();
            }
        }
        let ours = Arc::into_inner(a).map(AtomicU64::into_inner);
        let theirs = t.join().unwrap();
        assert!(
            ours.is_some() != theirs.is_some(),
            "exactly one gets the value"
        );
        assert_eq!(ours.or(theirs), Some(round), "the store is in the value");
    }
}
