"""The strategy table, the protocol, user-defined strategies, and what the docstrings list."""

import inspect
import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone

from activekit import ActiveLearningClassifier
from activekit._random import MAX_DRAWN_SEED
from activekit.strategies import (
    CombinedStrategy,
    EntropySampling,
    LeastConfidentSampling,
    MarginSampling,
    OrderedStrategy,
    QueryStrategy,
    RandomSampling,
    RankingStrategy,
    ScoringStrategy,
    combine,
    get_strategy,
    get_strategy_names,
)
from activekit.strategies._registry import registered_classes


def test_names_are_sorted_and_match_classes():
    classification = [
        "adaptive", "badge", "bald", "batch_bald", "cluster_margin", "consensus_entropy", "coreset",
        "entropy", "epsilon_greedy", "expected_error_reduction", "expected_gradient_length",
        "information_density", "kmeans", "least_confident", "margin", "max_disagreement",
        "mean_std", "random", "ranked_batch", "typiclust", "variation_ratio", "vote_entropy",
    ]
    regression = ["committee_variance", "emcm", "gsx", "gsy", "igs"]
    multilabel = [
        "binary_minimization", "label_cardinality", "max_entropy", "max_loss", "mean_entropy",
        "mean_max_loss", "mmc",
    ]
    assert get_strategy_names() == sorted(classification + regression + multilabel)
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


class FarthestFromZero(ScoringStrategy):
    """A user-defined scoring strategy: only ``score`` is written."""

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


def test_each_base_names_the_method_its_subclasses_write():
    for name in get_strategy_names():
        strategy = get_strategy(name)
        writes_score = callable(getattr(strategy, "score", None))
        writes_rank = callable(getattr(strategy, "rank", None))
        assert isinstance(strategy, ScoringStrategy) == writes_score, name
        assert isinstance(strategy, RankingStrategy) == writes_rank, name
    assert issubclass(ScoringStrategy, RankingStrategy)
    assert issubclass(RankingStrategy, QueryStrategy)


class OldStyleScores(RankingStrategy):
    """Written when RankingStrategy was the base of scoring strategies: only ``score``."""

    name = "old_norm"

    def score(self, learner, X_pool):
        return np.linalg.norm(X_pool, axis=1)


class NoRank(RankingStrategy):
    name = "no_rank"


def test_subclasses_of_the_former_names_still_work(digits):
    X, y = digits
    assert OrderedStrategy is RankingStrategy
    learner = ActiveLearningClassifier().fit(X[:60], y[:60])
    old = OldStyleScores().rank(learner, X[60:], 7)
    new = FarthestFromZero().rank(learner, X[60:], 7)
    assert_array_equal(old[0], new[0])
    assert_array_equal(old[1], new[1])
    assert_array_equal(OldStyleScores().select(learner, X[60:], 7), new[0])
    hybrid = combine(OldStyleScores(), "margin", method="rank")
    assert hybrid.score(learner, X[60:]).shape == (len(X) - 60,)
    with pytest.raises(NotImplementedError, match="NoRank does not implement rank"):
        NoRank().select(learner, X[60:], 3)
    with pytest.raises(TypeError, match=r"strategies\[0\] \('no_rank', NoRank\)"):
        combine(NoRank(), "margin")


def test_a_strategy_returning_repeats_is_caught(digits):
    X, y = digits
    learner = ActiveLearningClassifier(query_strategy=Broken()).fit(X[:60], y[:60])
    with pytest.raises(ValueError, match="'broken' returned repeated positions"):
        learner.query(X[60:], n_instances=3)


def test_drawn_seeds_stay_below_int32_max():
    # Every seed a strategy draws for a component (committee replica, k-means, an arm, the
    # base of epsilon-greedy) is rng.randint(MAX_DRAWN_SEED): changing the bound changes
    # every seeded pick.
    assert MAX_DRAWN_SEED == np.iinfo(np.int32).max


def documented(cls, section):
    """The entry names of a numpydoc ``section`` of ``cls``'s docstring, in order."""
    lines = inspect.cleandoc(cls.__doc__).splitlines()
    if section not in lines:
        return []
    start = lines.index(section)
    assert set(lines[start + 1]) == {"-"}, f"{cls.__name__}: {section} has no underline"
    names = []
    for line in lines[start + 2 :]:
        if not line or line.startswith(" "):
            continue
        entry = re.match(r"(\*{0,2}\w+) : ", line)
        if entry is None:  # the next section's heading
            break
        names.append(entry.group(1))
    return names


@pytest.mark.parametrize(
    "cls", [*registered_classes(), CombinedStrategy], ids=lambda cls: cls.__name__
)
def test_every_strategy_documents_its_parameters(cls):
    params = list(inspect.signature(cls).parameters)
    assert documented(cls, "Parameters") == params
    assert "{" not in "".join(documented(cls, "Attributes"))


def test_choose_rows_is_uniform_and_keeps_only_what_it_draws_above_the_limit():
    import tracemalloc

    from activekit._random import LISTED_DRAW_LIMIT, choose_rows

    # At or below the limit: NumPy's permutation draw, unchanged.
    n = LISTED_DRAW_LIMIT
    np.testing.assert_array_equal(
        choose_rows(np.random.RandomState(3), n, 7),
        np.random.RandomState(3).choice(n, size=7, replace=False),
    )
    # Above: distinct, in range, seeded, and in memory of the order of k, not n.
    tracemalloc.start()
    picks = choose_rows(np.random.RandomState(3), 10**12, 1000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000, peak
    assert len(set(picks.tolist())) == 1000 and 0 <= picks.min() and picks.max() < 10**12
    np.testing.assert_array_equal(picks, choose_rows(np.random.RandomState(3), 10**12, 1000))
    # Every position equally likely: 2**20 + 3 rows, 20,000 draws of 1, the top and bottom
    # halves each near half.
    n = LISTED_DRAW_LIMIT + 3
    rng = np.random.RandomState(0)
    draws = np.concatenate([choose_rows(rng, n, 1) for _ in range(20_000)])
    assert abs((draws < n // 2).mean() - 0.5) < 0.02
