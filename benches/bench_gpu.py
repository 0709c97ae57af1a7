"""The torch twins on a CUDA device against the Rust CPU kernels and the GPU's read bandwidth.

Two workloads on float32 data that is already on the device (a learner with
``device="cuda"`` moves its pool once per query; that move is timed and reported apart):

* uncertainty scoring + top-k, each measure: n = 1e7 rows, c = 100 classes (4 GB), k = 100;
* k-center greedy: n = 1e6 rows, d = 512 (2 GB), k = 1000 picks from 10 labelled rows (a
  Gaussian mixture of 64 clusters).

For each it reports medians (after a warm-up; ``torch.cuda.synchronize()`` closes every
timed run) of the twin on the GPU (``activekit._kernels`` given CUDA tensors) and of the Rust
kernel on every CPU core (the same data, copied to the host); the ratio Rust / GPU; and the
GPU's read bound, the bytes the kernel must read divided by the read bandwidth measured in the
same run (the best of a sum over the same tensor, counting its bytes, and a device-to-device
copy, counting bytes read plus written). Scoring must read the matrix once; the eager greedy
reads the pool once per pick, so its bound is k passes over the float32 pool. Before timing,
it checks that the twin selects what Rust selects.

Without a CUDA device it says so and runs a reduced smoke version on CPU tensors (the sizes of
``--quick``), so that CI runs the script. ``--quick`` alone shrinks the sizes on a GPU too.

Run ``python benches/bench_gpu.py`` (``--repeats N``, ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

from activekit import _device, _kernels

MEASURES = ("least_confident", "margin", "entropy")
FULL = {"score": (10_000_000, 100), "kcenter": (1_000_000, 512, 1000)}
QUICK = {"score": (20_000, 100), "kcenter": (5_000, 32, 20)}
LABELLED = 10


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn, device, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def on_device(fn, device):
    """``fn`` calling ``activekit._kernels`` on tensors of ``device``, through the twins: a
    CUDA tensor selects them by itself; CPU tensors need a scope (they would go to Rust)."""
    if device.type != "cpu":
        return fn

    def run():
        with _device.torch_scope(device):
            return fn()

    return run


def read_bandwidth(x, device, repeats):
    """Best bytes/s of a sum over ``x`` (bytes read) and a copy of it (bytes read + written)."""
    t_sum = median_time(lambda: x.sum(), device, repeats)
    y = torch.empty_like(x)
    t_copy = median_time(lambda: y.copy_(x), device, repeats)
    nbytes = x.numel() * x.element_size()
    return max(nbytes / t_sum, 2 * nbytes / t_copy), nbytes / t_sum, 2 * nbytes / t_copy


def make_probs(n, c, device, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    logits = torch.randn(n, c, generator=g, device=device, dtype=torch.float32) * 3
    return torch.softmax(logits, dim=1)


def make_pool(n, d, device, seed=1, clusters=64):
    g = torch.Generator(device=device).manual_seed(seed)
    centres = torch.randn(clusters, d, generator=g, device=device) * 4
    spread = torch.rand(clusters, 1, generator=g, device=device) + 0.25
    label = torch.randint(clusters, (n,), generator=g, device=device)
    noise = torch.randn(n, d, generator=g, device=device)
    return centres[label] + spread[label] * noise


def time_move(host, device, repeats):
    """Seconds to move a host array to the device (what a learner pays once per query)."""
    if device.type == "cpu":
        return float("nan")
    return median_time(lambda: torch.from_numpy(host).to(device), device, repeats)


def fmt(t):
    if t != t:  # NaN
        return "-"
    return f"{t:.2f} s" if t >= 1 else f"{t * 1e3:.1f} ms" if t >= 1e-2 else f"{t * 1e3:.2f} ms"


def bench_scoring(n, c, k, device, repeats, bw):
    probs = make_probs(n, c, device)
    host = probs.cpu().numpy()
    nbytes = host.nbytes
    t_move = time_move(host, device, repeats)
    rows = []
    for measure in MEASURES:
        twin = on_device(lambda m=measure: _kernels.uncertainty_top_k(probs, m, k), device)
        idx, scores = twin()
        r_idx, r_scores = _kernels.uncertainty_top_k(host, measure, k)
        idx = np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx)
        scores = np.asarray(scores.cpu() if isinstance(scores, torch.Tensor) else scores)
        same = np.array_equal(idx, r_idx)
        err = float(np.abs(scores.astype(np.float64) - r_scores).max())
        assert err <= 1e-5, f"{measure}: scores differ from Rust by {err:.3g}"
        if not same:  # only near-ties (a few ulps) may go either way
            differ = np.setxor1d(idx, r_idx)
            ref = _kernels.uncertainty_scores(host[differ], measure).astype(np.float64)
            off = float(np.abs(ref - float(r_scores[-1])).max()) if differ.size else 0.0
            assert off <= 1e-5, f"{measure}: the twin selects other rows than Rust"
        t_gpu = median_time(twin, device, repeats)
        t_rust = median_time(lambda m=measure: _kernels.uncertainty_top_k(host, m, k),
                             device, repeats)
        bound = nbytes / bw
        rows.append((measure, n, c, t_gpu, t_rust, bound, "identical" if same else "near-ties"))
    return rows, t_move, nbytes


def bench_kcenter(n, d, k, device, repeats, bw):
    pool = make_pool(n, d, device)
    labelled = make_pool(LABELLED, d, device, seed=2)
    host, host_lab = pool.cpu().numpy(), labelled.cpu().numpy()
    t_move = time_move(host, device, repeats)
    twin = on_device(lambda: _kernels.kcenter_greedy(pool, labelled, k), device)
    idx, _ = twin()
    idx = np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx)
    r_idx, _ = _kernels.kcenter_greedy(host, host_lab, k)
    agree = int(np.argmin(np.append(idx == r_idx, False)))
    same = "identical" if agree == k else f"first {agree} same"
    t_gpu = median_time(twin, device, repeats, warmup=0)
    t_rust = median_time(lambda: _kernels.kcenter_greedy(host, host_lab, k), device, repeats,
                         warmup=0)
    bound = k * host.nbytes / bw
    return (n, d, k, t_gpu, t_rust, bound, same), t_move


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke run)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per cell (default 5)")
    ap.add_argument("-k", type=int, default=100, help="rows to select when scoring (default 100)")
    args = ap.parse_args(argv)

    cuda = torch.cuda.is_available()
    quick = args.quick or not cuda
    if not cuda:
        print("no CUDA device: running the reduced smoke version on CPU tensors")
    device = torch.device("cuda" if cuda else "cpu")
    sizes = QUICK if quick else FULL
    repeats = args.repeats or (2 if quick else 5)
    name = torch.cuda.get_device_name(device) if cuda else platform.processor() or "CPU"
    print(f"device: {device} ({name}); host: {os.cpu_count()} cores (Rust uses all)")
    print(f"torch {torch.__version__}, numpy {np.__version__}, repeats = {repeats}")

    n, c = sizes["score"]
    probe = make_probs(n, c, device)
    bw, bw_sum, bw_copy = read_bandwidth(probe, device, repeats)
    del probe
    print(
        f"read bandwidth: {bw / 1e9:.0f} GB/s (sum {bw_sum / 1e9:.0f}, "
        f"device-to-device copy {bw_copy / 1e9:.0f}), over {n * c * 4 / 1e9:.2f} GB"
    )

    scoring, t_move, nbytes = bench_scoring(n, c, args.k, device, repeats, bw)
    print(f"\nscoring + top-{args.k}: n = {n}, c = {c}, float32 ({nbytes / 1e9:.2f} GB); "
          f"moving the matrix to the device: {fmt(t_move)}")
    where = "GPU" if cuda else "CPU tensors"
    print(f"| measure | n | c | twin ({where}) | Rust (CPU) | Rust / twin | read bound "
          "| twin / bound | selections |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for measure, n_, c_, t_gpu, t_rust, bound, same in scoring:
        print(f"| {measure} | {n_:.0e} | {c_} | {fmt(t_gpu)} | {fmt(t_rust)} "
              f"| {t_rust / t_gpu:.1f}x | {fmt(bound)} | {t_gpu / bound:.2f}x | {same} |")

    n, d, k = sizes["kcenter"]
    row, t_move = bench_kcenter(n, d, k, device, repeats, bw)
    print(f"\nk-center greedy: n = {n}, d = {d}, k = {k}, {LABELLED} labelled rows, float32 "
          f"({n * d * 4 / 1e9:.2f} GB); moving the pool to the device: {fmt(t_move)}")
    print(f"| n | d | k | twin ({where}, eager) | Rust (CPU, lazy) | Rust / twin "
          "| read bound (k passes) | twin / bound | picks |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    n_, d_, k_, t_gpu, t_rust, bound, same = row
    print(f"| {n_:.0e} | {d_} | {k_} | {fmt(t_gpu)} | {fmt(t_rust)} | {t_rust / t_gpu:.1f}x "
          f"| {fmt(bound)} | {t_gpu / bound:.2f}x | {same} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
