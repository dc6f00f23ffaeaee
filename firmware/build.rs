//! Picks the memory map for the QEMU machine that runs each target:
//! thumbv6m -> micro:bit (16K RAM), thumbv8m.base -> mps2-an505 (secure aliases),
//! everything else -> lm3s6965evb / mps2-an38x (64K);
//! with the feature `placed`, `memory/placed.x` (128K RAM and a `.pool_ram` section).
//!
//! The file is copied to OUT_DIR as `memory.x` (cortex-m-rt's `link.x` includes it).
//! The `-Tlink.x` link argument is given here too, not in `.cargo/config.toml`, so that
//! a build with `RUSTFLAGS` (the window test's `--cfg blockpool_test_hooks`) keeps it.
//! There must be no `memory.x` in this package's root: the linker would find that one
//! first.

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap();
    let source = if env::var_os("CARGO_FEATURE_PLACED").is_some() {
        // The `placed` firmware: more RAM, and a `.pool_ram` section.
        "memory/placed.x"
    } else if target.starts_with("thumbv8m.base") {
        "memory/an505.x"
    } else if target.starts_with("thumbv6m") {
        "memory/microbit.x"
    } else {
        "memory/m3-m4.x"
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::copy(source, out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    // blockpool's test hooks (`RUSTFLAGS="--cfg blockpool_test_hooks"`), which the window
    // test needs.
    println!("cargo:rustc-check-cfg=cfg(blockpool_test_hooks)");
    // heapless 0.9.4's pool, the fastpath firmware's peer, exists on the ARMv7-M/E-M and
    // ARMv8-M mainline targets (its LL/SC backend); not on thumbv6m or thumbv8m.base.
    println!("cargo:rustc-check-cfg=cfg(heapless_peer)");
    if target.starts_with("thumbv7") || target.starts_with("thumbv8m.main") {
        println!("cargo:rustc-cfg=heapless_peer");
    }
    // For `machine_name()`.
    println!("cargo:rustc-env=FIRMWARE_TARGET={target}");
}
