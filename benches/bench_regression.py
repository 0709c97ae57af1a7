"""Label efficiency for regression: R^2 and RMSE learning curves against random sampling.

For each data set and seed, a random 30% is held out; the rest is the pool. Every strategy
starts from the same 10 random labelled rows (``ActiveLearningRegressor(n_initial=10,
random_state=seed)``) and acquires batches of 10 up to the budget; after every round
``on_round`` scores the held-out set. Reported, mean +/- std over seeds:

* ``AUC R2``: the mean held-out R^2 over the curve (rewards learning fast early on);
* ``final R2`` and ``final RMSE`` at the budget;
* ``labels to random``: the labels a strategy first needs to reach random sampling's final
  mean R^2, and the savings ``1 - labels / budget`` (``(k/n)``: how many seeds reached it).

Data sets (both ship with scikit-learn, no download):

diabetes
    ``load_diabetes`` (442 rows, 10 features); 10 -> 100 labels.
friedman1
    ``make_friedman1(n_samples=1000, noise=1.0, random_state=seed)`` (10 features, 5
    informative, non-linear); 10 -> 150 labels.

The estimator is ``StandardScaler`` + ``Ridge(alpha=1.0)``, on one thread.

Run: ``python benches/bench_regression.py [--seeds 3]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from activekit import ActiveLearningRegressor

STRATEGIES = [
    "random",
    "committee_variance",
    "emcm",
    "gsx",
    "gsy",
    "igs",
    "coreset",
    "kmeans",
    "typiclust",
]


def datasets(seed):
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes", X, y, 100
    X, y = make_friedman1(n_samples=1000, noise=1.0, random_state=seed)
    yield "friedman1", X, y, 150


def run(strategy, X, y, budget, seed):
    X_pool, X_test, y_pool, y_test = train_test_split(X, y, test_size=0.3, random_state=seed)
    curve = []

    def score(learner, record):
        pred = learner.predict(X_test)
        curve.append(
            (record["n_labeled"], r2_score(y_test, pred), mean_squared_error(y_test, pred) ** 0.5)
        )

    ActiveLearningRegressor(
        make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
        query_strategy=strategy,
        budget=budget,
        n_initial=10,
        batch_size=10,
        n_jobs=1,
        random_state=seed,
    ).fit(X_pool, y_pool, on_round=score)
    return np.array(curve)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    seeds = range(args.seeds)
    results = {}
    start = time.perf_counter()
    for seed in seeds:
        for name, X, y, budget in datasets(seed):
            for strategy in STRATEGIES:
                results.setdefault((name, budget), {}).setdefault(strategy, []).append(
                    run(strategy, X, y, budget, seed)
                )
    for (name, budget), by_strategy in results.items():
        target = np.mean([c[-1, 1] for c in by_strategy["random"]])
        print(f"\n{name}: budget {budget}, {len(seeds)} seeds, random's final mean R2 {target:.3f}")
        print("| strategy | AUC R2 | final R2 | final RMSE | labels to random (savings) |")
        print("| --- | --- | --- | --- | --- |")
        for strategy, curves in by_strategy.items():
            auc = [c[:, 1].mean() for c in curves]
            fin = [c[-1, 1] for c in curves]
            rmse = [c[-1, 2] for c in curves]
            reached = [
                c[np.argmax(c[:, 1] >= target), 0] for c in curves if (c[:, 1] >= target).any()
            ]
            if reached:
                labels = np.mean(reached)
                save = f"{labels:.0f} ({1 - labels / budget:+.0%}) ({len(reached)}/{len(curves)})"
            else:
                save = f"never (0/{len(curves)})"
            print(
                f"| {strategy} | {np.mean(auc):.3f} ± {np.std(auc):.3f} | {np.mean(fin):.3f} ± "
                f"{np.std(fin):.3f} | {np.mean(rmse):.2f} ± {np.std(rmse):.2f} | {save} |"
            )
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
