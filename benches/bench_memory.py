"""Peak memory of every query strategy on a large pool, against the pool's own size.

For each strategy, a fresh Python process builds a pool of ``n x d`` float32 rows (256 MB at
the default n = 1e6, d = 64), fits a learner (logistic regression) on 200 labelled rows, and
runs one ``query`` of 10 rows. The process's peak resident memory is read before and after
the query (``ru_maxrss``); the difference, divided by the pool's size, is the strategy's peak
extra memory as a multiple of the pool. The target is below 2x: memory linear in the pool,
never an ``n x n`` matrix (which at n = 1e6 would be 4 TB).

Run ``python benches/bench_memory.py`` (``--n 200000`` for a smaller pool,
``--strategies coreset,kmeans`` for a subset).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
import numpy as np
from sklearn.linear_model import LogisticRegression
from activekit import ActiveLearningClassifier

name, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
centres = rng.normal(size=(10, d)).astype(np.float32) * 3
labels = rng.integers(0, 10, size=n)
# Made in place, in chunks: no temporary as large as the pool raises the peak beforehand.
pool = np.empty((n, d), dtype=np.float32)
for s in range(0, n, 65536):
    block = pool[s : s + 65536]
    rng.standard_normal(out=block, dtype=np.float32)
    block += centres[labels[s : s + 65536]]
X_lab, y_lab = pool[:200].copy(), labels[:200]
learner = ActiveLearningClassifier(LogisticRegression(max_iter=200), query_strategy=name,
                                   random_state=0).fit(X_lab, y_lab)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
idx = learner.query(pool, n_instances=10)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
assert len(set(idx.tolist())) == 10
print(json.dumps({"before": before, "after": after, "pool": pool.nbytes, "seconds": seconds}))
"""


def main(argv=None):
    from activekit.strategies import get_strategy_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--strategies", default=",".join(get_strategy_names()))
    args = parser.parse_args(argv)
    names = [s for s in args.strategies.split(",") if s]
    print(f"pool: {args.n} x {args.d} float32 = {args.n * args.d * 4 / 2**20:.0f} MiB; "
          "peak extra = peak RSS after query - peak RSS before it (fresh process each)")
    rows = []
    for name in names:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, name, str(args.n), str(args.d)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}")
            rows.append((name, None, None, None))
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        extra = max(r["after"] - r["before"], 0) / r["pool"]
        rows.append((name, extra, r["seconds"], time.perf_counter() - start))
        print(f"{name:<20} peak extra {extra:5.2f}x pool   query {r['seconds']:7.2f} s", flush=True)
    print("\n| strategy | peak extra memory / pool | query (s) |\n| --- | ---: | ---: |")
    for name, extra, seconds, _ in rows:
        cell = "failed" if extra is None else f"{extra:.2f}x"
        secs = "-" if seconds is None else f"{seconds:.2f}"
        print(f"| {name} | {cell} | {secs} |")
    worst = max((e for _, e, _, _ in rows if e is not None), default=0)
    print(f"\nworst: {worst:.2f}x (target < 2x)")
    return 0 if all(e is not None and e < 2 for _, e, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
