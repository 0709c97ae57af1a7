"""Committee disagreement + top-k: the Rust kernels against NumPy, on the same data in one run.

For a committee of m members over n rows and c classes (float32 probabilities, C-contiguous
``(m, n, c)``; int64 votes ``(m, n)``), this times

* Rust: ``committee_top_k`` (consensus entropy, max disagreement, mean std) and
  ``vote_top_k`` (vote entropy, variation ratio), which also validate every member's row (and
  every vote) in the same pass;
* NumPy: a clean vectorised implementation of the same scores, validating nothing (the
  members' mean, ``-sum p ln p`` with ``0 ln 0 = 0``, squared deviations from the mean added
  one member at a time; vote counts by one scatter-add per member), then
  ``np.argpartition`` and a sort of the k selected;

each at 1 thread and at every core (Rust with ``n_jobs``; NumPy's single-threaded ufuncs over
one row chunk per thread in a thread pool, per-chunk top-k merged: see ``_threads.py``), and
reports medians of as many runs for NumPy as for Rust, after a warm-up, and the ratio NumPy /
Rust at equal threads. Before timing a cell it checks that both select the same rows (up to
ties within a tolerance).

Run ``python benches/bench_committee.py`` (``--quick`` for a smoke run, ``--repeats N``).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform

import numpy as np
from _threads import ALL_CORES, THREADS, chunked, median_time, merge_top_k

from activekit import _kernels

PROB_MEASURES = ("consensus_entropy", "max_disagreement", "mean_std")
VOTE_MEASURES = ("vote_entropy", "variation_ratio")


def make_committee(m, n, c, seed, scale=3.0):
    """Members that share a signal and each add their own noise: softmax rows, float32."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n, c), dtype=np.float32) * np.float32(scale)
    out = np.empty((m, n, c), dtype=np.float32)
    for i in range(m):
        block = out[i]
        rng.standard_normal(out=block, dtype=np.float32)
        block += shared
        block -= block.max(axis=1, keepdims=True)
        np.exp(block, out=block)
        block /= block.sum(axis=1, keepdims=True)
    return out


def entropy(p):
    logp = np.zeros_like(p)
    np.log(p, out=logp, where=p > 0)
    logp *= p
    return -logp.sum(axis=-1)


def numpy_scores(data, measure, c):
    if measure == "consensus_entropy":
        return entropy(data.mean(axis=0))
    if measure == "max_disagreement":
        mean_member_entropy = np.zeros(data.shape[1], dtype=data.dtype)
        for member in data:  # one member at a time: no (m, n, c) temporary
            mean_member_entropy += entropy(member)
        return entropy(data.mean(axis=0)) - mean_member_entropy / len(data)
    if measure == "mean_std":
        mean = data.mean(axis=0)
        squares = np.zeros_like(mean)
        for member in data:  # two passes, as np.std; no (m, n, c) temporary
            squares += (member - mean) ** 2
        return np.sqrt(squares / len(data)).mean(axis=-1)
    m, n = data.shape
    counts = np.zeros((n, c), dtype=np.int32)
    rows = np.arange(n)
    for member in data:
        counts[rows, member] += 1
    if measure == "vote_entropy":
        return entropy(counts / m)
    return 1.0 - counts.max(axis=1) / m


def numpy_top_k(data, measure, c, k, threads=1):
    """Top k of the NumPy scores; with ``threads`` > 1 over row chunks, merged."""

    def part(lo, hi):
        scores = numpy_scores(data[:, lo:hi], measure, c)
        kk = min(k, hi - lo)
        idx = np.argpartition(-scores, kk - 1)[:kk]
        return idx + lo, scores[idx]

    return merge_top_k(chunked(part, data.shape[1], threads), k)


def rust_top_k(data, measure, c, k, n_jobs=None):
    if measure in PROB_MEASURES:
        return _kernels.committee_top_k(data, measure, k, n_jobs=n_jobs)
    return _kernels.vote_top_k(data, c, measure, k, n_jobs=n_jobs)


def check_agreement(data, measure, c, k):
    ref = numpy_scores(data, measure, c).astype(np.float64)
    n_idx, _ = numpy_top_k(data, measure, c, k)
    r_idx, r_scores = rust_top_k(data, measure, c, k)
    t_idx, _ = numpy_top_k(data, measure, c, k, ALL_CORES)
    same = np.sort(ref[t_idx]) == np.sort(ref[n_idx])
    assert same.all(), f"{measure}: NumPy over row chunks selects other scores"
    tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
    err = np.abs(np.asarray(r_scores, dtype=np.float64) - ref[r_idx]).max()
    assert err <= tol, f"{measure}: Rust scores differ from NumPy by {err:.3g}"
    kth = float(np.sort(ref[n_idx])[0])
    differ = np.setxor1d(r_idx, n_idx)
    assert np.all(np.abs(ref[differ] - kth) <= tol), f"{measure}: selections differ beyond ties"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per cell (default 5)")
    ap.add_argument("-k", type=int, default=100, help="rows to select (default 100)")
    ap.add_argument("-m", type=int, default=10, help="committee members (default 10)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    sizes = [(10_000, 10)] if args.quick else [(100_000, 10), (100_000, 100), (1_000_000, 10)]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"m = {args.m}, k = {args.k}, float32 probabilities, int64 votes; medians of "
          f"{repeats} runs each side after a warm-up; threads {', '.join(map(str, THREADS))}")
    head = "| measure | n | c |"
    rule = "| --- | ---: | ---: |"
    for t in THREADS:
        head += f" NumPy, {t} thr (ms) | Rust, {t} thr (ms) | NumPy / Rust, {t} thr |"
        rule += " ---: | ---: | ---: |"
    print(head)
    print(rule)
    for n, c in sizes:
        probs = make_committee(args.m, n, c, seed=0)
        votes = probs.argmax(axis=2).astype(np.int64)
        for measure in PROB_MEASURES + VOTE_MEASURES:
            data = probs if measure in PROB_MEASURES else votes
            check_agreement(data, measure, c, args.k)
            line = f"| {measure} | {n:.0e} | {c} |"
            for t in THREADS:
                t_np, _ = median_time(
                    functools.partial(numpy_top_k, data, measure, c, args.k, t), repeats
                )
                t_rs, _ = median_time(
                    functools.partial(rust_top_k, data, measure, c, args.k, t), repeats
                )
                line += f" {t_np * 1e3:.1f} | {t_rs * 1e3:.2f} | {t_np / t_rs:.1f}x |"
            print(line, flush=True)
    print(f"\nBoth sides at equal threads (1 and {ALL_CORES}); NumPy over one row chunk a thread.")


if __name__ == "__main__":
    main()
