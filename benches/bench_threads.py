"""Do the Rust kernels run in parallel from Python threads? 4 threads against 4 calls in a row.

Each measure makes the same 4 calls twice in the same run: one after another, then from 4
threads at once (released together by a barrier). Every kernel runs on one thread of its own
(``n_jobs=1``) and BLAS on one thread, so any speed-up comes from the Python threads running
at the same time, which they can only do while the GIL is released. The ideal ratio is
``min(4, cores)``. A pure-Python function, which holds the GIL, is the control: about 1x.
The threaded results are checked equal to the sequential ones.

Run ``python benches/bench_threads.py`` (``--repeats 7``, ``--scale 1.0``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import numpy as np


def measures(scale):
    from sklearn.linear_model import LogisticRegression

    from activekit import ActiveLearningClassifier, _kernels

    rng = np.random.default_rng(0)
    n = int(200_000 * scale)
    probs = rng.dirichlet(np.ones(10), size=n).astype(np.float32)
    X = rng.standard_normal((int(50_000 * scale), 64)).astype(np.float32)
    small = X[: int(6_000 * scale)]
    pool = rng.standard_normal((n, 64)).astype(np.float32)
    labels = rng.integers(0, 10, size=300)
    learner = ActiveLearningClassifier(
        LogisticRegression(max_iter=200), query_strategy="margin", n_jobs=1
    ).fit(pool[:300], labels)

    def python_loop():  # the control: holds the GIL throughout
        total = 0
        for i in range(int(400_000 * scale)):
            total += i * i
        return total

    return {
        "uncertainty_top_k (entropy, 2e5 x 10)": lambda: _kernels.uncertainty_top_k(
            probs, "entropy", 100, n_jobs=1
        ),
        "kcenter_greedy (5e4 x 64, k=100)": lambda: _kernels.kcenter_greedy(
            X, X[:10], 100, n_jobs=1
        ),
        "min_distances (5e4 x 64 to 200)": lambda: _kernels.min_distances(X, X[:200], n_jobs=1),
        "knn_density (6e3 x 64, k=10)": lambda: _kernels.knn_density(small, 10, n_jobs=1),
        "mean_cosine_similarity (5e4 x 64)": lambda: _kernels.mean_cosine_similarity(X, n_jobs=1),
        "learner.query, margin (2e5 x 64)": lambda: learner.query(pool, n_instances=100),
        "pure Python loop (control)": python_loop,
    }


def _same(a, b):
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def run_threads(call, n_threads):
    barrier = threading.Barrier(n_threads + 1)
    results = [None] * n_threads

    def work(i):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start, results


def main(argv=None):
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    k = args.threads
    print(f"{os.cpu_count()} cores; {k} calls in a row vs {k} threads at once; "
          f"medians of {args.repeats}; kernels n_jobs=1, BLAS 1 thread")
    rows = []
    with threadpool_limits(limits=1):
        for name, call in measures(args.scale).items():
            want = call()  # warm up, and the reference result
            seq, par = [], []
            for _ in range(args.repeats):
                start = time.perf_counter()
                for _ in range(k):
                    call()
                seq.append(time.perf_counter() - start)
                elapsed, results = run_threads(call, k)
                par.append(elapsed)
                assert all(_same(r, want) for r in results), f"{name}: threads disagree"
            s, p = statistics.median(seq), statistics.median(par)
            rows.append((name, s, p, s / p))
            print(f"{name:<40} in a row {s * 1e3:8.1f} ms   threads {p * 1e3:8.1f} ms   "
                  f"{s / p:4.2f}x", flush=True)
    print(f"\n| call | {k} in a row (ms) | {k} threads (ms) | speed-up |")
    print("| --- | ---: | ---: | ---: |")
    for name, s, p, r in rows:
        print(f"| {name} | {s * 1e3:.1f} | {p * 1e3:.1f} | {r:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
