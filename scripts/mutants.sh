#!/usr/bin/env bash
# Hand-made mutation testing: realistic one-line bugs in the free list and the Arc
# counts, each with the cheap test that must kill it. See TESTING.md, "Mutation testing".
#
#   scripts/mutants.sh                 apply each mutation, run its killing test, restore
#   scripts/mutants.sh --list          list the mutations (name, file, expectation, test)
#   scripts/mutants.sh NAME...         only these mutations
#
# Each mutation replaces an exact text (which must occur exactly once in its file, or the
# script stops) and runs its killing command under a time limit (BLOCKPOOL_MUTANT_TIMEOUT
# seconds, default 600, build included). Outcomes: CAUGHT (the command failed), MISSED
# (it passed), TIMEOUT (counted as caught: the tests did not pass), UNVIABLE (the mutant
# does not build; counted apart). The mutated file is copied aside first and restored
# after each mutation and on any exit (no git stash). Exits non-zero if a mutation that is
# not listed as an explained survivor (`survivor:`) or as waiting for a test (`pending:`)
# is missed, or if one of those is unexpectedly caught (the list is then out of date).
#
# loom runs build into target/verify-loom and Miri runs into target/verify-miri (as in
# scripts/verify.sh), host tests into target/, so the three do not rebuild each other.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ---------------------------------------------------------------------------------------
# The mutations. One record per mutation, fields on their own lines:
#   name:    identifier (for running a subset)
#   file:    the file to mutate
#   old:     exact text to replace (`\n` for a line break; repeat old/new for a mutation
#   new:     that needs several edits)
#   expect:  caught | survivor: <why it cannot be killed> | pending: <what will kill it>
#   kill:    shell command; the helpers `loom`, `host`, `miri` are defined below
# Records are separated by a blank line.
MUTATIONS=$(
    cat <<'EOF'
name: push_no_version_step
file: src/free_list/tagged_index.rs
old: let name = header.me.load(Ordering::Relaxed).wrapping_add(VERSION_ONE);
new: let name = header.me.load(Ordering::Relaxed);
expect: caught
kill: loom loom tagged_index_aba

name: push_cas_relaxed
file: src/free_list/tagged_index.rs
old: name,\n                Ordering::Release,\n                Ordering::Relaxed,
new: name,\n                Ordering::Relaxed,\n                Ordering::Relaxed,
expect: caught
kill: LOOM_MAX_PREEMPTIONS=2 loom loom tagged_index_two_threads_two_rounds

name: pop_fast_cas_relaxed
file: src/free_list/tagged_index.rs
old: .compare_exchange_weak(current, next, Ordering::Acquire, Ordering::Relaxed)
new: .compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
expect: survivor: equivalent: the CAS succeeds only on the word the Acquire load of head just read, whose push already synchronised with us (every head write after new is an RMW, so the release sequence of that push covers any later write of the same word)
kill: LOOM_MAX_PREEMPTIONS=2 loom loom tagged_index_two_threads_two_rounds

name: pop_slow_cas_success_relaxed
file: src/free_list/tagged_index.rs
old: next,\n                Ordering::Acquire,\n                Ordering::Acquire,
new: next,\n                Ordering::Relaxed,\n                Ordering::Acquire,
expect: survivor: equivalent: `current` always comes from an Acquire load or an Acquire CAS failure of head, and the CAS succeeds only on that same word (same argument as pop_fast_cas_relaxed)
kill: LOOM_MAX_PREEMPTIONS=2 loom loom tagged_index_two_threads_two_rounds

name: pop_slow_all_relaxed
file: src/free_list/tagged_index.rs
old: // Acquire: as in `pop_strided`.\n        let mut current = self.head.load(Ordering::Acquire);
new: // Acquire: as in `pop_strided`.\n        let mut current = self.head.load(Ordering::Relaxed);
old: next,\n                Ordering::Acquire,\n                Ordering::Acquire,
new: next,\n                Ordering::Relaxed,\n                Ordering::Relaxed,
expect: caught
kill: LOOM_MAX_PREEMPTIONS=2 loom loom tagged_index_two_threads_two_rounds

name: pop_fast_all_relaxed
file: src/free_list/tagged_index.rs
old: let current = self.head.load(Ordering::Acquire);
new: let current = self.head.load(Ordering::Relaxed);
old: .compare_exchange_weak(current, next, Ordering::Acquire, Ordering::Relaxed)
new: .compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
expect: caught
kill: LOOM_MAX_PREEMPTIONS=2 loom loom tagged_index_two_threads_two_rounds

name: region0_loaded_before_head
file: src/free_list/tagged_index.rs
old: let hint = self.hint.load(Ordering::Acquire);
new: let region0 = self.region0.load(Ordering::Relaxed);\n        let hint = self.hint.load(Ordering::Acquire);
old: let region0 = self.region0.load(Ordering::Relaxed);\n        if let Some(link) = NonNull::new(hint) {
new: if let Some(link) = NonNull::new(hint) {
expect: caught
kill: LOOM_MAX_PREEMPTIONS=2 loom loom tagged_index_two_grows_while_allocating

name: pop_fast_gives_up_on_lost_race
file: src/free_list/tagged_index.rs
old: Self::claim(header, current);\n                    return Some(link);\n                }
new: Self::claim(header, current);\n                    return Some(link);\n                }\n                return None;
expect: caught
kill: loom loom_liveness pool_two_threads_one_round

name: pop_slow_gives_up_on_lost_race
file: src/free_list/tagged_index.rs
old: return Some(link);\n                }\n                Err(actual) => current = actual,
new: return Some(link);\n                }\n                Err(_) => return None,
expect: caught
kill: loom loom_liveness pool_two_threads_two_rounds

name: pop_fast_gives_up_on_lost_race_native
file: src/free_list/tagged_index.rs
old: Self::claim(header, current);\n                    return Some(link);\n                }
new: Self::claim(header, current);\n                    return Some(link);\n                }\n                return None;
expect: caught
kill: host --test liveness

name: weak_drop_relaxed
file: src/pool/arc.rs
old: if !decrement(self.r.counts().1) {\n            return;\n        }
new: if counter::fetch_sub(self.r.counts().1, 1, Ordering::Relaxed) != 1 {\n            return;\n        }\n        acquire_last(self.r.counts().1);
expect: caught
kill: loom loom_arc value_drop_races_next_owner

name: weak_drop_no_fence
file: src/pool/arc.rs
old: if !decrement(self.r.counts().1) {\n            return;\n        }
new: if counter::fetch_sub(self.r.counts().1, 1, Ordering::Release) != 1 {\n            return;\n        }
expect: caught
kill: loom loom_arc value_drop_races_next_owner

name: arc_drop_relaxed
file: src/pool/arc.rs
old: if !decrement(self.r.counts().0) {\n            return;\n        }
new: if counter::fetch_sub(self.r.counts().0, 1, Ordering::Relaxed) != 1 {\n            return;\n        }\n        acquire_last(self.r.counts().0);
expect: caught
kill: loom loom_arc value_drop_races_next_owner

name: arc_drop_no_fence
file: src/pool/arc.rs
old: if !decrement(self.r.counts().0) {\n            return;\n        }
new: if counter::fetch_sub(self.r.counts().0, 1, Ordering::Release) != 1 {\n            return;\n        }
expect: caught
kill: loom loom_arc value_drop_races_next_owner

name: decrement_relaxed
file: src/pool/arc.rs
old: if counter::fetch_sub(count, 1, Ordering::Release) != 1 {
new: if counter::fetch_sub(count, 1, Ordering::Relaxed) != 1 {
expect: caught
kill: loom loom_arc value_drop_races_next_owner

name: decrement_no_fence
file: src/pool/arc.rs
old: acquire_last(count);\n    true
new: true
expect: caught
kill: loom loom_arc value_drop_races_next_owner

name: is_unique_ignores_broken_lock
file: src/pool/arc.rs
old: no_weak && not_broken\n
new: let _ = not_broken;\n        no_weak\n
expect: caught
kill: loom loom_arc get_mut_races_upgrade_that_drops_its_weak

name: is_unique_unlock_ignores_cas
file: src/pool/arc.rs
old: let not_broken =\n            counter::compare_exchange(strong, LOCKED, 1, Ordering::Release, Ordering::Relaxed)\n                .is_ok();
new: strong.store(1, Ordering::Release);\n        let not_broken = true;
expect: caught
kill: loom loom_arc get_mut_races_upgrade_that_drops_its_weak

name: try_unwrap_no_fence
file: src/pool/arc.rs
old: acquire_last(strong);\n        // SAFETY: the strong count went to zero with us, so we own the value.\n        Ok(
new: // SAFETY: the strong count went to zero with us, so we own the value.\n        Ok(
expect: caught
kill: loom loom_arc try_unwrap_races_upgrade_and_read

name: into_inner_no_fence
file: src/pool/arc.rs
old: if !decrement(this.r.counts().0) {
new: if counter::fetch_sub(this.r.counts().0, 1, Ordering::Release) != 1 {
expect: caught
kill: miri miri_into_inner

name: upgrade_from_zero
file: src/pool/arc.rs
old: 0 => return None,\n                LOCKED => 2,
new: LOCKED => 2,
expect: caught
kill: host --test arc

name: increment_no_overflow_check
file: src/pool/arc.rs
old: if old > MAX_REFCOUNT {
new: if old > usize::MAX - 1 {
expect: survivor: reaching the limit takes 2^63 increments on a 64-bit host (2^31 on a 32-bit target, which this machine cannot link); no API sets a count
kill: host --test arc

name: stats_release_after_push
file: src/pool/mod.rs
old: stats.on_release();\n    // SAFETY: the block belongs to this list and is unused (the caller's promise).\n    unsafe { list.push(crate::Block::link(block)) };
new: // SAFETY: the block belongs to this list and is unused (the caller's promise).\n    unsafe { list.push(crate::Block::link(block)) };\n    stats.on_release();
expect: caught
kill: loom --features stats loom_stats in_use_never_exceeds_capacity

name: stats_reset_load_then_store
file: src/stats.rs
old: let after = counter::fetch_add(&self.in_use, 0, Ordering::Release);
new: let after = now;
expect: caught
kill: loom --features stats loom_stats reset_racing_an_allocation

name: stats_take_relaxed
file: src/stats.rs
old: let in_use = counter::fetch_add(&self.in_use, blocks, Ordering::Acquire) + blocks;
new: let in_use = counter::fetch_add(&self.in_use, blocks, Ordering::Relaxed) + blocks;
expect: caught
kill: loom --features stats loom_stats reset_racing_an_allocation

name: hint_relaxed
file: src/free_list/tagged_index.rs
old: let hint = self.hint.load(Ordering::Acquire);
new: let hint = self.hint.load(Ordering::Relaxed);
old: self.hint.store(hint, Ordering::Release);
new: self.hint.store(hint, Ordering::Relaxed);
expect: caught
kill: miri miri_threads grow_

name: from_raw_unchecked
file: src/boxed.rs
old: if mem::size_of::<P::Data>() != 0 && !unsafe { pool.owns(block) } {
new: if false && !unsafe { pool.owns(block) } {
expect: caught
kill: host --test raw

name: box_into_inner_reads_after_release
file: src/boxed.rs
old: let value = unsafe { self.as_ptr().read() };\n        let (block, pool) = self.into_parts();\n        drop(Release { block, pool });\n        value
new: let ptr = self.as_ptr();\n        let (block, pool) = self.into_parts();\n        drop(Release { block, pool });\n        unsafe { ptr.read() }
expect: caught
kill: miri miri_into_inner

name: arc_take_value_reads_after_release
file: src/pool/arc.rs
old: let value = unsafe { ptr::read(ptr::addr_of!((*this.r.ptr().as_ptr()).value)) };\n        drop(weak);
new: let inner = this.r.ptr().as_ptr();\n        drop(weak);\n        let value = unsafe { ptr::read(ptr::addr_of!((*inner).value)) };
expect: caught
kill: miri miri_into_inner

name: wait_cancelled_first_does_not_pass_on
file: src/wait.rs
old: if was_first {\n            // We may have been woken for a block we now leave: pass the turn on.\n            waiters.pass_on(&self.pool);\n        }
new: let _ = was_first;
expect: caught
kill: loom --features async loom_wait cancelled_waiter_does_not_swallow_the_wake_up

name: wait_first_try_without_fence
file: src/wait.rs
old: let waiters = self.pool.waiters();\n        // SeqCst: pairs with the fence in `on_release` (see the module docs).\n        fence(Ordering::SeqCst);
new: let waiters = self.pool.waiters();
expect: caught
kill: loom --features async loom_wait cancelled_waiter_does_not_swallow_the_wake_up

name: wait_pass_on_does_not_register_next
file: src/wait.rs
old: let registered = waker.as_ref().is_some_and(|w| self.first.register(w));
new: let registered = true;
expect: caught
kill: loom --features async loom_wait two_waiters_one_block

name: batch_pop_claims_top_name
file: src/free_list/tagged_index.rs
old: Self::claim(header, popped);\n                        popped = below;
new: Self::claim(header, current);\n                        let _ = (popped, below);
expect: caught
kill: host --test cache batches_over_a_grown_pool

name: batch_pop_all_relaxed
file: src/free_list/tagged_index.rs
old: // Acquire: as in `pop_strided` (the top block's push, its link, its payload).\n        let mut current = self.head.load(Ordering::Acquire);
new: // Acquire: as in `pop_strided` (the top block's push, its link, its payload).\n        let mut current = self.head.load(Ordering::Relaxed);
old: name,\n                Ordering::Acquire,\n                Ordering::Acquire,
new: name,\n                Ordering::Relaxed,\n                Ordering::Relaxed,
expect: caught
kill: loom loom_cache two_caches_exchange_batches

name: batch_push_unlinked
file: src/free_list/tagged_index.rs
old: for pair in blocks.windows(2) {
new: for pair in blocks.windows(2).take(0) {
expect: caught
kill: host --test cache batches_over_a_grown_pool

name: cache_ignores_flush_requests
file: src/cache/magazine.rs
old: if requests == self.seen {
new: if requests == self.seen || true {
expect: caught
kill: host --test cache flush_request

name: cache_keeps_foreign_box
file: src/cache/mod.rs
old: || !core::ptr::eq(boxed.pool().cache_shared(), self.pool.cache_shared())
new: || false
expect: caught
kill: host --test cache a_box_of_another_pool

name: thread_cache_ignores_busy_mark
file: src/cache/thread.rs
old: if state != IDLE && !(state == UNREGISTERED
new: if state != IDLE && state != BUSY && !(state == UNREGISTERED
expect: caught
kill: BLOCKPOOL_CACHE_SIGNAL_RUNS=1000 BLOCKPOOL_INJECTIONS=20000 hooked --features std --test cache_signal

name: depot_publish_relaxed
file: src/cache/depot.rs
old: slot.state.store(FULL, Ordering::Release);
new: slot.state.store(FULL, Ordering::Relaxed);
expect: caught
kill: loom loom_cache depot

name: depot_claim_relaxed
file: src/cache/depot.rs
old: .compare_exchange(from, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
new: .compare_exchange(from, CLAIMED, Ordering::Relaxed, Ordering::Relaxed)
expect: caught
kill: loom loom_cache depot

name: depot_partial_take_drops_rest
file: src/cache/depot.rs
old: let state = if left == 0 { EMPTY } else { FULL };
new: let state = if left == 0 { EMPTY } else { EMPTY };
expect: caught
kill: loom loom_cache depot

name: refill_skips_depot
file: src/cache/magazine.rs
old: let from_depot = depot.map_or(0, |depot| depot.take(&mut self.blocks[..Self::BATCH]));
new: let from_depot = depot.map_or(0, |_| 0);
expect: caught
kill: host --features stats,std --test cache depot

name: uncached_take_skips_depot
file: src/cache/thread.rs
old: let taken = depot.take(&mut batch);
new: let taken = { let _ = (depot, &mut batch); 0 };
expect: caught
kill: hooked --features stats,std --test cache uncached
EOF
)

# ---------------------------------------------------------------------------------------
# Killing commands.

# loom TEST [FILTER]: one loom test file (release, --cfg blockpool_loom), only tests matching FILTER.
# `loom --features F TEST ...` builds with those features.
loom() {
    local features=()
    if [ "$1" = "--features" ]; then
        features=(--features "$2")
        shift 2
    fi
    local test=$1
    shift
    RUSTFLAGS="--cfg blockpool_loom" CARGO_TARGET_DIR="$PWD/target/verify-loom" \
        cargo test -q --release "${features[@]}" --test "$test" --no-run || return 99
    RUSTFLAGS="--cfg blockpool_loom" CARGO_TARGET_DIR="$PWD/target/verify-loom" \
        cargo test -q --release "${features[@]}" --test "$test" -- --nocapture "$@"
}

# host ARGS...: `cargo test ARGS` on the host (debug).
host() {
    cargo test -q "$@" --no-run || return 99
    cargo test -q "$@"
}

# miri TEST [FILTER]: one test file under Miri, seeds 0..BLOCKPOOL_MUTANT_MIRI_SEEDS
# (default 8); leaks are allowed (the grow tests leak memory to give it to a pool).
miri() {
    local flags="-Zmiri-strict-provenance -Zmiri-ignore-leaks -Zmiri-many-seeds=0..${BLOCKPOOL_MUTANT_MIRI_SEEDS:-8}"
    # The test-hooks cfg as in scripts/verify.sh's Miri step, whose build this reuses.
    RUSTFLAGS="--cfg blockpool_test_hooks" MIRIFLAGS="$flags" CARGO_TARGET_DIR="$PWD/target/verify-miri" \
        cargo +nightly miri test -q --test "$1" --no-run || return 99
    RUSTFLAGS="--cfg blockpool_test_hooks" MIRIFLAGS="$flags" CARGO_TARGET_DIR="$PWD/target/verify-miri" \
        cargo +nightly miri test -q --test "$@"
}
# hooked ARGS...: `cargo test --release ARGS` with the test hooks (`--cfg
# blockpool_test_hooks`, in target/hooks as in scripts/test.sh).
hooked() {
    RUSTFLAGS="--cfg blockpool_test_hooks" CARGO_TARGET_DIR="$PWD/target/hooks" \
        cargo test -q --release "$@" --no-run || return 99
    RUSTFLAGS="--cfg blockpool_test_hooks" CARGO_TARGET_DIR="$PWD/target/hooks" \
        cargo test -q --release "$@"
}
export -f loom host miri hooked

# ---------------------------------------------------------------------------------------

# Splits MUTATIONS into one file per record under $work, named by index.
work=$(mktemp -d)
backup_file=
backup_copy=
restore() {
    if [ -n "$backup_file" ]; then
        cp "$backup_copy" "$backup_file"
        backup_file=
    fi
}
trap 'restore; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

field() { # field RECORD NAME: the first value of NAME in the record file
    sed -n "s/^$2: //p" "$1" | head -n 1
}

awk -v dir="$work" 'BEGIN { n = 0; file = sprintf("%s/%03d", dir, n) }
    /^$/ { if (seen) { n++; file = sprintf("%s/%03d", dir, n); seen = 0 }; next }
    { print > file; seen = 1 }' <<<"$MUTATIONS"
records=("$work"/*)

if [ "${1:-}" = "--list" ]; then
    for r in "${records[@]}"; do
        printf '%-38s %-30s %-9s %s\n' "$(field "$r" name)" "$(field "$r" file)" \
            "$(field "$r" expect | cut -d: -f1)" "$(field "$r" kill)"
    done
    exit 0
fi

selected=("$@")
is_selected() {
    [ ${#selected[@]} -eq 0 ] && return 0
    local s
    for s in "${selected[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}
if [ ${#selected[@]} -gt 0 ]; then
    for s in "${selected[@]}"; do
        grep -qx "name: $s" "${records[@]}" || {
            echo "mutants.sh: no mutation named '$s' (see --list)" >&2
            exit 2
        }
    done
fi

# apply RECORD: performs every old/new edit of the record on its file (each old text must
# occur exactly once in the file as it stands before that edit).
apply() {
    python3 - "$1" <<'PY'
import sys
record = open(sys.argv[1]).read().splitlines()
path = next(l[len("file: "):] for l in record if l.startswith("file: "))
olds = [l[len("old: "):] for l in record if l.startswith("old: ")]
news = [l[len("new: "):] for l in record if l.startswith("new: ")]
assert olds and len(olds) == len(news), "each old: needs a new:"
text = open(path).read()
for old, new in zip(olds, news):
    old, new = old.replace("\\n", "\n"), new.replace("\\n", "\n")
    count = text.count(old)
    if count != 1:
        sys.exit(f"mutants.sh: {path}: old text found {count} times, not once:\n{old}")
    text = text.replace(old, new)
open(path, "w").write(text)
PY
}

timeout_s=${BLOCKPOOL_MUTANT_TIMEOUT:-600}
logs=${BLOCKPOOL_MUTANT_LOGS:-target/mutants-logs}
mkdir -p "$logs"
results=()
caught=0
missed=0
unviable=0
bad=()
for r in "${records[@]}"; do
    name=$(field "$r" name)
    is_selected "$name" || continue
    file=$(field "$r" file)
    expect=$(field "$r" expect)
    kill=$(field "$r" kill)
    backup_copy="$work/original"
    cp "$file" "$backup_copy"
    backup_file=$file
    apply "$r"
    echo "=== $name: $kill"
    start=$SECONDS
    set +e
    timeout -k 10 "$timeout_s" bash -c "$kill" >"$logs/$name.log" 2>&1
    status=$?
    set -e
    restore
    took=$((SECONDS - start))
    case $status in
        0) outcome=MISSED ;;
        99) outcome=UNVIABLE ;;
        124 | 137) outcome=TIMEOUT ;;
        *) outcome=CAUGHT ;;
    esac
    # The loom models print how far they got.
    detail=$(grep -E '^loom .*FAILED after' "$logs/$name.log" | head -n 1 || true)
    [ -n "$detail" ] || detail=$(grep -m1 -oE 'Undefined Behavior: [^:]*|panicked at [^ ]*' "$logs/$name.log" || true)
    echo "=== $name: $outcome ($took s) $detail"
    case $outcome in
        CAUGHT | TIMEOUT)
            caught=$((caught + 1))
            [ "${expect%%:*}" = caught ] || bad+=("$name (expected ${expect%%:*}, was caught)")
            ;;
        MISSED)
            missed=$((missed + 1))
            [ "${expect%%:*}" != caught ] || bad+=("$name (missed)")
            ;;
        UNVIABLE)
            unviable=$((unviable + 1))
            bad+=("$name (does not build)")
            ;;
    esac
    results+=("$(printf '%-38s %-8s %5s s  %-9s %s' "$name" "$outcome" "$took" "${expect%%:*}" "$kill")")
done

echo
printf '%-38s %-8s %7s  %-9s %s\n' mutation outcome time expected "killing command"
printf '%s\n' "${results[@]}"
echo
echo "$caught caught, $missed missed, $unviable unviable"
if [ ${#bad[@]} -gt 0 ]; then
    echo "not as expected: ${bad[*]}"
    exit 1
fi
