//! Deterministic ABA: the `--cfg blockpool_test_hooks` build runs a function inside the window of a
//! pop, after it has read the top block `A` and its successor `B` and before its
//! compare-and-swap. The function pops `A`, pops `B` (and keeps it) and pushes `A` back:
//! the interleaving that breaks an unprotected Treiber stack.
//!
//! A naive stack kept here shows that the scenario does corrupt a free list without ABA
//! protection (so this test can fail); the real pool must come out of it intact.
//!
//! Run: `RUSTFLAGS="--cfg blockpool_test_hooks" cargo test --test aba` (without the cfg
//! the file compiles to nothing).

#![cfg(blockpool_test_hooks)]

use std::collections::HashSet;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

use blockpool::{Block, Box, Pool};

/// Tests here share the process-wide hook: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

static ARMED: AtomicBool = AtomicBool::new(false);
static WINDOW_VISITS: AtomicUsize = AtomicUsize::new(0);

static POOL: Pool<u64> = Pool::new();
/// The block `B` that the interloper keeps.
static KEPT: Mutex<Option<Box<&'static Pool<u64>>>> = Mutex::new(None);

fn interloper() {
    WINDOW_VISITS.fetch_add(1, Ordering::SeqCst);
    if !ARMED.swap(false, Ordering::SeqCst) {
        return;
    }
    let a = POOL.alloc_value(0xA).unwrap();
    let b = POOL.alloc_value(0xB).unwrap();
    drop(a);
    *KEPT.lock().unwrap() = Some(b);
}

#[test]
fn the_pool_survives_pop_pop_push_inside_the_window() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let blocks: &'static mut [Block<u64>] =
        std::boxed::Box::leak((0..3).map(|_| Block::new()).collect());
    assert_eq!(POOL.grow_exact(blocks), 3);
    blockpool::testing::set_pop_window_hook(Some(interloper));
    WINDOW_VISITS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);

    let first = POOL.alloc_value(1).unwrap();
    blockpool::testing::set_pop_window_hook(None);
    // Our pop, the interloper's two pops, and at least one retry of ours after the CAS
    // failed (more where `compare_exchange_weak` fails spuriously, as under Miri).
    assert!(
        WINDOW_VISITS.load(Ordering::SeqCst) >= 4,
        "the pop did not retry"
    );

    let kept = KEPT.lock().unwrap().take().unwrap();
    let third = POOL.alloc_value(3).unwrap();
    assert!(
        POOL.alloc().is_none(),
        "a fourth block appeared out of three"
    );
    let distinct: HashSet<_> = [first.as_ptr(), kept.as_ptr(), third.as_ptr()]
        .into_iter()
        .collect();
    assert_eq!(distinct.len(), 3, "a block was handed out twice");
    assert_eq!(
        (*first, *kept, *third),
        (1, 0xB, 3),
        "a payload was overwritten"
    );
    drop((first, kept, third));
    assert_eq!(
        std::iter::from_fn(|| POOL.alloc())
            .collect::<Vec<_>>()
            .len(),
        3,
        "a block was lost"
    );
}

/// Treiber's stack without ABA protection, with the same hook point.
mod naive {
    use super::*;

    pub struct Node {
        next: AtomicPtr<Node>,
    }

    pub struct Stack {
        head: AtomicPtr<Node>,
        pub hook: fn(&Stack),
    }

    impl Stack {
        pub fn pop(&self) -> *mut Node {
            loop {
                let top = self.head.load(Ordering::Acquire);
                if top.is_null() {
                    return top;
                }
                // SAFETY: nodes are leaked, so always valid.
                let next = unsafe { &*top }.next.load(Ordering::Relaxed);
                (self.hook)(self);
                if self
                    .head
                    .compare_exchange(top, next, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return top;
                }
            }
        }

        pub fn push(&self, node: *mut Node) {
            loop {
                let top = self.head.load(Ordering::Relaxed);
                // SAFETY: nodes are leaked, so always valid.
                unsafe { &*node }.next.store(top, Ordering::Relaxed);
                if self
                    .head
                    .compare_exchange(top, node, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }

        pub fn with_nodes(n: usize, hook: fn(&Stack)) -> Self {
            let stack = Stack {
                head: AtomicPtr::new(ptr::null_mut()),
                hook,
            };
            for _ in 0..n {
                let node = std::boxed::Box::into_raw(std::boxed::Box::new(Node {
                    next: AtomicPtr::new(ptr::null_mut()),
                }));
                stack.push(node);
            }
            stack
        }
    }
}

static NAIVE_ARMED: AtomicBool = AtomicBool::new(false);
static NAIVE_KEPT: AtomicPtr<naive::Node> = AtomicPtr::new(ptr::null_mut());

fn naive_interloper(stack: &naive::Stack) {
    if !NAIVE_ARMED.swap(false, Ordering::SeqCst) {
        return;
    }
    let a = stack.pop();
    let b = stack.pop();
    stack.push(a);
    NAIVE_KEPT.store(b, Ordering::SeqCst);
}

#[test]
fn the_same_scenario_corrupts_a_naive_treiber_stack() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let stack = naive::Stack::with_nodes(3, naive_interloper);
    NAIVE_ARMED.store(true, Ordering::SeqCst);
    let first = stack.pop();
    let kept = NAIVE_KEPT.load(Ordering::SeqCst);
    let second = stack.pop();
    assert!(!first.is_null() && !kept.is_null());
    assert_eq!(
        second, kept,
        "expected the naive stack to hand out the interloper's block a second time"
    );
}
