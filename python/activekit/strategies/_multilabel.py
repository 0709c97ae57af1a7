"""Multi-label strategies: the learner was fitted on an indicator matrix ``y`` (one column per
label) and the model gives, for every pool row, the probability ``p_l`` that each label ``l``
is present (:func:`label_probabilities` brings the shapes scikit-learn's multi-label
estimators return to one ``(n_pool, n_labels)`` matrix).

- ``mean_entropy`` / ``max_entropy``: the mean / the largest binary entropy
  ``-p ln p - (1 - p) ln(1 - p)`` over the labels.
- ``binary_minimization`` (Brinker 2006): the row whose least certain label is closest to the
  boundary, score ``-min_l |p_l - 0.5|``.
- ``max_loss`` / ``mean_max_loss`` (Li, Wang and Sung 2004): with ``f_l = 2 p_l - 1`` and the
  predicted labels ``y_l = sign(f_l)``, the loss ``(1 - y_l f_l) / 2 = min(p_l, 1 - p_l)``,
  its largest value (max loss) or its mean (mean max loss) over the labels.
- ``mmc`` (Yang et al. 2009, maximum loss reduction with maximal confidence): the number of
  labels of a row is predicted by a logistic regression on its sorted, normalised
  probabilities, trained on the labelled set; the top that many labels are predicted present
  (``yhat = +1``, the rest ``-1``), and the score is ``sum_l (1 - yhat_l f_l) / 2``, as in
  libact's ``MMC``.
- ``label_cardinality`` (Li and Guo 2013, label cardinality inconsistency): ``|#{l: p_l >
  0.5} - c|`` where ``c`` is the mean number of labels per labelled row.

They refuse a learner fitted on single-label ``y`` with a ValueError naming the target type
they support.

The first five are scored and selected by the Rust kernel
:func:`activekit._kernels.multilabel_scores` / ``multilabel_top_k`` (one vectorised pass,
labels reduced in order, on ``learner.n_jobs`` threads; a torch twin inside a device scope).
MMC and label cardinality stay in NumPy: their pool-sized final step is one vectorised
``O(n L)`` pass (a comparison and a row sum, or ``(1 - yhat f) / 2`` summed), bound by reading
``p`` as NumPy already is, while their cost is elsewhere (MMC's per-row sort and its logistic
regression; ``predict_proba`` for both); a kernel would add a Rust function, a binding and a
twin to save a fraction of a pass.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import type_of_target

from .. import _kernels
from ._base import ScoringStrategy

__all__ = [
    "MMC",
    "BinaryMinimization",
    "LabelCardinalityInconsistency",
    "MaxEntropyMultilabel",
    "MaxLoss",
    "MeanEntropyMultilabel",
    "MeanMaxLoss",
    "binary_entropy",
    "label_probabilities",
    "mmc_scores",
    "multilabel_uncertainty",
]

#: The target types the multi-label strategies support.
MULTILABEL_TARGETS = ("multilabel-indicator",)


def check_multilabel(learner, strategy_name):
    """Raise a ValueError unless ``learner`` was fitted on a multi-label indicator ``y``."""
    kind = type_of_target(learner.y_labeled_)
    if kind not in MULTILABEL_TARGETS:
        raise ValueError(
            f"query strategy {strategy_name!r} supports targets {list(MULTILABEL_TARGETS)}, "
            f"not {kind!r}: the learner was fitted on a {kind} y; use an indicator matrix y "
            "(one column per label) or a single-label strategy"
        )
    return learner.y_labeled_.shape[1]


def _positive_column(proba, classes):
    """P(label present) from one label's ``(n, n_classes)`` probabilities."""
    proba = np.asarray(proba, dtype=np.float64)
    classes = np.asarray(classes)
    hit = np.flatnonzero(classes == 1)
    if hit.size:
        return proba[:, hit[0]]
    # The label was absent (or always present) in the labelled rows: one constant class.
    return np.full(proba.shape[0], float(classes.size == 1 and classes[0] == 1))


def label_probabilities(learner, X_pool, strategy_name):
    """``(n_pool, n_labels)`` probabilities that each label is present, checked.

    ``OneVsRestClassifier`` and ``MLPClassifier`` return that matrix; ``MultiOutputClassifier``,
    ``RandomForestClassifier`` and the other native multi-output classifiers a list of
    ``(n_pool, n_classes_l)`` arrays, whose column for class 1 is taken.
    """
    n_labels = check_multilabel(learner, strategy_name)
    estimator = learner.estimator_
    if not hasattr(estimator, "predict_proba"):
        raise TypeError(
            f"query_strategy={strategy_name!r} needs label probabilities, but the estimator "
            f"{type(estimator).__name__} has no predict_proba"
        )
    proba = estimator.predict_proba(X_pool)
    if isinstance(proba, list):
        classes = getattr(estimator, "classes_", None)
        if classes is None or len(classes) != len(proba):
            classes = [np.array([0, 1])] * len(proba)
        p = np.column_stack([_positive_column(q, c) for q, c in zip(proba, classes, strict=True)])
    else:
        p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != n_labels:
        raise ValueError(
            f"query_strategy={strategy_name!r}: predict_proba gave shape {np.shape(p)}; "
            f"expected (n_rows, {n_labels}), one column per label"
        )
    finite = np.isfinite(p).all(axis=1)
    bad = ~finite | (p < 0).any(axis=1) | (p > 1).any(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        if not finite[row]:
            reason = "contains NaN or inf"
        elif (p[row] < 0).any():
            reason = f"has the negative entry {p[row].min()}"
        else:
            reason = f"is above 1 ({p[row].max()})"
        raise ValueError(
            f"query_strategy={strategy_name!r}: predict_proba row {row} {reason}; expected "
            "the probability of each label, in [0, 1]"
        )
    return p


def binary_entropy(p):
    """Elementwise ``-p ln p - (1 - p) ln(1 - p)``, 0 at ``p`` = 0 or 1."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log(p)) - (1 - p) * np.log1p(-p)
    return np.nan_to_num(h, nan=0.0)


def multilabel_uncertainty(p, measure, n_jobs=None):
    """The uncertainty ``measure`` of each label's two-class distribution ``(1 - p_l, p_l)``,
    averaged over the labels, by the multi-label kernel: ``entropy`` the binary entropy
    (``mean_entropy``), ``least_confident`` ``min(p, 1 - p)`` (``mean_max_loss``), ``margin``
    ``1 - |2p - 1| = 2 min(p, 1 - p)`` (twice that)."""
    kernel_measure = {
        "entropy": "mean_entropy",
        "least_confident": "mean_max_loss",
        "margin": "mean_max_loss",
    }.get(measure)
    if kernel_measure is None:
        raise ValueError(
            f"uncertainty={measure!r} is not a measure; valid measures are "
            "['entropy', 'least_confident', 'margin']"
        )
    scores = np.asarray(_kernels.multilabel_scores(p, kernel_measure, n_jobs=n_jobs), np.float64)
    return 2 * scores if measure == "margin" else scores


def mmc_scores(p_pool, p_labeled, y_labeled, random_state=0):
    """The MMC score of every pool row (Yang et al. 2009, as libact computes it)."""

    def sorted_normalised(p):
        s = -np.sort(-p, axis=1)
        total = s.sum(axis=1, keepdims=True)
        return np.divide(s, total, out=np.full_like(s, 1.0 / s.shape[1]), where=total > 0)

    counts = np.asarray(y_labeled != 0).sum(axis=1)
    pool_features = sorted_normalised(p_pool)
    if len(np.unique(counts)) == 1:
        n_pred = np.full(len(p_pool), counts[0])
    else:
        lr = LogisticRegression(max_iter=1000, random_state=random_state)
        lr.fit(sorted_normalised(p_labeled), counts)
        n_pred = lr.predict(pool_features).astype(int)
    order = np.argsort(-p_pool, axis=1, kind="stable")
    rank = np.empty_like(order)
    rows = np.arange(len(p_pool))[:, None]
    rank[rows, order] = np.arange(p_pool.shape[1])
    yhat = np.where(rank < n_pred[:, None], 1.0, -1.0)
    f = 2 * p_pool - 1
    return ((1 - yhat * f) / 2).sum(axis=1)


class _MultilabelScoring(ScoringStrategy):
    _rows_independent = True
    _targets = MULTILABEL_TARGETS

    def score(self, learner, X_pool):
        return self._score(label_probabilities(learner, X_pool, self.name), learner)


class _KernelScoring(_MultilabelScoring):
    """A measure of :func:`activekit._kernels.multilabel_scores`, named as the strategy:
    scored by the kernel, and selected by its fused top-k."""

    def _score(self, p, learner):
        return _kernels.multilabel_scores(p, self.name, n_jobs=learner.n_jobs)

    def rank(self, learner, X_pool, n_instances, random_state=None):
        p = label_probabilities(learner, X_pool, self.name)
        return _kernels.multilabel_top_k(p, self.name, n_instances, n_jobs=learner.n_jobs)


class MeanEntropyMultilabel(_KernelScoring):
    """Multi-label: the rows with the highest mean binary entropy over the labels.

    With ``p_l`` the probability that label ``l`` of a row is present and ``L`` labels, the
    score is

    ``(1/L) sum_l h(p_l)``, ``h(p) = -p ln p - (1 - p) ln(1 - p)`` (``0 ln 0 = 0``),

    the entropy of uncertainty sampling (Lewis and Gale 1994; Settles 2009) taken per label,
    on its two-class distribution ``(1 - p_l, p_l)``, and averaged over the labels.

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import MeanEntropyMultilabel
    >>> X, Y = make_multilabel_classification(n_samples=80, n_classes=3, random_state=0)
    >>> learner = ActiveLearningClassifier(query_strategy=MeanEntropyMultilabel())
    >>> learner = learner.fit(X[:30], Y[:30])
    >>> idx, scores = learner.query(X[30:], n_instances=3, return_scores=True)
    >>> idx.shape, bool(scores[0] >= scores[1] >= scores[2])
    ((3,), True)
    """

    name = "mean_entropy"


class MaxEntropyMultilabel(_KernelScoring):
    """Multi-label: the rows whose most uncertain label has the highest binary entropy.

    ``max_l h(p_l)``, ``h(p) = -p ln p - (1 - p) ln(1 - p)`` (``0 ln 0 = 0``), with ``p_l`` the
    probability that label ``l`` of a row is present: the entropy of uncertainty sampling
    (Lewis and Gale 1994; Settles 2009) of the least certain label.

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import MaxEntropyMultilabel
    >>> X, Y = make_multilabel_classification(n_samples=80, n_classes=3, random_state=0)
    >>> learner = ActiveLearningClassifier(query_strategy=MaxEntropyMultilabel())
    >>> learner = learner.fit(X[:30], Y[:30])
    >>> idx, scores = learner.query(X[30:], n_instances=3, return_scores=True)
    >>> idx.shape, bool(scores[0] >= scores[1] >= scores[2])
    ((3,), True)
    """

    name = "max_entropy"


class BinaryMinimization(_KernelScoring):
    """Multi-label: the rows whose least certain label is nearest the decision boundary.

    ``-min_l |p_l - 0.5|``, with ``p_l`` the probability that label ``l`` of a row is present
    (Brinker, "On active learning in multi-label classification", 2006: binary minimization
    over one-vs-rest classifiers, here on their probabilities).

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import BinaryMinimization
    >>> X, Y = make_multilabel_classification(n_samples=80, n_classes=3, random_state=0)
    >>> learner = ActiveLearningClassifier(query_strategy=BinaryMinimization())
    >>> learner = learner.fit(X[:30], Y[:30])
    >>> idx, scores = learner.query(X[30:], n_instances=3, return_scores=True)
    >>> idx.shape, bool(scores[0] >= scores[1] >= scores[2])
    ((3,), True)
    """

    name = "binary_minimization"


class MaxLoss(_KernelScoring):
    """Multi-label: the rows with the largest loss on any label.

    With ``f_l = 2 p_l - 1`` and the predicted labels ``y_l = sign(f_l)``, each label's loss is
    ``(1 - y_l f_l) / 2 = min(p_l, 1 - p_l)``; the score is ``max_l min(p_l, 1 - p_l)``
    (Li, Wang and Sung, "Multi-label SVM active learning for image classification", 2004).

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import MaxLoss
    >>> X, Y = make_multilabel_classification(n_samples=80, n_classes=3, random_state=0)
    >>> learner = ActiveLearningClassifier(query_strategy=MaxLoss())
    >>> learner = learner.fit(X[:30], Y[:30])
    >>> idx, scores = learner.query(X[30:], n_instances=3, return_scores=True)
    >>> idx.shape, bool(scores[0] >= scores[1] >= scores[2])
    ((3,), True)
    """

    name = "max_loss"


class MeanMaxLoss(_KernelScoring):
    """Multi-label: the rows with the largest mean loss over the labels.

    ``(1/L) sum_l min(p_l, 1 - p_l)``, the mean over the ``L`` labels of the loss of
    :class:`MaxLoss` (Li, Wang and Sung 2004).

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import MeanMaxLoss
    >>> X, Y = make_multilabel_classification(n_samples=80, n_classes=3, random_state=0)
    >>> learner = ActiveLearningClassifier(query_strategy=MeanMaxLoss())
    >>> learner = learner.fit(X[:30], Y[:30])
    >>> idx, scores = learner.query(X[30:], n_instances=3, return_scores=True)
    >>> idx.shape, bool(scores[0] >= scores[1] >= scores[2])
    ((3,), True)
    """

    name = "mean_max_loss"


class MMC(_MultilabelScoring):
    """Multi-label: maximum loss reduction with maximal confidence.

    The number of labels ``m`` of each pool row is predicted by a logistic regression on its
    probabilities sorted in decreasing order and normalised to sum to one, trained on the
    labelled rows' label counts; the ``m`` most probable labels are predicted present
    (``yhat_l = +1``, the others ``-1``), and with ``f_l = 2 p_l - 1`` the score is
    ``sum_l (1 - yhat_l f_l) / 2`` (Yang, Sun, Wang, Zha and Wu, "Effective multi-label active
    learning for text classification", KDD 2009; computed as libact's ``MMC``). The final
    step is one vectorised NumPy pass (see the module's notes).

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import MMC
    >>> X, Y = make_multilabel_classification(n_samples=80, n_classes=3, random_state=0)
    >>> learner = ActiveLearningClassifier(query_strategy=MMC())
    >>> learner = learner.fit(X[:30], Y[:30])
    >>> idx, scores = learner.query(X[30:], n_instances=3, return_scores=True)
    >>> idx.shape, bool(scores[0] >= scores[1] >= scores[2])
    ((3,), True)
    """

    name = "mmc"

    def _score(self, p, learner):
        p_labeled = label_probabilities(learner, learner.X_labeled_, self.name)
        return mmc_scores(p, p_labeled, learner.y_labeled_)


class LabelCardinalityInconsistency(_MultilabelScoring):
    """Multi-label: the rows whose predicted number of labels is farthest from the labelled
    rows' mean.

    ``|#{l: p_l > 0.5} - c|``, with ``c`` the mean number of labels per labelled row (Li and
    Guo, "Active learning with multi-label SVM classification", IJCAI 2013: label cardinality
    inconsistency). One vectorised NumPy pass (see the module's notes).

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import LabelCardinalityInconsistency
    >>> X, Y = make_multilabel_classification(n_samples=80, n_classes=3, random_state=0)
    >>> learner = ActiveLearningClassifier(query_strategy=LabelCardinalityInconsistency())
    >>> learner = learner.fit(X[:30], Y[:30])
    >>> idx, scores = learner.query(X[30:], n_instances=3, return_scores=True)
    >>> idx.shape, bool(scores[0] >= scores[1] >= scores[2])
    ((3,), True)
    """

    name = "label_cardinality"

    def _score(self, p, learner):
        cardinality = np.asarray(learner.y_labeled_ != 0).sum(axis=1).mean()
        return np.abs((p > 0.5).sum(axis=1) - cardinality).astype(np.float64)
