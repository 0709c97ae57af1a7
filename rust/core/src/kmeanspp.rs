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
use crate::error::Result;
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
    check_finite(x, "X")?;
    let x = x.as_standard_layout();
    let Some(xs) = x.as_slice() else {
        unreachable!("standard layout is contiguous")
    };
    let mut rng = SplitMix64(seed);
    let mut taken = vec![false; n];
    let mut picks = Vec::with_capacity(k);
    // u < 1, so the product is below n.
    let first = ((rng.next_f64() * n as f64) as usize).min(n - 1);
    let mut dist = vec![f64::INFINITY; n];
    let mut pick = first;
    loop {
        taken[pick] = true;
        picks.push(pick);
        if picks.len() == k {
            return Ok(picks);
        }
        lower(xs, d, pick, &mut dist, cancel)?;
        // Chosen rows are at distance 0 from themselves, so they carry no mass.
        let total: f64 = dist.iter().sum();
        let u = rng.next_f64();
        pick = if total > 0.0 {
            let target = u * total;
            let mut acc = 0.0;
            let mut found = None;
            let mut last_positive = 0;
            for (i, &v) in dist.iter().enumerate() {
                if v > 0.0 {
                    acc += v;
                    last_positive = i;
                    if acc > target {
                        found = Some(i);
                        break;
                    }
                }
            }
            // Only when u * total rounds up to total.
            found.unwrap_or(last_positive)
        } else {
            taken.iter().position(|&t| !t).unwrap_or(0)
        };
    }
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
}
