"""Expected model change and expected error: expected gradient length (Settles et al. 2008) and
expected error reduction (Roy and McCallum 2001)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy.special import entr, expit, softmax
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.extmath import row_norms
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_limits

from .._compat import Interval, StrOptions, _num_samples
from .._rows import stack_rows
from ._base import RankingStrategy, ScoringStrategy
from ._common import by_last_layer, check_probabilities, is_one_vs_rest, predict_proba

__all__ = ["ExpectedErrorReduction", "ExpectedGradientLength", "expected_gradient_lengths"]

#: Rows scored at a time by expected gradient length.
_BLOCK = 65536


# -- expected gradient length --------------------------------------------------------------


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
    if X.dtype.kind != "f":
        X = X.astype(np.float64)  # squares of a bool pool would be bools
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
    if is_one_vs_rest(model):
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
    here; a torch module (a skorch net) through per-example gradients with ``torch.func``,
    with respect to every trainable parameter (``activekit._torch_inference``).

    Parameters
    ----------
    estimator : fitted estimator
        LogisticRegression, SGDClassifier(loss="log_loss"), a skorch net (a learner's
        ``TorchClassifier``), or a Pipeline ending in one of them; the rows are then taken
        through the transforms of the earlier steps.
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
    return by_last_layer(
        estimator,
        X,
        _linear_expected_gradient_lengths,
        "expected_gradient_lengths",
        "query_strategy='expected_gradient_length' needs a model whose log-loss gradient it "
        "knows in closed form",
    )


class ExpectedGradientLength(ScoringStrategy):
    """Expected gradient length (Settles, Craven and Ray 2008): the rows that would change the
    model most.

    The score of a row ``x`` is ``sum_y p(y|x) ||grad_theta loss(x, y)||``: the norm of the
    per-example log-loss gradient with respect to the model's parameters (weights and
    intercepts), expected over the label under the model's own ``p(y|x)``. For linear models
    it is exact and cheap: one ``decision_function`` over the pool, then
    O(n_pool * (n_classes + n_features)):

    - multinomial LogisticRegression: the gradient is ``(p - e_y) outer [x, 1]``, whose norm
      is ``||p - e_y|| * sqrt(||x||^2 + 1)``;
    - binary LogisticRegression or SGDClassifier (one weight vector):
      ``2 p1 (1 - p1) sqrt(||x||^2 + 1)``;
    - SGDClassifier(loss="log_loss") on more than two classes (one-vs-rest): the gradient of
      the sum of its K binary log losses, ``||sigmoid(z) - e_y|| * sqrt(||x||^2 + 1)``;
    - without an intercept the ``+ 1`` goes; in a Pipeline, ``x`` is the row after the
      transforms of the steps before the model;
    - a torch module (a learner wrapping one, or a skorch net): the per-example gradients
      with respect to all trainable parameters, from ``torch.func`` (``vmap`` of ``grad``),
      one pass per class over batches of the pool, module in eval mode. That is
      ``n_classes`` backward passes per row: seconds for thousands of rows with a small
      network on a CPU.

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

    _rows_independent = True

    def score(self, learner, X_pool):
        # In blocks of rows: the closed forms make several (n, n_classes) float64 temporaries,
        # which on a whole pool of few features would take several times its memory.
        n = _num_samples(X_pool)
        return np.concatenate(
            [
                expected_gradient_lengths(learner.estimator_, X_pool[start : start + _BLOCK])
                for start in range(0, n, _BLOCK)
            ]
        )


# -- expected error reduction --------------------------------------------------------------


def _pool_loss(probs, loss):
    """Mean loss of a model over a pool, measured with its own predictions."""
    probs = np.asarray(probs, dtype=np.float64)
    if loss == "log_loss":
        return float(entr(probs).sum(axis=1).mean())
    return float((1.0 - probs.max(axis=1)).mean())


def _loss_after_refit(estimator, X_labeled, y_labeled, x, label, X_eval, loss):
    """Pool loss of ``estimator`` refitted on the labelled set plus ``(x, label)``."""
    model = clone(estimator)
    model.fit(stack_rows(X_labeled, x), np.concatenate([y_labeled, label]))
    return _pool_loss(model.predict_proba(X_eval), loss)


def _subsample(rng, n, size):
    """Sorted positions of ``size`` rows of ``n`` drawn without replacement; all if fewer."""
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


class ExpectedErrorReduction(RankingStrategy):
    """Expected error reduction (Roy and McCallum 2001): the rows whose label would most
    reduce the model's expected loss over the pool.

    For a candidate ``x`` and each class ``y``, the model is refitted on the labelled set
    plus ``(x, y)`` and its loss over an evaluation pool is measured with its own
    predictions: ``log_loss`` is the mean entropy ``-sum_j p'(j|u) ln p'(j|u)``, ``zero_one``
    the mean ``1 - max_j p'(j|u)``. The expectation over ``y`` uses the current model's
    ``p(y|x)``. The score is the expected reduction, the current model's loss on the same
    evaluation pool minus that expectation: higher is better, and negative when the row is
    expected to make things worse.

    The cost is ``n_candidates * n_classes`` refits of the estimator (labels the current model
    gives probability exactly 0 are skipped), each followed by ``predict_proba`` on
    ``n_eval`` rows. Candidates and the evaluation pool are drawn without replacement from the
    pool with the ``random_state`` given to :meth:`select`, so the picks are reproducible
    (the refits are as deterministic as the estimator: give it a ``random_state`` if it uses
    one). On digits (10 classes, LogisticRegression, 20 to 400 labels) the defaults make 300
    refits: seconds a round (docs/strategies.md has a measurement and its command).

    Each refit runs on one BLAS thread (small fits are far slower on several); ``n_jobs``
    runs refits in parallel threads instead, which pays off for estimators that release the
    GIL while fitting, little for a small lbfgs LogisticRegression. A
    ``joblib.parallel_config(backend="loky")`` context runs them in processes.

    Rows are scored one at a time and the batch is the top scorers (no batch-aware
    correction). If ``n_instances`` exceeds the candidates, the candidates come first, in
    order of score, then the other rows follow in random order with a NaN score: they were
    not evaluated.

    Parameters
    ----------
    loss : {"log_loss", "zero_one"}, default="log_loss"
    n_candidates : int or None, default=30
        Rows of the pool scored per round; ``None`` scores all of them.
    n_eval : int or None, default=1000
        Rows of the pool the loss is measured on; ``None`` uses the whole pool.
    n_jobs : int or None, default=None
        Threads for the refits (joblib); ``None`` is one unless inside a
        ``joblib.parallel_config`` context, ``-1`` is all cores. Results do not depend on it.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import ExpectedErrorReduction
    >>> X, y = load_iris(return_X_y=True)
    >>> strategy = ExpectedErrorReduction(n_candidates=10, n_eval=50)
    >>> learner = ActiveLearningClassifier(query_strategy=strategy, random_state=0)
    >>> learner = learner.fit(X[::10], y[::10])
    >>> idx, scores = learner.query(X, n_instances=3, return_scores=True)
    >>> idx.shape, bool(scores[0] >= scores[1] >= scores[2])
    ((3,), True)
    """

    name = "expected_error_reduction"
    _parameter_constraints: dict = {  # noqa: RUF012
        "loss": [StrOptions({"log_loss", "zero_one"})],
        "n_candidates": [Interval(Integral, 1, None, closed="left"), None],
        "n_eval": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": [Integral, None],
    }

    def __init__(self, loss="log_loss", n_candidates=30, n_eval=1000, n_jobs=None):
        self.loss = loss
        self.n_candidates = n_candidates
        self.n_eval = n_eval
        self.n_jobs = n_jobs

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """Picks, best first, with their expected reduction of the pool loss."""
        self._validate_params()
        if self.n_jobs == 0:
            raise ValueError(
                "The 'n_jobs' parameter of ExpectedErrorReduction must be None or a non-zero "
                "int. Got 0 instead."
            )
        rng = check_random_state(random_state)
        n_pool = _num_samples(X_pool)
        candidates = _subsample(rng, n_pool, self.n_candidates)
        evaluated = _subsample(rng, n_pool, self.n_eval)
        X_eval = X_pool[evaluated]
        current = _pool_loss(
            check_probabilities(predict_proba(learner, X_eval, self.name), learner, self.name),
            self.loss,
        )
        probs = check_probabilities(
            predict_proba(learner, X_pool[candidates], self.name), learner, self.name
        )

        estimator, classes = learner.estimator_, learner.classes_
        X_lab, y_lab = learner.X_labeled_, learner.y_labeled_
        tasks = [(i, j) for i in range(len(candidates)) for j in range(len(classes))]
        tasks = [(i, j) for i, j in tasks if probs[i, j] > 0]
        # One BLAS thread per refit, whatever n_jobs: a small refit is slower on several (its
        # threads spin and contend; docs/strategies.md), more threads would oversubscribe with
        # n_jobs, and the results stay independent of n_jobs.
        with threadpool_limits(limits=1, user_api="blas"):
            losses = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(_loss_after_refit)(
                    estimator,
                    X_lab,
                    y_lab,
                    X_pool[candidates[i] : candidates[i] + 1],
                    classes[j : j + 1],
                    X_eval,
                    self.loss,
                )
                for i, j in tasks
            )
        after = np.zeros_like(probs)
        for (i, j), value in zip(tasks, losses, strict=True):
            after[i, j] = value
        reduction = current - (probs * after).sum(axis=1)

        order = np.argsort(-reduction, kind="stable")  # candidates are sorted: ties to the lowest
        picks, scores = candidates[order], reduction[order]
        if n_instances > len(picks):
            rest = np.setdiff1d(np.arange(n_pool), candidates)
            extra = rng.permutation(rest)[: n_instances - len(picks)]
            picks = np.concatenate([picks, extra])
            scores = np.concatenate([scores, np.full(len(extra), np.nan)])
        return picks[:n_instances].astype(np.intp), scores[:n_instances]
