"""Row operations shared by the learner and the strategies, dense or sparse alike."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["stack_rows"]


def stack_rows(A, B):
    """``A`` above ``B``: CSR when either is sparse, else a NumPy array.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._rows import stack_rows
    >>> stack_rows(np.zeros((1, 2)), np.ones((2, 2))).shape
    (3, 2)
    """
    if sp.issparse(A) or sp.issparse(B):
        return sp.vstack([sp.csr_matrix(A), sp.csr_matrix(B)], format="csr")
    return np.concatenate([np.asarray(A), np.asarray(B)])
