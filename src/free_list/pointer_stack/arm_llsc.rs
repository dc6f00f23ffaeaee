//! The pointer stack's pop and push for 32-bit ARM with exclusive accesses (ARMv7-M,
//! ARMv7E-M, ARMv8-M baseline and mainline, ARMv7-A/R; `build.rs` probes that the
//! instructions below assemble; the crate docs' target table lists them):
//! `ldrex`/`strex` sequences in inline assembly.
//!
//! LL/SC needs no ABA tag, *provided* the load of the top block's `next` link lies
//! inside the exclusive window:
//!
//! ```text
//! pop:  1: ldrex top, [head]        ; open the window on `head`
//!          cmp   top, #0
//!          beq   empty
//!          ldr   next, [top]        ; read `next` INSIDE the window
//!          strex fail, next, [head] ; fails if anything touched the monitor since ldrex
//!          cmp   fail, #0
//!          bne   1b
//!          dmb                      ; acquire (not with `single-core`)
//!   empty: clrex                    ; close the window we opened (not on M-profile)
//! ```
//!
//! Any exception taken between `ldrex` and `strex` clears the local monitor (M-profile
//! does so on exception entry and return; A/R-profile kernels do on context switch), and
//! another core's store to `head` clears it through the global monitor, so the `strex`
//! fails and the pop starts again with a fresh `next`. heapless 0.7 let the compiler
//! load `next` *before* the `ldrex` (its CAS loop was plain Rust), which leaves a window
//! in which an interrupt can pop, pop and push: the ABA bug of heapless issue #180.
//! Writing the sequence in `asm!` takes the choice away from the compiler; CI checks
//! the disassembly of the firmware to keep it so.
//!
//! The `dmb` barriers make pop an acquire and push a release on multi-core parts
//! (ARMv7-A clusters, dual-core Cortex-M33/M7 chips); heapless 0.9.4 has none. The
//! `single-core` feature leaves them out, for parts with one core: the core observes
//! its own accesses in program order, interrupt handlers included; a second core or a
//! DMA engine that reads a block's contents after it changed hands needs them.
//!
//! The push stores the new top's link *before* its `ldrex` and compares the head it
//! then reserves with the link (`push_loop!`), so no ordinary store lies inside its
//! window; with `single-core` on Cortex-M it first tries once with the link stored
//! inside the window, heapless's shorter push, and falls back to the loop if that
//! `strex` fails (`push_attempt!`). On M-profile both sequences leave by a `cbz` on the
//! `strex` status, one instruction fewer than `cmp`/`bne` on success.
//!
//! Each sequence is one text (`pop_text!`, `push_text!`) for every build: the shipped
//! ones and the `blockpool_test_hooks` one, which adds lines that store to a
//! test-chosen address inside the window and count failed `strex`es.
//!
//! Registers are named explicitly (r0-r3, r12; r4-r5 in the `blockpool_test_hooks`
//! build): the compares with an immediate exist only for r0-r7 on ARMv8-M baseline, so a
//! register the compiler picked could make a user's build fail to assemble there.
//!
//! `clrex` on the empty path matters on A/R-profile cores: an interrupt handler that
//! finds the list empty would otherwise return with its reservation on `head` still
//! open, and the `strex` of the pop it interrupted could then succeed on a stale view.
//! On M-profile cores (Cortex-M; `build.rs` sets `blockpool_m_profile` by target name)
//! the architecture clears the local monitor on every exception entry and return
//! (ARMv7-M and ARMv8-M: "changed to Open Access automatically as part of an exception
//! entry or exit sequence"; the window firmware shows it under QEMU), so a reservation
//! left open by an empty pop never reaches another context, and the interrupted pop's
//! `strex` fails anyway. Every `strex` here follows its own `ldrex`, so a reservation
//! left open in the same context is replaced before it is used. The M-profile pop
//! therefore leaves its empty path as it is, which saves the success path a branch
//! around the `clrex` (and, as `top` is in `r0`, a `cbz` replaces `cmp`/`beq`). The
//! `blockpool_test_hooks` build keeps the `clrex` form on every target.
//!
//! Progress: lock-free (a `strex` fails only if another context's access intervened).
//! Interrupt-safe: nothing waits for the interrupted context.

use core::arch::asm;
use core::ptr::NonNull;

use super::{FreeList, Link};

// The text of the sequences. Each is one `concat!` of lines, the same for every build;
// where builds differ, a selector picks the lines that fit this build: `name!(yes, no)`
// is the text `yes` where the selector's cfg holds, `no` where it does not.
macro_rules! selector {
    ($name:ident, $cfg:meta) => {
        #[cfg($cfg)]
        macro_rules! $name {
            ($yes:expr, $no:expr) => {
                $yes
            };
        }
        #[cfg(not($cfg))]
        macro_rules! $name {
            ($yes:expr, $no:expr) => {
                $no
            };
        }
    };
}
// M-profile (Cortex-M) targets, where A/R-profile ones take `no`.
selector!(m_profile, blockpool_m_profile);
selector!(single_core, feature = "single-core");
// The `blockpool_test_hooks` build, where shipped builds take `no`.
selector!(test_build, blockpool_test_hooks);

/// Test build: the store inside a window. `r4` holds the three words of a
/// `hook::WindowStore`; while the first (an address) is non-zero, store the second
/// there. Low registers only (ARMv8-M baseline's 16-bit loads and stores); `r3` and
/// `r5` are scratch.
#[cfg(blockpool_test_hooks)]
macro_rules! window_store {
    () => {
        concat!(
            "ldr r3, [r4]\n",
            "cmp r3, #0\n",
            "beq 5f\n",
            "ldr r5, [r4, #4]\n",
            "str r5, [r3]\n",
            "5:\n",
        )
    };
}

/// Test build: count a failed `strex` in the third word of the `hook::WindowStore` at
/// `r4` (a plain load/add/store: only the retrying context writes it, after any handler
/// that interrupted it returned). `r3` is scratch.
#[cfg(blockpool_test_hooks)]
macro_rules! count_failure {
    () => {
        concat!(
            "ldr r3, [r4, #8]\n",
            "adds r3, r3, #1\n",
            "str r3, [r4, #8]\n"
        )
    };
}

/// `pop_form!(short, clrex)`: the pop's lines `short` in the shipped build for M-profile
/// targets, `clrex` (the form with a `clrex` on the empty path) on A/R-profile targets
/// and in the `blockpool_test_hooks` build on every target, whose window lines are
/// written into that form.
macro_rules! pop_form {
    ($short:expr, $clrex:expr) => {
        test_build!($clrex, m_profile!($short, $clrex))
    };
}

/// The pop's text: `r1` is the address of `head`; `r0` ends as the top block taken off,
/// null if the list was empty; `r2` and `r3` are scratch (`r4`, `r5` as in
/// `window_store!` in the test build). The sequence is the one argued in the module docs:
///
/// - the short form (M-profile): no `clrex` on the empty path (see the module docs), and
///   `cbz` (Thumb only; `r0` and `r3` are low registers): the success path falls
///   through; a successful `strex` leaves by `cbz` (taken), so the retry costs the `b`
///   and the success path one instruction less than `cmp`/`bne`;
/// - the `clrex` form (A/R-profile): `cmp`/`beq` to the empty path, which closes the
///   window with `clrex`, and `cmp`/`bne` back to the `ldrex` when the `strex` failed;
/// - the test build (the `clrex` form): between the load of `next` and the `strex`, the
///   store a test armed in `POP_WINDOW_STORE` (e.g. NVIC set-pending), and a count of
///   the failed `strex`es in `POP_WINDOW_STORE`'s third word.
macro_rules! pop_text {
    () => {
        concat!(
            "2:\n",
            // Open the window on `head`; empty: to 3.
            "ldrex r0, [r1]\n",
            pop_form!("cbz r0, 3f\n", "cmp r0, #0\nbeq 3f\n"),
            // `next`, read INSIDE the window.
            "ldr r2, [r0]\n",
            test_build!(window_store!(), ""),
            // Fails if anything touched the monitor since the `ldrex`: then again from 2.
            "strex r3, r2, [r1]\n",
            pop_form!(
                "cbz r3, 4f\nb 2b\n4:\n",
                test_build!(
                    concat!("cmp r3, #0\nbeq 6f\n", count_failure!(), "b 2b\n6:\n"),
                    "cmp r3, #0\nbne 2b\n"
                )
            ),
            // Acquire: `dmb`, left out with `single-core` (see the module docs).
            single_core!("", "dmb\n"),
            // The empty path (A/R-profile: close the window we opened).
            pop_form!("3:\n", "b 4f\n3:\nclrex\n4:\n"),
        )
    };
}

/// The pop's `asm!`: `pop_text!` with the register `$operands` and `nostack`, and in
/// the test build `r4` = `POP_WINDOW_STORE`'s three words, `r5` scratch.
macro_rules! pop_sequence {
    ($($operands:tt)*) => {{
        #[cfg(not(blockpool_test_hooks))]
        asm!(pop_text!(), $($operands)* options(nostack));
        #[cfg(blockpool_test_hooks)]
        asm!(
            pop_text!(),
            $($operands)*
            in("r4") hook::POP_WINDOW_STORE.as_ptr(),
            out("r5") _,
            options(nostack)
        );
    }};
}

/// The push's retry loop, as lines of its text: `r0` is the chain's first header, `r1`
/// the address of `head`, `$last` the register holding the chain's last header (`r0`
/// itself for one block); `r3` and `r12` are scratch. It ends with the `strex`, whose
/// status (`r3`) `push_text!` tests.
///
/// Why it is sound: `head` is the list's atomic and the last header is owned by the
/// caller, so every access is to a valid, aligned word. The last header's `next` is
/// written with the value of `head` we then hold the exclusive reservation on; if `head`
/// changed in between we start again, and the new `ldrex` replaces the reservation (no
/// `clrex` needed: this sequence never `strex`es without its own `ldrex` first, and it
/// leaves only by a successful `strex`, which closes the reservation). The link is
/// stored *before* the `ldrex`, outside the window: whether an ordinary store between
/// `ldrex` and `strex` clears the monitor is IMPLEMENTATION DEFINED (an M-profile monitor
/// need not compare addresses), and where it does, a loop with the store inside would
/// never complete. The `dmb` between the link store and the `strex` (absent with
/// `single-core`) makes the push a release: the link and everything the freer wrote
/// before are visible to a core that sees the new head. The asm is not `nomem`, so it is
/// a compiler barrier too.
macro_rules! push_loop {
    ($last:literal) => {
        concat!(
            "2:\n",
            "ldr r3, [r1]\n",
            "str r3, [",
            $last,
            "]\n",
            // Release: `dmb`, left out with `single-core`.
            single_core!("", "dmb\n"),
            "ldrex r12, [r1]\n",
            "cmp r12, r3\n",
            "bne 2b\n",
            "strex r3, r0, [r1]\n",
        )
    };
}

/// M-profile with `single-core`: the push's first **attempt with the link stored inside
/// the window** (`ldrex`; `str` link; `strex`), heapless's push, left by `cbz` on
/// success; only if that `strex` failed does the retry loop follow. The attempt is sound
/// for the reason the loop is: the link holds the value of `head` that the reservation
/// covers, and the `strex` succeeds only if nothing touched the monitor since the
/// `ldrex` (an exception entry or return in between clears it; there is no other core).
/// It needs no barrier between the link store and the `strex`, because a single core's
/// interrupt handlers see its stores in program order, which is also why it is
/// `single-core` only. And it cannot livelock: on a core whose monitor *is* cleared by
/// the ordinary store, the attempt fails once and the loop, whose link store lies
/// outside the window, finishes the push. The fast path is `ldrex`, `str`, `strex`,
/// `cbz`: one instruction fewer than heapless 0.9.4's loop, without relying on
/// IMPLEMENTATION DEFINED behaviour for progress.
///
/// The test build adds, between the link store and the `strex`, the store a test armed
/// in `PUSH_WINDOW_STORE` (e.g. NVIC set-pending), and counts the attempts whose `strex`
/// failed (the loop then finishes the push).
#[cfg(all(blockpool_m_profile, feature = "single-core"))]
macro_rules! push_attempt {
    ($last:literal) => {
        concat!(
            "ldrex r3, [r1]\n",
            "str r3, [",
            $last,
            "]\n",
            test_build!(window_store!(), ""),
            "strex r3, r0, [r1]\n",
            "cbz r3, 3f\n",
            test_build!(count_failure!(), ""),
        )
    };
}
#[cfg(not(all(blockpool_m_profile, feature = "single-core")))]
macro_rules! push_attempt {
    ($last:literal) => {
        ""
    };
}

/// The push's text, for a chain and for one block (registers as in `push_loop!`): the
/// attempt (M-profile with `single-core`), then the retry loop, which leaves
///
/// - on A/R-profile by `cmp`/`bne` on the `strex` status;
/// - on M-profile by `cbz` (taken) on success, which saves the success path an
///   instruction.
macro_rules! push_text {
    ($last:literal) => {
        concat!(
            push_attempt!($last),
            push_loop!($last),
            m_profile!("cbz r3, 3f\nb 2b\n3:\n", "cmp r3, #0\nbne 2b\n"),
        )
    };
}

/// The push's `asm!`: `push_text!($last)` with the register `$operands` and `nostack`,
/// and where that text has the test build's window lines (M-profile, `single-core`)
/// `r4` = `PUSH_WINDOW_STORE`'s three words, `r5` scratch.
macro_rules! push_sequence {
    ($last:literal, $($operands:tt)*) => {{
        #[cfg(not(all(blockpool_test_hooks, blockpool_m_profile, feature = "single-core")))]
        asm!(push_text!($last), $($operands)* options(nostack));
        #[cfg(all(blockpool_test_hooks, blockpool_m_profile, feature = "single-core"))]
        asm!(
            push_text!($last),
            in("r4") hook::PUSH_WINDOW_STORE.as_ptr(),
            out("r5") _,
            $($operands)*
            options(nostack)
        );
    }};
}

/// Takes the top block off the list.
#[inline]
pub(super) fn pop(list: &FreeList) -> Option<NonNull<Link>> {
    let top: *mut Link;
    // SAFETY: `head` is our atomic, so the exclusive load and store address a valid,
    // aligned word. `top` is non-null when `ldr` reads through it, and every non-null
    // value of `head` is the header of a block of this pool (`'static` memory), whose
    // first word is `next`. The sequence is the one argued in the module docs; the
    // asm is not `nomem`, so it is also a compiler barrier. The `blockpool_test_hooks`
    // build also reads and writes the three words of `POP_WINDOW_STORE` (a `static`) and
    // stores to the address a test armed it with (`set_window_store`, test-only: the
    // test names a register such as NVIC's set-pending).
    unsafe {
        pop_sequence!(
            in("r1") list.head.as_ptr(),
            out("r0") top,
            out("r2") _,
            out("r3") _,
        )
    };
    NonNull::new(top)
}

/// Takes up to `out.len()` blocks off the top, one `pop` (one exclusive window) each;
/// returns how many. So on this backend a cache's refill is not one exchange of `head`
/// but one per block (its flush, `push_chain`, is one `strex`). A walk of the chain
/// inside one window would make the refill one `strex` too; it needs its own `asm!`
/// sequence and disassembly guard, and is not written yet.
pub(super) fn pop_batch(
    list: &FreeList,
    out: &mut [core::mem::MaybeUninit<NonNull<Link>>],
) -> usize {
    let mut taken = 0;
    while taken < out.len() {
        let Some(link) = pop(list) else { break };
        out[taken].write(link);
        taken += 1;
    }
    taken
}

/// Puts the chain `first ..= last` (already linked through `next`) on top.
///
/// # Safety
/// The chain's blocks belong to this list, are not in it, and are the caller's.
#[inline]
pub(super) unsafe fn push_chain(list: &FreeList, first: NonNull<Link>, last: NonNull<Link>) {
    // SAFETY: as argued at `push_loop!` and `push_text!` (above), with `last` the chain's
    // last header, which the caller owns. The test build's attempt also reads and writes
    // `PUSH_WINDOW_STORE` and stores where a test armed it, as the pop does.
    unsafe {
        push_sequence!(
            "r2",
            in("r0") first.as_ptr(),
            in("r1") list.head.as_ptr(),
            in("r2") last.as_ptr(),
            out("r3") _,
            out("r12") _,
        )
    };
}

/// Returns a block to the list.
///
/// # Safety
/// As for `FreeList::push`.
#[inline]
pub(super) unsafe fn push(list: &FreeList, link: NonNull<Link>) {
    // SAFETY: as at `push_chain`, with a chain of one block: `link` is first and last
    // (one register, so no copy of it is made).
    unsafe {
        push_sequence!(
            "r0",
            in("r0") link.as_ptr(),
            in("r1") list.head.as_ptr(),
            out("r3") _,
            out("r12") _,
        )
    };
}

/// What tests use to force an interrupt inside an exclusive window: of `pop` (between
/// its load of `next` and its `strex`) and, in `single-core` builds, of `push` (between
/// the link store of its in-window attempt and that attempt's `strex`).
#[cfg(blockpool_test_hooks)]
pub mod hook {
    use crate::sync::{AtomicUsize, Ordering};

    /// `[address, value, failures]` of one window, in the order the assembly reads them:
    /// while `address` is non-zero, the sequence stores `value` to it inside its window;
    /// `failures` counts the sequence's failed `strex`es.
    #[repr(transparent)]
    pub struct WindowStore([AtomicUsize; 3]);

    impl WindowStore {
        const fn new() -> Self {
            Self([
                AtomicUsize::new(0),
                AtomicUsize::new(0),
                AtomicUsize::new(0),
            ])
        }

        /// The three words, for the assembly.
        pub(crate) fn as_ptr(&self) -> *const AtomicUsize {
            self.0.as_ptr()
        }

        fn arm(&self, address: usize, value: usize) {
            self.0[1].store(value, Ordering::Relaxed);
            self.0[0].store(address, Ordering::Relaxed);
        }

        fn failures(&self) -> usize {
            self.0[2].load(Ordering::Relaxed)
        }
    }

    /// The pop's window; `failures` counts its retries (one per failed `strex`).
    pub static POP_WINDOW_STORE: WindowStore = WindowStore::new();
    /// The push's in-window attempt (`single-core` builds; others never read it);
    /// `failures` counts the attempts whose `strex` failed, so that the retry loop
    /// finished the push.
    pub static PUSH_WINDOW_STORE: WindowStore = WindowStore::new();

    /// Arms (or, with `address == 0`, disarms) the store inside the pop's window.
    pub fn set_window_store(address: usize, value: usize) {
        POP_WINDOW_STORE.arm(address, value);
    }

    /// Failed `strex`es of pops so far.
    pub fn pop_retries() -> usize {
        POP_WINDOW_STORE.failures()
    }

    /// Arms (or, with `address == 0`, disarms) the store inside the push's window
    /// (`single-core` builds).
    pub fn set_push_window_store(address: usize, value: usize) {
        PUSH_WINDOW_STORE.arm(address, value);
    }

    /// Pushes so far whose in-window attempt failed (`single-core` builds).
    pub fn push_fallbacks() -> usize {
        PUSH_WINDOW_STORE.failures()
    }
}
