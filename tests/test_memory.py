"""Memory: every strategy queries a large pool with less than twice the pool's size extra.

A pool of 100,000 x 64 float32 (25.6 MB; the ratio is what matters, and the 1e6-row figures
are benches/bench_memory.py's) goes through one 10-row query of every registered strategy.
The peak extra memory of the query is the larger of two measures: tracemalloc's peak (every
NumPy and Python allocation, exactly, but not the Rust kernels' own buffers) and the growth
of the process's peak resident set (everything, Rust included; on Linux, where the peak can
be reset through /proc/self/clear_refs). Each strategy first answers a small query, so that
one-time costs (imports, thread pools) are not counted. Marked slow; CI runs it (~10 s).
"""

import gc
import re
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from activekit.strategies import get_strategy_names
from support.strategy_setup import make_learner, targets

N, D = 100_000, 64
LIMIT = 2.0
STATUS = Path("/proc/self/status")


def _status(key):
    return int(re.search(rf"{key}:\s+(\d+) kB", STATUS.read_text()).group(1)) * 1024


def _can_reset_peak_rss():
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status("VmHWM") > 0
    except (OSError, AttributeError):
        return False


RSS = sys.platform.startswith("linux") and _can_reset_peak_rss()


pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def pool():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, D)).astype(np.float32) * 3
    labels = rng.integers(0, 10, size=N)
    X = rng.standard_normal((N, D), dtype=np.float32)
    X += centres[labels]
    return X, labels


def peak_extra_memory(call):
    """Bytes above the starting point at the peak of ``call()``: the larger of tracemalloc's
    peak and the growth of the peak resident set."""
    gc.collect()
    if RSS:
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
        rss_before = _status("VmRSS")
    tracemalloc.start()
    try:
        call()
        traced = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    rss = _status("VmHWM") - rss_before if RSS else 0
    return max(traced, rss)


@pytest.mark.slow
@pytest.mark.parametrize("name", get_strategy_names())
def test_query_memory_stays_under_twice_the_pool(pool, name):
    X, labels = pool
    learner = make_learner(name).fit(X[:200], targets(name, labels[:200]))
    learner.query(X[:2000], n_instances=10)  # imports, thread pools: not the pool's cost
    extra = peak_extra_memory(lambda: learner.query(X, n_instances=10))
    assert extra < LIMIT * X.nbytes, f"{name}: {extra / X.nbytes:.2f}x the pool"


def test_the_measure_sees_numpy_and_rust_allocations():
    # A check of the instrument: a 40 MB NumPy temporary, and a kernel's float64 output of
    # 8 bytes a row, allocated by Rust, both show. (40 MB: above glibc's largest threshold for
    # mapping fresh pages, so the output cannot hide in memory freed earlier.)
    from activekit import _kernels

    assert peak_extra_memory(lambda: np.ones(5_000_000).sum()) >= 40e6
    if RSS:
        probs = np.full((5_000_000, 2), 0.5)
        extra = peak_extra_memory(lambda: _kernels.uncertainty_scores(probs, "margin"))
        assert extra >= 0.9 * 8 * len(probs)
