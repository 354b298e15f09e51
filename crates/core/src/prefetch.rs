//! Asking the memory for a value ahead of its use, without waiting: the
//! tables read once per event (the shard's devices, a connection's
//! positions, the generator's devices) are far larger than the caches and
//! read in random order, so their lines are asked for a few events ahead.

/// Asks for the cache lines `value`'s bytes lie on (at most `lines` of
/// them, from its first) to be loaded. Only a hint: no effect on what the
/// program computes; nothing where the machine has no such instruction.
/// By the lines the bytes touch, not by the value's size: a 48-byte value
/// lies on one line or on two depending on where it starts.
#[inline(always)]
pub fn prefetch<T>(value: &T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = (value as *const T).cast::<i8>();
        for offset in line_offsets(start as usize, std::mem::size_of::<T>(), lines) {
            // SAFETY: PREFETCHT0 never faults and writes nothing; the
            // address is inside `value`, a live reference. SSE, which it
            // needs, is part of every x86_64 CPU.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (value, lines);
    }
}

/// Offsets from `address` of one byte on each cache line that `size`
/// bytes from there lie on (the first byte, then each next line's start),
/// at most `lines` of them.
#[inline(always)]
fn line_offsets(address: usize, size: usize, lines: usize) -> impl Iterator<Item = usize> {
    let into_line = address % 64;
    let spanned = (into_line + size.max(1) - 1) / 64 + 1;
    (0..spanned.min(lines)).map(move |line| (line * 64).saturating_sub(into_line))
}

#[cfg(test)]
mod tests {
    use super::line_offsets;

    fn offsets(address: usize, size: usize, lines: usize) -> Vec<usize> {
        line_offsets(address, size, lines).collect()
    }

    #[test]
    fn a_value_is_asked_for_on_each_line_it_lies_on() {
        // 48-byte slots one after another: on one line, then on two.
        assert_eq!(offsets(0, 48, 2), [0]);
        assert_eq!(offsets(48, 48, 2), [0, 16]);
        assert_eq!(offsets(96, 48, 2), [0, 32]);
        assert_eq!(offsets(144, 48, 2), [0]);
        // A line-aligned 64-byte set: one line.
        assert_eq!(offsets(128, 64, 2), [0]);
        // Bounded by `lines`, and a value of no size still has a line.
        assert_eq!(offsets(8, 256, 2), [0, 56]);
        assert_eq!(offsets(8, 256, 9), [0, 56, 120, 184, 248]);
        assert_eq!(offsets(5, 0, 1), [0]);
    }
}
