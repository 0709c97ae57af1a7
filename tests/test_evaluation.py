"""activekit.evaluation: the results object, its figures, the runner and the display."""

import math
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from activekit.evaluation import (
    ActiveLearningCurveDisplay,
    ActiveLearningResults,
    evaluate_strategies,
    normalized_auc,
)
from activekit.stopping import LabelBudget


def hand_made():
    """Two seeds of random and margin, labelled counts 10, 20, 30."""
    scores = {
        ("random", 0): [0.5, 0.6, 0.7],
        ("random", 1): [0.5, 0.7, 0.9],  # random's final mean: 0.8
        ("margin", 0): [0.5, 0.8, 0.9],  # reaches 0.8 at 20
        ("margin", 1): [0.6, 0.7, 0.75],  # never reaches 0.8
    }
    rows = [
        dict(strategy=s, seed=seed, round=r, n_labeled=10 * (r + 1), score=v,
             query_time=0.01 * r, fit_time=0.02)
        for (s, seed), values in scores.items()
        for r, v in enumerate(values)
    ]
    return ActiveLearningResults(rows, {"dataset": "hand", "scoring": "accuracy"})


def test_figures_on_a_hand_made_table():
    rows = {r["strategy"]: r for r in hand_made().summary()}
    rnd, mar = rows["random"], rows["margin"]
    assert rnd["target_score"] == pytest.approx(0.8)
    assert rnd["final_score_mean"] == pytest.approx(0.8)
    assert rnd["final_score_std"] == pytest.approx(0.1)
    # AUCs: random (0.6, 0.7) -> 0.65; margin (0.75, 0.6875).
    assert rnd["auc_mean"] == pytest.approx(0.65)
    assert mar["auc_mean"] == pytest.approx((0.75 + 0.6875) / 2)
    assert mar["auc_std"] == pytest.approx(0.03125)
    # random seed 1 reaches 0.8 at 30 labels, seed 0 never: savings 0 from the one that does.
    assert (rnd["reached"], rnd["labels_to_target_mean"]) == (1, 30.0)
    assert rnd["label_savings_mean"] == pytest.approx(0.0)
    # margin seed 0 reaches it at 20 of random's 30: a third saved.
    assert (mar["reached"], mar["labels_to_target_mean"]) == (1, 20.0)
    assert mar["label_savings_mean"] == pytest.approx(1 / 3)
    assert mar["n_seeds"] == 2


def test_without_a_baseline_savings_are_nan():
    results = hand_made()
    rows = results.summary(baseline="entropy")
    assert all(math.isnan(r["label_savings_mean"]) and r["reached"] == 0 for r in rows)
    table = results.summary_table(baseline="entropy").splitlines()
    # Not "not reached", which would read as worse than the baseline: there is none.
    assert "not reached" not in "\n".join(table) and "noise floor" not in "\n".join(table)
    assert table[0].split()[-3:] == ["entropy", "label", "savings"]
    assert [line.split()[-3:] for line in table[1:]] == [["no", "entropy", "baseline"]] * 2


def test_summary_table_marks_the_baseline_as_the_noise_floor():
    lines = hand_made().summary_table().splitlines()
    assert lines[0].split() == [
        "strategy", "final", "score", "AUC", "labels", "to", "0.800", "label", "savings"
    ]
    random, margin = lines[1:]
    # Mean ± std over two seeds; counts of seeds that reached random's final mean 0.8.
    assert random.split() == [
        "random", "0.800", "±", "0.100", "0.650", "±", "0.050", "30.0", "(1/2)", "0.0%", "±",
        "0.0%", "(baseline:", "noise", "floor)",
    ]
    assert margin.split() == [
        "margin", "0.825", "±", "0.075", "0.719", "±", "0.031", "20.0", "(1/2)", "33.3%", "±",
        "0.0%",
    ]
    # Another baseline: its row is the one marked.
    marked = [line.split()[0] for line in hand_made().summary_table(baseline="margin").splitlines()
              if line.endswith("(baseline: noise floor)")]
    assert marked == ["margin"]


def test_summary_table_with_one_seed_has_no_spread():
    one = ActiveLearningResults([r for r in hand_made().records if r["seed"] == 1])
    lines = one.summary_table().splitlines()
    # random seed 1 ends at 0.9 (the target); margin seed 1 never reaches it.
    assert lines[0].split()[4:7] == ["labels", "to", "0.900"]
    assert lines[1].split() == ["random", "0.900", "0.700", "30", "0.0%", "(baseline:", "noise", "floor)"]
    assert lines[2].split() == ["margin", "0.750", "0.688", "not", "reached", "-"]
    assert "±" not in "\n".join(lines)


def test_normalized_auc():
    assert normalized_auc([10, 30], [0.0, 1.0]) == pytest.approx(0.5)
    assert normalized_auc([10, 20, 40], [0.2, 0.4, 0.4]) == pytest.approx((3 + 8) / 30)
    assert normalized_auc([5], [0.7]) == 0.7


def test_mean_curve_and_curve():
    results = hand_made()
    counts, mean, std = results.mean_curve("margin")
    assert_array_equal(counts, [10, 20, 30])
    assert_allclose(mean, [0.55, 0.75, 0.825])
    assert_allclose(std, [0.05, 0.05, 0.075])
    with pytest.raises(ValueError, match="no run with strategy='bald' and seed=0"):
        results.curve("bald", 0)


def test_json_round_trip(tmp_path):
    results = hand_made()
    results.metadata["runs"] = [{"strategy": "random", "seed": 0, "stop_reason": None}]
    path = tmp_path / "r.json"
    text = results.to_json(path)
    assert ActiveLearningResults.from_json(path) == results
    assert ActiveLearningResults.from_json(text) == results
    loaded = ActiveLearningResults.from_json(path)
    assert loaded.summary() == results.summary()
    # NumPy scalars and NaN serialise too.
    odd = ActiveLearningResults(
        [dict(strategy="random", seed=np.int64(1), round=0, n_labeled=np.int32(5),
              score=float("nan"), query_time=np.float32(0.5), fit_time=0.0)]
    )
    back = ActiveLearningResults.from_json(odd.to_json())
    assert back.records[0]["seed"] == 1 and back.records[0]["score"] is None
    assert math.isnan(back.curve("random", 1)[1][0])


def test_bad_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not an activekit results file"):
        ActiveLearningResults.from_json(path)


def test_to_frame():
    frame = hand_made().to_frame()
    assert list(frame.columns) == [
        "strategy", "seed", "round", "n_labeled", "score", "query_time", "fit_time"
    ]
    assert len(frame) == 12
    assert frame.groupby("strategy")["score"].max().to_dict() == {"margin": 0.9, "random": 0.9}


@pytest.fixture(scope="module")
def digits_results():
    X, y = load_digits(return_X_y=True)
    return evaluate_strategies(
        X, y,
        estimator=make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        strategies=["random", "margin"], seeds=3, budget=220, batch_size=10, n_initial=20,
        dataset="digits",
    )


def test_margin_beats_random_on_digits(digits_results):
    """The headline of active learning, guarded: margin's mean score over the curve from 20
    to 220 labels beats random's by at least 0.02 (logistic regression, 3 seeds)."""
    auc = {r["strategy"]: r["auc_mean"] for r in digits_results.summary()}
    assert auc["margin"] - auc["random"] >= 0.02, auc


def test_runs_are_paired_and_complete(digits_results):
    results = digits_results
    assert results.strategies == ["random", "margin"]
    assert results.seeds == [0, 1, 2]
    assert len(results.records) == 2 * 3 * 21
    counts, _ = results.curve("margin", 2)
    assert counts.tolist() == list(range(20, 221, 10))
    # Same seed, same split and initial labels: the first round scores the same model.
    for seed in results.seeds:
        assert results.curve("random", seed)[1][0] == results.curve("margin", seed)[1][0]
    assert {r["stop_reason"] for r in results.metadata["runs"]} == {"budget: 220 labels used of 220"}
    assert results.metadata["dataset"] == "digits"


def test_fixed_test_set_scorer_and_parallel_runs():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    kwargs = dict(strategies=["entropy", "random"], seeds=[3, 5], budget=40, batch_size=10,
                  n_initial=20, X_test=X[1500:], y_test=y[1500:], scoring="f1_macro")
    one = evaluate_strategies(X[:1500], y[:1500], **kwargs)
    two = evaluate_strategies(X[:1500], y[:1500], n_jobs=2, **kwargs)
    strip = lambda r: [{k: v for k, v in x.items() if not k.endswith("_time")} for x in r.records]  # noqa: E731
    assert strip(one) == strip(two)
    assert one.metadata["scoring"] == "f1_macro" and one.metadata["test_size"] is None
    assert one.seeds == [3, 5]


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        (dict(strategies=["margin", "qbc"]), ValueError, "query_strategy='qbc' is not a known"),
        (dict(strategies=[]), ValueError, "at least one strategy"),
        (dict(strategies=["margin", "margin"]), ValueError, "must be distinct"),
        (dict(seeds=0), ValueError, "seeds must be at least 1"),
        (dict(seeds=True), TypeError, "seeds must be a positive integer"),
        (dict(seeds=[1, 1]), ValueError, "seeds must be distinct"),
        (dict(budget=2000), ValueError, "budget must be an integer between 1 and the 1347 rows"),
        (dict(X_test=np.zeros((3, 64))), ValueError, "give both X_test and y_test"),
        (dict(X_test=np.zeros((3, 5)), y_test=np.zeros(3)), ValueError, "X_test has 5 features"),
        (dict(scoring="no_such_score"), ValueError, "no_such_score"),
        # The learner's own parameter checks, before any run.
        (dict(batch_size=0), ValueError, r"'batch_size' parameter .* must be an int in the range \[1, inf\)"),
        (dict(batch_size=True), TypeError, "batch_size must be an integer, got True"),
        (dict(stopping=[3]), TypeError, "stopping must be a stopping criterion or a list of them"),
        # The held-out split and the initial draw are stratified: a row of every class each.
        (dict(n_initial=9), ValueError, r"n_initial=9 is too small for a stratified initial draw: y has 10 classes, so n_initial must be at least 10 \(one row per class\)"),
        (dict(n_initial=1), ValueError, "n_initial=1 is too small"),
        (dict(n_initial=30, budget=20), ValueError, "n_initial=30 must not exceed budget=20"),
        (dict(test_size=9), ValueError, "test_size=9 holds out 9 rows, fewer than the 10 classes of y"),
        (dict(test_size=0.004), ValueError, "test_size=0.004 holds out 8 rows, fewer than the 10 classes"),
    ],
)
def test_evaluate_rejects(kwargs, exc, message):
    X, y = load_digits(return_X_y=True)
    with pytest.raises(exc, match=message):
        evaluate_strategies(X, y, **kwargs)


def test_a_class_of_one_row_cannot_be_split_stratified():
    X, y = load_digits(return_X_y=True)
    y = y.copy()
    y[0] = 10  # one row of an eleventh class
    with pytest.raises(ValueError, match="class 10 of y has a single row; the stratified held-out"):
        evaluate_strategies(X, y, n_initial=11)
    # With a fixed held-out set, the pool may hold a class once.
    results = evaluate_strategies(X[100:], y[100:], X_test=X[:100], y_test=y[:100],
                                  strategies=["random"], seeds=1, budget=30, n_initial=11)
    assert results.strategies == ["random"]


class FakeTerminal:
    """A stderr that says it is a terminal, so that tqdm draws into it."""

    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, text):
        self.text.append(text)

    def flush(self):
        pass


@pytest.mark.parametrize(("verbose", "stop_at"), [(0, None), (1, None), (1, 25)])
def test_progress_bar_counts_rounds_of_every_run(monkeypatch, verbose, stop_at):
    X, y = load_digits(return_X_y=True)
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    # 2 x 2 runs of 1 + ceil((37 - 20) / 5) = 5 rounds each; stopped at 25 labels, 2 rounds.
    results = evaluate_strategies(
        X[:600] / 16, y[:600], strategies=["random", "entropy"], seeds=2, budget=37,
        batch_size=5, n_initial=20, verbose=verbose,
        stopping=None if stop_at is None else LabelBudget(stop_at),
    )
    assert len(results.records) == 4 * (5 if stop_at is None else 2)
    text = "".join(terminal.text)
    if verbose:
        assert "run 1/4: random, seed 0" in text and "run 4/4: entropy, seed 1" in text
        assert "round" in text
        # The bar ends full, early stops included (their rounds left are counted as done:
        # without that, it would end at 8/20).
        final = text.split("\r")[-1]
        assert "run 4/4" in final and "100%" in final and "20/20" in final
    else:
        assert text == ""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = hand_made()
    display = ActiveLearningCurveDisplay.from_results(results, title="hand")
    assert set(display.lines_) == {"random", "margin"}
    x, ydata = display.lines_["margin"].get_data()
    assert_array_equal(x, [10, 20, 30])
    assert_allclose(ydata, [0.55, 0.75, 0.825])
    band = display.bands_["margin"].get_paths()[0].vertices
    assert band[:, 1].max() == pytest.approx(0.825 + 0.075)
    assert display.ax_.get_ylabel() == "accuracy"
    assert display.ax_.get_title() == "hand"
    assert display.figure_ is display.ax_.figure
    assert [t.get_text() for t in display.ax_.get_legend().get_texts()] == ["random", "margin"]

    _, ax = plt.subplots()
    again = ActiveLearningCurveDisplay.from_results(results, strategies=["random"], ax=ax, std=False)
    assert again.ax_ is ax and list(again.lines_) == ["random"] and again.bands_ == {}
    with pytest.raises(ValueError, match=r"no results for strategies \['bald'\]"):
        ActiveLearningCurveDisplay.from_results(results, strategies=["bald"])
    plt.close("all")


def test_display_without_matplotlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "activekit\[plot\]"'):
        ActiveLearningCurveDisplay(curves={}).plot()


# -- multi-label ---------------------------------------------------------------------------


def multilabel_data(n=240, n_labels=4, seed=0):
    from sklearn.datasets import make_multilabel_classification

    return make_multilabel_classification(
        n_samples=n, n_features=8, n_classes=n_labels, random_state=seed
    )


def test_multilabel_curves_metrics_and_metadata():
    X, Y = multilabel_data()
    results = evaluate_strategies(
        X, Y, task="multilabel", strategies=["random", "mean_entropy"], seeds=2, budget=50,
        batch_size=10, n_initial=10,
    )
    meta = results.metadata
    assert (meta["task"], meta["scoring"]) == ("multilabel", "f1_micro")
    assert meta["metrics"] == ["f1_macro", "hamming_loss"]
    assert meta["lower_is_better"] == ["hamming_loss"]
    assert meta["estimator"] == "OneVsRestClassifier(estimator=LogisticRegression(max_iter=1000))"
    assert results.metrics == ["score", "f1_macro", "hamming_loss"]
    assert results.lower_is_better("hamming_loss") and not results.lower_is_better("f1_macro")
    for strategy in results.strategies:
        for seed in results.seeds:
            curves = [results.curve(strategy, seed, m) for m in results.metrics]
            for counts, values in curves:
                assert counts.tolist() == [10, 20, 30, 40, 50]  # one point per round
                assert np.all((values >= 0) & (values <= 1))
    # Paired runs: same split and initial labels per seed, so the first round agrees.
    for m in results.metrics:
        for seed in results.seeds:
            assert results.curve("random", seed, m)[1][0] == results.curve("mean_entropy", seed, m)[1][0]
    assert list(results.to_frame().columns)[-2:] == ["f1_macro", "hamming_loss"]
    back = ActiveLearningResults.from_json(results.to_json())
    assert back == results and back.summary(metric="hamming_loss") == results.summary(
        metric="hamming_loss"
    )


def test_multilabel_scores_the_model_of_the_initial_rows():
    """Known answer: with the budget spent on the initial rows, the one round scores
    OneVsRest logistic regression fitted on the covering draw of the run's seed."""
    from sklearn.metrics import f1_score, hamming_loss
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.utils import check_random_state

    from activekit._learner import covering_draw

    X, Y = multilabel_data(n=200, n_labels=5, seed=3)
    X_test, Y_test = X[150:], Y[150:]
    results = evaluate_strategies(
        X[:150], Y[:150], X_test=X_test, y_test=Y_test, task="multilabel",
        strategies=["random"], seeds=[7], budget=15, n_initial=15,
    )
    rows = covering_draw(Y[:150], 15, check_random_state(7))
    model = OneVsRestClassifier(LogisticRegression(max_iter=1000)).fit(X[rows], Y[rows])
    pred = model.predict(X_test)
    (record,) = results.records
    assert record["score"] == pytest.approx(f1_score(Y_test, pred, average="micro"))
    assert record["f1_macro"] == pytest.approx(f1_score(Y_test, pred, average="macro"))
    assert record["hamming_loss"] == pytest.approx(hamming_loss(Y_test, pred))


def test_covering_draw_holds_both_values_of_every_label():
    from sklearn.utils import check_random_state

    from activekit._learner import covering_draw

    rng = np.random.RandomState(0)
    for trial in range(50):
        n, k = rng.randint(4, 60), rng.randint(2, 6)
        Y = (rng.rand(n, k) < rng.uniform(0.02, 0.5)).astype(int)
        Y[0], Y[1] = 1, 0  # every column holds both values
        n_initial = rng.randint(2 * k, n + 1) if 2 * k <= n else n
        rows = covering_draw(Y, n_initial, check_random_state(trial))
        assert len(rows) == n_initial == len(set(rows.tolist()))
        assert np.all(Y[rows].max(axis=0) == 1) and np.all(Y[rows].min(axis=0) == 0)
    # A label positive in one row only: that row is always drawn.
    Y = np.zeros((30, 2), dtype=int)
    Y[17, 0] = 1
    Y[::2, 1] = 1
    assert all(17 in covering_draw(Y, 3, check_random_state(s)) for s in range(10))
    # Two labels with disjoint single positives and negatives elsewhere: 3 rows at least.
    Y = np.zeros((10, 2), dtype=int)
    Y[0, 0] = Y[1, 1] = 1
    with pytest.raises(ValueError, match=r"n_initial=2 is too small .* this draw needs 3 rows"):
        covering_draw(Y, 2, check_random_state(0))


def hand_made_losses():
    """random and mmc, two seeds, with a Hamming loss beside the score."""
    losses = {
        ("random", 0): [0.4, 0.3, 0.2],
        ("random", 1): [0.4, 0.35, 0.3],  # random's final mean loss: 0.25
        ("mmc", 0): [0.4, 0.25, 0.2],  # falls to 0.25 at 20
        ("mmc", 1): [0.4, 0.3, 0.26],  # never
    }
    rows = [
        dict(strategy=s, seed=seed, round=r, n_labeled=10 * (r + 1), score=1 - v,
             hamming_loss=v, query_time=0.0, fit_time=0.0)
        for (s, seed), values in losses.items()
        for r, v in enumerate(values)
    ]
    meta = {"metrics": ["hamming_loss"], "lower_is_better": ["hamming_loss"]}
    return ActiveLearningResults(rows, meta)


def test_hamming_loss_savings_count_falling_to_the_target():
    results = hand_made_losses()
    rows = {r["strategy"]: r for r in results.summary(metric="hamming_loss")}
    assert rows["random"]["target_score"] == pytest.approx(0.25)
    # Lower is better: a loss of 0.2 reaches the target 0.25 (as a score it would not).
    assert (rows["random"]["reached"], rows["random"]["labels_to_target_mean"]) == (1, 30.0)
    assert (rows["mmc"]["reached"], rows["mmc"]["labels_to_target_mean"]) == (1, 20.0)
    assert rows["mmc"]["label_savings_mean"] == pytest.approx(1 / 3)
    assert rows["mmc"]["final_score_mean"] == pytest.approx(0.23)
    # The score (1 - loss here) gives the same answer the other way round.
    by_score = {r["strategy"]: r for r in results.summary()}
    assert by_score["mmc"]["labels_to_target_mean"] == 20.0
    table = results.summary_table(metric="hamming_loss").splitlines()
    assert table[0].split()[:5] == ["strategy", "final", "hamming_loss", "AUC", "labels"]
    assert "0.250" in table[0]
    assert results.metrics_table().splitlines()[0].split() == [
        "strategy", "final", "hamming_loss", "AUC", "hamming_loss"
    ]
    _, mean, _ = results.mean_curve("mmc", metric="hamming_loss")
    assert_allclose(mean, [0.4, 0.275, 0.23])
    with pytest.raises(ValueError, match=r"metric must be one of \['score', 'hamming_loss'\]"):
        results.summary(metric="f1_macro")
    with pytest.raises(ValueError, match="metric must be one of"):
        results.curve("mmc", 0, metric="nope")


@pytest.mark.parametrize(
    ("task", "y", "kwargs", "exc", "message"),
    [
        ("multilabel", "1d", {}, ValueError, r"task='multilabel' needs y as an indicator matrix .* got y of shape \(240,\)"),
        ("classification", "2d", {}, ValueError, r"y is a matrix of shape \(240, 4\); task='classification' needs one target per row .* pass task='multilabel'"),
        ("regression", "2d", {}, ValueError, "task='regression' needs one target per row"),
        ("multilabel", "twos", {}, ValueError, "needs y of 0s and 1s"),
        ("multilabel", "constant", {}, ValueError, "label column 2 of y holds a single value"),
        ("multilabel", "2d", dict(n_initial=1, budget=20), ValueError, "n_initial=1 is too small for task='multilabel'.* at least 2"),
        ("multilabel", "2d", dict(metrics="hamming_loss"), TypeError, "metrics must be a list of metric names"),
        ("multilabel", "2d", dict(metrics=["score"]), ValueError, "metrics must be distinct names"),
        ("multilabel", "2d", dict(metrics=["f1_micro"]), ValueError, "metrics repeats scoring='f1_micro'"),
        ("multilabel", "2d", dict(metrics=["no_such_metric"]), ValueError, "no_such_metric"),
        ("multilabel", "2d", dict(X_test=np.zeros((5, 8)), y_test=np.zeros((5, 3))), ValueError, "y_test has 3 label columns but y has 4"),
        ("multilabel", "2d", dict(strategies=["margin"], budget=30), ValueError, "supports targets"),
        ("ranking", "1d", {}, ValueError, "task must be 'classification', 'regression' or 'multilabel'"),
    ],
)
def test_multilabel_rejects(task, y, kwargs, exc, message):
    X, Y = multilabel_data()
    Y = Y.copy()
    if y == "1d":
        Y = Y[:, 0]
    elif y == "twos":
        Y[0, 0] = 2
    elif y == "constant":
        Y[:, 2] = 0
    kwargs = {"strategies": ["random"], "seeds": 1, **kwargs}
    with pytest.raises(exc, match=message):
        evaluate_strategies(X, Y, task=task, **kwargs)


def test_display_draws_a_further_metric():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    display = ActiveLearningCurveDisplay.from_results(hand_made_losses(), metric="hamming_loss")
    assert display.ax_.get_ylabel() == "hamming_loss"
    assert_allclose(display.lines_["mmc"].get_data()[1], [0.4, 0.275, 0.23])
    plt.close("all")
