//! Exact k nearest neighbours, Euclidean or cosine, within one set (each row excluded from its
//! own neighbours) or from queries to references, and the density measures built on them.
//!
//! The search is blocked: a block of query rows and a block of reference rows meet in one matrix
//! product, `||r||^2 - 2 q.r` (the query's own `||q||^2` is the same for every candidate and
//! does not change the order), and each query row keeps a sorted buffer of its `k` best
//! candidates. Every reference is considered, so the result is exact up to the rounding of the
//! product; reference blocks are visited in increasing order and a candidate must be strictly
//! better to enter, so equal distances are taken lowest index first. Memory is
//! `O(m k + block^2)`, parallel over query blocks, and the caller can cancel between blocks.
//!
//! The product form loses precision for close points (`||q||^2 + ||r||^2 - 2 q.r` cancels), so
//! the `k` distances returned are recomputed directly from the rows once the neighbours are
//! chosen: a duplicate of a row is at distance exactly 0. Cosine distance is computed on unit
//! rows as `||u - v||^2 / 2`, which equals `1 - cos` and is exactly 0 for parallel rows that
//! normalise to the same unit vector.

use crate::cancel::Cancel;
use crate::error::{Input, KernelError, Result};
use crate::names::named;
use crate::real::Real;
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView2, CowArray, Ix2, LinalgScalar, Zip};
use rayon::prelude::*;

/// Query rows per parallel job.
const QUERY_BLOCK: usize = 128;
/// Reference rows per matrix product: a `QUERY_BLOCK x REF_BLOCK` buffer stays in L2.
const REF_BLOCK: usize = 1024;
/// Candidates compared to the bar at once, so that the compiler can vectorise the test.
const CHUNK: usize = 16;
/// Rows per block of the sum in [`mean_cosine_similarity`]; fixed, so the sum does not depend
/// on the thread count.
const SUM_BLOCK: usize = 4096;

/// The distance between rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `||a - b||` (not squared).
    Euclidean,
    /// `1 - cos(a, b)`, in `[0, 2]`; all-zero rows are rejected.
    Cosine,
}

named!(
    Metric,
    "metric",
    [
        "euclidean" => Euclidean,
        "cosine" => Cosine,
    ]
);

/// The `k` nearest neighbours of each query row, nearest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbors<T> {
    /// `(m, k)` row indices into the reference set, ascending by distance, ties by lowest index.
    pub indices: Array2<usize>,
    /// `(m, k)` distances in the same order.
    pub distances: Array2<T>,
}

/// What is wrong with a row, found while computing its norm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowIssue {
    Fine,
    NonFinite,
    TooLarge,
    Zero,
}

/// Rows ready for the search: the input (Euclidean) or its unit rows (cosine), and their
/// squared norms.
struct Prepared<'a, T> {
    rows: CowArray<'a, T, Ix2>,
    sq_norms: Vec<T>,
}

fn sum_sq<T: Real>(row: ndarray::ArrayView1<T>) -> (f64, bool) {
    let mut sum = 0.0_f64;
    let mut finite = true;
    for &v in row {
        let v = v.to_f64_lossless();
        finite &= v.is_finite();
        sum += v * v;
    }
    (sum, finite)
}

/// Check every row (finite; not so large that the product overflows; non-zero for cosine),
/// and compute what the search needs. The error names the lowest bad row.
fn prepare<'a, T: Real>(
    x: ArrayView2<'a, T>,
    what: Input,
    metric: Metric,
) -> Result<Prepared<'a, T>> {
    let n = x.nrows();
    let mut sq = Array1::<T>::zeros(n);
    let mut issues = vec![RowIssue::Fine; n];
    let mut issue_view = ndarray::ArrayViewMut1::from(issues.as_mut_slice());
    // Norms up to max / 8 keep `||r||^2 - 2 q.r` and every partial dot product finite.
    let limit = T::max_value().to_f64_lossless() / 8.0;
    let rows = match metric {
        Metric::Euclidean => {
            Zip::from(x.rows())
                .and(&mut sq)
                .and(&mut issue_view)
                .par_for_each(|row, sq, issue| {
                    let (s, finite) = sum_sq(row);
                    *issue = if !finite {
                        RowIssue::NonFinite
                    } else if s > limit {
                        RowIssue::TooLarge
                    } else {
                        RowIssue::Fine
                    };
                    *sq = T::from(s).unwrap_or_else(T::infinity);
                });
            CowArray::from(x)
        }
        Metric::Cosine => {
            let mut unit = Array2::<T>::zeros(x.raw_dim());
            Zip::from(x.rows())
                .and(unit.rows_mut())
                .and(&mut sq)
                .and(&mut issue_view)
                .par_for_each(|row, mut out, sq, issue| {
                    // Scale by the largest magnitude first, so that neither tiny rows (whose
                    // squares underflow) nor huge ones (whose squares overflow) are misjudged.
                    let scale = row
                        .iter()
                        .fold(0.0_f64, |m, &v| m.max(v.to_f64_lossless().abs()));
                    let finite = row.iter().all(|v| v.is_finite());
                    *issue = if !finite {
                        RowIssue::NonFinite
                    } else if scale == 0.0 {
                        RowIssue::Zero
                    } else {
                        RowIssue::Fine
                    };
                    if *issue == RowIssue::Fine {
                        let scaled_sq: f64 = row
                            .iter()
                            .map(|&v| (v.to_f64_lossless() / scale).powi(2))
                            .sum();
                        let norm = scaled_sq.sqrt();
                        for (o, &v) in out.iter_mut().zip(row) {
                            *o =
                                T::from(v.to_f64_lossless() / scale / norm).unwrap_or_else(T::zero);
                        }
                        *sq = T::from(sum_sq(out.view()).0).unwrap_or_else(T::one);
                    }
                });
            CowArray::from(unit)
        }
    };
    if let Some(row) = issues.iter().position(|&i| i != RowIssue::Fine) {
        return Err(match issues.get(row) {
            Some(RowIssue::Zero) => KernelError::ZeroRow { what, row },
            Some(RowIssue::TooLarge) => KernelError::TooLarge { what, row },
            _ => KernelError::NonFinite { what, row },
        });
    }
    Ok(Prepared {
        rows,
        sq_norms: sq.to_vec(),
    })
}

/// Offer the candidates `vals` (reference rows `first..`) to a buffer of the `k` best, sorted
/// ascending; a candidate enters only if strictly below the current `k`-th.
#[inline]
fn offer_row<T: Real>(vals: &[T], first: usize, best: &mut [(T, usize)]) {
    let k = best.len();
    let mut bar = best.last().map_or(T::infinity(), |b| b.0);
    let mut insert = |v: T, j: usize, bar: &mut T| {
        if v < *bar {
            let mut p = k - 1;
            while p > 0 && best[p - 1].0 > v {
                best[p] = best[p - 1];
                p -= 1;
            }
            best[p] = (v, j);
            *bar = best[k - 1].0;
        }
    };
    let mut chunks = vals.chunks_exact(CHUNK);
    let mut j = first;
    for chunk in &mut chunks {
        // Branch-free test of the whole chunk (vectorised); most chunks hold no candidate.
        if chunk.iter().fold(false, |any, &v| any | (v < bar)) {
            for (o, &v) in chunk.iter().enumerate() {
                insert(v, j + o, &mut bar);
            }
        }
        j += CHUNK;
    }
    for (o, &v) in chunks.remainder().iter().enumerate() {
        insert(v, j + o, &mut bar);
    }
}

/// Distance between two rows computed directly (in f64): Euclidean, or `||u - v||^2 / 2` for
/// unit rows (cosine).
fn direct_distance<T: Real>(
    a: ndarray::ArrayView1<T>,
    b: ndarray::ArrayView1<T>,
    metric: Metric,
) -> T {
    let mut sum = 0.0_f64;
    for (&x, &y) in a.iter().zip(b) {
        let d = x.to_f64_lossless() - y.to_f64_lossless();
        sum += d * d;
    }
    let d = match metric {
        Metric::Euclidean => sum.sqrt(),
        Metric::Cosine => sum / 2.0,
    };
    T::from(d).unwrap_or_else(T::infinity)
}

/// The blocked search. With `exclude_self`, `q` and `r` are the same rows and row `i` is never
/// a neighbour of itself.
fn search<T: Real + LinalgScalar>(
    q: &Prepared<'_, T>,
    r: &Prepared<'_, T>,
    k: usize,
    metric: Metric,
    exclude_self: bool,
    cancel: &Cancel,
) -> Result<Neighbors<T>> {
    let m = q.rows.nrows();
    let n = r.rows.nrows();
    let mut indices = vec![0_usize; m * k];
    let mut distances = vec![T::zero(); m * k];
    let minus_two = -(T::one() + T::one());
    indices
        .par_chunks_mut(QUERY_BLOCK * k)
        .zip(distances.par_chunks_mut(QUERY_BLOCK * k))
        .enumerate()
        .try_for_each_init(
            || {
                (
                    Array2::<T>::zeros((QUERY_BLOCK, REF_BLOCK)),
                    Vec::with_capacity(QUERY_BLOCK * k),
                )
            },
            |(buf, best), (b, (idx_out, dist_out))| -> Result<()> {
                let q0 = b * QUERY_BLOCK;
                let q1 = (q0 + QUERY_BLOCK).min(m);
                let qb = q.rows.slice(s![q0..q1, ..]);
                best.clear();
                best.resize((q1 - q0) * k, (T::infinity(), usize::MAX));
                for r0 in (0..n).step_by(REF_BLOCK) {
                    cancel.check()?;
                    let r1 = (r0 + REF_BLOCK).min(n);
                    let rn = ndarray::ArrayView1::from(&r.sq_norms[r0..r1]);
                    let mut c = buf.slice_mut(s![..q1 - q0, ..r1 - r0]);
                    for mut row in c.rows_mut() {
                        row.assign(&rn);
                    }
                    let rb = r.rows.slice(s![r0..r1, ..]);
                    general_mat_mul(minus_two, &qb, &rb.t(), T::one(), &mut c);
                    if exclude_self {
                        for i in q0.max(r0)..q1.min(r1) {
                            c[[i - q0, i - r0]] = T::infinity();
                        }
                    }
                    for (row, best) in c.rows().into_iter().zip(best.chunks_mut(k)) {
                        // Rows of the buffer are contiguous.
                        if let Some(vals) = row.as_slice() {
                            offer_row(vals, r0, best);
                        }
                    }
                }
                for (i, ((best, idx), dist)) in best
                    .chunks_mut(k)
                    .zip(idx_out.chunks_mut(k))
                    .zip(dist_out.chunks_mut(k))
                    .enumerate()
                {
                    let qi = q.rows.row(q0 + i);
                    for cand in best.iter_mut() {
                        cand.0 = direct_distance(qi, r.rows.row(cand.1), metric);
                    }
                    best.sort_unstable_by(|a, b| {
                        a.0.partial_cmp(&b.0)
                            .unwrap_or(std::cmp::Ordering::Equal)
                            .then(a.1.cmp(&b.1))
                    });
                    for ((o_i, o_d), &(d, j)) in
                        idx.iter_mut().zip(dist.iter_mut()).zip(best.iter())
                    {
                        *o_i = j;
                        *o_d = d;
                    }
                }
                Ok(())
            },
        )?;
    // Both vectors hold exactly m * k elements: an invariant, not something input can break.
    Ok(Neighbors {
        indices: Array2::from_shape_vec((m, k), indices).expect("m * k indices"),
        distances: Array2::from_shape_vec((m, k), distances).expect("m * k distances"),
    })
}

fn check_columns(what: Input, d: usize) -> Result<()> {
    if d == 0 {
        Err(KernelError::TooFewColumns {
            what,
            min: 1,
            got: 0,
        })
    } else {
        Ok(())
    }
}

/// The `k` nearest neighbours of every row of `x` among the other rows of `x` (self-kNN).
///
/// A row is never its own neighbour; a duplicate of it is, at distance 0.
///
/// # Errors
/// [`KernelError::InvalidNeighbors`] unless `1 <= k <= n - 1`; [`KernelError::NonFinite`],
/// [`KernelError::TooLarge`] or (cosine) [`KernelError::ZeroRow`] naming the lowest bad row;
/// [`KernelError::Cancelled`].
///
/// # Examples
/// ```
/// use activekit_core::{knn, Cancel, Metric};
/// use ndarray::array;
/// let x = array![[0.0_f64], [1.0], [3.0], [0.0]];
/// let nn = knn(x.view(), 2, Metric::Euclidean, &Cancel::new()).unwrap();
/// assert_eq!(nn.indices.row(0).to_vec(), vec![3, 1]);
/// assert_eq!(nn.distances.row(0).to_vec(), vec![0.0, 1.0]);
/// ```
pub fn knn<T: Real + LinalgScalar>(
    x: ArrayView2<T>,
    k: usize,
    metric: Metric,
    cancel: &Cancel,
) -> Result<Neighbors<T>> {
    if x.nrows() == 0 {
        return Err(KernelError::Empty { what: Input::Rows });
    }
    check_columns(Input::Rows, x.ncols())?;
    if k == 0 || k >= x.nrows() {
        return Err(KernelError::InvalidNeighbors {
            k,
            max: x.nrows() - 1,
            of: Input::Rows,
            minus_one: true,
        });
    }
    let p = prepare(x, Input::Rows, metric)?;
    search(&p, &p, k, metric, true, cancel)
}

/// The `k` nearest rows of `refs` to every row of `queries`.
///
/// # Errors
/// As [`knn`], with `1 <= k <= refs.nrows()`, and [`KernelError::ColumnMismatch`] when the
/// widths differ.
pub fn knn_query<T: Real + LinalgScalar>(
    queries: ArrayView2<T>,
    refs: ArrayView2<T>,
    k: usize,
    metric: Metric,
    cancel: &Cancel,
) -> Result<Neighbors<T>> {
    if refs.nrows() == 0 {
        return Err(KernelError::Empty {
            what: Input::References,
        });
    }
    check_columns(Input::Queries, queries.ncols())?;
    if queries.ncols() != refs.ncols() {
        return Err(KernelError::ColumnMismatch {
            got: refs.ncols(),
            want: queries.ncols(),
        });
    }
    if k == 0 || k > refs.nrows() {
        return Err(KernelError::InvalidNeighbors {
            k,
            max: refs.nrows(),
            of: Input::References,
            minus_one: false,
        });
    }
    let q = prepare(queries, Input::Queries, metric)?;
    let r = prepare(refs, Input::References, metric)?;
    search(&q, &r, k, metric, false, cancel)
}

/// Mean similarity of every row to its `k` nearest other rows: `1 / (1 + d)` for Euclidean
/// distance `d`, `1 - d = cos` for cosine distance. Higher means a denser neighbourhood.
///
/// # Errors
/// As [`knn`].
pub fn knn_density<T: Real + LinalgScalar>(
    x: ArrayView2<T>,
    k: usize,
    metric: Metric,
    cancel: &Cancel,
) -> Result<Array1<T>> {
    let nn = knn(x, k, metric, cancel)?;
    let mut out = Array1::<T>::zeros(x.nrows());
    Zip::from(&mut out)
        .and(nn.distances.rows())
        .par_for_each(|o, dist| {
            let sum: f64 = dist
                .iter()
                .map(|&d| {
                    let d = d.to_f64_lossless();
                    match metric {
                        Metric::Euclidean => 1.0 / (1.0 + d),
                        Metric::Cosine => 1.0 - d,
                    }
                })
                .sum();
            *o = T::from(sum / k as f64).unwrap_or_else(T::zero);
        });
    Ok(out)
}

/// Exact mean cosine similarity of every row to all rows (itself included), in `O(n d)`:
/// `cos(x_i, x_j) = u_i . u_j` for unit rows, so the mean over `j` is `u_i . mean_j u_j`.
///
/// # Errors
/// [`KernelError::Empty`], [`KernelError::NonFinite`] or [`KernelError::ZeroRow`] naming the
/// lowest bad row.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let x = array![[1.0_f64, 0.0], [2.0, 0.0], [0.0, 1.0]];
/// let s = activekit_core::mean_cosine_similarity(x.view()).unwrap();
/// assert!((s[0] - 2.0 / 3.0).abs() < 1e-12 && (s[2] - 1.0 / 3.0).abs() < 1e-12);
/// ```
pub fn mean_cosine_similarity<T: Real>(x: ArrayView2<T>) -> Result<Array1<T>> {
    let n = x.nrows();
    if n == 0 {
        return Err(KernelError::Empty { what: Input::Rows });
    }
    check_columns(Input::Rows, x.ncols())?;
    let d = x.ncols();
    // 1 / |x_i| per row, from the row scaled by its largest magnitude so that neither tiny
    // rows (whose squares underflow) nor huge ones (whose squares overflow) are misjudged.
    // The unit rows are never materialised: memory is O(n + d) beside the input.
    let mut inv_norm = Array1::<f64>::zeros(n);
    let mut issues = vec![RowIssue::Fine; n];
    Zip::from(x.rows())
        .and(&mut inv_norm)
        .and(ndarray::ArrayViewMut1::from(issues.as_mut_slice()))
        .par_for_each(|row, inv, issue| {
            let scale = row
                .iter()
                .fold(0.0_f64, |m, &v| m.max(v.to_f64_lossless().abs()));
            if !row.iter().all(|v| v.is_finite()) {
                *issue = RowIssue::NonFinite;
            } else if scale == 0.0 {
                *issue = RowIssue::Zero;
            } else {
                let scaled_sq: f64 = row
                    .iter()
                    .map(|&v| (v.to_f64_lossless() / scale).powi(2))
                    .sum();
                *inv = 1.0 / (scale * scaled_sq.sqrt());
            }
        });
    if let Some(row) = issues.iter().position(|&i| i != RowIssue::Fine) {
        return Err(match issues.get(row) {
            Some(RowIssue::Zero) => KernelError::ZeroRow {
                what: Input::Rows,
                row,
            },
            _ => KernelError::NonFinite {
                what: Input::Rows,
                row,
            },
        });
    }
    // Partial sums of the unit rows over fixed blocks, added in block order: the same whatever
    // the threads.
    let partial: Vec<Vec<f64>> = (0..n.div_ceil(SUM_BLOCK))
        .into_par_iter()
        .map(|b| {
            let mut acc = vec![0.0_f64; d];
            let rows = b * SUM_BLOCK..((b + 1) * SUM_BLOCK).min(n);
            for (row, &inv) in x
                .slice(s![rows.clone(), ..])
                .rows()
                .into_iter()
                .zip(inv_norm.slice(s![rows]))
            {
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += v.to_f64_lossless() * inv;
                }
            }
            acc
        })
        .collect();
    let mut mean = vec![0.0_f64; d];
    for acc in &partial {
        for (m, &a) in mean.iter_mut().zip(acc) {
            *m += a;
        }
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    let mut out = Array1::<T>::zeros(n);
    Zip::from(&mut out)
        .and(x.rows())
        .and(&inv_norm)
        .par_for_each(|o, row, &inv| {
            let dot: f64 = row
                .iter()
                .zip(&mean)
                .map(|(&v, &m)| v.to_f64_lossless() * m)
                .sum();
            *o = T::from(dot * inv).unwrap_or_else(T::zero);
        });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Brute force on f64: all distances, stable sort (ties by lowest index).
    fn brute(
        q: &Array2<f64>,
        r: &Array2<f64>,
        k: usize,
        metric: Metric,
        exclude_self: bool,
    ) -> (Vec<Vec<usize>>, Vec<Vec<f64>>) {
        let unit = |a: &Array2<f64>| {
            let mut a = a.clone();
            if metric == Metric::Cosine {
                for mut row in a.rows_mut() {
                    let nrm = row.dot(&row).sqrt();
                    row.mapv_inplace(|v| v / nrm);
                }
            }
            a
        };
        let (qu, ru) = (unit(q), unit(r));
        let mut all_idx = Vec::new();
        let mut all_d = Vec::new();
        for (i, qi) in qu.rows().into_iter().enumerate() {
            let mut cand: Vec<(f64, usize)> = ru
                .rows()
                .into_iter()
                .enumerate()
                .filter(|&(j, _)| !(exclude_self && i == j))
                .map(|(j, rj)| {
                    let s: f64 = qi.iter().zip(rj).map(|(a, b)| (a - b) * (a - b)).sum();
                    (
                        if metric == Metric::Euclidean {
                            s.sqrt()
                        } else {
                            s / 2.0
                        },
                        j,
                    )
                })
                .collect();
            cand.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            cand.truncate(k);
            all_idx.push(cand.iter().map(|c| c.1).collect());
            all_d.push(cand.iter().map(|c| c.0).collect());
        }
        (all_idx, all_d)
    }

    fn int_matrix(max_rows: usize) -> impl Strategy<Value = Array2<f64>> {
        (2..max_rows, 1..6usize).prop_flat_map(|(n, d)| {
            prop::collection::vec(-3i8..=3, n * d).prop_map(move |v| {
                Array2::from_shape_vec((n, d), v.into_iter().map(f64::from).collect()).unwrap()
            })
        })
    }

    #[test]
    fn rejects_bad_input() {
        let c = Cancel::new();
        let x =
            Array2::from_shape_vec((3, 2), vec![1.0_f64, 2.0, 0.0, 0.0, f64::NAN, 1.0]).unwrap();
        assert_eq!(
            knn(x.view(), 3, Metric::Euclidean, &c).unwrap_err(),
            KernelError::InvalidNeighbors {
                k: 3,
                max: 2,
                of: Input::Rows,
                minus_one: true,
            }
        );
        assert_eq!(
            knn(x.view(), 1, Metric::Euclidean, &c).unwrap_err(),
            KernelError::NonFinite {
                what: Input::Rows,
                row: 2
            }
        );
        assert_eq!(
            knn(x.view(), 1, Metric::Cosine, &c).unwrap_err(),
            KernelError::ZeroRow {
                what: Input::Rows,
                row: 1
            }
        );
        let big = Array2::from_elem((2, 1), 1e30_f32);
        assert_eq!(
            knn(big.view(), 1, Metric::Euclidean, &c).unwrap_err(),
            KernelError::TooLarge {
                what: Input::Rows,
                row: 0
            }
        );
        // Cosine only needs directions: huge and tiny rows are fine.
        let mixed = Array2::from_shape_vec((3, 1), vec![1e38_f32, 1e-38, -1e-45]).unwrap();
        let nn = knn(mixed.view(), 1, Metric::Cosine, &c).unwrap();
        assert_eq!(nn.indices.column(0).to_vec(), vec![1, 0, 0]);
        assert_eq!(nn.distances.column(0).to_vec(), vec![0.0, 0.0, 2.0]);
        let r = Array2::<f64>::zeros((4, 3));
        assert_eq!(
            knn_query(x.view(), r.view(), 1, Metric::Euclidean, &c).unwrap_err(),
            KernelError::ColumnMismatch { got: 3, want: 2 }
        );
        c.cancel();
        let ok = Array2::<f64>::zeros((5, 2));
        assert_eq!(
            knn(ok.view(), 1, Metric::Euclidean, &c).unwrap_err(),
            KernelError::Cancelled
        );
    }

    #[test]
    fn identical_points_take_lowest_indices_across_blocks() {
        let n = QUERY_BLOCK + REF_BLOCK + 7;
        let x = Array2::from_elem((n, 3), 0.25_f32);
        let nn = knn(x.view(), 3, Metric::Cosine, &Cancel::new()).unwrap();
        assert_eq!(nn.indices.row(0).to_vec(), vec![1, 2, 3]);
        assert_eq!(nn.indices.row(2).to_vec(), vec![0, 1, 3]);
        assert_eq!(nn.indices.row(n - 1).to_vec(), vec![0, 1, 2]);
        assert!(nn.distances.iter().all(|&d| d == 0.0));
    }

    #[test]
    fn same_result_on_any_thread_count() {
        let n = 2 * REF_BLOCK + 300;
        let x = Array2::from_shape_fn((n, 7), |(i, j)| ((i * 31 + j * 17) % 23) as f32 * 0.37);
        let one = crate::with_threads(1, || knn(x.view(), 5, Metric::Euclidean, &Cancel::new()))
            .unwrap()
            .unwrap();
        let three = crate::with_threads(3, || knn(x.view(), 5, Metric::Euclidean, &Cancel::new()))
            .unwrap()
            .unwrap();
        assert_eq!(one, three);
    }

    proptest! {
        // Small integers: every product is exact, so ties are exact and the result must equal
        // the brute force exactly, index for index.
        #[test]
        fn self_knn_matches_brute_force_exactly(x in int_matrix(300), k_frac in 0.0..1.0f64, cosine: bool) {
            let metric = if cosine { Metric::Cosine } else { Metric::Euclidean };
            let mut x = x;
            if cosine {
                for mut row in x.rows_mut() { if row.iter().all(|&v| v == 0.0) { row[0] = 1.0; } }
            }
            let n = x.nrows();
            let k = 1 + ((n - 2) as f64 * k_frac) as usize;
            let nn = knn(x.view(), k, metric, &Cancel::new()).unwrap();
            let (idx, dist) = brute(&x, &x, k, metric, true);
            if metric == Metric::Euclidean {
                for (i, want) in idx.iter().enumerate() {
                    prop_assert_eq!(&nn.indices.row(i).to_vec(), want);
                }
            }
            for (i, want) in dist.iter().enumerate() {
                for (got, want) in nn.distances.row(i).iter().zip(want) {
                    prop_assert!((got - want).abs() < 1e-9, "row {}: {} vs {}", i, got, want);
                }
            }
            let x32 = x.mapv(|v| v as f32);
            let nn32 = knn(x32.view(), k, metric, &Cancel::new()).unwrap();
            if metric == Metric::Euclidean {
                prop_assert_eq!(nn32.indices, nn.indices);
            }
        }

        #[test]
        fn query_knn_matches_brute_force(
            q in prop::collection::vec(-10.0..10.0f64, 1..40 * 4),
            r in prop::collection::vec(-10.0..10.0f64, 4..1500 * 4),
            k in 1..20usize,
        ) {
            let q = Array2::from_shape_vec((q.len() / 4, 4), q[..q.len() / 4 * 4].to_vec()).unwrap();
            let r = Array2::from_shape_vec((r.len() / 4, 4), r[..r.len() / 4 * 4].to_vec()).unwrap();
            let k = k.min(r.nrows());
            let nn = knn_query(q.view(), r.view(), k, Metric::Euclidean, &Cancel::new()).unwrap();
            let (_, dist) = brute(&q, &r, k, Metric::Euclidean, false);
            for (i, want) in dist.iter().enumerate() {
                for (got, want) in nn.distances.row(i).iter().zip(want) {
                    prop_assert!((got - want).abs() < 1e-9);
                }
            }
        }

        #[test]
        fn mean_cosine_matches_pairwise(x in int_matrix(60)) {
            let mut x = x;
            for mut row in x.rows_mut() { if row.iter().all(|&v| v == 0.0) { row[0] = 1.0; } }
            let got = mean_cosine_similarity(x.view()).unwrap();
            let n = x.nrows();
            for i in 0..n {
                let xi = x.row(i);
                let want: f64 = (0..n).map(|j| { let xj = x.row(j); xi.dot(&xj) / (xi.dot(&xi) * xj.dot(&xj)).sqrt() }).sum::<f64>() / n as f64;
                prop_assert!((got[i] - want).abs() < 1e-12);
            }
        }
    }
}
