//! Asking the memory for a cache line ahead of its use, without waiting:
//! the tables read once per event (the shard's devices, a connection's
//! positions) are far larger than the caches and read in random order, so
//! their lines are asked for a few events ahead.

/// Asks for the cache line at `p` (where the machine has such an
/// instruction; elsewhere nothing).
#[inline(always)]
pub(crate) fn line(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it reads nothing the program
    // sees and cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
