"""fit with a budget: the simulated loop in which y is the oracle."""

import io
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score

from activekit import ActiveLearningClassifier


@pytest.mark.parametrize("strategy", ["random", "least_confident", "margin", "entropy"])
def test_budget_is_spent_exactly_on_unique_rows(digits, strategy):
    X, y = digits
    learner = ActiveLearningClassifier(
        query_strategy=strategy, n_initial=12, batch_size=7, budget=50, random_state=0
    ).fit(X, y)
    idx = learner.labeled_indices_
    assert len(idx) == 50
    assert len(np.unique(idx)) == 50
    assert_array_equal(learner.X_labeled_, X[idx])
    assert_array_equal(learner.y_labeled_, y[idx])
    # 12 initial, then 7 x 5 = 35, then the 3 that the budget leaves.
    sizes = [r["n_labeled"] for r in learner.history_]
    assert sizes == [12, 19, 26, 33, 40, 47, 50]
    assert learner.n_queries_ == 6
    chosen = np.concatenate([r["indices"] for r in learner.history_])
    assert_array_equal(chosen, idx)
    assert all(r["query_time"] >= 0 and r["fit_time"] > 0 for r in learner.history_)


def test_final_model_equals_one_fitted_on_the_acquired_rows(digits):
    X, y = digits
    learner = ActiveLearningClassifier(budget=60, random_state=1).fit(X, y)
    plain = LogisticRegression(max_iter=1000).fit(X[learner.labeled_indices_],
                                                   y[learner.labeled_indices_])
    np.testing.assert_allclose(learner.predict_proba(X), plain.predict_proba(X))


def test_initial_set_is_stratified(digits):
    X, y = digits
    learner = ActiveLearningClassifier(n_initial=20, budget=20, random_state=0).fit(X, y)
    counts = np.bincount(y[learner.labeled_indices_], minlength=10)
    assert_array_equal(counts, np.full(10, 2))


def test_initial_draw_falls_back_to_random_when_strata_cannot_fit(digits):
    X, y = digits
    learner = ActiveLearningClassifier(
        query_strategy="random", n_initial=3, budget=13, random_state=0
    ).fit(X, y)
    assert len(np.unique(learner.labeled_indices_)) == 13


def test_deterministic_for_a_random_state(digits):
    X, y = digits
    runs = [
        ActiveLearningClassifier(query_strategy=s, budget=40, random_state=7).fit(X, y)
        for s in ("margin", "margin", "random", "random")
    ]
    assert_array_equal(runs[0].labeled_indices_, runs[1].labeled_indices_)
    assert_array_equal(runs[2].labeled_indices_, runs[3].labeled_indices_)
    other = ActiveLearningClassifier(budget=40, random_state=8).fit(X, y)
    assert not np.array_equal(other.labeled_indices_, runs[0].labeled_indices_)


def test_margin_acquires_more_uncertain_rows_than_random(digits):
    X, y = digits
    margin = ActiveLearningClassifier(budget=120, random_state=0).fit(X, y)
    rand = ActiveLearningClassifier(query_strategy="random", budget=120, random_state=0)
    rand.fit(X, y)
    rest = lambda m: np.setdiff1d(np.arange(len(y)), m.labeled_indices_)  # noqa: E731
    assert margin.score(X[rest(margin)], y[rest(margin)]) > rand.score(
        X[rest(rand)], y[rest(rand)]
    )


def test_teach_after_a_simulation_accumulates(digits):
    X, y = digits
    learner = ActiveLearningClassifier(budget=30, random_state=0).fit(X, y)
    learner.teach(X[:5], y[:5])
    assert len(learner.y_labeled_) == 35
    assert learner.n_queries_ == 3


def test_grid_search_compares_strategies_at_a_fixed_budget(digits):
    X, y = digits
    X, y = X[:600], y[:600]
    search = GridSearchCV(
        ActiveLearningClassifier(budget=60, batch_size=10, random_state=0),
        {"query_strategy": ["random", "margin", "entropy"]},
        cv=3,
    ).fit(X, y)
    assert set(search.cv_results_["param_query_strategy"]) == {"random", "margin", "entropy"}
    assert len(search.best_estimator_.labeled_indices_) == 60
    assert np.all(search.cv_results_["mean_test_score"] > 0.5)


def test_cross_val_score_measures_accuracy_at_a_budget(digits):
    X, y = digits
    scores = cross_val_score(
        ActiveLearningClassifier(query_strategy="entropy", budget=50, random_state=0),
        X[:600], y[:600], cv=3,
    )
    assert scores.shape == (3,)
    assert np.all((scores > 0.5) & (scores <= 1.0))


def test_on_round_sees_each_trained_model_with_its_record(digits):
    X, y = digits
    params = dict(n_initial=12, batch_size=7, budget=40, random_state=0)
    seen = []

    def on_round(learner, record):
        seen.append((record, learner.y_labeled_, learner.predict_proba(X[:5])))

    learner = ActiveLearningClassifier(**params).fit(X, y, on_round=on_round)
    assert len(seen) == len(learner.history_) == 5
    assert all(record is kept for (record, _, _), kept in zip(seen, learner.history_, strict=True))
    # Each call sees the model trained on the labels acquired so far, the last the final one.
    assert [len(labels) for _, labels, _ in seen] == [12, 19, 26, 33, 40]
    assert_array_equal(seen[-1][1], learner.y_labeled_)
    assert_array_equal(seen[-1][2], learner.predict_proba(X[:5]))
    assert not np.array_equal(seen[0][2], seen[-1][2])
    # Watching changes nothing.
    plain = ActiveLearningClassifier(**params).fit(X, y)
    assert_array_equal(plain.labeled_indices_, learner.labeled_indices_)
    assert_array_equal(plain.predict_proba(X), learner.predict_proba(X))


def test_on_round_is_an_ordinary_fit_parameter(digits):
    X, y = digits
    rounds = []
    cross_val_score(
        ActiveLearningClassifier(budget=30, random_state=0), X[:600], y[:600], cv=3,
        params={"on_round": lambda learner, record: rounds.append(record["round"])},
    )
    assert rounds == [0, 1, 2] * 3


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize(("verbose", "tty", "shown"), [(1, True, True), (1, False, False), (0, True, False)])
def test_progress_bar_only_when_verbose_on_a_terminal(digits, monkeypatch, verbose, tty, shown):
    X, y = digits
    err = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    ActiveLearningClassifier(budget=30, random_state=0, verbose=verbose).fit(X, y)
    assert ("30/30" in err.getvalue()) == shown
