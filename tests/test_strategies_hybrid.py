"""Hybrid and adaptive strategies: epsilon-greedy, combine, and the ALBL bandit (EXP4.P),
against hand-computed values, sampling frequencies, and in the learner's loop."""

import itertools
import math
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from activekit import ActiveLearningClassifier
from activekit.strategies import (
    ActiveLearningByLearning,
    CombinedStrategy,
    EpsilonGreedy,
    InformationDensity,
    MarginSampling,
    QueryStrategy,
    ScoringStrategy,
    combine,
)
from activekit.strategies._adaptive import (
    _row_keys,
    _uniform_draws,
    arm_probabilities,
    default_pmin,
    exp4p_step,
)

# -- small strategies whose picks and scores are known -----------------------------------------


class Fixed(ScoringStrategy):
    """Scores given in advance."""

    name = "fixed"

    def __init__(self, values=None):
        self.values = values

    def score(self, learner, X_pool):
        return np.asarray(self.values, dtype=float)


class Rows(QueryStrategy):
    """Always the rows ``start, start + 1, ...``."""

    name = "rows"

    def __init__(self, start=0):
        self.start = start

    def select(self, learner, X_pool, n_instances, random_state=None):
        return np.arange(self.start, self.start + n_instances)


class Counting(ScoringStrategy):
    """Counts the update calls it received (on copies, as the protocol asks)."""

    name = "counting"

    def update(self, learner):
        if getattr(self, "fail", False):
            raise RuntimeError("update failed")
        self.n_updates_ = getattr(self, "n_updates_", 0) + 1
        return self

    def score(self, learner, X_pool):
        return np.zeros(len(X_pool))


class DensityOnly(ScoringStrategy):
    """The density term of information density, on its own."""

    name = "density"

    def score(self, learner, X_pool):
        return InformationDensity().density_of(learner, X_pool)


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return ActiveLearningClassifier(GaussianNB()).fit(X[:60], y[:60]), X[60:]


def n_random_of(picks, n_base_max):
    """Random picks of a ``Rows(0)`` base: those past the base's block of rows."""
    picks = np.asarray(picks)
    n_base = 0
    while n_base < len(picks) and picks[n_base] == n_base:
        n_base += 1
    assert n_base <= n_base_max
    return len(picks) - n_base


# -- epsilon-greedy ------------------------------------------------------------------------------


def test_epsilon_greedy_takes_the_base_picks_then_distinct_random_rows(fitted):
    learner, pool = fitted
    picks = EpsilonGreedy("margin", epsilon=0.3).select(learner, pool, 10, random_state=0)
    assert_array_equal(picks[:7], MarginSampling().select(learner, pool, 7))
    assert len(np.unique(picks)) == 10
    again = EpsilonGreedy("margin", epsilon=0.3).select(learner, pool, 10, random_state=0)
    assert_array_equal(picks, again)
    other = EpsilonGreedy("margin", epsilon=0.3).select(learner, pool, 10, random_state=1)
    assert_array_equal(other[:7], picks[:7])
    assert not np.array_equal(other[7:], picks[7:])


def test_epsilon_greedy_count_is_exact_for_whole_numbers():
    X = np.zeros((50, 2))
    for seed in range(30):
        picks = EpsilonGreedy(Rows(), epsilon=0.5).select(None, X, 4, random_state=seed)
        assert_array_equal(picks[:2], [0, 1])
        assert np.all(picks[2:] >= 2) and len(np.unique(picks)) == 4


@pytest.mark.parametrize(("epsilon", "n", "expected"), [(0.25, 2, 0.5), (0.1, 1, 0.1)])
def test_epsilon_greedy_rounds_the_random_count_stochastically(epsilon, n, expected):
    """epsilon * n = 0.5 (or 0.1): one random pick with probability 0.5 (or 0.1), else none."""
    X = np.zeros((5000, 2))
    counts = [
        n_random_of(EpsilonGreedy(Rows(), epsilon).select(None, X, n, random_state=s), n)
        for s in range(400)
    ]
    assert set(counts) <= {0, 1}
    sd = math.sqrt(400 * expected * (1 - expected))
    assert abs(sum(counts) - 400 * expected) < 4 * sd


def test_epsilon_greedy_extremes(fitted):
    learner, pool = fitted
    base = MarginSampling().select(learner, pool, 8)
    assert_array_equal(EpsilonGreedy(epsilon=0.0).select(learner, pool, 8, random_state=3), base)
    random = EpsilonGreedy(epsilon=1.0).select(learner, pool, 8, random_state=3)
    assert len(np.unique(random)) == 8 and not np.array_equal(random, base)
    # Exhausting a small pool: every row exactly once.
    small = pool[:12]
    picks = EpsilonGreedy(epsilon=0.5).select(learner, small, 12, random_state=0)
    assert sorted(picks.tolist()) == list(range(12))


def test_epsilon_greedy_passes_updates_to_its_base(data):
    X, y = data
    given_base = Counting()
    learner = ActiveLearningClassifier(
        GaussianNB(), query_strategy=EpsilonGreedy(given_base, epsilon=0.5), random_state=0
    ).fit(X[:40], y[:40])
    learner.teach(X[40:45], y[40:45])
    assert learner.query_strategy_.base_.n_updates_ == 2
    assert not hasattr(given_base, "n_updates_")


# -- combine -------------------------------------------------------------------------------------


def test_product_of_scores_by_hand(fitted):
    learner, _ = fitted
    pool = np.zeros((4, 64))
    hybrid = combine(Fixed([1.0, 2.0, 3.0, 4.0]), Fixed([4.0, 3.0, 2.0, 1.0]), weights=[1, 2])
    # 1 * 16, 2 * 9, 3 * 4, 4 * 1
    assert_allclose(hybrid.score(learner, pool), [16.0, 18.0, 12.0, 4.0])
    idx, scores = hybrid.rank(learner, pool, 3)
    assert_array_equal(idx, [1, 0, 2])
    assert_allclose(scores, [18.0, 16.0, 12.0])


def test_weighted_sum_of_min_max_scores_by_hand(fitted):
    learner, _ = fitted
    pool = np.zeros((4, 64))
    a, b = Fixed([0.0, 1.0, 2.0, 3.0]), Fixed([3.0, 3.0, 0.0, 6.0])
    # min-max: [0, 1/3, 2/3, 1] and [1/2, 1/2, 0, 1]
    hybrid = combine(a, b, weights=[1, 2], method="sum")
    assert_allclose(hybrid.score(learner, pool), [1.0, 4 / 3, 2 / 3, 3.0])
    constant = combine(a, Fixed([5.0] * 4), method="sum")  # a constant score adds nothing
    assert_allclose(constant.score(learner, pool), [0.0, 1 / 3, 2 / 3, 1.0])


def test_weighted_sum_of_ranks_by_hand(fitted):
    learner, _ = fitted
    pool = np.zeros((4, 64))
    # average ranks [2, 3.5, 3.5, 1] -> [1/3, 5/6, 5/6, 0]; [1, 2, 3, 4] -> [0, 1/3, 2/3, 1]
    hybrid = combine(Fixed([10.0, 20.0, 20.0, 5.0]), Fixed([1.0, 2.0, 3.0, 4.0]), method="rank")
    assert_allclose(hybrid.score(learner, pool), [1 / 3, 7 / 6, 3 / 2, 1.0])


def test_margin_times_density_is_information_density(fitted):
    learner, pool = fitted
    hybrid = combine(MarginSampling(), DensityOnly(), weights=[1.0, 2.0])
    reference = InformationDensity(uncertainty="margin", beta=2.0)
    assert_allclose(hybrid.score(learner, pool), reference.score(learner, pool), rtol=1e-12)
    assert_array_equal(hybrid.select(learner, pool, 10), reference.select(learner, pool, 10))


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: combine("margin", "coreset", "random"), TypeError, r"these do not score rows: strategies\[1\] \('coreset', CoreSet\), strategies\[2\] \('random', RandomSampling\)"),
        (lambda: combine("margin", "entropy", weights=[1.0]), ValueError, r"weights must hold one number per strategy \(2\), got shape \(1,\)"),
        (lambda: combine("margin", "entropy", weights=[1.0, -1.0]), ValueError, r"weights must be finite, non-negative and not all zero, got \[1.0, -1.0\]"),
        (lambda: combine("margin", "entropy", weights=[0, 0]), ValueError, "not all zero"),
        (lambda: combine(), ValueError, "combine needs at least one strategy"),
        (lambda: combine("margin", "nope"), ValueError, r"strategies\[1\]='nope' is not a known strategy; valid names are \['adaptive'"),
        (lambda: combine("margin", 3), TypeError, r"strategies\[1\] must be a strategy name or an object with a select method, got int"),
        (lambda: combine("margin", method="max"), ValueError, r"'method' parameter of CombinedStrategy must be a str among .*Got 'max'"),
    ],
)
def test_combine_rejects_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_product_needs_non_negative_scores(fitted):
    learner, _ = fitted
    hybrid = combine(Fixed([1.0, 2.0]), Fixed([0.5, -0.25]))
    with pytest.raises(ValueError, match=r"non-negative scores, but strategies\[1\] \('fixed'\) scored a row -0.25"):
        hybrid.score(learner, np.zeros((2, 64)))
    # A weighted sum rescales first, so negative scores are fine there.
    assert_allclose(combine(Fixed([1.0, 2.0]), Fixed([0.5, -0.25]), method="sum").score(
        learner, np.zeros((2, 64))), [1.0, 1.0])


def test_combine_passes_updates_to_its_components(data):
    X, y = data
    counting = Counting()
    learner = ActiveLearningClassifier(
        GaussianNB(), query_strategy=combine(counting, "margin", method="sum")
    ).fit(X[:40], y[:40])
    learner.teach(X[40:45], y[40:45])
    assert learner.query_strategy_.strategies_[0].n_updates_ == 2
    assert not hasattr(counting, "n_updates_")


# -- EXP4.P --------------------------------------------------------------------------------------


def test_exp4p_step_by_hand():
    """One libact-style step (one row queried): arm 0 advised it, arm 2 is uniform over 5 rows."""
    pmin, delta, T = 0.1, 0.1, 10
    p = arm_probabilities(np.zeros(3), pmin)
    assert_allclose(p, [1 / 3] * 3)  # 0.7 / 3 + 0.1
    q = p[0] * 1.0 + p[2] * 0.2  # the row's probability: 0.4
    reward = 0.5
    gains = reward * np.array([1.0, 0.0, 0.2]) / q  # [1.25, 0, 0.25]
    log_w = exp4p_step(np.zeros(3), p, gains, pmin, delta, T)
    # libact: w *= exp(pmin / 2 * (rhat + vhat * sqrt(ln(N / delta) / K / T))), vhat = 1 / p
    c = math.sqrt(math.log(30) / 30)
    raw = np.exp(pmin / 2 * (np.array([1.25, 0.0, 0.25]) + 3 * c))
    assert_allclose(np.exp(log_w) / np.exp(log_w).sum(), raw / raw.sum())
    assert math.exp(log_w[0] - log_w[1]) == pytest.approx(math.exp(0.0625))  # 0.05 * 1.25
    assert_allclose(arm_probabilities(log_w, pmin), 0.7 * raw / raw.sum() + 0.1)


def test_default_pmin():
    assert default_pmin(3, 100) == pytest.approx(math.sqrt(math.log(3) / 300))
    assert default_pmin(3, 2) == pytest.approx(1 / 3)  # capped: 3 * pmin <= 1
    assert default_pmin(1, 10) == 0.0


@given(
    n_arms=st.integers(1, 6),
    pmin_fraction=st.floats(0.01, 1.0),
    delta=st.floats(1e-3, 1.0),
    n_rounds=st.integers(1, 500),
    gains=st.lists(st.lists(st.floats(0, 1e6), min_size=6, max_size=6), min_size=1, max_size=30),
)
def test_arm_probabilities_stay_a_distribution(n_arms, pmin_fraction, delta, n_rounds, gains):
    pmin = pmin_fraction / n_arms
    log_w = np.zeros(n_arms)
    for g in gains:
        p = arm_probabilities(log_w, pmin)
        assert np.all(np.isfinite(p))
        assert p.sum() == pytest.approx(1.0, abs=1e-9)
        assert p.min() >= pmin * (1 - 1e-9)
        log_w = exp4p_step(log_w, p, np.asarray(g[:n_arms]), pmin, delta, n_rounds)
        assert np.all(np.isfinite(log_w)) and log_w.max() == 0.0


# -- ALBL: rewards, sampling, bookkeeping --------------------------------------------------------


def _tiny():
    """4 labelled rows, a pool of 6; a model that always says 0."""
    rng = np.random.RandomState(0)
    X_lab, X_pool = rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
    y_lab, y_pool = np.array([0, 1, 0, 1]), np.array([0, 1, 0, 1, 0, 1])
    return X_lab, y_lab, X_pool, y_pool


def test_reward_is_the_hand_computed_iw_acc():
    """Arms A = rows [0, 1], B = rows [1, 2], p = [0.5, 0.5]; n = 10 rows, T = 5.

    Row 1 is in both batches (pi = 1), the other row in one (pi = 0.5): importance weights
    1 / (n pi) = 0.1 and 0.2. The model says 0: right on rows 0 and 2, wrong on row 1, so the
    reward is 0.2 / T = 0.04 whichever arm is played; the played arm gains
    0.04 * (0.5 / 0.5 + 0.5 / 1) = 0.06, the other 0.04 * 0.5 / 1 = 0.02.
    """
    X_lab, y_lab, X_pool, y_pool = _tiny()
    seen = set()
    for seed in range(8):
        albl = ActiveLearningByLearning(
            [Rows(0), Rows(1)], uniform_sampler=False, pmin=0.1, n_rounds=5
        )
        learner = ActiveLearningClassifier(
            DummyClassifier(strategy="constant", constant=0), query_strategy=albl,
            random_state=seed,
        ).fit(X_lab, y_lab)
        idx = learner.query(X_pool, n_instances=2)
        learner.teach(X_pool[idx], y_pool[idx])
        fitted = learner.query_strategy_
        arm = int(fitted.choices_[0])
        seen.add(arm)
        assert_array_equal(idx, [0, 1] if arm == 0 else [1, 2])
        assert_allclose(fitted.rewards_, [0.04])
        assert_array_equal(fitted.sample_indices_, [4, 5])
        assert_allclose(fitted.sample_weights_, [0.2, 0.1] if arm == 0 else [0.1, 0.2])
        # ln w_played - ln w_other = pmin / 2 * (0.06 - 0.02); equal exploration bonuses.
        w_played = 1 / (1 + math.exp(-0.05 * 0.04))
        assert fitted.weights_[arm] == pytest.approx(w_played)
        assert fitted.probabilities_[arm] == pytest.approx(0.8 * w_played + 0.1)
        assert_allclose(fitted.probability_history_, [[0.5, 0.5]])
    assert seen == {0, 1}


def test_inclusion_probabilities_match_sampling_frequencies():
    """Each pool row is queried, and each labelled row drawn for free, as often as the
    probability its importance weight divides by; so IW-ACC's per-round sum is unbiased."""
    X_lab, y_lab, X_pool, _ = _tiny()
    X_pool = np.vstack([X_pool, X_pool + 5])  # 12 rows
    learner = ActiveLearningClassifier(DummyClassifier(), query_strategy="random").fit(
        X_lab, y_lab
    )
    albl = ActiveLearningByLearning([Rows(0), Rows(2)]).update(learner)
    p = albl.probabilities_
    n_rounds, b = 3000, 3
    queried, free = np.zeros(12), np.zeros(4)
    correct = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1])  # pool rows, then labelled
    # pi = p_A [in A's batch] + p_B [in B's batch] + p_uniform * b / n_pool
    pi = p[2] * b / 12 + np.r_[p[0], p[0], p[0] + p[1], p[1], p[1], np.zeros(7)]
    estimates, weighted, free_weights = [], [], []
    for seed in range(n_rounds):
        rows = albl.select(learner, X_pool, b, random_state=seed)
        pending = albl.pending_
        weighted.append(pending["weights"] * 16 * pi[rows])
        free_weights.append(pending["free_weights"])
        queried[rows] += 1
        free[pending["free_rows"]] += 1
        estimates.append(
            pending["weights"] @ correct[rows] + pending["free_weights"] @ correct[12 + pending["free_rows"]]
        )
    pi_free = p[2] * b / 13
    # The weights divide by exactly these probabilities (and the 16 rows sampled from).
    assert_allclose(np.concatenate(weighted), 1.0)
    assert_allclose(np.concatenate(free_weights), 1 / (16 * pi_free))
    for observed, expected in [(queried, pi), (free, np.full(4, pi_free))]:
        sd = np.sqrt(expected * (1 - expected) / n_rounds)
        assert np.all(np.abs(observed / n_rounds - expected) < 4 * sd + 1e-12)
    # Horvitz-Thompson: the mean per-round estimate is the accuracy over all 16 rows.
    assert np.mean(estimates) == pytest.approx(correct.mean(), abs=4 * np.std(estimates) / np.sqrt(n_rounds))


def test_uniform_draws_are_draws_without_replacement_until_the_batch_is_full():
    """The labelled rows drawn on the way follow the exact law of a uniform permutation of
    pool and labelled rows cut after the b-th pool row (enumerated: 3 pool, 3 labelled, b=2)."""
    n_pool, n_labeled, b = 3, 3, 2
    exact = np.zeros(n_labeled + 1)
    for labeled_at in itertools.combinations(range(6), n_labeled):
        pool_at = sorted(set(range(6)) - set(labeled_at))
        exact[sum(i < pool_at[b - 1] for i in labeled_at)] += 1
    exact /= exact.sum()  # P(F = 0..3) = [0.2, 0.3, 0.3, 0.2]
    rng = np.random.RandomState(0)
    n = 20000
    counts = np.zeros(n_labeled + 1)
    for _ in range(n):
        rows, free = _uniform_draws(n_pool, n_labeled, b, rng)
        assert len(np.unique(rows)) == b and len(np.unique(free)) == len(free)
        counts[len(free)] += 1
    sd = np.sqrt(exact * (1 - exact) / n)
    assert np.all(np.abs(counts / n - exact) < 4 * sd)


def test_simulation_records_one_choice_per_round(data):
    X, y = data
    learner = ActiveLearningClassifier(
        GaussianNB(), query_strategy="adaptive", n_initial=10, batch_size=5, budget=45,
        random_state=0,
    ).fit(X, y)
    albl = learner.query_strategy_
    assert albl.arm_names_ == ["margin", "coreset", "uniform"]
    assert albl.n_rounds_ == 7 and learner.n_queries_ == 7
    assert len(albl.choices_) == len(albl.rewards_) == 7
    assert albl.probability_history_.shape == (7, 3)
    assert_allclose(albl.probability_history_.sum(axis=1), 1.0)
    assert albl.pmin_ == pytest.approx(math.sqrt(math.log(3) / 21))
    # Every queried row is in the IW-ACC sample (positions 10..44), free draws before them.
    assert set(range(10, 45)) <= set(albl.sample_indices_.tolist())
    assert albl.sample_indices_.max() < 45
    # The last reward, recomputed from the final model.
    right = learner.predict(learner.X_labeled_[albl.sample_indices_]) == learner.y_labeled_[
        albl.sample_indices_]
    assert albl.rewards_[-1] == pytest.approx(albl.sample_weights_ @ right / 7)
    # Deterministic for a seed.
    again = clone(learner).fit(X, y)
    assert_array_equal(again.query_strategy_.choices_, albl.choices_)
    assert_array_equal(again.labeled_indices_, learner.labeled_indices_)
    assert_allclose(again.query_strategy_.probabilities_, albl.probabilities_)


@pytest.fixture
def interactive(data):
    X, y = data
    learner = ActiveLearningClassifier(
        GaussianNB(), query_strategy="adaptive", batch_size=5, random_state=0
    ).fit(X[:50], y[:50])
    return learner, X[50:], y[50:]


def test_teaching_other_rows_credits_no_round(interactive):
    learner, pool, y_pool = interactive
    idx = learner.query(pool)
    others = np.setdiff1d(np.arange(len(pool)), idx)[:5]
    learner.teach(pool[others], y_pool[others])
    albl = learner.query_strategy_
    assert len(albl.choices_) == 0 and albl.pending_ is None and albl.n_labeled_ == 55
    learner.teach(pool[idx], y_pool[idx])  # no query since: nothing to credit either
    assert len(learner.query_strategy_.choices_) == 0


def test_teaching_part_of_the_batch_credits_those_rows(interactive):
    learner, pool, y_pool = interactive
    idx = learner.query(pool)
    weights = learner.query_strategy_.pending_["weights"]
    n_free = len(learner.query_strategy_.pending_["free_rows"])
    other = np.setdiff1d(np.arange(len(pool)), idx)[0]
    taught = [idx[3], other, idx[1]]  # two queried rows, out of order, and a stranger
    learner.teach(pool[taught], y_pool[taught])
    albl = learner.query_strategy_
    assert len(albl.choices_) == 1
    assert_array_equal(albl.sample_indices_[:2], [50, 52])
    assert_allclose(albl.sample_weights_[:2], weights[[3, 1]])
    assert len(albl.sample_indices_) == 2 + n_free


def test_taught_rows_are_recognised_dense_or_sparse(data):
    X, y = data
    rows = np.arange(30)
    keys = _row_keys(X, rows)
    assert len(set(keys)) == len({tuple(r) for r in X[rows]})  # distinct rows, distinct keys
    assert keys == _row_keys(sp.csr_matrix(X), rows) == _row_keys(sp.csc_matrix(X), rows)
    learner = ActiveLearningClassifier(
        LogisticRegression(max_iter=300),
        query_strategy=ActiveLearningByLearning(["margin", "entropy"]),
        batch_size=4, random_state=0,
    ).fit(sp.csr_matrix(X[:40]), y[:40])
    pool = sp.csr_matrix(X[40:])
    idx = learner.query(pool)
    learner.teach(pool[idx[::-1]], y[40:][idx[::-1]])  # in another order
    albl = learner.query_strategy_
    assert len(albl.choices_) == 1
    assert_array_equal(albl.sample_indices_[:4], [40, 41, 42, 43])


def test_query_changes_nothing_but_the_pending_round(interactive):
    learner, pool, _ = interactive
    before = pickle.dumps(learner)
    first = learner.query(pool)
    assert learner.query_strategy_.pending_ is not None
    assert_array_equal(learner.query(pool), first)  # deterministic for the learner's seed
    pending = learner.query_strategy_.pending_
    learner.query_strategy_.pending_ = None
    assert pickle.dumps(learner) == before
    learner.query_strategy_.pending_ = pending


def test_a_pickled_learner_still_credits_its_query(interactive):
    learner, pool, y_pool = interactive
    idx = learner.query(pool)
    restored = pickle.loads(pickle.dumps(learner))
    restored.teach(pool[idx], y_pool[idx])
    assert len(restored.query_strategy_.choices_) == 1
    learner.teach(pool[idx], y_pool[idx])
    assert_allclose(restored.query_strategy_.weights_, learner.query_strategy_.weights_)


def test_refit_starts_a_new_bandit(interactive, data):
    learner, pool, y_pool = interactive
    idx = learner.query(pool)
    learner.teach(pool[idx], y_pool[idx])
    assert len(learner.query_strategy_.choices_) == 1
    X, y = data
    learner.fit(X[:30], y[:30])
    albl = learner.query_strategy_
    assert len(albl.choices_) == 0 and albl.n_labeled_ == 30
    assert_allclose(albl.probabilities_, [1 / 3] * 3)


def test_a_failed_teach_leaves_the_bandit_as_it_was(data):
    """The bandit learns on a copy: when the step fails after the reward was computed (here
    in an arm's own update), the learner keeps the strategy it had, pending round included."""
    X, y = data
    learner = ActiveLearningClassifier(
        GaussianNB(), query_strategy=ActiveLearningByLearning([Counting(), "margin"]),
        batch_size=5, random_state=0,
    ).fit(X[:50], y[:50])
    idx = learner.query(X[50:])
    strategy = learner.query_strategy_
    strategy.strategies_[0].fail = True  # copies made from it fail in update
    with pytest.raises(RuntimeError, match="update failed"):
        learner.teach(X[50:][idx], y[50:][idx])
    assert learner.query_strategy_ is strategy and len(learner.y_labeled_) == 50
    assert len(strategy.choices_) == 0 and strategy.pending_ is not None
    del strategy.strategies_[0].fail
    learner.teach(X[50:][idx], y[50:][idx])
    assert len(learner.query_strategy_.choices_) == 1


def test_albl_passes_updates_to_its_strategies(data):
    X, y = data
    learner = ActiveLearningClassifier(
        GaussianNB(), query_strategy=ActiveLearningByLearning([Counting(), "margin"])
    ).fit(X[:40], y[:40])
    learner.teach(X[40:45], y[40:45])
    assert learner.query_strategy_.strategies_[0].n_updates_ == 2


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"pmin": 0.5}, ValueError, r"pmin=0.5 is too large for 3 arms: EXP4.P needs n_arms \* pmin <= 1, so pmin <= 0.333333"),
        ({"pmin": 0.0}, ValueError, r"'pmin' parameter of ActiveLearningByLearning must be a float in the range \(0.0, 1.0\] or None. Got 0.0"),
        ({"delta": 0}, ValueError, r"'delta' parameter of ActiveLearningByLearning must be a float in the range \(0.0, inf\). Got 0"),
        ({"n_rounds": 0}, ValueError, r"'n_rounds' parameter .* must be an int in the range \[1, inf\) or None. Got 0"),
        ({"strategies": [], "uniform_sampler": False}, ValueError, "strategies is empty and uniform_sampler=False: the bandit has no arm"),
        ({"strategies": ["margin", "nope"]}, ValueError, r"strategies\[1\]='nope' is not a known strategy"),
        ({"strategies": "margin"}, ValueError, r"'strategies' parameter .* must be an instance of 'list' or an instance of 'tuple'. Got 'margin'"),
    ],
)
def test_albl_rejects_bad_parameters(data, params, error, match):
    X, y = data
    learner = ActiveLearningClassifier(GaussianNB(), query_strategy=ActiveLearningByLearning(**params))
    with pytest.raises(error, match=match):
        learner.fit(X[:40], y[:40])


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"epsilon": 1.5}, r"'epsilon' parameter of EpsilonGreedy must be a float in the range \[0.0, 1.0\]. Got 1.5"),
        ({"epsilon": -0.1}, r"'epsilon' parameter of EpsilonGreedy must be a float in the range \[0.0, 1.0\]. Got -0.1"),
        ({"base": "nope"}, r"base='nope' is not a known strategy; valid names are \['adaptive'"),
        ({"base": 3}, r"'base' parameter of EpsilonGreedy must be .*Got 3"),
    ],
)
def test_epsilon_greedy_rejects_bad_parameters(data, params, match):
    X, y = data
    learner = ActiveLearningClassifier(GaussianNB(), query_strategy=EpsilonGreedy(**params))
    with pytest.raises(ValueError, match=match):
        learner.fit(X[:40], y[:40])


# -- all three in the learner --------------------------------------------------------------------


@pytest.mark.parametrize(
    "strategy",
    [
        "epsilon_greedy",
        "adaptive",
        combine("margin", DensityOnly(), weights=[1.0, 0.5]),
        EpsilonGreedy(base=combine("entropy", "margin", method="rank"), epsilon=0.4),
        ActiveLearningByLearning(["entropy", EpsilonGreedy()], delta=0.5),
    ],
    ids=["epsilon_greedy", "adaptive", "combine", "nested", "albl-objects"],
)
def test_strategies_in_the_simulated_loop(data, strategy):
    X, y = data
    learner = ActiveLearningClassifier(
        GaussianNB(), query_strategy=strategy, batch_size=7, budget=40, random_state=0
    ).fit(X, y)
    assert len(np.unique(learner.labeled_indices_)) == 40
    twin = pickle.loads(pickle.dumps(learner))
    assert_array_equal(twin.query(X[:100]), learner.query(X[:100]))
    copy = clone(strategy) if not isinstance(strategy, str) else strategy
    assert repr(copy) == repr(strategy)


@pytest.mark.parametrize(
    "strategy",
    [EpsilonGreedy(base=MarginSampling(), epsilon=0.2), ActiveLearningByLearning(),
     CombinedStrategy(["margin", Fixed([1.0])], weights=[1, 2], method="sum")],
)
def test_clone_and_pickle(strategy):
    copy = clone(strategy)
    assert copy is not strategy
    assert copy.get_params().keys() == strategy.get_params().keys()
    assert repr(pickle.loads(pickle.dumps(strategy))) == repr(strategy)


# -- target types: a hybrid supports what all its parts support ---------------------------------


@pytest.fixture(scope="module")
def multilabel_data():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=150, n_classes=3, random_state=0)
    return X, Y


@pytest.mark.parametrize(
    "strategy, targets",
    [
        (EpsilonGreedy(base="margin"), ("binary", "multiclass")),
        (EpsilonGreedy(base="mmc"), ("multilabel-indicator",)),
        (EpsilonGreedy(base="coreset"), ("binary", "multiclass", "continuous", "multilabel-indicator")),
        (CombinedStrategy(["mean_entropy", "max_loss"]), ("multilabel-indicator",)),
        (CombinedStrategy(["margin", "information_density"]), ("binary", "multiclass")),
        (ActiveLearningByLearning(), ("binary", "multiclass")),
        (ActiveLearningByLearning(strategies=["coreset", "random"]), ("binary", "multiclass")),
        (ActiveLearningByLearning(strategies=["mmc"]), ()),
    ],
)
def test_hybrids_support_what_their_parts_support(strategy, targets):
    assert strategy.supported_targets() == targets


def test_multilabel_hybrids_query_a_multilabel_learner(multilabel_data):
    X, Y = multilabel_data
    for strategy in (EpsilonGreedy(base="mmc", epsilon=0.5), CombinedStrategy(["mean_entropy", "max_loss"])):
        learner = ActiveLearningClassifier(query_strategy=strategy, random_state=0).fit(X[:40], Y[:40])
        picks = learner.query(X[40:], n_instances=6)
        assert len(set(picks.tolist())) == 6 and picks.max() < 110


def test_a_hybrid_refuses_targets_a_part_does_not_support(multilabel_data):
    X, Y = multilabel_data
    learner = ActiveLearningClassifier(query_strategy=EpsilonGreedy(base="margin"))
    with pytest.raises(ValueError, match=r"query strategy 'epsilon_greedy' supports targets \['binary', 'multiclass'\], not 'multilabel-indicator'"):
        learner.fit(X[:40], Y[:40])
    assert not hasattr(learner, "estimator_")
    learner = ActiveLearningClassifier(query_strategy=ActiveLearningByLearning(strategies=["mmc"]))
    with pytest.raises(ValueError, match=r"'adaptive' supports no target type: the strategies it is made of have none in common"):
        learner.fit(X[:40], Y[:40])


def test_epsilon_greedy_on_a_regressor():
    from sklearn.datasets import load_diabetes

    from activekit import ActiveLearningRegressor

    X, y = load_diabetes(return_X_y=True)
    learner = ActiveLearningRegressor(
        query_strategy=EpsilonGreedy(base="committee_variance", epsilon=0.3), random_state=0
    ).fit(X[:30], y[:30])
    picks = learner.query(X[30:], n_instances=5)
    assert len(set(picks.tolist())) == 5
    with pytest.raises(ValueError, match=r"'epsilon_greedy' supports targets \['binary', 'multiclass'\], not 'continuous'"):
        ActiveLearningRegressor(query_strategy=EpsilonGreedy(base="margin")).fit(X[:30], y[:30])


@given(
    n_pool=st.integers(1, 60),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_rest_draws_what_choice_over_the_free_rows_draws(n_pool, data, seed):
    from activekit.strategies._hybrid import random_rest

    picks = data.draw(
        st.lists(st.integers(0, n_pool - 1), unique=True, max_size=n_pool - 1), label="picks"
    )
    n_random = data.draw(st.integers(0, n_pool - len(picks)), label="n_random")
    free = np.ones(n_pool, dtype=bool)
    free[picks] = False
    expected = np.random.RandomState(seed).choice(np.flatnonzero(free), n_random, replace=False)
    got = random_rest(np.random.RandomState(seed), n_pool, np.array(picks, dtype=np.intp), n_random)
    assert got.dtype == np.intp
    assert_array_equal(got, expected)
    assert not set(got.tolist()) & set(picks)
