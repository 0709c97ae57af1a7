"""The torch twins against the Rust kernels on CPU tensors, the dispatch between them, the
learner's ``device``, the GPU benchmark's smoke run, and CUDA-marked tests.

Exact equality needs exact arithmetic: the Rust kernels and torch sum in different orders, so
the tests that demand identical selections and values draw data on a dyadic grid (small
integers, probabilities that are multiples of 1/2^j), where every sum is exact in any order.
Random data checks equal selections (near-ties in the last bits aside, where noted) and values
within a tolerance.
"""

import importlib.util
import pathlib
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier

from activekit import ActiveLearningClassifier, _backends, _kernels, _native
from activekit.strategies import RandomSampling, get_strategy

torch = pytest.importorskip("torch")
from activekit import _torch_kernels as tm  # noqa: E402 (needs torch)

# The device module the kernels and the learner use. Collecting the package's doctests in
# importlib mode executes a fresh copy of each module into sys.modules, so module state (the
# scope) is reached through the modules that use it, not through a new import.
_device = _kernels._device

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
DTYPES = [np.float32, np.float64]
FEW = settings(max_examples=max(5, settings().max_examples // 3))  # 20 by default


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors: torch's thread pool only waits for a busy second core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def twin(fn, *args, **kwargs):
    """``_kernels.<fn>`` run by its torch twin on CPU tensors (a scope on torch's CPU)."""
    with _device.torch_scope("cpu"):
        return getattr(_kernels, fn)(*args, **kwargs)


def both(fn, *args, **kwargs):
    return twin(fn, *args, **kwargs), getattr(_kernels, fn)(*args, **kwargs)


def assert_same_selection(got, want, ref, atol):
    """Identical, or different only where the reference scores are within ``atol`` (the
    last-bit near-ties two summation orders may break either way)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    differ = got != want
    assert np.all(np.abs(ref[got[differ]] - ref[want[differ]]) <= atol), (got, want)


# --------------------------------------------------------------------------------------------
# Data


def _rng(draw):
    return np.random.RandomState(draw(st.integers(0, 2**32 - 1)))


@st.composite
def dyadic_probs(draw):
    """Rows of counts summing to 2^j, over 2^j: exact in float32 and float64. Duplicated and
    permuted rows make many exactly equal scores."""
    rng = _rng(draw)
    n, c, j = draw(st.integers(1, 120)), draw(st.integers(2, 12)), draw(st.integers(1, 6))
    total = 2**j
    cuts = np.sort(rng.randint(0, total + 1, size=(draw(st.integers(1, n)), c - 1)), axis=1)
    counts = np.diff(np.hstack([np.zeros((len(cuts), 1)), cuts, np.full((len(cuts), 1), total)]))
    rows = counts[rng.randint(len(counts), size=n)]
    rows = np.take_along_axis(rows, rng.rand(n, c).argsort(axis=1), axis=1)
    return (rows / total).astype(draw(st.sampled_from(DTYPES)))


@st.composite
def random_probs(draw, members=None):
    """Dirichlet rows (continuous) with whole duplicated rows: ties only between identical
    rows. With ``members``, an (m, n, c) committee whose rows are duplicated together."""
    rng = _rng(draw)
    n, c = draw(st.integers(1, 120)), draw(st.integers(2, 20))
    m = members or 1
    base = rng.dirichlet(np.full(c, 0.5), size=(m, draw(st.integers(1, n))))
    base[:, :: max(1, base.shape[1] // 3)] = np.eye(c)[0]  # some one-hot rows
    p = base[:, rng.randint(base.shape[1], size=n)].astype(draw(st.sampled_from(DTYPES)))
    return p if members else p[0]


@st.composite
def grid_points(draw, min_rows=2, max_rows=80, dtype=None):
    """Small integers (exact sums, products and squared distances), with duplicated rows."""
    rng = _rng(draw)
    n, d = draw(st.integers(min_rows, max_rows)), draw(st.integers(1, 6))
    base = rng.randint(-3, 4, size=(draw(st.integers(1, n)), d))
    X = base[rng.randint(len(base), size=n)]
    return X.astype(dtype or draw(st.sampled_from(DTYPES)))


# --------------------------------------------------------------------------------------------
# Scores and top-k


@pytest.mark.parametrize("measure", ["least_confident", "margin"])
@FEW
@given(probs=dyadic_probs(), data=st.data())
def test_uncertainty_exact_on_a_dyadic_grid(measure, probs, data):
    k = data.draw(st.integers(1, len(probs)))
    got, want = both("uncertainty_top_k", probs, measure, k)
    assert_array_equal(got[0], want[0])
    assert_array_equal(got[1], want[1])
    assert got[1].dtype == want[1].dtype == probs.dtype
    scores, ref = both("uncertainty_scores", probs, measure)
    assert_array_equal(scores, ref)


@pytest.mark.parametrize("measure", ["least_confident", "margin", "entropy"])
@FEW
@given(probs=random_probs(), data=st.data())
def test_uncertainty_on_random_rows(measure, probs, data):
    k = data.draw(st.integers(1, len(probs)))
    (idx, top), (r_idx, r_top) = both("uncertainty_top_k", probs, measure, k)
    ref = _kernels.uncertainty_scores(probs, measure).astype(np.float64)
    atol = 1e-5 if probs.dtype == np.float32 else 1e-12
    # Entropies: each p ln p is Rust's bits (the same logarithm), but torch adds them in
    # another order, so float32 near-ties can go either way.
    if measure == "entropy" and probs.dtype == np.float32:
        assert_same_selection(idx, r_idx, ref, atol)
    else:
        assert_array_equal(idx, r_idx)
    assert_allclose(top, ref[idx], atol=atol, rtol=0)
    assert idx.dtype == r_idx.dtype and top.dtype == r_top.dtype


def two_class_rows(dtype, n=20_000, seed=0):
    """``[p, 1 - p]`` with p over every decade of normal values, zeros, ones and subnormals:
    with two terms, any summation order gives the same bits."""
    rng = np.random.RandomState(seed)
    tiny = np.finfo(dtype).tiny
    p = np.concatenate([
        np.exp(rng.uniform(np.log(tiny), 0, n)), rng.rand(n), [0.0, 1.0, 0.5, tiny, tiny / 8],
    ]).astype(dtype)
    probs = np.stack([p, (1 - p.astype(np.float64)).astype(dtype)], axis=1)
    return probs[np.abs(probs.astype(np.float64).sum(1) - 1) <= 1e-6]


@pytest.mark.parametrize("dtype", DTYPES)
def test_entropy_terms_are_rusts_bits(dtype):
    # The twin's logarithm is Rust's, operation for operation: two-class entropies (where the
    # summation order cannot matter) agree bit for bit, and so do the committee's.
    probs = two_class_rows(dtype)
    got, want = both("uncertainty_scores", probs, "entropy")
    assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    committee = np.stack([probs, probs[::-1]])
    got, want = both("committee_scores", committee, "consensus_entropy")
    assert_array_equal(got.view(np.uint8), want.view(np.uint8))


def _round_to_f32(x):
    """The float32 nearest the exact rational ``x``, ties to even (``None`` beyond the largest
    float32, where rounding goes to infinity)."""
    if abs(x) > Fraction(float(np.finfo(np.float32).max)):
        return None
    guess = np.float32(float(x))  # within one float32 step of the answer
    with np.errstate(over="ignore"):  # the step above the largest float32 is infinity
        up, down = (np.nextafter(guess, np.float32(s * np.inf)) for s in (1, -1))
    near = [down, guess, up]
    dist = [abs(Fraction(float(v)) - x) if np.isfinite(v) else None for v in near]
    best = min(d for d in dist if d is not None)
    ties = [v for v, d in zip(near, dist, strict=True) if d == best]
    return min(ties, key=lambda v: int(v.view(np.uint32)) & 1)


f32s = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=500)
@given(a=f32s, b=f32s, c=f32s)
def test_twin_fma32_rounds_once(a, b, c):
    # The twin's fused multiply-add (Rust's f32::mul_add, which the f32 logarithm is built
    # from) against exact rational arithmetic: a * b + c rounded once to nearest, ties to even.
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    want = _round_to_f32(exact)
    if want is None:
        return
    got = tm._fma32(torch.tensor([a], dtype=torch.float32), torch.tensor([b], dtype=torch.float32), c)
    got = got.numpy()[0]
    assert got.view(np.uint32) == want.view(np.uint32) or (got == 0 and want == 0), (got, want)


def test_twin_fma32_on_double_rounding_traps():
    # (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 is a float32 midpoint; adding 2^-80 puts the exact
    # value just above it (just below, negated). Rounded to float64 first it is the midpoint,
    # which float32 rounds to even, the wrong way: the naive emulation fails here.
    a = np.float32(1 + 2.0**-12)
    for sign in (1, -1):
        args = (np.float32(sign * a), a, np.float32(sign * 2.0**-80))
        a_, b_, c_ = (Fraction(float(v)) for v in args)
        want = _round_to_f32(a_ * b_ + c_)
        naive = np.float32(np.float64(args[0]) * np.float64(args[1]) + np.float64(args[2]))
        assert naive != want
        got = tm._fma32(*(torch.tensor([v]) for v in args)).numpy()[0]
        assert got.view(np.uint32) == want.view(np.uint32)


@FEW
@given(data=st.data())
def test_top_k_ties_infinities_and_signed_zeros(data):
    dtype = data.draw(st.sampled_from(DTYPES))
    values = st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, np.inf, -np.inf])
    scores = np.array(data.draw(st.lists(values, min_size=1, max_size=300)), dtype=dtype)
    k = data.draw(st.integers(1, len(scores)))
    got, want = both("top_k", scores, k)
    assert_array_equal(got[0], want[0])
    assert_array_equal(got[1], want[1])
    assert_array_equal(np.signbit(got[1]), np.signbit(want[1]))


def test_top_k_of_many_equal_scores_takes_the_lowest_rows():
    idx, _ = twin("top_k", np.ones(50_000, dtype=np.float32), 5)
    assert_array_equal(idx, np.arange(5))


@pytest.mark.parametrize("measure", ["consensus_entropy", "max_disagreement", "mean_std"])
@FEW
@given(probs=random_probs(members=3), data=st.data())
def test_committee_matches_rust(measure, probs, data):
    k = data.draw(st.integers(1, probs.shape[1]))
    (idx, top), (r_idx, _) = both("committee_top_k", probs, measure, k)
    ref = _kernels.committee_scores(probs, measure).astype(np.float64)
    atol = 1e-5 if probs.dtype == np.float32 else 1e-12
    if probs.dtype == np.float32:
        assert_same_selection(idx, r_idx, ref, atol)
    else:
        assert_array_equal(idx, r_idx)
    assert_allclose(top, ref[idx], atol=atol, rtol=0)
    assert_allclose(twin("committee_scores", probs, measure), ref, atol=atol, rtol=0)


@pytest.mark.parametrize("measure", ["vote_entropy", "variation_ratio"])
@FEW
@given(data=st.data())
def test_votes_are_bit_identical(measure, data):
    rng = _rng(data.draw)
    m, n = data.draw(st.integers(2, 12)), data.draw(st.integers(1, 200))
    c = data.draw(st.integers(1, 6))
    votes = rng.randint(c, size=(m, n)).astype(data.draw(st.sampled_from([np.int64, np.uint8])))
    scores, ref = both("vote_scores", votes, c, measure)
    assert scores.dtype == np.float64
    assert_array_equal(scores.view(np.int64), ref.view(np.int64))
    k = data.draw(st.integers(1, n))
    got, want = both("vote_top_k", votes, c, measure, k)
    assert_array_equal(got[0], want[0])
    assert_array_equal(got[1], want[1])


@st.composite
def label_probs(draw):
    """Per-label probabilities: continuous values, the edges (0, 1, 0.5, subnormal, 1 - eps)
    and duplicated rows (ties); one label or many."""
    rng = _rng(draw)
    dtype = draw(st.sampled_from(DTYPES))
    n, n_labels = draw(st.integers(1, 120)), draw(st.sampled_from([1, 2, 5, 17, 40]))
    info = np.finfo(dtype)
    edges = np.array([0.0, 1.0, 0.5, info.smallest_subnormal, 1 - info.epsneg], dtype=dtype)
    base = rng.uniform(size=(draw(st.integers(1, n)), n_labels)).astype(dtype)
    mask = rng.rand(*base.shape) < 0.2
    base[mask] = edges[rng.randint(len(edges), size=mask.sum())]
    return base[rng.randint(len(base), size=n)]


@pytest.mark.parametrize("measure", list(_kernels.MULTILABEL_MEASURES))
@FEW
@given(probs=label_probs(), data=st.data())
def test_multilabel_is_bit_identical(measure, probs, data):
    # Each label's term is Rust's (the same logarithm) and the labels are added in Rust's
    # order, so scores and selections agree bit for bit, on random data too.
    scores, ref = both("multilabel_scores", probs, measure)
    assert scores.dtype == ref.dtype == probs.dtype
    assert_array_equal(scores.view(np.uint8), ref.view(np.uint8))
    k = data.draw(st.integers(1, len(probs)))
    got, want = both("multilabel_top_k", probs, measure, k)
    assert_array_equal(got[0], want[0])
    assert_array_equal(got[1].view(np.uint8), want[1].view(np.uint8))
    assert got[0].dtype == want[0].dtype


def test_multilabel_empty_pool_on_both_backends():
    for dtype in DTYPES:
        got, want = both("multilabel_scores", np.zeros((0, 3), dtype), "mean_entropy")
        assert got.shape == want.shape == (0,) and got.dtype == want.dtype == dtype


# --------------------------------------------------------------------------------------------
# Distances


@FEW
@given(X=grid_points(), data=st.data())
def test_kcenter_exact_on_a_grid(X, data):
    n = len(X)
    m = data.draw(st.integers(0, 4))
    C = data.draw(grid_points(min_rows=m, max_rows=m, dtype=X.dtype)) if m else X[:0]
    C = C[:, : X.shape[1]] if C.shape[1] >= X.shape[1] else np.zeros((m, X.shape[1]), X.dtype)
    k = data.draw(st.integers(1, n))
    first = None if m else data.draw(st.integers(0, n - 1))
    (idx, dist, n_eval), (r_idx, r_dist, _) = both(
        "kcenter_greedy", X, C, k, first=first, return_n_evaluations=True
    )
    assert_array_equal(idx, r_idx)
    assert_array_equal(dist, r_dist)
    assert n_eval == (n * m + n * (k - 1) if m else n + n * max(k - 2, 0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_kcenter_and_min_distances_on_random_data(dtype):
    rng = np.random.RandomState(0)
    X, C = rng.randn(400, 7).astype(dtype), rng.randn(5, 7).astype(dtype)
    for metric in ("euclidean", "cosine"):
        (idx, dist), (r_idx, r_dist) = both("kcenter_greedy", X, C, 40, metric=metric)
        assert_array_equal(idx, r_idx)
        assert_allclose(dist, r_dist, rtol=1e-6 if dtype == np.float32 else 1e-12)
        (d, arg), (r_d, r_arg) = both("min_distances", X, C, metric=metric)
        assert_array_equal(arg, r_arg)
        assert_allclose(d, r_d, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-12)


@FEW
@given(X=grid_points(min_rows=1), data=st.data())
def test_min_distances_exact_on_a_grid(X, data):
    C = X[data.draw(st.lists(st.integers(0, len(X) - 1), min_size=1, max_size=8))]
    (d, arg), (r_d, r_arg) = both("min_distances", X, C)
    assert_array_equal(arg, r_arg)  # duplicated centres: the lowest index
    assert_array_equal(d, r_d)


@FEW
@given(X=grid_points(min_rows=1), data=st.data())
def test_kmeans_plusplus_same_stream_and_draws(X, data):
    k = data.draw(st.integers(1, len(X)))
    seed = data.draw(st.integers(0, 2**31 - 1))
    got, want = both("kmeans_plusplus", X, k, random_state=seed)
    assert_array_equal(got, want)


def test_kmeans_plusplus_on_random_data_and_duplicates():
    rng = np.random.RandomState(1)
    X = rng.randn(500, 4)
    for seed in range(5):
        assert_array_equal(*both("kmeans_plusplus", X, 25, random_state=seed))
    zeros = np.zeros((6, 2), dtype=np.float32)  # no mass after the first pick
    assert_array_equal(*both("kmeans_plusplus", zeros, 6, random_state=3))


@FEW
@given(H=grid_points(min_rows=1), data=st.data())
def test_kmeans_plusplus_outer_same_draws(H, data):
    rng = _rng(data.draw)
    A = rng.randint(-3, 4, size=(len(H), data.draw(st.integers(1, 5)))).astype(np.float64)
    A[: len(A) // 2] = A[len(A) // 2 : 2 * (len(A) // 2)] * 2  # scaled duplicates
    k = data.draw(st.integers(1, len(H)))
    seed = data.draw(st.integers(0, 2**31 - 1))
    intercept = data.draw(st.booleans())
    got, want = both("kmeans_plusplus_outer", A, H, k, intercept=intercept, random_state=seed)
    assert_array_equal(got, want)


@FEW
@given(X=grid_points(min_rows=2, max_rows=150), data=st.data())
def test_knn_exact_on_a_grid(X, data):
    k = data.draw(st.integers(1, len(X) - 1))
    got, want = both("knn", X, k)
    assert_array_equal(got[0], want[0])  # duplicates of a row: neighbours, lowest first
    assert_array_equal(got[1], want[1])
    assert got[1].dtype == X.dtype
    density, ref = both("knn_density", X, k)
    assert_array_equal(density, ref)
    queries = data.draw(grid_points(min_rows=1, max_rows=20, dtype=X.dtype))
    if queries.shape[1] == X.shape[1]:
        k = data.draw(st.integers(1, len(X)))
        got, want = both("knn", queries, k, X_ref=X)
        assert_array_equal(got[0], want[0])
        assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_neighbours_on_random_data(dtype):
    rng = np.random.RandomState(2)
    # More rows than one reference block on CPU, so that blocks are merged.
    X = rng.randn(1500, 6).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for metric in ("euclidean", "cosine"):
        (idx, dist), (r_idx, r_dist) = both("knn", X, 5, metric=metric)
        assert_array_equal(idx, r_idx)
        assert_allclose(dist, r_dist, rtol=rtol, atol=rtol)
        assert_allclose(twin("knn_density", X, 5, metric=metric),
                        _kernels.knn_density(X, 5, metric=metric), rtol=rtol)
    assert_allclose(*both("mean_cosine_similarity", X), rtol=rtol, atol=rtol)


# --------------------------------------------------------------------------------------------
# Bad input: one rule set, the same error on both backends

F32 = np.float32
# (kernel, args, kwargs, exception, message). The argument rules and shapes are checked once, by
# activekit._kernel_checks, before either backend runs; the data checks are the kernels' own
# (Rust, and the twins with Rust's messages). Every message is the one activekit._kernels has
# always given.
BAD = [
    ("uncertainty_scores", ([[0.5, 0.5], [np.nan, 1.0]], "margin"), {}, ValueError, "probability row 1 contains NaN or infinite values"),
    ("uncertainty_scores", ([[0.5, 0.5], [-0.25, 1.25]], "entropy"), {}, ValueError, "probability row 1 has a negative probability (-0.25)"),
    ("uncertainty_scores", ([[0.5, 0.5], [0.25, 0.25]], "least_confident"), {}, ValueError, "probability row 1 sums to 0.5, not 1 (tolerance 0.000001)"),
    ("uncertainty_scores", (np.array([[0.25, 0.25]], F32), "margin"), {}, ValueError, "probability row 0 sums to 0.5, not 1 (tolerance 0.0001)"),
    ("uncertainty_scores", (np.ones((3, 1)), "margin"), {}, ValueError, "an uncertainty score (one column per class) needs at least 2 columns, got 1"),
    ("uncertainty_scores", (np.ones((0, 3)), "margin"), {}, ValueError, "the probability matrix is empty: it has no rows"),
    ("uncertainty_scores", (np.ones((2, 2, 2)), "margin"), {}, ValueError, "probs must be a 2-D array, got shape (2, 2, 2)"),
    ("uncertainty_scores", (np.ones((2, 2), complex), "margin"), {}, TypeError, "probs must hold real numbers, got dtype complex128"),
    ("uncertainty_scores", ([[0.5, 0.5]], "bogus"), {}, ValueError, "measure must be one of ['entropy', 'least_confident', 'margin'], got 'bogus'"),
    ("uncertainty_scores", ([[0.5, 0.5]], "margin"), {"n_jobs": 0}, ValueError, "n_jobs must be None or a non-zero integer, got 0"),
    ("uncertainty_top_k", ([[0.5, 0.5]], "margin", 2), {}, ValueError, "k must be between 1 and the number of rows (1), got 2"),
    ("top_k", ([0.5, 1.0, np.nan, np.nan], 1), {}, ValueError, "score at index 2 is NaN and cannot be ranked"),
    ("top_k", ([0.5], 0), {}, ValueError, "k must be between 1 and the number of rows (1), got 0"),
    ("committee_scores", (np.full((1, 2, 2), 0.5), "max_disagreement"), {}, ValueError, "a committee needs at least 2 members, got 1"),
    ("committee_scores", ([[[0.5, 0.5]], [[0.25, 0.25]]], "consensus_entropy"), {}, ValueError, "probability row 0 of committee member 1 sums to 0.5, not 1 (tolerance 0.000001)"),
    ("committee_top_k", ([[[0.5, 0.5], [1, 0]], [[0.5, 0.5], [-1, 2]]], "max_disagreement", 1), {}, ValueError, "probability row 1 of committee member 1 has a negative probability (-1)"),
    ("committee_scores", (np.ones((2, 3, 1)), "consensus_entropy"), {}, ValueError, "a committee disagreement (one column per class) needs at least 2 columns, got 1"),
    ("committee_scores", (np.ones((2, 0, 2)), "consensus_entropy"), {}, ValueError, "the committee's probability array is empty: it has no rows"),
    ("multilabel_scores", ([[0.5, 0.5], [0.25, np.nan]], "mean_entropy"), {}, ValueError, "probability row 1 has NaN in column 1, not a probability in [0, 1]"),
    ("multilabel_scores", (np.array([[0.5, 1.5]], F32), "max_loss"), {}, ValueError, "probability row 0 has 1.5 in column 1, not a probability in [0, 1]"),
    ("multilabel_top_k", ([[0.5, 0.5], [-0.25, 2.0]], "binary_minimization", 1), {}, ValueError, "probability row 1 has -0.25 in column 0, not a probability in [0, 1]"),
    ("multilabel_scores", (np.ones((3, 0)), "max_entropy"), {}, ValueError, "the probability matrix needs at least 1 columns, got 0"),
    ("multilabel_scores", (np.ones((2, 2, 2)), "max_loss"), {}, ValueError, "probs must be a 2-D array, got shape (2, 2, 2)"),
    ("multilabel_scores", ([[0.5]], "entropy"), {}, ValueError, "measure must be one of ['binary_minimization', 'max_entropy', 'max_loss', 'mean_entropy', 'mean_max_loss'], got 'entropy'"),
    ("multilabel_top_k", (np.ones((0, 2)), "mean_max_loss", 1), {}, ValueError, "k must be between 1 and the number of rows (0), got 1"),
    ("multilabel_top_k", (np.ones((3, 0)), "mean_max_loss", 1), {"n_jobs": 0}, ValueError, "n_jobs must be None or a non-zero integer, got 0"),
    ("vote_scores", ([[0, 1, 2], [0, 3, 1]], 3, "vote_entropy"), {}, ValueError, "vote of committee member 1 at row 1 is 3, not a class index in 0..3"),
    ("vote_scores", ([[0, 1, 2], [0, -1, 5]], 3, "vote_entropy"), {}, ValueError, "vote of committee member 1 at row 1 is -1, not a class index in 0..3"),
    ("vote_scores", ([[0, 1]], 3, "variation_ratio"), {}, ValueError, "a committee needs at least 2 members, got 1"),
    ("vote_scores", (np.zeros((2, 0), int), 3, "variation_ratio"), {}, ValueError, "the committee's vote array is empty: it has no rows"),
    ("vote_scores", ([[0.0, 1.0], [1.0, 0.0]], 3, "variation_ratio"), {}, TypeError, "votes must hold integer class indices, got dtype float64"),
    ("vote_scores", ([[0, 1], [1, 0]], 0, "variation_ratio"), {}, ValueError, "n_classes must be at least 1, got 0"),
    ("vote_top_k", ([[0, 1], [1, 0]], 2, "vote_entropy", 3), {}, ValueError, "k must be between 1 and the number of rows (2), got 3"),
    ("kcenter_greedy", (np.ones((4, 2)), np.ones((1, 3)), 2), {}, ValueError, "X_centers has 3 columns but X_pool has 2"),
    ("kcenter_greedy", (np.ones((4, 2)), np.ones((0, 2)), 2), {}, ValueError, "first must be given when X_centers has no rows (draw it from your random_state)"),
    ("kcenter_greedy", (np.ones((4, 2)), np.ones((0, 2)), 2), {"first": 4}, ValueError, "first must be a row index below the number of pool rows (4), got 4"),
    ("kcenter_greedy", (np.ones((4, 2)), np.ones((1, 2)), 2), {"first": 0}, ValueError, "first must be None when there are centres (1 rows): the first pick is then the farthest row"),
    ("kcenter_greedy", ([[0, 0], [np.nan, 1]], np.ones((1, 2)), 1), {}, ValueError, "X_pool row 1 contains NaN or infinity"),
    ("kcenter_greedy", ([[1, 0], [0, 0]], np.ones((1, 2)), 1), {"metric": "cosine"}, ValueError, "X_pool row 1 has zero length; the cosine distance is undefined for it"),
    ("kcenter_greedy", (np.ones((4, 2)), np.ones((1, 2)), 5), {}, ValueError, "k must be between 1 and the number of rows (4), got 5"),
    ("min_distances", (np.ones((4, 2)), np.ones((0, 2))), {}, ValueError, "C is empty: it has no rows"),
    ("min_distances", (np.ones((4, 2)), [[1, np.inf]]), {}, ValueError, "C row 0 contains NaN or infinity"),
    ("kmeans_plusplus", ([[0, 0], [1, 1], [np.inf, 0]], 2), {}, ValueError, "X row 2 contains NaN or infinity"),
    ("kmeans_plusplus", (np.ones((3, 2)), 4), {}, ValueError, "k must be between 1 and the number of rows (3), got 4"),
    ("kmeans_plusplus_outer", (np.ones((3, 2)), np.ones((4, 2)), 1), {}, ValueError, "H has 4 rows but A has 3; they must match"),
    ("kmeans_plusplus_outer", (np.ones((3, 2)), np.ones((3, 2)), 4), {}, ValueError, "k must be between 1 and the number of rows (3), got 4"),
    ("kmeans_plusplus_outer", ([[1.0], [np.nan]], np.ones((2, 2)), 1), {}, ValueError, "A row 1 contains NaN or infinity"),
    ("kmeans_plusplus_outer", (np.ones((2, 1)), [[0.0], [np.inf]], 1), {}, ValueError, "H row 1 contains NaN or infinity"),
    ("kmeans_plusplus_outer", (np.ones((2, 1)), [[0.0], [1e200]], 1), {}, ValueError, "H row 1 is too large: its squared norm overflows the float type"),
    ("knn", (np.ones((3, 2)), 3), {}, ValueError, "k must be between 1 and the number of rows of X minus one (2), got 3"),
    ("knn", ([[0, 0], [1, np.nan], [1, 1]], 1), {}, ValueError, "X row 1 contains NaN or infinity"),
    ("knn", ([[0, 0], [1, 1]], 1), {"metric": "cosine"}, ValueError, "X row 0 is all zeros, so its cosine distance is undefined"),
    ("knn", ([[0, 1e300], [1, 1]], 1), {}, ValueError, "X row 0 is too large: its squared norm overflows the float type"),
    ("knn", (np.ones((3, 0)), 1), {}, ValueError, "X needs at least 1 columns, got 0"),
    ("knn", (np.ones((3, 2)), 1), {"X_ref": np.ones((3, 3))}, ValueError, "X_ref has 3 columns but X has 2; they must match"),
    ("knn", (np.ones((3, 2)), 4), {"X_ref": np.ones((3, 2))}, ValueError, "k must be between 1 and the number of rows of X_ref (3), got 4"),
    ("knn", (np.ones((3, 2)), 1), {"X_ref": [[1.0, 0.0], [0.0, 0.0]], "metric": "cosine"}, ValueError, "X_ref row 1 is all zeros, so its cosine distance is undefined"),
    ("knn_density", (np.ones((3, 2)), 0), {}, ValueError, "k must be between 1 and the number of rows of X minus one (2), got 0"),
    ("mean_cosine_similarity", ([[1, 0], [0, 0]],), {}, ValueError, "X row 1 is all zeros, so its cosine distance is undefined"),
    ("mean_cosine_similarity", (np.ones((0, 2)),), {}, ValueError, "X is empty: it has no rows"),
    ("mean_cosine_similarity", ([[1, 0], [np.nan, 0]],), {}, ValueError, "X row 1 contains NaN or infinity"),
    # Rules that hold on every path: cosine rows are checked for NaN before zero length, rows
    # whose squares overflow keep their direction, n_jobs is checked before the shapes.
    ("kcenter_greedy", ([[0, 0], [np.nan, 1]], [[1, 1]], 1), {"metric": "cosine"}, ValueError, "X_pool row 1 contains NaN or infinity"),
    ("min_distances", (np.ones((3, 0)), np.ones((1, 0))), {"metric": "cosine"}, ValueError, "X row 0 has zero length; the cosine distance is undefined for it"),
    ("kcenter_greedy", (np.ones((4, 2)), np.ones((1, 2)), 2), {"first": 9}, ValueError, "first must be a row index below the number of pool rows (4), got 9"),
    ("kcenter_greedy", (np.ones((4, 2)), np.ones((1, 2)), 2), {"first": True}, TypeError, "first must be None or an integer, got bool"),
    ("committee_scores", (np.ones((2, 3, 1)), "mean_std"), {"n_jobs": 0}, ValueError, "n_jobs must be None or a non-zero integer, got 0"),
    ("vote_scores", ([[0, 1]], 3, "vote_entropy"), {"n_jobs": 1.5}, ValueError, "n_jobs must be None or a non-zero integer, got 1.5"),
    ("vote_scores", ([[0, 1], [1, 0]], 2**64, "vote_entropy"), {}, ValueError, "n_classes must be at most 2**63 - 1, got 18446744073709551616"),
    ("vote_top_k", ([[0, 1], [1, 0]], 2, "vote_entropy", 1.0), {}, TypeError, "k must be an integer, got float 1.0"),
    ("knn_density", (np.ones((3, 0)), 1), {}, ValueError, "X needs at least 1 columns, got 0"),
    ("knn", (np.ones((0, 2)), 1), {"X_ref": np.ones((0, 2))}, ValueError, "X is empty: it has no rows"),
    ("knn", (np.ones((3, 2)), 1), {"metric": "manhattan"}, ValueError, "metric must be one of ['cosine', 'euclidean'], got 'manhattan'"),
    ("mean_cosine_similarity", (np.ones((3, 0)),), {}, ValueError, "X needs at least 1 columns, got 0"),
    ("kmeans_plusplus_outer", (np.ones((3, 1)), np.ones((3, 1)), 2), {"intercept": 1}, TypeError, "intercept must be a bool, got int 1"),
    ("committee_top_k", (np.ones((1, 0, 1)), "mean_std", 1), {}, ValueError, "k must be between 1 and the number of rows (0), got 1"),
]


@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "error", "message"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_input_gets_the_same_error_on_both_backends(fn, args, kwargs, error, message):
    with pytest.raises(error) as rust:
        getattr(_kernels, fn)(*args, **kwargs)
    assert str(rust.value) == message
    with pytest.raises(error) as torch_path:
        twin(fn, *args, **kwargs)
    assert str(torch_path.value) == message
    # The same input as a CPU tensor (torch path inside the scope, Rust path outside it).
    first = np.asarray(args[0])
    if first.dtype.kind in "biuf":
        tensor_args = (torch.as_tensor(first), *args[1:])
        for run in (twin, lambda fn, *a, **kw: getattr(_kernels, fn)(*a, **kw)):
            with pytest.raises(error) as from_tensor:
                run(fn, *tensor_args, **kwargs)
            assert str(from_tensor.value) == message


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "error", "message"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_input_gets_the_same_error_on_cuda(fn, args, kwargs, error, message):
    with _device.torch_scope("cuda"), pytest.raises(error) as in_scope:
        getattr(_kernels, fn)(*args, **kwargs)
    assert str(in_scope.value) == message
    first = np.asarray(args[0])
    if first.dtype.kind in "biuf":
        with pytest.raises(error) as from_tensor:
            getattr(_kernels, fn)(torch.as_tensor(first, device="cuda"), *args[1:], **kwargs)
        assert str(from_tensor.value) == message


def test_reversed_rows_move_to_the_device():
    # A C-contiguous array with a reversed axis of length 1 has a negative stride, which
    # torch.from_numpy refuses: the torch backend copies it first.
    probs = np.array([[0.25, 0.75]])[::-1]
    assert probs.strides[0] < 0
    assert_array_equal(twin("uncertainty_scores", probs, "margin"),
                       _kernels.uncertainty_scores(probs, "margin"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_unit_rows_agree_on_both_backends(dtype):
    rng = np.random.RandomState(4)
    X = rng.randn(300, 5).astype(dtype)
    big = np.finfo(dtype).max / 4
    X[:3] = [[big, big, 0, 0, 1], [np.finfo(dtype).smallest_subnormal, 0, 0, 0, 0], [-1, 0, 0, 0, 0]]
    want = _backends.RUST.unit_rows(X, "X")
    with _device.torch_scope("cpu"):
        backend = _device.route(X)
        got = backend.unit_rows(backend.as_float(X, "X", 2), "X").numpy()
    assert got.dtype == want.dtype == dtype
    assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps, atol=0)
    assert_allclose(want[:3], [[np.sqrt(0.5), np.sqrt(0.5), 0, 0, 0], [1, 0, 0, 0, 0],
                               [-1, 0, 0, 0, 0]], rtol=1e-6, atol=1e-30)


# --------------------------------------------------------------------------------------------
# Dispatch


def test_cpu_tensors_go_to_rust(monkeypatch):
    calls = []
    monkeypatch.setattr(_native, "top_k", lambda *a: calls.append(a) or (0, 0))
    _kernels.top_k(torch.tensor([0.1, 0.7, 0.7], requires_grad=True), 2, n_jobs=1)
    (scores, k, threads), = calls
    assert isinstance(scores, np.ndarray) and scores.dtype == np.float32
    assert (k, threads) == (2, 1)


def test_scope_runs_the_twins_and_returns_numpy(monkeypatch):
    def boom(*args):
        raise AssertionError("Rust ran")

    monkeypatch.setattr(_native, "uncertainty_top_k", boom)
    with _device.torch_scope("cpu") as scope:
        idx, scores = _kernels.uncertainty_top_k(np.array([[0.9, 0.1], [0.5, 0.5]]), "margin", 1)
    assert isinstance(idx, np.ndarray) and idx.dtype == np.intp and idx.tolist() == [1]
    assert isinstance(scores, np.ndarray) and scores.dtype == np.float64
    assert scope.moves == [((2, 2), "float64")]


def test_routes():
    assert _device.route(np.ones(3), torch.ones(3)) is _backends.RUST  # CPU tensors: Rust
    meta = torch.empty(3, device="meta")
    r = _device.route(np.ones(3), meta)
    assert isinstance(r, _backends.TorchBackend)
    assert r.device.type == "meta" and not r.to_numpy and r.scope is None
    with _device.torch_scope("cpu") as scope:
        r = _device.route(np.ones(3))
        assert r.device.type == "cpu" and r.to_numpy and r.scope is scope
    assert _device.route(np.ones(3)) is _backends.RUST


def test_both_backends_offer_one_interface():
    methods = {"as_float", "as_votes", "unit_rows", "to_f64", "call"}
    torch_backend = _backends.TorchBackend(torch.device("cpu"), None, to_numpy=True)
    for backend in (_backends.RUST, torch_backend):
        assert methods <= {m for m in dir(backend) if not m.startswith("_")}
    X = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    for backend in (_backends.RUST, torch_backend):
        x = backend.as_float(X, "X", 2)
        assert str(x.dtype).endswith("float32") and tuple(x.shape) == (3, 2)
        assert str(backend.to_f64(x).dtype).endswith("float64")
        v = backend.as_votes(np.array([[0, 1], [1, 1]], np.uint8), 2)
        assert str(v.dtype).endswith("int64")
        idx, vals = backend.call("top_k", backend.as_float([3.0, 1.0, 2.0], "s", 1), 2, threads=1)
        assert np.asarray(idx).tolist() == [0, 2] and np.asarray(vals).tolist() == [3.0, 2.0]


def test_a_matrix_of_rows_moves_once_per_scope():
    rng = np.random.RandomState(0)
    X, C = rng.randn(50, 3), rng.randn(4, 3).astype(np.float32)
    probs = np.full((50, 2), 0.5)
    with _device.torch_scope("cpu") as scope:
        _kernels.kcenter_greedy(X, C, 3)
        _kernels.min_distances(X, C, metric="cosine")
        _kernels.knn(X, 2)
        _kernels.knn_density(X, 2)
        _kernels.kmeans_plusplus(X, 2, random_state=0)
        _kernels.knn(C, 1, X_ref=X)
        # Scores and probabilities move on every call: strategies may rewrite them in place.
        _kernels.uncertainty_scores(probs, "margin")
        _kernels.uncertainty_scores(probs, "margin")
        _kernels.min_distances(X.copy(), C)  # another array: moves again
    assert scope.moves == [
        ((50, 3), "float64"), ((4, 3), "float32"), ((50, 2), "float64"), ((50, 2), "float64"),
        ((50, 3), "float64"),
    ]
    with _device.torch_scope("cpu") as scope:
        _kernels.knn(X, 2)
        _kernels.knn(torch.as_tensor(X), 2)  # already on the scope's device
    assert scope.moves == [((50, 3), "float64")]


# --------------------------------------------------------------------------------------------
# The learner's device


def test_check_device_names_what_is_wrong(monkeypatch):
    for bad in ("gpu", "cuda:", "cuda:x", "CUDA", "cuda:0:1"):
        with pytest.raises(ValueError, match=r"device must be 'cpu', 'cuda' or 'cuda:N'"):
            _device.check_device(bad)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device='cuda:0' needs a CUDA device, but "
                       r"torch.cuda.is_available\(\) is False"):
        _device.check_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    _device.check_device("cuda")
    _device.check_device("cuda:1")
    with pytest.raises(ValueError, match=r"device='cuda:2' is out of range: torch sees 2 CUDA "
                       r"device\(s\), cuda:0 to cuda:1"):
        _device.check_device("cuda:2")


def test_check_device_without_torch_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r'pip install "activekit\[torch\]"'):
        _device.check_device("cuda")
    _device.check_device("cpu")  # needs no torch


class Spy(RandomSampling):
    def select(self, learner, X_pool, n_instances, random_state=None):
        raise AssertionError("the strategy ran")


def test_learner_checks_its_device_at_fit_and_query_before_any_work(digits, monkeypatch):
    X, y = digits
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    learner = ActiveLearningClassifier(query_strategy=Spy(), device="cuda")
    with pytest.raises(ValueError, match="device='cuda' needs a CUDA device"):
        learner.fit(X[:50], y[:50])
    assert not hasattr(learner, "estimator_")
    learner.set_params(device="cpu").fit(X[:50], y[:50])
    learner.set_params(device="cuda:0")
    with pytest.raises(ValueError, match="device='cuda:0' needs a CUDA device"):
        learner.query(X[50:])


LEARNER_STRATEGIES = [
    "least_confident", "margin", "entropy", "vote_entropy", "consensus_entropy",
    "max_disagreement", "variation_ratio", "coreset", "ranked_batch", "information_density",
    "bald", "mean_std",
]


@pytest.mark.parametrize("strategy", LEARNER_STRATEGIES)
def test_learner_query_on_the_torch_path_selects_like_rust(digits, strategy):
    X, y = digits
    pool = X[200:1200]
    # Votes are scored bit for bit alike: committees of seeded trees, quick to fit, whose
    # rows in the same leaves tie exactly. Probability measures get logistic regressions:
    # saturated or piecewise-constant probabilities would make mean distributions that are
    # permutations of each other, equal entropies that two summation orders round apart (the
    # last-bit near-ties the twins may break the other way).
    estimator, query_strategy = None, get_strategy(strategy)
    if strategy in ("vote_entropy", "variation_ratio"):
        estimator = DecisionTreeClassifier(max_depth=6, random_state=0)
    elif strategy in ("consensus_entropy", "max_disagreement", "bald", "mean_std"):
        query_strategy.set_params(n_members=3)
    learner = ActiveLearningClassifier(estimator, query_strategy=query_strategy, random_state=0)
    learner.fit(X[:200], y[:200])
    want, want_scores = learner.query(pool, n_instances=12, return_scores=True)
    learner.set_params(device="cuda")  # the same model and committee, another device
    with _device._target_for_testing("cpu") as scopes:
        got, scores = learner.query(pool, n_instances=12, return_scores=True)
    assert_array_equal(got, want)
    assert_allclose(scores, want_scores, rtol=1e-9, atol=1e-12)
    assert len(scopes) == 1 and scopes[0].moves  # the kernels ran on torch
    if strategy in ("coreset", "ranked_batch", "information_density"):
        # The pool moved once, though ranked batch measures distances to it once per pick.
        assert [m for m in scopes[0].moves if m[0] == pool.shape] == [(pool.shape, "float64")]


def test_simulation_on_the_torch_path_acquires_like_rust(digits):
    X, y = digits
    cpu = ActiveLearningClassifier(query_strategy="ranked_batch", budget=40, batch_size=10,
                                   random_state=0).fit(X[:600], y[:600])
    with _device._target_for_testing("cpu") as scopes:
        torch_path = clone(cpu).set_params(device="cuda").fit(X[:600], y[:600])
    assert_array_equal(torch_path.labeled_indices_, cpu.labeled_indices_)
    assert len(scopes) == cpu.n_queries_ == 3


# --------------------------------------------------------------------------------------------
# The benchmark script


def test_bench_gpu_smoke_run(capsys):
    path = pathlib.Path(__file__).parents[1] / "benches" / "bench_gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    if not CUDA:
        assert "no CUDA device: running the reduced smoke version on CPU tensors" in out
    assert "read bandwidth:" in out
    for measure in ("least_confident", "margin", "entropy"):
        assert f"| {measure} | 2e+04 | 100 |" in out
    assert out.count("| identical |") == 4


# --------------------------------------------------------------------------------------------
# On a CUDA device (skipped without one)


def cuda_data(dtype):
    rng = np.random.RandomState(3)
    probs = rng.dirichlet(np.ones(10), size=3000).astype(dtype)
    X = rng.randint(-3, 4, size=(2000, 8)).astype(dtype)  # a grid: exact distances
    return probs, X


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_tensors_stay_on_the_device_and_select_like_rust(dtype):
    probs, X = cuda_data(dtype)
    dev = torch.device("cuda")
    tp, tX = torch.as_tensor(probs, device=dev), torch.as_tensor(X, device=dev)
    for measure in ("least_confident", "margin"):
        idx, scores = _kernels.uncertainty_top_k(tp, measure, 50)
        assert idx.device.type == "cuda" and idx.dtype == torch.int64
        assert scores.dtype == tp.dtype
        r_idx, r_scores = _kernels.uncertainty_top_k(probs, measure, 50)
        assert_array_equal(idx.cpu().numpy(), r_idx)
        assert_array_equal(scores.cpu().numpy(), r_scores)
    idx, dist = _kernels.kcenter_greedy(tX, X[:3], 30)  # NumPy centres follow the tensor
    assert idx.device.type == dist.device.type == "cuda" and dist.dtype == torch.float64
    r_idx, r_dist = _kernels.kcenter_greedy(X, X[:3], 30)
    assert_array_equal(idx.cpu().numpy(), r_idx)
    assert_array_equal(dist.cpu().numpy(), r_dist)
    nn_idx, nn_dist = _kernels.knn(tX, 5)
    r_idx, r_dist = _kernels.knn(X, 5)
    assert_array_equal(nn_idx.cpu().numpy(), r_idx)
    assert_array_equal(nn_dist.cpu().numpy(), r_dist)
    assert_array_equal(_kernels.kmeans_plusplus(tX, 20, random_state=5).cpu().numpy(),
                       _kernels.kmeans_plusplus(X, 20, random_state=5))
    votes = np.random.RandomState(6).randint(4, size=(7, 500))
    got = _kernels.vote_top_k(torch.as_tensor(votes, device=dev), 4, "vote_entropy", 40)
    assert_array_equal(got[0].cpu().numpy(), _kernels.vote_top_k(votes, 4, "vote_entropy", 40)[0])


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_entropy_terms_are_rusts_bits(dtype):
    probs = two_class_rows(dtype)
    got = _kernels.uncertainty_scores(torch.as_tensor(probs, device="cuda"), "entropy")
    want = _kernels.uncertainty_scores(probs, "entropy")
    assert_array_equal(got.cpu().numpy().view(np.uint8), want.view(np.uint8))


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("strategy", ["margin", "vote_entropy", "coreset", "ranked_batch"])
def test_cuda_learner_selects_like_cpu(digits, strategy):
    X, y = digits
    cpu = ActiveLearningClassifier(query_strategy=strategy, random_state=0).fit(X[:200], y[:200])
    gpu = clone(cpu).set_params(device="cuda").fit(X[:200], y[:200])
    assert_array_equal(gpu.query(X[200:]), cpu.query(X[200:]))

