"""ActiveLearningRegressor: the learner contract (fit, simulated fit, query, teach, stopping,
Pipeline, GridSearchCV, pickle) on regression targets."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone, is_regressor
from sklearn.datasets import load_diabetes
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from activekit import ActiveLearningRegressor
from activekit.stopping import LabelBudget


@pytest.fixture(scope="module")
def data():
    X, y = load_diabetes(return_X_y=True)
    return X, y


def test_is_a_regressor_with_r2_score(data):
    X, y = data
    learner = ActiveLearningRegressor(random_state=0).fit(X[:100], y[:100])
    assert is_regressor(learner)
    assert learner.score(X[100:], y[100:]) == pytest.approx(
        Ridge().fit(X[:100], y[:100]).score(X[100:], y[100:])
    )


@pytest.mark.parametrize(
    "name",
    ["random", "committee_variance", "gsx", "gsy", "igs", "emcm", "coreset", "kmeans", "typiclust"],
)
def test_query_and_teach(data, name):
    X, y = data
    learner = ActiveLearningRegressor(query_strategy=name, batch_size=4, random_state=0)
    learner.fit(X[:30], y[:30])
    idx = learner.query(X[30:200])
    assert idx.shape == (4,) and len(set(idx.tolist())) == 4
    learner.teach(X[30:200][idx], y[30:200][idx])
    assert len(learner.y_labeled_) == 34 and learner.n_queries_ == 1


def test_simulated_fit_beats_nothing_and_is_reproducible(data):
    X, y = data
    a = ActiveLearningRegressor(query_strategy="gsx", budget=60, random_state=0).fit(X, y)
    b = ActiveLearningRegressor(query_strategy="gsx", budget=60, random_state=0).fit(X, y)
    assert len(a.labeled_indices_) == 60 and a.n_queries_ == 5
    np.testing.assert_array_equal(a.labeled_indices_, b.labeled_indices_)
    assert a.score(X, y) > 0.1  # better than the mean (Ridge on all rows: about 0.4)


def test_stopping_pipeline_gridsearch_pickle(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), Ridge())
    learner = ActiveLearningRegressor(
        pipe, query_strategy="emcm", budget=80, stopping=LabelBudget(30), random_state=0
    ).fit(X, y)
    assert len(learner.labeled_indices_) == 30 and learner.stop_reason_ is not None
    search = GridSearchCV(
        ActiveLearningRegressor(budget=40, random_state=0),
        {"query_strategy": ["random", "gsx"]},
        cv=2,
    ).fit(X, y)
    assert search.best_params_["query_strategy"] in ("random", "gsx")
    loaded = pickle.loads(pickle.dumps(learner))
    np.testing.assert_array_equal(loaded.predict(X), learner.predict(X))
    np.testing.assert_array_equal(loaded.query(X[:50], 3), learner.query(X[:50], 3))
    assert clone(learner).get_params()["query_strategy"] == "emcm"


def test_return_std_estimator(data):
    X, y = data
    learner = ActiveLearningRegressor(GaussianProcessRegressor(optimizer=None), batch_size=3)
    learner.fit(X[:40], y[:40])
    _, score = learner.query(X[40:140], return_scores=True)
    _, std = learner.estimator_.predict(X[40:140], return_std=True)
    np.testing.assert_allclose(score, np.sort(std**2)[::-1][:3])


def test_bad_targets(data):
    X, _ = data
    with pytest.raises(ValueError, match="numbers"):
        ActiveLearningRegressor().fit(X[:3], np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match=r"infinity|NaN"):
        ActiveLearningRegressor().fit(X[:3], np.array([1.0, np.inf, 2.0]))


def test_evaluate_strategies_regression_curves(data):
    from activekit.evaluation import evaluate_strategies

    X, y = data
    common = dict(
        task="regression",
        strategies=["random", "gsx"],
        seeds=2,
        budget=40,
        n_initial=10,
        batch_size=10,
    )
    r2 = evaluate_strategies(X, y, **common)
    rmse = evaluate_strategies(X, y, scoring="neg_root_mean_squared_error", **common)
    assert r2.metadata["scoring"] == "r2" and r2.metadata["task"] == "regression"
    rows = [r for r in r2.records if r["strategy"] == "gsx"]
    assert [r["n_labeled"] for r in rows if r["seed"] == 0] == [10, 20, 30, 40]
    assert all(r["score"] <= 1 for r in r2.records)
    assert all(r["score"] < 0 for r in rmse.records)  # minus the RMSE
    with pytest.raises(ValueError, match="task"):
        evaluate_strategies(X, y, task="ranking")


def test_cli_benchmark_task_regression(tmp_path, capsys):
    from activekit._cli import main

    argv = [
        "benchmark",
        "--task",
        "regression",
        "--strategies",
        "gsx",
        "--seeds",
        "1",
        "--budget",
        "30",
        "--initial",
        "10",
        "--output",
        str(tmp_path),
        "-q",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "gsx" in out and "random" in out
    import json

    meta = json.loads((tmp_path / "results.json").read_text())["metadata"]
    assert meta["task"] == "regression" and meta["scoring"] == "r2"
    assert meta["dataset"] == "diabetes"
    for bad, says in (
        ("--estimator=logreg", "not for --task regression"),
        ("--dataset=iris", "classification data set"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["benchmark", "--task", "regression", bad])
        assert exit_.value.code == 2 and says in capsys.readouterr().err
