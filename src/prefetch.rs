//! Asks the processor to bring memory into its caches ahead of use: state
//! that the next events will touch is requested while the current one is
//! worked on, so that the two waits overlap instead of adding up.

/// Starts loading the cache line holding `item`; a hint only, which
/// changes no value (a no-op on processors other than x86-64).
#[inline(always)]
pub(crate) fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: a prefetch reads nothing the program can observe and cannot
    // fault; `item` is a live reference in any case.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(item).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}
