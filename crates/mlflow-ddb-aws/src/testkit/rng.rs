//! Seeded randomness for tests whose inputs are random but must be
//! reproducible (fuzzing, crash points): SplitMix64, and the seed from an
//! environment variable or, when unset, the clock (the test prints it, so a
//! failure can be run again with the same seed).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// A duration in `[lo, hi)` (millisecond steps; `lo` when the span is
    /// under a millisecond).
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_millis().max(1) as u64;
        lo + Duration::from_millis(self.next_u64() % span)
    }
}

/// The seed in `var`, else one from the clock. Panics when `var` is set but
/// is not an unsigned integer (a mistyped seed must not run another case).
pub fn seed_from_env(var: &str) -> u64 {
    match std::env::var(var) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{var}={s}: not an unsigned integer")),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_sequence_and_ranges_hold() {
        let (mut a, mut b) = (SplitMix64(7), SplitMix64(7));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
        let lo = Duration::from_millis(10);
        let hi = Duration::from_millis(20);
        for _ in 0..200 {
            assert!(a.below(3) < 3);
            let d = a.between(lo, hi);
            assert!(d >= lo && d < hi, "{d:?}");
        }
        assert_eq!(a.below(0), 0);
    }
}
