"""Distance kernels (k-center greedy, nearest centre, k-means++) against NumPy references."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from activekit import _kernels
from support import reference as ref
from support.interrupt import interrupted


@st.composite
def point_sets(draw, min_rows=1, max_rows=60):
    """Float32/float64 matrices with duplicated rows, identical rows and small integer grids."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, 12))
    n_distinct = draw(st.integers(1, n))
    elements = st.one_of(
        st.integers(-3, 3).map(float),
        st.floats(-100, 100, allow_nan=False, allow_subnormal=False, width=32),
    )
    distinct = draw(hnp.arrays(np.float64, (n_distinct, d), elements=elements))
    rows = draw(hnp.arrays(np.intp, n, elements=st.integers(0, n_distinct - 1)))
    return distinct[rows].astype(dtype)


def layouts(X):
    """The same values as C, Fortran and strided arrays."""
    yield X
    yield np.asfortranarray(X)
    yield np.repeat(X, 2, axis=1)[:, ::2]


# k-center greedy


@given(X=point_sets(), data=st.data())
def test_kcenter_cold_start_matches_numpy_greedy(X, data):
    k = data.draw(st.integers(1, len(X)))
    first = data.draw(st.integers(0, len(X) - 1))
    want_idx, want_dist = ref.kcenter_greedy(X, X[:0], k, first)
    for variant in layouts(X):
        idx, dist = _kernels.kcenter_greedy(variant, X[:0], k, first=first)
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_array_equal(dist, want_dist)
    assert dist[0] == np.inf
    assert len(np.unique(idx)) == k
    assert np.all(np.diff(dist) <= 0), "max-min distance increased"


# Up to 40 labelled rows: past 16, the first pass meets a second block of the filter's
# transposed centres.
@given(X=point_sets(), C=point_sets(max_rows=40), data=st.data(), n_jobs=st.sampled_from([1, 2, None]))
def test_kcenter_from_labelled_matches_numpy_greedy(X, C, data, n_jobs):
    d = min(X.shape[1], C.shape[1])
    X, C = X[:, :d], C[:, :d]
    k = data.draw(st.integers(1, len(X)))
    want_idx, want_dist = ref.kcenter_greedy(X, C, k)
    idx, dist, n_eval = _kernels.kcenter_greedy(
        X, np.asfortranarray(C), k, n_jobs=n_jobs, return_n_evaluations=True
    )
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dist, want_dist)
    # The eager greedy's count, plus the labelled rows a second time for each pool row whose
    # exact distances to them are folded in (at most once a row).
    assert n_eval <= len(X) * (2 * len(C) + k)
    assert np.all(np.diff(dist) <= 0)


@pytest.mark.parametrize(
    ("n", "d", "k", "n_labelled", "spread"),
    [(6000, 8, 300, 20, "mixture"), (4000, 3, 400, 0, "grid"), (3000, 16, 150, 5, "lines")],
)
def test_kcenter_many_buckets_matches_numpy_greedy(n, d, k, n_labelled, spread):
    """Pools big enough for the kernel's queue to hold many buckets, and to split those that
    fill up as bounds fall: mixtures of differing spreads, a small grid full of exact ties,
    points on a few lines (many equal distances)."""
    rng = np.random.default_rng(n + d)
    if spread == "mixture":
        centres = rng.standard_normal((12, d)) * 4
        X = centres[rng.integers(0, 12, n)] + rng.standard_normal((n, d)) * rng.uniform(0.2, 2, (n, 1))
    elif spread == "grid":
        X = rng.integers(0, 12, (n, d)).astype(float)
    else:
        X = rng.standard_normal((5, d))[rng.integers(0, 5, n)] * rng.integers(1, 30, (n, 1))
    X = X.astype(np.float32)
    C = X[:n_labelled] + 0.5
    first = None if n_labelled else 7
    want_idx, want_dist = ref.kcenter_greedy(X, C, k, first)
    idx, dist = _kernels.kcenter_greedy(X, C, k, first=first)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dist, want_dist)


def test_kcenter_duplicates_and_k_above_distinct_rows():
    X = np.repeat(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]], dtype=np.float32), 3, axis=0)
    idx, dist = _kernels.kcenter_greedy(X, np.empty((0, 2), np.float32), 9, first=4)
    # Distinct rows first (farthest first), then the copies at distance 0, lowest index first.
    assert idx.tolist() == [4, 0, 6, 1, 2, 3, 5, 7, 8]
    np.testing.assert_allclose(dist[:3], [np.inf, 5.0, 1.0])
    assert np.all(dist[3:] == 0)
    same = np.zeros((5, 3))
    assert _kernels.kcenter_greedy(same, same[:1], 5)[0].tolist() == [0, 1, 2, 3, 4]


# Finite values up to the overflow edge. The reference is the plain greedy in float64 (of the
# float32 values, for a float32 pool): a squared distance that overflows float64 is inf, and
# inf ties with inf, lowest index first, as any other tie. In float32 no distance overflows
# (a float32 difference squared is below 5e77), but the kernel's dot-product filter works in
# float32 and overflows from about sqrt(f32::MAX) = 1.8e19 up: it must then fall back to exact
# distances. In float64 squares overflow from about 1.3e154 up, and differences near 1e308.
F32_MAX = float(np.finfo(np.float32).max)
F64_MAX = float(np.finfo(np.float64).max)
HUGE_SCALES = {
    np.float32: [2e19, 6e19, 1e25, F32_MAX / 2, F32_MAX],
    np.float64: [1e150, 1.4e154, 1e200, 1e300, F64_MAX / 2, F64_MAX],
}


@st.composite
def huge_point_sets(draw, dtype, min_rows=1, max_rows=30):
    """Rows mixing small integers with values up to a drawn scale near the overflow edge, with
    duplicated rows (huge duplicates, whose distances tie at `inf`, must each still be picked)."""
    top = float(dtype(draw(st.sampled_from(HUGE_SCALES[dtype]))))  # representable in dtype
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, 5))
    n_distinct = draw(st.integers(1, max(n, 1)))
    width = 32 if dtype is np.float32 else 64
    elements = st.one_of(
        st.integers(-3, 3).map(float),
        st.sampled_from([top, -top, top / 2, -top / 3]),
        st.floats(-top, top, allow_nan=False, allow_infinity=False, width=width),
    )
    distinct = draw(hnp.arrays(dtype, (n_distinct, d), elements=elements))
    rows = draw(hnp.arrays(np.intp, n, elements=st.integers(0, n_distinct - 1)))
    return distinct[rows]


def overflowing_reference(X, C, k, first=None):
    with np.errstate(over="ignore"):  # inf squared distances are part of the reference
        return ref.kcenter_greedy(X, C, k, first)


@settings(max_examples=150)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]),
       n_jobs=st.sampled_from([1, 2]))
def test_kcenter_values_up_to_overflow_match_numpy_greedy(data, dtype, n_jobs):
    X = data.draw(huge_point_sets(dtype))
    C = data.draw(huge_point_sets(dtype, min_rows=0, max_rows=20))
    d = min(X.shape[1], C.shape[1])
    X, C = X[:, :d], C[:, :d]
    k = data.draw(st.integers(1, len(X)))
    first = data.draw(st.integers(0, len(X) - 1)) if len(C) == 0 else None
    want_idx, want_dist = overflowing_reference(X, C, k, first)
    idx, dist, n_eval = _kernels.kcenter_greedy(
        X, C, k, first=first, n_jobs=n_jobs, return_n_evaluations=True
    )
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dist, want_dist)
    assert len(np.unique(idx)) == k
    # The eager greedy's count, plus the labelled rows a second time for each pool row whose
    # exact distances to them are folded in (at most once a row).
    assert n_eval <= len(X) * (2 * len(C) + k)
    if dtype is np.float32:  # float32 distances never overflow float64
        assert np.all(np.isfinite(dist[1:] if first is not None else dist))


def test_kcenter_overflow_examples_of_issue_16():
    # float32: the filter's dot products overflow (2e19 * -3e19); the plain greedy picks 1 first.
    X = np.array([[2e19, 1.9e19], [0, 6e19], [1, 1]], dtype=np.float32)
    C = np.array([[-3e19, -3e19], [-2e19, 1e19]], dtype=np.float32)
    idx, dist = _kernels.kcenter_greedy(X, C, 3)
    assert idx.tolist() == [1, 0, 2]
    np.testing.assert_array_equal(dist, overflowing_reference(X, C, 3)[1])
    assert np.all(np.isfinite(dist))
    # float64: both 1e200 rows are at distance inf from the centre; the first is picked (lowest
    # index among the tie), then its duplicate is at 0 and row 2 (at 5) is the farthest.
    X = np.array([[1e200], [1e200], [5.0]])
    idx, dist = _kernels.kcenter_greedy(X, np.zeros((1, 1)), 2)
    assert idx.tolist() == [0, 2]
    assert dist.tolist() == [np.inf, 5.0]
    # Ties among inf: lowest index first, whatever the order of the values.
    X = np.array([[5.0], [-1e200], [1e300], [1e200], [-1e300]])
    idx, dist = _kernels.kcenter_greedy(X, np.zeros((1, 1)), 5)
    want_idx, want_dist = overflowing_reference(X, np.zeros((1, 1)), 5)
    assert idx.tolist() == want_idx.tolist()
    np.testing.assert_array_equal(dist, want_dist)
    assert idx[0] == 1 and dist[0] == np.inf


@given(X=point_sets(max_rows=9), data=st.data())
def test_kcenter_radius_within_twice_the_optimum(X, data):
    k = data.draw(st.integers(1, min(4, len(X))))
    first = data.draw(st.integers(0, len(X) - 1))
    idx, _ = _kernels.kcenter_greedy(X, X[:0], k, first=first)
    X64 = X.astype(np.float64)
    radius = _kernels.min_distances(X64, X64[idx])[0].max()
    best = min(
        _kernels.min_distances(X64, X64[list(s)])[0].max()
        for s in itertools.combinations(range(len(X)), k)
    )
    assert radius <= 2 * best * (1 + 1e-9) + 1e-12


def test_kcenter_cosine_is_farthest_first_in_cosine_distance():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((300, 5)) * rng.uniform(0.1, 10, size=(300, 1))
    idx, dist = _kernels.kcenter_greedy(X, X[:2], 20, metric="cosine")
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    want_idx, want_dist = ref.kcenter_greedy(U, U[:2], 20)
    np.testing.assert_array_equal(idx, want_idx)
    cos_dist = 1 - (U @ U[:2].T).max(axis=1)
    np.testing.assert_allclose(dist[0], cos_dist[idx[0]], atol=1e-12)
    np.testing.assert_allclose(dist, want_dist**2 / 2, atol=1e-12)


def test_kcenter_float32_identical_rows_at_scale_is_ordered():
    X = np.ones((50_000, 3), dtype=np.float32)
    idx, dist = _kernels.kcenter_greedy(X, X[:1], 10)
    assert idx.tolist() == list(range(10)) and np.all(dist == 0)


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"k": 0}, ValueError, r"k must be between 1 and the number of rows \(4\), got 0"),
        ({"k": 5}, ValueError, r"between 1 and the number of rows \(4\), got 5"),
        ({"k": 1.0}, TypeError, "k must be an integer, got float"),
        ({"X_centers": np.zeros((1, 3))}, ValueError, "X_centers has 3 columns but X_pool has 2"),
        ({"X_centers": np.zeros((0, 2))}, ValueError, "first must be given when X_centers has no rows"),
        ({"first": 0}, ValueError, "first must be None when there are centres"),
        ({"X_centers": np.zeros((0, 2)), "first": 4}, ValueError, r"below the number of pool rows \(4\), got 4"),
        ({"X_centers": np.zeros((0, 2)), "first": -1}, ValueError, "got -1"),
        ({"X_centers": np.zeros((0, 2)), "first": 1.5}, TypeError, "first must be None or an integer"),
        ({"X_pool": np.array([[0, 0], [1, 1], [np.nan, 0], [np.inf, 0]])}, ValueError, "X_pool row 2 contains NaN or infinity"),
        ({"X_centers": np.array([[0, 0], [0, -np.inf]])}, ValueError, "X_centers row 1 contains NaN or infinity"),
        ({"X_pool": np.zeros(4)}, ValueError, "X_pool must be a 2-D array"),
        ({"X_pool": np.zeros((4, 2), dtype=complex)}, TypeError, "real numbers"),
        ({"metric": "manhattan"}, ValueError, r"metric must be one of \['cosine', 'euclidean'\]"),
        ({"metric": "cosine"}, ValueError, "X_pool row 0 has zero length"),
        ({"n_jobs": 0}, ValueError, "n_jobs must be None or a non-zero integer"),
    ],
)
def test_kcenter_bad_input(kwargs, exc, message):
    args = {"X_pool": np.arange(8.0).reshape(4, 2) - 0, "X_centers": np.ones((1, 2)), "k": 2}
    args["X_pool"][0] = 0
    args.update(kwargs)
    with pytest.raises(exc, match=message):
        _kernels.kcenter_greedy(args.pop("X_pool"), args.pop("X_centers"), args.pop("k"), **args)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_kcenter_ctrl_c_stops_within_a_second(n_jobs):
    # k = n on spread points in 400 dimensions: at least k^2 / 2 distances, minutes of work.
    # With two threads the queue loop runs with a helper thread, which must stop too.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60_000, 400)).astype(np.float32)
    lag = interrupted(lambda: _kernels.kcenter_greedy(X, X[:1], 60_000, n_jobs=n_jobs))
    assert lag < 1.0, f"interrupt took {lag:.2f} s to land"


# Nearest centre


@given(X=point_sets(), C=point_sets(max_rows=20), n_jobs=st.sampled_from([1, 3, None]))
def test_min_distances_match_numpy(X, C, n_jobs):
    d = min(X.shape[1], C.shape[1])
    X, C = X[:, :d], C[:, :d]
    if X.dtype != C.dtype:
        X = X.astype(np.float64)
    want_d, want_i = ref.min_distances(X, C)
    for variant in layouts(X):
        dist, arg = _kernels.min_distances(variant, C, n_jobs=n_jobs)
        assert dist.dtype == np.float64
        np.testing.assert_array_equal(dist, want_d)
        np.testing.assert_array_equal(arg, want_i)


def test_min_distances_cosine_and_errors():
    X = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    dist, arg = _kernels.min_distances(X, [[1.0, 1.0], [-1.0, 0.0]], metric="cosine")
    np.testing.assert_allclose(dist, [1 - np.sqrt(0.5), 1 - np.sqrt(0.5), 0.0], atol=1e-12)
    assert arg.tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="C is empty"):
        _kernels.min_distances(X, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="C has 3 columns but X has 2"):
        _kernels.min_distances(X, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="X row 1 contains NaN"):
        _kernels.min_distances([[0.0], [np.nan]], [[0.0]])
    with pytest.raises(ValueError, match="C row 0 has zero length"):
        _kernels.min_distances(X, [[0.0, 0.0]], metric="cosine")


# k-means++


@given(X=point_sets(), data=st.data())
def test_kmeans_plusplus_matches_reference_sampler(X, data):
    k = data.draw(st.integers(1, len(X)))
    seed = data.draw(st.integers(0, 2**32 - 1))
    want = ref.kmeans_plusplus(X, k, _kernels.seed_from(seed))
    for variant, n_jobs in zip(layouts(X), (1, 2, None), strict=True):
        got = _kernels.kmeans_plusplus(variant, k, random_state=seed, n_jobs=n_jobs)
        np.testing.assert_array_equal(got, want)
    assert len(np.unique(got)) == k


def test_kmeans_plusplus_prefers_far_points_and_is_seeded():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.standard_normal((500, 2)) * 0.01 + c for c in ([0, 0], [100, 0], [0, 100])])
    for seed in range(5):
        idx = _kernels.kmeans_plusplus(X, 3, random_state=seed)
        assert sorted(idx // 500) == [0, 1, 2]
    a = _kernels.kmeans_plusplus(X, 10, random_state=np.random.RandomState(3))
    b = _kernels.kmeans_plusplus(X, 10, random_state=np.random.RandomState(3))
    np.testing.assert_array_equal(a, b)


def test_kmeans_plusplus_all_identical_rows():
    idx = _kernels.kmeans_plusplus(np.ones((6, 2)), 6, random_state=1)
    assert sorted(idx.tolist()) == list(range(6))
    assert idx[1:].tolist() == [i for i in range(6) if i != idx[0]]


def outer_rows(A, H, intercept):
    """The rows ``A[i] (x) [H[i], 1]``, materialised."""
    if intercept:
        H = np.hstack([H, np.ones((len(H), 1), dtype=H.dtype)])
    return (A[:, :, None].astype(H.dtype) * H[:, None, :]).reshape(len(A), -1)


@given(data=st.data())
def test_kmeans_plusplus_outer_draws_what_kmeans_plusplus_draws_on_the_outer_products(data):
    # Small integers: every distance is exact both ways, duplicates (in any scaling of a
    # against h) are exactly 0 in the materialised rows and cancel in the factorised form.
    n, c, d = data.draw(st.integers(1, 50)), data.draw(st.integers(1, 4)), data.draw(st.integers(0, 6))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    n_distinct = data.draw(st.integers(1, n))
    small = st.integers(-3, 3).map(float)
    A = data.draw(hnp.arrays(np.float64, (n_distinct, c), elements=small))
    H = data.draw(hnp.arrays(np.float64, (n_distinct, d), elements=small))
    rows = data.draw(hnp.arrays(np.intp, n, elements=st.integers(0, n_distinct - 1)))
    A, H = A[rows], H[rows].astype(dtype)
    intercept = data.draw(st.booleans())
    k = data.draw(st.integers(1, n))
    seed = data.draw(st.integers(0, 2**32 - 1))
    want = _kernels.kmeans_plusplus(outer_rows(A, H, intercept), k, random_state=seed)
    for h, n_jobs in zip(layouts(H), (1, 2, None), strict=True):
        got = _kernels.kmeans_plusplus_outer(
            np.asfortranarray(A), h, k, intercept=intercept, random_state=seed, n_jobs=n_jobs
        )
        np.testing.assert_array_equal(got, want)
    assert len(np.unique(got)) == k


def test_kmeans_plusplus_outer_on_random_embeddings():
    # BADGE's shapes: a = p - e_yhat over 10 classes, h in 32 dimensions; continuous data, so
    # rounding differences between the two forms never reach a draw.
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10) * 0.3, size=2000)
    A = p.copy()
    A[np.arange(len(p)), p.argmax(1)] -= 1
    H = rng.standard_normal((2000, 32)).astype(np.float32)
    G = outer_rows(A, H.astype(np.float64), True)
    for seed in range(4):
        np.testing.assert_array_equal(
            _kernels.kmeans_plusplus_outer(A, H, 30, random_state=seed),
            _kernels.kmeans_plusplus(G, 30, random_state=seed),
        )


@pytest.mark.parametrize(
    ("A", "H", "kwargs", "exc", "message"),
    [
        (np.ones((3, 2)), np.ones((4, 2)), {}, ValueError, "H has 4 rows but A has 3; they must match"),
        (np.ones((3, 2)), np.ones((3, 2)), {"k": 4}, ValueError, r"k must be between 1 and the number of rows \(3\), got 4"),
        (np.ones((3, 2)), np.ones((3, 2)), {"intercept": 1}, TypeError, "intercept must be a bool, got int 1"),
        ([[1.0], [np.nan]], np.ones((2, 2)), {}, ValueError, "A row 1 contains NaN or infinity"),
        (np.ones((2, 1)), [[0.0], [np.inf]], {}, ValueError, "H row 1 contains NaN or infinity"),
        (np.ones((2, 1)), [[0.0], [1e200]], {}, ValueError, "H row 1 is too large: its squared norm overflows"),
        (np.ones(3), np.ones((3, 2)), {}, ValueError, "A must be a 2-D array"),
        (np.ones((3, 1)), np.array([["a"], ["b"], ["c"]]), {}, TypeError, "H must hold real numbers"),
    ],
)
def test_kmeans_plusplus_outer_bad_input(A, H, kwargs, exc, message):
    kwargs = {"k": 1, "random_state": 0, **kwargs}
    k = kwargs.pop("k")
    with pytest.raises(exc, match=message):
        _kernels.kmeans_plusplus_outer(A, H, k, **kwargs)


@pytest.mark.parametrize(
    ("X", "k", "exc", "message"),
    [
        (np.ones((3, 2)), 4, ValueError, r"k must be between 1 and the number of rows \(3\), got 4"),
        (np.ones((3, 2)), True, TypeError, "k must be an integer, got bool"),
        (np.array([[0.0], [np.inf]]), 1, ValueError, "X row 1 contains NaN or infinity"),
        (np.ones(3), 1, ValueError, "X must be a 2-D array"),
    ],
)
def test_kmeans_plusplus_bad_input(X, k, exc, message):
    with pytest.raises(exc, match=message):
        _kernels.kmeans_plusplus(X, k, random_state=0)
