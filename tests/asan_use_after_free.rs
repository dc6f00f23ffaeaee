//! AddressSanitizer sees a use of a pool block after its box was dropped.
//!
//! Built only with `--cfg blockpool_asan`, under which the pool poisons a block's payload
//! when it is freed and unpoisons it when it is handed out (`src/asan.rs`):
//!
//! ```text
//! RUSTFLAGS="-Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer --cfg blockpool_asan" \
//!     cargo +nightly test --target x86_64-unknown-linux-gnu --test asan_use_after_free
//! ```
//!
//! ASan aborts the process it finds a bug in, so each scenario runs in a child process:
//! this test binary runs itself again with `BLOCKPOOL_ASAN_CHILD` naming the scenario,
//! and the parent checks the child's exit status and ASan's report on its stderr.
#![cfg(blockpool_asan)]

use std::process::Command;

use blockpool::StaticPool;

static POOL: StaticPool<[u64; 4], 2> = StaticPool::new();

const CHILD: &str = "BLOCKPOOL_ASAN_CHILD";

/// Runs `child_scenarios` alone in a child process with `scenario`; returns its exit
/// success and stderr.
fn run_child(scenario: &str) -> (bool, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_scenarios",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, scenario)
        .output()
        .expect("could not run the test binary again");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stderr)
}

/// The child's side. Does nothing in an ordinary run of this binary.
#[test]
fn child_scenarios() {
    let Ok(scenario) = std::env::var(CHILD) else {
        return;
    };
    match scenario.as_str() {
        // Handing a freed block out again unpoisons it: using it is fine.
        "reuse" => {
            for round in 0..4u64 {
                let a = POOL.alloc_value([round; 4]).unwrap();
                let b = POOL.alloc_value([round + 1; 4]).unwrap();
                assert_eq!(a[3] + 1, b[0]);
                drop(a);
                drop(b);
            }
            eprintln!("reuse: done");
        }
        // Reading a block's payload after its box was dropped.
        "use-after-free" => {
            let mut block = POOL.alloc_value([7; 4]).unwrap();
            let dangling: *mut [u64; 4] = &mut *block;
            drop(block);
            // SAFETY: none: this is the bug ASan must report. The memory stays mapped
            // (it is the pool's), so without poisoning nothing would notice.
            let stale = unsafe { std::ptr::read_volatile(dangling.cast::<u64>()) };
            eprintln!("use-after-free: read {stale} without a report");
        }
        other => panic!("unknown scenario {other:?}"),
    }
}

#[test]
fn asan_allows_reusing_a_block() {
    let (ok, stderr) = run_child("reuse");
    assert!(ok, "the child failed:\n{stderr}");
    assert!(!stderr.contains("AddressSanitizer"), "{stderr}");
    assert!(stderr.contains("reuse: done"), "{stderr}");
}

#[test]
fn asan_reports_use_after_free_of_a_pool_block() {
    let (ok, stderr) = run_child("use-after-free");
    assert!(!ok, "the child exited successfully:\n{stderr}");
    assert!(
        stderr.contains("AddressSanitizer: use-after-poison")
            || stderr.contains("AddressSanitizer: use-after-free"),
        "no ASan report of the use-after-free:\n{stderr}"
    );
    assert!(!stderr.contains("without a report"), "{stderr}");
}
