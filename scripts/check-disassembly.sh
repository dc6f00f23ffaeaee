#!/usr/bin/env bash
# Checks the machine code of blockpool's pop and push, so that neither a compiler nor a
# refactor can silently bring back heapless 0.7's bug (the load of the top block's
# `next` hoisted before the `ldrex`, out of the exclusive window: heapless issue #180).
#
#   scripts/check-disassembly.sh ELF llsc   # thumbv7m / thumbv7em / thumbv8m.main / .base
#   scripts/check-disassembly.sh ELF llsc-single  # the same, built with `single-core`:
#                                                 # no `dmb` required
#   scripts/check-disassembly.sh ELF llsc-m[-single]  # Cortex-M (M-profile) builds: no
#                                                 # `clrex` required on the empty path
#   scripts/check-disassembly.sh ELF cs     # thumbv6m (critical-section backend)
#   scripts/check-disassembly.sh --self-test
#
# ELF is the `fastpath` firmware (firmware/src/bin/fastpath.rs), whose functions
# `blockpool_alloc[_static]` (a pop, inlined) and `blockpool_free[_static]` (a push)
# are checked:
#
# llsc pop:  for every `strex F, V, [H]` whose stored value V was loaded from memory,
#            that load must be `ldr V, [T]` *after* the `ldrex T, [H]` that opened the
#            window (the load of `next` inside the window); at least one such pop must
#            exist; the function must also have the `clrex` of the empty path and a `dmb`.
# llsc push: every `strex F, X, [H]` that closes a window on [H] stores a block X whose
#            link (`str V, [X]`) is right: either stored *inside* the window with the
#            value the `ldrex` loaded (V is the ldrex's destination), or stored *before*
#            the `ldrex` and compared (`cmp`) with the ldrex's value inside the window;
#            without `single-core`, a `dmb` must lie between the link store and the
#            `strex`. At least one such push, and no `strex` on [H] that fails the rule.
# cs pop:    no exclusives; inside one critical section (`cpsid i` ... `msr primask` /
#            `cpsie i`, or calls to `_critical_section_1_0_acquire`/`release`):
#            `ldr T, [H]` (head), `ldr N, [T]` (next), `str N, [H]` (new head).
# cs push:   inside one critical section: `ldr C, [H]`, `str C, [X]`, `str X, [H]`.
#
# The static instruction count of each function is printed too.
#
# --self-test runs the checker on hand-made and real bad listings in
# firmware/fixtures/ and fails unless it rejects every `bad-*` one and accepts every
# `good-*` one.
#
# Needs llvm-objdump (LLVM's; set OBJDUMP to use another path). scripts/firmware.sh
# installs it when missing.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
fixtures="$root/firmware/fixtures"

find_objdump() {
    if [ -n "${OBJDUMP:-}" ]; then echo "$OBJDUMP"; return; fi
    if command -v llvm-objdump >/dev/null 2>&1; then command -v llvm-objdump; return; fi
    local sysroot
    sysroot="$(rustc --print sysroot 2>/dev/null || true)"
    local candidate
    for candidate in "$sysroot"/lib/rustlib/*/bin/llvm-objdump; do
        if [ -x "$candidate" ]; then echo "$candidate"; return; fi
    done
    echo "check-disassembly: no llvm-objdump (install llvm, or rustup component add llvm-tools)" >&2
    exit 2
}

# The checker: reads an objdump listing of ONE function on stdin; MODE is llsc-pop,
# llsc-push, cs-pop or cs-push. Prints a verdict line; exits 0 (pass) or 1 (fail).
read -r -d '' CHECKER <<'AWK' || true
function reg(r) {
    gsub(/[ \t{}!]/, "", r)
    if (r == "ip") r = "r12"; else if (r == "fp") r = "r11"; else if (r == "r13") r = "sp"
    else if (r == "r14") r = "lr"; else if (r == "r15") r = "pc"
    return r
}
# The base register of a memory operand such as "[r1]", "[r12, #280]", "[r1, r3]".
function base(ops,    s) {
    s = ops
    if (index(s, "[") == 0) return ""
    s = substr(s, index(s, "[") + 1)
    sub(/[],].*/, "", s)
    return reg(s)
}
# Is the memory operand a plain "[Rn]" or "[Rn, #0]" (offset 0)?
function zero_offset(ops,    s) {
    s = substr(ops, index(ops, "["))
    gsub(/[ \t]/, "", s)
    return (s ~ /^\[[a-z0-9]+\]$/ || s ~ /^\[[a-z0-9]+,#0\]$/)
}
function is_branch(m) {
    return (m ~ /^b(l|x|lx)?(eq|ne|cs|cc|hs|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?(\.w|\.n)?$/ || m ~ /^cbn?z/)
}
# Registers an instruction writes (space separated).
function defs(m, nops, op,    i, s, out) {
    if (m ~ /^pop/ || m ~ /^ldm/) {
        s = ""
        for (i = 1; i <= nops; i++) if (op[i] ~ /^[ \t]*\{?[ \t]*[a-z]+[0-9]*[ \t]*\}?[ \t]*$/) s = s " " reg(op[i])
        return s
    }
    if (m ~ /^(str|cmp|cmn|tst|teq|push|stm|dmb|dsb|isb|clrex|nop|it|cps|msr|svc|bkpt|wf|sev|udf)/) {
        if (m ~ /^strex/) return reg(op[1])
        return ""
    }
    if (is_branch(m)) return ""
    if (m ~ /^ldrd/ || m ~ /^ldrexd/) return reg(op[1]) " " reg(op[2])
    if (nops >= 1) return reg(op[1])
    return ""
}
function define(list, kind,    n, d, i, x) {
    n = split(list, d, " ")
    for (i = 1; i <= n; i++) if (d[i] != "") {
        lastdef[d[i]] = kind; inwin[d[i]] = 0; headload[d[i]] = ""; nextof[d[i]] = ""; linked[d[i]] = ""
        # push: a link record dies with the register of its block or of its value
        prelink[d[i]] = ""; winlink[d[i]] = ""
        for (x in prelink) if (prelink[x] == d[i]) prelink[x] = ""
        if (win_cmp == d[i]) win_cmp = ""
    }
}
BEGIN { pops = 0; bad = 0; pushes = 0; n = 0; has_clrex = 0; has_dmb = 0; cs = 0; excl = 0; why = "" }
/^[ \t]*[0-9a-f]+:[ \t]/ {
    line = $0
    sub(/^[ \t]*[0-9a-f]+:[ \t]*/, "", line)
    # Drop raw bytes if objdump printed them (hex pairs/words before the mnemonic).
    while (line ~ /^[0-9a-f][0-9a-f]([0-9a-f][0-9a-f])*[ \t]/) sub(/^[0-9a-f]+[ \t]+/, "", line)
    sub(/[ \t]*(@|;).*$/, "", line)
    m = line; sub(/[ \t].*$/, "", m)
    ops = line; if (ops == m) ops = ""; else sub(/^[^ \t]+[ \t]+/, "", ops)
    nops = split(ops, op, ",")
    n++
    if (m == "clrex") has_clrex = 1
    if (m ~ /^dmb/) { has_dmb = 1; dmb_seen = 1 }

    # ---- critical-section markers
    entry = (m == "cpsid" && ops ~ /i/) || (m ~ /^bl/ && ops ~ /critical_section.*acquire/)
    leave = (m == "msr" && ops ~ /primask/) || (m == "cpsie" && ops ~ /i/) || (m ~ /^bl/ && ops ~ /critical_section.*release/)

    if (m ~ /^ldrex/) {
        excl = 1
        define(defs(m, nops, op), "ldrex")
        win_open = 1; win_dst = reg(op[1]); win_base = base(ops); win_cmp = ""
        delete winlink
        next
    }
    if (m ~ /^strex/) {
        excl = 1
        v = reg(op[2]); b = base(ops)
        if (mode == "llsc-pop") {
            if (!win_open || b != win_base) {
                if (lastdef[v] ~ /^ldr/) { bad++; why = why sprintf(" strex at +%d stores %s without an open window on [%s];", n, v, b) }
            } else if (inwin[v]) {
                pops++
            } else if (lastdef[v] ~ /^ldr/) {
                bad++
                why = why sprintf(" strex at +%d stores %s, loaded by `%s` outside the ldrex/strex window (next read before the ldrex);", n, v, lastdef[v])
            }
        }
        if (mode == "llsc-push" && win_open && b == win_base) {
            x = reg(op[2])
            if ((x in winlink) && winlink[x] != "" && (single || winlink[x] == "dmb")) pushes++
            else if ((x in prelink) && prelink[x] != "" && prelink[x] == win_cmp && (single || predmb[x])) pushes++
            else {
                bad++
                if ((x in winlink) && winlink[x] != "") why = why sprintf(" strex at +%d: no dmb between the link store in the window and the strex;", n)
                else if ((x in prelink) && prelink[x] != "" && prelink[x] == win_cmp) why = why sprintf(" strex at +%d: no dmb between the link store and the strex;", n)
                else if ((x in prelink) && prelink[x] != "") why = why sprintf(" strex at +%d: link %s stored before the ldrex but not compared with its value %s;", n, prelink[x], win_dst)
                else why = why sprintf(" strex at +%d pushes %s, whose link was not stored from the head;", n, x)
            }
        }
        win_open = 0
        define(defs(m, nops, op), "strex")
        next
    }
    if (m == "clrex") { win_open = 0; next }

    if (mode == "llsc-pop" && m ~ /^ldr/ && win_open && base(ops) == win_dst && zero_offset(ops)) {
        define(defs(m, nops, op), m)
        inwin[reg(op[1])] = 1
        next
    }
    if (mode == "llsc-push") {
        if (m == "str" && zero_offset(ops)) {
            v = reg(op[1]); x = base(ops)
            if (win_open && v == win_dst) { winlink[x] = "stored"; prelink[x] = "" }
            else { prelink[x] = v; predmb[x] = 0; winlink[x] = "" }
            next
        }
        if (m ~ /^dmb/) {
            for (x in prelink) if (prelink[x] != "") predmb[x] = 1
            for (x in winlink) if (winlink[x] != "") winlink[x] = "dmb"
            next
        }
        if (m ~ /^cmp/ && win_open && nops == 2) {
            if (reg(op[1]) == win_dst) win_cmp = reg(op[2])
            else if (reg(op[2]) == win_dst) win_cmp = reg(op[1])
            next
        }
    }

    if (mode ~ /^cs-/) {
        if (entry) { cs = 1; delete headload; delete nextof; delete linked; next }
        if (leave) { cs = 0; next }
        if (cs && m ~ /^ldr/ && base(ops) != "pc" && base(ops) != "sp") {
            d = reg(op[1]); bb = base(ops)
            define(d, m)
            if (bb in headload && headload[bb] != "" && zero_offset(ops)) nextof[d] = headload[bb]
            else headload[d] = bb
            next
        }
        if (cs && m ~ /^str/) {
            v = reg(op[1]); bb = base(ops)
            if (mode == "cs-pop" && (v in nextof) && nextof[v] != "" && nextof[v] == bb) pops++
            if (mode == "cs-push" && (v in headload) && headload[v] != "" && zero_offset(ops) && bb != headload[v]) linked[bb] = headload[v]
            if (mode == "cs-push" && (v in linked) && linked[v] != "" && linked[v] == bb) pushes++
            next
        }
    }
    define(defs(m, nops, op), m)
}
END {
    ok = 0
    if (n == 0) { print "FAIL: empty listing (symbol not found?)"; exit 1 }
    if (mode == "llsc-pop") {
        if (bad > 0) why = "bad:" why
        else if (pops == 0) why = "no ldrex T,[H] / ldr N,[T] / strex N,[H] sequence found"
        else if (!has_clrex && !mprofile) why = "no clrex (the empty path must close the window)"
        else if (!has_dmb && !single) why = "no dmb"
        else ok = 1
        detail = sprintf("%d pop window(s) with next loaded between ldrex and strex", pops)
    } else if (mode == "llsc-push") {
        if (bad > 0) why = "bad:" why
        else if (pushes == 0) why = "no strex on the head with its link stored from the head"
        else ok = 1
        detail = sprintf("%d push(es) whose link is the head the strex replaces%s", pushes, single ? " (single-core: no dmb)" : ", dmb before the strex")
    } else if (mode == "cs-pop") {
        if (excl) why = "exclusives in a critical-section build"
        else if (pops == 0) why = "no ldr head / ldr next / str head inside one critical section"
        else ok = 1
        detail = sprintf("%d pop(s) entirely inside a critical section", pops)
    } else if (mode == "cs-push") {
        if (excl) why = "exclusives in a critical-section build"
        else if (pushes == 0) why = "no ldr head / str link / str head inside one critical section"
        else ok = 1
        detail = sprintf("%d push(es) entirely inside a critical section", pushes)
    } else { print "unknown mode " mode; exit 2 }
    if (ok) { printf "ok   %-9s %3d instructions; %s\n", mode, n, detail; exit 0 }
    printf "FAIL %-9s %s\n", mode, why
    exit 1
}
AWK

# check_listing MODE NAME < listing (SINGLE=1 in the environment: the `single-core`
# build, whose pop and push have no `dmb`)
check_listing() {
    local mode="$1" name="$2" out rc
    set +e
    out="$(awk -v mode="$mode" -v single="${SINGLE:-0}" -v mprofile="${MPROFILE:-0}" "$CHECKER")"
    rc=$?
    set -e
    printf '  %-24s %s\n' "$name" "$out"
    return "$rc"
}

self_test() {
    local failures=0 f mode name
    echo "check-disassembly self-test (firmware/fixtures):"
    for f in "$fixtures"/*.txt; do
        name="$(basename "$f" .txt)"
        mode="$(sed -n 's/^# mode: *//p' "$f" | sed -n 1p)"
        # `# env: MPROFILE=1 SINGLE=1`: the checker's Cortex-M / single-core rules.
        local env_line
        env_line="$(sed -n 's/^# env: *//p' "$f" | sed -n 1p)"
        MPROFILE=0 SINGLE=0
        case "$env_line" in *MPROFILE=1*) MPROFILE=1 ;; esac
        case "$env_line" in *SINGLE=1*) SINGLE=1 ;; esac
        export MPROFILE SINGLE
        if [[ "$name" == bad-* ]]; then
            if check_listing "$mode" "$name" < "$f"; then
                echo "  ^ the checker ACCEPTED a bad listing"; failures=$((failures + 1))
            else
                echo "  ^ rejected, as it must be"
            fi
        else
            if ! check_listing "$mode" "$name" < "$f"; then
                echo "  ^ the checker REJECTED a good listing"; failures=$((failures + 1))
            fi
        fi
    done
    if [ "$failures" -ne 0 ]; then echo "check-disassembly self-test: $failures wrong verdict(s)"; return 1; fi
    echo "check-disassembly self-test: all verdicts right"
}

# listing ELF SYMBOL: the disassembly of one function.
listing() {
    "$OBJDUMP" -d --no-show-raw-insn --disassemble-symbols="$2" "$1"
}

check_elf() {
    local elf="$1" kind="$2" failures=0
    echo "check-disassembly: $elf ($kind)"
    # Cortex-M builds: no `clrex` required on the pop's empty path (exception entry and
    # return clear the local monitor; see arm_llsc.rs).
    case "$kind" in
        llsc-m) kind=llsc; export MPROFILE=1 ;;
        llsc-m-single) kind=llsc; export MPROFILE=1 SINGLE=1 ;;
        llsc-single) kind=llsc; export SINGLE=1 ;;
    esac
    for sym in blockpool_alloc blockpool_alloc_static blockpool_alloc_direct; do
        listing "$elf" "$sym" | check_listing "$kind-pop" "$sym" || failures=$((failures + 1))
    done
    for sym in blockpool_free blockpool_free_static blockpool_free_direct; do
        listing "$elf" "$sym" | check_listing "$kind-push" "$sym" || failures=$((failures + 1))
    done
    return "$failures"
}

OBJDUMP="$(find_objdump)"
case "${1:-}" in
    --self-test) self_test ;;
    --listing) check_listing "$2" "${3:-stdin}" ;; # MODE [NAME] < listing
    "") echo "usage: $0 ELF llsc|cs | --self-test | --listing MODE < listing" >&2; exit 2 ;;
    *) check_elf "$1" "$2" ;;
esac
