"""Label efficiency for multi-label learning: micro/macro F1 and Hamming loss against random.

The data set is yeast (Elisseeff and Weston 2002, the MULAN version: 2417 genes, 103
features, 14 gene-function labels, 4.2 labels per gene on average), read from river's wheel
(``pip install "activekit[multilabel]"``), no download. It is real data, not
``make_multilabel_classification``.

For each seed, :func:`activekit.evaluation.evaluate_strategies` (``task="multilabel"``) holds
out a random 25% (unstratified); every strategy starts from the same 20 labelled rows (random,
but holding a positive and a negative row of every label) and acquires batches of 40 up to
500 labels, scoring the held-out set after every round. The estimator is ``StandardScaler`` +
one ``LogisticRegression`` per label (one-vs-rest). Reported, mean +/- std over seeds:

* ``AUC micro-F1``: the mean held-out micro F1 over the curve (rewards learning fast early);
* ``final micro-F1``, ``final macro-F1`` and ``final Hamming loss`` (lower is better) at 500;
* ``labels to random``: the labels a strategy first needs to reach random sampling's final
  mean micro F1, and the savings ``1 - labels / 500`` (``(k/n)``: how many seeds reached it);
  the same by Hamming loss (first falling to random's final mean loss). Read these with care:
  on yeast the curves are flat and not monotone (20 labels already score close to 500), so a
  curve can touch random's final value by chance early on; AUC and the final values are the
  steadier columns.

Run: ``python benches/bench_multilabel.py [--seeds 3] [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from activekit._cli import MULTILABEL_STRATEGIES, load_dataset
from activekit.evaluation import evaluate_strategies

STRATEGIES = [*MULTILABEL_STRATEGIES, "coreset"]
BUDGET, N_INITIAL, BATCH = 500, 20, 40


def savings(row, n_seeds):
    if not row["reached"]:
        return f"never (0/{n_seeds})"
    labels = row["labels_to_target_mean"]
    return f"{labels:.0f} ({1 - labels / BUDGET:+.0%}) ({row['reached']}/{n_seeds})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None)
    args = ap.parse_args()
    X, Y, _ = load_dataset("yeast")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ConvergenceWarning on few labels
        results = evaluate_strategies(
            X,
            Y,
            task="multilabel",
            estimator=make_pipeline(
                StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=1000))
            ),
            strategies=STRATEGIES,
            seeds=args.seeds,
            budget=BUDGET,
            batch_size=BATCH,
            n_initial=N_INITIAL,
            n_jobs=args.jobs,
            dataset="yeast",
        )
    f1 = {r["strategy"]: r for r in results.summary()}
    macro = {r["strategy"]: r for r in results.summary(metric="f1_macro")}
    loss = {r["strategy"]: r for r in results.summary(metric="hamming_loss")}
    n = args.seeds
    print(
        f"\nyeast: {N_INITIAL} -> {BUDGET} labels in batches of {BATCH}, {n} seeds; random's "
        f"final mean micro-F1 {f1['random']['target_score']:.3f}, Hamming loss "
        f"{loss['random']['target_score']:.3f}"
    )
    print(
        "| strategy | AUC micro-F1 | final micro-F1 | final macro-F1 | final Hamming loss | "
        "labels to random's micro-F1 (savings) | labels to random's Hamming loss (savings) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")

    def pm(row, key):
        return f"{row[key + '_mean']:.3f} ± {row[key + '_std']:.3f}"

    for s in results.strategies:
        print(
            f"| {s} | {pm(f1[s], 'auc')} | {pm(f1[s], 'final_score')} | "
            f"{pm(macro[s], 'final_score')} | {pm(loss[s], 'final_score')} | "
            f"{savings(f1[s], n)} | {savings(loss[s], n)} |"
        )
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
