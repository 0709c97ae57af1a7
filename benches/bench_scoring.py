"""Uncertainty scoring + top-k: the Rust kernel against NumPy and against the memory-read bound.

For each measure (least_confident, margin, entropy) and each pool size (n rows, c classes,
float32, C-contiguous), this times, at 1 thread and at every core (``os.cpu_count()``):

* Rust: ``activekit._kernels.uncertainty_top_k(probs, measure, k, n_jobs=t)`` (it also
  validates each row, in the same pass);
* NumPy: a clean vectorised implementation of the same scores (``1 - max``;
  ``1 - (top1 - top2)`` via ``np.partition``; ``-sum p ln p`` with ``0 ln 0 = 0``), then
  ``np.argpartition`` and a sort of the k selected; it validates nothing. NumPy's ufuncs run on
  one thread, so at ``t`` threads the same code runs over ``t`` row chunks in a thread pool
  (the ufuncs release the GIL), each chunk's top k merged, with BLAS and OpenMP pools limited
  to ``t`` threads by threadpoolctl (see ``_threads.py``);

and reports medians of as many runs for NumPy as for Rust (after a warm-up), the ratio
NumPy / Rust at equal threads, and the time the memory-read bound allows at that thread count:
bytes of the probability matrix / read bandwidth, with the read bandwidth measured in the same
run at 1 thread and at every core (one NumPy reduction per thread over its share of a 512 MiB
array, best over reductions and repeats, at the start and again at the end of the run). Before
timing a cell it checks that Rust, NumPy and NumPy over row chunks select the same rows (up to
ties within a tolerance) and that Rust's scores match NumPy's.

Entropy top-k rules rows out by a cheap upper bound on their entropy before taking their
logarithms (``rust/core/src/uncertainty.rs``, ``EntropyBound``): how much that saves depends on
how spread the rows' entropies are. So at c = 100 entropy is also timed on a *flat* pool, rows
drawn from a Dirichlet(1) (near-uniform, entropies bunched near the top), where few rows can
be ruled out: the row ``entropy (flat pool)``.

Run ``python benches/bench_scoring.py`` (``--quick`` for a smoke run, ``--repeats N``).
"""

from __future__ import annotations

import argparse
import functools
import platform
import sys
import threading
import time

import numpy as np
from _threads import ALL_CORES, THREADS, chunked_top_k, limit_threads, median_time, numpy_top_k

from activekit import _kernels

MEASURES = ("least_confident", "margin", "entropy")


# --------------------------------------------------------------------------------------------
# Data


def make_probs(n, c, seed, scale=3.0, chunk=1 << 16):
    """Softmax of scaled standard normals: (n, c) float32, C-contiguous, rows summing to one.

    Filled in row chunks so that no float64 or second full-size temporary is made.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, c), dtype=np.float32)
    for start in range(0, n, chunk):
        block = out[start : start + chunk]
        rng.standard_normal(out=block, dtype=np.float32)
        block *= np.float32(scale)
        block -= block.max(axis=1, keepdims=True)
        np.exp(block, out=block)
        block /= block.sum(axis=1, keepdims=True)
    return out


def make_flat_probs(n, c, seed, chunk=1 << 16):
    """Rows from a Dirichlet(1): (n, c) float32, near-uniform, entropies bunched together."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, c), dtype=np.float32)
    for start in range(0, n, chunk):
        block = out[start : start + chunk]
        block[:] = rng.standard_exponential(block.shape, dtype=np.float32)
        block /= block.sum(axis=1, keepdims=True)
    return out


# --------------------------------------------------------------------------------------------
# The NumPy baseline: compute, validate nothing.


def numpy_scores(p, measure):
    if measure == "least_confident":
        return 1 - p.max(axis=1)
    if measure == "margin":
        c = p.shape[1]
        top2 = np.partition(p, c - 2, axis=1)[:, -2:]
        return 1 - (top2[:, 1] - top2[:, 0])
    # entropy: -sum p ln p with 0 ln 0 = 0
    logp = np.zeros_like(p)
    np.log(p, out=logp, where=p > 0)
    logp *= p
    return -logp.sum(axis=1)


def numpy_uncertainty_top_k(p, measure, k, threads=1):
    """NumPy's top k; with ``threads`` > 1 over one row chunk a thread, per-chunk top k merged."""
    return chunked_top_k(lambda rows: numpy_scores(rows, measure), p, k, threads)


def rust_uncertainty_top_k(p, measure, k, threads):
    return _kernels.uncertainty_top_k(p, measure, k, n_jobs=threads)


# --------------------------------------------------------------------------------------------
# Agreement: a fast wrong kernel must not pass.


def check_agreement(p, measure, k):
    """Rust, NumPy and NumPy over row chunks pick the same rows up to ties within ``tol``, and
    Rust's scores match NumPy's."""
    ref = numpy_scores(p, measure)
    where = f"{measure} n={p.shape[0]} c={p.shape[1]}"
    # float32 scores from two summation orders: a few ulps of the largest partial sums.
    tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
    n_idx, _ = numpy_top_k(ref, k)
    kth = float(np.sort(ref[n_idx])[0])
    t_idx, _ = numpy_uncertainty_top_k(p, measure, k, ALL_CORES)
    assert np.array_equal(np.sort(ref[t_idx]), np.sort(ref[n_idx])), (
        f"{where}: NumPy over row chunks selects other scores"
    )
    for threads in THREADS:
        r_idx, r_scores = rust_uncertainty_top_k(p, measure, k, threads)
        r_idx = np.asarray(r_idx)
        r_scores = np.asarray(r_scores, dtype=np.float64)
        assert r_idx.shape == (k,) and r_scores.shape == (k,), where
        assert np.unique(r_idx).size == k, f"{where}: repeated indices"
        assert r_idx.min() >= 0 and r_idx.max() < p.shape[0], f"{where}: index out of range"
        assert np.all(np.diff(r_scores) <= 0), f"{where}: scores not in descending order"
        err = np.abs(r_scores - ref[r_idx].astype(np.float64)).max()
        assert err <= tol, f"{where}: Rust scores differ from NumPy by {err:.3g} > {tol:.3g}"
        differ = np.setxor1d(r_idx, n_idx)
        off = np.abs(ref[differ].astype(np.float64) - kth)
        assert np.all(off <= tol), (
            f"{where}, {threads} threads: {differ.size} selected rows differ beyond ties "
            f"(max distance from the k-th score {off.max():.3g} > {tol:.3g})"
        )


# --------------------------------------------------------------------------------------------
# The memory-read bound


def _parallel(fns):
    """Run each of ``fns`` on its own thread (NumPy releases the GIL); wall time of all."""
    barrier = threading.Barrier(len(fns) + 1)

    def run(f):
        barrier.wait()
        f()

    threads = [threading.Thread(target=run, args=(f,)) for f in fns]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def read_bandwidth(n_threads, nbytes=512 << 20, repeats=7):
    """Bytes/s that ``n_threads`` threads read, each reducing its share of one large array.

    Best over several NumPy reductions (float32 sum and max, a uint64 bitwise-or) and
    repeats: the highest rate seen is the tightest honest bound.
    """
    a = np.ones(nbytes // 4, dtype=np.float32)
    parts = np.array_split(a, n_threads)
    reductions = {
        "float32 sum": lambda x: x.sum(),
        "float32 max": lambda x: x.max(),
        "uint64 or": lambda x: np.bitwise_or.reduce(x.view(np.uint64)),
    }
    rates = {}
    for name, red in reductions.items():
        fns = [functools.partial(red, x) for x in parts]
        _parallel(fns)  # warm-up (and page faults, on the first)
        best = min(_parallel(fns) for _ in range(repeats))
        rates[name] = a.nbytes / best
    del a, parts
    return max(rates.values()), rates


# --------------------------------------------------------------------------------------------


def fmt_ms(t):
    return f"{t * 1e3:.1f}" if t >= 0.01 else f"{t * 1e3:.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke run)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per cell (default 7)")
    ap.add_argument("-k", type=int, default=100, help="rows to select (default 100)")
    args = ap.parse_args(argv)

    repeats = args.repeats or (3 if args.quick else 7)
    sizes_n = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    sizes_c = (10, 100)
    k = args.k

    print(f"machine: {platform.machine()} {platform.processor() or ''}".rstrip())
    print(f"cores: {ALL_CORES}; every cell at threads {', '.join(map(str, THREADS))}, both sides")
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    print(
        f"sizes: n in {sizes_n}, c in {sizes_c}, float32, k = {k}; "
        f"medians of {repeats} runs each side after a warm-up"
    )

    bw_bytes = (128 << 20) if args.quick else (512 << 20)

    def measure_bandwidth():
        return {t: read_bandwidth(t, nbytes=bw_bytes) for t in THREADS}

    bws = measure_bandwidth()
    for t, (bw, rates) in bws.items():
        detail = ", ".join(f"{name} {r / 1e9:.1f}" for name, r in rates.items())
        print(f"read bandwidth on {t} thread(s): {bw / 1e9:.1f} GB/s ({detail})")
    bw = {t: bws[t][0] for t in THREADS}
    print()

    # rows: (measure, n, c, nbytes, {t: (t_np, t_rs)})
    rows = []
    cells = []
    for n in sizes_n:
        for c in sizes_c:
            cells += [(measure, measure, n, c, make_probs) for measure in MEASURES]
            if c == 100:
                cells.append(("entropy (flat pool)", "entropy", n, c, make_flat_probs))
    made = None
    for label, measure, n, c, make in cells:
        if made != (n, c, make):  # cells of one pool are consecutive: make it once
            p, made = make(n, c, seed=n + c), (n, c, make)
        check_agreement(p, measure, k)
        times = {}
        for t in THREADS:
            with limit_threads(t):
                t_np, _ = median_time(
                    functools.partial(numpy_uncertainty_top_k, p, measure, k, t), repeats
                )
                t_rs, _ = median_time(
                    functools.partial(rust_uncertainty_top_k, p, measure, k, t), repeats
                )
            times[t] = (t_np, t_rs)
        rows.append((label, n, c, p.nbytes, times))
        line = f"{label:<20}{n:>9}{c:>5}"
        for t, (t_np, t_rs) in times.items():
            line += (
                f" | {t} thr: NumPy {fmt_ms(t_np)} ms, Rust {fmt_ms(t_rs)} ms, "
                f"{t_np / t_rs:.1f}x, Rust/bound {t_rs / (p.nbytes / bw[t]):.2f}x"
            )
        print(line, flush=True)

    # Shared hardware: measure the bandwidth again and keep the best, so that each bound is the
    # tightest one seen in this run.
    for t, (bw_end, _) in measure_bandwidth().items():
        if bw_end > bw[t]:
            print(
                f"read bandwidth on {t} thread(s) at the end: {bw_end / 1e9:.1f} GB/s "
                f"(kept: higher than at the start)"
            )
            bw[t] = bw_end

    print()
    print(
        f"Uncertainty scoring + top-{k}, float32, medians of {repeats} runs each side; "
        f"{ALL_CORES} cores; read bandwidth "
        + ", ".join(f"{bw[t] / 1e9:.1f} GB/s on {t} thread(s)" for t in THREADS)
        + " (bound = matrix bytes / bandwidth at the same thread count)."
    )
    print()
    head = "| measure | n | c |"
    rule = "| --- | ---: | ---: |"
    for t in THREADS:
        head += (
            f" NumPy, {t} thr (ms) | Rust, {t} thr (ms) | NumPy / Rust, {t} thr "
            f"| bound, {t} thr (ms) | Rust / bound, {t} thr |"
        )
        rule += " ---: | ---: | ---: | ---: | ---: |"
    print(head)
    print(rule)
    for measure, n, c, nbytes, times in rows:
        line = f"| {measure} | {n:.0e} | {c} |"
        for t, (t_np, t_rs) in times.items():
            bound = nbytes / bw[t]
            line += (
                f" {fmt_ms(t_np)} | {fmt_ms(t_rs)} | {t_np / t_rs:.1f}x "
                f"| {fmt_ms(bound)} | {t_rs / bound:.2f}x |"
            )
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
