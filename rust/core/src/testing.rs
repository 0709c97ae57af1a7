//! Helpers shared by the unit tests of the kernel modules.

/// A xorshift64 stream: the same values on every platform and in every run.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    /// The next state.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A uniform value in `[0, 1)` from the top 53 bits of `state`.
    pub(crate) fn unit(state: u64) -> f64 {
        (state >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An unnormalised probability: an exact zero one time in seven, a tiny value (`1e-30`)
    /// one time in seven, else uniform in `[0, 1)`.
    pub(crate) fn probability(&mut self) -> f64 {
        let state = self.next_u64();
        match state % 7 {
            0 => 0.0,
            1 => 1e-30,
            _ => Self::unit(state),
        }
    }
}
