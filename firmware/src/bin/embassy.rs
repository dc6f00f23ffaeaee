//! blockpool's `alloc_async()` under embassy-executor on a Cortex-M, under QEMU: a
//! thread-mode executor whose tasks wait for blocks of a two-block pool, and a SysTick
//! handler that frees them (interrupt-side frees).
//!
//! - The executor is embassy's raw `Executor` (embassy-executor 0.10 without a
//!   `platform-*` feature), run by `main` with its own pender (`__pender` sets a flag;
//!   `main` sleeps in `wfi` until it is set), so `main` counts the executor's passes
//!   (`poll` calls).
//! - `pool!(Bufs: [u32; 4], blocks = 2)`. W waiter tasks loop: `alloc_async().await`,
//!   stamp the block, hand the box to the SysTick handler through a small queue; the
//!   handler frees it on a later tick (one box a tick, two every third tick, so that a
//!   waiter that gets its block sometimes finds a second one free to hand on).
//! - Runs (each until 200 blocks are served): W = 1, 2, 6, 12 waiters (more than the
//!   old design's 4 waker slots) with a slow tick (the executor goes idle between
//!   ticks); W = 6 with a canceller task; then, with a tick period drawn at random each
//!   tick (some ticks come while the thread is still busy with the last one, so that
//!   frees land inside blockpool's poll, pass-on and drop code), W = 6, 12, and 12 with
//!   the canceller. In these racing runs the waiters yield once after each block:
//!   otherwise the first task polled finds a block freed whenever it asks, never waits
//!   and never returns to the executor (a future that is always ready: no executor
//!   budget stops it).
//!
//! Every future is polled through a waker of this firmware that records its wake-ups (in
//! thread mode or in the handler) and forwards them to the task's embassy waker. Each
//! waiting future gets a ticket at its first poll: the order in which the futures start
//! waiting. The documented order, first come first served, is checked whatever order the
//! executor polls its tasks in (embassy polls a batch of woken tasks in reverse, so
//! completions may come out of order within one pass):
//!
//! - (B) when a future completes, every future with an earlier ticket that still waits
//!   must have been served: handed a block by the waiter before it, which wakes it in
//!   thread mode (a free's wake does not serve: it wakes the first waiter, which is served
//!   only by its own next poll);
//! - (C) a future that is polled and still waits must not have been overtaken: no later
//!   ticket has completed;
//! - (D) each free wakes at most one future: one that waits (no stale waker) and that
//!   every future ahead of it has been woken (the first waiter);
//! - cancellation: a canceller task starts waiting behind at least 3 unwoken waiters and
//!   drops its future either after one block was served (still behind others) or once
//!   blockpool woke it (first in the queue: a free woke it, or a block was handed to it).
//!   The order checks go on across the hole, and a woken first waiter that is dropped
//!   must pass its turn on: right after the drop, the next waiter has been woken;
//! - every block handed out is one of the pool's two, owned by nobody at that moment, and
//!   its stamp is intact when freed; at the end of each run, with every box dropped and
//!   SysTick stopped, the pool hands out exactly its 2 blocks, then `None`;
//! - waiters sleep: with the slow tick, at most 2 executor passes per served block (+ 4)
//!   for every W, and without the canceller at most half a pass per block more than with
//!   1 waiter; in every run at most 3 polls of waiting futures per block; in the racing
//!   runs at most 3 passes per block (one is the yield), and at least 10 of their frees
//!   must land inside a poll. A waiter that polls itself again while waiting (as the old
//!   design's waiters beyond its 4 waker slots did) makes the executor spin between
//!   ticks: thousands of passes per block.
//!
//! A failed order check prints the model's last events first.
//!
//! Negative controls (`scripts/firmware.sh` requires both to fail):
//! - `--features embassy-jumper`: waiter 0 takes its blocks with a synchronous `alloc`,
//!   retried after every interrupt-side free, as if it were a waiting future: it jumps the
//!   queue, and the order checks must fail;
//! - `--features embassy-busy`: waiter 0 wakes itself whenever its future is pending (a
//!   busy-polling waiter); the order stays right, and the passes check must fail.
//!
//! Run (Cortex-M3, lm3s6965evb): `cargo run --release --bin embassy --features embassy`.

#![no_std]
#![no_main]

use core::cell::RefCell;
use core::future::{poll_fn, Future};
use core::mem::MaybeUninit;
use core::pin::{pin, Pin};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::Relaxed};
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use blockpool::{pool, Box, Uninit};
use blockpool_firmware::{check, exit, hprintln, machine_name};
use cortex_m::interrupt::{free, Mutex};
use cortex_m::peripheral::scb::VectActive;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::{entry, exception};
use embassy_executor::raw::Executor;
use embassy_executor::Spawner;

pool!(
    /// The pool the tasks wait on: two blocks, so that most waiters wait.
    Bufs: [u32; 4], blocks = 2
);
const BLOCKS: usize = 2;

/// Blocks served per run (then every waiter stops after its next block).
const SERVED_TARGET: u32 = 200;
/// The most waiter tasks of a run; the canceller is task `CANCELLER`.
const MAX_WAITERS: usize = 12;
const CANCELLER: usize = MAX_WAITERS;
const TASKS: usize = MAX_WAITERS + 1;
/// A SysTick period for the report.
struct Tick(u32);

impl core::fmt::Display for Tick {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 == JITTER {
            f.pad("random")
        } else {
            core::fmt::Display::fmt(&self.0, f)
        }
    }
}

/// A run: how many waiter tasks, whether the canceller runs too, the SysTick period in
/// core clock cycles.
struct Run {
    waiters: usize,
    canceller: bool,
    reload: u32,
}
/// A SysTick period long enough for the executor to go idle between ticks, so that
/// passes count wake-ups, not ticks.
const SLOW: u32 = 40_000;
/// The racing runs: each SysTick period drawn at random, log-uniformly from
/// `JITTER_MIN` to `JITTER_MIN << JITTER_OCTAVES` cycles (`reload: JITTER`): whatever
/// the ratio of instructions to SysTick cycles (it differs between the QEMU machines and
/// moves with `-icount shift=auto`), some ticks come while the thread is still busy with
/// the last one, and frees land inside the tasks' polls (in blockpool's queue code:
/// registering, passing on, cancelling) at varying points, while longer periods let
/// the waiters wait.
const JITTER: u32 = 0;
const JITTER_MIN: u32 = 128;
const JITTER_OCTAVES: u32 = 9;
const RUNS: [Run; 8] = [
    Run {
        waiters: 1,
        canceller: false,
        reload: SLOW,
    },
    Run {
        waiters: 2,
        canceller: false,
        reload: SLOW,
    },
    Run {
        waiters: 6,
        canceller: false,
        reload: SLOW,
    },
    Run {
        waiters: 12,
        canceller: false,
        reload: SLOW,
    },
    Run {
        waiters: 6,
        canceller: true,
        reload: SLOW,
    },
    Run {
        waiters: 6,
        canceller: false,
        reload: JITTER,
    },
    Run {
        waiters: 12,
        canceller: false,
        reload: JITTER,
    },
    Run {
        waiters: 12,
        canceller: true,
        reload: JITTER,
    },
];
/// Cancellation rounds of the canceller (even: dropped after one block was served to
/// others, or once woken; odd: dropped once blockpool woke it).
const CANCEL_ROUNDS: u32 = 12;

const MAGIC: u32 = 0xE3BA_0000;

// ----------------------------------------------------------------------------- model

/// What the firmware knows of the waiting futures: a ticket per waiting future (the
/// order in which they started waiting) and whether it was woken since its last poll.
/// Read and written inside critical sections only, by the tasks (thread mode), the
/// wakers (thread mode or the SysTick handler) and the handler.
struct Model {
    /// The ticket of each task's waiting future; 0: none.
    ticket: [u32; TASKS],
    /// Woken by blockpool since the future's last poll began (its next poll is due).
    woken: [bool; TASKS],
    /// Woken by an interrupt-side free since the future's last poll began.
    woken_by_free: [bool; TASKS],
    /// Woken in thread mode since the future's last poll began: by a waiter that handed
    /// it a block (or, rarely, by a thread-mode free or its own re-registration).
    woken_in_thread: [bool; TASKS],
    /// Each task's embassy waker, to which the firmware's waker forwards.
    inner: [Option<Waker>; TASKS],
    /// The task inside a blockpool poll or drop right now (thread mode), if any: its
    /// state in this model may lag blockpool's for that moment, so the handler's checks
    /// leave it out.
    busy: Option<usize>,
    next_ticket: u32,
    /// The highest ticket that completed.
    max_served: u32,
    served: u32,
    served_by_task: [u32; TASKS],
    /// Completions whose ticket is below `max_served`: the executor polled a batch of
    /// served futures out of ticket order (they were served in order: (B)).
    reordered: u32,
    /// Polls of waiting futures.
    polls: u32,
    /// Inside an interrupt-side free (the SysTick handler's drop), and its wakes.
    in_free: bool,
    free_wakes: u32,
    frees: u32,
    frees_waking: u32,
    /// Frees that landed while a task was inside a blockpool poll or drop.
    frees_in_poll: u32,
    /// Frees whose wake went to a waiter that had already been handed a block (its
    /// waker was still in the slot: a free between a hand-off and the next
    /// registration of `pass_on`, whose next try then takes that free's block).
    frees_woke_served: u32,
    thread_wakes: u32,
    /// The served order (task ids), for the report.
    log: [u8; 48],
    log_len: usize,
    /// The canceller's waker while it waits for a condition.
    canceller_waker: Option<Waker>,
    cancelled: [u32; 4],
    /// The last events (kind, task, ticket or number), printed when an order check fails.
    events: [(u8, u8, u32); EVENTS],
    n_events: usize,
}

const EVENTS: usize = 48;

/// `check!` on the model, which first prints the model's last events.
macro_rules! order_check {
    ($m:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $m.dump();
            check!(false, $($fmt)+);
        }
    };
}

/// Kinds of cancellation, counted in `Model::cancelled`.
const BEHIND: usize = 0;
const FIRST_WOKEN_BY_FREE: usize = 1;
const HANDED: usize = 2;
const UNCLASSIFIED: usize = 3;

impl Model {
    const fn new() -> Self {
        Self {
            ticket: [0; TASKS],
            woken: [false; TASKS],
            woken_by_free: [false; TASKS],
            woken_in_thread: [false; TASKS],
            inner: [const { None }; TASKS],
            busy: None,
            next_ticket: 1,
            max_served: 0,
            served: 0,
            served_by_task: [0; TASKS],
            reordered: 0,
            polls: 0,
            in_free: false,
            free_wakes: 0,
            frees: 0,
            frees_waking: 0,
            frees_in_poll: 0,
            frees_woke_served: 0,
            thread_wakes: 0,
            log: [0; 48],
            log_len: 0,
            canceller_waker: None,
            cancelled: [0; 4],
            events: [(0, 0, 0); EVENTS],
            n_events: 0,
        }
    }

    fn event(&mut self, kind: u8, id: usize, x: u32) {
        self.events[self.n_events % EVENTS] = (kind, id as u8, x);
        self.n_events += 1;
    }

    fn dump(&self) {
        hprintln!(
            "last events (P: poll begins, R: ready, W: still waiting, T/I: woken in thread mode / by a free, F: free of a task's box, X: cancelled, E: executor pass), task, ticket or number:"
        );
        for k in self.n_events.saturating_sub(EVENTS)..self.n_events {
            let (kind, id, x) = self.events[k % EVENTS];
            hprintln!("  {} {} {}", kind as char, id, x);
        }
    }

    /// A blockpool poll of task `id`'s future begins; `first`: its first poll.
    fn poll_begins(&mut self, id: usize, first: bool, waker: &Waker) {
        if first {
            self.ticket[id] = self.next_ticket;
            self.next_ticket += 1;
        }
        match &self.inner[id] {
            Some(w) if w.will_wake(waker) => {}
            _ => self.inner[id] = Some(waker.clone()),
        }
        self.woken[id] = false;
        self.woken_by_free[id] = false;
        self.woken_in_thread[id] = false;
        self.busy = Some(id);
        self.event(b'P', id, self.ticket[id]);
        self.polls += 1;
    }

    /// Task `id`'s future completed: check (B), log it.
    fn completed(&mut self, id: usize) {
        let t = self.ticket[id];
        self.event(b'R', id, t);
        for s in 0..TASKS {
            let ts = self.ticket[s];
            // A waiter ahead of it must have been served: handed a block by the waiter
            // before it, which wakes it in thread mode. (A free's wake does not serve: it
            // wakes the first waiter, which is served only by its own next poll.)
            order_check!(
                self,
                s == id || ts == 0 || ts > t || self.woken_in_thread[s],
                "order: task {} (ticket {}) got a block while task {} (ticket {}), which started waiting before it, was not served (woken by a free: {})",
                id,
                t,
                s,
                ts,
                self.woken_by_free[s]
            );
        }
        if t < self.max_served {
            self.reordered += 1;
        }
        self.max_served = self.max_served.max(t);
        self.ticket[id] = 0;
        self.busy = None;
        self.served += 1;
        self.served_by_task[id] += 1;
        if self.log_len < self.log.len() {
            self.log[self.log_len] = id as u8;
            self.log_len += 1;
        }
        if let Some(w) = self.canceller_waker.take() {
            w.wake();
        }
    }

    /// Task `id`'s future was polled and waits on: check (C).
    fn still_waiting(&mut self, id: usize) {
        self.event(b'W', id, self.ticket[id]);
        let t = self.ticket[id];
        order_check!(
            self,
            self.max_served < t,
            "order: task {} (ticket {}) polled and still waiting, but ticket {}, which started waiting after it, got a block",
            id,
            t,
            self.max_served
        );
        self.busy = None;
    }

    /// Blockpool woke task `id` (in the SysTick handler if `isr`): check (D); returns
    /// the embassy waker to wake.
    fn woken(&mut self, id: usize, isr: bool) -> Option<Waker> {
        self.event(if isr { b'I' } else { b'T' }, id, self.ticket[id]);
        if isr {
            check!(
                self.in_free,
                "task {} woken by an interrupt outside a free",
                id
            );
            self.free_wakes += 1;
            order_check!(
                self,
                self.free_wakes == 1,
                "one free woke {} waiters",
                self.free_wakes
            );
        } else {
            self.thread_wakes += 1;
        }
        if self.busy != Some(id) {
            let t = self.ticket[id];
            order_check!(
                self,
                t != 0,
                "wake-up of task {}, which has no waiting future (a stale waker); isr: {}",
                id,
                isr
            );
            for s in 0..TASKS {
                let ts = self.ticket[s];
                order_check!(
                    self,
                    s == id || ts == 0 || ts > t || self.woken[s] || self.busy == Some(s),
                    "order: task {} (ticket {}) woken (isr: {}) while task {} (ticket {}), ahead of it, waits without a wake",
                    id,
                    t,
                    isr,
                    s,
                    ts
                );
            }
        }
        self.woken[id] = true;
        if isr {
            self.frees_woke_served += self.woken_in_thread[id] as u32;
            self.woken_by_free[id] = true;
        } else {
            self.woken_in_thread[id] = true;
        }
        self.inner[id].clone()
    }

    /// Waiting futures that were not woken (in the queue, not served).
    fn unwoken_waiting(&self) -> usize {
        (0..TASKS)
            .filter(|&s| self.ticket[s] != 0 && !self.woken[s])
            .count()
    }
}

static MODEL: Mutex<RefCell<Model>> = Mutex::new(RefCell::new(Model::new()));

fn with_model<R>(f: impl FnOnce(&mut Model) -> R) -> R {
    free(|cs| f(&mut MODEL.borrow(cs).borrow_mut()))
}

fn in_handler() -> bool {
    SCB::vect_active() != VectActive::ThreadMode
}

// -------------------------------------------------------- the firmware's waker per task

/// The waker given to blockpool for task `id` (data: `id + 1`): records the wake-up in
/// the model, then wakes the task's embassy waker.
static VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake, waker_drop);

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

unsafe fn waker_wake(data: *const ()) {
    let id = data as usize - 1;
    let isr = in_handler();
    if let Some(w) = with_model(|m| m.woken(id, isr)) {
        w.wake();
    }
}

unsafe fn waker_drop(_: *const ()) {}

fn task_waker(id: usize) -> Waker {
    // SAFETY: the vtable's functions are safe to call from any context (they take a
    // critical section; embassy's wake is lock-free) and clone/drop own nothing.
    unsafe { Waker::from_raw(RawWaker::new((id + 1) as *const (), &VTABLE)) }
}

/// Polls task `id`'s waiting future with the firmware's waker, keeping the model.
fn tracked_poll<F: Future<Output = Box<Bufs, Uninit>>>(
    id: usize,
    fut: Pin<&mut F>,
    first: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Box<Bufs, Uninit>> {
    with_model(|m| m.poll_begins(id, *first, cx.waker()));
    *first = false;
    let waker = task_waker(id);
    let r = fut.poll(&mut Context::from_waker(&waker));
    with_model(|m| match &r {
        Poll::Ready(_) => m.completed(id),
        Poll::Pending => m.still_waiting(id),
    });
    r
}

/// `Bufs::alloc_async().await`, tracked.
async fn alloc(id: usize) -> Box<Bufs, Uninit> {
    #[cfg(feature = "embassy-jumper")]
    if id == 0 {
        return jumper_alloc(id).await;
    }
    let mut fut = pin!(Bufs::alloc_async());
    let mut first = true;
    poll_fn(|cx| {
        let r = tracked_poll(id, fut.as_mut(), &mut first, cx);
        #[cfg(feature = "embassy-busy")]
        if id == 0 && r.is_pending() {
            // The negative control: a waiter that polls itself again.
            cx.waker().wake_by_ref();
        }
        r
    })
    .await
}

/// The `embassy-jumper` control: a synchronous `alloc`, retried after every free.
#[cfg(feature = "embassy-jumper")]
async fn jumper_alloc(id: usize) -> Box<Bufs, Uninit> {
    let mut first = true;
    poll_fn(|cx| {
        free(|cs| JUMPER.borrow(cs).replace(Some(cx.waker().clone())));
        let mut fut = pin!(poll_fn(|_| match Bufs::alloc() {
            Some(b) => Poll::Ready(b),
            None => Poll::Pending,
        }));
        tracked_poll(id, fut.as_mut(), &mut first, cx)
    })
    .await
}

#[cfg(feature = "embassy-jumper")]
static JUMPER: Mutex<RefCell<Option<Waker>>> = Mutex::new(RefCell::new(None));

// ------------------------------------------------------------- blocks and their owners

static ADDR: [AtomicUsize; BLOCKS] = [const { AtomicUsize::new(0) }; BLOCKS];
/// The owner of each block (task id + 1), 0: free. Set by the task that gets the block,
/// cleared by the handler before it frees the block.
static OWNER: [AtomicU32; BLOCKS] = [const { AtomicU32::new(0) }; BLOCKS];

fn index(p: *const [u32; 4]) -> usize {
    let a = p as usize;
    match ADDR.iter().position(|x| x.load(Relaxed) == a) {
        Some(i) => i,
        None => {
            hprintln!("FAIL: block {:#x} is not one of the pool's blocks", a);
            exit(false)
        }
    }
}

/// The boxes the waiters handed to the SysTick handler, with the tick they came in.
struct Outbox {
    /// (box, tick it came in, arrival number)
    slots: [Option<(Box<Bufs>, u32, u32)>; 4],
    arrivals: u32,
}

static OUTBOX: Mutex<RefCell<Outbox>> = Mutex::new(RefCell::new(Outbox {
    slots: [const { None }; 4],
    arrivals: 0,
}));
static TICKS: AtomicU32 = AtomicU32::new(0);
/// Whether SysTick draws its next period at random (`JITTER`); the generator's state.
static JITTERED: AtomicBool = AtomicBool::new(false);
static RANDOM: AtomicU32 = AtomicU32::new(0x1234_5678);

/// Thread mode: stamps the block, claims it, queues it for the handler.
fn hand_over(id: usize, seq: u32, b: Box<Bufs, Uninit>) {
    let i = index(b.as_ptr());
    let o = OWNER[i].load(Relaxed);
    check!(
        o == 0,
        "block {} handed to task {} while task {} holds it (duplicate)",
        i,
        id,
        o as i32 - 1
    );
    OWNER[i].store(id as u32 + 1, Relaxed);
    let b = b.init([MAGIC | id as u32, seq, !seq, i as u32]);
    free(|cs| {
        let mut out = OUTBOX.borrow(cs).borrow_mut();
        let (now, arrival) = (TICKS.load(Relaxed), out.arrivals);
        out.arrivals += 1;
        let slot = out.slots.iter_mut().find(|s| s.is_none());
        check!(slot.is_some(), "outbox full");
        *slot.unwrap() = Some((b, now, arrival));
    });
}

// ------------------------------------------------------------------------------ tasks

static ACTIVE: AtomicU32 = AtomicU32::new(0);
static CANCEL_DONE: AtomicBool = AtomicBool::new(true);

fn run_over() -> bool {
    with_model(|m| m.served) >= SERVED_TARGET && CANCEL_DONE.load(Relaxed)
}

#[embassy_executor::task(pool_size = MAX_WAITERS)]
async fn waiter(id: usize) {
    let mut seq = 0;
    loop {
        let b = alloc(id).await;
        seq += 1;
        hand_over(id, seq, b);
        if run_over() {
            break;
        }
        if YIELD.load(Relaxed) {
            yield_now().await;
        }
    }
    ACTIVE.store(ACTIVE.load(Relaxed) - 1, Relaxed);
}

/// Whether waiters yield to the executor after handing a box over (the fast-tick runs:
/// otherwise the first task polled finds a block freed by the time it asks again, and
/// nobody queued, every time, and never returns to the executor).
static YIELD: AtomicBool = AtomicBool::new(false);

/// Returns `Pending` once, woken at once: the other tasks run first.
fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

/// Waits until `cond` holds; re-checked whenever a future completes or blockpool wakes
/// the canceller.
fn wait_until(cond: impl Fn(&Model) -> bool) -> impl Future<Output = ()> {
    poll_fn(move |cx| {
        with_model(|m| {
            if cond(m) {
                Poll::Ready(())
            } else {
                m.canceller_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    })
}

#[embassy_executor::task]
async fn canceller() {
    let id = CANCELLER;
    let mut seq = 0;
    for round in 0..CANCEL_ROUNDS {
        // Queue behind at least 3 waiters that wait unwoken.
        wait_until(|m| m.unwoken_waiting() >= 3).await;
        let (ticket, kind);
        {
            let mut fut = pin!(Bufs::alloc_async());
            let mut first = true;
            let got =
                poll_fn(|cx| Poll::Ready(tracked_poll(id, fut.as_mut(), &mut first, cx))).await;
            if let Poll::Ready(b) = got {
                // Nobody was waiting after all: use it like a waiter.
                seq += 1;
                hand_over(id, seq, b);
                continue;
            }
            ticket = with_model(|m| m.ticket[id]);
            if round % 2 == 0 {
                // Let the queue move on by one block, then leave it.
                let target = with_model(|m| m.served) + 1;
                wait_until(move |m| m.served >= target || m.woken[id]).await;
            } else {
                // Wait until blockpool wakes us: a free woke the first waiter, or a
                // waiter that got its block handed us the next one.
                wait_until(move |m| m.woken[id]).await;
            }
            kind = with_model(|m| {
                let kind = if m.woken_in_thread[id] {
                    HANDED
                } else if m.woken_by_free[id] {
                    FIRST_WOKEN_BY_FREE
                } else if (0..TASKS)
                    .any(|s| m.ticket[s] != 0 && m.ticket[s] < ticket && !m.woken[s])
                {
                    BEHIND
                } else {
                    UNCLASSIFIED
                };
                m.cancelled[kind] += 1;
                m.busy = Some(id);
                m.event(b'X', id, ticket);
                kind
            });
            // `fut` is dropped here, unpolled since it started waiting: cancelled.
        }
        with_model(|m| {
            m.ticket[id] = 0;
            m.woken[id] = false;
            m.woken_by_free[id] = false;
            m.woken_in_thread[id] = false;
            m.busy = None;
            // A woken waiter is (or was) the first: blockpool served it. Dropped, it must
            // have passed its turn on: the next waiter (if any) is woken, with the block
            // (pass-on) or with the free's wake (the handed block's release).
            let next = (0..TASKS)
                .filter(|&s| m.ticket[s] > ticket)
                .min_by_key(|&s| m.ticket[s]);
            if let (Some(n), FIRST_WOKEN_BY_FREE | HANDED) = (next, kind) {
                order_check!(
                    m,
                    m.woken[n],
                    "cancel: the first waiter (ticket {}) was dropped after its wake, but the next one (task {}, ticket {}) was not woken",
                    ticket,
                    n,
                    m.ticket[n]
                );
            }
        });
    }
    CANCEL_DONE.store(true, Relaxed);
    ACTIVE.store(ACTIVE.load(Relaxed) - 1, Relaxed);
}

// ------------------------------------------------------------------------ the executor

static PENDED: AtomicBool = AtomicBool::new(false);

/// embassy-executor's pender (no `platform-*` feature: the application provides it).
/// Called from any context when a task is woken: `main` polls the executor again.
#[no_mangle]
fn __pender(_context: *mut ()) {
    PENDED.store(true, Relaxed);
}

struct RunStats {
    waiters: usize,
    canceller: bool,
    reload: u32,
    frees_in_poll: u32,
    frees_woke_served: u32,
    served: u32,
    passes: u32,
    polls: u32,
    frees: u32,
    frees_waking: u32,
    thread_wakes: u32,
    ticks: u32,
    reordered: u32,
}

fn run(executor: &'static Executor, syst: &mut SYST, r: &Run) -> RunStats {
    let (waiters, with_canceller) = (r.waiters, r.canceller);
    with_model(|m| *m = Model::new());
    CANCEL_DONE.store(!with_canceller, Relaxed);
    YIELD.store(r.reload != SLOW, Relaxed);
    let spawner: Spawner = executor.spawner();
    ACTIVE.store((waiters + with_canceller as usize) as u32, Relaxed);
    for id in 0..waiters {
        spawner.spawn(waiter(id).unwrap());
    }
    if with_canceller {
        spawner.spawn(canceller().unwrap());
    }
    let ticks0 = TICKS.load(Relaxed);
    JITTERED.store(r.reload == JITTER, Relaxed);
    syst.set_reload(if r.reload == JITTER {
        JITTER_MIN << (JITTER_OCTAVES / 2)
    } else {
        r.reload
    });
    syst.clear_current();
    syst.enable_counter();

    let mut passes = 0u32;
    loop {
        // Sleep until the pender was called. `wfi` with interrupts masked still wakes on
        // a pending interrupt, which runs once they are unmasked.
        while !free(|_| {
            let pended = PENDED.swap(false, Relaxed);
            if !pended {
                cortex_m::asm::wfi();
            }
            pended
        }) {}
        passes += 1;
        with_model(|m| m.event(b'E', 0, passes));
        // SAFETY: `main` is the only caller, never re-entrant (the pender only sets a
        // flag).
        unsafe { executor.poll() };
        if ACTIVE.load(Relaxed) == 0 {
            break;
        }
    }
    // The handler frees what it still holds, then stops.
    while free(|cs| OUTBOX.borrow(cs).borrow().slots.iter().any(Option::is_some)) {
        cortex_m::asm::wfi();
    }
    syst.disable_counter();
    let ticks = TICKS.load(Relaxed) - ticks0;
    // A task woken during its last poll is still in the run queue, and its storage
    // cannot be spawned again until the executor has polled it: poll until idle.
    while PENDED.swap(false, Relaxed) {
        passes += 1;
        // SAFETY: as above.
        unsafe { executor.poll() };
    }

    // Every block is back: exactly 2, distinct, known, free; then none.
    let a = Bufs::alloc();
    let b = Bufs::alloc();
    check!(
        a.is_some() && b.is_some(),
        "W = {}: a block was lost",
        waiters
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let (ia, ib) = (index(a.as_ptr()), index(b.as_ptr()));
    check!(
        ia != ib,
        "W = {}: block {} handed out twice at the end",
        waiters,
        ia
    );
    check!(
        OWNER.iter().all(|o| o.load(Relaxed) == 0),
        "W = {}: a block is still owned",
        waiters
    );
    check!(
        Bufs::alloc().is_none(),
        "W = {}: a third block (one was in the free list twice)",
        waiters
    );
    drop((a, b));

    with_model(|m| {
        check!(
            m.ticket.iter().all(|&t| t == 0),
            "W = {}: a future still waits",
            waiters
        );
        RunStats {
            waiters,
            canceller: with_canceller,
            reload: r.reload,
            frees_in_poll: m.frees_in_poll,
            frees_woke_served: m.frees_woke_served,
            served: m.served,
            passes,
            polls: m.polls,
            frees: m.frees,
            frees_waking: m.frees_waking,
            thread_wakes: m.thread_wakes,
            ticks,
            reordered: m.reordered,
        }
    })
}

#[entry]
fn main() -> ! {
    static mut EXECUTOR: MaybeUninit<Executor> = MaybeUninit::uninit();
    hprintln!(
        "embassy: {} | embassy-executor 0.10 raw executor, thread mode",
        machine_name()
    );

    // The pool's two blocks.
    {
        let a = Bufs::alloc().unwrap();
        let b = Bufs::alloc().unwrap();
        check!(Bufs::alloc().is_none(), "more than {} blocks", BLOCKS);
        ADDR[0].store(a.as_ptr() as usize, Relaxed);
        ADDR[1].store(b.as_ptr() as usize, Relaxed);
    }

    let executor: &'static Executor = EXECUTOR.write(Executor::new(core::ptr::null_mut()));
    let mut cp = cortex_m::Peripherals::take().unwrap();
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();

    let mut stats: [Option<RunStats>; RUNS.len()] = [const { None }; RUNS.len()];
    for (k, r) in RUNS.iter().enumerate() {
        let s = run(executor, &mut cp.SYST, r);
        let (order, len, cancelled, by_task) =
            with_model(|m| (m.log, m.log_len, m.cancelled, m.served_by_task));
        if r.canceller {
            hprintln!(
                "W = {} + canceller, tick {}: cancelled {} behind others, {} as first waiter woken by a free, {} as first waiter handed a block, {} unclassified",
                r.waiters,
                Tick(r.reload),
                cancelled[BEHIND],
                cancelled[FIRST_WOKEN_BY_FREE],
                cancelled[HANDED],
                cancelled[UNCLASSIFIED]
            );
            check!(
                cancelled[BEHIND] >= 3,
                "fewer than 3 cancellations behind other waiters"
            );
            check!(
                cancelled[FIRST_WOKEN_BY_FREE] + cancelled[HANDED] >= 3,
                "fewer than 3 cancellations of a first waiter that was woken"
            );
        }
        if r.waiters == 6 || r.reload != SLOW {
            hprintln!(
                "W = {}{}, tick {}: served per task {:?}; first {} served (task ids): {:?}",
                r.waiters,
                if r.canceller { " + canceller" } else { "" },
                Tick(r.reload),
                &by_task[..r.waiters],
                len,
                &order[..len]
            );
        }
        stats[k] = Some(s);
    }

    hprintln!("waiters   tick  ticks  served  passes  passes/served  polls  frees  frees-that-woke  woke-a-served-one  frees-in-a-poll  thread-wakes  reordered-in-a-pass");
    for s in stats.iter().flatten() {
        hprintln!(
            "{:>7}{} {:>6}  {:>5}  {:>6}  {:>6}  {:>10}.{:02}  {:>5}  {:>5}  {:>15}  {:>17}  {:>15}  {:>12}  {:>19}",
            s.waiters,
            if s.canceller { "+c" } else { "  " },
            Tick(s.reload),
            s.ticks,
            s.served,
            s.passes,
            s.passes / s.served,
            s.passes * 100 / s.served % 100,
            s.polls,
            s.frees,
            s.frees_waking,
            s.frees_woke_served,
            s.frees_in_poll,
            s.thread_wakes,
            s.reordered
        );
    }
    // Waiters sleep. With the slow tick, at most 2 passes per served block (+ the first
    // pass), whatever W, and without the canceller more waiters cost at most half a pass
    // per block more than 1 waiter (which gets every other block at once, without
    // waiting). With the fast ticks the waiters also yield once per block: at most 3.
    // A waiter is polled when it starts waiting and when it is served: at most 3 polls
    // per block (the slack: a wake that lands during a poll, the canceller's polls).
    let base = stats[0].as_ref().unwrap();
    let mut in_poll = 0;
    for s in stats.iter().flatten() {
        let per_block = if s.reload == SLOW { 2 } else { 3 };
        check!(
            s.passes <= per_block * s.served + 4,
            "passes grow: {} passes for {} blocks with {} waiters (tick {})",
            s.passes,
            s.served,
            s.waiters,
            Tick(s.reload)
        );
        check!(
            s.canceller
                || s.reload != SLOW
                || 2 * s.passes * base.served
                    <= 2 * base.passes * s.served + s.served * base.served,
            "passes grow with waiters: {} passes for {} blocks with {} waiters, {} for {} with {}",
            s.passes,
            s.served,
            s.waiters,
            base.passes,
            base.served,
            base.waiters
        );
        check!(
            s.polls <= 3 * s.served,
            "waiters poll: {} polls of waiting futures for {} blocks with {} waiters",
            s.polls,
            s.served,
            s.waiters
        );
        if s.reload != SLOW {
            in_poll += s.frees_in_poll;
        }
    }
    // The fast ticks must have made interrupt-side frees race with the queue code.
    check!(
        in_poll >= 10,
        "only {} frees landed inside a poll with the fast ticks",
        in_poll
    );
    hprintln!("PASS embassy: FIFO order, one wake per free, cancellations, no block lost; passes do not grow with waiters");
    exit(true)
}

#[exception]
fn SysTick() {
    let now = TICKS.load(Relaxed) + 1;
    TICKS.store(now, Relaxed);
    if JITTERED.load(Relaxed) {
        // xorshift32; the new reload value takes effect at the next wrap.
        let mut x = RANDOM.load(Relaxed);
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        RANDOM.store(x, Relaxed);
        let low = JITTER_MIN << (x % JITTER_OCTAVES);
        // SAFETY: only this handler writes the reload register while SysTick runs.
        unsafe { (*SYST::PTR).rvr.write(low + (x >> 8) % low) };
    }
    // One box a tick, two every third tick; only boxes from an earlier tick.
    let n = if now.is_multiple_of(3) { 2 } else { 1 };
    for _ in 0..n {
        let b = free(|cs| {
            let mut out = OUTBOX.borrow(cs).borrow_mut();
            let oldest = out
                .slots
                .iter()
                .enumerate()
                .filter_map(|(k, s)| s.as_ref().map(|&(_, t, a)| (k, t, a)))
                .filter(|&(_, t, _)| t < now)
                .min_by_key(|&(_, _, a)| a)
                .map(|(k, _, _)| k);
            oldest.and_then(|k| out.slots[k].take())
        });
        let Some((b, _, _)) = b else { break };
        let i = index(&*b);
        let id = (b[0] & 0xFFFF) as usize;
        check!(
            b[0] & 0xFFFF_0000 == MAGIC && b[2] == !b[1] && b[3] == i as u32,
            "block {} has a foreign stamp {:x?}",
            i,
            *b
        );
        check!(
            OWNER[i].load(Relaxed) == id as u32 + 1,
            "block {} freed, but its owner is not task {}",
            i,
            id
        );
        OWNER[i].store(0, Relaxed);
        with_model(|m| {
            m.event(b'F', id, 0);
            m.in_free = true;
            m.free_wakes = 0;
            m.frees_in_poll += m.busy.is_some() as u32;
        });
        drop(b); // the interrupt-side free: wakes the first waiter
        with_model(|m| {
            m.in_free = false;
            m.frees += 1;
            m.frees_waking += m.free_wakes;
        });
    }
    #[cfg(feature = "embassy-jumper")]
    if let Some(w) = free(|cs| JUMPER.borrow(cs).borrow_mut().take()) {
        w.wake();
    }
}
