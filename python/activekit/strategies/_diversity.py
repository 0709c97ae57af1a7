"""Diversity: core-set (k-center greedy; Sener and Savarese 2018) and ranked batch-mode
sampling (Cardoso et al. 2017), on the Rust distance kernels."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.utils import check_random_state

from .. import _kernels
from .._compat import Interval, StrOptions
from ._base import RankingStrategy
from ._common import ALL_TARGETS, n_jobs_of
from ._embedding import (
    EMBEDDING_CONSTRAINT,
    embed_pool_and_labeled,
    embedding_docstring,
    uncertainty_or_none,
)

__all__ = ["CoreSet", "RankedBatch"]

_METRICS = {"euclidean", "cosine"}


@embedding_docstring
class CoreSet(RankingStrategy):
    """Core-set selection: k-center greedy (farthest-first traversal) from the labelled set.

    Each pick is the pool row farthest from its nearest labelled or already-picked row, so
    the batch covers the pool (Sener and Savarese 2018). Exact: the same picks as a plain
    greedy, ties to the lowest row; the Rust kernel brings only the front-runner up to date
    (a lazy greedy), reading a fraction of the pool per pick. Without a labelled set (a
    ``None`` learner: cold start) the first pick is a random row.

    On a Dask pool the greedy runs in two stages (a composable core-set): each chunk's ``k``
    picks from the labelled set, then the greedy over their union. Not exact there, but within
    a factor: every pool row is within ``4 OPT`` of the labelled set and the picks (``OPT``
    the best covering radius of any ``k`` centres added to the labelled set), so within 4x
    the exact greedy's radius (in Euclidean distance; cosine distance is not a metric, so
    ``metric="cosine"`` has no such bound); one chunk gives the exact picks (``docs/dask.md``).

    Parameters
    ----------
    metric : {"euclidean", "cosine"}, default="euclidean"
    {embedding_parameter}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="coreset").fit(X[:30], y[:30])
    >>> idx, dist = learner.query(X[30:], n_instances=5, return_scores=True)
    >>> bool((dist[:-1] >= dist[1:]).all())  # farthest first, never increasing
    True
    """

    name = "coreset"
    _targets = ALL_TARGETS
    _parameter_constraints: dict = {  # noqa: RUF012
        "metric": [StrOptions(_METRICS)],
        "embedding": EMBEDDING_CONSTRAINT,
    }

    def __init__(self, metric="euclidean", embedding=None):
        self.metric = metric
        self.embedding = embedding

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """Picks in order, with each pick's distance to its nearest centre when picked."""
        self._validate_params()
        E_pool, E_lab = embed_pool_and_labeled(learner, X_pool, self.embedding, self.name)
        first = None
        if len(E_lab) == 0:
            first = int(check_random_state(random_state).randint(len(E_pool)))
        return _kernels.kcenter_greedy(
            E_pool, E_lab, n_instances, first=first, metric=self.metric, n_jobs=n_jobs_of(learner)
        )


@embedding_docstring
class RankedBatch(RankingStrategy):
    """Ranked batch-mode sampling (Cardoso et al. 2017): uncertainty traded against distance.

    Each pick maximises ``alpha * (1 - sim) + (1 - alpha) * uncertainty``, where ``sim`` is
    ``1 / (1 + d)`` and ``d`` the distance to the nearest labelled or already-picked row; the
    distances are kept in one vector and updated with each pick. By default
    ``alpha = n_pool / (n_pool + n_labeled)``: diversity matters most while labels are few.

    Parameters
    ----------
    uncertainty : {"least_confident", "margin", "entropy"}, default="least_confident"
    alpha : float in [0, 1] or "auto", default="auto"
    metric : {"euclidean", "cosine"}, default="euclidean"
    {embedding_parameter}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="ranked_batch").fit(X[:30], y[:30])
    >>> learner.query(X[30:], n_instances=4).shape
    (4,)
    """

    name = "ranked_batch"
    # With a multi-label learner its uncertainty is the measure's mean over the labels.
    _targets = ("binary", "multiclass", "multilabel-indicator")
    _parameter_constraints: dict = {  # noqa: RUF012
        "uncertainty": [StrOptions(set(_kernels.UNCERTAINTY_MEASURES))],
        "alpha": [Interval(Real, 0, 1, closed="both"), StrOptions({"auto"})],
        "metric": [StrOptions(_METRICS)],
        "embedding": EMBEDDING_CONSTRAINT,
    }

    def __init__(
        self, uncertainty="least_confident", alpha="auto", metric="euclidean", embedding=None
    ):
        self.uncertainty = uncertainty
        self.alpha = alpha
        self.metric = metric
        self.embedding = embedding

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """Picks in order, with each pick's combined score when picked."""
        self._validate_params()
        E_pool, E_lab = embed_pool_and_labeled(learner, X_pool, self.embedding, self.name)
        n_pool = len(E_pool)
        alpha = n_pool / (n_pool + len(E_lab)) if self.alpha == "auto" else float(self.alpha)
        uncertainty = uncertainty_or_none(learner, X_pool, self.uncertainty)
        if uncertainty is None:
            uncertainty = np.zeros(n_pool)
        n_jobs = n_jobs_of(learner)
        if len(E_lab):
            dist, _ = _kernels.min_distances(E_pool, E_lab, metric=self.metric, n_jobs=n_jobs)
            dist = dist.astype(np.float64)
        else:
            dist = np.full(n_pool, np.inf)
        picked = np.zeros(n_pool, dtype=bool)
        order, scores = [], []
        for _ in range(n_instances):
            similarity = np.where(np.isinf(dist), 0.0, 1.0 / (1.0 + dist))
            score = alpha * (1.0 - similarity) + (1.0 - alpha) * uncertainty
            score[picked] = -np.inf
            best = int(np.argmax(score))  # the first maximum: ties to the lowest row
            order.append(best)
            scores.append(float(score[best]))
            picked[best] = True
            new, _ = _kernels.min_distances(
                E_pool, E_pool[best : best + 1], metric=self.metric, n_jobs=n_jobs
            )
            np.minimum(dist, new, out=dist)
        return np.asarray(order, dtype=np.intp), np.asarray(scores)
