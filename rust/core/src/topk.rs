//! Top-k selection without sorting the pool: each block keeps its own k best with
//! `select_nth_unstable`, then the candidates of all blocks are reduced the same way.
//!
//! The order is total: higher score first, and among equal scores the lower index first,
//! so the result does not depend on the block size or the thread count.

use crate::error::{KernelError, Result};
use crate::real::Real;
use ndarray::ArrayView1;
use rayon::prelude::*;
use std::cmp::Ordering;

/// Rows per parallel block. Large enough to amortise scheduling, small enough to stay in L2.
pub(crate) const BLOCK: usize = 2048;

/// The `k` best items, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct TopK<T> {
    /// Positions in the input, best first.
    pub indices: Vec<usize>,
    /// Their scores, in the same order.
    pub scores: Vec<T>,
}

#[inline]
fn rank<T: Real>(a: &(T, usize), b: &(T, usize)) -> Ordering {
    // Scores are never NaN here (callers reject them), so partial_cmp is total.
    b.0.partial_cmp(&a.0)
        .unwrap_or(Ordering::Equal)
        .then(a.1.cmp(&b.1))
}

/// Keep the `k` best of `items` (unordered).
fn keep_best<T: Real>(items: &mut Vec<(T, usize)>, k: usize) {
    if items.len() > k {
        items.select_nth_unstable_by(k - 1, rank);
        items.truncate(k);
    }
}

/// Check `1 <= k <= n`.
pub(crate) fn check_k(k: usize, n: usize) -> Result<()> {
    if k == 0 || k > n {
        Err(KernelError::InvalidK { k, n })
    } else {
        Ok(())
    }
}

/// The `k` best of one block whose scores are `scores` and whose first position is `start`
/// (unordered).
///
/// Scans once, keeping candidates in a buffer of `2k`; each time it fills, the buffer is cut
/// back to its `k` best and the `k`-th score becomes a threshold that later items must beat.
/// Positions increase along the scan, so an item that only ties the threshold ranks below it
/// and can be skipped: the result is exactly the `k` best under [`rank`].
fn block_best<T: Real>(scores: &[T], start: usize, k: usize) -> Vec<(T, usize)> {
    let cap = (2 * k).min(scores.len());
    let mut kept: Vec<(T, usize)> = Vec::with_capacity(cap);
    let mut threshold = T::neg_infinity();
    let mut have_threshold = false;
    for (i, &s) in (start..).zip(scores) {
        if have_threshold && s <= threshold {
            continue;
        }
        kept.push((s, i));
        if kept.len() >= 2 * k {
            keep_best(&mut kept, k);
            if let Some(last) = kept.last() {
                // After `keep_best`, the k-th best sits at position k - 1.
                threshold = last.0;
                have_threshold = true;
            }
        }
    }
    keep_best(&mut kept, k);
    kept
}

/// Score every position `0..n` in parallel blocks of [`BLOCK`] and return the `k` best.
///
/// `score_block(start, out)` writes the scores of positions `start..start + out.len()` into
/// `out`, or returns the error of the lowest position in that range that cannot be scored;
/// the error of the lowest such position overall is returned, whatever the thread count.
pub(crate) fn top_k_by_block<T, F>(n: usize, k: usize, score_block: F) -> Result<TopK<T>>
where
    T: Real,
    F: Fn(usize, &mut [T]) -> Result<()> + Sync,
{
    check_k(k, n)?;
    let n_blocks = n.div_ceil(BLOCK);
    let blocks: Vec<Result<Vec<(T, usize)>>> = (0..n_blocks)
        .into_par_iter()
        .map(|b| {
            let start = b * BLOCK;
            let end = (start + BLOCK).min(n);
            let mut scores = vec![T::zero(); end - start];
            score_block(start, &mut scores)?;
            Ok(block_best(&scores, start, k))
        })
        .collect();
    let mut candidates = Vec::with_capacity(n_blocks * k.min(BLOCK));
    for block in blocks {
        candidates.extend(block?);
    }
    keep_best(&mut candidates, k);
    candidates.sort_unstable_by(rank);
    Ok(TopK {
        indices: candidates.iter().map(|c| c.1).collect(),
        scores: candidates.iter().map(|c| c.0).collect(),
    })
}

/// The `k` highest of `scores`, highest first; equal scores are taken lowest index first.
///
/// # Errors
/// [`KernelError::InvalidK`] unless `1 <= k <= scores.len()`, and
/// [`KernelError::NanScore`] naming the first NaN.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let top = activekit_core::top_k(array![0.1_f64, 0.9, 0.5, 0.9].view(), 3).unwrap();
/// assert_eq!(top.indices, vec![1, 3, 2]);
/// ```
pub fn top_k<T: Real>(scores: ArrayView1<T>, k: usize) -> Result<TopK<T>> {
    top_k_by_block(scores.len(), k, |start, out| {
        let block = scores.slice(ndarray::s![start..start + out.len()]);
        for ((i, slot), &s) in (start..).zip(out.iter_mut()).zip(block.iter()) {
            if s.is_nan() {
                return Err(KernelError::NanScore { index: i });
            }
            *slot = s;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array1;
    use proptest::prelude::*;

    fn reference(scores: &[f64], k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..scores.len()).collect();
        // A stable sort on descending score keeps lower indices first among ties.
        idx.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap());
        idx.truncate(k);
        idx
    }

    #[test]
    fn rejects_bad_k_and_nan() {
        let s = Array1::from(vec![1.0_f32, 2.0]);
        assert_eq!(
            top_k(s.view(), 0).unwrap_err(),
            KernelError::InvalidK { k: 0, n: 2 }
        );
        assert_eq!(
            top_k(s.view(), 3).unwrap_err(),
            KernelError::InvalidK { k: 3, n: 2 }
        );
        let s = Array1::from(vec![1.0_f32, f32::NAN, f32::NAN]);
        assert_eq!(
            top_k(s.view(), 1).unwrap_err(),
            KernelError::NanScore { index: 1 }
        );
    }

    #[test]
    fn ties_take_lowest_index_across_blocks() {
        let s = Array1::from(vec![1.0_f64; 3 * BLOCK + 5]);
        let top = top_k(s.view(), 4).unwrap();
        assert_eq!(top.indices, vec![0, 1, 2, 3]);
    }

    proptest! {
        #[test]
        fn matches_stable_sort(
            scores in prop::collection::vec(prop_oneof![Just(0.5), -1e3..1e3f64], 1..5000),
            k_frac in 0.0..1.0f64,
        ) {
            let k = 1 + ((scores.len() - 1) as f64 * k_frac) as usize;
            let arr = Array1::from(scores.clone());
            let top = top_k(arr.view(), k).unwrap();
            prop_assert_eq!(top.indices, reference(&scores, k));
        }

        #[test]
        fn same_result_on_any_thread_count(
            scores in prop::collection::vec(0..20u8, 1..6000),
            threads in 1..4usize,
        ) {
            let arr = Array1::from(scores.iter().map(|&s| f32::from(s)).collect::<Vec<_>>());
            let k = scores.len().min(300);
            let one = crate::with_threads(1, || top_k(arr.view(), k)).unwrap().unwrap();
            let many = crate::with_threads(threads, || top_k(arr.view(), k)).unwrap().unwrap();
            prop_assert_eq!(one, many);
        }
    }
}
