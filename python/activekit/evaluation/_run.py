"""Run the simulated loop for strategies x seeds, scoring a held-out set after every round."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import check_scoring, hamming_loss
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_X_y
from tqdm.auto import tqdm

from .._base import check_params
from .._estimators import resolve
from .._learner import ActiveLearningClassifier, default_estimator
from .._random import MAX_SEED
from .._regressor import ActiveLearningRegressor
from .._simulation import n_rounds
from ..strategies import get_strategy
from ..strategies._common import strategy_label
from ._results import COLUMNS, ActiveLearningResults

__all__ = ["DEFAULT_STRATEGIES", "LOSSES", "evaluate_strategies"]

DEFAULT_STRATEGIES = ("random", "least_confident", "margin", "entropy")

#: Metrics recorded beside ``scoring`` that are losses (lower is better), with how each is
#: computed from the held-out labels and predictions. Any other metric name is a scikit-learn
#: scorer (higher is better).
LOSSES = {"hamming_loss": hamming_loss}


def _metric_function(name, learner_class, estimator):
    """``f(fitted, X, y)`` for a metric name: a loss of :data:`LOSSES` as it is (lower is
    better) or a scikit-learn scorer (higher is better)."""
    if name in LOSSES:
        loss = LOSSES[name]
        return lambda fitted, X, y: loss(y, fitted.predict(X))
    return check_scoring(learner_class(estimator), scoring=name)


def _check_metrics(metrics, scoring):
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        raise TypeError(
            f"metrics must be a list of metric names, got {type(metrics).__name__} {metrics!r}"
        )
    metrics = list(metrics)
    for name in metrics:
        if not isinstance(name, str):
            raise TypeError(f"metrics must be a list of metric names, got {metrics!r}")
    clash = [m for m in metrics if m in COLUMNS]
    if clash or len(set(metrics)) != len(metrics):
        raise ValueError(
            f"metrics must be distinct names, none of {list(COLUMNS)}, got {metrics!r}"
        )
    if isinstance(scoring, str) and scoring in metrics:
        raise ValueError(f"metrics repeats scoring={scoring!r}, which is recorded as 'score'")
    return metrics


#: What differs between the tasks: the learner, the default scoring and extra metrics, and
#: whether held-out sets and initial rows are stratified by the labels.
_TASKS = {
    "classification": (ActiveLearningClassifier, "accuracy", (), True),
    "regression": (ActiveLearningRegressor, "r2", (), False),
    "multilabel": (ActiveLearningClassifier, "f1_micro", ("f1_macro", "hamming_loss"), False),
}


def _check_target(y, task):
    """``y``'s shape against ``task``: an indicator matrix for multi-label, one column
    otherwise."""
    multilabel = np.ndim(y) == 2 and np.shape(y)[1] >= 2
    if task == "multilabel" and not multilabel:
        raise ValueError(
            "task='multilabel' needs y as an indicator matrix of shape (n_samples, n_labels) "
            f"with at least 2 label columns, got y of shape {np.shape(y)}"
        )
    if task != "multilabel" and multilabel:
        raise ValueError(
            f"y is a matrix of shape {np.shape(y)}; task={task!r} needs one target per row "
            "(for a multi-label indicator matrix, pass task='multilabel')"
        )
    if multilabel:
        kind = type_of_target(y)
        if kind != "multilabel-indicator":
            raise ValueError(
                f"task='multilabel' needs y of 0s and 1s (a multi-label indicator matrix), got "
                f"{kind!r} values"
            )
        constant = [j for j in range(y.shape[1]) if len(np.unique(y[:, j])) < 2]
        if constant:
            raise ValueError(
                f"label column {constant[0]} of y holds a single value; every label needs "
                "positive and negative rows to be learnt"
            )


def _check_seeds(seeds):
    if isinstance(seeds, bool) or not isinstance(seeds, (Integral, list, tuple, np.ndarray)):
        raise TypeError(f"seeds must be a positive integer or a list of integers, got {seeds!r}")
    if isinstance(seeds, Integral):
        if seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {seeds}")
        return list(range(int(seeds)))
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, Integral) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds must be a positive integer or a list of integers, got {seeds!r}")
    if not all(0 <= s <= MAX_SEED for s in seeds):
        raise ValueError(f"seeds must be between 0 and 2**32 - 1 (random states), got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    return [int(s) for s in seeds]


def _check_strategies(strategies):
    if isinstance(strategies, str) or not isinstance(strategies, (list, tuple, np.ndarray)):
        raise TypeError(
            "strategies must be a list of strategy names or objects, got "
            f"{type(strategies).__name__} {strategies!r}"
            + (f"; write strategies=[{strategies!r}]" if isinstance(strategies, str) else "")
        )
    strategies = list(strategies)
    if not strategies:
        raise ValueError("strategies must name at least one strategy")
    for s in strategies:
        get_strategy(s)  # unknown names fail here, listing the valid ones
    return strategies


def _n_test(test_size, n_samples):
    """Rows held out for ``test_size``, checked: a fraction in (0, 1) or a count of rows."""
    if isinstance(test_size, Real) and not isinstance(test_size, (bool, Integral)):
        if not 0 < test_size < 1:
            raise ValueError(
                f"test_size must be a fraction in (0, 1) or a row count, got {test_size}"
            )
        return int(np.ceil(test_size * n_samples))
    if isinstance(test_size, Integral) and not isinstance(test_size, bool):
        if not 1 <= test_size < n_samples:
            raise ValueError(
                f"test_size must be a fraction in (0, 1) or a row count between 1 and "
                f"{n_samples - 1}, got {test_size}"
            )
        return int(test_size)
    raise TypeError(
        f"test_size must be a fraction in (0, 1) or a row count, got {type(test_size).__name__} "
        f"{test_size!r}"
    )


def _check_sizes(y, y_test, test_size, n_test, budget, n_initial):
    """The held-out split and the initial draw are stratified: each needs a row of every
    class; the initial set fits within the budget."""
    classes, counts = np.unique(y, return_counts=True)
    n_classes = len(classes)
    if y_test is None:
        if n_test < n_classes:
            raise ValueError(
                f"test_size={test_size!r} holds out {n_test} rows, fewer than the {n_classes} "
                "classes of y; the held-out set is stratified and needs a row of each class"
            )
        if counts.min() < 2:
            raise ValueError(
                f"class {classes[np.argmin(counts)].item()!r} of y has a single row; the "
                "stratified held-out split needs at least 2 rows of every class (or give "
                "X_test and y_test)"
            )
    if isinstance(n_initial, Integral) and not isinstance(n_initial, bool):
        if n_initial < n_classes:
            raise ValueError(
                f"n_initial={n_initial} is too small for a stratified initial draw: y has "
                f"{n_classes} classes, so n_initial must be at least {n_classes} (one row per "
                "class)"
            )
        if n_initial > budget:
            raise ValueError(f"n_initial={n_initial} must not exceed budget={budget}")


def _one_run(
    template, scorers, stratify, X, y, X_test, y_test, test_size, strategy, seed, tick=None
):
    if X_test is None:
        stratify = y if stratify else None
        X_train, X_eval, y_train, y_eval = train_test_split(
            X, y, test_size=test_size, stratify=stratify, random_state=seed
        )
    else:
        X_train, y_train, X_eval, y_eval = X, y, X_test, y_test
    name = strategy_label(strategy)
    records = []

    def on_round(fitted, record):
        records.append(
            {
                "strategy": name,
                "seed": seed,
                "round": record["round"],
                "n_labeled": record["n_labeled"],
                "query_time": record["query_time"],
                "fit_time": record["fit_time"],
                **{key: float(f(fitted, X_eval, y_eval)) for key, f in scorers.items()},
            }
        )
        if tick is not None:
            tick()

    learner = clone(template).set_params(query_strategy=strategy, random_state=seed)
    learner.fit(X_train, y_train, on_round=on_round)
    return records, {"strategy": name, "seed": seed, "stop_reason": learner.stop_reason_}


def evaluate_strategies(
    X,
    y,
    *,
    estimator=None,
    strategies=DEFAULT_STRATEGIES,
    seeds=3,
    budget=200,
    batch_size=10,
    n_initial=20,
    test_size=0.25,
    X_test=None,
    y_test=None,
    scoring=None,
    metrics=None,
    stopping=None,
    n_jobs=None,
    verbose=0,
    dataset=None,
    task="classification",
):
    """Simulate active learning with each strategy and seed, scoring after every round.

    Each run draws a stratified held-out set (``test_size``, seeded by the run's seed) unless
    ``X_test`` and ``y_test`` are given, then runs :class:`ActiveLearningClassifier`'s
    simulated loop on the rest: ``n_initial`` stratified labels, then ``batch_size`` at a time
    until ``budget``. Runs with the same seed share their split and initial labels, so
    strategies are compared on paired runs. ``task`` switches to regression or multi-label
    learning.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_labels)
        Classes, numeric targets (``task="regression"``) or a 0/1 indicator matrix
        (``task="multilabel"``).
    estimator : estimator, default=None
        Wrapped by every run; ``None`` means logistic regression (one per label for
        multi-label, in a ``OneVsRestClassifier``), ``Ridge`` for regression.
    strategies : list of str or QueryStrategy, default=DEFAULT_STRATEGIES
        ``("random", "least_confident", "margin", "entropy")``. Include ``"random"`` to
        get label savings.
    seeds : int or list of int, default=3
        An int ``n`` means seeds ``0 .. n-1``.
    budget, batch_size, n_initial : int
        As in :class:`ActiveLearningClassifier`.
    test_size : float or int, default=0.25
        Held-out share (or count) when ``X_test`` is not given.
    X_test, y_test : array-like, default=None
        A fixed held-out set for every run.
    scoring : str or callable, default=None
        The ``score`` of every round: a scikit-learn scorer name or ``scorer(estimator, X,
        y)``; ``None`` means ``"accuracy"`` for classification, ``"r2"`` for regression (RMSE
        curves: ``"neg_root_mean_squared_error"``, higher is better as label savings need) and
        ``"f1_micro"`` for multi-label.
    metrics : list of str, default=None
        Further held-out metrics recorded every round, each under its name (read them with
        ``results.curve(..., metric=name)`` or ``results.summary(metric=name)``): scikit-learn
        scorer names (higher is better) or the losses of :data:`LOSSES`, recorded as they are
        (lower is better; ``"hamming_loss"``). ``None`` means ``["f1_macro",
        "hamming_loss"]`` for multi-label and none otherwise.
    stopping : StoppingCriterion or list, default=None
        Lets runs stop before the budget.
    n_jobs : int, default=None
        Runs in parallel (joblib); ``None`` runs them one after another.
    verbose : int, default=0
        A progress bar on stderr when it is a terminal: over the training rounds of all
        runs when they run one after another, over runs when they run in parallel.
    dataset : str, default=None
        A name recorded in the metadata.
    task : {"classification", "regression", "multilabel"}, default="classification"
        ``"regression"`` runs :class:`activekit.ActiveLearningRegressor` (``estimator=None``:
        ``Ridge``) with random, unstratified held-out sets and initial rows.
        ``"multilabel"`` runs :class:`ActiveLearningClassifier` on the indicator matrix ``y``
        with random, unstratified held-out sets; the initial rows are random too, but hold a
        positive and a negative row of every label (so ``n_initial`` must be at least 2, and a
        draw that needs more rows than ``n_initial`` to cover every label is an error naming
        how many).

    Returns
    -------
    results : ActiveLearningResults

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit.evaluation import evaluate_strategies
    >>> X, y = load_iris(return_X_y=True)
    >>> results = evaluate_strategies(X, y, strategies=["random", "margin"], seeds=2,
    ...                               budget=30, batch_size=5, n_initial=10)
    >>> results
    ActiveLearningResults(strategies=['random', 'margin'], seeds=[0, 1], rounds=20)

    Multi-label, with micro F1 as the score and macro F1 and Hamming loss beside it:

    >>> from sklearn.datasets import make_multilabel_classification
    >>> X, Y = make_multilabel_classification(n_samples=300, n_classes=4, random_state=0)
    >>> results = evaluate_strategies(X, Y, task="multilabel", strategies=["random"],
    ...                               seeds=1, budget=40, batch_size=10, n_initial=20)
    >>> results.metadata["scoring"], results.metadata["metrics"]
    ('f1_micro', ['f1_macro', 'hamming_loss'])
    >>> counts, loss = results.curve("random", 0, metric="hamming_loss")
    >>> counts.tolist()
    [20, 30, 40]
    """
    if task not in _TASKS:
        raise ValueError(
            f"task must be 'classification', 'regression' or 'multilabel', got {task!r}"
        )
    learner_class, default_scoring, default_metrics, stratified = _TASKS[task]
    multilabel = task == "multilabel"
    _check_target(y, task)
    X, y = check_X_y(X, y, accept_sparse=["csr"], multi_output=multilabel)
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither")
    if X_test is not None:
        X_test, y_test = check_X_y(X_test, y_test, accept_sparse=["csr"], multi_output=multilabel)
        if X_test.shape[1] != X.shape[1]:
            raise ValueError(f"X_test has {X_test.shape[1]} features but X has {X.shape[1]}")
        if multilabel and y_test.shape[1:] != y.shape[1:]:
            raise ValueError(f"y_test has {y_test.shape[1]} label columns but y has {y.shape[1]}")
    strategies = _check_strategies(strategies)
    names = [strategy_label(s) for s in strategies]
    if len(set(names)) != len(names):
        raise ValueError(f"strategies must be distinct, got {names}")
    seeds = _check_seeds(seeds)
    if scoring is None:
        scoring = default_scoring
    metrics = _check_metrics(default_metrics if metrics is None else metrics, scoring)
    scorers = {"score": check_scoring(learner_class(estimator), scoring=scoring)}
    scorers.update({m: _metric_function(m, learner_class, estimator) for m in metrics})

    n_pool = X.shape[0]
    n_test = None
    if X_test is None:
        n_test = _n_test(test_size, n_pool)
        n_pool -= n_test
    if isinstance(budget, bool) or not isinstance(budget, Integral) or not 1 <= budget <= n_pool:
        raise ValueError(
            f"budget must be an integer between 1 and the {n_pool} rows left for the pool, "
            f"got {budget!r}"
        )
    if stratified:
        _check_sizes(y, y_test, test_size, n_test, budget, n_initial)
    elif n_initial > budget:
        raise ValueError(f"n_initial={n_initial} must not exceed budget={budget}")
    elif multilabel and isinstance(n_initial, Integral) and n_initial < 2:
        raise ValueError(
            f"n_initial={n_initial} is too small for task='multilabel': the initial set holds "
            "a positive and a negative row of every label, so n_initial must be at least 2"
        )
    template = learner_class(
        estimator,
        batch_size=batch_size,
        n_initial=n_initial,
        budget=budget,
        stopping=stopping,
        n_jobs=1 if n_jobs not in (None, 1) else None,
    )
    check_params(template)

    runs = [(s, seed) for s in strategies for seed in seeds]
    args = (template, scorers, stratified, X, y, X_test, y_test, test_size)
    show = None if verbose else True  # tqdm's disable: None shows it on a terminal only
    if n_jobs in (None, 1):
        # One after another, in this process: a bar over every training round of every run.
        per_run = n_rounds(budget, n_initial, batch_size)
        outputs = []
        with tqdm(total=len(runs) * per_run, disable=show, unit="round") as progress:
            for i, (s, seed) in enumerate(runs):
                progress.set_description(
                    f"run {i + 1}/{len(runs)}: {strategy_label(s)}, seed {seed}"
                )
                done = progress.n
                outputs.append(_one_run(*args, s, seed, tick=progress.update))
                progress.update(done + per_run - progress.n)  # a run that stopped early
    else:
        jobs = [delayed(_one_run)(*args, s, seed) for s, seed in runs]
        outputs = []
        with tqdm(total=len(jobs), disable=show, desc="runs", unit="run") as progress:
            for out in Parallel(n_jobs=n_jobs, return_as="generator")(jobs):
                outputs.append(out)
                progress.update()
    records = [r for recs, _ in outputs for r in recs]
    default = (
        (lambda: default_estimator(multilabel=True)) if multilabel else template._default_estimator
    )
    metadata = {
        "dataset": dataset,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "estimator": repr(clone(resolve(estimator, default))),
        "task": task,
        "strategies": names,
        "seeds": seeds,
        "budget": budget,
        "batch_size": batch_size,
        "n_initial": n_initial,
        "test_size": None if X_test is not None else test_size,
        "scoring": scoring if isinstance(scoring, str) else repr(scoring),
        "metrics": metrics,
        "lower_is_better": [m for m in metrics if m in LOSSES],
        "runs": [run for _, run in outputs],
    }
    return ActiveLearningResults(records, metadata)
