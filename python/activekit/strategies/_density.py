"""Density-weighted uncertainty: information density (Settles and Craven 2008)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import clone

from .. import _kernels
from .._compat import Interval, StrOptions
from ._base import ScoringStrategy
from ._common import n_jobs_of, predict_proba
from ._embedding import (
    EMBEDDING_CONSTRAINT,
    embed_pool_and_labeled,
    embedding_docstring,
    embeds_rows_independently,
)

__all__ = ["InformationDensity"]


@embedding_docstring
class InformationDensity(ScoringStrategy):
    """Uncertainty times representativeness: ``u(x) * density(x) ** beta``.

    Uncertain rows in sparse corners of the pool are outliers that teach little; weighting
    by density prefers uncertain rows where many others lie (Settles and Craven 2008).

    ``density="cosine"``: the mean cosine similarity of the row to the whole pool, exact in
    O(n d) as the dot product of its unit vector with the mean unit vector (no n x n matrix);
    negative means are clipped to 0. ``density="knn"``: the mean similarity ``1 / (1 + d)``
    to its ``n_neighbors`` nearest pool rows in Euclidean distance ``d``, for data where
    angles mean little.

    Parameters
    ----------
    uncertainty : {"least_confident", "margin", "entropy"}, default="entropy"
    beta : float, default=1.0
        Weight of density; 0 is plain uncertainty sampling.
    density : {"cosine", "knn"}, default="cosine"
    n_neighbors : int, default=10
        For ``density="knn"``.
    {embedding_parameter}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="information_density")
    >>> learner = learner.fit(X[:40], y[:40])
    >>> learner.query(X[40:], n_instances=3).shape
    (3,)
    """

    name = "information_density"
    _parameter_constraints: dict = {  # noqa: RUF012
        "uncertainty": [StrOptions(set(_kernels.UNCERTAINTY_MEASURES))],
        "beta": [Interval(Real, 0, None, closed="left")],
        "density": [StrOptions({"cosine", "knn"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "embedding": EMBEDDING_CONSTRAINT,
    }

    def __init__(
        self, uncertainty="entropy", beta=1.0, density="cosine", n_neighbors=10, embedding=None
    ):
        self.uncertainty = uncertainty
        self.beta = beta
        self.density = density
        self.n_neighbors = n_neighbors
        self.embedding = embedding

    def scores_rows_independently(self, learner):
        """With ``density="cosine"`` a row's score needs, beside the row, only the sum of the
        pool's unit rows (:meth:`unit_row_sum`, one pass), when the embedding maps rows on
        their own; ``"knn"`` reads the row's neighbours."""
        self._validate_params()
        return self.density == "cosine" and embeds_rows_independently(self.embedding)

    def unit_row_sum(self, learner, X_rows):
        """The sum of the unit vectors of the embedded rows ``X_rows`` (float64): a part of
        the pool's sum, for a pool scored in parts (see :meth:`with_pool_sum`)."""
        E, _ = embed_pool_and_labeled(learner, X_rows, self.embedding, self.name)
        return _unit_rows(E, self.name).sum(axis=0)

    def with_pool_sum(self, unit_sum, n_pool):
        """A copy that scores rows against the pool whose unit rows sum to ``unit_sum`` over
        ``n_pool`` rows, instead of against the rows it is given (the cosine density of a
        pool split in chunks)."""
        strategy = clone(self)
        strategy.pool_unit_sum_ = np.asarray(unit_sum, dtype=np.float64)
        strategy.pool_size_ = int(n_pool)
        return strategy

    def density_of(self, learner, X_pool):
        """The density term of every pool row, in [0, 1]."""
        self._validate_params()
        E_pool, _ = embed_pool_and_labeled(learner, X_pool, self.embedding, self.name)
        n_jobs = n_jobs_of(learner)
        if self.density == "cosine" and hasattr(self, "pool_unit_sum_"):
            similarity = _unit_rows(E_pool, self.name) @ self.pool_unit_sum_ / self.pool_size_
            return np.clip(similarity, 0.0, 1.0)
        if self.density == "cosine":
            try:
                similarity = _kernels.mean_cosine_similarity(E_pool, n_jobs=n_jobs)
            except ValueError as exc:
                raise ValueError(
                    f"query_strategy={self.name!r} with density='cosine' needs pool rows of "
                    f"non-zero length (in the embedding: {exc}); use density='knn' for data "
                    "with all-zero rows"
                ) from exc
            return np.clip(similarity, 0.0, 1.0)
        if len(E_pool) < 2:
            return np.ones(len(E_pool))
        k = min(self.n_neighbors, len(E_pool) - 1)
        return _kernels.knn_density(E_pool, k, metric="euclidean", n_jobs=n_jobs)

    def score(self, learner, X_pool):
        probs = predict_proba(learner, X_pool, self.name)
        u = _kernels.uncertainty_scores(probs, self.uncertainty, n_jobs=learner.n_jobs)
        density = self.density_of(learner, X_pool).astype(np.float64)
        return u.astype(np.float64) * density**self.beta


def _unit_rows(E, name):
    """The rows of ``E`` scaled to unit length in float64, as the cosine kernel computes them
    (each row first divided by its largest magnitude, so that no square under- or
    overflows); a zero row is refused as the kernel refuses it."""
    E = np.asarray(E, dtype=np.float64)
    scale = np.abs(E).max(axis=1, initial=0.0)
    zero = np.flatnonzero(scale == 0)
    if zero.size:
        raise ValueError(
            f"query_strategy={name!r} with density='cosine' needs pool rows of non-zero "
            f"length (in the embedding: row {zero[0]} of a chunk is all zeros); use "
            "density='knn' for data with all-zero rows"
        )
    scaled = E / scale[:, None]
    return scaled / np.sqrt(np.einsum("ij,ij->i", scaled, scaled))[:, None]
