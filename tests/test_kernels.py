"""The Rust kernels against NumPy references: known answers, properties, bad input."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose

from activekit import _kernels
from support.reference import assert_valid_top_k
from support.reference import top_k as ref_top_k
from support.reference import uncertainty_scores as ref_scores

MEASURES = ["least_confident", "margin", "entropy"]
ATOL = {np.float32: 2e-5, np.float64: 1e-12}


def tolerance(measure, dtype):
    """``(atol, rtol)`` of the kernel's scores against the float64 reference.

    Least confident and margin round once or twice near 1: ``ATOL``. An entropy adds terms
    ``p ln p`` of one sign (each within 4 ulp: the logarithm's 3.34 ulp in float32, 1 in float64,
    and the product's rounding),
    each through at most 15 additions for the widths drawn here (fewer than 16 classes: in
    order; more: in 16 lanes, then pairwise), so its error is at most about 10 eps relative to
    the entropy itself (16 eps allows for that; seen: under 3). ``atol`` covers subnormal
    ``p``, whose terms the kernel counts as 0.
    """
    if measure != "entropy":
        return ATOL[dtype], 0.0
    eps = float(np.finfo(dtype).eps)
    return (1e-33 if dtype == np.float32 else 1e-300), 16 * eps


@st.composite
def prob_matrices(draw, dtype=None, distinct_rows=None):
    """Row-stochastic matrices, with duplicated rows (ties), zeros and one-hot rows."""
    dtype = dtype or draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(1, 300))
    c = draw(st.integers(2, 40))
    n_distinct = draw(st.integers(1, n)) if distinct_rows is None else distinct_rows
    raw = draw(
        hnp.arrays(
            np.float64,
            (min(n_distinct, n), c),
            elements=st.one_of(
                st.just(0.0), st.just(1.0), st.floats(0, 1, allow_subnormal=False)
            ),
        )
    )
    raw[raw.sum(axis=1) == 0, 0] = 1.0
    raw /= raw.sum(axis=1, keepdims=True)
    rows = draw(hnp.arrays(np.intp, n, elements=st.integers(0, len(raw) - 1)))
    return raw[rows].astype(dtype)


@pytest.mark.parametrize("measure", MEASURES)
@given(probs=prob_matrices())
def test_scores_match_numpy(measure, probs):
    got = _kernels.uncertainty_scores(probs, measure)
    assert got.dtype == probs.dtype
    atol, rtol = tolerance(measure, probs.dtype.type)
    assert_allclose(got, ref_scores(probs, measure), atol=atol, rtol=rtol)


@pytest.mark.parametrize("measure", MEASURES)
@given(probs=prob_matrices(), data=st.data())
def test_top_k_matches_numpy_with_ties_by_lowest_index(measure, probs, data):
    k = data.draw(st.integers(1, probs.shape[0]))
    idx, scores = _kernels.uncertainty_top_k(probs, measure, k)
    ref = ref_scores(probs, measure)
    atol, rtol = tolerance(measure, probs.dtype.type)
    # Near-ties: two scores each within the tolerance of the reference may swap.
    assert_valid_top_k(idx, ref, k, rows=probs, atol=2 * (atol + rtol * ref.max()))
    assert_allclose(scores, ref[idx], atol=atol, rtol=rtol)
    # Fused selection agrees with scoring, then selecting.
    split, _ = _kernels.top_k(_kernels.uncertainty_scores(probs, measure), k)
    np.testing.assert_array_equal(idx, split)


@pytest.mark.parametrize("measure", MEASURES)
@given(probs=prob_matrices(dtype=np.float64), n_jobs=st.sampled_from([1, 2, 3, None]))
def test_result_independent_of_threads_and_layout(measure, probs, n_jobs):
    k = min(5, len(probs))
    want = _kernels.uncertainty_top_k(probs, measure, k, n_jobs=1)
    fortran = np.asfortranarray(probs)
    strided = np.repeat(probs, 2, axis=1)[:, ::2]
    big_endian = probs.astype(probs.dtype.newbyteorder(">"))
    for variant in (probs, fortran, strided, big_endian):
        got = _kernels.uncertainty_top_k(variant, measure, k, n_jobs=n_jobs)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2049, 7000),
    c=st.integers(16, 130),
    scale=st.floats(0.3, 8.0),
    dtype=st.sampled_from([np.float32, np.float64]),
    n_jobs=st.sampled_from([1, 2, 3]),
    data=st.data(),
)
@settings(max_examples=30, deadline=None)
def test_entropy_top_k_over_several_blocks_is_the_exact_selection(
    seed, n, c, scale, dtype, n_jobs, data
):
    # Pools of more than one 2048-row block, as a model gives them (a softmax of normal
    # logits; peaked for a large scale), with ties: rows whose entropy bound is below the
    # running k-th best (in a job's first block, the k-th best lower bound) are ruled out
    # without their logarithms.
    # The selection and its scores must be those of scoring every row, then selecting.
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((n, c))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs[rng.random((n, c)) < 0.02] = 0.0
    probs /= probs.sum(axis=1, keepdims=True)
    dup = rng.integers(0, n, size=n // 50)
    probs[dup] = probs[rng.integers(0, n, size=dup.size)]
    probs = probs.astype(dtype)
    k = data.draw(st.sampled_from([1, 2, 10, 100, min(1000, n)]))
    idx, scores = _kernels.uncertainty_top_k(probs, "entropy", k, n_jobs=n_jobs)
    every = _kernels.uncertainty_scores(probs, "entropy")
    split, split_scores = _kernels.top_k(every, k)
    np.testing.assert_array_equal(idx, split)
    np.testing.assert_array_equal(scores, split_scores)
    ref = ref_scores(probs, "entropy")
    atol, rtol = tolerance("entropy", dtype)
    assert_valid_top_k(idx, ref, k, rows=probs, atol=2 * (atol + rtol * ref.max()))


def test_identical_rows_take_lowest_index_first():
    probs = np.tile([[0.6, 0.4]], (5000, 1)).astype(np.float32)
    idx, _ = _kernels.uncertainty_top_k(probs, "entropy", 7)
    np.testing.assert_array_equal(idx, np.arange(7))


@given(scores=hnp.arrays(st.sampled_from([np.float32, np.float64]), st.integers(1, 500),
                         elements=st.sampled_from([0.0, 0.5, 1.0, -2.0, 3.25])),
       data=st.data())
def test_top_k_of_scores_is_a_stable_sort(scores, data):
    k = data.draw(st.integers(1, len(scores)))
    idx, vals = _kernels.top_k(scores, k)
    np.testing.assert_array_equal(idx, ref_top_k(scores, k))
    np.testing.assert_array_equal(vals, scores[idx])


# Known answers: the mistakes these catch are the common ones.

def test_least_confident_picks_lowest_top_probability_first():
    probs = np.array([[0.95, 0.05], [0.55, 0.45], [0.7, 0.3], [0.51, 0.49]])
    idx, scores = _kernels.uncertainty_top_k(probs, "least_confident", 2)
    # Not argsort(max)[-k:], which would pick the most confident rows.
    assert idx.tolist() == [3, 1]
    assert_allclose(scores, [0.49, 0.45])


def test_margin_picks_smallest_top_two_gap_first():
    probs = np.array([[0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.34, 0.33, 0.33], [0.8, 0.1, 0.1]])
    idx, _ = _kernels.uncertainty_top_k(probs, "margin", 4)
    assert idx.tolist() == [1, 2, 0, 3]


def test_entropy_picks_highest_entropy_first():
    probs = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    idx, scores = _kernels.uncertainty_top_k(probs, "entropy", 3)
    assert idx.tolist() == [1, 2, 0]
    assert_allclose(scores, [np.log(3), np.log(2), 0.0], atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_entropy_of_uniform_rows_is_log_c(dtype):
    eps = float(np.finfo(dtype).eps)
    for c in [2, 3, 7, 15, 16, 17, 31, 100, 257]:
        p = np.full((3, c), 1 / c, dtype=dtype)
        q = float(p[0, 0])
        got = _kernels.uncertainty_scores(p, "entropy")
        assert got.dtype == dtype
        # The entropy of the stored values; within a few eps of ln c.
        assert_allclose(got, -c * q * np.log(q), rtol=16 * eps, atol=0)
        assert abs(float(got[0]) - np.log(c)) <= 16 * eps * np.log(c) + c * abs(q - 1 / c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_entropy_of_two_class_rows_over_many_decades(dtype):
    # p from the smallest normal to 1/2, and 1 - p: the logarithm over its whole range.
    tiny = float(np.finfo(dtype).tiny)
    p = np.geomspace(tiny, 0.5, 5000).astype(dtype)
    probs = np.stack([p, (1 - p.astype(np.float64)).astype(dtype)], axis=1)
    probs = probs[np.abs(probs.astype(np.float64).sum(1) - 1) <= 1e-6]
    got = _kernels.uncertainty_scores(probs, "entropy")
    eps = float(np.finfo(dtype).eps)
    assert_allclose(got, ref_scores(probs, "entropy"), rtol=8 * eps, atol=0)
    one_hot = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=dtype)
    np.testing.assert_array_equal(_kernels.uncertainty_scores(one_hot, "entropy"), [0.0, 0.0])
    assert not np.signbit(_kernels.uncertainty_scores(one_hot, "entropy")).any()


def test_float32_stays_float32_and_ints_become_float64():
    p32 = np.array([[0.25, 0.75]], dtype=np.float32)
    assert _kernels.uncertainty_scores(p32, "margin").dtype == np.float32
    assert _kernels.uncertainty_scores(np.array([[1, 0]]), "margin").dtype == np.float64
    assert _kernels.uncertainty_scores(p32.astype(np.float16), "margin").dtype == np.float64


def test_input_is_never_written():
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    p.setflags(write=False)
    _kernels.uncertainty_top_k(p, "entropy", 1)
    assert not p.flags.writeable
    assert_allclose(p, [[0.2, 0.8], [0.5, 0.5]])


# Bad input: a ValueError or TypeError naming the problem.

@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize(
    ("row", "message"),
    [
        ([np.nan, 1.0], "row 2 contains NaN"),
        ([np.inf, 0.0], "row 2 contains NaN or infinite"),
        ([-0.25, 1.25], "row 2 has a negative probability"),
        ([0.2, 0.2], "row 2 sums to 0.4"),
        ([0.7, 0.7], "row 2 sums to 1.4"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_invalid_probability_rows_name_the_row(measure, row, message, dtype):
    probs = np.array([[0.5, 0.5], [0.1, 0.9], row, [np.nan, np.nan]], dtype=dtype)
    with pytest.raises(ValueError, match=message):
        _kernels.uncertainty_top_k(probs, measure, 1)
    with pytest.raises(ValueError, match=message):
        _kernels.uncertainty_scores(probs, measure)


def test_rows_within_tolerance_are_accepted():
    probs = np.array([[0.5, 0.5 + 1e-8], [0.3, 0.7 - 1e-8]])
    assert _kernels.uncertainty_scores(probs, "margin").shape == (2,)


@pytest.mark.parametrize(
    ("probs", "k", "exc", "message"),
    [
        (np.zeros((0, 3)), 1, ValueError, r"between 1 and the number of rows \(0\)"),
        (np.ones((3, 1)), 1, ValueError, "at least 2 columns, got 1"),
        (np.full(4, 0.25), 1, ValueError, "must be a 2-D array"),
        (np.full((2, 2, 2), 0.5), 1, ValueError, "must be a 2-D array"),
        (np.full((2, 2), 0.5), 0, ValueError, "k must be between 1 and the number of rows"),
        (np.full((2, 2), 0.5), 3, ValueError, r"k must be between 1 and the number of rows \(2\)"),
        (np.full((2, 2), 0.5), 1.0, TypeError, "k must be an integer, got float"),
        (np.full((2, 2), 0.5), True, TypeError, "k must be an integer, got bool"),
        (np.full((2, 2), 0.5).astype(complex), 1, TypeError, "real numbers, got dtype complex"),
        (np.array([["a", "b"]]), 1, TypeError, "real numbers"),
    ],
)
def test_bad_shapes_and_k(probs, k, exc, message):
    with pytest.raises(exc, match=message):
        _kernels.uncertainty_top_k(probs, "margin", k)


def test_unknown_measure():
    with pytest.raises(ValueError, match="measure must be one of"):
        _kernels.uncertainty_scores(np.full((1, 2), 0.5), "variance")


def test_nan_scores_are_refused():
    with pytest.raises(ValueError, match="index 1 is NaN"):
        _kernels.top_k(np.array([0.1, np.nan]), 1)


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2"])
def test_bad_n_jobs(n_jobs):
    with pytest.raises(ValueError, match="n_jobs must be None or a non-zero integer"):
        _kernels.n_threads(n_jobs)


def test_negative_n_jobs_counts_back_from_all_cores():
    import os

    assert _kernels.n_threads(-1) == os.cpu_count()
    assert _kernels.n_threads(-1000) == 1


def test_measure_names_are_the_cores():
    # One list per family, taken from the core's enums: a name the core accepts is accepted
    # here, and the error lists exactly the core's names.
    from activekit import _native

    families = [
        (_kernels.UNCERTAINTY_MEASURES, _native.UNCERTAINTY_MEASURES),
        (_kernels.COMMITTEE_MEASURES, _native.COMMITTEE_MEASURES),
        (_kernels.VOTE_MEASURES, _native.VOTE_MEASURES),
        (_kernels.DISTANCE_METRICS, _native.DISTANCE_METRICS),
    ]
    for ours, core in families:
        assert ours == core and len(ours) >= 2
    for measure in _native.UNCERTAINTY_MEASURES:
        _kernels.uncertainty_scores(np.full((1, 2), 0.5), measure)
    names = sorted(_native.UNCERTAINTY_MEASURES)
    with pytest.raises(ValueError, match=re.escape(f"must be one of {names}")):
        _kernels.uncertainty_scores(np.full((1, 2), 0.5), "variance")
