//! Uncertainty scores over an `(n, c)` matrix of class probabilities, alone or fused with
//! top-k selection. Higher scores mean more informative rows:
//!
//! * least confident: `1 - max_j p_j`
//! * margin: `1 - (p_(1) - p_(2))`, one minus the gap between the two largest probabilities
//! * entropy: `-sum_j p_j ln p_j` (natural log, `0 ln 0 = 0`)
//!
//! Every row is validated in the same pass that scores it: a row with a NaN or infinite
//! value, a negative entry, or a sum further than `tol` from one is an error naming the row.

use crate::error::{KernelError, Result};
use crate::real::Real;
use crate::topk::{check_k, top_k_by, TopK, BLOCK};
use ndarray::{Array1, ArrayView2};
use rayon::prelude::*;
use std::str::FromStr;

/// Which uncertainty measure to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncertainty {
    /// `1 - max p`.
    LeastConfident,
    /// `1 - (p_(1) - p_(2))`.
    Margin,
    /// `-sum p ln p`.
    Entropy,
}

impl FromStr for Uncertainty {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "least_confident" => Ok(Self::LeastConfident),
            "margin" => Ok(Self::Margin),
            "entropy" => Ok(Self::Entropy),
            other => Err(format!(
                "unknown uncertainty measure {other:?}; expected one of \"entropy\", \"least_confident\", \"margin\""
            )),
        }
    }
}

/// Lanes of the per-row accumulators: wide enough for AVX-512 on f32, and the order in which
/// a row is reduced depends only on its length, never on its position or the thread count.
const LANES: usize = 16;

/// Everything one pass over a row gathers.
struct RowStats<T> {
    sum: T,
    min: T,
    top1: T,
    top2: T,
    xlogx: T,
}

#[inline(always)]
fn push_top2<T: Real>(top1: &mut T, top2: &mut T, v: T) {
    let lo = if v < *top1 { v } else { *top1 };
    *top1 = if v < *top1 { *top1 } else { v };
    *top2 = if lo < *top2 { *top2 } else { lo };
}

#[inline(always)]
fn row_stats<T: Real>(row: &[T], kind: Uncertainty) -> RowStats<T> {
    let zero = T::zero();
    let neg_inf = T::neg_infinity();
    let mut sum = [zero; LANES];
    let mut min = [T::infinity(); LANES];
    let mut top1 = [neg_inf; LANES];
    let mut top2 = [neg_inf; LANES];
    let mut ent = [zero; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for l in 0..LANES {
            let v = chunk[l];
            sum[l] = sum[l] + v;
            min[l] = if v < min[l] { v } else { min[l] };
            match kind {
                Uncertainty::LeastConfident => {
                    top1[l] = if v > top1[l] { v } else { top1[l] };
                }
                Uncertainty::Margin => push_top2(&mut top1[l], &mut top2[l], v),
                Uncertainty::Entropy => ent[l] = ent[l] + v.xlogx(),
            }
        }
    }
    let mut s = zero;
    let mut mn = T::infinity();
    let mut t1 = neg_inf;
    let mut t2 = neg_inf;
    let mut e = zero;
    for l in 0..LANES {
        s = s + sum[l];
        mn = mn.min(min[l]);
        e = e + ent[l];
        push_top2(&mut t1, &mut t2, top1[l]);
        push_top2(&mut t1, &mut t2, top2[l]);
    }
    for &v in chunks.remainder() {
        s = s + v;
        mn = mn.min(v);
        push_top2(&mut t1, &mut t2, v);
        e = e + v.xlogx();
    }
    RowStats {
        sum: s,
        min: mn,
        top1: t1,
        top2: t2,
        xlogx: e,
    }
}

/// Score one row, or say what is wrong with it.
#[inline]
fn score_row<T: Real>(row: &[T], kind: Uncertainty, tol: T) -> std::result::Result<T, String> {
    let st = row_stats(row, kind);
    if !st.sum.is_finite() {
        return Err("contains NaN or infinite values".to_string());
    }
    if st.min < T::zero() {
        return Err(format!("has a negative probability ({})", st.min));
    }
    if (st.sum - T::one()).abs() > tol {
        return Err(format!("sums to {}, not 1 (tolerance {})", st.sum, tol));
    }
    Ok(match kind {
        Uncertainty::LeastConfident => T::one() - st.top1,
        Uncertainty::Margin => T::one() - (st.top1 - st.top2),
        // -sum p ln p is >= 0 mathematically; clamp the rounding of a one-hot row.
        Uncertainty::Entropy => (-st.xlogx).max(T::zero()),
    })
}

fn check_probs<T: Real>(probs: &ArrayView2<T>, tol: T) -> Result<()> {
    if probs.nrows() == 0 {
        return Err(KernelError::Empty {
            what: "the probability matrix",
        });
    }
    if probs.ncols() < 2 {
        return Err(KernelError::TooFewColumns {
            what: "an uncertainty score (one column per class)",
            min: 2,
            got: probs.ncols(),
        });
    }
    if !(tol >= T::zero() && tol.is_finite()) {
        return Err(KernelError::InvalidTolerance {
            tol: tol.to_f64_lossless(),
        });
    }
    Ok(())
}

/// Score row `i`, copying it into `buf` first when its elements are not contiguous.
#[inline]
fn score_at<T: Real>(
    probs: &ArrayView2<T>,
    i: usize,
    kind: Uncertainty,
    tol: T,
    buf: &mut Vec<T>,
) -> Result<T> {
    let row = probs.row(i);
    let res = match row.as_slice() {
        Some(slice) => score_row(slice, kind, tol),
        None => {
            buf.clear();
            buf.extend(row.iter().copied());
            score_row(buf, kind, tol)
        }
    };
    res.map_err(|reason| KernelError::InvalidProbability { row: i, reason })
}

/// The uncertainty score of every row.
///
/// # Errors
/// [`KernelError::Empty`] for no rows, [`KernelError::TooFewColumns`] for fewer than two
/// columns, [`KernelError::InvalidProbability`] naming the first invalid row.
///
/// # Examples
/// ```
/// use activekit_core::{uncertainty_scores, Uncertainty};
/// use ndarray::array;
/// let p = array![[0.9_f64, 0.1], [0.6, 0.4]];
/// let s = uncertainty_scores(p.view(), Uncertainty::Margin, 1e-6).unwrap();
/// assert!((s[0] - 0.2).abs() < 1e-12 && (s[1] - 0.8).abs() < 1e-12);
/// ```
pub fn uncertainty_scores<T: Real>(
    probs: ArrayView2<T>,
    kind: Uncertainty,
    tol: T,
) -> Result<Array1<T>> {
    check_probs(&probs, tol)?;
    let n = probs.nrows();
    let mut out = vec![T::zero(); n];
    let results: Vec<Result<()>> = out
        .par_chunks_mut(BLOCK)
        .enumerate()
        .map(|(b, chunk)| {
            let mut buf = Vec::new();
            for (j, slot) in chunk.iter_mut().enumerate() {
                *slot = score_at(&probs, b * BLOCK + j, kind, tol, &mut buf)?;
            }
            Ok(())
        })
        .collect();
    results.into_iter().collect::<Result<()>>()?;
    Ok(Array1::from(out))
}

/// The `k` most uncertain rows, most uncertain first (equal scores: lowest row first), with
/// their scores. Scoring and selection are fused: no score vector over the pool is kept.
///
/// # Errors
/// As [`uncertainty_scores`], and [`KernelError::InvalidK`] unless `1 <= k <= n`.
///
/// # Examples
/// ```
/// use activekit_core::{uncertainty_top_k, Uncertainty};
/// use ndarray::array;
/// let p = array![[0.9_f32, 0.1], [0.5, 0.5], [0.7, 0.3]];
/// let top = uncertainty_top_k(p.view(), Uncertainty::LeastConfident, 2, 1e-4).unwrap();
/// assert_eq!(top.indices, vec![1, 2]);
/// ```
pub fn uncertainty_top_k<T: Real>(
    probs: ArrayView2<T>,
    kind: Uncertainty,
    k: usize,
    tol: T,
) -> Result<TopK<T>> {
    check_probs(&probs, tol)?;
    check_k(k, probs.nrows())?;
    // Rows are contiguous in the usual case; a strided row is copied into a scratch vector
    // (which allocates only then).
    top_k_by(probs.nrows(), k, |i| {
        score_at(&probs, i, kind, tol, &mut Vec::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use proptest::prelude::*;

    fn reference(p: &Array2<f64>, kind: Uncertainty) -> Vec<f64> {
        p.rows()
            .into_iter()
            .map(|r| {
                let mut v: Vec<f64> = r.to_vec();
                v.sort_by(|a, b| b.partial_cmp(a).unwrap());
                match kind {
                    Uncertainty::LeastConfident => 1.0 - v[0],
                    Uncertainty::Margin => 1.0 - (v[0] - v[1]),
                    Uncertainty::Entropy => -v
                        .iter()
                        .map(|&x| if x > 0.0 { x * x.ln() } else { 0.0 })
                        .sum::<f64>(),
                }
            })
            .collect()
    }

    #[test]
    fn known_answers() {
        let p = array![[0.7_f64, 0.2, 0.1], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0]];
        let lc = uncertainty_top_k(p.view(), Uncertainty::LeastConfident, 3, 1e-9).unwrap();
        // Lowest top probability first: row 1 (0.4), then 2 (0.5), then 0 (0.7).
        assert_eq!(lc.indices, vec![1, 2, 0]);
        let m = uncertainty_top_k(p.view(), Uncertainty::Margin, 3, 1e-9).unwrap();
        // Smallest gap first: row 2 (0), row 1 (0.05), row 0 (0.5).
        assert_eq!(m.indices, vec![2, 1, 0]);
        let e = uncertainty_top_k(p.view(), Uncertainty::Entropy, 1, 1e-9).unwrap();
        assert_eq!(e.indices, vec![1]);
    }

    #[test]
    fn rejects_invalid_rows_naming_the_first() {
        let p = array![[0.5_f32, 0.5], [0.2, 0.2], [f32::NAN, 1.0], [-0.1, 1.1]];
        let err = uncertainty_scores(p.view(), Uncertainty::Entropy, 1e-4).unwrap_err();
        assert!(matches!(
            err,
            KernelError::InvalidProbability { row: 1, .. }
        ));
        let p = array![[0.5_f32, 0.5], [f32::NAN, 1.0]];
        let err = uncertainty_top_k(p.view(), Uncertainty::Margin, 1, 1e-4).unwrap_err();
        assert!(matches!(
            err,
            KernelError::InvalidProbability { row: 1, .. }
        ));
        let p = array![[-0.1_f64, 1.1]];
        let err = uncertainty_scores(p.view(), Uncertainty::Margin, 1e-4).unwrap_err();
        assert!(err.to_string().contains("negative"), "{err}");
    }

    #[test]
    fn rejects_bad_shapes() {
        let p = Array2::<f64>::zeros((0, 3));
        assert!(matches!(
            uncertainty_scores(p.view(), Uncertainty::Margin, 1e-6),
            Err(KernelError::Empty { .. })
        ));
        let p = Array2::<f64>::ones((3, 1));
        assert!(matches!(
            uncertainty_scores(p.view(), Uncertainty::Margin, 1e-6),
            Err(KernelError::TooFewColumns { got: 1, .. })
        ));
    }

    fn prob_matrix() -> impl Strategy<Value = Array2<f64>> {
        (1..300usize, 2..40usize).prop_flat_map(|(n, c)| {
            prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), 0.0..1.0f64], n * c).prop_map(
                move |v| {
                    let mut a = Array2::from_shape_vec((n, c), v).unwrap();
                    for mut r in a.rows_mut() {
                        let s: f64 = r.sum();
                        if s == 0.0 {
                            r[0] = 1.0;
                        } else {
                            r /= s;
                        }
                    }
                    a
                },
            )
        })
    }

    proptest! {
        #[test]
        fn scores_match_reference(p in prob_matrix()) {
            for kind in [Uncertainty::LeastConfident, Uncertainty::Margin, Uncertainty::Entropy] {
                let want = reference(&p, kind);
                let got = uncertainty_scores(p.view(), kind, 1e-9).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    prop_assert!((g - w).abs() < 1e-12, "{:?}: {} vs {}", kind, g, w);
                }
                let p32 = p.mapv(|x| x as f32);
                let got32 = uncertainty_scores(p32.view(), kind, 1e-4).unwrap();
                for (g, w) in got32.iter().zip(&want) {
                    prop_assert!((f64::from(*g) - w).abs() < 1e-5, "{:?}: {} vs {}", kind, g, w);
                }
                // Fused selection agrees with scoring then selecting.
                let k = p.nrows().min(7);
                let fused = uncertainty_top_k(p.view(), kind, k, 1e-9).unwrap();
                let split = crate::top_k(got.view(), k).unwrap();
                prop_assert_eq!(fused, split);
            }
        }

        #[test]
        fn strided_rows_score_like_contiguous(p in prob_matrix()) {
            let t = p.t().to_owned();
            let view = t.t();
            let a = uncertainty_scores(view, Uncertainty::Entropy, 1e-9).unwrap();
            let b = uncertainty_scores(p.view(), Uncertainty::Entropy, 1e-9).unwrap();
            prop_assert_eq!(a, b);
        }
    }
}
