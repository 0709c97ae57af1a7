//! Every public kernel, on arbitrary input, returns `Ok` or `Err` and never panics.
//!
//! A stand-in for `cargo fuzz` (which needs a nightly toolchain): proptest draws shapes with
//! empty sides, values that are NaN, +-inf, huge (their squares overflow), subnormal or -0.0
//! mixed with small integers (so that ties and duplicates are common), arbitrary `k`,
//! `first`, tolerances, seeds and thread counts, and standard, transposed (Fortran) and
//! reversed (negative stride) layouts, in f32 and f64. A panic fails the test; an `Ok` must
//! also hold what the kernels promise about indices (in range, distinct where selected).
//!
//! `PROPTEST_CASES=100000 cargo test --release -p activekit-core --test no_panic` runs a
//! longer search.

use activekit_core::{
    committee_scores, committee_top_k, kcenter_greedy, kmeans_plusplus, kmeans_plusplus_outer, knn,
    knn_density, knn_query, mean_cosine_similarity, min_distances, multilabel_scores,
    multilabel_top_k, top_k, uncertainty_scores, uncertainty_top_k, vote_scores, vote_top_k,
    with_threads, Cancel, Disagreement, Metric, Multilabel, Uncertainty, VoteMeasure,
};
use ndarray::{Array1, Array2, Array3, ArrayView2, Axis};
use proptest::prelude::*;
use std::collections::HashSet;

/// Values a kernel may meet: mostly small integers and simple fractions, sometimes special.
fn value() -> BoxedStrategy<f64> {
    prop_oneof![
        6 => (-2i8..=2).prop_map(f64::from),
        2 => prop::sample::select(vec![0.5, 0.25, 1.0 / 3.0, 1e-3]),
        1 => prop::sample::select(vec![
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 5e-324, 1e-310, 1e-45, 1e-38,
            1e19, 1e38, 3.4e38, 1e154, 1e200, f64::MAX, f64::MIN, f64::EPSILON,
        ]),
        1 => any::<f64>(),
    ]
    .boxed()
}

/// Probability-like values: a row of these is often a valid distribution.
fn probability() -> BoxedStrategy<f64> {
    prop_oneof![
        8 => prop::sample::select(vec![0.0, 0.25, 0.5, 1.0, 1.0 / 3.0, 0.1, 0.9]),
        1 => value(),
    ]
    .boxed()
}

/// How a matrix is laid out in memory.
#[derive(Debug, Clone, Copy)]
enum Layout {
    Standard,
    Fortran,
    Reversed,
}

fn layout() -> impl Strategy<Value = Layout> {
    prop::sample::select(vec![Layout::Standard, Layout::Fortran, Layout::Reversed])
}

fn matrix(
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    values: BoxedStrategy<f64>,
) -> impl Strategy<Value = Array2<f64>> {
    (rows, cols).prop_flat_map(move |(n, d)| {
        prop::collection::vec(values.clone(), n * d).prop_map(move |v| {
            Array2::from_shape_vec((n, d), v).unwrap_or_else(|_| Array2::zeros((n, d)))
        })
    })
}

/// Probability rows, normalised to sum to one (one time in seven left as drawn).
fn probabilities(
    n: std::ops::Range<usize>,
    c: std::ops::Range<usize>,
) -> impl Strategy<Value = Array2<f64>> {
    let raw = prop_oneof![6 => Just(false), 1 => Just(true)];
    (matrix(n, c, probability()), raw).prop_map(|(mut p, raw)| {
        if !raw {
            for mut row in p.rows_mut() {
                let s: f64 = row.sum();
                if s.is_finite() && s > 0.0 {
                    row /= s;
                }
            }
        }
        p
    })
}

/// `a` with the given layout; the values are the same.
fn laid_out<T: Clone>(a: &Array2<T>, layout: Layout) -> Array2<T> {
    match layout {
        Layout::Standard => a.clone(),
        // The transpose of a C-ordered transpose: the same values in column-major order.
        Layout::Fortran => a.t().as_standard_layout().into_owned().reversed_axes(),
        Layout::Reversed => {
            let mut r = a.clone();
            r.invert_axis(Axis(0));
            r
        }
    }
}

fn to_f32(a: &Array2<f64>) -> Array2<f32> {
    a.mapv(|v| v as f32)
}

fn k_value() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0..10usize, 1 => Just(usize::MAX), 1 => any::<usize>()]
}

/// A `k` that is valid for `n` rows most of the time, anything now and then.
fn k_for(n: usize) -> BoxedStrategy<usize> {
    prop_oneof![4 => 1..=n.max(1), 1 => k_value()].boxed()
}

/// A matrix of exactly `n` rows and `d` columns.
fn sized(n: usize, d: usize, values: BoxedStrategy<f64>) -> impl Strategy<Value = Array2<f64>> {
    matrix(n..n + 1, d..d + 1, values)
}

fn tol() -> impl Strategy<Value = f64> {
    prop_oneof![6 => Just(1e-6), 2 => Just(1e-4), 1 => Just(0.0), 1 => value()]
}

fn threads() -> impl Strategy<Value = usize> {
    prop_oneof![0..4usize, Just(usize::MAX), Just(1 << 40)]
}

/// The plain eager k-center greedy in `f64` (a squared distance that overflows is `inf`, which
/// ties with `inf`: the lowest index wins, as among any equal values). Sums in order from 0,
/// as the kernel (and NumPy) do for rows of fewer than 8 columns, the only ones drawn here.
fn eager_kcenter(
    x: &Array2<f64>,
    c: &Array2<f64>,
    k: usize,
    first: Option<usize>,
) -> (Vec<usize>, Vec<f64>) {
    assert!(x.ncols() < 8);
    let sq = |a: ndarray::ArrayView1<f64>, b: ndarray::ArrayView1<f64>| {
        a.iter().zip(b).fold(0.0, |s, (p, q)| s + (p - q) * (p - q))
    };
    let n = x.nrows();
    let mut min = vec![f64::INFINITY; n];
    for centre in c.rows() {
        for (v, r) in min.iter_mut().zip(x.rows()) {
            *v = v.min(sq(r, centre));
        }
    }
    let mut taken = vec![false; n];
    let (mut idx, mut dist) = (vec![], vec![]);
    let mut next = first;
    while idx.len() < k {
        let pick = next.take().unwrap_or_else(|| {
            (0..n)
                .filter(|&i| !taken[i])
                .fold(None, |b: Option<usize>, i| match b {
                    Some(b) if min[i] <= min[b] => Some(b),
                    _ => Some(i),
                })
                .unwrap_or(0)
        });
        taken[pick] = true;
        idx.push(pick);
        dist.push(min[pick].sqrt());
        let p = x.row(pick);
        for (v, r) in min.iter_mut().zip(x.rows()) {
            *v = v.min(sq(r, p));
        }
    }
    (idx, dist)
}

fn check_selection(indices: &[usize], n: usize, k: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(indices.len(), k);
    prop_assert!(
        indices.iter().all(|&i| i < n),
        "index out of 0..{}: {:?}",
        n,
        indices
    );
    let distinct: HashSet<_> = indices.iter().collect();
    prop_assert_eq!(distinct.len(), k, "repeated index in {:?}", indices);
    Ok(())
}

const UNCERTAINTY: [Uncertainty; 3] = [
    Uncertainty::LeastConfident,
    Uncertainty::Margin,
    Uncertainty::Entropy,
];
const METRICS: [Metric; 2] = [Metric::Euclidean, Metric::Cosine];

fn run_uncertainty<T: activekit_core::Real>(
    p: ArrayView2<T>,
    k: usize,
    tol: T,
) -> Result<(), TestCaseError> {
    for kind in UNCERTAINTY {
        if let Ok(s) = uncertainty_scores(p, kind, tol) {
            prop_assert_eq!(s.len(), p.nrows());
        }
        if let Ok(top) = uncertainty_top_k(p, kind, k, tol) {
            check_selection(&top.indices, p.nrows(), k)?;
        }
    }
    Ok(())
}

const MULTILABEL: [Multilabel; 5] = [
    Multilabel::MeanEntropy,
    Multilabel::MaxEntropy,
    Multilabel::BinaryMinimization,
    Multilabel::MaxLoss,
    Multilabel::MeanMaxLoss,
];

fn run_multilabel<T: activekit_core::Real>(
    p: ArrayView2<T>,
    k: usize,
) -> Result<(), TestCaseError> {
    for kind in MULTILABEL {
        if let Ok(s) = multilabel_scores(p, kind) {
            prop_assert_eq!(s.len(), p.nrows());
            prop_assert!(
                s.iter().all(|v| !v.is_nan()),
                "NaN score from accepted input"
            );
        }
        if let Ok(top) = multilabel_top_k(p, kind, k) {
            check_selection(&top.indices, p.nrows(), k)?;
        }
    }
    Ok(())
}

fn stack(members: &[Array2<f64>]) -> Array3<f64> {
    let (n, c) = members.first().map_or((0, 0), |m| m.dim());
    let m = members.len();
    Array3::from_shape_fn((m, n, c), |(i, r, j)| {
        members
            .get(i)
            .and_then(|a| a.get((r, j)))
            .copied()
            .unwrap_or(0.0)
    })
}

proptest! {
    #[test]
    fn uncertainty_kernels(
        (p, k) in probabilities(0..9, 0..5).prop_flat_map(|p| { let n = p.nrows(); (Just(p), k_for(n)) }),
        tol in tol(), layout in layout(),
    ) {
        let p = laid_out(&p, layout);
        run_uncertainty(p.view(), k, tol)?;
        run_uncertainty(to_f32(&p).view(), k, tol as f32)?;
    }

    #[test]
    fn multilabel_kernels(
        (p, k) in matrix(0..9, 0..5, probability()).prop_flat_map(|p| { let n = p.nrows(); (Just(p), k_for(n)) }),
        layout in layout(),
    ) {
        let p = laid_out(&p, layout);
        run_multilabel(p.view(), k)?;
        run_multilabel(to_f32(&p).view(), k)?;
    }

    #[test]
    fn top_k_kernel(
        (s, k) in prop::collection::vec(value(), 0..20).prop_flat_map(|s| { let n = s.len(); (Just(s), k_for(n)) }),
    ) {
        let s64 = Array1::from(s);
        let s32 = s64.mapv(|v| v as f32);
        if let Ok(top) = top_k(s64.view(), k) {
            check_selection(&top.indices, s64.len(), k)?;
        }
        if let Ok(top) = top_k(s32.view(), k) {
            check_selection(&top.indices, s32.len(), k)?;
        }
        let reversed = s64.slice(ndarray::s![..;-1]);
        let _ = top_k(reversed, k);
    }

    #[test]
    fn committee_kernels(
        (members, k) in (0..5usize, 0..7usize, 0..4usize).prop_flat_map(|(m, n, c)| {
            (prop::collection::vec(probabilities(n..n + 1, c..c + 1), m), k_for(n))
        }),
        tol in tol(),
    ) {
        let p = stack(&members);
        let p32 = p.mapv(|v| v as f32);
        let n = p.dim().1;
        for kind in [Disagreement::ConsensusEntropy, Disagreement::MeanKl] {
            if let Ok(s) = committee_scores(p.view(), kind, tol) {
                prop_assert_eq!(s.len(), n);
            }
            if let Ok(top) = committee_top_k(p.view(), kind, k, tol) {
                check_selection(&top.indices, n, k)?;
            }
            let _ = committee_scores(p32.view(), kind, tol as f32);
            let _ = committee_top_k(p32.view(), kind, k, tol as f32);
            // Members along the last axis: a permuted, non-standard view.
            let _ = committee_scores(p.view().permuted_axes([0, 2, 1]), kind, tol);
        }
    }

    #[test]
    fn vote_kernels(
        (votes, k) in matrix(0..5, 0..8, prop_oneof![
            8 => (0i8..4).prop_map(f64::from), 1 => Just(-1.0), 1 => Just(1e30)
        ].boxed()).prop_flat_map(|v| { let n = v.ncols(); (Just(v), k_for(n)) }),
        big in prop::sample::select(vec![0i64, i64::MIN, i64::MAX]),
        n_classes in prop_oneof![4 => 1..6usize, 1 => Just(0usize), 1 => Just(usize::MAX), 1 => any::<usize>()],
        layout in layout(),
    ) {
        let mut v = votes.mapv(|x| if x > 1e20 { big } else { x as i64 });
        v = laid_out(&v, layout);
        for kind in [VoteMeasure::VoteEntropy, VoteMeasure::VariationRatio] {
            if let Ok(s) = vote_scores(v.view(), n_classes, kind) {
                prop_assert_eq!(s.len(), v.ncols());
            }
            if let Ok(top) = vote_top_k(v.view(), n_classes, kind, k) {
                check_selection(&top.indices, v.ncols(), k)?;
            }
        }
    }

    #[test]
    fn distance_kernels(
        // Now and then a pool of a few hundred rows (many buckets in k-center's queue) and
        // more than 16 centres (a second block of its filter).
        (x, c, k, first) in (
            prop_oneof![6 => 0..9usize, 1 => 150..400usize],
            prop_oneof![6 => 0..5usize, 1 => 17..40usize],
            0..4usize,
            0..8usize,
        ).prop_flat_map(|(n, m, d, skew)| {
            // One time in eight the centres have a column more than the rows.
            let dc = if skew == 0 { d + 1 } else { d };
            let first = if m == 0 {
                prop_oneof![4 => (0..n.max(1)).prop_map(Some), 1 => prop::option::of(k_value())].boxed()
            } else {
                prop_oneof![4 => Just(None), 1 => prop::option::of(k_value())].boxed()
            };
            (sized(n, d, value()), sized(m, dc, value()), k_for(n), first)
        }),
        seed in any::<u64>(), layout in layout(),
    ) {
        let (x, c) = (laid_out(&x, layout), laid_out(&c, layout));
        let cancel = Cancel::new();
        let n = x.nrows();
        if let Ok(out) = min_distances(x.view(), c.view(), &cancel) {
            prop_assert_eq!(out.distances.len(), n);
            prop_assert!(out.indices.iter().all(|&i| i < c.nrows()));
        }
        // Values up to the overflow edge (1e19, 3.4e38 in f32; 1e154, 1e200, f64::MAX): the
        // picks and distances must be the eager greedy's, not only valid (issue 16).
        if let Ok(out) = kcenter_greedy(x.view(), c.view(), k, first, &cancel) {
            check_selection(&out.indices, n, k)?;
            let (idx, dist) = eager_kcenter(&x, &c, k, first);
            prop_assert_eq!(&out.indices, &idx);
            prop_assert_eq!(&out.distances, &dist);
        }
        if let Ok(picks) = kmeans_plusplus(x.view(), k, seed, &cancel) {
            check_selection(&picks, n, k)?;
        }
        // BADGE's factorised rows: A (n, classes) and H (n, features), same or other rows.
        for (a, intercept) in [(&x, true), (&c, false)] {
            if let Ok(picks) = kmeans_plusplus_outer(a.view(), x.view(), intercept, k, seed, &cancel) {
                check_selection(&picks, n, k)?;
            }
            let _ = kmeans_plusplus_outer(a.view(), to_f32(&x).view(), intercept, k, seed, &cancel);
        }
        let (x32, c32) = (to_f32(&x), to_f32(&c));
        let _ = min_distances(x32.view(), c32.view(), &cancel);
        if let Ok(out) = kcenter_greedy(x32.view(), c32.view(), k, first, &cancel) {
            let widen = |a: &Array2<f32>| a.mapv(f64::from);
            let (idx, dist) = eager_kcenter(&widen(&x32), &widen(&c32), k, first);
            prop_assert_eq!(&out.indices, &idx);
            prop_assert_eq!(&out.distances, &dist);
        }
        let _ = kmeans_plusplus(x32.view(), k, seed, &cancel);
    }

    #[test]
    fn neighbour_kernels(
        (x, r, k) in (0..9usize, 0..6usize, 0..4usize, 0..8usize).prop_flat_map(|(n, m, d, skew)| {
            let dr = if skew == 0 { d + 1 } else { d };
            (sized(n, d, value()), sized(m, dr, value()), k_for(n.min(m.max(2)).saturating_sub(1)))
        }),
        layout in layout(),
    ) {
        let (x, r) = (laid_out(&x, layout), laid_out(&r, layout));
        let cancel = Cancel::new();
        for metric in METRICS {
            if let Ok(nn) = knn(x.view(), k, metric, &cancel) {
                prop_assert_eq!(nn.indices.dim(), (x.nrows(), k));
                for (i, row) in nn.indices.rows().into_iter().enumerate() {
                    prop_assert!(row.iter().all(|&j| j < x.nrows() && j != i));
                }
            }
            if let Ok(nn) = knn_query(x.view(), r.view(), k, metric, &cancel) {
                prop_assert_eq!(nn.indices.dim(), (x.nrows(), k));
                prop_assert!(nn.indices.iter().all(|&j| j < r.nrows()));
            }
            if let Ok(d) = knn_density(x.view(), k, metric, &cancel) {
                prop_assert_eq!(d.len(), x.nrows());
            }
            let (x32, r32) = (to_f32(&x), to_f32(&r));
            let _ = knn(x32.view(), k, metric, &cancel);
            let _ = knn_query(x32.view(), r32.view(), k, metric, &cancel);
            let _ = knn_density(x32.view(), k, metric, &cancel);
        }
        if let Ok(s) = mean_cosine_similarity(x.view()) {
            prop_assert_eq!(s.len(), x.nrows());
        }
        let _ = mean_cosine_similarity(to_f32(&x).view());
    }

    #[test]
    fn any_thread_count(p in probabilities(0..40, 2..4), threads in threads()) {
        // A huge request is capped at the cores there are; it never tries to start them all.
        let out = with_threads(threads, || uncertainty_scores(p.view(), Uncertainty::Margin, 1e-6));
        if let Ok(Ok(s)) = out {
            prop_assert_eq!(s, uncertainty_scores(p.view(), Uncertainty::Margin, 1e-6).unwrap_or_default());
        }
    }
}
