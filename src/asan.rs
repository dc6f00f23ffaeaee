//! AddressSanitizer poisoning of free blocks' payloads, under `--cfg blockpool_asan`
//! (with `-Zsanitizer=address`; see `TESTING.md`): a block's payload is poisoned when it
//! goes back to the pool and unpoisoned when it is handed out, so ASan reports a use of
//! a pool block after its box was dropped ("use-after-poison"). The header stays
//! unpoisoned: other contexts read its atomic link at any time. No-ops otherwise.

#[cfg(blockpool_asan)]
extern "C" {
    fn __asan_poison_memory_region(addr: *const core::ffi::c_void, size: usize);
    fn __asan_unpoison_memory_region(addr: *const core::ffi::c_void, size: usize);
}

/// Marks `len` bytes at `ptr` as not addressable (a freed block's payload).
#[inline(always)]
#[allow(unused_variables)]
pub(crate) fn poison(ptr: *mut u8, len: usize) {
    #[cfg(blockpool_asan)]
    // SAFETY: the ASan runtime only updates its shadow memory for the range; `ptr..+len`
    // is a block payload this pool owns.
    unsafe {
        __asan_poison_memory_region(ptr.cast(), len)
    }
}

/// Marks `len` bytes at `ptr` as addressable again (a payload being handed out).
#[inline(always)]
#[allow(unused_variables)]
pub(crate) fn unpoison(ptr: *mut u8, len: usize) {
    #[cfg(blockpool_asan)]
    // SAFETY: as for `poison`.
    unsafe {
        __asan_unpoison_memory_region(ptr.cast(), len)
    }
}
