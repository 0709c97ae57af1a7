"""How the reliability tests build a learner for each registered strategy.

They run over ``get_strategy_names()``, so a strategy added later is tested without an edit
here, with logistic regression and its default parameters. A strategy that needs another kind
of estimator (a torch module for MC dropout), or whose defaults are slow on small tests, gets
an entry below; this is the one place to add it.

The suites label their rows with digits' classes 0-9. A strategy for continuous targets only
gets an ActiveLearningRegressor, which fits those labels as numbers; a multi-label strategy
gets a classifier fitted on :func:`targets` of them, three label columns.
"""

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier

from activekit import ActiveLearningClassifier, ActiveLearningRegressor
from activekit.strategies import get_strategy

#: Strategy parameters that keep the tests fast (expected error reduction refits the model
#: n_candidates x n_classes times a query).
PARAMS = {
    "expected_error_reduction": dict(n_candidates=3, n_eval=40),
}

#: Estimator factories for strategies that cannot use logistic regression.
ESTIMATORS = {}


def make_strategy(name, **params):
    return get_strategy(name).set_params(**{**PARAMS.get(name, {}), **params})


def _supports(name):
    return set(get_strategy(name).supported_targets())


def is_regression_only(name):
    """Whether strategy ``name`` supports continuous targets and no class labels: it gets an
    ActiveLearningRegressor (with Ridge), which fits the suites' integer labels as numbers."""
    targets = _supports(name)
    return "continuous" in targets and not {"binary", "multiclass"} & targets


def is_multilabel_only(name):
    """Whether strategy ``name`` supports only multi-label targets: its learner is fitted on
    :func:`targets` of the suites' labels."""
    return _supports(name) == {"multilabel-indicator"}


def targets(name, y):
    """What the learner for strategy ``name`` is fitted on, from digit labels ``y``: ``y``
    itself, or for a multi-label strategy the indicator matrix of three labels (odd, at least
    5, a multiple of 3), each present and absent among the digits."""
    if not is_multilabel_only(name):
        return y
    y = np.asarray(y)
    return np.column_stack([y % 2 == 1, y >= 5, y % 3 == 0]).astype(np.int64)


def make_estimator(name):
    if name in ESTIMATORS:
        return ESTIMATORS[name]()
    if is_regression_only(name):
        return Ridge()
    if is_multilabel_only(name):
        return OneVsRestClassifier(LogisticRegression(max_iter=300))
    return LogisticRegression(max_iter=300)


def make_learner(name, estimator=None, **params):
    """An unfitted learner for strategy ``name``, seeded."""
    cls = ActiveLearningRegressor if is_regression_only(name) else ActiveLearningClassifier
    return cls(
        estimator if estimator is not None else make_estimator(name),
        query_strategy=make_strategy(name),
        random_state=0,
        **params,
    )
