"""The space distance-based strategies measure in, and helpers they share."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .. import _kernels
from .._compat import HasMethods, _num_samples
from .._rows import stack_rows
from ._common import fill_docstring, torch_net

__all__ = [
    "EMBEDDING_CONSTRAINT",
    "EMBEDDING_DOC",
    "embed_pool_and_labeled",
    "embedding_docstring",
    "embeds_rows_independently",
    "uncertainty_or_none",
]

#: The ``embedding`` parameter of every distance-based strategy: a callable, a transformer, or
#: None (raw features, a wrapped Pipeline's transform, or a torch module's penultimate layer).
EMBEDDING_CONSTRAINT = [callable, HasMethods(["transform"]), None]

#: The docstring entry of that parameter, placed by :func:`embedding_docstring`.
EMBEDDING_DOC = """\
embedding : None, callable or transformer, default=None
    The space the strategy measures distances in. ``None``: a torch module's penultimate
    layer (:func:`activekit.torch.embed`), else the transform of a wrapped Pipeline's steps
    but the last, else the raw features. A callable ``f(X) -> array`` is applied to the rows;
    a transformer is used as it is when fitted, else fitted (unsupervised) on the labelled
    rows and the pool. The embedding must be a dense, finite, numeric 2-D array."""


def embedding_docstring(cls):
    """Class decorator: the line ``{embedding_parameter}`` of the class's docstring becomes
    :data:`EMBEDDING_DOC`."""
    cls.__doc__ = fill_docstring(cls.__doc__, embedding_parameter=EMBEDDING_DOC)
    return cls


def embeds_rows_independently(embedding):
    """Whether ``embedding`` maps each row on its own: ``None``, a callable, or a fitted
    transformer; not a transformer still to be fitted, which is fitted on the pool."""
    if embedding is None or not callable(getattr(embedding, "transform", None)):
        return True
    try:
        check_is_fitted(embedding)
    except NotFittedError:
        return False
    return True


def _torch_embedding(estimator):
    """The embedding of a torch net (or a Pipeline ending in one), else None: the input of the
    net's ``embedding_layer``, by default its last ``torch.nn.Linear``."""
    if torch_net(estimator) is None:
        return None
    from .._torch_inference import embed  # torch is imported already: a net exists

    return lambda X: embed(estimator, X)


def _dense(E, what, strategy):
    if sp.issparse(E):
        raise TypeError(
            f"query_strategy={strategy!r} measures distances and needs dense features, but "
            f"{what} is a sparse matrix; densify it (X.toarray()) or give the strategy an "
            "embedding (a callable or transformer returning dense arrays)"
        )
    E = np.asarray(E)
    if E.ndim != 2 or E.dtype.kind not in "biuf":
        raise ValueError(
            f"the embedding for query_strategy={strategy!r} must be a 2-D numeric array, got "
            f"shape {E.shape} and dtype {E.dtype}"
        )
    if E.dtype.kind != "f" or E.dtype.itemsize < 4:
        # Distances, means and clusters are taken in float: an int or bool pool would round
        # (or, mixed with float labelled rows, truncate) them. float32 stays float32.
        E = E.astype(np.float64)
    if not np.all(np.isfinite(E)):
        raise ValueError(f"the embedding of {what} for query_strategy={strategy!r} has NaN or inf")
    return E


def _transform(learner, X_pool, labeled, embedding):
    """The function mapping rows to the embedding space."""
    if embedding is None:
        estimator = getattr(learner, "estimator_", None)
        torch_embedding = _torch_embedding(estimator)
        if torch_embedding is not None:
            return torch_embedding
        if isinstance(estimator, Pipeline) and len(estimator) > 1:
            return estimator[:-1].transform
        return lambda X: X
    if callable(getattr(embedding, "transform", None)):
        try:
            check_is_fitted(embedding)
            return embedding.transform
        except NotFittedError:
            # Unsupervised: fit on every row the strategy sees, labelled and not.
            rows = X_pool if labeled is None else stack_rows(labeled, X_pool)
            return clone(embedding).fit(rows).transform
    if callable(embedding):
        return embedding
    raise TypeError(
        "embedding must be None, a callable or a transformer with a transform method, got "
        f"{type(embedding).__name__}"
    )


def embed_pool_and_labeled(learner, X_pool, embedding, strategy):
    """Dense embeddings of the pool and of the learner's labelled rows.

    ``embedding`` is ``None`` (a torch net's penultimate layer, see
    :func:`activekit.torch.embed`; else the transform of a wrapped Pipeline's steps but the
    last; else the raw features), a callable ``f(X) -> array``, or a transformer: used as it
    is when fitted, else fitted (unsupervised) on the labelled rows and the pool. Without a
    learner (cold start) the labelled embedding is empty.
    """
    labeled = getattr(learner, "X_labeled_", None)
    if labeled is not None and _num_samples(labeled) == 0:
        labeled = None
    transform = _transform(learner, X_pool, labeled, embedding)
    E_pool = _dense(transform(X_pool), "the pool", strategy)
    if labeled is None:
        return E_pool, np.empty((0, E_pool.shape[1]), dtype=E_pool.dtype)
    E_lab = _dense(transform(labeled), "the labelled rows", strategy)
    return E_pool, E_lab


def uncertainty_or_none(learner, X_pool, measure):
    """Uncertainty of each pool row under ``measure``, or ``None`` when the learner cannot
    say (no learner yet, no predict_proba, or a single class). With a multi-label learner,
    the measure of each label's two-class distribution, averaged over the labels."""
    if learner is None or not hasattr(learner, "estimator_"):
        return None
    if not hasattr(learner, "classes_") or not hasattr(learner.estimator_, "predict_proba"):
        return None  # a regressor: no classes
    if len(learner.classes_) < 2:
        return None
    if np.ndim(getattr(learner, "y_labeled_", ())) == 2:
        from ._multilabel import label_probabilities, multilabel_uncertainty

        p = label_probabilities(learner, X_pool, measure)
        return multilabel_uncertainty(p, measure, n_jobs=learner.n_jobs)
    probs = learner.estimator_.predict_proba(X_pool)
    return _kernels.uncertainty_scores(probs, measure, n_jobs=learner.n_jobs)
