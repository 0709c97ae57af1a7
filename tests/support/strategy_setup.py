"""How the reliability tests build a learner for each registered strategy.

They run over ``get_strategy_names()``, so a strategy added later is tested without an edit
here, with logistic regression and its default parameters. A strategy that needs another kind
of estimator (a torch module for MC dropout), or whose defaults are slow on small tests, gets
an entry below; this is the one place to add it.
"""

from sklearn.linear_model import LogisticRegression, Ridge

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


def is_regression_only(name):
    """Whether strategy ``name`` supports continuous targets and no class labels: it gets an
    ActiveLearningRegressor (with Ridge), which fits the suites' integer labels as numbers."""
    targets = type(get_strategy(name))._targets
    return "continuous" in targets and not {"binary", "multiclass"} & set(targets)


def make_estimator(name):
    if name not in ESTIMATORS and is_regression_only(name):
        return Ridge()
    return ESTIMATORS.get(name, lambda: LogisticRegression(max_iter=300))()


def make_learner(name, estimator=None, **params):
    """An unfitted learner for strategy ``name``, seeded."""
    cls = ActiveLearningRegressor if is_regression_only(name) else ActiveLearningClassifier
    return cls(
        estimator if estimator is not None else make_estimator(name),
        query_strategy=make_strategy(name),
        random_state=0,
        **params,
    )
