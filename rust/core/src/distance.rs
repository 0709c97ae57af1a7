//! Exact Euclidean distances between rows, and the nearest row of a set of centres.
//!
//! A squared distance is accumulated in `f64` from direct differences, `sum_j (x_j - c_j)^2`,
//! never through `|x|^2 - 2 x.c + |c|^2`, whose cancellation moves near-ties. The sum follows
//! NumPy's pairwise summation order (eight running sums over blocks of up to 128 terms, halves
//! above), so each value is bit-identical to `((X64 - c64) ** 2).sum(axis=1)` in NumPy and a
//! greedy built on these distances picks the same rows as the NumPy one.

use crate::cancel::Cancel;
use crate::error::{KernelError, Result};
use crate::real::Real;
use ndarray::ArrayView2;
use rayon::prelude::*;

/// Rows of `X` per parallel job.
const ROW_BLOCK: usize = 64;
/// Bytes of centres per block, so that a block stays in L2 while a row block streams past it.
const CENTRE_BLOCK_BYTES: usize = 128 * 1024;
/// NumPy's `PW_BLOCKSIZE`.
const PAIRWISE_BLOCK: usize = 128;

#[inline(always)]
fn sq<T: Real>(a: T, b: T) -> f64 {
    let d = a.to_f64_lossless() - b.to_f64_lossless();
    d * d
}

/// Squared Euclidean distance of two equal-length rows, in NumPy's pairwise summation order.
#[inline]
pub(crate) fn sq_dist<T: Real>(a: &[T], b: &[T]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    if n < 8 {
        let mut res = 0.0;
        for (&x, &y) in a.iter().zip(b) {
            res += sq(x, y);
        }
        res
    } else if n <= PAIRWISE_BLOCK {
        let mut r = [0.0_f64; 8];
        for ((r, &x), &y) in r.iter_mut().zip(a).zip(b) {
            *r = sq(x, y);
        }
        let full = n - n % 8;
        for (ca, cb) in a[8..full].chunks_exact(8).zip(b[8..full].chunks_exact(8)) {
            for ((r, &x), &y) in r.iter_mut().zip(ca).zip(cb) {
                *r += sq(x, y);
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (&x, &y) in a[full..].iter().zip(&b[full..]) {
            res += sq(x, y);
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        sq_dist(&a[..n2], &b[..n2]) + sq_dist(&a[n2..], &b[n2..])
    }
}

/// The lowest row of `x` holding NaN or an infinity, as an error naming `what`.
pub(crate) fn check_finite<T: Real>(x: ArrayView2<T>, what: &'static str) -> Result<()> {
    let bad = (0..x.nrows())
        .into_par_iter()
        .find_first(|&i| x.row(i).iter().any(|v| !v.is_finite()));
    match bad {
        Some(row) => Err(KernelError::NonFinite { what, row }),
        None => Ok(()),
    }
}

/// Check that `c` has as many columns as `x`.
pub(crate) fn check_same_width<T>(
    x: ArrayView2<T>,
    x_name: &'static str,
    c: ArrayView2<T>,
    c_name: &'static str,
) -> Result<()> {
    if x.ncols() == c.ncols() {
        Ok(())
    } else {
        Err(KernelError::WidthMismatch {
            what: c_name,
            got: c.ncols(),
            other: x_name,
            expected: x.ncols(),
        })
    }
}

/// Rows of a standard-layout matrix as slices (empty rows when it has no columns).
pub(crate) fn row<T>(data: &[T], d: usize, i: usize) -> &[T] {
    &data[i * d..(i + 1) * d]
}

/// For each row of `x`, its squared distance to the nearest row of `c` and that row's index
/// (the lowest among equals). Both must be in standard layout; `c` must have rows.
/// Parallel over blocks of rows of `x`; each row sees the centres in order, so the result does
/// not depend on the thread count.
pub(crate) fn nearest_sq<T: Real>(
    x: &[T],
    c: &[T],
    d: usize,
    sq_out: &mut [f64],
    arg_out: &mut [usize],
    cancel: &Cancel,
) -> Result<()> {
    let Some(n_c) = c.len().checked_div(d) else {
        // Every distance is zero; the first centre is the nearest.
        sq_out.fill(0.0);
        arg_out.fill(0);
        return Ok(());
    };
    let c_block = (CENTRE_BLOCK_BYTES / (d * std::mem::size_of::<T>())).max(1);
    sq_out
        .par_chunks_mut(ROW_BLOCK)
        .zip(arg_out.par_chunks_mut(ROW_BLOCK))
        .enumerate()
        .try_for_each(|(b, (sq_blk, arg_blk))| {
            let start = b * ROW_BLOCK;
            sq_blk.fill(f64::INFINITY);
            arg_blk.fill(0);
            for c_start in (0..n_c).step_by(c_block) {
                cancel.check()?;
                let c_end = (c_start + c_block).min(n_c);
                for (r, (best, arg)) in sq_blk.iter_mut().zip(arg_blk.iter_mut()).enumerate() {
                    let xr = row(x, d, start + r);
                    for j in c_start..c_end {
                        let dist = sq_dist(xr, row(c, d, j));
                        // Strictly smaller: the lowest index wins ties.
                        if dist < *best {
                            *best = dist;
                            *arg = j;
                        }
                    }
                }
            }
            Ok(())
        })
}

/// Distances from each row of a matrix to its nearest centre.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearest {
    /// Euclidean distance of each row to its nearest centre (computed in `f64`).
    pub distances: Vec<f64>,
    /// Index of that centre; the lowest among equally near centres.
    pub indices: Vec<usize>,
    /// Number of distances evaluated (`n * m`).
    pub evaluations: u64,
}

/// For every row of `x` (n, d), the Euclidean distance to the nearest row of `centers` (m, d)
/// and that row's index, lowest index first among ties.
///
/// Exact: squared distances are summed in `f64` from direct differences, in NumPy's pairwise
/// order, then square-rooted. Parallel over rows of `x`, with `centers` visited in blocks that
/// stay in cache. Checks `cancel` between blocks.
///
/// # Errors
/// [`KernelError::Empty`] if `centers` has no rows, [`KernelError::WidthMismatch`] if the
/// column counts differ, [`KernelError::NonFinite`] naming the first row with NaN or an
/// infinity, [`KernelError::Cancelled`].
///
/// # Examples
/// ```
/// use activekit_core::{min_distances, Cancel};
/// use ndarray::array;
/// let x = array![[0.0_f64, 0.0], [3.0, 4.0], [10.0, 0.0]];
/// let c = array![[0.0_f64, 0.0], [10.0, 1.0]];
/// let near = min_distances(x.view(), c.view(), &Cancel::new()).unwrap();
/// assert_eq!(near.distances, vec![0.0, 5.0, 1.0]);
/// assert_eq!(near.indices, vec![0, 0, 1]);
/// ```
pub fn min_distances<T: Real>(
    x: ArrayView2<T>,
    centers: ArrayView2<T>,
    cancel: &Cancel,
) -> Result<Nearest> {
    if centers.nrows() == 0 {
        return Err(KernelError::Empty { what: "C" });
    }
    check_same_width(x, "X", centers, "C")?;
    check_finite(x, "X")?;
    check_finite(centers, "C")?;
    let (n, d) = x.dim();
    let x = x.as_standard_layout();
    let c = centers.as_standard_layout();
    let (xs, cs) = match (x.as_slice(), c.as_slice()) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!("standard layout is contiguous"),
    };
    let mut dist = vec![0.0; n];
    let mut idx = vec![0; n];
    nearest_sq(xs, cs, d, &mut dist, &mut idx, cancel)?;
    dist.par_iter_mut().for_each(|v| *v = v.sqrt());
    Ok(Nearest {
        distances: dist,
        indices: idx,
        evaluations: (n as u64) * (centers.nrows() as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use proptest::prelude::*;

    fn naive(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }

    #[test]
    fn pairwise_order_matches_naive_on_integers() {
        // Integer-valued inputs sum exactly in any order.
        for d in [0, 1, 7, 8, 9, 127, 128, 129, 300, 1000] {
            let a: Vec<f64> = (0..d).map(|i| (i % 13) as f64).collect();
            let b: Vec<f64> = (0..d).map(|i| (i % 7) as f64).collect();
            assert_eq!(sq_dist(&a, &b), naive(&a, &b), "d = {d}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        let x = Array2::<f32>::zeros((3, 2));
        let c = Array2::<f32>::zeros((0, 2));
        assert_eq!(
            min_distances(x.view(), c.view(), &Cancel::new()).unwrap_err(),
            KernelError::Empty { what: "C" }
        );
        let c = Array2::<f32>::zeros((1, 3));
        assert!(matches!(
            min_distances(x.view(), c.view(), &Cancel::new()).unwrap_err(),
            KernelError::WidthMismatch {
                got: 3,
                expected: 2,
                ..
            }
        ));
        let mut x = Array2::<f32>::zeros((4, 2));
        x[[2, 1]] = f32::NAN;
        x[[3, 0]] = f32::INFINITY;
        let c = Array2::<f32>::zeros((1, 2));
        assert_eq!(
            min_distances(x.view(), c.view(), &Cancel::new()).unwrap_err(),
            KernelError::NonFinite { what: "X", row: 2 }
        );
    }

    proptest! {
        #[test]
        fn matches_brute_force(
            n in 1..80usize, m in 1..40usize, d in 1..20usize,
            vals in prop::collection::vec(-3i8..4, 80 * 40),
        ) {
            let x = Array2::from_shape_fn((n, d), |(i, j)| f64::from(vals[(i * d + j) % vals.len()]));
            let c = Array2::from_shape_fn((m, d), |(i, j)| f64::from(vals[(7 + i * 3 + j) % vals.len()]));
            let near = min_distances(x.view(), c.view(), &Cancel::new()).unwrap();
            for i in 0..n {
                let ds: Vec<f64> = (0..m).map(|j| naive(x.row(i).as_slice().unwrap(), c.row(j).as_slice().unwrap())).collect();
                let best = ds.iter().cloned().fold(f64::INFINITY, f64::min);
                let arg = ds.iter().position(|&v| v == best).unwrap();
                prop_assert_eq!(near.distances[i], best.sqrt());
                prop_assert_eq!(near.indices[i], arg);
            }
        }
    }
}
