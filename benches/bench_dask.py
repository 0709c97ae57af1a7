"""The same query in memory and on a Dask LocalCluster: time, peak memory per process, picks.

The pool is ``n x d`` float32 rows made block by block by one seeded function of the block's
first row (``_block``): the in-memory pool is those blocks written into one NumPy array, the
Dask pool the same blocks as a lazy ``map_blocks`` graph, so both hold the same rows. A
logistic regression is fitted on 2,000 labelled rows (labels from a fixed linear rule with
logistic noise), and ``learner.query(pool, n_instances=k)`` runs with ``margin`` (row-wise on
Dask: per-chunk top-k merged in a tree) and ``coreset`` (two-stage: per-chunk candidates,
then the greedy on their union).

Each configuration runs in a fresh Python process:

* **in memory**: the pool as one NumPy array, at 1 thread and at every core (the learner's
  ``n_jobs`` for the Rust kernels, BLAS held to the same count with threadpoolctl).
* **LocalCluster**: ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` with
  the learner at ``n_jobs=1`` (the nanny already sets ``OMP/MKL/OPENBLAS_NUM_THREADS=1`` in
  each worker), so the cluster has as many cores as the in-memory run at every core. The pool
  is either **lazy** (its blocks are generated inside the query: the timing includes making
  the data) or **persisted** in the workers' memory before the timing (the counterpart of the
  in-memory pool, which is built before its timing).

Times are medians of ``--repeats`` queries after one warm-up query on a small pool (the first
chunks, so imports, the kernels' thread pools and the workers' first deserialisation are not
counted); a cell that says ``1 run`` was timed once. What a LocalCluster time counts: the whole
``learner.query`` call on the client (building the graph, shipping the learner, scoring in the
workers, merging the candidates, the second stage on the client for two-stage strategies).
Every cluster query carries a distinct tag on the learner: Dask names tasks by their inputs,
so a query identical to one whose results the scheduler still holds would be answered from
them (seen here as 5 ms queries of a one-chunk pool), which is not the cost of a query.

Peak memory is each process's ``VmHWM`` (peak resident set) from ``/proc/<pid>/status``, reset
to the current resident set (``echo 5 > /proc/self/clear_refs``) right before the timed
queries, so it is the peak *during the queries*, absolute (imports, the in-memory pool, the
LocalCluster's scheduler, which runs inside the client process, all included). The client's
resident set just before the queries is printed beside it. Workers are asked with
``client.run``.

Last, a pool of ``--big-rows`` (2e7) x 32 float32 (2.4 GiB), generated lazily, is queried on
the cluster with margin; the client's peak must stay under ``--limit-mb`` (500 MB), or the
benchmark exits with status 1.

Run ``python benches/bench_dask.py`` (3 to 6 minutes on 2 cores) or ``--quick`` (1e5 and 1e6
rows, coreset at 1e5 only, a 2e6-row lazy pool: about a minute) to check that it works.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _threads import ALL_CORES, THREADS, limit_threads

SEED = 0
N_LABELLED = 2_000


# -- memory of a process ------------------------------------------------------------------------


def _status():
    """``{"rss": bytes, "hwm": bytes}`` of this process from ``/proc/self/status``."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line[2:5].lower()] = int(line.split()[1]) * 1024
    return out


def _reset_peak():
    """Reset this process's ``VmHWM`` to its current resident set; returns the status after."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status()


def _threads_here():
    """BLAS/OpenMP pools of this process as ``{library: threads}``."""
    from threadpoolctl import threadpool_info

    return {f"{i['internal_api']}": i["num_threads"] for i in threadpool_info()}


# -- the data -----------------------------------------------------------------------------------


def _block(start, rows, d):
    """Rows ``start .. start + rows`` of the pool: standard normal float32, seeded by ``start``,
    so a block is the same wherever and however often it is made."""
    rng = np.random.default_rng([SEED, start])
    return rng.standard_normal((rows, d), dtype=np.float32)


def _block_at(block_info=None, d=None):
    (start, stop), _ = block_info[None]["array-location"]
    return _block(start, stop - start, d)


def _row_chunks(n, chunk_rows):
    full, rest = divmod(n, chunk_rows)
    return (chunk_rows,) * full + ((rest,) if rest else ())


def dask_pool(n, d, chunk_rows):
    import dask.array as da

    return da.map_blocks(
        _block_at, d=d, chunks=(_row_chunks(n, chunk_rows), (d,)), dtype=np.float32
    )


def numpy_pool(n, d, chunk_rows):
    pool = np.empty((n, d), dtype=np.float32)  # filled in place: no temporary as large
    start = 0
    for rows in _row_chunks(n, chunk_rows):
        pool[start : start + rows] = _block(start, rows, d)
        start += rows
    return pool


def fitted_learner(d, strategy, n_jobs):
    from sklearn.linear_model import LogisticRegression

    from activekit import ActiveLearningClassifier

    rng = np.random.default_rng([SEED, 1])
    X = rng.standard_normal((N_LABELLED, d), dtype=np.float32)
    w = np.linspace(-1.0, 1.0, d)
    y = (X @ w + rng.logistic(size=N_LABELLED) > 0).astype(int)
    learner = ActiveLearningClassifier(
        LogisticRegression(max_iter=1000),
        query_strategy=strategy,
        random_state=SEED,
        n_jobs=n_jobs,
    )
    return learner.fit(X, y)


# -- the children: one configuration each -------------------------------------------------------


def _timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def _import_all():
    """Everything a query uses, imported before ``after_imports`` is read."""
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    import activekit
    import activekit._dask  # noqa: F401


def child_memory(cfg):
    """In memory: one NumPy pool, each strategy at ``threads`` threads."""
    n, d, k, t = cfg["n"], cfg["d"], cfg["k"], cfg["threads"]
    _import_all()
    out = {"after_imports": _status()["rss"]}
    with limit_threads(t):
        pool = numpy_pool(n, d, cfg["chunk_rows"])
        out["threads"] = {"blas": _threads_here(), "rayon (n_jobs)": t}
        results = {}
        for strategy in cfg["strategies"]:
            learner = fitted_learner(d, strategy, t)
            learner.query(pool[: min(n, 2 * cfg["chunk_rows"])], n_instances=k)  # warm-up
            before = _reset_peak()
            repeats = cfg["repeats"][strategy]
            times, picks = _timed(lambda L=learner: L.query(pool, n_instances=k), repeats)
            results[strategy] = {
                "times": times,
                "rss_before": before["rss"],
                "client_peak": _status()["hwm"],
                "picks": np.asarray(picks).tolist(),
            }
    out["results"] = results
    print(json.dumps(out))


def child_cluster(cfg):
    """On a LocalCluster: each strategy over the lazy pool, then (``persist``) over the pool
    held in the workers' memory."""
    from distributed import Client, LocalCluster, wait

    n, d, k = cfg["n"], cfg["d"], cfg["k"]
    _import_all()
    out = {"after_imports": _status()["rss"]}
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        out["after_cluster"] = _status()["rss"]
        out["threads"] = {
            "client blas": _threads_here(),
            "workers blas": list(client.run(_threads_here).values()),
            "workers threads": cfg_threads(client),
            "rayon (n_jobs)": 1,
        }
        lazy = dask_pool(n, d, cfg["chunk_rows"])
        pools = [("lazy", lazy)]
        if cfg["persist"]:
            pools.append(("persisted", None))
        results = {}
        for kind, pool in pools:
            if kind == "persisted":
                pool = lazy.persist()
                wait(pool)
            for strategy in cfg["strategies"]:
                learner = fitted_learner(d, strategy, 1)
                runs = iter(range(10**6))

                def query(p, learner=learner, runs=runs):
                    # Dask names tasks by their inputs (the learner is tokenized by value): a
                    # query identical to one whose results the scheduler still holds could be
                    # answered from them. A distinct tag on the learner makes every query new.
                    learner._bench_query = next(runs)
                    return learner.query(p, n_instances=k)

                query(pool[: min(n, 2 * cfg["chunk_rows"])])  # warm-up
                before = _reset_peak()
                client.run(_reset_peak)
                repeats = cfg["repeats"][strategy]
                times, picks = _timed(lambda p=pool, q=query: q(p), repeats)
                results[f"{strategy}/{kind}"] = {
                    "times": times,
                    "rss_before": before["rss"],
                    "client_peak": _status()["hwm"],
                    "worker_peaks": sorted(s["hwm"] for s in client.run(_status).values()),
                    "picks": np.asarray(picks).tolist(),
                }
            del pool
    out["results"] = results
    print(json.dumps(out))


def cfg_threads(client):
    return sorted(w["nthreads"] for w in client.scheduler_info(n_workers=-1)["workers"].values())


def run_child(mode, cfg):
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", mode, json.dumps(cfg)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"{mode} {cfg['n']}: failed\n{done.stderr[-3000:]}", flush=True)
        return None
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall"] = time.perf_counter() - t0
    return out


# -- the parent ---------------------------------------------------------------------------------


def _mb(b):
    return f"{b / 1e6:,.0f} MB"


def _time_cell(times):
    med = statistics.median(times)
    cell = f"{med:.2f} s" if med >= 0.1 else f"{med * 1e3:.0f} ms"
    return cell + (" (1 run)" if len(times) == 1 else f" (median of {len(times)})")


def _agreement(picks, reference):
    if reference is None:
        return "-"
    same = len(set(picks) & set(reference))
    if picks == reference:
        return f"same {len(picks)} picks, same order"
    return f"{same}/{len(reference)} picks shared"


def _rows_label(n):
    return f"{n:.0e}".replace("e+0", "e")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e5 and 1e6 rows, 2e6 big pool")
    parser.add_argument("--sizes", default=None, help="comma-separated pool rows")
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--coreset-max-rows", type=int, default=None, help="coreset up to this n (1e7; 1e5 quick)"
    )
    parser.add_argument("--big-rows", type=int, default=None, help="the lazy pool (2e7)")
    parser.add_argument("--limit-mb", type=float, default=500.0)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, cfg = args.child[0], json.loads(args.child[1])
        return {"memory": child_memory, "cluster": child_cluster}[mode](cfg)

    if args.quick:
        sizes = [100_000, 1_000_000]
        chunk_rows = min(args.chunk_rows, 100_000)
        big = args.big_rows or 2_000_000
        coreset_max = args.coreset_max_rows or 100_000
    else:
        sizes = [1_000_000, 10_000_000]
        chunk_rows = args.chunk_rows
        big = args.big_rows or 20_000_000
        coreset_max = args.coreset_max_rows or 10_000_000
    if args.sizes:
        sizes = [int(float(s)) for s in args.sizes.split(",")]
    d, k = args.d, args.k
    print(
        f"d = {d} float32, k = {k}, chunks of {chunk_rows:,} rows; {ALL_CORES} cores; "
        f"LocalCluster(n_workers=2, threads_per_worker=1, processes=True)",
        flush=True,
    )

    table = []  # (rows, strategy, where, time, client peak, client before, worker peak, agree)
    threads_seen = {}
    for n in sizes:
        strategies = ["margin"] + (["coreset"] if n <= coreset_max else [])
        # 1 run where a query takes long: coreset beyond 1e6 rows.
        repeats = {s: (1 if s == "coreset" and n > 1_000_000 else args.repeats) for s in strategies}
        base = {"n": n, "d": d, "k": k, "chunk_rows": chunk_rows, "repeats": repeats}
        reference = {}
        for t in reversed(THREADS):  # every core first: the reference for the cluster's picks
            # coreset beyond 1e6 rows takes minutes a run: at every core only
            here = [s for s in strategies if s == "margin" or n <= 1_000_000 or t == ALL_CORES]
            r = run_child("memory", {**base, "strategies": here, "threads": t})
            if r is None:
                continue
            threads_seen[f"in memory, {t} thread(s)"] = r["threads"]
            for s, res in r["results"].items():
                if s in reference:
                    agree = _agreement(res["picks"], reference[s])
                else:  # the first in-memory run is the reference of the others
                    reference[s] = res["picks"]
                    agree = "reference"
                row = (
                    n,
                    s,
                    f"in memory, {t} thread{'s' if t > 1 else ''}",
                    _time_cell(res["times"]),
                    _mb(res["client_peak"]),
                    _mb(res["rss_before"]),
                    "-",
                    agree,
                )
                table.append(row)
                print(" | ".join(map(str, row)), flush=True)
        r = run_child("cluster", {**base, "strategies": strategies, "persist": True})
        if r is not None:
            threads_seen["LocalCluster"] = r["threads"]
            for key, res in r["results"].items():
                s, kind = key.split("/")
                agree = _agreement(res["picks"], reference.get(s))
                if s != "margin":
                    agree += " (two-stage)"
                row = (
                    n,
                    s,
                    f"LocalCluster 2x1, {kind}",
                    _time_cell(res["times"]),
                    _mb(res["client_peak"]),
                    _mb(res["rss_before"]),
                    " / ".join(_mb(w) for w in res["worker_peaks"]),
                    agree,
                )
                table.append(row)
                print(" | ".join(map(str, row)), flush=True)

    # The big lazy pool: the client's memory against the limit.
    print(f"\nbig pool: {big:,} x {d} float32 = {big * d * 4 / 2**30:.2f} GiB, lazy", flush=True)
    r = run_child(
        "cluster",
        {
            "n": big,
            "d": d,
            "k": k,
            "chunk_rows": chunk_rows,
            "repeats": {"margin": 1},
            "strategies": ["margin"],
            "persist": False,
        },
    )
    status = 0
    if r is None:
        status = 1
    else:
        res = r["results"]["margin/lazy"]
        row = (
            big,
            "margin",
            "LocalCluster 2x1, lazy",
            _time_cell(res["times"]),
            _mb(res["client_peak"]),
            _mb(res["rss_before"]),
            " / ".join(_mb(w) for w in res["worker_peaks"]),
            "-",
        )
        table.append(row)
        peak = res["client_peak"]
        ok = peak < args.limit_mb * 1e6
        print(
            f"client peak RSS during the query {_mb(peak)} (absolute; "
            + f"{_mb(peak - res['rss_before'])} above the {_mb(res['rss_before'])} "
            + f"resident before it; {_mb(r['after_imports'])} after imports, "
            + f"{_mb(r['after_cluster'])} with the LocalCluster started) against the "
            + f"{args.limit_mb:.0f} MB limit: {'OK' if ok else 'EXCEEDED'}",
            flush=True,
        )
        status = 0 if ok else 1

    print(
        "\n| rows | strategy | where | time | client peak RSS | client RSS before |"
        " worker peak RSS | picks vs in memory |"
    )
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | --- |")
    for n, s, where, tm, peak, before, workers, agree in table:
        print(
            f"| {_rows_label(n)} | {s} | {where} | {tm} | {peak} | {before} | {workers} | {agree} |"
        )
    print("\nthreads per process:")
    for where, th in threads_seen.items():
        print(f"  {where}: {json.dumps(th)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
