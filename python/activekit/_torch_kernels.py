"""Torch twins of the Rust kernels, for tensors on a CUDA device (and CPU tensors in the tests).

Imported lazily by :mod:`activekit._backends`, never by ``import activekit``. Each function
takes what the ``activekit._native`` function of the same name takes, less the thread count:
tensors that :mod:`activekit._kernels` has already shaped and typed (C-contiguous float32 or
float64, int64 votes, all on one device), and arguments it has already checked (names, ``k``,
``first``, ``tol``, shapes: :mod:`activekit._kernel_checks`), and returns tensors on that
device. What depends on the data it checks as the Rust kernel does, raising ``ValueError`` with
the same message (probability rows, NaN scores, non-finite or overflowing rows, zero rows for
the cosine metric, votes out of range), and it selects by the same rules: equal scores lowest
index first, k-center and nearest-centre ties lowest index first, kNN candidates chosen from the
``|r|^2 - 2 q.r`` matrix product (ties lowest index) and returned with their distances
recomputed from the rows, the SplitMix64 stream and draw rule of ``rust/core/src/kmeanspp.rs``.

Exactness. The twins perform the same operations as the kernels but torch sums in its own order
(and on a GPU, in another again), so a value can differ from Rust's in its last bits:

* exact (bit for bit): least-confident and margin scores, the committee's mean distribution,
  vote entropy and variation ratio, the multi-label scores (each label's term is Rust's, and
  the labels are added in Rust's order), top-k; every selection made on such values;
* within a few ulps: entropies (each ``p ln p`` is Rust's bit for bit, from Rust's own
  logarithm, but torch adds the terms in another order; two-class rows agree exactly), row
  sums, squared distances (Rust sums in NumPy's pairwise order), the kNN matrix product
  (another BLAS), unit rows (another norm);
* k-center keeps Euclidean distances (``sqrt`` of the float64 sum, from ``torch.cdist``'s direct
  mode, which reads each row once) instead of their squares: picks are monotone in either, but
  two squared sums one ulp apart can share a square root and then tie;
* the kNN candidates come from a float32 product for float32 rows, as in Rust; with TF32
  matrix products enabled (``torch.backends.cuda.matmul.allow_tf32``) it is coarser, so more
  near-ties can go either way; the returned distances are recomputed from the rows either way.

So selections agree exactly wherever the deciding values are computed exactly — data on a dyadic
grid (small integers, multiples of 1/8), where every sum and product is exact in any order —
and otherwise except for near-ties within those last bits. k-means++ draws agree unless
``u * total`` falls within the rounding of a running sum of its boundary: on CPU tensors the
cumulative sum is sequential, like Rust's, and exact on a grid; a CUDA scan adds in another order
(relative error about ``n * 2**-53``), so a draw can land on the neighbouring row with about that
probability, and it is still a D^2 draw. Square roots are correctly rounded on every device
(torch's CPU ``sqrt`` is not, so CPU tensors take NumPy's).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _kernel_checks as checks

# Elements of a float64 temporary: 128 MiB.
_CHUNK = 1 << 24
# A float32 pool is copied to float64 once for the k-center greedy up to this many bytes.
_F64_COPY_MAX = 8 << 30
_DIRECT = "donot_use_mm_for_euclid_dist"


def _show(x, dtype=torch.float64):
    """A float as Rust's ``Display`` writes it: shortest round-trip digits, no exponent."""
    if isinstance(x, torch.Tensor):
        x = x.item()  # NumPy cannot read a CUDA tensor
    v = np.float32(x) if dtype == torch.float32 else np.float64(x)
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return np.format_float_positional(v, unique=True, trim="-")


def _first(mask):
    """Index of the first True of a 1-D bool tensor, or None (one device sync)."""
    if mask.numel() == 0 or not bool(mask.any()):
        return None
    return int(mask.to(torch.int32).argmax())


def _spans(n, width, budget=_CHUNK):
    """Row ranges of at most ``budget`` elements of ``width`` each."""
    step = max(1, budget // max(width, 1))
    return [(a, min(a + step, n)) for a in range(0, n, step)]


def _sqrt(x):
    """The correctly rounded square root, as Rust's and NumPy's. torch's CPU ``sqrt`` is not
    (it misses by an ulp on about 1% of float64 values); its CUDA one is IEEE's."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.sqrt(x.numpy()))
    return torch.sqrt(x)


def _check_finite(x, what):
    row = _first(~torch.isfinite(x).all(1)) if x.shape[1] else None
    if row is not None:
        raise checks.row_not_finite(what, row)


# --------------------------------------------------------------------------------------------
# Top-k


def _top_k(scores, k):
    """The ``k`` highest scores (no NaN), highest first, equal scores lowest index first."""
    kth = torch.topk(scores, k, sorted=False).values.amin()
    above = scores > kth
    tied = scores == kth
    # All rows above the k-th value, then the lowest-indexed rows equal to it.
    take = above | (tied & (tied.cumsum(0) <= k - above.sum()))
    idx = take.nonzero().squeeze(1)
    vals = scores[idx]
    order = torch.sort(vals, descending=True, stable=True).indices
    return idx[order], vals[order]


def top_k(scores, k):
    """Indices (int64) and values of the ``k`` highest scores."""
    nan = _first(torch.isnan(scores))
    if nan is not None:
        raise ValueError(f"score at index {nan} is NaN and cannot be ranked")
    return _top_k(scores, k)


# --------------------------------------------------------------------------------------------
# Uncertainty and committee disagreement over probabilities


# The logarithms of rust/core/src/ln.rs, operation for operation. f32: x = 2^n (1 + r) with
# 1 + r in [2/3, 4/3) from the bits, then a polynomial by fused multiply-adds (_fma32); f64:
# x = 2^k m with m in [sqrt(1/2), sqrt(2)), then fdlibm's polynomial. Each torch operation
# below rounds once, as each Rust one does (every product and sum is its own kernel, and
# _fma32 rounds once), so a normal positive value gets Rust's bits on any device; only the sums
# over classes are added in another order. Constants are exact in the tensor's dtype.
_OFF_F32 = 0x3F2AAAAB
_LN2_F32 = float(np.float32(math.log(2)))
_C_F32 = tuple(
    float.fromhex(h)
    for h in (
        "-0x1.ffffc8p-2",
        "0x1.555d7cp-2",
        "-0x1.00187cp-2",
        "0x1.961348p-3",
        "-0x1.4f9934p-3",
        "0x1.5a9aa2p-3",
        "-0x1.3e737cp-3",
    )
)
_SQRT_HALF_BITS_F64 = 0x3FE6A09E667F3BCD
_SQRT_HALF_MANT_F64 = _SQRT_HALF_BITS_F64 - (1022 << 52)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG = (
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
)


def _fma32(a, b, c):
    """``a * b + c`` rounded once to float32, as Rust's ``f32::mul_add`` (an FMA instruction).

    torch has no fused multiply-add it promises on every device, so this is exact arithmetic in
    float64. ``a * b`` of two float32 values is exact in float64 (48 bits of 53), and ``s``, the
    sum with ``c`` rounded to float64, rounds to the float32 the exact value rounds to unless
    ``s`` is itself halfway between two float32 values (no such midpoint can lie strictly
    between the exact value and ``s``: it would be a nearer float64). Midpoints have at least
    28 trailing zero bits in float64, so only those values (rare, and a superset) take the
    exact path: rounding to odd (the TwoSum error of ``s``; if it is not zero and ``s`` is even,
    ``s`` moves one step toward the exact value), and a value rounded to odd in 53 bits rounds
    to 24 bits as the exact value would (53 >= 24 + 2; Boldo and Melquiond, "Emulation of FMA
    and correctly rounded sums: proved algorithms using rounding to odd", IEEE Trans.
    Computers, 2008). Finite inputs whose exact result is at most the largest float32.
    """
    a, b, c = (torch.as_tensor(v, dtype=torch.float64) for v in (a, b, c))
    p = a * b
    s = p + c
    out = s.to(torch.float32)
    maybe_midpoint = (s.view(torch.int64) & ((1 << 28) - 1)) == 0
    if bool(maybe_midpoint.any()):
        at = maybe_midpoint.nonzero(as_tuple=True)
        p, c, s = p.expand(s.shape)[at], c.expand(s.shape)[at], s[at]
        # TwoSum: the exact error of s = p + c.
        bv = s - p
        e = (p - (s - bv)) + (c - bv)
        even = (s.view(torch.int64) & 1) == 0
        toward = torch.where(e > 0, math.inf, -math.inf).to(s.dtype)
        odd = torch.where((e != 0) & even, torch.nextafter(s, toward), s)
        out[at] = odd.to(torch.float32)
    return out


def _ln_normal(x):
    """``ln x`` for positive normal ``x``, bit for bit as Rust's ``ln_normal_f32``/``_f64``
    (other values give unspecified results, which callers mask out)."""
    if x.dtype == torch.float32:
        u = x.view(torch.int32) - _OFF_F32
        n = (u >> 23).to(torch.float32)  # an arithmetic shift, as Rust's on an i32
        r = ((u & 0x007FFFFF) + _OFF_F32).view(torch.float32) - 1.0
        r2 = r * r
        c1, c2, c3, c4, c5, c6, c7 = _C_F32
        p = _fma32(c6, r, c5)
        q = _fma32(c4, r, c3)
        y = _fma32(c2, r, c1)
        p = _fma32(c7, r2, p)
        q = _fma32(p, r2, q)
        y = _fma32(q, r2, y)
        head = _fma32(_LN2_F32, n, r)
        return _fma32(y, r2, head)
    j = x.view(torch.int64) - _SQRT_HALF_MANT_F64
    k = (j >> 52).to(torch.float64) - 1022.0  # exact, as Rust's 2^52 trick
    m = ((j & 0x000FFFFFFFFFFFFF) + _SQRT_HALF_BITS_F64).view(torch.float64)
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    lg1, lg2, lg3, lg4, lg5, lg6, lg7 = _LG
    t1 = w * (lg2 + w * (lg4 + w * lg6))
    t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)))
    r = t2 + t1
    return s * (hfsq + r) + k * _LN2_LO - hfsq + f + k * _LN2_HI


def _xlogx(p):
    """``p ln p`` for normal ``p``, 0 for zero and subnormal ``p`` (as ``Real::xlogx``)."""
    return torch.where(p >= torch.finfo(p.dtype).tiny, p * _ln_normal(p), 0.0)


def _at_least_0(x):
    """``x.max(0)`` as Rust computes it: +0.0 for -0.0 and for NaN."""
    return torch.where(x > 0, x, 0.0)


def _entropy(p, dim):
    return _at_least_0(-_xlogx(p).sum(dim))


def _bad_rows(s, mn, tol):
    return ~torch.isfinite(s) | (mn < 0) | ((s - 1).abs() > tol)


def _reason(row, tol):
    """What is wrong with a probability row, in Rust's order and words."""
    s, mn = row.sum(), row.amin()
    if not bool(torch.isfinite(s)):
        return "contains NaN or infinite values"
    if bool(mn < 0):
        return f"has a negative probability ({_show(mn, row.dtype)})"
    return f"sums to {_show(s, row.dtype)}, not 1 (tolerance {_show(tol, row.dtype)})"


def uncertainty_scores(p, measure, tol):
    n, c = p.shape
    scores = torch.empty(n, dtype=p.dtype, device=p.device)
    bad = torch.empty(n, dtype=torch.bool, device=p.device)
    for a, b in _spans(n, c):
        blk = p[a:b]
        if measure == "least_confident":
            mn, mx = torch.aminmax(blk, dim=1)
            scores[a:b] = 1 - mx
        else:
            mn = blk.amin(1)
            if measure == "margin":
                top = blk.topk(2, dim=1).values
                scores[a:b] = 1 - (top[:, 0] - top[:, 1])
            else:
                scores[a:b] = _entropy(blk, 1)
        bad[a:b] = _bad_rows(blk.sum(1), mn, tol)
    row = _first(bad)
    if row is not None:
        raise ValueError(f"probability row {row} {_reason(p[row], tol)}")
    return scores


def uncertainty_top_k(probs, measure, k, tol):
    return _top_k(uncertainty_scores(probs, measure, tol), k)


def _sum_in_order(t):
    """``t[0] + t[1] + ...`` added one after the other, as Rust adds members (or classes)."""
    total = t[0].clone()
    for i in range(1, t.shape[0]):
        total += t[i]
    return total


def committee_scores(p, measure, tol):
    m, n, c = p.shape
    scores = torch.empty(n, dtype=p.dtype, device=p.device)
    bad = torch.empty(n, dtype=torch.bool, device=p.device)
    for a, b in _spans(n, m * c):
        blk = p[:, a:b]
        bad[a:b] = _bad_rows(blk.sum(2), blk.amin(2), tol).any(0)
        # The mean as Rust forms it: members added in order, then divided by m.
        mean = _sum_in_order(blk) / m
        if measure == "mean_std":
            # As Rust: squared deviations summed over members in order, then each class's
            # sqrt(sum / m) added in class order, divided by c.
            std = _sqrt(_sum_in_order((blk - mean).square()) / m)
            scores[a:b] = _sum_in_order(std.t()) / c
            continue
        consensus = _entropy(mean, 1)
        if measure == "consensus_entropy":
            scores[a:b] = consensus
            continue
        members = _sum_in_order(_entropy(blk, 2))
        scores[a:b] = _at_least_0(consensus - members / m)
    row = _first(bad)
    if row is not None:
        rows = p[:, row]
        member = _first(_bad_rows(rows.sum(1), rows.amin(1), tol))
        member = 0 if member is None else member
        raise ValueError(
            f"probability row {row} of committee member {member} {_reason(rows[member], tol)}"
        )
    return scores


def committee_top_k(probs, measure, k, tol):
    return _top_k(committee_scores(probs, measure, tol), k)


# --------------------------------------------------------------------------------------------
# Multi-label uncertainty over per-label probabilities


def _label_terms(p, measure):
    """The per-label terms of ``rust/core/src/multilabel.rs``, with its bits."""
    if measure in ("mean_entropy", "max_entropy"):
        # Rust's 0 - (a + b): +0.0 where both terms are 0.
        return _at_least_0(-(_xlogx(p) + _xlogx(1.0 - p)))
    if measure == "binary_minimization":
        return -(p - 0.5).abs()
    return torch.minimum(p, 1.0 - p)


def multilabel_scores(p, measure):
    n, n_labels = p.shape
    scores = torch.empty(n, dtype=p.dtype, device=p.device)
    for a, b in _spans(n, n_labels):
        blk = p[a:b]
        bad = ~((blk >= 0) & (blk <= 1))
        row = _first(bad.any(1))
        if row is not None:
            col = _first(bad[row])
            raise ValueError(
                f"probability row {a + row} has {_show(blk[row, col], p.dtype)} in column "
                f"{col}, not a probability in [0, 1]"
            )
        terms = _label_terms(blk, measure)
        if measure in ("mean_entropy", "mean_max_loss"):
            # Labels added in order, then divided (a tensor divisor: no reciprocal on CUDA).
            total = _sum_in_order(terms.t())
            scores[a:b] = total / torch.full_like(total, n_labels)
        else:
            scores[a:b] = terms.amax(1)
    return scores


def multilabel_top_k(probs, measure, k):
    return _top_k(multilabel_scores(probs, measure), k)


# --------------------------------------------------------------------------------------------
# Committee disagreement over votes


def vote_scores(v, n_classes, measure):
    m, n = v.shape
    bad = (v < 0) | (v >= n_classes)
    row = _first(bad.any(0))
    if row is not None:
        member = _first(bad[:, row])
        raise ValueError(
            f"vote of committee member {member} at row {row} is {int(v[member, row])}, "
            f"not a class index in 0..{n_classes}"
        )
    # Each row's votes sorted, read as runs of equal votes (memory O(m) per row, as in Rust).
    s = v.t().sort(dim=1).values
    pos = torch.arange(m, device=v.device)
    start = torch.ones_like(s, dtype=torch.bool)
    start[:, 1:] = s[:, 1:] != s[:, :-1]
    end = torch.ones_like(start)
    end[:, :-1] = start[:, 1:]
    first = torch.where(start, pos, 0).cummax(1).values
    runs = torch.where(end, pos - first + 1, 0)
    if measure == "variation_ratio":
        return (m - runs.amax(1)).to(torch.float64) / m
    # sizes[:, r]: classes with exactly r votes. The entropy sums sizes * (r/m) ln(r/m) over r
    # in increasing order, exactly as the kernel does, so its bits are Rust's.
    sizes = torch.zeros(n, m + 1, dtype=torch.int64, device=v.device)
    sizes.scatter_add_(1, runs, end.to(torch.int64))
    total = torch.zeros(n, dtype=torch.float64, device=v.device)
    terms = _xlogx(torch.arange(m + 1, dtype=torch.float64) / m).tolist()  # Rust's table
    for r in range(1, m + 1):
        total += sizes[:, r].to(torch.float64) * terms[r]
    return _at_least_0(-total)


def vote_top_k(votes, n_classes, measure, k):
    return _top_k(vote_scores(votes, n_classes, measure), k)


# --------------------------------------------------------------------------------------------
# Distances: k-center greedy, nearest centre, k-means++


def unit_rows(a, name):
    """Rows scaled to unit length (norms in float64), in ``a``'s dtype: the torch backend's
    ``unit_rows``, with the Rust backend's checks (non-finite rows first, then zero rows) and
    its scaling by each row's largest absolute value, so that rows whose squared norm would
    overflow or underflow keep their direction."""
    if a.shape[0] == 0:
        return a
    _check_finite(a, name)
    scale = a.abs().amax(1) if a.shape[1] else a.new_zeros(a.shape[0])
    zero = _first(scale == 0)
    if zero is not None:
        raise checks.row_zero_length(name, zero)
    out = torch.empty_like(a)
    for lo, hi in _spans(a.shape[0], a.shape[1]):
        # The Rust backend's operations: divide in a's dtype, norm in float64, divide again.
        blk = a[lo:hi] / scale[lo:hi, None]
        b64 = blk.to(torch.float64)
        out[lo:hi] = blk / _sqrt(b64.mul(b64).sum(1)).to(a.dtype)[:, None]
    return out


def _dist(a64, b64):
    """Exact-mode Euclidean distances (float64) between the rows of two float64 matrices."""
    return torch.cdist(a64, b64, compute_mode=_DIRECT)


def _nearest(x, c):
    """Distance (float64) of every row of ``x`` to its nearest row of ``c``, and that row's
    index (the lowest among equally near rows)."""
    n, d = x.shape
    m = c.shape[0]
    c64 = c.to(torch.float64)
    best = torch.full((n,), math.inf, dtype=torch.float64, device=x.device)
    arg = torch.zeros(n, dtype=torch.int64, device=x.device)
    cols = min(m, 4096)
    step = max(1, min(_CHUNK // max(d, 1), (_CHUNK // 4) // cols))
    for a in range(0, n, step):
        b = min(a + step, n)
        xq = x[a:b].to(torch.float64)
        for c0 in range(0, m, cols):
            dist = _dist(xq, c64[c0 : c0 + cols])
            j = dist.argmin(1)
            v = dist.gather(1, j[:, None])[:, 0]
            closer = v < best[a:b]  # strictly: earlier centres win ties
            best[a:b] = torch.where(closer, v, best[a:b])
            arg[a:b] = torch.where(closer, j + c0, arg[a:b])
    return best, arg


def min_distances(X, C):
    """Distance (float64) from each row of ``X`` to its nearest row of ``C``, and its index."""
    _check_finite(X, "X")
    _check_finite(C, "C")
    return _nearest(X, C)


def kcenter_greedy(X_pool, X_centers, k, first):
    """The eager farthest-first greedy: one float64 distance vector, updated after each pick
    with one pass over the pool; argmax takes the lowest index among ties."""
    n, d = X_pool.shape
    m = X_centers.shape[0]
    _check_finite(X_pool, "X_pool")
    _check_finite(X_centers, "X_centers")
    dev = X_pool.device
    pool64 = X_pool.to(torch.float64) if n * d * 8 <= _F64_COPY_MAX else None

    def distance_to(i):
        # Distances of every pool row to pool row i (a 1-element index tensor).
        if pool64 is not None:
            return _dist(pool64, pool64.index_select(0, i))[:, 0]
        c64 = X_pool.index_select(0, i).to(torch.float64)
        parts = [_dist(X_pool[a:b].to(torch.float64), c64)[:, 0] for a, b in _spans(n, d)]
        return torch.cat(parts)

    idx = torch.empty(k, dtype=torch.int64, device=dev)
    dist = torch.empty(k, dtype=torch.float64, device=dev)
    if m:
        bound, _ = _nearest(X_pool, X_centers)
        n_eval, done = n * m, 0
    else:
        start = torch.tensor([first], dtype=torch.int64, device=dev)
        bound = distance_to(start)
        bound[first] = -1.0
        idx[0], dist[0] = first, math.inf
        n_eval, done = n, 1
    for j in range(done, k):
        # No host sync per pick: the argmax stays on the device.
        i = torch.argmax(bound).view(1)
        idx[j : j + 1] = i
        dist[j : j + 1] = bound.index_select(0, i)
        if j + 1 < k:
            torch.minimum(bound, distance_to(i), out=bound)
            n_eval += n
        bound.index_fill_(0, i, -1.0)  # every distance is >= 0: never picked again
    return idx, dist, n_eval


def _sq_dist_to(x, c64):
    """Squared Euclidean distances (float64, from direct differences) of every row to ``c64``."""
    n, d = x.shape
    out = torch.empty(n, dtype=torch.float64, device=x.device)
    for a, b in _spans(n, d):
        diff = x[a:b].to(torch.float64) - c64
        out[a:b] = diff.mul_(diff).sum(1)
    return out


class _SplitMix64:
    """Vigna's SplitMix64, the generator of the Rust k-means++ (``kmeanspp.rs``)."""

    _MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed & self._MASK

    def next_f64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self._MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self._MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self._MASK
        return ((z ^ (z >> 31)) >> 11) * (1.0 / (1 << 53))


def _d2_sampling(n, k, seed, dist_to, dev):
    """The Rust k-means++ draw: the first row uniform, then the first row whose running sum
    (float64, row order) of squared distances ``dist_to(pick)`` exceeds ``u * total``."""
    rng = _SplitMix64(seed)
    pick = min(int(rng.next_f64() * n), n - 1)
    picks = [pick]
    taken = torch.zeros(n, dtype=torch.bool, device=dev)
    dist = None
    while len(picks) < k:
        taken[pick] = True
        new = dist_to(pick)
        dist = new if dist is None else torch.minimum(dist, new)
        dist[pick] = 0.0
        running = torch.cumsum(dist, 0)
        total = float(running[-1])
        u = rng.next_f64()
        if total > 0:
            target = torch.tensor([u * total], dtype=torch.float64, device=dev)
            found = int(torch.searchsorted(running, target, right=True))
            if found >= n:  # only when u * total rounds up to the total
                found = n - 1 - int(torch.flip(dist > 0, (0,)).to(torch.int32).argmax())
            pick = found
        else:
            pick = int((~taken).to(torch.int32).argmax())
        picks.append(pick)
    return torch.tensor(picks, dtype=torch.int64, device=dev)


def kmeans_plusplus(X, k, seed):
    """k-means++ seeding with the Rust kernel's generator and draw rule."""
    n = X.shape[0]
    _check_finite(X, "X")
    return _d2_sampling(n, k, seed, lambda c: _sq_dist_to(X, X[c].to(torch.float64)), X.device)


def kmeans_plusplus_outer(A, H, intercept, k, seed):
    """k-means++ over the rows ``A[i] (x) [H[i], 1]`` from the factorised squared distance,
    with the Rust kernel's cancellation rule (below ``1e-12`` of the two squared norms: 0)."""
    n = A.shape[0]
    _check_finite(A, "A")
    _check_finite(H, "H")
    bias = 1.0 if intercept else 0.0
    na = torch.empty(n, dtype=torch.float64, device=A.device)
    nh = torch.empty(n, dtype=torch.float64, device=A.device)
    for a, b in _spans(n, A.shape[1] + H.shape[1]):
        na[a:b] = A[a:b].square().sum(1)
        nh[a:b] = H[a:b].to(torch.float64).square().sum(1) + bias
    g = na * nh
    bad = ~torch.isfinite(4.0 * g)
    row = _first(bad)
    if row is not None:
        what = "H" if bool(torch.isfinite(na[row])) else "A"
        raise ValueError(
            f"{what} row {row} is too large: its squared norm overflows the float type"
        )

    def dist_to(c):
        out = torch.empty(n, dtype=torch.float64, device=A.device)
        ac, hc = A[c], H[c].to(torch.float64)
        for a, b in _spans(n, A.shape[1] + H.shape[1]):
            dot = (A[a:b] @ ac) * (H[a:b].to(torch.float64) @ hc + bias)
            s = g[a:b] + g[c] - 2.0 * dot
            out[a:b] = torch.where(s <= 1e-12 * (g[a:b] + g[c]), 0.0, s)
        return out

    return _d2_sampling(n, k, seed, dist_to, A.device)


# --------------------------------------------------------------------------------------------
# Neighbours: exact kNN, kNN density, mean cosine similarity


def _row_error(issue, what):
    """The error for the lowest bad row: ``issue`` is 0 (fine), 1 (not finite), 2 (too large)
    or 3 (all zeros)."""
    row = _first(issue > 0)
    if row is None:
        return
    kind = int(issue[row])
    if kind == 3:
        raise ValueError(f"{what} row {row} is all zeros, so its cosine distance is undefined")
    if kind == 2:
        raise ValueError(
            f"{what} row {row} is too large: its squared norm overflows the float type"
        )
    raise checks.row_not_finite(what, row)


def _prepare(x, what, metric):
    """Rows to search (``x``, or its unit rows for cosine) and their squared norms in ``x``'s
    dtype, after the kernel's checks."""
    n, d = x.shape
    issue = torch.zeros(n, dtype=torch.int8, device=x.device)
    sq = torch.empty(n, dtype=torch.float64, device=x.device)
    rows = x if metric == "euclidean" else torch.empty_like(x)
    limit = torch.finfo(x.dtype).max / 8
    for a, b in _spans(n, d):
        blk = x[a:b].to(torch.float64)
        finite = torch.isfinite(blk).all(1)
        if metric == "euclidean":
            s = blk.mul(blk).sum(1)
            issue[a:b] = torch.where(~finite, 1, torch.where(s > limit, 2, 0))
        else:
            scale = blk.abs().amax(1)
            issue[a:b] = torch.where(~finite, 1, torch.where(scale == 0, 3, 0))
            scale = torch.where(scale > 0, scale, 1.0)[:, None]
            norm = _sqrt((blk / scale).square().sum(1))[:, None]
            unit = (blk / scale / norm).to(x.dtype)
            rows[a:b] = unit
            u64 = unit.to(torch.float64)
            s = u64.mul(u64).sum(1)
        sq[a:b] = s
    _row_error(issue, what)
    return rows, sq.to(x.dtype)


def _smallest(V, k):
    """Positions (ascending) of the ``k`` smallest of each row of ``V``, ties to the lowest."""
    kth = torch.topk(V, k, dim=1, largest=False, sorted=False).values.amax(1, keepdim=True)
    below = V < kth
    tied = V == kth
    take = below | (tied & (tied.cumsum(1) <= k - below.sum(1, keepdim=True)))
    slot = torch.where(take, take.cumsum(1) - 1, k)
    out = torch.empty(V.shape[0], k + 1, dtype=torch.int64, device=V.device)
    cols = torch.arange(V.shape[1], device=V.device).expand_as(V)
    return out.scatter_(1, slot, cols)[:, :k]


def _search(q, q_sq, r, r_sq, k, metric, exclude_self):
    """Blocked exact kNN, as ``search`` in ``knn.rs``: candidates from the matrix product,
    reference blocks in order, then the kept ``k`` recomputed directly and sorted."""
    m, d = q.shape
    n = r.shape[0]
    del q_sq  # the query's own norm does not change its ranking
    on_cpu = q.device.type == "cpu"
    q_block, r_block = (128, 1024) if on_cpu else (2048, 8192)
    idx_out = torch.empty(m, k, dtype=torch.int64, device=q.device)
    dist_out = torch.empty(m, k, dtype=q.dtype, device=q.device)
    for q0 in range(0, m, q_block):
        q1 = min(q0 + q_block, m)
        qb = q[q0:q1]
        vals = torch.empty(q1 - q0, 0, dtype=q.dtype, device=q.device)
        ids = torch.empty(q1 - q0, 0, dtype=torch.int64, device=q.device)
        for r0 in range(0, n, r_block):
            r1 = min(r0 + r_block, n)
            prod = torch.addmm(r_sq[None, r0:r1], qb, r[r0:r1].t(), beta=1, alpha=-2)
            if exclude_self:
                prod.diagonal(q0 - r0).fill_(math.inf)
            vals = torch.cat([vals, prod], 1)
            ids = torch.cat([ids, torch.arange(r0, r1, device=q.device).expand(q1 - q0, -1)], 1)
            if vals.shape[1] > k:
                # Kept in index order, so that ties keep going to the lowest index.
                keep = _smallest(vals, k)
                vals, ids = vals.gather(1, keep), ids.gather(1, keep)
        exact = torch.empty(q1 - q0, k, dtype=torch.float64, device=q.device)
        for a, b in _spans(q1 - q0, k * d):
            diff = qb[a:b, None, :].to(torch.float64) - r[ids[a:b]].to(torch.float64)
            exact[a:b] = diff.mul_(diff).sum(2)
        exact = (_sqrt(exact) if metric == "euclidean" else exact / 2).to(q.dtype)
        order = torch.sort(exact, dim=1, stable=True).indices
        idx_out[q0:q1] = ids.gather(1, order)
        dist_out[q0:q1] = exact.gather(1, order)
    return idx_out, dist_out


def knn(X, X_ref, k, metric):
    """Indices (int64, nearest first) and distances (``X``'s dtype) of the ``k`` nearest rows of
    ``X_ref`` (``None``: the other rows of ``X``)."""
    if X_ref is None:
        rows, sq = _prepare(X, "X", metric)
        return _search(rows, sq, rows, sq, k, metric, True)
    q, q_sq = _prepare(X, "X", metric)
    r, r_sq = _prepare(X_ref, "X_ref", metric)
    return _search(q, q_sq, r, r_sq, k, metric, False)


def knn_density(X, k, metric):
    """Mean similarity to the ``k`` nearest other rows: ``1 / (1 + d)`` or ``1 - d``."""
    _, dist = knn(X, None, k, metric)
    d64 = dist.to(torch.float64)
    sim = 1.0 / (1.0 + d64) if metric == "euclidean" else 1.0 - d64
    # A running sum, nearest first: Rust's order (sequential on CPU tensors).
    return (torch.cumsum(sim, 1)[:, -1] / k).to(X.dtype)


def mean_cosine_similarity(X):
    """Mean cosine similarity of every row to all rows, ``u_i . mean_j u_j``, in O(n d)."""
    n, d = X.shape
    issue = torch.zeros(n, dtype=torch.int8, device=X.device)
    inv = torch.empty(n, dtype=torch.float64, device=X.device)
    mean = torch.zeros(d, dtype=torch.float64, device=X.device)
    for a, b in _spans(n, d):
        blk = X[a:b].to(torch.float64)
        scale = blk.abs().amax(1)
        issue[a:b] = torch.where(~torch.isfinite(blk).all(1), 1, torch.where(scale == 0, 3, 0))
        scale = torch.where(scale > 0, scale, 1.0)
        inv[a:b] = 1.0 / (scale * _sqrt((blk / scale[:, None]).square().sum(1)))
        mean += (blk * inv[a:b, None]).sum(0)
    _row_error(issue, "X")
    mean /= n
    out = torch.empty(n, dtype=X.dtype, device=X.device)
    for a, b in _spans(n, d):
        out[a:b] = ((X[a:b].to(torch.float64) @ mean) * inv[a:b]).to(X.dtype)
    return out
