"""ActiveLearningClassifier: a scikit-learn meta-estimator that runs the active-learning loop.

What is particular to classification lives here: the default estimator, class checks, the
stratified initial draw of a simulation and its hint when the first fit fails, and the
probability methods. Everything a learner shares is in :mod:`activekit._base`, the simulated
loop in :mod:`activekit._simulation`, and the handling of torch estimators in
:mod:`activekit._estimators`.
"""

from __future__ import annotations

import re
from numbers import Number

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils import assert_all_finite
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted

from ._base import BaseActiveLearner, estimator_has
from ._random import draw_seed
from .strategies._common import check_target_type

__all__ = ["ActiveLearningClassifier", "default_estimator"]


def default_estimator(multilabel=False):
    """The classifier ``estimator=None`` means: ``LogisticRegression(max_iter=1000)``, one
    per label in a ``OneVsRestClassifier`` for a multi-label indicator ``y``."""
    if multilabel:
        from sklearn.multiclass import OneVsRestClassifier

        return OneVsRestClassifier(LogisticRegression(max_iter=1000))
    return LogisticRegression(max_iter=1000)


def _is_indicator(y):
    """Whether ``y`` is a multi-label indicator matrix (2-D, at least 2 columns)."""
    return getattr(y, "ndim", 1) == 2 and y.shape[1] >= 2


def covering_draw(y, n_initial, rng):
    """``n_initial`` distinct rows of the indicator matrix ``y`` in which every label column
    holds both values: a random row for each value a label still lacks, label by label, then
    random rows up to ``n_initial``."""
    y = (np.asarray(y) != 0).astype(np.intp)
    n, n_labels = y.shape
    order = rng.permutation(n)
    chosen, seen = [], np.zeros((2, n_labels), dtype=bool)  # seen[v, j]: value v of label j
    for j in range(n_labels):
        for value in (1, 0):
            if seen[value, j]:
                continue
            rows = order[y[order, j] == value]
            if not len(rows):
                raise ValueError(
                    f"label column {j} of y has no {'positive' if value else 'negative'} row; "
                    "every label needs both values to be learnt"
                )
            chosen.append(rows[0])
            seen[y[rows[0]], np.arange(n_labels)] = True
    if len(chosen) > n_initial:
        raise ValueError(
            f"n_initial={n_initial} is too small for an initial set holding a positive and a "
            f"negative row of each of the {n_labels} labels: this draw needs {len(chosen)} "
            f"rows; raise n_initial to at least {len(chosen)}"
        )
    rest = order[~np.isin(order, chosen)][: n_initial - len(chosen)]
    return np.concatenate([np.array(chosen, dtype=np.intp), rest.astype(np.intp)])


def _check_indicator(y):
    """Check a multi-label indicator ``y``: 0/1 entries, every label present at least once."""
    kind = type_of_target(y, input_name="y")
    if kind != "multilabel-indicator":
        raise ValueError(
            f"y is a 2-D array of {y.shape[1]} columns but its target type is {kind!r}; a "
            "multi-label y must be an indicator matrix of 0/1 entries, one column per label"
        )
    present = np.asarray((y != 0).sum(axis=0)).ravel()
    if (present == 0).any():
        columns = np.flatnonzero(present == 0).tolist()
        raise ValueError(
            f"y has label columns {columns} that are 0 in every row; a label that never "
            "occurs cannot be learned: drop those columns"
        )


def _initial_fit_error(exc, n_initial, X, y, labeled):
    """A ValueError saying that the estimator failed on the initial labelled set and how to
    fix it (raise ``n_initial``), or ``None`` where more initial rows would not help: ``y``
    has one class, the initial set is all of ``X``, or a parameter of the estimator is
    invalid."""
    from sklearn.utils._param_validation import InvalidParameterError

    n_samples, n_features = X.shape
    n_classes = len(np.unique(y))
    if isinstance(exc, InvalidParameterError) or n_classes < 2 or n_initial >= n_samples:
        return None
    drawn = len(np.unique(y[labeled]))
    components = re.search(r"n_components=(\d+)", str(exc))
    if drawn < n_classes:
        hint = f"raise n_initial to at least {n_classes}, one row per class"
    elif components and int(components.group(1)) > n_features:
        return None  # more rows would not help: too many components for the features
    elif components:
        n_components = int(components.group(1))
        hint = (
            f"raise n_initial to at least n_components={n_components}, or lower "
            f"n_components to at most {n_initial}"
        )
    else:
        hint = "raise n_initial if the estimator needs more rows"
    return ValueError(
        f"the estimator failed on the initial labelled set: n_initial={n_initial} rows of "
        f"{n_samples}, holding {drawn} of the {n_classes} classes; {hint}. "
        f"The estimator said: {exc}"
    )


def _label_kind(y):
    """What an array of labels holds: ``"numbers"``, ``"strings"``, or (objects) ``"mixed"``."""
    if y.dtype.kind in "biuf":
        return "numbers"
    if y.dtype.kind in "US":
        return "strings"
    kinds = {
        "strings" if isinstance(v, str) else "numbers" if isinstance(v, Number) else "objects"
        for v in y.tolist()
    }
    return kinds.pop() if len(kinds) == 1 else "mixed"


class ActiveLearningClassifier(ClassifierMixin, BaseActiveLearner):
    """Active-learning classifier: wraps a classifier and a query strategy.

    In the interactive loop, :meth:`fit` trains on a labelled set, :meth:`query` picks the
    most informative rows of an unlabelled pool and :meth:`teach` adds their labels and
    retrains. With ``budget`` set, :meth:`fit` instead simulates the whole loop, with ``y``
    playing the oracle, so that scikit-learn's model selection can compare strategies at a
    fixed labelling budget; ``fit(X, y, on_round=callback)`` calls ``callback(learner,
    record)`` after every round of it (to score each model on held-out rows, for instance).

    Parameters
    ----------
    estimator : estimator object, torch module or None, default=None
        A scikit-learn classifier or :class:`~sklearn.pipeline.Pipeline`, a skorch net (such
        as ``activekit.torch.TorchClassifier(MyModule, lr=...)``), or a bare
        ``torch.nn.Module`` class or instance (extra ``torch``). A bare module stands for
        ``TorchClassifier(module)``, whose parameters are routed by prefix, the skorch way:
        ``estimator__lr``, ``estimator__max_epochs``, ``estimator__module__<arg>``, ...
        reach it through ``get_params``, ``set_params`` and grid search, and the first such
        ``set_params`` replaces ``estimator`` by that net. Cloned before fitting. ``None``
        means ``LogisticRegression(max_iter=1000)``. With a torch estimator (a bare module
        or a skorch net), rows are validated as float32, and a net whose ``random_state`` is
        ``None`` is seeded from this learner's ``random_state``.
    query_strategy : str or QueryStrategy, default="margin"
        A name from :func:`activekit.strategies.get_strategy_names` or a strategy object.
    batch_size : int, default=10
        Rows chosen per query.
    n_initial : int, default=10
        Simulation only: size of the initial labelled set, drawn at random and stratified by
        class where possible (``n_initial`` at least the number of classes). The estimator
        must be able to fit on it: a PCA step, for instance, needs ``n_components <=
        n_initial``; if the first fit fails, the ``ValueError`` names ``n_initial`` and what to
        raise it to (scikit-learn's error is chained as its cause).
    budget : int, default=None
        Simulation only: total labels to acquire in ``fit(X, y)``, initial set included.
        ``None`` makes ``fit`` an ordinary fit on all of ``(X, y)``.
    device : {"cpu", "cuda", "cuda:N"}, default="cpu"
        Where the strategies' kernels run: ``"cpu"`` uses the Rust kernels; ``"cuda"`` or
        ``"cuda:N"`` their torch twins on that GPU (``pip install "activekit[torch]"``), with
        the same selections: each query moves the pool there once and brings the results
        back as NumPy. Checked at ``fit`` and ``query``, before any work.
    n_jobs : int, default=None
        Threads for the Rust kernels; ``None`` or ``-1`` uses every core. Results do not
        depend on it.
    random_state : int, RandomState instance or None, default=None
        Controls the initial draw, the random strategies and the seeds handed to the
        kernels. An int makes every result reproducible.
    verbose : int, default=0
        Show a progress bar during a simulated ``fit`` (on a terminal only).
    stopping : StoppingCriterion or list of them, default=None
        Criteria from :mod:`activekit.stopping` checked after every training round: a
        simulated ``fit`` stops at the first that answers, and :meth:`should_stop` asks them
        in the interactive loop.

    Attributes
    ----------
    estimator_ : estimator object
        The model trained on the labelled set.
    query_strategy_ : QueryStrategy
        The resolved strategy.
    classes_ : ndarray of shape (n_classes,)
        Classes seen by ``estimator_``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen during ``fit``, when ``X`` had string column names.
    X_labeled_ : {ndarray, sparse matrix} of shape (n_labeled, n_features)
        The labelled rows ``estimator_`` was trained on.
    y_labeled_ : ndarray of shape (n_labeled,)
        Their labels.
    n_queries_ : int
        Completed query rounds: simulated rounds after a simulated fit, plus one per
        :meth:`teach`.
    labeled_indices_ : ndarray of shape (budget,)
        Simulation only: rows of ``X`` acquired, in acquisition order.
    history_ : list of dict
        Simulation only: one record per round with keys ``"round"``, ``"n_labeled"``,
        ``"indices"`` (rows of ``X`` acquired in that round), ``"query_time"`` and
        ``"fit_time"`` (seconds); ``on_round`` receives each as it is made.
    stopping_ : list of StoppingCriterion
        Fitted clones of ``stopping``.
    stop_reason_ : str or None
        Why the last simulated ``fit`` or :meth:`should_stop` stopped (the budget, or the
        criterion that answered), ``None`` if nothing said stop.

    Notes
    -----
    Thread safety: :meth:`query` may be called from several threads at once, and they run
    concurrently (the Rust kernels release the GIL); with an int ``random_state`` each gives
    what it would give alone.
    :meth:`fit`, :meth:`teach` and :meth:`should_stop`, which change the learner, are
    serialised against each other and against queries by a readers-writer lock: a query sees
    the learner either wholly before or wholly after a concurrent ``teach``, never half-way.
    ``predict`` and the other delegated methods read the fitted model once and are safe too.
    The lock is created on first use and is not part of the parameters, of clones or of
    pickles. A strategy's ``select`` must not fit or teach the learner it is given (it would
    wait for itself; this raises ``RuntimeError`` instead).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> learner = ActiveLearningClassifier(query_strategy="margin", batch_size=5)
    >>> learner = learner.fit(X[:50], y[:50])
    >>> pool = X[50:]
    >>> idx = learner.query(pool)
    >>> learner = learner.teach(pool[idx], y[50:][idx])
    >>> len(learner.y_labeled_)
    55

    A simulated run with a budget of 60 labels, noting the labelled-set size after each
    round:

    >>> sizes = []
    >>> sim = ActiveLearningClassifier(budget=60, random_state=0)
    >>> sim = sim.fit(X, y, on_round=lambda learner, record: sizes.append(record["n_labeled"]))
    >>> len(sim.labeled_indices_), sim.n_queries_, sizes
    (60, 5, [10, 20, 30, 40, 50, 60])
    """

    _estimator_kinds = (
        "a scikit-learn classifier, a skorch net or a torch.nn.Module class or instance"
    )

    # -- what is particular to classification ---------------------------------------------

    def _default_estimator(self):
        return default_estimator()

    def _fit_labeled(self, X, y, estimator):
        # estimator=None with an indicator y: logistic regression, one per label.
        if (
            self.estimator is None
            and _is_indicator(y)
            and isinstance(estimator, LogisticRegression)
        ):
            estimator = default_estimator(multilabel=True).set_params(estimator=estimator)
        super()._fit_labeled(X, y, estimator)

    def _validate_X(self, X, *, reset, **kwargs):
        # A multi-label indicator y (2-D, two columns or more) is kept 2-D; a single column
        # is a single-label y, raveled with scikit-learn's DataConversionWarning as before.
        if "y" in kwargs:
            y = kwargs["y"]
            # Only a shape that y states (or nested lists'): array-likes such as
            # scikit-learn's _NotAnArray refuse np.shape.
            shape = getattr(y, "shape", None)
            if shape is None and isinstance(y, (list, tuple)) and len(y):
                first = y[0]
                shape = (len(y), len(first)) if isinstance(first, (list, tuple)) else (len(y),)
            if shape is not None and len(shape) == 2 and shape[1] >= 2:
                kwargs["multi_output"] = True
        return super()._validate_X(X, reset=reset, **kwargs)

    def _adopt(self, estimator):
        self.estimator_ = estimator
        self.classes_ = estimator.classes_

    def _check_targets(self, y):
        check_classification_targets(y)
        if _is_indicator(y):
            _check_indicator(y)
        # A strategy that cannot use these targets says which it supports, before any fit.
        check_target_type(self.query_strategy, y)

    def _validate_new_y(self, y):
        if _is_indicator(self.y_labeled_):
            from sklearn.utils import check_array

            return check_array(y, ensure_2d=False, dtype=None, input_name="y")
        return super()._validate_new_y(y)

    def _check_new_labels(self, y):
        multilabel = _is_indicator(self.y_labeled_)
        if multilabel or np.ndim(y) == 2:
            n_labels = self.y_labeled_.shape[1] if multilabel else 1
            n_new = y.shape[1] if np.ndim(y) == 2 else 1
            if n_new != n_labels:
                raise ValueError(
                    f"y has {n_new} label column(s) but the labelled set has {n_labels}"
                )
            return
        new_kind, old_kind = _label_kind(y), _label_kind(self.y_labeled_)
        if new_kind != old_kind:
            raise TypeError(
                f"y has dtype {y.dtype} ({new_kind}) but the labelled set has "
                f"{self.y_labeled_.dtype} labels ({old_kind}); labels must all be numbers "
                "or all be strings"
            )
        if new_kind == "numbers":
            assert_all_finite(y, input_name="y")

    def _initial_indices(self, y, n_initial, rng):
        """``n_initial`` distinct rows, stratified by ``y`` where every class can be
        represented, else drawn at random; for a multi-label ``y``, holding both values of
        every label (:func:`covering_draw`)."""
        n = len(y)
        if _is_indicator(y):  # a positive and a negative row of every label, then random
            return covering_draw(np.asarray(y), min(n_initial, n), rng)
        if n_initial >= n:
            return super()._initial_indices(y, n_initial, rng)
        try:
            chosen, _ = train_test_split(
                np.arange(n), train_size=n_initial, stratify=y, random_state=draw_seed(rng)
            )
        except ValueError:
            # Too few rows for a stratified draw (fewer than the classes, or a singleton class).
            return super()._initial_indices(y, n_initial, rng)
        return np.asarray(chosen, dtype=np.intp)

    def _initial_fit_error(self, exc, X, y, labeled):
        if _is_indicator(y):
            return None
        return _initial_fit_error(exc, self.n_initial, X, y, labeled)

    # -- delegation ------------------------------------------------------------------------

    @available_if(estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from the fitted model."""
        check_is_fitted(self)
        return self.estimator_.predict_proba(self._validate_X(X, reset=False))

    @available_if(estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities from the fitted model."""
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(self._validate_X(X, reset=False))

    @available_if(estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the fitted model."""
        check_is_fitted(self)
        return self.estimator_.decision_function(self._validate_X(X, reset=False))

    # The fitted model's own score (mean accuracy for classifiers), not ClassifierMixin's,
    # which comes first in the bases.
    score = BaseActiveLearner.__dict__["score"]
