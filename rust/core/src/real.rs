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

    /// Lossless widening, for error messages.
    fn to_f64_lossless(self) -> f64;
}

/// `Real` for a float type, from its `ln` on normal values and its widening to `f64`.
macro_rules! impl_real {
    ($t:ident, $ln_normal:path, |$x:ident| $widen:expr) => {
        impl Real for $t {
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

impl_real!(f64, ln_normal_f64, |x| x);
impl_real!(f32, ln_normal_f32, |x| f64::from(x));

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
