"""Uncertainty sampling: least confident, margin and entropy (Lewis and Gale 1994;
Scheffer et al. 2001; Settles 2009), scored and selected by the Rust kernels."""

from __future__ import annotations

from .. import _kernels
from ._base import ScoringStrategy
from ._common import predict_proba

__all__ = ["EntropySampling", "LeastConfidentSampling", "MarginSampling"]


class _UncertaintySampling(ScoringStrategy):
    _rows_independent = True
    _measure: str

    def score(self, learner, X_pool):
        probs = predict_proba(learner, X_pool, self.name)
        return _kernels.uncertainty_scores(probs, self._measure, n_jobs=learner.n_jobs)

    def rank(self, learner, X_pool, n_instances, random_state=None):
        probs = predict_proba(learner, X_pool, self.name)
        return _kernels.uncertainty_top_k(probs, self._measure, n_instances, n_jobs=learner.n_jobs)


class LeastConfidentSampling(_UncertaintySampling):
    """Choose the rows whose most likely class is least probable: score ``1 - max_j p_j``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="least_confident").fit(X[::10], y[::10])
    >>> idx, scores = learner.query(X, n_instances=2, return_scores=True)
    >>> bool(scores[0] >= scores[1])
    True
    """

    name = "least_confident"
    _measure = "least_confident"


class MarginSampling(_UncertaintySampling):
    """Choose the rows with the smallest gap between the two most probable classes:
    score ``1 - (p_(1) - p_(2))``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="margin").fit(X[::10], y[::10])
    >>> learner.query(X, n_instances=4).shape
    (4,)
    """

    name = "margin"
    _measure = "margin"


class EntropySampling(_UncertaintySampling):
    """Choose the rows whose predicted class distribution has the highest entropy:
    score ``-sum_j p_j ln p_j``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="entropy").fit(X[::10], y[::10])
    >>> learner.query(X, n_instances=1).shape
    (1,)
    """

    name = "entropy"
    _measure = "entropy"
