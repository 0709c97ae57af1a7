"""What every benchmark here shares: thread counts held equal on both sides, and medians.

A ratio means something only when both sides had the same cores. Each benchmark therefore
times every cell twice: at 1 thread and at every core (``os.cpu_count()``), with

* activekit's kernels at ``n_jobs=t``;
* BLAS and OpenMP (NumPy's matrix products, scikit-learn, faiss) limited to ``t`` threads
  with threadpoolctl;
* NumPy's ufuncs, which run on one thread, spread over ``t`` row chunks in a thread pool
  (they release the GIL), which is what a competent user does to use the other cores.

Timings are medians of as many runs for the baseline as for activekit, after one warm-up.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["ALL_CORES", "THREADS", "chunked", "limit_threads", "median_time", "merge_top_k"]

ALL_CORES = os.cpu_count() or 1
#: The thread counts every cell is timed at.
THREADS = tuple(sorted({1, ALL_CORES}))


@contextlib.contextmanager
def limit_threads(t):
    """BLAS and OpenMP pools (NumPy, scikit-learn, faiss) on ``t`` threads inside the block."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=t):
        try:
            import faiss
        except ImportError:
            faiss = None
        before = faiss.omp_get_max_threads() if faiss is not None else None
        if faiss is not None:
            faiss.omp_set_num_threads(t)
        try:
            yield
        finally:
            if faiss is not None:
                faiss.omp_set_num_threads(before)


def median_time(fn, repeats, warmup=1):
    """``(median seconds, n)`` of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


_POOLS: dict[int, ThreadPoolExecutor] = {}


def chunked(fn, n, t):
    """``[fn(lo, hi), ...]`` over ``t`` contiguous row ranges of ``range(n)``, on ``t`` threads.

    The pool is made once per thread count, outside the timings.
    """
    bounds = np.linspace(0, n, t + 1).astype(int)
    if t == 1:
        return [fn(0, n)]
    pool = _POOLS.get(t)
    if pool is None:
        pool = _POOLS[t] = ThreadPoolExecutor(max_workers=t)
    futures = [pool.submit(fn, int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]
    return [f.result() for f in futures]


def merge_top_k(parts, k):
    """Merge per-chunk ``(global indices, scores)`` candidates into the top ``k``: highest score
    first, lowest index among ties, as activekit's kernels order them."""
    idx = np.concatenate([p[0] for p in parts])
    scores = np.concatenate([p[1] for p in parts])
    order = np.lexsort((idx, -scores))[:k]
    return idx[order], scores[order]


def numpy_top_k(scores, k):
    """The k highest of ``scores`` (indices, scores): highest first, lowest index among ties,
    as a competent NumPy user writes it (``argpartition``, then a sort of the k)."""
    k = min(k, scores.size)
    idx = np.argpartition(-scores, k - 1)[:k]
    order = np.lexsort((idx, -scores[idx]))
    idx = idx[order]
    return idx, scores[idx]


def chunked_top_k(score_rows, p, k, threads=1):
    """NumPy's top k of ``score_rows(p)``; with ``threads`` > 1 over one row chunk of ``p`` a
    thread, the per-chunk top k merged."""

    def part(lo, hi):
        idx, scores = numpy_top_k(score_rows(p[lo:hi]), k)
        return idx + lo, scores

    return merge_top_k(chunked(part, p.shape[0], threads), k)
