//! loom models of the `Arc`/`Weak` reference counts, with the library's own code and
//! orderings (`src/pool/arc.rs`), including `get_mut`'s lock on the strong count that
//! a concurrent `upgrade` breaks instead of waiting.
//!
//! Run: `RUSTFLAGS="--cfg blockpool_loom" cargo test --release --test loom_arc`
//!
//! The values hold a `loom::cell::UnsafeCell`: loom reports a data race if `get_mut`
//! ever calls a value unique while another context can read it, or if a drop is not
//! ordered after every use.
#![cfg(blockpool_loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use blockpool::{Arc, ArcPool};

#[path = "common/loom_explore.rs"]
mod loom_explore;
use loom_explore::{explore, Bound::FromEnv};

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

// ---------------------------------------------------------------------------------------
// Payload checks across owners of the block.
//
// The models above track the value through a cell *inside* the value: a new value is a
// new loom object, so they cannot see a missing happens-before between the last access
// of one owner of the block and the first access of the next owner (the value's drop
// racing the re-allocation of its block). Here every block has one cell in a side table
// that lives as long as the pool: the owner that allocates the block writes its stamp
// there, readers check it, and the value's `Drop` checks and clears it. A missing edge
// between the last `Arc`/`Weak` of one value and the next owner of the block is then a
// loom causality error on that cell.

/// One cell per block of a one-block `ArcPool` (the block is identified by its address,
/// fixed on first use).
struct Side {
    cell: UnsafeCell<u64>,
    block: std::sync::Mutex<Option<usize>>,
    drops: AtomicUsize,
}

// SAFETY: the cell is accessed by the block's successive owners and the readers of its
// value only; loom checks every access against the others.
unsafe impl Sync for Side {}

impl Side {
    fn new() -> &'static Self {
        Box::leak(Box::new(Side {
            cell: UnsafeCell::new(0),
            block: std::sync::Mutex::new(None),
            drops: AtomicUsize::new(0),
        }))
    }

    /// Checks that `arc` is in the pool's (only) block. (A std mutex: loom runs one
    /// thread at a time and switches only at loom operations, so it never blocks.)
    fn check_block(&self, arc: &Arc<&'static ArcPool<Stamped, 1>>) {
        let address = Arc::as_ptr(arc) as usize;
        let mut block = self.block.lock().unwrap();
        assert_eq!(*block.get_or_insert(address), address, "a second block");
    }

    /// The new owner of the block: the previous value was dropped (cell cleared), and
    /// this write must happen after every access of the previous owners.
    fn claim(&'static self, arc: &Arc<&'static ArcPool<Stamped, 1>>) {
        self.check_block(arc);
        let stamp = arc.stamp;
        // SAFETY: loom checks that no other access races with this one.
        self.cell.with_mut(|p| unsafe {
            assert_eq!(*p, 0, "the block's previous value was not dropped");
            *p = stamp;
        });
    }
}

/// A value that checks, on every read and on its drop, that the block's side cell holds
/// its stamp.
struct Stamped {
    side: &'static Side,
    stamp: u64,
}

impl Stamped {
    fn read(&self) {
        // SAFETY: a read; loom checks it against the writes.
        let seen = self.side.cell.with(|p| unsafe { *p });
        assert_eq!(
            seen, self.stamp,
            "read a value that was dropped or replaced"
        );
    }
}

impl Drop for Stamped {
    fn drop(&mut self) {
        let stamp = self.stamp;
        // SAFETY: a write; loom checks it against every reader and the next owner.
        self.side.cell.with_mut(|p| unsafe {
            assert_eq!(
                *p, stamp,
                "dropped twice, or the block was reused while alive"
            );
            *p = 0;
        });
        self.side.drops.fetch_add(1, Ordering::Relaxed);
    }
}

type StampedArc = Arc<&'static ArcPool<Stamped, 1>>;

/// Allocates `stamp` in `pool` and writes it to the block's side cell, if a block is free.
fn alloc_stamped(
    pool: &'static ArcPool<Stamped, 1>,
    side: &'static Side,
    stamp: u64,
) -> Option<StampedArc> {
    match pool.alloc(Stamped { side, stamp }) {
        Ok(arc) => {
            side.claim(&arc);
            Some(arc)
        }
        Err(value) => {
            // Never in a block: its drop must not touch the block's cell.
            std::mem::forget(value);
            None
        }
    }
}

/// Two `Arc`s dropped in two threads (one reads through its `Arc` first), and a `Weak`
/// upgraded and dropped beside them; then the main thread allocates the block again as
/// soon as it is back. Whichever thread drops the value, its drop must happen after the
/// other thread's read (`Arc::drop`: Release decrement, Acquire fence), and the next
/// owner's first write after the drop and after every `Weak`'s last access
/// (`Weak::drop`: Release decrement, Acquire fence).
#[test]
fn value_drop_races_next_owner() {
    explore("value_drop_races_next_owner", FromEnv(3), || {
        let pool: &'static ArcPool<Stamped, 1> = Box::leak(Box::new(ArcPool::new()));
        let side = Side::new();
        let a = alloc_stamped(pool, side, 1).unwrap();
        let b = Arc::clone(&a);
        let weak = Arc::downgrade(&a);
        let t = thread::spawn(move || {
            b.read();
            drop(b);
        });
        drop(a);
        if let Some(c) = weak.upgrade() {
            c.read();
        }
        drop(weak);
        // The block is back once both threads are done with it; then it is ours.
        let reallocated = alloc_stamped(pool, side, 2)
            .map(|next| next.read())
            .is_some();
        t.join().unwrap();
        assert_eq!(
            side.drops.load(Ordering::Relaxed),
            1 + usize::from(reallocated),
            "each value dropped once"
        );
    });
}

/// A `Weak` in another thread upgrades, reads and drops while the main thread drops the
/// last `Arc` and its own `Weak` and re-allocates the block: the upgrade either fails or
/// reads the live value, and the next owner's writes come after the other thread's last
/// access, whichever thread drops the value and whichever returns the block.
#[test]
fn weak_upgrade_races_last_drop_and_realloc() {
    explore(
        "weak_upgrade_races_last_drop_and_realloc",
        FromEnv(3),
        || {
            let pool: &'static ArcPool<Stamped, 1> = Box::leak(Box::new(ArcPool::new()));
            let side = Side::new();
            let a = alloc_stamped(pool, side, 1).unwrap();
            let theirs = Arc::downgrade(&a);
            let ours = Arc::downgrade(&a);
            let t = thread::spawn(move || {
                if let Some(c) = theirs.upgrade() {
                    c.read();
                }
                drop(theirs);
            });
            drop(a);
            if let Some(c) = ours.upgrade() {
                c.read();
            }
            drop(ours);
            if let Some(next) = alloc_stamped(pool, side, 2) {
                next.read();
            }
            t.join().unwrap();
        },
    );
}

/// `get_mut` while another thread upgrades a `Weak` (breaking `get_mut`'s lock) and then
/// drops that `Weak` before reading through its new `Arc`: `get_mut` finds no `Weak` left
/// but must still see that its lock was broken and refuse, or its write races the read.
#[test]
fn get_mut_races_upgrade_that_drops_its_weak() {
    explore(
        "get_mut_races_upgrade_that_drops_its_weak",
        FromEnv(3),
        || {
            let pool: &'static ArcPool<Stamped, 1> = Box::leak(Box::new(ArcPool::new()));
            let side = Side::new();
            let mut a = alloc_stamped(pool, side, 1).unwrap();
            let weak = Arc::downgrade(&a);
            let t = thread::spawn(move || {
                let b = weak.upgrade();
                drop(weak);
                if let Some(b) = b {
                    b.read();
                }
            });
            if let Some(value) = Arc::get_mut(&mut a) {
                // Unique: write through the value (to the block's side cell).
                let stamp = value.stamp;
                // SAFETY: `get_mut` said nobody else can reach the value (loom checks it).
                value.side.cell.with_mut(|p| unsafe {
                    assert_eq!(*p, stamp);
                    *p = stamp;
                });
            }
            t.join().unwrap();
            assert!(
                Arc::get_mut(&mut a).is_some(),
                "unique once the other is gone"
            );
            drop(a);
            assert!(
                alloc_stamped(pool, side, 2).is_some(),
                "the block came back"
            );
        },
    );
}

/// `try_unwrap` against an `upgrade` and a read in another thread, the unwrapped value
/// dropped *before* the join: its drop must come after the other thread's read (the
/// Acquire fence after `try_unwrap`'s CAS pairs with the Release decrement of the
/// upgraded `Arc`).
#[test]
fn try_unwrap_races_upgrade_and_read() {
    explore("try_unwrap_races_upgrade_and_read", FromEnv(3), || {
        let pool: &'static ArcPool<Stamped, 1> = Box::leak(Box::new(ArcPool::new()));
        let side = Side::new();
        let a = alloc_stamped(pool, side, 1).unwrap();
        let weak = Arc::downgrade(&a);
        let t = thread::spawn(move || {
            if let Some(b) = weak.upgrade() {
                b.read();
            }
        });
        match Arc::try_unwrap(a) {
            Ok(value) => drop(value),
            Err(a) => drop(a),
        }
        t.join().unwrap();
        assert_eq!(side.drops.load(Ordering::Relaxed), 1, "dropped once");
    });
}

/// `Arc::into_inner` on two `Arc`s in two threads, the other reading first: whoever gets
/// the value drops it before the join, after the other's read.
#[test]
fn into_inner_races_into_inner() {
    explore("into_inner_races_into_inner", FromEnv(3), || {
        let pool: &'static ArcPool<Stamped, 1> = Box::leak(Box::new(ArcPool::new()));
        let side = Side::new();
        let a = alloc_stamped(pool, side, 1).unwrap();
        let b = Arc::clone(&a);
        let t = thread::spawn(move || {
            b.read();
            Arc::into_inner(b).is_some()
        });
        let ours = Arc::into_inner(a).is_some();
        let theirs = t.join().unwrap();
        assert!(ours != theirs, "exactly one into_inner gets the value");
        assert_eq!(side.drops.load(Ordering::Relaxed), 1, "dropped once");
    });
}
