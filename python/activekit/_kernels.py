"""The seam between Python and the kernels: validate once, then route.

Every function here reads the same way:

1. the names and integers are checked (:mod:`activekit._kernel_checks`, the one place for the
   rules and their messages, and for the measure and metric names, which come from the core);
2. :func:`activekit._device.route` picks a backend (:mod:`activekit._backends`): Rust on NumPy,
   or torch on a device;
3. the backend makes the arrays C-contiguous float32 or float64 (float32 stays float32,
   anything else numeric becomes float64) or int64 votes, checking their forms;
4. ``n_jobs`` becomes a thread count (an ``n_jobs`` error comes before a shape error), then
   the shapes the kernel needs are checked (the rules module again);
5. the backend calls the kernel: Rust on those threads with the GIL released, or its torch
   twin (:mod:`activekit._torch_kernels`), which selects what the Rust kernel selects. What
   depends on the data (probability rows, NaN scores, non-finite rows, votes out of range) the
   kernels check themselves, the twins with Rust's messages. Kernel errors arrive as
   ``ValueError``.

Devices. :mod:`activekit._device` decides which backend runs:

* given a torch tensor on a non-CPU device (CUDA), the twin runs there, other inputs are moved
  to that device, and the results are torch tensors on it, of the dtypes listed under Returns
  (indices int64, scores and distances as documented; ``n_evaluations`` stays an int);
* inside a device scope (``ActiveLearningClassifier(device="cuda")`` opens one for each
  query), NumPy inputs move to the scope's device, a matrix of rows (pool, centres,
  references) once per scope, and the results come back as the NumPy arrays documented here;
* otherwise the Rust kernel runs on NumPy; a CPU tensor is viewed as a NumPy array.

``n_jobs`` is validated on every path and ignored by the twins.
"""

from __future__ import annotations

import numpy as np

from . import _device
from . import _kernel_checks as checks
from ._backends import RUST
from ._kernel_checks import (
    COMMITTEE_MEASURES,
    DISTANCE_METRICS,
    MULTILABEL_MEASURES,
    UNCERTAINTY_MEASURES,
    VOTE_MEASURES,
    n_threads,
)

__all__ = [
    "COMMITTEE_MEASURES",
    "DISTANCE_METRICS",
    "MULTILABEL_MEASURES",
    "UNCERTAINTY_MEASURES",
    "VOTE_MEASURES",
    "as_float",
    "committee_scores",
    "committee_top_k",
    "kcenter_greedy",
    "kmeans_plusplus",
    "kmeans_plusplus_outer",
    "knn",
    "knn_density",
    "mean_cosine_similarity",
    "min_distances",
    "multilabel_scores",
    "multilabel_top_k",
    "n_threads",
    "seed_from",
    "top_k",
    "uncertainty_scores",
    "uncertainty_top_k",
    "vote_scores",
    "vote_top_k",
]


def as_float(a, name, ndim):
    """``a`` checked and made a C-contiguous float32/float64 NumPy array, as every kernel
    receives its inputs: float32 stays float32 (no copy of a float32 pool), any other real
    dtype becomes float64; ``name`` and ``ndim`` as in the kernels' messages.

    For callers that work on the array themselves (a strategy's own NumPy step).

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import as_float
    >>> as_float(np.ones((2, 3), dtype=np.int64), "X", 2).dtype
    dtype('float64')
    >>> as_float(np.ones(3), "X", 2)
    Traceback (most recent call last):
    ...
    ValueError: X must be a 2-D array, got shape (3,)
    """
    return RUST.as_float(a, name, ndim)


def _on_probabilities(kernel, probs, measure, k, n_jobs):
    """An uncertainty (2-D ``probs``) or committee (3-D) kernel; ``k`` is None for scores."""
    committee = kernel.startswith("committee")
    checks.name_in(measure, COMMITTEE_MEASURES if committee else UNCERTAINTY_MEASURES)
    backend = _device.route(probs)
    p = backend.as_float(probs, "probs", 3 if committee else 2)
    top = () if k is None else (checks.k_of(k, p.shape[-2]),)  # rows: the axis before classes
    threads = checks.n_threads(n_jobs)
    checks.probabilities(p)
    return backend.call(kernel, p, measure, *top, checks.tol(p), threads=threads)


def _on_votes(kernel, votes, n_classes, measure, k, n_jobs):
    """A vote kernel; ``k`` is None for scores."""
    checks.name_in(measure, VOTE_MEASURES)
    backend = _device.route(votes)
    v = backend.as_votes(votes, n_classes)
    n_classes = checks.n_classes(n_classes)
    top = () if k is None else (checks.k_of(k, v.shape[1]),)
    threads = checks.n_threads(n_jobs)
    checks.votes(v)
    return backend.call(kernel, v, n_classes, measure, *top, threads=threads)


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
    return _on_probabilities("uncertainty_scores", probs, measure, None, n_jobs)


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
    return _on_probabilities("uncertainty_top_k", probs, measure, k, n_jobs)


def top_k(scores, k, *, n_jobs=None):
    """Indices and values of the ``k`` highest scores, highest first, ties by lowest index.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import top_k
    >>> top_k(np.array([0.2, 0.7, 0.7, 0.1]), 2)[0].tolist()
    [1, 2]
    """
    backend = _device.route(scores)
    s = backend.as_float(scores, "scores", 1)
    k = checks.k_of(k, s.shape[0])
    return backend.call("top_k", s, k, threads=checks.n_threads(n_jobs))


# --------------------------------------------------------------------------------------------
# Multi-label uncertainty: per-label probabilities


def _on_labels(kernel, probs, measure, k, n_jobs):
    """A multi-label kernel; ``k`` is None for scores."""
    checks.name_in(measure, MULTILABEL_MEASURES)
    backend = _device.route(probs)
    p = backend.as_float(probs, "probs", 2)
    top = () if k is None else (checks.k_of(k, p.shape[0]),)
    threads = checks.n_threads(n_jobs)
    checks.label_probabilities(p)
    return backend.call(kernel, p, measure, *top, threads=threads)


def multilabel_scores(probs, measure, *, n_jobs=None):
    """Multi-label uncertainty of every row of an ``(n, L)`` matrix of per-label probabilities
    (higher = more informative).

    With ``p_l`` the probability that label ``l`` is present, ``h(p) = -p ln p - (1 - p)
    ln(1 - p)`` (natural log, ``0 ln 0 = 0``) and ``m(p) = min(p, 1 - p)``:

    * ``"mean_entropy"`` / ``"max_entropy"``: ``(1/L) sum_l h(p_l)`` / ``max_l h(p_l)``;
    * ``"binary_minimization"`` (Brinker 2006): ``-min_l |p_l - 0.5|``;
    * ``"max_loss"`` / ``"mean_max_loss"`` (Li, Wang and Sung 2004): ``max_l m(p_l)`` /
      ``(1/L) sum_l m(p_l)``.

    Each row's terms are added (or compared) in label order, so the scores do not depend on
    ``n_jobs``.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_labels)
        Per-label probabilities, each in ``[0, 1]`` (rows need not sum to one).
        ``n_labels >= 1``; ``n_samples`` may be 0. float32 stays float32, anything else
        numeric becomes float64.
    measure : {"mean_entropy", "max_entropy", "binary_minimization", "max_loss", \
"mean_max_loss"}
    n_jobs : int, default=None
        Threads; ``None`` uses every core.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        float32 for float32 input, float64 otherwise.

    Raises
    ------
    ValueError
        For a value that is NaN or outside ``[0, 1]``, naming the lowest such row and, in it,
        the lowest column.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import multilabel_scores
    >>> p = np.array([[0.5, 0.9, 0.1], [0.2, 0.2, 0.2]])
    >>> multilabel_scores(p, "max_loss").tolist()
    [0.5, 0.2]
    >>> multilabel_scores(p, "binary_minimization").round(2).tolist()
    [-0.0, -0.3]
    >>> multilabel_scores(p, "mean_entropy").round(4).tolist()
    [0.4478, 0.5004]
    """
    return _on_labels("multilabel_scores", probs, measure, None, n_jobs)


def multilabel_top_k(probs, measure, k, *, n_jobs=None):
    """Indices and scores of the ``k`` rows with the highest multi-label score, highest first.

    The measures and ``probs`` are those of :func:`multilabel_scores`; scoring and selection
    are fused in one pass, and equal scores are taken lowest row first.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import multilabel_top_k
    >>> p = np.array([[0.9, 0.1], [0.5, 0.9], [0.7, 0.3], [0.5, 0.0]])
    >>> idx, scores = multilabel_top_k(p, "max_loss", 3)
    >>> idx.tolist(), scores.tolist()
    ([1, 3, 2], [0.5, 0.5, 0.30000000000000004])
    """
    return _on_labels("multilabel_top_k", probs, measure, k, n_jobs)


# --------------------------------------------------------------------------------------------
# Committee disagreement: over the members' probabilities or over their votes


def committee_scores(probs, measure, *, n_jobs=None):
    """Disagreement of a committee on every row (higher = more disagreement).

    With ``p_i`` member ``i``'s class distribution of a row, ``p̄`` the members' mean and ``H``
    the entropy (natural log, ``0 ln 0 = 0``):

    * ``"consensus_entropy"``: ``H(p̄)``;
    * ``"max_disagreement"``: the mean KL divergence of each member from the consensus,
      ``(1/m) sum_i KL(p_i || p̄) = H(p̄) - (1/m) sum_i H(p_i)``; over posterior samples in
      place of members, this is BALD's mutual information;
    * ``"mean_std"``: the standard deviation of each class's probability across the members
      (population, divisor ``m``), averaged over the classes,
      ``(1/c) sum_j sqrt((1/m) sum_i (p_ij - p̄_j)^2)``: over posterior samples, the mean STD
      of Kampffmeyer et al. (2016). The squared deviations are summed from the mean in a
      second pass, as ``np.std`` does.

    Parameters
    ----------
    probs : array-like of shape (n_members, n_samples, n_classes)
        Each member's class probabilities; every member's rows non-negative, summing to one
        (a member that never saw a class gives it 0). ``n_members >= 2``, ``n_classes >= 2``.
        float32 stays float32, anything else numeric becomes float64.
    measure : {"consensus_entropy", "max_disagreement", "mean_std"}
    n_jobs : int, default=None
        Threads; ``None`` uses every core. The scores do not depend on it.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        float32 for float32 input, float64 otherwise.

    Raises
    ------
    ValueError
        For fewer than 2 members, and for an invalid probability row, naming the lowest such
        row and, within it, the lowest member.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import committee_scores
    >>> probs = np.array([[[1.0, 0.0], [0.5, 0.5]],    # member 0, rows 0 and 1
    ...                   [[0.0, 1.0], [0.5, 0.5]]])   # member 1
    >>> committee_scores(probs, "max_disagreement").round(4).tolist()   # ln 2, then agreement
    [0.6931, 0.0]
    >>> committee_scores(probs, "consensus_entropy").round(4).tolist()
    [0.6931, 0.6931]
    >>> committee_scores(probs, "mean_std").tolist()   # each class: 1 and 0, or 0.5 and 0.5
    [0.5, 0.0]
    """
    return _on_probabilities("committee_scores", probs, measure, None, n_jobs)


def committee_top_k(probs, measure, k, *, n_jobs=None):
    """Indices and scores of the ``k`` rows a committee disagrees on most, most first.

    The measures and ``probs`` are those of :func:`committee_scores`; scoring and selection are
    fused in one pass, and equal scores are taken lowest row first.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import committee_top_k
    >>> probs = np.array([[[0.9, 0.1], [0.6, 0.4], [0.5, 0.5]],
    ...                   [[0.8, 0.2], [0.1, 0.9], [0.5, 0.5]]])
    >>> committee_top_k(probs, "max_disagreement", 2)[0].tolist()
    [1, 0]
    """
    return _on_probabilities("committee_top_k", probs, measure, k, n_jobs)


def vote_scores(votes, n_classes, measure, *, n_jobs=None):
    """Disagreement of a committee's votes on every row (higher = more disagreement).

    With ``v_j`` the number of the ``m`` members voting for class ``j``:

    * ``"vote_entropy"``: ``-sum_j (v_j / m) ln(v_j / m)`` (Dagan and Engelson 1995);
    * ``"variation_ratio"``: ``1 - max_j v_j / m``, the share of members outside the modal
      vote (Freeman 1965).

    Parameters
    ----------
    votes : array-like of shape (n_members, n_samples), integer
        Each member's predicted class of each row, as an index in ``0..n_classes - 1``.
        ``n_members >= 2``.
    n_classes : int
        Number of classes; a vote outside ``0..n_classes - 1`` is an error naming its row
        and member.
    measure : {"vote_entropy", "variation_ratio"}
    n_jobs : int, default=None
        Threads; ``None`` uses every core. The scores do not depend on it.

    Returns
    -------
    scores : ndarray of shape (n_samples,), dtype float64

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import vote_scores
    >>> votes = np.array([[0, 2, 1],    # member 0's votes on rows 0, 1, 2
    ...                   [1, 2, 1],
    ...                   [1, 2, 0],
    ...                   [0, 2, 1]])
    >>> vote_scores(votes, 3, "variation_ratio").tolist()
    [0.5, 0.0, 0.25]
    >>> vote_scores(votes, 3, "vote_entropy").round(4).tolist()
    [0.6931, 0.0, 0.5623]
    """
    return _on_votes("vote_scores", votes, n_classes, measure, None, n_jobs)


def vote_top_k(votes, n_classes, measure, k, *, n_jobs=None):
    """Indices and scores of the ``k`` rows whose votes disagree most, most first.

    The measures and ``votes`` are those of :func:`vote_scores`; scoring and selection are
    fused in one pass, and equal scores are taken lowest row first.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import vote_top_k
    >>> votes = np.array([[0, 2, 1], [1, 2, 1], [1, 2, 0], [0, 2, 1]])
    >>> idx, scores = vote_top_k(votes, 3, "variation_ratio", 2)
    >>> idx.tolist(), scores.tolist()
    ([0, 2], [0.5, 0.25])
    """
    return _on_votes("vote_top_k", votes, n_classes, measure, k, n_jobs)


# --------------------------------------------------------------------------------------------
# Distances: k-center greedy, nearest centre, k-means++ seeding


def _pair(backend, a, a_name, b, b_name, metric):
    """Two matrices as C-contiguous arrays of one dtype (float32 only if both are), made unit
    rows for the cosine metric."""
    a = backend.as_float(a, a_name, 2, cache=True)
    b = backend.as_float(b, b_name, 2, cache=True)
    if a.dtype != b.dtype:
        a, b = backend.to_f64(a), backend.to_f64(b)
    checks.same_columns(a, a_name, b, b_name)
    if metric == "cosine":
        a, b = backend.unit_rows(a, a_name), backend.unit_rows(b, b_name)
    return a, b


def _to_metric(distances, metric):
    # On unit vectors, 1 - cos = |x - c|^2 / 2.
    return distances * distances / 2 if metric == "cosine" else distances


def kcenter_greedy(
    X_pool, X_centers, k, *, first=None, metric="euclidean", n_jobs=None,
    return_n_evaluations=False,
):
    """Exact k-center greedy (farthest-first traversal) over a pool.

    Each pick is the pool row farthest from its nearest centre, where the centres are the rows
    of ``X_centers`` (the labelled set) and the earlier picks; ties go to the lowest index.
    The picks are identical to those of the plain NumPy greedy that keeps one vector of
    squared distances ``((X - c) ** 2).sum(axis=1)`` in float64 and updates all of it after
    every pick; lazy updates (a bucket queue of rows by their bound, brought up to date a bucket
    at a time on every core), the triangle inequality and a dot-product filter evaluate far
    fewer distances. Finite values whose squares overflow are handled as that greedy handles
    them: a squared distance above the float64 range (rows beyond about 1e154) is ``inf``,
    and ``inf`` ties with ``inf`` (lowest index first).

    Parameters
    ----------
    X_pool : array-like of shape (n_pool, n_features)
        Candidate rows. float32 stays float32 when ``X_centers`` is float32 too; otherwise
        both become float64. Distances are accumulated in float64 either way.
    X_centers : array-like of shape (n_centers, n_features)
        Rows already labelled (not part of the pool); may have no rows.
    k : int
        Number of picks, ``1 <= k <= n_pool``. Duplicated rows are picked at distance 0 once
        every distinct row is taken.
    first : int, default=None
        Cold start: the first pick when ``X_centers`` has no rows (the caller draws it from
        its ``random_state``). Must be ``None`` when ``X_centers`` has rows.
    metric : {"euclidean", "cosine"}, default="euclidean"
        ``"cosine"`` scales every row to unit length first (a zero row is an error) and
        reports ``1 - cos``; on unit vectors that is ``|x - c|^2 / 2``, so the picks are those
        of farthest-first traversal in cosine distance.
    n_jobs : int, default=None
        Threads; ``None`` uses every core. The picks do not depend on it.
    return_n_evaluations : bool, default=False
        Also return the number of point-to-centre distances evaluated, estimated or exact
        (the eager greedy evaluates ``n_pool * (n_centers + k)``; a pool row that may be the
        next pick is compared with the labelled rows a second time (exactly where the
        filter cannot rule them out), which counts again: at most ``n_pool * n_centers``
        more; the torch twin is that eager greedy, one pass over the pool per pick, and
        evaluates ``n_pool * (n_centers + k - 1)``, or ``n_pool * max(k - 1, 1)`` from a
        cold start).

    Returns
    -------
    indices : ndarray of shape (k,), dtype intp
        Pool rows in pick order.
    distances : ndarray of shape (k,), dtype float64
        Each pick's distance to its nearest centre when it was picked; never increases.
        ``inf`` for a cold-start first pick.
    n_evaluations : int
        Only with ``return_n_evaluations``.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import kcenter_greedy
    >>> X = np.array([[0.0], [1.0], [5.0], [9.0], [10.0]])
    >>> idx, dist = kcenter_greedy(X, np.empty((0, 1)), 3, first=0)
    >>> idx.tolist(), dist.tolist()
    ([0, 4, 2], [inf, 10.0, 5.0])
    >>> kcenter_greedy(X, [[10.0]], 2)[0].tolist()
    [0, 2]
    """
    checks.name_in(metric, DISTANCE_METRICS, "metric")
    backend = _device.route(X_pool, X_centers)
    pool, centers = _pair(backend, X_pool, "X_pool", X_centers, "X_centers", metric)
    k = checks.k_of(k, pool.shape[0])
    first = checks.first(first, pool.shape[0], centers.shape[0])
    threads = checks.n_threads(n_jobs)
    checks.no_first_with_centres(first, centers.shape[0])
    idx, dist, n_eval = backend.call("kcenter_greedy", pool, centers, k, first, threads=threads)
    dist = _to_metric(dist, metric)
    return (idx, dist, n_eval) if return_n_evaluations else (idx, dist)


def min_distances(X, C, *, metric="euclidean", n_jobs=None):
    """Distance from each row of ``X`` to its nearest row of ``C``, and that row's index.

    Exact (squared distances summed in float64 from direct differences), parallel over the
    rows of ``X``; equally near rows of ``C`` go to the lowest index.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    C : array-like of shape (n_centers, n_features)
        At least one row.
    metric : {"euclidean", "cosine"}, default="euclidean"
        ``"cosine"`` returns ``1 - cos`` (rows scaled to unit length; zero rows are errors).
    n_jobs : int, default=None
        Threads; ``None`` uses every core.

    Returns
    -------
    distances : ndarray of shape (n_samples,), dtype float64
    argmin : ndarray of shape (n_samples,), dtype intp

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import min_distances
    >>> d, i = min_distances(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0], [3.0, 5.0]]))
    >>> d.tolist(), i.tolist()
    ([0.0, 1.0], [0, 1])
    """
    checks.name_in(metric, DISTANCE_METRICS, "metric")
    backend = _device.route(X, C)
    x, c = _pair(backend, X, "X", C, "C", metric)
    checks.has_rows(c, "C")
    dist, arg = backend.call("min_distances", x, c, threads=checks.n_threads(n_jobs))
    return _to_metric(dist, metric), arg


def seed_from(random_state):
    """A u64 seed for a Rust kernel: ``check_random_state(random_state).randint(2**63 - 1)``.

    The same ``random_state`` gives the same seed; a ``RandomState`` instance advances.

    Examples
    --------
    >>> from activekit._kernels import seed_from
    >>> seed_from(0) == seed_from(0)
    True
    """
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int64).max))


def kmeans_plusplus(X, k, *, random_state=None, n_jobs=None):
    """k-means++ seeding: ``k`` rows of ``X`` drawn by D^2 sampling, in pick order.

    The first row is uniform; each next one is drawn with probability proportional to its
    squared Euclidean distance to the nearest row drawn so far. When all remaining rows are at
    distance 0 (duplicates), the lowest undrawn row is taken. ``random_state`` becomes a u64
    seed via :func:`seed_from`; the Rust generator is SplitMix64, so a seed gives the same rows
    whatever ``n_jobs``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    k : int
        ``1 <= k <= n_samples``.
    random_state : int, RandomState instance or None, default=None
    n_jobs : int, default=None

    Returns
    -------
    indices : ndarray of shape (k,), dtype intp
        Distinct rows of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import kmeans_plusplus
    >>> X = np.array([[0.0], [0.1], [50.0], [50.1]])
    >>> idx = kmeans_plusplus(X, 2, random_state=0)
    >>> sorted(int(i) // 2 for i in idx)   # one from each clump
    [0, 1]
    """
    backend = _device.route(X)
    x = backend.as_float(X, "X", 2, cache=True)
    k = checks.k_of(k, x.shape[0])
    seed = seed_from(random_state)
    return backend.call("kmeans_plusplus", x, k, seed, threads=checks.n_threads(n_jobs))


def kmeans_plusplus_outer(A, H, k, *, intercept=True, random_state=None, n_jobs=None):
    """k-means++ seeding over the outer products ``A[i] (x) [H[i], 1]``, never formed.

    The rows drawn are those of :func:`kmeans_plusplus` on the ``n x (c (d + 1))`` matrix of
    outer products (BADGE's gradient embeddings: ``A`` the loss gradient at the outputs,
    ``H`` the last layer's input, the ``1`` for its bias when ``intercept``), with the same
    generator and draw rule, but each squared distance is taken in O(c + d) from
    ``|a_i|^2 |h_i|^2 + |a_j|^2 |h_j|^2 - 2 (a_i . a_j)(h_i . h_j)`` (``h`` with its ``1``),
    so memory stays linear in ``n`` with no factor ``c``. Up to rounding: a distance below
    ``1e-12`` times the two rows' squared norms counts as 0 (a duplicate of a drawn row).

    Parameters
    ----------
    A : array-like of shape (n_samples, n_outputs)
        Taken as float64.
    H : array-like of shape (n_samples, n_features)
        float32 stays float32.
    k : int
        ``1 <= k <= n_samples``.
    intercept : bool, default=True
        Whether each ``H`` row is extended by a constant ``1``.
    random_state : int, RandomState instance or None, default=None
    n_jobs : int, default=None

    Returns
    -------
    indices : ndarray of shape (k,), dtype intp
        Distinct rows, in pick order.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._kernels import kmeans_plusplus, kmeans_plusplus_outer
    >>> rng = np.random.default_rng(0)
    >>> A, H = rng.normal(size=(50, 3)), rng.normal(size=(50, 4))
    >>> G = np.hstack([A[:, [j]] * np.c_[H, np.ones(50)] for j in range(3)])
    >>> picks = kmeans_plusplus_outer(A, H, 5, random_state=0)
    >>> bool((picks == kmeans_plusplus(G, 5, random_state=0)).all())
    True
    """
    intercept = checks.intercept(intercept)
    backend = _device.route(A, H)
    a = backend.to_f64(backend.as_float(A, "A", 2))
    h = backend.as_float(H, "H", 2, cache=True)
    checks.same_rows(a, "A", h, "H")
    k = checks.k_of(k, a.shape[0])
    seed = seed_from(random_state)
    return backend.call(
        "kmeans_plusplus_outer", a, h, intercept, k, seed, threads=checks.n_threads(n_jobs)
    )


# --------------------------------------------------------------------------------------------
# Neighbours: exact kNN, kNN density, mean cosine similarity


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
    checks.name_in(metric, DISTANCE_METRICS, "metric")
    backend = _device.route(X, X_ref)
    x = backend.as_float(X, "X", 2, cache=True)
    if X_ref is None:
        k = checks.self_k(k, x.shape[0])
        threads = checks.n_threads(n_jobs)
        checks.has_columns(x, "X")
        return backend.call("knn", x, None, k, metric, threads=threads)
    r = backend.as_float(X_ref, "X_ref", 2, cache=True)
    if x.dtype != r.dtype:
        x, r = backend.to_f64(x), backend.to_f64(r)
    checks.has_rows(x, "X")
    checks.same_columns(x, "X", r, "X_ref", must_match=True)
    k = checks.ref_k(k, r.shape[0])
    threads = checks.n_threads(n_jobs)
    checks.has_columns(x, "X")
    return backend.call("knn", x, r, k, metric, threads=threads)


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
    checks.name_in(metric, DISTANCE_METRICS, "metric")
    backend = _device.route(X)
    x = backend.as_float(X, "X", 2, cache=True)
    k = checks.self_k(k, x.shape[0])
    threads = checks.n_threads(n_jobs)
    checks.has_columns(x, "X")
    return backend.call("knn_density", x, k, metric, threads=threads)


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
    backend = _device.route(X)
    x = backend.as_float(X, "X", 2, cache=True)
    threads = checks.n_threads(n_jobs)
    checks.has_rows(x, "X")
    checks.has_columns(x, "X")
    return backend.call("mean_cosine_similarity", x, threads=threads)
