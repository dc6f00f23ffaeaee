//! Multi-threaded stress for ThreadSanitizer (also a quick native test).
//!
//! ```text
//! BLOCKPOOL_TSAN_OPS=10000000 \
//! RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer --cfg blockpool_test_hooks" \
//!     cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu --release \
//!     --test tsan_stress -- --nocapture
//! ```
//!
//! `BLOCKPOOL_TSAN_OPS` is the total number of pool operations (each alloc and each
//! free counts one) over all threads; default 200 000. Threads allocate up to a few
//! blocks at a time from three pools at once (an instance pool grown from two separate
//! memory regions, a `StaticPool` and a `pool!` singleton), fill every payload with
//! their own pattern and check it before freeing. TSan checks that the free list orders
//! one owner's payload writes before the next owner's (the payload is plain memory);
//! per-block in-use flags catch a block handed out twice; draining the pools at the end
//! catches a lost block. With more threads than blocks the pools run empty often. With
//! `--cfg blockpool_test_hooks`, pops yield inside their ABA window now and then.
//! `threads_share_arcs_and_objects` adds `Arc`/`Weak` and `ObjectPool` traffic: values
//! whose last drop races other holders' reads and the block's next owner.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use blockpool::{pool, Block, Pool, PoolHandle, StaticPool};

const THREADS: usize = 4;
const BLOCKS: usize = 3;
const HOLD: usize = 2;

type Payload = [usize; 6];

static INSTANCE: Pool<Payload> = Pool::new();
static STATIC: StaticPool<Payload, BLOCKS> = StaticPool::new();
pool!(Singleton: Payload, blocks = BLOCKS);

/// In-use flags by payload address; `BLOCKS` per pool plus one more for the instance
/// pool's second region.
static SLOTS: [AtomicUsize; 4 * BLOCKS] = [const { AtomicUsize::new(0) }; 4 * BLOCKS];
static IN_USE: [AtomicBool; 4 * BLOCKS] = [const { AtomicBool::new(false) }; 4 * BLOCKS];

/// The in-use flag of the payload at `address` (the address is registered the first
/// time it is seen; there are at most `4 * BLOCKS` distinct ones).
fn flag(address: usize) -> &'static AtomicBool {
    for (slot, flag) in SLOTS.iter().zip(&IN_USE) {
        match slot.compare_exchange(0, address, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return flag,
            Err(a) if a == address => return flag,
            Err(_) => {}
        }
    }
    panic!("more distinct blocks than the pools hold: {address:#x}");
}

fn operations() -> usize {
    // Miri also runs this file (with the rest of the suite): a few thousand operations
    // there, whatever size the environment asks TSan for.
    if cfg!(miri) {
        return 2_000;
    }
    std::env::var("BLOCKPOOL_TSAN_OPS")
        .ok()
        .map(|v| {
            v.replace('_', "")
                .parse()
                .expect("BLOCKPOOL_TSAN_OPS: a number")
        })
        .unwrap_or(200_000)
}

/// Allocates from `pool`, checks and claims the block, fills it with `pattern`.
fn take<P: PoolHandle<Data = Payload>>(pool: P, pattern: usize) -> Option<blockpool::Box<P>> {
    let mut b = blockpool::Box::alloc_in(pool)?.init([pattern; 6]);
    let was = flag(b.as_ptr() as usize).swap(true, Ordering::Relaxed);
    assert!(!was, "block handed out twice");
    b[5] = !pattern;
    Some(b)
}

fn give<P: PoolHandle<Data = Payload>>(b: blockpool::Box<P>, pattern: usize) {
    let expected = [pattern, pattern, pattern, pattern, pattern, !pattern];
    assert_eq!(*b, expected, "payload changed while held");
    // Relaxed: a check that adds no synchronisation to hide a missing one.
    flag(b.as_ptr() as usize).store(false, Ordering::Relaxed);
    drop(b);
}

fn worker(id: usize, ops: usize) -> usize {
    let mut done = 0;
    let mut instance = Vec::with_capacity(HOLD);
    let mut statics = Vec::with_capacity(HOLD);
    let mut singles = Vec::with_capacity(HOLD);
    let mut state = (id as u32).wrapping_mul(2_654_435_761) | 1;
    let mut round = 0usize;
    while done < ops {
        // xorshift: which pool, and whether to alloc or free.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let pattern = id << 32 | round;
        round += 1;
        let alloc = state & 1 == 0;
        match (state >> 1) % 3 {
            0 if alloc && instance.len() < HOLD => {
                instance.extend(take(&INSTANCE, pattern).map(|b| (b, pattern)))
            }
            0 => instance.pop().into_iter().for_each(|(b, p)| give(b, p)),
            1 if alloc && statics.len() < HOLD => {
                statics.extend(take(&STATIC, pattern).map(|b| (b, pattern)))
            }
            1 => statics.pop().into_iter().for_each(|(b, p)| give(b, p)),
            _ if alloc && singles.len() < HOLD => {
                singles.extend(take(Singleton, pattern).map(|b| (b, pattern)))
            }
            _ => singles.pop().into_iter().for_each(|(b, p)| give(b, p)),
        }
        done += 1;
    }
    instance.into_iter().for_each(|(b, p)| give(b, p));
    statics.into_iter().for_each(|(b, p)| give(b, p));
    singles.into_iter().for_each(|(b, p)| give(b, p));
    done
}

#[cfg(blockpool_test_hooks)]
fn yield_in_window() {
    thread_local!(static POPS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
    let pops = POPS.get().wrapping_add(1);
    POPS.set(pops);
    if pops % 4 == 0 {
        thread::yield_now();
    }
}

/// Allocates until the pool is empty and returns the distinct payload addresses.
fn drain<P: PoolHandle<Data = Payload> + Copy>(pool: P, most: usize) -> usize {
    let mut held = Vec::new();
    while let Some(b) = blockpool::Box::alloc_in(pool) {
        held.push(b);
        assert!(
            held.len() <= most,
            "a pool hands out more blocks than it has"
        );
    }
    let mut addresses: Vec<usize> = held.iter().map(|b| b.as_ptr() as usize).collect();
    addresses.sort_unstable();
    addresses.dedup();
    addresses.len()
}

#[test]
fn threads_hammer_three_pools() {
    static mut FIRST: [Block<Payload>; BLOCKS] = [const { Block::new() }; BLOCKS];
    static mut SECOND: [Block<Payload>; 1] = [const { Block::new() }; 1];
    // SAFETY: the only references ever made to `FIRST` and `SECOND`.
    let (first, second) = unsafe {
        (
            &mut *std::ptr::addr_of_mut!(FIRST),
            &mut *std::ptr::addr_of_mut!(SECOND),
        )
    };
    assert_eq!(INSTANCE.grow_exact(first), BLOCKS);
    assert_eq!(INSTANCE.grow_exact(second), 1);

    // With `--cfg blockpool_test_hooks`, every 4th pop yields its time slice between reading `next` and
    // its CAS: the window in which other threads' pops and pushes make ABA, which
    // otherwise a few instructions wide is rarely hit by a stress run.
    #[cfg(blockpool_test_hooks)]
    blockpool::testing::set_pop_window_hook(Some(yield_in_window));

    let total = operations();
    let start = std::time::Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|id| thread::spawn(move || worker(id, total / THREADS)))
        .collect();
    // Join explicitly: TSan sees each join as synchronisation.
    let done: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    println!(
        "tsan_stress: {done} pool operations on {THREADS} threads in {:.2?}",
        start.elapsed()
    );

    assert_eq!(
        drain(&INSTANCE, BLOCKS + 1),
        BLOCKS + 1,
        "instance pool lost a block"
    );
    assert_eq!(drain(&STATIC, BLOCKS), BLOCKS, "static pool lost a block");
    assert_eq!(
        drain(Singleton, BLOCKS),
        BLOCKS,
        "singleton pool lost a block"
    );
}

/// A value shared by `Arc`s whose destructor writes to it: if the last `Arc`'s drop were
/// not ordered after every other holder's reads (only the counts order them), TSan would
/// report the write against a read.
struct Shared {
    words: [usize; 4],
}

impl Drop for Shared {
    fn drop(&mut self) {
        assert!(self.words.iter().all(|&w| w == self.words[0]), "torn value");
        self.words = [0; 4];
    }
}

static ARCS: blockpool::ArcPool<Shared, BLOCKS> = blockpool::ArcPool::new();
static OBJECTS: blockpool::ObjectPool<[usize; 4], BLOCKS> = blockpool::ObjectPool::new([0; 4]);
type SharedArc = blockpool::Arc<&'static blockpool::ArcPool<Shared, BLOCKS>>;

/// Arc/Weak and ObjectPool traffic: each thread allocates `Arc`s, hands a clone to the
/// next thread through a mailbox (the handoff itself is Release/Acquire: what it
/// publishes is the value's creation, nothing else), reads the value, downgrades, drops,
/// upgrades and drops again, so that every drop races the other holder's reads and the
/// block's next owner; and it borrows `Object`s, whose values pass from one owner to the
/// next through the free list.
#[test]
fn threads_share_arcs_and_objects() {
    use std::sync::atomic::AtomicPtr;
    static MAILBOXES: [AtomicPtr<Shared>; THREADS] =
        [const { AtomicPtr::new(std::ptr::null_mut()) }; THREADS];
    /// Reads an `Arc` that someone else may drop at the same time, then lets it go the
    /// long way round: downgrade, drop, upgrade, read, drop.
    fn use_and_drop(arc: SharedArc) {
        let first = arc.words[0];
        assert!(arc.words.iter().all(|&w| w == first), "torn value");
        let weak = blockpool::Arc::downgrade(&arc);
        drop(arc);
        if let Some(again) = weak.upgrade() {
            assert_eq!(again.words, [first; 4], "value changed while shared");
        }
    }
    fn rebuild(raw: *mut Shared) -> Option<SharedArc> {
        // SAFETY: only `into_raw` pointers of `ARCS` are put in a mailbox, and each is
        // taken out (swapped for null or another) exactly once.
        std::ptr::NonNull::new(raw).map(|p| unsafe { blockpool::Arc::from_raw(p, &ARCS) })
    }
    let rounds = operations() / 8 / THREADS;
    let threads: Vec<_> = (0..THREADS)
        .map(|id| {
            thread::spawn(move || {
                for round in 0..rounds {
                    let pattern = id << 32 | round;
                    if let Ok(arc) = ARCS.alloc(Shared {
                        words: [pattern; 4],
                    }) {
                        let clone = blockpool::Arc::into_raw(arc.clone()).as_ptr();
                        // AcqRel: publishes our clone; takes over whatever was there.
                        let displaced = MAILBOXES[(id + 1) % THREADS].swap(clone, Ordering::AcqRel);
                        rebuild(displaced).into_iter().for_each(use_and_drop);
                        use_and_drop(arc);
                    }
                    // Acquire: the value's creation happens before our reads.
                    let mine = MAILBOXES[id].swap(std::ptr::null_mut(), Ordering::AcqRel);
                    rebuild(mine).into_iter().for_each(use_and_drop);
                    if let Some(mut object) = OBJECTS.request() {
                        assert!(object.iter().all(|&w| w == object[0]), "torn object");
                        *object = [pattern; 4];
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for mailbox in &MAILBOXES {
        rebuild(mailbox.swap(std::ptr::null_mut(), Ordering::Acquire))
            .into_iter()
            .for_each(use_and_drop);
    }
    let all: Vec<_> = std::iter::from_fn(|| ARCS.alloc(Shared { words: [0; 4] }).ok()).collect();
    assert_eq!(all.len(), BLOCKS, "an Arc block was lost");
    let objects: Vec<_> = std::iter::from_fn(|| OBJECTS.request()).collect();
    assert_eq!(objects.len(), BLOCKS, "an object was lost");
}

/// What `tsan_control` runs in a child process: a block handed from one thread to
/// another with a `Relaxed` store and load, the ordering bug a free list without
/// release/acquire would have. Does nothing unless `BLOCKPOOL_TSAN_CONTROL=child`.
#[test]
fn tsan_control_child() {
    use std::sync::atomic::AtomicPtr;
    if std::env::var("BLOCKPOOL_TSAN_CONTROL").as_deref() != Ok("child") {
        return;
    }
    static HANDOFF: AtomicPtr<Payload> = AtomicPtr::new(std::ptr::null_mut());
    let mut block = take(&STATIC, 1).expect("a free block");
    let payload = AtomicPtr::new(&mut *block as *mut Payload);
    std::mem::forget(block);
    let writer = thread::spawn(move || {
        let payload = payload.into_inner();
        // SAFETY: the block is this thread's until it publishes it below, wrongly,
        // with `Relaxed`.
        unsafe { (*payload)[0] = 2 };
        HANDOFF.store(payload, Ordering::Relaxed);
    });
    let reader = thread::spawn(|| loop {
        let p = HANDOFF.load(Ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: as above: the race TSan must report.
            unsafe { (*p)[0] = 3 };
            break;
        }
        std::hint::spin_loop();
    });
    writer.join().unwrap();
    reader.join().unwrap();
}

/// Shows this binary really runs under TSan and that TSan reports an unordered handoff
/// of a block's payload. Runs only with `BLOCKPOOL_TSAN_CONTROL=expect` (set by
/// `scripts/verify.sh` for the TSan build; a plain build has no TSan to report).
#[test]
fn tsan_control() {
    if std::env::var("BLOCKPOOL_TSAN_CONTROL").as_deref() != Ok("expect") {
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tsan_control_child", "--nocapture"])
        .env("BLOCKPOOL_TSAN_CONTROL", "child")
        .output()
        .expect("could not run the test binary again");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("WARNING: ThreadSanitizer: data race"),
        "TSan did not report the racy handoff (is this a TSan build?):\n{stderr}"
    );
    assert!(
        !output.status.success(),
        "the child exited successfully:\n{stderr}"
    );
}
