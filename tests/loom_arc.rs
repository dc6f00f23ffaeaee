//! loom models of the `Arc`/`Weak` reference counts, with the library's own code and
//! orderings (`src/pool/arc.rs`), including `get_mut`'s lock on the strong count that
//! a concurrent `upgrade` breaks instead of waiting.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --test loom_arc`
//!
//! The values hold a `loom::cell::UnsafeCell`: loom reports a data race if `get_mut`
//! ever calls a value unique while another context can read it, or if a drop is not
//! ordered after every use.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use blockpool::{Arc, ArcPool};

/// Counts its drops, and is read and written through a loom cell.
struct Value {
    cell: UnsafeCell<u64>,
    drops: &'static AtomicUsize,
}

// SAFETY: the cell is only written through `&mut` (get_mut) and read through `&`, which
// is the `Arc`'s contract; loom checks it.
unsafe impl Sync for Value {}

impl Value {
    fn read(&self) -> u64 {
        // SAFETY: shared access (loom checks it against the writes).
        self.cell.with(|p| unsafe { *p })
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        // A write: loom reports it if a reader's access is not ordered before the drop.
        self.cell.with_mut(|p| unsafe { *p = u64::MAX });
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

fn pool() -> &'static ArcPool<Value, 1> {
    Box::leak(Box::new(ArcPool::new()))
}

fn value() -> Value {
    Value {
        cell: UnsafeCell::new(0),
        drops: Box::leak(Box::new(AtomicUsize::new(0))),
    }
}

/// `get_mut` on one side, `upgrade` (and a read through the new `Arc`) on the other:
/// `get_mut` never says "unique" while the other side can read, and nobody waits.
#[test]
fn get_mut_races_upgrade() {
    loom::model(|| {
        let pool = pool();
        let mut a = pool.alloc(value()).ok().unwrap();
        let weak = Arc::downgrade(&a);
        let t = thread::spawn(move || {
            if let Some(b) = weak.upgrade() {
                let _ = b.read();
            }
        });
        if let Some(value) = Arc::get_mut(&mut a) {
            // SAFETY: `get_mut` said unique (loom checks it).
            value.cell.with_mut(|p| unsafe { *p += 1 });
        }
        t.join().unwrap();
        assert!(
            Arc::get_mut(&mut a).is_some(),
            "unique once the other side is gone"
        );
        assert_eq!(Arc::strong_count(&a), 1);
        let drops = a.drops;
        drop(a);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        assert!(pool.alloc(value()).is_ok(), "the block came back");
    });
}

/// The last `Arc` and the last `Weak` dropped in different threads (with an `upgrade`
/// racing the drops): the value is dropped once, after every read, and the block comes
/// back exactly once.
#[test]
fn last_references_dropped_in_two_threads() {
    loom::model(|| {
        let pool = pool();
        let a = pool.alloc(value()).ok().unwrap();
        let drops = a.drops;
        let b = Arc::clone(&a);
        let weak = Arc::downgrade(&a);
        let t = thread::spawn(move || {
            let _ = b.read();
            drop(b);
        });
        if let Some(c) = weak.upgrade() {
            let _ = c.read();
        }
        drop(a);
        drop(weak);
        t.join().unwrap();
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        let again = pool.alloc(value()).ok().expect("the block came back");
        assert!(pool.alloc(value()).is_err(), "the block came back twice");
        drop(again);
    });
}

/// `try_unwrap` against a concurrent `upgrade`: never both at once (the read through
/// the upgraded `Arc` is ordered before the unwrapped value's drop), and a failed
/// `try_unwrap` means the upgrade held a reference.
#[test]
fn try_unwrap_races_upgrade() {
    loom::model(|| {
        let pool = pool();
        let a = pool.alloc(value()).ok().unwrap();
        let weak = Arc::downgrade(&a);
        let t = thread::spawn(move || weak.upgrade().map(|b| b.read()));
        let unwrapped = Arc::try_unwrap(a);
        let upgraded = t.join().unwrap();
        match unwrapped {
            // The upgrade may have come and gone before: loom's cell checks that its
            // read is ordered before the value's drop.
            Ok(value) => drop(value),
            Err(a) => {
                assert!(upgraded.is_some());
                drop(a);
            }
        }
    });
}
