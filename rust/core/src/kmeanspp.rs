//! k-means++ seeding (Arthur & Vassilvitskii 2007): D^2 sampling.
//!
//! The first centre is uniform over the rows; each next one is drawn with probability
//! proportional to the squared distance to the nearest centre chosen so far. One vector of
//! squared distances is kept and lowered after each pick (parallel over rows: each row is
//! independent). The draw itself is sequential: a running sum in row order, the first row
//! whose running sum exceeds `u * total`, so the result depends only on the seed.
//!
//! The generator is SplitMix64 (Steele, Lea & Flood 2014): `state += 0x9E3779B97F4A7C15`, then
//! two xor-shift-multiply rounds. A uniform `u` in `[0, 1)` is `(next >> 11) * 2^-53`; the
//! first centre is `floor(u * n)`.

use crate::cancel::Cancel;
use crate::distance::{check_finite, row, sq_dist};
use crate::error::{Input, KernelError, Result};
use crate::real::Real;
use crate::topk::check_k;
use ndarray::ArrayView2;
use rayon::prelude::*;

/// Rows per parallel job when lowering the distances.
const BLOCK: usize = 1024;

/// SplitMix64: a 64-bit state, one addition and a mixing function per draw.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Lower `dist[i]` to the squared distance from row `i` to row `c`, in parallel.
fn lower<T: Real>(xs: &[T], d: usize, c: usize, dist: &mut [f64], cancel: &Cancel) -> Result<()> {
    let centre = row(xs, d, c);
    dist.par_chunks_mut(BLOCK)
        .enumerate()
        .try_for_each(|(b, blk)| {
            cancel.check()?;
            for (r, v) in blk.iter_mut().enumerate() {
                let s = sq_dist(row(xs, d, b * BLOCK + r), centre);
                if s < *v {
                    *v = s;
                }
            }
            Ok(())
        })
}

/// `k` rows of `x` (n, d) chosen by k-means++ seeding from `seed`, in pick order.
///
/// When every unchosen row is at distance 0 from the chosen ones (duplicates), the lowest
/// unchosen row is taken. The same seed gives the same rows whatever the thread count.
///
/// # Errors
/// [`crate::KernelError::InvalidK`] unless `1 <= k <= n`, [`crate::KernelError::NonFinite`]
/// naming the first row with NaN or an infinity, [`crate::KernelError::Cancelled`].
///
/// # Examples
/// ```
/// use activekit_core::{kmeans_plusplus, Cancel};
/// use ndarray::array;
/// let x = array![[0.0_f64], [0.0], [100.0]];
/// let picks = kmeans_plusplus(x.view(), 3, 7, &Cancel::new()).unwrap();
/// assert_eq!(picks.len(), 3);
/// ```
pub fn kmeans_plusplus<T: Real>(
    x: ArrayView2<T>,
    k: usize,
    seed: u64,
    cancel: &Cancel,
) -> Result<Vec<usize>> {
    let (n, d) = x.dim();
    check_k(k, n)?;
    check_finite(x, Input::Rows)?;
    let x = x.as_standard_layout();
    let Some(xs) = x.as_slice() else {
        unreachable!("standard layout is contiguous")
    };
    d2_sample(n, k, seed, |pick, dist| lower(xs, d, pick, dist, cancel))
}

/// D^2 sampling of `k` of `n` rows from `seed`: the first uniform, then by [`draw`] after
/// `lower(pick, dist)` has lowered `dist` with each new pick's squared distances.
fn d2_sample(
    n: usize,
    k: usize,
    seed: u64,
    mut lower: impl FnMut(usize, &mut [f64]) -> Result<()>,
) -> Result<Vec<usize>> {
    let mut rng = SplitMix64(seed);
    let mut taken = vec![false; n];
    let mut picks = Vec::with_capacity(k);
    // u < 1, so the product is below n.
    let mut pick = ((rng.next_f64() * n as f64) as usize).min(n - 1);
    let mut dist = vec![f64::INFINITY; n];
    loop {
        taken[pick] = true;
        picks.push(pick);
        if picks.len() == k {
            return Ok(picks);
        }
        lower(pick, &mut dist)?;
        // A chosen row carries no mass (its own distance is 0, or rounds near it).
        dist[pick] = 0.0;
        pick = draw(&dist, &taken, &mut rng);
    }
}

/// The next pick: the first row whose running sum (row order, chosen rows carry no mass)
/// exceeds `u * total`, or the lowest unchosen row when there is no mass left.
fn draw(dist: &[f64], taken: &[bool], rng: &mut SplitMix64) -> usize {
    let total: f64 = dist.iter().sum();
    let u = rng.next_f64();
    if total > 0.0 {
        let target = u * total;
        let mut acc = 0.0;
        let mut last_positive = 0;
        for (i, &v) in dist.iter().enumerate() {
            if v > 0.0 {
                acc += v;
                last_positive = i;
                if acc > target {
                    return i;
                }
            }
        }
        // Only when u * total rounds up to total.
        last_positive
    } else {
        taken.iter().position(|&t| !t).unwrap_or(0)
    }
}

/// Relative size below which a factorised squared distance is rounding noise: a distance
/// under `1e-12` times the two rows' squared norms (a distance ratio of `1e-6`) counts as 0,
/// so that duplicates of a chosen row carry no mass, as they do in [`kmeans_plusplus`].
const CANCELLATION: f64 = 1e-12;

/// Squared norms of the outer-product rows `a_i (x) [h_i, 1]`, as `|a_i|^2` and
/// `|h_i|^2 + intercept`, checked for overflow.
fn outer_norms<T: Real>(
    n: usize,
    a: &[f64],
    ka: usize,
    h: &[T],
    dh: usize,
    intercept: f64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut na = vec![0.0; n];
    let mut nh = vec![0.0; n];
    na.par_chunks_mut(BLOCK)
        .zip(nh.par_chunks_mut(BLOCK))
        .enumerate()
        .for_each(|(b, (na_blk, nh_blk))| {
            for (r, (va, vh)) in na_blk.iter_mut().zip(nh_blk.iter_mut()).enumerate() {
                let i = b * BLOCK + r;
                *va = row(a, ka, i).iter().map(|&v| v * v).sum();
                *vh = row(h, dh, i)
                    .iter()
                    .map(|&v| {
                        let v = v.to_f64_lossless();
                        v * v
                    })
                    .sum::<f64>()
                    + intercept;
            }
        });
    let too_large = (0..n)
        .into_par_iter()
        .find_first(|&i| !(na[i] * nh[i]).is_finite() || !(4.0 * na[i] * nh[i]).is_finite());
    if let Some(row) = too_large {
        let what = if na[row].is_finite() {
            Input::Embeddings
        } else {
            Input::Gradients
        };
        return Err(KernelError::TooLarge { what, row });
    }
    Ok((na, nh))
}

/// k-means++ seeding over rows that are outer products, `g_i = a_i (x) [h_i, 1]` (the `1`
/// when `intercept`), without forming them: `|g_i - g_c|^2 = |a_i|^2 |h'_i|^2 +
/// |a_c|^2 |h'_c|^2 - 2 (a_i . a_c)(h_i . h_c + 1)`, O(n (ka + dh)) a pick instead of
/// O(n ka dh), and memory O(n) beside the inputs. These are BADGE's gradient embeddings
/// (`a` the loss gradient at the output, `h` the last layer's input).
///
/// The generator and the draw rule are [`kmeans_plusplus`]'s, so for the same seed the picks
/// are those of `kmeans_plusplus` on the materialised rows, up to rounding: a factorised
/// distance below `1e-12` times the two rows' squared norms counts as 0 (duplicates).
///
/// # Errors
/// [`crate::KernelError::RowMismatch`] unless `a` and `h` have the same number of rows,
/// [`crate::KernelError::InvalidK`] unless `1 <= k <= n`, [`crate::KernelError::NonFinite`]
/// naming the first row of `A` or `H` with NaN or an infinity,
/// [`crate::KernelError::TooLarge`] for a row whose squared norm overflows,
/// [`crate::KernelError::Cancelled`].
///
/// # Examples
/// ```
/// use activekit_core::{kmeans_plusplus_outer, Cancel};
/// use ndarray::array;
/// let a = array![[1.0, -1.0], [0.5, -0.5], [1.0, -1.0]];
/// let h = array![[0.0_f32], [0.0], [100.0]];
/// let picks = kmeans_plusplus_outer(a.view(), h.view(), true, 2, 7, &Cancel::new()).unwrap();
/// assert_eq!(picks.len(), 2);
/// ```
pub fn kmeans_plusplus_outer<T: Real>(
    a: ArrayView2<f64>,
    h: ArrayView2<T>,
    intercept: bool,
    k: usize,
    seed: u64,
    cancel: &Cancel,
) -> Result<Vec<usize>> {
    let (n, ka) = a.dim();
    let dh = h.ncols();
    if h.nrows() != n {
        return Err(KernelError::RowMismatch {
            what: Input::Embeddings,
            got: h.nrows(),
            other: Input::Gradients,
            expected: n,
        });
    }
    check_k(k, n)?;
    check_finite(a, Input::Gradients)?;
    check_finite(h, Input::Embeddings)?;
    let a = a.as_standard_layout();
    let h = h.as_standard_layout();
    let (Some(as_), Some(hs)) = (a.as_slice(), h.as_slice()) else {
        unreachable!("standard layout is contiguous")
    };
    let bias = if intercept { 1.0 } else { 0.0 };
    let (na, nh) = outer_norms(n, as_, ka, hs, dh, bias)?;
    d2_sample(n, k, seed, |pick, dist| {
        let (ac, hc) = (row(as_, ka, pick), row(hs, dh, pick));
        let gc = na[pick] * nh[pick];
        dist.par_chunks_mut(BLOCK)
            .enumerate()
            .try_for_each(|(b, blk)| {
                cancel.check()?;
                for (r, v) in blk.iter_mut().enumerate() {
                    let i = b * BLOCK + r;
                    let dot_a: f64 = row(as_, ka, i).iter().zip(ac).map(|(&x, &y)| x * y).sum();
                    let dot_h: f64 = row(hs, dh, i)
                        .iter()
                        .zip(hc)
                        .map(|(&x, &y)| x.to_f64_lossless() * y.to_f64_lossless())
                        .sum::<f64>()
                        + bias;
                    let gi = na[i] * nh[i];
                    let s = gi + gc - 2.0 * dot_a * dot_h;
                    let s = if s <= CANCELLATION * (gi + gc) {
                        0.0
                    } else {
                        s
                    };
                    if s < *v {
                        *v = s;
                    }
                }
                Ok(())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn splitmix_reference_values() {
        // The first outputs for seed 0 of Vigna's reference `splitmix64.c`.
        let mut r = SplitMix64(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn duplicates_then_lowest_unchosen() {
        let x = Array2::<f64>::zeros((5, 3));
        let picks = kmeans_plusplus(x.view(), 5, 3, &Cancel::new()).unwrap();
        let mut sorted = picks.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        // After the uniform first pick the mass is zero: lowest unchosen rows in order.
        let rest: Vec<usize> = (0..5).filter(|&i| i != picks[0]).collect();
        assert_eq!(&picks[1..], &rest[..]);
    }

    #[test]
    fn deterministic_across_threads_and_far_points_found() {
        let x = Array2::from_shape_fn((3000, 4), |(i, j)| {
            ((i * 31 + j * 7) % 97) as f32 + if i % 1000 == 0 { 1e4 } else { 0.0 }
        });
        let a = crate::with_threads(1, || kmeans_plusplus(x.view(), 20, 11, &Cancel::new()))
            .unwrap()
            .unwrap();
        let b = crate::with_threads(3, || kmeans_plusplus(x.view(), 20, 11, &Cancel::new()))
            .unwrap()
            .unwrap();
        assert_eq!(a, b);
        let mut u = a.clone();
        u.sort_unstable();
        u.dedup();
        assert_eq!(u.len(), 20);
    }

    /// The rows `a_i (x) [h_i, 1]`, materialised.
    fn outer(a: &Array2<f64>, h: &Array2<f64>, intercept: bool) -> Array2<f64> {
        let dh = h.ncols() + usize::from(intercept);
        Array2::from_shape_fn((a.nrows(), a.ncols() * dh), |(i, j)| {
            let (c, f) = (j / dh, j % dh);
            a[[i, c]] * if f < h.ncols() { h[[i, f]] } else { 1.0 }
        })
    }

    #[test]
    fn outer_picks_match_the_materialised_rows() {
        for (intercept, seed) in [(true, 1_u64), (false, 2), (true, 99)] {
            let a = Array2::from_shape_fn((300, 4), |(i, j)| {
                (((i * 17 + j * 5) % 23) as f64 - 11.0) / 7.0
            });
            let h = Array2::from_shape_fn((300, 6), |(i, j)| ((i * 13 + j * 3) % 19) as f64 / 3.0);
            let g = outer(&a, &h, intercept);
            let want = kmeans_plusplus(g.view(), 40, seed, &Cancel::new()).unwrap();
            let got =
                kmeans_plusplus_outer(a.view(), h.view(), intercept, 40, seed, &Cancel::new())
                    .unwrap();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn outer_duplicates_carry_no_mass() {
        // Rows 0..4 are one embedding, written with a and h scaled against each other.
        let a = ndarray::array![[1.0, -1.0], [2.0, -2.0], [0.5, -0.5], [4.0, -4.0]];
        let h = ndarray::array![[3.0_f32, 0.0], [1.5, 0.0], [6.0, 0.0], [0.75, 0.0]];
        let picks = kmeans_plusplus_outer(a.view(), h.view(), false, 4, 5, &Cancel::new()).unwrap();
        let rest: Vec<usize> = (0..4).filter(|&i| i != picks[0]).collect();
        assert_eq!(&picks[1..], &rest[..]);
    }

    #[test]
    fn outer_rejects_mismatched_rows_and_overflow() {
        let a = Array2::<f64>::ones((3, 2));
        let h = Array2::<f64>::ones((4, 2));
        let err = kmeans_plusplus_outer(a.view(), h.view(), true, 1, 0, &Cancel::new());
        assert!(matches!(
            err,
            Err(KernelError::RowMismatch {
                got: 4,
                expected: 3,
                ..
            })
        ));
        let mut h = Array2::<f64>::ones((3, 2));
        h[[1, 0]] = 1e200;
        let err = kmeans_plusplus_outer(a.view(), h.view(), true, 1, 0, &Cancel::new());
        assert!(matches!(
            err,
            Err(KernelError::TooLarge {
                what: Input::Embeddings,
                row: 1
            })
        ));
    }
}
