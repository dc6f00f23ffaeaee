//! Records what the report must print about the build: the compiler, the flags and the
//! versions of the crates under test (read from the workspace's Cargo.lock).

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(&rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_else(|| "unknown".into());
    println!(
        "cargo:rustc-env=BENCH_RUSTC_VV={}",
        version.trim().replace('\n', "; ")
    );

    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS")
        .unwrap_or_default()
        .replace('\x1f', " ");
    println!("cargo:rustc-env=BENCH_RUSTFLAGS={flags}");
    for var in ["PROFILE", "OPT_LEVEL", "DEBUG", "TARGET"] {
        println!(
            "cargo:rustc-env=BENCH_{var}={}",
            std::env::var(var).unwrap_or_default()
        );
    }
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");

    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let lock_path = format!("{manifest}/../Cargo.lock");
    println!("cargo:rerun-if-changed={lock_path}");
    let lock = std::fs::read_to_string(&lock_path).unwrap_or_default();
    let wanted = [
        "blockpool",
        "heapless",
        "atomic-pool",
        "lockfree-object-pool",
        "sharded-slab",
        "crossbeam-queue",
        "mimalloc",
        "libmimalloc-sys",
        "portable-atomic",
    ];
    let mut versions = Vec::new();
    let mut name = String::new();
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("version = ") {
            if wanted.contains(&name.as_str()) {
                versions.push(format!("{name} {}", v.trim_matches('"')));
            }
        }
    }
    println!("cargo:rustc-env=BENCH_VERSIONS={}", versions.join(", "));
}
