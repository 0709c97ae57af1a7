"""The strategy table, the protocol, and user-defined strategies."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone

from activekit import ActiveLearningClassifier
from activekit.strategies import (
    EntropySampling,
    LeastConfidentSampling,
    MarginSampling,
    QueryStrategy,
    RandomSampling,
    RankingStrategy,
    get_strategy,
    get_strategy_names,
)


def test_names_are_sorted_and_match_classes():
    assert get_strategy_names() == [
        "adaptive", "badge", "bald", "batch_bald", "cluster_margin", "consensus_entropy", "coreset",
        "entropy", "epsilon_greedy", "expected_error_reduction", "expected_gradient_length",
        "information_density", "kmeans", "least_confident", "margin", "max_disagreement",
        "mean_std", "random", "ranked_batch", "typiclust", "variation_ratio", "vote_entropy",
    ]
    for name in get_strategy_names():
        strategy = get_strategy(name)
        assert strategy.name == name
        assert isinstance(strategy, QueryStrategy)
        assert clone(strategy).get_params() == strategy.get_params()


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"query_strategy='qbc' is not a known strategy; valid names are \['adaptive', 'badge', 'bald'"):
        get_strategy("qbc")


def test_not_a_strategy():
    with pytest.raises(TypeError, match="name or an object with a select method, got int"):
        get_strategy(3)


def test_objects_are_cloned():
    strategy = MarginSampling()
    assert get_strategy(strategy) is not strategy


@pytest.mark.parametrize(
    "cls", [LeastConfidentSampling, MarginSampling, EntropySampling]
)
def test_uncertainty_select_agrees_with_score(digits, cls):
    X, y = digits
    learner = ActiveLearningClassifier().fit(X[:60], y[:60])
    strategy = cls()
    scores = strategy.score(learner, X[60:])
    idx = strategy.select(learner, X[60:], 9)
    order = np.argsort(-scores, kind="stable")[:9]
    assert_array_equal(idx, order)


def test_random_sampling_is_seeded():
    X = np.zeros((50, 2))
    a = RandomSampling().select(None, X, 10, random_state=4)
    b = RandomSampling().select(None, X, 10, random_state=4)
    assert_array_equal(a, b)
    assert len(np.unique(a)) == 10


class FarthestFromZero(RankingStrategy):
    """A user-defined ranking strategy: only ``score`` is written."""

    name = "norm"

    def score(self, learner, X_pool):
        return np.linalg.norm(X_pool, axis=1)


class FirstRows(QueryStrategy):
    name = "first"

    def select(self, learner, X_pool, n_instances, random_state=None):
        return np.arange(n_instances)


class Broken(QueryStrategy):
    name = "broken"

    def select(self, learner, X_pool, n_instances, random_state=None):
        return np.zeros(n_instances, dtype=int)


def test_user_strategies_plug_in(digits):
    X, y = digits
    learner = ActiveLearningClassifier(query_strategy=FarthestFromZero()).fit(X[:60], y[:60])
    idx, scores = learner.query(X[60:], n_instances=5, return_scores=True)
    norms = np.linalg.norm(X[60:], axis=1)
    assert_array_equal(idx, np.argsort(-norms, kind="stable")[:5])
    np.testing.assert_allclose(scores, norms[idx])

    sim = ActiveLearningClassifier(query_strategy=FirstRows(), budget=30, random_state=0)
    sim.fit(X, y)
    assert len(np.unique(sim.labeled_indices_)) == 30


def test_a_strategy_returning_repeats_is_caught(digits):
    X, y = digits
    learner = ActiveLearningClassifier(query_strategy=Broken()).fit(X[:60], y[:60])
    with pytest.raises(ValueError, match="'broken' returned repeated positions"):
        learner.query(X[60:], n_instances=3)
