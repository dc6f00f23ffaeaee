#!/usr/bin/env bash
# Every CI step of blockpool's heap (`src/heap/`, issue 16), in one script:
#
#  1. lint: rustfmt, clippy (host, thumbv7em, thumbv6m; the heap firmware) and rustdoc
#     with the heap's features (the MSRV build with them is scripts/test.sh's);
#  2. host tests: the class/arena unit tests, tests/heap.rs (bad input, realloc,
#     threads with Vec/Box/String and raw traffic), tests/heap_global.rs (the heap as
#     std's #[global_allocator], 4 threads with Vec/Box/String/BTreeMap),
#     tests/heap_signal.rs (signal handlers as interrupts), the heap's doctests;
#  3. negative control: a heap built with `--cfg blockpool_heap_broken` (every eighth
#     free pushes its block twice) must fail tests/heap.rs and tests/heap_signal.rs;
#  4. loom: the arena's bump (tests/heap_loom.rs), and its naive-bump control;
#  5. Miri (strict provenance) on the unit tests, tests/heap.rs and tests/heap_global.rs;
#  6. cargo-fuzz: fuzz/fuzz_targets/heap.rs against its model;
#  7. firmware under QEMU: firmware/src/bin/heap.rs (Vec, Box, String, BTreeMap from
#     thread mode and two interrupt priorities; accounting) on the M3 and M4F (LL/SC)
#     and the M0 (critical sections), its negative control (a leaked Box must fail
#     it), and the heap `static` in `.bss`;
#  8. instruction counts (firmware/src/bin/heap_cost.rs, M4F and M0, traced under QEMU)
#     of alloc and dealloc beside embedded-alloc's LlffHeap and TlsfHeap, with the
#     guard alloc+dealloc <= 1/5 of TLSF's on the M4F, and no `cpsid` in the heap's
#     code on the M4F (with its control: the check finds the peers'); arena utilisation
#     (firmware/src/bin/heap_util.rs) beside both.
#
#   scripts/heap.sh                 everything
#   scripts/heap.sh firmware counts only these steps (lint host control loom miri fuzz
#                                   firmware counts)
#
# Sizes: BLOCKPOOL_SIGNAL_RUNS (signal-handler runs, default 20000), HEAP_FUZZ_SECONDS
# (default 15). Self-sufficient on a fresh Debian 12 machine with rustup: installs the
# targets, the nightly toolchain, miri, cargo-fuzz and QEMU when missing.
# Target directories: the loom and Miri builds share verify.sh's (target/verify-loom,
# target/verify-miri), with the same RUSTFLAGS, so neither rebuilds the other's deps.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/target/heap-ci"
mkdir -p "$out"
HEAP_FUZZ_SECONDS="${HEAP_FUZZ_SECONDS:-15}"

all_steps=(lint host control loom miri fuzz firmware counts)
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=("${all_steps[@]}")
wants() { [[ " ${steps[*]} " == *" $1 "* ]]; }

# section, apt_install (shared with firmware.sh)
# shellcheck source=scripts/lib/setup.sh
. "$root/scripts/lib/setup.sh"

# ------------------------------------------------------------------------------ setup
section "setup"
installed="$(rustup target list --installed)"
for t in thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
rustup component add clippy rustfmt >/dev/null 2>&1 || true
if wants miri || wants fuzz; then
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    rustup component add miri rust-src --toolchain nightly >/dev/null
fi
if wants fuzz; then
    command -v c++ >/dev/null || apt_install g++
    cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
fi
if wants firmware || wants counts; then
    command -v qemu-system-arm >/dev/null || apt_install qemu-system-arm
    command -v readelf >/dev/null || apt_install binutils
    if [ -z "${OBJDUMP:-}" ]; then
        # LLVM's objdump from rustup (matches the compiler); Debian's `llvm` otherwise.
        rustup component add llvm-tools >/dev/null 2>&1 || true
        OBJDUMP="$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-objdump 2>/dev/null | sed -n 1p || true)"
        if [ -z "$OBJDUMP" ] || [ ! -x "$OBJDUMP" ]; then
            command -v llvm-objdump >/dev/null || apt_install llvm
            OBJDUMP="$(command -v llvm-objdump)"
        fi
    fi
fi

timings=()
failed=()
step() {
    local name="$1"; shift
    local start=$SECONDS rc
    section "$name"
    set +e
    ( set -e; "$@" )
    rc=$?
    set -e
    timings+=("$(printf '%-34s %4d s' "$name" $((SECONDS - start)))")
    if [ "$rc" -ne 0 ]; then
        failed+=("$name")
        echo "!!! FAILED (status $rc): $name"
    fi
}

FEATURES=stats,allocator-api2

# ------------------------------------------------------------------------ 1. lint
lint() {
    # The heap's own files (the rest of the tree is scripts/test.sh's lint).
    rustfmt --edition 2021 --check src/heap/mod.rs tests/heap.rs tests/heap_global.rs \
        tests/heap_signal.rs tests/heap_loom.rs fuzz/fuzz_targets/heap.rs bench/src/heap.rs
    cargo clippy -q -p blockpool --lib --test heap --test heap_global --test heap_signal \
        --features "$FEATURES" -- -D warnings
    for t in thumbv7em-none-eabihf thumbv6m-none-eabi; do
        cargo clippy -q -p blockpool --target "$t" --features "$FEATURES" -- -D warnings
        cargo clippy -q -p blockpool --target "$t" -- -D warnings
    done
    # rustdoc: no warning in the heap's docs (the rest of the crate is test.sh's lint).
    local f
    for f in "" "$FEATURES"; do
        cargo doc -q -p blockpool --no-deps ${f:+--features "$f"} >"$out/doc.log" 2>&1 || { cat "$out/doc.log"; return 1; }
        if grep -A4 -E '^(warning|error)' "$out/doc.log" | grep -q 'src/heap/'; then
            cat "$out/doc.log"; echo "FAIL: rustdoc warns about the heap's docs"; return 1
        fi
    done
    (cd firmware && rustfmt --edition 2021 --check src/bin/heap.rs src/bin/heap_cost.rs src/bin/heap_util.rs &&
        cargo clippy -q --release --target thumbv7em-none-eabihf --bin heap --bin heap_cost --bin heap_util \
            --features heap-stats -- -D warnings)
    echo "lint ok"
}

# ------------------------------------------------------------------------ 2. host tests
host() {
    cargo test -q -p blockpool --features "$FEATURES" --lib heap::
    cargo test -q -p blockpool --features "$FEATURES" --test heap --test heap_global --test heap_signal
    cargo test -q -p blockpool --features "$FEATURES" --doc heap
}

# ------------------------------------------------------------------------ 3. negative control
control() {
    local log="$out/broken.log" t
    for t in heap heap_signal; do
        if RUSTFLAGS="--cfg blockpool_heap_broken" CARGO_TARGET_DIR="$root/target/heap-broken" \
            timeout 300 cargo test -q --release -p blockpool --features "$FEATURES" --test "$t" >"$log" 2>&1; then
            echo "FAIL: tests/$t.rs passed on a heap that hands blocks out twice"; return 1
        fi
        grep -qE "written by two owners|duplicated [1-9]" "$log" ||
            { cat "$log"; echo "FAIL: tests/$t.rs failed, but not by finding the double hand-out"; return 1; }
        grep -E "two owners|duplicated" "$log" | head -2
        echo "  -> tests/$t.rs failed on the broken heap, as it must"
    done
}

# ------------------------------------------------------------------------ 4. loom
loom() {
    RUSTFLAGS="--cfg blockpool_loom" CARGO_TARGET_DIR="$root/target/verify-loom" \
        cargo test -q --release --features async --test heap_loom -- --nocapture --test-threads=1 2>&1 |
        grep -vE '^ +[0-9]+:|^ +at |^stack backtrace|^note:|^thread'
}

# ------------------------------------------------------------------------ 5. Miri
miri() {
    RUSTFLAGS="--cfg blockpool_test_hooks" \
        MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-ignore-leaks" CARGO_TARGET_DIR="$root/target/verify-miri" \
        cargo +nightly miri test -q -p blockpool --features "$FEATURES" --lib --test heap --test heap_global -- heap:: \
        threads zero huge one_class realloc user allocator_api2
}

# ------------------------------------------------------------------------ 6. fuzz
fuzz() {
    # The flags of verify.sh's fuzz step, so that its build of the fuzz crate's
    # dependencies is reused (other flags rebuilt them all: 70 s of this step in CI).
    # Neither cfg changes the heap: its blocks do not go through `Box` (which poisons),
    # and no test hook is armed.
    (cd fuzz && RUSTFLAGS="--cfg blockpool_asan --cfg blockpool_test_hooks" \
        cargo +nightly fuzz run heap -- -max_total_time="$HEAP_FUZZ_SECONDS" 2>&1 | tail -3)
}

# ------------------------------------------------------------------------ firmware helpers
fw="$root/firmware"
# build TARGET BIN NAME FEATURES
build() {
    (cd "$fw" && cargo build -q --release --target "$1" --bin "$2" --features "$4")
    mkdir -p "$out/$1"
    cp "$fw/target/$1/release/$2" "$out/$1/$3"
}
machine_of() {
    case "$1" in
        thumbv7m-none-eabi) echo lm3s6965evb ;;
        thumbv7em-none-eabihf) echo mps2-an386 ;;
        thumbv6m-none-eabi) echo microbit ;;
    esac
}
run() {
    local t="$1" elf="$out/$1/$2"; shift 2
    timeout 120 qemu-system-arm -machine "$(machine_of "$t")" "$@" -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -kernel "$elf" 2> >(grep -v 'Timer with period zero' >&2)
}

# ------------------------------------------------------------------------ 7. firmware
firmware() {
    local t sym ndx where
    rm -rf "${out:?}"/thumbv*
    for t in thumbv7m-none-eabi thumbv7em-none-eabihf thumbv6m-none-eabi; do
        build "$t" heap heap heap-stats
        echo "--- $t on $(machine_of "$t")"
        run "$t" heap -icount shift=auto
    done
    build thumbv7m-none-eabi heap heap-leak heap-selftest-leak
    echo "--- negative control: a Box leaked on purpose"
    if run thumbv7m-none-eabi heap-leak -icount shift=auto | tee "$out/leak.log"; then
        echo "FAIL: the heap firmware passed although a Box was leaked"; return 1
    fi
    grep -q "blocks still in use" "$out/leak.log" || { echo "FAIL: it failed, but not for the leak"; return 1; }
    echo "  -> failed as it must"
    # The heap `static` lands in .bss (all zeros: no flash image, no copy at reset).
    for t in thumbv7em-none-eabihf thumbv6m-none-eabi; do
        sym="$(readelf -sW -C "$out/$t/heap" | awk '$8 ~ /^heap::HEAP::HEAP$/ && !found {print $7, $3; found = 1}')"
        [ -n "$sym" ] || { echo "FAIL: no symbol heap::HEAP::HEAP in $t/heap"; return 1; }
        ndx="${sym%% *}"
        where="$(readelf -SW "$out/$t/heap" | sed -n 's/^ *\[ *\([0-9]*\)\] \([^ ]*\) .*/\1 \2/p' | awk -v n="$ndx" '$1 == n {print $2}')"
        echo "  $t: the heap static (${sym##* } bytes) is in $where"
        [ "$where" = .bss ] || { echo "FAIL: the heap is not in .bss"; return 1; }
    done
}

# ------------------------------------------------------------------------ 8. counts
# segments TRACE: "function count" for each call of a measured function, counting every
# instruction from its entry until control is back in `cost_driver`.
segments() {
    awk '{ sym = $NF
           if (cur != "") { if (sym == "cost_driver") { print cur, n; cur = "" } else n++ }
           else if (prev == "cost_driver" && sym ~ /^(blockpool_heap|llff|tlsf)_(alloc|dealloc)$/) { cur = sym; n = 1 }
           prev = sym }' "$1"
}
count_target() {
    local t="$1" name="$2" features="$3" trace="$out/$1-$2.trace"
    build "$t" heap_cost "$name" "$features"
    rm -f "$trace"
    run "$t" "$name" -singlestep -d exec,nochain -D "$trace" >"$out/$t-$name.log"
    grep -q "PASS heap_cost" "$out/$t-$name.log" || { cat "$out/$t-$name.log"; return 1; }
    # Sizes 8 24 64 200, three calls each; the last of each (a warm heap).
    segments "$trace" | awk -v t="$t" -v b="$name" '
        { k = $1; seen[k]++; c = seen[k] - 1; size = int(c / 3); if (c % 3 == 2) v[k, size] = $2 }
        END { split("8 24 64 200", s, " ")
              for (i = 1; i <= 4; i++) {
                  ours = v["blockpool_heap_alloc", i - 1] + v["blockpool_heap_dealloc", i - 1]
                  tl = v["tlsf_alloc", i - 1] + v["tlsf_dealloc", i - 1]
                  printf "  %-22s %-13s %5d B  %4d %4d = %4d | %4d %4d = %4d | %4d %4d = %4d | %5.1f%%\n", t, b, s[i],
                      v["blockpool_heap_alloc", i - 1], v["blockpool_heap_dealloc", i - 1], ours,
                      v["llff_alloc", i - 1], v["llff_dealloc", i - 1], v["llff_alloc", i - 1] + v["llff_dealloc", i - 1],
                      v["tlsf_alloc", i - 1], v["tlsf_dealloc", i - 1], tl, 100 * ours / tl
                  print t, b, s[i], ours, tl > "/dev/stderr"
              } }' 2>>"$out/counts.txt"
}
counts() {
    rm -f "$out/counts.txt"
    echo "  executed instructions per call, warm heaps, callees included (critical sections too):"
    printf '  %-22s %-13s %7s  %-15s | %-15s | %-15s | %s\n' target build size "blockpool a+d" "LlffHeap a+d" "TlsfHeap a+d" "ours/TLSF"
    count_target thumbv7em-none-eabihf heap_cost heap
    count_target thumbv7em-none-eabihf heap_cost-stats heap-stats
    count_target thumbv6m-none-eabi heap_cost heap
    # Issue 16's goal: on the M4F (LL/SC), in the default build, alloc+dealloc <= 1/5 of TLSF's.
    awk '$1 == "thumbv7em-none-eabihf" && $2 == "heap_cost" { if ($4 * 5 > $5) { bad = 1; print "FAIL: " $3 " B: " $4 " > " $5 " / 5" } }
         END { exit bad }' "$out/counts.txt"
    echo "  M4F default build: alloc+dealloc within 1/5 of TLSF's at every size"
    # No interrupt masked by the heap on LL/SC targets: no `cpsid` in the heap's code
    # (the measured functions and every function of blockpool's heap module, LTO
    # inlining included). The same check must find `cpsid` in the peers' functions
    # and in the thumbv6m heap (critical sections), so it can fail.
    masking() { "$OBJDUMP" -d --no-show-raw-insn "$1" |
        awk '/^[0-9a-f]+ <.*>:$/ {name = $2} /cpsid/ {print name}' | sort -u; }
    local m7 m6
    m7="$(masking "$out/thumbv7em-none-eabihf/heap_cost")"
    m6="$(masking "$out/thumbv6m-none-eabi/heap_cost")"
    if grep -E 'blockpool_heap|blockpool4heap' <<<"$m7"; then
        echo "FAIL: the heap masks interrupts on thumbv7em"; return 1
    fi
    grep -q '<tlsf_alloc>' <<<"$m7" && grep -q '<llff_alloc>' <<<"$m7" &&
        grep -q '<blockpool_heap_alloc>' <<<"$m6" ||
        { echo "FAIL: the cpsid check found no masking where there is some: it cannot see it"; return 1; }
    echo "  thumbv7em: no cpsid in the heap's code (found in tlsf_*/llff_*, and in the thumbv6m heap: the check sees it)"
    build thumbv7em-none-eabihf heap_util heap_util heap
    run thumbv7em-none-eabihf heap_util | tee "$out/heap_util.log"
    grep -q "PASS heap_util" "$out/heap_util.log"
}

for s in "${steps[@]}"; do
    case "$s" in
        lint) step "1. lint" lint ;;
        host) step "2. host tests" host ;;
        control) step "3. negative control (broken heap)" control ;;
        loom) step "4. loom (arena bump)" loom ;;
        miri) step "5. Miri" miri ;;
        fuzz) step "6. fuzz (${HEAP_FUZZ_SECONDS} s)" fuzz ;;
        firmware) step "7. firmware under QEMU" firmware ;;
        counts) step "8. instruction counts, utilisation" counts ;;
        *) echo "heap.sh: unknown step '$s' (${all_steps[*]})" >&2; exit 2 ;;
    esac
done

section "timings"
printf '  %s\n' "${timings[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    section "FAILED: ${#failed[@]} step(s)"
    printf '  - %s\n' "${failed[@]}"
    exit 1
fi
section "all heap checks passed"
