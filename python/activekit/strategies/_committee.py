"""Query by committee (Seung et al. 1992): vote entropy (Dagan and Engelson 1995), consensus
entropy and max disagreement (McCallum and Nigam 1998), and the variation ratio (Freeman 1965),
scored and selected by the Rust kernels.

A committee is the list of estimators a user gives, each trained on the labelled set, or by
default bootstrap replicas of the learner's own estimator (query by bagging, Abe and Mamitsuka
1998). The learner retrains it after every training through :meth:`QueryStrategy.update`.
"""

from __future__ import annotations

from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state

from .. import _kernels
from .._compat import Interval, _num_samples
from ._base import RankingStrategy

__all__ = ["ConsensusEntropy", "MaxDisagreement", "VariationRatio", "VoteEntropy"]

_MAX_SEED = np.iinfo(np.int32).max

# A bootstrap resample with fewer than two classes (when the labelled set has two) is drawn
# again, at most this many times; then the labelled set itself is used. With the smallest
# labelled set that has two classes (two rows), 100 redraws all fail with probability 2**-100.
_MAX_REDRAWS = 100


def _bootstrap(y, rng):
    """Rows of a bootstrap resample of ``y`` with at least as many classes as ``min(2, all)``."""
    n = len(y)
    need = min(2, len(np.unique(y)))
    for _ in range(_MAX_REDRAWS):
        rows = rng.randint(n, size=n)
        if len(np.unique(y[rows])) >= need:
            return rows
    return np.arange(n)


def _with_seed(estimator, seed):
    """``estimator`` with every ``random_state`` parameter, nested ones included, set to ``seed``
    (as scikit-learn's bagging does), so that replicas differ and a seed reproduces them."""
    if not callable(getattr(estimator, "get_params", None)):
        return estimator
    names = [
        name
        for name in estimator.get_params(deep=True)
        if name == "random_state" or name.endswith("__random_state")
    ]
    return estimator.set_params(**dict.fromkeys(names, seed)) if names else estimator


def _positions(classes, labels):
    """Position of each of ``labels`` in ``classes`` (in any order), and which were found."""
    sorter = np.argsort(classes, kind="stable")
    at = np.clip(np.searchsorted(classes, labels, sorter=sorter), 0, len(classes) - 1)
    positions = sorter[at]
    return positions, classes[positions] == labels


class _CommitteeStrategy(RankingStrategy):
    """Query by committee: score each pool row by how much the committee's members disagree.

    Subclasses set ``name`` and ``_measure`` (a kernel measure); ``_votes`` says whether the
    measure reads the members' votes (``predict``) or their probabilities (``predict_proba``).
    """

    _measure: ClassVar[str]
    _votes: ClassVar[bool]

    _parameter_constraints: dict = {  # noqa: RUF012
        "committee": [list, tuple, None],
        "n_members": [Interval(Integral, 2, None, closed="left")],
    }

    def __init__(self, committee=None, n_members=5):
        self.committee = committee
        self.n_members = n_members

    # -- training (called by the learner after every training) -----------------------------

    def _check_member(self, member, what):
        methods = (getattr(member, "fit", None), getattr(member, "predict", None))
        if not all(callable(method) for method in methods):
            raise TypeError(
                f"{what} must be an estimator with fit and predict methods, got "
                f"{type(member).__name__}"
            )
        if not self._votes and not hasattr(member, "predict_proba"):
            raise TypeError(
                f"query_strategy={self.name!r} needs class probabilities, but {what} "
                f"({type(member).__name__}) has no predict_proba; use estimators with "
                "predict_proba, or a vote measure ('vote_entropy', 'variation_ratio')"
            )

    def _unfitted_members(self, learner):
        """The members to train, and each one's bootstrap rows (``None``: every row)."""
        if self.committee is not None:
            if len(self.committee) < 2:
                raise ValueError(
                    f"committee must hold at least 2 estimators to disagree, got "
                    f"{len(self.committee)}"
                )
            members = []
            for i, estimator in enumerate(self.committee):
                self._check_member(estimator, f"committee[{i}]")
                members.append(clone(estimator))
            return members, [None] * len(members)
        self._check_member(learner.estimator_, "the learner's estimator")
        rng = check_random_state(learner.random_state)
        seeds = rng.randint(_MAX_SEED, size=self.n_members)
        y = np.asarray(learner.y_labeled_)
        members, samples = [], []
        for seed in seeds:
            members.append(_with_seed(clone(learner.estimator_), int(seed)))
            samples.append(_bootstrap(y, np.random.RandomState(seed)))
        return members, samples

    def update(self, learner):
        """Train the committee on the learner's labelled set.

        Called by the learner after every training, on a copy of the strategy that it keeps
        only if the step succeeds: ``members_`` and ``classes_`` are replaced, never changed in
        place, so a member that fails to fit leaves the previous committee as it was.

        Parameters
        ----------
        learner : ActiveLearningClassifier
            Fitted: its ``X_labeled_``, ``y_labeled_``, ``classes_``, ``estimator_`` (the
            estimator replicated by default) and ``random_state`` (the bootstrap seeds) are
            read.

        Returns
        -------
        self : object
        """
        self._validate_params()
        X, y = learner.X_labeled_, np.asarray(learner.y_labeled_)
        classes = np.asarray(learner.classes_)
        members, samples = self._unfitted_members(learner)
        for i, (member, rows) in enumerate(zip(members, samples, strict=True)):
            if rows is None:
                member.fit(X, y)
            else:
                member.fit(X[rows], y[rows])
            _, known = _positions(classes, np.asarray(member.classes_))
            if not known.all():
                raise ValueError(
                    f"committee member {i} has classes "
                    f"{np.asarray(member.classes_)[~known].tolist()} that the labelled set "
                    f"does not have (its classes are {classes.tolist()})"
                )
        self.members_ = members
        self.classes_ = classes
        return self

    # -- scoring ---------------------------------------------------------------------------

    def _check_trained(self):
        if not hasattr(self, "members_"):
            raise NotFittedError(
                f"this {type(self).__name__} has no trained committee yet; "
                "ActiveLearningClassifier trains it after every fit and teach, by calling "
                "update(learner), which must come before score, rank or select"
            )
        if len(self.classes_) < 2:
            raise ValueError(
                f"query_strategy={self.name!r} needs a committee trained on at least 2 "
                f"classes; the labelled set has only the class {self.classes_.tolist()}"
            )

    def _member_votes(self, X_pool):
        """Each member's predicted class of each row, as a position in ``classes_``."""
        votes = np.empty((len(self.members_), _num_samples(X_pool)), dtype=np.int64)
        for i, member in enumerate(self.members_):
            labels = np.asarray(member.predict(X_pool))
            positions, known = _positions(self.classes_, labels)
            if not known.all():
                raise ValueError(
                    f"committee member {i} predicted {labels[~known][0]!r}, which is not one "
                    f"of the labelled set's classes {self.classes_.tolist()}"
                )
            votes[i] = positions
        return votes

    def member_probabilities(self, X_pool):
        """Every member's class probabilities on the pool, aligned to ``classes_``.

        A member trained on a resample that lacked some classes gets probability 0 for them.

        Parameters
        ----------
        X_pool : {array-like, sparse matrix} of shape (n_pool, n_features)

        Returns
        -------
        probs : ndarray of shape (n_members, n_pool, n_classes)
            float32 if the first member's probabilities are float32, else float64.
        """
        self._check_trained()
        n, c = _num_samples(X_pool), len(self.classes_)
        probs = None
        for i, member in enumerate(self.members_):
            p = np.asarray(member.predict_proba(X_pool))
            if probs is None:
                dtype = np.float32 if p.dtype == np.float32 else np.float64
                probs = np.zeros((len(self.members_), n, c), dtype=dtype)
            columns, _ = _positions(self.classes_, np.asarray(member.classes_))
            if p.shape != (n, len(columns)):
                raise ValueError(
                    f"committee member {i} returned probabilities of shape {p.shape}; expected "
                    f"({n}, {len(columns)}), one column per class it was trained on"
                )
            if np.array_equal(columns, np.arange(c)):
                probs[i] = p
            else:
                probs[i][:, columns] = p
        return probs

    def score(self, learner, X_pool):
        """The committee's disagreement on every row of ``X_pool`` (higher = more)."""
        self._check_trained()
        n_jobs = getattr(learner, "n_jobs", None)
        if self._votes:
            votes = self._member_votes(X_pool)
            return _kernels.vote_scores(votes, len(self.classes_), self._measure, n_jobs=n_jobs)
        probs = self.member_probabilities(X_pool)
        return _kernels.committee_scores(probs, self._measure, n_jobs=n_jobs)

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """The ``n_instances`` rows of most disagreement and their scores, most first; equal
        scores are taken lowest row first. Scoring and selection run fused in Rust."""
        self._check_trained()
        n_jobs = getattr(learner, "n_jobs", None)
        if self._votes:
            votes = self._member_votes(X_pool)
            return _kernels.vote_top_k(
                votes, len(self.classes_), self._measure, n_instances, n_jobs=n_jobs
            )
        probs = self.member_probabilities(X_pool)
        return _kernels.committee_top_k(probs, self._measure, n_instances, n_jobs=n_jobs)


class VoteEntropy(_CommitteeStrategy):
    """Choose the rows whose committee votes are most split: the entropy of the vote
    distribution, ``-sum_j (v_j / m) ln(v_j / m)`` for ``v_j`` of the ``m`` members predicting
    class ``j`` (Dagan and Engelson 1995).

    Votes come from each member's ``predict``, so members need no ``predict_proba``.

    Parameters
    ----------
    committee : list of estimators, default=None
        The members, each cloned and trained on the whole labelled set; at least 2. ``None``
        means ``n_members`` bootstrap replicas of the learner's estimator.
    n_members : int, default=5
        Size of the default committee (at least 2); ignored when ``committee`` is given. Each
        replica is trained on a bootstrap resample of the labelled set (drawn again if it has
        fewer than two classes while the set has two), with every ``random_state`` parameter
        set to its own seed; the seeds are drawn from the learner's ``random_state``.

    Attributes
    ----------
    members_ : list of estimators
        The trained committee, renewed after every training of the learner.
    classes_ : ndarray of shape (n_classes,)
        The labelled set's classes when the committee was trained; the columns of the
        members' aligned probabilities and the meaning of their votes.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="vote_entropy", random_state=0)
    >>> learner = learner.fit(X[::10], y[::10])
    >>> len(learner.query_strategy_.members_)
    5
    >>> idx, scores = learner.query(X, n_instances=3, return_scores=True)
    >>> bool(scores[0] >= scores[1] >= scores[2])
    True
    """

    name = "vote_entropy"
    _measure = "vote_entropy"
    _votes = True


class VariationRatio(_CommitteeStrategy):
    """Choose the rows where the most members vote against the majority: the
    variation ratio ``1 - max_j v_j / m`` for ``v_j`` of the ``m`` members predicting class
    ``j`` (Freeman 1965).

    Votes come from each member's ``predict``, so members need no ``predict_proba``.

    Parameters
    ----------
    committee : list of estimators, default=None
        The members, each cloned and trained on the whole labelled set; at least 2. ``None``
        means ``n_members`` bootstrap replicas of the learner's estimator.
    n_members : int, default=5
        Size of the default committee (at least 2); ignored when ``committee`` is given. Each
        replica is trained on a bootstrap resample of the labelled set (drawn again if it has
        fewer than two classes while the set has two), with every ``random_state`` parameter
        set to its own seed; the seeds are drawn from the learner's ``random_state``.

    Attributes
    ----------
    members_ : list of estimators
        The trained committee, renewed after every training of the learner.
    classes_ : ndarray of shape (n_classes,)
        The labelled set's classes when the committee was trained; the columns of the
        members' aligned probabilities and the meaning of their votes.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import Perceptron, RidgeClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import VariationRatio
    >>> X, y = load_iris(return_X_y=True)
    >>> strategy = VariationRatio(committee=[Perceptron(random_state=0), RidgeClassifier(),
    ...                                      DecisionTreeClassifier(random_state=0)])
    >>> learner = ActiveLearningClassifier(query_strategy=strategy).fit(X[::10], y[::10])
    >>> idx, scores = learner.query(X, n_instances=2, return_scores=True)
    >>> bool(np.isin((3 * scores).round(9), [0, 1, 2]).all())   # 3 members: 0, 1/3 or 2/3
    True
    """

    name = "variation_ratio"
    _measure = "variation_ratio"
    _votes = True


class ConsensusEntropy(_CommitteeStrategy):
    """Choose the rows whose consensus is least sure: the entropy ``H(p̄)`` of the
    members' mean class distribution (McCallum and Nigam 1998).

    Members need ``predict_proba``; one that never saw a class gives it probability 0.

    Parameters
    ----------
    committee : list of estimators, default=None
        The members, each cloned and trained on the whole labelled set; at least 2. ``None``
        means ``n_members`` bootstrap replicas of the learner's estimator.
    n_members : int, default=5
        Size of the default committee (at least 2); ignored when ``committee`` is given. Each
        replica is trained on a bootstrap resample of the labelled set (drawn again if it has
        fewer than two classes while the set has two), with every ``random_state`` parameter
        set to its own seed; the seeds are drawn from the learner's ``random_state``.

    Attributes
    ----------
    members_ : list of estimators
        The trained committee, renewed after every training of the learner.
    classes_ : ndarray of shape (n_classes,)
        The labelled set's classes when the committee was trained; the columns of the
        members' aligned probabilities and the meaning of their votes.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="consensus_entropy", random_state=0)
    >>> learner.fit(X[::10], y[::10]).query(X, n_instances=4).shape
    (4,)
    """

    name = "consensus_entropy"
    _measure = "consensus_entropy"
    _votes = False


class MaxDisagreement(_CommitteeStrategy):
    """Choose the rows where the members differ most from their consensus: the mean
    KL divergence ``(1/m) sum_i KL(p_i || p̄)`` of each member's class distribution from the
    members' mean (McCallum and Nigam 1998). It equals ``H(p̄) - mean_i H(p_i)``: unlike
    consensus entropy, it is 0 where the members agree, however unsure they all are.

    Members need ``predict_proba``; one that never saw a class gives it probability 0.

    Parameters
    ----------
    committee : list of estimators, default=None
        The members, each cloned and trained on the whole labelled set; at least 2. ``None``
        means ``n_members`` bootstrap replicas of the learner's estimator.
    n_members : int, default=5
        Size of the default committee (at least 2); ignored when ``committee`` is given. Each
        replica is trained on a bootstrap resample of the labelled set (drawn again if it has
        fewer than two classes while the set has two), with every ``random_state`` parameter
        set to its own seed; the seeds are drawn from the learner's ``random_state``.

    Attributes
    ----------
    members_ : list of estimators
        The trained committee, renewed after every training of the learner.
    classes_ : ndarray of shape (n_classes,)
        The labelled set's classes when the committee was trained; the columns of the
        members' aligned probabilities and the meaning of their votes.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="max_disagreement", random_state=0)
    >>> idx, kl = learner.fit(X[::10], y[::10]).query(X, n_instances=3, return_scores=True)
    >>> bool((kl >= 0).all())
    True
    """

    name = "max_disagreement"
    _measure = "max_disagreement"
    _votes = False
