#!/usr/bin/env bash
# Runs the tools that check the pool never loses or duplicates a block: loom, Miri,
# ThreadSanitizer, AddressSanitizer (with pool poisoning) and cargo-fuzz. See TESTING.md.
#
#   scripts/verify.sh                 quick sizes (a few minutes once the tools are built)
#   scripts/verify.sh --full          CI sizes (also: BLOCKPOOL_FULL=1)
#   scripts/verify.sh loom miri       only these steps (loom miri tsan asan fuzz)
#   scripts/verify.sh --setup         only install what the steps need
#
# Miri interprets on one core, so the other steps run beside it, all at once (their
# output follows Miri's, each step's in one piece); BLOCKPOOL_VERIFY_SERIAL=1 runs one
# step at a time.
#
# Self-sufficient on a fresh Debian 12 machine with rustup: installs the nightly
# toolchain, miri, rust-src and cargo-fuzz (and g++ for libFuzzer) when they are missing.
#
# Sizes (environment; quick default / --full default):
#   LOOM_MAX_PREEMPTIONS      preemption bound of the 3-thread loom scenarios   1 / 2
#   BLOCKPOOL_MIRI_SEEDS      seeds of the threaded Miri test                    8 / 16
#   BLOCKPOOL_TSAN_OPS        pool operations of the TSan stress test      200000 / 10000000
#   BLOCKPOOL_FUZZ_SECONDS    fuzzing time limit (seconds)                      10 / 600
#   BLOCKPOOL_FUZZ_RUNS       fuzzing executions (-1: until the time limit)     -1 / 500000
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

full=${BLOCKPOOL_FULL:-0}
setup_only=0
steps=()
for arg in "$@"; do
    case "$arg" in
        --full) full=1 ;;
        --setup) setup_only=1 ;;
        loom | miri | tsan | asan | fuzz) steps+=("$arg") ;;
        -h | --help)
            sed -n '2,22p' "$0"
            exit 0
            ;;
        *)
            echo "verify.sh: unknown argument '$arg'" >&2
            exit 2
            ;;
    esac
done
[ ${#steps[@]} -gt 0 ] || steps=(loom miri tsan asan fuzz)

if [ "$full" = 1 ]; then
    : "${LOOM_MAX_PREEMPTIONS:=2}" "${BLOCKPOOL_MIRI_SEEDS:=16}" "${BLOCKPOOL_TSAN_OPS:=10000000}"
    : "${BLOCKPOOL_FUZZ_SECONDS:=600}" "${BLOCKPOOL_FUZZ_RUNS:=500000}"
else
    : "${LOOM_MAX_PREEMPTIONS:=1}" "${BLOCKPOOL_MIRI_SEEDS:=8}" "${BLOCKPOOL_TSAN_OPS:=200000}"
    : "${BLOCKPOOL_FUZZ_SECONDS:=10}" "${BLOCKPOOL_FUZZ_RUNS:=-1}"
fi
export LOOM_MAX_PREEMPTIONS BLOCKPOOL_TSAN_OPS

# Each tool builds with its own flags: one target directory each, so they do not
# rebuild one another's artefacts.
targets=${BLOCKPOOL_VERIFY_TARGET_DIR:-$PWD/target}
sanitizer_flags="-Cunsafe-allow-abi-mismatch=sanitizer"

timings=$(mktemp)
trap 'rm -f "$timings"' EXIT
run_step() {
    local name=$1
    shift
    echo
    echo "=== $name ==="
    local start=$SECONDS
    "$@"
    local took=$((SECONDS - start))
    printf '%-8s %4d s\n' "$name" "$took" >>"$timings"
    echo "=== $name: passed in ${took} s ==="
}

# Runs the named steps one after the other in a subshell that stops at the first failure
# (`set -e` holds there whatever the caller's context).
run_steps() {
    (
        set -e
        for step in "$@"; do
            run_step "$step" "$step"
        done
    )
}

setup() {
    command -v rustup >/dev/null || {
        echo "verify.sh: rustup is needed (https://rustup.rs)" >&2
        exit 1
    }
    if ! rustup toolchain list | grep -q '^nightly'; then
        rustup toolchain install nightly --profile minimal
    fi
    # Idempotent: does nothing when the components are there.
    rustup component add miri rust-src --toolchain nightly
    host=$(rustc +nightly -vV | sed -n 's/^host: //p')
    if [[ " ${steps[*]} " == *" fuzz "* ]]; then
        if ! command -v c++ >/dev/null; then
            # libFuzzer is C++, built by libfuzzer-sys.
            local sudo=
            [ "$(id -u)" = 0 ] || sudo=sudo
            $sudo apt-get update
            $sudo apt-get install -y --no-install-recommends g++
        fi
        if ! cargo fuzz --version >/dev/null 2>&1; then
            cargo install cargo-fuzz --locked
        fi
    fi
}

loom() {
    # Every loom model: tests/loom*.rs (tests/loom.rs is the free list's and prints each
    # scenario's executions and time with --nocapture).
    local tests=()
    for file in tests/loom*.rs; do
        tests+=(--test "$(basename "$file" .rs)")
    done
    RUSTFLAGS="--cfg blockpool_loom" CARGO_TARGET_DIR="$targets/verify-loom" \
        cargo test --release --features async "${tests[@]}" -- --nocapture --test-threads=1
    # The statistics models need the `stats` counters, which the others do without (each
    # counter update would multiply their interleavings).
    RUSTFLAGS="--cfg blockpool_loom" CARGO_TARGET_DIR="$targets/verify-loom" \
        cargo test --release --features stats --test loom_stats -- --nocapture --test-threads=1
}

miri() {
    # The unit, integration and doc tests, as far as they run under Miri (the others
    # are `#[cfg_attr(miri, ignore)]`), with strict provenance (memory a test leaks on
    # purpose to give a pool `'static` memory is not an error)...
    # --cfg blockpool_test_hooks: the ABA and window tests too.
    RUSTFLAGS="--cfg blockpool_test_hooks" \
        MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-ignore-leaks" CARGO_TARGET_DIR="$targets/verify-miri" \
        cargo +nightly miri test --features stats,async,std
    # ...and the threaded test under many schedules.
    MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-ignore-leaks -Zmiri-many-seeds=0..$BLOCKPOOL_MIRI_SEEDS" \
        RUSTFLAGS="--cfg blockpool_test_hooks" CARGO_TARGET_DIR="$targets/verify-miri" \
        cargo +nightly miri test --test miri_threads --test miri_into_inner
}

tsan() {
    # -Zbuild-std: an instrumented std, so no suppressions are needed. The control test
    # checks that TSan is live and reports an unordered handoff of a block.
    # --cfg blockpool_test_hooks: pops yield inside their ABA window now and then.
    BLOCKPOOL_TSAN_CONTROL=expect TSAN_OPTIONS="halt_on_error=1" \
        RUSTFLAGS="-Zsanitizer=thread $sanitizer_flags --cfg blockpool_test_hooks" \
        CARGO_TARGET_DIR="$targets/verify-tsan" \
        cargo +nightly test -Zbuild-std --target "$host" --release --features std \
        --test tsan_stress --test cache -- --nocapture
}

asan() {
    # --cfg blockpool_asan: the pool poisons freed payloads. The ASan test expects a
    # report from a child process; the other two run the pool under poisoning and
    # must produce none.
    RUSTFLAGS="-Zsanitizer=address $sanitizer_flags --cfg blockpool_asan" \
        CARGO_TARGET_DIR="$targets/verify-asan" \
        cargo +nightly test --target "$host" \
        --test asan_use_after_free --test miri_threads --test tsan_stress
}

fuzz() {
    local log
    log=$(mktemp)
    # cargo-fuzz builds with ASan; --cfg blockpool_asan adds the pool's poisoning.
    set +e
    (
        cd fuzz
        RUSTFLAGS="--cfg blockpool_asan --cfg blockpool_test_hooks" cargo +nightly fuzz run pool_ops -- \
            -max_total_time="$BLOCKPOOL_FUZZ_SECONDS" -runs="$BLOCKPOOL_FUZZ_RUNS" \
            -print_final_stats=1
    ) 2>&1 | tee "$log" |
        grep --line-buffered -E '^(#[0-9]+[[:space:]]+(INITED|DONE|pulse)|Done|stat::)|ERROR|panicked|SUMMARY'
    local status=${PIPESTATUS[0]}
    set -e
    if [ "$status" != 0 ]; then
        tail -n 60 "$log"
        rm -f "$log"
        return "$status"
    fi
    local runs
    runs=$(sed -n 's/^Done \([0-9]*\) runs in.*/\1/p' "$log")
    rm -f "$log"
    if [ "$BLOCKPOOL_FUZZ_RUNS" -gt 0 ] && [ "${runs:-0}" -lt "$BLOCKPOOL_FUZZ_RUNS" ]; then
        echo "fuzz: only ${runs:-0} of $BLOCKPOOL_FUZZ_RUNS executions in ${BLOCKPOOL_FUZZ_SECONDS} s" >&2
        return 1
    fi
}

echo "verify.sh: steps: ${steps[*]}; $([ "$full" = 1 ] && echo full || echo quick) sizes:" \
    "LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS BLOCKPOOL_MIRI_SEEDS=$BLOCKPOOL_MIRI_SEEDS" \
    "BLOCKPOOL_TSAN_OPS=$BLOCKPOOL_TSAN_OPS BLOCKPOOL_FUZZ_SECONDS=$BLOCKPOOL_FUZZ_SECONDS" \
    "BLOCKPOOL_FUZZ_RUNS=$BLOCKPOOL_FUZZ_RUNS"
run_step setup setup
[ "$setup_only" = 0 ] || exit 0
others=()
for step in "${steps[@]}"; do
    [ "$step" = miri ] || others+=("$step")
done
beside=" (all at once)"
if [ "${BLOCKPOOL_VERIFY_SERIAL:-0}" = 1 ] || [ ${#others[@]} = ${#steps[@]} ] || [ ${#others[@]} = 0 ]; then
    beside=
    run_steps "${steps[@]}"
else
    # Miri here; every other step at the same time in the background, each into a log
    # printed after Miri's output. Their builds fill the second core while Miri
    # interprets on one, and their single-threaded runs (loom, fuzzing) overlap.
    lanes=$(mktemp -d)
    pids=()
    for step in "${others[@]}"; do
        run_steps "$step" >"$lanes/$step" 2>&1 &
        pids+=($!)
    done
    set +e
    run_steps miri
    miri_status=$?
    failed=()
    [ "$miri_status" = 0 ] || failed+=(miri)
    for i in "${!others[@]}"; do
        wait "${pids[$i]}" || failed+=("${others[$i]}")
    done
    set -e
    for step in "${others[@]}"; do
        echo
        echo "=== $step (run beside Miri): its output ==="
        cat "$lanes/$step"
    done
    rm -rf "$lanes"
    if [ ${#failed[@]} -gt 0 ]; then
        echo "verify.sh: failed: ${failed[*]}" >&2
        exit 1
    fi
fi
echo
echo "verify.sh: all passed. Wall time per step$beside:"
sed 's/^/  /' "$timings"
