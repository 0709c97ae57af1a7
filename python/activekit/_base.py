"""BaseActiveLearner: what every active learner shares, whatever it predicts.

Parameters and their validation, the estimator the ``estimator`` parameter stands for
(:mod:`activekit._estimators`), ``fit`` (plain, or the simulated loop of
:mod:`activekit._simulation`), ``query``, ``teach``, ``should_stop``, the readers-writer lock
and the all-or-nothing updates, the device scope of the kernels, and the delegated
``predict`` and ``score``.

A concrete learner puts a scikit-learn mixin first in its bases (``ClassifierMixin``: its tags
must come before ``BaseEstimator``'s, which do not call ``super()``), takes ``score`` back from
the mixin (``score = BaseActiveLearner.__dict__["score"]``), sets ``_estimator_kinds`` (what
the error for an unusable ``estimator`` lists) and ``_module_kind`` (``"classifier"`` or
``"regressor"``: what :mod:`activekit._estimators` wraps a bare torch module in) and fills in
these steps:

- ``_default_estimator()``: the estimator ``estimator=None`` means;
- ``_adopt(estimator)``: record what the learner exposes of a newly trained model;
- ``_check_targets(y)``: check a whole label vector (at ``fit``, and after ``teach`` adds rows);
- ``_check_new_labels(y)``: check labels that ``teach`` adds against the labelled set;
- ``_validate_new_y(y)``: the labels ``teach`` is given, as an array (1-D by default);
- ``_initial_indices(y, n_initial, rng)``: a simulation's initial rows (random by default);
- ``_initial_fit_error(exc, X, y, labeled)``: a clearer error where a simulation's first fit
  fails, or ``None`` (the default) to let the estimator's own error through.
"""

from __future__ import annotations

import contextlib
import copy
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d

from . import _dask, _device, _estimators, _simulation
from ._compat import HasMethods, Interval, _fit_context, _num_samples, get_tags, validate_data
from ._random import draw_seed
from ._rows import stack_rows
from ._rwlock import LockedMixin, locked
from .strategies import get_strategy
from .strategies._common import strategy_label

__all__ = [
    "BaseActiveLearner",
    "all_or_nothing",
    "check_params",
    "check_selection",
    "estimator_has",
]


@contextlib.contextmanager
def all_or_nothing(learner):
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


def check_selection(indices, n_pool, n_instances, strategy):
    """``indices`` as positions, after checking that a strategy returned ``n_instances``
    distinct integer positions in ``0 .. n_pool - 1``."""
    indices = np.asarray(indices)
    name = strategy_label(strategy)
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


def check_params(learner):
    """Check ``learner``'s parameters as its ``fit`` does, before any data is seen: for code
    that builds learners to fit later and reports bad parameters before any run
    (:func:`activekit.evaluation.evaluate_strategies`)."""
    learner._validate_params()
    _check_counts(learner)


def _check_counts(learner):
    for name in ("batch_size", "n_initial", "budget"):
        value = getattr(learner, name)
        if isinstance(value, (bool, np.bool_)):  # scikit-learn's Interval lets bools in
            raise TypeError(f"{name} must be an integer, got {value!r}")


def _check_on_round(on_round, budget):
    if on_round is None:
        return
    if not callable(on_round):
        raise TypeError(
            f"on_round must be a callable or None, got {type(on_round).__name__} {on_round!r}"
        )
    if budget is None:
        raise ValueError(
            "on_round is called after each round of a simulated fit, but budget=None makes "
            "fit an ordinary fit on all of (X, y); set budget to simulate"
        )


def estimator_has(attr):
    """``available_if`` check: the fitted model, or else the given estimator, has ``attr``."""

    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return hasattr(self._resolve_estimator(), attr)

    return check


class BaseActiveLearner(LockedMixin, MetaEstimatorMixin, BaseEstimator):
    """Base class of the active learners; not meant to be used directly.

    See :class:`activekit.ActiveLearningClassifier` for the parameters, attributes and
    methods, and this module's docstring for the steps a subclass fills in.
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

    #: What ``estimator`` may be, for the error that says it is none of them.
    _estimator_kinds = "a scikit-learn estimator"

    #: The kind of learner this is, for :mod:`activekit._estimators`: ``"classifier"`` wraps a
    #: bare torch module in a ``TorchClassifier``, ``"regressor"`` in a ``TorchRegressor``.
    _module_kind = "classifier"

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

    # -- the steps a learner fills in -----------------------------------------------------

    def _default_estimator(self):
        raise NotImplementedError(f"{type(self).__name__} does not define a default estimator")

    def _adopt(self, estimator):
        self.estimator_ = estimator

    def _check_targets(self, y):
        pass

    def _check_new_labels(self, y):
        pass

    def _validate_new_y(self, y):
        """The labels ``teach`` is given, as an array (1-D by default)."""
        return column_or_1d(y, warn=True)

    def _initial_indices(self, y, n_initial, rng):
        """``n_initial`` distinct rows drawn at random (all of them, shuffled, if fewer)."""
        n = len(y)
        if n_initial >= n:
            return rng.permutation(n)
        return np.asarray(rng.choice(n, size=n_initial, replace=False), dtype=np.intp)

    def _initial_fit_error(self, exc, X, y, labeled):
        return None

    # -- the estimator ---------------------------------------------------------------------

    def _resolve_estimator(self):
        """The estimator to clone and fit: the default for ``None``, a bare torch module
        wrapped (see :mod:`activekit._estimators`), anything else as it is (not cloned)."""
        return _estimators.resolve(self.estimator, self._default_estimator, self._module_kind)

    def _make_estimator(self):
        """A fresh clone of the estimator to fit, seeded where it is a skorch net."""
        estimator = self._resolve_estimator()
        if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
            raise TypeError(
                f"estimator must be {self._estimator_kinds}, got {type(self.estimator).__name__}"
            )
        return _estimators.seeded(clone(estimator), self.random_state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        estimator = self._resolve_estimator()
        if hasattr(estimator, "fit"):  # anything else is a TypeError in fit
            inner = get_tags(estimator)
            tags.input_tags.allow_nan = inner.input_tags.allow_nan
            tags.input_tags.sparse = inner.input_tags.sparse
        return tags

    def _validate_X(self, X, *, reset, **kwargs):
        """validate_data with what the wrapped estimator accepts (sparse, NaN, its dtype)."""
        tags = self.__sklearn_tags__()
        dtype = _estimators.input_dtype(self.estimator)
        if dtype is not None:
            kwargs.setdefault("dtype", dtype)
        return validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"] if tags.input_tags.sparse else False,
            ensure_all_finite="allow-nan" if tags.input_tags.allow_nan else True,
            reset=reset,
            **kwargs,
        )

    # -- parameters ------------------------------------------------------------------------

    def get_params(self, deep=True):
        """Parameters of this learner; with ``deep``, those of the estimator too.

        A bare ``torch.nn.Module`` shows the parameters of the net it will be wrapped in
        (:class:`~activekit.torch.TorchClassifier` in a classifier,
        :class:`~activekit.torch.TorchRegressor` in a regressor: ``estimator__lr``,
        ``estimator__max_epochs``, ...), so that ``set_params`` and grid search reach them.
        """
        params = super().get_params(deep=deep)
        if deep:
            params.update(_estimators.wrapped_params(self.estimator, self._module_kind))
        return params

    def set_params(self, **params):
        """Set parameters; ``estimator__*`` on a bare ``torch.nn.Module`` first replaces
        ``estimator`` by the net wrapping it (:class:`~activekit.torch.TorchClassifier` or
        :class:`~activekit.torch.TorchRegressor`).

        Returns
        -------
        self : estimator instance
        """
        return super().set_params(
            **_estimators.route_set_params(self.estimator, params, self._module_kind)
        )

    # -- fit -------------------------------------------------------------------------------

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
    @locked("write")
    def fit(self, X, y, *, on_round=None):
        """Train on ``(X, y)``, or with ``budget`` set, simulate active learning on it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Labelled rows (``budget=None``) or the whole pool of the simulation.
        y : array-like of shape (n_samples,)
            Their labels; in a simulation, the oracle's answers.
        on_round : callable, default=None
            Simulation only (``budget`` set): called as ``on_round(learner, record)`` after
            every training round, the initial one included, with this learner trained on the
            labels acquired so far and the round's entry of ``history_`` (a dict with keys
            ``"round"``, ``"n_labeled"``, ``"indices"``, ``"query_time"``, ``"fit_time"``),
            e.g. to score the model on held-out rows, as
            :func:`activekit.evaluation.evaluate_strategies` does. It must not change the
            learner (no ``fit`` or ``teach``); its return value is ignored. If it raises, the
            simulation stops and ``fit`` raises that error, leaving the learner as it was.

        Returns
        -------
        self : estimator instance
        """
        _device.check_device(self.device)
        with all_or_nothing(self):
            _check_counts(self)
            _check_on_round(on_round, self.budget)
            X, y = self._validate_X(X, reset=True, y=y)
            self._check_targets(y)
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
                labeled, history, reason = _simulation.run(self, X, y, on_round)
                self.labeled_indices_ = labeled
                self.history_ = history
                self.n_queries_ = len(history) - 1
                self.stop_reason_ = reason
        return self

    def _fit_labeled(self, X, y, estimator):
        """Train ``estimator`` on the labelled set ``(X, y)`` and let the strategy learn from
        the new model."""
        estimator.fit(X, y)
        self._adopt(estimator)
        self.X_labeled_ = X
        self.y_labeled_ = y
        # The strategy learns from the new model on a copy, kept only if this step succeeds
        # (the all-or-nothing snapshot holds the previous strategy object).
        strategy = copy.copy(self.query_strategy_)
        update = getattr(strategy, "update", None)
        if callable(update):
            update(self)
        self.query_strategy_ = strategy

    # -- the interactive loop --------------------------------------------------------------

    def _select(self, X_pool, n_instances, random_state):
        """The strategy's choice of ``n_instances`` rows of ``X_pool``, checked; kernels
        called meanwhile run on the learner's device (see :mod:`activekit._device`)."""
        strategy = self.query_strategy_
        with _device.device_scope(self.device):
            indices = strategy.select(self, X_pool, n_instances, random_state=random_state)
        return check_selection(indices, _num_samples(X_pool), n_instances, strategy)

    @locked("read")
    def query(self, X_pool, n_instances=None, return_scores=False):
        """Positions of the most informative rows of ``X_pool``, most informative first.

        Never modifies the learner.

        Parameters
        ----------
        X_pool : {array-like, sparse matrix, dask Array, dask DataFrame} of shape \
(n_pool, n_features)
            Unlabelled candidates. Positions refer to rows, whatever the index of a
            DataFrame. A Dask pool is scored chunk by chunk on the workers of the active
            scheduler and never gathered (see :mod:`activekit._dask` for which strategies
            give the in-memory picks and which an approximation).
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
        if n_instances is None:
            n_instances = self.batch_size
        if not isinstance(return_scores, (bool, np.bool_)):
            raise TypeError(
                f"return_scores must be True or False, got {type(return_scores).__name__} "
                f"{return_scores!r}"
            )
        on_dask = _dask.is_dask_collection(X_pool)  # scored where its chunks are
        if on_dask:
            names = getattr(self, "feature_names_in_", None)
            X_pool = _dask.as_row_chunks(X_pool, self.n_features_in_, names)
        else:
            X_pool = self._validate_X(X_pool, reset=False)
        n_pool = _num_samples(X_pool)
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
        strategy = self.query_strategy_
        if return_scores and not callable(getattr(strategy, "rank", None)):
            raise ValueError(
                f"return_scores=True needs a ranking strategy (one with a rank method); "
                f"{strategy_label(strategy)!r} does not score rows"
            )
        seed = self.random_state  # an int or None as it is; a RandomState gives one a call
        if isinstance(seed, np.random.RandomState):
            seed = draw_seed(seed)
        if on_dask:
            return _dask.query_dask(self, X_pool, n_instances, seed, return_scores)
        if not return_scores:
            return self._select(X_pool, n_instances, seed)
        with _device.device_scope(self.device):
            indices, scores = strategy.rank(self, X_pool, n_instances, random_state=seed)
        return check_selection(indices, n_pool, n_instances, strategy), np.asarray(scores)

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
        self : estimator instance
        """
        check_is_fitted(self)
        with all_or_nothing(self):
            X = self._validate_X(X, reset=False)
            y = self._validate_new_y(y)
            check_consistent_length(X, y)
            if _num_samples(X) == 0:
                raise ValueError("teach needs at least one labelled row, got 0")
            self._check_new_labels(y)
            X_all = stack_rows(self.X_labeled_, X)
            y_all = np.concatenate([self.y_labeled_, y])
            self._check_targets(y_all)
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

    # -- delegation ------------------------------------------------------------------------

    @available_if(estimator_has("predict"))
    def predict(self, X):
        """Predict with the fitted model."""
        check_is_fitted(self)
        return self.estimator_.predict(self._validate_X(X, reset=False))

    @available_if(estimator_has("score"))
    def score(self, X, y, sample_weight=None):
        """The fitted model's own score on ``(X, y)``."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        if sample_weight is None:
            return self.estimator_.score(X, y)
        return self.estimator_.score(X, y, sample_weight=sample_weight)
