"""Bad input gets a clear error naming the problem, and leaves everything as it was."""

import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from activekit import ActiveLearningClassifier


@pytest.fixture
def data(digits):
    X, y = digits
    return X[:80].copy(), y[:80].copy(), X[80:200].copy()


@pytest.fixture
def fitted(data):
    X, y, _ = data
    return ActiveLearningClassifier(batch_size=5, random_state=0).fit(X, y)


def snapshot(*objects):
    # The legacy global RNG is exactly what must stay untouched.
    return pickle.dumps(objects), pickle.dumps(np.random.get_state())  # noqa: NPY002


NAN_POOL = np.full((3, 64), 0.5)
NAN_POOL[1, 3] = np.nan
INF_POOL = np.full((3, 64), 0.5)
INF_POOL[2, 0] = np.inf

QUERY_CASES = [
    ("empty pool", dict(X_pool=np.zeros((0, 64))), ValueError, r"0 sample\(s\)"),
    ("n_instances 0", dict(n_instances=0), ValueError, r"between 1 and the pool size \(120\), got 0"),
    ("n_instances negative", dict(n_instances=-3), ValueError, "got -3"),
    ("n_instances > pool", dict(n_instances=121), ValueError, r"pool size \(120\), got 121"),
    ("n_instances bool", dict(n_instances=True), TypeError, "must be an integer, got bool"),
    ("n_instances float", dict(n_instances=2.0), TypeError, "must be an integer, got float"),
    ("n_instances str", dict(n_instances="3"), TypeError, "must be an integer, got str"),
    ("NaN in pool", dict(X_pool=NAN_POOL), ValueError, "Input X contains NaN"),
    ("inf in pool", dict(X_pool=INF_POOL), ValueError, "Input X contains infinity"),
    ("1-D pool", dict(X_pool=np.zeros(64)), ValueError, "Expected 2D array, got 1D"),
    ("3-D pool", dict(X_pool=np.zeros((2, 8, 8))), ValueError, "Found array with dim 3"),
    ("feature count", dict(X_pool=np.zeros((5, 63))), ValueError, "X has 63 features, but"),
    ("complex pool", dict(X_pool=np.zeros((5, 64), dtype=complex)), ValueError, "Complex data"),
    ("string pool", dict(X_pool=np.full((5, 64), "a")), ValueError, "not compatible with arrays of bytes/strings"),
]


@pytest.mark.parametrize(("case", "kwargs", "exc", "message"), QUERY_CASES, ids=[c[0] for c in QUERY_CASES])
def test_query_rejects(fitted, data, case, kwargs, exc, message):
    kwargs = {"X_pool": data[2], **kwargs}
    pool_before = pickle.dumps(kwargs["X_pool"])
    before = snapshot(fitted)
    with pytest.raises(exc, match=message):
        fitted.query(**kwargs)
    assert snapshot(fitted) == before
    assert pickle.dumps(kwargs["X_pool"]) == pool_before


def test_query_before_fit(data):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        ActiveLearningClassifier().query(data[2])


@pytest.mark.parametrize("strategy", ["least_confident", "margin", "entropy"])
def test_single_class_labelled_set_with_uncertainty_strategy(data, strategy):
    X, y, pool = data
    # A decision tree, unlike logistic regression, fits a single class.
    learner = ActiveLearningClassifier(DecisionTreeClassifier(), query_strategy=strategy)
    learner.fit(X[y == 3], y[y == 3])
    before = snapshot(learner)
    with pytest.raises(ValueError, match=r"at least 2 classes; the labelled set has only the class \[3\]"):
        learner.query(pool)
    assert snapshot(learner) == before


def test_estimator_without_predict_proba(data):
    X, y, pool = data
    learner = ActiveLearningClassifier(LinearSVC(), query_strategy="entropy").fit(X, y)
    before = snapshot(learner)
    with pytest.raises(TypeError, match=r"'entropy' needs class probabilities.*LinearSVC has no"):
        learner.query(pool)
    assert snapshot(learner) == before
    # random sampling needs no probabilities.
    assert learner.set_params(query_strategy="random").fit(X, y).query(pool).shape == (10,)


def test_return_scores_needs_a_ranking_strategy(data):
    X, y, pool = data
    learner = ActiveLearningClassifier(query_strategy="random").fit(X, y)
    with pytest.raises(ValueError, match="return_scores=True needs a ranking strategy"):
        learner.query(pool, return_scores=True)


TEACH_CASES = [
    ("length mismatch", lambda X, y: (X[:3], y[:2]), ValueError, r"inconsistent numbers of samples: \[3, 2\]"),
    ("feature count", lambda X, y: (X[:3, :10], y[:3]), ValueError, "X has 10 features, but"),
    ("NaN", lambda X, y: (np.where(X[:3] > 0.5, np.nan, X[:3]), y[:3]), ValueError, "contains NaN"),
    ("1-D X", lambda X, y: (X[0], y[:1]), ValueError, "Expected 2D array"),
    ("empty", lambda X, y: (X[:0], y[:0]), ValueError, r"0 sample\(s\)"),
    ("string labels", lambda X, y: (X[:2], np.array(["a", "b"])), TypeError, "labels must all be numbers or all be strings"),
    ("continuous labels", lambda X, y: (X[:2], np.array([0.5, 1.5])), ValueError, "Unknown label type"),
    ("2-D labels", lambda X, y: (X[:2], np.zeros((2, 2))), ValueError, "y should be a 1d array"),
]


@pytest.mark.parametrize(("case", "make", "exc", "message"), TEACH_CASES, ids=[c[0] for c in TEACH_CASES])
def test_teach_rejects(fitted, data, case, make, exc, message):
    X_new, y_new = make(*data[:2])
    before = snapshot(fitted)
    with pytest.raises(exc, match=message):
        fitted.teach(X_new, y_new)
    assert snapshot(fitted) == before


def test_teach_before_fit(data):
    with pytest.raises(NotFittedError):
        ActiveLearningClassifier().teach(data[0], data[1])


class FailingClassifier(ClassifierMixin, BaseEstimator):
    """Fits like LogisticRegression until ``fail_after`` fits, then raises ``error``."""

    calls = 0

    def __init__(self, fail_after=1, error="value"):
        self.fail_after = fail_after
        self.error = error

    def fit(self, X, y):
        FailingClassifier.calls += 1
        if FailingClassifier.calls > self.fail_after:
            raise KeyboardInterrupt if self.error == "interrupt" else RuntimeError("fit failed")
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


@pytest.mark.parametrize(("error", "exc"), [("value", RuntimeError), ("interrupt", KeyboardInterrupt)])
def test_failed_refit_in_teach_changes_nothing(data, error, exc):
    X, y, pool = data
    FailingClassifier.calls = 0
    learner = ActiveLearningClassifier(FailingClassifier(fail_after=1, error=error)).fit(X, y)
    before = snapshot(learner)
    with pytest.raises(exc):
        learner.teach(pool[:4], np.array([0, 1, 2, 3]))
    assert snapshot(learner) == before
    assert len(learner.y_labeled_) == 80


@pytest.mark.parametrize(("error", "exc"), [("value", RuntimeError), ("interrupt", KeyboardInterrupt)])
def test_failed_simulation_leaves_the_previous_fit(digits, error, exc):
    X, y = digits
    FailingClassifier.calls = 0
    learner = ActiveLearningClassifier(FailingClassifier(fail_after=3, error=error)).fit(X, y)
    before = snapshot(learner)
    learner.set_params(budget=60, random_state=0)
    with pytest.raises(exc):
        learner.fit(X, y)  # fails in the third round of the simulation
    learner.set_params(budget=None, random_state=None)
    assert snapshot(learner) == before
    assert not hasattr(learner, "history_")


FIT_CASES = [
    ("budget > rows", dict(budget=81), ValueError, r"budget=81 exceeds the number of rows in X \(80\)"),
    ("n_initial > budget", dict(budget=10, n_initial=20), ValueError, "n_initial=20 must not exceed budget=10"),
    ("unknown strategy", dict(query_strategy="nope"), ValueError, r"query_strategy='nope' is not a known strategy; valid names are \['adaptive', 'badge', 'bald', 'batch_bald', 'cluster_margin'"),
    ("strategy type", dict(query_strategy=3), ValueError, "query_strategy"),
    ("batch_size 0", dict(batch_size=0), ValueError, "batch_size' parameter .* must be an int in the range"),
    ("budget float", dict(budget=2.5), ValueError, "'budget' parameter"),
    ("device", dict(device="tpu"), ValueError, r"device must be 'cpu', 'cuda' or 'cuda:N' \(N a CUDA device index\), got 'tpu'"),
    ("device type", dict(device=0), ValueError, "'device' parameter"),
    ("estimator", dict(estimator="svm"), ValueError, "'estimator' parameter"),
    ("estimator callable", dict(estimator=len), TypeError, "estimator must be a scikit-learn classifier, a skorch net or a torch.nn.Module class or instance, got builtin_function_or_method"),
]


@pytest.mark.parametrize(("case", "params", "exc", "message"), FIT_CASES, ids=[c[0] for c in FIT_CASES])
def test_fit_rejects(fitted, data, case, params, exc, message):
    X, y, _ = data
    before = snapshot(fitted)
    fitted.set_params(**params)
    with pytest.raises(exc, match=message):
        fitted.fit(X, y)
    fitted.set_params(**ActiveLearningClassifier(batch_size=5, random_state=0).get_params())
    assert snapshot(fitted) == before


def test_fit_with_nan_labels_or_mismatch(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        ActiveLearningClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="Unknown label type"):
        ActiveLearningClassifier().fit(X, y + 0.5)


def test_inputs_are_never_written(data):
    X, y, pool = data
    for a in (X, y, pool):
        a.setflags(write=False)
    learner = ActiveLearningClassifier(budget=30, random_state=0).fit(X, y)
    learner.query(pool)
    learner.teach(pool[:2], y[:2])
    assert not any(a.flags.writeable for a in (X, y, pool))
