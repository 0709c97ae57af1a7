"""BADGE (Ash et al. 2020): diverse, uncertain batches from k-means++ seeding over gradient
embeddings of the last layer."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax

from .. import _kernels
from ._base import RankingStrategy
from ._common import by_last_layer, is_one_vs_rest, n_jobs_of

__all__ = ["BADGE", "gradient_embedding", "gradient_factors"]


def _linear_gradient_factors(model, X):
    """``a = o - e_yhat`` and ``h = x`` for a fitted linear model, whose gradient embedding is
    ``a outer [x, 1]``: ``o`` are the outputs whose log-loss gradient with respect to their
    own pre-activation is ``o - e_y`` (softmax probabilities; one sigmoid for a binary model;
    K sigmoids one-vs-rest)."""
    if sp.issparse(X):
        raise TypeError(
            "query_strategy='badge' needs dense features for its gradient embeddings; densify "
            "X or reduce it first (a Pipeline with TruncatedSVD, say)"
        )
    X = _kernels.as_float(X, "X", 2)  # float32 stays float32: no copy of the pool
    z = np.asarray(model.decision_function(X), dtype=np.float64)
    if len(model.classes_) == 2:
        # One weight vector: the gradient is (p1 - y) [x, 1]; the predicted y is 1 where z > 0.
        z = z.ravel()
        a = (expit(z) - (z > 0))[:, None]
    else:
        if is_one_vs_rest(model):
            a, probs = expit(z), np.asarray(model.predict_proba(X), dtype=np.float64)
        else:
            a = probs = softmax(z, axis=1)
        a[np.arange(len(a)), np.argmax(probs, axis=1)] -= 1.0
    return a, X, bool(model.fit_intercept)


def gradient_factors(estimator, X):
    """The factors of :func:`gradient_embedding`: ``(a, h, intercept)`` with the embedding of
    row ``i`` equal to ``a[i] outer [h[i], 1]`` (the ``1`` when ``intercept``).

    Parameters
    ----------
    estimator : fitted estimator
        As for :func:`gradient_embedding`.
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    a : ndarray of shape (n_samples, n_outputs), float64
        ``p - e_yhat`` (one column for a binary linear model).
    h : ndarray of shape (n_samples, n_hidden)
        The last layer's input.
    intercept : bool

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from activekit.strategies._badge import gradient_factors
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> a, h, intercept = gradient_factors(LogisticRegression().fit(X, [0, 1, 2]), X)
    >>> a.shape, h.shape, intercept
    ((3, 3), (3, 2), True)
    """
    return by_last_layer(
        estimator,
        X,
        _linear_gradient_factors,
        "gradient_factors",
        "query_strategy='badge' needs a model whose last-layer gradient it knows",
    )


def _outer(a, h, intercept):
    """The rows ``a[i] outer [h[i], 1]``, flattened (materialised: n x c x (d + 1))."""
    if intercept:
        h = np.hstack([h, np.ones((len(h), 1), dtype=h.dtype)])
    return (a[:, :, None] * h[:, None, :]).reshape(len(a), -1)


def gradient_embedding(estimator, X):
    """BADGE's gradient embedding of every row of ``X``: the gradient of the log loss at the
    model's predicted label with respect to the last layer's weights (and bias).

    For output probabilities ``p``, predicted class ``yhat`` and last-layer input ``h``, it is
    ``(p - e_yhat) outer [h, 1]``, flattened: ``n_classes * (n_hidden + 1)`` values per row
    (no ``1`` without a bias). ``h`` is the row itself for a linear model (after a
    Pipeline's earlier steps), the input of the last ``torch.nn.Linear`` for a torch module.
    A binary linear model has one weight vector: ``(p_1 - yhat) [x, 1]``.

    Parameters
    ----------
    estimator : fitted estimator
        LogisticRegression, SGDClassifier(loss="log_loss"), a skorch net, or a Pipeline
        ending in one of them.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Dense for linear models.

    Returns
    -------
    embedding : ndarray of shape (n_samples, n_dims)
        float64 (the factors' product), for linear models and torch modules alike.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from activekit.strategies._badge import gradient_embedding
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> model = LogisticRegression().fit(X, [0, 1, 2])
    >>> gradient_embedding(model, X).shape   # 3 classes x (2 features + intercept)
    (3, 9)
    """
    a, h, intercept = gradient_factors(estimator, X)
    return _outer(a, h, intercept)


def _distances_to_earlier(a, h, intercept):
    """Euclidean distance of each embedding ``a[i] outer [h[i], 1]`` to the nearest one before
    it (``inf`` first); a handful of rows, so materialised."""
    E = _outer(np.asarray(a, dtype=np.float64), np.asarray(h, dtype=np.float64), intercept)
    out = np.full(len(E), np.inf)
    for i in range(1, len(E)):
        out[i] = np.sqrt(((E[:i] - E[i]) ** 2).sum(axis=1).min())
    return out


class BADGE(RankingStrategy):
    """Batch Active learning by Diverse Gradient Embeddings (Ash et al. 2020).

    Every pool row becomes its gradient embedding: the gradient of the loss at the model's
    own predicted label with respect to the last layer's parameters,
    ``(p - e_yhat) outer [h, 1]`` (see :func:`gradient_embedding`). Its length grows with
    the model's uncertainty about the row (``p - e_yhat`` is small when the model is sure)
    and its direction says what the row would teach. The batch is drawn by k-means++
    seeding over these embeddings (the first row uniformly, each next one with probability
    proportional to its squared distance to the nearest row drawn so far), on the Rust D^2
    sampler: rows that are both uncertain and different from each other, without a
    trade-off parameter.

    ``h`` is the row itself for LogisticRegression and SGDClassifier(loss="log_loss")
    (after a Pipeline's earlier steps), and the input of the last ``torch.nn.Linear`` for a
    torch module (a learner wrapping one, or a skorch net); any other estimator is a
    ``TypeError``. The embeddings (``n_classes * (n_hidden + 1)`` values a row) are never
    formed: the Rust sampler takes each squared distance from the two factors,
    ``|a_i|^2 |h_i|^2 + |a_j|^2 |h_j|^2 - 2 (a_i . a_j)(h_i . h_j)`` (see
    :func:`activekit._kernels.kmeans_plusplus_outer`), so memory is ``n_classes + 3`` floats a
    row beside the pool, and each draw costs O(n (n_classes + n_hidden)). The draw depends
    only on the ``random_state`` handed to :meth:`select` (Ash et al.'s code starts from the
    row with the largest gradient instead of a uniform one).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> learner = ActiveLearningClassifier(query_strategy="badge", random_state=0)
    >>> learner = learner.fit(X[:50], y[:50])
    >>> idx, dist = learner.query(X[50:], n_instances=4, return_scores=True)
    >>> idx.shape, bool(dist[0] == float("inf"))
    ((4,), True)
    """

    name = "badge"

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """Picks in draw order, with each pick's distance in gradient-embedding space to the
        nearest earlier pick (``inf`` for the first)."""
        if learner is None or not hasattr(learner, "estimator_"):
            raise ValueError("query_strategy='badge' needs a fitted model (no cold start)")
        a, h, intercept = gradient_factors(learner.estimator_, X_pool)
        picks = _kernels.kmeans_plusplus_outer(
            a, h, n_instances, intercept=intercept, random_state=random_state,
            n_jobs=n_jobs_of(learner),
        )
        return picks, _distances_to_earlier(a[picks], h[picks], intercept)
