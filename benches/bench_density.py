"""Nearest-neighbour density: the Rust kNN against faiss and scikit-learn, and the O(n d) cosine
information density against modAL's n x n one.

1. Self-kNN (each row's k = 10 nearest other rows), Euclidean, d = 64, float32 standard
   normals, n = 20k and 100k, timed in the same run for

   * activekit: ``activekit._kernels.knn(X, 10, n_jobs=t)``;
   * faiss-cpu: ``IndexFlatL2`` (exact, BLAS + heaps), ``search(X, 11)`` minus each row itself;
   * scikit-learn: ``NearestNeighbors(n_neighbors=10, algorithm=..., n_jobs=t)``, ``fit(X)``
     then ``kneighbors()`` (which excludes each row itself), with ``algorithm="brute"`` and the
     default ``"auto"``;

   each at t = 1 thread and at every core, BLAS and OpenMP (faiss) limited to t threads too.

   Before timing, the neighbour sets are compared (fraction of identical neighbours; random
   normals have no exact ties, so anything below 1 is a near-tie decided by rounding).

2. Information density with cosine similarity (Settles & Craven 2008): the mean similarity of
   each row to the whole pool. activekit computes the exact mean cosine similarity in O(n d)
   (``mean_cosine_similarity``: each unit row dotted with the mean unit row); modAL's
   ``information_density(X, "cosine")`` builds the n x n distance matrix. Note that modAL's
   similarity is ``1 / (1 + cosine distance)``, not the cosine similarity, so the values differ;
   the ranking agreement (Spearman) is printed. modAL is run while its estimated peak memory
   (three n x n matrices: distances, ``1 + D``, ``1 / (1 + D)``) stays under 8 GB; larger n are
   skipped, said so, and activekit goes on to 2 million rows. Both at 1 thread and at every
   core (``n_jobs=t``; modAL's BLAS limited to t threads).

Medians of ``--repeats`` runs after a warm-up, as many for each baseline as for activekit
(one run, said so, for the largest kNN pool, whose times are tens of seconds). The machine
this was written on is shared and noisy: ratios in one run are more meaningful than absolute
times.

Run ``python benches/bench_density.py`` (about 10 minutes on 2 cores; ``--quick`` for a smoke
run). Needs ``faiss-cpu`` and ``modAL-python`` (``pip install faiss-cpu``;
``pip install --no-deps modAL-python``); a missing one is reported and skipped.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np
from _threads import THREADS, limit_threads
from _threads import median_time as _median_time

from activekit import _kernels

K = 10
D = 64
MODAL_LIMIT_BYTES = 8e9


def median_time(fn, repeats, warmup=1):
    return _median_time(fn, repeats, warmup)[0]


def fmt_s(t):
    return "-" if t is None else f"{t:.3f} s" if t >= 0.1 else f"{t * 1e3:.2f} ms"


def fmt_ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}x"


# --------------------------------------------------------------------------------------------
# kNN


def ours_knn(X, t=None):
    return _kernels.knn(X, K, n_jobs=t)[0]


def faiss_knn(X):
    import faiss

    index = faiss.IndexFlatL2(X.shape[1])
    index.add(X)
    _, idx = index.search(X, K + 1)
    # Drop each row itself (normally first; with ties it may sit elsewhere or be cut off).
    own = idx == np.arange(len(X))[:, None]
    own[~own.any(axis=1), K] = True
    return idx[~own].reshape(len(X), K)


def sklearn_knn(X, algorithm, t=-1):
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=K, algorithm=algorithm, n_jobs=t).fit(X)
    return nn.kneighbors(return_distance=False)


def agreement(a, b):
    """Fraction of rows' neighbours (as sets) that two results share."""
    return (a[:, :, None] == b[:, None, :]).any(axis=2).mean()


def bench_knn(sizes, repeats, have_faiss):
    rows = []
    for n in sizes:
        X = np.random.default_rng(n).standard_normal((n, D), dtype=np.float32)
        reps = 1 if n >= 100_000 else repeats
        mine = ours_knn(X)
        for t in THREADS:
            contenders = {"faiss IndexFlatL2": lambda X, t: faiss_knn(X)} if have_faiss else {}
            contenders["sklearn brute"] = lambda X, t: sklearn_knn(X, "brute", t)
            contenders["sklearn auto"] = lambda X, t: sklearn_knn(X, "auto", t)
            with limit_threads(t):
                t_ours = median_time(lambda X=X, t=t: ours_knn(X, t), reps)
                row = {"n": n, "threads": t, "reps": reps, "ours": t_ours}
                print(f"\nkNN n={n:,} d={D} k={K} float32, {t} thread(s) each side"
                      f" ({'one run' if reps == 1 else f'median of {reps}'})", flush=True)
                print(f"  activekit          {fmt_s(t_ours)}", flush=True)
                for name, fn in contenders.items():
                    theirs = fn(X, t)  # also the warm-up
                    agree = agreement(mine, theirs)
                    t_them = median_time(lambda X=X, fn=fn, t=t: fn(X, t), reps, warmup=0)
                    row[name] = (t_them, agree)
                    print(
                        f"  {name:<18} {fmt_s(t_them)}  ours is {t_them / t_ours:.2f}x faster;"
                        f" neighbours agree {agree:.5f}",
                        flush=True,
                    )
            rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Cosine information density


def modal_density(X):
    from modAL.density import information_density

    return information_density(X, "cosine")


def reference_mean_cosine(X):
    U = X.astype(np.float64)
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    return (U @ U.T).mean(axis=1)


def bench_density(sizes, repeats, have_modal):
    from scipy.stats import spearmanr

    rows = []
    modal_itemsize = None
    for n in sizes:
        X = np.random.default_rng(n).standard_normal((n, D), dtype=np.float32)
        X += 0.5  # a common direction, so densities differ between rows
        reps = repeats if n <= 200_000 else max(1, repeats // 2)
        ours = _kernels.mean_cosine_similarity(X)
        for t in THREADS:
            with limit_threads(t):
                t_ours = median_time(
                    lambda X=X, t=t: _kernels.mean_cosine_similarity(X, n_jobs=t), reps
                )
                row = {"n": n, "threads": t, "reps": reps, "ours": t_ours, "modal": None,
                       "note": ""}
                line = f"  n={n:>9,} threads={t}  activekit {fmt_s(t_ours):>10}"
                if n <= 5_000 and t == THREADS[0]:
                    err = np.abs(ours - reference_mean_cosine(X)).max()
                    line += f"  (max |ours - exact n x n mean| = {err:.1e})"
                if have_modal:
                    # Peak of modAL: D, 1 + D and 1 / (1 + D), each n x n of the result's dtype.
                    itemsize = modal_itemsize or 8
                    need = 3 * n * n * itemsize
                    if need > MODAL_LIMIT_BYTES:
                        row["note"] = f"modAL skipped: needs ~{need / 1e9:.0f} GB"
                        line += f"  modAL skipped (estimated peak {need / 1e9:.1f} GB > 8 GB)"
                    else:
                        theirs = modal_density(X)
                        modal_itemsize = theirs.dtype.itemsize
                        t_them = median_time(lambda X=X: modal_density(X), reps, warmup=0)
                        rho = spearmanr(ours, theirs).statistic
                        row["modal"] = t_them
                        row["note"] = f"rank corr. {rho:.4f}"
                        line += f"  modAL {fmt_s(t_them):>10}"
                        line += f"  ours is {t_them / t_ours:,.0f}x faster"
                        line += f"  (Spearman vs modAL {rho:.4f})"
            print(line, flush=True)
            rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke run)")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 3)
    knn_sizes = (2_000, 10_000) if args.quick else (20_000, 100_000)
    density_sizes = (
        (2_000, 5_000, 100_000)
        if args.quick
        else (5_000, 10_000, 20_000, 25_000, 40_000, 100_000, 1_000_000, 2_000_000)
    )

    try:
        import faiss

        have_faiss = True
        faiss_info = f"faiss-cpu {faiss.__version__} ({faiss.omp_get_max_threads()} threads)"
    except ImportError:
        have_faiss, faiss_info = False, "faiss-cpu not installed (pip install faiss-cpu): skipped"
    try:
        import modAL  # noqa: F401

        have_modal = True
    except ImportError:
        have_modal = False
        print("modAL not installed (pip install --no-deps modAL-python): skipped")
    import sklearn

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}, NumPy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, {faiss_info}"
    )
    print("Shared, noisy machine: compare ratios within this run, not absolute times.")

    knn_rows = bench_knn(knn_sizes, repeats, have_faiss)
    print(f"\nCosine information density (d={D}, float32, medians of {repeats} each side)")
    density_rows = bench_density(density_sizes, repeats, have_modal)

    print(
        "\n| kNN (self, k=10, d=64, f32) | threads | activekit | faiss IndexFlatL2 | sklearn brute"
        " | sklearn auto | faiss / ours | sklearn brute / ours | neighbours agree (faiss) |"
    )
    print("| --- | ---: | --- | --- | --- | --- | --- | --- | --- |")
    for r in knn_rows:
        f = r.get("faiss IndexFlatL2", (None, None))
        b = r["sklearn brute"]
        a = r["sklearn auto"]
        agree = "-" if f[1] is None else f"{f[1]:.5f}"
        runs = " (one run)" if r["reps"] == 1 else ""
        print(
            f"| n = {r['n']:,}{runs} | {r['threads']} | {fmt_s(r['ours'])} | {fmt_s(f[0])}"
            f" | {fmt_s(b[0])} | {fmt_s(a[0])} | {fmt_ratio(f[0], r['ours'])}"
            f" | {fmt_ratio(b[0], r['ours'])} | {agree} |"
        )
    print(
        "\n| cosine information density | threads | activekit (O(n d)) | modAL (n x n)"
        " | modAL / ours | note |"
    )
    print("| --- | ---: | --- | --- | --- | --- |")
    for r in density_rows:
        print(
            f"| n = {r['n']:,} | {r['threads']} | {fmt_s(r['ours'])} | {fmt_s(r['modal'])}"
            f" | {fmt_ratio(r['modal'], r['ours'])} | {r['note']} |"
        )
    ran = [r["n"] for r in density_rows if r["modal"] is not None]
    print(
        f"\nLargest n: modAL {max(ran):,} (by the 8 GB limit)" if ran else "\nmodAL not run",
        f"; activekit {density_rows[-1]['n']:,}.",
        sep="",
    )


if __name__ == "__main__":
    main()
