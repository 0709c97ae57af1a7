"""Expected model change: expected gradient length (Settles et al. 2008)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.extmath import row_norms

from ._base import RankingStrategy

__all__ = ["ExpectedGradientLength", "expected_gradient_lengths"]

_SUPPORTED = (
    "LogisticRegression (binary or multinomial), SGDClassifier(loss='log_loss'), "
    "or a Pipeline whose last step is one of them"
)


# -- expected gradient length --------------------------------------------------------------


def _final_step(estimator, X):
    """The last estimator of (possibly nested) Pipelines, and ``X`` taken through the steps
    before it."""
    while isinstance(estimator, Pipeline):
        if len(estimator) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator[-1]
    return estimator, X


def _is_one_vs_rest(model):
    """Whether a multiclass linear model is K binary problems rather than one softmax.

    SGDClassifier always is. LogisticRegression is multinomial, except with scikit-learn
    < 1.8's ``multi_class="ovr"``, or its liblinear solver on more than two classes.
    """
    if isinstance(model, SGDClassifier):
        return True
    multi_class = getattr(model, "multi_class", "auto")
    return multi_class == "ovr" or (
        multi_class in ("auto", "deprecated", "warn") and model.solver == "liblinear"
    )


def _sum_of_others(a):
    """``out[i, y] = sum_{k != y} a[i, k]`` for non-negative ``a``, to full relative precision.

    ``total - a[i, y]`` cancels only where ``a[i, y]`` is most of the total, which can only be
    the row's largest entry; that column is summed again without it.
    """
    out = a.sum(axis=1, keepdims=True) - a
    rows, top = np.arange(len(a)), np.argmax(a, axis=1)
    masked = a.copy()
    masked[rows, top] = 0.0
    out[rows, top] = masked.sum(axis=1)
    return out


def _expected_norm_factor(outputs, complements, probs):
    """``sum_y p(y|x) * ||outputs - e_y||`` for every row.

    ``outputs`` (n, K) are the units whose log-loss gradient with respect to their own
    pre-activation is ``outputs - e_y``: the softmax probabilities of a multinomial model, or
    the K independent sigmoids of a one-vs-rest one; ``complements`` are ``1 - outputs``,
    computed without cancellation. ``probs`` (n, K) weight the labels. The squared norm is
    ``sum_{k != y} o_k^2 + (1 - o_y)^2``: confident rows get tiny scores, not rounding noise.
    """
    sq = _sum_of_others(outputs**2) + complements**2
    return (probs * np.sqrt(sq)).sum(axis=1)


def _linear_expected_gradient_lengths(model, X):
    """EGL of a fitted LogisticRegression or SGDClassifier(loss="log_loss") on rows ``X``.

    With parameters ``theta = (W, b)`` and ``z = W x + b``, the per-example log-loss gradient
    is ``(o - e_y) outer [x, 1]``, so its norm factorises: ``||o - e_y|| * sqrt(||x||^2 + 1)``
    (no ``+ 1`` without an intercept, which is then no parameter).
    """
    scale = row_norms(X, squared=True)
    if model.fit_intercept:
        scale = scale + 1.0
    scale = np.sqrt(scale)
    z = np.asarray(model.decision_function(X), dtype=np.float64)
    if len(model.classes_) == 2:
        # One weight vector: p1 = sigmoid(w.x + b), gradient (p1 - y) [x, 1] for y in {0, 1};
        # E|p1 - y| = p0 p1 + p1 p0, with p0 = sigmoid(-z) rather than 1 - p1.
        z = z.ravel()
        return 2.0 * expit(z) * expit(-z) * scale
    if _is_one_vs_rest(model):
        # K binary log losses, one per class (the loss the model is trained on); the label is
        # drawn from the normalised probabilities.
        outputs, complements = expit(z), expit(-z)
        probs = np.asarray(model.predict_proba(X), dtype=np.float64)
    else:
        outputs = probs = softmax(z, axis=1)
        complements = _sum_of_others(probs)
    return _expected_norm_factor(outputs, complements, probs) * scale


def expected_gradient_lengths(estimator, X):
    """Expected norm, over labels drawn from the model, of the per-example log-loss gradient
    with respect to the model's parameters, for every row of ``X``.

    The one place that knows which models have a gradient form: linear models in closed form
    here. Other model kinds (a torch module's per-example gradients) are dispatched from here
    too.

    Parameters
    ----------
    estimator : fitted estimator
        LogisticRegression, SGDClassifier(loss="log_loss"), or a Pipeline ending in one of
        them; the rows are then taken through the transforms of the earlier steps.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)

    Returns
    -------
    lengths : ndarray of shape (n_samples,)

    Raises
    ------
    TypeError
        For any other estimator; the message lists what is supported.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from activekit.strategies._expected import expected_gradient_lengths
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> model = LogisticRegression().fit(X, [0, 0, 1, 1])
    >>> lengths = expected_gradient_lengths(model, np.array([[1.5], [10.0]]))
    >>> bool(lengths[0] > lengths[1])  # the boundary beats a confidently classified row
    True
    """
    model, Xt = _final_step(estimator, X)
    if isinstance(model, LogisticRegression) or (
        isinstance(model, SGDClassifier) and model.loss == "log_loss"
    ):
        return _linear_expected_gradient_lengths(model, Xt)
    # A torch module (another issue) gets its branch here, on the same transformed rows.
    what = type(model).__name__
    if isinstance(model, SGDClassifier):
        what = f"SGDClassifier(loss={model.loss!r})"
    if model is not estimator:
        what = f"a Pipeline ending in {what}"
    raise TypeError(
        f"query_strategy='expected_gradient_length' needs a model whose log-loss gradient it "
        f"knows in closed form, got {what}; supported: {_SUPPORTED}"
    )


class ExpectedGradientLength(RankingStrategy):
    """Expected gradient length (Settles, Craven and Ray 2008): the rows that would change the
    model most.

    The score of a row ``x`` is ``sum_y p(y|x) ||grad_theta loss(x, y)||``: the norm of the
    per-example log-loss gradient with respect to the model's parameters (weights and
    intercepts), expected over the label under the model's own ``p(y|x)``. For linear models
    it is exact and cheap, O(n_pool * n_classes) after ``predict_proba``:

    - multinomial LogisticRegression: the gradient is ``(p - e_y) outer [x, 1]``, whose norm
      is ``||p - e_y|| * sqrt(||x||^2 + 1)``;
    - binary LogisticRegression or SGDClassifier (one weight vector):
      ``2 p1 (1 - p1) sqrt(||x||^2 + 1)``;
    - SGDClassifier(loss="log_loss") on more than two classes (one-vs-rest): the gradient of
      the sum of its K binary log losses, ``||sigmoid(z) - e_y|| * sqrt(||x||^2 + 1)``;
    - without an intercept the ``+ 1`` goes; in a Pipeline, ``x`` is the row after the
      transforms of the steps before the model.

    Any other estimator is a ``TypeError`` that lists these.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> learner = ActiveLearningClassifier(query_strategy="expected_gradient_length")
    >>> learner = learner.fit(X[:50], y[:50])
    >>> idx, scores = learner.query(X[50:], n_instances=3, return_scores=True)
    >>> bool(scores[0] >= scores[1] >= scores[2])
    True
    """

    name = "expected_gradient_length"

    def score(self, learner, X_pool):
        return expected_gradient_lengths(learner.estimator_, X_pool)
