#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls `scripts/test.sh --full`).
#
#   scripts/test.sh            quick sizes (for local use)
#   scripts/test.sh --full     CI sizes: 10^6 signal-handler runs and injections
#                              (2 x 10^5 timer runs against the thread cache),
#                              10^7 stress and TSan operations, 5 x 10^5 fuzz executions, ...
#
# Self-sufficient on a fresh Debian 12 machine with rustup: each step installs what it
# needs (rustup targets and components, QEMU, cargo-fuzz). See TESTING.md for what each
# step proves and how to run it alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

full=0
[ "${1:-}" = "--full" ] && full=1
if [ "$full" = 1 ]; then
    export BLOCKPOOL_SIGNAL_RUNS=${BLOCKPOOL_SIGNAL_RUNS:-1000000}
    export BLOCKPOOL_INJECTIONS=${BLOCKPOOL_INJECTIONS:-1000000}
    export BLOCKPOOL_STRESS_OPS=${BLOCKPOOL_STRESS_OPS:-10000000}
    # The thread cache's timer phase (its injection phases use BLOCKPOOL_INJECTIONS).
    export BLOCKPOOL_CACHE_SIGNAL_RUNS=${BLOCKPOOL_CACHE_SIGNAL_RUNS:-200000}
    verify_args=(--full)
else
    verify_args=()
fi

# Disk: the suite builds a dozen configurations into their own target directories, each
# once. Incremental-compilation caches and full debug info would only fill the disk (a CI
# machine ran out of it); line tables keep the panics' backtraces. A caller's own
# settings win.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}

# The space left on the disk of the working tree, after each step (for a run that fails
# for want of it).
disk_free() {
    df -h --output=avail . 2>/dev/null | tail -1 | tr -d ' '
}

# CPU seconds (user + system) of the script's finished children so far, into `cpu`
# (`times` must run in this shell, not in a command substitution's).
times_file=$(mktemp)
trap 'rm -f "$times_file"' EXIT
cpu_now() {
    times >"$times_file"
    cpu=$(tail -1 "$times_file" | awk '{ split($1, u, "m"); split($2, s, "m"); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
}

passed=0
failed=()
run_step() {
    local name=$1
    shift
    echo
    echo "=== $name: $*"
    local start=$SECONDS cpu result cpu_start
    cpu_now
    cpu_start=$cpu
    if "$@"; then
        passed=$((passed + 1))
        result=ok
    else
        failed+=("$name")
        result=FAILED
    fi
    cpu_now
    # (No CPU time beside a background step: its CPU time counts when it ends.)
    local cpu_text="$((cpu - cpu_start)) s CPU; "
    [ -z "$beside_name" ] || cpu_text=
    echo "=== $name: $result ($((SECONDS - start)) s; $cpu_text$(disk_free) free)"
}

# A step run in the background beside the next one (`run_beside`, then the next
# `run_step`, then `finish_beside`): its output goes to a log printed whole afterwards.
# For a step whose runs leave a core idle (QEMU, Miri) beside one that has one to give.
beside_name=
run_beside() {
    beside_log=$(mktemp)
    echo
    echo "=== $1: started in the background (its output follows the next step's)"
    (
        # Its own file for `times` (the main shell's is in use beside it, and its
        # EXIT trap would remove that one).
        times_file=$(mktemp)
        trap 'rm -f "$times_file"' EXIT
        failed=()
        run_step "$@"
        [ ${#failed[@]} -eq 0 ]
    ) >"$beside_log" 2>&1 &
    beside_pid=$!
    beside_name=$1
}

finish_beside() {
    local status=0
    wait "$beside_pid" || status=$?
    echo
    echo "=== $beside_name (run beside the step above): its output"
    cat "$beside_log"
    rm -f "$beside_log"
    if [ "$status" = 0 ]; then
        passed=$((passed + 1))
    else
        failed+=("$beside_name")
    fi
    beside_name=
}

echo "disk: $(disk_free) free at the start"
rustup component add clippy rustfmt >/dev/null 2>&1 || true
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi >/dev/null

# The tests' ABA-window hooks are a cfg, not a feature (no user build has them); builds
# with them go to their own target directory, so that switching RUSTFLAGS back and forth
# does not rebuild everything.
hooked() {
    RUSTFLAGS="--cfg blockpool_test_hooks" CARGO_TARGET_DIR="$PWD/target/hooks" "$@"
}

lint() {
    cargo fmt --all -- --check &&
        cargo clippy -q --all-targets --all-features -- -D warnings &&
        hooked cargo clippy -q --all-targets --all-features -- -D warnings &&
        cargo clippy -q -p blockpool --target thumbv7em-none-eabihf --features stats,async -- -D warnings &&
        hooked cargo clippy -q -p blockpool --target thumbv7em-none-eabihf --features single-core -- -D warnings &&
        cargo clippy -q -p blockpool --target thumbv6m-none-eabi --features stats,async -- -D warnings &&
        RUSTDOCFLAGS="-D warnings" cargo doc -q -p blockpool --no-deps &&
        RUSTDOCFLAGS="-D warnings" cargo doc -q -p blockpool --no-deps --all-features
}

# Every combination of the library's features compiles, on the host and on the two
# Cortex-M backends (`--no-dev-deps`: the library alone, as a dependent builds it).
# `std` and `allocator-api2` only add API beside the others (thread caches, the heap's
# `Allocator`): each is checked alone and with every other feature, not in the powerset,
# which would take four times as long.
powerset() {
    cargo hack --version >/dev/null 2>&1 || cargo install cargo-hack --locked
    local t
    for t in "" thumbv7em-none-eabihf; do
        cargo hack check -q -p blockpool --lib --feature-powerset --exclude-features default,std,allocator-api2 \
            --no-dev-deps ${t:+--target "$t"} || return 1
    done
    cargo check -q -p blockpool --lib --features std &&
        cargo check -q -p blockpool --lib --features allocator-api2 &&
        cargo check -q -p blockpool --lib --all-features &&
        cargo check -q -p blockpool --lib --target thumbv7em-none-eabihf \
            --features allocator-api2,stats,async,single-core,defmt || return 1
    # thumbv6m has no atomic read-modify-write: portable-atomic then needs one of its
    # own features, which the firmware picks (here `critical-section`).
    cargo hack check -q -p blockpool --lib --feature-powerset --exclude-features default,portable-atomic,std,allocator-api2 \
        --no-dev-deps --target thumbv6m-none-eabi &&
        cargo check -q -p blockpool --lib --target thumbv6m-none-eabi \
            --features portable-atomic,portable-atomic/critical-section,stats,async
}

# The package as crates.io gets it (no warning allowed: cargo's warnings do not fail the
# dry run, so they are checked here), and the docs as docs.rs builds them: nightly,
# `--cfg docsrs` (feature labels), the user features of [package.metadata.docs.rs].
package() {
    local out
    out=$(cargo publish --dry-run -p blockpool 2>&1) || { echo "$out"; return 1; }
    echo "$out" | grep -E "Packaged|^warning" || true
    if echo "$out" | grep -v "aborting upload due to dry run" | grep -q "^warning"; then
        echo "cargo publish --dry-run warned"
        return 1
    fi
    rustup run nightly rustc --version >/dev/null 2>&1 ||
        rustup toolchain install nightly --profile minimal >/dev/null
    RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo +nightly doc -q -p blockpool --no-deps \
        --features stats,defmt,async
}

# The declared rust-version builds the library (without dev-dependencies, which need
# newer compilers: `--lib` builds none of them). Not `defmt`: defmt 1 itself needs 1.81.
msrv() {
    local msrv
    msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
    [[ $msrv == *.*.* ]] || msrv=$msrv.0
    rustup toolchain install "$msrv" --profile minimal >/dev/null 2>&1 &&
        cargo "+$msrv" build -q -p blockpool --lib --features stats,async,single-core,allocator-api2
}

run_step lint lint
run_step package package
run_step "MSRV build" msrv
run_step "feature powerset" powerset
# The host tests in the configurations users ship: default features (debug), every user
# feature (release); then the tests that need the ABA-window hooks, with them.
run_step "host tests (debug, default features)" cargo test -p blockpool
run_step "host tests (release, all features)" cargo test -p blockpool --release --all-features
run_step "host tests with the test hooks (release)" \
    hooked cargo test -p blockpool --release --all-features --test aba --test signal_handler --test cache_signal \
    --test cache
run_step "demo" cargo run -q --release --example demo
run_step "benchmark report (--quick)" cargo run -q --release -p blockpool-bench -- --quick
# The firmware's QEMU runs and the end of verify.sh's Miri run each use one core: side
# by side (their target directories are their own). verify.sh's tools are installed
# first, on their own: rustup does not guard a toolchain against a second rustup
# installing into it (both scripts add nightly's rust-src).
run_step "verify tools" scripts/verify.sh --setup
run_beside "firmware under QEMU and cross-builds" scripts/firmware.sh
run_step "loom, Miri, TSan, ASan, fuzzing" scripts/verify.sh "${verify_args[@]}"
finish_beside
# The heap (issue 16): its own lint, negative control, loom model, fuzz target, firmware
# and instruction counts. Not its `host` step: the heap's tests run in the two host-test
# steps above (debug with default features, release with all). Not its Miri step:
# verify.sh's Miri run above runs every test, the heap's included.
run_step "heap" scripts/heap.sh lint control loom fuzz firmware counts

# Every hand-made mutation of the free list, the Arc counts and the stats must be killed
# by its test (TESTING.md, "Mutation testing"); it reuses the loom and Miri builds above.
# The one record whose killer is a native timing race (`*_native`) is left to local runs:
# everything here is deterministic (loom, Miri with fixed seeds, plain tests).
mutants() {
    local names
    names=$(scripts/mutants.sh --list | awk '{print $1}' | grep -v '_native$')
    # shellcheck disable=SC2086 # one argument per name
    scripts/mutants.sh $names
}
run_step "mutation testing" mutants

echo
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed steps: ${failed[*]}"
fi
echo "${passed} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
