//! Natural logarithms for `f32` and `f64` that the compiler vectorises.
//!
//! libm's `logf`/`log` are opaque calls, one element at a time; the entropy kernels spend most
//! of their time in them. These are branch-free (every `if` is a select), built only from IEEE
//! operations (additions, multiplications, fused multiply-adds for `f32`, one division for
//! `f64`) and integer bit operations, so that the loops that call them compile to SIMD
//! instructions under every `target_feature` variant in [`crate::isa`], each variant giving
//! the same bits: every fused multiply-add is written out (`mul_add`; Rust never contracts
//! `a * b + c` by itself), and the order of operations is fixed.
//!
//! * `f32`: Arm's optimized-routines vector `logf` (`v_logf.c`, MIT OR Apache-2.0 WITH
//!   LLVM-exception): split `x = 2^n (1 + r)` with `1 + r` in `[2/3, 4/3)` by subtracting the
//!   bits of `2/3` from the bits of `x` (so `n` comes out of the exponent field and `1 + r` from
//!   the mantissa, with no comparison), then `ln x = n ln 2 + r + r^2 P(r)` with `P` a degree-6
//!   minimax polynomial evaluated by fused multiply-adds (Estrin's scheme in `r` and `r^2`).
//!   No division: on AVX-512 it costs about two thirds of the time of the earlier
//!   `2 atanh(s / 2)` form, whose division was most of the logarithm (`docs/rust-kernels.md`).
//!   Error: at most 3.34 ulp of the correctly rounded result over every positive float
//!   (tested against libm). A fused multiply-add is one IEEE operation, rounded once, so it
//!   gives the same bits on every instruction set: the AVX2 and AVX-512 variants compile it
//!   to `vfmadd`, the SSE2 baseline to libm's `fmaf` (correctly rounded, slower).
//! * `f64`: fdlibm's `log` (as in musl): `ln(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2))` with
//!   `s = f / (2 + f)`, `R` of degree 7 in `s^2`, and `ln 2` in two parts; fdlibm states an
//!   error below 1 ulp; tested to be at most 1 ulp from glibc's `log`. It splits `x = 2^k m`
//!   with `m` in `[sqrt(1/2), sqrt(2))` the same way, from the bits of `sqrt(1/2)`, and uses
//!   no fused operation.
//!
//! `ln 1 = 0` exactly, and `ln 2^n = n ln 2` rounded once (then `r = 0`).

/// Bits of `2/3` as an `f32` (its exponent field is 126): subtracting them from the bits of a
/// positive normal `x` leaves `n` (signed) in the exponent field and the mantissa of
/// `(1 + r) / (4/3)`'s offset below it.
const OFF_F32: u32 = 0x3f2a_aaab;
const MANT_MASK_F32: u32 = 0x007f_ffff;

/// Optimized-routines' coefficients of `P(r) = C1 + C2 r + ... + C7 r^6`, minimax for
/// `(ln(1 + r) - r) / r^2` over `r` in `[-1/3, 1/3]` (hexadecimal in the source; their bits are
/// checked in the tests).
const C1_F32: f32 = -0.49999917;
const C2_F32: f32 = 0.33336443;
const C3_F32: f32 = -0.2500934;
const C4_F32: f32 = 0.19827896;
const C5_F32: f32 = -0.16386643;
const C6_F32: f32 = 0.16924025;
const C7_F32: f32 = -0.1554937;

/// `n - n_offset` and `r` of a positive normal finite `x = 2^n (1 + r)`; `ln x` is
/// `finish_f32(n, r)`.
#[inline(always)]
fn parts_f32(x: f32, n_offset: f32) -> (f32, f32) {
    let u = x.to_bits().wrapping_sub(OFF_F32);
    // An arithmetic shift: `n` is negative below 2/3. `|n| <= 150`: exact as an f32.
    let n = ((u as i32) >> 23) as f32 - n_offset;
    let r = f32::from_bits((u & MANT_MASK_F32) + OFF_F32) - 1.0; // exact (Sterbenz)
    (n, r)
}

/// `n ln 2 + r + r^2 P(r)`, in optimized-routines' order of operations.
#[inline(always)]
fn finish_f32(n: f32, r: f32) -> f32 {
    let r2 = r * r;
    let p = C6_F32.mul_add(r, C5_F32);
    let q = C4_F32.mul_add(r, C3_F32);
    let y = C2_F32.mul_add(r, C1_F32);
    let p = C7_F32.mul_add(r2, p);
    let q = p.mul_add(r2, q);
    let y = q.mul_add(r2, y);
    let head = std::f32::consts::LN_2.mul_add(n, r);
    y.mul_add(r2, head)
}

/// `ln x` for a positive normal finite `f32` (anything else gives an unspecified finite or
/// infinite value, never a panic); see [`ln_f32`] for the error bound. The entropy kernels
/// call this on values they have checked to be normal, with no selects for special values.
#[inline(always)]
pub(crate) fn ln_normal_f32(x: f32) -> f32 {
    let (n, r) = parts_f32(x, 0.0);
    finish_f32(n, r)
}

/// Natural logarithm of an `f32`, at most 3.34 ulp from the correctly rounded result,
/// branch-free so that loops calling it vectorise.
///
/// Subnormal `x` are scaled by `2^24` first (exactly) and handled like any other value;
/// `ln 0 = -inf`, `ln inf = inf`, and negative numbers and NaN give NaN, as libm.
///
/// # Examples
/// ```
/// use activekit_core::ln_f32;
/// assert_eq!(ln_f32(1.0), 0.0);
/// assert!((ln_f32(std::f32::consts::E) - 1.0).abs() <= 2.0 * f32::EPSILON);
/// assert_eq!(ln_f32(0.0), f32::NEG_INFINITY);
/// assert!(ln_f32(-1.0).is_nan());
/// ```
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let subnormal = x < f32::MIN_POSITIVE;
    let scaled = if subnormal { x * 16_777_216.0 } else { x };
    let (n, r) = parts_f32(scaled, if subnormal { 24.0 } else { 0.0 });
    let y = finish_f32(n, r);
    // Special values, as selects (x == 0 is subnormal and positive-zero-like; NaN compares
    // false everywhere).
    let y = if x == f32::INFINITY { x } else { y };
    let y = if x == 0.0 { f32::NEG_INFINITY } else { y };
    if x < 0.0 || x.is_nan() {
        f32::NAN
    } else {
        y
    }
}

/// Bits of `sqrt(1/2)` as an `f64` (its exponent field is 1022).
const SQRT_HALF_BITS_F64: u64 = 0x3fe6_a09e_667f_3bcd;
const SQRT_HALF_MANT_F64: u64 = SQRT_HALF_BITS_F64 - (1022 << 52);
const MANT_MASK_F64: u64 = 0x000f_ffff_ffff_ffff;
/// `2^52`: `from_bits(e | bits(2^52)) - 2^52 == e` for `e < 2^52`, a conversion of a small
/// unsigned integer to `f64` that SSE2 and AVX2 vectorise (they have no 64-bit `cvt`).
const TWO_52_BITS: u64 = 0x4330_0000_0000_0000;
const TWO_52: f64 = 4_503_599_627_370_496.0;

// fdlibm's `e_log.c` constants (also musl's `log.c`), in shortest round-trip digits; their
// bits are checked against fdlibm's hexadecimal in the tests. `LN2_HI` has 11 trailing zero
// bits, so `k * LN2_HI` is exact for |k| < 2^11.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const LG1: f64 = 0.666_666_666_666_673_5;
const LG2: f64 = 0.399_999_999_994_094_2;
const LG3: f64 = 0.285_714_287_436_623_9;
const LG4: f64 = 0.222_221_984_321_497_84;
const LG5: f64 = 0.181_835_721_616_180_5;
const LG6: f64 = 0.153_138_376_992_093_73;
const LG7: f64 = 0.147_981_986_051_165_86;

/// `ln x` of a positive normal finite `x`, in fdlibm's order of operations; `k_offset` is
/// subtracted from the exponent (for subnormals scaled up first).
#[inline(always)]
fn core_f64(x: f64, k_offset: f64) -> f64 {
    let j = x.to_bits().wrapping_sub(SQRT_HALF_MANT_F64);
    // `j >> 52` is at most 2047; the 2^52 trick makes it an f64 exactly.
    let k = f64::from_bits((j >> 52) | TWO_52_BITS) - (TWO_52 + 1022.0) - k_offset;
    let m = f64::from_bits((j & MANT_MASK_F64) + SQRT_HALF_BITS_F64);
    let f = m - 1.0; // exact (Sterbenz)
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    s * (hfsq + r) + k * LN2_LO - hfsq + f + k * LN2_HI
}

/// `ln x` for a positive normal finite `f64` (anything else gives an unspecified value, never
/// a panic); see [`ln_f64`] for the error bound.
#[inline(always)]
pub(crate) fn ln_normal_f64(x: f64) -> f64 {
    core_f64(x, 0.0)
}

/// Natural logarithm of an `f64` by fdlibm's algorithm (error below 1 ulp; at most 1 ulp from
/// glibc's `log` in the tests), branch-free so that loops calling it vectorise.
///
/// Subnormal `x` are scaled by `2^54` first (exactly); `ln 0 = -inf`, `ln inf = inf`, and
/// negative numbers and NaN give NaN, as libm.
///
/// # Examples
/// ```
/// use activekit_core::ln_f64;
/// assert_eq!(ln_f64(1.0), 0.0);
/// assert_eq!(ln_f64(std::f64::consts::E), 1.0);
/// assert_eq!(ln_f64(0.0), f64::NEG_INFINITY);
/// assert!(ln_f64(f64::NAN).is_nan());
/// ```
#[inline(always)]
pub fn ln_f64(x: f64) -> f64 {
    let subnormal = x < f64::MIN_POSITIVE;
    let scaled = if subnormal {
        x * 18_014_398_509_481_984.0
    } else {
        x
    };
    let y = core_f64(scaled, if subnormal { 54.0 } else { 0.0 });
    let y = if x == f64::INFINITY { x } else { y };
    let y = if x == 0.0 { f64::NEG_INFINITY } else { y };
    if x < 0.0 || x.is_nan() {
        f64::NAN
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// optimized-routines' stated bound for its `logf`, which these tests check.
    const MAX_ULPS_F32: f64 = 3.34;

    /// Distance of `got` from the exact `ln x` in ulps of the correctly rounded result.
    /// `f64::ln` (glibc's, correctly rounded in practice and within 1 ulp always) stands in
    /// for the exact value of an `f32` logarithm: its error is 2^-29 of an f32 ulp.
    fn ulps_f32(x: f32, got: f32) -> f64 {
        let exact = f64::from(x).ln();
        let rounded = exact as f32;
        let ulp = if rounded == 0.0 {
            f64::from(f32::from_bits(1))
        } else {
            let r = rounded.abs();
            f64::from(f32::from_bits(r.to_bits() + 1) - r)
        };
        (f64::from(got) - exact).abs() / ulp
    }

    /// Distance of `got` from libm's `ln x` in units in the last place (glibc's `log` is
    /// itself within 0.52 ulp of the exact value).
    fn ulps_f64(x: f64, got: f64) -> u64 {
        let want = x.ln();
        if got.is_sign_negative() != want.is_sign_negative() {
            // Across zero (only near x = 1): the sum of the two distances from zero.
            return (got.to_bits() & !(1 << 63)) + (want.to_bits() & !(1 << 63));
        }
        got.to_bits().abs_diff(want.to_bits())
    }

    #[test]
    fn known_values() {
        assert_eq!(ln_f32(1.0).to_bits(), 0.0_f32.to_bits());
        assert_eq!(ln_f64(1.0).to_bits(), 0.0_f64.to_bits());
        assert_eq!(ln_normal_f32(1.0).to_bits(), 0.0_f32.to_bits());
        assert_eq!(ln_normal_f64(1.0).to_bits(), 0.0_f64.to_bits());
        assert_eq!(ln_f32(2.0), std::f32::consts::LN_2);
        assert_eq!(ln_f64(2.0), std::f64::consts::LN_2);
        assert_eq!(ln_f64(10.0), std::f64::consts::LN_10);
        assert_eq!(ln_f64(std::f64::consts::E), 1.0);
        assert!((ln_f32(std::f32::consts::E) - 1.0).abs() <= f32::EPSILON);
        assert_eq!(ln_f32(0.5), -std::f32::consts::LN_2);
        assert_eq!(ln_f64(0.25), -2.0 * std::f64::consts::LN_2);
        // Powers of two are k ln 2 (m = 1), exactly as the constant rounds.
        for k in -149..128_i32 {
            let x = if k >= -126 {
                f32::from_bits(((k + 127) as u32) << 23)
            } else {
                f32::from_bits(1 << (k + 149))
            };
            assert_eq!(ln_f32(x), k as f32 * std::f32::consts::LN_2, "2^{k}");
        }
        for k in -1074..1024_i32 {
            let x = if k >= -1022 {
                f64::from_bits(((k + 1023) as u64) << 52)
            } else {
                f64::from_bits(1 << (k + 1074))
            };
            assert!(ulps_f64(x, ln_f64(x)) <= 1, "2^{k}");
        }
        // Extremes.
        assert!(ulps_f32(f32::MAX, ln_f32(f32::MAX)) <= MAX_ULPS_F32);
        assert!(ulps_f32(f32::from_bits(1), ln_f32(f32::from_bits(1))) <= MAX_ULPS_F32);
        assert!(ulps_f64(f64::MAX, ln_f64(f64::MAX)) <= 1);
        assert!(ulps_f64(f64::from_bits(1), ln_f64(f64::from_bits(1))) <= 1);
    }

    #[test]
    fn constants_are_fdlibms_bits() {
        let bits = [LN2_HI, LN2_LO, LG1, LG2, LG3, LG4, LG5, LG6, LG7].map(f64::to_bits);
        assert_eq!(
            bits,
            [
                0x3fe6_2e42_fee0_0000,
                0x3dea_39ef_3579_3c76,
                0x3fe5_5555_5555_5593,
                0x3fd9_9999_9997_fa04,
                0x3fd2_4924_9422_9359,
                0x3fcc_71c5_1d8e_78af,
                0x3fc7_4664_96cb_03de,
                0x3fc3_9a09_d078_c69f,
                0x3fc2_f112_df3e_5244,
            ]
        );
        // optimized-routines' -0x1.ffffc8p-2, 0x1.555d7cp-2, -0x1.00187cp-2, 0x1.961348p-3,
        // -0x1.4f9934p-3, 0x1.5a9aa2p-3, -0x1.3e737cp-3.
        assert_eq!(
            [C1_F32, C2_F32, C3_F32, C4_F32, C5_F32, C6_F32, C7_F32].map(f32::to_bits),
            [
                0xbeff_ffe4,
                0x3eaa_aebe,
                0xbe80_0c3e,
                0x3e4b_09a4,
                0xbe27_cc9a,
                0x3e2d_4d51,
                0xbe1f_39be,
            ]
        );
    }

    #[test]
    fn special_values_as_libm() {
        assert_eq!(ln_f32(0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f32(-0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f32(f32::INFINITY), f32::INFINITY);
        assert!(ln_f32(-1.0).is_nan() && ln_f32(f32::NAN).is_nan());
        assert!(ln_f32(f32::NEG_INFINITY).is_nan() && ln_f32(-1e-40).is_nan());
        assert_eq!(ln_f64(0.0), f64::NEG_INFINITY);
        assert_eq!(ln_f64(-0.0), f64::NEG_INFINITY);
        assert_eq!(ln_f64(f64::INFINITY), f64::INFINITY);
        assert!(ln_f64(-1.0).is_nan() && ln_f64(f64::NAN).is_nan());
        assert!(ln_f64(f64::NEG_INFINITY).is_nan() && ln_f64(-1e-310).is_nan());
    }

    #[test]
    fn f32_within_bound_over_a_dense_sweep() {
        // Every 61st float from the smallest subnormal to 1 (about 17 million values would be
        // every float; this is 1/61 of them, all exponents and mantissa patterns), then a
        // geometric sweep up to the largest float.
        let mut worst = (0.0, 0.0_f32);
        let mut bits = 1_u32;
        while bits <= 1.0_f32.to_bits() {
            let x = f32::from_bits(bits);
            let e = ulps_f32(x, ln_f32(x));
            if e > worst.0 {
                worst = (e, x);
            }
            if x >= f32::MIN_POSITIVE {
                assert_eq!(ln_normal_f32(x).to_bits(), ln_f32(x).to_bits(), "{x:e}");
            }
            bits += 61;
        }
        let mut x = 1.0_f32;
        while x < f32::MAX / 1.001 {
            let e = ulps_f32(x, ln_f32(x));
            if e > worst.0 {
                worst = (e, x);
            }
            x *= 1.000_37;
        }
        assert!(worst.0 <= MAX_ULPS_F32, "{} ulp at {:e}", worst.0, worst.1);
    }

    #[test]
    fn f32_within_bound_next_to_one() {
        // Every float within 2^-9 of 1 on either side, where `ln x` is smallest.
        for bits in (1.0_f32.to_bits() - (1 << 15))..(1.0_f32.to_bits() + (1 << 14)) {
            let x = f32::from_bits(bits);
            let e = ulps_f32(x, ln_f32(x));
            assert!(e <= MAX_ULPS_F32, "{e} ulp at {x:e}");
        }
    }

    #[test]
    fn f64_within_one_ulp_over_a_sweep() {
        let mut worst = (0, 0.0_f64);
        // Subnormals, bit patterns growing geometrically.
        let mut bits = 1_u64;
        while bits < f64::MIN_POSITIVE.to_bits() {
            let x = f64::from_bits(bits);
            let e = ulps_f64(x, ln_f64(x));
            if e > worst.0 {
                worst = (e, x);
            }
            bits += 1 + bits / 1000;
        }
        let mut x = f64::MIN_POSITIVE;
        while x < f64::MAX / 1.0001 {
            let e = ulps_f64(x, ln_f64(x));
            if e > worst.0 {
                worst = (e, x);
            }
            x *= 1.000_7;
        }
        // Near 1, where ln x is smallest relative to x - 1.
        for i in -20_000..20_000 {
            let x = 1.0 + f64::from(i) * 1e-9;
            let e = ulps_f64(x, ln_f64(x));
            if e > worst.0 {
                worst = (e, x);
            }
        }
        assert!(worst.0 <= 1, "{} ulp at {:e}", worst.0, worst.1);
    }

    /// `ln` of the `$t` with the bits `$bits` against the standard library's: NaN where it is NaN, the same
    /// infinity, else within `max_ulps`; on normal `x` the same bits as the `ln` without the
    /// special-value selects.
    macro_rules! random_bits {
        ($t:ident, $bits:expr, $ln:ident, $ln_normal:ident, $ulps:ident, $max_ulps:expr) => {{
            let x = $t::from_bits($bits);
            let got = $ln(x);
            let want = x.ln();
            if want.is_nan() {
                prop_assert!(got.is_nan(), "ln({:e}) = {}", x, got);
            } else if want.is_infinite() {
                prop_assert_eq!(got, want);
            } else {
                prop_assert!(
                    $ulps(x, got) <= $max_ulps,
                    "ln({:e}) = {} vs {}",
                    x,
                    got,
                    want
                );
                if x >= $t::MIN_POSITIVE {
                    prop_assert_eq!($ln_normal(x).to_bits(), got.to_bits());
                }
            }
        }};
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn f32_random_bits(bits in any::<u32>()) {
            random_bits!(f32, bits, ln_f32, ln_normal_f32, ulps_f32, MAX_ULPS_F32);
        }

        #[test]
        fn f64_random_bits(bits in any::<u64>()) {
            random_bits!(f64, bits, ln_f64, ln_normal_f64, ulps_f64, 1);
        }

        #[test]
        fn f64_random_in_unit_interval(x in 1e-300..1.0f64) {
            // Probabilities: where the entropy kernels take logarithms.
            prop_assert!(ulps_f64(x, ln_f64(x)) <= 1, "ln({:e}) = {}", x, ln_f64(x));
        }
    }
}
