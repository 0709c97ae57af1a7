"""ActiveLearningClassifier: a scikit-learn meta-estimator that runs the active-learning loop."""

from __future__ import annotations

import contextlib
import copy
import re
import time
from numbers import Integral, Number

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d
from tqdm.auto import tqdm

from . import _device
from ._compat import (
    HasMethods,
    Interval,
    _fit_context,
    _num_samples,
    get_tags,
    validate_data,
)
from ._dependencies import is_skorch_net, is_torch_module
from ._rows import stack_rows
from ._rwlock import LockedMixin, locked
from .strategies import get_strategy

__all__ = ["ActiveLearningClassifier"]

_MAX_SEED = np.iinfo(np.int32).max


def _default_estimator():
    return LogisticRegression(max_iter=1000)


def _resolve_estimator(estimator):
    """The estimator to clone and fit: the default for ``None``, a ``TorchClassifier`` around
    a bare ``torch.nn.Module`` class or instance, anything else as it is (not cloned)."""
    if estimator is None:
        return _default_estimator()
    if is_torch_module(estimator):
        from ._torch import wrap_module  # torch is imported already: a module exists

        return wrap_module(estimator)
    return estimator


def _estimator_has(attr):
    """``available_if`` check: the fitted model, or else the given estimator, has ``attr``."""

    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return hasattr(_resolve_estimator(self.estimator), attr)

    return check


@contextlib.contextmanager
def _all_or_nothing(learner):
    """Restore every attribute of ``learner`` if the block raises (KeyboardInterrupt too).

    Attributes are only ever replaced, never mutated in place, so a shallow copy is a snapshot.
    """
    saved = dict(learner.__dict__)
    try:
        yield
    except BaseException:
        learner.__dict__.clear()
        learner.__dict__.update(saved)
        raise


def _initial_indices(y, n_initial, rng):
    """``n_initial`` distinct rows, stratified by ``y`` where every class can be represented."""
    n = len(y)
    if n_initial >= n:
        return rng.permutation(n)
    try:
        chosen, _ = train_test_split(
            np.arange(n), train_size=n_initial, stratify=y, random_state=rng.randint(_MAX_SEED)
        )
    except ValueError:
        # Too few rows for a stratified draw (fewer than the classes, or a singleton class).
        chosen = rng.choice(n, size=n_initial, replace=False)
    return np.asarray(chosen, dtype=np.intp)


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


def _check_selection(indices, n_pool, n_instances, strategy):
    indices = np.asarray(indices)
    name = getattr(strategy, "name", type(strategy).__name__)
    if indices.dtype.kind not in "iu" or indices.shape != (n_instances,):
        raise ValueError(
            f"query strategy {name!r} returned {indices.dtype} indices of shape "
            f"{indices.shape}; expected {n_instances} integer positions"
        )
    if n_instances and (indices.min() < 0 or indices.max() >= n_pool):
        raise ValueError(f"query strategy {name!r} returned positions outside 0..{n_pool - 1}")
    if len(np.unique(indices)) != n_instances:
        raise ValueError(f"query strategy {name!r} returned repeated positions")
    return indices.astype(np.intp, copy=False)


class ActiveLearningClassifier(LockedMixin, ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Active-learning classifier: wraps a classifier and a query strategy.

    In the interactive loop, :meth:`fit` trains on a labelled set, :meth:`query` picks the
    most informative rows of an unlabelled pool and :meth:`teach` adds their labels and
    retrains. With ``budget`` set, :meth:`fit` instead simulates the whole loop, with ``y``
    playing the oracle, so that scikit-learn's model selection can compare strategies at a
    fixed labelling budget.

    Parameters
    ----------
    estimator : estimator object, torch module or None, default=None
        A scikit-learn classifier or :class:`~sklearn.pipeline.Pipeline`, a skorch net, or a
        ``torch.nn.Module`` class or instance (extra ``torch``), which is wrapped in an
        :class:`activekit.torch.TorchClassifier`; its parameters are then reachable as
        ``estimator__lr``, ``estimator__max_epochs``, ``estimator__module__<arg>``, ... (the
        first such ``set_params`` replaces ``estimator`` by the wrapping net). Cloned before
        fitting. ``None`` means ``LogisticRegression(max_iter=1000)``. With a torch
        estimator, rows are validated as float32, and a ``TorchClassifier`` whose
        ``random_state`` is ``None`` is seeded from this learner's ``random_state``.
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
        ``"fit_time"`` (seconds).
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

    A simulated run with a budget of 60 labels:

    >>> sim = ActiveLearningClassifier(budget=60, random_state=0).fit(X, y)
    >>> len(sim.labeled_indices_), sim.n_queries_
    (60, 5)
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        # A callable: a torch.nn.Module class or instance (checked in _make_estimator).
        "estimator": [HasMethods(["fit", "predict"]), callable, None],
        # Names are checked by get_strategy, whose message lists them sorted.
        "query_strategy": [str, HasMethods(["select"])],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_initial": [Interval(Integral, 1, None, closed="left")],
        "budget": [Interval(Integral, 1, None, closed="left"), None],
        # "cpu", "cuda" or "cuda:N": checked (with torch and the GPU) by _device.check_device.
        "device": [str],
        "n_jobs": [
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "stopping": [HasMethods(["check"]), list, None],
    }

    def __init__(
        self,
        estimator=None,
        query_strategy="margin",
        batch_size=10,
        n_initial=10,
        budget=None,
        device="cpu",
        n_jobs=None,
        random_state=None,
        verbose=0,
        stopping=None,
    ):
        self.estimator = estimator
        self.query_strategy = query_strategy
        self.batch_size = batch_size
        self.n_initial = n_initial
        self.budget = budget
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.stopping = stopping

    # -- validation ----------------------------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        estimator = _resolve_estimator(self.estimator)
        if hasattr(estimator, "fit"):  # anything else is a TypeError in fit
            inner = get_tags(estimator)
            tags.input_tags.allow_nan = inner.input_tags.allow_nan
            tags.input_tags.sparse = inner.input_tags.sparse
        return tags

    def _validate_X(self, X, *, reset, **kwargs):
        """validate_data with what the wrapped estimator accepts (sparse, NaN)."""
        tags = self.__sklearn_tags__()
        if is_torch_module(self.estimator) or is_skorch_net(self.estimator):
            kwargs.setdefault("dtype", np.float32)  # what torch modules compute in
        return validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"] if tags.input_tags.sparse else False,
            ensure_all_finite="allow-nan" if tags.input_tags.allow_nan else True,
            reset=reset,
            **kwargs,
        )

    def _make_estimator(self):
        estimator = _resolve_estimator(self.estimator)
        if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
            raise TypeError(
                "estimator must be a scikit-learn classifier, a skorch net or a "
                f"torch.nn.Module class or instance, got {type(self.estimator).__name__}"
            )
        estimator = clone(estimator)
        if (
            is_skorch_net(estimator)
            and getattr(estimator, "random_state", "absent") is None
            and self.random_state is not None
        ):
            # Weights, shuffling and dropout from the learner's random_state (a TorchClassifier
            # seeds a private fork of torch's generator with it).
            seed = check_random_state(self.random_state).randint(_MAX_SEED)
            estimator.set_params(random_state=int(seed))
        return estimator

    # -- parameters ------------------------------------------------------------------------

    def get_params(self, deep=True):
        """Parameters of this learner; with ``deep``, those of the estimator too.

        A bare ``torch.nn.Module`` shows the parameters of the :class:`TorchClassifier` it
        will be wrapped in (``estimator__lr``, ``estimator__max_epochs``, ...), so that
        ``set_params`` and grid search reach them.
        """
        params = super().get_params(deep=deep)
        if deep and is_torch_module(self.estimator):
            net = _resolve_estimator(self.estimator)
            for key, value in net.get_params(deep=True).items():
                if not key.startswith("_"):
                    params[f"estimator__{key}"] = value
        return params

    def set_params(self, **params):
        """Set parameters; ``estimator__*`` on a bare ``torch.nn.Module`` first replaces
        ``estimator`` by the :class:`TorchClassifier` wrapping it.

        Returns
        -------
        self : ActiveLearningClassifier
        """
        if any(key.startswith("estimator__") for key in params):
            if is_torch_module(params.get("estimator")):
                params["estimator"] = _resolve_estimator(params["estimator"])
            elif "estimator" not in params and is_torch_module(self.estimator):
                self.estimator = _resolve_estimator(self.estimator)
        return super().set_params(**params)

    # -- fit -----------------------------------------------------------------------------

    def _make_stopping(self):
        if self.stopping is None:
            criteria = []
        elif isinstance(self.stopping, list):
            criteria = self.stopping
        else:
            criteria = [self.stopping]
        made = []
        for criterion in criteria:
            if not callable(getattr(criterion, "check", None)):
                raise TypeError(
                    "stopping must be a stopping criterion or a list of them, got an element "
                    f"of type {type(criterion).__name__}"
                )
            criterion = clone(criterion)
            if hasattr(criterion, "_validate_params"):
                criterion._validate_params()
            made.append(criterion)
        return made

    def _check_stopping(self, X_pool):
        for criterion in self.stopping_:
            reason = criterion.check(self, X_pool)
            if reason is not None:
                return reason
        return None

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Train on ``(X, y)``, or with ``budget`` set, simulate active learning on it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Labelled rows (``budget=None``) or the whole pool of the simulation.
        y : array-like of shape (n_samples,)
            Their labels; in a simulation, the oracle's answers. Every value is a class.

        Returns
        -------
        self : ActiveLearningClassifier
        """
        return self._fit(X, y)

    @locked("write")
    def _fit(self, X, y, on_round=None):
        """``fit`` after parameter validation; ``on_round(learner, record)`` is called after
        each training round of a simulation (activekit.evaluation scores the model there)."""
        _device.check_device(self.device)
        with _all_or_nothing(self):
            for name in ("batch_size", "n_initial", "budget"):
                if isinstance(getattr(self, name), (bool, np.bool_)):  # Interval lets bools in
                    raise TypeError(f"{name} must be an integer, got {getattr(self, name)!r}")
            X, y = self._validate_X(X, reset=True, y=y)
            check_classification_targets(y)
            strategy = get_strategy(self.query_strategy)
            stopping = self._make_stopping()
            for attr in ("labeled_indices_", "history_", "_stop_checked_at"):
                self.__dict__.pop(attr, None)
            self.stopping_ = stopping
            self.stop_reason_ = None
            self.query_strategy_ = strategy
            if self.budget is None:
                self._fit_labeled(X, y, self._make_estimator())
                self.n_queries_ = 0
            else:
                self._simulate(X, y, strategy, on_round)
        return self

    def _fit_labeled(self, X, y, estimator):
        estimator.fit(X, y)
        self.estimator_ = estimator
        self.classes_ = estimator.classes_
        self.X_labeled_ = X
        self.y_labeled_ = y
        # The strategy learns from the new model on a copy, kept only if this step succeeds
        # (the all-or-nothing snapshot holds the previous strategy object).
        strategy = copy.copy(self.query_strategy_)
        update = getattr(strategy, "update", None)
        if callable(update):
            update(self)
        self.query_strategy_ = strategy

    def _simulate(self, X, y, strategy, on_round):
        n_samples = _num_samples(X)
        budget = self.budget
        if budget > n_samples:
            raise ValueError(
                f"budget={budget} exceeds the number of rows in X ({n_samples}); "
                "a simulation cannot acquire more labels than there are rows"
            )
        if self.n_initial > budget:
            raise ValueError(f"n_initial={self.n_initial} must not exceed budget={budget}")
        rng = check_random_state(self.random_state)
        self.query_strategy_ = strategy

        labeled = _initial_indices(y, self.n_initial, rng)
        is_labeled = np.zeros(n_samples, dtype=bool)
        is_labeled[labeled] = True
        history = []

        def train(round_, chosen, query_time):
            start = time.perf_counter()
            try:
                self._fit_labeled(X[labeled], y[labeled], self._make_estimator())
            except ValueError as exc:
                # The first fit, on the initial rows only: say what n_initial should be.
                error = round_ == 0 and _initial_fit_error(exc, self.n_initial, X, y, labeled)
                if not error:
                    raise
                raise error from exc
            history.append(
                {
                    "round": round_,
                    "n_labeled": len(labeled),
                    "indices": chosen,
                    "query_time": query_time,
                    "fit_time": time.perf_counter() - start,
                }
            )
            if on_round is not None:
                on_round(self, history[-1])
            return self._check_stopping(X[~is_labeled]) if self.stopping_ else None

        reason = train(0, labeled.copy(), 0.0)
        with tqdm(
            total=budget,
            initial=len(labeled),
            # Shown only on a terminal when verbose (tqdm's None), never otherwise.
            disable=None if self.verbose else True,
            desc=f"active learning ({getattr(strategy, 'name', type(strategy).__name__)})",
            unit="label",
        ) as progress:
            while reason is None and len(labeled) < budget:
                pool = np.flatnonzero(~is_labeled)
                n_instances = min(self.batch_size, budget - len(labeled))
                start = time.perf_counter()
                # The strategy object is renewed by every training round (see _fit_labeled).
                strategy = self.query_strategy_
                with _device.device_scope(self.device):
                    local = strategy.select(
                        self, X[pool], n_instances, random_state=rng.randint(_MAX_SEED)
                    )
                query_time = time.perf_counter() - start
                chosen = pool[_check_selection(local, len(pool), n_instances, strategy)]
                is_labeled[chosen] = True
                labeled = np.concatenate([labeled, chosen])
                reason = train(len(history), chosen, query_time)
                progress.update(len(chosen))

        self.labeled_indices_ = labeled
        self.history_ = history
        self.n_queries_ = len(history) - 1
        self.stop_reason_ = reason or f"budget: {len(labeled)} labels used of {budget}"

    # -- the interactive loop --------------------------------------------------------------

    @locked("read")
    def query(self, X_pool, n_instances=None, return_scores=False):
        """Positions of the most informative rows of ``X_pool``, most informative first.

        Never modifies the learner.

        Parameters
        ----------
        X_pool : {array-like, sparse matrix} of shape (n_pool, n_features)
            Unlabelled candidates. Positions refer to rows, whatever the index of a
            DataFrame.
        n_instances : int, default=None
            How many rows to choose; ``None`` means ``batch_size``.
        return_scores : bool, default=False
            Also return the strategy's score of each chosen row (ranking strategies only).

        Returns
        -------
        indices : ndarray of shape (n_instances,)
        scores : ndarray of shape (n_instances,)
            Only when ``return_scores`` is true.
        """
        check_is_fitted(self)
        _device.check_device(self.device)
        X_pool = self._validate_X(X_pool, reset=False)
        n_pool = _num_samples(X_pool)
        if n_instances is None:
            n_instances = self.batch_size
        if isinstance(n_instances, bool) or not isinstance(n_instances, Integral):
            raise TypeError(
                f"n_instances must be an integer, got {type(n_instances).__name__} "
                f"{n_instances!r}"
            )
        if not 1 <= n_instances <= n_pool:
            raise ValueError(
                f"n_instances must be between 1 and the pool size ({n_pool}), got {n_instances}"
            )
        n_instances = int(n_instances)
        if not isinstance(return_scores, (bool, np.bool_)):
            raise TypeError(
                f"return_scores must be True or False, got {type(return_scores).__name__} "
                f"{return_scores!r}"
            )
        strategy = self.query_strategy_
        # An int or None is handed on as it is; a RandomState instance gives one seed a call.
        seed = self.random_state
        if isinstance(seed, np.random.RandomState):
            seed = seed.randint(_MAX_SEED)
        if return_scores:
            if not callable(getattr(strategy, "rank", None)):
                raise ValueError(
                    f"return_scores=True needs a ranking strategy (one with a rank method); "
                    f"{getattr(strategy, 'name', type(strategy).__name__)!r} does not score rows"
                )
            # Kernels called in the scope run on the learner's device (see activekit._device).
            with _device.device_scope(self.device):
                indices, scores = strategy.rank(self, X_pool, n_instances, random_state=seed)
            return _check_selection(indices, n_pool, n_instances, strategy), np.asarray(scores)
        with _device.device_scope(self.device):
            indices = strategy.select(self, X_pool, n_instances, random_state=seed)
        return _check_selection(indices, n_pool, n_instances, strategy)

    @locked("write")
    def teach(self, X, y):
        """Add labelled rows and retrain; all or nothing.

        If validation or the refit fails, the labelled set and the model are as before.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_new, n_features)
        y : array-like of shape (n_new,)

        Returns
        -------
        self : ActiveLearningClassifier
        """
        check_is_fitted(self)
        with _all_or_nothing(self):
            X = self._validate_X(X, reset=False)
            y = column_or_1d(y, warn=True)
            check_consistent_length(X, y)
            if _num_samples(X) == 0:
                raise ValueError("teach needs at least one labelled row, got 0")
            new_kind, old_kind = _label_kind(y), _label_kind(self.y_labeled_)
            if new_kind != old_kind:
                raise TypeError(
                    f"y has dtype {y.dtype} ({new_kind}) but the labelled set has "
                    f"{self.y_labeled_.dtype} labels ({old_kind}); labels must all be numbers "
                    "or all be strings"
                )
            if new_kind == "numbers":
                assert_all_finite(y, input_name="y")
            X_all = stack_rows(self.X_labeled_, X)
            y_all = np.concatenate([self.y_labeled_, y])
            check_classification_targets(y_all)
            self._fit_labeled(X_all, y_all, clone(self.estimator_))
            self.n_queries_ += 1
        return self

    @locked("write")
    def should_stop(self, X_pool):
        """Ask the stopping criteria whether to stop, given the rows still unlabelled.

        Each criterion sees each trained model once: asking again before the next
        :meth:`teach` gives the same answer. Records the answer in ``stop_reason_``.

        Parameters
        ----------
        X_pool : {array-like, sparse matrix} of shape (n_pool, n_features)

        Returns
        -------
        stop : bool
        """
        check_is_fitted(self)
        X_pool = self._validate_X(X_pool, reset=False, ensure_min_samples=0)
        version = (self.n_queries_, _num_samples(self.y_labeled_))
        if getattr(self, "_stop_checked_at", None) != version:
            self.stop_reason_ = self._check_stopping(X_pool)
            self._stop_checked_at = version
        return self.stop_reason_ is not None

    # -- delegation ----------------------------------------------------------------------

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """Predict classes with the fitted model."""
        check_is_fitted(self)
        return self.estimator_.predict(self._validate_X(X, reset=False))

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from the fitted model."""
        check_is_fitted(self)
        return self.estimator_.predict_proba(self._validate_X(X, reset=False))

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities from the fitted model."""
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(self._validate_X(X, reset=False))

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the fitted model."""
        check_is_fitted(self)
        return self.estimator_.decision_function(self._validate_X(X, reset=False))

    @available_if(_estimator_has("score"))
    def score(self, X, y, sample_weight=None):
        """The fitted model's score (mean accuracy for classifiers) on ``(X, y)``."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        if sample_weight is None:
            return self.estimator_.score(X, y)
        return self.estimator_.score(X, y, sample_weight=sample_weight)
