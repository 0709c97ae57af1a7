"""ActiveLearningRegressor: the active-learning loop around a regressor.

What is particular to regression lives here: the default estimator (``Ridge``), the target
checks (finite numbers, 1-D), and the strategies' target check (``"continuous"``). Everything
else (fit, the simulated fit with ``budget``, query, teach, stopping, the lock, all-or-nothing
updates) is :class:`activekit._base.BaseActiveLearner`, shared with the classifier.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.linear_model import Ridge
from sklearn.utils import assert_all_finite

from ._base import BaseActiveLearner
from .strategies._common import check_target_type

__all__ = ["ActiveLearningRegressor"]


class ActiveLearningRegressor(RegressorMixin, BaseActiveLearner):
    """Active-learning regressor: wraps a regressor and a query strategy.

    The same loop as :class:`activekit.ActiveLearningClassifier`: :meth:`fit` trains on a
    labelled set, :meth:`query` picks rows of a pool to label and :meth:`teach` adds them and
    retrains; with ``budget`` set, :meth:`fit` simulates the loop with ``y`` as the oracle.
    Only strategies that support ``"continuous"`` targets apply (``random``, ``coreset``,
    ``kmeans``, ``typiclust`` and the regression strategies ``committee_variance``, ``gsx``,
    ``gsy``, ``igs``, ``emcm``); any other raises a ``ValueError`` naming the targets it
    supports.

    Parameters
    ----------
    estimator : estimator object, torch module or None, default=None
        A scikit-learn regressor or :class:`~sklearn.pipeline.Pipeline`, a skorch net (such
        as ``activekit.torch.TorchRegressor(MyModule, lr=...)``), or a bare
        ``torch.nn.Module`` class or instance (extra ``torch``) returning one output per row,
        shape ``(n, 1)``. A bare module stands for ``TorchRegressor(module)``, whose
        parameters are routed by prefix as in the classifier (``estimator__lr``,
        ``estimator__module__<arg>``, ...). Cloned before fitting. ``None`` means
        ``Ridge()``. With a torch estimator, rows are validated as float32, a net whose
        ``random_state`` is ``None`` is seeded from this learner's ``random_state``, and
        ``gsx``, ``igs`` and ``emcm`` measure in the module's penultimate layer
        (:func:`activekit.torch.embed`) unless given an ``embedding``.
    query_strategy : str or QueryStrategy, default="committee_variance"
        A name from :func:`activekit.strategies.get_strategy_names` or a strategy object.
    batch_size : int, default=10
        Rows chosen per query.
    n_initial : int, default=10
        Simulation only: size of the initial labelled set, drawn at random.
    budget : int, default=None
        Simulation only: total labels to acquire in ``fit(X, y)``, initial set included.
        ``None`` makes ``fit`` an ordinary fit on all of ``(X, y)``.
    device : {"cpu", "cuda", "cuda:N"}, default="cpu"
        Where the strategies' kernels run (see the classifier).
    n_jobs : int, default=None
        Threads for the Rust kernels; ``None`` or ``-1`` uses every core.
    random_state : int, RandomState instance or None, default=None
        Controls the initial draw, the random strategies and the seeds handed on.
    verbose : int, default=0
        Show a progress bar during a simulated ``fit`` (on a terminal only).
    stopping : StoppingCriterion or list of them, default=None
        Criteria from :mod:`activekit.stopping` checked after every training round.

    Attributes
    ----------
    estimator_ : estimator object
        The model trained on the labelled set.
    query_strategy_ : QueryStrategy
        The resolved strategy.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen during ``fit``, when ``X`` had string column names.
    X_labeled_ : {ndarray, sparse matrix} of shape (n_labeled, n_features)
        The labelled rows.
    y_labeled_ : ndarray of shape (n_labeled,)
        Their targets.
    n_queries_ : int
        Completed query rounds.
    labeled_indices_ : ndarray of shape (budget,)
        Simulation only: rows of ``X`` acquired, in acquisition order.
    history_ : list of dict
        Simulation only: one record per round (see the classifier).
    stopping_ : list of StoppingCriterion
        Fitted clones of ``stopping``.
    stop_reason_ : str or None
        Why the last simulated ``fit`` or :meth:`should_stop` stopped.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from activekit import ActiveLearningRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> learner = ActiveLearningRegressor(query_strategy="gsx", batch_size=5)
    >>> learner = learner.fit(X[:20], y[:20])
    >>> idx = learner.query(X[20:])
    >>> learner = learner.teach(X[20:][idx], y[20:][idx])
    >>> len(learner.y_labeled_)
    25
    >>> sim = ActiveLearningRegressor(budget=60, random_state=0).fit(X, y)
    >>> len(sim.labeled_indices_), sim.n_queries_
    (60, 5)
    """

    _estimator_kinds = (
        "a scikit-learn regressor, a skorch net or a torch.nn.Module class or instance"
    )
    _module_kind = "regressor"  # a bare torch module becomes a TorchRegressor

    def __init__(
        self,
        estimator=None,
        query_strategy="committee_variance",
        batch_size=10,
        n_initial=10,
        budget=None,
        device="cpu",
        n_jobs=None,
        random_state=None,
        verbose=0,
        stopping=None,
    ):
        super().__init__(
            estimator=estimator,
            query_strategy=query_strategy,
            batch_size=batch_size,
            n_initial=n_initial,
            budget=budget,
            device=device,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
            stopping=stopping,
        )

    def _default_estimator(self):
        return Ridge()

    def _validate_X(self, X, *, reset, **kwargs):
        if "y" in kwargs:
            kwargs.setdefault("y_numeric", True)
        return super()._validate_X(X, reset=reset, **kwargs)

    def _check_targets(self, y):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"y must hold numbers for a regressor, got dtype {y.dtype}")
        assert_all_finite(y, input_name="y")
        check_target_type(self.query_strategy, "continuous")

    def _check_new_labels(self, y):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"y must hold numbers for a regressor, got dtype {y.dtype}")
        assert_all_finite(y, input_name="y")

    # The fitted model's own score (R^2 for regressors), as the classifier does.
    score = BaseActiveLearner.__dict__["score"]
