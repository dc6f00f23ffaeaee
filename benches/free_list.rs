//! blockpool's free list against a plain Treiber stack without ABA protection (the cost
//! floor), one thread, 64-byte and 4 KiB blocks:
//!
//! * `pair`: one alloc + free;
//! * `batch`: 1,000 allocs, then 1,000 frees in reverse order (time per 1,000 + 1,000);
//! * `raw_round_trip` (64 B only): alloc, `into_raw`, `from_raw`, free, on an instance
//!   `Pool` and a `StaticPool`, against alloc + free alone: what `from_raw`'s ownership
//!   check (made in every build) adds.
//!
//! Every alloc writes one word into its block in place (`as_mut_ptr`), so 4 KiB costs what
//! 64 B costs. Run with `cargo bench --bench free_list` (about 30 s). The full comparison
//! with the other pools is `cargo run --release -p blockpool-bench` (bench/README.md).

use std::hint::black_box;
use std::time::Duration;

use blockpool::{Block, Pool, StaticPool};
use criterion::{BenchmarkId, Criterion, Throughput};

#[path = "common/treiber.rs"]
mod treiber;
use treiber::Treiber;

const BLOCKS: usize = 1024;
const BATCH: usize = 1000;

fn blockpool_pool<const W: usize>() -> &'static Pool<[u64; W]> {
    let pool: &'static Pool<[u64; W]> = Box::leak(Box::new(Pool::new()));
    let memory: Vec<Block<[u64; W]>> = (0..BLOCKS).map(|_| Block::new()).collect();
    assert_eq!(pool.grow_exact(memory.leak()), BLOCKS);
    pool
}

fn bench_size<const W: usize>(c: &mut Criterion) {
    let bytes = W * 8;
    let pool = blockpool_pool::<W>();
    let stack = Treiber::<[u64; W]>::with_blocks(BLOCKS);

    let mut pair = c.benchmark_group("pair");
    pair.throughput(Throughput::Elements(1));
    pair.bench_function(BenchmarkId::new("blockpool", bytes), |b| {
        let mut i = 0u64;
        b.iter(|| {
            let mut block = pool.alloc().expect("pool exhausted");
            // SAFETY: the block has room for `W` words; one word written in place.
            unsafe { block.as_mut_ptr().cast::<u64>().write_volatile(i) };
            i += 1;
            drop(black_box(block));
        })
    });
    pair.bench_function(BenchmarkId::new("treiber_no_aba", bytes), |b| {
        let mut i = 0u64;
        b.iter(|| {
            let node = stack.alloc().expect("stack exhausted");
            // SAFETY: as above.
            unsafe { Treiber::data(node).cast::<u64>().write_volatile(i) };
            i += 1;
            // SAFETY: the node came from this stack and is no longer used.
            unsafe { stack.free(black_box(node)) };
        })
    });
    pair.finish();

    let mut batch = c.benchmark_group("batch_1000");
    batch.throughput(Throughput::Elements(2 * BATCH as u64));
    batch.bench_function(BenchmarkId::new("blockpool", bytes), |b| {
        let mut held = Vec::with_capacity(BATCH);
        b.iter(|| {
            for i in 0..BATCH {
                let mut block = pool.alloc().expect("pool exhausted");
                // SAFETY: as above.
                unsafe { block.as_mut_ptr().cast::<u64>().write_volatile(i as u64) };
                held.push(block);
            }
            while let Some(block) = held.pop() {
                drop(black_box(block));
            }
        })
    });
    batch.bench_function(BenchmarkId::new("treiber_no_aba", bytes), |b| {
        let mut held = Vec::with_capacity(BATCH);
        b.iter(|| {
            for i in 0..BATCH {
                let node = stack.alloc().expect("stack exhausted");
                // SAFETY: as above.
                unsafe { Treiber::data(node).cast::<u64>().write_volatile(i as u64) };
                held.push(node);
            }
            while let Some(node) = held.pop() {
                // SAFETY: as above.
                unsafe { stack.free(black_box(node)) };
            }
        })
    });
    batch.finish();
}

fn bench_raw_round_trip(c: &mut Criterion) {
    static STATIC: StaticPool<[u64; 8], BLOCKS> = StaticPool::new();
    let pool = blockpool_pool::<8>();
    let mut group = c.benchmark_group("raw_round_trip");
    group.throughput(Throughput::Elements(1));
    group.bench_function("pool_alloc_free", |b| {
        b.iter(|| drop(black_box(pool.alloc().expect("pool exhausted"))))
    });
    group.bench_function("pool_alloc_into_from_raw_free", |b| {
        b.iter(|| {
            let raw = black_box(pool.alloc().expect("pool exhausted").into_raw());
            // SAFETY: from `into_raw` of a box of `pool`, rebuilt once.
            drop(unsafe {
                blockpool::Box::<&Pool<[u64; 8]>, blockpool::Uninit>::from_raw(raw, pool)
            })
        })
    });
    group.bench_function("static_alloc_free", |b| {
        b.iter(|| drop(black_box(STATIC.alloc().expect("pool exhausted"))))
    });
    group.bench_function("static_alloc_into_from_raw_free", |b| {
        b.iter(|| {
            let raw = black_box(STATIC.alloc().expect("pool exhausted").into_raw());
            // SAFETY: from `into_raw` of a box of `STATIC`, rebuilt once.
            drop(unsafe {
                blockpool::Box::<&StaticPool<[u64; 8], BLOCKS>, blockpool::Uninit>::from_raw(
                    raw, &STATIC,
                )
            })
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    bench_size::<8>(&mut c); // 64-byte blocks
    bench_size::<512>(&mut c); // 4 KiB blocks
    bench_raw_round_trip(&mut c);
    c.final_summary();
}
