"""BADGE (Ash et al. 2020): diverse, uncertain batches from k-means++ seeding over gradient
embeddings of the last layer."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.linear_model import LogisticRegression, SGDClassifier

from .. import _kernels
from .._dependencies import is_skorch_net
from ._base import OrderedStrategy
from ._expected import _final_step, _is_one_vs_rest

__all__ = ["BADGE", "gradient_embedding"]

_SUPPORTED = (
    "LogisticRegression, SGDClassifier(loss='log_loss'), a torch module (skorch net), or a "
    "Pipeline whose last step is one of them"
)


def _linear_gradient_embedding(model, X):
    """``(o - e_yhat) outer [x, 1]`` for a fitted linear model: ``o`` are the outputs whose
    log-loss gradient with respect to their own pre-activation is ``o - e_y`` (softmax
    probabilities; one sigmoid for a binary model; K sigmoids one-vs-rest)."""
    if sp.issparse(X):
        raise TypeError(
            "query_strategy='badge' builds dense gradient embeddings of n_classes x "
            "(n_features + 1) values per row and needs dense features; densify X or reduce it "
            "first (a Pipeline with TruncatedSVD, say)"
        )
    X = np.asarray(X, dtype=np.float64)
    h = np.hstack([X, np.ones((len(X), 1))]) if model.fit_intercept else X
    z = np.asarray(model.decision_function(X), dtype=np.float64)
    if len(model.classes_) == 2:
        # One weight vector: the gradient is (p1 - y) [x, 1]; the predicted y is 1 where z > 0.
        z = z.ravel()
        a = (expit(z) - (z > 0))[:, None]
    else:
        if _is_one_vs_rest(model):
            outputs, probs = expit(z), np.asarray(model.predict_proba(X), dtype=np.float64)
        else:
            outputs = probs = softmax(z, axis=1)
        a = outputs.copy()
        a[np.arange(len(a)), np.argmax(probs, axis=1)] -= 1.0
    return (a[:, :, None] * h[:, None, :]).reshape(len(X), -1)


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
        float64 for linear models, the module's dtype for torch.

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
    model, Xt = _final_step(estimator, X)
    if isinstance(model, LogisticRegression) or (
        isinstance(model, SGDClassifier) and model.loss == "log_loss"
    ):
        return _linear_gradient_embedding(model, Xt)
    if is_skorch_net(model):
        from .._torch_inference import gradient_embedding as torch_embedding

        return torch_embedding(model, Xt)
    what = type(model).__name__
    if model is not estimator:
        what = f"a Pipeline ending in {what}"
    raise TypeError(
        f"query_strategy='badge' needs a model whose last-layer gradient it knows, got {what}; "
        f"supported: {_SUPPORTED}"
    )


def _distances_to_earlier(E):
    """Euclidean distance of each row of ``E`` to the nearest row before it (``inf`` first)."""
    E = np.asarray(E, dtype=np.float64)
    out = np.full(len(E), np.inf)
    for i in range(1, len(E)):
        out[i] = np.sqrt(((E[:i] - E[i]) ** 2).sum(axis=1).min())
    return out


class BADGE(OrderedStrategy):
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
    ``TypeError``. The embeddings are ``n_classes * (n_hidden + 1)`` values per pool row,
    all held in memory. The draw depends only on the ``random_state`` handed to
    :meth:`select` (Ash et al.'s code starts from the row with the largest gradient instead
    of a uniform one).

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
        E = gradient_embedding(learner.estimator_, X_pool)
        picks = _kernels.kmeans_plusplus(
            E, n_instances, random_state=random_state, n_jobs=getattr(learner, "n_jobs", None)
        )
        return picks, _distances_to_earlier(E[picks])
