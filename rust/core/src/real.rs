//! The float types the kernels accept: `f32` and `f64`.

use crate::ln::{ln_normal_f32, ln_normal_f64};
use num_traits::Float;
use std::fmt::{Debug, Display};

/// A float the kernels run on. Implemented for `f32` and `f64` only.
pub trait Real: Float + Send + Sync + Debug + Display + 'static {
    /// `x * ln(x)` for `x > 0`, and 0 for `x == 0` (its limit) and for subnormal `x`
    /// (whose contribution is below the type's resolution); also 0 for negative `x` and NaN,
    /// which the kernels reject by other checks. The logarithm is [`crate::ln_f32`] /
    /// [`crate::ln_f64`] (on normal `x`, without their selects for special values), which
    /// vectorise; libm's would be one call per element.
    fn xlogx(self) -> Self;

    /// `acc + x ln x` as one fused multiply-add, `ln x` taken as for a normal `x`, with no
    /// select: zero adds nothing (`0 * finite`); a subnormal `x` adds `x` times a finite value
    /// (about -88 in `f32`; -709 or, where the exponent split wraps, about +2130 in `f64`)
    /// where [`Real::xlogx`] gives 0, at most about 1e-36 (`f32`) or 5e-305 (`f64`), far below
    /// the resolution of any sum of a row's terms; negative `x`, infinities and NaN give
    /// unspecified values, which the kernels reject by their row checks. Two vector operations
    /// fewer than `acc + x.xlogx()` (the select and a rounding).
    #[inline(always)] // into each instruction-set variant: its `mul_add` is then one FMA
    fn xlogx_fused(self, acc: Self) -> Self {
        self.mul_add(self.ln_normal(), acc)
    }

    /// `ln x` for a positive normal finite `x` ([`crate::ln_f32`] / [`crate::ln_f64`] without
    /// their selects for special values); anything else gives an unspecified value, never a
    /// panic.
    fn ln_normal(self) -> Self;

    /// A lower bound on `ln x` read off the bits (Mitchell's logarithm): for
    /// `x = 2^e (1 + f)`, `(e + f) ln 2`, which is below `ln x = (e + log2(1 + f)) ln 2` by at
    /// most `0.0861 ln 2 < 0.0597` (`log2(1 + f) - f` peaks at `f = 1/ln 2 - 1`), computed as
    /// one integer-to-float conversion and one fused multiply-add. For a positive normal
    /// finite `x` the result is at most `ln x + LN_LOWER_SLACK` (the roundings of the
    /// conversion, the constants and the multiply-add); zero and subnormals give a finite
    /// value (about -88 in `f32`, -709 in `f64`); negative `x` and NaN give unspecified finite
    /// values. Two vector operations where [`Real::ln_normal`] takes about sixteen: entropy
    /// top-k uses it to rule rows out before computing their exact scores.
    fn ln_lower(self) -> Self;

    /// How far [`Real::ln_lower`] may exceed `ln x` on a positive normal finite `x`, from
    /// rounding (an upper bound, checked by the tests): `4e-5` for `f32`, `1e-12` for `f64`.
    const LN_LOWER_SLACK: f64;

    /// Lossless widening, for error messages.
    fn to_f64_lossless(self) -> f64;
}

/// `Real` for a float type, from its `ln` on normal values, its bits' integer type, exponent
/// bias and mantissa width (for [`Real::ln_lower`]), and its widening to `f64`.
macro_rules! impl_real {
    ($t:ident, $ln_normal:path, $int:ident, $bias:expr, $mant:expr, $slack:expr, |$x:ident| $widen:expr) => {
        impl Real for $t {
            const LN_LOWER_SLACK: f64 = $slack;

            #[inline(always)]
            fn ln_lower(self) -> $t {
                // The bits of a positive float, read as an integer, are `(e + bias) 2^m + f 2^m`.
                let bits = self.to_bits() as $int as $t;
                const SCALE: $t = std::$t::consts::LN_2 / (1_u64 << $mant) as $t;
                const OFFSET: $t = -($bias as $t) * std::$t::consts::LN_2;
                bits.mul_add(SCALE, OFFSET)
            }

            #[inline(always)]
            fn xlogx(self) -> $t {
                if self >= $t::MIN_POSITIVE {
                    self * $ln_normal(self)
                } else {
                    0.0
                }
            }

            #[inline(always)]
            fn ln_normal(self) -> $t {
                $ln_normal(self)
            }

            #[inline(always)]
            fn to_f64_lossless(self) -> f64 {
                let $x = self;
                $widen
            }
        }
    };
}

impl_real!(f64, ln_normal_f64, i64, 1023, 52, 1e-12, |x| x);
impl_real!(f32, ln_normal_f32, i32, 127, 23, 4e-5, |x| f64::from(x));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xlogx_fused_is_one_rounding_of_acc_plus_x_ln_x() {
        for acc in [0.0_f32, -0.5, -2.25] {
            for x in [f32::MIN_POSITIVE, 1e-7, 0.1, 0.5, 0.99, 1.0] {
                assert_eq!(x.xlogx_fused(acc), x.mul_add(crate::ln_f32(x), acc), "{x}");
                let (y, b) = (f64::from(x), f64::from(acc));
                assert_eq!(y.xlogx_fused(b), y.mul_add(crate::ln_f64(y), b), "{y}");
            }
            // Zero adds nothing; a subnormal adds a term far below any row sum's resolution.
            assert_eq!(0.0_f32.xlogx_fused(acc), acc);
            assert_eq!(0.0_f64.xlogx_fused(f64::from(acc)), f64::from(acc));
            for x in [1e-45_f32, 3e-40, 1.1e-38] {
                assert!((x.xlogx_fused(acc) - acc).abs() <= 1e-36, "{x}");
            }
            for x in [5e-324_f64, 1e-310, 2.2e-308] {
                let b = f64::from(acc);
                assert!((x.xlogx_fused(b) - b).abs() <= 5e-305, "{x}");
                assert!((x * x.ln_normal()).abs() <= 5e-305 && x.ln_normal().is_finite());
            }
        }
    }

    /// `ln x - 0.0597 - slack <= ln_lower(x) <= ln x + slack` for positive normal `x`, with
    /// `ln` in `f64` (libm); equality (up to the slack) at powers of two.
    fn check_ln_lower<T: Real>(x: T) {
        let (lo, y) = (x.ln_lower().to_f64_lossless(), x.to_f64_lossless().ln());
        assert!(lo <= y + T::LN_LOWER_SLACK, "{x}: {lo} > ln x = {y}");
        assert!(
            lo >= y - 0.0597 - T::LN_LOWER_SLACK,
            "{x}: {lo} far below ln x = {y}"
        );
    }

    #[test]
    fn ln_lower_is_a_lower_bound_within_0_06() {
        // Every 97th mantissa of every normal exponent, and the ends of each binade.
        for e in 1..255_u32 {
            for m in (0..1_u32 << 23).step_by(97).chain([(1 << 23) - 1]) {
                check_ln_lower(f32::from_bits(e << 23 | m));
            }
        }
        let mut s = crate::testing::XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200_000 {
            let bits = s.next_u64();
            let x = f64::from_bits(bits >> 1); // positive
            if x.is_normal() {
                check_ln_lower(x);
            }
            let y = f32::from_bits((bits >> 33) as u32);
            if y.is_normal() {
                check_ln_lower(y);
            }
        }
        for x in [
            1.0_f32,
            2.0,
            0.5,
            f32::MIN_POSITIVE,
            f32::MAX,
            0.999_999_9,
            1e-30,
        ] {
            check_ln_lower(x);
            check_ln_lower(f64::from(x));
        }
        // Tight at powers of two, and finite below the normal range.
        assert!((0.25_f32.ln_lower() - 0.25_f32.ln()).abs() < 1e-5);
        for x in [0.0_f32, 1e-45, 1e-40] {
            assert!(x.ln_lower().is_finite() && x.ln_lower() < -86.0);
        }
        for x in [0.0_f64, 5e-324, 1e-310] {
            assert!(x.ln_lower().is_finite() && x.ln_lower() < -700.0);
        }
    }

    #[test]
    fn xlogx_is_zero_at_zero_one_and_subnormal() {
        assert_eq!(0.0_f32.xlogx(), 0.0);
        assert_eq!(1.0e-45_f32.xlogx(), 0.0);
        assert_eq!(1.0_f32.xlogx().to_bits(), 0.0_f32.to_bits());
        assert_eq!(0.0_f64.xlogx(), 0.0);
        assert_eq!(1e-310_f64.xlogx(), 0.0);
        assert_eq!(1.0_f64.xlogx().to_bits(), 0.0_f64.to_bits());
        assert_eq!((-0.5_f64).xlogx(), 0.0);
        assert_eq!(f32::NAN.xlogx(), 0.0);
    }

    #[test]
    fn xlogx_is_x_times_ln() {
        for x in [
            f32::MIN_POSITIVE,
            1e-30,
            1e-7,
            0.1,
            0.25,
            0.5,
            0.7,
            0.99,
            1.5,
        ] {
            assert_eq!(x.xlogx(), x * crate::ln_f32(x), "{x}");
            let y = f64::from(x);
            assert_eq!(y.xlogx(), y * crate::ln_f64(y), "{y}");
        }
    }
}
