//! blockpool against its peers: W1-W5 at 64-byte and 4 KiB blocks, in one run, with a
//! table on the terminal, a CSV and an SVG chart. See bench/README.md.
//!
//! ```text
//! cargo run --release -p blockpool-bench              # full run (~2-3 minutes)
//! cargo run --release -p blockpool-bench -- --quick   # seconds: checks that it all runs
//! ```

mod chart;
mod heap;
// atomic-pool's `pool!` expands to a hand-written div_ceil.
#[allow(clippy::manual_div_ceil)]
mod contenders;
mod noise;
mod report;
// Shared with `benches/free_list.rs`, where the published crate carries it.
#[path = "../../benches/common/treiber.rs"]
mod treiber;
mod workloads;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use contenders::*;
use workloads::{Sample, Workload};

/// Type-erased contender.
pub trait Runner: Send + Sync {
    fn run(&self, w: Workload, iters: u64) -> Result<Sample, String>;
}

struct R<C: Contender>(C);
impl<C: Contender> Runner for R<C> {
    fn run(&self, w: Workload, iters: u64) -> Result<Sample, String> {
        workloads::run(&self.0, w, iters)
    }
}

/// One contender at one block size.
pub struct Entry {
    pub name: &'static str,
    pub kind: Kind,
    pub size: usize,
    /// `Err` when the contender could not be set up.
    pub runner: Result<Arc<dyn Runner>, String>,
}

fn entry<C: Contender>(
    name: &'static str,
    kind: Kind,
    size: usize,
    make: impl FnOnce() -> Result<C, String>,
) -> Entry {
    Entry {
        name,
        kind,
        size,
        runner: make().map(|c| Arc::new(R(c)) as Arc<dyn Runner>),
    }
}

/// Contenders in display order.
pub const NAMES: [&str; 14] = [
    "blockpool",
    "blockpool Pool instance",
    "blockpool thread cache",
    "blockpool LocalCache",
    "treiber (no ABA, ref)",
    "heapless 0.9 pool",
    "heapless 0.7 pool",
    "atomic-pool",
    "lockfree-object-pool",
    "sharded-slab",
    "ArrayQueue free list",
    "system malloc",
    "mimalloc",
    "no pool (W4 floor)",
];

fn entries() -> Vec<Entry> {
    let mut v = Vec::new();
    macro_rules! sized {
        ($size:expr, $w:expr, $bp:ty, $cached:ty, $h09:ty, $ap:ty, $lf:ty) => {
            v.push(entry(NAMES[0], Kind::Subject, $size, <$bp>::new));
            v.push(entry(NAMES[2], Kind::Cached, $size, <$cached>::new));
            v.push(entry(
                NAMES[3],
                Kind::Local,
                $size,
                BlockpoolLocal::<$w>::new,
            ));
            v.push(entry(
                NAMES[1],
                Kind::SubjectVariant,
                $size,
                BlockpoolInstance::<$w>::new,
            ));
            v.push(entry(
                NAMES[4],
                Kind::Reference,
                $size,
                TreiberRef::<$w>::new,
            ));
            v.push(entry(NAMES[5], Kind::PoolPeer, $size, <$h09>::new));
            v.push(entry(
                NAMES[6],
                Kind::PoolPeer,
                $size,
                Heapless07::<$w>::new,
            ));
            v.push(entry(NAMES[7], Kind::PoolPeer, $size, <$ap>::new));
            v.push(entry(
                NAMES[8],
                Kind::PoolPeer,
                $size,
                LockfreeObjectPool::<$lf>::new,
            ));
            v.push(entry(
                NAMES[9],
                Kind::PoolPeer,
                $size,
                ShardedSlab::<$w>::new,
            ));
            v.push(entry(
                NAMES[10],
                Kind::PoolPeer,
                $size,
                ArrayQueueList::<$w>::new,
            ));
            v.push(entry(NAMES[11], Kind::Allocator, $size, || {
                Ok(Alloc::<std::alloc::System, $w>(std::alloc::System))
            }));
            v.push(entry(NAMES[12], Kind::Allocator, $size, || {
                Ok(Alloc::<mimalloc::MiMalloc, $w>(mimalloc::MiMalloc))
            }));
            v.push(entry(NAMES[13], Kind::Floor, $size, NoPool::<$w>::new));
        };
    }
    sized!(
        64,
        8,
        Blockpool64,
        BlockpoolCached64,
        Heapless09_64,
        AtomicPool64,
        [u64; 8]
    );
    sized!(
        4096,
        512,
        Blockpool4k,
        BlockpoolCached4k,
        Heapless09_4k,
        AtomicPool4k,
        Box<[u64; 512]>
    );
    v
}

/// One (contender, size, workload): its calibrated iteration count and its samples.
pub struct Cell {
    pub entry: usize,
    pub workload: Workload,
    pub iters: u64,
    pub samples: Vec<Sample>,
    /// Per sample: still judged disturbed after the re-runs.
    pub disturbed: Vec<bool>,
    pub reruns: usize,
    pub error: Option<String>,
}

pub struct Config {
    pub quick: bool,
    pub reps: usize,
    pub target_st: Duration,
    pub target_mt: Duration,
    /// A repetition slower than the cell's reference (see `judge`) by more than this is
    /// disturbed.
    pub tol_st: f64,
    pub tol_mt: f64,
    /// A repetition in which a measuring thread got less CPU than this share of the wall
    /// time was descheduled: disturbed.
    pub min_cpu_ratio: f64,
    /// A two-thread repetition in which the threads ran together for less than this share
    /// of its time did not measure contention: disturbed.
    pub min_overlap: f64,
    /// The load average when the run started.
    pub load_at_start: String,
    pub rerun_passes: usize,
    pub rerun_budget: Duration,
    pub out: PathBuf,
    pub check_targets: bool,
    pub seed: u64,
    /// Only cells whose "contender size workload" contains this (for investigations).
    pub filter: Option<String>,
}

/// xorshift64*, for shuffling the order of contenders each round.
pub struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: blockpool-bench [--quick] [--reps N] [--out DIR] [--seed N] [--check-targets]\n\
         \n  --quick          a few seconds: checks every contender runs and is correct\n  \
         --reps N         repetitions per contender and workload (default 15; quick 3)\n  \
         --out DIR        where results.csv, samples.csv and chart.svg go\n                   \
         (default bench/results, quick: bench/results/quick)\n  \
         --seed N         seed of the per-round shuffle (default: from the clock)\n  \
         --check-targets  exit 2 if blockpool misses a W1/W2 target\n  \
         --filter TEXT    only cells whose \"contender size workload\" contains TEXT,\n                   \
         e.g. \"blockpool 64 W1\" (an investigation aid; targets need all)\n  \
         --noise          only time a CAS loop and an arithmetic loop in 25 ms slices\n                   \
         for ~5 s: how steady this machine's atomics are"
    );
    std::process::exit(64)
}

fn parse_args() -> Config {
    let mut quick = false;
    let mut reps = None;
    let mut out = None;
    let mut seed = None;
    let mut check_targets = false;
    let mut filter = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--reps" => {
                reps = Some(
                    args.next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--out" => out = Some(PathBuf::from(args.next().unwrap_or_else(|| usage()))),
            "--seed" => {
                seed = Some(
                    args.next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--check-targets" => check_targets = true,
            "--filter" => filter = Some(args.next().unwrap_or_else(|| usage())),
            "--noise" => {
                noise::run();
                std::process::exit(0)
            }
            // `cargo bench` passes this to harness-less benches.
            "--bench" => {}
            _ => usage(),
        }
    }
    let results = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results");
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1
    });
    if quick {
        Config {
            quick,
            reps: reps.unwrap_or(3).max(1),
            target_st: Duration::from_millis(2),
            target_mt: Duration::from_millis(4),
            tol_st: 0.25,
            tol_mt: 0.5,
            min_cpu_ratio: 0.8,
            min_overlap: 0.8,
            load_at_start: report::loadavg(),
            rerun_passes: 1,
            rerun_budget: Duration::from_secs(3),
            out: out.unwrap_or(results.join("quick")),
            check_targets,
            seed,
            filter: filter.clone(),
        }
    } else {
        Config {
            quick,
            reps: reps.unwrap_or(15).max(3),
            target_st: Duration::from_millis(25),
            target_mt: Duration::from_millis(50),
            tol_st: 0.10,
            tol_mt: 0.25,
            min_cpu_ratio: 0.9,
            min_overlap: 0.9,
            load_at_start: report::loadavg(),
            rerun_passes: 3,
            rerun_budget: Duration::from_secs(45),
            out: out.unwrap_or(results),
            check_targets,
            seed,
            filter: filter.clone(),
        }
    }
}

/// Which samples of `cell` are disturbed: descheduled, threads that did not overlap, or
/// slower than the cell's reference by more than the tolerance.
///
/// The reference of a one-thread cell is its 20th percentile (its fast end), not its
/// median: other load only ever slows a repetition down, and on the shared machines this
/// report runs on it comes in phases (a tenth of a second to seconds) in which atomic
/// operations get slower while plain arithmetic does not (`--noise` shows it). A phase
/// can cover half of a cell's repetitions, and then a median-relative check takes it for
/// normal. Two threads vary by themselves with how the threads interleave, so their
/// reference stays the median.
fn judge(cfg: &Config, cell: &Cell) -> Vec<bool> {
    let mut ns: Vec<f64> = cell.samples.iter().map(|s| s.ns_per_unit).collect();
    ns.sort_by(|a, b| a.total_cmp(b));
    let (reference, tol) = if cell.workload.threads() > 1 {
        (report::percentile(&ns, 0.5), cfg.tol_mt)
    } else {
        (report::percentile(&ns, 0.2), cfg.tol_st)
    };
    cell.samples
        .iter()
        .map(|s| {
            s.ns_per_unit > reference * (1.0 + tol)
                || s.cpu_ratio < cfg.min_cpu_ratio
                || s.overlap < cfg.min_overlap
        })
        .collect()
}

fn main() {
    let cfg = parse_args();
    let started = Instant::now();
    let mut rng = Rng(cfg.seed);
    report::print_header(&cfg);

    let entries = entries();
    let mut cells: Vec<Cell> = Vec::new();
    for (e, entry) in entries.iter().enumerate() {
        for w in workloads::ALL {
            // A `LocalCache` belongs to one context: single-thread workloads only.
            if entry.kind == Kind::Local && w.threads() > 1 {
                continue;
            }
            // No pool: valid on W4 only (`NoPool`).
            if entry.kind == Kind::Floor && w != Workload::W4 {
                continue;
            }
            let label = format!("{} {} {}", entry.name, entry.size, w.name());
            if cfg
                .filter
                .as_ref()
                .is_some_and(|f| !label.contains(f.as_str()))
            {
                continue;
            }
            cells.push(Cell {
                entry: e,
                workload: w,
                iters: 0,
                samples: Vec::new(),
                disturbed: Vec::new(),
                reruns: 0,
                error: entry
                    .runner
                    .as_ref()
                    .err()
                    .map(|e| format!("setup failed: {e}")),
            });
        }
    }

    // 1. Warm-up and calibration: grow each cell's iteration count until one repetition
    //    takes about the target time.
    let mut order: Vec<usize> = (0..cells.len()).collect();
    rng.shuffle(&mut order);
    for &c in &order {
        let cell = &mut cells[c];
        let Ok(runner) = &entries[cell.entry].runner else {
            continue;
        };
        let w = cell.workload;
        let target = if w.threads() > 1 {
            cfg.target_mt
        } else {
            cfg.target_st
        };
        let mut iters = w.start_iters();
        loop {
            match runner.run(w, iters) {
                Err(e) => {
                    cell.error = Some(e);
                    break;
                }
                Ok(s) => {
                    if s.elapsed >= target / 8 || iters >= 1 << 40 {
                        let scale = target.as_secs_f64() / s.elapsed.as_secs_f64().max(1e-9);
                        cell.iters = ((iters as f64 * scale) as u64).max(1);
                        break;
                    }
                    iters *= 4;
                }
            }
        }
    }
    eprintln!(
        "warm-up and calibration: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 2. Repetitions: round-robin over every cell, in a new random order each round, so
    //    that drift of the machine hits all contenders alike.
    for round in 0..cfg.reps {
        rng.shuffle(&mut order);
        for &c in &order {
            let cell = &mut cells[c];
            if cell.error.is_some() {
                continue;
            }
            let runner = entries[cell.entry].runner.as_ref().unwrap();
            match runner.run(cell.workload, cell.iters) {
                Ok(s) => cell.samples.push(s),
                Err(e) => cell.error = Some(e),
            }
        }
        eprint!(
            "\rround {}/{}  ({:.0} s)",
            round + 1,
            cfg.reps,
            started.elapsed().as_secs_f64()
        );
    }
    eprintln!();

    // 3. Disturbed repetitions are run again (interleaved, shuffled); what is still
    //    disturbed after the last pass stays marked and is left out of the statistics.
    let rerun_start = Instant::now();
    for pass in 0..cfg.rerun_passes {
        let mut todo: Vec<(usize, usize)> = Vec::new();
        for (c, cell) in cells.iter_mut().enumerate() {
            if cell.error.is_some() {
                continue;
            }
            cell.disturbed = judge(&cfg, cell);
            todo.extend(
                cell.disturbed
                    .iter()
                    .enumerate()
                    .filter(|d| *d.1)
                    .map(|(i, _)| (c, i)),
            );
        }
        if todo.is_empty() || rerun_start.elapsed() > cfg.rerun_budget {
            break;
        }
        eprintln!(
            "re-run pass {}: {} disturbed repetitions",
            pass + 1,
            todo.len()
        );
        rng.shuffle(&mut todo);
        for (c, i) in todo {
            if rerun_start.elapsed() > cfg.rerun_budget {
                break;
            }
            let cell = &mut cells[c];
            if cell.error.is_some() {
                continue;
            }
            let runner = entries[cell.entry].runner.as_ref().unwrap();
            match runner.run(cell.workload, cell.iters) {
                Ok(s) => {
                    cell.samples[i] = s;
                    cell.reruns += 1;
                }
                Err(e) => cell.error = Some(e),
            }
        }
    }
    for cell in cells.iter_mut() {
        if cell.error.is_none() {
            cell.disturbed = judge(&cfg, cell);
        }
    }

    let elapsed = started.elapsed();
    let summary = report::summarise(&entries, &cells);
    report::print_tables(&cfg, &summary);
    heap::report(cfg.quick);
    let misses = report::print_targets(&summary);
    let failures: Vec<String> = cells
        .iter()
        .filter_map(|c| {
            c.error.as_ref().map(|e| {
                let en = &entries[c.entry];
                format!("{} {} B {}: {e}", en.name, en.size, c.workload.name())
            })
        })
        .collect();

    if let Err(e) = std::fs::create_dir_all(&cfg.out)
        .and_then(|_| report::write_csv(&cfg, &entries, &cells, &summary))
    {
        eprintln!(
            "error: writing the CSV files under {}: {e}",
            cfg.out.display()
        );
        std::process::exit(1);
    }
    if let Err(e) = chart::draw(&cfg, &summary) {
        eprintln!("error: drawing the chart: {e}");
        std::process::exit(1);
    }
    println!(
        "\nwrote {0}/results.csv, {0}/samples.csv and {0}/chart.svg",
        cfg.out.display()
    );
    println!(
        "total time {:.1} s (seed {}), load average now: {}",
        elapsed.as_secs_f64(),
        cfg.seed,
        report::loadavg()
    );

    if !failures.is_empty() {
        println!("\nFAILED correctness checks:");
        for f in &failures {
            println!("  {f}");
        }
        std::process::exit(1);
    }
    if cfg.check_targets && misses > 0 {
        std::process::exit(2);
    }
}
