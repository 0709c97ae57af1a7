"""What several strategies need alike: the model's class probabilities, checked; the kind of
model behind a learner (a skorch net as the last step, a linear model with a log loss); the
name a strategy goes by in messages; fresh copies of component strategies; and docstring
entries shared by several classes, written once.

Seeds come from :mod:`activekit._random` (``draw_seed``), the kernels from
:mod:`activekit._kernels`.
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline

from .._dependencies import is_skorch_net

__all__ = [
    "ALL_TARGETS",
    "CLASS_TARGETS",
    "SUPPORTED_LAST_LAYERS",
    "by_last_layer",
    "check_probabilities",
    "check_target_type",
    "common_targets",
    "fill_docstring",
    "final_step",
    "is_one_vs_rest",
    "n_jobs_of",
    "predict_proba",
    "strategies_for",
    "strategy_label",
    "targets_of",
    "torch_net",
    "updated_copies",
]


# -- names and settings ----------------------------------------------------------------------


def strategy_label(strategy):
    """How messages name a strategy: a name as it is, else the object's registered ``name``,
    else its class name.

    Examples
    --------
    >>> from activekit.strategies import CoreSet
    >>> from activekit.strategies._common import strategy_label
    >>> strategy_label("margin"), strategy_label(CoreSet()), strategy_label(object())
    ('margin', 'coreset', 'object')
    """
    if isinstance(strategy, str):
        return strategy
    return getattr(strategy, "name", type(strategy).__name__)


#: Every target type a learner may hold (names of ``type_of_target``).
ALL_TARGETS = ("binary", "multiclass", "continuous", "multilabel-indicator")
#: Single-label classes: what most strategies support.
CLASS_TARGETS = ("binary", "multiclass")


def check_target_type(strategy, y_or_learner):
    """Raise a ValueError naming the target types ``strategy`` supports if the targets of
    ``y_or_learner`` (labels, a learner, or a target type name) are not one of them.

    ``strategy`` is a registered name or a strategy object; an object without ``_targets``
    (a user's strategy) is not checked. A regressor's targets are ``"continuous"`` whatever
    their values.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit.strategies._common import check_target_type
    >>> check_target_type("margin", np.array([0, 1, 1]))
    >>> check_target_type("margin", np.array([0.5, 1.25, 2.0]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: query strategy 'margin' supports targets ['binary', 'multiclass'], not \
'continuous'; strategies for 'continuous' targets: ['committee_variance', 'coreset', ...]
    """
    if isinstance(strategy, str):
        from ._registry import _table

        cls = _table().get(strategy)
        if cls is None:
            return  # unknown names are reported by get_strategy
        strategy = cls()
    targets = targets_of(strategy)
    if targets is None:
        return
    if isinstance(y_or_learner, str):
        kind = y_or_learner
    elif hasattr(y_or_learner, "y_labeled_") or hasattr(y_or_learner, "query"):
        kind = _learner_target(y_or_learner)
    else:
        from sklearn.utils.multiclass import type_of_target

        kind = type_of_target(y_or_learner, input_name="y")
    if not targets:
        raise ValueError(
            f"query strategy {strategy_label(strategy)!r} supports no target type: the "
            "strategies it is made of have none in common"
        )
    if kind not in targets:
        raise ValueError(
            f"query strategy {strategy_label(strategy)!r} supports targets "
            f"{list(targets)}, not {kind!r}; strategies for {kind!r} targets: "
            f"{strategies_for(kind)}"
        )


def strategies_for(kind):
    """Sorted names of the registered strategies that support target type ``kind``, hybrids
    with their default parts included.

    Examples
    --------
    >>> from activekit.strategies._common import strategies_for
    >>> strategies_for("continuous")[:4]
    ['committee_variance', 'coreset', 'emcm', 'gsx']
    """
    from ._registry import _table

    return sorted(name for name, cls in _table().items() if kind in targets_of(cls()))


def targets_of(strategy):
    """The target types ``strategy`` (a strategy object) supports; ``None`` for a user's
    object that does not say (it is not checked)."""
    supported = getattr(strategy, "supported_targets", None)
    if callable(supported):
        return tuple(supported())
    targets = getattr(strategy, "_targets", None)
    return None if targets is None else tuple(targets)


def common_targets(parts, within=ALL_TARGETS):
    """The target types every strategy in ``parts`` (resolved objects) supports, among
    ``within``, in the order of ``ALL_TARGETS``: what a strategy made of them supports."""
    kinds = set(within)
    for part in parts:
        targets = targets_of(part)
        if targets is not None:
            kinds &= set(targets)
    return tuple(kind for kind in ALL_TARGETS if kind in kinds)


def _learner_target(learner):
    from sklearn.base import is_regressor
    from sklearn.utils.multiclass import type_of_target

    if is_regressor(learner):
        return "continuous"
    if not hasattr(learner, "y_labeled_"):
        return "multiclass"  # an unfitted classifier: what every strategy supports
    return type_of_target(learner.y_labeled_, input_name="y")


def n_jobs_of(learner):
    """The learner's ``n_jobs`` (threads for the kernels); ``None`` without a learner."""
    return getattr(learner, "n_jobs", None)


def updated_copies(strategies, learner):
    """Shallow copies of ``strategies``, each told of the learner's new model through its
    ``update`` hook: the originals are left as they were, as the learner's protocol asks."""
    fresh = []
    for strategy in strategies:
        strategy = copy.copy(strategy)
        update = getattr(strategy, "update", None)
        if callable(update):
            update(learner)
        fresh.append(strategy)
    return fresh


# -- class probabilities ---------------------------------------------------------------------


def predict_proba(learner, X_pool, strategy_name):
    """Class probabilities of the learner's model on the pool, checked for use in a score."""
    estimator = learner.estimator_
    if not hasattr(estimator, "predict_proba"):
        raise TypeError(
            f"query_strategy={strategy_name!r} needs class probabilities, but the estimator "
            f"{type(estimator).__name__} has no predict_proba; use an estimator with "
            "predict_proba or query_strategy='random'"
        )
    if len(learner.classes_) < 2:
        raise ValueError(
            f"query_strategy={strategy_name!r} needs a model trained on at least 2 classes; "
            f"the labelled set has only the class {learner.classes_.tolist()}"
        )
    return estimator.predict_proba(X_pool)


def check_probabilities(probs, learner, strategy_name):
    """``probs`` as float64 after checking that each row is a distribution over the classes.

    For strategies that use probabilities in NumPy; the kernels check their own input.
    """
    p = np.asarray(probs, dtype=np.float64)
    n_classes = len(learner.classes_)
    if p.ndim != 2 or p.shape[1] != n_classes:
        raise ValueError(
            f"query_strategy={strategy_name!r}: predict_proba returned shape {p.shape}; "
            f"expected (n_rows, {n_classes}), one column per class"
        )
    tol = max(1e-6, 4 * n_classes * np.finfo(np.float64).eps)
    finite = np.isfinite(p).all(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        sums = p.sum(axis=1)
        bad = ~finite | (p < 0).any(axis=1) | (abs(sums - 1) > tol)
    if bad.any():
        row = int(np.argmax(bad))
        if not finite[row]:
            reason = "contains NaN or infinity"
        elif (p[row] < 0).any():
            reason = f"has the negative entry {p[row].min()}"
        else:
            reason = f"sums to {sums[row]}"
        raise ValueError(
            f"query_strategy={strategy_name!r}: predict_proba row {row} {reason}; expected "
            f"finite non-negative probabilities summing to 1 (tolerance {tol:g})"
        )
    return p


# -- the model behind a learner --------------------------------------------------------------


def torch_net(estimator):
    """The skorch net behind ``estimator`` (itself, or the last step of a Pipeline), else None.

    The one test of "is the learner's model a torch module" that the strategies use: it picks
    MC dropout over a bootstrap committee and the penultimate layer as the default embedding.
    """
    final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    return final if is_skorch_net(final) else None


#: What :func:`by_last_layer` accepts, as its TypeError says.
SUPPORTED_LAST_LAYERS = (
    "LogisticRegression (binary or multinomial), SGDClassifier(loss='log_loss'), "
    "a torch module (skorch net), or a Pipeline whose last step is one of them"
)


def final_step(estimator, X):
    """The last estimator of (possibly nested) Pipelines, and ``X`` taken through the steps
    before it."""
    while isinstance(estimator, Pipeline):
        if len(estimator) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator[-1]
    return estimator, X


def by_last_layer(estimator, X, linear, torch_name, need):
    """``linear(model, Xt)`` when the last step of ``estimator`` is a linear model with a log
    loss, ``activekit._torch_inference.<torch_name>(net, Xt)`` when it is a skorch net (``Xt``:
    ``X`` through a Pipeline's earlier steps); for anything else a TypeError that starts with
    ``need`` and says what was given and what is supported.

    The strategies that differentiate the model's loss (expected gradient length, BADGE) go
    through here: the one place that says which models have a known gradient.
    """
    model, Xt = final_step(estimator, X)
    if isinstance(model, LogisticRegression) or (
        isinstance(model, SGDClassifier) and model.loss == "log_loss"
    ):
        return linear(model, Xt)
    if is_skorch_net(model):
        from .. import _torch_inference  # a net exists: torch is imported

        return getattr(_torch_inference, torch_name)(model, Xt)
    what = type(model).__name__
    if isinstance(model, SGDClassifier):
        what = f"SGDClassifier(loss={model.loss!r})"
    if model is not estimator:
        what = f"a Pipeline ending in {what}"
    raise TypeError(f"{need}, got {what}; supported: {SUPPORTED_LAST_LAYERS}")


def is_one_vs_rest(model):
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


# -- shared docstring entries ----------------------------------------------------------------


def fill_docstring(doc, **entries):
    """``doc`` with every line that holds only ``{key}`` replaced by ``entries[key]``, each of
    its lines indented as the placeholder was; ``None`` (docstrings stripped by ``python -OO``)
    stays ``None``.

    Entries shared by several classes (the parameters every committee strategy takes, say)
    are written once and placed in each class's docstring by a placeholder line.

    Examples
    --------
    >>> doc = '''Summary.
    ...
    ...     Parameters
    ...     ----------
    ...     {shared}
    ...     '''
    >>> print(fill_docstring(doc, shared="k : int\\n    How many."))
    Summary.
    <BLANKLINE>
        Parameters
        ----------
        k : int
            How many.
    <BLANKLINE>
    """
    if doc is None:
        return None
    lines = []
    for line in doc.splitlines():
        key = line.strip()
        if key.startswith("{") and key.endswith("}") and key[1:-1] in entries:
            indent = line[: len(line) - len(line.lstrip())]
            lines.extend(indent + text if text else "" for text in entries[key[1:-1]].splitlines())
        else:
            lines.append(line)
    return "\n".join(lines)
