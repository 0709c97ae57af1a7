"""Seeds: the one place that says how activekit draws and checks them.

Every component that needs randomness of its own (an initial split, a committee member, a
strategy inside a hybrid, a simulated round) draws a seed from the caller's ``random_state``
with :func:`draw_seed`, so that one ``random_state`` fixes a whole run; seeds given by a user
(the command line, :mod:`activekit.evaluation`) must lie in ``0 .. MAX_SEED``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_DRAWN_SEED", "MAX_SEED", "draw_seed"]

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

