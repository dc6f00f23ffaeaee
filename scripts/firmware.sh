#!/usr/bin/env bash
# blockpool on the targets it is meant for (issue #4), in one script for CI:
#
#  1. cross-builds of the library for 8 targets (thumbv6m/v7m/v7em/v8m.main, riscv32imac,
#     riscv32imc, i686 and aarch64 Linux), with default features and with test-hooks;
#  2. the stress firmware under qemu-system-arm: Cortex-M3 (lm3s6965evb, LL/SC backend),
#     Cortex-M4F (mps2-an386, LL/SC, hard float), Cortex-M0 (microbit, critical section);
#     plus its negative control (a leaked block must make it fail);
#  3. the window test (an interrupt pended inside pop's ldrex/strex window) on the M3
#     and the M4F;
#  4. the example firmware on the three machines;
#  5. the disassembly check (scripts/check-disassembly.sh: self-test on fixtures, then
#     the real pop/push of thumbv7m, thumbv7em, thumbv8m.main and thumbv6m, and the
#     rejection of a real heapless-0.7-style pop compiled by rustc);
#  6. the instruction counts of the alloc and free fast paths (static, and executed
#     under QEMU one instruction per translation block);
#  7. where pool storage lands: `.data` under 64 bytes with two 32 KiB pools, the pools
#     in `.bss`, `#[link_section]` pools in `.pool_ram` (and a negative control); a host
#     binary whose size does not grow with its pool's block count.
#
# Self-sufficient on a fresh Debian 12 machine with rustup (installs targets, QEMU and
# llvm-objdump when missing). Exits non-zero on any failure. A few minutes.

set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fw="$root/firmware"
out="$root/target/firmware-ci"   # ELFs and logs of this run
mkdir -p "$out"

QEMU_TIMEOUT="${QEMU_TIMEOUT:-120}"
V8M_BASE=()   # thumbv8m.base-none-eabi once its nightly build is set up (below)
LIB_TARGETS=(
    thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf
    riscv32imac-unknown-none-elf riscv32imc-unknown-none-elf
    i686-unknown-linux-gnu aarch64-unknown-linux-gnu
)

section() { printf '\n=== %s\n' "$*"; }

# ------------------------------------------------------------------------------ setup
section "setup"
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

installed_targets="$(rustup target list --installed)"
missing=()
for t in "${LIB_TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed_targets" || missing+=("$t")
done
if [ "${#missing[@]}" -gt 0 ]; then rustup target add "${missing[@]}"; fi

command -v qemu-system-arm >/dev/null || apt_install qemu-system-arm
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
    local t="$1" features="$2" log="$out/build-$1-${2:-default}.log"
    printf '  %-28s %-12s ' "$t" "${features:-default}"
    if cargo build -q -p blockpool --release --target "$t" --target-dir "$root/target/cross" \
        ${features:+--features "$features"} 2>"$log"; then
        echo ok
    else
        echo FAILED; cat "$log"; return 1
    fi
}
section "1. library cross-builds (default features, then test-hooks)"
cd "$root"
for t in "${LIB_TARGETS[@]}"; do
    for features in "" "test-hooks"; do
        step "cross-build $t ${features:-default}" cross_build "$t" "$features"
    done
done

# -------------------------------------------------------------------- firmware builds
cd "$fw"
# build TARGET BIN NAME [cargo args...]: builds one firmware binary, copies it to $out.
build() {
    local target="$1" bin="$2" name="$3"; shift 3
    cargo build -q --release --target "$target" --bin "$bin" "$@"
    mkdir -p "$out/$target"
    cp "$fw/target/$target/release/$bin" "$out/$target/$name"
    echo "  built $target/$name"
}
section "firmware builds"
# Stale ELFs from an earlier run must not stand in for a failed build.
rm -rf "${out:?}"/thumbv*
for t in thumbv7m-none-eabi thumbv7em-none-eabihf thumbv6m-none-eabi; do
    for bin in stress example fastpath; do
        step "build $t $bin" build "$t" "$bin" "$bin"
    done
done
step "build thumbv8m.main fastpath" build thumbv8m.main-none-eabihf fastpath fastpath
for t in thumbv6m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf; do
    step "build $t placed" build "$t" placed placed --features placed
done
step "build placed-control" build thumbv7em-none-eabihf placed placed-control --features placed-control
step "build stress-selftest-leak" build thumbv7m-none-eabi stress stress-selftest-leak --features selftest-leak
# The window test needs blockpool's test-hooks feature.
for t in thumbv7m-none-eabi thumbv7em-none-eabihf; do
    step "build $t window" build "$t" window window --features test-hooks
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
    esac
}

# ----------------------------------------------------------------- 2. stress tests
# -icount: virtual time follows the instructions executed, so interrupts are taken at
# exact instruction boundaries (also in the middle of a translation block, e.g. inside
# an ldrex/strex window), not only between QEMU's translation blocks.
for t in thumbv7m-none-eabi thumbv7em-none-eabihf thumbv6m-none-eabi; do
    m="$(machine_of "$t")"
    section "2. stress: $t on $m"
    step "stress $t on $m" run "$m" "$out/$t/stress" -icount shift=auto
done

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
for t in thumbv7m-none-eabi thumbv7em-none-eabihf; do
    m="$(machine_of "$t")"
    section "3. window: $t on $m"
    step "window $t on $m" run "$m" "$out/$t/window" -icount shift=auto
done

# ---------------------------------------------------------------- 4. example
for t in thumbv7m-none-eabi thumbv7em-none-eabihf thumbv6m-none-eabi; do
    m="$(machine_of "$t")"
    section "4. example: $t on $m"
    step "example $t on $m" run "$m" "$out/$t/example" -icount shift=auto
done

# ---------------------------------------------------------------- 5. disassembly
check="$root/scripts/check-disassembly.sh"
section "5. disassembly check"
step "disassembly checker self-test" "$check" --self-test
for t in thumbv7m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf; do
    step "disassembly $t" "$check" "$out/$t/fastpath" llsc
done
step "disassembly thumbv6m" "$check" "$out/thumbv6m-none-eabi/fastpath" cs

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
count() {
    local t="$1" m log f executed static
    m="$(machine_of "$t")"
    log="$out/$t/fastpath.trace"
    rm -f "$log"
    [ -f "$out/$t/fastpath" ] || { echo "no fastpath ELF for $t"; return 1; }
    trace "$m" "$out/$t/fastpath" "$log"
    # "Trace 0: 0xHOST [flags/PC/...] symbol": count consecutive lines per symbol; keep
    # the last call of each function (a fast path: see fastpath.rs).
    awk '{ sym = $NF
           if (sym != prev) { if (prev ~ /^blockpool_/) last[prev] = n; n = 0 }
           n++; prev = sym }
         END { if (prev ~ /^blockpool_/) last[prev] = n
               for (s in last) print s, last[s] }' "$log" | sort > "$out/$t/fastpath.counts"
    for f in blockpool_alloc blockpool_free blockpool_alloc_static blockpool_free_static; do
        executed="$(awk -v f="$f" '$1 == f {print $2}' "$out/$t/fastpath.counts")"
        static="$("$OBJDUMP" -d --no-show-raw-insn --disassemble-symbols="$f" "$out/$t/fastpath" | grep -cE '^ *[0-9a-f]+:')"
        [ -n "$executed" ] || { echo "FAIL: no trace of $f on $t"; return 1; }
        printf '  %-24s %-24s %8s %8s\n' "$t" "$f" "$executed" "$static"
    done
}
section "6. fast-path instruction counts"
printf '  %-24s %-24s %8s %8s\n' target function executed static
for t in thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi; do
    step "instruction counts $t" count "$t"
done
echo "  executed: instructions run from the function's first one to its return (the"
echo "  call frame push/mov/pop included, the caller's bl not), on the fast path (a pop"
echo "  from a non-empty list, a push, no retry); static: the whole function, cold paths"
echo "  included. blockpool_alloc/free: pool!(T) grown from memory (Pool<T>);"
echo "  *_static: pool!(T, blocks = N) (StaticPool)."

# ------------------------------------------------------- 7. where pool storage lands
# Issue 13: a pool's storage starts all zeros, so it is `.bss` (no flash image, no copy
# at reset); `#[link_section]` given to `pool!`/`arc_pool!` places the pool's blocks.
# section_of ELF SYMBOL: the name of the section that holds SYMBOL (demangled).
section_of() {
    local elf="$1" sym="$2" ndx
    ndx="$(readelf -sW -C "$elf" | awk -v s="$sym" '$8 == s {print $7; exit}')"
    [ -n "$ndx" ] || { echo "no symbol $sym"; return 1; }
    readelf -SW "$elf" | sed -n 's/^ *\[ *\([0-9]*\)\] \([^ ]*\) .*/\1 \2/p' | awk -v n="$ndx" '$1 == n {print $2}'
}
# storage_check ELF: .data under 64 bytes; the 32 KiB pools in .bss; the placed ones in
# .pool_ram.
storage_check() {
    local elf="$1" data sym where
    [ -f "$elf" ] || { echo "no $elf (its build failed)"; return 1; }
    data="$(readelf -SW "$elf" | sed -n 's/^ *\[ *[0-9]*\] \.data  *[A-Z]*  *[0-9a-f]*  *[0-9a-f]*  *\([0-9a-f]*\) .*/\1/p')"
    data="$((16#${data:-0}))"
    printf '  %-60s .data %6s bytes\n' "${elf#"$out"/}" "$data"
    for sym in placed::STATIC_POOL placed::Fixed::instance::POOL \
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

# ---------------------------------------------------------------- verdict
if [ "${#failed[@]}" -ne 0 ]; then
    section "FAILED: ${#failed[@]} step(s)"
    printf '  - %s\n' "${failed[@]}"
    exit 1
fi
section "all firmware checks passed"
