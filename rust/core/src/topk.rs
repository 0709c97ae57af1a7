//! Top-k selection without sorting the pool: each parallel job keeps a running selection
//! (a bar to beat, and `select_nth_unstable` when its buffer fills), and the jobs' selections
//! are merged.
//!
//! The order is total: higher score first, and among equal scores the lower index first,
//! so the result does not depend on the block size or the thread count.

use crate::error::{KernelError, Result};
use crate::real::Real;
use ndarray::{s, ArrayView1, ArrayView2};
use rayon::prelude::*;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

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

/// A running selection of the `k` best items seen so far.
///
/// Candidates go into a buffer of `2k`; each time it fills, it is cut back to its `k` best and
/// the `k`-th becomes the bar that later items must beat under [`rank`] (score, then lower
/// index), so most items cost one comparison. The comparison is exact whatever order the items
/// arrive in, so selections can be merged across threads.
struct Best<T> {
    k: usize,
    kept: Vec<(T, usize)>,
    bar: Option<(T, usize)>,
}

impl<T: Real> Best<T> {
    fn new(k: usize) -> Self {
        Self {
            k,
            kept: Vec::new(),
            bar: None,
        }
    }

    #[inline]
    fn offer(&mut self, score: T, index: usize) {
        if let Some(bar) = self.bar {
            if rank(&(score, index), &bar) != Ordering::Less {
                return;
            }
        }
        self.kept.push((score, index));
        if self.kept.len() >= 2 * self.k {
            self.cut();
        }
    }

    /// [`Best::offer`] for `scores[i]` at index `start + i`, every index above every index
    /// offered before (a job's blocks arrive in increasing order). Such an item ties with the
    /// bar only to lose, so a chunk of 16 scores none of which is above the bar's is skipped
    /// after one vectorised comparison; the selection is the one item-by-item offers make.
    #[inline]
    fn offer_ascending(&mut self, scores: &[T], start: usize) {
        debug_assert!(self.kept.iter().all(|&(_, i)| i < start));
        for (chunk, first) in scores.chunks(16).zip((start..).step_by(16)) {
            if let Some((bar, _)) = self.bar {
                // A fold, not `any`: without the early exit the compares vectorise.
                if !chunk.iter().fold(false, |above, &s| above | (s > bar)) {
                    continue;
                }
            }
            for (i, &s) in (first..).zip(chunk) {
                self.offer(s, i);
            }
        }
    }

    fn cut(&mut self) {
        keep_best(&mut self.kept, self.k);
        if self.kept.len() == self.k {
            // After `keep_best`, the k-th best sits at position k - 1.
            self.bar = self.kept.last().copied();
        }
    }

    fn merge(mut self, other: Self) -> Self {
        for (score, index) in other.kept {
            self.offer(score, index);
        }
        self
    }
}

/// What each parallel job carries: its selection, a scratch vector for one block of scores,
/// and the first error it met with the block it came from.
struct Job<T> {
    best: Best<T>,
    scores: Vec<T>,
    error: Option<(usize, KernelError)>,
    /// Blocks still to score without a bar ([`top_k_by_block_with_bar`]).
    barless: u32,
}

impl<T: Real> Job<T> {
    fn merge(mut self, other: Self) -> Self {
        self.error = match (self.error, other.error) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        if self.error.is_none() {
            self.best = self.best.merge(other.best);
        }
        self
    }
}

/// Rows `start..start + n` of `probs` as one contiguous slice, for the block scorers: borrowed
/// from a C-contiguous matrix, copied from any other layout, so that every layout gives the
/// same scores.
pub(crate) fn contiguous_rows<'a, T: Real>(
    probs: &ArrayView2<'a, T>,
    start: usize,
    n: usize,
) -> Cow<'a, [T]> {
    let rows = (*probs).slice_move(s![start..start + n, ..]);
    match rows.to_slice() {
        Some(x) => Cow::Borrowed(x),
        None => Cow::Owned(rows.iter().copied().collect()),
    }
}

/// Score every position `0..n` in parallel blocks of [`BLOCK`] and return the `k` best.
///
/// Every score, in blocks of [`BLOCK`] positions in parallel: `score_block(start, out)` as in
/// [`top_k_by_block`]; the error of the lowest position that cannot be scored is returned,
/// whatever the thread count (results are collected in block order).
pub(crate) fn scores_by_block<T, F>(n: usize, score_block: F) -> Result<ndarray::Array1<T>>
where
    T: num_traits::Zero + Copy + Send,
    F: Fn(usize, &mut [T]) -> Result<()> + Sync,
{
    use rayon::prelude::*;
    let mut out = vec![T::zero(); n];
    let results: Vec<Result<()>> = out
        .par_chunks_mut(BLOCK)
        .enumerate()
        .map(|(b, chunk)| score_block(b * BLOCK, chunk))
        .collect();
    results.into_iter().collect::<Result<()>>()?;
    Ok(ndarray::Array1::from(out))
}

/// `score_block(start, out)` writes the scores of positions `start..start + out.len()` into
/// `out`, or returns the error of the lowest position in that range that cannot be scored;
/// the error of the lowest such position overall is returned, whatever the thread count.
pub(crate) fn top_k_by_block<T, F>(n: usize, k: usize, score_block: F) -> Result<TopK<T>>
where
    T: Real,
    F: Fn(usize, &mut [T]) -> Result<()> + Sync,
{
    top_k_by_block_with_bar(n, k, |start, out: &mut [T], _: Bar<T>| {
        score_block(start, out).map(|()| out.len())
    })
}

/// What [`top_k_by_block_with_bar`] tells a block's scorer about the selection so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Bar<T> {
    /// Score every item exactly (ruling items out has not paid lately).
    Skip,
    /// No bar yet: this job has not kept `k` items past a cut of its selection, and no
    /// other job has published a bar.
    Unknown,
    /// A score that `k` items seen already beat or tie.
    Known(T),
}

/// Blocks in a row scored without a bar after one where a quarter or more of the rows had to
/// be scored exactly (see [`top_k_by_block_with_bar`]).
const BARLESS_BLOCKS: u32 = 8;

/// The largest bar any job has published, as the bits of an `f64` (`f64::NEG_INFINITY` at
/// first): every job's bar is beaten or tied by `k` items of the whole input, so the largest
/// is too, and any job may rule out items below it.
struct SharedBar(AtomicU64);

impl SharedBar {
    fn new() -> Self {
        Self(AtomicU64::new(f64::NEG_INFINITY.to_bits()))
    }

    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(AtomicOrdering::Relaxed))
    }

    fn raise(&self, bar: f64) {
        let mut seen = self.0.load(AtomicOrdering::Relaxed);
        while bar > f64::from_bits(seen) {
            match self.0.compare_exchange_weak(
                seen,
                bar.to_bits(),
                AtomicOrdering::Relaxed,
                AtomicOrdering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
    }
}

/// [`top_k_by_block`] for kernels that can skip work on items that cannot make the selection:
/// `score_block(start, out, bar)` gets [`Bar::Known`] with a score that `k` items already seen
/// (by this job or another) beat or tie, or [`Bar::Unknown`], and may write any score below
/// a bar (`-inf`, say) for an item whose score it has shown to be below it (a bar it finds
/// itself must be one that `k` items beat or tie too); such items can never be selected, so
/// the result is the one exact scores give. It returns how many items it scored exactly:
/// where that is a quarter of the block or more, the next [`BARLESS_BLOCKS`] blocks of the job
/// get [`Bar::Skip`] (ruling out costs more than it saves there).
pub(crate) fn top_k_by_block_with_bar<T, F>(n: usize, k: usize, score_block: F) -> Result<TopK<T>>
where
    T: Real,
    F: Fn(usize, &mut [T], Bar<T>) -> Result<usize> + Sync,
{
    check_k(k, n)?;
    let n_blocks = n.div_ceil(BLOCK);
    let shared = SharedBar::new();
    let new_job = || Job {
        best: Best::new(k),
        scores: Vec::new(),
        error: None,
        barless: 0,
    };
    let job = (0..n_blocks)
        .into_par_iter()
        .fold(new_job, |mut job, b| {
            // A job's blocks arrive in increasing order: after its first error, the rest
            // cannot hold a lower one.
            if job.error.is_none() {
                let start = b * BLOCK;
                let end = (start + BLOCK).min(n);
                job.scores.resize(end - start, T::zero());
                let bar = if job.barless > 0 {
                    job.barless -= 1;
                    Bar::Skip
                } else {
                    let own = job.best.bar.map(|(s, _)| s);
                    let other = T::from(shared.get()).filter(|s| s.is_finite());
                    match (own, other) {
                        (Some(a), Some(b)) => Bar::Known(if b > a { b } else { a }),
                        (Some(a), None) | (None, Some(a)) => Bar::Known(a),
                        (None, None) => Bar::Unknown,
                    }
                };
                match score_block(start, &mut job.scores, bar) {
                    Ok(exact) => {
                        if bar != Bar::Skip && 4 * exact >= job.scores.len() {
                            job.barless = BARLESS_BLOCKS;
                        }
                        job.best.offer_ascending(&job.scores, start);
                        if let Some((s, _)) = job.best.bar {
                            shared.raise(s.to_f64_lossless());
                        }
                    }
                    Err(e) => job.error = Some((b, e)),
                }
            }
            job
        })
        .reduce(new_job, Job::merge);
    if let Some((_, e)) = job.error {
        return Err(e);
    }
    let mut best = job.best.kept;
    keep_best(&mut best, k);
    best.sort_unstable_by(rank);
    Ok(TopK {
        indices: best.iter().map(|c| c.1).collect(),
        scores: best.iter().map(|c| c.0).collect(),
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

    #[test]
    fn first_error_is_the_lowest_whatever_the_threads() {
        let mut v = vec![0.5_f64; 9 * BLOCK];
        v[7 * BLOCK] = f64::NAN;
        v[3 * BLOCK + 5] = f64::NAN;
        v[8 * BLOCK + 1] = f64::NAN;
        let arr = Array1::from(v);
        for threads in 1..=4 {
            let err = crate::with_threads(threads, || top_k(arr.view(), 10))
                .unwrap()
                .unwrap_err();
            assert_eq!(
                err,
                KernelError::NanScore {
                    index: 3 * BLOCK + 5
                }
            );
        }
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

        /// Few distinct scores over several blocks and a small `k`: the bar is set early and
        /// most chunks of 16 tie with it or fall below it, which `offer_ascending` skips.
        #[test]
        fn ties_with_the_bar_match_stable_sort(
            scores in prop::collection::vec(0..4u8, 1..(3 * BLOCK + 100)),
            k in 1..40usize,
            threads in 1..3usize,
        ) {
            let k = k.min(scores.len());
            let wide: Vec<f64> = scores.iter().map(|&s| f64::from(s)).collect();
            let arr = Array1::from(wide.clone());
            let top = crate::with_threads(threads, || top_k(arr.view(), k)).unwrap().unwrap();
            prop_assert_eq!(top.indices, reference(&wide, k));
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
