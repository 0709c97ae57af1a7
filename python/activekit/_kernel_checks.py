"""Every argument rule of the kernels and its message, in one place.

:mod:`activekit._kernels` applies these rules before it calls a kernel, on either backend
(:mod:`activekit._backends`): the names (measures, metrics), the integers (``k``, ``first``,
``n_classes``, ``intercept``, ``n_jobs``), the array forms (dimensions, dtypes) and the shapes
each kernel needs (rows, columns, members). What is left to the kernels, the Rust ones and
their torch twins alike, is what depends on the values: probability rows, NaN scores,
non-finite or overflowing rows, votes out of range.

The name lists are the core's own (``activekit._native`` exports them from its enums), so a
measure added in Rust is known here without a second list.

Nothing here imports torch: the rules read ``shape`` and a dtype's name, which NumPy arrays and
torch tensors both have.
"""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np

from . import _native

__all__ = [
    "COMMITTEE_MEASURES",
    "DISTANCE_METRICS",
    "MULTILABEL_MEASURES",
    "UNCERTAINTY_MEASURES",
    "VOTE_MEASURES",
]

UNCERTAINTY_MEASURES = tuple(_native.UNCERTAINTY_MEASURES)
COMMITTEE_MEASURES = tuple(_native.COMMITTEE_MEASURES)
VOTE_MEASURES = tuple(_native.VOTE_MEASURES)
DISTANCE_METRICS = tuple(_native.DISTANCE_METRICS)
MULTILABEL_MEASURES = tuple(_native.MULTILABEL_MEASURES)

INT64_MAX = int(np.iinfo(np.int64).max)

# Per-row tolerance on |sum(p) - 1|: a few ulps per class on top of a floor per dtype.
_TOL_FLOOR = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-6}


# --------------------------------------------------------------------------------------------
# Names and integers


def name_in(value, valid, what="measure"):
    """``value`` is one of the names ``valid`` (a measure or a metric)."""
    if value not in valid:
        raise ValueError(f"{what} must be one of {sorted(valid)}, got {value!r}")


def integer(value, name="k"):
    """``value`` as an int; bools and non-integers are a ``TypeError``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


def k_of(k, n, name="k"):
    """A number of picks among ``n`` rows: ``1 <= k <= n``."""
    k = integer(k, name)
    if not 1 <= k <= n:
        raise ValueError(f"{name} must be between 1 and the number of rows ({n}), got {k}")
    return k


def self_k(k, n):
    """A number of neighbours of each of ``n`` rows among the others: ``1 <= k <= n - 1``."""
    k = integer(k)
    if n < 2:
        raise ValueError(f"X needs at least 2 rows to have neighbours other than itself, got {n}")
    if not 1 <= k <= n - 1:
        raise ValueError(
            f"k must be between 1 and the number of rows of X minus one ({n - 1}), got {k}"
        )
    return k


def ref_k(k, n_ref):
    """A number of neighbours among ``n_ref`` reference rows: ``1 <= k <= n_ref``."""
    k = integer(k)
    if not 1 <= k <= n_ref:
        raise ValueError(
            f"k must be between 1 and the number of rows of X_ref ({n_ref}), got {k}"
        )
    return k


def first(first, n_pool, n_centers):
    """k-center's cold start: a pool row when there are no centres, ``None`` otherwise."""
    if first is not None:
        if isinstance(first, bool) or not isinstance(first, Integral):
            raise TypeError(f"first must be None or an integer, got {type(first).__name__}")
        if not 0 <= first < n_pool:
            raise ValueError(
                f"first must be a row index below the number of pool rows "
                f"({n_pool}), got {first}"
            )
        first = int(first)
    if n_centers == 0 and first is None:
        raise ValueError(
            "first must be given when X_centers has no rows (draw it from your random_state)"
        )
    return first


def no_first_with_centres(first, n_centers):
    """With centres, k-center's first pick is the farthest row: ``first`` must be ``None``."""
    if n_centers > 0 and first is not None:
        raise ValueError(
            f"first must be None when there are centres ({n_centers} rows): the first pick is "
            "then the farthest row"
        )


def intercept(value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"intercept must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def n_classes(value):
    """A number of classes for votes: ``1 <= n_classes <= 2**63 - 1``."""
    value = integer(value, "n_classes")
    if value < 1:
        raise ValueError(f"n_classes must be at least 1, got {value}")
    if value > INT64_MAX:
        raise ValueError(f"n_classes must be at most 2**63 - 1, got {value}")
    return value


def n_threads(n_jobs):
    """Thread count for a kernel from scikit-learn's ``n_jobs`` (0 means one per core).

    ``None`` and ``-1`` use every core, ``-2`` all but one, and so on. A count above the
    number of cores is capped there: results never depend on the count, more threads than
    cores only add switching, and each count keeps a pool of its own threads (``n_jobs=10**9``
    must not try to start a billion of them).

    ``None`` (0) runs on one pool of a thread per core that concurrent calls share; any other
    count on a pool of the calling thread's own, so that Python threads calling kernels with
    ``n_jobs=1`` each get a thread (the kernels release the GIL and run side by side).

    Examples
    --------
    >>> import os
    >>> from activekit._kernels import n_threads
    >>> n_threads(None), n_threads(1)
    (0, 1)
    >>> n_threads(10**9) == os.cpu_count()
    True
    """
    if n_jobs is None:
        return 0
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None or a non-zero integer, got {n_jobs!r}")
    cores = os.cpu_count() or 1
    if n_jobs > 0:
        return min(int(n_jobs), cores)
    return max(cores + 1 + int(n_jobs), 1)


# --------------------------------------------------------------------------------------------
# Array forms: what the backends check before converting an input


def dtype_name(a):
    """A dtype as NumPy names it ("float64", not "torch.float64")."""
    return str(a.dtype).replace("torch.", "")


def is_float32(a):
    return dtype_name(a) == "float32"


def float_array(name, shape, ndim, dtype, real):
    """An input of real numbers with ``ndim`` dimensions (``real``: the dtype holds them)."""
    if len(shape) != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {tuple(shape)}")
    if not real:
        raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")


def vote_array(shape, dtype, integral):
    """Votes: a (members, samples) table of class indices (``integral``: the dtype holds them)."""
    if len(shape) != 2:
        raise ValueError(f"votes must be a 2-D array (members, samples), got shape {tuple(shape)}")
    if not integral:
        raise TypeError(f"votes must hold integer class indices, got dtype {dtype}")


def votes_in_int64(largest, n_classes):
    """Unsigned votes must fit the kernels' int64 (``largest`` is the largest vote)."""
    if largest > INT64_MAX:
        raise ValueError(f"votes hold {largest}, not a class index below n_classes ({n_classes})")


# --------------------------------------------------------------------------------------------
# Shapes each kernel needs


def members(m):
    if m < 2:
        raise ValueError(f"a committee needs at least 2 members, got {m}")


def probabilities(probs):
    """An ``(n, c)`` probability matrix, or an ``(m, n, c)`` stack of a committee's: two
    members, rows, and at least two classes."""
    if len(probs.shape) == 3:
        members(probs.shape[0])
        array, scores = "the committee's probability array", "a committee disagreement"
    else:
        array, scores = "the probability matrix", "an uncertainty score"
    n, c = probs.shape[-2:]
    if n == 0:
        raise ValueError(f"{array} is empty: it has no rows")
    if c < 2:
        raise ValueError(f"{scores} (one column per class) needs at least 2 columns, got {c}")


def label_probabilities(probs):
    """An ``(n, L)`` matrix of per-label probabilities: at least one label; ``n`` may be 0."""
    if probs.shape[1] == 0:
        raise ValueError("the probability matrix needs at least 1 columns, got 0")


def votes(v):
    """An ``(m, n)`` vote table: two members and rows."""
    members(v.shape[0])
    if v.shape[1] == 0:
        raise ValueError("the committee's vote array is empty: it has no rows")


def has_rows(a, name):
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has no rows")


def has_columns(a, name):
    if a.shape[1] == 0:
        raise ValueError(f"{name} needs at least 1 columns, got 0")


def same_columns(a, a_name, b, b_name, must_match=False):
    if a.shape[1] != b.shape[1]:
        tail = "; they must match" if must_match else ""
        raise ValueError(f"{b_name} has {b.shape[1]} columns but {a_name} has {a.shape[1]}{tail}")


def same_rows(a, a_name, b, b_name):
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{b_name} has {b.shape[0]} rows but {a_name} has {a.shape[0]}; they must match"
        )


def tol(probs):
    """The tolerance on each row's ``|sum(p) - 1|``: a few ulps per class (the last axis)
    on top of a floor per dtype."""
    dtype = np.dtype(np.float32 if is_float32(probs) else np.float64)
    return max(_TOL_FLOOR[dtype], 4 * probs.shape[-1] * float(np.finfo(dtype).eps))


# --------------------------------------------------------------------------------------------
# Rows made unit length for the cosine metric (each backend's unit_rows)


def row_not_finite(name, row):
    return ValueError(f"{name} row {row} contains NaN or infinity")


def row_zero_length(name, row):
    return ValueError(
        f"{name} row {row} has zero length; the cosine distance is undefined for it"
    )
