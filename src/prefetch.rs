//! Asks the processor to bring memory into its caches ahead of use: state
//! that the next events will touch is requested while the current one is
//! worked on, so that the two waits overlap instead of adding up.

/// Starts loading the cache line holding `item`; a hint only, which
/// changes no value (a no-op on processors other than x86-64).
#[inline(always)]
pub(crate) fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    safe_arch::prefetch_t0(item);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}
