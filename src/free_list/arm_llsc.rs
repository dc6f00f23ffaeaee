//! Free list for 32-bit ARM with exclusive accesses (ARMv7-M, ARMv7E-M, ARMv8-M
//! mainline, ARMv7-A/R): a Treiber stack of plain pointers whose pop and push are
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
//!          dmb                      ; acquire
//!   empty: clrex                    ; close the window we opened
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
//! (ARMv7-A clusters, dual-core Cortex-M33/M7 chips); heapless 0.9 has none.
//!
//! `clrex` on the empty path matters: an interrupt handler that finds the list empty
//! would otherwise return with its reservation on `head` still open, and the `strex` of
//! the pop it interrupted could then succeed on a stale view.
//!
//! Progress: lock-free (a `strex` fails only if another context's access intervened).
//! Interrupt-safe: nothing waits for the interrupted context.

use core::arch::asm;
use core::ptr::{self, NonNull};

use crate::sync::AtomicPtr;

/// The most blocks one pool can hold on this backend (no limit but memory).
pub const MAX_BLOCKS: usize = usize::MAX;

/// The free list's header in each block: the address of the next free block.
#[repr(C)]
pub struct Link {
    next: AtomicPtr<Link>,
}

impl Link {
    pub const fn new() -> Self {
        Self {
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

/// A lock-free stack of free blocks.
pub struct FreeList {
    head: AtomicPtr<Link>,
}

impl FreeList {
    /// An empty list: all zeros, so a `static` pool lands in `.bss`. The blocks'
    /// stride is not stored; the methods that need it take it.
    pub const fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// [`pop`](Self::pop); the stride is for the tagged-index backend's address
    /// arithmetic, which this backend does not need.
    #[inline(always)]
    pub fn pop_strided(&self, _stride: usize) -> Option<NonNull<Link>> {
        self.pop()
    }

    /// Takes the top block off the list.
    #[inline]
    pub fn pop(&self) -> Option<NonNull<Link>> {
        let top: *mut Link;
        #[cfg(feature = "test-hooks")]
        let hook = hook::POP_WINDOW_STORE.as_ptr();
        #[cfg(feature = "test-hooks")]
        let retries: usize;
        // SAFETY: `head` is our atomic, so the exclusive load and store address a valid,
        // aligned word. `top` is non-null when `ldr` reads through it, and every non-null
        // value of `head` is the header of a block of this pool (`'static` memory), whose
        // first word is `next`. The sequence is the one argued in the module docs; the
        // asm is not `nomem`, so it is also a compiler barrier.
        unsafe {
            #[cfg(not(feature = "test-hooks"))]
            asm!(
                "2:",
                "ldrex {top}, [{head}]",
                "cmp {top}, #0",
                "beq 3f",
                "ldr {next}, [{top}]",
                "strex {fail}, {next}, [{head}]",
                "cmp {fail}, #0",
                "bne 2b",
                "dmb",
                "b 4f",
                "3:",
                "clrex",
                "4:",
                head = in(reg) self.head.as_ptr(),
                top = out(reg) top,
                next = out(reg) _,
                fail = out(reg) _,
                options(nostack),
            );
            // Test build: between the load of `next` and the `strex`, store a word to the
            // address the test put in `POP_WINDOW_STORE` (e.g. NVIC set-pending), and
            // count how often the `strex` failed.
            #[cfg(feature = "test-hooks")]
            asm!(
                "mov {retries}, #0",
                "2:",
                "ldrex {top}, [{head}]",
                "cmp {top}, #0",
                "beq 3f",
                "ldr {next}, [{top}]",
                "ldr {scratch}, [{hook}]",
                "cmp {scratch}, #0",
                "beq 5f",
                "ldr {next2}, [{hook}, #4]",
                "str {next2}, [{scratch}]",
                "5:",
                "strex {fail}, {next}, [{head}]",
                "cmp {fail}, #0",
                "beq 6f",
                "adds {retries}, {retries}, #1",
                "b 2b",
                "6:",
                "dmb",
                "b 4f",
                "3:",
                "clrex",
                "4:",
                head = in(reg) self.head.as_ptr(),
                hook = in(reg) hook,
                top = out(reg) top,
                next = out(reg) _,
                next2 = out(reg) _,
                scratch = out(reg) _,
                fail = out(reg) _,
                retries = out(reg) retries,
                options(nostack),
            );
        }
        #[cfg(feature = "test-hooks")]
        hook::POP_RETRIES.fetch_add(retries, crate::sync::Ordering::Relaxed);
        NonNull::new(top)
    }

    /// Puts the chain `first ..= last` (already linked through `next`) on top.
    #[inline]
    fn push_chain(&self, first: NonNull<Link>, last: NonNull<Link>) {
        // SAFETY: `head` is our atomic and `last` a header the caller owns, so every
        // access is to a valid, aligned word. `last.next` is written with the value of
        // `head` we then hold the exclusive reservation on; if `head` changed in between
        // we drop the reservation (`clrex`) and start again. The `dmb` between the
        // `next` store and the `strex` makes this a release: the link and everything the
        // freer wrote before are visible to a core that sees the new head.
        unsafe {
            asm!(
                "2:",
                "ldr {current}, [{head}]",
                "str {current}, [{last}]",
                "dmb",
                "ldrex {seen}, [{head}]",
                "cmp {seen}, {current}",
                "bne 3f",
                "strex {fail}, {first}, [{head}]",
                "cmp {fail}, #0",
                "bne 2b",
                "b 4f",
                "3:",
                "clrex",
                "b 2b",
                "4:",
                head = in(reg) self.head.as_ptr(),
                first = in(reg) first.as_ptr(),
                last = in(reg) last.as_ptr(),
                current = out(reg) _,
                seen = out(reg) _,
                fail = out(reg) _,
                options(nostack),
            );
        }
    }

    /// Returns a block to the list.
    ///
    /// # Safety
    /// `link` is the header of a block that belongs to this list, is not in it, and is
    /// not used by anyone any more.
    #[inline]
    pub unsafe fn push(&self, link: NonNull<Link>) {
        self.push_chain(link, link);
    }

    /// Adds `count` blocks, `stride` bytes apart from `first` on, to the list; returns
    /// `count`.
    ///
    /// # Safety
    /// The blocks are initialised (`Link::new`), exclusively ours from now on and
    /// `'static`.
    pub unsafe fn add_run(&self, first: NonNull<Link>, count: usize, stride: usize) -> usize {
        let set_next = |link: NonNull<Link>, next: NonNull<Link>| {
            // SAFETY: initialised and exclusively ours (the caller's promise).
            unsafe { link.as_ref() }
                .next
                .store(next.as_ptr(), crate::sync::Ordering::Relaxed);
        };
        // SAFETY: the caller's promise covers the `count` blocks.
        let last = unsafe { super::link_run(first, count, stride, set_next) };
        if let Some(last) = last {
            self.push_chain(first, last);
        }
        count
    }

    /// Whether `link` is one of this list's blocks: this backend cannot tell cheaply
    /// (a pointer stack keeps no table of its blocks), so it always says `true`.
    ///
    /// # Safety
    /// None beyond the tagged-index backend's signature, kept the same.
    pub(crate) unsafe fn owns(&self, _link: NonNull<Link>, _stride: usize) -> bool {
        true
    }

    /// Makes block `i` of the fixed storage at `storage` usable by this list.
    ///
    /// # Safety
    /// Block `i` of the array at `storage`, whose blocks are `stride` bytes apart,
    /// exists and is exclusively the caller's.
    pub unsafe fn adopt(&self, storage: NonNull<Link>, i: usize, stride: usize) -> NonNull<Link> {
        // SAFETY: block `i` is inside the caller's array.
        unsafe { storage.byte_add(i * stride) }
    }
}

/// What tests use to force an interrupt inside the exclusive window of `pop`.
#[cfg(feature = "test-hooks")]
pub mod hook {
    use crate::sync::{AtomicUsize, Ordering};

    /// `[address, value]`: while `address` is non-zero, every pop stores `value` to it
    /// between its load of `next` and its `strex`.
    pub static POP_WINDOW_STORE: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    /// How many times a pop's `strex` failed and the pop started again.
    pub static POP_RETRIES: AtomicUsize = AtomicUsize::new(0);

    /// Arms (or, with `address == 0`, disarms) the store inside the window.
    pub fn set_window_store(address: usize, value: usize) {
        POP_WINDOW_STORE[1].store(value, Ordering::Relaxed);
        POP_WINDOW_STORE[0].store(address, Ordering::Relaxed);
    }

    /// Failed `strex`es of pops so far.
    pub fn pop_retries() -> usize {
        POP_RETRIES.load(Ordering::Relaxed)
    }
}
