"""Stopping criteria, in the simulated and the interactive loop."""

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from activekit import ActiveLearningClassifier
from activekit.stopping import LabelBudget, MaxUncertainty, StabilizingPredictions


def test_budget_is_the_default_reason(digits):
    X, y = digits
    learner = ActiveLearningClassifier(budget=60, random_state=0).fit(X, y)
    assert learner.stop_reason_ == "budget: 60 labels used of 60"
    assert ActiveLearningClassifier().fit(X[:50], y[:50]).stop_reason_ is None


def test_label_budget_stops_the_simulation(digits):
    X, y = digits
    learner = ActiveLearningClassifier(
        budget=200, n_initial=15, batch_size=10, stopping=LabelBudget(45), random_state=0
    ).fit(X, y)
    assert len(learner.labeled_indices_) == 45
    assert [r["n_labeled"] for r in learner.history_] == [15, 25, 35, 45]
    assert learner.stop_reason_ == "label budget: 45 labels used of 45"


@pytest.mark.parametrize(("threshold", "stops_at_once"), [(1.01, True), (0.0, False)])
def test_max_uncertainty(digits, threshold, stops_at_once):
    X, y = digits
    learner = ActiveLearningClassifier(
        budget=40, stopping=MaxUncertainty(threshold), random_state=0
    ).fit(X, y)
    if stops_at_once:
        assert len(learner.history_) == 1
        assert learner.stop_reason_.startswith("max uncertainty: the most uncertain pool row")
    else:
        assert learner.stop_reason_.startswith("budget")


def test_max_uncertainty_matches_the_pool_maximum(digits):
    X, y = digits
    learner = ActiveLearningClassifier().fit(X[:100], y[:100])
    top = (1 - learner.predict_proba(X[100:]).max(axis=1)).max()
    assert MaxUncertainty(top + 1e-9).check(learner, X[100:]) is not None
    assert MaxUncertainty(top - 1e-9).check(learner, X[100:]) is None


class _FixedModel:
    """Stands in for a fitted learner whose model predicts a set sequence."""

    def __init__(self, predictions):
        self.predictions = iter(predictions)
        self.random_state = 0
        self.estimator_ = self

    def predict(self, X):
        return next(self.predictions)[: len(X)]


def test_stabilizing_predictions_uses_kappa_over_a_window():
    a = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    b = np.array([0, 1, 2, 0, 1, 2, 1, 1])
    sequence = [a, b, a, a, a, a]
    criterion = StabilizingPredictions(stop_set_size=8, window=2, threshold=0.99)
    learner = _FixedModel(sequence)
    pool = np.zeros((8, 2))
    verdicts = [criterion.check(learner, pool) for _ in sequence]
    kappa_ab = cohen_kappa_score(a, b)
    np.testing.assert_allclose(criterion.kappas_, [kappa_ab, kappa_ab, 1.0, 1.0, 1.0])
    # Stops once the last two comparisons are both 1.0.
    assert [v is not None for v in verdicts] == [False, False, False, False, True, True]
    assert "mean Cohen's kappa 1.0000 over the last 2 rounds" in verdicts[4]


def test_stabilizing_predictions_stops_a_simulation_early(digits):
    X, y = digits
    criterion = StabilizingPredictions(stop_set_size=500, threshold=0.95)
    learner = ActiveLearningClassifier(budget=500, stopping=criterion, random_state=0)
    learner.fit(X, y)
    assert learner.stop_reason_.startswith("stabilizing predictions")
    assert len(learner.labeled_indices_) < 500
    fitted = learner.stopping_[0]
    assert fitted.stop_set_.shape == (500, 64)
    assert np.mean(fitted.kappas_[-3:]) >= 0.95
    assert not hasattr(criterion, "stop_set_"), "the given criterion was cloned, not fitted"


def test_should_stop_in_the_interactive_loop(digits):
    X, y = digits
    criterion = StabilizingPredictions(stop_set_size=300, window=1, threshold=0.999)
    learner = ActiveLearningClassifier(stopping=[LabelBudget(1000), criterion]).fit(
        X[:40], y[:40]
    )
    pool = X[40:]
    assert learner.should_stop(pool) is False
    # Asking again about the same model neither compares it with itself nor changes state.
    assert learner.should_stop(pool) is False
    assert learner.stopping_[1].kappas_ == []
    learner.teach(X[40:41], y[40:41])
    learner.should_stop(pool)
    assert len(learner.stopping_[1].kappas_) == 1


def test_bad_criteria(digits):
    X, y = digits
    with pytest.raises(ValueError, match="'stopping' parameter"):
        ActiveLearningClassifier(stopping=3).fit(X[:50], y[:50])
    with pytest.raises(TypeError, match="got an element of type int"):
        ActiveLearningClassifier(stopping=[LabelBudget(5), 3]).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="'n_labels' parameter of LabelBudget"):
        ActiveLearningClassifier(stopping=LabelBudget(0)).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="'measure' parameter of MaxUncertainty"):
        ActiveLearningClassifier(stopping=MaxUncertainty(measure="gini")).fit(X[:50], y[:50])
