//! Picks the free-list backend for the target (see the crate docs' "Guarantees per
//! target" table, the one place that lists them).
//!
//! - `BLOCKPOOL_BACKEND=tagged_index|arm_llsc|critical_section` in the environment of
//!   the build overrides the choice (e.g. `critical_section` on a multi-core ARM part
//!   whose memory system lacks a global exclusive monitor). A backend the target cannot
//!   compile is a compile error, not a silent fallback.
//! - 32-bit ARM: `arm_llsc` if the target assembles what that backend's `asm!` uses
//!   (`ldrex`, `strex`, `clrex`, `dmb`): a compile probe of a tiny `asm!` file with
//!   `$RUSTC --target $TARGET --emit=obj` into `OUT_DIR`. Stable rustc does not expose
//!   ARM's architecture version to `cfg`, and a name is a poor proxy (thumbv8m.base has
//!   these instructions, armv6 has `ldrex` but no `clrex`). When the probe cannot decide
//!   (the target's `core` is not installed, as with `-Zbuild-std`), the target's name
//!   decides: thumbv7*, thumbv8m*, armv7*, armebv7*, armv8*, thumbv8*.
//! - Otherwise `tagged_index` with a 64-bit CAS, `critical_section` without.
//! - loom models only `tagged_index`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const BACKENDS: [&str; 3] = ["tagged_index", "arm_llsc", "critical_section"];

/// What `arm_llsc.rs` assembles, in one function.
const PROBE: &str = r#"#![no_std]
pub unsafe fn probe(word: *mut u32) -> u32 {
    let value: u32;
    core::arch::asm!(
        "ldrex {value}, [{word}]",
        "strex {fail}, {value}, [{word}]",
        "clrex",
        "dmb",
        word = in(reg) word,
        value = out(reg) value,
        fail = out(reg) _,
        options(nostack),
    );
    value
}
"#;

/// `Some(true)`: the LL/SC instructions assemble; `Some(false)`: the compiler rejected
/// them; `None`: the probe could not run (no `core` for the target, no compiler).
fn probe_arm_exclusives(target: &str) -> Option<bool> {
    let out = PathBuf::from(env::var_os("OUT_DIR")?);
    let source = out.join("blockpool_llsc_probe.rs");
    std::fs::write(&source, PROBE).ok()?;
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut command = Command::new(rustc);
    command
        .args(["--crate-type", "lib", "--emit", "obj", "--edition", "2021"])
        .args(["--crate-name", "blockpool_llsc_probe", "--target", target])
        .arg("-o")
        .arg(out.join("blockpool_llsc_probe.o"))
        .arg(&source);
    // The target features and CPU the crate itself is built with.
    if let Ok(flags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        command.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    }
    let output = command.output().ok()?;
    if output.status.success() {
        return Some(true);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // E0463: can't find crate for `core` (e.g. `-Zbuild-std`): undecided.
    if stderr.contains("E0463") || stderr.contains("can't find crate") {
        None
    } else {
        Some(false)
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=BLOCKPOOL_BACKEND");
    println!(
        "cargo:rustc-check-cfg=cfg(blockpool_backend, values(\"tagged_index\", \"arm_llsc\", \"critical_section\"))"
    );
    let target = env::var("TARGET").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let atomics = env::var("CARGO_CFG_TARGET_HAS_ATOMIC").unwrap_or_default();
    let has_atomic = |width: &str| atomics.split(',').any(|w| w == width);
    let loom = env::var_os("CARGO_CFG_BLOCKPOOL_LOOM").is_some();

    let by_name = || {
        [
            "thumbv7", "thumbv8m", "armv7", "armebv7", "armv8", "thumbv8",
        ]
        .iter()
        .any(|prefix| target.starts_with(prefix))
    };
    let backend = if let Ok(chosen) = env::var("BLOCKPOOL_BACKEND") {
        assert!(
            BACKENDS.contains(&chosen.as_str()),
            "BLOCKPOOL_BACKEND={chosen}: expected one of {BACKENDS:?}"
        );
        chosen
    } else if loom {
        // loom can model only the portable backend.
        "tagged_index".into()
    } else if arch == "arm" && probe_arm_exclusives(&target).unwrap_or_else(by_name) {
        "arm_llsc".into()
    } else if has_atomic("64") {
        "tagged_index".into()
    } else {
        "critical_section".into()
    };
    println!("cargo:rustc-cfg=blockpool_backend=\"{backend}\"");
    // M-profile (Cortex-M): exception entry and return clear the local exclusive monitor,
    // which lets the LL/SC pop leave its empty path without `clrex` (see `arm_llsc.rs`).
    // By name; a target this misses keeps the `clrex`, which is right everywhere.
    println!("cargo:rustc-check-cfg=cfg(blockpool_m_profile)");
    if ["thumbv6m", "thumbv7m", "thumbv7em", "thumbv8m"]
        .iter()
        .any(|prefix| target.starts_with(prefix))
    {
        println!("cargo:rustc-cfg=blockpool_m_profile");
    }
    // Counters (statistics, `Arc` counts, the async slot) use atomic read-modify-write
    // instructions where the target has them, or through `portable-atomic` (feature),
    // and a short critical section otherwise (`src/counter.rs`).
    println!("cargo:rustc-check-cfg=cfg(blockpool_rmw)");
    if loom || has_atomic("ptr") || env::var_os("CARGO_FEATURE_PORTABLE_ATOMIC").is_some() {
        println!("cargo:rustc-cfg=blockpool_rmw");
    }
}
