//! A tour of blockpool on a host: four threads and a timer signal handler share one
//! pool of 16 blocks, every block is stamped by its owner and checked before it goes
//! back, and at the end every block is accounted for.
//!
//! ```text
//! cargo run --release --example demo
//! ```

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use blockpool::StaticPool;

#[path = "../tests/common/signals.rs"]
mod signals;

/// A 256-byte message buffer: owner, sequence number and a payload.
struct Message {
    owner: usize,
    seq: usize,
    payload: [u8; 240],
}

static MESSAGES: StaticPool<Message, 16> = StaticPool::new();

static HANDLER_RUNS: AtomicUsize = AtomicUsize::new(0);
static HANDLER_ALLOCS: AtomicUsize = AtomicUsize::new(0);
static HANDLER_EMPTY: AtomicUsize = AtomicUsize::new(0);
static CORRUPT: AtomicUsize = AtomicUsize::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

/// Allocates a message, fills it, checks it and frees it; returns false when the pool
/// was empty.
fn round_trip(owner: usize, seq: usize) -> bool {
    let Ok(mut message) = MESSAGES.alloc_value(Message {
        owner,
        seq,
        payload: [0; 240],
    }) else {
        return false;
    };
    message.payload.fill((owner ^ seq) as u8);
    let intact = message.owner == owner
        && message.seq == seq
        && message.payload.iter().all(|&b| b == (owner ^ seq) as u8);
    if !intact {
        CORRUPT.fetch_add(1, Relaxed);
    }
    true
}

/// The "interrupt": runs on whichever thread the kernel picks, in the middle of
/// whatever that thread was doing with the pool. Only atomics and the pool here.
extern "C" fn on_timer(_: libc::c_int) {
    let run = HANDLER_RUNS.fetch_add(1, Relaxed);
    if round_trip(usize::MAX, run) {
        HANDLER_ALLOCS.fetch_add(1, Relaxed);
    } else {
        HANDLER_EMPTY.fetch_add(1, Relaxed);
    }
}

fn main() {
    println!("blockpool demo: free-list backend `{}`", blockpool::BACKEND);
    println!(
        "pool: {} blocks of {} bytes in one static, no unsafe",
        MESSAGES.capacity(),
        std::mem::size_of::<Message>()
    );
    let started = Instant::now();
    signals::install(libc::SIGALRM, on_timer);
    signals::set_timer(50);
    let workers: Vec<_> = (0..4)
        .map(|owner| {
            thread::spawn(move || {
                let (mut done, mut empty) = (0usize, 0usize);
                while !STOP.load(Relaxed) {
                    // Hold a few messages at once so the pool really runs dry at times.
                    let held: Vec<_> = (0..3)
                        .filter_map(|i| {
                            MESSAGES
                                .alloc_value(Message {
                                    owner,
                                    seq: done + i,
                                    payload: [owner as u8; 240],
                                })
                                .ok()
                        })
                        .collect();
                    empty += 3 - held.len();
                    for m in &held {
                        if m.owner != owner || m.payload.iter().any(|&b| b != owner as u8) {
                            CORRUPT.fetch_add(1, Relaxed);
                        }
                    }
                    done += held.len();
                    drop(held);
                    if round_trip(owner, done) {
                        done += 1;
                    }
                }
                (done, empty)
            })
        })
        .collect();
    // By the wall clock: a single 2 s sleep, interrupted by the timer signal every 50 µs
    // and restarted with the kernel's timer slack each time, lasted about 8 s.
    while started.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(10));
    }
    STOP.store(true, Relaxed);
    let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    signals::set_timer(0);
    let elapsed = started.elapsed();

    for (owner, (done, empty)) in results.iter().enumerate() {
        println!("thread {owner}: {done:>9} messages, {empty:>8} times the pool was empty");
    }
    println!(
        "signal handler: {} runs, {} messages, {} times the pool was empty",
        HANDLER_RUNS.load(Relaxed),
        HANDLER_ALLOCS.load(Relaxed),
        HANDLER_EMPTY.load(Relaxed)
    );
    let total: usize = results.iter().map(|r| r.0).sum::<usize>() + HANDLER_ALLOCS.load(Relaxed);
    println!(
        "{total} messages in {elapsed:.1?} ({:.1} M/s)",
        total as f64 / elapsed.as_secs_f64() / 1e6
    );
    let back: Vec<_> = std::iter::from_fn(|| MESSAGES.alloc()).collect();
    let corrupt = CORRUPT.load(Relaxed);
    println!(
        "blocks back in the pool: {}/{}, corrupted messages: {corrupt}",
        back.len(),
        16
    );
    if back.len() != 16 || corrupt != 0 {
        eprintln!("FAILED: a block was lost or a message was corrupted");
        std::process::exit(1);
    }
    println!("ok: none lost, none duplicated");
}
