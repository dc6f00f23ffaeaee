//! `--noise`: how steady this machine is, for the statistics' sake (bench/README.md, "How
//! the statistics work", point 3). Times a bare compare-and-swap loop and an arithmetic
//! loop in alternating slices of about 25 ms, for about 5 s, and prints each one's
//! slices and spread. On a steady machine both stay within a few percent; where atomics
//! slow down in phases, the CAS loop's slices fall into groups while the arithmetic
//! loop's do not.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SLICE: Duration = Duration::from_millis(25);
const SLICES: usize = 100;

/// ns per compare-and-swap over `iters` of them (uncontended, one cache line).
#[inline(never)]
fn cas(word: &AtomicU64, iters: u64) -> f64 {
    let start = Instant::now();
    for i in 0..iters {
        let current = word.load(Ordering::Relaxed);
        let _ = word.compare_exchange(
            current,
            current.wrapping_add(i),
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// ns per step of a dependent multiply-add chain over `iters` steps.
#[inline(never)]
fn alu(iters: u64) -> f64 {
    let start = Instant::now();
    let mut x = black_box(1u64);
    for i in 0..iters {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i);
    }
    black_box(x);
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// Iterations of `f` that take about one slice.
fn calibrate(f: &mut dyn FnMut(u64) -> f64) -> u64 {
    let mut iters = 1_000;
    loop {
        let ns = f(iters);
        if ns * iters as f64 >= SLICE.as_nanos() as f64 / 8.0 || iters >= 1 << 40 {
            return ((SLICE.as_nanos() as f64 / ns.max(1e-3)) as u64).max(1);
        }
        iters *= 4;
    }
}

fn print(name: &str, slices: &[f64]) {
    let mut sorted = slices.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    println!(
        "{name}: ns/op min {:.3}, p10 {:.3}, median {:.3}, p90 {:.3}, max {:.3}; p90/p10 = {:.2}",
        at(0.0),
        at(0.1),
        at(0.5),
        at(0.9),
        at(1.0),
        at(0.9) / at(0.1)
    );
    for row in slices.chunks(20) {
        let row: Vec<String> = row.iter().map(|ns| format!("{ns:.3}")).collect();
        println!("  {}", row.join(" "));
    }
}

pub fn run() {
    let word = AtomicU64::new(0);
    let cas_iters = calibrate(&mut |n| cas(&word, n));
    let alu_iters = calibrate(&mut alu);
    println!(
        "{SLICES} slices of ~{} ms each, alternating, in order (a CAS loop, then an arithmetic loop):\n",
        SLICE.as_millis()
    );
    let (mut c, mut a) = (Vec::new(), Vec::new());
    for _ in 0..SLICES {
        c.push(cas(&word, cas_iters));
        a.push(alu(alu_iters));
    }
    print("compare-and-swap", &c);
    println!();
    print("arithmetic", &a);
}
