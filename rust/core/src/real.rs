//! The float types the kernels accept: `f32` and `f64`.

use num_traits::Float;
use std::fmt::{Debug, Display};

/// A float the kernels run on. Implemented for `f32` and `f64` only.
pub trait Real: Float + Send + Sync + Debug + Display + 'static {
    /// `x * ln(x)` for `x > 0`, and 0 for `x == 0` (its limit) and for subnormal `x`
    /// (whose contribution is below the type's resolution).
    fn xlogx(self) -> Self;

    /// Lossless widening, for error messages.
    fn to_f64_lossless(self) -> f64;
}

impl Real for f64 {
    #[inline(always)]
    fn xlogx(self) -> f64 {
        if self >= f64::MIN_POSITIVE {
            self * self.ln()
        } else {
            0.0
        }
    }

    #[inline(always)]
    fn to_f64_lossless(self) -> f64 {
        self
    }
}

impl Real for f32 {
    #[inline(always)]
    fn xlogx(self) -> f32 {
        if self >= f32::MIN_POSITIVE {
            self * ln_f32(self)
        } else {
            0.0
        }
    }

    #[inline(always)]
    fn to_f64_lossless(self) -> f64 {
        f64::from(self)
    }
}

/// Natural logarithm of a positive normal `f32`, branch-free so that the compiler can
/// vectorise the loops that call it (libm's `logf` is an opaque call per element).
///
/// This is the Cephes `logf` range reduction and polynomial: `x = m * 2^e` with
/// `m` in `[sqrt(1/2), sqrt(2))`, `ln x = e ln 2 + ln m`; its error is within 2 ulp of the
/// correctly rounded result over the normal range, which the tests check against NumPy.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 126;
    // Mantissa in [0.5, 1).
    let mantissa = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = mantissa < SQRT_HALF;
    let e = (exponent - i32::from(small)) as f32;
    let m = if small {
        mantissa + mantissa - 1.0
    } else {
        mantissa - 1.0
    };
    let z = m * m;
    let mut y = 7.037_683_6e-2_f32;
    y = y * m - 1.151_461e-1;
    y = y * m + 1.167_699_9e-1;
    y = y * m - 1.242_014_1e-1;
    y = y * m + 1.424_932_3e-1;
    y = y * m - 1.666_805_8e-1;
    y = y * m + 2.000_071_5e-1;
    y = y * m - 2.499_999_4e-1;
    y = y * m + 3.333_333e-1;
    y *= m * z;
    y += -2.121_944_4e-4 * e;
    y += -0.5 * z;
    m + y + 0.693_359_4 * e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_f32_matches_std_within_two_ulp() {
        let mut x = f32::MIN_POSITIVE;
        while x < 1.0e30 {
            let want = f64::from(x).ln();
            let got = f64::from(ln_f32(x));
            let ulp = f64::from(f32::EPSILON) * want.abs().max(f64::from(f32::MIN_POSITIVE));
            assert!(
                (got - want).abs() <= 2.0 * ulp + 1e-7,
                "ln({x}) = {got}, want {want}"
            );
            x *= 1.000_37;
        }
    }

    #[test]
    fn xlogx_is_zero_at_zero_and_subnormal() {
        assert_eq!(0.0_f32.xlogx(), 0.0);
        assert_eq!(1.0e-45_f32.xlogx(), 0.0);
        assert_eq!(0.0_f64.xlogx(), 0.0);
        assert_eq!(1.0_f32.xlogx(), 0.0);
    }
}
