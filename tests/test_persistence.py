"""Persistence: a fitted learner survives pickle and joblib, and joblib's parallel backends.

For every registered strategy, a learner fitted and taught is saved and loaded (pickle, joblib
with and without compression, joblib memory-mapped) and must predict, query and go on learning
exactly as the original. A simulated fit keeps its history. ``cross_val_score(n_jobs=2)``
gives the scores of ``n_jobs=1`` with the loky, multiprocessing and threading backends, and a
process forked after the kernels ran can run them too (their thread pools stay in the parent).
"""

import multiprocessing
import pickle

import joblib
import numpy as np
import pytest
from joblib import parallel_config
from sklearn.model_selection import cross_val_score

from activekit import ActiveLearningClassifier, _kernels
from activekit.strategies import get_strategy_names
from support.strategy_setup import make_learner, targets

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    return X[:80], y[:80], X[80:300], y[80:300]


def round_trips(learner, tmp_path):
    """The learner after each way of saving and loading it."""
    yield "pickle", pickle.loads(pickle.dumps(learner, protocol=pickle.HIGHEST_PROTOCOL))
    for name, kwargs in [("joblib", {}), ("joblib-compressed", {"compress": 3})]:
        path = tmp_path / f"{name}.joblib"
        joblib.dump(learner, path, **kwargs)
        yield name, joblib.load(path)
    path = tmp_path / "mmap.joblib"
    joblib.dump(learner, path)
    yield "joblib-mmap", joblib.load(path, mmap_mode="r")


def assert_same_learner(a, b, pool, y_pool):
    if hasattr(a, "predict_proba"):  # a classifier (regression strategies get a regressor)
        np.testing.assert_array_equal(a.predict_proba(pool), b.predict_proba(pool))
    np.testing.assert_array_equal(a.predict(pool), b.predict(pool))
    np.testing.assert_array_equal(a.query(pool, n_instances=5), b.query(pool, n_instances=5))
    np.testing.assert_array_equal(a.y_labeled_, b.y_labeled_)


@pytest.mark.parametrize("name", get_strategy_names())
def test_a_fitted_learner_survives_saving_and_loading(data, name, tmp_path):
    X, y, pool, y_pool = data
    y, y_pool = targets(name, y), targets(name, y_pool)
    learner = make_learner(name).fit(X, y)
    idx = learner.query(pool[:100], n_instances=5)
    learner.teach(pool[idx], y_pool[idx])
    learner.query(pool[100:], n_instances=5)  # a query between teaches (ALBL keeps it)
    for how, loaded in round_trips(learner, tmp_path):
        assert "_rw_lock" not in vars(loaded), how
        assert_same_learner(loaded, learner, pool[100:], y_pool[100:])
    # And it goes on learning as the original does (committees, bandits and all).
    _, loaded = next(round_trips(learner, tmp_path))
    for model in (learner, loaded):
        model.query(pool[150:], n_instances=4)
        model.teach(pool[100:110], y_pool[100:110])
    assert_same_learner(loaded, learner, pool[150:], y_pool[150:])


def test_a_simulation_survives_saving_and_loading(data, tmp_path):
    X, y, pool, y_pool = data
    learner = ActiveLearningClassifier(query_strategy="adaptive", budget=50, random_state=0)
    learner.fit(pool, y_pool)
    for how, loaded in round_trips(learner, tmp_path):
        np.testing.assert_array_equal(loaded.labeled_indices_, learner.labeled_indices_, err_msg=how)
        assert [r["indices"].tolist() for r in loaded.history_] == [
            r["indices"].tolist() for r in learner.history_
        ]
        np.testing.assert_array_equal(
            loaded.query_strategy_.probabilities_, learner.query_strategy_.probabilities_
        )
        assert_same_learner(loaded, learner, X, y)


def test_a_pickle_refers_to_the_class_path_and_attribute_names_it_always_did(data):
    """Pickles saved by earlier versions load while the class stays importable at
    activekit._learner and keeps these attribute names: renaming one (or moving the class)
    needs an alias or a ``__setstate__`` that upgrades the old state."""
    X, _, pool, y_pool = data
    learner = ActiveLearningClassifier(budget=30, random_state=0).fit(pool, y_pool)
    learner.should_stop(X)
    cls = type(learner)
    assert (cls.__module__, cls.__qualname__) == ("activekit._learner", "ActiveLearningClassifier")
    assert sorted(learner.__getstate__()) == [
        "X_labeled_", "_stop_checked_at", "batch_size", "budget", "classes_",
        "device", "estimator", "estimator_", "history_", "labeled_indices_", "n_features_in_",
        "n_initial", "n_jobs", "n_queries_", "query_strategy", "query_strategy_", "random_state",
        "stop_reason_", "stopping", "stopping_", "verbose", "y_labeled_",
    ]


@pytest.mark.parametrize("backend", ["loky", "multiprocessing", "threading"])
def test_cross_val_score_in_parallel_matches_sequential(digits, backend):
    X, y = digits
    X, y = X[:450], y[:450]
    # Kernels run here first, so any thread pools exist before workers start (or fork).
    _kernels.uncertainty_top_k(np.full((4, 2), 0.5), "margin", 2, n_jobs=2)
    for strategy in ["margin", "coreset"]:
        learner = ActiveLearningClassifier(query_strategy=strategy, budget=40, random_state=0)
        sequential = cross_val_score(learner, X, y, cv=3)
        with parallel_config(backend=backend):
            parallel = cross_val_score(learner, X, y, cv=3, n_jobs=2)
        np.testing.assert_array_equal(parallel, sequential)


def _kernels_in_a_child(_):
    probs = np.random.default_rng(0).dirichlet(np.ones(4), size=5000)
    X = np.random.default_rng(1).standard_normal((2000, 8))
    return (
        _kernels.uncertainty_top_k(probs, "entropy", 5)[0].tolist(),
        _kernels.uncertainty_top_k(probs, "entropy", 5, n_jobs=2)[0].tolist(),
        _kernels.kcenter_greedy(X, X[:1], 5)[0].tolist(),
    )


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform"
)
def test_a_forked_process_can_run_the_kernels():
    # The parent's pools are started (global and 2-thread) before the fork. Their threads are
    # not in the child; before the fix, its first kernel waited for them forever.
    want = _kernels_in_a_child(None)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(_kernels_in_a_child, (None,)).get(timeout=60)
    assert got == want
