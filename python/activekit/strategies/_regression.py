"""Query strategies for regression: committee variance, greedy sampling (GSx, GSy, iGS) and
expected model change maximisation (EMCM).

``random``, ``coreset``, ``kmeans`` and ``typiclust`` also work with a regressor (they need
no probabilities). Every class here supports ``"continuous"`` targets only.

References
----------
- Burbidge, Rowland and King (2007), "Active learning for regression based on query by
  committee" (committee variance).
- Wu, Lin and Huang (2019), "Active learning for regression using greedy sampling",
  Information Sciences 474 (GSx, GSy, iGS).
- Cai, Zhang and Zhou (2013), "Maximizing expected model change for active learning in
  regression", ICDM (EMCM, bootstrap form).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy import sparse
from sklearn.base import clone
from sklearn.utils import check_random_state

from .. import _kernels
from .._compat import Interval, StrOptions
from .._random import draw_seed
from ._base import RankingStrategy, ScoringStrategy
from ._common import n_jobs_of
from ._diversity import CoreSet
from ._embedding import EMBEDDING_CONSTRAINT, embed_pool_and_labeled, embedding_docstring

__all__ = [
    "REGRESSION_TARGETS",
    "CommitteeVariance",
    "ExpectedModelChange",
    "GreedySamplingX",
    "GreedySamplingXY",
    "GreedySamplingY",
    "bootstrap_predictions",
]

#: The target types the regression strategies support.
REGRESSION_TARGETS = ("continuous",)


def _dense(X):
    X = X.toarray() if sparse.issparse(X) else np.asarray(X)
    return np.asarray(X, dtype=np.float64)


def bootstrap_predictions(learner, X_pool, n_members, random_state):
    """Predictions on ``X_pool`` of ``n_members`` clones of the learner's estimator, each
    trained on a bootstrap resample of the labelled set: shape ``(n_members, n_pool)``."""
    rng = check_random_state(random_state)
    X_lab, y_lab = learner.X_labeled_, np.asarray(learner.y_labeled_)
    n = len(y_lab)
    preds = np.empty((n_members, X_pool.shape[0]), dtype=np.float64)
    for m in range(n_members):
        rows = rng.randint(n, size=n)
        member = clone(learner.estimator_)
        if "random_state" in member.get_params(deep=False):
            member.set_params(random_state=draw_seed(rng))
        member.fit(X_lab[rows], y_lab[rows])
        preds[m] = np.asarray(member.predict(X_pool), dtype=np.float64).ravel()
    return preds


def _finite(values, strategy, what):
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"query_strategy={strategy!r}: {what} has NaN or inf")
    return values


def _row_norms(E, chunk=8192):
    """Euclidean norm of each row, in float64, a chunk of rows at a time (no pool copy)."""
    out = np.empty(len(E), dtype=np.float64)
    for start in range(0, len(E), chunk):
        block = np.asarray(E[start : start + chunk], dtype=np.float64)
        out[start : start + chunk] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return out


def _has_return_std(estimator):
    import inspect

    try:
        return "return_std" in inspect.signature(estimator.predict).parameters
    except (TypeError, ValueError):
        return False


class CommitteeVariance(ScoringStrategy):
    """Query by committee for regression: the variance of the members' predictions.

    The members are, in order of precedence: the estimators of ``committee`` (each trained on
    the labelled set), the estimator's own predictive standard deviation when
    ``use_std="auto"`` and its ``predict`` takes ``return_std`` (``GaussianProcessRegressor``,
    ``BayesianRidge``: the score is then ``std ** 2``), else ``n_members`` clones of the
    estimator trained on bootstrap resamples of the labelled set (Burbidge et al. 2007).

    Parameters
    ----------
    n_members : int, default=5
        Bootstrap replicas when neither ``committee`` nor ``return_std`` is used.
    committee : list of regressors or None, default=None
        A given committee, cloned and trained on the labelled set at every update.
    use_std : {"auto", "never"}, default="auto"
        Whether to use the estimator's ``return_std`` when it has one.
    random_state : int or None, default=0
        Seeds the bootstrap resamples.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from activekit import ActiveLearningRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> learner = ActiveLearningRegressor(query_strategy="committee_variance")
    >>> learner.fit(X[:30], y[:30]).query(X[30:], n_instances=3).shape
    (3,)
    """

    name = "committee_variance"
    _targets = REGRESSION_TARGETS
    _rows_independent = True
    _parameter_constraints: dict = {  # noqa: RUF012
        "n_members": [Interval(Integral, 2, None, closed="left")],
        "committee": [list, None],
        "use_std": [StrOptions({"auto", "never"})],
        "random_state": ["random_state"],
    }

    def __init__(self, n_members=5, committee=None, use_std="auto", random_state=0):
        self.n_members = n_members
        self.committee = committee
        self.use_std = use_std
        self.random_state = random_state

    def update(self, learner):
        self._validate_params()
        if self.committee is not None:
            if len(self.committee) < 2:
                raise ValueError(
                    f"committee must hold at least 2 regressors, got {len(self.committee)}"
                )
            self.committee_ = [
                clone(m).fit(learner.X_labeled_, learner.y_labeled_) for m in self.committee
            ]
        return self

    def predictions(self, learner, X_pool):
        """The members' predictions, shape ``(n_members, n_pool)`` (committee or bootstrap)."""
        if self.committee is not None:
            members = getattr(self, "committee_", None)
            if members is None:
                self.update(learner)
                members = self.committee_
            return np.stack([np.asarray(m.predict(X_pool), dtype=np.float64) for m in members])
        return bootstrap_predictions(learner, X_pool, self.n_members, self.random_state)

    def score(self, learner, X_pool):
        self._validate_params()
        estimator = learner.estimator_
        if self.committee is None and self.use_std == "auto" and _has_return_std(estimator):
            _, std = estimator.predict(X_pool, return_std=True)
            return _finite(std, self.name, "the predictive std") ** 2
        return _finite(self.predictions(learner, X_pool), self.name, "a member's prediction").var(
            axis=0
        )


@embedding_docstring
class GreedySamplingX(CoreSet):
    """GSx (Wu, Lin and Huang 2019): each pick is the pool row farthest, in input space, from
    the labelled rows and the earlier picks. That is the core-set's k-center greedy in
    Euclidean distance (:class:`~activekit.strategies.CoreSet`, the exact kernel
    :func:`activekit._kernels.kcenter_greedy`), under the paper's name: the same picks.

    Parameters
    ----------
    {embedding_parameter}

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from activekit import ActiveLearningRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> ActiveLearningRegressor(query_strategy="gsx").fit(X[:30], y[:30]).query(X[30:]).shape
    (10,)
    """

    name = "gsx"
    _targets = REGRESSION_TARGETS
    _parameter_constraints: dict = {"embedding": EMBEDDING_CONSTRAINT}  # noqa: RUF012
    #: GSx measures Euclidean distances (not a parameter here, as it is of ``coreset``).
    metric = "euclidean"

    def __init__(self, embedding=None):
        self.embedding = embedding


class GreedySamplingY(RankingStrategy):
    """GSy (Wu, Lin and Huang 2019): each pick is the pool row whose prediction is farthest
    from the labelled targets, ``max_n min_m |f(x_n) - y_m|``; within a batch, a pick's
    prediction joins the targets (the k-center greedy kernel on one output dimension).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from activekit import ActiveLearningRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> ActiveLearningRegressor(query_strategy="gsy").fit(X[:30], y[:30]).query(X[30:]).shape
    (10,)
    """

    name = "gsy"
    _targets = REGRESSION_TARGETS

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """Picks in order, each with its output-space distance when picked."""
        pred = _finite(learner.estimator_.predict(X_pool), self.name, "the prediction")
        pred = pred.reshape(-1, 1)
        y_lab = np.asarray(learner.y_labeled_, dtype=np.float64).reshape(-1, 1)
        return _kernels.kcenter_greedy(pred, y_lab, n_instances, n_jobs=n_jobs_of(learner))


@embedding_docstring
class GreedySamplingXY(RankingStrategy):
    """iGS (Wu, Lin and Huang 2019): each pick maximises ``min_m ||x_n - x_m|| * |f(x_n) -
    y_m|`` over the labelled rows ``m`` (the product inside the minimum); within a batch, a
    pick joins the labelled rows with its prediction as target. Memory is linear in the pool:
    the minimum is updated one labelled row at a time, its distances from the Rust kernel
    (:func:`activekit._kernels.min_distances`).

    Parameters
    ----------
    {embedding_parameter}

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from activekit import ActiveLearningRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> ActiveLearningRegressor(query_strategy="igs").fit(X[:30], y[:30]).query(X[30:]).shape
    (10,)
    """

    name = "igs"
    _targets = REGRESSION_TARGETS
    _parameter_constraints: dict = {"embedding": EMBEDDING_CONSTRAINT}  # noqa: RUF012

    def __init__(self, embedding=None):
        self.embedding = embedding

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """Picks in order, each with its ``min ||dx|| * |dy|`` when picked."""
        self._validate_params()
        X, E_lab = embed_pool_and_labeled(learner, X_pool, self.embedding, self.name)
        pred = _finite(learner.estimator_.predict(X_pool), self.name, "the prediction").ravel()
        y_lab = np.asarray(learner.y_labeled_, dtype=np.float64).ravel()
        n_jobs = n_jobs_of(learner)
        best = np.full(len(X), np.inf)
        for m in range(len(E_lab)):
            self._absorb(best, X, pred, E_lab[m : m + 1], y_lab[m], n_jobs)
        chosen, values = [], []
        taken = np.zeros(len(X), dtype=bool)
        for _ in range(n_instances):
            masked = np.where(taken, -np.inf, best)
            i = int(np.argmax(masked))
            chosen.append(i)
            values.append(best[i])
            taken[i] = True
            self._absorb(best, X, pred, X[i : i + 1], pred[i], n_jobs)
        return np.asarray(chosen, dtype=np.intp), np.asarray(values, dtype=np.float64)

    @staticmethod
    def _absorb(best, X, pred, c, yc, n_jobs):
        """``best = min(best, ||X - c|| * |pred - yc|)`` for one labelled row ``c``: the
        distances come from the Rust kernel, one float64 per pool row."""
        dx, _ = _kernels.min_distances(X, c, n_jobs=n_jobs)
        np.minimum(best, dx * np.abs(pred - yc), out=best)


@embedding_docstring
class ExpectedModelChange(ScoringStrategy):
    """EMCM (Cai, Zhang and Zhou 2013), bootstrap form: the expected change of a linear
    model's parameters if a row were labelled, ``||x|| * mean_k |f(x) - f_k(x)|``, with
    ``f_k`` the ``n_members`` models trained on bootstrap resamples of the labelled set
    standing in for the unknown label (the gradient of the squared loss at ``x`` is ``(f(x)
    - y) x``).

    Parameters
    ----------
    n_members : int, default=5
        Bootstrap replicas.
    random_state : int or None, default=0
        Seeds the bootstrap resamples.
    {embedding_parameter}

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from activekit import ActiveLearningRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> ActiveLearningRegressor(query_strategy="emcm").fit(X[:30], y[:30]).query(X[30:]).shape
    (10,)
    """

    name = "emcm"
    _targets = REGRESSION_TARGETS
    _parameter_constraints: dict = {  # noqa: RUF012
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "embedding": EMBEDDING_CONSTRAINT,
    }

    def __init__(self, n_members=5, random_state=0, embedding=None):
        self.n_members = n_members
        self.random_state = random_state
        self.embedding = embedding

    def score(self, learner, X_pool):
        self._validate_params()
        f = np.asarray(learner.estimator_.predict(X_pool), dtype=np.float64).ravel()
        boot = bootstrap_predictions(learner, X_pool, self.n_members, self.random_state)
        E_pool, _ = embed_pool_and_labeled(learner, X_pool, self.embedding, self.name)
        norms = _row_norms(E_pool)
        change = np.abs(f[None, :] - boot).mean(axis=0) * norms
        return _finite(change, self.name, "the expected model change")
