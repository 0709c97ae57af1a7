"""The multi-label kernel against NumPy references: hypothesis over shapes (empty pools, one
label), dtypes and edge values (0, 1, 0.5, subnormals, 1 - eps), ties, known answers, bad
input."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

from activekit import _kernels, _native
from support.reference import assert_valid_top_k
from support.reference import multilabel_scores as ref_scores
from support.reference import top_k as ref_top_k

MEASURES = list(_kernels.MULTILABEL_MEASURES)
DTYPES = [np.float32, np.float64]


def tolerance(dtype, n_labels):
    """``(atol, rtol)`` of the kernel's scores against the float64 reference.

    Each term is within a few ulps (the logarithm's 3.34 ulp, ``1 - p`` rounded once); the
    means add ``L`` non-negative terms in order (relative error below ``L`` eps). ``atol``
    covers the entropy's ``(1 - p) ln(1 - p)`` for ``p`` below eps, where ``1 - p`` rounds
    to 1 and the term (at most ``p``) is lost, and subnormal ``p``, whose terms count as 0.
    """
    eps = float(np.finfo(dtype).eps)
    return 4 * eps, (n_labels + 8) * eps


def edge_values(dtype):
    info = np.finfo(dtype)
    special = [0.0, 1.0, 0.5, float(info.smallest_subnormal), float(info.tiny),
               float(1 - info.epsneg), float(info.eps), 0.25, 0.75]
    return st.one_of(st.sampled_from(special), st.floats(0, 1, width=32 if dtype == np.float32 else 64))


@st.composite
def label_matrices(draw, dtype=None, min_rows=0):
    """``(n, L)`` per-label probabilities with duplicated rows (ties); ``n`` may be 0 or 1."""
    dtype = dtype or draw(st.sampled_from(DTYPES))
    n = draw(st.one_of(st.sampled_from([min_rows, 1]), st.integers(min_rows, 200)))
    n_labels = draw(st.one_of(st.just(1), st.integers(1, 40)))
    n_distinct = draw(st.integers(1, max(n, 1)))
    raw = draw(hnp.arrays(dtype, (n_distinct, n_labels), elements=edge_values(dtype)))
    rows = draw(hnp.arrays(np.intp, n, elements=st.integers(0, n_distinct - 1)))
    return raw[rows]


@pytest.mark.parametrize("measure", MEASURES)
@given(probs=label_matrices())
def test_scores_match_numpy(measure, probs):
    got = _kernels.multilabel_scores(probs, measure)
    assert got.dtype == probs.dtype and got.shape == (probs.shape[0],)
    atol, rtol = tolerance(probs.dtype, probs.shape[1])
    assert_allclose(got, ref_scores(probs, measure), atol=atol, rtol=rtol)
    assert not np.signbit(got[got == 0]).any() or measure == "binary_minimization"


@pytest.mark.parametrize("measure", MEASURES)
@given(probs=label_matrices(min_rows=1), data=st.data())
def test_top_k_is_a_stable_sort_of_the_scores(measure, probs, data):
    k = data.draw(st.integers(1, probs.shape[0]))
    idx, top = _kernels.multilabel_top_k(probs, measure, k)
    scores = _kernels.multilabel_scores(probs, measure)
    # Equal scores lowest row first: exactly a stable sort of the kernel's own scores.
    assert_array_equal(idx, ref_top_k(scores, k))
    assert_array_equal(top, scores[idx])
    assert idx.dtype == np.intp and top.dtype == probs.dtype
    # And a correct top k of NumPy's scores, up to near-ties within the tolerance.
    ref = ref_scores(probs, measure)
    atol, rtol = tolerance(probs.dtype, probs.shape[1])
    assert_valid_top_k(idx, ref, k, rows=probs, atol=2 * (atol + rtol * np.abs(ref).max()))


@pytest.mark.parametrize("measure", MEASURES)
@given(probs=label_matrices(dtype=np.float64, min_rows=1), n_jobs=st.sampled_from([1, 2, 3, None]))
def test_result_independent_of_threads_and_layout(measure, probs, n_jobs):
    k = min(5, len(probs))
    want = _kernels.multilabel_top_k(probs, measure, k, n_jobs=1)
    want_scores = _kernels.multilabel_scores(probs, measure, n_jobs=1)
    fortran = np.asfortranarray(probs)
    strided = np.repeat(probs, 2, axis=1)[:, ::2]
    big_endian = probs.astype(probs.dtype.newbyteorder(">"))
    for variant in (probs, fortran, strided, big_endian):
        got = _kernels.multilabel_top_k(variant, measure, k, n_jobs=n_jobs)
        assert_array_equal(got[0], want[0])
        assert_array_equal(got[1], want[1])
        scores = _kernels.multilabel_scores(variant, measure, n_jobs=n_jobs)
        assert_array_equal(scores.view(np.uint64), want_scores.view(np.uint64))


def test_a_large_pool_gives_the_same_bits_on_any_thread_count():
    # Many parallel blocks, L on both sides of the scratch pass's width.
    rng = np.random.default_rng(0)
    for n_labels in (5, 50):
        p = rng.uniform(size=(20_000, n_labels)).astype(np.float32)
        p[::7] = p[3]  # ties across blocks
        for measure in MEASURES:
            one = _kernels.multilabel_scores(p, measure, n_jobs=1)
            many = _kernels.multilabel_scores(p, measure, n_jobs=-1)
            assert_array_equal(one.view(np.uint32), many.view(np.uint32))
            idx, _ = _kernels.multilabel_top_k(p, measure, 50, n_jobs=-1)
            assert_array_equal(idx, ref_top_k(one, 50))


# Known answers


def test_known_answers():
    p = np.array([[0.5, 0.9, 0.1], [0.2, 0.2, 0.2], [1.0, 0.0, 0.7]])

    def h(q):
        return -q * np.log(q) - (1 - q) * np.log(1 - q)

    assert_allclose(_kernels.multilabel_scores(p, "mean_entropy"),
                    [(np.log(2) + 2 * h(0.1)) / 3, h(0.2), h(0.7) / 3], rtol=1e-14)
    assert_allclose(_kernels.multilabel_scores(p, "max_entropy"), [np.log(2), h(0.2), h(0.7)],
                    rtol=1e-14)
    assert_allclose(_kernels.multilabel_scores(p, "binary_minimization"), [0.0, -0.3, -0.2],
                    atol=1e-15)
    assert_array_equal(_kernels.multilabel_scores(p, "max_loss"), [0.5, 0.2, 1 - 0.7])
    assert_allclose(_kernels.multilabel_scores(p, "mean_max_loss"), [0.7 / 3, 0.2, 0.1],
                    rtol=1e-15)
    # Not the most certain rows: the highest score first.
    assert _kernels.multilabel_top_k(p, "max_loss", 3)[0].tolist() == [0, 2, 1]
    assert _kernels.multilabel_top_k(p, "mean_entropy", 3)[0].tolist() == [1, 0, 2]


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_label_is_the_binary_entropy_and_certain_rows_score_plus_zero(dtype):
    p = np.array([[0.5], [0.0], [1.0], [0.25]], dtype=dtype)
    got = _kernels.multilabel_scores(p, "mean_entropy")
    assert_allclose(got, [np.log(2), 0, 0, -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))],
                    rtol=4 * np.finfo(dtype).eps)
    assert not np.signbit(got).any()
    assert_array_equal(_kernels.multilabel_scores(p, "max_entropy"), got)
    assert_array_equal(_kernels.multilabel_scores(p, "max_loss"), [0.5, 0, 0, 0.25])


def test_empty_pool_gives_empty_scores():
    for dtype in DTYPES:
        out = _kernels.multilabel_scores(np.zeros((0, 4), dtype=dtype), "max_entropy")
        assert out.shape == (0,) and out.dtype == dtype


def test_float32_stays_float32_and_ints_become_float64():
    assert _kernels.multilabel_scores(np.full((2, 2), 0.5, np.float32), "max_loss").dtype == np.float32
    assert _kernels.multilabel_scores(np.array([[1, 0]]), "max_loss").dtype == np.float64
    assert _kernels.multilabel_scores(np.full((1, 2), 0.5, np.float16), "max_loss").dtype == np.float64


def test_input_is_never_written():
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    p.setflags(write=False)
    _kernels.multilabel_top_k(p, "mean_entropy", 1)
    assert not p.flags.writeable
    assert_array_equal(p, [[0.2, 0.8], [0.5, 0.5]])


# Bad input: a ValueError or TypeError naming the problem, in the other kernels' words


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize(
    ("value", "shown"),
    [(np.nan, "NaN"), (np.inf, "inf"), (-0.25, "-0.25"), (1.5, "1.5"), (-np.inf, "-inf")],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_invalid_values_name_row_and_column(measure, value, shown, dtype):
    probs = np.array([[0.5, 0.5, 0.1], [0.1, 0.9, 1.0], [0.3, 0.2, value], [2.0, np.nan, 0.0]],
                     dtype=dtype)
    message = f"probability row 2 has {shown} in column 2, not a probability in [0, 1]"
    with pytest.raises(ValueError, match=re.escape(message)):
        _kernels.multilabel_scores(probs, measure)
    with pytest.raises(ValueError, match=re.escape(message)):
        _kernels.multilabel_top_k(probs, measure, 1)


def test_rows_need_not_sum_to_one_but_may_not_leave_the_unit_interval():
    assert _kernels.multilabel_scores(np.ones((2, 3)), "mean_entropy").tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"row 0 has -0.000000001 in column 0"):
        _kernels.multilabel_scores(np.array([[-1e-9, 0.5]]), "max_loss")


@pytest.mark.parametrize(
    ("probs", "k", "exc", "message"),
    [
        (np.zeros((0, 3)), 1, ValueError, r"k must be between 1 and the number of rows \(0\), got 1"),
        (np.ones((3, 0)), 1, ValueError, r"the probability matrix needs at least 1 columns, got 0"),
        (np.full(4, 0.25), 1, ValueError, r"probs must be a 2-D array, got shape \(4,\)"),
        (np.full((2, 2, 2), 0.5), 1, ValueError, "probs must be a 2-D array"),
        (np.full((2, 2), 0.5), 0, ValueError, r"k must be between 1 and the number of rows \(2\), got 0"),
        (np.full((2, 2), 0.5), 3, ValueError, r"k must be between 1 and the number of rows \(2\), got 3"),
        (np.full((2, 2), 0.5), 1.0, TypeError, "k must be an integer, got float"),
        (np.full((2, 2), 0.5), True, TypeError, "k must be an integer, got bool"),
        (np.full((2, 2), 0.5).astype(complex), 1, TypeError, "real numbers, got dtype complex"),
        (np.array([["a", "b"]]), 1, TypeError, "real numbers"),
    ],
)
def test_bad_shapes_and_k(probs, k, exc, message):
    with pytest.raises(exc, match=message):
        _kernels.multilabel_top_k(probs, "max_loss", k)


def test_no_labels_is_refused_when_scoring_too():
    with pytest.raises(ValueError, match=r"needs at least 1 columns, got 0"):
        _kernels.multilabel_scores(np.ones((3, 0)), "max_loss")


@pytest.mark.parametrize("bad", ["entropy", "margin", "MeanEntropy", "", None])
def test_unknown_measure_lists_the_valid_names(bad):
    names = sorted(_native.MULTILABEL_MEASURES)
    with pytest.raises(ValueError, match=re.escape(f"measure must be one of {names}, got {bad!r}")):
        _kernels.multilabel_scores(np.full((1, 2), 0.5), bad)


def test_measure_names_are_the_cores_and_the_strategies():
    from activekit.strategies import _multilabel as ml

    assert _kernels.MULTILABEL_MEASURES == _native.MULTILABEL_MEASURES == (
        "mean_entropy", "max_entropy", "binary_minimization", "max_loss", "mean_max_loss"
    )
    strategies = [ml.MeanEntropyMultilabel, ml.MaxEntropyMultilabel, ml.BinaryMinimization,
                  ml.MaxLoss, ml.MeanMaxLoss]
    assert tuple(c.name for c in strategies) == _kernels.MULTILABEL_MEASURES
    # Direct callers of the extension get the core's own message.
    with pytest.raises(ValueError, match='unknown multi-label measure "entropy"; expected one of'):
        _native.multilabel_scores(np.full((1, 2), 0.5), "entropy", 1)
