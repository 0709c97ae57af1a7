"""Seeds: the one place that says how activekit draws and checks them.

Every component that needs randomness of its own (an initial split, a committee member, a
strategy inside a hybrid, a simulated round) draws a seed from the caller's ``random_state``
with :func:`draw_seed`, so that one ``random_state`` fixes a whole run; seeds given by a user
(the command line, :mod:`activekit.evaluation`) must lie in ``0 .. MAX_SEED``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LISTED_DRAW_LIMIT", "MAX_DRAWN_SEED", "MAX_SEED", "choose_rows", "draw_seed"]

#: Drawn seeds lie in ``[0, MAX_DRAWN_SEED)``: int32's range, which every seeded library
#: accepts (scikit-learn's estimators, NumPy, torch).
MAX_DRAWN_SEED = int(np.iinfo(np.int32).max)

#: The largest seed a user may give: ``np.random.RandomState`` takes ``0 .. 2**32 - 1``.
MAX_SEED = int(np.iinfo(np.uint32).max)


def draw_seed(rng, size=None):
    """An int seed (or an array of ``size`` of them) drawn from a ``RandomState``.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._random import draw_seed
    >>> draw_seed(np.random.RandomState(0)) == draw_seed(np.random.RandomState(0))
    True
    """
    return rng.randint(MAX_DRAWN_SEED, size=size)



#: Up to this many rows, :func:`choose_rows` permutes them (NumPy's ``choice``, 8 bytes a
#: row); above, it draws its rows one by one, in memory proportional to the number drawn.
LISTED_DRAW_LIMIT = 2**20


def choose_rows(rng, n, k):
    """``k`` distinct positions in ``0 .. n - 1``, uniformly at random and in random order.

    Up to :data:`LISTED_DRAW_LIMIT` rows, ``rng.choice(n, k, replace=False)`` (a permutation
    of the ``n`` positions); above, scikit-learn's tracking selection, which keeps only the
    positions drawn, so that a pool of any length (a Dask pool) is sampled in ``O(k)``
    memory. The same ``rng``, ``n`` and ``k`` give the same positions wherever the pool lives.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._random import choose_rows
    >>> choose_rows(np.random.RandomState(0), 10, 3).tolist()
    [2, 8, 4]
    >>> len(set(choose_rows(np.random.RandomState(0), 10**12, 5).tolist()))
    5
    """
    if n <= LISTED_DRAW_LIMIT:
        return rng.choice(n, size=k, replace=False)
    from sklearn.utils.random import sample_without_replacement

    return sample_without_replacement(n, k, method="tracking_selection", random_state=rng)
