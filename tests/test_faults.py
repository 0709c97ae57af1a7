"""Fault injection: whatever fails inside fit, teach or a simulation, the learner is as before.

A fault (RuntimeError, MemoryError or KeyboardInterrupt) is raised at a chosen call of one of
the places a step runs user code: the estimator's fit, the strategy's update hook, its
selection, a stopping criterion, a simulation's ``on_round`` callback. Every operation that
changes the learner (teach, a plain refit, a simulated fit) is all-or-nothing: after the
fault the learner pickles to the same bytes as before, and the same step, retried without the fault, gives what a learner that
never failed gives. Ctrl-C in a long Rust kernel, alone or inside a query, raises
KeyboardInterrupt within about a second and leaves nothing half-done.
"""

import pickle
from collections import Counter
from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from activekit import ActiveLearningClassifier, _kernels
from activekit.stopping import StoppingCriterion
from activekit.strategies import MarginSampling
from support import reference as ref
from support.interrupt import interrupted

# -- the injector --------------------------------------------------------------------------


class Fault:
    """Raise ``error`` at call number ``at`` of ``site`` (counted across clones)."""

    site = None
    at = None
    error = None
    calls: ClassVar[Counter] = Counter()

    @classmethod
    def arm(cls, site, after, error):
        """Fail at the ``after``-th call of ``site`` from now on."""
        cls.site, cls.at, cls.error = site, cls.calls[site] + after, error

    @classmethod
    def disarm(cls):
        cls.site = cls.at = cls.error = None


def hit(site):
    Fault.calls[site] += 1
    if site == Fault.site and Fault.calls[site] == Fault.at:
        raise Fault.error("injected fault") if Fault.error is not KeyboardInterrupt else KeyboardInterrupt


pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(autouse=True)
def no_fault():
    Fault.disarm()
    Fault.calls.clear()
    yield
    Fault.disarm()


class FaultyClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression whose fit passes through the injector."""

    def fit(self, X, y):
        hit("estimator.fit")
        self.model_ = LogisticRegression(max_iter=300).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


class FaultyMargin(MarginSampling):
    """Margin sampling whose update hook and selection pass through the injector."""

    def update(self, learner):
        hit("strategy.update")
        self.n_updates_ = getattr(self, "n_updates_", 0) + 1  # replaced, never mutated
        return super().update(learner)

    def rank(self, learner, X_pool, n_instances, random_state=None):
        hit("strategy.select")
        return super().rank(learner, X_pool, n_instances, random_state)


class FaultyStopping(StoppingCriterion):
    def check(self, learner, X_pool):
        hit("stopping.check")
        return None


def make_learner(**params):
    return ActiveLearningClassifier(
        FaultyClassifier(), query_strategy=FaultyMargin(), stopping=FaultyStopping(),
        batch_size=5, n_initial=10, random_state=0, **params,
    )


def state(learner):
    return pickle.dumps(learner), pickle.dumps(np.random.get_state())  # noqa: NPY002


@pytest.fixture
def data(digits):
    X, y = digits
    return X[:60], y[:60], X[60:160], y[60:160]


# -- the operations a fault may hit ----------------------------------------------------------


def teach(learner, data):
    learner.teach(data[2][:6], data[3][:6])


def refit(learner, data):
    learner.fit(data[2], data[3])


def simulate(learner, data):
    learner.set_params(budget=30)
    try:
        learner.fit(data[2], data[3], on_round=lambda learner, record: hit("on_round"))
    finally:
        learner.set_params(budget=None)


OPERATIONS = {"teach": teach, "refit": refit, "simulation": simulate}
# Which sites each operation runs, and at which of their calls the fault is placed: the
# simulation trains 5 times (10 initial labels, then 4 batches of 5), so the 3rd call of a
# per-round site fails in the middle of the loop.
CASES = [
    ("teach", "estimator.fit", 1),
    ("teach", "strategy.update", 1),
    ("refit", "estimator.fit", 1),
    ("refit", "strategy.update", 1),
    ("simulation", "estimator.fit", 3),
    ("simulation", "strategy.update", 3),
    ("simulation", "strategy.select", 3),
    ("simulation", "stopping.check", 3),
    ("simulation", "on_round", 3),
]
ERRORS = [RuntimeError, MemoryError, KeyboardInterrupt]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.__name__)
@pytest.mark.parametrize(("operation", "site", "at"), CASES, ids=[f"{o}-{s}" for o, s, _ in CASES])
def test_a_fault_leaves_the_learner_as_it_was(data, operation, site, at, error):
    learner = make_learner().fit(data[0], data[1])
    twin = make_learner().fit(data[0], data[1])
    before = state(learner)
    Fault.arm(site, at, error)
    with pytest.raises(error):
        OPERATIONS[operation](learner, data)
    assert Fault.calls[site] == Fault.at, "the fault was not reached"
    Fault.disarm()
    assert state(learner) == before
    # The same step, retried, gives what a learner that never failed gives.
    OPERATIONS[operation](learner, data)
    OPERATIONS[operation](twin, data)
    np.testing.assert_array_equal(learner.y_labeled_, twin.y_labeled_)
    np.testing.assert_array_equal(learner.predict_proba(data[2]), twin.predict_proba(data[2]))
    np.testing.assert_array_equal(learner.query(data[2]), twin.query(data[2]))
    assert learner.query_strategy_.n_updates_ == twin.query_strategy_.n_updates_


def test_a_fault_in_the_first_fit_leaves_no_fitted_attributes(data):
    learner = make_learner()
    Fault.arm("strategy.update", 1, KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        learner.fit(data[0], data[1])
    assert not [name for name in vars(learner) if name.endswith("_") and not name.startswith("_")]
    assert pickle.dumps(learner) == pickle.dumps(make_learner())


# -- Ctrl-C in the Rust kernels ----------------------------------------------------------------


@pytest.fixture(scope="module")
def spread():
    # 60k spread points in 400 dimensions: every long kernel takes many seconds on it.
    return np.random.default_rng(0).standard_normal((60_000, 400)).astype(np.float32)


LONG_KERNELS = {
    # kcenter_greedy and knn have their own Ctrl-C tests in test_kernels_*.py.
    "min_distances": lambda X: _kernels.min_distances(X, X[:20_000], n_jobs=1),
    "kmeans_plusplus": lambda X: _kernels.kmeans_plusplus(X, len(X), random_state=0, n_jobs=1),
    "knn_density": lambda X: _kernels.knn_density(X, 10, n_jobs=1),
}


@pytest.mark.parametrize("name", sorted(LONG_KERNELS))
def test_ctrl_c_stops_a_long_kernel_within_a_second(spread, name):
    lag = interrupted(lambda: LONG_KERNELS[name](spread))
    assert lag < 1.0, f"{name}: Ctrl-C took {lag:.2f} s to land"
    # Nothing is left half-done: the next call is as good as ever.
    X = spread[:50, :3].astype(np.float64)
    dist, arg = _kernels.min_distances(X, X[:7])
    want_d, want_i = ref.min_distances(X, X[:7])
    np.testing.assert_array_equal(arg, want_i)
    np.testing.assert_allclose(dist, want_d)


def test_ctrl_c_in_a_query_leaves_the_learner_as_it_was(spread, digits):
    X, y = spread[:200], np.arange(200) % 3
    learner = ActiveLearningClassifier(query_strategy="coreset", n_jobs=1).fit(X, y)
    before = pickle.dumps(learner)
    lag = interrupted(lambda: learner.query(spread, n_instances=len(spread)))
    assert lag < 1.0, f"Ctrl-C took {lag:.2f} s to land"
    assert pickle.dumps(learner) == before
    # Nothing the query held is still held: teach goes through at once.
    learner.teach(spread[200:203], [0, 1, 2])
    assert learner.query(spread[300:400], n_instances=3).shape == (3,)
