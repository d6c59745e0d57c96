//! Helpers for tests and benchmarks, behind the `test-util` feature: never
//! part of confab's own build.

/// SplitMix64 (Steele, Lea, Flood 2014): a reproducible spread of test and
/// benchmark data from a seed, the same on every platform, where nothing is
/// secret. The one copy the store's tests, the benchmarks' seeder (and any
/// other test that wants generated data) share.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `[0, bound)` (modulo bias is negligible at test
    /// sizes); 0, drawing nothing, when `bound` is 0.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.next() % bound }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference outputs of seed 0 (Vigna's splitmix64.c).
    #[test]
    fn matches_the_reference() {
        let mut rng = SplitMix64(0);
        assert_eq!(rng.next(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn below_stays_below() {
        let mut rng = SplitMix64(7);
        assert!((0..1000).all(|_| rng.below(10) < 10));
        let before = rng.0;
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.0, before);
    }
}
