"""Uncertainty sampling: least confident, margin and entropy (Lewis and Gale 1994;
Scheffer et al. 2001; Settles 2009), scored and selected by the Rust kernels."""

from __future__ import annotations

import numpy as np

from .. import _kernels
from ._base import RankingStrategy

__all__ = [
    "EntropySampling",
    "LeastConfidentSampling",
    "MarginSampling",
    "check_probabilities",
    "predict_proba",
]


def predict_proba(learner, X_pool, strategy_name):
    """Class probabilities of the learner's model on the pool, checked for use in a score."""
    estimator = learner.estimator_
    if not hasattr(estimator, "predict_proba"):
        raise TypeError(
            f"query_strategy={strategy_name!r} needs class probabilities, but the estimator "
            f"{type(estimator).__name__} has no predict_proba; use an estimator with "
            "predict_proba or query_strategy='random'"
        )
    if len(learner.classes_) < 2:
        raise ValueError(
            f"query_strategy={strategy_name!r} needs a model trained on at least 2 classes; "
            f"the labelled set has only the class {learner.classes_.tolist()}"
        )
    return estimator.predict_proba(X_pool)


def check_probabilities(probs, learner, strategy_name):
    """``probs`` as float64 after checking that each row is a distribution over the classes.

    For strategies that use probabilities in NumPy; the kernels check their own input.
    """
    p = np.asarray(probs, dtype=np.float64)
    n_classes = len(learner.classes_)
    if p.ndim != 2 or p.shape[1] != n_classes:
        raise ValueError(
            f"query_strategy={strategy_name!r}: predict_proba returned shape {p.shape}; "
            f"expected (n_rows, {n_classes}), one column per class"
        )
    tol = max(1e-6, 4 * n_classes * np.finfo(np.float64).eps)
    finite = np.isfinite(p).all(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        sums = p.sum(axis=1)
        bad = ~finite | (p < 0).any(axis=1) | (abs(sums - 1) > tol)
    if bad.any():
        row = int(np.argmax(bad))
        if not finite[row]:
            reason = "contains NaN or infinity"
        elif (p[row] < 0).any():
            reason = f"has the negative entry {p[row].min()}"
        else:
            reason = f"sums to {sums[row]}"
        raise ValueError(
            f"query_strategy={strategy_name!r}: predict_proba row {row} {reason}; expected "
            f"finite non-negative probabilities summing to 1 (tolerance {tol:g})"
        )
    return p


class _UncertaintySampling(RankingStrategy):
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
