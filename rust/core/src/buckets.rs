//! A monotone bucket queue of pool rows by their bound, for the lazy k-center greedy.
//!
//! Rows are grouped by their bound (an upper bound on the squared distance to the nearest
//! centre) into buckets between edges taken at quantiles of the bounds when the queue is built,
//! so that buckets start about equally full whatever the distribution. Bounds only fall, so
//! rows only move to lower buckets and the highest non-empty bucket only moves down: finding it
//! costs nothing amortised, and a whole bucket of rows can be brought up to date at once (in
//! parallel, with their pool rows fetched ahead), where a heap hands them out one at a time
//! after a sift each through a tree that, on large pools, does not fit in cache.
//!
//! Every bound in bucket `j` is at least every bound in the buckets below it (edges are
//! compared with `<=`), so once every row of the highest non-empty bucket is up to date, its
//! largest bound (lowest index among ties) is the largest of all.

use rayon::prelude::*;

/// A row in the queue: its bound, its squared norm (for the filter), its index, how many
/// picks it has been compared with, and whether its bound holds the exact distances to the
/// starting centres. Everything an update needs but the row itself is here, so that a
/// bucket's rows cost no lookups in row-ordered arrays (on large pools each one a miss in
/// cache; see `docs/kcenter.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Item {
    pub bound: f64,
    pub norm: f64,
    pub index: u32,
    pub seen: u32,
    /// Whether `bound` holds the row's exact distances to the starting centres (the k-center
    /// greedy's first pass only bounds them, and folds them in for a row that may be the next
    /// pick; `kcenter.rs`).
    pub folded: bool,
}

/// Most buckets a queue is built with (or a bucket is split into).
const MAX_BUCKETS: usize = 1 << 14;

/// A top bucket of more than this many times the rows a bucket aims at is split.
const SPLIT_AT: usize = 4;

/// Edges [`Buckets::bucket_of`] counts from its guess on, in one vector compare, before it
/// falls back to a binary search (the guess is usually within two or three edges).
const WINDOW: usize = 8;

/// Rows in buckets of their bound.
#[derive(Debug)]
pub(crate) struct Buckets {
    /// Ascending, distinct; a bound `b` belongs to bucket `#{e in edges: e <= b}`.
    edges: Vec<f64>,
    /// A lookup table from a linear scale over `[edges[0], edges[last]]` to a first guess
    /// of the bucket, which [`Self::bucket_of`] then checks (and corrects) against the edges.
    guess: Vec<u32>,
    /// The edges followed by [`WINDOW`] NaNs (which compare false with everything), so that
    /// any `WINDOW` consecutive entries from an edge on can be read at once.
    padded: Vec<f64>,
    lo: f64,
    scale: f64,
    lists: Vec<Vec<Item>>,
    /// No bucket above `top` holds a row.
    top: usize,
    per_bucket: usize,
    /// A top bucket whose bounds were too few distinct values to split.
    unsplittable: Option<usize>,
}

impl Buckets {
    /// Bucket the rows `i` with `bound[i] != skip` (squared norms `norms[i]`), all with the
    /// pick counter `seen` and the flag `folded`, aiming
    /// at `per_bucket` rows a bucket (edges from a strided sample of the bounds). Parallel over
    /// rows. Rows past `u32::MAX` are left out: callers check the pool size first.
    pub(crate) fn build(
        bound: &[f64],
        norms: &[f64],
        seen: u32,
        folded: bool,
        skip: f64,
        per_bucket: usize,
    ) -> Self {
        let live = bound.iter().filter(|&&b| b != skip).count();
        let n_buckets = (live / per_bucket.max(1)).clamp(1, MAX_BUCKETS);
        // Eight samples a bucket place the edges well enough (and sort in a blink).
        let stride = live.div_ceil(8 * n_buckets).max(1);
        let mut sample: Vec<f64> = bound
            .iter()
            .copied()
            .filter(|&b| b != skip)
            .step_by(stride)
            .collect();
        sample.sort_unstable_by(f64::total_cmp);
        let mut edges: Vec<f64> = (1..n_buckets)
            .filter_map(|q| sample.get(q * sample.len() / n_buckets).copied())
            .collect();
        edges.dedup();
        let mut queue = Self {
            edges,
            guess: Vec::new(),
            padded: Vec::new(),
            lo: 0.0,
            scale: 0.0,
            lists: Vec::new(),
            top: 0,
            per_bucket: per_bucket.max(1),
            unsplittable: None,
        };
        queue.index_edges();

        // Bucket of every row in parallel, then a counting sort into the buckets.
        const BLOCK: usize = 4096;
        let mut ids = vec![u32::MAX; bound.len()];
        ids.par_chunks_mut(BLOCK)
            .zip(bound.par_chunks(BLOCK))
            .for_each(|(ids, bs)| {
                for (id, &b) in ids.iter_mut().zip(bs) {
                    if b != skip {
                        *id = u32::try_from(queue.bucket_of(b)).unwrap_or(u32::MAX);
                    }
                }
            });
        let mut counts = vec![0usize; queue.edges.len() + 1];
        for &id in &ids {
            if let Some(c) = counts.get_mut(id as usize) {
                *c += 1;
            }
        }
        // Room for half as many again: rows move down into the buckets below the top as their
        // bounds fall, and a bucket that had to grow (a reallocation and a copy) cost about 6%
        // of a 100k x 64, k = 100 greedy (`docs/kcenter.md`).
        let mut lists: Vec<Vec<Item>> = counts
            .iter()
            .map(|&c| Vec::with_capacity(c + c / 2))
            .collect();
        for (i, (&id, (&b, &norm))) in ids.iter().zip(bound.iter().zip(norms)).enumerate() {
            if let (Some(list), Ok(index)) = (lists.get_mut(id as usize), u32::try_from(i)) {
                list.push(Item {
                    bound: b,
                    norm,
                    folded,
                    index,
                    seen,
                });
            }
        }
        queue.top = lists.len().saturating_sub(1);
        queue.lists = lists;
        queue
    }

    /// Fill the lookup table of [`Self::bucket_of`] for the current edges.
    fn index_edges(&mut self) {
        let edges = &self.edges;
        let (lo, hi) = match (edges.first(), edges.last()) {
            (Some(&lo), Some(&hi)) => (lo, hi),
            _ => (0.0, 0.0),
        };
        let cells = 4 * edges.len();
        let scale = if hi > lo && (hi - lo).is_finite() {
            cells as f64 / (hi - lo)
        } else {
            0.0
        };
        // guess[c]: the bucket of the cell's lower end `lo + c / scale` (a merge).
        self.guess.clear();
        let mut j = 0;
        for c in 0..=cells {
            let x = if scale > 0.0 {
                lo + c as f64 / scale
            } else {
                lo
            };
            while edges.get(j).is_some_and(|&e| e <= x) {
                j += 1;
            }
            self.guess.push(u32::try_from(j).unwrap_or(u32::MAX));
        }
        self.padded.clear();
        self.padded.extend_from_slice(edges);
        self.padded.extend([f64::NAN; WINDOW]);
        self.lo = lo;
        self.scale = scale;
    }

    /// The bucket of bound `b`: exactly `#{e in edges: e <= b}`; the table makes it a few
    /// loads instead of a binary search.
    #[inline]
    pub(crate) fn bucket_of(&self, b: f64) -> usize {
        let e = &self.edges;
        if self.scale > 0.0 {
            let c = ((b - self.lo) * self.scale).max(0.0) as usize; // NaN -> 0, saturating
            let c = c.min(self.guess.len().saturating_sub(2));
            if let Some(&g0) = self.guess.get(c) {
                // Rounding may put b one cell off: start one edge lower. The edges are sorted,
                // so those of the window at or below b are the first `j - lo`, counted without
                // a branch per edge; then check the count.
                let lo = (g0 as usize).saturating_sub(1);
                if let Some(Ok(window)) = self
                    .padded
                    .get(lo..lo + WINDOW)
                    .map(<&[f64; WINDOW]>::try_from)
                {
                    let j = lo + window.iter().map(|&x| usize::from(x <= b)).sum::<usize>();
                    let below_ok = j == 0 || e.get(j - 1).is_some_and(|&x| x <= b);
                    let above_ok = e.get(j).is_none_or(|&x| x > b);
                    if below_ok && above_ok {
                        return j;
                    }
                }
            }
        }
        e.partition_point(|&x| x <= b)
    }

    /// Take the highest non-empty bucket's rows (its index and rows), leaving it empty. A
    /// bucket that has filled up with rows moved down from above (bounds fall, and often
    /// pile up where the first bounds were sparse) is split first, so that a step brings up
    /// to date about `per_bucket` rows, not every row that has ever fallen into its range.
    pub(crate) fn take_top(&mut self) -> Option<(usize, Vec<Item>)> {
        loop {
            let len = self.lists.get(self.top)?.len();
            if len == 0 {
                self.top = self.top.checked_sub(1)?;
                continue;
            }
            if len > SPLIT_AT * self.per_bucket
                && self.unsplittable != Some(self.top)
                && !self.split_top()
            {
                self.unsplittable = Some(self.top);
            }
            let list = self.lists.get_mut(self.top)?;
            if !list.is_empty() {
                return Some((self.top, std::mem::take(list)));
            }
        }
    }

    /// Split the top bucket at quantiles of its bounds into buckets of about `per_bucket`
    /// rows, dropping the (empty) buckets above it; `false`, changing nothing, when its bounds
    /// are too few distinct values to split.
    fn split_top(&mut self) -> bool {
        let j = self.top;
        let Some(rows) = self.lists.get_mut(j).map(std::mem::take) else {
            return false;
        };
        let n_new = (rows.len() / self.per_bucket).clamp(1, MAX_BUCKETS);
        let stride = rows.len().div_ceil(8 * n_new).max(1);
        let mut sample: Vec<f64> = rows.iter().step_by(stride).map(|r| r.bound).collect();
        sample.sort_unstable_by(f64::total_cmp);
        // New edges strictly inside the bucket's range (its rows are at least its lower edge).
        let floor = j.checked_sub(1).and_then(|e| self.edges.get(e)).copied();
        let mut new: Vec<f64> = (1..n_new)
            .filter_map(|q| sample.get(q * sample.len() / n_new).copied())
            .filter(|&e| floor.is_none_or(|f| e > f))
            .collect();
        new.dedup();
        if new.is_empty() {
            if let Some(list) = self.lists.get_mut(j) {
                *list = rows;
            }
            return false;
        }
        self.edges.truncate(j);
        self.edges.extend(new);
        self.lists.truncate(j);
        self.lists.resize(self.edges.len() + 1, Vec::new());
        self.index_edges();
        for r in rows {
            let b = self.bucket_of(r.bound);
            if let Some(list) = self.lists.get_mut(b) {
                list.push(r);
            }
        }
        self.top = self.lists.len() - 1;
        self.unsplittable = None;
        true
    }

    /// The smallest bound bucket `j` holds (`-inf` for the lowest bucket): a row whose bound
    /// falls below it moves to a lower bucket.
    pub(crate) fn lower_edge(&self, j: usize) -> f64 {
        j.checked_sub(1)
            .and_then(|e| self.edges.get(e))
            .copied()
            .unwrap_or(f64::NEG_INFINITY)
    }

    /// Give bucket `j` its rows back (after [`Self::take_top`]); `rows` replaces them.
    pub(crate) fn put_back(&mut self, j: usize, rows: Vec<Item>) {
        if let Some(list) = self.lists.get_mut(j) {
            *list = rows;
        }
    }

    /// Add a row to bucket `j`, which is never above the top (bounds only fall).
    pub(crate) fn push(&mut self, j: usize, item: Item) {
        debug_assert!(j <= self.top, "a bound rose");
        if let Some(list) = self.lists.get_mut(j.min(self.top)) {
            list.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every kept row lands in exactly one bucket, buckets are ordered by bound, and
        /// `take_top` visits them from the highest down.
        #[test]
        fn buckets_partition_rows_in_bound_order(
            bounds in prop::collection::vec(prop_oneof![
                Just(1.0f64), Just(f64::NEG_INFINITY), Just(f64::INFINITY), Just(0.0),
                0.0..4.0f64, 1e300..f64::MAX,
            ], 0..300),
            per in 1..20usize,
        ) {
            let norms: Vec<f64> = (0..bounds.len()).map(|i| i as f64 * 0.5).collect();
            let folded = per % 2 == 0;
            let mut q = Buckets::build(&bounds, &norms, 3, folded, f64::NEG_INFINITY, per);
            let mut got = vec![];
            let mut last_low = f64::INFINITY;
            while let Some((j, rows)) = q.take_top() {
                let hi = rows.iter().map(|r| r.bound).fold(f64::NEG_INFINITY, f64::max);
                let lo = rows.iter().map(|r| r.bound).fold(f64::INFINITY, f64::min);
                prop_assert!(got.is_empty() || hi < last_low);
                for r in &rows {
                    prop_assert_eq!(r.bound, bounds[r.index as usize]);
                    prop_assert_eq!(r.seen, 3);
                    prop_assert_eq!(r.norm, norms[r.index as usize]);
                    prop_assert_eq!(r.folded, folded);
                    prop_assert_eq!(q.bucket_of(r.bound), j);
                }
                last_low = lo;
                got.extend(rows.iter().map(|r| r.index));
            }
            got.sort_unstable();
            let want: Vec<u32> = (0..bounds.len() as u32)
                .filter(|&i| bounds[i as usize] != f64::NEG_INFINITY)
                .collect();
            prop_assert_eq!(got, want);
        }

        /// The table lookup agrees with a plain count of the edges at or below `b`.
        #[test]
        fn bucket_of_counts_edges(
            mut edges in prop::collection::vec(prop_oneof![-1e3..1e3f64, 0.0..1e-9f64, Just(5.0)], 0..200),
            probes in prop::collection::vec(prop_oneof![
                -2e3..2e3f64, Just(5.0), Just(f64::INFINITY), Just(f64::NEG_INFINITY),
                Just(f64::NAN), Just(0.0),
            ], 1..50),
        ) {
            edges.sort_unstable_by(f64::total_cmp);
            edges.dedup();
            let mut q = Buckets::build(&[], &[], 0, false, 0.0, 1);
            q.edges = edges.clone();
            q.index_edges();
            for &b in &probes {
                let want = edges.iter().filter(|&&e| e <= b).count();
                prop_assert_eq!(q.bucket_of(b), want, "b = {}", b);
            }
        }
    }
}
