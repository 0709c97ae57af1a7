"""The seam between Python and the Rust kernels: the only importer of ``activekit._native``.

Each function here makes its inputs C-contiguous float32 or float64 (float32 stays float32,
anything else numeric becomes float64), checks their shapes, turns ``n_jobs`` into a thread
count and calls the kernel with the GIL released. Kernel errors arrive as ``ValueError``.
"""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np

from . import _native

__all__ = [
    "METRICS",
    "UNCERTAINTY_MEASURES",
    "knn",
    "knn_density",
    "mean_cosine_similarity",
    "n_threads",
    "top_k",
    "uncertainty_scores",
    "uncertainty_top_k",
]

UNCERTAINTY_MEASURES = ("least_confident", "margin", "entropy")
METRICS = ("euclidean", "cosine")

# Per-row tolerance on |sum(p) - 1|: a few ulps per class on top of a floor per dtype.
_TOL_FLOOR = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-6}


def n_threads(n_jobs):
    """Thread count for a kernel from scikit-learn's ``n_jobs`` (0 means one per core).

    ``None`` and ``-1`` use every core, ``-2`` all but one, and so on.

    Examples
    --------
    >>> from activekit._kernels import n_threads
    >>> n_threads(None), n_threads(3)
    (0, 3)
    """
    if n_jobs is None:
        return 0
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None or a non-zero integer, got {n_jobs!r}")
    if n_jobs > 0:
        return int(n_jobs)
    return max((os.cpu_count() or 1) + 1 + int(n_jobs), 1)


def _to_numpy(a):
    # A torch tensor (CPU) becomes a NumPy array without importing torch here.
    if type(a).__module__.split(".")[0] == "torch":
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _as_float(a, name, ndim):
    a = _to_numpy(a)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    dtype = np.float32 if a.dtype == np.float32 else np.float64
    # Converts byte order and layout only when needed; never writes to the input.
    return np.ascontiguousarray(a, dtype=dtype)


def _check_k(k, n, name="k"):
    if isinstance(k, bool) or not isinstance(k, Integral):
        raise TypeError(f"{name} must be an integer, got {type(k).__name__} {k!r}")
    if not 1 <= k <= n:
        raise ValueError(f"{name} must be between 1 and the number of rows ({n}), got {k}")
    return int(k)


def _check_measure(measure):
    if measure not in UNCERTAINTY_MEASURES:
        raise ValueError(
            f"measure must be one of {sorted(UNCERTAINTY_MEASURES)}, got {measure!r}"
        )


def _tol(probs):
    return max(_TOL_FLOOR[probs.dtype], 4 * probs.shape[1] * float(np.finfo(probs.dtype).eps))


def uncertainty_scores(probs, measure, *, n_jobs=None):
    """Uncertainty of every row of an ``(n, c)`` probability matrix (higher = more uncertain).

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Class probabilities; each row non-negative, summing to one. ``n_classes >= 2``.
    measure : {"least_confident", "margin", "entropy"}
        ``1 - max p``, ``1 - (p_(1) - p_(2))`` or ``-sum p ln p``.
    n_jobs : int, default=None
        Threads; ``None`` uses every core.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        float32 for float32 input, float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import uncertainty_scores
    >>> uncertainty_scores(np.array([[0.9, 0.1], [0.5, 0.5]]), "least_confident")
    array([0.1, 0.5])
    """
    _check_measure(measure)
    p = _as_float(probs, "probs", 2)
    return _native.uncertainty_scores(p, measure, _tol(p), n_threads(n_jobs))


def uncertainty_top_k(probs, measure, k, *, n_jobs=None):
    """Indices and scores of the ``k`` most uncertain rows, most uncertain first.

    Scoring and selection are fused in one pass; equal scores are taken lowest row first.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import uncertainty_top_k
    >>> idx, scores = uncertainty_top_k(np.array([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4]]), "margin", 2)
    >>> idx.tolist(), scores.round(2).tolist()
    ([1, 2], [1.0, 0.8])
    """
    _check_measure(measure)
    p = _as_float(probs, "probs", 2)
    k = _check_k(k, p.shape[0])
    return _native.uncertainty_top_k(p, measure, k, _tol(p), n_threads(n_jobs))


def top_k(scores, k, *, n_jobs=None):
    """Indices and values of the ``k`` highest scores, highest first, ties by lowest index.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import top_k
    >>> top_k(np.array([0.2, 0.7, 0.7, 0.1]), 2)[0].tolist()
    [1, 2]
    """
    s = _as_float(scores, "scores", 1)
    k = _check_k(k, s.shape[0])
    return _native.top_k(s, k, n_threads(n_jobs))


def _check_metric(metric):
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")


def _check_int(k, name="k"):
    if isinstance(k, bool) or not isinstance(k, Integral):
        raise TypeError(f"{name} must be an integer, got {type(k).__name__} {k!r}")
    return int(k)


def _check_self_k(k, n):
    k = _check_int(k)
    if n < 2:
        raise ValueError(f"X needs at least 2 rows to have neighbours other than itself, got {n}")
    if not 1 <= k <= n - 1:
        raise ValueError(
            f"k must be between 1 and the number of rows of X minus one ({n - 1}), got {k}"
        )
    return k


def knn(X, k, *, X_ref=None, metric="euclidean", n_jobs=None):
    """Exact ``k`` nearest neighbours of every row of ``X``.

    With ``X_ref=None`` the neighbours are the other rows of ``X`` (each row is excluded from
    its own neighbours; a duplicate of it is a neighbour at distance 0). Otherwise they are rows
    of ``X_ref``. Every candidate is considered; distances come from a blocked matrix product
    and the ``k`` returned are recomputed directly from the rows.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Query rows, finite.
    k : int
        Neighbours per row: ``1 <= k <= n_samples - 1`` without ``X_ref``,
        ``1 <= k <= n_ref`` with it.
    X_ref : array-like of shape (n_ref, n_features), default=None
        Reference rows; ``None`` searches ``X`` itself.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Euclidean distance (not squared), or cosine distance ``1 - cos`` (all-zero rows are
        rejected: their cosine is undefined).
    n_jobs : int, default=None
        Threads; ``None`` uses every core. The result does not depend on it.

    Returns
    -------
    indices : ndarray of shape (n_samples, k), int64
        Row indices, nearest first; equal distances are taken lowest index first.
    distances : ndarray of shape (n_samples, k)
        The distances, ascending; float32 when ``X`` (and ``X_ref``) are float32, else float64.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import knn
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 0.0]])
    >>> idx, dist = knn(X, 2)
    >>> idx.tolist()
    [[3, 1], [0, 3], [1, 0], [0, 1]]
    >>> dist[0].tolist()
    [0.0, 1.0]
    >>> knn(np.array([[2.5, 0.0]]), 1, X_ref=X)[0].tolist()
    [[2]]
    """
    _check_metric(metric)
    x = _as_float(X, "X", 2)
    if X_ref is None:
        k = _check_self_k(k, x.shape[0])
        return _native.knn(x, None, k, metric, n_threads(n_jobs))
    r = _as_float(X_ref, "X_ref", 2)
    if x.dtype != r.dtype:
        x, r = x.astype(np.float64), r.astype(np.float64)
    if x.shape[0] == 0:
        raise ValueError("X is empty: it has no rows")
    if x.shape[1] != r.shape[1]:
        raise ValueError(
            f"X_ref has {r.shape[1]} columns but X has {x.shape[1]}; they must match"
        )
    k = _check_int(k)
    if not 1 <= k <= r.shape[0]:
        raise ValueError(
            f"k must be between 1 and the number of rows of X_ref ({r.shape[0]}), got {k}"
        )
    return _native.knn(x, r, k, metric, n_threads(n_jobs))


def knn_density(X, k, *, metric="euclidean", n_jobs=None):
    """Mean similarity of every row of ``X`` to its ``k`` nearest other rows (higher = denser).

    The similarity is ``1 / (1 + d)`` for Euclidean distance ``d`` (in ``(0, 1]``) and
    ``1 - d = cos`` for cosine distance ``d`` (in ``[-1, 1]``). Used by information density.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    k : int
        ``1 <= k <= n_samples - 1``.
    metric : {"euclidean", "cosine"}, default="euclidean"
    n_jobs : int, default=None

    Returns
    -------
    density : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import knn_density
    >>> knn_density(np.array([[0.0], [1.0], [3.0]]), 1).tolist()
    [0.5, 0.5, 0.3333333333333333]
    """
    _check_metric(metric)
    x = _as_float(X, "X", 2)
    k = _check_self_k(k, x.shape[0])
    return _native.knn_density(x, k, metric, n_threads(n_jobs))


def mean_cosine_similarity(X, *, n_jobs=None):
    """Exact mean cosine similarity of every row of ``X`` to all rows, itself included.

    ``mean_j cos(x_i, x_j) = u_i . mean_j u_j`` for the unit rows ``u``, so this costs
    ``O(n d)`` time and memory instead of an ``n x n`` matrix: the information density of
    Settles & Craven (2008) with cosine similarity. All-zero rows are rejected.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_jobs : int, default=None

    Returns
    -------
    similarity : ndarray of shape (n_samples,)
        In ``[-1, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import mean_cosine_similarity
    >>> mean_cosine_similarity(np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])).round(4).tolist()
    [0.6667, 0.6667, 0.3333]
    """
    x = _as_float(X, "X", 2)
    return _native.mean_cosine_similarity(x, n_threads(n_jobs))
