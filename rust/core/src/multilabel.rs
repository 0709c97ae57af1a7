//! Multi-label uncertainty scores over an `(n, L)` matrix of per-label probabilities (`p_l`,
//! the probability that label `l` is present), alone or fused with top-k selection. Higher
//! scores mean more informative rows. With `h(p) = -p ln p - (1 - p) ln(1 - p)` (natural log,
//! `0 ln 0 = 0`) and `m(p) = min(p, 1 - p)`:
//!
//! * mean entropy: `(1/L) sum_l h(p_l)`; max entropy: `max_l h(p_l)`
//! * binary minimization (Brinker 2006): `-min_l |p_l - 0.5|`
//! * max loss / mean max loss (Li, Wang and Sung 2004): `max_l m(p_l)` / `(1/L) sum_l m(p_l)`
//!
//! Every value is checked in the same pass that scores it: NaN, or anything outside `[0, 1]`,
//! is an error naming its row and column. A row's terms are computed elementwise (vectorised,
//! the logarithm being [`crate::ln_f64`]'s / [`crate::ln_f32`]'s) and then reduced over the
//! labels in order, so a score depends only on its row: the same bits for any thread count,
//! block and instruction set.

use crate::error::{KernelError, Result};
use crate::isa::{best_isa, multiversion};
use crate::names::named;
use crate::real::Real;
use crate::topk::{check_k, contiguous_rows, scores_by_block, top_k_by_block, TopK};
use ndarray::{Array1, ArrayView2};

/// Which multi-label measure to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multilabel {
    /// `(1/L) sum_l h(p_l)`.
    MeanEntropy,
    /// `max_l h(p_l)`.
    MaxEntropy,
    /// `-min_l |p_l - 0.5|`.
    BinaryMinimization,
    /// `max_l min(p_l, 1 - p_l)`.
    MaxLoss,
    /// `(1/L) sum_l min(p_l, 1 - p_l)`.
    MeanMaxLoss,
}

named!(
    Multilabel,
    "multi-label measure",
    [
        "mean_entropy" => MeanEntropy,
        "max_entropy" => MaxEntropy,
        "binary_minimization" => BinaryMinimization,
        "max_loss" => MaxLoss,
        "mean_max_loss" => MeanMaxLoss,
    ]
);

/// Values per scratch pass: a pass's terms (16 KiB in `f32`) stay in L1.
const SCRATCH: usize = 4096;

/// The per-label term of a measure: `h(p)`, `-|p - 0.5|` or `min(p, 1 - p)`.
#[inline(always)]
fn term<T: Real>(kind: Multilabel, p: T) -> T {
    match kind {
        // 0 - (a + b), not -(a + b): +0.0 where both terms are 0 (p = 0 or 1).
        Multilabel::MeanEntropy | Multilabel::MaxEntropy => {
            T::zero() - (p.xlogx() + (T::one() - p).xlogx())
        }
        Multilabel::BinaryMinimization => -(p - T::from(0.5).unwrap_or_else(T::zero)).abs(),
        Multilabel::MaxLoss | Multilabel::MeanMaxLoss => {
            let q = T::one() - p;
            if p < q {
                p
            } else {
                q
            }
        }
    }
}

/// Whether a measure averages its terms (else it takes their largest).
#[inline(always)]
fn is_mean(kind: Multilabel) -> bool {
    matches!(kind, Multilabel::MeanEntropy | Multilabel::MeanMaxLoss)
}

#[inline(always)]
fn terms_impl<T: Real, const K: u8>(x: &[T], out: &mut [T]) -> bool {
    let kind = KINDS[K as usize];
    let mut ok = true;
    for (t, &p) in out.iter_mut().zip(x) {
        // `!(p >= 0 && p <= 1)` is true for NaN too.
        ok &= (p >= T::zero()) & (p <= T::one());
        *t = term(kind, p);
    }
    ok
}

/// The measures by index, for monomorphic loops (one per measure) from a const parameter.
const KINDS: [Multilabel; 5] = [
    Multilabel::MeanEntropy,
    Multilabel::MaxEntropy,
    Multilabel::BinaryMinimization,
    Multilabel::MaxLoss,
    Multilabel::MeanMaxLoss,
];

/// Each row's score from the terms of `rows` whole rows of `l` values, in `out`: the terms
/// added in label order then divided by `l` (means), or the largest (the others).
#[inline(always)]
fn reduce<T: Real>(terms: &[T], l: usize, kind: Multilabel, out: &mut [T]) {
    if is_mean(kind) {
        let width = T::from(l).unwrap_or_else(T::one);
        for (row, o) in terms.chunks_exact(l).zip(out.iter_mut()) {
            let mut s = T::zero();
            for &t in row {
                s = s + t;
            }
            *o = s / width;
        }
    } else {
        for (row, o) in terms.chunks_exact(l).zip(out.iter_mut()) {
            let mut m = row.first().copied().unwrap_or_else(T::zero);
            for &t in row.iter().skip(1) {
                m = if t > m { t } else { m };
            }
            *o = m;
        }
    }
}

/// Scores of the whole rows of `x` (`l` values each) into `out`, with `scratch` holding at
/// least `l` values; `ok` is cleared if any value is NaN or outside `[0, 1]`.
#[inline(always)]
fn block_generic<T: Real>(
    x: &[T],
    l: usize,
    kind: Multilabel,
    scratch: &mut [T],
    out: &mut [T],
    ok: &mut bool,
) {
    let rows = (scratch.len() / l).max(1);
    for (xs, os) in x.chunks(rows * l).zip(out.chunks_mut(rows)) {
        let terms = &mut scratch[..xs.len()];
        let fine = match kind {
            Multilabel::MeanEntropy => terms_impl::<T, 0>(xs, terms),
            Multilabel::MaxEntropy => terms_impl::<T, 1>(xs, terms),
            Multilabel::BinaryMinimization => terms_impl::<T, 2>(xs, terms),
            Multilabel::MaxLoss => terms_impl::<T, 3>(xs, terms),
            Multilabel::MeanMaxLoss => terms_impl::<T, 4>(xs, terms),
        };
        *ok &= fine;
        reduce(terms, l, kind, os);
    }
}

// Every variant gives the same bits (`crate::isa`; checked by a test).
multiversion! {
    /// [`block_generic`] compiled for the instruction set `isa`.
    fn block_with<T: Real>(
        x: &[T],
        l: usize,
        kind: Multilabel,
        scratch: &mut [T],
        out: &mut [T],
        ok: &mut bool,
    ) = block_generic;
}

/// The first value of the row-major block `x` (`l` values a row, its first row `start`) that
/// is NaN or outside `[0, 1]`, as an error.
fn first_invalid<T: Real>(x: &[T], l: usize, start: usize) -> Result<()> {
    for (i, &p) in x.iter().enumerate() {
        if !(p >= T::zero() && p <= T::one()) {
            return Err(KernelError::InvalidProbability {
                row: start + i / l,
                reason: format!("has {p} in column {}, not a probability in [0, 1]", i % l),
            });
        }
    }
    Ok(())
}

/// Score rows `start..start + out.len()` into `out`, or name the first invalid value. A block
/// of a C-contiguous matrix is read in place; any other layout is copied first, so that every
/// layout gives the same scores.
fn score_block<T: Real>(
    probs: &ArrayView2<T>,
    start: usize,
    kind: Multilabel,
    out: &mut [T],
) -> Result<()> {
    let rows = contiguous_rows(probs, start, out.len());
    let x = &rows[..];
    let l = probs.ncols();
    let mut scratch = vec![T::zero(); SCRATCH.max(l).min(x.len().max(l))];
    let mut ok = true;
    block_with(best_isa(), x, l, kind, &mut scratch, out, &mut ok);
    if ok {
        Ok(())
    } else {
        first_invalid(x, l, start)
    }
}

fn check_labels<T>(probs: &ArrayView2<T>) -> Result<()> {
    if probs.ncols() == 0 {
        return Err(KernelError::TooFewColumns {
            what: crate::Input::Probabilities,
            min: 1,
            got: 0,
        });
    }
    Ok(())
}

/// The multi-label score of every row of an `(n, L)` matrix of per-label probabilities.
/// An empty pool (`n = 0`) gives an empty vector.
///
/// # Errors
/// [`KernelError::TooFewColumns`] for no labels, [`KernelError::InvalidProbability`] naming
/// the row and column of the first value that is NaN or outside `[0, 1]`.
///
/// # Examples
/// ```
/// use activekit_core::{multilabel_scores, Multilabel};
/// use ndarray::array;
/// let p = array![[0.5_f64, 0.9], [0.2, 0.0]];
/// let s = multilabel_scores(p.view(), Multilabel::MaxLoss).unwrap();
/// assert_eq!(s.to_vec(), vec![0.5, 0.2]);
/// ```
pub fn multilabel_scores<T: Real>(probs: ArrayView2<T>, kind: Multilabel) -> Result<Array1<T>> {
    check_labels(&probs)?;
    scores_by_block(probs.nrows(), |start, out| {
        score_block(&probs, start, kind, out)
    })
}

/// The `k` rows with the highest multi-label score, highest first (equal scores: lowest row
/// first), with their scores. Scoring and selection are fused: no score vector over the pool
/// is kept.
///
/// # Errors
/// As [`multilabel_scores`], and [`KernelError::InvalidK`] unless `1 <= k <= n`.
///
/// # Examples
/// ```
/// use activekit_core::{multilabel_top_k, Multilabel};
/// use ndarray::array;
/// let p = array![[0.9_f32, 0.1], [0.5, 0.9], [0.7, 0.3]];
/// let top = multilabel_top_k(p.view(), Multilabel::BinaryMinimization, 2).unwrap();
/// assert_eq!(top.indices, vec![1, 2]);
/// ```
pub fn multilabel_top_k<T: Real>(
    probs: ArrayView2<T>,
    kind: Multilabel,
    k: usize,
) -> Result<TopK<T>> {
    check_labels(&probs)?;
    check_k(k, probs.nrows())?;
    top_k_by_block(probs.nrows(), k, |start, out| {
        score_block(&probs, start, kind, out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Isa;
    use crate::names::Named;
    use crate::testing::XorShift;
    use ndarray::{array, Array2};
    use proptest::prelude::*;

    const ALL: [Multilabel; 5] = KINDS;

    fn reference(p: &Array2<f64>, kind: Multilabel) -> Vec<f64> {
        let h = |q: f64| {
            let a = if q > 0.0 { q * q.ln() } else { 0.0 };
            let b = if q < 1.0 {
                (1.0 - q) * (-q).ln_1p()
            } else {
                0.0
            };
            -a - b
        };
        p.rows()
            .into_iter()
            .map(|r| {
                let l = r.len() as f64;
                match kind {
                    Multilabel::MeanEntropy => r.iter().map(|&q| h(q)).sum::<f64>() / l,
                    Multilabel::MaxEntropy => r.iter().map(|&q| h(q)).fold(0.0, f64::max),
                    Multilabel::BinaryMinimization => -r
                        .iter()
                        .map(|&q| (q - 0.5).abs())
                        .fold(f64::INFINITY, f64::min),
                    Multilabel::MaxLoss => r.iter().map(|&q| q.min(1.0 - q)).fold(0.0, f64::max),
                    Multilabel::MeanMaxLoss => r.iter().map(|&q| q.min(1.0 - q)).sum::<f64>() / l,
                }
            })
            .collect()
    }

    #[test]
    fn names_round_trip_in_the_strategies_order() {
        let names: Vec<&str> = crate::names::<Multilabel>().collect();
        assert_eq!(
            names,
            [
                "mean_entropy",
                "max_entropy",
                "binary_minimization",
                "max_loss",
                "mean_max_loss"
            ]
        );
        for (&(name, kind), want) in Multilabel::NAMES.iter().zip(ALL) {
            assert_eq!(kind, want);
            assert_eq!(name.parse::<Multilabel>(), Ok(kind));
        }
        assert_eq!(
            "entropy".parse::<Multilabel>(),
            Err("unknown multi-label measure \"entropy\"; expected one of \"binary_minimization\", \"max_entropy\", \"max_loss\", \"mean_entropy\", \"mean_max_loss\"".to_string())
        );
    }

    #[test]
    fn known_answers() {
        let p = array![[0.5_f64, 0.9, 0.1], [0.2, 0.2, 0.2], [1.0, 0.0, 0.7]];
        let s = multilabel_scores(p.view(), Multilabel::MaxLoss).unwrap();
        assert_eq!(s.to_vec(), vec![0.5, 0.2, 1.0 - 0.7]);
        let s = multilabel_scores(p.view(), Multilabel::BinaryMinimization).unwrap();
        assert_eq!(s[0], 0.0);
        assert!((s[1] + 0.3).abs() < 1e-15 && (s[2] + 0.2).abs() < 1e-15);
        let s = multilabel_scores(p.view(), Multilabel::MaxEntropy).unwrap();
        assert!((s[0] - std::f64::consts::LN_2).abs() < 1e-15);
        let top = multilabel_top_k(p.view(), Multilabel::MeanEntropy, 3).unwrap();
        // h(0.2) = 0.500 > (ln 2 + 2 h(0.1)) / 3 = 0.448 > h(0.7) / 3.
        assert_eq!(top.indices, vec![1, 0, 2]);
        // One-hot rows score +0.0, not -0.0.
        let p = array![[1.0_f32, 0.0]];
        for kind in [
            Multilabel::MeanEntropy,
            Multilabel::MaxEntropy,
            Multilabel::MaxLoss,
        ] {
            let s = multilabel_scores(p.view(), kind).unwrap();
            assert_eq!(s[0].to_bits(), 0.0_f32.to_bits(), "{kind:?}");
        }
    }

    #[test]
    fn rejects_values_outside_the_unit_interval_naming_row_and_column() {
        let p = array![[0.5_f32, 0.5], [0.2, 1.5], [f32::NAN, 1.0]];
        let err = multilabel_scores(p.view(), Multilabel::MeanEntropy).unwrap_err();
        assert_eq!(
            err.to_string(),
            "probability row 1 has 1.5 in column 1, not a probability in [0, 1]"
        );
        let p = array![[0.5_f64, 0.5], [0.2, 0.1], [0.3, f64::NAN]];
        let err = multilabel_top_k(p.view(), Multilabel::MaxLoss, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "probability row 2 has NaN in column 1, not a probability in [0, 1]"
        );
        let p = array![[-0.0_f64, 1.0], [-1e-300, 0.5]];
        let err = multilabel_scores(p.view(), Multilabel::MaxLoss).unwrap_err();
        assert!(matches!(
            err,
            KernelError::InvalidProbability { row: 1, .. }
        ));
    }

    #[test]
    fn shapes_no_labels_and_empty_pools() {
        let p = Array2::<f64>::zeros((3, 0));
        assert_eq!(
            multilabel_scores(p.view(), Multilabel::MaxLoss).unwrap_err(),
            KernelError::TooFewColumns {
                what: crate::Input::Probabilities,
                min: 1,
                got: 0
            }
        );
        let p = Array2::<f64>::zeros((0, 4));
        assert_eq!(
            multilabel_scores(p.view(), Multilabel::MeanEntropy)
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            multilabel_top_k(p.view(), Multilabel::MeanEntropy, 1).unwrap_err(),
            KernelError::InvalidK { k: 1, n: 0 }
        );
    }

    #[test]
    fn the_lowest_invalid_row_is_named_whatever_the_threads() {
        let n = 9 * crate::topk::BLOCK;
        let mut p = Array2::<f64>::from_elem((n, 3), 0.25);
        p[[7 * crate::topk::BLOCK, 0]] = 2.0;
        p[[3 * crate::topk::BLOCK + 5, 2]] = -1.0;
        for threads in 1..=4 {
            let err = crate::with_threads(threads, || {
                multilabel_top_k(p.view(), Multilabel::MaxEntropy, 10)
            })
            .unwrap()
            .unwrap_err();
            assert!(
                matches!(err, KernelError::InvalidProbability { row, .. } if row == 3 * crate::topk::BLOCK + 5),
                "{err}"
            );
        }
    }

    fn isas_agree<T: Real>(p: &Array2<T>) {
        let x = p.as_slice().unwrap();
        let l = p.ncols();
        for kind in ALL {
            let mut want = vec![T::zero(); p.nrows()];
            let mut scratch = vec![T::zero(); SCRATCH.max(l)];
            let mut ok = true;
            block_with(Isa::Baseline, x, l, kind, &mut scratch, &mut want, &mut ok);
            assert!(ok);
            for isa in crate::isa::supported_isas() {
                let mut got = vec![T::zero(); p.nrows()];
                block_with(isa, x, l, kind, &mut scratch, &mut got, &mut ok);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(
                        g.to_f64_lossless().to_bits(),
                        w.to_f64_lossless().to_bits(),
                        "{isa:?} {kind:?} l={l} row {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_instruction_set_gives_identical_bits() {
        for l in [1, 2, 5, 16, 17, 50, 4097] {
            let n = 300;
            let mut rng = XorShift(0x9e37_79b9_7f4a_7c15_u64 ^ l as u64);
            let mut p = Array2::<f64>::zeros((n, l));
            p.mapv_inplace(|_| rng.probability());
            p[[0, 0]] = 1.0;
            p[[1, 0]] = 0.5;
            isas_agree(&p);
            isas_agree(&p.mapv(|v| v as f32));
        }
    }

    fn label_matrix() -> impl Strategy<Value = Array2<f64>> {
        (0..300usize, 1..40usize).prop_flat_map(|(n, l)| {
            prop::collection::vec(
                prop_oneof![
                    Just(0.0),
                    Just(1.0),
                    Just(0.5),
                    Just(1.0 - f64::EPSILON),
                    Just(1e-310),
                    0.0..1.0f64
                ],
                n * l,
            )
            .prop_map(move |v| Array2::from_shape_vec((n, l), v).unwrap())
        })
    }

    proptest! {
        #[test]
        fn scores_match_reference(p in label_matrix()) {
            for kind in ALL {
                let want = reference(&p, kind);
                let got = multilabel_scores(p.view(), kind).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    prop_assert!((g - w).abs() <= 1e-14, "{:?}: {} vs {}", kind, g, w);
                }
                let p32 = p.mapv(|x| x as f32);
                let got32 = multilabel_scores(p32.view(), kind).unwrap();
                let want32 = reference(&p32.mapv(f64::from), kind);
                for (g, w) in got32.iter().zip(&want32) {
                    prop_assert!((f64::from(*g) - w).abs() <= 1e-6, "{:?}: {} vs {}", kind, g, w);
                }
                if p.nrows() > 0 {
                    let k = p.nrows().min(7);
                    let fused = multilabel_top_k(p.view(), kind, k).unwrap();
                    let split = crate::top_k(got.view(), k).unwrap();
                    prop_assert_eq!(fused, split);
                }
            }
        }

        #[test]
        fn layout_and_threads_do_not_matter(p in label_matrix(), threads in 1..4usize) {
            let t = p.t().to_owned();
            for kind in ALL {
                let a = multilabel_scores(t.t(), kind).unwrap();
                let b = crate::with_threads(threads, || multilabel_scores(p.view(), kind))
                    .unwrap()
                    .unwrap();
                prop_assert_eq!(a, b);
            }
        }
    }
}
