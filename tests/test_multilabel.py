"""ActiveLearningClassifier with a multi-label indicator y: fit, query, teach, simulation, and
the bad-input catalogue (a 1-column indicator, all-zero label columns, NaN targets)."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputClassifier

from activekit import ActiveLearningClassifier
from activekit.strategies._multilabel import MeanEntropyMultilabel


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(n_samples=150, n_features=8, n_classes=4, random_state=0)
    return X, Y


def test_default_estimator_is_one_vs_rest(data):
    X, Y = data
    learner = ActiveLearningClassifier(query_strategy="random", random_state=0).fit(X, Y)
    assert isinstance(learner.estimator_, OneVsRestClassifier)
    assert learner.predict(X[:5]).shape == (5, 4)
    assert learner.predict_proba(X[:5]).shape == (5, 4)
    assert learner.y_labeled_.shape == (150, 4)


@pytest.mark.parametrize(
    "estimator",
    [
        OneVsRestClassifier(LogisticRegression(max_iter=300)),
        MultiOutputClassifier(LogisticRegression(max_iter=300)),
        RandomForestClassifier(n_estimators=5, random_state=0),
    ],
    ids=["ovr", "multioutput", "forest"],
)
@pytest.mark.parametrize(
    "strategy",
    [MeanEntropyMultilabel(), "coreset", "kmeans", "typiclust", "ranked_batch", "random"],
)
def test_interactive_loop(data, estimator, strategy):
    X, Y = data
    learner = ActiveLearningClassifier(estimator, query_strategy=strategy, random_state=0)
    learner.fit(X[:30], Y[:30])
    pool, answers = X[30:], Y[30:]
    idx = learner.query(pool, n_instances=5)
    assert idx.shape == (5,) and len(np.unique(idx)) == 5
    learner.teach(pool[idx], answers[idx])
    assert learner.y_labeled_.shape == (35, 4)
    np.testing.assert_array_equal(learner.y_labeled_[30:], answers[idx])
    assert learner.n_queries_ == 1


def test_simulation_uses_the_budget_and_pickles(data):
    X, Y = data
    learner = ActiveLearningClassifier(
        query_strategy=MeanEntropyMultilabel(), budget=40, batch_size=10, random_state=0
    ).fit(X, Y)
    assert len(learner.labeled_indices_) == 40
    np.testing.assert_array_equal(learner.y_labeled_, Y[learner.labeled_indices_])
    clone = pickle.loads(pickle.dumps(learner))
    np.testing.assert_array_equal(clone.query(X, n_instances=3), learner.query(X, n_instances=3))


def test_simulation_is_reproducible(data):
    X, Y = data

    def run():
        return (
            ActiveLearningClassifier(
                query_strategy=MeanEntropyMultilabel(),
                budget=30,
                random_state=3,
            )
            .fit(X, Y)
            .labeled_indices_
        )

    np.testing.assert_array_equal(run(), run())


def test_one_column_indicator_is_single_label(data):
    """A 1-column y is a binary single-label y (raveled with scikit-learn's warning), so a
    multi-label strategy refuses it, naming the target type it supports."""
    from sklearn.exceptions import DataConversionWarning

    X, Y = data
    with (
        pytest.warns(DataConversionWarning),
        pytest.raises(
            ValueError, match=r"supports targets \['multilabel-indicator'\], not 'binary'"
        ),
    ):
        ActiveLearningClassifier(query_strategy=MeanEntropyMultilabel()).fit(X, Y[:, :1])
    with pytest.warns(DataConversionWarning):
        learner = ActiveLearningClassifier(query_strategy="random").fit(X, Y[:, :1])
    assert learner.y_labeled_.ndim == 1


@pytest.mark.parametrize("name", ["margin", "entropy", "badge", "information_density"])
def test_single_label_strategies_refuse_an_indicator(data, name):
    """At fit, naming the target types they support."""
    X, Y = data
    with pytest.raises(
        ValueError,
        match=rf"'{name}' supports targets \['binary', 'multiclass'\], not 'multilabel-indicator'",
    ):
        ActiveLearningClassifier(query_strategy=name).fit(X, Y)


def test_all_zero_label_column_is_refused(data):
    X, Y = data
    Y = Y.copy()
    Y[:, 2] = 0
    with pytest.raises(ValueError, match=r"label columns \[2\] that are 0 in every row"):
        ActiveLearningClassifier().fit(X, Y)


def test_nan_targets_are_refused(data):
    X, Y = data
    Y = Y.astype(float)
    Y[3, 1] = np.nan
    with pytest.raises(ValueError, match="y"):
        ActiveLearningClassifier().fit(X, Y)


def test_non_indicator_matrix_is_refused(data):
    X, Y = data
    Y = Y.copy()
    Y[0, 0] = 2
    with pytest.raises(ValueError, match=r"multilabel|indicator|multiclass-multioutput"):
        ActiveLearningClassifier().fit(X, Y)


def test_teach_checks_label_columns(data):
    X, Y = data
    learner = ActiveLearningClassifier(query_strategy="random").fit(X[:30], Y[:30])
    with pytest.raises(ValueError, match=r"3 label column.*has 4"):
        learner.teach(X[30:32], Y[30:32, :3])
    with pytest.raises(ValueError, match=r"1 label column.*has 4"):
        learner.teach(X[30:32], Y[30:32, 0])
    assert learner.y_labeled_.shape == (30, 4)  # unchanged


def test_single_label_teach_refuses_a_matrix(data):
    X, Y = data
    y = Y[:, 0]
    learner = ActiveLearningClassifier(query_strategy="random").fit(X[:30], y[:30])
    with pytest.raises(ValueError):
        learner.teach(X[30:32], Y[30:32])


def test_nested_lists_are_an_indicator(data):
    X, Y = data
    learner = ActiveLearningClassifier(query_strategy="random").fit(
        X[:40].tolist(), Y[:40].tolist()
    )
    assert learner.y_labeled_.shape == (40, 4)
    np.testing.assert_array_equal(learner.y_labeled_, Y[:40])


def test_simulated_initial_rows_hold_both_values_of_every_label(data):
    # A rare label (3 positive rows of 150): a plain random draw of 8 rows would usually miss
    # it and one-vs-rest would learn it as never present.
    X, Y = data
    Y = Y.copy()
    Y[:, 0] = 0
    Y[[20, 75, 130], 0] = 1
    for seed in range(5):
        learner = ActiveLearningClassifier(
            query_strategy="mmc", n_initial=8, budget=8, random_state=seed
        ).fit(X, Y)
        initial = Y[learner.labeled_indices_]
        assert len(initial) == 8
        assert initial.max(axis=0).tolist() == [1] * Y.shape[1]
        assert initial.min(axis=0).tolist() == [0] * Y.shape[1]
    # A label present in every row cannot be learnt from both values: said before any fit.
    Y[:, 1] = 1
    learner = ActiveLearningClassifier(query_strategy="mmc", n_initial=8, budget=8, random_state=0)
    with pytest.raises(ValueError, match=r"label column 1 of y has no negative row; every label needs both values"):
        learner.fit(X, Y)
    assert not hasattr(learner, "estimator_")


def test_a_single_label_strategy_on_multilabel_y_names_the_ones_that_fit(data):
    X, Y = data
    learner = ActiveLearningClassifier()  # margin, by default
    with pytest.raises(ValueError, match=r"strategies for 'multilabel-indicator' targets: \['binary_minimization', 'coreset', 'kmeans', 'label_cardinality', 'max_entropy'"):
        learner.fit(X, Y)
