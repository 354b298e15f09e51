//! Asking the memory for a value ahead of its use, without waiting: the
//! tables read once per event (the shard's devices, a connection's
//! positions, the generator's devices) are far larger than the caches and
//! read in random order, so their lines are asked for a few events ahead.

/// Asks for the cache lines of `value` (at most `lines` of them) to be
/// loaded. Only a hint: no effect on what the program computes; nothing
/// where the machine has no such instruction.
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
