"""kNN, kNN density and mean cosine similarity against brute force (SciPy ``cdist``)."""


import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose
from scipy.spatial.distance import cdist

from activekit import _kernels
from support.interrupt import interrupted

METRICS = ["euclidean", "cosine"]


@st.composite
def point_sets(draw, dtype=None, min_rows=2, max_rows=150, d=None, metric="euclidean"):
    """Rows with duplicates (drawn from fewer distinct rows), zeros and repeated values."""
    dtype = dtype or draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(min_rows, max_rows))
    d = d or draw(st.integers(1, 12))
    n_distinct = draw(st.integers(1, n))
    raw = draw(
        hnp.arrays(
            np.float64,
            (n_distinct, d),
            elements=st.one_of(
                st.just(0.0),
                st.just(1.0),
                # No tiny magnitudes: SciPy's cosine reference underflows on them (the
                # kernel does not; see the Rust tests).
                st.floats(-10, 10).map(lambda v: round(v, 4)),
            ),
        )
    )
    raw = raw.astype(dtype)
    if metric == "cosine":
        # After the cast: tiny float64 values become float32 zeros.
        raw[np.all(raw == 0, axis=1), 0] = 1.0
    rows = draw(hnp.arrays(np.intp, n, elements=st.integers(0, n_distinct - 1)))
    return raw[rows]


def reference_distances(q, r, metric, exclude_self):
    """float64 brute force; a row's own distance is +inf when it is excluded."""
    q64, r64 = q.astype(np.float64), r.astype(np.float64)
    dist = cdist(q64, r64, metric="sqeuclidean" if metric == "euclidean" else "cosine")
    dist = np.maximum(dist, 0.0)
    if exclude_self:
        np.fill_diagonal(dist, np.inf)
    return dist  # squared Euclidean, or cosine distance


def tolerance(q, r, metric):
    """Per query row: how far the kernel's ranking key may be from the exact one.

    The search ranks by ``||r||^2 - 2 q.r`` from a float matrix product, whose rounding error
    grows with the squared norms and the width; candidates closer than this may swap.
    """
    eps = float(np.finfo(q.dtype).eps)
    d = q.shape[1]
    if metric == "cosine":
        return np.full(len(q), 8.0 * (d + 4) * eps)
    q2 = (q.astype(np.float64) ** 2).sum(axis=1)
    r2 = (r.astype(np.float64) ** 2).sum(axis=1).max()
    return 8.0 * (d + 4) * eps * (q2 + r2) + 1e-300


def assert_valid_knn(idx, dist, q, r, k, metric, exclude_self):
    """A correct kNN up to near-ties, with exact ties between duplicated rows by lowest index."""
    m = len(q)
    assert idx.shape == (m, k) and dist.shape == (m, k)
    assert idx.dtype == np.int64
    assert dist.dtype == q.dtype
    ref = reference_distances(q, r, metric, exclude_self)
    tol = tolerance(q, r, metric)
    # The ranking key: squared Euclidean, or cosine distance.
    key = dist.astype(np.float64) ** 2 if metric == "euclidean" else dist.astype(np.float64)
    kth = np.sort(ref, axis=1)[:, k - 1]
    _, group = np.unique(r, axis=0, return_inverse=True)
    group = group.reshape(-1)
    for i in range(m):
        row = idx[i]
        assert len(np.unique(row)) == k, f"row {i}: repeated neighbours {row}"
        assert np.all((row >= 0) & (row < len(r)))
        if exclude_self:
            assert i not in row, f"row {i} is its own neighbour"
        assert np.all(np.diff(dist[i]) >= 0), f"row {i}: distances not ascending"
        # The returned distances are those of the returned rows...
        assert_allclose(
            key[i], ref[i, row], atol=max(tol[i], 1e-5 if q.dtype == np.float32 else 1e-10)
        )
        # ...no row left out is clearly nearer than the k-th, ...
        assert np.all(ref[i, row] <= kth[i] + tol[i]), f"row {i}: a farther row was chosen"
        # ...and duplicated rows are taken lowest index first, ahead of later copies.
        for pos, j in enumerate(row):
            same = np.flatnonzero(group == group[j])
            earlier = same[same < j]
            if exclude_self:
                earlier = earlier[earlier != i]
            assert np.all(np.isin(earlier, row[:pos])), f"row {i}: tie at {j} not by lowest index"


@pytest.mark.parametrize("metric", METRICS)
@given(data=st.data())
def test_self_knn_matches_brute_force(metric, data):
    X = data.draw(point_sets(metric=metric))
    k = data.draw(st.integers(1, len(X) - 1))
    idx, dist = _kernels.knn(X, k, metric=metric)
    assert_valid_knn(idx, dist, X, X, k, metric, exclude_self=True)


@pytest.mark.parametrize("metric", METRICS)
@given(data=st.data())
def test_query_knn_matches_brute_force(metric, data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    d = data.draw(st.integers(1, 12))
    R = data.draw(point_sets(dtype=dtype, min_rows=1, d=d, metric=metric))
    Q = data.draw(point_sets(dtype=dtype, min_rows=1, max_rows=40, d=d, metric=metric))
    k = data.draw(st.integers(1, len(R)))
    idx, dist = _kernels.knn(Q, k, X_ref=R, metric=metric)
    assert_valid_knn(idx, dist, Q, R, k, metric, exclude_self=False)


@pytest.mark.parametrize("metric", METRICS)
@given(X=point_sets(dtype=np.float64), n_jobs=st.sampled_from([1, 2, 3, None]))
def test_result_independent_of_threads_and_layout(metric, X, n_jobs):
    X = X.copy()
    X[np.all(X == 0, axis=1), 0] = 1.0
    k = min(5, len(X) - 1)
    want = _kernels.knn(X, k, metric=metric, n_jobs=1)
    fortran = np.asfortranarray(X)
    strided = np.repeat(X, 2, axis=1)[:, ::2]
    big_endian = X.astype(X.dtype.newbyteorder(">"))
    for variant in (X, fortran, strided, big_endian):
        got = _kernels.knn(variant, k, metric=metric, n_jobs=n_jobs)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_points_are_neighbours_at_zero_by_lowest_index(metric, dtype):
    # Spans several query and reference blocks.
    X = np.tile(np.array([[0.3, -1.7, 2.0]], dtype=dtype), (2500, 1))
    idx, dist = _kernels.knn(X, 4, metric=metric)
    np.testing.assert_array_equal(idx[0], [1, 2, 3, 4])
    np.testing.assert_array_equal(idx[3], [0, 1, 2, 4])
    np.testing.assert_array_equal(idx[-1], [0, 1, 2, 3])
    assert np.all(dist == 0)


def test_duplicate_is_a_neighbour_at_distance_zero():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 16)).astype(np.float32) * 100
    X[321] = X[17]
    idx, dist = _kernels.knn(X, 3)
    assert idx[17, 0] == 321 and idx[321, 0] == 17
    assert dist[17, 0] == 0 and dist[321, 0] == 0


def test_query_rows_may_equal_reference_rows():
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    idx, dist = _kernels.knn(X, 1, X_ref=X)
    np.testing.assert_array_equal(idx[:, 0], np.arange(6))
    assert np.all(dist == 0)


def test_mixed_float_types_compute_in_float64():
    X = np.eye(3, dtype=np.float32)
    _, dist = _kernels.knn(X, 2, X_ref=X.astype(np.float64))
    assert dist.dtype == np.float64


@pytest.mark.parametrize("metric", METRICS)
@given(data=st.data())
def test_knn_density_matches_brute_force(metric, data):
    X = data.draw(point_sets(metric=metric))
    k = data.draw(st.integers(1, len(X) - 1))
    got = _kernels.knn_density(X, k, metric=metric)
    assert got.shape == (len(X),) and got.dtype == X.dtype
    nearest = np.sort(reference_distances(X, X, metric, exclude_self=True), axis=1)[:, :k]
    sim = 1.0 / (1.0 + np.sqrt(nearest)) if metric == "euclidean" else 1.0 - nearest
    want = sim.mean(axis=1)
    # Near-ties swap neighbours at (almost) the same distance: the mean barely moves.
    atol = 1e-3 if X.dtype == np.float32 else 1e-7
    assert_allclose(got, want, atol=atol, rtol=0)


@given(X=point_sets(metric="cosine", max_rows=80))
def test_mean_cosine_similarity_matches_the_pairwise_mean(X):
    got = _kernels.mean_cosine_similarity(X)
    assert got.shape == (len(X),) and got.dtype == X.dtype
    want = (1.0 - cdist(X.astype(np.float64), X.astype(np.float64), "cosine")).mean(axis=1)
    assert_allclose(got, want, atol=1e-5 if X.dtype == np.float32 else 1e-12, rtol=0)


def test_mean_cosine_similarity_independent_of_threads():
    X = np.random.default_rng(1).normal(size=(20_000, 8))
    one = _kernels.mean_cosine_similarity(X, n_jobs=1)
    np.testing.assert_array_equal(one, _kernels.mean_cosine_similarity(X, n_jobs=3))


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (lambda: _kernels.knn(np.ones((3, 2)), 3), ValueError, r"between 1 and .* \(2\), got 3"),
        (lambda: _kernels.knn(np.ones((3, 2)), 0), ValueError, "got 0"),
        (lambda: _kernels.knn(np.ones((1, 2)), 1), ValueError, "at least 2 rows"),
        (lambda: _kernels.knn(np.ones((3, 2)), 1.0), TypeError, "k must be an integer"),
        (lambda: _kernels.knn(np.ones((3, 2)), True), TypeError, "k must be an integer"),
        (lambda: _kernels.knn(np.ones(3), 1), ValueError, "X must be a 2-D array"),
        (lambda: _kernels.knn(np.array([["a"], ["b"]]), 1), TypeError, "real numbers"),
        (lambda: _kernels.knn(np.ones((3, 2)), 1, metric="l1"), ValueError, "metric must be"),
        (lambda: _kernels.knn(np.ones((3, 2)), 1, n_jobs=0), ValueError, "n_jobs"),
        (
            lambda: _kernels.knn(np.ones((3, 2)), 1, X_ref=np.ones((4, 3))),
            ValueError,
            "X_ref has 3 columns but X has 2",
        ),
        (
            lambda: _kernels.knn(np.ones((3, 2)), 5, X_ref=np.ones((4, 2))),
            ValueError,
            r"rows of X_ref \(4\), got 5",
        ),
        (
            lambda: _kernels.knn(np.ones((0, 2)), 1, X_ref=np.ones((4, 2))),
            ValueError,
            "X is empty",
        ),
        (lambda: _kernels.knn(np.ones((3, 0)), 1), ValueError, "at least 1 columns"),
        (
            lambda: _kernels.knn(np.array([[0.0], [1.0], [np.nan]]), 1),
            ValueError,
            "X row 2 contains NaN or infinity",
        ),
        (
            lambda: _kernels.knn(np.ones((3, 1)), 1, X_ref=np.array([[1.0], [np.inf]])),
            ValueError,
            "X_ref row 1 contains NaN or infinity",
        ),
        (
            lambda: _kernels.knn(np.array([[1.0, 0.0], [0.0, 0.0]]), 1, metric="cosine"),
            ValueError,
            "X row 1 is all zeros",
        ),
        (
            lambda: _kernels.knn(np.full((2, 2), 1e30, dtype=np.float32), 1),
            ValueError,
            "X row 0 is too large",
        ),
        (lambda: _kernels.knn_density(np.ones((3, 2)), 3), ValueError, r"\(2\), got 3"),
        (lambda: _kernels.knn_density(np.ones((3, 2)), 1, metric="x"), ValueError, "metric"),
        (
            lambda: _kernels.mean_cosine_similarity(np.array([[1.0], [0.0]])),
            ValueError,
            "X row 1 is all zeros",
        ),
        (lambda: _kernels.mean_cosine_similarity(np.ones((0, 2))), ValueError, "X is empty"),
    ],
)
def test_bad_input_raises_clear_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_ctrl_c_interrupts_a_long_search():
    # About 16 x 20k-row searches' work: several seconds on two cores.
    X = np.random.default_rng(0).normal(size=(80_000, 64)).astype(np.float32)
    lag = interrupted(lambda: _kernels.knn(X, 10))
    assert lag < 1.0, f"interrupt took {lag:.2f} s to land"
