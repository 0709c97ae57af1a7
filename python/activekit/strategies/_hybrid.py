"""Hybrids: epsilon-greedy exploration around a base strategy, and ``combine``, which
multiplies or weights the scores of scoring strategies."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
from scipy.stats import rankdata
from sklearn.utils import check_random_state

from .._compat import HasMethods, Interval, StrOptions, _num_samples
from .._random import choose_rows, draw_seed
from . import _registry
from ._base import QueryStrategy, ScoringStrategy
from ._common import common_targets, strategy_label, updated_copies

__all__ = ["CombinedStrategy", "EpsilonGreedy", "combine"]


def n_random_picks(epsilon, n_instances, rng):
    """How many of ``n_instances`` picks are random: ``epsilon * n_instances`` rounded down,
    plus one with probability equal to the fractional part (its expectation is exactly
    ``epsilon * n_instances``)."""
    # Rounded to 9 places so that 0.3 * 10 is 3, not 3.0000000000000004.
    expected = round(epsilon * n_instances, 9)
    whole = math.floor(expected)
    return whole + int(rng.random_sample() < expected - whole)


def random_rest(rng, n_pool, picks, n_random):
    """``n_random`` rows drawn uniformly without replacement from ``0 .. n_pool - 1`` less
    ``picks``: :func:`~activekit._random.choose_rows` over the free positions, without listing
    them (the ``j``-th free position is ``j`` plus the number of picks at or below it), so a
    Dask pool of any length draws the rows an in-memory pool does."""
    taken = np.sort(np.asarray(picks, dtype=np.int64))
    draws = choose_rows(rng, n_pool - len(taken), n_random).astype(np.int64)
    # picks[i] - i free positions come before the i-th pick (in sorted order).
    before = taken - np.arange(len(taken))
    return (draws + np.searchsorted(before, draws, side="right")).astype(np.intp)


class EpsilonGreedy(QueryStrategy):
    """Exploration and exploitation: a fraction ``epsilon`` of each batch drawn uniformly at
    random, the rest chosen by a base strategy.

    A strategy that only exploits its model can keep asking about one region of the pool and
    never see the parts its model is wrong about with confidence; a few random picks keep
    sampling the whole pool. With ``n_instances`` rows wanted, the number of random picks is
    ``epsilon * n_instances`` rounded down, plus one with probability equal to the fractional
    part: its expectation is exactly ``epsilon * n_instances``, for a batch of one row it is
    the classic epsilon-greedy coin, and for ``epsilon * n_instances`` a whole number it is
    that number. The base strategy picks the other rows; the random picks are drawn without
    replacement from the rows it did not pick, so no row is chosen twice. The base picks come
    first, in the base strategy's order, then the random ones. Deterministic for a given
    ``random_state``.

    Parameters
    ----------
    base : str or QueryStrategy, default="margin"
        A registered name or a strategy object (cloned when resolved).
    epsilon : float in [0, 1], default=0.1
        Expected fraction of each batch drawn at random; 0 is the base strategy alone, 1 is
        random sampling.

    Attributes
    ----------
    base_ : QueryStrategy
        The resolved base strategy, kept up to date through the learner's ``update`` hook
        (strategies with models of their own train there).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import EpsilonGreedy
    >>> X, y = load_digits(return_X_y=True)
    >>> strategy = EpsilonGreedy(base="margin", epsilon=0.3)
    >>> learner = ActiveLearningClassifier(query_strategy=strategy, random_state=0)
    >>> learner = learner.fit(X[:50], y[:50])
    >>> idx = learner.query(X[50:], n_instances=10)  # 7 margin picks, then 3 random rows
    >>> idx.shape, len(set(idx.tolist()))
    ((10,), 10)
    """

    name = "epsilon_greedy"
    _parameter_constraints: dict = {  # noqa: RUF012
        "base": [str, HasMethods(["select"])],
        "epsilon": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, base="margin", epsilon=0.1):
        self.base = base
        self.epsilon = epsilon

    def _base(self):
        base = getattr(self, "base_", None)
        return _registry.resolve_strategy(self.base, "base") if base is None else base

    def supported_targets(self):
        """The base strategy's target types (random picks suit any target)."""
        self._validate_params()
        return common_targets([self._base()])

    def update(self, learner):
        """Resolve the base strategy (first call) and pass the learner's new model on to it."""
        self._validate_params()
        self.base_ = updated_copies([self._base()], learner)[0]
        return self

    def select(self, learner, X_pool, n_instances, random_state=None):
        self._validate_params()
        rng = check_random_state(random_state)
        n_pool = _num_samples(X_pool)
        n_random = n_random_picks(self.epsilon, n_instances, rng)
        seed = draw_seed(rng)
        picks = np.empty(0, dtype=np.intp)
        if n_instances > n_random:
            chosen = self._base().select(learner, X_pool, n_instances - n_random, seed)
            picks = np.asarray(chosen, dtype=np.intp)
        if n_random:
            picks = np.concatenate([picks, random_rest(rng, n_pool, picks, n_random)])
        return picks


def _min_max(s):
    span = s.max() - s.min()
    return (s - s.min()) / span if span > 0 else np.zeros_like(s)


def _ranks(s):
    """Average ranks scaled to [0, 1]: the lowest score 0, the highest 1, ties share."""
    return (rankdata(s, method="average") - 1.0) / max(len(s) - 1, 1)


class CombinedStrategy(ScoringStrategy):
    """Scores of several scoring strategies combined into one: a product or a weighted sum.

    Build hybrids without subclassing, e.g. uncertainty times density. Made by
    :func:`combine`; every component must be a scoring strategy (one with a ``score``
    method, higher = more informative).

    - ``method="product"``: ``prod_k s_k ** w_k``, the weights as exponents (all 1 by
      default), as information density is ``uncertainty * density ** beta``. Needs
      non-negative scores.
    - ``method="sum"``: ``sum_k w_k * minmax(s_k)``, each score first rescaled to [0, 1] over
      the pool by min-max (``(s - min) / (max - min)``; a constant score counts 0), so
      scores on different scales weigh as the weights say. The gaps between scores are kept,
      so one outlier can squash the others.
    - ``method="rank"``: ``sum_k w_k * rank(s_k)``, each score replaced by its average rank
      in the pool scaled to [0, 1]: insensitive to scale and outliers, blind to gaps.

    Components whose weight is 0 are not scored.

    Parameters
    ----------
    strategies : list of (str or ScoringStrategy)
        Registered names or scoring strategy objects (cloned when resolved).
    weights : array-like of shape (n_strategies,), default=None
        Non-negative, not all zero; ``None`` gives every strategy weight 1.
    method : {"product", "sum", "rank"}, default="product"

    Attributes
    ----------
    strategies_ : list of ScoringStrategy
        The resolved components, kept up to date through the learner's ``update`` hook.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import CombinedStrategy
    >>> X, y = load_iris(return_X_y=True)
    >>> both = CombinedStrategy(["margin", "entropy"], weights=[2, 1], method="sum")
    >>> learner = ActiveLearningClassifier(query_strategy=both).fit(X[::10], y[::10])
    >>> idx, scores = learner.query(X, n_instances=3, return_scores=True)
    >>> bool(0 <= scores.min() and scores.max() <= 3)
    True
    """

    name = "combined"
    _parameter_constraints: dict = {  # noqa: RUF012
        "strategies": [list, tuple],
        "weights": ["array-like", None],
        "method": [StrOptions({"product", "sum", "rank"})],
    }

    def __init__(self, strategies, weights=None, method="product"):
        self.strategies = strategies
        self.weights = weights
        self.method = method

    def scores_rows_independently(self, learner):
        """A product of row-wise scores is row-wise; ``sum`` and ``rank`` rescale each score
        over the whole pool."""
        return self.method == "product" and all(
            s.scores_rows_independently(learner) for s in self._components()[0]
        )

    def supported_targets(self):
        """The target types every component supports."""
        return common_targets(self._components()[0])

    def _components(self):
        """The resolved components and their weights, checked."""
        self._validate_params()
        if len(self.strategies) == 0:
            raise ValueError("combine needs at least one strategy, got none")
        components = getattr(self, "strategies_", None)
        if components is None:
            components = [
                _registry.resolve_strategy(s, f"strategies[{i}]")
                for i, s in enumerate(self.strategies)
            ]
        unscored = [
            f"strategies[{i}] ({strategy_label(s)!r}, {type(s).__name__})"
            for i, s in enumerate(components)
            if not callable(getattr(s, "score", None))
        ]
        if unscored:
            raise TypeError(
                "combine needs scoring strategies (with a score method), but these do not "
                f"score rows: {', '.join(unscored)}"
            )
        n = len(components)
        if self.weights is None:
            return components, np.ones(n)
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.shape != (n,):
            raise ValueError(
                f"weights must hold one number per strategy ({n}), got shape {weights.shape}"
            )
        if not np.all(np.isfinite(weights)) or weights.min() < 0 or weights.max() == 0:
            raise ValueError(
                f"weights must be finite, non-negative and not all zero, got {weights.tolist()}"
            )
        return components, weights

    def update(self, learner):
        """Resolve the components (first call) and pass the learner's new model on to them."""
        components, _ = self._components()
        self.strategies_ = updated_copies(components, learner)
        return self

    def score(self, learner, X_pool):
        components, weights = self._components()
        n_pool = _num_samples(X_pool)
        total = np.ones(n_pool) if self.method == "product" else np.zeros(n_pool)
        for i, (strategy, weight) in enumerate(zip(components, weights, strict=True)):
            if weight == 0:
                continue
            s = np.asarray(strategy.score(learner, X_pool), dtype=np.float64)
            what = f"strategies[{i}] ({strategy_label(strategy)!r})"
            if s.shape != (n_pool,):
                raise ValueError(f"{what} returned scores of shape {s.shape}, not ({n_pool},)")
            if not np.all(np.isfinite(s)):
                raise ValueError(f"{what} returned NaN or infinite scores")
            if self.method == "product":
                if s.min() < 0:
                    raise ValueError(
                        f'method="product" needs non-negative scores, but {what} scored a row '
                        f'{s.min():.6g}; use method="sum" or method="rank"'
                    )
                total *= s**weight
            elif self.method == "sum":
                total += weight * _min_max(s)
            else:
                total += weight * _ranks(s)
        return total


def combine(*strategies, weights=None, method="product"):
    """A scoring strategy whose score multiplies or weights the scores of ``strategies``.

    Shorthand for :class:`CombinedStrategy` that checks its arguments at once: unknown names,
    strategies without a ``score`` method and bad weights raise here rather than at ``fit``.

    Parameters
    ----------
    *strategies : str or ScoringStrategy
        Registered names or scoring strategy objects.
    weights : array-like of shape (n_strategies,), default=None
        Exponents for ``method="product"``, coefficients otherwise; ``None`` is all ones.
    method : {"product", "sum", "rank"}, default="product"
        See :class:`CombinedStrategy`: product of raw scores (non-negative), or weighted sum
        of min-max scaled scores, or weighted sum of ranks scaled to [0, 1].

    Returns
    -------
    strategy : CombinedStrategy

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import combine
    >>> X, y = load_iris(return_X_y=True)
    >>> hybrid = combine("margin", "least_confident", weights=[1, 2])
    >>> hybrid
    CombinedStrategy(strategies=['margin', 'least_confident'], weights=[1, 2])
    >>> learner = ActiveLearningClassifier(query_strategy=hybrid).fit(X[::10], y[::10])
    >>> learner.query(X, n_instances=4).shape
    (4,)
    >>> combine("margin", "coreset")
    Traceback (most recent call last):
    ...
    TypeError: combine needs scoring strategies (with a score method), but these do not score rows: strategies[1] ('coreset', CoreSet)
    """  # noqa: E501
    combined = CombinedStrategy(list(strategies), weights=weights, method=method)
    combined._components()
    return combined
