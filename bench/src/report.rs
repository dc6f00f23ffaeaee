//! The statistics of each cell, the terminal tables, the target check and the CSV files.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::contenders::Kind;
use crate::workloads::{self, Workload};
use crate::{Cell, Config, Entry, NAMES};

pub const SIZES: [usize; 2] = [64, 4096];

/// The statistics of one (contender, size, workload), in ns per unit.
pub struct Stat {
    pub name: &'static str,
    pub kind: Kind,
    pub size: usize,
    pub workload: Workload,
    pub median: f64,
    pub p25: f64,
    pub p75: f64,
    pub min: f64,
    pub max: f64,
    /// Repetitions the statistics are taken over.
    pub used: usize,
    /// Repetitions still disturbed after the re-runs (left out unless too few remained).
    pub disturbed: usize,
    pub reruns: usize,
    /// Fewer than half the repetitions were clean: statistics over all of them, marked.
    pub noisy: bool,
    /// Median over the best (lowest) median among the pool peers.
    pub ratio_peer: f64,
    /// Median over the Treiber reference's median.
    pub ratio_treiber: f64,
    pub error: Option<String>,
}

pub struct Summary {
    pub stats: Vec<Stat>,
}

impl Summary {
    pub fn group(&self, w: Workload, size: usize) -> impl Iterator<Item = &Stat> {
        self.stats
            .iter()
            .filter(move |s| s.workload == w && s.size == size)
    }
    pub fn get(&self, w: Workload, size: usize, name: &str) -> Option<&Stat> {
        self.group(w, size).find(|s| s.name == name)
    }
}

/// The `p` quantile of `sorted` (ascending), interpolated between neighbours.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let x = p * (sorted.len() - 1) as f64;
    let (i, f) = (x.floor() as usize, x.fract());
    if i + 1 < sorted.len() {
        sorted[i] * (1.0 - f) + sorted[i + 1] * f
    } else {
        sorted[i]
    }
}

pub fn summarise(entries: &[Entry], cells: &[Cell]) -> Summary {
    let mut stats = Vec::new();
    for &size in &SIZES {
        for w in workloads::ALL {
            for name in NAMES {
                let Some(cell) = cells.iter().find(|c| {
                    let e = &entries[c.entry];
                    e.name == name && e.size == size && c.workload == w
                }) else {
                    continue;
                };
                let e = &entries[cell.entry];
                let clean: Vec<f64> = cell
                    .samples
                    .iter()
                    .zip(&cell.disturbed)
                    .filter(|(_, d)| !**d)
                    .map(|(s, _)| s.ns_per_unit)
                    .collect();
                let disturbed = cell.samples.len() - clean.len();
                let noisy = clean.len() * 2 < cell.samples.len() || clean.is_empty();
                let mut v = if noisy {
                    // Most repetitions were disturbed: take the half in which the
                    // measuring threads got the most CPU, and ran together the longest
                    // (the least disturbed ones).
                    let quality = |s: &&crate::workloads::Sample| s.cpu_ratio.min(s.overlap);
                    let mut by_cpu: Vec<_> = cell.samples.iter().collect();
                    by_cpu.sort_by(|a, b| quality(b).total_cmp(&quality(a)));
                    let keep = cell.samples.len().div_ceil(2).max(clean.len()).max(1);
                    by_cpu.iter().take(keep).map(|s| s.ns_per_unit).collect()
                } else {
                    clean
                };
                v.sort_by(|a, b| a.total_cmp(b));
                stats.push(Stat {
                    name,
                    kind: e.kind,
                    size,
                    workload: w,
                    median: percentile(&v, 0.5),
                    p25: percentile(&v, 0.25),
                    p75: percentile(&v, 0.75),
                    min: v.first().copied().unwrap_or(f64::NAN),
                    max: v.last().copied().unwrap_or(f64::NAN),
                    used: v.len(),
                    disturbed,
                    reruns: cell.reruns,
                    noisy,
                    ratio_peer: f64::NAN,
                    ratio_treiber: f64::NAN,
                    error: cell.error.clone(),
                });
            }
        }
    }
    // Ratios within each (workload, size).
    for &size in &SIZES {
        for w in workloads::ALL {
            let ok = |s: &&Stat| s.workload == w && s.size == size && s.error.is_none();
            let best_peer = stats
                .iter()
                .filter(ok)
                .filter(|s| s.kind == Kind::PoolPeer)
                .map(|s| s.median)
                .fold(f64::INFINITY, f64::min);
            let treiber = stats
                .iter()
                .filter(ok)
                .find(|s| s.kind == Kind::Reference)
                .map_or(f64::NAN, |s| s.median);
            for s in stats
                .iter_mut()
                .filter(|s| s.workload == w && s.size == size)
            {
                if s.error.is_none() {
                    s.ratio_peer = s.median / best_peer;
                    s.ratio_treiber = s.median / treiber;
                }
            }
        }
    }
    Summary { stats }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn loadavg() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn utc_now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: `tm` is plain data; gmtime_r fills it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers.
    unsafe { libc::gmtime_r(&t, &mut tm) };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

pub fn machine() -> Vec<(String, String)> {
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let governor = read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
    let mut m = vec![
        ("date".into(), utc_now()),
        ("cpu".into(), format!("{model} ({cpus} cpus usable)")),
        (
            "kernel".into(),
            read("/proc/sys/kernel/osrelease").trim().to_string(),
        ),
    ];
    if !governor.is_empty() {
        m.push(("cpufreq governor".into(), governor.trim().to_string()));
    }
    m.extend([
        ("rustc -vV".into(), env!("BENCH_RUSTC_VV").to_string()),
        ("target".into(), env!("BENCH_TARGET").to_string()),
        (
            "profile".into(),
            format!(
                "{} (opt-level {}, debug {})",
                env!("BENCH_PROFILE"),
                env!("BENCH_OPT_LEVEL"),
                env!("BENCH_DEBUG")
            ),
        ),
        ("RUSTFLAGS".into(), {
            let f = env!("BENCH_RUSTFLAGS");
            if f.is_empty() {
                "(none)".to_string()
            } else {
                f.to_string()
            }
        }),
        ("crates".into(), env!("BENCH_VERSIONS").to_string()),
        ("blockpool backend".into(), blockpool::BACKEND.to_string()),
        (
            "portable-atomic AtomicU128 (heapless 0.9)".into(),
            format!(
                "is_lock_free() = {}, is_always_lock_free() = {}",
                portable_atomic::AtomicU128::is_lock_free(),
                portable_atomic::AtomicU128::is_always_lock_free()
            ),
        ),
    ]);
    m
}

pub fn print_header(cfg: &Config) {
    println!(
        "blockpool-bench: blockpool against its peers{}",
        if cfg.quick {
            " (--quick: checks only, timings meaningless)"
        } else {
            ""
        }
    );
    println!();
    for (k, v) in machine() {
        println!("  {k:<42} {v}");
    }
    println!("  {:<42} {}", "load average at start", cfg.load_at_start);
    println!(
        "  {:<42} {} blocks per bounded pool; payload written in place (one word), read back before free",
        "setup",
        crate::contenders::BLOCKS
    );
    println!(
        "  {:<42} {} repetitions of ~{} ms (1 thread) / ~{} ms (2 threads) per cell, round-robin in shuffled order; \
         disturbed = >{:.0}% / >{:.0}% over the cell's median, a thread with <{:.0}% CPU, or 2 threads together <{:.0}% of the time; re-run up to {}x",
        "statistics",
        cfg.reps,
        cfg.target_st.as_millis(),
        cfg.target_mt.as_millis(),
        cfg.tol_st * 100.0,
        cfg.tol_mt * 100.0,
        cfg.min_cpu_ratio * 100.0,
        cfg.min_overlap * 100.0,
        cfg.rerun_passes
    );
    let load: f64 = cfg
        .load_at_start
        .split_whitespace()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0.0);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if load > 0.5 * cpus {
        println!(
            "\n  WARNING: load average {load:.2} on {cpus} cpus: other work is running, and the numbers \
             will be disturbed (see the reps column). Rerun on a quiet machine for numbers to quote."
        );
    }
    println!();
    let _ = std::io::stdout().flush();
}

fn kind_tag(k: Kind) -> &'static str {
    match k {
        Kind::Subject => "",
        Kind::SubjectVariant => "",
        Kind::Cached => "",
        Kind::Local => "",
        Kind::PoolPeer => "",
        Kind::Allocator => " [alloc]",
        Kind::Reference => "",
        Kind::Floor => "",
    }
}

pub fn print_tables(cfg: &Config, summary: &Summary) {
    println!();
    if cfg.quick {
        println!(
            "(--quick: few, short repetitions; the numbers below only show that everything ran)"
        );
    }
    for &size in &SIZES {
        for w in workloads::ALL {
            let unit = w.unit();
            println!(
                "\n{} at {} B: {} (ns/{unit}, lower is better; M{unit}s/s = 1000/ns)",
                w.name(),
                size,
                w.describe()
            );
            println!(
                "  {:<30} {:>9} {:>19} {:>9} {:>9} {:>8} {:>7} {:>9} {:>9}",
                "contender",
                "median",
                "IQR (p25..p75)",
                "min",
                "max",
                "reps",
                "x peer",
                "x treiber",
                format!("M{unit}s/s")
            );
            for s in summary.group(w, size) {
                let name = format!("{}{}", s.name, kind_tag(s.kind));
                if let Some(e) = &s.error {
                    println!("  {name:<30} FAILED: {e}");
                    continue;
                }
                let reps = if s.disturbed > 0 {
                    format!("{}{}", s.used, if s.noisy { "!" } else { "*" })
                } else {
                    s.used.to_string()
                };
                println!(
                    "  {:<30} {:>9.2} {:>19} {:>9.2} {:>9.2} {:>8} {:>7.2} {:>9.2} {:>9.1}",
                    name,
                    s.median,
                    format!("{:.2}..{:.2}", s.p25, s.p75),
                    s.min,
                    s.max,
                    reps,
                    s.ratio_peer,
                    s.ratio_treiber,
                    1000.0 / s.median
                );
            }
        }
    }
    println!(
        "\nx peer: median / best pool peer's median (pool peers: heapless 0.9 and 0.7, atomic-pool, \
         lockfree-object-pool, sharded-slab, ArrayQueue).\nreps: clean repetitions used; * = some \
         repetitions stayed disturbed after re-runs and were left out; ! = most did: the half with \
         the most CPU time (and thread overlap) was used, treat with care."
    );
}

/// Prints the targets (W1 and W2 at both sizes) and returns how many were missed.
pub fn print_targets(summary: &Summary) -> usize {
    println!(
        "\nTargets (W1, W2: blockpool <= every pool peer, and <= 1.05x the Treiber reference):"
    );
    let mut misses = 0;
    for &size in &SIZES {
        for w in [Workload::W1, Workload::W2Lifo, Workload::W2Fifo] {
            let Some(bp) = summary.get(w, size, "blockpool") else {
                continue;
            };
            if bp.error.is_some() {
                println!("  {:<8} {:>4} B  blockpool FAILED", w.name(), size);
                misses += 1;
                continue;
            }
            let best = summary
                .group(w, size)
                .filter(|s| s.kind == Kind::PoolPeer && s.error.is_none())
                .min_by(|a, b| a.median.total_cmp(&b.median));
            let peers_ok = bp.ratio_peer <= 1.0;
            let treiber_ok = bp.ratio_treiber <= 1.05;
            misses += usize::from(!peers_ok) + usize::from(!treiber_ok);
            println!(
                "  {:<8} {:>4} B  blockpool {:>7.2} ns | best pool peer {} {:.2} ns -> {:.2}x {} | treiber {:.2}x {}",
                w.name(),
                size,
                bp.median,
                best.map_or("-", |s| s.name),
                best.map_or(f64::NAN, |s| s.median),
                bp.ratio_peer,
                if peers_ok { "ok" } else { "MISSED" },
                bp.ratio_treiber,
                if treiber_ok { "ok" } else { "MISSED" },
            );
            if let Some(v) = summary
                .group(w, size)
                .find(|s| s.kind == Kind::SubjectVariant && s.error.is_none())
            {
                println!(
                    "  {:<16} ({}: {:.2} ns, {:.2}x the best pool peer, {:.2}x treiber; not checked)",
                    "", v.name, v.median, v.ratio_peer, v.ratio_treiber
                );
            }
        }
    }
    println!("Multi-thread standing of the shared list (no target):");
    for &size in &SIZES {
        for w in [Workload::W3, Workload::W4, Workload::W5] {
            // blockpool's other APIs are not contenders of their own.
            let mut ranked: Vec<&Stat> = summary
                .group(w, size)
                .filter(|s| {
                    s.error.is_none()
                        && s.kind != Kind::SubjectVariant
                        && s.kind != Kind::Cached
                        && s.kind != Kind::Floor
                })
                .collect();
            ranked.sort_by(|a, b| a.median.total_cmp(&b.median));
            let rank = ranked
                .iter()
                .position(|s| s.name == "blockpool")
                .map_or(0, |p| p + 1);
            if let Some(bp) = summary
                .get(w, size, "blockpool")
                .filter(|s| s.error.is_none())
            {
                println!(
                    "  {:<8} {:>4} B  blockpool {:>6.1} M{}s/s, rank {rank} of {}, {:.2}x the best pool peer's time, {:.2}x treiber's",
                    w.name(),
                    size,
                    1000.0 / bp.median,
                    w.unit(),
                    ranked.len(),
                    bp.ratio_peer,
                    bp.ratio_treiber
                );
            }
        }
    }
    print_cache_targets(summary);
    misses
}

/// Prints the caching layer's targets (issue 14; shown, not counted by
/// `--check-targets`): through its thread cache, blockpool at least 2x faster than the
/// best pool peer in W3, W4 and W5 (time <= 0.5x) and within 1.5x of mimalloc there, and
/// W1 at most 0.5x the Treiber reference's time.
fn print_cache_targets(summary: &Summary) {
    println!("Caching targets (W1 through a cache <= 0.5x treiber's time; W3/W4/W5 through the thread cache <= 0.5x the best pool peer's time and <= 1.5x mimalloc's):");
    for &size in &SIZES {
        for w in [Workload::W1, Workload::W3, Workload::W4, Workload::W5] {
            if w == Workload::W1 {
                if let Some(local) = summary
                    .group(w, size)
                    .find(|s| s.kind == Kind::Local && s.error.is_none())
                {
                    println!(
                        "  {:<8} {:>4} B  LocalCache {:>6.2} ns | {:.2}x treiber {}",
                        w.name(),
                        size,
                        local.median,
                        local.ratio_treiber,
                        if local.ratio_treiber <= 0.5 {
                            "ok"
                        } else {
                            "MISSED"
                        }
                    );
                }
            }
            let Some(cached) = summary.group(w, size).find(|s| s.kind == Kind::Cached) else {
                continue;
            };
            if cached.error.is_some() {
                println!(
                    "  {:<8} {:>4} B  blockpool thread cache FAILED",
                    w.name(),
                    size
                );
                continue;
            }
            let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
            if w == Workload::W1 {
                println!(
                    "  {:<8} {:>4} B  thread cache {:>6.2} ns | {:.2}x treiber {}",
                    w.name(),
                    size,
                    cached.median,
                    cached.ratio_treiber,
                    verdict(cached.ratio_treiber <= 0.5)
                );
                continue;
            }
            let best = summary
                .group(w, size)
                .filter(|s| s.kind == Kind::PoolPeer && s.error.is_none())
                .min_by(|a, b| a.median.total_cmp(&b.median));
            let mimalloc = summary
                .get(w, size, "mimalloc")
                .filter(|s| s.error.is_none());
            let vs_mimalloc = mimalloc.map_or(f64::NAN, |m| cached.median / m.median);
            let plain = summary
                .get(w, size, "blockpool")
                .filter(|s| s.error.is_none());
            let floor = summary
                .group(w, size)
                .find(|s| s.kind == Kind::Floor && s.error.is_none())
                .map_or(String::new(), |f| format!(" | no pool {:.2} ns", f.median));
            println!(
                "  {:<8} {:>4} B  cached {:>6.2} ns (uncached {:.2}) | best pool peer {} {:.2} ns -> {:.2}x {} | mimalloc {:.2}x {}{}",
                w.name(),
                size,
                cached.median,
                plain.map_or(f64::NAN, |p| p.median),
                best.map_or("-", |s| s.name),
                best.map_or(f64::NAN, |s| s.median),
                cached.ratio_peer,
                verdict(cached.ratio_peer <= 0.5),
                vs_mimalloc,
                verdict(vs_mimalloc <= 1.5),
                floor,
            );
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn write_csv(
    cfg: &Config,
    entries: &[Entry],
    cells: &[Cell],
    summary: &Summary,
) -> std::io::Result<()> {
    let mut out = String::new();
    for (k, v) in machine() {
        let _ = writeln!(out, "# {k}: {v}");
    }
    let _ = writeln!(
        out,
        "# reps: {}, quick: {}, seed: {}",
        cfg.reps, cfg.quick, cfg.seed
    );
    out.push_str(
        "workload,block_bytes,contender,kind,unit,median_ns,p25_ns,p75_ns,min_ns,max_ns,\
         reps_used,reps_disturbed,reruns,noisy,m_units_per_s,ratio_best_pool_peer,ratio_treiber,error\n",
    );
    for s in &summary.stats {
        let _ = writeln!(
            out,
            "{},{},{},{:?},{},{:.3},{:.3},{:.3},{:.3},{:.3},{},{},{},{},{:.3},{:.4},{:.4},{}",
            s.workload.name(),
            s.size,
            csv_field(s.name),
            s.kind,
            s.workload.unit(),
            s.median,
            s.p25,
            s.p75,
            s.min,
            s.max,
            s.used,
            s.disturbed,
            s.reruns,
            s.noisy,
            1000.0 / s.median,
            s.ratio_peer,
            s.ratio_treiber,
            csv_field(s.error.as_deref().unwrap_or(""))
        );
    }
    std::fs::write(cfg.out.join("results.csv"), out)?;

    let mut raw = String::from(
        "workload,block_bytes,contender,rep,iters,ns_per_unit,cpu_ratio,overlap,disturbed\n",
    );
    for c in cells {
        let e = &entries[c.entry];
        for (i, s) in c.samples.iter().enumerate() {
            let _ = writeln!(
                raw,
                "{},{},{},{},{},{:.3},{:.3},{:.3},{}",
                c.workload.name(),
                e.size,
                csv_field(e.name),
                i,
                c.iters,
                s.ns_per_unit,
                s.cpu_ratio,
                s.overlap,
                c.disturbed.get(i).copied().unwrap_or(false)
            );
        }
    }
    std::fs::write(cfg.out.join("samples.csv"), raw)
}
