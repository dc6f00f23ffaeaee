//! The workloads W1-W5, generic over the contender so every loop is monomorphised and
//! the contender's `alloc`/`free` are inlined into it.

use std::cell::UnsafeCell;
use std::hint::spin_loop;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::contenders::{Contender, BLOCKS};

#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Workload {
    /// alloc + write + free, one thread.
    W1,
    /// 1,000 allocs, then 1,000 frees in reverse (LIFO) order, one thread.
    W2Lifo,
    /// 1,000 allocs, then 1,000 frees in allocation (FIFO) order, one thread.
    W2Fifo,
    /// Two threads, each alloc + write + free, on one shared pool.
    W3,
    /// One thread allocates, the other frees (cross-thread free, through an SPSC ring).
    W4,
    /// Two threads, each allocating `W5_BATCH` blocks, writing them, then freeing them
    /// all, on one shared pool.
    W5,
}

pub const ALL: [Workload; 6] = [
    Workload::W1,
    Workload::W2Lifo,
    Workload::W2Fifo,
    Workload::W3,
    Workload::W4,
    Workload::W5,
];

/// Blocks each thread holds at once in W5.
pub const W5_BATCH: usize = 32;

/// Blocks held at once in W2.
pub const W2_BATCH: u64 = 1000;

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::W1 => "W1",
            Workload::W2Lifo => "W2-LIFO",
            Workload::W2Fifo => "W2-FIFO",
            Workload::W3 => "W3",
            Workload::W4 => "W4",
            Workload::W5 => "W5",
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            Workload::W1 => "alloc+free pair, one thread",
            Workload::W2Lifo => "1,000 allocs then 1,000 frees, LIFO, one thread",
            Workload::W2Fifo => "1,000 allocs then 1,000 frees, FIFO, one thread",
            Workload::W3 => "2 threads alloc+free on one shared pool",
            Workload::W4 => "one thread allocates, another frees (cross-thread)",
            Workload::W5 => "2 threads, each 32 allocs then 32 frees, one shared pool",
        }
    }
    /// What one unit of `ns_per_unit` is.
    pub fn unit(self) -> &'static str {
        match self {
            Workload::W1 | Workload::W3 | Workload::W5 => "pair",
            Workload::W2Lifo | Workload::W2Fifo => "op",
            Workload::W4 => "block",
        }
    }
    pub fn threads(self) -> usize {
        match self {
            Workload::W3 | Workload::W4 | Workload::W5 => 2,
            _ => 1,
        }
    }
    /// Units of work per iteration (`iters` counts rounds of 1,000 in W2).
    pub fn units_per_iter(self) -> u64 {
        match self {
            Workload::W1 | Workload::W4 => 1,
            Workload::W2Lifo | Workload::W2Fifo => 2 * W2_BATCH,
            Workload::W3 => 2,
            Workload::W5 => 2 * W5_BATCH as u64,
        }
    }
    /// A first guess of iterations for calibration.
    pub fn start_iters(self) -> u64 {
        match self {
            Workload::W2Lifo | Workload::W2Fifo => 1,
            _ => 1000,
        }
    }
}

/// One timed repetition.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub elapsed: Duration,
    pub ns_per_unit: f64,
    /// Lowest (thread CPU time / wall time) of the measuring threads: well below 1 means
    /// a thread was descheduled during the repetition.
    pub cpu_ratio: f64,
    /// Share of the repetition during which all measuring threads were running their
    /// loops (1 for one thread): well below 1 means the threads ran one after the other,
    /// e.g. because only one CPU was free, so they did not contend at all.
    pub overlap: f64,
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

struct Span {
    start: Instant,
    end: Instant,
    cpu: Duration,
}

impl Span {
    fn measure(f: impl FnOnce() -> Result<(), String>) -> Result<Span, String> {
        let cpu0 = thread_cpu();
        let start = Instant::now();
        f()?;
        let end = Instant::now();
        Ok(Span {
            start,
            end,
            cpu: thread_cpu() - cpu0,
        })
    }
    fn ratio(&self) -> f64 {
        let wall = (self.end - self.start).as_secs_f64();
        if wall > 0.0 {
            (self.cpu.as_secs_f64() / wall).min(1.0)
        } else {
            1.0
        }
    }
}

fn sample(w: Workload, iters: u64, spans: &[Span]) -> Sample {
    let start = spans.iter().map(|s| s.start).min().unwrap();
    let end = spans.iter().map(|s| s.end).max().unwrap();
    let elapsed = end - start;
    let units = (iters * w.units_per_iter()) as f64;
    let last_start = spans.iter().map(|s| s.start).max().unwrap();
    let first_end = spans.iter().map(|s| s.end).min().unwrap();
    let together = first_end.saturating_duration_since(last_start);
    Sample {
        elapsed,
        ns_per_unit: elapsed.as_nanos() as f64 / units,
        cpu_ratio: spans.iter().map(Span::ratio).fold(1.0, f64::min),
        overlap: if elapsed.is_zero() {
            1.0
        } else {
            together.as_secs_f64() / elapsed.as_secs_f64()
        },
    }
}

/// Runs `iters` iterations of `w` on `c`, checking that every alloc succeeded and every
/// block held what was written into it until it was freed.
pub fn run<C: Contender>(c: &C, w: Workload, iters: u64) -> Result<Sample, String> {
    let iters = iters.max(1);
    reset_order(c);
    let errors_before = c.errors();
    let s = match w {
        Workload::W1 => {
            let span = Span::measure(|| w1(c, iters))?;
            sample(w, iters, &[span])
        }
        Workload::W2Lifo | Workload::W2Fifo => {
            let mut held: Vec<MaybeUninit<C::H>> =
                (0..W2_BATCH).map(|_| MaybeUninit::uninit()).collect();
            let span = Span::measure(|| w2(c, iters, w == Workload::W2Lifo, &mut held))?;
            sample(w, iters, &[span])
        }
        Workload::W3 | Workload::W5 => two_threads(c, iters, w)?,
        Workload::W4 => w4(c, iters)?,
    };
    let errors = c.errors() - errors_before;
    if errors != 0 {
        return Err(format!("{}: the pool reported {errors} errors", w.name()));
    }
    Ok(s)
}

/// Puts the free blocks of a bounded pool back in address order (the lowest address
/// handed out first by a stack), the order of a freshly grown pool, so that every
/// repetition of every contender starts from the same state.
///
/// Without this, a W1/W2 repetition ran on whatever order the contender's last W3/W4
/// repetitions (two threads freeing in turn) had left, and that differed from contender
/// to contender and from run to run; the order decides whether W2's 1,000 pops walk
/// memory in sequence or jump about. Not timed: it runs before the repetition's clock
/// starts.
pub fn reset_order<C: Contender>(c: &C) {
    let mut all: Vec<C::H> = Vec::new();
    // Bounded pools hold `BLOCKS`; the guard stops a pool that would hand out more.
    while all.len() <= BLOCKS {
        let Some(h) = c.alloc(0) else { break };
        if c.position(&h).is_none() {
            // Not a pool with an order: give it back and leave the contender as it is.
            c.free(h);
            break;
        }
        all.push(h);
    }
    all.sort_by_key(|h| c.position(h));
    // Freed from the highest address down: a stack then hands out the lowest first.
    for h in all.into_iter().rev() {
        c.free(h);
    }
}

/// An error message of a measured loop, formatted out of line from copies of the
/// loop's values (a `move` closure). Formatting the loop's own variables in place would
/// take their addresses, and the compiler then keeps them in memory, storing them on
/// every iteration for some contenders and not for others, depending on register
/// allocation.
#[cold]
#[inline(never)]
fn failed(message: impl FnOnce() -> String) -> String {
    message()
}

#[inline(never)]
fn w1<C: Contender>(c: &C, iters: u64) -> Result<(), String> {
    let mut sum = 0u64;
    for i in 0..iters {
        let Some(h) = c.alloc(i) else {
            return Err(failed(move || format!("W1: alloc failed at pair {i}")));
        };
        sum = sum.wrapping_add(c.read(&h));
        c.free(h);
    }
    let expected = (0..iters).fold(0u64, u64::wrapping_add);
    if sum != expected {
        return Err(failed(move || {
            format!("W1: blocks did not hold their values (sum {sum} != {expected})")
        }));
    }
    Ok(())
}

/// W2: `iters` rounds of 1,000 allocs, then 1,000 frees in LIFO or FIFO order.
///
/// The handles wait in `held`, plain slots that this loop tracks itself. With a `Vec`
/// (`pop`, `drain`) the compiler kept the vector's length or the drain's position in
/// memory and reloaded it after each free's atomic operation, for handle types with a
/// destructor (blockpool's, heapless's, atomic-pool's boxes) but not for raw pointers
/// (the Treiber reference, malloc): a cost of the harness that fell on some contenders
/// only. Seen in the compiled FIFO loops.
#[inline(never)]
fn w2<C: Contender>(
    c: &C,
    iters: u64,
    lifo: bool,
    held: &mut [MaybeUninit<C::H>],
) -> Result<(), String> {
    let n = held.len();
    for round in 0..iters {
        for i in 0..n {
            let Some(h) = c.alloc(i as u64) else {
                for slot in &held[..i] {
                    // SAFETY: slots `..i` were written in this round and not read yet.
                    c.free(unsafe { slot.assume_init_read() });
                }
                return Err(failed(move || {
                    format!("W2: alloc {i} of {n} failed (round {round})")
                }));
            };
            held[i].write(h);
        }
        let mut sum = 0u64;
        if lifo {
            for slot in held.iter().rev() {
                // SAFETY: every slot was written above, and each is read once.
                let h = unsafe { slot.assume_init_read() };
                sum = sum.wrapping_add(c.read(&h));
                c.free(h);
            }
        } else {
            for slot in held.iter() {
                // SAFETY: every slot was written above, and each is read once.
                let h = unsafe { slot.assume_init_read() };
                sum = sum.wrapping_add(c.read(&h));
                c.free(h);
            }
        }
        // Each of the blocks got a distinct value: a block handed out twice would have
        // been overwritten and spoil the sum.
        let expected = (n as u64) * (n as u64 - 1) / 2;
        if sum != expected {
            return Err(failed(move || {
                format!("W2: blocks did not hold their values (round {round})")
            }));
        }
    }
    Ok(())
}

fn spin_wait(spins: &mut u32) {
    *spins += 1;
    if *spins < 1000 {
        spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// W3 and W5 (`w`): two threads, each running the workload's loop on the shared pool.
fn two_threads<C: Contender>(c: &C, iters: u64, w: Workload) -> Result<Sample, String> {
    let barrier = Barrier::new(2);
    let spans: Vec<Result<Span, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    Span::measure(|| match w {
                        Workload::W5 => w5_thread(c, t, iters),
                        _ => w3_thread(c, t, iters),
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let spans = spans.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(sample(w, iters, &spans))
}

#[inline(never)]
fn w3_thread<C: Contender>(c: &C, t: u64, iters: u64) -> Result<(), String> {
    let mut bad = 0u64;
    for i in 0..iters {
        let v = t << 48 | i;
        let Some(h) = c.alloc(v) else {
            return Err(failed(move || {
                format!("W3: alloc failed in thread {t} at pair {i}")
            }));
        };
        bad += u64::from(c.read(&h) != v);
        c.free(h);
    }
    if bad != 0 {
        return Err(failed(move || {
            format!("W3: {bad} blocks changed while held (handed out twice?)")
        }));
    }
    Ok(())
}

/// W5 in one thread: `iters` rounds of `W5_BATCH` allocs (each written), then the
/// `W5_BATCH` frees in LIFO order, each block read back first. The handles wait in a
/// stack array of plain slots (see `w2` for why not a `Vec`).
#[inline(never)]
fn w5_thread<C: Contender>(c: &C, t: u64, iters: u64) -> Result<(), String> {
    let mut held: [MaybeUninit<C::H>; W5_BATCH] = [const { MaybeUninit::uninit() }; W5_BATCH];
    let mut bad = 0u64;
    for round in 0..iters {
        for (i, slot) in held.iter_mut().enumerate() {
            let v = t << 48 | (round & 0xffff_ffff) << 8 | i as u64;
            let mut spins = 0;
            let h = loop {
                // The other thread's caches may hold the rest of a small pool for a
                // moment; blockpool's bounded pools have `BLOCKS`, far more than 64.
                if let Some(h) = c.alloc(v) {
                    break h;
                }
                spin_wait(&mut spins);
                if spins > 50_000_000 {
                    return Err(failed(move || format!("W5: alloc failed in thread {t}")));
                }
            };
            slot.write(h);
        }
        for (i, slot) in held.iter().enumerate().rev() {
            // SAFETY: every slot was written above, and each is read once.
            let h = unsafe { slot.assume_init_read() };
            let v = t << 48 | (round & 0xffff_ffff) << 8 | i as u64;
            bad += u64::from(c.read(&h) != v);
            c.free(h);
        }
    }
    if bad != 0 {
        return Err(failed(move || {
            format!("W5: {bad} blocks changed while held (handed out twice?)")
        }));
    }
    Ok(())
}

/// A bounded single-producer single-consumer ring: the transport of W4, the same for
/// every contender.
struct Ring<H> {
    slots: Box<[UnsafeCell<MaybeUninit<H>>]>,
    mask: usize,
    head: Padded, // next slot to read (consumer)
    tail: Padded, // next slot to write (producer)
    abort: std::sync::atomic::AtomicBool,
}

#[repr(align(128))]
struct Padded(AtomicUsize);

// SAFETY: a slot is written by the producer before it publishes `tail` (release) and read
// by the consumer after it acquires it, and reused only after the consumer publishes
// `head`; the values are `Send`.
unsafe impl<H: Send> Sync for Ring<H> {}

const RING: usize = 256;

impl<H: Send> Ring<H> {
    fn new() -> Self {
        Self {
            slots: (0..RING)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            mask: RING - 1,
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            abort: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

fn w4<C: Contender>(c: &C, iters: u64) -> Result<Sample, String> {
    let ring = Ring::<C::H>::new();
    let barrier = Barrier::new(2);
    let (producer, consumer) = std::thread::scope(|s| {
        let p = s.spawn(|| {
            barrier.wait();
            Span::measure(|| w4_producer(c, &ring, iters))
        });
        let q = s.spawn(|| {
            barrier.wait();
            Span::measure(|| w4_consumer(c, &ring, iters))
        });
        (p.join().unwrap(), q.join().unwrap())
    });
    Ok(sample(Workload::W4, iters, &[producer?, consumer?]))
}

#[inline(never)]
fn w4_producer<C: Contender>(c: &C, ring: &Ring<C::H>, iters: u64) -> Result<(), String> {
    let mut tail = 0usize;
    let mut head_seen = 0usize;
    for i in 0..iters {
        let mut spins = 0;
        let h = loop {
            if let Some(h) = c.alloc(i) {
                break h;
            }
            // Pool empty: the consumer will free blocks.
            spin_wait(&mut spins);
            if spins > 50_000_000 {
                ring.abort.store(true, Ordering::Relaxed);
                return Err("W4: the pool stayed empty".into());
            }
        };
        let mut spins = 0;
        while tail - head_seen == RING {
            head_seen = ring.head.0.load(Ordering::Acquire);
            if tail - head_seen == RING {
                spin_wait(&mut spins);
            }
        }
        // SAFETY: the slot is free (the consumer has moved past it).
        unsafe { (*ring.slots[tail & ring.mask].get()).write(h) };
        tail += 1;
        ring.tail.0.store(tail, Ordering::Release);
    }
    Ok(())
}

#[inline(never)]
fn w4_consumer<C: Contender>(c: &C, ring: &Ring<C::H>, iters: u64) -> Result<(), String> {
    let mut head = 0usize;
    let mut tail_seen = 0usize;
    let mut bad = 0u64;
    for i in 0..iters {
        let mut spins = 0;
        while head == tail_seen {
            tail_seen = ring.tail.0.load(Ordering::Acquire);
            if head == tail_seen {
                if ring.abort.load(Ordering::Relaxed) {
                    return Err("W4: producer gave up".into());
                }
                spin_wait(&mut spins);
            }
        }
        // SAFETY: the producer published this slot.
        let h = unsafe { (*ring.slots[head & ring.mask].get()).assume_init_read() };
        head += 1;
        ring.head.0.store(head, Ordering::Release);
        bad += u64::from(c.read(&h) != i);
        c.free(h);
    }
    if bad != 0 {
        return Err(format!(
            "W4: {bad} blocks did not hold their values (handed out twice?)"
        ));
    }
    Ok(())
}
