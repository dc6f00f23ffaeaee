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
//! `strex` fails (`push_sequence!` argues both). On M-profile both sequences leave by a
//! `cbz` on the `strex` status, one instruction fewer than `cmp`/`bne` on success.
//!
//! Registers are named explicitly (r0-r3, r12; r4-r5 in the `blockpool_test_hooks` build): the
//! compares with an immediate exist only for r0-r7 on ARMv8-M baseline, so a register
//! the compiler picked could make a user's build fail to assemble there.
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

// The barriers of the pop (acquire) and the push (release), as lines of their `asm!`:
// `dmb` by default; nothing with the `single-core` feature, for single-core parts
// whose only other observers are the core's own interrupt handlers, which see its
// accesses in program order (see the crate docs).
#[cfg(not(feature = "single-core"))]
macro_rules! acquire_barrier {
    () => {
        "dmb"
    };
}
#[cfg(feature = "single-core")]
macro_rules! acquire_barrier {
    () => {
        ""
    };
}
#[cfg(not(feature = "single-core"))]
macro_rules! release_barrier {
    () => {
        "dmb"
    };
}
#[cfg(feature = "single-core")]
macro_rules! release_barrier {
    () => {
        ""
    };
}
/// The push's retry loop, as one piece of `asm!` text: `r0` is the chain's first header,
/// `r1` the address of `head`, `$last` the register holding the chain's last header (`r0`
/// itself for one block); `r3` and `r12` are scratch. It ends with the `strex`, whose
/// status (`r3`) the caller's `push_sequence!` tests.
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
            release_barrier!(),
            "\n",
            "ldrex r12, [r1]\n",
            "cmp r12, r3\n",
            "bne 2b\n",
            "strex r3, r0, [r1]\n",
        )
    };
}

/// The push, one `asm!` block for a chain and for one block (registers as in
/// `push_loop!`).
///
/// - A/R-profile: the retry loop, `cmp`/`bne` on the `strex` status.
/// - M-profile: the same loop, left by `cbz` (taken) on success, which saves the
///   success path an instruction.
/// - M-profile with `single-core`: first **one attempt with the link stored inside the
///   window** (`ldrex`; `str` link; `strex`), heapless's push, then, only if that
///   `strex` failed, the retry loop. The attempt is sound for the reason the loop is:
///   the link holds the value of `head` that the reservation covers, and the `strex`
///   succeeds only if nothing touched the monitor since the `ldrex` (an exception entry
///   or return in between clears it; there is no other core). It needs no barrier
///   between the link store and the `strex`, because a single core's interrupt handlers
///   see its stores in program order, which is also why it is `single-core` only. And it
///   cannot livelock: on a core whose monitor *is* cleared by the ordinary store, the
///   attempt fails once and the loop, whose link store lies outside the window, finishes
///   the push. The fast path is `ldrex`, `str`, `strex`, `cbz`: one instruction fewer
///   than heapless 0.9.4's loop, without relying on IMPLEMENTATION DEFINED behaviour for
///   progress.
macro_rules! push_sequence {
    ($last:literal, $($operands:tt)*) => {{
        #[cfg(not(blockpool_m_profile))]
        asm!(push_loop!($last), "cmp r3, #0", "bne 2b", $($operands)*);
        #[cfg(all(blockpool_m_profile, not(feature = "single-core")))]
        asm!(push_loop!($last), "cbz r3, 3f", "b 2b", "3:", $($operands)*);
        #[cfg(all(blockpool_m_profile, feature = "single-core", not(blockpool_test_hooks)))]
        asm!(
            "ldrex r3, [r1]",
            concat!("str r3, [", $last, "]"),
            "strex r3, r0, [r1]",
            "cbz r3, 3f",
            push_loop!($last),
            "cbz r3, 3f",
            "b 2b",
            "3:",
            $($operands)*
        );
        // Test build: between the link store and the `strex` of the attempt, store the
        // word the test put in `PUSH_WINDOW_STORE` (e.g. NVIC set-pending), and count
        // the attempts whose `strex` failed (the loop then finishes the push). Low
        // registers only, as in the pop's test build.
        #[cfg(all(blockpool_m_profile, feature = "single-core", blockpool_test_hooks))]
        asm!(
            "ldrex r3, [r1]",
            concat!("str r3, [", $last, "]"),
            "ldr r3, [r4]",
            "cmp r3, #0",
            "beq 5f",
            "ldr r5, [r4, #4]",
            "str r5, [r3]",
            "5:",
            "strex r3, r0, [r1]",
            "cbz r3, 3f",
            "ldr r3, [r4, #8]",
            "adds r3, r3, #1",
            "str r3, [r4, #8]",
            push_loop!($last),
            "cbz r3, 3f",
            "b 2b",
            "3:",
            in("r4") hook::PUSH_WINDOW_STORE.as_ptr(),
            out("r5") _,
            $($operands)*
        );
    }};
}

/// Takes the top block off the list.
#[inline]
pub(super) fn pop(list: &FreeList) -> Option<NonNull<Link>> {
    let top: *mut Link;
    #[cfg(blockpool_test_hooks)]
    let hook = hook::POP_WINDOW_STORE.as_ptr();
    // SAFETY: `head` is our atomic, so the exclusive load and store address a valid,
    // aligned word. `top` is non-null when `ldr` reads through it, and every non-null
    // value of `head` is the header of a block of this pool (`'static` memory), whose
    // first word is `next`. The sequence is the one argued in the module docs; the
    // asm is not `nomem`, so it is also a compiler barrier. The `blockpool_test_hooks` build
    // also reads and writes the three words of `POP_WINDOW_STORE` (a `static`) and
    // stores to the address a test armed it with (`set_window_store`, test-only: the
    // test names a register such as NVIC's set-pending).
    unsafe {
        // M-profile: no `clrex` on the empty path (see the module docs), and `cbz`
        // (Thumb only, `r0` is a low register): the success path falls through.
        // A successful `strex` leaves by `cbz` (taken), so the retry costs the
        // `b` and the success path one instruction less than `cmp`/`bne`.
        #[cfg(all(not(blockpool_test_hooks), blockpool_m_profile))]
        asm!(
            "2:",
            "ldrex r0, [r1]",
            "cbz r0, 3f",
            "ldr r2, [r0]",
            "strex r3, r2, [r1]",
            "cbz r3, 4f",
            "b 2b",
            "4:",
            acquire_barrier!(),
            "3:",
            in("r1") list.head.as_ptr(),
            out("r0") top,
            out("r2") _,
            out("r3") _,
            options(nostack),
        );
        #[cfg(all(not(blockpool_test_hooks), not(blockpool_m_profile)))]
        asm!(
            "2:",
            "ldrex r0, [r1]",
            "cmp r0, #0",
            "beq 3f",
            "ldr r2, [r0]",
            "strex r3, r2, [r1]",
            "cmp r3, #0",
            "bne 2b",
            acquire_barrier!(),
            "b 4f",
            "3:",
            "clrex",
            "4:",
            in("r1") list.head.as_ptr(),
            out("r0") top,
            out("r2") _,
            out("r3") _,
            options(nostack),
        );
        // Test build: between the load of `next` and the `strex`, store a word to the
        // address the test put in `POP_WINDOW_STORE` (e.g. NVIC set-pending), and
        // count how often the `strex` failed.
        #[cfg(blockpool_test_hooks)]
        // Low registers only (ARMv8-M baseline's 16-bit loads and stores); the retry
        // count goes to `POP_WINDOW_STORE[2]` (a plain load/add/store: only the
        // retrying context writes it, after any handler that interrupted it returned).
        asm!(
            "2:",
            "ldrex r0, [r1]",
            "cmp r0, #0",
            "beq 3f",
            "ldr r2, [r0]",
            "ldr r3, [r4]",
            "cmp r3, #0",
            "beq 5f",
            "ldr r5, [r4, #4]",
            "str r5, [r3]",
            "5:",
            "strex r3, r2, [r1]",
            "cmp r3, #0",
            "beq 6f",
            "ldr r3, [r4, #8]",
            "adds r3, r3, #1",
            "str r3, [r4, #8]",
            "b 2b",
            "6:",
            acquire_barrier!(),
            "b 4f",
            "3:",
            "clrex",
            "4:",
            in("r1") list.head.as_ptr(),
            in("r4") hook,
            out("r0") top,
            out("r2") _,
            out("r3") _,
            out("r5") _,
            options(nostack),
        );
    }
    NonNull::new(top)
}

/// Puts the chain `first ..= last` (already linked through `next`) on top.
///
/// # Safety
/// The chain's blocks belong to this list, are not in it, and are the caller's.
#[inline]
pub(super) unsafe fn push_chain(list: &FreeList, first: NonNull<Link>, last: NonNull<Link>) {
    // SAFETY: as argued at `push_loop!` and `push_sequence!` (above), with `last` the chain's last header,
    // which the caller owns.
    unsafe {
        push_sequence!(
            "r2",
            in("r0") first.as_ptr(),
            in("r1") list.head.as_ptr(),
            in("r2") last.as_ptr(),
            out("r3") _,
            out("r12") _,
            options(nostack),
        )
    };
}

/// Returns a block to the list.
///
/// # Safety
/// As for `FreeList::push`.
#[inline]
pub(super) unsafe fn push(list: &FreeList, link: NonNull<Link>) {
    // SAFETY: as argued at `push_loop!` and `push_sequence!`, with a chain of one block: `link` is first and
    // last (one register, so no copy of it is made).
    unsafe {
        push_sequence!(
            "r0",
            in("r0") link.as_ptr(),
            in("r1") list.head.as_ptr(),
            out("r3") _,
            out("r12") _,
            options(nostack),
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
