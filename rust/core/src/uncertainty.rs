//! Uncertainty scores over an `(n, c)` matrix of class probabilities, alone or fused with
//! top-k selection. Higher scores mean more informative rows:
//!
//! * least confident: `1 - max_j p_j`
//! * margin: `1 - (p_(1) - p_(2))`, one minus the gap between the two largest probabilities
//! * entropy: `-sum_j p_j ln p_j` (natural log, `0 ln 0 = 0`)
//!
//! Every row is validated in the same pass that scores it: a row with a NaN or infinite
//! value, a negative entry, or a sum further than `tol` from one is an error naming the row.

use crate::error::{Input, KernelError, Result};
use crate::isa::{best_isa, multiversion};
use crate::names::named;
use crate::real::Real;
use crate::topk::{check_k, contiguous_rows, scores_by_block, top_k_by_block, TopK};
use ndarray::{Array1, ArrayView2};

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

named!(
    Uncertainty,
    "uncertainty measure",
    [
        "least_confident" => LeastConfident,
        "margin" => Margin,
        "entropy" => Entropy,
    ]
);

/// Lanes of the accumulators: wide enough for AVX-512 on f32.
const LANES: usize = 16;

/// The measures as const parameters, so that each gets its own monomorphic hot loop.
const LEAST_CONFIDENT: u8 = 0;
const MARGIN: u8 = 1;
const ENTROPY: u8 = 2;

/// Everything one pass over a row gathers. `a` is the largest probability (least confident,
/// margin) or `sum p ln p` (entropy); `b` the second largest (margin).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowStats<T> {
    pub(crate) sum: T,
    pub(crate) min: T,
    pub(crate) a: T,
    pub(crate) b: T,
}

impl<T: Real> RowStats<T> {
    /// Placeholder statistics for a buffer that [`block_stats`] fills.
    pub(crate) fn zero() -> Self {
        Self {
            sum: T::zero(),
            min: T::zero(),
            a: T::zero(),
            b: T::zero(),
        }
    }
}

#[inline(always)]
fn push_top2<T: Real>(top1: &mut T, top2: &mut T, v: T) {
    let lo = if v < *top1 { v } else { *top1 };
    *top1 = if v < *top1 { *top1 } else { v };
    *top2 = if lo < *top2 { *top2 } else { lo };
}

/// `W` independent accumulators, one per lane. Every lane sees its values in order and does
/// exactly the same operations whatever `W`, so one lane of a wide accumulator and a `W = 1`
/// accumulator fed the same values agree bit for bit. The compiler turns the lane loops into
/// SIMD instructions; no float reduction is reassociated.
struct Acc<T, const W: usize> {
    sum: [T; W],
    min: [T; W],
    a: [T; W],
    b: [T; W],
}

// Lane loops index several arrays by the same lane; an iterator over one of them reads worse.
#[allow(clippy::needless_range_loop)]
impl<T: Real, const W: usize> Acc<T, W> {
    #[inline(always)]
    fn new<const K: u8>() -> Self {
        let first = if K == ENTROPY {
            T::zero()
        } else {
            T::neg_infinity()
        };
        Self {
            sum: [T::zero(); W],
            min: [T::infinity(); W],
            a: [first; W],
            b: [T::neg_infinity(); W],
        }
    }

    /// Entropy's [`Acc::push`] with the terms `t[l] = v[l].xlogx()` already computed.
    #[inline(always)]
    fn push_terms(&mut self, v: &[T; W], t: &[T; W]) {
        for l in 0..W {
            let x = v[l];
            self.sum[l] = self.sum[l] + x;
            self.min[l] = if x < self.min[l] { x } else { self.min[l] };
            self.a[l] = self.a[l] + t[l];
        }
    }

    #[inline(always)]
    fn push<const K: u8>(&mut self, v: &[T; W]) {
        for l in 0..W {
            let x = v[l];
            self.sum[l] = self.sum[l] + x;
            self.min[l] = if x < self.min[l] { x } else { self.min[l] };
            match K {
                LEAST_CONFIDENT => self.a[l] = if x > self.a[l] { x } else { self.a[l] },
                MARGIN => push_top2(&mut self.a[l], &mut self.b[l], x),
                _ => self.a[l] = self.a[l] + x.xlogx(),
            }
        }
    }

    /// Fold lanes `H..2H` into lanes `0..H` (`2H <= W`). Each statistic in its own loop of a
    /// constant length, which the compiler turns into vector operations where it can (see
    /// `docs/rust-kernels.md`). Lanes are independent, so the values are those of any loop
    /// order.
    #[inline(always)]
    fn fold<const K: u8, const H: usize>(&mut self) {
        for l in 0..H {
            self.sum[l] = self.sum[l] + self.sum[l + H];
        }
        for l in 0..H {
            let (lo, hi) = (self.min[l], self.min[l + H]);
            self.min[l] = if hi < lo { hi } else { lo };
        }
        match K {
            LEAST_CONFIDENT => {
                for l in 0..H {
                    let (lo, hi) = (self.a[l], self.a[l + H]);
                    self.a[l] = if hi > lo { hi } else { lo };
                }
            }
            MARGIN => {
                for l in 0..H {
                    let (hi, lo) = (self.a[l + H], self.b[l + H]);
                    push_top2(&mut self.a[l], &mut self.b[l], hi);
                    push_top2(&mut self.a[l], &mut self.b[l], lo);
                }
            }
            _ => {
                for l in 0..H {
                    self.a[l] = self.a[l] + self.a[l + H];
                }
            }
        }
    }

    #[inline(always)]
    fn lane(&self, l: usize) -> RowStats<T> {
        RowStats {
            sum: self.sum[l],
            min: self.min[l],
            a: self.a[l],
            b: self.b[l],
        }
    }
}

/// Statistics of a row of at least [`LANES`] values: element `j` goes to lane `j % LANES`;
/// the last partial chunk is read as the row's last `LANES` values with the lanes already
/// seen replaced by zeros (which change no statistic that a valid row is scored on, and no
/// validity check); then the lanes are folded pairwise, 16 -> 8 -> 4 -> 2 -> 1. The order
/// depends only on the row's length.
#[inline(always)]
fn wide_row<T: Real, const K: u8>(row: &[T]) -> RowStats<T> {
    let mut acc = Acc::<T, LANES>::new::<K>();
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        if let Ok(v) = <&[T; LANES]>::try_from(chunk) {
            acc.push::<K>(v);
        }
    }
    let r = chunks.remainder().len();
    if r > 0 {
        let tail = row.get(row.len().saturating_sub(LANES)..).unwrap_or(&[]);
        if let Ok(last) = <&[T; LANES]>::try_from(tail) {
            let mut v = [T::zero(); LANES];
            for l in 0..LANES {
                v[l] = if l >= LANES - r { last[l] } else { T::zero() };
            }
            acc.push::<K>(&v);
        }
    }
    const _: () = assert!(LANES == 16);
    acc.fold::<K, 8>();
    acc.fold::<K, 4>();
    acc.fold::<K, 2>();
    acc.fold::<K, 1>();
    acc.lane(0)
}

/// [`wide_row`] for entropy over rows of `c` values (`c >= LANES`) whose terms
/// `terms[j] = xs[j].xlogx()` are already computed: the same lanes, the same operations in the
/// same order, so the same scores and the same errors.
///
/// The last partial chunk is masked by multiplying by ones and zeros, which the compiler turns
/// into vector operations (the selects of [`wide_row`] went lane by lane here, 1.4x slower).
/// A lane kept is multiplied by one: its bits. A lane dropped adds `v * 0` to its sum and its
/// term `t * 0` to `a` instead of `+0`: for finite `v` and `t` that is `±0`, and a lane's sum
/// and `a` are never `-0` (they start at `+0`, `xlogx` is never `-0`, and `-0` comes only from
/// adding two `-0`), so adding `±0` leaves them as they are. Its `min` may get `-0` instead of
/// `+0`, which `finish` reads alike (it prints `min` only when negative, and then the row's
/// negative value is the minimum). An infinite or NaN `v` or `t` makes that lane NaN where
/// [`wide_row`]'s was not, only in a row that has that value, so a NaN or infinite sum already
/// (the row is rejected with a message that prints no number) or a term of `+inf` (a value so
/// large that only a tolerance above `1e36` accepts it, whose score is `max(-inf, 0) = 0`
/// either way, as `max` ignores NaN). The test `terms_path_scores_as_wide_row` checks this
/// against [`wide_row`].
#[inline(always)]
fn wide_entropy_rows<T: Real>(xs: &[T], terms: &[T], c: usize, out: &mut [RowStats<T>]) {
    let r = c % LANES;
    let from = c.saturating_sub(LANES);
    // keep[l] = 1 if l >= LANES - r else 0.
    let mut keep = [T::zero(); LANES];
    for (l, k) in keep.iter_mut().enumerate() {
        if l + r >= LANES {
            *k = T::one();
        }
    }
    for ((row, tr), o) in xs.chunks_exact(c).zip(terms.chunks_exact(c)).zip(out) {
        let mut acc = Acc::<T, LANES>::new::<ENTROPY>();
        for (v, t) in row.chunks_exact(LANES).zip(tr.chunks_exact(LANES)) {
            if let (Ok(v), Ok(t)) = (<&[T; LANES]>::try_from(v), <&[T; LANES]>::try_from(t)) {
                acc.push_terms(v, t);
            }
        }
        if r > 0 {
            let (lv, lt) = (
                row.get(from..).unwrap_or(&[]),
                tr.get(from..).unwrap_or(&[]),
            );
            if let (Ok(lv), Ok(lt)) = (<&[T; LANES]>::try_from(lv), <&[T; LANES]>::try_from(lt)) {
                let mut v = [T::zero(); LANES];
                let mut t = [T::zero(); LANES];
                for l in 0..LANES {
                    v[l] = lv[l] * keep[l];
                    t[l] = lt[l] * keep[l];
                }
                acc.push_terms(&v, &t);
            }
        }
        acc.fold::<ENTROPY, 8>();
        acc.fold::<ENTROPY, 4>();
        acc.fold::<ENTROPY, 2>();
        acc.fold::<ENTROPY, 1>();
        *o = acc.lane(0);
    }
}

/// Whether entropy over rows of `c >= LANES` values takes its terms in a separate pass
/// ([`wide_entropy_rows`]): when the lanes that [`wide_row`] computes a logarithm for in vain
/// (`LANES - c % LANES` in the last chunk) are more than a sixteenth of the row. The separate
/// pass takes no logarithm in vain but stores and reloads every term, about 8% of the time of
/// a logarithm; measured in `docs/rust-kernels.md`.
#[inline(always)]
fn entropy_by_terms(c: usize) -> bool {
    let wasted = (LANES - c % LANES) % LANES;
    (LANES..=WIDE_TERMS).contains(&c) && wasted * 16 > c
}

/// Statistics of a row shorter than [`LANES`]: its values in order.
#[inline(always)]
fn narrow_row<T: Real, const K: u8>(row: &[T]) -> RowStats<T> {
    let mut acc = Acc::<T, 1>::new::<K>();
    for &x in row {
        acc.push::<K>(&[x]);
    }
    acc.lane(0)
}

/// Rows per pass of the narrow-row entropy path: its scratch lives on the stack.
const NARROW_ROWS: usize = 64;

/// Terms per pass of the wide-row entropy path ([`wide_entropy_rows`]): its scratch lives on
/// the stack and, with the values it is computed from, in L1. 1024 was faster than 512, 2048
/// and 4096 at 24 to 500 classes (`docs/rust-kernels.md`).
const WIDE_TERMS: usize = 1024;

/// Statistics of every row of `x`, `c` values per row (`c >= 1`), into `out`.
///
/// Rows of at least [`LANES`] values are reduced one at a time across lanes ([`wide_row`]);
/// for entropy at the widths that [`entropy_by_terms`] picks, the `p ln p` terms of as many
/// rows as fit in [`WIDE_TERMS`] are first computed in one elementwise pass and then reduced
/// in the lanes of [`wide_row`] ([`wide_entropy_rows`]), with the same scores.
/// Shorter rows are reduced in order, one row at a time ([`narrow_row`]); for entropy the
/// `p ln p` terms of [`NARROW_ROWS`] rows are first computed in one elementwise pass, which
/// vectorises, and then summed per row in the same order as [`narrow_row`], with the same bits.
#[inline(always)]
fn block_stats_impl<T: Real, const K: u8>(x: &[T], c: usize, out: &mut [RowStats<T>]) {
    if K == ENTROPY && entropy_by_terms(c) {
        let mut scratch = [T::zero(); WIDE_TERMS];
        let rows = WIDE_TERMS / c;
        for (xs, os) in x.chunks(rows * c).zip(out.chunks_mut(rows)) {
            for (t, &v) in scratch.iter_mut().zip(xs) {
                *t = v.xlogx();
            }
            let terms = scratch.get(..xs.len()).unwrap_or(&[]);
            wide_entropy_rows(xs, terms, c, os);
        }
    } else if c >= LANES {
        for (row, o) in x.chunks_exact(c).zip(out.iter_mut()) {
            *o = wide_row::<T, K>(row);
        }
    } else if K == ENTROPY {
        let mut scratch = [T::zero(); NARROW_ROWS * LANES];
        for (xs, os) in x.chunks(NARROW_ROWS * c).zip(out.chunks_mut(NARROW_ROWS)) {
            for (t, &v) in scratch.iter_mut().zip(xs) {
                *t = v.xlogx();
            }
            for ((row, terms), o) in xs.chunks_exact(c).zip(scratch.chunks_exact(c)).zip(os) {
                let mut st = RowStats {
                    sum: T::zero(),
                    min: T::infinity(),
                    a: T::zero(),
                    b: T::neg_infinity(),
                };
                for (&v, &t) in row.iter().zip(terms) {
                    st.sum = st.sum + v;
                    st.min = if v < st.min { v } else { st.min };
                    st.a = st.a + t;
                }
                *o = st;
            }
        }
    } else {
        for (row, o) in x.chunks_exact(c).zip(out.iter_mut()) {
            *o = narrow_row::<T, K>(row);
        }
    }
}

#[inline(always)]
fn block_stats_generic<T: Real>(x: &[T], c: usize, kind: Uncertainty, out: &mut [RowStats<T>]) {
    match kind {
        Uncertainty::LeastConfident => block_stats_impl::<T, LEAST_CONFIDENT>(x, c, out),
        Uncertainty::Margin => block_stats_impl::<T, MARGIN>(x, c, out),
        Uncertainty::Entropy => block_stats_impl::<T, ENTROPY>(x, c, out),
    }
}

// The default x86-64 target has only SSE2 (4 f32 lanes); AVX-512 has 16 lanes and 32
// registers, enough that the row loops do not spill. Every variant gives the same bits
// (`crate::isa`; checked by a test).

multiversion! {
    /// Statistics of every row of the row-major block `x` (`c` values per row) into `out`, with
    /// the variant `isa` of [`block_stats_generic`].
    fn block_stats_with<T: Real>(
        x: &[T],
        c: usize,
        kind: Uncertainty,
        out: &mut [RowStats<T>],
    ) = block_stats_generic;
}

/// Statistics of every row of the row-major block `x` (`c` values per row) into `out`, on the
/// widest vector instructions this CPU has.
pub(crate) fn block_stats<T: Real>(x: &[T], c: usize, kind: Uncertainty, out: &mut [RowStats<T>]) {
    block_stats_with(best_isa(), x, c, kind, out);
}

/// The score of a row from its statistics, or what is wrong with the row.
#[inline]
pub(crate) fn finish<T: Real>(
    st: &RowStats<T>,
    kind: Uncertainty,
    tol: T,
) -> std::result::Result<T, String> {
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
        Uncertainty::LeastConfident => T::one() - st.a,
        Uncertainty::Margin => T::one() - (st.a - st.b),
        // -sum p ln p is >= 0 mathematically; clamp the rounding of a one-hot row.
        Uncertainty::Entropy => (-st.a).max(T::zero()),
    })
}

fn check_probs<T: Real>(probs: &ArrayView2<T>, tol: T) -> Result<()> {
    check_probability_shape(
        probs.nrows(),
        probs.ncols(),
        Input::Probabilities,
        "an uncertainty score",
        tol,
    )
}

/// What every kernel over class probabilities checks before scoring: `what` has rows, at
/// least two classes for `measure` to compare, and `tol` is a finite number `>= 0`.
pub(crate) fn check_probability_shape<T: Real>(
    rows: usize,
    classes: usize,
    what: Input,
    measure: &'static str,
    tol: T,
) -> Result<()> {
    if rows == 0 {
        return Err(KernelError::Empty { what });
    }
    if classes < 2 {
        return Err(KernelError::TooFewClasses {
            what: measure,
            min: 2,
            got: classes,
        });
    }
    if !(tol >= T::zero() && tol.is_finite()) {
        return Err(KernelError::InvalidTolerance {
            tol: tol.to_f64_lossless(),
        });
    }
    Ok(())
}

/// Score rows `start..start + out.len()` into `out`, or name the first invalid one.
///
/// A block of a C-contiguous matrix is read in place; any other layout is first copied into a
/// contiguous buffer, so that every layout gives the same scores.
fn score_block<T: Real>(
    probs: &ArrayView2<T>,
    start: usize,
    kind: Uncertainty,
    tol: T,
    out: &mut [T],
) -> Result<()> {
    let rows = contiguous_rows(probs, start, out.len());
    let x = &rows[..];
    let zero = RowStats {
        sum: T::zero(),
        min: T::zero(),
        a: T::zero(),
        b: T::zero(),
    };
    let mut stats = vec![zero; out.len()];
    block_stats(x, probs.ncols(), kind, &mut stats);
    for ((i, slot), st) in (start..).zip(out.iter_mut()).zip(&stats) {
        *slot = finish(st, kind, tol)
            .map_err(|reason| KernelError::InvalidProbability { row: i, reason })?;
    }
    Ok(())
}

/// The uncertainty score of every row.
///
/// # Errors
/// [`KernelError::Empty`] for no rows, [`KernelError::TooFewClasses`] for fewer than two
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
    scores_by_block(probs.nrows(), |start, out| {
        score_block(&probs, start, kind, tol, out)
    })
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
    top_k_by_block(probs.nrows(), k, |start, out| {
        score_block(&probs, start, kind, tol, out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Isa;
    use crate::testing::XorShift;
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
            Err(KernelError::TooFewClasses { got: 1, .. })
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

    fn bits<T: Real>(st: &RowStats<T>) -> [u64; 4] {
        [st.sum, st.min, st.a, st.b].map(|v| v.to_f64_lossless().to_bits())
    }

    fn isas_agree<T: Real>(p: &Array2<T>) {
        let x = p.as_slice().unwrap();
        let c = p.ncols();
        let zero = RowStats {
            sum: T::zero(),
            min: T::zero(),
            a: T::zero(),
            b: T::zero(),
        };
        for kind in [
            Uncertainty::LeastConfident,
            Uncertainty::Margin,
            Uncertainty::Entropy,
        ] {
            let mut want = vec![zero; p.nrows()];
            block_stats_with(Isa::Baseline, x, c, kind, &mut want);
            for isa in crate::isa::supported_isas() {
                let mut got = vec![zero; p.nrows()];
                block_stats_with(isa, x, c, kind, &mut got);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(bits(g), bits(w), "{isa:?} {kind:?} c={c} row {i}");
                }
            }
        }
    }

    #[test]
    fn every_instruction_set_gives_identical_bits() {
        // Row counts that leave a partial group of narrow rows; widths on both sides of LANES.
        for c in [2, 3, 10, 15, 16, 17, 31, 32, 100, 257] {
            let n = 3 * LANES + 5;
            let mut rng = XorShift(0x2545_f491_4f6c_dd1d_u64 ^ c as u64);
            let mut p = Array2::<f64>::zeros((n, c));
            for (i, mut r) in p.rows_mut().into_iter().enumerate() {
                // Exact zeros, tiny values and ordinary ones.
                r.mapv_inplace(|_| rng.probability());
                if i % 5 == 0 {
                    r[i % c] = 1.0; // a clear maximum
                }
                let s: f64 = r.sum();
                r /= s;
            }
            isas_agree(&p);
            isas_agree(&p.mapv(|v| v as f32));
        }
    }

    /// Rows of `c` values: probabilities with exact zeros, `-0`, subnormals and clear
    /// maxima, and (every `bad`-th row) one NaN, infinity, negative or huge value.
    fn rows_with_specials<T: Real>(n: usize, c: usize, seed: u64, specials: &[T]) -> Vec<T> {
        let mut rng = XorShift(seed);
        let mut x = Vec::with_capacity(n * c);
        for i in 0..n {
            let mut row: Vec<f64> = (0..c).map(|_| rng.probability()).collect();
            if i % 4 == 0 {
                row[(i / 4) % c] = 1.0;
            }
            let s: f64 = row.iter().sum();
            let mut row: Vec<T> = row.iter().map(|v| T::from(v / s).unwrap()).collect();
            if i % 6 == 1 {
                row[(i * 7) % c] = T::neg_zero();
            }
            if i % 3 == 2 {
                row[(i * 13) % c] = specials[(i / 3) % specials.len()];
            }
            x.extend(row);
        }
        x
    }

    /// The entropy of every row through the terms pass and through the block kernel on every
    /// instruction set, against [`wide_row`] one row at a time (the algorithm before the terms
    /// pass): the same `Ok` bits or the same error for each tolerance, and for rows of
    /// non-negative values with finite terms the same sum and `a` bits.
    fn terms_path_matches_wide_row<T: Real>(c: usize, specials: &[T], tols: &[T]) {
        let n = 2 * WIDE_TERMS / c + 3;
        let x = rows_with_specials(n, c, 0x9e37_79b9_7f4a_7c15 ^ c as u64, specials);
        let want: Vec<RowStats<T>> = x.chunks_exact(c).map(wide_row::<T, ENTROPY>).collect();
        let terms: Vec<T> = x.iter().map(|v| v.xlogx()).collect();
        let mut direct = vec![RowStats::zero(); n];
        for ((xs, ts), os) in x
            .chunks(4 * c)
            .zip(terms.chunks(4 * c))
            .zip(direct.chunks_mut(4))
        {
            wide_entropy_rows(xs, ts, c, os);
        }
        let mut runs = vec![("terms pass".to_string(), direct)];
        for isa in crate::isa::supported_isas() {
            let mut got = vec![RowStats::zero(); n];
            block_stats_with(isa, &x, c, Uncertainty::Entropy, &mut got);
            runs.push((format!("{isa:?}"), got));
        }
        let key = |r: std::result::Result<T, String>| r.map(|v| v.to_f64_lossless().to_bits());
        for (name, got) in &runs {
            for (i, ((g, w), row)) in got.iter().zip(&want).zip(x.chunks_exact(c)).enumerate() {
                for &tol in tols {
                    assert_eq!(
                        key(finish(g, Uncertainty::Entropy, tol)),
                        key(finish(w, Uncertainty::Entropy, tol)),
                        "{name} c={c} row {i} tol {tol}"
                    );
                }
                if row.iter().all(|v| *v >= T::zero() && v.xlogx().is_finite()) {
                    assert_eq!(bits(g)[0], bits(w)[0], "{name} c={c} row {i} sum");
                    assert_eq!(bits(g)[2], bits(w)[2], "{name} c={c} row {i} a");
                    assert!(g.min == w.min, "{name} c={c} row {i} min");
                }
            }
        }
    }

    #[test]
    fn terms_path_scores_as_wide_row() {
        let widths = (LANES..=130).chain([144, 200, 255, 257, 500, 1000, WIDE_TERMS]);
        for c in widths {
            terms_path_matches_wide_row::<f32>(
                c,
                &[
                    f32::NAN,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    -0.25,
                    1e-45,
                    f32::MIN_POSITIVE,
                    1e37,
                    f32::MAX,
                ],
                &[0.0, 1e-4, 0.5, 1e3, 1e37, f32::MAX],
            );
            terms_path_matches_wide_row::<f64>(
                c,
                &[
                    f64::NAN,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    -0.25,
                    1e-320,
                    f64::MIN_POSITIVE,
                    1e306,
                    f64::MAX,
                ],
                &[0.0, 1e-9, 0.5, 1e3, 1e306, f64::MAX],
            );
        }
        // The widths the kernel sends through the terms pass.
        assert!(entropy_by_terms(17) && entropy_by_terms(100) && entropy_by_terms(129));
        assert!(!entropy_by_terms(15) && !entropy_by_terms(64) && !entropy_by_terms(200));
    }

    proptest! {
        #[test]
        fn a_row_scores_the_same_anywhere(p in prob_matrix()) {
            // Alone, or at any position in a block (in a group of narrow rows or not).
            let p32 = p.mapv(|x| x as f32);
            for kind in [Uncertainty::LeastConfident, Uncertainty::Margin, Uncertainty::Entropy] {
                let all = uncertainty_scores(p32.view(), kind, 1e-4).unwrap();
                for (i, row) in p32.rows().into_iter().enumerate() {
                    let one = uncertainty_scores(row.insert_axis(ndarray::Axis(0)), kind, 1e-4)
                        .unwrap();
                    prop_assert_eq!(one[0].to_bits(), all[i].to_bits(), "{:?} row {}", kind, i);
                }
            }
        }

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
