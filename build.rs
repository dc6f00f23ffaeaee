//! Picks the free-list backend for the target (see `src/free_list/mod.rs`).
//!
//! Stable rustc does not expose ARM's architecture-version target features (`v7`, …)
//! to `cfg`, so whether a 32-bit ARM target has `ldrex`/`strex` is read from its name.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!(
        "cargo:rustc-check-cfg=cfg(blockpool_backend, values(\"tagged_index\", \"arm_llsc\", \"critical_section\"))"
    );
    let target = env::var("TARGET").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let atomics = env::var("CARGO_CFG_TARGET_HAS_ATOMIC").unwrap_or_default();
    let has_atomic = |width: &str| atomics.split(',').any(|w| w == width);
    let loom = env::var_os("CARGO_CFG_LOOM").is_some();

    // ARMv7-M/E-M, ARMv8-M (baseline and mainline), ARMv7-A/R and 32-bit ARMv8: these
    // have LDREX/STREX/CLREX/DMB.
    let arm_exclusives = arch == "arm"
        && [
            "thumbv7", "thumbv8m", "armv7", "armebv7", "armv8", "thumbv8",
        ]
        .iter()
        .any(|prefix| target.starts_with(prefix));

    let backend = if loom {
        // loom can model only the portable backend.
        "tagged_index"
    } else if arm_exclusives {
        "arm_llsc"
    } else if has_atomic("64") {
        "tagged_index"
    } else {
        "critical_section"
    };
    println!("cargo:rustc-cfg=blockpool_backend=\"{backend}\"");
}
