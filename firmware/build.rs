//! Picks the memory map for the QEMU machine that runs each target:
//! thumbv6m -> micro:bit (16K RAM), everything else -> lm3s6965evb / mps2-an38x (64K);
//! with the feature `placed`, `memory/placed.x` (128K RAM and a `.pool_ram` section).
//!
//! The file is copied to OUT_DIR as `memory.x` (cortex-m-rt's `link.x` includes it).
//! There must be no `memory.x` in this package's root: the linker would find that one
//! first.

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap();
    let source = if env::var_os("CARGO_FEATURE_PLACED").is_some() {
        // The `placed` firmware: more RAM, and a `.pool_ram` section.
        "memory/placed.x"
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
}
