//! Which devices a `sample` recording keeps: a device is in or out as a
//! whole, decided by a fixed hash of its id, so every run of the hub (and
//! every node) samples the same devices and each kept device's series is
//! complete.

/// Keeps a `share` (0..1] of devices.
#[derive(Debug, Clone, Copy)]
pub struct DeviceSample {
    /// Devices whose hash is below this are kept.
    below: u64,
}

impl DeviceSample {
    /// A sample of `share` of the devices (1: all).
    pub fn new(share: f64) -> DeviceSample {
        let below = if share >= 1.0 {
            u64::MAX
        } else {
            (share.max(0.0) * u64::MAX as f64) as u64
        };
        DeviceSample { below }
    }

    /// Whether `device` is recorded.
    #[inline]
    pub fn keeps(&self, device: u64) -> bool {
        self.below == u64::MAX || splitmix64(device) < self.below
    }
}

/// SplitMix64's finaliser: a stable, well-mixed hash of a u64.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_keeps_about_that_share_of_devices_and_always_the_same_ones() {
        let s = DeviceSample::new(0.25);
        let kept = (0..100_000u64).filter(|&d| s.keeps(d)).count();
        assert!((23_000..27_000).contains(&kept), "{kept}");
        assert!((0..1000u64).all(|d| s.keeps(d) == DeviceSample::new(0.25).keeps(d)));
        assert!((0..1000u64).all(|d| DeviceSample::new(1.0).keeps(d)));
    }
}
