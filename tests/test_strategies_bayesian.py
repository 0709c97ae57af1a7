"""Bayesian strategies: BALD and the mean STD against NumPy references, BatchBALD against an
exact enumeration of the joint entropy, the sampled estimator, and the strategies over MC
dropout samples of a small MLP and over scikit-learn ensembles, through the whole loop."""

import itertools
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from activekit import ActiveLearningClassifier, _kernels
from activekit.strategies import (
    BALD,
    BatchBALD,
    MaxDisagreement,
    MeanSTD,
    VariationRatio,
    VoteEntropy,
    _bayesian,
    get_strategy,
)
from activekit.strategies._bayesian import _JointEntropy, _sampled_log_probs, batch_bald
from support.reference import assert_valid_top_k
from support.reference import committee_scores as ref_committee
from support.reference import vote_scores as ref_votes

BAYESIAN = ["bald", "batch_bald", "mean_std", "variation_ratio"]


def entropy(p, axis=-1):
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=axis)


def ref_bald(probs):
    """Mutual information H(mean_t p_t) - mean_t H(p_t), straight from the definition."""
    probs = np.asarray(probs, dtype=np.float64)
    return entropy(probs.mean(axis=0)) - entropy(probs).mean(axis=0)


def ref_mean_std(probs):
    return np.asarray(probs, dtype=np.float64).std(axis=0).mean(axis=-1)


def joint_mi(probs, rows):
    """I(y_rows; w) by enumerating every label configuration of the rows."""
    c = probs.shape[2]
    h = 0.0
    for config in itertools.product(range(c), repeat=len(rows)):
        p = np.prod([probs[:, r, y] for r, y in zip(rows, config, strict=True)], axis=0).mean()
        if p > 0:
            h -= p * np.log(p)
    return h - sum(entropy(probs[:, r]).mean() for r in rows)


def greedy_reference(probs, b):
    """The greedy batch over exact joint mutual information, by brute force; gains within
    1e-10 of the best tie, and go to the highest BALD, then the lowest row."""
    bald = ref_bald(probs)
    picks, gains, before = [], [], 0.0
    for _ in range(b):
        rest = [i for i in range(probs.shape[1]) if i not in picks]
        value = np.array([joint_mi(probs, [*picks, i]) for i in rest])
        ties = [i for i, v in zip(rest, value, strict=True) if v >= value.max() - 1e-10]
        top = max(bald[ties])
        pick = min(i for i in ties if bald[i] >= top - 1e-12)
        picks.append(pick)
        gains.append(value[rest.index(pick)] - before)
        before = value[rest.index(pick)]
    return np.array(picks), np.array(gains)


def random_probs(rng, t, n, c, sharpness=2.0, repeats=0):
    """(t, n, c) posterior samples with row-specific disagreement; ``repeats`` rows are copies
    of earlier ones (exact ties)."""
    logits = sharpness * rng.randn(1, n, c) + rng.gamma(1.0, 1.0, size=(1, n, 1)) * rng.randn(t, n, c)
    for r in range(repeats):
        logits[:, n - 1 - r] = logits[:, r]
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


# -- BatchBALD's greedy search on arrays -------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_batch_bald_matches_exact_enumeration(seed):
    rng = np.random.RandomState(seed)
    t, n, c = rng.randint(2, 6), rng.randint(4, 9), rng.randint(2, 4)
    b = min(n, 4)
    probs = random_probs(rng, t, n, c, repeats=seed % 3)
    want_idx, want_gains = greedy_reference(probs, b)
    # Every configuration of the first b - 1 picks fits: the joint entropy is exact.
    idx, gains = batch_bald(probs, b, n_configurations=c ** (b - 1), n_candidates=None)
    assert_array_equal(idx, want_idx)
    assert_allclose(gains, want_gains, atol=1e-10)
    assert gains.dtype == np.float64
    # A gain is at most the row's own BALD, and the first pick is BALD's top.
    assert np.all(gains <= ref_bald(probs)[idx] + 1e-12)
    top, score = _kernels.committee_top_k(probs, "max_disagreement", 1)
    assert idx[0] == top[0] and gains[0] == score[0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bald_and_max_disagreement_against_their_formulas(dtype):
    # Random samples, some with exact zeros (0 ln 0 = 0; a class one sample rules out).
    rng = np.random.RandomState(7)
    probs = random_probs(rng, 6, 300, 4, sharpness=4.0)
    probs[(rng.rand(*probs.shape) < 0.1) & (probs < probs.max(axis=2, keepdims=True))] = 0.0
    probs[:, :5] = np.eye(4)[rng.randint(4, size=(6, 5))]  # one-hot samples: BALD is H(mean)
    probs[:, 5] = probs[0, 5]  # samples that agree: 0
    probs = (probs / probs.sum(axis=2, keepdims=True)).astype(dtype)
    atol = 1e-12 if dtype == np.float64 else 2e-6
    bald = ref_bald(probs)
    mean_kl = ref_committee(probs, "max_disagreement")
    assert_allclose(bald, mean_kl, atol=1e-12)
    assert_allclose(bald[:5], entropy(probs[:, :5].astype(np.float64).mean(axis=0)), atol=1e-12)
    assert abs(bald[5]) < 1e-12
    assert_allclose(_kernels.committee_scores(probs, "max_disagreement"), bald, atol=atol)
    idx, scores = _kernels.committee_top_k(probs, "max_disagreement", 20)
    assert_valid_top_k(idx, bald, 20, atol=atol)
    assert_allclose(scores, bald[idx], atol=atol)


def test_a_repeated_question_gains_nothing_new():
    # Two samples, each sure of its answer (one bit of uncertainty, zero probabilities): once
    # row 0 is labelled, nothing is left to learn. Rows 1 and 3 repeat it; row 2 the samples
    # answer alike.
    a, b, same = [1.0, 0.0], [0.0, 1.0], [0.6, 0.4]
    probs = np.array([[same, a, same, a], [same, b, same, b]])
    idx, gains = batch_bald(probs, 3)
    assert idx[0] == 1 and gains[0] == pytest.approx(np.log(2), abs=1e-12)
    assert_allclose(gains[1:], 0.0, atol=1e-12)
    # After the first pick, zero gains tie: the copy first (higher BALD), then the lowest row.
    assert idx.tolist() == [1, 3, 0]
    # Softer samples leave something to learn from the copy, less than from its first label.
    a, b = [0.9, 0.1], [0.1, 0.9]
    probs = np.array([[same, a, same, a], [same, b, same, b]])
    idx, gains = batch_bald(probs, 2)
    assert idx.tolist() == [1, 3]
    assert 0 < gains[1] < gains[0]
    assert gains[1] == pytest.approx(joint_mi(probs, [1, 3]) - joint_mi(probs, [1]), abs=1e-12)


def test_sampled_joint_entropy_is_the_exact_one_on_average():
    # Three rows already in the batch (27 configurations), drawn 60,000 times, stratified
    # over the samples; the importance-weighted joint entropy with each candidate.
    rng = np.random.RandomState(0)
    t, c = 4, 3
    probs = random_probs(rng, t, 8, c)
    batch, candidates = [0, 1, 2], probs[:, 3:, :]
    strata = np.repeat(np.arange(t), 15000)
    log_joint = sum(_sampled_log_probs(probs[:, a, :], strata, rng) for a in batch)
    sampled = _JointEntropy(log_joint, exact=False)
    exact_log = np.zeros((1, t))
    for a in batch:
        exact_log = _bayesian._exact_extend(exact_log, probs[:, a, :])
    exact = _JointEntropy(exact_log, exact=True)
    conditional = entropy(probs[:, batch]).mean(axis=0).sum()
    assert exact.entropy() == pytest.approx(joint_mi(probs, batch) + conditional, abs=1e-12)
    for j in range(candidates.shape[1]):
        want = joint_mi(probs, [*batch, 3 + j]) + conditional + entropy(candidates[:, j]).mean()
        assert exact.with_each(candidates)[j] == pytest.approx(want, abs=1e-12)
        # Standard error of the estimate here is about 3e-3.
        assert sampled.with_each(candidates)[j] == pytest.approx(want, abs=0.015)
    assert sampled.entropy() == pytest.approx(exact.entropy(), abs=0.015)


def test_sampling_is_seeded_and_memory_is_bounded(monkeypatch):
    rng = np.random.RandomState(1)
    probs = random_probs(rng, 8, 300, 10).astype(np.float32)
    sizes = []
    original = _JointEntropy.__init__

    def recording(self, log_joint, exact):
        sizes.append((log_joint.shape, exact))
        original(self, log_joint, exact)

    monkeypatch.setattr(_JointEntropy, "__init__", recording)
    a = batch_bald(probs, 6, n_configurations=50, n_candidates=40, random_state=0)
    # 10 configurations of one pick are exact; then 50 // 8 = 6 drawn from each of 8 samples.
    assert sizes == [((10, 8), True)] + [((48, 8), False)] * 4
    b = batch_bald(probs, 6, n_configurations=50, n_candidates=40, random_state=0)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[1], b[1])
    other = batch_bald(probs, 6, n_configurations=50, n_candidates=40, random_state=1)
    assert_array_equal(other[1][:2], a[1][:2])  # exact steps do not depend on the seed
    assert not np.array_equal(other[1][2:], a[1][2:])
    # Candidates are BALD's top rows.
    top = _kernels.committee_top_k(probs, "max_disagreement", 40)[0]
    assert np.isin(a[0], top).all() and len(np.unique(a[0])) == 6


def test_candidates_cover_the_batch_and_none_means_every_row():
    rng = np.random.RandomState(2)
    probs = random_probs(rng, 5, 60, 3)
    full = batch_bald(probs, 5, n_configurations=81, n_candidates=None)
    assert_array_equal(batch_bald(probs, 5, n_configurations=81, n_candidates=60)[0], full[0])
    # Fewer candidates than the batch: the batch size wins, and the shortlist widens as the
    # bound asks: the result is still the greedy over every row.
    idx, gains, sizes, exact = batch_bald(probs, 5, n_configurations=81, n_candidates=2,
                                          return_shortlist=True)
    assert_array_equal(idx, full[0])
    assert_allclose(gains, full[1], atol=1e-12)
    assert sizes[0] == 5 and np.all(np.diff(sizes) >= 0) and exact.all()
    # Every row of the pool.
    assert np.sort(batch_bald(probs[:, :4], 4)[0]).tolist() == [0, 1, 2, 3]


def copies_of_one_question(seed, t=6, n=10, c=3, copies=4):
    """Random samples, and ``copies`` rows that all ask the same question as sharply as it
    can be asked (each sample sure, two samples per class: BALD ln 3, the pool's highest)."""
    rng = np.random.RandomState(seed)
    probs = random_probs(rng, t, n, c, sharpness=1.0)
    rows = rng.choice(n, size=copies, replace=False)
    probs[:, rows, :] = np.eye(c)[rng.permutation(np.arange(t) % c)][:, None, :]
    return probs, np.sort(rows)


@pytest.mark.parametrize("seed", range(6))
def test_a_shortlist_of_copies_widens_to_the_exact_greedy(seed):
    # The shortlist holds only the copies; once one is picked the others gain nothing, less
    # than the BALD of rows left out: the shortlist must widen for the second pick.
    probs, copies = copies_of_one_question(seed)
    b, k = 3, len(copies)
    assert_array_equal(np.sort(_kernels.committee_top_k(probs, "max_disagreement", k)[0]), copies)
    want_idx, want_gains = greedy_reference(probs, b)
    idx, gains, sizes, exact = batch_bald(probs, b, n_configurations=3 ** (b - 1),
                                          n_candidates=k, return_shortlist=True)
    assert_array_equal(idx, want_idx)
    assert_allclose(gains, want_gains, atol=1e-10)
    assert sizes[0] == k and sizes[1] > k, "widened at the second pick"
    assert exact.all()
    # Without widening, the greedy over the shortlist alone takes a copy.
    alone, alone_gains = batch_bald(probs[:, copies], b, n_configurations=3 ** (b - 1),
                                    n_candidates=None)
    assert_allclose(alone_gains[1:], 0.0, atol=1e-10)
    assert not np.array_equal(copies[alone], idx)
    assert idx[0] in copies and not np.isin(idx[1:], copies).any()


def test_once_the_samples_are_told_apart_nothing_widens():
    # Two samples, and a row on which they are sure and disagree: its label tells which
    # sample is right, ln 2, all there is to know. Every later gain is 0, whatever a left-out
    # row's BALD: the shortlist stays, and the batch goes on by BALD.
    probs, copies = copies_of_one_question(4, t=2, n=12, c=2, copies=1)
    idx, gains, sizes, exact = batch_bald(probs, 4, n_configurations=8, n_candidates=2,
                                          return_shortlist=True)
    assert idx[0] == copies[0] and gains[0] == pytest.approx(np.log(2), abs=1e-12)
    assert_allclose(gains[1:], 0.0, atol=1e-12)
    assert sizes.tolist() == [4, 4, 4, 4] and exact.all()
    assert ref_bald(probs)[np.setdiff1d(np.arange(12), idx)].max() > 0.05
    want_idx, want_gains = greedy_reference(probs, 4)
    assert_array_equal(idx, want_idx)
    assert_allclose(gains, want_gains, atol=1e-10)
    assert_array_equal(idx[1:], np.argsort(-ref_bald(probs), kind="stable")[1:4])


@pytest.mark.parametrize("seed", range(4))
def test_max_candidates_bounds_the_widening_and_says_where_the_bound_failed(seed):
    # The copies fill the first shortlist; the second pick needs a wider one. Every bound
    # from the first shortlist to the pool: the shortlist never passes it, a pick is flagged
    # inexact exactly where the bound on left-out rows failed, and the flags are all True
    # exactly when the batch is the brute-force greedy's.
    probs, copies = copies_of_one_question(seed, n=9)
    t, n, _ = probs.shape
    b, k = 3, len(copies)
    want_idx, want_gains = greedy_reference(probs, b)
    bald_sorted = np.append(np.sort(ref_bald(probs))[::-1], -np.inf)
    free = batch_bald(probs, b, n_configurations=3 ** (b - 1), n_candidates=k,
                      return_shortlist=True)
    assert free[3].all() and free[2].max() > k
    flagged = 0
    for limit in range(1, n + 2):
        idx, gains, sizes, exact = batch_bald(probs, b, n_configurations=3 ** (b - 1),
                                              n_candidates=k, max_candidates=limit,
                                              return_shortlist=True)
        assert exact.dtype == bool and exact[0]
        assert sizes[0] == k and np.all(sizes <= max(limit, k))
        for i in range(1, b):
            # The condition: the gain reaches the best BALD left out, or all the model has
            # left to tell (ln T less what the picks before told: exact configurations).
            told = gains[:i].sum()
            holds = gains[i] + 1e-10 >= min(bald_sorted[sizes[i]], np.log(t) - told)
            assert exact[i] == holds, (limit, i)
            # A pick the bound stopped short is the best of a shortlist the bound did not
            # allow to widen (otherwise it widens until the condition holds).
            assert exact[i] or sizes[i] == max(limit, k)
        if limit >= free[2].max():  # the bound never stops the widening
            assert_array_equal(sizes, free[2])
        if exact.all():
            assert_array_equal(idx, want_idx)
            assert_allclose(gains, want_gains, atol=1e-10)
        else:
            flagged += 1
            first = np.flatnonzero(~exact)[0]
            assert_array_equal(idx[:first], want_idx[:first])
    assert flagged >= k, "every bound up to the first shortlist stops the second pick"
    # No widening at all: the second pick is a copy, as the greedy over the shortlist alone.
    idx, gains, sizes, exact = batch_bald(probs, b, n_configurations=3 ** (b - 1),
                                          n_candidates=k, max_candidates=k,
                                          return_shortlist=True)
    alone = batch_bald(probs[:, copies], b, n_configurations=3 ** (b - 1), n_candidates=None)
    assert_array_equal(idx, copies[alone[0]])
    assert sizes.tolist() == [k] * b and exact.tolist() == [True, False, False]


def test_the_shortlist_bound_holds_after_every_pick():
    # Sampled configurations past the first picks; a pool with many copies of one question
    # and many rows of lower BALD. Each pick's gain beats the BALD of every row outside the
    # shortlist it was chosen from (the top rows by BALD).
    probs, copies = copies_of_one_question(3, t=8, n=400, c=3, copies=30)
    bald_sorted = np.append(np.sort(ref_bald(probs))[::-1], -np.inf)
    idx, gains, sizes, _ = batch_bald(probs, 8, n_configurations=64, n_candidates=20,
                                      random_state=0, return_shortlist=True)
    assert sizes[0] == 20 and 30 < sizes[1] < 100 and len(np.unique(idx)) == 8
    assert np.isin(idx, copies).sum() == 1
    for i in range(1, 8):
        # The best BALD left out, or what the model has left to tell, is at most the gain.
        cap = np.log(8) - gains[:i].sum()
        assert gains[i] + 1e-10 >= min(bald_sorted[sizes[i]], cap), i
        assert np.all(ref_bald(probs)[idx[i]] >= bald_sorted[sizes[i] - 1] - 1e-12)
    # Every row a candidate from the start: the same batch.
    full = batch_bald(probs, 8, n_configurations=64, n_candidates=None, random_state=0)
    assert_array_equal(full[0], idx)
    assert_allclose(full[1], gains, atol=1e-10)


# -- over scikit-learn ensembles -------------------------------------------------------------------


def test_bald_and_mean_std_over_a_bootstrap_ensemble(digits):
    X, y = digits
    pool = X[300:800]
    learner = ActiveLearningClassifier(query_strategy=BALD(n_members=4), random_state=0)
    learner.fit(X[:60], y[:60])
    bald = learner.query_strategy_
    assert len(bald.members_) == 4
    probs = bald.sample_probabilities(learner, pool)
    assert_allclose(bald.score(learner, pool), ref_bald(probs), atol=1e-12)
    idx, scores = learner.query(pool, n_instances=7, return_scores=True)
    assert_valid_top_k(idx, ref_bald(probs), 7, atol=1e-12)
    assert_allclose(scores, ref_bald(probs)[idx], atol=1e-12)
    # Over a committee, max disagreement's mean KL divergence from the consensus is BALD: its
    # members (same seeds) give the same samples, its score the KL formula's numbers, and the
    # two formulas agree.
    md = MaxDisagreement(n_members=4).update(learner)
    md_probs = md.sample_probabilities(learner, pool)
    assert_array_equal(md_probs, probs)
    mean_kl = ref_committee(md_probs, "max_disagreement")
    assert_allclose(md.score(learner, pool), mean_kl, atol=1e-12)
    assert_allclose(mean_kl, ref_bald(probs), atol=1e-12)
    assert ref_bald(probs).max() > 0.05  # the committee disagrees somewhere
    std = MeanSTD(n_members=4).update(learner)
    assert_allclose(std.score(learner, pool), ref_mean_std(probs), atol=1e-12)
    idx, scores = std.rank(learner, pool, 5)
    assert_valid_top_k(idx, ref_mean_std(probs), 5, atol=1e-12)
    assert_allclose(scores, ref_mean_std(probs)[idx], atol=1e-12)


def test_batch_bald_over_a_user_committee(digits):
    X, y = digits
    committee = [GaussianNB(), DecisionTreeClassifier(max_depth=5, random_state=0),
                 LogisticRegression(max_iter=300)]
    learner = ActiveLearningClassifier(query_strategy=BatchBALD(committee=committee),
                                       random_state=0).fit(X[:80], y[:80])
    pool = X[300:700]
    probs = learner.query_strategy_.member_probabilities(pool)
    idx, gains = learner.query(pool, n_instances=4, return_scores=True)
    want = batch_bald(probs, 4, n_configurations=2000, n_candidates=1000, random_state=0)
    assert_array_equal(idx, want[0])
    assert_array_equal(gains, want[1])
    assert idx[0] == np.argmax(ref_bald(probs))
    assert_array_equal(learner.query_strategy_.shortlist_sizes_, [400] * 4)
    # A shortlist of 4: the same batch, and the strategy says how far the search went.
    strategy = learner.query_strategy_.set_params(n_candidates=4)
    assert_array_equal(strategy.select(learner, pool, 4, random_state=0), idx)
    sizes = strategy.shortlist_sizes_
    assert sizes[0] == 4 and sizes[-1] > 4 and strategy.shortlist_exact_.all()
    assert_array_equal(sizes, batch_bald(probs, 4, n_candidates=4, random_state=0,
                                         return_shortlist=True)[2])
    # Bounded at the first shortlist: the strategy reports the picks the bound did not vouch
    # for, as the function does.
    strategy.set_params(max_candidates=4)
    capped = strategy.select(learner, pool, 4, random_state=0)
    want = batch_bald(probs, 4, n_candidates=4, max_candidates=4, random_state=0,
                      return_shortlist=True)
    assert_array_equal(capped, want[0])
    assert_array_equal(strategy.shortlist_sizes_, [4] * 4)
    assert_array_equal(strategy.shortlist_exact_, want[3])
    assert strategy.shortlist_exact_[0] and not strategy.shortlist_exact_.all()


def test_parameters_are_validated_at_fit(digits):
    X, y = digits
    cases = [
        (BALD(n_samples=1), "'n_samples' parameter of BALD must be an int in the range \\[2, inf\\)"),
        (MeanSTD(n_members=1), "'n_members' parameter of MeanSTD must be an int"),
        (BatchBALD(n_configurations=0), "'n_configurations' parameter of BatchBALD"),
        (BatchBALD(n_candidates=2.5), "'n_candidates' parameter of BatchBALD"),
        (BatchBALD(max_candidates=0), "'max_candidates' parameter of BatchBALD must be an int "
         "in the range \\[1, inf\\) or None. Got 0"),
        (BatchBALD(max_candidates=100.0), "'max_candidates' parameter of BatchBALD"),
        (BatchBALD(max_candidates="all"), "'max_candidates' parameter of BatchBALD"),
    ]
    for strategy, message in cases:
        with pytest.raises(ValueError, match=message):
            ActiveLearningClassifier(query_strategy=strategy).fit(X[:40], y[:40])


def test_clone_and_names():
    strategy = BatchBALD(n_samples=8, n_configurations=100, n_candidates=None,
                         max_candidates=5000)
    assert clone(strategy).get_params() == {
        "committee": None, "n_members": 5, "n_samples": 8, "n_configurations": 100,
        "n_candidates": None, "max_candidates": 5000,
    }
    assert BatchBALD().max_candidates is None
    assert clone(BatchBALD()).set_params(max_candidates=7).get_params()["max_candidates"] == 7
    assert isinstance(get_strategy("bald"), BALD) and get_strategy("bald").n_samples == 20
    assert isinstance(get_strategy("mean_std"), MeanSTD)
    assert isinstance(get_strategy("batch_bald"), BatchBALD)


# -- over MC dropout samples of a small MLP -------------------------------------------------------


@pytest.fixture(scope="module")
def learner(mods, digits):
    """An MLP (16 hidden units, dropout 0.25) trained on 300 digits."""
    X, y = digits
    learner = ActiveLearningClassifier(mods.MLP, query_strategy="bald", random_state=0)
    return learner.set_params(estimator__max_epochs=15).fit(X[:300], y[:300])


def test_scores_over_mc_dropout_match_numpy(torch, learner, digits):
    from activekit.torch import mc_dropout_proba

    pool = digits[0][300:900]
    probs = mc_dropout_proba(learner.estimator_, pool, n_samples=8, random_state=5)
    assert probs.dtype == np.float32
    for cls, ref in [(BALD, ref_bald), (MeanSTD, ref_mean_std)]:
        strategy = cls(n_samples=8).update(learner)
        assert strategy.members_ is None
        idx, scores = strategy.rank(learner, pool, 10, random_state=5)
        assert_valid_top_k(idx, ref(probs), 10, atol=1e-5)
        assert_allclose(scores, ref(probs)[idx], atol=1e-5)
    # The votes of each pass (its most probable class) for the vote measures.
    votes = probs.argmax(axis=2)
    for cls, measure in [(VariationRatio, "variation_ratio"), (VoteEntropy, "vote_entropy")]:
        strategy = cls(n_samples=8).update(learner)
        idx, scores = strategy.rank(learner, pool, 10, random_state=5)
        ref = ref_votes(votes, 10, measure)
        assert_valid_top_k(idx, ref, 10, atol=1e-12)
        assert_allclose(scores, ref[idx], atol=1e-12)
    # score() draws its passes with the learner's random_state, as query does.
    probs0 = mc_dropout_proba(learner.estimator_, pool, n_samples=8, random_state=0)
    assert_allclose(BALD(n_samples=8).update(learner).score(learner, pool), ref_bald(probs0),
                    atol=1e-5)


def test_mc_dropout_strategies_are_seeded(torch, learner, digits):
    pool = digits[0][300:700]
    state = torch.random.get_rng_state()
    for name in BAYESIAN:
        strategy = get_strategy(name).set_params(n_samples=6).update(learner)
        a = strategy.rank(learner, pool, 5, random_state=3)
        b = strategy.rank(learner, pool, 5, random_state=3)
        c = strategy.rank(learner, pool, 5, random_state=4)
        assert_array_equal(a[0], b[0])
        assert_array_equal(a[1], b[1])
        assert not (np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1])), name
    assert torch.equal(torch.random.get_rng_state(), state)  # torch's generator untouched
    assert_array_equal(learner.query(pool), learner.query(pool))


def test_batch_bald_of_one_is_balds_top(torch, learner, digits):
    pool = digits[0][300:1000]
    for seed in (0, 11):
        bald = BALD(n_samples=10).update(learner).rank(learner, pool, 1, random_state=seed)
        batch = BatchBALD(n_samples=10).update(learner).rank(learner, pool, 1, random_state=seed)
        assert_array_equal(batch[0], bald[0])
        assert batch[1][0] == bald[1][0]


def test_a_module_without_dropout_is_an_error(mods, digits):
    X, y = digits
    for name in BAYESIAN:
        learner = ActiveLearningClassifier(mods.NoDropout, query_strategy=name)
        learner.set_params(estimator__max_epochs=1)
        with pytest.raises(ValueError, match=f"query_strategy='{name}' samples the torch module "
                           "with MC dropout, but NoDropout has no dropout layer"):
            learner.fit(X[:60], y[:60])


def test_a_committee_of_nets_is_used_as_given(torch, mods, digits):
    from activekit.torch import TorchClassifier

    X, y = digits
    nets = [TorchClassifier(mods.NoDropout, max_epochs=3, random_state=s) for s in (1, 2)]
    learner = ActiveLearningClassifier(mods.MLP, query_strategy=BALD(committee=nets))
    learner.set_params(estimator__max_epochs=2).fit(X[:100], y[:100])
    strategy = learner.query_strategy_
    assert len(strategy.members_) == 2  # a deep ensemble: no dropout needed
    probs = strategy.member_probabilities(X[100:300])
    idx, scores = learner.query(X[100:300], n_instances=3, return_scores=True)
    assert_allclose(scores, ref_bald(probs)[idx], atol=1e-5)


@pytest.mark.parametrize("name", BAYESIAN)
def test_whole_loop_on_digits(mods, digits, name):
    X, y = digits
    strategy = get_strategy(name).set_params(n_samples=8)
    if name == "batch_bald":
        strategy.set_params(n_configurations=200, n_candidates=200)
    runs = [
        ActiveLearningClassifier(mods.MLP, query_strategy=strategy, budget=70, batch_size=10,
                                 n_initial=20, random_state=0).fit(X[:1000], y[:1000])
        for _ in range(2)
    ]
    sim = runs[0]
    assert len(np.unique(sim.labeled_indices_)) == 70 and sim.n_queries_ == 5
    assert_array_equal(sim.labeled_indices_, runs[1].labeled_indices_)
    # Chance is 0.1. (With 70 labels, BALD-like picks do worse than random sampling's 0.6 to
    # 0.7 on this tiny MLP: they chase the classes its dropout passes disagree on.)
    assert sim.score(X[1000:], y[1000:]) > 0.25
    restored = pickle.loads(pickle.dumps(sim))
    pool = X[1000:1400]
    assert_array_equal(restored.query(pool), sim.query(pool))
