"""Stopping criteria: when is labelling more data no longer worth it?

A criterion is checked after every training round, in a simulated ``fit`` and through
:meth:`ActiveLearningClassifier.should_stop` in the interactive loop. It answers with the reason
to stop, or ``None`` to go on. The learner clones the criteria it is given (``stopping_``), so
state a criterion keeps between rounds (attributes ending in ``_``) never leaks between fits.

Examples
--------
>>> from sklearn.datasets import load_digits
>>> from activekit import ActiveLearningClassifier
>>> from activekit.stopping import StabilizingPredictions
>>> X, y = load_digits(return_X_y=True)
>>> learner = ActiveLearningClassifier(
...     budget=400, stopping=StabilizingPredictions(threshold=0.95), random_state=0
... ).fit(X / 16, y)
>>> learner.stop_reason_.startswith("stabilizing predictions")
True
>>> len(learner.y_labeled_) < 400
True
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import cohen_kappa_score
from sklearn.utils import check_random_state

from . import _kernels
from ._compat import Interval, StrOptions, _num_samples

__all__ = ["LabelBudget", "MaxUncertainty", "StabilizingPredictions", "StoppingCriterion"]


class StoppingCriterion(BaseEstimator):
    """Base class of stopping criteria: one method, :meth:`check`."""

    _parameter_constraints: dict = {}  # noqa: RUF012 (scikit-learn's convention)

    def check(self, learner, X_pool):
        """The reason to stop now, or ``None`` to go on.

        Called once after each training round, with the fitted learner and the rows still
        unlabelled (validated; possibly empty).

        Returns
        -------
        reason : str or None
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement check")

    def _validate(self):
        self._validate_params()


class LabelBudget(StoppingCriterion):
    """Stop once ``n_labels`` rows are labelled.

    Parameters
    ----------
    n_labels : int
        Labels after which to stop.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.stopping import LabelBudget
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearningClassifier(stopping=LabelBudget(30)).fit(X[::5], y[::5])
    >>> learner.should_stop(X), learner.stop_reason_
    (True, 'label budget: 30 labels used of 30')
    """

    _parameter_constraints: dict = {"n_labels": [Interval(Integral, 1, None, closed="left")]}  # noqa: RUF012

    def __init__(self, n_labels):
        self.n_labels = n_labels

    def check(self, learner, X_pool):
        used = _num_samples(learner.y_labeled_)
        if used >= self.n_labels:
            return f"label budget: {used} labels used of {self.n_labels}"
        return None


class MaxUncertainty(StoppingCriterion):
    """Stop when the most uncertain unlabelled row is below ``threshold`` (Zhu et al. 2008).

    Parameters
    ----------
    threshold : float, default=0.1
        Stop when every pool row scores below it.
    measure : {"least_confident", "margin", "entropy"}, default="least_confident"
        The uncertainty score (as in the strategies of the same names).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.stopping import MaxUncertainty
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearningClassifier(stopping=MaxUncertainty(0.9)).fit(X, y)
    >>> learner.should_stop(X)
    True
    """

    _parameter_constraints: dict = {  # noqa: RUF012
        "threshold": [Interval(Real, 0, None, closed="left")],
        "measure": [StrOptions(set(_kernels.UNCERTAINTY_MEASURES))],
    }

    def __init__(self, threshold=0.1, measure="least_confident"):
        self.threshold = threshold
        self.measure = measure

    def check(self, learner, X_pool):
        if _num_samples(X_pool) == 0:
            return None
        if not hasattr(learner.estimator_, "predict_proba") or len(learner.classes_) < 2:
            raise TypeError(
                "MaxUncertainty needs a model with predict_proba trained on at least 2 classes"
            )
        probs = learner.estimator_.predict_proba(X_pool)
        _, top = _kernels.uncertainty_top_k(probs, self.measure, 1, n_jobs=learner.n_jobs)
        if top[0] < self.threshold:
            return (
                f"max uncertainty: the most uncertain pool row scores {float(top[0]):.4g} "
                f"({self.measure}) < {self.threshold}"
            )
        return None


class StabilizingPredictions(StoppingCriterion):
    """Stop when successive models agree on a stop set (Bloodgood and Vijay-Shanker 2009).

    At the first check, ``stop_set_size`` rows of the pool are drawn and kept as the stop set;
    after every later round, the new model's predictions on it are compared with the previous
    model's by Cohen's kappa. The loop stops when the mean kappa over the last ``window``
    comparisons reaches ``threshold``.

    Parameters
    ----------
    stop_set_size : int, default=2000
        Rows of the pool kept as the stop set (all of it if smaller).
    window : int, default=3
        Comparisons averaged.
    threshold : float, default=0.99
        Mean kappa at which to stop.
    random_state : int, RandomState instance or None, default=None
        Draws the stop set; ``None`` uses the learner's ``random_state``.

    Attributes
    ----------
    stop_set_ : ndarray of shape (n_stop, n_features)
        The stop set.
    kappas_ : list of float
        Agreement of each model with the one before.
    """

    _parameter_constraints: dict = {  # noqa: RUF012
        "stop_set_size": [Interval(Integral, 1, None, closed="left")],
        "window": [Interval(Integral, 1, None, closed="left")],
        "threshold": [Interval(Real, -1, 1, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(self, stop_set_size=2000, window=3, threshold=0.99, random_state=None):
        self.stop_set_size = stop_set_size
        self.window = window
        self.threshold = threshold
        self.random_state = random_state

    def check(self, learner, X_pool):
        if not hasattr(self, "stop_set_"):
            n_pool = _num_samples(X_pool)
            if n_pool == 0:
                return None
            seed = self.random_state if self.random_state is not None else learner.random_state
            rng = check_random_state(seed)
            rows = np.sort(rng.choice(n_pool, min(self.stop_set_size, n_pool), replace=False))
            self.stop_set_ = X_pool[rows]
            self.kappas_ = []
            self._last = None
        predictions = learner.estimator_.predict(self.stop_set_)
        if self._last is not None:
            if np.array_equal(predictions, self._last):
                kappa = 1.0  # also where kappa is undefined (one class predicted throughout)
            else:
                kappa = float(cohen_kappa_score(self._last, predictions))
            self.kappas_.append(kappa)
        self._last = predictions
        recent = self.kappas_[-self.window :]
        if len(recent) == self.window and np.mean(recent) >= self.threshold:
            return (
                f"stabilizing predictions: mean Cohen's kappa {np.mean(recent):.4f} over the "
                f"last {self.window} rounds >= {self.threshold}"
            )
        return None
