"""The baseline: uniform random sampling."""

from __future__ import annotations

from sklearn.utils import check_random_state

from .._compat import _num_samples
from .._random import choose_rows
from ._base import QueryStrategy
from ._common import ALL_TARGETS

__all__ = ["RandomSampling"]


class RandomSampling(QueryStrategy):
    """Choose rows uniformly at random, without replacement.

    The baseline every other strategy must beat.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="random", random_state=0)
    >>> learner = learner.fit(X[::10], y[::10])
    >>> learner.query(X, n_instances=3).shape
    (3,)
    """

    name = "random"
    _targets = ALL_TARGETS

    def select(self, learner, X_pool, n_instances, random_state=None):
        rng = check_random_state(random_state)
        return choose_rows(rng, _num_samples(X_pool), n_instances)
