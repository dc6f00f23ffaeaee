#!/usr/bin/env bash
# blockpool on the targets it is meant for (issue #4), in one script for CI:
#
#  1. cross-builds of the library for 9 targets (thumbv6m/v7m/v7em/v8m.main, thumbv8m.base
#     with nightly -Zbuild-std=core, riscv32imac, riscv32imc, i686 and aarch64 Linux),
#     with default features and with the test hooks (`--cfg blockpool_test_hooks`);
#  2. the stress firmware under qemu-system-arm: Cortex-M3 (lm3s6965evb, LL/SC backend),
#     Cortex-M4F (mps2-an386, LL/SC, hard float), Cortex-M0 (microbit, critical section),
#     thumbv8m.base on a Cortex-M33 (mps2-an505, LL/SC);
#     plus its negative control (a leaked block must make it fail);
#  3. the window test (an interrupt pended inside pop's ldrex/strex window) on the M3,
#     the M4F and the M33 (v8-M baseline code), and on the M4F with `single-core`, whose
#     push is interrupted inside its in-window attempt too;
#  4. the example firmware on the three machines;
#  5. the disassembly check (scripts/check-disassembly.sh: self-test on fixtures, then
#     the real pop/push of thumbv7m, thumbv7em, thumbv8m.main and thumbv6m, and the
#     rejection of a real heapless-0.7-style pop compiled by rustc);
#  6. the instruction counts of the alloc and free fast paths (static, and executed
#     under QEMU one instruction per translation block);
#  7. where pool storage lands: `.data` under 64 bytes with two 32 KiB pools, the pools
#     in `.bss`, `#[link_section]` pools in `.pool_ram` (and a negative control); a host
#     binary whose size does not grow with its pool's block count;
#  8. RISC-V (riscv32imac, riscv32imc; critical-section backend) under
#     qemu-system-riscv32 -machine virt: thread code against the CLINT machine-timer
#     interrupt on three pools (firmware-riscv/), plus its negative control;
#  9. blockpool's `alloc_async` under embassy-executor on the M3 (thread-mode raw
#     executor, frees in SysTick, 1 to 12 waiters, a canceller): FIFO order, one wake per
#     free, executor passes per block bounded; plus two negative controls (a waiter that
#     jumps the queue, a busy-polling waiter).
#
# Self-sufficient on a fresh Debian 12 machine with rustup (installs targets, QEMU and
# llvm-objdump when missing). Exits non-zero on any failure. A few minutes.

set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fw="$root/firmware"
out="$root/target/firmware-ci"   # ELFs and logs of this run
mkdir -p "$out"

QEMU_TIMEOUT="${QEMU_TIMEOUT:-120}"
# ARMv8-M baseline: `rustup target add` cannot install it here, so it is built with
# nightly and `-Zbuild-std=core`, and run on mps2-an505 (a Cortex-M33 executes v8-M
# baseline code; QEMU has no Cortex-M23).
V8M_BASE=(thumbv8m.base-none-eabi)
LIB_TARGETS=(
    thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf
    riscv32imac-unknown-none-elf riscv32imc-unknown-none-elf
    i686-unknown-linux-gnu aarch64-unknown-linux-gnu
)

# section, apt_install (shared with heap.sh)
# shellcheck source=scripts/lib/setup.sh
. "$root/scripts/lib/setup.sh"

# ------------------------------------------------------------------------------ setup
section "setup"

installed_targets="$(rustup target list --installed)"
missing=()
for t in "${LIB_TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed_targets" || missing+=("$t")
done
if [ "${#missing[@]}" -gt 0 ]; then rustup target add "${missing[@]}"; fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup component list --toolchain nightly --installed | grep -q '^rust-src' ||
    rustup component add rust-src --toolchain nightly
# cargo_for TARGET: the cargo command line that builds for TARGET.
cargo_for() {
    case "$1" in
        thumbv8m.base-*) echo "cargo +nightly" ;;
        *) echo "cargo" ;;
    esac
}
build_std_for() {
    case "$1" in
        thumbv8m.base-*) echo "-Zbuild-std=core" ;;
    esac
}

command -v qemu-system-arm >/dev/null || apt_install qemu-system-arm
command -v qemu-system-riscv32 >/dev/null || apt_install qemu-system-misc
command -v timeout >/dev/null || apt_install coreutils
if [ -z "${OBJDUMP:-}" ]; then
    if command -v llvm-objdump >/dev/null; then
        OBJDUMP="$(command -v llvm-objdump)"
    else
        # LLVM's objdump from rustup (matches the compiler); Debian's `llvm` otherwise.
        if rustup component add llvm-tools >/dev/null 2>&1 || rustup component add llvm-tools-preview >/dev/null 2>&1; then
            OBJDUMP="$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-objdump 2>/dev/null | sed -n 1p || true)"
        fi
        if [ -z "${OBJDUMP:-}" ] || [ ! -x "$OBJDUMP" ]; then
            apt_install llvm
            OBJDUMP="$(command -v llvm-objdump)"
        fi
    fi
fi
export OBJDUMP
echo "rustc: $(rustc --version)"
echo "qemu:  $(qemu-system-arm --version | sed -n 1p)"
echo "objdump: $OBJDUMP"

# Each step runs in a subshell with `set -e`; a failed step is recorded and the script
# goes on, so that one run shows every result; it exits non-zero if any step failed.
failed=()
step() {
    local name="$1"; shift
    set +e
    ( set -e; "$@" )
    local rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        failed+=("$name")
        echo "!!! step FAILED (status $rc): $name"
    fi
}

# ------------------------------------------------------------------ 1. cross-builds
cross_build() {
    local t="$1" hooks="$2" log="$out/build-$1-${2:-default}.log"
    printf '  %-28s %-12s ' "$t" "${hooks:-default}"
    local rustflags="" dir="$root/target/cross"
    if [ -n "$hooks" ]; then rustflags="--cfg blockpool_test_hooks" dir="$root/target/cross-hooks"; fi
    # shellcheck disable=SC2046
    if RUSTFLAGS="$rustflags" $(cargo_for "$t") build -q -p blockpool --release --target "$t" \
        $(build_std_for "$t") --target-dir "$dir" 2>"$log"; then
        echo ok
    else
        echo FAILED; cat "$log"; return 1
    fi
}
section "1. library cross-builds (default features, then with the test hooks)"
cd "$root"
for t in "${LIB_TARGETS[@]}" "${V8M_BASE[@]}"; do
    for hooks in "" "test-hooks"; do
        step "cross-build $t ${hooks:-default}" cross_build "$t" "$hooks"
    done
done

# -------------------------------------------------------------------- firmware builds
cd "$fw"
# build TARGET BIN NAME [cargo args...]: builds one firmware binary, copies it to $out.
# With HOOKS=1, blockpool's test hooks (`--cfg blockpool_test_hooks`, through RUSTFLAGS:
# the link script comes from build.rs, so nothing else is lost) into a target directory
# of their own.
build() {
    local target="$1" bin="$2" name="$3"; shift 3
    local rustflags="" dir="$fw/target"
    if [ "${HOOKS:-0}" = 1 ]; then rustflags="--cfg blockpool_test_hooks" dir="$fw/target/hooks"; fi
    # shellcheck disable=SC2046
    RUSTFLAGS="$rustflags" $(cargo_for "$target") build -q --release --target "$target" \
        $(build_std_for "$target") --target-dir "$dir" --bin "$bin" "$@"
    mkdir -p "$out/$target"
    cp "$dir/$target/release/$bin" "$out/$target/$name"
    echo "  built $target/$name"
}
section "firmware builds"
# Stale ELFs from an earlier run must not stand in for a failed build.
rm -rf "${out:?}"/thumbv* "${out:?}"/riscv32*
for t in thumbv7m-none-eabi thumbv7em-none-eabihf thumbv6m-none-eabi "${V8M_BASE[@]}"; do
    for bin in stress example fastpath; do
        step "build $t $bin" build "$t" "$bin" "$bin"
    done
done
step "build thumbv8m.main fastpath" build thumbv8m.main-none-eabihf fastpath fastpath
for t in thumbv7m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf; do
    step "build $t fastpath (single-core)" build "$t" fastpath fastpath-single --features single-core
done
for t in thumbv6m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf "${V8M_BASE[@]}"; do
    step "build $t placed" build "$t" placed placed --features placed
done
step "build placed-control" build thumbv7em-none-eabihf placed placed-control --features placed-control
# The configuration the README gives single-core Cortex-M users: the push's attempt with
# the link stored inside the window, and its fallback loop, under preemption.
step "build thumbv7em stress (single-core)" build thumbv7em-none-eabihf stress stress-single --features single-core
step "build stress-selftest-leak" build thumbv7m-none-eabi stress stress-selftest-leak --features selftest-leak
# The window test needs blockpool's test hooks.
for t in thumbv7m-none-eabi thumbv7em-none-eabihf "${V8M_BASE[@]}"; do
    HOOKS=1 step "build $t window" build "$t" window window --features test-hooks
done
# ... and with `single-core`: the push's in-window attempt interrupted as well.
HOOKS=1 step "build thumbv7em window (single-core)" build thumbv7em-none-eabihf window window-single --features test-hooks,single-core
# The embassy-executor firmware (the only build with blockpool's `async` feature) and its
# negative controls.
step "build thumbv7m embassy" build thumbv7m-none-eabi embassy embassy --features embassy
for control in embassy-jumper embassy-busy; do
    step "build $control" build thumbv7m-none-eabi embassy "$control" --features "$control"
done

# run MACHINE ELF [extra qemu args...]: runs a firmware; its exit status is the verdict.
run() {
    local machine="$1" elf="$2"; shift 2
    [ -f "$elf" ] || { echo "no $elf (its build failed)"; return 1; }
    timeout "$QEMU_TIMEOUT" qemu-system-arm -machine "$machine" "$@" -nographic -monitor none \
        -serial none -semihosting-config enable=on,target=native -kernel "$elf" \
        2> >(grep -v 'Timer with period zero' >&2)
}
machine_of() {
    case "$1" in
        thumbv7m-none-eabi) echo lm3s6965evb ;;
        thumbv7em-none-eabihf) echo mps2-an386 ;;
        thumbv6m-none-eabi) echo microbit ;;
        thumbv8m.base-none-eabi) echo mps2-an505 ;;
    esac
}
# run_each N BIN TARGET...: runs firmware BIN of each TARGET on its machine, each as
# the step "BIN TARGET on MACHINE" under the heading "N. BIN: TARGET on MACHINE".
run_each() {
    local n="$1" bin="$2" t m; shift 2
    for t in "$@"; do
        m="$(machine_of "$t")"
        section "$n. $bin: $t on $m"
        step "$bin $t on $m" run "$m" "$out/$t/$bin" -icount shift=auto
    done
}

# ----------------------------------------------------------------- 2. stress tests
# -icount: virtual time follows the instructions executed, so interrupts are taken at
# exact instruction boundaries (also in the middle of a translation block, e.g. inside
# an ldrex/strex window), not only between QEMU's translation blocks.
run_each 2 stress thumbv7m-none-eabi thumbv7em-none-eabihf thumbv6m-none-eabi "${V8M_BASE[@]}"
section "2. stress: thumbv7em-none-eabihf, single-core feature, on mps2-an386"
step "stress thumbv7em single-core" run mps2-an386 "$out/thumbv7em-none-eabihf/stress-single" -icount shift=auto

leak_control() {
    [ -f "$out/thumbv7m-none-eabi/stress-selftest-leak" ] || { echo "not built"; return 1; }
    if run lm3s6965evb "$out/thumbv7m-none-eabi/stress-selftest-leak" -icount shift=auto \
        | tee "$out/selftest-leak.log"; then
        echo "FAIL: the stress firmware passed although a block was leaked"; return 1
    fi
    grep -q "lost" "$out/selftest-leak.log" || { echo "FAIL: it failed, but not for the leak"; return 1; }
    echo "  -> failed as it must (exit status non-zero, block reported lost)"
}
section "2. stress negative control: a block leaked on purpose must fail the run"
step "stress negative control (leak)" leak_control

# ---------------------------------------------------------------- 3. window tests
# -icount also makes QEMU take the pended interrupt right after the store to the NVIC
# (an I/O access ends its translation block), i.e. before the strex, as a Cortex-M does
# within a few cycles. Without it QEMU takes it only after the strex and the test fails.
run_each 3 window thumbv7m-none-eabi thumbv7em-none-eabihf "${V8M_BASE[@]}"
section "3. window: thumbv7em-none-eabihf, single-core feature (the push's window too), on mps2-an386"
step "window thumbv7em single-core" run mps2-an386 "$out/thumbv7em-none-eabihf/window-single" -icount shift=auto

# ---------------------------------------------------------------- 4. example
run_each 4 example thumbv7m-none-eabi thumbv7em-none-eabihf thumbv6m-none-eabi "${V8M_BASE[@]}"

# ---------------------------------------------------------------- 5. disassembly
check="$root/scripts/check-disassembly.sh"
section "5. disassembly check"
step "disassembly checker self-test" "$check" --self-test
for t in thumbv7m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf "${V8M_BASE[@]}"; do
    step "disassembly $t" "$check" "$out/$t/fastpath" llsc-m
done
step "disassembly thumbv6m" "$check" "$out/thumbv6m-none-eabi/fastpath" cs
for t in thumbv7m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf; do
    step "disassembly $t single-core" "$check" "$out/$t/fastpath-single" llsc-m-single
done

# A real, rustc-compiled heapless-0.7-style pop (window.rs's control) must be rejected.
reject_naive() {
    local elf="$out/thumbv7em-none-eabihf/window" sym
    [ -f "$elf" ] || { echo "no $elf (its build failed)"; return 1; }
    sym="$("$OBJDUMP" -t "$elf" | awk '/naive3pop/ && s == "" {s = $NF} END {print s}')"
    echo "rustc-compiled heapless-0.7-style pop ($sym):"
    if "$OBJDUMP" -d --no-show-raw-insn --disassemble-symbols="$sym" "$elf" \
        | "$check" --listing llsc-pop naive::pop; then
        echo "FAIL: the checker accepted the naive pop"; return 1
    fi
    echo "  -> rejected, as it must be"
}
step "disassembly checker rejects a compiled heapless-0.7 pop" reject_naive

# ---------------------------------------------------------------- 6. fast-path cost
# One instruction per translation block and a log line per block executed: the trace
# is the exact instruction stream. `-singlestep` is QEMU <= 8.0's spelling.
trace() {
    local machine="$1" elf="$2" log="$3"
    if ! timeout 60 qemu-system-arm -machine "$machine" -accel tcg,one-insn-per-tb=on -d exec,nochain \
        -D "$log" -nographic -monitor none -serial none -semihosting-config enable=on,target=native \
        -kernel "$elf" 2>/dev/null; then
        timeout 60 qemu-system-arm -machine "$machine" -singlestep -d exec,nochain -D "$log" \
            -nographic -monitor none -serial none -semihosting-config enable=on,target=native \
            -kernel "$elf" 2> >(grep -v 'Timer with period zero' >&2)
    fi
}
# count TARGET [ELF-NAME]: prints (and records in $out/counts.txt) each fast path's
# executed and static instruction count.
count() {
    local t="$1" name="${2:-fastpath}" m log f executed static
    m="$(machine_of "$t")"
    log="$out/$t/$name.trace"
    rm -f "$log"
    [ -f "$out/$t/$name" ] || { echo "no $name ELF for $t"; return 1; }
    trace "$m" "$out/$t/$name" "$log"
    # "Trace 0: 0xHOST [flags/PC/...] symbol": count consecutive lines per symbol; keep
    # the last call of each function (a fast path: see fastpath.rs).
    awk '{ sym = $NF
           if (sym != prev) { if (prev ~ /^(blockpool|heapless|atomic_pool)_/) last[prev] = n; n = 0 }
           n++; prev = sym }
         END { if (prev ~ /^(blockpool|heapless|atomic_pool)_/) last[prev] = n
               for (s in last) print s, last[s] }' "$log" | sort > "$out/$t/$name.counts"
    for f in blockpool_alloc blockpool_free blockpool_alloc_static blockpool_free_static \
        blockpool_alloc_direct blockpool_free_direct heapless_alloc heapless_free \
        atomic_pool_alloc atomic_pool_free; do
        executed="$(awk -v f="$f" '$1 == f {print $2}' "$out/$t/$name.counts")"
        if [ -z "$executed" ]; then
            case "$f" in heapless_*) continue ;; esac  # no heapless pool on thumbv6m
            echo "FAIL: no trace of $f on $t"; return 1
        fi
        static="$("$OBJDUMP" -d --no-show-raw-insn --disassemble-symbols="$f" "$out/$t/$name" | grep -cE '^ *[0-9a-f]+:')"
        printf '  %-24s %-14s %-24s %8s %8s\n' "$t" "$name" "$f" "$executed" "$static"
        echo "$t $name $f $executed" >> "$out/counts.txt"
    done
}
# guard TARGET NAME FUNCTION MAX: the executed count must not exceed MAX (the numbers
# in firmware/README.md; raise them only with a reason).
guard() {
    local got
    got="$(awk -v t="$1" -v n="$2" -v f="$3" '$1 == t && $2 == n && $3 == f {print $4}' "$out/counts.txt")"
    [ -n "$got" ] || { echo "FAIL: no count for $1 $2 $3"; return 1; }
    [ "$got" -le "$4" ] || { echo "FAIL: $1 $2 $3 executes $got instructions (at most $4 allowed)"; return 1; }
}
section "6. fast-path instruction counts"
rm -f "$out/counts.txt"
printf '  %-24s %-14s %-24s %8s %8s\n' target firmware function executed static
for t in thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi; do
    step "instruction counts $t" count "$t"
done
for t in thumbv7em-none-eabihf thumbv7m-none-eabi; do
    step "instruction counts $t single-core" count "$t" fastpath-single
done
guard_counts() {
    local t f peer
    # peer T FUNCTION: heapless 0.9.4's count of FUNCTION in T's single-core firmware.
    peer() { awk -v t="$1" -v f="$2" '$1 == t && $2 == "fastpath-single" && $3 == f {print $4}' "$out/counts.txt"; }
    for t in thumbv7em-none-eabihf thumbv7m-none-eabi; do
        # The grown pool's alloc: 11 (10 single-core) until the caching layer (issue 14)
        # put a flush request on its empty path, which costs the fast path a second
        # `cbz` (see firmware/README.md).
        guard "$t" fastpath blockpool_alloc 12
        guard "$t" fastpath blockpool_free 13
        guard "$t" fastpath blockpool_alloc_static 12
        guard "$t" fastpath blockpool_free_static 13
        guard "$t" fastpath blockpool_alloc_direct 12
        guard "$t" fastpath blockpool_free_direct 11
        guard "$t" fastpath-single blockpool_alloc 11
        guard "$t" fastpath-single blockpool_free 9
        guard "$t" fastpath-single blockpool_alloc_static 11
        guard "$t" fastpath-single blockpool_free_static 9
        guard "$t" fastpath-single blockpool_alloc_direct 11
        guard "$t" fastpath-single blockpool_free_direct 7
        # Issue 13's goal: in the single-core build, every alloc and free within heapless
        # 0.9.4's, measured in the same firmware.
        for f in blockpool_alloc blockpool_alloc_static blockpool_alloc_direct; do
            guard "$t" fastpath-single "$f" "$(peer "$t" heapless_alloc)"
        done
        for f in blockpool_free blockpool_free_static blockpool_free_direct; do
            guard "$t" fastpath-single "$f" "$(peer "$t" heapless_free)"
        done
    done
    # ... and within atomic-pool 2.0's in every build, thumbv6m's critical sections included.
    for t in thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi; do
        for f in blockpool_alloc blockpool_alloc_static blockpool_alloc_direct; do
            guard "$t" fastpath "$f" "$(awk -v t="$t" '$1 == t && $2 == "fastpath" && $3 == "atomic_pool_alloc" {print $4}' "$out/counts.txt")"
        done
        for f in blockpool_free blockpool_free_static blockpool_free_direct; do
            guard "$t" fastpath "$f" "$(awk -v t="$t" '$1 == t && $2 == "fastpath" && $3 == "atomic_pool_free" {print $4}' "$out/counts.txt")"
        done
    done
    guard thumbv6m-none-eabi fastpath blockpool_alloc 13
    guard thumbv6m-none-eabi fastpath blockpool_free 11
    guard thumbv6m-none-eabi fastpath blockpool_alloc_static 13
    guard thumbv6m-none-eabi fastpath blockpool_free_static 11
    guard thumbv6m-none-eabi fastpath blockpool_alloc_direct 14
    guard thumbv6m-none-eabi fastpath blockpool_free_direct 10
    echo "  counts within the limits of firmware/README.md"
}
step "instruction counts within their limits" guard_counts
echo "  executed: instructions run from the function's first one to its return (the"
echo "  call frame push/mov/pop included, the caller's bl not), on the fast path (a pop"
echo "  from a non-empty list, a push, no retry); static: the whole function, cold paths"
echo "  included. blockpool_alloc/free: pool!(T) grown from memory (Pool<T>);"
echo "  *_static: pool!(T, blocks = N) (StaticPool); *_direct: a StaticPool used directly"
echo "  (two-word box); heapless_*: heapless 0.9.4 box_pool!; atomic_pool_*: atomic-pool"
echo "  2.0 pool!; both in the same firmware."

# ------------------------------------------------------- 7. where pool storage lands
# Issue 13: a pool's storage starts all zeros, so it is `.bss` (no flash image, no copy
# at reset); `#[link_section]` given to `pool!`/`arc_pool!` places the pool's blocks.
# section_of ELF SYMBOL: the name of the section that holds SYMBOL (demangled).
section_of() {
    local elf="$1" sym="$2" ndx
    # (nightly's demangler writes `<placed::Fixed>::instance::POOL`)
    ndx="$(readelf -sW -C "$elf" | awk -v s="$sym" '{n = $8; gsub(/[<>]/, "", n)} n == s {print $7; exit}')"
    [ -n "$ndx" ] || { echo "no symbol $sym"; return 1; }
    readelf -SW "$elf" | sed -n 's/^ *\[ *\([0-9]*\)\] \([^ ]*\) .*/\1 \2/p' | awk -v n="$ndx" '$1 == n {print $2}'
}
# storage_check ELF: .data under 64 bytes; the 32 KiB pools, an arc_pool! and a
# [Block<T>; N] in .bss; the placed ones in .pool_ram.
storage_check() {
    local elf="$1" data sym where
    [ -f "$elf" ] || { echo "no $elf (its build failed)"; return 1; }
    data="$(readelf -SW "$elf" | sed -n 's/^ *\[ *[0-9]*\] \.data  *[A-Z]*  *[0-9a-f]*  *[0-9a-f]*  *\([0-9a-f]*\) .*/\1/p')"
    data="$((16#${data:-0}))"
    printf '  %-60s .data %6s bytes\n' "${elf#"$out"/}" "$data"
    for sym in placed::STATIC_POOL placed::Fixed::instance::POOL \
        placed::Shared::instance::POOL placed::GROW_MEMORY \
        placed::Placed::instance::POOL placed::PlacedArc::instance::POOL; do
        where="$(section_of "$elf" "$sym")"
        printf '    %-44s in %s\n' "$sym" "$where"
        case "$sym" in
            *Placed*) [ "$where" = .pool_ram ] || { echo "FAIL: $sym is not in .pool_ram"; return 1; } ;;
            *) [ "$where" = .bss ] || { echo "FAIL: $sym is not in .bss"; return 1; } ;;
        esac
    done
    [ "$data" -lt 64 ] || { echo "FAIL: .data is $data bytes (limit 63)"; return 1; }
}
storage_control() {
    if storage_check "$out/thumbv7em-none-eabihf/placed-control"; then
        echo "FAIL: the check passed a firmware with a non-zero ObjectPool in .data"; return 1
    fi
    echo "  -> the negative control (ObjectPool with a non-zero value) failed the check, as it must"
}
# The host: a binary's size does not grow with its pool's block count.
host_size() {
    local small big control
    cd "$root"
    BLOCKPOOL_STORAGE_BLOCKS=16 BLOCKPOOL_STORAGE_CONTROL=0 cargo build -q --release --example storage_size
    small="$(stat -c %s target/release/examples/storage_size)"
    BLOCKPOOL_STORAGE_BLOCKS=1024 BLOCKPOOL_STORAGE_CONTROL=0 cargo build -q --release --example storage_size
    big="$(stat -c %s target/release/examples/storage_size)"
    ./target/release/examples/storage_size >/dev/null
    BLOCKPOOL_STORAGE_BLOCKS=1024 BLOCKPOOL_STORAGE_CONTROL=1 cargo build -q --release --example storage_size
    control="$(stat -c %s target/release/examples/storage_size)"
    echo "  host StaticPool<[u8; 4096], N>: file $small bytes with N = 16, $big with N = 1024;"
    echo "  with the control (an ObjectPool of 1024 non-zero 4 KiB blocks): $control"
    [ $((big - small)) -lt 4096 ] || { echo "FAIL: the binary grew by $((big - small)) bytes"; return 1; }
    [ $((control - big)) -ge $((4096 * 1024)) ] || { echo "FAIL: the control did not grow: the check cannot see .data"; return 1; }
}
section "7. pool storage: .bss, #[link_section] placement"
for t in thumbv6m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf "${V8M_BASE[@]}"; do
    step "storage $t" storage_check "$out/$t/placed"
done
step "placed firmware on mps2-an386 (blocks handed out from .pool_ram)" \
    run mps2-an386 "$out/thumbv7em-none-eabihf/placed"
step "storage check negative control" storage_control
step "host binary size independent of N" host_size

# ---------------------------------------------------------------- 8. RISC-V
# firmware-riscv/: thread code and the CLINT machine-timer interrupt on three pools
# (critical-section backend), on qemu-system-riscv32 -machine virt; the exit status
# comes from the machine's sifive_test device. Plus its negative control.
rv="$root/firmware-riscv"
rv_build() {
    local target="$1" name="$2"; shift 2
    (cd "$rv" && cargo build -q --release --target "$target" "$@")
    mkdir -p "$out/$target"
    cp "$rv/target/$target/release/blockpool-firmware-riscv" "$out/$target/$name"
    echo "  built $target/$name"
}
rv_run() {
    local elf="$1"
    [ -f "$elf" ] || { echo "no $elf (its build failed)"; return 1; }
    timeout "$QEMU_TIMEOUT" qemu-system-riscv32 -machine virt -bios none -display none \
        -monitor none -serial stdio -kernel "$elf"
}
rv_leak_control() {
    local elf="$out/riscv32imac-unknown-none-elf/riscv-selftest-leak"
    [ -f "$elf" ] || { echo "not built"; return 1; }
    if rv_run "$elf" | tee "$out/riscv-selftest-leak.log"; then
        echo "FAIL: the RISC-V firmware passed although a block was leaked"; return 1
    fi
    grep -q "lost" "$out/riscv-selftest-leak.log" || { echo "FAIL: it failed, but not for the leak"; return 1; }
    echo "  -> failed as it must (exit status non-zero, block reported lost)"
}
for t in riscv32imac-unknown-none-elf riscv32imc-unknown-none-elf; do
    section "8. RISC-V: $t on qemu virt, CLINT timer interrupt against thread code"
    step "build $t riscv" rv_build "$t" riscv
    step "riscv $t on virt" rv_run "$out/$t/riscv"
done
section "8. RISC-V negative control: a block leaked on purpose must fail the run"
step "build riscv selftest-leak" rv_build riscv32imac-unknown-none-elf riscv-selftest-leak --features selftest-leak
step "riscv negative control (leak)" rv_leak_control

# ---------------------------------------------------------------- 9. embassy
# firmware/src/bin/embassy.rs: waiting futures under embassy-executor's raw executor in
# thread mode, blocks freed by the SysTick handler; the firmware checks the order, the
# wake-ups, the cancellations, every block, and bounds the executor's passes per block.
section "9. embassy-executor: thumbv7m-none-eabi on lm3s6965evb, frees in SysTick"
step "embassy thumbv7m on lm3s6965evb" run lm3s6965evb "$out/thumbv7m-none-eabi/embassy" -icount shift=auto
# embassy_control NAME MESSAGE: the control firmware NAME must fail, with MESSAGE.
embassy_control() {
    local name="$1" want="$2" elf="$out/thumbv7m-none-eabi/$1"
    [ -f "$elf" ] || { echo "not built"; return 1; }
    if run lm3s6965evb "$elf" -icount shift=auto | tee "$out/$name.log"; then
        echo "FAIL: the embassy firmware passed although $name was built in"; return 1
    fi
    grep -q "$want" "$out/$name.log" || { echo "FAIL: it failed, but not with '$want'"; return 1; }
    echo "  -> failed as it must ('$want')"
}
section "9. embassy negative controls: a queue-jumping waiter must fail the order checks, a busy-polling one the passes check"
step "embassy negative control (jumper)" embassy_control embassy-jumper "FAIL: order"
step "embassy negative control (busy)" embassy_control embassy-busy "FAIL: passes grow"

# ---------------------------------------------------------------- verdict
if [ "${#failed[@]}" -ne 0 ]; then
    section "FAILED: ${#failed[@]} step(s)"
    printf '  - %s\n' "${failed[@]}"
    exit 1
fi
section "all firmware checks passed"
