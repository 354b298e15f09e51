//! 预取 / A hint to the CPU to bring memory into cache before it is read.
//! The generator draws each connection's next devices a few events ahead
//! and prefetches their state, so the random pick of a device among
//! tens of thousands does not stall on a cache miss per event (it was
//! the generator's largest single cost).

/// Asks for the cache lines of `value` (at most `lines` of them) to be
/// loaded. Only a hint: no effect on what the program computes.
#[inline(always)]
pub fn prefetch<T>(value: &T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let base = (value as *const T).cast::<i8>();
        for line in 0..lines.min(std::mem::size_of::<T>().div_ceil(64)) {
            // SAFETY: PREFETCHT0 never faults and writes nothing; the
            // address is inside `value`, a live reference. SSE, which it
            // needs, is part of every x86_64 CPU.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(line * 64)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (value, lines);
    }
}
