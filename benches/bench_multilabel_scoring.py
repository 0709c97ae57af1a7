"""Multi-label scoring + top-k: the Rust kernel against vectorised NumPy, at equal threads.

For each measure of the multi-label strategies (mean_entropy, max_entropy,
binary_minimization, max_loss, mean_max_loss) and each pool (n rows, L labels, float32,
C-contiguous, per-label probabilities uniform in [0, 1]), this times, at 1 thread and at every
core (``os.cpu_count()``):

* Rust: ``activekit._kernels.multilabel_top_k(probs, measure, k, n_jobs=t)`` (it also checks
  every value is in [0, 1], in the same pass);
* NumPy: what a competent user writes, in float32 like the input: the binary entropy
  ``-(p ln p) - (1 - p) ln(1 - p)`` with ``np.log(..., where=...)`` into preallocated arrays
  (``0 ln 0 = 0``), ``-|p - 0.5|``, ``np.minimum(p, 1 - p)``, then ``mean``/``max``/``min``
  over the labels, ``np.argpartition`` for the top k and a sort of the k; it checks nothing.
  NumPy's ufuncs run on one thread, so at ``t`` threads the same code runs over ``t`` row
  chunks in a thread pool (the ufuncs release the GIL) and the chunks' top k are merged, with
  BLAS and OpenMP pools limited to ``t`` threads by threadpoolctl (see ``_threads.py``).

It reports medians of as many runs for NumPy as for Rust (after a warm-up) and the ratio
NumPy / Rust at equal threads. Before timing a cell it checks that Rust and NumPy select the
same rows (up to ties within a tolerance) and that Rust's scores match NumPy's.

Run ``python benches/bench_multilabel_scoring.py`` (``--quick`` for a smoke run,
``--repeats N``, ``-n ROWS``).
"""

from __future__ import annotations

import argparse
import functools
import platform
import sys

import numpy as np
from _threads import ALL_CORES, THREADS, chunked_top_k, limit_threads, median_time, numpy_top_k

from activekit import _kernels

MEASURES = ("mean_entropy", "max_entropy", "binary_minimization", "max_loss", "mean_max_loss")


def make_probs(n, n_labels, seed, chunk=1 << 16):
    """Per-label probabilities: (n, L) float32, C-contiguous, uniform in [0, 1], with a few
    exact 0s, 1s and 0.5s; filled in row chunks (no float64 temporary of the whole pool)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, n_labels), dtype=np.float32)
    for start in range(0, n, chunk):
        block = out[start : start + chunk]
        block[...] = rng.random(block.shape, dtype=np.float32)
        edge = rng.random(block.shape, dtype=np.float32) < 0.01
        block[edge] = rng.choice(np.array([0.0, 1.0, 0.5], np.float32), size=int(edge.sum()))
    return out


# --------------------------------------------------------------------------------------------
# The NumPy baseline: compute, check nothing.


def _binary_entropy(p):
    """``-(p ln p) - (1 - p) ln(1 - p)`` in p's dtype, 0 at 0 and 1, with two temporaries."""
    q = np.subtract(1, p, dtype=p.dtype)
    h = np.zeros_like(p)
    np.log(p, out=h, where=p > 0)
    h *= p
    lq = np.zeros_like(p)
    np.log(q, out=lq, where=q > 0)
    lq *= q
    h += lq
    np.negative(h, out=h)
    return h


def numpy_scores(p, measure):
    if measure == "mean_entropy":
        return _binary_entropy(p).mean(axis=1)
    if measure == "max_entropy":
        return _binary_entropy(p).max(axis=1)
    if measure == "binary_minimization":
        d = p - np.float32(0.5)
        np.abs(d, out=d)
        return -d.min(axis=1)
    loss = np.minimum(p, np.subtract(1, p, dtype=p.dtype))
    return loss.max(axis=1) if measure == "max_loss" else loss.mean(axis=1)


def numpy_multilabel_top_k(p, measure, k, threads=1):
    """NumPy's top k; with ``threads`` > 1 over one row chunk a thread, per-chunk top k merged."""
    return chunked_top_k(lambda rows: numpy_scores(rows, measure), p, k, threads)


def rust_multilabel_top_k(p, measure, k, threads):
    return _kernels.multilabel_top_k(p, measure, k, n_jobs=threads)


# --------------------------------------------------------------------------------------------
# Agreement: a fast wrong kernel must not pass.


def check_agreement(p, measure, k):
    """Rust and NumPy (whole, and over row chunks) pick the same rows up to ties within
    ``tol``, and Rust's scores match NumPy's."""
    ref = numpy_scores(p, measure).astype(np.float64)
    where = f"{measure} n={p.shape[0]} L={p.shape[1]}"
    # float32 sums in two orders, and the entropy's two logarithms: a few ulps of the scores.
    tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
    n_idx, _ = numpy_top_k(ref, k)
    kth = float(np.sort(ref[n_idx])[0])
    c_idx, _ = numpy_multilabel_top_k(p, measure, k, ALL_CORES)
    assert np.array_equal(np.sort(ref[c_idx]), np.sort(ref[n_idx])), (
        f"{where}: NumPy over row chunks selects other scores"
    )
    for threads in THREADS:
        r_idx, r_scores = rust_multilabel_top_k(p, measure, k, threads)
        r_scores = np.asarray(r_scores, dtype=np.float64)
        assert r_idx.shape == (k,) and np.unique(r_idx).size == k, where
        assert np.all(np.diff(r_scores) <= 0), f"{where}: scores not in descending order"
        err = np.abs(r_scores - ref[r_idx]).max()
        assert err <= tol, f"{where}: Rust scores differ from NumPy by {err:.3g} > {tol:.3g}"
        differ = np.setxor1d(r_idx, n_idx)
        off = np.abs(ref[differ] - kth)
        assert np.all(off <= tol), (
            f"{where}, {threads} threads: {differ.size} selected rows differ beyond ties"
        )


# --------------------------------------------------------------------------------------------


def fmt_ms(t):
    return f"{t * 1e3:.1f}" if t >= 0.01 else f"{t * 1e3:.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke run)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per cell (default 7)")
    ap.add_argument("-n", type=int, default=None, help="pool rows (default 1e6)")
    ap.add_argument("-k", type=int, default=100, help="rows to select (default 100)")
    args = ap.parse_args(argv)

    repeats = args.repeats or (3 if args.quick else 7)
    n = args.n or (20_000 if args.quick else 1_000_000)
    labels = (5, 50)
    k = args.k

    print(f"machine: {platform.machine()} {platform.processor() or ''}".rstrip())
    print(f"cores: {ALL_CORES}; every cell at threads {', '.join(map(str, THREADS))}, both sides")
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    print(f"n = {n}, L in {labels}, float32, k = {k}; medians of {repeats} runs each side")
    print()

    rows = []
    for n_labels in labels:
        p = make_probs(n, n_labels, seed=n_labels)
        for measure in MEASURES:
            check_agreement(p, measure, k)
            times = {}
            for t in THREADS:
                with limit_threads(t):
                    t_np, _ = median_time(
                        functools.partial(numpy_multilabel_top_k, p, measure, k, t), repeats
                    )
                    t_rs, _ = median_time(
                        functools.partial(rust_multilabel_top_k, p, measure, k, t), repeats
                    )
                times[t] = (t_np, t_rs)
            rows.append((measure, n_labels, times))
            line = f"{measure:<20}{n_labels:>4}"
            for t, (t_np, t_rs) in times.items():
                line += (
                    f" | {t} thr: NumPy {fmt_ms(t_np)} ms, Rust {fmt_ms(t_rs)} ms, "
                    f"{t_np / t_rs:.1f}x"
                )
            print(line, flush=True)
        del p

    print()
    print(
        f"Multi-label scoring + top-{k}, n = {n:.0e}, float32, medians of {repeats} runs each "
        f"side; {ALL_CORES} cores."
    )
    print()
    head = "| measure | L |"
    rule = "| --- | ---: |"
    for t in THREADS:
        head += f" NumPy, {t} thr (ms) | Rust, {t} thr (ms) | NumPy / Rust, {t} thr |"
        rule += " ---: | ---: | ---: |"
    print(head)
    print(rule)
    for measure, n_labels, times in rows:
        line = f"| {measure} | {n_labels} |"
        for t_np, t_rs in times.values():
            line += f" {fmt_ms(t_np)} | {fmt_ms(t_rs)} | {t_np / t_rs:.1f}x |"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
