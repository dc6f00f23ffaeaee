//! Threads hammer one pool: every block carries a stamp of its owner, and a flag per
//! block catches a block handed out twice; at the end every block must be back.
//!
//! Size: `BLOCKPOOL_STRESS_OPS` operations in all (default 1,000,000; 2,000 under Miri).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Barrier;
use std::thread;

use blockpool::{Block, Box, Pool};

const BLOCKS: usize = 16;
const THREADS: usize = 4;

type Slot = [u64; 4];

struct Checked {
    pool: Pool<Slot>,
    base: usize,
    in_use: [AtomicBool; BLOCKS],
}

impl Checked {
    /// Every block is back in the pool: draining it yields exactly `BLOCKS`.
    fn assert_all_free(&self) {
        let drained: Vec<_> = std::iter::from_fn(|| self.pool.alloc()).collect();
        assert_eq!(drained.len(), BLOCKS, "blocks lost");
    }

    fn new() -> &'static Self {
        let blocks: &'static mut [Block<Slot>] =
            std::boxed::Box::leak((0..BLOCKS).map(|_| Block::new()).collect());
        let base = blocks.as_ptr() as usize;
        let checked = std::boxed::Box::leak(std::boxed::Box::new(Checked {
            pool: Pool::new(),
            base,
            in_use: [const { AtomicBool::new(false) }; BLOCKS],
        }));
        assert_eq!(checked.pool.grow_exact(blocks), BLOCKS);
        checked
    }

    fn index(&self, block: *const Slot) -> usize {
        (block as usize - self.base) / std::mem::size_of::<Block<Slot>>()
    }

    fn take(&'static self, owner: u64, seq: u64) -> Option<Box<&'static Pool<Slot>>> {
        let block = self.pool.alloc()?.init([owner, seq, !seq, owner ^ seq]);
        let was = self.in_use[self.index(block.as_ptr())].swap(true, Ordering::AcqRel);
        assert!(
            !was,
            "block {} handed out twice",
            self.index(block.as_ptr())
        );
        Some(block)
    }

    fn give_back(&self, block: Box<&'static Pool<Slot>>, owner: u64) {
        let [o, seq, not_seq, mix] = *block;
        assert!(
            o == owner && not_seq == !seq && mix == o ^ seq,
            "block's stamp was overwritten: {:?}",
            *block
        );
        let was = self.in_use[self.index(block.as_ptr())].swap(false, Ordering::AcqRel);
        assert!(was, "a free block was in someone's hands");
        drop(block);
    }
}

fn ops() -> u64 {
    // Miri interprets every step: a few thousand operations already take seconds, so the
    // CI-sized environment variable does not apply there.
    if cfg!(miri) {
        return 2_000;
    }
    std::env::var("BLOCKPOOL_STRESS_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

#[test]
fn threads_share_a_pool_without_losing_or_duplicating_blocks() {
    let checked = Checked::new();
    let per_thread = ops() / THREADS as u64;
    let barrier = std::sync::Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS as u64)
        .map(|owner| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                let mut held = Vec::new();
                let mut rng = owner.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                barrier.wait();
                for seq in 0..per_thread {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    if held.len() < 3 && (held.is_empty() || rng % 2 == 0) {
                        if let Some(block) = checked.take(owner, seq) {
                            held.push(block);
                        }
                    } else if let Some(block) = held.pop() {
                        checked.give_back(block, owner);
                    }
                }
                for block in held {
                    checked.give_back(block, owner);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert!(checked.in_use.iter().all(|f| !f.load(Ordering::Relaxed)));
    checked.assert_all_free();
}

#[test]
// std's channel is too slow under Miri; `tests/miri_threads.rs` covers threads there.
#[cfg_attr(miri, ignore)]
fn blocks_freed_on_another_thread_come_back() {
    let checked = Checked::new();
    let total = ops() / 4;
    let (to_consumer, from_producer) = mpsc::sync_channel::<Box<&'static Pool<Slot>>>(8);
    let producer = thread::spawn(move || {
        let mut sent = 0;
        let mut seq = 0;
        while sent < total {
            seq += 1;
            if let Some(block) = checked.take(7, seq) {
                to_consumer.send(block).unwrap();
                sent += 1;
            } else {
                thread::yield_now();
            }
        }
    });
    let consumer = thread::spawn(move || {
        let mut received = 0;
        for block in from_producer {
            checked.give_back(block, 7);
            received += 1;
        }
        received
    });
    producer.join().unwrap();
    assert_eq!(consumer.join().unwrap(), total);
    checked.assert_all_free();
}
