"""The committee kernels against NumPy references: known answers, properties, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

from activekit import _kernels
from support.reference import assert_valid_top_k
from support.reference import committee_scores as ref_committee
from support.reference import vote_scores as ref_votes

MEASURES = ["consensus_entropy", "max_disagreement", "mean_std"]
VOTE_MEASURES = ["vote_entropy", "variation_ratio"]
ATOL = {np.float32: 2e-5, np.float64: 1e-12}


def H(*p):
    """Entropy of a distribution written out by hand."""
    return -sum(x * np.log(x) for x in p if x > 0)


@st.composite
def committees(draw, dtype=None):
    """(m, n, c) committees with zeros, one-hot rows and pool rows repeated (ties)."""
    dtype = dtype or draw(st.sampled_from([np.float32, np.float64]))
    m = draw(st.integers(2, 6))
    n = draw(st.integers(1, 120))
    c = draw(st.integers(2, 20))
    n_distinct = draw(st.integers(1, n))
    raw = draw(
        hnp.arrays(
            np.float64,
            (n_distinct, m, c),
            elements=st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 1, allow_subnormal=False)),
        )
    )
    raw[..., 0][raw.sum(axis=-1) == 0] = 1.0
    raw /= raw.sum(axis=-1, keepdims=True)
    rows = draw(hnp.arrays(np.intp, n, elements=st.integers(0, n_distinct - 1)))
    return np.ascontiguousarray(raw[rows].transpose(1, 0, 2)).astype(dtype)


@st.composite
def vote_arrays(draw):
    m = draw(st.integers(2, 12))
    n = draw(st.integers(1, 400))
    c = draw(st.integers(1, 8))
    votes = draw(hnp.arrays(np.int64, (m, n), elements=st.integers(0, c - 1)))
    return votes, c


def pool_rows(probs):
    """Each pool row's values across members, as one key (identical keys must tie)."""
    return probs.transpose(1, 0, 2).reshape(probs.shape[1], -1)


# Known answers, worked by hand.

def test_two_members_one_row_two_classes():
    probs = np.array([[[0.9, 0.1]], [[0.5, 0.5]]])
    consensus = H(0.7, 0.3)
    assert_allclose(_kernels.committee_scores(probs, "consensus_entropy"), [consensus], atol=1e-15)
    # The mean KL from the consensus, term by term, is the consensus entropy minus the mean
    # entropy of the members.
    kl = (0.9 * np.log(0.9 / 0.7) + 0.1 * np.log(0.1 / 0.3)
          + 0.5 * np.log(0.5 / 0.7) + 0.5 * np.log(0.5 / 0.3)) / 2
    assert kl == pytest.approx(consensus - (H(0.9, 0.1) + H(0.5, 0.5)) / 2, abs=1e-15)
    assert_allclose(_kernels.committee_scores(probs, "max_disagreement"), [kl], atol=1e-15)
    idx, scores = _kernels.committee_top_k(probs.astype(np.float32), "max_disagreement", 1)
    assert idx.tolist() == [0]
    assert scores.dtype == np.float32
    assert scores[0] == pytest.approx(kl, abs=1e-6)


def test_agreement_is_not_disagreement():
    # Row 0: members agree and are unsure; row 1: each is sure, of a different class.
    probs = np.array([[[0.5, 0.5], [1.0, 0.0]], [[0.5, 0.5], [0.0, 1.0]]])
    # Consensus entropy cannot tell the rows apart; the mean KL can.
    assert_allclose(_kernels.committee_scores(probs, "consensus_entropy"), [np.log(2)] * 2)
    assert_allclose(_kernels.committee_scores(probs, "max_disagreement"), [0.0, np.log(2)])
    assert _kernels.committee_top_k(probs, "max_disagreement", 1)[0].tolist() == [1]


def test_mean_std_by_hand():
    # Three samples, two rows of three classes. Row 0: class 0 takes 0.2, 0.5, 0.8 (std
    # sqrt(0.06)), class 1 takes 0.8, 0.5, 0.2 (the same), class 2 is always 0. Row 1: the
    # samples agree.
    probs = np.array([[[0.2, 0.8, 0.0], [0.1, 0.3, 0.6]],
                      [[0.5, 0.5, 0.0], [0.1, 0.3, 0.6]],
                      [[0.8, 0.2, 0.0], [0.1, 0.3, 0.6]]])
    want = [2 * np.sqrt(0.06) / 3, 0.0]
    assert_allclose(_kernels.committee_scores(probs, "mean_std"), want, atol=1e-15)
    idx, scores = _kernels.committee_top_k(probs.astype(np.float32), "mean_std", 2)
    assert idx.tolist() == [0, 1]
    assert_allclose(scores, want, atol=1e-7)
    # Two passes: agreeing samples score 0 up to the rounding of their mean, not the
    # cancellation error of E[p^2] - E[p]^2 (about 1e-4 in float32 here).
    same = np.tile(np.float32([[[0.1, 0.3, 0.6]]]), (20, 3, 1))
    assert _kernels.committee_scores(same, "mean_std").max() < 1e-7


def test_votes_by_hand():
    # Five members; rows: unanimous, 3-2 split, 2-2-1 split, 2-1-1-1 split.
    votes = np.array([
        [0, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 1, 1, 1],
        [0, 0, 1, 2],
        [0, 0, 2, 3],
    ])
    entropy = _kernels.vote_scores(votes, 4, "vote_entropy")
    assert_allclose(entropy, [0.0, H(0.6, 0.4), H(0.4, 0.4, 0.2), H(0.4, 0.2, 0.2, 0.2)],
                    atol=1e-15)
    ratio = _kernels.vote_scores(votes, 4, "variation_ratio")
    assert_allclose(ratio, [0.0, 0.4, 0.6, 0.6], atol=1e-15)
    # Ratio ties between rows 2 and 3 go to the lower row.
    idx, scores = _kernels.vote_top_k(votes, 4, "variation_ratio", 3)
    assert idx.tolist() == [2, 3, 1]
    assert scores.dtype == np.float64


def test_a_member_without_a_class_gives_it_zero():
    # Member 1 never saw class 2: zero column. Its KL from the consensus is still finite.
    probs = np.array([[[0.2, 0.3, 0.5]], [[0.4, 0.6, 0.0]]])
    mean = [0.3, 0.45, 0.25]
    kl = (0.2 * np.log(0.2 / 0.3) + 0.3 * np.log(0.3 / 0.45) + 0.5 * np.log(0.5 / 0.25)
          + 0.4 * np.log(0.4 / 0.3) + 0.6 * np.log(0.6 / 0.45)) / 2
    assert_allclose(_kernels.committee_scores(probs, "max_disagreement"), [kl], atol=1e-15)
    assert_allclose(_kernels.committee_scores(probs, "consensus_entropy"), [H(*mean)], atol=1e-15)


# Against the NumPy reference.

@pytest.mark.parametrize("measure", MEASURES)
@given(probs=committees())
def test_scores_match_numpy(measure, probs):
    got = _kernels.committee_scores(probs, measure)
    assert got.dtype == probs.dtype
    assert_allclose(got, ref_committee(probs, measure), atol=ATOL[probs.dtype.type], rtol=0)


@pytest.mark.parametrize("measure", MEASURES)
@given(probs=committees(), data=st.data())
def test_top_k_matches_numpy_with_ties_by_lowest_index(measure, probs, data):
    k = data.draw(st.integers(1, probs.shape[1]))
    idx, scores = _kernels.committee_top_k(probs, measure, k)
    ref = ref_committee(probs, measure)
    atol = ATOL[probs.dtype.type]
    assert_valid_top_k(idx, ref, k, rows=pool_rows(probs), atol=4 * atol)
    assert_allclose(scores, ref[idx], atol=atol)
    split, _ = _kernels.top_k(_kernels.committee_scores(probs, measure), k)
    assert_array_equal(idx, split)


@pytest.mark.parametrize("measure", MEASURES)
@given(probs=committees(), n_jobs=st.sampled_from([1, 2, 3, None]))
def test_result_independent_of_threads_and_layout(measure, probs, n_jobs):
    k = min(5, probs.shape[1])
    want = _kernels.committee_top_k(probs, measure, k, n_jobs=1)
    want_scores = _kernels.committee_scores(probs, measure, n_jobs=1)
    variants = [
        np.asfortranarray(probs),
        np.repeat(probs, 2, axis=2)[:, :, ::2],  # strided classes
        np.ascontiguousarray(probs.transpose(1, 0, 2)).transpose(1, 0, 2),  # rows-major
    ]
    if probs.dtype == np.float64:
        # (as_float turns big-endian float32 into float64, so only float64 compares bitwise.)
        variants.append(probs.astype(probs.dtype.newbyteorder(">")))
    for variant in variants:
        got = _kernels.committee_top_k(variant, measure, k, n_jobs=n_jobs)
        assert_array_equal(got[0], want[0])
        assert_array_equal(got[1], want[1])
        assert_array_equal(_kernels.committee_scores(variant, measure, n_jobs=n_jobs), want_scores)


@pytest.mark.parametrize("measure", VOTE_MEASURES)
@given(votes_c=vote_arrays(), data=st.data(), n_jobs=st.sampled_from([1, 3, None]))
def test_votes_match_numpy(measure, votes_c, data, n_jobs):
    votes, c = votes_c
    ref = ref_votes(votes, c, measure)
    got = _kernels.vote_scores(votes, c, measure, n_jobs=n_jobs)
    assert_allclose(got, ref, atol=1e-12, rtol=0)
    k = data.draw(st.integers(1, votes.shape[1]))
    for variant in (votes, np.asfortranarray(votes), votes.astype(np.int32)):
        idx, scores = _kernels.vote_top_k(variant, c, measure, k, n_jobs=n_jobs)
        assert_valid_top_k(idx, ref, k, rows=votes.T, atol=1e-12)
        assert_array_equal(scores, got[idx])


def test_identical_rows_take_lowest_index_first():
    probs = np.tile(np.array([[[0.6, 0.4]], [[0.3, 0.7]]], dtype=np.float32), (1, 5000, 1))
    for measure in MEASURES:
        idx, _ = _kernels.committee_top_k(probs, measure, 7)
        assert_array_equal(idx, np.arange(7))
    votes = np.tile([[0], [1], [1]], (1, 5000))
    assert_array_equal(_kernels.vote_top_k(votes, 2, "vote_entropy", 7)[0], np.arange(7))


def test_input_is_never_written():
    p = np.array([[[0.2, 0.8]], [[0.5, 0.5]]])
    p.setflags(write=False)
    _kernels.committee_top_k(p, "max_disagreement", 1)
    assert_allclose(p, [[[0.2, 0.8]], [[0.5, 0.5]]])


# Bad input: a ValueError or TypeError naming the problem.

@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize(
    ("row", "message"),
    [
        ([np.nan, 1.0], "probability row 2 of committee member 1 contains NaN"),
        ([np.inf, 0.0], "row 2 of committee member 1 contains NaN or infinite"),
        ([-0.25, 1.25], "row 2 of committee member 1 has a negative probability"),
        ([0.2, 0.2], "row 2 of committee member 1 sums to 0.4"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_invalid_probability_rows_name_member_and_row(measure, row, message, dtype):
    probs = np.full((3, 4, 2), 0.5, dtype=dtype)
    probs[1, 2] = row
    probs[2, 2] = [0.9, 0.9]  # same row, a later member
    probs[0, 3] = [np.nan, np.nan]  # a later row, an earlier member
    with pytest.raises(ValueError, match=message):
        _kernels.committee_top_k(probs, measure, 1)
    with pytest.raises(ValueError, match=message):
        _kernels.committee_scores(probs, measure)


@pytest.mark.parametrize(
    ("probs", "k", "exc", "message"),
    [
        (np.full((1, 3, 2), 0.5), 1, ValueError, "a committee needs at least 2 members, got 1"),
        (np.zeros((3, 0, 2)), 1, ValueError, r"between 1 and the number of rows \(0\)"),
        (np.ones((2, 3, 1)), 1, ValueError, "at least 2 columns, got 1"),
        (np.full((2, 2), 0.5), 1, ValueError, "probs must be a 3-D array"),
        (np.full((2, 2, 2), 0.5), 3, ValueError, r"k must be between 1 and the number of rows \(2\)"),
        (np.full((2, 2, 2), 0.5), 1.0, TypeError, "k must be an integer, got float"),
        (np.full((2, 2, 2), 0.5).astype(complex), 1, TypeError, "real numbers, got dtype complex"),
    ],
)
def test_bad_shapes_and_k(probs, k, exc, message):
    with pytest.raises(exc, match=message):
        _kernels.committee_top_k(probs, "max_disagreement", k)


@pytest.mark.parametrize(
    ("votes", "n_classes", "exc", "message"),
    [
        ([[0, 1, 2], [0, 3, -1]], 3, ValueError,
         r"vote of committee member 1 at row 1 is 3, not a class index in 0\.\.3"),
        ([[0, 1, 2]], 3, ValueError, "a committee needs at least 2 members, got 1"),
        ([[0.0, 1.0], [1.0, 0.0]], 2, TypeError, "votes must hold integer class indices"),
        ([0, 1, 1], 2, ValueError, "votes must be a 2-D array"),
        ([[0, 1], [1, 0]], 0, ValueError, "n_classes must be at least 1, got 0"),
        ([[0, 1], [1, 0]], 2.0, TypeError, "n_classes must be an integer"),
        (np.array([[0, 2**63]], dtype=np.uint64).repeat(2, axis=0), 2, ValueError,
         "not a class index below n_classes"),
    ],
)
def test_bad_votes(votes, n_classes, exc, message):
    with pytest.raises(exc, match=message):
        _kernels.vote_top_k(votes, n_classes, "vote_entropy", 1)
    with pytest.raises(exc, match=message):
        _kernels.vote_scores(votes, n_classes, "variation_ratio")


def test_unknown_measures():
    with pytest.raises(ValueError, match=r"measure must be one of \['consensus_entropy', 'max_"):
        _kernels.committee_scores(np.full((2, 1, 2), 0.5), "vote_entropy")
    with pytest.raises(ValueError, match=r"measure must be one of \['variation_ratio', 'vote_"):
        _kernels.vote_scores(np.zeros((2, 1), dtype=int), 2, "max_disagreement")
