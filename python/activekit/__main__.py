"""``activekit`` / ``python -m activekit``: a short simulated run that shows what active
learning buys on an embedded dataset (scikit-learn's digits).

It prints the test accuracy after every round of ``margin`` sampling against ``random``
sampling, averaged over a few seeds, and how many labels each needs to reach random's final
accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from . import ActiveLearningClassifier

__all__ = ["learning_curve", "main"]


def learning_curve(strategy, X_train, y_train, X_test, y_test, *, n_initial, budget,
                   batch_size, seed):
    """Test accuracy after each round of the interactive loop, and the label counts."""
    initial, pool = train_test_split(
        np.arange(len(y_train)), train_size=n_initial, stratify=y_train, random_state=seed
    )
    learner = ActiveLearningClassifier(
        LogisticRegression(max_iter=1000),
        query_strategy=strategy,
        batch_size=batch_size,
        random_state=seed,
    ).fit(X_train[initial], y_train[initial])
    sizes, scores = [n_initial], [learner.score(X_test, y_test)]
    while sizes[-1] < budget:
        n = min(batch_size, budget - sizes[-1])
        chosen = pool[learner.query(X_train[pool], n_instances=n)]
        learner.teach(X_train[chosen], y_train[chosen])
        pool = np.setdiff1d(pool, chosen, assume_unique=True)
        sizes.append(sizes[-1] + n)
        scores.append(learner.score(X_test, y_test))
    return np.array(sizes), np.array(scores)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="activekit",
        description="Learning curves of margin vs random sampling on scikit-learn's digits.",
    )
    parser.add_argument("--budget", type=int, default=200, help="labels to acquire (200)")
    parser.add_argument("--batch-size", type=int, default=10, help="labels per round (10)")
    parser.add_argument("--initial", type=int, default=20, help="initial labelled set (20)")
    parser.add_argument("--seeds", type=int, default=3, help="repetitions (3)")
    args = parser.parse_args(argv)
    if not 10 <= args.initial <= args.budget <= 1000 or args.batch_size < 1 or args.seeds < 1:
        parser.error("need 10 <= --initial <= --budget <= 1000, --batch-size >= 1, --seeds >= 1")

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.3, stratify=y, random_state=0
    )
    strategies = ("random", "margin")
    start = time.perf_counter()
    curves = {}
    for strategy in strategies:
        runs = [
            learning_curve(strategy, X_train, y_train, X_test, y_test, n_initial=args.initial,
                           budget=args.budget, batch_size=args.batch_size, seed=seed)
            for seed in range(args.seeds)
        ]
        sizes = runs[0][0]
        curves[strategy] = np.array([scores for _, scores in runs])

    print(f"digits: {len(y_train)} training rows in the pool, {len(y_test)} test rows; "
          f"logistic regression; mean test accuracy over {args.seeds} seeds")
    print(f"{'labels':>7}  " + "  ".join(f"{s:>15}" for s in strategies))
    for i, n in enumerate(sizes):
        cells = [f"{c[:, i].mean():.3f} +/- {c[:, i].std():.3f}" for c in curves.values()]
        print(f"{n:>7}  " + "  ".join(f"{c:>15}" for c in cells))
    target = curves["random"].mean(axis=0)[-1]
    for strategy, c in curves.items():
        reached = np.flatnonzero(c.mean(axis=0) >= target)
        first = sizes[reached[0]] if len(reached) else None
        print(f"{strategy}: reaches random's final accuracy ({target:.3f}) at "
              + (f"{first} labels" if first is not None else "no point within the budget"))
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
