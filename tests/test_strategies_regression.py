"""Regression strategies against NumPy references of the papers' formulas, known answers and
target-type errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import BayesianRidge, LinearRegression, Ridge
from sklearn.tree import DecisionTreeRegressor

from activekit import ActiveLearningClassifier, ActiveLearningRegressor
from activekit._random import draw_seed
from activekit.strategies import (
    CommitteeVariance,
    ExpectedModelChange,
    GreedySamplingX,
    GreedySamplingY,
)
from activekit.strategies._common import check_target_type
from activekit.strategies._regression import bootstrap_predictions


def fitted(strategy, n_lab, n_pool, n_features, seed, estimator=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_lab + n_pool, n_features))
    y = X @ rng.normal(size=n_features) + 0.1 * rng.normal(size=n_lab + n_pool)
    learner = ActiveLearningRegressor(estimator or Ridge(), query_strategy=strategy)
    return learner.fit(X[:n_lab], y[:n_lab]), X[n_lab:]


def greedy_reference(dist_to_centres, pairwise_new, k):
    """Farthest-first: ``best`` starts at the distance to the labelled set; each pick is the
    argmax (lowest index on ties) and lowers ``best`` by its own distances."""
    best = dist_to_centres.copy()
    picks = []
    for _ in range(k):
        masked = best.copy()
        masked[picks] = -np.inf
        i = int(np.argmax(masked))
        picks.append(i)
        best = np.minimum(best, pairwise_new(i))
    return picks


shapes = st.tuples(st.integers(1, 8), st.integers(2, 30), st.integers(1, 4), st.integers(0, 99))


@settings(max_examples=25, deadline=None)
@given(shapes)
def test_gsx_is_farthest_first_in_input_space(shape):
    n_lab, n_pool, d, seed = shape
    learner, P = fitted("gsx", n_lab + 2, n_pool, d, seed)
    L = learner.X_labeled_
    k = min(3, n_pool)
    dist = np.sqrt(((P[:, None] - L[None]) ** 2).sum(-1)).min(1)
    ref = greedy_reference(dist, lambda i: np.sqrt(((P - P[i]) ** 2).sum(-1)), k)
    assert learner.query(P, n_instances=k).tolist() == ref


@settings(max_examples=25, deadline=None)
@given(shapes)
def test_gsy_is_farthest_first_in_output_space(shape):
    n_lab, n_pool, d, seed = shape
    learner, P = fitted("gsy", n_lab + 2, n_pool, d, seed)
    f, y = learner.predict(P), learner.y_labeled_
    k = min(3, n_pool)
    ref = greedy_reference(np.abs(f[:, None] - y[None]).min(1), lambda i: np.abs(f - f[i]), k)
    assert learner.query(P, n_instances=k).tolist() == ref


@settings(max_examples=25, deadline=None)
@given(shapes)
def test_igs_minimises_the_product_over_labelled_rows(shape):
    n_lab, n_pool, d, seed = shape
    learner, P = fitted("igs", n_lab + 2, n_pool, d, seed)
    L, y, f = learner.X_labeled_, learner.y_labeled_, learner.predict(P)
    k = min(3, n_pool)
    dx = np.sqrt(((P[:, None] - L[None]) ** 2).sum(-1))
    start = (dx * np.abs(f[:, None] - y[None])).min(1)
    ref = greedy_reference(
        start, lambda i: np.sqrt(((P - P[i]) ** 2).sum(-1)) * np.abs(f - f[i]), k
    )
    picks, values = learner.query(P, n_instances=k, return_scores=True)
    assert picks.tolist() == ref
    np.testing.assert_allclose(values[0], start[ref[0]], rtol=1e-9, atol=1e-12)


def test_emcm_matches_cai_et_al_bootstrap_formula():
    learner, P = fitted("emcm", 20, 40, 4, 2)
    strategy = ExpectedModelChange(n_members=4, random_state=3)
    # The bootstrap written out: resample rows with replacement, refit, predict.
    rng = np.random.RandomState(3)
    boot = []
    for _ in range(4):
        rows = rng.randint(20, size=20)
        draw_seed(rng)  # Ridge takes a random_state: each member is seeded from the stream
        boot.append(Ridge().fit(learner.X_labeled_[rows], learner.y_labeled_[rows]).predict(P))
    f = learner.predict(P)
    expected = np.mean([np.abs(f - b) * np.linalg.norm(P, axis=1) for b in boot], axis=0)
    np.testing.assert_allclose(strategy.score(learner, P), expected, rtol=1e-10)


def test_committee_variance_three_ways():
    learner, P = fitted("committee_variance", 25, 30, 3, 4, BayesianRidge())
    _, std = learner.estimator_.predict(P, return_std=True)
    np.testing.assert_allclose(CommitteeVariance().score(learner, P), std**2)
    boot = bootstrap_predictions(learner, P, 6, 0)
    np.testing.assert_allclose(
        CommitteeVariance(n_members=6, use_std="never").score(learner, P), boot.var(axis=0)
    )
    members = [LinearRegression(), DecisionTreeRegressor(max_depth=2, random_state=0)]
    given = CommitteeVariance(committee=members).update(learner)
    preds = [m.fit(learner.X_labeled_, learner.y_labeled_).predict(P) for m in members]
    np.testing.assert_allclose(given.score(learner, P), np.var(preds, axis=0))


def test_known_answers():
    # Labelled targets 0 and 10; predictions 5, 1 and 9.9 are 5, 1 and 0.1 away: GSy picks 5.
    X = np.array([[0.0], [10.0], [5.0], [1.0], [9.9]])
    learner = ActiveLearningRegressor(LinearRegression(), query_strategy="gsy")
    learner.fit(X[:2], X[:2, 0])
    idx, dist = learner.query(X[2:], n_instances=2, return_scores=True)
    assert idx.tolist() == [0, 1]  # then 1: 1 from 0 (9.9 is only 0.1 from 10)
    np.testing.assert_allclose(dist, [5.0, 1.0])
    # GSx on the same rows: 5 is 5 from both ends.
    gsx = ActiveLearningRegressor(LinearRegression(), query_strategy="gsx").fit(X[:2], X[:2, 0])
    assert gsx.query(X[2:], n_instances=1).tolist() == [0]


@pytest.mark.parametrize("name", ["margin", "entropy", "vote_entropy", "bald"])
def test_classifier_strategies_refuse_a_regressor(name):
    X = np.random.default_rng(0).normal(size=(20, 3))
    learner = ActiveLearningRegressor(query_strategy=name)
    with pytest.raises(ValueError, match=r"supports targets \['binary', 'multiclass'\], not 'continuous'"):
        learner.fit(X, X[:, 0])


@pytest.mark.parametrize("name", ["gsx", "gsy", "igs", "emcm", "committee_variance"])
def test_regression_strategies_refuse_class_labels(name):
    with pytest.raises(ValueError, match=r"supports targets \['continuous'\], not 'multiclass'"):
        check_target_type(name, np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError, match=r"supports targets \['continuous'\]"):
        check_target_type(GreedySamplingY(), ActiveLearningClassifier())
    check_target_type(GreedySamplingX(), ActiveLearningRegressor())


def test_continuous_y_to_the_classifier_is_a_clear_error():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="continuous"):
        ActiveLearningClassifier().fit(X, X[:, 0])


def test_nan_targets_are_refused():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = X[:, 0].copy()
    y[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ActiveLearningRegressor().fit(X, y)
    learner = ActiveLearningRegressor(query_strategy="gsx").fit(X, X[:, 0])
    with pytest.raises(ValueError, match="NaN"):
        learner.teach(X[:2], [1.0, np.nan])
    assert len(learner.y_labeled_) == 20


def test_gsx_is_the_core_set_greedy_under_the_papers_name():
    from sklearn.datasets import load_diabetes

    from activekit.strategies import CoreSet, GreedySamplingX

    X, y = load_diabetes(return_X_y=True)
    picks = {
        name: ActiveLearningRegressor(query_strategy=name).fit(X[:25], y[:25]).query(X[25:], n_instances=12)
        for name in ("gsx", "coreset")
    }
    np.testing.assert_array_equal(picks["gsx"], picks["coreset"])
    assert issubclass(GreedySamplingX, CoreSet)
    assert GreedySamplingX().get_params() == {"embedding": None}
