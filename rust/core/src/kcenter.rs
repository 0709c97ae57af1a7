//! Exact k-center greedy (farthest-first traversal; Gonzalez 1985, Sener & Savarese 2018).
//!
//! Each pick is the pool row farthest from its nearest centre (labelled rows and earlier
//! picks), ties by the lowest index. The selections are those of the plain eager greedy
//! that keeps one min-distance vector and updates all of it after every pick, with squared
//! distances from [`crate::distance`] (bit-identical to NumPy's `((X - c) ** 2).sum(axis=1)` in
//! `f64`), but far fewer distances are evaluated:
//!
//! * Lazy updates. A row's stored squared distance is an upper bound on its distance to the
//!   current centres: it is exact for the centres the row has been compared with, and later
//!   centres can only lower it. Rows sit in a 4-ary max-heap ordered by (bound, lower index
//!   first), see [`crate::maxheap`].
//!   Only the row at the top is brought up to date, against the centres added since its last
//!   update; when the top is up to date its bound is exact and no other row can beat it (their
//!   true values are at most their bounds), so it is the exact argmax with the eager greedy's
//!   tie-break.
//! * Triangle inequality. When row `x` with nearest centre `a` at distance `u` is compared with
//!   a later centre `c`, `d(x, c) >= d(a, c) - u >= D_c - u`, where `D_c` is `c`'s own distance
//!   to its nearest earlier centre when it was picked. If `D_c >= 2u` (with a safety margin far
//!   above rounding), `c` cannot bring `x` below `u`, and is skipped without evaluating it.
//!   This costs nothing to store: `D_c` is the distance the kernel returns for each pick.
//! * A filter in front of the exact distances. A row is compared with the picks through
//!   their dot products, `d` vector multiply-adds for 16 picks at once over a transposed copy
//!   of the picks' coordinates (no horizontal sums), giving `|x|^2 + |c|^2 - 2 x.c` with a
//!   proven bound on its rounding ([`crate::distance`]'s `Filter`). A pick whose estimate is
//!   at least the row's current distance plus that slack cannot lower it; only the others
//!   (mostly the one that does lower it) are computed exactly, in `f64` in NumPy's order. The
//!   first pass over the labelled centres uses the same filter.
//! * Early refreshes. After 8, 16 and 32 picks (when at least as many again are to come), every
//!   row is brought up to date at once, in parallel and in row order (the bounds are also kept
//!   in a row-ordered vector, so no sort is needed), and the heap is rebuilt: early on nearly
//!   every row needs that update anyway, and a streaming pass on every core does it far
//!   cheaper than one row at a time off the heap (refreshing more often measured slower).
//!
//! Memory is linear in the pool: a heap entry, a bound, a norm and a counter per row, and the
//! transposed picks (`k d` values).

use crate::cancel::Cancel;
use crate::distance::{
    best_isa, check_finite, check_same_width, filtered_update, row, sq_norm, Filter,
};
use crate::error::{KernelError, Result};
use crate::maxheap::{Entry, MaxHeap};
use crate::real::Real;
use crate::topk::check_k;
use ndarray::ArrayView2;
use rayon::prelude::*;

/// `D_c^2 >= 4 u^2 * PRUNE_MARGIN` skips centre `c`. The margin covers the relative rounding
/// of the computed distances (at most a few times `d * 2^-53`) many times over.
const PRUNE_MARGIN: f64 = 1.0 + 1e-6;

/// Ask for the cache lines of `r` ahead of use (a hint; it never faults).
#[inline]
fn prefetch<T>(r: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let base = r.as_ptr().cast::<i8>();
        for off in (0..std::mem::size_of_val(r)).step_by(64) {
            // SAFETY: the address lies inside `r`; prefetching never faults.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// Pick counts after which every row is brought up to date at once (when at least as many
/// picks again are to come). Early on nearly every row needs its update anyway; a pass in
/// row order on every thread does them far cheaper than one at a time off the heap.
const REFRESH_AT: [usize; 3] = [8, 16, 32];

/// A picked row's entry in `bound`: it never enters the heap again.
const PICKED: f64 = f64::NEG_INFINITY;

/// The heap of every row not yet picked, from `bound` (row order).
fn heap_of(bound: &[f64]) -> MaxHeap {
    MaxHeap::from_vec(
        bound
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b != PICKED)
            .map(|(index, &bound)| Entry { bound, index })
            .collect(),
    )
}

/// Bring every row not yet picked up to date against all `picks`, in parallel and in row
/// order, and rebuild the heap from the new bounds.
#[allow(clippy::too_many_arguments)]
fn refresh<T: Real>(
    isa: crate::isa::Isa,
    bound: &mut [f64],
    xs: &[T],
    d: usize,
    seen: &[u32],
    picks: &[usize],
    prune: &[f64],
    norms: &[f64],
    filter: &Filter<T>,
    evaluations: &mut u64,
) -> MaxHeap {
    const BLOCK: usize = 1024;
    *evaluations += bound
        .par_chunks_mut(BLOCK)
        .enumerate()
        .map(|(b, blk)| {
            let mut evals = 0;
            for (r, v) in blk.iter_mut().enumerate() {
                let i = b * BLOCK + r;
                if *v == PICKED {
                    continue;
                }
                let from = seen.get(i).map_or(picks.len(), |&s| s as usize);
                let (u, e) = filtered_update(
                    isa,
                    row(xs, d, i),
                    norms.get(i).copied().unwrap_or(f64::NAN),
                    from,
                    picks,
                    prune,
                    filter,
                    xs,
                    d,
                    PRUNE_MARGIN,
                    *v,
                );
                *v = u;
                evals += e;
            }
            evals
        })
        .sum::<u64>();
    heap_of(bound)
}

/// Fill `norms` and `bound` for every row of `xs` in parallel: `each(row, |row|^2)` returns
/// the row's squared norm, its squared distance to the nearest starting centre and the
/// distances it evaluated (summed and returned).
fn first_pass<T: Real>(
    xs: &[T],
    d: usize,
    norms: &mut [f64],
    bound: &mut [f64],
    cancel: &Cancel,
    each: impl Fn(&[T], f64) -> (f64, f64, u64) + Sync,
) -> Result<u64> {
    const BLOCK: usize = 1024;
    let evals = norms
        .par_chunks_mut(BLOCK)
        .zip(bound.par_chunks_mut(BLOCK))
        .enumerate()
        .map(|(b, (nb, ub))| {
            cancel.check()?;
            let mut evals = 0;
            for (r, (nv, uv)) in nb.iter_mut().zip(ub.iter_mut()).enumerate() {
                let x = row(xs, d, b * BLOCK + r);
                let (nx, u, e) = each(x, sq_norm(x));
                *nv = nx;
                *uv = u;
                evals += e;
            }
            Ok(evals)
        })
        .collect::<Result<Vec<u64>>>()?;
    Ok(evals.iter().sum())
}

/// The picks of [`kcenter_greedy`].
#[derive(Debug, Clone, PartialEq)]
pub struct KCenter {
    /// Pool rows in pick order.
    pub indices: Vec<usize>,
    /// For each pick, its Euclidean distance to the nearest centre when it was picked (the
    /// max-min distance); `+inf` for a cold-start first pick. Never increases.
    pub distances: Vec<f64>,
    /// Number of point-to-centre distances evaluated (the eager greedy evaluates `n` per
    /// centre).
    pub evaluations: u64,
}

/// Farthest-first traversal of `pool` (n, d) starting from `centers` (m, d), `k` picks.
///
/// With `m == 0` the traversal starts at `first` (the caller's seeded random choice), which is
/// the first pick and is reported at distance `+inf`; with `m > 0`, `first` must be `None`.
/// Rows of `centers` are not pool rows: `k` may be any of `1..=n`. Duplicated rows are picked
/// once their copies are exhausted, at distance 0, lowest index first.
///
/// Checks `cancel` before each heap step and between blocks of the first pass.
///
/// # Errors
/// [`KernelError::InvalidK`], [`KernelError::WidthMismatch`], [`KernelError::MissingFirst`],
/// [`KernelError::FirstWithCentres`], [`KernelError::InvalidFirst`],
/// [`KernelError::NonFinite`] naming the first bad row of `X_pool` or `X_centers`,
/// [`KernelError::Cancelled`].
///
/// # Examples
/// ```
/// use activekit_core::{kcenter_greedy, Cancel};
/// use ndarray::{array, Array2};
/// let pool = array![[0.0_f64], [1.0], [5.0], [9.0], [10.0]];
/// let none = Array2::<f64>::zeros((0, 1));
/// let picks = kcenter_greedy(pool.view(), none.view(), 3, Some(0), &Cancel::new()).unwrap();
/// assert_eq!(picks.indices, vec![0, 4, 2]);
/// assert_eq!(picks.distances, vec![f64::INFINITY, 10.0, 5.0]);
/// ```
pub fn kcenter_greedy<T: Real>(
    pool: ArrayView2<T>,
    centers: ArrayView2<T>,
    k: usize,
    first: Option<usize>,
    cancel: &Cancel,
) -> Result<KCenter> {
    let (n, d) = pool.dim();
    let m = centers.nrows();
    check_k(k, n)?;
    check_same_width(pool, "X_pool", centers, "X_centers")?;
    match (m, first) {
        (0, None) => return Err(KernelError::MissingFirst),
        (0, Some(f)) if f >= n => return Err(KernelError::InvalidFirst { first: f, n }),
        (m, Some(_)) if m > 0 => return Err(KernelError::FirstWithCentres { m }),
        _ => {}
    }
    check_finite(pool, "X_pool")?;
    check_finite(centers, "X_centers")?;

    let pool = pool.as_standard_layout();
    let centers = centers.as_standard_layout();
    let (xs, cs) = match (pool.as_slice(), centers.as_slice()) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!("standard layout is contiguous"),
    };

    let mut picks = KCenter {
        indices: Vec::with_capacity(k),
        distances: Vec::with_capacity(k),
        evaluations: 0,
    };
    // `prune[j]`: the squared pick distance of pick j, for the triangle-inequality test
    // (0, which prunes nothing, for a cold start's first pick).
    let mut prune: Vec<f64> = Vec::with_capacity(k);

    // First pass, parallel over pool rows: each row's squared norm (for the filter) and its
    // exact squared distance to the nearest starting centre.
    let mut norms = vec![0.0_f64; n];
    let mut bound = vec![f64::INFINITY; n];
    let mut filter = Filter::new(d);
    let isa = best_isa();
    let seen_init: u32 = match first {
        Some(f) => {
            let start = row(xs, d, f);
            let nf = sq_norm(start);
            first_pass(xs, d, &mut norms, &mut bound, cancel, |x, nx| {
                (nx, crate::distance::sq_dist_isa(isa, x, start), 1)
            })?;
            picks.evaluations += n as u64;
            picks.indices.push(f);
            picks.distances.push(f64::INFINITY);
            prune.push(0.0);
            filter.push(start, nf);
            1
        }
        None => {
            let mut labelled = Filter::new(d);
            for j in 0..m {
                labelled.push(row(cs, d, j), sq_norm(row(cs, d, j)));
            }
            let order: Vec<usize> = (0..m).collect();
            let zeros = vec![0.0; m];
            let evals = first_pass(xs, d, &mut norms, &mut bound, cancel, |x, nx| {
                let (u, e) = filtered_update(
                    isa,
                    x,
                    nx,
                    0,
                    &order,
                    &zeros,
                    &labelled,
                    cs,
                    d,
                    PRUNE_MARGIN,
                    f64::INFINITY,
                );
                (nx, u, e)
            })?;
            picks.evaluations += evals;
            0
        }
    };
    // `seen[i]`: how many picks row i has been compared with (the labelled centres always).
    let mut seen = vec![seen_init; n];
    if let Some(slot) = first.and_then(|f| bound.get_mut(f)) {
        *slot = PICKED;
    }
    let mut heap = heap_of(&bound);

    while picks.indices.len() < k {
        cancel.check()?;
        let n_picked = picks.indices.len();
        let Some(&top) = heap.top() else {
            // k <= n and each pick leaves the heap once: unreachable, but not worth a panic.
            break;
        };
        let i = top.index;
        // The row that comes to the top next is likely the root's largest child: ask for its
        // cache lines now, so that they arrive while this step works.
        if let Some(next) = heap.runner_up() {
            prefetch(row(xs, d, next.index));
        }
        let Some(seen_i) = seen.get_mut(i) else { break };
        if *seen_i as usize == n_picked {
            heap.pop();
            picks.indices.push(i);
            picks.distances.push(top.bound.sqrt());
            prune.push(top.bound);
            filter.push(row(xs, d, i), norms.get(i).copied().unwrap_or(f64::NAN));
            if let Some(slot) = bound.get_mut(i) {
                *slot = PICKED;
            }
            let n_picked = picks.indices.len();
            if REFRESH_AT.contains(&n_picked) && k >= 2 * n_picked {
                heap = refresh(
                    isa,
                    &mut bound,
                    xs,
                    d,
                    &seen,
                    &picks.indices,
                    &prune,
                    &norms,
                    &filter,
                    &mut picks.evaluations,
                );
                seen.fill(n_picked as u32);
            }
            continue;
        }
        // Bring row i up to date against picks seen[i].., then let it sink to its place.
        let from = *seen_i as usize;
        let (u, evaluations) = filtered_update(
            isa,
            row(xs, d, i),
            norms.get(i).copied().unwrap_or(f64::NAN),
            from,
            &picks.indices,
            &prune,
            &filter,
            xs,
            d,
            PRUNE_MARGIN,
            top.bound,
        );
        picks.evaluations += evaluations;
        *seen_i = n_picked as u32;
        if let Some(slot) = bound.get_mut(i) {
            *slot = u;
        }
        heap.lower_top(u);
    }
    Ok(picks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distance::sq_dist;
    use ndarray::Array2;
    use proptest::prelude::*;

    /// The plain eager greedy: one min-distance vector updated after every pick.
    fn eager(
        pool: &Array2<f64>,
        centers: &Array2<f64>,
        k: usize,
        first: Option<usize>,
    ) -> (Vec<usize>, Vec<f64>) {
        let n = pool.nrows();
        let dist = |a: usize, c: &[f64]| sq_dist(pool.row(a).as_slice().unwrap(), c);
        let mut min = vec![f64::INFINITY; n];
        for j in 0..centers.nrows() {
            for (i, v) in min.iter_mut().enumerate() {
                *v = v.min(dist(i, centers.row(j).as_slice().unwrap()));
            }
        }
        let mut taken = vec![false; n];
        let (mut idx, mut out) = (vec![], vec![]);
        let mut next = first;
        while idx.len() < k {
            let pick = next.take().unwrap_or_else(|| {
                let mut best = None::<usize>;
                for i in 0..n {
                    if !taken[i] && best.is_none_or(|b| min[i] > min[b]) {
                        best = Some(i);
                    }
                }
                best.unwrap()
            });
            taken[pick] = true;
            idx.push(pick);
            out.push(min[pick].sqrt());
            let c = pool.row(pick).to_vec();
            for (i, v) in min.iter_mut().enumerate() {
                *v = v.min(dist(i, &c));
            }
        }
        (idx, out)
    }

    #[test]
    fn duplicates_and_k_above_distinct_rows() {
        let pool = Array2::from_shape_fn((6, 2), |(i, _)| (i % 2) as f64);
        let none = Array2::<f64>::zeros((0, 2));
        let got = kcenter_greedy(pool.view(), none.view(), 6, Some(3), &Cancel::new()).unwrap();
        assert_eq!(got.indices, vec![3, 0, 1, 2, 4, 5]);
        assert_eq!(got.distances[1], 2.0_f64.sqrt());
        assert!(got.distances[2..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn errors() {
        let pool = Array2::<f32>::zeros((3, 2));
        let none = Array2::<f32>::zeros((0, 2));
        let one = Array2::<f32>::zeros((1, 2));
        let c = Cancel::new();
        let run = |p: &Array2<f32>, m: &Array2<f32>, k, f| {
            kcenter_greedy(p.view(), m.view(), k, f, &c).unwrap_err()
        };
        assert_eq!(
            run(&pool, &none, 4, Some(0)),
            KernelError::InvalidK { k: 4, n: 3 }
        );
        assert_eq!(run(&pool, &none, 1, None), KernelError::MissingFirst);
        assert_eq!(
            run(&pool, &none, 1, Some(3)),
            KernelError::InvalidFirst { first: 3, n: 3 }
        );
        assert_eq!(
            run(&pool, &one, 1, Some(0)),
            KernelError::FirstWithCentres { m: 1 }
        );
        let mut bad = one.clone();
        bad[[0, 1]] = f32::NAN;
        assert_eq!(
            run(&pool, &bad, 1, None),
            KernelError::NonFinite {
                what: "X_centers",
                row: 0
            }
        );
        let c2 = Cancel::new();
        c2.cancel();
        assert_eq!(
            kcenter_greedy(pool.view(), one.view(), 1, None, &c2).unwrap_err(),
            KernelError::Cancelled
        );
    }

    proptest! {
        #[test]
        fn matches_eager_greedy(
            n in 1..120usize, m in 0..5usize, d in 1..6usize,
            vals in prop::collection::vec(prop_oneof![(-3i8..4).prop_map(f64::from), -1.0..1.0f64], 1..400),
            k_frac in 0.0..1.0f64, first_frac in 0.0..1.0f64, threads in 1..4usize,
        ) {
            let pool = Array2::from_shape_fn((n, d), |(i, j)| vals[(i * d + j) % vals.len()]);
            let centers = Array2::from_shape_fn((m, d), |(i, j)| vals[(5 + 3 * i + j) % vals.len()] + 0.5);
            let k = 1 + ((n - 1) as f64 * k_frac) as usize;
            let first = (m == 0).then(|| ((n - 1) as f64 * first_frac) as usize);
            let got = crate::with_threads(threads, || {
                kcenter_greedy(pool.view(), centers.view(), k, first, &Cancel::new())
            }).unwrap().unwrap();
            let (idx, dist) = eager(&pool, &centers, k, first);
            prop_assert_eq!(&got.indices, &idx);
            prop_assert_eq!(&got.distances, &dist);
            prop_assert!(got.evaluations <= (n as u64) * ((m + k) as u64));
            prop_assert!(got.distances.windows(2).all(|w| w[1] <= w[0]));
        }

        /// f32 pools far from the origin, with small spreads: the filter's estimate
        /// `|x|^2 + |c|^2 - 2 x.c` cancels catastrophically there, so only its slack keeps
        /// the picks exact.
        #[test]
        fn matches_eager_greedy_in_f32_near_cancellation(
            n in 1..150usize, m in 0..4usize, d in 1..40usize,
            offset in prop_oneof![Just(0.0f32), Just(1e3f32), Just(-3e4f32), 1e5f32..1e6f32],
            scale in prop_oneof![Just(1e-3f32), Just(1.0f32), 1e-4f32..10.0f32],
            vals in prop::collection::vec(-3i8..4, 1..300),
            noise in prop::collection::vec(-1.0f32..1.0, 1..97),
            k_frac in 0.0..1.0f64, first_frac in 0.0..1.0f64,
        ) {
            let at = |i: usize, j: usize| {
                offset + scale * (f32::from(vals[(i * d + j) % vals.len()])
                    + noise[(i * 7 + j) % noise.len()])
            };
            let pool = Array2::from_shape_fn((n, d), |(i, j)| at(i, j));
            let centers = Array2::from_shape_fn((m, d), |(i, j)| at(n + 3 * i, j));
            let k = 1 + ((n - 1) as f64 * k_frac) as usize;
            let first = (m == 0).then(|| ((n - 1) as f64 * first_frac) as usize);
            let got = kcenter_greedy(pool.view(), centers.view(), k, first, &Cancel::new())
                .unwrap();
            let (idx, dist) = eager(&pool.mapv(f64::from), &centers.mapv(f64::from), k, first);
            prop_assert_eq!(&got.indices, &idx);
            prop_assert_eq!(&got.distances, &dist);
        }
    }
}
